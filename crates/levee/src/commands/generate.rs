//! `levee generate`: the demo's traffic, for tests, benchmarks and users.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use levee_generate::{Dataset, GenerateOptions, Generator};

#[derive(clap::Args)]
pub struct GenerateArgs {
    /// `nginx` (access log lines) or `events` (JSON email events).
    pub dataset: Dataset,
    /// How many lines.
    #[arg(long, default_value_t = 100_000)]
    pub lines: u64,
    /// The date of the first line, YYYY-MM-DD (UTC).
    #[arg(long, default_value = "2018-09-01")]
    pub start: String,
    /// Spread the lines over this many days.
    #[arg(long, default_value_t = 7)]
    pub days: u32,
    /// The same seed gives the same lines.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Write to this file instead of standard output.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
}

pub fn generate(args: &GenerateArgs) -> Result<ExitCode> {
    let out: Box<dyn Write> = match &args.output {
        Some(path) => Box::new(
            std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
        ),
        None => Box::new(std::io::stdout().lock()),
    };
    write_lines(&options(args)?, out)?;
    Ok(ExitCode::SUCCESS)
}

/// The generator options for these arguments, checked as the `generate`
/// source checks its own.
pub fn options(args: &GenerateArgs) -> Result<GenerateOptions> {
    Ok(GenerateOptions::builder(args.dataset)
        .lines(args.lines)
        .start(args.start.as_str())
        .days(args.days)
        .seed(args.seed)
        .build()?)
}

/// Writes every line of the generator to `out`, buffered.
pub fn write_lines(options: &GenerateOptions, out: impl Write) -> Result<u64> {
    let mut out = std::io::BufWriter::with_capacity(1 << 20, out);
    let mut generator = Generator::new(options.clone());
    let mut buf = Vec::with_capacity(64 * 1024);
    let mut lines = 0;
    loop {
        let more = generator.next_line(&mut buf).is_some();
        if more {
            lines += 1;
        }
        if buf.len() >= 60 * 1024 || !more {
            out.write_all(&buf).context("writing lines")?;
            buf.clear();
        }
        if !more {
            break;
        }
    }
    out.flush().context("writing lines")?;
    Ok(lines)
}
