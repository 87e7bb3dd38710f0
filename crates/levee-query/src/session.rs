//! The SQL session over a lake: every table registered as its two copies,
//! Athena-style, and once whole.

use std::sync::Arc;
use std::time::Instant;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::{CatalogProvider, MemorySchemaProvider, SchemaProvider};
use datafusion::execution::cache::cache_manager::CacheManagerConfig;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::{SQLOptions, SessionConfig, SessionContext};
use levee_lake::{Lake, TableRef, catalog};
use object_store::ObjectStore;

use crate::in_place::InPlace;
use crate::limits::{self, Limit, QueryLimits};
use crate::register::{LAKE_URL, register_table};
use crate::stats::{self, ScanStats};
use crate::tables::{self, Format};
use crate::whole::Split;
use crate::{QueryError, functions, statements};

/// DataFusion's catalog that holds one schema per lake database.
const CATALOG: &str = "datafusion";

/// A SQL session over a lake.
///
/// Each table `<db>/<table>` appears as `"<db>".<table>_json` and
/// `"<db>".<table>_parquet`, as Glue and Athena had them, and as
/// `"<db>".<table>`, which reads every hour once: from its Parquet when
/// compaction covered all the hour's chunks, else from its JSON. All have
/// two partition columns read from the folders:
///
/// - `dt`, text `'YYYY-MM-DD'`: text order is date order, so
///   `where dt >= '2018-09-01'` and `group by dt` work as written;
/// - `hour`, text `'00'`..`'23'`, as Glue's crawler typed it: write
///   `hour = '05'`. Text keeps the folder's zero, so equalities on `dt` and
///   `hour` become a listing of that one folder. (`hour = 5` works too, by a
///   cast, and still prunes, but lists every folder to do it.)
///
/// A filter on either prunes whole folders before any file is opened. When
/// the lake holds one database it is also the default schema, so its tables
/// can be named without it.
///
/// The JSON copy reads `.ndjson.zst` chunks, and `.ndjson.gz` and `.ndjson`
/// ones if the table held any when the session opened.
pub struct LakeSession {
    ctx: SessionContext,
    store: Arc<dyn ObjectStore>,
    /// The store as the scans read it, through the manifests; the
    /// accounting's totals count through the same view, so the manifests
    /// a scan read are not read again.
    committed: Arc<levee_lake::committed::CommittedView>,
    location: String,
    tables: Vec<LakeTable>,
    skipped: Vec<SkippedTable>,
    options: SQLOptions,
    limits: QueryLimits,
}

/// A table [`LakeSession::open`] found but could not register.
#[derive(Debug)]
pub struct SkippedTable {
    /// The table.
    pub table: TableRef,
    /// Why.
    pub error: QueryError,
}

/// One registered SQL table.
#[derive(Clone, Debug, PartialEq)]
pub struct LakeTable {
    /// The lake table it reads.
    pub table: TableRef,
    /// Which copy.
    pub format: Format,
    /// Its SQL name within the database's schema: `eventlog_parquet`.
    pub name: String,
    /// Its columns, partition columns last.
    pub schema: SchemaRef,
}

/// An answer: its rows, and what reading them cost.
#[derive(Clone, Debug)]
pub struct QueryResult {
    /// The columns, also when there are no rows.
    pub schema: SchemaRef,
    /// The rows.
    pub batches: Vec<RecordBatch>,
    /// Files, partitions and bytes read, time taken.
    pub stats: ScanStats,
}

impl LakeSession {
    /// Opens the lake and registers every table three times: `<table>_json`,
    /// `<table>_parquet` and the whole `<table>`, under a schema named after
    /// the database.
    ///
    /// Columns come from the table's catalog (written by compaction) when it
    /// has one; before that they are inferred from the files, and a copy with
    /// no files yet borrows the other copy's, so both names always exist. A
    /// table with neither is left out; one that cannot be read is listed in
    /// [`LakeSession::skipped`].
    ///
    /// Queries run under the default [`crate::QueryOptions`]; see
    /// [`LakeSession::open_with`].
    pub async fn open(lake: &Lake) -> Result<LakeSession, QueryError> {
        LakeSession::open_with(lake, QueryLimits::default()).await
    }

