//! Where a `tail` source has delivered each file to, so that a restart
//! (after a clean stop, a crash or `kill -9`) reads on from there.
//!
//! The source writes `checkpoints/<source>.json` under the pipeline's data
//! folder every `checkpoint_interval`, from the offsets of the batches every
//! output has finished with (see `progress.rs`), and once more at a clean
//! stop. Each write is atomic: a temporary file, synced, renamed over the
//! old one, and the folder synced, so a crash leaves the old checkpoint or
//! the new one, never half of one.
//!
//! Files are known by identity ([`FileId`]), not by name: a restart finds a
//! file renamed since (`access.log.1`) as the one it was reading.
//!
//! Version 3 (this one) names each file by device, inode and the
//! fingerprint of its first line, with its generation: how many times it
//! was seen truncated in place, a part of its events' stream. Version 2 is
//! the same without generations, and is read as generation 0 throughout.
//! Version 1 (a clean stop's offsets by path,
//! with the inode and a hash of the first bytes read) is still read: each
//! of its files is looked at once, and if it is still the file named, its
//! identity is taken from it.

use std::collections::HashMap;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::identity::{self, FileId};

/// The format's version, so a later levee can tell an older file.
const VERSION: u32 = 3;

/// Version 2: as this one, without generations.
const VERSION_2: u32 = 2;

/// Most files a checkpoint may name, so that a hostile or corrupt file
/// cannot make the source hold an unbounded list.
pub(super) const MAX_ENTRIES: usize = 1_000_000;

/// Where one file was delivered to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Entry {
    /// Where it was last seen (a hint: it is found again by identity).
    pub(super) path: PathBuf,
    pub(super) dev: u64,
    pub(super) inode: u64,
    pub(super) fingerprint: u64,
    /// Truncations in place seen so far (see [`FileId::stream`]); 0 in a
    /// version 2 checkpoint.
    #[serde(default)]
    pub(super) generation: u32,
    /// The [`Origin`](levee_event::Origin) stream of its events, for the
    /// lake output (see [`resume_offsets`]); set as the file is written.
    pub(super) stream: u64,
    /// Every line before this offset was delivered.
    pub(super) offset: u64,
}

impl Entry {
    pub(super) fn new(path: PathBuf, id: FileId, generation: u32, offset: u64) -> Entry {
        Entry {
            path,
            dev: id.dev,
            inode: id.inode,
            fingerprint: id.fingerprint,
            generation,
            stream: 0,
            offset,
        }
    }

    pub(super) fn id(&self) -> FileId {
        FileId {
            dev: self.dev,
            inode: self.inode,
            fingerprint: self.fingerprint,
        }
    }
}

#[derive(Serialize, Deserialize)]
struct Checkpoint {
    version: u32,
    files: Vec<Entry>,
}

/// A checkpoint of version 1, read only to be converted.
#[derive(Deserialize)]
struct CheckpointV1 {
    files: Vec<MarkV1>,
}

#[derive(Deserialize)]
struct MarkV1 {
    path: PathBuf,
    inode: u64,
    offset: u64,
    head_len: u64,
    head_hash: u64,
}

/// Why a checkpoint was not read.
#[derive(Debug, thiserror::Error)]
pub(super) enum LoadError {
    /// Written by a later levee: reading it as nothing would read every
    /// file again, and writing ours would lose what it knows.
    #[error(
        "{path}: checkpoint version {version} is from a newer levee (this one reads 1 to {VERSION}); \
         remove the file or set ignore_checkpoints = true to read every file from its start"
    )]
    Future {
        /// The checkpoint file.
        path: PathBuf,
        /// The version it says.
        version: u32,
    },
}

/// The folder of every source's checkpoints.
fn folder(data_dir: &Path) -> PathBuf {
    data_dir.join("checkpoints")
}

/// A source's name as a file name: letters, digits, `-` and `_` kept,
/// every other byte as `%XX`, so no name can climb out of the folder.
fn file_stem(source: &str) -> String {
    let mut stem = String::with_capacity(source.len());
    for b in source.bytes() {
        if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
            stem.push(char::from(b));
        } else {
            stem.push_str(&format!("%{b:02X}"));
        }
    }
    stem
}

pub(super) fn path(data_dir: &Path, source: &str) -> PathBuf {
    folder(data_dir).join(format!("{}.json", file_stem(source)))
}

/// What a load found.
#[derive(Debug, Default)]
pub(super) struct Loaded {
    /// Where each known file was delivered to.
    pub(super) entries: Vec<Entry>,
    /// False when a checkpoint was there but could not be read: the source
    /// then reads every file from its start, whatever `read_from` says.
    pub(super) readable: bool,
}

