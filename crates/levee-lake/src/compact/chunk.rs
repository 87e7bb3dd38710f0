//! Reading JSON chunks: fetching, decompressing, splitting into records.

use std::borrow::Cow;
use std::io::Read;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use levee_event::Record;
use object_store::ObjectStoreExt;

use crate::{Chunk, ChunkCompression, Lake, LakeError};

/// A chunk, and what the first read of its hour left of its stored bytes
/// for the second.
pub(crate) struct Fetched {
    pub chunk: Chunk,
    pub body: Body,
}

/// A chunk's stored bytes between the two reads of its hour.
pub(crate) enum Body {
    /// Its text, decompressed by the first read and kept in memory within
    /// the [`Budget`], so that the second read does not decompress it again.
    Text {
        text: Bytes,
        /// Its room in the budget, given back when it is let go.
        _room: Reservation,
    },
    /// Kept in memory, within the [`Budget`].
    Held {
        bytes: Bytes,
        /// Its room in the budget, given back when it is let go; none for
        /// what the budget does not bound (a damaged chunk, which the
        /// quarantine needs whatever its size; an hour's Parquet read back).
        _room: Option<Reservation>,
    },
    /// Let go after the first read, as keeping it would have passed the
    /// budget (or the second read has no use for it): fetched again when
    /// needed.
    Released,
    /// It could not be fetched (the first read says why).
    Failed,
}

impl Body {
    /// Bytes held outside the budget.
    pub fn unbudgeted(bytes: Bytes) -> Body {
        Body::Held { bytes, _room: None }
    }

    /// The bytes, if they are in memory.
    pub fn held(&self) -> Option<&Bytes> {
        match self {
            Body::Held { bytes, .. } => Some(bytes),
            Body::Text { .. } | Body::Released | Body::Failed => None,
        }
    }
}

/// Fetches one chunk. A chunk gone since the listing is reported with the
/// chunk rather than failing the hour; any other store error fails it (and
/// the next run retries).
pub(crate) async fn fetch(lake: &Lake, chunk: &Chunk) -> Result<Result<Bytes, String>, LakeError> {
    if let Some(path) = local_file(lake, chunk) {
        // A chunk on this machine's disk is read here and now: the store
        // would hand each read to a blocking thread and back (twice), which
        // cost more than reading an hour's small chunks.
        return match std::fs::read(&path) {
            Ok(bytes) => Ok(Ok(Bytes::from(bytes))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Ok(Err("gone since it was listed".to_owned()))
            }
            Err(e) => Err(LakeError::Other(format!("{}: {e}", path.display()))),
        };
    }
    match lake.store.get(&chunk.key).await {
        Ok(got) => Ok(Ok(got.bytes().await?)),
        Err(object_store::Error::NotFound { .. }) => Ok(Err("gone since it was listed".to_owned())),
        Err(e) => Err(LakeError::from(e)),
    }
}

/// The file a chunk of a local lake is, as the store names it (the key's
/// parts, percent-decoded, under the lake's folder); `None` on an object
/// store.
fn local_file(lake: &Lake, chunk: &Chunk) -> Option<std::path::PathBuf> {
    if !lake.is_local() {
        return None;
    }
    let mut url = lake.url.clone();
    url.path_segments_mut()
        .ok()?
        .pop_if_empty()
        .extend(chunk.key.parts().map(|p| p.as_ref().to_owned()));
    url.to_file_path().ok()
}

/// Fetches a chunk again for the second read of its hour. It must be as the
/// first read found it: the collector writes a chunk once (a replay writes
/// the same bytes), so anything else stops the hour, for the next run.
pub(crate) async fn fetch_again(lake: &Lake, chunk: &Chunk) -> Result<Bytes, LakeError> {
    let changed = |what: String| {
        LakeError::Other(format!(
            "{}: {what} between the two reads of its hour",
            chunk.key
        ))
    };
    match fetch(lake, chunk).await? {
        Ok(bytes) if bytes.len() as u64 == chunk.size => Ok(bytes),
        Ok(bytes) => Err(changed(format!(
            "{} bytes, not {},",
            bytes.len(),
            chunk.size
        ))),
        Err(e) => Err(changed(e)),
    }
}

