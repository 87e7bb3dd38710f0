//! Any bytes as an LTSV line, with types and a time key: parsing may fail,
//! never panic; an error's position never points past the line; a parsed
//! line has at least one field.
#![no_main]

use levee_parse::{FieldType, LtsvConfig, Parser, ParserConfig, Types};
use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;

static PARSER: LazyLock<Parser> = LazyLock::new(|| {
    let config = LtsvConfig {
        types: Types::from([
            ("status".to_owned(), FieldType::Int),
            ("reqtime".to_owned(), FieldType::Float),
        ]),
        time_key: Some("time".to_owned()),
        time_format: Some("%d/%b/%Y:%H:%M:%S %z".to_owned()),
        ..LtsvConfig::default()
    };
    ParserConfig::Ltsv(config).build().expect("ltsv config builds")
});

fuzz_target!(|line: &[u8]| match PARSER.parse(line) {
    Ok(parsed) => assert!(!parsed.record.is_empty()),
    Err(error) => assert!(error.position <= line.len(), "{error}"),
});
