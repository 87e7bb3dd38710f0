//! Writing one hour's rows as Parquet files, starting a new file when one is full.
//!
//! Rows are sorted by the table's sort column within each row group: the
//! writer gathers a run of batches (up to a row group's rows, or
//! [`SORT_RUN_BYTES`] of Arrow memory, whichever comes first), sorts it
//! (unless it is in order already, as chunks written in event-time order
//! are), and writes it as one row group. A whole hour is never sorted at once,
//! so memory stays bounded whatever the hour's size; an hour's files and
//! row groups follow the order its chunks were read in (by chunk name:
//! minute, then writer), so they are near time order too.

use std::cmp::Ordering;

use arrow::array::{Array, ArrayRef, RecordBatch, StructArray, make_comparator};
use arrow::compute::{
    SortOptions, concat, concat_batches, interleave_record_batch, sort_to_indices,
};
use arrow::datatypes::{DataType, Fields, SchemaRef};
use object_store::ObjectStoreExt;
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;

use super::CompactOptions;
use super::part_file::{IdleWorkers, PartFile};
use super::report::OutputFile;
use crate::properties::{ColumnName, ParquetLayout, TableProperties};
use crate::{Lake, LakeError, Partition, TableRef};

/// Arrow memory a sort run may hold. A run is sorted into a new batch
/// beside the old, so sorting costs about twice this: 128 MiB of the
/// 512 MiB compaction budget. At the bench's ~790-byte events, a run is
/// about 100,000 rows: a row group as large as DuckDB's (122,880 rows).
pub(crate) const SORT_RUN_BYTES: usize = 64 << 20;

/// Pieces a sort run in order is written as, unjoined; more are joined
/// into one batch first.
const RUN_PIECES: usize = 3;

/// What a table's layout settings make of its Parquet files.
#[derive(Clone, Debug, Default)]
pub(crate) struct FileLayout {
    /// The column rows are sorted by within a row group: the table's
    /// `sort_by`, else its event-time column; none for a table with
    /// neither (written before it had properties).
    pub sort_by: Option<ColumnName>,
    /// Columns given bloom filters.
    pub bloom_filters: Vec<ColumnName>,
    /// Bytes per file, when the table sets it.
    pub target_file_size: Option<u64>,
}

impl FileLayout {
    /// The layout the table's properties ask for; the default (no sort,
    /// no bloom filters) for a table without.
    pub fn of(props: Option<&TableProperties>) -> FileLayout {
        let Some(props) = props else {
            return FileLayout::default();
        };
        let ParquetLayout {
            sort_by,
            bloom_filters,
            target_file_size,
            ..
        } = &props.parquet;
        FileLayout {
            sort_by: sort_by
                .clone()
                .or_else(|| ColumnName::new(props.time_field.as_str()).ok()),
            bloom_filters: bloom_filters.clone(),
            target_file_size: *target_file_size,
        }
    }
}

/// Parquet settings for the lake: zstd, statistics down to pages (so the
/// page index is written), row groups sized for scans, bloom filters on
/// the columns the table names. An integer or timestamp sort column (the
/// event time, by default) is delta-encoded, not dictionary-encoded: its
/// values are mostly distinct, and sorted within a row group, so the
/// deltas are small (a third less than a dictionary, for the bench's
/// event times). `created_by` stays parquet-rs's: Hive-based engines
/// ignore string statistics of writers whose name they cannot parse.
pub(crate) fn writer_properties(
    opts: &CompactOptions,
    layout: &FileLayout,
    schema: &SchemaRef,
) -> Result<WriterProperties, LakeError> {
    let level = ZstdLevel::try_new(opts.zstd_level)?;
    let row_group_rows = opts.row_group_rows.max(1);
    let mut builder = WriterProperties::builder()
        .set_compression(Compression::ZSTD(level))
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_max_row_group_row_count(Some(row_group_rows))
        .set_max_row_group_bytes(Some(opts.row_group_bytes.max(1)));
    for column in &layout.bloom_filters {
        let path = ColumnPath::new(column.parts().map(str::to_owned).collect());
        // Sized for a row group of distinct values, then folded down by
        // parquet to what the values need: small for a low-cardinality column.
        builder = builder
            .set_column_bloom_filter_enabled(path.clone(), true)
            .set_column_bloom_filter_max_ndv(path, row_group_rows as u64);
    }
    if let Some(column) = &layout.sort_by
        && column_indices(schema, column).is_some_and(|at| is_integer_at(schema, &at))
    {
        let path = ColumnPath::new(column.parts().map(str::to_owned).collect());
        builder = builder
            .set_column_dictionary_enabled(path.clone(), false)
            .set_column_encoding(path, Encoding::DELTA_BINARY_PACKED);
    }
    Ok(builder.build())
}

