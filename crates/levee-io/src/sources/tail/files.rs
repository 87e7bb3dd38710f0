//! The files a tail source follows: found by its globs, known by identity,
//! read in turn, and let go once they are rotated away and quiet.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::super::lines::{LineBuffer, LineDecoder, now_nanos};
use super::checkpoint::Entry;
use super::identity::{self, FileId};
use super::progress::{Change, Progress};
use super::{ReadFrom, Tail};
use crate::{SourceConfigError, SourceError};

/// Endings of compressed files, which are never followed: a rotation that
/// was compressed (`access.log.2.gz`) holds lines already read as text.
const COMPRESSED: &[&str] = &["gz", "bz2", "xz", "zst", "zip", "lz4", "Z"];

/// Most entries of one folder looked through for a file the checkpoint
/// names and the globs no longer match (renamed away while stopped).
const MAX_FOLDER_ENTRIES: usize = 100_000;

/// How far back from its end a file started at its `tail` is searched
/// for the end of its last whole line.
const TAIL_SEARCH_BYTES: u64 = 64 * 1024;

/// The globs of `paths` and `exclude`, checked.
#[derive(Clone, Debug)]
pub(super) struct Patterns(Arc<PatternsInner>);

#[derive(Debug)]
struct PatternsInner {
    paths: Vec<String>,
    /// The same, compiled, to tell whether a path is one they match.
    compiled: Vec<glob::Pattern>,
    /// Each with whether it holds a `/` (matched against the whole path)
    /// or not (against the file's name).
    exclude: Vec<(glob::Pattern, bool)>,
}

impl Patterns {
    pub(super) fn new(paths: &[String], exclude: &[String]) -> Result<Patterns, SourceConfigError> {
        let compiled = paths
            .iter()
            .map(|path| {
                glob::Pattern::new(path).map_err(|e| {
                    SourceConfigError::invalid(
                        "paths",
                        format!("{path:?} is not a valid glob: {e}"),
                    )
                })
            })
            .collect::<Result<_, _>>()?;
        let exclude = exclude
            .iter()
            .map(|p| {
                glob::Pattern::new(p)
                    .map(|pattern| (pattern, p.contains('/')))
                    .map_err(|e| {
                        SourceConfigError::invalid(
                            "exclude",
                            format!("{p:?} is not a valid glob: {e}"),
                        )
                    })
            })
            .collect::<Result<_, _>>()?;
        Ok(Patterns(Arc::new(PatternsInner {
            paths: paths.to_vec(),
            compiled,
            exclude,
        })))
    }

    /// True for a path the globs match (and do not skip): a scan finds it.
    fn matches(&self, path: &Path) -> bool {
        self.0.compiled.iter().any(|p| p.matches_path(path)) && !self.skipped(path)
    }

    /// True for a path the source never follows: excluded or compressed.
    fn skipped(&self, path: &Path) -> bool {
        if path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| COMPRESSED.contains(&e))
        {
            return true;
        }
        self.0.exclude.iter().any(|(pattern, whole)| {
            if *whole {
                pattern.matches_path(path)
            } else {
                path.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| pattern.matches(n))
            }
        })
    }

    /// Every regular file the globs match now, in a blocking thread's
    /// time: those in `known` (by device and inode) and at most `room`
    /// others. Memory stays within `known` and `room`, however many match.
    /// A file in `idle` (closed to make room, by device and inode, with
    /// what was read of it) is left out unless it grew or shrank.
    fn expand(
        &self,
        known: &HashSet<(u64, u64)>,
        idle: &HashMap<(u64, u64), u64>,
        room: usize,
    ) -> Expanded {
        let mut out = Expanded::default();
        let mut seen = HashSet::new();
        for pattern in &self.0.paths {
            let mut any = false;
            // Checked in `new`; a glob that fails here matches nothing.
            let Ok(paths) = glob::glob(pattern) else {
                continue;
            };
            // Unreadable folders are left out.
            for path in paths.flatten() {
                if self.skipped(&path) {
                    continue;
                }
                let Ok(meta) = std::fs::metadata(&path) else {
                    continue;
                };
                if !meta.is_file() {
                    continue;
                }
                any = true;
                let (dev, inode) = identity::dev_inode(&meta);
                if !seen.insert((dev, inode)) {
                    continue;
                }
                let found = Found {
                    path,
                    dev,
                    inode,
                    len: meta.len(),
                };
                if idle.contains_key(&(dev, inode)) {
                    out.idle_seen.insert((dev, inode));
                }
                if known.contains(&(dev, inode)) {
                    out.known.push(found);
                } else if idle.get(&(dev, inode)) == Some(&found.len) {
                    // Closed to make room, and no byte came since.
                } else if out.new.len() < room {
                    out.new.push(found);
                } else {
                    out.more += 1;
                    // Not kept: `seen` grows only with what is.
                    seen.remove(&(dev, inode));
                }
            }
            if !any {
                out.unmatched.push(pattern.clone());
            }
        }
        out
    }
}

