//! `GET /api/pipeline`: the pipeline's components and their wiring (placeholder).

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use levee_pipeline::config::Pipeline;

use super::Console;

/// The pipeline's components and how tags wire them.
pub struct Topology {
    sources: Vec<String>,
}

impl Topology {
    /// The shape of `pipeline`, taken before it runs.
    pub fn of(pipeline: &Pipeline) -> Topology {
        Topology {
            sources: pipeline.sources.iter().map(|s| s.name.clone()).collect(),
        }
    }
}

pub(super) async fn get(State(console): State<Arc<Console>>) -> Response {
    match &console.topology {
        None => super::json(
            StatusCode::OK,
            &serde_json::json!({"running": false, "nodes": [], "edges": []}),
        ),
        Some(t) => super::json(
            StatusCode::OK,
            &serde_json::json!({"running": true, "sources": t.sources, "history": console.history.is_some()}),
        ),
    }
}
