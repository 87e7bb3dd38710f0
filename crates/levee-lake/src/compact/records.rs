//! The records quarantine: the lines of an hour that cannot be rows (not
//! JSON objects: text, a number, a list, broken or over-nested JSON,
//! invalid UTF-8), kept with the reason, so that nothing compaction skips
//! is lost.
//!
//! ```text
//! <db>/<table>/quarantine/records/dt=YYYY-MM-DD/hour=HH/<chunk>.json
//! ```
//!
//! One file per chunk with such lines, newline-delimited JSON, a line per
//! record: `{"chunk": key, "line": n, "reason": why, "text": the line}`
//! (`text` as UTF-8, invalid bytes replaced; `base64` too when there were
//! any, so the bytes can be had back). Compacting the hour again writes
//! the same file again, so a chunk's records are there once.
//!
//! An hour's lines are kept up to [`MAX_KEPT_BYTES`]; past it they are
//! only counted, and the report says how many were not kept.

use std::collections::BTreeMap;

use object_store::path::Path;
use object_store::{ObjectStoreExt, PutPayload};
use serde::Serialize;

use crate::{Lake, LakeError, Partition, TableRef};

/// Bytes of an hour's unrepresentable lines kept in memory for the
/// quarantine; a chunk of garbage is quarantined whole anyway.
pub(crate) const MAX_KEPT_BYTES: usize = 16 << 20;

/// The unrepresentable records of one hour, by chunk.
#[derive(Default)]
pub(crate) struct Unrepresentable {
    by_chunk: BTreeMap<Path, Vec<Entry>>,
    kept_bytes: usize,
    /// Records past [`MAX_KEPT_BYTES`]: counted, not kept.
    pub not_kept: u64,
}

struct Entry {
    line: u64,
    reason: String,
    text: Vec<u8>,
}

/// One line of a quarantine file.
#[derive(Serialize)]
struct Line<'a> {
    chunk: &'a str,
    line: u64,
    reason: &'a str,
    text: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    base64: Option<String>,
}

impl Unrepresentable {
    /// Keeps line `line` of `chunk`, which could not be a row because of `reason`.
    pub fn push(&mut self, chunk: &Path, line: u64, reason: &str, text: &[u8]) {
        if self.kept_bytes + text.len() > MAX_KEPT_BYTES {
            self.not_kept += 1;
            return;
        }
        self.kept_bytes += text.len();
        self.by_chunk.entry(chunk.clone()).or_default().push(Entry {
            line,
            reason: reason.to_owned(),
            text: text.to_vec(),
        });
    }

    /// Records kept.
    pub fn kept(&self) -> u64 {
        self.by_chunk.values().map(|v| v.len() as u64).sum()
    }

    /// Writes the quarantine files of hour `p`; returns them.
    pub async fn store(
        &self,
        lake: &Lake,
        table: &TableRef,
        p: &Partition,
    ) -> Result<Vec<Path>, LakeError> {
        let mut written = Vec::new();
        for (chunk, entries) in &self.by_chunk {
            let mut body = Vec::new();
            for e in entries {
                let text = String::from_utf8_lossy(&e.text);
                let base64 = matches!(text, std::borrow::Cow::Owned(_)).then(|| base64(&e.text));
                let line = Line {
                    chunk: chunk.as_ref(),
                    line: e.line,
                    reason: &e.reason,
                    text: text.into_owned(),
                    base64,
                };
                serde_json::to_writer(&mut body, &line)
                    .map_err(|e| LakeError::Other(e.to_string()))?;
                body.push(b'\n');
            }
            let key = records_key(table, p, chunk.filename().unwrap_or_default());
            lake.store.put(&key, PutPayload::from(body)).await?;
            written.push(key);
        }
        Ok(written)
    }
}

/// `<db>/<table>/quarantine/records/dt=…/hour=…/<chunk name>.json`
pub(crate) fn records_key(table: &TableRef, p: &Partition, chunk_name: &str) -> Path {
    table
        .quarantine_root()
        .join("records")
        .join(p.dt_dir())
        .join(p.hour_dir())
        .join(format!("{chunk_name}.json"))
}

fn base64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_the_standard() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(&[0xff, 0xfe, 0x00, 0x80]), "//4AgA==");
    }

    #[test]
    fn past_the_budget_records_are_counted() {
        let mut u = Unrepresentable::default();
        let chunk = Path::from("db/t/json/dt=2018-09-01/hour=01/00-w-1.ndjson");
        let big = vec![b'x'; MAX_KEPT_BYTES - 10];
        u.push(&chunk, 1, "not an object", &big);
        u.push(&chunk, 2, "not an object", b"0123456789a");
        u.push(&chunk, 3, "not an object", b"12");
        assert_eq!((u.kept(), u.not_kept), (2, 1));
    }
}
