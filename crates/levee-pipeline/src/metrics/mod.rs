//! The metrics registry: every counter levee keeps, named in one place.
//!
//! Components get cheap handles (an atomic each) for their own labels, so
//! counting on the hot path is one relaxed add.

mod classic;
pub mod flow;
mod fluentd;
pub mod health;
mod output;
pub mod parse;
mod server;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

pub use fluentd::Names;
pub use health::{Component, Guard, Health};
pub use output::{Call, OldestAge, OutputMetrics, SinkErrors};
pub use server::{MetricsConfig, bind, serve};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use levee_io::SourceMetrics;

use crate::filters::metric::{MetricFilter, MetricTables, OVERFLOW, Skipped};

/// Metric names (without the `levee_` prefix and `_total` suffix that the
/// registry adds); the outputs' are in `output.rs`.
mod names {
    pub const SOURCE_EVENTS: &str = "source_events";
    pub const SOURCE_BYTES: &str = "source_bytes";
    pub const PARSE_ERRORS: &str = "parse_errors";
    pub const TIME_ERRORS: &str = "time_errors";
    pub const MULTILINE_CUTS: &str = "multiline_cut_records";
    pub const CHECKPOINT_LAG: &str = "source_checkpoint_lag_bytes";
    pub const FILES_WATCHED: &str = "source_files_watched";
    pub const CONNECTIONS: &str = "source_connections";
    pub const CONNECTION_ERRORS: &str = "source_connection_errors";
    pub const FILTER_DROPPED: &str = "filter_dropped_events";
    pub const FILTER_EVENTS_IN: &str = "filter_events_in";
    pub const FILTER_EVENTS_OUT: &str = "filter_events_out";
    pub const ROUTE_EVENTS: &str = "route_events";
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
struct SourceReasonLabel {
    source: String,
    reason: String,
}

/// A route is to one output: labelled as the output's own series are.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabel {
    output: String,
    r#type: String,
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
    files_watched: Family<SourceLabel, Gauge>,
    connections: Family<SourceLabel, Gauge>,
    connection_errors: Family<SourceReasonLabel, Counter>,
    outputs: output::OutputFamilies,
    filter_dropped: Family<FilterLabel, Counter>,
    filter_events_in: Family<FilterLabel, Counter>,
    filter_events_out: Family<FilterLabel, Counter>,
    route_events: Family<RouteLabel, Counter>,
    filter_parse_errors: Family<FilterLabel, Counter>,
    filter_evicted_keys: Family<FilterLabel, Counter>,
    filter_conversion_errors: Family<FilterLabel, Counter>,
    unrouted: Family<TagLabel, Counter>,
    metric_folded: Family<MetricLabel, Counter>,
    metric_skipped: Family<MetricSkipLabel, Counter>,
    /// The metric filters' own metrics, shown without the `levee_` prefix.
    metric_tables: Arc<MetricTables>,
    /// Fluentd's names for the outputs' figures, when asked for.
    fluentd: fluentd::FluentdNames,
    /// The `tag` labels `unrouted` has made, up to [`MAX_UNROUTED_TAGS`].
    unrouted_tags: Mutex<HashSet<String>>,
    /// What `/health` reads.
    health: Health,
}

