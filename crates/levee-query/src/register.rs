//! Registering one lake table's two copies, and the whole table, with DataFusion.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::catalog::{SchemaProvider, TableProvider};
use datafusion::datasource::file_format::FileFormat;
use datafusion::datasource::file_format::file_compression_type::FileCompressionType;
use datafusion::datasource::file_format::json::JsonFormat;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::prelude::SessionContext;
use levee_lake::{Lake, PartitionBy, TableRef, catalog, properties};

use crate::QueryError;
use crate::json_source::LakeJsonFormat;
use crate::json_table::JsonChunks;
use crate::session::LakeTable;
use crate::tables::{self, FileKind, Format, Inventory};
use crate::whole::{PARQUET_CHUNK, WholeTable};

/// The lake's own store, registered under a name of ours: table URLs stay
/// relative to the lake's root whether it is a folder or a bucket.
pub(crate) const LAKE_URL: &str = "levee://lake/";
/// The partition columns, from the `dt=`/`hour=` folders, in folder order.
const PARTITION_COLUMNS: [&str; 2] = ["dt", "hour"];
/// A day-partitioned table's Parquet, and its whole table, have `dt` only:
/// the event-time column serves for the hour.
const DAY_COLUMNS: [&str; 1] = ["dt"];
/// JSON rows read to guess a table's schema when the catalog has none.
const JSON_INFER_ROWS: usize = 10_000;

/// How much of a Parquet file's tail is fetched to find its footer.
/// DataFusion's default, 512 KiB, read most of every hour's file (often
/// under 1 MiB) on every query; compaction's footer and page indexes are a
/// few KiB (about 7 for the bench's 30-odd columns), so this still takes
/// them in one request, which matters on S3.
const METADATA_SIZE_HINT: usize = 64 * 1024;

/// The Parquet reader every Parquet listing uses.
fn parquet_format() -> ParquetFormat {
    ParquetFormat::default().with_metadata_size_hint(Some(METADATA_SIZE_HINT))
}

/// What one copy of a table holds at open.
struct Survey {
    format: Format,
    /// The kinds of file to read: those found, and always the usual one, so
    /// chunks written after open are seen.
    kinds: Vec<FileKind>,
    /// The kind to infer a schema from, when there is a file of one.
    infer_from: Option<FileKind>,
    /// The JSON copy only: the table has Parquet chunks (`chunks/`), which
    /// give its columns when it has no JSON chunk.
    parquet_chunks: bool,
}

async fn survey(lake: &Lake, table: &TableRef, format: Format) -> Result<Survey, QueryError> {
    let all = format.kinds();
    let extensions: Vec<String> = all.iter().map(|k| k.extension.clone()).collect();
    let inv: Inventory =
        tables::inventory(lake.store.as_ref(), &format.root(table), &extensions).await?;
    let found: Vec<FileKind> = all
        .iter()
        .filter(|k| inv.extensions.contains(&k.extension))
        .cloned()
        .collect();
    let mut kinds = all[..1].to_vec();
    kinds.extend(found.iter().filter(|k| **k != all[0]).cloned());
    let parquet_chunks = format == Format::Json
        && tables::inventory(
            lake.store.as_ref(),
            &table.parquet_chunk_root(),
            &[PARQUET_CHUNK.to_owned()],
        )
        .await?
        .files
            > 0;
    Ok(Survey {
        format,
        kinds,
        infer_from: found.into_iter().next(),
        parquet_chunks,
    })
}

