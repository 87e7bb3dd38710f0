//! The frame decoder on Fluent Bit's bytes, on frames of every mode made
//! here, and on hostile input.

use std::io::Write;

use levee_event::{Record, Value};

use super::decode::{self, Entries, Frame, FrameError, Limits, Mode, Scanner};

const DEFAULT: &[u8] = include_bytes!("../../../tests/data/forward/capture_default.bin");
const ACK: &[u8] = include_bytes!("../../../tests/data/forward/capture_ack.bin");
const NOMETA: &[u8] = include_bytes!("../../../tests/data/forward/capture_nometa.bin");
const TIMEINT: &[u8] = include_bytes!("../../../tests/data/forward/capture_timeint.bin");

const LIMITS: Limits = Limits {
    max_frame_bytes: 1 << 20,
    max_decompressed_bytes: 1 << 20,
};

/// 2024-06-01T00:00:00Z, the time of every fixture's events.
const FIXTURE_SECS: i64 = 1_717_200_000;

/// A small msgpack writer for the frames the tests make.
pub(crate) mod enc {
    pub fn array(n: usize, out: &mut Vec<u8>) {
        if n < 16 {
            out.push(0x90 | n as u8);
        } else {
            out.push(0xdd);
            out.extend_from_slice(&(n as u32).to_be_bytes());
        }
    }
    pub fn map(n: usize, out: &mut Vec<u8>) {
        if n < 16 {
            out.push(0x80 | n as u8);
        } else {
            out.push(0xdf);
            out.extend_from_slice(&(n as u32).to_be_bytes());
        }
    }
    pub fn str(s: &str, out: &mut Vec<u8>) {
        crate::forward::msgpack::write_str(s.as_bytes(), out);
    }
    pub fn bin(b: &[u8], out: &mut Vec<u8>) {
        out.push(0xc6);
        out.extend_from_slice(&(b.len() as u32).to_be_bytes());
        out.extend_from_slice(b);
    }
    pub fn int(i: i64, out: &mut Vec<u8>) {
        out.push(0xd3);
        out.extend_from_slice(&i.to_be_bytes());
    }
    /// EventTime as ext8 (Fluent Bit writes fixext8).
    pub fn event_time_ext8(secs: u32, nanos: u32, out: &mut Vec<u8>) {
        out.extend_from_slice(&[0xc7, 8, 0]);
        out.extend_from_slice(&secs.to_be_bytes());
        out.extend_from_slice(&nanos.to_be_bytes());
    }
    /// `{"msg": msg, "n": n}`.
    pub fn record(msg: &str, n: i64, out: &mut Vec<u8>) {
        map(2, out);
        str("msg", out);
        str(msg, out);
        str("n", out);
        int(n, out);
    }
}

fn events(bytes: &[u8]) -> (String, Mode, decode::Options, Vec<(i64, Record)>) {
    let len = Scanner::new().scan(bytes, LIMITS.max_frame_bytes).unwrap();
    assert_eq!(len, Some(bytes.len()), "one whole frame");
    let Frame::Events(ev) = decode::frame(bytes).unwrap() else {
        panic!("not events")
    };
    let entries: Entries<'_> = ev.entries(&LIMITS).unwrap();
    let all = entries.collect::<Result<Vec<_>, _>>().unwrap();
    (ev.tag.into_owned(), ev.mode, ev.options, all)
}

fn error(bytes: &[u8]) -> FrameError {
    let Frame::Events(ev) = (match decode::frame(bytes) {
        Ok(f) => f,
        Err(e) => return e,
    }) else {
        panic!("not events")
    };
    match ev.entries(&LIMITS) {
        Err(e) => e,
        Ok(mut entries) => entries.find_map(Result::err).expect("an entry is refused"),
    }
}

fn assert_fixture_records(records: &[(i64, Record)]) {
    assert_eq!(records.len(), 5);
    for (time, _) in records {
        assert_eq!(*time, FIXTURE_SECS * 1_000_000_000);
    }
    let first = &records[0].1;
    assert_eq!(
        first.get("remote"),
        Some(&Value::String("13.180.236.171".into()))
    );
    assert_eq!(first.get("code"), Some(&Value::String("200".into())));
    assert_eq!(
        first.get("agent"),
        Some(&Value::String(
            "sparkpost-node/2.1.4 node.js/v20.10.0".into()
        ))
    );
    assert_eq!(first.len(), 9);
    assert_eq!(
        records[1].1.get("method"),
        Some(&Value::String("PUT".into()))
    );
}

