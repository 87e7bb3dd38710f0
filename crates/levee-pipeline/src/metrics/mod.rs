//! The metrics registry: every counter levee keeps, named in one place.
//!
//! Components get cheap handles (an atomic each) for their own labels, so
//! counting on the hot path is one relaxed add.

mod classic;
pub mod health;
pub mod parse;
mod server;

use std::collections::HashSet;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

pub use health::{Component, Health};
pub use server::{MetricsConfig, bind, serve};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use levee_io::SourceMetrics;

use crate::filters::metric::{MetricFilter, MetricTables, OVERFLOW, Skipped};

/// Metric names (without the `levee_` prefix and `_total` suffix that the
/// registry adds).
mod names {
    pub const SOURCE_EVENTS: &str = "source_events";
    pub const SOURCE_BYTES: &str = "source_bytes";
    pub const PARSE_ERRORS: &str = "parse_errors";
    pub const TIME_ERRORS: &str = "time_errors";
    pub const MULTILINE_CUTS: &str = "multiline_cut_records";
    pub const CHECKPOINT_LAG: &str = "source_checkpoint_lag_bytes";
    pub const OUTPUT_EVENTS: &str = "output_events";
    pub const OUTPUT_BATCHES: &str = "output_batches";
    pub const OUTPUT_ERRORS: &str = "output_errors";
    pub const OUTPUT_RETRIES: &str = "output_retries";
    pub const OUTPUT_RETRY_BACKOFF: &str = "output_retry_backoff_seconds";
    pub const OUTPUT_DROPPED: &str = "output_dropped_events";
    pub const OUTPUT_SECONDARY: &str = "output_secondary_events";
    pub const OUTPUT_REPLAY_SKIPPED: &str = "output_replay_skipped";
    pub const BUFFER_BYTES: &str = "buffer_bytes";
    pub const BUFFER_DAMAGE: &str = "buffer_damage";
    pub const BUFFER_DAMAGED_BYTES: &str = "buffer_damaged_bytes";
    pub const FILTER_DROPPED: &str = "filter_dropped_events";
    pub const FILTER_PARSE_ERRORS: &str = "filter_parse_errors";
    pub const FILTER_EVICTED_KEYS: &str = "filter_evicted_keys";
    pub const FILTER_CONVERSION_ERRORS: &str = "filter_conversion_errors";
    pub const UNROUTED: &str = "unrouted_events";
    pub const METRIC_FOLDED: &str = "metric_folded_events";
    pub const METRIC_SKIPPED: &str = "metric_skipped_events";
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SourceLabel {
    source: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutputLabel {
    output: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DropLabel {
    output: String,
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FilterLabel {
    filter: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MetricLabel {
    metric: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MetricSkipLabel {
    metric: String,
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TagLabel {
    tag: String,
}

/// Most distinct `tag` values `levee_unrouted_events_total` has: tags can
/// come from data (a re-tag rendered from a field, a client's tag), and a
/// series per tag would grow without end.
pub const MAX_UNROUTED_TAGS: usize = 100;

/// The `tag` label of unrouted events beyond [`MAX_UNROUTED_TAGS`]; `@`
/// keeps it apart from any tag a config can name.
pub const OTHER_TAG: &str = "@other";

/// All of levee's metrics.
pub struct Metrics {
    registry: Registry,
    source_events: Family<SourceLabel, Counter>,
    source_bytes: Family<SourceLabel, Counter>,
    parse_errors: Family<SourceLabel, Counter>,
    time_errors: Family<SourceLabel, Counter>,
    multiline_cuts: Family<SourceLabel, Counter>,
    checkpoint_lag: Family<SourceLabel, Gauge>,
    output_events: Family<OutputLabel, Counter>,
    output_batches: Family<OutputLabel, Counter>,
    output_errors: Family<OutputLabel, Counter>,
    output_retries: Family<OutputLabel, Counter>,
    output_retry_backoff: Family<OutputLabel, Gauge<f64, AtomicU64>>,
    output_dropped: Family<DropLabel, Counter>,
    output_secondary: Family<DropLabel, Counter>,
    output_replay_skipped: Family<OutputLabel, Counter>,
    buffer_bytes: Family<OutputLabel, Gauge>,
    buffer_damage: Family<OutputLabel, Counter>,
    buffer_damaged_bytes: Family<OutputLabel, Counter>,
    filter_dropped: Family<FilterLabel, Counter>,
    filter_parse_errors: Family<FilterLabel, Counter>,
    filter_evicted_keys: Family<FilterLabel, Counter>,
    filter_conversion_errors: Family<FilterLabel, Counter>,
    unrouted: Family<TagLabel, Counter>,
    metric_folded: Family<MetricLabel, Counter>,
    metric_skipped: Family<MetricSkipLabel, Counter>,
    /// The metric filters' own metrics, shown without the `levee_` prefix.
    metric_tables: Arc<MetricTables>,
    /// The `tag` labels `unrouted` has made, up to [`MAX_UNROUTED_TAGS`].
    unrouted_tags: Mutex<HashSet<String>>,
    /// What `/health` reads.
    health: Health,
}

/// One output's counters.
#[derive(Clone, Debug)]
pub struct OutputMetrics {
    /// Events the sink stored.
    pub events: Counter,
    /// Batches the sink absorbed.
    pub batches: Counter,
    /// Failed sink calls.
    pub errors: Counter,
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
    /// Places where a disk buffer found damage (a torn or corrupt record,
    /// a foreign segment, a damaged position) and skipped it.
    pub buffer_damage: Counter,
    /// Bytes of a disk buffer skipped as damaged.
    pub buffer_damaged_bytes: Counter,
    /// The output's part of `/health` (`output NAME`): its sink open, and
    /// its calls working or in retries.
    pub health: Component,
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new()
    }
}

impl Metrics {
    /// A registry with every metric, all at zero.
    pub fn new() -> Metrics {
        // The root has no prefix, for the metric filters' metrics, named
        // by the user; levee's own are under `levee_`.
        let mut root = Registry::default();
        let metric_tables = Arc::new(MetricTables::default());
        root.register_collector(Box::new(metric_tables.clone()));
        let registry = root.sub_registry_with_prefix("levee");
        let m = Metrics {
            source_events: Family::default(),
            source_bytes: Family::default(),
            parse_errors: Family::default(),
            time_errors: Family::default(),
            multiline_cuts: Family::default(),
            checkpoint_lag: Family::default(),
            output_events: Family::default(),
            output_batches: Family::default(),
            output_errors: Family::default(),
            output_retries: Family::default(),
            output_retry_backoff: Family::default(),
            output_dropped: Family::default(),
            output_secondary: Family::default(),
            output_replay_skipped: Family::default(),
            buffer_bytes: Family::default(),
            buffer_damage: Family::default(),
            buffer_damaged_bytes: Family::default(),
            filter_dropped: Family::default(),
            filter_parse_errors: Family::default(),
            filter_evicted_keys: Family::default(),
            filter_conversion_errors: Family::default(),
            unrouted: Family::default(),
            metric_folded: Family::default(),
            metric_skipped: Family::default(),
            metric_tables,
            unrouted_tags: Mutex::default(),
            health: Health::new(),
            registry: Registry::default(),
        };
        registry.register(
            names::SOURCE_EVENTS,
            "Events made by a source, parse failures included",
            m.source_events.clone(),
        );
        registry.register(
            names::SOURCE_BYTES,
            "Bytes of input a source read",
            m.source_bytes.clone(),
        );
        registry.register(
            names::PARSE_ERRORS,
            "Lines that failed to parse, sent to @ERROR",
            m.parse_errors.clone(),
        );
        registry.register(
            names::TIME_ERRORS,
            "Events whose time field did not read as a time; they keep the time of ingest",
            m.time_errors.clone(),
        );
        registry.register(
            names::MULTILINE_CUTS,
            "Multiline records cut at max_lines or max_bytes",
            m.multiline_cuts.clone(),
        );
        registry.register(
            names::CHECKPOINT_LAG,
            "Bytes a tail source read from its files that not every output has delivered yet: \
             what a crash now would read again",
            m.checkpoint_lag.clone(),
        );
        registry.register(
            names::OUTPUT_EVENTS,
            "Events an output's sink stored",
            m.output_events.clone(),
        );
        registry.register(
            names::OUTPUT_BATCHES,
            "Batches an output's sink absorbed",
            m.output_batches.clone(),
        );
        registry.register(
            names::OUTPUT_ERRORS,
            "Failed calls of an output's sink (write, flush, close)",
            m.output_errors.clone(),
        );
        registry.register(
            names::OUTPUT_RETRIES,
            "Calls of an output's sink tried again",
            m.output_retries.clone(),
        );
        registry.register(
            names::OUTPUT_RETRY_BACKOFF,
            "The wait before an output tries a failing sink call again (doubling up to max_backoff, with jitter); 0 once a call works",
            m.output_retry_backoff.clone(),
        );
        registry.register(
            names::OUTPUT_DROPPED,
            "Events an output dropped, by reason",
            m.output_dropped.clone(),
        );
        registry.register(
            names::OUTPUT_SECONDARY,
            "Events an output sent to its secondary, by reason (retries_exhausted, malformed)",
            m.output_secondary.clone(),
        );
        registry.register(
            names::OUTPUT_REPLAY_SKIPPED,
            "Events a replay after a crash brought again that a stored lake chunk already holds, skipped",
            m.output_replay_skipped.clone(),
        );
        registry.register(
            names::BUFFER_BYTES,
            "Bytes waiting in an output's buffer",
            m.buffer_bytes.clone(),
        );
        registry.register(
            names::BUFFER_DAMAGE,
            "Places where a disk buffer found damage (a torn or corrupt record, a damaged segment or position) and skipped it",
            m.buffer_damage.clone(),
        );
        registry.register(
            names::BUFFER_DAMAGED_BYTES,
            "Bytes of a disk buffer skipped as damaged; the events in them are lost",
            m.buffer_damaged_bytes.clone(),
        );
        registry.register(
            names::FILTER_DROPPED,
            "Events a filter dropped",
            m.filter_dropped.clone(),
        );
        registry.register(
            names::FILTER_PARSE_ERRORS,
            "Fields a parse filter could not parse",
            m.filter_parse_errors.clone(),
        );
        registry.register(
            names::FILTER_EVICTED_KEYS,
            "Keys a dedupe or throttle filter forgot to stay within max_keys",
            m.filter_evicted_keys.clone(),
        );
        registry.register(
            names::FILTER_CONVERSION_ERRORS,
            "Values a record filter's types could not convert; they are left as they were",
            m.filter_conversion_errors.clone(),
        );
        registry.register(
            names::UNROUTED,
            format!(
                "Events that reached no output after the filters and were dropped, by tag; \
                 the first {MAX_UNROUTED_TAGS} tags are named, later ones count under \
                 tag=\"{OTHER_TAG}\""
            ),
            m.unrouted.clone(),
        );
        registry.register(
            names::METRIC_FOLDED,
            format!(
                "Events a metric filter counted under label values \"{OVERFLOW}\" because its \
                 metric had max_label_sets label sets already"
            ),
            m.metric_folded.clone(),
        );
        registry.register(
            names::METRIC_SKIPPED,
            "Events a gauge, histogram or summary metric filter did not observe, by reason: \
             its field was missing (or null), or not_a_number",
            m.metric_skipped.clone(),
        );
        Metrics {
            registry: root,
            ..m
        }
    }

    /// Handles for a source's counters.
    pub fn source(&self, name: &str) -> SourceMetrics {
        let label = SourceLabel {
            source: name.to_owned(),
        };
        SourceMetrics {
            events: self.source_events.get_or_create(&label).clone(),
            bytes: self.source_bytes.get_or_create(&label).clone(),
            parse_errors: self.parse_errors.get_or_create(&label).clone(),
            time_errors: self.time_errors.get_or_create(&label).clone(),
            multiline_cuts: self.multiline_cuts.get_or_create(&label).clone(),
            checkpoint_lag: self.checkpoint_lag.get_or_create(&label).clone(),
        }
    }

    /// Handles for an output's counters.
    pub fn output(&self, name: &str) -> OutputMetrics {
        let label = OutputLabel {
            output: name.to_owned(),
        };
        let dropped = |reason: &str| {
            self.output_dropped
                .get_or_create(&DropLabel {
                    output: name.to_owned(),
                    reason: reason.to_owned(),
                })
                .clone()
        };
        let secondary = |reason: &str| {
            self.output_secondary
                .get_or_create(&DropLabel {
                    output: name.to_owned(),
                    reason: reason.to_owned(),
                })
                .clone()
        };
        OutputMetrics {
            events: self.output_events.get_or_create(&label).clone(),
            batches: self.output_batches.get_or_create(&label).clone(),
            errors: self.output_errors.get_or_create(&label).clone(),
            retries: self.output_retries.get_or_create(&label).clone(),
            retry_backoff: self.output_retry_backoff.get_or_create(&label).clone(),
            dropped_full: dropped("buffer_full"),
            dropped_failed: dropped("retries_exhausted"),
            dropped_malformed: dropped("malformed"),
            secondary_failed: secondary("retries_exhausted"),
            secondary_malformed: secondary("malformed"),
            replay_skipped: self.output_replay_skipped.get_or_create(&label).clone(),
            dropped_disk: dropped("disk_error"),
            buffer_bytes: self.buffer_bytes.get_or_create(&label).clone(),
            buffer_damage: self.buffer_damage.get_or_create(&label).clone(),
            buffer_damaged_bytes: self.buffer_damaged_bytes.get_or_create(&label).clone(),
            health: self.health.component(&format!("output {name}")),
        }
    }

    /// What `/health` reads: components register and report there.
    pub fn health(&self) -> &Health {
        &self.health
    }

    /// The counter of events a filter dropped.
    pub fn filter_dropped(&self, filter: &str) -> Counter {
        self.filter_dropped
            .get_or_create(&FilterLabel {
                filter: filter.to_owned(),
            })
            .clone()
    }

    /// The counter of fields a `parse` filter could not parse.
    pub fn filter_parse_errors(&self, filter: &str) -> Counter {
        self.filter_parse_errors
            .get_or_create(&FilterLabel {
                filter: filter.to_owned(),
            })
            .clone()
    }

    /// The counter of keys a `dedupe` or `throttle` filter forgot early to
    /// stay within its `max_keys`.
    pub fn filter_evicted_keys(&self, filter: &str) -> Counter {
        self.filter_evicted_keys
            .get_or_create(&FilterLabel {
                filter: filter.to_owned(),
            })
            .clone()
    }

    /// The counter of values a `record` filter's `types` could not convert.
    pub fn filter_conversion_errors(&self, filter: &str) -> Counter {
        self.filter_conversion_errors
            .get_or_create(&FilterLabel {
                filter: filter.to_owned(),
            })
            .clone()
    }

    /// The counter of events with this tag that reached no output. Call
    /// it when there is something to count: it makes the series. Past
    /// [`MAX_UNROUTED_TAGS`] tags, new ones share the [`OTHER_TAG`] series.
    pub fn unrouted(&self, tag: &str) -> Counter {
        let mut named = self
            .unrouted_tags
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let label = if named.contains(tag) {
            tag
        } else if named.len() < MAX_UNROUTED_TAGS {
            named.insert(tag.to_owned());
            tag
        } else {
            OTHER_TAG
        };
        self.unrouted
            .get_or_create(&TagLabel {
                tag: label.to_owned(),
            })
            .clone()
    }

    /// Shows a `metric` filter's metric on the page, and counts the events
    /// it folds into `__overflow__`.
    pub fn metric_filter(&self, filter: &mut MetricFilter) {
        self.metric_tables.add(filter.table().clone());
        let folded = self
            .metric_folded
            .get_or_create(&MetricLabel {
                metric: filter.name().to_owned(),
            })
            .clone();
        filter.count_folded_into(folded);
        if filter.observes_a_field() {
            let skipped = |reason: &str| {
                self.metric_skipped
                    .get_or_create(&MetricSkipLabel {
                        metric: filter.name().to_owned(),
                        reason: reason.to_owned(),
                    })
                    .clone()
            };
            let skipped = Skipped {
                missing: skipped("missing"),
                not_a_number: skipped("not_a_number"),
            };
            filter.count_skipped_into(skipped);
        }
    }

    /// Every metric in the OpenMetrics text format.
    pub fn encode(&self) -> String {
        use prometheus_client::encoding::text::{encode_eof, encode_registry};
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode_registry(&mut out, &self.registry);
        // The registry crate has no summary type: the metric filters write
        // theirs themselves.
        self.metric_tables.encode_summaries(&mut out);
        let _ = encode_eof(&mut out);
        out
    }

    /// Every metric in Prometheus' classic text format (0.0.4), what a
    /// scraper gets unless it asks for OpenMetrics.
    pub fn encode_classic(&self) -> String {
        classic::to_classic(&self.encode())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_count_into_the_registry() {
        let m = Metrics::new();
        m.source("nginx").events.inc_by(3);
        m.output("lake").dropped_full.inc();
        m.unrouted("x.y").inc();
        let text = m.encode();
        assert!(
            text.contains("levee_source_events_total{source=\"nginx\"} 3"),
            "{text}"
        );
        assert!(
            text.contains(
                "levee_output_dropped_events_total{output=\"lake\",reason=\"buffer_full\"} 1"
            ),
            "{text}"
        );
        assert!(
            text.contains("levee_unrouted_events_total{tag=\"x.y\"} 1"),
            "{text}"
        );
        assert!(text.ends_with("# EOF\n"), "{text}");
    }

    /// Tags rendered from data made one `levee_unrouted_events_total`
    /// series each, without end.
    #[test]
    fn unrouted_tag_labels_are_bounded_with_an_other_bucket() {
        let m = Metrics::new();
        for i in 0..MAX_UNROUTED_TAGS + 50 {
            m.unrouted(&format!("user.{i}")).inc();
        }
        m.unrouted("user.0").inc();
        let text = m.encode();
        let series = text
            .lines()
            .filter(|l| l.starts_with("levee_unrouted_events_total{"))
            .count();
        assert_eq!(series, MAX_UNROUTED_TAGS + 1, "{text}");
        assert!(
            text.contains("levee_unrouted_events_total{tag=\"@other\"} 50"),
            "{text}"
        );
        assert!(
            text.contains("levee_unrouted_events_total{tag=\"user.0\"} 2"),
            "{text}"
        );
        assert!(text.contains("later ones count under"), "{text}");
    }
}
