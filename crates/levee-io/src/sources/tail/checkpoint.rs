//! Where a `tail` source left each file at its last clean stop, so that a
//! restart reads on from there instead of from the start.
//!
//! As it stops, the source writes `checkpoints/<source>.pending` under the
//! pipeline's data folder. The pipeline renames it to `<source>.json` only
//! once every output has written what the source sent ([`commit`]); a
//! crash or kill before that leaves the last committed checkpoint, and the
//! restart reads again what came after it. Lines may repeat; none is lost.
//!
//! A file is known again by its inode and a hash of its first bytes (up to
//! [`HEAD_BYTES`]), so a new file that got a freed inode, or a file
//! rewritten in place, is read from its start.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Bytes at the start of a file that identify it beside its inode.
const HEAD_BYTES: u64 = 1024;

/// The format's version, so a later levee can tell an older file.
const VERSION: u32 = 1;

/// Where one file was left.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Mark {
    pub(super) path: PathBuf,
    pub(super) inode: u64,
    /// Bytes read and sent, up to the end of the last whole line.
    pub(super) offset: u64,
    /// How many of the file's first bytes `head_hash` covers: `HEAD_BYTES`,
    /// or fewer in a shorter file.
    pub(super) head_len: u64,
    pub(super) head_hash: u64,
}

#[derive(Serialize, Deserialize)]
struct Checkpoint {
    version: u32,
    files: Vec<Mark>,
}

impl Mark {
    /// The mark for `file`, open at `path`, read up to `offset`.
    pub(super) fn of(path: &Path, file: &File, inode: u64, offset: u64) -> std::io::Result<Mark> {
        let head_len = offset.min(HEAD_BYTES);
        Ok(Mark {
            path: path.to_owned(),
            inode,
            offset,
            head_len,
            head_hash: head_hash(file, head_len)?,
        })
    }

    /// True if `file`, just opened at the mark's path with this inode and
    /// length, is the file the mark was taken of, and still holds what was
    /// read of it.
    pub(super) fn matches(&self, file: &File, inode: u64, len: u64) -> bool {
        self.inode == inode
            && self.offset <= len
            && head_hash(file, self.head_len).is_ok_and(|hash| hash == self.head_hash)
    }
}

/// FNV-1a over the file's first `len` bytes: stable across builds and
/// platforms, unlike std's hasher. Positioned reads leave the handle's
/// place where it was.
fn head_hash(file: &File, len: u64) -> std::io::Result<u64> {
    let mut head = Vec::with_capacity(len as usize);
    read_head(file, len, &mut head)?;
    if (head.len() as u64) < len {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    Ok(head.iter().fold(0xcbf2_9ce4_8422_2325u64, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    }))
}

#[cfg(unix)]
fn read_head(file: &File, len: u64, head: &mut Vec<u8>) -> std::io::Result<()> {
    use std::os::unix::fs::FileExt;
    head.resize(len as usize, 0);
    let mut at = 0;
    while at < head.len() {
        match file.read_at(&mut head[at..], at as u64)? {
            0 => break,
            n => at += n,
        }
    }
    head.truncate(at);
    Ok(())
}

#[cfg(not(unix))]
fn read_head(file: &File, len: u64, head: &mut Vec<u8>) -> std::io::Result<()> {
    use std::io::{Read, Seek, SeekFrom};
    // Without positioned reads, a second handle keeps the caller's place.
    let mut clone = file.try_clone()?;
    clone.seek(SeekFrom::Start(0))?;
    clone.take(len).read_to_end(head)?;
    Ok(())
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

fn committed_path(data_dir: &Path, source: &str) -> PathBuf {
    folder(data_dir).join(format!("{}.json", file_stem(source)))
}

fn pending_path(data_dir: &Path, source: &str) -> PathBuf {
    folder(data_dir).join(format!("{}.pending", file_stem(source)))
}

/// The source's committed marks, by path. A missing checkpoint is a first
/// start; an unreadable one is reported and read as none, so every file
/// is read from its start: lines may repeat, none is lost.
pub(super) fn load(data_dir: &Path, source: &str) -> HashMap<PathBuf, Mark> {
    let path = committed_path(data_dir, source);
    let text = match std::fs::read(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return HashMap::new(),
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "tail: cannot read the checkpoint; reading every file from its start");
            return HashMap::new();
        }
    };
    match parse(&text) {
        Ok(marks) => marks.into_iter().map(|m| (m.path.clone(), m)).collect(),
        Err(why) => {
            tracing::warn!(path = %path.display(), error = %why, "tail: the checkpoint is not valid; reading every file from its start");
            HashMap::new()
        }
    }
}

