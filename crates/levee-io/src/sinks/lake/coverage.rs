//! What the lake's chunks hold of the tailed files, by origin: the ranges
//! a chunk gathers as it is filled, the set of stored ranges a replay is
//! checked against, and the pruning of ranges no replay can reach.
//!
//! Why a range is enough: a tail source reads each stream (a file) in
//! offset order, and the sink puts each event in the one open chunk of
//! its hour, so the events of one stream and hour that a chunk holds are
//! every such event between its first and last offset. After a crash the
//! source replays a stream from its checkpoint; an event whose hour,
//! stream and offset fall in a stored chunk's range is already in the
//! lake and is skipped.

use std::collections::{BTreeMap, HashMap, HashSet};

use levee_event::Origin;

use super::journal::{Intent, Range};

/// The offsets of a chunk's events, per stream, as it is filled.
#[derive(Debug, Default)]
pub(super) struct ChunkRanges {
    ranges: Vec<Range>,
    /// The range noted last: events come in runs of one stream.
    last: usize,
}

impl ChunkRanges {
    /// Notes an event read at `origin`.
    #[inline]
    pub(super) fn note(&mut self, origin: Origin) {
        if let Some(r) = self.ranges.get_mut(self.last)
            && r.stream == origin.stream
        {
            r.first = r.first.min(origin.offset);
            r.last = r.last.max(origin.offset);
            return;
        }
        self.note_other_stream(origin);
    }

    #[cold]
    fn note_other_stream(&mut self, origin: Origin) {
        match self.ranges.iter().position(|r| r.stream == origin.stream) {
            Some(i) => {
                self.last = i;
                let r = &mut self.ranges[i];
                r.first = r.first.min(origin.offset);
                r.last = r.last.max(origin.offset);
            }
            None => {
                self.last = self.ranges.len();
                self.ranges.push(Range {
                    stream: origin.stream,
                    first: origin.offset,
                    last: origin.offset,
                });
            }
        }
    }

    /// The ranges, by stream.
    pub(super) fn into_ranges(mut self) -> Vec<Range> {
        self.ranges.sort_unstable();
        self.ranges
    }
}

/// The stored chunks' ranges a replay may still reach, and the check of
/// each replayed event against them.
#[derive(Debug, Default)]
pub(super) struct Covered {
    /// Disjoint ranges per stream and hour: `(stream, hour, first)` to
    /// `last`.
    ranges: BTreeMap<(u64, i64, u64), u64>,
    /// Per stream, the highest covered offset: an event past it is not
    /// looked up, and the stream is then forgotten.
    highest: HashMap<u64, u64>,
    /// The last stream found to have nothing covered: events come in runs
    /// of one stream, and a stream with nothing covered never gets any,
    /// so its next events need no lookup.
    uncovered: Option<u64>,
}

impl Covered {
    /// The ranges of stored chunks.
    pub(super) fn of<'a>(chunks: impl IntoIterator<Item = &'a Intent>) -> Covered {
        let mut covered = Covered::default();
        for chunk in chunks {
            for range in &chunk.ranges {
                covered.add(chunk.hour, *range);
            }
        }
        covered
    }

    /// Adds a range, merged with those it overlaps, so that the ranges of
    /// a stream and hour stay disjoint and one lookup finds the one that
    /// holds an offset. (A chunk written during a replay may span a
    /// chunk stored before the crash: it holds the events around it.)
    fn add(&mut self, hour: i64, range: Range) {
        let Range {
            stream,
            mut first,
            mut last,
        } = range;
        let overlapping: Vec<(u64, u64)> = self
            .ranges
            .range((stream, hour, 0)..=(stream, hour, last))
            .filter(|(_, end)| **end >= first)
            .map(|((_, _, start), end)| (*start, *end))
            .collect();
        for (start, end) in overlapping {
            self.ranges.remove(&(stream, hour, start));
            first = first.min(start);
            last = last.max(end);
        }
        self.ranges.insert((stream, hour, first), last);
        let highest = self.highest.entry(stream).or_insert(last);
        *highest = (*highest).max(last);
    }

    /// True when nothing is covered: no event needs a look.
    #[inline]
    pub(super) fn is_empty(&self) -> bool {
        self.highest.is_empty()
    }

    /// True if a stored chunk holds the event of this hour read at
    /// `origin`. The first event of a stream past its highest covered
    /// offset forgets the stream: the source reads each stream forward,
    /// so nothing after it can be covered (and a file truncated and
    /// written again later in this run is never mistaken for the old).
    pub(super) fn covers(&mut self, hour: i64, origin: Origin) -> bool {
        if self.uncovered == Some(origin.stream) {
            return false;
        }
        let Some(&highest) = self.highest.get(&origin.stream) else {
            self.uncovered = Some(origin.stream);
            return false;
        };
        if origin.offset > highest {
            self.forget(origin.stream);
            return false;
        }
        self.ranges
            .range(..=(origin.stream, hour, origin.offset))
            .next_back()
            .is_some_and(|((stream, h, _), last)| {
                *stream == origin.stream && *h == hour && *last >= origin.offset
            })
    }

    fn forget(&mut self, stream: u64) {
        self.highest.remove(&stream);
        let keys: Vec<_> = self
            .ranges
            .range((stream, i64::MIN, 0)..=(stream, i64::MAX, u64::MAX))
            .map(|(key, _)| *key)
            .collect();
        for key in keys {
            self.ranges.remove(&key);
        }
    }
}

