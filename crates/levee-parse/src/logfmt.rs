//! The `logfmt` parser: `level=info msg="request done" took=0.25 cached`.

use std::borrow::Cow;

use levee_event::{Record, Text, Value};
use memchr::memchr;
use serde::Deserialize;

use crate::access_log::escape::decode;
use crate::access_log::matcher::find_end;
use crate::error::{ParseError, ParseErrorReason};
use crate::parser::LineParser;
use crate::time::Now;
use crate::time_key::{EventTime, TimeKey};
use crate::types::{TypeLookup, Types};
use crate::{Parsed, ParserConfigError};

/// `parser = "logfmt"` or `parser = { type = "logfmt", types = { took = "float" }, time_key = "ts" }`.
///
/// Pairs are separated by spaces or tabs. A value is either bare (it runs
/// to the next space, `key=` is empty text) or double-quoted with
/// backslash escapes (`\"`, `\\`, `\n`, `\t`, `\u00e9`, `\xHH`). A key
/// without `=` is `true`. Values are text unless `types` says otherwise
/// (`took=0.25` stays `"0.25"`); a key given twice keeps its last value.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogfmtConfig {
    /// Types of keys that are not text: `{ status = "int", took = "float",
    /// cached = "bool" }` (also `integer`, `boolean`, `string`). An empty
    /// value of such a key is null; text that is not of its type makes the
    /// line fail to parse. A bare key is `true` whatever its type.
    #[serde(default)]
    pub types: Types,
    /// The key that holds the event time, if any. The field stays in the
    /// record; if it does not read as a time, the source uses the time of
    /// ingest and counts it.
    #[serde(default)]
    pub time_key: Option<String>,
    /// How `time_key`'s value is written: `auto` (the default: RFC 3339 /
    /// ISO 8601 text, or an epoch number told apart by magnitude),
    /// `iso8601`, `epoch`, `epoch_millis`, `epoch_micros`, `epoch_nanos`, or
    /// a strftime format such as `%d/%b/%Y:%H:%M:%S %z` (see
    /// [`TimeSpec`](crate::time::TimeSpec) for the directives).
    #[serde(default)]
    pub time_format: Option<String>,
    /// The zone of times written without an offset: `UTC` (the default),
    /// a fixed offset such as `+09:00`, or an IANA name such as
    /// `America/Los_Angeles`.
    #[serde(default)]
    pub time_zone: Option<String>,
}

/// A compiled `logfmt` parser.
#[derive(Clone, Debug)]
pub(crate) struct LogfmtParser {
    types: TypeLookup,
    time_key: Option<TimeKey>,
}

/// The most record entries reserved up front.
const MAX_RESERVED: usize = 64;

/// Bytes that separate pairs.
fn is_space(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// Bytes that end a key.
fn ends_key(b: u8) -> bool {
    is_space(b) || b == b'=' || b == b'"'
}

impl LogfmtParser {
    pub(crate) fn new(config: &LogfmtConfig) -> Result<LogfmtParser, ParserConfigError> {
        Ok(LogfmtParser {
            types: TypeLookup::new(&config.types),
            time_key: TimeKey::new(
                config.time_key.as_deref(),
                config.time_format.as_deref(),
                config.time_zone.as_deref(),
            )?,
        })
    }

    pub(crate) fn parse(&self, line: &[u8], now: Now) -> Result<Parsed, ParseError> {
        // Sized for the pairs the line seems to hold, so the record rarely
        // regrows; capped, so a line of `=` cannot reserve a huge map.
        let pairs = memchr::memchr_iter(b'=', line).count() + 1;
        let mut record = Record::with_capacity(pairs.min(MAX_RESERVED));
        let mut time = EventTime::default();
        let mut pos = 0;
        loop {
            pos += count_while(line.get(pos..).unwrap_or_default(), is_space);
            let Some(&first) = line.get(pos) else { break };
            let key_start = pos;
            let rest = line.get(pos..).unwrap_or_default();
            let key = rest
                .get(..count_while(rest, |b| !ends_key(b)))
                .unwrap_or_default();
            if key.is_empty() {
                let expected = if first == b'=' {
                    "a key before '='"
                } else {
                    "a key, not a quoted string"
                };
                return Err(expected_at(pos, expected.to_owned()));
            }
            pos += key.len();
            let key = Text::from_utf8_lossy(key);
            let value = match line.get(pos) {
                None => Value::Bool(true),
                Some(&b) if is_space(b) => Value::Bool(true),
                Some(b'=') => {
                    pos += 1;
                    let (text, start, next) = value_at(line, pos, &key)?;
                    pos = next;
                    if let Some(t) = self.time_key.as_ref().filter(|t| t.key() == key) {
                        time = t.read(text.as_bytes(), now);
                    }
                    self.types.get(&key).convert(&key, text, start)?
                }
                Some(_) => {
                    return Err(expected_at(
                        pos,
                        format!("'=' or a space after the key at byte {key_start}"),
                    ));
                }
            };
            record.insert(key, value);
        }
        if record.is_empty() {
            return Err(ParseError::new(0, ParseErrorReason::EmptyLine));
        }
        Ok(Parsed {
            record,
            time: time.time,
            time_error: time.error,
        })
    }
}

/// The value starting at `pos` (just after `=`): its text, where it starts,
/// and where the line goes on after it.
fn value_at<'a>(
    line: &'a [u8],
    pos: usize,
    key: &str,
) -> Result<(Cow<'a, str>, usize, usize), ParseError> {
    let rest = line.get(pos..).unwrap_or_default();
    let Some(quoted) = rest.strip_prefix(b"\"") else {
        let len = count_while(rest, |b| !is_space(b));
        let raw = rest.get(..len).unwrap_or_default();
        return Ok((String::from_utf8_lossy(raw), pos, pos + len));
    };
    let close = find_end(quoted, b"\"").ok_or_else(|| {
        ParseError::new(
            line.len(),
            ParseErrorReason::UnexpectedEnd {
                expected: format!("'\"' closing the value of `{key}`"),
            },
        )
    })?;
    let inner = quoted.get(..close).unwrap_or_default();
    let next = pos + 1 + close + 1;
    if line.get(next).is_some_and(|&b| !is_space(b)) {
        return Err(expected_at(
            next,
            format!("a space after the quoted value of `{key}`"),
        ));
    }
    // Most quoted values hold no escapes: skip the decoder's copy for them.
    let text = if memchr(b'\\', inner).is_some() {
        Cow::Owned(decode(inner).into_string())
    } else {
        String::from_utf8_lossy(inner)
    };
    Ok((text, pos + 1, next))
}

