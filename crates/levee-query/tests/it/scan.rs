//! Scan accounting: what a query read, checked against the files on disk.

use std::path::Path;

use levee_lake::layout::ZSTD_CHUNK_EXT;
use levee_lake::{Lake, Partition, TableRef};
use levee_query::{LakeSession, QueryError};

use crate::lake::{DAYS, DB, HOURS, TestLake};

const PARQUET: &str = r#""glue-data-lake-usw2-prd".eventlog_parquet"#;
const JSON: &str = r#""glue-data-lake-usw2-prd".eventlog_json"#;

/// Bytes of the files under `dir` whose names end with `ext`, and how many there are.
fn files_under(dir: &Path, ext: &str) -> (u64, usize) {
    let mut bytes = 0;
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            let (b, m) = files_under(&path, ext);
            bytes += b;
            n += m;
        } else if path.to_str().unwrap().ends_with(ext) {
            bytes += std::fs::metadata(&path).unwrap().len();
            n += 1;
        }
    }
    (bytes, n)
}

#[tokio::test]
async fn where_dt_prunes_partitions_before_reading() {
    let t = TestLake::new();
    let s = LakeSession::open(&t.lake).await.unwrap();
    let all = DAYS.len() * HOURS.len();

    let r = s
        .sql(&format!(
            "select sum(bytes) from {PARQUET} where dt = '2018-09-01'"
        ))
        .await
        .unwrap();
    assert_eq!(r.stats.files_read, HOURS.len());
    assert_eq!(r.stats.files_in_tables, all);
    assert_eq!(r.stats.partitions_read, HOURS.len());
    assert_eq!(r.stats.partitions_total, all);

    let r = s
        .sql(&format!(
            "select count(*) from {JSON} where dt = '2018-09-01' and hour = '13'"
        ))
        .await
        .unwrap();
    assert_eq!(r.stats.files_read, crate::lake::CHUNKS_PER_HOUR);
    assert_eq!(r.stats.files_in_tables, all * crate::lake::CHUNKS_PER_HOUR);
    assert_eq!(
        (r.stats.partitions_read, r.stats.partitions_total),
        (1, all)
    );

    // Without a partition filter every file is read.
    let r = s
        .sql(&format!("select max(status) from {JSON}"))
        .await
        .unwrap();
    assert_eq!(r.stats.files_read, r.stats.files_in_tables);
}

#[tokio::test]
async fn json_scans_count_the_compressed_size_of_the_chunks_read() {
    let t = TestLake::new();
    let s = LakeSession::open(&t.lake).await.unwrap();
    let day = t.root().join(DB).join("eventlog/json/dt=2018-09-01");
    let (bytes, files) = files_under(&day, ZSTD_CHUNK_EXT);

    let r = s
        .sql(&format!(
            "select method from {JSON} where dt = '2018-09-01'"
        ))
        .await
        .unwrap();
    assert_eq!(r.stats.files_read, files);
    assert_eq!(r.stats.bytes_scanned, bytes);
    assert_eq!(r.stats.rows, 18);
}

#[tokio::test]
async fn parquet_scans_count_the_bytes_actually_fetched() {
    let t = TestLake::new();
    let s = LakeSession::open(&t.lake).await.unwrap();
    let (on_disk, _) = files_under(&t.root().join(DB).join("eventlog/parquet"), ".parquet");

    let one = s
        .sql(&format!("select status from {PARQUET}"))
        .await
        .unwrap();
    let all = s.sql(&format!("select * from {PARQUET}")).await.unwrap();
    assert!(one.stats.bytes_scanned > 0);
    // Columnar: one column costs less than all of them, and no scan costs
    // more than the files hold.
    assert!(
        one.stats.bytes_scanned < all.stats.bytes_scanned,
        "{one:?} vs {all:?}",
        one = one.stats,
        all = all.stats
    );
    assert!(all.stats.bytes_scanned <= on_disk);
}

#[tokio::test]
async fn the_summary_line_reads_like_athenas() {
    let t = TestLake::new();
    let s = LakeSession::open(&t.lake).await.unwrap();
    let r = s
        .sql(&format!(
            "select dt, hour from {PARQUET} where dt = '2018-08-31' group by dt, hour"
        ))
        .await
        .unwrap();
    let line = r.stats.to_string();
    assert!(line.starts_with("3 rows in "), "{line}");
    assert!(
        line.contains("; read 3 of 9 files (3 of 9 partitions), scanned "),
        "{line}"
    );
    assert!(
        line.ends_with("; Athena would charge $0.00005 (10 MB minimum)"),
        "{line}"
    );
}