/// What one look at the globs found.
#[derive(Default)]
struct Expanded {
    /// Files already followed.
    known: Vec<Found>,
    /// Files not followed yet, at most the room left.
    new: Vec<Found>,
    /// Matching files beyond the room left.
    more: usize,
    /// Patterns that matched no file.
    unmatched: Vec<String>,
    /// Files closed to make room that are still at a matched path.
    idle_seen: HashSet<(u64, u64)>,
}

/// A regular file at a matched path.
#[derive(Clone, Debug)]
struct Found {
    path: PathBuf,
    dev: u64,
    inode: u64,
    len: u64,
}

/// A file opened to be followed.
struct Opened {
    found: Found,
    file: File,
    fingerprint: u64,
    /// The end of its last whole line, when it is to start at its tail.
    tail: Option<u64>,
}

/// One followed file.
struct Tracked {
    id: FileId,
    /// Truncations in place seen so far: a part of its stream.
    generation: u32,
    path: PathBuf,
    /// Read on tokio's blocking threads (see [`read_into`]), so shared.
    file: Arc<File>,
    lines: LineBuffer,
    /// Where it was started, for the lag before anything is delivered.
    start: u64,
    /// The sent offset last noted in a [`Change`]; `None` when it must be
    /// noted again (a new file, a new path).
    recorded: Option<u64>,
    /// No longer at a matched path (renamed away or deleted): read to its
    /// end, then let go once quiet for `rotate_wait`.
    away: bool,
    /// Since when reads have found nothing new.
    quiet_since: Option<Instant>,
}

/// Every file a source follows.
pub(super) struct Files {
    patterns: Patterns,
    source: String,
    read_from: ReadFrom,
    rotate_wait: Duration,
    max_files: usize,
    max_line: usize,
    /// The source has no checkpoint yet: `read_from` applies.
    first_start: bool,
    /// No scan was made yet.
    first_scan: bool,
    files: Vec<Tracked>,
    /// Changes for files no longer followed: their last offset, then gone.
    changes: Vec<Change>,
    /// Patterns said to match nothing, said once.
    unmatched_said: HashSet<String>,
    /// Whether more files than `max_files` match, said once.
    over_said: bool,
    /// Files matching beyond `max_files` at the last look: idle files are
    /// closed to make room for them.
    waiting: usize,
    /// Files closed to make room, by device and inode: their fingerprint,
    /// where they were sent to and read to. Opened again when they change.
    idle: HashMap<(u64, u64), Idle>,
    /// Whether a file that could not be opened was said.
    open_error_said: bool,
    /// Files seen truncated in place and not opened again yet (their new
    /// first line may still be short of a newline), by device and inode:
    /// the identity they had, and the generation they start anew in.
    truncated: HashMap<(u64, u64), (FileId, u32)>,
    /// No more bytes come in this run (`--exit-on-eof` at the end of
    /// input): a file short of a newline is opened too, known by the bytes
    /// it has.
    at_end: bool,
}

/// A file closed to make room for others.
#[derive(Clone, Debug)]
struct Idle {
    path: PathBuf,
    fingerprint: u64,
    generation: u32,
    sent: u64,
    read: u64,
}

