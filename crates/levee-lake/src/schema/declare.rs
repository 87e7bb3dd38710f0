//! A declared schema in compaction: its types win over the inferred ones,
//! and each record's values are cast to them, a failure making the value
//! null and the record a quarantined one (see `compact::records`).

use arrow::datatypes::{DataType, Schema};
use levee_event::{Record, Value};

use super::{ColumnType, TableSchema, is_timestamp_text};
use crate::declared::{DeclaredSchema, DeclaredType};

impl From<&DeclaredType> for ColumnType {
    fn from(t: &DeclaredType) -> ColumnType {
        match t {
            DeclaredType::Boolean => ColumnType::Bool,
            DeclaredType::Bigint => ColumnType::Int64,
            DeclaredType::Double => ColumnType::Float64,
            DeclaredType::String => ColumnType::String,
            DeclaredType::Timestamp => ColumnType::Timestamp,
            DeclaredType::Array(e) => ColumnType::List(Box::new(ColumnType::from(&**e))),
            DeclaredType::Struct(fields) => ColumnType::Struct(
                fields
                    .iter()
                    .map(|(n, t)| (n.clone(), ColumnType::from(t)))
                    .collect(),
            ),
        }
    }
}

impl TableSchema {
    /// Gives the declared columns their declared types (adding those not
    /// seen yet): a declared struct fixes the fields it names and keeps
    /// the others. Returns whether anything changed.
    pub fn declare(&mut self, declared: &DeclaredSchema) -> bool {
        let mut changed = false;
        for (name, t) in declared {
            match self.columns.get_mut(name.as_str()) {
                Some(c) => changed |= declare(c, t),
                None => {
                    self.columns.insert(name.clone(), ColumnType::from(t));
                    changed = true;
                }
            }
        }
        changed
    }

    /// Whether the records this schema was inferred from fit the declared
    /// types as they are (so the Arrow decoder may read them straight):
    /// every declared column was seen with its declared type, or not at
    /// all, or as integers where a double is declared.
    pub fn fits(&self, declared: &DeclaredSchema) -> bool {
        declared
            .iter()
            .all(|(name, t)| self.columns.get(name.as_str()).is_none_or(|c| fits(c, t)))
    }
}

fn declare(c: &mut ColumnType, t: &DeclaredType) -> bool {
    match (&mut *c, t) {
        (ColumnType::Struct(columns), DeclaredType::Struct(fields)) => {
            let mut changed = false;
            for (name, ft) in fields {
                match columns.get_mut(name.as_str()) {
                    Some(fc) => changed |= declare(fc, ft),
                    None => {
                        columns.insert(name.clone(), ColumnType::from(ft));
                        changed = true;
                    }
                }
            }
            changed
        }
        (ColumnType::List(e), DeclaredType::Array(te)) => declare(e, te),
        _ => {
            let want = ColumnType::from(t);
            let changed = *c != want;
            *c = want;
            changed
        }
    }
}

fn fits(c: &ColumnType, t: &DeclaredType) -> bool {
    match (c, t) {
        (ColumnType::Null, _)
        | (ColumnType::Bool, DeclaredType::Boolean)
        | (ColumnType::Int64, DeclaredType::Bigint | DeclaredType::Double)
        | (ColumnType::Float64, DeclaredType::Double)
        | (ColumnType::String, DeclaredType::String)
        | (ColumnType::Timestamp, DeclaredType::Timestamp) => true,
        (ColumnType::List(e), DeclaredType::Array(te)) => fits(e, te),
        (ColumnType::Struct(columns), DeclaredType::Struct(fields)) => fields
            .iter()
            .all(|(n, ft)| columns.get(n.as_str()).is_none_or(|fc| fits(fc, ft))),
        _ => false,
    }
}

/// The types of an Arrow schema's columns, as a declared schema: what a
/// reader of the JSON copy casts records to before the Arrow decoder takes
/// them. Columns of other types (null) are left out.
pub(crate) fn declared_of_arrow(schema: &Schema) -> DeclaredSchema {
    schema
        .fields()
        .iter()
        .filter_map(|f| Some((f.name().clone(), of_arrow(f.data_type())?)))
        .collect()
}

fn of_arrow(t: &DataType) -> Option<DeclaredType> {
    Some(match t {
        DataType::Boolean => DeclaredType::Boolean,
        DataType::Int64 => DeclaredType::Bigint,
        DataType::Float64 => DeclaredType::Double,
        DataType::Utf8 => DeclaredType::String,
        DataType::Timestamp(..) => DeclaredType::Timestamp,
        DataType::List(f) => DeclaredType::Array(Box::new(of_arrow(f.data_type())?)),
        DataType::Struct(fields) => DeclaredType::Struct(
            fields
                .iter()
                .filter_map(|f| Some((f.name().clone(), of_arrow(f.data_type())?)))
                .collect(),
        ),
        _ => return None,
    })
}

