//! `levee metrics export` against a real `levee run`, and against endpoints
//! that fail in each way: no line printed, a non-zero exit.

use std::io::{Read, Write};
use std::net::TcpListener;

use crate::support::{levee, tailing_with_metrics};

#[test]
fn circonus_lines_from_a_running_levee() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let lines = 250;
    let (_child, metrics) = tailing_with_metrics(dir, lines, "");
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
