//! The history behind the console's graphs, kept in memory by levee
//! itself: every `resolution` (10 s unless set) the sampler reads the
//! registry's page, as a scraper would, and keeps
//!
//! - per component (the flow model's rows), its events per second;
//! - per counter family, its rate in all and broken down by each of its
//!   labels: the [`TOP`] label values with the most traffic lately, and
//!   the rest folded into one series, [`OTHER`].
//!
//! Everything is bounded: [`POINTS`] points per series (an hour at 10 s),
//! at most [`TOP`] + 1 series per family and label, and the values not
//! shown are remembered only as a score, at most [`CANDIDATES`] of them.

mod breakdown;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use levee_pipeline::metrics::Metrics;
use levee_pipeline::metrics::flow::{self, Kind, Rates, Snapshot};
use levee_pipeline::metrics::parse::{Family, MetricType, parse};

pub(crate) use breakdown::{Breakdown, OTHER};

/// Points kept per series: an hour at the default 10 s.
pub(crate) const POINTS: usize = 360;

/// A series of points, aligned with [`State::times`]: `NaN` where it has
/// no value (before it was first seen). `f32`: a graph needs no more, and
/// it halves the memory.
pub(crate) type Ring = VecDeque<f32>;

/// What the sampler keeps, and the latest flow between two pages.
pub(crate) struct History {
    resolution: Duration,
    state: Mutex<State>,
}

/// One counter family's history.
pub(crate) struct FamilyHistory {
    pub(crate) help: String,
    /// Its rate in all.
    pub(crate) total: Ring,
    /// Its rate by each of its labels.
    pub(crate) by: BTreeMap<String, Breakdown>,
    /// Each series' count at the last point, by its labels.
    last: HashMap<Vec<(String, String)>, f64>,
}

#[derive(Default)]
pub(crate) struct State {
    /// Each point's time, milliseconds since the epoch.
    pub(crate) times: VecDeque<i64>,
    /// Events per second of each component, by kind and name.
    pub(crate) components: HashMap<(Kind, String), Ring>,
    pub(crate) families: BTreeMap<String, FamilyHistory>,
    /// The last page read, and when.
    pub(crate) last: Option<(Instant, Snapshot)>,
}

impl History {
    pub(crate) fn new(resolution: Duration) -> History {
        History {
            resolution,
            state: Mutex::new(State::default()),
        }
    }

    pub(crate) fn resolution(&self) -> Duration {
        self.resolution
    }

