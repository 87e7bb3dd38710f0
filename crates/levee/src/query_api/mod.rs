//! The HTTP query API: `POST /v1/query` answers SQL over a lake.
//!
//! Served inside `levee run` when the config has `[query_api]`, and by
//! `levee serve` for a lake alone. It runs on threads of its own, at a lower
//! priority than the collector's, with its own runtime: a query is CPU work
//! that must never take the collector's workers. Every query runs under
//! [`levee_query::QueryOptions`]' limits.
//!
//! A request's body is the SQL (`text/plain`, or no content type), or
//! `{"sql": "..."}` (`application/json`). The answer is the document
//! `levee query --format json` prints ([`levee_query::write_json_document`]);
//! an error is
//! `{"error": "..."}` with a status that says whose fault it is:
//!
//! | status | when |
//! | --- | --- |
//! | 400 | the SQL is wrong: syntax, an unknown table or column, a statement that is not a read |
//! | 401 | a token is configured and the request does not carry it |
//! | 408 | the query went over the time limit (`"limit": "time"`) |
//! | 413 | the request's body is over 1 MiB |
//! | 415 | a body that is neither text nor JSON |
//! | 503 | the memory limit (`"limit": "memory"`) or the cap on queries at once (`"limit": "concurrency"`, with `Retry-After`) |
//! | 500 | the lake could not be read |
//!
//! Tables created and hours written after the server started are seen:
//! hours because every query lists its table's folders anew, tables because
//! each request re-lists the lake's tables (a cheap listing of two folder
//! levels) and opens a new session when they changed, or when the session is
//! a minute old (so a table's columns, which compaction's catalog may widen,
//! are never more than a minute stale): see [`Sessions`], which the console's
//! SQL page shares.

mod sessions;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use levee_lake::Lake;
use levee_pipeline::http_server;
use levee_query::{Limit, QueryError, QueryOptions};

use crate::serving;

pub(crate) use sessions::Sessions;

/// The most SQL a request may carry: far more than any statement written
/// by hand, and a bound on what a client can make the server buffer.
pub(crate) const MAX_BODY: usize = 1024 * 1024;

/// What the server needs, from `[query_api]` or `levee serve`'s flags.
#[derive(Clone)]
pub struct Settings {
    /// Where to listen.
    pub listen: SocketAddr,
    /// The lake's root.
    pub lake: String,
    /// The bearer token requests must carry, if any.
    pub token: Option<String>,
    /// The limits every query runs under; `target_partitions` is also the
    /// number of the server's threads.
    pub options: QueryOptions,
}

impl From<levee_pipeline::query_api::QueryApiSettings> for Settings {
    fn from(s: levee_pipeline::query_api::QueryApiSettings) -> Self {
        Settings {
            listen: s.listen,
            lake: s.lake,
            token: s.token,
            options: QueryOptions {
                timeout: s.timeout,
                memory_limit: s.memory_limit,
                max_concurrent: s.max_concurrent,
                target_partitions: s.threads,
            },
        }
    }
}

pub use crate::serving::Server;

/// Opens the lake, binds the address (so a port in use is an error now,
/// not later) and starts serving on threads of its own.
pub fn start(settings: Settings) -> anyhow::Result<Server> {
    let lake = Lake::open(&settings.lake)
        .map_err(|e| anyhow::anyhow!("query API: cannot open the lake: {e}"))?;
    let listener = serving::bind("query API", settings.listen)?;
    let threads = settings.options.target_partitions.max(1);
    let api = Arc::new(Api {
        sessions: Sessions::new(lake, settings.options),
        token: settings.token,
    });
    let names = serving::Names {
        what: "query API",
        thread: "levee-api",
        workers: "levee-query",
    };
    serving::start(names, listener, threads, router(api), None)
}

/// The state every request shares.
struct Api {
    sessions: Sessions,
    token: Option<String>,
}

