//! What can go wrong between a SQL string and its answer.

use datafusion::error::DataFusionError;
use levee_lake::LakeError;

/// Everything a query can fail with.
///
/// DataFusion's errors arrive as layered wrappers; they are unwrapped to the
/// message that names the cause, and sorted into the stage that failed, so the
/// CLI can print "SQL syntax error: ..." rather than a nested debug string.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// The lake could not be listed or read.
    #[error(transparent)]
    Lake(#[from] LakeError),
    /// A table of the lake could not be registered (its schema could not be read).
    #[error("cannot open table {table}: {message}")]
    Table {
        /// The table's name.
        table: String,
        /// Why it could not be registered.
        message: String,
    },
    /// The statement does not parse.
    #[error("SQL syntax error: {0}")]
    Syntax(String),
    /// The statement parses but cannot be planned: unknown table, column or
    /// function, wrong argument types, or a statement that is not allowed.
    #[error("{0}")]
    Plan(String),
    /// The query started and failed while it ran.
    #[error("query failed: {0}")]
    Execution(String),
    /// A result could not be written in the format asked for.
    #[error("cannot write {format}: {message}")]
    Output {
        /// The format being written, as a reader says it (`CSV`, `Parquet`).
        format: &'static str,
        /// What went wrong.
        message: String,
    },
}

impl From<DataFusionError> for QueryError {
    fn from(err: DataFusionError) -> Self {
        let root = err.find_root();
        match root {
            DataFusionError::SQL(parse, _) => {
                let msg = parse.to_string();
                let msg = msg.strip_prefix("sql parser error: ").unwrap_or(&msg);
                QueryError::Syntax(msg.to_owned())
            }
            DataFusionError::Plan(msg) => QueryError::Plan(msg.clone()),
            DataFusionError::SchemaError(schema, _) => QueryError::Plan(schema.to_string()),
            DataFusionError::NotImplemented(msg) => {
                QueryError::Plan(format!("not supported: {msg}"))
            }
            DataFusionError::Execution(msg) => QueryError::Execution(msg.clone()),
            other => QueryError::Execution(other.strip_backtrace()),
        }
    }
}

impl QueryError {
    /// An output writer's failure, tagged with the format it was writing.
    pub(crate) fn output(format: &'static str, err: impl std::fmt::Display) -> QueryError {
        QueryError::Output {
            format,
            message: err.to_string(),
        }
    }
}
