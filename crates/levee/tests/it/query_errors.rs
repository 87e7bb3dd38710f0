//! `levee query` when the query is wrong: a `--lake` with no lake, an
//! unknown table or column; and Athena's `SHOW` and headings through the
//! binary.

use std::path::Path;
use std::process::Output;

use crate::support::{levee, ok, stdout};

const DB: &str = "glue-data-lake-usw2-prd";

/// `levee query --lake <lake> <sql>`, expected to fail; its stderr.
fn fails(lake: &Path, sql: &str) -> String {
    let out: Output = levee()
        .args(["query", "--lake"])
        .arg(lake)
        .arg(sql)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "{sql} succeeded:\n{}", stdout(&out));
    stderr
}

/// A lake with one plain NDJSON chunk in `<DB>.events`, hour 2018-09-01/05.
fn lake_with_events(dir: &Path) -> std::path::PathBuf {
    let lake = dir.join("lake");
    let hour = lake.join(format!("{DB}/events/json/dt=2018-09-01/hour=05"));
    std::fs::create_dir_all(&hour).unwrap();
    std::fs::write(
        hour.join("00-w-00000001.ndjson"),
        "{\"status\":500,\"path\":\"/a\"}\n{\"status\":200,\"path\":\"/b\"}\n",
    )
    .unwrap();
    lake
}

#[test]
fn query_on_a_lake_folder_that_is_not_there_says_so_and_creates_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("lak");
    let err = fails(&missing, "select 1");
    assert!(err.contains("no lake at"), "{err}");
    assert!(err.contains("no such folder"), "{err}");
    assert!(!missing.exists(), "the query made {}", missing.display());
}

#[test]
fn query_on_a_folder_with_no_lake_in_it_says_so() {
    let tmp = tempfile::tempdir().unwrap();
    let err = fails(
        tmp.path(),
        &format!("select * from \"{DB}\".eventlog_parquet"),
    );
    assert!(err.contains("holds no tables"), "{err}");
    assert!(err.contains("is --lake right?"), "{err}");
}

#[test]
fn query_errors_name_the_nearest_table_and_column() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = lake_with_events(tmp.path());

    let err = fails(&lake, &format!("select * from \"{DB}\".event_json"));
    assert!(
        err.contains(&format!("did you mean \"{DB}\".events_json?")),
        "{err}"
    );
    assert!(err.contains(&format!("tables: \"{DB}\".events, ")), "{err}");

    let err = fails(&lake, &format!("select count(td) from \"{DB}\".events"));
    assert!(
        err.contains("column td not found; did you mean dt?"),
        "{err}"
    );
    assert!(err.contains("\ncolumns: path, status, dt, hour"), "{err}");
}

#[test]
fn query_show_and_headings_are_athenas() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = lake_with_events(tmp.path());
    let query = |sql: &str| {
        stdout(&ok(levee()
            .args(["query", "--format", "csv", "--lake"])
            .arg(&lake)
            .arg(sql)))
    };
    assert_eq!(
        query("show tables"),
        "tab_name\nevents\nevents_json\nevents_parquet\n"
    );
    assert_eq!(
        query("show partitions events"),
        "partition\ndt=2018-09-01/hour=05\n"
    );
    assert_eq!(
        query("select dt, count(*), count_if(status = 500) as errors from events group by 1"),
        "dt,_col1,errors\n2018-09-01,2,1\n"
    );
}
