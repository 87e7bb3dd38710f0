//! The forward protocol's frames, as pure functions over bytes.
//!
//! A frame is one msgpack array. [`Scanner`] finds where a frame ends in
//! the bytes a connection has buffered, without building anything and
//! resuming where it stopped when more bytes come, so a frame that trickles
//! in is walked once; it refuses a frame over the size limit as soon as a
//! header declares it, before the bytes arrive. [`frame`] then reads a
//! whole frame: its tag, mode and options, and an [`Entries`] that decodes
//! the events one at a time, so a large chunk is sent on in batches rather
//! than held whole as records.
//!
//! The four modes of Forward Protocol v1, told apart by the second element:
//!
//! | mode | frame |
//! | --- | --- |
//! | Message | `[tag, time, record]` or `[tag, time, record, options]` |
//! | Forward | `[tag, [[time, record], ...]]`, options optional |
//! | PackedForward | `[tag, bin or str holding [time, record] entries end to end]`, options optional |
//! | CompressedPackedForward | as PackedForward, the bytes gzip, options `{"compressed": "gzip"}` |
//!
//! A time is an integer (seconds), a float (seconds), or EventTime (ext
//! type 0, 8 bytes: seconds and nanoseconds, big-endian, as `fixext8` or
//! `ext8`). Fluent Bit writes `[[time, metadata], record]` entries by
//! default; the metadata map is read past. The handshake's `PING` is the
//! one other frame a client sends.

use std::borrow::Cow;
use std::io::Read;

use levee_event::{Record, Text, Value};

use super::msgpack::{Item, ReadError, Reader};

/// Deepest nesting of arrays and maps read: the frame, its entries, an
/// entry, its `[time, metadata]`, the record and 59 levels inside it. Deeper
/// input is refused rather than walked on the stack.
pub const MAX_DEPTH: usize = 64;

/// The bounds a frame is held to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest frame, in bytes on the wire.
    pub max_frame_bytes: usize,
    /// Largest CompressedPackedForward body once decompressed.
    pub max_decompressed_bytes: usize,
}

/// Why a frame was refused. The connection that sent it is closed.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum FrameError {
    /// The frame is, or declares itself, larger than `max_frame_bytes`.
    #[error("frame larger than max_frame_bytes ({limit} bytes)")]
    TooLarge {
        /// The limit.
        limit: usize,
    },
    /// Arrays and maps nested deeper than [`MAX_DEPTH`].
    #[error("arrays and maps nested deeper than {MAX_DEPTH}")]
    TooDeep,
    /// Not what the protocol allows at a place.
    #[error("byte {at}: {what}")]
    Invalid {
        /// Offset in the frame (or in the decompressed entries).
        at: usize,
        /// What was wrong.
        what: &'static str,
    },
    /// The gzip body of a CompressedPackedForward frame did not inflate.
    #[error("gzip: {0}")]
    Gzip(String),
    /// The gzip body inflates past `max_decompressed_bytes`.
    #[error("entries larger than max_decompressed_bytes ({limit} bytes) once decompressed")]
    DecompressedTooLarge {
        /// The limit.
        limit: usize,
    },
    /// A `fluent_signal` other than logs (0): Fluent Bit's metrics and
    /// traces are not events levee can take.
    #[error("fluent_signal {0} (only 0, logs, is taken)")]
    Signal(i64),
}

impl FrameError {
    /// The `reason` label this error is counted under.
    pub fn reason(&self) -> &'static str {
        match self {
            FrameError::TooLarge { .. } => "frame_too_large",
            FrameError::DecompressedTooLarge { .. } => "decompressed_too_large",
            FrameError::Gzip(_) => "bad_gzip",
            FrameError::Signal(_) => "unsupported_signal",
            FrameError::TooDeep | FrameError::Invalid { .. } => "invalid_frame",
        }
    }
}

fn invalid(at: usize, what: &'static str) -> FrameError {
    FrameError::Invalid { at, what }
}

