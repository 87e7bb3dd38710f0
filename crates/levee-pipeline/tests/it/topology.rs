//! Whole pipelines over real files: routing, `@ERROR`, and isolation of a
//! blocked output.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use levee_pipeline::config;
use levee_pipeline::metrics::Metrics;
use levee_pipeline::topology::{self, RunOptions};

fn lines(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Whole lines in a file the pipeline may still be writing: a reader can
/// see the first half of a write, so only the newlines are counted.
fn written(path: &Path) -> usize {
    std::fs::read(path)
        .unwrap_or_default()
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
}

fn quoted(path: &Path) -> String {
    format!("{:?}", path.to_string_lossy())
}

type Running = tokio::task::JoinHandle<Result<topology::RunReport, levee_pipeline::PipelineError>>;

/// Runs the pipeline `text` until the returned sender is used.
fn start(text: &str) -> (Arc<Metrics>, tokio::sync::oneshot::Sender<()>, Running) {
    let pipeline = config::build(text, "test.toml").unwrap();
    let metrics = Arc::new(Metrics::new());
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(topology::run(
        pipeline,
        metrics.clone(),
        RunOptions {
            exit_on_eof: false,
            ..RunOptions::default()
        },
        async {
            let _ = stop_rx.await;
        },
    ));
    (metrics, stop_tx, run)
}

/// Runs the pipeline `text` until its sources reach the end of their
/// files; checks that no source failed.
async fn run_to_eof(text: &str) -> Arc<Metrics> {
    let pipeline = config::build(text, "test.toml").unwrap();
    let metrics = Arc::new(Metrics::new());
    let report = topology::run(
        pipeline,
        metrics.clone(),
        RunOptions {
            exit_on_eof: true,
            ..RunOptions::default()
        },
        std::future::pending(),
    )
    .await
    .unwrap();
    assert!(
        report.source_errors.is_empty(),
        "{:?}",
        report.source_errors
    );
    metrics
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_reach_every_matching_output_and_bad_lines_reach_error() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.log");
    std::fs::write(
        &input,
        "{\"n\":1,\"path\":\"/a\"}\n{\"n\":2,\"path\":\"/healthz\"}\nnot json at all\n{\"n\":3,\"path\":\"/b\"}",
    )
    .unwrap();
    let out = |name: &str| dir.path().join(format!("{name}.ndjson"));
    let text = format!(
        r#"
data_dir = {data}
[sources.app]
type = "tail"
paths = [{input}]
tag = "app.web"
parser = "json"

[[filters]]
match = "app.**"
type = "grep"
exclude = {{ path = "^/healthz" }}

[[filters]]
match = "app.web"
type = "record"
set = {{ seen = "yes" }}
retag = "app.web.seen"

[outputs.all]
match = "app.**"
type = "file"
path = {all}

[outputs.seen]
match = "*.*.seen"
type = "file"
path = {seen}

[outputs.other]
match = "db.*"
type = "file"
path = {other}

[outputs.errors]
match = "@ERROR"
type = "file"
path = {errors}
"#,
        data = quoted(&dir.path().join("data")),
        input = quoted(&input),
        all = quoted(&out("all")),
        seen = quoted(&out("seen")),
        other = quoted(&out("other")),
        errors = quoted(&out("errors")),
    );
    let metrics = run_to_eof(&text).await;

    let all = lines(&out("all"));
    let ns: Vec<_> = all.iter().map(|r| r["n"].as_i64().unwrap()).collect();
    assert_eq!(
        ns,
        [1, 3],
        "the grep filter drops /healthz; the last line has no newline but counts"
    );
    assert!(all.iter().all(|r| r["seen"] == "yes"));
    assert_eq!(
        lines(&out("seen")).len(),
        2,
        "re-tagged events match the new tag"
    );
    assert!(lines(&out("other")).is_empty());
    let errors = lines(&out("errors"));
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0]["raw"], "not json at all");
    assert_eq!(errors[0]["source"], "app");
    assert!(errors[0]["error"].as_str().is_some_and(|e| !e.is_empty()));
    let text = metrics.encode();
    assert!(
        text.contains("levee_parse_errors_total{source=\"app\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("levee_filter_dropped_events_total{filter=\"1_grep\"} 1"),
        "{text}"
    );
}

