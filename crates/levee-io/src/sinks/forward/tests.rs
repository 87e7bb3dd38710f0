//! The forward sink against receivers made here from the forward source's
//! own decoder and handshake, on real sockets on port 0.

use std::time::Duration;

use levee_event::{Event, Record, Tag, Value};
use prometheus_client::metrics::counter::Counter;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

use super::client::ForwardSink;
use super::{BuiltForward, ForwardConfig};
use crate::forward::handshake;
use crate::sinks::WriteSink;
use crate::sources::forward::decode::{self, Frame, Limits, Mode, Scanner};

const LIMITS: Limits = Limits {
    max_frame_bytes: 1 << 20,
    max_decompressed_bytes: 1 << 20,
};

/// What a test receiver answers to a message with a chunk id.
#[derive(Clone, Copy, PartialEq)]
enum Answer {
    Ack,
    WrongAck,
    Nothing,
}

/// A message as the receiver decoded it.
#[derive(Debug)]
struct Got {
    tag: String,
    mode: Mode,
    size: Option<u64>,
    chunk: bool,
    entries: Vec<(i64, Record)>,
}

/// How a test receiver behaves.
#[derive(Clone)]
struct Behaviour {
    answer: Answer,
    /// Close each connection after this many messages.
    close_after: Option<usize>,
    /// The handshake's key, when the receiver asks for one.
    shared_key: Option<&'static str>,
}

const PLAIN: Behaviour = Behaviour {
    answer: Answer::Ack,
    close_after: None,
    shared_key: None,
};

/// A receiver on port 0: its address, and every message it took, with the
/// number of the connection it came on.
async fn receiver(b: Behaviour) -> (String, mpsc::UnboundedReceiver<(usize, Got)>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        for n in 0.. {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(serve(stream, n, b.clone(), tx.clone()));
        }
    });
    (addr, rx)
}

async fn serve(
    mut stream: TcpStream,
    conn: usize,
    b: Behaviour,
    tx: mpsc::UnboundedSender<(usize, Got)>,
) {
    let mut nonce = None;
    if b.shared_key.is_some() {
        let n = handshake::nonce().unwrap();
        let mut helo = Vec::new();
        handshake::helo(&n, &mut helo);
        stream.write_all(&helo).await.unwrap();
        nonce = Some(n);
    }
    let mut buf = Vec::new();
    let mut scanner = Scanner::new();
    let mut messages = 0;
    loop {
        while let Some(len) = scanner.scan(&buf, LIMITS.max_frame_bytes).unwrap() {
            let bytes: Vec<u8> = buf.drain(..len).collect();
            match decode::frame(&bytes).unwrap() {
                Frame::Ping(ping) => {
                    let mut pong = Vec::new();
                    let key = b.shared_key.unwrap().as_bytes();
                    let ok = handshake::pong(&ping, &nonce.unwrap(), key, "recv", &mut pong);
                    stream.write_all(&pong).await.unwrap();
                    if ok.is_err() {
                        return;
                    }
                }
                Frame::Events(ev) => {
                    let entries = ev
                        .entries(&LIMITS)
                        .unwrap()
                        .collect::<Result<Vec<_>, _>>()
                        .unwrap();
                    let chunk = ev.options.chunk.clone();
                    tx.send((
                        conn,
                        Got {
                            tag: ev.tag.into_owned(),
                            mode: ev.mode,
                            size: ev.options.size,
                            chunk: chunk.is_some(),
                            entries,
                        },
                    ))
                    .unwrap();
                    let id = match (chunk, b.answer) {
                        (Some(chunk), Answer::Ack) => Some(chunk.to_string()),
                        (Some(chunk), Answer::WrongAck) => Some(format!("not{chunk}")),
                        _ => None,
                    };
                    if let Some(id) = id {
                        let mut ack = Vec::new();
                        crate::forward::write_ack(&id, &mut ack);
                        stream.write_all(&ack).await.unwrap();
                    }
                    messages += 1;
                    if b.close_after == Some(messages) {
                        return;
                    }
                }
            }
        }
        let mut more = [0u8; 4096];
        match stream.read(&mut more).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&more[..n]),
        }
    }
}

