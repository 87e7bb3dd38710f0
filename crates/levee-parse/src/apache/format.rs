//! Compiling an Apache `LogFormat` string into literal and directive steps.
//!
//! `%h %l %u %t \"%r\"` becomes: directive `%h` ended by `" "`, `%l` ended
//! by `" "`, `%u` ended by `" ["`, `%t` ended by `"] \""`, `%r` ended by
//! `"\""` (`%t` logs its own brackets, so they join the literals around it).

use super::directive::{Directive, Kind, TimeFormat, lookup};
use crate::ParserConfigError;
use crate::access_log::matcher::Literal;
use crate::time::{TimeSpec, Zone};

/// A compiled `LogFormat`.
#[derive(Clone, Debug)]
pub(super) struct Format {
    /// Text before the first directive (often empty).
    pub(super) leading: Literal,
    /// The directives in order, each with the literal that ends it.
    pub(super) fields: Vec<Field>,
    /// Record entries per line, so a record is allocated once at its size.
    pub(super) entries: usize,
}

/// One directive of the format.
#[derive(Clone, Debug)]
pub(super) struct Field {
    pub(super) directive: Directive,
    /// The literal after the directive; `None` for one that ends the
    /// format and takes the rest of the line.
    pub(super) end: Option<Literal>,
    /// For a `%{FORMAT}t` time, its compiled format.
    pub(super) time: Option<TimeSpec>,
}

/// A piece of the format: literal text, or a directive and where it stands.
#[derive(Debug)]
enum Token {
    Literal(String),
    Directive(Directive, usize),
}

impl Format {
    /// Compiles a `LogFormat` string as written in httpd.conf, where `\"`
    /// is a quote, `\n` and `\t` are a newline and a tab; `%{FORMAT}t`
    /// times without an offset are read in `zone`.
    pub(super) fn compile(format: &str, zone: &Zone) -> Result<Format, ParserConfigError> {
        let tokens = tokenize(format)?;
        check_unique(&tokens)?;
        let mut tokens = tokens.into_iter().peekable();
        let leading = match tokens.next_if(|t| matches!(t, Token::Literal(_))) {
            Some(Token::Literal(text)) => text,
            _ => String::new(),
        };
        let mut fields: Vec<Field> = Vec::new();
        while let Some(token) = tokens.next() {
            let Token::Directive(directive, at) = token else {
                continue;
            };
            let end = match tokens.next_if(|t| matches!(t, Token::Literal(_))) {
                Some(Token::Literal(text)) => {
                    Some(Literal::new(&text, format!("after {}", directive.text)))
                }
                _ => None,
            };
            let time = match (&directive.kind, &directive.time_format) {
                (Kind::Strftime, Some(time)) => Some(strftime(&directive, time, at, zone)?),
                _ => None,
            };
            fields.push(Field {
                directive,
                end,
                time,
            });
        }
        let Some(first) = fields.first() else {
            return Err(invalid(
                0,
                "the format has no directives such as %h, so it would capture nothing".into(),
            ));
        };
        let leading = Literal::new(&leading, format!("before {}", first.directive.text));
        let entries = fields
            .iter()
            .map(|f| 1 + f.directive.kind.extra_names().len())
            .sum();
        Ok(Format {
            leading,
            fields,
            entries,
        })
    }
}

fn invalid(position: usize, problem: String) -> ParserConfigError {
    ParserConfigError::InvalidLogFormat { position, problem }
}

/// Compiles a `%{FORMAT}t` time's format, whose errors point at the
/// directive.
fn strftime(
    directive: &Directive,
    time: &TimeFormat,
    at: usize,
    zone: &Zone,
) -> Result<TimeSpec, ParserConfigError> {
    TimeSpec::strftime(&time.format, zone.clone()).map_err(|error| match error {
        ParserConfigError::InvalidTimeFormat { reason, .. } => invalid(
            at,
            format!(
                "{}: the time format cannot be read: {reason}",
                directive.text
            ),
        ),
        other => other,
    })
}

