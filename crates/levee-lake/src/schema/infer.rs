//! Absorbing records into a schema: from a parsed [`Record`], or straight
//! from a line of JSON without building the record, which is most of the
//! cost of compaction's first read.

use std::borrow::Cow;
use std::fmt;

use levee_event::{Record, Text, Value};
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::{
    Changes, ColumnType, Columns, Crumb, TableSchema, clashes_with_partition, is_timestamp_text,
    widen,
};

/// A line [`TableSchema::absorb_json`] cannot take: not a JSON object, or
/// with a field to rename. The caller parses it into a [`Record`] instead.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct NotFast;

/// What a JSON value is, as far as types go (a null never changes a type).
#[derive(Clone, Copy)]
enum Kind {
    Bool,
    Int,
    Float,
    String,
    /// Text in the event-time column.
    Timestamp,
    List,
    Map,
}

/// Widens `t` to hold a value of `kind`. If `t` is then a list or a struct,
/// the caller goes on into the value's elements or fields.
fn step(t: &mut ColumnType, kind: Kind, at: &Crumb<'_>, changes: &mut Changes) {
    match (&*t, kind) {
        (ColumnType::Null, Kind::Bool) => *t = ColumnType::Bool,
        (ColumnType::Null, Kind::Int) => *t = ColumnType::Int64,
        (ColumnType::Null, Kind::Float) => *t = ColumnType::Float64,
        (ColumnType::Null, Kind::String) => *t = ColumnType::String,
        (ColumnType::Null, Kind::Timestamp) => *t = ColumnType::Timestamp,
        (ColumnType::Null, Kind::List) => *t = ColumnType::List(Box::new(ColumnType::Null)),
        (ColumnType::Null, Kind::Map) => *t = ColumnType::Struct(Columns::default()),
        (ColumnType::String, _)
        | (ColumnType::Bool, Kind::Bool)
        | (ColumnType::Int64, Kind::Int)
        | (ColumnType::Timestamp, Kind::Timestamp)
        | (ColumnType::Float64, Kind::Int | Kind::Float)
        | (ColumnType::List(_), Kind::List)
        | (ColumnType::Struct(_), Kind::Map) => {}
        (ColumnType::Int64, Kind::Float) => widen(t, ColumnType::Float64, at, changes),
        _ => widen(t, ColumnType::String, at, changes),
    }
}

impl TableSchema {
    /// Widens this schema to hold `record` (after `prepare_record`),
    /// reporting type conflicts. Text in the event-time column
    /// `time_field`, if the table has one, is a timestamp.
    pub fn absorb(&mut self, record: &Record, time_field: Option<&str>, changes: &mut Changes) {
        for (name, value) in record {
            if time_field == Some(name.as_str()) && matches!(value, Value::String(_)) {
                let at = Crumb::new(None, name);
                let t = self
                    .columns
                    .entry(name.to_string())
                    .or_insert(ColumnType::Null);
                step(t, Kind::Timestamp, &at, changes);
            } else {
                absorb_fields(&mut self.columns, [(name, value)], None, changes);
            }
        }
    }

    /// Does what [`TableSchema::absorb`] does for the record on `line`
    /// (after `prepare_record`), reading the JSON directly.
    ///
    /// On [`NotFast`] part of the line may have been absorbed already, so
    /// the caller starts over from a copy of the schema taken before.
    pub fn absorb_json(
        &mut self,
        line: &[u8],
        time_field: Option<&str>,
        changes: &mut Changes,
    ) -> Result<(), NotFast> {
        let mut json = serde_json::Deserializer::from_slice(line);
        let seed = RecordSeed {
            columns: &mut self.columns,
            time_field,
            changes,
        };
        seed.deserialize(&mut json).map_err(|_| NotFast)?;
        json.end().map_err(|_| NotFast)
    }
}

fn absorb_fields<'r>(
    columns: &mut Columns,
    record: impl IntoIterator<Item = (&'r Text, &'r Value)>,
    parent: Option<&Crumb<'_>>,
    changes: &mut Changes,
) {
    for (name, value) in record {
        if value.is_null() {
            continue;
        }
        let at = Crumb::new(parent, name);
        match columns.get_mut(name.as_str()) {
            Some(t) => absorb(t, value, &at, changes),
            None => {
                let mut t = ColumnType::Null;
                absorb(&mut t, value, &at, changes);
                columns.insert(name.to_string(), t);
            }
        }
    }
}

