//! Any bytes as a disk-buffer segment (a third behind a valid header, a
//! third framed as one record with a valid checksum), read as the buffer
//! reads one: no panic; the records read lie end to end from the header
//! within the bytes; a record that decodes encodes back no longer than it
//! came (nothing is invented); damage is reported right after the last
//! whole record, never before it.
#![no_main]

use levee_pipeline::buffer::disk::{codec, segment};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // A third of the inputs as they are, a third behind a valid header, and
    // a third as one record with a valid checksum, so that the event
    // decoder is reached and not only the frame checks.
    let mut bytes = Vec::with_capacity(data.len() + 16);
    match data.first().map(|b| b % 3) {
        Some(1) => {
            bytes.extend_from_slice(segment::MAGIC);
            bytes.extend_from_slice(&data[1..]);
        }
        Some(2) => {
            bytes.extend_from_slice(segment::MAGIC);
            segment::frame(&data[1..], &mut bytes);
        }
        _ => bytes.extend_from_slice(data),
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
    // (A segment too short for its header has no records and no end.)
    assert!(records.is_empty() || end <= bytes.len() as u64);
    match damage {
        Some((at, _)) => assert!(at == 0 || at == end),
        None => assert_eq!(end, bytes.len() as u64),
    }
});
