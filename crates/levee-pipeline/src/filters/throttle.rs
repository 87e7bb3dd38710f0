//! `throttle`: a rate limit per key; events over it are dropped and counted
//! in `levee_filter_dropped_events_total`.
//!
//! ```toml
//! [[filters]]
//! match = "api.**"
//! type = "throttle"
//! key = "${customer_id}"   # one limit per customer; without `key`, one for all
//! rate = 100               # events
//! per = "1s"               # per this long, on average
//! burst = 200              # and up to this many at once
//! ```
//!
//! Each key has a token bucket holding up to `burst` tokens, refilled at
//! `rate` per `per`; an event takes a token or is dropped. A new key starts
//! full. The bucket is kept as one number, the time it will next be full
//! (the generic cell rate algorithm), in exact integer arithmetic. Time is
//! arrival time: when the event reaches this filter.
//!
//! Memory is bounded by `max_keys`: when it is reached, the least recently
//! used key is forgotten (counted in `levee_filter_evicted_keys_total`), and
//! starts full if it comes back. Keys whose bucket has refilled are
//! forgotten for free, as a full bucket is what a new key gets.
//!
//! One table serves every source's router, behind a mutex held for one
//! hash lookup and a few integer operations.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use levee_event::Event;
use levee_io::units::Interval;
use prometheus_client::metrics::counter::Counter;

use super::key::Key;
use super::key_table::{Clock, KeyTable};
use super::{FilterError, Verdict, at_least_one};

/// Config of a `throttle` filter.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThrottleConfig {
    /// Tag pattern of the events this filter applies to, such as `api.**`:
    /// `*` matches one dot-separated part, `**` any number, `{a,b}` either.
    pub r#match: String,
    /// What each limit applies to: a field path (`customer_id`) or a
    /// template of several fields (`${customer_id}:${path|segment(1)}`).
    /// Events whose key renders empty share one limit. Without `key`, one
    /// limit covers every event the filter sees.
    #[serde(default)]
    pub key: Option<String>,
    /// Events let through per `per`, on average: a whole number, at least 1.
    pub rate: i64,
    /// The period `rate` counts over, such as `"1s"` or `"1m"`; more than zero.
    #[serde(default = "default_per")]
    pub per: Interval,
    /// Events let through at once after a quiet spell: a whole number, at
    /// least 1. Default: `rate`.
    #[serde(default)]
    pub burst: Option<i64>,
    /// The most keys tracked at once (each costs about 100 bytes plus its
    /// text); when full, the least recently used is forgotten and counted.
    #[serde(default = "default_max_keys")]
    pub max_keys: i64,
}

fn default_per() -> Interval {
    Interval(Duration::from_secs(1))
}

fn default_max_keys() -> i64 {
    10_000
}

impl ThrottleConfig {
    pub(super) fn build(&self) -> Result<ThrottleFilter, FilterError> {
        let rate = at_least_one("rate", self.rate)?;
        let burst = at_least_one("burst", self.burst.unwrap_or(self.rate))?;
        let max_keys = at_least_one("max_keys", self.max_keys)?;
        let per = self.per.0.as_nanos();
        if per == 0 {
            return Err(FilterError::Invalid {
                key: "per",
                reason: "must be longer than 0s, such as \"1s\"".to_owned(),
            });
        }
        Ok(ThrottleFilter {
            key: self.key.as_deref().map(Key::new).transpose()?,
            rate: u128::from(rate),
            interval: per,
            tolerance: u128::from(burst - 1).saturating_mul(per),
            state: Arc::new(Mutex::new(State {
                buckets: KeyTable::new(usize::try_from(max_keys).unwrap_or(usize::MAX)),
            })),
            clock: Clock::new(),
            evicted: Counter::default(),
        })
    }
}

/// A built `throttle` filter. Clones share the buckets.
///
/// Times are in units of 1/`rate` nanoseconds, so that one event's worth of
/// refill, `per / rate` nanoseconds, is the whole number `per`.
#[derive(Clone)]
pub(crate) struct ThrottleFilter {
    key: Option<Key>,
    rate: u128,
    /// Time one event takes to refill: `per` (in scaled units).
    interval: u128,
    /// How far ahead of now a bucket's full time may run: `(burst - 1) * per`.
    tolerance: u128,
    clock: Clock,
    state: Arc<Mutex<State>>,
    evicted: Counter,
}

