//! `levee`: a log and event pipeline in one binary.
//!
//! This file parses arguments and maps outcomes to exit codes; the commands
//! are thin layers over the library crates.

mod alloc;
mod commands;
mod console;
mod query_api;
mod serving;
mod stderr;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Collect, meter, deliver, convert and query logs and events.
#[derive(Parser)]
#[command(name = "levee", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a pipeline from a config file until Ctrl-C, SIGTERM or, with
    /// --exit-on-eof, the end of every input.
    Run {
        /// The config file.
        #[arg(short, long, default_value = "levee.toml")]
        config: PathBuf,
        /// Stop when every source has reached the end of its input, after
        /// flushing every output.
        #[arg(long)]
        exit_on_eof: bool,
    },
    /// Check a config file and report every error with its line and column.
    Validate {
        /// The config file.
        #[arg(short, long, default_value = "levee.toml")]
        config: PathBuf,
    },
    /// Write realistic nginx access logs or email events.
    Generate(commands::generate::GenerateArgs),
    /// Turn a table's JSON chunks into Hive-partitioned Parquet.
    Compact(commands::compact::CompactArgs),
    /// Answer SQL over the lake (Athena's dialect): a statement, a .sql
    /// file, or SQL on standard input.
    Query(commands::query::QueryArgs),
    /// An interactive SQL shell over the lake, with history and tab
    /// completion; reads statements from standard input when it is not a
    /// terminal.
    Sql(commands::query::shell::SqlArgs),
    /// Serve SQL over a lake by HTTP (`POST /v1/query`), without a
    /// pipeline; `levee run` serves the same API when its config has
    /// `[query_api]`.
    Serve(commands::serve::ServeArgs),
    /// Serve the web console over a lake (its SQL page), without a
    /// pipeline; `levee run` serves it, with the pipeline's pages, when its
    /// config has `[console]`.
    Console(commands::console::ConsoleArgs),
    /// List the lake's tables, show one's schema and history, or print
    /// the DDL that lets another engine read it.
    Tables(commands::tables::TablesArgs),
    /// Look into disk buffers.
    #[command(subcommand)]
    Buffer(commands::buffer::BufferCommand),
    /// Measure the collector stage by stage (release builds only make sense).
    Bench(commands::bench::BenchArgs),
    /// Generate a week of traffic, deliver it into a local lake, compact it
    /// and answer three questions about it in SQL. Needs nothing installed.
    Demo(commands::demo::DemoArgs),
    /// Read and export Prometheus metrics.
    #[command(subcommand)]
    Metrics(commands::metrics::MetricsCommand),
    /// Watch a running levee (or Fluentd, or Fluent Bit) from its metrics
    /// endpoint: events/s in and out, bytes/s, errors, drops, retries and
    /// buffers per source, filter and output; the one falling behind
    /// highlighted.
    Top(commands::top::TopArgs),
}

fn main() -> ExitCode {
    alloc::tune();
    let cli = Cli::parse();
    init_logging();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            stderr::say!("levee: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let outcome = runtime.block_on(async {
        match cli.command {
            Command::Run {
                config,
                exit_on_eof,
            } => commands::run::run(&config, exit_on_eof).await,
            Command::Validate { config } => commands::run::validate(&config),
            Command::Generate(args) => commands::generate::generate(&args),
            Command::Compact(args) => {
                alloc::tune_for_compaction();
                commands::compact::compact(&args).await
            }
            Command::Query(args) => commands::query::query(&args).await,
            Command::Sql(args) => commands::query::shell::sql(&args).await,
            Command::Serve(args) => commands::serve::serve(&args).await,
            Command::Console(args) => commands::console::console(&args).await,
            Command::Tables(args) => commands::tables::tables(&args).await,
            Command::Demo(args) => commands::demo::demo(&args).await,
            Command::Bench(args) => commands::bench::bench(&args).await,
            Command::Buffer(command) => commands::buffer::buffer(&command),
            Command::Metrics(command) => commands::metrics::metrics(&command).await,
            Command::Top(args) => commands::top::top(&args).await,
        }
    });
    // Nothing awaits what is still on a blocking thread now, and some of it
    // may never return (a sink's open waiting for a FIFO's reader): don't
    // wait on it past a moment, as dropping the runtime would.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    match outcome {
        Ok(code) => code,
        Err(e) => {
            stderr::say!("levee: {}", said_once(&e));
            ExitCode::FAILURE
        }
    }
}

/// An error and its causes on one line, each said once. Many errors put
/// their cause's text in their own message and also return it as their
/// `source()`; printing the chain as is (`{:#}`) would then repeat it.
fn said_once(error: &anyhow::Error) -> String {
    let mut line = error.to_string();
    for cause in error.chain().skip(1) {
        let cause = cause.to_string();
        if !line.contains(&cause) {
            line.push_str(": ");
            line.push_str(&cause);
        }
    }
    line
}

/// Logs go to stderr; `LEVEE_LOG` (e.g. `debug`, `levee_io=trace`) sets the level.
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("LEVEE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| stderr::Quiet)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .init();
}
