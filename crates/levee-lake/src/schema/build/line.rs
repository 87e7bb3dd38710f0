//! A line's JSON read byte by byte, straight into the hour's columns.
//!
//! Through serde_json's visitors, each field name became a `Cow` and each
//! value a trip through `deserialize_any`: serde_json and the visitors
//! were about a quarter of `levee compact`'s CPU on the bench's 2,000,000
//! events (perf). This reader takes a field name as the bytes between its
//! quotes, compares them with the field the last record had next, and
//! appends a text value to its column straight from the line; text is
//! scanned eight bytes at a time for its end.
//!
//! It takes exactly the lines serde_json took, with the same values, or
//! refuses them: anything unusual (a number with a fraction, an exponent
//! or too many digits, `-0`) is handed to serde_json, and anything it is
//! unsure of (nesting past [`MAX_DEPTH`]) is refused, for the two reads.

use std::borrow::Cow;
use std::fmt;

use arrow::array::ArrayBuilder;
use arrow::compute::kernels::cast_utils::string_to_datetime;
use serde::de::{self, Deserializer, Visitor};

use arrow::array::timezone::Tz;

use super::{Col, Kind, ListCol, Refused, Sizes, StructCol};
use crate::schema::{Changes, Crumb, clashes_with_partition};

/// Containers within containers a line may have here. serde_json gives up
/// at 128; past this, the two reads (which use it) decide.
const MAX_DEPTH: u32 = 64;

type Read<T> = Result<T, Refused>;

/// A JSON number, as serde_json hands it to a visitor.
enum Number {
    I64(i64),
    U64(u64),
    F64(f64),
}

/// A number as a column takes it: as `levee_event::Value` reads it, an
/// integer beyond i64 is a float.
enum Scalar {
    Int(i64),
    Float(f64),
}

impl From<Number> for Scalar {
    fn from(n: Number) -> Scalar {
        match n {
            Number::I64(v) => Scalar::Int(v),
            Number::U64(v) => i64::try_from(v).map_or(Scalar::Float(v as f64), Scalar::Int),
            Number::F64(v) => Scalar::Float(v),
        }
    }
}

/// The reader's place in a line.
pub(super) struct Line<'a> {
    text: &'a str,
    at: usize,
    depth: u32,
    /// The room new columns start with.
    sizes: &'a Sizes,
}

