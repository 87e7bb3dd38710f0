//! The `syslog` parser: RFC 3164 (BSD syslog, as in `/var/log/syslog` and
//! on the wire) and RFC 5424 lines.
//!
//! Both formats give the same fields, so a source that receives both
//! writes one table: `pri`, `facility`, `severity`, `timestamp`,
//! `hostname`, `appname`, `procid`, `msgid`, `structured_data`, `message`.
//! What a line does not carry is null.

mod rfc3164;
mod rfc5424;
#[cfg(test)]
mod tests;

use levee_event::{Record, Text, Value};
use serde::Deserialize;

use crate::error::{ParseError, ParseErrorReason, excerpt};
use crate::parser::LineParser;
use crate::time::{Now, Zone};
use crate::{Parsed, ParserConfigError};

/// `parser = { type = "syslog", format = "auto" }`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyslogConfig {
    /// `rfc3164` (`<34>Oct 11 22:14:15 mymachine su[123]: 'su root'
    /// failed`, with or without the `<PRI>`, also with an RFC 3339
    /// timestamp as rsyslog writes today), `rfc5424` (`<165>1
    /// 2003-10-11T22:14:15.003Z host app 123 ID47 [id@32473 k="v"] msg`),
    /// or `auto` (the default): RFC 5424 when a version follows the
    /// `<PRI>`, RFC 3164 otherwise.
    #[serde(default)]
    pub format: SyslogFormat,
    /// The zone of timestamps written without an offset, as RFC 3164's
    /// `Oct 11 22:14:15` is: `UTC` (the default), a fixed offset such as
    /// `+09:00`, or an IANA name such as `Europe/Berlin`. Such a timestamp
    /// has no year either: it takes the latest year that does not put it
    /// more than a day after the time the line is read.
    #[serde(default)]
    pub time_zone: Option<String>,
}

/// Which syslog format lines are in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SyslogFormat {
    /// RFC 5424 when the `<PRI>` is followed by a version, else RFC 3164.
    #[default]
    Auto,
    /// BSD syslog.
    Rfc3164,
    /// The syslog protocol of 2009, with structured data.
    Rfc5424,
}

/// A compiled `syslog` parser.
#[derive(Clone, Debug)]
pub(crate) struct SyslogParser {
    format: SyslogFormat,
    zone: Zone,
}

/// Record entries per line.
const ENTRIES: usize = 10;

/// Facility names by number, as syslog.conf and rsyslog write them.
const FACILITIES: [&str; 24] = [
    "kern",
    "user",
    "mail",
    "daemon",
    "auth",
    "syslog",
    "lpr",
    "news",
    "uucp",
    "cron",
    "authpriv",
    "ftp",
    "ntp",
    "security",
    "console",
    "solaris-cron",
    "local0",
    "local1",
    "local2",
    "local3",
    "local4",
    "local5",
    "local6",
    "local7",
];

/// Severity names by number.
const SEVERITIES: [&str; 8] = [
    "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug",
];

impl SyslogParser {
    pub(crate) fn new(config: &SyslogConfig) -> Result<SyslogParser, ParserConfigError> {
        let zone = match config.time_zone.as_deref() {
            Some(name) => Zone::parse(name)?,
            None => Zone::UTC,
        };
        Ok(SyslogParser {
            format: config.format,
            zone,
        })
    }

    pub(crate) fn parse(&self, line: &[u8], now: Now) -> Result<Parsed, ParseError> {
        if line.is_empty() {
            return Err(ParseError::new(0, ParseErrorReason::EmptyLine));
        }
        let pri = priority(line)?;
        let after_pri = pri.map_or(0, |(_, len)| len);
        let header = Header::new(pri.map(|(value, _)| value));
        match self.format {
            SyslogFormat::Rfc5424 if pri.is_none() => Err(ParseError::new(
                0,
                ParseErrorReason::Expected {
                    expected: "'<' and a priority such as <165>".into(),
                },
            )),
            SyslogFormat::Rfc5424 => rfc5424::parse(line, after_pri, header, &self.zone),
            SyslogFormat::Auto
                if pri.is_some()
                    && rfc5424::has_version(line.get(after_pri..).unwrap_or_default()) =>
            {
                rfc5424::parse(line, after_pri, header, &self.zone)
            }
            SyslogFormat::Auto | SyslogFormat::Rfc3164 => {
                rfc3164::parse(line, after_pri, header, &self.zone, now)
            }
        }
    }
}

