//! The hash index a record builds once it has too many fields to scan.
//!
//! Most records have a dozen fields or so, and for them comparing names one
//! after the other is faster than hashing. A hostile JSON object can have
//! thousands, and then every insert must not scan them all: past
//! [`LINEAR_MAX`] fields the record keeps this index beside its entries.

use std::hash::BuildHasher;

use hashbrown::HashTable;

use super::Text;
use crate::Value;

/// Fields a record scans before it builds an index.
pub(super) const LINEAR_MAX: usize = 16;

/// Positions of a record's entries, by the hash of their names.
#[derive(Clone, Default)]
pub(super) struct Index {
    table: HashTable<usize>,
    hasher: foldhash::fast::RandomState,
}

impl Index {
    /// An index over all of `entries`.
    pub(super) fn build(entries: &[(Text, Value)]) -> Index {
        let mut index = Index {
            table: HashTable::with_capacity(entries.len()),
            hasher: Default::default(),
        };
        for (at, (name, _)) in entries.iter().enumerate() {
            index.add(entries, name, at);
        }
        index
    }

    /// Where `name` is in `entries`, if it is.
    pub(super) fn find(&self, entries: &[(Text, Value)], name: &str) -> Option<usize> {
        let hash = self.hasher.hash_one(name);
        self.table
            .find(hash, |&at| entries[at].0.as_str() == name)
            .copied()
    }

    /// Records that `name` is at `at`; it must not be indexed yet.
    pub(super) fn add(&mut self, entries: &[(Text, Value)], name: &str, at: usize) {
        let hash = self.hasher.hash_one(name);
        let hasher = &self.hasher;
        self.table.insert_unique(hash, at, |&other| {
            hasher.hash_one(entries[other].0.as_str())
        });
    }

    /// Bytes the index holds on the heap: a slot and a control byte per
    /// bucket.
    pub(super) fn heap_size(&self) -> usize {
        self.table.capacity() * (size_of::<usize>() + 1)
    }
}
