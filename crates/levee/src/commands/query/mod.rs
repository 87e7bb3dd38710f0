//! `levee query`.

use std::process::ExitCode;

use anyhow::Result;
use levee_query::LakeSession;

#[derive(clap::Args)]
pub struct QueryArgs {
    /// The lake's root folder.
    #[arg(long, default_value = "./lake")]
    pub lake: String,
    /// How to print the rows.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Fail (exit 2, no rows) when the query met a damaged JSON chunk,
    /// rather than answer from the rest with a warning naming it.
    #[arg(long)]
    pub strict: bool,
    /// The SQL statement, in Athena's dialect.
    pub sql: String,
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum Format {
    Table,
    Csv,
    Json,
}

pub async fn query(args: &QueryArgs) -> Result<ExitCode> {
    let lake = levee_query::open_lake(&args.lake)?;
    let session = LakeSession::open(&lake).await?;
    let result = match session.sql(&args.sql).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("levee: query failed: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    if args.strict && !result.stats.damaged_files.is_empty() {
        eprintln!("{}", result.stats);
        eprintln!("levee: query failed: --strict, and the lake has damaged chunks (above)");
        return Ok(ExitCode::from(2));
    }
    let mut stdout = std::io::stdout().lock();
    match args.format {
        Format::Table => println!(
            "{}",
            levee_query::format_table(&result.schema, &result.batches)?
        ),
        Format::Csv => levee_query::write_csv(&mut stdout, &result.schema, &result.batches)?,
        Format::Json => levee_query::write_json_lines(&mut stdout, &result.batches)?,
    }
    // The accounting line goes to stderr so the rows can be piped.
    eprintln!("{}", result.stats);
    Ok(ExitCode::SUCCESS)
}
