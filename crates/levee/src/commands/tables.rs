//! `levee tables`: the lake's catalog for people (a listing, a table's
//! schema and its history) and for other engines (DDL).

use std::fmt::Write as _;
use std::process::ExitCode;

use anyhow::{Result, bail};
use levee_lake::ddl::{self, Dialect};
use levee_lake::describe::{self, SchemaView, TableSummary};
use levee_lake::{Lake, TableRef, catalog};

#[derive(clap::Args)]
pub struct TablesArgs {
    /// The lake's root: a folder, or `s3://bucket/prefix`, reached as the
    /// AWS environment variables say (`AWS_ENDPOINT_URL`, `AWS_REGION`,
    /// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_ALLOW_HTTP`).
    #[arg(long, default_value = "./lake")]
    pub lake: String,
    /// Show one table's columns and its schema history (`db.table`, or
    /// `table` when one database has it).
    #[arg(long, value_name = "TABLE", conflicts_with = "ddl")]
    pub schema: Option<String>,
    /// Print the DDL that makes this engine read TABLE's Parquet as it lies.
    #[arg(long, value_enum, value_name = "ENGINE", requires = "table")]
    pub ddl: Option<Engine>,
    /// Where the engine finds the lake's root, if not where levee does
    /// (`s3://bucket/prefix/` for a lake synced there).
    #[arg(long, value_name = "URL", requires = "ddl")]
    pub location: Option<String>,
    /// The table for `--ddl` (`db.table`, or `table` when one database has it).
    pub table: Option<String>,
}

/// The engines `--ddl` writes for.
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum Engine {
    Athena,
    Trino,
    Spark,
    Duckdb,
}

impl From<Engine> for Dialect {
    fn from(e: Engine) -> Dialect {
        match e {
            Engine::Athena => Dialect::Athena,
            Engine::Trino => Dialect::Trino,
            Engine::Spark => Dialect::Spark,
            Engine::Duckdb => Dialect::Duckdb,
        }
    }
}

pub async fn tables(args: &TablesArgs) -> Result<ExitCode> {
    let lake = Lake::open(&args.lake)?;
    if let (Some(engine), Some(name)) = (args.ddl, &args.table) {
        let table = resolve(&lake, name).await?;
        let root = args
            .location
            .clone()
            .unwrap_or_else(|| lake.url.to_string());
        print!(
            "{}",
            ddl::table_ddl(&lake, &table, engine.into(), &root).await?
        );
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(name) = &args.schema {
        let table = resolve(&lake, name).await?;
        let view = describe::schema(&lake, &table).await?;
        print!("{}", render_schema(&table, &view));
        return Ok(ExitCode::SUCCESS);
    }
    let mut summaries = Vec::new();
    for table in catalog::list_tables(&lake).await? {
        summaries.push(describe::summarize(&lake, &table).await?);
    }
    print!("{}", render_list(&summaries));
    Ok(ExitCode::SUCCESS)
}

/// `db.table`, or a table name only one database has.
async fn resolve(lake: &Lake, name: &str) -> Result<TableRef> {
    let all = catalog::list_tables(lake).await?;
    if let Some((db, table)) = name.split_once('.') {
        let wanted = TableRef::new(db, table)?;
        if all.contains(&wanted) {
            return Ok(wanted);
        }
        // A database name may hold dots: try the whole name as a table too.
    }
    let matches: Vec<&TableRef> = all
        .iter()
        .filter(|t| t.to_string() == name || t.table == name)
        .collect();
    match matches.as_slice() {
        [one] => Ok((*one).clone()),
        [] => bail!(
            "no table `{name}` in the lake `{}` (levee tables --lake {} lists them)",
            lake.location,
            lake.location
        ),
        many => bail!(
            "`{name}` is in several databases: {}; name one as db.table",
            many.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// One line per table, in aligned columns.
fn render_list(tables: &[TableSummary]) -> String {
    let mut rows = vec![
        [
            "database",
            "table",
            "hours",
            "compacted",
            "pending",
            "rows",
            "json",
            "parquet",
            "last compaction",
        ]
        .map(String::from)
        .to_vec(),
    ];
    for t in tables {
        let mut json = format!("{} in {}", bytes(t.json_bytes), t.json_chunks);
        if t.quarantined_chunks > 0 {
            let _ = write!(json, " (+{} quarantined)", t.quarantined_chunks);
        }
        rows.push(vec![
            t.table.database.clone(),
            t.table.table.clone(),
            t.hours.to_string(),
            t.compacted_hours.to_string(),
            t.pending_hours.to_string(),
            t.rows.to_string(),
            json,
            format!("{} in {}", bytes(t.parquet_bytes), t.parquet_files),
            t.last_compaction.clone().unwrap_or_else(|| "never".into()),
        ]);
    }
    let mut out = aligned(&rows);
    if tables.is_empty() {
        out.push_str("(no tables)\n");
    }
    out
}

fn render_schema(table: &TableRef, view: &SchemaView) -> String {
    let mut out = format!("{table}\n\n");
    if view.columns.is_empty() {
        out.push_str("no schema yet: the table has not been compacted (levee compact)\n");
    } else {
        let mut rows = vec![["column", "type", ""].map(String::from).to_vec()];
        for c in &view.columns {
            rows.push(vec![
                c.name.clone(),
                c.ty.clone(),
                c.note.clone().unwrap_or_default(),
            ]);
        }
        out.push_str(&aligned(&rows));
    }
    out.push_str(if view.rebuilt {
        "\nhistory (rebuilt from the hours' manifests: compacted before levee kept it), oldest first:\n"
    } else {
        "\nhistory, oldest first:\n"
    });
    if view.history.is_empty() {
        out.push_str("  (none)\n");
    }
    for step in &view.history {
        let hour = step.hour.as_deref().unwrap_or("(the table's properties)");
        let _ = writeln!(out, "  {}  {hour}", step.at);
        for c in &step.changes {
            let _ = writeln!(out, "    {}: {}", c.column, c.what);
        }
    }
    out
}

/// Rows padded to their columns' widths, two spaces apart, no trailing blanks.
fn aligned(rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|i| {
            rows.iter()
                .filter_map(|r| r.get(i))
                .map(|c| c.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (cell, width) in row.iter().zip(&widths) {
            let _ = write!(line, "{cell:width$}  ");
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// Bytes in binary units, one decimal.
fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_read_as_people_write_them() {
        assert_eq!(bytes(0), "0 B");
        assert_eq!(bytes(1023), "1023 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(3 << 30), "3.0 GiB");
    }

    #[test]
    fn aligned_pads_columns_and_trims_lines() {
        let rows = vec![
            vec!["a".to_owned(), "bb".to_owned()],
            vec!["ccc".to_owned(), "d".to_owned()],
        ];
        assert_eq!(aligned(&rows), "a    bb\nccc  d\n");
    }
}
