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

/// The hours' manifests under the table's catalog, as JSON. Only whole
/// ones: a compactor running meanwhile writes each through a staging file
/// (`….json#N`) renamed into place, which a reader may list mid-write or
/// find gone.
fn manifests(dir: &Path) -> Vec<serde_json::Value> {
    crate::support::files(&dir.join(format!("lake/{DB}/eventlog/_levee/manifests")))
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .filter_map(|p| std::fs::read(p).ok())
        .map(|bytes| serde_json::from_slice(&bytes).unwrap())
        .collect()
}

/// DuckDB's source for exactly the Parquet files the manifests commit.
fn committed_parquet(dir: &Path) -> String {
    let mut files = Vec::new();
    for m in manifests(dir) {
        let (dt, hour) = (m["dt"].as_str().unwrap(), m["hour"].as_u64().unwrap());
        for f in m["outputs"].as_array().unwrap() {
            files.push(format!(
                "'lake/{DB}/eventlog/parquet/dt={dt}/hour={hour:02}/{}'",
                f["name"].as_str().unwrap()
            ));
        }
    }
    format!(
        "read_parquet([{}], hive_partitioning = true)",
        files.join(", ")
    )
}

fn levee_count(dir: &Path) -> u64 {
    let out = ok(levee()
        .args(["query", "--format", "csv", "--lake"])
        .arg(dir.join("lake"))
        .arg(format!("select count(*) from {DB}.eventlog_parquet")));
    crate::support::stdout(&out)
        .lines()
        .nth(1)
        .and_then(|l| l.parse().ok())
        .unwrap()
}

/// kill -9 in the middle of a compaction, between an hour's files and its
/// manifest: queries see the hours committed before, whole, and nothing
/// of the hour in progress; the next run breaks the dead one's lock at
/// once and ends with every event once.
#[test]
fn a_compaction_killed_mid_hour_loses_nothing_and_duplicates_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    lake_of_one_day(dir, EVENTS);

    let mut killed = crate::support::Running(slow_compact(dir, 300));
    // Three hours committed, and the files of a fourth written, not yet.
    let parquet_files = || {
        crate::support::files(&dir.join(format!("lake/{DB}/eventlog/parquet")))
            .into_iter()
            .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
            .count()
    };
    crate::support::wait_until(
        std::time::Duration::from_secs(60),
        "an hour written but not committed",
        || {
            let outputs: usize = manifests(dir)
                .iter()
                .map(|m| m["outputs"].as_array().unwrap().len())
                .sum();
            (outputs >= 3 && parquet_files() > outputs).then_some(())
        },
    );
    killed.0.kill().unwrap();
    killed.0.wait().unwrap();

    let committed: u64 = manifests(dir)
        .iter()
        .map(|m| m["rows"].as_u64().unwrap())
        .sum();
    assert!(committed > 0 && committed < EVENTS, "{committed}");
    assert_eq!(levee_count(dir), committed, "only committed hours, whole");
    assert_eq!(
        count(
            dir,
            &format!("select count(*) from {}", committed_parquet(dir))
        ),
        committed
    );
    let lock = dir.join(format!("lake/{DB}/eventlog/_levee/lock.json"));
    assert!(lock.exists(), "the killed compactor's lock is left");

    let out = ok(levee()
        .args(["compact", "--lake"])
        .arg(dir.join("lake"))
        .env("LEVEE_LOG", "info"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("breaking a stale compaction lock"),
        "{stderr}"
    );
    assert_eq!(levee_count(dir), EVENTS);
    let parquet = committed_parquet(dir);
    assert_eq!(
        count(dir, &format!("select count(*) from {parquet}")),
        EVENTS
    );
    assert_eq!(
        count(
            dir,
            &format!("select count(distinct event_id) from {parquet}")
        ),
        EVENTS
    );

    // Once past the grace period (none here), what the killed run left is
    // deleted, and even a reader that lists the folders sees every event once.
    ok(levee()
        .args(["compact", "--grace", "0s", "--lake"])
        .arg(dir.join("lake")));
    let all = format!(
        "read_parquet('lake/{DB}/eventlog/parquet/*/*/*.parquet', hive_partitioning = true)"
    );
    assert_eq!(count(dir, &format!("select count(*) from {all}")), EVENTS);
}

/// `--dry-run` says what would be compacted and touches nothing; `--from`
/// and `--to` bound the hours; off a terminal, each hour is a log line.
#[test]
fn dry_run_and_an_hour_range_compact_what_they_say() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    lake_of_one_day(dir, 500);
    let lake = dir.join("lake");

    let out = ok(levee().args(["compact", "--dry-run", "--lake"]).arg(&lake));
    let said = crate::support::stdout(&out);
    let would: Vec<&str> = said
        .lines()
        .filter(|l| l.ends_with("would compact (never compacted)"))
        .collect();
    assert_eq!(would.len(), 24, "{said}");
    assert!(said.contains(&format!("{DB}.eventlog: 24 hours would be compacted")));
    assert!(manifests(dir).is_empty(), "a dry run writes nothing");
    assert!(!dir.join(format!("lake/{DB}/eventlog/parquet")).exists());

    let out = ok(levee()
        .args([
            "compact",
            "--from",
            "2018-09-01/03",
            "--to",
            "2018-09-01/05",
            "--lake",
        ])
        .arg(&lake)
        .env("LEVEE_LOG", "info"));
    assert_eq!(hours_compacted(&crate::support::stdout(&out)), 3);
    let mut hours: Vec<u64> = manifests(dir)
        .iter()
        .map(|m| m["hour"].as_u64().unwrap())
        .collect();
    hours.sort();
    assert_eq!(hours, [3, 4, 5]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr.lines().filter(|l| l.contains(" rows from ")).count(),
        3,
        "a plain line per hour: {stderr}"
    );

    let out = ok(levee().args(["compact", "--dry-run", "--lake"]).arg(&lake));
    assert!(crate::support::stdout(&out).contains("21 hours would be compacted"));
    let out = ok(levee().args(["compact", "--lake"]).arg(&lake));
    assert_eq!(hours_compacted(&crate::support::stdout(&out)), 21);
    assert_eq!(levee_count(dir), 500);
}
