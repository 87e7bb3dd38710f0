//! Serving an axum router (`/metrics`, the query API) the way a process
//! that runs for months must: `axum::serve` has neither a cap on
//! connections nor a time limit on a request's head, so a client that
//! trickles a header a byte at a time, or thousands that connect and say
//! nothing, would hold sockets and tasks for as long as they like.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

/// What one server allows its clients.
#[derive(Clone, Copy, Debug)]
pub struct HttpLimits {
    /// Connections served at once; one more is closed as soon as it is
    /// accepted.
    pub max_connections: usize,
    /// How long a client has to send a request's head (line and headers),
    /// counted from the connection's start or the end of its last answer.
    /// A connection that takes longer is closed.
    pub header_timeout: Duration,
}

impl Default for HttpLimits {
    /// Far more connections than scrapers or query clients open, few enough
    /// that their sockets and tasks can't matter; a head's time generous for
    /// any real client on any network.
    fn default() -> Self {
        HttpLimits {
            max_connections: 256,
            header_timeout: Duration::from_secs(10),
        }
    }
}

/// A bearer token as a header can carry it, whole: visible ASCII, no
/// spaces (a space would end it).
pub fn valid_token(token: &str) -> bool {
    !token.is_empty() && token.chars().all(|c| c.is_ascii_graphic())
}

/// Whether a request may be answered: no token configured, or it carries
/// `Authorization: Bearer <token>` with the token whole. The console, the
/// query API and `/metrics` share this rule.
pub fn bearer_ok(headers: &axum::http::HeaderMap, token: Option<&str>) -> bool {
    let Some(token) = token else {
        return true;
    };
    let Some(given) = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.as_bytes().strip_prefix(b"Bearer "))
    else {
        return false;
    };
    constant_time_eq(given, token.as_bytes())
}

/// Compares without stopping at the first difference, so the time taken
/// does not tell a client how much of a guess was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The 401 a request without the token gets, saying what to send.
pub fn unauthorized() -> axum::response::Response {
    use axum::http::{StatusCode, header};
    use axum::response::IntoResponse;
    (
        StatusCode::UNAUTHORIZED,
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::WWW_AUTHENTICATE, "Bearer"),
        ],
        "{\"error\":\"this needs a token: send `Authorization: Bearer <token>`\"}\n",
    )
        .into_response()
}

/// The pause after a failed accept (mostly: out of descriptors), so that
/// retrying doesn't spin a core until one frees.
const ACCEPT_RETRY: Duration = Duration::from_millis(100);

