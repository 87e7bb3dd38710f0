/// What can go wrong in the lake.
#[derive(Debug, thiserror::Error)]
pub enum LakeError {
    /// The lake root is not a path or URL we can open.
    #[error("cannot open lake `{root}`: {reason}")]
    Open {
        /// The root as given.
        root: String,
        /// Why it cannot be opened.
        reason: String,
    },
    /// The object store refused a read, write or listing.
    #[error("object store: {0}")]
    Store(#[from] object_store::Error),
    /// A database or table name that would escape its folder or break paths.
    #[error("invalid {what} name `{name}`: use letters, digits, `-` and `_`")]
    InvalidName {
        /// `database` or `table`.
        what: &'static str,
        /// The name refused.
        name: String,
    },
    /// A name for the event-time column that cannot be one.
    #[error("invalid time field `{name}`: {reason}")]
    InvalidTimeField {
        /// The name refused.
        name: String,
        /// Why it cannot name the column.
        reason: &'static str,
    },
    /// A column named in a table's layout settings that cannot be one.
    #[error("invalid column `{name}`: {reason}")]
    InvalidColumn {
        /// The name refused.
        name: String,
        /// Why.
        reason: &'static str,
    },
    /// A declared column type that cannot be read, or a column that
    /// cannot be declared (see [`crate::declared`]).
    #[error("invalid declared type `{text}`: {reason}")]
    InvalidType {
        /// The type (or column name) refused.
        text: String,
        /// Why.
        reason: String,
    },
    /// A catalog file (schema or manifest) that cannot be read back.
    #[error("catalog file `{key}`: {reason}")]
    Catalog {
        /// The file's key in the object store.
        key: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Writing or reading Parquet failed.
    #[cfg(feature = "compact")]
    #[error("parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    /// Building Arrow data failed.
    #[cfg(feature = "compact")]
    #[error("arrow: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
    /// Another compactor holds the table's lock (see `compact::lock`).
    #[error("{table} is being compacted by {holder}")]
    Locked {
        /// The table, as `db.table`.
        table: String,
        /// Who holds the lock, as it says.
        holder: String,
    },
    /// The table's lock lapsed while this compactor held it (it stalled
    /// longer than its lease), so another may have taken it.
    #[error("lost the compaction lock `{key}`; stopped before committing more")]
    LockLost {
        /// The lock's key.
        key: String,
    },
    /// Anything else, with context.
    #[error("{0}")]
    Other(String),
}
