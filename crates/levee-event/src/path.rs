//! Field paths: dotted names (`geo_ip.country`) that reach through nested
//! maps, with the one rule for what a config may write as one.
//!
//! Paths go through maps only (not arrays). A field whose name itself holds
//! a dot cannot be reached this way.

use std::fmt;

use crate::{Record, Value};

/// Characters a path may not hold: templates use them around references
/// (`${a|lower}`, `$.a`, `${tag_parts[0]}`), so a path holding one could not
/// be written in a template.
const RESERVED: [char; 8] = ['$', '{', '}', '|', '(', ')', '[', ']'];

/// Why a field path from the config was refused by [`FieldPath::parse`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// No text at all.
    #[error("a field path cannot be empty; write a name such as `status` or `geo_ip.country`")]
    Empty,
    /// An empty part (`a..b`, `.a`), or one with spaces at an end (`a. b`).
    #[error(
        "field path `{0}` has an empty part or spaces around a dot; a path is dot-separated \
         names such as `geo_ip.country`"
    )]
    BadPart(String),
    /// A character that templates reserve.
    #[error(
        "field path `{path}` holds `{reserved}`, which templates reserve (`$ {{ }} | ( ) [ ]`)"
    )]
    Reserved {
        /// The path as written.
        path: String,
        /// The character.
        reserved: char,
    },
}

/// A checked dotted field path such as `geo_ip.country`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FieldPath {
    text: Box<str>,
    /// The path has dots: known once, where searching for a dot per event
    /// showed in profiles.
    nested: bool,
}

impl FieldPath {
    /// Checks and makes a path: one or more names separated by dots, each
    /// non-empty, without spaces at either end and without `$ { } | ( ) [ ]`.
    pub fn parse(text: &str) -> Result<FieldPath, PathError> {
        if text.is_empty() {
            return Err(PathError::Empty);
        }
        if let Some(reserved) = text.chars().find(|c| RESERVED.contains(c)) {
            return Err(PathError::Reserved {
                path: text.to_owned(),
                reserved,
            });
        }
        if text
            .split('.')
            .any(|part| part.is_empty() || part.trim() != part)
        {
            return Err(PathError::BadPart(text.to_owned()));
        }
        Ok(FieldPath {
            text: text.into(),
            nested: text.contains('.'),
        })
    }

    /// The path as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// True if the path reaches into a map (it has a dot).
    pub fn is_nested(&self) -> bool {
        self.nested
    }

    /// The top-level field the path starts at (`geo_ip` of `geo_ip.country`).
    pub fn root(&self) -> &str {
        self.text.split('.').next().unwrap_or(&self.text)
    }

    /// The dot-separated names.
    pub fn parts(&self) -> impl Iterator<Item = &str> {
        self.text.split('.')
    }

    /// True if `inner` is this path or a field inside it (`a.b` is inside `a`).
    pub fn contains(&self, inner: &FieldPath) -> bool {
        inner
            .as_str()
            .strip_prefix(self.as_str())
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('.'))
    }

    /// The value at the path, if every map on the way is there.
    pub fn get<'a>(&self, record: &'a Record) -> Option<&'a Value> {
        if !self.nested {
            return record.get(&self.text);
        }
        walk(record, &self.text)
    }

    /// The value at the path, to change in place.
    pub fn get_mut<'a>(&self, record: &'a mut Record) -> Option<&'a mut Value> {
        let (map, leaf) = parent_mut(record, &self.text)?;
        map.get_mut(leaf)
    }

    /// Removes the field at the path, keeping the order of the others.
    pub fn remove(&self, record: &mut Record) -> Option<Value> {
        let (map, leaf) = parent_mut(record, &self.text)?;
        map.shift_remove(leaf)
    }

    /// Sets the field at the path, in place if it exists, else at the end
    /// of its map (making maps on the way). Gives the value back if a field
    /// on the way is not a map, which is left alone.
    pub fn put(&self, record: &mut Record, value: Value) -> Result<(), Value> {
        let Some((map, leaf)) = parent_or_insert(record, &self.text) else {
            return Err(value);
        };
        match map.get_mut(leaf) {
            Some(slot) => *slot = value,
            None => {
                map.insert(leaf, value);
            }
        }
        Ok(())
    }

    /// Moves the field at this path to `to`, replacing what `to` held.
    /// Within one map the field keeps its place; across maps it goes to the
    /// end of the target map. If `to` cannot be reached (a field on the way
    /// is not a map), nothing changes.
    pub fn rename(&self, record: &mut Record, target: &FieldPath) {
        let (from, to) = (self.as_str(), target.as_str());
        let same_map = match (from.rsplit_once('.'), to.rsplit_once('.')) {
            (None, None) => true,
            (Some((a, _)), Some((b, _))) => a == b,
            _ => false,
        };
        if same_map {
            if let Some((map, leaf)) = parent_mut(record, from) {
                let to_leaf = to.rsplit_once('.').map_or(to, |(_, leaf)| leaf);
                map.rename_in_place(leaf, to_leaf);
            }
            return;
        }
        let Some((map, leaf)) = parent_mut(record, from) else {
            return;
        };
        let Some((index, key, value)) = map.shift_remove_full(leaf) else {
            return;
        };
        if let Err(value) = target.put(record, value) {
            // The target is unreachable: put the field back where it was.
            if let Some((map, _)) = parent_mut(record, from) {
                let at = index.min(map.len());
                map.shift_insert(at, key, value);
            }
        }
    }
}

