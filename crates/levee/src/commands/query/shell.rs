//! `levee sql`: an interactive SQL shell over the lake.
//!
//! One session stays open, so every statement after the first is answered
//! warm (tables registered, files' footers cached by the OS). A statement
//! may span lines and runs when a line ends it with `;` (a `;` in a string
//! or comment does not count: [`levee_query::script`] decides). On a
//! terminal, lines come from `rustyline`, with history and tab completion
//! of table, column and function names and SQL keywords; otherwise they are
//! read from standard input by the same loop, without prompts, so a script
//! can be piped in.

use std::collections::BTreeSet;
use std::io::{self, BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, Result};
use levee_query::LakeSession;
use levee_query::script;
use levee_query::sql_ident;
use rustyline::completion::{Completer, Pair};
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::history::DefaultHistory;
use rustyline::validate::Validator;
use rustyline::{CompletionType, Config, Editor, Helper};

use super::SessionArgs;
use super::print::{self, Format};

/// `levee sql`'s arguments.
#[derive(clap::Args)]
pub struct SqlArgs {
    #[command(flatten)]
    pub session: SessionArgs,
}

const PROMPT: &str = "levee> ";
const MORE: &str = "   ...> ";

const HELP: &str = "\
Statements end with `;` and may span lines; Ctrl-C drops the statement being
typed (or stops the one running), Ctrl-D leaves. Tab completes names and keywords.
  .tables            the lake's tables (also \\dt)
  .schema TABLE      a table's columns and types (also \\d TABLE)
  .reload            open the lake again, to see tables created since
  .help              this (also \\?)
  .quit              leave (also .exit, \\q)";