impl Files {
    pub(super) fn new(config: &Tail, source: &str, first_start: bool) -> Files {
        Files {
            patterns: config.patterns.clone(),
            source: source.to_owned(),
            read_from: config.read_from,
            rotate_wait: config.rotate_wait,
            max_files: config.max_files,
            max_line: config.max_line_bytes,
            first_start,
            first_scan: true,
            files: Vec::new(),
            changes: Vec::new(),
            unmatched_said: HashSet::new(),
            over_said: false,
            waiting: 0,
            idle: HashMap::new(),
            open_error_said: false,
            truncated: HashMap::new(),
            at_end: false,
        }
    }

    /// At the end of input with `--exit-on-eof`: a last look at the globs
    /// also opens the files whose first line has no newline (nothing more
    /// comes in this run), so their bytes are read and sent as a last
    /// line. False if it was done already.
    pub(super) async fn open_at_end(
        &mut self,
        decoder: &mut LineDecoder,
        progress: &mut Progress,
    ) -> Result<bool, SourceError> {
        if self.at_end {
            return Ok(false);
        }
        self.at_end = true;
        self.scan(decoder, progress).await?;
        Ok(true)
    }

    /// Looks at the globs: picks up new files, notices files renamed within
    /// them, rotated or deleted away from them, and truncated.
    pub(super) async fn scan(
        &mut self,
        decoder: &mut LineDecoder,
        progress: &mut Progress,
    ) -> Result<(), SourceError> {
        let known: HashSet<(u64, u64)> =
            self.files.iter().map(|t| (t.id.dev, t.id.inode)).collect();
        let room = self.max_files.saturating_sub(self.files.len());
        let patterns = self.patterns.clone();
        let idle: HashMap<(u64, u64), u64> = self.idle.iter().map(|(k, i)| (*k, i.read)).collect();
        let scan = blocking(move || patterns.expand(&known, &idle, room)).await?;
        self.waiting = scan.more;

        for pattern in scan.unmatched {
            if self.unmatched_said.insert(pattern.clone()) {
                tracing::warn!(source = %self.source, pattern = %pattern, "tail: no file matches yet; waiting for one");
            }
        }
        if scan.more > 0 && !self.over_said {
            self.over_said = true;
            tracing::warn!(source = %self.source, max_files = self.max_files, more = scan.more, "tail: more files match than max_files; files at their end are closed to make room, and opened again when they grow");
        }

        let index: HashMap<(u64, u64), usize> = self
            .files
            .iter()
            .enumerate()
            .map(|(i, t)| ((t.id.dev, t.id.inode), i))
            .collect();
        let mut present = vec![false; self.files.len()];
        let mut truncated = Vec::new();
        for found in scan.known {
            let Some(&i) = index.get(&(found.dev, found.inode)) else {
                continue;
            };
            present[i] = true;
            let t = &mut self.files[i];
            if t.path != found.path {
                tracing::info!(source = %self.source, from = %t.path.display(), to = %found.path.display(), "tail: file renamed; still following it");
                t.path = found.path.clone();
                t.recorded = None;
            }
            if t.away {
                t.away = false;
                t.quiet_since = None;
            }
            if found.len < t.lines.read_offset() {
                truncated.push((i, found));
            }
        }
        for (t, _) in self.files.iter_mut().zip(&present).filter(|(_, p)| !**p) {
            if !t.away {
                t.away = true;
                // rotate_wait counts from now: the writer may still write.
                t.quiet_since = None;
                tracing::info!(source = %self.source, path = %t.path.display(), "tail: file rotated or deleted away from the paths; reading it to its end");
            }
        }
        // A truncated file is read again from its start, in a new
        // generation: refilled with the same first line, it has the same
        // identity, and its new lines must not share a stream (and so
        // offsets) with the old ones, which the lake may already hold.
        let mut new = scan.new;
        for (i, found) in truncated.into_iter().rev() {
            let mut t = self.files.remove(i);
            tracing::warn!(source = %self.source, path = %t.path.display(), "tail: file truncated; reading it again from the start");
            t.lines.finish(decoder, now_nanos());
            self.let_go_truncated(t);
            new.push(found);
        }

        self.find_idle_moved(decoder, &scan.idle_seen).await;

        let tail = self.first_scan && self.first_start && self.read_from == ReadFrom::Tail;
        self.first_scan = false;
        if new.is_empty() {
            return Ok(());
        }
        let at_end = self.at_end;
        let (opened, failed) = blocking(move || open_all(new, tail, at_end)).await?;
        if let Some((path, error)) = failed
            && !self.open_error_said
        {
            self.open_error_said = true;
            tracing::warn!(source = %self.source, path = %path.display(), %error, "tail: cannot open a file; it is tried again at each look (said once)");
        }
        for o in opened {
            let id = FileId {
                dev: o.found.dev,
                inode: o.found.inode,
                fingerprint: o.fingerprint,
            };
            if let Some((was, generation)) = self.truncated.remove(&(id.dev, id.inode)) {
                // Truncated in place: from its start, in its new generation.
                if was != id {
                    // Refilled with another first line: the old identity's
                    // entry (which says where the new generation starts)
                    // is of no more use.
                    self.changes.push(Change::Gone(was));
                }
                self.follow(decoder, o.found.path, o.file, id, generation, 0, false)?;
                continue;
            }
            let idle = self
                .idle
                .remove(&(id.dev, id.inode))
                .filter(|i| i.fingerprint == id.fingerprint);
            if let Some(idle) = idle {
                // Opened again after it was closed to make room: quietly,
                // unless it was truncated while closed.
                let (generation, start) = if o.found.len < idle.read {
                    tracing::warn!(source = %self.source, path = %o.found.path.display(), "tail: file truncated; reading it again from the start");
                    (idle.generation.wrapping_add(1), 0)
                } else {
                    (idle.generation, idle.sent)
                };
                self.follow(decoder, o.found.path, o.file, id, generation, start, false)?;
                continue;
            }
            let delivered = progress.entry(&id).map(|e| (e.offset, e.generation));
            let (generation, start) = match (delivered, o.tail) {
                (Some((offset, generation)), _) if offset <= o.found.len => {
                    tracing::info!(source = %self.source, path = %o.found.path.display(), offset, "tail: following from where it was delivered to");
                    (generation, offset)
                }
                (Some((offset, generation)), _) => {
                    // Truncated in place while stopped (or while it had no
                    // whole first line): a new generation.
                    tracing::warn!(source = %self.source, path = %o.found.path.display(), offset, len = o.found.len, "tail: file shorter than where it was delivered to; reading it from its start");
                    (generation.wrapping_add(1), 0)
                }
                (None, Some(tail)) => {
                    tracing::info!(source = %self.source, path = %o.found.path.display(), offset = tail, "tail: following from its end (read_from = tail)");
                    (0, tail)
                }
                (None, None) => {
                    tracing::info!(source = %self.source, path = %o.found.path.display(), "tail: following");
                    (0, 0)
                }
            };
            self.follow(decoder, o.found.path, o.file, id, generation, start, false)?;
        }
        Ok(())
    }

