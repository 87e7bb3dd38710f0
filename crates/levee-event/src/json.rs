//! Records as JSON text, written straight into a byte buffer.
//!
//! Every sink that writes NDJSON spends most of its encoding time here,
//! so this skips serde's generic path: no `Result` per token, no
//! `io::Write` per fragment, and strings are scanned eight bytes at a time
//! for what needs escaping. The bytes are exactly what `serde_json` writes
//! for the same record (a property test holds it to that), so readers see
//! no difference.

use crate::{Record, Value};

impl Record {
    /// Appends the record as one JSON object, fields in record order.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        out.push(b'{');
        let mut first = true;
        for (name, value) in self.iter() {
            if !first {
                out.push(b',');
            }
            first = false;
            write_str(name, out);
            out.push(b':');
            value.write_json(out);
        }
        out.push(b'}');
    }
}

impl Value {
    /// Appends the value as JSON. A float that is not finite becomes
    /// `null`, as JSON has no word for it.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        match self {
            Value::Null => out.extend_from_slice(b"null"),
            Value::Bool(true) => out.extend_from_slice(b"true"),
            Value::Bool(false) => out.extend_from_slice(b"false"),
            Value::Int(i) => out.extend_from_slice(itoa::Buffer::new().format(*i).as_bytes()),
            Value::Float(x) if x.is_finite() => {
                out.extend_from_slice(zmij::Buffer::new().format_finite(*x).as_bytes())
            }
            Value::Float(_) => out.extend_from_slice(b"null"),
            Value::String(s) => write_str(s, out),
            Value::Array(items) => {
                out.push(b'[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    item.write_json(out);
                }
                out.push(b']');
            }
            Value::Map(record) => record.write_json(out),
        }
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

/// Appends `s` as a JSON string.
#[inline]
fn write_str(s: &str, out: &mut Vec<u8>) {
    let bytes = s.as_bytes();
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    let mut start = 0;
    while let Some(at) = next_escape(bytes, start) {
        out.extend_from_slice(&bytes[start..at]);
        escape(bytes[at], out);
        start = at + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

#[cold]
fn escape(byte: u8, out: &mut Vec<u8>) {
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
            out.extend_from_slice(b"\\u00");
            out.push(HEX[usize::from(byte >> 4)]);
            out.push(HEX[usize::from(byte & 0xf)]);
            return;
        }
    };
    out.extend_from_slice(&[b'\\', named]);
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn json(value: &Value) -> String {
        let mut out = Vec::new();
        value.write_json(&mut out);
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
            for len in 0..40usize {
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
        fn writes_what_serde_json_writes(v in value()) {
            prop_assert_eq!(json(&v), serde_json::to_string(&v).unwrap());
        }
    }
}
