//! The `multiline` setting of a line source: joins continuation lines,
//! such as a stack trace, to the line that starts their record, before the
//! parser sees them.
//!
//! ```toml
//! [sources.app]
//! type = "tail"
//! paths = ["/var/log/app.log"]
//! tag = "app"
//! multiline = { first_line = '^\d{4}-\d{2}-\d{2} ', flush_timeout = "1s" }
//! parser = { type = "regex", pattern = '...' }
//! ```

use std::time::Duration;

use levee_parse::Multiline;
use serde::Deserialize;

use crate::SourceConfigError;
use crate::units::{Interval, Size};

/// `multiline = { first_line = '^\d{4}-' }` on a `tail` or `stdin` source.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MultilineConfig {
    /// A regex (Rust `regex` syntax) matching the lines that start a record,
    /// such as `'^\d{4}-\d{2}-\d{2} '` for lines that begin with a date, or
    /// `'^\S'` for records whose continuation lines are indented. Other
    /// lines are appended to the record before them, after a `\n`. Lines
    /// that come before any first line form a record of their own.
    pub first_line: String,
    /// How long a record may wait for more lines after its last one before
    /// it is parsed anyway (default `"1s"`). A record also ends at the next
    /// first line and at the end of input.
    #[serde(default = "default_flush_timeout")]
    pub flush_timeout: Interval,
    /// Most lines in one record (default 1000). A longer record is cut there;
    /// the rest starts a new record, and the cut is counted in
    /// `levee_multiline_cut_records_total`.
    #[serde(default = "default_max_lines")]
    pub max_lines: usize,
    /// Most bytes in one record (default `"1MiB"`, at most `"64MiB"`); cut
    /// and counted like `max_lines`.
    #[serde(default = "default_max_bytes")]
    pub max_bytes: Size,
}

fn default_flush_timeout() -> Interval {
    Interval(Duration::from_secs(1))
}

fn default_max_lines() -> usize {
    1000
}

fn default_max_bytes() -> Size {
    Size(1024 * 1024)
}

/// A checked multiline setting.
#[derive(Clone, Debug)]
pub(crate) struct MultilineRule {
    pub(crate) rule: Multiline,
    pub(crate) flush_timeout: Duration,
}

impl MultilineConfig {
    pub(crate) fn build(&self) -> Result<MultilineRule, SourceConfigError> {
        if self.max_bytes.0 > 64 * 1024 * 1024 {
            return Err(SourceConfigError::invalid(
                "multiline.max_bytes",
                "multiline max_bytes must be at most 64MiB",
            ));
        }
        if self.flush_timeout.0.is_zero() {
            return Err(SourceConfigError::invalid(
                "multiline.flush_timeout",
                "multiline flush_timeout must be more than 0s",
            ));
        }
        let rule = Multiline::new(&self.first_line, self.max_lines, self.max_bytes.as_usize())
            .map_err(|e| SourceConfigError::invalid("multiline", e.to_string()))?;
        Ok(MultilineRule {
            rule,
            flush_timeout: self.flush_timeout.0,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(text: &str) -> Result<MultilineRule, String> {
        #[derive(Deserialize)]
        struct T {
            multiline: MultilineConfig,
        }
        let t: T = toml::from_str(text).map_err(|e| e.to_string())?;
        t.multiline.build().map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_and_units() {
        let rule = build(r#"multiline = { first_line = '^\d' }"#).unwrap();
        assert_eq!(rule.flush_timeout, Duration::from_secs(1));
        assert!(rule.rule.is_first_line(b"2024"));
        let rule = build(
            r#"multiline = { first_line = '^\S', flush_timeout = "250ms", max_lines = 5, max_bytes = "4KiB" }"#,
        )
        .unwrap();
        assert_eq!(rule.flush_timeout, Duration::from_millis(250));
    }

    #[test]
    fn bad_settings_are_refused() {
        for (text, want) in [
            (
                r#"multiline = { first_line = '(' }"#,
                "invalid multiline rule",
            ),
            (
                r#"multiline = { first_line = 'x', max_lines = 0 }"#,
                "at least 1",
            ),
            (
                r#"multiline = { first_line = 'x', max_bytes = "1GiB" }"#,
                "at most 64MiB",
            ),
            (
                r#"multiline = { first_line = 'x', flush_timeout = "0s" }"#,
                "more than 0s",
            ),
            (
                r#"multiline = { first_line = 'x', first = 'y' }"#,
                "unknown field `first`",
            ),
            (
                r#"multiline = { flush_timeout = "1s" }"#,
                "missing field `first_line`",
            ),
        ] {
            let err = build(text).unwrap_err();
            assert!(err.contains(want), "{text}: {err}");
        }
    }
}
