use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{Serialize, SerializeSeq, Serializer};

use crate::record::{Record, RecordVisitor, Text, text_heap};

/// A field's value: what JSON and msgpack can both say.
///
/// 24 bytes: text is inline up to 24 (and its last byte leaves room for
/// the tag), and lists and nested records are boxed so that the common
/// scalar fields don't pay for their size.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Value {
    /// No value (`-` in an nginx log, `null` in JSON).
    #[default]
    Null,
    /// A boolean.
    Bool(bool),
    /// A signed integer.
    Int(i64),
    /// A floating point number.
    Float(f64),
    /// UTF-8 text.
    String(Text),
    /// A list.
    Array(Box<Vec<Value>>),
    /// A nested record.
    Map(Box<Record>),
}

impl Value {
    /// The text, if this is a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// The number as i64, if this is an integer.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }

    /// True for [`Value::Null`].
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// Looks up a dotted path (`geo_ip.country`) through nested maps,
    /// without checking it; a path from the config is a
    /// [`FieldPath`](crate::FieldPath), whose `get` walks the same way.
    pub fn get_path<'a>(record: &'a Record, path: &str) -> Option<&'a Value> {
        crate::path::walk(record, path)
    }

    /// Bytes this value holds on the heap (none for scalars and short
    /// text), for bounding queues by memory.
    #[inline]
    pub fn heap_size(&self) -> usize {
        match self {
            Value::Null | Value::Bool(_) | Value::Int(_) | Value::Float(_) => 0,
            Value::String(s) => text_heap(s),
            // Out of line, so that the common cases above inline into a
            // record's loop over its fields.
            Value::Array(a) => array_heap_size(a),
            Value::Map(m) => size_of::<Record>() + m.heap_size(),
        }
    }
}

#[inline(never)]
fn array_heap_size(a: &Vec<Value>) -> usize {
    size_of::<Vec<Value>>()
        + a.capacity() * size_of::<Value>()
        + a.iter().map(Value::heap_size).sum::<usize>()
}

/// Renders scalars as their plain text (strings without quotes), and lists
/// and maps as JSON, so templates such as `${status}` read naturally.
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => Ok(()),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Float(x) => write!(f, "{x}"),
            Value::String(s) => f.write_str(s),
            Value::Array(_) | Value::Map(_) => {
                // Nested values only show up in templates by mistake; show them whole.
                write!(f, "{self:?}")
            }
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::String(Text::from(s))
    }
}

impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::String(Text::from(s))
    }
}

impl From<Text> for Value {
    fn from(s: Text) -> Value {
        Value::String(s)
    }
}

impl From<Vec<Value>> for Value {
    fn from(items: Vec<Value>) -> Value {
        Value::Array(Box::new(items))
    }
}

impl From<Record> for Value {
    fn from(r: Record) -> Value {
        Value::Map(Box::new(r))
    }
}

impl From<i64> for Value {
    fn from(i: i64) -> Value {
        Value::Int(i)
    }
}

impl From<f64> for Value {
    fn from(x: f64) -> Value {
        Value::Float(x)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Value {
        Value::Bool(b)
    }
}

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Null => serializer.serialize_unit(),
            Value::Bool(b) => serializer.serialize_bool(*b),
            Value::Int(i) => serializer.serialize_i64(*i),
            Value::Float(x) => serializer.serialize_f64(*x),
            Value::String(s) => serializer.serialize_str(s),
            Value::Array(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items.iter() {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Value::Map(record) => record.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON or msgpack value")
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        Value::deserialize(d)
    }

    fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }

    fn visit_i64<E>(self, i: i64) -> Result<Value, E> {
        Ok(Value::Int(i))
    }

    fn visit_u64<E>(self, u: u64) -> Result<Value, E> {
        // Beyond i64 an integer can only be kept approximately.
        Ok(i64::try_from(u).map_or(Value::Float(u as f64), Value::Int))
    }

    fn visit_f64<E>(self, x: f64) -> Result<Value, E> {
        Ok(Value::Float(x))
    }

    fn visit_str<E>(self, s: &str) -> Result<Value, E> {
        Ok(Value::String(Text::from(s)))
    }

    fn visit_string<E>(self, s: String) -> Result<Value, E> {
        Ok(Value::String(Text::from(s)))
    }

    fn visit_bytes<E>(self, b: &[u8]) -> Result<Value, E> {
        Ok(Value::String(Text::from_utf8_lossy(b)))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::from(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Value, A::Error> {
        RecordVisitor.visit_map(map).map(Value::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_round_trip_keeps_types_and_order() {
        let text = r#"{"b":1,"a":[true,null,2.5,"x"],"n":{"z":-3}}"#;
        let v: Value = serde_json::from_str(text).unwrap();
        assert_eq!(serde_json::to_string(&v).unwrap(), text);
        let Value::Map(m) = &v else {
            panic!("not a map")
        };
        assert_eq!(m.keys().collect::<Vec<_>>(), ["b", "a", "n"]);
    }

    #[test]
    fn get_path_walks_nested_maps() {
        let v: Value = serde_json::from_str(r#"{"geo":{"country":"US"},"x":1}"#).unwrap();
        let Value::Map(m) = v else {
            panic!("not a map")
        };
        assert_eq!(Value::get_path(&m, "geo.country"), Some(&Value::from("US")));
        assert_eq!(Value::get_path(&m, "x.y"), None);
        assert_eq!(Value::get_path(&m, "missing"), None);
    }

    #[test]
    fn a_value_is_no_bigger_than_its_text() {
        // The tag lives in the niche of the text's last byte.
        assert_eq!(size_of::<Value>(), size_of::<Text>());
    }

    #[test]
    fn huge_unsigned_becomes_float_not_error() {
        let v: Value = serde_json::from_str("18446744073709551615").unwrap();
        assert!(matches!(v, Value::Float(_)));
    }
}
