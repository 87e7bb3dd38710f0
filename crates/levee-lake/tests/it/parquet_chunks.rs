//! Parquet chunks (the lake output's `format = "parquet"` or `"both"`) as
//! compaction's input: merged into the hour's files, JSON preferred where a
//! chunk is in both forms, tracked by the manifest as JSON chunks are.

use levee_lake::compact::{CompactReason, HourSelection, compact_table, pending_hours};
use levee_lake::parquet_chunk::encode_text;
use object_store::ObjectStoreExt;
use object_store::path::Path;

use crate::support::*;

/// Stores `lines` as the Parquet chunk `<minute>-w1-<seq>.parquet` of `p`.
async fn put_parquet_chunk(
    lake: &levee_lake::Lake,
    p: &levee_lake::Partition,
    minute: u32,
    seq: u64,
    lines: &[String],
) -> Path {
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    let key = table().parquet_chunk(p, minute, "w1", seq);
    put(lake, &key, encode_text(text.as_bytes(), None).unwrap()).await;
    key
}

#[tokio::test]
async fn an_hours_parquet_chunks_are_merged_into_one_file_with_every_row() {
    let (_dir, lake) = lake();
    put_parquet_chunk(&lake, &hour(3), 0, 1, &records(0, 300)).await;
    // A chunk with a column the others lack, and one whose type widens.
    let mut odd = records(300, 200);
    odd[0] = r#"{"id":300,"status":"n/a","extra":{"a":1}}"#.to_owned();
    put_parquet_chunk(&lake, &hour(3), 1, 2, &odd).await;
    put_parquet_chunk(&lake, &hour(3), 2, 3, &records(500, 500)).await;

    let report = compact(&lake, HourSelection::Pending).await;
    assert_eq!(report.hours.len(), 1);
    let h = &report.hours[0];
    assert_eq!(
        (h.input_chunks, h.input_rows, h.rows_written),
        (3, 1000, 1000)
    );
    assert_eq!(h.output_files.len(), 1, "one file near the size target");
    assert_eq!(
        ids(&hour_batch(&lake, &hour(3)).await),
        (0..1000).collect::<Vec<_>>()
    );

    // Tracked as JSON chunks are: nothing left to do, until a late chunk.
    assert!(pending_hours(&lake, &table()).await.unwrap().is_empty());
    put_parquet_chunk(&lake, &hour(3), 40, 4, &records(1000, 10)).await;
    let pending = pending_hours(&lake, &table()).await.unwrap();
    assert_eq!(
        pending,
        [(hour(3), CompactReason::ChunksChanged { new: 1 })]
    );
    compact(&lake, HourSelection::Pending).await;
    assert_eq!(rows_in_hour(&lake, &hour(3)).await, 1010);
}

/// `format = "both"` writes each chunk twice: compaction reads the JSON
/// and leaves its twin aside, so no row is written twice; a Parquet chunk
/// without a twin is read.
#[tokio::test]
async fn a_chunk_in_both_forms_is_read_once_from_its_json() {
    let (_dir, lake) = lake();
    put_chunk(&lake, &hour(5), 0, 1, &records(0, 100)).await;
    put_parquet_chunk(&lake, &hour(5), 0, 1, &records(0, 100)).await;
    put_parquet_chunk(&lake, &hour(5), 1, 2, &records(100, 50)).await;

    let chunks = lake.list_chunks(&table(), &hour(5)).await.unwrap();
    let names: Vec<&str> = chunks.iter().filter_map(|c| c.key.filename()).collect();
    assert_eq!(
        names,
        ["00-w1-00000001.ndjson.zst", "01-w1-00000002.parquet"]
    );
    let hours = lake.list_chunk_hours(&table()).await.unwrap();
    assert_eq!(hours[&hour(5)], chunks);

    let report = compact(&lake, HourSelection::All).await;
    assert_eq!(report.rows_written(), 150);
    assert_eq!(
        ids(&hour_batch(&lake, &hour(5)).await),
        (0..150).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn a_damaged_parquet_chunk_is_quarantined_and_the_other_chunks_kept() {
    let (_dir, lake) = lake();
    put_parquet_chunk(&lake, &hour(7), 0, 1, &records(0, 100)).await;
    let bad = put_parquet_chunk(&lake, &hour(7), 1, 2, &records(100, 100)).await;
    let bytes = lake.store.get(&bad).await.unwrap().bytes().await.unwrap();
    put(&lake, &bad, bytes[..bytes.len() / 2].to_vec()).await;

    let report = compact(&lake, HourSelection::All).await;
    let h = &report.hours[0];
    assert_eq!(h.rows_written, 100);
    assert_eq!(h.failed_chunks.len(), 1);
    assert!(
        h.failed_chunks[0].message.starts_with("parquet: "),
        "{:?}",
        h.failed_chunks
    );
    assert!(h.failed_chunks[0].quarantined.is_some());
    assert!(lake.store.head(&bad).await.is_err(), "moved out of chunks/");
    assert_eq!(rows_in_hour(&lake, &hour(7)).await, 100);
}

/// `format = "both"` and `keep_json`: a JSON chunk expires with its
/// Parquet twin. Left behind, the twin read as a new chunk of the hour
/// once its JSON was gone, and its rows were merged into the hour again.
#[tokio::test]
async fn an_expiring_json_chunk_takes_its_parquet_twin_with_it() {
    use levee_lake::properties::{Retention, TableProperties, TimeField, write_properties};
    use std::time::{Duration, UNIX_EPOCH};
    let (_dir, lake) = lake();
    let retention = Retention {
        keep_json: Some(Duration::from_secs(7 * 86_400)),
        keep_parquet: None,
    };
    let props = TableProperties::new(TimeField::default()).with_retention(retention);
    write_properties(&lake, &table(), &props).await.unwrap();
    let lines: Vec<String> = (0..100)
        .map(|i| format!(r#"{{"time":"2018-09-01T01:00:{:02}Z","id":{i}}}"#, i % 60))
        .collect();
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    put_chunk(&lake, &hour(1), 0, 1, &lines).await;
    let twin = table().parquet_chunk(&hour(1), 0, "w1", 1);
    put(
        &lake,
        &twin,
        encode_text(text.as_bytes(), Some("time")).unwrap(),
    )
    .await;

    // 2018-09-02T00:00:00Z, then 30 days on.
    let at = |days: u64| levee_lake::compact::CompactOptions {
        grace: Duration::ZERO,
        now: Some(UNIX_EPOCH + Duration::from_secs(1_535_846_400 + days * 86_400)),
        ..levee_lake::compact::CompactOptions::default()
    };
    compact_table(&lake, &table(), &at(1)).await.unwrap();
    assert_eq!(rows_in_hour(&lake, &hour(1)).await, 100);
    compact_table(&lake, &table(), &at(30)).await.unwrap();
    assert!(
        lake.store.head(&twin).await.is_err(),
        "the twin expired too"
    );
    // A later run finds nothing new in the hour.
    let report = compact_table(&lake, &table(), &at(31)).await.unwrap();
    assert!(report.hours.is_empty(), "{:?}", report.hours);
    assert_eq!(rows_in_hour(&lake, &hour(1)).await, 100);
}
