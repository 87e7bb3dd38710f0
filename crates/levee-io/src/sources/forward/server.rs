//! The forward source's listener and its connections.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use levee_event::{Batch, Ledger, Sent, Text};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use super::Forward;
use super::decode::{self, Frame, FrameError, Scanner};
use super::decoders::{Decoders, GROUP_BYTES};
use crate::SourceError;
use crate::forward::handshake;
use crate::sources::accept::Acceptor;
use crate::sources::{SourceContext, SourceMetrics};

/// How often a connection with chunks waiting for their acks looks at
/// its ledger: an ack goes out within this of its events being stored.
const ACK_POLL: Duration = Duration::from_millis(5);

/// Bytes asked of the socket per read.
const READ_BYTES: usize = 64 * 1024;

/// Most bytes made room for ahead of what has come.
const MAX_RESERVE: usize = 1024 * 1024;

/// Bytes read ahead while the decoders are busy: the next frames' start.
const READ_AHEAD: usize = 4 * READ_BYTES;

/// Why a connection ended early, as counted.
#[derive(Debug)]
pub(super) enum Closed {
    /// The pipeline is gone or shutting down: not the client's fault.
    Stopping,
    /// A reason for `levee_source_connection_errors_total`, and the log.
    Error(&'static str, String),
}

impl From<FrameError> for Closed {
    fn from(e: FrameError) -> Closed {
        Closed::Error(e.reason(), e.to_string())
    }
}

/// What every connection of the source shares.
struct Shared {
    config: Forward,
    out: mpsc::Sender<Sent>,
    metrics: SourceMetrics,
    name: String,
}

pub(crate) async fn run(config: Forward, ctx: SourceContext) -> Result<(), SourceError> {
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|error| SourceError::Listen {
            addr: config.listen.to_string(),
            error,
        })?;
    let local = listener.local_addr().map_err(|error| SourceError::Listen {
        addr: config.listen.to_string(),
        error,
    })?;
    tracing::info!(source = %ctx.name, listen = %local, "forward source listening");
    let shared = Arc::new(Shared {
        config,
        out: ctx.out.clone(),
        metrics: ctx.metrics.clone(),
        name: ctx.name.clone(),
    });
    let acceptor = Acceptor {
        name: &ctx.name,
        kind: "forward",
        max_connections: shared.config.max_connections,
        metrics: &ctx.metrics,
    };
    let serve = |stream: TcpStream, peer| {
        let shared = shared.clone();
        let shutdown = ctx.shutdown.clone();
        async move {
            let result = match shared.config.tls.clone() {
                None => serve(stream, &shared, shutdown).await,
                Some(tls) => {
                    let accept = tokio_rustls::TlsAcceptor::from(tls).accept(stream);
                    match tokio::time::timeout(shared.config.frame_timeout, accept).await {
                        Ok(Ok(stream)) => serve(stream, &shared, shutdown).await,
                        Ok(Err(e)) => Err(Closed::Error("tls", e.to_string())),
                        Err(_) => Err(Closed::Error(
                            "tls",
                            "no TLS handshake within frame_timeout".into(),
                        )),
                    }
                }
            };
            if let Err(Closed::Error(reason, message)) = result {
                shared.metrics.connection_errors.inc(reason);
                tracing::warn!(source = %shared.name, %peer, reason, "forward: closing connection: {message}");
            }
        }
    };
    let mut connections = acceptor.run(&listener, ctx.shutdown.clone(), serve).await;
    // Shutdown: stop reading; what was sent downstream is the pipeline's
    // to drain. A chunk not yet acked is sent again by its client.
    connections.shutdown().await;
    drop(ctx);
    Ok(())
}

/// A chunk waiting for its ack: answered once the ledger is done through
/// the seq of the batch that carried its last events.
struct Pending {
    seq: u64,
    chunk: Text,
}

/// Where a connection is in the `shared_key` handshake.
enum Auth {
    /// No key configured: events from the first frame.
    Off,
    /// HELO sent with this nonce; the next frame must be the PING.
    Waiting([u8; handshake::NONCE_BYTES]),
    /// PONG true sent.
    Done,
}

