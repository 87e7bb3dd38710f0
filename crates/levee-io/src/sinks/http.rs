//! The `http` sink: records POSTed to an HTTP(S) endpoint, many per request.
//!
//! One request per record collapses at a few thousand records a second
//! (a round trip each); a request carries up to `max_batch_events` records
//! or `max_batch_bytes` of body, as newline-delimited JSON or one JSON
//! array, optionally gzip.
//!
//! A batch is stored before `write` returns, as the file sink's is: the
//! caller drops its acks at once. It goes as one request or several, in
//! order. What the answer means:
//!
//! - 2xx: stored.
//! - 5xx, 408, 429, a timeout, a connection or TLS error: `Err`, and the
//!   output worker tries again, after the answer's `Retry-After` when it
//!   gives one ([`SinkError::retry_after`]). Requests of the batch that
//!   were already answered 2xx are not sent again when the same batch is
//!   written again.
//! - any other 4xx: the server refuses those records for good; they are
//!   [`SinkError::Malformed`], so the worker sends them to the output's
//!   `secondary` at once and writes the rest.
//!
//! The client is HTTP/1.1 on tokio with rustls, keeping its connection
//! open between requests when the server allows.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use flate2::Compression;
use flate2::write::GzEncoder;
use levee_event::{Ack, Event};
use prometheus_client::metrics::counter::Counter;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use serde::Deserialize;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use super::encode::json;
use super::{OpenSink, SinkContext, SinkFuture, WriteSink};
use crate::units::{Interval, Size};
use crate::{SinkConfigError, SinkError};

/// `type = "http"`: POST records to `url`, many per request.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// Where to POST: `http://host[:port]/path` or `https://…`.
    pub url: String,
    /// How records are put in a body: `ndjson` (one JSON object a line,
    /// the default) or `json_array` (one JSON array of objects).
    #[serde(default)]
    pub format: BodyFormat,
    /// `gzip` compresses each body (`Content-Encoding: gzip`); `none`
    /// (the default) does not.
    #[serde(default)]
    pub compression: BodyCompression,
    /// The most records in one request. Default 1000.
    #[serde(default = "default_max_batch_events")]
    pub max_batch_events: u32,
    /// The largest body, before compression, that more records are added
    /// to; a single record larger than this goes alone. Default `1MiB`.
    #[serde(default = "default_max_batch_bytes")]
    pub max_batch_bytes: Size,
    /// How long one request may take, from connecting to the end of the
    /// answer, before it counts as failed (and is tried again). Default
    /// `30s`.
    #[serde(default = "default_timeout")]
    pub timeout: Interval,
    /// Headers sent with every request, such as `{ "X-Source" = "levee" }`.
    /// Those levee sets itself (`Host`, `Content-Length`, `Content-Type`,
    /// `Content-Encoding`, `Connection`, `Transfer-Encoding`) are refused;
    /// `Authorization` is set with `auth`.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Credentials: `{ type = "basic", user = "u", password = "p" }` or
    /// `{ type = "bearer", token = "t" }`.
    #[serde(default)]
    pub auth: Option<Auth>,
    /// A PEM file of certificates to trust for `https://` instead of the
    /// system's roots (which `SSL_CERT_FILE` and `SSL_CERT_DIR` override).
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
}

/// How records are put in a request body.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum BodyFormat {
    /// One JSON object a line (`application/x-ndjson`).
    #[default]
    Ndjson,
    /// One JSON array of objects (`application/json`).
    JsonArray,
}

/// Whether request bodies are compressed.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum BodyCompression {
    /// As is.
    #[default]
    None,
    /// gzip, with `Content-Encoding: gzip`.
    Gzip,
}

/// `auth = { type = ..., ... }`: the `Authorization` header.
#[derive(Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Auth {
    /// `Basic` with a user and a password.
    Basic {
        /// The user; no `:` in it.
        user: String,
        /// The password.
        password: String,
    },
    /// `Bearer` with a token.
    Bearer {
        /// The token.
        token: String,
    },
}

impl std::fmt::Debug for Auth {
    // Credentials stay out of logs and `levee validate`'s output.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Auth::Basic { user, .. } => write!(f, "Basic({user:?}, <password>)"),
            Auth::Bearer { .. } => f.write_str("Bearer(<token>)"),
        }
    }
}

