//! The lake output's state in `<data_dir>/outputs/<output>/`: its writer
//! id (`writer`) and its coverage journal (`journal`, see
//! [`super::journal`]).
//!
//! At open the journal is read and settled: a chunk with an intent and no
//! stored record is looked up in the lake (there: it is covered; not
//! there: the put never happened and it is forgotten), ranges the tail's
//! committed checkpoints have passed are pruned, and the journal is
//! rewritten, whole and atomically, with what is left. Chunk numbers go on
//! past the highest the journal ever handed out, so a name is never used
//! twice. While the output runs, records are appended: an intent, synced,
//! before each put; a stored record after it.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use levee_lake::{Lake, TableRef};
use object_store::ObjectStoreExt;

use super::coverage::{self, Covered, Naming};
use super::journal::{self, Damage, Intent, MAGIC, Record};
use super::writer;
use crate::SinkError;

/// The journal's file, in the output's state folder.
pub(super) const JOURNAL_FILE: &str = "journal";

/// The output's state, read and settled.
pub(super) struct Opened {
    /// The writer id of the output's chunk names.
    pub(super) writer: String,
    /// The next chunk's number.
    pub(super) next_seq: u64,
    /// What stored chunks hold that a replay may bring again.
    pub(super) covered: Covered,
    /// Where the output appends as it stores chunks.
    pub(super) journal: Journal,
    /// The streams checkpoints have named, and those waiting to be.
    pub(super) naming: Naming,
}

/// Reads and settles the state in `dir` (see the module's docs).
/// `checkpoints` are the committed tail checkpoints, per stream the offset
/// its source resumes at; `None` when they could not all be read, and
/// then nothing is pruned by them.
pub(super) async fn open(
    dir: PathBuf,
    lake: &Lake,
    table: &TableRef,
    checkpoints: Option<HashMap<u64, u64>>,
) -> Result<Opened, SinkError> {
    let context = format!("lake output state in {}", dir.display());
    let io = |e| SinkError::io(&context, e);

    let read_dir = dir.clone();
    let (writer, records) = blocking(move || read(&read_dir)).await.map_err(io)?;
    let mut folded = Folded::of(records);

    // Intents never confirmed: the put may or may not have happened.
    let mut chunks = Vec::with_capacity(folded.intents.len());
    for (seq, intent) in std::mem::take(&mut folded.intents) {
        // Looked up even without ranges, so a twin is never deleted while
        // its chunk is there.
        let stored = folded.stored.contains(&seq) || exists(lake, &intent.key).await?;
        if stored {
            chunks.push(intent);
        } else {
            forget_twin(lake, table, &intent.key).await?;
        }
    }

    let named = match &checkpoints {
        Some(offsets) => coverage::prune(&mut chunks, offsets, &folded.named),
        None => {
            let streams: HashSet<u64> = chunks
                .iter()
                .flat_map(|c| c.ranges.iter().map(|r| r.stream))
                .collect();
            folded.named.intersection(&streams).copied().collect()
        }
    };
    chunks.retain(|c| !c.ranges.is_empty());

    let mut settled = Vec::with_capacity(1 + 2 * chunks.len() + named.len());
    settled.push(Record::NextSeq(folded.next_seq));
    for chunk in &chunks {
        settled.push(Record::Intent(chunk.clone()));
        settled.push(Record::Stored(chunk.seq));
    }
    let mut in_order: Vec<u64> = named.iter().copied().collect();
    in_order.sort_unstable();
    settled.extend(in_order.into_iter().map(Record::Named));
    let streams: HashSet<u64> = chunks
        .iter()
        .flat_map(|c| c.ranges.iter().map(|r| r.stream))
        .collect();

    let journal = blocking(move || Journal::rewrite(dir, &settled))
        .await
        .map_err(io)?;
    Ok(Opened {
        writer,
        next_seq: folded.next_seq,
        covered: Covered::of(&chunks),
        journal,
        naming: Naming::new(named, streams),
    })
}

