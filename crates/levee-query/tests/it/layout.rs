//! A table's Parquet layout pays off in the accounting: bloom filters and
//! rows sorted within row groups let an equality or range predicate skip
//! row groups, so `bytes_scanned` drops against the same rows laid out
//! without them.

use levee_lake::compact::{CompactOptions, HourSelection, compact_table};
use levee_lake::layout::ZSTD_CHUNK_EXT;
use levee_lake::properties::{TableProperties, TimeField, write_properties};
use levee_lake::{ColumnName, Lake, ParquetLayout, Partition, TableRef};
use levee_query::LakeSession;

const ROWS: usize = 12_000;
const ROW_GROUP_ROWS: usize = 1_000;

/// A message id that looks random: no order a min/max statistic could use.
fn message_id(i: usize) -> String {
    let mut x = (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    x ^= x >> 29;
    format!("{x:016x}")
}

/// The same hour of events in `table`, its chunks holding the rows in
/// scrambled time order, laid out as `layout` says.
async fn table_with(lake: &Lake, dir: &std::path::Path, name: &str, layout: ParquetLayout) {
    let table = TableRef::new("db", name).unwrap();
    let props = TableProperties::new(TimeField::default()).with_parquet(layout);
    write_properties(lake, &table, &props).await.unwrap();
    let p = Partition {
        dt: "2018-09-01".into(),
        hour: 13,
    };
    let mut text = String::new();
    for i in 0..ROWS {
        // A permutation of the hour's seconds: 7919 is prime to 3600.
        let second = (i * 7919) % 3600;
        let domain = ["a.example", "b.example", "c.example"][i % 3];
        let line = serde_json::json!({
            "time": format!("2018-09-01T13:{:02}:{:02}Z", second / 60, second % 60),
            "message_id": message_id(i),
            "routing_domain": domain,
        });
        text.push_str(&format!("{line}\n"));
    }
    let key = table.json_chunk(&p, 0, "w1", 0, ZSTD_CHUNK_EXT);
    let path = dir.join(key.as_ref());
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, zstd::encode_all(text.as_bytes(), 3).unwrap()).unwrap();
    let opts = CompactOptions {
        hours: HourSelection::All,
        row_group_rows: ROW_GROUP_ROWS,
        ..CompactOptions::default()
    };
    let report = compact_table(lake, &table, &opts).await.unwrap();
    assert_eq!(report.hours.len(), 1);
}

async fn scanned(s: &LakeSession, sql: &str) -> (String, u64) {
    let r = s.sql(sql).await.unwrap();
    let mut out = Vec::new();
    levee_query::write_csv(&mut out, &r.schema, &r.batches).unwrap();
    (String::from_utf8(out).unwrap(), r.stats.bytes_scanned)
}

#[tokio::test]
async fn bloom_filters_and_sorted_row_groups_cut_the_bytes_scanned() {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(dir.path().to_str().unwrap()).unwrap();
    let column = |n: &str| ColumnName::new(n).unwrap();
    // Sorted by a column of three values, the times stay scrambled.
    let plain = ParquetLayout {
        sort_by: Some(column("routing_domain")),
        ..ParquetLayout::default()
    };
    // Sorted by event time, the default.
    let laid_out = ParquetLayout {
        bloom_filters: vec![column("message_id")],
        ..ParquetLayout::default()
    };
    table_with(&lake, dir.path(), "plain", plain).await;
    table_with(&lake, dir.path(), "laid_out", laid_out).await;
    let s = LakeSession::open(&lake).await.unwrap();

    let id = message_id(4321);
    let by_id =
        |t: &str| format!("select count(*) as n from db.{t}_parquet where message_id = '{id}'");
    let (n_plain, bytes_plain) = scanned(&s, &by_id("plain")).await;
    let (n_bloom, bytes_bloom) = scanned(&s, &by_id("laid_out")).await;
    assert_eq!(n_plain, "n\n1\n");
    assert_eq!(n_bloom, n_plain);
    assert!(
        bytes_bloom * 3 < bytes_plain,
        "bloom filters: {bytes_bloom} bytes scanned, without: {bytes_plain}"
    );

    let by_time = |t: &str| {
        format!(
            "select count(*) as n from db.{t}_parquet \
             where time >= timestamp '2018-09-01T13:10:00Z' and time < timestamp '2018-09-01T13:15:00Z'"
        )
    };
    let (n_plain, bytes_plain) = scanned(&s, &by_time("plain")).await;
    let (n_sorted, bytes_sorted) = scanned(&s, &by_time("laid_out")).await;
    let expected = (0..ROWS)
        .filter(|i| (600..900).contains(&((i * 7919) % 3600)))
        .count();
    assert_eq!(n_plain, format!("n\n{expected}\n"));
    assert_eq!(n_sorted, n_plain);
    assert!(
        bytes_sorted * 3 < bytes_plain,
        "sorted by time: {bytes_sorted} bytes scanned, unsorted: {bytes_plain}"
    );
}