fn default_max_batch_events() -> u32 {
    1000
}

fn default_max_batch_bytes() -> Size {
    Size(1 << 20)
}

fn default_timeout() -> Interval {
    Interval(Duration::from_secs(30))
}

/// Headers levee writes itself.
const RESERVED: [&str; 7] = [
    "host",
    "content-length",
    "content-type",
    "content-encoding",
    "connection",
    "transfer-encoding",
    "authorization",
];

/// The longest answer head (status line and headers) read.
const MAX_HEAD: usize = 64 << 10;
/// The longest answer body read to keep the connection; a longer one
/// closes it.
const MAX_BODY: u64 = 1 << 20;

impl HttpConfig {
    pub(crate) fn build(self) -> Result<BuiltHttp, SinkConfigError> {
        let url = Url::parse(&self.url).map_err(|why| SinkConfigError::new("url", why))?;
        if self.max_batch_events == 0 {
            return Err(SinkConfigError::new(
                "max_batch_events",
                "must be at least 1",
            ));
        }
        if self.max_batch_bytes.0 == 0 {
            return Err(SinkConfigError::new(
                "max_batch_bytes",
                "must be at least 1 byte, such as \"1MiB\"",
            ));
        }
        if self.timeout.0.is_zero() {
            return Err(SinkConfigError::new(
                "timeout",
                "must be longer than 0, such as \"30s\"",
            ));
        }
        let mut head = String::new();
        for (name, value) in &self.headers {
            let token = !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
            if !token {
                return Err(SinkConfigError::new(
                    "headers",
                    format!("{name:?} is not a header name (letters, digits and !#$%&'*+-.^_`|~)"),
                ));
            }
            if RESERVED.contains(&name.to_ascii_lowercase().as_str()) {
                return Err(SinkConfigError::new(
                    "headers",
                    if name.eq_ignore_ascii_case("authorization") {
                        format!("{name:?} is set by levee from `auth`")
                    } else {
                        format!("{name:?} is set by levee")
                    },
                ));
            }
            if !field_value(value) {
                return Err(SinkConfigError::new(
                    "headers",
                    format!("the value of {name:?} has a control character (a line break?)"),
                ));
            }
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        match &self.auth {
            Some(Auth::Basic { user, password }) => {
                if user.contains(':') || !field_value(user) || !field_value(password) {
                    return Err(SinkConfigError::new(
                        "auth.user",
                        "the user must have no `:`, and neither it nor the password a control character",
                    ));
                }
                let pair = base64(format!("{user}:{password}").as_bytes());
                head.push_str(&format!("Authorization: Basic {pair}\r\n"));
            }
            Some(Auth::Bearer { token }) => {
                if token.is_empty() || !field_value(token) {
                    return Err(SinkConfigError::new(
                        "auth.token",
                        "must be a token without spaces or control characters",
                    ));
                }
                head.push_str(&format!("Authorization: Bearer {token}\r\n"));
            }
            None => {}
        }
        if self.ca_file.is_some() && !url.tls {
            return Err(SinkConfigError::new("ca_file", "is for https:// URLs only"));
        }
        Ok(BuiltHttp {
            url,
            format: self.format,
            compression: self.compression,
            max_batch_events: usize::try_from(self.max_batch_events).unwrap_or(usize::MAX),
            max_batch_bytes: self.max_batch_bytes.as_usize(),
            timeout: self.timeout.0,
            head,
            ca_file: self.ca_file,
        })
    }
}

/// Whether `value` may be a header's value: no control characters but tab.
fn field_value(value: &str) -> bool {
    !value.bytes().any(|b| (b < 0x20 && b != b'\t') || b == 0x7f)
}

/// Standard base64 with padding, for `Basic` credentials.
pub(crate) fn base64(bytes: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ABC[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// An `http://` or `https://` URL, split for the request.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Url {
    tls: bool,
    /// The host, IPv6 without brackets: the TLS server name.
    host: String,
    /// The `Host` header: the authority as written.
    authority: String,
    /// What to connect to, `host:port`.
    address: String,
    /// The path and query, `/` if none.
    path: String,
}

impl Url {
    /// Parses `url`; the reason it is refused shows it without any
    /// credentials written in it.
    fn parse(url: &str) -> Result<Url, String> {
        Url::parse_shown(url, &redacted(url))
    }

    /// Parses `input`, naming it `url` in errors.
    fn parse_shown(input: &str, url: &str) -> Result<Url, String> {
        let (tls, rest) = if let Some(rest) = input.strip_prefix("http://") {
            (false, rest)
        } else if let Some(rest) = input.strip_prefix("https://") {
            (true, rest)
        } else {
            return Err(format!("{url:?} must start with http:// or https://"));
        };
        if !field_value(input) || input.contains(' ') {
            return Err(format!("{url:?} has a space or a control character"));
        }
        let (authority, path) = match rest.find(['/', '?', '#']) {
            Some(at) => (&rest[..at], &rest[at..]),
            None => (rest, "/"),
        };
        let path = path.split('#').next().unwrap_or_default();
        let path = if path.starts_with('?') {
            format!("/{path}")
        } else if path.is_empty() {
            "/".to_owned()
        } else {
            path.to_owned()
        };
        if authority.contains('@') {
            return Err(format!(
                "{url:?} has credentials in it: put them in `auth`, which keeps them out of logs and errors"
            ));
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let Some((host, after)) = v6.split_once(']') else {
                return Err(format!("{url:?}: an IPv6 host is missing its `]`"));
            };
            (host, after.strip_prefix(':'))
        } else {
            match authority.rsplit_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (authority, None),
            }
        };
        if host.is_empty() {
            return Err(format!("{url:?} has no host"));
        }
        let port: u16 = match port {
            None => {
                if tls {
                    443
                } else {
                    80
                }
            }
            Some(p) => p
                .parse()
                .ok()
                .filter(|&p| p != 0)
                .ok_or_else(|| format!("{url:?}: the port must be a number from 1 to 65535"))?,
        };
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
}

/// `url` with what precedes an `@` in its authority (credentials) hidden.
fn redacted(url: &str) -> String {
    let start = url.find("://").map_or(0, |at| at + 3);
    let end = url[start..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |at| start + at);
    match url[start..end].rfind('@') {
        Some(at) => format!("{}***{}", &url[..start], &url[start + at..]),
        None => url.to_owned(),
    }
}

/// The checked config, ready to open.
#[derive(Clone)]
pub(crate) struct BuiltHttp {
    url: Url,
    format: BodyFormat,
    compression: BodyCompression,
    max_batch_events: usize,
    max_batch_bytes: usize,
    timeout: Duration,
    /// The configured headers and `Authorization`, as written.
    head: String,
    ca_file: Option<PathBuf>,
}

impl std::fmt::Debug for BuiltHttp {
    // The headers hold credentials: kept out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BuiltHttp")
            .field(
                "url",
                &format_args!("{}{}", self.url.authority, self.url.path),
            )
            .field("format", &self.format)
            .field("compression", &self.compression)
            .finish_non_exhaustive()
    }
}

impl OpenSink for BuiltHttp {
    fn open<'a>(&'a self, ctx: &'a SinkContext) -> SinkFuture<'a, Box<dyn WriteSink>> {
        Box::pin(async move {
            let tls = if self.url.tls {
                Some(self.tls()?)
            } else {
                None
            };
            Ok(Box::new(HttpSink {
                config: self.clone(),
                tls,
                conn: None,
                resume: None,
                bytes: ctx.metrics.bytes.clone(),
            }) as Box<dyn WriteSink>)
        })
    }
}

impl BuiltHttp {
    /// The TLS client: the roots of `ca_file`, or the system's.
    fn tls(&self) -> Result<tokio_rustls::TlsConnector, SinkError> {
        let mut roots = rustls::RootCertStore::empty();
        match &self.ca_file {
            Some(path) => {
                let certs = CertificateDer::pem_file_iter(path)
                    .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                    .map_err(|e| SinkError::Http {
                        reason: format!("ca_file {}: {e}", path.display()),
                        retry_after: None,
                    })?;
                roots.add_parsable_certificates(certs);
            }
            None => {
                roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
            }
        }
        if roots.is_empty() {
            return Err(SinkError::Http {
                reason:
                    "no trusted root certificate found (ca_file, the system's, or SSL_CERT_FILE's)"
                        .into(),
                retry_after: None,
            });
        }
        // ring, as the forward source and `levee metrics export` use:
        // rustls marks it deprecated for its lack of post-quantum key
        // exchange; aws-lc-rs, which has it, needs cmake and a C build.
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| SinkError::Http {
                reason: format!("TLS: {e}"),
                retry_after: None,
            })?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
    }
}

