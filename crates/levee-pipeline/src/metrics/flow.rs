//! The flow through a pipeline, read from a metrics page: one row per
//! source, filter and output with its cumulative figures
//! ([`Snapshot`]), per-second rates between two pages ([`rates`]), and
//! which component is falling behind ([`Watch`]).
//!
//! Pure functions over a parsed page, so `levee top` (a page fetched over
//! HTTP) and the console's history (levee's own registry, encoded and
//! parsed) read the flow alike. Three sets of names are understood:
//!
//! - levee's own (`levee_source_events_total{source}`,
//!   `levee_filter_events_in_total{filter}`, `levee_route_events_total` and
//!   `levee_output_*{output,type}`, `levee_buffer_*`);
//! - Fluentd's, as fluent-plugin-prometheus's `prometheus_output_monitor`
//!   serves them and levee does with `[metrics] names = "fluentd"`
//!   (`fluentd_output_status_*{plugin_id,type}`), and the sources counted
//!   the documented way, `fluentd_input_status_num_records_total{tag}`;
//! - Fluent Bit's (`fluentbit_input_records_total{name}`,
//!   `fluentbit_filter_records_total`, `fluentbit_output_proc_records_total`,
//!   ...), v1 and v2 pages alike.
//!
//! What a page does not say stays `None`: Fluentd counts no events out of
//! an output, Fluent Bit none into one.

use std::collections::HashMap;

use super::parse::{Family, ParseError, parse};

/// What part of the pipeline a component is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// Where events come from.
    Source,
    /// What changes, drops or counts them on the way.
    Filter,
    /// Where they are delivered.
    Output,
}

impl Kind {
    /// The word for it: `source`, `filter`, `output`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Source => "source",
            Kind::Filter => "filter",
            Kind::Output => "output",
        }
    }
}

/// One component of the pipeline.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Component {
    /// Source, filter or output.
    pub kind: Kind,
    /// Its name (`[outputs.NAME]`, Fluentd's `plugin_id`, Fluent Bit's
    /// `name` such as `tail.0`).
    pub name: String,
    /// Its plugin when the page says (an output's `type`; Fluent Bit's
    /// `tail` of `tail.0`).
    pub plugin: Option<String>,
}

/// Cumulative figures of one component at one instant: counters as read,
/// gauges as read. `None` where the page has no such figure.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Figures {
    /// Events that entered it: a source's events made, a filter's events
    /// it was applied to, an output's events routed to it.
    pub events_in: Option<f64>,
    /// Events that left it: a filter's events passed on, an output's
    /// events stored (sent).
    pub events_out: Option<f64>,
    /// Bytes: a source's input read, an output's bytes stored.
    pub bytes: Option<f64>,
    /// Failures: a source's unparsed lines and refused connections, a
    /// filter's unparsed or unconverted fields, an output's failed calls.
    pub errors: Option<f64>,
    /// Events dropped.
    pub drops: Option<f64>,
    /// Calls tried again.
    pub retries: Option<f64>,
    /// Bytes waiting in its buffer now.
    pub buffer_bytes: Option<f64>,
    /// The most bytes its buffer holds.
    pub buffer_limit: Option<f64>,
    /// How full its buffer is, 0 to 1: bytes over limit, or from a page's
    /// free-space percentage (Fluentd's, Fluent Bit's).
    pub buffer_fill: Option<f64>,
    /// Age of the oldest event waiting in its buffer, in seconds.
    pub oldest_age_seconds: Option<f64>,
    /// A tail source's bytes read but not yet delivered by every output.
    pub checkpoint_lag_bytes: Option<f64>,
}

/// Every component's figures from one page: sources, then filters, then
/// outputs, each by name.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Snapshot {
    /// The components and their figures.
    pub components: Vec<(Component, Figures)>,
}

/// The figure a sample feeds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Field {
    EventsIn,
    EventsOut,
    Bytes,
    Errors,
    Drops,
    Retries,
    BufferBytes,
    BufferLimit,
    /// Free space in percent of the limit (Fluentd, Fluent Bit).
    BufferFreePercent,
    OldestAge,
    CheckpointLag,
    /// Records a Fluent Bit filter added (its out = in - dropped + added).
    Added,
}

/// Which samples make which figure of which kind of component: the
/// sample's name, the label naming the component, the one naming its
/// plugin.
struct Rule {
    sample: &'static str,
    kind: Kind,
    field: Field,
    name: &'static str,
    plugin: Option<&'static str>,
}

const fn rule(
    sample: &'static str,
    kind: Kind,
    field: Field,
    name: &'static str,
    plugin: Option<&'static str>,
) -> Rule {
    Rule {
        sample,
        kind,
        field,
        name,
        plugin,
    }
}

