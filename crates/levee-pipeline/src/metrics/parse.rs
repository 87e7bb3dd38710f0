//! A parser of the Prometheus text exposition format: the classic format
//! (0.0.4) and OpenMetrics 1.0 (a page whose last line is `# EOF`).
//!
//! A page parses whole or not at all: the first malformed line is an error
//! naming that line, and no samples are returned with it, so a caller never
//! exports half a page.

use std::collections::HashSet;

/// What a family measures, from its `# TYPE` line (`Untyped` without one).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetricType {
    /// A counter (`foo_total`, `foo_created`).
    Counter,
    /// A gauge.
    Gauge,
    /// A histogram (`foo_bucket{le=…}`, `foo_sum`, `foo_count`).
    Histogram,
    /// A summary (`foo{quantile=…}`, `foo_sum`, `foo_count`).
    Summary,
    /// OpenMetrics' gauge histogram (`foo_bucket`, `foo_gsum`, `foo_gcount`).
    GaugeHistogram,
    /// OpenMetrics' info (`foo_info`).
    Info,
    /// OpenMetrics' state set.
    StateSet,
    /// No type given (`untyped` in the classic format, `unknown` in OpenMetrics).
    Untyped,
}

impl MetricType {
    fn from_word(word: &str) -> Option<Self> {
        Some(match word {
            "counter" => Self::Counter,
            "gauge" => Self::Gauge,
            "histogram" => Self::Histogram,
            "summary" => Self::Summary,
            "gaugehistogram" => Self::GaugeHistogram,
            "info" => Self::Info,
            "stateset" => Self::StateSet,
            "untyped" | "unknown" => Self::Untyped,
            _ => return None,
        })
    }

    /// The lower-case word of a `# TYPE` line.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Counter => "counter",
            Self::Gauge => "gauge",
            Self::Histogram => "histogram",
            Self::Summary => "summary",
            Self::GaugeHistogram => "gaugehistogram",
            Self::Info => "info",
            Self::StateSet => "stateset",
            Self::Untyped => "untyped",
        }
    }

    /// The suffixes a sample name may add to its family's name.
    fn suffixes(self) -> &'static [&'static str] {
        match self {
            Self::Counter => &["", "_total", "_created"],
            Self::Histogram => &["_bucket", "_sum", "_count", "_created"],
            Self::Summary => &["", "_sum", "_count", "_created"],
            Self::GaugeHistogram => &["_bucket", "_gsum", "_gcount"],
            Self::Info => &["_info"],
            Self::Gauge | Self::StateSet | Self::Untyped => &[""],
        }
    }
}

/// One sample line.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// The sample's full name (`foo_bucket`, not the family's `foo`).
    pub name: String,
    /// Label names and values, in the page's order, unescaped.
    pub labels: Vec<(String, String)>,
    /// The value; NaN and ±Inf included.
    pub value: f64,
    /// The sample's timestamp in milliseconds since the Unix epoch, if given
    /// (OpenMetrics writes seconds; they are converted).
    pub timestamp_ms: Option<i64>,
}

/// A metric family: its `# HELP`/`# TYPE` and its samples.
#[derive(Clone, Debug, PartialEq)]
pub struct Family {
    /// The family's name (from `# TYPE`, or the sample's name without one).
    pub name: String,
    /// The `# HELP` text, unescaped.
    pub help: Option<String>,
    /// The `# TYPE`.
    pub kind: MetricType,
    /// The samples, in the page's order.
    pub samples: Vec<Sample>,
}

/// Why a page does not parse.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("line {line}: {kind}")]
pub struct ParseError {
    /// The 1-based line number.
    pub line: usize,
    /// What is wrong there.
    pub kind: ParseErrorKind,
}