fn config(servers: &[&str], extra: &str) -> BuiltForward {
    let servers: Vec<String> = servers.iter().map(|s| format!("{s:?}")).collect();
    let text = format!("servers = [{}]\n{extra}", servers.join(", "));
    toml::from_str::<ForwardConfig>(&text)
        .unwrap()
        .build()
        .unwrap()
}

fn sink(config: BuiltForward) -> ForwardSink {
    ForwardSink::new(config, Counter::default())
}

fn event(tag: &str, time: i64, n: i64) -> Event {
    let mut record = Record::new();
    record.insert("msg", Value::String(format!("line {n}").into()));
    record.insert("n", Value::Int(n));
    Event::new(Tag::new(tag), time, record)
}

async fn write(sink: &mut ForwardSink, events: &[Event]) -> Result<u64, crate::SinkError> {
    sink.write(events, &mut Vec::new()).await
}

/// 2024-06-01T00:00:00.123456789Z in nanoseconds.
const TIME: i64 = 1_717_200_000_123_456_789;

#[tokio::test]
async fn a_batch_goes_as_one_packed_forward_message_per_tag_that_the_source_decodes() {
    let (addr, mut rx) = receiver(PLAIN).await;
    let mut s = sink(config(&[&addr], ""));
    let mut nested = Record::new();
    nested.insert("f", Value::Float(1.5));
    nested.insert("none", Value::Null);
    nested.insert("yes", Value::Bool(true));
    nested.insert(
        "list",
        Value::Array(Box::new(vec![Value::Int(-40_000), Value::Int(300)])),
    );
    let mut odd = event("b.tag", -1_500_000_000, 2);
    odd.record.insert("nested", Value::Map(Box::new(nested)));
    let events = vec![
        event("a.tag", TIME, 0),
        odd.clone(),
        event("a.tag", TIME + 1, 1),
    ];
    assert_eq!(write(&mut s, &events).await.unwrap(), 3);

    let (_, a) = rx.recv().await.unwrap();
    assert_eq!(
        (a.tag.as_str(), a.mode, a.size),
        ("a.tag", Mode::PackedForward, Some(2))
    );
    assert!(!a.chunk, "no chunk id without require_ack");
    assert_eq!(
        a.entries,
        vec![
            (TIME, events[0].record.clone()),
            (TIME + 1, events[2].record.clone())
        ]
    );
    let (_, b) = rx.recv().await.unwrap();
    assert_eq!(b.tag, "b.tag");
    // Before 1970, EventTime cannot say it: whole seconds, rounded down.
    assert_eq!(b.entries, vec![(-2_000_000_000, odd.record)]);
}

#[tokio::test]
async fn gzip_sends_compressed_packed_forward() {
    let (addr, mut rx) = receiver(PLAIN).await;
    let mut s = sink(config(
        &[&addr],
        "compression = \"gzip\"\nrequire_ack = true",
    ));
    let events: Vec<Event> = (0..500).map(|n| event("z", TIME + n, n)).collect();
    assert_eq!(write(&mut s, &events).await.unwrap(), 500);
    let (_, got) = rx.recv().await.unwrap();
    assert_eq!(got.mode, Mode::CompressedPackedForward);
    assert!(got.chunk);
    assert_eq!(got.entries.len(), 500);
    assert_eq!(got.entries[499], (TIME + 499, events[499].record.clone()));
}

#[tokio::test]
async fn require_ack_stores_only_once_the_right_ack_comes() {
    let (good, mut rx) = receiver(PLAIN).await;
    let mut s = sink(config(&[&good], "require_ack = true"));
    assert_eq!(write(&mut s, &[event("t", TIME, 1)]).await.unwrap(), 1);
    assert!(rx.recv().await.unwrap().1.chunk);

    let wrong = Behaviour {
        answer: Answer::WrongAck,
        ..PLAIN
    };
    let (addr, _rx) = receiver(wrong).await;
    let mut s = sink(config(&[&addr], "require_ack = true"));
    let err = write(&mut s, &[event("t", TIME, 1)]).await.unwrap_err();
    assert!(
        err.to_string().contains("an ack for a chunk not sent"),
        "{err}"
    );

    let silent = Behaviour {
        answer: Answer::Nothing,
        ..PLAIN
    };
    let (addr, mut rx) = receiver(silent).await;
    let mut s = sink(config(
        &[&addr],
        "require_ack = true\nack_timeout = \"200ms\"",
    ));
    let err = write(&mut s, &[event("t", TIME, 1)]).await.unwrap_err();
    assert!(
        err.to_string().contains("no ack within ack_timeout"),
        "{err}"
    );
    // Tried again, on a new connection: the old one may still ack late.
    let _ = write(&mut s, &[event("t", TIME, 1)]).await.unwrap_err();
    assert_eq!(rx.recv().await.unwrap().0, 0);
    assert_eq!(rx.recv().await.unwrap().0, 1);
}

