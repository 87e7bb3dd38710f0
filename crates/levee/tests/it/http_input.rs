//! The `http` source in the real binary: requests as a client sends them
//! (raw HTTP/1.1 over a socket, and Python's urllib), a gzip body, a
//! malformed body refused whole, and backpressure answered 429.

use std::io::{BufRead, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::slow_pipe::{SlowReader, mkfifo};
use crate::support::{Running, python, start_run, toml_path};

/// A `levee run` with an http source named `web` on a port the system
/// chose, and where it listens.
struct Serving {
    _levee: Running,
    addr: String,
}

/// Starts levee with an `http` source (with `source_extra` keys) and
/// `outputs` (TOML), once it listens.
fn start(dir: &Path, source_extra: &str, outputs: &str) -> Serving {
    let config = format!(
        "data_dir = {data}\n[sources.web]\ntype = \"http\"\nlisten = \"127.0.0.1:0\"\n\
         {source_extra}\n{outputs}\n",
        data = toml_path(&dir.join("data")),
    );
    let (levee, mut stderr) = start_run(dir, &config);
    let mut line = String::new();
    let addr = loop {
        line.clear();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "levee exited early"
        );
        if line.contains("http source listening") {
            let (_, rest) = line.split_once("listen=").unwrap();
            break rest.split_whitespace().next().unwrap().to_owned();
        }
    };
    // Keep reading, or a levee that logs a lot would block on a full pipe.
    std::thread::spawn(move || {
        let mut sink = Vec::new();
        let _ = stderr.read_to_end(&mut sink);
    });
    Serving {
        _levee: levee,
        addr,
    }
}

fn file_output(name: &str, pattern: &str, path: &Path, extra: &str) -> String {
    format!(
        "[outputs.{name}]\nmatch = \"{pattern}\"\ntype = \"file\"\npath = {path}\n{extra}\n",
        path = toml_path(path)
    )
}

/// An answer: status, headers (names lowercased), body.
#[derive(Debug)]
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// POSTs `body` to `path` as curl would, with `headers` (`Name: value`
/// lines), and reads the answer.
fn post(addr: &str, path: &str, headers: &[&str], body: &[u8]) -> Answer {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\n\
         Content-Type: application/x-ndjson\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for h in headers {
        request.push_str(h);
        request.push_str("\r\n");
    }
    request.push_str("\r\n");
    let mut bytes = request.into_bytes();
    bytes.extend_from_slice(body);
    stream.write_all(&bytes).unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Answer {
        status,
        headers,
        body: body.to_owned(),
    }
}

fn lines(path: &Path) -> Vec<Value> {
    crate::support::written_lines(path)
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut child = Command::new("gzip")
        .arg("-c")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("gzip");
    let mut stdin = child.stdin.take().unwrap();
    let input = bytes.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&input).unwrap());
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    assert!(out.status.success());
    out.stdout
}

/// 200 means stored: every record of an answered request is in the
/// output's file when the answer comes, under its path's tag; gzip bodies
/// from gzip(1) and a JSON array from Python's urllib are read too.
#[test]
fn records_posted_are_in_the_output_when_answered_200() {
    let dir = tempfile::tempdir().unwrap();
    let (web, api) = (dir.path().join("web.ndjson"), dir.path().join("api.ndjson"));
    let outputs = format!(
        "{}{}",
        file_output("web", "web.**", &web, ""),
        file_output("api", "api", &api, "")
    );
    let s = start(dir.path(), "", &outputs);
    let answer = post(
        &s.addr,
        "/v1/logs/web.access",
        &[],
        b"{\"n\":1,\"path\":\"/\"}\n{\"n\":2,\"path\":\"/a\"}\n",
    );
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(answer.body.trim(), "{\"accepted\":2}");
    assert_eq!(lines(&web).len(), 2, "stored before the answer");

    let ndjson: String = (3..=1002).map(|n| format!("{{\"n\":{n}}}\n")).collect();
    let body = gzip(ndjson.as_bytes());
    let answer = post(&s.addr, "/web.error", &["Content-Encoding: gzip"], &body);
    assert_eq!(answer.status, 200, "{answer:?}");
    let web_lines = lines(&web);
    assert_eq!(web_lines.len(), 1002);
    let ns: Vec<i64> = web_lines.iter().map(|v| v["n"].as_i64().unwrap()).collect();
    assert_eq!(ns, (1..=1002).collect::<Vec<_>>());

    // Python's urllib, a client no one here wrote: a JSON array.
    let script = format!(
        r#"
import json, urllib.request
body = json.dumps([{{"user": "ann", "ok": True}}, {{"user": "bob", "ok": False}}]).encode()
req = urllib.request.Request("http://{addr}/v1/logs/api", data=body,
                             headers={{"Content-Type": "application/json"}})
with urllib.request.urlopen(req, timeout=60) as r:
    print(r.status, r.read().decode().strip())
"#,
        addr = s.addr
    );
    let out = Command::new(python())
        .arg("-c")
        .arg(script)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "200 {\"accepted\":2}"
    );
    let api_lines = lines(&api);
    assert_eq!(api_lines.len(), 2);
    assert_eq!(api_lines[1]["user"], "bob");
    assert_eq!(
        lines(&web).len(),
        1002,
        "the api tag went only to its output"
    );
}

