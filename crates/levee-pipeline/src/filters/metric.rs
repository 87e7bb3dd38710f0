//! `metric`: counts the events it sees into a Prometheus metric of the
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
//! ```
//!
//! A label's value is a template (`$.type`, `$.geo_ip.country`,
//! `${tag}`, `${method|lower}`) or fixed text. The metric keeps the bare
//! `name`, without levee's `levee_` prefix, as Fluentd's Prometheus plugin
//! does, so dashboards built on it keep working; the text format adds
//! `_total` to a counter's samples (`outgoing_msg_total{type="get"}`).
//! Several metric filters may see the same events; filters that share a
//! `name` share the metric (equal label sets add up).
//!
//! Label values come from data, so a metric keeps at most `max_label_sets`
//! label sets: events of a new set past that count under one set whose
//! every value is [`OVERFLOW`], and
//! `levee_metric_folded_events_total{metric}` counts them.
//!
//! A label set seen before costs one map lookup under a read lock and an
//! atomic add: its values are rendered into a per-thread buffer and looked
//! up by that borrowed text, so nothing is allocated.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use levee_event::Event;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::{ConstCounter, Counter};

use super::{FilterError, with_scratch};
use crate::template::Template;

/// The value of every label of the set that new label sets fold into once
/// a metric has `max_label_sets`.
pub const OVERFLOW: &str = "__overflow__";

/// How many label sets a metric keeps unless `max_label_sets` says.
pub const DEFAULT_MAX_LABEL_SETS: usize = 10_000;

/// Config of a `metric` filter.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricConfig {
    /// Tag pattern of the events this filter counts, such as `api.**`:
    /// `*` matches one dot-separated part, `**` any number, `{a,b}` either.
    pub r#match: String,
    /// The metric's name, as it appears on `/metrics` (no prefix is added):
    /// letters, digits, `_` and `:`, not starting with a digit, and not
    /// starting with `levee_`, which is levee's own.
    pub name: String,
    /// What the metric is; `counter` (the default) counts events.
    #[serde(default)]
    pub kind: MetricKind,
    /// The metric's `# HELP` text.
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
}

