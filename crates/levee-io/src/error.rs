use std::path::PathBuf;

/// Why a source stopped or could not start.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// A file could not be opened or read.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The parser config did not compile.
    #[error("parser: {0}")]
    Parser(#[from] levee_parse::ParserConfigError),
    /// The `generate` source's options were refused.
    #[error("generate: {0}")]
    Generate(#[from] levee_generate::OptionsError),
    /// A config value that can only be checked when the source is built.
    #[error("{0}")]
    Config(String),
}

/// Why a sink could not write a batch. The output worker retries it.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// Local I/O failed.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// The lake refused a write.
    #[error("lake: {0}")]
    Lake(#[from] levee_lake::LakeError),
    /// The object store refused a write.
    #[error("object store: {0}")]
    Store(#[from] object_store::Error),
    /// An event could not be encoded.
    #[error("encode: {0}")]
    Encode(String),
}

impl SinkError {
    /// An I/O error with what was being done.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> SinkError {
        SinkError::Io {
            context: context.into(),
            source,
        }
    }
}
