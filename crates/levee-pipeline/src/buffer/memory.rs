//! The memory buffer: a bounded queue of events, batching by size and age,
//! and deciding what happens when it is full.
//!
//! Producers are the router tasks of the sources that feed the output; the
//! consumer is the output's worker. With `when_full = "block"`, a producer
//! waits for room, which holds back only the sources routed to this output.
//!
//! Acks ride beside the queue, in order: each is kept at the position of
//! the last event it covers, and leaves with the batch that takes that
//! event (or when `drop_oldest` drops it, counted). A push whose events
//! all go in `drop_newest`'s count drops its ack at once. One ack per
//! pushed batch, never per event.

use std::collections::VecDeque;
use std::sync::Mutex;

use levee_event::{Ack, Event};
use tokio::sync::Notify;
use tokio::time::Instant;

use super::{BufferSettings, Ready, WhenFull};
use crate::metrics::OutputMetrics;

struct State {
    queue: VecDeque<(Event, usize)>,
    /// Each ack with the counts of events ever queued before its first
    /// event and with its last: it is done here once `dequeued` reaches
    /// the second.
    acks: VecDeque<(u64, u64, Ack)>,
    /// Events ever queued.
    enqueued: u64,
    /// Events ever taken off the front (in batches, or dropped).
    dequeued: u64,
    bytes: usize,
    closed: bool,
    /// When the oldest event still queued arrived.
    oldest: Option<Instant>,
    /// Each push's arrival, with the count of events ever queued after
    /// it, oldest first: the front is when the oldest event still queued
    /// came (`oldest` is when the queue last went from empty to not, which
    /// the flush deadline wants). One per push, never per event.
    arrivals: VecDeque<(u64, Instant)>,
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
        metrics
            .buffer_limit
            .set(i64::try_from(settings.max_bytes).unwrap_or(i64::MAX));
        MemoryBuffer {
            settings,
            state: Mutex::new(State {
                queue: VecDeque::new(),
                acks: VecDeque::new(),
                enqueued: 0,
                dequeued: 0,
                bytes: 0,
                closed: false,
                oldest: None,
                arrivals: VecDeque::new(),
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

    /// Adds events, applying `when_full` if they don't fit; `ack` covers
    /// them, and leaves with the batch that takes the last of them.
    pub async fn push(&self, events: Vec<Event>, mut ack: Option<Ack>) {
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
                            // The ack goes with the last part.
                            let ack = if rest.is_empty() { ack.take() } else { None };
                            self.enqueue(&mut state, std::mem::replace(&mut sized, rest), ack);
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
                        // With nothing kept, the ack drops here: every
                        // event it covers was counted.
                        self.enqueue(&mut state, keep, ack.take());
                        break;
                    }
                    WhenFull::DropOldest => {
                        let incoming: usize = sized.iter().map(|(_, s)| s).sum();
                        while state.bytes + incoming > max {
                            let Some((_, size)) = state.queue.pop_front() else {
                                break;
                            };
                            state.bytes -= size;
                            state.dequeued += 1;
                            self.metrics.dropped_full.inc();
                        }
                        // Acks whose events were all dropped (and counted).
                        drop(take_done_acks(&mut state));
                        self.gauge(&mut state);
                        state.bytes += incoming;
                        self.enqueue(&mut state, std::mem::take(&mut sized), ack.take());
                        break;
                    }
                }
            }
            notified.await;
        }
    }

    fn enqueue(&self, state: &mut State, events: Vec<(Event, usize)>, ack: Option<Ack>) {
        if events.is_empty() {
            return;
        }
        if state.queue.is_empty() {
            state.oldest = Some(Instant::now());
        }
        let start = state.enqueued;
        state.enqueued += events.len() as u64;
        state.queue.extend(events);
        if let Some(ack) = ack {
            state.acks.push_back((start, state.enqueued, ack));
        }
        let end = state.enqueued;
        state.arrivals.push_back((end, Instant::now()));
        self.gauge(state);
        self.readable.notify_one();
    }

    /// Shows the queue's bytes, batches and oldest arrival, after the
    /// arrivals whose events all left are let go.
    fn gauge(&self, state: &mut State) {
        while state
            .arrivals
            .front()
            .is_some_and(|&(end, _)| end <= state.dequeued)
        {
            state.arrivals.pop_front();
        }
        let m = &self.metrics;
        m.buffer_bytes
            .set(i64::try_from(state.bytes).unwrap_or(i64::MAX));
        m.buffer_queue_length.set(super::batches_in(
            state.bytes as u64,
            self.settings.batch_max_bytes,
        ));
        m.buffer_oldest
            .set(state.arrivals.front().map(|&(_, at)| at));
    }

    /// The next batch to write: waits until `batch_max_bytes` are queued, the
    /// oldest event is `flush_interval` old, or the buffer is closed. `None`
    /// once the buffer is closed and empty.
    pub async fn next_batch(&self) -> Option<Ready> {
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
            super::notified_or_due(notified.as_mut(), deadline).await;
        }
    }

    fn take_batch(&self, state: &mut State) -> Ready {
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
        let events: Vec<Event> = state.queue.drain(..take).map(|(event, _)| event).collect();
        state.dequeued += take as u64;
        let mut acks = take_done_acks(state);
        // An ack whose events this batch only begins: the batch holds a
        // clone, so that with several workers the ack is not done before
        // every batch with its events is stored, whichever finishes first.
        if let Some((start, _, ack)) = state.acks.front()
            && *start < state.dequeued
        {
            acks.push(ack.clone());
        }
        state.bytes -= bytes;
        if state.queue.is_empty() {
            state.oldest = None;
        }
        self.gauge(state);
        self.writable.notify_waiters();
        Ready { events, acks }
    }

    /// No more pushes will come: the worker drains what is left and stops.
    pub fn close(&self) {
        self.lock().closed = true;
        // Every worker (`workers = N`), waiting or about to.
        self.readable.notify_waiters();
        self.readable.notify_one();
    }
}