/// One connection's state.
struct Connection<'a> {
    shared: &'a Shared,
    ledger: Ledger,
    pending: VecDeque<Pending>,
    auth: Auth,
    /// Bytes to write to the client: the handshake's, acks.
    replies: Vec<u8>,
}

async fn serve<S>(
    mut stream: S,
    shared: &Shared,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), Closed>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let config = &shared.config;
    let mut conn = Connection {
        shared,
        ledger: Ledger::new(),
        pending: VecDeque::new(),
        auth: Auth::Off,
        replies: Vec::new(),
    };
    if config.shared_key.is_some() {
        let nonce = handshake::nonce()
            .ok_or_else(|| Closed::Error("auth_failed", "no secure random nonce".into()))?;
        handshake::helo(&nonce, &mut conn.replies);
        conn.auth = Auth::Waiting(nonce);
        conn.write_replies(&mut stream).await?;
    }
    let mut buf = BytesMut::with_capacity(READ_BYTES);
    let mut scanner = Scanner::new();
    let mut decoders = Decoders::new(config.limits);
    // The client closed its side: what it sent is decoded and sent on,
    // then its acks are answered.
    let mut eof = false;
    let mut last_read = Instant::now();
    // When the first byte of the frame being read came.
    let mut frame_started: Option<Instant> = None;
    loop {
        let busy = Instant::now();
        // Whole frames buffered go to the decoders, while they have room.
        let mut completed = false;
        while decoders.has_room() {
            let mut group = Vec::new();
            let mut bytes = 0;
            while bytes < GROUP_BYTES {
                let Some(len) = scanner.scan(&buf, config.limits.max_frame_bytes)? else {
                    break;
                };
                completed = true;
                let frame = buf.split_to(len).freeze();
                if let Auth::Waiting(nonce) = conn.auth {
                    if let Err(e) = conn.handshake(&frame, &nonce) {
                        // A refused PING still gets its PONG false.
                        let _ = conn.write_replies(&mut stream).await;
                        return Err(e);
                    }
                    continue;
                }
                bytes += len;
                group.push(frame);
            }
            if group.is_empty() {
                break;
            }
            decoders.start(group);
        }
        frame_started = match (buf.is_empty(), completed) {
            (true, _) => None,
            // What is left began in the last read.
            (false, true) => Some(last_read),
            (false, false) => frame_started.or(Some(last_read)),
        };
        if eof && decoders.is_empty() {
            if !buf.is_empty() {
                return Err(Closed::Error(
                    "invalid_frame",
                    "the connection closed inside a frame".into(),
                ));
            }
            // The client is done; answer what it waits for.
            return conn.finish(&mut stream).await;
        }
        conn.due_acks();
        conn.write_replies(&mut stream).await?;
        // Time spent waiting for the pipeline (backpressure), the decoders
        // or the client to take its acks is not the client's: the timers
        // stop for it.
        let stalled = busy.elapsed();
        last_read += stalled;
        frame_started = frame_started.map(|at| at + stalled);

        let deadline = match frame_started {
            Some(at) => at + config.frame_timeout,
            None => last_read + config.idle_timeout,
        };
        let acks_due = !conn.pending.is_empty();
        let decoding = !decoders.is_empty();
        // With the decoders full, read ahead a little, no more: the
        // client's bytes wait in its socket, and it buffers on its side.
        let reading = !eof && (decoders.has_room() || buf.len() < READ_AHEAD);
        if reading {
            // Room for the rest of the item being read, when the frame
            // said how long it is: a large frame comes in one buffer, not
            // one grown (and copied) read by read. Up to `MAX_RESERVE`, so
            // a header alone can't make a connection take much memory.
            let rest = match decoders.has_room() {
                true => scanner.wants().saturating_sub(buf.len()),
                false => 0,
            };
            decoders.reserve(&mut buf, rest.clamp(READ_BYTES, MAX_RESERVE));
        }
        let waiting = Instant::now();
        tokio::select! {
            read = stream.read_buf(&mut buf), if reading => {
                let n = read.map_err(|e| Closed::Error("io", e.to_string()))?;
                if n == 0 {
                    eof = true;
                } else {
                    shared.metrics.bytes.inc_by(n as u64);
                    last_read = Instant::now();
                }
            }
            next = decoders.next(), if decoding => {
                let sent = match next {
                    Ok(Some((events, chunks))) => conn.send(events, chunks).await,
                    Ok(None) => Ok(()),
                    Err(e) => Err(e),
                };
                if let Err(e) = sent {
                    let _ = conn.write_replies(&mut stream).await;
                    return Err(e);
                }
                let stalled = waiting.elapsed();
                last_read += stalled;
                frame_started = frame_started.map(|at| at + stalled);
            }
            _ = tokio::time::sleep(ACK_POLL), if acks_due => {}
            _ = tokio::time::sleep_until(deadline), if !acks_due && !decoding && !eof => {
                return Err(match frame_started {
                    Some(_) => Closed::Error("frame_timeout", format!("a frame took longer than frame_timeout ({:?})", config.frame_timeout)),
                    None => Closed::Error("idle_timeout", format!("nothing sent for idle_timeout ({:?})", config.idle_timeout)),
                });
            }
            _ = shutdown.changed() => return Err(Closed::Stopping),
        }
    }
}