/// Registers both copies of one table under `schema`, and the whole table
/// that reads each hour from one of them; returns what it registered,
/// nothing for a table with neither a catalog nor data files.
pub(crate) async fn register_table(
    ctx: &SessionContext,
    lake: &Lake,
    schema: &dyn SchemaProvider,
    table: &TableRef,
) -> Result<Vec<LakeTable>, QueryError> {
    // A compacted table's catalog gives its columns, and every JSON kind is
    // registered (each scan reads only those its hour listing finds), so
    // nothing is listed here: a lake keeps its JSON chunks, sixty an hour,
    // and listing them all made most of a query's start-up.
    let catalog_schema = catalog::load_schema(lake, table).await?;
    let mut copies = Vec::new();
    for format in Format::COPIES {
        copies.push(match catalog_schema {
            Some(_) => Survey {
                format,
                kinds: format.kinds(),
                infer_from: None,
                parquet_chunks: false,
            },
            None => survey(lake, table, format).await?,
        });
    }
    let props = properties::read_properties(lake, table).await?;
    let by = props
        .as_ref()
        .map(|p| p.parquet.partition_by)
        .unwrap_or_default();
    let time_field: Option<Arc<str>> = props.map(|p| p.time_field.as_str().into());
    // JSON chunks are hourly whatever the Parquet is.
    let parquet_columns: &[&str] = match by {
        PartitionBy::Hour => &PARTITION_COLUMNS,
        PartitionBy::Day => &DAY_COLUMNS,
    };
    let Some(file_schemas) =
        file_schemas(ctx, table, catalog_schema, &copies, time_field.clone()).await?
    else {
        return Ok(Vec::new());
    };

    let mut providers: Vec<(Format, Arc<dyn TableProvider>)> = Vec::new();
    for (copy, file_schema) in copies.iter().zip(&file_schemas) {
        let format = copy.format;
        let err = |e: datafusion::error::DataFusionError| table_error(format, table, e.into());
        let columns = match format {
            Format::Json => &PARTITION_COLUMNS[..],
            _ => parquet_columns,
        };
        let file_schema = match format {
            Format::Json => file_schema.clone(),
            _ => string_views(file_schema),
        };
        let file_schema = &file_schema;
        let mut listings = listings(copy, table, file_schema, time_field.clone(), columns)?;
        let provider: Arc<dyn TableProvider> = match format {
            Format::Json => Arc::new(
                JsonChunks::try_new(
                    listings,
                    parquet_chunk_listing(
                        table,
                        file_schema,
                        time_field.clone(),
                        &PARTITION_COLUMNS,
                    )?,
                    lake.store.clone(),
                    table.clone(),
                )
                .map_err(err)?,
            ),
            _ => Arc::new(one_listing(format, table, &mut listings)?),
        };
        providers.push((format, provider));
    }
    // The whole table reads both copies with the JSON copy's columns: the
    // catalog's once there is one, and before that the chunks', which are
    // what most of its hours are read from.
    if let (Some(json), Some(parquet)) = (
        copies.iter().find(|c| c.format == Format::Json),
        copies.iter().find(|c| c.format == Format::Parquet),
    ) {
        let whole_schema = &file_schemas[0];
        let err =
            |e: datafusion::error::DataFusionError| table_error(Format::Whole, table, e.into());
        // Both with the Parquet's partition columns, so they agree.
        let chunks = JsonChunks::try_new(
            listings(
                json,
                table,
                whole_schema,
                time_field.clone(),
                parquet_columns,
            )?,
            parquet_chunk_listing(table, whole_schema, time_field.clone(), parquet_columns)?,
            lake.store.clone(),
            table.clone(),
        )
        .map_err(err)?;
        let mut parts = listings(
            parquet,
            table,
            whole_schema,
            time_field.clone(),
            parquet_columns,
        )?;
        let files = one_listing(Format::Whole, table, &mut parts)?;
        let whole = WholeTable::try_new(table.clone(), lake.store.clone(), chunks, files, by)
            .map_err(err)?;
        providers.push((Format::Whole, Arc::new(whole)));
    }

    let mut out = Vec::new();
    for (format, provider) in providers {
        let err = |e: datafusion::error::DataFusionError| table_error(format, table, e.into());
        let name = format.sql_name(table);
        let table_schema = provider.schema();
        schema.register_table(name.clone(), provider).map_err(err)?;
        out.push(LakeTable {
            table: table.clone(),
            format,
            name,
            schema: table_schema,
        });
    }
    Ok(out)
}

/// One listing per kind of file of a copy, all with `file_schema`.
fn listings(
    copy: &Survey,
    table: &TableRef,
    file_schema: &SchemaRef,
    time_field: Option<Arc<str>>,
    partition_columns: &[&str],
) -> Result<Vec<ListingTable>, QueryError> {
    let format = copy.format;
    let mut out = Vec::new();
    for kind in &copy.kinds {
        let config = ListingTableConfig::new(table_url(format, table)?)
            .with_listing_options(listing_options(
                format,
                kind,
                time_field.clone(),
                partition_columns,
            ))
            .with_schema(file_schema.clone());
        out.push(ListingTable::try_new(config).map_err(|e| table_error(format, table, e.into()))?);
    }
    Ok(out)
}

/// The listing of the Parquet chunks (`chunks/`), read by the JSON copy's
/// reader as the NDJSON they were made from, into `file_schema`.
fn parquet_chunk_listing(
    table: &TableRef,
    file_schema: &SchemaRef,
    time_field: Option<Arc<str>>,
    partition_columns: &[&str],
) -> Result<ListingTable, QueryError> {
    let kind = FileKind {
        extension: PARQUET_CHUNK.to_owned(),
        compression: FileCompressionType::UNCOMPRESSED,
    };
    let url = ListingTableUrl::parse(format!("{LAKE_URL}{}/", table.parquet_chunk_root()))?;
    let config = ListingTableConfig::new(url)
        .with_listing_options(listing_options(
            Format::Json,
            &kind,
            time_field,
            partition_columns,
        ))
        .with_schema(file_schema.clone());
    ListingTable::try_new(config).map_err(|e| table_error(Format::Json, table, e.into()))
}

