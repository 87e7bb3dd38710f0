//! The binary form of events in the write-ahead log.
//!
//! A record's payload is a count and that many events:
//!
//! ```text
//! payload = count:varint event*
//! event   = flags:u8 tag:text time:i64le [stream:u64le offset:u64le] fields:varint (name:text value)*
//! text    = len:varint utf8-bytes
//! value   = 0 null | 1 false | 2 true | 3 int:zigzag-varint | 4 float:f64le
//!         | 5 text | 6 items:varint value* | 7 fields:varint (name:text value)*
//! ```
//!
//! `flags` bit 0 says an origin (stream, offset) follows the time. The
//! decoder trusts nothing: every length is checked against the bytes left,
//! nesting is bounded, and any surprise is an error, never a panic. A
//! record's checksum catches damage first; the decoder is the second line,
//! and the one the fuzz target exercises.

use levee_event::{Event, Origin, Record, Tag, Text, Value};

/// Deepest nesting of lists and maps the decoder follows: a deeper value
/// can only come from damage, and following it would spend the stack.
pub const MAX_DEPTH: usize = 128;

const NULL: u8 = 0;
const FALSE: u8 = 1;
const TRUE: u8 = 2;
const INT: u8 = 3;
const FLOAT: u8 = 4;
const STRING: u8 = 5;
const ARRAY: u8 = 6;
const MAP: u8 = 7;

const HAS_ORIGIN: u8 = 1;

/// Why bytes did not decode as events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The payload ended inside an event.
    #[error("the payload ends inside an event at byte {0}")]
    Truncated(usize),
    /// A byte that no encoder writes.
    #[error("unknown {what} {byte:#04x} at byte {at}")]
    Unknown {
        /// What was expected there.
        what: &'static str,
        /// The byte found.
        byte: u8,
        /// Where.
        at: usize,
    },
    /// Text that is not UTF-8.
    #[error("text that is not UTF-8 at byte {0}")]
    NotUtf8(usize),
    /// A varint longer than 64 bits.
    #[error("a number too long at byte {0}")]
    BadVarint(usize),
    /// Lists or maps nested deeper than [`MAX_DEPTH`].
    #[error("values nested deeper than {MAX_DEPTH} at byte {0}")]
    TooDeep(usize),
    /// Bytes left after the last event the count promised.
    #[error("{0} bytes after the last event")]
    Trailing(usize),
}

/// Appends the payload for `events` to `out`.
pub fn encode(events: &[Event], out: &mut Vec<u8>) {
    put_count(out, events.len());
    for event in events {
        encode_event(event, out);
    }
}

/// Appends a payload's count of events: a payload is this, then that many
/// [`encode_event`]s.
pub fn put_count(out: &mut Vec<u8>, count: usize) {
    put_varint(out, count as u64);
}

/// Appends one event.
pub fn encode_event(event: &Event, out: &mut Vec<u8>) {
    match event.origin {
        Some(origin) => {
            out.push(HAS_ORIGIN);
            put_text(out, event.tag.as_str());
            out.extend_from_slice(&event.time.to_le_bytes());
            out.extend_from_slice(&origin.stream.to_le_bytes());
            out.extend_from_slice(&origin.offset.to_le_bytes());
        }
        None => {
            out.push(0);
            put_text(out, event.tag.as_str());
            out.extend_from_slice(&event.time.to_le_bytes());
        }
    }
    put_record(out, &event.record);
}

fn put_record(out: &mut Vec<u8>, record: &Record) {
    put_varint(out, record.len() as u64);
    for (name, value) in record.iter() {
        put_text(out, name);
        put_value(out, value);
    }
}

