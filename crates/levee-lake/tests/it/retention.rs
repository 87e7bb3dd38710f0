//! Retention: JSON expires only once its hour's Parquet covers it, Parquet
//! by age alone, and a late chunk for an hour whose JSON expired is merged
//! into the hour's Parquet. Hours are named in 2018 and ages measured
//! against a given `now`, so no test waits on the clock.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arrow::array::{Array, AsArray};
use arrow::datatypes::{DataType, Float64Type};
use levee_lake::Lake;
use levee_lake::compact::{
    CompactOptions, SkipReason, compact_table, planned_expiry, planned_hours,
};
use levee_lake::properties::{Retention, TableProperties, TimeField, write_properties};
use object_store::ObjectStoreExt;

use crate::support::*;

const DAY: u64 = 86_400;

async fn keep(lake: &Lake, json_days: Option<u64>, parquet_days: Option<u64>) {
    let retention = Retention {
        keep_json: json_days.map(|d| Duration::from_secs(d * DAY)),
        keep_parquet: parquet_days.map(|d| Duration::from_secs(d * DAY)),
    };
    let props = TableProperties::new(TimeField::default()).with_retention(retention);
    write_properties(lake, &table(), &props).await.unwrap();
}

/// `days` after the end of 2018-09-01.
fn days_after(days: u64) -> SystemTime {
    // 2018-09-02T00:00:00Z
    UNIX_EPOCH + Duration::from_secs(1_535_846_400 + days * DAY)
}

fn at(now: SystemTime) -> CompactOptions {
    CompactOptions {
        grace: Duration::ZERO,
        now: Some(now),
        ..CompactOptions::default()
    }
}

/// Records with an event time in hour `h` of 2018-09-01.
fn timed(h: u32, start: usize, n: usize) -> Vec<String> {
    (start..start + n)
        .map(|i| {
            format!(
                r#"{{"time":"2018-09-01T{h:02}:{:02}:{:02}Z","id":{i},"bytes":{}}}"#,
                i / 60 % 60,
                i % 60,
                i * 7
            )
        })
        .collect()
}

async fn exists(lake: &Lake, key: &object_store::path::Path) -> bool {
    lake.store.head(key).await.is_ok()
}

#[tokio::test]
async fn json_expires_only_once_its_hours_parquet_covers_it() {
    let (_dir, lake) = lake();
    keep(&lake, Some(7), None).await;
    let a = put_chunk(&lake, &hour(1), 0, 1, &timed(1, 0, 200)).await;
    let b = put_chunk(&lake, &hour(2), 0, 2, &timed(2, 0, 100)).await;

    // Old enough, but nothing covers it yet: kept, and said so.
    let late = at(days_after(30));
    let planned = planned_expiry(&lake, &table(), &late).await.unwrap();
    assert!(planned.is_empty(), "{planned:?}");
    assert_eq!(planned.json_kept, [hour(1), hour(2)]);

    // Compacted while young: the JSON stays.
    let young = at(days_after(1));
    let report = compact_table(&lake, &table(), &young).await.unwrap();
    assert_eq!(report.hours.len(), 2);
    assert!(report.expired.is_empty(), "{:?}", report.expired);
    assert!(exists(&lake, &a).await && exists(&lake, &b).await);

    // A chunk arrives late for hour 2: hour 2's first chunk is covered, the
    // late one is not, so only the first may go.
    let c = put_chunk(&lake, &hour(2), 30, 3, &timed(2, 100, 10)).await;
    let planned = planned_expiry(&lake, &table(), &late).await.unwrap();
    let expiring: Vec<_> = planned.json.iter().flat_map(|h| h.files.clone()).collect();
    assert_eq!(expiring, [a.clone(), b.clone()]);
    assert_eq!(planned.json_kept, [hour(2)]);
    assert!(exists(&lake, &c).await, "a dry run touches nothing");

    // The run compacts the late chunk first, then every chunk is covered.
    let report = compact_table(&lake, &table(), &late).await.unwrap();
    assert_eq!(report.hours.len(), 1);
    let expired: Vec<_> = report
        .expired
        .json
        .iter()
        .flat_map(|h| h.files.clone())
        .collect();
    assert_eq!(expired, [a.clone(), b.clone(), c.clone()]);
    for key in [&a, &b, &c] {
        assert!(!exists(&lake, key).await, "{key} kept");
    }
    assert_eq!(rows_in_hour(&lake, &hour(1)).await, 200);
    assert_eq!(rows_in_hour(&lake, &hour(2)).await, 110);
    // Nothing is due again, and the hours are not "missing chunks".
    let again = compact_table(&lake, &table(), &late).await.unwrap();
    assert!(again.hours.is_empty() && again.expired.is_empty());
    assert!(
        again
            .skipped
            .iter()
            .all(|s| s.reason == SkipReason::NoChunks),
        "{:?}",
        again.skipped
    );
}

#[tokio::test]
async fn expired_json_waits_out_the_grace_period_like_replaced_parquet() {
    let (_dir, lake) = lake();
    keep(&lake, Some(7), None).await;
    let a = put_chunk(&lake, &hour(1), 0, 1, &timed(1, 0, 50)).await;
    let graced = CompactOptions {
        grace: Duration::from_secs(3600),
        ..at(days_after(30))
    };
    let report = compact_table(&lake, &table(), &graced).await.unwrap();
    assert_eq!(report.expired.json.len(), 1);
    // Retired, not deleted: a query that listed it still reads it.
    assert!(exists(&lake, &a).await);
    let report = compact_table(&lake, &table(), &graced).await.unwrap();
    assert!(report.expired.is_empty() && report.hours.is_empty());
    let report = compact_table(&lake, &table(), &at(days_after(30)))
        .await
        .unwrap();
    assert_eq!(report.purged_files, std::slice::from_ref(&a));
    assert!(!exists(&lake, &a).await);
    assert_eq!(rows_in_hour(&lake, &hour(1)).await, 50);
}