impl<'a> Line<'a> {
    pub(super) fn new(text: &'a str, sizes: &'a Sizes) -> Line<'a> {
        Line {
            text,
            at: 0,
            depth: 0,
            sizes,
        }
    }

    fn bytes(&self) -> &'a [u8] {
        self.text.as_bytes()
    }

    fn peek(&self) -> Option<u8> {
        self.bytes().get(self.at).copied()
    }

    /// Skips JSON's whitespace, and gives the byte after it.
    fn next_token(&mut self) -> Option<u8> {
        while let Some(b) = self.peek() {
            if !matches!(b, b' ' | b'\t' | b'\n' | b'\r') {
                return Some(b);
            }
            self.at += 1;
        }
        None
    }

    /// Skips whitespace, then `b`.
    fn expect(&mut self, b: u8) -> Read<()> {
        if self.next_token() == Some(b) {
            self.at += 1;
            Ok(())
        } else {
            Err(Refused)
        }
    }

    /// The record on the line, into the columns under `root`, in a table
    /// whose event-time column is `time_field`.
    pub(super) fn record(
        mut self,
        root: &mut StructCol,
        time_field: Option<&str>,
        utc: &Tz,
        changes: &mut Changes,
    ) -> Read<()> {
        self.expect(b'{')?;
        self.top(root, time_field, utc, changes)?;
        match self.next_token() {
            None => Ok(()),
            Some(_) => Err(Refused),
        }
    }

    /// The top object's fields, after its `{`: the table's columns.
    fn top(
        &mut self,
        root: &mut StructCol,
        time_field: Option<&str>,
        utc: &Tz,
        changes: &mut Changes,
    ) -> Read<()> {
        let row = root.len;
        let mut first = true;
        while let Some(key) = self.key(&mut first)? {
            let index = find(root, &key);
            match index.and_then(|i| root.fields.get_index(i)) {
                // A column made already: its name was checked when it was.
                Some((_, Col::Time(_))) => self.event_time(root, index, key, row, utc)?,
                Some(_) => self.field(root, index, key, row, None, changes)?,
                None => {
                    if clashes_with_partition(&key) {
                        return Err(Refused);
                    }
                    match time_field {
                        Some(t) if *key == *t => self.event_time(root, None, key, row, utc)?,
                        Some(t) if key.eq_ignore_ascii_case(t) => return Err(Refused),
                        _ => self.field(root, None, key, row, None, changes)?,
                    }
                }
            }
        }
        root.end_row();
        Ok(())
    }

    /// The next field's name and its `:`, or `None` at the object's `}`.
    /// `first`: no field has been read in this object yet.
    #[inline(always)]
    fn key(&mut self, first: &mut bool) -> Read<Option<Cow<'a, str>>> {
        match self.next_token() {
            Some(b'}') if *first => {
                self.at += 1;
                return Ok(None);
            }
            Some(b'"') if *first => {}
            Some(b',') if !*first => {
                self.at += 1;
                if self.next_token() != Some(b'"') {
                    return Err(Refused);
                }
            }
            Some(b'}') => {
                self.at += 1;
                return Ok(None);
            }
            _ => return Err(Refused),
        }
        *first = false;
        self.at += 1;
        let key = self.string()?;
        self.expect(b':')?;
        Ok(Some(key))
    }

    /// The value of field `key` of an object at row `row` of `parent`,
    /// whose column is at `index` (see [`find`]), if it has one.
    #[inline(always)]
    fn field(
        &mut self,
        parent: &mut StructCol,
        index: Option<usize>,
        key: Cow<'a, str>,
        row: usize,
        up: Option<&Crumb<'_>>,
        changes: &mut Changes,
    ) -> Read<()> {
        let at = Crumb::new(up, &key);
        match index.and_then(|i| Some((i, parent.fields.get_index_mut(i)?.1))) {
            Some((index, col)) => {
                parent.next = index + 1;
                let len = col.len();
                // A second value for the field in this object.
                if len > row {
                    return Err(Refused);
                }
                // The rows before that lacked it are null (see `StructCol`).
                if len < row {
                    col.append_nulls(row - len);
                }
                self.fill(col, &at, changes)
            }
            None => {
                let mut slot = None;
                self.new_column(&mut slot, row, &at, changes)?;
                // As in the schema pass: a null gets no column.
                if let Some(col) = slot {
                    let (index, _) = parent.fields.insert_full(key.into_owned(), col);
                    parent.next = index + 1;
                }
                Ok(())
            }
        }
    }

    /// The event-time column's value: null, or text that reads as a
    /// timestamp. Anything else is refused, for the two reads to rename.
    fn event_time(
        &mut self,
        root: &mut StructCol,
        index: Option<usize>,
        key: Cow<'a, str>,
        row: usize,
        utc: &Tz,
    ) -> Read<()> {
        match self.next_token() {
            Some(b'n') => {
                self.literal(b"null")?;
                match index.and_then(|i| root.fields.get_index(i)) {
                    Some((_, col)) if col.len() > row => Err(Refused),
                    // Ends up null, when the row ends.
                    _ => Ok(()),
                }
            }
            Some(b'"') => {
                self.at += 1;
                let text = self.string()?;
                // As `is_timestamp_text` and the Arrow decoder read it: a
                // time within nanoseconds' range, as microseconds.
                let micros = string_to_datetime(utc, &text)
                    .ok()
                    .filter(|t| t.timestamp_nanos_opt().is_some())
                    .map(|t| t.timestamp_micros())
                    .ok_or(Refused)?;
                let index = match index {
                    Some(index) => index,
                    None => {
                        let time = Col::new_time(row, self.sizes.room(&Crumb::new(None, &key)));
                        root.fields.insert_full(key.into_owned(), time).0
                    }
                };
                root.next = index + 1;
                match root.fields.get_index_mut(index).map(|(_, col)| col) {
                    Some(Col::Time(b)) if b.len() <= row => {
                        b.append_nulls(row - b.len());
                        b.append_value(micros);
                        Ok(())
                    }
                    _ => Err(Refused),
                }
            }
            _ => Err(Refused),
        }
    }

    /// A value, into a column there already is.
    fn fill(&mut self, col: &mut Col, at: &Crumb<'_>, changes: &mut Changes) -> Read<()> {
        match (self.next_token(), col) {
            (Some(b'"'), Col::Str(b)) => {
                self.at += 1;
                let text = self.string()?;
                b.append_value(text);
            }
            (Some(b'n'), col) => {
                self.literal(b"null")?;
                col.append_null();
            }
            (Some(b't'), Col::Bool(b)) => {
                self.literal(b"true")?;
                b.append_value(true);
            }
            (Some(b'f'), Col::Bool(b)) => {
                self.literal(b"false")?;
                b.append_value(false);
            }
            (Some(b'-' | b'0'..=b'9'), col) => match (self.number()?, col) {
                (Scalar::Int(v), Col::Int(b)) => b.append_value(v),
                (Scalar::Int(v), Col::Float(b)) => b.append_value(v as f64),
                (Scalar::Float(v), col) => {
                    col.widen_to_float(at, changes);
                    match col {
                        Col::Float(b) => b.append_value(v),
                        _ => return Err(Refused),
                    }
                }
                _ => return Err(Refused),
            },
            (Some(b'['), Col::List(l)) => {
                self.enter()?;
                self.list(l, at, changes)?;
                self.depth -= 1;
            }
            (Some(b'{'), Col::Struct(s)) => {
                self.enter()?;
                self.object(s, at, changes)?;
                self.depth -= 1;
            }
            _ => return Err(Refused),
        }
        Ok(())
    }

    /// A value for a column there is not yet: a null leaves none, anything
    /// else makes one, with `nulls` nulls before it.
    fn new_column(
        &mut self,
        slot: &mut Option<Col>,
        nulls: usize,
        at: &Crumb<'_>,
        changes: &mut Changes,
    ) -> Read<()> {
        let kind = match self.next_token() {
            Some(b'n') => return self.literal(b"null"),
            Some(b'"') => Kind::String,
            Some(b't' | b'f') => Kind::Bool,
            Some(b'[') => Kind::List,
            Some(b'{') => Kind::Map,
            Some(b'-' | b'0'..=b'9') => {
                match (self.number()?, slot) {
                    (Scalar::Int(v), slot) => {
                        let room = self.sizes.room(at);
                        if let Col::Int(b) = slot.insert(Col::new(Kind::Int, nulls, room)) {
                            b.append_value(v);
                        }
                    }
                    (Scalar::Float(v), slot) => {
                        let room = self.sizes.room(at);
                        if let Col::Float(b) = slot.insert(Col::new(Kind::Float, nulls, room)) {
                            b.append_value(v);
                        }
                    }
                }
                return Ok(());
            }
            _ => return Err(Refused),
        };
        let room = self.sizes.room(at);
        self.fill(slot.insert(Col::new(kind, nulls, room)), at, changes)
    }

    /// A list's elements, after its `[`.
    fn list(&mut self, l: &mut ListCol, at: &Crumb<'_>, changes: &mut Changes) -> Read<()> {
        let at = at.element();
        let mut first = true;
        loop {
            match self.next_token() {
                Some(b']') if first => {
                    self.at += 1;
                    break;
                }
                _ if first => {}
                Some(b',') => self.at += 1,
                Some(b']') => {
                    self.at += 1;
                    break;
                }
                _ => return Err(Refused),
            }
            first = false;
            match l.element.as_mut() {
                Some(col) => self.fill(col, &at, changes)?,
                None => self.new_column(&mut l.element, l.elements, &at, changes)?,
            }
            l.elements += 1;
        }
        let end = i32::try_from(l.elements).map_err(|_| Refused)?;
        l.offsets.push(end);
        l.nulls.append_non_null();
        Ok(())
    }

    /// A nested object's fields, after its `{`.
    fn object(&mut self, s: &mut StructCol, at: &Crumb<'_>, changes: &mut Changes) -> Read<()> {
        let row = s.len;
        let mut first = true;
        while let Some(key) = self.key(&mut first)? {
            let index = find(s, &key);
            self.field(s, index, key, row, Some(at), changes)?;
        }
        s.end_row();
        Ok(())
    }

    /// One container deeper.
    fn enter(&mut self) -> Read<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(Refused);
        }
        self.at += 1;
        Ok(())
    }

    /// `null`, `true` or `false`, at the reader's place.
    fn literal(&mut self, word: &[u8]) -> Read<()> {
        if self.bytes()[self.at..].starts_with(word) {
            self.at += word.len();
            Ok(())
        } else {
            Err(Refused)
        }
    }

    /// A string's text, after its opening quote, up to and past its
    /// closing one: borrowed from the line when it has no escapes.
    /// Inlined where it is called, the rare escapes aside: as a call,
    /// saving and restoring registers cost as much as finding the end
    /// (cachegrind, the bench's 500,000 events).
    #[inline(always)]
    fn string(&mut self) -> Read<Cow<'a, str>> {
        let start = self.at;
        let end = start + plain_run(&self.bytes()[start..]);
        if self.bytes().get(end) == Some(&b'"') {
            self.at = end + 1;
            // The line is text, and `"` is a whole character.
            return self.text.get(start..end).map(Cow::Borrowed).ok_or(Refused);
        }
        self.string_with_escapes(start, end)
    }

    /// [`Self::string`] from `end`, where its plain start ends short of
    /// the closing quote.
    #[cold]
    #[inline(never)]
    fn string_with_escapes(&mut self, start: usize, end: usize) -> Read<Cow<'a, str>> {
        match self.bytes().get(end) {
            Some(b'\\') => {
                let mut owned = String::from(self.text.get(start..end).ok_or(Refused)?);
                self.at = end;
                self.escaped(&mut owned)?;
                Ok(Cow::Owned(owned))
            }
            // A control character, or the line's end.
            _ => Err(Refused),
        }
    }

    /// The rest of a string with escapes, from an escape on, into `out`.
    fn escaped(&mut self, out: &mut String) -> Read<()> {
        loop {
            match self.peek() {
                Some(b'"') => {
                    self.at += 1;
                    return Ok(());
                }
                Some(b'\\') => {
                    let escape = self.bytes().get(self.at + 1).copied().ok_or(Refused)?;
                    self.at += 2;
                    out.push(match escape {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => self.unicode_escape()?,
                        _ => return Err(Refused),
                    });
                }
                Some(_) => {
                    let start = self.at;
                    let end = start + plain_run(&self.bytes()[start..]);
                    if end == start {
                        // A control character, or the line's end.
                        return Err(Refused);
                    }
                    out.push_str(self.text.get(start..end).ok_or(Refused)?);
                    self.at = end;
                }
                None => return Err(Refused),
            }
        }
    }

    /// The character of a `\u` escape, after its `u`: a surrogate pair
    /// takes the `\uXXXX` after it too; a lone surrogate is refused, as
    /// serde_json refuses it.
    fn unicode_escape(&mut self) -> Read<char> {
        let high = self.hex4()?;
        let code = match high {
            0xD800..=0xDBFF => {
                if !self.bytes()[self.at..].starts_with(b"\\u") {
                    return Err(Refused);
                }
                self.at += 2;
                let low = self.hex4()?;
                if !(0xDC00..=0xDFFF).contains(&low) {
                    return Err(Refused);
                }
                0x10000 + ((u32::from(high) - 0xD800) << 10) + (u32::from(low) - 0xDC00)
            }
            0xDC00..=0xDFFF => return Err(Refused),
            _ => u32::from(high),
        };
        char::from_u32(code).ok_or(Refused)
    }

    /// Four hex digits.
    fn hex4(&mut self) -> Read<u16> {
        let digits = self.bytes().get(self.at..self.at + 4).ok_or(Refused)?;
        let mut v = 0u16;
        for &d in digits {
            let n = (d as char).to_digit(16).ok_or(Refused)?;
            v = v << 4 | n as u16;
        }
        self.at += 4;
        Ok(v)
    }

    /// A number, as serde_json reads it: plain integers of up to 18
    /// digits here, anything else by serde_json itself.
    fn number(&mut self) -> Read<Scalar> {
        let bytes = self.bytes();
        let start = self.at;
        let negative = bytes[start] == b'-';
        let digits_at = start + usize::from(negative);
        let mut end = digits_at;
        let mut v: u64 = 0;
        while let Some(d @ b'0'..=b'9') = bytes.get(end) {
            v = v.wrapping_mul(10).wrapping_add(u64::from(d - b'0'));
            end += 1;
        }
        let digits = end - digits_at;
        // Not a fraction or an exponent, no leading zero, not `-0`.
        let unusual = matches!(bytes.get(end), Some(b'.' | b'e' | b'E'))
            || (digits > 1 && bytes[digits_at] == b'0')
            || (negative && v == 0);
        let plain = (1..=18).contains(&digits) && !unusual;
        if plain {
            self.at = end;
            // 18 digits fit an i64.
            return Ok(Scalar::from(if negative {
                Number::I64(-(v as i64))
            } else {
                Number::U64(v)
            }));
        }
        // The rest of a JSON number, for serde_json to read (and judge).
        while let Some(b'0'..=b'9' | b'.' | b'e' | b'E' | b'+' | b'-') = bytes.get(end) {
            end += 1;
        }
        let text = self.text.get(start..end).ok_or(Refused)?;
        let mut json = serde_json::Deserializer::from_str(text);
        let number = json.deserialize_any(NumberSeen).map_err(|_| Refused)?;
        json.end().map_err(|_| Refused)?;
        self.at = end;
        Ok(Scalar::from(number))
    }
}

