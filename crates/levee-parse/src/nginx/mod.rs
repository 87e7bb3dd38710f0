//! The nginx access log parser.
//!
//! The operator's `log_format` is compiled once into literal and variable
//! steps ([`format`]); each line is then matched in one pass ([`matcher`]),
//! and each variable's text converted by its name ([`fields`]), with
//! nginx's escapes undone. The pieces apache's parser also uses live in
//! [`crate::access_log`].

mod fields;
mod format;
mod matcher;
#[cfg(test)]
mod tests;

use serde::Deserialize;

use crate::parser::LineParser;
use crate::time::Now;
use crate::{ParseError, Parsed, ParserConfigError};
use format::Format;

/// `parser = { type = "nginx", format = "combined" }`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NginxConfig {
    /// The `log_format` the access log was written with: `combined` (the
    /// default), `common`, `main`, `combined_request_time`, or the format
    /// string itself, bare or pasted from nginx.conf with its single quotes:
    /// `'$remote_addr [$time_local] "$request" $status $request_time'`.
    ///
    /// Each `$variable` becomes a field named without the `$`. `$status`,
    /// `$body_bytes_sent`, `$bytes_sent` and `$request_length` are integers;
    /// `$request_time` and the `$upstream_*_time` variables are floats (the
    /// last number when nginx lists several upstreams); `$msec` is a float;
    /// anything else is a string; a lone `-` is null. `$request` is also
    /// split into `method`, `path`, `query` and `protocol`. `$time_local`,
    /// `$time_iso8601` or `$msec` gives the event time.
    #[serde(default = "default_format")]
    pub format: String,
}

fn default_format() -> String {
    "combined".to_owned()
}

impl Default for NginxConfig {
    fn default() -> NginxConfig {
        NginxConfig {
            format: default_format(),
        }
    }
}

/// The names `format` accepts besides a `log_format` string.
const FORMAT_NAMES: &[&str] = &["combined", "common", "main", "combined_request_time"];

/// Apache's common log format, as nginx writes it.
const COMMON: &str =
    r#"$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent"#;
/// nginx's predefined `combined`.
const COMBINED: &str = r#"$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent""#;
/// The `main` format of nginx's default nginx.conf.
const MAIN: &str = r#"$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" "$http_x_forwarded_for""#;
const COMBINED_REQUEST_TIME: &str = r#"$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" $request_time"#;

/// The `log_format` string for a named format.
fn named_format(name: &str) -> Option<&'static str> {
    Some(match name {
        "combined" => COMBINED,
        "common" => COMMON,
        "main" => MAIN,
        "combined_request_time" => COMBINED_REQUEST_TIME,
        _ => return None,
    })
}

/// A compiled nginx parser.
#[derive(Clone, Debug)]
pub(crate) struct NginxParser {
    format: Format,
    /// Record entries per line, so the record is allocated once at its size.
    entries: usize,
}

impl NginxParser {
    pub(crate) fn new(config: &NginxConfig) -> Result<NginxParser, ParserConfigError> {
        let text = match named_format(config.format.trim()) {
            Some(text) => text,
            None if config.format.contains('$') => &config.format,
            None => {
                return Err(ParserConfigError::UnknownNginxFormat {
                    format: config.format.clone(),
                    names: FORMAT_NAMES,
                });
            }
        };
        let format = Format::compile(text)?;
        let entries = format.fields.iter().map(|f| f.kind.entries()).sum();
        Ok(NginxParser { format, entries })
    }

    pub(crate) fn parse(&self, line: &[u8]) -> Result<Parsed, ParseError> {
        self.format.parse(line, self.entries)
    }
}

impl LineParser for NginxParser {
    fn parse(&self, line: &[u8], _now: Now) -> Result<Parsed, ParseError> {
        NginxParser::parse(self, line)
    }
}
