//! Several statements in one text: a `.sql` file, standard input, or what a
//! shell user has typed so far.
//!
//! Statements are cut at the `;` tokens of sqlparser's tokenizer (the one
//! DataFusion parses with), not at every `;` character: a `;` inside a
//! string, a quoted identifier or a comment does not end a statement. Only
//! the tokenizer is used, not the parser, so a statement DataFusion does not
//! know (Athena's `SHOW PARTITIONS`) still reaches the session whole.

use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::tokenizer::{Location, Token, Tokenizer};

use crate::QueryError;

/// A text cut into statements.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Script {
    /// Each statement ended by `;`, without it and without the comments
    /// before it, trimmed, in order. A piece
    /// holding only whitespace and comments (`;;`, a comment after the last
    /// `;`) is no statement.
    pub statements: Vec<Statement>,
    /// What follows the last `;` when it is more than whitespace and
    /// comments: a last statement without its `;` (a file may end so), or,
    /// in a shell, a statement still being typed.
    pub rest: Option<Statement>,
}

/// One statement of a [`Script`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Statement {
    /// Its text from its first token, trimmed, without the `;` that ended it.
    pub sql: String,
    /// The line (from 1) of the text it starts on, for messages.
    pub line: u64,
}

impl Script {
    /// Every statement, the unended last one included: what a file or
    /// standard input asks to run.
    pub fn into_all(self) -> Vec<Statement> {
        let mut all = self.statements;
        all.extend(self.rest);
        all
    }
}

/// Cuts `text` into statements at its `;` tokens.
///
/// Fails with [`QueryError::Syntax`] (naming the line and column) when the
/// text does not tokenize: a string, quoted name or comment left open.
pub fn split_statements(text: &str) -> Result<Script, QueryError> {
    let tokens = Tokenizer::new(&GenericDialect {}, text)
        // Strings as written: only the statement boundaries are wanted here.
        .with_unescape(false)
        .tokenize_with_location()
        .map_err(|e| QueryError::Syntax(e.to_string()))?;
    let offsets = Offsets::new(text);
    let mut script = Script::default();
    // The first token of the current piece that is not whitespace or a
    // comment: where its statement starts (comments before it are left out).
    let mut first: Option<Location> = None;
    for t in &tokens {
        match &t.token {
            Token::SemiColon => {
                let end = offsets.byte(t.span.start);
                if let Some(at) = first.take() {
                    script.statements.push(Statement {
                        sql: text[offsets.byte(at)..end].trim().to_owned(),
                        line: at.line,
                    });
                }
            }
            Token::Whitespace(_) | Token::EOF => {}
            _ => {
                first.get_or_insert(t.span.start);
            }
        }
    }
    if let Some(at) = first {
        script.rest = Some(Statement {
            sql: text[offsets.byte(at)..].trim().to_owned(),
            line: at.line,
        });
    }
    Ok(script)
}

/// Whether a shell user's `text` is one or more statements, each ended by
/// `;`, with nothing after the last but whitespace or comments: the shell
/// runs it on Enter, and otherwise reads another line. A string or comment
/// still open is not ended either, whatever `;` it holds.
pub fn is_complete(text: &str) -> bool {
    match split_statements(text) {
        Ok(script) => !script.statements.is_empty() && script.rest.is_none(),
        Err(_) => false,
    }
}

/// The tokenizer's locations (line and column, from 1, in characters) as
/// byte offsets into the text.
struct Offsets<'a> {
    text: &'a str,
    /// The byte offset each line starts at.
    lines: Vec<usize>,
}

