//! What each directive's text becomes in the record.

use levee_event::{Record, Text, Value};

use super::directive::{Directive, Kind};
use crate::access_log::escape::decode;
use crate::access_log::fields::{parse_int, store_request};
use crate::error::{ParseError, ParseErrorReason, excerpt};
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
        // Each arm stores its own value (see the nginx parser's `Sink::store`
        // for why), and appends: a format's keys are checked to be distinct
        // when it is compiled.
        match directive.kind {
            Kind::Request => store_request(&mut self.record, true, name, raw, None),
            Kind::UrlQuery => self.url_query(name, raw),
            Kind::Verbatim => self.put(name, Value::String(decode(raw))),
            _ if raw == b"-" => self.put(name, Value::Null),
            Kind::Text => self.put(name, Value::String(decode(raw))),
            Kind::Query => self.put(name, query(raw)),
            Kind::Int | Kind::TimeFraction => {
                let number = int(directive, raw, position)?;
                self.put(name, Value::Int(number));
            }
            Kind::Time => {
                self.set_time(parse_time_local(raw));
                self.put(name, Value::String(decode(raw)));
            }
            Kind::Strftime => {
                self.set_time(strftime.and_then(|spec| spec.parse_with(raw, now)));
                self.put(name, Value::String(decode(raw)));
            }
            Kind::Epoch { nanos } => {
                let number = int(directive, raw, position)?;
                self.set_time(number.checked_mul(nanos));
                self.put(name, Value::Int(number));
            }
        }
        Ok(())
    }

    #[inline(always)]
    fn put(&mut self, name: &Text, value: Value) {
        self.record.insert_new(name.clone(), value);
    }

    /// The first time directive gives the event time.
    fn set_time(&mut self, time: Option<i64>) {
        if self.time.is_none() && !self.time_error {
            self.time = time;
            self.time_error = time.is_none();
        }
    }

    /// `%U%q`: the path up to the first `?`, and the query after it.
    fn url_query(&mut self, name: &Text, raw: &[u8]) {
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
        self.put(name, path);
        self.put(&QUERY_STRING, query_value);
    }
}

/// The key `%U%q` gives its query, beside the path.
static QUERY_STRING: Text = Text::const_new("query_string");

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