/// Casts the record's declared fields to their types; a value that cannot
/// be cast becomes null, and why goes into `failures` (a line each).
pub(crate) fn cast_record(
    record: &mut Record,
    declared: &DeclaredSchema,
    failures: &mut Vec<String>,
) {
    for (name, t) in declared {
        if let Some(v) = record.get_mut(name.as_str()) {
            cast(v, t, name, failures);
        }
    }
}

fn cast(v: &mut Value, t: &DeclaredType, path: &str, failures: &mut Vec<String>) {
    let cast = match (t, &*v) {
        (_, Value::Null) | (DeclaredType::String, _) => return,
        (DeclaredType::Boolean, Value::Bool(_))
        | (DeclaredType::Bigint, Value::Int(_))
        | (DeclaredType::Double, Value::Int(_) | Value::Float(_)) => return,
        (DeclaredType::Timestamp, Value::String(s)) if is_timestamp_text(s) => return,
        (DeclaredType::Boolean, Value::String(s)) => match s.trim() {
            t if t.eq_ignore_ascii_case("true") => Some(Value::Bool(true)),
            t if t.eq_ignore_ascii_case("false") => Some(Value::Bool(false)),
            _ => None,
        },
        (DeclaredType::Bigint, Value::String(s)) => s.trim().parse::<i64>().ok().map(Value::Int),
        // Whole numbers only, within i64 (2^63 is the first float past it).
        (DeclaredType::Bigint, Value::Float(f))
            if f.fract() == 0.0
                && *f >= -9.223_372_036_854_776e18
                && *f < 9.223_372_036_854_776e18 =>
        {
            Some(Value::Int(*f as i64))
        }
        (DeclaredType::Double, Value::String(s)) => s
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            .map(Value::Float),
        (DeclaredType::Array(e), Value::Array(_)) => {
            if let Value::Array(items) = v {
                let at = format!("{path}[]");
                for item in items.iter_mut() {
                    cast(item, e, &at, failures);
                }
            }
            return;
        }
        (DeclaredType::Struct(fields), Value::Map(_)) => {
            if let Value::Map(record) = v {
                for (name, ft) in fields {
                    if let Some(fv) = record.get_mut(name.as_str()) {
                        cast(fv, ft, &format!("{path}.{name}"), failures);
                    }
                }
            }
            return;
        }
        _ => None,
    };
    match cast {
        Some(c) => *v = c,
        None => {
            let text = serde_json::to_string(&*v).unwrap_or_default();
            let text = if text.len() > 80 {
                format!("{}…", &text[..text.floor_char_boundary(80)])
            } else {
                text
            };
            failures.push(format!("{path}: {text} is not a {t}"));
            *v = Value::Null;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn declared(pairs: &[(&str, &str)]) -> DeclaredSchema {
        pairs
            .iter()
            .map(|(n, t)| ((*n).to_owned(), t.parse().unwrap()))
            .collect()
    }

    #[test]
    fn values_are_cast_or_nulled_with_a_reason() {
        let d = declared(&[
            ("status", "bigint"),
            ("ratio", "double"),
            ("ok", "boolean"),
            ("s", "string"),
            ("n", "struct<k:bigint>"),
            ("l", "array<double>"),
        ]);
        let mut r: Record = serde_json::from_str(
            r#"{"status":"404","ratio":"0.5","ok":"TRUE","s":3,"n":{"k":"x","z":1},"l":[1,"2","no"]}"#,
        )
        .unwrap();
        let mut failures = Vec::new();
        cast_record(&mut r, &d, &mut failures);
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            r#"{"status":404,"ratio":0.5,"ok":true,"s":3,"n":{"k":null,"z":1},"l":[1,2.0,null]}"#
        );
        // Declared columns are cast in name order.
        assert_eq!(
            failures,
            [
                r#"l[]: "no" is not a double"#,
                r#"n.k: "x" is not a bigint"#
            ]
        );

        let mut r: Record = serde_json::from_str(r#"{"status":1.5,"ok":[true]}"#).unwrap();
        let mut failures = Vec::new();
        cast_record(&mut r, &d, &mut failures);
        assert_eq!(r["status"], Value::Null);
        assert_eq!(failures.len(), 2);
    }

    #[test]
    fn declared_types_win_and_unnamed_struct_fields_stay_inferred() {
        let mut s: TableSchema = serde_json::from_str(
            r#"{"columns":{"status":"string","n":{"struct":{"k":"string","z":"int64"}}}}"#,
        )
        .unwrap();
        assert!(!s.fits(&declared(&[("status", "bigint")])));
        assert!(s.fits(&declared(&[("other", "bigint")])));
        let d = declared(&[
            ("status", "bigint"),
            ("n", "struct<k:bigint>"),
            ("new", "double"),
        ]);
        assert!(s.declare(&d));
        assert_eq!(
            serde_json::to_string(&s).unwrap(),
            r#"{"columns":{"status":"int64","n":{"struct":{"k":"int64","z":"int64"}},"new":"float64"}}"#
        );
        assert!(!s.declare(&d), "a second time changes nothing");
        assert!(s.fits(&d));
    }
}
