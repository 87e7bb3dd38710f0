//! The order in which the units compacted at once join their schemas to
//! the table's.
//!
//! A unit's files are written with the table's schema as it stands once
//! the unit's own is joined to it, and a column new to the table goes
//! after the ones it has. Joined in the order the units happened to read
//! their first rows, two runs over the same chunks could order the
//! columns differently, and write different files. Each unit waits for
//! the units planned before it (by hour) to join theirs first, or to end
//! without.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

/// The turns of one compaction's units, numbered from 0 in plan order.
pub(crate) struct JoinOrder(Arc<Turns>);

struct Turns {
    passed: Mutex<Passed>,
    /// The first unit yet to pass: every unit before it has.
    next: watch::Sender<usize>,
}

#[derive(Default)]
struct Passed {
    next: usize,
    /// Units after `next` that passed already.
    ahead: BTreeSet<usize>,
}

impl JoinOrder {
    pub fn new() -> JoinOrder {
        JoinOrder(Arc::new(Turns {
            passed: Mutex::new(Passed::default()),
            next: watch::Sender::new(0),
        }))
    }

    /// Unit `n`'s turn.
    pub fn turn(&self, n: usize) -> Turn {
        Turn {
            turns: Arc::clone(&self.0),
            n,
            passed: false,
        }
    }
}

/// A unit's turn to join its schema. Passed when it has joined, or when
/// it is dropped (the unit ended without joining).
pub(crate) struct Turn {
    turns: Arc<Turns>,
    n: usize,
    passed: bool,
}

impl Turn {
    /// Waits until every unit before this one has passed its turn; at
    /// once if this one has passed its own already (a unit that joins a
    /// second time, after giving up on its one read).
    pub async fn wait(&self) {
        if self.passed {
            return;
        }
        let mut next = self.turns.next.subscribe();
        // An error only if the sender is gone, which this turn holds.
        let _ = next.wait_for(|&next| next >= self.n).await;
    }

    /// This unit has joined its schema: the next may.
    pub fn pass(&mut self) {
        if std::mem::replace(&mut self.passed, true) {
            return;
        }
        // A panic while holding this lock leaves the counts whole.
        let mut passed = self
            .turns
            .passed
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        passed.ahead.insert(self.n);
        loop {
            let first = passed.next;
            if !passed.ahead.remove(&first) {
                break;
            }
            passed.next += 1;
        }
        let next = passed.next;
        drop(passed);
        // Let through from a blocking thread, where there is a runtime:
        // a task woken on a worker thread waits in that worker's LIFO
        // slot, which no idle worker steals, until the task that woke it
        // yields. A unit passes its turn and goes on encoding without
        // yielding: the unit after it, woken so, left one of the bench's
        // two cores idle for 0.4 s of its 3 (perf, 2,000,000 events by day).
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                let turns = Arc::clone(&self.turns);
                runtime.spawn_blocking(move || turns.let_through(next));
            }
            Err(_) => self.turns.let_through(next),
        }
    }
}

impl Turns {
    /// Wakes the units up to `next`; never back, if two threads say it
    /// out of order.
    fn let_through(&self, next: usize) {
        self.next.send_if_modified(|at| {
            let later = next > *at;
            *at = (*at).max(next);
            later
        });
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        self.pass();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::{Duration, Instant};

    use super::*;

    /// Whether `turn` is let through within a moment.
    async fn let_through(turn: &Turn) -> bool {
        tokio::time::timeout(Duration::from_millis(50), turn.wait())
            .await
            .is_ok()
    }

    #[tokio::test]
    async fn a_unit_waits_for_every_unit_before_it() {
        let order = JoinOrder::new();
        let (mut first, mut second, third) = (order.turn(0), order.turn(1), order.turn(2));
        assert!(let_through(&first).await);
        assert!(!let_through(&second).await);
        assert!(!let_through(&third).await);
        first.pass();
        assert!(let_through(&second).await);
        assert!(!let_through(&third).await);
        second.pass();
        assert!(let_through(&third).await);
    }

    /// A unit that ends without joining (an error, nothing to read) lets
    /// the next through; one that passes ahead of its turn waits for
    /// the ones before it to pass before the next is let through.
    #[tokio::test]
    async fn turns_passed_out_of_order_or_dropped_let_the_next_through_in_order() {
        let order = JoinOrder::new();
        let (first, second, mut third, fourth) =
            (order.turn(0), order.turn(1), order.turn(2), order.turn(3));
        third.pass();
        assert!(!let_through(&fourth).await);
        drop(first);
        assert!(!let_through(&fourth).await);
        drop(second);
        assert!(let_through(&fourth).await);
        // A second wait, after passing, does not wait.
        assert!(let_through(&third).await);
    }

    /// Units compacted at once, the later one reading faster, still join
    /// in plan order.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_faster_later_unit_joins_after_the_one_before() {
        let order = JoinOrder::new();
        let joined = Arc::new(Mutex::new(Vec::new()));
        let mut units = Vec::new();
        for (n, delay) in [(0, 60), (1, 0), (2, 20)] {
            let mut turn = order.turn(n);
            let joined = Arc::clone(&joined);
            units.push(tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(delay)).await;
                turn.wait().await;
                joined.lock().unwrap().push(n);
                turn.pass();
            }));
        }
        for unit in units {
            unit.await.unwrap();
        }
        assert_eq!(*joined.lock().unwrap(), [0, 1, 2]);
    }

    /// The unit let through goes on, on the other worker, while the unit
    /// that let it through keeps its own without yielding (as it does,
    /// encoding its first rows).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_unit_let_through_runs_beside_the_one_that_let_it() {
        let order = JoinOrder::new();
        let (mut first, second) = (order.turn(0), order.turn(1));
        let went_on = Arc::new(AtomicBool::new(false));
        let waiting = {
            let went_on = Arc::clone(&went_on);
            tokio::spawn(async move {
                second.wait().await;
                went_on.store(true, Ordering::SeqCst);
            })
        };
        let busy = {
            let went_on = Arc::clone(&went_on);
            tokio::spawn(async move {
                // Time for the second unit to begin its wait.
                tokio::time::sleep(Duration::from_millis(50)).await;
                first.pass();
                // Busy, with no await, until the second unit goes on (or
                // long after it should have).
                let start = Instant::now();
                while !went_on.load(Ordering::SeqCst) && start.elapsed() < Duration::from_secs(10) {
                    std::hint::spin_loop();
                }
                went_on.load(Ordering::SeqCst)
            })
        };
        assert!(
            busy.await.unwrap(),
            "the unit let through waited for the busy one to yield"
        );
        waiting.await.unwrap();
    }
}
