//! The first read of an hour's chunks: the schema of its records, and what
//! could not be read. Chunks are fetched a few at a time and read as they
//! come; what is kept of them for the second read is bounded by a budget.

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};

use super::CompactOptions;
use super::chunk::{self, Body, Budget, Fetched, Lines};
use super::records::Unrepresentable;
use super::report::BadLine;
use crate::schema::{Changes, TableSchema, prepare_record};
use crate::{Chunk, Lake, LakeError};

/// What the first read found.
pub(crate) struct Scan {
    /// The hour's own schema.
    pub schema: TableSchema,
    /// Type conflicts within the hour.
    pub changes: Changes,
    /// Per chunk, in the order fetched.
    pub chunks: Vec<ChunkScan>,
    pub rows: u64,
    pub bad_lines: u64,
    pub first_bad_line: Option<BadLine>,
    pub decoded_bytes: u64,
    /// The bad lines themselves, for the records quarantine.
    pub unrepresentable: Unrepresentable,
}

impl Scan {
    /// Nothing read yet, of `chunks` chunks.
    pub fn new(chunks: usize) -> Scan {
        Scan {
            schema: TableSchema::default(),
            changes: Changes::default(),
            chunks: Vec::with_capacity(chunks),
            rows: 0,
            bad_lines: 0,
            first_bad_line: None,
            decoded_bytes: 0,
            unrepresentable: Unrepresentable::default(),
        }
    }
}

/// One chunk, as the first read found it.
pub(crate) struct ChunkScan {
    /// Why it could not be read, or not all of it.
    pub error: Option<String>,
    /// Its bytes are there but break off (truncated, corrupt): its records
    /// before the break are read, and the chunk belongs in the quarantine.
    pub damaged: bool,
    /// Its records.
    pub rows: u64,
    /// Every line is a JSON object with no field to rename, so the second
    /// read may hand the chunk to the Arrow JSON decoder as it is.
    pub plain: bool,
}

/// Reads the hour's inputs, in a table whose event-time column is
/// `time_field`, if it has one: first `carried` (its Parquet read back, when
/// retention expired some of its chunks: in memory already), then `chunks`,
/// fetched `opts.fetch_concurrency` at a time and read as they come. Each
/// chunk, once read, is kept for the second read if `budget` has room for
/// it (its text, or else its stored bytes; see [`keep`]), else let go. A damaged chunk is always kept: the quarantine stores
/// what it holds.
pub(crate) async fn first_read(
    lake: &Lake,
    carried: Vec<Fetched>,
    chunks: &[Chunk],
    opts: &CompactOptions,
    budget: &Budget,
    time_field: Option<&str>,
) -> Result<(Vec<Fetched>, Scan), LakeError> {
    let mut scan = Scan::new(carried.len() + chunks.len());
    let limit = opts.max_chunk_bytes;
    let mut fetched = Vec::with_capacity(carried.len() + chunks.len());
    for f in carried {
        let chunk = match f.body.held() {
            Some(bytes) => scan_chunk(&mut scan, &f.chunk, bytes, limit, time_field).0,
            None => ChunkScan {
                error: Some("not in memory".to_owned()),
                damaged: false,
                rows: 0,
                plain: false,
            },
        };
        scan.chunks.push(chunk);
        fetched.push(f);
    }
    let mut bodies = futures::stream::iter(chunks)
        .map(|c| async move { chunk::fetch(lake, c).await.map(|body| (c, body)) })
        .buffered(opts.fetch_concurrency.max(1))
        // Boxed, so that the hour's future is plainly `Send` for its task.
        .boxed();
    while let Some((c, body)) = bodies.try_next().await? {
        let body = match body {
            Ok(bytes) => {
                let (chunk, text) = scan_chunk(&mut scan, c, &bytes, limit, time_field);
                let body = if chunk.damaged {
                    // Whatever its size: the quarantine stores its bytes.
                    Body::unbudgeted(bytes)
                } else if chunk.rows == 0 {
                    // The second read has nothing to take from it.
                    Body::Released
                } else {
                    keep(bytes, text, budget)
                };
                scan.chunks.push(chunk);
                body
            }
            Err(e) => {
                scan.chunks.push(ChunkScan {
                    error: Some(e),
                    damaged: false,
                    rows: 0,
                    plain: false,
                });
                Body::Failed
            }
        };
        fetched.push(Fetched {
            chunk: c.clone(),
            body,
        });
    }
    Ok((fetched, scan))
}

