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

/// A day of hours of a few KiB of Parquet each: compaction says that the
/// table would read faster by day.
#[test]
fn a_day_of_small_hours_gets_a_hint_to_partition_by_day() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let config = stdin_to_lake(dir, DB, "small");
    let input: String = (0..24)
        .map(|hour| format!("{{\"timestamp\":\"2018-09-01T{hour:02}:00:00Z\",\"n\":{hour}}}\n"))
        .collect();
    let out = run_with_stdin(dir, &config, input.as_bytes());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary = compact_all(dir);
    assert!(
        summary.contains(": 24 hours compacted, 24 rows"),
        "{summary}"
    );
    assert!(
        summary.contains(r#"KiB of Parquet: partition_by = "day" would make a file a day"#),
        "{summary}"
    );
}

fn levee_csv(dir: &Path, sql: &str) -> String {
    stdout(&ok(levee()
        .args(["query", "--format", "csv", "--lake"])
        .arg(dir.join("lake"))
        .arg(sql)))
}

/// A `partition_by = "day"` table: one Parquet unit per day, committed by
/// one manifest, no `hour` column; late events make the day due again and
/// `<table>` reads it from JSON until then; the `--ddl duckdb` view
/// counts as levee does.
#[test]
fn day_partitions_are_compacted_and_read_as_one_unit() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    ingest(dir, "daily", r#"partition_by = "day""#);
    let summary = compact_all(dir);
    assert!(
        summary.contains(": 1 days compacted, 900 rows"),
        "{summary}"
    );
    assert!(!summary.contains("partition_by"), "{summary}");
    let table = dir.join("lake/layout/daily");
    let parts: Vec<String> = crate::support::files(&table.join("parquet"))
        .iter()
        .map(|p| {
            p.strip_prefix(&table)
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    assert_eq!(parts, ["parquet/dt=2018-09-01/part-00000.parquet"]);
    assert!(table.join("_levee/manifests/dt=2018-09-01.json").exists());

    let total = 3 * u64::from(ROWS_PER_HOUR);
    let n = |t: &str| levee_csv(dir, &format!("select count(*) as n from layout.{t}"));
    assert_eq!(n("daily_parquet"), format!("n\n{total}\n"));
    assert_eq!(n("daily"), format!("n\n{total}\n"));
    // The Parquet and the whole table have `dt` only; the JSON keeps `hour`.
    let columns = levee_csv(
        dir,
        "select column_name from information_schema.columns \
         where table_name = 'daily_parquet' and column_name in ('dt', 'hour')",
    );
    assert_eq!(columns, "column_name\ndt\n");
    let per_hour = levee_csv(
        dir,
        "select date_part('hour', time) as h, count(*) as n from layout.daily group by 1 order by 1",
    );
    assert_eq!(
        per_hour,
        format!("h,n\n3,{ROWS_PER_HOUR}\n4,{ROWS_PER_HOUR}\n5,{ROWS_PER_HOUR}\n")
    );

    // The DDL levee prints, run in DuckDB, counts the same.
    let ddl = stdout(&ok(levee()
        .args(["tables", "--lake"])
        .arg(dir.join("lake"))
        .args(["--ddl", "duckdb", "daily"])));
    assert!(ddl.contains("dt=*/part-*.parquet"), "{ddl}");
    let theirs = duckdb(
        dir,
        &format!(
            "{ddl}\nselect cast(dt as varchar) as dt, count(*) as n from layout.daily group by 1"
        ),
    );
    assert_eq!(theirs, format!("dt,n\n2018-09-01,{total}\n"));

    // `levee tables` counts the day as one unit, compacted; its schema has no `hour`.
    let listing = stdout(&ok(levee()
        .args(["tables", "--lake"])
        .arg(dir.join("lake"))));
    let row: Vec<&str> = listing
        .lines()
        .find(|l| l.contains(" daily "))
        .map(|l| l.split_whitespace().collect())
        .unwrap_or_default();
    // database, table, units, compacted, pending, rows
    assert_eq!(
        row.get(2..6),
        Some(&["1", "1", "0", "900"][..]),
        "{listing}"
    );
    let schema = stdout(&ok(levee()
        .args(["tables", "--lake"])
        .arg(dir.join("lake"))
        .args(["--schema", "daily"])));
    assert!(schema.contains("dt "), "{schema}");
    assert!(!schema.contains("hour "), "{schema}");

    // Late events for one hour: the whole day is read from JSON until the
    // day is compacted again, then from its new Parquet, never twice.
    ingest(dir, "daily", r#"partition_by = "day""#);
    assert_eq!(n("daily"), format!("n\n{}\n", 2 * total));
    assert_eq!(n("daily_parquet"), format!("n\n{total}\n"));
    compact_all(dir);
    assert_eq!(n("daily_parquet"), format!("n\n{}\n", 2 * total));
    assert_eq!(n("daily"), format!("n\n{}\n", 2 * total));
}
