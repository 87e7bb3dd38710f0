//! `levee bench collect`: how fast the collector is, stage by stage, on one
//! generated nginx log, in one run. (`levee bench compact`, compaction
//! against DuckDB, is in [`compact`]; `levee bench query`, queries against
//! the DuckDB CLI, in [`query`]; `levee bench forward`, the forward input
//! fed Fluent Bit's PackedForward messages, in [`forward`].)
//!
//! 1. reading alone: the file's lines counted, nothing parsed (the ceiling);
//! 2. the nginx parser alone, on one core;
//! 3. the whole collector, `levee run --exit-on-eof` as a child process:
//!    tail -> nginx parser -> record filter -> lake (zstd NDJSON on disk).
//!
//! Each line says lines/s, MiB/s, CPU seconds, lines per CPU-second and peak
//! RSS. Wall time includes start-up and shutdown, as a user would see them.
//! `--runs` repeats every stage and reports the median run; `--against`
//! runs another levee build's collector on the same file, alternating with
//! this one, and prints the ratios: a shared machine's noise then hits
//! both builds alike. `--metric` runs this build's collector a second
//! way, with a `metric` filter counting by a record field, alternating with
//! the path without it, and prints what metering costs. `--fluent-bit` does the same with a Fluent Bit binary
//! (tail -> its nginx regex parser -> file), the collector the goals are set
//! against.

mod compact;
mod fluent_bit;
mod forward;
mod queries;
mod query;
mod stages;
mod usage;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use levee_generate::{Dataset, GenerateOptions};

use super::generate::write_lines;

#[derive(clap::Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    pub what: BenchWhat,
}

#[derive(clap::Subcommand)]
pub enum BenchWhat {
    /// Reading, parsing and the whole collector path on a generated nginx log.
    Collect(CollectArgs),
    /// Compaction of generated SparkPost-like events into Parquet, against DuckDB.
    Compact(compact::CompactBenchArgs),
    /// The Athena-style queries of `queries.sql` by `levee query` and by the
    /// DuckDB CLI on the same Parquet, whole processes, with the ratios.
    Query(query::QueryBenchArgs),
    /// The forward input taking PackedForward messages of generated nginx
    /// records over one connection into a blackhole, as a whole process.
    Forward(forward::ForwardBenchArgs),
}

/// How many times each contender runs, and the other levee build, if
/// any, that takes turns with this one on the same input: the same for
/// every bench that times whole processes.
#[derive(clap::Args)]
pub struct Turns {
    /// Runs of each contender, taking turns; the table shows the median
    /// run and the range.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub runs: u32,
    /// Another levee binary (say, a build of the previous commit) run on
    /// the same input, taking turns with this one.
    #[arg(long, value_name = "LEVEE")]
    pub against: Option<PathBuf>,
}

impl Turns {
    /// The runs of each contender.
    fn runs(&self) -> usize {
        self.runs as usize
    }

    /// `--against`, resolved now: the benches change directory later.
    fn against(&self) -> Result<Option<PathBuf>> {
        self.against
            .as_ref()
            .map(|path| {
                std::fs::canonicalize(path).with_context(|| format!("--against {}", path.display()))
            })
            .transpose()
    }
}

#[derive(clap::Args)]
pub struct CollectArgs {
    /// Lines of nginx log (combined plus $request_time) to generate.
    #[arg(long, default_value_t = 2_000_000)]
    pub lines: u64,
    /// Scratch folder for the log and the lake; made anew.
    #[arg(long, default_value = "./levee-bench")]
    pub dir: PathBuf,
    #[command(flatten)]
    pub turns: Turns,
    /// A Fluent Bit binary, run on the same file (tail with its `nginx`
    /// parser into a file), alternating with this build's collector.
    #[arg(long, value_name = "FLUENT_BIT")]
    pub fluent_bit: Option<PathBuf>,
    /// Also run this build's collector with a `metric` filter added (a
    /// counter labelled by each record's `api_call`), alternating with the
    /// path without it, and print the ratio: what metering costs.
    #[arg(long)]
    pub metric: bool,
    /// The collector's lake on an object store (`s3://bucket/prefix`),
    /// reached as the AWS environment variables and profile say, instead
    /// of `<dir>/lake`. The prefix must be empty or a bench lake: it is
    /// emptied before each run. Prints objects per hour and bytes per
    /// object after the table.
    #[arg(long, value_name = "URL")]
    pub lake: Option<String>,
}

/// The nginx format the benchmark's log is written in.
const FORMAT: &str = "combined_request_time";

/// One run of one stage.
#[derive(Clone, Copy)]
struct Sample {
    lines: u64,
    bytes: u64,
    wall: Duration,
    cpu: Duration,
    peak_rss: Option<u64>,
}