fn absorb(t: &mut ColumnType, v: &Value, at: &Crumb<'_>, changes: &mut Changes) {
    let kind = match v {
        Value::Null => return,
        Value::Bool(_) => Kind::Bool,
        Value::Int(_) => Kind::Int,
        Value::Float(_) => Kind::Float,
        Value::String(_) => Kind::String,
        Value::Array(_) => Kind::List,
        Value::Map(_) => Kind::Map,
    };
    step(t, kind, at, changes);
    match (t, v) {
        (ColumnType::List(element), Value::Array(items)) => {
            let at = at.element();
            for item in items.iter() {
                absorb(element, item, &at, changes);
            }
        }
        (ColumnType::Struct(columns), Value::Map(record)) => {
            absorb_fields(columns, record.iter(), Some(at), changes)
        }
        _ => {}
    }
}

/// The top of a line: an object whose fields are the table's columns.
struct RecordSeed<'a> {
    columns: &'a mut Columns,
    /// The table's event-time column, if it has one.
    time_field: Option<&'a str>,
    changes: &'a mut Changes,
}

impl<'de> DeserializeSeed<'de> for RecordSeed<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for RecordSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = Seen::default();
        let mut time_seen = false;
        while let Some(key) = map.next_key_seed(KeySeed)? {
            if clashes_with_partition(&key) {
                return Err(de::Error::custom("a field to rename"));
            }
            let Some(time_field) = self.time_field else {
                absorb_entry(self.columns, &mut map, key, None, self.changes, &mut seen)?;
                continue;
            };
            if *key == *time_field {
                if std::mem::replace(&mut time_seen, true) {
                    return Err(de::Error::custom("a duplicate field"));
                }
                let at = Crumb::new(None, &key);
                let mut t = self
                    .columns
                    .get(time_field)
                    .cloned()
                    .unwrap_or(ColumnType::Null);
                map.next_value_seed(EventTime {
                    t: &mut t,
                    at: &at,
                    changes: self.changes,
                })?;
                if t != ColumnType::Null {
                    self.columns.insert(key.into_owned(), t);
                }
            } else if key.eq_ignore_ascii_case(time_field) {
                return Err(de::Error::custom("a field to rename"));
            } else {
                absorb_entry(self.columns, &mut map, key, None, self.changes, &mut seen)?;
            }
        }
        Ok(())
    }
}

/// The columns an object has given a value so far, by index: a field
/// twice in one object is refused, for the slow way, which keeps its last
/// value as the decoder does (the fast way would absorb both).
#[derive(Default)]
struct Seen {
    first: u128,
    rest: Vec<usize>,
}

impl Seen {
    /// Marks column `index`; false if it was marked already.
    fn mark(&mut self, index: usize) -> bool {
        if index < 128 {
            let bit = 1u128 << index;
            let new = self.first & bit == 0;
            self.first |= bit;
            new
        } else if self.rest.contains(&index) {
            false
        } else {
            self.rest.push(index);
            true
        }
    }
}

/// The fields of a struct column's object.
fn absorb_entries<'de, A: MapAccess<'de>>(
    columns: &mut Columns,
    map: &mut A,
    parent: Option<&Crumb<'_>>,
    changes: &mut Changes,
) -> Result<(), A::Error> {
    let mut seen = Seen::default();
    while let Some(key) = map.next_key_seed(KeySeed)? {
        absorb_entry(columns, map, key, parent, changes, &mut seen)?;
    }
    Ok(())
}

/// The value of field `key`, into its column.
fn absorb_entry<'de, A: MapAccess<'de>>(
    columns: &mut Columns,
    map: &mut A,
    key: Cow<'de, str>,
    parent: Option<&Crumb<'_>>,
    changes: &mut Changes,
    seen: &mut Seen,
) -> Result<(), A::Error> {
    let at = Crumb::new(parent, &key);
    match columns.get_full_mut(&*key) {
        Some((index, _, t)) => {
            if !seen.mark(index) {
                return Err(de::Error::custom("a duplicate field"));
            }
            map.next_value_seed(Absorb {
                t,
                at: &at,
                changes,
            })
        }
        None => {
            let mut t = ColumnType::Null;
            map.next_value_seed(Absorb {
                t: &mut t,
                at: &at,
                changes,
            })?;
            // As in `absorb_fields`: a null gets no column.
            if t != ColumnType::Null {
                let (index, _) = columns.insert_full(key.into_owned(), t);
                seen.mark(index);
            }
            Ok(())
        }
    }
}

/// The value of the event-time column: null, or text that reads as a
/// timestamp. Anything else is refused, for the slow way to rename.
struct EventTime<'a> {
    t: &'a mut ColumnType,
    at: &'a Crumb<'a>,
    changes: &'a mut Changes,
}

