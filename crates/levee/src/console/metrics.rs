//! `GET /api/metrics`: the counter families the history keeps, and
//! `GET /api/metrics/series?name=FAMILY&by=LABEL`: one family's rate over
//! the history, broken down by a label (its top values and `other`), or in
//! all without `by`. The user's `outgoing_msg{type=...}` graph is
//! `?name=outgoing_msg_total&by=type`.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::Response;
use serde_json::{Value, json};

use super::Console;
use super::history::{OTHER, Ring, to_json};

/// The name given to the series of events whose series lack the label.
const NO_LABEL: &str = "(none)";

pub(super) async fn families(State(console): State<Arc<Console>>) -> Response {
    let Some(history) = &console.history else {
        return super::json(StatusCode::OK, &not_running());
    };
    let mut families: Vec<Value> = history.read(|state| {
        state
            .families
            .iter()
            .map(|(name, f)| {
                json!({
                    "name": name,
                    "help": f.help,
                    "labels": f.by.keys().collect::<Vec<_>>(),
                    "per_s": f.total.back().filter(|v| v.is_finite()).map(|&v| f64::from(v)),
                })
            })
            .collect()
    });
    // The metric filters' families (the user's) before levee's own.
    families.sort_by_key(|f| {
        let name = f["name"].as_str().unwrap_or_default();
        (
            name.starts_with("levee_") || name.starts_with("fluentd_"),
            name.to_owned(),
        )
    });
    super::json(
        StatusCode::OK,
        &json!({
            "running": true,
            "resolution_s": history.resolution().as_secs_f64(),
            "families": families,
        }),
    )
}

pub(super) async fn series(State(console): State<Arc<Console>>, uri: Uri) -> Response {
    let Some(history) = &console.history else {
        return super::json(StatusCode::OK, &not_running());
    };
    let Some(name) = super::query_param(&uri, "name").filter(|n| !n.is_empty()) else {
        return super::error(
            StatusCode::BAD_REQUEST,
            "name the counter family: ?name=FAMILY&by=LABEL",
        );
    };
    let by = super::query_param(&uri, "by").filter(|b| !b.is_empty());
    history.read(|state| {
        let Some(family) = state.families.get(&name) else {
            return super::error(
                StatusCode::NOT_FOUND,
                &format!("no counter family {name:?}: GET /api/metrics lists them"),
            );
        };
        let series = match &by {
            None => vec![json!({"name": "total", "values": to_json(&family.total)})],
            Some(label) => {
                let Some(breakdown) = family.by.get(label) else {
                    let labels: Vec<&str> = family.by.keys().map(String::as_str).collect();
                    return super::error(
                        StatusCode::BAD_REQUEST,
                        &format!(
                            "{name} has no label {label:?}; its labels: {}",
                            if labels.is_empty() {
                                "none".to_owned()
                            } else {
                                labels.join(", ")
                            }
                        ),
                    );
                };
                let mut shown: Vec<(f64, Value)> = breakdown
                    .shown
                    .iter()
                    .map(|s| {
                        let name = if s.value.is_empty() {
                            NO_LABEL
                        } else {
                            &s.value
                        };
                        (
                            sum(&s.ring),
                            json!({"name": name, "values": to_json(&s.ring)}),
                        )
                    })
                    .collect();
                // The busiest over the window first.
                shown.sort_by(|a, b| b.0.total_cmp(&a.0));
                let mut series: Vec<Value> = shown.into_iter().map(|(_, s)| s).collect();
                if sum(&breakdown.other) > 0.0 {
                    series.push(json!({"name": OTHER, "values": to_json(&breakdown.other)}));
                }
                series
            }
        };
        super::json(
            StatusCode::OK,
            &json!({
                "running": true,
                "name": name,
                "help": family.help,
                "by": by,
                "unit": "per second",
                "resolution_s": history.resolution().as_secs_f64(),
                "x": state.times,
                "series": series,
            }),
        )
    })
}

fn sum(ring: &Ring) -> f64 {
    ring.iter()
        .filter(|v| !v.is_nan())
        .map(|&v| f64::from(v))
        .sum()
}

fn not_running() -> Value {
    json!({
        "running": false,
        "reason": "no pipeline runs here: `levee console` serves a lake alone; \
                   `levee run` with [console] keeps its metrics' history",
        "families": [],
    })
}
