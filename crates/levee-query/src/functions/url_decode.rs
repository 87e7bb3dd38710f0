//! `url_decode(value)` and `url_encode(value)`: a query-string value's
//! escapes undone and made, as Trino's (and Java's `URLDecoder` and
//! `URLEncoder`) do.
//!
//! Decoding turns `+` into a space and `%XX` into its byte; bytes that are
//! not UTF-8 become U+FFFD; a `%` not followed by two hex digits is an
//! error. Encoding keeps letters, digits and `.-*_`, writes a space as `+`
//! and every other byte of the UTF-8 as `%XX`, upper case. NULL stays NULL.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, StringArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, exec_err};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

use super::strings;

/// Which way.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Direction {
    Decode,
    Encode,
}

/// The `url_decode` and `url_encode` functions.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct UrlCodec {
    signature: Signature,
    direction: Direction,
}

impl UrlCodec {
    /// `url_decode`.
    pub fn decode() -> UrlCodec {
        UrlCodec {
            signature: Signature::string(1, Volatility::Immutable),
            direction: Direction::Decode,
        }
    }

    /// `url_encode`.
    pub fn encode() -> UrlCodec {
        UrlCodec {
            direction: Direction::Encode,
            ..UrlCodec::decode()
        }
    }
}

impl ScalarUDFImpl for UrlCodec {
    fn name(&self) -> &str {
        match self.direction {
            Direction::Decode => "url_decode",
            Direction::Encode => "url_encode",
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
        let mut out = Vec::with_capacity(values.len());
        for v in strings(&values)? {
            out.push(match (v, self.direction) {
                (None, _) => None,
                (Some(v), Direction::Decode) => Some(decode(v)?),
                (Some(v), Direction::Encode) => Some(encode(v)),
            });
        }
        let out: StringArray = out.into_iter().collect();
        Ok(ColumnarValue::Array(Arc::new(out) as ArrayRef))
    }
}

fn decode(s: &str) -> Result<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok());
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(byte) if hex.is_some_and(|h| h.bytes().all(|c| c.is_ascii_hexdigit())) => {
                        out.push(byte);
                        i += 2;
                    }
                    _ => {
                        return exec_err!(
                            "url_decode: `%` at byte {i} of {s:?} is not followed by two hex digits"
                        );
                    }
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'.' | b'-' | b'*' | b'_' => {
                out.push(char::from(b))
            }
            b' ' => out.push('+'),
            b => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_as_java_does() {
        assert_eq!(decode("a+b%20c%2Fd").unwrap(), "a b c/d");
        assert_eq!(decode("caf%C3%A9").unwrap(), "café");
        assert_eq!(decode("%ff").unwrap(), "\u{fffd}");
        assert_eq!(decode("").unwrap(), "");
        for bad in ["%", "%2", "%zz", "a%+1", "%é"] {
            let err = decode(bad).unwrap_err().to_string();
            assert!(err.contains("two hex digits"), "{bad:?}: {err}");
        }
    }

    #[test]
    fn encodes_as_java_does() {
        assert_eq!(encode("a b/c?d=é.-*_~"), "a+b%2Fc%3Fd%3D%C3%A9.-*_%7E");
        assert_eq!(decode(&encode("x y&z=1%")).unwrap(), "x y&z=1%");
    }
}