impl Api {
    /// Whether the request may query: no token configured, or it carries
    /// it (the rule the console and `/metrics` share).
    fn authorized(&self, headers: &HeaderMap) -> bool {
        http_server::bearer_ok(headers, self.token.as_deref())
    }
}

fn router(api: Arc<Api>) -> Router {
    Router::new()
        .route("/v1/query", post(query))
        .fallback(|| async { error(StatusCode::NOT_FOUND, "not found: POST /v1/query".into()) })
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(api)
}

/// `{"sql": "..."}`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Request {
    sql: String,
}

async fn query(State(api): State<Arc<Api>>, headers: HeaderMap, body: Bytes) -> Response {
    if !api.authorized(&headers) {
        let mut response = error(
            StatusCode::UNAUTHORIZED,
            "this API needs a token: send `Authorization: Bearer <token>`".into(),
        );
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return response;
    }
    let sql = match sql_of(&headers, &body) {
        Ok(sql) => sql,
        Err(response) => return *response,
    };
    let session = match api.sessions.session().await {
        Ok(s) => s,
        Err(e) => return query_error(&e),
    };
    match session.sql(&sql).await {
        Ok(result) => match document(&result) {
            Ok(body) => (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json")],
                body,
            )
                .into_response(),
            Err(e) => query_error(&e),
        },
        Err(e) => query_error(&e),
    }
}

/// The answer as `levee query --format json` prints it.
pub(crate) fn document(result: &levee_query::QueryResult) -> Result<Vec<u8>, QueryError> {
    let mut body = Vec::new();
    levee_query::write_json_document(&mut body, &result.schema, &result.batches, &result.stats)?;
    Ok(body)
}

/// The statement a request carries, or the answer that says why there is
/// none (boxed: a `Response` is large beside a `String`).
pub(crate) fn sql_of(headers: &HeaderMap, body: &[u8]) -> Result<String, Box<Response>> {
    let kind = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        });
    let refuse = |status, message| Box::new(error(status, message));
    let sql = match kind.as_deref() {
        Some("application/json") => serde_json::from_slice::<Request>(body)
            .map(|r| r.sql)
            .map_err(|e| {
                refuse(
                    StatusCode::BAD_REQUEST,
                    format!("the body is not {{\"sql\": \"...\"}}: {e}"),
                )
            })?,
        None | Some("text/plain" | "application/sql") => String::from_utf8(body.to_vec())
            .map_err(|_| refuse(StatusCode::BAD_REQUEST, "the SQL is not UTF-8".into()))?,
        Some(other) => {
            return Err(refuse(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!(
                    "cannot read a body of type {other}: send the SQL as text/plain, or {{\"sql\": \"...\"}} as application/json"
                ),
            ));
        }
    };
    if sql.trim().is_empty() {
        return Err(refuse(
            StatusCode::BAD_REQUEST,
            "no SQL in the request".into(),
        ));
    }
    Ok(sql)
}

