//! `GET /api/pipeline`: the pipeline as a graph, with its flow now.
//!
//! The graph is the config's: sources, filters and outputs, wired as the
//! router sends events. A source's tag is followed through the filters in
//! file order: a filter whose `match` takes the tag gets the events next
//! (a fixed `retag` changes the tag from there on), and every output whose
//! `match` takes the tag they have after the last filter receives them.
//! Where the tag is not known from the config (a forward or http source's
//! clients name it; a retag rendered from a field), the edges to every
//! output are drawn as "maybe": events may go there.
//!
//! Each node carries its rates now (between two reads of the registry at
//! least a second apart), its buffer, errors, drops and retries, and a
//! sparkline of its events per second over the history; each edge the
//! rate of the events leaving its sender.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use levee_pipeline::config::Pipeline;
use levee_pipeline::filters::Retags;
use levee_pipeline::metrics::flow::{Kind, Rates};
use serde_json::{Value, json};

use super::Console;

/// The pipeline's components and how tags wire them.
pub struct Topology {
    nodes: Vec<Node>,
    edges: Vec<Edge>,
}

/// One component.
#[derive(Debug)]
struct Node {
    kind: Kind,
    /// As the metrics name it: `[sources.NAME]`, `N_kind` for the Nth
    /// filter, `[outputs.NAME]`.
    name: String,
    /// Its `type`.
    plugin: String,
    /// A source's tag (none: its clients name them), a filter's or an
    /// output's `match`.
    pattern: Option<String>,
}

/// Events going from one node to another.
#[derive(Debug, PartialEq, Eq)]
struct Edge {
    from: usize,
    to: usize,
    /// The tag is not known from the config: events may go this way.
    maybe: bool,
}

impl Topology {
    /// The shape of `pipeline`, taken before it runs.
    pub fn of(pipeline: &Pipeline) -> Topology {
        let mut nodes = Vec::new();
        for s in &pipeline.sources {
            nodes.push(Node {
                kind: Kind::Source,
                name: s.name.clone(),
                plugin: s.source.kind().to_owned(),
                pattern: s.source.tag().map(|t| t.as_str().to_owned()),
            });
        }
        let first_filter = nodes.len();
        for (i, f) in pipeline.filters.iter().enumerate() {
            nodes.push(Node {
                kind: Kind::Filter,
                // As the topology names them in the metrics.
                name: format!("{}_{}", i + 1, f.kind()),
                plugin: f.kind().to_owned(),
                pattern: Some(f.pattern().as_str().to_owned()),
            });
        }
        let first_output = nodes.len();
        for o in &pipeline.outputs {
            nodes.push(Node {
                kind: Kind::Output,
                name: o.name.clone(),
                plugin: o.kind.to_owned(),
                pattern: Some(o.pattern.as_str().to_owned()),
            });
        }
        let mut edges = Vec::new();
        let mut add = |edge: Edge| {
            if !edges.contains(&edge) {
                edges.push(edge);
            }
        };
        for (source, s) in pipeline.sources.iter().enumerate() {
            let mut at = source;
            let mut tag = s.source.tag().map(|t| t.as_str().to_owned());
            for (i, f) in pipeline.filters.iter().enumerate() {
                let Some(current) = &tag else { break };
                if !f.pattern().matches(current) {
                    continue;
                }
                add(Edge {
                    from: at,
                    to: first_filter + i,
                    maybe: false,
                });
                at = first_filter + i;
                match f.retags() {
                    Retags::Keep => {}
                    Retags::To(new) => tag = Some(new.as_str().to_owned()),
                    Retags::Rendered(_) => tag = None,
                }
            }
            for (i, o) in pipeline.outputs.iter().enumerate() {
                let to = first_output + i;
                match &tag {
                    Some(tag) if o.pattern.matches(tag) => add(Edge {
                        from: at,
                        to,
                        maybe: false,
                    }),
                    Some(_) => {}
                    None => add(Edge {
                        from: at,
                        to,
                        maybe: true,
                    }),
                }
            }
        }
        Topology { nodes, edges }
    }

    fn id(&self, i: usize) -> String {
        let n = &self.nodes[i];
        format!("{}:{}", n.kind.as_str(), n.name)
    }
}

