//! The `regex` parser: a pattern's named groups become the record's fields.

use std::borrow::Cow;

use ::regex::Regex;
use levee_event::Record;
use serde::Deserialize;

use crate::error::{ParseError, ParseErrorReason};
use crate::parser::LineParser;
use crate::time::Now;
use crate::time_key::{EventTime, TimeKey};
use crate::types::{FieldType, Types};
use crate::{Parsed, ParserConfigError};

/// `parser = { type = "regex", pattern = '^(?<host>\S+) (?<status>\d+)$', types = { status = "int" } }`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegexConfig {
    /// The pattern, in the syntax of Rust's `regex` crate (no look-around
    /// or back-references, so matching is linear in the line's length).
    /// Each named group, `(?<name>...)` or Fluent Bit's `(?P<name>...)`,
    /// becomes a field; a group that took no part in the match is left
    /// out. The pattern is not anchored unless it says `^`/`$`; a line it
    /// does not match goes to `@ERROR`. Bytes that are not UTF-8 are
    /// matched as U+FFFD. Write it in single quotes in TOML, so `\d` needs
    /// no escaping.
    pub pattern: String,
    /// Types of groups that are not text: `{ status = "int", took =
    /// "float", ok = "bool" }` (also `integer`, `boolean`, `string`). An
    /// empty capture of such a group is null; text that is not of its type
    /// makes the line fail to parse, naming the field.
    #[serde(default)]
    pub types: Types,
    /// The group that holds the event time, if any. The field stays in the
    /// record; if it does not read as a time, the source uses the time of
    /// ingest and counts it.
    #[serde(default)]
    pub time_key: Option<String>,
    /// How `time_key`'s value is written: `auto` (the default: RFC 3339 /
    /// ISO 8601 text, or an epoch number told apart by magnitude),
    /// `iso8601`, `epoch`, `epoch_millis`, `epoch_micros`, `epoch_nanos`, or
    /// a strftime format such as `%d/%b/%Y:%H:%M:%S %z` (see
    /// [`TimeSpec`](crate::time::TimeSpec) for the directives).
    #[serde(default)]
    pub time_format: Option<String>,
    /// The zone of times written without an offset: `UTC` (the default),
    /// a fixed offset such as `+09:00`, or an IANA name such as
    /// `America/Los_Angeles`.
    #[serde(default)]
    pub time_zone: Option<String>,
}

/// A compiled `regex` parser.
#[derive(Clone, Debug)]
pub(crate) struct RegexParser {
    regex: Regex,
    /// The named groups, in the pattern's order.
    groups: Vec<Group>,
    /// The time group's position in `groups`, and how to read it.
    time: Option<(usize, TimeKey)>,
}

#[derive(Clone, Debug)]
struct Group {
    /// The group's index among all the pattern's groups.
    index: usize,
    name: String,
    ty: FieldType,
}

impl RegexParser {
    pub(crate) fn new(config: &RegexConfig) -> Result<RegexParser, ParserConfigError> {
        let regex = Regex::new(&config.pattern)
            .map_err(|e| ParserConfigError::InvalidRegex(e.to_string()))?;
        let groups: Vec<Group> = regex
            .capture_names()
            .enumerate()
            .filter_map(|(index, name)| {
                let name = name?;
                Some(Group {
                    index,
                    name: name.to_owned(),
                    ty: config.types.get(name).copied().unwrap_or_default(),
                })
            })
            .collect();
        if groups.is_empty() {
            return Err(ParserConfigError::NoNamedGroups);
        }
        let known = || {
            groups
                .iter()
                .map(|g| g.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let position = |name: &str| groups.iter().position(|g| g.name == name);
        if let Some(field) = config.types.keys().find(|k| position(k).is_none()) {
            return Err(ParserConfigError::UnknownField {
                option: "types",
                field: field.clone(),
                known: known(),
            });
        }
        let time_key = TimeKey::new(
            config.time_key.as_deref(),
            config.time_format.as_deref(),
            config.time_zone.as_deref(),
        )?;
        let time = match time_key {
            Some(key) => match position(key.key()) {
                Some(at) => Some((at, key)),
                None => {
                    return Err(ParserConfigError::UnknownField {
                        option: "time_key",
                        field: key.key().to_owned(),
                        known: known(),
                    });
                }
            },
            None => None,
        };
        Ok(RegexParser {
            regex,
            groups,
            time,
        })
    }

    pub(crate) fn parse(&self, line: &[u8], now: Now) -> Result<Parsed, ParseError> {
        // Valid UTF-8 (nearly every line) is matched in place; otherwise
        // the lossy copy is, and positions are mapped back to the line.
        let (text, lossy) = match std::str::from_utf8(line) {
            Ok(text) => (Cow::Borrowed(text), false),
            Err(_) => (String::from_utf8_lossy(line), true),
        };
        let Some(captures) = self.regex.captures(&text) else {
            return Err(ParseError::new(0, ParseErrorReason::NoMatch));
        };
        let mut record = Record::with_capacity(self.groups.len());
        let mut time = EventTime::default();
        for (at, group) in self.groups.iter().enumerate() {
            let Some(found) = captures.get(group.index) else {
                continue;
            };
            if let Some((_, key)) = self.time.as_ref().filter(|(t, _)| *t == at) {
                time = key.read(found.as_str().as_bytes(), now);
            }
            let start = if lossy {
                line_offset(line, found.start())
            } else {
                found.start()
            };
            let value = group
                .ty
                .convert(&group.name, Cow::Borrowed(found.as_str()), start)?;
            record.insert(group.name.clone(), value);
        }
        Ok(Parsed {
            record,
            time: time.time,
            time_error: time.error,
        })
    }
}

impl LineParser for RegexParser {
    fn parse(&self, line: &[u8], now: Now) -> Result<Parsed, ParseError> {
        RegexParser::parse(self, line, now)
    }
}

/// Where byte `at` of `line`'s lossy UTF-8 text comes from in `line`:
/// each invalid run became one 3-byte U+FFFD.
fn line_offset(line: &[u8], at: usize) -> usize {
    const REPLACEMENT_LEN: usize = '\u{FFFD}'.len_utf8();
    let (mut in_text, mut in_line) = (0, 0);
    for chunk in line.utf8_chunks() {
        let valid = chunk.valid().len();
        if at < in_text + valid {
            return in_line + (at - in_text);
        }
        in_text += valid;
        in_line += valid;
        if !chunk.invalid().is_empty() {
            if at < in_text + REPLACEMENT_LEN {
                return in_line;
            }
            in_text += REPLACEMENT_LEN;
            in_line += chunk.invalid().len();
        }
    }
    in_line
}

#[cfg(test)]
mod tests;
