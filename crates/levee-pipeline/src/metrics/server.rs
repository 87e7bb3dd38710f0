//! `/metrics`: the registry in Prometheus' classic text format, or in
//! OpenMetrics for a scraper that asks for it, over HTTP, on the address
//! `[metrics] listen` names (`127.0.0.1:24231` unless given, the port
//! fluent-plugin-prometheus used). `/health` says whether every component
//! runs (see [`super::health`]); `/` links both.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use levee_io::units::Interval;
use serde::Deserialize;
use tokio::net::TcpListener;

use crate::http_server::HttpLimits;

use super::classic::{CLASSIC, OPENMETRICS};
use super::health::DEFAULT_UNHEALTHY_AFTER;
use super::{Metrics, Names};

/// `[metrics]`: where the metrics are served.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// Serve `/metrics` on this address; `"127.0.0.1:24231"` when
    /// `[metrics]` is there without it. No `[metrics]`: no endpoint (the
    /// counters are still kept and summarised at exit).
    #[serde(default = "default_listen", deserialize_with = "socket_addr")]
    pub listen: Option<SocketAddr>,
    /// How long an output may be failing (its sink calls in retries)
    /// before `/health` answers 503 for it, such as `"5m"`. Default
    /// `"60s"`. A source that stopped with an error, or an output whose
    /// sink has not opened, makes it 503 at once.
    #[serde(default)]
    pub unhealthy_after: Option<Interval>,
    /// Which names the outputs' figures are served under: `"levee"` (the
    /// default: `levee_output_events_total`, ...) or `"fluentd"`, which
    /// also serves Fluentd's (`fluentd_output_status_emit_records`,
    /// `..._emit_count`, `..._retry_count`, `..._num_errors`,
    /// `..._buffer_queue_length`, `..._buffer_total_bytes`,
    /// `..._buffer_available_space_ratio`, labelled `plugin_id` and
    /// `type`) for the same figures, so td-agent's dashboards keep working.
    #[serde(default)]
    pub names: Names,
    /// When set, `/metrics` asks for `Authorization: Bearer <token>` (a
    /// Prometheus job's `authorization: { credentials: ... }`), else
    /// answers 401. `/health` and `/` stay open: probes rarely carry
    /// tokens. Visible ASCII, no spaces.
    #[serde(default, deserialize_with = "token")]
    pub token: Option<String>,
}

impl MetricsConfig {
    /// `unhealthy_after`, or its default.
    pub fn unhealthy_after(&self) -> Duration {
        self.unhealthy_after
            .map_or(DEFAULT_UNHEALTHY_AFTER, |i| i.0)
    }
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

fn token<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let text = String::deserialize(d)?;
    if crate::http_server::valid_token(&text) {
        Ok(Some(text))
    } else {
        Err(serde::de::Error::custom(
            "must be a token of visible ASCII characters, no spaces",
        ))
    }
}

/// The page at `/`.
const INDEX: &str = "<!doctype html>\n<title>levee</title>\n<h1>levee</h1>\n\
<p><a href=\"/metrics\">/metrics</a>: every metric (Prometheus text; OpenMetrics on request)</p>\n\
<p><a href=\"/health\">/health</a>: <code>ok</code> while every component runs, else 503 and why</p>\n";

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

/// `/health`'s answer: 200 `ok`, or 503 with one line per reason.
fn health(metrics: &Metrics, unhealthy_after: Duration) -> axum::response::Response {
    let text = [(header::CONTENT_TYPE, "text/plain; charset=utf-8")];
    match metrics.health().check(unhealthy_after) {
        Ok(()) => (StatusCode::OK, text, "ok\n".to_owned()).into_response(),
        Err(reasons) => {
            let mut body = reasons.join("\n");
            body.push('\n');
            (StatusCode::SERVICE_UNAVAILABLE, text, body).into_response()
        }
    }
}

