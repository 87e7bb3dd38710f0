//! An output: its config, and the worker that drains its buffer into its
//! sink, retrying failed calls with backoff and jitter.
//!
//! The worker follows the sink protocol (`levee_io::sinks`): each batch is
//! written (absorbed) with the acks it completes, then what is due is
//! flushed (stored). `events` counts what the sink reports stored. A write
//! given up on drops its batch; a flush given up on makes the sink discard
//! what it could not store; either way `dropped_failed` counts exactly the
//! events lost, and their acks drop, so a source may checkpoint past them
//! (lost and counted, never silently).

use std::sync::Arc;
use std::time::Duration;

use levee_event::{Ack, Event};
use levee_io::sinks::{Flush, Sink};
use levee_io::units::Interval;
use levee_io::{SinkConfig, SinkError};
use serde::Deserialize;

use crate::buffer::{Buffer, BufferConfig, Ready};
use crate::metrics::{Call, OutputMetrics};

/// An output as the user configures it under `[outputs.NAME]`.
///
/// The keys below are every output's; the `type` picks a [`SinkConfig`],
/// whose own keys sit beside them in the same table (the config loader
/// hands serde the `type` as the sink's variant, holding those keys).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputConfig {
    /// Which tags this output receives: `nginx.*`, `firehose_parsed.**`,
    /// `{a,b}.c`, `@ERROR`. Every output whose pattern matches gets the event.
    #[serde(rename = "match")]
    pub pattern: String,
    /// The buffer in front of the sink.
    #[serde(default)]
    pub buffer: BufferConfig,
    /// How failed writes are tried again.
    #[serde(default)]
    pub retry: RetryConfig,
    /// How many batches are written at once, each by a worker with a sink
    /// of its own. Default 1. Above 1 only for a sink that can take
    /// batches in parallel (`blackhole`; `lake`, `file` and `stdout` write
    /// one batch at a time, in order, and refuse it at validate), and no
    /// `secondary`. With several workers, batches may
    /// be stored out of order; each ack waits for every batch that holds
    /// its events.
    #[serde(default = "default_workers")]
    pub workers: u32,
    /// Where batches go that the sink cannot take: `secondary = { type =
    /// "file", path = "./dead-letter.ndjson" }` (any sink, with its own
    /// keys). A batch whose write failed `retry.max_attempts` times goes
    /// there instead of being dropped, and events the sink refuses as
    /// malformed go there at once instead of being retried forever; each
    /// counted in `levee_output_secondary_events_total{reason}`
    /// (`retries_exhausted`, `malformed`). The secondary is tried with the
    /// same `retry`; what it cannot take either is dropped and counted in
    /// `levee_output_dropped_events_total`. Not covered: what a sink had
    /// absorbed and then could not store (a lake chunk whose put failed
    /// `max_attempts` times) is discarded by the sink and counted, not sent
    /// here. Unset: such batches are dropped and counted.
    #[serde(default)]
    pub secondary: Option<SecondaryConfig>,
    /// What kind of sink (`type = "lake"`), and its own settings.
    #[serde(rename = "type")]
    pub sink: SinkConfig,
}

/// `secondary = { type = ..., ... }` under an output: a sink of any kind.
#[derive(Clone, Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a sink's table, such as { type = \"file\", path = \"./dead-letter.ndjson\" }"
)]
pub struct SecondaryConfig {
    /// What kind of sink, and its own settings beside `type`.
    #[serde(rename = "type")]
    pub sink: SinkConfig,
}

/// `retry = { ... }` under an output: how a failed sink call (a write, or
/// storing what the sink holds) is tried again.
///
/// The wait starts at `initial_backoff` and doubles after each failure up
/// to `max_backoff` (the cap); each wait is drawn at random between half
/// and one and a half times that step (jitter), so that writers failing
/// together do not retry together. The current wait is
/// `levee_output_retry_backoff_seconds`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryConfig {
    /// The wait after the first failure; it doubles after each. Default
    /// `500ms`.
    #[serde(default = "default_initial_backoff")]
    pub initial_backoff: Interval,
    /// The longest wait between two tries (before jitter). Default `30s`.
    #[serde(default = "default_max_backoff")]
    pub max_backoff: Interval,
    /// Give up on a batch after this many tries: it goes to the output's
    /// `secondary` if there is one, else its events are dropped and
    /// counted. Unset (the default): try forever, until it works
    /// (at-least-once; the buffer fills meanwhile and `when_full` applies).
    /// A batch the sink refuses as malformed is never retried.
    #[serde(default)]
    pub max_attempts: Option<u32>,
}

