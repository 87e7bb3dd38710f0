//! `levee bench query`: the whole `levee query` process against the DuckDB
//! CLI, query by query, on the same Parquet files, in one run.
//!
//! The lake is levee-generate's SparkPost-like events (`bounce_class`,
//! `raw_reason`, `routing_domain`, ...) from 2018-09-24 on, written as the
//! lake output writes them (a zstd JSON chunk per minute) into the table
//! `"glue-data-lake-usw2-prd".eventlog`, so the user's queries run as
//! written; then `levee compact` turns it into Parquet, and the JSON chunks
//! stay, as in a lake that keeps both copies. The Parquet is partitioned by
//! day (`partition_by = "day"`), the layout the lake has for tables whose
//! hours are small: these hours hold 600 to 15,000 events, 40 to 490 KiB of
//! Parquet, far below what an engine reads well, and a file per hour costs
//! every query a footer, a listing and a decoder per column per hour.
//! `--partition-by hour` measures the hourly layout.
//!
//! Then, run after run, each query of `queries.sql` is answered twice, the
//! order turning each run: by `levee query --format csv` and by `duckdb -csv`
//! (the CLI of PyPI's `duckdb-cli`, `scripts/bench-deps` installs it into
//! `.venv`), each a whole process from start to exit, as a user at a shell
//! sees it. DuckDB's command first names the table as Glue did (a view over
//! `read_parquet` of the table's Parquet files with Hive partitioning, `dt`
//! and `hour` as text as in levee) and lends it Athena's `approx_distinct`;
//! that is part of its time, as opening the lake is part of levee's. The
//! table gives the median of the runs and the ratio, levee's time over
//! DuckDB's: below 1, levee is faster. A first, unmeasured round warms the
//! page cache for both.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use levee_lake::properties::{
    ParquetLayout, PartitionBy, TableProperties, TimeField, write_properties,
};
use levee_lake::{Lake, TableRef};

use super::compact::{Input, Layout, generate};
use super::queries::{BenchQuery, QUERIES, duckdb_prelude, parse_queries};
use super::usage::run_child_into;
use super::{fresh_dir, mib};

#[derive(clap::Args)]
pub struct QueryBenchArgs {
    /// SparkPost-like events to generate.
    #[arg(long, default_value_t = 5_000_000)]
    pub events: u64,
    /// Spread the events over this many hours of event time, from
    /// 2018-09-24T00 (336: two weeks, into October, where the user's second
    /// query looks).
    #[arg(long, default_value_t = 336, value_parser = clap::value_parser!(u32).range(1..=24 * 366))]
    pub hours: u32,
    /// Scratch folder for the lake; made anew.
    #[arg(long, default_value = "./levee-bench")]
    pub dir: PathBuf,
    /// Runs of each query by each engine; the table shows the medians.
    #[arg(long, default_value_t = 7, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub runs: u32,
    /// The DuckDB CLI (default: `.venv/bin/duckdb` if there, else `duckdb`
    /// on the PATH).
    #[arg(long)]
    pub duckdb: Option<PathBuf>,
    /// Only the queries whose names contain this.
    #[arg(long)]
    pub only: Option<String>,
    /// Keep the scratch folder afterwards (the lake is large).
    #[arg(long)]
    pub keep: bool,
    /// Query the lake a previous `--keep` run left in `--dir`, if it has as
    /// many events, rather than generating and compacting it again.
    #[arg(long)]
    pub reuse: bool,
    /// The Parquet copy's unit: `day` (one file per day) or `hour` (one per
    /// hour, the lake's default layout).
    #[arg(long, default_value = "day", value_parser = parse_partition_by)]
    pub partition_by: PartitionBy,
    /// Another levee binary (a build of another commit) that answers each
    /// query too, taking turns with this one and DuckDB: the table then
    /// shows its medians and this levee's time over its.
    #[arg(long)]
    pub against: Option<PathBuf>,
}

/// The lake's table, named as the user's queries name it.
const LAYOUT: Layout = Layout {
    database: "glue-data-lake-usw2-prd",
    table: "eventlog",
    start: "2018-09-24",
    ndjson: false,
};

/// Marks a folder's lake as made for this many events (`--reuse`).
const MADE_FOR: &str = ".levee-bench-query";

/// One timed run.
#[derive(Clone, Copy)]
struct Timed {
    wall: Duration,
    cpu: Duration,
    rows: usize,
}

/// Every run of one query by one engine.
#[derive(Default)]
struct Runs(Vec<Timed>);

impl Runs {
    fn median(&self) -> Option<Timed> {
        let mut by_wall = self.0.clone();
        by_wall.sort_by_key(|t| t.wall);
        by_wall.get(by_wall.len() / 2).copied()
    }
}

