//! A table's catalog, under `<db>/<table>/_levee/`, written by compaction:
//!
//! - `schema.json`: the table's schema, the union of every compacted hour's,
//!   widened where they disagree (see [`crate::compact`]), and its history:
//!   each write that changed it, with when, the hour that brought the
//!   change, and what changed (`levee tables --schema` shows it).
//! - `manifests/dt=YYYY-MM-DD/hour=HH.json`: for each compacted hour, the
//!   chunks it read (with their sizes), the Parquet files it wrote and the
//!   schema it wrote them with. Compaction compares them with the store to
//!   find the hours that need it again. Writing it is what commits an
//!   hour's new files: readers see what it lists (see
//!   [`crate::committed`]).
//! - `to_delete.json`: Parquet files a compaction replaced, with when; they
//!   are deleted once past the grace period, by a later run
//!   ([`purge_retired`]), so a query that listed them still reads them.
//! - `lock.json`: who is compacting the table (see `compact::lock`).
//!
//! Beside them, `table.json` holds the table's properties (its event-time
//! column), which the lake output writes: see [`crate::properties`].
//!
//! All are JSON, written with one PUT each, so a reader sees the old or the
//! new file, never half of one.

use std::collections::{BTreeSet, HashSet};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arrow::datatypes::SchemaRef;
use object_store::path::Path;
use object_store::{ObjectStoreExt, PutPayload};
use serde::{Deserialize, Serialize};

use crate::schema::{ColumnType, Columns, TableSchema};
use crate::{Lake, LakeError, Partition, TableRef};

/// The version of the catalog files this code writes and reads.
pub(crate) const FORMAT_VERSION: u32 = 1;

/// Every table in the lake: folders `<db>/<table>/` that hold `json/` or `parquet/`.
pub async fn list_tables(lake: &Lake) -> Result<Vec<TableRef>, LakeError> {
    let mut tables = Vec::new();
    for db in lake.store.list_with_delimiter(None).await?.common_prefixes {
        let Some(db_name) = db.filename() else {
            continue;
        };
        for table in lake
            .store
            .list_with_delimiter(Some(&db))
            .await?
            .common_prefixes
        {
            let Some(table_name) = table.filename() else {
                continue;
            };
            // Folders whose names could not have been made by levee are not tables.
            let Ok(table_ref) = TableRef::new(db_name, table_name) else {
                continue;
            };
            let listing = lake.store.list_with_delimiter(Some(&table)).await?;
            let has_data = listing
                .common_prefixes
                .iter()
                .any(|p| matches!(p.filename(), Some("json" | "chunks" | "parquet")));
            if has_data {
                tables.push(table_ref);
            }
        }
    }
    tables.sort();
    Ok(tables)
}

/// The table's schema as compaction last wrote it, in Arrow terms: what a
/// query engine should read every Parquet file of the table with. `None`
/// before the first compaction.
pub async fn load_schema(lake: &Lake, table: &TableRef) -> Result<Option<SchemaRef>, LakeError> {
    Ok(read_schema(lake, table).await?.map(|s| s.to_arrow()))
}

/// `schema.json` as stored.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SchemaFile {
    version: u32,
    columns: Columns,
    /// Every change to `columns`, oldest first; absent in files written
    /// before levee kept it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    history: Vec<SchemaHistoryEntry>,
}

/// One write of `schema.json` that changed the columns.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SchemaHistoryEntry {
    /// When, in RFC 3339 UTC.
    pub at: String,
    /// The hour whose records brought the change, when one did (a change
    /// made for the table's properties, the event-time column, has none).
    /// As `dt=YYYY-MM-DD/hour=HH`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hour: Option<String>,
    /// What changed, in column order.
    pub changes: Vec<ColumnChange>,
}

/// A change to one column (dotted for struct fields, `[]` for list
/// elements), with types in Hive's words.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "change", rename_all = "snake_case", deny_unknown_fields)]
pub(crate) enum ColumnChange {
    /// A new column or struct field.
    Added {
        /// The column.
        column: String,
        /// Its type.
        #[serde(rename = "type")]
        ty: String,
    },
    /// A column whose type changed: widened, or given up to the event time.
    Changed {
        /// The column.
        column: String,
        /// The type before.
        from: String,
        /// The type after.
        to: String,
    },
}