impl MetricConfig {
    pub(super) fn build(&self) -> Result<MetricFilter, FilterError> {
        check_metric_name(&self.name)?;
        let mut names = Vec::with_capacity(self.labels.len());
        let mut templates = Vec::with_capacity(self.labels.len());
        for (name, value) in &self.labels {
            check_label_name(name)?;
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
        let help = self
            .help
            .clone()
            .unwrap_or_else(|| "Events counted by a metric filter".to_owned());
        Ok(MetricFilter {
            templates: templates.into(),
            table: Arc::new(MetricTable {
                name: self.name.clone(),
                help,
                label_names: names.into(),
                max_label_sets,
                sets: RwLock::default(),
                overflow: AtomicU64::new(0),
            }),
            folded: Counter::default(),
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

/// Refuses a label name that Prometheus would not take.
fn check_label_name(name: &str) -> Result<(), FilterError> {
    let valid = !name.is_empty()
        && name
            .chars()
            .enumerate()
            .all(|(i, c)| c.is_ascii_alphabetic() || c == '_' || (i > 0 && c.is_ascii_digit()));
    let reason = if !valid {
        "a label name is letters, digits and `_`, not starting with a digit"
    } else if name.starts_with("__") {
        "label names starting with `__` are reserved by Prometheus"
    } else {
        return Ok(());
    };
    Err(FilterError::Invalid {
        key: "labels",
        reason: format!("`{name}`: {reason}"),
    })
}

/// A validated `metric` filter. Clones count into the same metric.
#[derive(Debug, Clone)]
pub struct MetricFilter {
    /// One per label, in the order of [`MetricTable::label_names`].
    templates: Arc<[Template]>,
    table: Arc<MetricTable>,
    /// Events folded into the overflow set.
    folded: Counter,
}

/// The counts of one metric filter, by label set; what the registry reads.
#[derive(Debug)]
pub(crate) struct MetricTable {
    name: String,
    help: String,
    label_names: Box<[Box<str>]>,
    max_label_sets: usize,
    /// Keyed by the label values, each written as its length in bytes, `:`
    /// and the value, so no value can run into the next.
    sets: RwLock<HashMap<Box<str>, LabelSet>>,
    /// Events of label sets past `max_label_sets`.
    overflow: AtomicU64,
}

#[derive(Debug)]
struct LabelSet {
    values: Box<[Box<str>]>,
    count: AtomicU64,
}

thread_local! {
    /// The key of the label set being counted, reused between events.
    static KEY: RefCell<String> = const { RefCell::new(String::new()) };
}

/// Keys longer than this are not kept in the per-thread buffer.
const KEY_KEEP: usize = 64 * 1024;

impl MetricFilter {
    /// Counts the event; it passes unchanged.
    pub fn apply(&self, event: &Event) {
        KEY.with(|cell| match cell.try_borrow_mut() {
            Ok(mut key) => {
                self.count(event, &mut key);
                if key.capacity() > KEY_KEEP {
                    *key = String::new();
                }
            }
            Err(_) => self.count(event, &mut String::new()),
        });
    }

    fn count(&self, event: &Event, key: &mut String) {
        key.clear();
        for template in self.templates.iter() {
            with_scratch(|value| {
                template.render_into(event, value);
                // Writing into a String cannot fail.
                let _ = write!(key, "{}:", value.len());
                key.push_str(value);
            });
        }
        let table = &self.table;
        {
            let sets = table.sets.read().unwrap_or_else(|p| p.into_inner());
            if let Some(set) = sets.get(key.as_str()) {
                set.count.fetch_add(1, Ordering::Relaxed);
                return;
            }
            if sets.len() >= table.max_label_sets {
                // Full: fold without waiting for the write lock.
                table.overflow.fetch_add(1, Ordering::Relaxed);
                self.folded.inc();
                return;
            }
        }
        let mut sets = table.sets.write().unwrap_or_else(|p| p.into_inner());
        if let Some(set) = sets.get(key.as_str()) {
            set.count.fetch_add(1, Ordering::Relaxed);
        } else if sets.len() < table.max_label_sets {
            sets.insert(
                key.as_str().into(),
                LabelSet {
                    values: split_key(key),
                    count: AtomicU64::new(1),
                },
            );
        } else {
            drop(sets);
            table.overflow.fetch_add(1, Ordering::Relaxed);
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

    /// Counts folded events into `folded` from now on (what it counted on
    /// its own before is added).
    pub fn count_folded_into(&mut self, folded: Counter) {
        folded.inc_by(self.folded.get());
        self.folded = folded;
    }
}

/// The label values of a key made by [`MetricFilter::count`].
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

/// The metric filters' tables, registered once with the registry: filters
/// built later add their tables, and every scrape reads them all.
#[derive(Debug, Default)]
pub(crate) struct MetricTables(Mutex<Vec<Arc<MetricTable>>>);

impl MetricTables {
    /// Adds a table to what scrapes show.
    pub(crate) fn add(&self, table: Arc<MetricTable>) {
        let mut tables = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if !tables.iter().any(|t| Arc::ptr_eq(t, &table)) {
            tables.push(table);
        }
    }
}

/// A family's counts by label set (label name, value), at a scrape.
type Samples<'a> = BTreeMap<Vec<(&'a str, &'a str)>, u64>;

impl Collector for MetricTables {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let tables = self.0.lock().unwrap_or_else(|p| p.into_inner()).clone();
        // One family per name, with its samples sorted; tables sharing a
        // name add up equal label sets. Scrapes may allocate.
        let mut families: BTreeMap<&str, (&str, Samples<'_>)> = BTreeMap::new();
        let mut held = Vec::with_capacity(tables.len());
        for table in &tables {
            held.push(table.sets.read().unwrap_or_else(|p| p.into_inner()));
        }
        for (table, sets) in tables.iter().zip(&held) {
            let (_, samples) = families
                .entry(table.name.as_str())
                .or_insert_with(|| (table.help.as_str(), BTreeMap::new()));
            for set in sets.values() {
                let labels = table
                    .label_names
                    .iter()
                    .zip(set.values.iter())
                    .map(|(n, v)| (&**n, &**v))
                    .collect();
                *samples.entry(labels).or_default() += set.count.load(Ordering::Relaxed);
            }
            let overflow = table.overflow.load(Ordering::Relaxed);
            if overflow > 0 {
                let labels = table.label_names.iter().map(|n| (&**n, OVERFLOW)).collect();
                *samples.entry(labels).or_default() += overflow;
            }
        }
        for (name, (help, samples)) in &families {
            let mut metric = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
            for (labels, count) in samples {
                let family = metric.encode_family(labels)?;
                ConstCounter::new(*count).encode(family)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use levee_event::{Record, Tag, Value};

    use super::*;
    use crate::filters::{Filter, FilterConfig, Verdict};
    use crate::metrics::Metrics;

    #[derive(Debug, serde::Deserialize)]
    struct File {
        filters: Vec<FilterConfig>,
    }

    fn filter(toml_text: &str) -> Result<Filter, FilterError> {
        let file: File = toml::from_str(toml_text).unwrap();
        file.filters[0].build()
    }

    fn event(fields: Record) -> Event {
        Event::new(Tag::new("firehose_parsed.api"), 0, fields)
    }

    fn record(fields: &[(&str, Value)]) -> Record {
        fields
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect()
    }

    const OUTGOING: &str = r#"
        [[filters]]
        match = "firehose_parsed.**"
        type = "metric"
        name = "outgoing_msg"
        kind = "counter"
        help = "API calls by type"
        labels = { type = "$.type", country = "$.geo_ip.country", env = "prd", tag = "${tag}" }
    "#;

    #[test]
    fn counts_by_label_set_and_events_pass_unchanged() {
        let metrics = Metrics::new();
        let mut f = filter(OUTGOING).unwrap();
        assert_eq!(f.kind(), "metric");
        f.count_into(&metrics, "1_metric");
        let geo = Value::Map(Box::new(record(&[("country", "NL".into())])));
        for _ in 0..3 {
            let mut e = event(record(&[("type", "get".into()), ("geo_ip", geo.clone())]));
            let before = e.clone();
            assert_eq!(f.apply(&mut e), Verdict::Keep);
            assert_eq!(e, before);
        }
        let mut e = event(record(&[("type", "send".into())]));
        f.apply(&mut e);
        let text = metrics.encode();
        assert!(
            text.contains("# HELP outgoing_msg API calls by type"),
            "{text}"
        );
        assert!(text.contains("# TYPE outgoing_msg counter"), "{text}");
        assert!(
            text.contains(
                "outgoing_msg_total{country=\"NL\",env=\"prd\",tag=\"firehose_parsed.api\",type=\"get\"} 3"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "outgoing_msg_total{country=\"\",env=\"prd\",tag=\"firehose_parsed.api\",type=\"send\"} 1"
            ),
            "{text}"
        );
    }

    #[test]
    fn two_filters_observe_the_same_events() {
        let metrics = Metrics::new();
        let mut a = filter(OUTGOING).unwrap();
        let mut b = filter(
            r#"
            [[filters]]
            match = "**"
            type = "metric"
            name = "all_events"
            "#,
        )
        .unwrap();
        a.count_into(&metrics, "1_metric");
        b.count_into(&metrics, "2_metric");
        for _ in 0..5 {
            let mut e = event(record(&[("type", "get".into())]));
            a.apply(&mut e);
            b.apply(&mut e);
        }
        let text = metrics.encode();
        assert!(text.contains("all_events_total 5"), "{text}");
        assert!(text.contains("type=\"get\"} 5"), "{text}");
    }

    #[test]
    fn label_sets_past_the_limit_fold_into_overflow() {
        let metrics = Metrics::new();
        let mut f = filter(
            r#"
            [[filters]]
            match = "**"
            type = "metric"
            name = "by_user"
            labels = { user = "$.user", env = "prd" }
            max_label_sets = 3
            "#,
        )
        .unwrap();
        f.count_into(&metrics, "1_metric");
        for i in 0..10 {
            f.apply(&mut event(record(&[("user", format!("u{i}").into())])));
        }
        // A set seen before the limit still counts as itself.
        f.apply(&mut event(record(&[("user", "u0".into())])));
        let text = metrics.encode();
        let series: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("by_user_total{"))
            .collect();
        assert_eq!(series.len(), 4, "{text}");
        assert!(
            text.contains("by_user_total{env=\"prd\",user=\"u0\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("by_user_total{env=\"__overflow__\",user=\"__overflow__\"} 7"),
            "{text}"
        );
        assert!(
            text.contains("levee_metric_folded_events_total{metric=\"by_user\"} 7"),
            "{text}"
        );
    }

    /// Label values from records can hold anything; the page must stay
    /// parseable and each value come back as it was.
    #[test]
    fn hostile_label_values_are_escaped() {
        let metrics = Metrics::new();
        let mut f = filter(
            r#"
            [[filters]]
            match = "**"
            type = "metric"
            name = "hostile"
            labels = { v = "$.v" }
            "#,
        )
        .unwrap();
        f.count_into(&metrics, "1_metric");
        // Invalid UTF-8 reaches a record as replacement characters.
        let invalid = String::from_utf8_lossy(b"a\xff\xfeb").into_owned();
        let values = [
            "say \"hi\"",
            "back\\slash",
            "two\nlines",
            "3:len:like:a:key",
            "} 1\nfake_total 9",
            invalid.as_str(),
        ];
        for v in values {
            f.apply(&mut event(record(&[("v", v.into())])));
        }
        let text = metrics.encode();
        let lines: Vec<&str> = text.lines().filter(|l| l.starts_with("hostile")).collect();
        assert_eq!(lines.len(), values.len(), "{text}");
        assert!(!text.contains("\nfake_total"), "{text}");
        assert!(
            text.contains(r#"hostile_total{v="say \"hi\""} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"hostile_total{v="back\\slash"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"hostile_total{v="two\nlines"} 1"#),
            "{text}"
        );
        assert!(
            text.contains("hostile_total{v=\"a\u{fffd}\u{fffd}b\"} 1"),
            "{text}"
        );

        // A real parser reads every value back exactly.
        let families = crate::metrics::parse::parse(&text).unwrap();
        let hostile = families.iter().find(|f| f.name == "hostile").unwrap();
        let mut read: Vec<&str> = hostile
            .samples
            .iter()
            .map(|s| s.labels[0].1.as_str())
            .collect();
        let mut written = values.to_vec();
        read.sort_unstable();
        written.sort_unstable();
        assert_eq!(read, written);
    }

    /// Every count equals one made independently over the same data.
    #[test]
    fn counts_are_exact() {
        let metrics = Metrics::new();
        let mut f = filter(OUTGOING).unwrap();
        f.count_into(&metrics, "1_metric");
        let types = ["get_sending-domains", "post_send", "get_events", "delete_x"];
        let mut expected: HashMap<&str, u64> = HashMap::new();
        // A fixed pseudo-random sequence (xorshift), so counts are uneven.
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..20_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let t = types[(state % types.len() as u64) as usize];
            *expected.entry(t).or_default() += 1;
            f.apply(&mut event(record(&[("type", t.into())])));
        }
        let text = metrics.encode();
        let mut seen = 0;
        for line in text
            .lines()
            .filter(|l| l.starts_with("outgoing_msg_total{"))
        {
            let (labels, value) = line.rsplit_once(' ').unwrap();
            let t = labels
                .split("type=\"")
                .nth(1)
                .unwrap()
                .trim_end_matches("\"}");
            assert_eq!(value.parse::<u64>().unwrap(), expected[t], "{line}");
            seen += 1;
        }
        assert_eq!(seen, expected.len(), "{text}");
    }

    #[test]
    fn bad_configs_name_the_key() {
        let cases = [
            ("name = \"9lives\"", "name"),
            ("name = \"levee_x\"", "name"),
            ("name = \"ok\"\nlabels = { \"bad-name\" = \"x\" }", "labels"),
            ("name = \"ok\"\nlabels = { __x = \"x\" }", "labels"),
            ("name = \"ok\"\nlabels = { t = \"${nope\" }", "labels.t"),
            ("name = \"ok\"\nmax_label_sets = 0", "max_label_sets"),
            ("name = \"ok\"\nhelp = \"two\\nlines\"", "help"),
        ];
        for (body, key) in cases {
            let text = format!("[[filters]]\nmatch = \"**\"\ntype = \"metric\"\n{body}\n");
            let err = filter(&text).unwrap_err();
            assert_eq!(err.key(), Some(key), "{body}: {err}");
        }
        let unknown =
            "[[filters]]\nmatch = \"**\"\ntype = \"metric\"\nname = \"x\"\nkind = \"timer\"\n";
        assert!(toml::from_str::<File>(unknown).is_err());
    }

    #[test]
    fn keys_split_back_into_values() {
        let values = split_key("3:a:b0:5:x\ny:z");
        let values: Vec<&str> = values.iter().map(|v| &**v).collect();
        assert_eq!(values, ["a:b", "", "x\ny:z"]);
    }
}