/// What is kept of a readable chunk for the second read: its text if the
/// budget has room for it (so that it is decompressed once), else its
/// stored bytes if there is room for them, else nothing.
fn keep(bytes: Bytes, text: Option<Vec<u8>>, budget: &Budget) -> Body {
    if let Some(mut text) = text
        && let Some(room) = budget.try_reserve(text.len() as u64)
    {
        // The budget counts what is held: no spare capacity.
        text.shrink_to_fit();
        return Body::Text {
            text: Bytes::from(text),
            _room: room,
        };
    }
    match budget.try_reserve(bytes.len() as u64) {
        Some(room) => Body::Held {
            bytes,
            _room: Some(room),
        },
        None => Body::Released,
    }
}

/// Reads one input's stored bytes into `scan`; returns what it found and
/// the input's text, when decompressing made it.
fn scan_chunk(
    scan: &mut Scan,
    c: &Chunk,
    body: &[u8],
    limit: u64,
    time_field: Option<&str>,
) -> (ChunkScan, Option<Vec<u8>>) {
    let chunk::Decoded { data, damage } = match chunk::decompress(c.compression, body, limit) {
        Ok(decoded) => decoded,
        Err(e) => {
            let chunk = ChunkScan {
                error: Some(e),
                damaged: false,
                rows: 0,
                plain: false,
            };
            return (chunk, None);
        }
    };
    scan.decoded_bytes += data.len() as u64;
    let mut chunk = scan_plain(scan, &data, time_field)
        .unwrap_or_else(|| scan_records(scan, c, &data, time_field));
    chunk.damaged = damage.is_some();
    chunk.error = damage;
    scan.rows += chunk.rows;
    let text = match data {
        std::borrow::Cow::Owned(text) => Some(text),
        // Stored as it is: the stored bytes serve.
        std::borrow::Cow::Borrowed(_) => None,
    };
    (chunk, text)
}

/// The fast way, straight from the JSON text; `None` (with nothing
/// absorbed) if a line needs the slow way.
fn scan_plain(scan: &mut Scan, data: &[u8], time_field: Option<&str>) -> Option<ChunkScan> {
    let before = (scan.schema.clone(), scan.changes.list.len());
    let mut rows = 0;
    for (_, line) in Lines::new(data) {
        if scan
            .schema
            .absorb_json(line, time_field, &mut scan.changes)
            .is_err()
        {
            scan.schema = before.0;
            scan.changes.list.truncate(before.1);
            return None;
        }
        rows += 1;
    }
    Some(ChunkScan {
        error: None,
        damaged: false,
        rows,
        plain: true,
    })
}

/// The slow way: each line parsed into a record, renamed, absorbed; lines
/// that are not JSON objects counted.
fn scan_records(scan: &mut Scan, c: &Chunk, data: &[u8], time_field: Option<&str>) -> ChunkScan {
    let mut rows = 0;
    for (number, line) in Lines::new(data) {
        match chunk::parse_line(line) {
            Ok(mut record) => {
                prepare_record(&mut record, time_field);
                scan.schema.absorb(&record, time_field, &mut scan.changes);
                rows += 1;
            }
            Err(message) => {
                scan.bad_lines += 1;
                scan.unrepresentable.push(&c.key, number, &message, line);
                scan.first_bad_line.get_or_insert_with(|| BadLine {
                    chunk: c.key.clone(),
                    line: number,
                    message,
                    snippet: chunk::snippet(line),
                });
            }
        }
    }
    ChunkScan {
        error: None,
        damaged: false,
        rows,
        plain: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kept(body: &Body) -> &'static str {
        match body {
            Body::Text { .. } => "text",
            Body::Held { .. } => "stored",
            Body::Released => "released",
            Body::Failed => "failed",
        }
    }

    /// A chunk's text is kept when it fits, so the second read does not
    /// decompress it again; else its stored bytes; else nothing.
    #[test]
    fn a_chunk_is_kept_as_text_if_it_fits_else_as_stored() {
        let stored = Bytes::from_static(&[0; 10]);
        let text = || Some(vec![b'x'; 100]);
        let budget = Budget::new(100);
        let body = keep(stored.clone(), text(), &budget);
        assert_eq!((kept(&body), budget.used()), ("text", 100));
        assert_eq!(kept(&keep(stored.clone(), text(), &budget)), "released");
        drop(body);
        let budget = Budget::new(99);
        let body = keep(stored.clone(), text(), &budget);
        assert_eq!((kept(&body), budget.used()), ("stored", 10));
        // A chunk stored as it is has no text of its own.
        let second = keep(stored.clone(), None, &budget);
        assert_eq!((kept(&second), budget.used()), ("stored", 20));
        drop(body);
        assert_eq!(budget.used(), 10, "the second is still held");
    }
}