pub(crate) async fn read_schema(
    lake: &Lake,
    table: &TableRef,
) -> Result<Option<TableSchema>, LakeError> {
    Ok(read_schema_file(lake, table)
        .await?
        .map(|f| TableSchema { columns: f.columns }))
}

/// The table's schema and its history, `None` before the first compaction.
pub(crate) async fn read_schema_history(
    lake: &Lake,
    table: &TableRef,
) -> Result<Option<(TableSchema, Vec<SchemaHistoryEntry>)>, LakeError> {
    Ok(read_schema_file(lake, table)
        .await?
        .map(|f| (TableSchema { columns: f.columns }, f.history)))
}

async fn read_schema_file(lake: &Lake, table: &TableRef) -> Result<Option<SchemaFile>, LakeError> {
    let key = table.schema_key();
    let Some(file) = read_json::<SchemaFile>(lake, &key).await? else {
        return Ok(None);
    };
    check_version(&key, file.version)?;
    Ok(Some(file))
}

/// Stores the table's schema, adding what changed since the stored one to
/// its history. Only a holder of the table's lock writes it.
pub(crate) async fn write_schema(
    lake: &Lake,
    table: &TableRef,
    schema: &TableSchema,
) -> Result<(), LakeError> {
    write_schema_from(lake, table, schema, None).await
}

/// [`write_schema`], saying which hour's records brought the change.
pub(crate) async fn write_schema_from(
    lake: &Lake,
    table: &TableRef,
    schema: &TableSchema,
    hour: Option<&Partition>,
) -> Result<(), LakeError> {
    // An unreadable file is being replaced: its history is lost with it.
    let old = match read_schema_file(lake, table).await {
        Ok(old) => old,
        Err(LakeError::Catalog { .. }) => None,
        Err(e) => return Err(e),
    };
    let (old_columns, mut history) = match old {
        Some(f) => (f.columns, f.history),
        None => (Columns::default(), Vec::new()),
    };
    let mut changes = Vec::new();
    diff_columns(&old_columns, &schema.columns, "", &mut changes);
    if !changes.is_empty() {
        history.push(SchemaHistoryEntry {
            at: now_rfc3339(),
            hour: hour.map(ToString::to_string),
            changes,
        });
    }
    let file = SchemaFile {
        version: FORMAT_VERSION,
        columns: schema.columns.clone(),
        history,
    };
    write_json(lake, &table.schema_key(), &file).await
}

/// What `new` adds to or changes in `old`, struct fields and list
/// elements included. Columns are never removed, so that is not looked for.
fn diff_columns(old: &Columns, new: &Columns, prefix: &str, out: &mut Vec<ColumnChange>) {
    for (name, n) in new {
        let column = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}.{name}")
        };
        match old.get(name) {
            None => out.push(ColumnChange::Added {
                column,
                ty: n.to_string(),
            }),
            Some(o) => diff_type(o, n, column, out),
        }
    }
}

fn diff_type(old: &ColumnType, new: &ColumnType, column: String, out: &mut Vec<ColumnChange>) {
    match (old, new) {
        (ColumnType::Struct(o), ColumnType::Struct(n)) => diff_columns(o, n, &column, out),
        (ColumnType::List(o), ColumnType::List(n)) => diff_type(o, n, format!("{column}[]"), out),
        // A type for what was only ever null is news, as for `join`.
        (ColumnType::Null, n) => out.push(ColumnChange::Added {
            column,
            ty: n.to_string(),
        }),
        (o, n) if o != n => out.push(ColumnChange::Changed {
            column,
            from: o.to_string(),
            to: n.to_string(),
        }),
        _ => {}
    }
}

fn now_rfc3339() -> String {
    let nanos = i64::try_from(now_ms())
        .unwrap_or(i64::MAX / 1_000_000)
        .saturating_mul(1_000_000);
    levee_event::time::UtcTime::from_nanos(nanos).rfc3339_millis()
}