/// Finds the end of the frame at the start of a connection's buffer.
///
/// Keeps its place between calls: call [`Scanner::scan`] again on the same
/// buffer, grown, and it walks on from where it stopped.
#[derive(Debug, Default)]
pub struct Scanner {
    /// Where the next item starts.
    pos: usize,
    /// Items still to come in each open array or map, outermost first.
    open: Vec<u64>,
    /// True once the frame's array header was read.
    started: bool,
    /// How long the buffer must be for the item the scan stopped in.
    wants: usize,
}

impl Scanner {
    /// A scanner at the start of a frame.
    pub fn new() -> Scanner {
        Scanner::default()
    }

    /// After `scan` said `None`: how many bytes the buffer must hold
    /// before the scan can go on (the end of the item it stopped in: for
    /// a packed frame, most often the end of its entries).
    pub fn wants(&self) -> usize {
        self.wants
    }

    /// `Some(len)` when `buf` starts with a whole frame of `len` bytes,
    /// `None` while it needs more bytes. Then the scanner is back at the
    /// start, for the next frame (the caller drops the `len` bytes).
    pub fn scan(
        &mut self,
        buf: &[u8],
        max_frame_bytes: usize,
    ) -> Result<Option<usize>, FrameError> {
        let too_large = FrameError::TooLarge {
            limit: max_frame_bytes,
        };
        let mut r = Reader::at(buf, self.pos);
        loop {
            if self.started && self.open.is_empty() {
                let len = self.pos;
                *self = Scanner::default();
                return Ok(Some(len));
            }
            let start = r.pos();
            let item = match r.item() {
                Ok(item) => item,
                Err(ReadError::Incomplete { need }) => {
                    // A header that declares more than the limit is refused
                    // now, not after the bytes it promises arrive.
                    if start as u64 + need > max_frame_bytes as u64 {
                        return Err(too_large);
                    }
                    // At most `max_frame_bytes`, just checked.
                    self.wants = start + need as usize;
                    return Ok(None);
                }
                Err(ReadError::NeverUsed) => return Err(invalid(start, "0xc1 is not msgpack")),
            };
            if r.pos() > max_frame_bytes {
                return Err(too_large);
            }
            let inner = match item {
                Item::Array(n) => u64::from(n),
                Item::Map(n) => 2 * u64::from(n),
                _ => 0,
            };
            if !self.started {
                if !matches!(item, Item::Array(_)) {
                    return Err(invalid(start, "a frame is an array"));
                }
                self.started = true;
            }
            if let Some(left) = self.open.last_mut() {
                *left -= 1;
            }
            if inner > 0 {
                // Each item takes a byte at least.
                if r.pos() as u64 + inner > max_frame_bytes as u64 {
                    return Err(too_large);
                }
                if self.open.len() >= MAX_DEPTH {
                    return Err(FrameError::TooDeep);
                }
                self.open.push(inner);
            }
            while self.open.last() == Some(&0) {
                self.open.pop();
            }
            self.pos = r.pos();
        }
    }
}

/// A whole frame, read.
#[derive(Debug)]
pub enum Frame<'a> {
    /// Events, in one of the four modes.
    Events(Events<'a>),
    /// The client's answer to the server's `HELO`:
    /// `["PING", hostname, shared_key_salt, digest, username, password]`.
    Ping(Ping<'a>),
}

/// A client's `PING`.
#[derive(Debug, PartialEq, Eq)]
pub struct Ping<'a> {
    /// The client's name for itself.
    pub hostname: &'a [u8],
    /// The salt the client chose for its digest.
    pub salt: &'a [u8],
    /// Hex SHA-512 of salt, hostname, the server's nonce and the shared key.
    pub digest: &'a [u8],
    /// User name (user authentication; empty when not used).
    pub username: &'a [u8],
    /// Hex SHA-512 of the user's salt, name and password (or empty).
    pub password: &'a [u8],
}

/// How the events of a frame are carried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// One event: `[tag, time, record, options?]`.
    Message,
    /// An array of entries.
    Forward,
    /// Entries end to end in a bin (or str).
    PackedForward,
    /// PackedForward, gzip.
    CompressedPackedForward,
}

