//! `metric`: measures the events it sees into a Prometheus metric of the
//! user's own, labelled from the events, and lets them pass unchanged.
//!
//! ```toml
//! [[filters]]
//! match = "firehose_parsed.**"
//! type = "metric"
//! name = "outgoing_msg"
//! kind = "counter"
//! help = "API calls by type"
//! labels = { type = "$.type", host = "${hostname}", env = "prd" }
//! max_label_sets = 10000
//!
//! [[filters]]
//! match = "nginx.**"
//! type = "metric"
//! name = "request_time_seconds"
//! kind = "histogram"
//! field = "request_time"
//! buckets = [0.01, 0.1, 0.5, 1, 5]
//! labels = { status = "${status|status_class}" }
//! ```
//!
//! A `counter` counts events. A `gauge`, `histogram` or `summary` observes
//! the number in each event's `field` (a dotted path such as
//! `timing.upstream`): a gauge shows the last value seen, a histogram counts
//! values into `buckets` (upper bounds; Prometheus' defaults, 0.005 to 10,
//! when absent) with their `_sum` and `_count`, a summary shows `_sum` and
//! `_count` only. A summary has no quantiles: a quantile cannot be added up
//! across label sets, filters or levee processes, and keeping one exactly
//! costs memory per label set; a histogram's buckets give quantiles at
//! query time (`histogram_quantile`). An event whose field is missing or
//! null, or is not a number (numbers written as text, such as `"0.25"`,
//! count; NaN and infinities do not), is not observed and counts in
//! `levee_metric_skipped_events_total{metric,reason}`.
//!
//! A label's value is a template (`$.type`, `$.geo_ip.country`,
//! `${tag}`, `${method|lower}`) or fixed text. The metric keeps the bare
//! `name`, without levee's `levee_` prefix, as Fluentd's Prometheus plugin
//! does, so dashboards built on it keep working; the text format adds
//! `_total` to a counter's samples (`outgoing_msg_total{type="get"}`).
//! Several metric filters may see the same events; filters that share a
//! `name` share the metric (equal label sets add up; a gauge shows the
//! later filter's value), so they must agree on its kind and buckets.
//!
//! Label values come from data, so a metric keeps at most `max_label_sets`
//! label sets: events of a new set past that count under one set whose
//! every value is [`OVERFLOW`], and
//! `levee_metric_folded_events_total{metric}` counts them.
//!
//! A label set seen before costs one map lookup under a read lock and an
//! atomic add or two: its values are rendered into a per-thread buffer and
//! looked up by that borrowed text, so nothing is allocated.

mod table;
#[cfg(test)]
mod tests;

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use levee_event::{Event, FieldPath, Value};
use prometheus_client::metrics::counter::Counter;

use self::table::{LabelSet, Observations};
pub(crate) use self::table::{MetricTable, MetricTables};
use super::{FilterError, field_path, with_scratch};
use crate::template::Template;

/// The value of every label of the set that new label sets fold into once
/// a metric has `max_label_sets`.
pub const OVERFLOW: &str = "__overflow__";

/// How many label sets a metric keeps unless `max_label_sets` says.
pub const DEFAULT_MAX_LABEL_SETS: usize = 10_000;

/// A histogram's bucket bounds unless `buckets` says: those of
/// Prometheus' own client libraries, for request times in seconds.
pub const DEFAULT_BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Config of a `metric` filter.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricConfig {
    /// Tag pattern of the events this filter measures, such as `api.**`:
    /// `*` matches one dot-separated part, `**` any number, `{a,b}` either.
    pub r#match: String,
    /// The metric's name, as it appears on `/metrics` (no prefix is added):
    /// letters, digits, `_` and `:`, not starting with a digit, and not
    /// starting with `levee_`, which is levee's own.
    pub name: String,
    /// What the metric is: `counter` (the default) counts events; `gauge`
    /// shows the last value of `field`; `histogram` counts the values of
    /// `field` into `buckets`, with their sum and count; `summary` shows
    /// their sum and count (no quantiles).
    #[serde(default)]
    pub kind: MetricKind,
    /// The metric's `# HELP` text, one line.
    #[serde(default)]
    pub help: Option<String>,
    /// Label name to value: a template over the event (`$.type`,
    /// `${hostname}`, `${tag}`) or fixed text.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Most distinct label sets the metric keeps (at least 1); past it new
    /// sets count under one set of `__overflow__` values. Default 10,000.
    #[serde(default = "default_max_label_sets")]
    pub max_label_sets: i64,
    /// The record field whose number a gauge, histogram or summary
    /// observes (required for them; a counter has none): a dotted path
    /// such as `request_time` or `timing.upstream`. Integers, floats and
    /// text that reads as a finite number count.
    #[serde(default)]
    pub field: Option<String>,
    /// A histogram's bucket upper bounds, increasing (`+Inf` is always
    /// added). Default: Prometheus' `[0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
    /// 0.5, 1, 2.5, 5, 10]`.
    #[serde(default)]
    pub buckets: Option<Vec<f64>>,
}

