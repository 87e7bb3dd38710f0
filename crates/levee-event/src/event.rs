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
    /// Where in a replayable input the event was read, if it was.
    pub origin: Option<Origin>,
}

/// Where an event was read in a stream a source can read again (a tailed
/// file): which stream, and the byte offset where the event's (first) line
/// starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Origin {
    /// The stream, as an id the source derives (for a tailed file, from the
    /// source's name and the file's identity).
    pub stream: u64,
    /// The byte offset of the event's first line in the stream.
    pub offset: u64,
}

impl Event {
    /// Makes an event.
    pub fn new(tag: Tag, time: i64, record: Record) -> Event {
        Event {
            tag,
            time,
            record,
            origin: None,
        }
    }

    /// The event, read at `origin`.
    pub fn with_origin(mut self, origin: Origin) -> Event {
        self.origin = Some(origin);
        self
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
