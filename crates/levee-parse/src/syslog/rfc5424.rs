//! RFC 5424: `<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog
//! - ID47 [exampleSDID@32473 iut="3" eventSource="Application"] msg`.
//!
//! The header is strict (each field followed by one space, `-` for no
//! value), so a line cut short is told apart from one that is wrong.

use levee_event::{Record, Text, Value};

use crate::Parsed;
use crate::error::{ParseError, ParseErrorReason};
use crate::time::{Zone, iso8601_parts, local_nanos};

use super::{Header, text_value, token};

/// `1 ` (a version, 1 to 3 digits, and a space) at the start of `rest`.
pub(super) fn has_version(rest: &[u8]) -> bool {
    matches!(
        rest,
        [b'1'..=b'9', b' ', ..]
            | [b'1'..=b'9', b'0'..=b'9', b' ', ..]
            | [b'1'..=b'9', b'0'..=b'9', b'0'..=b'9', b' ', ..]
    )
}

/// The header fields after the timestamp, in order, with what the
/// RFC calls them for error messages.
const HEADER_FIELDS: [&str; 4] = ["HOSTNAME", "APP-NAME", "PROCID", "MSGID"];

/// Parses what follows the `<PRI>`, which ends at `start`.
pub(super) fn parse(
    line: &[u8],
    start: usize,
    mut header: Header,
    zone: &Zone,
) -> Result<Parsed, ParseError> {
    let mut cursor = Cursor { line, pos: start };
    let version = cursor.field("VERSION")?;
    if !has_version(line.get(start..).unwrap_or_default()) {
        return Err(ParseError::new(
            start,
            ParseErrorReason::Expected {
                expected: format!(
                    "a version of 1 to 3 digits such as '1', found '{}'",
                    crate::error::excerpt(version)
                ),
            },
        ));
    }
    let timestamp = cursor.field("TIMESTAMP")?;
    if timestamp != b"-" {
        // The RFC requires an offset; a sender that leaves it out gets `time_zone`.
        let time =
            iso8601_parts(timestamp).and_then(|(civil, offset)| local_nanos(&civil, offset, zone));
        header.set_time(timestamp, time);
    }
    let mut values = [Value::Null, Value::Null, Value::Null, Value::Null];
    for (value, name) in values.iter_mut().zip(HEADER_FIELDS) {
        let text = cursor.field(name)?;
        if text != b"-" {
            *value = text_value(text);
        }
    }
    let [hostname, appname, procid, msgid] = values;
    header.hostname = hostname;
    header.appname = appname;
    header.procid = procid;
    header.msgid = msgid;
    let rest = cursor.rest();
    let after_sd = match rest {
        [] => {
            return Err(cursor.ended("STRUCTURED-DATA ('-' or '[')"));
        }
        [b'-', after @ ..] => after,
        [b'[', ..] => {
            let (data, len) = structured_data(line, cursor.pos)?;
            header.structured_data = Value::from(data);
            rest.get(len..).unwrap_or_default()
        }
        _ => {
            return Err(ParseError::new(
                cursor.pos,
                ParseErrorReason::Expected {
                    expected: "STRUCTURED-DATA: '-' or '['".into(),
                },
            ));
        }
    };
    let message = match after_sd {
        [] => &[][..],
        [b' ', message @ ..] => message,
        _ => {
            return Err(ParseError::new(
                line.len() - after_sd.len(),
                ParseErrorReason::Expected {
                    expected: "a space before the message".into(),
                },
            ));
        }
    };
    Ok(header.finish(message))
}

/// A position in the line, for fields separated by single spaces.
struct Cursor<'a> {
    line: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn rest(&self) -> &'a [u8] {
        self.line.get(self.pos..).unwrap_or_default()
    }

    /// The field at the cursor and the space after it.
    fn field(&mut self, name: &str) -> Result<&'a [u8], ParseError> {
        let rest = self.rest();
        let text = token(rest);
        if text.is_empty() {
            return Err(if rest.is_empty() {
                self.ended(name)
            } else {
                ParseError::new(
                    self.pos,
                    ParseErrorReason::Expected {
                        expected: format!("{name}, not a second space"),
                    },
                )
            });
        }
        if text.len() == rest.len() {
            return Err(ParseError::new(
                self.line.len(),
                ParseErrorReason::UnexpectedEnd {
                    expected: format!("a space after {name}"),
                },
            ));
        }
        self.pos += text.len() + 1;
        Ok(text)
    }

    fn ended(&self, name: &str) -> ParseError {
        ParseError::new(
            self.line.len(),
            ParseErrorReason::UnexpectedEnd {
                expected: name.to_owned(),
            },
        )
    }
}