/// The source's checkpoint. None is a first start; an unreadable one
/// (garbage, cut short) is reported and read as none, so every file is read
/// from its start: lines may repeat, none is lost. One from a newer levee
/// is refused.
pub(super) fn load(data_dir: &Path, source: &str) -> Result<Loaded, LoadError> {
    let path = path(data_dir, source);
    let text = match std::fs::read(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Loaded {
                entries: Vec::new(),
                readable: true,
            });
        }
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "tail: cannot read the checkpoint; reading every file from its start");
            return Ok(Loaded::default());
        }
    };
    match parse(&text) {
        Ok(entries) => Ok(Loaded {
            entries,
            readable: true,
        }),
        Err(Parsed::Future(version)) => Err(LoadError::Future { path, version }),
        Err(Parsed::Invalid(why)) => {
            tracing::warn!(path = %path.display(), error = %why, "tail: the checkpoint is not valid; reading every file from its start");
            Ok(Loaded::default())
        }
    }
}

/// Why a checkpoint's text was refused.
#[derive(Debug, PartialEq, Eq)]
enum Parsed {
    Future(u32),
    Invalid(String),
}

/// Reads a checkpoint file's text, of either version.
fn parse(text: &[u8]) -> Result<Vec<Entry>, Parsed> {
    #[derive(Deserialize)]
    struct Versioned {
        version: u32,
    }
    let invalid = |e: serde_json::Error| Parsed::Invalid(e.to_string());
    let version = serde_json::from_slice::<Versioned>(text)
        .map_err(invalid)?
        .version;
    let entries = match version {
        1 => {
            let v1: CheckpointV1 = serde_json::from_slice(text).map_err(invalid)?;
            check_len(v1.files.len())?;
            v1.files.into_iter().filter_map(convert_v1).collect()
        }
        VERSION_2 | VERSION => {
            let checkpoint: Checkpoint = serde_json::from_slice(text).map_err(invalid)?;
            check_len(checkpoint.files.len())?;
            // Version 2 had no generations: a file with one is not one.
            if version == VERSION_2 && checkpoint.files.iter().any(|f| f.generation != 0) {
                return Err(Parsed::Invalid(
                    "a generation in a version 2 checkpoint".into(),
                ));
            }
            checkpoint.files
        }
        v if v > VERSION => return Err(Parsed::Future(v)),
        v => return Err(Parsed::Invalid(format!("unknown version {v}"))),
    };
    Ok(entries)
}

fn check_len(len: usize) -> Result<(), Parsed> {
    if len > MAX_ENTRIES {
        return Err(Parsed::Invalid(format!(
            "{len} files, more than the {MAX_ENTRIES} a checkpoint may name"
        )));
    }
    Ok(())
}

/// A version 1 mark as an entry, if the file at its path is still the one
/// it names (same inode, same first bytes); otherwise it is forgotten.
fn convert_v1(mark: MarkV1) -> Option<Entry> {
    let file = File::open(&mark.path).ok()?;
    let meta = file.metadata().ok()?;
    let (dev, inode) = identity::dev_inode(&meta);
    let head_len = usize::try_from(mark.head_len)
        .ok()
        .filter(|&n| n <= identity::FINGERPRINT_BYTES && mark.head_len <= mark.offset)?;
    let mut head = vec![0; head_len];
    let same = inode == mark.inode
        && mark.offset <= meta.len()
        && identity::read_head(&file, &mut head).ok() == Some(head_len)
        && identity::fnv1a(&head) == mark.head_hash;
    if !same {
        tracing::info!(path = %mark.path.display(), "tail: a file in the old checkpoint was replaced; forgetting it");
        return None;
    }
    let fingerprint = identity::fingerprint(&file).ok()??;
    let id = FileId {
        dev,
        inode,
        fingerprint,
    };
    Some(Entry::new(mark.path, id, 0, mark.offset))
}

/// Per stream, the offset its tail source resumes at, from every source's
/// checkpoint under `data_dir`: what a replay after a crash can still
/// reach (the lake output prunes its coverage journal by it). `None` when
/// one of them cannot be read as this version: its source then reads its
/// files from their start, and nothing may be pruned.
pub fn resume_offsets(data_dir: &Path) -> Option<HashMap<u64, u64>> {
    let mut offsets = HashMap::new();
    let entries = match std::fs::read_dir(folder(data_dir)) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Some(offsets),
        Err(_) => return None,
    };
    for entry in entries {
        let path = entry.ok()?.path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let text = std::fs::read(&path).ok()?;
        let checkpoint: Checkpoint = serde_json::from_slice(&text).ok()?;
        if checkpoint.version != VERSION && checkpoint.version != VERSION_2 {
            return None;
        }
        for file in checkpoint.files {
            offsets.insert(file.stream, file.offset);
        }
    }
    Some(offsets)
}