/// A query's failure, with the status that says whose fault it is.
pub(crate) fn query_error(e: &QueryError) -> Response {
    // No wildcard: a new kind of error must be given its status here.
    let (status, limit) = match e {
        QueryError::Syntax(_)
        | QueryError::Plan(_)
        | QueryError::Execution(_)
        | QueryError::UnknownTable { .. }
        | QueryError::UnknownColumn { .. } => (StatusCode::BAD_REQUEST, None),
        QueryError::Limit { limit, .. } => match limit {
            Limit::Time => (StatusCode::REQUEST_TIMEOUT, Some("time")),
            Limit::Memory => (StatusCode::SERVICE_UNAVAILABLE, Some("memory")),
            Limit::Concurrency => (StatusCode::SERVICE_UNAVAILABLE, Some("concurrency")),
        },
        QueryError::Lake(_)
        | QueryError::Table { .. }
        | QueryError::NoLake { .. }
        | QueryError::Output { .. } => (StatusCode::INTERNAL_SERVER_ERROR, None),
    };
    let body = match limit {
        Some(limit) => serde_json::json!({"error": e.to_string(), "limit": limit}),
        None => serde_json::json!({"error": e.to_string()}),
    };
    let mut response = json(status, &body);
    if limit == Some("concurrency") {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    response
}

pub(crate) fn error(status: StatusCode, message: String) -> Response {
    json(status, &serde_json::json!({ "error": message }))
}

pub(crate) fn json(status: StatusCode, body: &serde_json::Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        format!("{body}\n"),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(k.clone(), HeaderValue::from_str(v).unwrap());
        }
        h
    }

    fn api(token: Option<&str>) -> Api {
        let dir = std::env::temp_dir();
        Api {
            sessions: Sessions::new(
                Lake::open(dir.to_str().unwrap()).unwrap(),
                QueryOptions::default(),
            ),
            token: token.map(str::to_owned),
        }
    }

    /// The API asks for its token by `http_server::bearer_ok`, whose own
    /// tests hold the cases of a token that must match whole.
    #[test]
    fn the_token_is_asked_for_only_when_set() {
        let api = api(Some("s3cret"));
        assert!(api.authorized(&headers(&[(header::AUTHORIZATION, "Bearer s3cret")])));
        assert!(!api.authorized(&headers(&[(header::AUTHORIZATION, "Bearer s3cre")])));
        assert!(!api.authorized(&HeaderMap::new()));
        assert!(self::api(None).authorized(&HeaderMap::new()));
    }

    #[test]
    fn the_sql_comes_as_text_or_as_json() {
        let text = sql_of(&HeaderMap::new(), b"select 1").ok().unwrap();
        assert_eq!(text, "select 1");
        let json = headers(&[(header::CONTENT_TYPE, "application/json; charset=utf-8")]);
        assert_eq!(
            sql_of(&json, br#"{"sql":"select 2"}"#).ok().unwrap(),
            "select 2"
        );
        let status = |h: &HeaderMap, body: &[u8]| sql_of(h, body).err().unwrap().status();
        assert_eq!(
            status(&json, br#"{"query":"select 2"}"#),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(status(&json, b"select 2"), StatusCode::BAD_REQUEST);
        assert_eq!(status(&json, br#"{"sql":"  "}"#), StatusCode::BAD_REQUEST);
        assert_eq!(
            status(&HeaderMap::new(), b"\xff\xfe"),
            StatusCode::BAD_REQUEST
        );
        let form = headers(&[(header::CONTENT_TYPE, "application/x-www-form-urlencoded")]);
        assert_eq!(
            status(&form, b"sql=select+1"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE
        );
    }

    #[test]
    fn each_limit_has_its_status() {
        let limit = |limit| QueryError::Limit {
            limit,
            message: "x".into(),
        };
        assert_eq!(
            query_error(&limit(Limit::Time)).status(),
            StatusCode::REQUEST_TIMEOUT
        );
        assert_eq!(
            query_error(&limit(Limit::Memory)).status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
        let busy = query_error(&limit(Limit::Concurrency));
        assert_eq!(busy.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(busy.headers()[header::RETRY_AFTER], "1");
        assert_eq!(
            query_error(&QueryError::Syntax("x".into())).status(),
            StatusCode::BAD_REQUEST
        );
    }

    /// A mistyped table or column is the client's mistake, not the server's.
    #[test]
    fn unknown_names_are_bad_requests() {
        let table = QueryError::UnknownTable {
            name: "eventlogs".into(),
            nearest: Some("eventlog".into()),
            tables: vec!["eventlog".into()],
            lake_empty: None,
        };
        let column = QueryError::UnknownColumn {
            name: "nope".into(),
            nearest: None,
            columns: vec!["dt".into()],
        };
        for e in [table, column] {
            assert_eq!(query_error(&e).status(), StatusCode::BAD_REQUEST, "{e}");
        }
    }
}
