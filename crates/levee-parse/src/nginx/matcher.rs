//! Matching one line against a compiled [`Format`].
//!
//! One pass, no backtracking: each variable's text runs to the first
//! occurrence of the literal after it (found with memchr), so a line costs
//! time linear in its length whatever its bytes.

use levee_event::Record;
use memchr::memchr;

use super::fields::{FieldKind, Sink};
use super::format::Format;
use crate::Parsed;
use crate::access_log::matcher::{find_end, find_literal, match_leading};
use crate::error::{ParseError, ParseErrorReason};

/// Fields a `record` filter typically adds (an API call type, a status class).
const FILTER_ROOM: usize = 4;

impl Format {
    /// Matches `line` (no trailing newline) and builds its record; `entries`
    /// sizes the record, with room for the few fields filters usually add,
    /// so it never grows (growing copies every field to a new allocation).
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
            line: (self.unescaped || memchr(b'\\', line).is_none())
                .then(|| std::str::from_utf8(line).ok())
                .flatten(),
            unescaped: self.unescaped,
        };
        for field in &self.fields {
            let rest = line.get(pos..).unwrap_or_default();
            let (raw, next) = match &field.end {
                Some(end) => {
                    let found = if self.unescaped {
                        find_literal(rest, &end.bytes)
                    } else {
                        find_end(rest, &end.bytes)
                    };
                    let at = found.ok_or_else(|| {
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
            sink.store(&field.name, field.kind, field.list.as_ref(), raw, pos)?;
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