/// A connection, plain or TLS.
trait Stream: AsyncRead + AsyncWrite + Unpin + Send + Sync {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + Sync> Stream for T {}

struct HttpSink {
    config: BuiltHttp,
    tls: Option<tokio_rustls::TlsConnector>,
    /// The connection the last answer left open, if the server keeps it.
    conn: Option<BufReader<Box<dyn Stream>>>,
    /// Where the next write resumes if it is the batch the last one
    /// failed in: see [`Resume`].
    resume: Option<Resume>,
    /// Request bodies sent and answered 2xx, as sent (compressed).
    bytes: Counter,
}

/// A batch whose first `sent` events were stored before a request of it
/// failed: if the caller writes it again (the same batch, or what is left
/// of it once the events refused for good are taken out, which keeps the
/// order), those are not sent again.
#[derive(Debug)]
struct Resume {
    /// The batch's length and its first and last records: another batch
    /// (the caller gave up on this one) is not taken for it.
    len: usize,
    key: Vec<u8>,
    sent: usize,
}

/// What tells a batch from another: its first and last events.
fn batch_key(first: &Event, last: &Event) -> Vec<u8> {
    let mut key = Vec::new();
    for e in [first, last] {
        key.extend_from_slice(&e.time.to_le_bytes());
        json::write_record(&e.record, &mut key);
    }
    key
}

/// What a request's answer means for its records.
enum Outcome {
    Stored,
    /// Try again; after this long if the server said.
    Retry(String, Option<Duration>),
    /// Refused for good.
    Refused(String),
}

impl HttpSink {
    /// Encodes `events` from `from` into one body, up to the limits;
    /// returns how many it took.
    fn body(&self, events: &[Event], body: &mut Vec<u8>) -> usize {
        body.clear();
        let c = &self.config;
        let mut line = Vec::new();
        let mut taken = 0;
        if c.format == BodyFormat::JsonArray {
            body.push(b'[');
        }
        for event in events.iter().take(c.max_batch_events) {
            line.clear();
            json::write_record(&event.record, &mut line);
            // A record larger than the limit still goes, alone.
            if taken > 0 && body.len() + line.len() + 2 > c.max_batch_bytes {
                break;
            }
            if c.format == BodyFormat::JsonArray && taken > 0 {
                body.push(b',');
            }
            body.extend_from_slice(&line);
            if c.format == BodyFormat::Ndjson {
                body.push(b'\n');
            }
            taken += 1;
        }
        if c.format == BodyFormat::JsonArray {
            body.push(b']');
        }
        taken
    }

