use std::collections::HashSet;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};

use crate::Record;

/// The tag that events which failed to parse are routed under.
///
/// An output whose `match` is `@ERROR` receives them, raw bytes included.
pub const ERROR_TAG: &str = "@ERROR";

/// A dot-separated routing key such as `nginx.access`.
///
/// Cheap to clone. A tag from the config ([`Tag::fixed`]) is a plain
/// pointer, so the millions of events a source tags cost nothing; any other
/// shares one reference-counted allocation.
#[derive(Clone)]
pub struct Tag(Repr);

#[derive(Clone)]
enum Repr {
    /// Lives as long as the process. Cloning a shared tag on the source's
    /// thread and dropping it on the output's would move the count's cache
    /// line between cores twice per event.
    Fixed(&'static str),
    Shared(Arc<str>),
}

/// Every text [`Tag::fixed`] has kept, so building the same config twice
/// keeps each tag once.
static FIXED: Mutex<Option<HashSet<&'static str>>> = Mutex::new(None);

impl Tag {
    /// Makes a tag from text that arrives at run time (a rendered re-tag,
    /// a tag a client sends).
    pub fn new(tag: &str) -> Tag {
        Tag(Repr::Shared(Arc::from(tag)))
    }

    /// Makes a tag from text the config fixes (a source's tag, a literal
    /// re-tag), kept for the life of the process.
    pub fn fixed(tag: &str) -> Tag {
        let mut kept = FIXED
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let kept = kept.get_or_insert_with(HashSet::new);
        let text = match kept.get(tag) {
            Some(text) => *text,
            None => {
                let text: &'static str = Box::leak(Box::from(tag));
                kept.insert(text);
                text
            }
        };
        Tag(Repr::Fixed(text))
    }

    /// The tag's text.
    pub fn as_str(&self) -> &str {
        match &self.0 {
            Repr::Fixed(text) => text,
            Repr::Shared(text) => text,
        }
    }

    /// True when both are the same handle, which implies the same text;
    /// a cheap first check before comparing text.
    pub fn same_handle(&self, other: &Tag) -> bool {
        std::ptr::eq(self.as_str(), other.as_str())
    }

    /// The tag's dot-separated parts.
    pub fn parts(&self) -> impl Iterator<Item = &str> {
        self.as_str().split('.')
    }
}

impl PartialEq for Tag {
    fn eq(&self, other: &Tag) -> bool {
        self.same_handle(other) || self.as_str() == other.as_str()
    }
}

impl Eq for Tag {}

impl Hash for Tag {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl PartialOrd for Tag {
    fn partial_cmp(&self, other: &Tag) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Tag {
    fn cmp(&self, other: &Tag) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl From<&str> for Tag {
    fn from(tag: &str) -> Tag {
        Tag::new(tag)
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.as_str())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_tags_are_kept_once_and_equal_shared_ones() {
        let a = Tag::fixed("nginx.access");
        let b = Tag::fixed("nginx.access");
        assert!(a.same_handle(&b), "the same text is kept once");
        let shared = Tag::new("nginx.access");
        assert!(!a.same_handle(&shared));
        assert_eq!(a, shared);
        let hash = |t: &Tag| {
            let mut h = std::hash::DefaultHasher::new();
            t.hash(&mut h);
            h.finish()
        };
        assert_eq!(hash(&a), hash(&shared));
        assert!(Tag::fixed("a.b") < Tag::new("a.c"));
        assert_eq!(format!("{a} {a:?}"), "nginx.access \"nginx.access\"");
    }
}