impl Default for RetryConfig {
    fn default() -> RetryConfig {
        RetryConfig {
            initial_backoff: default_initial_backoff(),
            max_backoff: default_max_backoff(),
            max_attempts: None,
        }
    }
}

fn default_workers() -> u32 {
    1
}

fn default_initial_backoff() -> Interval {
    Interval(Duration::from_millis(500))
}

fn default_max_backoff() -> Interval {
    Interval(Duration::from_secs(30))
}

/// Drains the buffer into the sink until the buffer is closed and empty,
/// then flushes everything and closes the sink.
pub(crate) async fn run_worker(
    name: String,
    buffer: Arc<Buffer>,
    mut sink: Sink,
    mut secondary: Option<Secondary>,
    retry: RetryConfig,
    metrics: OutputMetrics,
) {
    let worker = Worker {
        name: &name,
        retry: &retry,
        metrics: &metrics,
    };
    loop {
        let next = match sink.next_deadline() {
            Some(deadline) => tokio::time::timeout_at(deadline, buffer.next_batch()).await,
            None => Ok(buffer.next_batch().await),
        };
        match next {
            // Time is up for something the sink holds, and no batch came.
            Err(_elapsed) => {
                worker.flush(&mut sink, Flush::Due).await;
            }
            Ok(Some(ready)) => {
                worker.write(&mut sink, &mut secondary, ready).await;
                worker.flush(&mut sink, Flush::Due).await;
            }
            Ok(None) => break,
        }
    }
    if !worker.flush(&mut sink, Flush::All).await {
        // Given up at shutdown. A flush that stored part of what it held
        // before it failed reports that part with the next flush that
        // works, and no other comes: one more, with nothing left to store
        // (the sink discarded it), brings the count.
        let start = std::time::Instant::now();
        if let Ok(stored) = sink.flush(Flush::All).await {
            worker.stored(stored, start.elapsed());
        }
    }
    worker.close(&mut sink).await;
    if let Some(Secondary::Open(secondary)) = &mut secondary {
        worker.close(secondary).await;
    }
}

/// An output's secondary sink: still opening, or open.
pub(crate) enum Secondary {
    /// Its open, running on its own (see `opening`).
    Opening(tokio::task::JoinHandle<Sink>),
    /// Open.
    Open(Sink),
    /// Its open's task failed (a panic): nothing goes there.
    Lost,
}

impl Secondary {
    /// A secondary whose open runs in `task`.
    pub(crate) fn opening(task: tokio::task::JoinHandle<Sink>) -> Secondary {
        Secondary::Opening(task)
    }

    /// The open sink, waiting for its open the first time.
    async fn sink(&mut self) -> Option<&mut Sink> {
        if let Secondary::Opening(task) = self {
            *self = match task.await {
                Ok(sink) => Secondary::Open(sink),
                Err(_) => Secondary::Lost,
            };
        }
        match self {
            Secondary::Open(sink) => Some(sink),
            _ => None,
        }
    }
}

/// Why events go to the secondary.
#[derive(Clone, Copy, Debug)]
enum Reason {
    /// Their batch's write failed `max_attempts` times.
    RetriesExhausted,
    /// The sink refused them as malformed.
    Malformed,
}

/// One call into the sink, tried until it works or the worker gives up.
enum Step<'a> {
    Write(&'a [Event], &'a mut Vec<Ack>),
    Flush(Flush),
    Close,
}

impl Step<'_> {
    /// Which call this is, as `levee_output_errors_total` names it.
    fn call(&self) -> Call {
        match self {
            Step::Write(..) => Call::Write,
            Step::Flush(_) => Call::Flush,
            Step::Close => Call::Close,
        }
    }

    /// Events the sink stored, if it reports them.
    async fn run(&mut self, sink: &mut Sink) -> Result<u64, SinkError> {
        match self {
            Step::Write(batch, acks) => sink.write(batch, acks).await,
            Step::Flush(what) => sink.flush(*what).await,
            Step::Close => sink.close().await.map(|()| 0),
        }
    }
}

