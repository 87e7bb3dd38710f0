//! The regex parser on ordinary and hostile lines.

use levee_event::Value;
use levee_event::time::NANOS_PER_SEC;
use proptest::prelude::*;

use super::*;
use crate::{Parser, ParserConfig};

fn config(pattern: &str) -> RegexConfig {
    RegexConfig {
        pattern: pattern.to_owned(),
        types: Types::new(),
        time_key: None,
        time_format: None,
        time_zone: None,
    }
}

fn build(config: RegexConfig) -> Parser {
    ParserConfig::Regex(config).build().unwrap()
}

fn parser(pattern: &str) -> Parser {
    build(config(pattern))
}

fn s(text: &str) -> Value {
    Value::from(text)
}

fn fields(parsed: &Parsed) -> Vec<(&str, &Value)> {
    parsed.record.iter().map(|(k, v)| (k.as_str(), v)).collect()
}

const SEPT_1: i64 = 1_535_803_200 * NANOS_PER_SEC; // 2018-09-01T12:00:00Z

#[test]
fn named_groups_with_types_and_time() {
    let mut c = config(
        r"^(?<time>\S+) (?<host>\S+) (?<status>\d+) (?<took>[\d.]+) (?<ok>\w+)(?: (?<note>.*))?$",
    );
    c.types = Types::from([
        ("status".into(), FieldType::Int),
        ("took".into(), FieldType::Float),
        ("ok".into(), FieldType::Bool),
    ]);
    c.time_key = Some("time".into());
    let p = build(c);
    let parsed = p
        .parse(b"2018-09-01T12:00:00Z web-1 200 0.25 true")
        .unwrap();
    assert_eq!(
        fields(&parsed),
        [
            ("time", &s("2018-09-01T12:00:00Z")),
            ("host", &s("web-1")),
            ("status", &Value::Int(200)),
            ("took", &Value::Float(0.25)),
            ("ok", &Value::Bool(true)),
        ]
    );
    assert_eq!((parsed.time, parsed.time_error), (Some(SEPT_1), false));

    // The optional group that matched is there, even when empty.
    let parsed = p
        .parse(b"2018-09-01T12:00:00Z web-1 200 0.25 false ")
        .unwrap();
    assert_eq!(parsed.record["note"], s(""));

    let parsed = p.parse(b"whenever web-1 200 0.25 true").unwrap();
    assert_eq!((parsed.time, parsed.time_error), (None, true));
}

