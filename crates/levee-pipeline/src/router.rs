//! The router: runs the filters over a source's batches and hands each
//! event to every output whose pattern matches its tag.
//!
//! Each source has its own router task, so a blocked output holds back only
//! the sources routed to it.

use std::collections::HashMap;
use std::sync::Arc;

use levee_event::{Batch, Event, Tag, TagPattern};
use prometheus_client::metrics::counter::Counter;
use tokio::sync::mpsc;

use crate::buffer::MemoryBuffer;
use crate::filters::{Filter, Verdict};
use crate::metrics::Metrics;

/// An output as the router sees it.
pub(crate) struct Route {
    pub(crate) pattern: TagPattern,
    pub(crate) buffer: Arc<MemoryBuffer>,
}

/// The filters and routes shared by every router task.
pub(crate) struct Router {
    pub(crate) filters: Vec<(Filter, Counter)>,
    pub(crate) routes: Vec<Route>,
    pub(crate) metrics: Arc<Metrics>,
}

/// What one tag matches, worked out once per tag and router task.
struct TagRoutes {
    filters: Vec<bool>,
    outputs: Vec<usize>,
    unrouted: Counter,
}

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
}

impl Router {
    fn resolve(&self, tag: &Tag) -> TagRoutes {
        let routes = self.resolve_uncounted(tag);
        if routes.outputs.is_empty() {
            tracing::warn!(%tag, "events with this tag match no output; they are dropped and counted in levee_unrouted_events_total");
        }
        routes
    }

    fn resolve_uncounted(&self, tag: &Tag) -> TagRoutes {
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
            unrouted: self.metrics.unrouted(tag.as_str()),
        }
    }

    /// Filters and routes one batch, waiting for room in blocking buffers.
    async fn route(&self, batch: Batch, cache: &mut TagCache) {
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
            let routes = self.routes_of(&event.tag, cache);
            match routes.outputs.as_slice() {
                [] => {
                    routes.unrouted.inc();
                }
                [only] => push(&mut per_output[*only], event),
                [first, rest @ ..] => {
                    for &i in rest {
                        push(&mut per_output[i], event.clone());
                    }
                    push(&mut per_output[*first], event);
                }
            }
        }
        for (route, events) in self.routes.iter().zip(per_output) {
            if !events.is_empty() {
                route.buffer.push(events).await;
            }
        }
    }

    /// Runs the filters in order; false if one dropped the event.
    fn filter(&self, event: &mut Event, cache: &mut TagCache) -> bool {
        for (i, (filter, dropped)) in self.filters.iter().enumerate() {
            // A filter may re-tag, so look the tag up again at every step.
            if !self.routes_of(&event.tag, cache).filters[i] {
                continue;
            }
            if matches!(filter.apply(event), Verdict::Drop) {
                dropped.inc();
                return false;
            }
        }
        true
    }

    fn routes_of<'c>(&self, tag: &Tag, cache: &'c mut TagCache) -> &'c TagRoutes {
        let recent = cache.recent.iter().flatten().find(|(seen, _)| seen == tag);
        let at = match recent {
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
        };
        &cache.routes[at]
    }
}

/// Routes a source's batches until the source ends.
pub(crate) async fn run(router: Arc<Router>, mut batches: mpsc::Receiver<Batch>) {
    let mut cache = TagCache::default();
    while let Some(batch) = batches.recv().await {
        router.route(batch, &mut cache).await;
    }
}
