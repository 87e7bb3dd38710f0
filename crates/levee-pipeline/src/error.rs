use std::path::PathBuf;

/// Why a pipeline could not start.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// The config is invalid.
    #[error("{0}")]
    Config(#[from] crate::config::ConfigErrors),
    /// The state folder could not be made, or its leftovers cleared.
    #[error("data_dir {path}: {source}")]
    DataDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The metrics endpoint's address could not be bound.
    #[error("metrics listen {addr}: {source}")]
    Metrics {
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
    /// An output's sink could not be opened.
    #[error("output `{name}`: {source}")]
    Output {
        name: String,
        #[source]
        source: levee_io::SinkError,
    },
}
