//! levee keeps running, and delivering, when nobody reads its stderr.

use std::process::Stdio;
use std::time::Duration;

use crate::support::{Running, levee, toml_path};

/// The defect: with its stderr pipe closed, the first log line failed
/// with EPIPE, tracing's fallback `eprintln!` panicked inside the tail
/// task, and `levee run` died with exit 101 without delivering.
#[test]
fn a_closed_stderr_neither_kills_levee_nor_loses_lines() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    let out = dir.path().join("out.ndjson");
    let lines: String = (0..2000).map(|i| format!("line {i}\n")).collect();
    std::fs::write(&log, lines).unwrap();
    let config = dir.path().join("c.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = {data}\n[sources.app]\ntype = \"tail\"\npaths = [{log}]\ntag = \"app\"\n\
             [outputs.out]\nmatch = \"app\"\ntype = \"file\"\npath = {out}\n",
            data = toml_path(&dir.path().join("data")),
            log = toml_path(&log),
            out = toml_path(&out),
        ),
    )
    .unwrap();
    let mut child = levee()
        .args(["run", "--exit-on-eof", "-c"])
        .arg(&config)
        // Debug logging: many lines to write into the closed pipe.
        .env("LEVEE_LOG", "debug")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Nobody will read levee's messages: every write to stderr fails.
    drop(child.stderr.take());
    Running(child).exits_ok(Duration::from_secs(60));
    let delivered = std::fs::read_to_string(&out).unwrap().lines().count();
    assert_eq!(delivered, 2000);
}
