//! The nginx access log parser.
//!
//! The operator's `log_format` is compiled once into literal and variable
//! steps ([`format`]); each line is then matched in one pass ([`matcher`]),
//! and each variable's text converted by its name ([`fields`]), with
//! nginx's escapes undone. The pieces apache's parser also uses live in
//! [`crate::access_log`].

mod directive;
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
    /// itself: bare (`$remote_addr [$time_local] "$request" $status`), as
    /// quoted pieces pasted from nginx.conf (`'$remote_addr ' '$status';`),
    /// or the whole directive pasted from nginx.conf, `log_format NAME
    /// [escape=default|json|none] '...' '...';`, whose pieces, in single or
    /// double quotes, are joined as nginx joins them (the `;` is optional).
    ///
    /// Each `$variable` becomes a field named without the `$`. `$status`,
    /// `$body_bytes_sent`, `$bytes_sent` and `$request_length` are integers;
    /// `$request_time` and `$msec` are floats; anything else is a string. A
    /// variable with no value, written `-` (or empty, with escape=json), is
    /// null whatever its type; so is any other empty text except
    /// `$request`'s. `$request` is also split into `method`, `path`,
    /// `query` and `protocol`. `$time_local`, `$time_iso8601` or `$msec`
    /// gives the event time.
    ///
    /// The upstream variables nginx writes as lists when a request tried
    /// several upstreams (`0.012, 0.004`, or `0.012 : 0.004` across an
    /// internal redirect) keep one type: `$upstream_response_time`,
    /// `$upstream_connect_time`, `$upstream_header_time` and
    /// `$upstream_queue_time` are the sum of their times in seconds (the
    /// time spent upstream); `$upstream_bytes_received`,
    /// `$upstream_bytes_sent` and `$upstream_response_length` the sum of
    /// their bytes; `$upstream_status` the last status, the answer that was
    /// used. `-` entries (an upstream that gave no answer) are skipped. A
    /// value that lists more than one upstream is also kept whole, as text,
    /// in a field with `_list` added to its name (`upstream_status_list`).
    #[serde(default = "default_format")]
    pub format: String,
    /// How nginx escaped logged strings, as `log_format`'s `escape=` says:
    /// `default` (`"` and bytes outside printable ASCII as `\xHH`), `json`
    /// (JSON string escapes; a variable with no value is written empty) or
    /// `none` (nothing escaped, so a backslash is itself). Taken from a
    /// pasted directive when this is not set; set both, they must agree.
    /// Default: `default`.
    #[serde(default)]
    pub escape: Option<NginxEscape>,
}

/// The `escape=` parameter of nginx's `log_format`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NginxEscape {
    /// `"`, `\` and bytes outside printable ASCII written as `\xHH`.
    #[default]
    Default,
    /// JSON string escapes; no value is written as nothing.
    Json,
    /// Nothing escaped.
    None,
}

impl NginxEscape {
    /// The mode as `escape=` writes it.
    fn name(self) -> &'static str {
        match self {
            NginxEscape::Default => "default",
            NginxEscape::Json => "json",
            NginxEscape::None => "none",
        }
    }
}

fn default_format() -> String {
    "combined".to_owned()
}

impl Default for NginxConfig {
    fn default() -> NginxConfig {
        NginxConfig {
            format: default_format(),
            escape: None,
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
        let written = match named_format(config.format.trim()) {
            Some(text) => directive::Written {
                format: text.into(),
                escape: None,
            },
            None if config.format.contains('$') || directive::is_pasted(&config.format) => {
                directive::read(&config.format)?
            }
            None => {
                return Err(ParserConfigError::UnknownNginxFormat {
                    format: config.format.clone(),
                    names: FORMAT_NAMES,
                });
            }
        };
        let escape = match (written.escape, config.escape) {
            (Some(directive), Some(key)) if directive != key => {
                return Err(ParserConfigError::EscapeConflict {
                    directive: directive.name(),
                    key: key.name(),
                });
            }
            (directive, key) => directive.or(key).unwrap_or_default(),
        };
        let format = Format::compile(&written.format, escape == NginxEscape::None)?;
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
