//! An event's fields: an ordered map from field name to [`Value`].
//!
//! This is the hot path's main allocation, so it is built for it: names and
//! text of up to 24 bytes live inline in [`Text`] (an nginx line's field
//! names, its address, method, status class… allocate nothing), and keys
//! are hashed with foldhash, seeded per process, instead of SipHash.

use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicUsize, Ordering};

use compact_str::CompactString;
use indexmap::IndexMap;
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde::ser::{Serialize, Serializer};

use crate::Value;

/// A field name or a text value: inline up to 24 bytes, on the heap beyond.
pub type Text = CompactString;

type Map = IndexMap<Text, Value, foldhash::fast::RandomState>;

/// An event's fields, in the order the source gave them.
///
/// Derefs to the underlying [`IndexMap`] for lookups and iteration; the
/// inserting methods take anything that converts into a name and a value,
/// so `record.insert("status", 200)` needs no conversions.
#[derive(Clone, Default, PartialEq)]
pub struct Record(Map);

/// Capacity taken on trust from a decoder's size hint, at most: a hostile
/// frame may claim a billion entries.
const MAX_HINTED_CAPACITY: usize = 1024;

impl Record {
    /// An empty record.
    pub fn new() -> Record {
        Record::default()
    }

    /// An empty record with room for `n` fields, so that filling it never
    /// rehashes.
    pub fn with_capacity(n: usize) -> Record {
        Record(Map::with_capacity_and_hasher(n, Default::default()))
    }

    /// Sets a field, keeping its place if it exists and appending it if
    /// not; returns the old value.
    pub fn insert(&mut self, name: impl Into<Text>, value: impl Into<Value>) -> Option<Value> {
        self.0.insert(name.into(), value.into())
    }

    /// The entry for `name`, to fill in place.
    pub fn entry(&mut self, name: impl Into<Text>) -> indexmap::map::Entry<'_, Text, Value> {
        self.0.entry(name.into())
    }

    /// The value of field `name`, looked for first where `hint` says it
    /// was last time. Records from one parser keep their fields in one
    /// order, so a filter reading the same field of every event finds it
    /// there with one comparison instead of hashing the name.
    pub fn get_hinted(&self, name: &str, hint: &FieldHint) -> Option<&Value> {
        let at = hint.0.load(Ordering::Relaxed);
        if let Some((key, value)) = self.0.get_index(at)
            && key.as_str() == name
        {
            return Some(value);
        }
        let (at, _, value) = self.0.get_full(name)?;
        hint.0.store(at, Ordering::Relaxed);
        Some(value)
    }

    /// Bytes this record holds on the heap beyond its own handle: the
    /// table, and the names and values too long to be inline.
    pub fn heap_size(&self) -> usize {
        // An entry is its hash, name and value; the index adds a slot and
        // a control byte per entry.
        const ENTRY: usize = size_of::<usize>() + size_of::<Text>() + size_of::<Value>();
        const INDEX: usize = size_of::<usize>() + 1;
        self.0.capacity() * (ENTRY + INDEX)
            + self
                .0
                .iter()
                .map(|(k, v)| text_heap(k) + v.heap_size())
                .sum::<usize>()
    }
}

/// Where a field was found last time, for [`Record::get_hinted`]. Shared
/// by the threads that run one filter: a stale hint only costs a lookup.
#[derive(Debug, Default)]
pub struct FieldHint(AtomicUsize);

impl Clone for FieldHint {
    fn clone(&self) -> FieldHint {
        FieldHint(AtomicUsize::new(self.0.load(Ordering::Relaxed)))
    }
}

/// Heap bytes of a name or text value (none when inline).
pub(crate) fn text_heap(text: &Text) -> usize {
    if text.is_heap_allocated() {
        text.capacity()
    } else {
        0
    }
}

impl Deref for Record {
    type Target = IndexMap<Text, Value, foldhash::fast::RandomState>;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl DerefMut for Record {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

impl fmt::Debug for Record {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.0.iter()).finish()
    }
}

impl<K: Into<Text>, V: Into<Value>> FromIterator<(K, V)> for Record {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Record {
        let iter = iter.into_iter();
        let mut record = Record::with_capacity(iter.size_hint().0);
        for (k, v) in iter {
            record.insert(k, v);
        }
        record
    }
}

impl<K: Into<Text>, V: Into<Value>> Extend<(K, V)> for Record {
    fn extend<I: IntoIterator<Item = (K, V)>>(&mut self, iter: I) {
        for (k, v) in iter {
            self.insert(k, v);
        }
    }
}