/// Rows of a file's first batch looked at to choose its columns' encodings.
/// Enough that a column whose values repeat across a file but rarely
/// within a few hundred rows (a bounce's reason text: 104 distinct in the
/// bench's first 855, 40 in its first 66) still gets its dictionary.
const SAMPLE_ROWS: usize = 8192;

/// `props`, with no dictionary for the columns whose values in `sample`
/// (a file's first rows) are mostly distinct (ids, addresses, sizes): a
/// dictionary of them costs their values plus an index per row, and an
/// hour's file has dictionaries of its own, so this is what made files
/// larger than DuckDB's (`message_id`: 804 against 666 KB, for the bench's
/// 100,000 events over 168 hours). Such columns are written plain, or,
/// text whose neighbouring values share most of their start (timestamps
/// as text, in time order), as prefix deltas (`DELTA_BYTE_ARRAY`): the
/// bench's `timestamp` text took 2.1 MB plain against DuckDB's 1.5 MB as
/// a timestamp, for 500,000 events.
pub(super) fn without_dictionaries(
    props: WriterProperties,
    sample: &RecordBatch,
) -> WriterProperties {
    let mut plain = Vec::new();
    let rows = sample.num_rows().min(SAMPLE_ROWS);
    for (field, column) in sample.schema().fields().iter().zip(sample.columns()) {
        mostly_distinct(
            vec![field.name().clone()],
            &column.slice(0, rows),
            &mut plain,
        );
    }
    if plain.is_empty() {
        return props;
    }
    let mut builder = props.into_builder();
    for (path, encoding) in plain {
        let path = ColumnPath::new(path);
        builder = builder.set_column_dictionary_enabled(path.clone(), false);
        if let Some(encoding) = encoding {
            builder = builder.set_column_encoding(path, encoding);
        }
    }
    builder.build()
}

/// Whether neighbouring values of a text column share most of their
/// start: at least half their bytes, on average, and 4 bytes or more.
fn shares_prefixes(column: &arrow::array::StringArray) -> bool {
    let (mut shared, mut total, mut pairs) = (0usize, 0usize, 0usize);
    let mut previous: Option<&str> = None;
    for value in column.iter().flatten() {
        if let Some(previous) = previous {
            shared += previous
                .bytes()
                .zip(value.bytes())
                .take_while(|(a, b)| a == b)
                .count();
            total += value.len();
            pairs += 1;
        }
        previous = Some(value);
    }
    pairs > 16 && shared * 2 >= total && shared >= 4 * pairs
}

/// A leaf column's path, and the encoding to write it in if not plain.
type Undictionaried = (Vec<String>, Option<Encoding>);

