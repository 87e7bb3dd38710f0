//! The `json` parser: one JSON object per line.

use levee_event::{Record, Value};
use serde::Deserialize;
use serde_json::error::Category;

use crate::error::{ParseError, ParseErrorReason};
use crate::parser::LineParser;
use crate::time::{Now, TimeSpec};
use crate::types::{FieldType, Types};
use crate::{Parsed, ParserConfigError};

/// `parser = "json"` or `parser = { type = "json", time_key = "timestamp",
/// types = { status = "int" } }`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JsonConfig {
    /// The field that holds the event time, if any: an RFC 3339 / ISO 8601
    /// string (`2018-09-01T12:00:00.000Z`, with an offset or `Z`, fractional
    /// seconds optional) or epoch seconds, milliseconds, microseconds or
    /// nanoseconds (a number or a numeric string, told apart by magnitude).
    /// A dotted name (`event.time`) reaches into nested objects when no
    /// field has that exact name. The field stays in the record; if it is
    /// missing or unreadable, the source uses the time of ingest.
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
    /// Types to give fields whose JSON values are not of the type wanted,
    /// as nginx's `escape=json` logs write `"status":"200"`: `{ status =
    /// "int", request_time = "float", ok = "bool", id = "string" }` (also
    /// `integer`, `boolean`). The rules of every parser's `types` apply to
    /// text (see [`FieldType`](crate::FieldType)): `"200"` becomes 200, and
    /// an empty or blank text of a number or boolean is null. A value that
    /// is already of the type stays; an integer becomes a float for
    /// `float`, a float without a fraction an integer for `int`; any
    /// value becomes its JSON text for `string`; `null` stays null. A
    /// value that does not convert (`"OK"` for `int`, a list) makes the
    /// line fail to parse, naming the field, so it goes to `@ERROR`. A
    /// name is a top-level field, or else a dotted path into nested
    /// objects, as for `time_key`; a field the line lacks is left out.
    #[serde(default)]
    pub types: Types,
}

/// A compiled `json` parser.
#[derive(Clone, Debug)]
pub(crate) struct JsonParser {
    /// The time field's name and how to read it.
    time: Option<(String, TimeSpec)>,
    /// The `types` option, fields of type `string` included.
    types: Vec<(String, FieldType)>,
}

/// Some writers start a file with a UTF-8 byte order mark.
const BOM: &[u8] = b"\xEF\xBB\xBF";

impl JsonParser {
    pub(crate) fn new(config: &JsonConfig) -> Result<JsonParser, ParserConfigError> {
        let spec = TimeSpec::new(config.time_format.as_deref(), config.time_zone.as_deref())?;
        let time = match config.time_key.as_deref() {
            Some("") => return Err(ParserConfigError::EmptyTimeKey),
            Some(key) => Some((key.to_owned(), spec)),
            None if config.time_format.is_some() || config.time_zone.is_some() => {
                return Err(ParserConfigError::TimeOptionWithoutKey);
            }
            None => None,
        };
        let types = config
            .types
            .iter()
            .map(|(name, ty)| (name.clone(), *ty))
            .collect();
        Ok(JsonParser { time, types })
    }

    /// Parses one line. Text inside JSON strings must be valid UTF-8, as
    /// JSON requires: a line that is not goes to `@ERROR` whole.
    pub(crate) fn parse(&self, line: &[u8], now: Now) -> Result<Parsed, ParseError> {
        let (skipped, body) = match line.strip_prefix(BOM) {
            Some(body) => (BOM.len(), body),
            None => (0, line),
        };
        if body.trim_ascii().is_empty() {
            return Err(ParseError::new(0, ParseErrorReason::EmptyLine));
        }
        let value: Value = serde_json::from_slice(body).map_err(|e| {
            let mut error = json_error(&e, body);
            error.position += skipped;
            error
        })?;
        let mut record = match value {
            Value::Map(record) => record,
            other => {
                let start = skipped + body.len() - body.trim_ascii_start().len();
                return Err(ParseError::new(
                    start,
                    ParseErrorReason::NotAnObject(kind_name(&other)),
                ));
            }
        };
        for (name, ty) in &self.types {
            if let Some(value) = field_mut(&mut record, name) {
                let given = std::mem::take(value);
                *value = ty.convert_value(given).map_err(|kept| {
                    let found = match &kept {
                        Value::String(text) => text.as_str().to_owned(),
                        other => serde_json::to_string(other).unwrap_or_default(),
                    };
                    ty.invalid(name, &found, skipped + key_position(body, name))
                })?;
            }
        }
        let (time, time_error) = match &self.time {
            Some((key, spec)) => match time_field(&record, key) {
                None | Some(Value::Null) => (None, false),
                Some(value) => {
                    let time = event_time(value, spec, now);
                    (time, time.is_none())
                }
            },
            None => (None, false),
        };
        Ok(Parsed {
            record: *record,
            time,
            time_error,
        })
    }
}

