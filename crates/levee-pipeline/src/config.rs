//! The config file: parsed once, then validated once into a [`Pipeline`]
//! that runtime code never checks again.
//!
//! The file is read into a table that keeps where every key and value is
//! (`toml::de::DeTable`), and each component (`metrics`, each source,
//! each filter, each output) is deserialized and built from its own part of
//! it, so one mistake does not hide the next: `levee validate` reports the
//! first problem of every component, each at the line and column of the key
//! at fault, with the component and the key's path named, like a compiler:
//!
//! ```text
//! levee.toml:12:13: outputs.lake: buffer.max_bytes: invalid size "lots" ...
//! ```
//!
//! The file's top-level keys:
//!
//! | key | what |
//! | --- | --- |
//! | `data_dir` | where levee keeps its state (checkpoints, disk buffers); default `./levee-data` |
//! | `[metrics]` | the metrics endpoint, [`MetricsConfig`] |
//! | `[compaction]` | compacting the lake outputs' tables on a schedule, [`CompactionConfig`] |
//! | `[query_api]` | SQL over the lake by HTTP, [`QueryApiConfig`] |
//! | `[console]` | the web console, [`ConsoleConfig`] |
//! | `[sources.NAME]` | sources by name, [`SourceConfig`] |
//! | `[[filters]]` | filters, applied in this order, [`FilterConfig`] |
//! | `[outputs.NAME]` | outputs by name, [`OutputConfig`] |

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use levee_event::TagPattern;
use levee_io::sinks::BuiltSink;
use levee_io::sources::{Source, SourceConfig};
use serde::Deserialize;
use toml::Spanned;
use toml::de::{DeTable, DeValue, ValueDeserializer};

use crate::buffer::{
    self, BufferConfig, BufferKind, BufferSettings, DiskSettings, Fsync, FsyncMode, WhenFull,
};
use crate::compaction::{CompactionConfig, CompactionSettings, LakeTarget};
use crate::console::{ConsoleConfig, ConsoleSettings};
use crate::filters::{Filter, FilterConfig};
use crate::metrics::MetricsConfig;
use crate::output::{OutputConfig, RetryConfig};
use crate::query_api::{QueryApiConfig, QueryApiSettings};

mod reach;

/// The keys a config file may have at its top.
const TOP_KEYS: &[&str] = &[
    "data_dir",
    "metrics",
    "compaction",
    "query_api",
    "console",
    "sources",
    "filters",
    "outputs",
];

fn default_data_dir() -> PathBuf {
    PathBuf::from("./levee-data")
}

/// How much a [`ConfigError`] matters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    /// The config is refused.
    Error,
    /// The config runs, but likely not as meant.
    Warning,
}

/// One problem in a config file, with where it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// The file, as given.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    /// An error or a warning.
    pub level: Level,
    /// What is wrong, starting with the component and the key:
    /// `outputs.lake: zstd_level: must be 1 to 19, not 0`.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = match self.level {
            Level::Error => "",
            Level::Warning => "warning: ",
        };
        write!(
            f,
            "{}:{}:{}: {level}{}",
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
    /// Its name, from `[sources.NAME]`.
    pub name: String,
    /// Ready to run.
    pub source: Source,
}

/// An output, checked.
pub struct BuiltOutput {
    /// Its name, from `[outputs.NAME]`.
    pub name: String,
    /// The tags it receives.
    pub pattern: TagPattern,
    /// Its sink's kind (`type`), as the metrics label it.
    pub kind: &'static str,
    /// Its buffer's settings.
    pub buffer: BufferSettings,
    /// With `buffer.type = "disk"`, the disk buffer's own settings.
    pub disk: Option<DiskSettings>,
    /// How failed writes are tried again.
    pub retry: RetryConfig,
    /// Its sink, ready to open.
    pub sink: BuiltSink,
    /// Where what the sink cannot take goes (`secondary = { ... }`).
    pub secondary: Option<BuiltSink>,
    /// How many workers write batches at once (`workers`), at least 1.
    pub workers: usize,
    /// The table it writes, for a lake output.
    pub lake: Option<LakeTarget>,
}

