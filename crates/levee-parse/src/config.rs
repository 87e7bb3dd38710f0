//! The `parser` setting of a source: parsed from TOML, then built once.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};

use crate::apache::{ApacheConfig, ApacheParser};
use crate::csv::{CsvConfig, CsvParser};
use crate::json::{JsonConfig, JsonParser};
use crate::logfmt::{LogfmtConfig, LogfmtParser};
use crate::ltsv::{LtsvConfig, LtsvParser};
use crate::nginx::{NginxConfig, NginxParser};
use crate::none::{NoneConfig, NoneParser};
use crate::regex::{RegexConfig, RegexParser};
use crate::syslog::{SyslogConfig, SyslogParser};
use crate::{Parser, ParserConfigError};

/// Parser config as written in the user's TOML: either a bare string, or a
/// table with `type`.
///
/// ```toml
/// parser = "json"                                     # or "none", or "nginx" (format "combined")
/// parser = { type = "nginx", format = "combined" }    # or "main", "common", "combined_request_time",
///                                                     # or a full log_format string
/// parser = { type = "json", time_key = "timestamp" }
/// parser = { type = "none", key = "message" }
/// parser = { type = "apache", format = "combined" }   # or "common", "vhost_combined", a LogFormat string
/// parser = { type = "apache", format = '%{%Y-%m-%d %H:%M:%S}t %h \"%r\" %>s %b', time_zone = "Europe/Berlin" }
/// parser = { type = "logfmt", types = { took = "float" }, time_key = "ts" }   # or "logfmt"
/// parser = { type = "ltsv", types = { status = "int" }, time_key = "time" }   # or "ltsv"
/// parser = { type = "csv", columns = ["time", "host", "status"], delimiter = ",", types = { status = "int" } }
/// parser = { type = "csv", columns = ["time", "host", "status"], skip_header = true }
/// parser = { type = "regex", pattern = '^(?<host>\S+) (?<status>\d+)$', types = { status = "int" } }
/// parser = { type = "syslog", format = "auto", time_zone = "Europe/Berlin" }   # or "rfc3164", "rfc5424"
/// ```
///
/// The default is `none`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ParserConfig {
    /// The whole line as one field.
    None(NoneConfig),
    /// One JSON object per line.
    Json(JsonConfig),
    /// An nginx access log written with a `log_format`.
    Nginx(NginxConfig),
    /// An Apache access log written with a `LogFormat`.
    Apache(ApacheConfig),
    /// `key=value` pairs.
    Logfmt(LogfmtConfig),
    /// `label:value` fields separated by tabs.
    Ltsv(LtsvConfig),
    /// Delimiter-separated fields named by `columns`.
    Csv(CsvConfig),
    /// A regular expression's named groups.
    Regex(RegexConfig),
    /// Syslog lines, RFC 3164 or RFC 5424.
    Syslog(SyslogConfig),
}

/// The parser types, as written in config.
const TYPES: &[&str] = &[
    "none", "json", "nginx", "apache", "logfmt", "ltsv", "csv", "syslog", "regex",
];

impl Default for ParserConfig {
    fn default() -> ParserConfig {
        ParserConfig::None(NoneConfig::default())
    }
}

impl ParserConfig {
    /// Validates once and compiles (e.g. the log_format string) into a
    /// ready parser.
    pub fn build(&self) -> Result<Parser, ParserConfigError> {
        Ok(match self {
            ParserConfig::None(config) => Parser::none(NoneParser::new(config)?),
            ParserConfig::Json(config) => Parser::json(JsonParser::new(config)?),
            ParserConfig::Nginx(config) => Parser::nginx(NginxParser::new(config)?),
            ParserConfig::Apache(config) => Parser::apache(ApacheParser::new(config)?),
            ParserConfig::Logfmt(config) => Parser::logfmt(LogfmtParser::new(config)?),
            ParserConfig::Ltsv(config) => Parser::ltsv(LtsvParser::new(config)?),
            ParserConfig::Csv(config) => Parser::csv(CsvParser::new(config)?),
            ParserConfig::Regex(config) => Parser::regex(RegexParser::new(config)?),
            ParserConfig::Syslog(config) => Parser::syslog(SyslogParser::new(config)?),
        })
    }

    fn from_type_name<E: de::Error>(name: &str) -> Result<ParserConfig, E> {
        match name {
            "none" => Ok(ParserConfig::None(NoneConfig::default())),
            "json" => Ok(ParserConfig::Json(JsonConfig::default())),
            "nginx" => Ok(ParserConfig::Nginx(NginxConfig::default())),
            "apache" => Ok(ParserConfig::Apache(ApacheConfig::default())),
            "logfmt" => Ok(ParserConfig::Logfmt(LogfmtConfig::default())),
            "ltsv" => Ok(ParserConfig::Ltsv(LtsvConfig::default())),
            "syslog" => Ok(ParserConfig::Syslog(SyslogConfig::default())),
            "csv" => Err(E::custom(
                r#"the csv parser needs its columns: parser = { type = "csv", columns = ["a", "b"] }"#,
            )),
            "regex" => Err(E::custom(
                r#"the regex parser needs its pattern: parser = { type = "regex", pattern = '^(?<field>\S+)' }"#,
            )),
            other => Err(E::unknown_variant(other, TYPES)),
        }
    }
}

