//! `url_extract_host(url)`: the host of a URL, as Athena's.
//!
//! A request target (`/p?q=1`), a URL without a host (`mailto:a@b`,
//! `file:///x`) and text that is not a URL give NULL. The `url` crate writes
//! hosts in lower case, and international names in punycode, where Athena
//! keeps the host as written.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, StringArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, exec_err};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

use super::strings;
use super::url_extract::{Origin, parse_url};

/// The `url_extract_host` function.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct UrlExtractHost {
    signature: Signature,
}

impl Default for UrlExtractHost {
    fn default() -> Self {
        UrlExtractHost {
            signature: Signature::string(1, Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for UrlExtractHost {
    fn name(&self) -> &str {
        "url_extract_host"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [value] = args.args.as_slice() else {
            return exec_err!("url_extract_host takes one string");
        };
        let values = value.to_array(args.number_rows)?;
        let hosts: StringArray = strings(&values)?.map(|v| v.and_then(url_host)).collect();
        Ok(ColumnarValue::Array(Arc::new(hosts) as ArrayRef))
    }
}

fn url_host(s: &str) -> Option<String> {
    match parse_url(s)? {
        (url, Origin::Own) => url.host_str().filter(|h| !h.is_empty()).map(str::to_owned),
        (_, Origin::Placeholder) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extracts_hosts_and_nothing_else() {
        let cases = [
            ("https://example.com/a/b?x=1#f", Some("example.com")),
            ("http://user:pw@example.com:8080", Some("example.com")),
            ("http://[::1]:80/x", Some("[::1]")),
            ("/api/v1/items?id=7", None),
            ("example.com/a", None),
            ("mailto:a@example.com", None),
            ("file:///etc/hosts", None),
            ("not a url", None),
            ("", None),
        ];
        for (input, want) in cases {
            assert_eq!(url_host(input).as_deref(), want, "{input:?}");
        }
    }
}
