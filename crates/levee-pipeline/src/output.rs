//! An output: its config, and the worker that drains its buffer into its
//! sink, retrying failed writes with backoff and jitter.

use std::sync::Arc;
use std::time::Duration;

use levee_io::SinkConfig;
use levee_io::sinks::Sink;
use levee_io::units::Interval;
use serde::Deserialize;

use crate::buffer::{BufferConfig, MemoryBuffer};
use crate::metrics::OutputMetrics;

/// An output as the user configures it under `[outputs.NAME]`.
#[derive(Clone, Debug, Deserialize)]
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
    /// What kind of sink, and its own settings.
    #[serde(flatten)]
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
    while let Some(batch) = buffer.next_batch().await {
        let mut attempt: u32 = 0;
        let mut backoff = retry.initial_backoff.0;
        loop {
            attempt += 1;
            match sink.write(&batch).await {
                Ok(()) => {
                    metrics.events.inc_by(batch.len() as u64);
                    metrics.batches.inc();
                    break;
                }
                Err(err) => {
                    metrics.errors.inc();
                    if retry.max_attempts.is_some_and(|max| attempt >= max) {
                        metrics.dropped_failed.inc_by(batch.len() as u64);
                        tracing::error!(output = %name, attempts = attempt, events = batch.len(), error = %err,
                            "giving up on a batch; its events are dropped and counted");
                        break;
                    }
                    metrics.retries.inc();
                    // Jitter spreads retries of many writers after an outage.
                    let wait = backoff.mul_f64(0.5 + fastrand::f64());
                    tracing::warn!(output = %name, attempt, error = %err, retry_in = ?wait, "write failed; will retry");
                    tokio::time::sleep(wait).await;
                    backoff = (backoff * 2).min(retry.max_backoff.0);
                }
            }
        }
    }
    if let Err(err) = sink.close().await {
        tracing::error!(output = %name, error = %err, "closing the sink failed");
    }
}
