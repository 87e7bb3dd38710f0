//! The `tail` source: follows files as they grow, like `tail -F`.
//!
//! `paths` are globs; every `poll_interval` at the end of its files the
//! source looks again, and picks up files that came to match. Files are
//! known by identity (device, inode and a fingerprint of their first line,
//! see `identity.rs`), not by name: a file renamed away (log rotation) or
//! deleted is read to its end, and then for as long as it is still written
//! to (until quiet for `rotate_wait`), beside the new file at the path,
//! which is read from its start. A file truncated in place is read again
//! from 0, in a new generation (a part of its events' stream, kept in the
//! checkpoint): refilled with the same first line, its new lines are not
//! taken by the lake for replays of the old ones.
//!
//! Each batch goes out with an ack from the source's ledger; the source
//! keeps where each file was sent to with it (`progress.rs`), and every
//! `checkpoint_interval` writes where each file is delivered to
//! (`checkpoint.rs`). A restart, after a clean stop or a crash, reads on
//! from there, finding each file by identity: at a path the globs match,
//! or renamed in the same folder (`access.log.1`).

mod checkpoint;
mod files;
mod identity;
mod progress;

use std::path::PathBuf;
use std::time::Duration;

pub use checkpoint::resume_offsets;

use levee_event::{Batch, Ledger};
use serde::Deserialize;
use tokio::time::Instant;

use super::SourceContext;
use super::lines::{LineDecoder, MAX_LINE_BYTES};
use crate::units::{Interval, Size};
use crate::{SourceConfigError, SourceError};
use files::{Files, Patterns};
use progress::Progress;

/// `type = "tail"`: follow files.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TailConfig {
    /// The files to follow: paths or globs (`*`, `?`, `[abc]`, `**` for
    /// any folders), such as `"/var/log/nginx/*.log"` or `"access.log*"`.
    /// Files that come to match are picked up while running; a path that
    /// matches nothing yet is waited for. A `[` in a file's name is
    /// written `[[]`.
    pub paths: Vec<String>,
    /// Globs of files not to follow, such as `["*.1", "/var/log/debug.log"]`:
    /// a pattern with a `/` is matched against the whole path, one without
    /// against the file's name. Compressed files (`.gz`, `.bz2`, `.xz`,
    /// `.zst`, `.zip`, `.lz4`, `.Z`) are always skipped: rotations that were
    /// compressed are not read. Default: none.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// Where to start a file found at the source's first start (when it has
    /// no checkpoint yet): `"head"` (the default: what is already there is
    /// read, a backfill) or `"tail"` (only lines written from now on).
    /// Files that appear later, or while levee was stopped, are always read
    /// from their start, so a rotation loses nothing.
    #[serde(default)]
    pub read_from: ReadFrom,
    /// How long to wait at the end of every file before looking again (for
    /// more bytes, rotations and new files).
    #[serde(default = "default_poll_interval")]
    pub poll_interval: Interval,
    /// How many bytes to read at once.
    #[serde(default = "default_read_buffer")]
    pub read_buffer: Size,
    /// How long a file rotated away is still read after it last grew: a
    /// server writes to its old file until it reopens its logs.
    #[serde(default = "default_rotate_wait")]
    pub rotate_wait: Interval,
    /// Longest line kept whole (default `"1MiB"`, 1KiB to 64MiB). A longer
    /// line is cut: its first `max_line_bytes` go to `@ERROR`, with how
    /// many bytes were cut; the rest is counted, never held in memory.
    #[serde(default = "default_max_line_bytes")]
    pub max_line_bytes: Size,
    /// How often where each file is delivered to is written to the
    /// checkpoint (default `"1s"`). After a crash, lines delivered since the
    /// last write are read again: about this long's worth.
    #[serde(default = "default_checkpoint_interval")]
    pub checkpoint_interval: Interval,
    /// Most files open at once (default 1024, at most 65536): each holds
    /// a descriptor and its partial line (up to `max_line_bytes`). When more
    /// match (said once), files at their end are closed to make room, and
    /// opened again where they were when they grow.
    #[serde(default = "default_max_files")]
    pub max_files: usize,
    /// Read every file from its start, not from where the checkpoint says
    /// it was delivered to. Where files are delivered to is still recorded.
    /// Default: false.
    #[serde(default)]
    pub ignore_checkpoints: bool,
}

/// Where a file never seen before is started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReadFrom {
    /// From its first byte.
    #[default]
    Head,
    /// After its last whole line.
    Tail,
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

fn default_max_line_bytes() -> Size {
    Size(MAX_LINE_BYTES as u64)
}

fn default_checkpoint_interval() -> Interval {
    Interval(Duration::from_secs(1))
}

fn default_max_files() -> usize {
    1024
}

/// Longest a stopping source waits for the outputs to finish with its
/// last batches before it writes its last checkpoint: a drain to a slow
/// lake takes seconds; an ack lost to a panicking sink never comes.
const FINAL_ACKS_WAIT: Duration = Duration::from_secs(60);

