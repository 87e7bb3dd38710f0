//! An event's fields: an ordered list of names and [`Value`]s.
//!
//! This is the hot path's main allocation, so it is built for it:
//! - names and text of up to 24 bytes live inline in [`Text`], so an nginx
//!   line's field names, its address, method, status class… allocate
//!   nothing;
//! - the fields are one `Vec`, filled in order. A parser whose field names
//!   are known to be distinct appends with [`Record::insert_new`] and
//!   hashes nothing; a lookup compares names one by one, which for a dozen
//!   fields is faster than hashing;
//! - past [`index::LINEAR_MAX`] fields (a hostile JSON object) the record
//!   keeps a hash index, so no operation scans thousands of names.

mod index;
mod iter;

use std::fmt;
use std::ops::Index as IndexOp;
use std::sync::atomic::{AtomicUsize, Ordering};

use compact_str::CompactString;
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde::ser::{Serialize, Serializer};

use self::index::{Index, LINEAR_MAX};
pub use self::iter::{Iter, IterMut, Keys, Values};
use crate::Value;

/// A field name or a text value: inline up to 24 bytes, on the heap beyond.
pub type Text = CompactString;

/// An event's fields, in the order the source gave them; a name appears at
/// most once.
#[derive(Clone, Default)]
pub struct Record {
    entries: Vec<(Text, Value)>,
    /// A bit for each name's [`name_bit`], so that looking for a name that
    /// is not there (a field a filter adds) mostly skips the scan. Removing
    /// a field leaves its bit: a set bit means "perhaps here".
    names: u64,
    /// Built once there are more than [`LINEAR_MAX`] entries.
    index: Option<Box<Index>>,
}

/// Capacity taken on trust from a decoder's size hint, at most: a hostile
/// frame may claim a billion entries.
const MAX_HINTED_CAPACITY: usize = 1024;

impl Record {
    /// An empty record.
    pub fn new() -> Record {
        Record::default()
    }

    /// An empty record with room for `n` fields.
    #[inline]
    pub fn with_capacity(n: usize) -> Record {
        Record {
            entries: Vec::with_capacity(n),
            names: 0,
            index: None,
        }
    }

    /// How many fields.
    #[inline]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when there are no fields.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// How many fields fit before the record grows.
    pub fn capacity(&self) -> usize {
        self.entries.capacity()
    }

    /// Makes room for `n` more fields.
    pub fn reserve(&mut self, n: usize) {
        self.entries.reserve(n);
    }

    /// Removes every field.
    pub fn clear(&mut self) {
        self.entries.clear();
        self.names = 0;
        self.index = None;
    }

    /// Where field `name` is.
    #[inline]
    pub fn get_index_of(&self, name: &str) -> Option<usize> {
        match &self.index {
            Some(index) => index.find(&self.entries, name),
            // Lengths first: a name's length is read without a branch,
            // its text only after working out where it lives.
            None if self.names & name_bit(name) == 0 => None,
            None => self
                .entries
                .iter()
                .position(|(k, _)| k.len() == name.len() && k.as_str() == name),
        }
    }

