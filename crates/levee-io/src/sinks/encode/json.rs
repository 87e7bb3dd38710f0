//! Records as JSON text, written straight into a byte buffer.
//!
//! Every sink that writes NDJSON spends most of its encoding time here,
//! so this skips serde's generic path: no `Result` per token, no
//! `io::Write` per fragment. The bytes are exactly what `serde_json`
//! writes for the same record (a property test holds it to that), so
//! readers see no difference.
//!
//! The writer checks for room once per string, not once per byte. It
//! copies text sixteen bytes at a time, storing each block before it looks
//! at it for what needs escaping (one SSE2 compare on x86_64), and stores
//! a string's last block whole.
//! Storing past the end needs initialized bytes there, so the buffer is
//! grown with zeros ahead of the text and cut back to it at the end: a
//! memset per record instead of a check per byte. The only `unsafe` is the
//! call to the SSE2 compare, which every x86_64 CPU has.
//!
//! It lives beside the sinks, its only users, rather than in `levee-event`:
//! every edit to the core crate rebuilds the whole workspace.

use levee_event::{Record, Value};

/// Appends the record as one JSON object, fields in record order.
pub fn write_record(record: &Record, out: &mut Vec<u8>) {
    let mut writer = Writer::new(out);
    writer.record(record);
    writer.finish();
}

/// Appends the record as one JSON object led by the field `lead` with the
/// text `text`, which must need no escaping (an event time). A field of the
/// record with the lead's name in any ASCII case is renamed by appending
/// `_` until the name is free in the record (`time` becomes `time_`, or
/// `time__` if there is a `time_`), as compaction renames `dt`: SQL engines
/// ignore case, and two columns of one name would make every query
/// ambiguous.
pub fn write_led_record(lead: &str, text: &str, record: &Record, out: &mut Vec<u8>) {
    let mut writer = Writer::new(out);
    writer.raw(b"{");
    writer.key(true, lead);
    writer.string(text);
    if record.keys().any(|name| name.eq_ignore_ascii_case(lead)) {
        writer.fields_renaming(record, lead);
    } else {
        writer.fields(record, false);
    }
    writer.raw(b"}");
    writer.finish();
}

/// Appends the value as JSON. A float that is not finite becomes `null`,
/// as JSON has no word for it.
pub fn write_value(value: &Value, out: &mut Vec<u8>) {
    let mut writer = Writer::new(out);
    writer.value(value);
    writer.finish();
}

/// Bytes copied and checked at a time; also the room kept past a string,
/// so that its last word can be stored whole.
const WORD: usize = 8;

/// Room made at least, when more is needed: about two nginx records.
const AHEAD: usize = 1024;

/// JSON text being appended to a buffer.
struct Writer<'a> {
    out: &'a mut Vec<u8>,
    /// Where the text ends; `out` may hold scratch bytes past it, which
    /// [`Writer::finish`] cuts off.
    pos: usize,
}

