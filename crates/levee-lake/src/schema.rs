//! The schema compaction infers from JSON records, and how it evolves.
//!
//! Types form a small lattice, from narrow to wide:
//!
//! - `null` is "nothing seen yet": a field only ever null gets no column
//!   (a missing column reads as NULL, so nothing is lost), and the element
//!   type of lists only ever empty stays `null`.
//! - `int64` widens to `float64` when a float shows up.
//! - `struct`s merge field by field; `list`s merge their element types.
//! - any other conflict (bool and int, struct and scalar, list and string...)
//!   widens to `string`, and the values that are not strings are stored as
//!   their JSON text.
//!
//! Every column is nullable: any later hour may lack any field, and every
//! Parquet file of a table must share its schema.
//!
//! `dt` and `hour` are the Hive partition columns, so a record's own top-level
//! field of that name (in any case, as Athena and Hive ignore case) is
//! renamed by appending `_` (`dt` becomes `dt_`, or `dt__` if the record
//! also has a `dt_`, and so on).
//!
//! A table whose properties name an event-time column (the lake output's
//! `time_field`, `time` by default) has a `timestamp` column of that name:
//! the lake output writes each record's event time there as RFC 3339 text,
//! and compaction writes it as a Parquet timestamp (microseconds, UTC),
//! which DuckDB, Athena, Trino and Spark all read as one. A top-level field
//! of that name whose value is not a timestamp (a record's own `time`, in
//! chunks written before the table had the column), or of that name in
//! another case, is renamed as `dt` is. So a string never widens the
//! column, and older chunks read as null there.

use std::fmt;
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};
use indexmap::IndexMap;
use levee_event::{Record, Text, Value};
use serde::{Deserialize, Serialize};

mod build;
mod declare;
mod infer;

pub(crate) use build::{Built, HourColumns, Sizes, fit_batch};

pub(crate) use declare::{cast_record, declared_of_arrow};

/// Columns by name, in the order they were first seen. Hashed with
/// foldhash (seeded at random): looking up each field's column is much of
/// the first read of an hour, and SipHash cost more than the rest of it.
pub(crate) type Columns = IndexMap<String, ColumnType, foldhash::fast::RandomState>;

/// A column's type, as JSON shows it. Serialized as `"int64"`,
/// `{"list": "string"}`, `{"struct": {"a": "bool"}}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ColumnType {
    Null,
    Bool,
    Int64,
    Float64,
    String,
    /// The event time: only the table's event-time column has this type.
    Timestamp,
    List(Box<ColumnType>),
    Struct(Columns),
}

/// The schema of a table, or of the records of one hour.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TableSchema {
    pub columns: Columns,
}

/// What happened to one column.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChangeKind {
    /// A new column (or a new field of a struct column).
    Added {
        /// Its type, in Hive's words (`bigint`, `array<string>`, ...).
        ty: String,
    },
    /// A type conflict, resolved by widening `from` to `to`.
    Widened {
        /// The type before.
        from: String,
        /// The type after: `double` or `string`.
        to: String,
    },
}

/// The changes found while inferring or merging schemas, without repeats.
#[derive(Clone, Debug, Default)]
pub(crate) struct Changes {
    /// `(column path, change)`; paths are dotted, `[]` marks list elements.
    pub list: Vec<(String, ChangeKind)>,
}

impl Changes {
    fn push(&mut self, at: &Crumb<'_>, kind: ChangeKind) {
        let column = at.render();
        if !self.list.iter().any(|(c, k)| *c == column && *k == kind) {
            self.list.push((column, kind));
        }
    }
}

/// A column path that costs nothing until a change must be reported.
struct Crumb<'a> {
    parent: Option<&'a Crumb<'a>>,
    name: &'a str,
}

