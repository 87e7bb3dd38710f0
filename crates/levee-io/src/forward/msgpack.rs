//! msgpack over bytes, without serde: read one item at a time, and
//! written straight into a byte buffer.
//!
//! The forward protocol's frames are msgpack; a client may write any width
//! for any length (Fluent Bit writes small maps as `map32`), so every form
//! of the spec is read. An item is its header and, for strings, binaries
//! and extensions, its payload: [`Reader::item`] reads both or neither, and
//! says how many bytes it needs when the input ends inside one, so a
//! caller waiting on a socket keeps "not yet" apart from "never".
//!
//! The writer ([`write_str`], [`write_value`], ...) always picks the
//! shortest form, as the spec asks of encoders.

use levee_event::{Record, Value};

/// One msgpack item: a scalar with its payload, or the header of an array
/// or map whose elements follow.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Item<'a> {
    /// `nil`.
    Nil,
    /// `true` or `false`.
    Bool(bool),
    /// A signed integer, or an unsigned one up to `i64::MAX`.
    Int(i64),
    /// An unsigned integer above `i64::MAX`.
    UInt(u64),
    /// `float32` (widened) or `float64`.
    Float(f64),
    /// A string's bytes (UTF-8 by the spec, not checked here).
    Str(&'a [u8]),
    /// A binary's bytes.
    Bin(&'a [u8]),
    /// An array of this many items.
    Array(u32),
    /// A map of this many key-value pairs.
    Map(u32),
    /// An extension: its type and data.
    Ext(i8, &'a [u8]),
}

/// Why an item could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadError {
    /// The input ends inside the item: it needs this many bytes from where
    /// it starts (at least; a header tells the whole of its item's size).
    Incomplete {
        /// Bytes the item needs, counted from its first byte.
        need: u64,
    },
    /// `0xc1`, the one byte msgpack never uses.
    NeverUsed,
}

/// Reads items from a byte slice.
#[derive(Clone, Debug)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// A reader at the start of `buf`.
    pub fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader { buf, pos: 0 }
    }

    /// A reader at `pos` in `buf`.
    pub fn at(buf: &'a [u8], pos: usize) -> Reader<'a> {
        Reader { buf, pos }
    }

    /// Where the next item starts.
    pub fn pos(&self) -> usize {
        self.pos
    }

    /// Bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    /// True when every byte was read.
    pub fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    /// Reads the next item, moving past it; on an error the position stays.
    #[inline]
    pub fn item(&mut self) -> Result<Item<'a>, ReadError> {
        let rest = &self.buf[self.pos.min(self.buf.len())..];
        // Strings and small integers, most of what a record holds, here,
        // where the caller's match on the item can see them; the rest out
        // of line.
        match rest {
            [marker @ 0xa0..=0xbf, tail @ ..] => {
                let n = usize::from(marker & 0x1f);
                if let Some(s) = tail.get(..n) {
                    self.pos += 1 + n;
                    return Ok(Item::Str(s));
                }
            }
            [0xd9, n, tail @ ..] => {
                let n = usize::from(*n);
                if let Some(s) = tail.get(..n) {
                    self.pos += 2 + n;
                    return Ok(Item::Str(s));
                }
            }
            [marker @ 0x00..=0x7f, ..] => {
                self.pos += 1;
                return Ok(Item::Int(i64::from(*marker)));
            }
            _ => {}
        }
        let (item, len) = item(rest)?;
        self.pos += len;
        Ok(item)
    }
}

