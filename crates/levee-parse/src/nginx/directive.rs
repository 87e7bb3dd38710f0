//! Reading `format` as the operator wrote it: a `log_format` string, bare
//! or in nginx.conf's quotes, or the whole `log_format` directive pasted
//! from nginx.conf.
//!
//! ```text
//! log_format trial escape=json '{"addr":"$remote_addr",'
//!                              '"status":"$status"}';
//! ```
//!
//! The directive's arguments are read as nginx reads them: pieces in single
//! or double quotes, or bare words, joined with nothing between them, the
//! `;` at the end optional. Inside a piece, `\"`, `\'` and `\\` are the
//! character and `\t`, `\r`, `\n` the control character; any other
//! backslash is kept.

use std::borrow::Cow;

use super::NginxEscape;
use crate::ParserConfigError;

/// A `format` read: the `log_format` string, and the escape mode if the
/// directive named one.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Written<'a> {
    pub(super) format: Cow<'a, str>,
    pub(super) escape: Option<NginxEscape>,
}

/// The directive's keyword.
const KEYWORD: &str = "log_format";

/// True if `format` is pasted from nginx.conf: the directive, or its
/// quoted pieces.
pub(super) fn is_pasted(format: &str) -> bool {
    let trimmed = format.trim();
    trimmed.starts_with('\'') || directive_arguments(trimmed).is_some()
}

/// What follows `log_format` in a directive.
fn directive_arguments(trimmed: &str) -> Option<&str> {
    trimmed
        .strip_prefix(KEYWORD)
        .filter(|rest| rest.starts_with(|c: char| c.is_ascii_whitespace()))
}

/// Reads a `format` that is not one of the named formats: a whole
/// directive, quoted pieces, or the format string as it is.
pub(super) fn read(format: &str) -> Result<Written<'_>, ParserConfigError> {
    let trimmed = format.trim();
    if let Some(arguments) = directive_arguments(trimmed) {
        return read_directive(arguments);
    }
    // A string starting with `'` is the directive's format pieces; a bare
    // format may well start with `"` (`"$request" $status`), so only the
    // directive makes a double quote a quote.
    if trimmed.starts_with('\'') {
        let pieces = words(trimmed)?;
        return Ok(Written {
            format: Cow::Owned(pieces.into_iter().map(|w| w.text).collect()),
            escape: None,
        });
    }
    // `main escape=json '...' '...';`: a directive pasted without its
    // keyword would compile, its name and quotes taken as literal text, and
    // then match no line.
    if trimmed.ends_with("';") {
        return Err(ParserConfigError::InvalidDirective(
            "the format ends with `';` as a directive does, but does not start with \
             `log_format` or a quote: paste the directive whole, or only its quoted pieces"
                .to_owned(),
        ));
    }
    Ok(Written {
        format: Cow::Borrowed(format),
        escape: None,
    })
}

/// `NAME [escape=MODE] PIECE...` after the keyword.
fn read_directive(arguments: &str) -> Result<Written<'static>, ParserConfigError> {
    let invalid = |problem: &str| ParserConfigError::InvalidDirective(problem.to_owned());
    let mut words = words(arguments)?.into_iter().peekable();
    let name = words
        .next()
        .ok_or_else(|| invalid("the directive has no name and no format"))?;
    let escape = match words.next_if(|w| !w.quoted && w.text.starts_with("escape=")) {
        Some(word) => Some(escape_mode(&word.text["escape=".len()..])?),
        None => None,
    };
    let format: String = words.map(|w| w.text).collect();
    if format.is_empty() {
        return Err(invalid(if name.text.contains('$') {
            "the directive needs a name before its format: log_format NAME '...'"
        } else {
            "the directive has no format after its name"
        }));
    }
    Ok(Written {
        format: Cow::Owned(format),
        escape,
    })
}

fn escape_mode(mode: &str) -> Result<NginxEscape, ParserConfigError> {
    match mode {
        "default" => Ok(NginxEscape::Default),
        "json" => Ok(NginxEscape::Json),
        "none" => Ok(NginxEscape::None),
        other => Err(ParserConfigError::InvalidDirective(format!(
            "escape={other}: use escape=default, escape=json or escape=none"
        ))),
    }
}