/// A measured stage: every run of it.
struct Stage {
    name: String,
    samples: Vec<Sample>,
}

impl Stage {
    /// The run with the median wall time.
    fn median(&self) -> Sample {
        let mut by_wall = self.samples.clone();
        by_wall.sort_by_key(|s| s.wall);
        by_wall[by_wall.len() / 2]
    }
}

pub async fn bench(args: &BenchArgs) -> Result<ExitCode> {
    match &args.what {
        BenchWhat::Collect(a) => collect(a).await,
        BenchWhat::Compact(a) => compact::bench(a).await,
        BenchWhat::Query(a) => query::bench(a).await,
        BenchWhat::Forward(a) => forward::bench(a).await,
    }
}

async fn collect(args: &CollectArgs) -> Result<ExitCode> {
    let this = std::env::current_exe().context("finding the levee binary")?;
    let against = args.turns.against()?;
    let dir = fresh_dir(&args.dir)?;
    let log = dir.join("access.log");
    let bytes = generate(&log, args.lines)?;
    // Warm the page cache, so every stage reads from memory as the others do.
    stages::read_lines(&log)?;

    let runs = args.turns.runs();
    let mut read = stage("read lines (ceiling)");
    let mut parse = stage("nginx parser, 1 core");
    for _ in 0..runs {
        read.samples
            .push(stages::measure(bytes, || stages::read_lines(&log))?);
        parse
            .samples
            .push(stages::measure(bytes, || stages::parse_lines(&log))?);
    }
    let lake = stages::BenchLake::prepare(args.lake.as_deref(), &dir)?;
    let mut report = None;
    let config = stages::write_config(&dir, &log, &lake, "bench.toml", "")?;
    let path = "tail -> nginx -> record -> lake";
    let mut whole = stage(&format!("levee run: {path}"));
    let metered_config = if args.metric {
        Some(stages::write_config(
            &dir,
            &log,
            &lake,
            "bench-metric.toml",
            stages::METRIC_FILTER,
        )?)
    } else {
        None
    };
    let mut metered = metered_config
        .as_ref()
        .map(|_| stage("levee run: tail -> nginx -> record -> metric -> lake"));
    let mut other = against
        .as_ref()
        .map(|exe| stage(&format!("{}: {path}", exe.display())));
    let fluent_bit = match &args.fluent_bit {
        Some(exe) => Some(fluent_bit::FluentBit::prepare(exe, &dir, &log)?),
        None => None,
    };
    let mut fluent = fluent_bit
        .as_ref()
        .map(|fb| stage(&format!("{}: tail -> nginx regex -> file", fb.version)));
    // The order turns by one each run, so that no collector always runs
    // in the same place, right after the same other one.
    type Contender<'a> = Box<dyn FnMut(usize) -> Result<()> + 'a>;
    let mut contenders: Vec<Contender> = vec![Box::new(|run| {
        let run_log = dir.join(format!("run-{run}.log"));
        let (sample, lake_report) =
            stages::whole_path(&this, &dir, &lake, &config, &run_log, args.lines, bytes)?;
        whole.samples.push(sample);
        report = Some(lake_report);
        Ok(())
    })];
    if let (Some(config), Some(metered)) = (&metered_config, &mut metered) {
        contenders.push(Box::new(|run| {
            let run_log = dir.join(format!("run-{run}-metric.log"));
            let (sample, _) =
                stages::whole_path(&this, &dir, &lake, config, &run_log, args.lines, bytes)?;
            metered.samples.push(sample);
            Ok(())
        }));
    }
    if let (Some(exe), Some(other)) = (&against, &mut other) {
        contenders.push(Box::new(|run| {
            let run_log = dir.join(format!("run-{run}-against.log"));
            let (sample, _) =
                stages::whole_path(exe, &dir, &lake, &config, &run_log, args.lines, bytes)?;
            other.samples.push(sample);
            Ok(())
        }));
    }
    if let (Some(fb), Some(fluent)) = (&fluent_bit, &mut fluent) {
        contenders.push(Box::new(|run| {
            let run_log = dir.join(format!("run-{run}-fluent-bit.log"));
            fluent.samples.push(fb.run(&run_log, args.lines, bytes)?);
            Ok(())
        }));
    }
    for run in 0..runs {
        for turn in 0..contenders.len() {
            let next = (run + turn) % contenders.len();
            contenders[next](run)?;
        }
    }
    drop(contenders);
    print_table(
        [&read, &parse, &whole]
            .into_iter()
            .chain(metered.as_ref())
            .chain(other.as_ref())
            .chain(fluent.as_ref()),
        runs,
    );
    if let Some(metered) = &metered {
        print_ratios("with the metric filter against without", metered, &whole);
    }
    if let Some(other) = &other {
        print_ratios("this build against the other", &whole, other);
    }
    if let Some(fluent) = &fluent {
        print_ratios("this build against Fluent Bit", &whole, fluent);
    }
    if let Some(report) = &report {
        println!("\n{}", report.summary(&lake.location()));
    }
    Ok(ExitCode::SUCCESS)
}

