//! The buffer in front of every output: bounded in bytes, batching by size
//! and age, and deciding what happens when it is full. Two kinds, one
//! interface ([`Buffer`]): [`MemoryBuffer`] (the default) and
//! [`DiskBuffer`], a write-ahead log that survives restarts and crashes.
//!
//! Producers are the router tasks of the sources that feed the output; the
//! consumer is the output's worker. With `when_full = "block"`, a producer
//! waits for room, which holds back only the sources routed to this output.

pub mod disk;
mod memory;

use std::sync::Arc;
use std::time::Duration;

use levee_event::{Ack, Event};
use levee_io::units::{Interval, Size};
use serde::Deserialize;

pub use disk::{DiskBuffer, DiskSettings, Fsync};
pub use memory::MemoryBuffer;

/// `buffer = { ... }` under an output.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BufferConfig {
    /// Where the buffer lives: `memory` (the default; lost if the process
    /// dies) or `disk` (a write-ahead log under `data_dir/buffers/<output>/`
    /// that survives restarts and crashes: for sources that cannot replay,
    /// such as stdin and the network inputs).
    #[serde(rename = "type", default)]
    pub kind: BufferKind,
    /// The most bytes the buffer holds. Memory: bytes of events, roughly as
    /// held in memory; default `16MiB`, about 18,000 nginx events, and a
    /// full buffer costs about 1.5 times that in RSS. It absorbs a slow
    /// write, not an outage: that is the disk buffer's job. Disk: bytes of
    /// encoded events on disk (segments are deleted whole, so the files
    /// may hold one `segment_bytes` more); default `256MiB`.
    #[serde(default)]
    pub max_bytes: Option<Size>,
    /// The longest an event waits before its batch is written. Default `1s`.
    /// (The lake makes minute-sized chunks itself: see its `chunk_interval`.)
    #[serde(default)]
    pub flush_interval: Option<Interval>,
    /// A batch is written as soon as it holds this many bytes. Default
    /// `2MiB`, so that a full buffer holds a batch being written and more
    /// waiting.
    #[serde(default = "default_batch_bytes")]
    pub batch_max_bytes: Size,
    /// What to do when the buffer is full: `block` (slow the sources down),
    /// `drop_newest` or `drop_oldest` (drop and count; memory only).
    #[serde(default)]
    pub when_full: WhenFull,
    /// Disk only: when writes are made durable. `interval` (the default)
    /// fsyncs every `fsync_interval`: a crash of levee loses nothing (the
    /// data is in the kernel's cache), a power cut at most that interval,
    /// and a tailed file's checkpoint never passes events not yet synced.
    /// `always` fsyncs every write before the sources are told the events
    /// are safe: no loss on a power cut, at the cost of an fsync (a
    /// millisecond on an SSD, ten on a disk) per routed batch.
    #[serde(default)]
    pub fsync: Option<FsyncMode>,
    /// Disk only: the interval of `fsync = "interval"`. Default `1s`.
    #[serde(default)]
    pub fsync_interval: Option<Interval>,
    /// Disk only: a segment file is closed and a new one started past this
    /// size; a segment is deleted once all of it was delivered. Default:
    /// an eighth of `max_bytes`, between 1MiB and 64MiB.
    #[serde(default)]
    pub segment_bytes: Option<Size>,
}

impl Default for BufferConfig {
    fn default() -> BufferConfig {
        BufferConfig {
            kind: BufferKind::Memory,
            max_bytes: None,
            flush_interval: None,
            batch_max_bytes: default_batch_bytes(),
            when_full: WhenFull::Block,
            fsync: None,
            fsync_interval: None,
            segment_bytes: None,
        }
    }
}

/// `max_bytes` when the config leaves it out.
pub fn default_max_bytes(kind: BufferKind) -> Size {
    match kind {
        BufferKind::Memory => Size(16 * 1024 * 1024),
        BufferKind::Disk => Size(256 * 1024 * 1024),
    }
}

fn default_batch_bytes() -> Size {
    Size(2 * 1024 * 1024)
}

