//! The two ways parsing goes wrong: a bad config (found once, at start) and
//! a line that does not parse (found per line, routed to `@ERROR`).

/// Why a parser's config was refused by [`ParserConfig::build`](crate::ParserConfig::build).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParserConfigError {
    /// `parser = { type = "none", key = "" }`.
    #[error("`key` must not be empty")]
    EmptyKey,
    /// `parser = { type = "json", time_key = "" }`.
    #[error("`time_key` must not be empty; leave it out to use the time of ingest")]
    EmptyTimeKey,
    /// A `time_format` that is neither a known name nor a usable strftime
    /// format.
    #[error("invalid time_format `{format}`: {reason}")]
    InvalidTimeFormat {
        /// The format as written.
        format: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A `time_zone` that is not UTC, a fixed offset or a known IANA name.
    #[error(
        "unknown time_zone `{0}`: use UTC, an offset such as +09:00, or an IANA name such as \
         America/Los_Angeles"
    )]
    UnknownTimeZone(String),
    /// A multiline `first_line` regex that does not compile, or a zero limit.
    #[error("invalid multiline rule: {0}")]
    InvalidFirstLine(String),
    /// `time_format` or `time_zone` without the `time_key` they apply to.
    #[error("`time_format` and `time_zone` need `time_key`, the field that holds the time")]
    TimeOptionWithoutKey,
    /// An nginx `format` that is neither a known name nor a `log_format` string.
    #[error(
        "unknown nginx format `{format}`: use one of {}, or a log_format string such as \
         '$remote_addr [$time_local] \"$request\" $status'",
        .names.join(", ")
    )]
    UnknownNginxFormat {
        /// The format as written.
        format: String,
        /// The names there are (the error carries them, so this module
        /// needs nothing from the parsers that use it).
        names: &'static [&'static str],
    },
    /// A `log_format` string without a single `$variable`.
    #[error("log_format `{0}` has no $variables, so it would capture nothing")]
    NoVariables(String),
    /// A `$` not followed by a variable name.
    #[error("log_format: `$` at byte {position} is not followed by a variable name")]
    MissingVariableName {
        /// Byte offset of the `$` in the format string.
        position: usize,
    },
    /// A `${` without its `}`.
    #[error("log_format: `${{` at byte {position} has no closing `}}`")]
    UnclosedBrace {
        /// Byte offset of the `$` in the format string.
        position: usize,
    },
    /// Two variables with nothing between them: where one ends is ambiguous.
    #[error(
        "log_format: ${first} is followed directly by ${second}; nothing marks where one ends, \
         so put a literal such as a space between them"
    )]
    AdjacentVariables {
        /// The first variable's name.
        first: String,
        /// The variable right after it.
        second: String,
    },
    /// A format pasted from nginx.conf whose quotes do not pair up.
    #[error("log_format: a quoted piece is not closed, or text stands outside the quotes")]
    UnbalancedQuote,
    /// A pasted `log_format` directive that nginx would refuse, such as
    /// one without a name or with an unknown `escape=`.
    #[error("log_format: {0}")]
    InvalidDirective(String),
    /// The directive's `escape=` and the `escape` option disagree.
    #[error("the log_format directive says escape={directive} but `escape` says {key}; keep one")]
    EscapeConflict {
        /// The directive's mode.
        directive: &'static str,
        /// The option's mode.
        key: &'static str,
    },
    /// An apache `format` that is neither a known name nor a `LogFormat` string.
    #[error(
        "unknown apache format `{format}`: use one of {}, or a LogFormat string such as \
         '%h %l %u %t \\\"%r\\\" %>s %b'",
        .names.join(", ")
    )]
    UnknownApacheFormat {
        /// The format as written.
        format: String,
        /// The names there are.
        names: &'static [&'static str],
    },
    /// An apache `time_zone` with no `%{FORMAT}t` time to apply to.
    #[error(
        "`time_zone` applies to times logged with a strftime format, %{{FORMAT}}t, and this \
         LogFormat has none (%t and %{{msec}}t carry their own offset)"
    )]
    TimeZoneWithoutStrftime,
    /// A `LogFormat` string that cannot be compiled.
    #[error("LogFormat at byte {position}: {problem}")]
    InvalidLogFormat {
        /// Byte offset into the format string.
        position: usize,
        /// What is wrong there.
        problem: String,
    },
    /// A `regex` parser's `pattern` that the regex crate refuses.
    #[error("invalid `pattern`: {0}")]
    InvalidRegex(String),
    /// A `pattern` without a named group, which would capture nothing.
    #[error("`pattern` has no named groups such as (?<status>\\d+), so it would capture nothing")]
    NoNamedGroups,
    /// An option naming a field the parser never produces.
    #[error(
        "`{option}` names `{field}`, which is not one of the fields this parser makes: {known}"
    )]
    UnknownField {
        /// The option, e.g. `types` or `time_key`.
        option: &'static str,
        /// The field it names.
        field: String,
        /// The fields there are, comma-separated.
        known: String,
    },
    /// `columns = []`.
    #[error("`columns` must name at least one column")]
    NoColumns,
    /// A column named twice, or with an empty name.
    #[error("`columns`: column {index} is named `{name}`, which is empty or used before")]
    BadColumn {
        /// The column's index, from 0.
        index: usize,
        /// Its name.
        name: String,
    },
    /// A csv `delimiter` that is not one plain ASCII character.
    #[error("`delimiter` must be one ASCII character other than a quote, \\r or \\n, found `{0}`")]
    InvalidDelimiter(String),
}