/// A config validated into what the topology runs.
pub struct Pipeline {
    /// Where levee keeps its state.
    pub data_dir: PathBuf,
    /// The metrics endpoint.
    pub metrics: MetricsConfig,
    /// Scheduled compaction, if `[compaction]` is there.
    pub compaction: Option<CompactionSettings>,
    /// The HTTP query API, if `[query_api]` is there.
    pub query_api: Option<QueryApiSettings>,
    /// The web console, if `[console]` is there.
    pub console: Option<ConsoleSettings>,
    /// Sources, in file order.
    pub sources: Vec<BuiltSource>,
    /// Filters, in file order.
    pub filters: Vec<Filter>,
    /// Outputs, in file order.
    pub outputs: Vec<BuiltOutput>,
    /// What runs, but likely not as meant; `levee validate` prints these
    /// and `levee run` logs them.
    pub warnings: Vec<ConfigError>,
}

/// Reads, parses and validates a config file.
pub fn load(path: &Path) -> Result<Pipeline, ConfigErrors> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| {
        ConfigErrors(vec![ConfigError {
            file: file.clone(),
            line: 0,
            column: 0,
            level: Level::Error,
            message: format!("cannot read the config: {e}"),
        }])
    })?;
    build(&text, &file)
}

/// Parses and validates config text; `file` names it in errors.
pub fn build(text: &str, file: &str) -> Result<Pipeline, ConfigErrors> {
    let mut check = Check {
        text,
        file,
        found: Vec::new(),
    };
    let root = match DeTable::parse(text) {
        Ok(root) => root,
        Err(e) => {
            check.at(e.span(), Level::Error, e.message().trim().to_owned());
            return Err(ConfigErrors(check.found));
        }
    };

    let mut data_dir = default_data_dir();
    let mut metrics = MetricsConfig::default();
    let mut compaction = None;
    // Built once the outputs are known: its lake defaults to theirs.
    let mut query_api = None;
    let mut console = None;
    let mut sources = Vec::new();
    let mut filters = Vec::new();
    let mut outputs = Vec::new();
    let mut seen_sources = false;
    let mut seen_outputs = false;
    // Each built component's name and part, to say where a warning is.
    let mut parts = Vec::new();
    let mut filter_names = Vec::new();
    for (key, value) in root.into_inner() {
        match key.get_ref().as_ref() {
            "data_dir" => {
                if let Some(dir) = check.part("data_dir", &value, Clone::clone) {
                    data_dir = dir;
                }
            }
            "metrics" => {
                if let Some(m) = check.part("metrics", &value, Clone::clone) {
                    metrics = m;
                }
            }
            "compaction" => compaction = check.compaction(&value),
            "query_api" => {
                query_api = check
                    .part::<QueryApiConfig>("query_api", &value, Clone::clone)
                    .map(|config| (config, value.clone()));
            }
            "console" => {
                console = check
                    .part::<ConsoleConfig>("console", &value, Clone::clone)
                    .map(|config| (config, value.clone()));
            }
            "sources" => {
                for (name, table) in check.named_tables("sources", &value) {
                    seen_sources = true;
                    if let Some(source) = check.source(&name, &table) {
                        parts.push((format!("sources.{name}"), table));
                        sources.push(BuiltSource { name, source });
                    }
                }
            }
            "filters" => {
                for (i, table) in check.array_of_tables("filters", &value) {
                    if let Some(filter) = check.filter(i, &table) {
                        parts.push((format!("filters[{i}]"), table));
                        filter_names.push(format!("filters[{i}]"));
                        filters.push(filter);
                    }
                }
            }
            "outputs" => {
                for (name, table) in check.named_tables("outputs", &value) {
                    seen_outputs = true;
                    if let Some(output) = check.output(&name, &table) {
                        parts.push((format!("outputs.{name}"), table));
                        outputs.push(output);
                    }
                }
            }
            other => check.at(
                Some(key.span()),
                Level::Error,
                format!(
                    "unknown key `{other}`, expected one of {}",
                    quoted(TOP_KEYS)
                ),
            ),
        }
    }
    let lakes: Vec<String> = outputs
        .iter()
        .filter_map(|o| o.lake.as_ref().map(|l| l.lake.clone()))
        .collect();
    let query_api = query_api.and_then(|(config, part)| {
        config
            .build(&lakes)
            .map_err(|errors| {
                // A key not written (`lake`) is said at the section.
                for (key, message) in errors {
                    check.at_key("query_api", &part, Some(key), message);
                }
            })
            .ok()
    });
    let console = console.and_then(|(config, part)| {
        config
            .build(&lakes)
            .map_err(|errors| {
                for (key, message) in errors {
                    check.at_key("console", &part, Some(key), message);
                }
            })
            .ok()
    });
    if !seen_sources {
        check.at(
            None,
            Level::Error,
            "no sources: add a [sources.NAME] table, or nothing will flow".into(),
        );
    }
    if !seen_outputs {
        check.at(
            None,
            Level::Error,
            "no outputs: add an [outputs.NAME] table, or events have nowhere to go".into(),
        );
    }

    let has_errors = check.found.iter().any(|e| e.level == Level::Error);
    if !has_errors {
        let source_tags: Vec<(String, Option<String>)> = sources
            .iter()
            .map(|s| {
                (
                    format!("sources.{}", s.name),
                    s.source.tag().map(|t| t.as_str().to_owned()),
                )
            })
            .collect();
        let filter_list: Vec<(String, &Filter)> =
            filter_names.iter().cloned().zip(filters.iter()).collect();
        let output_list: Vec<(String, &TagPattern)> = outputs
            .iter()
            .map(|o| (format!("outputs.{}", o.name), &o.pattern))
            .collect();
        let metric_filters = filter_list
            .iter()
            .filter_map(|(name, f)| Some((name.as_str(), f.as_metric()?)));
        for (component, key, message) in crate::filters::metric::conflicts(metric_filters) {
            let span = parts
                .iter()
                .find(|(name, _)| *name == component)
                .map(|(_, part)| key_span(part, key));
            check.at(span, Level::Error, format!("{component}: {key}: {message}"));
        }
        for finding in reach::check(&source_tags, &filter_list, &output_list) {
            let reach::Place { component, key } = finding.place;
            let span = parts
                .iter()
                .find(|(name, _)| *name == component)
                .map(|(_, part)| key_span(part, key));
            check.at(
                span,
                Level::Warning,
                format!("{component}: {key}: {}", finding.message),
            );
        }
    }

    // In file order, as a compiler lists them.
    check.found.sort_by_key(|e| (e.line, e.column));
    let (errors, warnings): (Vec<_>, Vec<_>) = check
        .found
        .into_iter()
        .partition(|e| e.level == Level::Error);
    if errors.is_empty() {
        Ok(Pipeline {
            data_dir,
            metrics,
            compaction,
            query_api,
            console,
            sources,
            filters,
            outputs,
            warnings,
        })
    } else {
        Err(ConfigErrors(errors))
    }
}

