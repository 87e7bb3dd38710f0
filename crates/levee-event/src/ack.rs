//! Delivery tokens: how a source learns which of its batches are done.
//!
//! A source that can replay its input (a tailed file) keeps a [`Ledger`]
//! and sends each batch with an [`Ack`] the ledger issued. The ack travels
//! with the events: the router gives a clone to every output buffer that
//! takes some of them, the buffer hands it to its sink with the batch that
//! completes them, and the sink keeps it until what it covers is stored.
//! When the last clone is dropped, its batch is done, and
//! [`Ledger::done_through`] tells the source how far it may checkpoint.
//!
//! Dropping means "nothing more will happen to these events": stored by
//! every sink that got them, filtered out, routed nowhere, or dropped and
//! counted (a full buffer's `drop_*`, a give-up after `max_attempts`). A
//! crash drops nothing, so nothing is marked done; nor does a panic: an
//! ack dropped while its thread unwinds (a task that panicked holding it)
//! is never done, so the source's checkpoint stops before its events
//! rather than passing them uncounted, and a restart reads them again.
//!
//! One ack covers a batch (about a thousand events), never one event: an
//! ack costs an allocation and a lock when it is done.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::Batch;

/// Issues acks in order and tracks which are done.
///
/// Cheap to clone: clones share the same sequence.
#[derive(Clone, Default)]
pub struct Ledger {
    state: Arc<Mutex<State>>,
}

#[derive(Default)]
struct State {
    /// The seq the next [`Ledger::issue`] returns.
    next: u64,
    /// Every seq below this one is done.
    done_below: u64,
    /// Done seqs at or above `done_below`, waiting for the ones before.
    done_ahead: BTreeSet<u64>,
}

impl State {
    fn complete(&mut self, seq: u64) {
        if seq != self.done_below {
            self.done_ahead.insert(seq);
            return;
        }
        self.done_below += 1;
        while self.done_ahead.first() == Some(&self.done_below) {
            self.done_ahead.pop_first();
            self.done_below += 1;
        }
    }
}

impl Ledger {
    /// A ledger that has issued nothing.
    pub fn new() -> Ledger {
        Ledger::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state is plain numbers: a panic elsewhere leaves it whole.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The next ack, with its sequence number (0, 1, 2, ...).
    pub fn issue(&self) -> (u64, Ack) {
        let seq = {
            let mut state = self.lock();
            let seq = state.next;
            state.next += 1;
            seq
        };
        let ack = Ack(Arc::new(Token {
            seq,
            ledger: self.state.clone(),
        }));
        (seq, ack)
    }

    /// The highest seq such that it and every seq before it are done;
    /// `None` while seq 0 is not.
    pub fn done_through(&self) -> Option<u64> {
        self.lock().done_below.checked_sub(1)
    }

    /// How many acks were issued and are not done yet.
    pub fn outstanding(&self) -> u64 {
        let state = self.lock();
        state.next - state.done_below - state.done_ahead.len() as u64
    }
}

impl fmt::Debug for Ledger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.lock();
        f.debug_struct("Ledger")
            .field("next", &state.next)
            .field("done_below", &state.done_below)
            .field("done_ahead", &state.done_ahead.len())
            .finish()
    }
}

/// A batch's delivery token. Clones share it; when the last clone is
/// dropped, the batch is done in its [`Ledger`].
#[derive(Clone)]
pub struct Ack(Arc<Token>);

impl Ack {
    /// The sequence number its ledger gave it.
    pub fn seq(&self) -> u64 {
        self.0.seq
    }
}

impl fmt::Debug for Ack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Ack({})", self.0.seq)
    }
}

struct Token {
    seq: u64,
    ledger: Arc<Mutex<State>>,
}

impl Drop for Token {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // Nothing says what became of the events: never done.
            return;
        }
        self.ledger
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .complete(self.seq);
    }
}

/// What a source sends downstream: a batch, and the ack that covers it if
/// the source can replay it.
#[derive(Debug, Default)]
pub struct Sent {
    /// The events.
    pub events: Batch,
    /// Dropped once every event is done with; `None` for sources that
    /// cannot replay (stdin, generate).
    pub ack: Option<Ack>,
}

impl Sent {
    /// A batch with no ack.
    pub fn new(events: Batch) -> Sent {
        Sent { events, ack: None }
    }

    /// A batch with its ack.
    pub fn acked(events: Batch, ack: Ack) -> Sent {
        Sent {
            events,
            ack: Some(ack),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_is_done_until_the_first_ack_is() {
        let ledger = Ledger::new();
        assert_eq!(ledger.done_through(), None);
        let (s0, a0) = ledger.issue();
        let (s1, a1) = ledger.issue();
        assert_eq!((s0, s1), (0, 1));
        assert_eq!((a0.seq(), a1.seq()), (0, 1));
        drop(a1);
        assert_eq!(ledger.done_through(), None, "seq 0 is still out");
        drop(a0);
        assert_eq!(ledger.done_through(), Some(1));
        assert_eq!(ledger.outstanding(), 0);
    }

    #[test]
    fn out_of_order_drops_move_done_through_only_past_a_whole_prefix() {
        let ledger = Ledger::new();
        let mut acks: Vec<Option<Ack>> = (0..6).map(|_| Some(ledger.issue().1)).collect();
        for (seq, want) in [
            (3, None),
            (1, None),
            (0, Some(1)),
            (5, Some(1)),
            (2, Some(3)),
        ] {
            acks[seq] = None;
            assert_eq!(ledger.done_through(), want, "after dropping {seq}");
        }
        assert_eq!(ledger.outstanding(), 1);
        acks[4] = None;
        assert_eq!(ledger.done_through(), Some(5));
        assert_eq!(ledger.outstanding(), 0);
    }

    #[test]
    fn an_ack_is_done_when_its_last_clone_drops() {
        let ledger = Ledger::new();
        let (_, ack) = ledger.issue();
        let (a, b) = (ack.clone(), ack.clone());
        drop(ack);
        drop(a);
        assert_eq!(ledger.done_through(), None, "one clone still held");
        assert_eq!(ledger.outstanding(), 1);
        drop(b);
        assert_eq!(ledger.done_through(), Some(0));
    }

    #[test]
    fn clones_of_a_ledger_share_one_sequence_and_acks_outlive_it() {
        let ledger = Ledger::new();
        let other = ledger.clone();
        let (_, a) = ledger.issue();
        let (seq, b) = other.issue();
        assert_eq!(seq, 1);
        drop(ledger);
        drop((a, b));
        assert_eq!(other.done_through(), Some(1));
    }

    #[test]
    fn an_ack_dropped_by_a_panic_is_never_done() {
        let ledger = Ledger::new();
        let (_, held) = ledger.issue();
        let (_, after) = ledger.issue();
        let unwound = std::thread::spawn(move || {
            let _held = held;
            panic!("a sink's bug, with a batch in hand");
        })
        .join();
        assert!(unwound.is_err());
        drop(after);
        assert_eq!(ledger.done_through(), None);
        assert_eq!(ledger.outstanding(), 1);
    }

    #[test]
    fn acks_dropped_on_other_threads_are_counted() {
        let ledger = Ledger::new();
        let acks: Vec<Ack> = (0..64).map(|_| ledger.issue().1).collect();
        let threads: Vec<_> = acks
            .into_iter()
            .rev()
            .map(|ack| std::thread::spawn(move || drop(ack)))
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(ledger.done_through(), Some(63));
    }
}