/// A frame's options map, as far as levee uses it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Options {
    /// The chunk id to answer with `{"ack": chunk}` once the events are
    /// stored: its text as sent (Fluent Bit and Fluentd send base64).
    pub chunk: Option<Text>,
    /// The number of events the client says the frame holds.
    pub size: Option<u64>,
    /// `compressed = "gzip"`.
    pub gzip: bool,
    /// Fluent Bit's signal type (0 logs, 1 metrics, 2 traces).
    pub signal: Option<i64>,
}

/// A frame of events.
#[derive(Debug)]
pub struct Events<'a> {
    /// The tag, as the client sent it (not checked against levee's rule).
    pub tag: Cow<'a, str>,
    /// How the events came.
    pub mode: Mode,
    /// The frame's options (all unset without a map).
    pub options: Options,
    body: Body<'a>,
}

#[derive(Debug)]
enum Body<'a> {
    /// Message mode: the time and record at this offset of the frame.
    One(&'a [u8], usize),
    /// Forward mode: `count` entries from this offset.
    Array(&'a [u8], usize, u64),
    /// The bytes of a PackedForward or CompressedPackedForward frame.
    Packed(&'a [u8]),
}

/// Reads a whole frame (as [`Scanner`] found it).
pub fn frame(bytes: &[u8]) -> Result<Frame<'_>, FrameError> {
    let mut r = Reader::new(bytes);
    let len = match item(&mut r)? {
        Item::Array(n) => n,
        _ => return Err(invalid(0, "a frame is an array")),
    };
    if !(2..=6).contains(&len) {
        return Err(invalid(0, "a frame has 2 to 4 elements (6 for PING)"));
    }
    let tag_at = r.pos();
    let tag = match item(&mut r)? {
        Item::Str(s) => s,
        _ => return Err(invalid(tag_at, "a frame starts with its tag, a string")),
    };
    if len == 6 {
        if tag != b"PING" {
            return Err(invalid(0, "a frame has 2 to 4 elements (6 for PING)"));
        }
        return ping(&mut r).map(Frame::Ping);
    }
    let tag = String::from_utf8_lossy(tag);
    let body_at = r.pos();
    let (mode, body, rest) = match item(&mut r)? {
        Item::Array(n) => {
            // `[tag, [time, metadata], record]` is Message mode as Fluent
            // Bit writes it; an array of entries holds arrays (or nothing).
            let first = Reader::at(bytes, r.pos()).item();
            if n == 2 && !matches!(first, Ok(Item::Array(_))) {
                (Mode::Message, Body::One(bytes, body_at), len.checked_sub(3))
            } else {
                let entries_at = r.pos();
                for _ in 0..n {
                    skip(&mut r, 1)?;
                }
                (
                    Mode::Forward,
                    Body::Array(bytes, entries_at, u64::from(n)),
                    len.checked_sub(2),
                )
            }
        }
        Item::Bin(b) | Item::Str(b) => (Mode::PackedForward, Body::Packed(b), len.checked_sub(2)),
        Item::Int(_) | Item::UInt(_) | Item::Float(_) | Item::Ext(..) => {
            (Mode::Message, Body::One(bytes, body_at), len.checked_sub(3))
        }
        _ => {
            return Err(invalid(
                body_at,
                "a frame's second element is a time, entries or a bin",
            ));
        }
    };
    if mode == Mode::Message {
        r = Reader::at(bytes, body_at);
        skip(&mut r, 1)?;
        let record_at = r.pos();
        if !matches!(item(&mut Reader::at(bytes, record_at))?, Item::Map(_)) {
            return Err(invalid(record_at, "a record is a map"));
        }
        skip(&mut r, 1)?;
    }
    // How many elements follow the events: none, or the options.
    let options = match rest {
        Some(0) => Options::default(),
        Some(1) => options(&mut r)?,
        None => return Err(invalid(0, "a frame has too few elements for its mode")),
        _ => return Err(invalid(0, "a frame has too many elements for its mode")),
    };
    if let Some(signal) = options.signal.filter(|&s| s != 0) {
        return Err(FrameError::Signal(signal));
    }
    let mode = match (mode, options.gzip) {
        (Mode::PackedForward, true) => Mode::CompressedPackedForward,
        (_, true) => return Err(invalid(0, "only packed entries can be compressed")),
        (mode, false) => mode,
    };
    Ok(Frame::Events(Events {
        tag,
        mode,
        options,
        body,
    }))
}

fn ping<'a>(r: &mut Reader<'a>) -> Result<Ping<'a>, FrameError> {
    let mut field = || {
        let at = r.pos();
        match item(r)? {
            Item::Str(s) | Item::Bin(s) => Ok(s),
            _ => Err(invalid(at, "a PING's fields are strings")),
        }
    };
    Ok(Ping {
        hostname: field()?,
        salt: field()?,
        digest: field()?,
        username: field()?,
        password: field()?,
    })
}

