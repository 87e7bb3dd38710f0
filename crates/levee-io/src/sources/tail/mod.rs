//! The `tail` source: follows files as they grow, like `tail -F`.
//!
//! Reads each file from its start, then polls for new bytes. A file renamed
//! away (log rotation) is read to its end, and then for as long as it is
//! still written to (until quiet for `rotate_wait`), beside the new file at
//! the path, which is read from its start. A file truncated in place is
//! read again from 0. A clean stop records where each file was left, and a
//! restart reads on from there (see `checkpoint.rs`). Globs are not
//! supported yet.

mod checkpoint;
mod followed;

pub use checkpoint::{
    commit as commit_checkpoints, discard_pending as discard_pending_checkpoints,
};

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::SourceContext;
use super::lines::LineDecoder;
use crate::units::{Interval, Size};
use crate::{SourceConfigError, SourceError};
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
    /// Read every file from its start, not from where the last clean stop
    /// left it. Where files were left is still recorded. Default: false.
    #[serde(default)]
    pub ignore_checkpoints: bool,
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
    pub(crate) fn validate(&self) -> Result<(), SourceConfigError> {
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
        Ok(())
    }
}

pub(crate) async fn run(
    config: TailConfig,
    mut decoder: LineDecoder,
    mut ctx: SourceContext,
) -> Result<(), SourceError> {
    let mut marks = if config.ignore_checkpoints {
        Default::default()
    } else {
        checkpoint::load(&ctx.data_dir, &ctx.name)
    };
    let mut files: Vec<Followed> = config
        .paths
        .iter()
        .map(|path| Followed::new(path.clone(), decoder.line_buffer(), marks.remove(path)))
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
    if !ctx.send(decoder.take()).await {
        return Ok(());
    }
    // Committed by the pipeline once its outputs wrote all of it.
    let marks = files.iter().filter_map(Followed::mark).collect();
    if let Err(e) = checkpoint::write_pending(&ctx.data_dir, &ctx.name, marks) {
        tracing::warn!(source = %ctx.name, error = %e, "tail: cannot record where the files were left; a restart reads them from their start");
    }
    Ok(())
}

#[cfg(test)]
mod tests;
