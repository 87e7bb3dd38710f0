//! The console's SQL page, its server half: the lake's tables, queries
//! answered as the query API answers them, downloads, and the "try this"
//! list.
//!
//! | route | answer |
//! | --- | --- |
//! | `GET /api/tables` | `{"lake", "tables": [{database, table, name, copies, columns, hours, rows, json_bytes, parquet_bytes}], "skipped"}` |
//! | `POST /api/query` | `{"sql": "..."}` in; the query API's document out (columns, rows, the accounting in `stats`), its rows cut at [`MAX_ROWS`] |
//! | `POST /api/query.csv`, `/api/query.parquet` | the whole answer as a file (`Content-Disposition: attachment`) |
//! | `GET /api/examples` | `[{"title", "sql"}]`: see [`super::examples`] |
//!
//! Sessions, limits and the statuses of errors are the query API's own
//! ([`crate::query_api`]): the same read-only session, which refuses DDL,
//! DML and `SET`, and reads nothing but the lake's tables.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use levee_lake::{Lake, describe};
use levee_query::{Format, QueryOptions, QueryResult};

use super::examples;
use crate::query_api::{self, MAX_BODY, Sessions};

/// The most rows an answer shows in the page: a table of more is not read
/// by anyone, and a `select *` of a big table would otherwise make a
/// document of hundreds of megabytes. The downloads have every row; the
/// page says how many there were (`stats.rows`).
pub(crate) const MAX_ROWS: usize = 10_000;

/// What the routes serve: a lake, none configured, or one that would not open.
enum Sql {
    Lake(Box<Sessions>),
    NoLake,
    Broken(String),
}

/// The SQL page's routes, over the lake at `lake` (none: the page says
/// so), every query under `options`.
pub(crate) fn routes(lake: Option<String>, options: QueryOptions) -> Router {
    let sql = match lake {
        None => Sql::NoLake,
        Some(location) => match Lake::open(&location) {
            Ok(lake) => Sql::Lake(Box::new(Sessions::new(lake, options))),
            Err(e) => Sql::Broken(format!("cannot open the lake {location}: {e}")),
        },
    };
    Router::new()
        .route("/api/tables", get(tables))
        .route("/api/query", post(query))
        .route("/api/query.csv", post(download_csv))
        .route("/api/query.parquet", post(download_parquet))
        .route("/api/examples", get(examples))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(Arc::new(sql))
}

const NO_LAKE: &str =
    "this console has no lake: set `lake` in [console], or give `levee console --lake DIR`";

impl Sql {
    /// The sessions, or the answer that says why there are none.
    fn sessions(&self) -> Result<&Sessions, Box<Response>> {
        match self {
            Sql::Lake(s) => Ok(s),
            Sql::NoLake => Err(Box::new(query_api::error(
                StatusCode::NOT_FOUND,
                NO_LAKE.into(),
            ))),
            Sql::Broken(e) => Err(Box::new(query_api::error(
                StatusCode::INTERNAL_SERVER_ERROR,
                e.clone(),
            ))),
        }
    }
}

async fn tables(State(sql): State<Arc<Sql>>) -> Response {
    let sessions = match sql.as_ref() {
        Sql::NoLake => {
            return query_api::json(
                StatusCode::OK,
                &serde_json::json!({"lake": null, "tables": [], "message": NO_LAKE}),
            );
        }
        other => match other.sessions() {
            Ok(s) => s,
            Err(response) => return *response,
        },
    };
    let session = match sessions.session().await {
        Ok(s) => s,
        Err(e) => return query_api::query_error(&e),
    };
    let mut tables = Vec::new();
    for whole in session
        .tables()
        .iter()
        .filter(|t| t.format == Format::Whole)
    {
        let copies: serde_json::Map<String, serde_json::Value> = session
            .tables()
            .iter()
            .filter(|t| t.table == whole.table && t.format != Format::Whole)
            .map(|t| {
                let key = match t.format {
                    Format::Json => "json",
                    _ => "parquet",
                };
                (key.to_owned(), examples::sql_name(t).into())
            })
            .collect();
        let columns: Vec<serde_json::Value> = whole
            .schema
            .fields()
            .iter()
            .map(|f| serde_json::json!({"name": f.name(), "type": f.data_type().to_string()}))
            .collect();
        let mut entry = serde_json::json!({
            "database": whole.table.database,
            "table": whole.table.table,
            "name": examples::sql_name(whole),
            "copies": copies,
            "columns": columns,
        });
        // A listing and the manifests: what `levee tables` shows. A table
        // whose summary cannot be read is still listed, with its columns.
        if let Ok(s) = describe::summarize(sessions.lake(), &whole.table).await {
            entry["hours"] = s.hours.into();
            entry["rows"] = s.rows.into();
            entry["json_bytes"] = s.json_bytes.into();
            entry["parquet_bytes"] = s.parquet_bytes.into();
        }
        tables.push(entry);
    }
    let skipped: Vec<serde_json::Value> = session
        .skipped()
        .iter()
        .map(|s| serde_json::json!({"table": s.table.to_string(), "error": s.error.to_string()}))
        .collect();
    query_api::json(
        StatusCode::OK,
        &serde_json::json!({"lake": session.location(), "tables": tables, "skipped": skipped}),
    )
}