fn options(r: &mut Reader<'_>) -> Result<Options, FrameError> {
    let at = r.pos();
    let n = match item(r)? {
        Item::Map(n) => n,
        Item::Nil => return Ok(Options::default()),
        _ => return Err(invalid(at, "a frame's options are a map")),
    };
    let mut options = Options::default();
    for _ in 0..n {
        let key_at = r.pos();
        let key = match item(r)? {
            Item::Str(k) => k,
            _ => return Err(invalid(key_at, "an option's name is a string")),
        };
        let value_at = r.pos();
        match key {
            b"chunk" => match item(r)? {
                Item::Str(s) | Item::Bin(s) => options.chunk = Some(text(s)),
                _ => return Err(invalid(value_at, "option chunk is a string")),
            },
            b"size" => match item(r)? {
                Item::Int(n) if n >= 0 => options.size = Some(n as u64),
                Item::UInt(n) => options.size = Some(n),
                _ => return Err(invalid(value_at, "option size is a count")),
            },
            b"compressed" => match item(r)? {
                Item::Str(b"gzip") => options.gzip = true,
                Item::Str(b"text") | Item::Nil => options.gzip = false,
                _ => {
                    return Err(invalid(
                        value_at,
                        "option compressed is \"gzip\" or \"text\"",
                    ));
                }
            },
            b"fluent_signal" => match item(r)? {
                Item::Int(n) => options.signal = Some(n),
                _ => return Err(invalid(value_at, "option fluent_signal is an integer")),
            },
            _ => skip(r, 1)?,
        }
    }
    Ok(options)
}

impl<'a> Events<'a> {
    /// The events, decoded one at a time; a CompressedPackedForward body is
    /// inflated here, up to `limits.max_decompressed_bytes`.
    pub fn entries(&self, limits: &Limits) -> Result<Entries<'a>, FrameError> {
        Ok(match self.body {
            Body::One(bytes, at) => Entries {
                data: Cow::Borrowed(bytes),
                pos: at,
                left: Some(1),
                bare: true,
                names: KnownNames::default(),
            },
            Body::Array(bytes, at, n) => Entries {
                data: Cow::Borrowed(bytes),
                pos: at,
                left: Some(n),
                bare: false,
                names: KnownNames::default(),
            },
            Body::Packed(bytes) => {
                let data = if self.mode == Mode::CompressedPackedForward {
                    Cow::Owned(gunzip(bytes, limits.max_decompressed_bytes)?)
                } else {
                    Cow::Borrowed(bytes)
                };
                Entries {
                    data,
                    pos: 0,
                    left: None,
                    bare: false,
                    names: KnownNames::default(),
                }
            }
        })
    }
}

/// Inflates every gzip member (Fluentd sends several end to end), to at
/// most `limit` bytes: a small bomb can't take more memory than that.
fn gunzip(bytes: &[u8], limit: usize) -> Result<Vec<u8>, FrameError> {
    let mut out = Vec::with_capacity(bytes.len().saturating_mul(4).min(limit));
    flate2::read::MultiGzDecoder::new(bytes)
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| FrameError::Gzip(e.to_string()))?;
    if out.len() > limit {
        return Err(FrameError::DecompressedTooLarge { limit });
    }
    Ok(out)
}

