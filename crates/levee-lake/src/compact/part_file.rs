//! One Parquet file being written: rows encoded by parquet's writer into
//! memory, each row group uploaded once it is done.
//!
//! Encoding a row group (dictionaries, pages, zstd) is about half of what
//! a unit's compaction costs, and its other half, reading the next rows'
//! JSON, does not need it done. When a worker of the compaction has no
//! unit left to take (the last units of a run: seven days on two workers
//! left one core idle for a fifth of the time), a row group is encoded
//! on a blocking thread while the unit's task reads on. Otherwise it is
//! encoded on the task itself, as before: more threads than cores would
//! only hold more rows in memory at once. Encoding aside holds more at
//! once (the next segment's rows while a run is encoded), so it is done
//! only while the process holds less than [`ASIDE_RESIDENT_BYTES`].

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use bytes::Bytes;
use object_store::buffered::BufWriter;
use object_store::path::Path;
use parquet::arrow::ArrowWriter;
use parquet::arrow::async_writer::AsyncFileWriter;
use parquet::file::properties::WriterProperties;
use tokio::task::JoinHandle;

use super::writer::without_dictionaries;
use crate::{Lake, LakeError};

/// Worker threads of a compaction that have no unit to compact, so that
/// the units still at work may encode on them.
#[derive(Clone, Debug)]
pub(crate) struct IdleWorkers {
    idle: Arc<AtomicUsize>,
    /// Resident memory past which nothing is encoded aside.
    limit: u64,
}

impl Default for IdleWorkers {
    fn default() -> IdleWorkers {
        IdleWorkers::with_limit(ASIDE_RESIDENT_BYTES)
    }
}

impl IdleWorkers {
    pub fn with_limit(limit: u64) -> IdleWorkers {
        IdleWorkers {
            idle: Arc::default(),
            limit,
        }
    }

    pub fn set(&self, idle: usize) {
        self.idle.store(idle, Ordering::Relaxed);
    }

    /// Whether a row group may be encoded aside now: a worker is idle,
    /// and the process holds less than its limit (never where that
    /// cannot be read; tests, with no limit, do not read it).
    pub fn may_encode_aside(&self) -> bool {
        self.idle.load(Ordering::Relaxed) > 0
            && (self.limit == u64::MAX || resident_bytes().is_some_and(|held| held < self.limit))
    }
}

/// Memory the process may hold for a row group to be encoded aside.
/// Encoding while the next segment is read holds both at once, and the
/// allocator keeps what they free for a while (see `alloc.rs` in the
/// binary): at `2d164ff`, one hour of 5,000,000 events peaked at 650 MiB
/// encoding every row group aside that could be, against 492 to 527 MiB
/// never (six runs); with this limit, 503 to 526 MiB (three runs).
pub(crate) const ASIDE_RESIDENT_BYTES: u64 = 256 << 20;

/// The process's resident memory, from `/proc/self/status` (Linux).
fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line
        .trim_start_matches("VmRSS:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib << 10)
}

/// Parquet's writer for a file, made when its first rows come (they choose
/// the columns' encodings, see [`without_dictionaries`]).
struct Encoder {
    schema: SchemaRef,
    props: WriterProperties,
    writer: Option<ArrowWriter<Vec<u8>>>,
}

impl Encoder {
    /// Encodes `batches`, in order, ending the row group after them if
    /// `end_row_group`. The first rows of a file choose its encodings.
    fn write(&mut self, batches: Vec<RecordBatch>, end_row_group: bool) -> Result<(), LakeError> {
        let Some(batch) = batches.first() else {
            return Ok(());
        };
        let writer = match &mut self.writer {
            Some(writer) => writer,
            None => {
                let props = without_dictionaries(self.props.clone(), batch);
                self.writer.insert(ArrowWriter::try_new(
                    Vec::new(),
                    self.schema.clone(),
                    Some(props),
                )?)
            }
        };
        for batch in &batches {
            writer.write(batch)?;
        }
        if end_row_group {
            writer.flush()?;
        }
        Ok(())
    }

    fn writer(&mut self) -> Result<&mut ArrowWriter<Vec<u8>>, LakeError> {
        // A file with no rows: its footer still says what it holds.
        if self.writer.is_none() {
            self.writer = Some(ArrowWriter::try_new(
                Vec::new(),
                self.schema.clone(),
                Some(self.props.clone()),
            )?);
        }
        self.writer
            .as_mut()
            .ok_or_else(|| LakeError::Other("no Parquet writer".to_owned()))
    }
}