impl IntoIterator for Record {
    type Item = (Text, Value);
    type IntoIter = indexmap::map::IntoIter<Text, Value>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a> IntoIterator for &'a Record {
    type Item = (&'a Text, &'a Value);
    type IntoIter = indexmap::map::Iter<'a, Text, Value>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl<'a> IntoIterator for &'a mut Record {
    type Item = (&'a Text, &'a mut Value);
    type IntoIter = indexmap::map::IterMut<'a, Text, Value>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter_mut()
    }
}

impl Serialize for Record {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.iter())
    }
}

impl<'de> Deserialize<'de> for Record {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Record, D::Error> {
        deserializer.deserialize_map(RecordVisitor)
    }
}

pub(crate) struct RecordVisitor;

impl<'de> Visitor<'de> for RecordVisitor {
    type Value = Record;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a map of fields")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Record, A::Error> {
        let hint = map.size_hint().unwrap_or(0).min(MAX_HINTED_CAPACITY);
        let mut record = Record::with_capacity(hint);
        while let Some(name) = map.next_key::<Text>()? {
            let value = map.next_value::<Value>()?;
            record.insert(name, value);
        }
        Ok(record)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_names_and_values_are_inline() {
        let mut r = Record::with_capacity(2);
        r.insert("remote_addr", "203.0.113.5");
        r.insert(
            "http_user_agent",
            "Mozilla/5.0 (X11; Linux x86_64) Firefox/62.0",
        );
        let inline = |v: &Value| matches!(v, Value::String(s) if !s.is_heap_allocated());
        assert!(r.keys().all(|k| !k.is_heap_allocated()));
        assert!(inline(&r["remote_addr"]));
        assert!(!inline(&r["http_user_agent"]));
    }

    #[test]
    fn insert_keeps_the_first_place_of_a_name() {
        let mut r: Record = [("a", 1i64), ("b", 2)].into_iter().collect();
        assert_eq!(r.insert("a", 3i64), Some(Value::Int(1)));
        assert_eq!(r.keys().map(|k| k.as_str()).collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(r["a"], Value::Int(3));
    }

    #[test]
    fn a_hinted_lookup_finds_fields_wherever_they_are() {
        let hint = FieldHint::default();
        let a: Record = [("x", 1i64), ("path", 2)].into_iter().collect();
        let b: Record = [("path", 3i64)].into_iter().collect();
        let c: Record = [("x", 4i64)].into_iter().collect();
        assert_eq!(a.get_hinted("path", &hint), Some(&Value::Int(2)));
        assert_eq!(a.get_hinted("path", &hint), Some(&Value::Int(2)));
        assert_eq!(b.get_hinted("path", &hint), Some(&Value::Int(3)), "moved");
        assert_eq!(c.get_hinted("path", &hint), None, "a different field there");
        assert_eq!(a.get_hinted("path", &hint), Some(&Value::Int(2)));
    }

    #[test]
    fn heap_size_counts_long_text_and_the_table() {
        let small: Record = [("a", 1i64)].into_iter().collect();
        let long: Record = [("a", "x".repeat(100))].into_iter().collect();
        assert!(small.heap_size() > 0);
        assert!(long.heap_size() >= small.heap_size() + 100);
    }

    #[test]
    fn a_hostile_size_hint_does_not_reserve_memory() {
        use serde::de::value::{Error, MapDeserializer};
        /// One entry that claims to be a trillion.
        struct Liar(Option<(&'static str, i64)>);
        impl Iterator for Liar {
            type Item = (&'static str, i64);
            fn next(&mut self) -> Option<Self::Item> {
                self.0.take()
            }
            fn size_hint(&self) -> (usize, Option<usize>) {
                (1 << 40, Some(1 << 40))
            }
        }
        let de = MapDeserializer::<_, Error>::new(Liar(Some(("a", 1))));
        let r = Record::deserialize(de).unwrap();
        assert_eq!(r.len(), 1);
        assert!(r.capacity() <= MAX_HINTED_CAPACITY);
    }

    #[test]
    fn json_round_trip_keeps_order_and_nesting() {
        let text = r#"{"b":1,"a":{"c":"d"}}"#;
        let r: Record = serde_json::from_str(text).unwrap();
        assert_eq!(serde_json::to_string(&r).unwrap(), text);
    }
}
