//! Arbitrary log_format strings: compiling may be refused, never panic; a
//! format that compiles then parses lines built from the same bytes.
#![no_main]

use levee_parse::{NginxConfig, ParserConfig};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The first part is the format, the rest a line to parse with it.
    let split = data.iter().position(|&b| b == b'\n').unwrap_or(data.len());
    let (format, line) = data.split_at(split);
    let Ok(format) = std::str::from_utf8(format) else {
        return;
    };
    let config = ParserConfig::Nginx(NginxConfig {
        format: format.to_owned(),
        ..NginxConfig::default()
    });
    if let Ok(parser) = config.build() {
        let _ = parser.parse(line.get(1..).unwrap_or_default());
        let _ = parser.parse(format.as_bytes());
    }
});