/// Which number serde_json saw.
struct NumberSeen;

impl Visitor<'_> for NumberSeen {
    type Value = Number;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a number")
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Number, E> {
        Ok(Number::I64(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Number, E> {
        Ok(Number::U64(v))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Number, E> {
        Ok(Number::F64(v))
    }
}

/// Fields after the one read last that are tried before the hash lookup.
const LOOK_AHEAD: usize = 4;

/// Where field `key`'s column is among `parent`'s, if it has one. Records
/// mostly have their fields in the order of the one before, some left out
/// (the bench's events: one order, each kind of event leaving out its
/// own few): the fields after the one read last are tried first.
#[inline(always)]
fn find(parent: &StructCol, key: &str) -> Option<usize> {
    // A plain loop: as an iterator's `find`, a call for each field.
    for i in parent.next..parent.next + LOOK_AHEAD {
        match parent.fields.get_index(i) {
            Some((name, _)) if same_name(name, key) => return Some(i),
            Some(_) => {}
            None => break,
        }
    }
    parent.fields.get_index_of(key)
}

/// Whether two field names are the same. Compared a word at a time: names
/// are short, and a call to `memcmp` for each field was 3% of compaction's
/// CPU (perf, the bench's 2,000,000 events).
#[inline]
fn same_name(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let n = a.len();
    if n != b.len() {
        return false;
    }
    match n {
        0..4 => a.iter().zip(b).all(|(x, y)| x == y),
        // Two words that overlap when the name is shorter than both.
        4..8 => word::<4>(a, 0) == word::<4>(b, 0) && word::<4>(a, n - 4) == word::<4>(b, n - 4),
        8..=16 => word::<8>(a, 0) == word::<8>(b, 0) && word::<8>(a, n - 8) == word::<8>(b, n - 8),
        _ => word::<8>(a, 0) == word::<8>(b, 0) && a[8..] == b[8..],
    }
}

/// The `N` bytes of `bytes` from `at`, if it has them.
#[inline]
fn word<const N: usize>(bytes: &[u8], at: usize) -> Option<[u8; N]> {
    bytes.get(at..)?.first_chunk::<N>().copied()
}

/// Bytes at the start of `bytes` that a string takes as they are: up to
/// a `"`, a `\` or a control character. Sixteen at a time, with SSE2
/// (which every x86-64 has): eight at a time, this scan was a tenth of
/// `levee compact`'s instructions (cachegrind, the bench's 500,000 events).
#[cfg(target_arch = "x86_64")]
#[inline]
fn plain_run(bytes: &[u8]) -> usize {
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_min_epu8, _mm_movemask_epi8, _mm_or_si128,
        _mm_set1_epi8,
    };
    let mut i = 0;
    while let Some(block) = bytes.get(i..i + 16) {
        // SAFETY: SSE2 is part of x86-64, and the load reads the 16 bytes
        // of `block` (it need not be aligned).
        let found = unsafe {
            let v = _mm_loadu_si128(block.as_ptr().cast::<__m128i>());
            let quote = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'"' as i8));
            let backslash = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'\\' as i8));
            // At most 0x1f (unsigned) where the byte is its minimum with 0x1f.
            let control = _mm_cmpeq_epi8(_mm_min_epu8(v, _mm_set1_epi8(0x1f)), v);
            _mm_movemask_epi8(_mm_or_si128(_mm_or_si128(quote, backslash), control))
        };
        if found != 0 {
            return i + found.trailing_zeros() as usize;
        }
        i += 16;
    }
    i + plain_run_by_words(&bytes[i..])
}

