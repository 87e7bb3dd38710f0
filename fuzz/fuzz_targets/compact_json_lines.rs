//! Any UTF-8 as NDJSON for compaction's one read (each line read byte by
//! byte straight into Arrow columns): no panic, and when it takes the
//! lines, each is a JSON object serde_json takes too and each is a row.
//! The first byte picks whether the table has an event-time column.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let time_field = (mode % 2 == 0).then_some("time");
    let Some(rows) = levee_lake::read_lines_once(text, time_field) else {
        return;
    };
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| !l.bytes().all(|b| b.is_ascii_whitespace()))
        .collect();
    for line in &lines {
        let value: serde_json::Value =
            serde_json::from_str(line).expect("a line taken is JSON");
        assert!(value.is_object(), "a line taken is an object: {line}");
    }
    // Rows without columns (`{}` only) make no batch.
    assert!(rows == lines.len() || rows == 0, "{rows} rows of {} lines", lines.len());
});
