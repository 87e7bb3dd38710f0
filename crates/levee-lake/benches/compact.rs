//! Compaction throughput, from zstd JSON chunks on local disk to Parquet:
//!
//! - `compact/access log`: one hour of generated access-log events;
//! - `compact/events`: the SparkPost-like events `levee bench compact`
//!   compacts (levee-generate's), laid out as it lays them out (a table
//!   with a time field, a chunk per minute of event time, zstd level 1),
//!   `LEVEE_BENCH_EVENTS` of them (default 100,000) over
//!   `LEVEE_BENCH_HOURS` hours (default 168, a week, as the command's
//!   default), compacted from no Parquet and no catalog each time.
//!
//! `cargo bench -p levee-lake --bench compact -- --quick`

use std::hint::black_box;

use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use levee_event::time::{NANOS_PER_SEC, UtcTime};
use levee_generate::{Dataset, GenerateOptions, Generator};
use levee_lake::compact::{CompactOptions, HourSelection, compact_table};
use levee_lake::layout::ZSTD_CHUNK_EXT;
use levee_lake::properties::{TableProperties, TimeField, write_properties};
use levee_lake::{Lake, Partition, TableRef};
use object_store::memory::InMemory;
use object_store::{ObjectStoreExt, PutPayload};

const ROWS: usize = 100_000;
const ROWS_PER_CHUNK: usize = 10_000;

/// A small deterministic generator, so every run compacts the same events.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }
}

const METHODS: &[&str] = &["GET", "GET", "GET", "POST", "PUT", "DELETE"];
const PATHS: &[&str] = &[
    "/",
    "/api/v1/webhooks",
    "/api/v1/users/1234/orders",
    "/healthz",
];
const AGENTS: &[&str] = &[
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0",
    "curl/8.4.0",
    "python-requests/2.31.0",
];

/// A record like the nginx parser's, with a nested object and a list.
fn event(rng: &mut Rng, i: usize) -> String {
    format!(
        concat!(
            r#"{{"time":"2018-09-01T13:{:02}:{:02}Z","remote_addr":"10.0.{}.{}","method":"{}","path":"{}","#,
            r#""status":{},"body_bytes_sent":{},"request_time":{}.{:03},"user_agent":"{}","#,
            r#""geo":{{"country":"US","asn":{}}},"tags":["a","b{}"],"type":"{}_{}"}}"#
        ),
        i / 1700 % 60,
        i % 60,
        rng.below(256),
        rng.below(256),
        METHODS[rng.below(METHODS.len() as u64) as usize],
        PATHS[rng.below(PATHS.len() as u64) as usize],
        [200, 200, 200, 201, 404, 500][rng.below(6) as usize],
        rng.below(100_000),
        rng.below(3),
        rng.below(1000),
        AGENTS[rng.below(AGENTS.len() as u64) as usize],
        rng.below(65_000),
        rng.below(10),
        METHODS[rng.below(METHODS.len() as u64) as usize].to_lowercase(),
        rng.below(40),
    )
}

fn compact(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(dir.path().to_str().unwrap()).unwrap();
    let table = TableRef::new("bench", "eventlog").unwrap();
    let hour = Partition {
        dt: "2018-09-01".to_owned(),
        hour: 13,
    };
    let mut rng = Rng(0x5eed);
    let mut json_bytes = 0;
    runtime.block_on(async {
        for (seq, start) in (0..ROWS).step_by(ROWS_PER_CHUNK).enumerate() {
            let text: String = (start..start + ROWS_PER_CHUNK)
                .map(|i| event(&mut rng, i) + "\n")
                .collect();
            json_bytes += text.len();
            let key = table.json_chunk(
                &hour,
                (seq % 60) as u32,
                "bench",
                seq as u64,
                ZSTD_CHUNK_EXT,
            );
            let body = zstd::encode_all(text.as_bytes(), 3).unwrap();
            lake.store.put(&key, PutPayload::from(body)).await.unwrap();
        }
    });
    let opts = CompactOptions {
        hours: HourSelection::Only(vec![hour]),
        force: true,
        ..CompactOptions::default()
    };

    let mut group = c.benchmark_group("compact");
    group.sample_size(10);
    group.throughput(Throughput::Bytes(json_bytes as u64));
    group.bench_function(
        format!("{ROWS} rows, {} MB of JSON", json_bytes >> 20),
        |b| {
            b.iter(|| {
                let report = runtime
                    .block_on(compact_table(&lake, &table, &opts))
                    .unwrap();
                assert_eq!(report.rows_written(), ROWS as u64);
                black_box(report)
            })
        },
    );
    group.finish();
}