/// The table form; serde's internal tagging reads `type` and refuses
/// unknown types with the list of known ones.
#[derive(serde::Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
enum Table {
    None(NoneConfig),
    Json(JsonConfig),
    Nginx(NginxConfig),
    Apache(ApacheConfig),
    Logfmt(LogfmtConfig),
    Ltsv(LtsvConfig),
    Csv(CsvConfig),
    Syslog(SyslogConfig),
    Regex(RegexConfig),
}

impl<'de> Deserialize<'de> for ParserConfig {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<ParserConfig, D::Error> {
        deserializer.deserialize_any(ConfigVisitor)
    }
}

struct ConfigVisitor;

impl<'de> Visitor<'de> for ConfigVisitor {
    type Value = ParserConfig;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "a parser type ({}) or a table with `type`",
            TYPES.join(", ")
        )
    }

    fn visit_str<E: de::Error>(self, name: &str) -> Result<ParserConfig, E> {
        ParserConfig::from_type_name(name)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<ParserConfig, A::Error> {
        let table = Table::deserialize(de::value::MapAccessDeserializer::new(map))?;
        Ok(match table {
            Table::None(config) => ParserConfig::None(config),
            Table::Json(config) => ParserConfig::Json(config),
            Table::Nginx(config) => ParserConfig::Nginx(config),
            Table::Apache(config) => ParserConfig::Apache(config),
            Table::Logfmt(config) => ParserConfig::Logfmt(config),
            Table::Ltsv(config) => ParserConfig::Ltsv(config),
            Table::Csv(config) => ParserConfig::Csv(config),
            Table::Regex(config) => ParserConfig::Regex(config),
            Table::Syslog(config) => ParserConfig::Syslog(config),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    struct Source {
        #[serde(default)]
        parser: ParserConfig,
    }

    fn parse(toml_text: &str) -> Result<ParserConfig, String> {
        toml::from_str::<Source>(toml_text)
            .map(|s| s.parser)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn bare_strings_name_a_type_with_defaults() {
        assert_eq!(parse(r#"parser = "none""#), Ok(ParserConfig::default()));
        assert_eq!(
            parse(r#"parser = "json""#),
            Ok(ParserConfig::Json(JsonConfig::default()))
        );
        assert_eq!(
            parse(r#"parser = "nginx""#),
            Ok(ParserConfig::Nginx(NginxConfig {
                format: "combined".into()
            }))
        );
        assert_eq!(parse(""), Ok(ParserConfig::default()));
    }

    #[test]
    fn tables_carry_options() {
        assert_eq!(
            parse(r#"parser = { type = "nginx", format = "main" }"#),
            Ok(ParserConfig::Nginx(NginxConfig {
                format: "main".into()
            }))
        );
        assert_eq!(
            parse(r#"parser = { type = "json", time_key = "timestamp" }"#),
            Ok(ParserConfig::Json(JsonConfig {
                time_key: Some("timestamp".into()),
                ..JsonConfig::default()
            }))
        );
        assert_eq!(
            parse("[parser]\ntype = \"none\"\nkey = \"log\""),
            Ok(ParserConfig::None(NoneConfig { key: "log".into() }))
        );
        assert_eq!(
            parse(r#"parser = { type = "nginx" }"#),
            Ok(ParserConfig::Nginx(NginxConfig::default()))
        );
    }

    #[test]
    fn unknown_types_list_the_known_ones() {
        for text in [r#"parser = "fancy""#, r#"parser = { type = "fancy" }"#] {
            let err = parse(text).unwrap_err();
            assert!(
                err.contains("unknown variant `fancy`, expected one of `none`, `json`, `nginx`"),
                "{err}"
            );
        }
    }

    #[test]
    fn unknown_fields_and_missing_type_are_refused() {
        let err = parse(r#"parser = { type = "json", time_field = "ts" }"#).unwrap_err();
        assert!(
            err.contains("unknown field `time_field`, expected one of `time_key`"),
            "{err}"
        );
        let err = parse(r#"parser = { type = "nginx", formt = "main" }"#).unwrap_err();
        assert!(err.contains("unknown field `formt`"), "{err}");
        let err = parse(r#"parser = { format = "main" }"#).unwrap_err();
        assert!(err.contains("missing field `type`"), "{err}");
        let err = parse("parser = 3").unwrap_err();
        assert!(err.contains("a parser type"), "{err}");
    }

    #[test]
    fn build_validates_once() {
        assert_eq!(ParserConfig::default().build().unwrap().type_name(), "none");
        let nginx = ParserConfig::Nginx(NginxConfig {
            format: "combined_request_time".into(),
        });
        assert_eq!(nginx.build().unwrap().type_name(), "nginx");
        let unknown = ParserConfig::Nginx(NginxConfig {
            format: "fancy".into(),
        });
        let err = unknown.build().unwrap_err();
        assert!(
            matches!(&err, ParserConfigError::UnknownNginxFormat { format, .. } if format == "fancy"),
            "{err}"
        );
        assert!(
            err.to_string()
                .contains("use one of combined, common, main, combined_request_time"),
            "{err}"
        );
        let ambiguous = ParserConfig::Nginx(NginxConfig {
            format: "$remote_addr$remote_user".into(),
        });
        assert!(matches!(
            ambiguous.build(),
            Err(ParserConfigError::AdjacentVariables { .. })
        ));
    }
}
