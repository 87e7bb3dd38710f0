//! Damaged JSON chunks never cost good data: issue 18's regression, with
//! the real binary, and the counts made by DuckDB.
//!
//! The lake: three hours of one table, compacted. Then hour 10's chunk is
//! cut in half and hour 11's is overwritten with garbage, as a disk or a
//! careless copy would leave them.

use std::path::{Path, PathBuf};
use std::process::Output;

use crate::support::{count, files, levee, ok, run_with_stdin, stdin_to_lake};

const DB: &str = "damage";
/// Rows per hour: hour 10 is big enough for several zstd blocks, so that
/// a cut leaves rows before it.
const ROWS: [(u32, u64); 3] = [(10, 2_000), (11, 50), (12, 50)];
const PARQUET: &str =
    "read_parquet('lake/damage/events/parquet/*/*/*.parquet', hive_partitioning = true)";

fn hour_parquet(hour: u32) -> String {
    format!("read_parquet('lake/damage/events/parquet/dt=2018-09-01/hour={hour:02}/*.parquet')")
}

/// A compacted lake of `ROWS`; `n` numbers each hour's rows from 0.
fn compacted_lake(dir: &Path) {
    let config = stdin_to_lake(dir, DB, "events");
    let mut input = String::new();
    for (hour, rows) in ROWS {
        for n in 0..rows {
            input.push_str(&format!(
                "{{\"timestamp\":\"2018-09-01T{hour:02}:{:02}:{:02}Z\",\"n\":{n},\"pad\":\"{}\"}}\n",
                n % 60,
                n % 47,
                format!("{:08x}", n.wrapping_mul(2_654_435_761)).repeat(40)
            ));
        }
    }
    let out = run_with_stdin(dir, &config, input.as_bytes());
    assert!(out.status.success(), "{}", text(&out));
    ok(levee().args(["compact", "--lake"]).arg(dir.join("lake")));
    assert_eq!(parquet_rows(dir), 2_100);
}

fn parquet_rows(dir: &Path) -> u64 {
    count(dir, &format!("select count(*) from {PARQUET}"))
}

/// The hour's one JSON chunk.
fn chunk(dir: &Path, hour: u32) -> PathBuf {
    let folder = dir.join(format!(
        "lake/{DB}/events/json/dt=2018-09-01/hour={hour:02}"
    ));
    let chunks = files(&folder);
    assert_eq!(chunks.len(), 1, "{chunks:?}");
    chunks.into_iter().next().unwrap()
}