#[tokio::test]
async fn a_receiver_that_closes_before_its_ack_fails_the_write() {
    let closing = Behaviour {
        answer: Answer::Nothing,
        close_after: Some(1),
        ..PLAIN
    };
    let (addr, _rx) = receiver(closing).await;
    let mut s = sink(config(&[&addr], "require_ack = true"));
    let err = write(&mut s, &[event("t", TIME, 1)]).await.unwrap_err();
    assert!(err.to_string().contains("closed the connection"), "{err}");
}

/// Regression: a kept connection the receiver had closed (its idle
/// timeout, a restart) was written into; the write seemed to work and,
/// without `require_ack`, the batch was lost.
#[tokio::test]
async fn a_kept_connection_the_receiver_closed_is_reconnected_not_written_into() {
    let once = Behaviour {
        close_after: Some(1),
        ..PLAIN
    };
    let (addr, mut rx) = receiver(once).await;
    let mut s = sink(config(&[&addr], ""));
    write(&mut s, &[event("t", TIME, 1)]).await.unwrap();
    assert_eq!(rx.recv().await.unwrap().0, 0);
    // Wait until the receiver's close has reached this side.
    let conn = s.conn.as_mut().unwrap();
    let mut probe = [0u8; 1];
    assert_eq!(conn.stream.read(&mut probe).await.unwrap(), 0);
    write(&mut s, &[event("t", TIME, 2)]).await.unwrap();
    let (conn, got) = tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("the second batch arrives")
        .unwrap();
    assert_eq!((conn, got.entries[0].1.get("n")), (1, Some(&Value::Int(2))));
}

#[tokio::test]
async fn keep_alive_sends_every_batch_on_one_connection() {
    let (addr, mut rx) = receiver(PLAIN).await;
    let mut s = sink(config(&[&addr], "require_ack = true"));
    for n in 0..5 {
        write(&mut s, &[event("t", TIME, n)]).await.unwrap();
        assert_eq!(rx.recv().await.unwrap().0, 0);
    }
}

#[tokio::test]
async fn a_failed_primary_is_passed_over_until_recover_wait_then_tried_first() {
    // A port nothing listens on.
    let dead = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let primary = dead.local_addr().unwrap().to_string();
    drop(dead);
    let (standby, mut rx) = receiver(PLAIN).await;
    let mut s = sink(config(&[&primary, &standby], "require_ack = true"));
    write(&mut s, &[event("t", TIME, 1)]).await.unwrap();
    assert_eq!(rx.recv().await.unwrap().1.entries.len(), 1);
    assert!(s.down_until[0].is_some(), "the primary is passed over");

    // The primary comes back, on its port; within recover_wait the standby
    // keeps the traffic, on its kept connection.
    let back = TcpListener::bind(&primary).await.unwrap();
    write(&mut s, &[event("t", TIME, 2)]).await.unwrap();
    assert_eq!(rx.recv().await.unwrap().0, 0);

    // Once recover_wait is over the primary is tried first again.
    s.down_until[0] = None;
    let sent = tokio::spawn(async move { write(&mut s, &[event("t", TIME, 3)]).await.map(|_| s) });
    let (stream, _) = back.accept().await.unwrap();
    let (tx, mut primary_rx) = mpsc::unbounded_channel();
    tokio::spawn(serve(stream, 0, PLAIN, tx));
    let got = primary_rx.recv().await.unwrap().1;
    assert_eq!(got.entries[0].1.get("n"), Some(&Value::Int(3)));
    sent.await.unwrap().unwrap();
}

