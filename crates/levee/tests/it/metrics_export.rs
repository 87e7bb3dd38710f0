//! `levee metrics export` against a real `levee run`, and against endpoints
//! that fail in each way: no line printed, a non-zero exit.

use std::io::{BufReader, Read, Write};
use std::net::TcpListener;
use std::process::Stdio;
use std::time::Duration;

use crate::support::{Running, levee, metrics_addr, scrape, toml_path, wait_until};

#[test]
fn circonus_lines_from_a_running_levee() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let log = dir.join("app.log");
    let lines = 250;
    let body: String = (0..lines).map(|i| format!("line {i}\n")).collect();
    std::fs::write(&log, body).unwrap();
    let config = format!(
        "data_dir = {data}\n[metrics]\nlisten = \"127.0.0.1:0\"\n\
         [sources.app]\ntype = \"tail\"\npaths = [{log}]\ntag = \"app\"\n\
         [outputs.out]\nmatch = \"app\"\ntype = \"file\"\npath = {out}\n",
        data = toml_path(&dir.join("data")),
        log = toml_path(&log),
        out = toml_path(&dir.join("out.ndjson")),
    );
    std::fs::write(dir.join("c.toml"), config).unwrap();
    let mut child = levee()
        .args(["run", "-c"])
        .arg(dir.join("c.toml"))
        .env("LEVEE_LOG", "info")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let _child = Running(child);
    let metrics = metrics_addr(&mut stderr);
    let read = format!("levee_source_events_total{{source=\"app\"}} {lines}");
    wait_until(
        Duration::from_secs(60),
        format_args!("{lines} lines not read"),
        || scrape(&metrics).contains(&read).then_some(()),
    );
    let out = levee()
        .args(["metrics", "export", "--format", "circonus", "--url"])
        .arg(format!("http://{metrics}/metrics"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let expected = format!("levee_source_events_total`app`{lines}.0");
    assert!(
        stdout.lines().any(|l| l == expected),
        "no {expected:?} in\n{stdout}"
    );
}

/// Runs the export against `url`; asserts it failed and printed nothing.
fn fails_without_output(url: &str, extra: &[&str]) -> String {
    let out = levee()
        .args(["metrics", "export", "--format", "graphite", "--url", url])
        .args(extra)
        .output()
        .unwrap();
    assert!(!out.status.success(), "exported from {url}");
    assert!(out.stdout.is_empty(), "printed {:?}", out.stdout);
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A one-shot server: answers the first request with `answer` (or never,
/// if `None`), from a thread.
fn serve_once(answer: Option<&'static str>) -> (String, std::thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let handle = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut request = [0u8; 1024];
        let _ = stream.read(&mut request);
        match answer {
            Some(answer) => {
                let _ = stream.write_all(answer.as_bytes());
            }
            // Hold the connection until the client gives up and closes it.
            None => {
                let _ = stream.read(&mut request);
            }
        }
    });
    (addr, handle)
}

#[test]
fn an_unreachable_endpoint_is_an_error() {
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let stderr = fails_without_output(&format!("http://127.0.0.1:{port}/metrics"), &[]);
    assert!(stderr.contains("connecting to"), "{stderr}");
}

#[test]
fn a_malformed_page_prints_no_line() {
    let (addr, server) = serve_once(Some(
        "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\ngood 1\nalso_good 2\nbad{x=\"1\" 3\n",
    ));
    let stderr = fails_without_output(&format!("http://{addr}/metrics"), &[]);
    assert!(stderr.contains("line 3"), "{stderr}");
    server.join().unwrap();
}

#[test]
fn a_silent_endpoint_times_out() {
    let (addr, server) = serve_once(None);
    let stderr = fails_without_output(&format!("http://{addr}/metrics"), &["--timeout", "200ms"]);
    assert!(stderr.contains("within"), "{stderr}");
    server.join().unwrap();
}