/// Serves `/metrics`, `/health` and `/` as `config` says, until
/// `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    metrics: Arc<Metrics>,
    config: MetricsConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let unhealthy_after = config.unhealthy_after();
    let for_health = metrics.clone();
    let token = config.token.clone();
    let app = Router::new()
        .route(
            "/metrics",
            get(move |headers: HeaderMap| {
                let metrics = metrics.clone();
                let token = token.clone();
                async move {
                    if !crate::http_server::bearer_ok(&headers, token.as_deref()) {
                        return crate::http_server::unauthorized();
                    }
                    if wants_openmetrics(&headers) {
                        ([(header::CONTENT_TYPE, OPENMETRICS)], metrics.encode()).into_response()
                    } else {
                        ([(header::CONTENT_TYPE, CLASSIC)], metrics.encode_classic())
                            .into_response()
                    }
                }
            }),
        )
        .route(
            "/health",
            get(move || {
                let metrics = for_health.clone();
                async move { health(&metrics, unhealthy_after) }
            }),
        )
        .route(
            "/",
            get(|| async { ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], INDEX) }),
        );
    crate::http_server::serve(listener, app, HttpLimits::default(), shutdown).await
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
        let server = tokio::spawn(serve(listener, metrics, MetricsConfig::default(), async {
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

    #[tokio::test]
    async fn health_is_503_with_a_line_per_reason_then_200_once_all_is_well() {
        let metrics = Arc::new(Metrics::new());
        let listener = bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let config: MetricsConfig = toml::from_str("unhealthy_after = \"1h\"").unwrap();
        assert_eq!(config.unhealthy_after(), Duration::from_secs(3600));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve(listener, metrics.clone(), config, async {
            let _ = stopped.await;
        }));
        let source = metrics.health().component("source nginx");
        source.down("reading access.log: permission denied");
        // Failing for less than unhealthy_after: not a reason yet.
        metrics
            .output("lake", "lake")
            .health
            .failing("put: timed out");
        let sick = get(addr, "/health").await;
        assert!(sick.starts_with("HTTP/1.1 503"), "{sick}");
        assert!(
            sick.ends_with(
                "\r\n\r\nsource nginx: down for 0s: reading access.log: permission denied\n"
            ),
            "{sick}"
        );
        source.ok();
        metrics.output("lake", "lake").health.ok();
        let well = get(addr, "/health").await;
        assert!(well.starts_with("HTTP/1.1 200"), "{well}");
        assert!(well.ends_with("\r\n\r\nok\n"), "{well}");
        stop.send(()).unwrap();
        server.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn with_a_token_metrics_asks_for_it_and_health_does_not() {
        let metrics = Arc::new(Metrics::new());
        metrics.source("nginx").events.inc_by(3);
        let listener = bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let config: MetricsConfig = toml::from_str("token = \"s3cret\"").unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve(listener, metrics, config, async {
            let _ = stopped.await;
        }));
        let refused = get(addr, "/metrics").await;
        assert!(refused.starts_with("HTTP/1.1 401"), "{refused}");
        assert!(refused.contains("www-authenticate: Bearer"), "{refused}");
        assert!(!refused.contains("levee_source_events_total"), "{refused}");
        let wrong = get_with(addr, "/metrics", "Authorization: Bearer s3cre\r\n").await;
        assert!(wrong.starts_with("HTTP/1.1 401"), "{wrong}");
        let right = get_with(addr, "/metrics", "Authorization: Bearer s3cret\r\n").await;
        assert!(right.starts_with("HTTP/1.1 200"), "{right}");
        assert!(
            right.contains("levee_source_events_total{source=\"nginx\"} 3"),
            "{right}"
        );
        let health = get(addr, "/health").await;
        assert!(health.starts_with("HTTP/1.1 200"), "{health}");
        stop.send(()).unwrap();
        server.await.unwrap().unwrap();
        assert!(toml::from_str::<MetricsConfig>("token = \"a b\"").is_err());
        assert!(toml::from_str::<MetricsConfig>("token = \"\"").is_err());
    }

    #[test]
    fn metrics_without_listen_serves_on_24231_on_loopback() {
        let config: MetricsConfig = toml::from_str("").unwrap();
        assert_eq!(config.listen, Some("127.0.0.1:24231".parse().unwrap()));
        assert_eq!(MetricsConfig::default().listen, None);
        assert_eq!(config.unhealthy_after(), Duration::from_secs(60));
    }
}
