//! Records per second for the JSON writer the sinks encode with, on parsed
//! nginx lines, beside `serde_json` for comparison in the same run.
//!
//! `cargo bench -p levee-io --bench encode -- --quick`
//!
//! A second group measures the lake sink's work per event into a chunk,
//! with and without what exactly-once adds.
//!
//! The lines are the demo's nginx traffic from `levee-generate`, as
//! `levee bench collect` parses them, so figures compare with its.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use levee_event::{Event, Origin, Tag};
use levee_generate::{Dataset, GenerateOptions, Generator};
use levee_io::sinks::encode::Rfc3339;
use levee_io::sinks::encode::json::{write_led_record, write_record};
use levee_io::sinks::lake::bench::Absorb;
use levee_parse::{Parser, ParserConfig};

const LINES: u64 = 1_000;

/// The lines `levee bench collect` parses: the demo's nginx traffic, in
/// the bench's format, from one seed, so every run writes the same records.
fn nginx_lines() -> Vec<Vec<u8>> {
    let options = GenerateOptions::builder(Dataset::Nginx)
        .lines(LINES)
        .start("2018-09-01")
        .days(1)
        .build()
        .expect("bench generator options are valid");
    let mut generator = Generator::new(options);
    let mut lines = Vec::new();
    let mut line = Vec::new();
    while generator.next_line(&mut line).is_some() {
        line.pop(); // the '\n'
        lines.push(std::mem::take(&mut line));
    }
    lines
}

/// A parser from a source's `parser = ...` line, as a user writes it.
fn from_toml(line: &str) -> Parser {
    #[derive(serde::Deserialize)]
    struct Source {
        parser: ParserConfig,
    }
    let source: Source = toml::from_str(line).expect("bench parser config parses");
    source.parser.build().expect("bench parser config builds")
}

/// The parsed nginx records written as JSON lines, as the sinks write
/// them: by [`write_record`], led by the event time as the lake writes
/// them, and by `serde_json`.
fn encode(c: &mut Criterion) {
    let parser = from_toml(r#"parser = { type = "nginx", format = "combined_request_time" }"#);
    let parsed: Vec<_> = nginx_lines()
        .iter()
        .map(|line| match parser.parse(line) {
            Ok(parsed) => (parsed.time.unwrap_or_default(), parsed.record),
            // Or the benchmark measures fewer records than it says.
            Err(e) => panic!("generated line does not parse: {e}"),
        })
        .collect();
    let records: Vec<_> = parsed.iter().map(|(_, record)| record.clone()).collect();
    let mut out = Vec::with_capacity(1 << 20);
    let mut group = c.benchmark_group("encode_nginx_records");
    group.throughput(Throughput::Elements(records.len() as u64));
    group.bench_function("write_json", |b| {
        b.iter(|| {
            out.clear();
            for record in &records {
                write_record(record, &mut out);
                out.push(b'\n');
            }
            black_box(out.len())
        })
    });
    // As the lake writes them: each led by its event time.
    group.bench_function("write_json_with_time", |b| {
        b.iter(|| {
            out.clear();
            let mut text = Rfc3339::default();
            for (time, record) in &parsed {
                write_led_record("time", text.format(*time), record, &mut out);
                out.push(b'\n');
            }
            black_box(out.len())
        })
    });
    group.bench_function("serde_json", |b| {
        b.iter(|| {
            out.clear();
            for record in &records {
                serde_json::to_writer(&mut out, record).expect("records encode");
                out.push(b'\n');
            }
            black_box(out.len())
        })
    });
    group.finish();
}

/// The lake sink's work per event on the way into a chunk (the JSON led
/// by its time, plus what exactly-once adds): events without an origin
/// (stdin, the generator); from a tailed file, whose offsets each chunk
/// notes; and the same while another stream's replay is not over, so each
/// event is looked at against the stored ranges.
fn lake_absorb(c: &mut Criterion) {
    let parser = from_toml(r#"parser = { type = "nginx", format = "combined_request_time" }"#);
    let mut offset = 0;
    let tailed: Vec<Event> = nginx_lines()
        .iter()
        .map(|line| {
            let parsed = parser.parse(line).expect("generated lines parse");
            let event = Event::new(
                Tag::new("nginx"),
                parsed.time.unwrap_or_default(),
                parsed.record,
            )
            .with_origin(Origin { stream: 7, offset });
            offset += line.len() as u64 + 1;
            event
        })
        .collect();
    let untailed: Vec<Event> = tailed
        .iter()
        .map(|e| Event::new(e.tag.clone(), e.time, e.record.clone()))
        .collect();
    let mut group = c.benchmark_group("lake_absorb_nginx_records");
    group.throughput(Throughput::Elements(tailed.len() as u64));
    let mut absorb = Absorb::new(false);
    group.bench_function("no_origin", |b| b.iter(|| black_box(absorb.run(&untailed))));
    group.bench_function("tailed", |b| b.iter(|| black_box(absorb.run(&tailed))));
    let mut replaying = Absorb::new(true);
    group.bench_function("tailed_replay_elsewhere", |b| {
        b.iter(|| black_box(replaying.run(&tailed)))
    });
    group.finish();
}

criterion_group!(benches, encode, lake_absorb);
criterion_main!(benches);