/// Bytes of fetched chunks kept in memory between the two reads of their
/// hours (their text if it fits, else their stored bytes), shared by the
/// hours compacted at once. Past it, a chunk is let go after the first
/// read and fetched again for the second: reading twice costs the store a
/// second GET, holding an hour's chunks would cost memory that grows with
/// the hour.
#[derive(Clone)]
pub(crate) struct Budget(Arc<BudgetState>);

struct BudgetState {
    limit: u64,
    used: AtomicU64,
}

/// Bytes taken from a [`Budget`], given back when dropped.
pub(crate) struct Reservation {
    budget: Budget,
    bytes: u64,
}

impl Budget {
    pub fn new(limit: u64) -> Budget {
        Budget(Arc::new(BudgetState {
            limit,
            used: AtomicU64::new(0),
        }))
    }

    /// Takes `bytes`, if they fit.
    pub fn try_reserve(&self, bytes: u64) -> Option<Reservation> {
        let state = &self.0;
        state
            .used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(bytes)
                    .filter(|&total| total <= state.limit)
            })
            .ok()?;
        Some(Reservation {
            budget: self.clone(),
            bytes,
        })
    }

    /// Bytes taken now.
    #[cfg(test)]
    pub fn used(&self) -> u64 {
        self.0.used.load(Ordering::Acquire)
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.budget.0.used.fetch_sub(self.bytes, Ordering::AcqRel);
    }
}

/// A chunk's newline-delimited JSON, as far as it could be read.
pub(crate) struct Decoded<'a> {
    /// The text: all of it, or, for a damaged chunk, its whole lines
    /// before the damage.
    pub data: Cow<'a, [u8]>,
    /// What cut the text short (a truncated or corrupt frame), if anything.
    /// The chunk is damaged then, and belongs in the quarantine.
    pub damage: Option<String>,
}

/// The chunk's newline-delimited JSON, decompressed, refusing to grow past
/// `limit` bytes (a zstd bomb, or a runaway writer): that is an error, as
/// the chunk may be whole. A chunk whose compressed stream breaks off
/// (truncated, overwritten) is damaged: what came before the break is kept,
/// up to its last whole line.
pub(crate) fn decompress(
    compression: ChunkCompression,
    body: &[u8],
    limit: u64,
) -> Result<Decoded<'_>, String> {
    let whole = |data| Decoded { data, damage: None };
    // An empty object holds no rows, whatever its name says.
    if body.is_empty() {
        return Ok(whole(Cow::Borrowed(body)));
    }
    let reader: Box<dyn Read + '_> = match compression {
        ChunkCompression::Parquet => return super::parquet_input::to_ndjson(body, limit),
        ChunkCompression::None => {
            return if body.len() as u64 > limit {
                Err(too_large(limit))
            } else {
                Ok(whole(Cow::Borrowed(body)))
            };
        }
        ChunkCompression::Zstd => {
            let mut text = Vec::new();
            return match read_zstd(body, limit, &mut text) {
                ZstdRead::AtOnce => Ok(whole(Cow::Owned(text))),
                ZstdRead::Streamed(read) => read,
            };
        }
        // Multi-member, as `cat a.gz b.gz` and some writers make.
        ChunkCompression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(body)),
    };
    read_all(compression, reader, body.len(), limit)
}

/// [`decompress`], into `scratch` when the chunk's zstd frames say their
/// size (see [`zstd_at_once`]): a unit's chunks, read one after another,
/// reuse one buffer rather than each taking and freeing tens of MiB, which
/// the allocator holds for a while after they are freed.
pub(crate) fn decompress_reusing<'a>(
    compression: ChunkCompression,
    body: &'a [u8],
    limit: u64,
    scratch: &'a mut Vec<u8>,
) -> Result<Decoded<'a>, String> {
    if compression != ChunkCompression::Zstd || body.is_empty() {
        return decompress(compression, body, limit);
    }
    match read_zstd(body, limit, scratch) {
        ZstdRead::AtOnce => Ok(Decoded {
            data: Cow::Borrowed(scratch),
            damage: None,
        }),
        ZstdRead::Streamed(read) => read,
    }
}

