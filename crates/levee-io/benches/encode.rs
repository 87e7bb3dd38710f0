//! Records per second for the JSON writer the sinks encode with, on parsed
//! nginx lines, beside `serde_json` for comparison in the same run.
//!
//! `cargo bench -p levee-io --bench encode -- --quick`
//!
//! The lines are the ones `levee-parse`'s `parsers` bench generates for
//! nginx (same generator, same seed), so figures compare across the two.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use levee_io::sinks::encode::Rfc3339;
use levee_io::sinks::encode::json::{write_led_record, write_record};
use levee_parse::{Parser, ParserConfig};

const LINES: usize = 1_000;

const METHODS: &[&str] = &["GET", "GET", "GET", "POST", "PUT", "DELETE"];
const PATHS: &[&str] = &[
    "/",
    "/api/v1/webhooks",
    "/api/v1/users/1234/orders",
    "/static/js/app.4f3c2a.js",
    "/healthz",
];
const AGENTS: &[&str] = &[
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
    "curl/8.4.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
    r#"python-requests/2.31.0 \"bot\""#,
    "-",
];

/// A small deterministic generator, so every run writes the same records.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

fn nginx_lines(rng: &mut Rng) -> Vec<Vec<u8>> {
    (0..LINES)
        .map(|_| {
            let query = match rng.below(3) {
                0 => String::new(),
                _ => format!("?limit={}&page={}", rng.below(100), rng.below(10)),
            };
            let line = format!(
                r#"{}.{}.{}.{} - {} [{:02}/Oct/2023:{:02}:{:02}:{:02} +0000] "{} {}{} HTTP/1.1" {} {} "{}" "{}" {}.{:03}"#,
                rng.below(256),
                rng.below(256),
                rng.below(256),
                rng.below(256),
                rng.pick(&["-", "-", "alice"]),
                1 + rng.below(28),
                rng.below(24),
                rng.below(60),
                rng.below(60),
                rng.pick(METHODS),
                rng.pick(PATHS),
                query,
                rng.pick(&["200", "200", "200", "304", "404", "502"]),
                rng.below(100_000),
                rng.pick(&["-", "https://example.com/start"]),
                rng.pick(AGENTS),
                rng.below(3),
                rng.below(1000),
            );
            line.into_bytes()
        })
        .collect()
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
    let parsed: Vec<_> = nginx_lines(&mut Rng(0x5EED_1E7E_E000_0001))
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

criterion_group!(benches, encode);
criterion_main!(benches);
