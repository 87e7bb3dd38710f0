//! `[compaction]` inside `levee run`: a running levee compacts the complete
//! hours its lake output wrote, on its own, while it keeps running.

use std::path::Path;
use std::time::Duration;

use crate::support::{Running, count, files, levee, ok, sigterm, toml_path, wait_until};

const EVENTS: u64 = 2_000;
const DB: &str = "scheduled";

fn manifests(dir: &Path) -> Vec<serde_json::Value> {
    files(&dir.join(format!("lake/{DB}/eventlog/_levee/manifests")))
        .into_iter()
        .filter_map(|p| serde_json::from_slice(&std::fs::read(p).ok()?).ok())
        .collect()
}

/// The hours the lake output wrote chunks for.
fn json_hours(dir: &Path) -> usize {
    let mut hours: Vec<_> = files(&dir.join(format!("lake/{DB}/eventlog/json")))
        .into_iter()
        .filter_map(|p| p.parent().map(Path::to_path_buf))
        .collect();
    hours.sort();
    hours.dedup();
    hours.len()
}

#[test]
fn a_running_levee_compacts_complete_hours_on_its_own() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    ok(levee()
        .args(["generate", "events", "--lines", &EVENTS.to_string()])
        .args(["--start", "2018-09-01", "--days", "1", "--seed", "5", "-o"])
        .arg(dir.join("events.ndjson")));
    let config = format!(
        r#"
data_dir = {data}
[compaction]
schedule = "* * * * *"
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
chunk_interval = "1s"
"#,
        data = toml_path(&dir.join("data")),
        events = toml_path(&dir.join("events.ndjson")),
        lake = toml_path(&dir.join("lake")),
    );
    std::fs::write(dir.join("levee.toml"), config).unwrap();
    let log = std::fs::File::create(dir.join("levee.log")).unwrap();
    let mut levee_run = Running(
        levee()
            .args(["run", "-c"])
            .arg(dir.join("levee.toml"))
            // The test hook: a run every 300ms instead of the next minute.
            .env("LEVEE_TEST_COMPACTION_EVERY_MS", "300")
            .env("LEVEE_LOG", "info")
            .stderr(log)
            .spawn()
            .unwrap(),
    );

    // Every hour delivered gets compacted, with every event, while levee runs.
    wait_until(
        Duration::from_secs(60),
        "every hour compacted with every event",
        || {
            let m = manifests(dir);
            let rows: u64 = m.iter().filter_map(|m| m["rows"].as_u64()).sum();
            (rows == EVENTS && m.len() == json_hours(dir)).then_some(())
        },
    );
    assert!(
        levee_run.0.try_wait().unwrap().is_none(),
        "levee run is still running"
    );
    let parquet = format!(
        "read_parquet('lake/{DB}/eventlog/parquet/*/*/*.parquet', hive_partitioning = true)"
    );
    assert_eq!(
        count(dir, &format!("select count(*) from {parquet}")),
        EVENTS
    );
    let said = std::fs::read_to_string(dir.join("levee.log")).unwrap();
    assert!(
        said.contains("compaction scheduled at \"* * * * *\""),
        "{said}"
    );
    assert!(
        said.contains(&format!("compaction: {DB}.eventlog: ")),
        "{said}"
    );

    #[cfg(target_os = "linux")]
    assert_eq!(compaction_thread_nice(levee_run.0.id()), Some(10));

    sigterm(&levee_run.0);
    levee_run.exits_ok(Duration::from_secs(30));
}

/// The nice value of a process's `levee-compact` thread.
#[cfg(target_os = "linux")]
fn compaction_thread_nice(pid: u32) -> Option<i64> {
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).ok()? {
        let task = task.ok()?.path();
        let comm = std::fs::read_to_string(task.join("comm")).ok()?;
        if comm.trim() == "levee-compact" {
            let stat = std::fs::read_to_string(task.join("stat")).ok()?;
            // After the name in parentheses: field 19 of stat(5) is nice.
            let (_, rest) = stat.rsplit_once(')')?;
            return rest.split_whitespace().nth(16)?.parse().ok();
        }
    }
    None
}

#[test]
fn a_schedule_that_is_not_cron_is_refused_at_its_line() {
    let tmp = tempfile::tempdir().unwrap();
    let config = "[compaction]\nschedule = \"61 * * * *\"\n\
                  [sources.in]\ntype = \"stdin\"\ntag = \"in\"\n\
                  [outputs.out]\nmatch = \"in\"\ntype = \"blackhole\"\n";
    let path = tmp.path().join("c.toml");
    std::fs::write(&path, config).unwrap();
    let out = levee()
        .args(["validate", "-c"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("c.toml:2:1: compaction: schedule: minute: \"61\" is outside 0-59"),
        "{said}"
    );
}