/// How [`read_zstd`] read a chunk.
enum ZstdRead {
    /// In one call, into the buffer it was given.
    AtOnce,
    /// As a stream (frames that do not say their size, damage, past the limit).
    Streamed(Result<Decoded<'static>, String>),
}

/// A zstd chunk's text: at once into `buffer` if it can be (see
/// [`zstd_at_once`]), else as a stream, with the thread's context.
fn read_zstd(body: &[u8], limit: u64, buffer: &mut Vec<u8>) -> ZstdRead {
    ZSTD_CONTEXT.with_borrow_mut(|context| {
        if zstd_at_once(context, body, limit, buffer).is_some() {
            return ZstdRead::AtOnce;
        }
        let decoder = zstd::stream::read::Decoder::with_context(body, context);
        let read = read_all(ChunkCompression::Zstd, decoder, body.len(), limit);
        // A frame with a large window leaves its buffer in the
        // context: let it go rather than keep it for the thread's life.
        if context.sizeof() > MAX_KEPT_CONTEXT_BYTES {
            *context = zstd::zstd_safe::DCtx::create();
        }
        ZstdRead::Streamed(read)
    })
}

/// The text of zstd frames that all say their size (the lake output's
/// do), decompressed in one call into `text` (emptied first), made that
/// size; `None` if a frame does not say it, the text would pass `limit`,
/// or the frames do not decompress to it (damage, which the streaming read
/// reports).
///
/// Read as a stream, the text grew in steps: each step copied what was read
/// so far into a buffer twice as large and zeroed the new part before
/// zstd wrote it. For large chunks that was half of compaction's page
/// faults (41 MiB chunks of one 5,000,000-event hour, `perf record -e
/// page-faults`).
fn zstd_at_once(
    context: &mut zstd::zstd_safe::DCtx<'static>,
    body: &[u8],
    limit: u64,
    text: &mut Vec<u8>,
) -> Option<()> {
    let mut size = 0u64;
    let mut rest = body;
    while !rest.is_empty() {
        let frame = zstd::zstd_safe::find_frame_compressed_size(rest).ok()?;
        size = size.checked_add(zstd::zstd_safe::get_frame_content_size(rest).ok()??)?;
        rest = rest.get(frame..).filter(|_| frame > 0)?;
    }
    if size > limit {
        return None;
    }
    text.clear();
    text.reserve(usize::try_from(size).ok()?);
    let written = context.decompress(text, body).ok()?;
    (written as u64 == size).then_some(())
}

/// Memory a thread's zstd context may keep between chunks (the lake
/// output's frames need about 4 MiB of window).
const MAX_KEPT_CONTEXT_BYTES: usize = 16 << 20;

thread_local! {
    /// A zstd decompression context per thread, reused chunk after chunk:
    /// making one costs about as much as decompressing a small chunk.
    static ZSTD_CONTEXT: std::cell::RefCell<zstd::zstd_safe::DCtx<'static>> =
        std::cell::RefCell::new(zstd::zstd_safe::DCtx::create());
}

/// What `reader` decompresses from a chunk of `stored` bytes; see [`decompress`].
fn read_all(
    compression: ChunkCompression,
    reader: impl Read,
    stored: usize,
    limit: u64,
) -> Result<Decoded<'static>, String> {
    // JSON compresses about tenfold; untouched capacity costs no memory.
    let capacity = stored
        .saturating_mul(10)
        .min(usize::try_from(limit).unwrap_or(usize::MAX));
    let mut out = Vec::with_capacity(capacity);
    // On an error, `read_to_end` leaves what it read before it in `out`.
    let read = reader.take(limit.saturating_add(1)).read_to_end(&mut out);
    if out.len() as u64 > limit {
        return Err(too_large(limit));
    }
    let damage = match read {
        Ok(_) => None,
        Err(e) => {
            // The line the break cut through is not a record.
            let whole_lines = memchr::memrchr(b'\n', &out).map_or(0, |i| i + 1);
            out.truncate(whole_lines);
            Some(format!("{}: {e}", compression_name(compression)))
        }
    };
    Ok(Decoded {
        data: Cow::Owned(out),
        damage,
    })
}