/// Thousands of distinct tags, interleaved so that consecutive events never
/// share one: more than the router caches, so its cache is cleared and
/// refilled mid-stream. Each event must still meet exactly the filters and
/// outputs its own tag matches.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interleaved_distinct_tags_each_route_by_their_own_tag() {
    const EVENTS: usize = 12_000;
    const KINDS: usize = 5_000;
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.log");
    let mut text = String::new();
    for n in 0..EVENTS {
        let parity = if n % 2 == 0 { "even" } else { "odd" };
        text.push_str(&format!(
            "{{\"n\":{n},\"kind\":\"k{}\",\"parity\":\"{parity}\"}}\n",
            n % KINDS
        ));
    }
    std::fs::write(&input, text).unwrap();
    let out = |name: &str| dir.path().join(format!("{name}.ndjson"));
    let config = format!(
        r#"
data_dir = {data}
[sources.app]
type = "tail"
paths = [{input}]
tag = "app"
parser = "json"

[[filters]]
match = "app"
type = "record"
retag = "app.${{kind}}.${{parity}}"

[[filters]]
match = "app.*.odd"
type = "record"
set = {{ odd = "yes" }}

[outputs.even]
match = "app.*.even"
type = "file"
path = {even}

[outputs.odd]
match = "app.*.odd"
type = "file"
path = {odd}
"#,
        data = quoted(&dir.path().join("data")),
        input = quoted(&input),
        even = quoted(&out("even")),
        odd = quoted(&out("odd")),
    );
    run_to_eof(&config).await;

    for (name, remainder) in [("even", 0), ("odd", 1)] {
        let got = lines(&out(name));
        assert_eq!(got.len(), EVENTS / 2, "{name}");
        for record in &got {
            let n = record["n"].as_u64().unwrap();
            assert_eq!(n % 2, remainder, "{name} got {record}");
            assert_eq!(record["parity"], name);
            let marked = record.get("odd").is_some();
            assert_eq!(marked, remainder == 1, "{record}");
        }
    }
}

