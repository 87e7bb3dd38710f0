//! Opening the lake's object store from a path or URL.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::{StreamExt, TryStreamExt};
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey, S3ConditionalPut};
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::prefix::PrefixStore;
use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt, PutPayload, WriteMultipart};
use serde::Deserialize;

use crate::LakeError;
use crate::aws_profile::{self, AwsEnv, ProfileError};
use crate::layout::{ChunkCompression, Partition, TableRef};

/// One chunk of a table, as listed in the store: a JSON chunk, or a
/// Parquet chunk that has no JSON twin (see [`Lake::list_chunk_hours`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chunk {
    /// Its key, under [`TableRef::json_partition`] or
    /// [`TableRef::parquet_chunk_partition`].
    pub key: Path,
    /// Stored (compressed) size in bytes.
    pub size: u64,
    /// How to read it, from its file name.
    pub compression: ChunkCompression,
}

/// How to reach a lake on S3 or an S3-compatible server (MinIO, Ceph,
/// R2, s3s): the `s3` table of a lake output. Every field is optional;
/// one left unset comes from the usual AWS environment variable
/// (`AWS_ENDPOINT_URL`, `AWS_REGION`, `AWS_ACCESS_KEY_ID`,
/// `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_ALLOW_HTTP`), else
/// from the AWS profile (`~/.aws/credentials` and `~/.aws/config`, see
/// `profile`), and without keys anywhere, from the instance's or
/// container's role. The order is the AWS CLI's.
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Options {
    /// The server's URL, for anything but AWS itself
    /// (`"http://127.0.0.1:9000"` for a local MinIO). Default: AWS's
    /// endpoint for the region. An `http://` endpoint given here allows
    /// plain HTTP (see `allow_http`).
    #[serde(default)]
    pub endpoint: Option<String>,
    /// The bucket's region (`"us-west-2"`). Default: `AWS_REGION`, else
    /// `us-east-1`. S3-compatible servers take any.
    #[serde(default)]
    pub region: Option<String>,
    /// Path-style requests (`https://host/bucket/key`), which MinIO and
    /// most S3-compatible servers need; `false` for virtual-hosted style
    /// (`https://bucket.host/key`). Default: path style.
    #[serde(default)]
    pub path_style: Option<bool>,
    /// The access key id. Default: `AWS_ACCESS_KEY_ID`, else the role.
    #[serde(default)]
    pub access_key_id: Option<String>,
    /// The secret access key, with `access_key_id`. Prefer the
    /// environment variable `AWS_SECRET_ACCESS_KEY` to a file.
    #[serde(default)]
    pub secret_access_key: Option<String>,
    /// A session token, for temporary keys.
    #[serde(default)]
    pub session_token: Option<String>,
    /// Allow plain HTTP to the endpoint, as a local test server needs.
    /// Default: only with an `http://` endpoint set here, or
    /// `AWS_ALLOW_HTTP=true`.
    #[serde(default)]
    pub allow_http: Option<bool>,
    /// The AWS profile to read from the shared files
    /// (`AWS_SHARED_CREDENTIALS_FILE`, else `~/.aws/credentials`, and
    /// `AWS_CONFIG_FILE`, else `~/.aws/config`): its `aws_access_key_id`,
    /// `aws_secret_access_key`, `aws_session_token`, `region`,
    /// `endpoint_url` and `s3 =` / `addressing_style`. Default:
    /// `AWS_PROFILE`, else `default`. Named here, as the AWS CLI's
    /// `--profile`, its keys win over the `AWS_*` variables'.
    #[serde(default)]
    pub profile: Option<String>,
}

// By hand, so that a logged config never shows the secret.
impl std::fmt::Debug for S3Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hidden = |s: &Option<String>| s.as_ref().map(|_| "<hidden>");
        f.debug_struct("S3Options")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("path_style", &self.path_style)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &hidden(&self.secret_access_key))
            .field("session_token", &hidden(&self.session_token))
            .field("allow_http", &self.allow_http)
            .field("profile", &self.profile)
            .finish()
    }
}

