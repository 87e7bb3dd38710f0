//! `dedupe`: drops (and counts) an event whose key was already seen within
//! a window.
//!
//! ```toml
//! [[filters]]
//! match = "events.**"
//! type = "dedupe"
//! key = "message_id"          # or a template: "${message_id}:${type}"
//! window = "10s"
//! max_keys = 100000
//! ```
//!
//! The first event of a key is kept and opens a window; events of that key
//! within the window are dropped; the first one after it is kept and opens
//! the next. By default the window is measured in arrival time (when the
//! event reaches this filter), which holds whatever the events claim about
//! themselves; `time = "event"` measures it in event time instead, for
//! replays and backfills, where arrival time says nothing.
//!
//! Memory is bounded by `max_keys`: when it is reached, the key seen
//! longest ago is forgotten (counted in
//! `levee_filter_evicted_keys_total`), so a duplicate of it would pass.
//! Keys whose window has passed are forgotten for free.
//!
//! One table serves every source's router, behind a mutex held for one
//! hash lookup and insert.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};

use levee_event::Event;
use levee_io::units::Interval;
use prometheus_client::metrics::counter::Counter;

use super::key::Key;
use super::key_table::{Clock, KeyTable};
use super::{FilterError, Verdict, at_least_one};

/// Config of a `dedupe` filter.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DedupeConfig {
    /// Tag pattern of the events this filter applies to, such as `events.**`:
    /// `*` matches one dot-separated part, `**` any number, `{a,b}` either.
    pub r#match: String,
    /// What makes two events the same: a field path (`message_id`), or a
    /// template of several fields (`${message_id}:${type}`). An event whose
    /// key renders empty (the fields are missing) is never a duplicate.
    pub key: String,
    /// How long after a kept event its duplicates are dropped, such as
    /// `"10s"` or `"5m"`; more than zero.
    pub window: Interval,
    /// The most keys remembered at once (each costs about 100 bytes plus
    /// its text); when full, the oldest is forgotten and counted.
    #[serde(default = "default_max_keys")]
    pub max_keys: i64,
    /// Which clock the window runs on: `arrival` (the default: when the
    /// event reaches this filter) or `event` (the event's own time, for
    /// replays; a duplicate may then come before the kept event, within
    /// the window either way).
    #[serde(default)]
    pub time: DedupeTime,
}

fn default_max_keys() -> i64 {
    100_000
}

/// The clock a `dedupe` window runs on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DedupeTime {
    /// When the event reaches the filter.
    #[default]
    Arrival,
    /// The event's own time.
    Event,
}

impl DedupeConfig {
    pub(super) fn build(&self) -> Result<DedupeFilter, FilterError> {
        let window = i64::try_from(self.window.0.as_nanos()).unwrap_or(i64::MAX);
        if window == 0 {
            return Err(FilterError::Invalid {
                key: "window",
                reason: "must be longer than 0s, such as \"10s\"".to_owned(),
            });
        }
        let max_keys = at_least_one("max_keys", self.max_keys)?;
        Ok(DedupeFilter {
            key: Key::new(&self.key)?,
            window,
            time: self.time,
            clock: Clock::new(),
            state: Arc::new(Mutex::new(State {
                seen: KeyTable::new(usize::try_from(max_keys).unwrap_or(usize::MAX)),
                latest: i64::MIN,
            })),
            evicted: Counter::default(),
        })
    }
}

/// A built `dedupe` filter. Clones share the table of keys.
#[derive(Clone)]
pub(crate) struct DedupeFilter {
    key: Key,
    /// In nanoseconds.
    window: i64,
    time: DedupeTime,
    clock: Clock,
    state: Arc<Mutex<State>>,
    evicted: Counter,
}

/// Each key's time of the kept event that opened its window, in ns.
struct State {
    seen: KeyTable<i64>,
    /// The latest event time seen, to forget keys by with `time = "event"`.
    latest: i64,
}

impl fmt::Debug for DedupeFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DedupeFilter")
            .field("key", &self.key)
            .field("window_ns", &self.window)
            .field("time", &self.time)
            .finish_non_exhaustive()
    }
}