    /// After the first scan: each file the checkpoint names that no glob
    /// matched is looked for in its folder under another name (renamed by a
    /// rotation while levee was stopped) and read on to its end; the others
    /// are forgotten.
    pub(super) async fn find_renamed(&mut self, decoder: &LineDecoder, progress: &mut Progress) {
        let followed: HashSet<FileId> = self.files.iter().map(|t| t.id).collect();
        let missing: Vec<Entry> = progress
            .entries()
            .filter(|e| !followed.contains(&e.id()))
            .cloned()
            .collect();
        if missing.is_empty() {
            return;
        }
        let looked = missing.clone();
        let patterns = self.patterns.clone();
        let (found, matched) = match blocking(move || find_in_folders(&looked, &patterns)).await {
            Ok(found) => found,
            Err(e) => {
                tracing::warn!(source = %self.source, error = %e, "tail: cannot look for the checkpoint's files");
                return;
            }
        };
        // Found at a path the globs match, or under another name beyond
        // max_files: not gone, read when there is room.
        let mut found_ids: HashSet<FileId> = missing
            .iter()
            .filter(|e| matched.contains(&(e.dev, e.inode)))
            .map(Entry::id)
            .collect();
        for (entry, path, file) in found {
            found_ids.insert(entry.id());
            if self.files.len() >= self.max_files {
                continue;
            }
            tracing::info!(source = %self.source, was = %entry.path.display(), now = %path.display(), offset = entry.offset, "tail: found the checkpoint's file under another name; reading it to its end");
            if let Err(e) = self.follow(
                decoder,
                path,
                file,
                entry.id(),
                entry.generation,
                entry.offset,
                true,
            ) {
                tracing::warn!(source = %self.source, error = %e, "tail: cannot read on in the renamed file");
            }
        }
        let mut gone = Vec::new();
        for entry in missing {
            if !found_ids.contains(&entry.id()) {
                tracing::info!(source = %self.source, path = %entry.path.display(), "tail: a file the checkpoint names is gone; forgetting it");
                gone.push(Change::Gone(entry.id()));
            }
        }
        progress.record(gone);
    }