/// Runs the shell until its input ends or `.quit`. Exit status 2 when
/// standard input was not a terminal and a statement failed, so a piped
/// script's failure is seen.
pub async fn sql(args: &SqlArgs) -> Result<ExitCode> {
    let mut session = args.session.open().await?;
    let interactive = io::stdin().is_terminal();
    let mut input = if interactive {
        println!(
            "levee sql: {} tables in {}. Statements end with `;`; .help for help.",
            session.tables().len(),
            args.session.lake
        );
        Input::terminal(&session)?
    } else {
        Input::Piped(io::stdin().lock())
    };
    let mut failed = 0usize;
    let mut buffer = String::new();
    // Lines read, and the line the buffer starts on: a piped script's
    // errors name the line of the script.
    let (mut lines_read, mut first_line) = (0u64, 1u64);
    loop {
        let prompt = if buffer.is_empty() { PROMPT } else { MORE };
        let line = match input.line(prompt)? {
            Some(Line::Text(line)) => line,
            Some(Line::Interrupted) => {
                buffer.clear();
                continue;
            }
            None => break,
        };
        lines_read += 1;
        if buffer.is_empty() {
            first_line = lines_read;
            let trimmed = line.trim();
            if trimmed.is_empty() {
                continue;
            }
            if trimmed.starts_with('.') || trimmed.starts_with('\\') {
                input.remember(trimmed);
                match command(trimmed, &mut session, args).await {
                    Ok(Flow::Go) => {}
                    Ok(Flow::Quit) => break,
                    Err(e) => {
                        failed += 1;
                        crate::stderr::say!("error: {e:#}");
                    }
                }
                if let Input::Terminal(editor, _) = &mut input {
                    editor.set_helper(Some(Completion::of(&session)));
                }
                continue;
            }
        }
        buffer.push_str(&line);
        buffer.push('\n');
        if script::is_complete(&buffer) {
            input.remember(buffer.trim_end());
            failed += run(&session, &buffer, first_line, interactive).await;
            buffer.clear();
        }
    }
    // A piped script may end without its last `;`: run what is left, as
    // `levee query -f` would. A terminal user who leaves drops it.
    if !interactive && !buffer.trim().is_empty() {
        failed += run(&session, &buffer, first_line, interactive).await;
    }
    input.save();
    Ok(if failed > 0 && !interactive {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}

/// Runs every statement of `text` (which starts on line `first_line` of
/// the input), printing each answer or error; returns how many failed.
async fn run(session: &LakeSession, text: &str, first_line: u64, interactive: bool) -> usize {
    let statements = match script::split_statements(text) {
        Ok(script) => script.into_all(),
        Err(e) => {
            crate::stderr::say!("error: {e}");
            return 1;
        }
    };
    let mut failed = 0;
    for statement in statements {
        let answer = if interactive {
            // Ctrl-C stops a long query, not the shell.
            tokio::select! {
                answer = session.sql(&statement.sql) => Some(answer),
                _ = tokio::signal::ctrl_c() => None,
            }
        } else {
            Some(session.sql(&statement.sql).await)
        };
        let shown = match answer {
            Some(Ok(result)) => {
                let mut out = io::stdout();
                print::answer(&mut out, Format::Table, &result).and_then(|()| {
                    writeln!(out)?;
                    Ok(out.flush()?)
                })
            }
            Some(Err(e)) => Err(anyhow::anyhow!("{e}{}", super::limit_hint(&e))),
            None => Err(anyhow::anyhow!("cancelled")),
        };
        if let Err(e) = shown {
            failed += 1;
            crate::stderr::say!("error: {e:#}");
            if !interactive {
                crate::stderr::say!(
                    "  in the statement on line {}",
                    first_line + statement.line - 1
                );
            }
        }
    }
    failed
}

enum Flow {
    Go,
    Quit,
}

/// A line starting with `.` or `\`: the shell's own commands.
async fn command(line: &str, session: &mut LakeSession, args: &SqlArgs) -> Result<Flow> {
    let mut words = line.split_whitespace();
    let name = words.next().unwrap_or_default();
    let arg = words.next();
    match (name, arg) {
        (".quit" | ".exit" | "\\q", _) => return Ok(Flow::Quit),
        (".help" | "\\?", _) => println!("{HELP}"),
        (".tables" | "\\dt", _) => {
            for t in session.tables() {
                println!("{}", qualified(&t.table.database, &t.name));
            }
            for s in session.skipped() {
                println!("(not readable: {}: {})", s.table, s.error);
            }
        }
        (".schema" | "\\d", Some(wanted)) => {
            let wanted = wanted.trim_end_matches(';').replace('"', "");
            let found = session
                .tables()
                .iter()
                .find(|t| t.name == wanted || format!("{}.{}", t.table.database, t.name) == wanted);
            let Some(table) = found else {
                anyhow::bail!("no table {wanted}; .tables lists them");
            };
            for field in table.schema.fields() {
                println!("{} {}", field.name(), field.data_type());
            }
        }
        (".schema" | "\\d", None) => anyhow::bail!("which table? .schema TABLE"),
        (".reload", _) => {
            *session = args.session.open().await?;
            println!("{} tables", session.tables().len());
        }
        _ => anyhow::bail!("unknown command {name}; .help lists them"),
    }
    Ok(Flow::Go)
}

/// A table's name as SQL takes it: `"db-1".t`, `db.t`.
fn qualified(database: &str, table: &str) -> String {
    format!("{}.{}", sql_ident(database), sql_ident(table))
}

/// Where lines come from.
enum Input {
    /// A user at a terminal, and where their history is kept (if anywhere).
    Terminal(Box<Editor<Completion, DefaultHistory>>, Option<PathBuf>),
    /// A pipe or a file: no prompts, no history.
    Piped(io::StdinLock<'static>),
}

enum Line {
    Text(String),
    /// Ctrl-C at the prompt: drop what is typed.
    Interrupted,
}

impl Input {
    fn terminal(session: &LakeSession) -> Result<Input> {
        let config = Config::builder()
            .history_ignore_dups(true)?
            .history_ignore_space(true)
            .max_history_size(10_000)?
            .completion_type(CompletionType::List)
            .build();
        let mut editor = Editor::with_config(config).context("cannot open the terminal")?;
        editor.set_helper(Some(Completion::of(session)));
        let history = history_file();
        if let Some(path) = &history {
            // None yet is fine: the first session makes it.
            let _ = editor.load_history(path);
        }
        Ok(Input::Terminal(Box::new(editor), history))
    }

    /// The next line without its newline, or `None` at the end.
    fn line(&mut self, prompt: &str) -> Result<Option<Line>> {
        match self {
            Input::Terminal(editor, _) => match editor.readline(prompt) {
                Ok(line) => Ok(Some(Line::Text(line))),
                Err(ReadlineError::Interrupted) => Ok(Some(Line::Interrupted)),
                Err(ReadlineError::Eof) => Ok(None),
                Err(e) => Err(e).context("cannot read the terminal"),
            },
            Input::Piped(stdin) => {
                let mut line = String::new();
                let n = stdin
                    .read_line(&mut line)
                    .context("cannot read standard input")?;
                if n == 0 {
                    return Ok(None);
                }
                let end = line.trim_end_matches(['\n', '\r']).len();
                line.truncate(end);
                Ok(Some(Line::Text(line)))
            }
        }
    }

    /// Keeps a statement or command in the history, whole.
    fn remember(&mut self, entry: &str) {
        if let Input::Terminal(editor, _) = self {
            let _ = editor.add_history_entry(entry);
        }
    }

    /// Writes the history out; a failure is said, not fatal.
    fn save(&mut self) {
        if let Input::Terminal(editor, Some(path)) = self
            && let Err(e) = editor.save_history(path)
        {
            crate::stderr::say!("levee: cannot save the history to {}: {e}", path.display());
        }
    }
}

/// `LEVEE_HISTORY` if set (empty: keep none), else `~/.levee_history`.
fn history_file() -> Option<PathBuf> {
    match std::env::var_os("LEVEE_HISTORY") {
        Some(path) if path.is_empty() => None,
        Some(path) => Some(PathBuf::from(path)),
        None => std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".levee_history")),
    }
}

/// SQL keywords worth completing: those of the queries logs get, not
/// sqlparser's several hundred.
const KEYWORDS: &[&str] = &[
    "all",
    "and",
    "as",
    "asc",
    "between",
    "by",
    "case",
    "cast",
    "count",
    "cross",
    "desc",
    "describe",
    "distinct",
    "else",
    "end",
    "except",
    "exists",
    "explain",
    "false",
    "filter",
    "first",
    "from",
    "full",
    "group",
    "having",
    "in",
    "inner",
    "intersect",
    "interval",
    "is",
    "join",
    "last",
    "left",
    "like",
    "limit",
    "not",
    "null",
    "nulls",
    "offset",
    "on",
    "or",
    "order",
    "outer",
    "over",
    "partition",
    "partitions",
    "right",
    "rows",
    "select",
    "show",
    "tables",
    "columns",
    "schemas",
    "then",
    "true",
    "union",
    "using",
    "when",
    "where",
    "with",
];

/// Tab completion: the lake's databases, tables and columns, the session's
/// functions, and [`KEYWORDS`].
struct Completion {
    /// Databases, tables and columns, sorted, each once.
    names: Vec<String>,
    /// Function names and keywords, lowercase.
    words: Vec<String>,
}

impl Completion {
    fn of(session: &LakeSession) -> Completion {
        let mut names = BTreeSet::new();
        for t in session.tables() {
            names.insert(t.table.database.clone());
            names.insert(t.name.clone());
            for field in t.schema.fields() {
                names.insert(field.name().clone());
            }
        }
        let state = session.context().state();
        let mut words: BTreeSet<String> = KEYWORDS.iter().map(|k| (*k).to_owned()).collect();
        words.extend(state.scalar_functions().keys().cloned());
        words.extend(state.aggregate_functions().keys().cloned());
        words.extend(state.window_functions().keys().cloned());
        Completion {
            names: names.into_iter().collect(),
            words: words.into_iter().collect(),
        }
    }

    /// Where the word before `pos` starts, and what it may become.
    fn candidates(&self, line: &str, pos: usize) -> (usize, Vec<Pair>) {
        let before = &line[..pos];
        // Inside a string: nothing to complete.
        if before.matches('\'').count() % 2 == 1 {
            return (pos, Vec::new());
        }
        // Inside a quoted name: any name, quoted, hyphens and all.
        if before.matches('"').count() % 2 == 1 {
            let start = before.rfind('"').unwrap_or(0);
            let prefix = &before[start + 1..];
            let found = self
                .names
                .iter()
                .filter(|n| n.starts_with(prefix))
                .map(|n| Pair {
                    display: n.clone(),
                    replacement: format!("\"{}\"", n.replace('"', "\"\"")),
                })
                .collect();
            return (start, found);
        }
        let start = before
            .char_indices()
            .rev()
            .take_while(|(_, c)| c.is_alphanumeric() || *c == '_')
            .last()
            .map_or(pos, |(i, _)| i);
        let prefix = &before[start..];
        if prefix.is_empty() {
            return (pos, Vec::new());
        }
        let lower = prefix.to_lowercase();
        let upper = prefix.chars().next().is_some_and(char::is_uppercase);
        let names = self
            .names
            .iter()
            .filter(|n| n.to_lowercase().starts_with(&lower))
            .map(|n| Pair {
                display: n.clone(),
                replacement: sql_ident(n),
            });
        let words = self
            .words
            .iter()
            .filter(|w| w.starts_with(&lower) && !self.names.contains(w))
            .map(|w| {
                let w = if upper { w.to_uppercase() } else { w.clone() };
                Pair {
                    display: w.clone(),
                    replacement: w,
                }
            });
        (start, names.chain(words).collect())
    }
}

impl Completer for Completion {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _: &rustyline::Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        Ok(self.candidates(line, pos))
    }
}