    /// The value of field `name`.
    #[inline]
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.get_index_of(name).map(|at| &self.entries[at].1)
    }

    /// The value of field `name`, to change in place.
    #[inline]
    pub fn get_mut(&mut self, name: &str) -> Option<&mut Value> {
        let at = self.get_index_of(name)?;
        Some(&mut self.entries[at].1)
    }

    /// True if the record has field `name`.
    #[inline]
    pub fn contains_key(&self, name: &str) -> bool {
        self.get_index_of(name).is_some()
    }

    /// Sets a field, keeping its place if it exists and appending it if
    /// not; returns the old value.
    #[inline]
    pub fn insert(&mut self, name: impl Into<Text>, value: impl Into<Value>) -> Option<Value> {
        let name = name.into();
        match self.get_index_of(&name) {
            Some(at) => Some(std::mem::replace(&mut self.entries[at].1, value.into())),
            None => {
                self.push(name, value.into());
                None
            }
        }
    }

    /// Appends a field the caller knows is not there yet: a parser whose
    /// field names were checked to be distinct when it was built. Skips
    /// the search that [`Record::insert`] makes; debug builds still check.
    #[inline(always)]
    pub fn insert_new(&mut self, name: impl Into<Text>, value: impl Into<Value>) {
        let name = name.into();
        debug_assert!(!self.contains_key(&name), "field {name:?} inserted twice");
        self.push(name, value.into());
    }

    /// The value of field `name`, made with `make` if it is missing.
    pub fn get_or_insert_with(
        &mut self,
        name: impl Into<Text>,
        make: impl FnOnce() -> Value,
    ) -> &mut Value {
        let name = name.into();
        let at = match self.get_index_of(&name) {
            Some(at) => at,
            None => {
                self.push(name, make());
                self.entries.len() - 1
            }
        };
        &mut self.entries[at].1
    }

    /// Removes field `name`, keeping the order of the others.
    pub fn shift_remove(&mut self, name: &str) -> Option<Value> {
        self.shift_remove_full(name).map(|(_, _, v)| v)
    }

    /// Removes field `name`, keeping the order of the others; gives back
    /// where it was, its name and its value.
    pub fn shift_remove_full(&mut self, name: &str) -> Option<(usize, Text, Value)> {
        let at = self.get_index_of(name)?;
        let (k, v) = self.entries.remove(at);
        self.reindex();
        Some((at, k, v))
    }

    /// Renames field `from` to `to` in its place, replacing any field
    /// already named `to`; nothing happens if there is no `from`.
    pub fn rename_in_place(&mut self, from: &str, to: &str) {
        let Some((index, mut key, value)) = self.shift_remove_full(from) else {
            return;
        };
        let index = match self.shift_remove_full(to) {
            Some((taken, ..)) if taken < index => index - 1,
            _ => index,
        };
        // Reuses the old name's allocation for the new name.
        key.clear();
        key.push_str(to);
        let at = index.min(self.len());
        self.shift_insert(at, key, value);
    }

    /// Puts a field at position `at` (at the end if `at` is past it),
    /// moving it there if it exists; returns the old value.
    pub fn shift_insert(
        &mut self,
        at: usize,
        name: impl Into<Text>,
        value: impl Into<Value>,
    ) -> Option<Value> {
        let name = name.into();
        let old = self
            .get_index_of(&name)
            .map(|was| self.entries.remove(was).1);
        let at = at.min(self.entries.len());
        self.names |= name_bit(&name);
        self.entries.insert(at, (name, value.into()));
        self.reindex();
        old
    }

    /// The fields in order.
    #[inline]
    pub fn iter(&self) -> Iter<'_> {
        Iter::new(&self.entries)
    }

    /// The fields in order, values changeable.
    pub fn iter_mut(&mut self) -> IterMut<'_> {
        IterMut::new(&mut self.entries)
    }

    /// The names in order.
    pub fn keys(&self) -> Keys<'_> {
        Keys::new(&self.entries)
    }

    /// The values in order.
    pub fn values(&self) -> Values<'_> {
        Values::new(&self.entries)
    }

    /// The value of field `name`, looked for first where `hint` says it
    /// was last time. Records from one parser keep their fields in one
    /// order, so a filter reading the same field of every event finds it
    /// there with one comparison.
    #[inline]
    pub fn get_hinted(&self, name: &str, hint: &FieldHint) -> Option<&Value> {
        let at = hint.0.load(Ordering::Relaxed);
        if let Some((key, value)) = self.entries.get(at)
            && key.as_str() == name
        {
            return Some(value);
        }
        let at = self.get_index_of(name)?;
        hint.0.store(at, Ordering::Relaxed);
        Some(&self.entries[at].1)
    }

    /// Bytes this record holds on the heap beyond its own handle: the
    /// entries, the index if any, and the names and values too long to be
    /// inline.
    pub fn heap_size(&self) -> usize {
        self.entries.capacity() * size_of::<(Text, Value)>()
            + self
                .index
                .as_ref()
                .map_or(0, |i| size_of::<Index>() + i.heap_size())
            + self
                .entries
                .iter()
                .map(|(k, v)| text_heap(k) + v.heap_size())
                .sum::<usize>()
    }

    #[inline(always)]
    fn push(&mut self, name: Text, value: Value) {
        self.names |= name_bit(&name);
        self.entries.reserve(1);
        let len = self.entries.len();
        let slot = self.entries.spare_capacity_mut()[0].as_mut_ptr();
        // SAFETY: `reserve` made room for the slot, and both halves are
        // written before `set_len` counts it. Writing them one by one, not
        // as a tuple, keeps the compiler from building the entry on the
        // stack and copying it with loads wider than the stores that made
        // it, which stalled every append.
        unsafe {
            std::ptr::addr_of_mut!((*slot).0).write(name);
            std::ptr::addr_of_mut!((*slot).1).write(value);
            self.entries.set_len(len + 1);
        }
        if self.index.is_some() || self.entries.len() > LINEAR_MAX {
            self.index_last();
        }
    }

    /// Adds the last entry to the index, building it if this entry is the
    /// one that makes the record too big to scan. Out of line, so that
    /// appending to a small record stays a few instructions.
    #[cold]
    fn index_last(&mut self) {
        let at = self.entries.len() - 1;
        match &mut self.index {
            Some(index) => index.add(&self.entries, &self.entries[at].0, at),
            None => self.index = Some(Box::new(Index::build(&self.entries))),
        }
    }

    /// Rebuilds the index after entries moved; drops it once the record
    /// is small enough to scan.
    fn reindex(&mut self) {
        self.index =
            (self.entries.len() > LINEAR_MAX).then(|| Box::new(Index::build(&self.entries)));
    }
}