/// One argument of the directive, its quotes and escapes undone.
#[derive(Debug, PartialEq, Eq)]
struct Word {
    text: String,
    /// It was written in quotes (so `'escape=json'` is format text).
    quoted: bool,
}

/// Splits arguments into words up to an optional final `;`.
fn words(arguments: &str) -> Result<Vec<Word>, ParserConfigError> {
    let mut words = Vec::new();
    let mut chars = arguments.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            ';' => {
                chars.next();
                if chars.any(|c| !c.is_whitespace()) {
                    return Err(ParserConfigError::InvalidDirective(
                        "text after the `;` that ends the directive".to_owned(),
                    ));
                }
            }
            '\'' | '"' => {
                chars.next();
                let mut text = String::new();
                loop {
                    match chars.next() {
                        None => return Err(ParserConfigError::UnbalancedQuote),
                        Some(q) if q == c => break,
                        Some('\\') => unescape(&mut text, chars.next())?,
                        Some(other) => text.push(other),
                    }
                }
                words.push(Word { text, quoted: true });
            }
            _ => {
                let mut text = String::new();
                while let Some(c) = chars.next_if(|&c| !c.is_whitespace() && c != ';') {
                    match c {
                        '\\' => unescape(&mut text, chars.next())?,
                        c => text.push(c),
                    }
                }
                words.push(Word {
                    text,
                    quoted: false,
                });
            }
        }
    }
    Ok(words)
}

/// The character after a backslash, as nginx's config reader takes it.
fn unescape(text: &mut String, next: Option<char>) -> Result<(), ParserConfigError> {
    match next.ok_or(ParserConfigError::UnbalancedQuote)? {
        c @ ('"' | '\'' | '\\') => text.push(c),
        't' => text.push('\t'),
        'r' => text.push('\r'),
        'n' => text.push('\n'),
        other => {
            text.push('\\');
            text.push(other);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn format(text: &str) -> String {
        read(text).unwrap().format.into_owned()
    }

    #[test]
    fn bare_formats_are_used_as_given() {
        let bare = r#""$request" $status"#;
        assert_eq!(
            read(bare).unwrap(),
            Written {
                format: Cow::Borrowed(bare),
                escape: None
            }
        );
    }

    #[test]
    fn nginx_conf_quoting_is_undone() {
        let pasted = "'$remote_addr - $remote_user [$time_local] \"$request\" '\n    \
                      '$status \\'$body_bytes_sent\\'';";
        assert_eq!(
            format(pasted),
            "$remote_addr - $remote_user [$time_local] \"$request\" $status '$body_bytes_sent'"
        );
        assert_eq!(format(r"'a\tb\x'"), "a\tb\\x");
    }

    #[test]
    fn directives_give_their_format_and_escape() {
        let written =
            read("log_format trial escape=json '{\"a\":\"$a\",'\n  \"\\\"b\\\":\\\"$b\\\"}\" ;\n")
                .unwrap();
        assert_eq!(written.format, r#"{"a":"$a","b":"$b"}"#);
        assert_eq!(written.escape, Some(NginxEscape::Json));
        let plain = read("log_format main $a ' - ' \"$b\"").unwrap();
        assert_eq!(plain.format, "$a - $b");
        assert_eq!(plain.escape, None);
        // A quoted `escape=` is format text, as nginx reads it.
        assert_eq!(format("log_format x 'escape=json' $a;"), "escape=json$a");
    }

    #[test]
    fn broken_directives_are_refused() {
        let err = |text: &str| read(text).unwrap_err();
        assert_eq!(err("'$a"), ParserConfigError::UnbalancedQuote);
        assert_eq!(err("log_format x \"$a"), ParserConfigError::UnbalancedQuote);
        assert!(matches!(
            err("log_format x escape=yes '$a'"),
            ParserConfigError::InvalidDirective(_)
        ));
        assert!(matches!(
            err("log_format x '$a'; y"),
            ParserConfigError::InvalidDirective(_)
        ));
        assert!(matches!(
            err("log_format  x "),
            ParserConfigError::InvalidDirective(_)
        ));
    }
}