#[tokio::test]
async fn a_self_join_counts_each_file_once() {
    let t = TestLake::new();
    let s = LakeSession::open(&t.lake).await.unwrap();
    let r = s
        .sql(&format!(
            "select count(*) from {JSON} a join {JSON} b using (dt, hour, time) where a.dt = '2018-09-02'"
        ))
        .await
        .unwrap();
    assert_eq!(r.stats.files_in_tables, 18);
    assert!(r.stats.files_read <= 18);
    assert!(r.stats.files_read >= 6);
}

#[tokio::test]
async fn an_open_session_sees_chunks_that_arrive_later() {
    let t = TestLake::new();
    let s = LakeSession::open(&t.lake).await.unwrap();
    let count = format!("select count(*) as n from {JSON} where dt = '2018-09-03'");
    let before = s.sql(&count).await.unwrap();
    assert_eq!(before.stats.files_in_tables, 18);

    // The lake output lands a chunk in a new hour.
    let table = TableRef::new(DB, "eventlog").unwrap();
    let p = Partition {
        dt: "2018-09-03".into(),
        hour: 1,
    };
    let line = r#"{"time":"2018-09-03T01:02:03Z","method":"GET","path":"/","status":200,"bytes":1,"latency":0.1}"#;
    let chunk = zstd::encode_all(format!("{line}\n").as_bytes(), 3).unwrap();
    t.write(
        table.json_chunk(&p, 2, "w9", 0, ZSTD_CHUNK_EXT).as_ref(),
        &chunk,
    );

    let after = s.sql(&count).await.unwrap();
    let n = after.batches[0]
        .column(0)
        .as_any()
        .downcast_ref::<datafusion::arrow::array::Int64Array>()
        .unwrap()
        .value(0);
    assert_eq!(n, 1);
    assert_eq!(after.stats.files_in_tables, 19);
    assert_eq!(after.stats.partitions_total, 10);
}

#[tokio::test]
async fn a_lake_with_one_database_makes_it_the_default_schema() {
    let t = TestLake::new();
    std::fs::remove_dir_all(t.root().join(crate::lake::OTHER_DB)).unwrap();
    let s = LakeSession::open(&t.lake).await.unwrap();
    let r = s
        .sql("select count(*) from eventlog_parquet")
        .await
        .unwrap();
    assert_eq!(r.stats.rows, 1);
    let names: Vec<_> = s.tables().iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["eventlog_json", "eventlog_parquet", "eventlog"]);
}

#[tokio::test]
async fn an_empty_lake_opens_with_no_tables() {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(dir.path().to_str().unwrap()).unwrap();
    let s = LakeSession::open(&lake).await.unwrap();
    assert!(s.tables().is_empty());
    let r = s.sql("select 1 + 1 as two").await.unwrap();
    assert_eq!(r.stats.files_read, 0);
    assert_eq!(r.stats.files_in_tables, 0);
}

#[tokio::test]
async fn errors_are_sorted_by_stage() {
    let t = TestLake::new();
    let s = LakeSession::open(&t.lake).await.unwrap();
    let err = s.sql("select (1 from t").await.unwrap_err();
    assert!(matches!(err, QueryError::Syntax(_)), "{err:?}");
    let err = s
        .sql(&format!("select nope from {PARQUET}"))
        .await
        .unwrap_err();
    assert!(matches!(err, QueryError::UnknownColumn { .. }), "{err:?}");
    assert!(
        err.to_string().starts_with("column nope not found"),
        "{err}"
    );
    let err = s.sql("select nope()").await.unwrap_err();
    assert!(matches!(err, QueryError::Plan(_)), "{err:?}");
}

