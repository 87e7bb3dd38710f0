//! A local lake's files read in place, on the calling thread.
//!
//! object_store's `LocalFileSystem` runs every read on a blocking thread
//! and hands the bytes back, two hand-offs for a plain ranged read; a query
//! over a lake's hundreds of hourly files makes a few reads of each (its
//! footer and page index, its column chunks, its hour's manifest), all
//! small and almost always in the page cache. [`InPlace`] makes those reads
//! positional reads of the file on the thread that asks, as compaction
//! reads its local chunks. Conditional reads, heads, listings and writes go
//! to the store unchanged, and an object store (S3) is never wrapped.

use std::fs::File;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::StreamExt;
use futures::stream::BoxStream;
use levee_lake::Lake;
use object_store::path::Path;
use object_store::{
    Attributes, CopyOptions, GetOptions, GetResult, GetResultPayload, ListResult, MultipartUpload,
    ObjectMeta, ObjectStore, PutMultipartOptions, PutOptions, PutPayload, PutResult,
};

/// The store name in errors, as object_store's own stores name themselves.
const STORE: &str = "InPlace";

/// The lake's store with plain reads of a local lake's files made in place.
#[derive(Debug)]
pub(crate) struct InPlace {
    inner: Arc<dyn ObjectStore>,
    /// The lake's folder, as a `file://` URL.
    root: url::Url,
}

impl InPlace {
    /// The store a query reads `lake` through: wrapped when the lake is a
    /// local folder read by object_store's own `LocalFileSystem`, the
    /// lake's own otherwise (an object store, or a store a caller wrapped
    /// to watch or change its reads, which must still see them).
    pub(crate) fn store_of(lake: &Lake) -> Arc<dyn ObjectStore> {
        let plain_folder = lake.store.to_string().starts_with("LocalFileSystem(");
        if lake.is_local() && plain_folder {
            Arc::new(InPlace {
                inner: lake.store.clone(),
                root: lake.url.clone(),
            })
        } else {
            lake.store.clone()
        }
    }

    /// The file `location` is, named as `LocalFileSystem` names it (the
    /// key's parts under the lake's folder).
    fn file(&self, location: &Path) -> Option<PathBuf> {
        let mut url = self.root.clone();
        url.path_segments_mut()
            .ok()?
            .pop_if_empty()
            .extend(location.parts());
        url.to_file_path().ok()
    }

    /// Opens `location`'s file, with its metadata, as the store would
    /// answer: not found for a missing file or a folder.
    fn open(&self, location: &Path, path: &PathBuf) -> object_store::Result<(File, ObjectMeta)> {
        let not_found = |source: std::io::Error| object_store::Error::NotFound {
            path: location.to_string(),
            source: Box::new(source),
        };
        let file = File::open(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => not_found(e),
            _ => io_error(path, e),
        })?;
        let md = file.metadata().map_err(|e| io_error(path, e))?;
        if md.is_dir() {
            return Err(not_found(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "is a folder",
            )));
        }
        let last_modified = md
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .and_then(|d| {
                DateTime::<Utc>::from_timestamp(i64::try_from(d.as_secs()).ok()?, d.subsec_nanos())
            })
            .unwrap_or_default();
        // The same tag `LocalFileSystem` gives the file.
        let mtime = last_modified.timestamp_micros();
        let e_tag = format!("{:x}-{:x}-{:x}", md.ino(), mtime, md.len());
        let meta = ObjectMeta {
            location: location.clone(),
            last_modified,
            size: md.len(),
            e_tag: Some(e_tag),
            version: None,
        };
        Ok((file, meta))
    }
}

fn io_error(path: &std::path::Path, e: std::io::Error) -> object_store::Error {
    object_store::Error::Generic {
        store: STORE,
        source: format!("{}: {e}", path.display()).into(),
    }
}

/// `len` bytes of `file` from `start`.
fn read_at(
    file: &File,
    path: &std::path::Path,
    range: std::ops::Range<u64>,
) -> object_store::Result<Bytes> {
    let len = usize::try_from(range.end.saturating_sub(range.start))
        .map_err(|_| io_error(path, std::io::Error::other("range too long")))?;
    let mut buf = vec![0; len];
    file.read_exact_at(&mut buf, range.start)
        .map_err(|e| io_error(path, e))?;
    Ok(Bytes::from(buf))
}

/// Whether a read can be made here: bytes, under conditions on the file's
/// e-tag or time at most; a version or a head is the store's to answer.
fn in_place(options: &GetOptions) -> bool {
    options.version.is_none() && !options.head
}