struct Worker<'a> {
    name: &'a str,
    retry: &'a RetryConfig,
    metrics: &'a OutputMetrics,
}

impl Worker<'_> {
    /// Writes a batch; its acks drop when this returns, except those the
    /// sink took to drop once it stores the events. Events the sink
    /// refuses as malformed go to the secondary at once and the rest is
    /// written again; a batch given up on goes to the secondary whole.
    async fn write(&self, sink: &mut Sink, secondary: &mut Option<Secondary>, mut ready: Ready) {
        loop {
            let result = self
                .until_done(sink, Step::Write(&ready.events, &mut ready.acks))
                .await;
            let (attempts, err) = match result {
                Ok((stored, took)) => {
                    self.metrics.batches.inc();
                    self.stored(stored, took);
                    return;
                }
                Err(failed) => failed,
            };
            let bad = err.malformed().map(|at| take_events(&mut ready.events, at));
            match bad {
                Some(bad) if !bad.is_empty() => {
                    tracing::warn!(output = %self.name, events = bad.len(), error = %err,
                        "the sink refuses malformed events; they go to the secondary, the rest is written again");
                    // Without the acks: they stay with the rest, so they
                    // drop only once both parts are stored.
                    self.to_secondary(secondary, bad, Vec::new(), Reason::Malformed)
                        .await;
                    if ready.events.is_empty() {
                        return;
                    }
                }
                _ => {
                    tracing::error!(output = %self.name, attempts, events = ready.events.len(), error = %err,
                        "giving up on a batch");
                    self.to_secondary(
                        secondary,
                        ready.events,
                        ready.acks,
                        Reason::RetriesExhausted,
                    )
                    .await;
                    return;
                }
            }
        }
    }

    /// Sends events the sink could not take to the secondary and stores
    /// them there, with the same retries; what cannot go there either (or
    /// has nowhere to go) is dropped and counted. `acks` drop once the
    /// secondary stored the events.
    async fn to_secondary(
        &self,
        secondary: &mut Option<Secondary>,
        events: Vec<Event>,
        mut acks: Vec<Ack>,
        reason: Reason,
    ) {
        let n = events.len() as u64;
        let (sent, dropped) = match reason {
            Reason::RetriesExhausted => {
                (&self.metrics.secondary_failed, &self.metrics.dropped_failed)
            }
            Reason::Malformed => (
                &self.metrics.secondary_malformed,
                &self.metrics.dropped_malformed,
            ),
        };
        let second = match secondary {
            Some(s) => s.sink().await,
            None => None,
        };
        let Some(second) = second else {
            dropped.inc_by(n);
            tracing::error!(output = %self.name, events = n, ?reason,
                "no secondary: the events are dropped and counted");
            return;
        };
        if let Err((_, err)) = self
            .until_done(second, Step::Write(&events, &mut acks))
            .await
        {
            dropped.inc_by(n);
            tracing::error!(output = %self.name, events = n, ?reason, error = %err,
                "the secondary failed too: the events are dropped and counted");
            return;
        }
        // Stored at once, so the acks may drop: a secondary is for what
        // is rare, and holding dead letters for a chunk's age gains nothing.
        let lost = match self.until_done(second, Step::Flush(Flush::All)).await {
            Ok(_) => 0,
            Err((_, err)) => {
                let lost = second.discard();
                tracing::error!(output = %self.name, events = lost, ?reason, error = %err,
                    "the secondary could not store them: dropped and counted");
                lost
            }
        };
        dropped.inc_by(lost);
        sent.inc_by(n.saturating_sub(lost));
    }

    /// Stores what is due (or everything); if that is given up on, the
    /// sink discards what it could not store, and that is counted. False
    /// if it was given up on.
    async fn flush(&self, sink: &mut Sink, what: Flush) -> bool {
        match self.until_done(sink, Step::Flush(what)).await {
            Ok((stored, took)) => {
                self.stored(stored, took);
                true
            }
            Err((attempts, err)) => {
                let events = sink.discard();
                self.metrics.dropped_failed.inc_by(events);
                tracing::error!(output = %self.name, attempts, events, error = %err,
                    "giving up on storing what the sink holds; its events are dropped and counted");
                false
            }
        }
    }

    /// Releases the sink; everything was flushed, so nothing is lost if
    /// this fails.
    async fn close(&self, sink: &mut Sink) {
        if let Err((attempts, err)) = self.until_done(sink, Step::Close).await {
            tracing::error!(output = %self.name, attempts, error = %err,
                "giving up on closing the sink");
        }
    }

    /// Counts events the output's own sink stored in one call that took
    /// `took`: a call that stored something is a flush.
    fn stored(&self, stored: u64, took: Duration) {
        self.metrics.events.inc_by(stored);
        if stored > 0 {
            self.metrics.flushes.inc();
            self.metrics.flush_duration.observe(took.as_secs_f64());
        }
    }

    /// Runs `step`, retrying failures with backoff and jitter until it
    /// works (the events it stored, and how long the try that worked
    /// took) or `max_attempts` is reached (the attempts made and the last
    /// error).
    async fn until_done(
        &self,
        sink: &mut Sink,
        mut step: Step<'_>,
    ) -> Result<(u64, Duration), (u32, SinkError)> {
        let name = self.name;
        let mut attempt: u32 = 0;
        let mut backoff = self.retry.initial_backoff.0;
        loop {
            attempt += 1;
            // The wall clock, not tokio's: how long the sink took, even
            // in a test on a paused clock.
            let start = std::time::Instant::now();
            match step.run(sink).await {
                Ok(stored) => {
                    if attempt > 1 {
                        self.metrics.retry_backoff.set(0.0);
                    }
                    self.metrics.health.ok();
                    return Ok((stored, start.elapsed()));
                }
                Err(err) => {
                    self.metrics.errors.of(step.call()).inc();
                    // Asking again cannot help: the caller deals with it.
                    // The data is at fault, not the sink: health stays.
                    if err.malformed().is_some() {
                        return Err((attempt, err));
                    }
                    self.metrics.health.failing(&err);
                    if self.retry.max_attempts.is_some_and(|max| attempt >= max) {
                        self.metrics.retry_backoff.set(0.0);
                        return Err((attempt, err));
                    }
                    self.metrics.retries.inc();
                    // Jitter spreads retries of many writers after an outage.
                    // A wait the target asked for (HTTP's Retry-After)
                    // is kept, up to `max_backoff`.
                    let wait = match err.retry_after() {
                        Some(asked) => asked.min(self.retry.max_backoff.0),
                        None => backoff.mul_f64(0.5 + fastrand::f64()),
                    };
                    self.metrics.retry_backoff.set(wait.as_secs_f64());
                    tracing::warn!(output = %name, attempt, error = %err, retry_in = ?wait, "sink call failed; will retry");
                    tokio::time::sleep(wait).await;
                    backoff = (backoff * 2).min(self.retry.max_backoff.0);
                }
            }
        }
    }
}

