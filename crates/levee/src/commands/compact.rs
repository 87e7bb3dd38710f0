//! `levee compact`: JSON chunks to Parquet, hour by hour.

use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use levee_lake::compact::{
    CompactOptions, CompactReason, CompactReport, HourSelection, LockWait, RetentionReport,
    compact_table_with, planned_expiry, planned_hours,
};
use levee_lake::{Lake, Partition, TableRef, catalog};

#[derive(clap::Args)]
pub struct CompactArgs {
    /// The lake's root: a folder, or `s3://bucket/prefix`, reached as the
    /// AWS environment variables say (`AWS_ENDPOINT_URL`, `AWS_REGION`,
    /// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_ALLOW_HTTP`).
    #[arg(long, default_value = "./lake")]
    pub lake: String,
    /// Only this table, as DATABASE.TABLE (default: every table).
    #[arg(long)]
    pub table: Option<String>,
    /// Only these hours, as YYYY-MM-DD/HH (repeatable). Default: every hour
    /// with chunks that its Parquet does not cover yet.
    #[arg(long = "hour")]
    pub hours: Vec<String>,
    /// Only hours from this one on, as YYYY-MM-DD/HH.
    #[arg(long)]
    pub from: Option<String>,
    /// Only hours up to this one, included, as YYYY-MM-DD/HH.
    #[arg(long)]
    pub to: Option<String>,
    /// Say which hours would be compacted, and why, and what the tables'
    /// retention would delete (`keep_json`, `keep_parquet`); touch nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Compact every hour again, even those already up to date.
    #[arg(long)]
    pub all: bool,
    /// Replace an hour's Parquet even when its chunks now give fewer rows
    /// than it holds (chunks damaged since): the damaged chunks go to the
    /// quarantine, and the rows only the old Parquet held are lost.
    #[arg(long)]
    pub force: bool,
    /// Print a line for every hour compacted.
    #[arg(short, long)]
    pub verbose: bool,
    /// How long to wait for a table another compactor is working on (its
    /// lock), e.g. `30s`; `0s` gives up on it at once.
    #[arg(long, default_value = "10m", value_parser = humantime::parse_duration)]
    pub lock_wait: std::time::Duration,
    /// How long a replaced Parquet file stays, for the queries that listed
    /// it, before a later run deletes it. `0s` deletes replaced files at
    /// once, and every file whose time has come.
    #[arg(long, default_value = "15m", value_parser = humantime::parse_duration)]
    pub grace: std::time::Duration,
}

