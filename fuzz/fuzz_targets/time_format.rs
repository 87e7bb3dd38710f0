//! Bytes up to the first `\n` as a `time_format` (and the byte after the
//! format picks a zone), the rest as the time text: compiling never
//! panics, and a compiled format reads any text without panicking.
#![no_main]

use levee_parse::time::TimeSpec;
use libfuzzer_sys::fuzz_target;

const ZONES: [Option<&str>; 4] = [
    None,
    Some("+05:30"),
    Some("Europe/Berlin"),
    Some("Australia/Lord_Howe"),
];

fuzz_target!(|data: &[u8]| {
    let (format, text) = match data.iter().position(|b| *b == b'\n') {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &[][..]),
    };
    let Ok(format) = std::str::from_utf8(format) else {
        return;
    };
    let zone = ZONES[usize::from(text.first().copied().unwrap_or(0)) % ZONES.len()];
    if let Ok(spec) = TimeSpec::new(Some(format), zone) {
        let _ = spec.parse_at(text, 1_718_452_800 * 1_000_000_000);
        if let Ok(n) = std::str::from_utf8(text)
            .unwrap_or("")
            .trim()
            .parse::<i64>()
        {
            let _ = spec.from_int(n);
        }
    }
});
