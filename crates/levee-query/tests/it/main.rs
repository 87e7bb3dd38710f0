//! levee-query's integration tests: one binary, one module per concern.

mod lake;
mod scan;
mod slt;
