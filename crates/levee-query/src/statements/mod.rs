//! A statement's way from its text to a plan, in Athena's manner.
//!
//! - `SHOW TABLES`, `SHOW SCHEMAS` (`DATABASES`), `SHOW PARTITIONS` and
//!   `SHOW COLUMNS` are answered here from the lake's tables ([`show`]):
//!   DataFusion's own `SHOW TABLES` lists its internal views, and it has no
//!   `SHOW PARTITIONS`.
//! - Every other statement is planned by DataFusion, its unnamed result
//!   columns headed `_col0`, `_col1`, ... as Athena heads them
//!   ([`headings`]).
//! - A statement that names a table the lake lacks fails with the nearest
//!   name and the tables there are, rather than DataFusion's
//!   `table 'datafusion.x.y' not found`.

mod headings;
mod show;

use datafusion::dataframe::DataFrame;

use crate::hints::{self, sql_ident};
use crate::{LakeSession, QueryError};

/// Plans one read-only statement of `session`: see the module's documentation.
pub(crate) async fn dataframe(session: &LakeSession, sql: &str) -> Result<DataFrame, QueryError> {
    if let Some(show) = show::parse(sql)? {
        return show.answer(session).await;
    }
    let ctx = session.context();
    let state = ctx.state();
    let dialect = state.config().options().sql_parser.dialect;
    let mut statement = state.sql_to_statement(sql, &dialect)?;
    let references = state.resolve_table_references(&statement)?;
    let renamed = headings::name_unnamed(&mut statement);
    let plan = match state.statement_to_plan(statement).await {
        Ok(plan) => plan,
        Err(e) => {
            // Said by name, with what exists; DataFusion's message names
            // the table as its catalog resolved it.
            for r in &references {
                if !ctx.table_exist(r.clone()).unwrap_or(false) {
                    return Err(unknown_table(session, r.schema(), r.table()));
                }
            }
            return Err(e.into());
        }
    };
    session.sql_options().verify_plan(&plan)?;
    let plan = headings::rename(plan, renamed)?;
    Ok(ctx.execute_logical_plan(plan).await?)
}

/// The error for a table `schema.table` (or `table`) that `session` lacks:
/// why, if it is one the session could not open; else the nearest name
/// and the lake's tables, or that the lake has none.
pub(crate) fn unknown_table(
    session: &LakeSession,
    schema: Option<&str>,
    table: &str,
) -> QueryError {
    let name = match schema {
        Some(s) => format!("{}.{}", sql_ident(s), sql_ident(table)),
        None => sql_ident(table),
    };
    for skipped in session.skipped() {
        let database_matches = schema.is_none_or(|s| s == skipped.table.database);
        let names = [
            crate::Format::Json,
            crate::Format::Parquet,
            crate::Format::Whole,
        ]
        .map(|f| f.sql_name(&skipped.table));
        if database_matches && names.iter().any(|n| n == table) {
            return QueryError::Table {
                table: name,
                message: skipped.error.to_string(),
            };
        }
    }
    let tables = session.tables();
    if tables.is_empty() && session.skipped().is_empty() {
        return QueryError::UnknownTable {
            name,
            nearest: None,
            tables: Vec::new(),
            lake_empty: Some(session.location().to_owned()),
        };
    }
    // Among the tables of the named database first: a tie goes to them.
    let mut order: Vec<&crate::LakeTable> = tables.iter().collect();
    order.sort_by_key(|t| schema != Some(t.table.database.as_str()));
    let nearest = hints::nearest(table, order.iter().map(|t| t.name.as_str()))
        .and_then(|n| order.iter().find(|t| t.name == n))
        .map(|t| qualified_name(t));
    let mut qualified: Vec<String> = tables.iter().map(qualified_name).collect();
    qualified.sort();
    QueryError::UnknownTable {
        name,
        nearest,
        tables: qualified,
        lake_empty: None,
    }
}

/// `"glue-data-lake-usw2-prd".eventlog_parquet`: a table as SQL names it.
fn qualified_name(t: &crate::LakeTable) -> String {
    format!("{}.{}", sql_ident(&t.table.database), sql_ident(&t.name))
}

/// The database an unqualified name means: the session's default schema,
/// when it is one of the lake's databases.
fn default_database(session: &LakeSession) -> Option<String> {
    let state = session.context().state();
    let default = state.config().options().catalog.default_schema.clone();
    session
        .tables()
        .iter()
        .any(|t| t.table.database == default)
        .then_some(default)
}
