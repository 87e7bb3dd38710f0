//! The `parser` setting of a source: parsed from TOML, then built once.
//!
//! This file is the one list of parsers: to add one, add a variant to
//! [`ParserConfig`] and an arm to [`ParserConfig::build`].

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

/// Parser config as written in the user's TOML: a table with `type`, or
/// just the type's name for a parser whose options all have defaults.
///
/// ```toml
/// parser = "json"                                     # or "none", or "nginx" (format "combined")
/// parser = { type = "nginx", format = "combined" }    # or "main", "common", "combined_request_time",
///                                                     # or a full log_format string
/// parser = { type = "nginx", format = """log_format trial escape=json '{"status":"$status",' '"host":"$host"}';""" }
/// parser = { type = "json", time_key = "timestamp", types = { status = "int", request_time = "float" } }
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
/// The default is `none`. A bare name is read as the table with only
/// `type`, so both forms go through this one enum; serde's tagging refuses
/// an unknown type with the list of known ones.
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize)]
// `remote = "Self"` makes the derived table reader an inherent function,
// which the `Deserialize` impl below calls for both forms.
#[serde(remote = "Self", tag = "type", rename_all = "lowercase")]
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

impl Default for ParserConfig {
    fn default() -> ParserConfig {
        ParserConfig::None(NoneConfig::default())
    }
}

impl ParserConfig {
    /// Validates once and compiles (e.g. the log_format string) into a
    /// ready parser. Each arm names the type as it is written in config.
    pub fn build(&self) -> Result<Parser, ParserConfigError> {
        Ok(match self {
            ParserConfig::None(config) => Parser::new("none", NoneParser::new(config)?),
            ParserConfig::Json(config) => Parser::new("json", JsonParser::new(config)?),
            ParserConfig::Nginx(config) => Parser::new("nginx", NginxParser::new(config)?),
            ParserConfig::Apache(config) => Parser::new("apache", ApacheParser::new(config)?),
            ParserConfig::Logfmt(config) => Parser::new("logfmt", LogfmtParser::new(config)?),
            ParserConfig::Ltsv(config) => Parser::new("ltsv", LtsvParser::new(config)?),
            ParserConfig::Csv(config) => Parser::new("csv", CsvParser::new(config)?),
            ParserConfig::Regex(config) => Parser::new("regex", RegexParser::new(config)?),
            ParserConfig::Syslog(config) => Parser::new("syslog", SyslogParser::new(config)?),
        })
    }
}

/// The `none` parser with key `message`, as `ParserConfig::default()` builds.
impl Default for Parser {
    fn default() -> Parser {
        Parser::new("none", NoneParser::default())
    }
}

impl<'de> Deserialize<'de> for ParserConfig {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<ParserConfig, D::Error> {
        deserializer.deserialize_any(ConfigVisitor)
    }
}

/// Reads either form with the one derived table reader.
struct ConfigVisitor;

impl<'de> Visitor<'de> for ConfigVisitor {
    type Value = ParserConfig;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a parser type such as \"json\", or a table with `type`")
    }

    fn visit_str<E: de::Error>(self, name: &str) -> Result<ParserConfig, E> {
        let table =
            de::value::MapDeserializer::<_, de::value::Error>::new(std::iter::once(("type", name)));
        ParserConfig::deserialize(table).map_err(|err| {
            let message = err.to_string();
            if message.starts_with("unknown variant") {
                E::custom(message)
            } else {
                // A parser with a required option, such as csv's `columns`.
                E::custom(format_args!(
                    "{message}: the {name} parser needs options, in a table such as \
                     parser = {{ type = \"{name}\", ... }}"
                ))
            }
        })
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<ParserConfig, A::Error> {
        ParserConfig::deserialize(de::value::MapAccessDeserializer::new(map))
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
                format: "combined".into(),
                ..NginxConfig::default()
            }))
        );
        assert_eq!(parse(""), Ok(ParserConfig::default()));
    }

    #[test]
    fn tables_carry_options() {
        assert_eq!(
            parse(r#"parser = { type = "nginx", format = "main" }"#),
            Ok(ParserConfig::Nginx(NginxConfig {
                format: "main".into(),
                ..NginxConfig::default()
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
    fn built_parsers_carry_the_type_written_in_config() {
        for (name, options) in [
            ("none", ""),
            ("json", ""),
            ("nginx", ""),
            ("apache", ""),
            ("logfmt", ""),
            ("ltsv", ""),
            ("csv", r#", columns = ["a"]"#),
            ("regex", r#", pattern = '(?<a>.)'"#),
            ("syslog", ""),
        ] {
            let config = parse(&format!(r#"parser = {{ type = "{name}"{options} }}"#)).unwrap();
            assert_eq!(config.build().unwrap().type_name(), name);
            if options.is_empty() {
                assert_eq!(parse(&format!(r#"parser = "{name}""#)), Ok(config));
            }
        }
    }

    #[test]
    fn build_validates_once() {
        assert_eq!(ParserConfig::default().build().unwrap().type_name(), "none");
        let nginx = ParserConfig::Nginx(NginxConfig {
            format: "combined_request_time".into(),
            ..NginxConfig::default()
        });
        assert_eq!(nginx.build().unwrap().type_name(), "nginx");
        let unknown = ParserConfig::Nginx(NginxConfig {
            format: "fancy".into(),
            ..NginxConfig::default()
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
            ..NginxConfig::default()
        });
        assert!(matches!(
            ambiguous.build(),
            Err(ParserConfigError::AdjacentVariables { .. })
        ));
    }
}
