//! One output that hangs (a `file` output into a FIFO nobody reads, so its
//! open never returns) holds back no route that does not feed it; a source
//! that feeds it follows its `when_full`. The real binary, a real FIFO.

use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use std::process::{Child, Stdio};
use std::time::Duration;

use crate::slow_pipe::mkfifo;
use crate::support::{Running, count, files, levee, metrics_addr, scrape, toml_path, wait_until};

/// Lines the lake's route carries: several times what the stages in
/// between hold (a 256KiB read, four 1024-event batches in the source's
/// channel, a 64KiB buffer), so a source held back cannot have read them
/// all.
const LAKE_LINES: u64 = 30_000;

/// `n` lines of about 100 bytes, so that what a source reads ahead (256KiB
/// at a time) is a small part of them.
fn numbered(path: &Path, who: &str, n: u64) {
    let pad = "x".repeat(90);
    let body: String = (0..n).map(|i| format!("{who} {i} {pad}\n")).collect();
    std::fs::write(path, body).unwrap();
}

/// `levee run --exit-on-eof` on `config` in `dir` (its relative paths are
/// from there), and the metrics address it logs.
fn start(dir: &Path, config: &str) -> (Running, String) {
    let path = dir.join("c.toml");
    std::fs::write(&path, config).unwrap();
    let mut child: Child = levee()
        .args(["run", "--exit-on-eof", "-c"])
        .arg(&path)
        .current_dir(dir)
        .env("LEVEE_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let running = Running(child);
    let addr = metrics_addr(&mut stderr);
    // Keep draining its log so levee never blocks writing it.
    std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
    (running, addr)
}

/// The value of the series `series` (name and labels, as printed).
fn metric(addr: &str, series: &str) -> Option<u64> {
    scrape(addr).lines().find_map(|l| {
        l.strip_prefix(series)
            .and_then(|rest| rest.trim().parse::<f64>().ok())
            .map(|v| v as u64)
    })
}

/// Waits until `series` reaches at least `at_least`; fails after 60 s.
fn wait_for(addr: &str, series: &str, at_least: u64) -> u64 {
    wait_until(
        Duration::from_secs(60),
        format_args!("{series} not at {at_least}"),
        || metric(addr, series).filter(|&now| now >= at_least),
    )
}

/// Opens the FIFO's reading end (which lets the hung open return) and
/// reads it to its end on a thread: the lines it got.
fn release(fifo: PathBuf) -> std::thread::JoinHandle<Vec<String>> {
    std::thread::spawn(move || {
        let mut text = String::new();
        std::fs::File::open(&fifo)
            .unwrap()
            .read_to_string(&mut text)
            .unwrap();
        text.lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter_map(|r| r["message"].as_str().map(str::to_owned))
            .collect()
    })
}

fn lake_rows(dir: &Path) -> u64 {
    count(
        dir,
        "select count(*) from read_json_auto('lake/db/t/json/*/*/*.ndjson.zst', compression = 'zstd')",
    )
}

/// The lake stores its chunks by age while levee runs: a source waits for
/// its acks before it ends, and with the hung route's source never ending,
/// no shutdown would store them.
const LAKE_OUTPUT: &str = "[outputs.lake]\nmatch = \"a\"\ntype = \"lake\"\nlake = \"lake\"\n\
                           database = \"db\"\ntable = \"t\"\nchunk_interval = \"200ms\"\n";

/// Today's failure: the lake got 0 lines while the FIFO's open hung.
#[cfg(unix)]
#[test]
fn a_file_output_into_a_fifo_nobody_reads_holds_back_no_other_route() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    mkfifo(&dir.join("pipe"));
    numbered(&dir.join("a.log"), "a", LAKE_LINES);
    numbered(&dir.join("b.log"), "b", 1_000);
    // The hung output first: were outputs opened one by one, in order,
    // nothing would start.
    let config = format!(
        "data_dir = \"data\"\n[metrics]\nlisten = \"127.0.0.1:0\"\n\
         [sources.a]\ntype = \"tail\"\npaths = [{a}]\ntag = \"a\"\n\
         [sources.b]\ntype = \"tail\"\npaths = [{b}]\ntag = \"b\"\n\
         [outputs.stuck]\nmatch = \"b\"\ntype = \"file\"\npath = {pipe}\n\
         {LAKE_OUTPUT}",
        a = toml_path(&dir.join("a.log")),
        b = toml_path(&dir.join("b.log")),
        pipe = toml_path(&dir.join("pipe")),
    );
    let (mut levee, addr) = start(dir, &config);
    // Stored, as the lake counts: every line of its route.
    wait_for(
        &addr,
        "levee_output_events_total{output=\"lake\",type=\"lake\"}",
        LAKE_LINES,
    );
    assert_eq!(
        metric(
            &addr,
            "levee_output_events_total{output=\"stuck\",type=\"file\"}"
        ),
        Some(0)
    );
    // The bytes it stored are the chunks as they lie in the lake: counted
    // at each put, before the put's events are reported stored.
    let chunk_bytes: u64 = files(&dir.join("lake"))
        .iter()
        .filter(|p| p.to_string_lossy().ends_with(".ndjson.zst"))
        .map(|p| std::fs::metadata(p).unwrap().len())
        .sum();
    assert!(chunk_bytes > 0);
    assert_eq!(
        metric(
            &addr,
            "levee_output_bytes_total{output=\"lake\",type=\"lake\"}"
        ),
        Some(chunk_bytes)
    );
    // A reader comes: the hung route delivers all it held, and levee ends.
    let piped = release(dir.join("pipe"));
    levee.exits_ok(Duration::from_secs(60));
    assert_eq!(piped.join().unwrap().len(), 1_000);
    assert_eq!(lake_rows(dir), LAKE_LINES);
}