fn count_while(bytes: &[u8], keep: impl Fn(u8) -> bool) -> usize {
    bytes.iter().take_while(|&&b| keep(b)).count()
}

fn expected_at(position: usize, expected: String) -> ParseError {
    ParseError::new(position, ParseErrorReason::Expected { expected })
}

impl LineParser for LogfmtParser {
    fn parse(&self, line: &[u8], now: Now) -> Result<Parsed, ParseError> {
        LogfmtParser::parse(self, line, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::FieldType;
    use crate::{Parser, ParserConfig};
    use levee_event::time::NANOS_PER_SEC;
    use proptest::prelude::*;

    fn parser(types: &[(&str, FieldType)], time_key: Option<&str>) -> Parser {
        ParserConfig::Logfmt(LogfmtConfig {
            types: types.iter().map(|(k, t)| (k.to_string(), *t)).collect(),
            time_key: time_key.map(str::to_owned),
            time_format: None,
            time_zone: None,
        })
        .build()
        .unwrap()
    }

    fn plain() -> Parser {
        parser(&[], None)
    }

    fn s(text: &str) -> Value {
        Value::from(text)
    }

    fn pairs(parsed: &Parsed) -> Vec<(&str, &Value)> {
        parsed.record.iter().map(|(k, v)| (k.as_str(), v)).collect()
    }

    #[test]
    fn pairs_quotes_and_bare_keys() {
        let parsed = plain()
            .parse(br#"level=info msg="quoted \" value" took=0.25 cached empty= path=/a=b"#)
            .unwrap();
        assert_eq!(
            pairs(&parsed),
            [
                ("level", &s("info")),
                ("msg", &s("quoted \" value")),
                ("took", &s("0.25")),
                ("cached", &Value::Bool(true)),
                ("empty", &s("")),
                ("path", &s("/a=b")),
            ]
        );
        assert_eq!(parsed.time, None);
    }

    #[test]
    fn types_and_time() {
        let p = parser(
            &[
                ("status", FieldType::Int),
                ("took", FieldType::Float),
                ("ok", FieldType::Bool),
                ("flag", FieldType::Int),
            ],
            Some("ts"),
        );
        let parsed = p
            .parse(br#"ts=2018-09-01T12:00:00Z status=200 took="0.25" ok=false flag"#)
            .unwrap();
        assert_eq!(
            pairs(&parsed),
            [
                ("ts", &s("2018-09-01T12:00:00Z")),
                ("status", &Value::Int(200)),
                ("took", &Value::Float(0.25)),
                ("ok", &Value::Bool(false)),
                ("flag", &Value::Bool(true)),
            ]
        );
        assert_eq!(parsed.time, Some(1_535_803_200 * NANOS_PER_SEC));
        assert!(!parsed.time_error);
        let parsed = p.parse(b"ts=soon").unwrap();
        assert_eq!((parsed.time, parsed.time_error), (None, true));
        let err = p.parse(b"a=1 status=2xx").unwrap_err();
        assert_eq!(
            err.to_string(),
            "at byte 11: expected an integer for field `status`, found '2xx'"
        );
        assert_eq!(p.parse(b"status=").unwrap().record["status"], Value::Null);
    }

    #[test]
    fn duplicate_keys_last_wins() {
        let parsed = plain().parse(b"a=1 b=2 a=3").unwrap();
        assert_eq!(pairs(&parsed), [("a", &s("3")), ("b", &s("2"))]);
    }

    #[test]
    fn escapes_in_quoted_values() {
        let parsed = plain()
            .parse(br#"m="tab\there\\ \u00e9 \x41 \q" n="""#)
            .unwrap();
        assert_eq!(parsed.record["m"], s("tab\there\\ é A \\q"));
        assert_eq!(parsed.record["n"], s(""));
        // A value ending in an escaped backslash closes at the next quote.
        let parsed = plain().parse(br#"p="C:\\" q=1"#).unwrap();
        assert_eq!(parsed.record["p"], s("C:\\"));
        assert_eq!(parsed.record["q"], s("1"));
    }

    #[test]
    fn hostile_lines() {
        let p = plain();
        for empty in [&b""[..], b"   ", b"\t \t"] {
            assert_eq!(
                p.parse(empty).unwrap_err(),
                ParseError::new(0, ParseErrorReason::EmptyLine)
            );
        }
        let err = p.parse(b"a=1 =2").unwrap_err();
        assert_eq!(err.to_string(), "at byte 4: expected a key before '='");
        assert_eq!(
            p.parse(b"=").unwrap_err().to_string(),
            "at byte 0: expected a key before '='"
        );
        let err = p.parse(br#""quoted"=1"#).unwrap_err();
        assert_eq!(
            err.to_string(),
            "at byte 0: expected a key, not a quoted string"
        );
        let err = p.parse(br#"ke"y=1"#).unwrap_err();
        assert_eq!(
            err.to_string(),
            "at byte 2: expected '=' or a space after the key at byte 0"
        );
        let err = p.parse(br#"a=1 msg="never closed \""#).unwrap_err();
        assert_eq!(err.position, 24);
        assert_eq!(
            err.reason,
            ParseErrorReason::UnexpectedEnd {
                expected: "'\"' closing the value of `msg`".into()
            }
        );
        let err = p.parse(br#"msg="a"b c=1"#).unwrap_err();
        assert_eq!(
            err.to_string(),
            "at byte 7: expected a space after the quoted value of `msg`"
        );
        // `==` is a value that starts with `=`.
        assert_eq!(p.parse(b"a==").unwrap().record["a"], s("="));
    }

    #[test]
    fn invalid_utf8_becomes_replacement_chars() {
        let parsed = plain().parse(b"k\xff=v\xfe q=\"\xe9\\n\"").unwrap();
        assert_eq!(parsed.record["k\u{FFFD}"], s("v\u{FFFD}"));
        assert_eq!(parsed.record["q"], s("\u{FFFD}\n"));
    }

    #[test]
    fn huge_lines() {
        let big = "x".repeat(1 << 20);
        let parsed = plain()
            .parse(format!(r#"a="{big}" b={big}"#).as_bytes())
            .unwrap();
        assert_eq!(parsed.record["a"].as_str().map(str::len), Some(1 << 20));
        assert_eq!(parsed.record["b"].as_str().map(str::len), Some(1 << 20));
        let many = "k=v ".repeat(200_000);
        assert_eq!(plain().parse(many.as_bytes()).unwrap().record.len(), 1);
    }

    /// Writes a value as Go's logfmt encoders do: quoted when it must be.
    fn write_value(text: &str) -> String {
        if text.is_empty() || text.contains([' ', '\t', '=', '"', '\\']) {
            format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
        } else {
            text.to_owned()
        }
    }

    proptest! {
        #[test]
        fn written_pairs_read_back(
            fields in proptest::collection::btree_map("[a-z_][a-z0-9_.]{0,8}", "[^\r\n]{0,20}", 1..8)
        ) {
            let line = fields
                .iter()
                .map(|(k, v)| format!("{k}={}", write_value(v)))
                .collect::<Vec<_>>()
                .join(" ");
            let parsed = plain().parse(line.as_bytes())
                .map_err(|e| TestCaseError::fail(format!("{e}: {line}")))?;
            for (k, v) in &fields {
                prop_assert_eq!(&parsed.record[k.as_str()], &s(v), "{}", line);
            }
            prop_assert_eq!(parsed.record.len(), fields.len());
        }

        #[test]
        fn never_panics(line in proptest::collection::vec(any::<u8>(), 0..256)) {
            let p = parser(&[("a", FieldType::Float)], Some("t"));
            if let Err(e) = p.parse(&line) {
                prop_assert!(e.position <= line.len());
            }
        }
    }
}
