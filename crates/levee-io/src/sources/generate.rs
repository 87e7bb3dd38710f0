//! The `generate` source: [`levee_generate`]'s lines fed through a parser,
//! at a rate, as if they were read from a file.

use std::time::Duration;

use levee_generate::{Dataset, GenerateOptions, Generator};
use serde::Deserialize;

use crate::SourceError;
use crate::sources::SourceContext;
use crate::sources::lines::{BATCH_EVENTS, LineDecoder, now_nanos};

/// `type = "generate"`: realistic nginx access logs or email events.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenerateConfig {
    /// `nginx` (combined log format plus `$request_time`) or `events` (JSON email events).
    pub dataset: Dataset,
    /// How many lines in all.
    #[serde(default = "default_lines")]
    pub lines: u64,
    /// The date of the first event, `YYYY-MM-DD` (UTC). Default: `days` days before today.
    #[serde(default)]
    pub start: Option<String>,
    /// Event times spread over this many days.
    #[serde(default = "default_days")]
    pub days: u32,
    /// The same seed gives the same lines.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Lines per second; 0 sends as fast as the pipeline takes them.
    #[serde(default)]
    pub rate: u64,
}

fn default_lines() -> u64 {
    10_000
}

fn default_days() -> u32 {
    1
}

fn default_seed() -> u64 {
    1
}

impl GenerateConfig {
    /// Checks the options once, with the same rules and messages as
    /// `levee generate`, into a source ready to run.
    pub fn build(&self) -> Result<Generate, SourceError> {
        let mut options = GenerateOptions::builder(self.dataset)
            .lines(self.lines)
            .days(self.days)
            .seed(self.seed);
        if let Some(date) = &self.start {
            options = options.start(date.as_str());
        }
        Ok(Generate {
            options: options.build()?,
            rate: self.rate,
        })
    }
}

/// A `generate` source with its options checked.
#[derive(Clone, Debug)]
pub struct Generate {
    options: GenerateOptions,
    rate: u64,
}

pub(crate) async fn run(
    config: Generate,
    mut decoder: LineDecoder,
    ctx: SourceContext,
) -> Result<(), SourceError> {
    let mut generator = Generator::new(config.options);
    let mut line = Vec::with_capacity(1024);
    let started = tokio::time::Instant::now();
    let mut sent: u64 = 0;
    // With a rate, send a tenth of a second's lines at a time, not bursts.
    let per_batch = match config.rate {
        0 => BATCH_EVENTS,
        rate => usize::try_from(rate / 10)
            .unwrap_or(BATCH_EVENTS)
            .clamp(1, BATCH_EVENTS),
    };
    loop {
        if ctx.shutting_down() {
            break;
        }
        let mut done = false;
        for _ in 0..per_batch {
            line.clear();
            if generator.next_line(&mut line).is_none() {
                done = true;
                break;
            }
            decoder.metrics().bytes.inc_by(line.len() as u64);
            let text = line.strip_suffix(b"\n").unwrap_or(&line);
            decoder.push_line(text, now_nanos());
            sent += 1;
        }
        if !ctx.send(decoder.take()).await || done {
            break;
        }
        if config.rate > 0 {
            // Sleep until the schedule catches up with what was sent.
            let due = started + Duration::from_secs_f64(sent as f64 / config.rate as f64);
            tokio::time::sleep_until(due).await;
        }
    }
    ctx.send(decoder.take()).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(extra: &str) -> GenerateConfig {
        toml::from_str(&format!("dataset = \"events\"\n{extra}")).unwrap()
    }

    #[test]
    fn generate_options_are_checked_once_at_build() {
        let err = config("days = 0").build().unwrap_err();
        assert!(matches!(
            err,
            SourceError::Generate(levee_generate::OptionsError::NoDays)
        ));
        assert_eq!(err.to_string(), "generate: days must be at least 1");
        let err = config("start = \"09/01/2018\"").build().unwrap_err();
        assert_eq!(
            err.to_string(),
            "generate: start must be a date such as 2018-09-01, not \"09/01/2018\""
        );
        let built = config("start = \"2018-09-01\"\nlines = 7\nrate = 5")
            .build()
            .unwrap();
        assert_eq!(built.options.lines(), 7);
        assert_eq!(built.rate, 5);
    }
}