use Field::*;
use Kind::{Filter, Output, Source};

/// Several samples for one component and field (errors by kind, drops by
/// reason) add up; see [`Field::combine`] for the gauges.
// One rule a line: the table reads as one.
#[rustfmt::skip]
const RULES: &[Rule] = &[
    // levee's own.
    rule("levee_source_events_total", Source, EventsIn, "source", None),
    rule("levee_source_bytes_total", Source, Bytes, "source", None),
    rule("levee_parse_errors_total", Source, Errors, "source", None),
    rule("levee_source_connection_errors_total", Source, Errors, "source", None),
    rule("levee_source_checkpoint_lag_bytes", Source, CheckpointLag, "source", None),
    rule("levee_filter_events_in_total", Filter, EventsIn, "filter", None),
    rule("levee_filter_events_out_total", Filter, EventsOut, "filter", None),
    rule("levee_filter_dropped_events_total", Filter, Drops, "filter", None),
    rule("levee_filter_parse_errors_total", Filter, Errors, "filter", None),
    rule("levee_filter_conversion_errors_total", Filter, Errors, "filter", None),
    rule("levee_route_events_total", Output, EventsIn, "output", Some("type")),
    rule("levee_output_events_total", Output, EventsOut, "output", Some("type")),
    rule("levee_output_bytes_total", Output, Bytes, "output", Some("type")),
    rule("levee_output_errors_total", Output, Errors, "output", Some("type")),
    rule("levee_output_retries_total", Output, Retries, "output", Some("type")),
    rule("levee_output_dropped_events_total", Output, Drops, "output", Some("type")),
    rule("levee_buffer_bytes", Output, BufferBytes, "output", Some("type")),
    rule("levee_buffer_limit_bytes", Output, BufferLimit, "output", Some("type")),
    rule("levee_buffer_oldest_age_seconds", Output, OldestAge, "output", Some("type")),
    // Fluentd's (fluent-plugin-prometheus; every one a gauge, no _total).
    rule("fluentd_input_status_num_records_total", Source, EventsIn, "tag", None),
    rule("fluentd_output_status_emit_records", Output, EventsIn, "plugin_id", Some("type")),
    rule("fluentd_output_status_num_errors", Output, Errors, "plugin_id", Some("type")),
    rule("fluentd_output_status_retry_count", Output, Retries, "plugin_id", Some("type")),
    rule("fluentd_output_status_buffer_total_bytes", Output, BufferBytes, "plugin_id", Some("type")),
    rule("fluentd_output_status_buffer_available_space_ratio", Output, BufferFreePercent, "plugin_id", Some("type")),
    // Fluent Bit's (v1 and v2 pages).
    rule("fluentbit_input_records_total", Source, EventsIn, "name", None),
    rule("fluentbit_input_bytes_total", Source, Bytes, "name", None),
    rule("fluentbit_filter_records_total", Filter, EventsIn, "name", None),
    rule("fluentbit_filter_drop_records_total", Filter, Drops, "name", None),
    rule("fluentbit_filter_add_records_total", Filter, Added, "name", None),
    rule("fluentbit_filter_added_records_total", Filter, Added, "name", None),
    rule("fluentbit_output_proc_records_total", Output, EventsOut, "name", None),
    rule("fluentbit_output_proc_bytes_total", Output, Bytes, "name", None),
    rule("fluentbit_output_errors_total", Output, Errors, "name", None),
    rule("fluentbit_output_retries_total", Output, Retries, "name", None),
    rule("fluentbit_output_dropped_records_total", Output, Drops, "name", None),
    rule("fluentbit_output_chunk_available_capacity_percent", Output, BufferFreePercent, "name", None),
];

impl Field {
    /// How two samples for one component combine: counts add up; of two
    /// free-space figures (two Fluentd workers) the smaller counts, of two
    /// ages the larger, so the worse one shows.
    fn combine(self, old: f64, new: f64) -> f64 {
        match self {
            BufferFreePercent => old.min(new),
            OldestAge | BufferLimit => old.max(new),
            _ => old + new,
        }
    }
}

/// A component's figures while the page is read.
#[derive(Default)]
struct Builder {
    figures: Figures,
    free_percent: Option<f64>,
    added: Option<f64>,
}

