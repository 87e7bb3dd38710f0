//! `<table>_json`: a table's JSON chunks, whatever each is compressed with.
//!
//! DataFusion reads one compression per listing. The lake output writes
//! only zstd chunks, but a table may also hold gzip or plain ones that other
//! writers put there (Firehose writes gzip) and that compaction reads too.
//! So the JSON copy is one listing per compression found, scanned as a
//! union. Each listing prunes partitions on its own.
//!
//! The copy is the table as delivered: besides the JSON chunks, the Parquet
//! chunks under `chunks/` of every hour that has no JSON chunk, so that a
//! table written with `format = "parquet"` has a `_json` that holds every
//! delivered row until compaction (and after), and one written with
//! `"both"` counts each row once. Those are read as the NDJSON they were
//! made from (see `json_source`), so the two kinds answer alike.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::DataFusionError;
use datafusion::common::{Result, plan_err};
use datafusion::datasource::listing::ListingTable;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown, TableType};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::union::UnionExec;
use levee_lake::TableRef;
use object_store::ObjectStore;

use crate::tables::Format;
use crate::whole::{hour_files, only_hours, parquet_chunk_hours};

/// The JSON copy of one table: a listing per chunk compression, and one of
/// its Parquet chunks.
#[derive(Debug)]
pub(crate) struct JsonChunks {
    parts: Vec<ListingTable>,
    /// The Parquet chunks, each hour's read only if the hour has no JSON.
    parquet_chunks: ListingTable,
    /// The lake's own store and the table, to tell those hours.
    store: Arc<dyn ObjectStore>,
    table: TableRef,
    schema: SchemaRef,
}

impl JsonChunks {
    /// `parts` and `parquet_chunks` must share one schema (they are made
    /// from one).
    pub fn try_new(
        parts: Vec<ListingTable>,
        parquet_chunks: ListingTable,
        store: Arc<dyn ObjectStore>,
        table: TableRef,
    ) -> Result<JsonChunks> {
        let Some(first) = parts.first() else {
            return plan_err!("a JSON table needs at least one listing");
        };
        let schema = first.schema();
        if parts.iter().any(|p| p.schema() != schema) || parquet_chunks.schema() != schema {
            return plan_err!("the listings of a JSON table disagree on its schema");
        }
        Ok(JsonChunks {
            parts,
            parquet_chunks,
            store,
            table,
            schema,
        })
    }

    /// The listings, for scan accounting.
    pub fn parts(&self) -> Vec<&ListingTable> {
        self.parts.iter().chain([&self.parquet_chunks]).collect()
    }
}

#[async_trait]
impl TableProvider for JsonChunks {
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
        let external = |e: levee_lake::LakeError| DataFusionError::External(Box::new(e));
        let json_exts: Vec<String> = Format::Json
            .kinds()
            .into_iter()
            .map(|k| k.extension)
            .collect();
        let json = hour_files(self.store.as_ref(), &self.table.json_root(), &json_exts)
            .await
            .map_err(external)?;
        // Only the kinds of chunk the table holds now; the first (the lake
        // output's own) always, so that the plan has a scan.
        let mut plans = Vec::with_capacity(self.parts.len() + 1);
        for (i, part) in self.parts.iter().enumerate() {
            let ext = &part.options().file_extension;
            let found = || {
                json.values().any(|hour| {
                    hour.files
                        .iter()
                        .any(|(name, _)| name.ends_with(ext.as_str()))
                })
            };
            if i == 0 || found() {
                plans.push(part.scan(state, projection, filters, limit).await?);
            }
        }
        let hours = parquet_chunk_hours(self.store.as_ref(), &self.table, &json)
            .await
            .map_err(external)?;
        if let Some(only) = only_hours(hours.keys(), levee_lake::PartitionBy::Hour) {
            let mut filters = filters.to_vec();
            filters.push(only);
            plans.push(
                self.parquet_chunks
                    .scan(state, projection, &filters, limit)
                    .await?,
            );
        }
        // One part (the usual case) is returned as it is.
        UnionExec::try_new(plans)
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        // The parts differ only in compression, so they answer alike.
        match self.parts.first() {
            Some(part) => part.supports_filters_pushdown(filters),
            None => Ok(vec![
                TableProviderFilterPushDown::Unsupported;
                filters.len()
            ]),
        }
    }
}