/// Serves `router` on `listener` under `limits` until `shutdown` resolves;
/// then takes no new connection, lets requests in flight be answered, and
/// returns once every connection has closed.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: HttpLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let (stop, stopping) = watch::channel(false);
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
            // Reap finished connections so the set stays small.
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
        };
        let stream = match accepted {
            Ok((stream, _peer)) => stream,
            Err(e) => {
                tracing::warn!(error = %e, retry_in = ?ACCEPT_RETRY, "http: accept failed");
                tokio::select! {
                    () = tokio::time::sleep(ACCEPT_RETRY) => continue,
                    () = &mut shutdown => break,
                }
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tracing::debug!(
                max_connections = limits.max_connections,
                "http: connection closed, too many open"
            );
            drop(stream);
            continue;
        };
        let service = TowerToHyperService::new(router.clone());
        let mut stopping = stopping.clone();
        connections.spawn(async move {
            let _slot = slot;
            let mut builder = http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_timeout);
            let conn = builder.serve_connection(TokioIo::new(stream), service);
            tokio::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                // (Its Ref is dropped inside: it must not live across an await.)
                () = async { let _ = stopping.wait_for(|s| *s).await; } => {
                    // Finish the request in flight, take no other.
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.as_mut().await;
                }
            }
        });
    }
    let _ = stop.send(true);
    while connections.join_next().await.is_some() {}
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::get;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    fn with_auth(value: &str) -> axum::http::HeaderMap {
        let mut h = axum::http::HeaderMap::new();
        h.insert(
            axum::http::header::AUTHORIZATION,
            axum::http::HeaderValue::from_str(value).unwrap(),
        );
        h
    }

    #[test]
    fn a_bearer_token_must_match_whole() {
        assert!(bearer_ok(&with_auth("Bearer s3cret"), Some("s3cret")));
        for wrong in [
            "Bearer s3cre",
            "Bearer s3crett",
            "bearer s3cret",
            "s3cret",
            "Bearer ",
            "Bearer  s3cret",
            "Basic czNjcmV0",
        ] {
            assert!(!bearer_ok(&with_auth(wrong), Some("s3cret")), "{wrong}");
        }
        assert!(!bearer_ok(&axum::http::HeaderMap::new(), Some("s3cret")));
        assert!(bearer_ok(&axum::http::HeaderMap::new(), None));
        assert_eq!(unauthorized().status(), 401);
    }

    async fn start(limits: HttpLimits) -> (std::net::SocketAddr, watch::Sender<bool>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let router = Router::new().route("/", get(|| async { "hello" }));
        let (tx, mut rx) = watch::channel(false);
        tokio::spawn(serve(listener, router, limits, async move {
            let _ = rx.wait_for(|s| *s).await;
        }));
        (addr, tx)
    }

    async fn get_root(addr: std::net::SocketAddr) -> String {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut answer = String::new();
        let _ = s.read_to_string(&mut answer).await;
        answer
    }

    /// Reads until the server closes the connection; what it sent, if any.
    async fn read_until_closed(s: &mut TcpStream) -> Vec<u8> {
        let mut got = Vec::new();
        let mut buf = [0u8; 1024];
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return got,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    }

    /// A client that sends half a request head and then nothing is
    /// disconnected once `header_timeout` has passed, and the server answers
    /// others meanwhile.
    #[tokio::test]
    async fn a_client_that_never_finishes_its_head_is_disconnected() {
        let limits = HttpLimits {
            max_connections: 8,
            header_timeout: Duration::from_millis(300),
        };
        let (addr, _stop) = start(limits).await;
        let mut slow = TcpStream::connect(addr).await.unwrap();
        slow.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            .await
            .unwrap();
        assert!(get_root(addr).await.ends_with("hello"));
        let closed = tokio::time::timeout(Duration::from_secs(10), read_until_closed(&mut slow))
            .await
            .expect("a connection with an unfinished head must be closed");
        // hyper may say 408 before closing; it must not have answered 200.
        assert!(!String::from_utf8_lossy(&closed).contains("200 OK"));
    }

    /// With every slot taken by idle clients, one more connection is closed
    /// at once; once the idle ones go, requests are answered again.
    #[tokio::test]
    async fn connections_over_the_cap_are_closed_and_slots_come_back() {
        let limits = HttpLimits {
            max_connections: 2,
            header_timeout: Duration::from_secs(60),
        };
        let (addr, _stop) = start(limits).await;
        let idle1 = TcpStream::connect(addr).await.unwrap();
        let idle2 = TcpStream::connect(addr).await.unwrap();
        // Let the server accept both before the third arrives.
        let mut third = None;
        for _ in 0..100 {
            let mut s = TcpStream::connect(addr).await.unwrap();
            let _ = s
                .write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                .await;
            let got = read_until_closed(&mut s).await;
            if got.is_empty() {
                third = Some(());
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(
            third.is_some(),
            "a third connection was served past a cap of 2"
        );
        drop((idle1, idle2));
        let mut answered = false;
        for _ in 0..200 {
            if get_root(addr).await.ends_with("hello") {
                answered = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(answered, "slots freed by closed clients must serve again");
    }

    /// Shutdown lets the server's future end, with a client still connected
    /// and idle.
    #[tokio::test]
    async fn shutdown_ends_serving_with_an_idle_client_connected() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let router = Router::new().route("/", get(|| async { "hello" }));
        let (tx, mut rx) = watch::channel(false);
        let server = tokio::spawn(serve(listener, router, HttpLimits::default(), async move {
            let _ = rx.wait_for(|s| *s).await;
        }));
        let _idle = TcpStream::connect(addr).await.unwrap();
        assert!(get_root(addr).await.ends_with("hello"));
        tx.send(true).unwrap();
        tokio::time::timeout(Duration::from_secs(30), server)
            .await
            .expect("serve must return after shutdown")
            .unwrap()
            .unwrap();
    }
}