    /// The request's bytes, head and body, and the body's length as sent.
    fn request(&self, body: &[u8]) -> Result<(Vec<u8>, u64), SinkError> {
        let c = &self.config;
        let body: std::borrow::Cow<[u8]> = match c.compression {
            BodyCompression::None => body.into(),
            BodyCompression::Gzip => {
                let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
                gz.write_all(body)
                    .and_then(|()| gz.finish())
                    .map(Into::into)
                    .map_err(|e| SinkError::io("gzip", e))?
            }
        };
        let mut req = format!(
            "POST {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: levee\r\nContent-Type: {}\r\nContent-Length: {}\r\n{}{}\r\n",
            c.url.path,
            c.url.authority,
            match c.format {
                BodyFormat::Ndjson => "application/x-ndjson",
                BodyFormat::JsonArray => "application/json",
            },
            body.len(),
            match c.compression {
                BodyCompression::None => "",
                BodyCompression::Gzip => "Content-Encoding: gzip\r\n",
            },
            c.head,
        )
        .into_bytes();
        req.extend_from_slice(&body);
        Ok((req, body.len() as u64))
    }

    async fn connect(&self) -> std::io::Result<BufReader<Box<dyn Stream>>> {
        let tcp = TcpStream::connect(&self.config.url.address).await?;
        tcp.set_nodelay(true)?;
        let stream: Box<dyn Stream> = match &self.tls {
            None => Box::new(tcp),
            Some(tls) => {
                let name = ServerName::try_from(self.config.url.host.clone()).map_err(|e| {
                    std::io::Error::new(std::io::ErrorKind::InvalidInput, e.to_string())
                })?;
                Box::new(tls.connect(name, tcp).await?)
            }
        };
        Ok(BufReader::new(stream))
    }

