//! levee-query's integration tests: one binary, one module per concern.

mod event_time;
mod footer;
mod headings;
mod lake;
mod layout;
mod limits;
mod output;
mod read_only;
mod scan;
mod slt;
mod statements;