/// Reads a checkpoint file's text.
fn parse(text: &[u8]) -> Result<Vec<Mark>, String> {
    let checkpoint: Checkpoint = serde_json::from_slice(text).map_err(|e| e.to_string())?;
    if checkpoint.version != VERSION {
        return Err(format!(
            "version {} (this levee writes {VERSION})",
            checkpoint.version
        ));
    }
    if let Some(bad) = checkpoint
        .files
        .iter()
        .find(|m| m.head_len > m.offset.min(HEAD_BYTES))
    {
        return Err(format!(
            "{}: head_len {} past offset {}",
            bad.path.display(),
            bad.head_len,
            bad.offset
        ));
    }
    Ok(checkpoint.files)
}

/// Writes the source's marks as its pending checkpoint, synced to disk.
pub(super) fn write_pending(
    data_dir: &Path,
    source: &str,
    files: Vec<Mark>,
) -> std::io::Result<()> {
    std::fs::create_dir_all(folder(data_dir))?;
    let text = serde_json::to_vec_pretty(&Checkpoint {
        version: VERSION,
        files,
    })
    .map_err(std::io::Error::other)?;
    let path = pending_path(data_dir, source);
    let mut file = File::create(&path)?;
    std::io::Write::write_all(&mut file, &text)?;
    file.sync_all()
}

/// Makes every pending checkpoint under `data_dir` the committed one. The
/// pipeline calls this after its outputs wrote everything: only then are
/// the offsets in them delivered.
pub fn commit(data_dir: &Path) -> std::io::Result<()> {
    let dir = folder(data_dir);
    for path in pending(&dir)? {
        std::fs::rename(&path, path.with_extension("json"))?;
    }
    // The renames themselves survive a crash only once the folder is synced.
    #[cfg(unix)]
    if dir.exists() {
        File::open(&dir)?.sync_all()?;
    }
    Ok(())
}

/// Removes the pending checkpoints a run that did not finish left (a
/// crash, a kill), before any source starts: what they hold was never
/// confirmed delivered, and a later [`commit`] must not make it so, even
/// for a source since removed from the config.
pub fn discard_pending(data_dir: &Path) -> std::io::Result<()> {
    for path in pending(&folder(data_dir))? {
        std::fs::remove_file(path)?;
    }
    Ok(())
}