/// The length of the one whole item (a scalar, or an array or map with
/// everything in it) at the start of `buf`; `None` while `buf` ends inside
/// it. Walks without recursion, so nesting costs no stack.
pub fn whole_len(buf: &[u8]) -> Result<Option<usize>, ReadError> {
    let mut r = Reader::new(buf);
    let mut pending: u64 = 1;
    while pending > 0 {
        let item = match r.item() {
            Ok(item) => item,
            Err(ReadError::Incomplete { .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        pending -= 1;
        pending += match item {
            Item::Array(n) => u64::from(n),
            Item::Map(n) => 2 * u64::from(n),
            _ => 0,
        };
    }
    Ok(Some(r.pos()))
}

/// The item at the start of `b` and its length in bytes.
fn item(b: &[u8]) -> Result<(Item<'_>, usize), ReadError> {
    let Some(&marker) = b.first() else {
        return Err(ReadError::Incomplete { need: 1 });
    };
    let item = match marker {
        0x00..=0x7f => (Item::Int(i64::from(marker)), 1),
        0x80..=0x8f => (Item::Map(u32::from(marker & 0x0f)), 1),
        0x90..=0x9f => (Item::Array(u32::from(marker & 0x0f)), 1),
        0xa0..=0xbf => {
            let n = usize::from(marker & 0x1f);
            (Item::Str(payload(b, 1, n)?), 1 + n)
        }
        0xc0 => (Item::Nil, 1),
        0xc1 => return Err(ReadError::NeverUsed),
        0xc2 => (Item::Bool(false), 1),
        0xc3 => (Item::Bool(true), 1),
        0xc4..=0xc6 => {
            let width = 1 << (marker - 0xc4);
            let n = length(b, width)?;
            (Item::Bin(payload(b, 1 + width, n)?), 1 + width + n)
        }
        0xc7..=0xc9 => {
            let width = 1 << (marker - 0xc7);
            let n = length(b, width)?;
            // The type byte sits between the length and the data.
            let data = payload(b, 2 + width, n)?;
            (Item::Ext(b[1 + width] as i8, data), 2 + width + n)
        }
        0xca => {
            let v = f32::from_be_bytes(fixed(b)?);
            (Item::Float(f64::from(v)), 5)
        }
        0xcb => (Item::Float(f64::from_be_bytes(fixed(b)?)), 9),
        0xcc => (Item::Int(i64::from(u8::from_be_bytes(fixed(b)?))), 2),
        0xcd => (Item::Int(i64::from(u16::from_be_bytes(fixed(b)?))), 3),
        0xce => (Item::Int(i64::from(u32::from_be_bytes(fixed(b)?))), 5),
        0xcf => {
            let v = u64::from_be_bytes(fixed(b)?);
            let item = i64::try_from(v).map_or(Item::UInt(v), Item::Int);
            (item, 9)
        }
        0xd0 => (Item::Int(i64::from(i8::from_be_bytes(fixed(b)?))), 2),
        0xd1 => (Item::Int(i64::from(i16::from_be_bytes(fixed(b)?))), 3),
        0xd2 => (Item::Int(i64::from(i32::from_be_bytes(fixed(b)?))), 5),
        0xd3 => (Item::Int(i64::from_be_bytes(fixed(b)?)), 9),
        0xd4..=0xd8 => {
            let n = 1 << (marker - 0xd4);
            let data = payload(b, 2, n)?;
            (Item::Ext(b[1] as i8, data), 2 + n)
        }
        0xd9..=0xdb => {
            let width = 1 << (marker - 0xd9);
            let n = length(b, width)?;
            (Item::Str(payload(b, 1 + width, n)?), 1 + width + n)
        }
        0xdc => (Item::Array(length(b, 2)? as u32), 3),
        0xdd => (Item::Array(length(b, 4)? as u32), 5),
        0xde => (Item::Map(length(b, 2)? as u32), 3),
        0xdf => (Item::Map(length(b, 4)? as u32), 5),
        0xe0..=0xff => (Item::Int(i64::from(marker as i8)), 1),
    };
    Ok(item)
}

/// The `N` bytes after the marker.
fn fixed<const N: usize>(b: &[u8]) -> Result<[u8; N], ReadError> {
    b.get(1..1 + N)
        .and_then(|s| s.try_into().ok())
        .ok_or(ReadError::Incomplete { need: 1 + N as u64 })
}

/// A big-endian length of `width` bytes (1, 2 or 4) after the marker.
fn length(b: &[u8], width: usize) -> Result<usize, ReadError> {
    let bytes = b.get(1..1 + width).ok_or(ReadError::Incomplete {
        need: 1 + width as u64,
    })?;
    Ok(bytes.iter().fold(0usize, |n, &x| (n << 8) | usize::from(x)))
}

/// `n` bytes from `start`, or how many the whole item needs.
fn payload(b: &[u8], start: usize, n: usize) -> Result<&[u8], ReadError> {
    // An ext's type byte is inside `start` and may itself be missing.
    b.get(start..start + n).ok_or(ReadError::Incomplete {
        need: (start + n) as u64,
    })
}

/// A string, in the shortest form.
pub fn write_str(s: &[u8], out: &mut Vec<u8>) {
    let n = s.len();
    if n < 32 {
        out.push(0xa0 | n as u8);
    } else if n < 256 {
        out.extend_from_slice(&[0xd9, n as u8]);
    } else if n < 65536 {
        out.push(0xda);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        out.push(0xdb);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    }
    out.extend_from_slice(s);
}

/// A binary's header for `n` bytes, in the shortest form; the bytes follow.
pub fn write_bin_header(n: usize, out: &mut Vec<u8>) {
    if n < 256 {
        out.extend_from_slice(&[0xc4, n as u8]);
    } else if n < 65536 {
        out.push(0xc5);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        out.push(0xc6);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    }
}

/// An array's header for `n` items; the items follow.
pub fn write_array_header(n: usize, out: &mut Vec<u8>) {
    if n < 16 {
        out.push(0x90 | n as u8);
    } else if n < 65536 {
        out.push(0xdc);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        out.push(0xdd);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    }
}

/// A map's header for `n` pairs; the keys and values follow.
pub fn write_map_header(n: usize, out: &mut Vec<u8>) {
    if n < 16 {
        out.push(0x80 | n as u8);
    } else if n < 65536 {
        out.push(0xde);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        out.push(0xdf);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    }
}

/// A signed integer, in the shortest form (positive ones as unsigned, as
/// the spec's encoders do).
pub fn write_int(v: i64, out: &mut Vec<u8>) {
    if (0..128).contains(&v) {
        out.push(v as u8);
    } else if (-32..0).contains(&v) {
        out.push(v as i8 as u8);
    } else if v >= 0 {
        if v <= i64::from(u8::MAX) {
            out.extend_from_slice(&[0xcc, v as u8]);
        } else if v <= i64::from(u16::MAX) {
            out.push(0xcd);
            out.extend_from_slice(&(v as u16).to_be_bytes());
        } else if v <= i64::from(u32::MAX) {
            out.push(0xce);
            out.extend_from_slice(&(v as u32).to_be_bytes());
        } else {
            out.push(0xcf);
            out.extend_from_slice(&(v as u64).to_be_bytes());
        }
    } else if v >= i64::from(i8::MIN) {
        out.extend_from_slice(&[0xd0, v as i8 as u8]);
    } else if v >= i64::from(i16::MIN) {
        out.push(0xd1);
        out.extend_from_slice(&(v as i16).to_be_bytes());
    } else if v >= i64::from(i32::MIN) {
        out.push(0xd2);
        out.extend_from_slice(&(v as i32).to_be_bytes());
    } else {
        out.push(0xd3);
        out.extend_from_slice(&v.to_be_bytes());
    }
}

/// A time in nanoseconds since the epoch: EventTime (ext type 0 as
/// `fixext8`, seconds and nanoseconds) when the seconds fit its unsigned 32
/// bits (1970 to 2106), else whole seconds as an integer, which every
/// receiver also reads.
pub fn write_time(nanos: i64, out: &mut Vec<u8>) {
    let secs = nanos.div_euclid(1_000_000_000);
    let frac = nanos.rem_euclid(1_000_000_000) as u32;
    match u32::try_from(secs) {
        Ok(secs) => {
            out.extend_from_slice(&[0xd7, 0x00]);
            out.extend_from_slice(&secs.to_be_bytes());
            out.extend_from_slice(&frac.to_be_bytes());
        }
        Err(_) => write_int(secs, out),
    }
}

/// A value as msgpack: strings as `str`, floats as `float64`.
pub fn write_value(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Null => out.push(0xc0),
        Value::Bool(b) => out.push(if *b { 0xc3 } else { 0xc2 }),
        Value::Int(i) => write_int(*i, out),
        Value::Float(f) => {
            out.push(0xcb);
            out.extend_from_slice(&f.to_be_bytes());
        }
        Value::String(s) => write_str(s.as_bytes(), out),
        Value::Array(items) => {
            write_array_header(items.len(), out);
            for item in items.iter() {
                write_value(item, out);
            }
        }
        Value::Map(record) => write_record(record, out),
    }
}

/// A record as a msgpack map, fields in record order.
pub fn write_record(record: &Record, out: &mut Vec<u8>) {
    write_map_header(record.len(), out);
    for (name, value) in record.iter() {
        write_str(name.as_bytes(), out);
        write_value(value, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(bytes: &[u8]) -> Item<'_> {
        let mut r = Reader::new(bytes);
        let item = r.item().unwrap();
        assert!(r.is_empty(), "{bytes:02x?} read whole");
        item
    }

    #[test]
    fn every_width_of_every_kind_reads() {
        assert_eq!(one(&[0x05]), Item::Int(5));
        assert_eq!(one(&[0xff]), Item::Int(-1));
        assert_eq!(one(&[0xcc, 0xff]), Item::Int(255));
        assert_eq!(one(&[0xcd, 0x01, 0x00]), Item::Int(256));
        assert_eq!(one(&[0xce, 0, 1, 0, 0]), Item::Int(65536));
        assert_eq!(
            one(&[0xcf, 0xff, 0, 0, 0, 0, 0, 0, 0]),
            Item::UInt(0xff << 56)
        );
        assert_eq!(one(&[0xd0, 0x80]), Item::Int(-128));
        assert_eq!(one(&[0xd1, 0xff, 0x00]), Item::Int(-256));
        assert_eq!(one(&[0xd2, 0xff, 0xff, 0xff, 0xfe]), Item::Int(-2));
        assert_eq!(one(&[0xd3, 0x80, 0, 0, 0, 0, 0, 0, 0]), Item::Int(i64::MIN));
        assert_eq!(one(&[0xca, 0x3f, 0x80, 0, 0]), Item::Float(1.0));
        assert_eq!(one(&[0xcb, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0]), Item::Float(1.0));
        assert_eq!(one(&[0xc0]), Item::Nil);
        assert_eq!(one(&[0xc3]), Item::Bool(true));
        assert_eq!(one(b"\xa2hi"), Item::Str(b"hi"));
        assert_eq!(one(b"\xd9\x02hi"), Item::Str(b"hi"));
        assert_eq!(one(b"\xda\x00\x02hi"), Item::Str(b"hi"));
        assert_eq!(one(b"\xdb\x00\x00\x00\x02hi"), Item::Str(b"hi"));
        assert_eq!(one(b"\xc4\x02hi"), Item::Bin(b"hi"));
        assert_eq!(one(b"\xc5\x00\x02hi"), Item::Bin(b"hi"));
        assert_eq!(one(b"\xc6\x00\x00\x00\x02hi"), Item::Bin(b"hi"));
        assert_eq!(one(&[0x93]), Item::Array(3));
        assert_eq!(one(&[0xdc, 0x01, 0x00]), Item::Array(256));
        assert_eq!(one(&[0xdd, 0, 1, 0, 0]), Item::Array(65536));
        assert_eq!(one(&[0x81]), Item::Map(1));
        assert_eq!(one(&[0xde, 0, 2]), Item::Map(2));
        assert_eq!(one(&[0xdf, 0, 0, 0, 9]), Item::Map(9));
        assert_eq!(one(&[0xd4, 0x07, 0xaa]), Item::Ext(7, &[0xaa]));
        assert_eq!(
            one(&[0xd7, 0x00, 1, 2, 3, 4, 5, 6, 7, 8]),
            Item::Ext(0, &[1, 2, 3, 4, 5, 6, 7, 8])
        );
        assert_eq!(
            one(&[0xc7, 0x08, 0x00, 1, 2, 3, 4, 5, 6, 7, 8]),
            Item::Ext(0, &[1, 2, 3, 4, 5, 6, 7, 8])
        );
        assert_eq!(one(&[0xc8, 0x00, 0x01, 0xff, 9]), Item::Ext(-1, &[9]));
    }

    #[test]
    fn a_cut_item_says_how_much_it_needs_and_stays_unread() {
        for (bytes, need) in [
            (&b""[..], 1),
            (b"\xa5hi", 6),
            (b"\xdb\x00\x00\x01\x00", 5 + 256),
            (b"\xc6\xff\xff\xff\xff", 5 + 0xffff_ffff),
            (b"\xcd\x01", 3),
            (b"\xdf\x00\x00", 5),
            (b"\xd7\x00\x01", 10),
            (b"\xc7\x08", 11),
        ] {
            let mut r = Reader::new(bytes);
            assert_eq!(
                r.item(),
                Err(ReadError::Incomplete { need }),
                "{bytes:02x?}"
            );
            assert_eq!(r.pos(), 0);
        }
        assert_eq!(Reader::new(&[0xc1]).item(), Err(ReadError::NeverUsed));
    }

    #[test]
    fn what_is_written_reads_back_in_the_shortest_form() {
        for (v, len) in [
            (0i64, 1),
            (127, 1),
            (-32, 1),
            (128, 2),
            (-33, 2),
            (255, 2),
            (-128, 2),
            (256, 3),
            (-129, 3),
            (65535, 3),
            (65536, 5),
            (-32769, 5),
            (i64::from(u32::MAX), 5),
            (i64::from(u32::MAX) + 1, 9),
            (i64::from(i32::MIN) - 1, 9),
            (i64::MAX, 9),
            (i64::MIN, 9),
        ] {
            let mut out = Vec::new();
            write_int(v, &mut out);
            assert_eq!((one(&out), out.len()), (Item::Int(v), len), "{v}");
        }
        for n in [0usize, 31, 32, 255, 256, 65535, 65536] {
            let s = vec![b'x'; n];
            let mut out = Vec::new();
            write_str(&s, &mut out);
            assert_eq!(one(&out), Item::Str(&s[..]));
            let mut out = Vec::new();
            write_bin_header(n, &mut out);
            out.extend_from_slice(&s);
            assert_eq!(one(&out), Item::Bin(&s[..]));
            for (write, item) in [
                (
                    write_array_header as fn(usize, &mut Vec<u8>),
                    Item::Array(n as u32),
                ),
                (write_map_header, Item::Map(n as u32)),
            ] {
                let mut out = Vec::new();
                write(n, &mut out);
                assert_eq!(Reader::new(&out).item(), Ok(item));
            }
        }
    }

    #[test]
    fn times_are_event_time_where_it_reaches_and_whole_seconds_elsewhere() {
        let mut out = Vec::new();
        write_time(1_717_200_000_123_456_789, &mut out);
        assert_eq!(
            one(&out),
            Item::Ext(0, &[0x66, 0x5a, 0x64, 0x80, 0x07, 0x5b, 0xcd, 0x15])
        );
        for (nanos, secs) in [
            (-1, -1),
            (-1_000_000_000, -1),
            (5_000_000_000_000_000_000, 5_000_000_000),
        ] {
            let mut out = Vec::new();
            write_time(nanos, &mut out);
            assert_eq!(one(&out), Item::Int(secs), "{nanos}");
        }
    }

    #[test]
    fn whole_len_finds_a_nested_item_or_waits_for_it() {
        let bytes = b"\x81\xa3ack\x92\x01\xa2hi";
        assert_eq!(whole_len(bytes), Ok(Some(bytes.len())));
        for cut in 0..bytes.len() {
            assert_eq!(whole_len(&bytes[..cut]), Ok(None), "{cut}");
        }
        assert_eq!(whole_len(b"\x91\xc1"), Err(ReadError::NeverUsed));
    }
}