/// What was found so far, and how to say where.
struct Check<'a> {
    text: &'a str,
    file: &'a str,
    found: Vec<ConfigError>,
}

/// A part of the file, as parsed, with where each key and value is.
type Part<'i> = Spanned<DeValue<'i>>;

impl<'i> Check<'_> {
    /// Records a problem at `span` (the file's start when there is none).
    fn at(&mut self, span: Option<Range<usize>>, level: Level, message: String) {
        let (line, column) = span.map_or((1, 1), |s| line_column(self.text, s.start));
        self.found.push(ConfigError {
            file: self.file.to_owned(),
            line,
            column,
            level,
            message,
        });
    }

    /// Records a problem of `component` at its key `key` (a dotted path),
    /// or at the component itself when the key is not written there.
    fn at_key(&mut self, component: &str, part: &Part<'i>, key: Option<&str>, message: String) {
        match key {
            Some(key) => {
                let span = key_span(part, key);
                self.at(
                    Some(span),
                    Level::Error,
                    format!("{component}: {key}: {message}"),
                );
            }
            None => self.at(
                Some(part.span()),
                Level::Error,
                format!("{component}: {message}"),
            ),
        }
    }

    /// Deserializes the component's `part`, reshaped by `shape`, as a `T`,
    /// recording each error at the key it concerns.
    ///
    /// serde stops at a component's first mistake, so after one the part is
    /// read again without the key at fault, up to [`MAX_READS`] times: the
    /// component's other mistakes are said in the same run (a wrong type in
    /// `buffer` no longer hides a bad lake URL). What is read after a
    /// mistake is only checked, never run: the file has errors.
    fn part<T: Deserialize<'i>>(
        &mut self,
        component: &str,
        part: &Part<'i>,
        shape: impl Fn(&Part<'i>) -> Part<'i>,
    ) -> Option<T> {
        let mut current = part.clone();
        let mut removed = false;
        for read in 0..MAX_READS {
            let shaped = shape(&current);
            let result = T::deserialize(ValueDeserializer::from(shaped.clone()));
            if read == 0 {
                self.decimal_sizes(component, part);
            } else {
                // Said on the first read already.
                levee_io::units::take_decimal_sizes();
            }
            let e = match result {
                Ok(value) => return Some(value),
                Err(e) => e,
            };
            let message = e.message().trim().to_owned();
            // A key taken out because it was wrong is not also missing, and
            // a misspelt key's right name (`pathz` for `paths`) is not missing
            // either: what is still missing is said once the rest is right.
            if removed && message.starts_with("missing field") {
                return None;
            }
            // Errors from serde's buffered paths (internally tagged
            // enums: the filters) come without a span.
            let span = e
                .span()
                .filter(|s| *s != part.span())
                .or_else(|| unknown_field(&message).and_then(|key| find_key(&current, key)))
                .or_else(|| {
                    let found = culprit::<T>(&shaped, &message);
                    // The probes' own sizes were warned about already.
                    levee_io::units::take_decimal_sizes();
                    found
                });
            let (path, span) = match span {
                Some(span) => path_at(part, &span),
                None => (String::new(), part.span()),
            };
            let said = if path.is_empty() {
                format!("{component}: {message}")
            } else {
                format!("{component}: {path}: {message}")
            };
            self.at(Some(span), Level::Error, said);
            // An unknown key is said at the key itself, which has no path.
            let key = match path.split('.').next() {
                Some(first) if !first.is_empty() => first.to_owned(),
                _ => unknown_field(&message).unwrap_or_default().to_owned(),
            };
            if key.is_empty() || key == "type" || !remove_key(&mut current, &key) {
                return None;
            }
            removed = true;
        }
        None
    }