#[tokio::test]
async fn the_catalog_schema_is_the_authority_for_both_copies() {
    let t = TestLake::new();
    // What compaction writes: every column it has seen, widened, in the
    // order first seen. `referer` is in no file of this lake.
    t.write(
        &format!("{DB}/eventlog/_levee/schema.json"),
        br#"{"version":1,"columns":{"time":"string","method":"string","status":"int64","bytes":"int64","referer":"string"}}"#,
    );
    let s = LakeSession::open(&t.lake).await.unwrap();
    for table in s.tables().iter().filter(|t| t.table.table == "eventlog") {
        let names: Vec<_> = table
            .schema
            .fields()
            .iter()
            .map(|f| f.name().as_str())
            .collect();
        assert_eq!(
            names,
            ["time", "method", "status", "bytes", "referer", "dt", "hour"],
            "{}",
            table.name
        );
    }
    for from in [JSON, PARQUET] {
        let r = s
            .sql(&format!(
                "select count(*) as n, count(referer) as r, sum(bytes) as b from {from}"
            ))
            .await
            .unwrap();
        let out = levee_query::format_table(&r.schema, &r.batches).unwrap();
        assert!(out.contains("| 54 | 0 | 18900 |"), "{from}:\n{out}");
    }
}

#[tokio::test]
async fn an_unreadable_table_is_skipped_and_reported_not_fatal() {
    let t = TestLake::new();
    // A Parquet file that is not one, in a table without a catalog: its
    // schema cannot be inferred.
    t.write(
        &format!("{DB}/broken/parquet/dt=2018-09-01/hour=00/part-00000.parquet"),
        b"not parquet at all",
    );
    let s = LakeSession::open(&t.lake).await.unwrap();
    let skipped: Vec<_> = s.skipped().iter().map(|k| k.table.table.as_str()).collect();
    assert_eq!(skipped, ["broken"]);
    let msg = s.skipped()[0].error.to_string();
    assert!(
        msg.starts_with("cannot open table glue-data-lake-usw2-prd.broken_parquet: "),
        "{msg}"
    );
    // The rest of the lake answers.
    let r = s
        .sql(&format!("select count(*) from {PARQUET}"))
        .await
        .unwrap();
    assert_eq!(r.stats.rows, 1);
}