/// What is wrong with a line.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ParseErrorKind {
    /// A metric or label name is missing or has a character names can't have.
    #[error("invalid name {0:?}")]
    InvalidName(String),
    /// `# HELP` or `# TYPE` without a name, or `# TYPE` with an unknown type.
    #[error("malformed {0} line")]
    MalformedDescriptor(&'static str),
    /// A second `# HELP` or `# TYPE` for one family, or one after its samples.
    #[error("{0} of {1:?} given twice or after its samples")]
    DuplicateDescriptor(&'static str, String),
    /// The label set is not `{name="value",…}`.
    #[error("malformed labels: {0}")]
    MalformedLabels(&'static str),
    /// A label value has a `\` escape other than `\\`, `\"` or `\n`.
    #[error("invalid escape \\{0} in a label value")]
    InvalidEscape(char),
    /// One label name twice in a sample.
    #[error("label {0:?} given twice")]
    DuplicateLabel(String),
    /// The value is not a number (NaN, +Inf and -Inf are numbers).
    #[error("invalid value {0:?}")]
    InvalidValue(String),
    /// The timestamp is not a number of milliseconds (seconds in OpenMetrics).
    #[error("invalid timestamp {0:?}")]
    InvalidTimestamp(String),
    /// Text after the timestamp (or an exemplar in a classic page).
    #[error("unexpected text {0:?} after the sample")]
    TrailingText(String),
    /// A family's samples are split by another family's.
    #[error("samples of {0:?} are not together")]
    SplitFamily(String),
    /// A histogram bucket without `le`.
    #[error("{0:?} has no le label")]
    MissingLe(String),
    /// Something after OpenMetrics' `# EOF`.
    #[error("text after # EOF")]
    AfterEof,
}

/// Parses a whole exposition page. A page whose last non-empty line is
/// `# EOF` is read as OpenMetrics (timestamps in seconds, exemplars allowed),
/// any other as the classic text format.
pub fn parse(page: &str) -> Result<Vec<Family>, ParseError> {
    let open_metrics = page
        .trim_end_matches(['\n', '\r'])
        .rsplit('\n')
        .next()
        .is_some_and(|last| last == "# EOF");
    let mut parser = PageParser {
        open_metrics,
        families: Vec::new(),
        seen: HashSet::new(),
        eof: false,
    };
    for (index, line) in page.split('\n').enumerate() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        parser.line(line).map_err(|kind| ParseError {
            line: index + 1,
            kind,
        })?;
    }
    Ok(parser.families)
}

struct PageParser {
    open_metrics: bool,
    families: Vec<Family>,
    /// Names of families already started, to catch a family split in two.
    seen: HashSet<String>,
    eof: bool,
}

impl PageParser {
    fn line(&mut self, line: &str) -> Result<(), ParseErrorKind> {
        if self.eof {
            return if line.is_empty() {
                Ok(())
            } else {
                Err(ParseErrorKind::AfterEof)
            };
        }
        if line.trim().is_empty() {
            return Ok(());
        }
        if let Some(comment) = line.strip_prefix('#') {
            return self.comment(comment);
        }
        self.sample(line)
    }

    fn comment(&mut self, comment: &str) -> Result<(), ParseErrorKind> {
        let comment = comment.trim_start_matches([' ', '\t']);
        if comment == "EOF" && self.open_metrics {
            self.eof = true;
            return Ok(());
        }
        let (word, rest) = split_word(comment);
        let which = match word {
            "HELP" => "HELP",
            "TYPE" => "TYPE",
            // UNIT (OpenMetrics) is not needed by any exporter; any other
            // comment is free text in the classic format.
            _ => return Ok(()),
        };
        let (name, text) = split_word(rest);
        if name.is_empty() {
            return Err(ParseErrorKind::MalformedDescriptor(which));
        }
        check_metric_name(name)?;
        let family = self.family_for_descriptor(name, which)?;
        if which == "HELP" {
            if family.help.is_some() {
                return Err(ParseErrorKind::DuplicateDescriptor("HELP", name.to_owned()));
            }
            family.help = Some(unescape_help(text));
        } else {
            let kind = MetricType::from_word(text.trim_end())
                .ok_or(ParseErrorKind::MalformedDescriptor("TYPE"))?;
            family.kind = kind;
        }
        Ok(())
    }

    /// The family a `# HELP`/`# TYPE` line describes: the current one if it
    /// has that name and no samples yet, else a new one.
    fn family_for_descriptor(
        &mut self,
        name: &str,
        which: &'static str,
    ) -> Result<&mut Family, ParseErrorKind> {
        let current = self
            .families
            .last()
            .is_some_and(|f| f.name == name && f.samples.is_empty());
        if !current {
            if !self.seen.insert(name.to_owned()) {
                return Err(ParseErrorKind::DuplicateDescriptor(which, name.to_owned()));
            }
            self.families.push(Family {
                name: name.to_owned(),
                help: None,
                kind: MetricType::Untyped,
                samples: Vec::new(),
            });
        } else if which == "TYPE"
            && self
                .families
                .last()
                .is_some_and(|f| f.kind != MetricType::Untyped)
        {
            return Err(ParseErrorKind::DuplicateDescriptor(which, name.to_owned()));
        }
        let last = self.families.len() - 1;
        Ok(&mut self.families[last])
    }

    fn sample(&mut self, line: &str) -> Result<(), ParseErrorKind> {
        let name_end = line
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
            .unwrap_or(line.len());
        let name = &line[..name_end];
        check_metric_name(name)?;
        let mut rest = &line[name_end..];
        let mut labels = Vec::new();
        if let Some(after) = rest.strip_prefix('{') {
            rest = parse_labels(after, &mut labels)?;
        }
        let mut fields = rest.split([' ', '\t']).filter(|f| !f.is_empty());
        let value_text = fields
            .next()
            .ok_or_else(|| ParseErrorKind::InvalidValue(String::new()))?;
        if !rest.starts_with([' ', '\t']) {
            return Err(ParseErrorKind::InvalidValue(rest.to_owned()));
        }
        let value = parse_value(value_text)?;
        let mut timestamp_ms = None;
        if let Some(ts) = fields.next() {
            if ts == "#" && self.open_metrics {
                // An exemplar follows; it is checked loosely and dropped.
                return self.push(name, labels, value, None);
            }
            timestamp_ms = Some(self.parse_timestamp(ts)?);
        }
        if let Some(extra) = fields.next()
            && !(extra == "#" && self.open_metrics)
        {
            return Err(ParseErrorKind::TrailingText(extra.to_owned()));
        }
        self.push(name, labels, value, timestamp_ms)
    }

    fn parse_timestamp(&self, text: &str) -> Result<i64, ParseErrorKind> {
        let bad = || ParseErrorKind::InvalidTimestamp(text.to_owned());
        if self.open_metrics {
            let seconds: f64 = text.parse().map_err(|_| bad())?;
            let ms = (seconds * 1000.0).round();
            if !ms.is_finite() || ms.abs() > 9.0e18 {
                return Err(bad());
            }
            // In range just above, so the cast neither saturates nor wraps.
            Ok(ms as i64)
        } else {
            text.parse().map_err(|_| bad())
        }
    }

    fn push(
        &mut self,
        name: &str,
        labels: Vec<(String, String)>,
        value: f64,
        timestamp_ms: Option<i64>,
    ) -> Result<(), ParseErrorKind> {
        let belongs = self.families.last().is_some_and(|f| {
            f.kind
                .suffixes()
                .iter()
                .any(|s| name.strip_suffix(s) == Some(f.name.as_str()))
        });
        if !belongs {
            if !self.seen.insert(name.to_owned()) {
                return Err(ParseErrorKind::SplitFamily(name.to_owned()));
            }
            self.families.push(Family {
                name: name.to_owned(),
                help: None,
                kind: MetricType::Untyped,
                samples: Vec::new(),
            });
        }
        let last = self.families.len() - 1;
        let family = &mut self.families[last];
        if matches!(
            family.kind,
            MetricType::Histogram | MetricType::GaugeHistogram
        ) && name.ends_with("_bucket")
            && !labels.iter().any(|(k, _)| k == "le")
        {
            return Err(ParseErrorKind::MissingLe(name.to_owned()));
        }
        family.samples.push(Sample {
            name: name.to_owned(),
            labels,
            value,
            timestamp_ms,
        });
        Ok(())
    }
}

/// The first whitespace-separated word and the rest after one separator.
fn split_word(text: &str) -> (&str, &str) {
    match text.find([' ', '\t']) {
        Some(i) => (&text[..i], &text[i + 1..]),
        None => (text, ""),
    }
}

fn check_metric_name(name: &str) -> Result<(), ParseErrorKind> {
    let mut chars = name.chars();
    let ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':');
    if ok {
        Ok(())
    } else {
        Err(ParseErrorKind::InvalidName(name.to_owned()))
    }
}

