//! The `http` source: JSON records POSTed over HTTP/1.1, as Fluentd's
//! `in_http` and Fluent Bit's `http` output send them.
//!
//! `POST /v1/logs/<tag>` or `POST /<tag>`, with a body of newline-delimited
//! JSON, a JSON array of objects, or one object (`body.rs`), plain, gzip or
//! zstd. The events take the tag of the path.
//!
//! A request is all or nothing: its body is read and decoded whole before
//! any of it goes on, so a malformed body is answered 400 (with the line
//! and column of the first fault) and none of its records are taken. A
//! good body's batches go downstream together, each with an ack from the
//! request's own ledger, and the answer is 200 only once every output that
//! got its events stored them (a `disk` buffer counts as stored once
//! written), as the forward source acks a chunk.
//!
//! Backpressure: when the routes it feeds are full, a request waits up to
//! `queue_timeout` for room, then is answered 429 with `Retry-After`, none
//! of it taken. Taken but not stored within `ack_timeout` is 503 with
//! `Retry-After`: its events may still be delivered, so a retry can
//! duplicate them (delivery is at least once).
//!
//! Memory per request is bounded by `max_body_bytes` (the body), plus
//! `max_decompressed_bytes` (inflated), plus its records (at most
//! `max_records`); connections by `max_connections`. A client that is slow
//! to send its headers (`header_timeout`) or its body (`body_timeout`) is
//! cut off.

pub mod body;
mod server;

use std::net::SocketAddr;
use std::time::Duration;

use serde::Deserialize;

use crate::SourceConfigError;
use crate::units::{Interval, Size};

pub(crate) use server::run;

/// `type = "http"`: take JSON records POSTed over HTTP.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// The address and port to listen on (default `"127.0.0.1:9880"`, this
    /// machine only, on Fluentd `in_http`'s port); `"0.0.0.0:9880"` takes
    /// clients from anywhere.
    #[serde(default = "default_listen")]
    pub listen: String,
    /// A token every request must carry as `Authorization: Bearer <token>`;
    /// without it, or with another, the answer is 401. Default: none, any
    /// client may post. Plain HTTP carries it in clear: keep such a source
    /// on 127.0.0.1 or behind a TLS proxy.
    #[serde(default)]
    pub token: Option<String>,
    /// Largest request body, as sent (default `"8MiB"`, 1KiB to 1GiB); a
    /// larger one is answered 413.
    #[serde(default = "default_max_body_bytes")]
    pub max_body_bytes: Size,
    /// Largest a gzip or zstd body may inflate to (default `"64MiB"`, at
    /// least `max_body_bytes`, at most 4GiB): a compression bomb stops
    /// here, with 413.
    #[serde(default = "default_max_decompressed_bytes")]
    pub max_decompressed_bytes: Size,
    /// Most records in one request (default 100000); more is answered 413
    /// and none is taken.
    #[serde(default = "default_max_records")]
    pub max_records: usize,
    /// Most connections open at once (default 256); one more is closed as
    /// soon as it is accepted, and counted.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// Longest a request's headers may take to arrive (default `"10s"`),
    /// and longest a kept-alive connection may sit idle between requests.
    #[serde(default = "default_header_timeout")]
    pub header_timeout: Interval,
    /// Longest a request's body may take to arrive once its headers have
    /// (default `"30s"`); a slower client is answered 408 and cut off.
    #[serde(default = "default_body_timeout")]
    pub body_timeout: Interval,
    /// How long a request waits for room when the routes it feeds are full
    /// (default `"1s"`) before it is answered 429, none of it taken.
    #[serde(default = "default_queue_timeout")]
    pub queue_timeout: Interval,
    /// How long a request whose events were taken waits for them to be
    /// stored (default `"30s"`) before it is answered 503; they may still
    /// be delivered, so the client's retry can duplicate them.
    #[serde(default = "default_ack_timeout")]
    pub ack_timeout: Interval,
    /// The `Retry-After` of a 429 or 503, in whole seconds (default
    /// `"5s"`, at least `"1s"`).
    #[serde(default = "default_retry_after")]
    pub retry_after: Interval,
    /// The field that holds each record's event time, if any: RFC 3339 /
    /// ISO 8601 text, or epoch seconds, milliseconds, microseconds or
    /// nanoseconds (a number or numeric text, told apart by magnitude).
    /// The field stays in the record. A record without it, or whose value
    /// does not read as a time, takes the time the request came (the
    /// latter counted in `levee_time_errors_total`). Default: none, every
    /// event takes the time of its request.
    #[serde(default)]
    pub time_key: Option<String>,
}

fn default_listen() -> String {
    "127.0.0.1:9880".into()
}

fn default_max_body_bytes() -> Size {
    Size(8 * 1024 * 1024)
}

