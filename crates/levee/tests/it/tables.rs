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