/// Splits a format into literals (escapes undone, neighbours merged) and
/// directives.
fn tokenize(format: &str) -> Result<Vec<Token>, ParserConfigError> {
    let mut tokens = Tokens(Vec::new());
    let mut chars = format.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some((_, 'n')) => tokens.literal('\n'),
                Some((_, 't')) => tokens.literal('\t'),
                Some((_, other)) => tokens.literal(other),
                None => tokens.literal('\\'),
            },
            '%' if chars.next_if(|&(_, c)| c == '%').is_some() => tokens.literal('%'),
            '%' => {
                // Status conditions (`400,501`, `!200`) and `<`/`>` only say
                // when or which value Apache logs; the field is the same.
                while chars
                    .next_if(|&(_, c)| matches!(c, '<' | '>' | '!' | ',' | '0'..='9'))
                    .is_some()
                {}
                let arg = match chars.next_if(|&(_, c)| c == '{') {
                    Some((open, _)) => {
                        let close = format[open..]
                            .find('}')
                            .map(|i| open + i)
                            .ok_or_else(|| invalid(at, "`%{` has no closing `}`".into()))?;
                        while chars.next_if(|&(i, _)| i <= close).is_some() {}
                        Some(&format[open + 1..close])
                    }
                    None => None,
                };
                let Some((letter_at, letter)) = chars.next() else {
                    return Err(invalid(
                        at,
                        "`%` ends the format without a directive".into(),
                    ));
                };
                let (name, kind) = lookup(letter, arg).map_err(|problem| invalid(at, problem))?;
                let directive = Directive {
                    text: format[at..letter_at + letter.len_utf8()].to_owned(),
                    name: name.into(),
                    kind,
                    time_format: TimeFormat::of(kind, arg),
                };
                if kind == Kind::Time {
                    tokens.literal('[');
                    tokens.directive(directive, at)?;
                    tokens.literal(']');
                } else {
                    tokens.directive(directive, at)?;
                }
            }
            other => tokens.literal(other),
        }
    }
    Ok(tokens.0)
}

struct Tokens(Vec<Token>);

impl Tokens {
    fn literal(&mut self, c: char) {
        match self.0.last_mut() {
            Some(Token::Literal(text)) => text.push(c),
            _ => self.0.push(Token::Literal(c.to_string())),
        }
    }

    /// Adds a directive; one right after another is refused (nothing marks
    /// where the first ends), except `%U%q`, which is split at the `?`.
    /// A piece of time right after a `%{FORMAT}t` of the same moment, with
    /// or without a literal between them, joins it.
    fn directive(&mut self, directive: Directive, at: usize) -> Result<(), ParserConfigError> {
        if let Some(piece) = &directive.time_format
            && let Some(joined) = self.time_before(piece.end)
        {
            joined.text.push_str(&directive.text);
            if let Some(time) = &mut joined.time_format {
                time.format.push_str(&piece.format);
            }
            return Ok(());
        }
        let Some(Token::Directive(previous, _)) = self.0.last_mut() else {
            self.0.push(Token::Directive(directive, at));
            return Ok(());
        };
        if previous.name == "url_path" && directive.kind == Kind::Query {
            previous.kind = Kind::UrlQuery;
            previous.text.push_str(&directive.text);
            return Ok(());
        }
        Err(invalid(
            at,
            format!(
                "{} follows {} with nothing between them; nothing marks where one ends, \
                 so put a literal such as a space between them",
                directive.text, previous.text
            ),
        ))
    }

    /// The `%{FORMAT}t` time of the moment `end` that the tokens end with,
    /// maybe followed by a literal, which moves into its format and text.
    fn time_before(&mut self, end: bool) -> Option<&mut Directive> {
        let is_time = |token: &Token| {
            matches!(token, Token::Directive(d, _)
                if d.kind == Kind::Strftime
                    && d.time_format.as_ref().is_some_and(|t| t.end == end))
        };
        let literal = match self.0.as_slice() {
            [.., time, Token::Literal(_)] if is_time(time) => match self.0.pop() {
                Some(Token::Literal(text)) => Some(text),
                _ => None,
            },
            [.., time] if is_time(time) => None,
            _ => return None,
        };
        let Some(Token::Directive(time, _)) = self.0.last_mut() else {
            return None;
        };
        if let Some(text) = literal {
            time.text.push_str(&text);
            if let Some(format) = &mut time.time_format {
                // In a strftime format `%` starts a conversion.
                format.format.push_str(&text.replace('%', "%%"));
            }
        }
        Some(time)
    }
}

