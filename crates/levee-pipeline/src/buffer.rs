//! The memory buffer in front of every output: bounded in bytes, batching by
//! size and age, and deciding what happens when it is full.
//!
//! Producers are the router tasks of the sources that feed the output; the
//! consumer is the output's worker. With `when_full = "block"`, a producer
//! waits for room, which holds back only the sources routed to this output.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use levee_event::Event;
use levee_io::units::{Interval, Size};
use serde::Deserialize;
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::metrics::OutputMetrics;

/// `buffer = { ... }` under an output.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BufferConfig {
    /// Where the buffer lives. Only `memory` for now; `disk` comes with
    /// exactly-once delivery.
    #[serde(rename = "type", default)]
    pub kind: BufferKind,
    /// The most bytes (of events, roughly as held in memory) the buffer
    /// holds. Default `16MiB`: about 18,000 nginx events, and a full buffer
    /// costs about 1.5 times that in RSS. It absorbs a slow write, not an
    /// outage: that is the disk buffer's job.
    #[serde(default = "default_max_bytes")]
    pub max_bytes: Size,
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
    /// `drop_newest` or `drop_oldest` (drop and count).
    #[serde(default)]
    pub when_full: WhenFull,
}

impl Default for BufferConfig {
    fn default() -> BufferConfig {
        BufferConfig {
            kind: BufferKind::Memory,
            max_bytes: default_max_bytes(),
            flush_interval: None,
            batch_max_bytes: default_batch_bytes(),
            when_full: WhenFull::Block,
        }
    }
}

