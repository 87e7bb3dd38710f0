//! The `forward` source: the Fluentd Forward Protocol v1 over TCP, what
//! Fluentd, td-agent, Fluent Bit and the fluent-logger libraries send.
//!
//! Each connection is read into a buffer; [`decode::Scanner`] finds whole
//! frames in it and [`decode::frame`] reads them (all four modes, see
//! `decode.rs`). Events keep the tag their client sent. A frame with a
//! `chunk` option is answered `{"ack": chunk}` once every output that got
//! its events stored them (a `disk` buffer counts as stored once written):
//! each batch goes out with an ack from the connection's ledger, as a
//! tailed file's do, and a chunk is answered when its last batch is done.
//!
//! Backpressure: sending a batch waits while the pipeline is full, and
//! meanwhile the connection is not read, so its client's writes block and
//! it buffers on its side; acks wait too. Memory per connection is bounded
//! by `max_frame_bytes` (the frame) plus `max_decompressed_bytes` (its
//! inflated entries) plus one batch.
//!
//! A frame that breaks the protocol or a limit closes its connection and
//! is counted in `levee_source_connection_errors_total{reason}`; other
//! connections go on.

pub mod decode;
pub mod msgpack;
mod server;

use std::net::SocketAddr;
use std::time::Duration;

use serde::Deserialize;

use crate::SourceConfigError;
use crate::units::{Interval, Size};

pub(crate) use server::run;

/// `type = "forward"`: take events from Fluentd-protocol clients.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForwardConfig {
    /// The address and port to listen on (default `"127.0.0.1:24224"`,
    /// this machine only); `"0.0.0.0:24224"` takes clients from anywhere.
    #[serde(default = "default_listen")]
    pub listen: String,
    /// Largest frame a client may send (default `"16MiB"`, 1KiB to 1GiB);
    /// a larger one, or a header declaring one, closes the connection.
    /// Fluent Bit's chunks are about 2MB; Fluentd's buffer chunks up to 8MB
    /// by default.
    #[serde(default = "default_max_frame_bytes")]
    pub max_frame_bytes: Size,
    /// Largest the gzip entries of a CompressedPackedForward frame may
    /// inflate to (default `"64MiB"`, at least `max_frame_bytes`): a gzip
    /// bomb stops here.
    #[serde(default = "default_max_decompressed_bytes")]
    pub max_decompressed_bytes: Size,
    /// Most connections open at once (default 1024); one more is closed
    /// as soon as it is accepted, and counted.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// Longest a frame may take to arrive once its first byte has (default
    /// `"30s"`): a client trickling bytes is cut off.
    #[serde(default = "default_frame_timeout")]
    pub frame_timeout: Interval,
    /// A connection that sends nothing for this long, between frames, is
    /// closed (default `"300s"`); its client reconnects when it has more.
    #[serde(default = "default_idle_timeout")]
    pub idle_timeout: Interval,
}

fn default_listen() -> String {
    "127.0.0.1:24224".into()
}

fn default_max_frame_bytes() -> Size {
    Size(16 * 1024 * 1024)
}

fn default_max_decompressed_bytes() -> Size {
    Size(64 * 1024 * 1024)
}

fn default_max_connections() -> usize {
    1024
}

fn default_frame_timeout() -> Interval {
    Interval(Duration::from_secs(30))
}

fn default_idle_timeout() -> Interval {
    Interval(Duration::from_secs(300))
}

/// A forward source's settings, checked.
#[derive(Clone, Debug)]
pub(crate) struct Forward {
    pub(crate) listen: SocketAddr,
    pub(crate) limits: decode::Limits,
    pub(crate) max_connections: usize,
    pub(crate) frame_timeout: Duration,
    pub(crate) idle_timeout: Duration,
}

impl ForwardConfig {
    /// Checks the settings once, into what `run` uses.
    pub(crate) fn build(self) -> Result<Forward, SourceConfigError> {
        let listen: SocketAddr = self.listen.parse().map_err(|_| {
            SourceConfigError::invalid(
                "listen",
                format!(
                    "`{}` is not an address and port, such as \"127.0.0.1:24224\"",
                    self.listen
                ),
            )
        })?;
        const GIB: u64 = 1024 * 1024 * 1024;
        if !(1024..=GIB).contains(&self.max_frame_bytes.0) {
            return Err(SourceConfigError::invalid(
                "max_frame_bytes",
                "max_frame_bytes must be between 1KiB and 1GiB",
            ));
        }
        if !(self.max_frame_bytes.0..=4 * GIB).contains(&self.max_decompressed_bytes.0) {
            return Err(SourceConfigError::invalid(
                "max_decompressed_bytes",
                "max_decompressed_bytes must be at least max_frame_bytes, and at most 4GiB",
            ));
        }
        if !(1..=1_000_000).contains(&self.max_connections) {
            return Err(SourceConfigError::invalid(
                "max_connections",
                "max_connections must be between 1 and 1000000",
            ));
        }
        for (key, value) in [
            ("frame_timeout", self.frame_timeout),
            ("idle_timeout", self.idle_timeout),
        ] {
            if value.0.is_zero() {
                return Err(SourceConfigError::invalid(
                    key,
                    format!("{key} must be more than 0s"),
                ));
            }
        }
        Ok(Forward {
            listen,
            limits: decode::Limits {
                max_frame_bytes: self.max_frame_bytes.as_usize(),
                max_decompressed_bytes: self.max_decompressed_bytes.as_usize(),
            },
            max_connections: self.max_connections,
            frame_timeout: self.frame_timeout.0,
            idle_timeout: self.idle_timeout.0,
        })
    }
}

#[cfg(test)]
mod tests;
