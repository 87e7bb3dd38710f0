//! levee-query's integration tests: one binary, one module per concern.

mod event_time;
mod lake;
mod layout;
mod output;
mod scan;
mod slt;
