//! Any bytes as a CSV row: the first byte picks the column count (1 to 8)
//! and the delimiter (`,`, tab, `;`, `|`), the rest is the line. Parsing
//! may fail, never panic; an error's position never points past the line;
//! a parsed row has exactly one field per column.
#![no_main]

use levee_parse::{CsvConfig, FieldType, Parser, ParserConfig, Types};
use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;

const DELIMITERS: [&str; 4] = [",", "\t", ";", "|"];

static PARSERS: LazyLock<Vec<Parser>> = LazyLock::new(|| {
    let mut parsers = Vec::new();
    for delimiter in DELIMITERS {
        for count in 1..=8 {
            let columns: Vec<String> = (0..count).map(|i| format!("c{i}")).collect();
            let config = CsvConfig {
                // c1 is an integer column whenever there is one.
                types: if count > 1 {
                    Types::from([("c1".to_owned(), FieldType::Int)])
                } else {
                    Types::new()
                },
                time_key: Some("c0".to_owned()),
                time_format: None,
                time_zone: None,
                delimiter: delimiter.to_owned(),
                columns,
                skip_header: false,
            };
            parsers.push(ParserConfig::Csv(config).build().expect("csv config builds"));
        }
    }
    parsers
});

fuzz_target!(|data: &[u8]| {
    let Some((&pick, line)) = data.split_first() else {
        return;
    };
    let count = usize::from(pick % 8) + 1;
    let delimiter = usize::from(pick / 8) % DELIMITERS.len();
    let Some(parser) = PARSERS.get(delimiter * 8 + count - 1) else {
        return;
    };
    match parser.parse(line) {
        Ok(parsed) => assert_eq!(parsed.record.len(), count),
        Err(error) => assert!(error.position <= line.len(), "{error}"),
    }
});