/// The journal's records and the writer id. A damaged journal (anything
/// but a torn last record) is reported, and a new writer id drawn: the
/// chunk numbers in the lost records may have been used.
fn read(dir: &Path) -> std::io::Result<(String, Vec<Record>)> {
    let path = dir.join(JOURNAL_FILE);
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e),
    };
    let decoded = journal::decode(&bytes);
    let redraw = match decoded.damage {
        None => false,
        Some(Damage::Torn { at }) => {
            // A write the last process did not finish: never synced, so
            // its chunk was never put.
            tracing::info!(path = %path.display(), at, "lake: the journal's last record was cut short by a crash; it is dropped");
            false
        }
        Some(Damage::Invalid { at, why }) => {
            tracing::warn!(
                path = %path.display(),
                at,
                why,
                kept = decoded.records.len(),
                "lake: the journal is damaged; the records after the damage are lost, so chunks they \
                 name may be written again on replay, and new chunks get a new writer id"
            );
            true
        }
    };
    let writer = writer::load_or_draw(dir, redraw)?;
    Ok((writer, decoded.records))
}

/// The journal's records, gathered.
struct Folded {
    next_seq: u64,
    intents: BTreeMap<u64, Intent>,
    stored: HashSet<u64>,
    named: HashSet<u64>,
}

impl Folded {
    fn of(records: Vec<Record>) -> Folded {
        let mut folded = Folded {
            next_seq: 1,
            intents: BTreeMap::new(),
            stored: HashSet::new(),
            named: HashSet::new(),
        };
        for record in records {
            match record {
                Record::NextSeq(seq) => folded.next_seq = folded.next_seq.max(seq),
                Record::Intent(intent) => {
                    folded.next_seq = folded.next_seq.max(intent.seq.saturating_add(1));
                    folded.intents.insert(intent.seq, intent);
                }
                Record::Stored(seq) => {
                    folded.stored.insert(seq);
                }
                Record::Named(stream) => {
                    folded.named.insert(stream);
                }
            }
        }
        folded
    }
}

