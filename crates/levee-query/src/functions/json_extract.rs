//! `json_extract(json, path)` and `json_extract_scalar(json, path)`: a value
//! inside JSON text, by a JSON path (see [`super::json_path`]).
//!
//! `json_extract` answers JSON text, compact (`{"b":1}`, `"x"` with its
//! quotes, `null` for a JSON null). `json_extract_scalar` answers a string,
//! number or boolean as plain text (`x`, `1.50` as written, `true`), and NULL
//! for an object, an array or a JSON null. Both give NULL when the text is
//! not JSON or the path leads nowhere, and refuse a malformed path.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, StringArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, ScalarValue, exec_err};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

use super::json_path::{JsonPath, compact};
use super::strings;

/// Which of the two functions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Answer {
    /// `json_extract`: JSON text.
    Json,
    /// `json_extract_scalar`: a scalar's text.
    Scalar,
}

/// The `json_extract` function.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct JsonExtract {
    signature: Signature,
    answer: Answer,
}

impl JsonExtract {
    /// `json_extract`.
    pub fn json() -> JsonExtract {
        JsonExtract {
            signature: Signature::string(2, Volatility::Immutable),
            answer: Answer::Json,
        }
    }

    /// `json_extract_scalar`.
    pub fn scalar() -> JsonExtract {
        JsonExtract {
            answer: Answer::Scalar,
            ..JsonExtract::json()
        }
    }
}

impl ScalarUDFImpl for JsonExtract {
    fn name(&self) -> &str {
        match self.answer {
            Answer::Json => "json_extract",
            Answer::Scalar => "json_extract_scalar",
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let n = args.number_rows;
        let [doc, path] = args.args.as_slice() else {
            return exec_err!("{} takes JSON text and a JSON path", self.name());
        };
        // The usual literal path is parsed once, and refused even when every
        // document is NULL.
        let mut parsed: Option<(String, JsonPath)> = match path {
            ColumnarValue::Scalar(
                ScalarValue::Utf8(Some(p))
                | ScalarValue::Utf8View(Some(p))
                | ScalarValue::LargeUtf8(Some(p)),
            ) => Some((p.clone(), JsonPath::parse(p)?)),
            _ => None,
        };
        let (docs, paths) = (doc.to_array(n)?, path.to_array(n)?);
        let mut out = Vec::with_capacity(n);
        for (doc, path) in strings(&docs)?.zip(strings(&paths)?) {
            let (Some(doc), Some(path)) = (doc, path) else {
                out.push(None);
                continue;
            };
            if parsed.as_ref().is_none_or(|(seen, _)| seen != path) {
                parsed = Some((path.to_owned(), JsonPath::parse(path)?));
            }
            let found = parsed.as_ref().and_then(|(_, p)| p.find(doc));
            out.push(found.and_then(|json| match self.answer {
                Answer::Json => Some(compact(json)),
                Answer::Scalar => scalar_text(json),
            }));
        }
        let out: StringArray = out.into_iter().collect();
        Ok(ColumnarValue::Array(Arc::new(out) as ArrayRef))
    }
}

/// A JSON scalar's text: a string unquoted, a number as written; `None` for
/// objects, arrays and null.
fn scalar_text(json: &str) -> Option<String> {
    match json.as_bytes().first()? {
        b'"' => serde_json::from_str::<String>(json).ok(),
        b'{' | b'[' => None,
        _ if json == "null" => None,
        _ => Some(json.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalars_are_plain_text() {
        assert_eq!(scalar_text(r#""a\"b\u00e9""#).as_deref(), Some("a\"bé"));
        assert_eq!(scalar_text("1.50").as_deref(), Some("1.50"));
        assert_eq!(scalar_text("1e3").as_deref(), Some("1e3"));
        assert_eq!(scalar_text("true").as_deref(), Some("true"));
        assert_eq!(scalar_text("null"), None);
        assert_eq!(scalar_text("[1]"), None);
        assert_eq!(scalar_text("{}"), None);
    }
}
