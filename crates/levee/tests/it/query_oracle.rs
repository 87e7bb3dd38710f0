//! The oracle: the queries `levee bench query` runs (its committed
//! `queries.sql`: the user's two as written, top-N, a `date_trunc`
//! histogram, a `count_if` breakdown, a `like` filter, `with` and a join, a
//! window function), over a generated lake, answered by `levee query` and by
//! DuckDB on the same Parquet files. The answers must be equal: row for row
//! where the query orders them, as multisets where it does not.

use std::path::Path;

use crate::support::{duckdb, levee, ok, run_with_stdin, stdin_to_lake, stdout};

#[allow(dead_code)]
#[path = "../../src/commands/bench/queries.rs"]
mod queries;

const EVENTS: u64 = 20_000;
const DB: &str = "glue-data-lake-usw2-prd";

/// A lake of `EVENTS` SparkPost-like events from 2018-09-29 to 2018-10-02,
/// through `levee run` and `levee compact`: both of the user's queries find
/// rows in it.
fn lake(dir: &Path) {
    let events = ok(levee()
        .args(["generate", "events", "--lines", &EVENTS.to_string()])
        .args(["--start", "2018-09-29", "--days", "4", "--seed", "19"]));
    let out = run_with_stdin(dir, &stdin_to_lake(dir, DB, "eventlog"), &events.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    ok(levee()
        .args(["compact", "--grace", "0s", "--lake"])
        .arg(dir.join("lake")));
}

/// Rows of a CSV answer, header left out (engines head unnamed columns
/// differently), each cell in one spelling for both engines.
fn rows(csv: &str) -> Vec<Vec<String>> {
    csv.lines()
        .skip(1)
        .map(|line| split_csv(line).into_iter().map(|c| normal(&c)).collect())
        .collect()
}

/// One CSV line's cells (quoted cells may hold commas and doubled quotes).
fn split_csv(line: &str) -> Vec<String> {
    let mut cells = vec![String::new()];
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                chars.next();
                cells.last_mut().unwrap().push('"');
            }
            '"' => quoted = !quoted,
            ',' if !quoted => cells.push(String::new()),
            c => cells.last_mut().unwrap().push(c),
        }
    }
    cells
}

/// A timestamp as `YYYY-MM-DD HH:MM:SS[.fff]` whether written with a `T` and
/// `Z` (Arrow) or a space and `+00:00` (Python); any other cell as it is.
fn normal(cell: &str) -> String {
    let b = cell.as_bytes();
    let looks_like_time = b.len() >= 19
        && b[4] == b'-'
        && b[7] == b'-'
        && (b[10] == b'T' || b[10] == b' ')
        && b[13] == b':'
        && b[16] == b':';
    if !looks_like_time {
        return cell.to_owned();
    }
    let mut s = cell.replacen('T', " ", 1);
    for utc in ["Z", "+00:00", "+00"] {
        if let Some(stripped) = s.strip_suffix(utc) {
            s = stripped.to_owned();
            break;
        }
    }
    s
}

#[test]
fn levee_answers_the_bench_queries_as_duckdb_does_on_the_same_parquet() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    lake(dir);
    let prelude = queries::duckdb_prelude(
        &format!("lake/{DB}/eventlog"),
        DB,
        "eventlog",
        &["dt", "hour"],
    );
    let all = queries::parse_queries(queries::QUERIES).unwrap();
    let mut checked = 0;
    for q in all.iter().filter(|q| !q.approximate) {
        let ours = rows(&stdout(&ok(levee()
            .args(["query", "--format", "csv", "--lake"])
            .arg(dir.join("lake"))
            .arg(&q.sql))));
        let theirs = rows(&duckdb(dir, &format!("{prelude} {}", q.sql)));
        assert!(!theirs.is_empty(), "{}: DuckDB found no rows", q.name);
        let ordered = q.sql.to_lowercase().contains("order by");
        match q.ties {
            // Which tied rows a `limit` keeps is the engine's choice: the
            // rows must be right, and the ordering column equal.
            Some(column) => {
                let full_sql = q.sql[..q.sql.to_lowercase().rfind("limit").unwrap()].to_owned();
                let full = rows(&duckdb(dir, &format!("{prelude} {full_sql}")));
                assert_eq!(ours.len(), theirs.len(), "{}: {ours:?}", q.name);
                let keys = |rows: &[Vec<String>]| -> Vec<String> {
                    rows.iter().map(|r| r[column - 1].clone()).collect()
                };
                assert_eq!(keys(&ours), keys(&theirs), "{}", q.name);
                for row in &ours {
                    assert!(full.contains(row), "{}: {row:?} is no answer", q.name);
                }
            }
            None if ordered => assert_eq!(ours, theirs, "{}", q.name),
            None => {
                let (mut ours, mut theirs) = (ours, theirs);
                ours.sort();
                theirs.sort();
                assert_eq!(ours, theirs, "{}", q.name);
            }
        }
        checked += 1;
    }
    assert!(checked >= 8, "only {checked} queries checked");
}

#[test]
fn timestamps_of_either_engine_read_alike() {
    assert_eq!(normal("2018-10-01T05:00:00Z"), "2018-10-01 05:00:00");
    assert_eq!(normal("2018-10-01 05:00:00+00:00"), "2018-10-01 05:00:00");
    assert_eq!(normal("gmail.com"), "gmail.com");
    assert_eq!(split_csv(r#"1,"a, ""b""",c"#), ["1", r#"a, "b""#, "c"]);
}