#[test]
fn fluent_bit_group_syntax_and_time_format() {
    let mut c = config(
        r#"^(?P<remote>[^ ]*) \[(?P<time>[^\]]*)\] "(?P<method>\S+) (?P<path>[^"]*)" (?P<code>\d+)$"#,
    );
    c.types = Types::from([("code".into(), FieldType::Int)]);
    c.time_key = Some("time".into());
    c.time_format = Some("%d/%b/%Y:%H:%M:%S %z".into());
    let parsed = build(c)
        .parse(br#"192.0.2.1 [10/Oct/2000:13:55:36 -0700] "GET /a b" 200"#)
        .unwrap();
    assert_eq!(parsed.record["path"], s("/a b"));
    assert_eq!(parsed.record["code"], Value::Int(200));
    assert_eq!(parsed.time, Some(971_211_336 * NANOS_PER_SEC));
}

#[test]
fn conversion_failure_names_the_field() {
    let mut c = config(r"^(?<host>\S+) (?<status>\S+)$");
    c.types = Types::from([("status".into(), FieldType::Int)]);
    let p = build(c);
    let err = p.parse(b"web-1 2OO").unwrap_err();
    assert_eq!(
        err,
        ParseError::new(
            6,
            ParseErrorReason::InvalidValue {
                field: "status".into(),
                expected: "an integer",
                found: "2OO".into()
            }
        )
    );
    assert_eq!(
        err.to_string(),
        "at byte 6: expected an integer for field `status`, found '2OO'"
    );
    // Positions count the line's bytes, even after bytes that are not UTF-8.
    let err = p.parse(b"\xff\xfe\xe9 x").unwrap_err();
    assert_eq!(err.position, 4);
}

#[test]
fn lines_that_do_not_match() {
    let p = parser(r"^(?<a>\d+)$");
    for line in [&b""[..], b"abc", b"12 ", b"\xff"] {
        let err = p.parse(line).unwrap_err();
        assert_eq!(err, ParseError::new(0, ParseErrorReason::NoMatch));
    }
    assert_eq!(
        p.parse(b"x").unwrap_err().to_string(),
        "at byte 0: the line does not match the pattern"
    );
    // The pattern decides about empty lines.
    let any = parser(r"^(?<all>.*)$");
    assert_eq!(any.parse(b"").unwrap().record["all"], s(""));
}

#[test]
fn unanchored_patterns_find_their_match() {
    let parsed = parser(r"status=(?<status>\d+)")
        .parse(b"ts=1 status=503 took=2")
        .unwrap();
    assert_eq!(fields(&parsed), [("status", &s("503"))]);
}

#[test]
fn invalid_utf8_is_matched_as_replacement_chars() {
    let p = parser(r"^(?<a>\S+) (?<b>.+)$");
    let parsed = p.parse(b"caf\xe9 \xff\xfeok").unwrap();
    assert_eq!(parsed.record["a"], s("caf\u{FFFD}"));
    assert_eq!(parsed.record["b"], s("\u{FFFD}\u{FFFD}ok"));
}

#[test]
fn huge_line() {
    let p = parser(r"^(?<a>\w+) (?<b>.*)$");
    let big = "x".repeat(1 << 20);
    let parsed = p.parse(format!("{big} {big}").as_bytes()).unwrap();
    assert_eq!(parsed.record["b"].as_str().map(str::len), Some(1 << 20));
    // A million bytes that almost match cost linear time, not a hang.
    let err = parser(r"^(?<a>(a|aa)+)$")
        .parse(&[vec![b'a'; 1 << 20], vec![b'b']].concat())
        .unwrap_err();
    assert_eq!(err.reason, ParseErrorReason::NoMatch);
}

#[test]
fn bad_configs_are_refused() {
    let err = |c: RegexConfig| RegexParser::new(&c).unwrap_err();
    assert!(matches!(
        err(config(r"(?<a>\d+")),
        ParserConfigError::InvalidRegex(_)
    ));
    // Look-around is outside the regex crate's syntax.
    let e = err(config(r"(?<a>x)(?=y)"));
    assert!(e.to_string().starts_with("invalid `pattern`:"), "{e}");
    assert_eq!(
        err(config(r"^(\d+) (\w+)$")),
        ParserConfigError::NoNamedGroups
    );
    let mut c = config(r"(?<a>\d+) (?<b>\w+)");
    c.types = Types::from([("c".into(), FieldType::Int)]);
    assert_eq!(
        err(c).to_string(),
        "`types` names `c`, which is not one of the fields this parser makes: a, b"
    );
    let mut c = config(r"(?<a>\d+)");
    c.time_key = Some("time".into());
    assert!(matches!(
        err(c),
        ParserConfigError::UnknownField {
            option: "time_key",
            ..
        }
    ));
    let mut c = config(r"(?<a>\d+)");
    c.time_format = Some("epoch".into());
    assert_eq!(err(c), ParserConfigError::TimeOptionWithoutKey);
}

#[test]
fn config_from_toml() {
    #[derive(serde::Deserialize)]
    struct Source {
        parser: ParserConfig,
    }
    let parse = |text: &str| toml::from_str::<Source>(text).map(|s| s.parser);
    let err = parse(r#"parser = "regex""#).err().unwrap().to_string();
    assert!(
        err.contains("missing field `pattern`: the regex parser needs options"),
        "{err}"
    );
    let config =
        parse(r#"parser = { type = "regex", pattern = '^(?<n>\d+)$', types = { n = "integer" } }"#)
            .unwrap();
    let parsed = config.build().unwrap().parse(b"42").unwrap();
    assert_eq!(parsed.record["n"], Value::Int(42));
}

#[test]
fn line_offsets_map_back_through_replacements() {
    let line = b"a\xffb\xe9\xa9c";
    let text = String::from_utf8_lossy(line);
    // a, U+FFFD (3 bytes), b, U+FFFD, c
    for (at, want) in [(0, 0), (1, 1), (4, 2), (5, 3), (8, 5), (9, 6)] {
        assert_eq!(line_offset(line, at), want, "{at} in {text:?}");
    }
}

proptest! {
    #[test]
    fn never_panics(line in proptest::collection::vec(any::<u8>(), 0..256)) {
        let mut c = config(r"^(?<a>\S*) ?(?<n>\d*)(?: (?<t>\S+))?(?<rest>.*)$");
        c.types = Types::from([("n".into(), FieldType::Int)]);
        c.time_key = Some("t".into());
        let p = build(c);
        if let Err(e) = p.parse(&line) {
            prop_assert!(e.position <= line.len());
        }
    }

    #[test]
    fn captured_text_reads_back(a in "\\S{1,20}", b in "[^\r\n]{0,40}") {
        let parsed = parser(r"^(?<a>\S+) (?<b>.*)$").parse(format!("{a} {b}").as_bytes()).unwrap();
        prop_assert_eq!(&parsed.record["a"], &s(&a));
        prop_assert_eq!(&parsed.record["b"], &s(&b));
    }
}