fn default_max_label_sets() -> i64 {
    DEFAULT_MAX_LABEL_SETS as i64
}

/// What a metric filter measures.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MetricKind {
    /// The number of events, by label set.
    #[default]
    Counter,
    /// The last value of the field seen, by label set.
    Gauge,
    /// The field's values counted into buckets, with their sum and count.
    Histogram,
    /// The field's values' sum and count.
    Summary,
}

impl MetricKind {
    /// The kind as the config and the text format write it.
    pub fn as_str(self) -> &'static str {
        match self {
            MetricKind::Counter => "counter",
            MetricKind::Gauge => "gauge",
            MetricKind::Histogram => "histogram",
            MetricKind::Summary => "summary",
        }
    }
}

impl MetricConfig {
    pub(super) fn build(&self) -> Result<MetricFilter, FilterError> {
        check_metric_name(&self.name)?;
        let mut names = Vec::with_capacity(self.labels.len());
        let mut templates = Vec::with_capacity(self.labels.len());
        for (name, value) in &self.labels {
            check_label_name(name, self.kind)?;
            let template = Template::parse(value).map_err(|source| FilterError::Template {
                key: format!("labels.{name}"),
                source,
            })?;
            names.push(name.clone().into_boxed_str());
            templates.push(template);
        }
        let max_label_sets = usize::try_from(self.max_label_sets)
            .ok()
            .filter(|&n| n >= 1)
            .ok_or_else(|| FilterError::Invalid {
                key: "max_label_sets",
                reason: format!(
                    "must be a whole number of at least 1, got {}",
                    self.max_label_sets
                ),
            })?;
        // The registry writes HELP as it is: a line break would end the
        // line early and break the page for every scraper.
        if self
            .help
            .as_deref()
            .is_some_and(|h| h.contains(['\n', '\r']))
        {
            return Err(FilterError::Invalid {
                key: "help",
                reason: "must be one line: a line break would break the metrics page".into(),
            });
        }
        let kind = self.kind;
        let field = match (kind, &self.field) {
            (MetricKind::Counter, None) => None,
            (MetricKind::Counter, Some(_)) => {
                return Err(FilterError::Invalid {
                    key: "field",
                    reason: "a counter counts events and observes no field; \
                             kind = \"summary\" gives the sum and count of a field"
                        .into(),
                });
            }
            (_, None) => {
                return Err(FilterError::Invalid {
                    key: "field",
                    reason: format!(
                        "a {} observes a number: name its field, as field = \"request_time\"",
                        kind.as_str()
                    ),
                });
            }
            (_, Some(path)) => Some(field_path("field", path)?),
        };
        let bounds = match (kind, &self.buckets) {
            (MetricKind::Histogram, None) => DEFAULT_BUCKETS.into(),
            (MetricKind::Histogram, Some(bounds)) => check_buckets(bounds)?,
            (_, None) => Box::default(),
            (_, Some(_)) => {
                return Err(FilterError::Invalid {
                    key: "buckets",
                    reason: format!(
                        "only a histogram has buckets, and this metric is a {}",
                        kind.as_str()
                    ),
                });
            }
        };
        let help = self.help.clone().unwrap_or_else(|| {
            match kind {
                MetricKind::Counter => "Events counted by a metric filter",
                MetricKind::Gauge => "The last value a metric filter saw",
                MetricKind::Histogram | MetricKind::Summary => "Values a metric filter observed",
            }
            .to_owned()
        });
        let buckets = bounds.len() + usize::from(kind == MetricKind::Histogram);
        Ok(MetricFilter {
            templates: templates.into(),
            field,
            table: Arc::new(MetricTable {
                name: self.name.clone(),
                help,
                kind,
                bounds,
                label_names: names.into(),
                max_label_sets,
                sets: RwLock::default(),
                overflow: Observations::new(buckets),
            }),
            folded: Counter::default(),
            skipped: Skipped::default(),
        })
    }
}

/// Refuses a name that is not a valid Prometheus metric name, or that
/// could clash with levee's own metrics.
fn check_metric_name(name: &str) -> Result<(), FilterError> {
    let valid = name.chars().enumerate().all(|(i, c)| {
        c.is_ascii_alphabetic() || c == '_' || c == ':' || (i > 0 && c.is_ascii_digit())
    });
    let reason = if name.is_empty() || !valid {
        "a metric name is letters, digits, `_` and `:`, not starting with a digit"
    } else if name.starts_with("levee_") {
        "names starting with `levee_` are levee's own metrics"
    } else {
        return Ok(());
    };
    Err(FilterError::Invalid {
        key: "name",
        reason: format!("`{name}`: {reason}"),
    })
}

