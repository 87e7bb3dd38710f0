//! `levee query` (one statement, a `.sql` file, or SQL on standard input)
//! and `levee sql` (an interactive shell, [`shell`]).
//!
//! Both open one [`LakeSession`] from [`SessionArgs`] and print answers
//! with [`print`]: the rows in the format asked for, and the accounting
//! where that format keeps the data clean.

pub mod print;
pub mod shell;

use std::io::{IsTerminal, Read};
use std::path::PathBuf;
use std::process::ExitCode;

use std::time::Duration;

use anyhow::{Context, Result, bail};
use levee_query::script::{self, Statement};
use levee_query::{LakeSession, Limit, QueryError, QueryOptions};

pub use print::Format;

/// How a session over the lake is opened; shared by `levee query`,
/// `levee sql` and `levee serve`, so a flag added here reaches all three.
#[derive(clap::Args, Clone, Debug)]
pub struct SessionArgs {
    /// The lake's root folder.
    #[arg(long, default_value = "./lake")]
    pub lake: String,
    /// The longest a query may run, such as `30s` or `5m`; a query that
    /// takes longer is stopped and fails with `time limit: ...`.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "30s")]
    pub timeout: Duration,
    /// The most memory queries may hold at once (hash tables, sorts, the
    /// answer's rows), such as `512MiB` or `2GiB`; a query that needs more
    /// fails with `memory limit: ...`.
    #[arg(long, value_name = "SIZE", value_parser = parse_size, default_value = "512MiB")]
    pub memory_limit: usize,
}

impl SessionArgs {
    /// The limits queries run under; the rest as [`QueryOptions::default`].
    pub fn options(&self) -> QueryOptions {
        QueryOptions {
            timeout: self.timeout,
            memory_limit: self.memory_limit,
            ..QueryOptions::default()
        }
    }

    /// Opens the lake (a folder that holds none is an error, not a new
    /// empty lake) and registers its tables.
    pub async fn open(&self) -> Result<LakeSession> {
        let lake = levee_query::open_lake(&self.lake)?;
        Ok(LakeSession::open_with(&lake, self.options()).await?)
    }
}

/// A duration flag: `30s`, `5m`, `1h 30m`; never 0.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let d =
        humantime::parse_duration(text.trim()).map_err(|e| format!("{e}; write e.g. 30s or 5m"))?;
    if d.is_zero() {
        return Err("must be more than 0".into());
    }
    Ok(d)
}

/// A memory flag: `512MiB`, `2GiB`; at least 1 MiB.
pub fn parse_size(text: &str) -> Result<usize, String> {
    let n = levee_io::units::parse_size(text).map_err(|e| format!("{e}; write e.g. 512MiB"))?;
    if n < 1024 * 1024 {
        return Err("must be at least 1MiB: no query runs in less".into());
    }
    Ok(usize::try_from(n).unwrap_or(usize::MAX))
}

/// After a limit's error, the flag that raises it.
pub fn limit_hint(e: &QueryError) -> &'static str {
    match e {
        QueryError::Limit {
            limit: Limit::Time, ..
        } => " (--timeout raises it)",
        QueryError::Limit {
            limit: Limit::Memory,
            ..
        } => " (--memory-limit raises it)",
        _ => "",
    }
}

/// `levee query`'s arguments.
#[derive(clap::Args)]
pub struct QueryArgs {
    #[command(flatten)]
    pub session: SessionArgs,
    /// How to print the rows. `table` and `json` carry the accounting
    /// (after the rows; as a `stats` field); `csv`, `ndjson` and `parquet`
    /// leave it to standard error, so the data stays clean.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Write the answer to this file rather than standard output.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Fail (exit 2, no rows) when the query met a damaged JSON chunk,
    /// rather than answer from the rest with a warning naming it.
    #[arg(long)]
    pub strict: bool,
    /// Run the statements of this file, each ended by `;`, in order,
    /// stopping at the first that fails (`-` reads standard input).
    #[arg(short, long, value_name = "FILE", conflicts_with = "sql")]
    pub file: Option<PathBuf>,
    /// The SQL, in Athena's dialect: one statement or several, each ended by
    /// `;`. `-`, or nothing when standard input is not a terminal, reads it
    /// from standard input.
    pub sql: Option<String>,
}

pub async fn query(args: &QueryArgs) -> Result<ExitCode> {
    let text = sql_text(args)?;
    let statements = match script::split_statements(&text) {
        Ok(script) => script.into_all(),
        Err(e) => {
            crate::stderr::say!("levee: query failed: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    if statements.is_empty() {
        bail!("no SQL statement given (only whitespace or comments)");
    }
    if args.format == Format::Parquet && statements.len() > 1 {
        bail!(
            "--format parquet writes one answer, and {} statements were given",
            statements.len()
        );
    }
    let mut out = print::Out::open(args.output.as_deref(), args.format)?;
    let session = args.session.open().await?;
    let several = statements.len() > 1;
    for (i, statement) in statements.iter().enumerate() {
        let result = match session.sql(&statement.sql).await {
            Ok(r) => r,
            Err(e) => {
                out.finish()?;
                crate::stderr::say!(
                    "levee: query failed: {}{e}{}",
                    where_(statement, several),
                    limit_hint(&e)
                );
                return Ok(ExitCode::from(2));
            }
        };
        if args.strict && !result.stats.damaged_files.is_empty() {
            out.finish()?;
            crate::stderr::say!("{}", result.stats);
            crate::stderr::say!(
                "levee: query failed: {}--strict, and the lake has damaged chunks (above)",
                where_(statement, several)
            );
            return Ok(ExitCode::from(2));
        }
        if i > 0 {
            print::separate(&mut out, args.format)?;
        }
        print::answer(&mut out, args.format, &result)?;
    }
    out.finish()?;
    Ok(ExitCode::SUCCESS)
}

/// Which statement failed, when there were several.
fn where_(statement: &Statement, several: bool) -> String {
    if several {
        format!("the statement on line {}: ", statement.line)
    } else {
        String::new()
    }
}

/// The SQL text: the argument, the file, or standard input.
fn sql_text(args: &QueryArgs) -> Result<String> {
    let from_stdin = || -> Result<String> {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("cannot read SQL from standard input")?;
        Ok(text)
    };
    match (&args.file, args.sql.as_deref()) {
        (Some(path), _) if path.as_os_str() == "-" => from_stdin(),
        (Some(path), _) => std::fs::read_to_string(path)
            .with_context(|| format!("cannot read SQL from {}", path.display())),
        (None, Some("-")) => from_stdin(),
        (None, Some(sql)) => Ok(sql.to_owned()),
        (None, None) if !std::io::stdin().is_terminal() => from_stdin(),
        (None, None) => bail!(
            "no SQL: give a statement, -f FILE, or SQL on standard input \
             (`levee sql` opens an interactive shell)"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The flags' defaults, written as text for `--help`, are the library's.
    #[test]
    fn the_limit_flags_default_to_the_library_defaults() {
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            session: SessionArgs,
        }
        let cli = <Cli as clap::Parser>::try_parse_from(["levee"]).unwrap();
        assert_eq!(cli.session.timeout, levee_query::DEFAULT_TIMEOUT);
        assert_eq!(cli.session.memory_limit, levee_query::DEFAULT_MEMORY_LIMIT);
        assert_eq!(cli.session.options(), QueryOptions::default());
    }

    #[test]
    fn limit_flags_refuse_nonsense() {
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_size("2GiB"), Ok(2 << 30));
        for bad in ["0s", "", "soon", "-1s", "30"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        for bad in ["0", "1KiB", "lots", "-5MiB", ""] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }
}
