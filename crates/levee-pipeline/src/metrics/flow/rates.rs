//! Per-second rates between two snapshots, and which component is falling
//! behind.

use std::collections::HashMap;

use super::{Component, Figures, Kind, Snapshot};

/// A buffer this full (of its limit) is falling behind at once.
const FULL: f64 = 0.9;

/// The oldest waiting event must be at least this old, and have aged by
/// most of the interval, for an output to count as stalled: a healthy
/// output's oldest event is younger than its batch timeout's first seconds.
const STALLED_AFTER_SECONDS: f64 = 10.0;

/// Fewer events out than this share of those in, while the buffer grows,
/// is filling up (a little slack for events in flight between the two
/// counters).
const OUT_SHARE: f64 = 0.95;

/// ... and its oldest event this old: a healthy buffer hands its events on
/// every `flush_interval` (1 s by default), so within one interval fewer
/// out than in is only the next flush not yet come.
const FILLING_AGE_SECONDS: f64 = 5.0;

/// Why a component is falling behind, least to most serious.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Behind {
    /// Its buffer grew, fewer events left than came in, and its oldest
    /// event has waited 5 s (or, without an age, the buffer is half full).
    Filling,
    /// Its oldest waiting event aged by most of the interval: nothing left
    /// the buffer.
    Stalled,
    /// Its buffer is at least 90% full.
    Full,
}

impl Behind {
    /// A word for it, for a status line.
    pub fn as_str(self) -> &'static str {
        match self {
            Behind::Filling => "filling",
            Behind::Stalled => "stalled",
            Behind::Full => "full",
        }
    }
}

/// One component between two snapshots: per-second rates of its counters,
/// its figures as they are now, and whether it fell behind in the interval.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Rates {
    /// Events in per second.
    pub events_in_per_s: Option<f64>,
    /// Events out per second.
    pub events_out_per_s: Option<f64>,
    /// Bytes per second.
    pub bytes_per_s: Option<f64>,
    /// Errors per second.
    pub errors_per_s: Option<f64>,
    /// Drops per second.
    pub drops_per_s: Option<f64>,
    /// Retries per second.
    pub retries_per_s: Option<f64>,
    /// The figures now: totals, and the gauges (buffer, oldest age,
    /// checkpoint lag) as they are.
    pub now: Figures,
    /// Why it fell behind in this interval, if it did.
    pub behind: Option<Behind>,
}

/// Each component of `now` with its rates since `prev`, `seconds` earlier.
/// A rate is `None` when either page lacks the figure, the component is
/// new, the counter went down (a restart: no negative rate), or `seconds`
/// is not a positive time.
pub fn rates(prev: &Snapshot, now: &Snapshot, seconds: f64) -> Vec<(Component, Rates)> {
    let before: HashMap<(Kind, &str), &Figures> = prev
        .components
        .iter()
        .map(|(c, f)| ((c.kind, c.name.as_str()), f))
        .collect();
    let empty = Figures::default();
    now.components
        .iter()
        .map(|(component, figures)| {
            let was = before
                .get(&(component.kind, component.name.as_str()))
                .copied()
                .unwrap_or(&empty);
            let per_s = |pick: fn(&Figures) -> Option<f64>| rate(pick(was), pick(figures), seconds);
            let mut r = Rates {
                events_in_per_s: per_s(|f| f.events_in),
                events_out_per_s: per_s(|f| f.events_out),
                bytes_per_s: per_s(|f| f.bytes),
                errors_per_s: per_s(|f| f.errors),
                drops_per_s: per_s(|f| f.drops),
                retries_per_s: per_s(|f| f.retries),
                now: figures.clone(),
                behind: None,
            };
            r.behind = behind(was, &r, seconds);
            (component.clone(), r)
        })
        .collect()
}

fn rate(prev: Option<f64>, now: Option<f64>, seconds: f64) -> Option<f64> {
    let delta = now? - prev?;
    let ok = seconds > 0.0 && seconds.is_finite() && delta >= 0.0 && delta.is_finite();
    ok.then(|| delta / seconds)
}

/// Whether the component fell behind between `was` and `r.now`.
fn behind(was: &Figures, r: &Rates, seconds: f64) -> Option<Behind> {
    let now = &r.now;
    if now.buffer_fill.is_some_and(|fill| fill >= FULL) {
        return Some(Behind::Full);
    }
    if let (Some(old), Some(age)) = (was.oldest_age_seconds, now.oldest_age_seconds)
        && age >= STALLED_AFTER_SECONDS
        && age - old >= 0.8 * seconds
    {
        return Some(Behind::Stalled);
    }
    let grew = matches!(
        (was.buffer_bytes, now.buffer_bytes),
        (Some(old), Some(new)) if new > old
    );
    let slower = match (r.events_in_per_s, r.events_out_per_s) {
        (Some(i), Some(o)) => o < i * OUT_SHARE,
        // Fluentd counts no events out of an output.
        _ => true,
    };
    // Without an age (Fluentd, Fluent Bit), a half-full buffer says it.
    let waiting = match now.oldest_age_seconds {
        Some(age) => age >= FILLING_AGE_SECONDS,
        None => now.buffer_fill.is_some_and(|fill| fill >= 0.5),
    };
    (grew && slower && waiting).then_some(Behind::Filling)
}

/// Which component is falling behind: one whose interval was behind for
/// `intervals` in a row (a full buffer at once), so one slow flush does
/// not light a row up.
#[derive(Debug)]
pub struct Watch {
    intervals: u32,
    /// Intervals in a row each component was behind, by kind and name.
    streaks: HashMap<(Kind, String), u32>,
}

impl Watch {
    /// A watch that names a component after `intervals` behind in a row
    /// (at least 1).
    pub fn new(intervals: u32) -> Watch {
        Watch {
            intervals: intervals.max(1),
            streaks: HashMap::new(),
        }
    }

    /// Counts this interval in, and says which of `rates` is falling
    /// behind (the most serious reason, then the longest streak, then the
    /// first), by index, if any is.
    pub fn update(&mut self, rates: &[(Component, Rates)]) -> Option<usize> {
        let mut streaks = HashMap::with_capacity(rates.len());
        let mut worst: Option<(Behind, u32, usize)> = None;
        for (i, (component, r)) in rates.iter().enumerate() {
            let Some(why) = r.behind else { continue };
            let key = (component.kind, component.name.clone());
            let streak = self.streaks.get(&key).copied().unwrap_or(0) + 1;
            streaks.insert(key, streak);
            if streak < self.intervals && why != Behind::Full {
                continue;
            }
            if worst.is_none_or(|(w, s, _)| (why, streak) > (w, s)) {
                worst = Some((why, streak, i));
            }
        }
        // Components not behind now (or gone) start again from zero.
        self.streaks = streaks;
        worst.map(|(_, _, i)| i)
    }
}
