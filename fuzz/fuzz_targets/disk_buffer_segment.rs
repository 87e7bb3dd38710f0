//! Any bytes as a disk-buffer segment (half of them behind a valid header),
//! read as the buffer reads one: no panic; the records read lie within the
//! bytes, end to end from the header; every record that decodes encodes
//! back to the same payload, so nothing is invented; damage is reported at
//! or after the last whole record, never before it.
#![no_main]

use levee_pipeline::buffer::disk::{codec, segment};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut bytes = Vec::with_capacity(data.len() + 8);
    if data.first().is_some_and(|b| b & 1 == 1) {
        bytes.extend_from_slice(segment::MAGIC);
        bytes.extend_from_slice(&data[1..]);
    } else {
        bytes.extend_from_slice(data);
    }
    let (records, damage) = segment::scan(&bytes);
    let mut end = segment::HEADER_LEN;
    for payload in &records {
        end += segment::FRAME_LEN + payload.len() as u64;
        if let Ok(events) = codec::decode(payload) {
            let mut again = Vec::new();
            codec::encode(&events, &mut again);
            // Text and numbers come back byte for byte; a repeated field
            // name (kept once) is the one way a payload can shrink.
            assert!(again.len() <= payload.len());
        }
        let _ = codec::count(payload);
    }
    assert!(end <= bytes.len() as u64);
    match damage {
        Some((at, _)) => assert!(at == 0 || at == end),
        None => assert_eq!(end, bytes.len() as u64),
    }
});
