//! Fluentd's names for the outputs' figures (`[metrics] names =
//! "fluentd"`), so that dashboards and alerts built on td-agent's
//! `prometheus_output_monitor` keep working.
//!
//! Nothing is counted twice: at each scrape this reads the same handles
//! levee's own families show. As fluent-plugin-prometheus's monitor writes
//! them, every family is a gauge (no `_total` suffix), labelled `plugin_id`
//! (the output's name) and `type` (its kind).
//!
//! | Fluentd's name | levee's figure |
//! | --- | --- |
//! | `fluentd_output_status_emit_records` | `levee_route_events_total` (events the router sent to the output) |
//! | `fluentd_output_status_emit_count` | `levee_output_batches_total` (batches the sink absorbed) |
//! | `fluentd_output_status_retry_count` | `levee_output_retries_total` |
//! | `fluentd_output_status_num_errors` | `levee_output_errors_total`, summed over `kind` |
//! | `fluentd_output_status_buffer_queue_length` | `levee_buffer_queue_length` |
//! | `fluentd_output_status_buffer_total_bytes` | `levee_buffer_bytes` |
//! | `fluentd_output_status_buffer_available_space_ratio` | `100 * (1 - levee_buffer_bytes / levee_buffer_limit_bytes)`, a percentage as Fluentd's |

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::ConstGauge;
use serde::Deserialize;

use super::OutputMetrics;

/// `[metrics] names`: which names the outputs' figures are served under.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Names {
    /// levee's own (`levee_output_events_total`, ...) only.
    #[default]
    Levee,
    /// levee's own and, beside them, Fluentd's
    /// (`fluentd_output_status_emit_records`, ...).
    Fluentd,
}

/// One output as Fluentd's families show it.
#[derive(Debug)]
struct Output {
    kind: String,
    metrics: OutputMetrics,
    /// Events the router sent to it: what entered the output, as Fluentd
    /// counts its emits.
    routed: Counter,
}

/// The collector of Fluentd's names: every output's handles, shown when
/// `[metrics] names = "fluentd"`.
#[derive(Clone, Debug, Default)]
pub(super) struct FluentdNames(Arc<Inner>);

#[derive(Debug, Default)]
struct Inner {
    enabled: AtomicBool,
    /// By output name, so the page's order is stable.
    outputs: Mutex<BTreeMap<String, Output>>,
}

/// A family: its name, HELP (fluent-plugin-prometheus's own words) and
/// how its value is read from an output's handles.
struct Family {
    name: &'static str,
    help: &'static str,
    value: fn(&Output) -> f64,
}

const FAMILIES: [Family; 7] = [
    Family {
        name: "fluentd_output_status_emit_count",
        help: "Current emit counts.",
        value: |o| o.metrics.batches.get() as f64,
    },
    Family {
        name: "fluentd_output_status_emit_records",
        help: "Current emit records.",
        value: |o| o.routed.get() as f64,
    },
    Family {
        name: "fluentd_output_status_retry_count",
        help: "Current retry counts.",
        value: |o| o.metrics.retries.get() as f64,
    },
    Family {
        name: "fluentd_output_status_num_errors",
        help: "Current number of errors.",
        value: |o| o.metrics.errors.total() as f64,
    },
    Family {
        name: "fluentd_output_status_buffer_queue_length",
        help: "Current length of queue buffers.",
        value: |o| o.metrics.buffer_queue_length.get() as f64,
    },
    Family {
        name: "fluentd_output_status_buffer_total_bytes",
        help: "Current total size of queue buffers.",
        value: |o| o.metrics.buffer_bytes.get() as f64,
    },
    Family {
        name: "fluentd_output_status_buffer_available_space_ratio",
        help: "Ratio of available space in buffer.",
        value: |o| available_space_ratio(&o.metrics),
    },
];

/// Free room in the buffer, in percent of its limit (as Fluentd's, 100
/// when empty); 100 for a buffer without a limit yet.
fn available_space_ratio(m: &OutputMetrics) -> f64 {
    let limit = m.buffer_limit.get();
    if limit <= 0 {
        return 100.0;
    }
    let used = m.buffer_bytes.get() as f64 / limit as f64;
    (100.0 * (1.0 - used)).clamp(0.0, 100.0)
}

