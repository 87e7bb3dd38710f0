//! The first read of an hour's chunks: the schema of its records, and what
//! could not be read.

use super::chunk::{self, Fetched, Lines};
use super::records::Unrepresentable;
use super::report::BadLine;
use crate::schema::{Changes, TableSchema, prepare_record};

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

/// Reads every chunk, `limit` bytes at most once decompressed, in a table
/// whose event-time column is `time_field`, if it has one.
pub(crate) fn scan(fetched: &[Fetched], limit: u64, time_field: Option<&str>) -> Scan {
    let mut scan = Scan {
        schema: TableSchema::default(),
        changes: Changes::default(),
        chunks: Vec::with_capacity(fetched.len()),
        rows: 0,
        bad_lines: 0,
        first_bad_line: None,
        decoded_bytes: 0,
        unrepresentable: Unrepresentable::default(),
    };
    for f in fetched {
        let data = match &f.body {
            Ok(body) => chunk::decompress(f.chunk.compression, body, limit),
            Err(e) => Err(e.clone()),
        };
        let chunk::Decoded { data, damage } = match data {
            Ok(decoded) => decoded,
            Err(e) => {
                scan.chunks.push(ChunkScan {
                    error: Some(e),
                    damaged: false,
                    rows: 0,
                    plain: false,
                });
                continue;
            }
        };
        scan.decoded_bytes += data.len() as u64;
        let mut chunk = scan_plain(&mut scan, &data, time_field)
            .unwrap_or_else(|| scan_records(&mut scan, f, &data, time_field));
        chunk.damaged = damage.is_some();
        chunk.error = damage;
        scan.rows += chunk.rows;
        scan.chunks.push(chunk);
    }
    scan
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
fn scan_records(scan: &mut Scan, f: &Fetched, data: &[u8], time_field: Option<&str>) -> ChunkScan {
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
                scan.unrepresentable
                    .push(&f.chunk.key, number, &message, line);
                scan.first_bad_line.get_or_insert_with(|| BadLine {
                    chunk: f.chunk.key.clone(),
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