/// Drops the ranges no replay can reach, given the committed checkpoints
/// (`offsets`: per stream, the offset its source resumes at): those a
/// stream's checkpoint has passed, and those of a stream the checkpoints
/// named at an earlier open (`named`) and name no more, whose file the
/// source has let go. A stream never named is kept: the source may have
/// found its file after its last checkpoint, and would then read it from
/// its start. Returns the streams to remember as named.
pub(super) fn prune(
    chunks: &mut [Intent],
    offsets: &HashMap<u64, u64>,
    named: &HashSet<u64>,
) -> HashSet<u64> {
    let mut still_named = HashSet::new();
    for chunk in chunks.iter_mut() {
        chunk.ranges.retain(|r| match offsets.get(&r.stream) {
            Some(&resume) => {
                let reachable = r.last >= resume;
                if reachable {
                    still_named.insert(r.stream);
                }
                reachable
            }
            None => !named.contains(&r.stream),
        });
    }
    still_named
}

/// Which streams a committed checkpoint has named, as the journal says
/// (see [`prune`]), kept up to date while the output runs: a file found,
/// read and let go between two starts is named by the checkpoints in
/// between, and the next start then knows to prune it.
#[derive(Debug, Default)]
pub(super) struct Naming {
    /// Named in the journal.
    named: HashSet<u64>,
    /// Streams of journaled ranges that no checkpoint has named yet.
    unnamed: HashSet<u64>,
}

impl Naming {
    /// From what a start settled: the streams named, and those of the
    /// ranges kept.
    pub(super) fn new(named: HashSet<u64>, streams: impl IntoIterator<Item = u64>) -> Naming {
        let unnamed = streams.into_iter().filter(|s| !named.contains(s)).collect();
        Naming { named, unnamed }
    }

    /// Notes the streams of a chunk's ranges.
    pub(super) fn note(&mut self, ranges: &[Range]) {
        for r in ranges {
            if !self.named.contains(&r.stream) {
                self.unnamed.insert(r.stream);
            }
        }
    }

    /// True while some stream waits to be named.
    pub(super) fn waiting(&self) -> bool {
        !self.unnamed.is_empty()
    }

