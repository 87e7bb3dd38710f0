//! The compiled parser that sources call on every line, and its output.

use levee_event::Record;

use crate::ParseError;
use crate::apache::ApacheParser;
use crate::csv::CsvParser;
use crate::json::JsonParser;
use crate::logfmt::LogfmtParser;
use crate::ltsv::LtsvParser;
use crate::nginx::NginxParser;
use crate::none::NoneParser;
use crate::regex::RegexParser;
use crate::syslog::SyslogParser;
use crate::time::Now;

/// A line's fields and, if it carried one, its event time.
#[derive(Clone, Debug, PartialEq)]
pub struct Parsed {
    /// The fields, in the order the line had them.
    pub record: Record,
    /// Event time in ns since epoch UTC, if the line carried one that parsed.
    pub time: Option<i64>,
    /// True when the line had a time field but its text did not read as a
    /// time (then `time` is `None` and the source uses the time of ingest);
    /// false when it parsed or when the line had no time to read. Sources
    /// count these.
    pub time_error: bool,
}

/// A compiled parser, built once from a [`ParserConfig`](crate::ParserConfig)
/// and shared by a source's readers (it is `Clone + Send + Sync`).
#[derive(Clone, Debug)]
pub struct Parser {
    kind: Kind,
}

#[derive(Clone, Debug)]
enum Kind {
    None(NoneParser),
    Json(JsonParser),
    Nginx(NginxParser),
    Apache(ApacheParser),
    Logfmt(LogfmtParser),
    Ltsv(LtsvParser),
    Csv(CsvParser),
    Regex(RegexParser),
    Syslog(SyslogParser),
}

impl Parser {
    pub(crate) fn none(parser: NoneParser) -> Parser {
        Parser {
            kind: Kind::None(parser),
        }
    }

    pub(crate) fn json(parser: JsonParser) -> Parser {
        Parser {
            kind: Kind::Json(parser),
        }
    }

    pub(crate) fn nginx(parser: NginxParser) -> Parser {
        Parser {
            kind: Kind::Nginx(parser),
        }
    }

    pub(crate) fn apache(parser: ApacheParser) -> Parser {
        Parser {
            kind: Kind::Apache(parser),
        }
    }

    pub(crate) fn logfmt(parser: LogfmtParser) -> Parser {
        Parser {
            kind: Kind::Logfmt(parser),
        }
    }

    pub(crate) fn ltsv(parser: LtsvParser) -> Parser {
        Parser {
            kind: Kind::Ltsv(parser),
        }
    }

    pub(crate) fn csv(parser: CsvParser) -> Parser {
        Parser {
            kind: Kind::Csv(parser),
        }
    }

    pub(crate) fn regex(parser: RegexParser) -> Parser {
        Parser {
            kind: Kind::Regex(parser),
        }
    }

    pub(crate) fn syslog(parser: SyslogParser) -> Parser {
        Parser {
            kind: Kind::Syslog(parser),
        }
    }

    /// Parses one line, given without its trailing newline; a trailing
    /// `\r` (or `\r\n`) is dropped first. Error positions count bytes of
    /// the line as given.
    pub fn parse(&self, line: &[u8]) -> Result<Parsed, ParseError> {
        self.parse_with(line, Now::System)
    }

    /// Like [`parse`](Parser::parse), with `now` (ns since epoch UTC, such
    /// as the time the line was read) as the present moment: a time written
    /// without its year (syslog's `Oct 11 22:14:15`) is placed by it.
    pub fn parse_at(&self, line: &[u8], now: i64) -> Result<Parsed, ParseError> {
        self.parse_with(line, Now::At(now))
    }

    /// True when `line` is a header row that the config says to drop
    /// (`csv` with `skip_header`), so the caller makes no event of it;
    /// always false for the other parsers. [`parse`](Parser::parse) still
    /// parses such a row like any other.
    pub fn is_header(&self, line: &[u8]) -> bool {
        match &self.kind {
            Kind::Csv(p) => p.is_header(without_line_ending(line)),
            _ => false,
        }
    }

    fn parse_with(&self, line: &[u8], now: Now) -> Result<Parsed, ParseError> {
        let line = without_line_ending(line);
        match &self.kind {
            Kind::None(p) => Ok(p.parse(line)),
            Kind::Json(p) => p.parse(line, now),
            Kind::Nginx(p) => p.parse(line),
            Kind::Apache(p) => p.parse(line, now),
            Kind::Logfmt(p) => p.parse(line, now),
            Kind::Ltsv(p) => p.parse(line, now),
            Kind::Csv(p) => p.parse(line, now),
            Kind::Regex(p) => p.parse(line, now),
            Kind::Syslog(p) => p.parse(line, now),
        }
    }

    /// The parser's type as written in config (`none`, `json`, `nginx`),
    /// e.g. for a metric's label.
    pub fn type_name(&self) -> &'static str {
        match self.kind {
            Kind::None(_) => "none",
            Kind::Json(_) => "json",
            Kind::Nginx(_) => "nginx",
            Kind::Apache(_) => "apache",
            Kind::Logfmt(_) => "logfmt",
            Kind::Ltsv(_) => "ltsv",
            Kind::Csv(_) => "csv",
            Kind::Regex(_) => "regex",
            Kind::Syslog(_) => "syslog",
        }
    }
}

/// `line` without a trailing `\n`, `\r` or `\r\n`.
fn without_line_ending(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// The `none` parser with key `message`.
impl Default for Parser {
    fn default() -> Parser {
        Parser::none(NoneParser::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use levee_event::Value;

    #[test]
    fn parser_is_shareable_across_threads() {
        fn assert_shareable<T: Clone + Send + Sync + 'static>() {}
        assert_shareable::<Parser>();
    }

    #[test]
    fn line_endings_are_dropped() {
        let p = Parser::default();
        for line in [&b"abc"[..], b"abc\r", b"abc\r\n", b"abc\n"] {
            assert_eq!(p.parse(line).unwrap().record["message"], Value::from("abc"));
        }
        assert_eq!(p.type_name(), "none");
        assert!(!p.is_header(b"message"));
    }
}
