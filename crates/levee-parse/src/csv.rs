//! The `csv` parser: one row of delimiter-separated fields per line, with
//! RFC 4180 quoting, named by `columns`.

use std::borrow::Cow;

use levee_event::Record;
use memchr::memchr;
use serde::Deserialize;

use crate::error::{ParseError, ParseErrorReason};
use crate::parser::LineParser;
use crate::time::Now;
use crate::time_key::{EventTime, TimeKey};
use crate::types::{FieldType, Types};
use crate::{Parsed, ParserConfigError};

/// `parser = { type = "csv", columns = ["time", "host", "status"], delimiter = ",", types = { status = "int" } }`.
///
/// Fields are split at `delimiter`; a field that starts with `"` is quoted:
/// it runs to the next lone `"`, may hold delimiters, and writes a quote as
/// `""` (`"a ""quoted"" field"`). A row is one line, so a quoted field
/// cannot hold a line break. A header row is parsed like any other row,
/// unless `skip_header` is set.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CsvConfig {
    /// The fields' names, in the order they stand in a row. A row with
    /// another number of fields does not parse.
    pub columns: Vec<String>,
    /// The one ASCII character between fields: `,` (the default), `;`,
    /// `\t`, `|`, ...
    #[serde(default = "default_delimiter")]
    pub delimiter: String,
    /// Types of columns that are not text: `{ status = "int", took =
    /// "float", ok = "bool" }` (also `integer`, `boolean`, `string`). An
    /// empty field of such a column is null; text that is not of its type
    /// makes the line fail to parse.
    #[serde(default)]
    pub types: Types,
    /// The column that holds the event time, if any. The field stays in
    /// the record; if it does not read as a time, the source uses the time
    /// of ingest and counts it.
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
    /// Drop header rows: a row whose fields are exactly `columns`, in
    /// order (as written, quotes undone, spaces kept), makes no event. Such
    /// a row may stand at the top of each file, or again after rotation.
    #[serde(default)]
    pub skip_header: bool,
}

fn default_delimiter() -> String {
    ",".to_owned()
}

/// A compiled `csv` parser.
#[derive(Clone, Debug)]
pub(crate) struct CsvParser {
    columns: Vec<Column>,
    delimiter: u8,
    /// The time column's index, and how to read it.
    time: Option<(usize, TimeKey)>,
    /// Header rows are to be dropped.
    skip_header: bool,
}

#[derive(Clone, Debug)]
struct Column {
    name: String,
    ty: FieldType,
}

/// Some writers (spreadsheets) start a file with a UTF-8 byte order mark.
const BOM: &[u8] = b"\xEF\xBB\xBF";

impl CsvParser {
    pub(crate) fn new(config: &CsvConfig) -> Result<CsvParser, ParserConfigError> {
        if config.columns.is_empty() {
            return Err(ParserConfigError::NoColumns);
        }
        let delimiter = match config.delimiter.as_bytes() {
            [b] if b.is_ascii() && !matches!(b, b'"' | b'\r' | b'\n') => *b,
            _ => {
                return Err(ParserConfigError::InvalidDelimiter(
                    config.delimiter.clone(),
                ));
            }
        };
        for (index, name) in config.columns.iter().enumerate() {
            if name.is_empty() || config.columns[..index].contains(name) {
                return Err(ParserConfigError::BadColumn {
                    index,
                    name: name.clone(),
                });
            }
        }
        if let Some(field) = config.types.keys().find(|k| !config.columns.contains(k)) {
            return Err(ParserConfigError::UnknownField {
                option: "types",
                field: field.clone(),
                known: config.columns.join(", "),
            });
        }
        let columns = config
            .columns
            .iter()
            .map(|name| Column {
                name: name.clone(),
                ty: config.types.get(name).copied().unwrap_or_default(),
            })
            .collect();
        let time_key = TimeKey::new(
            config.time_key.as_deref(),
            config.time_format.as_deref(),
            config.time_zone.as_deref(),
        )?;
        let time = match time_key {
            Some(key) => {
                let Some(index) = config.columns.iter().position(|c| c == key.key()) else {
                    return Err(ParserConfigError::UnknownField {
                        option: "time_key",
                        field: key.key().to_owned(),
                        known: config.columns.join(", "),
                    });
                };
                Some((index, key))
            }
            None => None,
        };
        Ok(CsvParser {
            columns,
            delimiter,
            time,
            skip_header: config.skip_header,
        })
    }

