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

use crate::buffer::{BufferConfig, MemoryBuffer, Ready};
use crate::metrics::OutputMetrics;

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
    /// What kind of sink (`type = "lake"`), and its own settings.
    #[serde(rename = "type")]
    pub sink: SinkConfig,
}

/// `retry = { ... }` under an output.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryConfig {
    /// The wait after the first failure; it doubles after each.
    #[serde(default = "default_initial_backoff")]
    pub initial_backoff: Interval,
    /// The longest wait between two tries.
    #[serde(default = "default_max_backoff")]
    pub max_backoff: Interval,
    /// Give up on a batch after this many tries, dropping and counting its
    /// events. Unset: try until it works (at-least-once).
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
    buffer: Arc<MemoryBuffer>,
    mut sink: Sink,
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
            Err(_elapsed) => worker.flush(&mut sink, Flush::Due).await,
            Ok(Some(ready)) => {
                worker.write(&mut sink, ready).await;
                worker.flush(&mut sink, Flush::Due).await;
            }
            Ok(None) => break,
        }
    }
    worker.flush(&mut sink, Flush::All).await;
    worker.close(&mut sink).await;
}

/// One call into the sink, tried until it works or the worker gives up.
enum Step<'a> {
    Write(&'a [Event], &'a mut Vec<Ack>),
    Flush(Flush),
    Close,
}

impl Step<'_> {
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
    /// sink took to drop once it stores the events.
    async fn write(&self, sink: &mut Sink, mut ready: Ready) {
        let events = ready.events.len();
        match self
            .until_done(sink, Step::Write(&ready.events, &mut ready.acks))
            .await
        {
            Ok(stored) => {
                self.metrics.batches.inc();
                self.metrics.events.inc_by(stored);
            }
            Err((attempts, err)) => {
                self.metrics.dropped_failed.inc_by(events as u64);
                tracing::error!(output = %self.name, attempts, events, error = %err,
                    "giving up on a batch; its events are dropped and counted");
            }
        }
    }

    /// Stores what is due (or everything); if that is given up on, the
    /// sink discards what it could not store, and that is counted.
    async fn flush(&self, sink: &mut Sink, what: Flush) {
        match self.until_done(sink, Step::Flush(what)).await {
            Ok(stored) => {
                self.metrics.events.inc_by(stored);
            }
            Err((attempts, err)) => {
                let events = sink.discard();
                self.metrics.dropped_failed.inc_by(events);
                tracing::error!(output = %self.name, attempts, events, error = %err,
                    "giving up on storing what the sink holds; its events are dropped and counted");
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

    /// Runs `step`, retrying failures with backoff and jitter until it
    /// works (the events it stored) or `max_attempts` is reached (the
    /// attempts made and the last error).
    async fn until_done(
        &self,
        sink: &mut Sink,
        mut step: Step<'_>,
    ) -> Result<u64, (u32, SinkError)> {
        let name = self.name;
        let mut attempt: u32 = 0;
        let mut backoff = self.retry.initial_backoff.0;
        loop {
            attempt += 1;
            match step.run(sink).await {
                Ok(stored) => return Ok(stored),
                Err(err) => {
                    self.metrics.errors.inc();
                    if self.retry.max_attempts.is_some_and(|max| attempt >= max) {
                        return Err((attempt, err));
                    }
                    self.metrics.retries.inc();
                    // Jitter spreads retries of many writers after an outage.
                    let wait = backoff.mul_f64(0.5 + fastrand::f64());
                    tracing::warn!(output = %name, attempt, error = %err, retry_in = ?wait, "sink call failed; will retry");
                    tokio::time::sleep(wait).await;
                    backoff = (backoff * 2).min(self.retry.max_backoff.0);
                }
            }
        }
    }
}
