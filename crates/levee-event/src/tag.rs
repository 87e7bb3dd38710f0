//! Tags: the dot-separated routing keys (`nginx.access`) that `match`
//! patterns select, and the one rule for what a config may name as a tag.

use std::collections::HashSet;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};

/// The tag that events which failed to parse are routed under.
///
/// An output whose `match` is `@ERROR` receives them, raw bytes included.
/// Make the tag itself with [`Tag::error`].
pub const ERROR_TAG: &str = "@ERROR";

/// Why a tag from the config was refused by [`Tag::parse`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TagError {
    /// No text at all.
    #[error("a tag cannot be empty; use dot-separated words such as `nginx.access`")]
    Empty,
    /// An empty part, as in `a..b`, `.a` or `a.`.
    #[error("`{0}` has an empty part; use dot-separated words such as `nginx.access`")]
    EmptyPart(String),
    /// A character that no `match` pattern could name literally: a space
    /// (patterns split at spaces), a control character, or `*`, `{`, `}`.
    #[error(
        "`{tag}` holds {what}; a tag is dot-separated words such as `nginx.access`, \
         without spaces or the pattern characters `* {{ }}`"
    )]
    BadCharacter {
        /// The tag as written.
        tag: String,
        /// The character, as a message says it.
        what: String,
    },
    /// A tag starting with `@`, which levee keeps for its own routes.
    #[error("`{0}` starts with `@`, which is reserved for levee's own routes such as `@ERROR`")]
    Reserved(String),
}

