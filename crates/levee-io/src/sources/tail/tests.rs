//! The tail source against real files: rotation, truncation, restarts.

use std::io::Write;
use std::time::Duration;

use levee_event::Batch;
use tokio::sync::{mpsc, watch};

use crate::sources::{SourceConfig, SourceContext, SourceMetrics};

/// Runs a tail source on `path` with a multiline rule; returns where
/// its batches go and the switch that stops it.
fn start(path: &std::path::Path) -> (mpsc::Receiver<Batch>, Stop, SourceMetrics) {
    start_source(
        path,
        r#"multiline = { first_line = '^\d{4}-', flush_timeout = "100ms" }"#,
        "",
    )
}

/// Runs a tail source on `path`, polling every 10ms, with `extra`
/// config lines of tail's own; its data folder is `data` beside the file.
fn start_with(path: &std::path::Path, extra: &str) -> (mpsc::Receiver<Batch>, Stop, SourceMetrics) {
    start_source(path, "", extra)
}

/// Runs a tail source with `common` lines of every source's keys and
/// `extra` lines of tail's own, in the shape the config loader gives serde.
fn start_source(
    path: &std::path::Path,
    common: &str,
    extra: &str,
) -> (mpsc::Receiver<Batch>, Stop, SourceMetrics) {
    let config: SourceConfig = toml::from_str(&format!(
        r#"
        tag = "app"
        {common}
        [type.tail]
        paths = [{:?}]
        poll_interval = "10ms"
        {extra}
        "#,
        path.display().to_string()
    ))
    .unwrap();
    let source = config.build().unwrap();
    let (tx, rx) = mpsc::channel(16);
    let (stop, shutdown) = watch::channel(false);
    let metrics = SourceMetrics::default();
    let ctx = SourceContext {
        name: "app".into(),
        out: tx,
        shutdown,
        exit_on_eof: false,
        data_dir: data_dir(path),
        metrics: metrics.clone(),
    };
    let task = tokio::spawn(source.run(ctx));
    (rx, Stop { stop, task }, metrics)
}

/// A running source's switch, and its task.
struct Stop {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<Result<(), crate::SourceError>>,
}

fn data_dir(path: &std::path::Path) -> std::path::PathBuf {
    path.parent().expect("a file in a folder").join("data")
}

fn messages(batch: &Batch) -> Vec<&str> {
    batch
        .iter()
        .filter_map(|e| e.record["message"].as_str())
        .collect()
}

/// On tokio's paused clock: time moves only when every task waits (file
/// reads run on blocking threads, which hold it still), so the flush
/// timeout is measured exactly and no wall-clock time is assumed.
#[tokio::test(start_paused = true)]
async fn a_record_is_flushed_when_the_file_goes_quiet() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.log");
    let mut file = std::fs::File::create(&path).unwrap();
    file.write_all(b"2024-06-15 ERROR boom\n\tat a.B(B.java:1)\n")
        .unwrap();
    let started = tokio::time::Instant::now();
    let (mut rx, stop, metrics) = start(&path);
    let batch = tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .unwrap()
        .unwrap();
    // flush_timeout is 100ms; the source wakes for it, not at a later poll.
    let waited = started.elapsed();
    assert!(
        (Duration::from_millis(100)..Duration::from_millis(110)).contains(&waited),
        "flushed after {waited:?}"
    );
    assert_eq!(
        messages(&batch),
        ["2024-06-15 ERROR boom\n\tat a.B(B.java:1)"]
    );

    // A record still pending at shutdown is delivered, not lost.
    file.write_all(b"2024-06-15 INFO next\n  detail\n").unwrap();
    let written = std::fs::metadata(&path).unwrap().len();
    wait_until("the new lines are read", || metrics.bytes.get() >= written).await;
    assert_eq!(
        stop_and_drain(stop, rx).await,
        ["2024-06-15 INFO next\n  detail"]
    );
}