    /// Sends one request, on the kept connection if there is one (and, if
    /// that one turns out closed before any answer, on a new one).
    async fn send(&mut self, request: &[u8]) -> Outcome {
        let reused = self.conn.is_some();
        match self.exchange(request).await {
            Err(e) if reused && e.kind() != std::io::ErrorKind::TimedOut => {
                // A kept connection the server closed meanwhile.
                self.conn = None;
                match self.exchange(request).await {
                    Ok(outcome) => outcome,
                    Err(e) => self.failed(e),
                }
            }
            Ok(outcome) => outcome,
            Err(e) => self.failed(e),
        }
    }

    fn failed(&mut self, e: std::io::Error) -> Outcome {
        self.conn = None;
        Outcome::Retry(format!("POST {}: {e}", self.config.url.address), None)
    }

    async fn exchange(&mut self, request: &[u8]) -> std::io::Result<Outcome> {
        let timeout = self.config.timeout;
        match tokio::time::timeout(timeout, self.exchange_untimed(request)).await {
            Ok(result) => result,
            Err(_) => Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("no answer within {timeout:?}"),
            )),
        }
    }

    async fn exchange_untimed(&mut self, request: &[u8]) -> std::io::Result<Outcome> {
        let mut conn = match self.conn.take() {
            Some(conn) => conn,
            None => self.connect().await?,
        };
        conn.get_mut().write_all(request).await?;
        conn.get_mut().flush().await?;
        let answer = read_answer(&mut conn).await?;
        if answer.keep {
            self.conn = Some(conn);
        }
        let status = answer.status;
        let why = || {
            let text = String::from_utf8_lossy(&answer.body);
            let text: String = text.chars().take(200).collect();
            format!(
                "{} answered {status}: {}",
                self.config.url.authority,
                text.trim()
            )
        };
        Ok(match status {
            200..=299 => Outcome::Stored,
            408 | 429 | 500..=599 => Outcome::Retry(why(), answer.retry_after),
            _ => Outcome::Refused(why()),
        })
    }
}

/// An answer, as far as the sink needs it.
struct Answer {
    status: u16,
    retry_after: Option<Duration>,
    body: Vec<u8>,
    /// Whether the connection can take the next request.
    keep: bool,
}

fn bad(why: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, why.to_owned())
}

/// Reads an answer's head and, when its length is known and small, its
/// body; otherwise the connection is not kept.
async fn read_answer(conn: &mut BufReader<Box<dyn Stream>>) -> std::io::Result<Answer> {
    let mut head = Vec::new();
    loop {
        let start = head.len();
        let n = (&mut *conn)
            .take((MAX_HEAD - start.min(MAX_HEAD)) as u64 + 1)
            .read_until(b'\n', &mut head)
            .await?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the connection closed before an answer",
            ));
        }
        if head.len() > MAX_HEAD {
            return Err(bad("the answer's head is too long"));
        }
        let line = &head[start..];
        if line == b"\r\n" || line == b"\n" {
            // Skip 1xx interim answers (100 Continue).
            if head.starts_with(b"HTTP/1.1 1") || head.starts_with(b"HTTP/1.0 1") {
                head.clear();
                continue;
            }
            break;
        }
    }
    let text = std::str::from_utf8(&head).map_err(|_| bad("the answer's head is not UTF-8"))?;
    let mut lines = text.lines();
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    if !version.starts_with("HTTP/1.") {
        return Err(bad("not an HTTP/1.x answer"));
    }
    let status: u16 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .filter(|s| (100..1000).contains(s))
        .ok_or_else(|| bad("no status code"))?;
    let mut length = None;
    let mut chunked = false;
    let mut keep = version == "HTTP/1.1";
    let mut retry_after = None;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match name.trim().to_ascii_lowercase().as_str() {
            "content-length" => length = value.parse::<u64>().ok(),
            "transfer-encoding" => chunked = !value.eq_ignore_ascii_case("identity"),
            "connection" => {
                let v = value.to_ascii_lowercase();
                if v.contains("close") {
                    keep = false;
                } else if v.contains("keep-alive") {
                    keep = true;
                }
            }
            "retry-after" => retry_after = parse_retry_after(value, SystemTime::now()),
            _ => {}
        }
    }
    let mut body = Vec::new();
    match length {
        Some(n) if !chunked && n <= MAX_BODY => {
            (&mut *conn).take(n).read_to_end(&mut body).await?;
            if body.len() as u64 != n {
                keep = false;
            }
        }
        // No length, chunked, or too long: the body is not needed, and
        // the connection goes with it.
        _ => keep = false,
    }
    Ok(Answer {
        status,
        retry_after,
        body,
        keep,
    })
}