    /// Reads the history; `f` must be quick: the sampler waits for it.
    pub(crate) fn read<T>(&self, f: impl FnOnce(&State) -> T) -> T {
        f(&self.state.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Adds a point from a page read at `at` (`epoch_ms` by the clock).
    /// The first page only sets where counting starts.
    pub(crate) fn record(&self, at: Instant, epoch_ms: i64, families: &[Family]) {
        let snapshot = Snapshot::from_families(families);
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let Some((then, before)) = state.last.take() else {
            for family in counters(families) {
                state
                    .families
                    .entry(family.name.clone())
                    .or_insert_with(|| FamilyHistory::new(family))
                    .last = counts(family);
            }
            state.last = Some((at, snapshot));
            return;
        };
        let seconds = at.duration_since(then).as_secs_f64();
        state.times.push_back(epoch_ms);
        let len = state.times.len();
        let rates = flow::rates(&before, &snapshot, seconds);
        for (component, r) in &rates {
            let ring = state
                .components
                .entry((component.kind, component.name.clone()))
                .or_insert_with(|| padded(len - 1));
            ring.push_back(throughput(r).map_or(f32::NAN, |v| v as f32));
        }
        for family in counters(families) {
            state
                .families
                .entry(family.name.clone())
                .or_insert_with(|| FamilyHistory::new(family))
                .record(family, seconds, len);
        }
        // Series no page had this time (a component gone) still move on.
        for ring in state.components.values_mut() {
            if ring.len() < len {
                ring.push_back(f32::NAN);
            }
        }
        for family in state.families.values_mut() {
            family.catch_up(len);
        }
        if state.times.len() > POINTS {
            state.times.pop_front();
            for ring in state.components.values_mut() {
                ring.pop_front();
            }
            for family in state.families.values_mut() {
                family.pop_front();
            }
        }
        state.last = Some((at, snapshot));
    }
}

/// A series as JSON: numbers to a thousandth (what a graph can show; an
/// `f32`'s last digits would only weigh the answer), `null` where it has
/// no value.
pub(crate) fn to_json(ring: &Ring) -> serde_json::Value {
    ring.iter()
        .map(|&v| {
            if v.is_finite() {
                serde_json::json!((f64::from(v) * 1000.0).round() / 1000.0)
            } else {
                serde_json::Value::Null
            }
        })
        .collect()
}

/// What a component's sparkline shows: events out, or in where it counts
/// none out (a source).
pub(crate) fn throughput(r: &Rates) -> Option<f64> {
    r.events_out_per_s.or(r.events_in_per_s)
}

/// Pushes `value` as the `len`th point of `ring`, with no value for the
/// points it missed.
pub(crate) fn push_at(ring: &mut Ring, len: usize, value: f64) {
    while ring.len() + 1 < len {
        ring.push_back(f32::NAN);
    }
    ring.push_back(value as f32);
}

/// A new series with `n` points it has no value for.
pub(crate) fn padded(n: usize) -> Ring {
    let mut ring = VecDeque::with_capacity(POINTS + 1);
    ring.extend(std::iter::repeat_n(f32::NAN, n));
    ring
}

fn counters(families: &[Family]) -> impl Iterator<Item = &Family> {
    families.iter().filter(|f| f.kind == MetricType::Counter)
}

/// Each series' count, by its labels (`_created` samples are times, not
/// counts).
fn counts(family: &Family) -> HashMap<Vec<(String, String)>, f64> {
    family
        .samples
        .iter()
        .filter(|s| !s.name.ends_with("_created") && s.value.is_finite())
        .map(|s| {
            let mut labels = s.labels.clone();
            labels.sort();
            (labels, s.value)
        })
        .collect()
}

impl FamilyHistory {
    fn new(family: &Family) -> FamilyHistory {
        FamilyHistory {
            help: family.help.clone().unwrap_or_default(),
            total: Ring::new(),
            by: BTreeMap::new(),
            last: HashMap::new(),
        }
    }

    /// Adds this page's point, `seconds` after the last; `len` is the
    /// number of points with this one.
    fn record(&mut self, family: &Family, seconds: f64, len: usize) {
        let now = counts(family);
        let per_s = |delta: f64| if seconds > 0.0 { delta / seconds } else { 0.0 };
        let mut total = 0.0;
        // Per label, the rate of each of its values.
        let mut by: BTreeMap<&str, HashMap<&str, f64>> = now
            .keys()
            .flatten()
            .map(|(name, _)| (name.as_str(), HashMap::new()))
            .collect();
        for (labels, &count) in &now {
            // A series seen for the first time counted from 0; one that
            // went down was restarted, and counted again from 0.
            let before = self.last.get(labels).copied().unwrap_or(0.0);
            let delta = if count >= before {
                count - before
            } else {
                count
            };
            let rate = per_s(delta);
            total += rate;
            // A series without the label is counted under "" in its
            // breakdown, so every breakdown adds up to the total.
            for (name, values) in by.iter_mut() {
                let value = labels
                    .iter()
                    .find(|(n, _)| n == name)
                    .map_or("", |(_, v)| v.as_str());
                *values.entry(value).or_default() += rate;
            }
        }
        push_at(&mut self.total, len, total);
        for (label, values) in by {
            self.by
                .entry(label.to_owned())
                .or_default()
                .record(&values, len);
        }
        self.last = now;
    }

    /// Pads what this point did not reach to `len` points.
    fn catch_up(&mut self, len: usize) {
        if self.total.len() < len {
            self.total.push_back(f32::NAN);
        }
        for breakdown in self.by.values_mut() {
            breakdown.catch_up(len);
        }
    }

    fn pop_front(&mut self) {
        self.total.pop_front();
        for breakdown in self.by.values_mut() {
            breakdown.pop_front();
        }
    }
}

/// Milliseconds since the epoch, now.
fn epoch_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Takes a point every `resolution`, until the task is dropped.
pub(crate) async fn sample(history: Arc<History>, metrics: Arc<Metrics>) {
    let mut every = tokio::time::interval(history.resolution);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut warned = false;
    loop {
        every.tick().await;
        match parse(&metrics.encode_classic()) {
            Ok(families) => history.record(Instant::now(), epoch_ms(), &families),
            // levee's own page always parses; if it ever did not, say so
            // once rather than every few seconds.
            Err(e) if !warned => {
                warned = true;
                tracing::warn!("console: cannot read the metrics page: {e}");
            }
            Err(_) => {}
        }
    }
}

#[cfg(test)]
mod tests;
