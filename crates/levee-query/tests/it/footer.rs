//! What a query fetches of a Parquet file to read its footer: the footer
//! and page indexes are a few KiB, so fetching DataFusion's default of the
//! last 512 KiB of every file read most of each hour's file on every query.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use futures::stream::BoxStream;
use levee_lake::compact::{CompactOptions, HourSelection, compact_table};
use levee_lake::layout::ZSTD_CHUNK_EXT;
use levee_lake::{Lake, Partition, TableRef};
use levee_query::LakeSession;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult,
};

/// The lake's store, counting the bytes fetched from `.parquet` objects.
#[derive(Debug)]
struct Counting {
    inner: Arc<dyn ObjectStore>,
    parquet_bytes: AtomicU64,
}

impl fmt::Display for Counting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Counting({})", self.inner)
    }
}

#[async_trait]
impl ObjectStore for Counting {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(
        &self,
        location: &Path,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        let got = self.inner.get_opts(location, options).await?;
        if location.as_ref().ends_with(".parquet") {
            self.parquet_bytes
                .fetch_add(got.range.end - got.range.start, Ordering::Relaxed);
        }
        Ok(got)
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.inner.list(prefix)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(
        &self,
        from: &Path,
        to: &Path,
        options: CopyOptions,
    ) -> object_store::Result<()> {
        self.inner.copy_opts(from, to, options).await
    }
}

/// A lake of one compacted hour, `db.t`, whose Parquet file is over a
/// MiB; returned with its folder and the file's size.
async fn one_large_hour() -> (tempfile::TempDir, Lake, u64) {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(dir.path().to_str().unwrap()).unwrap();
    let table = TableRef::new("db", "t").unwrap();
    let p = Partition {
        dt: "2018-09-01".into(),
        hour: 13,
    };
    // Hex that looks random compresses to about half: a file of ~1.5 MiB.
    let mut text = String::new();
    let mut x: u64 = 1;
    for i in 0..48_000u64 {
        let mut payload = String::new();
        for _ in 0..4 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            payload.push_str(&format!("{x:016x}"));
        }
        let line = serde_json::json!({
            "time": format!("2018-09-01T13:{:02}:{:02}Z", (i / 60) % 60, i % 60),
            "payload": payload,
        });
        text.push_str(&format!("{line}\n"));
    }
    let key = table.json_chunk(&p, 0, "w1", 0, ZSTD_CHUNK_EXT);
    let path = dir.path().join(key.as_ref());
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, zstd::encode_all(text.as_bytes(), 3).unwrap()).unwrap();
    let opts = CompactOptions {
        hours: HourSelection::All,
        ..CompactOptions::default()
    };
    compact_table(&lake, &table, &opts).await.unwrap();
    let parquet_dir = dir.path().join(table.parquet_partition(&p).as_ref());
    let file_bytes: u64 = std::fs::read_dir(&parquet_dir)
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum();
    assert!(
        file_bytes > 1024 * 1024,
        "the test needs a file over 1 MiB, got {file_bytes} bytes"
    );
    (dir, lake, file_bytes)
}

/// `lake` read through a store that counts the Parquet bytes fetched.
fn counted(lake: &Lake) -> (Arc<Counting>, Lake) {
    let counting = Arc::new(Counting {
        inner: lake.store.clone(),
        parquet_bytes: AtomicU64::new(0),
    });
    let counted = Lake {
        store: counting.clone(),
        location: lake.location.clone(),
        url: lake.url.clone(),
    };
    (counting, counted)
}

/// A `count(*)` over one hour whose Parquet file is over a MiB fetches a
/// small part of it: its footer, not the file's last 512 KiB.
#[tokio::test]
async fn a_query_fetches_a_footer_not_half_a_megabyte_of_each_file() {
    let (_dir, lake, file_bytes) = one_large_hour().await;
    let (counting, counted) = counted(&lake);
    let s = LakeSession::open(&counted).await.unwrap();
    let r = s.sql("select count(*) from db.t_parquet").await.unwrap();
    let mut out = Vec::new();
    levee_query::write_csv(&mut out, &r.schema, &r.batches).unwrap();
    assert!(String::from_utf8(out).unwrap().contains("48000"));
    let fetched = counting.parquet_bytes.load(Ordering::Relaxed);
    assert!(fetched > 0, "the query read no Parquet at all");
    assert!(
        fetched <= 128 * 1024,
        "fetched {fetched} bytes of a {file_bytes}-byte file to count its rows"
    );
}

/// Planning a query reads no Parquet: DataFusion's statistics collection
/// read every listed file's footer while planning (a quarter of a query's
/// time over a lake of hourly files), and the scan read them again.
#[tokio::test]
async fn planning_a_query_reads_no_parquet_file() {
    let (_dir, lake, _) = one_large_hour().await;
    let (counting, counted) = counted(&lake);
    let s = LakeSession::open(&counted).await.unwrap();
    let df = s
        .context()
        .sql("select count(*) from db.t_parquet where payload like 'a%'")
        .await
        .unwrap();
    df.create_physical_plan().await.unwrap();
    assert_eq!(counting.parquet_bytes.load(Ordering::Relaxed), 0);
}
