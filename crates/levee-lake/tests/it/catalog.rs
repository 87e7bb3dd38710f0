//! The catalog: tables, schemas, chunk listings.

use levee_lake::catalog::{list_tables, load_schema};
use levee_lake::compact::HourSelection;
use levee_lake::{ChunkCompression, Partition, TableRef};
use object_store::path::Path;

use crate::support::*;

#[tokio::test]
async fn tables_are_folders_with_json_or_parquet() {
    let (_dir, lake) = lake();
    assert!(list_tables(&lake).await.unwrap().is_empty());
    put_chunk(&lake, &hour(0), 0, 1, &records(0, 1)).await;
    let other = TableRef::new("db2", "only_parquet").unwrap();
    put(&lake, &other.parquet_part(&hour(0), 0), b"x".to_vec()).await;
    put(
        &lake,
        &Path::from("db2/not_a_table/readme.txt"),
        b"x".to_vec(),
    )
    .await;
    put(
        &lake,
        &Path::from("db2/_hidden/json/x.ndjson"),
        b"x".to_vec(),
    )
    .await;

    assert_eq!(list_tables(&lake).await.unwrap(), [other, table()]);
}

#[tokio::test]
async fn schema_appears_with_the_first_compaction() {
    let (_dir, lake) = lake();
    assert!(load_schema(&lake, &table()).await.unwrap().is_none());
    put_chunk(&lake, &hour(0), 0, 1, &records(0, 3)).await;
    compact(&lake, HourSelection::Pending).await;
    let schema = load_schema(&lake, &table()).await.unwrap().unwrap();
    assert_eq!(schema.fields().len(), 5);
    assert!(schema.fields().iter().all(|f| f.is_nullable()));
    // A query engine reads every file with this schema.
    assert_eq!(
        read_hour(&lake, &hour(0)).await[0].schema.fields(),
        schema.fields()
    );
}

#[tokio::test]
async fn chunk_listings_by_hour() {
    let (_dir, lake) = lake();
    let b = put_chunk(&lake, &hour(5), 30, 2, &records(0, 1)).await;
    let a = put_chunk(&lake, &hour(5), 3, 9, &records(0, 1)).await;
    let g = put_gzip_chunk(&lake, &hour(6), 0, 1, &records(0, 1)).await;
    put(
        &lake,
        &table().json_partition(&hour(5)).join("upload.tmp"),
        b"x".to_vec(),
    )
    .await;

    let chunks = lake.list_chunks(&table(), &hour(5)).await.unwrap();
    assert_eq!(chunks.iter().map(|c| &c.key).collect::<Vec<_>>(), [&a, &b]);
    assert!(
        chunks
            .iter()
            .all(|c| c.compression == ChunkCompression::Zstd && c.size > 0)
    );
    assert!(
        lake.list_chunks(&table(), &hour(7))
            .await
            .unwrap()
            .is_empty()
    );

    let hours = lake.list_chunk_hours(&table()).await.unwrap();
    assert_eq!(
        hours.keys().cloned().collect::<Vec<_>>(),
        [hour(5), hour(6)]
    );
    assert_eq!(hours[&hour(6)][0].key, g);
    assert_eq!(hours[&hour(6)][0].compression, ChunkCompression::Gzip);
}

/// Days are listed apart and at once: every day's hours are found, and
/// keys beside or above the hour folders are not chunks.
#[tokio::test]
async fn chunk_hours_of_many_days() {
    let (_dir, lake) = lake();
    let days: Vec<Partition> = (1..=9)
        .map(|d| Partition {
            dt: format!("2018-09-{d:02}"),
            hour: d,
        })
        .collect();
    let mut keys = Vec::new();
    for p in &days {
        keys.push(put_chunk(&lake, p, 0, 1, &records(0, 1)).await);
    }
    // `<json root>/dt=../hour=../<chunk>`: a key beside the hour folders,
    // and one beside the day folders.
    let hour_folder = table().json_partition(&days[0]);
    let up = |p: &Path| p.parts().take(p.parts().count() - 1).collect::<Path>();
    let day_folder = up(&hour_folder);
    for beside in [day_folder.clone(), up(&day_folder)] {
        put(&lake, &beside.join("stray.ndjson"), b"{}\n".to_vec()).await;
    }

    let hours = lake.list_chunk_hours(&table()).await.unwrap();
    assert_eq!(hours.keys().cloned().collect::<Vec<_>>(), days);
    let listed: Vec<&Path> = hours.values().flatten().map(|c| &c.key).collect();
    assert_eq!(listed, keys.iter().collect::<Vec<_>>());
}