/// A FIFO nobody reads is a real output that cannot make progress: its
/// source must slow down while another source's output keeps flowing.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocked_output_holds_back_only_its_own_sources() {
    use std::io::Read;

    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("stuck.fifo");
    let status = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(status.success());
    // Open the reading end first so the sink's open for writing returns;
    // don't read until told.
    let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || {
            let mut f = std::fs::File::open(&fifo).unwrap();
            go_rx.recv().unwrap();
            let mut all = String::new();
            f.read_to_string(&mut all).unwrap();
            all.lines().count()
        })
    };

    // Well above what the stages in between hold (a 256KiB read parsed in
    // the source, four 1024-event batches in its channel, the buffer, the
    // pipe), so a source that was held back cannot have read it all.
    let slow_lines = 100_000;
    let fast_lines = 1_000;
    let body = |n: usize, who: &str| -> String {
        (0..n)
            .map(|i| format!("{{\"who\":\"{who}\",\"i\":{i}}}\n"))
            .collect()
    };
    std::fs::write(dir.path().join("slow.log"), body(slow_lines, "slow")).unwrap();
    std::fs::write(dir.path().join("fast.log"), body(fast_lines, "fast")).unwrap();
    let free = dir.path().join("free.ndjson");
    let text = format!(
        r#"
data_dir = {data}
[sources.slow]
type = "tail"
paths = [{slow}]
tag = "slow"
parser = "json"

[sources.fast]
type = "tail"
paths = [{fast}]
tag = "fast"
parser = "json"

[outputs.stuck]
match = "slow"
type = "file"
path = {fifo}
buffer = {{ max_bytes = "64KiB", batch_max_bytes = "16KiB", flush_interval = "10ms" }}

[outputs.free]
match = "fast"
type = "file"
path = {free}
buffer = {{ flush_interval = "10ms" }}
"#,
        data = quoted(&dir.path().join("data")),
        slow = quoted(&dir.path().join("slow.log")),
        fast = quoted(&dir.path().join("fast.log")),
        fifo = quoted(&fifo),
        free = quoted(&free),
    );
    let (metrics, stop_tx, run) = start(&text);

    // The fast route delivers everything while the slow one is stuck.
    let guard = tokio::time::Instant::now() + Duration::from_secs(60);
    while written(&free) < fast_lines {
        assert!(
            tokio::time::Instant::now() < guard,
            "the free output never got its events"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let stuck = metrics.output("stuck", "file");
    let slow_read = metrics.source("slow").events.get();
    assert!(
        stuck.events.get() < slow_lines as u64,
        "the FIFO cannot have taken everything"
    );
    assert!(
        slow_read < slow_lines as u64,
        "the slow source must have been held back, read {slow_read}"
    );
    assert_eq!(stuck.dropped_full.get(), 0, "block never drops");

    // Unblock: everything held back arrives, nothing lost.
    go_tx.send(()).unwrap();
    while stuck.events.get() < slow_lines as u64 {
        assert!(
            tokio::time::Instant::now() < guard + Duration::from_secs(60),
            "the slow route never drained"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop_tx.send(()).unwrap();
    let report = run.await.unwrap().unwrap();
    assert!(report.source_errors.is_empty());
    assert_eq!(reader.join().unwrap(), slow_lines);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lake_chunk_is_stored_when_its_interval_is_up_while_running() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.log");
    std::fs::write(&input, "{\"n\":1}\n{\"n\":2}\n").unwrap();
    let lake = dir.path().join("lake");
    let text = format!(
        r#"
data_dir = {data}
[sources.app]
type = "tail"
paths = [{input}]
tag = "app"
parser = "json"

[outputs.lake]
match = "app"
type = "lake"
lake = {lake}
database = "db"
table = "t"
chunk_interval = "200ms"
buffer = {{ flush_interval = "10ms" }}
"#,
        data = quoted(&dir.path().join("data")),
        input = quoted(&input),
        lake = quoted(&lake),
    );
    let (_metrics, stop_tx, run) = start(&text);

    // No more lines and no shutdown: only the chunk's age can store it.
    let guard = tokio::time::Instant::now() + Duration::from_secs(30);
    let chunks = loop {
        let found = chunk_files(&lake);
        if !found.is_empty() {
            break found;
        }
        assert!(
            tokio::time::Instant::now() < guard,
            "no chunk was stored while the pipeline ran"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let text = zstd_text(&chunks[0]);
    // Each record led by its event time (here the time of reading).
    let lines: Vec<_> = text
        .lines()
        .map(|l| l.split_once("Z\",").map(|(_, rest)| rest))
        .collect();
    assert!(text.starts_with("{\"time\":\""), "{text}");
    assert_eq!(lines, [Some("\"n\":1}"), Some("\"n\":2}")], "{text}");
    stop_tx.send(()).unwrap();
    run.await.unwrap().unwrap();
    assert_eq!(
        chunk_files(&lake).len(),
        1,
        "shutdown had nothing left to store"
    );
}

fn chunk_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(chunk_files(&path));
        } else if path.to_string_lossy().ends_with(".ndjson.zst") {
            out.push(path);
        }
    }
    out
}

fn zstd_text(path: &Path) -> String {
    let file = std::fs::File::open(path).unwrap();
    String::from_utf8(zstd::decode_all(file).unwrap()).unwrap()
}

/// The head of a config that tails `count` lines `line N`, written to
/// `in.log` under `dir`, as source `app` (tag `app`); the test adds its
/// outputs.
fn numbered_app_source(dir: &Path, count: usize) -> String {
    let input = dir.join("in.log");
    let body: String = (0..count).map(|i| format!("line {i}\n")).collect();
    std::fs::write(&input, body).unwrap();
    format!(
        "data_dir = {data}\n[sources.app]\ntype = \"tail\"\npaths = [{input}]\ntag = \"app\"\n",
        data = quoted(&dir.join("data")),
        input = quoted(&input),
    )
}

/// `workers = 4` on a sink that allows it: every batch is written by one of
/// them, and closing the buffer ends every worker (each is woken, not just
/// one), so the run ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_workers_write_every_batch_and_all_end_at_close() {
    let dir = tempfile::tempdir().unwrap();
    let lines = 20_000;
    let text = numbered_app_source(dir.path(), lines)
        + r#"
[outputs.out]
match = "app"
type = "blackhole"
workers = 4
buffer = { max_bytes = "64KiB", batch_max_bytes = "4KiB", flush_interval = "10ms" }
"#;
    let metrics = tokio::time::timeout(Duration::from_secs(60), run_to_eof(&text))
        .await
        .expect("the run ends once the buffer is closed and drained");
    let out = metrics.output("out", "blackhole");
    assert_eq!(out.events.get(), lines as u64);
    assert!(out.batches.get() > 4, "{} batches", out.batches.get());
}

/// A `file` output into `/dev/full` (every write fails: no space), given
/// up after one try: its batches go to the `secondary`, whole and counted,
/// and the run ends with every line there.
#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_given_up_go_to_the_secondary_file() {
    let dir = tempfile::tempdir().unwrap();
    let count = 1_000;
    let dead = dir.path().join("dead.ndjson");
    let text = numbered_app_source(dir.path(), count)
        + &format!(
            r#"
[outputs.full]
match = "app"
type = "file"
path = "/dev/full"
retry = {{ max_attempts = 1 }}
secondary = {{ type = "file", path = {dead} }}
buffer = {{ flush_interval = "10ms" }}
"#,
            dead = quoted(&dead),
        );
    let metrics = tokio::time::timeout(Duration::from_secs(60), run_to_eof(&text))
        .await
        .expect("the run ends");
    let out = metrics.output("full", "file");
    assert_eq!(lines(&dead).len(), count);
    assert_eq!(out.secondary_failed.get(), count as u64);
    assert_eq!(out.events.get(), 0);
    assert_eq!(out.dropped_failed.get(), 0);
}