/// A tail source's settings, checked.
#[derive(Clone, Debug)]
pub(crate) struct Tail {
    patterns: Patterns,
    read_from: ReadFrom,
    poll_interval: Duration,
    read_buffer: usize,
    rotate_wait: Duration,
    max_line_bytes: usize,
    checkpoint_interval: Duration,
    max_files: usize,
    ignore_checkpoints: bool,
}

impl TailConfig {
    /// Checks the settings once, into what `run` uses.
    pub(crate) fn build(self) -> Result<Tail, SourceConfigError> {
        if self.paths.is_empty() {
            return Err(SourceConfigError::invalid(
                "paths",
                "tail needs at least one path in `paths`",
            ));
        }
        if !(4096..=64 * 1024 * 1024).contains(&self.read_buffer.0) {
            return Err(SourceConfigError::invalid(
                "read_buffer",
                "read_buffer must be between 4KiB and 64MiB",
            ));
        }
        if !(1024..=64 * 1024 * 1024).contains(&self.max_line_bytes.0) {
            return Err(SourceConfigError::invalid(
                "max_line_bytes",
                "max_line_bytes must be between 1KiB and 64MiB",
            ));
        }
        if self.checkpoint_interval.0.is_zero() {
            return Err(SourceConfigError::invalid(
                "checkpoint_interval",
                "checkpoint_interval must be more than 0s",
            ));
        }
        if !(1..=65536).contains(&self.max_files) {
            return Err(SourceConfigError::invalid(
                "max_files",
                "max_files must be between 1 and 65536",
            ));
        }
        let patterns = Patterns::new(&self.paths, &self.exclude)?;
        Ok(Tail {
            patterns,
            read_from: self.read_from,
            poll_interval: self.poll_interval.0,
            read_buffer: self.read_buffer.as_usize(),
            rotate_wait: self.rotate_wait.0,
            max_line_bytes: self.max_line_bytes.as_usize(),
            checkpoint_interval: self.checkpoint_interval.0,
            max_files: self.max_files,
            ignore_checkpoints: self.ignore_checkpoints,
        })
    }
}

/// The source's sending side: its ledger and what each batch covers.
struct Sender {
    ledger: Ledger,
    progress: Progress,
}

impl Sender {
    /// Sends `batch` with an ack, and notes where every file was sent to
    /// with it. False if the pipeline is gone.
    async fn send(&mut self, ctx: &SourceContext, files: &mut Files, batch: Batch) -> bool {
        if batch.is_empty() {
            return true;
        }
        let (seq, ack) = self.ledger.issue();
        self.progress.sent(seq);
        self.progress.record(files.changes());
        ctx.send_acked(batch, ack).await
    }
}

