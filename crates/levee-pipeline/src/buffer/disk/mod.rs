//! The disk buffer: a write-ahead log of checksummed segments under
//! `data_dir/buffers/<output>/`, for outputs fed by sources that cannot
//! replay (stdin, the network inputs), so that what levee accepted survives
//! a restart, a crash or an outage of the output.
//!
//! ```text
//! push ─► encode ─► append to the newest segment ─► (fsync) ─► the sources' acks drop
//!                                                               │
//! next_batch ◄─ read from the read position ◄───────────────────┘
//!      │
//!      └─► the sink stores the batch ─► its ack (the buffer's own Ledger) drops
//!            ─► the position moves past it and is persisted ─► segments behind it are deleted
//! ```
//!
//! - Bounded in bytes on disk (`max_bytes`, records and their frames;
//!   segments are deleted whole, so the files may hold one segment more).
//! - A source's ack drops once its events are durable: at once with
//!   `fsync = "always"`, after the next fsync with `"interval"`.
//! - The read position moves only when the sink stored a batch, so a crash
//!   replays from the last stored batch (at least once), and a restart
//!   delivers what the buffer held.
//! - Damage (a torn tail after a crash, a flipped bit) is detected by the
//!   records' checksums, counted, reported once per place, and skipped:
//!   the rest of that segment is passed over and reading goes on with the
//!   next, so it never stops the output or the process.

pub mod codec;
pub mod inspect;
pub mod position;
pub mod segment;

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use levee_event::{Ack, Event, Ledger};
use tokio::sync::Notify;
use tokio::time::Instant;

use self::position::Pos;
use self::segment::{Damage, HEADER_LEN, Next, SegmentReader};
use super::{BufferSettings, WhenFull};
use crate::metrics::OutputMetrics;

/// How often the buffer looks for stored batches to move its read
/// position past, at most.
const COMMIT_TICK: Duration = Duration::from_millis(50);

/// The largest record the writer makes from many events (one event larger
/// than this is a record of its own). Small enough that `drop_newest`
/// drops close to what does not fit, large enough that a record's frame
/// and write call are a small cost.
const RECORD_BYTES: usize = 256 * 1024;

/// When the buffer makes its writes durable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fsync {
    /// After every write, before the sources' acks drop.
    Always,
    /// At this interval; acks drop after the fsync that covers them.
    Every(Duration),
}

/// A disk buffer's own settings, checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DiskSettings {
    /// When writes are made durable.
    pub fsync: Fsync,
    /// A segment is closed and a new one started past this many bytes.
    pub segment_bytes: u64,
}

/// Where the buffer of output `name` lives under `data_dir`: a name from
/// the config may hold any character, so all but `[A-Za-z0-9_-]` are
/// written as `%XX`.
pub fn dir_for(data_dir: &Path, name: &str) -> PathBuf {
    let mut safe = String::with_capacity(name.len());
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b == b'_' || b == b'-' {
            safe.push(b as char);
        } else {
            safe.push_str(&format!("%{b:02X}"));
        }
    }
    data_dir.join("buffers").join(safe)
}

/// Disk buffers under `data_dir` that hold undelivered records but belong to none of
/// `outputs` (the outputs with a disk buffer now): an output renamed, or
/// its buffer switched to memory. Nothing reads them, so they are reported
/// (with their bytes) rather than kept silently. Blocking file I/O.
pub fn orphans(data_dir: &Path, outputs: &[String]) -> Vec<(PathBuf, u64)> {
    let ours: Vec<PathBuf> = outputs.iter().map(|o| dir_for(data_dir, o)).collect();
    let Ok(entries) = std::fs::read_dir(data_dir.join("buffers")) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for entry in entries.flatten() {
        let dir = entry.path();
        if ours.contains(&dir) {
            continue;
        }
        // Only what is past its saved position was never delivered.
        let from = position::read(&dir).ok().and_then(Result::ok).flatten();
        let bytes: u64 = segment::list(&dir)
            .unwrap_or_default()
            .iter()
            .map(|&(id, len)| match from {
                Some(p) if id < p.segment => 0,
                Some(p) if id == p.segment => len.saturating_sub(p.offset.max(HEADER_LEN)),
                _ => len.saturating_sub(HEADER_LEN),
            })
            .sum();
        if bytes > 0 {
            found.push((dir, bytes));
        }
    }
    found.sort();
    found
}