#[test]
fn fluent_bit_default_entries_with_metadata_and_map32_decode() {
    let (tag, mode, options, records) = events(DEFAULT);
    assert_eq!(tag, "nginx.access");
    assert_eq!(mode, Mode::Forward);
    assert_eq!(options, decode::Options::default());
    assert_fixture_records(&records);
}

#[test]
fn fluent_bit_require_ack_gives_the_chunk_size_and_signal() {
    let (tag, mode, options, records) = events(ACK);
    assert_eq!((tag.as_str(), mode), ("nginx.access", Mode::Forward));
    let chunk = options.chunk.expect("a chunk id");
    assert_eq!(chunk.len(), 24, "base64 of 16 bytes: {chunk}");
    assert_eq!(options.size, Some(5));
    assert_eq!(options.signal, Some(0));
    assert!(!options.gzip);
    assert_fixture_records(&records);
}

#[test]
fn fluent_bit_classic_entries_and_integer_times_decode() {
    for bytes in [NOMETA, TIMEINT] {
        let (tag, mode, _, records) = events(bytes);
        assert_eq!((tag.as_str(), mode), ("nginx.access", Mode::Forward));
        assert_fixture_records(&records);
    }
}

fn packed_entries(n: i64) -> Vec<u8> {
    let mut entries = Vec::new();
    for i in 0..n {
        enc::array(2, &mut entries);
        if i % 2 == 0 {
            enc::event_time_ext8(1_700_000_000, 5, &mut entries);
        } else {
            enc::int(1_700_000_000, &mut entries);
        }
        enc::record("hello", i, &mut entries);
    }
    entries
}

#[test]
fn message_mode_with_options_and_fluent_bits_time_with_metadata() {
    let mut f = Vec::new();
    enc::array(4, &mut f);
    enc::str("app.log", &mut f);
    enc::int(1_700_000_000, &mut f);
    enc::record("one", 1, &mut f);
    enc::map(1, &mut f);
    enc::str("chunk", &mut f);
    enc::str("abc", &mut f);
    let (tag, mode, options, records) = events(&f);
    assert_eq!((tag.as_str(), mode), ("app.log", Mode::Message));
    assert_eq!(options.chunk.as_deref(), Some("abc"));
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].0, 1_700_000_000_000_000_000);
    assert_eq!(records[0].1.get("n"), Some(&Value::Int(1)));

    let mut f = Vec::new();
    enc::array(3, &mut f);
    enc::str("app.log", &mut f);
    enc::array(2, &mut f);
    enc::event_time_ext8(1_700_000_000, 7, &mut f);
    enc::map(0, &mut f);
    enc::record("two", 2, &mut f);
    let (_, mode, _, records) = events(&f);
    assert_eq!(mode, Mode::Message);
    assert_eq!(records[0].0, 1_700_000_000_000_000_007);

    // Float seconds, as some Fluentd clients send.
    let mut f = Vec::new();
    enc::array(3, &mut f);
    enc::str("app.log", &mut f);
    f.push(0xcb);
    f.extend_from_slice(&1_700_000_000.25f64.to_be_bytes());
    enc::record("three", 3, &mut f);
    let (_, _, _, float) = events(&f);
    assert_eq!(float[0].0, 1_700_000_000_250_000_000);
    assert_eq!(records[0].1.get("msg"), Some(&Value::String("two".into())));
}

