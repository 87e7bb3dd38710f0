use std::path::PathBuf;

/// Why a pipeline could not start. Each says its cause once, in its
/// message: none also returns it as `source()`.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// The config is invalid.
    #[error("{0}")]
    Config(#[from] crate::config::ConfigErrors),
    /// The state folder could not be made, or its leftovers cleared.
    #[error("data_dir {path}: {error}")]
    DataDir {
        /// The folder.
        path: PathBuf,
        /// What the system said (in the message, not also as `source()`).
        error: std::io::Error,
    },
    /// The metrics endpoint's address could not be bound.
    #[error("metrics listen {addr}: {error}")]
    Metrics {
        /// The address from `[metrics] listen`.
        addr: std::net::SocketAddr,
        /// What the system said.
        error: std::io::Error,
    },
    /// An output's sink could not be opened.
    #[error("outputs.{name}: {error}")]
    Output {
        /// The output's name.
        name: String,
        /// Why the sink did not open.
        error: levee_io::SinkError,
    },
}
