//! Any bytes as a JSON line: parsing may fail, never panic; an error's
//! position never points past the line.
#![no_main]

use levee_parse::{JsonConfig, Parser, ParserConfig};
use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;

static PARSER: LazyLock<Parser> = LazyLock::new(|| {
    let config = ParserConfig::Json(JsonConfig {
        time_key: Some("time".to_owned()),
        ..JsonConfig::default()
    });
    config.build().expect("json config builds")
});

fuzz_target!(|line: &[u8]| {
    if let Err(error) = PARSER.parse(line) {
        assert!(
            error.position <= line.len(),
            "{error} for {} bytes",
            line.len()
        );
    }
});
