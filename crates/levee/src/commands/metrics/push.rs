//! `--push`: where a poll's lines go instead of stdout.
//!
//! - `tcp://host:port`: a Graphite-compatible receiver (carbon's plaintext
//!   port 2003, or anything reading lines). One connection kept across
//!   polls; before each poll's lines it is checked (a receiver that closed
//!   it is seen as gone), and a write that fails is retried once on a new
//!   connection with the poll's lines from the start.
//! - `http://…` / `https://…`: one POST per poll with its lines as the body;
//!   with the circonus format, one PUT per poll of a JSON object for a
//!   Circonus HTTPTrap (`format::write_httptrap`), as the trap documents.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use super::fetch;
use super::format::Format;
use super::http::{Url, host_port, parse_url};

/// A parsed `--push` target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// `tcp://host:port`: lines on a kept TCP connection.
    Tcp(String),
    /// `http(s)://…`: a POST per poll.
    Http(Url),
}

impl Target {
    /// Parses `tcp://host:port` (the port is required) or `http(s)://…`.
    pub fn parse(text: &str) -> Result<Self> {
        if let Some(authority) = text.strip_prefix("tcp://") {
            let authority = authority.strip_suffix('/').unwrap_or(authority);
            let (host, port) = host_port(authority, 0)
                .filter(|&(_, port)| port != 0)
                .with_context(|| format!("{text:?}: a tcp:// target is tcp://host:port"))?;
            let address = if host.contains(':') {
                format!("[{host}]:{port}")
            } else {
                format!("{host}:{port}")
            };
            return Ok(Self::Tcp(address));
        }
        match parse_url(text) {
            Ok(url) => Ok(Self::Http(url)),
            Err(_) => bail!("{text:?}: --push takes tcp://host:port, http://… or https://…"),
        }
    }

    /// The format lines are sent in when `--format` is not given.
    pub fn default_format(&self) -> Format {
        match self {
            Self::Tcp(_) => Format::Graphite,
            Self::Http(_) => Format::Json,
        }
    }
}

/// Sends each poll's lines to a target.
pub struct Pusher {
    target: Target,
    format: Format,
    timeout: Duration,
    /// The kept connection of a `tcp://` target.
    connection: Option<TcpStream>,
}

impl Pusher {
    pub fn new(target: Target, format: Format, timeout: Duration) -> Self {
        Self {
            target,
            format,
            timeout,
            connection: None,
        }
    }

    /// Whether this pusher feeds a Circonus HTTPTrap: the circonus format
    /// to an `http(s)://` target, sent as one JSON object per poll.
    pub fn is_httptrap(&self) -> bool {
        matches!(self.target, Target::Http(_)) && self.format == Format::Circonus
    }

    /// Sends one poll's lines, bounded by the timeout. A poll without
    /// samples sends nothing.
    pub async fn send(&mut self, lines: &str) -> Result<()> {
        if lines.is_empty() || lines == "{}\n" {
            return Ok(());
        }
        let trap = self.is_httptrap();
        match &self.target {
            Target::Http(url) => {
                let (method, content_type) = match self.format {
                    Format::Circonus if trap => ("PUT", "application/json"),
                    Format::Json => ("POST", "application/x-ndjson"),
                    _ => ("POST", "text/plain; charset=utf-8"),
                };
                fetch::send(method, url, content_type, lines.as_bytes(), self.timeout)
                    .await
                    .with_context(|| {
                        format!("sending to {}://{}{}", scheme(url), url.authority, url.path)
                    })
            }
            Target::Tcp(address) => {
                let address = address.clone();
                let timeout = self.timeout;
                let sent =
                    tokio::time::timeout(timeout, self.send_tcp(&address, lines.as_bytes())).await;
                let Ok(sent) = sent else {
                    // Part of a line may be out: the next poll starts on a
                    // new connection, and the receiver drops the cut line
                    // with the old one.
                    self.connection = None;
                    bail!("sending to tcp://{address}: not sent within {timeout:?}");
                };
                sent.with_context(|| format!("sending to tcp://{address}"))
            }
        }
    }

    async fn send_tcp(&mut self, address: &str, lines: &[u8]) -> Result<()> {
        if self.connection.as_ref().is_some_and(|c| !is_open(c)) {
            self.connection = None;
        }
        let reused = self.connection.is_some();
        match self.write_tcp(address, lines).await {
            Ok(()) => Ok(()),
            // A kept connection the receiver dropped since: once more on a
            // new one. The receiver may then get some lines twice, with the
            // same timestamps, which Graphite stores once.
            Err(_) if reused => {
                self.connection = None;
                self.write_tcp(address, lines).await
            }
            Err(e) => Err(e),
        }
    }

    async fn write_tcp(&mut self, address: &str, lines: &[u8]) -> Result<()> {
        let connection = match &mut self.connection {
            Some(connection) => connection,
            None => {
                let connection = TcpStream::connect(address)
                    .await
                    .with_context(|| format!("connecting to {address}"))?;
                self.connection.insert(connection)
            }
        };
        let written = async {
            connection.write_all(lines).await?;
            connection.flush().await
        }
        .await;
        if written.is_err() {
            self.connection = None;
        }
        Ok(written?)
    }
}

fn scheme(url: &Url) -> &'static str {
    if url.tls { "https" } else { "http" }
}

/// Whether a kept connection still stands: a receiver of lines never
/// writes, so anything but "nothing to read yet" means it closed (an end of
/// stream or an error) or misbehaves.
fn is_open(connection: &TcpStream) -> bool {
    let mut byte = [0u8; 1];
    matches!(connection.try_read(&mut byte), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        assert_eq!(
            Target::parse("tcp://carbon:2003").unwrap(),
            Target::Tcp("carbon:2003".into())
        );
        assert_eq!(
            Target::parse("tcp://[::1]:2003/").unwrap(),
            Target::Tcp("[::1]:2003".into())
        );
        assert!(matches!(Target::parse("https://trap/x").unwrap(), Target::Http(u) if u.tls));
        for bad in [
            "tcp://carbon",
            "tcp://:2003",
            "tcp://carbon:0",
            "udp://c:1",
            "carbon:2003",
        ] {
            assert!(Target::parse(bad).is_err(), "{bad}");
        }
    }
}
