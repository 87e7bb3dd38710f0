//! What each directive's text becomes in the record.

use levee_event::{Record, Text, Value};

use super::directive::{Directive, Kind};
use crate::error::{ParseError, ParseErrorReason, excerpt};
use crate::nginx::escape::decode;
use crate::nginx::fields::{parse_int, store_request};
use crate::time::{Now, TimeSpec, parse_time_local};

/// A line's record and event time, as its fields are stored.
pub(super) struct Out {
    pub(super) record: Record,
    /// The first event time a time directive yielded.
    pub(super) time: Option<i64>,
    /// A time directive's text did not read as a time.
    pub(super) time_error: bool,
}

impl Out {
    /// Converts `raw` (the directive's bytes, found at `position` in the
    /// line) and stores it; `strftime` is a `%{FORMAT}t` time's format,
    /// `now` places a time written without its year. A time that does not
    /// parse leaves the event time unset (the source then uses the time of
    /// ingest), keeps the text, and sets `time_error`.
    pub(super) fn store(
        &mut self,
        directive: &Directive,
        strftime: Option<&TimeSpec>,
        raw: &[u8],
        position: usize,
        now: Now,
    ) -> Result<(), ParseError> {
        let name = &directive.name;
        let value = match directive.kind {
            Kind::Request => {
                self.request(name, raw);
                return Ok(());
            }
            Kind::UrlQuery => {
                self.url_query(name, raw);
                return Ok(());
            }
            Kind::Verbatim => Value::String(decode(raw)),
            _ if raw == b"-" => Value::Null,
            Kind::Text => Value::String(decode(raw)),
            Kind::Query => query(raw),
            Kind::Int | Kind::TimeFraction => Value::Int(int(directive, raw, position)?),
            Kind::Time => {
                self.set_time(parse_time_local(raw));
                Value::String(decode(raw))
            }
            Kind::Strftime => {
                self.set_time(strftime.and_then(|spec| spec.parse_with(raw, now)));
                Value::String(decode(raw))
            }
            Kind::Epoch { nanos } => {
                let number = int(directive, raw, position)?;
                self.set_time(number.checked_mul(nanos));
                Value::Int(number)
            }
        };
        self.record.insert(name.clone(), value);
        Ok(())
    }

    /// The first time directive gives the event time.
    fn set_time(&mut self, time: Option<i64>) {
        if self.time.is_none() && !self.time_error {
            self.time = time;
            self.time_error = time.is_none();
        }
    }

    fn request(&mut self, name: &Text, raw: &[u8]) {
        store_request(&mut self.record, false, name, raw);
    }

    /// `%U%q`: the path up to the first `?`, and the query after it.
    fn url_query(&mut self, name: &str, raw: &[u8]) {
        let (path, query_value) = match memchr::memchr(b'?', raw) {
            Some(at) => {
                let (path, q) = raw.split_at(at);
                (path, query(q))
            }
            None => (raw, Value::Null),
        };
        let path = match path {
            b"-" | b"" => Value::Null,
            path => Value::String(decode(path)),
        };
        self.record.insert(name, path);
        self.record.insert("query_string", query_value);
    }
}

/// `%q` logs `?a=1`, or nothing when there is no query.
fn query(raw: &[u8]) -> Value {
    match raw.strip_prefix(b"?").unwrap_or(raw) {
        b"" => Value::Null,
        text => Value::String(decode(text)),
    }
}

fn int(directive: &Directive, raw: &[u8], position: usize) -> Result<i64, ParseError> {
    parse_int(raw).ok_or_else(|| {
        ParseError::new(
            position,
            ParseErrorReason::InvalidValue {
                field: directive.name.to_string(),
                expected: "an integer",
                found: excerpt(raw),
            },
        )
    })
}