/// Refuses a format that would write one record key twice.
fn check_unique(tokens: &[Token]) -> Result<(), ParserConfigError> {
    let mut seen: Vec<(&str, &str)> = Vec::new();
    for token in tokens {
        let Token::Directive(directive, at) = token else {
            continue;
        };
        let names = std::iter::once(directive.name.as_str())
            .chain(directive.kind.extra_names().iter().copied());
        for name in names {
            if let Some((_, first)) = seen.iter().find(|(seen, _)| *seen == name) {
                return Err(invalid(
                    *at,
                    format!(
                        "`{name}` would be logged twice, by {first} and by {}; keep one",
                        directive.text
                    ),
                ));
            }
            seen.push((name, &directive.text));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The format as (leading, [(directive text, name, end literal)]).
    fn shape(format: &str) -> (String, Vec<(String, String, Option<String>)>) {
        let f = Format::compile(format, &Zone::UTC).unwrap();
        let text = |b: &[u8]| String::from_utf8(b.to_vec()).unwrap();
        let fields = f
            .fields
            .iter()
            .map(|field| {
                (
                    field.directive.text.clone(),
                    field.directive.name.to_string(),
                    field.end.as_ref().map(|l| text(&l.bytes)),
                )
            })
            .collect();
        (text(&f.leading.bytes), fields)
    }

    fn owned(rows: &[(&str, &str, Option<&str>)]) -> Vec<(String, String, Option<String>)> {
        rows.iter()
            .map(|(d, n, e)| (d.to_string(), n.to_string(), e.map(str::to_owned)))
            .collect()
    }

    #[test]
    fn common_format_with_escaped_quotes() {
        let (leading, fields) = shape(r#"%h %l %u %t \"%r\" %>s %b"#);
        assert_eq!(leading, "");
        assert_eq!(
            fields,
            owned(&[
                ("%h", "remote_host", Some(" ")),
                ("%l", "remote_logname", Some(" ")),
                ("%u", "remote_user", Some(" [")),
                ("%t", "time", Some("] \"")),
                ("%r", "request", Some("\" ")),
                ("%>s", "status", Some(" ")),
                ("%b", "bytes_sent", None),
            ])
        );
    }

    #[test]
    fn leading_time_percent_and_conditions() {
        let (leading, fields) = shape(r#"%t 100%% %!200,304{Referer}i\t%{c}a"#);
        assert_eq!(leading, "[");
        assert_eq!(
            fields,
            owned(&[
                ("%t", "time", Some("] 100% ")),
                ("%!200,304{Referer}i", "header_referer", Some("\t")),
                ("%{c}a", "peer_addr", None),
            ])
        );
    }

    #[test]
    fn url_then_query_is_one_step() {
        let f = Format::compile("%m %U%q %H", &Zone::UTC).unwrap();
        assert_eq!(f.fields[1].directive.text, "%U%q");
        assert_eq!(f.fields[1].directive.kind, Kind::UrlQuery);
        assert_eq!(f.entries, 4);
    }

    #[test]
    fn literal_descriptions_name_their_directive() {
        let f = Format::compile(r#"[%h] \"%r\""#, &Zone::UTC).unwrap();
        assert_eq!(f.leading.expected, "'[' before %h");
        let end = f.fields[1].end.as_ref().unwrap();
        assert_eq!(end.expected, "'\\\"' after %r");
    }

    #[test]
    fn broken_formats_are_refused_with_positions() {
        let err = |f: &str| Format::compile(f, &Zone::UTC).unwrap_err().to_string();
        assert_eq!(
            err("%h%u"),
            "LogFormat at byte 2: %u follows %h with nothing between them; nothing marks \
             where one ends, so put a literal such as a space between them"
        );
        assert_eq!(
            err("%h %s %>s"),
            "LogFormat at byte 6: `status` would be logged twice, by %s and by %>s; keep one"
        );
        assert_eq!(
            err("%U%q %q"),
            "LogFormat at byte 5: `query_string` would be logged twice, by %U%q and by %q; keep one"
        );
        assert!(Format::compile("%r %{Referer}i %U%q", &Zone::UTC).is_ok());
        assert_eq!(
            err("%h %Z"),
            "LogFormat at byte 3: %Z is not a directive levee knows"
        );
        assert_eq!(
            err("%h %{Referer"),
            "LogFormat at byte 3: `%{` has no closing `}`"
        );
        assert_eq!(
            err("%h %"),
            "LogFormat at byte 3: `%` ends the format without a directive"
        );
        assert_eq!(
            err("%%"),
            "LogFormat at byte 0: the format has no directives such as %h, so it would capture nothing"
        );
        assert_eq!(
            err("%h %{%Y-%m-%d %Q}t"),
            "LogFormat at byte 3: %{%Y-%m-%d %Q}t: the time format cannot be read: `%Q` is not \
             supported; use %Y %y %m %d %e %j %b %h %B %a %A %H %k %I %l %p %M %S %f %z %Z %s %T \
             %F %D %R %n %t %%"
        );
        assert_eq!(
            err("%h %{%H:%M:%S}t"),
            "LogFormat at byte 3: %{%H:%M:%S}t: the time format cannot be read: it names no day: \
             it needs %m (or %b) and %d, or %j, or %s"
        );
        assert!(err("%{%Y-%m-%d %}t").contains("lone `%`"));
        assert!(err("%{seconds}t").contains("use sec, msec, usec"));
        // Pieces of two moments stay two fields, and one key cannot hold both.
        assert_eq!(
            err("%{begin:%F %T}t %{end:%F %T}t"),
            "LogFormat at byte 16: `time` would be logged twice, by %{begin:%F %T}t and by \
             %{end:%F %T}t; keep one"
        );
        assert!(err("%t %{%F %T}t").contains("`time` would be logged twice"));
    }

    #[test]
    fn strftime_time_is_one_field_ended_by_the_next_literal() {
        let (leading, fields) = shape("[%{%d/%b/%Y:%H:%M:%S %z}t] %h");
        assert_eq!(leading, "[");
        assert_eq!(
            fields,
            owned(&[
                ("%{%d/%b/%Y:%H:%M:%S %z}t", "time", Some("] ")),
                ("%h", "remote_host", None),
            ])
        );
        let f = Format::compile("[%{%d/%b/%Y:%H:%M:%S %z}t] %h", &Zone::UTC).unwrap();
        assert!(f.fields[0].time.is_some());
        assert!(f.fields[1].time.is_none());
    }

    #[test]
    fn pieces_of_one_time_join_into_one_format() {
        // The example of Apache's docs for a time with milliseconds.
        let f =
            Format::compile("%h [%{%d/%b/%Y %T}t.%{msec_frac}t %{%z}t] %>s", &Zone::UTC).unwrap();
        let time = &f.fields[1].directive;
        assert_eq!(time.text, "%{%d/%b/%Y %T}t.%{msec_frac}t %{%z}t");
        assert_eq!(
            time.time_format.as_ref().map(|t| t.format.as_str()),
            Some("%d/%b/%Y %T.%f %z")
        );
        assert_eq!(f.fields.len(), 3);
        assert_eq!(
            f.fields[1].end.as_ref().map(|l| &l.bytes[..]),
            Some(&b"] "[..])
        );
        // Adjacent pieces, a literal percent, and `end:` pieces join too.
        let f = Format::compile(
            "%{end:%F}t%{end:%T}t 100%% %{end:usec_frac}t|%h",
            &Zone::UTC,
        )
        .unwrap();
        assert_eq!(
            f.fields[0]
                .directive
                .time_format
                .as_ref()
                .map(|t| t.format.as_str()),
            Some("%F%T 100%% %f")
        );
        assert_eq!(f.fields.len(), 2);
        // A fraction of its own, or after another moment, is an integer field.
        let names = |format: &str| {
            let (_, fields) = shape(format);
            fields
                .into_iter()
                .map(|(_, name, _)| name)
                .collect::<Vec<_>>()
        };
        assert_eq!(names("%{sec}t.%{msec_frac}t"), ["time", "time_msec_frac"]);
        assert_eq!(
            names("%{msec_frac}t %{%F}t %{end:usec_frac}t"),
            ["time_msec_frac", "time", "time_usec_frac"]
        );
    }
}
