//! One module per subcommand.

pub mod bench;
pub mod buffer;
pub mod compact;
pub mod console;
pub mod demo;
pub mod generate;
pub mod metrics;
pub mod parquet;
pub mod progress;
pub mod query;
pub mod run;
pub mod scheduled;
pub mod serve;
pub mod tables;
pub mod top;