    /// True when `skip_header` is set and `line` is a header row: its
    /// fields are the column names, in order, byte for byte once quotes
    /// are undone. A row that does not split (an unclosed quote) is none.
    pub(crate) fn is_header(&self, line: &[u8]) -> bool {
        if !self.skip_header {
            return false;
        }
        let skipped = if line.starts_with(BOM) { BOM.len() } else { 0 };
        let mut fields = Fields {
            line,
            pos: skipped,
            delimiter: self.delimiter,
            done: false,
        };
        for column in &self.columns {
            match fields.next_field() {
                Ok(Some(field)) if field.bytes() == column.name.as_bytes() => {}
                _ => return false,
            }
        }
        fields.done
    }

    pub(crate) fn parse(&self, line: &[u8], now: Now) -> Result<Parsed, ParseError> {
        let skipped = if line.starts_with(BOM) { BOM.len() } else { 0 };
        if line.len() == skipped {
            return Err(ParseError::new(0, ParseErrorReason::EmptyLine));
        }
        let mut record = Record::with_capacity(self.columns.len());
        let mut fields = Fields {
            line,
            pos: skipped,
            delimiter: self.delimiter,
            done: false,
        };
        let mut time = EventTime::default();
        for (index, column) in self.columns.iter().enumerate() {
            let Some(field) = fields.next_field()? else {
                return Err(self.count_error(line.len(), record.len()));
            };
            let text = field.text();
            if let Some((_, key)) = self.time.as_ref().filter(|(i, _)| *i == index) {
                time = key.read(text.as_bytes(), now);
            }
            let value = column.ty.convert(&column.name, text, field.start)?;
            record.insert(column.name.clone(), value);
        }
        if !fields.done {
            // Count the rest without keeping it, for the error message.
            let extra_start = fields.pos;
            let mut found = self.columns.len();
            while fields.next_field()?.is_some() {
                found += 1;
            }
            return Err(self.count_error(extra_start, found));
        }
        Ok(Parsed {
            record,
            time: time.time,
            time_error: time.error,
        })
    }

    fn count_error(&self, position: usize, found: usize) -> ParseError {
        ParseError::new(
            position,
            ParseErrorReason::FieldCount {
                expected: self.columns.len(),
                found,
            },
        )
    }
}

/// One field of a row, still as it stands in the line.
struct Field<'a> {
    /// The bytes between the delimiters, or between the quotes.
    raw: &'a [u8],
    /// Quoted, so `""` stands for `"`.
    quoted: bool,
    /// Where the field starts in the line.
    start: usize,
}

impl<'a> Field<'a> {
    /// The field's bytes with quotes undone, copied only when there are
    /// `""` pairs to undo.
    fn bytes(&self) -> Cow<'a, [u8]> {
        if self.quoted && memchr(b'"', self.raw).is_some() {
            let mut out = Vec::with_capacity(self.raw.len());
            let mut rest = self.raw;
            while let Some(at) = memchr(b'"', rest) {
                // Inside a quoted field every `"` is the first of a `""` pair.
                out.extend_from_slice(rest.get(..=at).unwrap_or(rest));
                rest = rest.get(at + 2..).unwrap_or_default();
            }
            out.extend_from_slice(rest);
            return Cow::Owned(out);
        }
        Cow::Borrowed(self.raw)
    }

    /// The field's text, copied only when quotes must be undone or bytes
    /// are not UTF-8.
    fn text(&self) -> Cow<'a, str> {
        if self.quoted && memchr(b'"', self.raw).is_some() {
            return Cow::Owned(String::from_utf8_lossy(&self.bytes()).into_owned());
        }
        String::from_utf8_lossy(self.raw)
    }
}

