//! `/health`: whether every part of the pipeline runs.
//!
//! Each part (a source, an output) registers a [`Component`] in the one
//! [`Health`] that [`Metrics`](super::Metrics) holds, and reports on it as
//! it goes: [`Component::ok`], [`Component::failing`] (unhealthy once it
//! has lasted `[metrics] unhealthy_after`: an output in retries) or
//! [`Component::down`] (unhealthy at once: a source that stopped with an
//! error, a sink not open). [`Health::check`] reads them all when `/health`
//! is asked.
//!
//! Reporting is cheap enough for every batch: `ok()` on a component that is
//! already fine is one atomic load.

use std::collections::BTreeMap;
use std::fmt::Display;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

/// `[metrics] unhealthy_after` when not given: a minute of retries, long
/// enough that a blip (a restarted endpoint, a throttled put) is not an
/// alert, short enough to beat a buffer filling at a flood's rate.
pub const DEFAULT_UNHEALTHY_AFTER: Duration = Duration::from_secs(60);

const OK: u8 = 0;
const FAILING: u8 = 1;
const DOWN: u8 = 2;

/// Every registered component's state.
#[derive(Debug)]
pub struct Health {
    /// When this registry was made: components keep times as nanoseconds
    /// since then, in an atomic.
    epoch: Instant,
    components: Mutex<BTreeMap<String, Component>>,
}

impl Default for Health {
    fn default() -> Health {
        Health {
            epoch: Instant::now(),
            components: Mutex::default(),
        }
    }
}

/// One part of the pipeline's health, as it reports it. Clones share the
/// state (the workers of one output report on one component).
#[derive(Clone, Debug)]
pub struct Component {
    inner: Arc<State>,
}

#[derive(Debug)]
struct State {
    name: String,
    epoch: Instant,
    /// `OK`, `FAILING` or `DOWN`.
    status: AtomicU8,
    /// Nanoseconds after `epoch` when it stopped being ok.
    since: AtomicU64,
    /// Why, as last reported.
    reason: Mutex<String>,
}

impl Health {
    /// A registry with no component: healthy.
    pub fn new() -> Health {
        Health::default()
    }

    /// The component named `name` (such as `output firehose`), made ok
    /// the first time it is asked for; later calls share its state.
    pub fn component(&self, name: &str) -> Component {
        let mut components = self
            .components
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        components
            .entry(name.to_owned())
            .or_insert_with(|| Component {
                inner: Arc::new(State {
                    name: name.to_owned(),
                    epoch: self.epoch,
                    status: AtomicU8::new(OK),
                    since: AtomicU64::new(0),
                    reason: Mutex::default(),
                }),
            })
            .clone()
    }

    /// Ok, or one line per reason (in the components' name order): every
    /// component that is down, and every one failing for `unhealthy_after`
    /// or longer.
    pub fn check(&self, unhealthy_after: Duration) -> Result<(), Vec<String>> {
        let components = self
            .components
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let now = Instant::now();
        let reasons: Vec<String> = components
            .values()
            .filter_map(|c| c.unhealthy(now, unhealthy_after))
            .collect();
        if reasons.is_empty() {
            Ok(())
        } else {
            Err(reasons)
        }
    }
}

impl Component {
    /// Works (again).
    pub fn ok(&self) {
        // The common case, on every batch: nothing to change.
        if self.inner.status.load(Ordering::Relaxed) != OK {
            self.inner.status.store(OK, Ordering::Release);
        }
    }

    /// Fails, and may recover by itself (a sink call in retries):
    /// unhealthy once it has been failing (or down) for `unhealthy_after`.
    /// The time counts from the first failure since it was last ok.
    pub fn failing(&self, reason: impl Display) {
        self.report(FAILING, reason);
    }

    /// Does not run, and is unhealthy at once: a source that stopped with
    /// an error, a sink that has not opened.
    pub fn down(&self, reason: impl Display) {
        self.report(DOWN, reason);
    }

    /// A guard for a task that should run until the pipeline stops: if
    /// it is dropped before [`Guard::finish`] (the task panicked), the
    /// component is down with `reason`. A panicking tokio task is
    /// otherwise seen only when it is joined, at shutdown.
    pub fn guard(&self, reason: &'static str) -> Guard {
        Guard {
            component: Some(self.clone()),
            reason,
        }
    }

    fn report(&self, status: u8, reason: impl Display) {
        let state = &self.inner;
        // The reason first: a reader that sees the status sees it too.
        *state
            .reason
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = reason.to_string();
        let was = state.status.load(Ordering::Acquire);
        if was == OK {
            let since = Instant::now().saturating_duration_since(state.epoch);
            let nanos = u64::try_from(since.as_nanos()).unwrap_or(u64::MAX);
            state.since.store(nanos, Ordering::Release);
        }
        state.status.store(status, Ordering::Release);
    }

