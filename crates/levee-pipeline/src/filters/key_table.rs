//! Per-key state of `dedupe` and `throttle`, bounded in keys: when full, the
//! least recently used key is evicted (and the caller counts it).
//!
//! A map holds each key's value; a queue holds keys in order of use. Using
//! a key again pushes it anew and leaves its old queue slot stale (told
//! apart by a sequence number), so every operation is amortised O(1), and
//! stale slots are swept before they outnumber the live ones.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use tokio::time::Instant;

/// Keys and their values, at most `max_keys` of them.
#[derive(Debug)]
pub(super) struct KeyTable<V> {
    map: HashMap<Arc<str>, Slot<V>>,
    order: VecDeque<(Arc<str>, u64)>,
    next_seq: u64,
    max_keys: usize,
}

#[derive(Debug)]
struct Slot<V> {
    /// The map's key again, shared, so using a key needs one lookup.
    key: Arc<str>,
    value: V,
    seq: u64,
}

impl<V> KeyTable<V> {
    pub(super) fn new(max_keys: usize) -> KeyTable<V> {
        KeyTable {
            map: HashMap::new(),
            order: VecDeque::new(),
            next_seq: 0,
            max_keys: max_keys.max(1),
        }
    }

    /// The number of keys held.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.map.len()
    }

    /// The key's value, marking it used.
    pub(super) fn get_mut(&mut self, key: &str) -> Option<&mut V> {
        self.sweep_if_stale();
        let slot = self.map.get_mut(key)?;
        slot.seq = self.next_seq;
        self.next_seq += 1;
        self.order.push_back((slot.key.clone(), slot.seq));
        Some(&mut slot.value)
    }

    /// The key's value, leaving its place in the order as it was.
    pub(super) fn peek_mut(&mut self, key: &str) -> Option<&mut V> {
        self.map.get_mut(key).map(|slot| &mut slot.value)
    }

    /// Marks a key used, if it is held.
    pub(super) fn touch(&mut self, key: &str) {
        let _ = self.get_mut(key);
    }

    /// Adds a key not yet held, evicting the least recently used keys to
    /// stay within `max_keys`; returns how many were evicted.
    pub(super) fn insert(&mut self, key: &str, value: V) -> u64 {
        let mut evicted = 0;
        while self.map.len() >= self.max_keys && self.pop_front().is_some() {
            evicted += 1;
        }
        let key: Arc<str> = Arc::from(key);
        let seq = self.next_seq;
        self.next_seq += 1;
        self.order.push_back((key.clone(), seq));
        self.map.insert(key.clone(), Slot { key, value, seq });
        evicted
    }

    /// Forgets keys from the least recently used end while `expired` says
    /// their value no longer matters; stops at the first that does.
    pub(super) fn expire(&mut self, mut expired: impl FnMut(&V) -> bool) {
        while let Some((key, seq)) = self.order.front() {
            match self.map.get(&**key) {
                Some(slot) if slot.seq == *seq => {
                    if !expired(&slot.value) {
                        return;
                    }
                    self.pop_front();
                }
                // A stale slot: the key was used again later, or is gone.
                _ => {
                    self.order.pop_front();
                }
            }
        }
    }

    /// Removes the least recently used key, skipping stale slots.
    fn pop_front(&mut self) -> Option<V> {
        while let Some((key, seq)) = self.order.pop_front() {
            if self.map.get(&*key).is_some_and(|slot| slot.seq == seq) {
                return self.map.remove(&*key).map(|slot| slot.value);
            }
        }
        None
    }

    /// Drops stale queue slots once they are the majority, so the queue
    /// stays within twice the number of keys.
    fn sweep_if_stale(&mut self) {
        if self.order.len() > 2 * self.map.len() + 64 {
            let map = &self.map;
            self.order
                .retain(|(key, seq)| map.get(&**key).is_some_and(|slot| slot.seq == *seq));
        }
    }

    #[cfg(test)]
    fn queue_len(&self) -> usize {
        self.order.len()
    }
}