pub(crate) async fn run(
    config: Tail,
    mut decoder: LineDecoder,
    mut ctx: SourceContext,
) -> Result<(), SourceError> {
    let loaded = if config.ignore_checkpoints {
        checkpoint::Loaded {
            entries: Vec::new(),
            readable: false,
        }
    } else {
        let (dir, name) = (ctx.data_dir.clone(), ctx.name.clone());
        tokio::task::spawn_blocking(move || checkpoint::load(&dir, &name))
            .await
            .map_err(|e| SourceError::Config(format!("tail: loading the checkpoint: {e}")))?
            .map_err(|e| SourceError::Config(e.to_string()))?
    };
    // read_from is for a first start only: with a checkpoint, a file it
    // does not know appeared while levee was stopped, and is read whole.
    let first_start = loaded.readable && loaded.entries.is_empty() && !config.ignore_checkpoints;
    let mut sender = Sender {
        ledger: Ledger::new(),
        progress: Progress::new(loaded.entries),
    };
    let mut files = Files::new(&config, &ctx.name, first_start);
    files.scan(&mut decoder, &mut sender.progress).await?;
    files.find_renamed(&decoder, &mut sender.progress).await;
    ctx.metrics.files_watched.set(gauge(files.watched()));

    let mut buf = vec![0u8; config.read_buffer];
    let mut next_checkpoint = Instant::now() + config.checkpoint_interval;
    let mut last_scan = Instant::now();
    'outer: loop {
        if ctx.shutting_down() {
            break;
        }
        let mut progressed = false;
        let mut at = 0;
        while let Some(n) = files.read_one(at, &mut buf, &mut decoder).await {
            at += 1;
            if ctx.shutting_down() {
                break 'outer;
            }
            progressed |= n > 0;
            while let Some(batch) = decoder.take_full() {
                if !sender.send(&ctx, &mut files, batch).await {
                    return Ok(());
                }
            }
        }
        // Busy files still let the source look for rotations and new files
        // and write its checkpoint, at least once a second.
        let busy_for = last_scan.elapsed();
        if progressed && busy_for < config.poll_interval.max(Duration::from_secs(1)) {
            if Instant::now() >= next_checkpoint {
                next_checkpoint = checkpoint(&config, &ctx, &mut sender, &files).await;
            }
            continue;
        }
        // Every file is at its end (or a busy second passed).
        if ctx.exit_on_eof && !progressed && files.waiting() == 0 {
            // Files with no newline yet have no identity and were not
            // opened: nothing more comes in this run, so they are opened
            // now, read, and their bytes sent as a last line.
            if files
                .open_at_end(&mut decoder, &mut sender.progress)
                .await?
            {
                continue;
            }
            files.finish_all(&mut decoder);
            break;
        }
        // A multiline record that waited long enough for more lines is done.
        files.flush_if_idle(&mut decoder);
        files.let_go_quiet(&mut decoder);
        let closed = files.close_idle();
        files.scan(&mut decoder, &mut sender.progress).await?;
        ctx.metrics.files_watched.set(gauge(files.watched()));
        last_scan = Instant::now();
        // Don't hold a partial batch while waiting: latency stays bounded.
        if !sender.send(&ctx, &mut files, decoder.take()).await {
            return Ok(());
        }
        // Nothing waits in the decoder: offsets that moved without a batch
        // (a file let go, a header skipped) are noted too.
        sender.progress.record(files.changes());
        if Instant::now() >= next_checkpoint {
            next_checkpoint = checkpoint(&config, &ctx, &mut sender, &files).await;
        }
        // A backfill goes on at once with the files that wait for room.
        if progressed || (ctx.exit_on_eof && closed > 0) {
            continue;
        }
        // Wake for the next poll, or sooner when a pending record is due.
        let poll = Instant::now() + config.poll_interval;
        let wake = files.record_deadline().map_or(poll, |due| due.min(poll));
        tokio::select! {
            _ = tokio::time::sleep_until(wake) => {}
            _ = ctx.shutdown.changed() => {}
        }
    }
    // Lines already read are not held back at shutdown: a pending multiline
    // record is parsed as it stands.
    files.flush_record(&mut decoder);
    let pending = files.partial_bytes();
    if pending > 0 {
        tracing::info!(
            bytes = pending,
            "tail: a partial last line is left unread until restart"
        );
    }
    if !sender.send(&ctx, &mut files, decoder.take()).await {
        return Ok(());
    }
    sender.progress.record(files.changes());
    // The last checkpoint comes from the acks too: once the outputs have
    // stored (or dropped and counted) everything sent. Letting go of the
    // channel lets the pipeline drain; the acks come back as it does.
    let SourceContext {
        out,
        name,
        data_dir,
        metrics,
        ..
    } = ctx;
    drop(out);
    // Files are read no more, though the acks are still awaited.
    metrics.files_watched.set(0);
    // An ack whose sink panicked is never done: the wait is bounded, and
    // the checkpoint then stays where the outputs had got to (lines
    // repeat after the restart; none is lost).
    let give_up = Instant::now() + FINAL_ACKS_WAIT;
    let mut next_checkpoint = Instant::now() + config.checkpoint_interval;
    loop {
        sender.progress.done(sender.ledger.done_through());
        if sender.progress.in_flight() == 0 {
            break;
        }
        if Instant::now() >= give_up {
            tracing::warn!(source = %name, batches = sender.progress.in_flight(), "tail: the outputs did not finish with every batch; the checkpoint stays where they got to");
            break;
        }
        if Instant::now() >= next_checkpoint {
            write_checkpoint(&data_dir, &name, &mut sender.progress).await;
            next_checkpoint = Instant::now() + config.checkpoint_interval;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    write_checkpoint(&data_dir, &name, &mut sender.progress).await;
    metrics.checkpoint_lag.set(files.lag(&sender.progress));
    Ok(())
}

/// Notes what is done and writes the checkpoint if it moved; returns when
/// to do so next.
/// A count as a gauge's value.
fn gauge(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

async fn checkpoint(
    config: &Tail,
    ctx: &SourceContext,
    sender: &mut Sender,
    files: &Files,
) -> Instant {
    sender.progress.done(sender.ledger.done_through());
    write_checkpoint(&ctx.data_dir, &ctx.name, &mut sender.progress).await;
    ctx.metrics.checkpoint_lag.set(files.lag(&sender.progress));
    Instant::now() + config.checkpoint_interval
}

/// Writes the checkpoint if it changed, off the runtime's threads (it
/// syncs twice).
async fn write_checkpoint(data_dir: &std::path::Path, name: &str, progress: &mut Progress) {
    let Some(entries) = progress.take_checkpoint() else {
        return;
    };
    let (dir, source): (PathBuf, String) = (data_dir.to_owned(), name.to_owned());
    let written = tokio::task::spawn_blocking(move || checkpoint::write(&dir, &source, entries))
        .await
        .map_err(std::io::Error::other)
        .and_then(|r| r);
    if let Err(e) = written {
        progress.write_failed();
        tracing::warn!(source = %name, error = %e, "tail: cannot write the checkpoint; a restart reads again what came after the last one written");
    }
}

#[cfg(test)]
mod tests;
