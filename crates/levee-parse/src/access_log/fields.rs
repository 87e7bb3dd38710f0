//! Fields that access logs write the same way: counts, and the request
//! line with its parts.

use levee_event::{Record, Text, Value};

use super::escape::decode;

/// Adds a field to a record being built. When the format's names are known
/// to be distinct (checked once, at compile time), it appends without
/// looking for the name first; a format that repeats a name (`$host` twice,
/// or a `$path` beside `$request`) keeps the last value in the first place.
///
/// Inlined into each caller, so that a value is written straight into the
/// record rather than passed through the stack.
#[inline(always)]
pub(crate) fn put(record: &mut Record, distinct: bool, name: &Text, value: Value) {
    if distinct {
        record.insert_new(name.clone(), value);
    } else {
        record.insert(name.clone(), value);
    }
}

/// An unsigned decimal integer, as access logs write counts and statuses.
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
pub(crate) static REQUEST_PARTS: [Text; 4] = [
    Text::const_new("method"),
    Text::const_new("path"),
    Text::const_new("query"),
    Text::const_new("protocol"),
];

/// Stores a request line (`$request`, apache's `%r`) and its parts; all
/// parts are null when it has another shape (a TLS handshake, `""`), so every
/// line of one format has the same keys. `distinct` is as for [`put`].
/// `text` is `raw` when the caller already knows it is UTF-8 without a
/// backslash.
pub(crate) fn store_request(
    record: &mut Record,
    distinct: bool,
    name: &Text,
    raw: &[u8],
    text: Option<&str>,
) {
    if raw == b"-" {
        put(record, distinct, name, Value::Null);
        return store_no_parts(record, distinct);
    }
    // Most request lines have no escapes: their parts are then cut from
    // the line itself, and each is made where it is stored. Parts made
    // before the request is moved into the record are stack copies, read
    // back wider than they were written: a stall per part.
    let plain = match text {
        Some(text) => Some(text),
        None if memchr::memchr(b'\\', raw).is_none() => std::str::from_utf8(raw).ok(),
        None => None,
    };
    if let Some(request) = plain {
        put(record, distinct, name, Value::from(request));
        return store_parts(record, distinct, split_request(request));
    }
    // An escaped or non-UTF-8 line is rare: its decoded text is stored as
    // a copy, so the parts can be cut from the original.
    let text = decode(raw);
    put(record, distinct, name, Value::String(text.clone()));
    store_parts(record, distinct, split_request(&text));
}

/// Stores a request's parts, all null when it has another shape.
fn store_parts(record: &mut Record, distinct: bool, parts: Option<RequestParts<'_>>) {
    let Some(parts) = parts else {
        return store_no_parts(record, distinct);
    };
    let [method_key, path_key, query_key, protocol_key] = &REQUEST_PARTS;
    put(record, distinct, method_key, Value::from(parts.method));
    put(record, distinct, path_key, Value::from(parts.path));
    match parts.query {
        Some(query) => put(record, distinct, query_key, Value::from(query)),
        None => put(record, distinct, query_key, Value::Null),
    }
    put(record, distinct, protocol_key, Value::from(parts.protocol));
}

/// A request line of another shape still gives every part, as null.
fn store_no_parts(record: &mut Record, distinct: bool) {
    for key in &REQUEST_PARTS {
        put(record, distinct, key, Value::Null);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