/// Deletes the Parquet twin of a JSON chunk that was never put (`format =
/// "both"` puts the Parquet first): its events are written again on
/// replay, and a reader would otherwise take the twin for the chunk.
async fn forget_twin(lake: &Lake, table: &TableRef, key: &str) -> Result<(), SinkError> {
    let Some(twin) = object_store::path::Path::parse(key)
        .ok()
        .and_then(|key| table.parquet_chunk_twin(&key))
    else {
        return Ok(());
    };
    match lake.store.delete(&twin).await {
        Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// True if the lake holds `key`.
async fn exists(lake: &Lake, key: &str) -> Result<bool, SinkError> {
    let Ok(path) = object_store::path::Path::parse(key) else {
        // Not a key levee makes: no chunk of ours is there.
        return Ok(false);
    };
    match lake.store.head(&path).await {
        Ok(_) => Ok(true),
        Err(object_store::Error::NotFound { .. }) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Runs file-system work off the runtime's workers.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> std::io::Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(std::io::Error::other)?
}

/// The journal, open for appending.
pub(super) struct Journal {
    path: PathBuf,
    file: Arc<File>,
    /// Bytes in the file: an append that fails is cut back to here, so a
    /// half-written record never sits before later ones.
    len: u64,
}

impl Journal {
    /// Replaces the journal in `dir` with `records`, atomically, and opens
    /// it for appending.
    fn rewrite(dir: PathBuf, records: &[Record]) -> std::io::Result<Journal> {
        let mut bytes = MAGIC.to_vec();
        for record in records {
            journal::encode(record, &mut bytes);
        }
        writer::write_atomically(&dir, JOURNAL_FILE, &bytes)?;
        let path = dir.join(JOURNAL_FILE);
        let file = OpenOptions::new().append(true).open(&path)?;
        Ok(Journal {
            path,
            file: Arc::new(file),
            len: bytes.len() as u64,
        })
    }

    /// Appends `records`; with `sync`, returns once they are on disk.
    pub(super) async fn append(&mut self, records: &[Record], sync: bool) -> Result<(), SinkError> {
        let mut bytes = Vec::new();
        for record in records {
            journal::encode(record, &mut bytes);
        }
        let file = self.file.clone();
        let len = self.len;
        let added = bytes.len() as u64;
        blocking(move || {
            let written = (&*file)
                .write_all(&bytes)
                .and_then(|()| if sync { file.sync_data() } else { Ok(()) });
            if written.is_err() {
                // Best effort: if even this fails, the next open reads the
                // records before the tear.
                let _ = file.set_len(len);
            }
            written
        })
        .await
        .map_err(|e| SinkError::io(format!("appending to {}", self.path.display()), e))?;
        self.len += added;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> TableRef {
        TableRef::new("db", "t").unwrap()
    }
    use crate::sinks::lake::journal::Range;
    use levee_event::Origin;

    fn intent(seq: u64, key: &str, stream: u64, first: u64, last: u64) -> Intent {
        Intent {
            seq,
            hour: 10,
            key: key.into(),
            ranges: vec![Range {
                stream,
                first,
                last,
            }],
        }
    }

    fn write_journal(dir: &Path, records: &[Record]) {
        std::fs::create_dir_all(dir).unwrap();
        let mut bytes = MAGIC.to_vec();
        for r in records {
            journal::encode(r, &mut bytes);
        }
        std::fs::write(dir.join(JOURNAL_FILE), bytes).unwrap();
    }

    fn read_journal(dir: &Path) -> Vec<Record> {
        let decoded = journal::decode(&std::fs::read(dir.join(JOURNAL_FILE)).unwrap());
        assert_eq!(decoded.damage, None);
        decoded.records
    }

    fn at(stream: u64, offset: u64) -> Origin {
        Origin { stream, offset }
    }

    #[tokio::test]
    async fn an_unconfirmed_chunk_counts_as_covered_only_if_the_lake_has_it() {
        let tmp = tempfile::tempdir().unwrap();
        let lake = Lake::open(tmp.path().join("lake").to_str().unwrap()).unwrap();
        let state = tmp.path().join("state");
        // Chunk 2 was put, then the process died before its stored record;
        // chunk 3 died before its put.
        lake.store
            .put(&"t/b".into(), bytes::Bytes::from_static(b"x").into())
            .await
            .unwrap();
        write_journal(
            &state,
            &[
                Record::Intent(intent(1, "t/a", 1, 0, 99)),
                Record::Stored(1),
                Record::Intent(intent(2, "t/b", 1, 100, 199)),
                Record::Intent(intent(3, "t/c", 1, 200, 299)),
            ],
        );
        let mut opened = open(state.clone(), &lake, &table(), None).await.unwrap();
        assert_eq!(opened.next_seq, 4, "chunk numbers go on past every intent");
        assert!(opened.covered.covers(10, at(1, 0)));
        assert!(opened.covered.covers(10, at(1, 150)));
        assert!(!opened.covered.covers(10, at(1, 250)));
        assert_eq!(
            read_journal(&state),
            [
                Record::NextSeq(4),
                Record::Intent(intent(1, "t/a", 1, 0, 99)),
                Record::Stored(1),
                Record::Intent(intent(2, "t/b", 1, 100, 199)),
                Record::Stored(2),
            ]
        );
        // The writer id was drawn and kept.
        let writer = opened.writer.clone();
        let again = open(state, &lake, &table(), None).await.unwrap();
        assert_eq!(again.writer, writer);
        assert_eq!(again.next_seq, 4);
    }

    #[tokio::test]
    async fn checkpoints_prune_what_no_replay_can_reach_and_streams_let_go() {
        let tmp = tempfile::tempdir().unwrap();
        let lake = Lake::open(tmp.path().join("lake").to_str().unwrap()).unwrap();
        let state = tmp.path().join("state");
        write_journal(
            &state,
            &[
                Record::Intent(intent(1, "t/a", 1, 0, 99)),
                Record::Stored(1),
                Record::Intent(intent(2, "t/b", 1, 100, 199)),
                Record::Stored(2),
                Record::Intent(intent(3, "t/c", 2, 0, 50)),
                Record::Stored(3),
                Record::Intent(intent(4, "t/d", 3, 0, 50)),
                Record::Stored(4),
            ],
        );
        // Stream 1 resumes at 150; 2 and 3 are in no checkpoint yet (the
        // source may not have written one since it found them).
        let opened = open(
            state.clone(),
            &lake,
            &table(),
            Some(HashMap::from([(1, 150)])),
        )
        .await
        .unwrap();
        assert_eq!(opened.next_seq, 5);
        let kept: Vec<u64> = read_journal(&state)
            .iter()
            .filter_map(|r| match r {
                Record::Intent(i) => Some(i.seq),
                _ => None,
            })
            .collect();
        assert_eq!(kept, [2, 3, 4]);
        assert!(read_journal(&state).contains(&Record::Named(1)));

        // Next start: streams 1 and 2 are named; then 1 is let go.
        open(
            state.clone(),
            &lake,
            &table(),
            Some(HashMap::from([(1, 150), (2, 0)])),
        )
        .await
        .unwrap();
        let mut opened = open(
            state.clone(),
            &lake,
            &table(),
            Some(HashMap::from([(2, 0)])),
        )
        .await
        .unwrap();
        assert!(
            !opened.covered.covers(10, at(1, 150)),
            "stream 1 was let go"
        );
        assert!(opened.covered.covers(10, at(2, 10)));
        assert!(opened.covered.covers(10, at(3, 10)), "never named: kept");
        // No checkpoint readable: nothing pruned by them.
        let mut opened = open(state.clone(), &lake, &table(), None).await.unwrap();
        assert!(opened.covered.covers(10, at(2, 10)));
        assert!(read_journal(&state).contains(&Record::Named(2)));
    }

    #[tokio::test]
    async fn a_torn_journal_keeps_its_writer_and_a_damaged_one_draws_another() {
        let tmp = tempfile::tempdir().unwrap();
        let lake = Lake::open(tmp.path().join("lake").to_str().unwrap()).unwrap();
        let state = tmp.path().join("state");
        let first = open(state.clone(), &lake, &table(), None)
            .await
            .unwrap()
            .writer;

        let mut bytes = std::fs::read(state.join(JOURNAL_FILE)).unwrap();
        journal::encode(&Record::Intent(intent(7, "t/x", 1, 0, 9)), &mut bytes);
        let whole = bytes.len();
        std::fs::write(state.join(JOURNAL_FILE), &bytes[..whole - 3]).unwrap();
        let opened = open(state.clone(), &lake, &table(), None).await.unwrap();
        assert_eq!(opened.writer, first);
        assert_eq!(opened.next_seq, 1, "the torn intent was never put");

        bytes[MAGIC.len() + 9] ^= 0xff;
        std::fs::write(state.join(JOURNAL_FILE), &bytes).unwrap();
        let opened = open(state.clone(), &lake, &table(), None).await.unwrap();
        assert_ne!(opened.writer, first);
        assert_eq!(read_journal(&state), [Record::NextSeq(1)]);
    }

    #[tokio::test]
    async fn appended_records_are_read_at_the_next_open() {
        let tmp = tempfile::tempdir().unwrap();
        let lake = Lake::open(tmp.path().join("lake").to_str().unwrap()).unwrap();
        let state = tmp.path().join("state");
        let mut opened = open(state.clone(), &lake, &table(), None).await.unwrap();
        opened
            .journal
            .append(&[Record::Intent(intent(1, "t/a", 1, 0, 9))], true)
            .await
            .unwrap();
        opened
            .journal
            .append(&[Record::Stored(1)], false)
            .await
            .unwrap();
        let mut again = open(state, &lake, &table(), None).await.unwrap();
        assert_eq!(again.next_seq, 2);
        assert!(again.covered.covers(10, at(1, 5)));
    }
}
