//! `split_part(string, delimiter, index)`: one field of a split string, as
//! Trino has it.
//!
//! DataFusion's own `split_part` follows PostgreSQL: an index past the last
//! field gives `''`, a negative one counts from the end, and an empty
//! delimiter leaves the string whole. Trino's, which this one replaces, gives
//! NULL past the last field, refuses an index below 1, and splits on every
//! character when the delimiter is empty.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, AsArray, StringArray};
use datafusion::arrow::datatypes::{DataType, Int64Type};
use datafusion::common::types::{NativeType, logical_int64, logical_string};
use datafusion::common::{Result, exec_err};
use datafusion::logical_expr::{
    Coercion, ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, TypeSignatureClass,
    Volatility,
};

use super::strings;

/// The `split_part` function.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct SplitPart {
    signature: Signature,
}

impl Default for SplitPart {
    fn default() -> Self {
        let string = || Coercion::new_exact(TypeSignatureClass::Native(logical_string()));
        SplitPart {
            signature: Signature::coercible(
                vec![
                    string(),
                    string(),
                    Coercion::new_implicit(
                        TypeSignatureClass::Native(logical_int64()),
                        vec![TypeSignatureClass::Integer],
                        NativeType::Int64,
                    ),
                ],
                Volatility::Immutable,
            ),
        }
    }
}

impl ScalarUDFImpl for SplitPart {
    fn name(&self) -> &str {
        "split_part"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let n = args.number_rows;
        let [string, delimiter, index] = args.args.as_slice() else {
            return exec_err!("split_part takes a string, a delimiter and an index");
        };
        let (string, delimiter) = (string.to_array(n)?, delimiter.to_array(n)?);
        let index = index.to_array(n)?;
        let Some(index) = index.as_primitive_opt::<Int64Type>() else {
            return exec_err!("split_part: the index must be an integer");
        };
        let mut out = Vec::with_capacity(n);
        for ((s, d), i) in strings(&string)?
            .zip(strings(&delimiter)?)
            .zip(index.iter())
        {
            out.push(match (s, d, i) {
                (Some(s), Some(d), Some(i)) => split_part(s, d, i)?,
                _ => None,
            });
        }
        let out: StringArray = out.into_iter().collect();
        Ok(ColumnarValue::Array(Arc::new(out) as ArrayRef))
    }
}

fn split_part<'a>(string: &'a str, delimiter: &str, index: i64) -> Result<Option<&'a str>> {
    if index < 1 {
        return exec_err!("split_part: index must be greater than zero, got {index}");
    }
    let skip = usize::try_from(index - 1).unwrap_or(usize::MAX);
    Ok(if delimiter.is_empty() {
        string
            .char_indices()
            .nth(skip)
            .map(|(at, c)| &string[at..at + c.len_utf8()])
    } else {
        string.split(delimiter).nth(skip)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_as_trino_does() {
        let cases = [
            ("a,b,c", ",", 1, Some("a")),
            ("a,b,c", ",", 3, Some("c")),
            ("a,b,c", ",", 4, None),
            ("a,,c", ",", 2, Some("")),
            ("", ",", 1, Some("")),
            ("", ",", 2, None),
            ("abc", "", 2, Some("b")),
            ("añb", "", 2, Some("ñ")),
            ("abc", "", 4, None),
            ("a::b", "::", 2, Some("b")),
        ];
        for (s, d, i, want) in cases {
            assert_eq!(split_part(s, d, i).unwrap(), want, "{s:?} {d:?} {i}");
        }
    }

    #[test]
    fn an_index_below_one_is_an_error() {
        for bad in [0, -1] {
            let err = split_part("a,b", ",", bad).unwrap_err().to_string();
            assert!(err.contains("greater than zero"), "{err}");
        }
    }
}
