//! Segment files: the write-ahead log's unit of writing and of deletion.
//!
//! A segment is `<id>.wal` (the id in twenty decimal digits, so names sort
//! in order) holding an 8-byte header and then records:
//!
//! ```text
//! segment = "LEVEEWAL" record*
//! record  = len:u32le crc:u32le payload[len]
//! ```
//!
//! `crc` is CRC-32 over the length's four bytes and the payload, so a run
//! of zeros (what a file system may show for data that never reached the
//! disk) is not a valid empty record. A record that is cut short, claims
//! more bytes than the segment has, or fails its checksum is damage: the
//! reader reports it and the buffer skips the rest of that segment, since
//! nothing after a bad length can be trusted to be a record boundary.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// The first bytes of every segment (the last byte is the format's version).
pub const MAGIC: &[u8; 8] = b"LEVEEWA1";
/// Where the first record starts.
pub const HEADER_LEN: u64 = MAGIC.len() as u64;
/// A record's length and checksum.
pub const FRAME_LEN: u64 = 8;

/// The file name of segment `id`.
pub fn file_name(id: u64) -> String {
    format!("{id:020}.wal")
}

/// The path of segment `id` in `dir`.
pub fn path(dir: &Path, id: u64) -> PathBuf {
    dir.join(file_name(id))
}

/// The segment id a file name gives, if it is a segment's.
pub fn parse_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(".wal")?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The segments in `dir`, by id, with their lengths.
pub fn list(dir: &Path) -> io::Result<Vec<(u64, u64)>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let Some(id) = entry.file_name().to_str().and_then(parse_name) else {
            continue;
        };
        found.push((id, entry.metadata()?.len()));
    }
    found.sort_unstable();
    Ok(found)
}

/// The checksum of a record: over its length and its payload.
pub fn checksum(payload: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&(payload.len() as u32).to_le_bytes());
    hasher.update(payload);
    hasher.finalize()
}

/// Appends the frame and payload of one record to `out`.
pub fn frame(payload: &[u8], out: &mut Vec<u8>) {
    frame_parts(&[payload], out);
}

/// Appends one record whose payload is `parts` one after the other, without
/// joining them first.
pub fn frame_parts(parts: &[&[u8]], out: &mut Vec<u8>) {
    let len: usize = parts.iter().map(|p| p.len()).sum();
    let len = (len as u32).to_le_bytes();
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&len);
    for part in parts {
        hasher.update(part);
    }
    out.extend_from_slice(&len);
    out.extend_from_slice(&hasher.finalize().to_le_bytes());
    for part in parts {
        out.extend_from_slice(part);
    }
}

/// What is wrong at a place in a segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Damage {
    /// The header is not levee's.
    #[error("the segment does not start with levee's header")]
    Header,
    /// Fewer bytes than a record's frame before the segment's end: a write
    /// cut short.
    #[error("a record's frame is cut short ({0} bytes before the end)")]
    TornFrame(u64),
    /// The frame claims more bytes than the segment holds.
    #[error("a record claims {claimed} bytes but only {left} are left")]
    TornPayload {
        /// The record's length as written.
        claimed: u64,
        /// What the segment holds after the frame.
        left: u64,
    },
    /// The checksum does not match.
    #[error("a record fails its checksum")]
    Checksum,
    /// The checksum matched but the events did not decode.
    #[error("a record's events do not decode: {0}")]
    Undecodable(super::codec::DecodeError),
}

/// What the next read of a segment found.
#[derive(Debug)]
pub enum Next {
    /// A whole record; the next one starts at `end`.
    Record {
        /// Its payload, checked.
        payload: Vec<u8>,
        /// Where the next record starts.
        end: u64,
    },
    /// The segment's end (or what is written of it so far).
    End,
    /// Damage at `at`.
    Damage {
        /// Where the bad record starts.
        at: u64,
        /// What is wrong.
        damage: Damage,
    },
}

/// Reads one segment record by record, with a cursor kept open.
pub struct SegmentReader {
    /// Its id.
    pub id: u64,
    file: File,
    /// Where the next record starts.
    pub pos: u64,
}