/// Adds to `out` the leaf columns under `path` (scalars, in structs too)
/// whose non-null values are more than half distinct.
fn mostly_distinct(path: Vec<String>, column: &ArrayRef, out: &mut Vec<Undictionaried>) {
    use arrow::array::AsArray;
    use arrow::datatypes::{Float64Type, Int64Type};
    let distinct = |values: &mut dyn Iterator<Item = u64>| {
        let mut seen: std::collections::HashSet<u64, foldhash::fast::FixedState> =
            std::collections::HashSet::with_capacity_and_hasher(SAMPLE_ROWS, Default::default());
        let mut count = 0usize;
        for v in values {
            seen.insert(v);
            count += 1;
        }
        count > 16 && seen.len() * 2 > count
    };
    let hasher = foldhash::fast::FixedState::with_seed(0x1e7ee);
    let found = match column.data_type() {
        DataType::Struct(fields) => {
            for (field, child) in fields.iter().zip(column.as_struct().columns()) {
                let mut path = path.clone();
                path.push(field.name().clone());
                mostly_distinct(path, child, out);
            }
            return;
        }
        DataType::Utf8 => distinct(&mut column.as_string::<i32>().iter().flatten().map(|s| {
            use std::hash::BuildHasher;
            hasher.hash_one(s)
        })),
        DataType::Int64 => distinct(
            &mut column
                .as_primitive::<Int64Type>()
                .iter()
                .flatten()
                .map(|v| v as u64),
        ),
        DataType::Float64 => distinct(
            &mut column
                .as_primitive::<Float64Type>()
                .iter()
                .flatten()
                .map(f64::to_bits),
        ),
        _ => false,
    };
    if found {
        let encoding = match column.data_type() {
            DataType::Utf8 if shares_prefixes(column.as_string::<i32>()) => {
                Some(Encoding::DELTA_BYTE_ARRAY)
            }
            _ => None,
        };
        out.push((path, encoding));
    }
}

/// Whether the column at `path` (see [`column_indices`]) holds integers
/// (timestamps included), which delta encoding takes.
fn is_integer_at(schema: &SchemaRef, path: &[usize]) -> bool {
    let mut fields = schema.fields().clone();
    let mut ty = None;
    for &i in path {
        let Some(field) = fields.get(i) else {
            return false;
        };
        ty = Some(field.data_type().clone());
        fields = match field.data_type() {
            DataType::Struct(children) => children.clone(),
            _ => Fields::empty(),
        };
    }
    matches!(ty, Some(DataType::Int64 | DataType::Timestamp(..)))
}

/// Writes `part-N.parquet` files of one hour, numbered from `first_part`, so
/// that they never overwrite the files of an earlier compaction: readers see
/// the old set or the new one (plus, until the old are deleted, both).
pub(crate) struct PartWriter<'a> {
    lake: &'a Lake,
    table: &'a TableRef,
    partition: &'a Partition,
    schema: SchemaRef,
    props: WriterProperties,
    max_file_rows: u64,
    max_file_bytes: u64,
    next_part: usize,
    open: Option<PartFile>,
    done: Vec<OutputFile>,
    /// Where the sort column lies in the schema, if rows are sorted.
    sort_by: Option<Vec<usize>>,
    /// The sort run gathered so far.
    run: Vec<RecordBatch>,
    run_rows: usize,
    run_bytes: usize,
    /// Rows per sort run (a row group's).
    run_max_rows: usize,
    /// Rows a run grows by at a time.
    slice_rows: usize,
    /// When a run may be encoded on a thread of its own (see [`PartFile`]).
    idle: IdleWorkers,
}

