//! Batches of 1,024 events through the memory buffer (push, then
//! next_batch), without an ack and with one, as a source that can replay
//! sends them: what the delivery tokens cost on the hot path. One ack a
//! batch: issued by a ledger, kept beside the queue, handed out with the
//! batch and dropped, which marks it done.
//!
//! `cargo bench -p levee-pipeline --bench buffer -- --quick`

use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use levee_event::{Event, Ledger, Record, Tag, Value};
use levee_pipeline::buffer::{BufferSettings, MemoryBuffer, WhenFull};
use levee_pipeline::metrics::Metrics;

const BATCH: usize = 1024;

/// nginx-like records: a few short fields each.
fn batch() -> Vec<Event> {
    (0..BATCH)
        .map(|i| {
            let mut record = Record::new();
            record.insert("remote_addr", Value::from("203.0.113.7"));
            record.insert("method", Value::from("GET"));
            record.insert("path", Value::from(format!("/api/v1/items/{i}")));
            record.insert("status", Value::Int(200));
            record.insert("body_bytes_sent", Value::Int(i as i64));
            Event::new(Tag::new("nginx.access"), i as i64, record)
        })
        .collect()
}

fn push_and_take(c: &mut Criterion) {
    let events = batch();
    let bytes: usize = events.iter().map(Event::size_hint).sum();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let metrics = Metrics::new();
    let mut group = c.benchmark_group("buffer");
    group.throughput(Throughput::Elements(BATCH as u64));
    for acked in [false, true] {
        // A batch is ready as soon as it is in, and taken whole.
        let settings = BufferSettings {
            max_bytes: 4 * bytes,
            batch_max_bytes: 4 * bytes,
            flush_interval: Duration::ZERO,
            when_full: WhenFull::Block,
        };
        let buffer = MemoryBuffer::new(settings, metrics.output("bench", "blackhole"));
        let ledger = Ledger::new();
        let name = if acked { "acked" } else { "plain" };
        group.bench_function(name, |b| {
            b.iter_batched(
                || events.clone(),
                |events| {
                    runtime.block_on(async {
                        let ack = acked.then(|| ledger.issue().1);
                        buffer.push(events, ack).await;
                        let ready = buffer.next_batch().await.unwrap();
                        assert_eq!(ready.acks.len(), usize::from(acked));
                        // The ack is done here, timed; the events drop
                        // after, untimed, as the sink's business.
                        drop(ready.acks);
                        ready.events
                    })
                },
                BatchSize::SmallInput,
            );
        });
        assert_eq!(ledger.outstanding(), 0);
    }
    group.finish();
}

criterion_group!(benches, push_and_take);
criterion_main!(benches);
