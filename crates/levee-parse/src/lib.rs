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
//! `nginx` (an access log written with any `log_format`) and `syslog`
//! (RFC 3164 and 5424). [`Multiline`] joins continuation lines into one
//! record before parsing. Timestamps in
//! lines are read by the hand-written parsers in [`time`].

mod config;
mod error;
mod json;
mod multiline;
mod nginx;
mod none;
mod parser;
mod syslog;
pub mod time;

pub use config::ParserConfig;
pub use error::{ParseError, ParseErrorReason, ParserConfigError};
pub use json::JsonConfig;
pub use nginx::NginxConfig;
pub use multiline::{Joined, Joiner, Multiline};
pub use none::NoneConfig;
pub use parser::{Parsed, Parser};
pub use syslog::{SyslogConfig, SyslogFormat};