impl S3Options {
    /// Whether any field is set.
    pub fn is_empty(&self) -> bool {
        *self == S3Options::default()
    }
}

/// Where a lake lives, as [`Lake::locate`] reads the user's root.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LakeLocation {
    /// A folder on this machine.
    Local(std::path::PathBuf),
    /// `s3://bucket/prefix`: a bucket, and the lake's root in it (no
    /// leading or trailing `/`; empty for the bucket's root).
    S3 {
        /// The bucket.
        bucket: String,
        /// The lake's root within the bucket.
        prefix: String,
    },
}

/// An opened lake: an object store and the lake's root within it.
///
/// Every key of [`crate::layout`] is relative to that root.
#[derive(Clone, Debug)]
pub struct Lake {
    /// The store; its own root is the lake's root.
    pub store: Arc<dyn ObjectStore>,
    /// The lake as the user named it, for messages.
    pub location: String,
    /// The URL of the lake's root, for engines that open the lake themselves.
    pub url: url::Url,
}

impl Lake {
    /// Opens `./lake`, `/abs/path` or `file:///abs/path` (creating the
    /// folder), or `s3://bucket/prefix` as the AWS environment variables
    /// say (see [`S3Options`]).
    pub fn open(location: &str) -> Result<Lake, LakeError> {
        Lake::open_with(location, &S3Options::default())
    }

    /// [`Lake::open`], with `s3` winning over the environment for an
    /// `s3://` lake. Opening an object store touches nothing: a bucket
    /// that is not there, or keys that are refused, show at the first
    /// read or write.
    pub fn open_with(location: &str, s3: &S3Options) -> Result<Lake, LakeError> {
        let err = |reason: String| LakeError::Open {
            root: location.to_owned(),
            reason,
        };
        match Lake::locate(location, s3)? {
            LakeLocation::Local(path) => {
                std::fs::create_dir_all(&path).map_err(|e| err(e.to_string()))?;
                let path = std::fs::canonicalize(&path).map_err(|e| err(e.to_string()))?;
                let store =
                    LocalFileSystem::new_with_prefix(&path).map_err(|e| err(e.to_string()))?;
                let url = url::Url::from_directory_path(&path)
                    .map_err(|()| err("not an absolute path".to_owned()))?;
                Ok(Lake {
                    store: Arc::new(store),
                    location: location.to_owned(),
                    url,
                })
            }
            LakeLocation::S3 { bucket, prefix } => {
                let env = AwsEnv::from_process();
                let store = s3_builder(&bucket, s3, &env)
                    .map_err(|e| err(e.to_string()))?
                    .build()
                    .map_err(|e| err(e.to_string()))?;
                let root = if prefix.is_empty() {
                    format!("s3://{bucket}/")
                } else {
                    format!("s3://{bucket}/{prefix}/")
                };
                let url = url::Url::parse(&root).map_err(|e| err(e.to_string()))?;
                let store: Arc<dyn ObjectStore> = if prefix.is_empty() {
                    Arc::new(store)
                } else {
                    Arc::new(PrefixStore::new(store, Path::from(prefix)))
                };
                Ok(Lake {
                    store,
                    location: location.to_owned(),
                    url,
                })
            }
        }
    }