    /// The component's line on `/health` if it is unhealthy at `now`.
    fn unhealthy(&self, now: Instant, unhealthy_after: Duration) -> Option<String> {
        let state = &self.inner;
        let status = state.status.load(Ordering::Acquire);
        if status == OK {
            return None;
        }
        let since = state.epoch + Duration::from_nanos(state.since.load(Ordering::Acquire));
        let lasted = now.saturating_duration_since(since);
        if status == FAILING && lasted < unhealthy_after {
            return None;
        }
        let reason = state
            .reason
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone();
        let how = if status == DOWN { "down" } else { "failing" };
        // Whole seconds: the line is for people and alerts, not timing.
        Some(format!(
            "{}: {how} for {}s: {}",
            state.name,
            lasted.as_secs(),
            one_line(&reason)
        ))
    }
}

/// Reports its component down when dropped unfinished; see
/// [`Component::guard`].
#[derive(Debug)]
pub struct Guard {
    component: Option<Component>,
    reason: &'static str,
}

impl Guard {
    /// The task ended as it should: nothing to report.
    pub fn finish(mut self) {
        self.component = None;
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        // Tokio drops a panicked task's future after catching the panic,
        // so `std::thread::panicking()` would not tell: unfinished is what
        // counts.
        if let Some(component) = self.component.take() {
            component.down(self.reason);
        }
    }
}

/// `/health` says one reason per line: an error's own line breaks would
/// read as more reasons.
fn one_line(text: &str) -> String {
    text.split(['\r', '\n'])
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: Duration = Duration::from_secs(60);

    #[tokio::test(start_paused = true)]
    async fn no_components_or_all_ok_is_healthy() {
        let health = Health::new();
        assert_eq!(health.check(MINUTE), Ok(()));
        health.component("source nginx").ok();
        assert_eq!(health.check(MINUTE), Ok(()));
    }

    #[tokio::test(start_paused = true)]
    async fn failing_is_unhealthy_only_once_it_lasted_unhealthy_after() {
        let health = Health::new();
        let output = health.component("output lake");
        output.failing("putting chunk: permission denied");
        tokio::time::advance(Duration::from_secs(59)).await;
        // Still failing: the time counts from the first failure.
        output.failing("putting chunk: permission denied (again)");
        assert_eq!(health.check(MINUTE), Ok(()));
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(
            health.check(MINUTE),
            Err(vec![
                "output lake: failing for 60s: putting chunk: permission denied (again)".into()
            ])
        );
        output.ok();
        assert_eq!(health.check(MINUTE), Ok(()));
        // A new failure starts a new count.
        output.failing("again");
        assert_eq!(health.check(MINUTE), Ok(()));
    }

    #[tokio::test]
    async fn a_task_that_panics_holding_a_guard_makes_its_component_down() {
        let health = Health::new();
        let worker = health.component("output lake");
        let guard = worker.guard("its worker stopped: a panic");
        let task = tokio::spawn(async move {
            tokio::task::yield_now().await;
            if guard.reason.contains("panic") {
                panic!("a sink's bug");
            }
            guard.finish();
        });
        assert!(task.await.unwrap_err().is_panic());
        assert_eq!(
            health.check(MINUTE),
            Err(vec![
                "output lake: down for 0s: its worker stopped: a panic".into()
            ])
        );

        let router = health.component("source nginx");
        let guard = router.guard("its router stopped: a panic");
        tokio::spawn(async move { guard.finish() }).await.unwrap();
        worker.ok();
        assert_eq!(health.check(MINUTE), Ok(()));
    }

    #[tokio::test(start_paused = true)]
    async fn down_is_unhealthy_at_once_and_every_reason_has_its_line() {
        let health = Health::new();
        health
            .component("source nginx")
            .down("reading /var/log/x:\npermission denied");
        let output = health.component("output lake");
        output.down("not open yet");
        // One component per name: asking again shares its state.
        health.component("output lake").ok();
        health.component("output file").failing("disk full");
        tokio::time::advance(Duration::from_secs(2)).await;
        assert_eq!(
            health.check(Duration::from_secs(1)),
            Err(vec![
                "output file: failing for 2s: disk full".into(),
                "source nginx: down for 2s: reading /var/log/x: permission denied".into(),
            ])
        );
        assert_eq!(
            health.check(MINUTE),
            Err(vec![
                "source nginx: down for 2s: reading /var/log/x: permission denied".into()
            ])
        );
    }
}