/// Parses `name="value",…}` (after the `{`) into `labels`; returns what
/// follows the `}`.
fn parse_labels<'a>(
    mut rest: &'a str,
    labels: &mut Vec<(String, String)>,
) -> Result<&'a str, ParseErrorKind> {
    loop {
        rest = rest.trim_start_matches([' ', '\t']);
        if let Some(after) = rest.strip_prefix('}') {
            return Ok(after);
        }
        let name_end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .ok_or(ParseErrorKind::MalformedLabels("no closing }"))?;
        let name = &rest[..name_end];
        if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
            return Err(ParseErrorKind::InvalidName(name.to_owned()));
        }
        rest = rest[name_end..].trim_start_matches([' ', '\t']);
        rest = rest
            .strip_prefix('=')
            .ok_or(ParseErrorKind::MalformedLabels("a label name without ="))?
            .trim_start_matches([' ', '\t']);
        rest = rest
            .strip_prefix('"')
            .ok_or(ParseErrorKind::MalformedLabels(
                "a label value without quotes",
            ))?;
        let (value, after) = unescape_value(rest)?;
        if labels.iter().any(|(k, _)| k == name) {
            return Err(ParseErrorKind::DuplicateLabel(name.to_owned()));
        }
        labels.push((name.to_owned(), value));
        rest = after.trim_start_matches([' ', '\t']);
        if let Some(after) = rest.strip_prefix(',') {
            rest = after;
        } else if !rest.starts_with('}') {
            return Err(ParseErrorKind::MalformedLabels(
                "labels not separated by commas",
            ));
        }
    }
}