/// One of 64 bits, by a name's length and first byte: the fields of one
/// kind of log mostly differ in one or the other (`api_call` and
/// `protocol`, `status_class` and `http_referer`).
#[inline(always)]
fn name_bit(name: &str) -> u64 {
    let first = name.as_bytes().first().copied().unwrap_or(0);
    1 << ((name.len() * 7 + usize::from(first)) % 64)
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

/// Heap bytes of a name or text value (none when inline). Its length, not
/// its capacity: compact_str reads a heap capacity in a call of its own,
/// once per long field of every event, and text here is made at its length.
#[inline]
pub(crate) fn text_heap(text: &Text) -> usize {
    if text.is_heap_allocated() {
        text.len()
    } else {
        0
    }
}

/// Two records are equal when they have the same fields with the same
/// values, in any order: a record is a map.
impl PartialEq for Record {
    fn eq(&self, other: &Record) -> bool {
        self.len() == other.len() && self.iter().all(|(k, v)| other.get(k) == Some(v))
    }
}

impl IndexOp<&str> for Record {
    type Output = Value;

    /// The value of field `name`; panics if there is none, so it is for
    /// tests and fields known to be there.
    fn index(&self, name: &str) -> &Value {
        match self.get(name) {
            Some(value) => value,
            None => panic!("no field {name:?} in the record"),
        }
    }
}

impl fmt::Debug for Record {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl<K: Into<Text>, V: Into<Value>> FromIterator<(K, V)> for Record {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Record {
        let iter = iter.into_iter();
        let mut record = Record::with_capacity(iter.size_hint().0.min(MAX_HINTED_CAPACITY));
        record.extend(iter);
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
    type IntoIter = std::vec::IntoIter<(Text, Value)>;

    fn into_iter(self) -> Self::IntoIter {
        self.entries.into_iter()
    }
}

impl<'a> IntoIterator for &'a Record {
    type Item = (&'a Text, &'a Value);
    type IntoIter = Iter<'a>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl<'a> IntoIterator for &'a mut Record {
    type Item = (&'a Text, &'a mut Value);
    type IntoIter = IterMut<'a>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter_mut()
    }
}

impl Serialize for Record {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.iter())
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
        // A name given twice keeps its first place and its last value.
        while let Some(name) = map.next_key::<Text>()? {
            let value = map.next_value::<Value>()?;
            record.insert(name, value);
        }
        Ok(record)
    }
}

#[cfg(test)]
mod tests;
