//! What the metric filters measured, by label set, and how a scrape shows
//! it: counters, gauges and histograms through the registry crate, and
//! summaries, which that crate has no type for, written here.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;

use super::{MetricKind, OVERFLOW, add_f64};

/// What one metric filter measured, by label set; what the registry reads.
#[derive(Debug)]
pub(crate) struct MetricTable {
    pub(super) name: String,
    pub(super) help: String,
    pub(super) kind: MetricKind,
    /// A histogram's upper bounds, without `+Inf`; empty for other kinds.
    pub(super) bounds: Box<[f64]>,
    pub(super) label_names: Box<[Box<str>]>,
    pub(super) max_label_sets: usize,
    /// Keyed by the label values, each written as its length in bytes, `:`
    /// and the value, so no value can run into the next. foldhash, seeded
    /// per process: SipHash was a third of a counter's cost per event.
    pub(super) sets: RwLock<HashMap<Box<str>, LabelSet, foldhash::fast::RandomState>>,
    /// What events of label sets past `max_label_sets` held.
    pub(super) overflow: Observations,
}

#[derive(Debug)]
pub(super) struct LabelSet {
    pub(super) values: Box<[Box<str>]>,
    pub(super) observed: Observations,
}

/// One label set's figures. Every kind uses the fields it needs.
#[derive(Debug)]
pub(super) struct Observations {
    /// Events seen: a counter's value, a summary's count; for the others,
    /// whether the set has been seen at all.
    count: AtomicU64,
    /// The bits of an `f64`: a gauge's value, or the sum of observations.
    value: AtomicU64,
    /// A histogram's observations per bucket, not cumulative, the last one
    /// `+Inf`'s; empty for other kinds.
    buckets: Box<[AtomicU64]>,
}

