//! The flood: input far faster than a deliberately slow output (a `file`
//! output into a named pipe read at about 6 MB/s). The buffer holds what
//! it is configured to hold and no more: `block` slows the source and
//! delivers everything, `drop_newest` drops and counts exactly what is
//! missing, and resident memory stays under the buffer's bound plus a
//! fixed overhead, with a memory buffer and with a disk buffer.

use std::process::Stdio;

use crate::slow_pipe::{SlowReader, mkfifo, wait_measuring};
use crate::support::{levee, toml_path};

/// The slow reader's pace: about what the measurements used.
const RATE: u64 = 6_000_000;

/// The pace for the `drop_newest` floods, slower: 200,000 lines (about
/// 40 MB) must come faster than the reader takes them, and a debug build
/// on a loaded machine once generated them so slowly that 6 MB/s kept up.
const DROP_RATE: u64 = 1_500_000;

/// What one flood did.
struct Flood {
    generated: u64,
    delivered: u64,
    dropped: u64,
    peak_rss_kib: u64,
}

fn flood(lines: u64, buffer: &str, rate: u64) -> Flood {
    let tmp = tempfile::tempdir().unwrap();
    let fifo = tmp.path().join("slow.pipe");
    mkfifo(&fifo);
    let config = tmp.path().join("c.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = {data}\n\
             [sources.gen]\ntype = \"generate\"\ndataset = \"nginx\"\nlines = {lines}\n\
             start = \"2018-09-01\"\ntag = \"nginx.access\"\n\
             parser = {{ type = \"nginx\", format = \"combined_request_time\" }}\n\
             [outputs.slow]\nmatch = \"**\"\ntype = \"file\"\npath = {fifo}\nbuffer = {buffer}\n",
            data = toml_path(&tmp.path().join("data")),
            fifo = toml_path(&fifo),
        ),
    )
    .unwrap();
    let reader = SlowReader::start(&fifo, rate, true);
    let child = levee()
        .args(["run", "--exit-on-eof", "-c"])
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (out, peak_rss_kib) = wait_measuring(child);
    let read = reader.finish();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let delivered = read.iter().filter(|&&b| b == b'\n').count() as u64;
    let dropped = stderr
        .lines()
        .find_map(|l| l.strip_prefix("output slow: "))
        .and_then(|l| l.split(", ").find_map(|part| part.strip_suffix(" dropped")))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no drop count in:\n{stderr}"));
    let flood = Flood {
        generated: lines,
        delivered,
        dropped,
        peak_rss_kib,
    };
    eprintln!(
        "flood with buffer = {buffer}: {} generated, {} delivered, {} dropped, peak RSS {} KiB",
        flood.generated, flood.delivered, flood.dropped, flood.peak_rss_kib
    );
    // Every flood, whatever its buffer and `when_full`, stays bounded.
    assert!(
        flood.peak_rss_kib < memory_bound_kib(),
        "{} KiB",
        flood.peak_rss_kib
    );
    flood
}

/// The bound on peak RSS: the buffer's bound (memory: a full buffer costs
/// about 1.5 times its `max_bytes`, see `BufferConfig::max_bytes`; disk:
/// only the batch in flight is in memory) plus a fixed overhead for the
/// runtime, the source's, router's and sink's batches and the allocator's
/// slack. Measured in a debug build with 8MiB buffers: 62 MiB peak with
/// the memory buffer, 62 to 68 MiB with the disk buffer (each test prints
/// its figure). The bound is generous on purpose: it catches a buffer
/// that stops bounding (200,000 nginx events held at once are about
/// 180 MiB), not noise.
const OVERHEAD_KIB: u64 = 72 * 1024;

fn memory_bound_kib() -> u64 {
    8 * 1024 * 3 / 2 + OVERHEAD_KIB
}

/// `drop_newest`: the output fell behind, and what it dropped is counted
/// to the line.
fn counts_exactly_what_is_missing(f: Flood) {
    assert!(f.dropped > 0, "the output kept up: no flood");
    assert_eq!(f.delivered + f.dropped, f.generated);
}

/// `block`: the source waits, so nothing is lost.
fn delivers_everything(f: Flood) {
    assert_eq!((f.delivered, f.dropped), (f.generated, 0));
}

#[cfg(unix)]
#[test]
fn flood_memory_buffer_drop_newest_counts_exactly_what_is_missing() {
    counts_exactly_what_is_missing(flood(
        200_000,
        "{ max_bytes = \"8MiB\", when_full = \"drop_newest\" }",
        DROP_RATE,
    ));
}

#[cfg(unix)]
#[test]
fn flood_memory_buffer_block_delivers_everything() {
    delivers_everything(flood(
        50_000,
        "{ max_bytes = \"8MiB\", when_full = \"block\" }",
        RATE,
    ));
}

#[cfg(unix)]
#[test]
fn flood_disk_buffer_drop_newest_counts_exactly_what_is_missing() {
    counts_exactly_what_is_missing(flood(
        200_000,
        "{ type = \"disk\", max_bytes = \"8MiB\", when_full = \"drop_newest\" }",
        DROP_RATE,
    ));
}

#[cfg(unix)]
#[test]
fn flood_disk_buffer_block_delivers_everything() {
    delivers_everything(flood(
        50_000,
        "{ type = \"disk\", max_bytes = \"8MiB\", when_full = \"block\" }",
        RATE,
    ));
}
