//! The router: runs the filters over a source's batches and hands each
//! event to every output whose pattern matches its tag.
//!
//! Each source has its own router task, so a blocked output holds back only
//! the sources routed to it.
//!
//! An event that leaves the filters with a tag no output matches is dropped
//! and counted, and its tag is warned about once. Only then: a tag that no
//! output matches but that a filter re-tags (`nginx.access` re-tagged to
//! `firehose_parsed.nginx`) loses nothing, so it makes neither a warning
//! nor a metric series.
//!
//! A batch's ack (if its source can replay) goes, cloned, to every output
//! buffer that takes some of its events; the router's own copy drops when
//! the batch is routed, so events filtered out or routed nowhere hold
//! nothing back.
//!
//! Filters' events in and out and each route's events are counted once
//! per batch, in the task's own tallies first: an atomic add per event and
//! filter, shared by every router task, would cost the hot path.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use levee_event::{Event, Sent, Tag, TagPattern};
use prometheus_client::metrics::counter::Counter;
use tokio::sync::mpsc;

use crate::buffer::Buffer;
use crate::filters::{Filter, Verdict};
use crate::metrics::{FilterMetrics, Metrics};

/// An output as the router sees it.
pub(crate) struct Route {
    pub(crate) pattern: TagPattern,
    pub(crate) buffer: Arc<Buffer>,
    /// Events sent to the buffer (`levee_route_events_total`).
    pub(crate) events: Counter,
}

/// The filters and routes shared by every router task.
pub(crate) struct Router {
    filters: Vec<(Filter, FilterMetrics)>,
    routes: Vec<Route>,
    metrics: Arc<Metrics>,
    /// Tags already warned about as dropped, shared by every router task
    /// so that each is said once.
    warned: Mutex<Warned>,
}

/// What one tag matches, worked out once per tag and router task.
struct TagRoutes {
    filters: Vec<bool>,
    outputs: Vec<usize>,
    /// Made at the tag's first event that reaches no output, so that a tag
    /// every event of which is routed (or re-tagged) makes no series.
    unrouted: Option<Counter>,
}

/// Tags named in warnings: bounded, since re-tags rendered from data can
/// make any number of tags.
#[derive(Default)]
struct Warned {
    tags: HashSet<Tag, foldhash::fast::RandomState>,
    /// The warning that no more tags will be named has been given.
    full: bool,
}

/// At most this many tags are named in "dropped" warnings; the metric
/// counts the rest.
const MAX_WARNED_TAGS: usize = 100;

/// Bounds the cache when templated re-tags make many distinct tags.
const MAX_CACHED_TAGS: usize = 4096;

/// Tags tried before hashing: an event passes through its source's tag and
/// each re-tag's, the same few for every event of a batch.
const RECENT_TAGS: usize = 4;

/// What each tag seen so far matches, looked up for every event and filter.
/// The last few tags looked up are tried first, by comparing their text
/// (or only their pointer, for a tag from the config), before hashing
/// into the map: with one only, a filter that re-tags made every event
/// miss twice.
#[derive(Default)]
struct TagCache {
    /// Where each tag's routes are in `routes`; hashes with foldhash rather
    /// than SipHash.
    index: HashMap<Tag, usize, foldhash::fast::RandomState>,
    routes: Vec<TagRoutes>,
    recent: [Option<(Tag, usize)>; RECENT_TAGS],
    /// The slot of `recent` the next miss replaces.
    next: usize,
    /// Each filter's events in and out in the batch being routed.
    tallies: Vec<Tally>,
}

/// A filter's events in and out within one batch.
#[derive(Clone, Copy, Default)]
struct Tally {
    events_in: u64,
    events_out: u64,
}

impl Router {
    /// A router over the built filters (each with its counters) and the
    /// outputs' routes.
    pub(crate) fn new(
        filters: Vec<(Filter, FilterMetrics)>,
        routes: Vec<Route>,
        metrics: Arc<Metrics>,
    ) -> Router {
        Router {
            filters,
            routes,
            metrics,
            warned: Mutex::default(),
        }
    }

