//! A request body to records: decompressed (capped), then read as
//! newline-delimited JSON, a JSON array of objects, or one JSON object.
//!
//! Pure functions over bytes, so the fuzz target (`fuzz/fuzz_targets/
//! http_body.rs`) and the unit tests drive them without a server. A body is
//! read whole before any of it is sent on: a malformed body is refused
//! whole, with the line and column of the first fault, and nothing of it
//! goes downstream.

use std::borrow::Cow;
use std::fmt;
use std::io::Read;

use levee_event::Record;
use serde::de::{DeserializeSeed, Deserializer, SeqAccess, Visitor};
use serde_json::error::Category;

/// A body's `Content-Encoding`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    /// As sent (no header, or `identity`).
    Identity,
    /// `gzip` (or `x-gzip`).
    Gzip,
    /// `zstd`.
    Zstd,
}

impl Encoding {
    /// The encoding a `Content-Encoding` value names; `None` for one this
    /// source does not read (`br`, `deflate`, a list of several).
    pub fn from_header(value: &str) -> Option<Encoding> {
        match value.trim().to_ascii_lowercase().as_str() {
            "" | "identity" => Some(Encoding::Identity),
            "gzip" | "x-gzip" => Some(Encoding::Gzip),
            "zstd" => Some(Encoding::Zstd),
            _ => None,
        }
    }
}

/// Why a body was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    /// The body inflates past `max_decompressed_bytes`: a bomb stops here.
    #[error("the body inflates to more than max_decompressed_bytes ({limit} bytes)")]
    DecompressedTooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
    /// The body is not valid in its `Content-Encoding`.
    #[error("the body is not valid {encoding}: {message}")]
    Compression {
        /// `gzip` or `zstd`.
        encoding: &'static str,
        /// What the decoder said.
        message: String,
    },
    /// More records than `max_records`.
    #[error("more than max_records ({limit}) records in one request")]
    TooManyRecords {
        /// The limit.
        limit: usize,
    },
    /// No bytes, or only whitespace.
    #[error("the body is empty: send newline-delimited JSON, a JSON array, or one JSON object")]
    Empty,
    /// The body's text is wrong at a place.
    #[error("line {line}, column {column}: {message}")]
    Invalid {
        /// From 1, counting `\n`s in the (decompressed) body.
        line: usize,
        /// From 1, in bytes.
        column: usize,
        /// What is wrong there.
        message: String,
    },
    /// The body ended inside a value (a truncated body).
    #[error("line {line}: the body ended inside a JSON value ({message})")]
    Truncated {
        /// The last line, from 1.
        line: usize,
        /// What serde_json expected.
        message: String,
    },
}

/// Some writers start a file with a UTF-8 byte order mark.
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// The largest zstd window a body may ask for: 2^24 bytes, 16 MiB. zstd's
/// levels up to 19 stay within 8 MiB; a frame asking more (`--long`, or
/// a hostile header) would make the decoder allocate it, so it is refused.
const ZSTD_WINDOW_LOG_MAX: u32 = 24;

/// The body as sent, or inflated; more than `limit` bytes is an error.
pub fn decompress(
    body: &[u8],
    encoding: Encoding,
    limit: usize,
) -> Result<Cow<'_, [u8]>, BodyError> {
    let compression = |encoding: &'static str| {
        move |e: std::io::Error| BodyError::Compression {
            encoding,
            message: e.to_string(),
        }
    };
    let mut out = Vec::new();
    match encoding {
        Encoding::Identity => return Ok(Cow::Borrowed(body)),
        Encoding::Gzip => {
            out.reserve(body.len().saturating_mul(4).min(limit));
            // Several gzip members one after another are one body (as
            // `cat a.gz b.gz` is), as gzip(1) reads them.
            flate2::read::MultiGzDecoder::new(body)
                .take(limit as u64 + 1)
                .read_to_end(&mut out)
                .map_err(compression("gzip"))?;
        }
        Encoding::Zstd => {
            out.reserve(body.len().saturating_mul(4).min(limit));
            let mut decoder =
                zstd::stream::read::Decoder::with_buffer(body).map_err(compression("zstd"))?;
            decoder
                .window_log_max(ZSTD_WINDOW_LOG_MAX)
                .map_err(compression("zstd"))?;
            decoder
                .take(limit as u64 + 1)
                .read_to_end(&mut out)
                .map_err(compression("zstd"))?;
        }
    }
    if out.len() > limit {
        return Err(BodyError::DecompressedTooLarge { limit });
    }
    Ok(Cow::Owned(out))
}

