//! The `http` output against a real HTTP server (Python's http.server,
//! `http_server.py`), fed by a real `levee run` reading stdin.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::support::{Running, levee, metrics_addr, python, scrape, toml_path, wait_until};

/// The test server, killed with the test.
struct Server {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Starts `http_server.py` answering its requests with `script`, in turn.
    fn start(dir: &Path, script: &[&str]) -> Server {
        let log = dir.join("requests.ndjson");
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/http_server.py");
        let mut child = Command::new(python())
            .arg(path)
            .arg(&log)
            .args(script)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line.trim().parse().expect("the server's port");
        Server { child, port, log }
    }

    /// Every request the server took, in order.
    fn requests(&self) -> Vec<Value> {
        crate::support::written_lines(&self.log)
    }
}

/// `n` JSON records, numbered in `n`.
fn input(n: usize) -> Vec<u8> {
    (0..n)
        .map(|i| format!("{{\"n\":{i},\"msg\":\"hello {i}\"}}\n"))
        .collect::<String>()
        .into_bytes()
}

/// How often each `n` arrived in requests answered 2xx.
fn stored(requests: &[Value]) -> BTreeMap<i64, usize> {
    let mut seen = BTreeMap::new();
    for r in requests.iter().filter(|r| r["status"] == 200) {
        for rec in r["records"].as_array().unwrap() {
            *seen.entry(rec["n"].as_i64().unwrap()).or_default() += 1;
        }
    }
    seen
}

fn every_record_once(n: usize) -> BTreeMap<i64, usize> {
    (0..n as i64).map(|i| (i, 1)).collect()
}

/// Runs levee with stdin into an http output at the server (`extra`: more
/// keys of that output), feeds `records`, waits until `/metrics` shows
/// `done`, then closes stdin and waits for a clean exit.
fn run(dir: &Path, server: &Server, extra: &str, records: usize, done: &dyn Fn(&str) -> bool) {
    let config = format!(
        "data_dir = {data}\n[metrics]\nlisten = \"127.0.0.1:0\"\n\
         [sources.in]\ntype = \"stdin\"\ntag = \"in\"\nparser = {{ type = \"json\" }}\n\
         [outputs.out]\nmatch = \"in\"\ntype = \"http\"\nurl = \"http://127.0.0.1:{port}/ingest\"\n{extra}\n",
        data = toml_path(&dir.join("data")),
        port = server.port,
    );
    std::fs::write(dir.join("c.toml"), config).unwrap();
    let mut child = levee()
        .args(["run", "-c"])
        .arg(dir.join("c.toml"))
        .env("LEVEE_LOG", "info")
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut running = Running(child);
    let addr = metrics_addr(&mut stderr);
    // Drained, so that retry warnings never fill the pipe.
    std::thread::spawn(move || {
        let mut sink = Vec::new();
        let _ = stderr.read_to_end(&mut sink);
    });
    stdin.write_all(&input(records)).unwrap();
    wait_until(Duration::from_secs(60), "the output did not finish", || {
        done(&scrape(&addr)).then_some(())
    });
    drop(stdin);
    running.exits_ok(Duration::from_secs(30));
}

/// The value of the metric line that starts with `name{` and holds every
/// one of `labels`.
fn metric(page: &str, name: &str, labels: &[&str]) -> Option<u64> {
    page.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")))
        .find(|l| labels.iter().all(|x| l.contains(x)))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

fn stored_metric(page: &str, n: u64) -> bool {
    metric(page, "levee_output_events_total", &["output=\"out\""]) == Some(n)
}

#[test]
fn http_output_sends_many_records_per_request_gzip_with_headers_and_auth() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let n = 2_000;
    run(
        dir.path(),
        &server,
        "max_batch_events = 300\ncompression = \"gzip\"\n\
         headers = { \"X-Source\" = \"levee-test\" }\n\
         auth = { type = \"bearer\", token = \"s3cret\" }",
        n,
        &|page| stored_metric(page, n as u64),
    );
    let requests = server.requests();
    assert!(requests.len() < n / 10, "{} requests", requests.len());
    assert!(
        requests
            .iter()
            .all(|r| r["records"].as_array().unwrap().len() <= 300)
    );
    for r in &requests {
        assert_eq!(r["encoding"], "gzip");
        assert_eq!(r["content_type"], "application/x-ndjson");
        assert_eq!(r["authorization"], "Bearer s3cret");
        assert_eq!(r["x_source"], "levee-test");
        assert_eq!(r["path"], "/ingest");
    }
    assert_eq!(stored(&requests), every_record_once(n));
}

