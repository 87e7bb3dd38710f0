//! `/health` and the per-source, per-filter and per-route metrics of a real
//! `levee run`. (An output's part of `/health` is in `outage.rs`, where the
//! lake goes down and comes back.)

use std::io::{Read, Write};
use std::path::Path;
use std::time::Duration;

use crate::support::{Running, run_with_metrics, scrape, toml_path, wait_until};

/// `GET /health`: the status code and the body; `None` if nothing answered.
fn health(addr: &str) -> Option<(u16, String)> {
    let mut stream = std::net::TcpStream::connect(addr).ok()?;
    let request = format!("GET /health HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    let status = head.split(' ').nth(1)?.parse().ok()?;
    Some((status, body.to_owned()))
}

/// Two tail sources, one of which cannot start (its checkpoint is from a
/// later levee), a grep filter, and a file output.
fn start(dir: &Path) -> (Running, String) {
    let lines: String = (0..10)
        .map(|i| {
            let keep = if i % 3 == 0 { "drop" } else { "keep" };
            format!("line {i} {keep}\n")
        })
        .collect();
    std::fs::write(dir.join("app.log"), lines).unwrap();
    std::fs::write(dir.join("other.log"), "never read\n").unwrap();
    let checkpoints = dir.join("data/checkpoints");
    std::fs::create_dir_all(&checkpoints).unwrap();
    std::fs::write(checkpoints.join("bad.json"), r#"{"version":99}"#).unwrap();
    let config = format!(
        "data_dir = {data}\n[metrics]\nlisten = \"127.0.0.1:0\"\n\
         [sources.good]\ntype = \"tail\"\npaths = [{app}]\ntag = \"app\"\n\
         [sources.bad]\ntype = \"tail\"\npaths = [{other}]\ntag = \"app\"\n\
         [[filters]]\nmatch = \"app\"\ntype = \"grep\"\nexclude = {{ message = \"drop\" }}\n\
         [outputs.out]\nmatch = \"app\"\ntype = \"file\"\npath = {out}\n",
        data = toml_path(&dir.join("data")),
        app = toml_path(&dir.join("app.log")),
        other = toml_path(&dir.join("other.log")),
        out = toml_path(&dir.join("out.ndjson")),
    );
    let (running, addr) = run_with_metrics(dir, &config);
    (running, addr)
}

/// `/health` said `ok` while a source had stopped with an error. Now it
/// is 503 with that source's line, and the other source, the filter and
/// the output go on, counted per filter and per route.
#[test]
fn a_source_stopped_by_an_error_makes_health_503_naming_it_while_the_rest_runs_and_counts() {
    let tmp = tempfile::tempdir().unwrap();
    let (_levee, addr) = start(tmp.path());

    let sick = wait_until(Duration::from_secs(60), "/health never said 503", || {
        health(&addr).filter(|(status, _)| *status == 503)
    })
    .1;
    assert_eq!(sick.lines().count(), 1, "{sick}");
    assert!(sick.starts_with("source bad: down for "), "{sick}");
    assert!(sick.contains("stopped: "), "{sick}");
    assert!(sick.contains("bad.json"), "the checkpoint is named: {sick}");

    // 10 lines, 4 of them (0, 3, 6, 9) with "drop".
    let want = [
        "levee_source_files_watched{source=\"good\"} 1",
        "levee_filter_events_in_total{filter=\"1_grep\"} 10",
        "levee_filter_events_out_total{filter=\"1_grep\"} 6",
        "levee_filter_dropped_events_total{filter=\"1_grep\"} 4",
        "levee_route_events_total{output=\"out\",type=\"file\"} 6",
    ];
    let page = wait_until(Duration::from_secs(60), "the counts", || {
        let page = scrape(&addr);
        want.iter()
            .all(|line| page.contains(&format!("{line}\n")))
            .then_some(page)
    });
    assert!(
        page.contains("levee_source_files_watched{source=\"bad\"} 0\n"),
        "{page}"
    );
    // Still 503: the source does not come back by itself.
    assert_eq!(health(&addr).map(|(status, _)| status), Some(503));
}