    /// Warns about each size written in decimal units in `part` since the
    /// last call: `64MB` is 64,000,000 bytes, where `64MiB` may be meant.
    fn decimal_sizes(&mut self, component: &str, part: &Part<'i>) {
        let mut seen = Vec::new();
        for text in levee_io::units::take_decimal_sizes() {
            let Some(value) = find_string(part, &text, &seen) else {
                continue;
            };
            let (path, span) = path_at(part, &value);
            seen.push(value);
            let binary = binary_unit(&text);
            self.at(
                Some(span),
                Level::Warning,
                format!(
                    "{component}: {path}: {text:?} is read as {} bytes (decimal units); write {binary:?} for {} bytes",
                    levee_io::units::parse_size(&text).unwrap_or(0),
                    levee_io::units::parse_size(&binary).unwrap_or(0),
                ),
            );
        }
    }

    /// The tables of `[sources.NAME]` or `[outputs.NAME]`, by name.
    fn named_tables(&mut self, kind: &str, value: &Part<'i>) -> Vec<(String, Part<'i>)> {
        let Some(table) = value.get_ref().as_table() else {
            self.at(
                Some(value.span()),
                Level::Error,
                format!("{kind}: expected tables such as [{kind}.NAME]"),
            );
            return Vec::new();
        };
        let mut tables = Vec::new();
        for (name, part) in table {
            if part.get_ref().is_table() {
                tables.push((name.get_ref().to_string(), part.clone()));
            } else {
                self.at(
                    Some(part.span()),
                    Level::Error,
                    format!(
                        "{kind}.{}: expected a table such as [{kind}.{}]",
                        name.get_ref(),
                        name.get_ref()
                    ),
                );
            }
        }
        tables
    }

    /// The tables of `[[filters]]`, by index.
    fn array_of_tables(&mut self, kind: &str, value: &Part<'i>) -> Vec<(usize, Part<'i>)> {
        let Some(array) = value.get_ref().as_array() else {
            self.at(
                Some(value.span()),
                Level::Error,
                format!("{kind}: expected a list of [[{kind}]] tables"),
            );
            return Vec::new();
        };
        let mut tables = Vec::new();
        for (i, part) in array.iter().enumerate() {
            if part.get_ref().is_table() {
                tables.push((i, part.clone()));
            } else {
                self.at(
                    Some(part.span()),
                    Level::Error,
                    format!("{kind}[{i}]: expected a table"),
                );
            }
        }
        tables
    }

    fn source(&mut self, name: &str, part: &Part<'i>) -> Option<Source> {
        let component = format!("sources.{name}");
        let keys = struct_keys::<SourceConfig>();
        let config: SourceConfig = self.part(&component, part, |p| nest_kind(p, keys))?;
        match config.build() {
            Ok(source) => Some(source),
            Err(e) => {
                self.at_key(&component, part, e.key(), e.to_string());
                None
            }
        }
    }