/// What the last compaction of one hour read and wrote.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Manifest {
    pub version: u32,
    pub dt: String,
    /// The hour; none in a day's manifest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hour: Option<u32>,
    /// When, in RFC 3339 UTC; for people, not for decisions.
    pub compacted_at: String,
    /// Every chunk listed for the hour, by file name (for a day, as
    /// `hour=HH/<name>`), including those that could not be read (so a chunk is not retried until it changes).
    pub chunks: Vec<ManifestChunk>,
    /// The Parquet files written, by file name.
    pub outputs: Vec<ManifestFile>,
    /// The table schema the outputs were written with.
    pub schema: TableSchema,
    /// Rows written, and lines that were not JSON objects.
    pub rows: u64,
    pub bad_lines: u64,
}

/// A chunk a manifest covers.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ManifestChunk {
    pub name: String,
    pub size: u64,
    /// Why the chunk could not be read, if it could not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Deleted by retention (`keep_json`) once this manifest's Parquet held
    /// its rows: the Parquet is now the only copy of them, so a later
    /// compaction of the hour merges new chunks into it rather than
    /// replacing it (see `compact::retention`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub expired: bool,
}

/// Removes an hour's manifest (its Parquet expired): readers then see
/// none of the hour's Parquet files.
pub(crate) async fn delete_manifest(
    lake: &Lake,
    table: &TableRef,
    p: &Partition,
) -> Result<(), LakeError> {
    delete_if_present(lake, &table.manifest_key(p)).await
}

/// A Parquet file a manifest lists.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ManifestFile {
    pub name: String,
    pub size: u64,
    pub rows: u64,
}

impl Manifest {
    /// The hour, or day, it describes.
    pub fn partition(&self) -> Partition {
        Partition {
            dt: self.dt.clone(),
            hour: self.hour.unwrap_or(Partition::WHOLE_DAY),
        }
    }

    /// The chunks as `(name, size)`, for comparison with a listing.
    pub fn chunk_set(&self) -> BTreeSet<(&str, u64)> {
        self.chunks
            .iter()
            .map(|c| (c.name.as_str(), c.size))
            .collect()
    }

    /// The outputs as `(name, size)`, for comparison with a listing.
    pub fn output_set(&self) -> BTreeSet<(&str, u64)> {
        self.outputs
            .iter()
            .map(|f| (f.name.as_str(), f.size))
            .collect()
    }
}

pub(crate) async fn read_manifest(
    lake: &Lake,
    table: &TableRef,
    p: &Partition,
) -> Result<Option<Manifest>, LakeError> {
    let key = table.manifest_key(p);
    let Some(manifest) = read_json::<Manifest>(lake, &key).await? else {
        return Ok(None);
    };
    check_version(&key, manifest.version)?;
    if manifest.partition() != *p {
        return Err(LakeError::Catalog {
            key: key.to_string(),
            reason: format!("describes {}", manifest.partition()),
        });
    }
    Ok(Some(manifest))
}

pub(crate) async fn write_manifest(
    lake: &Lake,
    table: &TableRef,
    manifest: &Manifest,
) -> Result<(), LakeError> {
    write_json(lake, &table.manifest_key(&manifest.partition()), manifest).await
}

/// The hours that have a manifest.
pub(crate) async fn list_manifests(
    lake: &Lake,
    table: &TableRef,
) -> Result<BTreeSet<Partition>, LakeError> {
    let root = table.manifest_root();
    let mut hours = BTreeSet::new();
    for meta in lake.list_objects(&root).await? {
        if let Some(p) = manifest_partition(&meta.location) {
            hours.insert(p);
        }
    }
    Ok(hours)
}

/// `to_delete.json` as stored.
#[derive(Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ToDelete {
    version: u32,
    files: Vec<Retired>,
}

/// A replaced file, waiting for its grace period to pass.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Retired {
    /// Its key, under the lake's root.
    pub key: String,
    /// When it was replaced, in milliseconds since the epoch.
    pub retired_ms: u64,
}

