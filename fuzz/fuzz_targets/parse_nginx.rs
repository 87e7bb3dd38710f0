//! Any bytes as a line for each named nginx format: parsing may fail, never
//! panic; an error's position never points past the line.
#![no_main]

use levee_parse::{NginxConfig, Parser, ParserConfig};
use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;

static PARSERS: LazyLock<Vec<Parser>> = LazyLock::new(|| {
    [
        "combined",
        "common",
        "main",
        "combined_request_time",
        r#"$msec [$time_iso8601] "$request" $status "$upstream_response_time""#,
    ]
    .into_iter()
    .map(|format| {
        let config = ParserConfig::Nginx(NginxConfig {
            format: format.to_owned(),
            ..NginxConfig::default()
        });
        config.build().expect("built-in format compiles")
    })
    .collect()
});

fuzz_target!(|line: &[u8]| {
    for parser in PARSERS.iter() {
        match parser.parse(line) {
            // A parsed line always has the fields of its format.
            Ok(parsed) => assert!(!parsed.record.is_empty()),
            Err(error) => assert!(error.position <= line.len(), "{error}"),
        }
    }
});