/// A segment still on disk.
#[derive(Clone, Copy, Debug)]
struct Seg {
    id: u64,
    /// Bytes of it written (for the newest) or its length.
    len: u64,
    /// Record bytes in the log before this segment's first record: turns a
    /// position into a count of bytes.
    base: u64,
}

impl Seg {
    fn end(&self) -> u64 {
        self.base + self.len.saturating_sub(HEADER_LEN)
    }
}

struct State {
    /// Oldest first; the last is being written.
    segments: VecDeque<Seg>,
    /// The next record to hand out.
    read: Pos,
    /// Everything before it was stored (and the file says so).
    committed: Pos,
    /// Batches handed out and not yet stored: their seq in `ledger` and
    /// where they end.
    in_flight: VecDeque<(u64, Pos)>,
    /// Bytes reserved by pushes not yet written.
    reserved: u64,
    closed: bool,
    /// When the oldest record not handed out yet was written.
    oldest_unread: Option<Instant>,
    /// Each write's time, with the log's bytes after it, oldest first:
    /// the front is when the oldest record not handed out yet came
    /// (`oldest_unread` restarts at each batch, for the flush deadline).
    /// One per write, never per event.
    arrivals: VecDeque<(u64, Instant)>,
}

impl State {
    fn bytes_at(&self, pos: Pos) -> u64 {
        for seg in &self.segments {
            if seg.id == pos.segment {
                return seg.base + pos.offset.saturating_sub(HEADER_LEN);
            }
        }
        // Before the first segment still there: nothing of it is held.
        self.segments.front().map_or(0, |s| s.base)
    }

    fn end(&self) -> u64 {
        self.segments.back().map_or(0, Seg::end)
    }

    /// Bytes on disk not yet stored by the sink, with pushes under way.
    fn held(&self) -> u64 {
        self.end() - self.bytes_at(self.committed) + self.reserved
    }

    fn unread(&self) -> u64 {
        self.end() - self.bytes_at(self.read)
    }
}

/// The segment being written.
struct Writer {
    file: File,
    id: u64,
    len: u64,
    /// Written since the last fsync.
    dirty: bool,
    /// A write failed: what the file holds past `len` is unknown.
    broken: bool,
}

/// What one call of `write_blocking` did.
#[derive(Default)]
struct Written {
    /// Each segment written to, with its length after, in order.
    touched: Vec<(u64, u64)>,
    /// Events in records written whole.
    events: usize,
    /// What stopped it.
    error: Option<io::Error>,
}

/// Appends `pending` to the segment being written.
fn write_pending(writer: &mut Writer, pending: &mut Vec<u8>) -> io::Result<()> {
    if pending.is_empty() {
        return Ok(());
    }
    writer.file.write_all(pending)?;
    writer.len += pending.len() as u64;
    writer.dirty = true;
    pending.clear();
    Ok(())
}

/// An output's write-ahead log. See the module docs.
pub struct DiskBuffer {
    dir: PathBuf,
    output: String,
    settings: BufferSettings,
    disk: DiskSettings,
    state: Mutex<State>,
    writer: Mutex<Writer>,
    /// The consumer's open segment; only `next_batch` uses it.
    reader: Mutex<Option<SegmentReader>>,
    /// The sources' acks whose events are written but not yet fsynced.
    unsynced: Mutex<Vec<Ack>>,
    /// Issues the acks of the batches handed to the worker.
    ledger: Ledger,
    readable: Notify,
    writable: Notify,
    metrics: OutputMetrics,
}