    /// A file closed to make room that is no longer at a matched path was
    /// rotated away or deleted while closed: renamed in its folder, it is
    /// opened again and read to its end; deleted, it is forgotten.
    async fn find_idle_moved(&mut self, decoder: &LineDecoder, seen: &HashSet<(u64, u64)>) {
        let moved: Vec<(u64, u64)> = self
            .idle
            .keys()
            .filter(|k| !seen.contains(k))
            .copied()
            .collect();
        if moved.is_empty() {
            return;
        }
        let entries: Vec<Entry> = moved
            .iter()
            .filter_map(|k| self.idle.remove(k).map(|i| (k, i)))
            .map(|(&(dev, inode), i)| {
                let id = FileId {
                    dev,
                    inode,
                    fingerprint: i.fingerprint,
                };
                Entry::new(i.path, id, i.generation, i.sent)
            })
            .collect();
        let looked = entries.clone();
        let patterns = self.patterns.clone();
        let Ok((found, _)) = blocking(move || find_in_folders(&looked, &patterns)).await else {
            return;
        };
        let mut followed = HashSet::new();
        for (entry, path, file) in found {
            tracing::info!(source = %self.source, was = %entry.path.display(), now = %path.display(), "tail: a file closed to make room was rotated away; reading it to its end");
            if self
                .follow(
                    decoder,
                    path,
                    file,
                    entry.id(),
                    entry.generation,
                    entry.offset,
                    true,
                )
                .is_ok()
            {
                followed.insert(entry.id());
            }
        }
        for entry in entries {
            if !followed.contains(&entry.id()) {
                self.changes.push(Change::Gone(entry.id()));
            }
        }
    }

    /// Starts following `file` from `start`, in its `generation`.
    #[allow(clippy::too_many_arguments)]
    fn follow(
        &mut self,
        decoder: &LineDecoder,
        path: PathBuf,
        file: File,
        id: FileId,
        generation: u32,
        start: u64,
        away: bool,
    ) -> Result<(), SourceError> {
        // Moves the file position only: no I/O to wait for.
        (&file)
            .seek(SeekFrom::Start(start))
            .map_err(|error| SourceError::Io {
                path: path.clone(),
                error,
            })?;
        let stream = id.stream(&self.source, generation);
        self.files.push(Tracked {
            id,
            generation,
            path,
            file: Arc::new(file),
            lines: decoder.line_buffer_from(stream, start, self.max_line),
            start,
            recorded: None,
            away,
            quiet_since: None,
        });
        Ok(())
    }

    /// Reads once from the `at`th file; `None` past the last. A file that
    /// cannot be read is let go, its checkpoint kept: a later look at the
    /// globs finds it again if it is there.
    pub(super) async fn read_one(
        &mut self,
        at: usize,
        buf: &mut Vec<u8>,
        decoder: &mut LineDecoder,
    ) -> Option<usize> {
        let t = self.files.get_mut(at)?;
        match read_into(Arc::clone(&t.file), buf).await {
            Ok(0) => {
                t.quiet_since.get_or_insert_with(Instant::now);
                Some(0)
            }
            Ok(n) => {
                decoder.metrics().bytes.inc_by(n as u64);
                t.lines.feed(&buf[..n], decoder, now_nanos());
                t.quiet_since = None;
                Some(n)
            }
            Err(e) => {
                tracing::warn!(source = %self.source, path = %t.path.display(), error = %e, "tail: cannot read the file; letting it go");
                let t = self.files.remove(at);
                // Where its lines were sent is still delivered in time.
                let offset = t.lines.sent_offset();
                self.changes
                    .push(Change::At(Entry::new(t.path, t.id, t.generation, offset)));
                Some(0)
            }
        }
    }

