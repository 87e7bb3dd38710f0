//! When each line happens: an even share of lines per day, more of them in
//! the (UTC) afternoon than at night, each day's curve a little different.

use std::f64::consts::TAU;

use fastrand::Rng;

use super::DAY_NANOS;
use super::pick::mix;

/// The day is cut into quarter hours, each with its own traffic weight.
const BUCKETS: usize = 96;

/// Traffic peaks at this UTC hour (midday on the US east coast) and is
/// lowest twelve hours later.
const PEAK_HOUR: f64 = 17.0;

/// Peak-to-trough swing: the busiest quarter hour has about four times the
/// traffic of the quietest.
const SWING: f64 = 0.6;

/// Maps line numbers to event times that increase with the line number.
pub(super) struct Timeline {
    start: i64,
    lines: u64,
    days: u32,
    seed: u64,
    /// The day whose curve `shares` holds.
    day: Option<u32>,
    /// Running share of the day's traffic at the start of each bucket,
    /// from 0.0 to 1.0.
    shares: [f64; BUCKETS + 1],
    last: i64,
}

impl Timeline {
    /// `days` is at least 1.
    pub(super) fn new(start: i64, lines: u64, days: u32, seed: u64) -> Timeline {
        Timeline {
            start,
            lines,
            days,
            seed,
            day: None,
            shares: [0.0; BUCKETS + 1],
            last: start,
        }
    }

    /// The event time of line `index` (0-based), never before the last one.
    pub(super) fn time_of(&mut self, index: u64, rng: &mut Rng) -> i64 {
        // Each line owns an equal slot of the span; jitter moves it inside
        // its slot only, so order is kept while gaps vary.
        let jitter = (rng.f64() - 0.5) * 0.9;
        let fraction = (index as f64 + 0.5 + jitter) / self.lines.max(1) as f64;
        let position = fraction * f64::from(self.days);
        let day = (position as u32).min(self.days - 1);
        let in_day = (position - f64::from(day)).clamp(0.0, 1.0);
        if self.day != Some(day) {
            self.shape_day(day);
        }
        let bucket = self
            .shares
            .partition_point(|&s| s <= in_day)
            .clamp(1, BUCKETS)
            - 1;
        let (lo, hi) = (self.shares[bucket], self.shares[bucket + 1]);
        let within = if hi > lo {
            (in_day - lo) / (hi - lo)
        } else {
            0.0
        };
        let offset = (bucket as f64 + within.clamp(0.0, 1.0)) / BUCKETS as f64 * DAY_NANOS as f64;
        let time = self
            .start
            .saturating_add(i64::from(day).saturating_mul(DAY_NANOS))
            .saturating_add(offset as i64);
        // Float rounding at bucket edges must not step back in time.
        self.last = self.last.max(time);
        self.last
    }

    /// Computes day `day`'s curve: the daily rhythm times a little noise
    /// drawn from the seed and the day, so it does not depend on the lines.
    fn shape_day(&mut self, day: u32) {
        let mut noise = Rng::with_seed(mix(self.seed ^ mix(u64::from(day))));
        let mut total = 0.0;
        self.shares[0] = 0.0;
        for b in 0..BUCKETS {
            let hour = (b as f64 + 0.5) * 24.0 / BUCKETS as f64;
            let rhythm = 1.0 + SWING * (TAU * (hour - PEAK_HOUR) / 24.0).cos();
            total += rhythm * (0.85 + 0.3 * noise.f64());
            self.shares[b + 1] = total;
        }
        for share in &mut self.shares {
            *share /= total;
        }
        self.day = Some(day);
    }
}