/// The Parquet copy's only listing.
fn one_listing(
    format: Format,
    table: &TableRef,
    listings: &mut Vec<ListingTable>,
) -> Result<ListingTable, QueryError> {
    listings
        .pop()
        .ok_or_else(|| table_error(format, table, QueryError::Plan("no listing".into())))
}

/// Each copy's file columns, in the order of `copies`. The catalog's schema,
/// which compaction widens to hold every hour, is the authority for both
/// copies. Before the first compaction each copy's columns are inferred from
/// its files, and a copy without files borrows the other's, so `_parquet`
/// exists from the start; the event-time column that the table's properties
/// name, text in the chunks, is read as the timestamp compaction makes it.
/// `None` when there is no catalog and no data file.
async fn file_schemas(
    ctx: &SessionContext,
    table: &TableRef,
    catalog_schema: Option<SchemaRef>,
    copies: &[Survey],
    time_field: Option<Arc<str>>,
) -> Result<Option<Vec<SchemaRef>>, QueryError> {
    if let Some(schema) = catalog_schema {
        let schema = without_partition_columns(&schema);
        return Ok(Some(copies.iter().map(|_| schema.clone()).collect()));
    }
    let state = ctx.state();
    let mut inferred = Vec::new();
    for copy in copies {
        let schema = match &copy.infer_from {
            // A table written as Parquet only: its chunks' columns, merged.
            None if copy.parquet_chunks => {
                let url =
                    ListingTableUrl::parse(format!("{LAKE_URL}{}/", table.parquet_chunk_root()))?;
                let s = ListingOptions::new(Arc::new(parquet_format()))
                    .with_file_extension(PARQUET_CHUNK)
                    .infer_schema(&state, &url)
                    .await
                    .map_err(|e| table_error(copy.format, table, e.into()))?;
                Some(without_partition_columns(&s))
            }
            None => None,
            Some(kind) => {
                let s = listing_options(copy.format, kind, time_field.clone(), &PARTITION_COLUMNS)
                    .infer_schema(&state, &table_url(copy.format, table)?)
                    .await
                    .map_err(|e| table_error(copy.format, table, e.into()))?;
                let s = without_partition_columns(&s);
                Some(match &time_field {
                    Some(t) => with_event_time(&s, t),
                    None => s,
                })
            }
        };
        inferred.push(schema);
    }
    let Some(fallback) = inferred.iter().flatten().next().cloned() else {
        return Ok(None);
    };
    Ok(Some(
        inferred
            .into_iter()
            .map(|s| s.unwrap_or_else(|| fallback.clone()))
            .collect(),
    ))
}

/// How one kind of file of a copy is read.
fn listing_options(
    format: Format,
    kind: &FileKind,
    time_field: Option<Arc<str>>,
    partition_columns: &[&str],
) -> ListingOptions {
    let file_format: Arc<dyn FileFormat> = match format {
        Format::Json => Arc::new(LakeJsonFormat::new(
            JsonFormat::default()
                .with_file_compression_type(kind.compression)
                .with_schema_infer_max_rec(JSON_INFER_ROWS),
            time_field,
        )),
        // The whole table is made of the two copies' listings, never its own.
        Format::Parquet | Format::Whole => Arc::new(parquet_format()),
    };
    ListingOptions::new(file_format)
        .with_file_extension(kind.extension.clone())
        .with_table_partition_cols(
            partition_columns
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

fn table_error(format: Format, table: &TableRef, e: QueryError) -> QueryError {
    QueryError::Table {
        table: format!("{}.{}", table.database, format.sql_name(table)),
        message: e.to_string(),
    }
}

/// Makes the text column `time_field` a timestamp, typed as compaction
/// writes it (Arrow's JSON reader parses the RFC 3339 text).
fn with_event_time(schema: &Schema, time_field: &str) -> SchemaRef {
    let fields: Vec<_> = schema
        .fields()
        .iter()
        .map(|f| match f.data_type() {
            DataType::Utf8 if f.name() == time_field => Arc::new(Field::new(
                time_field,
                DataType::Timestamp(TimeUnit::Microsecond, Some(levee_lake::UTC_OFFSET.into())),
                true,
            )),
            _ => f.clone(),
        })
        .collect();
    Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
}

/// The Parquet copy's text columns read as string views, not strings:
/// compaction writes them dictionary-encoded, and a view of a dictionary's
/// value is made without copying it, where a string column copies every
/// value of every row. A third less time for a `group by` on a text column
/// over 5 million events. (The whole table keeps strings, as its JSON hours
/// are read into them.)
fn string_views(schema: &Schema) -> SchemaRef {
    let fields: Vec<_> = schema
        .fields()
        .iter()
        .map(|f| match f.data_type() {
            DataType::Utf8 => Arc::new(f.as_ref().clone().with_data_type(DataType::Utf8View)),
            _ => f.clone(),
        })
        .collect();
    Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
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
