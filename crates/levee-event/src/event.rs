use crate::{Record, Tag};

/// One log line or message, as it travels through the pipeline.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    /// Where it is routed.
    pub tag: Tag,
    /// Event time, nanoseconds since the Unix epoch, UTC.
    pub time: i64,
    /// The structured fields.
    pub record: Record,
}

impl Event {
    /// Makes an event.
    pub fn new(tag: Tag, time: i64, record: Record) -> Event {
        Event { tag, time, record }
    }

    /// About how many bytes the event holds in memory, for bounding queues:
    /// the event itself, its record's table (each field costs its map entry
    /// and index slot whatever its text) and the text too long to be inline.
    pub fn size_hint(&self) -> usize {
        size_of::<Event>() + self.record.heap_size()
    }
}

/// Events travel between stages in batches, to amortise per-call costs.
pub type Batch = Vec<Event>;
