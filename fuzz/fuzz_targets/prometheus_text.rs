//! Any bytes as a Prometheus exposition page: parsing may fail, never
//! panic; an error names a line of the page; a parsed page's families all
//! have samples or descriptors.
#![no_main]

use levee_pipeline::metrics::parse::parse;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(page) = std::str::from_utf8(data) else {
        return;
    };
    match parse(page) {
        Ok(families) => {
            for family in families {
                assert!(!family.name.is_empty());
            }
        }
        Err(error) => assert!(error.line >= 1 && error.line <= page.split('\n').count()),
    }
});
