//! `GET /api/metrics` and `GET /api/metrics/series` (placeholder).

use std::sync::Arc;

use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::Response;

use super::Console;

pub(super) async fn families(State(console): State<Arc<Console>>) -> Response {
    let _ = &console.token;
    super::json(StatusCode::OK, &serde_json::json!({"families": []}))
}

pub(super) async fn series(State(_console): State<Arc<Console>>, uri: Uri) -> Response {
    match super::query_param(&uri, "name") {
        None => super::error(
            StatusCode::BAD_REQUEST,
            "name the counter: ?name=...&by=...",
        ),
        Some(_) => super::error(StatusCode::NOT_FOUND, "no such counter"),
    }
}
