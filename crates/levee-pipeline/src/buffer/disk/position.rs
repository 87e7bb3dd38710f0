//! The buffer's read position, kept in `position` beside the segments:
//! everything before it was stored by the sink, so a restart reads on
//! from there.
//!
//! ```text
//! position = segment:u64le offset:u64le crc:u32le
//! ```
//!
//! Written atomically (a temporary file, fsync, rename, fsync of the
//! folder): a crash leaves the old position or the new one, never half.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

/// The file's name in the buffer's folder.
pub const FILE: &str = "position";
const TMP: &str = "position.tmp";

/// A place in the log: a segment and a byte offset in it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Pos {
    /// The segment's id.
    pub segment: u64,
    /// Bytes from the segment's start.
    pub offset: u64,
}

fn encode(pos: Pos) -> [u8; 20] {
    let mut bytes = [0; 20];
    bytes[..8].copy_from_slice(&pos.segment.to_le_bytes());
    bytes[8..16].copy_from_slice(&pos.offset.to_le_bytes());
    let crc = crc32fast::hash(&bytes[..16]);
    bytes[16..].copy_from_slice(&crc.to_le_bytes());
    bytes
}

/// What a `position` file says: `Ok(None)` if there is none, `Err` with
/// the reason if it is damaged.
pub fn read(dir: &Path) -> io::Result<Result<Option<Pos>, String>> {
    let bytes = match std::fs::read(dir.join(FILE)) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Ok(None)),
        Err(e) => return Err(e),
    };
    Ok(decode(&bytes).map(Some))
}

fn decode(bytes: &[u8]) -> Result<Pos, String> {
    let bytes: &[u8; 20] = bytes
        .try_into()
        .map_err(|_| format!("{} bytes, not 20", bytes.len()))?;
    let word = |i: usize| {
        let mut w = [0; 8];
        w.copy_from_slice(&bytes[i..i + 8]);
        u64::from_le_bytes(w)
    };
    let crc = u32::from_le_bytes([bytes[16], bytes[17], bytes[18], bytes[19]]);
    if crc32fast::hash(&bytes[..16]) != crc {
        return Err("its checksum does not match".into());
    }
    Ok(Pos {
        segment: word(0),
        offset: word(8),
    })
}

/// Replaces the position, durably.
pub fn write(dir: &Path, pos: Pos) -> io::Result<()> {
    let tmp = dir.join(TMP);
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&tmp)?;
    file.write_all(&encode(pos))?;
    file.sync_data()?;
    std::fs::rename(&tmp, dir.join(FILE))?;
    sync_dir(dir)
}

/// Makes a folder's entries (a new, renamed or deleted file) durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_position_reads_back_and_none_is_none() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read(dir.path()).unwrap(), Ok(None));
        let pos = Pos {
            segment: 3,
            offset: 1 << 40,
        };
        write(dir.path(), pos).unwrap();
        assert_eq!(read(dir.path()).unwrap(), Ok(Some(pos)));
        assert!(!dir.path().join(TMP).exists());
    }

    #[test]
    fn a_damaged_position_is_said_not_believed() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), Pos::default()).unwrap();
        let mut bytes = std::fs::read(dir.path().join(FILE)).unwrap();
        bytes[3] ^= 1;
        std::fs::write(dir.path().join(FILE), &bytes).unwrap();
        assert!(read(dir.path()).unwrap().is_err());
        std::fs::write(dir.path().join(FILE), b"short").unwrap();
        assert!(read(dir.path()).unwrap().is_err());
    }
}