    /// Reads a lake's root, touching nothing: so a lake that [`Lake::open`]
    /// would refuse is refused when the config is checked. `s3` options
    /// are refused for a local lake (they would be ignored).
    pub fn locate(location: &str, s3: &S3Options) -> Result<LakeLocation, LakeError> {
        let err = |reason: &str| LakeError::Open {
            root: location.to_owned(),
            reason: reason.to_owned(),
        };
        let found = if let Some(rest) = location.strip_prefix("file://") {
            LakeLocation::Local(std::path::PathBuf::from(rest))
        } else if let Some(rest) = location.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if !valid_bucket(bucket) {
                return Err(err(
                    "the bucket (s3://BUCKET/prefix) must be 3 to 63 lowercase letters, digits, `.` and `-`",
                ));
            }
            let prefix = prefix.trim_end_matches('/');
            // Path::parse refuses empty, `.` and `..` parts.
            if !prefix.is_empty() && Path::parse(prefix).is_err() {
                return Err(err(
                    "the prefix must be folder names joined by `/` (no empty, `.` or `..` parts)",
                ));
            }
            LakeLocation::S3 {
                bucket: bucket.to_owned(),
                prefix: prefix.to_owned(),
            }
        } else if location.contains("://") {
            return Err(err(
                "a lake is a local folder, a file:// URL or an s3:// URL (gs:// and az:// are not supported yet)",
            ));
        } else {
            LakeLocation::Local(std::path::PathBuf::from(location))
        };
        if matches!(found, LakeLocation::Local(_)) && !s3.is_empty() {
            return Err(err(
                "`s3` settings are for an s3:// lake, and this one is local",
            ));
        }
        if let Some(endpoint) = &s3.endpoint {
            let ok = url::Url::parse(endpoint)
                .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
            if !ok {
                return Err(err(
                    "the s3 endpoint must be an http:// or https:// URL with a host",
                ));
            }
        }
        if let Some(profile) = &s3.profile {
            let ok = !profile.is_empty()
                && profile
                    .chars()
                    .all(|c| !c.is_whitespace() && !c.is_control() && !"[]#;=".contains(c));
            if !ok {
                return Err(err(
                    "an s3 profile is a name without spaces or any of `[]#;=`",
                ));
            }
        }
        if s3.secret_access_key.is_some() != s3.access_key_id.is_some() {
            return Err(err(
                "s3 access_key_id and secret_access_key go together: give both or neither",
            ));
        }
        Ok(found)
    }

    /// The folder of a local lake given as `./lake`, `/abs/path` or
    /// `file:///abs/path`, touching nothing; an error for any other.
    pub fn local_path(location: &str) -> Result<std::path::PathBuf, LakeError> {
        match Lake::locate(location, &S3Options::default())? {
            LakeLocation::Local(path) => Ok(path),
            LakeLocation::S3 { .. } => Err(LakeError::Open {
                root: location.to_owned(),
                reason: "not a local folder".to_owned(),
            }),
        }
    }

    /// Whether the lake is on this machine's disk (where a create-exclusive
    /// write is atomic), not on an object store.
    pub fn is_local(&self) -> bool {
        self.url.scheme() == "file"
    }
}

/// Objects larger than this are uploaded in parts: a part that fails is
/// sent again alone, rather than the whole object. The lake output's
/// chunks are a few MiB compressed, under it; S3 takes parts of 5MiB up.
pub const MULTIPART_ABOVE: usize = 16 * 1024 * 1024;

/// The size of each part of a multipart upload.
const PART_SIZE: usize = 8 * 1024 * 1024;

impl Lake {
    /// Stores `body` at `key` as one object, replacing any: one PUT, or a
    /// multipart upload for a body above [`MULTIPART_ABOVE`]. Either way
    /// the object appears whole or not at all (a multipart upload becomes
    /// the object only when completed; one that fails is aborted).
    pub async fn put_whole(&self, key: &Path, body: PutPayload) -> Result<(), LakeError> {
        if body.content_length() <= MULTIPART_ABOVE {
            self.store.put(key, body).await?;
            return Ok(());
        }
        let upload = self.store.put_multipart(key).await?;
        let mut parts = WriteMultipart::new_with_chunk_size(upload, PART_SIZE);
        for mut bytes in body {
            while !bytes.is_empty() {
                // Two parts in flight at most, so a slow store is not sent
                // the whole body at once.
                if let Err(e) = parts.wait_for_capacity(2).await {
                    // Best effort: S3 drops the parts of an upload never
                    // completed by the bucket's lifecycle rule, if any.
                    let _ = parts.abort().await;
                    return Err(e.into());
                }
                let part = bytes.split_to(bytes.len().min(PART_SIZE));
                parts.put(part);
            }
        }
        parts.finish().await?;
        Ok(())
    }
}

