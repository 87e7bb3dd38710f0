//! What each nginx variable's text becomes in the record.
//!
//! Variables are strings unless listed here. A lone `-` (nginx's "no
//! value") becomes [`Value::Null`] whatever the type.

use levee_event::{Record, Value};

use super::escape::decode;
use crate::error::{ParseError, ParseErrorReason, excerpt};
use crate::time::{parse_epoch, parse_iso8601, parse_time_local};

/// How a variable's text is turned into values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum FieldKind {
    /// Text, with nginx's escapes decoded.
    Str,
    /// A byte count or status code.
    Int,
    /// Seconds with a fraction. nginx writes one number per upstream tried
    /// (`0.001, 0.002`, or `0.001 : 0.002` across upstream groups): the last
    /// number is kept, since it belongs to the upstream that answered.
    Float,
    /// `$time_local`: kept as text, and the event time.
    TimeLocal,
    /// `$time_iso8601`: kept as text, and the event time.
    TimeIso8601,
    /// `$msec` (`1538400000.123`): kept as a float, and the event time.
    Msec,
    /// `$request`: kept as text, and split into method, path, query, protocol.
    Request,
}

impl FieldKind {
    /// The kind of an nginx variable, by name.
    pub(super) fn of(name: &str) -> FieldKind {
        match name {
            "status" | "body_bytes_sent" | "bytes_sent" | "request_length" => FieldKind::Int,
            "request_time"
            | "upstream_response_time"
            | "upstream_connect_time"
            | "upstream_header_time" => FieldKind::Float,
            "time_local" => FieldKind::TimeLocal,
            "time_iso8601" => FieldKind::TimeIso8601,
            "msec" => FieldKind::Msec,
            "request" => FieldKind::Request,
            _ => FieldKind::Str,
        }
    }

    /// How many record entries a field of this kind adds.
    pub(super) fn entries(self) -> usize {
        if self == FieldKind::Request { 5 } else { 1 }
    }
}

/// Where one field's text lands.
pub(super) struct Sink<'a> {
    pub(super) record: &'a mut Record,
    /// The first event time a time variable yielded.
    pub(super) time: &'a mut Option<i64>,
    /// The format's record names are all distinct (see [`put`]).
    pub(super) distinct: bool,
}

impl Sink<'_> {
    /// Converts `raw` (the field's bytes, found at `position` in the line)
    /// and stores it under `name`.
    ///
    /// A time that does not parse leaves the event time unset and adds
    /// nothing to the record: the text is kept, and the source falls back
    /// to the time of ingest.
    pub(super) fn store(
        &mut self,
        name: &str,
        kind: FieldKind,
        raw: &[u8],
        position: usize,
    ) -> Result<(), ParseError> {
        let value = match kind {
            FieldKind::Request => {
                self.request(name, raw);
                return Ok(());
            }
            _ if raw == b"-" => Value::Null,
            FieldKind::Str => Value::String(decode(raw)),
            FieldKind::Int => Value::Int(
                parse_int(raw).ok_or_else(|| invalid(name, "an integer", raw, position))?,
            ),
            FieldKind::Float => last_number(raw)
                .map_err(|()| invalid(name, "seconds such as 0.005", raw, position))?,
            FieldKind::TimeLocal => self.time_text(raw, parse_time_local),
            FieldKind::TimeIso8601 => self.time_text(raw, parse_iso8601),
            FieldKind::Msec => {
                let seconds = parse_float(raw)
                    .ok_or_else(|| invalid(name, "epoch seconds", raw, position))?;
                if self.time.is_none() {
                    *self.time = parse_epoch(raw);
                }
                Value::Float(seconds)
            }
        };
        put(self.record, self.distinct, name, value);
        Ok(())
    }

    fn time_text(&mut self, raw: &[u8], parse: fn(&[u8]) -> Option<i64>) -> Value {
        if self.time.is_none() {
            *self.time = parse(raw);
        }
        Value::String(decode(raw))
    }

    fn request(&mut self, name: &str, raw: &[u8]) {
        store_request(self.record, self.distinct, name, raw);
    }
}

/// Adds a field to a record being built. When the format's names are known
/// to be distinct (checked once, at compile time), it appends without
/// looking for the name first; a format that repeats a name (`$host` twice,
/// or a `$path` beside `$request`) keeps the last value in the first place.
fn put(record: &mut Record, distinct: bool, name: &str, value: Value) {
    if distinct {
        record.insert_new(name, value);
    } else {
        record.insert(name, value);
    }
}

fn invalid(name: &str, expected: &'static str, raw: &[u8], position: usize) -> ParseError {
    ParseError::new(
        position,
        ParseErrorReason::InvalidField {
            field: name.to_owned(),
            expected,
            found: excerpt(raw),
        },
    )
}

/// An unsigned decimal integer, as nginx writes counts and statuses.
pub(crate) fn parse_int(raw: &[u8]) -> Option<i64> {
    if raw.is_empty() {
        return None;
    }
    raw.iter().try_fold(0i64, |acc, &b| {
        if !b.is_ascii_digit() {
            return None;
        }
        acc.checked_mul(10)?.checked_add(i64::from(b - b'0'))
    })
}

fn parse_float(raw: &[u8]) -> Option<f64> {
    // Only digits and a dot: refuses `inf`, `nan` and exponents nginx never writes.
    if raw.is_empty() || !raw.iter().all(|b| b.is_ascii_digit() || *b == b'.') {
        return None;
    }
    std::str::from_utf8(raw).ok()?.parse().ok()
}

