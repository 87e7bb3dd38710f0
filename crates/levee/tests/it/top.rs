//! `levee top` against a real `levee run` fed by the generator: `--once`'s
//! plain table (and against Fluent Bit's and Fluentd's pages), and the
//! terminal view in a tmux pane (`terminal.rs`).

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::Output;
use std::time::Duration;

use crate::slow_pipe::mkfifo;
use crate::support::{Running, levee, run_with_metrics, toml_path, try_request, wait_until};

/// A pipeline that keeps flowing: the generator at 1000 lines a second
/// through a grep filter into a file output and a blackhole, and into
/// `stuck`, a file output on a named pipe nobody reads, whose small buffer
/// fills and drops (it falls behind).
fn flowing(dir: &Path) -> (Running, String) {
    flowing_with(dir, None)
}

/// [`flowing`], its `/metrics` asking for `token` if given.
fn flowing_with(dir: &Path, token: Option<&str>) -> (Running, String) {
    let fifo = dir.join("stuck.pipe");
    mkfifo(&fifo);
    let token_line = token
        .map(|t| format!("token = \"{t}\"\n"))
        .unwrap_or_default();
    let config = format!(
        "data_dir = {data}\n[metrics]\nlisten = \"127.0.0.1:0\"\n{token_line}\
         [sources.gen]\ntype = \"generate\"\ndataset = \"nginx\"\nlines = 100000000\n\
         rate = 1000\ntag = \"nginx.access\"\n\
         parser = {{ type = \"nginx\", format = \"combined_request_time\" }}\n\
         [[filters]]\nmatch = \"**\"\ntype = \"grep\"\nexclude = {{ status = \"^5\" }}\n\
         [outputs.archive]\nmatch = \"**\"\ntype = \"file\"\npath = {out}\n\
         [outputs.void]\nmatch = \"**\"\ntype = \"blackhole\"\n\
         [outputs.stuck]\nmatch = \"**\"\ntype = \"file\"\npath = {fifo}\n\
         buffer = {{ max_bytes = \"1MiB\", batch_max_bytes = \"256KiB\", when_full = \"drop_newest\" }}\n",
        data = toml_path(&dir.join("data")),
        out = toml_path(&dir.join("out.ndjson")),
        fifo = toml_path(&fifo),
    );
    let (running, addr) = run_with_metrics(dir, &config);
    wait_until(Duration::from_secs(30), "no events generated", || {
        let page = get(&addr, "/metrics", token)?;
        let generated = page
            .lines()
            .find_map(|l| l.strip_prefix("levee_source_events_total{source=\"gen\"} "))
            .and_then(|n| n.trim().parse::<f64>().ok());
        generated.is_some_and(|n| n > 0.0).then_some(())
    });
    (running, addr)
}

/// The body of a GET of `path` with a bearer `token`, if the answer is 200.
fn get(addr: &str, path: &str, token: Option<&str>) -> Option<String> {
    let auth = token.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("Authorization", a.as_str())).collect();
    let answer = try_request(addr, "GET", path, &headers, b"").ok()?;
    (answer.status == 200).then(|| answer.text())
}

/// `levee top --once` against `url`, its two readings `every` apart, with
/// `extra` arguments.
fn top_once(every: &str, url: &str, extra: &[&std::ffi::OsStr]) -> Output {
    levee()
        .args(["top", "--once", "--every", every, "--url", url])
        .args(extra)
        .output()
        .unwrap()
}

/// The table [`top_once`] printed, which must have succeeded.
fn table_of(out: &Output) -> String {
    let table = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{table}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    table
}

/// The table's rows as whitespace-split cells, the name second.
fn rows(screen: &str) -> Vec<Vec<String>> {
    screen
        .lines()
        .filter(|l| {
            ["source ", "filter ", "output "]
                .iter()
                .any(|k| l.starts_with(k))
        })
        .map(|l| {
            l.split_whitespace()
                // The mark of the row falling behind.
                .filter(|cell| *cell != "!")
                .map(str::to_owned)
                .collect()
        })
        .collect()
}

fn names(screen: &str) -> Vec<String> {
    rows(screen).into_iter().map(|r| r[1].clone()).collect()
}

/// The events/s in of the row named `name`, if it shows a number.
fn rate_in(screen: &str, name: &str) -> Option<f64> {
    rows(screen)
        .into_iter()
        .find(|r| r[1] == name)
        .and_then(|r| r[2].parse().ok())
}

#[test]
fn top_once_prints_a_row_per_component_with_live_rates() {
    let dir = tempfile::tempdir().unwrap();
    let (_levee, addr) = flowing(dir.path());
    let table = table_of(&top_once("1s", &format!("http://{addr}"), &[]));
    assert!(table.starts_with("(t)ype"), "{table}");
    assert_eq!(
        names(&table),
        ["gen", "1_grep", "archive", "stuck", "void"],
        "{table}"
    );
    // 1000 lines a second, read over about a second.
    let gen_rate = rate_in(&table, "gen").unwrap_or_else(|| panic!("no rate: {table}"));
    assert!((500.0..=1500.0).contains(&gen_rate), "{table}");
    let void = rows(&table).into_iter().find(|r| r[1] == "void").unwrap();
    assert_eq!(
        void[2], "(blackhole)",
        "the plugin beside the name: {table}"
    );
}

