//! What `levee tables` shows of a table: read-only views of its files and
//! its catalog, for people (and for [`crate::ddl`]). Nothing here writes.

use std::collections::{BTreeMap, BTreeSet};

use futures::{StreamExt, TryStreamExt};

use crate::catalog::{self, ColumnChange, Manifest, SchemaHistoryEntry};
use crate::schema::{ChangeKind, Changes, ColumnType, TableSchema};
use crate::{Lake, LakeError, Partition, TableRef, properties};

/// Manifests read at once.
const CONCURRENCY: usize = 8;

/// A table at a glance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableSummary {
    /// The table.
    pub table: TableRef,
    /// Hours that have JSON chunks or a manifest (days, in a
    /// `partition_by = "day"` table: its unit).
    pub hours: usize,
    /// Hours (days) a manifest covers.
    pub compacted_hours: usize,
    /// Hours with chunks their manifest does not cover (or with no
    /// manifest): what the next compaction will read.
    pub pending_hours: usize,
    /// Rows in the Parquet the manifests list.
    pub rows: u64,
    /// JSON chunks, and their stored (compressed) bytes.
    pub json_chunks: usize,
    /// Stored bytes of the JSON chunks.
    pub json_bytes: u64,
    /// Parquet files the manifests list, and their bytes.
    pub parquet_files: usize,
    /// Bytes of the Parquet files the manifests list.
    pub parquet_bytes: u64,
    /// Chunks moved to the quarantine.
    pub quarantined_chunks: usize,
    /// The newest manifest's time (RFC 3339, UTC), if any hour was compacted.
    pub last_compaction: Option<String>,
}

/// Reads a table's listing and manifests into a [`TableSummary`].
pub async fn summarize(lake: &Lake, table: &TableRef) -> Result<TableSummary, LakeError> {
    let chunk_hours = lake.list_chunk_hours(table).await?;
    let manifests = read_manifests(lake, table).await?;
    let quarantined_chunks = lake
        .list_objects(&table.quarantine_root())
        .await?
        .iter()
        .filter(|m| crate::ChunkCompression::from_key(&m.location).is_some())
        .count();

    let by = properties::read_properties(lake, table)
        .await?
        .map(|p| p.parquet.partition_by)
        .unwrap_or_default();
    // Each unit's chunks, as its manifest names them.
    let mut units: BTreeMap<Partition, Vec<(String, u64)>> = BTreeMap::new();
    for (hour, chunks) in &chunk_hours {
        let unit = hour.unit(by);
        let day = unit.is_day();
        let names = chunks.iter().map(|c| {
            let name = c.key.filename().unwrap_or_default();
            let name = if day {
                format!("{}/{name}", hour.hour_dir())
            } else {
                name.to_owned()
            };
            (name, c.size)
        });
        units.entry(unit).or_default().extend(names);
    }
    let mut hours: BTreeSet<&Partition> = units.keys().collect();
    hours.extend(manifests.keys());
    let pending_hours = units
        .iter()
        .filter(|(p, chunks)| {
            manifests.get(p).is_none_or(|m| {
                let covered = m.chunk_set();
                chunks
                    .iter()
                    .any(|(name, size)| !covered.contains(&(name.as_str(), *size)))
            })
        })
        .count();
    let outputs = manifests.values().flat_map(|m| &m.outputs);
    Ok(TableSummary {
        table: table.clone(),
        hours: hours.len(),
        compacted_hours: manifests.len(),
        pending_hours,
        rows: manifests.values().map(|m| m.rows).sum(),
        json_chunks: chunk_hours.values().map(Vec::len).sum(),
        json_bytes: chunk_hours.values().flatten().map(|c| c.size).sum(),
        parquet_files: outputs.clone().count(),
        parquet_bytes: outputs.map(|f| f.size).sum(),
        quarantined_chunks,
        last_compaction: manifests.values().map(|m| m.compacted_at.clone()).max(),
    })
}