/// A batch from the buffer: the events and the acks that drop when the
/// sink has stored them.
pub struct DiskBatch {
    /// The events, oldest first.
    pub events: Vec<Event>,
    /// The buffer's own ack for this batch.
    pub ack: Ack,
}

impl DiskBuffer {
    /// Opens (or makes) the buffer of output `output` in `dir`: finds what
    /// an earlier run left, reads on from its persisted position, and
    /// starts a new segment to write. Blocking file I/O: run it off the
    /// async workers (see [`DiskBuffer::open`]).
    fn open_blocking(
        dir: PathBuf,
        output: String,
        settings: BufferSettings,
        disk: DiskSettings,
        metrics: OutputMetrics,
    ) -> io::Result<DiskBuffer> {
        std::fs::create_dir_all(&dir)?;
        let found = segment::list(&dir)?;
        let saved = match position::read(&dir)? {
            Ok(pos) => pos,
            Err(why) => {
                tracing::error!(output = %output, dir = %dir.display(), %why,
                    "the disk buffer's read position is damaged; reading from its oldest segment (events may repeat)");
                metrics.buffer_damage.inc();
                None
            }
        };
        let mut segments = VecDeque::new();
        let mut base = 0;
        let mut read = None;
        for (id, len) in found {
            // Stored by the sink (its deletion had not happened yet), or
            // empty: a segment an earlier start made and wrote nothing to.
            if saved.is_some_and(|p| id < p.segment) || len <= HEADER_LEN {
                std::fs::remove_file(segment::path(&dir, id))?;
                continue;
            }
            if read.is_none() {
                read = Some(match saved {
                    Some(p) if p.segment == id => Pos {
                        segment: id,
                        offset: p.offset.clamp(HEADER_LEN, len.max(HEADER_LEN)),
                    },
                    _ => Pos {
                        segment: id,
                        offset: HEADER_LEN,
                    },
                });
            }
            let len = len.max(HEADER_LEN);
            segments.push_back(Seg { id, len, base });
            base += len - HEADER_LEN;
        }
        let id = segments.back().map_or(1, |s| s.id + 1);
        let file = create_segment(&dir, id)?;
        segments.push_back(Seg {
            id,
            len: HEADER_LEN,
            base,
        });
        let read = read.unwrap_or(Pos {
            segment: id,
            offset: HEADER_LEN,
        });
        let mut state = State {
            segments,
            read,
            committed: read,
            in_flight: VecDeque::new(),
            reserved: 0,
            closed: false,
            oldest_unread: None,
            arrivals: VecDeque::new(),
        };
        if state.unread() > 0 {
            // Left by an earlier run: due now. When it came is not kept;
            // its age counts from this start.
            state.oldest_unread = Some(Instant::now() - settings.flush_interval);
            state.arrivals.push_back((state.end(), Instant::now()));
            tracing::info!(output = %output, bytes = state.unread(),
                "the disk buffer holds events from an earlier run; delivering them");
        }
        metrics.buffer_limit.set(gauge(settings.max_bytes as u64));
        show(&metrics, &mut state, &settings);
        Ok(DiskBuffer {
            dir,
            output,
            settings,
            disk,
            state: Mutex::new(state),
            writer: Mutex::new(Writer {
                file,
                id,
                len: HEADER_LEN,
                dirty: false,
                broken: false,
            }),
            reader: Mutex::new(None),
            unsynced: Mutex::new(Vec::new()),
            ledger: Ledger::new(),
            readable: Notify::new(),
            writable: Notify::new(),
            metrics,
        })
    }

