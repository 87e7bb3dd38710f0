//! An output: its config, and the worker that drains its buffer into its
//! sink, retrying failed writes with backoff and jitter.

use std::sync::Arc;
use std::time::Duration;

use levee_event::Event;
use levee_io::sinks::Sink;
use levee_io::units::Interval;
use levee_io::{SinkConfig, SinkError};
use serde::Deserialize;

use crate::buffer::{BufferConfig, MemoryBuffer};
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

/// Drains the buffer into the sink until the buffer is closed and empty.
pub(crate) async fn run_worker(
    name: String,
    buffer: Arc<MemoryBuffer>,
    mut sink: Sink,
    retry: RetryConfig,
    metrics: OutputMetrics,
) {
    let mut worker = Worker {
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
            Err(_elapsed) => worker.until_done(&mut sink, Step::FlushDue).await,
            Ok(Some(batch)) => worker.until_done(&mut sink, Step::Write(&batch)).await,
            Ok(None) => break,
        }
    }
    worker.until_done(&mut sink, Step::Close).await;
}

/// One call into the sink, tried until it works.
enum Step<'a> {
    Write(&'a [Event]),
    FlushDue,
    Close,
}

impl Step<'_> {
    async fn run(&self, sink: &mut Sink) -> Result<(), SinkError> {
        match self {
            Step::Write(batch) => sink.write(batch).await,
            Step::FlushDue => sink.flush_due().await,
            Step::Close => sink.close().await,
        }
    }

    fn events(&self) -> usize {
        match self {
            Step::Write(batch) => batch.len(),
            Step::FlushDue | Step::Close => 0,
        }
    }
}

struct Worker<'a> {
    name: &'a str,
    retry: &'a RetryConfig,
    metrics: &'a OutputMetrics,
}

impl Worker<'_> {
    /// Runs `step`, retrying failures with backoff and jitter until it
    /// works or `max_attempts` is reached.
    async fn until_done(&mut self, sink: &mut Sink, step: Step<'_>) {
        let name = self.name;
        let mut attempt: u32 = 0;
        let mut backoff = self.retry.initial_backoff.0;
        loop {
            attempt += 1;
            match step.run(sink).await {
                Ok(()) => {
                    if let Step::Write(batch) = step {
                        self.metrics.events.inc_by(batch.len() as u64);
                        self.metrics.batches.inc();
                    }
                    return;
                }
                Err(err) => {
                    self.metrics.errors.inc();
                    if self.retry.max_attempts.is_some_and(|max| attempt >= max) {
                        let events = step.events();
                        self.metrics.dropped_failed.inc_by(events as u64);
                        match step {
                            Step::Close => {
                                tracing::error!(output = %name, attempts = attempt, error = %err,
                                "giving up at shutdown; what the sink had not stored is lost")
                            }
                            Step::FlushDue => {
                                tracing::error!(output = %name, attempts = attempt, error = %err,
                                "giving up for now; what the sink holds is tried again with the next batch")
                            }
                            Step::Write(_) => {
                                tracing::error!(output = %name, attempts = attempt, events, error = %err,
                                "giving up on a batch; its events are dropped and counted, and what the sink holds is tried again with the next one")
                            }
                        }
                        return;
                    }
                    self.metrics.retries.inc();
                    // Jitter spreads retries of many writers after an outage.
                    let wait = backoff.mul_f64(0.5 + fastrand::f64());
                    tracing::warn!(output = %name, attempt, error = %err, retry_in = ?wait, "write failed; will retry");
                    tokio::time::sleep(wait).await;
                    backoff = (backoff * 2).min(self.retry.max_backoff.0);
                }
            }
        }
    }
}
