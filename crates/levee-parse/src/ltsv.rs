//! The `ltsv` parser: Labeled Tab-separated Values,
//! `host:192.0.2.1<TAB>status:200<TAB>ua:curl/8.4.0`.

use levee_event::{Record, Text};
use memchr::{memchr, memchr_iter};
use serde::Deserialize;

use crate::error::{ParseError, ParseErrorReason};
use crate::parser::LineParser;
use crate::time::Now;
use crate::time_key::{EventTime, TimeKey};
use crate::types::{TypeLookup, Types};
use crate::{Parsed, ParserConfigError};

/// `parser = "ltsv"` or `parser = { type = "ltsv", types = { status = "int" }, time_key = "time" }`.
///
/// Each tab-separated field is `label:value`, split at its first `:` (a
/// value may hold more). Values are text unless `types` says otherwise;
/// empty fields (two tabs in a row, a trailing tab) are skipped; a label
/// given twice keeps its last value.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LtsvConfig {
    /// Types of labels that are not text: `{ status = "int", reqtime =
    /// "float", ok = "bool" }` (also `integer`, `boolean`, `string`). An
    /// empty value of such a label is null; text that is not of its type
    /// makes the line fail to parse.
    #[serde(default)]
    pub types: Types,
    /// The label that holds the event time, if any. LTSV's usual brackets
    /// (`time:[10/Oct/2000:13:55:36 -0700]`, read with `time_format =
    /// "%d/%b/%Y:%H:%M:%S %z"`) are dropped before reading. The field
    /// stays in the record; if it does not read as a time, the source uses
    /// the time of ingest and counts it.
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

/// A compiled `ltsv` parser.
#[derive(Clone, Debug)]
pub(crate) struct LtsvParser {
    types: TypeLookup,
    time_key: Option<TimeKey>,
}

impl LtsvParser {
    pub(crate) fn new(config: &LtsvConfig) -> Result<LtsvParser, ParserConfigError> {
        Ok(LtsvParser {
            types: TypeLookup::new(&config.types),
            time_key: TimeKey::new(
                config.time_key.as_deref(),
                config.time_format.as_deref(),
                config.time_zone.as_deref(),
            )?,
        })
    }

