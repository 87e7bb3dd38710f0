//! Reading JSON chunks into the catalog's columns, widened ones included.
//!
//! Compaction widens a column whose values disagree (a number here, a string
//! there) to string, and writes the numbers as their JSON text. The catalog
//! schema then says string, while older chunks still hold numbers. DataFusion's
//! JSON reader refuses a number in a string column and offers no option to
//! allow it, so this is its reader with one change: Arrow's
//! `coerce_primitive`, which reads numbers and booleans into string columns
//! as their text, as compaction does. Everything else (schema inference,
//! projection, partition columns, metrics) is DataFusion's.
//!
//! A damaged chunk does not fail the query. Its readable part is read as
//! compaction reads it (the whole lines before a broken frame; every line
//! that is a JSON object), and the chunk is named, with what was skipped, in
//! the scan's [`DamageLog`], which the query's accounting reports.
//!
//! In a table with an event-time column, a chunk written before the table
//! had it may hold a record's own `time` that is no timestamp. The decoder
//! refuses such a chunk; it is then read as compaction reads it, the
//! clashing fields renamed (`time` becomes `time_`), so the column is null
//! there, as in the Parquet copy. Only a query that reads the column meets
//! the refusal, so only it sees that chunk's `time_`; others read the chunk
//! as it is, where `time_` is absent.

use std::io::{Cursor, Read};
use std::sync::{Arc, Mutex};

use arrow_json::ReaderBuilder;
use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::Session;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{DataFusionError, Result, Statistics};
use datafusion::datasource::file_format::FileFormat;
use datafusion::datasource::file_format::file_compression_type::FileCompressionType;
use datafusion::datasource::file_format::json::JsonFormat;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::{
    FileOpenFuture, FileOpener, FileScanConfig, FileSource,
};
use datafusion::datasource::projection::{ProjectionOpener, SplitProjection};
use datafusion::datasource::table_schema::TableSchema;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::projection::ProjectionExprs;
use datafusion::physical_plan::metrics::ExecutionPlanMetricsSet;
use datafusion::physical_plan::{ExecutionPlan, apply_expression_roots};
use futures::StreamExt;
use levee_lake::ChunkCompression;
use levee_lake::compact::{ChunkText, fit_records, read_chunk_text, read_records};
use object_store::path::Path;
use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt};

use crate::stats::DamagedFile;

/// DataFusion's JSON format, reading through [`LakeJsonSource`].
#[derive(Debug)]
pub(crate) struct LakeJsonFormat {
    inner: JsonFormat,
    /// The table's event-time column, if it has one.
    time_field: Option<Arc<str>>,
}

impl LakeJsonFormat {
    pub fn new(inner: JsonFormat, time_field: Option<Arc<str>>) -> LakeJsonFormat {
        LakeJsonFormat { inner, time_field }
    }
}

#[async_trait]
impl FileFormat for LakeJsonFormat {
    fn get_ext(&self) -> String {
        self.inner.get_ext()
    }

    fn get_ext_with_compression(&self, c: &FileCompressionType) -> Result<String> {
        self.inner.get_ext_with_compression(c)
    }

    fn compression_type(&self) -> Option<FileCompressionType> {
        self.inner.compression_type()
    }

    async fn infer_schema(
        &self,
        state: &dyn Session,
        store: &Arc<dyn ObjectStore>,
        objects: &[ObjectMeta],
    ) -> Result<SchemaRef> {
        self.inner.infer_schema(state, store, objects).await
    }

    async fn infer_stats(
        &self,
        state: &dyn Session,
        store: &Arc<dyn ObjectStore>,
        table_schema: SchemaRef,
        object: &ObjectMeta,
    ) -> Result<Statistics> {
        self.inner
            .infer_stats(state, store, table_schema, object)
            .await
    }

    async fn create_physical_plan(
        &self,
        state: &dyn Session,
        conf: FileScanConfig,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        // The config's source came from `file_source` below; DataFusion's
        // format only adds the compression to it.
        self.inner.create_physical_plan(state, conf).await
    }

    fn file_source(&self, table_schema: TableSchema) -> Arc<dyn FileSource> {
        Arc::new(LakeJsonSource::new(table_schema, self.time_field.clone()))
    }
}

