//! The `forward` output end to end: one `levee run` forwarding to another
//! (a `forward` source into a `file` output), with the receiver killed and
//! started again in the middle, failover to a standby, and the bytes
//! checked by a receiver made with Python's `msgpack` package.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{ChildStdin, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::support::{Running, levee, python, toml_path, wait_until};

/// A port nothing listens on now, for a receiver that must come back on
/// the same one.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts `levee run` on `config` (written into `dir` as `name.toml`) with
/// stdin piped; returns once its stderr shows `ready` (if given).
fn run(dir: &Path, name: &str, config: &str, ready: Option<&str>) -> (Running, ChildStdin) {
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, config).unwrap();
    let mut child = levee()
        .args(["run", "-c"])
        .arg(&path)
        .env("LEVEE_LOG", "info")
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdin = child.stdin.take().unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let running = Running(child);
    if let Some(ready) = ready {
        let mut line = String::new();
        loop {
            line.clear();
            assert!(
                stderr.read_line(&mut line).unwrap() > 0,
                "{name} exited early"
            );
            if line.contains(ready) {
                break;
            }
        }
    }
    // Keep reading, or a levee that logs a lot (every failed write while
    // its receiver is down) would block on a full pipe.
    std::thread::spawn(move || {
        let mut sink = Vec::new();
        let _ = stderr.read_to_end(&mut sink);
    });
    (running, stdin)
}

/// A receiving levee: a forward source on `port` (with `source_extra`
/// keys) into a file output at `out`.
fn receiver(dir: &Path, name: &str, port: u16, source_extra: &str, out: &Path) -> Running {
    let config = format!(
        "data_dir = {data}\n\
         [sources.fw]\ntype = \"forward\"\nlisten = \"127.0.0.1:{port}\"\n{source_extra}\n\
         [outputs.out]\nmatch = \"**\"\ntype = \"file\"\npath = {out}\n",
        data = toml_path(&dir.join(format!("{name}-data"))),
        out = toml_path(out),
    );
    run(dir, name, &config, Some("forward source listening")).0
}

/// A sending levee: JSON lines on stdin, tagged `app.events`, into a
/// forward output to `servers` (with `output_extra` keys), retried quickly.
fn sender(dir: &Path, servers: &[u16], output_extra: &str) -> (Running, ChildStdin) {
    let servers: Vec<String> = servers
        .iter()
        .map(|p| format!("\"127.0.0.1:{p}\""))
        .collect();
    let config = format!(
        "data_dir = {data}\n\
         [sources.in]\ntype = \"stdin\"\ntag = \"app.events\"\n\
         parser = {{ type = \"json\", time_key = \"ts\" }}\n\
         [outputs.fwd]\nmatch = \"app.**\"\ntype = \"forward\"\nservers = [{servers}]\n\
         require_ack = true\nack_timeout = \"10s\"\nconnect_timeout = \"2s\"\n{output_extra}\n\
         retry = {{ initial_backoff = \"20ms\", max_backoff = \"200ms\" }}\n\
         buffer = {{ flush_interval = \"20ms\" }}\n",
        data = toml_path(&dir.join("sender-data")),
        servers = servers.join(", "),
    );
    run(dir, "sender", &config, None)
}

/// Lines `from..to`, each `{"n": i, ...}` with a time to the nanosecond.
fn feed(stdin: &mut ChildStdin, from: u64, to: u64) {
    let mut text = String::new();
    for n in from..to {
        text.push_str(&format!(
            "{{\"n\": {n}, \"msg\": \"event {n}\", \"ts\": \"2024-06-01T00:00:{:02}.{n:09}Z\", \"nested\": {{\"f\": 0.5, \"list\": [1, \"two\", null]}}}}\n",
            n % 60
        ));
    }
    stdin.write_all(text.as_bytes()).unwrap();
    stdin.flush().unwrap();
}

fn records(path: &Path) -> Vec<Value> {
    crate::support::written_lines(path)
}

/// How many times each `n` arrived, over every file.
fn arrivals(paths: &[PathBuf]) -> BTreeMap<u64, usize> {
    let mut seen = BTreeMap::new();
    for path in paths {
        for r in records(path) {
            *seen.entry(r["n"].as_u64().expect("n")).or_insert(0) += 1;
        }
    }
    seen
}

