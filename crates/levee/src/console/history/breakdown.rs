//! One counter family's rate broken down by one label: the values with
//! the most traffic lately each as a series, the rest folded into one.

use std::collections::HashMap;

use super::{Ring, padded, push_at};

/// The most label values shown as their own series.
pub(crate) const TOP: usize = 20;

/// The name of the series the other values are folded into.
pub(crate) const OTHER: &str = "other";

/// The most values not shown whose scores are kept (to promote one that
/// grows); beyond it the lowest are forgotten.
pub(crate) const CANDIDATES: usize = 1000;

/// A value's score halves in this many points: recent traffic ranks
/// first, but one quiet point does not cost a value its series.
const HALF_LIFE: f64 = 30.0;

/// A value not shown takes a shown one's place when its score is this
/// much higher: two values close to each other do not swap back and
/// forth.
const MARGIN: f64 = 1.25;

/// The values of one label of one family.
#[derive(Default)]
pub(crate) struct Breakdown {
    /// At most [`TOP`].
    pub(crate) shown: Vec<Shown>,
    /// The rest, summed.
    pub(crate) other: Ring,
    /// The scores of values folded into `other`.
    candidates: HashMap<String, f64>,
}

/// A value shown as its own series.
pub(crate) struct Shown {
    pub(crate) value: String,
    pub(crate) ring: Ring,
    /// Its rates, each halved every [`HALF_LIFE`] points.
    score: f64,
}

impl Breakdown {
    /// Adds the `len`th point: each value's rate.
    pub(crate) fn record(&mut self, rates: &HashMap<&str, f64>, len: usize) {
        let decay = 0.5f64.powf(1.0 / HALF_LIFE);
        for shown in &mut self.shown {
            shown.score *= decay;
        }
        for score in self.candidates.values_mut() {
            *score *= decay;
        }
        // The busiest first, so the first slots go to them.
        let mut rates: Vec<(&str, f64)> = rates.iter().map(|(v, r)| (*v, *r)).collect();
        rates.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(b.0)));
        let mut other = 0.0;
        for (value, rate) in rates {
            if let Some(shown) = self.shown.iter_mut().find(|s| s.value == value) {
                push_at(&mut shown.ring, len, rate);
                shown.score += rate;
            } else if self.shown.len() < TOP {
                let mut ring = padded(0);
                push_at(&mut ring, len, rate);
                let before = self.candidates.remove(value).unwrap_or(0.0);
                self.shown.push(Shown {
                    value: value.to_owned(),
                    ring,
                    score: before + rate,
                });
            } else {
                other += rate;
                *self.candidates.entry(value.to_owned()).or_default() += rate;
            }
        }
        // A value shown but not on the page this time counted nothing.
        for shown in &mut self.shown {
            if shown.ring.len() < len {
                push_at(&mut shown.ring, len, 0.0);
            }
        }
        push_at(&mut self.other, len, other);
        self.promote(len);
        if self.candidates.len() > CANDIDATES {
            let mut scores: Vec<f64> = self.candidates.values().copied().collect();
            scores.sort_by(|a, b| b.total_cmp(a));
            let floor = scores[CANDIDATES / 2];
            self.candidates.retain(|_, score| *score > floor);
        }
    }

    /// Gives the busiest values not shown the places of the quietest shown
    /// ones, folding those into `other`. A value promoted starts its series
    /// now: its past stays in `other`, where it was counted.
    fn promote(&mut self, len: usize) {
        for _ in 0..TOP {
            let Some((best, &score)) = self
                .candidates
                .iter()
                .max_by(|a, b| a.1.total_cmp(b.1).then(b.0.cmp(a.0)))
            else {
                return;
            };
            let Some(weakest) = (0..self.shown.len())
                .min_by(|&a, &b| self.shown[a].score.total_cmp(&self.shown[b].score))
            else {
                return;
            };
            if score <= 0.0 || score <= self.shown[weakest].score * MARGIN {
                return;
            }
            let best = best.clone();
            self.candidates.remove(&best);
            let demoted = std::mem::replace(
                &mut self.shown[weakest],
                Shown {
                    value: best,
                    ring: padded(len),
                    score,
                },
            );
            for (into, v) in self.other.iter_mut().zip(&demoted.ring) {
                if !v.is_nan() {
                    *into = if into.is_nan() { *v } else { *into + v };
                }
            }
            self.candidates.insert(demoted.value, demoted.score);
        }
    }

    /// Pads every series to `len` points, for a point this label was not
    /// on the page.
    pub(crate) fn catch_up(&mut self, len: usize) {
        for shown in &mut self.shown {
            while shown.ring.len() < len {
                shown.ring.push_back(f32::NAN);
            }
        }
        while self.other.len() < len {
            self.other.push_back(f32::NAN);
        }
    }

    pub(crate) fn pop_front(&mut self) {
        for shown in &mut self.shown {
            shown.ring.pop_front();
        }
        self.other.pop_front();
    }

    /// How many values it remembers the scores of, shown or not.
    #[cfg(test)]
    pub(crate) fn remembered(&self) -> usize {
        self.shown.len() + self.candidates.len()
    }
}