    /// Lets go of the files rotated away that stayed quiet for
    /// `rotate_wait`, their last line without a newline still a line.
    pub(super) fn let_go_quiet(&mut self, decoder: &mut LineDecoder) {
        let rotate_wait = self.rotate_wait;
        let mut at = 0;
        while at < self.files.len() {
            let t = &self.files[at];
            if t.away && t.quiet_since.is_some_and(|q| q.elapsed() >= rotate_wait) {
                let mut t = self.files.remove(at);
                t.lines.finish(decoder, now_nanos());
                tracing::info!(source = %self.source, path = %t.path.display(), "tail: done with the file rotated away");
                self.let_go(t);
                continue;
            }
            at += 1;
        }
    }

    /// When more files match than `max_files`, closes followed files that
    /// are at their end to make room; each is opened again, where its lines
    /// were sent to, once it changes. Returns how many it closed.
    pub(super) fn close_idle(&mut self) -> usize {
        let mut wanted = self.waiting;
        let mut closed = 0;
        let mut at = 0;
        while wanted > 0 && at < self.files.len() {
            let t = &self.files[at];
            if t.away || t.quiet_since.is_none() {
                at += 1;
                continue;
            }
            let t = self.files.remove(at);
            let sent = t.lines.sent_offset();
            self.idle.insert(
                (t.id.dev, t.id.inode),
                Idle {
                    path: t.path.clone(),
                    fingerprint: t.id.fingerprint,
                    generation: t.generation,
                    sent,
                    read: t.lines.read_offset(),
                },
            );
            self.changes
                .push(Change::At(Entry::new(t.path, t.id, t.generation, sent)));
            wanted -= 1;
            closed += 1;
        }
        closed
    }

    /// Files followed: open, or closed to make room and opened again once
    /// they change.
    pub(super) fn watched(&self) -> usize {
        self.files.len() + self.idle.len()
    }

    /// Files that match and wait for room.
    pub(super) fn waiting(&self) -> usize {
        self.waiting
    }

    /// Notes a file's last offset and that it is no longer followed; its
    /// last lines must be in the decoder already.
    fn let_go(&mut self, t: Tracked) {
        let offset = t.lines.sent_offset();
        self.changes
            .push(Change::At(Entry::new(t.path, t.id, t.generation, offset)));
        self.changes.push(Change::Gone(t.id));
    }

    /// Notes a truncated file's last offset, then that it starts anew in
    /// its next generation: the checkpoint says so once its last lines are
    /// delivered, so a restart before it is opened again (its new first
    /// line still short of a newline) does not go back to the old one.
    fn let_go_truncated(&mut self, t: Tracked) {
        let offset = t.lines.sent_offset();
        let next = t.generation.wrapping_add(1);
        self.changes.push(Change::At(Entry::new(
            t.path.clone(),
            t.id,
            t.generation,
            offset,
        )));
        self.changes
            .push(Change::At(Entry::new(t.path, t.id, next, 0)));
        self.truncated.insert((t.id.dev, t.id.inode), (t.id, next));
    }

    /// Where every file was sent to, for those that moved since last asked.
    pub(super) fn changes(&mut self) -> Vec<Change> {
        let mut out = std::mem::take(&mut self.changes);
        for t in &mut self.files {
            let offset = t.lines.sent_offset();
            if t.recorded != Some(offset) {
                t.recorded = Some(offset);
                out.push(Change::At(Entry::new(
                    t.path.clone(),
                    t.id,
                    t.generation,
                    offset,
                )));
            }
        }
        out
    }

    /// Bytes read from the files followed that are not delivered yet.
    pub(super) fn lag(&self, progress: &Progress) -> i64 {
        let lag: u64 = self
            .files
            .iter()
            .map(|t| {
                let delivered = progress.delivered(&t.id).unwrap_or(t.start);
                t.lines.read_offset().saturating_sub(delivered)
            })
            .sum();
        i64::try_from(lag).unwrap_or(i64::MAX)
    }

    /// At the end of input: every file's last line without a newline is
    /// still a line.
    pub(super) fn finish_all(&mut self, decoder: &mut LineDecoder) {
        for t in &mut self.files {
            t.lines.finish(decoder, now_nanos());
        }
    }

