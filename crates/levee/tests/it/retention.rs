//! Retention with the real binary: `keep_json` on a lake output, hours of
//! 2018 (long past any limit), `levee compact` expiring the JSON once the
//! Parquet covers it, and a late chunk merged into the Parquet; counts
//! from DuckDB over the Parquet files; and the scheduler doing the same
//! for every table of its outputs' lake.

use std::path::Path;
use std::time::Duration;

use crate::support::{
    Running, count, files, levee, ok, run_with_stdin, sigterm, stdin_to_lake, stdout, toml_path,
    wait_until,
};

const PARQUET: &str = "read_parquet('lake/ret/events/parquet/*/*/*.parquet')";

fn config(dir: &Path) -> String {
    format!(
        "{}keep_json = \"7d\"\n",
        stdin_to_lake(dir, "ret", "events")
    )
}

/// `rows` events in hour `hour` of 2018-09-01, numbered from `from`.
fn ingest(dir: &Path, hour: u32, from: u32, rows: u32) {
    let input: String = (from..from + rows)
        .map(|n| {
            format!(
                "{{\"timestamp\":\"2018-09-01T{hour:02}:{:02}:00Z\",\"n\":{n}}}\n",
                n % 60
            )
        })
        .collect();
    let out = run_with_stdin(dir, &config(dir), input.as_bytes());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn json_chunks(dir: &Path) -> usize {
    files(&dir.join("lake/ret/events/json"))
        .iter()
        .filter(|p| p.to_string_lossy().ends_with(".ndjson.zst"))
        .count()
}

fn compact(dir: &Path, extra: &[&str]) -> String {
    stdout(&ok(levee()
        .args(["compact", "--grace", "0s", "--lake"])
        .arg(dir.join("lake"))
        .args(extra)))
}

#[test]
fn keep_json_expires_covered_chunks_and_a_late_chunk_is_merged_into_the_parquet() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    ingest(dir, 10, 0, 100);
    ingest(dir, 11, 0, 50);
    assert_eq!(json_chunks(dir), 2);

    // Nothing covers the chunks yet: a dry run says they are kept.
    let planned = compact(dir, &["--dry-run"]);
    assert!(planned.contains("2 hours would be compacted"), "{planned}");
    assert!(
        planned.contains(
            "dt=2018-09-01/hour=10: past keep_json, but chunks its Parquet does not cover are kept"
        ),
        "{planned}"
    );

    let done = compact(dir, &[]);
    assert!(done.contains("expired 2 JSON chunks of 2 hours"), "{done}");
    assert_eq!(json_chunks(dir), 0);
    assert_eq!(count(dir, &format!("select count(*) from {PARQUET}")), 150);

    // A late chunk for hour 10, whose JSON is gone: merged, never replacing.
    ingest(dir, 10, 100, 30);
    let planned = compact(dir, &["--dry-run"]);
    assert!(planned.contains("1 hours would be compacted"), "{planned}");
    let done = compact(dir, &[]);
    assert!(done.contains("1 hours compacted, 130 rows"), "{done}");
    assert_eq!(json_chunks(dir), 0, "the late chunk expired once merged");
    assert_eq!(count(dir, &format!("select count(*) from {PARQUET}")), 180);
    assert_eq!(
        count(
            dir,
            &format!("select count(distinct n) from {PARQUET} where hour = 10")
        ),
        130
    );
}

/// `[compaction]` in `levee run` compacts every table of the lake its
/// output writes to, not only that output's, and applies their retention.
#[test]
fn the_scheduler_compacts_and_expires_every_table_of_the_outputs_lake() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    // A table no output of the running config writes, with `keep_json`.
    ingest(dir, 10, 0, 40);
    assert_eq!(json_chunks(dir), 1);

    std::fs::write(
        dir.join("events.ndjson"),
        "{\"timestamp\":\"2018-09-01T05:00:00Z\",\"n\":1}\n",
    )
    .unwrap();
    let config = format!(
        r#"
data_dir = {data}
[compaction]
schedule = "* * * * *"
grace = "0s"
[sources.events]
type = "tail"
paths = [{events}]
tag = "events"
parser = {{ type = "json", time_key = "timestamp" }}
[outputs.lake]
match = "events"
type = "lake"
lake = {lake}
database = "ret"
table = "mine"
chunk_interval = "1s"
"#,
        data = toml_path(&dir.join("data2")),
        events = toml_path(&dir.join("events.ndjson")),
        lake = toml_path(&dir.join("lake")),
    );
    std::fs::write(dir.join("levee.toml"), config).unwrap();
    let log = std::fs::File::create(dir.join("levee.log")).unwrap();
    let mut levee_run = Running(
        levee()
            .args(["run", "-c"])
            .arg(dir.join("levee.toml"))
            .env("LEVEE_TEST_COMPACTION_EVERY_MS", "300")
            .env("LEVEE_LOG", "info")
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    wait_until(
        Duration::from_secs(60),
        "the other table compacted and its JSON expired",
        || {
            let parquet = files(&dir.join("lake/ret/events/parquet"));
            (json_chunks(dir) == 0 && !parquet.is_empty()).then_some(())
        },
    );
    assert_eq!(count(dir, &format!("select count(*) from {PARQUET}")), 40);
    sigterm(&levee_run.0);
    levee_run.exits_ok(Duration::from_secs(30));
}

/// `[outputs.X.schema]`: the declared type wins over inference, values are
/// cast, and one that cannot be is null, its record kept in the records
/// quarantine, and `levee compact` says so and exits 2.
#[test]
fn a_declared_schema_casts_values_and_quarantines_those_that_do_not_fit() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let config = format!(
        "{}\n[outputs.lake.schema]\nstatus = \"bigint\"\n",
        stdin_to_lake(dir, "ret", "events")
    );
    let input = "{\"timestamp\":\"2018-09-01T10:00:00Z\",\"status\":\"404\"}\n\
                 {\"timestamp\":\"2018-09-01T10:00:01Z\",\"status\":200}\n\
                 {\"timestamp\":\"2018-09-01T10:00:02Z\",\"status\":\"n/a\"}\n";
    let out = run_with_stdin(dir, &config, input.as_bytes());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let out = levee()
        .args(["compact", "--lake"])
        .arg(dir.join("lake"))
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{said}");
    assert!(
        said.contains("1 values did not fit the declared schema"),
        "{said}"
    );
    assert_eq!(
        count(
            dir,
            &format!(
                "select count(*) from {PARQUET} where typeof(status) = 'BIGINT' and status in (404, 200)"
            )
        ),
        2
    );
    assert_eq!(
        count(
            dir,
            &format!("select count(*) from {PARQUET} where status is null")
        ),
        1
    );
    // The JSON copy reads with the declared type too: cast, the value that
    // does not fit read as null, never a failed query.
    let out = ok(levee()
        .args(["query", "--format", "csv", "--lake"])
        .arg(dir.join("lake"))
        .arg("select count(*) as n, count(status) as s from ret.events_json"));
    assert_eq!(stdout(&out), "n,s\n3,2\n");
    let kept = files(&dir.join("lake/ret/events/quarantine/records"));
    assert_eq!(kept.len(), 1, "{kept:?}");
    let text = std::fs::read_to_string(&kept[0]).unwrap();
    assert!(
        text.contains(r#"status: \"n/a\" is not a bigint"#),
        "{text}"
    );
}