/// Held while `to_delete.json` is read, changed and written back: within
/// one process; across processes, the table's compaction lock rules.
static RETIRED_LIST: std::sync::LazyLock<futures::lock::Mutex<()>> =
    std::sync::LazyLock::new(|| futures::lock::Mutex::new(()));

fn to_delete_key(table: &TableRef) -> Path {
    table.catalog_root().join("to_delete.json")
}

/// The files waiting to be deleted. Only a holder of the table's lock
/// changes the list.
pub(crate) async fn read_retired(lake: &Lake, table: &TableRef) -> Result<Vec<Retired>, LakeError> {
    let key = to_delete_key(table);
    let Some(file) = read_json::<ToDelete>(lake, &key).await? else {
        return Ok(Vec::new());
    };
    check_version(&key, file.version)?;
    Ok(file.files)
}

/// The keys of [`read_retired`], for telling them from live files.
pub(crate) async fn retired_keys(
    lake: &Lake,
    table: &TableRef,
) -> Result<HashSet<Path>, LakeError> {
    Ok(read_retired(lake, table)
        .await?
        .into_iter()
        .map(|r| Path::from(r.key))
        .collect())
}

/// Retires files an hour's new manifest no longer lists: deletes them at
/// once with a zero `grace`, else records them for [`purge_retired`].
/// Called only after that manifest is written, so a file recorded here is
/// never one a reader is told to read.
pub(crate) async fn retire(
    lake: &Lake,
    table: &TableRef,
    keys: &[Path],
    grace: Duration,
) -> Result<(), LakeError> {
    if keys.is_empty() {
        return Ok(());
    }
    if grace.is_zero() {
        for key in keys {
            delete_if_present(lake, key).await?;
        }
        return Ok(());
    }
    // Hours compacted at once retire their files side by side: without
    // this, two read-modify-writes of the one list lose one's files.
    let _one_at_a_time = RETIRED_LIST.lock().await;
    let mut files = read_retired(lake, table).await?;
    let known: HashSet<String> = files.iter().map(|r| r.key.clone()).collect();
    let now = now_ms();
    files.extend(
        keys.iter()
            .filter(|k| !known.contains(k.as_ref()))
            .map(|k| Retired {
                key: k.to_string(),
                retired_ms: now,
            }),
    );
    write_retired(lake, table, files).await
}

/// Deletes the retired files whose grace period has passed; returns them.
pub async fn purge_retired(
    lake: &Lake,
    table: &TableRef,
    grace: Duration,
) -> Result<Vec<Path>, LakeError> {
    let _one_at_a_time = RETIRED_LIST.lock().await;
    let files = read_retired(lake, table).await?;
    if files.is_empty() {
        return Ok(Vec::new());
    }
    let cutoff = now_ms().saturating_sub(u64::try_from(grace.as_millis()).unwrap_or(u64::MAX));
    let (due, waiting): (Vec<Retired>, Vec<Retired>) =
        files.into_iter().partition(|r| r.retired_ms <= cutoff);
    let mut deleted = Vec::new();
    for r in &due {
        let key = Path::from(r.key.as_str());
        delete_if_present(lake, &key).await?;
        deleted.push(key);
    }
    if !due.is_empty() {
        write_retired(lake, table, waiting).await?;
    }
    Ok(deleted)
}

async fn write_retired(
    lake: &Lake,
    table: &TableRef,
    files: Vec<Retired>,
) -> Result<(), LakeError> {
    let file = ToDelete {
        version: FORMAT_VERSION,
        files,
    };
    write_json(lake, &to_delete_key(table), &file).await
}