impl<'a> PartWriter<'a> {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        lake: &'a Lake,
        table: &'a TableRef,
        partition: &'a Partition,
        schema: SchemaRef,
        opts: &CompactOptions,
        layout: &FileLayout,
        first_part: usize,
        idle: &IdleWorkers,
    ) -> Result<PartWriter<'a>, LakeError> {
        let max_file_bytes = layout
            .target_file_size
            .unwrap_or(opts.max_file_bytes as u64)
            .max(1);
        let sort_by = layout
            .sort_by
            .as_ref()
            .and_then(|c| column_indices(&schema, c));
        Ok(PartWriter {
            lake,
            table,
            partition,
            props: writer_properties(opts, layout, &schema)?,
            schema,
            max_file_rows: opts.max_file_rows.max(1) as u64,
            max_file_bytes,
            next_part: first_part,
            open: None,
            done: Vec::new(),
            sort_by,
            run: Vec::new(),
            run_rows: 0,
            run_bytes: 0,
            run_max_rows: opts.row_group_rows.max(1),
            slice_rows: opts.batch_rows.max(1),
            idle: idle.clone(),
        })
    }

    /// Writes a batch: at once when rows are not sorted, else as part of
    /// the sort run, which is written once full.
    pub async fn write(&mut self, batch: RecordBatch) -> Result<(), LakeError> {
        if self.sort_by.is_none() {
            let mut start = 0;
            while start < batch.num_rows() {
                let take = self.slice_rows.min(batch.num_rows() - start);
                self.write_rows(batch.slice(start, take)).await?;
                start += take;
            }
            return Ok(());
        }
        // Counted a slice at a time, so that a run ends where it would if
        // the batch came as slices; held as one piece per run.
        let (mut start, mut piece) = (0, 0);
        while start < batch.num_rows() {
            let take = self.slice_rows.min(batch.num_rows() - start);
            self.run_rows += take;
            self.run_bytes += run_bytes(&batch.slice(start, take));
            start += take;
            if self.run_rows >= self.run_max_rows || self.run_bytes >= SORT_RUN_BYTES {
                self.run.push(batch.slice(piece, start - piece));
                piece = start;
                self.write_run().await?;
            }
        }
        if piece < batch.num_rows() {
            self.run.push(batch.slice(piece, batch.num_rows() - piece));
        }
        Ok(())
    }

    /// Sorts the run and writes it as a row group of its own.
    async fn write_run(&mut self) -> Result<(), LakeError> {
        let run = std::mem::take(&mut self.run);
        let rows = std::mem::take(&mut self.run_rows) as u64;
        self.run_bytes = 0;
        let Some(path) = &self.sort_by else {
            return Ok(());
        };
        if run.is_empty() {
            return Ok(());
        }
        // In order already, as chunks written in event-time order are, the
        // run is written as its pieces: a unit read once hands over its
        // segments whole, so a run is one to three of them. Many small
        // batches (the two reads decode 8,192 rows at a time) are joined
        // first, as parquet's writer takes them slower.
        let run = match sort_run(&run, path)? {
            Some(sorted) => vec![sorted],
            None if run.len() > RUN_PIECES => vec![concat_batches(&self.schema, &run)?],
            None => run,
        };
        // A file full after the run before is closed first.
        if let Some(file) = &mut self.open
            && file.size().await? >= self.max_file_bytes
        {
            self.finish_file().await?;
        }
        let room = self.max_file_rows - self.open.as_ref().map_or(0, |f| f.rows);
        if self.idle.may_encode_aside() && rows <= room {
            return self.file().write_aside(run).await;
        }
        for piece in run {
            self.write_rows(piece).await?;
        }
        // Ends the row group here, so each is one sorted run.
        if let Some(file) = &mut self.open {
            file.end_row_group().await?;
            if file.size().await? >= self.max_file_bytes {
                self.finish_file().await?;
            }
        }
        Ok(())
    }

    /// Writes rows in their order, splitting them where a file reaches its
    /// row limit.
    async fn write_rows(&mut self, mut batch: RecordBatch) -> Result<(), LakeError> {
        while batch.num_rows() > 0 {
            let max_rows = self.max_file_rows;
            let file = self.file();
            let room = usize::try_from(max_rows - file.rows).unwrap_or(usize::MAX);
            let take = room.min(batch.num_rows());
            file.write(vec![batch.slice(0, take)], false).await?;
            batch = batch.slice(take, batch.num_rows() - take);
            if file.rows >= max_rows || file.size().await? >= self.max_file_bytes {
                self.finish_file().await?;
            }
        }
        Ok(())
    }

    /// Closes the last file; returns every file written.
    pub async fn finish(mut self) -> Result<Vec<OutputFile>, LakeError> {
        self.write_run().await?;
        self.finish_file().await?;
        Ok(self.done)
    }

    /// Gives up: abandons the open upload, so no partial file appears.
    /// Files already closed stay; the hour's manifest does not list them, so
    /// the next compaction of the hour replaces them.
    pub async fn abort(mut self) {
        if let Some(file) = self.open.take() {
            file.abort().await;
        }
    }

    /// Gives up on every file: abandons the open upload and deletes the
    /// files closed so far (no manifest lists them).
    pub async fn discard(mut self) -> Result<(), LakeError> {
        if let Some(file) = self.open.take() {
            file.abort().await;
        }
        for file in &self.done {
            match self.lake.store.delete(&file.path).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// The open file, or the next one, opened.
    fn file(&mut self) -> &mut PartFile {
        let (lake, table, partition) = (self.lake, self.table, self.partition);
        let (schema, props, next_part) = (&self.schema, &self.props, &mut self.next_part);
        self.open.get_or_insert_with(|| {
            let path = table.parquet_part(partition, *next_part);
            *next_part += 1;
            PartFile::new(lake, path, schema.clone(), props.clone())
        })
    }

    async fn finish_file(&mut self) -> Result<(), LakeError> {
        let Some(mut file) = self.open.take() else {
            return Ok(());
        };
        let bytes = match file.finish().await {
            Ok(bytes) => bytes,
            Err(e) => {
                file.abort().await;
                return Err(e);
            }
        };
        self.done.push(OutputFile {
            path: file.path,
            rows: file.rows,
            bytes,
        });
        Ok(())
    }
}

/// The path of indices from the schema's top-level column down to the
/// column `name` names (a struct's field for a dotted name); `None` if the
/// schema has no such column, or it is a struct (no order to sort by).
fn column_indices(schema: &SchemaRef, name: &ColumnName) -> Option<Vec<usize>> {
    let mut path = Vec::new();
    let mut fields = schema.fields().clone();
    let mut ty = None;
    for part in name.parts() {
        let (i, field) = fields.find(part)?;
        path.push(i);
        ty = Some(field.data_type().clone());
        fields = match field.data_type() {
            arrow::datatypes::DataType::Struct(children) => children.clone(),
            _ => arrow::datatypes::Fields::empty(),
        };
    }
    let sortable = ty.is_some_and(|t| {
        t.is_primitive()
            || matches!(
                t,
                arrow::datatypes::DataType::Utf8
                    | arrow::datatypes::DataType::LargeUtf8
                    | arrow::datatypes::DataType::Utf8View
                    | arrow::datatypes::DataType::Boolean
            )
    });
    sortable.then_some(path)
}

/// The column at `path` of a batch.
fn column_at(batch: &RecordBatch, path: &[usize]) -> Option<ArrayRef> {
    let (first, rest) = path.split_first()?;
    let mut column = batch.columns().get(*first)?.clone();
    for i in rest {
        let nested = column.as_any().downcast_ref::<StructArray>()?;
        column = nested.columns().get(*i)?.clone();
    }
    Some(column)
}

/// The order rows are sorted in: by the sort column, ascending, nulls last.
const ROW_ORDER: SortOptions = SortOptions {
    descending: false,
    nulls_first: false,
};

/// The run's rows as one batch, in order of the column at `path` (see
/// [`ROW_ORDER`]); `None` if they are in that order already.
fn sort_run(run: &[RecordBatch], path: &[usize]) -> Result<Option<RecordBatch>, LakeError> {
    let columns: Vec<ArrayRef> = run
        .iter()
        .map(|b| column_at(b, path))
        .collect::<Option<_>>()
        .ok_or_else(|| LakeError::Other("sort column missing from a batch".to_owned()))?;
    let refs: Vec<&dyn Array> = columns.iter().map(AsRef::as_ref).collect();
    let keys = concat(&refs)?;
    let compare = make_comparator(&keys, &keys, ROW_ORDER)?;
    if (1..keys.len()).all(|i| compare(i - 1, i) != Ordering::Greater) {
        return Ok(None);
    }
    let order = sort_to_indices(&keys, Some(ROW_ORDER), None)?;
    // Which batch and row each sorted row comes from.
    let mut starts = Vec::with_capacity(run.len());
    let mut start = 0;
    for b in run {
        starts.push(start);
        start += b.num_rows();
    }
    let indices: Vec<(usize, usize)> = order
        .values()
        .iter()
        .map(|&row| {
            let row = row as usize;
            let batch = starts.partition_point(|&s| s <= row) - 1;
            (batch, row - starts[batch])
        })
        .collect();
    let batches: Vec<&RecordBatch> = run.iter().collect();
    Ok(Some(interleave_record_batch(&batches, &indices)?))
}

/// What a batch adds to a sort run: its own rows' share of its buffers. A
/// slice of a larger batch (a segment read once is written in slices)
/// shares its parent's buffers, and Arrow's memory size counts all of them
/// for every slice: a run cut short by that counted one segment over and
/// over, and wrote row groups a sixth of their size.
fn run_bytes(batch: &RecordBatch) -> usize {
    batch
        .columns()
        .iter()
        .map(|c| {
            c.to_data()
                .get_slice_memory_size()
                .unwrap_or_else(|_| c.get_array_memory_size())
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{AsArray, Int64Array};
    use arrow::datatypes::{DataType, Field, Int64Type, Schema};

    use super::*;

    fn batch(values: &[Option<i64>]) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![Field::new("t", DataType::Int64, true)]));
        let column = Arc::new(Int64Array::from(values.to_vec()));
        RecordBatch::try_new(schema, vec![column]).unwrap()
    }

    fn values(batch: &RecordBatch) -> Vec<Option<i64>> {
        batch.column(0).as_primitive::<Int64Type>().iter().collect()
    }

    #[test]
    fn a_slice_adds_its_own_rows_to_a_run_not_its_parents() {
        let whole: Vec<Option<i64>> = (0..100_000).map(Some).collect();
        let whole = batch(&whole);
        let slice = whole.slice(50_000, 1_000);
        let (whole_bytes, slice_bytes) = (run_bytes(&whole), run_bytes(&slice));
        assert!(whole_bytes >= 800_000, "{whole_bytes}");
        assert!(slice_bytes <= 8_200, "{slice_bytes} of {whole_bytes}");
        assert!(slice_bytes >= 8_000, "{slice_bytes}");
    }

    /// The event time is delta-encoded (a dictionary of mostly distinct
    /// values is larger); a text sort column, which delta encoding does
    /// not take, keeps the defaults.
    #[test]
    fn an_integer_sort_column_is_delta_encoded() {
        use arrow::datatypes::TimeUnit;
        let schema = Arc::new(Schema::new(vec![
            Field::new("msg", DataType::Utf8, true),
            Field::new(
                "time",
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                true,
            ),
        ]));
        let layout = |sort_by: &str| FileLayout {
            sort_by: Some(ColumnName::new(sort_by).unwrap()),
            ..FileLayout::default()
        };
        let opts = CompactOptions::default();
        let props = writer_properties(&opts, &layout("time"), &schema).unwrap();
        let time = ColumnPath::from("time");
        assert_eq!(props.encoding(&time), Some(Encoding::DELTA_BINARY_PACKED));
        assert!(!props.dictionary_enabled(&time));
        let msg = ColumnPath::from("msg");
        assert!(props.dictionary_enabled(&msg));
        let props = writer_properties(&opts, &layout("msg"), &schema).unwrap();
        assert_eq!(props.encoding(&msg), None);
        assert!(props.dictionary_enabled(&msg));
    }

    /// Mostly distinct columns (ids), in structs too, are written without
    /// a dictionary; repeated ones (a status) keep theirs.
    #[test]
    fn mostly_distinct_columns_get_no_dictionary() {
        use arrow::array::{StringArray, StructArray};
        let ids: ArrayRef = Arc::new(StringArray::from_iter_values(
            (0..1000).map(|i| format!("id-{i}")),
        ));
        let status: ArrayRef = Arc::new(StringArray::from_iter_values(
            (0..1000).map(|i| ["ok", "failed"][i % 2]),
        ));
        let sizes: ArrayRef = Arc::new(Int64Array::from_iter_values(0..1000));
        let nested = StructArray::from(vec![
            (
                Arc::new(Field::new("id", DataType::Utf8, true)),
                ids.clone(),
            ),
            (
                Arc::new(Field::new("status", DataType::Utf8, true)),
                status.clone(),
            ),
        ]);
        let batch = RecordBatch::try_from_iter([
            ("id", ids),
            ("status", status),
            ("size", sizes),
            ("nested", Arc::new(nested) as ArrayRef),
        ])
        .unwrap();
        let props = without_dictionaries(WriterProperties::default(), &batch);
        let dictionary = |path: &str| {
            let parts = path.split('.').map(str::to_owned).collect();
            props.dictionary_enabled(&ColumnPath::new(parts))
        };
        assert!(!dictionary("id") && !dictionary("size") && !dictionary("nested.id"));
        assert!(dictionary("status") && dictionary("nested.status"));
    }

    /// Text in time order (timestamps) is written as prefix deltas; text
    /// whose neighbours share little (random ids) plain; text that repeats
    /// across a file's first rows (a bounce's reason, a tenth of the rows)
    /// keeps its dictionary.
    #[test]
    fn mostly_distinct_text_sharing_prefixes_is_delta_encoded() {
        use arrow::array::StringArray;
        let times: ArrayRef = Arc::new(StringArray::from_iter_values((0..2000).map(|i| {
            format!(
                "2018-09-01T00:{:02}:{:02}.{:03}Z",
                i / 60 % 60,
                i % 60,
                i * 7 % 1000
            )
        })));
        let ids: ArrayRef =
            Arc::new(StringArray::from_iter_values((0u64..2000).map(|i| {
                format!("{:016x}", i.wrapping_mul(0x9e37_79b9_7f4a_7c15))
            })));
        let reasons: ArrayRef =
            Arc::new(StringArray::from_iter((0..2000).map(|i| {
                (i % 10 == 0).then(|| format!("550 reason {}", i % 700))
            })));
        let batch = RecordBatch::try_from_iter([("time", times), ("id", ids), ("reason", reasons)])
            .unwrap();
        let props = without_dictionaries(WriterProperties::default(), &batch);
        let time = ColumnPath::from("time");
        assert!(!props.dictionary_enabled(&time));
        assert_eq!(props.encoding(&time), Some(Encoding::DELTA_BYTE_ARRAY));
        let id = ColumnPath::from("id");
        assert!(!props.dictionary_enabled(&id));
        assert_eq!(props.encoding(&id), None);
        assert!(props.dictionary_enabled(&ColumnPath::from("reason")));
    }

    /// A run in order already (nulls last) is written as it is: sorting it
    /// would copy every column for nothing.
    #[test]
    fn a_run_in_order_is_not_copied() {
        let run = [batch(&[Some(1), Some(2), Some(2)]), batch(&[Some(3), None])];
        assert!(sort_run(&run, &[0]).unwrap().is_none());
        assert!(sort_run(&[batch(&[])], &[0]).unwrap().is_none());
    }

    /// The files a writer makes of `batches` in a fresh lake, as bytes,
    /// with `idle` workers for it to encode runs on.
    async fn files_written(
        batches: &[RecordBatch],
        idle: usize,
        max_file_rows: usize,
    ) -> Vec<Vec<u8>> {
        let opts = CompactOptions {
            row_group_rows: 1000,
            max_file_rows,
            ..CompactOptions::default()
        };
        files_written_with(batches, idle, &opts).await
    }

    async fn files_written_with(
        batches: &[RecordBatch],
        idle: usize,
        opts: &CompactOptions,
    ) -> Vec<Vec<u8>> {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::open(dir.path().to_str().unwrap()).unwrap();
        let table = TableRef::new("d", "t").unwrap();
        let day = Partition::day("2018-09-01");
        let layout = FileLayout {
            sort_by: Some(ColumnName::new("t").unwrap()),
            ..FileLayout::default()
        };
        // Whatever the test process holds.
        let workers = IdleWorkers::with_limit(u64::MAX);
        workers.set(idle);
        let schema = batches[0].schema();
        let mut writer =
            PartWriter::new(&lake, &table, &day, schema, opts, &layout, 0, &workers).unwrap();
        for batch in batches {
            writer.write(batch.clone()).await.unwrap();
        }
        let files = writer.finish().await.unwrap();
        let mut bytes = Vec::new();
        for file in &files {
            let got = lake
                .store
                .get(&file.path)
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap();
            assert_eq!(got.len() as u64, file.bytes);
            bytes.push(got.to_vec());
        }
        bytes
    }

    /// A run encoded on a thread of its own, while a worker of the
    /// compaction is idle, makes the same files, byte for byte, as one
    /// encoded on the unit's task: runs in order and out of it, a file
    /// split by its row limit, a last run shorter than the others.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn runs_encoded_aside_make_the_same_files() {
        let mut state = 7u64;
        let batches: Vec<RecordBatch> = (0..9)
            .map(|b| {
                let values: Vec<Option<i64>> = (0..450)
                    .map(|i| {
                        state ^= state << 13;
                        state ^= state >> 7;
                        state ^= state << 17;
                        // Batches 3 to 5 out of order, with nulls.
                        match b {
                            3..=5 => (!state.is_multiple_of(10)).then_some((state % 5000) as i64),
                            _ => Some(b * 1000 + i),
                        }
                    })
                    .collect();
                batch(&values)
            })
            .collect();
        for max_file_rows in [10_000, 2500] {
            let inline = files_written(&batches, 0, max_file_rows).await;
            let aside = files_written(&batches, 1, max_file_rows).await;
            assert_eq!(inline.len(), aside.len());
            assert!(inline == aside, "{max_file_rows} rows a file");
        }
        assert_eq!(files_written(&batches, 0, 2500).await.len(), 2);
    }

    /// Rows per row group of each file.
    fn row_groups(files: &[Vec<u8>]) -> Vec<Vec<i64>> {
        use parquet::file::reader::{FileReader, SerializedFileReader};
        files
            .iter()
            .map(|file| {
                let reader = SerializedFileReader::new(bytes::Bytes::from(file.clone())).unwrap();
                let groups = reader.metadata().row_groups();
                groups.iter().map(|g| g.num_rows()).collect()
            })
            .collect()
    }

    /// The sort column's values, file by file, in order.
    fn values_of(files: &[Vec<u8>]) -> Vec<Option<i64>> {
        use parquet::arrow::arrow_reader::ParquetRecordBatchReader;
        let mut all = Vec::new();
        for file in files {
            let reader =
                ParquetRecordBatchReader::try_new(bytes::Bytes::from(file.clone()), 1024).unwrap();
            for batch in reader {
                all.extend(values(&batch.unwrap()));
            }
        }
        all
    }

    /// A unit read once hands the writer its segments whole: their runs
    /// end where they would if the rows came in slices of `batch_rows`
    /// (the bytes of a run are counted a slice at a time), in order or not.
    #[tokio::test]
    async fn a_batch_handed_whole_makes_the_row_groups_of_its_slices() {
        let opts = CompactOptions {
            row_group_rows: 1000,
            batch_rows: 250,
            ..CompactOptions::default()
        };
        let in_order: Vec<Option<i64>> = (0..5000).map(Some).collect();
        let out_of_order: Vec<Option<i64>> = (0..5000).map(|i| Some((i * 7919) % 5000)).collect();
        for values in [in_order, out_of_order] {
            let whole = batch(&values);
            let slices: Vec<RecordBatch> = (0..5000)
                .step_by(250)
                .map(|s| whole.slice(s, 250))
                .collect();
            let from_whole = files_written_with(&[whole], 0, &opts).await;
            let from_slices = files_written_with(&slices, 0, &opts).await;
            assert_eq!(row_groups(&from_whole), [vec![1000; 5]]);
            assert_eq!(row_groups(&from_whole), row_groups(&from_slices));
            // Sorted run by run, not as a whole.
            assert_eq!(values_of(&from_whole), values_of(&from_slices));
        }
    }

    #[test]
    fn a_run_out_of_order_is_sorted_across_batches_nulls_last() {
        let run = [batch(&[Some(3), None]), batch(&[Some(1), Some(2)])];
        let sorted = sort_run(&run, &[0]).unwrap().unwrap();
        assert_eq!(values(&sorted), [Some(1), Some(2), Some(3), None]);
        let sorted = sort_run(&[batch(&[None, Some(1)])], &[0]).unwrap().unwrap();
        assert_eq!(values(&sorted), [Some(1), None]);
    }
}
