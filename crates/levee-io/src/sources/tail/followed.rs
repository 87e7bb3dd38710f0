//! One followed path: the file open at it now, and the files rotated away
//! from it that may still be written to.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
#[cfg(unix)]
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::super::lines::{LineBuffer, LineDecoder, now_nanos};
use super::checkpoint::Mark;
use crate::SourceError;

/// One followed path.
pub(super) struct Followed {
    path: PathBuf,
    /// Read on tokio's blocking threads (see [`read_into`]), so shared.
    file: Option<Arc<File>>,
    /// Identity of the open file, to notice rotation.
    inode: u64,
    offset: u64,
    lines: LineBuffer,
    /// Files renamed away from `path`, oldest first. A server writes to its
    /// old file until it is told to reopen (nginx on `USR1`, which
    /// logrotate sends after it renamed), so each is still read until it
    /// has been quiet for the source's `rotate_wait`.
    rotated: Vec<Rotated>,
    /// Set once a missing file was reported, so it is reported once.
    warned_missing: bool,
    /// Where the last clean stop left the file, tried on the first open.
    resume: Option<Mark>,
}

/// A file rotated away, read to its end and then until it stays quiet.
struct Rotated {
    file: Arc<File>,
    /// Its own partial line: bytes still to come belong to it.
    lines: LineBuffer,
    /// Since when reads have found nothing new.
    quiet_since: Option<Instant>,
}

impl Followed {
    pub(super) fn new(path: PathBuf, lines: LineBuffer, resume: Option<Mark>) -> Followed {
        Followed {
            path,
            file: None,
            inode: 0,
            offset: 0,
            lines,
            rotated: Vec::new(),
            warned_missing: false,
            resume,
        }
    }

