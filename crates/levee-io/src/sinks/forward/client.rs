//! The forward sink's connection: choosing a server, the handshake,
//! sending messages and waiting for their acks.

use std::io::Write as _;

use bytes::BytesMut;
use flate2::Compression;
use flate2::write::GzEncoder;
use levee_event::{Ack, Event};
use prometheus_client::metrics::counter::Counter;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

use super::BuiltForward;
use crate::SinkError;
use crate::forward::msgpack;
use crate::forward::{handshake, read_ack};
use crate::sinks::http::base64;
use crate::sinks::{SinkFuture, WriteSink};

/// The largest reply (HELO, PONG, ack) read from a server: these are a few
/// dozen bytes, so anything this large is not a forward receiver.
const MAX_REPLY: usize = 64 << 10;

/// Bytes of a chunk id before base64 (as Fluentd's and Fluent Bit's).
const CHUNK_ID_BYTES: usize = 16;

/// Why a send failed, and whether the server is to blame for it (and
/// passed over for `recover_wait`).
struct Failure {
    reason: String,
    server_down: bool,
}

impl Failure {
    fn down(reason: impl Into<String>) -> Failure {
        Failure {
            reason: reason.into(),
            server_down: true,
        }
    }

    fn slow(reason: impl Into<String>) -> Failure {
        Failure {
            reason: reason.into(),
            server_down: false,
        }
    }
}

/// One open connection to a server.
pub(super) struct Conn {
    /// Its index in the config's servers.
    server: usize,
    pub(super) stream: TcpStream,
    /// Bytes read and not yet taken as replies.
    buf: BytesMut,
}

/// One message of a batch, ready to send.
struct Message {
    bytes: Vec<u8>,
    /// The chunk id it asks to be acked, with `require_ack`.
    chunk: Option<String>,
}

pub(super) struct ForwardSink {
    config: BuiltForward,
    /// Until when each server is passed over, after it failed.
    pub(super) down_until: Vec<Option<Instant>>,
    pub(super) conn: Option<Conn>,
    /// Bytes of messages sent (and acked, with `require_ack`), as sent.
    bytes: Counter,
}

impl ForwardSink {
    pub(super) fn new(config: BuiltForward, bytes: Counter) -> ForwardSink {
        ForwardSink {
            down_until: vec![None; config.servers.len()],
            config,
            conn: None,
            bytes,
        }
    }

    /// The batch as messages: one per tag, in the order tags first appear.
    fn messages(&self, events: &[Event]) -> Result<Vec<Message>, SinkError> {
        // (tag, entries, count); a batch holds one tag or a few.
        let mut groups: Vec<(&str, Vec<u8>, usize)> = Vec::new();
        for event in events {
            let tag = event.tag.as_str();
            let at = match groups.iter().position(|(t, ..)| *t == tag) {
                Some(at) => at,
                None => {
                    groups.push((tag, Vec::new(), 0));
                    groups.len() - 1
                }
            };
            let (_, entries, n) = &mut groups[at];
            entries.push(0x92);
            msgpack::write_time(event.time, entries);
            msgpack::write_record(&event.record, entries);
            *n += 1;
        }
        groups
            .into_iter()
            .map(|(tag, entries, n)| self.message(tag, entries, n))
            .collect()
    }

    /// `[tag, bin(entries), {"size": n, "chunk"?: id, "compressed"?: "gzip"}]`.
    fn message(&self, tag: &str, entries: Vec<u8>, n: usize) -> Result<Message, SinkError> {
        let entries = if self.config.gzip {
            let mut gz = GzEncoder::new(Vec::with_capacity(entries.len() / 4), Compression::fast());
            gz.write_all(&entries)
                .and_then(|()| gz.finish())
                .map_err(|e| SinkError::io("gzip", e))?
        } else {
            entries
        };
        let chunk = if self.config.require_ack {
            Some(chunk_id()?)
        } else {
            None
        };
        let mut bytes = Vec::with_capacity(entries.len() + tag.len() + 64);
        msgpack::write_array_header(3, &mut bytes);
        msgpack::write_str(tag.as_bytes(), &mut bytes);
        msgpack::write_bin_header(entries.len(), &mut bytes);
        bytes.extend_from_slice(&entries);
        let options = 1 + usize::from(chunk.is_some()) + usize::from(self.config.gzip);
        msgpack::write_map_header(options, &mut bytes);
        msgpack::write_str(b"size", &mut bytes);
        msgpack::write_int(i64::try_from(n).unwrap_or(i64::MAX), &mut bytes);
        if let Some(chunk) = &chunk {
            msgpack::write_str(b"chunk", &mut bytes);
            msgpack::write_str(chunk.as_bytes(), &mut bytes);
        }
        if self.config.gzip {
            msgpack::write_str(b"compressed", &mut bytes);
            msgpack::write_str(b"gzip", &mut bytes);
        }
        Ok(Message { bytes, chunk })
    }