/// Takes the events at positions `at` out of `events` (positions past
/// the end, or repeated, are left out), keeping both in order.
fn take_events(events: &mut Vec<Event>, at: &[usize]) -> Vec<Event> {
    let mut refused = vec![false; events.len()];
    for &i in at {
        if let Some(r) = refused.get_mut(i) {
            *r = true;
        }
    }
    let (bad, good): (Vec<_>, Vec<_>) = std::mem::take(events)
        .into_iter()
        .zip(refused)
        .partition(|(_, r)| *r);
    *events = good.into_iter().map(|(e, _)| e).collect();
    bad.into_iter().map(|(e, _)| e).collect()
}

#[cfg(test)]
mod tests {
    use std::io::Read;
    use std::path::Path;

    use levee_event::{Ledger, Record, Tag, Value};
    use levee_io::sinks::{SinkContext, SinkMetrics};
    use tokio::task::JoinHandle;

    use super::*;
    use crate::buffer::{BufferSettings, MemoryBuffer, WhenFull};
    use crate::metrics::Metrics;
    use crate::sink_testkit::CommandedSink;

    /// 2018-09-01T00:00:00Z
    const BASE: i64 = 1_535_760_000 * 1_000_000_000;

    fn event(n: i64) -> Event {
        let mut r = Record::new();
        r.insert("n", Value::Int(n));
        Event::new(Tag::new("t"), BASE + n, r)
    }

    fn numbers(events: &[Event]) -> Vec<i64> {
        events
            .iter()
            .filter_map(|e| e.record["n"].as_i64())
            .collect()
    }