fn default_max_decompressed_bytes() -> Size {
    Size(64 * 1024 * 1024)
}

fn default_max_records() -> usize {
    100_000
}

fn default_max_connections() -> usize {
    256
}

fn default_header_timeout() -> Interval {
    Interval(Duration::from_secs(10))
}

fn default_body_timeout() -> Interval {
    Interval(Duration::from_secs(30))
}

fn default_queue_timeout() -> Interval {
    Interval(Duration::from_secs(1))
}

fn default_ack_timeout() -> Interval {
    Interval(Duration::from_secs(30))
}

fn default_retry_after() -> Interval {
    Interval(Duration::from_secs(5))
}

/// An http source's settings, checked.
#[derive(Clone, Debug)]
pub(crate) struct Http {
    pub(crate) listen: SocketAddr,
    /// `Bearer <token>`, the whole header value a request must carry.
    pub(crate) authorization: Option<Vec<u8>>,
    pub(crate) max_body_bytes: usize,
    pub(crate) max_decompressed_bytes: usize,
    pub(crate) max_records: usize,
    pub(crate) max_connections: usize,
    pub(crate) header_timeout: Duration,
    pub(crate) body_timeout: Duration,
    pub(crate) queue_timeout: Duration,
    pub(crate) ack_timeout: Duration,
    /// Whole seconds, as the header writes them.
    pub(crate) retry_after_secs: u64,
    pub(crate) time_key: Option<String>,
}

impl HttpConfig {
    /// Checks the settings once, into what `run` uses.
    pub(crate) fn build(self) -> Result<Http, SourceConfigError> {
        let listen: SocketAddr = self.listen.parse().map_err(|_| {
            SourceConfigError::invalid(
                "listen",
                format!(
                    "`{}` is not an address and port, such as \"127.0.0.1:9880\"",
                    self.listen
                ),
            )
        })?;
        const GIB: u64 = 1024 * 1024 * 1024;
        if !(1024..=GIB).contains(&self.max_body_bytes.0) {
            return Err(SourceConfigError::invalid(
                "max_body_bytes",
                "max_body_bytes must be between 1KiB and 1GiB",
            ));
        }
        if !(self.max_body_bytes.0..=4 * GIB).contains(&self.max_decompressed_bytes.0) {
            return Err(SourceConfigError::invalid(
                "max_decompressed_bytes",
                "max_decompressed_bytes must be at least max_body_bytes, and at most 4GiB",
            ));
        }
        if !(1..=10_000_000).contains(&self.max_records) {
            return Err(SourceConfigError::invalid(
                "max_records",
                "max_records must be between 1 and 10000000",
            ));
        }
        if !(1..=1_000_000).contains(&self.max_connections) {
            return Err(SourceConfigError::invalid(
                "max_connections",
                "max_connections must be between 1 and 1000000",
            ));
        }
        for (key, value) in [
            ("header_timeout", self.header_timeout),
            ("body_timeout", self.body_timeout),
            ("ack_timeout", self.ack_timeout),
        ] {
            if value.0.is_zero() {
                return Err(SourceConfigError::invalid(
                    key,
                    format!("{key} must be more than 0s"),
                ));
            }
        }
        if self.retry_after.0 < Duration::from_secs(1) {
            return Err(SourceConfigError::invalid(
                "retry_after",
                "retry_after must be at least 1s (the header counts whole seconds)",
            ));
        }
        let authorization = match self.token {
            Some(token) if token.is_empty() || token.trim() != token => {
                return Err(SourceConfigError::invalid(
                    "token",
                    "token must not be empty nor start or end with whitespace; leave it out for \
                     no token",
                ));
            }
            Some(token) if !token.bytes().all(|b| b.is_ascii_graphic()) => {
                return Err(SourceConfigError::invalid(
                    "token",
                    "token must be printable ASCII without spaces, as an HTTP header carries it",
                ));
            }
            Some(token) => Some(format!("Bearer {token}").into_bytes()),
            None => None,
        };
        if self.time_key.as_deref() == Some("") {
            return Err(SourceConfigError::invalid(
                "time_key",
                "time_key must not be empty; leave it out for the time of the request",
            ));
        }
        Ok(Http {
            listen,
            authorization,
            max_body_bytes: self.max_body_bytes.as_usize(),
            max_decompressed_bytes: self.max_decompressed_bytes.as_usize(),
            max_records: self.max_records,
            max_connections: self.max_connections,
            header_timeout: self.header_timeout.0,
            body_timeout: self.body_timeout.0,
            queue_timeout: self.queue_timeout.0,
            ack_timeout: self.ack_timeout.0,
            retry_after_secs: self.retry_after.0.as_secs_f64().ceil() as u64,
            time_key: self.time_key,
        })
    }
}

#[cfg(test)]
mod tests;