async fn examples(State(sql): State<Arc<Sql>>) -> Response {
    let sessions = match sql.sessions() {
        Ok(s) => s,
        // No lake, nothing to try: an empty list, not an error.
        Err(_) => return query_api::json(StatusCode::OK, &serde_json::json!([])),
    };
    match sessions.session().await {
        Ok(session) => {
            let list = examples::examples(&session).await;
            query_api::json(StatusCode::OK, &serde_json::json!(list))
        }
        Err(e) => query_api::query_error(&e),
    }
}

/// Runs the request's statement; the answer, or the response that says
/// why there is none.
async fn run(sql: &Sql, headers: &HeaderMap, body: &[u8]) -> Result<QueryResult, Box<Response>> {
    let sessions = sql.sessions()?;
    let statement = query_api::sql_of(headers, body)?;
    let session = sessions
        .session()
        .await
        .map_err(|e| Box::new(query_api::query_error(&e)))?;
    session
        .sql(&statement)
        .await
        .map_err(|e| Box::new(query_api::query_error(&e)))
}

async fn query(State(sql): State<Arc<Sql>>, headers: HeaderMap, body: Bytes) -> Response {
    let result = match run(&sql, &headers, &body).await {
        Ok(r) => r,
        Err(response) => return *response,
    };
    let mut left = MAX_ROWS;
    let shown: Vec<_> = result
        .batches
        .iter()
        .map(|b| {
            let n = b.num_rows().min(left);
            left -= n;
            b.slice(0, n)
        })
        .filter(|b| b.num_rows() > 0)
        .collect();
    let mut out = Vec::new();
    match levee_query::write_json_document(&mut out, &result.schema, &shown, &result.stats) {
        Ok(()) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            out,
        )
            .into_response(),
        Err(e) => query_api::query_error(&e),
    }
}

async fn download_csv(State(sql): State<Arc<Sql>>, headers: HeaderMap, body: Bytes) -> Response {
    download(&sql, &headers, &body, "csv").await
}

async fn download_parquet(
    State(sql): State<Arc<Sql>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    download(&sql, &headers, &body, "parquet").await
}

/// The whole answer as a CSV or Parquet file.
async fn download(sql: &Sql, headers: &HeaderMap, body: &[u8], kind: &str) -> Response {
    let result = match run(sql, headers, body).await {
        Ok(r) => r,
        Err(response) => return *response,
    };
    let mut out = Vec::new();
    let (written, content_type) = if kind == "csv" {
        (
            levee_query::write_csv(&mut out, &result.schema, &result.batches),
            "text/csv; charset=utf-8",
        )
    } else {
        (
            levee_query::write_parquet(&mut out, &result.schema, &result.batches),
            "application/vnd.apache.parquet",
        )
    };
    if let Err(e) = written {
        return query_api::query_error(&e);
    }
    let mut response =
        (StatusCode::OK, [(header::CONTENT_TYPE, content_type)], out).into_response();
    if let Ok(value) =
        HeaderValue::from_str(&format!("attachment; filename=\"levee-query.{kind}\""))
    {
        response
            .headers_mut()
            .insert(header::CONTENT_DISPOSITION, value);
    }
    response
}

#[cfg(test)]
mod tests;