impl Builder {
    fn add(&mut self, field: Field, value: f64) {
        let f = &mut self.figures;
        let slot = match field {
            EventsIn => &mut f.events_in,
            EventsOut => &mut f.events_out,
            Bytes => &mut f.bytes,
            Errors => &mut f.errors,
            Drops => &mut f.drops,
            Retries => &mut f.retries,
            BufferBytes => &mut f.buffer_bytes,
            BufferLimit => &mut f.buffer_limit,
            BufferFreePercent => &mut self.free_percent,
            OldestAge => &mut f.oldest_age_seconds,
            CheckpointLag => &mut f.checkpoint_lag_bytes,
            Added => &mut self.added,
        };
        *slot = Some(slot.map_or(value, |old| field.combine(old, value)));
    }

    fn finish(mut self, kind: Kind) -> Figures {
        let f = &mut self.figures;
        // A Fluent Bit filter says what came in, what it dropped and what
        // it added; what went on is the rest.
        if kind == Filter && f.events_out.is_none() && (f.drops.is_some() || self.added.is_some()) {
            f.events_out = f
                .events_in
                .map(|i| i - f.drops.unwrap_or(0.0) + self.added.unwrap_or(0.0));
        }
        f.buffer_fill = match (f.buffer_bytes, f.buffer_limit, self.free_percent) {
            (Some(bytes), Some(limit), _) if limit > 0.0 => Some(bytes / limit),
            (_, _, Some(free)) => Some(1.0 - free / 100.0),
            _ => None,
        }
        .filter(|fill| fill.is_finite())
        .map(|fill| fill.max(0.0));
        self.figures
    }
}

impl Snapshot {
    /// The figures of every component a parsed page names. Samples
    /// without the label naming their component are left out.
    pub fn from_families(families: &[Family]) -> Snapshot {
        let rules: HashMap<&str, &Rule> = RULES.iter().map(|r| (r.sample, r)).collect();
        let mut index: HashMap<(Kind, String), usize> = HashMap::new();
        let mut found: Vec<(Component, Builder)> = Vec::new();
        // levee with `[metrics] names = "fluentd"` shows its outputs under
        // both names: read once, as levee's.
        let levee = families.iter().any(|f| f.name.starts_with("levee_"));
        for sample in families.iter().flat_map(|f| &f.samples) {
            let Some(rule) = rules.get(sample.name.as_str()) else {
                continue;
            };
            if levee && rule.sample.starts_with("fluentd_") {
                continue;
            }
            let label = |key: &str| {
                sample
                    .labels
                    .iter()
                    .find(|(k, _)| k == key)
                    .map(|(_, v)| v.as_str())
            };
            let Some(name) = label(rule.name) else {
                continue;
            };
            let at = *index
                .entry((rule.kind, name.to_owned()))
                .or_insert_with(|| {
                    let plugin = match rule.plugin {
                        Some(key) => label(key).map(str::to_owned),
                        None => numbered_plugin(name),
                    };
                    let component = Component {
                        kind: rule.kind,
                        name: name.to_owned(),
                        plugin,
                    };
                    found.push((component, Builder::default()));
                    found.len() - 1
                });
            found[at].1.add(rule.field, sample.value);
        }
        let mut components: Vec<(Component, Figures)> = found
            .into_iter()
            .map(|(c, b)| {
                let kind = c.kind;
                (c, b.finish(kind))
            })
            .collect();
        // A registry's page lists label sets in no set order: by name, so
        // rows stay put from one reading to the next.
        components.sort_by(|(a, _), (b, _)| pipeline_order(a).cmp(&pipeline_order(b)));
        Snapshot { components }
    }

    /// The figures of a whole page, or why it does not parse.
    pub fn from_page(page: &str) -> Result<Snapshot, ParseError> {
        Ok(Snapshot::from_families(&parse(page)?))
    }

    /// The figures of the component of this kind and name.
    pub fn get(&self, kind: Kind, name: &str) -> Option<&Figures> {
        self.components
            .iter()
            .find(|(c, _)| c.kind == kind && c.name == name)
            .map(|(_, f)| f)
    }
}

/// Sources, filters, outputs; each by name, a leading number taken as a
/// number so that levee's filters (`1_grep`, ..., `10_record`) stay in
/// the config's order.
fn pipeline_order(c: &Component) -> (Kind, Option<u64>, &str) {
    let digits = c.name.bytes().take_while(u8::is_ascii_digit).count();
    (c.kind, c.name[..digits].parse().ok(), &c.name)
}

/// Fluent Bit names an unaliased instance `plugin.N`: the plugin is what
/// comes before the number.
fn numbered_plugin(name: &str) -> Option<String> {
    let (plugin, number) = name.rsplit_once('.')?;
    let numbered =
        !plugin.is_empty() && !number.is_empty() && number.bytes().all(|b| b.is_ascii_digit());
    numbered.then(|| plugin.to_owned())
}

mod rates;

pub use rates::{Behind, Rates, Watch, rates};

#[cfg(test)]
mod tests;
