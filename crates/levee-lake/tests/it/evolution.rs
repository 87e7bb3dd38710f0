//! Schema evolution: new columns, widened types, nested data.

use arrow::array::{Array, AsArray};
use arrow::datatypes::{DataType, Float64Type, Int64Type};
use levee_lake::catalog::load_schema;
use levee_lake::compact::{ChangeKind, CompactReason, HourSelection};
use object_store::ObjectStoreExt;

use crate::support::*;

fn widened(report: &levee_lake::compact::CompactReport) -> Vec<(String, String, String)> {
    report
        .widenings()
        .map(|c| match &c.change {
            ChangeKind::Widened { from, to } => (c.column.clone(), from.clone(), to.clone()),
            ChangeKind::Added { .. } => unreachable!(),
        })
        .collect()
}

#[tokio::test]
async fn int_widens_to_float_and_string_across_hours() {
    let (_dir, lake) = lake();
    put_chunk(
        &lake,
        &hour(10),
        0,
        1,
        &[r#"{"x":1,"y":1,"z":"a"}"#.into(), r#"{"x":2,"y":2}"#.into()],
    )
    .await;
    let first = compact(&lake, HourSelection::Pending).await;
    assert_eq!(widened(&first), []);
    let schema = load_schema(&lake, &table()).await.unwrap().unwrap();
    assert_eq!(
        schema.field_with_name("x").unwrap().data_type(),
        &DataType::Int64
    );

    put_chunk(
        &lake,
        &hour(11),
        0,
        1,
        &[r#"{"x":2.5,"y":"two","w":true}"#.into()],
    )
    .await;
    let second = compact(&lake, HourSelection::Pending).await;
    let w = widened(&second);
    assert!(
        w.contains(&("x".into(), "bigint".into(), "double".into())),
        "{w:?}"
    );
    assert!(
        w.contains(&("y".into(), "bigint".into(), "string".into())),
        "{w:?}"
    );
    assert!(second.schema_changes.iter().any(|c| c.column == "w"
        && c.partition == hour(11)
        && c.change
            == ChangeKind::Added {
                ty: "boolean".into()
            }));

    let schema = load_schema(&lake, &table()).await.unwrap().unwrap();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(names, ["x", "y", "z", "w"]);
    assert_eq!(
        schema.field_with_name("x").unwrap().data_type(),
        &DataType::Float64
    );
    assert_eq!(
        schema.field_with_name("y").unwrap().data_type(),
        &DataType::Utf8
    );

    // Hour 10 held the old types, so it was rewritten in the same run.
    let rewritten: Vec<_> = second
        .hours
        .iter()
        .map(|h| (h.partition.clone(), h.reason.clone()))
        .collect();
    assert_eq!(
        rewritten,
        [
            (hour(11), CompactReason::New),
            (hour(10), CompactReason::SchemaWidened)
        ]
    );
    assert!(second.stale_hours.is_empty());

    let old = hour_batch(&lake, &hour(10)).await;
    assert_eq!(old.schema().fields(), schema.fields());
    let x = old
        .column_by_name("x")
        .unwrap()
        .as_primitive::<Float64Type>();
    assert_eq!(x.values().to_vec(), [1.0, 2.0]);
    let y = old.column_by_name("y").unwrap().as_string::<i32>();
    assert_eq!((y.value(0), y.value(1)), ("1", "2"));
    let new = hour_batch(&lake, &hour(11)).await;
    assert_eq!(new.schema().fields(), schema.fields());
    assert_eq!(
        new.column_by_name("y").unwrap().as_string::<i32>().value(0),
        "two"
    );
    assert!(new.column_by_name("z").unwrap().is_null(0));
}

#[tokio::test]
async fn conflicts_within_an_hour_are_reported() {
    let (_dir, lake) = lake();
    let lines = [
        r#"{"v":1,"o":{"k":1}}"#.to_owned(),
        r#"{"v":"text","o":"flat"}"#.to_owned(),
        r#"{"v":false,"o":[1,2]}"#.to_owned(),
    ];
    put_chunk(&lake, &hour(0), 0, 1, &lines).await;
    let report = compact(&lake, HourSelection::Pending).await;
    let w = widened(&report);
    assert!(
        w.contains(&("v".into(), "bigint".into(), "string".into())),
        "{w:?}"
    );
    assert!(
        w.contains(&("o".into(), "struct<k:bigint>".into(), "string".into())),
        "{w:?}"
    );
    let batch = hour_batch(&lake, &hour(0)).await;
    let v = batch.column_by_name("v").unwrap().as_string::<i32>();
    assert_eq!([v.value(0), v.value(1), v.value(2)], ["1", "text", "false"]);
    let o = batch.column_by_name("o").unwrap().as_string::<i32>();
    assert_eq!(
        [o.value(0), o.value(1), o.value(2)],
        [r#"{"k":1}"#, "flat", "[1,2]"]
    );
}

#[tokio::test]
async fn only_leaves_other_hours_stale_for_pending() {
    let (_dir, lake) = lake();
    put_chunk(&lake, &hour(1), 0, 1, &[r#"{"n":1}"#.into()]).await;
    put_chunk(&lake, &hour(2), 0, 1, &[r#"{"n":{"deep":true}}"#.into()]).await;
    let report = compact(&lake, HourSelection::Only(vec![hour(1)])).await;
    assert!(report.stale_hours.is_empty());
    let report = compact(&lake, HourSelection::Only(vec![hour(2)])).await;
    assert_eq!(report.stale_hours, [hour(1)]);

    let report = compact(&lake, HourSelection::Pending).await;
    assert_eq!(report.hours.len(), 1);
    assert_eq!(report.hours[0].reason, CompactReason::SchemaWidened);
    let batch = hour_batch(&lake, &hour(1)).await;
    assert_eq!(
        batch
            .column_by_name("n")
            .unwrap()
            .as_string::<i32>()
            .value(0),
        "1"
    );
}

#[tokio::test]
async fn nested_structs_and_lists_survive() {
    let (_dir, lake) = lake();
    let lines = [
        r#"{"req":{"method":"GET","headers":{"ua":"curl"}},"tags":["a","b"],"items":[{"id":1},{"id":2,"ok":true}],"empty":[]}"#.to_owned(),
        r#"{"req":{"method":"PUT"},"tags":[],"items":null}"#.to_owned(),
    ];
    put_chunk(&lake, &hour(12), 0, 1, &lines).await;
    let report = compact(&lake, HourSelection::Pending).await;
    assert_eq!(report.hours[0].rows_written, 2);
    let batch = hour_batch(&lake, &hour(12)).await;

    let req = batch.column_by_name("req").unwrap().as_struct();
    let method = req.column_by_name("method").unwrap().as_string::<i32>();
    assert_eq!([method.value(0), method.value(1)], ["GET", "PUT"]);
    let headers = req.column_by_name("headers").unwrap().as_struct();
    assert_eq!(
        headers
            .column_by_name("ua")
            .unwrap()
            .as_string::<i32>()
            .value(0),
        "curl"
    );
    assert!(headers.is_null(1));

    let tags = batch.column_by_name("tags").unwrap().as_list::<i32>();
    assert_eq!(tags.value_length(0), 2);
    assert_eq!(tags.value(0).as_string::<i32>().value(1), "b");
    assert_eq!(tags.value_length(1), 0);
    assert!(!tags.is_null(1));

    let items = batch.column_by_name("items").unwrap().as_list::<i32>();
    assert!(items.is_null(1));
    let first = items.value(0);
    let item = first.as_struct();
    let ids = item
        .column_by_name("id")
        .unwrap()
        .as_primitive::<Int64Type>();
    assert_eq!(ids.values().to_vec(), [1, 2]);
    let ok = item.column_by_name("ok").unwrap().as_boolean();
    assert!(ok.is_null(0) && ok.value(1));

    let empty = batch.column_by_name("empty").unwrap();
    assert!(matches!(empty.data_type(), DataType::List(f) if f.data_type() == &DataType::Null));
    assert_eq!(empty.as_list::<i32>().value_length(0), 0);
}

#[tokio::test]
async fn dt_and_hour_fields_are_renamed() {
    let (_dir, lake) = lake();
    put_chunk(
        &lake,
        &hour(3),
        0,
        1,
        &[r#"{"dt":"2018-09-01","hour":3,"Hour_":"x","n":{"dt":1}}"#.into()],
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
    assert_eq!(names, ["dt_", "hour_", "Hour_", "n"]);
    assert_eq!(
        batch
            .column_by_name("dt_")
            .unwrap()
            .as_string::<i32>()
            .value(0),
        "2018-09-01"
    );
    assert_eq!(
        batch
            .column_by_name("hour_")
            .unwrap()
            .as_primitive::<Int64Type>()
            .value(0),
        3
    );
}

#[tokio::test]
async fn schema_is_rebuilt_from_manifests_when_lost() {
    let (_dir, lake) = lake();
    put_chunk(&lake, &hour(1), 0, 1, &[r#"{"a":1.5}"#.into()]).await;
    put_chunk(&lake, &hour(2), 0, 1, &[r#"{"b":"x"}"#.into()]).await;
    compact(&lake, HourSelection::Pending).await;
    let before = load_schema(&lake, &table()).await.unwrap().unwrap();
    lake.store.delete(&table().schema_key()).await.unwrap();
    assert!(load_schema(&lake, &table()).await.unwrap().is_none());

    // A late chunk with an int `a`: the rebuilt schema still says double.
    put_chunk(&lake, &hour(3), 0, 1, &[r#"{"a":7}"#.into()]).await;
    let report = compact(&lake, HourSelection::Pending).await;
    assert_eq!(report.hours.len(), 1);
    assert_eq!(load_schema(&lake, &table()).await.unwrap().unwrap(), before);
}

#[tokio::test]
async fn hour_of_only_nulls_writes_nothing_and_says_so() {
    let (_dir, lake) = lake();
    put_chunk(
        &lake,
        &hour(4),
        0,
        1,
        &[r#"{"a":null}"#.into(), "{}".into()],
    )
    .await;
    let report = compact(&lake, HourSelection::Pending).await;
    assert_eq!(
        (report.hours[0].input_rows, report.hours[0].rows_written),
        (2, 0)
    );
    assert!(read_hour(&lake, &hour(4)).await.is_empty());
    // Once a value shows up, the hour is written.
    put_chunk(&lake, &hour(4), 1, 2, &[r#"{"a":1}"#.into()]).await;
    compact(&lake, HourSelection::Pending).await;
    assert_eq!(rows_in_hour(&lake, &hour(4)).await, 3);
}

#[tokio::test]
async fn empty_objects_read_as_null_until_they_have_fields() {
    let (_dir, lake) = lake();
    put_chunk(
        &lake,
        &hour(5),
        0,
        1,
        &[r#"{"o":{},"n":1}"#.into(), r#"{"o":null,"n":2}"#.into()],
    )
    .await;
    compact(&lake, HourSelection::Pending).await;
    let batch = hour_batch(&lake, &hour(5)).await;
    assert_eq!(
        batch.column_by_name("o").unwrap().data_type(),
        &DataType::Null
    );
    assert_eq!(batch.num_rows(), 2);

    put_chunk(&lake, &hour(5), 1, 2, &[r#"{"o":{"k":"v"},"n":3}"#.into()]).await;
    let report = compact(&lake, HourSelection::Pending).await;
    assert_eq!(widened(&report), []);
    let batch = hour_batch(&lake, &hour(5)).await;
    let o = batch.column_by_name("o").unwrap().as_struct();
    assert_eq!(
        o.column_by_name("k").unwrap().as_string::<i32>().value(2),
        "v"
    );
    assert_eq!(batch.num_rows(), 3);
}

/// A field twice in one record: the schema pass absorbed both values while
/// the decoder kept the last, so a line `{"a":"x","a":1}` made `a` a string
/// column holding "1". The schema is now that of the value kept.
#[tokio::test]
async fn a_duplicate_field_gets_the_type_of_its_last_value() {
    let (_dir, lake) = lake();
    put_chunk(
        &lake,
        &hour(10),
        0,
        1,
        &[
            r#"{"a":"x","a":1,"b":true}"#.into(),
            r#"{"a":2,"b":false,"b":null}"#.into(),
        ],
    )
    .await;
    let report = compact(&lake, HourSelection::Pending).await;
    assert_eq!(widened(&report), []);
    let batch = hour_batch(&lake, &hour(10)).await;
    let a = batch.column_by_name("a").unwrap();
    assert_eq!(a.data_type(), &DataType::Int64);
    assert_eq!(
        a.as_primitive::<Int64Type>().iter().collect::<Vec<_>>(),
        [Some(1), Some(2)]
    );
    let b = batch.column_by_name("b").unwrap().as_boolean();
    assert_eq!(b.iter().collect::<Vec<_>>(), [Some(true), None]);
}