/// A dot-separated routing key such as `nginx.access`.
///
/// Cheap to clone. A tag from the config ([`Tag::parse`]) is a plain
/// pointer, so the millions of events a source tags cost nothing; any other
/// shares one reference-counted allocation.
///
/// Three ways to make one: [`Tag::parse`] for a tag the config names (the
/// one rule, checked once at build), [`Tag::new`] for text that arrives at
/// run time (not checked: a client's tag is routed as sent), and
/// [`Tag::error`] for the reserved `@ERROR`.
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
    /// Checks a tag the config names (a source's `tag`, a literal
    /// `retag`) and makes it, kept for the life of the process.
    ///
    /// The rule: dot-separated non-empty parts, no whitespace or control
    /// characters, none of the pattern characters `*`, `{`, `}` (so a
    /// literal `match` can name it), and no leading `@` (reserved).
    pub fn parse(text: &str) -> Result<Tag, TagError> {
        Tag::check(text)?;
        Ok(Tag::fixed(text))
    }

    /// The rule of [`Tag::parse`] without making the tag, for code that
    /// only checks (a config validator).
    pub fn check(text: &str) -> Result<(), TagError> {
        if text.is_empty() {
            return Err(TagError::Empty);
        }
        if text.starts_with('@') {
            return Err(TagError::Reserved(text.to_owned()));
        }
        if let Some(c) = text
            .chars()
            .find(|c| c.is_whitespace() || c.is_control() || matches!(c, '*' | '{' | '}'))
        {
            let what = if c.is_whitespace() {
                "a space".to_owned()
            } else if c.is_control() {
                format!("the control character {c:?}")
            } else {
                format!("`{c}`")
            };
            return Err(TagError::BadCharacter {
                tag: text.to_owned(),
                what,
            });
        }
        if text.split('.').any(str::is_empty) {
            return Err(TagError::EmptyPart(text.to_owned()));
        }
        Ok(())
    }

    /// Makes a tag from text that arrives at run time (a rendered re-tag,
    /// a tag a client sends), as it is.
    pub fn new(tag: &str) -> Tag {
        Tag(Repr::Shared(Arc::from(tag)))
    }

    /// The reserved tag of events that failed to parse, [`ERROR_TAG`].
    pub fn error() -> Tag {
        Tag::fixed(ERROR_TAG)
    }

    /// Keeps the text for the life of the process. Private: config tags go
    /// through [`Tag::parse`], and a config is built a bounded number of
    /// times, so the kept set stays small.
    fn fixed(tag: &str) -> Tag {
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

    /// The part at `index` from 0, or from the end for a negative index
    /// (`-1` is the last), as Fluentd's `tag_parts[N]`.
    pub fn part(&self, index: isize) -> Option<&str> {
        match usize::try_from(index) {
            Ok(from_start) => self.as_str().split('.').nth(from_start),
            Err(_) => self
                .as_str()
                .rsplit('.')
                .nth(index.unsigned_abs().saturating_sub(1)),
        }
    }

    /// The first `n + 1` parts (`a.b` for `n = 1` of `a.b.c`), as Fluentd's
    /// `tag_prefix[N]`.
    pub fn prefix(&self, n: usize) -> Option<&str> {
        let text = self.as_str();
        match text.match_indices('.').nth(n) {
            Some((at, _)) => Some(&text[..at]),
            None => (text.matches('.').count() == n).then_some(text),
        }
    }

    /// The parts from the `n`-th on (`b.c` for `n = 1` of `a.b.c`), as
    /// Fluentd's `tag_suffix[N]`.
    pub fn suffix(&self, n: usize) -> Option<&str> {
        let text = self.as_str();
        if n == 0 {
            return Some(text);
        }
        text.match_indices('.')
            .nth(n - 1)
            .map(|(at, _)| &text[at + 1..])
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_tags_are_kept_once_and_equal_shared_ones() {
        let a = Tag::parse("nginx.access").unwrap();
        let b = Tag::parse("nginx.access").unwrap();
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
        assert!(Tag::parse("a.b").unwrap() < Tag::new("a.c"));
        assert_eq!(format!("{a} {a:?}"), "nginx.access \"nginx.access\"");
        assert!(Tag::error().same_handle(&Tag::error()));
        assert_eq!(Tag::error().as_str(), ERROR_TAG);
    }

    /// A source's tag refused `@` but allowed spaces, a literal re-tag the
    /// other way round: one rule now serves both.
    #[test]
    fn config_tags_follow_one_rule_for_spaces_and_at() {
        for ok in ["nginx.access", "a", "web-1.x_y", "a.@b", "日本.ログ"] {
            assert!(Tag::parse(ok).is_ok(), "{ok:?}");
        }
        assert_eq!(Tag::check(""), Err(TagError::Empty));
        assert!(matches!(Tag::check("@ERROR"), Err(TagError::Reserved(_))));
        assert!(matches!(Tag::check("@x.y"), Err(TagError::Reserved(_))));
        for bad in ["a b", "a.b ", "a\tb", "a.*", "a.{b,c}", "a}"] {
            assert!(
                matches!(Tag::check(bad), Err(TagError::BadCharacter { .. })),
                "{bad:?}"
            );
        }
        for bad in ["a..b", ".a", "a.", "."] {
            assert!(
                matches!(Tag::check(bad), Err(TagError::EmptyPart(_))),
                "{bad:?}"
            );
        }
        let message = Tag::check("a b").unwrap_err().to_string();
        assert!(message.contains("a space"), "{message}");
    }

    #[test]
    fn parts_prefixes_and_suffixes_as_fluentd_has_them() {
        let t = Tag::new("a.b.c");
        assert_eq!(t.part(0), Some("a"));
        assert_eq!(t.part(2), Some("c"));
        assert_eq!(t.part(3), None);
        assert_eq!(t.part(-1), Some("c"));
        assert_eq!(t.part(-3), Some("a"));
        assert_eq!(t.part(-4), None);
        assert_eq!(t.prefix(0), Some("a"));
        assert_eq!(t.prefix(1), Some("a.b"));
        assert_eq!(t.prefix(2), Some("a.b.c"));
        assert_eq!(t.prefix(3), None);
        assert_eq!(t.suffix(0), Some("a.b.c"));
        assert_eq!(t.suffix(1), Some("b.c"));
        assert_eq!(t.suffix(2), Some("c"));
        assert_eq!(t.suffix(3), None);
    }
}