    fn resolve(&self, tag: &Tag) -> TagRoutes {
        TagRoutes {
            filters: self
                .filters
                .iter()
                .map(|(f, _)| f.pattern().matches(tag.as_str()))
                .collect(),
            outputs: self
                .routes
                .iter()
                .enumerate()
                .filter(|(_, r)| r.pattern.matches(tag.as_str()))
                .map(|(i, _)| i)
                .collect(),
            unrouted: None,
        }
    }

    /// Counts an event that left the filters with a tag no output matches;
    /// the tag's first such event (per task) makes its counter and warns.
    #[cold]
    fn count_unrouted(&self, tag: &Tag, routes: &mut TagRoutes) {
        routes
            .unrouted
            .get_or_insert_with(|| {
                self.warn_dropped(tag);
                self.metrics.unrouted(tag.as_str())
            })
            .inc();
    }

    /// Warns, once per tag across all router tasks, that events are dropped.
    fn warn_dropped(&self, tag: &Tag) {
        let mut warned = self.warned.lock().unwrap_or_else(|p| p.into_inner());
        if warned.tags.contains(tag) {
            return;
        }
        if warned.tags.len() < MAX_WARNED_TAGS {
            warned.tags.insert(tag.clone());
            tracing::warn!(
                %tag,
                "events with this tag reach no output after the filters; they are dropped \
                 and counted in levee_unrouted_events_total"
            );
        } else if !warned.full {
            warned.full = true;
            tracing::warn!(
                "events of more than {MAX_WARNED_TAGS} tags reach no output; further tags are \
                 not named here, only counted in levee_unrouted_events_total"
            );
        }
    }

    /// Filters and routes one batch, waiting for room in blocking buffers.
    async fn route(&self, sent: Sent, cache: &mut TagCache) {
        let Sent { events: batch, ack } = sent;
        cache.tallies.resize(self.filters.len(), Tally::default());
        let mut per_output: Vec<Vec<Event>> = (0..self.routes.len()).map(|_| Vec::new()).collect();
        // An output's first event reserves room for the whole batch: most
        // batches go to one output, and growing one event at a time
        // showed in profiles.
        let room = batch.len();
        let push = |events: &mut Vec<Event>, event: Event| {
            if events.capacity() == 0 {
                events.reserve_exact(room);
            }
            events.push(event);
        };
        for mut event in batch {
            if !self.filter(&mut event, cache) {
                continue;
            }
            let at = self.index_of(&event.tag, cache);
            let routes = &mut cache.routes[at];
            match routes.outputs.as_slice() {
                [] => self.count_unrouted(&event.tag, routes),
                [only] => push(&mut per_output[*only], event),
                [first, rest @ ..] => {
                    for &i in rest {
                        push(&mut per_output[i], event.clone());
                    }
                    push(&mut per_output[*first], event);
                }
            }
        }
        self.count_filtered(&mut cache.tallies);
        for (route, events) in self.routes.iter().zip(per_output) {
            if !events.is_empty() {
                route.events.inc_by(events.len() as u64);
                route.buffer.push(events, ack.clone()).await;
            }
        }
    }

    /// Adds a batch's tallies to the filters' counters, and clears them.
    fn count_filtered(&self, tallies: &mut [Tally]) {
        for ((_, metrics), tally) in self.filters.iter().zip(tallies) {
            if tally.events_in == 0 {
                continue;
            }
            metrics.events_in.inc_by(tally.events_in);
            metrics.events_out.inc_by(tally.events_out);
            let dropped = tally.events_in - tally.events_out;
            if dropped > 0 {
                metrics.dropped.inc_by(dropped);
            }
            *tally = Tally::default();
        }
    }

    /// Runs the filters in order; false if one dropped the event.
    fn filter(&self, event: &mut Event, cache: &mut TagCache) -> bool {
        for (i, (filter, _)) in self.filters.iter().enumerate() {
            // A filter may re-tag, so look the tag up again at every step.
            if !self.routes_of(&event.tag, cache).filters[i] {
                continue;
            }
            let tally = &mut cache.tallies[i];
            tally.events_in += 1;
            if matches!(filter.apply(event), Verdict::Drop) {
                return false;
            }
            tally.events_out += 1;
        }
        true
    }