/// `<PRI>` at the start of a line: its value and length; `None` if the
/// line does not start with `<`.
fn priority(line: &[u8]) -> Result<Option<(u8, usize)>, ParseError> {
    let Some(rest) = line.strip_prefix(b"<") else {
        return Ok(None);
    };
    let len = rest
        .iter()
        .take(4)
        .take_while(|b| b.is_ascii_digit())
        .count();
    let value = rest
        .get(..len)
        .filter(|d| (1..=3).contains(&d.len()))
        .map(|d| d.iter().fold(0u32, |acc, b| acc * 10 + u32::from(b - b'0')));
    match (value, rest.get(len)) {
        (Some(value), Some(b'>')) => match u8::try_from(value) {
            Ok(value) if value <= 191 => Ok(Some((value, len + 2))),
            _ => Err(ParseError::new(
                1,
                ParseErrorReason::Expected {
                    expected: format!(
                        "a priority from 0 to 191, found '{}'",
                        excerpt(rest.get(..len).unwrap_or_default())
                    ),
                },
            )),
        },
        (_, None) if len == rest.len() => Err(ParseError::new(
            line.len(),
            ParseErrorReason::UnexpectedEnd {
                expected: "a priority and '>'".into(),
            },
        )),
        _ => Err(ParseError::new(
            1,
            ParseErrorReason::Expected {
                expected: "a priority of 1 to 3 digits and '>', such as <34>".into(),
            },
        )),
    }
}

/// The fields every syslog record has, filled in as a line is read.
struct Header {
    pri: Option<u8>,
    timestamp: Value,
    time: Option<i64>,
    time_error: bool,
    hostname: Value,
    appname: Value,
    procid: Value,
    msgid: Value,
    structured_data: Value,
}

impl Header {
    fn new(pri: Option<u8>) -> Header {
        Header {
            pri,
            timestamp: Value::Null,
            time: None,
            time_error: false,
            hostname: Value::Null,
            appname: Value::Null,
            procid: Value::Null,
            msgid: Value::Null,
            structured_data: Value::Null,
        }
    }

    /// A timestamp's text and the time it read as, if any.
    fn set_time(&mut self, text: &[u8], time: Option<i64>) {
        self.timestamp = text_value(text);
        self.time = time;
        self.time_error = time.is_none();
    }

    /// The record, in the same key order for both formats.
    fn finish(self, message: &[u8]) -> Parsed {
        let mut record = Record::with_capacity(ENTRIES);
        let pri = self.pri.map(usize::from);
        let name = |names: &[&str], n: Option<usize>| {
            n.and_then(|n| names.get(n))
                .map_or(Value::Null, |s| Value::from(*s))
        };
        record.insert(
            "pri",
            self.pri.map_or(Value::Null, |p| Value::Int(i64::from(p))),
        );
        record.insert("facility", name(&FACILITIES, pri.map(|p| p / 8)));
        record.insert("severity", name(&SEVERITIES, pri.map(|p| p % 8)));
        record.insert("timestamp", self.timestamp);
        record.insert("hostname", self.hostname);
        record.insert("appname", self.appname);
        record.insert("procid", self.procid);
        record.insert("msgid", self.msgid);
        record.insert("structured_data", self.structured_data);
        let message = message.strip_prefix(BOM).unwrap_or(message);
        record.insert("message", text_value(message));
        Parsed {
            record,
            time: self.time,
            time_error: self.time_error,
        }
    }
}

/// RFC 5424 marks a UTF-8 message with a byte order mark; it is not text.
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Bytes as a string value; bytes that are not UTF-8 become U+FFFD.
fn text_value(bytes: &[u8]) -> Value {
    Value::String(Text::from_utf8_lossy(bytes))
}

/// The token at the start of `rest`: the bytes up to the next space.
fn token(rest: &[u8]) -> &[u8] {
    let end = memchr::memchr(b' ', rest).unwrap_or(rest.len());
    &rest[..end]
}

impl LineParser for SyslogParser {
    fn parse(&self, line: &[u8], now: Now) -> Result<Parsed, ParseError> {
        SyslogParser::parse(self, line, now)
    }
}