/// A chunk's newline-delimited JSON as compaction reads it.
#[derive(Debug)]
pub struct ChunkText {
    /// The text: all of it, or, for a damaged chunk, its whole lines before
    /// the damage.
    pub text: Vec<u8>,
    /// What cut the text short (a truncated or corrupt frame), if anything.
    pub damage: Option<String>,
}

/// Decompresses a chunk's stored bytes as compaction does, for readers of
/// the JSON copy: a damaged chunk gives its whole lines before the damage.
/// Fails when the text would pass `limit` bytes.
pub fn read_chunk_text(
    compression: ChunkCompression,
    body: &[u8],
    limit: u64,
) -> Result<ChunkText, String> {
    let Decoded { data, damage } = decompress(compression, body, limit)?;
    Ok(ChunkText {
        text: data.into_owned(),
        damage,
    })
}

/// The records of a chunk, as [`crate::compact::read_records`] reads them.
#[derive(Debug, Default)]
pub struct RecordsRead {
    /// Every line that is a JSON object, as a record.
    pub records: Vec<Record>,
    /// Lines that are not JSON objects, skipped.
    pub bad_lines: u64,
    /// The first of them: its number and the parser's message.
    pub first_bad_line: Option<String>,
}

/// `text` compressed as a chunk named for `compression` is: how a damaged
/// chunk's readable lines are stored again.
pub(crate) fn compress(compression: ChunkCompression, text: &[u8]) -> Result<Vec<u8>, String> {
    match compression {
        ChunkCompression::None => Ok(text.to_vec()),
        // Read all or nothing, so never stored again (see `parquet_input`).
        ChunkCompression::Parquet => Err("a Parquet chunk is not rewritten".to_owned()),
        ChunkCompression::Zstd => zstd::encode_all(text, 3).map_err(|e| format!("zstd: {e}")),
        ChunkCompression::Gzip => {
            use std::io::Write;
            let mut encoder =
                flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            encoder
                .write_all(text)
                .and_then(|()| encoder.finish())
                .map_err(|e| format!("gzip: {e}"))
        }
    }
}

fn compression_name(c: ChunkCompression) -> &'static str {
    match c {
        ChunkCompression::Zstd => "zstd",
        ChunkCompression::Gzip => "gzip",
        ChunkCompression::None => "plain",
        ChunkCompression::Parquet => "parquet",
    }
}

fn too_large(limit: u64) -> String {
    format!("more than {limit} bytes once decompressed")
}

/// The non-blank lines of a chunk, with their numbers (from 1).
pub(crate) struct Lines<'a> {
    rest: &'a [u8],
    number: u64,
}