/// Walks a dotted path through nested maps; [`Value::get_path`] and
/// [`FieldPath::get`] share it.
pub(crate) fn walk<'a>(record: &'a Record, path: &str) -> Option<&'a Value> {
    let mut parts = path.split('.');
    let mut current = record.get(parts.next()?)?;
    for part in parts {
        match current {
            Value::Map(m) => current = m.get(part)?,
            _ => return None,
        }
    }
    Some(current)
}

/// The map holding the path's last part, and that part; `None` if a map on
/// the way is missing or is not a map.
fn parent_mut<'r, 'p>(record: &'r mut Record, path: &'p str) -> Option<(&'r mut Record, &'p str)> {
    let Some((parents, leaf)) = path.rsplit_once('.') else {
        return Some((record, path));
    };
    let mut map = record;
    for part in parents.split('.') {
        match map.get_mut(part) {
            Some(Value::Map(inner)) => map = inner,
            _ => return None,
        }
    }
    Some((map, leaf))
}

/// Like [`parent_mut`], but makes the missing maps on the way. `None` if a
/// field on the way holds something other than a map.
fn parent_or_insert<'r, 'p>(
    record: &'r mut Record,
    path: &'p str,
) -> Option<(&'r mut Record, &'p str)> {
    let Some((parents, leaf)) = path.rsplit_once('.') else {
        return Some((record, path));
    };
    let mut map = record;
    for part in parents.split('.') {
        let slot = map.get_or_insert_with(part, || Value::from(Record::new()));
        match slot {
            Value::Map(inner) => map = inner,
            _ => return None,
        }
    }
    Some((map, leaf))
}

