//! Any bytes as a lake chunk's stored body, read as compaction reads it
//! (zstd frames that say their size in one call, anything else as a
//! stream): no panic, nothing past the limit, damage cut at a line's end,
//! and what it reads whole is what zstd's own stream decoder reads. The
//! first byte picks zstd, gzip or none, and whether the body is first made
//! of valid frames around the rest (so that the one call is reached).
#![no_main]

use std::io::Read;

use levee_lake::ChunkCompression;
use libfuzzer_sys::fuzz_target;

const LIMIT: u64 = 256 << 10;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let compression = match mode % 3 {
        0 => ChunkCompression::Zstd,
        1 => ChunkCompression::Gzip,
        _ => ChunkCompression::None,
    };
    let body = if compression == ChunkCompression::Zstd && mode & 0x80 != 0 {
        // The rest as text in two sized frames, with one byte changed.
        let half = rest.len() / 2;
        let mut body = zstd::bulk::compress(&rest[..half], 1).expect("compresses");
        body.extend(zstd::bulk::compress(&rest[half..], 1).expect("compresses"));
        if !body.is_empty() {
            let at = usize::from(mode & 0x7f) % body.len();
            body[at] ^= mode.rotate_left(3);
        }
        body
    } else {
        rest.to_vec()
    };
    let Ok(read) = levee_lake::compact::read_chunk_text(compression, &body, LIMIT) else {
        return;
    };
    assert!(read.text.len() as u64 <= LIMIT);
    if read.damage.is_some() {
        assert!(read.text.is_empty() || read.text.ends_with(b"\n"));
    }
    // An empty object holds no rows, whatever its name says.
    if compression == ChunkCompression::Zstd && read.damage.is_none() && !body.is_empty() {
        let mut streamed = Vec::new();
        let decoder = zstd::stream::read::Decoder::new(&body[..]).expect("a decoder");
        let whole = decoder.take(LIMIT + 1).read_to_end(&mut streamed);
        assert!(whole.is_ok(), "read whole, but the stream fails: {whole:?}");
        assert_eq!(streamed, read.text);
    }
});