/// The scan's configuration: which columns, how many rows a batch.
#[derive(Clone)]
pub(crate) struct LakeJsonSource {
    table_schema: TableSchema,
    batch_size: Option<usize>,
    metrics: ExecutionPlanMetricsSet,
    projection: SplitProjection,
    time_field: Option<Arc<str>>,
    /// Shared by every copy of the source a plan makes, so the plan's
    /// accounting finds every damaged chunk of its scan.
    damage: DamageLog,
}

/// The chunks a scan could not read whole, and what it skipped of each.
#[derive(Clone, Debug, Default)]
pub(crate) struct DamageLog(Arc<Mutex<Vec<DamagedFile>>>);

impl DamageLog {
    fn push(&self, file: &Path, problem: String) {
        let damaged = DamagedFile {
            file: file.to_string(),
            problem,
        };
        // A poisoned lock only means another opener panicked; the list is whole.
        match self.0.lock() {
            Ok(mut list) => list.push(damaged),
            Err(poisoned) => poisoned.into_inner().push(damaged),
        }
    }

    /// What was logged so far.
    pub fn files(&self) -> Vec<DamagedFile> {
        match self.0.lock() {
            Ok(list) => list.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }
}

impl LakeJsonSource {
    /// The damaged chunks this scan met.
    pub fn damage(&self) -> &DamageLog {
        &self.damage
    }
}

/// Rows per batch when DataFusion has not said.
const DEFAULT_BATCH_SIZE: usize = 8192;

impl LakeJsonSource {
    fn new(table_schema: TableSchema, time_field: Option<Arc<str>>) -> LakeJsonSource {
        LakeJsonSource {
            projection: SplitProjection::unprojected(&table_schema),
            time_field,
            table_schema,
            batch_size: None,
            metrics: ExecutionPlanMetricsSet::new(),
            damage: DamageLog::default(),
        }
    }
}

impl FileSource for LakeJsonSource {
    fn create_file_opener(
        &self,
        object_store: Arc<dyn ObjectStore>,
        base_config: &FileScanConfig,
        _partition: usize,
    ) -> Result<Arc<dyn FileOpener>> {
        let file_schema = self.table_schema.file_schema();
        let opener = Arc::new(LakeJsonOpener {
            batch_size: self.batch_size.unwrap_or(DEFAULT_BATCH_SIZE),
            projected_schema: Arc::new(file_schema.project(&self.projection.file_indices)?),
            compression: base_config.file_compression_type,
            store: object_store,
            time_field: self.time_field.clone(),
            damage: self.damage.clone(),
        });
        ProjectionOpener::try_new(self.projection.clone(), opener, file_schema)
    }

    fn table_schema(&self) -> &TableSchema {
        &self.table_schema
    }

    fn with_batch_size(&self, batch_size: usize) -> Arc<dyn FileSource> {
        let mut source = self.clone();
        source.batch_size = Some(batch_size);
        Arc::new(source)
    }

    fn try_pushdown_projection(
        &self,
        projection: &ProjectionExprs,
    ) -> Result<Option<Arc<dyn FileSource>>> {
        let mut source = self.clone();
        let merged = self.projection.source.try_merge(projection)?;
        source.projection = SplitProjection::new(self.table_schema.file_schema(), &merged);
        Ok(Some(Arc::new(source)))
    }

    fn projection(&self) -> Option<&ProjectionExprs> {
        Some(&self.projection.source)
    }

    fn metrics(&self) -> &ExecutionPlanMetricsSet {
        &self.metrics
    }

    fn file_type(&self) -> &str {
        "json"
    }

    fn apply_expressions(
        &self,
        f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        apply_expression_roots(self.projection.source.iter(), f)
    }