/// One column of a table, in Hive's type names (`bigint`,
/// `array<string>`, `struct<a:bigint>`), which Athena's DDL uses too.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ColumnView {
    /// Its name.
    pub name: String,
    /// Its type.
    pub ty: String,
    /// Why it is there when it is not a field of the records as named:
    /// a partition column, or a record's field renamed out of one's way.
    pub note: Option<String>,
}

/// A table's columns and how they came to be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SchemaView {
    /// The columns of the Parquet files, in order, then `dt` and `hour`.
    /// Empty before the first compaction.
    pub columns: Vec<ColumnView>,
    /// Every change, oldest first.
    pub history: Vec<SchemaStep>,
    /// Whether the history was rebuilt from the manifests, for a table
    /// compacted before levee kept it in `schema.json`.
    pub rebuilt: bool,
}

/// The changes one write of the table's schema brought.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SchemaStep {
    /// When (RFC 3339, UTC).
    pub at: String,
    /// The hour whose records brought them, when one did.
    pub hour: Option<String>,
    /// What changed, in order.
    pub changes: Vec<SchemaChangeView>,
}

/// One change to one column.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SchemaChangeView {
    /// The column, dotted for struct fields, `[]` for list elements.
    pub column: String,
    /// `added bigint`, `bigint -> double`, with the rename said for a
    /// record's field that had a partition column's name.
    pub what: String,
}

/// The table's columns and its schema history, from `schema.json`.
///
/// A table compacted before levee kept the history has it rebuilt from the
/// manifests: each holds the table schema its hour was written with, so
/// replaying them in the order they were written shows when columns
/// appeared, but not a widening whose older hours were written again since.
pub async fn schema(lake: &Lake, table: &TableRef) -> Result<SchemaView, LakeError> {
    let props = properties::read_properties(lake, table).await?;
    let day = props
        .as_ref()
        .is_some_and(|p| p.parquet.partition_by == crate::PartitionBy::Day);
    let time_field = props.map(|p| p.time_field.as_str().to_owned());
    let time_field = time_field.as_deref();
    let Some((schema, stored)) = catalog::read_schema_history(lake, table).await? else {
        return Ok(SchemaView {
            columns: Vec::new(),
            history: Vec::new(),
            rebuilt: false,
        });
    };
    let mut columns = Vec::new();
    for (name, ty) in &schema.columns {
        columns.push(ColumnView {
            name: name.clone(),
            ty: ty.to_string(),
            note: column_note(name, ty, time_field),
        });
    }
    // A day table's Parquet has no `hour`: its event time serves.
    let partition_columns: &[(&str, &str)] = if day {
        &[("dt", "string")]
    } else {
        &[("dt", "string"), ("hour", "int")]
    };
    for &(name, ty) in partition_columns {
        columns.push(ColumnView {
            name: name.to_owned(),
            ty: ty.to_owned(),
            note: Some(format!(
                "partition, from the `{name}=` folders (UTC{})",
                if name == "dt" { ", YYYY-MM-DD" } else { "" }
            )),
        });
    }

    let rebuilt = stored.is_empty();
    let entries = if rebuilt {
        history_from_manifests(lake, table).await?
    } else {
        stored
    };
    let history = entries
        .into_iter()
        .map(|e| SchemaStep {
            at: e.at,
            hour: e.hour,
            changes: e
                .changes
                .into_iter()
                .map(|c| change_view(c, time_field))
                .collect(),
        })
        .collect();
    Ok(SchemaView {
        columns,
        history,
        rebuilt,
    })
}

fn change_view(change: ColumnChange, time_field: Option<&str>) -> SchemaChangeView {
    match change {
        ColumnChange::Added { column, ty } => {
            let what = match renamed_from(&column, &ty, time_field) {
                Some(from) => format!("added {ty} (the records' `{from}`, renamed)"),
                None => format!("added {ty}"),
            };
            SchemaChangeView { column, what }
        }
        ColumnChange::Changed { column, from, to } => SchemaChangeView {
            column,
            what: format!("{from} -> {to}"),
        },
    }
}

