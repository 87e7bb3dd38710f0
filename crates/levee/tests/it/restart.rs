//! Stopping and starting levee again: a clean stop lets a restart read on
//! where it stopped; a kill makes it read again from the last clean stop.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::support::{Running, levee, ok, sigterm, toml_path};

/// `prefix0`, `prefix1`, ... one per line, for `range`.
fn lines(prefix: &str, range: std::ops::Range<usize>) -> String {
    range.map(|i| format!("{prefix}{i}\n")).collect()
}

fn append(path: &Path, text: &str) {
    use std::io::Write as _;
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
}

/// The messages in the output file, in order.
fn delivered(out: &Path) -> Vec<String> {
    std::fs::read_to_string(out)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|r| r["message"].as_str().map(str::to_owned))
        .collect()
}

/// Fails with where the delivered lines first differ from `want`.
fn assert_delivered(out: &Path, want: &[String]) {
    let got = delivered(out);
    if got != want {
        let at = got.iter().zip(want).take_while(|(g, w)| g == w).count();
        panic!(
            "{} lines delivered, {} expected; they differ at line {at}: {:?} against {:?}",
            got.len(),
            want.len(),
            got.get(at),
            want.get(at)
        );
    }
}

fn owned(text: &str) -> Vec<String> {
    text.lines().map(str::to_owned).collect()
}

fn wait_for(out: &Path, count: usize) {
    let started = Instant::now();
    while delivered(out).len() < count {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{} of {count} lines after 60 s",
            delivered(out).len()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[cfg(unix)]
#[test]
fn a_restart_reads_on_where_the_last_clean_stop_left_the_log() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let log = dir.join("access.log");
    let out = dir.join("out.ndjson");
    let config = dir.join("c.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = {data}\n[sources.app]\ntype = \"tail\"\npaths = [{log}]\ntag = \"app\"\n\
             poll_interval = \"20ms\"\n\
             [outputs.out]\nmatch = \"app\"\ntype = \"file\"\npath = {out}\n\
             buffer = {{ flush_interval = \"50ms\" }}\n",
            data = toml_path(&dir.join("data")),
            log = toml_path(&log),
            out = toml_path(&out),
        ),
    )
    .unwrap();
    let backfill = || ok(levee().args(["run", "--exit-on-eof", "-c"]).arg(&config));
    let start = || {
        Running(
            levee()
                .args(["run", "-c"])
                .arg(&config)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        )
    };

    // A backfill to the end, then another: the second reads only what came.
    append(&log, &lines("a", 0..1000));
    backfill();
    append(&log, &lines("a", 1000..1500));
    backfill();
    assert_delivered(&out, &owned(&lines("a", 0..1500)));

    // Stopped by SIGTERM while following: read on from there.
    let mut running = start();
    append(&log, &lines("a", 1500..2000));
    wait_for(&out, 2000);
    sigterm(&running.0);
    assert!(running.0.wait().unwrap().success());
    drop(running);
    append(&log, &lines("a", 2000..2100));
    backfill();
    assert_delivered(&out, &owned(&lines("a", 0..2100)));

    // Killed: its checkpoint was never committed, so the next start reads
    // again from the last clean stop. Lines repeat; none is lost.
    let mut running = start();
    append(&log, &lines("a", 2100..2300));
    wait_for(&out, 2300);
    running.0.kill().unwrap();
    running.0.wait().unwrap();
    drop(running);
    backfill();
    let want = owned(&(lines("a", 0..2300) + &lines("a", 2100..2300)));
    assert_delivered(&out, &want);
}