    fn filter(&mut self, i: usize, part: &Part<'i>) -> Option<Filter> {
        let component = format!("filters[{i}]");
        let config: FilterConfig = self.part(&component, part, Clone::clone)?;
        match config.build() {
            Ok(filter) => Some(filter),
            Err(e) => {
                let key = e.key();
                // The filter's messages start with the key; say it once.
                let message = e.to_string();
                let message = key
                    .and_then(|k| message.strip_prefix(&format!("`{k}`: ")))
                    .map_or(message.clone(), str::to_owned);
                self.at_key(&component, part, key, message);
                None
            }
        }
    }

    fn compaction(&mut self, part: &Part<'i>) -> Option<CompactionSettings> {
        let config: CompactionConfig = self.part("compaction", part, Clone::clone)?;
        config
            .build()
            .map_err(|(key, message)| self.at_key("compaction", part, Some(key), message))
            .ok()
    }

    fn output(&mut self, name: &str, part: &Part<'i>) -> Option<BuiltOutput> {
        let component = format!("outputs.{name}");
        let keys = struct_keys::<OutputConfig>();
        let config: OutputConfig = self.part(&component, part, |p| {
            let mut shaped = nest_kind(p, keys);
            nest_secondary(&mut shaped);
            shaped
        })?;
        // Each part checked on its own, so every mistake in it is said.
        let pattern = TagPattern::new(&config.pattern)
            .map_err(|e| self.at_key(&component, part, Some("match"), e.to_string()));
        let buffer = buffer_settings(&config.buffer)
            .map_err(|(key, message)| self.at_key(&component, part, Some(key), message));
        let retry = check_retry(&config.retry)
            .map_err(|(key, message)| self.at_key(&component, part, Some(key), message));
        let workers = check_workers(&config)
            .map_err(|(key, message)| self.at_key(&component, part, Some(key), message));
        let kind = config.sink.kind();
        let lake = match &config.sink {
            levee_io::sinks::SinkConfig::Lake(c) => Some(LakeTarget {
                lake: c.lake.clone(),
                s3: c.s3.clone(),
                database: c.database.clone(),
                table: c.table.clone(),
            }),
            _ => None,
        };
        let sink = config
            .sink
            .build()
            .map_err(|e| self.at_key(&component, part, Some(e.key), e.to_string()));
        let secondary = config.secondary.map(|c| {
            c.sink.build().map_err(|e| {
                let key = format!("secondary.{}", e.key);
                self.at_key(&component, part, Some(&key), e.to_string());
            })
        });
        let secondary = match secondary {
            Some(built) => Some(built.ok()?),
            None => None,
        };
        let (buffer, disk) = buffer.ok()?;
        Some(BuiltOutput {
            name: name.to_owned(),
            pattern: pattern.ok()?,
            kind,
            buffer,
            disk,
            retry: retry.ok()?,
            sink: sink.ok()?,
            secondary,
            workers: workers.ok()?,
            lake,
        })
    }
}

/// Most workers an output may have: each holds a batch in memory.
const MAX_WORKERS: u32 = 64;

fn check_workers(config: &OutputConfig) -> Result<usize, KeyError> {
    let n = config.workers;
    if n == 0 || n > MAX_WORKERS {
        return Err(("workers", format!("must be 1 to {MAX_WORKERS}, not {n}")));
    }
    if n > 1 {
        if let Err(why) = config.sink.parallel() {
            return Err(("workers", format!("must be 1 for this output: {why}")));
        }
        if config.secondary.is_some() {
            return Err((
                "workers",
                "must be 1 with a secondary, which takes one batch at a time".into(),
            ));
        }
    }
    Ok(n as usize)
}