impl LineParser for JsonParser {
    fn parse(&self, line: &[u8], now: Now) -> Result<Parsed, ParseError> {
        JsonParser::parse(self, line, now)
    }
}

/// The field named `key`, or else the nested field at the dotted path.
fn time_field<'a>(record: &'a Record, key: &str) -> Option<&'a Value> {
    record.get(key).or_else(|| Value::get_path(record, key))
}

/// The field named `key`, or else the nested field at the dotted path.
fn field_mut<'a>(record: &'a mut Record, key: &str) -> Option<&'a mut Value> {
    if record.contains_key(key) {
        return record.get_mut(key);
    }
    let (first, rest) = key.split_once('.')?;
    match record.get_mut(first)? {
        Value::Map(inner) => field_mut(inner, rest),
        _ => None,
    }
}

/// Where the field `name` starts in the line, for an error: the first
/// `"name"` (0 if it is written with escapes, or nested under a dotted path).
fn key_position(line: &[u8], name: &str) -> usize {
    let quoted = format!("\"{name}\"");
    memchr::memmem::find(line, quoted.as_bytes()).unwrap_or(0)
}

/// An event time from a field's value, if it holds one.
fn event_time(value: &Value, spec: &TimeSpec, now: Now) -> Option<i64> {
    match value {
        Value::String(text) => spec.parse_with(text.as_bytes(), now),
        Value::Int(n) => spec.int_with(*n, now),
        Value::Float(x) => spec.from_float(*x),
        _ => None,
    }
}

/// serde_json's error as a byte position and a reason. A line that ends
/// inside a value is kept apart from bytes that are wrong.
fn json_error(error: &serde_json::Error, line: &[u8]) -> ParseError {
    let location = format!(" at line {} column {}", error.line(), error.column());
    let full = error.to_string();
    let message = full.strip_suffix(&location).unwrap_or(&full).to_owned();
    if error.classify() == Category::Eof {
        return ParseError::new(
            line.len(),
            ParseErrorReason::UnexpectedEnd {
                expected: format!("the rest of the JSON value ({message})"),
            },
        );
    }
    // serde_json counts lines from 1 and reports the column of the last byte
    // it read, also from 1; a line may hold `\n` inside JSON whitespace.
    let line_start = match error.line() {
        0 | 1 => 0,
        n => memchr::memchr_iter(b'\n', line)
            .nth(n - 2)
            .map_or(0, |i| i + 1),
    };
    let position = (line_start + error.column().saturating_sub(1)).min(line.len());
    ParseError::new(position, ParseErrorReason::InvalidJson(message))
}

