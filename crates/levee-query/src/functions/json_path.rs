//! What `json_extract` and `json_extract_scalar` share: Trino's JSON path
//! and a walk along it that reads only what it passes.
//!
//! A path is `$` followed by steps: `.name`, `["name"]` (also with single
//! quotes) or `[0]`. As in Trino, a step is a name that indexes an array
//! when it is a number (`$.a.0` is `$.a[0]`). Unquoted names hold letters,
//! digits, `_` and `:`; anything else, such as `$.user-agent`, needs
//! brackets: `$["user-agent"]`. Wildcards and filters are not part of it.
//! When an object has a name twice, the first is taken, as Trino's
//! streaming reader does.

use std::fmt;

use datafusion::common::{Result, exec_err};
use serde::de::{Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

/// A parsed JSON path: the names it steps through.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct JsonPath {
    steps: Vec<String>,
}

impl JsonPath {
    /// Parses a path, or says where it goes wrong.
    pub(super) fn parse(path: &str) -> Result<JsonPath> {
        let bad = |why: &str| exec_err!("Invalid JSON path: '{path}' ({why})");
        let Some(mut rest) = path.trim().strip_prefix('$') else {
            return bad("it must start with $");
        };
        let mut steps = Vec::new();
        while let Some(c) = rest.chars().next() {
            match c {
                '.' => {
                    let name_len = rest[1..]
                        .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                        .unwrap_or(rest.len() - 1);
                    if name_len == 0 {
                        return bad("a name must follow `.`");
                    }
                    steps.push(rest[1..1 + name_len].to_owned());
                    rest = &rest[1 + name_len..];
                }
                '[' => {
                    let (name, after) = match rest[1..].chars().next() {
                        Some(q @ ('"' | '\'')) => quoted(&rest[2..], q)?,
                        _ => {
                            let Some(end) = rest.find(']') else {
                                return bad("`[` is not closed");
                            };
                            let digits = &rest[1..end];
                            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                                return bad("a subscript is a number or a quoted name");
                            }
                            (digits.to_owned(), &rest[end..])
                        }
                    };
                    let Some(after) = after.strip_prefix(']') else {
                        return bad("`]` expected");
                    };
                    steps.push(name);
                    rest = after;
                }
                _ => return bad("expected `.` or `[`"),
            }
        }
        Ok(JsonPath { steps })
    }

    /// The JSON text the path leads to in `doc`; `None` when the document is
    /// not JSON or the path leads nowhere.
    pub(super) fn find<'d>(&self, doc: &'d str) -> Option<&'d str> {
        let mut here: &RawValue = serde_json::from_str(doc).ok()?;
        for step in &self.steps {
            let mut de = serde_json::Deserializer::from_str(here.get());
            here = de
                .deserialize_any(Step {
                    name: step,
                    index: step.parse().ok(),
                })
                .ok()??;
        }
        Some(here.get())
    }
}

/// A quoted name in a subscript, up to its closing quote, `\` escaping.
fn quoted(s: &str, quote: char) -> Result<(String, &str)> {
    let mut name = String::new();
    let mut chars = s.char_indices();
    while let Some((at, c)) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some((_, c)) => name.push(c),
                None => break,
            },
            c if c == quote => return Ok((name, &s[at + c.len_utf8()..])),
            c => name.push(c),
        }
    }
    exec_err!("Invalid JSON path: a quoted name is not closed")
}

/// One step of a walk: an object's member or an array's element.
struct Step<'p> {
    name: &'p str,
    index: Option<usize>,
}

impl<'de> Visitor<'de> for Step<'_> {
    type Value = Option<&'de RawValue>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("JSON")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut found = None;
        while let Some(key) = map.next_key::<String>()? {
            if found.is_none() && key == self.name {
                found = Some(map.next_value::<&RawValue>()?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut found = None;
        let mut i = 0;
        loop {
            if Some(i) == self.index {
                found = seq.next_element::<&RawValue>()?;
                if found.is_none() {
                    break;
                }
            } else if seq.next_element::<IgnoredAny>()?.is_none() {
                break;
            }
            i += 1;
        }
        Ok(found)
    }

    // A scalar has no members: the path leads nowhere.
    fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
}

/// JSON text without the whitespace between its tokens.
pub(super) fn compact(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    let (mut in_string, mut escaped) = (false, false);
    for c in json.chars() {
        if in_string {
            out.push(c);
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
        } else if !c.is_whitespace() {
            in_string = c == '"';
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn steps(path: &str) -> Vec<String> {
        JsonPath::parse(path).unwrap().steps
    }

    #[test]
    fn parses_trinos_paths() {
        assert!(steps("$").is_empty());
        assert_eq!(steps("$.a.b_c"), ["a", "b_c"]);
        assert_eq!(steps("$.a[0].b"), ["a", "0", "b"]);
        assert_eq!(steps(r#"$["user-agent"]"#), ["user-agent"]);
        assert_eq!(steps("$['a.b'][12]"), ["a.b", "12"]);
        assert_eq!(steps(r#"$["say \"hi\""]"#), [r#"say "hi""#]);
    }

    #[test]
    fn refuses_what_is_not_a_path() {
        for bad in [
            "", "a.b", "$.", "$..a", "$.a-b", "$[", "$[x]", "$[-1]", "$['a'", "$.a b",
        ] {
            let err = JsonPath::parse(bad).unwrap_err().to_string();
            assert!(err.contains("Invalid JSON path"), "{bad:?}: {err}");
        }
    }

    #[test]
    fn walks_objects_and_arrays() {
        let doc = r#"{"a": {"b": [10, {"c": "x"}, null]}, "a2": 1, "a": "second"}"#;
        let find = |p: &str| JsonPath::parse(p).unwrap().find(doc);
        assert_eq!(find("$.a.b[0]"), Some("10"));
        assert_eq!(find("$.a.b.1.c"), Some(r#""x""#));
        assert_eq!(find("$.a.b[2]"), Some("null"));
        assert_eq!(find("$.a.b[3]"), None);
        assert_eq!(find("$.a.b[0].c"), None);
        assert_eq!(find("$.missing"), None);
        assert_eq!(find("$.a.b.x"), None);
        assert_eq!(JsonPath::parse("$.a").unwrap().find("{not json"), None);
        assert_eq!(
            JsonPath::parse("$").unwrap().find(" [1, 2] "),
            Some("[1, 2]")
        );
    }

    #[test]
    fn compacts_outside_strings_only() {
        assert_eq!(
            compact(r#"{ "a b" : [1, 2 ], "c": "x\" y" }"#),
            r#"{"a b":[1,2],"c":"x\" y"}"#
        );
    }
}
