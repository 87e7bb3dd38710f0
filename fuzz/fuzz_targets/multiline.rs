//! Any bytes, cut at `\n` into lines, through a multiline joiner with small
//! limits: no panic, no record over the limits, and every byte comes out.
#![no_main]

use levee_parse::{Joined, Multiline};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&limits, text)) = data.split_first() else {
        return;
    };
    let max_lines = usize::from(limits & 0x0f) + 1;
    let max_bytes = usize::from(limits >> 4) * 4 + 1;
    let rule = Multiline::new(r"^\d", max_lines, max_bytes).expect("rule builds");
    let mut joiner = rule.joiner();
    let mut out = 0usize;
    let mut emit = |record: Joined<'_>| {
        assert!(record.text.len() <= max_bytes);
        assert!(record.text.split(|b| *b == b'\n').count() <= max_lines);
        out += record.text.len();
    };
    let mut lines = 0usize;
    for line in text.split(|b| *b == b'\n') {
        joiner.push(line, 0, &mut emit);
        assert!(joiner.pending_bytes() <= max_bytes);
        lines += 1;
    }
    joiner.flush(&mut emit);
    // Every byte of every line is in some record; only newlines between
    // lines in one record are added.
    let content = text.len() + 1 - lines;
    assert!(out >= content && out <= text.len());
});