/// The pending checkpoints in `dir`; none if it does not exist.
fn pending(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut found = Vec::new();
    for entry in entries {
        let path = entry?.path();
        if path.extension().is_some_and(|ext| ext == "pending") {
            found.push(path);
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn file_with(bytes: &[u8]) -> (tempfile::NamedTempFile, File) {
        let mut tmp = tempfile::NamedTempFile::new().unwrap();
        tmp.write_all(bytes).unwrap();
        tmp.flush().unwrap();
        let file = File::open(tmp.path()).unwrap();
        (tmp, file)
    }

    #[test]
    fn a_file_is_known_again_by_inode_length_and_head() {
        let (tmp, file) = file_with(b"one\ntwo\n");
        let mark = Mark::of(tmp.path(), &file, 7, 4).unwrap();
        assert_eq!(mark.head_len, 4);
        assert!(mark.matches(&file, 7, 8));
        assert!(!mark.matches(&file, 8, 8), "another inode");
        assert!(!mark.matches(&file, 7, 3), "shorter than what was read");
        let (_other, rewritten) = file_with(b"uno\ndos\n");
        assert!(!mark.matches(&rewritten, 7, 8), "other bytes at the start");
    }

    #[test]
    fn only_the_first_bytes_are_hashed() {
        let long = vec![b'x'; 3 * HEAD_BYTES as usize];
        let (tmp, file) = file_with(&long);
        let mark = Mark::of(tmp.path(), &file, 1, 2 * HEAD_BYTES).unwrap();
        assert_eq!(mark.head_len, HEAD_BYTES);
        let mut changed_later = long.clone();
        changed_later[2 * HEAD_BYTES as usize] = b'y';
        let (_t, later) = file_with(&changed_later);
        assert!(mark.matches(&later, 1, 3 * HEAD_BYTES));
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
    fn pending_becomes_committed_only_on_commit() {
        let dir = tempfile::tempdir().unwrap();
        let (tmp, file) = file_with(b"line\n");
        let mark = Mark::of(tmp.path(), &file, 3, 5).unwrap();
        write_pending(dir.path(), "nginx", vec![mark.clone()]).unwrap();

        // Not committed: not loaded, and gone at the next start.
        assert!(load(dir.path(), "nginx").is_empty());
        discard_pending(dir.path()).unwrap();
        assert!(!pending_path(dir.path(), "nginx").exists());
        commit(dir.path()).unwrap();
        assert!(load(dir.path(), "nginx").is_empty());

        write_pending(dir.path(), "nginx", vec![mark.clone()]).unwrap();
        commit(dir.path()).unwrap();
        let loaded = load(dir.path(), "nginx");
        assert_eq!(loaded.get(tmp.path()), Some(&mark));
        assert!(load(dir.path(), "other").is_empty());
    }

    #[test]
    fn hostile_checkpoints_are_refused_with_a_reason() {
        for (text, why) in [
            (&b""[..], "EOF"),
            (b"\xff\xfe", "expected value"),
            (b"[]", "invalid length 0"),
            (b"7", "invalid type"),
            (br#"{"version":1}"#, "missing field `files`"),
            (br#"{"version":2,"files":[]}"#, "version 2"),
            (
                br#"{"version":1,"files":[{"path":"a","inode":1,"offset":-1,"head_len":0,"head_hash":0}]}"#,
                "invalid value",
            ),
            (
                br#"{"version":1,"files":[{"path":"a","inode":1,"offset":10,"head_len":11,"head_hash":0}]}"#,
                "head_len 11 past offset 10",
            ),
            (
                br#"{"version":1,"files":[{"path":"a","inode":1,"offset":1e400,"head_len":0,"head_hash":0}]}"#,
                "",
            ),
        ] {
            let err = parse(text).expect_err(&String::from_utf8_lossy(text));
            assert!(err.contains(why), "{err:?} for {:?}", String::from_utf8_lossy(text));
        }
    }

    #[test]
    fn an_unreadable_checkpoint_is_read_as_none() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(folder(dir.path())).unwrap();
        std::fs::write(committed_path(dir.path(), "nginx"), b"{not json").unwrap();
        assert!(load(dir.path(), "nginx").is_empty());
    }

    fn mark() -> impl proptest::strategy::Strategy<Value = Mark> {
        use proptest::prelude::*;
        (
            "[^\\x00]{1,40}",
            any::<u64>(),
            any::<u64>(),
            0..=HEAD_BYTES,
            any::<u64>(),
        )
            .prop_map(|(path, inode, offset, head_len, head_hash)| Mark {
                path: PathBuf::from(path),
                inode,
                offset: offset.max(head_len),
                head_len,
                head_hash,
            })
    }

    proptest::proptest! {
        #[test]
        fn any_bytes_are_read_or_refused(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..600)) {
            if let Ok(marks) = parse(&bytes) {
                for m in marks {
                    proptest::prop_assert!(m.head_len <= m.offset.min(HEAD_BYTES));
                }
            }
        }

        #[test]
        fn marks_come_back_as_written(marks in proptest::collection::vec(mark(), 0..6)) {
            let dir = tempfile::tempdir().unwrap();
            write_pending(dir.path(), "app", marks.clone()).unwrap();
            commit(dir.path()).unwrap();
            let loaded = load(dir.path(), "app");
            // One mark per path: the last written for a path wins.
            let mut want: HashMap<PathBuf, Mark> = HashMap::new();
            for m in marks {
                want.insert(m.path.clone(), m);
            }
            proptest::prop_assert_eq!(loaded, want);
        }
    }
}
