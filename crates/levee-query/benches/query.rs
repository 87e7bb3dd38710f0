//! Query latency over a generated lake of one week: 168 hours, each one
//! Parquet file and two zstd JSON chunks of `ROWS_PER_HOUR` rows.
//!
//! Run with `cargo bench -p levee-query`; each query's scan line is printed
//! once first, so bytes and files read sit next to the timings.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use levee_query::LakeSession;

#[allow(dead_code)]
#[path = "../tests/it/lake.rs"]
mod lake;

const DAYS: [&str; 7] = [
    "2018-09-01",
    "2018-09-02",
    "2018-09-03",
    "2018-09-04",
    "2018-09-05",
    "2018-09-06",
    "2018-09-07",
];
const ROWS_PER_HOUR: usize = 2_000;

const QUERIES: [(&str, &str); 4] = [
    (
        "parquet_one_day",
        r#"select hour, count(*), count_if(status >= 500), sum(bytes) from "glue-data-lake-usw2-prd".eventlog_parquet where dt = '2018-09-03' group by hour"#,
    ),
    (
        "parquet_week_by_day",
        r#"select dt, count(*), count_if(status >= 500), approx_distinct(path) from "glue-data-lake-usw2-prd".eventlog_parquet group by dt"#,
    ),
    (
        "json_one_day",
        r#"select hour, count(*), count_if(status >= 500), sum(bytes) from "glue-data-lake-usw2-prd".eventlog_json where dt = '2018-09-03' group by hour"#,
    ),
    (
        "json_week_by_day",
        r#"select dt, count(*), count_if(status >= 500), approx_distinct(path) from "glue-data-lake-usw2-prd".eventlog_json group by dt"#,
    ),
];

fn queries(c: &mut Criterion) {
    let hours: Vec<u32> = (0..24).collect();
    let t = lake::TestLake::eventlog(&DAYS, &hours, ROWS_PER_HOUR);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let session = rt.block_on(LakeSession::open(&t.lake)).unwrap();

    c.bench_function("open", |b| {
        b.iter(|| rt.block_on(LakeSession::open(black_box(&t.lake))).unwrap())
    });
    for (name, sql) in QUERIES {
        let first = rt.block_on(session.sql(sql)).unwrap();
        eprintln!("{name}: {}", first.stats);
        c.bench_function(name, |b| {
            b.iter(|| rt.block_on(session.sql(black_box(sql))).unwrap())
        });
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10);
    targets = queries
}
criterion_main!(benches);
