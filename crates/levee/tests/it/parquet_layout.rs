//! A table's Parquet layout settings, from the lake output's config to the
//! files: bloom filters on the named columns, rows in time order within a
//! row group, and DuckDB reading it all as levee does.

use std::path::Path;

use crate::support::{count, duckdb, levee, ok, run_with_stdin, stdin_to_lake, stdout};

const DB: &str = "layout";
const ROWS_PER_HOUR: u32 = 300;

/// Three hours of 2018-09-01, each hour's events in reverse time order,
/// through one `levee run` of a lake output with `extra` settings.
fn ingest(dir: &Path, table: &str, extra: &str) {
    let config = format!("{}{extra}\n", stdin_to_lake(dir, DB, table));
    let mut input = String::new();
    for hour in [3, 4, 5] {
        for n in (0..ROWS_PER_HOUR).rev() {
            input.push_str(&format!(
                "{{\"timestamp\":\"2018-09-01T{hour:02}:{:02}:{:02}Z\",\"message_id\":\"m{hour}-{n}\",\"routing_domain\":\"d{}.example\",\"n\":{n}}}\n",
                n / 5 % 60,
                n % 60,
                n % 7
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

fn compact_all(dir: &Path) -> String {
    stdout(&ok(levee()
        .args(["compact", "--all", "--lake"])
        .arg(dir.join("lake"))))
}

#[test]
fn bloom_filters_and_time_order_reach_the_files_and_duckdb_reads_them() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    ingest(
        dir,
        "events",
        r#"bloom_filters = ["message_id", "routing_domain"]"#,
    );
    compact_all(dir);
    let files = "'lake/layout/events/parquet/*/*/*.parquet'";

    // Every row, as DuckDB counts them, and one by its message id.
    let all = format!("select count(*) from read_parquet({files}, hive_partitioning = true)");
    assert_eq!(count(dir, &all), 3 * u64::from(ROWS_PER_HOUR));
    let one = format!(
        "select count(*) from read_parquet({files}, hive_partitioning = true) \
         where message_id = 'm4-17' and hour = 4"
    );
    assert_eq!(count(dir, &one), 1);

    // Bloom filters on the two columns named, on no other.
    let bloomed = duckdb(
        dir,
        &format!(
            "select distinct path_in_schema from parquet_metadata({files}) \
             where bloom_filter_length > 0 order by 1"
        ),
    );
    assert_eq!(bloomed, "path_in_schema\nmessage_id\nrouting_domain\n");

    // Rows in time order within each file, though they arrived reversed.
    let out_of_order = format!(
        "select count(*) from (select time < lag(time) over (partition by filename order by file_row_number) as back \
         from read_parquet({files}, filename = true, file_row_number = true)) where back"
    );
    assert_eq!(count(dir, &out_of_order), 0);

    // levee agrees on the count.
    let out = ok(levee()
        .args(["query", "--format", "csv", "--lake"])
        .arg(dir.join("lake"))
        .arg("select count(*) as n from layout.events_parquet where message_id = 'm4-17'"));
    assert!(stdout(&out).starts_with("n\n1\n"), "{}", stdout(&out));
}