impl FluentdNames {
    /// Shows Fluentd's names from now on, or stops showing them.
    pub(super) fn serve(&self, names: Names) {
        self.0
            .enabled
            .store(names == Names::Fluentd, Ordering::Relaxed);
    }

    /// Shows output `name`'s handles, and `routed`, the count of events
    /// the router sent it (once: later calls for it are the same handles).
    pub(super) fn add(&self, name: &str, kind: &str, metrics: &OutputMetrics, routed: Counter) {
        let mut outputs = self.0.outputs.lock().unwrap_or_else(|p| p.into_inner());
        outputs.entry(name.to_owned()).or_insert_with(|| Output {
            kind: kind.to_owned(),
            metrics: metrics.clone(),
            routed,
        });
    }
}

impl Collector for FluentdNames {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        if !self.0.enabled.load(Ordering::Relaxed) {
            return Ok(());
        }
        let outputs = self.0.outputs.lock().unwrap_or_else(|p| p.into_inner());
        if outputs.is_empty() {
            return Ok(());
        }
        for family in &FAMILIES {
            let mut metric =
                encoder.encode_descriptor(family.name, family.help, None, MetricType::Gauge)?;
            for (name, output) in outputs.iter() {
                let labels = [("plugin_id", name.as_str()), ("type", output.kind.as_str())];
                let sample = metric.encode_family(&labels)?;
                ConstGauge::new((family.value)(output)).encode(sample)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::Metrics;
    use super::*;

    /// The value of the sample `series` (name and labels as written).
    fn sample(page: &str, series: &str) -> Option<f64> {
        page.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
    }

    #[test]
    fn fluentd_names_are_served_only_when_asked_for() {
        let m = Metrics::new();
        m.output("firehose", "lake");
        m.route("firehose", "lake").inc_by(5);
        assert!(!m.encode().contains("fluentd_"), "{}", m.encode());
        m.serve_names(Names::Fluentd);
        let page = m.encode_classic();
        assert_eq!(
            sample(
                &page,
                "fluentd_output_status_emit_records{plugin_id=\"firehose\",type=\"lake\"}"
            ),
            Some(5.0),
            "{page}"
        );
        m.serve_names(Names::Levee);
        assert!(!m.encode().contains("fluentd_"));
    }

    /// Each Fluentd figure is levee's own, read from the same handles.
    #[test]
    fn fluentd_figures_are_levees_own() {
        let m = Metrics::new();
        m.serve_names(Names::Fluentd);
        let out = m.output("sns", "file");
        m.route("sns", "file").inc_by(570_277);
        out.events.inc_by(570_000);
        out.batches.inc_by(12);
        out.retries.inc_by(3);
        out.errors.write.inc_by(2);
        out.errors.open.inc();
        out.buffer_limit.set(1000);
        out.buffer_bytes.set(250);
        out.buffer_queue_length.set(2);
        // Asked for again (as the topology does): still one series each.
        let _ = m.output("sns", "file");
        let page = m.encode_classic();
        let labels = "{plugin_id=\"sns\",type=\"file\"}";
        for (name, value) in [
            ("emit_records", 570_277.0),
            ("emit_count", 12.0),
            ("retry_count", 3.0),
            ("num_errors", 3.0),
            ("buffer_queue_length", 2.0),
            ("buffer_total_bytes", 250.0),
            ("buffer_available_space_ratio", 75.0),
        ] {
            let series = format!("fluentd_output_status_{name}{labels}");
            assert_eq!(sample(&page, &series), Some(value), "{series}\n{page}");
            assert!(
                page.contains(&format!("# TYPE fluentd_output_status_{name} gauge\n")),
                "{page}"
            );
            assert_eq!(page.matches(&series).count(), 1, "{page}");
        }
        assert!(
            page.contains("570277.0"),
            "written as td-agent does: {page}"
        );
    }

    #[test]
    fn an_empty_buffer_has_all_its_space_and_a_full_one_none() {
        let m = Metrics::new();
        let out = m.output("o", "file");
        assert_eq!(available_space_ratio(&out), 100.0);
        out.buffer_limit.set(100);
        assert_eq!(available_space_ratio(&out), 100.0);
        // A record larger than the whole buffer goes in alone: past full.
        out.buffer_bytes.set(150);
        assert_eq!(available_space_ratio(&out), 0.0);
    }
}