/// Each key's time at which its bucket will be full again (scaled units).
struct State {
    buckets: KeyTable<u128>,
}

impl fmt::Debug for ThrottleFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThrottleFilter")
            .field("key", &self.key)
            .field("rate", &self.rate)
            .field("per_ns", &self.interval)
            .finish_non_exhaustive()
    }
}

impl ThrottleFilter {
    /// Counts evicted keys into `counter` from now on.
    pub(super) fn count_evictions_into(&mut self, counter: Counter) {
        self.evicted = counter;
    }

    pub(super) fn apply(&self, event: &Event) -> Verdict {
        let now = u128::from(self.clock.now_ns()).saturating_mul(self.rate);
        let decide = |key: &str| {
            let mut state = self.lock();
            state.buckets.expire(|&full_at| full_at <= now);
            match state.buckets.get_mut(key) {
                Some(full_at) => {
                    let from = (*full_at).max(now);
                    if from - now > self.tolerance {
                        (Verdict::Drop, 0)
                    } else {
                        *full_at = from.saturating_add(self.interval);
                        (Verdict::Keep, 0)
                    }
                }
                // A new key's bucket is full: this event takes one token.
                None => (
                    Verdict::Keep,
                    state.buckets.insert(key, now.saturating_add(self.interval)),
                ),
            }
        };
        let (verdict, evicted) = match &self.key {
            Some(key) => key.with_text(event, decide),
            None => decide(""),
        };
        if evicted > 0 {
            self.evicted.inc_by(evicted);
        }
        verdict
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding this lock leaves plain data; keep going.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use levee_event::{Record, Tag, Value};
    use tokio::time::advance;

    use super::*;
    use crate::filters::testkit;

    fn build(toml_text: &str) -> Result<ThrottleFilter, FilterError> {
        let config: ThrottleConfig =
            toml::from_str(&format!("match = \"**\"\n{toml_text}")).unwrap();
        config.build()
    }

    fn customer(id: &str) -> Event {
        let record: Record = [("customer_id".to_owned(), Value::from(id))]
            .into_iter()
            .collect();
        Event::new(Tag::new("api.call"), 0, record)
    }

    fn kept(f: &ThrottleFilter, id: &str, n: usize) -> usize {
        (0..n)
            .filter(|_| f.apply(&customer(id)) == Verdict::Keep)
            .count()
    }

    #[tokio::test(start_paused = true)]
    async fn a_burst_then_the_rate() {
        let f = build("key = \"${customer_id}\"\nrate = 100\nper = \"1s\"\nburst = 200").unwrap();
        assert_eq!(kept(&f, "c1", 1000), 200, "the burst, at once");
        advance(Duration::from_millis(10)).await;
        assert_eq!(kept(&f, "c1", 1000), 1, "one token per 10ms");
        advance(Duration::from_millis(500)).await;
        assert_eq!(kept(&f, "c1", 1000), 50);
        // Over a long steady run, the rate holds exactly.
        let mut total = 0;
        for _ in 0..1000 {
            advance(Duration::from_millis(1)).await;
            total += kept(&f, "c1", 5);
        }
        assert_eq!(total, 100);
        advance(Duration::from_secs(60)).await;
        assert_eq!(
            kept(&f, "c1", 1000),
            200,
            "a quiet spell refills the burst, no more"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn keys_have_their_own_buckets() {
        let f = build("key = \"customer_id\"\nrate = 3\nper = \"1m\"").unwrap();
        assert_eq!(kept(&f, "a", 10), 3, "burst defaults to rate");
        assert_eq!(kept(&f, "b", 10), 3);
        advance(Duration::from_secs(20)).await;
        assert_eq!(kept(&f, "a", 10), 1);
        assert_eq!(kept(&f, "b", 10), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn rates_that_do_not_divide_the_period_are_exact() {
        let f = build("rate = 3\nper = \"1s\"\nburst = 1").unwrap();
        let mut total = 0;
        for _ in 0..3000 {
            total += kept(&f, "x", 2);
            advance(Duration::from_millis(1)).await;
        }
        assert_eq!(total, 9, "3 per second for 3 seconds");
    }

    #[tokio::test(start_paused = true)]
    async fn without_a_key_one_limit_covers_all_and_empty_keys_share_one() {
        let f = build("rate = 5").unwrap();
        assert_eq!(kept(&f, "a", 3) + kept(&f, "b", 3), 5);

        let f = build("key = \"customer_id\"\nrate = 2").unwrap();
        let anonymous = || Event::new(Tag::new("api.call"), 0, Record::new());
        let kept_anonymous = (0..5)
            .filter(|_| f.apply(&anonymous()) == Verdict::Keep)
            .count();
        assert_eq!(kept_anonymous + kept(&f, "", 5), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn max_keys_evicts_the_least_recently_used_and_counts() {
        let f = build("key = \"customer_id\"\nrate = 1\nper = \"1h\"\nmax_keys = 2").unwrap();
        assert_eq!(kept(&f, "a", 2), 1);
        assert_eq!(kept(&f, "b", 2), 1);
        assert_eq!(kept(&f, "a", 1), 0, "a is used again, so b is older");
        assert_eq!(kept(&f, "c", 1), 1);
        assert_eq!(f.evicted.get(), 1);
        // b was forgotten: it comes back with a full bucket.
        assert_eq!(kept(&f, "b", 2), 1);
        assert_eq!(f.evicted.get(), 2);
        assert_eq!(kept(&f, "b", 1), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn refilled_buckets_are_forgotten_without_eviction() {
        let f = build("key = \"customer_id\"\nrate = 10\nmax_keys = 2").unwrap();
        kept(&f, "a", 1);
        kept(&f, "b", 1);
        advance(Duration::from_millis(100)).await;
        kept(&f, "c", 1);
        kept(&f, "d", 1);
        assert_eq!(f.evicted.get(), 0);
        assert_eq!(f.lock().buckets.len(), 2);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_routers_share_one_limit() {
        // A limit no one refills within the test: exactly the burst passes.
        let filter =
            "type = \"throttle\"\nkey = \"customer_id\"\nrate = 1\nper = \"1h\"\nburst = 150";
        let batches = |_: usize| -> Vec<Vec<Event>> {
            (0..20)
                .map(|_| {
                    (0..100)
                        .map(|i| customer(if i % 2 == 0 { "a" } else { "b" }))
                        .collect()
                })
                .collect()
        };
        let report = testkit::route_concurrently(filter, 2, batches).await;
        assert_eq!(
            report.routed, 300,
            "150 for each customer, over both sources"
        );
        assert_eq!(report.dropped, 4_000 - 300);
        let a = report
            .events
            .iter()
            .filter(|e| e.record["customer_id"] == Value::from("a"))
            .count();
        assert_eq!(a, 150);
    }

    #[test]
    fn hostile_config_is_refused_with_the_key() {
        let refused = |text: &str, key: &str| {
            let err = build(text).unwrap_err();
            assert!(err.to_string().starts_with(key), "{text}: {err}");
        };
        refused("rate = 0", "`rate`");
        refused("rate = -100", "`rate`");
        refused("rate = 10\nburst = 0", "`burst`");
        refused("rate = 10\nburst = -1", "`burst`");
        refused("rate = 10\nper = \"0s\"", "`per`");
        refused("rate = 10\nmax_keys = 0", "`max_keys`");
        refused("rate = 10\nkey = \"\"", "`key`");
        refused("rate = 10\nkey = \"${}\"", "`key`");
        refused("rate = 10\nkey = \"fixed$$\"", "`key`");

        let parse = |text: &str| {
            toml::from_str::<ThrottleConfig>(&format!("match = \"**\"\n{text}"))
                .unwrap_err()
                .to_string()
        };
        assert!(parse("per = \"1s\"").contains("rate"));
        assert!(parse("rate = 1.5").contains("floating point `1.5`"));
        assert!(parse("rate = 1\nper = \"often\"").contains("30s"));
        assert!(parse("rate = 1\ninterval = \"1s\"").contains("interval"));
    }

    #[test]
    fn huge_values_do_not_overflow() {
        let f = build(&format!(
            "rate = {max}\nburst = {max}\nper = \"100000y\"",
            max = i64::MAX
        ))
        .unwrap();
        assert_eq!(kept(&f, "x", 100), 100);
        let f = build("rate = 1\nburst = 1\nper = \"100000y\"").unwrap();
        assert_eq!(kept(&f, "x", 100), 1);
    }
}
