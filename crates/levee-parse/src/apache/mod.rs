//! The apache access log parser.
//!
//! The operator's `LogFormat` is compiled once into literal and directive
//! steps ([`format`]), each directive knowing its field's name and type
//! ([`directive`]); a line is then matched in one pass, with nginx's
//! matcher helpers, and each field converted ([`fields`]). Apache escapes
//! logged strings as nginx does, so nginx's decoder undoes them.

mod directive;
mod fields;
mod format;
#[cfg(test)]
mod tests;

use levee_event::Record;
use serde::Deserialize;

use crate::error::{ParseError, ParseErrorReason};
use crate::nginx::matcher::{find_end, match_leading};
use crate::{Parsed, ParserConfigError};
use format::Format;

/// `parser = { type = "apache", format = "combined" }`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApacheConfig {
    /// The `LogFormat` the access log was written with: `combined` (the
    /// default), `common`, `vhost_combined`, `combinedio`, `referer`,
    /// `agent`, or the format string itself as it stands in httpd.conf
    /// (`\"` for a quote): `'%h %l %u %t \"%r\" %>s %b \"%{Referer}i\"'`.
    ///
    /// Directives and the fields they make: `%h` remote_host, `%{c}h`
    /// peer_host, `%a` remote_addr, `%{c}a` peer_addr, `%A` local_addr,
    /// `%l` remote_logname, `%u` remote_user, `%t` time (the event time;
    /// `%{sec}t`, `%{msec}t`, `%{usec}t` give an integer), `%r` request
    /// (also split into method, path, query and protocol), `%m`
    /// request_method, `%U` url_path, `%q` query_string (without its `?`),
    /// `%H` request_protocol, `%s` and `%>s` status, `%b` and `%B`
    /// bytes_sent, `%I` bytes_in, `%O` bytes_out, `%S` bytes_total, `%D`
    /// request_time_us, `%T` request_time_s (`%{ms}T` request_time_ms,
    /// `%{us}T` request_time_us), `%v` vhost, `%V` server_name, `%p`
    /// server_port (`%{local}p` local_port, `%{remote}p` remote_port), `%P`
    /// pid (`%{tid}P` tid), `%k` keepalive_requests, `%L` log_id, `%X`
    /// connection_status, `%f` filename, `%R` handler, `%{Name}i`
    /// header_name (lowercase, `-` as `_`: `%{User-agent}i` is
    /// header_user_agent), `%{Name}o` response_header_name, `%{Name}e`
    /// env_name, `%{Name}C` cookie_name, `%{Name}n` note_name; `%%` is a
    /// literal `%`. Status conditions (`%400,501{User-agent}i`) and the
    /// `<`/`>` modifiers are accepted.
    ///
    /// Statuses, byte counts, times taken, ports, pids and `%k` are
    /// integers; anything else is a string; a lone `-` is null (except for
    /// `%X`, where `-` means "connection closed").
    #[serde(default = "default_format")]
    pub format: String,
}

fn default_format() -> String {
    "combined".to_owned()
}

impl Default for ApacheConfig {
    fn default() -> ApacheConfig {
        ApacheConfig {
            format: default_format(),
        }
    }
}

/// The names `format` accepts besides a `LogFormat` string.
pub(crate) const FORMAT_NAMES: [&str; 6] = [
    "combined",
    "common",
    "vhost_combined",
    "combinedio",
    "referer",
    "agent",
];

/// The `LogFormat` string for a named format, as httpd's default config
/// defines it.
fn named_format(name: &str) -> Option<&'static str> {
    Some(match name {
        "common" => r#"%h %l %u %t \"%r\" %>s %b"#,
        "combined" => r#"%h %l %u %t \"%r\" %>s %b \"%{Referer}i\" \"%{User-agent}i\""#,
        "vhost_combined" => r#"%v:%p %h %l %u %t \"%r\" %>s %O \"%{Referer}i\" \"%{User-Agent}i\""#,
        "combinedio" => r#"%h %l %u %t \"%r\" %>s %b \"%{Referer}i\" \"%{User-agent}i\" %I %O"#,
        "referer" => "%{Referer}i -> %U",
        "agent" => "%{User-agent}i",
        _ => return None,
    })
}

/// A compiled apache parser.
#[derive(Clone, Debug)]
pub(crate) struct ApacheParser {
    format: Format,
}

impl ApacheParser {
    pub(crate) fn new(config: &ApacheConfig) -> Result<ApacheParser, ParserConfigError> {
        let text = match named_format(config.format.trim()) {
            Some(text) => text,
            None if config.format.contains('%') => &config.format,
            None => {
                return Err(ParserConfigError::UnknownApacheFormat(
                    config.format.clone(),
                ));
            }
        };
        Ok(ApacheParser {
            format: Format::compile(text)?,
        })
    }

    /// Matches `line` in one pass: each field's text runs to the first
    /// occurrence of the literal after it.
    pub(crate) fn parse(&self, line: &[u8]) -> Result<Parsed, ParseError> {
        if line.is_empty() {
            return Err(ParseError::new(0, ParseErrorReason::EmptyLine));
        }
        let format = &self.format;
        let mut pos = match_leading(line, &format.leading)?;
        let mut out = fields::Out {
            record: Record::with_capacity(format.entries),
            time: None,
            time_error: false,
        };
        for field in &format.fields {
            let rest = line.get(pos..).unwrap_or_default();
            let (raw, next) = match &field.end {
                Some(end) => {
                    let at = find_end(rest, &end.bytes).ok_or_else(|| {
                        ParseError::new(
                            line.len(),
                            ParseErrorReason::UnexpectedEnd {
                                expected: end.expected.clone(),
                            },
                        )
                    })?;
                    (rest.get(..at).unwrap_or(rest), pos + at + end.bytes.len())
                }
                None => (rest, line.len()),
            };
            out.store(&field.directive, raw, pos)?;
            pos = next;
        }
        if pos < line.len() {
            return Err(ParseError::new(pos, ParseErrorReason::TrailingBytes));
        }
        Ok(Parsed {
            record: out.record,
            time: out.time,
            time_error: out.time_error,
        })
    }
}
