//! `url_extract_path(url)`: the path of a URL, percent-decoded, as Athena's.
//!
//! Log lines mostly hold request targets (`/p/q?x=1`) rather than whole URLs,
//! so a reference that starts with `/` is read against a placeholder origin.
//! Anything else that is not a URL gives NULL. The `url` crate resolves
//! `.` and `..` segments, which Athena leaves in place.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{ArrayRef, StringArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, exec_err};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};
use url::Url;

use super::strings;

/// The `url_extract_path` function.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct UrlExtractPath {
    signature: Signature,
}

impl Default for UrlExtractPath {
    fn default() -> Self {
        UrlExtractPath {
            signature: Signature::string(1, Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for UrlExtractPath {
    fn name(&self) -> &str {
        "url_extract_path"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [value] = args.args.as_slice() else {
            return exec_err!("url_extract_path takes one string");
        };
        let values = value.to_array(args.number_rows)?;
        let paths: StringArray = strings(&values)?.map(|v| v.and_then(url_path)).collect();
        Ok(ColumnarValue::Array(Arc::new(paths) as ArrayRef))
    }
}

/// What a bare request target is resolved against; only its path and query
/// are kept.
static ORIGIN: LazyLock<Option<Url>> = LazyLock::new(|| Url::parse("http://localhost/").ok());

/// A URL, or a request target (`/p/q?x=1`) read against a placeholder origin;
/// the flag says which, since a request target has no host of its own.
pub(super) fn parse_url(s: &str) -> Option<(Url, Origin)> {
    match Url::parse(s) {
        Ok(url) => Some((url, Origin::Own)),
        Err(url::ParseError::RelativeUrlWithoutBase) if s.starts_with('/') => {
            Some((ORIGIN.as_ref()?.join(s).ok()?, Origin::Placeholder))
        }
        Err(_) => None,
    }
}

/// Whether a parsed URL's scheme and host are its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Origin {
    /// A whole URL.
    Own,
    /// A request target: scheme and host are made up.
    Placeholder,
}

fn url_path(s: &str) -> Option<String> {
    let (url, _) = parse_url(s)?;
    if url.cannot_be_a_base() {
        // `mailto:a@b` and friends have no path in Athena's sense.
        return None;
    }
    Some(
        percent_encoding::percent_decode_str(url.path())
            .decode_utf8_lossy()
            .into_owned(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extracts_paths_from_urls_and_request_targets() {
        let cases = [
            ("https://example.com/a/b?x=1#f", Some("/a/b")),
            ("http://example.com", Some("/")),
            ("/api/v1/items?id=7", Some("/api/v1/items")),
            ("/caf%C3%A9/menu", Some("/café/menu")),
            ("mailto:a@example.com", None),
            ("not a url", None),
            ("", None),
        ];
        for (input, want) in cases {
            assert_eq!(url_path(input).as_deref(), want, "{input:?}");
        }
    }
}
