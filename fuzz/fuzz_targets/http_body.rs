//! Any bytes as the body of a request to the http source: the first byte
//! picks how it is sent (as is, gzip, zstd, or gzip made here so that the
//! JSON reader behind it is reached), then it is inflated (to a 256 KiB
//! cap) and read into records, as the source does: no panic; nothing
//! inflates past the cap; no more records than the limit; an error names
//! a line the body has; records read come back the same written as NDJSON.
#![no_main]

use std::io::Write;

use levee_io::sources::http::body::{self, BodyError, Encoding};
use libfuzzer_sys::fuzz_target;

const MAX_DECOMPRESSED: usize = 256 * 1024;
const MAX_RECORDS: usize = 64;

fuzz_target!(|data: &[u8]| {
    let Some((&first, bytes)) = data.split_first() else {
        return;
    };
    let made;
    let (sent, encoding): (&[u8], Encoding) = match first % 4 {
        0 => (bytes, Encoding::Identity),
        1 => (bytes, Encoding::Gzip),
        2 => (bytes, Encoding::Zstd),
        _ => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(bytes).unwrap();
            made = e.finish().unwrap();
            (&made, Encoding::Gzip)
        }
    };
    let text = match body::decompress(sent, encoding, MAX_DECOMPRESSED) {
        Ok(text) => text,
        Err(BodyError::DecompressedTooLarge { limit }) => {
            assert_eq!(limit, MAX_DECOMPRESSED);
            return;
        }
        Err(_) => return,
    };
    assert!(text.len() <= MAX_DECOMPRESSED);
    match body::records(&text, MAX_RECORDS) {
        Ok(records) => {
            assert!(records.len() <= MAX_RECORDS);
            let mut ndjson = Vec::new();
            for record in &records {
                serde_json::to_writer(&mut ndjson, record).unwrap();
                ndjson.push(b'\n');
            }
            if !records.is_empty() {
                assert_eq!(body::records(&ndjson, MAX_RECORDS).unwrap(), records);
            }
        }
        Err(BodyError::Invalid { line, column, .. }) => {
            let lines = 1 + text.iter().filter(|&&b| b == b'\n').count();
            assert!(line >= 1 && line <= lines, "line {line} of {lines}");
            assert!(column >= 1);
        }
        Err(BodyError::Truncated { line, .. }) => {
            let lines = 1 + text.iter().filter(|&&b| b == b'\n').count();
            assert!(line >= 1 && line <= lines, "line {line} of {lines}");
        }
        Err(BodyError::TooManyRecords { limit }) => assert_eq!(limit, MAX_RECORDS),
        Err(BodyError::Empty) => assert!(text.trim_ascii().is_empty() || text.starts_with(b"\xEF\xBB\xBF")),
        Err(e) => panic!("a decoded body cannot fail to inflate: {e}"),
    }
});
