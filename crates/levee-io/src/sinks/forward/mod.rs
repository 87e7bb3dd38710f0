//! The `forward` sink: batches sent to a Fluentd-compatible receiver
//! (Fluentd, td-agent, Fluent Bit, another levee's `forward` source) over
//! the Forward Protocol v1.
//!
//! Each batch goes as one PackedForward message per tag in it (a batch
//! routed from one source has one tag): `[tag, bin(entries), options]`,
//! the entries `[EventTime, record]` end to end, optionally gzip
//! (CompressedPackedForward, `{"compressed": "gzip"}`). With
//! `require_ack = true` each message carries a `chunk` id and the batch is
//! stored only once the receiver answered `{"ack": id}` for every one
//! within `ack_timeout`; no answer, a wrong one or a closed connection is
//! a failed write, which the output worker tries again through the buffer
//! (so a receiver that stored a message but died before its ack gets it
//! twice: at least once, not exactly once).
//!
//! Servers are tried in the order written: the first is the primary, the
//! others standbys. A server that fails (no connection, a refused
//! handshake, a broken connection) is passed over for `recover_wait`, and
//! the next write goes to the next one; once that time is up the primary
//! is tried again. When every server is failing, all are tried, the one
//! that failed longest ago first.
//!
//! The connection is kept between batches (keep-alive), checked before
//! each use (a receiver that closed it, at its idle timeout or on a
//! restart, is reconnected to rather than written into) and dropped after
//! any error. With `shared_key`, every connection starts with the
//! handshake (`crate::forward::handshake`, shared with the source).

mod client;
#[cfg(test)]
mod tests;

use std::time::Duration;

use serde::Deserialize;

use super::{OpenSink, SinkContext, SinkFuture, WriteSink};
use crate::SinkConfigError;
use crate::units::Interval;

/// `type = "forward"`: send batches to Fluentd-protocol receivers.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForwardConfig {
    /// The receivers, `"host:port"` (such as `"127.0.0.1:24224"` or
    /// `"logs.example.com:24224"`), at least one: the first is the primary,
    /// the others standbys taken in order while it fails.
    pub servers: Vec<String>,
    /// `gzip` sends CompressedPackedForward messages; `none` (the default)
    /// PackedForward.
    #[serde(default)]
    pub compression: Compression,
    /// Ask the receiver to acknowledge each message (a `chunk` id, answered
    /// `{"ack": id}`), and count a batch stored only then. Without it a
    /// batch counts as stored once written to the socket, and a receiver
    /// that dies before reading it loses it. Default `false`, as Fluentd's.
    #[serde(default)]
    pub require_ack: bool,
    /// How long to wait for the acks of a batch once it is written
    /// (`require_ack` only); no ack by then fails the write, which is tried
    /// again. Default `"60s"`: a receiver whose own outputs are blocked
    /// holds its acks back, and every timeout sends the batch again.
    #[serde(default = "default_ack_timeout")]
    pub ack_timeout: Interval,
    /// How long connecting to a server may take, handshake included.
    /// Default `"10s"`.
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout: Interval,
    /// How long writing a batch to the socket may take. Default `"60s"`.
    #[serde(default = "default_send_timeout")]
    pub send_timeout: Interval,
    /// How long a server that failed is passed over for the next one.
    /// Default `"10s"`.
    #[serde(default = "default_recover_wait")]
    pub recover_wait: Interval,
    /// The key the receivers ask for (Fluentd's `shared_key`): each
    /// connection starts with the HELO/PING/PONG handshake, and a server
    /// that cannot prove it holds the key too is refused. Default: none.
    #[serde(default)]
    pub shared_key: Option<SharedKey>,
    /// The name this client gives in its `PING` (Fluentd's
    /// `self_hostname`). Default `"levee"`.
    #[serde(default = "default_self_hostname")]
    pub self_hostname: String,
}

/// A `shared_key`, kept out of logs and `levee validate`'s output.
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct SharedKey(String);

impl std::fmt::Debug for SharedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<shared_key>")
    }
}

/// Whether messages are compressed.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Compression {
    /// PackedForward.
    #[default]
    None,
    /// CompressedPackedForward: the entries gzip.
    Gzip,
}