/// One or more `[SD-ID name="value" ...]` elements starting at `start`:
/// a map of SD-ID to a map of its parameters, and the bytes they took.
/// An SD-ID given twice has its parameters merged.
fn structured_data(line: &[u8], start: usize) -> Result<(Record, usize), ParseError> {
    let mut data = Record::new();
    let mut pos = start;
    while line.get(pos) == Some(&b'[') {
        pos += 1;
        let id = name_at(line, pos, "an SD-ID")?;
        pos += id.len();
        let mut params = Record::new();
        loop {
            match line.get(pos) {
                Some(b']') => {
                    pos += 1;
                    break;
                }
                Some(b' ') => pos += 1,
                Some(_) => return Err(expected(pos, "' ' or ']' in structured data")),
                None => return Err(ended(line, "']' to close the structured data element")),
            }
            let name = name_at(line, pos, "a parameter name")?;
            pos += name.len();
            match line.get(pos..pos + 2) {
                Some(b"=\"") => pos += 2,
                Some(_) => return Err(expected(pos, "'=\"' after the parameter name")),
                None => return Err(ended(line, "'=\"' after the parameter name")),
            }
            let (value, len) = param_value(line.get(pos..).unwrap_or_default())
                .ok_or_else(|| ended(line, "'\"' to close the parameter value"))?;
            pos += len;
            params.insert(Text::from_utf8_lossy(name), text_value(&value));
        }
        let id = Text::from_utf8_lossy(id);
        match data.get_mut(&id) {
            Some(Value::Map(earlier)) => earlier.extend(params),
            _ => {
                data.insert(id, params);
            }
        }
    }
    Ok((data, pos - start))
}

/// An SD-ID or parameter name at `pos`: printable ASCII but `=`, space,
/// `]` and `"`.
fn name_at<'a>(line: &'a [u8], pos: usize, what: &str) -> Result<&'a [u8], ParseError> {
    let rest = line.get(pos..).unwrap_or_default();
    let len = rest
        .iter()
        .take_while(|b| matches!(b, 0x21..=0x7e) && !matches!(b, b'=' | b']' | b'"'))
        .count();
    match len {
        0 if rest.is_empty() => Err(ended(line, what)),
        0 => Err(expected(pos, what)),
        _ => Ok(&rest[..len]),
    }
}

/// A parameter value up to its closing quote, with `\"`, `\\` and `\]`
/// unescaped (a backslash before anything else stays, as the RFC says);
/// returns the value and the bytes read, closing quote included.
fn param_value(rest: &[u8]) -> Option<(Vec<u8>, usize)> {
    let mut value = Vec::new();
    let mut i = 0;
    loop {
        let run = rest.get(i..)?;
        let at = memchr::memchr2(b'"', b'\\', run)?;
        value.extend_from_slice(&run[..at]);
        i += at;
        if rest.get(i) == Some(&b'"') {
            return Some((value, i + 1));
        }
        match rest.get(i + 1) {
            Some(&c @ (b'"' | b'\\' | b']')) => {
                value.push(c);
                i += 2;
            }
            _ => {
                value.push(b'\\');
                i += 1;
            }
        }
    }
}

fn expected(pos: usize, what: &str) -> ParseError {
    ParseError::new(
        pos,
        ParseErrorReason::Expected {
            expected: what.to_owned(),
        },
    )
}

fn ended(line: &[u8], what: &str) -> ParseError {
    ParseError::new(
        line.len(),
        ParseErrorReason::UnexpectedEnd {
            expected: what.to_owned(),
        },
    )
}