#[test]
fn packed_forward_and_compressed_packed_forward_decode() {
    let entries = packed_entries(3);
    let mut f = Vec::new();
    enc::array(2, &mut f);
    enc::str("app.packed", &mut f);
    enc::bin(&entries, &mut f);
    let (_, mode, _, records) = events(&f);
    assert_eq!(mode, Mode::PackedForward);
    assert_eq!(records.len(), 3);
    assert_eq!(records[0].0, 1_700_000_000_000_000_005);
    assert_eq!(records[1].0, 1_700_000_000_000_000_000);
    assert_eq!(records[2].1.get("n"), Some(&Value::Int(2)));

    // Two gzip members end to end, as Fluentd sends a chunk's parts.
    let (a, b) = entries.split_at(entries.len() / 2);
    let mut gz = gzip(a);
    gz.extend(gzip(b));
    let mut f = Vec::new();
    enc::array(3, &mut f);
    enc::str("app.packed", &mut f);
    enc::bin(&gz, &mut f);
    enc::map(2, &mut f);
    enc::str("compressed", &mut f);
    enc::str("gzip", &mut f);
    enc::str("size", &mut f);
    enc::int(3, &mut f);
    let (_, mode, options, again) = events(&f);
    assert_eq!(mode, Mode::CompressedPackedForward);
    assert_eq!(options.size, Some(3));
    assert_eq!(again, records);
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn compressed_frame(gz: &[u8]) -> Vec<u8> {
    let mut f = Vec::new();
    enc::array(3, &mut f);
    enc::str("t", &mut f);
    enc::bin(gz, &mut f);
    enc::map(1, &mut f);
    enc::str("compressed", &mut f);
    enc::str("gzip", &mut f);
    f
}

#[test]
fn a_gzip_bomb_stops_at_max_decompressed_bytes() {
    // 64 MiB of zeros is about 64 KiB of gzip.
    let bomb = gzip(&vec![0u8; 64 << 20]);
    assert!(bomb.len() < LIMITS.max_frame_bytes);
    assert_eq!(
        error(&compressed_frame(&bomb)),
        FrameError::DecompressedTooLarge {
            limit: LIMITS.max_decompressed_bytes
        }
    );
    assert!(matches!(
        error(&compressed_frame(b"not gzip at all")),
        FrameError::Gzip(_)
    ));
}

#[test]
fn a_frame_split_anywhere_is_incomplete_until_its_last_byte() {
    let mut two = DEFAULT.to_vec();
    two.extend_from_slice(NOMETA);
    let mut scanner = Scanner::new();
    // Byte by byte, as a client trickling: the scanner resumes.
    for end in 1..DEFAULT.len() {
        assert_eq!(
            scanner.scan(&two[..end], LIMITS.max_frame_bytes),
            Ok(None),
            "{end}"
        );
    }
    assert_eq!(
        scanner.scan(&two[..DEFAULT.len()], LIMITS.max_frame_bytes),
        Ok(Some(DEFAULT.len()))
    );
    // A fresh scanner on each cut finds the same.
    for end in 1..DEFAULT.len() {
        assert_eq!(Scanner::new().scan(&DEFAULT[..end], 1 << 20), Ok(None));
    }
    assert_eq!(
        Scanner::new().scan(&two[DEFAULT.len()..], 1 << 20),
        Ok(Some(NOMETA.len()))
    );
}

#[test]
fn a_header_declaring_a_huge_size_is_refused_before_its_bytes_come() {
    let limit = 1 << 20;
    for bytes in [
        // [tag, bin32 of 4 GiB]
        &b"\x92\xa1t\xc6\xff\xff\xff\xff"[..],
        // [tag, array32 of 4 billion entries]
        b"\x92\xa1t\xdd\xff\xff\xff\xff",
        // a map32 of 4 billion pairs
        b"\x92\xa1t\xdf\xff\xff\xff\xff",
        // a str32 tag of 2 GiB
        b"\x92\xdb\x80\x00\x00\x00",
    ] {
        assert_eq!(
            Scanner::new().scan(bytes, limit),
            Err(FrameError::TooLarge { limit }),
            "{bytes:02x?}"
        );
    }
    // Many small items past the limit, none declaring it.
    let mut f = Vec::new();
    enc::array(2, &mut f);
    enc::str("t", &mut f);
    enc::array(100_000, &mut f);
    f.extend(std::iter::repeat_n(0xc0, 2000));
    assert_eq!(
        Scanner::new().scan(&f, 1024),
        Err(FrameError::TooLarge { limit: 1024 })
    );
}

#[test]
fn garbage_and_nesting_are_refused_not_walked() {
    assert!(matches!(
        Scanner::new().scan(b"GET / HTTP/1.1\r\n", 1 << 20),
        Err(FrameError::Invalid { at: 0, .. })
    ));
    assert!(matches!(
        Scanner::new().scan(b"\x92\xc1", 1 << 20),
        Err(FrameError::Invalid { at: 1, .. })
    ));
    // 100,000 nested one-element arrays.
    let deep = vec![0x91u8; 100_000];
    assert_eq!(
        Scanner::new().scan(&deep, 1 << 20),
        Err(FrameError::TooDeep)
    );
    // The same nesting inside a packed body, which the scanner does not see.
    let mut inner = Vec::new();
    enc::array(2, &mut inner);
    enc::int(1, &mut inner);
    enc::map(1, &mut inner);
    enc::str("k", &mut inner);
    inner.extend(vec![0x91u8; 10_000]);
    inner.push(0xc0);
    let mut f = Vec::new();
    enc::array(2, &mut f);
    enc::str("t", &mut f);
    enc::bin(&inner, &mut f);
    assert_eq!(error(&f), FrameError::TooDeep);
}

#[test]
fn wrong_types_are_refused_with_their_place() {
    let cases: Vec<(Vec<u8>, &str)> = vec![
        // the tag is a number
        (b"\x92\x01\x90".to_vec(), "tag"),
        // one element only
        (b"\x91\xa1t".to_vec(), "elements"),
        // Message mode without its record (found by proptest: an underflow)
        (b"\x92\xa1t\x01\x80".to_vec(), "too few"),
        // the record is a string
        (b"\x93\xa1t\x01\xa1x".to_vec(), "record is a map"),
        // an entry that is not [time, record]
        (b"\x92\xa1t\x91\x93\x01\x80\x80".to_vec(), "entry"),
        // a time that is a string
        (b"\x92\xa1t\x91\x92\xa1x\x80".to_vec(), "time"),
        // options that are a number
        (b"\x93\xa1t\x90\x07".to_vec(), "options"),
        // compressed but not packed
        (
            b"\x93\xa1t\x90\x81\xaacompressed\xa4gzip".to_vec(),
            "compressed",
        ),
        // a map key that is a map
        (b"\x92\xa1t\x91\x92\x01\x81\x80\x01".to_vec(), "key"),
        // EventTime of the wrong length
        (
            b"\x92\xa1t\x91\x92\xd6\x00\x00\x00\x00\x00\x80".to_vec(),
            "time",
        ),
        // a packed body cut inside an entry
        (b"\x92\xa1t\xc4\x03\x92\x01\x81".to_vec(), "ends inside"),
    ];
    for (bytes, word) in cases {
        match error(&bytes) {
            FrameError::Invalid { what, .. } => {
                assert!(what.contains(word), "{bytes:02x?}: {what}")
            }
            other => panic!("{bytes:02x?}: {other:?}"),
        }
    }
    assert_eq!(
        error(b"\x93\xa1t\x90\x81\xadfluent_signal\x01"),
        FrameError::Signal(1)
    );
}

#[test]
fn values_of_every_kind_become_values() {
    let mut f = Vec::new();
    enc::array(3, &mut f);
    enc::str("t", &mut f);
    enc::int(0, &mut f);
    enc::map(8, &mut f);
    for (k, v) in [
        ("nil", &b"\xc0"[..]),
        ("t", b"\xc3"),
        ("f32", b"\xca\x3f\xc0\x00\x00"),
        ("big", b"\xcf\xff\xff\xff\xff\xff\xff\xff\xff"),
        ("bin", b"\xc4\x02hi"),
        ("list", b"\x92\x01\xa1a"),
        ("nested", b"\x81\xa1k\xd0\xfe"),
        ("bad_utf8", b"\xa2\xff\xfe"),
    ] {
        enc::str(k, &mut f);
        f.extend_from_slice(v);
    }
    let (_, _, _, records) = events(&f);
    let r = &records[0].1;
    assert_eq!(r.get("nil"), Some(&Value::Null));
    assert_eq!(r.get("t"), Some(&Value::Bool(true)));
    assert_eq!(r.get("f32"), Some(&Value::Float(1.5)));
    assert_eq!(
        r.get("big"),
        Some(&Value::String("18446744073709551615".into()))
    );
    assert_eq!(r.get("bin"), Some(&Value::String("hi".into())));
    assert_eq!(
        r.get("list"),
        Some(&Value::Array(Box::new(vec![
            Value::Int(1),
            Value::String("a".into())
        ])))
    );
    let nested: Record = [("k", Value::Int(-2))].into_iter().collect();
    assert_eq!(r.get("nested"), Some(&Value::Map(Box::new(nested))));
    assert_eq!(
        r.get("bad_utf8"),
        Some(&Value::String("\u{fffd}\u{fffd}".into()))
    );
}

#[test]
fn a_ping_is_read_as_a_ping() {
    let mut f = Vec::new();
    enc::array(6, &mut f);
    for s in ["PING", "client", "salt", "digest", "", ""] {
        enc::str(s, &mut f);
    }
    match decode::frame(&f).unwrap() {
        Frame::Ping(p) => {
            assert_eq!(p.hostname, b"client");
            assert_eq!(p.digest, b"digest");
        }
        other => panic!("{other:?}"),
    }
}

mod prop {
    use proptest::prelude::*;

    use super::*;

    /// Scans, reads and decodes whatever a frame holds, ignoring errors.
    fn walk(bytes: &[u8], max: usize) -> Result<Option<usize>, FrameError> {
        let found = Scanner::new().scan(bytes, max)?;
        if let Some(len) = found
            && let Ok(Frame::Events(ev)) = decode::frame(&bytes[..len])
            && let Ok(entries) = ev.entries(&LIMITS)
        {
            for _ in entries {}
        }
        Ok(found)
    }

    /// One packed frame of `entries` (each a list of name and value).
    fn packed(records: &[Vec<(Key, i64)>]) -> Vec<u8> {
        let mut entries = Vec::new();
        for fields in records {
            enc::array(2, &mut entries);
            enc::int(1_700_000_000, &mut entries);
            enc::map(fields.len(), &mut entries);
            for (key, value) in fields {
                match key {
                    Key::Name(name) => enc::str(name, &mut entries),
                    Key::Int(i) => enc::int(*i, &mut entries),
                    Key::Bytes(b) => {
                        entries.push(0xa0 | b.len() as u8);
                        entries.extend_from_slice(b);
                    }
                }
                // Text from a few values (short, long, not UTF-8), and
                // integers, so that places repeat, change and change kind.
                match value % 5 {
                    0 => enc::int(*value, &mut entries),
                    1 => enc::str("GET", &mut entries),
                    2 => enc::str("a text longer than twenty-four bytes", &mut entries),
                    3 => {
                        entries.push(0xa2);
                        entries.extend_from_slice(b"\xff-");
                    }
                    _ => enc::str(&format!("v{}", value % 3), &mut entries),
                }
            }
        }
        let mut f = Vec::new();
        enc::array(2, &mut f);
        enc::str("app.packed", &mut f);
        enc::bin(&entries, &mut f);
        f
    }

    #[derive(Clone, Debug)]
    enum Key {
        Name(&'static str),
        Int(i64),
        /// Not UTF-8 (a lone continuation byte), or what U+FFFD encodes to.
        Bytes(&'static [u8]),
    }

    fn key() -> impl Strategy<Value = Key> {
        prop_oneof![
            8 => proptest::sample::select(vec!["a", "b", "code", "path", "a-name-longer-than-24-bytes"]).prop_map(Key::Name),
            1 => (0i64..3).prop_map(Key::Int),
            1 => proptest::sample::select(vec![&b"\x80"[..], "\u{fffd}".as_bytes()]).prop_map(Key::Bytes),
        ]
    }

    proptest! {
        /// Regression guard for the names a packed stream reuses from its
        /// last record (`KnownNames`): records whose names repeat, change,
        /// shrink, grow, repeat within a record, are integers or not UTF-8
        /// decode exactly as each does alone.
        #[test]
        fn records_read_in_a_stream_are_the_records_read_alone(
            records in proptest::collection::vec(
                proptest::collection::vec((key(), 0i64..100), 0..6),
                1..12,
            ),
        ) {
            // Most streams repeat one record's names: make every other
            // record a copy of the first's names.
            let mut records = records;
            for i in (1..records.len()).step_by(2) {
                let first: Vec<Key> = records[0].iter().map(|(k, _)| k.clone()).collect();
                records[i] = first.into_iter().zip(0i64..).collect();
            }
            let (_, _, _, together) = events(&packed(&records));
            prop_assert_eq!(together.len(), records.len());
            for (fields, (_, record)) in records.iter().zip(&together) {
                let (_, _, _, alone) = events(&packed(std::slice::from_ref(fields)));
                prop_assert_eq!(&alone[0].1, record);
                prop_assert_eq!(format!("{:?}", alone[0].1), format!("{record:?}"), "same order");
            }
        }

        /// Any bytes: no panic, and a frame the scanner calls whole is
        /// never longer than the bytes or the limit.
        #[test]
        fn any_bytes_neither_panic_nor_overrun(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            if let Ok(Some(len)) = walk(&bytes, 256) {
                prop_assert!(len <= bytes.len() && len <= 256);
            }
            let _ = decode::frame(&bytes);
        }

        /// A fixture with one byte changed: no panic.
        #[test]
        fn a_fixture_with_a_flipped_byte_never_panics(at in 0usize..877, byte in any::<u8>()) {
            let mut bytes = DEFAULT.to_vec();
            let at = at % bytes.len();
            bytes[at] = byte;
            let _ = walk(&bytes, 1 << 20);
        }
    }
}