    /// A worker draining a buffer into a sink, fed batches with acks.
    struct Run {
        buffer: Arc<Buffer>,
        ledger: Ledger,
        metrics: OutputMetrics,
        worker: JoinHandle<()>,
    }

    impl Run {
        fn start(sink: Sink, max_attempts: Option<u32>) -> Run {
            Run::with_secondary(sink, None, max_attempts)
        }

        fn with_secondary(sink: Sink, secondary: Option<Sink>, max_attempts: Option<u32>) -> Run {
            let metrics = Metrics::new().output("o", "test");
            let settings = BufferSettings {
                max_bytes: 1 << 20,
                batch_max_bytes: 1 << 20,
                flush_interval: Duration::from_secs(1),
                when_full: WhenFull::Block,
            };
            let buffer = Arc::new(Buffer::Memory(MemoryBuffer::new(settings, metrics.clone())));
            let retry = RetryConfig {
                max_attempts,
                ..RetryConfig::default()
            };
            let worker = tokio::spawn(run_worker(
                "o".into(),
                buffer.clone(),
                sink,
                secondary.map(Secondary::Open),
                retry,
                metrics.clone(),
            ));
            Run {
                buffer,
                ledger: Ledger::new(),
                metrics,
                worker,
            }
        }

        async fn push(&self, events: impl IntoIterator<Item = Event>) {
            let (_, ack) = self.ledger.issue();
            self.buffer
                .push(events.into_iter().collect(), Some(ack))
                .await;
        }

        /// Waits (on the paused clock, or a minute of it) until `done`.
        async fn until(&self, mut done: impl FnMut(&Run) -> bool) {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
            while !done(self) {
                assert!(tokio::time::Instant::now() < deadline, "never happened");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }

        async fn finish(self) -> (OutputMetrics, Ledger) {
            self.buffer.close();
            self.worker.await.unwrap();
            (self.metrics, self.ledger)
        }
    }

    /// (events, batches, errors, retries, dropped_failed)
    fn counts(m: &OutputMetrics) -> (u64, u64, u64, u64, u64) {
        (
            m.events.get(),
            m.batches.get(),
            m.errors.total(),
            m.retries.get(),
            m.dropped_failed.get(),
        )
    }

    #[tokio::test(start_paused = true)]
    async fn a_write_that_fails_then_works_loses_nothing() {
        let (sink, probe) = CommandedSink::holding();
        probe.lock().fail_writes = 2;
        let run = Run::start(Sink::new(sink), None);
        run.push((0..3).map(event)).await;
        let (metrics, ledger) = run.finish().await;
        let state = probe.lock();
        assert_eq!(numbers(&state.stored), [0, 1, 2]);
        assert_eq!(
            state.calls,
            [
                "write!",
                "write!",
                "write",
                "flush due",
                "flush all",
                "close"
            ]
        );
        assert_eq!(counts(&metrics), (3, 1, 2, 2, 0));
        assert_eq!(ledger.done_through(), Some(0));
    }

    /// Errors by the call that failed, and a flush counted (with its
    /// time) only for a call that stored something.
    #[tokio::test(start_paused = true)]
    async fn errors_are_counted_by_call_and_flushes_only_when_something_was_stored() {
        let (sink, probe) = CommandedSink::holding();
        {
            let mut state = probe.lock();
            state.fail_writes = 1;
            state.fail_flushes = 2;
            state.fail_closes = 1;
        }
        let run = Run::start(Sink::new(sink), None);
        run.push((0..3).map(event)).await;
        let (metrics, _) = run.finish().await;
        let e = &metrics.errors;
        let by_call = (e.open.get(), e.write.get(), e.flush.get(), e.close.get());
        assert_eq!(by_call, (0, 1, 2, 1));
        assert_eq!(e.total(), 4);
        // The write absorbed, the due flush stored, the last flush had
        // nothing left.
        assert_eq!(metrics.flushes.get(), 1);
        assert_eq!(metrics.flush_duration.count(), 1);
        assert_eq!(metrics.events.get(), 3);
    }