#[tokio::test]
async fn with_every_server_down_the_write_fails_and_names_each() {
    let mut listeners = Vec::new();
    for _ in 0..2 {
        listeners.push(TcpListener::bind("127.0.0.1:0").await.unwrap());
    }
    let dead: Vec<String> = listeners
        .iter()
        .map(|l| l.local_addr().unwrap().to_string())
        .collect();
    // Closed only now, so the two ports differ.
    drop(listeners);
    let mut s = sink(config(&[&dead[0], &dead[1]], "connect_timeout = \"2s\""));
    let err = write(&mut s, &[event("t", TIME, 1)]).await.unwrap_err();
    let text = err.to_string();
    assert!(text.contains(&dead[0]) && text.contains(&dead[1]), "{text}");
}

#[tokio::test]
async fn the_shared_key_handshake_lets_the_right_key_in_and_refuses_a_wrong_one() {
    let keyed = Behaviour {
        shared_key: Some("s3cret"),
        ..PLAIN
    };
    let (addr, mut rx) = receiver(keyed).await;
    let mut s = sink(config(
        &[&addr],
        "shared_key = \"s3cret\"\nrequire_ack = true",
    ));
    write(&mut s, &[event("t", TIME, 1)]).await.unwrap();
    assert_eq!(rx.recv().await.unwrap().1.entries.len(), 1);

    let mut s = sink(config(&[&addr], "shared_key = \"wrong\""));
    let err = write(&mut s, &[event("t", TIME, 1)]).await.unwrap_err();
    assert!(err.to_string().contains("shared_key mismatch"), "{err}");

    // Without a key, a receiver that wants one is not taken for acking.
    let mut s = sink(config(&[&addr], "require_ack = true"));
    let err = write(&mut s, &[event("t", TIME, 1)]).await.unwrap_err();
    assert!(err.to_string().contains("wants a shared_key"), "{err}");
}

#[test]
fn a_bad_config_is_refused_with_its_key() {
    let refused = |text: &str| match toml::from_str::<ForwardConfig>(text) {
        Err(e) => ("parse".to_owned(), e.to_string()),
        Ok(c) => {
            let e = c.build().unwrap_err();
            (e.key.to_owned(), e.reason)
        }
    };
    for (text, key) in [
        ("servers = []", "servers"),
        ("servers = [\"localhost\"]", "servers"),
        ("servers = [\"localhost:0\"]", "servers"),
        ("servers = [\"localhost:99999\"]", "servers"),
        ("servers = [\":24224\"]", "servers"),
        ("servers = [\"::1:24224\"]", "servers"),
        ("servers = [\"a b:24224\"]", "servers"),
        ("servers = [\"h:1\"]\nack_timeout = \"0s\"", "ack_timeout"),
        (
            "servers = [\"h:1\"]\nconnect_timeout = \"0s\"",
            "connect_timeout",
        ),
        ("servers = [\"h:1\"]\nsend_timeout = \"0s\"", "send_timeout"),
        ("servers = [\"h:1\"]\nshared_key = \"\"", "shared_key"),
        (
            "servers = [\"h:1\"]\nshared_key = \"k\"\nself_hostname = \"\"",
            "self_hostname",
        ),
        ("servers = [\"h:1\"]\ncompression = \"zstd\"", "parse"),
        ("servers = [\"h:1\"]\nrequire_acks = true", "parse"),
        ("server = \"h:1\"", "parse"),
    ] {
        assert_eq!(refused(text).0, key, "{text}: {:?}", refused(text).1);
    }
    for ok in ["[::1]:24224", "127.0.0.1:24224", "logs.example.com:1"] {
        config(&[ok], "");
    }
    // The key stays out of Debug output.
    let c = config(&["h:1"], "shared_key = \"s3cret\"");
    assert!(!format!("{c:?}").contains("s3cret"));
    let parsed: ForwardConfig =
        toml::from_str("servers = [\"h:1\"]\nshared_key = \"s3cret\"").unwrap();
    assert!(!format!("{parsed:?}").contains("s3cret"));
}