/// A problem with one key of a component: the key's path, and what is wrong.
type KeyError = (&'static str, String);

fn buffer_settings(
    config: &BufferConfig,
) -> Result<(BufferSettings, Option<DiskSettings>), KeyError> {
    let max_bytes = config
        .max_bytes
        .unwrap_or_else(|| buffer::default_max_bytes(config.kind))
        .as_usize();
    let batch_max_bytes = config.batch_max_bytes.as_usize();
    if max_bytes < 64 * 1024 {
        return Err(("buffer.max_bytes", "must be at least 64KiB".into()));
    }
    if batch_max_bytes == 0 || batch_max_bytes > max_bytes {
        return Err((
            "buffer.batch_max_bytes",
            format!(
                "must be above 0 and at most buffer.max_bytes ({max_bytes} bytes), not {batch_max_bytes} bytes"
            ),
        ));
    }
    let flush_interval = config
        .flush_interval
        .map_or(Duration::from_secs(1), |i| i.0);
    if flush_interval.is_zero() {
        return Err(("buffer.flush_interval", "must be above 0".into()));
    }
    let settings = BufferSettings {
        max_bytes,
        batch_max_bytes,
        flush_interval,
        when_full: config.when_full,
    };
    let disk = match config.kind {
        BufferKind::Memory => {
            for (set, key) in [
                (config.fsync.is_some(), "buffer.fsync"),
                (config.fsync_interval.is_some(), "buffer.fsync_interval"),
                (config.segment_bytes.is_some(), "buffer.segment_bytes"),
            ] {
                if set {
                    return Err((key, "is for a disk buffer only (type = \"disk\")".into()));
                }
            }
            None
        }
        BufferKind::Disk => {
            if config.when_full == WhenFull::DropOldest {
                return Err((
                    "buffer.when_full",
                    "drop_oldest is for a memory buffer only; a disk buffer can `block` or `drop_newest`".into(),
                ));
            }
            let interval = config
                .fsync_interval
                .map_or(Duration::from_secs(1), |i| i.0);
            let fsync = match config.fsync.unwrap_or_default() {
                FsyncMode::Always => {
                    if config.fsync_interval.is_some() {
                        return Err((
                            "buffer.fsync_interval",
                            "is for fsync = \"interval\" only".into(),
                        ));
                    }
                    Fsync::Always
                }
                FsyncMode::Interval if interval.is_zero() => {
                    return Err(("buffer.fsync_interval", "must be above 0".into()));
                }
                FsyncMode::Interval => Fsync::Every(interval),
            };
            let segment_bytes = match config.segment_bytes {
                Some(size) if size.0 < 64 * 1024 => {
                    return Err(("buffer.segment_bytes", "must be at least 64KiB".into()));
                }
                Some(size) => size.0,
                None => (max_bytes as u64 / 8).clamp(1 << 20, 64 << 20),
            };
            Some(DiskSettings {
                fsync,
                segment_bytes,
            })
        }
    };
    Ok((settings, disk))
}

fn check_retry(retry: &RetryConfig) -> Result<RetryConfig, KeyError> {
    if retry.initial_backoff.0.is_zero() || retry.max_backoff.0 < retry.initial_backoff.0 {
        return Err((
            "retry.initial_backoff",
            "must be above 0 and at most max_backoff".into(),
        ));
    }
    if retry.max_attempts == Some(0) {
        return Err((
            "retry.max_attempts",
            "must be at least 1 (leave it out to retry forever)".into(),
        ));
    }
    Ok(retry.clone())
}

/// Reshapes a component's table for serde: `type = "tail"` and tail's own
/// keys become `type = { tail = { ... } }`, beside the keys every source
/// has (`outer`). serde reads that shape (an externally tagged enum)
/// without buffering it, so every error keeps the span of its key; with
/// `#[serde(flatten)]` or `tag = "type"`, errors point at the table.
fn nest_kind<'i>(part: &Part<'i>, outer: &[&str]) -> Part<'i> {
    let span = part.span();
    let Some(table) = part.get_ref().as_table() else {
        return part.clone();
    };
    let mut top = DeTable::new();
    let mut own = DeTable::new();
    let mut kind = None;
    for (key, value) in table {
        let name: &str = key.get_ref();
        if name == "type" {
            kind = Some((key.clone(), value.clone()));
        } else if outer.contains(&name) {
            top.insert(key.clone(), value.clone());
        } else {
            own.insert(key.clone(), value.clone());
        }
    }
    // Without a `type`, the kind's keys would be called unknown: serde's
    // "missing field `type`" says what is wrong.
    if let Some((key, value)) = kind {
        let value = match value.get_ref().as_str() {
            Some(name) => {
                let mut variant = DeTable::new();
                variant.insert(
                    Spanned::new(value.span(), name.to_owned().into()),
                    Spanned::new(span.clone(), DeValue::Table(own)),
                );
                Spanned::new(value.span(), DeValue::Table(variant))
            }
            // Not a string: serde says so, at the value.
            None => value,
        };
        top.insert(key, value);
    }
    Spanned::new(span, DeValue::Table(top))
}