    /// Opens the buffer of output `output` in `dir` (see [`dir_for`]) and
    /// starts its upkeep task (moving the read position, fsyncing).
    pub async fn open(
        dir: PathBuf,
        output: String,
        settings: BufferSettings,
        disk: DiskSettings,
        metrics: OutputMetrics,
    ) -> io::Result<Arc<DiskBuffer>> {
        let buffer = tokio::task::spawn_blocking(move || {
            DiskBuffer::open_blocking(dir, output, settings, disk, metrics)
        })
        .await
        .map_err(io::Error::other)??;
        let buffer = Arc::new(buffer);
        tokio::spawn(upkeep(Arc::downgrade(&buffer)));
        Ok(buffer)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Plain data: a panic elsewhere leaves it usable.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Writes events to the log, applying `when_full` if they don't fit;
    /// `ack` drops once they are durable (or dropped and counted).
    pub async fn push(self: &Arc<Self>, events: Vec<Event>, ack: Option<Ack>) {
        let target = RECORD_BYTES
            .min(self.settings.batch_max_bytes)
            .min(self.settings.max_bytes / 8);
        let records = encode_records(&events, target);
        drop(events);
        let max = self.settings.max_bytes as u64;
        let mut records = VecDeque::from(records);
        while !records.is_empty() {
            let notified = self.writable.notified();
            tokio::pin!(notified);
            // Reserve room for what fits now, under one lock, so that
            // pushes from two routers don't both take the last of it.
            let mut fit = Vec::new();
            {
                let mut state = self.lock();
                while let Some((bytes, _)) = records.front() {
                    let size = bytes.len() as u64;
                    let held = state.held();
                    // A record larger than the whole buffer still goes in
                    // alone, or it would wait forever.
                    if held > 0 && held + size > max {
                        break;
                    }
                    state.reserved += size;
                    fit.extend(records.pop_front());
                }
                if fit.is_empty() && self.settings.when_full == WhenFull::Block {
                    notified.as_mut().enable();
                }
            }
            if !fit.is_empty() {
                self.write(fit).await;
                continue;
            }
            match self.settings.when_full {
                WhenFull::Block => notified.await,
                // `drop_oldest` is refused for disk buffers when the config
                // is checked; were it here, dropping the newest is the safe
                // reading.
                WhenFull::DropNewest | WhenFull::DropOldest => {
                    let dropped: u64 = records.iter().map(|(_, n)| *n as u64).sum();
                    self.metrics.dropped_full.inc_by(dropped);
                    break;
                }
            }
        }
        if let Some(ack) = ack {
            match self.disk.fsync {
                // Written and synced by `write`: durable already.
                Fsync::Always => drop(ack),
                Fsync::Every(_) => lock(&self.unsynced).push(ack),
            }
        }
    }

    /// Appends framed records (reserved in `state.reserved`) to the log.
    async fn write(self: &Arc<Self>, records: Vec<(Vec<u8>, usize)>) {
        let this = self.clone();
        let events: usize = records.iter().map(|(_, n)| n).sum();
        let reserved: u64 = records.iter().map(|(b, _)| b.len() as u64).sum();
        let written = tokio::task::spawn_blocking(move || this.write_blocking(&records))
            .await
            .unwrap_or_else(|e| Written {
                error: Some(io::Error::other(e)),
                ..Written::default()
            });
        {
            let mut state = self.lock();
            state.reserved -= reserved;
            for &(id, len) in &written.touched {
                match state.segments.back_mut() {
                    Some(last) if last.id == id => last.len = len,
                    _ => {
                        let base = state.end();
                        state.segments.push_back(Seg { id, len, base });
                    }
                }
            }
            if written.events > 0 {
                if state.oldest_unread.is_none() {
                    state.oldest_unread = Some(Instant::now());
                }
                let end = state.end();
                state.arrivals.push_back((end, Instant::now()));
            }
            show(&self.metrics, &mut state, &self.settings);
        }
        if written.events > 0 {
            self.readable.notify_one();
        }
        if let Some(e) = written.error {
            let lost = events - written.events;
            self.metrics.dropped_disk.inc_by(lost as u64);
            tracing::error!(output = %self.output, dir = %self.dir.display(), error = %e, events = lost,
                "cannot write to the disk buffer; these events are dropped and counted");
            self.writable.notify_waiters();
        }
    }

    /// Writes records, rolling segments at `segment_bytes`. Says which
    /// segments it wrote to (with their new lengths, in order), how many
    /// events are written whole, and the error that stopped it, if any.
    fn write_blocking(&self, records: &[(Vec<u8>, usize)]) -> Written {
        let mut writer = lock(&self.writer);
        let mut done = Written::default();
        if writer.broken {
            // What a failed write left at the end of that segment is never
            // read in this run (readers stop at its known length); write
            // on in a new one.
            if let Err(e) = self.roll(&mut writer, &mut done) {
                done.error = Some(e);
                return done;
            }
        }
        let mut pending: Vec<u8> = Vec::new();
        let mut pending_events = 0;
        let result = (|| {
            for (bytes, events) in records {
                let size = bytes.len() as u64;
                let len = writer.len + pending.len() as u64;
                if len > HEADER_LEN && len + size > self.disk.segment_bytes {
                    write_pending(&mut writer, &mut pending)?;
                    done.events += std::mem::take(&mut pending_events);
                    self.roll(&mut writer, &mut done)?;
                }
                pending.extend_from_slice(bytes);
                pending_events += events;
            }
            write_pending(&mut writer, &mut pending)?;
            done.events += pending_events;
            if self.disk.fsync == Fsync::Always {
                writer.file.sync_data()?;
                writer.dirty = false;
            }
            Ok(())
        })();
        if let Err(e) = result {
            writer.broken = true;
            done.error = Some(e);
        }
        done.touched.push((writer.id, writer.len));
        done
    }

    /// Closes the segment being written (synced whatever the policy: the
    /// next fsync covers only the newest) and starts the next.
    fn roll(&self, writer: &mut Writer, done: &mut Written) -> io::Result<()> {
        done.touched.push((writer.id, writer.len));
        if !writer.broken {
            writer.file.sync_data()?;
        }
        let id = writer.id + 1;
        let file = create_segment(&self.dir, id)?;
        *writer = Writer {
            file,
            id,
            len: HEADER_LEN,
            dirty: false,
            broken: false,
        };
        Ok(())
    }

    /// The next batch to write: waits until `batch_max_bytes` are written,
    /// the oldest unread record is `flush_interval` old, or the buffer is
    /// closed. `None` once the buffer is closed and everything is handed
    /// out.
    pub async fn next_batch(self: &Arc<Self>) -> Option<DiskBatch> {
        loop {
            let notified = self.readable.notified();
            tokio::pin!(notified);
            let (read, deadline) = {
                let state = self.lock();
                let unread = state.unread();
                let due = state
                    .oldest_unread
                    .map(|t| t + self.settings.flush_interval);
                let ready = unread >= self.settings.batch_max_bytes as u64
                    || state.closed
                    || due.is_some_and(|d| d <= Instant::now());
                if !(ready && unread > 0) && state.closed {
                    return None;
                }
                notified.as_mut().enable();
                (ready && unread > 0, due)
            };
            if read {
                match self.read_batch().await {
                    Some(batch) => return Some(batch),
                    // Only damage was there: look again.
                    None => continue,
                }
            }
            crate::buffer::notified_or_due(notified.as_mut(), deadline).await;
        }
    }

    /// Reads records from the read position, up to `batch_max_bytes`.
    /// `None` if nothing but damage was read.
    async fn read_batch(self: &Arc<Self>) -> Option<DiskBatch> {
        let this = self.clone();
        match tokio::task::spawn_blocking(move || this.take_blocking()).await {
            Ok(batch) => batch,
            Err(e) => {
                tracing::error!(output = %self.output, error = %e, "the disk buffer's reader failed");
                None
            }
        }
    }

    /// Reads the next records and moves the read position past them, as
    /// one step under the reader's lock, so that workers sharing the
    /// buffer (`workers = N`) never take the same records.
    fn take_blocking(&self) -> Option<DiskBatch> {
        let mut reader = lock(&self.reader);
        let (from, segments) = {
            let state = self.lock();
            let segments: Vec<(u64, u64)> = state.segments.iter().map(|s| (s.id, s.len)).collect();
            (state.read, segments)
        };
        let read = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.read_blocking(&mut reader, from, &segments)
        }));
        let (events, end) = match read {
            Ok(read) => read,
            Err(_) => {
                // A panic in the decoder: never expected, but the output
                // must not stop. Pass over the rest of this segment.
                *reader = None;
                self.metrics.buffer_damage.inc();
                tracing::error!(output = %self.output, segment = from.segment,
                    "the disk buffer's reader failed; skipping the rest of this segment");
                let state = self.lock();
                (Vec::new(), self.after_segment(&state, from.segment))
            }
        };
        if end == from {
            // Another worker took what there was.
            return None;
        }
        let ack = {
            let mut state = self.lock();
            let (seq, ack) = self.ledger.issue();
            state.read = end;
            state.in_flight.push_back((seq, end));
            state.oldest_unread = (state.unread() > 0).then(Instant::now);
            show(&self.metrics, &mut state, &self.settings);
            ack
        };
        if events.is_empty() {
            // Only damage was there: the place after it is done with.
            drop(ack);
            return None;
        }
        Some(DiskBatch { events, ack })
    }

    /// The first place after segment `id`: the start of the next one, or
    /// the written end of `id` if it is the newest.
    fn after_segment(&self, state: &State, id: u64) -> Pos {
        let mut after = state.segments.iter().skip_while(|s| s.id != id);
        match (after.next(), after.next()) {
            (_, Some(next)) => Pos {
                segment: next.id,
                offset: HEADER_LEN,
            },
            (Some(this), None) => Pos {
                segment: this.id,
                offset: this.len,
            },
            (None, None) => state.read,
        }
    }

    fn read_blocking(
        &self,
        reader: &mut Option<SegmentReader>,
        from: Pos,
        segments: &[(u64, u64)],
    ) -> (Vec<Event>, Pos) {
        let mut events = Vec::new();
        let mut bytes = 0usize;
        let mut pos = from;
        let limit_of = |id: u64| segments.iter().find(|s| s.0 == id).map(|s| s.1);
        let next_of = |id: u64| segments.iter().find(|s| s.0 > id).map(|s| s.0);
        while bytes < self.settings.batch_max_bytes {
            let Some(limit) = limit_of(pos.segment) else {
                break;
            };
            if reader
                .as_ref()
                .is_none_or(|r| r.id != pos.segment || r.pos != pos.offset)
            {
                *reader = match SegmentReader::open(&self.dir, pos.segment, pos.offset) {
                    Ok(Ok(r)) => Some(r),
                    Ok(Err(damage)) => {
                        self.damaged(pos.segment, 0, limit, &damage);
                        match next_of(pos.segment) {
                            Some(next) => pos = start_of(next),
                            None => pos.offset = limit.max(HEADER_LEN),
                        }
                        *reader = None;
                        continue;
                    }
                    Err(e) => {
                        self.unreadable(pos.segment, &e);
                        match next_of(pos.segment) {
                            Some(next) => pos = start_of(next),
                            None => pos.offset = limit.max(HEADER_LEN),
                        }
                        continue;
                    }
                };
            }
            let Some(r) = reader.as_mut() else { break };
            let next = r.next(limit);
            match next {
                Ok(Next::Record { payload, end }) => {
                    match codec::decode(&payload) {
                        Ok(decoded) => {
                            // Counted as the memory buffer counts, so a
                            // batch costs as much memory with either.
                            bytes += decoded.iter().map(Event::size_hint).sum::<usize>();
                            events.extend(decoded);
                        }
                        // The frame is sound, so only this record is lost.
                        Err(e) => self.damaged(
                            pos.segment,
                            pos.offset,
                            end - pos.offset,
                            &Damage::Undecodable(e),
                        ),
                    }
                    pos.offset = end;
                }
                Ok(Next::End) => match next_of(pos.segment) {
                    Some(next) => {
                        pos = start_of(next);
                        *reader = None;
                    }
                    None => break,
                },
                Ok(Next::Damage { at, damage }) => {
                    // Nothing after a bad frame is a known record boundary.
                    self.damaged(pos.segment, at, limit - at, &damage);
                    *reader = None;
                    match next_of(pos.segment) {
                        Some(next) => pos = start_of(next),
                        None => pos.offset = limit,
                    }
                }
                Err(e) => {
                    self.unreadable(pos.segment, &e);
                    *reader = None;
                    match next_of(pos.segment) {
                        Some(next) => pos = start_of(next),
                        None => pos.offset = limit,
                    }
                }
            }
        }
        (events, pos)
    }

    fn damaged(&self, id: u64, at: u64, skipped: u64, damage: &Damage) {
        self.metrics.buffer_damage.inc();
        self.metrics.buffer_damaged_bytes.inc_by(skipped);
        tracing::error!(output = %self.output, segment = %segment::path(&self.dir, id).display(),
            at, skipped_bytes = skipped, %damage,
            "damage in the disk buffer; skipping it (the events in those bytes are lost)");
    }

    fn unreadable(&self, id: u64, error: &io::Error) {
        self.metrics.buffer_damage.inc();
        tracing::error!(output = %self.output, segment = %segment::path(&self.dir, id).display(),
            %error, "cannot read a disk-buffer segment; skipping it");
    }

    /// No more pushes will come: the worker drains what is left and stops.
    pub fn close(&self) {
        self.lock().closed = true;
        // Every worker (`workers = N`) waiting for a batch must see it.
        self.readable.notify_waiters();
    }

    /// After the worker stopped: syncs the log (the sources' acks drop) and
    /// persists the read position of what the sink stored.
    pub async fn finish(self: &Arc<Self>) {
        let this = self.clone();
        let _ = tokio::task::spawn_blocking(move || {
            this.sync_blocking();
            this.commit_blocking();
        })
        .await;
    }

    /// Fsyncs the newest segment if it was written to, then drops the acks
    /// of what that covered.
    fn sync_blocking(&self) {
        let acks = std::mem::take(&mut *lock(&self.unsynced));
        let mut writer = lock(&self.writer);
        if writer.dirty {
            if let Err(e) = writer.file.sync_data() {
                tracing::error!(output = %self.output, error = %e,
                    "cannot fsync the disk buffer; its events are not yet durable");
                // Keep the acks: their events are not known to be durable.
                lock(&self.unsynced).extend(acks);
                return;
            }
            writer.dirty = false;
        }
        drop(writer);
        drop(acks);
    }

    /// Moves the read position past the batches the sink stored, persists
    /// it and deletes the segments wholly behind it.
    fn commit_blocking(&self) {
        let (to, behind) = {
            let mut state = self.lock();
            let Some(done) = self.ledger.done_through() else {
                return;
            };
            let mut to = None;
            while let Some(&(seq, end)) = state.in_flight.front() {
                if seq > done {
                    break;
                }
                to = Some(end);
                state.in_flight.pop_front();
            }
            let Some(to) = to else { return };
            state.committed = to;
            let behind: Vec<u64> = state
                .segments
                .iter()
                .map(|s| s.id)
                .filter(|&id| id < to.segment)
                .collect();
            (to, behind)
        };
        if let Err(e) = position::write(&self.dir, to) {
            tracing::error!(output = %self.output, error = %e,
                "cannot save the disk buffer's read position; a restart may deliver events again");
            return;
        }
        for id in &behind {
            if let Err(e) = std::fs::remove_file(segment::path(&self.dir, *id))
                && e.kind() != io::ErrorKind::NotFound
            {
                tracing::warn!(output = %self.output, error = %e, "cannot delete a stored segment");
            }
        }
        let mut state = self.lock();
        state.segments.retain(|s| !behind.contains(&s.id));
        show(&self.metrics, &mut state, &self.settings);
        drop(state);
        self.writable.notify_waiters();
    }
}