impl SegmentReader {
    /// Opens segment `id` to read from `pos` (at least [`HEADER_LEN`]).
    /// `Ok(Err(damage))` if its header is wrong.
    pub fn open(dir: &Path, id: u64, pos: u64) -> io::Result<Result<SegmentReader, Damage>> {
        let mut file = File::open(path(dir, id))?;
        let mut header = [0; HEADER_LEN as usize];
        match file.read_exact(&mut header) {
            Ok(()) if &header == MAGIC => {}
            Ok(()) => return Ok(Err(Damage::Header)),
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(Err(Damage::Header)),
            Err(e) => return Err(e),
        }
        let pos = pos.max(HEADER_LEN);
        file.seek(SeekFrom::Start(pos))?;
        Ok(Ok(SegmentReader { id, file, pos }))
    }

    /// Reads the record at the cursor, given that the segment's valid bytes
    /// end at `limit` (its length, or what the writer has written).
    pub fn next(&mut self, limit: u64) -> io::Result<Next> {
        let at = self.pos;
        if at >= limit {
            return Ok(Next::End);
        }
        let left = limit - at;
        if left < FRAME_LEN {
            return Ok(Next::Damage {
                at,
                damage: Damage::TornFrame(left),
            });
        }
        let mut frame = [0; FRAME_LEN as usize];
        self.file.read_exact(&mut frame)?;
        let len = u64::from(u32::from_le_bytes([frame[0], frame[1], frame[2], frame[3]]));
        let crc = u32::from_le_bytes([frame[4], frame[5], frame[6], frame[7]]);
        if len > left - FRAME_LEN {
            // Leave the cursor where it was: nothing here is trusted.
            self.file.seek(SeekFrom::Start(at))?;
            return Ok(Next::Damage {
                at,
                damage: Damage::TornPayload {
                    claimed: len,
                    left: left - FRAME_LEN,
                },
            });
        }
        // `len` is bounded by the bytes the segment holds, so this is no
        // allocation a damaged length could make huge.
        let mut payload = vec![0; len as usize];
        self.file.read_exact(&mut payload)?;
        if checksum(&payload) != crc {
            self.file.seek(SeekFrom::Start(at))?;
            return Ok(Next::Damage {
                at,
                damage: Damage::Checksum,
            });
        }
        self.pos = at + FRAME_LEN + len;
        Ok(Next::Record {
            payload,
            end: self.pos,
        })
    }
}

