//! A declared schema wins over inference: values cast, a value that cannot
//! be is null in the Parquet, and its record kept in the records
//! quarantine with the reason, and counted.

use arrow::array::{Array, AsArray};
use arrow::datatypes::{DataType, Float64Type, Int64Type};
use levee_lake::catalog::load_schema;
use levee_lake::compact::HourSelection;
use levee_lake::declared::DeclaredSchema;
use levee_lake::properties::{TableProperties, TimeField, write_properties};
use object_store::ObjectStoreExt;

use crate::support::*;

async fn declare(lake: &levee_lake::Lake, pairs: &[(&str, &str)]) {
    let schema: DeclaredSchema = pairs
        .iter()
        .map(|(n, t)| ((*n).to_owned(), t.parse().unwrap()))
        .collect();
    let props = TableProperties::new(TimeField::default()).with_schema(schema);
    write_properties(lake, &table(), &props).await.unwrap();
}

#[tokio::test]
async fn declared_types_win_values_are_cast_and_failures_quarantined() {
    let (_dir, lake) = lake();
    declare(&lake, &[("status", "bigint"), ("ratio", "double")]).await;
    // Inferred alone, `status` would be a string and `ratio` a bigint.
    let chunk = put_chunk(
        &lake,
        &hour(6),
        0,
        1,
        &[
            r#"{"status":"404","ratio":1}"#.into(),
            r#"{"status":200,"ratio":"0.25"}"#.into(),
            r#"{"status":"n/a","ratio":2}"#.into(),
        ],
    )
    .await;
    let report = compact(&lake, HourSelection::Pending).await;
    let h = &report.hours[0];
    assert_eq!(h.rows_written, 3, "the record that failed is kept");
    assert_eq!(h.cast_failures, 1);
    assert!(report.left_data_out());
    let warnings = report.warnings().join("\n");
    assert!(
        warnings.contains("1 values did not fit the declared schema"),
        "{warnings}"
    );

    let batch = hour_batch(&lake, &hour(6)).await;
    let status = batch.column_by_name("status").unwrap();
    assert_eq!(status.data_type(), &DataType::Int64);
    let status = status.as_primitive::<Int64Type>();
    assert_eq!(
        (0..3)
            .map(|i| status.is_valid(i).then(|| status.value(i)))
            .collect::<Vec<_>>(),
        [Some(404), Some(200), None]
    );
    let ratio = batch.column_by_name("ratio").unwrap();
    assert_eq!(ratio.data_type(), &DataType::Float64);
    assert_eq!(
        ratio.as_primitive::<Float64Type>().values().to_vec(),
        [1.0, 0.25, 2.0]
    );
    let schema = load_schema(&lake, &table()).await.unwrap().unwrap();
    assert_eq!(
        schema.field_with_name("status").unwrap().data_type(),
        &DataType::Int64
    );

    let key = h.quarantined_records[0].clone();
    assert!(
        key.as_ref()
            .ends_with(&format!("{}.json", chunk.filename().unwrap()))
    );
    let text = lake.store.get(&key).await.unwrap().bytes().await.unwrap();
    let kept: serde_json::Value =
        serde_json::from_slice(text.split(|b| *b == b'\n').next().unwrap()).unwrap();
    assert_eq!(kept["line"], 3);
    assert_eq!(kept["text"], r#"{"status":"n/a","ratio":2}"#);
    assert_eq!(
        kept["reason"],
        r#"declared schema: status: "n/a" is not a bigint"#
    );
}

/// Records that already fit take the fast way, and the table's types
/// still are the declared ones.
#[tokio::test]
async fn records_that_fit_the_declared_schema_need_no_cast() {
    let (_dir, lake) = lake();
    declare(&lake, &[("status", "bigint"), ("ratio", "double")]).await;
    put_chunk(&lake, &hour(7), 0, 1, &records(0, 50)).await;
    put_chunk(&lake, &hour(7), 1, 2, &[r#"{"status":1,"ratio":3}"#.into()]).await;
    let report = compact(&lake, HourSelection::Pending).await;
    assert_eq!(report.hours[0].cast_failures, 0);
    assert!(!report.left_data_out());
    let batch = hour_batch(&lake, &hour(7)).await;
    assert_eq!(batch.num_rows(), 51);
    assert_eq!(
        batch.column_by_name("ratio").unwrap().data_type(),
        &DataType::Float64
    );
}