/// The quote-aware splitter: yields a row's fields left to right.
struct Fields<'a> {
    line: &'a [u8],
    pos: usize,
    delimiter: u8,
    /// The last field has been yielded.
    done: bool,
}

impl<'a> Fields<'a> {
    // Once `is_header` called it too, LLVM stopped inlining it into
    // `parse`, and the csv bench lost 12%.
    #[inline(always)]
    fn next_field(&mut self) -> Result<Option<Field<'a>>, ParseError> {
        if self.done {
            return Ok(None);
        }
        let start = self.pos;
        let rest = self.line.get(start..).unwrap_or_default();
        let (field, after) = if rest.first() == Some(&b'"') {
            let (inner, close) = quoted(rest).ok_or_else(|| {
                ParseError::new(
                    self.line.len(),
                    ParseErrorReason::UnexpectedEnd {
                        expected: format!("'\"' closing the field that starts at byte {start}"),
                    },
                )
            })?;
            let field = Field {
                raw: inner,
                quoted: true,
                start: start + 1,
            };
            (field, start + close + 1)
        } else {
            let end = memchr(self.delimiter, rest).unwrap_or(rest.len());
            let field = Field {
                raw: rest.get(..end).unwrap_or(rest),
                quoted: false,
                start,
            };
            (field, start + end)
        };
        match self.line.get(after) {
            None => self.done = true,
            Some(&b) if b == self.delimiter => self.pos = after + 1,
            Some(_) => {
                return Err(ParseError::new(
                    after,
                    ParseErrorReason::Expected {
                        expected: format!(
                            "'{}' or the end of the line after a closing quote",
                            char::from(self.delimiter).escape_default()
                        ),
                    },
                ));
            }
        }
        Ok(Some(field))
    }
}

/// The inside of the quoted field at the start of `rest` and the offset of
/// its closing quote, or `None` if it is not closed.
fn quoted(rest: &[u8]) -> Option<(&[u8], usize)> {
    let mut from = 1;
    loop {
        let at = from + memchr(b'"', rest.get(from..)?)?;
        if rest.get(at + 1) == Some(&b'"') {
            from = at + 2;
        } else {
            return Some((rest.get(1..at)?, at));
        }
    }
}

impl LineParser for CsvParser {
    fn parse(&self, line: &[u8], now: Now) -> Result<Parsed, ParseError> {
        CsvParser::parse(self, line, now)
    }

