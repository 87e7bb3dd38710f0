//! Any bytes as a JSON line: parsing may fail, never panic; an error's
//! position never points past the line. A record that parsed is written
//! back by `Record::write_json` exactly as `serde_json` writes it.
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
    match PARSER.parse(line) {
        Ok(parsed) => {
            let mut ours = Vec::new();
            parsed.record.write_json(&mut ours);
            let theirs = serde_json::to_vec(&parsed.record).expect("records serialize");
            assert_eq!(ours, theirs);
        }
        Err(error) => assert!(
            error.position <= line.len(),
            "{error} for {} bytes",
            line.len()
        ),
    }
});