pub(super) async fn get(State(console): State<Arc<Console>>) -> Response {
    let (Some(topology), Some(live), Some(history)) =
        (&console.topology, &console.live, &console.history)
    else {
        return super::json(
            StatusCode::OK,
            &json!({
                "running": false,
                "reason": "no pipeline runs here: `levee console` serves a lake alone; \
                           `levee run` with [console] shows its pipeline",
                "nodes": [],
                "edges": [],
            }),
        );
    };
    let (rates, behind) = live.flow();
    let rates_of = |node: &Node| {
        rates
            .iter()
            .position(|(c, _)| c.kind == node.kind && c.name == node.name)
    };
    let found: Vec<Option<usize>> = topology.nodes.iter().map(rates_of).collect();
    let (x, sparks) = history.read(|state| {
        let sparks: Vec<Value> = topology
            .nodes
            .iter()
            .map(|n| {
                state
                    .components
                    .get(&(n.kind, n.name.clone()))
                    .map_or(Value::Null, super::history::to_json)
            })
            .collect();
        (json!(state.times), sparks)
    });
    let nodes: Vec<Value> = topology
        .nodes
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let r = found[i].map(|at| &rates[at].1);
            let mut node = json!({
                "id": topology.id(i),
                "kind": n.kind.as_str(),
                "name": n.name,
                "type": n.plugin,
                "pattern": n.pattern,
                "behind": found[i].and_then(|at| {
                    (behind == Some(at)).then(|| rates[at].1.behind.map(|b| b.as_str()))
                }),
                "spark": sparks[i],
            });
            if let (Some(r), Some(object)) = (r, node.as_object_mut()) {
                object.extend(figures(r));
            }
            node
        })
        .collect();
    let edges: Vec<Value> = topology
        .edges
        .iter()
        .map(|e| {
            let rate = if e.maybe {
                None
            } else {
                found[e.from].and_then(|at| {
                    let r = &rates[at].1;
                    r.events_out_per_s.or(r.events_in_per_s)
                })
            };
            json!({
                "from": topology.id(e.from),
                "to": topology.id(e.to),
                "maybe": e.maybe,
                "rate": rate,
            })
        })
        .collect();
    super::json(
        StatusCode::OK,
        &json!({
            "running": true,
            "resolution_s": history.resolution().as_secs_f64(),
            "x": x,
            "nodes": nodes,
            "edges": edges,
        }),
    )
}

/// A node's figures now, as the page shows them.
fn figures(r: &Rates) -> serde_json::Map<String, Value> {
    let f = &r.now;
    let pairs = [
        ("in_per_s", r.events_in_per_s),
        ("out_per_s", r.events_out_per_s),
        ("bytes_per_s", r.bytes_per_s),
        ("errors_per_s", r.errors_per_s),
        ("drops_per_s", r.drops_per_s),
        ("retries_per_s", r.retries_per_s),
        ("events_in", f.events_in),
        ("events_out", f.events_out),
        ("errors", f.errors),
        ("drops", f.drops),
        ("retries", f.retries),
        ("buffer_bytes", f.buffer_bytes),
        ("buffer_limit", f.buffer_limit),
        ("buffer_fill", f.buffer_fill),
        ("oldest_age_s", f.oldest_age_seconds),
        ("checkpoint_lag_bytes", f.checkpoint_lag_bytes),
    ];
    pairs
        .into_iter()
        .map(|(k, v)| (k.to_owned(), json!(v)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topology(toml: &str) -> Topology {
        let pipeline =
            levee_pipeline::config::build(toml, "test.toml").unwrap_or_else(|e| panic!("{e}"));
        Topology::of(&pipeline)
    }

    fn edges(t: &Topology) -> Vec<(String, String, bool)> {
        t.edges
            .iter()
            .map(|e| (t.id(e.from), t.id(e.to), e.maybe))
            .collect()
    }

    fn edge(from: &str, to: &str) -> (String, String, bool) {
        (from.to_owned(), to.to_owned(), false)
    }

    /// Tags go through the filters that match them in order, a retag
    /// moves them on, and each output takes the tags its `match` matches.
    #[test]
    fn edges_follow_the_tags_through_the_filters() {
        let t = topology(
            r#"
[sources.web]
type = "stdin"
tag = "nginx.access"
[sources.mail]
type = "stdin"
tag = "events.mail"
[[filters]]
type = "grep"
match = "nginx.**"
exclude = { status = "^5" }
[[filters]]
type = "record"
match = "nginx.access"
retag = "web.clean"
[[filters]]
type = "grep"
match = "events.**"
include = { type = "bounce" }
[outputs.web]
match = "web.**"
type = "blackhole"
[outputs.all]
match = "** web.**"
type = "blackhole"
[outputs.mail]
match = "events.**"
type = "blackhole"
"#,
        );
        let names: Vec<String> = (0..t.nodes.len()).map(|i| t.id(i)).collect();
        assert_eq!(
            names,
            [
                "source:web",
                "source:mail",
                "filter:1_grep",
                "filter:2_record",
                "filter:3_grep",
                "output:web",
                "output:all",
                "output:mail",
            ]
        );
        assert_eq!(t.nodes[0].pattern.as_deref(), Some("nginx.access"));
        assert_eq!(t.nodes[0].plugin, "stdin");
        assert_eq!(t.nodes[7].pattern.as_deref(), Some("events.**"));
        assert_eq!(
            edges(&t),
            [
                edge("source:web", "filter:1_grep"),
                edge("filter:1_grep", "filter:2_record"),
                edge("filter:2_record", "output:web"),
                edge("filter:2_record", "output:all"),
                edge("source:mail", "filter:3_grep"),
                edge("filter:3_grep", "output:all"),
                edge("filter:3_grep", "output:mail"),
            ]
        );
    }

    /// A forward source's clients name the tags: it may reach any output.
    #[test]
    fn a_source_whose_clients_name_the_tags_may_reach_every_output() {
        let t = topology(
            r#"
[sources.fwd]
type = "forward"
listen = "127.0.0.1:0"
[outputs.a]
match = "a.**"
type = "blackhole"
[outputs.b]
match = "b.**"
type = "blackhole"
"#,
        );
        assert_eq!(t.nodes[0].pattern, None);
        assert_eq!(
            edges(&t),
            [
                ("source:fwd".into(), "output:a".into(), true),
                ("source:fwd".into(), "output:b".into(), true),
            ]
        );
    }
}