/// Every record of a segment held in memory, read as the buffer reads
/// it: the checked payloads in order, and the damage that ended the
/// reading, if any. For the fuzz target and `levee buffer inspect`.
pub fn scan(bytes: &[u8]) -> (Vec<&[u8]>, Option<(u64, Damage)>) {
    let mut records = Vec::new();
    if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
        return (records, Some((0, Damage::Header)));
    }
    let mut at = MAGIC.len();
    while at < bytes.len() {
        let left = (bytes.len() - at) as u64;
        if left < FRAME_LEN {
            return (records, Some((at as u64, Damage::TornFrame(left))));
        }
        let word =
            |i: usize| u32::from_le_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
        let len = u64::from(word(at));
        let crc = word(at + 4);
        if len > left - FRAME_LEN {
            return (
                records,
                Some((
                    at as u64,
                    Damage::TornPayload {
                        claimed: len,
                        left: left - FRAME_LEN,
                    },
                )),
            );
        }
        let start = at + FRAME_LEN as usize;
        let payload = &bytes[start..start + len as usize];
        if checksum(payload) != crc {
            return (records, Some((at as u64, Damage::Checksum)));
        }
        records.push(payload);
        at = start + len as usize;
    }
    (records, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segment(payloads: &[&[u8]]) -> Vec<u8> {
        let mut bytes = MAGIC.to_vec();
        for p in payloads {
            frame(p, &mut bytes);
        }
        bytes
    }

    #[test]
    fn names_sort_as_ids_and_only_segments_parse() {
        assert_eq!(file_name(42), "00000000000000000042.wal");
        assert_eq!(parse_name(&file_name(u64::MAX)), Some(u64::MAX));
        assert_eq!(parse_name("position"), None);
        assert_eq!(parse_name("42.wal"), None);
        assert_eq!(parse_name("0000000000000000004x.wal"), None);
    }

    #[test]
    fn records_read_back_in_order() {
        let bytes = segment(&[b"one", b"", b"three"]);
        let (records, damage) = scan(&bytes);
        assert_eq!(records, [&b"one"[..], b"", b"three"]);
        assert_eq!(damage, None);
    }

    #[test]
    fn zeros_are_not_a_record() {
        let mut bytes = segment(&[b"one"]);
        bytes.extend_from_slice(&[0; 64]);
        let (records, damage) = scan(&bytes);
        assert_eq!(records.len(), 1);
        assert_eq!(damage, Some((19, Damage::Checksum)));
    }

    #[test]
    fn every_cut_keeps_the_whole_records_before_it() {
        let bytes = segment(&[b"first record", b"second record"]);
        let first_end = MAGIC.len() + 8 + 12;
        for end in MAGIC.len()..bytes.len() {
            let (records, damage) = scan(&bytes[..end]);
            let whole = usize::from(end >= first_end);
            assert_eq!(records.len(), whole, "cut at {end}");
            assert_eq!(
                damage.is_some(),
                end != MAGIC.len() && end != first_end,
                "cut at {end}"
            );
        }
    }

    #[test]
    fn a_flipped_bit_anywhere_in_a_record_is_caught() {
        let bytes = segment(&[b"first", b"second"]);
        for at in MAGIC.len()..bytes.len() {
            let mut bad = bytes.clone();
            bad[at] ^= 0x10;
            let (records, damage) = scan(&bad);
            assert!(damage.is_some(), "flip at {at}");
            assert!(records.len() < 2, "flip at {at}");
        }
    }

    #[test]
    fn a_foreign_file_is_damage_at_its_start() {
        assert_eq!(scan(b"hello world").1, Some((0, Damage::Header)));
        assert_eq!(scan(b"").1, Some((0, Damage::Header)));
    }

    #[test]
    fn the_file_reader_agrees_with_scan() {
        let dir = tempfile::tempdir().unwrap();
        let mut bytes = segment(&[b"one", b"two"]);
        bytes.extend_from_slice(&[1, 2, 3]);
        std::fs::write(path(dir.path(), 7), &bytes).unwrap();
        let mut reader = SegmentReader::open(dir.path(), 7, 0).unwrap().unwrap();
        let limit = bytes.len() as u64;
        let mut got = Vec::new();
        loop {
            match reader.next(limit).unwrap() {
                Next::Record { payload, .. } => got.push(payload),
                Next::End => panic!("the torn tail was not seen"),
                Next::Damage { at, damage } => {
                    assert_eq!((at, damage), (30, Damage::TornFrame(3)));
                    break;
                }
            }
        }
        assert_eq!(got, [b"one".to_vec(), b"two".to_vec()]);
        std::fs::write(path(dir.path(), 8), b"LEVEEWA9").unwrap();
        assert!(matches!(
            SegmentReader::open(dir.path(), 8, 0).unwrap(),
            Err(Damage::Header)
        ));
    }

    proptest::proptest! {
        /// The fuzz target's property (fuzz/fuzz_targets/disk_buffer_segment.rs),
        /// on the inputs proptest makes, so CI checks it on stable too.
        #[test]
        fn any_bytes_scan_to_records_end_to_end_or_damage_after_them(
            header in proptest::bool::ANY,
            data in proptest::collection::vec(proptest::num::u8::ANY, 0..300),
        ) {
            let bytes = if header { [&MAGIC[..], &data].concat() } else { data };
            let (records, damage) = scan(&bytes);
            let mut end = HEADER_LEN;
            for payload in &records {
                end += FRAME_LEN + payload.len() as u64;
                if let Ok(events) = super::super::codec::decode(payload) {
                    let mut again = Vec::new();
                    super::super::codec::encode(&events, &mut again);
                    proptest::prop_assert!(again.len() <= payload.len());
                }
            }
            proptest::prop_assert!(end <= bytes.len() as u64 || records.is_empty());
            match damage {
                Some((at, _)) => proptest::prop_assert!(at == 0 || at == end),
                None => proptest::prop_assert_eq!(end, bytes.len() as u64),
            }
        }
    }
}
