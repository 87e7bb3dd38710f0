//! The core of levee: what flows through the pipeline.
//!
//! An [`Event`] is a [`Tag`], a time in nanoseconds since the Unix epoch (UTC)
//! and a [`Record`] of [`Value`]s. Sources make events, the router matches
//! their tags against [`TagPattern`]s, filters change them and outputs write
//! them. Stages pass [`Batch`]es, not single events.
//!
//! This crate does no I/O and changes rarely: every other crate builds on it.

mod event;
mod pattern;
mod record;
pub mod time;
mod value;

pub use event::{Batch, ERROR_TAG, Event, Tag};
pub use pattern::{PatternError, TagPattern};
pub use record::{FieldHint, Record, Text};
pub use value::Value;