impl DedupeFilter {
    /// Counts evicted keys into `counter` from now on.
    pub(super) fn count_evictions_into(&mut self, counter: Counter) {
        self.evicted = counter;
    }

    pub(super) fn apply(&self, event: &Event) -> Verdict {
        let (verdict, evicted) = self.key.with_text(event, |key| {
            if key.is_empty() {
                return (Verdict::Keep, 0);
            }
            let now = match self.time {
                DedupeTime::Arrival => i64::try_from(self.clock.now_ns()).unwrap_or(i64::MAX),
                DedupeTime::Event => event.time,
            };
            let mut state = self.lock();
            state.latest = state.latest.max(now);
            let (window, latest) = (self.window, state.latest);
            state
                .seen
                .expire(|&opened| latest.saturating_sub(opened) >= window);
            // A duplicate leaves the key's place in the order alone: the
            // order stays that of the windows' openings.
            match state.seen.peek_mut(key) {
                Some(opened) if now.saturating_sub(*opened).saturating_abs() < window => {
                    (Verdict::Drop, 0)
                }
                Some(opened) => {
                    // With event time a late event may be older than the
                    // window's opener; the newer of the two anchors it.
                    *opened = (*opened).max(now);
                    state.seen.touch(key);
                    (Verdict::Keep, 0)
                }
                None => (Verdict::Keep, state.seen.insert(key, now)),
            }
        });
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
    use std::time::Duration;

    use levee_event::{Record, Tag, Value};
    use tokio::time::advance;

    use super::*;
    use crate::filters::testkit;

    fn build(toml_text: &str) -> Result<DedupeFilter, FilterError> {
        let config: DedupeConfig = toml::from_str(&format!("match = \"**\"\n{toml_text}")).unwrap();
        config.build()
    }

    fn event(time: i64, fields: &[(&str, &str)]) -> Event {
        let record: Record = fields
            .iter()
            .map(|(k, v)| ((*k).to_owned(), Value::from(*v)))
            .collect();
        Event::new(Tag::new("t"), time, record)
    }

    fn id(id: &str) -> Event {
        event(0, &[("message_id", id)])
    }

    const SECOND: i64 = 1_000_000_000;

    #[tokio::test(start_paused = true)]
    async fn duplicates_within_the_window_are_dropped() {
        let f = build("key = \"message_id\"\nwindow = \"10s\"").unwrap();
        assert_eq!(f.apply(&id("a")), Verdict::Keep);
        assert_eq!(f.apply(&id("b")), Verdict::Keep);
        assert_eq!(f.apply(&id("a")), Verdict::Drop);
        advance(Duration::from_secs(9)).await;
        assert_eq!(f.apply(&id("a")), Verdict::Drop);
        // The window runs from the kept event; drops do not stretch it.
        advance(Duration::from_secs(1)).await;
        assert_eq!(f.apply(&id("a")), Verdict::Keep);
        assert_eq!(f.apply(&id("a")), Verdict::Drop);
        assert_eq!(f.apply(&id("b")), Verdict::Keep);
        assert_eq!(f.evicted.get(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_template_key_combines_fields_and_an_empty_key_never_drops() {
        let f = build("key = \"${id}/${type}\"\nwindow = \"1m\"").unwrap();
        let e = |i: &str, t: &str| event(0, &[("id", i), ("type", t)]);
        assert_eq!(f.apply(&e("1", "delivery")), Verdict::Keep);
        assert_eq!(f.apply(&e("1", "bounce")), Verdict::Keep);
        assert_eq!(f.apply(&e("1", "bounce")), Verdict::Drop);

        let f = build("key = \"message_id\"\nwindow = \"1m\"").unwrap();
        for _ in 0..3 {
            assert_eq!(f.apply(&event(0, &[("other", "x")])), Verdict::Keep);
            assert_eq!(f.apply(&id("")), Verdict::Keep);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn max_keys_evicts_the_oldest_and_counts() {
        let f = build("key = \"message_id\"\nwindow = \"1h\"\nmax_keys = 2").unwrap();
        for key in ["a", "b", "c"] {
            assert_eq!(f.apply(&id(key)), Verdict::Keep);
        }
        assert_eq!(f.evicted.get(), 1);
        assert_eq!(f.lock().seen.len(), 2);
        assert_eq!(f.apply(&id("c")), Verdict::Drop);
        assert_eq!(f.apply(&id("b")), Verdict::Drop);
        // `a` was forgotten, so its duplicate passes.
        assert_eq!(f.apply(&id("a")), Verdict::Keep);
        assert_eq!(f.evicted.get(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn keys_past_their_window_are_forgotten_without_eviction() {
        let f = build("key = \"message_id\"\nwindow = \"10s\"\nmax_keys = 2").unwrap();
        f.apply(&id("a"));
        f.apply(&id("b"));
        advance(Duration::from_secs(10)).await;
        f.apply(&id("c"));
        assert_eq!(f.lock().seen.len(), 1, "a and b expired");
        f.apply(&id("d"));
        assert_eq!(f.evicted.get(), 0);
    }

    #[test]
    fn event_time_windows_follow_the_events_own_clock() {
        let f = build("key = \"message_id\"\nwindow = \"10s\"\ntime = \"event\"").unwrap();
        let at = |t: i64, key: &str| f.apply(&event(t * SECOND, &[("message_id", key)]));
        assert_eq!(at(100, "a"), Verdict::Keep);
        assert_eq!(at(105, "a"), Verdict::Drop);
        assert_eq!(at(91, "a"), Verdict::Drop, "a late copy within the window");
        assert_eq!(at(90, "a"), Verdict::Keep, "10s before is outside");
        assert_eq!(
            at(109, "a"),
            Verdict::Drop,
            "the window still runs from 100"
        );
        assert_eq!(at(200, "b"), Verdict::Keep);
        // `a` is now far behind the latest event time, so it was forgotten.
        assert_eq!(f.lock().seen.len(), 1);
        assert_eq!(at(100, "a"), Verdict::Keep);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_routers_share_one_window() {
        let f = "type = \"dedupe\"\nkey = \"message_id\"\nwindow = \"1h\"";
        // Both sources send the same 2,000 ids, each id twice per source.
        let batches = |_: usize| -> Vec<Vec<Event>> {
            (0..40)
                .map(|b| {
                    (0..100)
                        .map(|i| id(&format!("m-{}", (b * 100 + i) / 2)))
                        .collect()
                })
                .collect()
        };
        let report = testkit::route_concurrently(f, 2, batches).await;
        assert_eq!(report.routed, 2_000, "each id once, whichever source won");
        assert_eq!(report.dropped, 6_000);
        let mut ids: Vec<String> = report
            .events
            .iter()
            .map(|e| e.record["message_id"].to_string())
            .collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 2_000);
    }

    #[test]
    fn hostile_config_is_refused_with_the_key() {
        let refused = |text: &str, key: &str| {
            let err = build(text).unwrap_err();
            assert!(err.to_string().contains(key), "{text}: {err}");
        };
        refused("key = \"id\"\nwindow = \"0s\"", "`window`");
        refused("key = \"id\"\nwindow = \"1s\"\nmax_keys = 0", "`max_keys`");
        refused("key = \"id\"\nwindow = \"1s\"\nmax_keys = -5", "`max_keys`");
        refused("key = \"\"\nwindow = \"1s\"", "`key`");
        refused("key = \"$$\"\nwindow = \"1s\"", "`key`");
        refused("key = \"${id\"\nwindow = \"1s\"", "`key`");

        let parse = |text: &str| {
            toml::from_str::<DedupeConfig>(&format!("match = \"**\"\n{text}"))
                .unwrap_err()
                .to_string()
        };
        assert!(parse("key = \"id\"").contains("window"));
        assert!(parse("window = \"1s\"").contains("key"));
        assert!(parse("key = \"id\"\nwindow = \"-1s\"").contains("30s"));
        assert!(parse("key = \"id\"\nwindow = 10").contains("duration"));
        let err = parse("key = \"id\"\nwindow = \"1s\"\ntime = \"wall\"");
        assert!(err.contains("arrival") && err.contains("event"), "{err}");
        assert!(parse("key = \"id\"\nwindow = \"1s\"\nwindows = 2").contains("windows"));
    }
}