/// `Retry-After`: delay-seconds, or an HTTP date (IMF-fixdate, as RFC
/// 9110 says senders write it) from which `now` is taken.
fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    // Sun, 06 Nov 1994 08:49:37 GMT
    let rest = value.split_once(", ")?.1;
    let mut f = rest.split(' ');
    let day: u32 = f.next()?.parse().ok()?;
    let month = f.next()?;
    let year: i64 = f.next()?.parse().ok()?;
    let time = f.next()?;
    if f.next()? != "GMT" {
        return None;
    }
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = MONTHS.iter().position(|m| *m == month)? as u32 + 1;
    if day == 0 || day > levee_event::time::days_in_month(year, month) {
        return None;
    }
    let mut t = time.split(':').map(|n| n.parse::<i64>().ok());
    let (h, m, s) = (t.next()??, t.next()??, t.next()??);
    if !(0..24).contains(&h) || !(0..60).contains(&m) || !(0..61).contains(&s) {
        return None;
    }
    let at = levee_event::time::days_from_civil(year, month, day) * 86_400 + h * 3600 + m * 60 + s;
    let now = now.duration_since(SystemTime::UNIX_EPOCH).ok()?.as_secs();
    let at = u64::try_from(at).ok()?;
    Some(Duration::from_secs(at.saturating_sub(now)))
}