/// Refuses a label name that Prometheus would not take on a metric of
/// `kind`.
fn check_label_name(name: &str, kind: MetricKind) -> Result<(), FilterError> {
    let valid = !name.is_empty()
        && name
            .chars()
            .enumerate()
            .all(|(i, c)| c.is_ascii_alphabetic() || c == '_' || (i > 0 && c.is_ascii_digit()));
    let reason = if !valid {
        "a label name is letters, digits and `_`, not starting with a digit"
    } else if name.starts_with("__") {
        "label names starting with `__` are reserved by Prometheus"
    } else if kind == MetricKind::Histogram && name == "le" {
        "`le` is the label of a histogram's buckets"
    } else if kind == MetricKind::Summary && name == "quantile" {
        "`quantile` is the label of a summary's quantiles"
    } else {
        return Ok(());
    };
    Err(FilterError::Invalid {
        key: "labels",
        reason: format!("`{name}`: {reason}"),
    })
}

/// A histogram's upper bounds: finite and increasing, at least one; a last
/// `+Inf` may be written, as it is always there.
fn check_buckets(bounds: &[f64]) -> Result<Box<[f64]>, FilterError> {
    let invalid = |reason: String| FilterError::Invalid {
        key: "buckets",
        reason,
    };
    let bounds = match bounds.split_last() {
        Some((last, rest)) if *last == f64::INFINITY => rest,
        _ => bounds,
    };
    if bounds.is_empty() {
        return Err(invalid(
            "give at least one upper bound, such as [0.1, 0.5, 1] (+Inf is always added)".into(),
        ));
    }
    if let Some(bad) = bounds.iter().find(|b| !b.is_finite()) {
        return Err(invalid(format!(
            "{bad} is not a finite bound (+Inf is always added, last)"
        )));
    }
    if let Some(pair) = bounds.windows(2).find(|pair| pair[0] >= pair[1]) {
        return Err(invalid(format!(
            "bounds must increase, and {} comes before {}",
            pair[0], pair[1]
        )));
    }
    Ok(bounds.into())
}

/// Metric filters that share a name share one metric, so they must agree
/// on its kind and buckets: what each later filter that does not says, as
/// (filter, key, message), for `levee validate`.
pub(crate) fn conflicts<'a>(
    filters: impl IntoIterator<Item = (&'a str, &'a MetricFilter)>,
) -> Vec<(String, &'static str, String)> {
    let mut first: HashMap<&str, (&str, &MetricTable)> = HashMap::new();
    let mut found = Vec::new();
    for (component, filter) in filters {
        let table = &*filter.table;
        let Some((earlier, shape)) = first.get(table.name.as_str()) else {
            first.insert(&table.name, (component, table));
            continue;
        };
        if shape.kind != table.kind {
            found.push((
                component.to_owned(),
                "kind",
                format!(
                    "`{}` is a {} in {earlier}; filters that share a metric's name share \
                     the metric, so they must agree on its kind",
                    table.name,
                    shape.kind.as_str()
                ),
            ));
        } else if shape.bounds != table.bounds {
            found.push((
                component.to_owned(),
                "buckets",
                format!(
                    "`{}` has buckets {:?} in {earlier}; filters that share a metric's name \
                     share the metric, so they must agree on its buckets",
                    table.name, shape.bounds
                ),
            ));
        }
    }
    found
}

/// A validated `metric` filter. Clones measure into the same metric.
#[derive(Debug, Clone)]
pub struct MetricFilter {
    /// One per label, in the order of [`MetricTable::label_names`].
    templates: Arc<[Template]>,
    /// The field observed; none for a counter.
    field: Option<FieldPath>,
    table: Arc<MetricTable>,
    /// Events folded into the overflow set.
    folded: Counter,
    skipped: Skipped,
}

/// Events not observed, by why.
#[derive(Debug, Clone, Default)]
pub struct Skipped {
    /// The field was missing, or null.
    pub missing: Counter,
    /// The field held something that is not a finite number.
    pub not_a_number: Counter,
}

/// Why an event was not observed; the `reason` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Skip {
    Missing,
    NotANumber,
}