fn kind_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Int(_) | Value::Float(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Map(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use levee_event::time::NANOS_PER_SEC;

    fn parser(time_key: Option<&str>) -> JsonParser {
        JsonParser::new(&JsonConfig {
            time_key: time_key.map(str::to_owned),
            ..JsonConfig::default()
        })
        .unwrap()
    }

    impl JsonParser {
        fn parse_line(&self, line: &[u8]) -> Result<Parsed, ParseError> {
            self.parse(line, Now::System)
        }
    }

    const SEPT_1: i64 = 1_535_803_200 * NANOS_PER_SEC; // 2018-09-01T12:00:00Z

    #[test]
    fn object_becomes_record_in_order_with_nesting() {
        let p = parser(None);
        let parsed = p
            .parse_line(br#"{"b":1,"a":{"x":[1,"two",null]},"c":2.5}"#)
            .unwrap();
        assert_eq!(parsed.record.keys().collect::<Vec<_>>(), ["b", "a", "c"]);
        let Value::Map(inner) = &parsed.record["a"] else {
            panic!("not a map")
        };
        assert_eq!(
            inner["x"],
            Value::from(vec![Value::Int(1), Value::from("two"), Value::Null])
        );
        assert_eq!(parsed.time, None);
    }

    #[test]
    fn time_key_reads_strings_and_epochs() {
        let p = parser(Some("ts"));
        let cases: [(&[u8], Option<i64>); 9] = [
            (br#"{"ts":"2018-09-01T12:00:00.000Z"}"#, Some(SEPT_1)),
            (br#"{"ts":"2018-09-01T14:00:00+02:00"}"#, Some(SEPT_1)),
            (br#"{"ts":1535803200}"#, Some(SEPT_1)),
            (br#"{"ts":1535803200000}"#, Some(SEPT_1)),
            (br#"{"ts":1535803200.25}"#, Some(SEPT_1 + 250_000_000)),
            (br#"{"ts":"1535803200123"}"#, Some(SEPT_1 + 123_000_000)),
            (br#"{"ts":"yesterday"}"#, None),
            (br#"{"ts":true}"#, None),
            (br#"{"other":1535803200}"#, None),
        ];
        for (line, want) in cases {
            let parsed = p.parse_line(line).unwrap();
            assert_eq!(parsed.time, want, "{}", String::from_utf8_lossy(line));
        }
        // The field stays in the record.
        assert_eq!(
            p.parse_line(br#"{"ts":1}"#).unwrap().record["ts"],
            Value::Int(1)
        );
    }

    #[test]
    fn time_key_may_be_a_dotted_path() {
        let p = parser(Some("event.time"));
        let nested = p
            .parse_line(br#"{"event":{"time":"2018-09-01T12:00:00Z"}}"#)
            .unwrap();
        assert_eq!(nested.time, Some(SEPT_1));
        let flat = p.parse_line(br#"{"event.time":1535803200}"#).unwrap();
        assert_eq!(flat.time, Some(SEPT_1));
    }

    #[test]
    fn errors_carry_the_byte_position() {
        let p = parser(None);
        let err = p.parse_line(br#"{"a":1,"b":x}"#).unwrap_err();
        assert_eq!(err.position, 11);
        assert!(
            matches!(err.reason, ParseErrorReason::InvalidJson(_)),
            "{err}"
        );
        assert_eq!(err.to_string(), "at byte 11: invalid JSON: expected value");

        let err = p.parse_line(br#"{"a":1,"b":"#).unwrap_err();
        assert_eq!(err.position, 11);
        assert!(
            matches!(err.reason, ParseErrorReason::UnexpectedEnd { .. }),
            "{err}"
        );

        let err = p.parse_line(b"  [1,2]").unwrap_err();
        assert_eq!(
            err,
            ParseError::new(2, ParseErrorReason::NotAnObject("an array"))
        );
        assert_eq!(
            err.to_string(),
            "at byte 2: expected a JSON object, found an array"
        );

        let err = p.parse_line(b"{\"a\":1}\n{\"b\":2}").unwrap_err();
        assert_eq!(err.position, 8, "{err}");

        let err = p.parse_line(b"{\"a\":\"\xff\"}").unwrap_err();
        assert!(
            matches!(err.reason, ParseErrorReason::InvalidJson(_)),
            "{err}"
        );
    }

    #[test]
    fn blank_lines_and_byte_order_marks() {
        let p = parser(None);
        assert_eq!(
            p.parse_line(b"").unwrap_err().reason,
            ParseErrorReason::EmptyLine
        );
        assert_eq!(
            p.parse_line(b" \t ").unwrap_err().reason,
            ParseErrorReason::EmptyLine
        );
        assert_eq!(
            p.parse_line(b"\xEF\xBB\xBF{\"a\":1}").unwrap().record["a"],
            Value::Int(1)
        );
        assert_eq!(
            p.parse_line(b"\xEF\xBB\xBF{\"a\":}").unwrap_err().position,
            8
        );
    }

    fn typed(types: &[(&str, FieldType)]) -> JsonParser {
        JsonParser::new(&JsonConfig {
            types: types.iter().map(|(k, t)| (k.to_string(), *t)).collect(),
            ..JsonConfig::default()
        })
        .unwrap()
    }

    #[test]
    fn json_types_convert_nginx_escape_json_strings() {
        let p = typed(&[
            ("status", FieldType::Int),
            ("request_time", FieldType::Float),
            ("upstream_response_time", FieldType::Float),
            ("cached", FieldType::Bool),
            ("id", FieldType::String),
            ("missing", FieldType::Int),
        ]);
        let parsed = p
            .parse_line(
                br#"{"status":"200","request_time":"0.005","upstream_response_time":"","cached":"TRUE","id":12}"#,
            )
            .unwrap();
        let r = &parsed.record;
        assert_eq!(r["status"], Value::Int(200));
        assert_eq!(r["request_time"], Value::Float(0.005));
        assert_eq!(r["upstream_response_time"], Value::Null);
        assert_eq!(r["cached"], Value::Bool(true));
        assert_eq!(r["id"], Value::from("12"));
        assert_eq!(r.get("missing"), None);
        assert_eq!(r.keys().count(), 5);
    }

    #[test]
    fn json_types_widen_numbers_and_keep_what_is_already_typed() {
        let p = typed(&[
            ("a", FieldType::Int),
            ("b", FieldType::Float),
            ("c", FieldType::Bool),
            ("d", FieldType::String),
            ("e", FieldType::Int),
            ("f", FieldType::String),
        ]);
        let parsed = p
            .parse_line(br#"{"a":3.0,"b":2,"c":false,"d":[1,"x"],"e":null,"f":"as is"}"#)
            .unwrap();
        let r = &parsed.record;
        assert_eq!(r["a"], Value::Int(3));
        assert_eq!(r["b"], Value::Float(2.0));
        assert_eq!(r["c"], Value::Bool(false));
        assert_eq!(r["d"], Value::from(r#"[1,"x"]"#));
        assert_eq!(r["e"], Value::Null);
        assert_eq!(r["f"], Value::from("as is"));
    }

    #[test]
    fn json_types_reach_nested_fields_by_dotted_path() {
        let p = typed(&[("http.status", FieldType::Int)]);
        let parsed = p.parse_line(br#"{"http":{"status":"404"}}"#).unwrap();
        let Value::Map(http) = &parsed.record["http"] else {
            panic!("not a map")
        };
        assert_eq!(http["status"], Value::Int(404));
    }

    #[test]
    fn json_values_that_do_not_convert_fail_the_line_naming_the_field() {
        let p = typed(&[("status", FieldType::Int), ("ok", FieldType::Bool)]);
        let err = p.parse_line(br#"{"x":1, "status":"OK"}"#).unwrap_err();
        assert_eq!(
            err.to_string(),
            "at byte 8: expected an integer for field `status`, found 'OK'"
        );
        for line in [
            &br#"{"status":2.5}"#[..],
            br#"{"status":true}"#,
            br#"{"status":[200]}"#,
            br#"{"ok":1}"#,
            br#"{"status":1e300}"#,
        ] {
            let err = p.parse_line(line).unwrap_err();
            assert!(
                matches!(err.reason, ParseErrorReason::InvalidValue { .. }),
                "{err}"
            );
        }
    }

    #[test]
    fn empty_time_key_is_refused() {
        let config = JsonConfig {
            time_key: Some(String::new()),
            ..JsonConfig::default()
        };
        assert_eq!(
            JsonParser::new(&config).unwrap_err(),
            ParserConfigError::EmptyTimeKey
        );
    }
}