/// Reshapes an output's `secondary = { type = "file", ... }` (already
/// under the output's top keys) as [`nest_kind`] does the output itself:
/// the secondary has no keys of its own beside its sink's.
fn nest_secondary(shaped: &mut Part<'_>) {
    let DeValue::Table(top) = shaped.get_mut() else {
        return;
    };
    if let Some((_, value)) = top
        .iter_mut()
        .find(|(k, v)| k.get_ref() == "secondary" && v.get_ref().as_table().is_some())
    {
        *value = nest_kind(value, &[]);
    }
}

/// The keys a config struct takes, as serde names them, without `type`.
///
/// Asks the struct's `Deserialize` itself, so the list is never written
/// twice: serde hands its field names to `deserialize_struct`.
fn struct_keys<'de, T: Deserialize<'de>>() -> &'static [&'static str] {
    struct Probe(&'static [&'static str]);
    impl<'de> serde::Deserializer<'de> for &mut Probe {
        type Error = serde::de::value::Error;
        fn deserialize_any<V: serde::de::Visitor<'de>>(
            self,
            _: V,
        ) -> Result<V::Value, Self::Error> {
            Err(serde::de::Error::custom("probe"))
        }
        fn deserialize_struct<V: serde::de::Visitor<'de>>(
            self,
            _name: &'static str,
            fields: &'static [&'static str],
            _visitor: V,
        ) -> Result<V::Value, Self::Error> {
            self.0 = fields;
            Err(serde::de::Error::custom("probe"))
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
            bytes byte_buf option unit unit_struct newtype_struct seq tuple
            tuple_struct map enum identifier ignored_any
        }
    }
    let mut probe = Probe(&[]);
    let _ = T::deserialize(&mut probe);
    probe.0
}

/// The key serde's "unknown field `x`" message names.
fn unknown_field(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("unknown field `")?;
    rest.split('`').next()
}

/// The value an error without a span is about, found by reading the table
/// again without each key in turn: serde visits keys in order and stops at
/// the first bad value, so the same error comes back until the key at
/// fault is the one left out. "Missing field" errors are about the table.
fn culprit<'i, T: Deserialize<'i>>(shaped: &Part<'i>, message: &str) -> Option<Range<usize>> {
    if message.starts_with("missing field") {
        return None;
    }
    let table = shaped.get_ref().as_table()?;
    table
        .iter()
        .filter(|(key, _)| key.get_ref() != "type")
        .find_map(|(key, value)| {
            let mut without = table.clone();
            without.remove(key);
            let again = T::deserialize(ValueDeserializer::from(Spanned::new(
                shaped.span(),
                DeValue::Table(without),
            )));
            match again {
                Err(e) if e.message().trim() == message => None,
                _ => Some(value.span()),
            }
        })
}

/// How many times one component is read, each time without a key found
/// wrong: more mistakes than this in one component are said on the next run.
const MAX_READS: usize = 8;

/// Takes the top-level key `key` out of a table; false if it is not there.
fn remove_key(part: &mut Part<'_>, key: &str) -> bool {
    let DeValue::Table(table) = part.get_mut() else {
        return false;
    };
    let Some(found) = table.keys().find(|k| k.get_ref() == key).cloned() else {
        return false;
    };
    table.remove(&found).is_some()
}

/// The span of top-level key `key` in a table.
fn find_key(part: &Part<'_>, key: &str) -> Option<Range<usize>> {
    let table = part.get_ref().as_table()?;
    table
        .iter()
        .find(|(k, _)| k.get_ref() == key)
        .map(|(k, _)| k.span())
}

/// The span of the key at dotted `path` in `part`: the deepest key of the
/// path that is written, or the part itself.
fn key_span(part: &Part<'_>, path: &str) -> Range<usize> {
    let mut span = part.span();
    let mut at = part;
    for name in path.split('.') {
        let Some(table) = at.get_ref().as_table() else {
            break;
        };
        let Some((key, value)) = table.iter().find(|(k, _)| k.get_ref() == name) else {
            break;
        };
        span = key.span();
        at = value;
    }
    span
}

