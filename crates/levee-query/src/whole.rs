//! `<table>`: a table always whole, each hour read from one copy.
//!
//! `<table>_parquet` holds only the hours compaction has done, and
//! `<table>_json` every hour, compacted or not. `<table>` reads, at each
//! query, the Parquet of every hour whose manifest covers all the hour's
//! JSON chunks, and the JSON of every other hour: one not compacted yet, or
//! one that received chunks (late events, a backlog) or whose chunks
//! changed since it was compacted. An hour is never read from both.
//!
//! The split is made when the query is planned, from a listing of the
//! chunks and the manifests, and each copy's scan is restricted to its own
//! hours by a filter on `dt` and `hour`. So a compaction or a chunk that
//! lands while the query runs can make an hour missing from its answer,
//! never counted twice.
//!
//! An hour's chunks, here as in compaction and `<table>_json`, are its
//! JSON chunks, or, in an hour with none, its Parquet chunks (`chunks/`,
//! written by a lake output with `format = "parquet"`): so a table written
//! as Parquet only is read from its Parquet chunks until compacted, and one
//! written as both from its JSON.
//!
//! In a `partition_by = "day"` table the unit is the day: a day whose
//! manifest covers all its hours' chunks is read from its Parquet, any
//! other from the JSON of all its hours, and the whole table, as its
//! Parquet, has `dt` and no `hour` column.
//!
//! An hour with no chunks (its JSON expired, or quarantined) is read
//! from its Parquet. In a table levee never compacted, Parquet written by
//! another tool stands for the hours that have no JSON.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::{DataFusionError, Result, project_schema};
use datafusion::datasource::listing::ListingTable;
use datafusion::functions::string::expr_fn::concat_ws;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown, TableType, col, lit};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::empty::EmptyExec;
use datafusion::physical_plan::union::UnionExec;
use futures::{StreamExt, TryStreamExt};
use levee_lake::committed::{CommittedView, covered_chunks};
use levee_lake::{LakeError, Partition, PartitionBy, TableRef};
use object_store::ObjectStore;
use object_store::path::Path;

use crate::json_table::JsonChunks;
use crate::tables::Format;

/// Manifests read at once when a query decides its split.
const MANIFEST_READS: usize = 16;

/// One hour, as its folders spell it: `("2018-09-01", "05")`; a day as
/// `("2018-09-01", "")`. The scans filter on the folders' text, so that
/// is what is kept.
pub(crate) type Hour = (String, String);

/// The data files of one copy in one hour.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct HourFiles {
    /// Each file's name and size.
    pub files: BTreeSet<(String, u64)>,
}

/// Which copy each hour of a table is read from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Split {
    /// Hours read from JSON chunks, with their chunks.
    pub json: BTreeMap<Hour, HourFiles>,
    /// Hours read from Parquet, with their committed files (none for an
    /// hour whose every chunk was unreadable).
    pub parquet: BTreeMap<Hour, HourFiles>,
}

impl Split {
    /// Decides, for every hour of `table`, the copy to read: see the module's
    /// documentation. `store` is the lake's own store (not the committed view).
    pub async fn of(
        store: &Arc<dyn ObjectStore>,
        table: &TableRef,
        by: PartitionBy,
    ) -> Result<Split, LakeError> {
        let json_exts: Vec<String> = Format::Json
            .kinds()
            .into_iter()
            .map(|k| k.extension)
            .collect();
        let mut json = hour_files(store.as_ref(), &table.json_root(), &json_exts).await?;
        json.extend(parquet_chunk_hours(store.as_ref(), table, &json).await?);
        if by == PartitionBy::Day {
            json = by_day(json);
        }
        let committed = CommittedView::new(store.clone());
        let parquet_exts: Vec<String> = Format::Parquet
            .kinds()
            .into_iter()
            .map(|k| k.extension)
            .collect();
        let mut parquet = hour_files(&committed, &table.parquet_root(), &parquet_exts).await?;

        // An hour with chunks needs its manifest read; on an object store
        // those reads are round trips, so several go at once.
        let decided: Vec<(Hour, HourFiles, bool)> = futures::stream::iter(json)
            .map(|(hour, chunks)| async move {
                let covered = match partition(&hour) {
                    Some(p) => covered_chunks(store.as_ref(), table, &p).await,
                    None => None,
                };
                let whole = covered.is_some_and(|c| chunks.files.is_subset(&c));
                (hour, chunks, whole)
            })
            .buffered(MANIFEST_READS)
            .collect()
            .await;
        let mut split = Split::default();
        for (hour, chunks, whole) in decided {
            if whole {
                let files = parquet.remove(&hour).unwrap_or_default();
                split.parquet.insert(hour, files);
            } else {
                parquet.remove(&hour);
                split.json.insert(hour, chunks);
            }
        }
        // Hours with Parquet and no chunk left.
        split.parquet.extend(parquet);
        Ok(split)
    }
}