/// A frame's events, decoded as they are asked for.
#[derive(Debug)]
pub struct Entries<'a> {
    data: Cow<'a, [u8]>,
    pos: usize,
    /// Entries still to read; `None` for a packed stream, read to its end.
    left: Option<u64>,
    /// Message mode: time and record are the frame's own elements.
    bare: bool,
    names: KnownNames,
}

/// The field names of the last record read, when they were distinct.
///
/// Every record of one log has the same names in the same order, so the
/// next record's name at each place is most often the one already made:
/// it is then cloned (a copy of at most 24 bytes) rather than checked as
/// UTF-8 and built again, and appended without looking for an earlier
/// field of that name, since the known names are distinct. A name that
/// differs ends that for the rest of its record, which is then read as
/// any other, and becomes the known names for the next.
///
/// Values are kept too, by place, when they are short text (a copy, no
/// allocation): a log's host, method, status or referer most often repeat
/// the last record's, and are then cloned rather than checked and built.
/// A value is the same whatever its name, so these need no such care.
#[derive(Debug, Default)]
struct KnownNames(Vec<Text>, Vec<Text>);

/// Most names kept: a record wider than this is read as any other.
const MAX_KNOWN_NAMES: usize = 64;

impl Entries<'_> {
    /// The next event's time (nanoseconds since the epoch) and record.
    pub fn next_entry(&mut self) -> Option<Result<(i64, Record), FrameError>> {
        match self.left {
            Some(0) => return None,
            Some(ref mut n) => *n -= 1,
            None if self.pos >= self.data.len() => return None,
            None => {}
        }
        let mut r = Reader::at(&self.data, self.pos);
        let entry = entry(&mut r, self.bare, &mut self.names);
        match entry {
            Ok(_) => self.pos = r.pos(),
            // Nothing after a bad entry is read.
            Err(_) => self.left = Some(0),
        }
        Some(entry)
    }

    /// How many entries are left, when the frame says (not for packed).
    pub fn len_hint(&self) -> Option<u64> {
        self.left
    }
}

impl Iterator for Entries<'_> {
    type Item = Result<(i64, Record), FrameError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_entry()
    }
}

fn entry(
    r: &mut Reader<'_>,
    bare: bool,
    names: &mut KnownNames,
) -> Result<(i64, Record), FrameError> {
    if !bare {
        let at = r.pos();
        if item(r)? != Item::Array(2) {
            return Err(invalid(at, "an entry is [time, record]"));
        }
    }
    let time = time(r)?;
    let at = r.pos();
    match item(r)? {
        Item::Map(n) => Ok((time, top_record(r, n, names)?)),
        _ => Err(invalid(at, "a record is a map")),
    }
}

/// A time: integer or float seconds, EventTime, or Fluent Bit's
/// `[time, metadata]`.
fn time(r: &mut Reader<'_>) -> Result<i64, FrameError> {
    let at = r.pos();
    let nanos = match item(r)? {
        Item::Int(s) => s.checked_mul(1_000_000_000),
        Item::Float(s) if s.is_finite() && s.abs() < (i64::MAX / 1_000_000_000) as f64 => {
            // Whole seconds and the fraction apart: `s * 1e9` would round
            // to 256 ns at today's times.
            let whole = s.trunc();
            let nanos = ((s - whole) * 1e9).round() as i64;
            Some(whole as i64 * 1_000_000_000 + nanos)
        }
        Item::Ext(0, d) if d.len() == 8 => {
            let secs = u32::from_be_bytes([d[0], d[1], d[2], d[3]]);
            let nanos = u32::from_be_bytes([d[4], d[5], d[6], d[7]]);
            Some(i64::from(secs) * 1_000_000_000 + i64::from(nanos))
        }
        Item::Array(2) => {
            let t = time(r)?;
            // Fluent Bit's metadata map: not part of the record.
            skip(r, 1)?;
            Some(t)
        }
        _ => return Err(invalid(at, "a time is an integer, a float or EventTime")),
    };
    nanos.ok_or(invalid(at, "a time out of range"))
}

