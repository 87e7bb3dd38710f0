//! The `types` option shared by the `json`, `regex`, `logfmt`, `ltsv` and
//! `csv` parsers: which fields are numbers or booleans rather than text.
//!
//! ```toml
//! parser = { type = "logfmt", types = { status = "int", took = "float", ok = "bool" } }
//! ```
//!
//! The same rules hold in every parser: text is converted as
//! [`FieldType`] says; an empty or blank text of a number or boolean is
//! null; a value that does not convert makes the line fail to parse, with
//! an error naming the field (`expected an integer for field `status`,
//! found 'OK'`), so the line goes to `@ERROR` with its raw bytes and is
//! counted, rather than a record arriving with the field silently null.

use std::borrow::Cow;
use std::collections::BTreeMap;

use levee_event::{Text, Value};
use serde::Deserialize;

use crate::error::{ParseError, ParseErrorReason, excerpt};

/// What a field's text becomes, as written in a `types` table.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FieldType {
    /// Text, as it is (the default for fields `types` does not name).
    #[default]
    String,
    /// A signed 64-bit integer in decimal: `42`, `-7`, `+3`.
    #[serde(alias = "integer")]
    Int,
    /// A finite number: `0.25`, `-1`, `1e3` (`inf` and `nan` are refused,
    /// since JSON cannot hold them).
    Float,
    /// `true` or `false`, in any letter case.
    #[serde(alias = "boolean")]
    Bool,
}

/// The `types` option as written: field name to type.
pub type Types = BTreeMap<String, FieldType>;

impl FieldType {
    /// Converts a field's text. Numbers and booleans may have ASCII
    /// whitespace around them; an empty (or all-blank) text is null, since a
    /// log that leaves a number out has no number to give.
    ///
    /// `field` and `position` (where the text starts in the line) only go
    /// into the error.
    pub fn convert(
        self,
        field: &str,
        text: Cow<'_, str>,
        position: usize,
    ) -> Result<Value, ParseError> {
        if self == FieldType::String {
            return Ok(Value::from(Text::from(text)));
        }
        let trimmed = text.trim_ascii();
        if trimmed.is_empty() {
            return Ok(Value::Null);
        }
        let value = match self {
            FieldType::String => None,
            FieldType::Int => parse_int(trimmed).map(Value::Int),
            FieldType::Float => parse_float(trimmed).map(Value::Float),
            FieldType::Bool => parse_bool(trimmed).map(Value::Bool),
        };
        value.ok_or_else(|| self.invalid(field, &text, position))
    }

    /// Gives a value already parsed (a JSON field, a record's field) this
    /// type: text converts as [`FieldType::convert`] says; a whole-number
    /// float becomes an integer and an integer a float; `string` writes any
    /// value as its JSON text; null stays null. A value that does not
    /// convert comes back unchanged as the error, for the caller to report
    /// or keep. The `json` parser's `types` and the `record` filter's share
    /// these rules.
    pub fn convert_value(self, value: Value) -> Result<Value, Value> {
        Ok(match (self, value) {
            (_, Value::Null) => Value::Null,
            (FieldType::String, text @ Value::String(_)) => text,
            (_, Value::String(text)) => {
                return self
                    .convert("", Cow::Borrowed(text.as_str()), 0)
                    .map_err(|_| Value::String(text));
            }
            (FieldType::String, other) => match serde_json::to_string(&other) {
                Ok(text) => Value::from(text),
                Err(_) => return Err(other),
            },
            (FieldType::Int, Value::Int(n)) => Value::Int(n),
            // Exactly a whole number within i64 (2^63 is the first beyond).
            (FieldType::Int, Value::Float(x))
                if x.fract() == 0.0 && x.abs() < 9.223_372_036_854_776e18 =>
            {
                Value::Int(x as i64)
            }
            (FieldType::Float, Value::Int(n)) => Value::Float(n as f64),
            (FieldType::Float, Value::Float(x)) => Value::Float(x),
            (FieldType::Bool, Value::Bool(b)) => Value::Bool(b),
            (_, other) => return Err(other),
        })
    }

    /// The error for `found`, the text of `field` at `position`, which is
    /// not of this type.
    pub(crate) fn invalid(self, field: &str, found: &str, position: usize) -> ParseError {
        ParseError::new(
            position,
            ParseErrorReason::InvalidValue {
                field: field.to_owned(),
                expected: self.description(),
                found: excerpt(found.as_bytes()),
            },
        )
    }

    /// The type as an error message says it.
    fn description(self) -> &'static str {
        match self {
            FieldType::String => "text",
            FieldType::Int => "an integer",
            FieldType::Float => "a number",
            FieldType::Bool => "true or false",
        }
    }
}

/// `types` compiled for parsers whose field names come from the line
/// (`logfmt`, `ltsv`): a lookup by name, skipped when `types` is empty.
///
/// A sorted list searched by halves: `types` names a handful of fields,
/// and hashing every key of every line cost more (a profile of the logfmt
/// bench had SipHash at about 4%).
#[derive(Clone, Debug, Default)]
pub(crate) struct TypeLookup {
    by_name: Vec<(Box<str>, FieldType)>,
}

impl TypeLookup {
    pub(crate) fn new(types: &Types) -> TypeLookup {
        TypeLookup {
            // A BTreeMap iterates in key order, so the list comes sorted.
            by_name: types
                .iter()
                .filter(|(_, ty)| **ty != FieldType::String)
                .map(|(name, ty)| (name.as_str().into(), *ty))
                .collect(),
        }
    }

