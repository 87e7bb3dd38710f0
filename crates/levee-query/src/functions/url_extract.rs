//! `url_extract_path(url)` and `url_extract_host(url)`: a part of a URL, as
//! Athena's.
//!
//! Log lines mostly hold request targets (`/p/q?x=1`) rather than whole URLs,
//! so a reference that starts with `/` is read against a placeholder origin:
//! it has a path (percent-decoded) but no host. Anything else that is not a
//! URL gives NULL, as does a URL without a host (`mailto:a@b`, `file:///x`)
//! for `url_extract_host`. The `url` crate resolves `.` and `..` segments,
//! which Athena leaves in place, writes hosts in lower case, and
//! international names in punycode, where Athena keeps the host as written.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{ArrayRef, StringArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, exec_err};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};
use url::Url;

use super::strings;

/// Which part of the URL a function extracts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Part {
    Host,
    Path,
}

/// `url_extract_host` or `url_extract_path`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct UrlExtract {
    signature: Signature,
    part: Part,
}

impl UrlExtract {
    /// `url_extract_host(url)`.
    pub fn host() -> Self {
        UrlExtract::new(Part::Host)
    }

    /// `url_extract_path(url)`.
    pub fn path() -> Self {
        UrlExtract::new(Part::Path)
    }

    fn new(part: Part) -> Self {
        UrlExtract {
            signature: Signature::string(1, Volatility::Immutable),
            part,
        }
    }
}

impl ScalarUDFImpl for UrlExtract {
    fn name(&self) -> &str {
        match self.part {
            Part::Host => "url_extract_host",
            Part::Path => "url_extract_path",
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [value] = args.args.as_slice() else {
            return exec_err!("{} takes one string", self.name());
        };
        let values = value.to_array(args.number_rows)?;
        let extract = match self.part {
            Part::Host => url_host,
            Part::Path => url_path,
        };
        let parts: StringArray = strings(&values)?.map(|v| v.and_then(extract)).collect();
        Ok(ColumnarValue::Array(Arc::new(parts) as ArrayRef))
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
