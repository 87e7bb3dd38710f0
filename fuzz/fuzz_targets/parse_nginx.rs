//! Any bytes as a line for each named nginx format and a few custom ones
//! (upstream lists, escape=json and escape=none directives): parsing may
//! fail, never panic; an error's position never points past the line.
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
        // Upstream lists, and a JSON log whose empty values are null.
        r#"$remote_addr us="$upstream_status" ubr="$upstream_bytes_received" $upstream_connect_time"#,
        r#"log_format j escape=json '{"s":"$status","u":"$upstream_response_time",' '"a":"$http_user_agent"}';"#,
        r#"log_format n escape=none '$remote_addr "$http_user_agent" $request_time';"#,
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