/// The hours that have Parquet chunks and no JSON chunk (`json` lists the
/// hours with JSON), with their Parquet chunks: the hours whose chunks are
/// read from `chunks/`.
pub(crate) async fn parquet_chunk_hours(
    store: &dyn ObjectStore,
    table: &TableRef,
    json: &BTreeMap<Hour, HourFiles>,
) -> Result<BTreeMap<Hour, HourFiles>, LakeError> {
    let mut hours = hour_files(
        store,
        &table.parquet_chunk_root(),
        &[PARQUET_CHUNK.to_owned()],
    )
    .await?;
    hours.retain(|hour, _| !json.contains_key(hour));
    Ok(hours)
}

/// The ending of Parquet chunks' names.
pub(crate) const PARQUET_CHUNK: &str = ".parquet";

fn partition((dt, hour): &Hour) -> Option<Partition> {
    if hour.is_empty() {
        return Partition::unit_from_path(&Path::from(format!("dt={dt}")));
    }
    Partition::from_path(&Path::from(format!("dt={dt}/hour={hour}")))
}

/// Hours' chunks gathered into their days, named as a day's manifest
/// names them (`hour=HH/<name>`).
fn by_day(hours: BTreeMap<Hour, HourFiles>) -> BTreeMap<Hour, HourFiles> {
    let mut days: BTreeMap<Hour, HourFiles> = BTreeMap::new();
    for ((dt, hour), files) in hours {
        let day = days.entry((dt, String::new())).or_default();
        day.files.extend(
            files
                .files
                .into_iter()
                .map(|(name, size)| (format!("hour={hour}/{name}"), size)),
        );
    }
    days
}

/// The files under `root` whose names end in one of `extensions`, by the
/// hour folder they lie in.
pub(crate) async fn hour_files(
    store: &dyn ObjectStore,
    root: &Path,
    extensions: &[String],
) -> Result<BTreeMap<Hour, HourFiles>, LakeError> {
    let mut hours: BTreeMap<Hour, HourFiles> = BTreeMap::new();
    let mut listing = store.list(Some(root));
    while let Some(meta) = listing.try_next().await? {
        let key = meta.location.as_ref();
        if !extensions.iter().any(|e| key.ends_with(e.as_str())) {
            continue;
        }
        let (Some(hour), Some(name)) = (folder_hour(&meta.location), meta.location.filename())
        else {
            continue;
        };
        hours
            .entry(hour)
            .or_default()
            .files
            .insert((name.to_owned(), meta.size));
    }
    Ok(hours)
}

/// The `dt=`/`hour=` folders' text of a data file's key, if they make an
/// hour levee would read; a day's (the hour empty) for a day's file.
fn folder_hour(key: &Path) -> Option<Hour> {
    if Partition::unit_from_path(key)?.is_day() {
        let dt = key
            .parts()
            .find_map(|p| p.as_ref().strip_prefix("dt=").map(str::to_owned))?;
        return Some((dt, String::new()));
    }
    let mut dt = None;
    let mut hour = None;
    for part in key.parts() {
        let part = part.as_ref();
        if let Some(d) = part.strip_prefix("dt=") {
            dt = Some(d.to_owned());
        } else if let Some(h) = part.strip_prefix("hour=") {
            hour = Some(h.to_owned());
        }
    }
    Some((dt?, hour?))
}