/// Cuts hour 10's chunk in half and overwrites hour 11's with garbage;
/// returns their paths.
fn damage(dir: &Path) -> (PathBuf, PathBuf) {
    let cut = chunk(dir, 10);
    let body = std::fs::read(&cut).unwrap();
    std::fs::write(&cut, &body[..body.len() / 2]).unwrap();
    let garbage = chunk(dir, 11);
    let noise: Vec<u8> = (0..2_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(&garbage, noise).unwrap();
    (cut, garbage)
}

/// With `--grace 0s`: DuckDB lists the folders, so files a compaction
/// replaces must go at once rather than after the grace period.
fn compact(dir: &Path, extra: &[&str]) -> Output {
    levee()
        .args(["compact", "--all", "--grace", "0s"])
        .args(extra)
        .arg("--lake")
        .arg(dir.join("lake"))
        .output()
        .unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The file's key in the lake, as levee names it.
fn key(dir: &Path, path: &Path) -> String {
    path.strip_prefix(dir.join("lake"))
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

#[test]
fn compacting_damaged_chunks_keeps_the_parquet_they_had_covered_and_exits_2() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    compacted_lake(dir);
    let (cut, garbage) = damage(dir);

    // Both chunks named, nothing replaced, and the exit says so.
    let out = compact(dir, &[]);
    let said = text(&out);
    assert_eq!(out.status.code(), Some(2), "{said}");
    assert!(said.contains(&key(dir, &cut)), "{said}");
    assert!(said.contains(&key(dir, &garbage)), "{said}");
    assert!(said.contains("--force"), "{said}");
    assert_eq!(parquet_rows(dir), 2_100, "{said}");
    assert_eq!(
        count(dir, &format!("select count(*) from {}", hour_parquet(11))),
        50
    );
    // Nothing moved without --force.
    assert!(cut.exists() && garbage.exists());
    assert!(!dir.join(format!("lake/{DB}/events/quarantine")).exists());
}

#[test]
fn forced_compaction_quarantines_damaged_chunks_and_keeps_their_readable_rows() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    compacted_lake(dir);
    let (cut, garbage) = damage(dir);
    let cut_bytes = std::fs::read(&cut).unwrap();
    let garbage_bytes = std::fs::read(&garbage).unwrap();

    let out = compact(dir, &["--force"]);
    let said = text(&out);
    assert_eq!(out.status.code(), Some(2), "{said}");
    assert!(said.contains(&key(dir, &cut)), "{said}");
    assert!(said.contains(&key(dir, &garbage)), "{said}");

    // The originals wait in the quarantine, byte for byte, each with its reason.
    let quarantine = dir.join(format!("lake/{DB}/events/quarantine/json/dt=2018-09-01"));
    let name = |p: &Path| p.file_name().unwrap().to_string_lossy().into_owned();
    for (hour, path, bytes) in [(10, &cut, &cut_bytes), (11, &garbage, &garbage_bytes)] {
        let kept = quarantine.join(format!("hour={hour:02}")).join(name(path));
        assert_eq!(&std::fs::read(&kept).unwrap(), bytes, "{}", kept.display());
        let reason = std::fs::read_to_string(
            quarantine
                .join(format!("hour={hour:02}"))
                .join(format!("{}.reason.json", name(path))),
        )
        .unwrap();
        let reason: serde_json::Value = serde_json::from_str(&reason).unwrap();
        assert!(
            reason["error"].as_str().unwrap().contains("zstd"),
            "{reason}"
        );
    }

    // The rows before the cut are kept, in the Parquet and in the JSON copy:
    // the first k of hour 10, with no gap.
    let kept = duck_row(
        dir,
        &format!("select count(*), min(n), max(n) from {}", hour_parquet(10)),
    );
    let [rows, first, last] = kept[..] else {
        panic!("{kept:?}")
    };
    assert!(rows > 0 && rows < 2_000, "{rows} rows kept of 2000");
    assert_eq!((first, last), (0, rows - 1));
    assert!(cut.exists(), "the readable rows stay in the JSON copy");
    let json10 = format!(
        "read_json_auto('{}', compression = 'zstd')",
        cut.to_string_lossy()
    );
    assert_eq!(count(dir, &format!("select count(*) from {json10}")), rows);
    // Nothing is left of the garbage but its quarantined copy.
    assert!(!garbage.exists());
    let hour11 = dir.join(format!("lake/{DB}/events/parquet/dt=2018-09-01/hour=11"));
    assert!(files(&hour11).is_empty(), "{:?}", files(&hour11));
    assert_eq!(parquet_rows(dir), rows + 50);

    // What was damaged is dealt with: the next run has nothing to say.
    let again = compact(dir, &[]);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again));
    assert_eq!(parquet_rows(dir), rows + 50);
}

#[test]
fn a_garbage_chunk_arriving_late_is_quarantined_and_the_hour_compacted() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    compacted_lake(dir);
    let late = chunk(dir, 12).with_file_name("59-late-00000001.ndjson.zst");
    std::fs::write(&late, b"not zstd, not json").unwrap();

    let out = levee()
        .args(["compact", "--grace", "0s", "--lake"])
        .arg(dir.join("lake"))
        .output()
        .unwrap();
    let said = text(&out);
    assert_eq!(out.status.code(), Some(2), "{said}");
    assert!(said.contains(&key(dir, &late)), "{said}");
    assert!(!late.exists());
    assert!(
        dir.join(format!(
            "lake/{DB}/events/quarantine/json/dt=2018-09-01/hour=12/59-late-00000001.ndjson.zst.reason.json"
        ))
        .exists()
    );
    assert_eq!(parquet_rows(dir), 2_100);
    let again = compact(dir, &[]);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again));
}