#[test]
fn http_output_loses_nothing_when_the_server_answers_503_then_200() {
    let dir = tempfile::tempdir().unwrap();
    // The second request fails twice; if it is of the same batch as the
    // first, the first (answered 200) is not sent again.
    let server = Server::start(dir.path(), &["200", "503", "503", "200"]);
    let n = 500;
    run(
        dir.path(),
        &server,
        "max_batch_events = 100\nformat = \"json_array\"\n\
         auth = { type = \"basic\", user = \"u\", password = \"p\" }\n\
         retry = { initial_backoff = \"20ms\" }\nbuffer = { flush_interval = \"2s\" }",
        n,
        &|page| stored_metric(page, n as u64),
    );
    let requests = server.requests();
    assert_eq!(requests[1]["status"], 503);
    assert_eq!(requests[2]["status"], 503);
    for r in &requests {
        assert_eq!(r["content_type"], "application/json");
        assert_eq!(r["authorization"], "Basic dTpw");
    }
    assert_eq!(stored(&requests), every_record_once(n));
}

#[test]
fn http_output_waits_as_long_as_retry_after_says() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["429:2"]);
    let n = 50;
    run(
        dir.path(),
        &server,
        "retry = { initial_backoff = \"10ms\" }",
        n,
        &|page| stored_metric(page, n as u64),
    );
    let requests = server.requests();
    assert_eq!(requests[0]["status"], 429);
    let gap = requests[1]["at"].as_f64().unwrap() - requests[0]["at"].as_f64().unwrap();
    assert!(gap >= 2.0, "retried after {gap} s, not the 2 s asked");
    assert_eq!(stored(&requests), every_record_once(n));
}

#[test]
fn http_output_sends_a_batch_answered_400_to_the_secondary_and_counts_it() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["200", "400"]);
    let dead = dir.path().join("dead.ndjson");
    let n = 50;
    let secondary = |page: &str| {
        metric(
            page,
            "levee_output_secondary_events_total",
            &["output=\"out\"", "malformed"],
        )
    };
    run(
        dir.path(),
        &server,
        &format!(
            "max_batch_events = 10\nbuffer = {{ flush_interval = \"2s\" }}\n\
             secondary = {{ type = \"file\", path = {} }}",
            toml_path(&dead)
        ),
        n,
        &|page| {
            let sent = metric(page, "levee_output_events_total", &["output=\"out\""]);
            matches!((sent, secondary(page)), (Some(a), Some(b)) if b > 0 && a + b == n as u64)
        },
    );
    let requests = server.requests();
    // Not asked again: 400 is the server's final word.
    let refused: Vec<i64> = requests[1]["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["n"].as_i64().unwrap())
        .collect();
    assert!(!refused.is_empty() && refused.len() <= 10);
    assert_eq!(requests.iter().filter(|r| r["status"] == 400).count(), 1);
    let in_dead: Vec<i64> = std::fs::read_to_string(&dead)
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["n"]
                .as_i64()
                .unwrap()
        })
        .collect();
    assert_eq!(in_dead, refused);
    let mut expected = every_record_once(n);
    for i in &refused {
        expected.remove(i);
    }
    assert_eq!(stored(&requests), expected);
}
