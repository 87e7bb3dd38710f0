//! The tail source against real files: rotation, truncation, restarts.

use std::io::Write;
use std::time::Duration;

use levee_event::{Batch, Sent};
use tokio::sync::{mpsc, watch};

use crate::sources::{SourceConfig, SourceContext, SourceMetrics};

/// Runs a tail source on `path` with a multiline rule; returns where
/// its batches go and the switch that stops it.
fn start(path: &std::path::Path) -> (mpsc::Receiver<Sent>, Stop, SourceMetrics) {
    start_source(
        path,
        r#"multiline = { first_line = '^\d{4}-', flush_timeout = "100ms" }"#,
        "",
    )
}

/// Runs a tail source on `path`, polling every 10ms, with `extra`
/// config lines of tail's own; its data folder is `data` beside the file.
fn start_with(path: &std::path::Path, extra: &str) -> (mpsc::Receiver<Sent>, Stop, SourceMetrics) {
    start_source(path, "", extra)
}

/// Runs a tail source with `common` lines of every source's keys and
/// `extra` lines of tail's own, in the shape the config loader gives serde.
fn start_source(
    path: &std::path::Path,
    common: &str,
    extra: &str,
) -> (mpsc::Receiver<Sent>, Stop, SourceMetrics) {
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

fn messages(batch: &Sent) -> Vec<&str> {
    batch
        .events
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
    let mut batch = tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .unwrap()
        .unwrap();
    // Done with: a source stops only once its batches are.
    batch.ack = None;
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
async fn receive(rx: &mut mpsc::Receiver<Sent>, got: &mut Vec<String>, want: usize) {
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
async fn stop_and_drain(stop: Stop, mut rx: mpsc::Receiver<Sent>) -> Vec<String> {
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

/// Runs a tail source with `paths` (globs) and `extra` lines of tail's
/// own; its data folder is `dir/data`.
fn start_globs(
    dir: &std::path::Path,
    paths: &[&str],
    extra: &str,
) -> (mpsc::Receiver<Sent>, Stop, SourceMetrics) {
    let paths: Vec<String> = paths
        .iter()
        .map(|p| dir.join(p).display().to_string())
        .collect();
    let config: SourceConfig = toml::from_str(&format!(
        r#"
        tag = "app"
        [type.tail]
        paths = {paths:?}
        poll_interval = "10ms"
        {extra}
        "#
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
        data_dir: dir.join("data"),
        metrics: metrics.clone(),
    };
    let task = tokio::spawn(source.run(ctx));
    (rx, Stop { stop, task }, metrics)
}

/// The checkpoint's text, once it holds `want`; fails after 10 s.
async fn checkpoint_with(dir: &std::path::Path, want: &str) -> String {
    let path = dir.join("data/checkpoints/app.json");
    let read = || std::fs::read_to_string(&path).unwrap_or_default();
    wait_until(&format!("the checkpoint holds {want}"), || {
        read().contains(want)
    })
    .await;
    read()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn globs_pick_up_new_files_and_skip_excluded_and_compressed_ones() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.log"), b"a1\n").unwrap();
    let (mut rx, stop, _) = start_globs(dir.path(), &["*.log*"], r#"exclude = ["*.old"]"#);
    let mut got = Vec::new();
    receive(&mut rx, &mut got, 1).await;

    // Picked up while running; the excluded and the compressed are not.
    std::fs::write(dir.path().join("b.log"), b"b1\n").unwrap();
    std::fs::write(dir.path().join("c.log.2.gz"), b"gz\n").unwrap();
    std::fs::write(dir.path().join("d.log.old"), b"old\n").unwrap();
    receive(&mut rx, &mut got, 1).await;
    append(&dir.path().join("a.log"), b"a2\n");
    receive(&mut rx, &mut got, 1).await;
    got.extend(stop_and_drain(stop, rx).await);
    assert_eq!(got, ["a1", "b1", "a2"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_without_a_newline_makes_no_events_until_it_has_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.log");
    std::fs::write(&path, b"part").unwrap();
    let (mut rx, stop, metrics) = start_globs(dir.path(), &["app.log"], "");
    // It has no identity yet, so it is not even read.
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(metrics.bytes.get(), 0);
    append(&path, b"ial\nnext\n");
    let mut got = Vec::new();
    receive(&mut rx, &mut got, 2).await;
    got.extend(stop_and_drain(stop, rx).await);
    assert_eq!(got, ["partial", "next"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_from_tail_applies_to_a_first_start_only() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.log");
    std::fs::write(&path, b"old1\nold2\npar").unwrap();
    let tail = r#"read_from = "tail""#;
    let (mut rx, stop, _) = start_globs(dir.path(), &["*.log"], tail);
    // Started after the last whole line: the partial one is still read.
    checkpoint_with(dir.path(), r#""offset":10"#).await;
    append(&path, b"tial\nnew\n");
    let mut got = Vec::new();
    receive(&mut rx, &mut got, 2).await;
    got.extend(stop_and_drain(stop, rx).await);
    assert_eq!(got, ["partial", "new"]);

    // Stopped: a line for the known file, and a file that appeared.
    append(&path, b"more\n");
    std::fs::write(dir.path().join("b.log"), b"b1\nb2\n").unwrap();
    let (mut rx, stop, _) = start_globs(dir.path(), &["*.log"], tail);
    let mut got = Vec::new();
    receive(&mut rx, &mut got, 3).await;
    got.extend(stop_and_drain(stop, rx).await);
    got.sort();
    assert_eq!(got, ["b1", "b2", "more"]);
}

/// The defect of issue 15: `kill -9` just after `mv access.log
/// access.log.1` lost the rest of access.log.1, because the restart looked
/// for the file only at its old path. Here the source is aborted (no clean
/// stop, no last checkpoint) once a checkpoint was written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_just_after_a_rotation_does_not_lose_the_rest_of_the_renamed_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("access.log");
    let lines =
        |from: usize, to: usize| -> String { (from..to).map(|i| format!("line {i}\n")).collect() };
    std::fs::write(&path, lines(0, 10)).unwrap();
    let extra = r#"checkpoint_interval = "10ms""#;
    let (mut rx, stop, _) = start_globs(dir.path(), &["access.log"], extra);
    let mut got = Vec::new();
    receive(&mut rx, &mut got, 10).await;
    let len = std::fs::metadata(&path).unwrap().len();
    checkpoint_with(dir.path(), &format!(r#""offset":{len}"#)).await;
    stop.task.abort();
    let _ = stop.task.await;

    // Rotated; the server wrote on to its old file before it reopened.
    std::fs::rename(&path, dir.path().join("access.log.1")).unwrap();
    append(&dir.path().join("access.log.1"), lines(10, 15).as_bytes());
    std::fs::write(&path, b"new 0\n").unwrap();

    let (mut rx, stop, _) = start_globs(dir.path(), &["access.log"], extra);
    let mut got = Vec::new();
    receive(&mut rx, &mut got, 6).await;
    got.extend(stop_and_drain(stop, rx).await);
    got.sort();
    let mut want: Vec<String> = lines(10, 15).lines().map(str::to_owned).collect();
    want.push("new 0".into());
    assert_eq!(got, want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_carry_their_file_and_line_offset_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.log");
    std::fs::write(&path, b"a\nbb\n").unwrap();
    let origins = |batches: &[Batch]| -> Vec<(u64, u64)> {
        batches
            .iter()
            .flatten()
            .map(|e| e.origin.map(|o| (o.stream, o.offset)).unwrap())
            .collect()
    };
    let (mut rx, stop, _) = start_globs(dir.path(), &["app.log"], "");
    let first = vec![rx.recv().await.unwrap().events];
    stop_and_drain(stop, rx).await;
    let got = origins(&first);
    assert_eq!(got.iter().map(|o| o.1).collect::<Vec<_>>(), [0, 2]);
    let stream = got[0].0;

    append(&path, b"ccc\n");
    let (mut rx, stop, _) = start_globs(dir.path(), &["app.log"], "");
    let second = vec![rx.recv().await.unwrap().events];
    stop_and_drain(stop, rx).await;
    assert_eq!(origins(&second), [(stream, 5)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_line_longer_than_max_line_bytes_is_cut_and_the_rest_counted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.log");
    let mut text = vec![b'x'; 3000];
    text.extend_from_slice(b"\nok\n");
    std::fs::write(&path, &text).unwrap();
    let extra = r#"max_line_bytes = "1KiB"
        read_buffer = "4KiB""#;
    let (mut rx, stop, _) = start_globs(dir.path(), &["app.log"], extra);
    let batch = rx.recv().await.unwrap().events;
    stop_and_drain(stop, rx).await;
    assert_eq!(batch.len(), 2);
    assert_eq!(batch[0].tag.as_str(), levee_event::ERROR_TAG);
    assert_eq!(batch[0].record["raw"].as_str().map(str::len), Some(1024));
    let error = batch[0].record["error"].as_str().unwrap();
    assert!(error.contains("line of 3000 bytes"), "{error}");
    assert!(error.contains("cut 1976"), "{error}");
    assert_eq!(batch[1].record["message"].as_str(), Some("ok"));
    assert_eq!(batch[1].origin.map(|o| o.offset), Some(3001));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_garbage_checkpoint_reads_every_file_again_and_a_future_one_stops_the_source() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.log");
    std::fs::write(&path, b"a1\n").unwrap();
    let checkpoints = dir.path().join("data/checkpoints");
    std::fs::create_dir_all(&checkpoints).unwrap();
    std::fs::write(checkpoints.join("app.json"), b"\x00{garbage").unwrap();
    let (mut rx, stop, _) = start_globs(dir.path(), &["app.log"], r#"read_from = "tail""#);
    let mut got = Vec::new();
    receive(&mut rx, &mut got, 1).await;
    got.extend(stop_and_drain(stop, rx).await);
    assert_eq!(got, ["a1"], "read from its start, whatever read_from says");

    std::fs::write(checkpoints.join("app.json"), br#"{"version":9,"files":[]}"#).unwrap();
    let (_rx, stop, _) = start_globs(dir.path(), &["app.log"], "");
    let err = stop.task.await.unwrap().unwrap_err();
    assert!(err.to_string().contains("newer levee"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_file_is_read_to_its_end_then_let_go_and_forgotten() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.log");
    let mut writer = std::fs::File::create(&path).unwrap();
    writer.write_all(b"a1\n").unwrap();
    let extra = r#"rotate_wait = "50ms"
        checkpoint_interval = "10ms""#;
    let (mut rx, stop, _) = start_globs(dir.path(), &["app.log"], extra);
    let mut got = Vec::new();
    receive(&mut rx, &mut got, 1).await;
    checkpoint_with(dir.path(), "app.log").await;
    // Deleted while its writer still writes to it.
    std::fs::remove_file(&path).unwrap();
    writer.write_all(b"a2\n").unwrap();
    receive(&mut rx, &mut got, 1).await;
    checkpoint_with(dir.path(), r#""files":[]"#).await;
    got.extend(stop_and_drain(stop, rx).await);
    assert_eq!(got, ["a1", "a2"]);
}

/// What is delivered is not read again after a crash; what is not yet
/// delivered is, and the lag says how much that is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_repeats_only_what_was_not_delivered_and_the_lag_says_how_much() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.log");
    std::fs::write(&path, b"a1\na2\n").unwrap();
    let extra = r#"checkpoint_interval = "10ms""#;
    let (mut rx, stop, metrics) = start_globs(dir.path(), &["app.log"], extra);
    let first = rx.recv().await.unwrap();
    assert_eq!(messages(&first), ["a1", "a2"]);
    drop(first);
    checkpoint_with(dir.path(), r#""offset":6"#).await;

    append(&path, b"b1\n");
    let held = rx.recv().await.unwrap();
    assert_eq!(messages(&held), ["b1"]);
    // Sent, not delivered: the lag is its 3 bytes, the checkpoint stays.
    wait_until("the lag is 3 bytes", || metrics.checkpoint_lag.get() == 3).await;
    assert!(
        checkpoint_with(dir.path(), r#""offset":6"#)
            .await
            .contains(r#""offset":6"#)
    );
    stop.task.abort();
    let _ = stop.task.await;
    drop(held);

    let (mut rx, stop, _) = start_globs(dir.path(), &["app.log"], extra);
    let mut got = Vec::new();
    receive(&mut rx, &mut got, 1).await;
    got.extend(stop_and_drain(stop, rx).await);
    assert_eq!(got, ["b1"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_files_than_max_files_are_all_read_in_turn_and_read_on_when_they_grow() {
    let dir = tempfile::tempdir().unwrap();
    for i in 0..6 {
        std::fs::write(
            dir.path().join(format!("{i}.log")),
            format!("f{i}a\nf{i}b\n"),
        )
        .unwrap();
    }
    let (mut rx, stop, _) = start_globs(dir.path(), &["*.log"], "max_files = 2");
    let mut got = Vec::new();
    receive(&mut rx, &mut got, 12).await;
    // A file closed to make room is opened again when it grows, and read
    // on from where it was, not from its start.
    append(&dir.path().join("0.log"), b"f0c\n");
    receive(&mut rx, &mut got, 1).await;
    got.extend(stop_and_drain(stop, rx).await);
    got.sort();
    let mut want: Vec<String> = (0..6)
        .flat_map(|i| [format!("f{i}a"), format!("f{i}b")])
        .collect();
    want.push("f0c".into());
    want.sort();
    assert_eq!(got, want);

    // A restart reads none of it again, though only two files fit at once.
    append(&dir.path().join("5.log"), b"f5c\n");
    let (mut rx, stop, _) = start_globs(dir.path(), &["*.log"], "max_files = 2");
    let mut got = Vec::new();
    receive(&mut rx, &mut got, 1).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    got.extend(stop_and_drain(stop, rx).await);
    assert_eq!(got, ["f5c"]);
}

/// On the paused clock: the minute a stopping source waits for an ack
/// that never comes (its sink panicked) passes at once.
#[tokio::test(start_paused = true)]
async fn a_stopping_source_waits_a_bounded_time_for_an_ack_that_never_comes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.log");
    std::fs::write(&path, b"a1\n").unwrap();
    let (mut rx, stop, _) = start_globs(dir.path(), &["app.log"], "");
    let first = rx.recv().await.unwrap();
    drop(first);
    checkpoint_with(dir.path(), r#""offset":3"#).await;
    append(&path, b"a2\n");
    let held = rx.recv().await.unwrap();
    stop.stop.send(true).unwrap();
    drop(rx);
    stop.task.await.unwrap().unwrap();
    let text = std::fs::read_to_string(dir.path().join("data/checkpoints/app.json")).unwrap();
    assert!(text.contains(r#""offset":3"#), "{text}");
    drop(held);
}

/// With more files than max_files, one of these two is closed to make
/// room when both are renamed away: each is still read to its end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_closed_to_make_room_and_rotated_away_is_read_to_its_end() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["a", "b"] {
        std::fs::write(dir.path().join(format!("{name}.log")), format!("{name}1\n")).unwrap();
    }
    let extra = r#"max_files = 1
        rotate_wait = "30s""#;
    let (mut rx, stop, _) = start_globs(dir.path(), &["*.log"], extra);
    let mut got = Vec::new();
    receive(&mut rx, &mut got, 2).await;
    for name in ["a", "b"] {
        let old = dir.path().join(format!("{name}.old"));
        std::fs::rename(dir.path().join(format!("{name}.log")), &old).unwrap();
        append(&old, format!("{name}2\n").as_bytes());
    }
    receive(&mut rx, &mut got, 2).await;
    got.extend(stop_and_drain(stop, rx).await);
    got.sort();
    assert_eq!(got, ["a1", "a2", "b1", "b2"]);
}

/// Each event's message with its origin's stream and offset.
fn with_origins(batch: &Sent) -> Vec<(String, u64, u64)> {
    batch
        .events
        .iter()
        .map(|e| {
            let origin = e.origin.expect("a tailed line has an origin");
            let message = e.record["message"].as_str().unwrap_or_default();
            (message.to_owned(), origin.stream, origin.offset)
        })
        .collect()
}

/// Receives lines with their origins until `want` more have come.
async fn receive_origins(
    rx: &mut mpsc::Receiver<Sent>,
    got: &mut Vec<(String, u64, u64)>,
    want: usize,
) {
    let until = got.len() + want;
    while got.len() < until {
        let batch = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .expect("lines within 10 s")
            .expect("source running");
        got.extend(with_origins(&batch));
    }
}

/// The defect: a file truncated in place (copytruncate) and refilled with
/// a byte-identical first line kept its identity, so its new lines came
/// with the stream and offsets of lines the lake already held, and the
/// lake skipped them as replays. A truncation starts a new generation: a
/// new stream, kept across a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_truncated_file_refilled_with_the_same_first_line_is_a_new_stream() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.log");
    std::fs::write(&path, b"same first\nsecond\n").unwrap();
    let (mut rx, stop, _) = start_globs(dir.path(), &["app.log"], "");
    let mut got = Vec::new();
    receive_origins(&mut rx, &mut got, 2).await;
    let old = got[0].1;

    // copytruncate, then the server writes the same first line again.
    std::fs::File::create(&path)
        .unwrap()
        .write_all(b"same first\nthird\n")
        .unwrap();
    receive_origins(&mut rx, &mut got, 2).await;
    let new = got[2].1;
    assert_ne!(new, old, "a truncation starts a new stream");
    assert_eq!(
        got[2..],
        [
            ("same first".to_owned(), new, 0),
            ("third".to_owned(), new, 11)
        ]
    );
    stop_and_drain(stop, rx).await;

    // The generation survives a restart: the file reads on in it.
    append(&path, b"fourth\n");
    let (mut rx, stop, _) = start_globs(dir.path(), &["app.log"], "");
    let mut got = Vec::new();
    receive_origins(&mut rx, &mut got, 1).await;
    stop_and_drain(stop, rx).await;
    assert_eq!(got, [("fourth".to_owned(), new, 17)]);

    // Truncated while stopped (the checkpoint's offset is past its end):
    // another generation again.
    std::fs::write(&path, b"same first\n").unwrap();
    let (mut rx, stop, _) = start_globs(dir.path(), &["app.log"], "");
    let mut got = Vec::new();
    receive_origins(&mut rx, &mut got, 1).await;
    stop_and_drain(stop, rx).await;
    let third = got[0].1;
    assert_eq!(got, [("same first".to_owned(), third, 0)]);
    assert!(third != old && third != new, "a third stream");
}

/// Runs a tail source on `paths` with `--exit-on-eof` to its end; returns
/// every line it sent.
async fn run_to_eof(dir: &std::path::Path, paths: &[&str]) -> Vec<String> {
    let paths: Vec<String> = paths
        .iter()
        .map(|p| dir.join(p).display().to_string())
        .collect();
    let config: SourceConfig = toml::from_str(&format!(
        r#"
        tag = "app"
        [type.tail]
        paths = {paths:?}
        poll_interval = "10ms"
        "#
    ))
    .unwrap();
    let (tx, mut rx) = mpsc::channel(16);
    let (_stop, shutdown) = watch::channel(false);
    let ctx = SourceContext {
        name: "app".into(),
        out: tx,
        shutdown,
        exit_on_eof: true,
        data_dir: dir.join("data"),
        metrics: SourceMetrics::default(),
    };
    let task = tokio::spawn(config.build().unwrap().run(ctx));
    let mut got = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while let Some(batch) = tokio::time::timeout_at(deadline, rx.recv())
        .await
        .expect("the source ends at the end of its files within 10 s")
    {
        got.extend(messages(&batch).into_iter().map(str::to_owned));
    }
    task.await.unwrap().unwrap();
    got
}

/// The defect: a file with no newline at all has no identity yet, so it
/// was never opened, even with `--exit-on-eof`, which sends every file's
/// last partial line. At the end of input it is known by the bytes it has.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_on_eof_sends_a_file_that_has_no_newline_at_all() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.log"), b"hello").unwrap();
    std::fs::write(dir.path().join("b.log"), b"b1\nb2").unwrap();
    std::fs::write(dir.path().join("empty.log"), b"").unwrap();
    let mut got = run_to_eof(dir.path(), &["*.log"]).await;
    got.sort();
    assert_eq!(got, ["b1", "b2", "hello"]);
}

/// `levee_source_files_watched`: the files a source follows, up as
/// they come to match, down as they go, 0 once the source stops.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_watched_counts_the_files_followed_as_they_come_and_go() {
    let dir = tempfile::tempdir().unwrap();
    for i in 0..3 {
        std::fs::write(dir.path().join(format!("{i}.log")), format!("f{i}\n")).unwrap();
    }
    let (mut rx, stop, metrics) = start_globs(dir.path(), &["*.log"], r#"rotate_wait = "20ms""#);
    let mut got = Vec::new();
    receive(&mut rx, &mut got, 3).await;
    wait_until("3 files watched", || metrics.files_watched.get() == 3).await;
    std::fs::write(dir.path().join("3.log"), b"f3\n").unwrap();
    receive(&mut rx, &mut got, 1).await;
    wait_until("4 files watched", || metrics.files_watched.get() == 4).await;
    std::fs::remove_file(dir.path().join("0.log")).unwrap();
    wait_until("3 files watched again", || metrics.files_watched.get() == 3).await;
    stop_and_drain(stop, rx).await;
    assert_eq!(metrics.files_watched.get(), 0);
}