async fn delete_if_present(lake: &Lake, key: &Path) -> Result<(), LakeError> {
    match lake.store.delete(key).await {
        Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Reads `.../dt=YYYY-MM-DD/hour=HH.json` (or a day's
/// `.../dt=YYYY-MM-DD.json`) back into its partition.
fn manifest_partition(key: &Path) -> Option<Partition> {
    let name = key.filename()?.strip_suffix(".json")?;
    let parent = Path::from_iter(key.parts().take(key.parts().count().saturating_sub(1)));
    Partition::unit_from_path(&parent.join(name))
}

fn check_version(key: &Path, version: u32) -> Result<(), LakeError> {
    if version == FORMAT_VERSION {
        Ok(())
    } else {
        Err(LakeError::Catalog {
            key: key.to_string(),
            reason: format!("format version {version}, this levee reads {FORMAT_VERSION}"),
        })
    }
}

async fn read_json<T: for<'de> Deserialize<'de>>(
    lake: &Lake,
    key: &Path,
) -> Result<Option<T>, LakeError> {
    let bytes = match lake.store.get(key).await {
        Ok(got) => got.bytes().await?,
        Err(object_store::Error::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| LakeError::Catalog {
            key: key.to_string(),
            reason: e.to_string(),
        })
}

async fn write_json<T: Serialize>(lake: &Lake, key: &Path, value: &T) -> Result<(), LakeError> {
    let text = serde_json::to_vec_pretty(value).map_err(|e| LakeError::Catalog {
        key: key.to_string(),
        reason: e.to_string(),
    })?;
    lake.store.put(key, PutPayload::from(text)).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hours compacted at once each retire their replaced files: every
    /// file must end on the list, none lost to another's write (it was:
    /// such a file then stayed in its hour's folder for good).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn files_retired_side_by_side_are_all_listed() {
        let dir = tempfile::tempdir().unwrap();
        let lake = std::sync::Arc::new(Lake::open(dir.path().to_str().unwrap()).unwrap());
        let table = TableRef::new("db", "t").unwrap();
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..16 {
            let (lake, table) = (lake.clone(), table.clone());
            tasks.spawn(async move {
                let key = Path::from(format!(
                    "db/t/parquet/dt=2018-09-01/hour={i:02}/part-0.parquet"
                ));
                retire(&lake, &table, &[key], Duration::from_secs(3600)).await
            });
        }
        while let Some(done) = tasks.join_next().await {
            done.unwrap().unwrap();
        }
        assert_eq!(read_retired(&lake, &table).await.unwrap().len(), 16);
    }

    fn columns(json: &str) -> Columns {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn schema_history_records_additions_widenings_and_the_time_claim() {
        let old = columns(
            r#"{"a":"int64","time":"string","s":{"struct":{"k":"int64"}},"l":{"list":"null"}}"#,
        );
        let new = columns(
            r#"{"a":"float64","time":"timestamp","s":{"struct":{"k":"int64","j":"bool"}},"l":{"list":"string"},"time_":"string"}"#,
        );
        let mut out = Vec::new();
        diff_columns(&old, &new, "", &mut out);
        let changed = |column: &str, from: &str, to: &str| ColumnChange::Changed {
            column: column.into(),
            from: from.into(),
            to: to.into(),
        };
        let added = |column: &str, ty: &str| ColumnChange::Added {
            column: column.into(),
            ty: ty.into(),
        };
        assert_eq!(
            out,
            [
                changed("a", "bigint", "double"),
                changed("time", "string", "timestamp"),
                added("s.j", "boolean"),
                added("l[]", "string"),
                added("time_", "string"),
            ]
        );
        let mut none = Vec::new();
        diff_columns(&new, &new, "", &mut none);
        assert!(none.is_empty());
    }

    #[test]
    fn manifest_keys_read_back_as_partitions() {
        let t = TableRef::new("db", "t").unwrap();
        let p = Partition {
            dt: "2024-02-29".into(),
            hour: 7,
        };
        let key = t.manifest_key(&p);
        assert_eq!(
            key.as_ref(),
            "db/t/_levee/manifests/dt=2024-02-29/hour=07.json"
        );
        assert_eq!(manifest_partition(&key), Some(p));
        let day = Partition::day("2024-02-29");
        assert_eq!(manifest_partition(&t.manifest_key(&day)), Some(day));
        assert_eq!(
            manifest_partition(&Path::from(
                "db/t/_levee/manifests/dt=2024-02-29/hour=07.tmp"
            )),
            None
        );
    }
}
