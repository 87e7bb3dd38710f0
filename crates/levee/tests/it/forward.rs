//! The `forward` source against clients no one here wrote: the exact bytes
//! Fluent Bit 5.1.1 sent (crates/levee-io/tests/data/forward/), the
//! `fluent-logger` Python package, and hostile connections.

use std::ffi::OsStr;
use std::io::{BufRead, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::slow_pipe::{SlowReader, mkfifo};
use crate::support::{Running, python, scrape, start_run, toml_path, wait_until};

fn fixture(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../levee-io/tests/data/forward")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A `levee run` with a forward source on a port the system chose, and
/// where its stderr says it listens and serves metrics.
struct Forwarding {
    _levee: Running,
    forward: String,
    metrics: String,
}

/// Starts levee with a `forward` source named `fw` (with `source_extra`
/// keys) and `outputs` (TOML), once it listens.
fn start(dir: &Path, source_extra: &str, outputs: &str) -> Forwarding {
    let config = format!(
        "data_dir = {data}\n[metrics]\nlisten = \"127.0.0.1:0\"\n\
         [sources.fw]\ntype = \"forward\"\nlisten = \"127.0.0.1:0\"\n{source_extra}\n{outputs}\n",
        data = toml_path(&dir.join("data")),
    );
    let (levee, mut stderr) = start_run(dir, &config);
    let (mut forward, mut metrics) = (None, None);
    let mut line = String::new();
    while forward.is_none() || metrics.is_none() {
        line.clear();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "levee exited early"
        );
        if let Some((_, rest)) = line.split_once("metrics on http://") {
            metrics = Some(rest.split('/').next().unwrap().to_owned());
        }
        if line.contains("forward source listening") {
            let (_, rest) = line.split_once("listen=").unwrap();
            forward = Some(rest.split_whitespace().next().unwrap().to_owned());
        }
    }
    // Keep reading, or a levee that logs a lot would block on a full pipe.
    std::thread::spawn(move || {
        let mut sink = Vec::new();
        let _ = stderr.read_to_end(&mut sink);
    });
    Forwarding {
        _levee: levee,
        forward: forward.unwrap(),
        metrics: metrics.unwrap(),
    }
}

fn file_output(name: &str, pattern: &str, path: &Path, extra: &str) -> String {
    format!(
        "[outputs.{name}]\nmatch = \"{pattern}\"\ntype = \"file\"\npath = {path}\n{extra}\n",
        path = toml_path(path)
    )
}

fn lines(path: &Path) -> Vec<Value> {
    crate::support::written_lines(path)
}

/// The value of the sample that starts with `series` (a name and labels).
fn sample(page: &str, series: &str) -> Option<f64> {
    page.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
}

fn errors(f: &Forwarding, reason: &str) -> f64 {
    let series =
        format!("levee_source_connection_errors_total{{source=\"fw\",reason=\"{reason}\"}}");
    sample(&scrape(&f.metrics), &series).unwrap_or(0.0)
}

/// Reads until the peer closes (or resets); what it sent before.
fn read_to_close(stream: &mut TcpStream) -> Vec<u8> {
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return got,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return got,
            Err(e) => panic!("the connection was not closed: {e}"),
        }
    }
}

/// The `{"ack": chunk}` answer to `chunk`, as msgpack.
fn ack_bytes(chunk: &str) -> Vec<u8> {
    let mut out = vec![0x81, 0xa3, b'a', b'c', b'k', 0xa0 | chunk.len() as u8];
    out.extend_from_slice(chunk.as_bytes());
    out
}

/// The chunk id in Fluent Bit's ack capture: the string after `chunk`.
fn chunk_of(capture: &[u8]) -> String {
    let at = capture
        .windows(6)
        .position(|w| w == b"\xa5chunk")
        .expect("a chunk option")
        + 6;
    let len = usize::from(capture[at] & 0x1f);
    String::from_utf8(capture[at + 1..at + 1 + len].to_vec()).unwrap()
}

