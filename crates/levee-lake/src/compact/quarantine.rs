//! The quarantine: where compaction moves a damaged chunk once the rows it
//! could read from it are in the hour's new Parquet.
//!
//! ```text
//! <db>/<table>/quarantine/json/dt=YYYY-MM-DD/hour=HH/<chunk>               the chunk, byte for byte
//! <db>/<table>/quarantine/json/dt=YYYY-MM-DD/hour=HH/<chunk>.reason.json   why, and what was kept
//! ```
//!
//! The chunk's readable lines (those before its damage) are stored again
//! under its own name in `json/`, so the JSON copy and the Parquet copy
//! hold the same rows; a chunk with none is removed from `json/`. The copy
//! in the quarantine is written first, so a crash in between loses nothing:
//! the next compaction finds the chunk damaged again, or already repaired.

use object_store::path::Path;
use object_store::{ObjectStoreExt, PutPayload};
use serde::Serialize;

use super::chunk::{self, Fetched};
use super::scan::ChunkScan;
use crate::{Lake, LakeError, Partition, TableRef};

/// What a quarantined chunk left in `json/`.
pub(crate) enum Left {
    /// Its readable lines, stored again: the new size.
    Lines { size: u64 },
    /// Nothing: no line of it could be read.
    Nothing,
}

/// A chunk moved into the quarantine.
pub(crate) struct Moved {
    /// Its key in the quarantine.
    pub to: Path,
    pub left: Left,
}

/// `<chunk>.reason.json`, for people (and scripts) deciding what to do
/// with the chunk.
#[derive(Serialize)]
struct Reason<'a> {
    /// The key the chunk had, under the lake's root.
    chunk: &'a str,
    /// Its size when it was moved.
    size: u64,
    /// What the reader said.
    error: &'a str,
    /// Records read before the damage, now in the hour's Parquet and (as a
    /// smaller chunk) still at `chunk`.
    rows_read: u64,
    /// When, in RFC 3339 UTC.
    quarantined_at: String,
}

/// Moves the damaged chunk `f` of hour `p` into the quarantine, with its
/// reason, and leaves its readable lines in its place.
pub(crate) async fn quarantine(
    lake: &Lake,
    table: &TableRef,
    p: &Partition,
    f: &Fetched,
    scanned: &ChunkScan,
    limit: u64,
) -> Result<Moved, LakeError> {
    let key = &f.chunk.key;
    let (Some(body), Some(error)) = (f.body.held(), &scanned.error) else {
        return Err(LakeError::Other(format!(
            "{key}: only a damaged chunk that was read goes to the quarantine"
        )));
    };
    let name = key.filename().unwrap_or_default();
    let to = table.quarantined_chunk(p, name);
    lake.store.put(&to, PutPayload::from(body.clone())).await?;
    let reason = Reason {
        chunk: key.as_ref(),
        size: body.len() as u64,
        error,
        rows_read: scanned.rows,
        quarantined_at: super::hour::now_rfc3339(),
    };
    let reason = serde_json::to_vec_pretty(&reason).map_err(|e| LakeError::Other(e.to_string()))?;
    lake.store
        .put(&reason_key(&to), PutPayload::from(reason))
        .await?;

    let left = if scanned.rows > 0 {
        let lines = chunk::decompress(f.chunk.compression, body, limit)
            .map_err(|e| LakeError::Other(format!("{key}: unreadable on the third read: {e}")))?
            .data;
        let stored = chunk::compress(f.chunk.compression, &lines)
            .map_err(|e| LakeError::Other(format!("{key}: {e}")))?;
        let size = stored.len() as u64;
        lake.store.put(key, PutPayload::from(stored)).await?;
        Left::Lines { size }
    } else {
        match lake.store.delete(key).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        Left::Nothing
    };
    Ok(Moved { to, left })
}

/// `<chunk>.reason.json`, beside the quarantined chunk.
fn reason_key(quarantined: &Path) -> Path {
    let name = quarantined.filename().unwrap_or_default();
    let parent = Path::from_iter(
        quarantined
            .parts()
            .take(quarantined.parts().count().saturating_sub(1)),
    );
    parent.join(format!("{name}.reason.json"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reason_sits_beside_the_chunk() {
        let t = TableRef::new("db", "t").unwrap();
        let p = Partition {
            dt: "2018-09-01".into(),
            hour: 10,
        };
        let q = t.quarantined_chunk(&p, "00-w-00000001.ndjson.zst");
        assert_eq!(
            q.as_ref(),
            "db/t/quarantine/json/dt=2018-09-01/hour=10/00-w-00000001.ndjson.zst"
        );
        assert_eq!(
            reason_key(&q).as_ref(),
            "db/t/quarantine/json/dt=2018-09-01/hour=10/00-w-00000001.ndjson.zst.reason.json"
        );
        // Neither is a chunk of the table's JSON copy.
        assert!(!q.as_ref().starts_with(t.json_root().as_ref()));
    }
}