/// Moves the read position and fsyncs at the configured interval, until
/// the buffer is dropped.
async fn upkeep(buffer: Weak<DiskBuffer>) {
    let mut last_sync = Instant::now();
    loop {
        tokio::time::sleep(COMMIT_TICK).await;
        let Some(buffer) = buffer.upgrade() else {
            return;
        };
        let sync = match buffer.disk.fsync {
            Fsync::Every(every) => last_sync.elapsed() >= every,
            Fsync::Always => false,
        };
        if sync {
            last_sync = Instant::now();
        }
        // Most ticks of an idle buffer have nothing to do: don't wake a
        // blocking thread for them.
        let to_commit = !buffer.lock().in_flight.is_empty();
        let to_sync = sync
            && (!lock(&buffer.unsynced).is_empty()
                || buffer.writer.try_lock().map_or(true, |w| w.dirty));
        if !to_commit && !to_sync {
            continue;
        }
        let this = buffer.clone();
        let _ = tokio::task::spawn_blocking(move || {
            if to_sync {
                this.sync_blocking();
            }
            if to_commit {
                this.commit_blocking();
            }
        })
        .await;
    }
}

fn start_of(id: u64) -> Pos {
    Pos {
        segment: id,
        offset: HEADER_LEN,
    }
}

fn create_segment(dir: &Path, id: u64) -> io::Result<File> {
    let mut file = OpenOptions::new()
        .append(true)
        .create_new(true)
        .open(segment::path(dir, id))?;
    file.write_all(segment::MAGIC)?;
    file.sync_data()?;
    position::sync_dir(dir)?;
    Ok(file)
}

