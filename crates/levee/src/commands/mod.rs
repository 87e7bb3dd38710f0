//! One module per subcommand.

pub mod bench;
pub mod buffer;
pub mod compact;
pub mod demo;
pub mod generate;
// The formats are tested here; the command that uses them comes with its fetch.
#[allow(dead_code)]
pub mod metrics;
pub mod query;
pub mod run;