/// The records of a body: a JSON array of objects if it starts with `[`,
/// else a stream of objects (one per line, as NDJSON, though an object may
/// span lines and whitespace of any kind separates them), so one object is
/// the stream of one. Nothing but objects is a record.
pub fn records(body: &[u8], max_records: usize) -> Result<Vec<Record>, BodyError> {
    let (skipped, text) = match body.strip_prefix(BOM) {
        Some(rest) => (BOM.len(), rest),
        None => (0, body),
    };
    let start = text.len() - text.trim_ascii_start().len();
    let located = |e: serde_json::Error| located(e, text, skipped, max_records);
    match text.get(start) {
        None => Err(BodyError::Empty),
        Some(b'[') => {
            let mut de = serde_json::Deserializer::from_slice(text);
            let records = de
                .deserialize_seq(Records { max_records })
                .map_err(located)?;
            de.end().map_err(located)?;
            Ok(records)
        }
        Some(_) => {
            let mut records = Vec::new();
            let stream = serde_json::Deserializer::from_slice(text).into_iter::<Record>();
            for record in stream {
                let record = record.map_err(located)?;
                if records.len() == max_records {
                    return Err(BodyError::TooManyRecords { limit: max_records });
                }
                records.push(record);
            }
            Ok(records)
        }
    }
}

/// The message a [`Records`] visitor's error carries, so that it can be
/// told back into [`BodyError::TooManyRecords`].
const TOO_MANY: &str = "levee: too many records";

/// Reads a JSON array of records, at most `max_records` of them.
struct Records {
    max_records: usize,
}

impl<'de> DeserializeSeed<'de> for Records {
    type Value = Vec<Record>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Vec<Record>, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Records {
    type Value = Vec<Record>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON array of objects")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<Record>, A::Error> {
        // A hint from the body's own text is not trusted for the size.
        let mut records = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
        while let Some(record) = seq.next_element::<Record>()? {
            if records.len() == self.max_records {
                return Err(serde::de::Error::custom(TOO_MANY));
            }
            records.push(record);
        }
        Ok(records)
    }
}

/// serde_json's error as a line, a column and a reason.
fn located(error: serde_json::Error, text: &[u8], skipped: usize, max_records: usize) -> BodyError {
    let location = format!(" at line {} column {}", error.line(), error.column());
    let full = error.to_string();
    let message = full.strip_suffix(&location).unwrap_or(&full);
    if message == TOO_MANY {
        return BodyError::TooManyRecords { limit: max_records };
    }
    let message = message
        .replace(
            "expected a map of fields",
            "expected a JSON object (one record)",
        )
        .replace(
            "invalid type: map, expected",
            "an object where there should be",
        );
    if error.classify() == Category::Eof {
        let line = 1 + memchr::memchr_iter(b'\n', text).count();
        return BodyError::Truncated { line, message };
    }
    let (mut line, mut column) = (error.line().max(1), error.column());
    if column == 0 && line > 1 && message.starts_with("control character") {
        // The fault is the `\n` that ends a line, inside a string; serde_json
        // read it and counts it as column 0 of the next line (as it does a
        // value it peeked at the start of that line, which is right there).
        line -= 1;
        let starts = |n: usize| match n {
            1 => 0,
            n => memchr::memchr_iter(b'\n', text)
                .nth(n - 2)
                .map_or(0, |i| i + 1),
        };
        column = starts(line + 1).saturating_sub(starts(line));
    }
    // A BOM sits before the first line's first column.
    let column = column.max(1) + if line == 1 { skipped } else { 0 };
    BodyError::Invalid {
        line,
        column,
        message,
    }
}
