//! The `forward` source: the Fluentd Forward Protocol v1 over TCP, what
//! Fluentd, td-agent, Fluent Bit and the fluent-logger libraries send.
//!
//! Each connection is read into a buffer; [`decode::Scanner`] finds whole
//! frames in it and [`decode::frame`] reads them (all four modes, see
//! `decode.rs`), on up to two tasks beside the connection's, its events
//! taken back in the order they came (`decoders.rs`). Events keep the tag
//! their client sent. A frame with a
//! `chunk` option is answered `{"ack": chunk}` once every output that got
//! its events stored them (a `disk` buffer counts as stored once written):
//! each batch goes out with an ack from the connection's ledger, as a
//! tailed file's do, and a chunk is answered when its last batch is done.
//!
//! Backpressure: sending a batch waits while the pipeline is full, and
//! meanwhile the connection is not read, so its client's writes block and
//! it buffers on its side; acks wait too. Memory per connection is bounded:
//! for each of its two decoding groups, 64KiB of frames plus one frame
//! (`max_frame_bytes`), one frame's inflated entries
//! (`max_decompressed_bytes`) and three batches; up to 1MiB read ahead;
//! and two spare read buffers of at most 2MiB.
//!
//! A frame that breaks the protocol or a limit closes its connection and
//! is counted in `levee_source_connection_errors_total{reason}`; other
//! connections go on.
//!
//! With `shared_key`, a connection starts with the handshake
//! (`crate::forward::handshake`); with `tls`, inside a rustls session.

pub mod decode;
mod decoders;
mod server;

/// msgpack, read and written; shared with the forward sink.
pub use crate::forward::msgpack;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

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
    /// A key every client must prove it holds (Fluentd's and Fluent Bit's
    /// `shared_key`): the server opens each connection with `HELO`, and a
    /// client whose `PING` digest is wrong gets `PONG` false and is closed.
    /// Default: none, no handshake.
    #[serde(default)]
    pub shared_key: Option<String>,
    /// The name this server gives in its `PONG` (Fluentd's
    /// `self_hostname`). Default `"levee"`.
    #[serde(default = "default_self_hostname")]
    pub self_hostname: String,
    /// TLS: `{ cert = "server.pem", key = "server.key" }`, PEM files (the
    /// certificate chain, then the private key). Clients then connect with
    /// TLS (Fluent Bit's `tls on`, Fluentd's `transport tls`). Default: off.
    #[serde(default)]
    pub tls: Option<TlsConfig>,
}

/// The forward source's certificate and key.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM file of the server's certificate chain, leaf first.
    pub cert: PathBuf,
    /// PEM file of its private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

fn default_self_hostname() -> String {
    "levee".into()
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
    /// The handshake's key and this server's name, when asked for.
    pub(crate) shared_key: Option<(Vec<u8>, String)>,
    pub(crate) tls: Option<Arc<rustls::ServerConfig>>,
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
        if self.shared_key.as_deref() == Some("") {
            return Err(SourceConfigError::invalid(
                "shared_key",
                "shared_key must not be empty; leave it out for no handshake",
            ));
        }
        let tls = self.tls.as_ref().map(TlsConfig::build).transpose()?;
        Ok(Forward {
            listen,
            limits: decode::Limits {
                max_frame_bytes: self.max_frame_bytes.as_usize(),
                max_decompressed_bytes: self.max_decompressed_bytes.as_usize(),
            },
            max_connections: self.max_connections,
            frame_timeout: self.frame_timeout.0,
            idle_timeout: self.idle_timeout.0,
            shared_key: self
                .shared_key
                .map(|key| (key.into_bytes(), self.self_hostname)),
            tls,
        })
    }
}

impl TlsConfig {
    /// Reads the certificate and key once, at start.
    fn build(&self) -> Result<Arc<rustls::ServerConfig>, SourceConfigError> {
        let certs = CertificateDer::pem_file_iter(&self.cert)
            .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
            .map_err(|e| {
                SourceConfigError::invalid("tls.cert", format!("{}: {e}", self.cert.display()))
            })?;
        if certs.is_empty() {
            return Err(SourceConfigError::invalid(
                "tls.cert",
                format!("{}: no certificate in it", self.cert.display()),
            ));
        }
        let key = PrivateKeyDer::from_pem_file(&self.key).map_err(|e| {
            SourceConfigError::invalid("tls.key", format!("{}: {e}", self.key.display()))
        })?;
        // ring, as `levee metrics export` uses: rustls marks it deprecated
        // for its lack of post-quantum key exchange, and the provider that
        // has it (aws-lc-rs) needs cmake and a long C build.
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| SourceConfigError::invalid("tls", e.to_string()))?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .map_err(|e| SourceConfigError::invalid("tls", e.to_string()))?;
        Ok(Arc::new(config))
    }
}

#[cfg(test)]
mod tests;
