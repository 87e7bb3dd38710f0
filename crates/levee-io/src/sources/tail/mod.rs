//! The `tail` source: follows files as they grow, like `tail -F`.
//!
//! Reads each file from its start, then polls for new bytes. A file renamed
//! away (log rotation) is read to its end, and then for as long as it is
//! still written to (until quiet for `rotate_wait`), beside the new file at
//! the path, which is read from its start. A file truncated in place is
//! read again from 0. Checkpoints and globs come with the disk buffer.

mod followed;

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::SourceContext;
use super::lines::LineDecoder;
use crate::SourceError;
use crate::units::{Interval, Size};
use followed::Followed;

/// `type = "tail"`: follow one or more files.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TailConfig {
    /// The files to follow. A file that does not exist yet is waited for.
    pub paths: Vec<PathBuf>,
    /// How long to wait at the end of every file before looking again.
    #[serde(default = "default_poll_interval")]
    pub poll_interval: Interval,
    /// How many bytes to read at once.
    #[serde(default = "default_read_buffer")]
    pub read_buffer: Size,
    /// How long a file rotated away is still read after it last grew: a
    /// server writes to its old file until it reopens its logs.
    #[serde(default = "default_rotate_wait")]
    pub rotate_wait: Interval,
}

fn default_poll_interval() -> Interval {
    Interval(Duration::from_millis(250))
}

fn default_read_buffer() -> Size {
    Size(256 * 1024)
}

/// Fluent Bit's `Rotate_Wait` default.
fn default_rotate_wait() -> Interval {
    Interval(Duration::from_secs(5))
}

impl TailConfig {
    pub(crate) fn validate(&self) -> Result<(), SourceError> {
        if self.paths.is_empty() {
            return Err(SourceError::Config(
                "tail needs at least one path in `paths`".into(),
            ));
        }
        if !(4096..=64 * 1024 * 1024).contains(&self.read_buffer.0) {
            return Err(SourceError::Config(
                "read_buffer must be between 4KiB and 64MiB".into(),
            ));
        }
        Ok(())
    }
}