fn default_max_bytes() -> Size {
    Size(16 * 1024 * 1024)
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

struct State {
    queue: VecDeque<(Event, usize)>,
    bytes: usize,
    closed: bool,
    /// When the oldest event still queued arrived.
    oldest: Option<Instant>,
}

/// A bounded queue of events in memory.
pub struct MemoryBuffer {
    settings: BufferSettings,
    state: Mutex<State>,
    readable: Notify,
    writable: Notify,
    metrics: OutputMetrics,
}

impl MemoryBuffer {
    /// An empty buffer that counts what it drops into `metrics`.
    pub fn new(settings: BufferSettings, metrics: OutputMetrics) -> MemoryBuffer {
        MemoryBuffer {
            settings,
            state: Mutex::new(State {
                queue: VecDeque::new(),
                bytes: 0,
                closed: false,
                oldest: None,
            }),
            readable: Notify::new(),
            writable: Notify::new(),
            metrics,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding this lock leaves plain data; keep going.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds events, applying `when_full` if they don't fit.
    pub async fn push(&self, events: Vec<Event>) {
        let mut sized: Vec<(Event, usize)> = events
            .into_iter()
            .map(|e| {
                let size = e.size_hint();
                (e, size)
            })
            .collect();
        let max = self.settings.max_bytes;
        while !sized.is_empty() {
            let notified = self.writable.notified();
            tokio::pin!(notified);
            {
                let mut state = self.lock();
                match self.settings.when_full {
                    WhenFull::Block => {
                        // Move what fits; an event larger than the whole
                        // buffer still goes in alone, or it would wait forever.
                        let mut moved = 0;
                        for (_, size) in &sized {
                            if state.bytes > 0 && state.bytes + size > max {
                                break;
                            }
                            state.bytes += size;
                            moved += 1;
                        }
                        if moved > 0 {
                            let rest = sized.split_off(moved);
                            self.enqueue(&mut state, std::mem::replace(&mut sized, rest));
                        }
                        if sized.is_empty() {
                            break;
                        }
                        // Register before unlocking so a wake-up isn't missed.
                        notified.as_mut().enable();
                    }
                    WhenFull::DropNewest => {
                        let mut keep = Vec::with_capacity(sized.len());
                        for (event, size) in sized.drain(..) {
                            if state.bytes + size <= max || state.bytes == 0 {
                                state.bytes += size;
                                keep.push((event, size));
                            } else {
                                self.metrics.dropped_full.inc();
                            }
                        }
                        self.enqueue(&mut state, keep);
                        break;
                    }
                    WhenFull::DropOldest => {
                        let incoming: usize = sized.iter().map(|(_, s)| s).sum();
                        while state.bytes + incoming > max {
                            let Some((_, size)) = state.queue.pop_front() else {
                                break;
                            };
                            state.bytes -= size;
                            self.metrics.dropped_full.inc();
                        }
                        state.bytes += incoming;
                        self.enqueue(&mut state, std::mem::take(&mut sized));
                        break;
                    }
                }
            }
            notified.await;
        }
    }

    fn enqueue(&self, state: &mut State, events: Vec<(Event, usize)>) {
        if events.is_empty() {
            return;
        }
        if state.queue.is_empty() {
            state.oldest = Some(Instant::now());
        }
        state.queue.extend(events);
        self.metrics
            .buffer_bytes
            .set(i64::try_from(state.bytes).unwrap_or(i64::MAX));
        self.readable.notify_one();
    }

    /// The next batch to write: waits until `batch_max_bytes` are queued, the
    /// oldest event is `flush_interval` old, or the buffer is closed. `None`
    /// once the buffer is closed and empty.
    pub async fn next_batch(&self) -> Option<Vec<Event>> {
        loop {
            let notified = self.readable.notified();
            tokio::pin!(notified);
            let deadline;
            {
                let mut state = self.lock();
                let due = state.oldest.map(|t| t + self.settings.flush_interval);
                let ready = state.bytes >= self.settings.batch_max_bytes
                    || state.closed
                    || due.is_some_and(|d| d <= Instant::now());
                if ready && !state.queue.is_empty() {
                    return Some(self.take_batch(&mut state));
                }
                if state.closed {
                    return None;
                }
                deadline = due;
                notified.as_mut().enable();
            }
            match deadline {
                Some(d) => {
                    tokio::select! {
                        _ = &mut notified => {}
                        _ = tokio::time::sleep_until(d) => {}
                    }
                }
                None => notified.await,
            }
        }
    }

    fn take_batch(&self, state: &mut State) -> Vec<Event> {
        // Count first, so the batch is allocated once at its size rather
        // than grown event by event.
        let (mut take, mut bytes) = (0, 0);
        for (_, size) in &state.queue {
            if take > 0 && bytes + size > self.settings.batch_max_bytes {
                break;
            }
            bytes += size;
            take += 1;
        }
        let batch: Vec<Event> = state.queue.drain(..take).map(|(event, _)| event).collect();
        state.bytes -= bytes;
        if state.queue.is_empty() {
            state.oldest = None;
        }
        self.metrics
            .buffer_bytes
            .set(i64::try_from(state.bytes).unwrap_or(i64::MAX));
        self.writable.notify_waiters();
        batch
    }

    /// No more pushes will come: the worker drains what is left and stops.
    pub fn close(&self) {
        self.lock().closed = true;
        self.readable.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Metrics;
    use levee_event::{Record, Tag, Value};
    use std::sync::Arc;

    fn event(n: i64) -> Event {
        let mut r = Record::new();
        r.insert("n", Value::Int(n));
        Event::new(Tag::new("t"), 0, r)
    }

    fn buffer(
        max_events: usize,
        batch_events: usize,
        when_full: WhenFull,
    ) -> (Arc<MemoryBuffer>, OutputMetrics) {
        let size = event(0).size_hint();
        let metrics = Metrics::new().output("o");
        let settings = BufferSettings {
            max_bytes: size * max_events,
            batch_max_bytes: size * batch_events,
            flush_interval: Duration::from_secs(60),
            when_full,
        };
        (
            Arc::new(MemoryBuffer::new(settings, metrics.clone())),
            metrics,
        )
    }

    fn numbers(batch: &[Event]) -> Vec<i64> {
        batch
            .iter()
            .filter_map(|e| e.record["n"].as_i64())
            .collect()
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_batch_goes_at_once_a_small_one_after_the_interval() {
        let (buf, _) = buffer(100, 3, WhenFull::Block);
        buf.push((0..4).map(event).collect()).await;
        assert_eq!(numbers(&buf.next_batch().await.unwrap()), [0, 1, 2]);
        let start = Instant::now();
        assert_eq!(numbers(&buf.next_batch().await.unwrap()), [3]);
        assert_eq!(start.elapsed(), Duration::from_secs(60));
    }

    #[tokio::test(start_paused = true)]
    async fn close_flushes_what_is_left_then_ends() {
        let (buf, _) = buffer(100, 50, WhenFull::Block);
        buf.push(vec![event(1)]).await;
        buf.close();
        assert_eq!(numbers(&buf.next_batch().await.unwrap()), [1]);
        assert!(buf.next_batch().await.is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn block_waits_for_room_and_loses_nothing() {
        let (buf, metrics) = buffer(2, 2, WhenFull::Block);
        let producer = {
            let buf = buf.clone();
            tokio::spawn(async move {
                buf.push((0..5).map(event).collect()).await;
                buf.close();
            })
        };
        let mut got = Vec::new();
        while let Some(batch) = buf.next_batch().await {
            got.extend(numbers(&batch));
        }
        producer.await.unwrap();
        assert_eq!(got, [0, 1, 2, 3, 4]);
        assert_eq!(metrics.dropped_full.get(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn drop_newest_keeps_the_first_and_counts_the_rest() {
        let (buf, metrics) = buffer(2, 10, WhenFull::DropNewest);
        buf.push((0..5).map(event).collect()).await;
        buf.close();
        assert_eq!(numbers(&buf.next_batch().await.unwrap()), [0, 1]);
        assert_eq!(metrics.dropped_full.get(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn drop_oldest_keeps_the_last_and_counts_the_rest() {
        let (buf, metrics) = buffer(2, 10, WhenFull::DropOldest);
        buf.push((0..2).map(event).collect()).await;
        buf.push((2..4).map(event).collect()).await;
        buf.close();
        assert_eq!(numbers(&buf.next_batch().await.unwrap()), [2, 3]);
        assert_eq!(metrics.dropped_full.get(), 2);
    }
}