/// S3's rules for a bucket's name, loosely: what fits in a URL's host.
fn valid_bucket(name: &str) -> bool {
    (3..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
        && !name.starts_with(['.', '-'])
        && !name.ends_with(['.', '-'])
}

/// The bucket's store's builder: `s3`'s settings, over the environment's,
/// over the profile's (see [`aws_profile::resolve`]).
fn s3_builder(bucket: &str, s3: &S3Options, env: &AwsEnv) -> Result<AmazonS3Builder, ProfileError> {
    let resolved = aws_profile::resolve(s3, env)?;
    let over = &resolved.over_env;
    // As `AmazonS3Builder::from_env`, but leaving out what was decided
    // elsewhere: the keys, when they come from `s3` or the profile, and
    // the S3-only endpoint variable (which object_store puts above any
    // endpoint) when `s3` or the profile gives the endpoint.
    let mut builder = AmazonS3Builder::new();
    for (name, value) in env.aws_vars() {
        let Ok(key) = name.to_ascii_lowercase().parse::<AmazonS3ConfigKey>() else {
            continue;
        };
        let skip = match key {
            AmazonS3ConfigKey::AccessKeyId
            | AmazonS3ConfigKey::SecretAccessKey
            | AmazonS3ConfigKey::Token => !resolved.env_keys,
            AmazonS3ConfigKey::S3Endpoint => over.endpoint.is_some(),
            _ => false,
        };
        if !skip {
            builder = builder.with_config(key, value);
        }
    }
    builder = builder.with_bucket_name(bucket);
    if let Some(endpoint) = &over.endpoint {
        builder = builder.with_endpoint(endpoint);
    }
    if let Some(region) = &over.region {
        builder = builder.with_region(region);
    }
    if let Some(path_style) = over.path_style {
        builder = builder.with_virtual_hosted_style_request(!path_style);
    }
    if let (Some(id), Some(secret)) = (&over.access_key_id, &over.secret_access_key) {
        builder = builder
            .with_access_key_id(id)
            .with_secret_access_key(secret);
    }
    if let Some(token) = &over.session_token {
        builder = builder.with_token(token);
    }
    if let Some(allow) = over.allow_http {
        builder = builder.with_allow_http(allow);
    }
    // Manifests and leases are created with `If-None-Match: *`, which AWS
    // S3 and MinIO honour; object_store's default says so, but an
    // `AWS_CONDITIONAL_PUT=disabled` would make every lock fail.
    Ok(builder.with_conditional_put(S3ConditionalPut::ETagMatch))
}

impl Lake {
    /// The chunks of one hour, sorted by name (so by minute first): its JSON
    /// chunks, and its Parquet chunks that have no JSON twin (see
    /// [`Lake::list_chunk_hours`]). Objects that are not chunks (see
    /// [`ChunkCompression::from_key`]) are left out.
    pub async fn list_chunks(
        &self,
        table: &TableRef,
        p: &Partition,
    ) -> Result<Vec<Chunk>, LakeError> {
        let json: Vec<Chunk> = self
            .list_objects(&table.json_partition(p))
            .await?
            .into_iter()
            .filter_map(|meta| chunk_of(&meta))
            .collect();
        let parquet: Vec<Chunk> = self
            .list_objects(&table.parquet_chunk_partition(p))
            .await?
            .into_iter()
            .filter_map(|meta| parquet_chunk_of(&meta))
            .collect();
        Ok(delivered(json, parquet))
    }

    /// Every hour of a table that has chunks, with its chunks sorted by name:
    /// the JSON chunks under `json/`, and the Parquet chunks under `chunks/`
    /// but those with a JSON twin (the same events, from an output with
    /// `format = "both"`): where a chunk is in both forms, JSON wins.
    pub async fn list_chunk_hours(
        &self,
        table: &TableRef,
    ) -> Result<BTreeMap<Partition, Vec<Chunk>>, LakeError> {
        let json = self.list_chunks_under(&table.json_root(), chunk_of).await?;
        let mut parquet = self
            .list_chunks_under(&table.parquet_chunk_root(), parquet_chunk_of)
            .await?;
        let mut hours = BTreeMap::new();
        for (p, chunks) in json {
            let twins = parquet.remove(&p).unwrap_or_default();
            hours.insert(p, delivered(chunks, twins));
        }
        for (p, chunks) in parquet {
            hours.insert(p, delivered(Vec::new(), chunks));
        }
        Ok(hours)
    }

    /// The chunks under `root`, by hour: `<root>/dt=../hour=../<chunk>`
    /// only, as `kind` recognises them.
    async fn list_chunks_under(
        &self,
        root: &Path,
        kind: fn(&ObjectMeta) -> Option<Chunk>,
    ) -> Result<BTreeMap<Partition, Vec<Chunk>>, LakeError> {
        // Each day's folder listed apart, several at once: a listing is
        // sequential (a page of keys after another on S3, a stat of each
        // file on disk), and a compaction lists its table before and after
        // its work, with the cores idle (10,080 chunks a week, a file a
        // minute). Keys beside the day folders are not chunks.
        let days = self.store.list_with_delimiter(Some(root)).await?;
        let listed: Vec<Vec<ObjectMeta>> = futures::stream::iter(days.common_prefixes)
            .map(|day| async move { self.list_objects(&day).await })
            .buffer_unordered(LIST_CONCURRENCY)
            .try_collect()
            .await?;
        let mut hours: BTreeMap<Partition, Vec<Chunk>> = BTreeMap::new();
        for meta in listed.into_iter().flatten() {
            let Some(chunk) = kind(&meta) else {
                continue;
            };
            // Deeper or shallower keys are not ours.
            let depth = meta
                .location
                .parts()
                .count()
                .saturating_sub(root.parts().count());
            match Partition::from_path(&meta.location) {
                Some(p) if depth == 3 => hours.entry(p).or_default().push(chunk),
                _ => {}
            }
        }
        Ok(hours)
    }

    /// Every object under `prefix`, recursively.
    pub(crate) async fn list_objects(&self, prefix: &Path) -> Result<Vec<ObjectMeta>, LakeError> {
        Ok(self.store.list(Some(prefix)).try_collect().await?)
    }
}

/// Folders listed at once by [`Lake::list_chunk_hours`].
const LIST_CONCURRENCY: usize = 8;

/// An hour's chunks as readers take them: every JSON chunk, and every
/// Parquet chunk whose name (up to its first `.`) no JSON chunk has, sorted
/// by key.
fn delivered(mut json: Vec<Chunk>, parquet: Vec<Chunk>) -> Vec<Chunk> {
    let stem = |c: &Chunk| -> String {
        let name = c.key.filename().unwrap_or_default();
        name.split_once('.')
            .map_or(name, |(stem, _)| stem)
            .to_owned()
    };
    let stems: std::collections::HashSet<String> = json.iter().map(stem).collect();
    json.extend(parquet.into_iter().filter(|c| !stems.contains(&stem(c))));
    // By name, so by minute first whichever folder a chunk is in. Each
    // name found once: `filename` searches the key from its end, and in
    // each comparison it was 1% of a compaction's instructions.
    json.sort_by_cached_key(|c| (c.key.filename().map(str::to_owned), c.key.clone()));
    json
}

/// A Parquet chunk: `<MM>-<writer>-<seq>.parquet`, not hidden.
fn parquet_chunk_of(meta: &ObjectMeta) -> Option<Chunk> {
    let name = meta.location.filename()?;
    let stem = name.strip_suffix(".parquet")?;
    if stem.is_empty() || name.starts_with('.') || name.starts_with('_') {
        return None;
    }
    Some(Chunk {
        key: meta.location.clone(),
        size: meta.size,
        compression: ChunkCompression::Parquet,
    })
}

fn chunk_of(meta: &ObjectMeta) -> Option<Chunk> {
    Some(Chunk {
        key: meta.location.clone(),
        size: meta.size,
        compression: ChunkCompression::from_key(&meta.location)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s3(bucket: &str, prefix: &str) -> LakeLocation {
        LakeLocation::S3 {
            bucket: bucket.to_owned(),
            prefix: prefix.to_owned(),
        }
    }

    #[test]
    fn s3_urls_name_a_bucket_and_a_prefix() {
        let none = S3Options::default();
        let cases = [
            ("s3://logs", s3("logs", "")),
            ("s3://logs/", s3("logs", "")),
            ("s3://logs/lake", s3("logs", "lake")),
            ("s3://logs/a/b/", s3("logs", "a/b")),
            ("s3://my.logs-2/a", s3("my.logs-2", "a")),
        ];
        for (url, want) in cases {
            assert_eq!(Lake::locate(url, &none).unwrap(), want, "{url}");
        }
        assert_eq!(
            Lake::locate("file:///tmp/lake", &none).unwrap(),
            LakeLocation::Local("/tmp/lake".into())
        );
        assert_eq!(
            Lake::locate("./lake", &none).unwrap(),
            LakeLocation::Local("./lake".into())
        );
    }

    #[test]
    fn hostile_lake_roots_are_refused_with_a_reason() {
        let none = S3Options::default();
        for bad in [
            "s3://",
            "s3:///lake",
            "s3://ab",
            "s3://Logs",
            "s3://logs_1/x",
            "s3://-logs",
            "s3://logs/../etc",
            "s3://logs/a//b",
            "s3://logs/./a",
            "s3://user:pw@logs/a",
            &format!("s3://{}", "a".repeat(64)),
            "gs://bucket/lake",
            "http://host/lake",
        ] {
            let err = Lake::locate(bad, &none).unwrap_err().to_string();
            assert!(err.contains(bad), "{bad}: {err}");
        }
    }

    #[test]
    fn s3_settings_are_checked() {
        let local = S3Options {
            region: Some("eu-west-1".into()),
            ..S3Options::default()
        };
        let err = Lake::locate("./lake", &local).unwrap_err().to_string();
        assert!(err.contains("this one is local"), "{err}");
        for endpoint in ["127.0.0.1:9000", "ftp://host", "http://", "not a url"] {
            let opts = S3Options {
                endpoint: Some(endpoint.into()),
                ..S3Options::default()
            };
            let err = Lake::locate("s3://logs", &opts).unwrap_err().to_string();
            assert!(err.contains("endpoint"), "{endpoint}: {err}");
        }
        let half = S3Options {
            access_key_id: Some("AKIA".into()),
            ..S3Options::default()
        };
        let err = Lake::locate("s3://logs", &half).unwrap_err().to_string();
        assert!(err.contains("go together"), "{err}");
    }

    #[test]
    fn s3_secrets_stay_out_of_debug_output() {
        let opts = S3Options {
            access_key_id: Some("AKIA-visible".into()),
            secret_access_key: Some("very-secret".into()),
            session_token: Some("token-secret".into()),
            ..S3Options::default()
        };
        let shown = format!("{opts:?}");
        assert!(shown.contains("AKIA-visible"), "{shown}");
        assert!(!shown.contains("secret\""), "{shown}");
        assert!(!shown.contains("very-secret") && !shown.contains("token-secret"));
    }

    /// A body above the multipart threshold goes up in parts and comes
    /// back whole, as one object; a small one is one PUT.
    #[tokio::test]
    async fn a_large_object_is_put_in_parts_and_reads_back_whole() {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::open(dir.path().to_str().unwrap()).unwrap();
        let big: Vec<u8> = (0..MULTIPART_ABOVE + PART_SIZE / 2)
            .map(|i| (i % 251) as u8)
            .collect();
        for (name, body) in [("big", big.clone()), ("small", b"x".to_vec())] {
            let key = Path::from(format!("db/t/json/{name}"));
            lake.put_whole(&key, PutPayload::from(body.clone()))
                .await
                .unwrap();
            let got = lake.store.get(&key).await.unwrap().bytes().await.unwrap();
            assert!(got == body, "{name}: {} bytes back", got.len());
        }
        // No part or staging file left beside them.
        let names: Vec<String> = lake
            .list_objects(&Path::from("db"))
            .await
            .unwrap()
            .iter()
            .map(|m| m.location.to_string())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
    }

    /// Opening touches nothing: no server is needed until the first request.
    #[test]
    fn an_s3_lake_opens_without_a_request() {
        let opts = S3Options {
            endpoint: Some("http://127.0.0.1:9".into()),
            region: Some("us-east-1".into()),
            access_key_id: Some("id".into()),
            secret_access_key: Some("secret".into()),
            ..S3Options::default()
        };
        let lake = Lake::open_with("s3://logs/lake/", &opts).unwrap();
        assert_eq!(lake.url.as_str(), "s3://logs/lake/");
        assert!(!lake.is_local());
        let lake = Lake::open_with("s3://logs", &opts).unwrap();
        assert_eq!(lake.url.as_str(), "s3://logs/");
    }

    /// The builder gets each setting from the right place: the profile's
    /// keys never pair with the environment's token, `s3`'s endpoint beats
    /// the S3-only endpoint variable, the environment's keys stay when
    /// nothing overrides them.
    #[test]
    fn the_store_takes_each_setting_from_config_then_environment_then_profile() {
        use object_store::ClientConfigKey;
        let home = tempfile::tempdir().unwrap();
        std::fs::create_dir(home.path().join(".aws")).unwrap();
        std::fs::write(
            home.path().join(".aws/credentials"),
            "[work]\naws_access_key_id = work-id\naws_secret_access_key = work-secret\n",
        )
        .unwrap();
        std::fs::write(
            home.path().join(".aws/config"),
            "[profile work]\nregion = us-west-2\nendpoint_url = http://127.0.0.1:9000\n",
        )
        .unwrap();
        let home = home.path().to_str().unwrap();
        let get = |b: &AmazonS3Builder, k: AmazonS3ConfigKey| b.get_config_value(&k);

        let env = AwsEnv::from_pairs([
            ("HOME", home),
            ("AWS_ACCESS_KEY_ID", "env-id"),
            ("AWS_SECRET_ACCESS_KEY", "env-secret"),
            ("AWS_SESSION_TOKEN", "env-token"),
            ("AWS_ENDPOINT_URL_S3", "https://env.example.com"),
        ]);
        let s3 = S3Options {
            profile: Some("work".into()),
            ..S3Options::default()
        };
        let b = s3_builder("logs", &s3, &env).unwrap();
        assert_eq!(
            get(&b, AmazonS3ConfigKey::AccessKeyId).as_deref(),
            Some("work-id")
        );
        assert_eq!(get(&b, AmazonS3ConfigKey::Token), None);
        assert_eq!(
            get(&b, AmazonS3ConfigKey::Region).as_deref(),
            Some("us-west-2")
        );
        // The environment's endpoint wins over the profile's.
        assert_eq!(
            get(&b, AmazonS3ConfigKey::S3Endpoint).as_deref(),
            Some("https://env.example.com")
        );
        assert_eq!(get(&b, AmazonS3ConfigKey::Endpoint), None);

        let s3 = S3Options {
            endpoint: Some("http://127.0.0.1:7000".into()),
            ..s3
        };
        let b = s3_builder("logs", &s3, &env).unwrap();
        assert_eq!(get(&b, AmazonS3ConfigKey::S3Endpoint), None);
        assert_eq!(
            get(&b, AmazonS3ConfigKey::Endpoint).as_deref(),
            Some("http://127.0.0.1:7000")
        );
        assert_eq!(
            get(&b, AmazonS3ConfigKey::Client(ClientConfigKey::AllowHttp)).as_deref(),
            Some("true")
        );

        let b = s3_builder("logs", &S3Options::default(), &env).unwrap();
        assert_eq!(
            get(&b, AmazonS3ConfigKey::AccessKeyId).as_deref(),
            Some("env-id")
        );
        assert_eq!(
            get(&b, AmazonS3ConfigKey::Token).as_deref(),
            Some("env-token")
        );
    }

    #[test]
    fn a_profile_name_is_checked() {
        for bad in ["", "two words", "a]b", "x=y", "tab\t"] {
            let opts = S3Options {
                profile: Some(bad.into()),
                ..S3Options::default()
            };
            let err = Lake::locate("s3://logs", &opts).unwrap_err().to_string();
            assert!(err.contains("profile"), "{bad:?}: {err}");
        }
    }
}
