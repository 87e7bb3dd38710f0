//! Which offsets are delivered: the source's side of the acks.
//!
//! Each batch the source sends carries an ack with a sequence number from
//! the source's ledger. With it goes a snapshot of where every followed
//! file was sent to, kept as the changes since the batch before (a file
//! that did not move costs nothing). When the ledger says every batch
//! through seq `s` is done, the changes up to `s` are applied to the
//! delivered offsets, which are what the checkpoint holds.
//!
//! A file's sent offset never passes a line that is not in a sent batch
//! (see `LineBuffer::sent_offset`), so a delivered offset never passes a
//! line that some output has not finished with.

use std::collections::{HashMap, VecDeque};

use super::checkpoint::Entry;
use super::identity::FileId;

/// A change to what the checkpoint should say.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Change {
    /// The file was sent up to the entry's offset.
    At(Entry),
    /// The file was let go after its last line was sent: once that line is
    /// delivered, the checkpoint forgets it.
    Gone(FileId),
}

/// Delivered offsets, and the sent ones waiting on their acks.
#[derive(Debug, Default)]
pub(super) struct Progress {
    delivered: HashMap<FileId, Entry>,
    /// Per seq sent and not yet done, oldest first: the changes that are
    /// delivered once it is.
    in_flight: VecDeque<(u64, Vec<Change>)>,
    /// The delivered offsets changed since the last checkpoint write.
    dirty: bool,
}

impl Progress {
    /// Starts from what the checkpoint said of the files found again.
    pub(super) fn new(delivered: impl IntoIterator<Item = Entry>) -> Progress {
        Progress {
            delivered: delivered.into_iter().map(|e| (e.id(), e)).collect(),
            in_flight: VecDeque::new(),
            dirty: true,
        }
    }

    /// A batch was sent with the ack of `seq`; the changes [`record`]ed
    /// next belong to it.
    ///
    /// [`record`]: Progress::record
    pub(super) fn sent(&mut self, seq: u64) {
        self.in_flight.push_back((seq, Vec::new()));
    }

    /// Changes to sent offsets, taken when every line before them is in a
    /// sent batch (none is waiting in the decoder): they are delivered with
    /// the last batch sent, or at once if every batch is done.
    pub(super) fn record(&mut self, changes: impl IntoIterator<Item = Change>) {
        match self.in_flight.back_mut() {
            Some((_, pending)) => pending.extend(changes),
            None => {
                for change in changes {
                    self.apply(change);
                }
            }
        }
    }

    /// Every batch through `done_through` is done.
    pub(super) fn done(&mut self, done_through: Option<u64>) {
        let Some(through) = done_through else {
            return;
        };
        while self
            .in_flight
            .front()
            .is_some_and(|(seq, _)| *seq <= through)
        {
            if let Some((_, changes)) = self.in_flight.pop_front() {
                for change in changes {
                    self.apply(change);
                }
            }
        }
    }

    fn apply(&mut self, change: Change) {
        match change {
            Change::At(entry) => {
                if self.delivered.get(&entry.id()) != Some(&entry) {
                    self.delivered.insert(entry.id(), entry);
                    self.dirty = true;
                }
            }
            Change::Gone(id) => {
                self.dirty |= self.delivered.remove(&id).is_some();
            }
        }
    }

    /// Where `id` is delivered to, if the checkpoint knows it.
    pub(super) fn delivered(&self, id: &FileId) -> Option<u64> {
        self.delivered.get(id).map(|e| e.offset)
    }

    /// What the checkpoint knows of `id`: where it is delivered to, in
    /// which generation.
    pub(super) fn entry(&self, id: &FileId) -> Option<&Entry> {
        self.delivered.get(id)
    }

    /// Every file the checkpoint knows.
    pub(super) fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.delivered.values()
    }

    /// Batches sent and not yet done.
    pub(super) fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// The checkpoint to write, if it changed since the last one taken.
    pub(super) fn take_checkpoint(&mut self) -> Option<Vec<Entry>> {
        if !self.dirty {
            return None;
        }
        self.dirty = false;
        let mut entries: Vec<Entry> = self.delivered.values().cloned().collect();
        entries.sort_by(|a, b| a.path.cmp(&b.path));
        Some(entries)
    }

    /// A write of the checkpoint failed: try again at the next.
    pub(super) fn write_failed(&mut self) {
        self.dirty = true;
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn at(inode: u64, offset: u64) -> Change {
        Change::At(entry(inode, offset))
    }

    fn entry(inode: u64, offset: u64) -> Entry {
        let id = FileId {
            dev: 1,
            inode,
            fingerprint: 2,
        };
        Entry::new(PathBuf::from(format!("f{inode}")), id, 0, offset)
    }

    fn offsets(p: &Progress) -> Vec<(u64, u64)> {
        let mut got: Vec<_> = p.delivered.values().map(|e| (e.inode, e.offset)).collect();
        got.sort();
        got
    }

    #[test]
    fn offsets_are_delivered_only_through_the_done_prefix() {
        let mut p = Progress::new([entry(1, 10)]);
        assert_eq!(p.take_checkpoint().map(|c| c.len()), Some(1));
        p.sent(0);
        p.record([at(1, 20), at(2, 5)]);
        p.sent(1);
        p.record([at(1, 30)]);
        p.done(None);
        assert_eq!(offsets(&p), [(1, 10)]);
        assert_eq!(p.take_checkpoint(), None, "nothing changed");
        p.done(Some(0));
        assert_eq!(offsets(&p), [(1, 20), (2, 5)]);
        assert!(p.take_checkpoint().is_some());
        p.done(Some(1));
        assert_eq!(offsets(&p), [(1, 30), (2, 5)]);
        assert_eq!(p.in_flight(), 0);
    }

    #[test]
    fn changes_with_nothing_in_flight_are_delivered_at_once() {
        let mut p = Progress::new([]);
        p.record([at(1, 7)]);
        assert_eq!(offsets(&p), [(1, 7)]);
        // With a batch in flight, they wait for it.
        p.sent(0);
        p.record([
            at(1, 9),
            Change::Gone(FileId {
                dev: 1,
                inode: 3,
                fingerprint: 2,
            }),
        ]);
        assert_eq!(offsets(&p), [(1, 7)]);
        p.done(Some(0));
        assert_eq!(offsets(&p), [(1, 9)]);
    }

    #[test]
    fn a_file_let_go_is_forgotten_once_its_last_batch_is_done() {
        let mut p = Progress::new([entry(1, 10)]);
        p.sent(0);
        p.record([at(1, 20), Change::Gone(entry(1, 0).id())]);
        p.done(None);
        assert_eq!(offsets(&p), [(1, 10)]);
        p.done(Some(0));
        assert_eq!(offsets(&p), []);
    }
}
