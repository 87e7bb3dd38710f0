//! Integration tests of the pipeline: config errors as golden files, and
//! whole topologies over real files.

mod config_errors;
mod topology;