    /// The waiting streams the checkpoints (`offsets`) name, now taken as
    /// named: the caller journals them.
    pub(super) fn name(&mut self, offsets: &HashMap<u64, u64>) -> Vec<u64> {
        let mut now: Vec<u64> = self
            .unnamed
            .iter()
            .copied()
            .filter(|s| offsets.contains_key(s))
            .collect();
        now.sort_unstable();
        for s in &now {
            self.unnamed.remove(s);
            self.named.insert(*s);
        }
        now
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(stream: u64, offset: u64) -> Origin {
        Origin { stream, offset }
    }

    fn range(stream: u64, first: u64, last: u64) -> Range {
        Range {
            stream,
            first,
            last,
        }
    }

    fn chunk(hour: i64, ranges: Vec<Range>) -> Intent {
        Intent {
            seq: 1,
            hour,
            key: "k".into(),
            ranges,
        }
    }

    #[test]
    fn a_chunk_notes_each_streams_first_and_last_offset() {
        let mut ranges = ChunkRanges::default();
        for origin in [at(2, 10), at(2, 20), at(1, 5), at(2, 30), at(1, 7)] {
            ranges.note(origin);
        }
        assert_eq!(ranges.into_ranges(), [range(1, 5, 7), range(2, 10, 30)]);
    }

    #[test]
    fn an_event_is_covered_only_in_its_hour_stream_and_range() {
        let mut covered = Covered::of(&[
            chunk(10, vec![range(1, 100, 200), range(2, 0, 50)]),
            chunk(11, vec![range(1, 150, 300)]),
        ]);
        assert!(covered.covers(10, at(1, 100)));
        assert!(covered.covers(10, at(1, 200)));
        assert!(!covered.covers(10, at(1, 99)));
        assert!(!covered.covers(10, at(1, 201)), "in hour 11's range only");
        assert!(covered.covers(11, at(1, 201)));
        assert!(!covered.covers(12, at(1, 160)), "another hour");
        assert!(!covered.covers(10, at(3, 10)), "another stream");
        assert!(covered.covers(10, at(2, 50)));
    }

    #[test]
    fn overlapping_ranges_are_merged_so_every_offset_is_found() {
        // A chunk stored before a crash, then one written during the
        // replay that holds the events around it.
        let mut covered = Covered::of(&[
            chunk(10, vec![range(1, 100, 200)]),
            chunk(10, vec![range(1, 50, 400)]),
            chunk(10, vec![range(1, 500, 600)]),
        ]);
        for offset in [50, 150, 300, 400, 500, 600] {
            assert!(covered.covers(10, at(1, offset)), "{offset}");
        }
        assert!(!covered.covers(10, at(1, 450)));
        assert_eq!(covered.ranges.len(), 2);
    }

    #[test]
    fn a_stream_read_past_its_highest_covered_offset_is_forgotten() {
        let mut covered = Covered::of(&[
            chunk(10, vec![range(1, 0, 100), range(2, 0, 100)]),
            chunk(11, vec![range(1, 101, 200)]),
        ]);
        assert!(covered.covers(10, at(1, 50)));
        assert!(!covered.covers(11, at(1, 201)));
        // The file was truncated and written again: its offsets start
        // over, and are not the stored ones.
        assert!(!covered.covers(10, at(1, 50)));
        assert!(!covered.is_empty(), "stream 2 is still covered");
        assert!(!covered.covers(10, at(2, 101)));
        assert!(covered.is_empty());
    }

    #[test]
    fn streams_are_named_once_a_checkpoint_names_them() {
        let mut naming = Naming::new(HashSet::from([1]), [1, 2]);
        assert!(naming.waiting());
        naming.note(&[range(1, 0, 5), range(3, 0, 5)]);
        assert_eq!(naming.name(&HashMap::from([(1, 0), (3, 9)])), [3]);
        assert!(naming.waiting(), "stream 2 is not named yet");
        assert_eq!(naming.name(&HashMap::from([(2, 0)])), [2]);
        assert!(!naming.waiting());
        naming.note(&[range(2, 6, 9)]);
        assert!(!naming.waiting());
    }

    #[test]
    fn ranges_a_checkpoint_has_passed_are_pruned_and_unknown_streams_kept() {
        let mut chunks = vec![
            chunk(10, vec![range(1, 0, 99), range(2, 0, 99)]),
            chunk(10, vec![range(1, 100, 199)]),
            chunk(10, vec![range(3, 0, 10), range(4, 0, 10)]),
        ];
        // Stream 1 resumes at 100 (its line at 99 was delivered), stream
        // 3 at 11; stream 2 is in no checkpoint, nor ever was; stream 4
        // was named at an earlier open and is no more.
        let offsets = HashMap::from([(1, 100), (3, 11)]);
        let named = prune(&mut chunks, &offsets, &HashSet::from([3, 4]));
        assert_eq!(
            chunks,
            [
                chunk(10, vec![range(2, 0, 99)]),
                chunk(10, vec![range(1, 100, 199)]),
                chunk(10, vec![]),
            ]
        );
        assert_eq!(named, HashSet::from([1]));
    }
}
