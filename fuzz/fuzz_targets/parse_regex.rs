//! Any bytes as a line for Fluent Bit's apache2 pattern (typed, with a
//! time format) and a pattern of optional groups: parsing may fail, never
//! panic; an error's position never points past the line, even after bytes
//! that are not UTF-8.
#![no_main]

use levee_parse::{FieldType, Parser, ParserConfig, RegexConfig, Types};
use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;

static PARSERS: LazyLock<Vec<Parser>> = LazyLock::new(|| {
    let apache2 = RegexConfig {
        pattern: r#"^(?<host>[^ ]*) [^ ]* (?<user>[^ ]*) \[(?<time>[^\]]*)\] "(?<method>\S+)(?: +(?<path>[^ ]*) +\S*)?" (?<code>[^ ]*) (?<size>[^ ]*)(?: "(?<referer>[^\"]*)" "(?<agent>.*)")?$"#.to_owned(),
        types: Types::from([
            ("code".to_owned(), FieldType::Int),
            ("size".to_owned(), FieldType::Int),
        ]),
        time_key: Some("time".to_owned()),
        time_format: Some("%d/%b/%Y:%H:%M:%S %z".to_owned()),
        time_zone: None,
    };
    let optional = RegexConfig {
        pattern: r"(?P<a>\w*)(?:=(?P<n>[-\d.e]*))?(?: (?P<b>\S+))?(?P<rest>.*)".to_owned(),
        types: Types::from([
            ("n".to_owned(), FieldType::Float),
            ("b".to_owned(), FieldType::Bool),
        ]),
        time_key: Some("rest".to_owned()),
        time_format: None,
        time_zone: Some("America/Los_Angeles".to_owned()),
    };
    [apache2, optional]
        .into_iter()
        .map(|config| ParserConfig::Regex(config).build().expect("pattern compiles"))
        .collect()
});

fuzz_target!(|line: &[u8]| {
    for parser in PARSERS.iter() {
        if let Err(error) = parser.parse(line) {
            assert!(error.position <= line.len(), "{error}");
        }
    }
});
