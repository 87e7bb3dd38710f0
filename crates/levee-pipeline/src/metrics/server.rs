//! `/metrics`: the registry in Prometheus' text format, over HTTP, on the
//! address `[metrics] listen` names (fluent-plugin-prometheus used 24231).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use serde::Deserialize;
use tokio::net::TcpListener;

use super::Metrics;

/// `[metrics]`: where the metrics are served.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// Serve `/metrics` on this address, such as `"127.0.0.1:24231"`.
    /// Unset: no endpoint (the counters are still kept and summarised at exit).
    #[serde(default, deserialize_with = "socket_addr")]
    pub listen: Option<SocketAddr>,
}

fn socket_addr<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<SocketAddr>, D::Error> {
    let text = String::deserialize(d)?;
    text.parse().map(Some).map_err(|_| {
        serde::de::Error::custom(format!(
            "invalid address {text:?}: write an IP address and a port, such as \"127.0.0.1:24231\""
        ))
    })
}

/// The media type of what [`Metrics::encode`] writes.
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Binds the address now, so a port in use is an error at start, not later.
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

/// Serves `/metrics` until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    metrics: Arc<Metrics>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = Router::new().route(
        "/metrics",
        get(move || {
            let metrics = metrics.clone();
            async move { ([(header::CONTENT_TYPE, OPENMETRICS)], metrics.encode()).into_response() }
        }),
    );
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Raw HTTP over a real socket, as a scraper sends it.
    async fn get(addr: SocketAddr, path: &str) -> String {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).await.unwrap();
        response
    }

    #[tokio::test]
    async fn serves_the_registry_and_nothing_else() {
        let metrics = Arc::new(Metrics::new());
        metrics.source("nginx").events.inc_by(7);
        let listener = bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve(listener, metrics, async {
            let _ = stopped.await;
        }));
        let ok = get(addr, "/metrics").await;
        assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
        assert!(
            ok.contains("content-type: application/openmetrics-text"),
            "{ok}"
        );
        assert!(
            ok.contains("levee_source_events_total{source=\"nginx\"} 7"),
            "{ok}"
        );
        let missing = get(addr, "/").await;
        assert!(missing.starts_with("HTTP/1.1 404"), "{missing}");
        stop.send(()).unwrap();
        server.await.unwrap().unwrap();
    }
}
