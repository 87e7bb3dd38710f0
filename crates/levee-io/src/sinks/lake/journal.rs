//! The coverage journal's records and their encoding: what each lake
//! chunk holds of the tailed files, written before the chunk is put.
//!
//! The file is [`MAGIC`], then frames, each
//! `length (u32 LE) | CRC-32 of the payload (u32 LE) | payload`, appended
//! one write at a time. A kill can tear the last frame: [`decode`] reports
//! a short or zeroed last frame as [`Damage::Torn`] (nothing past it was
//! ever synced, so nothing is lost by dropping it) and anything else it
//! cannot read as [`Damage::Invalid`], keeping every whole record before
//! it. It never panics, whatever the bytes (a fuzz target checks).
//!
//! A payload is a tag byte and little-endian fields:
//! - `1` next seq: `seq u64`, the lowest chunk number not handed out yet;
//! - `2` intent: `seq u64, hour i64, key_len u16, key (UTF-8), count u32,`
//!   then `count` ranges of `stream u64, first u64, last u64`;
//! - `3` stored: `seq u64`;
//! - `4` named: `stream u64`, a stream a committed checkpoint named.

/// The first bytes of a journal file: the format and its version.
pub const MAGIC: &[u8; 8] = b"LVJRNL01";

/// Bytes before a frame's payload: its length and checksum.
const FRAME_HEAD: usize = 8;

/// The largest payload read: an intent of 64KiB of ranges and its key is
/// far past any real chunk (a range per tailed file in it), and a hostile
/// length must not ask for gigabytes.
pub const MAX_PAYLOAD: usize = 1 << 20;

const TAG_NEXT_SEQ: u8 = 1;
const TAG_INTENT: u8 = 2;
const TAG_STORED: u8 = 3;
const TAG_NAMED: u8 = 4;

/// One record of the journal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Record {
    /// Chunk numbers below this one may have been handed out: the next
    /// chunk is numbered at least this.
    NextSeq(u64),
    /// A chunk about to be put, and what it covers.
    Intent(Intent),
    /// The chunk numbered so is stored.
    Stored(u64),
    /// A committed checkpoint named this stream when the output opened:
    /// once none does, the source let its file go and never reads it
    /// again.
    Named(u64),
}

/// A chunk about to be put: written and synced before the put.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Intent {
    /// The writer's number of the chunk.
    pub seq: u64,
    /// The chunk's hour of event time, in hours since the epoch.
    pub hour: i64,
    /// The object's key in the lake.
    pub key: String,
    /// Per stream, the origin offsets of the chunk's events.
    pub ranges: Vec<Range>,
}

/// The first and last origin offsets of one stream's events in a chunk:
/// every event of the stream and the chunk's hour whose offset lies in
/// `first..=last` is in the chunk.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Range {
    /// The stream (a tailed file), as `Origin::stream`.
    pub stream: u64,
    /// The lowest offset.
    pub first: u64,
    /// The highest offset, at least `first`.
    pub last: u64,
}

/// What [`decode`] read.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Decoded {
    /// Every whole record, in order, up to any damage.
    pub records: Vec<Record>,
    /// Where reading stopped, if not at a clean end.
    pub damage: Option<Damage>,
}

/// Why [`decode`] stopped before the end.
#[derive(Debug, PartialEq, Eq)]
pub enum Damage {
    /// The last frame is short or zeroed: a write the process did not
    /// finish. Its bytes start `at`.
    Torn {
        /// Offset of the torn frame.
        at: usize,
    },
    /// Bytes that are not a journal's: a bad checksum or payload with
    /// more after it, an impossible length, or a foreign header.
    Invalid {
        /// Offset of the frame (or 0 for the header).
        at: usize,
        /// What was wrong.
        why: &'static str,
    },
}

