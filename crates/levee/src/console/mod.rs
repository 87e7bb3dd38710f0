//! The web console: the pipeline as a graph with live rates, the metric
//! filters' counters over time, and SQL over the lake, in a browser.
//!
//! Served inside `levee run` when the config has `[console]`, and by
//! `levee console --lake DIR` for a lake alone (no pipeline: its pages say
//! so). Like the query API it runs on threads of its own at a lower
//! priority, with its own runtime, so neither a query nor a page's polling
//! takes the collector's workers; the history behind the graphs is
//! sampled there too, from the registry's page, as a scraper would.
//!
//! Routes: `/` (the page) and `/assets/NAME` (its scripts and styles,
//! embedded in the binary) are open; everything else, the API under
//! `/api/`, asks for the bearer token when one is set. The console only
//! reads: GET, and POST for the SQL page's queries (which only read); any
//! other method is refused.

mod assets;
mod examples;
mod history;
mod live;
mod metrics;
mod pipeline;
mod sql;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use levee_pipeline::config::Pipeline;
use levee_pipeline::http_server;
use levee_pipeline::metrics::Metrics;
use levee_query::QueryOptions;

use crate::serving;

pub use pipeline::Topology;

/// What the console needs, from `[console]` or `levee console`'s flags.
pub struct Settings {
    /// Where to listen.
    pub listen: SocketAddr,
    /// The bearer token `/api/` asks for, if any.
    pub token: Option<String>,
    /// The lake the SQL page queries, if any.
    pub lake: Option<String>,
    /// How often the history takes a point.
    pub resolution: Duration,
    /// The limits the SQL page's queries run under.
    pub options: QueryOptions,
    /// The pipeline running beside it, if any.
    pub running: Option<Running>,
}

/// A running pipeline, as the console sees it.
pub struct Running {
    /// Its components and how they are wired.
    pub topology: Topology,
    /// Its registry, sampled for the history.
    pub metrics: Arc<Metrics>,
}

impl Settings {
    /// `[console]`, beside the pipeline it watches.
    pub fn of(
        settings: levee_pipeline::console::ConsoleSettings,
        pipeline: &Pipeline,
        metrics: Arc<Metrics>,
    ) -> Settings {
        Settings {
            listen: settings.listen,
            token: settings.token,
            lake: settings.lake,
            resolution: settings.resolution,
            options: QueryOptions::default(),
            running: Some(Running {
                topology: Topology::of(pipeline),
                metrics,
            }),
        }
    }
}

pub use crate::serving::Server;

/// The state the console's own routes share.
struct Console {
    token: Option<String>,
    topology: Option<Topology>,
    history: Option<Arc<history::History>>,
    live: Option<live::Live>,
}

/// Binds the address (so a port in use is an error now, not later) and
/// starts serving, and sampling, on threads of its own.
pub fn start(settings: Settings) -> anyhow::Result<Server> {
    let listener = serving::bind("console", settings.listen)?;
    // The SQL page's queries split into this many partitions; the pages'
    // own work is small beside them.
    let threads = settings.options.target_partitions.max(1);
    // With a pipeline beside it: its graph, a history sampled in the
    // background, and the live rates that read the history's last page.
    let (topology, history, live, sampler) = match settings.running {
        Some(Running { topology, metrics }) => {
            let history = Arc::new(history::History::new(settings.resolution));
            let sampler: serving::Background =
                Box::pin(history::sample(history.clone(), metrics.clone()));
            let live = live::Live::new(metrics, history.clone());
            (Some(topology), Some(history), Some(live), Some(sampler))
        }
        None => (None, None, None, None),
    };
    let console = Arc::new(Console {
        token: settings.token,
        topology,
        history,
        live,
    });
    let app = router(console, sql::routes(settings.lake, settings.options));
    let names = serving::Names {
        what: "console",
        thread: "levee-console",
        workers: "levee-console",
    };
    serving::start(names, listener, threads, app, sampler)
}

fn router(console: Arc<Console>, sql: Router) -> Router {
    let token = console.token.clone();
    Router::new()
        .route("/api/pipeline", get(pipeline::get))
        .route("/api/metrics", get(metrics::families))
        .route("/api/metrics/series", get(metrics::series))
        .with_state(console)
        .merge(sql)
        .route("/", get(assets::index))
        .route("/assets/{name}", get(assets::asset))
        .fallback(|| async { error(StatusCode::NOT_FOUND, "not found") })
        .layer(middleware::from_fn_with_state(token, guard))
}

/// Paths anyone may read: the page and its files, which hold no data.
fn is_public(path: &str) -> bool {
    path == "/"
        || path
            .strip_prefix("/assets/")
            .is_some_and(|n| !n.contains('/'))
}

/// The console's rules, before any route: only reads (GET; POST for the
/// SQL page's queries, which the routes allow one by one), the token for
/// all but the page's shell, and headers that keep the page from being
/// framed or its files from being read as something else.
async fn guard(State(token): State<Option<String>>, request: Request, next: Next) -> Response {
    let mut response = if !matches!(*request.method(), Method::GET | Method::HEAD | Method::POST) {
        let mut r = error(
            StatusCode::METHOD_NOT_ALLOWED,
            "the console only reads: GET, or POST a query",
        );
        r.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD, POST"));
        r
    } else if !is_public(request.uri().path())
        && !http_server::bearer_ok(request.headers(), token.as_deref())
    {
        http_server::unauthorized()
    } else {
        next.run(request).await
    };
    let headers = response.headers_mut();
    for (name, value) in [
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; \
             frame-ancestors 'none'; form-action 'self'",
        ),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

/// `{"error": message}` with `status`.
pub(crate) fn error(status: StatusCode, message: &str) -> Response {
    json(status, &serde_json::json!({ "error": message }))
}

/// A JSON answer, never cached: it is live.
pub(crate) fn json(status: StatusCode, body: &serde_json::Value) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        format!("{body}\n"),
    )
        .into_response()
}

/// One parameter of a request's query string, percent-decoded
/// (`?name=outgoing_msg&by=type`); the first when it is given twice.
pub(crate) fn query_param(uri: &axum::http::Uri, key: &str) -> Option<String> {
    uri.query()?.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (decode(k) == key).then(|| decode(v))
    })
}

fn decode(text: &str) -> String {
    let spaced = text.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_page_and_its_files_are_public() {
        assert!(is_public("/"));
        assert!(is_public("/assets/console.js"));
        for path in [
            "/api/pipeline",
            "/assets/a/b",
            "//api/pipeline",
            "/api",
            "/assets",
            "/index.html",
        ] {
            assert!(!is_public(path), "{path}");
        }
    }

    #[test]
    fn query_parameters_are_decoded() {
        let uri: axum::http::Uri = "/api/metrics/series?name=outgoing%5Fmsg&by=type&by=x&q=a+b"
            .parse()
            .unwrap();
        assert_eq!(query_param(&uri, "name").as_deref(), Some("outgoing_msg"));
        assert_eq!(query_param(&uri, "by").as_deref(), Some("type"));
        assert_eq!(query_param(&uri, "q").as_deref(), Some("a b"));
        assert_eq!(query_param(&uri, "nope"), None);
        let bare: axum::http::Uri = "/api/metrics".parse().unwrap();
        assert_eq!(query_param(&bare, "name"), None);
    }
}
