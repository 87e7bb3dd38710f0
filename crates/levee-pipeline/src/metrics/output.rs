//! Each output's metrics: what its sink stored, how its calls went, and how
//! its buffer fills. Every family is labelled `output` (the name under
//! `[outputs.NAME]`) and `type` (the output's kind: `lake`, `file`, ...).

use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

use prometheus_client::encoding::{EncodeLabelSet, EncodeMetric, MetricEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::{MetricType, TypedMetric};
use prometheus_client::registry::Registry;
use tokio::time::Instant;

use super::health::Component;

/// Metric names (without the `levee_` prefix and `_total` suffix that the
/// registry adds).
mod names {
    pub const EVENTS: &str = "output_events";
    pub const BATCHES: &str = "output_batches";
    pub const BYTES: &str = "output_bytes";
    pub const FLUSHES: &str = "output_flushes";
    pub const FLUSH_DURATION: &str = "output_flush_duration_seconds";
    pub const ERRORS: &str = "output_errors";
    pub const RETRIES: &str = "output_retries";
    pub const RETRY_BACKOFF: &str = "output_retry_backoff_seconds";
    pub const DROPPED: &str = "output_dropped_events";
    pub const SECONDARY: &str = "output_secondary_events";
    pub const REPLAY_SKIPPED: &str = "output_replay_skipped";
    pub const BUFFER_BYTES: &str = "buffer_bytes";
    pub const BUFFER_LIMIT: &str = "buffer_limit_bytes";
    pub const BUFFER_QUEUE_LENGTH: &str = "buffer_queue_length";
    pub const BUFFER_OLDEST_AGE: &str = "buffer_oldest_age_seconds";
    pub const BUFFER_DAMAGE: &str = "buffer_damage";
    pub const BUFFER_DAMAGED_BYTES: &str = "buffer_damaged_bytes";
}

/// The bounds of `levee_output_flush_duration_seconds`' buckets: from a
/// local file's write (a millisecond) to an object store's slow put.
const FLUSH_BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutputLabel {
    output: String,
    r#type: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    output: String,
    r#type: String,
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabel {
    output: String,
    r#type: String,
    kind: String,
}

/// A sink call, as `levee_output_errors_total`'s `kind` names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Call {
    /// Opening the sink at start.
    Open,
    /// Handing it a batch.
    Write,
    /// Storing what it holds.
    Flush,
    /// Releasing it at shutdown.
    Close,
}

impl Call {
    /// The `kind` label's value.
    pub fn label(self) -> &'static str {
        match self {
            Call::Open => "open",
            Call::Write => "write",
            Call::Flush => "flush",
            Call::Close => "close",
        }
    }
}

/// Failed sink calls, by call.
#[derive(Clone, Debug, Default)]
pub struct SinkErrors {
    /// Opens that failed.
    pub open: Counter,
    /// Writes that failed.
    pub write: Counter,
    /// Flushes that failed.
    pub flush: Counter,
    /// Closes that failed.
    pub close: Counter,
}

impl SinkErrors {
    /// The counter of failed `call`s.
    pub fn of(&self, call: Call) -> &Counter {
        match call {
            Call::Open => &self.open,
            Call::Write => &self.write,
            Call::Flush => &self.flush,
            Call::Close => &self.close,
        }
    }

    /// Every failed call.
    pub fn total(&self) -> u64 {
        self.open.get() + self.write.get() + self.flush.get() + self.close.get()
    }
}

/// When the oldest event still waiting in a buffer arrived; shown as its
/// age at the moment of the scrape (0 when nothing waits), so a stuck
/// output's figure grows between scrapes though nothing in it moves.
#[derive(Clone, Debug, Default)]
pub struct OldestAge(Arc<Mutex<Option<Instant>>>);

impl OldestAge {
    /// The oldest waiting event arrived at `since` (`None`: nothing waits).
    pub fn set(&self, since: Option<Instant>) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = since;
    }

    /// The age of the oldest waiting event now, in seconds; 0 if none.
    pub fn get(&self) -> f64 {
        let since = *self.0.lock().unwrap_or_else(|p| p.into_inner());
        since.map_or(0.0, |t| t.elapsed().as_secs_f64())
    }
}

impl TypedMetric for OldestAge {
    const TYPE: MetricType = MetricType::Gauge;
}

impl EncodeMetric for OldestAge {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        encoder.encode_gauge(&self.get())
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Gauge
    }
}