fn default_ack_timeout() -> Interval {
    Interval(Duration::from_secs(60))
}

fn default_connect_timeout() -> Interval {
    Interval(Duration::from_secs(10))
}

fn default_send_timeout() -> Interval {
    Interval(Duration::from_secs(60))
}

fn default_recover_wait() -> Interval {
    Interval(Duration::from_secs(10))
}

fn default_self_hostname() -> String {
    "levee".into()
}

/// The checked config, ready to open.
#[derive(Clone)]
pub(crate) struct BuiltForward {
    /// `host:port` of each server, in order.
    servers: Vec<String>,
    gzip: bool,
    require_ack: bool,
    ack_timeout: Duration,
    connect_timeout: Duration,
    send_timeout: Duration,
    recover_wait: Duration,
    /// The handshake's key, if asked for.
    shared_key: Option<Vec<u8>>,
    self_hostname: String,
}

impl std::fmt::Debug for BuiltForward {
    // The key stays out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BuiltForward")
            .field("servers", &self.servers)
            .field("gzip", &self.gzip)
            .field("require_ack", &self.require_ack)
            .finish_non_exhaustive()
    }
}

impl ForwardConfig {
    pub(crate) fn build(self) -> Result<BuiltForward, SinkConfigError> {
        if self.servers.is_empty() {
            return Err(SinkConfigError::new(
                "servers",
                "at least one server, such as servers = [\"127.0.0.1:24224\"]",
            ));
        }
        for server in &self.servers {
            check_server(server).map_err(|why| SinkConfigError::new("servers", why))?;
        }
        for (key, value) in [
            ("ack_timeout", self.ack_timeout),
            ("connect_timeout", self.connect_timeout),
            ("send_timeout", self.send_timeout),
        ] {
            if value.0.is_zero() {
                return Err(SinkConfigError::new(
                    key,
                    format!("{key} must be longer than 0, such as \"10s\""),
                ));
            }
        }
        let shared_key = match self.shared_key {
            Some(SharedKey(key)) if key.is_empty() => {
                return Err(SinkConfigError::new(
                    "shared_key",
                    "shared_key must not be empty; leave it out for no handshake",
                ));
            }
            Some(SharedKey(key)) => Some(key.into_bytes()),
            None => None,
        };
        if shared_key.is_some()
            && (self.self_hostname.is_empty() || self.self_hostname.chars().any(char::is_control))
        {
            return Err(SinkConfigError::new(
                "self_hostname",
                "self_hostname must be a name without control characters",
            ));
        }
        Ok(BuiltForward {
            servers: self.servers,
            gzip: self.compression == Compression::Gzip,
            require_ack: self.require_ack,
            ack_timeout: self.ack_timeout.0,
            connect_timeout: self.connect_timeout.0,
            send_timeout: self.send_timeout.0,
            recover_wait: self.recover_wait.0,
            shared_key,
            self_hostname: self.self_hostname,
        })
    }
}

/// Checks a `host:port` (a name, an IPv4 address, or `[v6]`), or says why
/// not; the name is resolved when connecting.
fn check_server(server: &str) -> Result<(), String> {
    let shape = || format!("{server:?} is not a host and port, such as \"127.0.0.1:24224\"");
    let (host, port) = server.rsplit_once(':').ok_or_else(shape)?;
    let host = match host.strip_prefix('[') {
        Some(v6) => v6.strip_suffix(']').ok_or_else(shape)?,
        None if host.contains(':') => return Err(shape()),
        None => host,
    };
    if host.is_empty() || host.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(shape());
    }
    match port.parse::<u16>() {
        Ok(p) if p != 0 => Ok(()),
        _ => Err(format!(
            "{server:?}: the port must be a number from 1 to 65535"
        )),
    }
}

impl OpenSink for BuiltForward {
    fn open<'a>(&'a self, ctx: &'a SinkContext) -> SinkFuture<'a, Box<dyn WriteSink>> {
        Box::pin(async move {
            // Nothing to open: the first write connects, so a receiver
            // that is down at start delays delivery, not levee's start.
            Ok(Box::new(client::ForwardSink::new(
                self.clone(),
                ctx.metrics.bytes.clone(),
            )) as Box<dyn WriteSink>)
        })
    }
}