fn stage(name: &str) -> Stage {
    Stage {
        name: name.to_owned(),
        samples: Vec::new(),
    }
}

/// Makes `dir` anew; refuses to empty a folder that `levee bench` did not make.
fn fresh_dir(dir: &Path) -> Result<PathBuf> {
    if dir.exists() {
        if !dir.join(".levee-bench").exists() {
            bail!(
                "{} exists and is not a levee bench folder; choose another with --dir",
                dir.display()
            );
        }
        std::fs::remove_dir_all(dir)?;
    }
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join(".levee-bench"), "made by `levee bench`\n")?;
    Ok(std::fs::canonicalize(dir)?)
}

/// Writes the nginx log; returns its size.
fn generate(log: &Path, lines: u64) -> Result<u64> {
    let options = GenerateOptions::builder(Dataset::Nginx)
        .lines(lines)
        .start("2018-09-01")
        .days(7)
        .build()?;
    let t = Instant::now();
    write_lines(&options, std::fs::File::create(log)?)?;
    let bytes = std::fs::metadata(log)?.len();
    println!(
        "generated {} lines ({:.1} MiB) in {:.2} s: {}",
        lines,
        mib(bytes),
        t.elapsed().as_secs_f64(),
        log.display()
    );
    Ok(bytes)
}

fn print_table<'a>(stages: impl IntoIterator<Item = &'a Stage>, runs: usize) {
    // The RSS goal is a bound, so the worst run matters as much as the
    // median one.
    let range = if runs > 1 {
        format!(" | lines/s, {runs} runs | peak RSS MiB, {runs} runs")
    } else {
        String::new()
    };
    let range_rule = if runs > 1 { "---|---|" } else { "" };
    println!(
        "\n| stage | lines/s | MiB/s | wall s | CPU s | lines per CPU-s | peak RSS MiB{range} |\n|---|---:|---:|---:|---:|---:|---:|{range_rule}"
    );
    for stage in stages {
        let s = stage.median();
        let wall = s.wall.as_secs_f64();
        let cpu = s.cpu.as_secs_f64();
        let spread = if runs > 1 {
            let rates = stage.samples.iter().map(lines_per_sec);
            let (lo, hi) = rates.fold((f64::MAX, 0f64), |(lo, hi), r| (lo.min(r), hi.max(r)));
            let rss = stage.samples.iter().filter_map(|s| s.peak_rss).map(mib);
            let rss_range = rss
                .fold(None, |range: Option<(f64, f64)>, r| {
                    Some(range.map_or((r, r), |(low, high)| (low.min(r), high.max(r))))
                })
                .map_or("n/a".to_owned(), |(low, high)| {
                    format!("{low:.0}-{high:.0}")
                });
            format!(" | {lo:.0}-{hi:.0} | {rss_range}")
        } else {
            String::new()
        };
        println!(
            "| {} | {:.0} | {:.1} | {:.2} | {:.2} | {:.0} | {}{spread} |",
            stage.name,
            lines_per_sec(&s),
            mib(s.bytes) / wall,
            wall,
            cpu,
            if cpu > 0.0 { s.lines as f64 / cpu } else { 0.0 },
            s.peak_rss
                .map_or("n/a".to_owned(), |b| format!("{:.0}", mib(b))),
        );
    }
    if runs > 1 {
        println!("\n(each row is the run with the median wall time)");
    }
    println!("(in-process stages report this process's peak RSS, the generator included)");
}

/// This build's collector against another collector, medians of each.
fn print_ratios(label: &str, this: &Stage, other: &Stage) {
    let (a, b) = (this.median(), other.median());
    let rss = |s: &Sample| s.peak_rss.map_or(f64::NAN, mib);
    println!(
        "\n{label}: {:.2}x the lines/s, {:.2}x the CPU seconds, peak RSS {:.0} against {:.0} MiB",
        lines_per_sec(&a) / lines_per_sec(&b),
        a.cpu.as_secs_f64() / b.cpu.as_secs_f64(),
        rss(&a),
        rss(&b),
    );
}

fn lines_per_sec(s: &Sample) -> f64 {
    s.lines as f64 / s.wall.as_secs_f64()
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / 1_048_576.0
}
