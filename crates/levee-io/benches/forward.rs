//! Events per second for the forward source's decoder, on one
//! PackedForward frame of 1,000 entries as Fluent Bit sends them
//! (`[[EventTime, {}], record]`), the records as its `nginx` parser makes
//! them plus a request time and id: what `levee bench forward` sends.
//!
//! `cargo bench -p levee-io --bench forward -- --quick`
//!
//! `decode` reads the frame and builds every record; `decode_into_batch`
//! also makes each an event in a batch and drops the batch, as the source
//! and, later, the output do.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use levee_event::{Event, Tag};
use levee_generate::{Dataset, GenerateOptions, Generator};
use levee_io::forward::{msgpack, sample};
use levee_io::sources::forward::decode::{self, Frame, Limits};
use levee_parse::ParserConfig;

const ENTRIES: u64 = 1_000;

const LIMITS: Limits = Limits {
    max_frame_bytes: 64 << 20,
    max_decompressed_bytes: 64 << 20,
};

/// `[tag, bin(entries), {"size": n}]` of generated nginx requests.
fn frame() -> Vec<u8> {
    #[derive(serde::Deserialize)]
    struct Source {
        parser: ParserConfig,
    }
    let parser = toml::from_str::<Source>(
        r#"parser = { type = "nginx", format = "combined_request_time" }"#,
    )
    .expect("bench parser config parses")
    .parser
    .build()
    .expect("bench parser config builds");
    let options = GenerateOptions::builder(Dataset::Nginx)
        .lines(ENTRIES)
        .start("2018-09-01")
        .days(1)
        .build()
        .expect("bench generator options are valid");
    let mut generator = Generator::new(options);
    let (mut line, mut entries) = (Vec::new(), Vec::new());
    let mut n = 0u64;
    while let Some(time) = generator.next_line(&mut line) {
        line.pop(); // the '\n'
        let parsed = parser.parse(&line).expect("generated lines parse");
        msgpack::write_array_header(2, &mut entries);
        msgpack::write_array_header(2, &mut entries);
        msgpack::write_time(time, &mut entries);
        msgpack::write_map_header(0, &mut entries);
        sample::write_fluent_bit_record(&parsed.record, n, &mut entries);
        line.clear();
        n += 1;
    }
    let mut frame = Vec::new();
    msgpack::write_array_header(3, &mut frame);
    msgpack::write_str(b"nginx.access", &mut frame);
    msgpack::write_bin_header(entries.len(), &mut frame);
    frame.extend_from_slice(&entries);
    msgpack::write_map_header(1, &mut frame);
    msgpack::write_str(b"size", &mut frame);
    msgpack::write_int(n as i64, &mut frame);
    frame
}

fn forward(c: &mut Criterion) {
    let bytes = frame();
    let mut group = c.benchmark_group("forward_packed_1000_entries");
    group.throughput(Throughput::Elements(ENTRIES));
    group.bench_function("decode", |b| {
        b.iter(|| {
            let Ok(Frame::Events(events)) = decode::frame(black_box(&bytes)) else {
                panic!("the bench's frame decodes");
            };
            let mut n = 0;
            for entry in events.entries(&LIMITS).expect("entries") {
                let (time, record) = entry.expect("an entry decodes");
                black_box((time, &record));
                n += 1;
            }
            n
        })
    });
    group.bench_function("decode_into_batch", |b| {
        b.iter(|| {
            let Ok(Frame::Events(events)) = decode::frame(black_box(&bytes)) else {
                panic!("the bench's frame decodes");
            };
            let tag = Tag::new(&events.tag);
            let mut batch = Vec::with_capacity(ENTRIES as usize);
            for entry in events.entries(&LIMITS).expect("entries") {
                let (time, record) = entry.expect("an entry decodes");
                batch.push(Event::new(tag.clone(), time, record));
            }
            black_box(batch.len())
        })
    });
    group.finish();
}

criterion_group!(benches, forward);
criterion_main!(benches);