impl<'de> DeserializeSeed<'de> for EventTime<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for EventTime<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a timestamp as text, or null")
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_none<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        if !is_timestamp_text(v) {
            return Err(E::custom("not a timestamp"));
        }
        step(self.t, Kind::Timestamp, self.at, self.changes);
        Ok(())
    }
}

/// A value, absorbed into its column's type.
struct Absorb<'a> {
    t: &'a mut ColumnType,
    at: &'a Crumb<'a>,
    changes: &'a mut Changes,
}

impl Absorb<'_> {
    fn scalar<E>(self, kind: Kind) -> Result<(), E> {
        step(self.t, kind, self.at, self.changes);
        Ok(())
    }
}

impl<'de> DeserializeSeed<'de> for Absorb<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Absorb<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_none<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        self.scalar(Kind::Bool)
    }

    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        self.scalar(Kind::Int)
    }

    fn visit_u64<E>(self, u: u64) -> Result<(), E> {
        // As `levee_event::Value` reads it: beyond i64, a float.
        self.scalar(if i64::try_from(u).is_ok() {
            Kind::Int
        } else {
            Kind::Float
        })
    }

    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        self.scalar(Kind::Float)
    }

    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        self.scalar(Kind::String)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        step(self.t, Kind::List, self.at, self.changes);
        if let ColumnType::List(element) = self.t {
            let at = self.at.element();
            while seq
                .next_element_seed(Absorb {
                    t: element,
                    at: &at,
                    changes: self.changes,
                })?
                .is_some()
            {}
        } else {
            // A string column: the list is stored as its text.
            while seq.next_element::<IgnoredAny>()?.is_some() {}
        }
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        step(self.t, Kind::Map, self.at, self.changes);
        if let ColumnType::Struct(columns) = self.t {
            absorb_entries(columns, &mut map, Some(self.at), self.changes)
        } else {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            Ok(())
        }
    }
}

/// A field name, borrowed from the line when it has no escapes.
pub(super) struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Cow<'de, str>, D::Error> {
        d.deserialize_str(KeySeed)
    }
}

