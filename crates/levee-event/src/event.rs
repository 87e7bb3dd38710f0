use std::fmt;
use std::sync::Arc;

use crate::Record;

/// The tag that events which failed to parse are routed under.
///
/// An output whose `match` is `@ERROR` receives them, raw bytes included.
pub const ERROR_TAG: &str = "@ERROR";

/// A dot-separated routing key such as `nginx.access`.
///
/// Cheap to clone: every event of a source shares one allocation.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tag(Arc<str>);

impl Tag {
    /// Makes a tag from its text.
    pub fn new(tag: &str) -> Tag {
        Tag(Arc::from(tag))
    }

    /// The tag's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The tag's dot-separated parts.
    pub fn parts(&self) -> impl Iterator<Item = &str> {
        self.0.split('.')
    }
}

impl From<&str> for Tag {
    fn from(tag: &str) -> Tag {
        Tag::new(tag)
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", &*self.0)
    }
}

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
