//! The core of levee: what flows through the pipeline.
//!
//! An [`Event`] is a [`Tag`], a time in nanoseconds since the Unix epoch (UTC)
//! and a [`Record`] of [`Value`]s. Sources make events, the router matches
//! their tags against [`TagPattern`]s, filters change them (reaching fields
//! by [`FieldPath`]) and outputs write them. Stages pass [`Batch`]es, not
//! single events.
//!
//! What a config may call a tag ([`Tag::parse`]) and a field path
//! ([`FieldPath::parse`]) is decided here, once, for every crate.
//!
//! This crate does no I/O and changes rarely: every other crate builds on it.

#![warn(missing_docs)]

pub mod ack;
mod event;
mod path;
mod pattern;
mod record;
mod tag;
pub mod time;
mod value;

pub use ack::{Ack, Ledger, Sent};
pub use event::{Batch, Event, Origin};
pub use path::{FieldPath, PathError};
pub use pattern::{PatternError, TagPattern};
pub use record::{FieldHint, Record, Text};
pub use tag::{ERROR_TAG, Tag, TagError};
pub use value::Value;