#[tokio::test]
async fn parquet_expires_by_age_and_its_hour_is_never_compacted_again() {
    let (_dir, lake) = lake();
    keep(&lake, None, Some(30)).await;
    let a = put_chunk(&lake, &hour(1), 0, 1, &timed(1, 0, 40)).await;
    let report = compact_table(&lake, &table(), &at(days_after(29)))
        .await
        .unwrap();
    assert_eq!(report.hours.len(), 1);
    assert!(report.expired.is_empty());
    let part = table().parquet_part(&hour(1), 0);
    assert!(exists(&lake, &part).await);

    let old = at(days_after(30));
    let planned = planned_expiry(&lake, &table(), &old).await.unwrap();
    assert_eq!(planned.parquet.len(), 1);
    assert_eq!(planned.parquet[0].files, std::slice::from_ref(&part));
    let report = compact_table(&lake, &table(), &old).await.unwrap();
    assert_eq!(report.expired.parquet.len(), 1);
    assert!(report.hours.is_empty());
    assert!(!exists(&lake, &part).await);
    assert_eq!(rows_in_hour(&lake, &hour(1)).await, 0);
    assert!(!exists(&lake, &table().manifest_key(&hour(1))).await);
    // The JSON is kept (no `keep_json`), and not compacted again.
    assert!(exists(&lake, &a).await);
    assert!(
        planned_hours(&lake, &table(), &old)
            .await
            .unwrap()
            .is_empty()
    );
    let again = compact_table(&lake, &table(), &old).await.unwrap();
    assert!(again.hours.is_empty());
    assert_eq!(again.skipped[0].reason, SkipReason::Expired);
    assert!(!exists(&lake, &part).await);
}

/// An hour past both limits has no Parquet to wait for: its JSON goes by age.
#[tokio::test]
async fn json_past_keep_parquet_too_expires_by_age_alone() {
    let (_dir, lake) = lake();
    keep(&lake, Some(7), Some(30)).await;
    let a = put_chunk(&lake, &hour(1), 0, 1, &timed(1, 0, 40)).await;
    let report = compact_table(&lake, &table(), &at(days_after(31)))
        .await
        .unwrap();
    assert!(report.hours.is_empty());
    assert_eq!(report.expired.json.len(), 1);
    assert!(!exists(&lake, &a).await);
}

#[tokio::test]
async fn a_late_chunk_for_an_hour_whose_json_expired_is_merged_into_its_parquet() {
    let (_dir, lake) = lake();
    keep(&lake, Some(7), None).await;
    put_chunk(&lake, &hour(4), 0, 1, &timed(4, 0, 300)).await;
    put_chunk(&lake, &hour(4), 10, 2, &timed(4, 300, 200)).await;
    let now = at(days_after(30));
    let report = compact_table(&lake, &table(), &now).await.unwrap();
    assert_eq!(report.expired.json[0].files.len(), 2);
    assert_eq!(rows_in_hour(&lake, &hour(4)).await, 500);

    // Late records, one with a float where the hour had integers: the
    // Parquet's rows are carried over into the widened schema.
    let mut late = timed(4, 500, 20);
    late.push(r#"{"time":"2018-09-01T04:59:59Z","id":520,"bytes":1.5,"extra":"x"}"#.into());
    put_chunk(&lake, &hour(4), 59, 3, &late).await;
    let planned = planned_hours(&lake, &table(), &now).await.unwrap();
    assert_eq!(planned.len(), 1, "the late chunk makes the hour due");
    let report = compact_table(&lake, &table(), &now).await.unwrap();
    assert_eq!(report.hours.len(), 1);
    assert_eq!(
        report.hours[0].input_chunks, 1,
        "only the late chunk is read"
    );
    assert_eq!(report.hours[0].rows_written, 521);
    // The late chunk is covered now, so it expires in the same run.
    assert_eq!(report.expired.json[0].files.len(), 1);

    let batch = hour_batch(&lake, &hour(4)).await;
    assert_eq!(batch.num_rows(), 521);
    let mut ids = ids(&batch);
    ids.sort_unstable();
    assert_eq!(
        ids,
        (0..521).collect::<Vec<i64>>(),
        "no row lost or doubled"
    );
    let bytes = batch.column_by_name("bytes").unwrap();
    assert_eq!(bytes.data_type(), &DataType::Float64);
    assert_eq!(bytes.as_primitive::<Float64Type>().value(1), 7.0);
    let time = batch.column_by_name("time").unwrap();
    assert!(matches!(time.data_type(), DataType::Timestamp(..)));
    assert_eq!(time.null_count(), 0, "event times survive the round trip");
    assert_eq!(batch.column_by_name("extra").unwrap().null_count(), 520);

    // And a second late chunk merges into that.
    put_chunk(&lake, &hour(4), 59, 4, &timed(4, 521, 9)).await;
    compact_table(&lake, &table(), &now).await.unwrap();
    assert_eq!(rows_in_hour(&lake, &hour(4)).await, 530);
    let again = compact_table(&lake, &table(), &now).await.unwrap();
    assert!(again.hours.is_empty());
}