/// One source feeding the lake and the hung output.
fn feeding_both(dir: &Path, when_full: &str) -> String {
    mkfifo(&dir.join("pipe"));
    numbered(&dir.join("a.log"), "a", LAKE_LINES);
    format!(
        "data_dir = \"data\"\n[metrics]\nlisten = \"127.0.0.1:0\"\n\
         [sources.a]\ntype = \"tail\"\npaths = [{a}]\ntag = \"a\"\n\
         [outputs.stuck]\nmatch = \"a\"\ntype = \"file\"\npath = {pipe}\n\
         buffer = {{ max_bytes = \"64KiB\", batch_max_bytes = \"16KiB\", when_full = \"{when_full}\" }}\n\
         {LAKE_OUTPUT}",
        a = toml_path(&dir.join("a.log")),
        pipe = toml_path(&dir.join("pipe")),
    )
}

#[cfg(unix)]
#[test]
fn a_source_feeding_a_hung_output_that_blocks_waits_for_it() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (mut levee, addr) = start(dir, &feeding_both(dir, "block"));
    // The hung output's buffer fills; from then on its source waits.
    wait_for(
        &addr,
        "levee_buffer_bytes{output=\"stuck\",type=\"file\"}",
        60 * 1024,
    );
    // The README's first sign of an output falling behind: the age of the
    // oldest waiting event climbs while nothing moves; beside it, the
    // buffer's limit and the batches waiting in it.
    wait_for(
        &addr,
        "levee_buffer_oldest_age_seconds{output=\"stuck\",type=\"file\"}",
        2,
    );
    assert_eq!(
        metric(
            &addr,
            "levee_buffer_limit_bytes{output=\"stuck\",type=\"file\"}"
        ),
        Some(64 * 1024)
    );
    let waiting = metric(
        &addr,
        "levee_buffer_queue_length{output=\"stuck\",type=\"file\"}",
    );
    assert!(waiting >= Some(3), "64KiB in 16KiB batches: {waiting:?}");
    let read = metric(&addr, "levee_source_events_total{source=\"a\"}").unwrap();
    assert!(
        read < LAKE_LINES,
        "the source must wait for the full buffer, read {read}"
    );
    assert_eq!(
        metric(
            &addr,
            "levee_output_dropped_events_total{output=\"stuck\",type=\"file\",reason=\"buffer_full\"}"
        )
        .unwrap_or(0),
        0,
        "block never drops"
    );
    // Released, both outputs get every line.
    let piped = release(dir.join("pipe"));
    levee.exits_ok(Duration::from_secs(60));
    assert_eq!(piped.join().unwrap().len() as u64, LAKE_LINES);
    assert_eq!(lake_rows(dir), LAKE_LINES);
}

#[cfg(unix)]
#[test]
fn a_source_feeding_a_hung_output_that_drops_keeps_feeding_the_lake() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (mut levee, addr) = start(dir, &feeding_both(dir, "drop_newest"));
    wait_for(
        &addr,
        "levee_output_events_total{output=\"lake\",type=\"lake\"}",
        LAKE_LINES,
    );
    let dropped = metric(
        &addr,
        "levee_output_dropped_events_total{output=\"stuck\",type=\"file\",reason=\"buffer_full\"}",
    )
    .unwrap();
    assert!(dropped > 0, "the hung output's buffer overflowed");
    let piped = release(dir.join("pipe"));
    levee.exits_ok(Duration::from_secs(60));
    // Every line is in the FIFO or counted as dropped, exactly.
    assert_eq!(piped.join().unwrap().len() as u64 + dropped, LAKE_LINES);
    assert_eq!(lake_rows(dir), LAKE_LINES);
}
