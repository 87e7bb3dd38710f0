//! The accept loop the network sources (`forward`, `http`) share: a cap on
//! connections, a backoff when accepting fails, and a stop on shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::SourceMetrics;

/// How often a source at `max_connections` says so in the log, at most:
/// a flood of connections must not become a flood of log lines (the
/// metric counts each).
const REFUSAL_LOG_EVERY: Duration = Duration::from_secs(10);

/// The first pause after a failed accept, doubled on each failure in a row
/// up to [`ACCEPT_BACKOFF_MAX`]. A failed accept is mostly the process out
/// of descriptors: retrying at once would spin a core until one frees.
const ACCEPT_BACKOFF_MIN: Duration = Duration::from_millis(10);

/// The longest pause between accepts that fail.
const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);

/// Which source accepts, for its log lines and counters.
pub(crate) struct Acceptor<'a> {
    /// The source's name in the config.
    pub(crate) name: &'a str,
    /// `forward` or `http`, for log lines.
    pub(crate) kind: &'static str,
    /// Connections served at once; one more is closed at once and counted
    /// as `too_many_connections`.
    pub(crate) max_connections: usize,
    /// The source's counters: `connections` open, `connection_errors`.
    pub(crate) metrics: &'a SourceMetrics,
}

impl Acceptor<'_> {
    /// Accepts connections on `listener` until `shutdown` changes, each
    /// served by a task of its own running `serve(stream, peer)` while it
    /// holds one of `max_connections` slots. Returns the tasks still
    /// running, for the source to drain or stop as its protocol needs.
    pub(crate) async fn run<F, Fut>(
        &self,
        listener: &TcpListener,
        mut shutdown: watch::Receiver<bool>,
        mut serve: F,
    ) -> JoinSet<()>
    where
        F: FnMut(TcpStream, SocketAddr) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let slots = Arc::new(Semaphore::new(self.max_connections));
        let mut connections = JoinSet::new();
        let mut last_refusal_log: Option<Instant> = None;
        let mut refused_since_log = 0u64;
        let mut backoff = ACCEPT_BACKOFF_MIN;
        loop {
            let accepted = tokio::select! {
                accepted = listener.accept() => accepted,
                _ = shutdown.changed() => break,
                // Reap finished connections so the set stays small.
                Some(_) = connections.join_next(), if !connections.is_empty() => continue,
            };
            let (stream, peer) = match accepted {
                Ok(accepted) => {
                    backoff = ACCEPT_BACKOFF_MIN;
                    accepted
                }
                Err(e) => {
                    // Out of descriptors, or a connection reset before
                    // accept: the listener itself is fine.
                    tracing::warn!(
                        source = %self.name,
                        error = %e,
                        retry_in = ?backoff,
                        "{}: accept failed", self.kind
                    );
                    tokio::select! {
                        () = tokio::time::sleep(backoff) => {}
                        _ = shutdown.changed() => break,
                    }
                    backoff = next_backoff(backoff);
                    continue;
                }
            };
            let Ok(slot) = slots.clone().try_acquire_owned() else {
                self.metrics.connection_errors.inc("too_many_connections");
                refused_since_log += 1;
                if last_refusal_log.is_none_or(|at: Instant| at.elapsed() >= REFUSAL_LOG_EVERY) {
                    tracing::warn!(
                        source = %self.name,
                        %peer,
                        refused = refused_since_log,
                        "{}: max_connections reached, closing new connections", self.kind
                    );
                    last_refusal_log = Some(Instant::now());
                    refused_since_log = 0;
                }
                drop(stream);
                continue;
            };
            let _ = stream.set_nodelay(true);
            let gauge = self.metrics.connections.clone();
            let served = serve(stream, peer);
            connections.spawn(async move {
                gauge.inc();
                served.await;
                gauge.dec();
                drop(slot);
            });
        }
        connections
    }
}

/// The pause after `backoff` when accepting fails again.
fn next_backoff(backoff: Duration) -> Duration {
    (backoff * 2).min(ACCEPT_BACKOFF_MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[test]
    fn the_accept_backoff_doubles_up_to_its_cap() {
        let mut b = ACCEPT_BACKOFF_MIN;
        let mut seen = vec![b];
        for _ in 0..10 {
            b = next_backoff(b);
            seen.push(b);
        }
        assert_eq!(seen[1], Duration::from_millis(20));
        assert_eq!(*seen.last().unwrap(), ACCEPT_BACKOFF_MAX);
        assert!(seen.windows(2).all(|w| w[0] <= w[1]));
    }

    /// Two slots: a third connection is closed at once and counted; once
    /// one is done, another is served; shutdown ends the loop and hands
    /// back the connections still open.
    #[tokio::test]
    async fn connections_over_the_cap_are_closed_and_shutdown_ends_the_loop() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let metrics = SourceMetrics::default();
        let (stop, shutdown) = watch::channel(false);
        let loop_metrics = metrics.clone();
        let accepting = tokio::spawn(async move {
            let acceptor = Acceptor {
                name: "test",
                kind: "test",
                max_connections: 2,
                metrics: &loop_metrics,
            };
            // Each connection echoes one byte, then holds until its
            // client closes.
            acceptor
                .run(&listener, shutdown, |mut stream, _| async move {
                    let mut byte = [0u8; 1];
                    while stream.read(&mut byte).await.is_ok_and(|n| n > 0) {
                        let _ = stream.write_all(&byte).await;
                    }
                })
                .await
        });
        let echo = |mut s: TcpStream| async move {
            s.write_all(b"x").await.unwrap();
            let mut b = [0u8; 1];
            let n = s.read(&mut b).await.unwrap_or(0);
            (s, n)
        };
        let (first, n1) = echo(TcpStream::connect(addr).await.unwrap()).await;
        let (_second, n2) = echo(TcpStream::connect(addr).await.unwrap()).await;
        assert_eq!((n1, n2), (1, 1));
        // The third is closed without a byte back.
        let (_, n3) = echo(TcpStream::connect(addr).await.unwrap()).await;
        assert_eq!(n3, 0);
        assert_eq!(metrics.connection_errors.get("too_many_connections"), 1);
        assert_eq!(metrics.connections.get(), 2);
        // One closes: its slot serves the next.
        drop(first);
        let deadline = Instant::now() + Duration::from_secs(10);
        let fourth = loop {
            let (s, n) = echo(TcpStream::connect(addr).await.unwrap()).await;
            if n == 1 {
                break s;
            }
            assert!(Instant::now() < deadline, "no slot came free");
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        stop.send(true).unwrap();
        let mut left = accepting.await.unwrap();
        // No connection is taken after shutdown.
        let late = TcpStream::connect(addr).await;
        assert!(late.is_err(), "the listener still accepts");
        // The connections still open are the caller's to stop: stopped,
        // their clients see them close.
        assert!(left.len() >= 2, "{}", left.len());
        left.shutdown().await;
        let (_, n) = echo(fourth).await;
        assert_eq!(n, 0);
    }
}
