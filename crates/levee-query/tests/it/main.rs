//! levee-query's integration tests: one binary, one module per concern.

mod lake;
mod output;
mod scan;
mod slt;
