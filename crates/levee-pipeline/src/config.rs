//! The config file: parsed once, then validated once into a [`Pipeline`]
//! that runtime code never checks again.
//!
//! Every error names the file, line and column, so `levee validate` reads
//! like a compiler.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use indexmap::IndexMap;
use levee_event::TagPattern;
use levee_io::sinks::SinkConfig;
use levee_io::sources::{Source, SourceConfig};
use serde::Deserialize;
use toml::Spanned;

use crate::buffer::{BufferConfig, BufferSettings};
use crate::filters::{Filter, FilterConfig};
use crate::metrics::MetricsConfig;
use crate::output::{OutputConfig, RetryConfig};

/// The whole config file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where levee keeps its state (checkpoints, disk buffers).
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    /// The metrics endpoint: `[metrics] listen = "127.0.0.1:24231"`.
    #[serde(default)]
    pub metrics: MetricsConfig,
    /// Sources by name: `[sources.NAME]`.
    #[serde(default)]
    pub sources: IndexMap<String, Spanned<SourceConfig>>,
    /// Filters, applied in this order: `[[filters]]`.
    #[serde(default)]
    pub filters: Vec<Spanned<FilterConfig>>,
    /// Outputs by name: `[outputs.NAME]`.
    #[serde(default)]
    pub outputs: IndexMap<String, Spanned<OutputConfig>>,
}

fn default_data_dir() -> PathBuf {
    PathBuf::from("./levee-data")
}

/// One problem in a config file, with where it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file, self.line, self.column, self.message
        )
    }
}

/// Every problem found in a config file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// A source, checked.
pub struct BuiltSource {
    pub name: String,
    pub source: Source,
}

/// An output, checked.
pub struct BuiltOutput {
    pub name: String,
    pub pattern: TagPattern,
    pub buffer: BufferSettings,
    pub retry: RetryConfig,
    pub sink: SinkConfig,
}

/// A config validated into what the topology runs.
pub struct Pipeline {
    pub data_dir: PathBuf,
    pub metrics: MetricsConfig,
    pub sources: Vec<BuiltSource>,
    pub filters: Vec<Filter>,
    pub outputs: Vec<BuiltOutput>,
}

/// Reads, parses and validates a config file.
pub fn load(path: &Path) -> Result<Pipeline, ConfigErrors> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| {
        ConfigErrors(vec![ConfigError {
            file: file.clone(),
            line: 0,
            column: 0,
            message: format!("cannot read the config: {e}"),
        }])
    })?;
    build(&text, &file)
}

/// Parses and validates config text; `file` names it in errors.
pub fn build(text: &str, file: &str) -> Result<Pipeline, ConfigErrors> {
    let locate = |span: Option<Range<usize>>, message: String| {
        let (line, column) = span.map_or((1, 1), |s| line_column(text, s.start));
        ConfigError {
            file: file.to_owned(),
            line,
            column,
            message,
        }
    };
    let config: Config = toml::from_str(text).map_err(|e| {
        let message = e.message().trim().to_owned();
        ConfigErrors(vec![locate(e.span(), message)])
    })?;

    let mut errors = Vec::new();
    if config.sources.is_empty() {
        errors.push(locate(
            None,
            "no sources: add a [sources.NAME] table, or nothing will flow".into(),
        ));
    }
    if config.outputs.is_empty() {
        errors.push(locate(
            None,
            "no outputs: add an [outputs.NAME] table, or events have nowhere to go".into(),
        ));
    }

    let mut sources = Vec::new();
    for (name, spanned) in &config.sources {
        match spanned.get_ref().build() {
            Ok(source) => sources.push(BuiltSource {
                name: name.clone(),
                source,
            }),
            Err(e) => errors.push(locate(
                Some(spanned.span()),
                format!("source `{name}`: {e}"),
            )),
        }
    }

    let mut filters = Vec::new();
    for (i, spanned) in config.filters.iter().enumerate() {
        match spanned.get_ref().build() {
            Ok(filter) => filters.push(filter),
            Err(e) => errors.push(locate(
                Some(spanned.span()),
                format!("filter #{}: {e}", i + 1),
            )),
        }
    }

    let mut outputs = Vec::new();
    for (name, spanned) in &config.outputs {
        match build_output(name, spanned.get_ref()) {
            Ok(output) => outputs.push(output),
            Err(message) => errors.push(locate(
                Some(spanned.span()),
                format!("output `{name}`: {message}"),
            )),
        }
    }

    if errors.is_empty() {
        Ok(Pipeline {
            data_dir: config.data_dir,
            metrics: config.metrics,
            sources,
            filters,
            outputs,
        })
    } else {
        Err(ConfigErrors(errors))
    }
}

fn build_output(name: &str, config: &OutputConfig) -> Result<BuiltOutput, String> {
    let pattern = TagPattern::new(&config.pattern).map_err(|e| format!("match: {e}"))?;
    config.sink.validate().map_err(|e| e.to_string())?;
    Ok(BuiltOutput {
        name: name.to_owned(),
        pattern,
        buffer: buffer_settings(&config.buffer)?,
        retry: check_retry(&config.retry)?,
        sink: config.sink.clone(),
    })
}

fn buffer_settings(config: &BufferConfig) -> Result<BufferSettings, String> {
    let max_bytes = config.max_bytes.as_usize();
    let batch_max_bytes = config.batch_max_bytes.as_usize();
    if max_bytes < 64 * 1024 {
        return Err("buffer.max_bytes must be at least 64KiB".into());
    }
    if batch_max_bytes == 0 || batch_max_bytes > max_bytes {
        return Err(format!(
            "buffer.batch_max_bytes ({batch_max_bytes} bytes) must be above 0 and at most buffer.max_bytes ({max_bytes} bytes)"
        ));
    }
    let flush_interval = config
        .flush_interval
        .map_or(Duration::from_secs(1), |i| i.0);
    if flush_interval.is_zero() {
        return Err("buffer.flush_interval must be above 0".into());
    }
    Ok(BufferSettings {
        max_bytes,
        batch_max_bytes,
        flush_interval,
        when_full: config.when_full,
    })
}

fn check_retry(retry: &RetryConfig) -> Result<RetryConfig, String> {
    if retry.initial_backoff.0.is_zero() || retry.max_backoff.0 < retry.initial_backoff.0 {
        return Err("retry: initial_backoff must be above 0 and at most max_backoff".into());
    }
    if retry.max_attempts == Some(0) {
        return Err("retry.max_attempts must be at least 1 (leave it out to retry forever)".into());
    }
    Ok(retry.clone())
}

/// 1-based line and column (in characters) of a byte offset.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset.min(text.len())).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}