impl<'a> Writer<'a> {
    #[inline]
    fn new(out: &'a mut Vec<u8>) -> Writer<'a> {
        let pos = out.len();
        Writer { out, pos }
    }

    /// Cuts the buffer back to the text written.
    #[inline]
    fn finish(self) {
        self.out.truncate(self.pos);
    }

    /// The buffer from the end of the text, at least `n` bytes long.
    #[inline(always)]
    fn room(&mut self, n: usize) -> &mut [u8] {
        if self.out.len() - self.pos < n {
            self.grow(n);
        }
        &mut self.out[self.pos..]
    }

    #[cold]
    #[inline(never)]
    fn grow(&mut self, n: usize) {
        self.out.resize(self.pos + n.max(AHEAD), 0);
    }

    /// Appends bytes that need no escaping.
    #[inline(always)]
    fn raw(&mut self, bytes: &[u8]) {
        let n = bytes.len();
        self.room(n)[..n].copy_from_slice(bytes);
        self.pos += n;
    }

    fn record(&mut self, record: &Record) {
        self.raw(b"{");
        self.fields(record, true);
        self.raw(b"}");
    }

    /// Appends the record's fields, after a comma unless `first`.
    #[inline(always)]
    fn fields(&mut self, record: &Record, mut first: bool) {
        for (name, value) in record.iter() {
            self.key(first, name);
            first = false;
            // Text and null, most of a log record's values, are written
            // here: a call per value, saving and restoring registers, cost
            // a third as much as writing them.
            match value {
                Value::String(s) => self.string(s),
                Value::Null => self.raw(b"null"),
                _ => self.value(value),
            }
        }
    }

    /// [`Writer::fields`], after a lead field, renaming the fields that
    /// clash with it (see [`write_led_record`]).
    #[cold]
    #[inline(never)]
    fn fields_renaming(&mut self, record: &Record, lead: &str) {
        for (name, value) in record.iter() {
            if name.eq_ignore_ascii_case(lead) {
                let mut renamed = format!("{name}_");
                while record.contains_key(&renamed) {
                    renamed.push('_');
                }
                self.key(false, &renamed);
            } else {
                self.key(false, name);
            }
            self.value(value);
        }
    }

    #[inline(never)]
    fn value(&mut self, value: &Value) {
        match value {
            Value::String(s) => self.string(s),
            Value::Int(i) => self.raw(itoa::Buffer::new().format(*i).as_bytes()),
            Value::Float(x) => match thousandths(*x) {
                Some(m) => self.thousandths(m),
                None if x.is_finite() => self.raw(zmij::Buffer::new().format_finite(*x).as_bytes()),
                None => self.raw(b"null"),
            },
            Value::Null => self.raw(b"null"),
            Value::Bool(true) => self.raw(b"true"),
            Value::Bool(false) => self.raw(b"false"),
            Value::Array(items) => {
                self.raw(b"[");
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        self.raw(b",");
                    }
                    self.value(item);
                }
                self.raw(b"]");
            }
            Value::Map(record) => self.record(record),
        }
    }

    /// Appends `m` thousandths as `int.frac`, the fraction without its
    /// trailing zeros but at least one digit (`0.076`, `3.5`, `2.0`).
    fn thousandths(&mut self, m: u64) {
        let frac = m % 1000;
        self.raw(itoa::Buffer::new().format(m / 1000).as_bytes());
        let digits = [
            b'.',
            b'0' + (frac / 100) as u8,
            b'0' + (frac / 10 % 10) as u8,
            b'0' + (frac % 10) as u8,
        ];
        let keep = if frac.is_multiple_of(100) {
            2
        } else if frac.is_multiple_of(10) {
            3
        } else {
            4
        };
        self.raw(&digits[..keep]);
    }

    /// Appends `"name":`, after a comma unless it is the first. Inlined
    /// into every caller: called out of line, as it was once the lake's
    /// records were led by their time, it cost about 20 instructions more
    /// per field (cachegrind on the collector bench's first 200,000 lines).
    #[inline(always)]
    fn key(&mut self, first: bool, name: &str) {
        let bytes = name.as_bytes();
        let n = bytes.len();
        let lead = usize::from(!first);
        let buf = self.room(n + 4 + WORD);
        buf[0] = b',';
        buf[lead] = b'"';
        match copy_clean(buf, lead + 1, bytes) {
            Ok(()) => {
                buf[lead + 1 + n] = b'"';
                buf[lead + 2 + n] = b':';
                self.pos += lead + n + 3;
            }
            Err(clean) => {
                self.pos += lead + 1;
                self.escaped(bytes, clean);
                self.raw(b":");
            }
        }
    }

    /// Appends `s` as a JSON string.
    #[inline(always)]
    fn string(&mut self, s: &str) {
        let bytes = s.as_bytes();
        let n = bytes.len();
        let buf = self.room(n + 2 + WORD);
        buf[0] = b'"';
        match copy_clean(buf, 1, bytes) {
            Ok(()) => {
                buf[1 + n] = b'"';
                self.pos += n + 2;
            }
            Err(clean) => {
                self.pos += 1;
                self.escaped(bytes, clean);
            }
        }
    }

    /// Appends the rest of a string from `start` on, escaped, and its
    /// closing quote; `bytes[..start]` are already written. Out of line:
    /// nginx escapes its own quotes and bytes, so few strings get here.
    #[cold]
    #[inline(never)]
    fn escaped(&mut self, bytes: &[u8], mut start: usize) {
        self.pos += start;
        while let Some(at) = next_escape(bytes, start) {
            self.raw(&bytes[start..at]);
            self.escape(bytes[at]);
            start = at + 1;
        }
        self.raw(&bytes[start..]);
        self.raw(b"\"");
    }

    fn escape(&mut self, byte: u8) {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let named = match byte {
            b'"' => b'"',
            b'\\' => b'\\',
            0x08 => b'b',
            b'\t' => b't',
            b'\n' => b'n',
            0x0c => b'f',
            b'\r' => b'r',
            _ => {
                let hex = [HEX[usize::from(byte >> 4)], HEX[usize::from(byte & 0xf)]];
                self.raw(b"\\u00");
                return self.raw(&hex);
            }
        };
        self.raw(&[b'\\', named]);
    }
}