pub(crate) async fn run(
    config: TailConfig,
    mut decoder: LineDecoder,
    mut ctx: SourceContext,
) -> Result<(), SourceError> {
    let mut files: Vec<Followed> = config
        .paths
        .iter()
        .map(|path| Followed::new(path.clone(), decoder.line_buffer()))
        .collect();
    let mut buf = vec![0u8; config.read_buffer.as_usize()];
    let rotate_wait = config.rotate_wait.0;
    'outer: loop {
        let mut progressed = false;
        for file in &mut files {
            if ctx.shutting_down() {
                break 'outer;
            }
            if file.read(&mut buf, &mut decoder, rotate_wait).await? > 0 {
                progressed = true;
            }
            while let Some(batch) = decoder.take_full() {
                if !ctx.send(batch).await {
                    return Ok(());
                }
            }
        }
        if progressed {
            continue;
        }
        // Every file is at its end.
        if ctx.exit_on_eof {
            for file in &mut files {
                file.finish(&mut decoder);
            }
            break;
        }
        // A multiline record that waited long enough for more lines is done.
        for file in &mut files {
            file.flush_if_idle(&mut decoder);
        }
        // Don't hold a partial batch while waiting: latency stays bounded.
        if !ctx.send(decoder.take()).await {
            return Ok(());
        }
        for file in &mut files {
            file.check_rotation(&mut decoder).await?;
        }
        // Wake for the next poll, or sooner when a pending record is due.
        let poll = tokio::time::Instant::now() + config.poll_interval.0;
        let wake = files
            .iter()
            .filter_map(Followed::record_deadline)
            .fold(poll, std::cmp::min);
        tokio::select! {
            _ = tokio::time::sleep_until(wake) => {}
            _ = ctx.shutdown.changed() => {}
        }
    }
    // Lines already read are not held back at shutdown: a pending multiline
    // record is parsed as it stands.
    for file in &mut files {
        file.flush_record(&mut decoder);
    }
    let pending: usize = files.iter().map(Followed::pending).sum();
    if pending > 0 {
        tracing::info!(
            bytes = pending,
            "tail: a partial last line is left unread until restart"
        );
    }
    ctx.send(decoder.take()).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use levee_event::Batch;
    use tokio::sync::{mpsc, watch};

    use super::super::{SourceConfig, SourceContext, SourceMetrics};

    /// Runs a tail source on `path` with a multiline rule; returns where
    /// its batches go and the switch that stops it.
    fn start(
        path: &std::path::Path,
    ) -> (mpsc::Receiver<Batch>, watch::Sender<bool>, SourceMetrics) {
        start_with(
            path,
            r#"multiline = { first_line = '^\d{4}-', flush_timeout = "100ms" }"#,
        )
    }

    /// Runs a tail source on `path`, polling every 10ms, with `extra`
    /// config lines.
    fn start_with(
        path: &std::path::Path,
        extra: &str,
    ) -> (mpsc::Receiver<Batch>, watch::Sender<bool>, SourceMetrics) {
        let config: SourceConfig = toml::from_str(&format!(
            r#"
            type = "tail"
            paths = [{path:?}]
            tag = "app"
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
            data_dir: std::env::temp_dir(),
            metrics: metrics.clone(),
        };
        tokio::spawn(source.run(ctx));
        (rx, stop, metrics)
    }

    fn messages(batch: &Batch) -> Vec<&str> {
        batch
            .iter()
            .filter_map(|e| e.record["message"].as_str())
            .collect()
    }

    #[tokio::test]
    async fn a_record_is_flushed_when_the_file_goes_quiet() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.log");
        let mut file = std::fs::File::create(&path).unwrap();
        file.write_all(b"2024-06-15 ERROR boom\n\tat a.B(B.java:1)\n")
            .unwrap();
        let (mut rx, stop, metrics) = start(&path);
        let started = std::time::Instant::now();
        let batch = tokio::time::timeout(std::time::Duration::from_secs(10), rx.recv())
            .await
            .unwrap()
            .unwrap();
        assert!(started.elapsed() >= std::time::Duration::from_millis(100));
        assert_eq!(
            messages(&batch),
            ["2024-06-15 ERROR boom\n\tat a.B(B.java:1)"]
        );

        // A record still pending at shutdown is delivered, not lost.
        file.write_all(b"2024-06-15 INFO next\n  detail\n").unwrap();
        let written = std::fs::metadata(&path).unwrap().len();
        while metrics.bytes.get() < written {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        stop.send(true).unwrap();
        let mut rest = Vec::new();
        while let Some(batch) = rx.recv().await {
            rest.extend(messages(&batch).into_iter().map(str::to_owned));
        }
        assert_eq!(rest, ["2024-06-15 INFO next\n  detail"]);
    }

    /// Receives messages until `want` more have come; fails after 10 s.
    async fn receive(rx: &mut mpsc::Receiver<Batch>, got: &mut Vec<String>, want: usize) {
        let until = got.len() + want;
        while got.len() < until {
            let batch = tokio::time::timeout(std::time::Duration::from_secs(10), rx.recv())
                .await
                .expect("lines within 10 s")
                .expect("source running");
            got.extend(messages(&batch).into_iter().map(str::to_owned));
        }
    }

    /// Stops the source; returns what it still sent.
    async fn stop_and_drain(
        stop: watch::Sender<bool>,
        mut rx: mpsc::Receiver<Batch>,
    ) -> Vec<String> {
        stop.send(true).unwrap();
        let mut rest = Vec::new();
        while let Some(batch) = rx.recv().await {
            rest.extend(messages(&batch).into_iter().map(str::to_owned));
        }
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

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
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

        // Long after rotate_wait, the old file is no longer read.
        tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
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
}
