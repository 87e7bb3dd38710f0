//! Runs a filter as `levee run` does, for tests: several router tasks at
//! once, sharing one built filter, into one output buffer.

use std::sync::Arc;
use std::time::Duration;

use levee_event::{Event, Record, Tag, TagPattern, Value};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use super::FilterConfig;
use crate::buffer::{Buffer, BufferSettings, MemoryBuffer, WhenFull};
use crate::metrics::Metrics;
use crate::router::{self, Route, Router};

/// What came out.
pub(crate) struct Report {
    /// The events that reached the output, in no particular order.
    pub(crate) events: Vec<Event>,
    /// How many reached the output.
    pub(crate) routed: usize,
    /// How many the filter dropped, from `levee_filter_dropped_events_total`.
    pub(crate) dropped: u64,
}

/// Builds the filter from its TOML (without `match`, which is `**`), and
/// has `tasks` router tasks push `batches(task)` through it concurrently.
pub(crate) async fn route_concurrently(
    filter_toml: &str,
    tasks: usize,
    batches: impl Fn(usize) -> Vec<Vec<Event>>,
) -> Report {
    let config: FilterConfig = toml::from_str(&format!("match = \"**\"\n{filter_toml}")).unwrap();
    let metrics = Arc::new(Metrics::new());
    let mut filter = config.build().unwrap();
    let name = format!("1_{}", filter.kind());
    filter.count_into(&metrics, &name);
    let buffer = Arc::new(Buffer::Memory(MemoryBuffer::new(
        BufferSettings {
            max_bytes: 1 << 30,
            batch_max_bytes: 1 << 20,
            flush_interval: Duration::from_secs(1),
            when_full: WhenFull::Block,
        },
        metrics.output("out", "test"),
    )));
    let router = Arc::new(Router::new(
        vec![(filter, metrics.filter(&name))],
        vec![Route {
            pattern: TagPattern::new("**").unwrap(),
            buffer: buffer.clone(),
            events: metrics.route("out", "test"),
        }],
        metrics.clone(),
    ));
    let mut routers = JoinSet::new();
    let mut senders = JoinSet::new();
    for task in 0..tasks {
        let (tx, rx) = mpsc::channel(4);
        routers.spawn(router::run(router.clone(), rx));
        let batches = batches(task);
        senders.spawn(async move {
            for batch in batches {
                tx.send(levee_event::Sent::new(batch)).await.unwrap();
            }
        });
    }
    while let Some(done) = senders.join_next().await {
        done.unwrap();
    }
    while let Some(done) = routers.join_next().await {
        done.unwrap();
    }
    buffer.close();
    let mut events = Vec::new();
    while let Some(batch) = buffer.next_batch().await {
        events.extend(batch.events);
    }
    // Every filter test checks the filter's counts too: each event that
    // went in came out or was dropped, and what came out was routed.
    let counted = metrics.filter(&name);
    let (events_in, events_out) = (counted.events_in.get(), counted.events_out.get());
    let dropped = counted.dropped.get();
    assert_eq!(events_in, events_out + dropped, "in = out + dropped");
    assert_eq!(events_out, events.len() as u64, "out = routed");
    assert_eq!(metrics.route("out", "test").get(), events.len() as u64);
    Report {
        routed: events.len(),
        events,
        dropped,
    }
}

/// An event with this tag and these fields, at time 0 unless `time` says.
pub(crate) fn event_at(tag: &str, time: i64, fields: &[(&str, Value)]) -> Event {
    let record: Record = fields
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect();
    Event::new(Tag::new(tag), time, record)
}
