//! Lakes, chunks and Parquet readers for the tests.

use std::io::Write;

use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::Int64Type;
use arrow::datatypes::SchemaRef;
use futures::TryStreamExt;
use levee_lake::compact::{CompactOptions, CompactReport, HourSelection, compact_table};
use levee_lake::layout::{GZIP_CHUNK_EXT, PLAIN_CHUNK_EXT, ZSTD_CHUNK_EXT};
use levee_lake::{Lake, Partition, TableRef};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use parquet::arrow::arrow_reader::{ArrowReaderOptions, ParquetRecordBatchReaderBuilder};
use parquet::file::metadata::{PageIndexPolicy, ParquetMetaData};
use tempfile::TempDir;

pub fn lake() -> (TempDir, Lake) {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(dir.path().to_str().unwrap()).unwrap();
    (dir, lake)
}

pub fn table() -> TableRef {
    TableRef::new("glue-data-lake-usw2-prd", "eventlog").unwrap()
}

pub fn hour(h: u32) -> Partition {
    Partition {
        dt: "2018-09-01".to_owned(),
        hour: h,
    }
}

pub async fn put(lake: &Lake, key: &Path, bytes: Vec<u8>) {
    lake.store.put(key, PutPayload::from(bytes)).await.unwrap();
}

/// Writes lines as a zstd chunk, as the lake output does.
pub async fn put_chunk(
    lake: &Lake,
    p: &Partition,
    minute: u32,
    seq: u64,
    lines: &[String],
) -> Path {
    let key = table().json_chunk(p, minute, "w1", seq, ZSTD_CHUNK_EXT);
    put(
        lake,
        &key,
        zstd::encode_all(text(lines).as_bytes(), 3).unwrap(),
    )
    .await;
    key
}

pub async fn put_gzip_chunk(
    lake: &Lake,
    p: &Partition,
    minute: u32,
    seq: u64,
    lines: &[String],
) -> Path {
    let key = table().json_chunk(p, minute, "w1", seq, GZIP_CHUNK_EXT);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(text(lines).as_bytes()).unwrap();
    put(lake, &key, gz.finish().unwrap()).await;
    key
}

pub async fn put_plain_chunk(
    lake: &Lake,
    p: &Partition,
    minute: u32,
    seq: u64,
    lines: &[String],
) -> Path {
    let key = table().json_chunk(p, minute, "w1", seq, PLAIN_CHUNK_EXT);
    put(lake, &key, text(lines).into_bytes()).await;
    key
}

fn text(lines: &[String]) -> String {
    lines.iter().map(|l| format!("{l}\n")).collect()
}

/// `n` access-log-like records, numbered from `start`.
pub fn records(start: usize, n: usize) -> Vec<String> {
    (start..start + n)
        .map(|i| {
            format!(
                r#"{{"id":{i},"method":"{}","status":{},"bytes":{},"path":"/p/{}"}}"#,
                if i % 3 == 0 { "POST" } else { "GET" },
                200 + (i % 5) * 100,
                i * 7,
                i % 13
            )
        })
        .collect()
}

pub fn select(hours: HourSelection) -> CompactOptions {
    CompactOptions {
        hours,
        ..CompactOptions::default()
    }
}

pub async fn compact(lake: &Lake, hours: HourSelection) -> CompactReport {
    compact_table(lake, &table(), &select(hours)).await.unwrap()
}

/// One Parquet file read back: its key, batches, schema and metadata.
pub struct ReadFile {
    pub key: Path,
    pub batches: Vec<RecordBatch>,
    pub schema: SchemaRef,
    pub metadata: std::sync::Arc<ParquetMetaData>,
}

impl ReadFile {
    pub fn rows(&self) -> usize {
        self.batches.iter().map(|b| b.num_rows()).sum()
    }
}

/// Every Parquet file of an hour a reader sees (those its manifest
/// commits), sorted by key, read with the parquet crate.
pub async fn read_hour(lake: &Lake, p: &Partition) -> Vec<ReadFile> {
    let view = levee_lake::committed::CommittedView::new(lake.store.clone());
    let mut keys: Vec<Path> = view
        .list(Some(&table().parquet_partition(p)))
        .map_ok(|m| m.location)
        .try_collect()
        .await
        .unwrap();
    keys.sort();
    let mut files = Vec::new();
    for key in keys {
        let bytes = lake.store.get(&key).await.unwrap().bytes().await.unwrap();
        let options = ArrowReaderOptions::new().with_page_index_policy(PageIndexPolicy::Required);
        let builder =
            ParquetRecordBatchReaderBuilder::try_new_with_options(bytes, options).unwrap();
        let schema = builder.schema().clone();
        let metadata = builder.metadata().clone();
        let batches = builder
            .build()
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        files.push(ReadFile {
            key,
            batches,
            schema,
            metadata,
        });
    }
    files
}

pub async fn rows_in_hour(lake: &Lake, p: &Partition) -> usize {
    read_hour(lake, p).await.iter().map(ReadFile::rows).sum()
}

/// All rows of an hour as one batch.
/// The `id` column of `batch`, in order.
pub fn ids(batch: &RecordBatch) -> Vec<i64> {
    batch
        .column_by_name("id")
        .unwrap()
        .as_primitive::<Int64Type>()
        .values()
        .to_vec()
}

pub async fn hour_batch(lake: &Lake, p: &Partition) -> RecordBatch {
    let files = read_hour(lake, p).await;
    let schema = files[0].schema.clone();
    let batches: Vec<RecordBatch> = files.into_iter().flat_map(|f| f.batches).collect();
    arrow::compute::concat_batches(&schema, &batches).unwrap()
}

/// Every Parquet file in an hour's folder, committed or not, sorted by key.
pub async fn stored_parquet(lake: &Lake, p: &Partition) -> Vec<Path> {
    let mut keys: Vec<Path> = lake
        .store
        .list(Some(&table().parquet_partition(p)))
        .map_ok(|m| m.location)
        .try_filter(|k| std::future::ready(k.as_ref().ends_with(".parquet")))
        .try_collect()
        .await
        .unwrap();
    keys.sort();
    keys
}