impl<'a> Lines<'a> {
    pub fn new(data: &'a [u8]) -> Lines<'a> {
        Lines {
            rest: data,
            number: 0,
        }
    }
}

impl<'a> Iterator for Lines<'a> {
    type Item = (u64, &'a [u8]);

    fn next(&mut self) -> Option<(u64, &'a [u8])> {
        while !self.rest.is_empty() {
            let (line, rest) = match memchr::memchr(b'\n', self.rest) {
                Some(end) => (&self.rest[..end], &self.rest[end + 1..]),
                None => (self.rest, &[][..]),
            };
            self.rest = rest;
            self.number += 1;
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if !line.iter().all(u8::is_ascii_whitespace) {
                return Some((self.number, line));
            }
        }
        None
    }
}

/// One line as a record; anything but a JSON object is an error.
pub(crate) fn parse_line(line: &[u8]) -> Result<Record, String> {
    serde_json::from_slice(line).map_err(|e| e.to_string())
}

/// The first bytes of a bad line, for the report.
pub(crate) fn snippet(line: &[u8]) -> String {
    const MAX: usize = 120;
    let end = line.len().min(MAX);
    let mut text = String::from_utf8_lossy(&line[..end]).into_owned();
    if line.len() > MAX {
        text.push('…');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_gives_what_fits_and_takes_back_what_is_dropped() {
        let budget = Budget::new(100);
        let a = budget.try_reserve(60).unwrap();
        assert!(budget.try_reserve(41).is_none(), "past the limit");
        let b = budget.try_reserve(40).unwrap();
        assert_eq!(budget.used(), 100);
        drop(a);
        assert_eq!(budget.used(), 40);
        assert!(budget.try_reserve(60).is_some());
        drop(b);
        assert_eq!(budget.used(), 0);
        assert!(Budget::new(0).try_reserve(1).is_none());
    }

    /// A local lake's chunks are read straight from their files: the same
    /// bytes the store gives, and one gone is reported, not an error.
    #[tokio::test]
    async fn a_local_chunk_is_read_from_the_file_the_store_wrote() {
        use object_store::PutPayload;
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::open(dir.path().to_str().unwrap()).unwrap();
        let key = object_store::path::Path::from(
            "db/t/json/dt=2018-09-01/hour=13/07-host a%b-000001.ndjson.zst",
        );
        let body = b"stored bytes".to_vec();
        lake.store
            .put(&key, PutPayload::from(body.clone()))
            .await
            .unwrap();
        let chunk = Chunk {
            key: key.clone(),
            size: body.len() as u64,
            compression: ChunkCompression::Zstd,
        };
        assert!(local_file(&lake, &chunk).is_some());
        assert_eq!(fetch(&lake, &chunk).await.unwrap().unwrap(), body);
        lake.store.delete(&key).await.unwrap();
        assert_eq!(
            fetch(&lake, &chunk).await.unwrap(),
            Err("gone since it was listed".to_owned())
        );
    }

    #[test]
    fn lines_skip_blanks_and_keep_numbers() {
        let data = b"{\"a\":1}\r\n\n   \n{\"b\":2}\n{\"c\":3}";
        let lines: Vec<_> = Lines::new(data).collect();
        assert_eq!(
            lines,
            [
                (1, &b"{\"a\":1}"[..]),
                (4, &b"{\"b\":2}"[..]),
                (5, &b"{\"c\":3}"[..])
            ]
        );
        assert_eq!(Lines::new(b"").count(), 0);
    }

    #[test]
    fn non_objects_are_errors() {
        assert!(parse_line(b"{\"a\":1}").is_ok());
        for bad in [
            &b"42"[..],
            b"[1]",
            b"\"s\"",
            b"{\"a\":",
            b"\xff\xfe",
            b"{\"a\":1} x",
        ] {
            assert!(
                parse_line(bad).is_err(),
                "{:?} accepted",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn decompression_is_bounded() {
        let text = vec![b'x'; 10_000];
        let z = zstd::encode_all(&text[..], 3).unwrap();
        let read = decompress(ChunkCompression::Zstd, &z, 10_000).unwrap();
        assert_eq!((read.data.len(), read.damage), (10_000, None));
        assert!(
            decompress(ChunkCompression::Zstd, &z, 9_999)
                .err()
                .unwrap()
                .contains("more than")
        );
        assert!(decompress(ChunkCompression::None, &text, 100).is_err());
    }

    /// What [`zstd_at_once`] reads, if it reads.
    fn at_once(body: &[u8], limit: u64) -> Option<Vec<u8>> {
        let mut text = Vec::new();
        let mut context = zstd::zstd_safe::DCtx::create();
        zstd_at_once(&mut context, body, limit, &mut text).map(|()| text)
    }

    /// Frames that say their size are read in one call, and give what
    /// the stream gives; any other frames are still read as a stream.
    #[test]
    fn frames_that_say_their_size_are_read_at_once() {
        let lines = |from: u32| -> Vec<u8> {
            (from..from + 3_000)
                .flat_map(|n| format!("{{\"n\":{n}}}\n").into_bytes())
                .collect()
        };
        let (a, b, c) = (lines(0), lines(3_000), lines(6_000));
        let text = [&a[..], &b[..], &c[..]].concat();
        let sized = |t: &[u8]| zstd::bulk::compress(t, 3).unwrap();

        let three = [sized(&a), sized(&b), sized(&c)].concat();
        assert_eq!(at_once(&three, 1 << 30).as_deref(), Some(&text[..]));
        let read = decompress(ChunkCompression::Zstd, &three, 1 << 30).unwrap();
        assert_eq!((&read.data[..], read.damage), (&text[..], None));
        // Past the limit: refused, as a stream would be.
        assert_eq!(at_once(&three, text.len() as u64 - 1), None);
        assert!(decompress(ChunkCompression::Zstd, &three, text.len() as u64 - 1).is_err());

        // A streamed frame does not say its size.
        let mixed = [sized(&a), zstd::encode_all(&b[..], 3).unwrap()].concat();
        assert_eq!(at_once(&mixed, 1 << 30), None);
        let read = decompress(ChunkCompression::Zstd, &mixed, 1 << 30).unwrap();
        assert_eq!(
            (&read.data[..], read.damage),
            (&[&a[..], &b[..]].concat()[..], None)
        );

        // Damage inside the last frame: the stream keeps the lines before it.
        let mut damaged = three.clone();
        let at = damaged.len() - 20;
        damaged[at..].fill(0xa5);
        assert_eq!(at_once(&damaged, 1 << 30), None);
        let read = decompress(ChunkCompression::Zstd, &damaged, 1 << 30).unwrap();
        assert!(read.damage.is_some());
        assert!(read.data.len() >= a.len() + b.len() && text.starts_with(&read.data));
    }

    /// Damaged bodies of sized frames (bytes changed, cut, headers that lie):
    /// whatever the one call takes, the stream reads the same, whole.
    #[test]
    fn what_is_read_at_once_is_what_the_stream_reads() {
        let lines: Vec<u8> = (0..2_000)
            .flat_map(|n| format!("{{\"n\":{n},\"s\":\"{:x}\"}}\n", n * 7919).into_bytes())
            .collect();
        let body: Vec<u8> = lines
            .chunks(lines.len() / 3 + 1)
            .flat_map(|frame| zstd::bulk::compress(frame, 3).unwrap())
            .collect();
        let stream = |body: &[u8], limit| {
            let decoder = zstd::stream::read::Decoder::new(body).unwrap();
            read_all(ChunkCompression::Zstd, decoder, body.len(), limit)
        };
        // A linear congruential generator: the same rounds every run.
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = |n: u64| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 33) % n
        };
        let mut taken = 0;
        for round in 0..3_000 {
            let mut damaged = body.clone();
            match round % 3 {
                0 => damaged.truncate(next(body.len() as u64) as usize),
                1 => {
                    for _ in 0..1 + next(3) {
                        let at = next(body.len() as u64) as usize;
                        damaged[at] ^= 1 << next(8);
                    }
                }
                // Near a frame's start: its header, the size it says.
                _ => {
                    let at = next(8) as usize;
                    damaged[at] = next(256) as u8;
                }
            }
            let limit = if round % 7 == 0 { 1 << 10 } else { 1 << 20 };
            let Some(text) = at_once(&damaged, limit) else {
                continue;
            };
            taken += 1;
            let read = stream(&damaged, limit).expect("within the limit");
            assert_eq!(read.damage, None, "round {round}");
            assert_eq!(&read.data[..], &text[..], "round {round}");
        }
        assert!(taken > 100, "only {taken} taken at once");
    }

    #[test]
    fn garbage_is_damage_with_nothing_readable() {
        for compression in [ChunkCompression::Zstd, ChunkCompression::Gzip] {
            let read = decompress(compression, b"not compressed at all", 100).unwrap();
            assert!(read.data.is_empty());
            assert!(read.damage.is_some(), "{compression:?}");
        }
    }

    /// Issue 18: a cut chunk gave no rows at all. The lines before the cut
    /// are kept, the one it went through is not.
    #[test]
    fn a_truncated_chunk_keeps_its_whole_lines_before_the_cut() {
        let text: Vec<u8> = (0..20_000)
            .flat_map(|n| format!("{{\"n\":{n},\"pad\":\"{:x}\"}}\n", n * 7919).into_bytes())
            .collect();
        for compression in [ChunkCompression::Zstd, ChunkCompression::Gzip] {
            let body = compress(compression, &text).unwrap();
            let cut = &body[..body.len() / 2];
            let read = decompress(compression, cut, 1 << 30).unwrap();
            assert!(read.damage.is_some(), "{compression:?}");
            assert!(!read.data.is_empty(), "{compression:?}: nothing kept");
            assert!(text.starts_with(&read.data));
            assert_eq!(read.data.last(), Some(&b'\n'));
            let whole = decompress(compression, &body, 1 << 30).unwrap();
            assert_eq!((&whole.data[..], whole.damage), (&text[..], None));
        }
    }
}