impl Connection<'_> {
    /// Reads the frame that must answer the server's `HELO`: the `PING`.
    fn handshake(
        &mut self,
        bytes: &[u8],
        nonce: &[u8; handshake::NONCE_BYTES],
    ) -> Result<(), Closed> {
        match decode::frame(bytes)? {
            Frame::Ping(ping) => {
                let (key, hostname) = self.shared.config.shared_key.as_ref().ok_or_else(|| {
                    Closed::Error("auth_failed", "a handshake without a key".into())
                })?;
                handshake::pong(&ping, nonce, key, hostname, &mut self.replies)
                    .map_err(|reason| Closed::Error("auth_failed", reason))?;
                self.auth = Auth::Done;
                Ok(())
            }
            Frame::Events(_) => Err(Closed::Error(
                "auth_failed",
                "events before the shared_key handshake".into(),
            )),
        }
    }

    /// Sends a batch with an ack; the chunks it completes wait on it.
    async fn send(&mut self, batch: Batch, chunks: Vec<Text>) -> Result<(), Closed> {
        let (seq, ack) = self.ledger.issue();
        let n = batch.len() as u64;
        if !batch.is_empty() {
            self.shared
                .out
                .send(Sent::acked(batch, ack))
                .await
                .map_err(|_| Closed::Stopping)?;
            self.shared.metrics.events.inc_by(n);
        }
        for chunk in chunks {
            self.pending.push_back(Pending { seq, chunk });
        }
        Ok(())
    }

    /// Queues the answer of every chunk whose events are done.
    fn due_acks(&mut self) {
        let done = self.ledger.done_through();
        while let Some(p) = self.pending.front() {
            if done.is_none_or(|d| p.seq > d) {
                break;
            }
            crate::forward::write_ack(&p.chunk, &mut self.replies);
            self.pending.pop_front();
        }
    }

    /// Writes what is queued for the client.
    async fn write_replies<S: AsyncWrite + Unpin>(&mut self, stream: &mut S) -> Result<(), Closed> {
        if self.replies.is_empty() {
            return Ok(());
        }
        stream
            .write_all(&self.replies)
            .await
            .map_err(|e| Closed::Error("io", e.to_string()))?;
        // TLS holds written bytes until flushed.
        stream
            .flush()
            .await
            .map_err(|e| Closed::Error("io", e.to_string()))?;
        self.replies.clear();
        Ok(())
    }

    /// At the client's end of stream, once every frame it sent is sent on:
    /// waits for the acks it asked for (its half-closed socket still reads
    /// them), for as long as it takes.
    async fn finish<S: AsyncWrite + Unpin>(&mut self, stream: &mut S) -> Result<(), Closed> {
        while !self.pending.is_empty() {
            self.due_acks();
            self.write_replies(stream).await?;
            if !self.pending.is_empty() {
                tokio::time::sleep(ACK_POLL).await;
            }
        }
        let _ = stream.shutdown().await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
    use tokio::sync::{mpsc, watch};

    use super::*;
    use crate::sources::forward::decode::Limits;

    const FRAME: &[u8] = include_bytes!("../../../tests/data/forward/capture_default.bin");
    const HALF: usize = 400;

    /// A connection served over an in-memory stream, with a pipeline
    /// channel of `capacity` batches; the client's end, the channel, and
    /// the source's counters.
    fn connection(capacity: usize) -> (DuplexStream, mpsc::Receiver<Sent>, SourceMetrics) {
        let (client, server) = tokio::io::duplex(1 << 20);
        let (tx, rx) = mpsc::channel(capacity);
        let metrics = SourceMetrics::default();
        let shared = Arc::new(Shared {
            config: Forward {
                listen: "127.0.0.1:0".parse().unwrap(),
                limits: Limits {
                    max_frame_bytes: 1 << 20,
                    max_decompressed_bytes: 1 << 20,
                },
                max_connections: 1,
                frame_timeout: Duration::from_secs(30),
                idle_timeout: Duration::from_secs(300),
                shared_key: None,
                tls: None,
            },
            out: tx,
            metrics: metrics.clone(),
            name: "fw".into(),
        });
        let (_stop, shutdown) = watch::channel(false);
        tokio::spawn(async move {
            let _stop = _stop;
            if let Err(Closed::Error(reason, _)) = serve(server, &shared, shutdown).await {
                shared.metrics.connection_errors.inc(reason);
            }
        });
        (client, rx, metrics)
    }

    /// A PackedForward frame of the events numbered `from..from + n`
    /// (`{"msg": "x", "n": i}`), asking for an ack of `chunk` if given.
    fn packed(from: i64, n: i64, chunk: Option<&str>) -> Vec<u8> {
        use crate::sources::forward::tests::enc;
        let entries = entries(from, n);
        let mut frame = Vec::new();
        enc::array(if chunk.is_some() { 3 } else { 2 }, &mut frame);
        enc::str("app", &mut frame);
        enc::bin(&entries, &mut frame);
        if let Some(chunk) = chunk {
            enc::map(1, &mut frame);
            enc::str("chunk", &mut frame);
            enc::str(chunk, &mut frame);
        }
        frame
    }

    /// PackedForward entries numbered `from..from + n`, end to end.
    fn entries(from: i64, n: i64) -> Vec<u8> {
        use crate::sources::forward::tests::enc;
        let mut entries = Vec::new();
        for i in from..from + n {
            enc::array(2, &mut entries);
            enc::int(1_700_000_000, &mut entries);
            enc::record("x", i, &mut entries);
        }
        entries
    }

    /// The numbers of a batch's events, in order.
    fn numbers(sent: &Sent) -> Vec<i64> {
        sent.events
            .iter()
            .map(|e| match e.record.get("n") {
                Some(levee_event::Value::Int(n)) => *n,
                other => panic!("no number: {other:?}"),
            })
            .collect()
    }

    /// Writes `bytes` from a task of its own, then closes the client's
    /// side; the rest of the client's stream is returned for reading.
    fn write_all_then_close(
        client: DuplexStream,
        bytes: Vec<u8>,
    ) -> tokio::io::ReadHalf<DuplexStream> {
        let (read, mut write) = tokio::io::split(client);
        tokio::spawn(async move {
            let _ = write.write_all(&bytes).await;
            let _ = write.shutdown().await;
        });
        read
    }

    /// Frames of very different sizes decode on several tasks at once,
    /// the small ones done long before the large one before them: the
    /// events still leave in the order the client sent them.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn events_of_one_connection_leave_in_the_order_they_came() {
        let (client, mut rx, metrics) = connection(4096);
        let sizes = [3000, 1, 5, 2048, 1, 700, 1, 1, 4000, 3, 1024, 1, 1500, 2, 1];
        let mut bytes = Vec::new();
        let mut total = 0;
        for _ in 0..4 {
            for n in sizes {
                bytes.extend_from_slice(&packed(total, n, None));
                total += n;
            }
        }
        let mut rest = write_all_then_close(client, bytes);
        let mut got = Vec::new();
        tokio::time::timeout(Duration::from_secs(60), async {
            while (got.len() as i64) < total {
                let sent = rx.recv().await.expect("the connection's events");
                got.extend(numbers(&sent));
            }
        })
        .await
        .expect("every event within a minute");
        assert_eq!(got, (0..total).collect::<Vec<_>>());
        // The connection ends cleanly at the client's end of stream.
        let mut end = Vec::new();
        rest.read_to_end(&mut end).await.unwrap();
        assert_eq!(metrics.connection_errors.get("invalid_frame"), 0);
    }

    /// The acks a client has read, as chunk ids, in order.
    async fn acks_read(
        rest: &mut tokio::io::ReadHalf<DuplexStream>,
        bytes: &mut Vec<u8>,
    ) -> Vec<String> {
        let mut buf = [0u8; 256];
        if let Ok(Ok(n)) = tokio::time::timeout(Duration::from_millis(1), rest.read(&mut buf)).await
        {
            bytes.extend_from_slice(&buf[..n]);
        }
        let mut acks = Vec::new();
        let mut at = 0;
        while at < bytes.len() {
            let len = crate::forward::msgpack::whole_len(&bytes[at..])
                .unwrap()
                .unwrap();
            let id = crate::forward::read_ack(&bytes[at..at + len]).unwrap();
            acks.push(String::from_utf8(id.to_vec()).unwrap());
            at += len;
        }
        acks
    }

    /// A chunk is answered only once every batch that holds one of its
    /// events is done with, however its frames were split into groups and
    /// batches, and whatever order the outputs finish them in.
    #[tokio::test(start_paused = true)]
    async fn a_chunk_is_acked_only_once_every_batch_with_its_events_is_done() {
        let (client, mut rx, _) = connection(64);
        let chunks = [("a", 1500), ("b", 10), ("c", 2000), ("d", 1), ("e", 1024)];
        let mut bytes = Vec::new();
        let mut ranges = Vec::new();
        let mut from = 0;
        for (chunk, n) in chunks {
            bytes.extend_from_slice(&packed(from, n, Some(chunk)));
            ranges.push((chunk, from..from + n));
            from += n;
        }
        let mut rest = write_all_then_close(client, bytes);
        let mut held: Vec<(Vec<i64>, Sent)> = Vec::new();
        while held.iter().map(|(n, _)| n.len() as i64).sum::<i64>() < from {
            let sent = rx.recv().await.unwrap();
            held.push((numbers(&sent), sent));
        }
        assert!(held.len() >= 5, "{} batches", held.len());
        // Outputs finish batches out of order: each pair the later first.
        let mut order: Vec<usize> = (0..held.len()).collect();
        for pair in order.chunks_mut(2) {
            pair.reverse();
        }
        let mut held: Vec<Option<(Vec<i64>, Sent)>> = held.into_iter().map(Some).collect();
        let mut replies = Vec::new();
        for i in order {
            for _ in 0..3 {
                tokio::time::advance(ACK_POLL * 2).await;
                settle().await;
            }
            for chunk in acks_read(&mut rest, &mut replies).await {
                let (_, range) = ranges.iter().find(|(c, _)| *c == chunk).unwrap();
                // No batch still held has one of its events.
                let not_done = held.iter().flatten().flat_map(|(n, _)| n);
                assert!(
                    not_done.clone().all(|i| !range.contains(i)),
                    "chunk {chunk} acked while a batch with its events was not done"
                );
            }
            held[i] = None;
        }
        for _ in 0..3 {
            tokio::time::advance(ACK_POLL * 2).await;
            settle().await;
        }
        assert_eq!(
            acks_read(&mut rest, &mut replies).await,
            ["a", "b", "c", "d", "e"]
        );
    }

    /// A bad frame closes its connection, counted; the frames before it
    /// were sent on in order, and nothing after it is.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_bad_frame_closes_the_connection_counted_after_the_frames_before_it() {
        use crate::sources::forward::tests::enc;
        let (client, mut rx, metrics) = connection(4096);
        let mut bytes = Vec::new();
        for k in 0..3 {
            bytes.extend_from_slice(&packed(k * BATCH, BATCH, None));
        }
        // Ten good entries, then one that is not `[time, record]`.
        let mut body = entries(3 * BATCH, 10);
        body.push(0x01);
        let mut bad = Vec::new();
        enc::array(2, &mut bad);
        enc::str("app", &mut bad);
        enc::bin(&body, &mut bad);
        bytes.extend_from_slice(&bad);
        for k in 0..3 {
            bytes.extend_from_slice(&packed((4 + k) * BATCH, BATCH, None));
        }
        let mut rest = write_all_then_close(client, bytes);
        // The server closes its side.
        let mut end = Vec::new();
        tokio::time::timeout(Duration::from_secs(60), rest.read_to_end(&mut end))
            .await
            .expect("closed within a minute")
            .unwrap();
        let mut got = Vec::new();
        while let Ok(sent) = rx.try_recv() {
            got.extend(numbers(&sent));
        }
        assert_eq!(got, (0..3 * BATCH).collect::<Vec<_>>());
        // Counted once the connection's task is done, just after it closed.
        tokio::time::timeout(Duration::from_secs(60), async {
            while metrics.connection_errors.get("invalid_frame") == 0 {
                tokio::task::yield_now().await;
            }
        })
        .await
        .expect("counted within a minute");
        assert_eq!(metrics.connection_errors.get("invalid_frame"), 1);
    }

    /// Events in a batch, as the source sends them.
    const BATCH: i64 = crate::sources::lines::BATCH_EVENTS as i64;

    async fn settle() {
        for _ in 0..50 {
            tokio::task::yield_now().await;
        }
    }

    fn events(rx: &mut mpsc::Receiver<Sent>) -> usize {
        let mut n = 0;
        while let Ok(sent) = rx.try_recv() {
            n += sent.events.len();
        }
        n
    }

    /// Regression: the frame timer ran from the first partial frame of a
    /// connection and was never reset while each read ended one frame and
    /// began the next, so a client streaming steadily was cut after
    /// `frame_timeout`.
    #[tokio::test(start_paused = true)]
    async fn a_steady_stream_of_frames_is_never_cut_by_frame_timeout() {
        let (mut client, mut rx, metrics) = connection(16);
        settle().await;
        client.write_all(&FRAME[..HALF]).await.unwrap();
        settle().await;
        for _ in 0..3 {
            tokio::time::advance(Duration::from_secs(20)).await;
            // The end of one frame and the start of the next, in one read.
            let mut bytes = FRAME[HALF..].to_vec();
            bytes.extend_from_slice(&FRAME[..HALF]);
            client.write_all(&bytes).await.unwrap();
            settle().await;
        }
        client.write_all(&FRAME[HALF..]).await.unwrap();
        settle().await;
        assert_eq!(events(&mut rx), 20);
        assert_eq!(metrics.connection_errors.get("frame_timeout"), 0);
    }

    /// Regression: time the source spent waiting on a full pipeline counted
    /// against the client's partial frame, so after backpressure longer
    /// than `frame_timeout` the connection was cut.
    #[tokio::test(start_paused = true)]
    async fn time_waiting_on_a_full_pipeline_is_not_counted_against_the_client() {
        let (mut client, mut rx, metrics) = connection(1);
        settle().await;
        client.write_all(FRAME).await.unwrap();
        settle().await;
        // The channel is full now; the next frame waits to be sent, and
        // the start of a third came in the same read.
        let mut bytes = FRAME.to_vec();
        bytes.extend_from_slice(&FRAME[..HALF]);
        client.write_all(&bytes).await.unwrap();
        settle().await;
        tokio::time::advance(Duration::from_secs(60)).await;
        assert_eq!(events(&mut rx), 5, "the first frame; the second waits");
        settle().await;
        assert_eq!(metrics.connection_errors.get("frame_timeout"), 0);
        client.write_all(&FRAME[HALF..]).await.unwrap();
        settle().await;
        // The second frame's batch, then (once there is room) the third's.
        let mut later = events(&mut rx);
        settle().await;
        later += events(&mut rx);
        assert_eq!(later, 10);
        assert_eq!(metrics.connection_errors.get("frame_timeout"), 0);
    }
}