impl<'a> Offsets<'a> {
    fn new(text: &'a str) -> Offsets<'a> {
        let mut lines = vec![0];
        lines.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Offsets { text, lines }
    }

    fn byte(&self, at: Location) -> usize {
        let line = usize::try_from(at.line.saturating_sub(1)).unwrap_or(usize::MAX);
        let Some(&line_start) = self.lines.get(line) else {
            return self.text.len();
        };
        let column = usize::try_from(at.column.saturating_sub(1)).unwrap_or(usize::MAX);
        self.text[line_start..]
            .char_indices()
            .nth(column)
            .map_or(self.text.len(), |(i, _)| line_start + i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sqls(text: &str) -> Vec<String> {
        split_statements(text)
            .unwrap()
            .into_all()
            .into_iter()
            .map(|s| s.sql)
            .collect()
    }

    #[test]
    fn statements_are_cut_at_each_semicolon() {
        assert_eq!(
            sqls("select 1;\nselect 2 ;select 3"),
            ["select 1", "select 2", "select 3"]
        );
    }

    #[test]
    fn a_semicolon_in_a_string_a_name_or_a_comment_ends_nothing() {
        let text = "select 'a;b' as \"x;y\" -- one; two\n, 2 /* ; */ as z;\nselect 'it''s;'";
        assert_eq!(
            sqls(text),
            [
                "select 'a;b' as \"x;y\" -- one; two\n, 2 /* ; */ as z",
                "select 'it''s;'"
            ]
        );
    }

    #[test]
    fn empty_pieces_and_trailing_comments_are_no_statements() {
        let script = split_statements(";;\n-- a comment; still\nselect 1;; -- done\n").unwrap();
        assert_eq!(script.statements.len(), 1, "{script:?}");
        assert_eq!(script.statements[0].sql, "select 1");
        assert_eq!(script.statements[0].line, 3);
        assert_eq!(script.rest, None);
        assert!(
            split_statements("  \n -- nothing\n")
                .unwrap()
                .into_all()
                .is_empty()
        );
    }

    #[test]
    fn statements_know_their_line() {
        let script = split_statements("select 1;\n\n  select\n 2;").unwrap();
        let lines: Vec<u64> = script.statements.iter().map(|s| s.line).collect();
        assert_eq!(lines, [1, 3]);
    }

    #[test]
    fn text_after_multibyte_characters_is_cut_where_the_semicolon_is() {
        assert_eq!(
            sqls("select 'héllo → wörld' as ü; select 'ß'"),
            ["select 'héllo → wörld' as ü", "select 'ß'"]
        );
    }

    #[test]
    fn statements_the_parser_does_not_know_are_cut_too() {
        assert_eq!(
            sqls("show partitions \"db-1\".t; show tables"),
            ["show partitions \"db-1\".t", "show tables"]
        );
    }

    #[test]
    fn an_open_string_or_comment_is_a_syntax_error_naming_where() {
        for text in ["select 'abc;", "select 1 /* ; ", "select \"x;"] {
            let err = split_statements(text).unwrap_err();
            assert!(matches!(err, QueryError::Syntax(_)), "{text}: {err}");
            assert!(err.to_string().contains("Line: 1"), "{text}: {err}");
        }
    }

    #[test]
    fn a_shell_runs_only_what_is_ended() {
        assert!(is_complete("select 1;"));
        assert!(is_complete("select 1; -- and a comment"));
        assert!(is_complete("select 1;\nselect 2;\n"));
        assert!(!is_complete("select 1"));
        assert!(!is_complete("select 1;\nselect 2"));
        assert!(!is_complete("select ';"));
        assert!(!is_complete("select 1 -- ;"));
        assert!(!is_complete("select 1 /* ; */"));
        assert!(!is_complete(""));
    }

    proptest::proptest! {
        /// Whatever the text, the splitter answers (never panics), and
        /// every statement it gives is a piece of the text.
        #[test]
        fn any_text_splits_into_pieces_of_itself(text in "(\\PC|[;'\"/*-]){0,64}") {
            if let Ok(script) = split_statements(&text) {
                for s in script.into_all() {
                    proptest::prop_assert!(text.contains(&s.sql), "{:?} not in {:?}", s.sql, text);
                    proptest::prop_assert!(!s.sql.is_empty());
                }
            }
            let _ = is_complete(&text);
        }
    }

    #[test]
    fn hostile_text_never_panics() {
        // Odd bytes, lone quotes and deep nesting: an error or statements,
        // never a panic or a cut inside a character.
        for text in [
            "\u{0}",
            "'",
            "\"",
            "`",
            "/*",
            "--",
            "$$",
            "$tag$",
            "e'\\",
            "x'zz'",
            "\r\n;\r\n",
            ";\u{feff};",
            "((((((((((",
            "select '\u{10ffff}';",
        ] {
            let _ = split_statements(text);
            let _ = is_complete(text);
        }
    }
}
