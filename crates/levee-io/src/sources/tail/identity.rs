//! How a tailed file is known: by device, inode and a fingerprint of its
//! first line, whatever its name. A rename keeps all three; a new file that
//! got a freed inode, or a file rewritten in place, has another first line.

use std::fs::File;

use serde::{Deserialize, Serialize};

/// Most bytes the fingerprint covers: a first line longer than this is
/// known by its first KiB.
pub(super) const FINGERPRINT_BYTES: usize = 1024;

/// A file's identity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub(super) struct FileId {
    pub(super) dev: u64,
    pub(super) inode: u64,
    /// FNV-1a of the bytes up to and including the first newline, at most
    /// [`FINGERPRINT_BYTES`].
    pub(super) fingerprint: u64,
}

impl FileId {
    /// The [`Origin`](levee_event::Origin) stream of this file's events in
    /// source `source`, in its `generation`th life (each truncation in
    /// place starts a new one): stable across restarts, builds and
    /// platforms. A truncated file refilled with the same first line has
    /// the same identity, and its new lines' offsets are offsets the lake
    /// may already cover: the generation keeps them apart.
    pub(super) fn stream(&self, source: &str, generation: u32) -> u64 {
        let mut hash = fnv(FNV_OFFSET, source.as_bytes());
        // A separator byte no name holds keeps ("a", dev 1) from ("a\x01", ...).
        hash = fnv(hash, &[0xff]);
        hash = fnv(hash, &self.dev.to_le_bytes());
        hash = fnv(hash, &self.inode.to_le_bytes());
        hash = fnv(hash, &self.fingerprint.to_le_bytes());
        // Generation 0 hashes as before generations were kept: streams
        // already in a lake stay the same.
        if generation == 0 {
            hash
        } else {
            fnv(hash, &generation.to_le_bytes())
        }
    }
}

/// The device and inode of an open or stat'ed file.
#[cfg(unix)]
pub(super) fn dev_inode(meta: &std::fs::Metadata) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    (meta.dev(), meta.ino())
}

#[cfg(not(unix))]
pub(super) fn dev_inode(_meta: &std::fs::Metadata) -> (u64, u64) {
    (0, 0)
}

/// The fingerprint of `file`: `None` while its first line is still short
/// of a newline (it has no identity yet and makes no events yet).
pub(super) fn fingerprint(file: &File) -> std::io::Result<Option<u64>> {
    fingerprint_of(file, false)
}

/// The fingerprint of `file`; with `at_end` (no more bytes will come in
/// this run: `--exit-on-eof` at the end of input), a first line short of
/// a newline is known by the bytes it has, if it has any.
pub(super) fn fingerprint_of(file: &File, at_end: bool) -> std::io::Result<Option<u64>> {
    let mut head = [0u8; FINGERPRINT_BYTES];
    let n = read_head(file, &mut head)?;
    let head = &head[..n];
    Ok(match memchr::memchr(b'\n', head) {
        Some(nl) => Some(fnv(FNV_OFFSET, &head[..=nl])),
        None if n == FINGERPRINT_BYTES => Some(fnv(FNV_OFFSET, head)),
        None if at_end && n > 0 => Some(fnv(FNV_OFFSET, head)),
        None => None,
    })
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

/// FNV-1a: stable across builds and platforms, unlike std's hasher.
pub(super) fn fnv(hash: u64, bytes: &[u8]) -> u64 {
    bytes.iter().fold(hash, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// FNV-1a over a whole slice, from the standard offset.
pub(super) fn fnv1a(bytes: &[u8]) -> u64 {
    fnv(FNV_OFFSET, bytes)
}

/// Reads the file's first bytes into `head` with positioned reads, which
/// leave the handle's place where it was; returns how many there were.
#[cfg(unix)]
pub(super) fn read_head(file: &File, head: &mut [u8]) -> std::io::Result<usize> {
    use std::os::unix::fs::FileExt;
    let mut at = 0;
    while at < head.len() {
        match file.read_at(&mut head[at..], at as u64) {
            Ok(0) => break,
            Ok(n) => at += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(at)
}

#[cfg(not(unix))]
pub(super) fn read_head(file: &File, head: &mut [u8]) -> std::io::Result<usize> {
    use std::io::{Read, Seek, SeekFrom};
    // Without positioned reads, a second handle keeps the caller's place.
    let mut clone = file.try_clone()?;
    clone.seek(SeekFrom::Start(0))?;
    let mut at = 0;
    while at < head.len() {
        match clone.read(&mut head[at..])? {
            0 => break,
            n => at += n,
        }
    }
    Ok(at)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn file_with(bytes: &[u8]) -> File {
        let mut tmp = tempfile::tempfile().unwrap();
        tmp.write_all(bytes).unwrap();
        tmp
    }

    #[test]
    fn a_file_without_a_newline_has_no_identity_yet() {
        assert_eq!(fingerprint(&file_with(b"")).unwrap(), None);
        assert_eq!(fingerprint(&file_with(b"partial")).unwrap(), None);
        let one = fingerprint(&file_with(b"first\n")).unwrap();
        assert!(one.is_some());
        // Only the first line counts: the file grows, it stays the same.
        assert_eq!(fingerprint(&file_with(b"first\nsecond\n")).unwrap(), one);
        assert_ne!(fingerprint(&file_with(b"other\n")).unwrap(), one);
        // At the end of input, the bytes it has are its identity.
        assert!(
            fingerprint_of(&file_with(b"partial"), true)
                .unwrap()
                .is_some()
        );
        assert_eq!(fingerprint_of(&file_with(b""), true).unwrap(), None);
    }

    #[test]
    fn a_long_first_line_is_known_by_its_first_kib() {
        let long = vec![b'x'; FINGERPRINT_BYTES];
        let a = fingerprint(&file_with(&long)).unwrap();
        assert!(a.is_some());
        let mut longer = long.clone();
        longer.extend_from_slice(b"yyy\n");
        assert_eq!(fingerprint(&file_with(&longer)).unwrap(), a);
    }

    #[test]
    fn streams_are_stable_and_distinct() {
        let id = FileId {
            dev: 1,
            inode: 2,
            fingerprint: 3,
        };
        // Pinned: a change here changes every stream already in a lake.
        assert_eq!(id.stream("nginx", 0), id.stream("nginx", 0));
        assert_eq!(id.stream("nginx", 0), 0x88f7_9dd6_3e68_5bf0_u64);
        assert_ne!(id.stream("nginx", 0), id.stream("nginx2", 0));
        assert_ne!(
            id.stream("nginx", 0),
            FileId { inode: 3, ..id }.stream("nginx", 0)
        );
        // Each generation (a truncation in place) is a stream of its own.
        assert_ne!(id.stream("nginx", 0), id.stream("nginx", 1));
        assert_ne!(id.stream("nginx", 1), id.stream("nginx", 2));
    }
}
