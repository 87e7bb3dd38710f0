//! A sink that fails on command, for tests of the output worker: it keeps
//! what it absorbed until a flush stores it (as the lake does), or stores
//! at once (as a file does), and each of its calls can be told to fail the
//! next N times. Everything it does is seen through its [`Probe`].

use std::sync::{Arc, Mutex, MutexGuard};

use levee_event::{Ack, Event};
use levee_io::SinkError;
use levee_io::sinks::{Flush, SinkFuture, WriteSink};

/// What the test sets and reads while the worker owns the sink.
#[derive(Default)]
pub(crate) struct State {
    /// Fail this many of the next `write`s.
    pub(crate) fail_writes: u32,
    /// Fail this many of the next `flush`es.
    pub(crate) fail_flushes: u32,
    /// Fail this many of the next `close`s.
    pub(crate) fail_closes: u32,
    /// Panic in the next `write`, as a sink with a bug.
    pub(crate) panic_on_write: bool,
    /// Refuse, as malformed, every batch holding events whose `n` is one
    /// of these (naming their positions), every time.
    pub(crate) malformed: Vec<i64>,
    /// Absorbed, not stored yet, with the acks they came with.
    pub(crate) held: Vec<Event>,
    held_acks: Vec<Ack>,
    /// Stored, in order.
    pub(crate) stored: Vec<Event>,
    /// Events given up on through `discard`.
    pub(crate) discarded: u64,
    /// Every call made, in order: `write`, `flush due`, `flush all`,
    /// `discard`, `close`, with `!` after a failed one.
    pub(crate) calls: Vec<&'static str>,
}

/// A handle on a [`CommandedSink`]'s state.
#[derive(Clone, Default)]
pub(crate) struct Probe(Arc<Mutex<State>>);

impl Probe {
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.0.lock().unwrap()
    }
}

/// See the module docs.
pub(crate) struct CommandedSink {
    probe: Probe,
    /// Holds what it absorbs until a flush (the lake), rather than storing
    /// in `write` (a file).
    holds: bool,
}

impl CommandedSink {
    /// A sink that holds what it absorbs until flushed, and its probe.
    pub(crate) fn holding() -> (CommandedSink, Probe) {
        let probe = Probe::default();
        let sink = CommandedSink {
            probe: probe.clone(),
            holds: true,
        };
        (sink, probe)
    }

    /// A sink that stores in `write`, and its probe.
    pub(crate) fn storing() -> (CommandedSink, Probe) {
        let (mut sink, probe) = CommandedSink::holding();
        sink.holds = false;
        (sink, probe)
    }
}

fn commanded() -> SinkError {
    SinkError::io("test sink", std::io::Error::other("failing on command"))
}

/// Counts down a failure budget: true if this call fails.
fn fails(budget: &mut u32) -> bool {
    let fail = *budget > 0;
    *budget = budget.saturating_sub(1);
    fail
}

impl WriteSink for CommandedSink {
    fn write<'a>(&'a mut self, events: &'a [Event], acks: &'a mut Vec<Ack>) -> SinkFuture<'a, u64> {
        let mut state = self.probe.lock();
        if state.panic_on_write {
            drop(state);
            panic!("a sink's bug");
        }
        let refused: Vec<usize> = events
            .iter()
            .enumerate()
            .filter(|(_, e)| {
                e.record["n"]
                    .as_i64()
                    .is_some_and(|n| state.malformed.contains(&n))
            })
            .map(|(i, _)| i)
            .collect();
        let result = if fails(&mut state.fail_writes) {
            state.calls.push("write!");
            Err(commanded())
        } else if !refused.is_empty() {
            state.calls.push("write malformed");
            Err(SinkError::Malformed {
                events: refused,
                reason: "refused on command".into(),
            })
        } else if self.holds {
            state.calls.push("write");
            state.held.extend_from_slice(events);
            state.held_acks.append(acks);
            Ok(0)
        } else {
            state.calls.push("write");
            state.stored.extend_from_slice(events);
            Ok(events.len() as u64)
        };
        Box::pin(async move { result })
    }

    fn flush(&mut self, what: Flush) -> SinkFuture<'_, u64> {
        let mut state = self.probe.lock();
        let failed = fails(&mut state.fail_flushes);
        state.calls.push(match (what, failed) {
            (Flush::Due, false) => "flush due",
            (Flush::Due, true) => "flush due!",
            (Flush::All, false) => "flush all",
            (Flush::All, true) => "flush all!",
        });
        let result = if failed {
            Err(commanded())
        } else {
            let held = std::mem::take(&mut state.held);
            state.held_acks.clear();
            let stored = held.len() as u64;
            state.stored.extend(held);
            Ok(stored)
        };
        Box::pin(async move { result })
    }

    fn discard(&mut self) -> u64 {
        let mut state = self.probe.lock();
        state.calls.push("discard");
        let dropped = std::mem::take(&mut state.held).len() as u64;
        state.held_acks.clear();
        state.discarded += dropped;
        dropped
    }

    fn close(&mut self) -> SinkFuture<'_, ()> {
        let mut state = self.probe.lock();
        let result = if fails(&mut state.fail_closes) {
            state.calls.push("close!");
            Err(commanded())
        } else {
            state.calls.push("close");
            Ok(())
        };
        Box::pin(async move { result })
    }
}
