//! A `metric` filter counting an event of a label set it has seen
//! allocates nothing. Its own test binary, so the counting allocator sees
//! no other test's work.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use levee_event::{Event, Record, Tag, Value};
use levee_pipeline::filters::FilterConfig;
use levee_pipeline::metrics::Metrics;

struct Counting;

thread_local! {
    /// This thread's allocations: the test harness's threads allocate too.
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

fn count_one() {
    // Not counted while the thread is being torn down.
    let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
}

fn allocations() -> usize {
    ALLOCATIONS.with(Cell::get)
}

// SAFETY: forwards every call to the system allocator unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_one();
        // SAFETY: the caller's contract is passed on as it is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract is passed on as it is.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_one();
        // SAFETY: the caller's contract is passed on as it is.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[derive(serde::Deserialize)]
struct File {
    filters: Vec<FilterConfig>,
}

/// Applies the filter of `body` to an event 1,001 times, the first to see
/// its label set, and returns the page and the allocations of the last
/// 1,000.
fn allocations_of_seen_sets(body: &str) -> (String, usize) {
    let file: File = toml::from_str(&format!(
        "[[filters]]\nmatch = \"**\"\ntype = \"metric\"\n{body}\n\
         labels = {{ type = \"$.type\", country = \"$.geo_ip.country\", env = \"prd\", tag = \"${{tag}}\" }}\n"
    ))
    .unwrap();
    let mut filter = file.filters[0].build().unwrap();
    let metrics = Metrics::new();
    filter.count_into(&metrics, "1_metric");
    let geo: Record = [("country".to_owned(), Value::from("NL"))]
        .into_iter()
        .collect();
    let timing: Record = [("upstream".to_owned(), Value::from(0.25))]
        .into_iter()
        .collect();
    let record: Record = [
        ("type".to_owned(), Value::from("get_sending-domains")),
        ("geo_ip".to_owned(), Value::Map(Box::new(geo))),
        ("request_time".to_owned(), Value::from("0.042")),
        ("timing".to_owned(), Value::Map(Box::new(timing))),
    ]
    .into_iter()
    .collect();
    let mut event = Event::new(Tag::new("firehose_parsed.api"), 0, record);
    // The first sees the set (and warms the per-thread buffers).
    filter.apply(&mut event);
    let before = allocations();
    for _ in 0..1000 {
        filter.apply(&mut event);
    }
    let after = allocations();
    (metrics.encode(), after - before)
}

#[test]
fn counting_a_seen_label_set_allocates_nothing() {
    let (page, allocated) = allocations_of_seen_sets("name = \"outgoing_msg\"");
    assert_eq!(allocated, 0);
    assert!(
        page.contains("type=\"get_sending-domains\"} 1001"),
        "{page}"
    );
}

/// Every kind that observes a field: a number, or text read as one, nested
/// or not.
#[test]
fn observing_a_seen_label_set_allocates_nothing_for_every_kind() {
    for (body, shows) in [
        (
            "name = \"up\"\nkind = \"gauge\"\nfield = \"timing.upstream\"",
            ("up{", "0.25"),
        ),
        (
            "name = \"rt\"\nkind = \"histogram\"\nfield = \"request_time\"",
            ("rt_count{", "1001"),
        ),
        (
            "name = \"rt\"\nkind = \"histogram\"\nfield = \"request_time\"\n\
             buckets = [0.001, 0.01, 0.1, 1, 10, 100, 1000]",
            ("rt_bucket{le=\"0.1\"", "1001"),
        ),
        (
            "name = \"rt\"\nkind = \"summary\"\nfield = \"request_time\"",
            ("rt_count{", "1001"),
        ),
    ] {
        let (page, allocated) = allocations_of_seen_sets(body);
        assert_eq!(allocated, 0, "{body}");
        let (sample, value) = shows;
        assert!(
            page.lines()
                .any(|l| l.starts_with(sample) && l.ends_with(&format!("}} {value}"))),
            "{body}: {page}"
        );
    }
}