/// Nanoseconds since the clock was made, on tokio's clock (so tests can
/// pause and advance it). Read outside a filter's lock, so two routers may
/// see readings slightly out of order; the filters allow for that.
#[derive(Debug, Clone, Copy)]
pub(super) struct Clock {
    start: Instant,
}

impl Clock {
    pub(super) fn new() -> Clock {
        Clock {
            start: Instant::now(),
        }
    }

    pub(super) fn now_ns(&self) -> u64 {
        let elapsed = Instant::now().saturating_duration_since(self.start);
        u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn evicts_the_least_recently_used_and_counts() {
        let mut t = KeyTable::new(2);
        assert_eq!(t.insert("a", 1), 0);
        assert_eq!(t.insert("b", 2), 0);
        // Using `a` makes `b` the least recently used.
        assert_eq!(t.get_mut("a").copied(), Some(1));
        assert_eq!(t.insert("c", 3), 1);
        assert!(t.get_mut("b").is_none());
        assert_eq!(t.get_mut("a").copied(), Some(1));
        assert_eq!(t.get_mut("c").copied(), Some(3));
        assert_eq!(t.len(), 2);
    }

    #[test]
    fn peek_leaves_the_order_and_touch_changes_it() {
        let mut t = KeyTable::new(2);
        t.insert("a", 1);
        t.insert("b", 2);
        if let Some(v) = t.peek_mut("a") {
            *v = 10;
        }
        assert_eq!(t.insert("c", 3), 1);
        assert!(t.peek_mut("a").is_none(), "a stayed the oldest");
        t.touch("b");
        t.insert("d", 4);
        assert_eq!(t.peek_mut("b").copied(), Some(2), "b was used after c");
        assert!(t.peek_mut("c").is_none());
    }

    #[test]
    fn expire_stops_at_the_first_live_value() {
        let mut t = KeyTable::new(10);
        for (k, v) in [("a", 1), ("b", 5), ("c", 2)] {
            t.insert(k, v);
        }
        t.expire(|v| *v < 3);
        assert_eq!(t.len(), 2, "c expired but sits behind b, which did not");
        assert!(t.get_mut("a").is_none());
        // Using b moves it behind c, so c can go now.
        assert_eq!(t.get_mut("b").copied(), Some(5));
        t.expire(|v| *v < 3);
        assert_eq!(t.len(), 1);
        assert!(t.get_mut("c").is_none());
        assert_eq!(t.get_mut("b").copied(), Some(5));
        t.expire(|_| true);
        assert_eq!(t.len(), 0);
        assert_eq!(t.queue_len(), 0);
    }

    #[test]
    fn the_queue_stays_bounded_however_often_a_key_is_used() {
        let mut t = KeyTable::new(100);
        t.insert("hot", 0u32);
        t.insert("cold", 0u32);
        for _ in 0..100_000 {
            if let Some(v) = t.get_mut("hot") {
                *v += 1;
            }
        }
        assert!(t.queue_len() <= 2 * t.len() + 65, "{}", t.queue_len());
        assert_eq!(t.get_mut("hot").copied(), Some(100_000));
        // The cold key is still the least recently used.
        t.expire(|v| *v == 0);
        assert!(t.get_mut("cold").is_none());
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn a_bound_of_zero_still_holds_one_key() {
        let mut t = KeyTable::new(0);
        assert_eq!(t.insert("a", ()), 0);
        assert_eq!(t.insert("b", ()), 1);
        assert_eq!(t.len(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn the_clock_follows_tokio_time() {
        let clock = Clock::new();
        assert_eq!(clock.now_ns(), 0);
        tokio::time::advance(Duration::from_millis(1500)).await;
        assert_eq!(clock.now_ns(), 1_500_000_000);
    }
}