/// The number a gauge, histogram or summary observes in `value`.
fn number(value: Option<&Value>) -> Result<f64, Skip> {
    let n = match value {
        None | Some(Value::Null) => return Err(Skip::Missing),
        Some(Value::Int(i)) => *i as f64,
        Some(Value::Float(f)) => *f,
        Some(Value::String(text)) => text.trim().parse().map_err(|_| Skip::NotANumber)?,
        Some(_) => return Err(Skip::NotANumber),
    };
    if n.is_finite() {
        Ok(n)
    } else {
        Err(Skip::NotANumber)
    }
}

thread_local! {
    /// The key of the label set being counted, reused between events.
    static KEY: RefCell<String> = const { RefCell::new(String::new()) };
}

/// Keys longer than this are not kept in the per-thread buffer.
const KEY_KEEP: usize = 64 * 1024;

impl MetricFilter {
    /// Measures the event; it passes unchanged.
    pub fn apply(&self, event: &Event) {
        let value = match &self.field {
            None => 0.0,
            Some(field) => match number(field.get(&event.record)) {
                Ok(value) => value,
                Err(Skip::Missing) => {
                    self.skipped.missing.inc();
                    return;
                }
                Err(Skip::NotANumber) => {
                    self.skipped.not_a_number.inc();
                    return;
                }
            },
        };
        KEY.with(|cell| match cell.try_borrow_mut() {
            Ok(mut key) => {
                self.observe(event, value, &mut key);
                if key.capacity() > KEY_KEEP {
                    *key = String::new();
                }
            }
            Err(_) => self.observe(event, value, &mut String::new()),
        });
    }

    fn observe(&self, event: &Event, value: f64, key: &mut String) {
        key.clear();
        for template in self.templates.iter() {
            with_scratch(|text| {
                template.render_into(event, text);
                push_len(key, text.len());
                key.push_str(text);
            });
        }
        let table = &self.table;
        {
            let sets = table.sets.read().unwrap_or_else(|p| p.into_inner());
            if let Some(set) = sets.get(key.as_str()) {
                table.observe(&set.observed, value);
                return;
            }
            if sets.len() >= table.max_label_sets {
                // Full: fold without waiting for the write lock.
                table.observe(&table.overflow, value);
                self.folded.inc();
                return;
            }
        }
        let mut sets = table.sets.write().unwrap_or_else(|p| p.into_inner());
        if let Some(set) = sets.get(key.as_str()) {
            table.observe(&set.observed, value);
        } else if sets.len() < table.max_label_sets {
            let set = LabelSet {
                values: split_key(key),
                observed: Observations::new(table.overflow.buckets()),
            };
            table.observe(&set.observed, value);
            sets.insert(key.as_str().into(), set);
        } else {
            drop(sets);
            table.observe(&table.overflow, value);
            self.folded.inc();
        }
    }

    /// The table the registry reads.
    pub(crate) fn table(&self) -> &Arc<MetricTable> {
        &self.table
    }

    /// The metric's name.
    pub fn name(&self) -> &str {
        &self.table.name
    }

    /// True if the filter observes a field, and so can skip events.
    pub fn observes_a_field(&self) -> bool {
        self.field.is_some()
    }

    /// Counts folded events into `folded` from now on (what it counted on
    /// its own before is added).
    pub fn count_folded_into(&mut self, folded: Counter) {
        folded.inc_by(self.folded.get());
        self.folded = folded;
    }

    /// Counts skipped events into `skipped` from now on (what it counted
    /// on its own before is added).
    pub fn count_skipped_into(&mut self, skipped: Skipped) {
        skipped.missing.inc_by(self.skipped.missing.get());
        skipped.not_a_number.inc_by(self.skipped.not_a_number.get());
        self.skipped = skipped;
    }
}

/// Writes `n` in decimal and `:` to a label set's key, without the
/// formatting machinery `write!` brings to every label of every event.
fn push_len(key: &mut String, mut n: usize) {
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    loop {
        start -= 1;
        digits[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    // ASCII digits: always UTF-8.
    if let Ok(digits) = std::str::from_utf8(&digits[start..]) {
        key.push_str(digits);
    }
    key.push(':');
}

/// The label values of a key made by [`MetricFilter::observe`].
fn split_key(mut key: &str) -> Box<[Box<str>]> {
    let mut values = Vec::new();
    while let Some((len, rest)) = key.split_once(':') {
        let len: usize = len.parse().unwrap_or(rest.len()).min(rest.len());
        // The length was measured on a whole value, so it ends on a
        // character boundary.
        let (value, rest) = rest.split_at_checked(len).unwrap_or((rest, ""));
        values.push(value.into());
        key = rest;
    }
    values.into()
}

/// Adds `value` to the `f64` whose bits `sum` holds.
fn add_f64(sum: &AtomicU64, value: f64) {
    // The closure always gives a value, so the update cannot fail.
    let _ = sum.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| {
        Some((f64::from_bits(bits) + value).to_bits())
    });
}
