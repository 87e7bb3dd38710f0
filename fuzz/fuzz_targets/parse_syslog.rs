//! Any bytes as a syslog line, in each format and with a named zone:
//! parsing may fail, never panic; an error's position never points past
//! the line; a parsed line always has the same ten fields.
#![no_main]

use levee_parse::{Parser, ParserConfig, SyslogConfig, SyslogFormat};
use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;

/// 2024-06-15T12:00:00Z, so a run does not depend on the clock.
const NOW: i64 = 1_718_452_800 * 1_000_000_000;

static PARSERS: LazyLock<Vec<Parser>> = LazyLock::new(|| {
    [
        (SyslogFormat::Auto, None),
        (SyslogFormat::Rfc3164, Some("America/Los_Angeles")),
        (SyslogFormat::Rfc5424, Some("+09:00")),
    ]
    .into_iter()
    .map(|(format, zone)| {
        let config = ParserConfig::Syslog(SyslogConfig {
            format,
            time_zone: zone.map(str::to_owned),
        });
        config.build().expect("syslog config builds")
    })
    .collect()
});

fuzz_target!(|line: &[u8]| {
    for parser in PARSERS.iter() {
        match parser.parse_at(line, NOW) {
            Ok(parsed) => assert_eq!(parsed.record.len(), 10),
            Err(error) => assert!(
                error.position <= line.len(),
                "{error} for {} bytes",
                line.len()
            ),
        }
    }
});
