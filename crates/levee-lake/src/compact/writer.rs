//! Writing one hour's rows as Parquet files, starting a new file when one is full.

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use object_store::buffered::BufWriter;
use object_store::path::Path;
use parquet::arrow::AsyncArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};

use super::CompactOptions;
use super::report::OutputFile;
use crate::{Lake, LakeError, Partition, TableRef};

/// Parquet settings for the lake: zstd, statistics down to pages (so the
/// page index is written), row groups sized for scans. `created_by` stays
/// parquet-rs's: Hive-based engines ignore string statistics of writers
/// whose name they cannot parse.
pub(crate) fn writer_properties(opts: &CompactOptions) -> Result<WriterProperties, LakeError> {
    let level = ZstdLevel::try_new(opts.zstd_level)?;
    Ok(WriterProperties::builder()
        .set_compression(Compression::ZSTD(level))
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_max_row_group_row_count(Some(opts.row_group_rows.max(1)))
        .set_max_row_group_bytes(Some(opts.row_group_bytes.max(1)))
        .build())
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
    open: Option<OpenFile>,
    done: Vec<OutputFile>,
}

struct OpenFile {
    path: Path,
    writer: AsyncArrowWriter<BufWriter>,
    rows: u64,
}

impl<'a> PartWriter<'a> {
    pub fn new(
        lake: &'a Lake,
        table: &'a TableRef,
        partition: &'a Partition,
        schema: SchemaRef,
        opts: &CompactOptions,
        first_part: usize,
    ) -> Result<PartWriter<'a>, LakeError> {
        Ok(PartWriter {
            lake,
            table,
            partition,
            schema,
            props: writer_properties(opts)?,
            max_file_rows: opts.max_file_rows.max(1) as u64,
            max_file_bytes: opts.max_file_bytes.max(1) as u64,
            next_part: first_part,
            open: None,
            done: Vec::new(),
        })
    }

    /// Writes a batch, splitting it where a file reaches its row limit.
    pub async fn write(&mut self, mut batch: RecordBatch) -> Result<(), LakeError> {
        while batch.num_rows() > 0 {
            let max_rows = self.max_file_rows;
            let file = match &mut self.open {
                Some(file) => file,
                None => self.start()?,
            };
            let room = usize::try_from(max_rows - file.rows).unwrap_or(usize::MAX);
            let take = room.min(batch.num_rows());
            file.writer.write(&batch.slice(0, take)).await?;
            file.rows += take as u64;
            batch = batch.slice(take, batch.num_rows() - take);
            let size = (file.writer.bytes_written() + file.writer.in_progress_size()) as u64;
            if file.rows >= max_rows || size >= self.max_file_bytes {
                self.finish_file().await?;
            }
        }
        Ok(())
    }

    /// Closes the last file; returns every file written.
    pub async fn finish(mut self) -> Result<Vec<OutputFile>, LakeError> {
        self.finish_file().await?;
        Ok(self.done)
    }

    /// Gives up: abandons the open upload, so no partial file appears.
    /// Files already closed stay; the hour's manifest does not list them, so
    /// the next compaction of the hour replaces them.
    pub async fn abort(mut self) {
        if let Some(file) = self.open.take() {
            // Nothing to do if abandoning fails too: the upload was never completed.
            let _ = file.writer.into_inner().abort().await;
        }
    }

    fn start(&mut self) -> Result<&mut OpenFile, LakeError> {
        let path = self.table.parquet_part(self.partition, self.next_part);
        self.next_part += 1;
        let upload = BufWriter::new(self.lake.store.clone(), path.clone());
        let writer =
            AsyncArrowWriter::try_new(upload, self.schema.clone(), Some(self.props.clone()))?;
        Ok(self.open.insert(OpenFile {
            path,
            writer,
            rows: 0,
        }))
    }

    async fn finish_file(&mut self) -> Result<(), LakeError> {
        let Some(mut file) = self.open.take() else {
            return Ok(());
        };
        if let Err(e) = file.writer.finish().await {
            let _ = file.writer.into_inner().abort().await;
            return Err(e.into());
        }
        self.done.push(OutputFile {
            path: file.path,
            rows: file.rows,
            bytes: file.writer.bytes_written() as u64,
        });
        Ok(())
    }
}