    /// Parses pending multiline records that waited long enough.
    pub(super) fn flush_if_idle(&mut self, decoder: &mut LineDecoder) {
        for t in &mut self.files {
            t.lines.flush_if_idle(decoder);
        }
    }

    /// Parses every pending multiline record as it stands.
    pub(super) fn flush_record(&mut self, decoder: &mut LineDecoder) {
        for t in &mut self.files {
            t.lines.flush_record(decoder);
        }
    }

    /// When the first pending multiline record is due, if there is one.
    pub(super) fn record_deadline(&self) -> Option<Instant> {
        self.files
            .iter()
            .filter_map(|t| t.lines.record_deadline())
            .min()
    }

    /// Bytes held in partial lines and pending records.
    pub(super) fn partial_bytes(&self) -> usize {
        self.files.iter().map(|t| t.lines.pending()).sum()
    }
}

/// Opens each found file and takes its fingerprint; a file with no whole
/// first line yet is left for a later look (unless `at_end`). With `tail`, finds where its
/// last whole line ends.
/// Also returns a file that could not be opened (too many open files,
/// no permission), if one could not.
fn open_all(
    found: Vec<Found>,
    tail: bool,
    at_end: bool,
) -> (Vec<Opened>, Option<(PathBuf, std::io::Error)>) {
    let mut opened = Vec::with_capacity(found.len());
    let mut failed = None;
    for found in found {
        let file = match File::open(&found.path) {
            Ok(file) => file,
            // Gone since the look: nothing to say.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => {
                failed.get_or_insert((found.path, e));
                continue;
            }
        };
        // Still the file the scan saw, not one put there since.
        let Ok(meta) = file.metadata() else {
            continue;
        };
        if identity::dev_inode(&meta) != (found.dev, found.inode) {
            continue;
        }
        let Ok(Some(fingerprint)) = identity::fingerprint_of(&file, at_end) else {
            continue;
        };
        let tail = tail.then(|| tail_offset(&file, meta.len()));
        opened.push(Opened {
            found: Found {
                len: meta.len(),
                ..found
            },
            file,
            fingerprint,
            tail,
        });
    }
    (opened, failed)
}

/// Where the last whole line of a file `len` bytes long ends: its end if
/// no newline is in its last [`TAIL_SEARCH_BYTES`].
fn tail_offset(file: &File, len: u64) -> u64 {
    let from = len.saturating_sub(TAIL_SEARCH_BYTES);
    let mut last = Vec::new();
    let mut clone = match file.try_clone() {
        Ok(clone) => clone,
        Err(_) => return len,
    };
    if clone.seek(SeekFrom::Start(from)).is_err()
        || (&mut clone)
            .take(len - from)
            .read_to_end(&mut last)
            .is_err()
    {
        return len;
    }
    match memchr::memrchr(b'\n', &last) {
        Some(nl) => from + nl as u64 + 1,
        None => len,
    }
}

/// Looks in the folder of each entry for the file it names, under any
/// name: same device and inode, and the same first line.
/// A checkpoint's file found under another name, opened.
type Renamed = (Entry, PathBuf, File);

/// Files the globs match are left to the scans, and returned apart: they
/// are not gone (more files than `max_files` match, for instance).
fn find_in_folders(entries: &[Entry], patterns: &Patterns) -> (Vec<Renamed>, HashSet<(u64, u64)>) {
    let mut by_folder: HashMap<PathBuf, Vec<&Entry>> = HashMap::new();
    for entry in entries {
        let folder = entry
            .path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        by_folder.entry(folder.to_owned()).or_default().push(entry);
    }
    let mut found = Vec::new();
    let mut matched = HashSet::new();
    for (folder, wanted) in by_folder {
        let Ok(dir) = std::fs::read_dir(&folder) else {
            continue;
        };
        let mut wanted: HashMap<(u64, u64), &Entry> =
            wanted.into_iter().map(|e| ((e.dev, e.inode), e)).collect();
        for item in dir.take(MAX_FOLDER_ENTRIES).flatten() {
            if wanted.is_empty() {
                break;
            }
            let path = item.path();
            let Ok(meta) = std::fs::metadata(&path) else {
                continue;
            };
            let Some(entry) = wanted.remove(&identity::dev_inode(&meta)) else {
                continue;
            };
            if patterns.matches(&path) {
                matched.insert((entry.dev, entry.inode));
                continue;
            }
            let Ok(file) = File::open(&path) else {
                continue;
            };
            let same = file
                .metadata()
                .is_ok_and(|m| identity::dev_inode(&m) == (entry.dev, entry.inode))
                && identity::fingerprint(&file).ok().flatten() == Some(entry.fingerprint);
            if same && entry.offset <= meta.len() {
                found.push((entry.clone(), path, file));
            }
        }
    }
    (found, matched)
}

