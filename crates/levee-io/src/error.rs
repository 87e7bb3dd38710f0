//! The errors of sources and sinks.
//!
//! Config errors ([`SourceConfigError`], [`SinkConfigError`]) are found once,
//! by `levee validate` and before `levee run` starts anything; run-time
//! errors ([`SourceError`], [`SinkError`]) are what can still go wrong after.
//!
//! Each error says its cause once: a wrapped error's text is in the message
//! (`#[error(transparent)]` or `{0}`), never also returned as its `source()`,
//! so printing the chain does not repeat it.

use std::path::PathBuf;

/// Why a source stopped.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// A file could not be opened or read.
    #[error("{path}: {error}")]
    Io {
        /// The file, or `<stdin>`.
        path: PathBuf,
        /// What the system said.
        error: std::io::Error,
    },
    /// A network source could not listen on its address.
    #[error("listening on {addr}: {error}")]
    Listen {
        /// The address, as configured.
        addr: String,
        /// What the system said.
        error: std::io::Error,
    },
    /// The `generate` source's options were refused.
    #[error("generate: {0}")]
    Generate(#[from] levee_generate::OptionsError),
    /// A config value refused by a source's own checks.
    #[error("{0}")]
    Config(String),
}

/// Why a source's config was refused.
#[derive(Debug, thiserror::Error)]
pub enum SourceConfigError {
    /// A value that is out of range or malformed.
    #[error("{reason}")]
    Invalid {
        /// The key at fault, as written in the source's table (`tag`,
        /// `multiline.max_lines`).
        key: &'static str,
        /// What is wrong, and what to write instead.
        reason: String,
    },
    /// The parser's config did not compile.
    #[error("{0}")]
    Parser(levee_parse::ParserConfigError),
    /// Refused by the source kind's own checks, without a key.
    #[error("{0}")]
    Kind(String),
}

impl SourceConfigError {
    /// The key at fault, as a dotted path inside the source's table.
    pub fn key(&self) -> Option<&str> {
        match self {
            SourceConfigError::Invalid { key, .. } => Some(key),
            SourceConfigError::Parser(_) => Some("parser"),
            SourceConfigError::Kind(_) => None,
        }
    }

    pub(crate) fn invalid(key: &'static str, reason: impl Into<String>) -> SourceConfigError {
        SourceConfigError::Invalid {
            key,
            reason: reason.into(),
        }
    }
}

/// Why a sink's config was refused.
#[derive(Debug, thiserror::Error)]
#[error("{reason}")]
pub struct SinkConfigError {
    /// The key at fault, as written in the output's table (`zstd_level`).
    pub key: &'static str,
    /// What is wrong, and what to write instead.
    pub reason: String,
}

impl SinkConfigError {
    pub(crate) fn new(key: &'static str, reason: impl Into<String>) -> SinkConfigError {
        SinkConfigError {
            key,
            reason: reason.into(),
        }
    }
}

/// Why a sink could not open, or write a batch. The output worker retries
/// a failed write.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// Local I/O failed.
    #[error("{context}: {error}")]
    Io {
        /// What was being done, as `opening ./out.ndjson`.
        context: String,
        /// What the system said.
        error: std::io::Error,
    },
    /// The lake refused a write.
    #[error(transparent)]
    Lake(#[from] levee_lake::LakeError),
    /// The object store refused a write.
    #[error("object store: {0}")]
    Store(object_store::Error),
    /// An event could not be encoded.
    #[error("encode: {0}")]
    Encode(String),
    /// An HTTP endpoint failed in a way that asking again may fix (a 5xx,
    /// 408 or 429 answer, a timeout, a connection or TLS error).
    #[error("{reason}")]
    Http {
        /// What happened, with what the server said.
        reason: String,
        /// How long the server asked to wait (`Retry-After`), if it did.
        retry_after: Option<std::time::Duration>,
    },
    /// A forward receiver failed in a way that asking again, there or on
    /// another server, may fix (no connection, a closed one, a refused
    /// handshake, no ack or the wrong one within `ack_timeout`).
    #[error("{0}")]
    Forward(String),
    /// The sink can never take some events of the batch, however often it
    /// is asked (an event it cannot encode, a record its target refuses):
    /// nothing of the batch is absorbed, and the caller sends those events
    /// to the output's `secondary` (or drops and counts them) at once,
    /// then writes the rest again.
    #[error("{} malformed event(s): {reason}", events.len())]
    Malformed {
        /// The positions, in the batch, of the events refused.
        events: Vec<usize>,
        /// Why, for the log.
        reason: String,
    },
}

impl From<object_store::Error> for SinkError {
    fn from(error: object_store::Error) -> SinkError {
        SinkError::Store(error)
    }
}

impl SinkError {
    /// The positions of the batch's events the sink refuses for good, if
    /// that is what this error says; see [`SinkError::Malformed`].
    pub fn malformed(&self) -> Option<&[usize]> {
        match self {
            SinkError::Malformed { events, .. } => Some(events),
            _ => None,
        }
    }

    /// How long to wait before asking again, when the target said
    /// (HTTP's `Retry-After`).
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            SinkError::Http { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// An I/O error with what was being done.
    pub fn io(context: impl Into<String>, error: std::io::Error) -> SinkError {
        SinkError::Io {
            context: context.into(),
            error,
        }
    }
}