/// `x` as a whole number of thousandths, if it is one from 0 to a
/// million: the seconds nginx logs (`0.076`). Their shortest text, which
/// serde_json and zmij write, is then `int.frac`: that decimal reads back
/// as `x` (the division below rounds it to `x`, as parsing does), and any
/// other decimal that did would lie within an ulp of it, so need more
/// digits. zmij's general search cost a tenth of writing an nginx record.
#[inline]
fn thousandths(x: f64) -> Option<u64> {
    if !(0.0..1e6).contains(&x) || x.is_sign_negative() {
        return None;
    }
    let m = (x * 1000.0).round();
    (m / 1000.0 == x).then_some(m as u64)
}

/// Copies `bytes` into `buf` from `at`, sixteen bytes at a time, each
/// block stored before it is checked; `buf` must have `WORD` bytes to
/// spare past the copy. Fails with where a block that needs an escape
/// starts, the bytes before it copied and clean.
///
/// A string of 8 to 16 bytes (most keys and short values) is its first and
/// last words, overlapping, checked as one block; a longer one ends with
/// the block that ends where it does, overlapping the one before.
#[inline(always)]
fn copy_clean(buf: &mut [u8], at: usize, bytes: &[u8]) -> Result<(), usize> {
    let n = bytes.len();
    if n < WORD {
        // A short string (a method, a key such as `path`): stored with a
        // filler, which the text after it overwrites or `finish` cuts off.
        let fill = (LOW_BITS * u64::from(b'a')) & (!0u64 << (8 * n));
        let word = short_word(bytes) | fill;
        buf[at..at + WORD].copy_from_slice(&word.to_le_bytes());
        return if needs_escape(word) != 0 {
            Err(0)
        } else {
            Ok(())
        };
    }
    if n <= BLOCK {
        let (first, last) = (word_at(bytes, 0), word_at(bytes, n - WORD));
        buf[at..at + WORD].copy_from_slice(&first.to_le_bytes());
        buf[at + n - WORD..at + n].copy_from_slice(&last.to_le_bytes());
        return if escapes(first, last) { Err(0) } else { Ok(()) };
    }
    let mut i = 0;
    while i + BLOCK <= n {
        buf[at + i..at + i + BLOCK].copy_from_slice(&bytes[i..i + BLOCK]);
        if escapes(word_at(bytes, i), word_at(bytes, i + WORD)) {
            return Err(i);
        }
        i += BLOCK;
    }
    if i < n {
        let last = n - BLOCK;
        buf[at + last..at + n].copy_from_slice(&bytes[last..]);
        if escapes(word_at(bytes, last), word_at(bytes, last + WORD)) {
            return Err(last);
        }
    }
    Ok(())
}

/// The eight bytes of `bytes` from `at`, as a little-endian word.
#[inline(always)]
fn word_at(bytes: &[u8], at: usize) -> u64 {
    let mut word = [0u8; WORD];
    word.copy_from_slice(&bytes[at..at + WORD]);
    u64::from_le_bytes(word)
}