impl<'de> Visitor<'de> for KeySeed {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a field name")
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Borrowed(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Owned(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Owned(v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::prepare_record;

    const LINES: &[&str] = &[
        r#"{"b":1,"a":"x","n":{"z":true,"f":1.5},"l":[1,2],"e":[],"o":{},"nul":null}"#,
        r#"{"b":2.5,"a":3,"n":{"z":false,"new":[{"k":1}]},"l":[1.5,"s"],"big":18446744073709551615}"#,
        r#"{"b":null,"n":7,"e":[null,[1]],"o":{"p":{"q":null}},"esc\"aped":"\u00e9","nested":{"esc\"aped":1}}"#,
        r#"{"n":{"x":1},"l":{"not":"a list"},"o":[1]}"#,
    ];

    fn record(json: &str) -> Record {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn reading_json_directly_matches_reading_records() {
        let (mut slow, mut fast) = (TableSchema::default(), TableSchema::default());
        let (mut slow_changes, mut fast_changes) = (Changes::default(), Changes::default());
        for line in LINES {
            slow.absorb(&record(line), None, &mut slow_changes);
            fast.absorb_json(line.as_bytes(), None, &mut fast_changes)
                .unwrap();
            assert_eq!(fast, slow, "after {line}");
        }
        assert_eq!(fast_changes.list, slow_changes.list);
        assert!(!fast_changes.list.is_empty());
        assert_eq!(fast.columns["big"], ColumnType::Float64);
    }

    fn names(columns: &Columns) -> Vec<&str> {
        columns.keys().map(String::as_str).collect()
    }

    /// Records whose fields come and go or change places give the slow
    /// way's columns, in its order.
    #[test]
    fn fields_out_of_the_last_records_order_find_their_columns() {
        let lines = [
            r#"{"time":"2018-09-01T00:00:00Z","a":1,"b":"x","s":{"p":1,"q":2}}"#,
            r#"{"time":"2018-09-01T00:00:01Z","b":"y","a":2,"s":{"q":3,"p":4}}"#,
            r#"{"a":3,"time":null,"c":true,"s":{"r":[1]},"b":"z"}"#,
            r#"{"c":false,"a":1.5,"b":null,"s":{"q":"now text","p":5}}"#,
            r#"{"time":"2018-09-01T00:00:02Z","z":1,"a":4,"b":"w","c":true,"s":{}}"#,
        ];
        let time = Some("time");
        let (mut slow, mut fast) = (TableSchema::default(), TableSchema::default());
        let (mut slow_changes, mut fast_changes) = (Changes::default(), Changes::default());
        for line in lines {
            let mut r = record(line);
            prepare_record(&mut r, time);
            slow.absorb(&r, time, &mut slow_changes);
            fast.absorb_json(line.as_bytes(), time, &mut fast_changes)
                .unwrap();
            assert_eq!(fast, slow, "after {line}");
            assert_eq!(names(&fast.columns), names(&slow.columns), "after {line}");
        }
        assert_eq!(names(&fast.columns), ["time", "a", "b", "s", "c", "z"]);
        let ColumnType::Struct(s) = &fast.columns["s"] else {
            panic!("s is {:?}", fast.columns["s"]);
        };
        assert_eq!(names(s), ["p", "q", "r"]);
        assert_eq!(fast_changes.list, slow_changes.list);
    }

    #[test]
    fn lines_for_the_slow_path_are_refused() {
        let mut s = TableSchema::default();
        let mut changes = Changes::default();
        for line in [
            &b"42"[..],
            b"[{}]",
            b"{\"a\":1",
            b"{\"a\":1} trailing",
            b"{\"a\":tru}",
            b"{\"Dt\":1}",
            // The slow way keeps the last value, as the decoder does.
            b"{\"a\":1,\"a\":\"x\"}",
            b"{\"n\":{\"b\":1,\"b\":null}}",
        ] {
            assert_eq!(
                s.absorb_json(line, None, &mut changes),
                Err(NotFast),
                "{}",
                String::from_utf8_lossy(line)
            );
        }
        // Nested `dt` fields are no partition columns.
        assert_eq!(
            s.absorb_json(br#"{"x":{"dt":1}}"#, None, &mut changes),
            Ok(())
        );
        let mut r = record(r#"{"x":{"dt":1}}"#);
        prepare_record(&mut r, None);
        let mut slow = TableSchema::default();
        slow.absorb(&r, None, &mut Changes::default());
        assert_eq!(s.columns["x"], slow.columns["x"]);
    }

    /// Lines of a table with a `time` column: the lake output's, then
    /// older ones whose `time` is the record's own, or missing.
    const TIMED: &[&str] = &[
        r#"{"time":"2026-12-05T01:02:03.123Z","n":1}"#,
        r#"{"time":"2026-12-05T01:02:04Z","time_":"05/Dec/2026:01:02:04 +0000","n":2}"#,
        r#"{"time":null,"n":3}"#,
        r#"{"n":4}"#,
        r#"{"time":"05/Dec/2026:01:02:05 +0000","n":5}"#,
        r#"{"time":1764896525,"n":6}"#,
        r#"{"Time":"2026-12-05T01:02:03Z","n":7}"#,
    ];

    /// The schema of [`TIMED`] read the slow way, and which lines the fast
    /// way refused.
    fn timed_schema() -> (TableSchema, Vec<usize>) {
        let (mut slow, mut fast) = (TableSchema::default(), TableSchema::default());
        let mut refused = Vec::new();
        for (i, line) in TIMED.iter().enumerate() {
            let mut r = record(line);
            prepare_record(&mut r, Some("time"));
            slow.absorb(&r, Some("time"), &mut Changes::default());
            let before = fast.clone();
            if fast
                .absorb_json(line.as_bytes(), Some("time"), &mut Changes::default())
                .is_err()
            {
                refused.push(i);
                fast = before;
                fast.absorb(&r, Some("time"), &mut Changes::default());
            }
            assert_eq!(fast, slow, "after {line}");
        }
        (slow, refused)
    }

    #[test]
    fn a_string_field_named_time_does_not_turn_the_time_column_into_a_string() {
        let (s, refused) = timed_schema();
        assert_eq!(s.columns["time"], ColumnType::Timestamp);
        assert_eq!(s.columns["time_"], ColumnType::String);
        // The records' own `time` (text, a number) went to `time_`, and
        // widened it to text; `Time` went to `Time_`.
        assert_eq!(
            s.columns.keys().collect::<Vec<_>>(),
            ["time", "n", "time_", "Time_"]
        );
        assert_eq!(s.columns["Time_"], ColumnType::String);
        assert_eq!(refused, [4, 5, 6], "lines to rename take the slow way");
    }

    #[test]
    fn without_an_event_time_column_time_is_an_ordinary_field() {
        let mut s = TableSchema::default();
        for line in TIMED {
            s.absorb_json(line.as_bytes(), None, &mut Changes::default())
                .unwrap();
        }
        assert_eq!(s.columns["time"], ColumnType::String);
    }
}
