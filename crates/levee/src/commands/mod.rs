//! One module per subcommand.

pub mod bench;
pub mod buffer;
pub mod compact;
pub mod demo;
pub mod generate;
pub mod query;
pub mod run;
