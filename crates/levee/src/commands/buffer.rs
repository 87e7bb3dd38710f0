//! `levee buffer inspect DIR`: what a disk buffer holds, read without
//! changing it.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use levee_pipeline::buffer::disk::inspect::{Report, find};

#[derive(clap::Subcommand)]
pub enum BufferCommand {
    /// Show a disk buffer's segments, records, bytes, oldest and newest
    /// event time, read position and any damage. Exits 1 if it found damage.
    Inspect {
        /// A buffer's folder (`<data_dir>/buffers/<output>`), a `buffers`
        /// folder or a `data_dir`: every buffer under it is shown.
        dir: PathBuf,
    },
}

pub fn buffer(command: &BufferCommand) -> Result<ExitCode> {
    match command {
        BufferCommand::Inspect { dir } => inspect(dir),
    }
}

fn inspect(dir: &std::path::Path) -> Result<ExitCode> {
    let buffers = find(dir).with_context(|| format!("reading {}", dir.display()))?;
    if buffers.is_empty() {
        bail!("no disk buffer in {}", dir.display());
    }
    let mut damage = 0;
    for (i, buffer) in buffers.iter().enumerate() {
        let report =
            Report::read(buffer).with_context(|| format!("reading {}", buffer.display()))?;
        if i > 0 {
            println!();
        }
        print!("{report}");
        damage += report.damage();
    }
    Ok(if damage > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
