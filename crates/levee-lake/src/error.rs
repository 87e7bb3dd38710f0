/// What can go wrong in the lake.
#[derive(Debug, thiserror::Error)]
pub enum LakeError {
    /// The lake root is not a path or URL we can open.
    #[error("cannot open lake `{root}`: {reason}")]
    Open { root: String, reason: String },
    /// The object store refused a read, write or listing.
    #[error("object store: {0}")]
    Store(#[from] object_store::Error),
    /// A database or table name that would escape its folder or break paths.
    #[error("invalid {what} name `{name}`: use letters, digits, `-` and `_`")]
    InvalidName { what: &'static str, name: String },
    /// Anything else, with context.
    #[error("{0}")]
    Other(String),
}