#[async_trait]
impl ObjectStore for InPlace {
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
        let path = match self.file(location) {
            Some(path) if in_place(&options) => path,
            _ => return self.inner.get_opts(location, options).await,
        };
        let (file, meta) = self.open(location, &path)?;
        // `if_none_match` and the like, against the same e-tag and time the
        // local store would give.
        options.check_preconditions(&meta)?;
        let range = match &options.range {
            Some(r) => r
                .as_range(meta.size)
                .map_err(|e| object_store::Error::Generic {
                    store: STORE,
                    source: Box::new(e),
                })?,
            None => 0..meta.size,
        };
        let bytes = read_at(&file, &path, range.clone())?;
        Ok(GetResult {
            payload: GetResultPayload::Stream(futures::stream::once(async { Ok(bytes) }).boxed()),
            meta,
            range,
            attributes: Attributes::default(),
        })
    }

    async fn get_ranges(
        &self,
        location: &Path,
        ranges: &[std::ops::Range<u64>],
    ) -> object_store::Result<Vec<Bytes>> {
        let Some(path) = self.file(location) else {
            return self.inner.get_ranges(location, ranges).await;
        };
        let (file, _) = self.open(location, &path)?;
        ranges
            .iter()
            .map(|r| read_at(&file, &path, r.clone()))
            .collect()
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

    fn list_with_offset(
        &self,
        prefix: Option<&Path>,
        offset: &Path,
    ) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.inner.list_with_offset(prefix, offset)
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

impl std::fmt::Display for InPlace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "InPlace({})", self.inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::ObjectStoreExt;

    fn lake() -> (tempfile::TempDir, Lake, Arc<dyn ObjectStore>) {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::open(dir.path().to_str().unwrap()).unwrap();
        let store = InPlace::store_of(&lake);
        (dir, lake, store)
    }

    #[tokio::test]
    async fn in_place_reads_answer_as_the_store_does() {
        let (_dir, lake, store) = lake();
        let key = Path::from("db/t/parquet/dt=2018-09-24/hour=00/part-0.parquet");
        let body: Vec<u8> = (0..=255u8).cycle().take(10_000).collect();
        lake.store.put(&key, body.clone().into()).await.unwrap();
        assert!(store.to_string().starts_with("InPlace("));

        for range in [0..10_000, 3..7, 9_990..10_000] {
            let ours = store.get_range(&key, range.clone()).await.unwrap();
            let theirs = lake.store.get_range(&key, range.clone()).await.unwrap();
            assert_eq!(ours, theirs, "{range:?}");
        }
        let suffix = GetOptions::new().with_range(Some(object_store::GetRange::Suffix(100)));
        let ours = store.get_opts(&key, suffix.clone()).await.unwrap();
        let theirs = lake.store.get_opts(&key, suffix).await.unwrap();
        assert_eq!(ours.range, theirs.range);
        assert_eq!(ours.meta, theirs.meta);
        assert_eq!(ours.bytes().await.unwrap(), theirs.bytes().await.unwrap());
        assert_eq!(
            store.get(&key).await.unwrap().bytes().await.unwrap(),
            Bytes::from(body)
        );
        let ranges = [0..4, 100..200, 9_000..10_000];
        assert_eq!(
            store.get_ranges(&key, &ranges).await.unwrap(),
            lake.store.get_ranges(&key, &ranges).await.unwrap()
        );
    }

    #[tokio::test]
    async fn a_conditional_read_in_place_answers_as_the_store_does() {
        let (_dir, lake, store) = lake();
        let key = Path::from("db/t/_levee/manifests/dt=2018-09-24.json");
        lake.store
            .put(&key, Bytes::from_static(b"{}").into())
            .await
            .unwrap();
        let e_tag = store.get(&key).await.unwrap().meta.e_tag.unwrap();
        let unchanged = GetOptions {
            if_none_match: Some(e_tag.clone()),
            ..GetOptions::default()
        };
        assert!(matches!(
            store.get_opts(&key, unchanged.clone()).await,
            Err(object_store::Error::NotModified { .. })
        ));
        assert!(matches!(
            lake.store.get_opts(&key, unchanged).await,
            Err(object_store::Error::NotModified { .. })
        ));
        let stale = GetOptions {
            if_none_match: Some(format!("{e_tag}-before")),
            ..GetOptions::default()
        };
        let got = store.get_opts(&key, stale).await.unwrap();
        assert_eq!(got.meta.e_tag.as_deref(), Some(e_tag.as_str()));
        assert_eq!(got.bytes().await.unwrap(), Bytes::from_static(b"{}"));
    }

    #[tokio::test]
    async fn a_missing_file_or_a_folder_is_not_found() {
        let (_dir, lake, store) = lake();
        let key = Path::from("db/t/_manifests/dt=2018-09-24/hour=00.json");
        assert!(matches!(
            store.get(&key).await,
            Err(object_store::Error::NotFound { .. })
        ));
        lake.store
            .put(&Path::from("db/t/x/y"), Bytes::from_static(b"y").into())
            .await
            .unwrap();
        assert!(matches!(
            store.get(&Path::from("db/t/x")).await,
            Err(object_store::Error::NotFound { .. })
        ));
        let past_the_end = [0..5, 0..1];
        assert_eq!(
            store
                .get_ranges(&Path::from("db/t/x/y"), &past_the_end)
                .await
                .is_err(),
            lake.store
                .get_ranges(&Path::from("db/t/x/y"), &past_the_end)
                .await
                .is_err()
        );
    }

    #[test]
    fn an_object_store_is_not_wrapped() {
        let opts = levee_lake::S3Options {
            endpoint: Some("http://127.0.0.1:9".into()),
            region: Some("us-east-1".into()),
            access_key_id: Some("id".into()),
            secret_access_key: Some("secret".into()),
            ..Default::default()
        };
        let lake = Lake::open_with("s3://bucket/lake", &opts).unwrap();
        assert!(!InPlace::store_of(&lake).to_string().starts_with("InPlace("));
    }
}
