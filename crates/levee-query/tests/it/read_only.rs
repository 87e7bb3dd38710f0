//! The lake is written by the pipeline only, and a query reads the lake
//! only: no statement writes, deletes, changes the session's limits, or
//! reads a file outside the lake. Each way a SQL engine could is tried here.

use levee_query::{LakeSession, QueryError};

use crate::lake::{DAYS, HOURS, ROWS_PER_HOUR, TestLake};

/// `eventlog` alone, so its database is the default schema.
fn lake() -> TestLake {
    TestLake::eventlog(&DAYS, &HOURS, ROWS_PER_HOUR)
}

/// A file outside the lake a query must never read.
fn secret() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("secret.csv");
    std::fs::write(&path, "password\nhunter2\n").unwrap();
    let path = path.to_str().unwrap().to_owned();
    (dir, path)
}

async fn refused(s: &LakeSession, sql: &str) -> String {
    match s.sql(sql).await {
        Ok(r) => panic!(
            "{sql}: ran and answered\n{}",
            levee_query::format_table(&r.schema, &r.batches).unwrap()
        ),
        Err(e) => {
            assert!(
                !matches!(e, QueryError::Limit { .. }),
                "{sql}: refused only by a limit: {e}"
            );
            e.to_string()
        }
    }
}

async fn still_there(s: &LakeSession) {
    let r = s
        .sql("select count(*) from eventlog_parquet")
        .await
        .expect("the table is still there");
    assert_eq!(r.stats.rows, 1);
}

#[tokio::test]
async fn copy_to_a_file_is_refused_and_writes_nothing() {
    let t = lake();
    let s = LakeSession::open(&t.lake).await.unwrap();
    let out = tempfile::tempdir().unwrap();
    for (sql, target) in [
        ("copy (select * from eventlog_parquet) to '{}'", "dump.csv"),
        (
            "copy eventlog_parquet to '{}' stored as parquet",
            "dump.parquet",
        ),
        ("explain analyze copy (select 1) to '{}'", "explained.csv"),
    ] {
        let target = out.path().join(target);
        let sql = sql.replace("{}", target.to_str().unwrap());
        let e = refused(&s, &sql).await;
        assert!(e.contains("COPY"), "{sql}: {e}");
        assert!(!target.exists(), "{sql} wrote {}", target.display());
    }
}

#[tokio::test]
async fn copy_into_the_lake_is_refused() {
    let t = lake();
    let s = LakeSession::open(&t.lake).await.unwrap();
    let target = t
        .root()
        .join("glue-data-lake-usw2-prd/eventlog/parquet/dt=2030-01-01/x.parquet");
    let e = refused(
        &s,
        &format!("copy (select 1 as a) to '{}'", target.display()),
    )
    .await;
    assert!(e.contains("COPY"), "{e}");
    assert!(!target.exists());
}

#[tokio::test]
async fn external_tables_over_other_files_are_refused() {
    let t = lake();
    let s = LakeSession::open(&t.lake).await.unwrap();
    let (_dir, secret) = secret();
    for sql in [
        format!("create external table leak stored as csv location '{secret}'"),
        format!("create external table leak (password varchar) stored as csv location '{secret}'"),
        format!("create unbounded external table leak stored as csv location '{secret}'"),
    ] {
        let e = refused(&s, &sql).await;
        assert!(e.starts_with("DDL not supported"), "{sql}: {e}");
    }
    refused(&s, "select * from leak").await;
}

#[tokio::test]
async fn files_named_in_from_are_not_tables() {
    let t = lake();
    let s = LakeSession::open(&t.lake).await.unwrap();
    let (_dir, secret) = secret();
    let lake_file = t
        .root()
        .join("glue-data-lake-usw2-prd/eventlog/parquet/dt=2018-09-01/hour=05");
    for sql in [
        format!("select * from '{secret}'"),
        format!("select * from 'file://{secret}'"),
        format!("select * from '{}'", lake_file.display()),
        "select * from '/etc/passwd'".to_owned(),
    ] {
        let e = refused(&s, &sql).await;
        assert!(!e.contains("hunter2"), "{sql}: {e}");
    }
}

#[tokio::test]
async fn table_functions_that_read_files_do_not_exist() {
    let t = lake();
    let s = LakeSession::open(&t.lake).await.unwrap();
    let (_dir, secret) = secret();
    for f in [
        "read_csv",
        "read_parquet",
        "read_json",
        "read_ndjson",
        "read_avro",
        "read_arrow",
        "parquet_metadata",
        "csv",
        "file",
        "url",
        "s3",
    ] {
        let sql = format!("select * from {f}('{secret}')");
        let e = refused(&s, &sql).await;
        assert!(!e.contains("hunter2"), "{sql}: {e}");
    }
}

#[tokio::test]
async fn writes_and_deletes_are_refused_and_change_nothing() {
    let t = lake();
    let s = LakeSession::open(&t.lake).await.unwrap();
    let before = s
        .sql("select count(*) from eventlog_parquet")
        .await
        .unwrap()
        .batches;
    for sql in [
        "insert into eventlog_parquet (method) values ('GET')",
        "insert into eventlog_parquet select * from eventlog_parquet",
        "delete from eventlog_parquet",
        "delete from eventlog_parquet where status = 200",
        "update eventlog_parquet set status = 0",
        "truncate table eventlog_parquet",
        "drop table eventlog_parquet",
        "drop schema \"glue-data-lake-usw2-prd\" cascade",
        "create table copied as select * from eventlog_parquet",
        "create view v as select 1",
        "create schema mine",
        "create function f(x int) returns int return x + 1",
    ] {
        refused(&s, sql).await;
        still_there(&s).await;
    }
    let after = s
        .sql("select count(*) from eventlog_parquet")
        .await
        .unwrap()
        .batches;
    assert_eq!(before, after);
    // Nothing new on disk either.
    let files = walk(t.root());
    assert!(files.iter().all(|f| f.contains("/eventlog/")), "{files:?}");
}

/// `SET` would lift the limits a query runs under (threads, memory, time).
#[tokio::test]
async fn settings_cannot_be_changed_from_sql() {
    let t = lake();
    let s = LakeSession::open(&t.lake).await.unwrap();
    for sql in [
        "set datafusion.execution.target_partitions = 64",
        "set datafusion.runtime.memory_limit = '100G'",
        "set datafusion.execution.listing_table_ignore_subdirectory = false",
        "reset datafusion.execution.target_partitions",
        "prepare p as select 1",
        "begin transaction",
    ] {
        let e = refused(&s, sql).await;
        assert!(e.contains("not supported"), "{sql}: {e}");
    }
}

fn walk(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let path = e.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path.display().to_string());
        }
    }
    out
}