/// The dotted path of what is at `span` in `part` (`buffer.max_bytes`,
/// `paths[1]`), and the span of the key that holds it, which is where a
/// message points. For a key's own span (an unknown key), the path is of
/// the table holding it: the message names the key.
fn path_at(part: &Part<'_>, span: &Range<usize>) -> (String, Range<usize>) {
    let mut path = String::new();
    let mut at = part;
    let mut key_span = span.clone();
    loop {
        let next = match at.get_ref() {
            DeValue::Table(table) => {
                let mut next = None;
                for (key, value) in table {
                    if key.span() == *span {
                        return (path, key_span);
                    }
                    if contains(&value.span(), span) {
                        push_key(&mut path, key.get_ref());
                        key_span = key.span();
                        next = Some(value);
                        break;
                    }
                }
                next
            }
            DeValue::Array(array) => {
                let found = array
                    .iter()
                    .enumerate()
                    .find(|(_, v)| contains(&v.span(), span));
                found.map(|(i, value)| {
                    path.push_str(&format!("[{i}]"));
                    value
                })
            }
            _ => None,
        };
        match next {
            Some(value) if value.span() != at.span() => at = value,
            _ => return (path, key_span),
        }
    }
}

/// The span of the first string value equal to `text` in `part`, in file
/// order, leaving out those at a span in `skip`.
fn find_string(part: &Part<'_>, text: &str, skip: &[Range<usize>]) -> Option<Range<usize>> {
    match part.get_ref() {
        DeValue::String(s) if s.as_ref() == text && !skip.contains(&part.span()) => {
            Some(part.span())
        }
        DeValue::Table(table) => table.values().find_map(|v| find_string(v, text, skip)),
        DeValue::Array(array) => array.iter().find_map(|v| find_string(v, text, skip)),
        _ => None,
    }
}

/// `64MB` as `64MiB`: the binary unit of the same letter.
fn binary_unit(text: &str) -> String {
    let text = text.trim();
    let digits = text
        .find(|c: char| c.is_ascii_alphabetic())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(digits);
    let letter = unit.chars().next().map_or('K', |c| c.to_ascii_uppercase());
    format!("{}{letter}iB", number.trim())
}

fn push_key(path: &mut String, key: &str) {
    if !path.is_empty() {
        path.push('.');
    }
    let bare = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if bare {
        path.push_str(key);
    } else {
        path.push_str(&format!("{key:?}"));
    }
}

fn contains(outer: &Range<usize>, inner: &Range<usize>) -> bool {
    outer.start <= inner.start && inner.end <= outer.end
}

fn quoted(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// 1-based line and column (in characters) of a byte offset.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset.min(text.len())).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn struct_keys_are_the_fields_serde_reads() {
        assert_eq!(
            struct_keys::<OutputConfig>(),
            ["match", "buffer", "retry", "workers", "secondary", "type"]
        );
        assert_eq!(
            struct_keys::<SourceConfig>(),
            ["tag", "parser", "multiline", "time_error_field", "type"]
        );
    }

    #[test]
    fn three_mistakes_are_three_errors_not_only_the_first() {
        // Three mistakes in three components: all three are reported.
        let text = "[sources.a]\ntype = \"stdin\"\ntag = \"@x\"\n\
                    [sources.b]\ntype = \"tail\"\ntag = \"b\"\npaths = []\n\
                    [outputs.o]\nmatch = \"**\"\ntype = \"lake\"\ndatabase = \"d\"\ntable = \"t\"\nzstd_level = 0\n";
        let errors = build(text, "c.toml").err().unwrap().0;
        let at: Vec<(usize, &str)> = errors
            .iter()
            .map(|e| (e.line, e.message.split(':').next().unwrap_or("")))
            .collect();
        assert_eq!(at, [(3, "sources.a"), (7, "sources.b"), (13, "outputs.o")]);
    }

    #[test]
    fn an_output_with_three_mistakes_gets_three_errors() {
        let text = "[sources.a]\ntype = \"stdin\"\ntag = \"a\"\n\
                    [outputs.o]\nmatch = \"a.{b\"\ntype = \"lake\"\ndatabase = \"d\"\ntable = \"t\"\n\
                    zstd_level = 0\nbuffer = { max_bytes = 10 }\n";
        let errors = build(text, "c.toml").err().unwrap().0;
        let keys: Vec<(usize, &str)> = errors
            .iter()
            .map(|e| (e.line, e.message.split(": ").nth(1).unwrap_or("")))
            .collect();
        assert_eq!(
            keys,
            [(5, "match"), (9, "zstd_level"), (10, "buffer.max_bytes")]
        );
    }
}