    /// A sink that stores as it writes: every write is a flush.
    #[tokio::test(start_paused = true)]
    async fn a_sink_that_stores_on_write_flushes_with_each_batch() {
        let (sink, _probe) = CommandedSink::storing();
        let run = Run::start(Sink::new(sink), None);
        run.push((0..3).map(event)).await;
        run.until(|r| r.metrics.events.get() == 3).await;
        run.push((3..5).map(event)).await;
        let (metrics, _) = run.finish().await;
        assert_eq!(metrics.batches.get(), 2);
        assert_eq!(metrics.flushes.get(), 2);
        assert_eq!(metrics.flush_duration.count(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_write_given_up_drops_its_batch_counted_and_releases_its_ack() {
        let (sink, probe) = CommandedSink::holding();
        probe.lock().fail_writes = 1;
        let run = Run::start(Sink::new(sink), Some(1));
        run.push((0..3).map(event)).await;
        run.until(|r| r.ledger.done_through() == Some(0)).await;
        assert_eq!(counts(&run.metrics), (0, 0, 1, 0, 3));
        assert!(probe.lock().held.is_empty());
        // The next batch is written, held and stored as usual.
        run.push((3..5).map(event)).await;
        let (metrics, ledger) = run.finish().await;
        let state = probe.lock();
        assert_eq!(numbers(&state.stored), [3, 4]);
        assert_eq!(counts(&metrics), (2, 1, 1, 0, 3));
        assert_eq!(ledger.done_through(), Some(1));
    }

    #[tokio::test(start_paused = true)]
    async fn a_flush_that_fails_then_works_holds_the_acks_until_it_stores() {
        let (sink, probe) = CommandedSink::holding();
        probe.lock().fail_flushes = 3;
        let run = Run::start(Sink::new(sink), None);
        run.push((0..3).map(event)).await;
        run.until(|_| probe.lock().calls.len() >= 3).await;
        // Absorbed, not stored: the ack is held, nothing is counted yet.
        assert_eq!(probe.lock().calls, ["write", "flush due!", "flush due!"]);
        assert_eq!(run.ledger.done_through(), None);
        assert_eq!(run.metrics.events.get(), 0);
        run.until(|r| r.ledger.done_through() == Some(0)).await;
        assert_eq!(numbers(&probe.lock().stored), [0, 1, 2]);
        let (metrics, _) = run.finish().await;
        assert_eq!(counts(&metrics), (3, 1, 3, 3, 0));
    }

    #[tokio::test(start_paused = true)]
    async fn a_flush_given_up_discards_what_the_sink_held_counted_exactly() {
        let (sink, probe) = CommandedSink::holding();
        probe.lock().fail_flushes = 2;
        let run = Run::start(Sink::new(sink), Some(2));
        run.push((0..3).map(event)).await;
        // Given up: the three held events are discarded, their ack done.
        run.until(|r| r.ledger.done_through() == Some(0)).await;
        assert_eq!(counts(&run.metrics), (0, 1, 2, 1, 3));
        run.push((3..5).map(event)).await;
        let (metrics, ledger) = run.finish().await;
        let state = probe.lock();
        assert_eq!(
            state.calls,
            [
                "write",
                "flush due!",
                "flush due!",
                "discard",
                "write",
                "flush due",
                "flush all",
                "close"
            ]
        );
        assert_eq!(numbers(&state.stored), [3, 4]);
        assert_eq!(state.discarded, 3);
        assert_eq!(counts(&metrics), (2, 2, 2, 1, 3));
        assert_eq!(ledger.done_through(), Some(1));
    }

    #[tokio::test(start_paused = true)]
    async fn a_close_that_fails_is_tried_again_and_a_close_given_up_loses_nothing() {
        for (max_attempts, calls) in [
            (
                None,
                ["write", "flush due", "flush all", "close!", "close"].as_slice(),
            ),
            (
                Some(1),
                ["write", "flush due", "flush all", "close!"].as_slice(),
            ),
        ] {
            let (sink, probe) = CommandedSink::storing();
            probe.lock().fail_closes = 1;
            let run = Run::start(Sink::new(sink), max_attempts);
            run.push((0..3).map(event)).await;
            let (metrics, ledger) = run.finish().await;
            let state = probe.lock();
            assert_eq!(state.calls, calls, "{max_attempts:?}");
            assert_eq!(numbers(&state.stored), [0, 1, 2]);
            let retries = u64::from(max_attempts.is_none());
            assert_eq!(counts(&metrics), (3, 1, 1, retries, 0));
            assert_eq!(ledger.done_through(), Some(0));
        }
    }

    /// A sink that panics with a batch in hand: its ack is dropped while
    /// the task unwinds, and that never marks it done.
    #[tokio::test(start_paused = true)]
    async fn a_sink_that_panics_holding_a_batch_never_marks_it_done() {
        let (sink, probe) = CommandedSink::holding();
        probe.lock().panic_on_write = true;
        let run = Run::start(Sink::new(sink), None);
        run.push((0..3).map(event)).await;
        run.buffer.close();
        assert!(run.worker.await.unwrap_err().is_panic());
        assert_eq!(run.ledger.done_through(), None);
        assert_eq!(run.ledger.outstanding(), 1);
    }

    /// The lake once marked a batch absorbed before storing it and cleared
    /// the mark only on success: after a give-up, the next batch found the
    /// mark set and was counted as delivered without being absorbed (and
    /// the batch counted as dropped was stored after all).
    #[tokio::test]
    async fn after_a_give_up_the_next_batch_is_absorbed_not_counted_as_delivered() {
        let dir = tempfile::tempdir().unwrap();
        // A file where the table's chunk folder goes: every put fails.
        let table = dir.path().join("db").join("t");
        std::fs::create_dir_all(&table).unwrap();
        std::fs::write(table.join("json"), b"in the way").unwrap();
        let sink = lake_sink(dir.path(), "chunk_max_bytes = \"1KiB\"\n").await;
        let run = Run::start(sink, Some(1));

        // 30 events, past 1KiB: sealed at once, and its store fails.
        let padded = (0..30).map(|n| {
            let mut e = event(n);
            e.record.insert("pad", "x".repeat(100));
            e
        });
        run.push(padded).await;
        run.until(|r| r.metrics.dropped_failed.get() > 0).await;
        std::fs::remove_file(table.join("json")).unwrap();
        run.push((100..105).map(event)).await;
        let (metrics, ledger) = run.finish().await;

        let stored = lake_numbers(dir.path());
        assert_eq!(stored, [100, 101, 102, 103, 104], "the second batch");
        assert_eq!(metrics.events.get(), stored.len() as u64);
        assert_eq!(metrics.dropped_failed.get(), 30);
        assert_eq!(ledger.done_through(), Some(1));
    }

    /// A lake flush at shutdown that stores one chunk, fails on the next
    /// and is given up on: the one stored counts in `events`, the other in
    /// `dropped_failed`, though no flush after it works.
    #[tokio::test]
    async fn a_flush_given_up_at_shutdown_still_counts_what_it_stored_before_failing() {
        let dir = tempfile::tempdir().unwrap();
        // A file where hour 01's folder goes: its chunk fails, hour 00's not.
        let day = dir.path().join("db/t/json/dt=2018-09-01");
        std::fs::create_dir_all(&day).unwrap();
        std::fs::write(day.join("hour=01"), b"in the way").unwrap();
        let sink = lake_sink(dir.path(), "").await;
        let run = Run::start(sink, Some(1));
        const HOUR: i64 = 3_600_000_000_000;
        let hour1 = (10..12).map(|n| {
            let mut e = event(n);
            e.time += HOUR;
            e
        });
        run.push((0..3).map(event).chain(hour1)).await;
        let (metrics, ledger) = run.finish().await;
        assert_eq!(lake_numbers(dir.path()), [0, 1, 2]);
        assert_eq!(metrics.events.get(), 3);
        assert_eq!(metrics.dropped_failed.get(), 2);
        assert_eq!(ledger.done_through(), Some(0));
    }

    /// A real lake sink writing table `db.t` of a lake at `dir`, with
    /// `extra` lines of its config.
    async fn lake_sink(dir: &Path, extra: &str) -> Sink {
        let config: SinkConfig = toml::from_str(&format!(
            "[lake]\nlake = {:?}\ndatabase = \"db\"\ntable = \"t\"\n{extra}",
            dir.to_string_lossy()
        ))
        .unwrap();
        let ctx = SinkContext {
            output: "o".into(),
            data_dir: dir.join("data"),
            metrics: SinkMetrics::default(),
            parquet: None,
        };
        config.build().unwrap().open(&ctx).await.unwrap()
    }

    /// The `n` of every record in the lake's chunks under `dir`, sorted.
    fn lake_numbers(dir: &Path) -> Vec<i64> {
        let mut found = Vec::new();
        let mut folders = vec![dir.to_path_buf()];
        while let Some(folder) = folders.pop() {
            for entry in std::fs::read_dir(folder).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    folders.push(path);
                } else if path.to_string_lossy().ends_with(".ndjson.zst") {
                    let mut text = String::new();
                    zstd::Decoder::new(std::fs::File::open(&path).unwrap())
                        .unwrap()
                        .read_to_string(&mut text)
                        .unwrap();
                    for line in text.lines() {
                        let v: serde_json::Value = serde_json::from_str(line).unwrap();
                        found.push(v["n"].as_i64().unwrap());
                    }
                }
            }
        }
        found.sort();
        found
    }
    /// (sent to the secondary: retries_exhausted, malformed; dropped:
    /// retries_exhausted, malformed)
    fn dead_letters(m: &OutputMetrics) -> (u64, u64, u64, u64) {
        (
            m.secondary_failed.get(),
            m.secondary_malformed.get(),
            m.dropped_failed.get(),
            m.dropped_malformed.get(),
        )
    }

    #[tokio::test(start_paused = true)]
    async fn a_batch_given_up_goes_to_the_secondary_counted_and_its_ack_waits_for_it() {
        let (sink, probe) = CommandedSink::storing();
        probe.lock().fail_writes = 2;
        let (secondary, dead) = CommandedSink::holding();
        let run = Run::with_secondary(Sink::new(sink), Some(Sink::new(secondary)), Some(2));
        run.push((0..3).map(event)).await;
        run.until(|r| r.ledger.done_through() == Some(0)).await;
        // Stored in the secondary (flushed at once) before the ack dropped.
        assert_eq!(numbers(&dead.lock().stored), [0, 1, 2]);
        assert_eq!(dead.lock().calls, ["write", "flush all"]);
        let (metrics, _) = run.finish().await;
        assert!(probe.lock().stored.is_empty());
        assert_eq!(dead_letters(&metrics), (3, 0, 0, 0));
        assert_eq!(
            metrics.events.get(),
            0,
            "events counts what the sink stored"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn malformed_events_go_to_the_secondary_at_once_and_the_rest_is_written() {
        let (sink, probe) = CommandedSink::storing();
        probe.lock().malformed = vec![1, 3];
        let (secondary, dead) = CommandedSink::storing();
        // Retrying forever: a malformed batch must still not be retried.
        let run = Run::with_secondary(Sink::new(sink), Some(Sink::new(secondary)), None);
        run.push((0..5).map(event)).await;
        let (metrics, ledger) = run.finish().await;
        assert_eq!(numbers(&dead.lock().stored), [1, 3]);
        assert_eq!(numbers(&probe.lock().stored), [0, 2, 4]);
        assert_eq!(dead_letters(&metrics), (0, 2, 0, 0));
        assert_eq!(counts(&metrics), (3, 1, 1, 0, 0));
        assert_eq!(ledger.done_through(), Some(0));
    }

    #[tokio::test(start_paused = true)]
    async fn malformed_events_without_a_secondary_are_dropped_and_counted_not_retried() {
        let (sink, probe) = CommandedSink::storing();
        probe.lock().malformed = vec![0];
        let run = Run::start(Sink::new(sink), None);
        run.push((0..3).map(event)).await;
        let (metrics, ledger) = run.finish().await;
        assert_eq!(numbers(&probe.lock().stored), [1, 2]);
        assert_eq!(dead_letters(&metrics), (0, 0, 0, 1));
        assert_eq!(metrics.retries.get(), 0);
        assert_eq!(ledger.done_through(), Some(0));
    }

    #[tokio::test(start_paused = true)]
    async fn a_batch_the_secondary_refuses_too_is_dropped_and_counted() {
        let (sink, probe) = CommandedSink::storing();
        probe.lock().fail_writes = 1;
        let (secondary, dead) = CommandedSink::storing();
        dead.lock().fail_writes = 1;
        let run = Run::with_secondary(Sink::new(sink), Some(Sink::new(secondary)), Some(1));
        run.push((0..3).map(event)).await;
        let (metrics, ledger) = run.finish().await;
        assert!(dead.lock().stored.is_empty());
        assert_eq!(dead_letters(&metrics), (0, 0, 3, 0));
        assert_eq!(ledger.done_through(), Some(0));
    }
}
