//! Events per second through the filters, one thread and two threads
//! sharing one filter (as two sources' routers do), on generated events.
//!
//! `cargo bench -p levee-pipeline --bench filters -- --quick`

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use levee_event::{Event, Record, Tag, Value};
use levee_pipeline::filters::{Filter, FilterConfig};

const EVENTS: usize = 10_000;

fn filter(toml_text: &str) -> Filter {
    let config: FilterConfig = toml::from_str(&format!("match = \"**\"\n{toml_text}")).unwrap();
    config.build().unwrap()
}

/// Email events: 5,000 message ids (each twice), 100 customers.
fn events() -> Vec<Event> {
    (0..EVENTS)
        .map(|i| {
            let mut record = Record::new();
            record.insert("type", Value::from("delivery"));
            record.insert(
                "message_id",
                Value::from(format!(
                    "00b2{:016x}",
                    (i / 2).wrapping_mul(0x9e37_79b9_7f4a_7c15)
                )),
            );
            record.insert("customer_id", Value::Int((i % 100) as i64));
            let geo: Record = [
                ("city".to_owned(), Value::from("Oslo")),
                ("cc".to_owned(), Value::from("NO")),
            ]
            .into_iter()
            .collect();
            record.insert("geo_ip", Value::from(geo));
            record.insert(
                "message",
                Value::from(format!(
                    r#"{{"status":250,"reason":"2.0.0 OK","mx":"mx{}.example.com","ms":{}}}"#,
                    i % 7,
                    i % 1000
                )),
            );
            Event::new(Tag::new("events.sparkpost"), 0, record)
        })
        .collect()
}

/// Filters that only read the event: the same events go through each time.
fn readers(c: &mut Criterion) {
    let mut group = c.benchmark_group("filters");
    group.throughput(Throughput::Elements(EVENTS as u64));
    let cases = [
        ("sample_count", "type = \"sample\"\nrate = 10"),
        (
            "sample_key",
            "type = \"sample\"\nrate = 10\nkey = \"message_id\"",
        ),
        (
            "dedupe",
            "type = \"dedupe\"\nkey = \"message_id\"\nwindow = \"1h\"",
        ),
        (
            "throttle",
            "type = \"throttle\"\nkey = \"${customer_id}\"\nrate = 1000000",
        ),
    ];
    for (name, text) in cases {
        let f = filter(text);
        let mut events = events();
        group.bench_function(name, |b| {
            b.iter(|| {
                for e in &mut events {
                    black_box(f.apply(e));
                }
            });
        });
    }
    group.finish();
}

/// Filters that change the event: each run gets fresh copies (not timed).
fn writers(c: &mut Criterion) {
    let mut group = c.benchmark_group("filters");
    group.throughput(Throughput::Elements(EVENTS as u64));
    let cases = [
        (
            "parse_json",
            "type = \"parse\"\nfield = \"message\"\nparser = \"json\"\nreserve_data = true\nremove_key = true",
        ),
        (
            "rename",
            "type = \"rename\"\nrename = { \"geo_ip.city\" = \"city\", customer_id = \"customer\" }",
        ),
        (
            "remove",
            "type = \"remove\"\nremove = [\"geo_ip.city\", \"type\"]",
        ),
    ];
    let original = events();
    for (name, text) in cases {
        apply_to_fresh(&mut group, name, &filter(text), || original.clone());
    }
    group.finish();
}

/// Times `f` over events from `setup`, made anew for each batch because
/// the filter changes them.
fn apply_to_fresh(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    f: &Filter,
    mut setup: impl FnMut() -> Vec<Event>,
) {
    group.bench_function(name, |b| {
        b.iter_batched(
            &mut setup,
            |mut events| {
                for e in &mut events {
                    black_box(f.apply(e));
                }
                events
            },
            BatchSize::LargeInput,
        );
    });
}

/// nginx records as the parser makes them, with room for the fields the
/// filter adds: method, path (some with a query cut off), status.
fn nginx_events() -> Vec<Event> {
    const PATHS: [&str; 4] = [
        "/api/v1/transmissions",
        "/api/v1/metrics/deliverability",
        "/api/v1/sending-domains/example.com/verify",
        "/api/v1/users",
    ];
    (0..EVENTS)
        .map(|i| {
            let mut record = Record::with_capacity(17);
            record.insert("remote_addr", Value::from("203.0.113.7"));
            record.insert("time_local", Value::from("01/Sep/2018:17:00:00 +0000"));
            record.insert("method", Value::from(["GET", "POST", "PUT"][i % 3]));
            record.insert("path", Value::from(PATHS[i % PATHS.len()]));
            record.insert("protocol", Value::from("HTTP/1.1"));
            record.insert("status", Value::Int([200, 204, 404, 502][i % 4]));
            record.insert("body_bytes_sent", Value::Int(512));
            record.insert("http_user_agent", Value::from("python-requests/2.31.0"));
            record.insert("request_time", Value::Float(0.076));
            Event::new(Tag::new("nginx.access"), 0, record)
        })
        .collect()
}

/// The record filter of the README's pipeline and `levee bench collect`.
fn record_api_call(c: &mut Criterion) {
    let mut group = c.benchmark_group("filters");
    group.throughput(Throughput::Elements(EVENTS as u64));
    let f = filter(
        r#"type = "record"
set = { api_call = "${method|lower}_${path|segment(2)}", status_class = "${status|status_class}" }
retag = "firehose_parsed.nginx""#,
    );
    // Made anew, not cloned: a clone has no room for new fields.
    apply_to_fresh(&mut group, "record_api_call", &f, nginx_events);
    group.finish();
}

/// Two threads on one filter, each with its own events: the cost of the
/// shared state (a mutex for dedupe and throttle, an atomic for sample).
fn contended(c: &mut Criterion) {
    let mut group = c.benchmark_group("filters_2_threads");
    group.throughput(Throughput::Elements(2 * EVENTS as u64));
    let cases = [
        ("sample_count", "type = \"sample\"\nrate = 10"),
        (
            "dedupe",
            "type = \"dedupe\"\nkey = \"message_id\"\nwindow = \"1h\"",
        ),
        (
            "throttle",
            "type = \"throttle\"\nkey = \"${customer_id}\"\nrate = 1000000",
        ),
    ];
    for (name, text) in cases {
        let f = filter(text);
        let mut mine = [events(), events()];
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let start = Instant::now();
                    std::thread::scope(|s| {
                        for events in &mut mine {
                            let f = &f;
                            s.spawn(move || {
                                for e in events.iter_mut() {
                                    black_box(f.apply(e));
                                }
                            });
                        }
                    });
                    total += start.elapsed();
                }
                total
            });
        });
    }
    group.finish();
}

criterion_group!(benches, readers, writers, record_api_call, contended);
criterion_main!(benches);
