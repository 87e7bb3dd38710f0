//! Compaction throughput: one hour of generated access-log events, from zstd
//! JSON chunks on local disk to Parquet.
//!
//! `cargo bench -p levee-lake --bench compact -- --quick`

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use levee_lake::compact::{CompactOptions, HourSelection, compact_table};
use levee_lake::layout::ZSTD_CHUNK_EXT;
use levee_lake::{Lake, Partition, TableRef};
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

criterion_group!(benches, compact);
criterion_main!(benches);