/// Every Fluent Bit capture is taken; the chunk that asks for an ack is
/// answered only once its events are in the file, which the buffer
/// flushes after a second.
#[test]
fn fluent_bit_captures_are_taken_and_acked_only_once_stored() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("nginx.ndjson");
    let f = start(
        dir.path(),
        "",
        &file_output(
            "nginx",
            "nginx.access",
            &out,
            "buffer = { type = \"memory\", flush_interval = \"1s\" }",
        ),
    );

    let capture = fixture("capture_ack.bin");
    let chunk = chunk_of(&capture);
    let mut client = TcpStream::connect(&f.forward).unwrap();
    client.write_all(&capture).unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let want = ack_bytes(&chunk);
    let mut got = vec![0; want.len()];
    client.read_exact(&mut got).unwrap();
    assert_eq!(got, want, "the ack of chunk {chunk}");
    // The ack came after the output stored the chunk's five events.
    assert_eq!(lines(&out).len(), 5, "stored when acked");
    drop(client);

    for name in [
        "capture_default.bin",
        "capture_nometa.bin",
        "capture_timeint.bin",
    ] {
        let mut client = TcpStream::connect(&f.forward).unwrap();
        client.write_all(&fixture(name)).unwrap();
        client.shutdown(std::net::Shutdown::Write).unwrap();
        // No chunk, no ack: the source closes once the client is done.
        assert!(read_to_close(&mut client).is_empty(), "{name}");
    }
    let records = wait_until(Duration::from_secs(30), "20 records in the file", || {
        let records = lines(&out);
        (records.len() == 20).then_some(records)
    });
    for (i, r) in records.iter().enumerate() {
        assert_eq!(r["code"], "200", "{r}");
        assert_eq!(r.as_object().unwrap().len(), 9, "no metadata in {r}");
        if i % 5 == 0 {
            assert_eq!(r["remote"], "13.180.236.171");
        }
    }
    let page = scrape(&f.metrics);
    assert_eq!(
        sample(&page, "levee_source_events_total{source=\"fw\"}"),
        Some(20.0)
    );
    let total = [
        "capture_ack.bin",
        "capture_default.bin",
        "capture_nometa.bin",
        "capture_timeint.bin",
    ]
    .iter()
    .map(|n| fixture(n).len() as f64)
    .sum::<f64>();
    assert_eq!(
        sample(&page, "levee_source_bytes_total{source=\"fw\"}"),
        Some(total)
    );
}

/// Runs `forward_client.py` with `env`; its JSON, or its error.
fn try_client(addr: &str, mode: &str, n: usize, env: &[(&str, &OsStr)]) -> Result<Value, String> {
    let (host, port) = addr.rsplit_once(':').unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/forward_client.py");
    let out = Command::new(python())
        .arg(script)
        .args([host, port, mode, &n.to_string()])
        .envs(env.iter().copied())
        .output()
        .unwrap();
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    Ok(serde_json::from_slice(&out.stdout).unwrap())
}

fn client(addr: &str, mode: &str, n: usize) -> Value {
    try_client(addr, mode, n, &[]).unwrap_or_else(|e| panic!("forward_client.py {mode}: {e}"))
}