/// A quoted label value (after its opening quote): the unescaped value and
/// what follows the closing quote.
fn unescape_value(text: &str) -> Result<(String, &str), ParseErrorKind> {
    let mut value = String::new();
    let mut chars = text.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Ok((value, &text[i + 1..])),
            '\\' => match chars.next() {
                Some((_, '\\')) => value.push('\\'),
                Some((_, '"')) => value.push('"'),
                Some((_, 'n')) => value.push('\n'),
                Some((_, other)) => return Err(ParseErrorKind::InvalidEscape(other)),
                None => break,
            },
            c => value.push(c),
        }
    }
    Err(ParseErrorKind::MalformedLabels(
        "a label value without its closing quote",
    ))
}

/// HELP text: `\\` and `\n` are escapes (and `\"` in OpenMetrics); any other
/// backslash stands for itself, as Prometheus reads it.
fn unescape_help(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.peek() {
                Some('\\') => out.push('\\'),
                Some('n') => out.push('\n'),
                Some('"') => out.push('"'),
                _ => {
                    out.push('\\');
                    continue;
                }
            }
            chars.next();
        } else {
            out.push(c);
        }
    }
    out
}

/// A sample value: a decimal or exponent number, `NaN`, `+Inf`, `-Inf`
/// (`Inf` too). Words Rust would also read (`infinity`, `nan`) are refused.
fn parse_value(text: &str) -> Result<f64, ParseErrorKind> {
    match text {
        "NaN" => return Ok(f64::NAN),
        "+Inf" | "Inf" => return Ok(f64::INFINITY),
        "-Inf" => return Ok(f64::NEG_INFINITY),
        _ => {}
    }
    let numeric = text
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-'));
    match text.parse::<f64>() {
        Ok(v) if numeric => Ok(v),
        _ => Err(ParseErrorKind::InvalidValue(text.to_owned())),
    }
}

#[cfg(test)]
mod tests;