#[cfg(not(target_arch = "x86_64"))]
fn plain_run(bytes: &[u8]) -> usize {
    plain_run_by_words(bytes)
}

/// [`plain_run`], eight bytes at a time.
fn plain_run_by_words(bytes: &[u8]) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let mut i = 0;
    while let Some(word) = bytes.get(i..i + 8) {
        let mut eight = [0u8; 8];
        eight.copy_from_slice(word);
        let x = u64::from_le_bytes(eight);
        let quote = x ^ (ONES * u64::from(b'"'));
        let backslash = x ^ (ONES * u64::from(b'\\'));
        // A byte's high bit set where it is zero (so matched) or below
        // 0x20; the lowest such byte is exact (borrows only run upwards).
        let found = (quote.wrapping_sub(ONES) & !quote
            | backslash.wrapping_sub(ONES) & !backslash
            | x.wrapping_sub(ONES * 0x20) & !x)
            & HIGH;
        if found != 0 {
            return i + (found.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    i + bytes[i..]
        .iter()
        .position(|&b| b == b'"' || b == b'\\' || b < 0x20)
        .unwrap_or(bytes.len() - i)
}

#[cfg(test)]
mod tests {
    use super::super::tests::{assert_same, one_read, random};
    use super::*;

    fn lines(texts: &[&str]) -> Vec<String> {
        texts.iter().map(|t| (*t).to_owned()).collect()
    }

    /// Whether serde_json takes `text` as one JSON value.
    fn is_json(text: &str) -> bool {
        serde_json::from_str::<serde_json::Value>(text).is_ok()
    }

    #[test]
    fn escapes_whitespace_and_numbers_read_as_the_two_reads_read_them() {
        let texts = [
            r#"{"s":"plain","e":"q\"b\\s\/n\nr\rt\tb\bf\f","u":"\u00e9\u4e2d\ud83d\ude00","k\u0041":1}"#,
            " \t{ \"s\" : \"x\" , \"e\":\"\" ,\"n\" :\t-12 }\r",
            r#"{"n":0,"f":-0,"g":1e3,"h":1E-2,"i":12.50,"j":-1.5e+2}"#,
            r#"{"n":123456789012345678,"f":1234567890123456789,"g":-9223372036854775808}"#,
            r#"{"n":9223372036854775807,"f":18446744073709551615,"h":-9223372036854775809}"#,
            r#"{"n":-123456789012345678,"f":18446744073709551616,"l":[1,-2,3.5e0]}"#,
            r#"{"s":"é中😀 and a \"quote\"","m":[ "a" , "b\n" ],"o":{ "k\"ey" : { } }}"#,
        ];
        for n in 1..=texts.len() {
            assert_same(&lines(&texts[..n]), None);
        }
        assert_same(&lines(&texts), Some("time"));
    }

    #[test]
    fn what_is_not_json_is_refused() {
        let deep = format!("{{\"a\":{}1{}}}", "[".repeat(200), "]".repeat(200));
        for text in [
            r#"{"a":1,}"#,
            r#"{"a":[1,]}"#,
            r#"{"a":[,1]}"#,
            r#"{,"a":1}"#,
            r#"{"a" 1}"#,
            r#"{"a":1 "b":2}"#,
            r#"{"a":01}"#,
            r#"{"a":-}"#,
            r#"{"a":+1}"#,
            r#"{"a":.5}"#,
            r#"{"a":1.}"#,
            r#"{"a":1e}"#,
            r#"{"a":tru}"#,
            r#"{"a":nul}"#,
            r#"{"a":"x"#,
            r#"{"a":"\x"}"#,
            r#"{"a":"\u12"}"#,
            r#"{"a":"\ud83d"}"#,
            r#"{"a":"\ude00"}"#,
            r#"{"a":"\ud83d\u0041"}"#,
            "{\"a\":\"tab\there\"}",
            "{\"a\":\"nul\u{0}\"}",
            r#"{"a":1}}"#,
            r#"{"a":1} {"b":2}"#,
            r#"{"a":1e999}"#,
            deep.as_str(),
        ] {
            assert!(!is_json(text) || text == deep, "{text} is JSON");
            assert!(
                one_read(&lines(&[r#"{"a":1}"#, text]), None).is_err(),
                "{text} taken"
            );
        }
    }

    /// Lines of random bytes from JSON's alphabet: never a panic, nothing
    /// serde_json refuses is taken, and what is taken reads as the two
    /// reads read it.
    #[test]
    fn random_text_is_refused_or_read_as_the_two_reads_read_it() {
        let mut random = random(0x2545_f491_4f6c_dd1d);
        let mut next = |n: usize| random(n as u64) as usize;
        const PIECES: &[&str] = &[
            "{", "}", "[", "]", ",", ":", "\"", "\"a\"", "\"b\"", "\"c\":", "1", "-", "0", "2.5",
            "e7", "null", "true", "false", "\\", "\\\"", "\\u00e9", "\\ud83d", " ", "\t", "x", "é",
            "\u{1}",
        ];
        let (mut taken, mut tried) = (0, 0);
        for _ in 0..20_000 {
            let mut text = String::from("{\"a\":");
            for _ in 0..next(12) {
                text.push_str(PIECES[next(PIECES.len())]);
            }
            if next(2) == 0 {
                text.push('}');
            }
            tried += 1;
            let read = one_read(std::slice::from_ref(&text), None);
            if read.is_ok() {
                assert!(is_json(&text), "{text:?} taken");
                assert_same(std::slice::from_ref(&text), None);
                taken += 1;
            }
        }
        assert!(taken > 100, "{taken} of {tried} taken");
    }

    /// Names of every length up to 40, differing from each other in one
    /// byte anywhere (the first, the last, between the two words), or in
    /// length only: `same_name` says what `==` says.
    #[test]
    fn names_compared_a_word_at_a_time_are_compared_exactly() {
        for n in 0..40 {
            let name: String = (0..n).map(|i| char::from(b'a' + (i % 26) as u8)).collect();
            assert!(same_name(&name, &name.clone()), "{name}");
            assert!(!same_name(&name, &format!("{name}x")), "{name}");
            for at in 0..n {
                let mut other = name.clone().into_bytes();
                other[at] = b'_';
                let other = String::from_utf8(other).unwrap();
                assert!(!same_name(&name, &other), "{name} {other}");
                assert!(!same_name(&other, &name), "{other} {name}");
            }
        }
    }

    #[test]
    fn a_plain_run_stops_at_the_first_quote_backslash_or_control_character() {
        for (text, run) in [
            ("", 0),
            ("abc", 3),
            ("abcdefgh", 8),
            ("abcdefghij\"", 10),
            ("abcdefg\\h", 7),
            ("abcdefghijklmno\u{1f}", 15),
            ("\u{7f}é中😀ab\"", 12),
            ("\"", 0),
            ("ab\u{0}", 2),
        ] {
            assert_eq!(plain_run(text.as_bytes()), run, "{text:?}");
            assert_eq!(plain_run_by_words(text.as_bytes()), run, "{text:?}");
        }
    }

    /// Each byte that ends a run, at each place in and past the first
    /// sixteen and eight, with and without bytes after it.
    #[test]
    fn a_plain_run_stops_wherever_the_stop_is() {
        let mut stops: Vec<u8> = (0..0x20).collect();
        stops.extend([b'"', b'\\']);
        for stop in stops {
            for at in 0..40 {
                for after in [0, 1, 20] {
                    let mut text = vec![b'a'; at];
                    text.push(stop);
                    text.extend(std::iter::repeat_n(b'"', after));
                    assert_eq!(plain_run(&text), at, "{stop:#x} at {at}");
                    assert_eq!(plain_run_by_words(&text), at, "{stop:#x} at {at}");
                }
            }
        }
        // High bytes (UTF-8's) and `0x20`, `0x7f` do not stop a run.
        let text: Vec<u8> = (0x20..=0xff).filter(|&b| b != b'"' && b != b'\\').collect();
        assert_eq!(plain_run(&text), text.len());
        assert_eq!(plain_run_by_words(&text), text.len());
    }
}