    /// [`LakeSession::open`], with queries bounded by `limits`: a
    /// [`crate::QueryOptions`], or a [`QueryLimits`] shared with other
    /// sessions so that together they keep to one memory budget and one cap.
    pub async fn open_with(
        lake: &Lake,
        limits: impl Into<QueryLimits>,
    ) -> Result<LakeSession, QueryError> {
        let limits = limits.into();
        // Everything a query reads, through a local lake's files in place.
        let lake = &Lake {
            store: InPlace::store_of(lake),
            ..lake.clone()
        };
        let found = catalog::list_tables(lake).await?;
        let mut databases: Vec<&str> = found.iter().map(|t| t.database.as_str()).collect();
        databases.dedup();
        let default_schema = match databases.as_slice() {
            [only] => *only,
            _ => "public",
        };

        let config = SessionConfig::new()
            .with_information_schema(true)
            .with_default_catalog_and_schema(CATALOG, default_schema)
            .with_target_partitions(limits.options().target_partitions)
            // Statistics would make planning read every listed file's footer
            // and turn all its columns' statistics into DataFusion's, a
            // quarter of a query's time over a lake's hundreds of hourly
            // files; they serve only join order and `count(*)` from footers.
            // The scans still prune row groups by the footers they read.
            .with_collect_statistics(false);
        // DataFusion caches listings forever by default; the lake output adds
        // chunks every minute, and a long-lived session must see them.
        let runtime = RuntimeEnvBuilder::new()
            .with_cache_manager(CacheManagerConfig::default().with_list_files_cache_limit(0))
            .with_memory_pool(limits.pool())
            .with_disk_manager_builder(QueryLimits::disk_manager())
            .build_arc()?;
        let ctx = SessionContext::new_with_config_rt(config, runtime);
        let lake_url = url::Url::parse(LAKE_URL).map_err(|e| QueryError::Plan(e.to_string()))?;
        // Through the manifests: a compaction in progress, or the files it
        // replaced and keeps for a grace period, never show an hour twice.
        let committed = Arc::new(levee_lake::committed::CommittedView::new(
            lake.store.clone(),
        ));
        ctx.register_object_store(&lake_url, committed.clone());
        functions::register(&ctx);

        let Some(catalog) = ctx.catalog(CATALOG) else {
            return Err(QueryError::Plan(format!("no catalog `{CATALOG}`")));
        };
        let mut registered = Vec::new();
        let mut skipped = Vec::new();
        for table in &found {
            let schema = database_schema(catalog.as_ref(), &table.database)?;
            // One unreadable table (a corrupt file, a bad catalog) must not
            // make the rest of the lake unqueryable; it is reported instead.
            match register_table(&ctx, lake, schema.as_ref(), table).await {
                Ok(tables) => registered.extend(tables),
                Err(e) => skipped.push(SkippedTable {
                    table: table.clone(),
                    error: e,
                }),
            }
        }

        let options = SQLOptions::new()
            .with_allow_ddl(false)
            .with_allow_dml(false)
            .with_allow_statements(false);
        Ok(LakeSession {
            ctx,
            store: lake.store.clone(),
            committed,
            location: lake.location.clone(),
            tables: registered,
            skipped,
            options,
            limits,
        })
    }

    /// Runs one read-only statement and gathers its result plus scan accounting.
    ///
    /// DDL, DML and `SET` are refused: the lake is written by the pipeline only.
    /// The query runs under the session's limits; going over one fails it
    /// with [`QueryError::Limit`].
    pub async fn sql(&self, sql: &str) -> Result<QueryResult, QueryError> {
        let _running = self.limits.admit()?;
        // Dropping the query's future on time-out drops its streams, which
        // stops the tasks DataFusion spawned for it.
        match tokio::time::timeout(self.limits.options().timeout, self.answer(sql)).await {
            Err(_) => Err(self.limits.timed_out()),
            Ok(Err(QueryError::Limit {
                limit: Limit::Memory,
                message,
            })) => Err(self.limits.out_of_memory(&message)),
            Ok(answer) => answer,
        }
    }

