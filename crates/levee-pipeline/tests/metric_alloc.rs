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

#[test]
fn counting_a_seen_label_set_allocates_nothing() {
    let file: File = toml::from_str(
        r#"
        [[filters]]
        match = "**"
        type = "metric"
        name = "outgoing_msg"
        labels = { type = "$.type", country = "$.geo_ip.country", env = "prd", tag = "${tag}" }
        "#,
    )
    .unwrap();
    let mut filter = file.filters[0].build().unwrap();
    let metrics = Metrics::new();
    filter.count_into(&metrics, "1_metric");
    let geo: Record = [("country".to_owned(), Value::from("NL"))]
        .into_iter()
        .collect();
    let record: Record = [
        ("type".to_owned(), Value::from("get_sending-domains")),
        ("geo_ip".to_owned(), Value::Map(Box::new(geo))),
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
    assert_eq!(after - before, 0);
    assert!(
        metrics
            .encode()
            .contains("type=\"get_sending-domains\"} 1001")
    );
}