/// Encodes events into framed records of about `target` bytes each, with
/// the count of events in each.
fn encode_records(events: &[Event], target: usize) -> Vec<(Vec<u8>, usize)> {
    let mut records = Vec::new();
    let mut run: Vec<u8> = Vec::new();
    let mut count = 0;
    let mut count_bytes = Vec::with_capacity(10);
    let mut close = |run: &mut Vec<u8>, count: &mut usize| {
        count_bytes.clear();
        codec::put_count(&mut count_bytes, *count);
        let mut framed =
            Vec::with_capacity(segment::FRAME_LEN as usize + count_bytes.len() + run.len());
        segment::frame_parts(&[&count_bytes, run], &mut framed);
        records.push((framed, *count));
        run.clear();
        *count = 0;
    };
    for event in events {
        if count > 0 && run.len() >= target {
            close(&mut run, &mut count);
        }
        codec::encode_event(event, &mut run);
        count += 1;
    }
    if count > 0 {
        close(&mut run, &mut count);
    }
    records
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// Shows the log's bytes held, batches waiting and oldest waiting write,
/// after the writes wholly handed out are let go.
fn show(metrics: &OutputMetrics, state: &mut State, settings: &BufferSettings) {
    let read = state.bytes_at(state.read);
    while state.arrivals.front().is_some_and(|&(end, _)| end <= read) {
        state.arrivals.pop_front();
    }
    metrics.buffer_bytes.set(gauge(state.held()));
    metrics.buffer_queue_length.set(crate::buffer::batches_in(
        state.unread(),
        settings.batch_max_bytes,
    ));
    metrics
        .buffer_oldest
        .set(state.arrivals.front().map(|&(_, at)| at));
}

fn gauge(bytes: u64) -> i64 {
    i64::try_from(bytes).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests;
