//! The one read of an hour's chunks, when it is enough: each line parsed
//! once, into Arrow columns, while the hour's schema is inferred (see
//! [`HourColumns`]). The two reads of `scan` and `decode` parse each line
//! twice, once for the schema and once to decode it with it; this is most
//! of what compaction costs.
//!
//! It gives up (and the hour is read the two-pass way) on the first line
//! the columns refuse (a type conflict that makes a column text, a field
//! to rename, a line that is no JSON object), and when the hour's text
//! passes [`MAX_TEXT_BYTES`] or the memory budget: its rows are held in
//! memory until the hour's schema is known, so only small hours (the
//! usual ones) are read this way.

use arrow::array::RecordBatch;
use futures::{StreamExt, TryStreamExt};

use super::CompactOptions;
use super::chunk::{self, Body, Budget, Fetched, Reservation};
use super::scan::{ChunkScan, Scan};
use crate::schema::{Built, HourColumns};
use crate::{Chunk, Lake, LakeError};

/// Text an hour read once may have. Its Arrow columns take about as much
/// memory as its text; with the sort of a row group, which copies them,
/// that stays within the 64 MiB of a sort run (see `writer`).
pub(crate) const MAX_TEXT_BYTES: u64 = 32 << 20;

/// An hour read once.
pub(crate) struct OneRead {
    /// Its chunks (damaged ones held, for the quarantine; the rest let go).
    pub fetched: Vec<Fetched>,
    /// What the read found, as the first of the two reads would have.
    pub scan: Scan,
    /// Its rows, with the hour's own schema.
    pub batch: Option<RecordBatch>,
    /// The room its rows take in the budget, until they are written.
    pub room: Vec<Reservation>,
}

/// Reads the hour's `chunks` once, in a table whose event-time column is
/// `time_field`; `None` if the hour needs the two reads.
pub(crate) async fn read_once(
    lake: &Lake,
    chunks: &[Chunk],
    opts: &CompactOptions,
    budget: &Budget,
    time_field: Option<&str>,
) -> Result<Option<OneRead>, LakeError> {
    let limit = opts.max_chunk_bytes;
    let mut scan = Scan::new(chunks.len());
    let mut fetched = Vec::with_capacity(chunks.len());
    let mut columns = HourColumns::new(time_field);
    let mut room = Vec::new();
    let mut bodies = futures::stream::iter(chunks)
        .map(|c| async move { chunk::fetch(lake, c).await.map(|body| (c, body)) })
        .buffered(opts.fetch_concurrency.max(1))
        // Boxed, so that the hour's future is plainly `Send` for its task.
        .boxed();
    while let Some((c, body)) = bodies.try_next().await? {
        let bytes = match body {
            Ok(bytes) => bytes,
            Err(e) => {
                scan.chunks.push(unread(e));
                fetched.push(Fetched {
                    chunk: c.clone(),
                    body: Body::Failed,
                });
                continue;
            }
        };
        let decoded = match chunk::decompress(c.compression, &bytes, limit) {
            Ok(decoded) => decoded,
            Err(e) => {
                scan.chunks.push(unread(e));
                fetched.push(Fetched {
                    chunk: c.clone(),
                    body: Body::Released,
                });
                continue;
            }
        };
        let text = decoded.data.len() as u64;
        scan.decoded_bytes += text;
        if scan.decoded_bytes > MAX_TEXT_BYTES {
            return Ok(None);
        }
        let Some(reserved) = budget.try_reserve(text) else {
            return Ok(None);
        };
        room.push(reserved);
        // Checked as UTF-8 once, so that the parser need not check each
        // string; text that is not is for the two reads to report.
        let Ok(lines) = std::str::from_utf8(&decoded.data) else {
            return Ok(None);
        };
        let before = columns.rows();
        for line in lines.split('\n') {
            // As `Lines` has them: without a `\r` at the end, blank ones skipped.
            let line = line.strip_suffix('\r').unwrap_or(line);
            if line.bytes().all(|b| b.is_ascii_whitespace()) {
                continue;
            }
            if columns.push_line(line).is_err() {
                return Ok(None);
            }
        }
        let rows = (columns.rows() - before) as u64;
        scan.rows += rows;
        let damaged = decoded.damage.is_some();
        scan.chunks.push(ChunkScan {
            error: decoded.damage,
            damaged,
            rows,
            plain: true,
        });
        fetched.push(Fetched {
            chunk: c.clone(),
            // Whatever its size: the quarantine stores its bytes.
            body: if damaged {
                Body::unbudgeted(bytes)
            } else {
                Body::Released
            },
        });
    }
    let Built {
        schema,
        changes,
        batch,
    } = columns.finish()?;
    scan.schema = schema;
    scan.changes = changes;
    Ok(Some(OneRead {
        fetched,
        scan,
        batch,
        room,
    }))
}

/// A chunk that gave nothing, and why.
fn unread(error: String) -> ChunkScan {
    ChunkScan {
        error: Some(error),
        damaged: false,
        rows: 0,
        plain: false,
    }
}