    pub(crate) fn parse(&self, line: &[u8], now: Now) -> Result<Parsed, ParseError> {
        // Bounded by the line: every field but the last ends in a tab.
        let mut record = Record::with_capacity(memchr_iter(b'\t', line).count() + 1);
        let mut time = EventTime::default();
        let mut start = 0;
        while start <= line.len() {
            let rest = line.get(start..).unwrap_or_default();
            let len = memchr(b'\t', rest).unwrap_or(rest.len());
            let field = rest.get(..len).unwrap_or(rest);
            if !field.is_empty() {
                let (label, value) = split_field(field, start)?;
                let value_start = start + label.len() + 1;
                let label = Text::from_utf8_lossy(label);
                if let Some(key) = self.time_key.as_ref().filter(|k| k.key() == label) {
                    time = key.read(strip_brackets(value), now);
                }
                let ty = self.types.get(&label);
                let value = ty.convert(&label, String::from_utf8_lossy(value), value_start)?;
                record.insert(label, value);
            }
            start += len + 1;
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

/// A field's label and value; `start` is where the field is in the line.
fn split_field(field: &[u8], start: usize) -> Result<(&[u8], &[u8]), ParseError> {
    let expected = |what: &str| {
        ParseError::new(
            start,
            ParseErrorReason::Expected {
                expected: what.to_owned(),
            },
        )
    };
    match memchr(b':', field) {
        None => Err(expected("a field written label:value")),
        Some(0) => Err(expected("a label before ':'")),
        Some(colon) => {
            let (label, value) = field.split_at(colon);
            Ok((label, value.get(1..).unwrap_or_default()))
        }
    }
}

/// `[10/Oct/2000:13:55:36 -0700]` as LTSV's reference format writes times.
fn strip_brackets(value: &[u8]) -> &[u8] {
    value
        .strip_prefix(b"[")
        .and_then(|v| v.strip_suffix(b"]"))
        .unwrap_or(value)
}

impl LineParser for LtsvParser {
    fn parse(&self, line: &[u8], now: Now) -> Result<Parsed, ParseError> {
        LtsvParser::parse(self, line, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::FieldType;
    use crate::{Parser, ParserConfig};
    use levee_event::Value;
    use levee_event::time::NANOS_PER_SEC;
    use proptest::prelude::*;

    fn parser(types: &[(&str, FieldType)], time_key: Option<&str>) -> Parser {
        ParserConfig::Ltsv(LtsvConfig {
            types: types.iter().map(|(k, t)| (k.to_string(), *t)).collect(),
            time_key: time_key.map(str::to_owned),
            time_format: None,
            time_zone: None,
        })
        .build()
        .unwrap()
    }

    fn s(text: &str) -> Value {
        Value::from(text)
    }

    #[test]
    fn labels_and_values_with_types_and_time() {
        let p = ParserConfig::Ltsv(LtsvConfig {
            types: Types::from([
                ("status".into(), FieldType::Int),
                ("reqtime".into(), FieldType::Float),
            ]),
            time_key: Some("time".into()),
            time_format: Some("%d/%b/%Y:%H:%M:%S %z".into()),
            time_zone: None,
        })
        .build()
        .unwrap();
        let parsed = p
            .parse(b"time:[10/Oct/2000:13:55:36 -0700]\thost:192.0.2.1\tstatus:200\treqtime:0.005\turi:/a?b=c:d")
            .unwrap();
        let fields: Vec<(&str, &Value)> =
            parsed.record.iter().map(|(k, v)| (k.as_str(), v)).collect();
        assert_eq!(
            fields,
            [
                ("time", &s("[10/Oct/2000:13:55:36 -0700]")),
                ("host", &s("192.0.2.1")),
                ("status", &Value::Int(200)),
                ("reqtime", &Value::Float(0.005)),
                ("uri", &s("/a?b=c:d")),
            ]
        );
        assert_eq!(parsed.time, Some(971_211_336 * NANOS_PER_SEC));
        assert!(!parsed.time_error);
        let parsed = p.parse(b"time:[yesterday]\thost:a").unwrap();
        assert_eq!((parsed.time, parsed.time_error), (None, true));
        let parsed = p.parse(b"host:a").unwrap();
        assert_eq!((parsed.time, parsed.time_error), (None, false));
    }

    #[test]
    fn empty_fields_are_skipped_and_last_label_wins() {
        let p = parser(&[], None);
        let parsed = p.parse(b"\ta:1\t\ta:2\tb:\t").unwrap();
        assert_eq!(parsed.record.len(), 2);
        assert_eq!(parsed.record["a"], s("2"));
        assert_eq!(parsed.record["b"], s(""));
        assert_eq!(parsed.time, None);
    }

    #[test]
    fn odd_lines() {
        let p = parser(&[], None);
        for empty in [&b""[..], b"\t", b"\t\t\t"] {
            assert_eq!(
                p.parse(empty).unwrap_err(),
                ParseError::new(0, ParseErrorReason::EmptyLine)
            );
        }
        let err = p.parse(b"a:1\tno colon here").unwrap_err();
        assert_eq!(
            err.to_string(),
            "at byte 4: expected a field written label:value"
        );
        let err = p.parse(b"a:1\t:orphan").unwrap_err();
        assert_eq!(err.to_string(), "at byte 4: expected a label before ':'");
        let parsed = p.parse(b"ua:caf\xe9\tk\xff:v").unwrap();
        assert_eq!(parsed.record["ua"], s("caf\u{FFFD}"));
        assert_eq!(parsed.record["k\u{FFFD}"], s("v"));
        // Spaces are part of labels and values; only tabs separate.
        let parsed = p.parse(b" a : b c ").unwrap();
        assert_eq!(parsed.record[" a "], s(" b c "));
    }

    #[test]
    fn typed_value_that_is_not_its_type() {
        let p = parser(
            &[("status", FieldType::Int), ("size", FieldType::Int)],
            None,
        );
        let err = p.parse(b"host:a\tstatus:OK").unwrap_err();
        assert_eq!(
            err.to_string(),
            "at byte 14: expected an integer for field `status`, found 'OK'"
        );
        assert_eq!(p.parse(b"size:").unwrap().record["size"], Value::Null);
    }

    #[test]
    fn huge_lines() {
        let p = parser(&[], None);
        let big = "v".repeat(1 << 20);
        let parsed = p.parse(format!("k:{big}").as_bytes()).unwrap();
        assert_eq!(parsed.record["k"].as_str().map(str::len), Some(1 << 20));
        let many = "a:1\t".repeat(100_000);
        assert_eq!(p.parse(many.as_bytes()).unwrap().record.len(), 1);
    }

    proptest! {
        #[test]
        fn written_fields_read_back(
            fields in proptest::collection::btree_map("[a-z_][a-z0-9_.-]{0,8}", "[^\t\r\n]{0,20}", 1..8)
        ) {
            let line = fields.iter().map(|(k, v)| format!("{k}:{v}")).collect::<Vec<_>>().join("\t");
            let parsed = parser(&[], None).parse(line.as_bytes())
                .map_err(|e| TestCaseError::fail(format!("{e}: {line}")))?;
            for (k, v) in &fields {
                prop_assert_eq!(&parsed.record[k.as_str()], &s(v));
            }
            prop_assert_eq!(parsed.record.len(), fields.len());
        }

        #[test]
        fn never_panics(line in proptest::collection::vec(any::<u8>(), 0..256)) {
            let p = parser(&[("a", FieldType::Int), ("b", FieldType::Bool)], Some("t"));
            if let Err(e) = p.parse(&line) {
                prop_assert!(e.position <= line.len());
            }
        }
    }
}