impl Observations {
    /// Nothing observed yet, with `buckets` buckets.
    pub(super) fn new(buckets: usize) -> Observations {
        Observations {
            count: AtomicU64::new(0),
            value: AtomicU64::new(0f64.to_bits()),
            buckets: (0..buckets).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// How many buckets it has.
    pub(super) fn buckets(&self) -> usize {
        self.buckets.len()
    }
}

impl MetricTable {
    /// Records one event's `value` (unused by counters) into `into`, one of
    /// this table's label sets.
    pub(super) fn observe(&self, into: &Observations, value: f64) {
        into.count.fetch_add(1, Ordering::Relaxed);
        match self.kind {
            MetricKind::Counter => {}
            MetricKind::Gauge => into.value.store(value.to_bits(), Ordering::Relaxed),
            MetricKind::Summary => add_f64(&into.value, value),
            MetricKind::Histogram => {
                // The first bound at least `value` (`le` is inclusive);
                // past them all, `+Inf`'s bucket.
                let bucket = self.bounds.partition_point(|&bound| bound < value);
                if let Some(b) = into.buckets.get(bucket) {
                    b.fetch_add(1, Ordering::Relaxed);
                }
                add_f64(&into.value, value);
            }
        }
    }
}

/// A label set's figures as one scrape read them.
#[derive(Debug, Clone, Default)]
struct Reading {
    count: u64,
    value: f64,
    buckets: Vec<u64>,
}

impl Reading {
    fn of(observed: &Observations) -> Reading {
        Reading {
            count: observed.count.load(Ordering::Relaxed),
            value: f64::from_bits(observed.value.load(Ordering::Relaxed)),
            buckets: observed
                .buckets
                .iter()
                .map(|b| b.load(Ordering::Relaxed))
                .collect(),
        }
    }

    /// Adds a reading of the same label set from another filter of the
    /// same name: a gauge takes the later filter's value.
    fn add(&mut self, kind: MetricKind, other: Reading) {
        if kind == MetricKind::Gauge {
            self.value = other.value;
        } else {
            self.value += other.value;
        }
        self.count += other.count;
        for (mine, theirs) in self.buckets.iter_mut().zip(other.buckets) {
            *mine += theirs;
        }
    }
}

/// A family's label sets (label name, value) and what they read.
type Samples<'a> = BTreeMap<Vec<(&'a str, &'a str)>, Reading>;

/// One metric as a scrape shows it: the tables of its name added up.
struct Family<'a> {
    help: &'a str,
    kind: MetricKind,
    bounds: &'a [f64],
    samples: Samples<'a>,
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

    /// Every table, read under their locks, grouped by name, in name order,
    /// to `show`. Scrapes may allocate.
    fn read<T>(&self, show: impl FnOnce(&BTreeMap<&str, Family<'_>>) -> T) -> T {
        let tables = self.0.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let held: Vec<_> = tables
            .iter()
            .map(|t| t.sets.read().unwrap_or_else(|p| p.into_inner()))
            .collect();
        let mut families: BTreeMap<&str, Family<'_>> = BTreeMap::new();
        for (table, sets) in tables.iter().zip(&held) {
            let family = families
                .entry(table.name.as_str())
                .or_insert_with(|| Family {
                    help: &table.help,
                    kind: table.kind,
                    bounds: &table.bounds,
                    samples: BTreeMap::new(),
                });
            // `levee validate` refuses filters of one name that disagree;
            // should any get here, the first one's shape is shown.
            if family.kind != table.kind || family.bounds != &*table.bounds {
                continue;
            }
            let overflow = (table.overflow.count.load(Ordering::Relaxed) > 0).then(|| {
                let labels = table.label_names.iter().map(|n| (&**n, OVERFLOW)).collect();
                (labels, Reading::of(&table.overflow))
            });
            let named = sets.values().map(|set| {
                let labels = table
                    .label_names
                    .iter()
                    .zip(set.values.iter())
                    .map(|(n, v)| (&**n, &**v))
                    .collect();
                (labels, Reading::of(&set.observed))
            });
            for (labels, reading) in named.chain(overflow) {
                match family.samples.entry(labels) {
                    std::collections::btree_map::Entry::Vacant(e) => {
                        e.insert(reading);
                    }
                    std::collections::btree_map::Entry::Occupied(mut e) => {
                        e.get_mut().add(table.kind, reading);
                    }
                }
            }
        }
        show(&families)
    }

    /// Writes the summaries in the OpenMetrics text format (which the
    /// classic format shares for them): `_sum` and `_count` per label set.
    pub(crate) fn encode_summaries(&self, out: &mut String) {
        self.read(|families| {
            for (name, family) in families {
                if family.kind != MetricKind::Summary {
                    continue;
                }
                // HELP as the registry crate writes it, so the classic
                // encoder treats every family's alike.
                out.push_str(&format!(
                    "# HELP {name} {}\n# TYPE {name} summary\n",
                    family.help
                ));
                for (labels, reading) in &family.samples {
                    let labels = label_text(labels);
                    out.push_str(&format!("{name}_sum{labels} {:?}\n", reading.value));
                    out.push_str(&format!("{name}_count{labels} {}\n", reading.count));
                }
            }
        });
    }
}

/// `{name="value",...}` with values escaped as both text formats want
/// them, or nothing for no labels.
fn label_text(labels: &[(&str, &str)]) -> String {
    if labels.is_empty() {
        return String::new();
    }
    let mut text = String::from("{");
    for (i, (name, value)) in labels.iter().enumerate() {
        if i > 0 {
            text.push(',');
        }
        text.push_str(name);
        text.push_str("=\"");
        for c in value.chars() {
            match c {
                '\\' => text.push_str("\\\\"),
                '"' => text.push_str("\\\""),
                '\n' => text.push_str("\\n"),
                c => text.push(c),
            }
        }
        text.push('"');
    }
    text.push('}');
    text
}

impl Collector for MetricTables {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        self.read(|families| {
            for (name, family) in families {
                let kind = match family.kind {
                    MetricKind::Counter => MetricType::Counter,
                    MetricKind::Gauge => MetricType::Gauge,
                    MetricKind::Histogram => MetricType::Histogram,
                    // Written by `encode_summaries`.
                    MetricKind::Summary => continue,
                };
                let mut metric = encoder.encode_descriptor(name, family.help, None, kind)?;
                for (labels, reading) in &family.samples {
                    let mut sample = metric.encode_family(labels)?;
                    match family.kind {
                        MetricKind::Counter => ConstCounter::new(reading.count).encode(sample)?,
                        MetricKind::Gauge => sample.encode_gauge(&reading.value)?,
                        MetricKind::Histogram => {
                            let buckets: Vec<(f64, u64)> = family
                                .bounds
                                .iter()
                                .copied()
                                .chain([f64::INFINITY])
                                .zip(reading.buckets.iter().copied())
                                .collect();
                            // The count from the buckets read, so `+Inf`'s
                            // bucket always equals it.
                            let count = reading.buckets.iter().sum();
                            sample.encode_histogram::<NoLabelSet>(
                                reading.value,
                                count,
                                &buckets,
                                None,
                            )?;
                        }
                        MetricKind::Summary => {}
                    }
                }
            }
            Ok(())
        })
    }
}
