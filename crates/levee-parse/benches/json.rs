//! serde_json against sonic-rs and simd-json, parsing the same JSON lines
//! into a levee `Record`, to decide the `json` parser's backend by numbers.
//!
//! `nice cargo bench -p levee-parse --features json-compare --bench json`
//! (add `-- --quick` for a first look)
//!
//! Measured 2026-11-26 on the dev machine (2 cores, AMD EPYC with AVX2,
//! shared with other builds; release profile, no `target-cpu=native`, so
//! simd-json picks AVX2 at run time), 1000 generated lines of 783 bytes on
//! average; the median of five full runs (without `--quick`; the ratio to
//! serde_json varied by run: sonic-rs 1.10-1.22x, simd-json 1.16-1.41x):
//!
//! | parsed by                            | per 1000 lines | lines/s | MB/s  | vs serde_json |
//! |--------------------------------------|----------------|---------|-------|---------------|
//! | serde_json                           | 3.54 ms        | 282 k   | 221   | 1.00x         |
//! | sonic-rs                             | 3.00 ms        | 333 k   | 261   | 1.18x         |
//! | simd-json (with the copy of the line)| 2.65 ms        | 378 k   | 296   | 1.34x         |
//! | serde_json, building nothing         | 0.56 ms        | 1.8 M   | 1409  |               |
//! | levee's `json` parser (serde_json)   | 3.61 ms        | 277 k   | 217   |               |
//!
//! Most of the time goes into building the record, whatever the parser.
//! The `json` parser keeps serde_json: sonic-rs is not 1.3x faster and
//! aborts on a stack overflow for a line of 100 000 `[` deserialized into
//! a `Record`; simd-json refuses integers beyond i64/u64 that serde_json
//! reads as floats, and reports no byte position for a bad string.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use levee_event::Record;
use levee_parse::{JsonConfig, ParserConfig};

mod support;
use support::Rng;

const LINES: usize = 1_000;

const TYPES: &[&str] = &[
    "delivery", "delivery", "delivery", "open", "click", "bounce",
];
const DOMAINS: &[&str] = &[
    "gmail.com",
    "yahoo.com",
    "outlook.com",
    "web.de",
    "example.org",
];
const PROVIDERS: &[&str] = &["Gmail", "Yahoo", "Hotmail / Outlook", "Web.de", "Other"];
const SUBJECTS: &[&str] = &[
    "Your order has shipped",
    r#"Bestätigung Ihrer Bestellung \"Sommer\" – Nr. 4711"#,
    r#"Price drop on items in your cart \ud83d\uded2"#,
    "Reset your password",
];
const REASONS: &[&str] = &[
    "",
    "",
    r#"550 5.1.1 <user@example.org>: Recipient address rejected"#,
    r#"421 4.7.0 [TSS04] Messages from 192.0.2.10 deferred"#,
];
const TAGS: &[&str] = &[
    r#"["welcome","onboarding"]"#,
    r#"["order","transactional","eu"]"#,
    "[]",
];