/// The exit code when compaction finished but left data out of the Parquet
/// (a damaged chunk, a bad line, an hour kept): the report says what.
const LEFT_DATA_OUT: u8 = 2;

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
        allow_fewer_rows: args.force,
        grace: args.grace,
        within: within(args)?,
        ..CompactOptions::default()
    };
    if args.dry_run {
        for table in &tables {
            let planned = planned_hours(&lake, table, &options)
                .await
                .with_context(|| format!("planning {table}"))?;
            for (hour, reason) in &planned {
                println!("{table} {hour}: would compact ({})", why(reason));
            }
            println!("{table}: {} hours would be compacted", planned.len());
            let expiry = planned_expiry(&lake, table, &options)
                .await
                .with_context(|| format!("planning {table}'s retention"))?;
            for h in &expiry.parquet {
                println!(
                    "{table} {}: would expire its Parquet ({} files, {:.1} MiB)",
                    h.partition,
                    h.files.len(),
                    mib(h.bytes)
                );
            }
            for h in &expiry.json {
                println!(
                    "{table} {}: would expire {} JSON chunks ({:.1} MiB)",
                    h.partition,
                    h.files.len(),
                    mib(h.bytes)
                );
            }
            for p in &expiry.json_kept {
                println!(
                    "{table} {p}: past keep_json, but chunks its Parquet does not cover are kept"
                );
            }
            if !expiry.is_empty() {
                println!("{table}: {}", expired_summary(&expiry, "would expire"));
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    let mut left_out = false;
    let progress = super::progress::CompactProgress::new();
    for table in &tables {
        let report = compact_table_with(&lake, table, &options, &progress)
            .await
            .with_context(|| format!("compacting {table}"));
        progress.finish();
        let report = report?;
        if args.verbose {
            println!("{report}");
        } else {
            for warning in report.warnings() {
                eprintln!("levee: {warning}");
            }
        }
        println!("{table}: {}", summary(&report));
        left_out |= report.left_data_out();
    }
    if left_out {
        eprintln!("levee: compaction skipped what it could not read; see above");
        return Ok(ExitCode::from(LEFT_DATA_OUT));
    }
    Ok(ExitCode::SUCCESS)
}

/// One line for people: what was read, what was written, what needs a look.
pub fn summary(report: &CompactReport) -> String {
    let chunks: usize = report.hours.iter().map(|h| h.input_chunks).sum();
    let input: u64 = report.hours.iter().map(|h| h.input_bytes).sum();
    let files: usize = report.hours.iter().map(|h| h.output_files.len()).sum();
    let output: u64 = report.hours.iter().map(|h| h.output_bytes).sum();
    let days = !report.hours.is_empty() && report.hours.iter().all(|h| h.partition.is_day());
    let units = if days { "days" } else { "hours" };
    let mut line = format!(
        "{} {units} compacted, {} rows from {chunks} JSON chunks ({:.1} MiB) into {files} Parquet files ({:.1} MiB)",
        report.hours.len(),
        report.rows_written(),
        input as f64 / 1048576.0,
        output as f64 / 1048576.0,
    );
    if let Some(hint) = small_hours(report) {
        line.push_str(&hint);
    }
    let kept = report
        .skipped
        .iter()
        .filter(|s| s.reason.left_rows_out())
        .count();
    let up_to_date = report.skipped.len() - kept;
    if up_to_date > 0 {
        line.push_str(&format!(", {up_to_date} hours already up to date"));
    }
    let failed = report.failed_chunks().count();
    if failed > 0 {
        let quarantined = report
            .failed_chunks()
            .filter(|c| c.quarantined.is_some())
            .count();
        line.push_str(&format!(
            "; {failed} chunks not read whole ({quarantined} moved to the quarantine)"
        ));
    }
    if kept > 0 {
        line.push_str(&format!(
            "; {kept} hours kept as they were, as their chunks now give fewer rows (--force replaces them)"
        ));
    }
    let bad = report.bad_lines();
    if bad > 0 {
        let kept: u64 = report.hours.iter().map(|h| h.records_quarantined).sum();
        line.push_str(&format!(
            "; {bad} lines were not JSON objects and were skipped ({kept} kept with the reason \
             in the table's quarantine/records/)"
        ));
    }
    let casts: u64 = report.hours.iter().map(|h| h.cast_failures).sum();
    if casts > 0 {
        line.push_str(&format!(
            "; {casts} values did not fit the declared schema (null in the Parquet, their \
             records kept with the reason in the table's quarantine/records/)"
        ));
    }
    if !report.expired.is_empty() {
        line.push_str(&format!(
            "; {}",
            expired_summary(&report.expired, "expired")
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

/// What retention expired, or would: `expired 12 JSON chunks of 3 hours
/// and 2 Parquet files of 1 hour (1.2 MiB)`.
/// Hours whose Parquet averages less than this are small enough that a
/// table of them reads faster by day: every file costs a query its footer,
/// a listing and a decoder per column, whatever its size.
const SMALL_HOUR: u64 = 1 << 20;

/// A hint when a day's worth of hourly files came out small on average.
fn small_hours(report: &CompactReport) -> Option<String> {
    let hours: Vec<_> = report
        .hours
        .iter()
        .filter(|h| !h.partition.is_day())
        .collect();
    let bytes: u64 = hours.iter().map(|h| h.output_bytes).sum();
    let files: usize = hours.iter().map(|h| h.output_files.len()).sum();
    if hours.len() < 24 || files == 0 || bytes / files as u64 >= SMALL_HOUR {
        return None;
    }
    Some(format!(
        "; its hours average {} KiB of Parquet: partition_by = \"day\" would make a file a day, which queries read faster",
        bytes / files as u64 / 1024
    ))
}

fn expired_summary(expired: &RetentionReport, verb: &str) -> String {
    let count = |hours: &[levee_lake::compact::ExpiredHour]| -> (usize, usize) {
        (hours.iter().map(|h| h.files.len()).sum(), hours.len())
    };
    let (json, json_hours) = count(&expired.json);
    let (parquet, parquet_hours) = count(&expired.parquet);
    format!(
        "{verb} {json} JSON chunks of {json_hours} hours and {parquet} Parquet files of \
         {parquet_hours} hours ({:.1} MiB), by the table's retention",
        mib(expired.bytes())
    )
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / 1048576.0
}

/// `--from` and `--to`, either open-ended.
fn within(args: &CompactArgs) -> Result<Option<(Partition, Partition)>> {
    if args.from.is_none() && args.to.is_none() {
        return Ok(None);
    }
    let from = match &args.from {
        Some(h) => parse_hour(h)?,
        None => Partition {
            dt: "0000-01-01".into(),
            hour: 0,
        },
    };
    let to = match &args.to {
        Some(h) => parse_hour(h)?,
        None => Partition {
            dt: "9999-12-31".into(),
            hour: 23,
        },
    };
    if from > to {
        bail!("--from {from} comes after --to {to}");
    }
    Ok(Some((from, to)))
}

/// Why an hour is due, for people.
fn why(reason: &CompactReason) -> String {
    match reason {
        CompactReason::New => "never compacted".into(),
        CompactReason::ChunksChanged { new } => format!("{new} new or changed chunks"),
        CompactReason::OutputsChanged => "its Parquet is not what its manifest lists".into(),
        CompactReason::SchemaWidened => "the table widened a type its files hold".into(),
        CompactReason::ManifestUnreadable { reason } => format!("unreadable manifest: {reason}"),
        CompactReason::Forced => "forced".into(),
    }
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
