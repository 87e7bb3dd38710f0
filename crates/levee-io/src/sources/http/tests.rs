//! The http source: its body decoder on good and hostile bodies, and its
//! server over real sockets (what is answered, and what goes downstream).

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use levee_event::{Record, Sent, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};

use super::body::{self, BodyError, Encoding};
use super::server::{Shared, serve};
use super::{Http, HttpConfig};
use crate::sources::SourceMetrics;

fn records(body: &[u8]) -> Result<Vec<Record>, BodyError> {
    body::records(body, 1000)
}

fn field(record: &Record, name: &str) -> Value {
    record.get(name).cloned().unwrap_or(Value::Null)
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

// ---- the body decoder ----

#[test]
fn ndjson_an_array_and_one_object_are_read_alike() {
    let ndjson = records(b"{\"a\":1}\n{\"a\":2}\r\n\n{\"a\":3}\n").unwrap();
    let array = records(b" [ {\"a\":1}, {\"a\":2},\n{\"a\":3} ] \n").unwrap();
    assert_eq!(ndjson, array);
    assert_eq!(ndjson.len(), 3);
    assert_eq!(field(&ndjson[2], "a"), Value::Int(3));
    let one = records(b"{\n  \"msg\": \"hello\",\n  \"n\": [1, 2]\n}\n").unwrap();
    assert_eq!(one.len(), 1, "a pretty-printed object is one record");
    assert_eq!(field(&one[0], "msg"), Value::from("hello"));
    assert_eq!(records(b"[]").unwrap(), Vec::<Record>::new());
    assert_eq!(records(b"\xEF\xBB\xBF{\"a\":1}").unwrap().len(), 1, "a BOM");
}

#[test]
fn a_malformed_line_is_named_by_line_and_column() {
    let e = records(b"{\"a\":1}\n{\"a\":2}\n{\"a\" 3}\n{\"a\":4}\n").unwrap_err();
    let BodyError::Invalid { line, column, .. } = &e else {
        panic!("{e:?}")
    };
    assert_eq!((*line, *column), (3, 6), "{e}");
    assert!(
        e.to_string().starts_with("line 3, column 6: expected `:`"),
        "{e}"
    );
}

/// Regression: a string cut by the end of its line was blamed on the next
/// line, column 1 (serde_json counts the `\n` it stopped at as column 0
/// of the line after it).
#[test]
fn a_string_cut_by_its_line_end_is_blamed_on_its_own_line() {
    let e = records(b"{\"n\":1}\n{\"n\":4, \"msg\": \"unterminated}\n{\"n\":5}\n").unwrap_err();
    let BodyError::Invalid { line, column, .. } = &e else {
        panic!("{e:?}")
    };
    assert_eq!((*line, *column), (2, 30), "{e}");
}

#[test]
fn a_line_that_is_not_an_object_is_refused_with_its_line() {
    for (body, line) in [
        (&b"{\"a\":1}\n42\n"[..], 2),
        (b"{\"a\":1}\n\n\"text\"\n", 3),
        (b"[{\"a\":1},\n{\"a\":2},\n[1]]", 3),
        (b"null", 1),
    ] {
        let e = records(body).unwrap_err();
        match &e {
            BodyError::Invalid {
                line: l, message, ..
            } => {
                assert_eq!(*l, line, "{e}");
                assert!(message.contains("expected a JSON object"), "{e}");
            }
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn a_body_cut_short_says_it_ended() {
    for body in [
        &b"{\"a\":1}\n{\"a\":"[..],
        b"[{\"a\":1},",
        b"{\"a\":\"unterminated",
    ] {
        assert!(
            matches!(records(body), Err(BodyError::Truncated { .. })),
            "{body:?}: {:?}",
            records(body)
        );
    }
    let e = records(b"{\"a\":1}\n{\"a\":2}\n{\"b\":").unwrap_err();
    assert!(e.to_string().starts_with("line 3: the body ended"), "{e}");
}

#[test]
fn empty_bodies_and_trailing_bytes_are_refused() {
    assert_eq!(records(b""), Err(BodyError::Empty));
    assert_eq!(records(b" \n\t\r\n"), Err(BodyError::Empty));
    assert!(matches!(
        records(b"[{\"a\":1}] x"),
        Err(BodyError::Invalid { line: 1, .. })
    ));
    assert!(matches!(
        records(b"[{\"a\":1}]\n[{\"a\":2}]"),
        Err(BodyError::Invalid { line: 2, .. })
    ));
    assert!(matches!(
        records(b"{\"a\":1} }"),
        Err(BodyError::Invalid { .. })
    ));
}

#[test]
fn invalid_utf8_and_deep_nesting_are_errors_not_panics() {
    assert!(matches!(
        records(b"{\"a\":\"\xff\xfe\"}"),
        Err(BodyError::Invalid { .. })
    ));
    // serde_json's recursion limit (128) stops this, not the stack.
    let deep = format!("{{\"a\":{}1{}}}", "[".repeat(100_000), "]".repeat(100_000));
    assert!(matches!(
        records(deep.as_bytes()),
        Err(BodyError::Invalid { .. })
    ));
    let deep = "[".repeat(100_000);
    assert!(records(deep.as_bytes()).is_err());
}

#[test]
fn max_records_holds_for_ndjson_and_arrays() {
    let ndjson = "{\"a\":1}\n".repeat(11);
    let array = format!("[{}]", ["{\"a\":1}"; 11].join(","));
    for body in [ndjson.as_bytes(), array.as_bytes()] {
        assert_eq!(body::records(body, 11).unwrap().len(), 11);
        assert_eq!(
            body::records(body, 10),
            Err(BodyError::TooManyRecords { limit: 10 })
        );
    }
}

#[test]
fn a_gzip_bomb_stops_at_max_decompressed_bytes() {
    let zeros = vec![b' '; 8 << 20];
    let bomb = gzip(&zeros);
    assert!(bomb.len() < 64 << 10, "{}", bomb.len());
    assert_eq!(
        body::decompress(&bomb, Encoding::Gzip, 1 << 20),
        Err(BodyError::DecompressedTooLarge { limit: 1 << 20 })
    );
    // At the limit exactly, it is whole.
    let text = gzip(b"{\"a\":1}\n");
    assert_eq!(
        &body::decompress(&text, Encoding::Gzip, 8).unwrap()[..],
        b"{\"a\":1}\n"
    );
    assert!(matches!(
        body::decompress(&text, Encoding::Gzip, 7),
        Err(BodyError::DecompressedTooLarge { .. })
    ));
    // Two members are one body, as gzip(1) reads them.
    let mut two = gzip(b"{\"a\":1}\n");
    two.extend_from_slice(&gzip(b"{\"a\":2}\n"));
    let text = body::decompress(&two, Encoding::Gzip, 1 << 20).unwrap();
    assert_eq!(records(&text).unwrap().len(), 2);
}

#[test]
fn a_zstd_bomb_and_a_huge_window_are_refused() {
    let zeros = vec![b' '; 8 << 20];
    let bomb = zstd::encode_all(&zeros[..], 3).unwrap();
    assert_eq!(
        body::decompress(&bomb, Encoding::Zstd, 1 << 20),
        Err(BodyError::DecompressedTooLarge { limit: 1 << 20 })
    );
    let text = zstd::encode_all(&b"{\"a\":1}\n"[..], 3).unwrap();
    assert_eq!(
        &body::decompress(&text, Encoding::Zstd, 1 << 20).unwrap()[..],
        b"{\"a\":1}\n"
    );
    // A frame header declaring a 2 GiB window (window descriptor 0xA8:
    // exponent 21, so 2^31), no content size, then garbage.
    let mut huge = vec![0x28, 0xB5, 0x2F, 0xFD, 0x00, 0xA8];
    huge.extend_from_slice(&[0; 16]);
    assert!(matches!(
        body::decompress(&huge, Encoding::Zstd, 1 << 20),
        Err(BodyError::Compression {
            encoding: "zstd",
            ..
        })
    ));
}

#[test]
fn garbage_in_a_compressed_body_is_an_error() {
    for encoding in [Encoding::Gzip, Encoding::Zstd] {
        for body in [
            &b""[..],
            b"not compressed at all",
            b"\x1f\x8b\x08\x00garbage",
        ] {
            let got = body::decompress(body, encoding, 1 << 20);
            // An empty gzip stream reads as empty: then the body is empty.
            if let Ok(text) = &got {
                assert!(text.is_empty(), "{encoding:?} {body:?}");
                continue;
            }
            assert!(
                matches!(got, Err(BodyError::Compression { .. })),
                "{encoding:?} {body:?}: {got:?}"
            );
        }
    }
    // A gzip body cut in the middle.
    let whole = gzip(&b"{\"a\":1}\n".repeat(1000));
    assert!(body::decompress(&whole[..whole.len() / 2], Encoding::Gzip, 1 << 20).is_err());
}

#[test]
fn content_encodings_read_and_refused() {
    assert_eq!(Encoding::from_header("GZIP"), Some(Encoding::Gzip));
    assert_eq!(Encoding::from_header(" zstd "), Some(Encoding::Zstd));
    assert_eq!(Encoding::from_header("identity"), Some(Encoding::Identity));
    for refused in ["br", "deflate", "gzip, zstd", "compress"] {
        assert_eq!(Encoding::from_header(refused), None, "{refused}");
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]
    /// Any bytes, in any encoding: an answer, never a panic.
    #[test]
    fn any_bytes_decode_or_fail_cleanly(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512)) {
        for encoding in [Encoding::Identity, Encoding::Gzip, Encoding::Zstd] {
            if let Ok(text) = body::decompress(&bytes, encoding, 4096) {
                let _ = body::records(&text, 16);
            }
        }
    }

    /// Any records written as NDJSON come back as they were, and as an array.
    #[test]
    fn ndjson_and_arrays_round_trip(values in proptest::collection::vec((".{0,8}", proptest::prelude::any::<i64>()), 1..20)) {
        let lines: Vec<String> = values
            .iter()
            .map(|(s, n)| serde_json::json!({ "s": s, "n": n }).to_string())
            .collect();
        let ndjson = records(lines.join("\n").as_bytes()).unwrap();
        let array = records(format!("[{}]", lines.join(",")).as_bytes()).unwrap();
        proptest::prop_assert_eq!(&ndjson, &array);
        for (record, (s, n)) in ndjson.iter().zip(&values) {
            proptest::prop_assert_eq!(field(record, "s"), Value::from(s.as_str()));
            proptest::prop_assert_eq!(field(record, "n"), Value::Int(*n));
        }
    }
}

// ---- the config ----

fn config(extra: &str) -> Result<Http, crate::SourceConfigError> {
    let config: HttpConfig = toml::from_str(extra).unwrap();
    config.build()
}

#[test]
fn the_config_binds_this_machine_by_default_and_checks_its_limits() {
    let c = config("").unwrap();
    assert_eq!(c.listen.to_string(), "127.0.0.1:9880");
    assert_eq!(c.retry_after_secs, 5);
    assert_eq!(c.authorization, None);
    let c = config("token = \"s3cret\"\nretry_after = \"1500ms\"").unwrap();
    assert_eq!(c.authorization.as_deref(), Some(&b"Bearer s3cret"[..]));
    assert_eq!(c.retry_after_secs, 2, "rounded up to whole seconds");
    for (bad, key) in [
        ("listen = \"localhost\"", "listen"),
        ("max_body_bytes = \"10B\"", "max_body_bytes"),
        (
            "max_body_bytes = \"8MiB\"\nmax_decompressed_bytes = \"1MiB\"",
            "max_decompressed_bytes",
        ),
        ("max_records = 0", "max_records"),
        ("max_connections = 0", "max_connections"),
        ("header_timeout = \"0s\"", "header_timeout"),
        ("body_timeout = \"0s\"", "body_timeout"),
        ("ack_timeout = \"0s\"", "ack_timeout"),
        ("retry_after = \"0s\"", "retry_after"),
        ("token = \"\"", "token"),
        ("token = \"a b\"", "token"),
        ("token = \"caf\u{e9}\"", "token"),
        ("time_key = \"\"", "time_key"),
    ] {
        match config(bad) {
            Err(crate::SourceConfigError::Invalid { key: k, .. }) => assert_eq!(k, key, "{bad}"),
            other => panic!("{bad}: {other:?}"),
        }
    }
    assert!(toml::from_str::<HttpConfig>("lisen = \"127.0.0.1:1\"").is_err());
}

// ---- the server, over real sockets ----

/// A running http source on a port the system chose; its pipeline end
/// (the test receives the batches and decides when they are stored).
struct Server {
    addr: std::net::SocketAddr,
    rx: mpsc::Receiver<Sent>,
    metrics: SourceMetrics,
    _stop: watch::Sender<bool>,
}

async fn server(extra: &str, capacity: usize) -> Server {
    let mut settings = config(extra).unwrap();
    settings.listen = "127.0.0.1:0".parse().unwrap();
    let listener = TcpListener::bind(settings.listen).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::channel(capacity);
    let (stop, shutdown) = watch::channel(false);
    let metrics = SourceMetrics::default();
    let shared = Arc::new(Shared {
        config: settings,
        out: tx,
        metrics: metrics.clone(),
        name: "web".into(),
        shutdown,
    });
    tokio::spawn(serve(listener, shared));
    Server {
        addr,
        rx,
        metrics,
        _stop: stop,
    }
}

/// An answer: its status, headers (lowercased names) and body.
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

/// Sends one request (`Connection: close`) and reads its answer.
async fn request(addr: std::net::SocketAddr, head: &str, body: &[u8]) -> Answer {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let mut bytes = format!(
        "{head}\r\nHost: test\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    bytes.extend_from_slice(body);
    stream.write_all(&bytes).await.unwrap();
    read_answer(&mut stream).await
}

async fn read_answer(stream: &mut TcpStream) -> Answer {
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut raw))
        .await
        .expect("an answer within 30s")
        .unwrap();
    parse_answer(&raw)
}

fn parse_answer(raw: &[u8]) -> Answer {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
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

/// Every batch waiting in the channel, acks dropped (stored).
fn drain(rx: &mut mpsc::Receiver<Sent>) -> Vec<Sent> {
    let mut got = Vec::new();
    while let Ok(sent) = rx.try_recv() {
        got.push(sent);
    }
    got
}

/// A task that stores every batch as it comes, counting events by tag.
fn store_all(mut rx: mpsc::Receiver<Sent>) -> Arc<std::sync::Mutex<Vec<levee_event::Event>>> {
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let keep = seen.clone();
    tokio::spawn(async move {
        while let Some(sent) = rx.recv().await {
            keep.lock().unwrap().extend(sent.events);
        }
    });
    seen
}

#[tokio::test]
async fn a_post_is_answered_200_only_once_its_events_are_stored() {
    let mut s = server("", 4).await;
    let addr = s.addr;
    let pending = tokio::spawn(async move {
        request(
            addr,
            "POST /v1/logs/app.web HTTP/1.1",
            b"{\"n\":1}\n{\"n\":2}\n",
        )
        .await
    });
    let sent = s.rx.recv().await.unwrap();
    assert_eq!(sent.events.len(), 2);
    assert_eq!(sent.events[0].tag.as_str(), "app.web");
    // Holding the ack holds the answer.
    for _ in 0..20 {
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert!(!pending.is_finished(), "answered before stored");
    }
    drop(sent);
    let answer = pending.await.unwrap();
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(answer.body.trim(), "{\"accepted\":2}");
    assert_eq!(s.metrics.events.get(), 2);
}

#[tokio::test]
async fn both_paths_tag_events_and_other_paths_and_methods_are_refused() {
    let s = server("", 4).await;
    let seen = store_all(s.rx);
    for (head, status) in [
        ("POST /v1/logs/a.b HTTP/1.1", 200),
        ("POST /c.d HTTP/1.1", 200),
        ("POST /v1/logs/e?x=1 HTTP/1.1", 200),
        ("POST / HTTP/1.1", 404),
        ("POST /v1/logs/ HTTP/1.1", 404),
        ("POST /a/b HTTP/1.1", 404),
        ("POST /@ERROR HTTP/1.1", 400),
        ("POST /a..b HTTP/1.1", 400),
        ("POST /a%20b HTTP/1.1", 200),
        ("GET /v1/logs/a HTTP/1.1", 405),
    ] {
        let answer = request(s.addr, head, b"{\"a\":1}").await;
        assert_eq!(answer.status, status, "{head}: {answer:?}");
        if status == 405 {
            assert_eq!(answer.header("allow"), Some("POST"));
        }
    }
    let tags: Vec<String> = seen
        .lock()
        .unwrap()
        .iter()
        .map(|e| e.tag.as_str().to_owned())
        .collect();
    assert_eq!(tags, ["a.b", "c.d", "e", "a%20b"]);
    assert_eq!(s.metrics.connection_errors.get("not_found"), 4);
    assert_eq!(s.metrics.connection_errors.get("bad_tag"), 2);
}

#[tokio::test]
async fn a_malformed_body_is_400_with_its_line_and_nothing_is_taken() {
    let mut s = server("", 4).await;
    let answer = request(
        s.addr,
        "POST /v1/logs/app HTTP/1.1",
        b"{\"n\":1}\n{\"n\":2}\n{\"n\":3,}\n{\"n\":4}\n",
    )
    .await;
    assert_eq!(answer.status, 400, "{answer:?}");
    let error: serde_json::Value = serde_json::from_str(&answer.body).unwrap();
    let error = error["error"].as_str().unwrap();
    assert!(error.starts_with("line 3, column 8: "), "{error}");
    assert!(
        error.contains("none of the body's records were taken"),
        "{error}"
    );
    assert!(drain(&mut s.rx).is_empty(), "nothing of it went on");
    assert_eq!(s.metrics.connection_errors.get("bad_request"), 1);
    assert_eq!(s.metrics.events.get(), 0);
}

#[tokio::test]
async fn a_full_pipeline_is_429_with_retry_after_and_nothing_is_taken() {
    let mut s = server("queue_timeout = \"50ms\"\nretry_after = \"7s\"", 1).await;
    // The one slot of the channel, taken and not received: full.
    let first = tokio::spawn({
        let addr = s.addr;
        async move { request(addr, "POST /a HTTP/1.1", b"{\"n\":1}").await }
    });
    while s.metrics.events.get() == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let answer = request(s.addr, "POST /a HTTP/1.1", b"{\"n\":2}").await;
    assert_eq!(answer.status, 429, "{answer:?}");
    assert_eq!(answer.header("retry-after"), Some("7"));
    assert!(answer.body.contains("none were taken"), "{answer:?}");
    assert_eq!(s.metrics.events.get(), 1);
    assert_eq!(s.metrics.connection_errors.get("busy"), 1);
    // The first one's events, stored, answer it; the refused ones never came.
    let got = drain(&mut s.rx);
    assert_eq!(got.len(), 1);
    assert_eq!(field(&got[0].events[0].record, "n"), Value::Int(1));
    drop(got);
    assert_eq!(first.await.unwrap().status, 200);
}

#[tokio::test]
async fn a_request_larger_than_the_channel_is_taken_whole() {
    let s = server("", 2).await;
    let seen = store_all(s.rx);
    let body = "{\"n\":1}\n".repeat(5000);
    let answer = request(s.addr, "POST /a HTTP/1.1", body.as_bytes()).await;
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(seen.lock().unwrap().len(), 5000);
}

#[tokio::test]
async fn events_not_stored_within_ack_timeout_are_503_with_retry_after() {
    let mut s = server("ack_timeout = \"100ms\"", 4).await;
    let answer = request(s.addr, "POST /a HTTP/1.1", b"{\"n\":1}").await;
    assert_eq!(answer.status, 503, "{answer:?}");
    assert_eq!(answer.header("retry-after"), Some("5"));
    assert!(answer.body.contains("may duplicate"), "{answer:?}");
    assert_eq!(drain(&mut s.rx).len(), 1, "taken, held by an output");
}

#[tokio::test]
async fn a_token_is_required_when_configured() {
    let s = server("token = \"s3cret\"", 4).await;
    let seen = store_all(s.rx);
    for (auth, status) in [
        ("", 401),
        ("\r\nAuthorization: Bearer wrong", 401),
        ("\r\nAuthorization: Bearer s3cre", 401),
        ("\r\nAuthorization: Basic s3cret", 401),
        ("\r\nAuthorization: Bearer s3cret", 200),
    ] {
        let head = format!("POST /a HTTP/1.1{auth}");
        let answer = request(s.addr, &head, b"{\"n\":1}").await;
        assert_eq!(answer.status, status, "{auth:?}: {answer:?}");
        if status == 401 {
            assert_eq!(answer.header("www-authenticate"), Some("Bearer"));
        }
    }
    assert_eq!(seen.lock().unwrap().len(), 1);
    assert_eq!(s.metrics.connection_errors.get("auth_failed"), 4);
}

#[tokio::test]
async fn gzip_and_zstd_bodies_are_read_and_other_encodings_refused() {
    let s = server(
        "max_body_bytes = \"1KiB\"\nmax_decompressed_bytes = \"64KiB\"",
        4,
    )
    .await;
    let seen = store_all(s.rx);
    let text = b"{\"n\":1}\n{\"n\":2}\n";
    let answer = request(
        s.addr,
        "POST /a HTTP/1.1\r\nContent-Encoding: gzip",
        &gzip(text),
    )
    .await;
    assert_eq!(answer.status, 200, "{answer:?}");
    let zstd = zstd::encode_all(&text[..], 3).unwrap();
    let answer = request(s.addr, "POST /a HTTP/1.1\r\nContent-Encoding: zstd", &zstd).await;
    assert_eq!(answer.status, 200, "{answer:?}");
    let answer = request(s.addr, "POST /a HTTP/1.1\r\nContent-Encoding: br", text).await;
    assert_eq!(answer.status, 415, "{answer:?}");
    // A bomb: under 1 KiB of gzip that inflates past 64 KiB.
    let bomb = gzip(&vec![b' '; 512 << 10]);
    assert!(bomb.len() <= 1024, "{}", bomb.len());
    let answer = request(s.addr, "POST /a HTTP/1.1\r\nContent-Encoding: gzip", &bomb).await;
    assert_eq!(answer.status, 413, "{answer:?}");
    let answer = request(s.addr, "POST /a HTTP/1.1\r\nContent-Encoding: gzip", text).await;
    assert_eq!(answer.status, 400, "{answer:?}");
    assert_eq!(seen.lock().unwrap().len(), 4);
    assert_eq!(s.metrics.connection_errors.get("decompressed_too_large"), 1);
    assert_eq!(s.metrics.connection_errors.get("bad_gzip"), 1);
    assert_eq!(s.metrics.connection_errors.get("unsupported_encoding"), 1);
}

#[tokio::test]
async fn bodies_and_record_counts_over_their_limits_are_413() {
    let s = server("max_body_bytes = \"1KiB\"\nmax_records = 3", 4).await;
    let seen = store_all(s.rx);
    let big = vec![b' '; 2000];
    // Declared too large: refused before the body is read.
    let answer = request(s.addr, "POST /a HTTP/1.1", &big).await;
    assert_eq!(answer.status, 413, "{answer:?}");
    // Chunked, so not declared: refused once past the limit.
    let mut stream = TcpStream::connect(s.addr).await.unwrap();
    let mut bytes =
        b"POST /a HTTP/1.1\r\nHost: t\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n"
            .to_vec();
    for _ in 0..4 {
        bytes.extend_from_slice(b"200\r\n");
        bytes.extend_from_slice(&[b' '; 0x200]);
        bytes.extend_from_slice(b"\r\n");
    }
    bytes.extend_from_slice(b"0\r\n\r\n");
    stream.write_all(&bytes).await.unwrap();
    let answer = read_answer(&mut stream).await;
    assert_eq!(answer.status, 413, "{answer:?}");
    let answer = request(s.addr, "POST /a HTTP/1.1", &b"{}\n".repeat(4)).await;
    assert_eq!(answer.status, 413, "{answer:?}");
    assert!(answer.body.contains("max_records (3)"), "{answer:?}");
    let answer = request(s.addr, "POST /a HTTP/1.1", &b"{}\n".repeat(3)).await;
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(seen.lock().unwrap().len(), 3);
    assert_eq!(s.metrics.connection_errors.get("body_too_large"), 3);
}

#[tokio::test]
async fn a_client_trickling_its_headers_is_cut_off() {
    let s = server("header_timeout = \"200ms\"", 4).await;
    let mut stream = TcpStream::connect(s.addr).await.unwrap();
    stream
        .write_all(b"POST /a HTTP/1.1\r\nHost: t\r\n")
        .await
        .unwrap();
    // The server closes; no answer needed. Bounded by the test's timeout.
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut raw))
        .await
        .expect("closed within 30s")
        .ok();
    assert_eq!(s.metrics.connection_errors.get("header_timeout"), 1);
}

/// A connection that sends nothing, new or kept alive after a request, is
/// closed at `header_timeout`: idle connections don't pile up.
#[tokio::test]
async fn a_silent_connection_is_closed_at_header_timeout() {
    let s = server("header_timeout = \"200ms\"", 4).await;
    let _seen = store_all(s.rx);
    let mut silent = TcpStream::connect(s.addr).await.unwrap();
    let mut kept = TcpStream::connect(s.addr).await.unwrap();
    kept.write_all(b"POST /a HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\n{}")
        .await
        .unwrap();
    for stream in [&mut silent, &mut kept] {
        let mut raw = Vec::new();
        tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut raw))
            .await
            .expect("closed within 30s")
            .ok();
    }
    assert_eq!(s.metrics.connection_errors.get("header_timeout"), 2);
}