/// A compacted table's session opens from its catalog without listing its
/// chunks, and chooses the kinds of chunk to read at each scan: gzip and
/// plain chunks (another writer's) are still read, in both the JSON copy and
/// the whole table.
#[tokio::test]
async fn gzip_and_plain_chunks_are_read_in_a_table_with_a_catalog() {
    use std::io::Write;

    let t = TestLake::new();
    t.write(
        &format!("{DB}/eventlog/_levee/schema.json"),
        br#"{"version":1,"columns":{"time":"string","method":"string","status":"int64","bytes":"int64"}}"#,
    );
    let table = TableRef::new(DB, "eventlog").unwrap();
    let p = Partition {
        dt: "2018-09-04".into(),
        hour: 2,
    };
    let line = |i: u32| {
        format!(r#"{{"time":"2018-09-04T02:0{i}:00Z","method":"GET","status":200,"bytes":{i}}}"#)
    };
    let s = LakeSession::open(&t.lake).await.unwrap();
    // Written after the session opened: the scan finds them all the same.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    writeln!(gz, "{}\n{}", line(1), line(2)).unwrap();
    t.write(
        table.json_chunk(&p, 1, "w7", 0, "ndjson.gz").as_ref(),
        &gz.finish().unwrap(),
    );
    t.write(
        table.json_chunk(&p, 3, "w7", 1, "ndjson").as_ref(),
        format!("{}\n", line(3)).as_bytes(),
    );
    for from in [JSON.to_owned(), format!("\"{DB}\".eventlog")] {
        let r = s
            .sql(&format!(
                "select count(*) as n, sum(bytes) as b from {from} where dt = '2018-09-04'"
            ))
            .await
            .unwrap();
        let out = levee_query::format_table(&r.schema, &r.batches).unwrap();
        assert!(out.contains("| 3 | 6 |"), "{from}:\n{out}");
        assert_eq!(r.stats.files_read, 2, "{from}");
    }
}

#[tokio::test]
async fn gzip_and_plain_chunks_are_read_beside_zstd_ones() {
    use std::io::Write;

    let t = TestLake::new();
    let table = TableRef::new(DB, "eventlog").unwrap();
    let p = Partition {
        dt: "2018-09-04".into(),
        hour: 2,
    };
    let line = |i: u32| {
        format!(
            r#"{{"time":"2018-09-04T02:0{i}:00Z","method":"GET","path":"/","status":200,"bytes":{i},"latency":0.1}}"#
        )
    };
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    writeln!(gz, "{}\n{}", line(1), line(2)).unwrap();
    t.write(
        table.json_chunk(&p, 1, "w7", 0, "ndjson.gz").as_ref(),
        &gz.finish().unwrap(),
    );
    t.write(
        table.json_chunk(&p, 3, "w7", 1, "ndjson").as_ref(),
        format!("{}\n", line(3)).as_bytes(),
    );

    let s = LakeSession::open(&t.lake).await.unwrap();
    let r = s
        .sql(&format!(
            "select count(*) as n, sum(bytes) as b from {JSON} where dt = '2018-09-04'"
        ))
        .await
        .unwrap();
    let out = levee_query::format_table(&r.schema, &r.batches).unwrap();
    assert!(out.contains("| 3 | 6 |"), "{out}");
    assert_eq!(r.stats.files_read, 2);
    assert_eq!(r.stats.files_in_tables, 18 + 2);
    assert_eq!((r.stats.partitions_read, r.stats.partitions_total), (1, 10));

    // Every compression at once, and a limit over the union still holds.
    let r = s
        .sql(&format!("select * from {JSON} limit 4"))
        .await
        .unwrap();
    assert_eq!(r.stats.rows, 4);
    let r = s
        .sql(&format!("select count(*) from {JSON}"))
        .await
        .unwrap();
    let out = levee_query::format_table(&r.schema, &r.batches).unwrap();
    assert!(out.contains("| 57 "), "{out}");
}

#[tokio::test]
async fn a_column_widened_to_string_reads_json_numbers_as_text() {
    let t = TestLake::new();
    // Compaction saw `status` as a number and as "-", and widened it.
    t.write(
        &format!("{DB}/eventlog/_levee/schema.json"),
        br#"{"version":1,"columns":{"time":"string","method":"string","status":"string","bytes":"int64"}}"#,
    );
    let table = TableRef::new(DB, "eventlog").unwrap();
    let p = Partition {
        dt: "2018-09-05".into(),
        hour: 0,
    };
    let line = r#"{"time":"2018-09-05T00:00:01Z","method":"GET","status":"-","bytes":1}"#;
    t.write(
        table.json_chunk(&p, 0, "w3", 0, ZSTD_CHUNK_EXT).as_ref(),
        &zstd::encode_all(format!("{line}\n").as_bytes(), 3).unwrap(),
    );
    let s = LakeSession::open(&t.lake).await.unwrap();
    let r = s
        .sql(&format!(
            "select status, count(*) as n from {JSON} group by status order by status"
        ))
        .await
        .unwrap();
    let out = levee_query::format_table(&r.schema, &r.batches).unwrap();
    let expected = "\
+--------+----+
| status | n  |
+--------+----+
| -      | 1  |
| 200    | 27 |
| 301    | 9  |
| 404    | 9  |
| 500    | 9  |
+--------+----+";
    assert_eq!(out, expected);
}

/// A file a compaction replaced stays for its grace period, hidden from
/// queries; the totals ("read 1 of N files") must not count it either.
#[tokio::test]
async fn totals_do_not_count_files_a_compaction_retired() {
    use levee_lake::compact::{CompactOptions, HourSelection, compact_table};
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(dir.path().to_str().unwrap()).unwrap();
    let table = TableRef::new("db", "t").unwrap();
    let p = Partition {
        dt: "2018-09-01".into(),
        hour: 3,
    };
    let chunk = zstd::encode_all(&b"{\"n\":1}\n{\"n\":2}\n"[..], 3).unwrap();
    let key = table.json_chunk(&p, 0, "w1", 0, ZSTD_CHUNK_EXT);
    let path = dir.path().join(key.as_ref());
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, chunk).unwrap();
    let mut opts = CompactOptions {
        grace: std::time::Duration::from_secs(3600),
        ..CompactOptions::default()
    };
    compact_table(&lake, &table, &opts).await.unwrap();
    opts.hours = HourSelection::All;
    opts.force = true;
    let report = compact_table(&lake, &table, &opts).await.unwrap();
    assert_eq!(report.hours[0].removed_files.len(), 1, "one file retired");
    assert_eq!(
        files_under(&dir.path().join("db/t/parquet"), ".parquet").1,
        2
    );

    let s = LakeSession::open(&lake).await.unwrap();
    let r = s.sql("select sum(n) from db.t_parquet").await.unwrap();
    assert_eq!((r.stats.files_read, r.stats.files_in_tables), (1, 1));
    assert_eq!(r.stats.partitions_total, 1);
}