fn put_value(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Null => out.push(NULL),
        Value::Bool(false) => out.push(FALSE),
        Value::Bool(true) => out.push(TRUE),
        Value::Int(i) => {
            out.push(INT);
            put_varint(out, ((i << 1) ^ (i >> 63)) as u64);
        }
        Value::Float(x) => {
            out.push(FLOAT);
            out.extend_from_slice(&x.to_bits().to_le_bytes());
        }
        Value::String(s) => {
            out.push(STRING);
            put_text(out, s);
        }
        Value::Array(items) => {
            out.push(ARRAY);
            put_varint(out, items.len() as u64);
            for item in items.iter() {
                put_value(out, item);
            }
        }
        Value::Map(record) => {
            out.push(MAP);
            put_record(out, record);
        }
    }
}

fn put_text(out: &mut Vec<u8>, text: &str) {
    put_varint(out, text.len() as u64);
    out.extend_from_slice(text.as_bytes());
}

fn put_varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// The events in a payload that [`encode`] made.
pub fn decode(payload: &[u8]) -> Result<Vec<Event>, DecodeError> {
    let mut reader = Reader {
        bytes: payload,
        at: 0,
        last_tag: None,
    };
    // Every event takes at least 11 bytes (flags, tag length, time,
    // field count): a count beyond what is left is damage, and must not
    // size an allocation.
    let count = reader.len(11)?;
    let mut events = Vec::with_capacity(count);
    for _ in 0..count {
        events.push(reader.event()?);
    }
    if reader.left() > 0 {
        return Err(DecodeError::Trailing(reader.left()));
    }
    Ok(events)
}

/// How many events a payload holds, read from its first bytes only.
pub fn count(payload: &[u8]) -> Result<u64, DecodeError> {
    Reader {
        bytes: payload,
        at: 0,
        last_tag: None,
    }
    .varint()
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
    /// Events in a record mostly share a tag: decode it once.
    last_tag: Option<Tag>,
}

impl<'a> Reader<'a> {
    fn left(&self) -> usize {
        self.bytes.len() - self.at
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if n > self.left() {
            return Err(DecodeError::Truncated(self.at));
        }
        let taken = &self.bytes[self.at..self.at + n];
        self.at += n;
        Ok(taken)
    }

    fn byte(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }

    fn u64_le(&mut self) -> Result<u64, DecodeError> {
        let mut word = [0; 8];
        word.copy_from_slice(self.take(8)?);
        Ok(u64::from_le_bytes(word))
    }

