//! Matching one line against a compiled [`Format`].
//!
//! One pass, no backtracking: each variable's text runs to the first
//! occurrence of the literal after it (found with memchr), so a line costs
//! time linear in its length whatever its bytes.

use levee_event::Record;
use memchr::memchr;

use super::fields::{FieldKind, Sink};
use super::format::{Format, Literal};
use crate::Parsed;
use crate::error::{ParseError, ParseErrorReason};

/// Fields a `record` filter typically adds (an API call type, a status class).
const FILTER_ROOM: usize = 4;

impl Format {
    /// Matches `line` (no trailing newline) and builds its record; `entries`
    /// sizes the record, with room for the few fields filters usually add,
    /// so it never grows (growing rehashes the whole index).
    pub(super) fn parse(&self, line: &[u8], entries: usize) -> Result<Parsed, ParseError> {
        if line.is_empty() {
            return Err(ParseError::new(0, ParseErrorReason::EmptyLine));
        }
        let mut pos = match_leading(line, &self.leading)?;
        let mut record = Record::with_capacity(entries + FILTER_ROOM);
        let mut time = None;
        let mut sink = Sink {
            record: &mut record,
            time: &mut time,
            distinct: self.distinct,
            line: memchr(b'\\', line)
                .is_none()
                .then(|| std::str::from_utf8(line).ok())
                .flatten(),
        };
        for field in &self.fields {
            let rest = line.get(pos..).unwrap_or_default();
            let (raw, next) = match &field.end {
                Some(end) => {
                    let at = find_end(rest, &end.bytes).ok_or_else(|| {
                        ParseError::new(
                            line.len(),
                            ParseErrorReason::UnexpectedEnd {
                                expected: end.expected.clone(),
                            },
                        )
                    })?;
                    let (raw, _) = rest.split_at(at);
                    (raw, pos + at + end.bytes.len())
                }
                None => (rest, line.len()),
            };
            sink.store(&field.name, field.kind, raw, pos)?;
            pos = next;
        }
        if pos < line.len() {
            return Err(ParseError::new(pos, ParseErrorReason::TrailingBytes));
        }
        // A time variable with a value that did not read as a time.
        let time_error = time.is_none()
            && self.fields.iter().any(|f| {
                matches!(
                    f.kind,
                    FieldKind::TimeLocal | FieldKind::TimeIso8601 | FieldKind::Msec
                ) && record.get(f.name.as_str()).is_some_and(|v| !v.is_null())
            });
        Ok(Parsed {
            record,
            time,
            time_error,
        })
    }
}

/// Checks the text before the first variable; returns where it ends.
pub(crate) fn match_leading(line: &[u8], leading: &Literal) -> Result<usize, ParseError> {
    let want = &leading.bytes[..];
    if starts_with(line, want) {
        return Ok(want.len());
    }
    let same = line.iter().zip(want).take_while(|(a, b)| a == b).count();
    let reason = if same == line.len() {
        ParseErrorReason::UnexpectedEnd {
            expected: leading.expected.clone(),
        }
    } else {
        ParseErrorReason::Expected {
            expected: leading.expected.clone(),
        }
    };
    Err(ParseError::new(same, reason))
}

/// The first occurrence of `literal` in `hay`.
///
/// A literal starting with `"` ends a quoted field, and a `"` escaped by an
/// odd number of backslashes (`\"`) is part of the field's text, not its end.
pub(crate) fn find_end(hay: &[u8], literal: &[u8]) -> Option<usize> {
    let (&first, tail) = literal.split_first()?;
    let mut from = 0;
    while let Some(found) = hay.get(from..).and_then(|rest| memchr(first, rest)) {
        let at = from + found;
        let matches = hay
            .get(at + 1..)
            .is_some_and(|after| starts_with(after, tail));
        if matches && !(first == b'"' && escaped(hay, at)) {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

/// `hay.starts_with(prefix)` for the few bytes of a format's literals,
/// compared inline: the slice comparison calls `memcmp`, which cost more
/// than the comparing (an empty leading literal alone was 4% of a line).
#[inline]
fn starts_with(hay: &[u8], prefix: &[u8]) -> bool {
    hay.len() >= prefix.len() && hay.iter().zip(prefix).all(|(a, b)| a == b)
}

/// True if the byte at `at` follows an odd run of backslashes.
fn escaped(hay: &[u8], at: usize) -> bool {
    let before = hay.get(..at).unwrap_or_default();
    before.iter().rev().take_while(|&&b| b == b'\\').count() % 2 == 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_first_unescaped_end() {
        assert_eq!(find_end(b"abc - def", b" - "), Some(3));
        assert_eq!(find_end(b"a -b - c", b" - "), Some(4));
        assert_eq!(find_end(br#"say \"hi\"" next"#, b"\" "), Some(10));
        assert_eq!(find_end(br#"ends in \\" next"#, b"\" "), Some(10));
        assert_eq!(find_end(br#"only \" here"#, b"\""), None);
        assert_eq!(find_end(b"", b" "), None);
        assert_eq!(find_end(b"abc -", b" - "), None);
    }
}
