//! How `levee compact` shows its progress: a bar on a terminal, a plain
//! log line per hour otherwise (a pipe, a file, a service's journal).

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use levee_lake::TableRef;
use levee_lake::compact::{HourReport, Progress};

/// A bar on stderr when it is a terminal, else a line per hour.
pub struct CompactProgress {
    bar: Option<ProgressBar>,
}

impl CompactProgress {
    /// Chooses by whether stderr is a terminal.
    pub fn new() -> CompactProgress {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
            if let Ok(style) = ProgressStyle::with_template(
                "{prefix} [{bar:30}] {pos}/{len} hours, {elapsed} {msg}",
            ) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar
        });
        CompactProgress { bar }
    }

    /// Clears the bar, so the summary lines that follow stand alone.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl Progress for CompactProgress {
    fn planned(&self, table: &TableRef, hours: usize) {
        if let Some(bar) = &self.bar {
            bar.set_prefix(table.to_string());
            bar.inc_length(hours as u64);
        }
    }

    fn hour_done(&self, table: &TableRef, hour: Option<&HourReport>) {
        match (&self.bar, hour) {
            (Some(bar), Some(h)) => {
                bar.set_message(format!("{}", h.partition));
                bar.inc(1);
            }
            (Some(bar), None) => bar.inc(1),
            (None, Some(h)) => tracing::info!(
                "{table} {}: {} rows from {} chunks into {} files",
                h.partition,
                h.rows_written,
                h.input_chunks,
                h.output_files.len()
            ),
            (None, None) => {}
        }
    }
}