impl Hinter for Completion {
    type Hint = String;
}
impl Highlighter for Completion {}
impl Validator for Completion {}
impl Helper for Completion {}

#[cfg(test)]
mod tests {
    use super::*;

    fn completion() -> Completion {
        Completion {
            names: [
                "bounce_class",
                "dt",
                "eventlog",
                "eventlog_parquet",
                "glue-data-lake-usw2-prd",
            ]
            .map(String::from)
            .to_vec(),
            words: ["count_if", "from", "select"].map(String::from).to_vec(),
        }
    }

    fn replacements(line: &str) -> (usize, Vec<String>) {
        let (start, found) = completion().candidates(line, line.len());
        (start, found.into_iter().map(|p| p.replacement).collect())
    }

    #[test]
    fn table_and_column_names_complete() {
        assert_eq!(
            replacements("select dt from event"),
            (15, vec!["eventlog".into(), "eventlog_parquet".into()])
        );
        assert_eq!(replacements("select bou"), (7, vec!["bounce_class".into()]));
    }

    #[test]
    fn a_name_with_a_hyphen_completes_quoted() {
        assert_eq!(
            replacements("from gl"),
            (5, vec!["\"glue-data-lake-usw2-prd\"".into()])
        );
        assert_eq!(
            replacements("from \"glue-da"),
            (5, vec!["\"glue-data-lake-usw2-prd\"".into()])
        );
    }

    #[test]
    fn keywords_and_functions_complete_in_the_case_typed() {
        assert_eq!(replacements("SEL"), (0, vec!["SELECT".into()]));
        assert_eq!(replacements("sel"), (0, vec!["select".into()]));
        assert_eq!(replacements("select count_"), (7, vec!["count_if".into()]));
    }

    #[test]
    fn nothing_completes_inside_a_string_or_before_a_word() {
        assert_eq!(replacements("where dt = 'ev").1, Vec::<String>::new());
        assert_eq!(replacements("select ").1, Vec::<String>::new());
    }

    #[test]
    fn names_are_quoted_only_when_they_must_be() {
        assert_eq!(qualified("db-1", "t"), "\"db-1\".t");
        assert_eq!(qualified("db", "Upper"), "db.\"Upper\"");
    }
}