/// Past `max_connections`, a new connection is closed at once, counted;
/// the ones open are served.
#[tokio::test]
async fn connections_past_max_connections_are_closed_at_accept() {
    let s = server("max_connections = 2", 4).await;
    let _seen = store_all(s.rx);
    let mut open = Vec::new();
    for _ in 0..2 {
        open.push(TcpStream::connect(s.addr).await.unwrap());
    }
    while s.metrics.connections.get() < 2 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let mut third = TcpStream::connect(s.addr).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), third.read_to_end(&mut raw))
        .await
        .expect("closed within 30s")
        .ok();
    assert!(raw.is_empty());
    assert_eq!(s.metrics.connection_errors.get("too_many_connections"), 1);
    let body = b"POST /a HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}";
    open[0].write_all(body).await.unwrap();
    assert_eq!(read_answer(&mut open[0]).await.status, 200);
}

#[tokio::test]
async fn a_client_trickling_its_body_is_answered_408() {
    let mut s = server("body_timeout = \"200ms\"", 4).await;
    let mut stream = TcpStream::connect(s.addr).await.unwrap();
    stream
        .write_all(b"POST /a HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n{\"n\":")
        .await
        .unwrap();
    let answer = read_answer(&mut stream).await;
    assert_eq!(answer.status, 408, "{answer:?}");
    assert_eq!(s.metrics.connection_errors.get("body_timeout"), 1);
    assert!(drain(&mut s.rx).is_empty());
}