/// A filter that keeps exactly `hours` (days, when `by` says so); `None`
/// for none at all.
pub(crate) fn only_hours<'a>(
    hours: impl Iterator<Item = &'a Hour>,
    by: PartitionBy,
) -> Option<Expr> {
    let list: Vec<Expr> = hours
        .map(|(dt, hour)| match by {
            PartitionBy::Hour => lit(format!("{dt}/{hour}")),
            PartitionBy::Day => lit(dt.clone()),
        })
        .collect();
    if list.is_empty() {
        return None;
    }
    Some(match by {
        PartitionBy::Hour => concat_ws(lit("/"), vec![col("dt"), col("hour")]).in_list(list, false),
        PartitionBy::Day => col("dt").in_list(list, false),
    })
}

/// The table `<table>`: see the module's documentation.
#[derive(Debug)]
pub(crate) struct WholeTable {
    table: TableRef,
    /// The lake's own store, to list chunks and read manifests.
    store: Arc<dyn ObjectStore>,
    json: JsonChunks,
    parquet: ListingTable,
    schema: SchemaRef,
    /// The unit each copy is chosen for.
    by: PartitionBy,
}

impl WholeTable {
    /// `json` and `parquet` must have one schema (made from one).
    pub fn try_new(
        table: TableRef,
        store: Arc<dyn ObjectStore>,
        json: JsonChunks,
        parquet: ListingTable,
        by: PartitionBy,
    ) -> Result<WholeTable> {
        let schema = json.schema();
        if parquet.schema() != schema {
            return datafusion::common::plan_err!(
                "the JSON and Parquet copies of {table} disagree on its schema"
            );
        }
        Ok(WholeTable {
            table,
            store,
            json,
            parquet,
            schema,
            by,
        })
    }

    /// The table it reads.
    pub fn table(&self) -> &TableRef {
        &self.table
    }

    /// The unit each copy is chosen for.
    pub fn partition_by(&self) -> PartitionBy {
        self.by
    }
}

#[async_trait]
impl TableProvider for WholeTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let split = Split::of(&self.store, &self.table, self.by)
            .await
            .map_err(|e| DataFusionError::External(Box::new(e)))?;
        let mut plans = Vec::with_capacity(2);
        if let Some(hours) = only_hours(split.json.keys(), self.by) {
            let mut filters = filters.to_vec();
            filters.push(hours);
            plans.push(self.json.scan(state, projection, &filters, limit).await?);
        }
        if let Some(hours) = only_hours(split.parquet.keys(), self.by) {
            let mut filters = filters.to_vec();
            filters.push(hours);
            plans.push(
                self.parquet
                    .scan(state, projection, &filters, limit)
                    .await?,
            );
        }
        if plans.is_empty() {
            let schema = project_schema(&self.schema, projection)?;
            return Ok(Arc::new(EmptyExec::new(schema)));
        }
        UnionExec::try_new(plans)
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        // A filter is left to the scans alone only if both copies apply it
        // exactly (the partition columns' filters).
        let json = self.json.supports_filters_pushdown(filters)?;
        let parquet = self.parquet.supports_filters_pushdown(filters)?;
        Ok(json
            .into_iter()
            .zip(parquet)
            .map(|(a, b)| {
                use TableProviderFilterPushDown::{Exact, Inexact, Unsupported};
                match (a, b) {
                    (Exact, Exact) => Exact,
                    (Unsupported, _) | (_, Unsupported) => Unsupported,
                    _ => Inexact,
                }
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_hour_is_kept_as_its_folders_spell_it() {
        let key = Path::from("db/t/json/dt=2024-01-02/hour=05/00-w-1.ndjson.zst");
        assert_eq!(
            folder_hour(&key),
            Some(("2024-01-02".to_owned(), "05".to_owned()))
        );
        // A day's file, in a day table's Parquet.
        assert_eq!(
            folder_hour(&Path::from("db/t/parquet/dt=2024-01-02/x")),
            Some(("2024-01-02".to_owned(), String::new()))
        );
        assert_eq!(
            folder_hour(&Path::from("db/t/json/dt=2024-01-02/hour=24/x")),
            None
        );
    }

    #[test]
    fn no_hour_makes_no_filter() {
        assert!(only_hours(std::iter::empty(), PartitionBy::Hour).is_none());
        let hours = [("2024-01-02".to_owned(), "05".to_owned())];
        let f = only_hours(hours.iter(), PartitionBy::Hour).unwrap();
        assert!(f.to_string().contains("2024-01-02/05"), "{f}");
    }
}