/// An entry's record, its names taken from `known` where they are the
/// same (see [`KnownNames`]).
fn top_record(r: &mut Reader<'_>, n: u32, known: &mut KnownNames) -> Result<Record, FrameError> {
    // Each pair takes two bytes at least: a lying count can't reserve more.
    let room = (r.remaining() / 2).min(n as usize);
    let mut record = Record::with_capacity(room);
    // True while every name so far was the known one at its place.
    let mut same = true;
    for place in 0..n as usize {
        let at = r.pos();
        let key = match item(r)? {
            Item::Str(k) | Item::Bin(k) => k,
            Item::Int(i) => {
                same = false;
                let value = value(r, 1)?;
                record.insert(Text::from(itoa::Buffer::new().format(i)), value);
                continue;
            }
            _ => return Err(invalid(at, "a record's key is a string")),
        };
        let value = top_value(r, place, &mut known.1)?;
        if same
            && let Some(name) = known
                .0
                .get(place)
                .filter(|name| equal(name.as_bytes(), key))
        {
            // Distinct from the names before it: they are the known ones.
            record.insert_new(name.clone(), value);
            continue;
        }
        same = false;
        record.insert(text(key), value);
    }
    let whole = record.len() == n as usize && known.0.len() == record.len();
    if !(same && whole) {
        known.0.clear();
        // Names that repeat within the record can't be taken as distinct.
        if record.len() == n as usize && record.len() <= MAX_KNOWN_NAMES {
            known.0.extend(record.keys().cloned());
        }
    }
    Ok(record)
}

/// A top-level record's value at `place`: text equal to the last one kept
/// there is cloned; other short text is kept there for the next record.
#[inline]
fn top_value(r: &mut Reader<'_>, place: usize, known: &mut Vec<Text>) -> Result<Value, FrameError> {
    let mut ahead = r.clone();
    let (Item::Str(bytes) | Item::Bin(bytes)) = item(&mut ahead)? else {
        return value(r, 1);
    };
    *r = ahead;
    if let Some(same) = known
        .get(place)
        .filter(|text| equal(text.as_bytes(), bytes))
    {
        return Ok(Value::String(same.clone()));
    }
    let text = text(bytes);
    // Cloning text on the heap would allocate: only inline text is kept.
    if !text.is_heap_allocated() {
        if let Some(slot) = known.get_mut(place) {
            *slot = text.clone();
        } else if place == known.len() && place < MAX_KNOWN_NAMES {
            known.push(text.clone());
        }
    }
    Ok(Value::String(text))
}

/// `a == b` for the short text a record's names and repeated values are:
/// two overlapping word loads each, not a call to `memcmp` (which showed
/// in profiles, several times per record).
#[inline(always)]
fn equal(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    // The first and the last 8 (or 4) bytes cover all of them.
    fn ends<const W: usize>(s: &[u8]) -> Option<(&[u8; W], &[u8; W])> {
        Some((s.first_chunk::<W>()?, s.last_chunk::<W>()?))
    }
    match n {
        8..=16 => ends::<8>(a) == ends::<8>(b),
        4..=7 => ends::<4>(a) == ends::<4>(b),
        _ => a == b,
    }
}

fn record(r: &mut Reader<'_>, n: u32, depth: usize) -> Result<Record, FrameError> {
    if depth > MAX_DEPTH {
        return Err(FrameError::TooDeep);
    }
    // Each pair takes two bytes at least: a lying count can't reserve more.
    let room = (r.remaining() / 2).min(n as usize);
    let mut record = Record::with_capacity(room);
    for _ in 0..n {
        let at = r.pos();
        let key = match item(r)? {
            Item::Str(k) | Item::Bin(k) => text(k),
            Item::Int(i) => Text::from(itoa::Buffer::new().format(i)),
            _ => return Err(invalid(at, "a record's key is a string")),
        };
        let value = value(r, depth)?;
        record.insert(key, value);
    }
    Ok(record)
}

