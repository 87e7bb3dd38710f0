//! The flow right now, for the pipeline page's edges and nodes: fresher
//! than the history's points, read from the registry when the page asks.
//!
//! Rates are taken over the last few seconds, not between two polls: an
//! output's events leave in batches (every `flush_interval`, 1 s by
//! default), so between reads 2 s apart its rate would swing between 0
//! and several times the truth.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use levee_pipeline::metrics::Metrics;
use levee_pipeline::metrics::flow::{self, Component, Rates, Snapshot, Watch};
use levee_pipeline::metrics::parse::parse;

use super::history::History;

/// Each component's rates, and which one is falling behind, by index.
pub(crate) type Flow = (Vec<(Component, Rates)>, Option<usize>);

/// Reads closer than this to the last one answer its flow again: two
/// pages open, or a reload, cost one read.
const EVERY: Duration = Duration::from_secs(1);

/// Rates are over about this long: several flushes of a default buffer.
const WINDOW: Duration = Duration::from_secs(5);

pub(crate) struct Live {
    metrics: Arc<Metrics>,
    /// For the first reads' rates: the sampler's last page.
    history: Arc<History>,
    state: Mutex<State>,
}

struct State {
    /// The pages read over the last [`WINDOW`] and a bit, oldest first.
    reads: VecDeque<(Instant, Snapshot)>,
    /// The flow the last read gave.
    flow: Option<Flow>,
    watch: Watch,
}

impl Live {
    pub(crate) fn new(metrics: Arc<Metrics>, history: Arc<History>) -> Live {
        Live {
            metrics,
            history,
            state: Mutex::new(State {
                reads: VecDeque::new(),
                flow: None,
                // A component behind for this many reads in a row (about
                // 6 s at the page's 2 s refresh) is falling behind.
                watch: Watch::new(3),
            }),
        }
    }

    /// Each component's rates now, and which one is falling behind.
    pub(crate) fn flow(&self) -> Flow {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        if let (Some((then, _)), Some(flow)) = (state.reads.back(), &state.flow)
            && now.duration_since(*then) < EVERY
        {
            return flow.clone();
        }
        let snapshot = match parse(&self.metrics.encode_classic()) {
            Ok(families) => Snapshot::from_families(&families),
            Err(_) => Snapshot::default(),
        };
        // Pages older than the window are not needed, but the newest of
        // them is: it makes the window whole.
        while state.reads.len() > 1 && now.duration_since(state.reads[1].0) >= WINDOW {
            state.reads.pop_front();
        }
        let since = match state.reads.front() {
            Some((then, before)) => Some((*then, before.clone())),
            None => self.history.read(|s| s.last.clone()),
        };
        let rates = match &since {
            Some((then, before)) => {
                flow::rates(before, &snapshot, now.duration_since(*then).as_secs_f64())
            }
            // No rate yet: the figures, with every rate unknown.
            None => flow::rates(&snapshot, &snapshot, 0.0),
        };
        let behind = state.watch.update(&rates);
        let flow = (rates, behind);
        state.reads.push_back((now, snapshot));
        state.flow = Some(flow.clone());
        flow
    }
}
