//! `levee metrics export` against a real `levee run`, and against endpoints
//! that fail in each way: no line printed, a non-zero exit.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::Value;

use crate::support::{Running, levee, start_run, tailing_with_metrics};

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

/// A request the test server read: its request line and its body.
#[derive(Clone, Debug)]
struct Request {
    line: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

/// A real HTTP/1.1 server on 127.0.0.1 in a thread of the test: the n-th
/// request (from 0) is answered with `answer(n, &request)`, the whole
/// response as bytes, then the connection is closed; `None` holds the
/// connection open without an answer until the client gives up.
struct Server {
    addr: String,
    requests: Arc<Mutex<Vec<Request>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

type Answer = dyn Fn(usize, &Request) -> Option<Vec<u8>> + Send + Sync;

impl Server {
    fn start(answer: impl Fn(usize, &Request) -> Option<Vec<u8>> + Send + Sync + 'static) -> Self {
        Self::start_with(None, answer)
    }

    /// The same over TLS, with the test certificate of `tests/data/tls`
    /// (for 127.0.0.1; clients trust it through `SSL_CERT_FILE`).
    fn start_tls(
        answer: impl Fn(usize, &Request) -> Option<Vec<u8>> + Send + Sync + 'static,
    ) -> Self {
        Self::start_tls_closing(true, answer)
    }

    /// TLS that ends each connection with close_notify or, if not
    /// `close_notify`, by closing the TCP connection under it.
    fn start_tls_closing(
        close_notify: bool,
        answer: impl Fn(usize, &Request) -> Option<Vec<u8>> + Send + Sync + 'static,
    ) -> Self {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};

        let dir = tls_dir();
        let certs = CertificateDer::pem_file_iter(dir.join("server.pem"))
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        let key = PrivateKeyDer::from_pem_file(dir.join("server.key")).unwrap();
        #[allow(deprecated)]
        let provider = rustls::crypto::ring::default_provider();
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(provider))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .unwrap();
        Self::start_with(Some((Arc::new(config), close_notify)), answer)
    }

    fn start_with(
        tls: Option<(Arc<rustls::ServerConfig>, bool)>,
        answer: impl Fn(usize, &Request) -> Option<Vec<u8>> + Send + Sync + 'static,
    ) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let answer: Arc<Answer> = Arc::new(answer);
        let thread = {
            let (requests, stop) = (requests.clone(), stop.clone());
            std::thread::spawn(move || {
                for (n, stream) in listener.incoming().enumerate() {
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    let Ok(stream) = stream else { continue };
                    let (requests, answer) = (requests.clone(), answer.clone());
                    // A connection held open must not hold up the next one.
                    let tls = tls.clone();
                    std::thread::spawn(move || match tls {
                        None => {
                            let mut stream = stream;
                            serve(n, &mut stream, &requests, &*answer);
                        }
                        Some((config, close_notify)) => {
                            let connection = rustls::ServerConnection::new(config).unwrap();
                            let mut stream = rustls::StreamOwned::new(connection, stream);
                            serve(n, &mut stream, &requests, &*answer);
                            if close_notify {
                                stream.conn.send_close_notify();
                            }
                            let _ = stream.flush();
                        }
                    });
                }
            })
        };
        Server {
            addr,
            requests,
            stop,
            thread: Some(thread),
        }
    }

    fn url(&self) -> String {
        format!("http://{}/metrics", self.addr)
    }

    fn https_url(&self) -> String {
        format!("https://{}/metrics", self.addr)
    }

    fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop so it sees the flag.
        let _ = TcpStream::connect(&self.addr);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve(
    n: usize,
    stream: &mut (impl Read + Write),
    requests: &Mutex<Vec<Request>>,
    answer: &Answer,
) {
    let mut reader = BufReader::new(&mut *stream);
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let mut headers = Vec::new();
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).unwrap_or(0) == 0 {
            return;
        }
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
    }
    let length = headers
        .iter()
        .find(|(name, _)| name == "content-length")
        .map_or(0, |(_, v)| v.parse().unwrap());
    let mut body = vec![0; length];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let request = Request {
        line: line.trim_end().to_owned(),
        headers,
        body,
    };
    requests.lock().unwrap().push(request.clone());
    drop(reader);
    match answer(n, &request) {
        Some(response) => {
            let _ = stream.write_all(&response);
        }
        None => {
            let _ = stream.read(&mut [0; 1]);
        }
    }
}