    fn varint(&mut self) -> Result<u64, DecodeError> {
        let start = self.at;
        let mut n: u64 = 0;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            // The tenth byte may only carry the top bit of 64.
            if shift == 63 && b > 1 {
                return Err(DecodeError::BadVarint(start));
            }
            n |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Ok(n);
            }
        }
        Err(DecodeError::BadVarint(start))
    }

    /// A length or count, at most `self.left() / min_size` (each item takes
    /// at least `min_size` bytes).
    fn len(&mut self, min_size: usize) -> Result<usize, DecodeError> {
        let at = self.at;
        let n = self.varint()?;
        usize::try_from(n)
            .ok()
            .filter(|&n| n <= self.left() / min_size)
            .ok_or(DecodeError::Truncated(at))
    }

    fn str(&mut self) -> Result<&'a str, DecodeError> {
        let n = self.len(1)?;
        let at = self.at;
        std::str::from_utf8(self.take(n)?).map_err(|_| DecodeError::NotUtf8(at))
    }

    fn event(&mut self) -> Result<Event, DecodeError> {
        let at = self.at;
        let flags = self.byte()?;
        if flags & !HAS_ORIGIN != 0 {
            return Err(DecodeError::Unknown {
                what: "event flags",
                byte: flags,
                at,
            });
        }
        let tag = self.str()?;
        let tag = match &self.last_tag {
            Some(last) if last.as_str() == tag => last.clone(),
            _ => {
                let made = Tag::new(tag);
                self.last_tag = Some(made.clone());
                made
            }
        };
        let time = self.u64_le()? as i64;
        let origin = if flags & HAS_ORIGIN != 0 {
            Some(Origin {
                stream: self.u64_le()?,
                offset: self.u64_le()?,
            })
        } else {
            None
        };
        let record = self.record(0)?;
        let event = Event::new(tag, time, record);
        Ok(match origin {
            Some(origin) => event.with_origin(origin),
            None => event,
        })
    }

    fn record(&mut self, depth: usize) -> Result<Record, DecodeError> {
        // A field takes at least two bytes: an empty name and a null.
        let n = self.len(2)?;
        let mut record = Record::with_capacity(n);
        for _ in 0..n {
            let name = Text::from(self.str()?);
            let value = self.value(depth)?;
            // `insert`, not `insert_new`: damage may repeat a name.
            record.insert(name, value);
        }
        Ok(record)
    }

    fn value(&mut self, depth: usize) -> Result<Value, DecodeError> {
        let at = self.at;
        Ok(match self.byte()? {
            NULL => Value::Null,
            FALSE => Value::Bool(false),
            TRUE => Value::Bool(true),
            INT => {
                let z = self.varint()?;
                Value::Int(((z >> 1) as i64) ^ -((z & 1) as i64))
            }
            FLOAT => Value::Float(f64::from_bits(self.u64_le()?)),
            STRING => Value::String(Text::from(self.str()?)),
            ARRAY => {
                if depth >= MAX_DEPTH {
                    return Err(DecodeError::TooDeep(at));
                }
                let n = self.len(1)?;
                let mut items = Vec::with_capacity(n);
                for _ in 0..n {
                    items.push(self.value(depth + 1)?);
                }
                Value::from(items)
            }
            MAP => {
                if depth >= MAX_DEPTH {
                    return Err(DecodeError::TooDeep(at));
                }
                Value::from(self.record(depth + 1)?)
            }
            byte => {
                return Err(DecodeError::Unknown {
                    what: "value type",
                    byte,
                    at,
                });
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn every_kind() -> Event {
        let mut nested = Record::new();
        nested.insert("z", Value::Int(-3));
        nested.insert("deep", Value::from(vec![Value::from(Record::new())]));
        let mut r = Record::new();
        r.insert("null", Value::Null);
        r.insert("yes", true);
        r.insert("no", false);
        r.insert("min", i64::MIN);
        r.insert("max", i64::MAX);
        r.insert("zero", 0i64);
        r.insert("pi", std::f64::consts::PI);
        r.insert("neg_zero", -0.0f64);
        r.insert("short", "GET");
        r.insert("long", "x".repeat(300));
        r.insert("unicode", "é日本\u{1F600}");
        r.insert("", "empty name");
        r.insert(
            "list",
            vec![
                Value::Null,
                Value::Int(1),
                Value::from("a"),
                Value::Float(2.5),
            ],
        );
        r.insert("map", nested);
        Event::new(Tag::new("nginx.access"), -1_234_567_890_123, r)
    }

    fn round_trip(events: &[Event]) -> Vec<Event> {
        let mut bytes = Vec::new();
        encode(events, &mut bytes);
        assert_eq!(count(&bytes).unwrap(), events.len() as u64);
        decode(&bytes).unwrap()
    }

    #[test]
    fn every_kind_of_value_comes_back_as_it_was() {
        let events = vec![
            every_kind(),
            Event::new(Tag::error(), 0, Record::new()),
            every_kind().with_origin(Origin {
                stream: u64::MAX,
                offset: 1 << 40,
            }),
        ];
        assert_eq!(round_trip(&events), events);
    }

    #[test]
    fn nan_comes_back_bit_for_bit() {
        let mut r = Record::new();
        r.insert("nan", f64::from_bits(0x7ff8_0000_dead_beef));
        let back = round_trip(&[Event::new(Tag::new("t"), 0, r)]);
        let Value::Float(x) = back[0].record["nan"] else {
            panic!("not a float")
        };
        assert_eq!(x.to_bits(), 0x7ff8_0000_dead_beef);
    }

    #[test]
    fn an_empty_batch_is_one_byte() {
        assert_eq!(round_trip(&[]), []);
    }

    #[test]
    fn every_cut_of_a_payload_is_an_error_not_a_panic() {
        let mut bytes = Vec::new();
        encode(&[every_kind(), every_kind()], &mut bytes);
        for end in 0..bytes.len() {
            assert!(decode(&bytes[..end]).is_err(), "cut at {end}");
        }
    }

    #[test]
    fn a_huge_count_is_refused_without_allocating_for_it() {
        let mut bytes = Vec::new();
        put_varint(&mut bytes, u64::MAX);
        assert!(matches!(decode(&bytes), Err(DecodeError::Truncated(0))));
        // A record claiming a billion fields in twenty bytes.
        let mut bytes = vec![1, 0, 1, b't'];
        bytes.extend_from_slice(&0i64.to_le_bytes());
        put_varint(&mut bytes, 1 << 30);
        bytes.extend_from_slice(&[0; 12]);
        assert!(decode(&bytes).is_err());
    }

    #[test]
    fn nesting_past_the_limit_is_refused_not_a_stack_overflow() {
        let mut bytes = vec![1, 0, 1, b't'];
        bytes.extend_from_slice(&0i64.to_le_bytes());
        bytes.extend_from_slice(&[1, 1, b'a']);
        bytes.extend(std::iter::repeat_n([ARRAY, 1], 100_000).flatten());
        bytes.push(NULL);
        assert!(matches!(decode(&bytes), Err(DecodeError::TooDeep(_))));
    }

    #[test]
    fn unknown_bytes_and_bad_text_are_named() {
        let mut head = vec![1, 0, 1, b't'];
        head.extend_from_slice(&0i64.to_le_bytes());
        let mut bad_type = head.clone();
        bad_type.extend_from_slice(&[1, 1, b'a', 9]);
        assert!(matches!(
            decode(&bad_type),
            Err(DecodeError::Unknown { byte: 9, .. })
        ));
        let mut bad_utf8 = head.clone();
        bad_utf8.extend_from_slice(&[1, 1, 0xff, NULL]);
        assert!(matches!(decode(&bad_utf8), Err(DecodeError::NotUtf8(_))));
        let mut bad_flags = vec![1, 0x80];
        bad_flags.extend_from_slice(&[0; 16]);
        assert!(matches!(
            decode(&bad_flags),
            Err(DecodeError::Unknown { byte: 0x80, .. })
        ));
        let mut trailing = Vec::new();
        encode(&[every_kind()], &mut trailing);
        trailing.push(0);
        assert_eq!(decode(&trailing), Err(DecodeError::Trailing(1)));
    }

    #[test]
    fn an_overlong_varint_is_refused() {
        let bytes = [0xff; 11];
        assert!(matches!(decode(&bytes), Err(DecodeError::BadVarint(0))));
    }

    fn value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::Int),
            // NaN never equals itself; it has its own test above.
            any::<f64>()
                .prop_filter("not NaN", |x| !x.is_nan())
                .prop_map(Value::Float),
            ".{0,40}".prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 32, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
                proptest::collection::vec(("[a-z]{0,8}", inner), 0..6)
                    .prop_map(|fields| Value::from(fields.into_iter().collect::<Record>())),
            ]
        })
    }

    proptest! {
        #[test]
        fn any_events_come_back_as_they_were(
            events in proptest::collection::vec(
                ("[a-z.]{1,12}", any::<i64>(), proptest::option::of(any::<(u64, u64)>()), proptest::collection::vec(("[a-z_]{0,10}", value()), 0..8)),
                0..8,
            )
        ) {
            let events: Vec<Event> = events
                .into_iter()
                .map(|(tag, time, origin, fields)| {
                    let event = Event::new(Tag::new(&tag), time, fields.into_iter().collect());
                    match origin {
                        Some((stream, offset)) => event.with_origin(Origin { stream, offset }),
                        None => event,
                    }
                })
                .collect();
            prop_assert_eq!(round_trip(&events), events);
        }

        #[test]
        fn any_bytes_decode_or_fail_without_panicking(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = decode(&bytes);
        }
    }
}
