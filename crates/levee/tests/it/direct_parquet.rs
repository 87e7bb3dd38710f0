//! The lake output's `format = "parquet"` and `"both"`, with the real
//! binary: Parquet chunks as it delivers, every event once in DuckDB's
//! count of them and in levee's `<table>`, `<table>_json` and
//! `<table>_parquet`, before and after compaction merges each hour's
//! chunks into one file.

use std::path::Path;

use crate::support::{count, files, levee, ok, run_with_stdin, stdin_to_lake, stdout};

const DB: &str = "direct";
/// Events per hour per run; three hours, two runs.
const PER_HOUR: u64 = 200;
const HOURS: u64 = 3;
const RUNS: u64 = 2;
const SENT: u64 = PER_HOUR * HOURS * RUNS;

/// One run's events: nested objects, a number that is sometimes a float,
/// and a `dt` of their own (renamed `dt_`), ids from `first`.
fn events(first: u64) -> String {
    let mut input = String::new();
    for hour in 0..HOURS {
        for n in 0..PER_HOUR {
            let id = first + hour * PER_HOUR + n;
            let ms = if n % 2 == 0 {
                format!("{n}")
            } else {
                format!("{n}.5")
            };
            input.push_str(&format!(
                "{{\"timestamp\":\"2018-09-01T{hour:02}:{:02}:00Z\",\"id\":{id},\"dt\":\"theirs\",\
                 \"req\":{{\"path\":\"/p/{}\",\"ms\":{ms}}}}}\n",
                n % 60,
                n % 7
            ));
        }
    }
    input
}

/// Sends every event through `levee run` with the lake output's `format`.
fn ingest(dir: &Path, format: &str) {
    let config = format!(
        "{}format = \"{format}\"\n",
        stdin_to_lake(dir, DB, "events")
    );
    for run in 0..RUNS {
        let out = run_with_stdin(dir, &config, events(run * HOURS * PER_HOUR).as_bytes());
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// The data files under the table's folder `sub` (`json`, `chunks`, `parquet`).
fn data_files(dir: &Path, sub: &str, ending: &str) -> usize {
    files(&dir.join("lake").join(DB).join("events").join(sub))
        .iter()
        .filter(|p| p.to_string_lossy().ends_with(ending))
        .count()
}

/// levee's answer to `select`, as numbers.
fn levee_numbers(dir: &Path, select: &str) -> Vec<u64> {
    let out = ok(levee()
        .args(["query", "--format", "csv", "--lake"])
        .arg(dir.join("lake"))
        .arg(select));
    let text = stdout(&out);
    let line = text.lines().nth(1).unwrap_or_default().to_owned();
    line.split(',').map(|n| n.parse().unwrap()).collect()
}

/// levee's rows and distinct ids in `table`.
fn levee_count(dir: &Path, table: &str) -> (u64, u64) {
    let numbers = levee_numbers(
        dir,
        &format!("select count(*), count(distinct id) from {DB}.{table}"),
    );
    (numbers[0], numbers[1])
}

/// DuckDB's rows and distinct ids over the files matching `glob`.
fn duckdb_count(dir: &Path, glob: &str) -> u64 {
    let rows = count(
        dir,
        &format!("select count(*) from read_parquet('{glob}', union_by_name = true)"),
    );
    let ids = count(
        dir,
        &format!("select count(distinct id) from read_parquet('{glob}', union_by_name = true)"),
    );
    assert_eq!(rows, ids, "no row twice");
    rows
}

fn check(format: &str) {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    ingest(dir, format);

    // A Parquet chunk per hour per run; JSON only with both.
    let chunks = data_files(dir, "chunks", ".parquet");
    assert_eq!(chunks as u64, HOURS * RUNS);
    let json = data_files(dir, "json", ".ndjson.zst");
    assert_eq!(json, if format == "both" { chunks } else { 0 });
    let chunk_glob = format!("lake/{DB}/events/chunks/*/*/*.parquet");
    assert_eq!(duckdb_count(dir, &chunk_glob), SENT);

    // Before compaction: the whole table and the delivered copy hold every
    // event once; the Parquet copy nothing yet.
    assert_eq!(levee_count(dir, "events"), (SENT, SENT));
    assert_eq!(levee_count(dir, "events_json"), (SENT, SENT));
    assert_eq!(levee_count(dir, "events_parquet"), (0, 0));

    ok(levee().args(["compact", "--lake"]).arg(dir.join("lake")));

    // One file per hour, every event once, the chunks left as they were.
    assert_eq!(data_files(dir, "parquet", ".parquet") as u64, HOURS);
    let parquet_glob = format!("lake/{DB}/events/parquet/*/*/*.parquet");
    assert_eq!(duckdb_count(dir, &parquet_glob), SENT);
    assert_eq!(data_files(dir, "chunks", ".parquet"), chunks);
    for table in ["events", "events_json", "events_parquet"] {
        assert_eq!(levee_count(dir, table), (SENT, SENT), "{table}");
    }
    // Every row keeps its own `dt`, as `dt_`.
    let dts = levee_numbers(dir, &format!("select count(dt_) from {DB}.events"));
    assert_eq!(dts, [SENT]);
}

#[test]
fn format_parquet_delivers_parquet_chunks_that_compaction_merges_every_event_once() {
    check("parquet");
}

#[test]
fn format_both_delivers_json_and_parquet_chunks_and_every_event_is_counted_once() {
    check("both");
}
