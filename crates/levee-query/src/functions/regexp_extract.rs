//! `regexp_extract(string, pattern[, group])`: the first match of a regular
//! expression, or one capture group of it; NULL when nothing matches.
//!
//! Athena's shape of it: group 0 (the default) is the whole match, and a
//! group the pattern does not have is an error. Patterns use the `regex`
//! crate's syntax, which agrees with Java's for what log queries use
//! (classes, groups, anchors; no look-around or backreferences).

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, AsArray, StringArray};
use datafusion::arrow::datatypes::{DataType, Int64Type};
use datafusion::common::{Result, ScalarValue, exec_err};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, TypeSignature, Volatility,
};
use regex::Regex;

use super::strings;

/// The `regexp_extract` function.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct RegexpExtract {
    signature: Signature,
}

impl Default for RegexpExtract {
    fn default() -> Self {
        use DataType::{Int64, LargeUtf8, Utf8, Utf8View};
        RegexpExtract {
            signature: Signature::one_of(
                vec![
                    TypeSignature::Uniform(2, vec![Utf8View, LargeUtf8, Utf8]),
                    TypeSignature::Exact(vec![Utf8View, Utf8View, Int64]),
                    TypeSignature::Exact(vec![LargeUtf8, LargeUtf8, Int64]),
                    TypeSignature::Exact(vec![Utf8, Utf8, Int64]),
                ],
                Volatility::Immutable,
            ),
        }
    }
}

impl ScalarUDFImpl for RegexpExtract {
    fn name(&self) -> &str {
        "regexp_extract"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let n = args.number_rows;
        let (value, pattern, group) = match args.args.as_slice() {
            [v, p] => (v, p, None),
            [v, p, g] => (v, p, Some(g)),
            _ => return exec_err!("regexp_extract takes a string, a pattern and maybe a group"),
        };
        let values = value.to_array(n)?;
        let pattern_array;
        let patterns: Box<dyn Iterator<Item = Option<&str>>> = match pattern {
            ColumnarValue::Scalar(s) => Box::new(std::iter::repeat_n(scalar_str(s)?, n)),
            ColumnarValue::Array(a) => {
                pattern_array = a.clone();
                strings(&pattern_array)?
            }
        };
        let group_array;
        let groups: Box<dyn Iterator<Item = Option<i64>>> = match group {
            None => Box::new(std::iter::repeat_n(Some(0), n)),
            Some(ColumnarValue::Scalar(ScalarValue::Int64(g))) => {
                Box::new(std::iter::repeat_n(*g, n))
            }
            Some(g) => {
                group_array = g.to_array(n)?;
                match group_array.as_primitive_opt::<Int64Type>() {
                    Some(a) => Box::new(a.iter()),
                    None => return exec_err!("regexp_extract: the group must be an integer"),
                }
            }
        };

        // One pattern per query is the rule; compile again only when it changes.
        let mut compiled: Option<(String, Regex)> = None;
        let mut out = Vec::with_capacity(n);
        for ((v, p), g) in strings(&values)?.zip(patterns).zip(groups) {
            let (Some(v), Some(p), Some(g)) = (v, p, g) else {
                out.push(None);
                continue;
            };
            if compiled.as_ref().is_none_or(|(src, _)| src != p) {
                match Regex::new(p) {
                    Ok(re) => compiled = Some((p.to_owned(), re)),
                    Err(e) => return exec_err!("regexp_extract: bad pattern `{p}`: {e}"),
                }
            }
            let Some((_, re)) = compiled.as_ref() else {
                return exec_err!("regexp_extract: no pattern");
            };
            out.push(extract(re, v, g)?);
        }
        let out: StringArray = out.into_iter().collect();
        Ok(ColumnarValue::Array(Arc::new(out) as ArrayRef))
    }
}

fn scalar_str(s: &ScalarValue) -> Result<Option<&str>> {
    match s {
        ScalarValue::Utf8(p) | ScalarValue::Utf8View(p) | ScalarValue::LargeUtf8(p) => {
            Ok(p.as_deref())
        }
        ScalarValue::Null => Ok(None),
        other => exec_err!("regexp_extract: the pattern must be a string, got {other}"),
    }
}

fn extract<'a>(re: &Regex, value: &'a str, group: i64) -> Result<Option<&'a str>> {
    let groups = re.captures_len() - 1;
    let index = match usize::try_from(group) {
        Ok(i) if i <= groups => i,
        _ => {
            return exec_err!(
                "regexp_extract: pattern `{}` has {groups} groups, asked for group {group}",
                re.as_str()
            );
        }
    };
    Ok(re
        .captures(value)
        .and_then(|c| c.get(index))
        .map(|m| m.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extracts_the_match_or_a_group() {
        let re = Regex::new(r"/items/(\d+)(x)?").unwrap();
        assert_eq!(
            extract(&re, "GET /items/42?a=1", 0).unwrap(),
            Some("/items/42")
        );
        assert_eq!(extract(&re, "GET /items/42?a=1", 1).unwrap(), Some("42"));
        // A group that took no part in the match is NULL, as is no match.
        assert_eq!(extract(&re, "GET /items/42?a=1", 2).unwrap(), None);
        assert_eq!(extract(&re, "GET /users/7", 1).unwrap(), None);
    }

    #[test]
    fn a_group_the_pattern_lacks_is_an_error() {
        let re = Regex::new(r"(\d+)").unwrap();
        for bad in [2, -1] {
            let err = extract(&re, "42", bad).unwrap_err().to_string();
            assert!(err.contains("has 1 groups"), "{err}");
        }
    }
}
