//! Any bytes as a line for each named apache format and one custom format:
//! parsing may fail, never panic; an error's position never points past
//! the line.
#![no_main]

use levee_parse::{ApacheConfig, Parser, ParserConfig};
use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;

static PARSERS: LazyLock<Vec<Parser>> = LazyLock::new(|| {
    [
        "combined",
        "common",
        "vhost_combined",
        "combinedio",
        r#"%a %{msec}t \"%m %U%q %H\" %>s %B %D %X %k %L \"%{X-Forwarded-For}i\""#,
    ]
    .into_iter()
    .map(|format| {
        let config = ParserConfig::Apache(ApacheConfig {
            format: format.to_owned(),
            time_zone: None,
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
