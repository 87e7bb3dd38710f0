//! `levee metrics export`: read a Prometheus endpoint and print its samples
//! in a format for systems that don't scrape.

mod fetch;
pub mod format;

use std::io::Write;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use levee_pipeline::metrics::parse::parse;

use format::{Format, Naming};

#[derive(clap::Subcommand)]
pub enum MetricsCommand {
    /// Read a Prometheus endpoint (levee's, Fluentd's, anyone's) and print
    /// one line per sample. A timeout, an unreachable endpoint or a
    /// malformed page prints no line and exits 1.
    Export(ExportArgs),
}

#[derive(clap::Args)]
pub struct ExportArgs {
    /// The page to read, `http://host:port/path`.
    #[arg(long)]
    url: String,
    /// The line format.
    #[arg(long, value_enum)]
    format: Format,
    /// Put before every metric name, as given (include a separator).
    #[arg(long, default_value = "")]
    prefix: String,
    /// Remove from the start of metric names, e.g. `fluentd_`.
    #[arg(long)]
    strip_prefix: Option<String>,
    /// How long the fetch may take in all (`5s`, `500ms`).
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    timeout: Duration,
}

pub async fn metrics(command: &MetricsCommand) -> Result<ExitCode> {
    match command {
        MetricsCommand::Export(args) => export(args).await,
    }
}

async fn export(args: &ExportArgs) -> Result<ExitCode> {
    let page = fetch::get(&args.url, args.timeout)
        .await
        .with_context(|| format!("reading {}", args.url))?;
    let families = parse(&page).with_context(|| format!("parsing the page of {}", args.url))?;
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    let naming = Naming {
        strip_prefix: args.strip_prefix.clone(),
        prefix: args.prefix.clone(),
    };
    // The whole output is made before any of it is written.
    let mut out = String::new();
    format::write(&families, args.format, &naming, now_ms, &mut out);
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(out.as_bytes())
        .and_then(|()| stdout.flush())
        .context("writing to stdout")?;
    Ok(ExitCode::SUCCESS)
}