    /// The type `types` gives `name`, or [`FieldType::String`].
    pub(crate) fn get(&self, name: &str) -> FieldType {
        if self.by_name.is_empty() {
            return FieldType::String;
        }
        self.by_name
            .binary_search_by(|(key, _)| (**key).cmp(name))
            .ok()
            .and_then(|at| self.by_name.get(at))
            .map_or(FieldType::String, |(_, ty)| *ty)
    }
}

/// A decimal integer with an optional sign; `None` past i64.
fn parse_int(text: &str) -> Option<i64> {
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    // Checked here so `str::parse` never sees forms it would also accept.
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

fn parse_float(text: &str) -> Option<f64> {
    // Rust's parser accepts `inf`, `NaN` and `infinity`: only digits,
    // signs, a dot and an exponent may start a number here.
    let first = text.trim_start_matches(['+', '-']).bytes().next()?;
    if !(first.is_ascii_digit() || first == b'.') {
        return None;
    }
    text.parse::<f64>().ok().filter(|x| x.is_finite())
}

fn parse_bool(text: &str) -> Option<bool> {
    if text.eq_ignore_ascii_case("true") {
        Some(true)
    } else if text.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn convert(ty: FieldType, text: &str) -> Result<Value, ParseError> {
        ty.convert("f", Cow::Borrowed(text), 7)
    }

    #[test]
    fn ints() {
        assert_eq!(convert(FieldType::Int, "42"), Ok(Value::Int(42)));
        assert_eq!(convert(FieldType::Int, " -7 "), Ok(Value::Int(-7)));
        assert_eq!(convert(FieldType::Int, "+3"), Ok(Value::Int(3)));
        assert_eq!(
            convert(FieldType::Int, "9223372036854775807"),
            Ok(Value::Int(i64::MAX))
        );
        for bad in ["9223372036854775808", "1.5", "1e3", "0x10", "-", "+", "4 2"] {
            assert!(convert(FieldType::Int, bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn floats_are_finite() {
        assert_eq!(convert(FieldType::Float, "0.25"), Ok(Value::Float(0.25)));
        assert_eq!(convert(FieldType::Float, "-1"), Ok(Value::Float(-1.0)));
        assert_eq!(convert(FieldType::Float, "1e3"), Ok(Value::Float(1000.0)));
        assert_eq!(convert(FieldType::Float, ".5"), Ok(Value::Float(0.5)));
        for bad in ["inf", "-inf", "NaN", "infinity", "1e999", "1,5", "abc"] {
            assert!(convert(FieldType::Float, bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn bools_in_any_case() {
        assert_eq!(convert(FieldType::Bool, "TRUE"), Ok(Value::Bool(true)));
        assert_eq!(convert(FieldType::Bool, "false"), Ok(Value::Bool(false)));
        assert!(convert(FieldType::Bool, "yes").is_err());
        assert!(convert(FieldType::Bool, "1").is_err());
    }

    #[test]
    fn blank_is_null_unless_text() {
        for ty in [FieldType::Int, FieldType::Float, FieldType::Bool] {
            assert_eq!(convert(ty, ""), Ok(Value::Null));
            assert_eq!(convert(ty, " \t"), Ok(Value::Null));
        }
        assert_eq!(convert(FieldType::String, ""), Ok(Value::from("")));
        assert_eq!(convert(FieldType::String, " 1 "), Ok(Value::from(" 1 ")));
    }

    #[test]
    fn failure_names_the_field_and_position() {
        let err = FieldType::Int
            .convert("status", Cow::Borrowed("OK"), 12)
            .unwrap_err();
        assert_eq!(err.position, 12);
        assert_eq!(
            err.to_string(),
            "at byte 12: expected an integer for field `status`, found 'OK'"
        );
        let long = "x".repeat(1000);
        let err = FieldType::Float
            .convert("took", Cow::Borrowed(&long), 0)
            .unwrap_err();
        assert!(err.to_string().len() < 120, "{err}");
    }

    #[test]
    fn config_names_and_aliases() {
        #[derive(Deserialize)]
        struct T {
            types: Types,
        }
        let t: T = toml::from_str(
            r#"types = { a = "int", b = "integer", c = "float", d = "bool", e = "boolean", f = "string" }"#,
        )
        .unwrap();
        let want = [
            FieldType::Int,
            FieldType::Int,
            FieldType::Float,
            FieldType::Bool,
            FieldType::Bool,
            FieldType::String,
        ];
        assert_eq!(t.types.values().copied().collect::<Vec<_>>(), want);
        let err = toml::from_str::<T>(r#"types = { a = "number" }"#)
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("unknown variant `number`"), "{err}");
    }

    #[test]
    fn lookup_defaults_to_string() {
        let types = Types::from([
            ("n".to_owned(), FieldType::Int),
            ("s".to_owned(), FieldType::String),
        ]);
        let lookup = TypeLookup::new(&types);
        assert_eq!(lookup.get("n"), FieldType::Int);
        assert_eq!(lookup.get("s"), FieldType::String);
        assert_eq!(lookup.get("other"), FieldType::String);
        assert_eq!(TypeLookup::default().get("n"), FieldType::String);
    }
}
