//! `/metrics`: the registry in Prometheus' classic text format, or in
//! OpenMetrics for a scraper that asks for it, over HTTP, on the address
//! `[metrics] listen` names (`127.0.0.1:24231` unless given, the port
//! fluent-plugin-prometheus used). `/health` says the pipeline runs; `/`
//! links both.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderMap, header};
use axum::response::IntoResponse;
use axum::routing::get;
use serde::Deserialize;
use tokio::net::TcpListener;

use super::Metrics;
use super::classic::{CLASSIC, OPENMETRICS};

/// `[metrics]`: where the metrics are served.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// Serve `/metrics` on this address; `"127.0.0.1:24231"` when
    /// `[metrics]` is there without it. No `[metrics]`: no endpoint (the
    /// counters are still kept and summarised at exit).
    #[serde(default = "default_listen", deserialize_with = "socket_addr")]
    pub listen: Option<SocketAddr>,
}

/// Fluentd's Prometheus plugin's port, on loopback only: the page is for
/// this host's scraper unless the config opens it wider.
fn default_listen() -> Option<SocketAddr> {
    Some(SocketAddr::from(([127, 0, 0, 1], 24231)))
}

fn socket_addr<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<SocketAddr>, D::Error> {
    let text = String::deserialize(d)?;
    text.parse().map(Some).map_err(|_| {
        serde::de::Error::custom(format!(
            "invalid address {text:?}: write an IP address and a port, such as \"127.0.0.1:24231\""
        ))
    })
}

/// The page at `/`.
const INDEX: &str = "<!doctype html>\n<title>levee</title>\n<h1>levee</h1>\n\
<p><a href=\"/metrics\">/metrics</a>: every metric (Prometheus text; OpenMetrics on request)</p>\n\
<p><a href=\"/health\">/health</a>: <code>ok</code> while the pipeline runs</p>\n";

/// OpenMetrics if the scraper's `Accept` names it, else the classic
/// format, as Prometheus itself negotiates.
fn wants_openmetrics(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|kind| {
            kind.split(';').next().is_some_and(|t| {
                t.trim()
                    .eq_ignore_ascii_case("application/openmetrics-text")
            })
        })
}

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
    let app = Router::new()
        .route(
            "/metrics",
            get(move |headers: HeaderMap| {
                let metrics = metrics.clone();
                async move {
                    if wants_openmetrics(&headers) {
                        ([(header::CONTENT_TYPE, OPENMETRICS)], metrics.encode()).into_response()
                    } else {
                        ([(header::CONTENT_TYPE, CLASSIC)], metrics.encode_classic())
                            .into_response()
                    }
                }
            }),
        )
        // The server runs inside the pipeline and stops with it: an answer
        // means the pipeline runs.
        .route(
            "/health",
            get(|| async {
                (
                    [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                    "ok\n",
                )
            }),
        )
        .route(
            "/",
            get(|| async { ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], INDEX) }),
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
        get_with(addr, path, "").await
    }

    /// The same, with extra header lines (each ending in CRLF).
    async fn get_with(addr: SocketAddr, path: &str, headers: &str) -> String {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let request =
            format!("GET {path} HTTP/1.1\r\nHost: x\r\n{headers}Connection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).await.unwrap();
        response
    }

    #[tokio::test]
    async fn serves_classic_by_default_openmetrics_on_request_health_and_index() {
        let metrics = Arc::new(Metrics::new());
        metrics.source("nginx").events.inc_by(7);
        let listener = bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve(listener, metrics, async {
            let _ = stopped.await;
        }));
        let classic = get(addr, "/metrics").await;
        assert!(classic.starts_with("HTTP/1.1 200"), "{classic}");
        assert!(
            classic.contains("content-type: text/plain; version=0.0.4; charset=utf-8"),
            "{classic}"
        );
        assert!(
            classic.contains(
                "# TYPE levee_source_events_total counter\n\
                 levee_source_events_total{source=\"nginx\"} 7\n"
            ),
            "{classic}"
        );
        assert!(!classic.contains("# EOF"), "{classic}");
        // Prometheus asks for both, OpenMetrics first.
        let open = get_with(
            addr,
            "/metrics",
            "Accept: application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.4\r\n",
        )
        .await;
        assert!(
            open.contains("content-type: application/openmetrics-text"),
            "{open}"
        );
        assert!(
            open.contains("# TYPE levee_source_events counter\n"),
            "{open}"
        );
        assert!(open.ends_with("# EOF\n"), "{open}");
        let plain = get_with(addr, "/metrics", "Accept: text/plain; version=0.0.4\r\n").await;
        assert!(plain.contains("version=0.0.4"), "{plain}");
        let health = get(addr, "/health").await;
        assert!(health.starts_with("HTTP/1.1 200"), "{health}");
        assert!(health.ends_with("\r\n\r\nok\n"), "{health}");
        let index = get(addr, "/").await;
        assert!(index.starts_with("HTTP/1.1 200"), "{index}");
        assert!(index.contains("href=\"/metrics\""), "{index}");
        assert!(index.contains("href=\"/health\""), "{index}");
        let missing = get(addr, "/nothing").await;
        assert!(missing.starts_with("HTTP/1.1 404"), "{missing}");
        stop.send(()).unwrap();
        server.await.unwrap().unwrap();
    }

    #[test]
    fn metrics_without_listen_serves_on_24231_on_loopback() {
        let config: MetricsConfig = toml::from_str("").unwrap();
        assert_eq!(config.listen, Some("127.0.0.1:24231".parse().unwrap()));
        assert_eq!(MetricsConfig::default().listen, None);
    }
}
