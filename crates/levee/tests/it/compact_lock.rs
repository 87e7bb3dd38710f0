//! Two compactions of one table at once: the table's lock lets one work
//! while the other waits, and the table ends whole, as DuckDB counts it.

use std::path::Path;
use std::process::{Child, Stdio};

use crate::support::{count, levee, ok, toml_path};

const EVENTS: u64 = 3_000;
const DB: &str = "locks";

/// Generated events for one day, delivered into `<dir>/lake` as JSON chunks.
pub fn lake_of_one_day(dir: &Path, events: u64) {
    ok(levee()
        .args(["generate", "events", "--lines", &events.to_string()])
        .args(["--start", "2018-09-01", "--days", "1", "--seed", "3", "-o"])
        .arg(dir.join("events.ndjson")));
    let config = format!(
        r#"
data_dir = {data}
[sources.events]
type = "tail"
paths = [{events}]
tag = "events"
parser = {{ type = "json", time_key = "timestamp" }}
[outputs.lake]
match = "events"
type = "lake"
lake = {lake}
database = "{DB}"
table = "eventlog"
"#,
        data = toml_path(&dir.join("data")),
        events = toml_path(&dir.join("events.ndjson")),
        lake = toml_path(&dir.join("lake")),
    );
    std::fs::write(dir.join("levee.toml"), config).unwrap();
    ok(levee()
        .args(["run", "--exit-on-eof", "-c"])
        .arg(dir.join("levee.toml")));
}

/// A `levee compact` whose every hour pauses `pause_ms` first (the test
/// hook), so that a second one started now overlaps it.
pub fn slow_compact(dir: &Path, pause_ms: u64) -> Child {
    levee()
        .args(["compact", "--lake"])
        .arg(dir.join("lake"))
        .env("LEVEE_TEST_COMPACT_PAUSE_MS", pause_ms.to_string())
        .env("LEVEE_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// The hours a `levee compact` said it compacted.
fn hours_compacted(stdout: &str) -> u64 {
    let line = stdout
        .lines()
        .find(|l| l.contains("hours compacted"))
        .unwrap_or_else(|| panic!("no summary in {stdout:?}"));
    let (_, rest) = line.split_once(": ").unwrap();
    rest.split(' ').next().unwrap().parse().unwrap()
}

#[test]
fn two_compactions_at_once_one_waits_and_the_table_ends_whole() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    lake_of_one_day(dir, EVENTS);

    let first = slow_compact(dir, 100);
    let second = slow_compact(dir, 100);
    let outs = [first, second].map(|c| c.wait_with_output().unwrap());
    for out in &outs {
        assert!(
            out.status.success(),
            "{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let stdouts = outs
        .each_ref()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned());
    let stderrs = outs
        .each_ref()
        .map(|o| String::from_utf8_lossy(&o.stderr).into_owned());
    // One did the work; the other waited for the lock, then found nothing to do.
    let waited: Vec<bool> = stderrs
        .iter()
        .map(|e| e.contains("waiting for the compaction lock"))
        .collect();
    assert_eq!(
        waited.iter().filter(|w| **w).count(),
        1,
        "exactly one waits: {stderrs:?}"
    );
    let hours = stdouts.each_ref().map(|s| hours_compacted(s));
    let waiter = waited.iter().position(|w| *w).unwrap();
    assert_eq!(hours[waiter], 0, "{stdouts:?}");
    assert!(hours[1 - waiter] >= 20, "{stdouts:?}");

    let parquet = format!(
        "read_parquet('lake/{DB}/eventlog/parquet/*/*/*.parquet', hive_partitioning = true)"
    );
    assert_eq!(
        count(dir, &format!("select count(*) from {parquet}")),
        EVENTS
    );
    assert!(
        !dir.join(format!("lake/{DB}/eventlog/_levee/lock.json"))
            .exists(),
        "the lock is released"
    );
}

/// `--lock-wait 0s` gives up on a table another compactor holds, and says who.
#[test]
fn a_compaction_that_may_not_wait_reports_the_lock_and_fails() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    lake_of_one_day(dir, 500);
    let lock = dir.join(format!("lake/{DB}/eventlog/_levee/lock.json"));
    // A live holder on another machine, whose lease runs for an hour.
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    std::fs::write(
        &lock,
        format!(
            r#"{{"owner":"elsewhere-7-1","host":"elsewhere","pid":7,"acquired_ms":{now_ms},"expires_ms":{}}}"#,
            now_ms + 3_600_000
        ),
    )
    .unwrap();
    let out = levee()
        .args(["compact", "--lock-wait", "0s", "--lake"])
        .arg(dir.join("lake"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("being compacted by elsewhere-7-1"),
        "{stderr}"
    );
    assert!(lock.exists(), "another's lock is left alone");
}
