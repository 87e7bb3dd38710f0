//! The little HTTP/1.1 that `levee metrics export` speaks: URLs of the form
//! `http[s]://host[:port][/path]`, one request per connection
//! (`Connection: close`), and the response read whole and checked.
//!
//! Std only, so the fuzz target can build this file on its own.

use std::fmt;

/// A URL the export reads from or posts to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Url {
    /// `https`.
    pub tls: bool,
    /// The host as written (no port, IPv6 without brackets): the TLS
    /// server name.
    pub host: String,
    /// What the `Host` header says: the authority as written.
    pub authority: String,
    /// What to connect to, `host:port` (the scheme's port if none given).
    pub address: String,
    /// The path and query, `/` if none.
    pub path: String,
}

/// Why a URL or a response can't be used.
#[derive(Debug, PartialEq, Eq)]
pub enum HttpError {
    /// The URL has a scheme this use does not take, or none.
    Scheme(String),
    /// The URL has no host, or a port that is not a number.
    Authority(String),
    /// The answer is not an HTTP/1.x response.
    NotHttp(&'static str),
    /// The answer's body is cut or badly chunked.
    Body(&'static str),
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Scheme(url) => write!(f, "{url:?}: the URL must start with http:// or https://"),
            Self::Authority(url) => write!(f, "{url:?}: no host, or a port that is not a number"),
            Self::NotHttp(why) => write!(f, "the answer is not HTTP ({why})"),
            Self::Body(why) => write!(f, "the answer's body is bad ({why})"),
        }
    }
}

impl std::error::Error for HttpError {}

/// Parses `http://…` or `https://…`.
pub fn parse_url(url: &str) -> Result<Url, HttpError> {
    let (tls, rest) = if let Some(rest) = url.strip_prefix("http://") {
        (false, rest)
    } else if let Some(rest) = url.strip_prefix("https://") {
        (true, rest)
    } else {
        return Err(HttpError::Scheme(url.to_owned()));
    };
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) if rest[i..].starts_with('/') => (&rest[..i], rest[i..].to_owned()),
        Some(i) => (&rest[..i], format!("/{}", &rest[i..])),
        None => (rest, "/".to_owned()),
    };
    let default_port = if tls { 443 } else { 80 };
    let (host, port) =
        host_port(authority, default_port).ok_or_else(|| HttpError::Authority(url.to_owned()))?;
    let address = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    Ok(Url {
        tls,
        host: host.to_owned(),
        authority: authority.to_owned(),
        address,
        path,
    })
}

/// `host[:port]` or `[v6][:port]` into the host and the port; `None` if
/// the host is empty, has a space or `@`, or the port is not a number.
pub fn host_port(authority: &str, default_port: u16) -> Option<(&str, u16)> {
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        match after {
            "" => (host, None),
            _ => (host, Some(after.strip_prefix(':')?)),
        }
    } else {
        match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    if host.is_empty() || host.contains(|c: char| c.is_whitespace() || c == '@' || c == '/') {
        return None;
    }
    let port = match port {
        Some(port) => port.parse().ok()?,
        None => default_port,
    };
    Some((host, port))
}

/// A whole response: its status code and its body, de-chunked.
#[derive(Debug, PartialEq, Eq)]
pub struct Response {
    /// `200`, `404`, ….
    pub status: u16,
    /// The status line as sent, for messages.
    pub status_line: String,
    /// The body.
    pub body: Vec<u8>,
    /// Whether the body's end was given (Content-Length or chunked), rather
    /// than taken from where the connection ended.
    pub framed: bool,
}

/// Reads a whole response (everything the server sent before it closed):
/// the status and the body, chunked or sized or until the end.
pub fn parse_response(response: &[u8]) -> Result<Response, HttpError> {
    let head_end = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or(HttpError::NotHttp("no end of headers"))?;
    let head = std::str::from_utf8(&response[..head_end])
        .map_err(|_| HttpError::NotHttp("headers not text"))?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut words = status_line.split(' ');
    let version = words.next().unwrap_or_default();
    let code = words.next().unwrap_or_default();
    if !version.starts_with("HTTP/1.") || code.len() != 3 {
        return Err(HttpError::NotHttp("no HTTP/1.x status line"));
    }
    let status: u16 = code
        .parse()
        .map_err(|_| HttpError::NotHttp("a status that is not a number"))?;
    let mut chunked = false;
    let mut length = None;
    for line in lines {
        if let Some((name, value)) = line.split_once(':') {
            let value = value.trim();
            if name.eq_ignore_ascii_case("transfer-encoding") {
                chunked = value.eq_ignore_ascii_case("chunked");
            } else if name.eq_ignore_ascii_case("content-length") {
                length = Some(
                    value
                        .parse::<usize>()
                        .map_err(|_| HttpError::NotHttp("a bad Content-Length"))?,
                );
            }
        }
    }
    let raw = &response[head_end + 4..];
    let framed = chunked || length.is_some();
    let body = if chunked {
        dechunk(raw)?
    } else if let Some(length) = length {
        raw.get(..length)
            .ok_or(HttpError::Body("it ended before its Content-Length"))?
            .to_vec()
    } else {
        raw.to_vec()
    };
    Ok(Response {
        status,
        status_line: status_line.to_owned(),
        body,
        framed,
    })
}