    fn routes_of<'c>(&self, tag: &Tag, cache: &'c mut TagCache) -> &'c TagRoutes {
        let at = self.index_of(tag, cache);
        &cache.routes[at]
    }

    /// Where the tag's routes are in `cache.routes`, resolving them first
    /// if the tag is new.
    fn index_of(&self, tag: &Tag, cache: &mut TagCache) -> usize {
        let recent = cache.recent.iter().flatten().find(|(seen, _)| seen == tag);
        match recent {
            Some(&(_, at)) => at,
            None => {
                let at = match cache.index.get(tag) {
                    Some(&at) => at,
                    None => {
                        if cache.routes.len() >= MAX_CACHED_TAGS {
                            cache.index.clear();
                            cache.routes.clear();
                            cache.recent = Default::default();
                        }
                        cache.routes.push(self.resolve(tag));
                        cache.index.insert(tag.clone(), cache.routes.len() - 1);
                        cache.routes.len() - 1
                    }
                };
                cache.recent[cache.next] = Some((tag.clone(), at));
                cache.next = (cache.next + 1) % RECENT_TAGS;
                at
            }
        }
    }
}

/// Routes a source's batches until the source ends.
pub(crate) async fn run(router: Arc<Router>, mut batches: mpsc::Receiver<Sent>) {
    let mut cache = TagCache::default();
    while let Some(batch) = batches.recv().await {
        router.route(batch, &mut cache).await;
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use levee_event::Record;

    use super::*;
    use crate::buffer::{BufferSettings, MemoryBuffer, WhenFull};
    use crate::filters::FilterConfig;

    /// Log lines written while `f` runs, at warn level and above.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Captured {
        fn text(&self) -> String {
            String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
        }
    }

    /// A router with one `record` filter per `(match, retag)` and one
    /// output per pattern.
    fn router(retags: &[(&str, &str)], outputs: &[&str]) -> (Router, Arc<Metrics>) {
        let metrics = Arc::new(Metrics::new());
        let filters = retags
            .iter()
            .enumerate()
            .map(|(i, (pattern, retag))| {
                let text = format!("type = \"record\"\nmatch = {pattern:?}\nretag = {retag:?}\n");
                let config: FilterConfig = toml::from_str(&text).unwrap();
                let name = format!("{}_record", i + 1);
                (config.build().unwrap(), metrics.filter(&name))
            })
            .collect();
        let settings = BufferSettings {
            max_bytes: 1 << 20,
            batch_max_bytes: 1 << 16,
            flush_interval: Duration::from_secs(60),
            when_full: WhenFull::DropNewest,
        };
        let routes = outputs
            .iter()
            .map(|pattern| Route {
                pattern: TagPattern::new(pattern).unwrap(),
                events: metrics.route(pattern, "test"),
                buffer: Arc::new(Buffer::Memory(MemoryBuffer::new(
                    settings,
                    metrics.output(pattern, "test"),
                ))),
            })
            .collect();
        (Router::new(filters, routes, metrics.clone()), metrics)
    }

    fn batch(tags: &[&str]) -> levee_event::Batch {
        tags.iter()
            .map(|tag| Event::new(Tag::new(tag), 0, Record::new()))
            .collect()
    }

    /// Routes `tags` through `router` on this thread, capturing warnings.
    fn route(router: &Router, tags: &[&str]) -> String {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_max_level(tracing::Level::WARN)
            .with_ansi(false)
            .finish();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        tracing::subscriber::with_default(subscriber, || {
            let mut cache = TagCache::default();
            runtime.block_on(router.route(Sent::new(batch(tags)), &mut cache));
        });
        captured.text()
    }

    /// The README's example: `nginx.access` matches no output, but a
    /// filter re-tags it to `firehose_parsed.nginx`, which one does. It was
    /// warned about as dropped, and given a series, when first seen.
    #[test]
    fn a_retagged_tag_is_neither_warned_about_nor_counted_as_unrouted() {
        let (router, metrics) = router(
            &[("nginx.**", "firehose_parsed.nginx")],
            &["firehose_parsed.**", "@ERROR"],
        );
        let warnings = route(&router, &["nginx.access", "nginx.access"]);
        assert_eq!(warnings, "", "nothing was dropped");
        let text = metrics.encode();
        assert!(!text.contains("levee_unrouted_events_total{"), "{text}");
        assert!(
            text.contains("levee_buffer_bytes{output=\"firehose_parsed.**\",type=\"test\"}"),
            "{text}"
        );

        // What really is dropped is said once per tag, and counted.
        let warnings = route(&router, &["app.x", "app.x", "nginx.access", "app.y"]);
        assert_eq!(warnings.matches("app.x").count(), 1, "{warnings}");
        assert_eq!(warnings.matches("app.y").count(), 1, "{warnings}");
        assert!(!warnings.contains("nginx"), "{warnings}");
        assert_eq!(route(&router, &["app.x"]), "", "said once across batches");
        let text = metrics.encode();
        assert!(
            text.contains("levee_unrouted_events_total{tag=\"app.x\"} 3"),
            "{text}"
        );
        assert!(
            text.contains("levee_unrouted_events_total{tag=\"app.y\"} 1"),
            "{text}"
        );
        assert!(!text.contains("tag=\"nginx.access\""), "{text}");
    }

    /// Per filter, the events its match took in and those it passed on;
    /// per output, the events routed to it: counted by batch, summed over
    /// batches and re-tags.
    #[test]
    fn filters_count_events_in_and_out_and_routes_the_events_sent_to_each_output() {
        let (router, metrics) = router(
            &[("app.*", "app.kept"), ("app.kept", "done")],
            &["done", "**"],
        );
        route(&router, &["app.a", "app.b", "other", "app.kept.x"]);
        route(&router, &["app.c"]);
        let text = metrics.encode();
        for line in [
            "levee_filter_events_in_total{filter=\"1_record\"} 3",
            "levee_filter_events_out_total{filter=\"1_record\"} 3",
            // Re-tagged by the first filter, then matched by the second.
            "levee_filter_events_in_total{filter=\"2_record\"} 3",
            "levee_filter_events_out_total{filter=\"2_record\"} 3",
            "levee_filter_dropped_events_total{filter=\"2_record\"} 0",
            "levee_route_events_total{output=\"done\",type=\"test\"} 3",
            "levee_route_events_total{output=\"**\",type=\"test\"} 5",
        ] {
            assert!(text.contains(&format!("{line}\n")), "{line} in\n{text}");
        }
    }

    #[test]
    fn warnings_name_a_bounded_number_of_tags() {
        let (router, _) = router(&[], &["routed"]);
        let tags: Vec<String> = (0..MAX_WARNED_TAGS + 20)
            .map(|i| format!("t.{i}"))
            .collect();
        let tags: Vec<&str> = tags.iter().map(String::as_str).collect();
        let warnings = route(&router, &tags);
        assert_eq!(warnings.lines().count(), MAX_WARNED_TAGS + 1, "{warnings}");
        assert!(warnings.contains("further tags"), "{warnings}");
    }

    /// A batch's ack is held by every output that got some of its events,
    /// and by nothing else: events filtered out or routed nowhere are done.
    #[tokio::test]
    async fn an_ack_is_done_once_every_output_that_got_events_is_done_with_them() {
        let (router, _) = router(&[], &["a", "b", "c"]);
        let ledger = levee_event::Ledger::new();
        let mut cache = TagCache::default();
        let (_, ack) = ledger.issue();
        router
            .route(Sent::acked(batch(&["a", "b", "x"]), ack), &mut cache)
            .await;
        let (_, ack) = ledger.issue();
        router
            .route(Sent::acked(batch(&["x", "y"]), ack), &mut cache)
            .await;
        assert_eq!(ledger.done_through(), None, "outputs a and b hold ack 0");
        assert_eq!(ledger.outstanding(), 1, "ack 1 reached no output");
        for route in &router.routes {
            route.buffer.close();
        }
        let a = router.routes[0].buffer.next_batch().await.unwrap();
        assert_eq!(a.acks.len(), 1);
        drop(a);
        assert_eq!(ledger.done_through(), None, "output b holds it");
        let b = router.routes[1].buffer.next_batch().await.unwrap();
        drop(b);
        assert_eq!(ledger.done_through(), Some(1));
        assert!(router.routes[2].buffer.next_batch().await.is_none());
    }
}