impl WriteSink for HttpSink {
    /// Stores before returning, so the caller drops the acks at once.
    fn write<'a>(
        &'a mut self,
        events: &'a [Event],
        _acks: &'a mut Vec<Ack>,
    ) -> SinkFuture<'a, u64> {
        Box::pin(async move {
            let key = |events: &[Event]| match (events.first(), events.last()) {
                (Some(first), Some(last)) => batch_key(first, last),
                _ => Vec::new(),
            };
            let mut from = match self.resume.take() {
                Some(r) if r.len == events.len() && r.key == key(events) => r.sent,
                _ => 0,
            };
            let mut body = Vec::new();
            while from < events.len() {
                let taken = self.body(&events[from..], &mut body);
                let (request, sent) = self.request(&body)?;
                match self.send(&request).await {
                    Outcome::Stored => {
                        self.bytes.inc_by(sent);
                        from += taken;
                    }
                    Outcome::Retry(reason, retry_after) => {
                        if from > 0 {
                            self.resume = Some(Resume {
                                len: events.len(),
                                key: key(events),
                                sent: from,
                            });
                        }
                        return Err(SinkError::Http {
                            reason,
                            retry_after,
                        });
                    }
                    Outcome::Refused(reason) => {
                        // The caller takes these out and writes the rest,
                        // which starts with the `from` events stored.
                        if from > 0 {
                            // The rest: the stored `from`, then what
                            // follows the refused.
                            let last = events[from + taken..].last().unwrap_or(&events[from - 1]);
                            self.resume = Some(Resume {
                                len: events.len() - taken,
                                key: batch_key(&events[0], last),
                                sent: from,
                            });
                        }
                        return Err(SinkError::Malformed {
                            events: (from..from + taken).collect(),
                            reason,
                        });
                    }
                }
            }
            Ok(events.len() as u64)
        })
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use levee_event::{Record, Tag, Value};
    use tokio::net::TcpListener;

    use super::*;
    use crate::sinks::SinkMetrics;

    /// A server answering its requests with `statuses` in turn (then 200),
    /// keeping connections open; sends each request's `n`s on the channel.
    async fn server(
        statuses: Vec<u16>,
    ) -> (String, tokio::sync::mpsc::UnboundedReceiver<Vec<i64>>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut statuses = statuses.into_iter();
            loop {
                let (conn, _) = listener.accept().await.unwrap();
                let mut conn = BufReader::new(conn);
                loop {
                    let mut length = 0;
                    let mut line = String::new();
                    loop {
                        line.clear();
                        if conn.read_line(&mut line).await.unwrap_or(0) == 0 {
                            break;
                        }
                        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                            length = v.trim().parse().unwrap();
                        }
                        if line == "\r\n" {
                            break;
                        }
                    }
                    if line != "\r\n" {
                        break;
                    }
                    let mut body = vec![0; length];
                    conn.read_exact(&mut body).await.unwrap();
                    let ns = String::from_utf8(body)
                        .unwrap()
                        .lines()
                        .map(|l| {
                            serde_json::from_str::<serde_json::Value>(l).unwrap()["n"]
                                .as_i64()
                                .unwrap()
                        })
                        .collect();
                    tx.send(ns).unwrap();
                    let status = statuses.next().unwrap_or(200);
                    let answer = format!("HTTP/1.1 {status} X\r\nContent-Length: 0\r\n\r\n");
                    conn.get_mut().write_all(answer.as_bytes()).await.unwrap();
                }
            }
        });
        (addr, rx)
    }

    async fn sink(addr: &str) -> Box<dyn WriteSink> {
        let config: HttpConfig = toml::from_str(&format!(
            "url = \"http://{addr}/in\"\nmax_batch_events = 10"
        ))
        .unwrap();
        let ctx = SinkContext {
            output: "h".into(),
            data_dir: std::env::temp_dir(),
            metrics: SinkMetrics::default(),
            parquet: None,
        };
        config.build().unwrap().open(&ctx).await.unwrap()
    }

    fn events(ns: impl IntoIterator<Item = i64>) -> Vec<Event> {
        ns.into_iter()
            .map(|n| {
                let mut r = Record::new();
                r.insert("n", Value::Int(n));
                Event::new(Tag::new("t"), n, r)
            })
            .collect()
    }

    fn sent(rx: &mut tokio::sync::mpsc::UnboundedReceiver<Vec<i64>>) -> Vec<Vec<i64>> {
        std::iter::from_fn(|| rx.try_recv().ok()).collect()
    }

    #[tokio::test]
    async fn a_retried_batch_does_not_send_its_stored_requests_again() {
        let (addr, mut rx) = server(vec![200, 503]).await;
        let mut sink = sink(&addr).await;
        let batch = events(0..30);
        let err = sink.write(&batch, &mut Vec::new()).await.unwrap_err();
        assert!(err.malformed().is_none(), "{err}");
        assert_eq!(sink.write(&batch, &mut Vec::new()).await.unwrap(), 30);
        let requests = sent(&mut rx);
        let expected: Vec<Vec<i64>> = [0..10, 10..20, 10..20, 20..30]
            .into_iter()
            .map(Iterator::collect)
            .collect();
        assert_eq!(requests, expected);
        // Another batch of the same length starts from its beginning.
        sink.write(&events(100..130), &mut Vec::new())
            .await
            .unwrap();
        assert_eq!(sent(&mut rx).concat(), (100..130).collect::<Vec<_>>());
    }

    /// `https://` with `ca_file`: the test CA of `levee metrics export`'s
    /// tests, and a server of tokio-rustls with its certificate.
    #[tokio::test]
    async fn https_with_a_ca_file_delivers() {
        let tls = Path::new(env!("CARGO_MANIFEST_DIR")).join("../levee/tests/data/tls");
        let certs = CertificateDer::pem_file_iter(tls.join("server.pem"))
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        let key = rustls::pki_types::PrivateKeyDer::from_pem_file(tls.join("server.key")).unwrap();
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let server = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            let (conn, _) = listener.accept().await.unwrap();
            let mut conn = BufReader::new(acceptor.accept(conn).await.unwrap());
            let mut length = 0;
            let mut line = String::new();
            while line != "\r\n" {
                line.clear();
                conn.read_line(&mut line).await.unwrap();
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap();
                }
            }
            let mut body = vec![0; length];
            conn.read_exact(&mut body).await.unwrap();
            tx.send(body).unwrap();
            conn.get_mut()
                .write_all(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n")
                .await
                .unwrap();
            conn.get_mut().flush().await.unwrap();
        });
        let config: HttpConfig = toml::from_str(&format!(
            "url = \"https://localhost:{port}/in\"\nca_file = {:?}",
            tls.join("ca.pem").to_string_lossy()
        ))
        .unwrap();
        let ctx = SinkContext {
            output: "h".into(),
            data_dir: std::env::temp_dir(),
            metrics: SinkMetrics::default(),
            parquet: None,
        };
        let mut sink = config.build().unwrap().open(&ctx).await.unwrap();
        assert_eq!(sink.write(&events(0..3), &mut Vec::new()).await.unwrap(), 3);
        assert_eq!(
            rx.recv().await.unwrap(),
            b"{\"n\":0}\n{\"n\":1}\n{\"n\":2}\n"
        );
    }

    #[tokio::test]
    async fn a_refused_request_is_malformed_and_the_rest_resumes_after_what_was_stored() {
        let (addr, mut rx) = server(vec![200, 400]).await;
        let mut sink = sink(&addr).await;
        let mut batch = events(0..30);
        let err = sink.write(&batch, &mut Vec::new()).await.unwrap_err();
        assert_eq!(err.malformed(), Some(&(10..20).collect::<Vec<_>>()[..]));
        // What the output worker does: takes them out, writes the rest.
        batch.drain(10..20);
        assert_eq!(sink.write(&batch, &mut Vec::new()).await.unwrap(), 20);
        let requests = sent(&mut rx);
        let expected: Vec<Vec<i64>> = [0..10, 10..20, 20..30]
            .into_iter()
            .map(Iterator::collect)
            .collect();
        assert_eq!(requests, expected);
    }

    #[test]
    fn basic_credentials_are_base64() {
        assert_eq!(
            base64(b"Aladdin:open sesame"),
            "QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
        );
        assert_eq!(base64(b"a"), "YQ==");
        assert_eq!(base64(b"ab"), "YWI=");
        assert_eq!(base64(b"abc"), "YWJj");
        assert_eq!(base64(b""), "");
    }

    #[test]
    fn retry_after_is_seconds_or_an_http_date() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777);
        assert_eq!(parse_retry_after("7", now), Some(Duration::from_secs(7)));
        // 784111777 is Sun, 06 Nov 1994 08:49:37 GMT.
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:50:07 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-3", now), None);
        assert_eq!(
            parse_retry_after("Sun, 31 Feb 1994 08:00:00 GMT", now),
            None
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 25:00:00 GMT", now),
            None
        );
    }

    #[test]
    fn urls_split_into_what_a_request_needs() {
        let u = Url::parse("https://[::1]:8443/in?x=1").unwrap();
        assert_eq!(
            (u.tls, u.host.as_str(), u.address.as_str(), u.path.as_str()),
            (true, "::1", "[::1]:8443", "/in?x=1")
        );
        let u = Url::parse("http://example.com").unwrap();
        assert_eq!(
            (u.address.as_str(), u.path.as_str()),
            ("example.com:80", "/")
        );
        for bad in [
            "ftp://x",
            "http://",
            "http://h:0/",
            "http://h:99999/",
            "http://u:p@h/",
            "http://h/a b",
            "http://h/\r\nX: y",
        ] {
            assert!(Url::parse(bad).is_err(), "{bad}");
        }
        let why = Url::parse("ftp://admin:hunter2@h/x").unwrap_err();
        assert!(!why.contains("hunter2"), "{why}");
    }
}