#[test]
fn top_once_says_why_when_the_endpoint_cannot_be_read() {
    // A port nothing listens on: one just bound and let go.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = top_once("100ms", &format!("http://127.0.0.1:{port}"), &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("reading http://127.0.0.1:{port}/metrics")),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn top_once_sends_the_token_the_endpoint_asks_for() {
    let dir = tempfile::tempdir().unwrap();
    let (_levee, addr) = flowing_with(dir.path(), Some("s3cret-T0ken"));
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "s3cret-T0ken\n").unwrap();
    let url = format!("http://{addr}");
    let with = top_once(
        "200ms",
        &url,
        &["--token-file".as_ref(), token_file.as_ref()],
    );
    let table = table_of(&with);
    assert_eq!(names(&table).len(), 5, "{table}");
    let without = top_once("200ms", &url, &[]);
    let stderr = String::from_utf8_lossy(&without.stderr);
    assert_eq!(without.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("401"), "{stderr}");
}

/// A stand-in endpoint: answers its n-th GET (from 0) with `page(n)`, until
/// the test process ends.
fn serve_pages(page: impl Fn(u64) -> String + Send + 'static) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for (n, stream) in (0u64..).zip(listener.incoming()) {
            let Ok(mut stream) = stream else { continue };
            let mut head = Vec::new();
            let mut buf = [0u8; 1024];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(k) => head.extend_from_slice(&buf[..k]),
                }
            }
            let body = page(n);
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\n\
                 Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    addr
}

/// Fluent Bit's v2 page, as it names its plugins' figures (`name` is
/// `plugin.N` unless aliased).
fn fluent_bit_page(n: u64) -> String {
    let records = 1000 * (n + 1);
    format!(
        "# HELP fluentbit_input_records_total Number of input records.\n\
         # TYPE fluentbit_input_records_total counter\n\
         fluentbit_input_records_total{{name=\"tail.0\"}} {records}\n\
         # HELP fluentbit_input_bytes_total Number of input bytes.\n\
         # TYPE fluentbit_input_bytes_total counter\n\
         fluentbit_input_bytes_total{{name=\"tail.0\"}} {bytes}\n\
         # HELP fluentbit_filter_records_total Fluentbit metrics.\n\
         # TYPE fluentbit_filter_records_total counter\n\
         fluentbit_filter_records_total{{name=\"grep.0\"}} {records}\n\
         # HELP fluentbit_filter_drop_records_total Fluentbit metrics.\n\
         # TYPE fluentbit_filter_drop_records_total counter\n\
         fluentbit_filter_drop_records_total{{name=\"grep.0\"}} {dropped}\n\
         # HELP fluentbit_output_proc_records_total Number of processed output records.\n\
         # TYPE fluentbit_output_proc_records_total counter\n\
         fluentbit_output_proc_records_total{{name=\"es.0\"}} {sent}\n\
         # HELP fluentbit_output_retries_total Number of output retries.\n\
         # TYPE fluentbit_output_retries_total counter\n\
         fluentbit_output_retries_total{{name=\"es.0\"}} 3\n\
         # HELP fluentbit_output_chunk_available_capacity_percent Available chunk capacity (percent)\n\
         # TYPE fluentbit_output_chunk_available_capacity_percent gauge\n\
         fluentbit_output_chunk_available_capacity_percent{{name=\"es.0\"}} 70\n",
        bytes = records * 200,
        dropped = records / 10,
        sent = records * 9 / 10,
    )
}

#[test]
fn top_once_reads_fluent_bits_and_fluentds_pages() {
    let addr = serve_pages(fluent_bit_page);
    let url = format!("http://{addr}/api/v2/metrics/prometheus");
    let table = table_of(&top_once("500ms", &url, &[]));
    assert_eq!(names(&table), ["tail.0", "grep.0", "es.0"], "{table}");
    let row = |name: &str| rows(&table).into_iter().find(|r| r[1] == name).unwrap();
    // 1000 records a reading, two readings about 500 ms apart.
    let input: f64 = row("tail.0")[3].parse().unwrap();
    assert!((1000.0..=2100.0).contains(&input), "{table}");
    assert_eq!(row("grep.0")[2], "(grep)", "{table}");
    let es = row("es.0");
    assert_eq!(
        (es[3].as_str(), es[8].as_str()),
        ("-", "3"),
        "no events in; retries: {table}"
    );
    assert!(table.contains("###.......  30%"), "{table}");

    let addr = serve_pages(|n| {
        format!(
            "# TYPE fluentd_output_status_emit_records gauge\n\
             fluentd_output_status_emit_records{{plugin_id=\"object:3f86dc5b80cc\",type=\"s3\"}} {}\n\
             # TYPE fluentd_output_status_retry_count gauge\n\
             fluentd_output_status_retry_count{{plugin_id=\"object:3f86dc5b80cc\",type=\"s3\"}} 2.0\n",
            5000 * (n + 1)
        )
    });
    let table = table_of(&top_once("500ms", &format!("http://{addr}/metrics"), &[]));
    let row = rows(&table).pop().unwrap();
    assert_eq!(
        row[..3],
        ["output", "object:3f86dc5b80cc", "(s3)"],
        "{table}"
    );
    let emitted: f64 = row[3].trim_end_matches('k').parse().unwrap();
    assert!(emitted > 0.0, "{table}");
    assert_eq!(row[4], "-", "Fluentd counts no events out: {table}");
}

mod terminal;