/// Appends `record` as one frame.
pub fn encode(record: &Record, out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(&[0; FRAME_HEAD]);
    match record {
        Record::NextSeq(seq) => {
            out.push(TAG_NEXT_SEQ);
            out.extend_from_slice(&seq.to_le_bytes());
        }
        Record::Stored(seq) => {
            out.push(TAG_STORED);
            out.extend_from_slice(&seq.to_le_bytes());
        }
        Record::Named(stream) => {
            out.push(TAG_NAMED);
            out.extend_from_slice(&stream.to_le_bytes());
        }
        Record::Intent(intent) => {
            out.push(TAG_INTENT);
            out.extend_from_slice(&intent.seq.to_le_bytes());
            out.extend_from_slice(&intent.hour.to_le_bytes());
            // Keys are a few dozen bytes (`db/table/json/dt=.../hour=../..`);
            // the table and database names are checked to be short.
            let key = &intent.key.as_bytes()[..intent.key.len().min(usize::from(u16::MAX))];
            out.extend_from_slice(&(key.len() as u16).to_le_bytes());
            out.extend_from_slice(key);
            out.extend_from_slice(&(intent.ranges.len() as u32).to_le_bytes());
            for r in &intent.ranges {
                out.extend_from_slice(&r.stream.to_le_bytes());
                out.extend_from_slice(&r.first.to_le_bytes());
                out.extend_from_slice(&r.last.to_le_bytes());
            }
        }
    }
    let payload = &out[start + FRAME_HEAD..];
    let len = payload.len() as u32;
    let crc = crc32fast::hash(payload);
    out[start..start + 4].copy_from_slice(&len.to_le_bytes());
    out[start + 4..start + FRAME_HEAD].copy_from_slice(&crc.to_le_bytes());
}

/// Reads a journal file's bytes, header included. An empty file, or one
/// torn inside its header, is an empty journal.
pub fn decode(bytes: &[u8]) -> Decoded {
    let mut decoded = Decoded::default();
    if bytes.len() < MAGIC.len() {
        if !MAGIC.starts_with(bytes) {
            decoded.damage = Some(Damage::Invalid {
                at: 0,
                why: "not a journal",
            });
        } else if !bytes.is_empty() {
            decoded.damage = Some(Damage::Torn { at: 0 });
        }
        return decoded;
    }
    if &bytes[..MAGIC.len()] != MAGIC {
        decoded.damage = Some(Damage::Invalid {
            at: 0,
            why: "not a journal (or another version)",
        });
        return decoded;
    }
    let mut at = MAGIC.len();
    while at < bytes.len() {
        match frame(&bytes[at..]) {
            Ok((record, size)) => {
                decoded.records.push(record);
                at += size;
            }
            Err(Bad::Torn) => {
                decoded.damage = Some(Damage::Torn { at });
                break;
            }
            Err(Bad::Invalid(why)) => {
                decoded.damage = Some(if is_torn_tail(&bytes[at..]) {
                    Damage::Torn { at }
                } else {
                    Damage::Invalid { at, why }
                });
                break;
            }
        }
    }
    decoded
}

enum Bad {
    /// The frame runs past the end.
    Torn,
    Invalid(&'static str),
}

/// True for what a kill leaves of a last frame: zeros (space the file
/// system allocated before the data reached it), or one frame whose
/// checksum fails and that ends exactly at the end.
fn is_torn_tail(rest: &[u8]) -> bool {
    if rest.iter().all(|&b| b == 0) {
        return true;
    }
    frame_len(rest).is_some_and(|len| FRAME_HEAD + len == rest.len())
}

fn frame_len(bytes: &[u8]) -> Option<usize> {
    let head: [u8; 4] = bytes.get(..4)?.try_into().ok()?;
    Some(u32::from_le_bytes(head) as usize)
}

/// One frame at the start of `bytes`: its record and size.
fn frame(bytes: &[u8]) -> Result<(Record, usize), Bad> {
    if bytes.len() < FRAME_HEAD {
        return Err(Bad::Torn);
    }
    let mut head = Reader(&bytes[..FRAME_HEAD]);
    let len = head.u32().ok_or(Bad::Torn)? as usize;
    let crc = head.u32().ok_or(Bad::Torn)?;
    if len == 0 || len > MAX_PAYLOAD {
        return Err(Bad::Invalid("impossible length"));
    }
    let Some(payload) = bytes.get(FRAME_HEAD..FRAME_HEAD + len) else {
        return Err(Bad::Torn);
    };
    if crc32fast::hash(payload) != crc {
        return Err(Bad::Invalid("checksum mismatch"));
    }
    let record = payload_record(payload).ok_or(Bad::Invalid("malformed record"))?;
    Ok((record, FRAME_HEAD + len))
}

/// A payload whose checksum matched; `None` if it is not a record (a
/// journal of another version, or a bug).
fn payload_record(payload: &[u8]) -> Option<Record> {
    let mut r = Reader(payload);
    let record = match r.u8()? {
        TAG_NEXT_SEQ => Record::NextSeq(r.u64()?),
        TAG_STORED => Record::Stored(r.u64()?),
        TAG_NAMED => Record::Named(r.u64()?),
        TAG_INTENT => {
            let seq = r.u64()?;
            let hour = r.u64()? as i64;
            let key_len = usize::from(r.u16()?);
            let key = std::str::from_utf8(r.take(key_len)?).ok()?.to_owned();
            let count = r.u32()? as usize;
            // Checked against what is left before allocating for it.
            if count > r.0.len() / 24 {
                return None;
            }
            let mut ranges = Vec::with_capacity(count);
            for _ in 0..count {
                let range = Range {
                    stream: r.u64()?,
                    first: r.u64()?,
                    last: r.u64()?,
                };
                if range.first > range.last {
                    return None;
                }
                ranges.push(range);
            }
            Record::Intent(Intent {
                seq,
                hour,
                key,
                ranges,
            })
        }
        _ => return None,
    };
    r.0.is_empty().then_some(record)
}

/// Little-endian fields off the front of a slice.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }

    fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }

    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_le_bytes(self.take(2)?.try_into().ok()?))
    }

    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }

    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn intent(seq: u64) -> Record {
        Record::Intent(Intent {
            seq,
            hour: 429_378,
            key: format!("db/t/json/dt=2018-12-24/hour=18/05-0a1b2c3d-{seq:08}.ndjson.zst"),
            ranges: vec![
                Range {
                    stream: 7,
                    first: 0,
                    last: 4096,
                },
                Range {
                    stream: u64::MAX,
                    first: 12,
                    last: 12,
                },
            ],
        })
    }

    fn journal(records: &[Record]) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        for r in records {
            encode(r, &mut out);
        }
        out
    }

    fn sample() -> Vec<Record> {
        vec![
            Record::NextSeq(41),
            intent(41),
            Record::Stored(41),
            Record::Named(7),
            intent(42),
        ]
    }

    #[test]
    fn records_read_back_as_written() {
        let records = sample();
        let decoded = decode(&journal(&records));
        assert_eq!(decoded.records, records);
        assert_eq!(decoded.damage, None);
        assert_eq!(decode(b""), Decoded::default(), "an empty file");
        assert_eq!(decode(MAGIC), Decoded::default(), "a header alone");
    }

    #[test]
    fn a_journal_torn_anywhere_in_its_last_frame_keeps_every_whole_record() {
        let records = sample();
        let bytes = journal(&records);
        let last = journal(&records[..4]).len();
        for cut in last + 1..bytes.len() {
            let decoded = decode(&bytes[..cut]);
            assert_eq!(decoded.records, records[..4], "cut at {cut}");
            assert_eq!(decoded.damage, Some(Damage::Torn { at: last }), "{cut}");
        }
        for cut in 1..MAGIC.len() {
            assert_eq!(decode(&bytes[..cut]).damage, Some(Damage::Torn { at: 0 }));
        }
    }

    #[test]
    fn a_last_frame_zeroed_or_garbled_in_place_is_torn() {
        let records = sample();
        let whole = journal(&records[..4]);
        let mut bytes = journal(&records);
        // The file system kept the length, not the data.
        let mut zeroed = bytes.clone();
        zeroed[whole.len()..].fill(0);
        assert_eq!(
            decode(&zeroed),
            Decoded {
                records: records[..4].to_vec(),
                damage: Some(Damage::Torn { at: whole.len() }),
            }
        );
        // Half the payload written: the checksum fails on the last frame.
        let n = bytes.len();
        bytes[n - 5..].fill(0xAA);
        assert_eq!(
            decode(&bytes).damage,
            Some(Damage::Torn { at: whole.len() })
        );
    }

    #[test]
    fn damage_before_the_last_frame_is_invalid_not_torn() {
        let records = sample();
        let first = journal(&records[..1]).len();
        let mut bytes = journal(&records);
        bytes[first + FRAME_HEAD + 3] ^= 1;
        assert_eq!(
            decode(&bytes),
            Decoded {
                records: records[..1].to_vec(),
                damage: Some(Damage::Invalid {
                    at: first,
                    why: "checksum mismatch"
                }),
            }
        );
    }

    #[test]
    fn hostile_frames_are_refused_without_panic_or_huge_allocation() {
        let framed = |payload: &[u8]| {
            let mut out = MAGIC.to_vec();
            out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
            out.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
            out.extend_from_slice(payload);
            // Another frame after, so a bad one is not read as torn.
            encode(&Record::Stored(1), &mut out);
            out
        };
        let invalid = |bytes: &[u8], want: &str| {
            let decoded = decode(bytes);
            assert_eq!(decoded.records, [], "{want}");
            assert!(
                matches!(decoded.damage, Some(Damage::Invalid { at: 8, why }) if why == want),
                "{want}: {:?}",
                decoded.damage
            );
        };
        invalid(&framed(&[9, 0, 0, 0, 0, 0, 0, 0, 0]), "malformed record");
        invalid(&framed(&[TAG_STORED, 1, 2]), "malformed record");
        invalid(
            &framed(&[TAG_STORED, 1, 0, 0, 0, 0, 0, 0, 0, 0]),
            "malformed record",
        );
        // An intent that claims four billion ranges in a few bytes.
        let mut huge = vec![TAG_INTENT];
        huge.extend_from_slice(&[0; 16]);
        huge.extend_from_slice(&0u16.to_le_bytes());
        huge.extend_from_slice(&u32::MAX.to_le_bytes());
        huge.extend_from_slice(&[0; 24]);
        invalid(&framed(&huge), "malformed record");
        // A key that is not UTF-8.
        let mut bad_key = vec![TAG_INTENT];
        bad_key.extend_from_slice(&[0; 16]);
        bad_key.extend_from_slice(&2u16.to_le_bytes());
        bad_key.extend_from_slice(&[0xff, 0xfe, 0, 0, 0, 0]);
        invalid(&framed(&bad_key), "malformed record");
        // A range that ends before it starts.
        let mut backwards = vec![TAG_INTENT];
        backwards.extend_from_slice(&[0; 16]);
        backwards.extend_from_slice(&0u16.to_le_bytes());
        backwards.extend_from_slice(&1u32.to_le_bytes());
        backwards.extend_from_slice(&[0; 8]);
        backwards.extend_from_slice(&5u64.to_le_bytes());
        backwards.extend_from_slice(&4u64.to_le_bytes());
        invalid(&framed(&backwards), "malformed record");
        // A length of 4GiB, and of nothing.
        let mut long = MAGIC.to_vec();
        long.extend_from_slice(&u32::MAX.to_le_bytes());
        long.extend_from_slice(&[1; 64]);
        invalid(&long, "impossible length");
        let mut empty = MAGIC.to_vec();
        empty.extend_from_slice(&[0; 8]);
        encode(&Record::Stored(1), &mut empty);
        invalid(&empty, "impossible length");
        // Another format altogether.
        assert_eq!(
            decode(b"{\"version\":1}").damage,
            Some(Damage::Invalid {
                at: 0,
                why: "not a journal (or another version)"
            })
        );
        assert_eq!(
            decode(b"{").damage,
            Some(Damage::Invalid {
                at: 0,
                why: "not a journal"
            })
        );
    }

    #[test]
    fn random_bytes_after_the_header_never_panic_and_keep_a_valid_prefix() {
        let mut rng = fastrand::Rng::with_seed(15);
        let base = journal(&sample());
        for _ in 0..2000 {
            let mut bytes = base.clone();
            for _ in 0..rng.usize(1..4) {
                let at = rng.usize(MAGIC.len()..bytes.len());
                bytes[at] = rng.u8(..);
            }
            bytes.truncate(rng.usize(MAGIC.len()..=bytes.len()));
            let decoded = decode(&bytes);
            // Whatever was read is a prefix of what was written: a flipped
            // bit never passes as another record.
            assert_eq!(decoded.records, sample()[..decoded.records.len()]);
        }
    }
}