    /// The servers in the order to try them now: those not passed over, in
    /// config order; then the others, the one that failed longest ago first.
    fn candidates(&self) -> Vec<usize> {
        let now = Instant::now();
        let mut up: Vec<usize> = Vec::new();
        let mut down: Vec<(Instant, usize)> = Vec::new();
        for (i, until) in self.down_until.iter().enumerate() {
            match until {
                Some(t) if *t > now => down.push((*t, i)),
                _ => up.push(i),
            }
        }
        down.sort();
        up.extend(down.into_iter().map(|(_, i)| i));
        up
    }

    /// The connection to use: the kept one if it is to the server that
    /// comes first now and still open, else a new one to the first server
    /// that takes it.
    async fn connection(&mut self) -> Result<Conn, SinkError> {
        let candidates = self.candidates();
        if let Some(mut conn) = self.conn.take() {
            // A standby's connection is left for the primary once that one
            // is due to be tried again.
            if candidates.first() == Some(&conn.server) && still_open(&mut conn) {
                return Ok(conn);
            }
        }
        let mut why = Vec::new();
        for server in candidates {
            match self.connect(server).await {
                Ok(conn) => {
                    self.down_until[server] = None;
                    return Ok(conn);
                }
                Err(reason) => {
                    tracing::warn!(server = %self.config.servers[server], "forward: {reason}");
                    self.down_until[server] = Some(Instant::now() + self.config.recover_wait);
                    why.push(format!("{}: {reason}", self.config.servers[server]));
                }
            }
        }
        Err(SinkError::Forward(format!(
            "no forward server took the connection ({})",
            why.join("; ")
        )))
    }

    /// Connects to one server, with the handshake when a key is set.
    async fn connect(&self, server: usize) -> Result<Conn, String> {
        let address = &self.config.servers[server];
        let timeout = self.config.connect_timeout;
        let connect = async {
            let stream = TcpStream::connect(address.as_str())
                .await
                .map_err(|e| format!("connect: {e}"))?;
            let _ = stream.set_nodelay(true);
            let mut conn = Conn {
                server,
                stream,
                buf: BytesMut::new(),
            };
            if let Some(key) = &self.config.shared_key {
                let helo = read_reply(&mut conn).await?;
                let helo = handshake::read_helo(&helo)?;
                if helo.wants_user {
                    return Err(
                        "the server asks for a user name and password, which levee does not send"
                            .to_owned(),
                    );
                }
                let salt = chunk_id().map_err(|e| e.to_string())?;
                let mut ping = Vec::new();
                handshake::ping(
                    &self.config.self_hostname,
                    salt.as_bytes(),
                    &helo.nonce,
                    key,
                    &mut ping,
                );
                conn.stream
                    .write_all(&ping)
                    .await
                    .map_err(|e| format!("sending PING: {e}"))?;
                let pong = read_reply(&mut conn).await?;
                handshake::check_pong(&pong, salt.as_bytes(), &helo.nonce, key)?;
            }
            Ok(conn)
        };
        match tokio::time::timeout(timeout, connect).await {
            Ok(result) => result,
            Err(_) => Err(format!(
                "no connection within connect_timeout ({timeout:?})"
            )),
        }
    }

