//! Dotted field paths (`geo_ip.city`) as filters change them: find, take out,
//! put in, reaching through nested maps.
//!
//! Paths go through maps only (not arrays), as [`Value::get_path`] reads them.
//! A field whose name itself holds a dot cannot be reached this way.

use levee_event::{Record, Value};

use super::FilterError;
use crate::template::is_valid_path;

/// Checks a field path from the config key `key`.
pub(super) fn check_path(key: &'static str, path: &str) -> Result<String, FilterError> {
    if is_valid_path(path) {
        Ok(path.to_owned())
    } else {
        Err(FilterError::BadField {
            key,
            name: path.to_owned(),
            reason: "a field path is dot-separated names such as `geo_ip.city`",
        })
    }
}

/// True if `inner` is `outer` or a field inside it (`a.b` is inside `a`).
pub(super) fn overlaps(outer: &str, inner: &str) -> bool {
    inner
        .strip_prefix(outer)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('.'))
}

/// The map holding the path's last part, and that part; `None` if a map on
/// the way is missing or is not a map.
pub(super) fn parent_mut<'r, 'p>(
    record: &'r mut Record,
    path: &'p str,
) -> Option<(&'r mut Record, &'p str)> {
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
/// field on the way holds something other than a map, which is left alone.
pub(super) fn parent_or_insert<'r, 'p>(
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

/// Removes the field at `path`, keeping the order of the others.
pub(super) fn remove(record: &mut Record, path: &str) -> Option<Value> {
    let (map, leaf) = parent_mut(record, path)?;
    map.shift_remove(leaf)
}

/// Sets the field at `path`, in place if it exists, else at the end of its
/// map (making maps on the way). Gives the value back if a field on the way
/// is not a map.
pub(super) fn put(record: &mut Record, path: &str, value: Value) -> Result<(), Value> {
    let Some((map, leaf)) = parent_or_insert(record, path) else {
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

/// Moves the field at `from` to `to`, replacing what `to` held. Within one
/// map the field keeps its place; across maps it goes to the end of the
/// target map. If `to` cannot be reached (a field on the way is not a map),
/// nothing changes.
pub(super) fn rename(record: &mut Record, from: &str, to: &str) {
    let same_map = match (from.rsplit_once('.'), to.rsplit_once('.')) {
        (None, None) => true,
        (Some((a, _)), Some((b, _))) => a == b,
        _ => false,
    };
    if same_map {
        if let Some((map, leaf)) = parent_mut(record, from) {
            let to_leaf = to.rsplit_once('.').map_or(to, |(_, leaf)| leaf);
            rename_in_place(map, leaf, to_leaf);
        }
        return;
    }
    let Some((map, leaf)) = parent_mut(record, from) else {
        return;
    };
    let Some((index, key, value)) = map.shift_remove_full(leaf) else {
        return;
    };
    if let Err(value) = put(record, to, value) {
        // The target is unreachable: put the field back where it was.
        if let Some((map, _)) = parent_mut(record, from) {
            let at = index.min(map.len());
            map.shift_insert(at, key, value);
        }
    }
}

/// Renames a key of one map in its place, replacing any key named `to`.
fn rename_in_place(map: &mut Record, from: &str, to: &str) {
    let Some((index, mut key, value)) = map.shift_remove_full(from) else {
        return;
    };
    let index = match map.shift_remove_full(to) {
        Some((taken, ..)) if taken < index => index - 1,
        _ => index,
    };
    // Reuses the old name's allocation for the new name.
    key.clear();
    key.push_str(to);
    let at = index.min(map.len());
    map.shift_insert(at, key, value);
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

    #[test]
    fn overlaps_only_at_dot_boundaries() {
        assert!(overlaps("a", "a"));
        assert!(overlaps("a", "a.b"));
        assert!(!overlaps("a", "ab"));
        assert!(!overlaps("a.b", "a"));
    }

    #[test]
    fn remove_reaches_into_maps_and_keeps_order() {
        let mut r = sample();
        assert_eq!(remove(&mut r, "geo.city"), Some("Oslo".into()));
        assert_eq!(r["geo"], Value::from(map(&[("cc", "NO".into())])));
        assert_eq!(remove(&mut r, "a"), Some(Value::Int(1)));
        assert_eq!(keys(&r), ["geo", "z"]);
        assert_eq!(remove(&mut r, "z.x"), None, "a scalar has no fields");
        assert_eq!(remove(&mut r, "nope.x"), None);
        assert_eq!(keys(&r), ["geo", "z"]);
    }

    #[test]
    fn put_makes_maps_but_never_overwrites_a_scalar_on_the_way() {
        let mut r = sample();
        put(&mut r, "geo.city", "Bergen".into()).unwrap();
        put(&mut r, "new.deep.x", Value::Int(2)).unwrap();
        assert_eq!(
            Value::get_path(&r, "geo.city"),
            Some(&Value::from("Bergen"))
        );
        assert_eq!(Value::get_path(&r, "new.deep.x"), Some(&Value::Int(2)));
        assert_eq!(put(&mut r, "z.x", Value::Null), Err(Value::Null));
        assert_eq!(r["z"], Value::from("scalar"));
    }

    #[test]
    fn rename_within_a_map_keeps_the_place() {
        let mut r = sample();
        rename(&mut r, "geo.city", "geo.town");
        let Value::Map(geo) = &r["geo"] else {
            panic!("geo is a map")
        };
        assert_eq!(keys(geo), ["town", "cc"]);
        rename(&mut r, "a", "z");
        assert_eq!(keys(&r), ["z", "geo"]);
        assert_eq!(r["z"], Value::Int(1));
    }

    #[test]
    fn rename_across_maps_moves_the_value() {
        let mut r = sample();
        rename(&mut r, "geo.city", "city");
        assert_eq!(keys(&r), ["a", "geo", "z", "city"]);
        rename(&mut r, "a", "geo.a");
        assert_eq!(Value::get_path(&r, "geo.a"), Some(&Value::Int(1)));
        assert_eq!(keys(&r), ["geo", "z", "city"]);
    }

    #[test]
    fn rename_to_an_unreachable_place_changes_nothing() {
        let mut r = sample();
        let before = r.clone();
        rename(&mut r, "a", "z.inner");
        assert_eq!(r, before);
        rename(&mut r, "missing", "b");
        rename(&mut r, "z.x", "b");
        assert_eq!(r, before);
    }
}