    async fn answer(&self, sql: &str) -> Result<QueryResult, QueryError> {
        let started = Instant::now();
        let df = statements::dataframe(self, sql).await?;
        let scanned = stats::scanned_tables(df.logical_plan())?;
        let task = Arc::new(df.task_ctx());
        let plan = limits::cooperative(df.create_physical_plan().await?)?;
        let schema = plan.schema();
        // The tables' totals take listings of their own: made while the
        // query runs, they add no wait to the answer.
        let (batches, (files_in_tables, partitions_total)) = futures::try_join!(
            async { Ok::<_, QueryError>(self.limits.collect(plan.clone(), task).await?) },
            self.totals(&scanned),
        )?;
        let elapsed = started.elapsed();

        let scan = stats::plan_scan(&plan)?;
        let stats = ScanStats {
            rows: batches.iter().map(RecordBatch::num_rows).sum(),
            elapsed,
            files_read: scan.json.files + scan.parquet.files,
            files_in_tables,
            bytes_scanned: scan.json.bytes + scan.parquet.bytes,
            partitions_read: scan.json.partitions + scan.parquet.partitions,
            partitions_total,
            json: scan.json,
            parquet: scan.parquet,
            whole: !scanned.wholes.is_empty(),
            damaged_files: scan.damaged,
        };
        Ok(QueryResult {
            schema,
            batches,
            stats,
        })
    }

    /// The data files and hours in the tables a query names, pruned or not.
    async fn totals(&self, scanned: &stats::Scanned) -> Result<(usize, usize), QueryError> {
        let (mut files, mut partitions) = (0, 0);
        // As the scans list them: without the files a compaction has not
        // committed yet, or replaced and keeps for a grace period.
        for t in &scanned.copies {
            let inv = tables::inventory(self.committed.as_ref(), &t.root, &t.extensions).await?;
            files += inv.files;
            partitions += inv.partitions.len();
        }
        // A whole table holds the files of the copy each hour is read from.
        for (t, by) in &scanned.wholes {
            let split = Split::of(&self.store, t, *by).await?;
            for hour in split.json.values().chain(split.parquet.values()) {
                files += hour.files.len();
            }
            partitions += split.json.len() + split.parquet.len();
        }
        Ok((files, partitions))
    }

    /// The tables registered at [`LakeSession::open`].
    pub fn tables(&self) -> &[LakeTable] {
        &self.tables
    }

    /// The tables found but not registered, with the reason; a CLI should
    /// show them, since their names will be "not found" in queries.
    pub fn skipped(&self) -> &[SkippedTable] {
        &self.skipped
    }

    /// The DataFusion session underneath, for callers that need more than
    /// [`LakeSession::sql`] (an HTTP API streaming results, say).
    pub fn context(&self) -> &SessionContext {
        &self.ctx
    }

    /// The lake as the user named it.
    pub fn location(&self) -> &str {
        &self.location
    }

    /// The lake's store.
    pub(crate) fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    /// What statements may do: read only.
    pub(crate) fn sql_options(&self) -> SQLOptions {
        self.options
    }
}

/// The schema for a database, made on first use.
fn database_schema(
    catalog: &dyn CatalogProvider,
    database: &str,
) -> Result<Arc<dyn SchemaProvider>, QueryError> {
    if let Some(schema) = catalog.schema(database) {
        return Ok(schema);
    }
    let schema: Arc<dyn SchemaProvider> = Arc::new(MemorySchemaProvider::new());
    catalog.register_schema(database, schema.clone())?;
    Ok(schema)
}
