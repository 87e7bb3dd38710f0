//! `levee bench collect`: how fast the collector is, stage by stage, on one
//! generated nginx log, in one run.
//!
//! 1. reading alone: the file's lines counted, nothing parsed (the ceiling);
//! 2. the nginx parser alone, on one core;
//! 3. the whole collector, `levee run --exit-on-eof` as a child process:
//!    tail -> nginx parser -> record filter -> lake (zstd NDJSON on disk).
//!
//! Each line says lines/s, MiB/s, CPU seconds, lines per CPU-second and peak
//! RSS. Wall time includes start-up and shutdown, as a user would see them.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use levee_event::time::{NANOS_PER_SEC, parse_date};
use levee_io::sources::generate::{Dataset, GenerateOptions};
use levee_parse::ParserConfig;

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
}

#[derive(clap::Args)]
pub struct CollectArgs {
    /// Lines of nginx log (combined plus $request_time) to generate.
    #[arg(long, default_value_t = 2_000_000)]
    pub lines: u64,
    /// Scratch folder for the log and the lake; made anew.
    #[arg(long, default_value = "./levee-bench")]
    pub dir: PathBuf,
}

/// The nginx format the benchmark's log is written in.
const FORMAT: &str = "combined_request_time";

/// One measured stage.
struct Stage {
    name: &'static str,
    lines: u64,
    bytes: u64,
    wall: Duration,
    cpu: Duration,
    peak_rss: Option<u64>,
}

pub async fn bench(args: &BenchArgs) -> Result<ExitCode> {
    match &args.what {
        BenchWhat::Collect(a) => collect(a).await,
    }
}

async fn collect(args: &CollectArgs) -> Result<ExitCode> {
    if args.dir.exists() {
        if !args.dir.join(".levee-bench").exists() {
            bail!(
                "{} exists and is not a levee bench folder; choose another with --dir",
                args.dir.display()
            );
        }
        std::fs::remove_dir_all(&args.dir)?;
    }
    std::fs::create_dir_all(&args.dir)?;
    std::fs::write(args.dir.join(".levee-bench"), "made by `levee bench`\n")?;
    let dir = std::fs::canonicalize(&args.dir)?;
    let log = dir.join("access.log");

    let start = parse_date("2018-09-01").context("start date")? * 86_400 * NANOS_PER_SEC;
    let options = GenerateOptions {
        dataset: Dataset::Nginx,
        lines: args.lines,
        start,
        days: 7,
        seed: 1,
    };
    let t = Instant::now();
    write_lines(&options, std::fs::File::create(&log)?)?;
    let bytes = std::fs::metadata(&log)?.len();
    println!(
        "generated {} lines ({:.1} MiB) in {:.2} s: {}",
        args.lines,
        mib(bytes),
        t.elapsed().as_secs_f64(),
        log.display()
    );
    // Warm the page cache, so every stage reads from memory as the others do.
    read_lines(&log)?;

    let mut stages = vec![measure("read lines (ceiling)", bytes, || read_lines(&log))?];
    stages.push(measure("nginx parser, 1 core", bytes, || {
        parse_lines(&log)
    })?);
    stages.push(whole_path(&dir, &log, args.lines, bytes)?);
    print_table(&stages);
    Ok(ExitCode::SUCCESS)
}

/// Runs `work` in this process, timing wall and CPU.
fn measure(name: &'static str, bytes: u64, work: impl FnOnce() -> Result<u64>) -> Result<Stage> {
    let cpu0 = usage::self_cpu();
    let t = Instant::now();
    let lines = work()?;
    Ok(Stage {
        name,
        lines,
        bytes,
        wall: t.elapsed(),
        cpu: usage::self_cpu().saturating_sub(cpu0),
        peak_rss: usage::self_peak_rss(),
    })
}

fn read_lines(path: &Path) -> Result<u64> {
    let mut file = std::fs::File::open(path)?;
    let mut buf = vec![0u8; 1 << 20];
    let mut lines = 0u64;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            return Ok(lines);
        }
        lines += memchr::memchr_iter(b'\n', &buf[..n]).count() as u64;
    }
}

fn parse_lines(path: &Path) -> Result<u64> {
    let parser = toml::from_str::<ParserHolder>(&format!(
        "parser = {{ type = \"nginx\", format = \"{FORMAT}\" }}"
    ))?
    .parser
    .build()?;
    let mut file = std::fs::File::open(path)?;
    let mut buf = vec![0u8; 1 << 20];
    let mut carry = Vec::new();
    let (mut lines, mut failed) = (0u64, 0u64);
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        carry.extend_from_slice(&buf[..n]);
        let mut start = 0;
        for nl in memchr::memchr_iter(b'\n', &carry) {
            match parser.parse(&carry[start..nl]) {
                Ok(parsed) => drop(std::hint::black_box(parsed)),
                Err(_) => failed += 1,
            }
            lines += 1;
            start = nl + 1;
        }
        carry.drain(..start);
    }
    if failed > lines / 1000 {
        bail!("{failed} of {lines} lines failed to parse");
    }
    Ok(lines)
}

#[derive(serde::Deserialize)]
struct ParserHolder {
    parser: ParserConfig,
}