/// One output's counters.
#[derive(Clone, Debug)]
pub struct OutputMetrics {
    /// Events the sink stored.
    pub events: Counter,
    /// Batches the sink absorbed.
    pub batches: Counter,
    /// Bytes the sink stored, as written (the sink counts them through
    /// `SinkMetrics::bytes`).
    pub bytes: Counter,
    /// Sink calls that stored something (a write that stores at once, a
    /// flush that put chunks).
    pub flushes: Counter,
    /// How long each of those calls took, in seconds.
    pub flush_duration: Histogram,
    /// Failed sink calls, by call.
    pub errors: SinkErrors,
    /// Sink calls tried again.
    pub retries: Counter,
    /// The wait before the next try of a failing sink call, in seconds; 0
    /// once a call works.
    pub retry_backoff: Gauge<f64, AtomicU64>,
    /// Events dropped because the buffer was full (`when_full = drop_*`).
    pub dropped_full: Counter,
    /// Events dropped after the last retry failed.
    pub dropped_failed: Counter,
    /// Events the sink refused as malformed, dropped (no `secondary`, or
    /// the secondary failed too).
    pub dropped_malformed: Counter,
    /// Events sent to the output's `secondary` after the last retry of
    /// their batch failed.
    pub secondary_failed: Counter,
    /// Events the sink refused as malformed, sent to the `secondary`.
    pub secondary_malformed: Counter,
    /// Events a replay brought again that the sink had already stored,
    /// skipped (the lake).
    pub replay_skipped: Counter,
    /// Events a disk buffer could not write (a full or failing disk).
    pub dropped_disk: Counter,
    /// Bytes held in the buffer now.
    pub buffer_bytes: Gauge,
    /// The buffer's `max_bytes`.
    pub buffer_limit: Gauge,
    /// Batches waiting in the buffer: its bytes not yet handed to the sink
    /// over `batch_max_bytes`, rounded up.
    pub buffer_queue_length: Gauge,
    /// The age of the oldest event waiting in the buffer.
    pub buffer_oldest: OldestAge,
    /// Places where a disk buffer found damage (a torn or corrupt record,
    /// a foreign segment, a damaged position) and skipped it.
    pub buffer_damage: Counter,
    /// Bytes of a disk buffer skipped as damaged.
    pub buffer_damaged_bytes: Counter,
    /// The output's part of `/health` (`output NAME`): its sink open, and
    /// its calls working or in retries.
    pub health: Component,
}

/// The per-output families of the registry.
#[derive(Debug)]
pub(super) struct OutputFamilies {
    events: Family<OutputLabel, Counter>,
    batches: Family<OutputLabel, Counter>,
    bytes: Family<OutputLabel, Counter>,
    flushes: Family<OutputLabel, Counter>,
    flush_duration: Family<OutputLabel, Histogram, fn() -> Histogram>,
    errors: Family<KindLabel, Counter>,
    retries: Family<OutputLabel, Counter>,
    retry_backoff: Family<OutputLabel, Gauge<f64, AtomicU64>>,
    dropped: Family<ReasonLabel, Counter>,
    secondary: Family<ReasonLabel, Counter>,
    replay_skipped: Family<OutputLabel, Counter>,
    buffer_bytes: Family<OutputLabel, Gauge>,
    buffer_limit: Family<OutputLabel, Gauge>,
    buffer_queue_length: Family<OutputLabel, Gauge>,
    buffer_oldest: Family<OutputLabel, OldestAge>,
    buffer_damage: Family<OutputLabel, Counter>,
    buffer_damaged_bytes: Family<OutputLabel, Counter>,
}

fn flush_histogram() -> Histogram {
    Histogram::new(FLUSH_BUCKETS)
}