fn tls_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/tls")
}

/// A 200 response with `body`.
fn ok_page(body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn fixture(name: &str) -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/metrics")
            .join(name),
    )
    .unwrap()
}

/// (sample name, labels, value as text) of every sample, sorted: what two
/// parsers must agree on.
type Samples = Vec<(String, BTreeMap<String, String>, String)>;

/// A sample name without `_total`: prometheus_client's classic parser names
/// a counter's samples `<family>_total` even where the page (as td-agent's
/// `outgoing_msg`) has no such suffix; the export keeps the page's name.
fn compared_name(name: &str) -> String {
    name.strip_suffix("_total").unwrap_or(name).to_owned()
}

fn value_text(value: f64) -> String {
    if value.is_nan() {
        "NaN".to_owned()
    } else {
        format!("{value:?}")
    }
}

/// What `prometheus_client` reads from `page`.
fn prometheus_client_samples(page: &str) -> Samples {
    let format = if page.trim_end().ends_with("# EOF") {
        "openmetrics"
    } else {
        "classic"
    };
    let families = crate::metrics_endpoint::parse(format, page);
    let mut samples: Samples = families
        .iter()
        .flat_map(|f| f["samples"].as_array().unwrap().iter())
        .map(|s| {
            let labels = s["labels"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
                .collect();
            // Python's repr: nan, inf, -inf or a float.
            let value: f64 = s["value"].as_str().unwrap().parse().unwrap();
            (
                compared_name(s["name"].as_str().unwrap()),
                labels,
                value_text(value),
            )
        })
        .collect();
    samples.sort();
    samples
}

/// The samples in `levee metrics export --format json` lines.
fn json_samples(stdout: &str) -> Samples {
    let mut samples: Samples = stdout
        .lines()
        .map(|line| {
            let v: Value = serde_json::from_str(line).unwrap();
            let labels = v["labels"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
                .collect();
            let value = match &v["value"] {
                Value::String(s) => match s.as_str() {
                    "+Inf" => f64::INFINITY,
                    "-Inf" => f64::NEG_INFINITY,
                    "NaN" => f64::NAN,
                    other => panic!("value {other:?}"),
                },
                // serde_json's float reading may be one unit off in the
                // last place (without its float_roundtrip feature): the
                // number's own text, read by Rust's exact parser.
                _ => line
                    .split_once("},\"value\":")
                    .and_then(|(_, rest)| rest.split_once(",\"timestamp_ms\""))
                    .and_then(|(number, _)| number.parse().ok())
                    .unwrap_or_else(|| panic!("no value in {line}")),
            };
            (
                compared_name(v["name"].as_str().unwrap()),
                labels,
                value_text(value),
            )
        })
        .collect();
    samples.sort();
    samples
}

/// The golden pages, served over HTTP and exported as JSON by the real
/// binary, hold exactly the samples `prometheus_client` reads from them.
#[test]
fn the_golden_pages_export_what_prometheus_client_reads() {
    let mut names: Vec<String> =
        std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/metrics"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|name| name.ends_with(".prom"))
            .collect();
    names.sort();
    assert!(names.len() >= 5, "{names:?}");
    for name in &names {
        let page = fixture(name);
        let served = page.clone();
        let server = Server::start(move |_, _| Some(ok_page(&served)));
        let out = levee()
            .args(["metrics", "export", "--format", "json", "--url"])
            .arg(server.url())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let requests = server.requests();
        assert_eq!(requests.len(), 1, "{requests:?}");
        assert_eq!(requests[0].line, "GET /metrics HTTP/1.1");
        assert!(requests[0].body.is_empty());
        assert!(
            requests[0]
                .headers
                .iter()
                .any(|(k, v)| k == "accept" && v.starts_with("text/plain")),
            "{requests:?}"
        );
        let ours = json_samples(&String::from_utf8(out.stdout).unwrap());
        let theirs = prometheus_client_samples(&page);
        assert!(theirs.len() > 10, "{name}: {theirs:?}");
        assert_eq!(ours, theirs, "{name}");
    }
}

/// Poll `n`'s page: two samples holding `n`.
fn numbered_page(n: usize) -> Vec<u8> {
    ok_page(&format!(
        "# TYPE polled gauge\npolled{{poll=\"{n}\"}} {n}\n# TYPE second gauge\nsecond {n}\n"
    ))
}

/// `--every`: polls 1 to 4 fail in four ways (a 500, a malformed page, no
/// answer within the timeout, a connection closed without answer); each is
/// said on stderr, writes no line, and polling goes on. Every poll that
/// worked wrote its lines whole; SIGTERM ends the export with success.
#[cfg(unix)]
#[test]
fn every_keeps_polling_past_failed_polls() {
    use std::sync::mpsc;
    use std::time::Duration;

    use crate::support::{sigterm, wait_until};

    let server = Server::start(|n, _| match n {
        1 => Some(b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n".to_vec()),
        2 => Some(ok_page("# TYPE polled gauge\npolled{poll=\"2\" 2\n")),
        3 => None,
        4 => Some(Vec::new()),
        n => Some(numbered_page(n)),
    });
    // The timeout is far above a local answer's time even on a loaded CI
    // machine, so only the silent poll times out.
    // Killed if the test fails first: no poller outlives its test.
    let mut guard = Running(
        levee()
            .args(["metrics", "export", "--format", "circonus"])
            .args(["--every", "100ms", "--timeout", "2s", "--url"])
            .arg(server.url())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let child = &mut guard.0;
    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut stdout = BufReader::new(stdout);
        loop {
            let mut line = String::new();
            if stdout.read_line(&mut line).unwrap() == 0 || tx.send(line).is_err() {
                return;
            }
        }
    });
    let mut lines: Vec<String> = Vec::new();
    wait_until(Duration::from_secs(30), "no line from poll 7", || {
        lines.extend(rx.try_iter());
        lines.iter().any(|l| l == "second`7.0\n").then_some(())
    });
    sigterm(child);
    let status = wait_until(Duration::from_secs(10), "export did not stop", || {
        child.try_wait().unwrap()
    });
    assert!(status.success(), "{status}");
    reader.join().unwrap();
    lines.extend(rx.try_iter());
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();

    // Whole polls only, in order: 0, then 5 on; nothing from 1 to 4.
    assert!(
        lines.len() >= 8 && lines.len().is_multiple_of(2),
        "{lines:?}"
    );
    let mut polls = Vec::new();
    for pair in lines.chunks(2) {
        let n: usize = pair[1]
            .strip_prefix("second`")
            .and_then(|l| l.strip_suffix(".0\n"))
            .unwrap_or_else(|| panic!("{pair:?}"))
            .parse()
            .unwrap();
        assert_eq!(pair[0], format!("polled`{n}`{n}.0\n"));
        polls.push(n);
    }
    let expected: Vec<usize> = [0].into_iter().chain(5..5 + polls.len() - 1).collect();
    assert_eq!(polls, expected);

    for said in ["not 200", "line 2", "within 2s", "not HTTP"] {
        assert!(stderr.contains(said), "no {said:?} in {stderr}");
    }
    assert_eq!(stderr.matches("polling goes on").count(), 4, "{stderr}");
    assert!(server.requests().len() >= polls.len() + 4);
}

/// `--every` into a pipe whose reader went away (`| head -1`): the export
/// ends with an error rather than polling for nobody.
#[test]
fn every_ends_when_stdout_closes() {
    use std::time::Duration;

    use crate::support::wait_until;

    let server = Server::start(|n, _| Some(numbered_page(n)));
    // Killed if the test fails first: no poller outlives its test.
    let mut guard = Running(
        levee()
            .args(["metrics", "export", "--format", "graphite"])
            .args(["--every", "50ms", "--url"])
            .arg(server.url())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let child = &mut guard.0;
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    assert!(line.starts_with("polled;poll=0 0.0 "), "{line}");
    drop(stdout);
    let status = wait_until(Duration::from_secs(10), "export went on", || {
        child.try_wait().unwrap()
    });
    assert!(!status.success());
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(stderr.contains("writing to stdout"), "{stderr}");
}

/// Reads `stream`'s lines from a thread into a channel.
fn lines_of(stream: impl Read + Send + 'static) -> std::sync::mpsc::Receiver<String> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut stream = BufReader::new(stream);
        loop {
            let mut line = String::new();
            if stream.read_line(&mut line).unwrap_or(0) == 0 || tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}

/// Reads `count` lines from a receiver's connection.
fn read_lines(stream: &mut BufReader<TcpStream>, count: usize) -> Vec<String> {
    (0..count)
        .map(|_| {
            let mut line = String::new();
            stream.read_line(&mut line).unwrap();
            line
        })
        .collect()
}

/// A poll's two graphite lines from `numbered_page`: its number.
fn graphite_poll(pair: &[String]) -> usize {
    let n: usize = pair[1]
        .strip_prefix("second ")
        .and_then(|rest| rest.split(' ').next())
        .and_then(|v| v.strip_suffix(".0"))
        .unwrap_or_else(|| panic!("{pair:?}"))
        .parse()
        .unwrap();
    assert!(
        pair[0].starts_with(&format!("polled;poll={n} {n}.0 ")) && pair[0].ends_with('\n'),
        "{pair:?}"
    );
    assert!(pair[1].ends_with('\n'), "{pair:?}");
    n
}

/// `--push tcp://`: graphite lines (the default format there) to a real
/// TCP receiver. The receiver closes the first connection after one poll,
/// then is down for a while (refused connections are said on stderr), then
/// listens again on the same port: the export connects anew and its lines
/// arrive whole.
#[cfg(unix)]
#[test]
fn push_tcp_reconnects_to_a_receiver_that_went_away() {
    use std::time::Duration;

    use crate::support::{sigterm, wait_until};

    let pages = Server::start(|n, _| Some(numbered_page(n)));
    let receiver = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = receiver.local_addr().unwrap();
    // Killed if the test fails first: no poller outlives its test.
    let mut guard = Running(
        levee()
            .args(["metrics", "export", "--every", "100ms", "--url"])
            .arg(pages.url())
            .arg("--push")
            .arg(format!("tcp://{addr}"))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let child = &mut guard.0;
    let stderr = lines_of(child.stderr.take().unwrap());

    let (first, _) = receiver.accept().unwrap();
    // Down before the connection closes, so no poll can connect between.
    drop(receiver);
    let mut first = BufReader::new(first);
    assert_eq!(graphite_poll(&read_lines(&mut first, 2)), 0);
    drop(first);

    let mut said = Vec::new();
    wait_until(Duration::from_secs(30), "no refused send said", || {
        said.extend(stderr.try_iter());
        said.iter()
            .any(|l| l.contains("connecting to") && l.contains("polling goes on"))
            .then_some(())
    });
    let receiver = TcpListener::bind(addr).unwrap();
    let (second, _) = receiver.accept().unwrap();
    let mut second = BufReader::new(second);
    let lines = read_lines(&mut second, 6);
    let polls: Vec<usize> = lines.chunks(2).map(graphite_poll).collect();
    assert!(polls[0] > 1, "{polls:?}");
    assert!(polls.windows(2).all(|w| w[1] == w[0] + 1), "{polls:?}");

    sigterm(child);
    let status = wait_until(Duration::from_secs(10), "export did not stop", || {
        child.try_wait().unwrap()
    });
    assert!(status.success(), "{status}");
    let mut stdout = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    assert!(stdout.is_empty(), "pushed lines went to stdout: {stdout}");
    // No poll lost in silence: each one between the first connection and
    // the second was said to have failed (a write into the connection the
    // receiver had closed would have "worked").
    said.extend(stderr.iter());
    let failed = said
        .iter()
        .filter(|l| l.contains("polling goes on"))
        .count();
    assert_eq!(failed, polls[0] - 1, "{said:?}");
}

/// `--push http://`: one POST of the JSON lines per poll to a real HTTP
/// server; an answer that is not 2xx is said on stderr and polling goes on.
#[cfg(unix)]
#[test]
fn push_http_posts_each_poll_as_json_lines() {
    use std::time::Duration;

    use crate::support::{sigterm, wait_until};

    let pages = Server::start(|n, _| Some(numbered_page(n)));
    let trap = Server::start(|n, _| {
        Some(match n {
            1 => b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n\r\nbusy".to_vec(),
            _ => b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".to_vec(),
        })
    });
    // Killed if the test fails first: no poller outlives its test.
    let mut guard = Running(
        levee()
            .args(["metrics", "export", "--every", "100ms", "--url"])
            .arg(pages.url())
            .arg("--push")
            .arg(format!("http://{}/module/httptrap/check/secret", trap.addr))
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let child = &mut guard.0;
    wait_until(Duration::from_secs(30), "fewer than 5 posts", || {
        (trap.requests().len() >= 5).then_some(())
    });
    sigterm(child);
    let status = wait_until(Duration::from_secs(10), "export did not stop", || {
        child.try_wait().unwrap()
    });
    assert!(status.success(), "{status}");
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();

    let requests = trap.requests();
    let mut polls = Vec::new();
    for request in &requests {
        assert_eq!(request.line, "POST /module/httptrap/check/secret HTTP/1.1");
        assert!(
            request
                .headers
                .iter()
                .any(|(k, v)| k == "content-type" && v == "application/x-ndjson"),
            "{request:?}"
        );
        let body = String::from_utf8(request.body.clone()).unwrap();
        assert!(body.ends_with('\n'), "{body}");
        let samples: Vec<Value> = body
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(samples.len(), 2, "{body}");
        let n = samples[1]["value"].as_f64().unwrap();
        assert_eq!(samples[0]["labels"]["poll"], format!("{n}"));
        assert_eq!(samples[1]["name"], "second");
        polls.push(n as usize);
    }
    let expected: Vec<usize> = (0..polls.len()).collect();
    assert_eq!(polls, expected, "one post per poll, in order");
    assert_eq!(stderr.matches("polling goes on").count(), 1, "{stderr}");
    assert!(
        stderr.contains("503") && stderr.contains("busy"),
        "{stderr}"
    );
}

/// Without `--every`, a push that fails is an error and exit 1.
#[test]
fn a_failed_push_is_an_error() {
    let pages = Server::start(|n, _| Some(numbered_page(n)));
    let closed = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let trap = Server::start(|_, _| {
        Some(b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n".to_vec())
    });
    for (push, said) in [
        (format!("tcp://{closed}"), "connecting to"),
        (format!("http://{}/trap", trap.addr), "500"),
    ] {
        let out = levee()
            .args(["metrics", "export", "--url"])
            .arg(pages.url())
            .args(["--push", &push])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{push}");
        assert!(stderr.contains(said), "{push}: {stderr}");
        assert!(out.stdout.is_empty());
    }
}

/// `https://`, both ways: the page read over TLS and the lines posted over
/// TLS, each checked against the CA of `SSL_CERT_FILE`; a server whose
/// certificate is not trusted (no `SSL_CERT_FILE`: the system's roots)
/// fails with a clear error.
#[test]
fn https_page_and_https_push() {
    let pages = Server::start_tls(|n, _| Some(numbered_page(n)));
    let trap = Server::start_tls(|_, _| {
        Some(b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n".to_vec())
    });
    let out = levee()
        .args(["metrics", "export", "--url"])
        .arg(pages.https_url())
        .arg("--push")
        .arg(format!("https://{}/trap", trap.addr))
        .env("SSL_CERT_FILE", tls_dir().join("ca.pem"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let requests = trap.requests();
    assert_eq!(requests.len(), 1, "{requests:?}");
    let body = String::from_utf8(requests[0].body.clone()).unwrap();
    assert!(
        body.starts_with(
            "{\"name\":\"polled\",\"type\":\"gauge\",\"labels\":{\"poll\":\"0\"},\"value\":0.0,"
        ),
        "{body}"
    );

    let untrusted = levee()
        .args(["metrics", "export", "--format", "json", "--url"])
        .arg(pages.https_url())
        .env_remove("SSL_CERT_FILE")
        .env_remove("SSL_CERT_DIR")
        .output()
        .unwrap();
    assert!(!untrusted.status.success());
    assert!(untrusted.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&untrusted.stderr);
    assert!(stderr.contains("TLS with 127.0.0.1"), "{stderr}");
}

/// A TLS connection that ends without close_notify may have been cut on the
/// way: an answer with a Content-Length is still whole and taken, one whose
/// end is only where the connection ended is refused.
#[test]
fn https_without_close_notify_takes_only_a_framed_answer() {
    let framed = Server::start_tls_closing(false, |n, _| Some(numbered_page(n)));
    let unframed = Server::start_tls_closing(false, |_, _| {
        Some(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nup 1\n".to_vec())
    });
    let export = |server: &Server| {
        levee()
            .args(["metrics", "export", "--format", "circonus", "--url"])
            .arg(server.https_url())
            .env("SSL_CERT_FILE", tls_dir().join("ca.pem"))
            .output()
            .unwrap()
    };
    let out = export(&framed);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "polled`0`0.0\nsecond`0.0\n"
    );
    let out = export(&unframed);
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("without TLS close_notify"), "{stderr}");
}

/// Arguments that can never work are refused at start (exit 2, clap's
/// usage error), before any poll: with `--every` they would otherwise fail
/// every poll forever.
#[test]
fn unusable_arguments_are_refused_at_start() {
    for (args, said) in [
        (&["--url", "ftp://h/metrics", "--every", "1s"][..], "--url"),
        (&["--url", "http://h:port/metrics"][..], "--url"),
        (
            &["--url", "http://h/m", "--push", "udp://h:2003"][..],
            "--push",
        ),
        (
            &["--url", "http://h/m", "--push", "tcp://carbon"][..],
            "--push",
        ),
        (
            &["--url", "http://h/m", "--every", "0s", "--format", "json"][..],
            "--every",
        ),
        (&["--url", "http://h/m"][..], "--format"),
    ] {
        let out = levee()
            .args(["metrics", "export"])
            .args(args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(said), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty());
    }
}

/// `--format circonus --push http://…`: what a Circonus HTTPTrap takes, one
/// PUT per poll of a JSON object keyed by the circonus names, the same
/// names the circonus lines have.
#[test]
fn circonus_to_an_httptrap_puts_one_json_object() {
    let pages = Server::start(|_, _| Some(ok_page(&fixture("td-agent.prom"))));
    let trap = Server::start(|_, _| Some(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n".to_vec()));
    let out = levee()
        .args(["metrics", "export", "--format", "circonus", "--url"])
        .arg(pages.url())
        .arg("--push")
        .arg(format!(
            "http://{}/module/httptrap/2f7f9a4c-0c8a-4b2e-9d7a-3c1f0e2b5a11/s3cret",
            trap.addr
        ))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let requests = trap.requests();
    assert_eq!(requests.len(), 1, "{requests:?}");
    assert!(
        requests[0]
            .line
            .starts_with("PUT /module/httptrap/2f7f9a4c-0c8a-4b2e-9d7a-3c1f0e2b5a11/s3cret "),
        "{}",
        requests[0].line
    );
    assert!(
        requests[0]
            .headers
            .iter()
            .any(|(k, v)| k == "content-type" && v == "application/json")
    );
    let object: serde_json::Map<String, Value> = serde_json::from_slice(&requests[0].body).unwrap();
    assert_eq!(
        object["fluentd_output_status_emit_count`log-01.prd`object:3f86dc5b80cc`amazon_sns"],
        570277.0
    );
    assert_eq!(
        object["outgoing_msg`get_sending-domains`log-01.prd`prd"],
        31190473.0
    );
    // Every finite circonus line is a key with its number.
    let lines = levee()
        .args(["metrics", "export", "--format", "circonus", "--url"])
        .arg(pages.url())
        .output()
        .unwrap();
    let lines = String::from_utf8(lines.stdout).unwrap();
    let finite: Vec<(&str, f64)> = lines
        .lines()
        .filter_map(|l| l.rsplit_once('`'))
        .filter_map(|(key, n)| Some((key, n.parse::<f64>().ok()?)))
        .filter(|(_, n)| n.is_finite())
        .collect();
    assert_eq!(object.len(), finite.len());
    for (key, n) in finite {
        assert_eq!(object[key].as_f64(), Some(n), "{key}");
    }
}

/// A graphite receiver that stops reading: the send times out with part of
/// a poll written. The next poll goes on a new connection (the cut line
/// dies with the old one), and every line there is whole.
#[cfg(unix)]
#[test]
fn push_tcp_send_that_timed_out_starts_the_next_poll_on_a_new_connection() {
    use std::time::Duration;

    use crate::support::{sigterm, wait_until};

    // 8 MB of lines a poll: more than the two sockets' buffers hold (at
    // most 4 MiB sent and 6 MiB received by Linux's defaults, and far less
    // on a receiver that never reads).
    let samples = 40_000;
    let long = "x".repeat(150);
    let mut page = String::from("# TYPE request_count_with_a_long_name gauge\n");
    for i in 0..samples {
        page.push_str(&format!(
            "request_count_with_a_long_name{{instance=\"{long}\",i=\"{i}\"}} {i}\n"
        ));
    }
    let pages = Server::start(move |_, _| Some(ok_page(&page)));
    let receiver = TcpListener::bind("127.0.0.1:0").unwrap();
    // Killed if the test fails first: no poller outlives its test.
    let mut guard = Running(
        levee()
            .args([
                "metrics",
                "export",
                "--every",
                "200ms",
                "--timeout",
                "2s",
                "--url",
            ])
            .arg(pages.url())
            .arg("--push")
            .arg(format!("tcp://{}", receiver.local_addr().unwrap()))
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let child = &mut guard.0;
    let stderr = lines_of(child.stderr.take().unwrap());
    // Accepted, never read.
    let (stuck, _) = receiver.accept().unwrap();
    receiver.set_nonblocking(true).unwrap();
    let second = wait_until(Duration::from_secs(60), "no second connection", || {
        receiver.accept().ok().map(|(s, _)| s)
    });
    second.set_nonblocking(false).unwrap();
    let mut second = BufReader::new(second);
    for i in 0..samples {
        let mut line = String::new();
        second.read_line(&mut line).unwrap();
        let expected = format!("request_count_with_a_long_name;instance={long};i={i} {i}.0 ");
        assert!(
            line.starts_with(&expected) && line.ends_with('\n'),
            "line {i}: {line:?}"
        );
    }
    sigterm(child);
    let status = wait_until(Duration::from_secs(10), "export did not stop", || {
        child.try_wait().unwrap()
    });
    assert!(status.success(), "{status}");
    let said: Vec<String> = stderr.iter().collect();
    assert!(
        said.iter().any(|l| l.contains("not sent within 2s")),
        "{said:?}"
    );
    drop(stuck);
}

/// The seed's shell script, replaced: a live `levee run` serving Fluentd's
/// names (`[metrics] names = "fluentd"`) and a metric filter by the
/// records' `type`, read by the export in the circonus form, the counts
/// checked against the log the test wrote.
#[test]
fn circonus_lines_with_fluentds_names_from_a_running_levee() {
    use std::time::Duration;

    use crate::support::{metrics_addr, scrape, toml_path, wait_until};

    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let types = ["get_sending-domains", "send_email", "get_sending-domains"];
    let lines = 300;
    let log: String = (0..lines)
        .map(|i| format!("{{\"type\":\"{}\",\"n\":{i}}}\n", types[i % types.len()]))
        .collect();
    std::fs::write(dir.join("api.log"), log).unwrap();
    let config = format!(
        "data_dir = {data}\n[metrics]\nlisten = \"127.0.0.1:0\"\nnames = \"fluentd\"\n\
         [sources.api]\ntype = \"tail\"\npaths = [{log}]\ntag = \"firehose_parsed.api\"\n\
         parser = \"json\"\n\
         [[filters]]\nmatch = \"firehose_parsed.**\"\ntype = \"metric\"\n\
         name = \"outgoing_msg\"\nkind = \"counter\"\nhelp = \"API calls by type\"\n\
         labels = {{ type = \"$.type\" }}\n\
         [outputs.s3]\nmatch = \"firehose_parsed.**\"\ntype = \"file\"\npath = {out}\n",
        data = toml_path(&dir.join("data")),
        log = toml_path(&dir.join("api.log")),
        out = toml_path(&dir.join("out.ndjson")),
    );
    let (_running, mut stderr) = start_run(dir, &config);
    let addr = metrics_addr(&mut stderr);
    // `emit_records` counts what entered the output; wait for the buffer
    // to be drained into the file too, so its space ratio is back at 100.
    let emitted =
        format!("fluentd_output_status_emit_records{{plugin_id=\"s3\",type=\"file\"}} {lines}.0\n");
    let stored = format!("levee_output_events_total{{output=\"s3\",type=\"file\"}} {lines}\n");
    wait_until(Duration::from_secs(60), "the lines not stored", || {
        let page = scrape(&addr);
        (page.contains(&emitted) && page.contains(&stored)).then_some(())
    });

    let out = levee()
        .args(["metrics", "export", "--format", "circonus"])
        .args(["--strip-prefix", "fluentd_", "--url"])
        .arg(format!("http://{addr}/metrics"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let count = |t: &str| {
        types
            .iter()
            .cycle()
            .take(lines)
            .filter(|x| **x == t)
            .count()
    };
    for expected in [
        format!("output_status_emit_records`s3`file`{lines}.0"),
        "output_status_retry_count`s3`file`0.0".to_owned(),
        "output_status_buffer_available_space_ratio`s3`file`100.0".to_owned(),
        format!(
            "outgoing_msg_total`get_sending-domains`{}.0",
            count("get_sending-domains")
        ),
        format!("outgoing_msg_total`send_email`{}.0", count("send_email")),
    ] {
        assert!(
            stdout.lines().any(|l| l == expected),
            "no {expected:?} in\n{stdout}"
        );
    }
}
