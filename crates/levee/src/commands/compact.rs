//! `levee compact`: JSON chunks to Parquet, hour by hour.

use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use levee_lake::compact::{CompactOptions, CompactReport, HourSelection, LockWait, compact_table};
use levee_lake::{Lake, Partition, TableRef, catalog};

#[derive(clap::Args)]
pub struct CompactArgs {
    /// The lake's root folder.
    #[arg(long, default_value = "./lake")]
    pub lake: String,
    /// Only this table, as DATABASE.TABLE (default: every table).
    #[arg(long)]
    pub table: Option<String>,
    /// Only these hours, as YYYY-MM-DD/HH (repeatable). Default: every hour
    /// with chunks that its Parquet does not cover yet.
    #[arg(long = "hour")]
    pub hours: Vec<String>,
    /// Compact every hour again, even those already up to date.
    #[arg(long)]
    pub all: bool,
    /// Print a line for every hour compacted.
    #[arg(short, long)]
    pub verbose: bool,
    /// How long to wait for a table another compactor is working on (its
    /// lock), e.g. `30s`; `0s` gives up on it at once.
    #[arg(long, default_value = "10m", value_parser = humantime::parse_duration)]
    pub lock_wait: std::time::Duration,
}

pub async fn compact(args: &CompactArgs) -> Result<ExitCode> {
    let lake = Lake::open(&args.lake)?;
    let hours = if !args.hours.is_empty() {
        HourSelection::Only(
            args.hours
                .iter()
                .map(|h| parse_hour(h))
                .collect::<Result<_>>()?,
        )
    } else if args.all {
        HourSelection::All
    } else {
        HourSelection::Pending
    };
    let tables = match &args.table {
        Some(t) => vec![parse_table(t)?],
        None => catalog::list_tables(&lake).await?,
    };
    if tables.is_empty() {
        bail!("no tables in the lake {}", args.lake);
    }
    let options = CompactOptions {
        hours,
        lock_wait: if args.lock_wait.is_zero() {
            LockWait::No
        } else {
            LockWait::Up(args.lock_wait)
        },
        ..CompactOptions::default()
    };
    for table in &tables {
        let report = compact_table(&lake, table, &options)
            .await
            .with_context(|| format!("compacting {table}"))?;
        if args.verbose {
            println!("{report}");
        }
        println!("{table}: {}", summary(&report));
    }
    Ok(ExitCode::SUCCESS)
}

/// One line for people: what was read, what was written, what needs a look.
pub fn summary(report: &CompactReport) -> String {
    let chunks: usize = report.hours.iter().map(|h| h.input_chunks).sum();
    let input: u64 = report.hours.iter().map(|h| h.input_bytes).sum();
    let files: usize = report.hours.iter().map(|h| h.output_files.len()).sum();
    let output: u64 = report.hours.iter().map(|h| h.output_bytes).sum();
    let mut line = format!(
        "{} hours compacted, {} rows from {chunks} JSON chunks ({:.1} MiB) into {files} Parquet files ({:.1} MiB)",
        report.hours.len(),
        report.rows_written(),
        input as f64 / 1048576.0,
        output as f64 / 1048576.0,
    );
    if !report.skipped.is_empty() {
        line.push_str(&format!(
            ", {} hours already up to date",
            report.skipped.len()
        ));
    }
    let bad = report.bad_lines();
    if bad > 0 {
        line.push_str(&format!(
            "; {bad} lines were not JSON objects and were skipped"
        ));
    }
    let widened: Vec<String> = report
        .widenings()
        .map(|c| format!("{} ({:?})", c.column, c.change))
        .collect();
    if !widened.is_empty() {
        line.push_str(&format!("; widened: {}", widened.join(", ")));
    }
    line
}

fn parse_table(text: &str) -> Result<TableRef> {
    let Some((db, table)) = text.split_once('.') else {
        bail!("--table must be DATABASE.TABLE, not {text:?}");
    };
    Ok(TableRef::new(db, table)?)
}

fn parse_hour(text: &str) -> Result<Partition> {
    let parsed = text.split_once('/').and_then(|(dt, hour)| {
        levee_event::time::parse_date(dt)?;
        let hour: u32 = hour.parse().ok().filter(|h| *h < 24)?;
        Some(Partition {
            dt: dt.to_owned(),
            hour,
        })
    });
    parsed.with_context(|| format!("--hour must be YYYY-MM-DD/HH, not {text:?}"))
}
