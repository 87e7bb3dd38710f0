//! The event-time column: a Parquet timestamp, whatever older chunks and
//! the records' own fields hold.

use arrow::array::{Array, AsArray};
use arrow::datatypes::{DataType, Int64Type, TimeUnit, TimestampMicrosecondType};
use levee_lake::catalog::load_schema;
use levee_lake::compact::HourSelection;
use levee_lake::properties::{TableProperties, TimeField, write_properties};
use parquet::basic::{ConvertedType, LogicalType, TimeUnit as ParquetUnit};

use crate::support::*;

/// 2018-09-01T03:04:05.123456Z in microseconds.
const T0: i64 = 1_535_771_045_123_456;

async fn with_time_field(lake: &levee_lake::Lake, name: &str) {
    let props = TableProperties::new(TimeField::new(name).unwrap());
    write_properties(lake, &table(), &props).await.unwrap();
}

fn utc_micros() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into()))
}

#[tokio::test]
async fn the_event_time_is_a_timestamp_column_in_parquet() {
    let (_dir, lake) = lake();
    with_time_field(&lake, "time").await;
    put_chunk(
        &lake,
        &hour(3),
        4,
        1,
        &[
            r#"{"time":"2018-09-01T03:04:05.123456Z","n":1}"#.into(),
            r#"{"time":"2018-09-01T03:04:06Z","n":2}"#.into(),
        ],
    )
    .await;
    compact(&lake, HourSelection::Pending).await;

    let files = read_hour(&lake, &hour(3)).await;
    let column = files[0].metadata.file_metadata().schema_descr().column(0);
    assert_eq!(column.name(), "time");
    assert_eq!(
        column.logical_type_ref(),
        Some(&LogicalType::timestamp(true, ParquetUnit::MICROS))
    );
    // What readers that predate logical types (older Hive) go by.
    assert_eq!(column.converted_type(), ConvertedType::TIMESTAMP_MICROS);
    let batch = hour_batch(&lake, &hour(3)).await;
    let time = batch.column_by_name("time").unwrap();
    assert_eq!(time.data_type(), &utc_micros());
    let time = time.as_primitive::<TimestampMicrosecondType>();
    assert_eq!(time.values().to_vec(), [T0, T0 - 123_456 + 1_000_000]);

    let schema = load_schema(&lake, &table()).await.unwrap().unwrap();
    assert_eq!(
        schema.field_with_name("time").unwrap().data_type(),
        &utc_micros()
    );
}

#[tokio::test]
async fn older_chunks_without_the_event_time_compact_with_nulls_there() {
    let (_dir, lake) = lake();
    with_time_field(&lake, "time").await;
    // Before the column: no `time`, or the record's own `time` as text
    // and as a number. After: the event time, and the record's own `time_`.
    put_chunk(
        &lake,
        &hour(3),
        0,
        1,
        &[
            r#"{"n":1}"#.into(),
            r#"{"time":"01/Sep/2018:03:00:00 +0000","n":2}"#.into(),
            r#"{"time":1535770800,"n":3}"#.into(),
        ],
    )
    .await;
    put_chunk(
        &lake,
        &hour(3),
        4,
        2,
        &[
            r#"{"time":"2018-09-01T03:04:05.123456Z","time_":"01/Sep/2018:03:04:05 +0000","n":4}"#
                .into(),
        ],
    )
    .await;
    compact(&lake, HourSelection::Pending).await;

    let batch = hour_batch(&lake, &hour(3)).await;
    assert_eq!(batch.num_rows(), 4);
    let time = batch.column_by_name("time").unwrap();
    assert_eq!(time.data_type(), &utc_micros());
    let time = time.as_primitive::<TimestampMicrosecondType>();
    let theirs = batch.column_by_name("time_").unwrap().as_string::<i32>();
    let n = batch
        .column_by_name("n")
        .unwrap()
        .as_primitive::<Int64Type>();
    // By `n`, as rows come in no set order.
    let mut rows: Vec<_> = (0..4)
        .map(|i| {
            (
                n.value(i),
                time.is_valid(i).then(|| time.value(i)),
                theirs.is_valid(i).then(|| theirs.value(i)),
            )
        })
        .collect();
    rows.sort();
    assert_eq!(
        rows,
        [
            (1, None, None),
            (2, None, Some("01/Sep/2018:03:00:00 +0000")),
            (3, None, Some("1535770800")),
            (4, Some(T0), Some("01/Sep/2018:03:04:05 +0000")),
        ]
    );
}

#[tokio::test]
async fn a_catalog_with_a_string_time_column_gives_it_up_to_the_event_time() {
    let (_dir, lake) = lake();
    // Compacted before the table had properties: `time` is the records' text.
    put_chunk(
        &lake,
        &hour(2),
        0,
        1,
        &[r#"{"time":"01/Sep/2018:02:00:00 +0000","n":1}"#.into()],
    )
    .await;
    compact(&lake, HourSelection::Pending).await;
    let schema = load_schema(&lake, &table()).await.unwrap().unwrap();
    assert_eq!(
        schema.field_with_name("time").unwrap().data_type(),
        &DataType::Utf8
    );

    // Then a lake output with the event-time column writes the next hour.
    with_time_field(&lake, "time").await;
    put_chunk(
        &lake,
        &hour(3),
        4,
        1,
        &[r#"{"time":"2018-09-01T03:04:05.123456Z","n":2}"#.into()],
    )
    .await;
    compact(&lake, HourSelection::Pending).await;

    let schema = load_schema(&lake, &table()).await.unwrap().unwrap();
    assert_eq!(
        schema.field_with_name("time").unwrap().data_type(),
        &utc_micros()
    );
    assert_eq!(
        schema.field_with_name("time_").unwrap().data_type(),
        &DataType::Utf8
    );
    // The old hour was written again, its `time` now `time_`.
    let old = hour_batch(&lake, &hour(2)).await;
    assert!(old.column_by_name("time").unwrap().is_null(0));
    assert_eq!(
        old.column_by_name("time_")
            .unwrap()
            .as_string::<i32>()
            .value(0),
        "01/Sep/2018:02:00:00 +0000"
    );
    let new = hour_batch(&lake, &hour(3)).await;
    assert_eq!(
        new.column_by_name("time")
            .unwrap()
            .as_primitive::<TimestampMicrosecondType>()
            .value(0),
        T0
    );
}

#[tokio::test]
async fn the_event_time_column_may_have_another_name() {
    let (_dir, lake) = lake();
    with_time_field(&lake, "event_time").await;
    put_chunk(
        &lake,
        &hour(3),
        4,
        1,
        &[r#"{"event_time":"2018-09-01T03:04:05.123456Z","time":"x","Event_Time":1}"#.into()],
    )
    .await;
    compact(&lake, HourSelection::Pending).await;
    let batch = hour_batch(&lake, &hour(3)).await;
    let names: Vec<&str> = batch
        .schema_ref()
        .fields()
        .iter()
        .map(|f| f.name().as_str())
        .collect();
    assert_eq!(names, ["event_time", "time", "Event_Time_"]);
    assert_eq!(
        batch.column_by_name("event_time").unwrap().data_type(),
        &utc_micros()
    );
}