impl<'a> Crumb<'a> {
    fn new(parent: Option<&'a Crumb<'a>>, name: &'a str) -> Crumb<'a> {
        Crumb { parent, name }
    }

    fn element(&'a self) -> Crumb<'a> {
        Crumb::new(Some(self), "[]")
    }

    fn render(&self) -> String {
        let mut names = vec![self.name];
        let mut up = self.parent;
        while let Some(c) = up {
            names.push(c.name);
            up = c.parent;
        }
        let mut out = String::new();
        for name in names.iter().rev() {
            if !out.is_empty() && *name != "[]" {
                out.push('.');
            }
            out.push_str(name);
        }
        out
    }
}

fn widen(t: &mut ColumnType, to: ColumnType, at: &Crumb<'_>, changes: &mut Changes) {
    changes.push(
        at,
        ChangeKind::Widened {
            from: t.to_string(),
            to: to.to_string(),
        },
    );
    *t = to;
}

impl TableSchema {
    /// Merges `other` (one hour's schema) into this one (the table's),
    /// reporting new columns and widened types.
    pub fn join(&mut self, other: &TableSchema, changes: &mut Changes) {
        join_columns(&mut self.columns, &other.columns, None, changes);
    }

    /// Makes `name` the event-time column. If the table had a column of
    /// that name of another type (the records' own field, compacted before
    /// the table had an event-time column), that column moves to `name_`
    /// (joining one there), as those records' fields now do; the hours
    /// written with it no longer fit the table, so compaction writes them
    /// again. Returns whether the schema changed.
    pub fn claim_time_column(&mut self, name: &str, changes: &mut Changes) -> bool {
        if matches!(self.columns.get(name), None | Some(ColumnType::Timestamp)) {
            return false;
        }
        let Some((index, _, theirs)) = self.columns.shift_remove_full(name) else {
            return false;
        };
        self.columns
            .shift_insert(index, name.to_owned(), ColumnType::Timestamp);
        let mut moved = TableSchema::default();
        moved.columns.insert(format!("{name}_"), theirs);
        self.join(&moved, changes);
        true
    }

    /// Whether Parquet written with this schema reads as `table` without
    /// changing any value's type: `table` may only add columns and struct
    /// fields, or give a type to what was `null`.
    pub fn compatible_with(&self, table: &TableSchema) -> bool {
        columns_compatible(&self.columns, &table.columns)
    }

    /// The Arrow schema of Parquet files written with this schema.
    pub fn to_arrow(&self) -> SchemaRef {
        Arc::new(Schema::new(arrow_fields(&self.columns)))
    }

    /// Makes `record` fit this schema, so the Arrow JSON decoder takes it as
    /// is: values of `string` columns that are not strings become JSON text.
    /// The schema must have absorbed the record.
    pub fn conform(&self, record: &mut Record) {
        conform_fields(record, &self.columns);
    }
}

fn join_columns(
    table: &mut Columns,
    hour: &Columns,
    parent: Option<&Crumb<'_>>,
    changes: &mut Changes,
) {
    for (name, h) in hour {
        let at = Crumb::new(parent, name);
        match table.get_mut(name) {
            Some(t) => join(t, h, &at, changes),
            None => {
                changes.push(&at, ChangeKind::Added { ty: h.to_string() });
                table.insert(name.clone(), h.clone());
            }
        }
    }
}

fn join(t: &mut ColumnType, h: &ColumnType, at: &Crumb<'_>, changes: &mut Changes) {
    match (&mut *t, h) {
        (_, ColumnType::Null)
        | (ColumnType::String, _)
        | (ColumnType::Bool, ColumnType::Bool)
        | (ColumnType::Int64, ColumnType::Int64)
        | (ColumnType::Timestamp, ColumnType::Timestamp)
        | (ColumnType::Float64, ColumnType::Float64 | ColumnType::Int64) => {}
        // A type for what was only ever null or empty is news, not a conflict.
        (ColumnType::Null, _) => *t = h.clone(),
        (ColumnType::Int64, ColumnType::Float64) => widen(t, ColumnType::Float64, at, changes),
        (ColumnType::List(te), ColumnType::List(he)) => join(te, he, &at.element(), changes),
        (ColumnType::Struct(tc), ColumnType::Struct(hc)) => join_columns(tc, hc, Some(at), changes),
        _ => widen(t, ColumnType::String, at, changes),
    }
}

fn columns_compatible(written: &Columns, table: &Columns) -> bool {
    written
        .iter()
        .all(|(name, w)| table.get(name).is_some_and(|t| compatible(w, t)))
}

fn compatible(written: &ColumnType, table: &ColumnType) -> bool {
    match (written, table) {
        (ColumnType::Null, _) => true,
        (ColumnType::List(w), ColumnType::List(t)) => compatible(w, t),
        (ColumnType::Struct(w), ColumnType::Struct(t)) => columns_compatible(w, t),
        (w, t) => w == t,
    }
}

fn arrow_fields(columns: &Columns) -> Fields {
    columns
        .iter()
        .map(|(name, t)| Field::new(name, t.to_arrow(), true))
        .collect()
}

impl ColumnType {
    /// The Arrow type this column is written as.
    pub fn to_arrow(&self) -> DataType {
        match self {
            ColumnType::Null => DataType::Null,
            ColumnType::Bool => DataType::Boolean,
            ColumnType::Int64 => DataType::Int64,
            ColumnType::Float64 => DataType::Float64,
            ColumnType::String => DataType::Utf8,
            ColumnType::Timestamp => {
                // Microseconds: Athena (and Hive before 3) reads milli- and
                // microseconds, not nanoseconds; DuckDB, Trino and Spark
                // read all three.
                DataType::Timestamp(TimeUnit::Microsecond, Some(crate::UTC_OFFSET.into()))
            }
            ColumnType::List(element) => {
                DataType::List(Arc::new(Field::new_list_field(element.to_arrow(), true)))
            }
            // Parquet has no empty groups; `{}` holds no more than null.
            ColumnType::Struct(columns) if columns.is_empty() => DataType::Null,
            ColumnType::Struct(columns) => DataType::Struct(arrow_fields(columns)),
        }
    }
}

/// Hive's names, which Athena's DDL uses too.
impl fmt::Display for ColumnType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ColumnType::Null => f.write_str("null"),
            ColumnType::Bool => f.write_str("boolean"),
            ColumnType::Int64 => f.write_str("bigint"),
            ColumnType::Float64 => f.write_str("double"),
            ColumnType::String => f.write_str("string"),
            ColumnType::Timestamp => f.write_str("timestamp"),
            ColumnType::List(element) => write!(f, "array<{element}>"),
            ColumnType::Struct(columns) => {
                f.write_str("struct<")?;
                for (i, (name, t)) in columns.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{name}:{t}")?;
                }
                f.write_str(">")
            }
        }
    }
}