    /// Chunks are read whole: they are minute-sized, and mostly compressed,
    /// which cannot be split anyway.
    fn supports_repartitioning(&self) -> bool {
        false
    }
}

/// Opens one chunk: fetch, decompress, decode.
struct LakeJsonOpener {
    batch_size: usize,
    projected_schema: SchemaRef,
    compression: FileCompressionType,
    store: Arc<dyn ObjectStore>,
    time_field: Option<Arc<str>>,
    damage: DamageLog,
}

impl FileOpener for LakeJsonOpener {
    fn open(&self, file: PartitionedFile) -> Result<FileOpenFuture> {
        let store = self.store.clone();
        let schema = self.projected_schema.clone();
        let batch_size = self.batch_size;
        let compression = self.compression;
        let time_field = self.time_field.clone();
        let damage = self.damage.clone();
        Ok(Box::pin(async move {
            let location = &file.object_meta.location;
            let nothing = || Ok(futures::stream::empty().boxed());
            // Whole, into memory: a chunk is a minute of one writer's events.
            let bytes = match store.get(location).await {
                Ok(got) => got.bytes().await?,
                // Compaction moved it to the quarantine since the listing.
                Err(object_store::Error::NotFound { .. }) => {
                    damage.push(location, "gone since the query listed it".to_owned());
                    return nothing();
                }
                Err(e) => return Err(e.into()),
            };
            // A Parquet chunk (`chunks/`) is read as the NDJSON it was made from.
            let kind = if location.as_ref().ends_with(".parquet") {
                Some(ChunkCompression::Parquet)
            } else {
                chunk_compression(compression)
            };
            let text = match kind {
                Some(c) => read_chunk_text(c, &bytes, MAX_CHUNK_BYTES),
                None => {
                    let mut data = Vec::new();
                    compression
                        .convert_read(Cursor::new(bytes))?
                        .read_to_end(&mut data)?;
                    Ok(ChunkText {
                        text: data,
                        damage: None,
                    })
                }
            };
            let ChunkText { text, damage: cut } = match text {
                Ok(text) => text,
                Err(e) => {
                    damage.push(location, format!("{e}; skipped"));
                    return nothing();
                }
            };
            let builder = || {
                ReaderBuilder::new(schema.clone())
                    .with_batch_size(batch_size)
                    .with_coerce_primitive(true)
            };
            let mut bad_lines = None;
            let batches = match builder().build(&text[..])?.collect::<Result<Vec<_>, _>>() {
                Ok(batches) => batches,
                Err(refused) => {
                    let mut read = read_records(&text, time_field.as_deref());
                    // The table's types may be declared ones the text does
                    // not hold as it is: cast as compaction casts.
                    let nulled = fit_records(&mut read.records, &schema);
                    if nulled > 0 {
                        damage.push(
                            location,
                            format!(
                                "{nulled} values did not fit the table's types and read as null"
                            ),
                        );
                    }
                    if read.bad_lines > 0 {
                        bad_lines = Some((read.bad_lines, read.first_bad_line));
                    }
                    let mut decoder = builder().build_decoder()?;
                    let mut batches = Vec::new();
                    for rows in read.records.chunks(batch_size.max(1)) {
                        decoder
                            .serialize(rows)
                            .and_then(|()| decoder.flush())
                            .map(|batch| batches.extend(batch))
                            .map_err(|e| {
                                DataFusionError::Execution(format!(
                                    "{location}: {e} (first refused as: {refused})"
                                ))
                            })?;
                    }
                    batches
                }
            };
            if let Some(cut) = cut {
                let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
                damage.push(
                    location,
                    format!("{cut}; read the {rows} rows before the damage"),
                );
            }
            if let Some((n, first)) = bad_lines {
                damage.push(
                    location,
                    format!(
                        "{n} lines were not JSON objects and were skipped; the first: {}",
                        first.unwrap_or_default()
                    ),
                );
            }
            Ok(futures::stream::iter(batches.into_iter().map(Ok)).boxed())
        }))
    }
}

/// The most text one chunk may decompress to: compaction's own limit.
const MAX_CHUNK_BYTES: u64 = 1 << 30;

/// The lake's name for a listing's compression; `None` for those no lake
/// table registers.
fn chunk_compression(c: FileCompressionType) -> Option<ChunkCompression> {
    if c == FileCompressionType::ZSTD {
        Some(ChunkCompression::Zstd)
    } else if c == FileCompressionType::GZIP {
        Some(ChunkCompression::Gzip)
    } else if c == FileCompressionType::UNCOMPRESSED {
        Some(ChunkCompression::None)
    } else {
        None
    }
}