/// The real binary, as a user runs it, in a child process.
fn whole_path(dir: &Path, log: &Path, lines: u64, bytes: u64) -> Result<Stage> {
    let config = format!(
        r#"data_dir = {data:?}

[sources.nginx]
type = "tail"
paths = [{log:?}]
tag = "nginx.access"
parser = {{ type = "nginx", format = "{FORMAT}" }}

[[filters]]
match = "nginx.**"
type = "record"
set = {{ api_call = "${{method|lower}}_${{path|segment(2)}}", status_class = "${{status|status_class}}" }}
retag = "firehose_parsed.nginx"

[outputs.lake]
match = "firehose_parsed.**"
type = "lake"
lake = {lake:?}
database = "bench"
table = "api_calls"

[outputs.errors]
match = "@ERROR"
type = "file"
path = {errors:?}
"#,
        data = dir.join("data").to_string_lossy(),
        log = log.to_string_lossy(),
        lake = dir.join("lake").to_string_lossy(),
        errors = dir.join("errors.ndjson").to_string_lossy(),
    );
    let config_path = dir.join("bench.toml");
    std::fs::write(&config_path, config)?;
    let exe = std::env::current_exe().context("finding the levee binary")?;
    let cpu0 = usage::children_cpu();
    let t = Instant::now();
    let out = std::process::Command::new(exe)
        .args(["run", "--exit-on-eof", "-c"])
        .arg(&config_path)
        .env("LEVEE_LOG", "warn")
        .output()
        .context("running levee run")?;
    let wall = t.elapsed();
    if !out.status.success() {
        bail!("levee run failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let delivered = count_lake_lines(&dir.join("lake"))?;
    let errors =
        std::fs::read_to_string(dir.join("errors.ndjson")).map_or(0, |t| t.lines().count() as u64);
    if delivered + errors != lines {
        bail!("the lake holds {delivered} lines and the error file {errors}, not {lines}");
    }
    Ok(Stage {
        name: "levee run: tail -> nginx -> record -> lake",
        lines,
        bytes,
        wall,
        cpu: usage::children_cpu().saturating_sub(cpu0),
        peak_rss: usage::children_peak_rss(),
    })
}

/// Every line of every zstd chunk under `dir`: proof that all arrived.
fn count_lake_lines(dir: &Path) -> Result<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            total += count_lake_lines(&path)?;
        } else if path.to_string_lossy().ends_with(".ndjson.zst") {
            let text = zstd::decode_all(std::fs::File::open(&path)?)?;
            total += memchr::memchr_iter(b'\n', &text).count() as u64;
        }
    }
    Ok(total)
}

fn print_table(stages: &[Stage]) {
    println!(
        "\n| stage | lines/s | MiB/s | wall s | CPU s | lines per CPU-s | peak RSS MiB |\n|---|---:|---:|---:|---:|---:|---:|"
    );
    for s in stages {
        let wall = s.wall.as_secs_f64();
        let cpu = s.cpu.as_secs_f64();
        println!(
            "| {} | {:.0} | {:.1} | {:.2} | {:.2} | {:.0} | {} |",
            s.name,
            s.lines as f64 / wall,
            mib(s.bytes) / wall,
            wall,
            cpu,
            if cpu > 0.0 { s.lines as f64 / cpu } else { 0.0 },
            s.peak_rss
                .map_or("n/a".to_owned(), |b| format!("{:.0}", mib(b))),
        );
    }
    println!("\n(in-process stages report this process's peak RSS, the generator included)");
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / 1_048_576.0
}

/// CPU time and peak memory from getrusage.
#[cfg(unix)]
mod usage {
    use std::time::Duration;

    fn rusage(who: libc::c_int) -> Option<libc::rusage> {
        let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
        // SAFETY: getrusage fills the struct we own; a non-zero return leaves it unused.
        let rc = unsafe { libc::getrusage(who, usage.as_mut_ptr()) };
        // SAFETY: rc == 0 means the kernel wrote the whole struct.
        (rc == 0).then(|| unsafe { usage.assume_init() })
    }

    fn cpu(who: libc::c_int) -> Duration {
        rusage(who).map_or(Duration::ZERO, |u| {
            let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, (t.tv_usec as u32) * 1000);
            tv(u.ru_utime) + tv(u.ru_stime)
        })
    }

    pub fn self_cpu() -> Duration {
        cpu(libc::RUSAGE_SELF)
    }

    pub fn children_cpu() -> Duration {
        cpu(libc::RUSAGE_CHILDREN)
    }

    /// ru_maxrss is in KiB on Linux.
    pub fn self_peak_rss() -> Option<u64> {
        rusage(libc::RUSAGE_SELF).map(|u| u.ru_maxrss as u64 * 1024)
    }

    pub fn children_peak_rss() -> Option<u64> {
        rusage(libc::RUSAGE_CHILDREN).map(|u| u.ru_maxrss as u64 * 1024)
    }
}

#[cfg(not(unix))]
mod usage {
    use std::time::Duration;
    pub fn self_cpu() -> Duration {
        Duration::ZERO
    }
    pub fn children_cpu() -> Duration {
        Duration::ZERO
    }
    pub fn self_peak_rss() -> Option<u64> {
        None
    }
    pub fn children_peak_rss() -> Option<u64> {
        None
    }
}