#[tokio::test]
async fn time_key_gives_the_event_time_and_counts_the_unreadable() {
    let s = server("time_key = \"ts\"", 4).await;
    let seen = store_all(s.rx);
    let body =
        b"{\"ts\":\"2018-09-01T12:00:00Z\"}\n{\"ts\":1535803200}\n{\"ts\":\"soon\"}\n{\"x\":1}\n";
    let answer = request(s.addr, "POST /a HTTP/1.1", body).await;
    assert_eq!(answer.status, 200, "{answer:?}");
    let times: Vec<i64> = seen.lock().unwrap().iter().map(|e| e.time).collect();
    let sept_1 = 1_535_803_200 * 1_000_000_000;
    assert_eq!(&times[..2], [sept_1, sept_1]);
    assert!(
        times[2] > sept_1 && times[3] > sept_1,
        "the time of the request"
    );
    assert_eq!(s.metrics.time_errors.get(), 1);
}

#[tokio::test]
async fn keep_alive_serves_several_requests_on_one_connection() {
    let s = server("", 4).await;
    let seen = store_all(s.rx);
    let mut stream = TcpStream::connect(s.addr).await.unwrap();
    for n in 0..3 {
        let body = format!("{{\"n\":{n}}}");
        let head = format!(
            "POST /a HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        let mut buf = vec![0u8; 4096];
        let n = stream.read(&mut buf).await.unwrap();
        assert!(
            buf[..n].starts_with(b"HTTP/1.1 200"),
            "{:?}",
            String::from_utf8_lossy(&buf[..n])
        );
    }
    assert_eq!(seen.lock().unwrap().len(), 3);
}
