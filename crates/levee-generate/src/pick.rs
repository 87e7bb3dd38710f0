//! Random choices shared by both datasets.

use fastrand::Rng;

/// A choice among indices with integer weights, by binary search over the
/// running totals.
pub(super) struct Weighted {
    totals: Vec<u32>,
}

impl Weighted {
    /// Weights in index order; a zero weight is never picked.
    pub(super) fn new(weights: impl IntoIterator<Item = u32>) -> Weighted {
        let mut total = 0u32;
        let totals = weights
            .into_iter()
            .map(|w| {
                total = total.saturating_add(w);
                total
            })
            .collect();
        Weighted { totals }
    }

    /// Zipf-like weights `scale / (rank + 1)^exponent` for `n` items, most
    /// popular first: a few customers or clients make most of the traffic.
    pub(super) fn zipf(n: usize, exponent: f64) -> Weighted {
        Weighted::new((0..n).map(|rank| {
            let w = 1_000_000.0 / ((rank + 1) as f64).powf(exponent);
            (w as u32).max(1)
        }))
    }

    /// An index, with probability proportional to its weight.
    pub(super) fn pick(&self, rng: &mut Rng) -> usize {
        let total = self.totals.last().copied().unwrap_or(0);
        if total == 0 {
            return 0;
        }
        let x = rng.u32(..total);
        self.totals.partition_point(|&t| t <= x)
    }
}

/// True with probability `p`.
pub(super) fn chance(rng: &mut Rng, p: f64) -> bool {
    rng.f64() < p
}

/// A log-normal draw with the given median: latencies and sizes have long
/// right tails.
pub(super) fn lognormal(rng: &mut Rng, median: f64, sigma: f64) -> f64 {
    median * (sigma * normal(rng)).exp()
}

/// A standard normal draw (Box-Muller).
fn normal(rng: &mut Rng) -> f64 {
    let u1 = 1.0 - rng.f64(); // in (0, 1], so ln is finite
    let u2 = rng.f64();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// A bijective scramble of 64 bits (SplitMix64's finalizer): distinct inputs
/// give distinct, random-looking outputs, so counters make unique ids.
pub(super) fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}
