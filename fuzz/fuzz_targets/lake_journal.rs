//! Any bytes as a lake coverage journal: no panic, no allocation past the
//! payload limit, and every record read encodes back to the bytes it was
//! read from (so a damaged journal never yields a record it did not hold).
#![no_main]

use levee_io::sinks::lake::journal::{self, MAGIC};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Half the inputs behind a valid header, so frames get looked at.
    let bytes = if data.first().is_some_and(|b| b & 1 == 0) {
        [&MAGIC[..], &data[1..]].concat()
    } else {
        data.to_vec()
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