/// One filter's counters; the router adds to them once per batch.
#[derive(Clone, Debug, Default)]
pub struct FilterMetrics {
    /// Events the filter was applied to.
    pub events_in: Counter,
    /// Events it passed on.
    pub events_out: Counter,
    /// Events it dropped (`events_in - events_out`).
    pub dropped: Counter,
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
        // Fluentd's names have their own prefix (`fluentd_`), at the root.
        let fluentd = fluentd::FluentdNames::default();
        root.register_collector(Box::new(fluentd.clone()));
        let registry = root.sub_registry_with_prefix("levee");
        let outputs = output::OutputFamilies::register(registry);
        let m = Metrics {
            outputs,
            source_events: Family::default(),
            source_bytes: Family::default(),
            parse_errors: Family::default(),
            time_errors: Family::default(),
            multiline_cuts: Family::default(),
            checkpoint_lag: Family::default(),
            files_watched: Family::default(),
            connections: Family::default(),
            connection_errors: Family::default(),
            filter_dropped: Family::default(),
            filter_events_in: Family::default(),
            filter_events_out: Family::default(),
            route_events: Family::default(),
            filter_parse_errors: Family::default(),
            filter_evicted_keys: Family::default(),
            filter_conversion_errors: Family::default(),
            unrouted: Family::default(),
            metric_folded: Family::default(),
            metric_skipped: Family::default(),
            metric_tables,
            fluentd,
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
            names::FILES_WATCHED,
            "Files a tail source follows now: open, or closed to make room for others (max_files) \
             and opened again when they change",
            m.files_watched.clone(),
        );
        registry.register(
            names::CONNECTIONS,
            "Connections a network source (forward, http) has open now",
            m.connections.clone(),
        );
        registry.register(
            names::CONNECTION_ERRORS,
            "Connections a network source closed for a fault, or http requests it refused, by \
             reason: frame_too_large, decompressed_too_large, bad_gzip, invalid_frame, bad_tag, \
             unsupported_signal, frame_timeout, idle_timeout, too_many_connections, auth_failed, \
             tls, io, bad_request, body_too_large, bad_zstd, unsupported_encoding, not_found, \
             header_timeout, body_timeout, busy",
            m.connection_errors.clone(),
        );
        registry.register(
            names::FILTER_DROPPED,
            "Events a filter dropped",
            m.filter_dropped.clone(),
        );
        registry.register(
            names::FILTER_EVENTS_IN,
            "Events a filter was applied to (those whose tag its match matched)",
            m.filter_events_in.clone(),
        );
        registry.register(
            names::FILTER_EVENTS_OUT,
            "Events a filter passed on to the next filter and the outputs (in - out = dropped)",
            m.filter_events_out.clone(),
        );
        registry.register(
            names::ROUTE_EVENTS,
            "Events the router sent to an output's buffer (after the filters; a when_full drop \
             there is counted in levee_output_dropped_events_total)",
            m.route_events.clone(),
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
            files_watched: self.files_watched.get_or_create(&label).clone(),
            connections: self.connections.get_or_create(&label).clone(),
            connection_errors: levee_io::sources::ConnectionErrors::new(|reason| {
                self.connection_errors
                    .get_or_create(&SourceReasonLabel {
                        source: name.to_owned(),
                        reason: reason.to_owned(),
                    })
                    .clone()
            }),
        }
    }

    /// Handles for the counters of output `name`, of kind `kind` (its
    /// `type`: `lake`, `file`, ...), and its part of `/health`.
    pub fn output(&self, name: &str, kind: &str) -> OutputMetrics {
        let health = self.health.component(&format!("output {name}"));
        let handles = self.outputs.output(name, kind, health);
        self.fluentd
            .add(name, kind, &handles, self.route(name, kind));
        handles
    }

    /// Which names the outputs' figures are served under: levee's, or
    /// levee's and Fluentd's (`[metrics] names`).
    pub fn serve_names(&self, names: Names) {
        self.fluentd.serve(names);
    }

    /// What `/health` reads: components register and report there.
    pub fn health(&self) -> &Health {
        &self.health
    }

    /// Handles for a filter's events in, out and dropped.
    pub fn filter(&self, filter: &str) -> FilterMetrics {
        let label = FilterLabel {
            filter: filter.to_owned(),
        };
        FilterMetrics {
            events_in: self.filter_events_in.get_or_create(&label).clone(),
            events_out: self.filter_events_out.get_or_create(&label).clone(),
            dropped: self.filter_dropped.get_or_create(&label).clone(),
        }
    }

    /// The counter of events the router sent to output `output`, of kind
    /// `kind`.
    pub fn route(&self, output: &str, kind: &str) -> Counter {
        self.route_events
            .get_or_create(&RouteLabel {
                output: output.to_owned(),
                r#type: kind.to_owned(),
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
        m.output("lake", "lake").dropped_full.inc();
        m.unrouted("x.y").inc();
        let text = m.encode();
        assert!(
            text.contains("levee_source_events_total{source=\"nginx\"} 3"),
            "{text}"
        );
        assert!(
            text.contains(
                "levee_output_dropped_events_total{output=\"lake\",type=\"lake\",reason=\"buffer_full\"} 1"
            ),
            "{text}"
        );
        assert!(
            text.contains("levee_unrouted_events_total{tag=\"x.y\"} 1"),
            "{text}"
        );
        assert!(text.ends_with("# EOF\n"), "{text}");
    }

    /// Every per-output series carries the output's kind as `type`
    /// beside its name, and the new families are on the page at zero.
    #[test]
    fn every_output_series_is_labelled_with_its_type() {
        let m = Metrics::new();
        let out = m.output("firehose", "lake");
        out.bytes.inc_by(10);
        out.flush_duration.observe(0.02);
        out.errors.of(Call::Flush).inc();
        let text = m.encode();
        let series: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("levee_output_") || l.starts_with("levee_buffer_"))
            .collect();
        assert!(series.len() > 20, "{text}");
        for line in series {
            assert!(line.contains("output=\"firehose\",type=\"lake\""), "{line}");
        }
        for expected in [
            "levee_output_bytes_total{output=\"firehose\",type=\"lake\"} 10",
            "levee_output_flushes_total{output=\"firehose\",type=\"lake\"} 0",
            "levee_output_flush_duration_seconds_count{output=\"firehose\",type=\"lake\"} 1",
            "levee_output_flush_duration_seconds_bucket{le=\"0.025\",output=\"firehose\",type=\"lake\"} 1",
            "levee_output_errors_total{output=\"firehose\",type=\"lake\",kind=\"flush\"} 1",
            "levee_output_errors_total{output=\"firehose\",type=\"lake\",kind=\"open\"} 0",
            "levee_buffer_queue_length{output=\"firehose\",type=\"lake\"} 0",
            "levee_buffer_limit_bytes{output=\"firehose\",type=\"lake\"} 0",
            "levee_buffer_oldest_age_seconds{output=\"firehose\",type=\"lake\"} 0.0",
        ] {
            assert!(text.contains(expected), "{expected}\n{text}");
        }
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
