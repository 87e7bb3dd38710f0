//! The apache access log parser.
//!
//! The operator's `LogFormat` is compiled once into literal and directive
//! steps ([`format`]), each directive knowing its field's name and type
//! ([`directive`]); a line is then matched in one pass, with the access log
//! toolkit's matcher ([`crate::access_log`]), and each field converted
//! ([`fields`]). Apache escapes logged strings as nginx does, so the same
//! decoder undoes them. A
//! `%{FORMAT}t` time is read with levee's strftime ([`crate::time`]).

mod directive;
mod fields;
mod format;
#[cfg(test)]
mod tests;

use levee_event::Record;
use serde::Deserialize;

use crate::access_log::matcher::{Literal, find_end, match_leading};
use crate::error::{ParseError, ParseErrorReason};
use crate::parser::LineParser;
use crate::time::{Now, TimeSpec, Zone};
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
    /// see below for `%{...}t`), `%r` request
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
    /// Times, all in the field time and all the event time: `%t`
    /// (`[10/Oct/2000:13:55:36 -0700]`, with its brackets); `%{sec}t`,
    /// `%{msec}t`, `%{usec}t`, epoch integers; `%{FORMAT}t`, text written
    /// with a strftime format, such as `[%{%d/%b/%Y:%H:%M:%S %z}t]` (the
    /// brackets are the format's here), read with levee's strftime (see
    /// [`TimeSpec`] for the conversions it reads; others, such as the
    /// locale's `%c`, are refused) in `time_zone` when the format has no
    /// `%z`. Each may start with `begin:` (the default) or `end:`;
    /// `%{begin}t` and `%{end}t` are `%t`. `%{msec_frac}t` and
    /// `%{usec_frac}t` right after a `%{FORMAT}t` are part of its time, as
    /// in Apache's `%{%d/%b/%Y %T}t.%{msec_frac}t %{%z}t`; elsewhere they
    /// are the integers time_msec_frac and time_usec_frac. A time that
    /// does not read leaves its text in the record, and the source uses the
    /// time of ingest.
    ///
    /// Statuses, byte counts, times taken, ports, pids and `%k` are
    /// integers; anything else is a string; a lone `-` is null (except for
    /// `%X`, where `-` means "connection closed").
    #[serde(default = "default_format")]
    pub format: String,
    /// The zone of `%{FORMAT}t` times whose format has no `%z`: the
    /// server's local time zone, since that is what Apache writes. `UTC`
    /// (the default), a fixed offset such as `+09:00`, or an IANA name
    /// such as `Europe/Berlin`. Refused for a format without such a time.
    #[serde(default)]
    pub time_zone: Option<String>,
}

fn default_format() -> String {
    "combined".to_owned()
}

impl Default for ApacheConfig {
    fn default() -> ApacheConfig {
        ApacheConfig {
            format: default_format(),
            time_zone: None,
        }
    }
}

/// The names `format` accepts besides a `LogFormat` string.
const FORMAT_NAMES: &[&str] = &[
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
                return Err(ParserConfigError::UnknownApacheFormat {
                    format: config.format.clone(),
                    names: FORMAT_NAMES,
                });
            }
        };
        let zone = match config.time_zone.as_deref() {
            Some(name) => Zone::parse(name)?,
            None => Zone::UTC,
        };
        let format = Format::compile(text, &zone)?;
        if config.time_zone.is_some() && format.fields.iter().all(|f| f.time.is_none()) {
            return Err(ParserConfigError::TimeZoneWithoutStrftime);
        }
        Ok(ApacheParser { format })
    }

    /// Matches `line` in one pass: each field's text runs to the first
    /// occurrence of the literal after it, except a `%{FORMAT}t` time's,
    /// which its format measures. `now` places a time without its year.
    pub(crate) fn parse(&self, line: &[u8], now: Now) -> Result<Parsed, ParseError> {
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
            let time_len = field
                .time
                .as_ref()
                .and_then(|spec| time_len(spec, rest, field.end.as_ref()));
            let (raw, next) = match (time_len, &field.end) {
                (Some(len), end) => (
                    rest.get(..len).unwrap_or(rest),
                    pos + len + end.as_ref().map_or(0, |end| end.bytes.len()),
                ),
                (None, Some(end)) => {
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
                (None, None) => (rest, line.len()),
            };
            out.store(&field.directive, field.time.as_ref(), raw, pos, now)?;
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

impl LineParser for ApacheParser {
    fn parse(&self, line: &[u8], now: Now) -> Result<Parsed, ParseError> {
        ApacheParser::parse(self, line, now)
    }
}

/// The length of a `%{FORMAT}t` time at the start of `rest`, measured by its
/// format, since its text may hold the literal that ends it (the space in
/// `%Y-%m-%d %H:%M:%S`). `None` when the text does not match the format or
/// is not followed by that literal: then the field runs to the literal, as
/// any other does, and its time does not read.
fn time_len(spec: &TimeSpec, rest: &[u8], end: Option<&Literal>) -> Option<usize> {
    let len = spec.match_len(rest)?;
    let after = rest.get(len..)?;
    let ended = match end {
        Some(end) => after.starts_with(&end.bytes),
        None => after.is_empty(),
    };
    ended.then_some(len)
}