/// Bytes checked at a time by [`copy_clean`]: one SSE2 register.
const BLOCK: usize = 2 * WORD;

/// True if either word holds a byte JSON must escape.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn escapes(low: u64, high: u64) -> bool {
    // SAFETY: SSE2 is part of the x86_64 baseline; every x86_64 CPU has it.
    unsafe { escapes_sse2(low, high) }
}

/// [`escapes`] as one 16-byte compare: a third of the instructions of two
/// [`needs_escape`] words, where checking strings was a third of writing.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sse2")]
#[inline]
fn escapes_sse2(low: u64, high: u64) -> bool {
    use std::arch::x86_64::{
        _mm_cmpeq_epi8, _mm_max_epu8, _mm_movemask_epi8, _mm_or_si128, _mm_set_epi64x,
        _mm_set1_epi8,
    };
    let v = _mm_set_epi64x(high as i64, low as i64);
    let quote = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'"' as i8));
    let backslash = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'\\' as i8));
    // An unsigned byte at most 0x1f is one whose max with 0x1f is 0x1f.
    let top = _mm_set1_epi8(0x1f);
    let control = _mm_cmpeq_epi8(_mm_max_epu8(v, top), top);
    _mm_movemask_epi8(_mm_or_si128(_mm_or_si128(quote, backslash), control)) != 0
}

#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
fn escapes(low: u64, high: u64) -> bool {
    needs_escape(low) | needs_escape(high) != 0
}

/// The bytes of a string shorter than a word as the low bytes of one, the
/// high ones zero: two overlapping loads, so no copy of variable length.
#[inline(always)]
fn short_word(bytes: &[u8]) -> u64 {
    let n = bytes.len();
    let two = |at: usize| {
        let mut word = [0u8; 2];
        word.copy_from_slice(&bytes[at..at + 2]);
        u64::from(u16::from_le_bytes(word))
    };
    let four = |at: usize| {
        let mut word = [0u8; 4];
        word.copy_from_slice(&bytes[at..at + 4]);
        u64::from(u32::from_le_bytes(word))
    };
    match n {
        0 => 0,
        1 => u64::from(bytes[0]),
        2 | 3 => two(0) | (two(n - 2) << (8 * (n - 2))),
        _ => four(0) | (four(n - 4) << (8 * (n - 4))),
    }
}

const LOW_BITS: u64 = 0x0101_0101_0101_0101;
const HIGH_BITS: u64 = 0x8080_8080_8080_8080;

/// The high bit of each byte of `word` that JSON must escape: a control
/// character, `"` or `\`. Exact for the lowest flagged byte, which is the
/// only one the caller uses (a borrow can flag bytes above it).
#[inline]
fn needs_escape(word: u64) -> u64 {
    let zero_in = |v: u64| v.wrapping_sub(LOW_BITS) & !v & HIGH_BITS;
    let control = word.wrapping_sub(LOW_BITS * 0x20) & !word & HIGH_BITS;
    control
        | zero_in(word ^ (LOW_BITS * u64::from(b'"')))
        | zero_in(word ^ (LOW_BITS * u64::from(b'\\')))
}

