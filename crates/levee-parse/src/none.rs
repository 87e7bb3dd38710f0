//! The `none` parser: the whole line as one text field.

use levee_event::{Record, Text, Value};
use serde::Deserialize;

use crate::parser::LineParser;
use crate::time::Now;
use crate::{ParseError, Parsed, ParserConfigError};

/// `parser = "none"` or `parser = { type = "none", key = "message" }`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoneConfig {
    /// The field that holds the line (default `message`). Bytes that are
    /// not UTF-8 become U+FFFD.
    #[serde(default = "default_key")]
    pub key: String,
}

fn default_key() -> String {
    "message".to_owned()
}

impl Default for NoneConfig {
    fn default() -> NoneConfig {
        NoneConfig { key: default_key() }
    }
}

/// A compiled `none` parser. It never fails.
#[derive(Clone, Debug)]
pub(crate) struct NoneParser {
    key: String,
}

/// Keyed `message`, like the default config.
impl Default for NoneParser {
    fn default() -> NoneParser {
        NoneParser { key: default_key() }
    }
}

impl NoneParser {
    pub(crate) fn new(config: &NoneConfig) -> Result<NoneParser, ParserConfigError> {
        if config.key.is_empty() {
            return Err(ParserConfigError::EmptyKey);
        }
        Ok(NoneParser {
            key: config.key.clone(),
        })
    }

    pub(crate) fn parse(&self, line: &[u8]) -> Parsed {
        let mut record = Record::with_capacity(1);
        record.insert(
            self.key.as_str(),
            Value::String(Text::from_utf8_lossy(line)),
        );
        Parsed {
            record,
            time: None,
            time_error: false,
        }
    }
}

impl LineParser for NoneParser {
    fn parse(&self, line: &[u8], _now: Now) -> Result<Parsed, ParseError> {
        Ok(NoneParser::parse(self, line))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_lands_under_the_key() {
        let parser = NoneParser::new(&NoneConfig { key: "log".into() }).unwrap();
        let parsed = parser.parse(b"hello \xff world");
        assert_eq!(parsed.record.len(), 1);
        assert_eq!(parsed.record["log"], Value::from("hello \u{FFFD} world"));
        assert_eq!(parsed.time, None);
    }

    #[test]
    fn empty_key_is_refused() {
        let err = NoneParser::new(&NoneConfig { key: String::new() }).unwrap_err();
        assert_eq!(err, ParserConfigError::EmptyKey);
    }
}
