//! `<table>_json`: a table's JSON chunks, whatever each is compressed with.
//!
//! DataFusion reads one compression per listing. The lake output writes
//! only zstd chunks, but a table may also hold gzip or plain ones that other
//! writers put there (Firehose writes gzip) and that compaction reads too.
//! So the JSON copy is one listing per compression found, scanned as a
//! union. Each listing prunes partitions on its own.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::{Result, plan_err};
use datafusion::datasource::listing::ListingTable;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown, TableType};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::union::UnionExec;

/// The JSON copy of one table: a listing per chunk compression.
#[derive(Debug)]
pub(crate) struct JsonChunks {
    parts: Vec<ListingTable>,
    schema: SchemaRef,
}

impl JsonChunks {
    /// `parts` must share one schema (they are made from one).
    pub fn try_new(parts: Vec<ListingTable>) -> Result<JsonChunks> {
        let Some(first) = parts.first() else {
            return plan_err!("a JSON table needs at least one listing");
        };
        let schema = first.schema();
        if parts.iter().any(|p| p.schema() != schema) {
            return plan_err!("the listings of a JSON table disagree on its schema");
        }
        Ok(JsonChunks { parts, schema })
    }

    /// The listings, for scan accounting.
    pub fn parts(&self) -> &[ListingTable] {
        &self.parts
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
        let mut plans = Vec::with_capacity(self.parts.len());
        for part in &self.parts {
            plans.push(part.scan(state, projection, filters, limit).await?);
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
