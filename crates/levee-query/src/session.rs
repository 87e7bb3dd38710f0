//! The SQL session over a lake: every table registered twice, Athena-style.

use std::sync::Arc;
use std::time::Instant;

use datafusion::arrow::datatypes::{DataType, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::{CatalogProvider, MemorySchemaProvider, SchemaProvider};
use datafusion::datasource::file_format::file_compression_type::FileCompressionType;
use datafusion::datasource::file_format::json::JsonFormat;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::execution::cache::cache_manager::CacheManagerConfig;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::physical_plan::collect;
use datafusion::prelude::{SQLOptions, SessionConfig, SessionContext};
use levee_lake::{Lake, TableRef, catalog};
use object_store::ObjectStore;

use crate::stats::{self, ScanStats};
use crate::tables::{self, Format, Inventory};
use crate::{QueryError, functions};

/// DataFusion's catalog that holds one schema per lake database.
const CATALOG: &str = "datafusion";
/// The lake's own store, registered under a name of ours: table URLs stay
/// relative to the lake's root whether it is a folder or a bucket.
const LAKE_URL: &str = "levee://lake/";
/// The partition columns, from the `dt=`/`hour=` folders, in folder order.
const PARTITION_COLUMNS: [&str; 2] = ["dt", "hour"];
/// JSON rows read to guess a table's schema when the catalog has none.
const JSON_INFER_ROWS: usize = 10_000;

/// A SQL session over a lake.
///
/// Each table `<db>/<table>` appears as `"<db>".<table>_json` and
/// `"<db>".<table>_parquet`, as Glue and Athena had them, with two partition
/// columns read from the folders:
///
/// - `dt`, text `'YYYY-MM-DD'`: text order is date order, so
///   `where dt >= '2018-09-01'` and `group by dt` work as written;
/// - `hour`, text `'00'`..`'23'`, as Glue's crawler typed it: write
///   `hour = '05'`. Text keeps the folder's zero, so an equality on `dt` and
///   `hour` becomes a listing of that one folder.
///
/// A filter on either prunes whole folders before any file is opened. When
/// the lake holds one database it is also the default schema, so its tables
/// can be named without it.
pub struct LakeSession {
    ctx: SessionContext,
    store: Arc<dyn ObjectStore>,
    tables: Vec<LakeTable>,
    options: SQLOptions,
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
    /// Opens the lake and registers every table twice: `<table>_json` and
    /// `<table>_parquet`, under a schema named after the database.
    ///
    /// A copy with no files yet borrows the other copy's schema, so both
    /// names always exist; a table with no data files at all is skipped.
    pub async fn open(lake: &Lake) -> Result<LakeSession, QueryError> {
        let found = catalog::list_tables(lake).await?;
        let mut databases: Vec<&str> = found.iter().map(|t| t.database.as_str()).collect();
        databases.dedup();
        let default_schema = match databases.as_slice() {
            [only] => *only,
            _ => "public",
        };

        let config = SessionConfig::new()
            .with_information_schema(true)
            .with_default_catalog_and_schema(CATALOG, default_schema);
        // DataFusion caches listings forever by default; the lake output adds
        // chunks every minute, and a long-lived session must see them.
        let runtime = RuntimeEnvBuilder::new()
            .with_cache_manager(CacheManagerConfig::default().with_list_files_cache_limit(0))
            .build_arc()?;
        let ctx = SessionContext::new_with_config_rt(config, runtime);
        let lake_url = url::Url::parse(LAKE_URL).map_err(|e| QueryError::Plan(e.to_string()))?;
        ctx.register_object_store(&lake_url, lake.store.clone());
        functions::register(&ctx);

        let Some(catalog) = ctx.catalog(CATALOG) else {
            return Err(QueryError::Plan(format!("no catalog `{CATALOG}`")));
        };
        let mut registered = Vec::new();
        for table in &found {
            let schema = database_schema(catalog.as_ref(), &table.database)?;
            registered.extend(register_table(&ctx, lake, schema.as_ref(), table).await?);
        }

        let options = SQLOptions::new()
            .with_allow_ddl(false)
            .with_allow_dml(false)
            .with_allow_statements(false);
        Ok(LakeSession {
            ctx,
            store: lake.store.clone(),
            tables: registered,
            options,
        })
    }

    /// Runs one read-only statement and gathers its result plus scan accounting.
    ///
    /// DDL, DML and `SET` are refused: the lake is written by the pipeline only.
    pub async fn sql(&self, sql: &str) -> Result<QueryResult, QueryError> {
        let started = Instant::now();
        let df = self.ctx.sql_with_options(sql, self.options).await?;
        let scanned = stats::scanned_tables(df.logical_plan())?;
        let task = Arc::new(df.task_ctx());
        let plan = df.create_physical_plan().await?;
        let schema = plan.schema();
        let batches = collect(plan.clone(), task).await?;
        let elapsed = started.elapsed();

        let scan = stats::plan_scan(&plan)?;
        let mut stats = ScanStats {
            rows: batches.iter().map(RecordBatch::num_rows).sum(),
            elapsed,
            files_read: scan.files,
            bytes_scanned: scan.bytes,
            partitions_read: scan.partitions,
            ..ScanStats::default()
        };
        for t in &scanned {
            let inv = tables::inventory(self.store.as_ref(), &t.root, &t.extension).await?;
            stats.files_in_tables += inv.files;
            stats.partitions_total += inv.partitions.len();
        }
        Ok(QueryResult {
            schema,
            batches,
            stats,
        })
    }

    /// The tables registered at [`LakeSession::open`].
    pub fn tables(&self) -> &[LakeTable] {
        &self.tables
    }

    /// The DataFusion session underneath, for callers that need more than
    /// [`LakeSession::sql`] (an HTTP API streaming results, say).
    pub fn context(&self) -> &SessionContext {
        &self.ctx
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

/// How each copy is read.
fn listing_options(format: Format) -> ListingOptions {
    let file_format: Arc<dyn datafusion::datasource::file_format::FileFormat> = match format {
        Format::Json => Arc::new(
            JsonFormat::default()
                .with_file_compression_type(FileCompressionType::ZSTD)
                .with_schema_infer_max_rec(JSON_INFER_ROWS),
        ),
        Format::Parquet => Arc::new(ParquetFormat::default()),
    };
    ListingOptions::new(file_format)
        .with_file_extension(format.extension())
        .with_table_partition_cols(
            PARTITION_COLUMNS
                .iter()
                .map(|c| ((*c).to_owned(), DataType::Utf8))
                .collect(),
        )
}

fn table_url(format: Format, table: &TableRef) -> Result<ListingTableUrl, QueryError> {
    Ok(ListingTableUrl::parse(format!(
        "{LAKE_URL}{}/",
        format.root(table)
    ))?)
}

/// Each copy's file columns. The catalog's schema, which compaction widens
/// to hold every hour, is the authority for both copies. Before the first
/// compaction each copy's columns are inferred from its files, and a copy
/// without files borrows the other's, so `_parquet` exists from the start.
/// `None` when the table has no catalog and no data files.
async fn file_schemas(
    ctx: &SessionContext,
    lake: &Lake,
    table: &TableRef,
) -> Result<Option<Vec<(Format, SchemaRef)>>, QueryError> {
    if let Some(schema) = catalog::load_schema(lake, table).await? {
        let schema = without_partition_columns(&schema);
        return Ok(Some(
            Format::ALL.iter().map(|f| (*f, schema.clone())).collect(),
        ));
    }
    let state = ctx.state();
    let mut inferred = Vec::new();
    for format in Format::ALL {
        let inv: Inventory = tables::inventory(
            lake.store.as_ref(),
            &format.root(table),
            &format.extension(),
        )
        .await?;
        let schema = if inv.files == 0 {
            None
        } else {
            let s = listing_options(format)
                .infer_schema(&state, &table_url(format, table)?)
                .await
                .map_err(|e| table_error(format, table, e.into()))?;
            Some(without_partition_columns(&s))
        };
        inferred.push((format, schema));
    }
    let Some(fallback) = inferred.iter().find_map(|(_, s)| s.clone()) else {
        return Ok(None);
    };
    Ok(Some(
        inferred
            .into_iter()
            .map(|(f, s)| (f, s.unwrap_or_else(|| fallback.clone())))
            .collect(),
    ))
}

fn table_error(format: Format, table: &TableRef, e: QueryError) -> QueryError {
    QueryError::Table {
        table: format!("{}.{}", table.database, format.sql_name(table)),
        message: e.to_string(),
    }
}

/// Registers both copies of one table; returns what it registered.
async fn register_table(
    ctx: &SessionContext,
    lake: &Lake,
    schema: &dyn SchemaProvider,
    table: &TableRef,
) -> Result<Vec<LakeTable>, QueryError> {
    let Some(schemas) = file_schemas(ctx, lake, table).await? else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for (format, file_schema) in schemas {
        let config = ListingTableConfig::new(table_url(format, table)?)
            .with_listing_options(listing_options(format))
            .with_schema(file_schema);
        let provider =
            ListingTable::try_new(config).map_err(|e| table_error(format, table, e.into()))?;
        let name = format.sql_name(table);
        let table_schema = datafusion::catalog::TableProvider::schema(&provider);
        schema
            .register_table(name.clone(), Arc::new(provider))
            .map_err(|e| table_error(format, table, e.into()))?;
        out.push(LakeTable {
            table: table.clone(),
            format,
            name,
            schema: table_schema,
        });
    }
    Ok(out)
}

/// Drops file columns named like a partition column: the folder is the
/// authority, and two columns of one name would make every query ambiguous.
fn without_partition_columns(schema: &Schema) -> SchemaRef {
    let fields: Vec<_> = schema
        .fields()
        .iter()
        .filter(|f| !PARTITION_COLUMNS.contains(&f.name().as_str()))
        .cloned()
        .collect();
    Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
}