impl OutputFamilies {
    /// The families, registered in `registry` (levee's, with its prefix).
    pub(super) fn register(registry: &mut Registry) -> OutputFamilies {
        let f = OutputFamilies {
            events: Family::default(),
            batches: Family::default(),
            bytes: Family::default(),
            flushes: Family::default(),
            flush_duration: Family::new_with_constructor(flush_histogram),
            errors: Family::default(),
            retries: Family::default(),
            retry_backoff: Family::default(),
            dropped: Family::default(),
            secondary: Family::default(),
            replay_skipped: Family::default(),
            buffer_bytes: Family::default(),
            buffer_limit: Family::default(),
            buffer_queue_length: Family::default(),
            buffer_oldest: Family::default(),
            buffer_damage: Family::default(),
            buffer_damaged_bytes: Family::default(),
        };
        registry.register(
            names::EVENTS,
            "Events an output's sink stored",
            f.events.clone(),
        );
        registry.register(
            names::BATCHES,
            "Batches an output's sink absorbed",
            f.batches.clone(),
        );
        registry.register(
            names::BYTES,
            "Bytes an output's sink stored, as written (a lake chunk compressed, a file's JSON lines; none for blackhole)",
            f.bytes.clone(),
        );
        registry.register(
            names::FLUSHES,
            "Sink calls of an output that stored something (a file's or stdout's write, a lake flush that put chunks)",
            f.flushes.clone(),
        );
        registry.register(
            names::FLUSH_DURATION,
            "How long an output's sink calls that stored something took, in seconds (each try on its own; the waits between tries excluded)",
            f.flush_duration.clone(),
        );
        registry.register(
            names::ERRORS,
            "Failed calls of an output's sink, by kind: the call that failed (open, write, flush, close)",
            f.errors.clone(),
        );
        registry.register(
            names::RETRIES,
            "Calls of an output's sink tried again",
            f.retries.clone(),
        );
        registry.register(
            names::RETRY_BACKOFF,
            "The wait before an output tries a failing sink call again (doubling up to max_backoff, with jitter); 0 once a call works",
            f.retry_backoff.clone(),
        );
        registry.register(
            names::DROPPED,
            "Events an output dropped, by reason",
            f.dropped.clone(),
        );
        registry.register(
            names::SECONDARY,
            "Events an output sent to its secondary, by reason (retries_exhausted, malformed)",
            f.secondary.clone(),
        );
        registry.register(
            names::REPLAY_SKIPPED,
            "Events a replay after a crash brought again that a stored lake chunk already holds, skipped",
            f.replay_skipped.clone(),
        );
        registry.register(
            names::BUFFER_BYTES,
            "Bytes waiting in an output's buffer",
            f.buffer_bytes.clone(),
        );
        registry.register(
            names::BUFFER_LIMIT,
            "The most bytes an output's buffer holds (its max_bytes)",
            f.buffer_limit.clone(),
        );
        registry.register(
            names::BUFFER_QUEUE_LENGTH,
            "Batches waiting in an output's buffer: its bytes not yet handed to the sink over batch_max_bytes, rounded up",
            f.buffer_queue_length.clone(),
        );
        registry.register(
            names::BUFFER_OLDEST_AGE,
            "Age in seconds of the oldest event waiting in an output's buffer, 0 when empty (a disk buffer's events from an earlier run count from this start)",
            f.buffer_oldest.clone(),
        );
        registry.register(
            names::BUFFER_DAMAGE,
            "Places where a disk buffer found damage (a torn or corrupt record, a damaged segment or position) and skipped it",
            f.buffer_damage.clone(),
        );
        registry.register(
            names::BUFFER_DAMAGED_BYTES,
            "Bytes of a disk buffer skipped as damaged; the events in them are lost",
            f.buffer_damaged_bytes.clone(),
        );
        f
    }

    /// Handles for output `name` of kind `kind`, reporting to `/health`
    /// through `health`.
    pub(super) fn output(&self, name: &str, kind: &str, health: Component) -> OutputMetrics {
        let label = OutputLabel {
            output: name.to_owned(),
            r#type: kind.to_owned(),
        };
        let reason = |family: &Family<ReasonLabel, Counter>, reason: &str| {
            family
                .get_or_create(&ReasonLabel {
                    output: name.to_owned(),
                    r#type: kind.to_owned(),
                    reason: reason.to_owned(),
                })
                .clone()
        };
        let error = |call: Call| {
            self.errors
                .get_or_create(&KindLabel {
                    output: name.to_owned(),
                    r#type: kind.to_owned(),
                    kind: call.label().to_owned(),
                })
                .clone()
        };
        OutputMetrics {
            events: self.events.get_or_create(&label).clone(),
            batches: self.batches.get_or_create(&label).clone(),
            bytes: self.bytes.get_or_create(&label).clone(),
            flushes: self.flushes.get_or_create(&label).clone(),
            flush_duration: self.flush_duration.get_or_create(&label).clone(),
            errors: SinkErrors {
                open: error(Call::Open),
                write: error(Call::Write),
                flush: error(Call::Flush),
                close: error(Call::Close),
            },
            retries: self.retries.get_or_create(&label).clone(),
            retry_backoff: self.retry_backoff.get_or_create(&label).clone(),
            dropped_full: reason(&self.dropped, "buffer_full"),
            dropped_failed: reason(&self.dropped, "retries_exhausted"),
            dropped_malformed: reason(&self.dropped, "malformed"),
            secondary_failed: reason(&self.secondary, "retries_exhausted"),
            secondary_malformed: reason(&self.secondary, "malformed"),
            replay_skipped: self.replay_skipped.get_or_create(&label).clone(),
            dropped_disk: reason(&self.dropped, "disk_error"),
            buffer_bytes: self.buffer_bytes.get_or_create(&label).clone(),
            buffer_limit: self.buffer_limit.get_or_create(&label).clone(),
            buffer_queue_length: self.buffer_queue_length.get_or_create(&label).clone(),
            buffer_oldest: self.buffer_oldest.get_or_create(&label).clone(),
            buffer_damage: self.buffer_damage.get_or_create(&label).clone(),
            buffer_damaged_bytes: self.buffer_damaged_bytes.get_or_create(&label).clone(),
            health,
        }
    }
}