pub async fn bench(args: &QueryBenchArgs) -> Result<ExitCode> {
    let this = std::env::current_exe().context("finding the levee binary")?;
    let duckdb = find_duckdb(args.duckdb.as_deref())?;
    let version = Command::new(&duckdb)
        .arg("--version")
        .output()
        .with_context(|| format!("running {}", duckdb.display()))?;
    let version = String::from_utf8_lossy(&version.stdout).trim().to_owned();
    let queries: Vec<BenchQuery> = parse_queries(QUERIES)
        .map_err(anyhow::Error::msg)?
        .into_iter()
        .filter(|q| args.only.as_ref().is_none_or(|o| q.name.contains(o)))
        .collect();
    if queries.is_empty() {
        bail!("no query's name contains {:?}", args.only);
    }

    let lake = prepare(args, &this).await?;
    let dir = std::fs::canonicalize(&args.dir)?;
    let table_dir = lake.join(LAYOUT.database).join(LAYOUT.table);
    let partitions: &[&str] = match args.partition_by {
        PartitionBy::Day => &["dt"],
        PartitionBy::Hour => &["dt", "hour"],
    };
    let prelude = duckdb_prelude(
        &table_dir.to_string_lossy(),
        LAYOUT.database,
        LAYOUT.table,
        partitions,
    );
    let parquet = parquet_files(&table_dir)?;
    println!(
        "{} Parquet files ({:.1} MiB, by {}); levee {}, DuckDB {version}",
        parquet.0,
        mib(parquet.1),
        partition_by_name(args.partition_by),
        env!("CARGO_PKG_VERSION")
    );

    let mut levee: Vec<Runs> = queries.iter().map(|_| Runs::default()).collect();
    let mut duck: Vec<Runs> = queries.iter().map(|_| Runs::default()).collect();
    let mut other: Vec<Runs> = queries.iter().map(|_| Runs::default()).collect();
    let levee_query = |binary: &Path, sql: &str, engine: &str| {
        timed(
            Command::new(binary)
                .args(["query", "--format", "csv", "--lake"])
                .arg(&lake)
                .arg(sql)
                .env("LEVEE_LOG", "warn"),
            &dir,
            engine,
        )
    };
    // Round 0 warms the page cache and is not counted.
    for run in 0..=args.runs as usize {
        for (i, q) in queries.iter().enumerate() {
            let duck_sql = format!("{prelude} {};", q.sql);
            // Each engine goes first by turns: 0 this levee, 1 DuckDB, 2 the other levee.
            let engines = if args.against.is_some() { 3 } else { 2 };
            let (mut a, mut b, mut c) = (None, None, None);
            for k in 0..engines {
                match (run + i + k) % engines {
                    0 => a = Some(levee_query(&this, &q.sql, "levee")?),
                    1 => {
                        b = Some(timed(
                            Command::new(&duckdb).arg("-csv").arg("-c").arg(&duck_sql),
                            &dir,
                            "duckdb",
                        )?)
                    }
                    _ => {
                        if let Some(binary) = &args.against {
                            c = Some(levee_query(binary, &q.sql, "against")?);
                        }
                    }
                }
            }
            let (Some(a), Some(b)) = (a, b) else {
                bail!("{}: an engine did not run", q.name);
            };
            for (engine, rows) in [
                ("DuckDB", Some(b.rows)),
                ("the other levee", c.map(|c| c.rows)),
            ] {
                if let Some(rows) = rows
                    && rows != a.rows
                {
                    bail!(
                        "{}: levee answered {} rows, {engine} {rows}",
                        q.name,
                        a.rows
                    );
                }
            }
            if run > 0 {
                levee[i].0.push(a);
                duck[i].0.push(b);
                if let Some(c) = c {
                    other[i].0.push(c);
                }
            }
        }
    }

    print_table(&queries, &levee, &duck, &other, args.runs);
    if !args.keep {
        std::fs::remove_dir_all(&dir)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The medians, query by query, and the geometric means of the ratios.
fn print_table(queries: &[BenchQuery], levee: &[Runs], duck: &[Runs], other: &[Runs], runs: u32) {
    let against = other.iter().any(|r| !r.0.is_empty());
    let (head, rule) = if against {
        (" against s | levee/against |", "---:|---:|")
    } else {
        ("", "")
    };
    println!(
        "\n| query | rows | levee s | DuckDB s | levee/DuckDB | levee CPU s | DuckDB CPU s |{head}\n|---|---:|---:|---:|---:|---:|---:|{rule}"
    );
    let (mut ratios, mut against_ratios) = (Vec::new(), Vec::new());
    for (i, q) in queries.iter().enumerate() {
        let (Some(a), Some(b)) = (levee[i].median(), duck[i].median()) else {
            continue;
        };
        let ratio = a.wall.as_secs_f64() / b.wall.as_secs_f64();
        ratios.push(ratio);
        let extra = match other[i].median() {
            Some(c) => {
                let r = a.wall.as_secs_f64() / c.wall.as_secs_f64();
                against_ratios.push(r);
                format!(" {:.3} | {r:.2} |", c.wall.as_secs_f64())
            }
            None => String::new(),
        };
        println!(
            "| {} | {} | {:.3} | {:.3} | {:.2} | {:.3} | {:.3} |{extra}",
            q.name,
            a.rows,
            a.wall.as_secs_f64(),
            b.wall.as_secs_f64(),
            ratio,
            a.cpu.as_secs_f64(),
            b.cpu.as_secs_f64(),
        );
    }
    let geomean = |r: &[f64]| (r.iter().map(|r| r.ln()).sum::<f64>() / r.len() as f64).exp();
    println!(
        "\n(medians of {runs} runs, whole processes; levee/DuckDB below 1: levee is faster; geometric mean {:.2})",
        geomean(&ratios)
    );
    if against {
        println!(
            "(levee/against: this levee's time over the other's; geometric mean {:.2})",
            geomean(&against_ratios)
        );
    }
}

/// The lake to query: generated and compacted, or the one `--reuse` finds.
async fn prepare(args: &QueryBenchArgs, this: &Path) -> Result<PathBuf> {
    let made_for = format!(
        "{} events over {} hours, by {}\n",
        args.events,
        args.hours,
        partition_by_name(args.partition_by)
    );
    if args.reuse {
        let marker = args.dir.join(MADE_FOR);
        if std::fs::read_to_string(&marker).is_ok_and(|m| m == made_for) {
            let lake = std::fs::canonicalize(args.dir.join("lake"))?;
            println!("reusing the lake in {}", lake.display());
            return Ok(lake);
        }
    }
    let dir = fresh_dir(&args.dir)?;
    let input: Input = generate(&dir, args.events, args.hours, &LAYOUT).await?;
    let layout = ParquetLayout {
        partition_by: args.partition_by,
        ..ParquetLayout::default()
    };
    let properties = TableProperties::new(TimeField::new("time")?).with_parquet(layout);
    let lake = Lake::open(&input.lake.to_string_lossy())?;
    write_properties(
        &lake,
        &TableRef::new(LAYOUT.database, LAYOUT.table)?,
        &properties,
    )
    .await?;
    let t = Instant::now();
    let out = Command::new(this)
        .args(["compact", "--grace", "0s", "--table"])
        .arg(format!("{}.{}", LAYOUT.database, LAYOUT.table))
        .arg("--lake")
        .arg(&input.lake)
        .env("LEVEE_LOG", "warn")
        .output()
        .context("running levee compact")?;
    if !out.status.success() {
        bail!(
            "levee compact failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    println!("compacted in {:.1} s", t.elapsed().as_secs_f64());
    std::fs::write(dir.join(MADE_FOR), made_for)?;
    Ok(input.lake)
}

fn parse_partition_by(text: &str) -> Result<PartitionBy, String> {
    PartitionBy::parse(text).ok_or_else(|| format!("{text:?} is neither `day` nor `hour`"))
}

fn partition_by_name(by: PartitionBy) -> &'static str {
    match by {
        PartitionBy::Day => "day",
        PartitionBy::Hour => "hour",
    }
}

/// Runs one engine's process to its end; its answer's rows (CSV lines
/// after the header).
fn timed(command: &mut Command, dir: &Path, engine: &str) -> Result<Timed> {
    let stdout = dir.join(format!("{engine}.csv"));
    let stderr = dir.join(format!("{engine}.err"));
    let t = Instant::now();
    let usage = run_child_into(
        command,
        std::fs::File::create(&stdout)?,
        std::fs::File::create(&stderr)?,
    )?;
    let wall = t.elapsed();
    if !usage.status.success() {
        bail!(
            "{engine} failed ({}): {}",
            usage.status,
            std::fs::read_to_string(&stderr).unwrap_or_default()
        );
    }
    let rows = std::fs::read_to_string(&stdout)?
        .lines()
        .count()
        .saturating_sub(1);
    Ok(Timed {
        wall,
        cpu: usage.cpu,
        rows,
    })
}

/// The DuckDB CLI: the one named, else the repository's `.venv`'s, else the PATH's.
fn find_duckdb(named: Option<&Path>) -> Result<PathBuf> {
    if let Some(path) = named {
        return Ok(path.to_owned());
    }
    let venv = Path::new(".venv/bin/duckdb");
    if venv.exists() {
        return Ok(std::fs::canonicalize(venv)?);
    }
    match Command::new("duckdb").arg("--version").output() {
        Ok(out) if out.status.success() => Ok(PathBuf::from("duckdb")),
        _ => bail!(
            "no DuckDB CLI: run scripts/bench-deps (it installs PyPI's duckdb-cli into .venv), or pass --duckdb"
        ),
    }
}

/// How many Parquet files there are under `dir`, and their bytes.
fn parquet_files(dir: &Path) -> Result<(u64, u64)> {
    let (mut files, mut bytes) = (0, 0);
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            let (f, b) = parquet_files(&path)?;
            files += f;
            bytes += b;
        } else if path.extension().is_some_and(|e| e == "parquet") {
            files += 1;
            bytes += std::fs::metadata(&path)?.len();
        }
    }
    Ok((files, bytes))
}