/// A number from the environment, or `default`.
fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Writes `events` SparkPost-like events over `hours` hours from
/// 2018-09-01 as the table's chunks, a chunk per minute of event time in
/// zstd frames of 4 MiB at level 1 (the lake output's defaults); returns
/// the bytes of JSON.
async fn write_events(lake: &Lake, table: &TableRef, events: u64, hours: u32) -> u64 {
    const NANOS_PER_MINUTE: i64 = 60 * NANOS_PER_SEC;
    let days = hours.div_ceil(24).max(1);
    let options = GenerateOptions::builder(Dataset::Events)
        .lines(events)
        .start("2018-09-01")
        .days(days)
        .build()
        .unwrap();
    let start = levee_event::time::parse_date("2018-09-01").unwrap() * 24 * 60 * NANOS_PER_MINUTE;
    let span = i64::from(days) * 24 * 60 * NANOS_PER_MINUTE;
    let target = i64::from(hours) * 60 * NANOS_PER_MINUTE;
    write_properties(
        lake,
        table,
        &TableProperties::new(TimeField::new("time").unwrap()),
    )
    .await
    .unwrap();
    let mut generator = Generator::new(options);
    let (mut line, mut text) = (Vec::new(), Vec::new());
    let (mut minute_of_text, mut seq, mut json_bytes) = (None, 0u64, 0);
    loop {
        line.clear();
        let time = generator.next_line(&mut line);
        // The generator's days, squeezed into `hours`.
        let minute = time.map(|time| {
            let offset = i128::from(time - start) * i128::from(target) / i128::from(span);
            (start + i64::try_from(offset).unwrap().min(target - 1)).div_euclid(NANOS_PER_MINUTE)
        });
        if minute != minute_of_text && !text.is_empty() {
            let mut body = Vec::new();
            for frame in text.chunks(4 << 20) {
                body.extend_from_slice(&zstd::bulk::compress(frame, 1).unwrap());
            }
            let m: i64 = minute_of_text.unwrap();
            let (partition, minute) = Partition::of_time(m * NANOS_PER_MINUTE);
            let key = table.json_chunk(&partition, minute, "bench", seq, ZSTD_CHUNK_EXT);
            lake.store.put(&key, PutPayload::from(body)).await.unwrap();
            seq += 1;
            json_bytes += text.len() as u64;
            text.clear();
        }
        let (Some(time), Some(minute)) = (time, minute) else {
            break;
        };
        minute_of_text = Some(minute);
        // As the lake output leads each record with its event time.
        let time =
            UtcTime::from_nanos(minute * NANOS_PER_MINUTE + time.rem_euclid(NANOS_PER_MINUTE));
        text.extend_from_slice(b"{\"time\":\"");
        text.extend_from_slice(time.rfc3339_millis().as_bytes());
        text.extend_from_slice(b"\",");
        text.extend_from_slice(&line[1..]);
    }
    json_bytes
}

/// CPU seconds this process has used so far (user and system), from
/// `/proc/self/stat`: on a shared machine, what compaction costs is its
/// CPU time more than its wall time.
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    // The fields after the command's `(...)`: utime and stime are the 12th
    // and 13th of them, in clock ticks (100 a second on Linux).
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let ticks: u64 = rest
        .split(' ')
        .skip(11)
        .take(2)
        .map(|f| f.parse::<u64>().unwrap())
        .sum();
    Duration::from_millis(ticks * 10)
}

fn compact_events(c: &mut Criterion) {
    let events = env_number("LEVEE_BENCH_EVENTS", 100_000);
    let hours = u32::try_from(env_number("LEVEE_BENCH_HOURS", 168)).unwrap();
    // Hours are compacted in parallel, one per worker, as `levee compact` does.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    // In memory: what is measured is compaction's work, not the file
    // system's (creating files on a busy disk costs more than all of it).
    let chunks = Arc::new(InMemory::new());
    let lake = |store: Arc<InMemory>| Lake {
        store,
        location: "memory".to_owned(),
        url: url::Url::parse("memory:///").unwrap(),
    };
    let table = TableRef::new("bench", "events").unwrap();
    let json_bytes = runtime.block_on(write_events(&lake(chunks.clone()), &table, events, hours));
    let opts = CompactOptions {
        hours: HourSelection::All,
        force: true,
        grace: Duration::ZERO,
        ..CompactOptions::default()
    };

    let mut group = c.benchmark_group("compact");
    group.sample_size(10);
    group.throughput(Throughput::Elements(events));
    // Each time from no Parquet and no catalog, as `levee bench compact`
    // runs it; the time measured is CPU time, over the runtime's threads.
    group.bench_function(
        format!(
            "events (CPU time): {events} over {hours} hours, {} MB of JSON",
            json_bytes >> 20
        ),
        |b| {
            b.iter_custom(|iters| {
                let mut spent = Duration::ZERO;
                for _ in 0..iters {
                    let lake = lake(Arc::new(chunks.fork()));
                    let before = cpu_time();
                    let report = runtime
                        .block_on(compact_table(&lake, &table, &opts))
                        .unwrap();
                    spent += cpu_time() - before;
                    assert_eq!(report.rows_written(), events);
                    black_box(report);
                }
                spent
            })
        },
    );
    group.finish();
}

criterion_group!(benches, compact, compact_events);
criterion_main!(benches);