/// A `secondary` whose open hangs (a FIFO with no reader) while the
/// output's own sink works: `/health` is 503 for it, though each working
/// call of the output reported it ok (the two shared one state, so the
/// secondary's late open was cleared at once), and 200 once it opens.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secondary_not_open_keeps_health_503_while_its_output_works() {
    use std::io::Read;

    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("dead.fifo");
    let status = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(status.success());
    let out = dir.path().join("out.ndjson");
    let count = 100;
    let text = numbered_app_source(dir.path(), count)
        + &format!(
            r#"
[outputs.out]
match = "app"
type = "file"
path = {out}
secondary = {{ type = "file", path = {fifo} }}
buffer = {{ flush_interval = "10ms" }}
"#,
            out = quoted(&out),
            fifo = quoted(&fifo),
        );
    let (metrics, stop_tx, run) = start(&text);
    let health = || metrics.health().check(Duration::from_secs(60));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while written(&out) < count {
        assert!(tokio::time::Instant::now() < deadline, "lines not written");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let why = health();
    // A reader comes: the secondary opens. (Before any assertion: a
    // blocked open would hold the test's runtime from ending.)
    let reader = std::thread::spawn(move || {
        let mut all = String::new();
        std::fs::File::open(&fifo)
            .unwrap()
            .read_to_string(&mut all)
            .unwrap();
        all
    });
    let why = why.unwrap_err();
    assert_eq!(why.len(), 1, "{why:?}");
    assert!(
        why[0].starts_with("output out.secondary: down for ")
            && why[0].ends_with("s: its sink is still opening after 1s"),
        "{why:?}"
    );
    while health().is_err() {
        assert!(tokio::time::Instant::now() < deadline, "{:?}", health());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stop_tx.send(()).unwrap();
    run.await.unwrap().unwrap();
    assert_eq!(reader.join().unwrap(), "", "nothing went to the secondary");
}