/// Where a buffer keeps its events.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BufferKind {
    /// A bounded queue in memory, lost if the process dies.
    #[default]
    Memory,
    /// A write-ahead log on disk: see [`disk`].
    Disk,
}

/// `fsync = ...` of a disk buffer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FsyncMode {
    /// Every `fsync_interval`.
    #[default]
    Interval,
    /// After every write.
    Always,
}

/// What a full buffer does with new events.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WhenFull {
    /// Wait for room: the sources feeding this output slow down.
    #[default]
    Block,
    /// Drop the events that don't fit, and count them.
    DropNewest,
    /// Drop the oldest events to make room, and count them.
    DropOldest,
}

/// A buffer's settings, checked.
#[derive(Clone, Copy, Debug)]
pub struct BufferSettings {
    /// The most bytes of events held; see [`BufferConfig::max_bytes`].
    pub max_bytes: usize,
    /// A batch is ready once it holds this many bytes.
    pub batch_max_bytes: usize,
    /// The longest an event waits before its batch is ready.
    pub flush_interval: Duration,
    /// What a full buffer does with new events.
    pub when_full: WhenFull,
}

/// A batch ready for the sink: its events, and the acks of the pushes
/// whose last events it holds.
#[derive(Debug, Default)]
pub struct Ready {
    /// The events, oldest first.
    pub events: Vec<Event>,
    /// The acks this batch completes (for this output).
    pub acks: Vec<Ack>,
}

/// An output's buffer, of either kind: what the router pushes into and the
/// output's worker takes batches from.
// One per output, behind an `Arc`: the size of a variant costs nothing.
#[allow(clippy::large_enum_variant)]
pub enum Buffer {
    /// In memory.
    Memory(MemoryBuffer),
    /// On disk.
    Disk(Arc<DiskBuffer>),
}

impl Buffer {
    /// Adds events, applying `when_full` if they don't fit; `ack` covers
    /// them. A memory buffer hands it on with the batch that takes the
    /// last of them; a disk buffer drops it once they are durable.
    pub async fn push(&self, events: Vec<Event>, ack: Option<Ack>) {
        match self {
            Buffer::Memory(b) => b.push(events, ack).await,
            Buffer::Disk(b) => b.push(events, ack).await,
        }
    }

    /// The next batch to write, with the acks the sink drops once it has
    /// stored it; `None` once the buffer is closed and drained.
    pub async fn next_batch(&self) -> Option<Ready> {
        match self {
            Buffer::Memory(b) => b.next_batch().await,
            Buffer::Disk(b) => b.next_batch().await.map(|batch| Ready {
                events: batch.events,
                acks: vec![batch.ack],
            }),
        }
    }

    /// No more pushes will come: the worker drains what is left and stops.
    pub fn close(&self) {
        match self {
            Buffer::Memory(b) => b.close(),
            Buffer::Disk(b) => b.close(),
        }
    }

    /// After the worker stopped: a disk buffer syncs its log and saves its
    /// read position (a memory buffer has nothing to do).
    pub async fn finish(&self) {
        if let Buffer::Disk(b) = self {
            b.finish().await;
        }
    }
}

/// The batches `bytes` not yet handed to the sink make, at most
/// `batch_max_bytes` each: `levee_buffer_queue_length`.
fn batches_in(bytes: u64, batch_max_bytes: usize) -> i64 {
    let n = bytes.div_ceil(batch_max_bytes.max(1) as u64);
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Waits until either buffer kind's next batch may be ready: `notified`
/// fires (a push or close; the caller enabled it under the buffer's lock,
/// so one that came after its check is not missed) or, when the oldest
/// unbatched event has a flush deadline, that deadline passes.
async fn notified_or_due(
    notified: std::pin::Pin<&mut tokio::sync::futures::Notified<'_>>,
    due: Option<tokio::time::Instant>,
) {
    match due {
        Some(d) => {
            tokio::select! {
                _ = notified => {}
                _ = tokio::time::sleep_until(d) => {}
            }
        }
        None => notified.await,
    }
}
