//! `<table>`, the table always whole, with the real binary: some hours
//! compacted, some not, a late chunk in a compacted hour; its counts are
//! DuckDB's over the raw JSON chunks, hour by hour, so no hour is counted
//! twice or missed.

use std::collections::BTreeMap;
use std::path::Path;

use crate::support::{duckdb, levee, ok, run_with_stdin, stdin_to_lake, stdout};

const DB: &str = "whole";
const JSON: &str =
    "read_json_auto('lake/whole/events/json/*/*/*.ndjson.zst', compression = 'zstd')";

/// Writes `rows` events into each of `hours` (of 2018-09-01) through a
/// `levee run` of its own, so every run adds new chunks.
fn ingest(dir: &Path, hours: &[(u32, u32)]) {
    let config = stdin_to_lake(dir, DB, "events");
    let mut input = String::new();
    for &(hour, rows) in hours {
        for n in 0..rows {
            input.push_str(&format!(
                "{{\"timestamp\":\"2018-09-01T{hour:02}:{:02}:00Z\",\"n\":{n}}}\n",
                n % 60
            ));
        }
    }
    let out = run_with_stdin(dir, &config, input.as_bytes());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn compact(dir: &Path, hours: &[&str]) {
    let mut cmd = levee();
    cmd.args(["compact", "--lake"]).arg(dir.join("lake"));
    for h in hours {
        cmd.args(["--hour", h]);
    }
    ok(&mut cmd);
}

/// Rows per hour, `hour -> rows`, from CSV whose columns are hour and count.
fn per_hour(csv: &str) -> BTreeMap<u32, u64> {
    csv.lines()
        .skip(1)
        .map(|line| {
            let (hour, n) = line.split_once(',').unwrap();
            (hour.parse().unwrap(), n.parse().unwrap())
        })
        .collect()
}

/// levee's rows per hour of `table`, and its accounting line.
fn levee_per_hour(dir: &Path, table: &str) -> (BTreeMap<u32, u64>, String) {
    let out = ok(levee()
        .args(["query", "--format", "csv", "--lake"])
        .arg(dir.join("lake"))
        .arg(format!(
            "select cast(hour as int) as h, count(*) as n from {table} group by 1 order by 1"
        )));
    (
        per_hour(&stdout(&out)),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// DuckDB's rows per hour of the raw chunks, by the event time.
fn duckdb_per_hour(dir: &Path) -> BTreeMap<u32, u64> {
    per_hour(&duckdb(
        dir,
        &format!(
            "select hour(cast(\"timestamp\" as timestamp)) as h, count(*) as n \
             from {JSON} group by 1 order by 1"
        ),
    ))
}

#[test]
fn the_whole_table_counts_every_hour_once_from_parquet_or_json() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    ingest(dir, &[(10, 30), (11, 20), (12, 10)]);
    compact(dir, &["2018-09-01/10", "2018-09-01/11"]);
    // A late chunk for compacted hour 10, and a new hour.
    ingest(dir, &[(10, 5), (13, 7)]);

    let expected = BTreeMap::from([(10, 35), (11, 20), (12, 10), (13, 7)]);
    assert_eq!(duckdb_per_hour(dir), expected);
    // The Parquet copy alone misses the late rows and the hours not compacted.
    let (parquet, _) = levee_per_hour(dir, "events_parquet");
    assert_eq!(parquet, BTreeMap::from([(10, 30), (11, 20)]));

    // Hour 11 from its Parquet; 10 (late chunk), 12 and 13 from JSON.
    let (whole, said) = levee_per_hour(dir, "events");
    assert_eq!(whole, expected, "{said}");
    assert!(said.contains("of Parquet from 1 hour,"), "{said}");
    assert!(said.contains("of JSON from 3 hours)"), "{said}");

    // Once every hour is compacted, all of it comes from Parquet.
    compact(dir, &[]);
    let (whole, said) = levee_per_hour(dir, "events");
    assert_eq!(whole, expected, "{said}");
    assert!(said.contains("of Parquet from 4 hours,"), "{said}");
    assert!(said.contains("0 B of JSON from 0 hours)"), "{said}");
}
