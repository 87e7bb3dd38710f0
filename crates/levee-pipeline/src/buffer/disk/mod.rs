//! The disk buffer: a write-ahead log of checksummed segments under
//! `data_dir/buffers/<output>/`.

pub mod codec;
pub mod position;
pub mod segment;