/// Why a line did not parse: a reason and the byte offset where matching failed.
///
/// Displays as `at byte 37: expected '] "' before $request`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("at byte {position}: {reason}")]
pub struct ParseError {
    /// Byte offset into the line (after a trailing `\r` was removed).
    pub position: usize,
    /// What went wrong there.
    pub reason: ParseErrorReason,
}

impl ParseError {
    pub(crate) fn new(position: usize, reason: ParseErrorReason) -> ParseError {
        ParseError { position, reason }
    }
}

/// What went wrong at a [`ParseError`]'s position.
///
/// [`UnexpectedEnd`](ParseErrorReason::UnexpectedEnd) means the line stopped
/// short (often a truncated write); the others mean the bytes are wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseErrorReason {
    /// The line has no bytes (or, for JSON, only whitespace).
    #[error("empty line")]
    EmptyLine,
    /// The line ended before the format was complete.
    #[error("line ended; expected {expected}")]
    UnexpectedEnd {
        /// What the format still needed, e.g. `' "' after $body_bytes_sent`.
        expected: String,
    },
    /// The bytes here are not what the format has here.
    #[error("expected {expected}")]
    Expected {
        /// What the format has here, e.g. `'[' before $time_local`.
        expected: String,
    },
    /// A typed field (such as `$status`) holds text that is not of its type.
    #[error("expected {expected} for ${field}, found '{found}'")]
    InvalidField {
        /// The variable's name.
        field: String,
        /// The type it should have, e.g. `an integer`.
        expected: &'static str,
        /// The start of the text found, lossy UTF-8.
        found: String,
    },
    /// Bytes after the format's final literal.
    #[error("unexpected bytes after the end of the format")]
    TrailingBytes,
    /// The line is not valid JSON.
    #[error("invalid JSON: {0}")]
    InvalidJson(String),
    /// The line is JSON but not an object, so it cannot be a record.
    #[error("expected a JSON object, found {0}")]
    NotAnObject(&'static str),
    /// A field's text is not of the type it is configured (or known) to have.
    #[error("expected {expected} for field `{field}`, found '{found}'")]
    InvalidValue {
        /// The field's name in the record.
        field: String,
        /// The type it should have, e.g. `an integer`.
        expected: &'static str,
        /// The start of the text found, lossy UTF-8.
        found: String,
    },
    /// The `regex` parser's pattern does not match the line.
    #[error("the line does not match the pattern")]
    NoMatch,
    /// A `csv` row with more or fewer fields than `columns`.
    #[error("expected {expected} fields, found {found}")]
    FieldCount {
        /// How many `columns` there are.
        expected: usize,
        /// How many fields the row has.
        found: usize,
    },
}

/// The start of `bytes` as text for an error message, bounded so a huge
/// field cannot blow up an error.
pub(crate) fn excerpt(bytes: &[u8]) -> String {
    const MAX: usize = 40;
    let cut = bytes.get(..MAX).unwrap_or(bytes);
    let mut text = String::from_utf8_lossy(cut).into_owned();
    if cut.len() < bytes.len() {
        text.push('…');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_position_and_reason() {
        let e = ParseError::new(
            37,
            ParseErrorReason::Expected {
                expected: "'] \"' before $request".into(),
            },
        );
        assert_eq!(e.to_string(), "at byte 37: expected '] \"' before $request");
    }

    #[test]
    fn excerpt_is_bounded() {
        assert_eq!(excerpt(b"abc"), "abc");
        let long = excerpt(&[b'x'; 100]);
        assert_eq!(long.chars().count(), 41);
        assert!(long.ends_with('…'));
    }
}