/// Where a file's encoder is.
enum State {
    Here(Box<Encoder>),
    /// On a blocking thread, encoding a row group.
    Aside(JoinHandle<(Box<Encoder>, Result<(), LakeError>)>),
    /// Lost with a failed encoding; the file is to be abandoned.
    Gone,
}

/// A Parquet file being written and uploaded.
pub(crate) struct PartFile {
    pub path: Path,
    /// Rows handed to it so far.
    pub rows: u64,
    upload: BufWriter,
    state: State,
}

impl PartFile {
    pub fn new(lake: &Lake, path: Path, schema: SchemaRef, props: WriterProperties) -> PartFile {
        PartFile {
            upload: BufWriter::new(lake.store.clone(), path.clone()),
            path,
            rows: 0,
            state: State::Here(Box::new(Encoder {
                schema,
                props,
                writer: None,
            })),
        }
    }

    /// Encodes `batches` here, then uploads what is done.
    pub async fn write(
        &mut self,
        batches: Vec<RecordBatch>,
        end_row_group: bool,
    ) -> Result<(), LakeError> {
        let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
        self.encoder().await?.write(batches, end_row_group)?;
        self.rows += rows as u64;
        self.upload_done().await
    }

    /// Ends the row group under way, if any rows are in it.
    pub async fn end_row_group(&mut self) -> Result<(), LakeError> {
        if let Some(writer) = &mut self.encoder().await?.writer {
            writer.flush()?;
        }
        self.upload_done().await
    }

    /// Encodes `batches` as a row group of their own on a blocking thread;
    /// the next call on this file waits for it.
    pub async fn write_aside(&mut self, batches: Vec<RecordBatch>) -> Result<(), LakeError> {
        self.settle().await?;
        let State::Here(mut encoder) = std::mem::replace(&mut self.state, State::Gone) else {
            return Err(gone());
        };
        self.rows += batches.iter().map(RecordBatch::num_rows).sum::<usize>() as u64;
        self.state = State::Aside(tokio::task::spawn_blocking(move || {
            let result = encoder.write(batches, true);
            (encoder, result)
        }));
        Ok(())
    }

    /// Bytes encoded so far, row groups under way included; waits for one
    /// being encoded aside.
    pub async fn size(&mut self) -> Result<u64, LakeError> {
        let encoder = self.encoder().await?;
        Ok(encoder
            .writer
            .as_ref()
            .map_or(0, |w| w.bytes_written() + w.in_progress_size()) as u64)
    }

    /// Writes the footer and completes the upload; the file's size.
    pub async fn finish(&mut self) -> Result<u64, LakeError> {
        let writer = self.encoder().await?.writer()?;
        writer.finish()?;
        let size = writer.bytes_written() as u64;
        self.upload_done().await?;
        self.upload.complete().await?;
        Ok(size)
    }

    /// Abandons the upload: no part of the file appears.
    pub async fn abort(mut self) {
        // Nothing to do if abandoning fails too: the upload was never completed.
        let _ = self.upload.abort().await;
    }

    /// The encoder, once any row group encoded aside is done and uploaded.
    async fn encoder(&mut self) -> Result<&mut Encoder, LakeError> {
        self.settle().await?;
        match &mut self.state {
            State::Here(encoder) => Ok(encoder),
            _ => Err(gone()),
        }
    }

    /// Waits for a row group encoded aside, and uploads it.
    async fn settle(&mut self) -> Result<(), LakeError> {
        if !matches!(self.state, State::Aside(_)) {
            return Ok(());
        }
        let State::Aside(handle) = std::mem::replace(&mut self.state, State::Gone) else {
            return Ok(());
        };
        let (encoder, result) = match handle.await {
            Ok(done) => done,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => return Err(LakeError::Other(format!("encoding a row group: {e}"))),
        };
        self.state = State::Here(encoder);
        result?;
        self.upload_done().await
    }

    /// Uploads the bytes the encoder has finished (whole row groups).
    async fn upload_done(&mut self) -> Result<(), LakeError> {
        let State::Here(encoder) = &mut self.state else {
            return Ok(());
        };
        let Some(writer) = &mut encoder.writer else {
            return Ok(());
        };
        let done = std::mem::take(writer.inner_mut());
        if !done.is_empty() {
            self.upload.put(Bytes::from(done)).await?;
        }
        Ok(())
    }
}

fn gone() -> LakeError {
    LakeError::Other("a Parquet file's encoder was lost with an earlier error".to_owned())
}
