//! The SQL page's API: a placeholder that helper S's module replaces
//! (`GET /api/tables`, `POST /api/query`, downloads, `GET /api/examples`).

use axum::Router;
use levee_query::QueryOptions;

/// The SQL page's routes, under `/api/`, over the lake (none: the page
/// says there is no lake).
pub(crate) fn routes(lake: Option<String>, options: QueryOptions) -> Router {
    let _ = (lake, options);
    Router::new()
}
