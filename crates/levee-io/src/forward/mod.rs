//! The Fluentd Forward Protocol's parts that both of levee's ends use: the
//! `forward` source (a server, `sources/forward/`) and the `forward` sink
//! (a client, `sinks/forward/`).

pub(crate) mod handshake;
pub mod msgpack;
