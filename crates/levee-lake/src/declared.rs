//! A table's declared schema: column types the user writes in the lake
//! output's config (`[outputs.X.schema] status = "bigint"`), stored in the
//! table's properties, which win over what compaction infers.
//!
//! Types are written as `levee tables --schema` prints them (Hive's
//! words): `boolean`, `bigint`, `double`, `string`, `timestamp`,
//! `array<T>`, `struct<name:T,...>`. A declared struct fixes the types of
//! the fields it names; fields it does not name are inferred as usual.
//!
//! This part needs no arrow, so the collector checks a declared schema
//! when it reads its config; compaction casts the values (see
//! `compact`).

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::LakeError;

/// Declared columns by name: top-level fields of the records.
pub type DeclaredSchema = BTreeMap<String, DeclaredType>;

/// A declared column type.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum DeclaredType {
    /// `boolean`
    Boolean,
    /// `bigint`: a 64-bit integer.
    Bigint,
    /// `double`
    Double,
    /// `string`: any value, as its JSON text when it is not a string.
    String,
    /// `timestamp`: RFC 3339 text, microseconds in UTC.
    Timestamp,
    /// `array<T>`
    Array(Box<DeclaredType>),
    /// `struct<name:T,...>`, the fields it fixes, in order.
    Struct(Vec<(String, DeclaredType)>),
}

impl FromStr for DeclaredType {
    type Err = LakeError;

    fn from_str(text: &str) -> Result<DeclaredType, LakeError> {
        let mut p = Parser { text, at: 0 };
        let ty = p.ty()?;
        p.space();
        if p.at != text.len() {
            return Err(p.error("nothing after the type"));
        }
        Ok(ty)
    }
}

struct Parser<'a> {
    text: &'a str,
    at: usize,
}

impl Parser<'_> {
    fn error(&self, expected: &str) -> LakeError {
        LakeError::InvalidType {
            text: self.text.to_owned(),
            reason: format!(
                "at {}: expected {expected}; types are boolean, bigint, double, string, \
                 timestamp, array<T>, struct<name:T,...>",
                self.at
            ),
        }
    }

    fn space(&mut self) {
        while self.text[self.at..].starts_with([' ', '\t']) {
            self.at += 1;
        }
    }

    fn eat(&mut self, c: char) -> bool {
        self.space();
        if self.text[self.at..].starts_with(c) {
            self.at += c.len_utf8();
            true
        } else {
            false
        }
    }

    fn word(&mut self) -> &str {
        self.space();
        let rest = &self.text[self.at..];
        let len = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        self.at += len;
        &rest[..len]
    }

    fn ty(&mut self) -> Result<DeclaredType, LakeError> {
        let word = self.word().to_ascii_lowercase();
        Ok(match word.as_str() {
            "boolean" => DeclaredType::Boolean,
            "bigint" => DeclaredType::Bigint,
            "double" => DeclaredType::Double,
            "string" => DeclaredType::String,
            "timestamp" => DeclaredType::Timestamp,
            "array" => {
                if !self.eat('<') {
                    return Err(self.error("`<`"));
                }
                let element = self.ty()?;
                if !self.eat('>') {
                    return Err(self.error("`>`"));
                }
                DeclaredType::Array(Box::new(element))
            }
            "struct" => {
                if !self.eat('<') {
                    return Err(self.error("`<`"));
                }
                let mut fields: Vec<(String, DeclaredType)> = Vec::new();
                loop {
                    let name = self.word().to_owned();
                    if name.is_empty() {
                        return Err(self.error("a field name"));
                    }
                    if fields.iter().any(|(n, _)| *n == name) {
                        return Err(self.error("each field named once"));
                    }
                    if !self.eat(':') {
                        return Err(self.error("`:`"));
                    }
                    fields.push((name, self.ty()?));
                    if self.eat('>') {
                        break;
                    }
                    if !self.eat(',') {
                        return Err(self.error("`,` or `>`"));
                    }
                }
                DeclaredType::Struct(fields)
            }
            _ => return Err(self.error("a type")),
        })
    }
}

impl fmt::Display for DeclaredType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeclaredType::Boolean => f.write_str("boolean"),
            DeclaredType::Bigint => f.write_str("bigint"),
            DeclaredType::Double => f.write_str("double"),
            DeclaredType::String => f.write_str("string"),
            DeclaredType::Timestamp => f.write_str("timestamp"),
            DeclaredType::Array(e) => write!(f, "array<{e}>"),
            DeclaredType::Struct(fields) => {
                f.write_str("struct<")?;
                for (i, (name, t)) in fields.iter().enumerate() {
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

impl TryFrom<String> for DeclaredType {
    type Error = LakeError;

    fn try_from(text: String) -> Result<DeclaredType, LakeError> {
        text.parse()
    }
}

impl From<DeclaredType> for String {
    fn from(t: DeclaredType) -> String {
        t.to_string()
    }
}

/// Checks a declared schema as written (`name -> type`): every type reads,
/// and no column is a partition column (`dt`, `hour`) or the event-time
/// column `time_field`, whose types are levee's.
pub fn parse_schema(
    written: &BTreeMap<String, String>,
    time_field: &str,
) -> Result<DeclaredSchema, LakeError> {
    let mut out = DeclaredSchema::new();
    for (name, text) in written {
        let reserved = ["dt", "hour", time_field]
            .iter()
            .any(|r| name.eq_ignore_ascii_case(r));
        if reserved || name.is_empty() {
            return Err(LakeError::InvalidType {
                text: name.clone(),
                reason: format!(
                    "`{name}` cannot be declared: `dt`, `hour` and the event-time column \
                     (`{time_field}`) have levee's types"
                ),
            });
        }
        out.insert(name.clone(), text.parse()?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_read_as_levee_tables_prints_them() {
        for text in [
            "boolean",
            "bigint",
            "double",
            "string",
            "timestamp",
            "array<bigint>",
            "struct<a:bigint,b:array<struct<c:string>>>",
        ] {
            assert_eq!(text.parse::<DeclaredType>().unwrap().to_string(), text);
        }
        assert_eq!(
            " Array < BIGINT > ".parse::<DeclaredType>().unwrap(),
            DeclaredType::Array(Box::new(DeclaredType::Bigint))
        );
        for bad in [
            "",
            "int",
            "array<>",
            "array<bigint",
            "struct<>",
            "struct<a:bigint,a:double>",
            "bigint x",
        ] {
            assert!(bad.parse::<DeclaredType>().is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn partition_and_time_columns_cannot_be_declared() {
        let written = |name: &str| BTreeMap::from([(name.to_owned(), "bigint".to_owned())]);
        assert!(parse_schema(&written("status"), "time").is_ok());
        for bad in ["dt", "HOUR", "ts", "TS"] {
            assert!(parse_schema(&written(bad), "ts").is_err(), "{bad}");
        }
        assert!(parse_schema(&written("time"), "ts").is_ok());
    }
}