/// The history as the manifests show it (see [`schema`]).
async fn history_from_manifests(
    lake: &Lake,
    table: &TableRef,
) -> Result<Vec<SchemaHistoryEntry>, LakeError> {
    let mut manifests: Vec<Manifest> = read_manifests(lake, table).await?.into_values().collect();
    manifests
        .sort_by(|a, b| (&a.compacted_at, a.partition()).cmp(&(&b.compacted_at, b.partition())));
    let mut so_far = TableSchema::default();
    let mut history = Vec::new();
    for m in manifests {
        let mut changes = Changes::default();
        so_far.join(&m.schema, &mut changes);
        if changes.list.is_empty() {
            continue;
        }
        history.push(SchemaHistoryEntry {
            hour: Some(m.partition().to_string()),
            at: m.compacted_at,
            changes: changes
                .list
                .into_iter()
                .map(|(column, kind)| match kind {
                    ChangeKind::Added { ty } => ColumnChange::Added { column, ty },
                    ChangeKind::Widened { from, to } => ColumnChange::Changed { column, from, to },
                })
                .collect(),
        });
    }
    Ok(history)
}

/// Why a top-level column has the name it has, when it is not the
/// records' own: the event-time column, or a renamed field.
fn column_note(name: &str, ty: &ColumnType, time_field: Option<&str>) -> Option<String> {
    if matches!(ty, ColumnType::Timestamp) {
        return Some("event time, UTC".to_owned());
    }
    let from = renamed_from(name, &ty.to_string(), time_field)?;
    let why = if time_field.is_some_and(|t| from.eq_ignore_ascii_case(t)) {
        "the event-time column's name"
    } else {
        "a partition column's name"
    };
    Some(format!("the records' `{from}`, renamed: {why}"))
}

/// The field a top-level column was renamed from (`dt_` from `dt`, `HOUR__`
/// from `HOUR_`'s own rename...), when its name is one compaction makes:
/// a partition column's or the event-time column's, with `_` appended.
fn renamed_from(column: &str, ty: &str, time_field: Option<&str>) -> Option<String> {
    if column.contains(['.', '[']) || ty == "timestamp" {
        return None;
    }
    let from = column.strip_suffix('_')?;
    let base = from.trim_end_matches('_');
    let clashes = ["dt", "hour"]
        .into_iter()
        .chain(time_field)
        .any(|p| base.eq_ignore_ascii_case(p));
    clashes.then(|| from.to_owned())
}

/// Every readable manifest of the table, by hour. A manifest that cannot
/// be read is left out: compaction will write it again.
async fn read_manifests(
    lake: &Lake,
    table: &TableRef,
) -> Result<BTreeMap<Partition, Manifest>, LakeError> {
    let hours = catalog::list_manifests(lake, table).await?;
    let found: Vec<Option<(Partition, Manifest)>> = futures::stream::iter(hours)
        .map(|p| async move {
            match catalog::read_manifest(lake, table, &p).await {
                Ok(Some(m)) => Ok(Some((p, m))),
                Ok(None) | Err(LakeError::Catalog { .. }) => Ok(None),
                Err(e) => Err(e),
            }
        })
        .buffered(CONCURRENCY)
        .try_collect()
        .await?;
    Ok(found.into_iter().flatten().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renamed_columns_are_told_from_the_records_own() {
        assert_eq!(renamed_from("dt_", "string", None).as_deref(), Some("dt"));
        assert_eq!(
            renamed_from("HOUR_", "bigint", None).as_deref(),
            Some("HOUR")
        );
        assert_eq!(renamed_from("dt__", "string", None).as_deref(), Some("dt_"));
        assert_eq!(
            renamed_from("time_", "string", Some("time")).as_deref(),
            Some("time")
        );
        assert_eq!(renamed_from("time_", "string", None), None);
        assert_eq!(renamed_from("dtx_", "string", None), None);
        assert_eq!(renamed_from("a.dt_", "string", None), None);
        assert_eq!(renamed_from("dt", "string", None), None);
    }
}