/// The numbers of DuckDB's one-row answer.
fn duck_row(dir: &Path, sql: &str) -> Vec<u64> {
    let csv = crate::support::duckdb(dir, sql);
    csv.lines()
        .nth(1)
        .unwrap_or_default()
        .split(',')
        .map(|v| v.parse().unwrap_or_else(|_| panic!("{csv:?}")))
        .collect()
}

fn query(dir: &Path, sql: &str) -> Output {
    levee()
        .args(["query", "--format", "csv", "--lake"])
        .arg(dir.join("lake"))
        .arg(sql)
        .output()
        .unwrap()
}

/// The single number of levee's one-row CSV answer.
fn answer(out: &Output) -> u64 {
    let csv = String::from_utf8_lossy(&out.stdout);
    csv.lines()
        .nth(1)
        .and_then(|l| l.parse().ok())
        .unwrap_or_else(|| panic!("no number in {}", text(out)))
}

/// Issue 18: a query on `_json` failed with `Arrow error: Io error: Unknown
/// frame descriptor`, naming no file.
#[test]
fn a_query_on_the_json_copy_names_damaged_chunks_and_reads_the_rest() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    compacted_lake(dir);
    let (cut, garbage) = damage(dir);

    let out = query(dir, &format!("select count(*) as c from {DB}.events_json"));
    let said = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{}", text(&out));
    assert!(said.contains("warning: 2 damaged files"), "{said}");
    assert!(said.contains(&key(dir, &cut)), "{said}");
    assert!(said.contains(&key(dir, &garbage)), "{said}");
    let before = answer(&out);
    assert!(before > 50 && before < 2_100, "{before}");
    // Asked to, it refuses to answer short.
    let strict = levee()
        .args(["query", "--strict", "--lake"])
        .arg(dir.join("lake"))
        .arg(format!("select count(*) as c from {DB}.events_json"))
        .output()
        .unwrap();
    assert_eq!(strict.status.code(), Some(2), "{}", text(&strict));
    assert!(strict.stdout.is_empty(), "{}", text(&strict));
    assert!(text(&strict).contains(&key(dir, &garbage)));

    // Compaction keeps exactly the rows the query read; DuckDB counts them
    // in both copies once the damaged chunks are dealt with.
    compact(dir, &["--force"]);
    let json =
        format!("read_json_auto('lake/{DB}/events/json/*/*/*.ndjson.zst', compression = 'zstd')");
    assert_eq!(count(dir, &format!("select count(*) from {json}")), before);
    assert_eq!(parquet_rows(dir), before);
    let out = query(dir, &format!("select count(*) as c from {DB}.events_json"));
    assert_eq!(answer(&out), before);
    assert!(!text(&out).contains("warning"), "{}", text(&out));
}

/// A line that is not JSON in the middle of a chunk costs that line only:
/// in compaction (which says so and exits 2) and in a query on `_json`
/// (which names the chunk).
#[test]
fn a_bad_line_in_the_middle_of_a_chunk_costs_only_itself() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    compacted_lake(dir);
    let plain = chunk(dir, 12).with_file_name("58-other-00000001.ndjson");
    let mut lines: Vec<String> = (0..10)
        .map(|n| {
            format!(
                "{{\"time\":\"2018-09-01T12:58:00Z\",\"n\":{},\"pad\":\"x\"}}",
                100 + n
            )
        })
        .collect();
    lines.insert(5, "{\"n\": 7, this is not json".to_owned());
    std::fs::write(&plain, lines.join("\n") + "\n").unwrap();

    let out = query(
        dir,
        &format!("select count(*) as c from {DB}.events_json where hour = '12'"),
    );
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(answer(&out), 60);
    let said = text(&out);
    assert!(said.contains(&key(dir, &plain)), "{said}");
    assert!(said.contains("line 6"), "{said}");

    let out = compact(dir, &[]);
    let said = text(&out);
    assert_eq!(out.status.code(), Some(2), "{said}");
    assert!(said.contains("1 lines were not JSON objects"), "{said}");
    assert!(plain.exists(), "a chunk with a bad line is not damaged");
    assert_eq!(
        count(dir, &format!("select count(*) from {}", hour_parquet(12))),
        60
    );
    assert_eq!(parquet_rows(dir), 2_110);
}