fn value(r: &mut Reader<'_>, depth: usize) -> Result<Value, FrameError> {
    Ok(match item(r)? {
        Item::Nil => Value::Null,
        Item::Bool(b) => Value::Bool(b),
        Item::Int(i) => Value::Int(i),
        // Past i64: kept as its digits rather than rounded to a float.
        Item::UInt(u) => Value::String(Text::from(itoa::Buffer::new().format(u))),
        Item::Float(f) => Value::Float(f),
        Item::Str(s) | Item::Bin(s) => Value::String(text(s)),
        Item::Array(n) => {
            if depth + 1 > MAX_DEPTH {
                return Err(FrameError::TooDeep);
            }
            let mut list = Vec::with_capacity((n as usize).min(r.remaining()));
            for _ in 0..n {
                list.push(value(r, depth + 1)?);
            }
            Value::Array(Box::new(list))
        }
        Item::Map(n) => Value::Map(Box::new(record(r, n, depth + 1)?)),
        // An EventTime inside a record: its nanoseconds.
        Item::Ext(0, d) if d.len() == 8 => {
            let secs = u32::from_be_bytes([d[0], d[1], d[2], d[3]]);
            let nanos = u32::from_be_bytes([d[4], d[5], d[6], d[7]]);
            Value::Int(i64::from(secs) * 1_000_000_000 + i64::from(nanos))
        }
        // No JSON for other extensions.
        Item::Ext(..) => Value::Null,
    })
}

/// UTF-8 text; bytes that are not UTF-8 become U+FFFD, as elsewhere in
/// levee.
#[inline]
fn text(bytes: &[u8]) -> Text {
    // Most log text is ASCII, and checking for that a word at a time is
    // cheaper than the full UTF-8 check (it showed in profiles).
    if bytes.is_ascii() {
        // SAFETY: ASCII is UTF-8.
        return Text::from(unsafe { std::str::from_utf8_unchecked(bytes) });
    }
    match std::str::from_utf8(bytes) {
        Ok(s) => Text::from(s),
        Err(_) => Text::from(String::from_utf8_lossy(bytes).as_ref()),
    }
}

/// The next item; an input that ends inside it is invalid here, where the
/// whole frame is in hand.
#[inline]
fn item<'a>(r: &mut Reader<'a>) -> Result<Item<'a>, FrameError> {
    r.item().map_err(|e| match e {
        ReadError::Incomplete { .. } => invalid(r.pos(), "the input ends inside an item"),
        ReadError::NeverUsed => invalid(r.pos(), "0xc1 is not msgpack"),
    })
}

/// Reads past `n` items and everything inside them, without building
/// anything and without recursion.
fn skip(r: &mut Reader<'_>, n: u64) -> Result<(), FrameError> {
    let mut left = n;
    let mut open: Vec<u64> = Vec::new();
    while left > 0 || !open.is_empty() {
        if left == 0 {
            left = open.pop().unwrap_or(0);
            continue;
        }
        left -= 1;
        let inner = match item(r)? {
            Item::Array(n) => u64::from(n),
            Item::Map(n) => 2 * u64::from(n),
            _ => 0,
        };
        if inner > 0 {
            if open.len() >= MAX_DEPTH {
                return Err(FrameError::TooDeep);
            }
            open.push(left);
            left = inner;
        }
    }
    Ok(())
}

#[cfg(test)]
mod equal_tests {
    use super::equal;

    #[test]
    fn equal_is_byte_equality_at_every_length() {
        for n in 0..40u8 {
            let a: Vec<u8> = (0..n).map(|i| b'a' + i).collect();
            assert!(equal(&a, &a.clone()), "{n}");
            for at in 0..usize::from(n) {
                let mut b = a.clone();
                b[at] ^= 0x20;
                assert!(!equal(&a, &b), "{n} bytes, differing at {at}");
            }
            if n > 0 {
                assert!(!equal(&a, &a[..a.len() - 1]), "{n}");
            }
        }
    }
}