/// Waits until `done` holds, looking every 5 ms; fails after 10 s.
async fn wait_until(what: &str, done: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: not within 10 s"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Receives messages until `want` more have come; fails after 10 s.
async fn receive(rx: &mut mpsc::Receiver<Batch>, got: &mut Vec<String>, want: usize) {
    let until = got.len() + want;
    while got.len() < until {
        let batch = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .expect("lines within 10 s")
            .expect("source running");
        got.extend(messages(&batch).into_iter().map(str::to_owned));
    }
}

/// Stops the source; returns what it still sent. Fails if it has not
/// stopped within 10 s.
async fn stop_and_drain(stop: Stop, mut rx: mpsc::Receiver<Batch>) -> Vec<String> {
    stop.stop.send(true).unwrap();
    let mut rest = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while let Some(batch) = tokio::time::timeout_at(deadline, rx.recv())
        .await
        .expect("the source stops within 10 s")
    {
        rest.extend(messages(&batch).into_iter().map(str::to_owned));
    }
    // Its last checkpoint is written once the acks are back.
    tokio::time::timeout_at(deadline, stop.task)
        .await
        .expect("the source ends within 10 s")
        .expect("the source task")
        .expect("the source ends without an error");
    rest
}

/// logrotate renames the log and makes a new one; nginx writes to the
/// old one until it gets `USR1` and reopens. Lines written to either
/// are read once each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_file_is_read_while_it_is_still_written() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("access.log");
    let mut nginx = std::fs::File::create(&path).unwrap();
    nginx.write_all(b"a1\na2\n").unwrap();
    let (mut rx, stop, _) = start_with(&path, r#"rotate_wait = "30s""#);
    let mut got = Vec::new();
    receive(&mut rx, &mut got, 2).await;

    std::fs::rename(&path, dir.path().join("access.log.1")).unwrap();
    std::fs::write(&path, b"b1\n").unwrap();
    receive(&mut rx, &mut got, 1).await;
    // Still nginx's handle: the renamed file.
    nginx.write_all(b"a3\n").unwrap();
    receive(&mut rx, &mut got, 1).await;
    // nginx reopened: the new file.
    let mut reopened = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    reopened.write_all(b"b2\n").unwrap();
    receive(&mut rx, &mut got, 1).await;

    got.extend(stop_and_drain(stop, rx).await);
    assert_eq!(got, ["a1", "a2", "b1", "a3", "b2"]);
}

/// On the paused clock, so that "long after rotate_wait" is exact.
#[tokio::test(start_paused = true)]
async fn a_rotated_file_is_let_go_once_quiet_and_its_last_line_kept() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("access.log");
    let mut nginx = std::fs::File::create(&path).unwrap();
    nginx.write_all(b"a1\n").unwrap();
    let (mut rx, stop, _) = start_with(&path, r#"rotate_wait = "50ms""#);
    let mut got = Vec::new();
    receive(&mut rx, &mut got, 1).await;

    // A last line without a newline, then rotation.
    nginx.write_all(b"a2").unwrap();
    std::fs::rename(&path, dir.path().join("access.log.1")).unwrap();
    std::fs::write(&path, b"b1\n").unwrap();
    receive(&mut rx, &mut got, 2).await;
    got[1..].sort();
    assert_eq!(got, ["a1", "a2", "b1"]);

    // Long after rotate_wait (50ms, 5 polls), the old file is no longer read.
    tokio::time::sleep(Duration::from_millis(500)).await;
    nginx.write_all(b"\nlate\n").unwrap();
    std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap()
        .write_all(b"b2\n")
        .unwrap();
    receive(&mut rx, &mut got, 1).await;
    got.extend(stop_and_drain(stop, rx).await);
    assert_eq!(got[3..], ["b2"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_truncated_file_is_read_again_from_its_start() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.log");
    std::fs::write(&path, b"first line\nsecond line\n").unwrap();
    let (mut rx, stop, _) = start_with(&path, "");
    let mut got = Vec::new();
    receive(&mut rx, &mut got, 2).await;

    // copytruncate: the same file, cut to nothing, then written anew.
    std::fs::File::create(&path)
        .unwrap()
        .write_all(b"new\n")
        .unwrap();
    receive(&mut rx, &mut got, 1).await;
    got.extend(stop_and_drain(stop, rx).await);
    assert_eq!(got, ["first line", "second line", "new"]);
}

/// Runs the source on `path` until `want` lines came, then stops it;
/// returns every line it sent.
async fn run_until(path: &std::path::Path, extra: &str, want: usize) -> Vec<String> {
    let (mut rx, stop, _) = start_with(path, extra);
    let mut got = Vec::new();
    receive(&mut rx, &mut got, want).await;
    got.extend(stop_and_drain(stop, rx).await);
    got
}

/// [`run_until`]: a clean stop, whose checkpoint comes from the acks.
async fn run_and_commit(path: &std::path::Path, extra: &str, want: usize) -> Vec<String> {
    run_until(path, extra, want).await
}

fn append(path: &std::path::Path, bytes: &[u8]) {
    std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .unwrap()
        .write_all(bytes)
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_reads_on_from_where_the_last_clean_stop_left_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.log");
    std::fs::write(&path, b"a1\na2\npart").unwrap();
    // The partial line is left unread.
    assert_eq!(run_and_commit(&path, "", 2).await, ["a1", "a2"]);

    append(&path, b"ial\na3\n");
    assert_eq!(run_and_commit(&path, "", 2).await, ["partial", "a3"]);

    // And on again: only the new line.
    append(&path, b"a4\n");
    assert_eq!(run_until(&path, "", 1).await, ["a4"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_replaced_while_stopped_is_read_from_its_start() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.log");
    std::fs::write(&path, b"a1\na2\n").unwrap();
    assert_eq!(run_and_commit(&path, "", 2).await, ["a1", "a2"]);

    // Deleted and made anew, longer than what was read: it may get the
    // old inode back, and its first bytes tell it apart.
    std::fs::remove_file(&path).unwrap();
    std::fs::write(&path, b"b1\nb2\nb3\n").unwrap();
    assert_eq!(run_and_commit(&path, "", 3).await, ["b1", "b2", "b3"]);

    // Truncated in place to less than was read.
    std::fs::write(&path, b"c\n").unwrap();
    assert_eq!(run_until(&path, "", 1).await, ["c"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ignore_checkpoints_reads_from_the_start_and_still_records() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.log");
    std::fs::write(&path, b"a1\n").unwrap();
    assert_eq!(run_and_commit(&path, "", 1).await, ["a1"]);

    append(&path, b"a2\n");
    let all = run_and_commit(&path, "ignore_checkpoints = true", 2).await;
    assert_eq!(all, ["a1", "a2"]);
    append(&path, b"a3\n");
    assert_eq!(run_until(&path, "", 1).await, ["a3"]);
}