/// The position of the first byte from `from` on that must be escaped.
#[inline]
fn next_escape(bytes: &[u8], mut from: usize) -> Option<usize> {
    while let Some(chunk) = bytes.get(from..from + 8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let flags = needs_escape(u64::from_le_bytes(word));
        if flags != 0 {
            return Some(from + (flags.trailing_zeros() / 8) as usize);
        }
        from += 8;
    }
    let rest = bytes.len() - from;
    if rest > 0 && bytes.len() >= 8 {
        // The last eight bytes as a word, shifted so the `rest` unscanned
        // ones come first, and the top filled with a byte that needs no
        // escape.
        let mut word = [0u8; 8];
        word.copy_from_slice(&bytes[bytes.len() - 8..]);
        let fill = (LOW_BITS * u64::from(b'a')) & (!0u64 << (8 * rest));
        let word = (u64::from_le_bytes(word) >> (8 * (8 - rest))) | fill;
        let flags = needs_escape(word);
        return (flags != 0).then(|| from + (flags.trailing_zeros() / 8) as usize);
    }
    // Shorter than a word (a method, a key such as `path`): its bytes,
    // padded with one that needs no escape, as one word.
    let tail = bytes.get(from..).filter(|tail| !tail.is_empty())?;
    let mut word = [b'a'; 8];
    word[..tail.len()].copy_from_slice(tail);
    let flags = needs_escape(u64::from_le_bytes(word));
    (flags != 0).then(|| from + (flags.trailing_zeros() / 8) as usize)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn json(value: &Value) -> String {
        let mut out = Vec::new();
        write_value(value, &mut out);
        String::from_utf8(out).expect("JSON is UTF-8")
    }

    #[test]
    fn strings_escape_what_json_requires_and_nothing_else() {
        let s = "a\"b\\c\u{0}\u{1f}\u{8}\t\n\u{c}\r/\u{7f}é\u{2028}😀";
        let want = format!(r#""a\"b\\c\u0000\u001f\b\t\n\f\r/{}""#, "\u{7f}é\u{2028}😀");
        assert_eq!(json(&Value::from(s)), want);
    }

    #[test]
    fn escapes_are_found_at_every_offset_of_a_word() {
        // Each escape followed by the byte a borrow could wrongly flag.
        for pair in ["\"", "\"#", "\\]", "\u{1} ", "\n\u{0}"] {
            // Past 32: two whole blocks and an overlapping last one.
            for len in 0..72usize {
                for at in 0..len.saturating_sub(pair.len() - 1) {
                    let mut s = "x".repeat(len);
                    s.replace_range(at..at + pair.len(), pair);
                    let want = serde_json::to_string(&s).unwrap();
                    assert_eq!(json(&Value::from(s.as_str())), want, "{s:?}");
                }
            }
        }
    }

    #[test]
    fn every_ascii_byte_at_every_offset_is_written_as_serde_json_writes_it() {
        // The bounds of each check: 0x1f is the last control character,
        // 0x20 the first that is not.
        for byte in 0..=0x7fu8 {
            for len in [1, 7, 8, 9, 15, 16, 17, 31, 33] {
                for at in 0..len {
                    let mut s = vec![b'x'; len];
                    s[at] = byte;
                    let s = String::from_utf8(s).expect("ASCII");
                    let want = serde_json::to_string(&s).unwrap();
                    assert_eq!(json(&Value::from(s.as_str())), want, "{s:?}");
                }
            }
        }
    }

    #[test]
    fn bytes_above_ascii_are_never_mistaken_for_escapes() {
        // 0xA2 and 0xDC differ from '"' and '\' only in the high bit.
        let s = "\u{a2}\u{dc}\u{a2}\u{dc}\u{a2}\u{dc}\u{a2}\u{dc}¢Ü";
        assert_eq!(json(&Value::from(s)), format!("\"{s}\""));
    }

    #[test]
    fn numbers_and_non_finite_floats() {
        assert_eq!(json(&Value::Int(i64::MIN)), "-9223372036854775808");
        assert_eq!(json(&Value::Float(0.25)), "0.25");
        assert_eq!(
            json(&Value::Float(1e300)),
            serde_json::to_string(&1e300).unwrap()
        );
        assert_eq!(json(&Value::Float(f64::NAN)), "null");
        assert_eq!(json(&Value::Float(f64::NEG_INFINITY)), "null");
    }

    #[test]
    fn appends_exactly_the_text_whatever_room_the_buffer_has() {
        let long = "x".repeat(3 * AHEAD) + "\"\n" + &"é".repeat(AHEAD);
        let mut record = Record::new();
        record.insert("short", "a");
        record.insert(long.as_str(), long.as_str());
        record.insert("n", 7);
        let want = serde_json::to_string(&record).unwrap();
        for room in [0, 1, 9, 100, 5000, 20_000] {
            let mut out = Vec::with_capacity(room);
            out.extend_from_slice(b"before\n");
            write_record(&record, &mut out);
            assert_eq!(out, [b"before\n", want.as_bytes()].concat(), "room {room}");
            // Writing again appends after what is there, scratch bytes and all gone.
            write_record(&record, &mut out);
            assert_eq!(out.len(), 7 + 2 * want.len());
        }
    }

    #[test]
    fn thousandths_are_written_as_serde_json_writes_them() {
        for m in (0..20_000u64).chain([999_999_999, 123_456_789, 100_000_000]) {
            let x = m as f64 / 1000.0;
            assert_eq!(json(&Value::Float(x)), serde_json::to_string(&x).unwrap());
        }
        // Not thousandths, or out of the range: the general path.
        for x in [-0.0, -0.5, 0.0001, 1e6, 1e300, 0.1 + 0.2, 5e-324] {
            assert_eq!(json(&Value::Float(x)), serde_json::to_string(&x).unwrap());
        }
    }

    #[test]
    fn a_led_record_renames_the_fields_that_clash_with_its_lead() {
        let mut record = Record::new();
        record.insert("time", "05/Dec/2026:01:02:03 +0000");
        record.insert("a", 1);
        record.insert("Time", Value::Null);
        record.insert("time_", "taken");
        let mut out = b"x".to_vec();
        write_led_record("time", "2026-12-05T01:02:03Z", &record, &mut out);
        let want = serde_json::json!({
            "time": "2026-12-05T01:02:03Z",
            "time__": "05/Dec/2026:01:02:03 +0000",
            "a": 1,
            "Time_": null,
            "time_": "taken",
        });
        assert_eq!(out[0], b'x');
        assert_eq!(
            serde_json::from_slice::<serde_json::Value>(&out[1..]).unwrap(),
            want
        );
        // Fields in order, as compaction's renaming keeps them.
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            r#"x{"time":"2026-12-05T01:02:03Z","time__":"05/Dec/2026:01:02:03 +0000","a":1,"Time_":null,"time_":"taken"}"#
        );
    }

    fn value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::Int),
            any::<f64>().prop_map(Value::Float),
            any::<String>().prop_map(|s| Value::from(s.as_str())),
            "[\\x00-\\x7f]{0,40}".prop_map(|s| Value::from(s.as_str())),
        ];
        leaf.prop_recursive(3, 32, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
                prop::collection::vec((any::<String>(), inner), 0..6).prop_map(|fields| {
                    let mut record = Record::new();
                    for (name, value) in fields {
                        record.insert(name.as_str(), value);
                    }
                    Value::Map(Box::new(record))
                }),
            ]
        })
    }

    proptest! {
        #[test]
        fn any_thousandths_are_written_as_serde_json_writes_them(m in 0u64..1_000_000_000) {
            let x = m as f64 / 1000.0;
            prop_assert_eq!(json(&Value::Float(x)), serde_json::to_string(&x).unwrap());
        }

        #[test]
        fn writes_what_serde_json_writes(v in value()) {
            prop_assert_eq!(json(&v), serde_json::to_string(&v).unwrap());
        }

        #[test]
        fn a_led_record_without_clashes_is_its_lead_then_the_record(
            fields in prop::collection::vec(("[a-z]{1,6}", value()), 0..6)
        ) {
            let mut record = Record::new();
            for (name, value) in fields {
                if name != "time" {
                    record.insert(name.as_str(), value);
                }
            }
            let mut out = Vec::new();
            write_led_record("time", "2026-12-05T01:02:03Z", &record, &mut out);
            let rest = serde_json::to_string(&record).unwrap();
            let want = match rest.as_str() {
                "{}" => r#"{"time":"2026-12-05T01:02:03Z"}"#.to_owned(),
                _ => format!(r#"{{"time":"2026-12-05T01:02:03Z",{}"#, &rest[1..]),
            };
            prop_assert_eq!(String::from_utf8(out).unwrap(), want);
        }
    }
}