    fn is_header(&self, line: &[u8]) -> bool {
        CsvParser::is_header(self, line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Parser, ParserConfig};
    use levee_event::Value;
    use levee_event::time::NANOS_PER_SEC;
    use proptest::prelude::*;

    fn config(columns: &[&str]) -> CsvConfig {
        CsvConfig {
            columns: columns.iter().map(|c| c.to_string()).collect(),
            delimiter: default_delimiter(),
            types: Types::new(),
            time_key: None,
            time_format: None,
            time_zone: None,
            skip_header: false,
        }
    }

    fn build(config: CsvConfig) -> Parser {
        ParserConfig::Csv(config).build().unwrap()
    }

    fn parser(columns: &[&str]) -> Parser {
        build(config(columns))
    }

    fn values(parsed: &Parsed) -> Vec<Value> {
        parsed.record.values().cloned().collect()
    }

    fn s(text: &str) -> Value {
        Value::from(text)
    }

    #[test]
    fn row_with_types_and_time() {
        let mut c = config(&["time", "host", "status", "took", "ok"]);
        c.types = Types::from([
            ("status".into(), FieldType::Int),
            ("took".into(), FieldType::Float),
            ("ok".into(), FieldType::Bool),
        ]);
        c.time_key = Some("time".into());
        let p = build(c.clone());
        let parsed = p
            .parse(b"2018-09-01T12:00:00Z,web-1,200,0.25,true")
            .unwrap();
        assert_eq!(
            parsed.record.keys().collect::<Vec<_>>(),
            ["time", "host", "status", "took", "ok"]
        );
        assert_eq!(
            values(&parsed),
            [
                s("2018-09-01T12:00:00Z"),
                s("web-1"),
                Value::Int(200),
                Value::Float(0.25),
                Value::Bool(true)
            ]
        );
        assert_eq!(parsed.time, Some(1_535_803_200 * NANOS_PER_SEC));
        let parsed = p.parse(b"soon,web-1,200,0.25,true").unwrap();
        assert_eq!((parsed.time, parsed.time_error), (None, true));
        c.time_format = Some("epoch_millis".into());
        let parsed = build(c)
            .parse(b"1535803200000,web-1,200,0.25,true")
            .unwrap();
        assert_eq!(parsed.time, Some(1_535_803_200 * NANOS_PER_SEC));
    }

    #[test]
    fn rfc4180_quoting() {
        let p = parser(&["a", "b", "c"]);
        let parsed = p.parse(br#""a ""quoted"" field","x,y","""""#).unwrap();
        assert_eq!(
            values(&parsed),
            [s(r#"a "quoted" field"#), s("x,y"), s("\"")]
        );
        let parsed = p.parse(br#""",plain,"""#).unwrap();
        assert_eq!(values(&parsed), [s(""), s("plain"), s("")]);
        // A quote inside an unquoted field is text, as most writers mean it.
        let parsed = p.parse(br#"5" pipe,b"c,d"#).unwrap();
        assert_eq!(values(&parsed), [s("5\" pipe"), s("b\"c"), s("d")]);
    }

    #[test]
    fn empty_fields_are_empty_text_or_null() {
        let mut c = config(&["a", "n", "c"]);
        c.types = Types::from([("n".into(), FieldType::Int)]);
        let parsed = build(c.clone()).parse(b",,").unwrap();
        assert_eq!(values(&parsed), [s(""), Value::Null, s("")]);
    }

    #[test]
    fn wrong_field_counts_say_how_many() {
        let p = parser(&["a", "b", "c"]);
        let err = p.parse(b"1,2").unwrap_err();
        assert_eq!(
            err,
            ParseError::new(
                3,
                ParseErrorReason::FieldCount {
                    expected: 3,
                    found: 2
                }
            )
        );
        assert_eq!(err.to_string(), "at byte 3: expected 3 fields, found 2");
        let err = p.parse(b"1,2,3,4,\"5,6\",7").unwrap_err();
        assert_eq!(err.to_string(), "at byte 6: expected 3 fields, found 6");
        let err = p.parse(b",,,").unwrap_err();
        assert_eq!(err.to_string(), "at byte 3: expected 3 fields, found 4");
        // A trailing delimiter is an empty last field.
        assert_eq!(values(&p.parse(b"1,2,").unwrap()), [s("1"), s("2"), s("")]);
    }

    #[test]
    fn unterminated_and_misplaced_quotes() {
        let p = parser(&["a", "b"]);
        let err = p.parse(br#"1,"never closed, at all"#).unwrap_err();
        assert_eq!(err.position, 23);
        assert_eq!(
            err.to_string(),
            "at byte 23: line ended; expected '\"' closing the field that starts at byte 2"
        );
        let err = p.parse(br#""a"b,c"#).unwrap_err();
        assert_eq!(
            err.to_string(),
            "at byte 3: expected ',' or the end of the line after a closing quote"
        );
        let err = p.parse(br#""a""#).unwrap_err();
        assert_eq!(
            err.reason,
            ParseErrorReason::FieldCount {
                expected: 2,
                found: 1
            }
        );
        assert!(matches!(
            p.parse(b"\"").unwrap_err().reason,
            ParseErrorReason::UnexpectedEnd { .. }
        ));
    }

    #[test]
    fn typed_field_that_is_not_its_type() {
        let mut c = config(&["host", "status"]);
        c.types = Types::from([("status".into(), FieldType::Int)]);
        let p = build(c.clone());
        let err = p.parse(br#"web-1,"2OO""#).unwrap_err();
        assert_eq!(
            err.to_string(),
            "at byte 7: expected an integer for field `status`, found '2OO'"
        );
        // A header row fails on its typed columns, so it goes to @ERROR.
        assert!(p.parse(b"host,status").is_err());
    }

    fn header_parser(columns: &[&str]) -> CsvParser {
        let mut c = config(columns);
        c.skip_header = true;
        c.types = Types::from([("status".into(), FieldType::Int)]);
        CsvParser::new(&c).unwrap()
    }

    #[test]
    fn header_rows_are_the_column_names_exactly() {
        let p = header_parser(&["time", "host", "status"]);
        for header in [
            &b"time,host,status"[..],
            b"\"time\",\"host\",\"status\"",
            b"time,\"host\",status",
            b"\xEF\xBB\xBFtime,host,status",
        ] {
            assert!(p.is_header(header), "{}", String::from_utf8_lossy(header));
        }
        for row in [
            &b"2024-01-01T00:00:00Z,web-1,200"[..],
            b"time,host",
            b"time,host,status,",
            b"time,host,status,extra",
            b"time, host,status",
            b"time,host,status ",
            b"Time,host,status",
            b"time;host;status",
            b"time,host,\"status",
            b"\"time,host\",status",
            b"",
        ] {
            assert!(!p.is_header(row), "{}", String::from_utf8_lossy(row));
        }
        // Off by default: the same row is a row (here one that fails on
        // its integer column).
        let mut c = config(&["time", "host", "status"]);
        c.types = Types::from([("status".into(), FieldType::Int)]);
        let plain = CsvParser::new(&c).unwrap();
        assert!(!plain.is_header(b"time,host,status"));
        assert!(plain.parse(b"time,host,status", Now::System).is_err());
    }

    #[test]
    fn header_names_with_quotes_and_delimiters() {
        let p = header_parser(&["a,b", "say \"hi\"", "status"]);
        assert!(p.is_header(br#""a,b","say ""hi""",status"#));
        assert!(!p.is_header(br#"a,b,"say ""hi""",status"#));
        let mut c = config(&["x", "y"]);
        c.delimiter = "\t".into();
        c.skip_header = true;
        let p = CsvParser::new(&c).unwrap();
        assert!(p.is_header(b"x\ty"));
        assert!(!p.is_header(b"x,y"));
    }

    #[test]
    fn odd_lines() {
        let p = parser(&["a", "b"]);
        assert_eq!(
            p.parse(b"").unwrap_err().reason,
            ParseErrorReason::EmptyLine
        );
        assert_eq!(
            p.parse(BOM).unwrap_err().reason,
            ParseErrorReason::EmptyLine
        );
        assert_eq!(
            values(&p.parse(b"\xEF\xBB\xBFx,y").unwrap()),
            [s("x"), s("y")]
        );
        assert_eq!(
            values(&p.parse(b"caf\xe9,\"\xff\"\"\"").unwrap()),
            [s("caf\u{FFFD}"), s("\u{FFFD}\"")]
        );
        let one = parser(&["only"]);
        // A single column takes the whole line, spaces and all.
        assert_eq!(values(&one.parse(b" a b ").unwrap()), [s(" a b ")]);
    }

    #[test]
    fn other_delimiters() {
        let mut c = config(&["a", "b", "c"]);
        c.delimiter = "\t".into();
        let p = build(c.clone());
        assert_eq!(
            values(&p.parse(b"x,1\t\"y\tz\"\t").unwrap()),
            [s("x,1"), s("y\tz"), s("")]
        );
        c.delimiter = ";".into();
        let p = build(c.clone());
        assert_eq!(
            values(&p.parse(b"1;2;3").unwrap()),
            [s("1"), s("2"), s("3")]
        );
    }

    #[test]
    fn huge_lines() {
        let p = parser(&["a", "b"]);
        let big = "x".repeat(1 << 20);
        let parsed = p.parse(format!("\"{big}\",{big}").as_bytes()).unwrap();
        assert_eq!(values(&parsed), [s(&big), s(&big)]);
        // A million fields are counted, not kept.
        let err = p.parse(&vec![b','; 1 << 20]).unwrap_err();
        assert_eq!(
            err.reason,
            ParseErrorReason::FieldCount {
                expected: 2,
                found: (1 << 20) + 1
            }
        );
    }

    #[test]
    fn bad_configs_are_refused() {
        let err = |c: CsvConfig| CsvParser::new(&c).unwrap_err();
        assert_eq!(err(config(&[])), ParserConfigError::NoColumns);
        for bad in ["", ",,", "\"", "\n", "é"] {
            let mut c = config(&["a"]);
            c.delimiter = bad.into();
            assert_eq!(err(c), ParserConfigError::InvalidDelimiter(bad.into()));
        }
        assert_eq!(
            err(config(&["a", "b", "a"])),
            ParserConfigError::BadColumn {
                index: 2,
                name: "a".into()
            }
        );
        assert!(matches!(
            err(config(&["a", ""])),
            ParserConfigError::BadColumn { index: 1, .. }
        ));
        let mut c = config(&["a", "b"]);
        c.types = Types::from([("c".into(), FieldType::Int)]);
        assert_eq!(
            err(c).to_string(),
            "`types` names `c`, which is not one of the fields this parser makes: a, b"
        );
        let mut c = config(&["a", "b"]);
        c.time_key = Some("time".into());
        assert!(matches!(
            err(c),
            ParserConfigError::UnknownField {
                option: "time_key",
                ..
            }
        ));
        let mut c = config(&["a"]);
        c.time_key = Some(String::new());
        assert_eq!(err(c), ParserConfigError::EmptyTimeKey);
    }

    #[test]
    fn config_from_toml() {
        #[derive(Deserialize)]
        struct Source {
            parser: ParserConfig,
        }
        let parse = |text: &str| toml::from_str::<Source>(text).map(|s| s.parser);
        let err = parse(r#"parser = "csv""#).err().unwrap().to_string();
        assert!(
            err.contains("missing field `columns`: the csv parser needs options"),
            "{err}"
        );
        let err = parse(r#"parser = { type = "csv" }"#)
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("missing field `columns`"), "{err}");
        let err = parse(r#"parser = { type = "csv", columns = ["a"], delimeter = ";" }"#)
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("unknown field `delimeter`"), "{err}");
        let config = parse(r#"parser = { type = "csv", columns = ["a", "b"], delimiter = ";" }"#);
        let parsed = config.unwrap().build().unwrap().parse(b"1;2").unwrap();
        assert_eq!(values(&parsed), [s("1"), s("2")]);
        let config =
            parse(r#"parser = { type = "csv", columns = ["a", "b"], skip_header = true }"#);
        let parser = config.unwrap().build().unwrap();
        assert!(parser.is_header(b"a,b\r"));
        assert!(!parser.is_header(b"1,2"));
    }

    /// Writes a field as an RFC 4180 writer does: quoted when it must be.
    fn write_field(text: &str) -> String {
        if text.contains([',', '"']) || text.is_empty() {
            format!("\"{}\"", text.replace('"', "\"\""))
        } else {
            text.to_owned()
        }
    }

    proptest! {
        #[test]
        fn written_rows_read_back(fields in proptest::collection::vec("[^\r\n]{0,20}", 1..8)) {
            let names: Vec<String> = (0..fields.len()).map(|i| format!("c{i}")).collect();
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            let line = fields.iter().map(|f| write_field(f)).collect::<Vec<_>>().join(",");
            // A row that starts with a BOM loses it; such fields are not written here.
            prop_assume!(!line.starts_with('\u{FEFF}'));
            let parsed = parser(&names).parse(line.as_bytes())
                .map_err(|e| TestCaseError::fail(format!("{e}: {line}")))?;
            let want: Vec<Value> = fields.iter().map(|f| s(f)).collect();
            prop_assert_eq!(values(&parsed), want);
        }

        #[test]
        fn never_panics(line in proptest::collection::vec(any::<u8>(), 0..256), n in 1usize..6) {
            let names: Vec<String> = (0..n).map(|i| format!("c{i}")).collect();
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            match parser(&names).parse(&line) {
                Ok(parsed) => prop_assert_eq!(parsed.record.len(), n),
                Err(e) => prop_assert!(e.position <= line.len()),
            }
        }
    }
}