/// Decodes a chunked body; a body cut short is an error.
fn dechunk(mut raw: &[u8]) -> Result<Vec<u8>, HttpError> {
    let mut out = Vec::new();
    loop {
        let line_end = raw
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or(HttpError::Body("a chunk size line was cut"))?;
        let size_text = std::str::from_utf8(&raw[..line_end])
            .map_err(|_| HttpError::Body("a bad chunk size"))?;
        let size_text = size_text.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| HttpError::Body("a bad chunk size"))?;
        raw = &raw[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        let chunk = raw.get(..size).ok_or(HttpError::Body("a chunk was cut"))?;
        out.extend_from_slice(chunk);
        raw = raw
            .get(size..)
            .and_then(|r| r.strip_prefix(b"\r\n"))
            .ok_or(HttpError::Body("a chunk was cut"))?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let u = parse_url("http://host:24231/metrics").unwrap();
        assert_eq!(
            (u.tls, u.host.as_str(), u.address.as_str(), u.path.as_str()),
            (false, "host", "host:24231", "/metrics")
        );
        let u = parse_url("https://trap.example/module/httptrap/uuid/secret").unwrap();
        assert_eq!(
            (u.tls, u.address.as_str(), u.authority.as_str()),
            (true, "trap.example:443", "trap.example")
        );
        let u = parse_url("http://[::1]:8080?x=1").unwrap();
        assert_eq!(
            (u.host.as_str(), u.address.as_str(), u.path.as_str()),
            ("::1", "[::1]:8080", "/?x=1")
        );
        assert_eq!(parse_url("http://h").unwrap().address, "h:80");
        for bad in [
            "ftp://h/",
            "h:80",
            "http://",
            "http://:80/",
            "http://h:x/",
            "http://u@h/",
            "http://[::1/",
        ] {
            assert!(parse_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn chunked_and_sized_bodies() {
        let sized =
            parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\na 1\nextra").unwrap();
        assert_eq!((sized.status, sized.body.as_slice()), (200, &b"a 1\n"[..]));
        let chunked = parse_response(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\na \r\n2\r\n1\n\r\n0\r\n\r\n",
        )
        .unwrap();
        assert_eq!(chunked.body, b"a 1\n");
        let until_close = parse_response(b"HTTP/1.0 202 Accepted\r\n\r\nok").unwrap();
        assert_eq!(
            (until_close.status, until_close.body.as_slice()),
            (202, &b"ok"[..])
        );
    }

    #[test]
    fn bad_answers_are_errors() {
        for answer in [
            &b"garbage"[..],
            b"",
            b"HTTP/1.1 2000 OK\r\n\r\n",
            b"SMTP/1.1 200 OK\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
            b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabXY0\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\n",
        ] {
            assert!(
                parse_response(answer).is_err(),
                "{:?}",
                String::from_utf8_lossy(answer)
            );
        }
    }

    /// Any bytes: an answer or an error, never a panic (the fuzz target
    /// `http_response` goes further).
    #[test]
    fn arbitrary_answers_never_panic() {
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let alphabet = b"HTP/1.0 2\r\n:chunkedContent-Length;aF";
        for _ in 0..20_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let len = (seed % 64) as usize;
            let mut bytes = b"HTTP/1.1 200 OK\r\n".to_vec();
            let mut s = seed;
            for _ in 0..len {
                s = s.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                bytes.push(alphabet[(s >> 33) as usize % alphabet.len()]);
            }
            let _ = parse_response(&bytes);
            let _ = parse_url(&String::from_utf8_lossy(&bytes[9..]));
        }
    }
}