/// A malformed body is 400, naming the line and what is wrong there, and
/// none of its good lines are delivered (all or nothing).
#[test]
fn a_malformed_body_is_400_with_its_line_and_nothing_of_it_is_delivered() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.ndjson");
    let s = start(dir.path(), "", &file_output("all", "**", &out, ""));
    let body = b"{\"n\":1}\n{\"n\":2}\n{\"n\":3}\n{\"n\":4, \"msg\": \"unterminated}\n{\"n\":5}\n";
    let answer = post(&s.addr, "/v1/logs/app", &[], body);
    assert_eq!(answer.status, 400, "{answer:?}");
    let error: Value = serde_json::from_str(&answer.body).unwrap();
    let error = error["error"].as_str().unwrap();
    assert!(error.starts_with("line 4, column "), "{error}");
    assert!(
        error.contains("none of the body's records were taken"),
        "{error}"
    );
    let answer = post(&s.addr, "/v1/logs/app", &[], b"[{\"n\":1}, 2]");
    assert_eq!(answer.status, 400, "{answer:?}");
    assert!(answer.body.contains("expected a JSON object"), "{answer:?}");

    // A good request after them, answered 200, is stored: and alone.
    let answer = post(&s.addr, "/v1/logs/app", &[], b"{\"n\":\"good\"}");
    assert_eq!(answer.status, 200, "{answer:?}");
    let got = lines(&out);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0]["n"], "good");
}

/// Backpressure: behind an output that can't write (a named pipe nobody
/// reads) whose buffer blocks when full, requests are answered 503 (taken,
/// not stored in time) and then 429 (no room), both with Retry-After,
/// rather than levee's memory growing; once the pipe is read, every
/// record answered 200 is there.
#[cfg(unix)]
#[test]
fn a_blocked_output_is_answered_429_with_retry_after() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("out.fifo");
    mkfifo(&fifo);
    let reader = SlowReader::start(&fifo, 1 << 30, false);
    let s = start(
        dir.path(),
        "queue_timeout = \"100ms\"\nack_timeout = \"500ms\"\nretry_after = \"3s\"",
        &file_output(
            "slow",
            "**",
            &fifo,
            "buffer = { type = \"memory\", max_bytes = \"256KiB\", batch_max_bytes = \"64KiB\", \
             flush_interval = \"50ms\", when_full = \"block\" }",
        ),
    );
    let body: String = (0..500)
        .map(|n| format!("{{\"n\":{n},\"pad\":\"{}\"}}\n", "x".repeat(100)))
        .collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    let (mut ok, mut unavailable) = (0, 0);
    let busy = loop {
        assert!(
            Instant::now() < deadline,
            "no 429 within 60s: {ok} answered 200, {unavailable} 503"
        );
        let answer = post(&s.addr, "/v1/logs/app", &[], body.as_bytes());
        match answer.status {
            200 => ok += 1,
            503 => {
                assert_eq!(answer.header("retry-after"), Some("3"), "{answer:?}");
                unavailable += 1;
            }
            429 => break answer,
            _ => panic!("{answer:?}"),
        }
    };
    assert_eq!(busy.header("retry-after"), Some("3"), "{busy:?}");
    assert!(busy.body.contains("none were taken"), "{busy:?}");
    assert!(unavailable > 0, "taken but not stored in time first");
    drop(s);
    // At least once: every record answered 200 reached the pipe (the 503s'
    // may have too).
    let written = String::from_utf8(reader.finish()).unwrap();
    let n = written.lines().count();
    assert!(n >= ok * 500, "{n} lines for {ok} requests answered 200");
    // A batch cut by the kill may leave one partial line.
    assert!(n <= (ok + unavailable) * 500 + 1, "{n} lines");
}

/// Behind a `disk` buffer a request is answered 200 once its records are
/// in the buffer's log, though the output itself can't write: the log, not
/// the client, now holds them.
#[cfg(unix)]
#[test]
fn behind_a_disk_buffer_a_request_is_answered_once_logged_while_the_output_is_blocked() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("out.fifo");
    mkfifo(&fifo);
    let reader = SlowReader::start(&fifo, 1 << 30, false);
    let s = start(
        dir.path(),
        "",
        &file_output(
            "slow",
            "**",
            &fifo,
            "buffer = { type = \"disk\", fsync = \"always\", flush_interval = \"100ms\" }",
        ),
    );
    // More than the pipe's 64 KiB: the output can't have written it all.
    let body: String = (0..2000)
        .map(|n| format!("{{\"n\":{n},\"pad\":\"{}\"}}\n", "x".repeat(100)))
        .collect();
    let answer = post(&s.addr, "/v1/logs/app", &[], body.as_bytes());
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(answer.body.trim(), "{\"accepted\":2000}");
    // Answered, yet not all written: the pipe holds 64 KiB, the records
    // about 230 KiB, and nothing has read it (levee is stopped before the
    // pipe is read).
    drop(s);
    let written = reader.finish();
    assert!(
        written.len() < body.len(),
        "{} bytes written",
        written.len()
    );
}