/// The last number of a list such as `0.001, 0.002 : -`; `-` entries (an
/// upstream that gave no answer) are skipped, and a list of only `-` is null.
fn last_number(raw: &[u8]) -> Result<Value, ()> {
    let mut last = Value::Null;
    for item in raw.split(|&b| b == b',' || b == b':') {
        let item = item.trim_ascii();
        if item != b"-" {
            last = Value::Float(parse_float(item).ok_or(())?);
        }
    }
    Ok(last)
}

/// The parts of a request line `METHOD TARGET PROTOCOL`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct RequestParts<'a> {
    pub(crate) method: &'a str,
    pub(crate) path: &'a str,
    pub(crate) query: Option<&'a str>,
    pub(crate) protocol: &'a str,
}

/// Splits `GET /a?b=1 HTTP/1.1`; `None` for anything else (an empty
/// request, TLS bytes sent to a plain HTTP port, a bare `GET /`).
///
/// The target is everything between the first and the last space, since
/// nginx logs a malformed target with spaces as it came.
pub(crate) fn split_request(request: &str) -> Option<RequestParts<'_>> {
    let (method, rest) = request.split_once(' ')?;
    let (target, protocol) = rest.rsplit_once(' ')?;
    let is_token = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
    };
    if !is_token(method) || target.is_empty() || !protocol.starts_with("HTTP/") {
        return None;
    }
    let (path, query) = match target.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (target, None),
    };
    Some(RequestParts {
        method,
        path,
        query,
        protocol,
    })
}

/// The fields a request line is split into, after the line itself.
pub(crate) const REQUEST_PARTS: [&str; 4] = ["method", "path", "query", "protocol"];

/// Stores a request line (`$request`, apache's `%r`) and its parts; all
/// parts are null when it has another shape (a TLS handshake, `""`), so every
/// line of one format has the same keys. `distinct` is as for [`put`].
pub(crate) fn store_request(record: &mut Record, distinct: bool, name: &str, raw: &[u8]) {
    let text = (raw != b"-").then(|| decode(raw));
    let string = |s: &str| Value::from(s);
    let parts = match text.as_deref().and_then(split_request) {
        Some(p) => [
            string(p.method),
            string(p.path),
            p.query.map_or(Value::Null, string),
            string(p.protocol),
        ],
        None => [Value::Null, Value::Null, Value::Null, Value::Null],
    };
    put(
        record,
        distinct,
        name,
        text.map_or(Value::Null, Value::from),
    );
    for (key, value) in REQUEST_PARTS.into_iter().zip(parts) {
        put(record, distinct, key, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_by_name() {
        assert_eq!(FieldKind::of("status"), FieldKind::Int);
        assert_eq!(FieldKind::of("upstream_header_time"), FieldKind::Float);
        assert_eq!(FieldKind::of("http_user_agent"), FieldKind::Str);
        assert_eq!(FieldKind::of("request"), FieldKind::Request);
    }

    #[test]
    fn ints_are_plain_decimal() {
        assert_eq!(parse_int(b"200"), Some(200));
        assert_eq!(parse_int(b"0"), Some(0));
        assert_eq!(parse_int(b""), None);
        assert_eq!(parse_int(b"-1"), None);
        assert_eq!(parse_int(b"2OO"), None);
        assert_eq!(parse_int(b"99999999999999999999"), None);
    }

    #[test]
    fn upstream_lists_keep_the_last_number() {
        assert_eq!(last_number(b"0.005"), Ok(Value::Float(0.005)));
        assert_eq!(last_number(b"0.001, 0.002"), Ok(Value::Float(0.002)));
        assert_eq!(
            last_number(b"0.001, 0.002 : 0.010"),
            Ok(Value::Float(0.010))
        );
        assert_eq!(last_number(b"0.003, -"), Ok(Value::Float(0.003)));
        assert_eq!(last_number(b"-, -"), Ok(Value::Null));
        assert_eq!(last_number(b"0.1, x"), Err(()));
        assert_eq!(last_number(b""), Err(()));
        assert_eq!(last_number(b"inf"), Err(()));
    }

    #[test]
    fn request_lines_split_into_parts() {
        assert_eq!(
            split_request("GET /api/v1/webhooks?limit=10 HTTP/1.1"),
            Some(RequestParts {
                method: "GET",
                path: "/api/v1/webhooks",
                query: Some("limit=10"),
                protocol: "HTTP/1.1",
            })
        );
        let odd = split_request("POST /a b?x?y HTTP/2.0").unwrap();
        assert_eq!((odd.path, odd.query), ("/a b", Some("x?y")));
        assert_eq!(
            split_request("GET /empty? HTTP/1.0").unwrap().query,
            Some("")
        );
        assert_eq!(split_request("GET / HTTP/1.1").unwrap().query, None);
    }

    #[test]
    fn other_request_shapes_have_no_parts() {
        for odd in [
            "",
            "GET /",
            "\u{16}\u{3}\u{1}\u{0}\u{FFFD}",
            "GET  HTTP/1.1",
            "G(T / HTTP/1.1",
            "GET / FTP",
        ] {
            assert_eq!(split_request(odd), None, "{odd:?}");
        }
    }
}