/// The fluent-logger package (Message mode, EventTime) and our own client
/// for PackedForward and CompressedPackedForward (gzip) with acks: every
/// event arrives once, routed by the tag its client gave.
#[test]
fn fluent_logger_and_packed_and_compressed_clients_deliver_every_event() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("app.ndjson");
    let other = dir.path().join("other.ndjson");
    let outputs = file_output("app", "app.**", &out, "")
        + &file_output("other", "app.compressed", &other, "");
    let f = start(dir.path(), "", &outputs);

    assert_eq!(client(&f.forward, "logger", 300)["sent"], 300);
    assert_eq!(
        client(&f.forward, "packed", 2500)["acks"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        client(&f.forward, "compressed", 1500)["acks"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    let records = wait_until(Duration::from_secs(30), "4300 records", || {
        let records = lines(&out);
        (records.len() == 4300).then_some(records)
    });
    for (prefix, n) in [("logger", 300), ("packed", 2500), ("compressed", 1500)] {
        let mut seen: Vec<i64> = records
            .iter()
            .filter(|r| {
                r["msg"]
                    .as_str()
                    .unwrap()
                    .starts_with(&format!("{prefix} "))
            })
            .map(|r| r["n"].as_i64().unwrap())
            .collect();
        seen.sort_unstable();
        assert_eq!(seen, (0..n).collect::<Vec<i64>>(), "{prefix}");
    }
    // Routed by the tag each frame carried.
    wait_until(Duration::from_secs(30), "1500 records in other", || {
        (lines(&other).len() == 1500).then_some(())
    });
    assert_eq!(errors(&f, "invalid_frame"), 0.0);
}

/// Garbage, a huge declared size, a gzip bomb, a cut frame, a client
/// trickling bytes and more connections than allowed: each is cut off and
/// counted under its reason, and a good client is served throughout.
#[test]
fn hostile_clients_are_cut_off_and_counted_and_others_are_served() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.ndjson");
    let f = start(
        dir.path(),
        "max_frame_bytes = \"64KiB\"\nmax_decompressed_bytes = \"1MiB\"\n\
         max_connections = 8\nframe_timeout = \"1s\"",
        &file_output("all", "**", &out, ""),
    );
    let good = fixture("capture_default.bin");
    let mut delivered = 0;
    let mut good_client = |f: &Forwarding| {
        let mut c = TcpStream::connect(&f.forward).unwrap();
        c.write_all(&good).unwrap();
        c.shutdown(std::net::Shutdown::Write).unwrap();
        read_to_close(&mut c);
        delivered += 5;
        let want = delivered;
        wait_until(
            Duration::from_secs(30),
            format_args!("{want} records"),
            || (lines(&out).len() == want).then_some(()),
        );
    };

    let hostile: Vec<(&str, Vec<u8>)> = vec![
        (
            "invalid_frame",
            b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
        ),
        // [tag, bin32 of 4 GiB]: refused before the bytes come.
        ("frame_too_large", b"\x92\xa1t\xc6\xff\xff\xff\xff".to_vec()),
        // A record with a string key and a map where a value's key should be.
        ("invalid_frame", b"\x93\xa1t\x01\x81\x80\x01".to_vec()),
    ];
    for (reason, bytes) in hostile {
        let before = errors(&f, reason);
        let mut c = TcpStream::connect(&f.forward).unwrap();
        c.write_all(&bytes).unwrap();
        read_to_close(&mut c);
        wait_until(Duration::from_secs(10), reason, || {
            (errors(&f, reason) == before + 1.0).then_some(())
        });
        good_client(&f);
    }

    // 8 MiB of zeros is 8 KiB of gzip, under max_frame_bytes.
    let mut bomb = Vec::new();
    {
        let mut gz = flate2::write::GzEncoder::new(&mut bomb, flate2::Compression::best());
        gz.write_all(&vec![0u8; 8 << 20]).unwrap();
        gz.finish().unwrap();
    }
    let mut frame = b"\x93\xa1t\xc6".to_vec();
    frame.extend_from_slice(&(bomb.len() as u32).to_be_bytes());
    frame.extend_from_slice(&bomb);
    frame.extend_from_slice(b"\x81\xaacompressed\xa4gzip");
    let mut c = TcpStream::connect(&f.forward).unwrap();
    c.write_all(&frame).unwrap();
    read_to_close(&mut c);
    wait_until(Duration::from_secs(10), "decompressed_too_large", || {
        (errors(&f, "decompressed_too_large") == 1.0).then_some(())
    });

    // Half a frame, then the client goes away.
    let mut c = TcpStream::connect(&f.forward).unwrap();
    c.write_all(&good[..good.len() / 2]).unwrap();
    c.shutdown(std::net::Shutdown::Write).unwrap();
    read_to_close(&mut c);
    wait_until(Duration::from_secs(10), "the cut frame counted", || {
        (errors(&f, "invalid_frame") == 3.0).then_some(())
    });

    // A trickle: a few bytes, then nothing; cut at frame_timeout while a
    // good client is served beside it.
    let mut slow = TcpStream::connect(&f.forward).unwrap();
    slow.write_all(&good[..3]).unwrap();
    good_client(&f);
    read_to_close(&mut slow);
    assert_eq!(errors(&f, "frame_timeout"), 1.0);

    // More connections than max_connections: the extra ones are closed at
    // once and counted; once they go, a good client is served again.
    let idle: Vec<TcpStream> = (0..12)
        .map(|_| TcpStream::connect(&f.forward).unwrap())
        .collect();
    wait_until(Duration::from_secs(10), "4 connections refused", || {
        (errors(&f, "too_many_connections") == 4.0).then_some(())
    });
    let open = sample(
        &scrape(&f.metrics),
        "levee_source_connections{source=\"fw\"}",
    );
    assert_eq!(open, Some(8.0));
    drop(idle);
    wait_until(
        Duration::from_secs(10),
        "the idle connections closed",
        || {
            let open = sample(
                &scrape(&f.metrics),
                "levee_source_connections{source=\"fw\"}",
            );
            (open == Some(0.0)).then_some(())
        },
    );
    good_client(&f);
    assert_eq!(
        lines(&out).len(),
        delivered,
        "nothing from a hostile client"
    );
}

/// A levee in `dir` whose one output, behind `buffer`, writes into a
/// named pipe nobody reads until the returned reader's `go` is set, and a
/// client that has sent 1,500 events without acks (some 300 KB of JSON,
/// more than the pipe holds), then a chunk that asks for one: its id.
#[cfg(unix)]
fn blocked_output(dir: &Path, buffer: &str) -> (Forwarding, SlowReader, TcpStream, String) {
    let fifo: PathBuf = dir.join("out.fifo");
    mkfifo(&fifo);
    let reader = SlowReader::start(&fifo, 1 << 30, false);
    let f = start(dir, "", &file_output("slow", "**", &fifo, buffer));
    let mut client = TcpStream::connect(&f.forward).unwrap();
    let filler = fixture("capture_default.bin");
    for _ in 0..300 {
        client.write_all(&filler).unwrap();
    }
    let capture = fixture("capture_ack.bin");
    client.write_all(&capture).unwrap();
    (f, reader, client, chunk_of(&capture))
}

/// Backpressure: while the output can't write (a named pipe nobody reads,
/// its 64 KiB full), a chunk is taken and counted but not acked; once the
/// pipe is read, the ack comes.
#[cfg(unix)]
#[test]
fn a_chunk_is_not_acked_while_its_output_is_blocked() {
    let dir = tempfile::tempdir().unwrap();
    let (f, reader, mut client, chunk) = blocked_output(
        dir.path(),
        "buffer = { type = \"memory\", max_bytes = \"64MiB\", flush_interval = \"100ms\" }",
    );
    wait_until(Duration::from_secs(30), "the chunk's events routed", || {
        let page = scrape(&f.metrics);
        (sample(&page, "levee_source_events_total{source=\"fw\"}") == Some(1505.0)).then_some(())
    });
    client.set_nonblocking(true).unwrap();
    let mut byte = [0u8; 1];
    match client.read(&mut byte) {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        other => panic!("an answer while the output is blocked: {other:?}"),
    }
    client.set_nonblocking(false).unwrap();
    reader.go.store(true, std::sync::atomic::Ordering::Relaxed);
    client
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let want = ack_bytes(&chunk);
    let mut got = vec![0; want.len()];
    client.read_exact(&mut got).unwrap();
    assert_eq!(got, want);
}

/// Behind a `disk` buffer a chunk is acked once its events are in the
/// buffer's log, though the output itself can't write: the log, not the
/// client, now holds them.
#[cfg(unix)]
#[test]
fn a_chunk_behind_a_disk_buffer_is_acked_once_logged_while_the_output_is_blocked() {
    let dir = tempfile::tempdir().unwrap();
    let (f, reader, mut client, chunk) = blocked_output(
        dir.path(),
        "buffer = { type = \"disk\", fsync = \"always\", flush_interval = \"100ms\" }",
    );
    client
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let want = ack_bytes(&chunk);
    let mut got = vec![0; want.len()];
    client.read_exact(&mut got).unwrap();
    assert_eq!(got, want);
    // Acked, yet not all written: the pipe holds 64 KiB, the events more.
    let page = scrape(&f.metrics);
    let written: f64 = page
        .lines()
        .filter(|l| l.starts_with("levee_output_events_total{") && l.contains("output=\"slow\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert!(written < 1505.0, "written: {written}");
    reader.go.store(true, std::sync::atomic::Ordering::Relaxed);
}

/// While the output is blocked and its buffer full, the source stops
/// reading its socket: a client's writes stop going through (the kernel's
/// socket buffers fill), rather than levee's memory growing.
#[cfg(unix)]
#[test]
fn a_blocked_output_stops_the_source_reading_its_socket() {
    let dir = tempfile::tempdir().unwrap();
    let fifo: PathBuf = dir.path().join("out.fifo");
    mkfifo(&fifo);
    let reader = SlowReader::start(&fifo, 1 << 30, false);
    let f = start(
        dir.path(),
        "",
        &file_output(
            "slow",
            "**",
            &fifo,
            "buffer = { type = \"memory\", max_bytes = \"1MiB\", batch_max_bytes = \"256KiB\", flush_interval = \"100ms\" }",
        ),
    );
    let mut client = TcpStream::connect(&f.forward).unwrap();
    client
        .set_write_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let filler = fixture("capture_default.bin");
    let mut sent = 0usize;
    // 256 MiB of frames at most: the writes must stall long before.
    let stalled = loop {
        if sent > 256 << 20 {
            break false;
        }
        match client.write(&filler) {
            Ok(n) => sent += n,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                break true;
            }
            Err(e) => panic!("{e}"),
        }
    };
    assert!(stalled, "levee read {sent} bytes with its output blocked");
    let page = scrape(&f.metrics);
    let read = sample(&page, "levee_source_bytes_total{source=\"fw\"}").unwrap();
    assert!(read < (64 << 20) as f64, "levee read {read} bytes");
    reader.go.store(true, std::sync::atomic::Ordering::Relaxed);
}

/// With `shared_key` and `tls`: a client holding the key, over TLS, gets
/// the server's HELO, its PONG (whose digest proves the server holds the
/// key too) and its ack; a wrong key, events before the handshake, and a
/// client without TLS are each refused and counted.
#[test]
fn a_shared_key_over_tls_lets_the_right_client_in_and_keeps_others_out() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.ndjson");
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../levee-io/tests/data/forward");
    let cert = data.join("tls_test_cert.pem");
    let key = data.join("tls_test_key.pem");
    let f = start(
        dir.path(),
        &format!(
            "shared_key = \"s3cret\"\ntls = {{ cert = {}, key = {} }}",
            toml_path(&cert),
            toml_path(&key)
        ),
        &file_output("all", "**", &out, ""),
    );
    let with = |key: Option<&str>| {
        let mut env = vec![("FORWARD_TLS_CA", cert.as_os_str())];
        if let Some(key) = key {
            env.push(("FORWARD_SHARED_KEY", OsStr::new(key)));
        }
        try_client(&f.forward, "packed", 100, &env)
    };

    let acked = with(Some("s3cret")).expect("the right key is let in");
    assert_eq!(acked["acks"].as_array().unwrap().len(), 1);
    assert_eq!(lines(&out).len(), 100);

    let refused = with(Some("wrong")).expect_err("a wrong key is refused");
    assert!(
        refused.contains("refused") && refused.contains("shared_key mismatch"),
        "{refused}"
    );
    wait_until(Duration::from_secs(10), "auth_failed counted", || {
        (errors(&f, "auth_failed") == 1.0).then_some(())
    });
    // A client that skips the handshake: the first answer is the HELO, not
    // its ack, and its events are refused.
    let skipped = with(None).expect_err("events before the handshake");
    assert!(skipped.contains("HELO"), "{skipped}");
    wait_until(Duration::from_secs(10), "auth_failed counted", || {
        (errors(&f, "auth_failed") == 2.0).then_some(())
    });

    // Plain TCP to a TLS port.
    let mut plain = TcpStream::connect(&f.forward).unwrap();
    plain.write_all(&fixture("capture_default.bin")).unwrap();
    read_to_close(&mut plain);
    wait_until(Duration::from_secs(10), "the plain client counted", || {
        (errors(&f, "tls") == 1.0).then_some(())
    });
    assert_eq!(lines(&out).len(), 100, "nothing from a refused client");
}

/// Two thousand idle connections: the first `max_connections` (1,024, the
/// default) are held, the rest closed at once and counted; a client
/// connected before them is served throughout, and the process lives.
#[test]
fn two_thousand_idle_connections_are_refused_past_the_limit_and_a_working_client_is_served() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.ndjson");
    let f = start(dir.path(), "", &file_output("all", "**", &out, ""));
    let frame = fixture("capture_default.bin");
    let mut working = TcpStream::connect(&f.forward).unwrap();
    working.write_all(&frame).unwrap();
    wait_until(Duration::from_secs(10), "the first frame", || {
        (lines(&out).len() == 5).then_some(())
    });

    // (Connecting takes seconds: the listen queue fills faster than a
    // debug build accepts, and the kernel retries the dropped SYNs.)
    let idle: Vec<TcpStream> = (0..2000)
        .map(|_| TcpStream::connect(&f.forward).unwrap())
        .collect();
    wait_until(Duration::from_secs(30), "977 refused", || {
        (errors(&f, "too_many_connections") == 977.0).then_some(())
    });
    let open = sample(
        &scrape(&f.metrics),
        "levee_source_connections{source=\"fw\"}",
    );
    assert_eq!(open, Some(1024.0));
    working.write_all(&frame).unwrap();
    wait_until(Duration::from_secs(10), "the second frame", || {
        (lines(&out).len() == 10).then_some(())
    });

    drop(idle);
    wait_until(Duration::from_secs(30), "the idle connections gone", || {
        let page = scrape(&f.metrics);
        (sample(&page, "levee_source_connections{source=\"fw\"}") == Some(1.0)).then_some(())
    });
    let mut again = TcpStream::connect(&f.forward).unwrap();
    again.write_all(&frame).unwrap();
    again.shutdown(std::net::Shutdown::Write).unwrap();
    read_to_close(&mut again);
    wait_until(Duration::from_secs(10), "a new client served", || {
        (lines(&out).len() == 15).then_some(())
    });
}

/// A connection that sends nothing for `idle_timeout` is closed and
/// counted, so idle clients can't hold `max_connections` for ever.
#[test]
fn an_idle_connection_is_closed_at_idle_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let f = start(
        dir.path(),
        "idle_timeout = \"1s\"",
        &file_output("all", "**", &dir.path().join("out.ndjson"), ""),
    );
    let mut idle = TcpStream::connect(&f.forward).unwrap();
    assert!(read_to_close(&mut idle).is_empty());
    wait_until(Duration::from_secs(10), "idle_timeout counted", || {
        (errors(&f, "idle_timeout") == 1.0).then_some(())
    });
}
