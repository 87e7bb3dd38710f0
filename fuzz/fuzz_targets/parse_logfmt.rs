//! Any bytes as a logfmt line, with types and a time key: parsing may fail,
//! never panic; an error's position never points past the line; a parsed
//! line has at least one field.
#![no_main]

use levee_parse::{FieldType, LogfmtConfig, Parser, ParserConfig, Types};
use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;

static PARSER: LazyLock<Parser> = LazyLock::new(|| {
    let config = LogfmtConfig {
        types: Types::from([
            ("n".to_owned(), FieldType::Int),
            ("f".to_owned(), FieldType::Float),
            ("b".to_owned(), FieldType::Bool),
        ]),
        time_key: Some("ts".to_owned()),
        ..LogfmtConfig::default()
    };
    ParserConfig::Logfmt(config).build().expect("logfmt config builds")
});

fuzz_target!(|line: &[u8]| match PARSER.parse(line) {
    Ok(parsed) => assert!(!parsed.record.is_empty()),
    Err(error) => assert!(error.position <= line.len(), "{error}"),
});