impl fmt::Debug for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FieldPath({:?})", self.text)
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl PartialEq<str> for FieldPath {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for FieldPath {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl std::str::FromStr for FieldPath {
    type Err = PathError;
    fn from_str(text: &str) -> Result<FieldPath, PathError> {
        FieldPath::parse(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(fields: &[(&str, Value)]) -> Record {
        fields
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect()
    }

    fn keys(record: &Record) -> Vec<&str> {
        record.keys().map(|k| k.as_str()).collect()
    }

    fn path(text: &str) -> FieldPath {
        FieldPath::parse(text).unwrap()
    }

    fn sample() -> Record {
        map(&[
            ("a", Value::Int(1)),
            (
                "geo",
                Value::from(map(&[("city", "Oslo".into()), ("cc", "NO".into())])),
            ),
            ("z", "scalar".into()),
        ])
    }

    /// Templates, filters and `Value::get_path` each had their own idea of
    /// a path; this is the one rule now.
    #[test]
    fn field_paths_follow_one_rule() {
        for ok in ["a", "geo_ip.country", "a b.c", "a-b.c:d", "é.ü"] {
            assert_eq!(path(ok).as_str(), ok);
        }
        assert_eq!(FieldPath::parse(""), Err(PathError::Empty));
        for bad in ["a..b", ".a", "a.", "a. b", " a", "a "] {
            assert!(
                matches!(FieldPath::parse(bad), Err(PathError::BadPart(_))),
                "{bad:?}"
            );
        }
        for bad in ["$a", "a{", "a}", "a|b", "f(x)", "tag_parts[0]"] {
            assert!(
                matches!(FieldPath::parse(bad), Err(PathError::Reserved { .. })),
                "{bad:?}"
            );
        }
        assert!(path("geo.city").is_nested());
        assert!(!path("geo").is_nested());
        assert_eq!(path("geo.city").root(), "geo");
        assert_eq!(
            path("geo.city").parts().collect::<Vec<_>>(),
            ["geo", "city"]
        );
    }

    #[test]
    fn contains_only_at_dot_boundaries() {
        assert!(path("a").contains(&path("a")));
        assert!(path("a").contains(&path("a.b")));
        assert!(!path("a").contains(&path("ab")));
        assert!(!path("a.b").contains(&path("a")));
    }

    #[test]
    fn get_walks_nested_maps() {
        let r = sample();
        assert_eq!(path("geo.city").get(&r), Some(&Value::from("Oslo")));
        assert_eq!(path("a").get(&r), Some(&Value::Int(1)));
        assert_eq!(path("a.b").get(&r), None);
        assert_eq!(path("missing").get(&r), None);
        let mut r = r;
        *path("geo.cc").get_mut(&mut r).unwrap() = Value::Int(7);
        assert_eq!(path("geo.cc").get(&r), Some(&Value::Int(7)));
        assert_eq!(path("a.b").get_mut(&mut r), None);
    }

    #[test]
    fn remove_reaches_into_maps_and_keeps_order() {
        let mut r = sample();
        assert_eq!(path("geo.city").remove(&mut r), Some("Oslo".into()));
        assert_eq!(r["geo"], Value::from(map(&[("cc", "NO".into())])));
        assert_eq!(path("a").remove(&mut r), Some(Value::Int(1)));
        assert_eq!(keys(&r), ["geo", "z"]);
        assert_eq!(path("z.x").remove(&mut r), None, "a scalar has no fields");
        assert_eq!(path("nope.x").remove(&mut r), None);
        assert_eq!(keys(&r), ["geo", "z"]);
    }

    #[test]
    fn put_makes_maps_but_never_overwrites_a_scalar_on_the_way() {
        let mut r = sample();
        path("geo.city").put(&mut r, "Bergen".into()).unwrap();
        path("new.deep.x").put(&mut r, Value::Int(2)).unwrap();
        assert_eq!(path("geo.city").get(&r), Some(&Value::from("Bergen")));
        assert_eq!(path("new.deep.x").get(&r), Some(&Value::Int(2)));
        assert_eq!(path("z.x").put(&mut r, Value::Null), Err(Value::Null));
        assert_eq!(r["z"], Value::from("scalar"));
    }

    #[test]
    fn rename_within_a_map_keeps_the_place() {
        let mut r = sample();
        path("geo.city").rename(&mut r, &path("geo.town"));
        let Value::Map(geo) = &r["geo"] else {
            panic!("geo is a map")
        };
        assert_eq!(keys(geo), ["town", "cc"]);
        path("a").rename(&mut r, &path("z"));
        assert_eq!(keys(&r), ["z", "geo"]);
        assert_eq!(r["z"], Value::Int(1));
    }

    #[test]
    fn rename_across_maps_moves_the_value() {
        let mut r = sample();
        path("geo.city").rename(&mut r, &path("city"));
        assert_eq!(keys(&r), ["a", "geo", "z", "city"]);
        path("a").rename(&mut r, &path("geo.a"));
        assert_eq!(path("geo.a").get(&r), Some(&Value::Int(1)));
        assert_eq!(keys(&r), ["geo", "z", "city"]);
    }

    #[test]
    fn rename_to_an_unreachable_place_changes_nothing() {
        let mut r = sample();
        let before = r.clone();
        path("a").rename(&mut r, &path("z.inner"));
        assert_eq!(r, before);
        path("missing").rename(&mut r, &path("b"));
        path("z.x").rename(&mut r, &path("b"));
        assert_eq!(r, before);
    }
}