/// The acks whose every event has left the queue.
fn take_done_acks(state: &mut State) -> Vec<Ack> {
    let done = state
        .acks
        .iter()
        .take_while(|(_, end, _)| *end <= state.dequeued)
        .count();
    state.acks.drain(..done).map(|(_, _, ack)| ack).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Metrics;
    use levee_event::{Ledger, Record, Tag, Value};
    use std::sync::Arc;
    use std::time::Duration;

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
        let metrics = Metrics::new().output("o", "test");
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
        buf.push((0..4).map(event).collect(), None).await;
        assert_eq!(numbers(&buf.next_batch().await.unwrap().events), [0, 1, 2]);
        let start = Instant::now();
        assert_eq!(numbers(&buf.next_batch().await.unwrap().events), [3]);
        assert_eq!(start.elapsed(), Duration::from_secs(60));
    }

    /// What an alert on a falling-behind output reads: the batches
    /// waiting, the limit, and the age of the oldest waiting event, which
    /// is that of the push it came in (not of the queue's last refill).
    #[tokio::test(start_paused = true)]
    async fn the_gauges_show_batches_waiting_the_limit_and_the_oldest_events_age() {
        let (buf, m) = buffer(100, 3, WhenFull::Block);
        let size = event(0).size_hint() as i64;
        assert_eq!(m.buffer_limit.get(), size * 100);
        assert_eq!(
            (m.buffer_queue_length.get(), m.buffer_oldest.get()),
            (0, 0.0)
        );
        buf.push((0..4).map(event).collect(), None).await;
        tokio::time::advance(Duration::from_secs(5)).await;
        buf.push((4..7).map(event).collect(), None).await;
        tokio::time::advance(Duration::from_secs(2)).await;
        // 7 events in batches of 3: 3 batches waiting; the first push is 7s old.
        assert_eq!(m.buffer_queue_length.get(), 3);
        assert_eq!(m.buffer_oldest.get(), 7.0);
        // [0, 1, 2] leave; event 3 of the first push still waits.
        assert_eq!(numbers(&buf.next_batch().await.unwrap().events), [0, 1, 2]);
        assert_eq!(
            (m.buffer_queue_length.get(), m.buffer_oldest.get()),
            (2, 7.0)
        );
        // [3, 4, 5] leave: what waits came with the second push.
        assert_eq!(numbers(&buf.next_batch().await.unwrap().events), [3, 4, 5]);
        assert_eq!(
            (m.buffer_queue_length.get(), m.buffer_oldest.get()),
            (1, 2.0)
        );
        assert_eq!(m.buffer_bytes.get(), size);
        buf.close();
        assert_eq!(numbers(&buf.next_batch().await.unwrap().events), [6]);
        assert_eq!(
            (m.buffer_queue_length.get(), m.buffer_oldest.get()),
            (0, 0.0)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn drop_oldest_lets_go_of_the_arrivals_it_dropped() {
        let (buf, m) = buffer(4, 100, WhenFull::DropOldest);
        buf.push((0..4).map(event).collect(), None).await;
        tokio::time::advance(Duration::from_secs(9)).await;
        buf.push((4..8).map(event).collect(), None).await;
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(m.dropped_full.get(), 4);
        assert_eq!(m.buffer_oldest.get(), 1.0);
    }

    #[tokio::test(start_paused = true)]
    async fn close_flushes_what_is_left_then_ends() {
        let (buf, _) = buffer(100, 50, WhenFull::Block);
        buf.push(vec![event(1)], None).await;
        buf.close();
        assert_eq!(numbers(&buf.next_batch().await.unwrap().events), [1]);
        assert!(buf.next_batch().await.is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn block_waits_for_room_and_loses_nothing() {
        let (buf, metrics) = buffer(2, 2, WhenFull::Block);
        let producer = {
            let buf = buf.clone();
            tokio::spawn(async move {
                buf.push((0..5).map(event).collect(), None).await;
                buf.close();
            })
        };
        let mut got = Vec::new();
        while let Some(batch) = buf.next_batch().await {
            got.extend(numbers(&batch.events));
        }
        producer.await.unwrap();
        assert_eq!(got, [0, 1, 2, 3, 4]);
        assert_eq!(metrics.dropped_full.get(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn drop_newest_keeps_the_first_and_counts_the_rest() {
        let (buf, metrics) = buffer(2, 10, WhenFull::DropNewest);
        buf.push((0..5).map(event).collect(), None).await;
        buf.close();
        assert_eq!(numbers(&buf.next_batch().await.unwrap().events), [0, 1]);
        assert_eq!(metrics.dropped_full.get(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn drop_oldest_keeps_the_last_and_counts_the_rest() {
        let (buf, metrics) = buffer(2, 10, WhenFull::DropOldest);
        buf.push((0..2).map(event).collect(), None).await;
        buf.push((2..4).map(event).collect(), None).await;
        buf.close();
        assert_eq!(numbers(&buf.next_batch().await.unwrap().events), [2, 3]);
        assert_eq!(metrics.dropped_full.get(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn an_ack_leaves_with_the_batch_that_takes_its_last_event() {
        let (buf, _) = buffer(100, 3, WhenFull::Block);
        let ledger = Ledger::new();
        let (_, a0) = ledger.issue();
        let (_, a1) = ledger.issue();
        buf.push((0..2).map(event).collect(), Some(a0)).await;
        buf.push((2..5).map(event).collect(), Some(a1)).await;
        buf.push(vec![event(5)], None).await;
        // [0, 1, 2]: ack 0 is complete, ack 1 is not (3 and 4 wait): the
        // batch holds a clone of it.
        let first = buf.next_batch().await.unwrap();
        assert_eq!(numbers(&first.events), [0, 1, 2]);
        assert_eq!(first.acks.iter().map(Ack::seq).collect::<Vec<_>>(), [0, 1]);
        assert_eq!(ledger.done_through(), None, "the sink holds ack 0");
        drop(first);
        assert_eq!(ledger.done_through(), Some(0));
        let second = buf.next_batch().await.unwrap();
        assert_eq!(numbers(&second.events), [3, 4, 5]);
        assert_eq!(second.acks.iter().map(Ack::seq).collect::<Vec<_>>(), [1]);
        drop(second);
        assert_eq!(ledger.done_through(), Some(1));
    }

    /// With `workers = N`, every worker waits in `next_batch`: closing
    /// must end them all, not one.
    #[tokio::test(start_paused = true)]
    async fn close_ends_every_worker_waiting_for_a_batch() {
        let (buf, _) = buffer(100, 2, WhenFull::Block);
        let waiting: Vec<_> = (0..3)
            .map(|_| {
                let buf = buf.clone();
                tokio::spawn(async move { buf.next_batch().await.is_none() })
            })
            .collect();
        // Let each reach its wait.
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        buf.close();
        for w in waiting {
            let ended = tokio::time::timeout(Duration::from_secs(60), w).await;
            assert!(ended.expect("a worker still waits after close").unwrap());
        }
    }

    /// With `workers = N`, the batch with an ack's last events may be
    /// stored before the batch with its first ones: the ack waits for both.
    #[tokio::test(start_paused = true)]
    async fn an_ack_split_over_two_batches_waits_for_both_in_either_order() {
        let (buf, _) = buffer(100, 2, WhenFull::Block);
        let ledger = Ledger::new();
        let (_, a0) = ledger.issue();
        buf.push((0..4).map(event).collect(), Some(a0)).await;
        let first = buf.next_batch().await.unwrap();
        let second = buf.next_batch().await.unwrap();
        assert_eq!(numbers(&second.events), [2, 3]);
        drop(second);
        assert_eq!(ledger.done_through(), None, "[0, 1] is not stored yet");
        drop(first);
        assert_eq!(ledger.done_through(), Some(0));
    }

    #[tokio::test(start_paused = true)]
    async fn a_push_that_waits_for_room_gives_its_ack_to_its_last_part() {
        let (buf, _) = buffer(2, 2, WhenFull::Block);
        let ledger = Ledger::new();
        let (_, ack) = ledger.issue();
        let producer = {
            let buf = buf.clone();
            tokio::spawn(async move {
                buf.push((0..5).map(event).collect(), Some(ack)).await;
                buf.close();
            })
        };
        let mut got = Vec::new();
        while let Some(ready) = buf.next_batch().await {
            let last = numbers(&ready.events).last() == Some(&4);
            assert_eq!(ready.acks.len(), usize::from(last), "{:?}", ready.events);
            got.extend(numbers(&ready.events));
            drop(ready);
            assert_eq!(ledger.done_through().is_some(), last);
        }
        producer.await.unwrap();
        assert_eq!(got, [0, 1, 2, 3, 4]);
    }

    #[tokio::test(start_paused = true)]
    async fn drop_newest_drops_the_ack_of_a_push_it_dropped_whole_and_counts_it() {
        let (buf, metrics) = buffer(2, 10, WhenFull::DropNewest);
        let ledger = Ledger::new();
        let (_, a0) = ledger.issue();
        let (_, a1) = ledger.issue();
        buf.push((0..3).map(event).collect(), Some(a0)).await;
        assert_eq!(metrics.dropped_full.get(), 1);
        buf.push((3..5).map(event).collect(), Some(a1)).await;
        assert_eq!(metrics.dropped_full.get(), 3);
        // Ack 1's events were all dropped and counted: it is done. Ack 0
        // waits for its two kept events.
        assert_eq!(ledger.done_through(), None);
        buf.close();
        let ready = buf.next_batch().await.unwrap();
        assert_eq!(numbers(&ready.events), [0, 1]);
        assert_eq!(ready.acks.iter().map(Ack::seq).collect::<Vec<_>>(), [0]);
        drop(ready);
        assert_eq!(ledger.done_through(), Some(1));
    }

    #[tokio::test(start_paused = true)]
    async fn drop_oldest_drops_the_acks_of_the_events_it_pushed_out_and_counts_them() {
        let (buf, metrics) = buffer(2, 10, WhenFull::DropOldest);
        let ledger = Ledger::new();
        let acks: Vec<Ack> = (0..3).map(|_| ledger.issue().1).collect();
        let mut acks = acks.into_iter();
        buf.push(vec![event(0)], acks.next()).await;
        buf.push(vec![event(1)], acks.next()).await;
        assert_eq!(ledger.done_through(), None);
        // Two in, both old ones out: their acks are done, counted.
        buf.push(vec![event(2), event(3)], acks.next()).await;
        assert_eq!(metrics.dropped_full.get(), 2);
        assert_eq!(ledger.done_through(), Some(1));
        buf.close();
        let ready = buf.next_batch().await.unwrap();
        assert_eq!(numbers(&ready.events), [2, 3]);
        assert_eq!(ready.acks.iter().map(Ack::seq).collect::<Vec<_>>(), [2]);
        drop(ready);
        assert_eq!(ledger.done_through(), Some(2));
    }
}