fn conform_fields(record: &mut Record, columns: &Columns) {
    for (name, value) in record.iter_mut() {
        if let Some(t) = columns.get(name.as_str()) {
            conform(value, t);
        }
    }
}

fn conform(v: &mut Value, t: &ColumnType) {
    if v.is_null() {
        return;
    }
    match (t, &mut *v) {
        (ColumnType::String, Value::String(_))
        | (ColumnType::Bool, Value::Bool(_))
        | (ColumnType::Int64, Value::Int(_))
        | (ColumnType::Float64, Value::Int(_) | Value::Float(_))
        // Text the Arrow JSON decoder reads as a timestamp: see `is_event_time`.
        | (ColumnType::Timestamp, Value::String(_)) => {}
        (ColumnType::String, _) => {
            // Serializing a Value cannot fail: its keys are strings.
            *v = Value::from(serde_json::to_string(v).unwrap_or_default());
        }
        (ColumnType::Struct(columns), Value::Map(record)) if !columns.is_empty() => {
            conform_fields(record, columns);
        }
        (ColumnType::List(element), Value::Array(items)) => {
            for item in items.iter_mut() {
                conform(item, element);
            }
        }
        // `null` and `{}` columns, and (never, once the schema absorbed the
        // record) a value the column's type cannot hold.
        _ => *v = Value::Null,
    }
}

/// Whether a top-level field of this name would clash with a partition column.
fn clashes_with_partition(name: &str) -> bool {
    name.eq_ignore_ascii_case("dt") || name.eq_ignore_ascii_case("hour")
}

