//! The `tail` source: follows files as they grow, like `tail -F`.
//!
//! Reads each file from its start, then polls for new bytes. A file renamed
//! away (log rotation) is read to its end before the new file at the path is
//! opened from its start; a file truncated in place is read again from 0.
//! Checkpoints, globs and exactly-once delivery come with the disk buffer.

use std::io::SeekFrom;
#[cfg(unix)]
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use tokio::fs::File;
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use super::SourceContext;
use super::lines::{LineBuffer, LineDecoder, now_nanos};
use crate::SourceError;
use crate::units::{Interval, Size};

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
}

fn default_poll_interval() -> Interval {
    Interval(Duration::from_millis(250))
}

fn default_read_buffer() -> Size {
    Size(256 * 1024)
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

/// One followed file.
struct Followed {
    path: PathBuf,
    file: Option<File>,
    /// Identity of the open file, to notice rotation.
    inode: u64,
    offset: u64,
    lines: LineBuffer,
    /// Set once a missing file was reported, so it is reported once.
    warned_missing: bool,
}

impl Followed {
    fn new(path: PathBuf, lines: LineBuffer) -> Followed {
        Followed {
            path,
            file: None,
            inode: 0,
            offset: 0,
            lines,
            warned_missing: false,
        }
    }

    async fn open(&mut self) -> Result<bool, SourceError> {
        match File::open(&self.path).await {
            Ok(file) => {
                let meta = file.metadata().await.map_err(|e| self.io(e))?;
                self.inode = inode(&meta);
                self.file = Some(file);
                self.offset = 0;
                self.lines.reset();
                tracing::info!(path = %self.path.display(), "tail: following");
                Ok(true)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if !self.warned_missing {
                    tracing::warn!(path = %self.path.display(), "tail: file does not exist yet; waiting for it");
                    self.warned_missing = true;
                }
                Ok(false)
            }
            Err(e) => Err(self.io(e)),
        }
    }

    /// Reads what is there; returns the number of bytes read (0 at the end).
    async fn read(
        &mut self,
        buf: &mut [u8],
        decoder: &mut LineDecoder,
    ) -> Result<usize, SourceError> {
        if self.file.is_none() && !self.open().await? {
            return Ok(0);
        }
        let Some(file) = self.file.as_mut() else {
            return Ok(0);
        };
        let n = file.read(buf).await.map_err(|e| SourceError::Io {
            path: self.path.clone(),
            source: e,
        })?;
        if n > 0 {
            self.offset += n as u64;
            decoder.metrics().bytes.inc_by(n as u64);
            self.lines.feed(&buf[..n], decoder, now_nanos());
        }
        Ok(n)
    }

    /// At the end of the file: was it rotated away or truncated?
    async fn check_rotation(&mut self, decoder: &mut LineDecoder) -> Result<(), SourceError> {
        let Some(file) = self.file.as_mut() else {
            return Ok(());
        };
        let at_path = match tokio::fs::metadata(&self.path).await {
            Ok(meta) => meta,
            // Renamed away and not yet replaced: keep the old handle.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(self.io(e)),
        };
        if inode(&at_path) != self.inode {
            // Rotated: the old file was read to its end; its last line may
            // lack a newline, and no more will come to it.
            self.lines.finish(decoder, now_nanos());
            tracing::info!(path = %self.path.display(), "tail: file rotated; opening the new one");
            self.file = None;
            self.open().await?;
        } else if at_path.len() < self.offset {
            tracing::warn!(path = %self.path.display(), "tail: file truncated; reading it again from the start");
            file.seek(SeekFrom::Start(0))
                .await
                .map_err(|e| SourceError::Io {
                    path: self.path.clone(),
                    source: e,
                })?;
            self.offset = 0;
            self.lines.finish(decoder, now_nanos());
        }
        Ok(())
    }

    fn io(&self, source: std::io::Error) -> SourceError {
        SourceError::Io {
            path: self.path.clone(),
            source,
        }
    }
}

#[cfg(unix)]
fn inode(meta: &std::fs::Metadata) -> u64 {
    meta.ino()
}

#[cfg(not(unix))]
fn inode(_meta: &std::fs::Metadata) -> u64 {
    0
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
    'outer: loop {
        let mut progressed = false;
        for file in &mut files {
            if ctx.shutting_down() {
                break 'outer;
            }
            if file.read(&mut buf, &mut decoder).await? > 0 {
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
                file.lines.finish(&mut decoder, now_nanos());
            }
            break;
        }
        // A multiline record that waited long enough for more lines is done.
        for file in &mut files {
            file.lines.flush_if_idle(&mut decoder);
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
            .filter_map(|f| f.lines.record_deadline())
            .fold(poll, std::cmp::min);
        tokio::select! {
            _ = tokio::time::sleep_until(wake) => {}
            _ = ctx.shutdown.changed() => {}
        }
    }
    // Lines already read are not held back at shutdown: a pending multiline
    // record is parsed as it stands.
    for file in &mut files {
        file.lines.flush_record(&mut decoder);
    }
    let pending: usize = files.iter().map(|f| f.lines.pending()).sum();
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
        let config: SourceConfig = toml::from_str(&format!(
            r#"
            type = "tail"
            paths = [{path:?}]
            tag = "app"
            poll_interval = "10ms"
            multiline = {{ first_line = '^\d{{4}}-', flush_timeout = "100ms" }}
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
}
