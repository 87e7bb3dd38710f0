//! What can go wrong between a SQL string and its answer.

use datafusion::common::SchemaError;
use datafusion::error::DataFusionError;
use levee_lake::LakeError;

use crate::hints;
use crate::limits::Limit;

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
    /// The statement parses but cannot be planned: unknown function, wrong
    /// argument types, or a statement that is not allowed.
    #[error("{0}")]
    Plan(String),
    /// The `--lake` folder is not there, or is not a folder. Reading never
    /// creates it: a mistyped path must not look like an empty lake.
    #[error("no lake at {location}: {reason}")]
    NoLake {
        /// The lake as the user named it.
        location: String,
        /// What is there instead.
        reason: String,
    },
    /// A statement names a table the lake does not have.
    #[error("{}", hints::unknown_table(name, nearest.as_deref(), tables, lake_empty.as_deref()))]
    UnknownTable {
        /// The name as the statement wrote it, as SQL spells it.
        name: String,
        /// The closest existing name, if one is close.
        nearest: Option<String>,
        /// Every table the statement could have named, as SQL spells them.
        tables: Vec<String>,
        /// Set when the lake holds no table at all: its location.
        lake_empty: Option<String>,
    },
    /// A statement names a column none of its tables has.
    #[error("{}", hints::unknown_column(name, nearest.as_deref(), columns))]
    UnknownColumn {
        /// The name as the statement wrote it.
        name: String,
        /// The closest existing column, if one is close.
        nearest: Option<String>,
        /// The columns the statement could have named there.
        columns: Vec<String>,
    },
    /// The query started and failed while it ran.
    #[error("query failed: {0}")]
    Execution(String),
    /// The query went over one of its bounds (see [`crate::QueryOptions`]);
    /// the message says which, first: `memory limit: ...`.
    #[error("{limit}: {message}")]
    Limit {
        /// Which bound.
        limit: Limit,
        /// What happened, with the bound's value.
        message: String,
    },
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
            DataFusionError::SchemaError(schema, _) => match schema.as_ref() {
                SchemaError::FieldNotFound {
                    field,
                    valid_fields,
                } => hints::column_not_found(field, valid_fields),
                other => QueryError::Plan(other.to_string()),
            },
            DataFusionError::NotImplemented(msg) => {
                QueryError::Plan(format!("not supported: {msg}"))
            }
            DataFusionError::Execution(msg) => QueryError::Execution(msg.clone()),
            // The memory pool's refusal; the session says the limit's value.
            DataFusionError::ResourcesExhausted(msg) => QueryError::Limit {
                limit: Limit::Memory,
                message: msg.clone(),
            },
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