/// Whether a top-level field of this name and value would clash with the
/// event-time column `time_field`: it has the column's name in another
/// case, or its name with a value that is no event time.
pub(crate) fn clashes_with_time(name: &str, value: &Value, time_field: &str) -> bool {
    name.eq_ignore_ascii_case(time_field) && !(name == time_field && is_event_time(value))
}

/// Whether a value fits the event-time column: null, or text that the
/// Arrow JSON decoder reads as a timestamp (the lake output writes RFC 3339
/// in UTC). Checked with Arrow's own parser, so that what compaction keeps
/// in the column the decoder takes.
pub(crate) fn is_event_time(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::String(text) => is_timestamp_text(text),
        _ => false,
    }
}

/// Whether Arrow reads `text` as a timestamp (within nanoseconds' range,
/// so within what any unit holds).
pub(crate) fn is_timestamp_text(text: &str) -> bool {
    arrow::compute::kernels::cast_utils::string_to_timestamp_nanos(text).is_ok()
}

/// Renames top-level fields that would clash with the `dt` and `hour`
/// partition columns or with the event-time column `time_field`, if the
/// table has one (see the module docs).
pub(crate) fn prepare_record(record: &mut Record, time_field: Option<&str>) {
    let clashes = |name: &str, value: &Value| {
        clashes_with_partition(name)
            || time_field.is_some_and(|t| clashes_with_time(name, value, t))
    };
    if !record.iter().any(|(k, v)| clashes(k, v)) {
        return;
    }
    let names: Vec<Text> = record
        .iter()
        .filter(|(k, v)| clashes(k, v))
        .map(|(k, _)| k.clone())
        .collect();
    for name in names {
        let mut renamed = format!("{name}_");
        while record.contains_key(renamed.as_str()) {
            renamed.push('_');
        }
        if let Some((index, _, value)) = record.shift_remove_full(name.as_str()) {
            record.shift_insert(index, renamed, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(json: &str) -> Record {
        serde_json::from_str(json).unwrap()
    }

    fn infer(lines: &[&str]) -> (TableSchema, Changes) {
        let mut schema = TableSchema::default();
        let mut changes = Changes::default();
        for line in lines {
            schema.absorb(&record(line), None, &mut changes);
        }
        (schema, changes)
    }

    fn widened(changes: &Changes) -> Vec<(String, String, String)> {
        changes
            .list
            .iter()
            .filter_map(|(c, k)| match k {
                ChangeKind::Widened { from, to } => Some((c.clone(), from.clone(), to.clone())),
                ChangeKind::Added { .. } => None,
            })
            .collect()
    }

    #[test]
    fn infers_scalars_nested_and_order() {
        let (s, changes) = infer(&[r#"{"b":1,"a":"x","n":{"z":true,"f":1.5},"l":[1,2]}"#]);
        assert_eq!(s.columns.keys().collect::<Vec<_>>(), ["b", "a", "n", "l"]);
        assert_eq!(s.columns["n"].to_string(), "struct<z:boolean,f:double>");
        assert_eq!(s.columns["l"].to_string(), "array<bigint>");
        assert!(changes.list.is_empty());
    }

    #[test]
    fn conflicts_widen_and_are_reported_once() {
        let (s, changes) = infer(&[
            r#"{"i":1,"s":1,"o":{"x":1},"l":[1]}"#,
            r#"{"i":2.5,"s":"x","o":3,"l":[1.5, 2]}"#,
            r#"{"i":3,"s":true,"o":{"y":2},"l":["a"]}"#,
        ]);
        assert_eq!(s.columns["i"], ColumnType::Float64);
        assert_eq!(s.columns["s"], ColumnType::String);
        assert_eq!(s.columns["o"], ColumnType::String);
        assert_eq!(
            s.columns["l"],
            ColumnType::List(Box::new(ColumnType::String))
        );
        let w = widened(&changes);
        let expect = [
            ("i", "bigint", "double"),
            ("s", "bigint", "string"),
            ("o", "struct<x:bigint>", "string"),
            ("l[]", "bigint", "double"),
            ("l[]", "double", "string"),
        ];
        assert_eq!(w.len(), expect.len(), "{w:?}");
        for (c, f, t) in expect {
            assert!(
                w.contains(&(c.into(), f.into(), t.into())),
                "{c} {f}->{t} missing from {w:?}"
            );
        }
    }

    #[test]
    fn null_only_fields_get_no_column_and_empty_lists_stay_open() {
        let (mut s, _) = infer(&[r#"{"n":null,"e":[],"o":{}}"#]);
        assert!(!s.columns.contains_key("n"));
        assert_eq!(s.columns["e"], ColumnType::List(Box::new(ColumnType::Null)));
        assert_eq!(
            s.to_arrow().field_with_name("o").unwrap().data_type(),
            &DataType::Null
        );
        let mut changes = Changes::default();
        s.absorb(&record(r#"{"e":[1],"o":{"k":"v"}}"#), None, &mut changes);
        assert_eq!(s.columns["e"].to_string(), "array<bigint>");
        assert_eq!(s.columns["o"].to_string(), "struct<k:string>");
        assert!(changes.list.is_empty(), "{:?}", changes.list);
    }

    #[test]
    fn join_reports_added_columns_and_table_widenings() {
        let (mut table, _) = infer(&[r#"{"a":1,"n":{"x":1}}"#]);
        let (hour, _) = infer(&[r#"{"a":1.5,"n":{"x":1,"y":"new"},"c":true}"#]);
        let mut changes = Changes::default();
        let before = table.clone();
        table.join(&hour, &mut changes);
        assert_eq!(
            changes.list,
            [
                (
                    "a".to_owned(),
                    ChangeKind::Widened {
                        from: "bigint".into(),
                        to: "double".into()
                    }
                ),
                (
                    "n.y".to_owned(),
                    ChangeKind::Added {
                        ty: "string".into()
                    }
                ),
                (
                    "c".to_owned(),
                    ChangeKind::Added {
                        ty: "boolean".into()
                    }
                ),
            ]
        );
        // Files written before the widening no longer fit; those before an addition do.
        assert!(!before.compatible_with(&table));
        let mut only_added = before.clone();
        only_added.join(
            &infer(&[r#"{"n":{"y":"z"},"d":1}"#]).0,
            &mut Changes::default(),
        );
        assert!(before.compatible_with(&only_added));
    }

    #[test]
    fn conform_turns_conflicting_values_into_json_text() {
        let (s, _) = infer(&[
            r#"{"s":1}"#,
            r#"{"s":{"k":[1,"x"]}}"#,
            r#"{"s":"plain"}"#,
            r#"{"s":2.5}"#,
        ]);
        let texts: Vec<Value> = [
            r#"{"s":1}"#,
            r#"{"s":{"k":[1,"x"]}}"#,
            r#"{"s":"plain"}"#,
            r#"{"s":2.5}"#,
        ]
        .iter()
        .map(|l| {
            let mut r = record(l);
            s.conform(&mut r);
            r["s"].clone()
        })
        .collect();
        assert_eq!(
            texts,
            [
                Value::from("1"),
                Value::from(r#"{"k":[1,"x"]}"#),
                Value::from("plain"),
                Value::from("2.5")
            ]
        );
    }

    #[test]
    fn partition_fields_are_renamed_in_place() {
        let mut r = record(r#"{"a":1,"dt":"x","dt_":"y","HOUR":3,"z":0}"#);
        prepare_record(&mut r, None);
        assert_eq!(
            r.keys().collect::<Vec<_>>(),
            ["a", "dt__", "dt_", "HOUR_", "z"]
        );
        assert_eq!(r["dt__"], Value::from("x"));
        assert_eq!(r["dt_"], Value::from("y"));
    }

    #[test]
    fn schema_round_trips_through_json() {
        let (s, _) = infer(&[r#"{"a":1,"n":{"l":[{"x":true}]},"e":[]}"#]);
        let text = serde_json::to_string(&s).unwrap();
        assert_eq!(
            text,
            r#"{"columns":{"a":"int64","n":{"struct":{"l":{"list":{"struct":{"x":"bool"}}}}},"e":{"list":"null"}}}"#
        );
        assert_eq!(serde_json::from_str::<TableSchema>(&text).unwrap(), s);
    }
}
