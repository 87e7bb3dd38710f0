//! `url_extract_parameter(url, name)`: the value of the first query-string
//! parameter called `name`, as Athena's.
//!
//! The value is as written in the URL, not percent-decoded. A parameter
//! without `=` (`?debug&x=1`) has the empty value; a name that is not there,
//! a URL without a query, and text that is not a URL give NULL. Request
//! targets (`/p?x=1`) work as whole URLs do.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, StringArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, exec_err};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

use super::strings;
use super::url_extract::parse_url;

/// The `url_extract_parameter` function.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct UrlExtractParameter {
    signature: Signature,
}

impl Default for UrlExtractParameter {
    fn default() -> Self {
        UrlExtractParameter {
            signature: Signature::string(2, Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for UrlExtractParameter {
    fn name(&self) -> &str {
        "url_extract_parameter"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let n = args.number_rows;
        let [url, name] = args.args.as_slice() else {
            return exec_err!("url_extract_parameter takes a URL and a parameter name");
        };
        let (urls, names) = (url.to_array(n)?, name.to_array(n)?);
        let values: StringArray = strings(&urls)?
            .zip(strings(&names)?)
            .map(|(u, p)| parameter(u?, p?))
            .collect();
        Ok(ColumnarValue::Array(Arc::new(values) as ArrayRef))
    }
}

fn parameter(url: &str, name: &str) -> Option<String> {
    let (url, _) = parse_url(url)?;
    url.query()?
        .split('&')
        .find_map(|pair| match pair.split_once('=') {
            Some((key, value)) => (key == name).then_some(value),
            None => (pair == name).then_some(""),
        })
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_first_parameter_of_that_name() {
        let cases = [
            ("http://x.com/p?a=1&b=2", "b", Some("2")),
            ("http://x.com/p?a=1&a=2", "a", Some("1")),
            ("/p?debug&a=1", "debug", Some("")),
            ("/p?a=x%20y", "a", Some("x%20y")),
            ("/p?a==1", "a", Some("=1")),
            ("/p?a=1#b=2", "b", None),
            ("http://x.com/p?ab=1", "a", None),
            ("http://x.com/p", "a", None),
            ("not a url", "a", None),
        ];
        for (url, name, want) in cases {
            assert_eq!(parameter(url, name).as_deref(), want, "{url:?} {name:?}");
        }
    }
}