/// Writes the source's checkpoint atomically: a temporary file beside it,
/// synced, renamed over it, and the folder synced so the rename lasts.
pub(super) fn write(data_dir: &Path, source: &str, mut files: Vec<Entry>) -> std::io::Result<()> {
    for entry in &mut files {
        entry.stream = entry.id().stream(source, entry.generation);
    }
    let dir = folder(data_dir);
    std::fs::create_dir_all(&dir)?;
    let text = serde_json::to_vec(&Checkpoint {
        version: VERSION,
        files,
    })
    .map_err(std::io::Error::other)?;
    let path = path(data_dir, source);
    let tmp = path.with_extension("json.tmp");
    let mut file = File::create(&tmp)?;
    file.write_all(&text)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&tmp, &path)?;
    #[cfg(unix)]
    File::open(&dir)?.sync_all()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(path: &str, inode: u64, offset: u64) -> Entry {
        let id = FileId {
            dev: 7,
            inode,
            fingerprint: 99,
        };
        Entry::new(PathBuf::from(path), id, 0, offset)
    }

    #[test]
    fn names_cannot_climb_out_of_the_folder() {
        assert_eq!(file_stem("nginx_access-1"), "nginx_access-1");
        assert_eq!(file_stem("../x"), "%2E%2E%2Fx");
        assert_eq!(file_stem("a b/é"), "a%20b%2F%C3%A9");
        // Distinct names stay distinct.
        assert_ne!(file_stem("a.b"), file_stem("a_b"));
    }

    #[test]
    fn entries_come_back_as_written_and_no_temporary_file_is_left() {
        let dir = tempfile::tempdir().unwrap();
        let files = vec![entry("a.log", 1, 10), entry("a.log.1", 2, 0)];
        write(dir.path(), "nginx", files.clone()).unwrap();
        let loaded = load(dir.path(), "nginx").unwrap();
        assert!(loaded.readable);
        let streams: Vec<u64> = loaded.entries.iter().map(|e| e.stream).collect();
        assert_eq!(
            streams,
            [
                files[0].id().stream("nginx", 0),
                files[1].id().stream("nginx", 0)
            ]
        );
        // Written again, over the old one.
        write(dir.path(), "nginx", vec![entry("a.log", 1, 20)]).unwrap();
        assert_eq!(load(dir.path(), "nginx").unwrap().entries[0].offset, 20);
        let names: Vec<_> = std::fs::read_dir(folder(dir.path()))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["nginx.json"]);
        assert!(load(dir.path(), "other").unwrap().entries.is_empty());
    }

    #[test]
    fn resume_offsets_are_read_by_stream_from_every_source() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(resume_offsets(dir.path()), Some(HashMap::new()));
        let a = entry("a.log", 1, 10);
        write(dir.path(), "nginx", vec![a.clone()]).unwrap();
        write(dir.path(), "app", vec![entry("b.log", 2, 20)]).unwrap();
        let offsets = resume_offsets(dir.path()).unwrap();
        assert_eq!(offsets.len(), 2);
        assert_eq!(offsets[&a.id().stream("nginx", 0)], 10);
        // One that cannot be read: nothing can be said.
        std::fs::write(path(dir.path(), "bad"), b"{").unwrap();
        assert_eq!(resume_offsets(dir.path()), None);
    }

    #[test]
    fn hostile_checkpoints_are_refused_with_a_reason() {
        for (text, why) in [
            (&b""[..], "EOF"),
            (b"\xff\xfe", "expected value"),
            (b"[]", "invalid length 0"),
            (b"7", "invalid type"),
            (br#"{"version":2}"#, "missing field `files`"),
            (br#"{"version":0,"files":[]}"#, "unknown version 0"),
            (br#"{"version":2,"files":[{"path":"a""#, "EOF"),
            (
                br#"{"version":2,"files":[{"path":"a","dev":1,"inode":1,"fingerprint":1,"stream":1,"offset":-1}]}"#,
                "invalid value",
            ),
            (
                br#"{"version":2,"files":[{"path":"a","dev":1,"inode":1,"fingerprint":1,"stream":1,"offset":1e400}]}"#,
                "",
            ),
            (
                br#"{"version":2,"files":[{"path":"a","dev":1,"inode":1,"fingerprint":1,"stream":1,"offset":1,"x":2}]}"#,
                "unknown field",
            ),
        ] {
            let err = parse(text).expect_err(&String::from_utf8_lossy(text));
            let Parsed::Invalid(err) = err else {
                panic!("{err:?}")
            };
            assert!(
                err.contains(why),
                "{err:?} for {:?}",
                String::from_utf8_lossy(text)
            );
        }
    }

    #[test]
    fn an_unreadable_checkpoint_is_read_as_none_and_said() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(folder(dir.path())).unwrap();
        // Cut short, as a disk that filled up might leave it.
        let mut text = Vec::new();
        serde_json::to_writer(
            &mut text,
            &Checkpoint {
                version: VERSION,
                files: vec![entry("a", 1, 5)],
            },
        )
        .unwrap();
        text.truncate(text.len() / 2);
        std::fs::write(path(dir.path(), "nginx"), &text).unwrap();
        let loaded = load(dir.path(), "nginx").unwrap();
        assert!(loaded.entries.is_empty());
        assert!(
            !loaded.readable,
            "the source reads every file from its start"
        );
    }

    #[test]
    fn a_checkpoint_from_a_newer_levee_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(folder(dir.path())).unwrap();
        std::fs::write(
            path(dir.path(), "nginx"),
            br#"{"version":4,"files":[],"more":"things"}"#,
        )
        .unwrap();
        let err = load(dir.path(), "nginx").unwrap_err();
        assert!(err.to_string().contains("version 4 is from a newer levee"));
    }

    #[test]
    fn a_version_1_checkpoint_is_read_for_files_that_are_still_there() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("app.log");
        std::fs::write(&log, b"a1\na2\n").unwrap();
        let replaced = dir.path().join("gone.log");
        std::fs::write(&replaced, b"b1\n").unwrap();
        let inode = identity::dev_inode(&std::fs::metadata(&log).unwrap()).1;
        let head_hash = identity::fnv1a(b"a1\n");
        let text = serde_json::json!({
            "version": 1,
            "files": [
                {"path": log, "inode": inode, "offset": 3, "head_len": 3, "head_hash": head_hash},
                {"path": replaced, "inode": 1, "offset": 3, "head_len": 3, "head_hash": 5},
                {"path": dir.path().join("missing"), "inode": 1, "offset": 3, "head_len": 3, "head_hash": 5},
            ]
        });
        std::fs::create_dir_all(folder(dir.path())).unwrap();
        std::fs::write(path(dir.path(), "app"), text.to_string()).unwrap();
        let loaded = load(dir.path(), "app").unwrap();
        assert_eq!(loaded.entries.len(), 1);
        let got = &loaded.entries[0];
        assert_eq!((got.path.as_path(), got.offset), (log.as_path(), 3));
        let file = File::open(&log).unwrap();
        assert_eq!(
            got.fingerprint,
            identity::fingerprint(&file).unwrap().unwrap()
        );
    }

    /// A truncation's generation survives a restart, and a version 2
    /// checkpoint (written before generations) reads as generation 0,
    /// with the streams it had.
    #[test]
    fn generations_are_kept_and_a_version_2_checkpoint_reads_as_generation_0() {
        let dir = tempfile::tempdir().unwrap();
        let mut truncated = entry("a.log", 1, 4);
        truncated.generation = 2;
        write(dir.path(), "nginx", vec![truncated.clone()]).unwrap();
        let got = &load(dir.path(), "nginx").unwrap().entries[0];
        assert_eq!(got.generation, 2);
        assert_eq!(got.stream, truncated.id().stream("nginx", 2));
        assert_ne!(got.stream, truncated.id().stream("nginx", 0));
        let offsets = resume_offsets(dir.path()).unwrap();
        assert_eq!(offsets[&truncated.id().stream("nginx", 2)], 4);

        let old = entry("b.log", 2, 9);
        let v2 = serde_json::json!({
            "version": 2,
            "files": [{"path": "b.log", "dev": 7, "inode": 2, "fingerprint": 99,
                       "stream": old.id().stream("nginx", 0), "offset": 9}]
        });
        std::fs::write(path(dir.path(), "nginx"), v2.to_string()).unwrap();
        let loaded = load(dir.path(), "nginx").unwrap();
        assert!(loaded.readable);
        assert_eq!(loaded.entries[0].generation, 0);
        assert_eq!(loaded.entries[0].id(), old.id());
        let offsets = resume_offsets(dir.path()).unwrap();
        assert_eq!(offsets[&old.id().stream("nginx", 0)], 9);
        // A version 2 file never had generations.
        let bad = br#"{"version":2,"files":[{"path":"a","dev":1,"inode":1,"fingerprint":1,"generation":1,"stream":1,"offset":1}]}"#;
        assert!(matches!(parse(bad), Err(Parsed::Invalid(_))));
    }

    proptest::proptest! {
        #[test]
        fn any_bytes_are_read_or_refused(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..600)) {
            let _ = parse(&bytes);
        }
    }
}