    /// Sends the messages on `conn` and waits for their acks.
    async fn send(&self, conn: &mut Conn, messages: &[Message]) -> Result<u64, Failure> {
        let timeout = self.config.send_timeout;
        let mut sent = 0u64;
        let write = async {
            for m in messages {
                conn.stream.write_all(&m.bytes).await?;
                sent += m.bytes.len() as u64;
            }
            conn.stream.flush().await
        };
        match tokio::time::timeout(timeout, write).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(Failure::down(format!("sending: {e}"))),
            Err(_) => {
                return Err(Failure::slow(format!(
                    "sending took longer than send_timeout ({timeout:?})"
                )));
            }
        }
        if !self.config.require_ack {
            return Ok(sent);
        }
        let mut waiting: Vec<&str> = messages.iter().filter_map(|m| m.chunk.as_deref()).collect();
        let timeout = self.config.ack_timeout;
        let acks = async {
            while !waiting.is_empty() {
                let reply = read_reply(conn).await.map_err(Failure::down)?;
                let chunk = read_ack(&reply).map_err(Failure::slow)?;
                let Some(at) = waiting.iter().position(|w| w.as_bytes() == chunk) else {
                    return Err(Failure::slow(format!(
                        "an ack for a chunk not sent ({:?})",
                        String::from_utf8_lossy(chunk)
                    )));
                };
                waiting.swap_remove(at);
            }
            Ok(())
        };
        match tokio::time::timeout(timeout, acks).await {
            Ok(Ok(())) => Ok(sent),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(Failure::slow(format!(
                "no ack within ack_timeout ({timeout:?})"
            ))),
        }
    }
}

impl WriteSink for ForwardSink {
    fn write<'a>(&'a mut self, events: &'a [Event], acks: &'a mut Vec<Ack>) -> SinkFuture<'a, u64> {
        // The batch is stored when `write` returns Ok: the caller drops
        // its acks then.
        let _ = acks;
        Box::pin(async move {
            if events.is_empty() {
                return Ok(0);
            }
            let messages = self.messages(events)?;
            let mut conn = self.connection().await?;
            let server = conn.server;
            match self.send(&mut conn, &messages).await {
                Ok(bytes) => {
                    self.bytes.inc_by(bytes);
                    self.conn = Some(conn);
                    Ok(events.len() as u64)
                }
                Err(failure) => {
                    // The connection is in an unknown state (a message half
                    // written, an ack still to come): never used again.
                    drop(conn);
                    if failure.server_down {
                        self.down_until[server] = Some(Instant::now() + self.config.recover_wait);
                    }
                    Err(SinkError::Forward(format!(
                        "{}: {}",
                        self.config.servers[server], failure.reason
                    )))
                }
            }
        })
    }

    fn close(&mut self) -> SinkFuture<'_, ()> {
        Box::pin(async move {
            if let Some(mut conn) = self.conn.take() {
                let _ = conn.stream.shutdown().await;
            }
            Ok(())
        })
    }
}

/// Whether a kept connection can take the next batch: the server has not
/// closed it (at its idle timeout, or when it restarted) and sent nothing
/// unasked. Writing into a closed one would seem to work and lose the
/// batch without `require_ack`.
fn still_open(conn: &mut Conn) -> bool {
    let mut probe = [0u8; 1];
    matches!(
        conn.stream.try_read(&mut probe),
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock
    ) && conn.buf.is_empty()
}

/// Reads one whole msgpack item the server sent (a HELO, a PONG, an ack).
async fn read_reply(conn: &mut Conn) -> Result<BytesMut, String> {
    loop {
        match msgpack::whole_len(&conn.buf) {
            Ok(Some(len)) if len <= MAX_REPLY => return Ok(conn.buf.split_to(len)),
            Ok(None) if conn.buf.len() <= MAX_REPLY => {}
            Ok(_) => return Err(format!("a reply larger than {MAX_REPLY} bytes")),
            Err(_) => return Err("the server sent bytes that are not msgpack".into()),
        }
        conn.buf.reserve(4096);
        let n = conn
            .stream
            .read_buf(&mut conn.buf)
            .await
            .map_err(|e| format!("reading: {e}"))?;
        if n == 0 {
            return Err("the server closed the connection".into());
        }
    }
}

/// A fresh chunk id (or handshake salt): base64 of 16 random bytes.
fn chunk_id() -> Result<String, SinkError> {
    use ring::rand::SecureRandom;
    let mut id = [0u8; CHUNK_ID_BYTES];
    ring::rand::SystemRandom::new()
        .fill(&mut id)
        .map_err(|_| SinkError::Forward("no random bytes for a chunk id".into()))?;
    Ok(base64(&id))
}
