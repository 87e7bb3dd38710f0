//! An answer in the format asked for, and its accounting where that
//! format wants it.

use std::fs::File;
use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::Path;

use anyhow::{Context, Result, bail};
use levee_query::QueryResult;

/// How `levee query` prints an answer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// A boxed table, then the accounting on the next line.
    #[default]
    Table,
    /// CSV with a header; the accounting on standard error.
    Csv,
    /// One JSON document per statement, on one line:
    /// `{"columns":[...],"rows":[{...}],"stats":{...}}`.
    Json,
    /// One JSON object per row; the accounting on standard error.
    Ndjson,
    /// A zstd Parquet file (to --output, or to standard output when it is
    /// not a terminal); the accounting on standard error.
    Parquet,
}

/// Where answers go: standard output or a file.
pub enum Out {
    Stdout(io::Stdout),
    File(BufWriter<File>, std::path::PathBuf),
}

impl Out {
    /// Standard output, or `path` created (or truncated) for writing.
    /// Parquet is refused on a terminal.
    pub fn open(path: Option<&Path>, format: Format) -> Result<Out> {
        match path {
            Some(path) => {
                let file = File::create(path)
                    .with_context(|| format!("cannot create {}", path.display()))?;
                Ok(Out::File(BufWriter::new(file), path.to_owned()))
            }
            None if format == Format::Parquet && io::stdout().is_terminal() => {
                bail!("--format parquet needs --output FILE (or standard output not a terminal)")
            }
            None => Ok(Out::Stdout(io::stdout())),
        }
    }

    /// Flushes what is written, saying which file failed.
    pub fn finish(&mut self) -> Result<()> {
        let flushed = self.flush();
        match self {
            Out::Stdout(_) => flushed.context("cannot write to standard output"),
            Out::File(_, path) => {
                flushed.with_context(|| format!("cannot write {}", path.display()))
            }
        }
    }
}

impl Write for Out {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Out::Stdout(out) => out.write(buf),
            Out::File(out, _) => out.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Out::Stdout(out) => out.flush(),
            Out::File(out, _) => out.flush(),
        }
    }
}

/// Writes one answer to `out`: its rows, and its accounting after them
/// (`table`), in them (`json`) or on standard error (the rest).
pub fn answer<W: Write + Send>(out: &mut W, format: Format, result: &QueryResult) -> Result<()> {
    let (schema, batches, stats) = (&result.schema, &result.batches[..], &result.stats);
    match format {
        Format::Table => {
            let table = levee_query::format_table(schema, batches)?;
            writeln!(out, "{table}\n{stats}")?;
        }
        Format::Json => levee_query::write_json_document(&mut *out, schema, batches, stats)?,
        Format::Csv => levee_query::write_csv(&mut *out, schema, batches)?,
        Format::Ndjson => levee_query::write_json_lines(&mut *out, batches)?,
        Format::Parquet => levee_query::write_parquet(&mut *out, schema, batches)?,
    }
    if matches!(format, Format::Csv | Format::Ndjson | Format::Parquet) {
        // After the rows are out, so a reader of both streams sees them in order.
        out.flush()?;
        crate::stderr::say!("{stats}");
    }
    Ok(())
}

/// What goes between two answers: a blank line where a reader needs one
/// to tell them apart (JSON documents are one per line already).
pub fn separate(out: &mut impl Write, format: Format) -> Result<()> {
    if matches!(format, Format::Table | Format::Csv) {
        writeln!(out)?;
    }
    Ok(())
}