/// Every `n` below `total` arrived at least once; returns the duplicates.
fn every_record_arrived(paths: &[PathBuf], total: u64) -> usize {
    let seen = arrivals(paths);
    let missing: Vec<u64> = (0..total).filter(|n| !seen.contains_key(n)).collect();
    assert!(
        missing.is_empty(),
        "{} missing, first {:?}",
        missing.len(),
        &missing[..missing.len().min(10)]
    );
    assert_eq!(seen.len() as u64, total, "only the numbers sent");
    seen.values().map(|c| c - 1).sum()
}

fn count(path: &Path) -> usize {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .count()
}

#[test]
fn a_receiver_killed_and_started_again_midstream_gets_every_record() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("received.ndjson");
    let port = free_port();
    let mut first = receiver(dir.path(), "receiver", port, "", &out);
    let (mut sender, mut stdin) = sender(dir.path(), &[port], "compression = \"gzip\"");

    // Traffic flows; the receiver is killed (SIGKILL) while it does.
    feed(&mut stdin, 0, 4000);
    wait_until(Duration::from_secs(30), "records arriving", || {
        (count(&out) >= 300).then_some(())
    });
    first.0.kill().unwrap();
    first.0.wait().unwrap();
    // More comes while it is down: the sender's buffer holds it, retrying.
    feed(&mut stdin, 4000, 6000);
    let _second = receiver(dir.path(), "receiver", port, "", &out);
    feed(&mut stdin, 6000, 8000);
    drop(stdin);
    sender.exits_ok(Duration::from_secs(60));

    let duplicates = every_record_arrived(std::slice::from_ref(&out), 8000);
    eprintln!("restart: 8000 records, {duplicates} duplicates");
    // A record is whole: nested values and floats survive the trip.
    let r = records(&out).into_iter().find(|r| r["n"] == 7).unwrap();
    assert_eq!(
        r["nested"],
        serde_json::json!({"f": 0.5, "list": [1, "two", null]})
    );
    assert_eq!(r["msg"], "event 7");
}

#[test]
fn the_standby_takes_over_while_the_primary_is_down_with_a_shared_key() {
    let dir = tempfile::tempdir().unwrap();
    let (primary_out, standby_out) = (
        dir.path().join("primary.ndjson"),
        dir.path().join("standby.ndjson"),
    );
    let key = "shared_key = \"s3cret\"";
    let (p1, p2) = (free_port(), free_port());
    let mut primary = receiver(dir.path(), "primary", p1, key, &primary_out);
    let _standby = receiver(dir.path(), "standby", p2, key, &standby_out);
    let (mut sender, mut stdin) = sender(dir.path(), &[p1, p2], key);

    feed(&mut stdin, 0, 1000);
    wait_until(Duration::from_secs(30), "the primary taking all", || {
        (count(&primary_out) >= 1000).then_some(())
    });
    assert_eq!(
        count(&standby_out),
        0,
        "the standby is idle while the primary works"
    );

    primary.0.kill().unwrap();
    primary.0.wait().unwrap();
    feed(&mut stdin, 1000, 2000);
    wait_until(Duration::from_secs(30), "the standby taking over", || {
        (count(&standby_out) >= 1000).then_some(())
    });
    drop(stdin);
    sender.exits_ok(Duration::from_secs(30));
    let duplicates = every_record_arrived(&[primary_out, standby_out], 2000);
    eprintln!("failover: 2000 records, {duplicates} duplicates");
}

#[test]
fn the_bytes_decode_with_pythons_msgpack() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("decoded.ndjson");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/forward_receiver.py");
    let mut child = Command::new(python())
        .arg(script)
        .arg(&out)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut port = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut port)
        .unwrap();
    let _python = Running(child);
    let port: u16 = port.trim().parse().expect("the receiver's port");
    for (compression, from) in [("none", 0), ("gzip", 100)] {
        let (mut sender, mut stdin) = sender(
            dir.path(),
            &[port],
            &format!("compression = \"{compression}\""),
        );
        feed(&mut stdin, from, from + 100);
        drop(stdin);
        sender.exits_ok(Duration::from_secs(30));
    }
    let lines = records(&out);
    assert_eq!(lines.len(), 200);
    for line in &lines {
        let n = line["record"]["n"].as_u64().unwrap();
        assert_eq!(line["tag"], "app.events");
        assert_eq!(line["compressed"], n >= 100);
        // EventTime, to the nanosecond: 2024-06-01T00:00:SS.n.
        assert_eq!(line["time"], serde_json::json!([1_717_200_000 + n % 60, n]));
        assert_eq!(
            line["record"]["nested"]["list"],
            serde_json::json!([1, "two", null])
        );
    }
}
