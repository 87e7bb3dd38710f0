//! Log parsers: bytes of one line in, a record and an event time out.
//!
//! Sources (`tail`, `stdin`, ...) build a [`Parser`] once from the user's
//! [`ParserConfig`] and call [`Parser::parse`] on every line: this is the
//! hot path, so parsers are pure functions over bytes, with no I/O, that
//! allocate little beyond the record they return. A line that does not
//! parse yields a [`ParseError`] with the byte position where matching
//! failed; the source routes it, raw bytes and all, to `@ERROR`.
//!
//! Parsers: `none` (the line as one field), `json` (one object per line),
//! `nginx` and `apache` (access logs written with any `log_format` or
//! `LogFormat`), `syslog` (RFC 3164 and 5424), `regex` (named groups),
//! `logfmt`, `ltsv` and `csv`; `json` and the last four share the `types`
//! option ([`FieldType`]). [`Multiline`] joins continuation lines into one
//! record before parsing. Timestamps in
//! lines are read by the hand-written parsers in [`time`].

#![warn(missing_docs)]

mod access_log;
mod apache;
mod config;
mod csv;
mod error;
mod json;
mod logfmt;
mod ltsv;
mod multiline;
mod nginx;
mod none;
mod parser;
mod regex;
mod syslog;
pub mod time;
mod time_key;
mod types;

pub use apache::ApacheConfig;
pub use config::ParserConfig;
pub use csv::CsvConfig;
pub use error::{ParseError, ParseErrorReason, ParserConfigError};
pub use json::JsonConfig;
pub use logfmt::LogfmtConfig;
pub use ltsv::LtsvConfig;
pub use multiline::{Joined, Joiner, Multiline};
pub use nginx::{NginxConfig, NginxEscape};
pub use none::NoneConfig;
pub use parser::{Parsed, Parser};
pub use regex::RegexConfig;
pub use syslog::{SyslogConfig, SyslogFormat};
pub use types::{FieldType, Types};