    async fn open(&mut self) -> Result<bool, SourceError> {
        match tokio::fs::File::open(&self.path).await {
            Ok(file) => {
                let meta = file.metadata().await.map_err(|e| self.io(e))?;
                self.inode = inode(&meta);
                let file = file.into_std().await;
                self.offset = 0;
                self.lines.reset();
                // Checking the mark reads at most a KiB: not worth a thread.
                match self.resume.take() {
                    Some(mark) if mark.matches(&file, self.inode, meta.len()) => {
                        (&file)
                            .seek(SeekFrom::Start(mark.offset))
                            .map_err(|e| self.io(e))?;
                        self.offset = mark.offset;
                        tracing::info!(path = %self.path.display(), offset = mark.offset, "tail: following from where the last stop left it");
                    }
                    Some(_) => {
                        tracing::info!(path = %self.path.display(), "tail: not the file the checkpoint names (rotated, replaced or truncated); following from its start");
                    }
                    None => tracing::info!(path = %self.path.display(), "tail: following"),
                }
                self.file = Some(Arc::new(file));
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

    /// Reads what is there, rotated files first; returns the number of
    /// bytes read (0 when every file is at its end).
    pub(super) async fn read(
        &mut self,
        buf: &mut Vec<u8>,
        decoder: &mut LineDecoder,
        rotate_wait: Duration,
    ) -> Result<usize, SourceError> {
        let mut total = self.read_rotated(buf, decoder, rotate_wait).await?;
        if self.file.is_none() && !self.open().await? {
            return Ok(total);
        }
        let Some(file) = self.file.clone() else {
            return Ok(total);
        };
        let n = read_into(file, buf).await.map_err(|e| self.io(e))?;
        if n > 0 {
            self.offset += n as u64;
            decoder.metrics().bytes.inc_by(n as u64);
            self.lines.feed(&buf[..n], decoder, now_nanos());
            total += n;
        }
        Ok(total)
    }

    /// One read of each rotated file; lets go of those quiet for
    /// `rotate_wait`, their last line without a newline still a line.
    async fn read_rotated(
        &mut self,
        buf: &mut Vec<u8>,
        decoder: &mut LineDecoder,
        rotate_wait: Duration,
    ) -> Result<usize, SourceError> {
        let mut total = 0;
        let mut at = 0;
        while at < self.rotated.len() {
            let file = Arc::clone(&self.rotated[at].file);
            let n = read_into(file, buf).await.map_err(|e| self.io(e))?;
            let old = &mut self.rotated[at];
            if n > 0 {
                decoder.metrics().bytes.inc_by(n as u64);
                old.lines.feed(&buf[..n], decoder, now_nanos());
                old.quiet_since = None;
                total += n;
            } else if old.quiet_since.get_or_insert_with(Instant::now).elapsed() >= rotate_wait {
                let mut done = self.rotated.remove(at);
                done.lines.finish(decoder, now_nanos());
                tracing::info!(path = %self.path.display(), "tail: done with the file rotated away");
                continue;
            }
            at += 1;
        }
        Ok(total)
    }

    /// At the end of the file: was it rotated away or truncated?
    pub(super) async fn check_rotation(
        &mut self,
        decoder: &mut LineDecoder,
    ) -> Result<(), SourceError> {
        let Some(file) = self.file.clone() else {
            return Ok(());
        };
        let at_path = match tokio::fs::metadata(&self.path).await {
            Ok(meta) => meta,
            // Renamed away and not yet replaced: keep the old handle.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(self.io(e)),
        };
        if inode(&at_path) != self.inode {
            tracing::info!(path = %self.path.display(), "tail: file rotated; opening the new one");
            let lines = std::mem::replace(&mut self.lines, decoder.line_buffer());
            self.rotated.push(Rotated {
                file,
                lines,
                quiet_since: None,
            });
            self.file = None;
            self.open().await?;
        } else if at_path.len() < self.offset {
            tracing::warn!(path = %self.path.display(), "tail: file truncated; reading it again from the start");
            // Moves the file position only: no I/O to wait for.
            (&*file).seek(SeekFrom::Start(0)).map_err(|e| self.io(e))?;
            self.offset = 0;
            self.lines.finish(decoder, now_nanos());
        }
        Ok(())
    }

    /// At the end of input: every file's last line without a newline is
    /// still a line.
    pub(super) fn finish(&mut self, decoder: &mut LineDecoder) {
        for old in self.rotated.drain(..) {
            let mut lines = old.lines;
            lines.finish(decoder, now_nanos());
        }
        self.lines.finish(decoder, now_nanos());
    }

    /// Parses pending multiline records that waited long enough.
    pub(super) fn flush_if_idle(&mut self, decoder: &mut LineDecoder) {
        for old in &mut self.rotated {
            old.lines.flush_if_idle(decoder);
        }
        self.lines.flush_if_idle(decoder);
    }

    /// Parses every pending multiline record as it stands.
    pub(super) fn flush_record(&mut self, decoder: &mut LineDecoder) {
        for old in &mut self.rotated {
            old.lines.flush_record(decoder);
        }
        self.lines.flush_record(decoder);
    }

    /// When the first pending multiline record is due, if there is one.
    pub(super) fn record_deadline(&self) -> Option<Instant> {
        self.rotated
            .iter()
            .map(|old| &old.lines)
            .chain([&self.lines])
            .filter_map(LineBuffer::record_deadline)
            .min()
    }

    /// Where the file at the path was read to, up to its last whole line;
    /// `None` before it was opened. Rotated files are not marked: they are
    /// no longer at the path.
    pub(super) fn mark(&self) -> Option<Mark> {
        let file = self.file.as_ref()?;
        let sent = self.offset.saturating_sub(self.lines.pending() as u64);
        match Mark::of(&self.path, file, self.inode, sent) {
            Ok(mark) => Some(mark),
            Err(e) => {
                tracing::warn!(path = %self.path.display(), error = %e, "tail: cannot mark where the file was left; a restart reads it from its start");
                None
            }
        }
    }

    /// Bytes held in partial lines.
    pub(super) fn pending(&self) -> usize {
        self.rotated
            .iter()
            .map(|old| old.lines.pending())
            .sum::<usize>()
            + self.lines.pending()
    }

    fn io(&self, error: std::io::Error) -> SourceError {
        SourceError::Io {
            path: self.path.clone(),
            error,
        }
    }
}

/// Reads from `file` into `buf` on a blocking thread; `buf` goes there and
/// back. tokio's `File` reads into a buffer of its own and copies from it,
/// a second copy of every byte tailed.
async fn read_into(file: Arc<File>, buf: &mut Vec<u8>) -> std::io::Result<usize> {
    let mut owned = std::mem::take(buf);
    let size = owned.len();
    let read = tokio::task::spawn_blocking(move || {
        let n = (&*file).read(&mut owned);
        (owned, n)
    })
    .await;
    match read {
        Ok((owned, n)) => {
            *buf = owned;
            n
        }
        // The read panicked, or the runtime is shutting down.
        Err(e) => {
            *buf = vec![0; size];
            Err(std::io::Error::other(e))
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
