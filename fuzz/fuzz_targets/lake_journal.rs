//! Any bytes as a lake coverage journal: no panic, no allocation past the
//! payload limit, and every record read encodes back to the bytes it was
//! read from (so a damaged journal never yields a record it did not hold).
//! The first byte picks how the rest is laid out: as the whole file,
//! behind a valid header, or as one payload in a frame with a valid
//! checksum (so the record decoder itself is reached).
#![no_main]

use levee_io::sinks::lake::journal::{self, MAGIC};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let bytes = match mode % 3 {
        0 => rest.to_vec(),
        1 => [&MAGIC[..], rest].concat(),
        _ => {
            let mut bytes = MAGIC.to_vec();
            bytes.extend_from_slice(&(rest.len() as u32).to_le_bytes());
            bytes.extend_from_slice(&crc32fast::hash(rest).to_le_bytes());
            bytes.extend_from_slice(rest);
            bytes
        }
    };
    let decoded = journal::decode(&bytes);
    let mut again = MAGIC.to_vec();
    for record in &decoded.records {
        journal::encode(record, &mut again);
    }
    if !decoded.records.is_empty() {
        assert_eq!(&bytes[..again.len()], &again[..]);
    }
    match decoded.damage {
        None => assert!(bytes.len() <= MAGIC.len() || again.len() == bytes.len()),
        Some(journal::Damage::Torn { at } | journal::Damage::Invalid { at, .. }) => {
            // Reading stopped at the header, or right after the last record.
            assert!(at == 0 || at == again.len(), "{at} {}", again.len());
        }
    }
});
