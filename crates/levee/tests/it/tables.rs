//! `levee tables`: the listing, a table's schema history, and the DDL that
//! lets another engine read the table.

use std::path::Path;

use crate::support::{levee, ok, stdout};

const DB: &str = "glue-data-lake-usw2-prd";

/// Writes one plain NDJSON chunk of `hour` (on 2018-09-01) into the lake,
/// as another writer (or levee with `compression = "none"`) would.
fn chunk(lake: &Path, table: &str, hour: u32, name: &str, lines: &[&str]) {
    let dir = lake.join(format!("{DB}/{table}/json/dt=2018-09-01/hour={hour:02}"));
    std::fs::create_dir_all(&dir).unwrap();
    let mut text = lines.join("\n");
    text.push('\n');
    std::fs::write(dir.join(name), text).unwrap();
}

fn compact(lake: &Path) {
    ok(levee()
        .args(["compact", "--all", "--grace", "0s", "--lake"])
        .arg(lake));
}

fn tables(lake: &Path, extra: &[&str]) -> String {
    stdout(&ok(levee()
        .arg("tables")
        .args(extra)
        .arg("--lake")
        .arg(lake)))
}

/// The cells of the listing's line for `table`.
fn listing_row(listing: &str, table: &str) -> Vec<String> {
    let line = listing
        .lines()
        .find(|l| l.split_whitespace().nth(1) == Some(table))
        .unwrap_or_else(|| panic!("no line for {table} in:\n{listing}"));
    line.split_whitespace().map(String::from).collect()
}

#[test]
fn tables_lists_hours_rows_and_pending_and_schema_shows_every_change() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = tmp.path().join("lake");
    let first = r#"{"a":1,"dt":"own","s":{"k":1}}"#;
    chunk(&lake, "events", 0, "00-w-00000001.ndjson", &[first, first]);
    compact(&lake);

    let listing = tables(&lake, &[]);
    assert!(listing.starts_with("database "), "{listing}");
    // database table hours compacted pending rows ...
    assert_eq!(
        listing_row(&listing, "events")[..6],
        [DB, "events", "1", "1", "0", "2"],
        "{listing}"
    );

    // A later hour whose records widen `a`, add `b` and a struct field.
    let second = r#"{"a":1.5,"b":"x","s":{"k":2,"j":true}}"#;
    chunk(&lake, "events", 1, "00-w-00000002.ndjson", &[second; 3]);
    let listing = tables(&lake, &[]);
    assert_eq!(
        listing_row(&listing, "events")[2..6],
        ["2", "1", "1", "2"],
        "the new hour is pending: {listing}"
    );
    compact(&lake);
    let listing = tables(&lake, &[]);
    assert_eq!(
        listing_row(&listing, "events")[2..6],
        ["2", "2", "0", "5"],
        "{listing}"
    );

    let schema = tables(&lake, &["--schema", "events"]);
    for wanted in [
        "dt_ ",
        "the records' `dt`, renamed: a partition column's name",
        "dt=2018-09-01/hour=00",
        "dt_: added string (the records' `dt`, renamed)",
        "dt=2018-09-01/hour=01",
        "a: bigint -> double",
        "b: added string",
        "s.j: added boolean",
    ] {
        assert!(schema.contains(wanted), "no {wanted:?} in:\n{schema}");
    }
    // The widening comes after the column it widens, in the later hour's step.
    let added = schema.find("a: added bigint").expect(&schema);
    let widened = schema.find("a: bigint -> double").expect(&schema);
    assert!(added < widened, "{schema}");

    // A name both databases could hold is taken as `db.table` too.
    let qualified = tables(&lake, &["--schema", &format!("{DB}.events")]);
    assert_eq!(qualified, schema);
}

#[test]
fn tables_schema_of_a_table_not_in_the_lake_names_it() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = tmp.path().join("lake");
    chunk(&lake, "events", 0, "00-w-00000001.ndjson", &[r#"{"a":1}"#]);
    let out = levee()
        .args(["tables", "--schema", "nope", "--lake"])
        .arg(&lake)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no table `nope`"), "{err}");
}

/// Generated email events (nested objects, lists, an event time) through a
/// lake output into Parquet, then `levee tables --ddl duckdb`: the DDL run
/// in DuckDB answers as `levee query` does, hour by hour.
#[test]
fn ddl_for_duckdb_run_in_duckdb_counts_as_levee_query() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let events = dir.join("events.ndjson");
    ok(levee()
        .args(["generate", "events", "--lines", "3000"])
        .args(["--start", "2018-09-01", "--days", "2", "--seed", "3", "-o"])
        .arg(&events));
    let config = crate::support::stdin_to_lake(dir, DB, "eventlog");
    let run = crate::support::run_with_stdin(dir, &config, &std::fs::read(&events).unwrap());
    assert!(run.status.success(), "{run:?}");
    let lake = dir.join("lake");
    compact(&lake);

    let ddl = tables(&lake, &["--ddl", "duckdb", "eventlog"]);
    assert!(ddl.contains("CREATE OR REPLACE VIEW"), "{ddl}");
    let per_hour = "select cast(dt as varchar) as dt, hour, count(*) as n, count(time) as timed, \
                    count(geo_ip.country) as countries, sum(len(tags)) as tags";
    let theirs = crate::support::duckdb(
        dir,
        &format!("{ddl}\n{per_hour} from \"{DB}\".eventlog group by all order by 1, 2"),
    );
    let ours = stdout(&ok(levee()
        .args(["query", "--format", "csv", "--lake"])
        .arg(&lake)
        .arg(format!(
            "select dt, cast(hour as int) as hour, count(*) as n, count(time) as timed, count(geo_ip.country) as countries, \
             sum(cardinality(tags)) as tags from \"{DB}\".eventlog_parquet group by 1, 2 order by 1, 2"
        ))));
    // levee's `hour` is the folder's text (`07`); DuckDB's, an int, as declared.
    assert_eq!(theirs, ours);
    // A header, and the two days' hours.
    assert!(theirs.lines().count() > 24, "{theirs}");
    let total: u64 = theirs
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(2).unwrap().parse::<u64>().unwrap())
        .sum();
    assert_eq!(total, 3000);
}