/// SparkPost-like email events: 25 fields (31 with the nested ones), with
/// nested objects and an array, escapes and non-ASCII text, around 800
/// bytes a line.
fn event_lines(rng: &mut Rng) -> Vec<Vec<u8>> {
    (0..LINES)
        .map(|_| {
            let kind = rng.pick(TYPES);
            let domain = rng.pick(DOMAINS);
            let user = rng.below(1_000_000);
            let line = format!(
                concat!(
                    r#"{{"type":"{kind}","event_id":"{event_id}","timestamp":"2024-06-{day:02}T{h:02}:{m:02}:{s:02}.{ms:03}Z","#,
                    r#""campaign_id":"summer-sale-{campaign}","customer_id":"{customer}","subaccount_id":{subaccount},"#,
                    r#""template_id":"order-confirmation","template_version":"{tv}","transmission_id":"{tx}","#,
                    r#""message_id":"{msg:016x}","friendly_from":"news@shop.example.com","#,
                    r#""rcpt_to":"user{user}@{domain}","mailbox_provider":"{provider}","sending_ip":"192.0.2.{ip}","#,
                    r#""subject":"{subject}","msg_size":{size},"num_retries":{retries},"queue_time":{queue},"#,
                    r#""reason":"{reason}","rcpt_tags":{tags},"rcpt_meta":{{"order_id":{order},"locale":"de-DE"}},"#,
                    r#""geo_ip":{{"country":"DE","city":"Berlin","latitude":52.{lat},"longitude":13.{lon}}},"#,
                    r#""click_tracking":true,"open_tracking":{open},"initial_pixel":null}}"#
                ),
                kind = kind,
                event_id = rng.next() / 7,
                day = 1 + rng.below(28),
                h = rng.below(24),
                m = rng.below(60),
                s = rng.below(60),
                ms = rng.below(1000),
                campaign = rng.below(50),
                customer = rng.below(100_000),
                subaccount = rng.below(100),
                tv = rng.below(9),
                tx = rng.next() / 3,
                msg = rng.next(),
                user = user,
                domain = domain,
                provider = rng.pick(PROVIDERS),
                ip = rng.below(256),
                subject = rng.pick(SUBJECTS),
                size = 1_000 + rng.below(100_000),
                retries = rng.below(3),
                queue = rng.below(20_000),
                reason = rng.pick(REASONS),
                tags = rng.pick(TAGS),
                order = rng.below(10_000_000),
                lat = rng.below(10_000),
                lon = rng.below(10_000),
                open = rng.below(2) == 0,
            );
            line.into_bytes()
        })
        .collect()
}

/// One way to parse a line into a record.
type Backend = fn(&[u8]) -> Option<Record>;

fn with_serde_json(line: &[u8]) -> Option<Record> {
    serde_json::from_slice::<Record>(line).ok()
}

fn with_sonic_rs(line: &[u8]) -> Option<Record> {
    sonic_rs::from_slice::<Record>(line).ok()
}

/// simd-json parses in place, so a parser would have to copy the line
/// first; the copy is part of what is measured.
fn with_simd_json(line: &[u8]) -> Option<Record> {
    let mut copy = line.to_vec();
    simd_json::serde::from_slice::<Record>(&mut copy).ok()
}

fn json_backends(c: &mut Criterion) {
    let mut rng = Rng(0x5EED_1E7E_E000_0003);
    let lines = event_lines(&mut rng);
    let bytes: usize = lines.iter().map(Vec::len).sum();
    let parser = ParserConfig::Json(JsonConfig {
        time_key: Some("timestamp".into()),
        ..JsonConfig::default()
    })
    .build()
    .expect("json config builds");

    // The three must read every line, and read it the same, or the numbers
    // compare different work.
    for line in &lines {
        let text = String::from_utf8_lossy(line);
        let want = with_serde_json(line).unwrap_or_else(|| panic!("serde_json refuses {text}"));
        assert_eq!(
            with_sonic_rs(line).as_ref(),
            Some(&want),
            "sonic-rs: {text}"
        );
        assert_eq!(
            with_simd_json(line).as_ref(),
            Some(&want),
            "simd-json: {text}"
        );
        assert!(parser.parse(line).is_ok(), "levee json parser: {text}");
    }

    let mut group = c.benchmark_group("json_event_lines");
    group.throughput(Throughput::Bytes(bytes as u64));
    let label = |name: &str| format!("{name} ({LINES} lines, {} bytes avg)", bytes / LINES);
    let backends: [(&str, Backend); 3] = [
        ("serde_json", with_serde_json),
        ("sonic_rs", with_sonic_rs),
        ("simd_json", with_simd_json),
    ];
    for (name, parse) in backends {
        group.bench_function(label(name), |b| {
            b.iter(|| {
                for line in &lines {
                    black_box(parse(black_box(line)));
                }
            })
        });
    }
    // serde_json checking the syntax but building nothing (no numbers
    // converted, no strings copied): roughly what a faster parser can save.
    group.bench_function(label("serde_json_build_nothing"), |b| {
        b.iter(|| {
            for line in &lines {
                black_box(serde_json::from_slice::<serde::de::IgnoredAny>(black_box(line)).ok());
            }
        })
    });
    // The whole `json` parser as sources call it (serde_json, then the
    // time field read), for scale.
    group.bench_function(label("levee_json_parser"), |b| {
        b.iter(|| {
            for line in &lines {
                black_box(parser.parse(black_box(line)).ok());
            }
        })
    });
    group.finish();
}

criterion_group!(benches, json_backends);
criterion_main!(benches);