/// Runs `f` on tokio's blocking threads: file-system calls stay off the
/// runtime's workers.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, SourceError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| SourceError::Config(format!("tail: a file-system task failed: {e}")))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn patterns(paths: &[&str], exclude: &[&str]) -> Patterns {
        let s = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        Patterns::new(&s(paths), &s(exclude)).unwrap()
    }

    #[test]
    fn compressed_and_excluded_files_are_skipped() {
        let p = patterns(&["/var/log/*"], &["*.1", "/var/log/debug.log"]);
        assert!(p.skipped(Path::new("/var/log/access.log.2.gz")));
        assert!(p.skipped(Path::new("/var/log/access.log.3.zst")));
        assert!(p.skipped(Path::new("/var/log/access.log.1")));
        assert!(p.skipped(Path::new("/var/log/debug.log")));
        assert!(!p.skipped(Path::new("/var/log/access.log")));
        assert!(!p.skipped(Path::new("/var/log/access.log.2")));
        assert!(!p.skipped(Path::new("/var/log/other/debug.log")));
    }

    #[test]
    fn bad_globs_are_refused_at_their_key() {
        let bad = Patterns::new(&["/var/log/[".into()], &[]).unwrap_err();
        assert!(matches!(
            bad,
            SourceConfigError::Invalid { key: "paths", .. }
        ));
        let bad = Patterns::new(&["/x".into()], &["a[".into()]).unwrap_err();
        assert!(matches!(
            bad,
            SourceConfigError::Invalid { key: "exclude", .. }
        ));
    }

    #[test]
    fn a_glob_over_many_files_keeps_only_the_room_left() {
        let dir = tempfile::tempdir().unwrap();
        for i in 0..50 {
            std::fs::write(dir.path().join(format!("{i}.log")), b"x\n").unwrap();
        }
        std::fs::write(dir.path().join("old.log.gz"), b"x\n").unwrap();
        let p = patterns(&[&format!("{}/*.log*", dir.path().display())], &[]);
        let none = HashMap::new();
        let got = p.expand(&HashSet::new(), &none, 10);
        assert_eq!((got.new.len(), got.more), (10, 40));
        let all = p.expand(&HashSet::new(), &none, 100);
        assert_eq!((all.new.len(), all.more), (50, 0), "the .gz is skipped");
        // Followed files are always seen, whatever the room.
        let known: HashSet<_> = all.new[..20].iter().map(|f| (f.dev, f.inode)).collect();
        let got = p.expand(&known, &none, 0);
        assert_eq!((got.known.len(), got.new.len(), got.more), (20, 0, 30));
        // Files closed to make room are left out until they change.
        let idle: HashMap<_, _> = all.new[20..]
            .iter()
            .map(|f| ((f.dev, f.inode), 2))
            .collect();
        let got = p.expand(&known, &idle, 0);
        assert_eq!((got.known.len(), got.more), (20, 0));
        let grown = &all.new[30];
        std::fs::write(&grown.path, b"x\ny\n").unwrap();
        let got = p.expand(&known, &idle, 1);
        assert_eq!(got.new[0].path, grown.path);
    }

    #[test]
    fn tail_starts_after_the_last_whole_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.log");
        std::fs::write(&path, b"one\ntwo\nthr").unwrap();
        let file = File::open(&path).unwrap();
        assert_eq!(tail_offset(&file, 11), 8);
        std::fs::write(&path, b"no newline").unwrap();
        assert_eq!(tail_offset(&File::open(&path).unwrap(), 10), 10);
    }
}
