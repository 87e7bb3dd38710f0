//! Templates that build text from an event's fields, tag and time, as
//! filters write them.
//!
//! A template is one of:
//!
//! - plain text, used as written;
//! - text with `${field}` references and `${variable}`s, each optionally
//!   piped through functions, as in `${method|lower}_${path|segment(2)}`;
//! - exactly `$.field` (Fluentd's record_accessor style), a reference to one
//!   whole value, so that `set` can copy it with its type.
//!
//! Field references are dotted paths into nested maps (`geo_ip.country`).
//! Write `$$` for a literal `$`; any other `$` that does not start `${` (or
//! `$.` at the very start) is refused, so a typo never renders silently.
//!
//! These names are variables, as Fluentd's record_transformer has them, not
//! fields (a field so named is still reached whole with `$.time`):
//!
//! | variable | result |
//! | --- | --- |
//! | `tag` | the event's tag, `nginx.access` |
//! | `tag_parts[N]` | the tag's N-th part from 0, or from the end if negative: `tag_parts[-1]` is `access` |
//! | `tag_prefix[N]` | the first N+1 parts: `tag_prefix[0]` is `nginx` |
//! | `tag_suffix[N]` | the parts from the N-th on: `tag_suffix[1]` is `access` |
//! | `time` | the event time in UTC, RFC 3339 with milliseconds: `2018-09-01T12:00:00.000Z`; `${time\|strftime(%Y-%m-%d)}` formats it otherwise |
//! | `hostname` | this machine's host name, read once when the config is built |
//!
//! Any other name written as a variable (`tag_part[0]`, `tag_parts`) is
//! refused when the config is built. A tag part past the end is empty.
//! `strftime` knows `%Y %m %d %H %M %S` (zero-padded), `%L` (milliseconds),
//! `%N` (nanoseconds), `%s` (seconds since the epoch), `%F` (`%Y-%m-%d`),
//! `%T` (`%H:%M:%S`), `%z` (`+0000`), `%Z` (`UTC`) and `%%`.
//!
//! Functions apply left to right:
//!
//! | function | result |
//! | --- | --- |
//! | `lower`, `upper` | the text in lower or upper case |
//! | `last_segment` | the last non-empty `/`-separated part of a path, ignoring a `?query` or `#fragment` |
//! | `segment(N)` | the N-th (from 0) non-empty `/`-separated part, likewise: `/api/v1/webhooks/1` gives `webhooks` for `segment(2)` |
//! | `status_class` | `4xx` for `404`; empty unless the text is a status from 100 to 599 |
//! | `default(text)` | `text` if the value so far is empty (missing field, null, empty string, or an earlier function found nothing) |
//!
//! A missing field renders as empty text. Parsing validates everything once,
//! so rendering cannot fail and compiles nothing.

use std::fmt::{self, Write as _};
use std::ops::Range;
use std::sync::OnceLock;

use levee_event::time::UtcTime;
use levee_event::{Event, FieldHint, FieldPath, PathError, Tag, Value};

/// The functions a `${field|function}` reference may use, for error messages.
const KNOWN_FUNCTIONS: &str =
    "lower, upper, last_segment, segment(N), status_class, default(text), strftime(format) on time";

/// The variables a template may use, for error messages.
const KNOWN_VARIABLES: &str = "tag, tag_parts[N], tag_prefix[N], tag_suffix[N], time, hostname";

/// The `strftime` specifiers, for error messages.
const KNOWN_SPECIFIERS: &str = "%Y %m %d %H %M %S %L %N %s %F %T %z %Z %%";

/// Why a template was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// A `${` without its closing `}`.
    #[error("unclosed `${{` at byte {offset} in template `{template}`")]
    Unclosed {
        /// The template as written.
        template: String,
        /// Where the `${` starts.
        offset: usize,
    },
    /// A `(` or `)` without its partner inside `${...}`.
    #[error("unbalanced parentheses in `${{...}}` at byte {offset} in template `{template}`")]
    UnbalancedParens {
        /// The template as written.
        template: String,
        /// Where the `${` starts.
        offset: usize,
    },
    /// A `$` that starts neither `${` nor a leading `$.`.
    #[error(
        "stray `$` at byte {offset} in template `{template}`: write `${{field}}` for a field, \
         `$.field` as the whole template, or `$$` for a literal `$`"
    )]
    StrayDollar {
        /// The template as written.
        template: String,
        /// Where the `$` is.
        offset: usize,
    },
    /// A field path that breaks [`FieldPath::parse`]'s rule.
    #[error("in template `{template}`: {source}")]
    BadPath {
        /// The template as written.
        template: String,
        /// Why the path was refused.
        #[source]
        source: PathError,
    },
    /// A `${name[...]}` or other variable-like reference that is not one of
    /// the known variables.
    #[error(
        "unknown variable `{name}` in template `{template}`; known variables: {KNOWN_VARIABLES} \
         (other names are fields, written as dotted names such as `geo_ip.country`)"
    )]
    UnknownVariable {
        /// The template as written.
        template: String,
        /// The reference as written.
        name: String,
    },
    /// `${hostname}` where the host name cannot be read.
    #[error("`${{hostname}}` in template `{template}`: this machine's host name cannot be read")]
    NoHostname {
        /// The template as written.
        template: String,
    },
    /// A function name that is not one of the known ones.
    #[error(
        "unknown function `{name}` in template `{template}`; known functions: {KNOWN_FUNCTIONS}"
    )]
    UnknownFunction {
        /// The template as written.
        template: String,
        /// The unknown name.
        name: String,
    },
    /// A function given a bad argument, or none when it needs one, or one
    /// when it takes none.
    #[error("function `{function}` in template `{template}`: {reason}")]
    BadArgument {
        /// The template as written.
        template: String,
        /// The function's name.
        function: String,
        /// What is wrong, with the expected form.
        reason: String,
    },
}

/// A compiled template; see the module documentation for the syntax.
#[derive(Clone)]
pub struct Template {
    source: String,
    parts: Vec<Part>,
}

#[derive(Clone, Debug, PartialEq)]
enum Part {
    Literal(String),
    Field {
        path: FieldPath,
        functions: Vec<Function>,
        /// Where a top-level field was last found (see
        /// [`levee_event::Record::get_hinted`]).
        hint: Hint,
    },
    Variable {
        variable: Variable,
        functions: Vec<Function>,
    },
}

/// What a `${variable}` reads from the event.
#[derive(Clone, Debug, PartialEq)]
enum Variable {
    Tag,
    TagPart(isize),
    TagPrefix(usize),
    TagSuffix(usize),
    Time(TimeFormat),
}

/// How `${time}` is written.
#[derive(Clone, Debug, PartialEq)]
enum TimeFormat {
    /// `2018-09-01T12:00:00.000Z`.
    Rfc3339,
    /// A compiled `strftime(...)`.
    Strftime(Vec<TimeItem>),
}

#[derive(Clone, Debug, PartialEq)]
enum TimeItem {
    Text(String),
    Year,
    Month,
    Day,
    Hour,
    Minute,
    Second,
    Millis,
    Nanos,
    Epoch,
}

/// A [`FieldHint`] that every hint equals, so parts compare by what they say.
#[derive(Clone, Debug, Default)]
struct Hint(FieldHint);

impl PartialEq for Hint {
    fn eq(&self, _: &Hint) -> bool {
        true
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Function {
    Lower,
    Upper,
    LastSegment,
    Segment(usize),
    StatusClass,
    Default(String),
}

impl Template {
    /// Compiles `"${method|lower}_${path|segment(2)}"`, `"$.type"` (a
    /// whole-value field reference in Fluentd's record_accessor style, also
    /// `$.geo_ip.country` for nested), or plain text.
    pub fn parse(text: &str) -> Result<Template, TemplateError> {
        let parts = match text.strip_prefix("$.") {
            Some(path) => vec![Part::Field {
                path: check_path(text, path)?,
                functions: Vec::new(),
                hint: Hint::default(),
            }],
            None => parse_parts(text)?,
        };
        Ok(Template {
            source: text.to_owned(),
            parts,
        })
    }

    /// The template as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Renders against an event into `out` (cleared first). Missing fields
    /// render as empty text, or as the `default(x)` function's argument.
    pub fn render_into(&self, event: &Event, out: &mut String) {
        out.clear();
        let record = &event.record;
        for part in &self.parts {
            match part {
                Part::Literal(text) => out.push_str(text),
                Part::Variable {
                    variable,
                    functions,
                } => {
                    let start = out.len();
                    variable.push(event, out);
                    for function in functions {
                        function.apply(out, start);
                    }
                }
                Part::Field {
                    path,
                    functions,
                    hint,
                } => {
                    let start = out.len();
                    let value = if path.is_nested() {
                        path.get(record)
                    } else {
                        record.get_hinted(path.as_str(), &hint.0)
                    };
                    let mut functions = functions.as_slice();
                    match (value, functions.first()) {
                        // A path's part is pushed alone, not the path and
                        // then cut down to its part.
                        (
                            Some(Value::String(text)),
                            Some(first @ (Function::Segment(_) | Function::LastSegment)),
                        ) => {
                            if let Some(range) = first.segment_of(text) {
                                out.push_str(&text[range]);
                            }
                            functions = &functions[1..];
                        }
                        (Some(value), _) => push_value(out, value),
                        (None, _) => {}
                    }
                    for function in functions {
                        function.apply(out, start);
                    }
                }
            }
        }
    }

    /// Renders against an event into a new string.
    pub fn render(&self, event: &Event) -> String {
        let mut out = String::new();
        self.render_into(event, &mut out);
        out
    }

    /// If the template is exactly one field reference with no functions, the
    /// field path — so `set` can copy the typed value (an Int stays an Int)
    /// instead of its text.
    pub fn as_field(&self) -> Option<&FieldPath> {
        match self.parts.as_slice() {
            [
                Part::Field {
                    path, functions, ..
                },
            ] if functions.is_empty() => Some(path),
            _ => None,
        }
    }

    /// If the template reads nothing from the event, the text it always
    /// renders (`${hostname}` is read when the template is compiled).
    pub fn as_literal(&self) -> Option<&str> {
        match self.parts.as_slice() {
            [] => Some(""),
            [Part::Literal(text)] => Some(text),
            _ => None,
        }
    }

    /// The field paths the template reads, in order of appearance.
    pub fn fields(&self) -> impl Iterator<Item = &FieldPath> {
        self.parts.iter().filter_map(|part| match part {
            Part::Field { path, .. } => Some(path),
            Part::Literal(_) | Part::Variable { .. } => None,
        })
    }
}

impl fmt::Debug for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Template({:?})", self.source)
    }
}

impl fmt::Display for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

impl std::str::FromStr for Template {
    type Err = TemplateError;
    fn from_str(text: &str) -> Result<Template, TemplateError> {
        Template::parse(text)
    }
}

/// Splits text into literals and `${...}` references.
fn parse_parts(template: &str) -> Result<Vec<Part>, TemplateError> {
    let mut parts = Vec::new();
    let mut literal = String::new();
    let mut rest = template;
    while let Some(dollar) = rest.find('$') {
        literal.push_str(&rest[..dollar]);
        let offset = template.len() - rest.len() + dollar;
        let after = &rest[dollar + 1..];
        if let Some(after) = after.strip_prefix('$') {
            literal.push('$');
            rest = after;
        } else if let Some(inner_and_rest) = after.strip_prefix('{') {
            let close = find_close(template, offset, inner_and_rest)?;
            match parse_reference(template, &inner_and_rest[..close])? {
                // `${hostname}`, known now: one literal with its neighbours.
                Part::Literal(text) => literal.push_str(&text),
                part => {
                    if !literal.is_empty() {
                        parts.push(Part::Literal(std::mem::take(&mut literal)));
                    }
                    parts.push(part);
                }
            }
            rest = &inner_and_rest[close + 1..];
        } else {
            return Err(TemplateError::StrayDollar {
                template: template.to_owned(),
                offset,
            });
        }
    }
    literal.push_str(rest);
    if !literal.is_empty() {
        parts.push(Part::Literal(literal));
    }
    Ok(parts)
}

/// The index of the `}` closing a reference; `}` inside a function's
/// parentheses (as in `default(})`) does not close it.
fn find_close(template: &str, offset: usize, text: &str) -> Result<usize, TemplateError> {
    let mut depth = 0usize;
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth = depth
                    .checked_sub(1)
                    .ok_or_else(|| TemplateError::UnbalancedParens {
                        template: template.to_owned(),
                        offset,
                    })?;
            }
            '}' if depth == 0 => return Ok(i),
            _ => {}
        }
    }
    Err(if depth > 0 {
        TemplateError::UnbalancedParens {
            template: template.to_owned(),
            offset,
        }
    } else {
        TemplateError::Unclosed {
            template: template.to_owned(),
            offset,
        }
    })
}

/// Parses the inside of `${...}`: a variable or a path, then
/// `|`-separated functions. `${hostname}` becomes literal text.
fn parse_reference(template: &str, inner: &str) -> Result<Part, TemplateError> {
    let mut pieces = split_pipes(inner).map(str::trim).peekable();
    let name = pieces.next().unwrap_or("");
    let variable = match name {
        "tag" => Some(Variable::Tag),
        "time" => {
            let format = match pieces.next_if(|piece| function_name(piece) == "strftime") {
                Some(piece) => parse_strftime(template, piece)?,
                None => TimeFormat::Rfc3339,
            };
            Some(Variable::Time(format))
        }
        "hostname" => {
            let functions = parse_functions(template, pieces)?;
            let mut text = hostname()
                .ok_or_else(|| TemplateError::NoHostname {
                    template: template.to_owned(),
                })?
                .to_owned();
            for function in &functions {
                function.apply(&mut text, 0);
            }
            return Ok(Part::Literal(text));
        }
        _ if name.contains(['[', ']']) || INDEXED.contains(&name) => {
            Some(parse_indexed(template, name)?)
        }
        _ => None,
    };
    let functions = parse_functions(template, pieces)?;
    Ok(match variable {
        Some(variable) => Part::Variable {
            variable,
            functions,
        },
        None => Part::Field {
            path: check_path(template, name)?,
            functions,
            hint: Hint::default(),
        },
    })
}

/// The variables that take an index, `tag_parts[N]`.
const INDEXED: [&str; 3] = ["tag_parts", "tag_prefix", "tag_suffix"];

/// Parses `tag_parts[N]`, `tag_prefix[N]` or `tag_suffix[N]`.
fn parse_indexed(template: &str, name: &str) -> Result<Variable, TemplateError> {
    let unknown = || TemplateError::UnknownVariable {
        template: template.to_owned(),
        name: name.to_owned(),
    };
    let (base, index) = name
        .strip_suffix(']')
        .and_then(|head| head.split_once('['))
        .map(|(base, index)| (base.trim(), index.trim()))
        .ok_or_else(unknown)?;
    if !INDEXED.contains(&base) {
        return Err(unknown());
    }
    let bad_index = |reason: &str| bad_argument(template, base, reason.to_owned());
    match base {
        "tag_parts" => index.parse().map(Variable::TagPart).map_err(|_| {
            bad_index("needs a whole number, from 0 or from the end if negative: `tag_parts[0]`, `tag_parts[-1]`")
        }),
        "tag_prefix" => index
            .parse()
            .map(Variable::TagPrefix)
            .map_err(|_| bad_index("needs a whole number from 0, as in `tag_prefix[1]`")),
        _ => index
            .parse()
            .map(Variable::TagSuffix)
            .map_err(|_| bad_index("needs a whole number from 0, as in `tag_suffix[1]`")),
    }
}

fn parse_functions<'a>(
    template: &str,
    pieces: impl Iterator<Item = &'a str>,
) -> Result<Vec<Function>, TemplateError> {
    pieces
        .map(|piece| parse_function(template, piece))
        .collect()
}

/// The name of a function as written, without its argument.
fn function_name(piece: &str) -> &str {
    piece.split_once('(').map_or(piece, |(name, _)| name).trim()
}

/// This machine's host name, read once per process: from the kernel on
/// Linux, else from the `hostname` command.
fn hostname() -> Option<&'static str> {
    static HOSTNAME: OnceLock<Option<String>> = OnceLock::new();
    HOSTNAME
        .get_or_init(|| {
            let read = std::fs::read_to_string("/proc/sys/kernel/hostname").ok();
            let read = read.or_else(|| {
                let output = std::process::Command::new("hostname").output().ok()?;
                output
                    .status
                    .success()
                    .then(|| String::from_utf8_lossy(&output.stdout).into_owned())
            });
            read.map(|name| name.trim().to_owned())
                .filter(|name| !name.is_empty())
        })
        .as_deref()
}

/// Compiles `strftime(...)`, which follows `time` only.
fn parse_strftime(template: &str, piece: &str) -> Result<TimeFormat, TemplateError> {
    let bad = |reason: String| bad_argument(template, "strftime", reason);
    let format = piece
        .split_once('(')
        .and_then(|(_, tail)| tail.strip_suffix(')'))
        .map(str::trim)
        .filter(|format| !format.is_empty())
        .ok_or_else(|| bad("needs a format, as in `strftime(%Y-%m-%d)`".to_owned()))?;
    let mut items = Vec::new();
    let mut text = String::new();
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            text.push(c);
            continue;
        }
        let item = match chars.next() {
            Some('Y') => TimeItem::Year,
            Some('m') => TimeItem::Month,
            Some('d') => TimeItem::Day,
            Some('H') => TimeItem::Hour,
            Some('M') => TimeItem::Minute,
            Some('S') => TimeItem::Second,
            Some('L') => TimeItem::Millis,
            Some('N') => TimeItem::Nanos,
            Some('s') => TimeItem::Epoch,
            Some('F') => {
                flush_text(&mut items, &mut text);
                let dash = || TimeItem::Text("-".to_owned());
                items.extend([TimeItem::Year, dash(), TimeItem::Month, dash()]);
                TimeItem::Day
            }
            Some('T') => {
                flush_text(&mut items, &mut text);
                let colon = || TimeItem::Text(":".to_owned());
                items.extend([TimeItem::Hour, colon(), TimeItem::Minute, colon()]);
                TimeItem::Second
            }
            Some('z') => {
                text.push_str("+0000");
                continue;
            }
            Some('Z') => {
                text.push_str("UTC");
                continue;
            }
            Some('%') => {
                text.push('%');
                continue;
            }
            other => {
                let found = other.map_or("a lone `%` at the end".to_owned(), |c| format!("`%{c}`"));
                return Err(bad(format!(
                    "unknown specifier {found} in `{format}`; known: {KNOWN_SPECIFIERS}"
                )));
            }
        };
        flush_text(&mut items, &mut text);
        items.push(item);
    }
    flush_text(&mut items, &mut text);
    Ok(TimeFormat::Strftime(items))
}

fn flush_text(items: &mut Vec<TimeItem>, text: &mut String) {
    if !text.is_empty() {
        items.push(TimeItem::Text(std::mem::take(text)));
    }
}

impl Variable {
    /// Appends the variable's text for this event.
    fn push(&self, event: &Event, out: &mut String) {
        let tag: &Tag = &event.tag;
        let text = match self {
            Variable::Tag => Some(tag.as_str()),
            Variable::TagPart(index) => tag.part(*index),
            Variable::TagPrefix(n) => tag.prefix(*n),
            Variable::TagSuffix(n) => tag.suffix(*n),
            Variable::Time(format) => {
                push_time(out, event.time, format);
                None
            }
        };
        if let Some(text) = text {
            out.push_str(text);
        }
    }
}

/// Writes an event time, without `fmt`'s machinery or an allocation.
fn push_time(out: &mut String, nanos: i64, format: &TimeFormat) {
    let t = UtcTime::from_nanos(nanos);
    let push = |out: &mut String, item: &TimeItem| match item {
        TimeItem::Text(text) => out.push_str(text),
        TimeItem::Year => push_padded(out, t.year, 4),
        TimeItem::Month => push_padded(out, i64::from(t.month), 2),
        TimeItem::Day => push_padded(out, i64::from(t.day), 2),
        TimeItem::Hour => push_padded(out, i64::from(t.hour), 2),
        TimeItem::Minute => push_padded(out, i64::from(t.minute), 2),
        TimeItem::Second => push_padded(out, i64::from(t.second), 2),
        TimeItem::Millis => push_padded(out, i64::from(t.nanos / 1_000_000), 3),
        TimeItem::Nanos => push_padded(out, i64::from(t.nanos), 9),
        TimeItem::Epoch => {
            out.push_str(itoa::Buffer::new().format(nanos.div_euclid(1_000_000_000)));
        }
    };
    match format {
        TimeFormat::Rfc3339 => {
            push(out, &TimeItem::Year);
            out.push('-');
            push(out, &TimeItem::Month);
            out.push('-');
            push(out, &TimeItem::Day);
            out.push('T');
            push(out, &TimeItem::Hour);
            out.push(':');
            push(out, &TimeItem::Minute);
            out.push(':');
            push(out, &TimeItem::Second);
            out.push('.');
            push(out, &TimeItem::Millis);
            out.push('Z');
        }
        TimeFormat::Strftime(items) => {
            for item in items {
                push(out, item);
            }
        }
    }
}

/// Writes `n` with at least `width` digits, zeros in front.
fn push_padded(out: &mut String, n: i64, width: usize) {
    if n < 0 {
        out.push('-');
    }
    let mut buffer = itoa::Buffer::new();
    let digits = buffer.format(n.unsigned_abs());
    for _ in digits.len()..width {
        out.push('0');
    }
    out.push_str(digits);
}

/// Splits on `|` outside parentheses, so `default(a|b)` stays one piece.
fn split_pipes(inner: &str) -> impl Iterator<Item = &str> {
    let mut depth = 0usize;
    inner.split(move |c| {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            _ => {}
        }
        c == '|' && depth == 0
    })
}

fn parse_function(template: &str, piece: &str) -> Result<Function, TemplateError> {
    let (name, argument) = match piece.split_once('(') {
        Some((name, tail)) => {
            // `find_close` checked the parentheses balance, so a `(` has its `)`;
            // text after that `)` is still a mistake.
            let argument = tail.strip_suffix(')').ok_or_else(|| {
                bad_argument(
                    template,
                    name.trim(),
                    format!("unexpected text after `)` in `{piece}`"),
                )
            })?;
            (name.trim(), Some(argument.trim()))
        }
        None => (piece, None),
    };
    let no_argument = |function: Function| match argument {
        None => Ok(function),
        Some(arg) => Err(bad_argument(
            template,
            name,
            format!("takes no argument, got `{arg}`"),
        )),
    };
    match name {
        "lower" => no_argument(Function::Lower),
        "upper" => no_argument(Function::Upper),
        "last_segment" => no_argument(Function::LastSegment),
        "status_class" => no_argument(Function::StatusClass),
        "segment" => match argument.map(str::parse::<usize>) {
            Some(Ok(n)) => Ok(Function::Segment(n)),
            Some(Err(_)) | None => Err(bad_argument(
                template,
                name,
                format!(
                    "needs a whole number from 0, as in `segment(2)`, got `{}`",
                    argument.unwrap_or("")
                ),
            )),
        },
        "strftime" => Err(bad_argument(
            template,
            name,
            "formats the event time only, right after it: `${time|strftime(%Y-%m-%d)}`".to_owned(),
        )),
        "default" => match argument {
            Some(text) if !text.is_empty() => Ok(Function::Default(text.to_owned())),
            _ => Err(bad_argument(
                template,
                name,
                "needs the text to use, as in `default(unknown)`".to_owned(),
            )),
        },
        _ => Err(TemplateError::UnknownFunction {
            template: template.to_owned(),
            name: name.to_owned(),
        }),
    }
}

fn bad_argument(template: &str, function: &str, reason: String) -> TemplateError {
    TemplateError::BadArgument {
        template: template.to_owned(),
        function: function.to_owned(),
        reason,
    }
}

/// Trims a field path and checks it by [`FieldPath::parse`].
fn check_path(template: &str, path: &str) -> Result<FieldPath, TemplateError> {
    FieldPath::parse(path.trim()).map_err(|source| TemplateError::BadPath {
        template: template.to_owned(),
        source,
    })
}

/// Appends a value's text: strings as they are, others by `Display`.
fn push_value(out: &mut String, value: &Value) {
    match value {
        Value::String(text) => out.push_str(text),
        // Statuses and sizes: without `fmt`'s machinery, which cost more
        // than the rest of a `status_class` render.
        Value::Int(number) => out.push_str(itoa::Buffer::new().format(*number)),
        // Writing into a String cannot fail.
        other => {
            let _ = write!(out, "{other}");
        }
    }
}

impl Function {
    /// Transforms `out[start..]` in place, so rendering allocates nothing
    /// beyond `out` itself (except to change the case of non-ASCII text).
    fn apply(&self, out: &mut String, start: usize) {
        match self {
            Function::Lower => {
                let tail = &mut out[start..];
                if tail.is_ascii() {
                    tail.make_ascii_lowercase();
                } else {
                    let lowered = tail.to_lowercase();
                    replace_tail(out, start, &lowered);
                }
            }
            Function::Upper => {
                let tail = &mut out[start..];
                if tail.is_ascii() {
                    tail.make_ascii_uppercase();
                } else {
                    let uppered = tail.to_uppercase();
                    replace_tail(out, start, &uppered);
                }
            }
            Function::LastSegment | Function::Segment(_) => {
                let found = self.segment_of(&out[start..]);
                keep_tail_range(out, start, found);
            }
            Function::StatusClass => {
                let class = status_class(&out[start..]);
                out.truncate(start);
                if let Some(class) = class {
                    out.push_str(class);
                }
            }
            Function::Default(text) => {
                if out.len() == start {
                    out.push_str(text);
                }
            }
        }
    }

    /// The part of a path that `segment(N)` or `last_segment` keeps.
    fn segment_of(&self, path: &str) -> Option<Range<usize>> {
        match self {
            Function::Segment(n) => segments(path).nth(*n),
            _ => segments(path).last(),
        }
    }
}

fn replace_tail(out: &mut String, start: usize, text: &str) {
    out.truncate(start);
    out.push_str(text);
}

/// Keeps only `range` (relative to `start`) of the tail, or nothing.
fn keep_tail_range(out: &mut String, start: usize, range: Option<Range<usize>>) {
    match range {
        Some(range) => {
            out.truncate(start + range.end);
            out.drain(start..start + range.start);
        }
        None => out.truncate(start),
    }
}

/// Byte ranges of the non-empty `/`-separated parts of a path, before any
/// `?query` or `#fragment`.
fn segments(text: &str) -> Segments<'_> {
    Segments {
        bytes: text.as_bytes(),
        at: 0,
    }
}

/// See [`segments`]. One pass over the bytes: paths are short, and the
/// memchr calls of `str::split` (one per part) and of a search for the
/// query cost more than they saved, a third of a record filter's render.
struct Segments<'a> {
    /// The path, cut at its query or fragment once that is found.
    bytes: &'a [u8],
    at: usize,
}

impl Iterator for Segments<'_> {
    type Item = Range<usize>;

    fn next(&mut self) -> Option<Range<usize>> {
        let mut start = self.at;
        for (at, &b) in self.bytes.iter().enumerate().skip(self.at) {
            match b {
                b'/' if at == start => start = at + 1,
                b'/' => {
                    self.at = at + 1;
                    return Some(start..at);
                }
                b'?' | b'#' => {
                    self.bytes = &self.bytes[..at];
                    break;
                }
                _ => {}
            }
        }
        self.at = self.bytes.len();
        (start < self.bytes.len()).then_some(start..self.bytes.len())
    }
}

/// The class (`4xx`) of an HTTP status from 100 to 599.
fn status_class(text: &str) -> Option<&'static str> {
    const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];
    match text.trim().as_bytes() {
        [first @ b'1'..=b'5', second, third]
            if second.is_ascii_digit() && third.is_ascii_digit() =>
        {
            Some(CLASSES[usize::from(first - b'1')])
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use levee_event::Record;

    use super::*;

    fn record(fields: &[(&str, Value)]) -> Record {
        fields
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect()
    }

    fn event(record: &Record) -> Event {
        Event::new(Tag::new("nginx.access"), 0, record.clone())
    }

    fn render(template: &str, record: &Record) -> String {
        Template::parse(template).unwrap().render(&event(record))
    }

    #[test]
    fn derives_api_call_names_from_method_and_path() {
        let get = record(&[
            ("method", "GET".into()),
            ("path", "/api/v1/webhooks/abc?x=1".into()),
            ("status", Value::Int(404)),
        ]);
        assert_eq!(
            render("${method|lower}_${path|segment(2)}", &get),
            "get_webhooks"
        );
        assert_eq!(render("${status|status_class}", &get), "4xx");
        let post = record(&[
            ("method", "POST".into()),
            ("path", "/api/v1/transmissions".into()),
        ]);
        assert_eq!(
            render("${method|lower}_${path|last_segment}", &post),
            "post_transmissions"
        );
        assert_eq!(
            render("${method|lower}_${path|segment(2)}", &post),
            "post_transmissions"
        );
    }

    #[test]
    fn path_functions_ignore_empty_parts_and_queries() {
        let r = record(&[("p", "//a//b/?q=/c/d#frag/e".into())]);
        assert_eq!(render("${p|segment(0)}", &r), "a");
        assert_eq!(render("${p|segment(1)}", &r), "b");
        assert_eq!(render("${p|segment(2)}", &r), "");
        assert_eq!(render("${p|last_segment}", &r), "b");
        assert_eq!(render("${p|last_segment|upper}", &r), "B");
        let root = record(&[("p", "/?x=1".into())]);
        assert_eq!(render("[${p|last_segment}]", &root), "[]");
        let fragment = record(&[("p", "/a/b#x/y".into())]);
        assert_eq!(render("${p|last_segment}", &fragment), "b");
        // After another function, or on a value that is not text, the
        // segment is cut from the rendered text instead.
        let mixed = record(&[("p", "/API/Vé/x".into()), ("n", Value::Int(42))]);
        assert_eq!(render("${p|lower|segment(1)}", &mixed), "vé");
        assert_eq!(render("${n|last_segment}_${n|segment(1)}", &mixed), "42_");
        assert_eq!(render("${p|segment(1)|lower}", &mixed), "vé");
        let long = "/api/v1/sending-domains/example.com/verify?x=1";
        let path = record(&[("p", long.into())]);
        assert_eq!(
            render("${p|upper}${p|segment(2)}", &path),
            format!("{}sending-domains", long.to_uppercase())
        );
    }

    #[test]
    fn missing_fields_render_empty_or_default() {
        let r = record(&[
            ("empty", "".into()),
            ("null", Value::Null),
            ("p", "/a".into()),
        ]);
        assert_eq!(render("<${missing}>", &r), "<>");
        assert_eq!(render("${missing|default(none)}", &r), "none");
        assert_eq!(render("${empty|default(none)}", &r), "none");
        assert_eq!(render("${null|default(none)}", &r), "none");
        assert_eq!(render("${p|segment(3)|default(root)}", &r), "root");
        assert_eq!(render("${p|default(x)}", &r), "/a");
        // The argument is literal text, parentheses and pipes included.
        assert_eq!(
            render("${missing|default(n/a (none|x))}", &r),
            "n/a (none|x)"
        );
    }

    #[test]
    fn status_class_needs_a_status() {
        let r = record(&[
            ("a", Value::Int(503)),
            ("b", "200".into()),
            ("c", Value::Int(42)),
            ("d", "abc".into()),
        ]);
        assert_eq!(render("${a|status_class}", &r), "5xx");
        assert_eq!(render("${b|status_class}", &r), "2xx");
        assert_eq!(render("${c|status_class}", &r), "");
        assert_eq!(render("${d|status_class|default(other)}", &r), "other");
    }

    #[test]
    fn nested_paths_and_record_accessor() {
        let geo: Record = record(&[("country", "US".into())]);
        let r = record(&[("geo_ip", Value::from(geo)), ("type", "get_x".into())]);
        assert_eq!(render("$.geo_ip.country", &r), "US");
        assert_eq!(render("${geo_ip.country|lower}", &r), "us");
        let t = Template::parse("$.type").unwrap();
        assert_eq!(t.as_field().map(FieldPath::as_str), Some("type"));
        assert_eq!(t.render(&event(&r)), "get_x");
        assert_eq!(
            Template::parse("${ status }")
                .unwrap()
                .as_field()
                .map(FieldPath::as_str),
            Some("status")
        );
        assert_eq!(Template::parse("${status|lower}").unwrap().as_field(), None);
        assert_eq!(Template::parse("x${status}").unwrap().as_field(), None);
    }

    #[test]
    fn non_string_values_render_as_text() {
        let r = record(&[
            ("i", Value::Int(-7)),
            ("b", Value::Bool(true)),
            ("f", Value::Float(1.5)),
        ]);
        assert_eq!(render("${i} ${b} ${f}", &r), "-7 true 1.5");
    }

    #[test]
    fn double_dollar_is_a_literal_dollar() {
        let r = record(&[("n", Value::Int(5))]);
        let t = Template::parse("cost $$${n} $$$$").unwrap();
        assert_eq!(t.render(&event(&r)), "cost $5 $$");
        let plain = Template::parse("$$HOME").unwrap();
        assert_eq!(plain.as_literal(), Some("$HOME"));
    }

    #[test]
    fn case_functions_handle_unicode() {
        let r = record(&[("city", "MÜNCHEN".into())]);
        assert_eq!(render("${city|lower}", &r), "münchen");
        assert_eq!(render("${city|lower|upper}", &r), "MÜNCHEN");
    }

    #[test]
    fn render_into_clears_the_buffer() {
        let t = Template::parse("${a}").unwrap();
        let mut out = "old".to_owned();
        t.render_into(&event(&record(&[("a", "new".into())])), &mut out);
        assert_eq!(out, "new");
    }

    #[test]
    fn fields_lists_references() {
        let t = Template::parse("${a|lower}-${b.c}-x").unwrap();
        assert_eq!(
            t.fields().map(FieldPath::as_str).collect::<Vec<_>>(),
            ["a", "b.c"]
        );
        assert_eq!(t.as_literal(), None);
    }

    #[test]
    fn hostile_templates_are_refused_with_a_reason() {
        let err = |text: &str| Template::parse(text).unwrap_err();
        assert!(matches!(
            err("a ${method"),
            TemplateError::Unclosed { offset: 2, .. }
        ));
        assert!(matches!(err("${}"), TemplateError::BadPath { .. }));
        assert!(matches!(err("${|lower}"), TemplateError::BadPath { .. }));
        assert!(matches!(err("${a..b}"), TemplateError::BadPath { .. }));
        assert!(matches!(err("${a${b}}"), TemplateError::BadPath { .. }));
        assert!(matches!(err("$."), TemplateError::BadPath { .. }));
        assert!(matches!(err("$.a|lower"), TemplateError::BadPath { .. }));
        assert!(matches!(
            err("cost $5"),
            TemplateError::StrayDollar { offset: 5, .. }
        ));
        assert!(matches!(err("x $.type"), TemplateError::StrayDollar { .. }));
        assert!(matches!(
            err("trailing $"),
            TemplateError::StrayDollar { .. }
        ));
        assert!(matches!(
            err("${a|default(x}"),
            TemplateError::UnbalancedParens { .. }
        ));
        assert!(matches!(
            err("${a|lower)}"),
            TemplateError::UnbalancedParens { .. }
        ));
        assert!(matches!(
            err("${a|segment(x)}"),
            TemplateError::BadArgument { .. }
        ));
        assert!(matches!(
            err("${a|segment(-1)}"),
            TemplateError::BadArgument { .. }
        ));
        assert!(matches!(
            err("${a|segment}"),
            TemplateError::BadArgument { .. }
        ));
        assert!(matches!(
            err("${a|lower(1)}"),
            TemplateError::BadArgument { .. }
        ));
        assert!(matches!(
            err("${a|default()}"),
            TemplateError::BadArgument { .. }
        ));
        assert!(matches!(
            err("${a|segment(1)x}"),
            TemplateError::BadArgument { .. }
        ));
        assert!(matches!(
            err("${a|}"),
            TemplateError::UnknownFunction { .. }
        ));

        let unknown = err("${method|shout}");
        assert!(matches!(&unknown, TemplateError::UnknownFunction { name, .. } if name == "shout"));
        let message = unknown.to_string();
        assert!(message.contains("`shout`"), "{message}");
        assert!(message.contains("segment(N)"), "{message}");
        assert!(err("${a|segment(x)}").to_string().contains("segment(2)"));
    }

    /// `${tag}`, `${time}` and `${hostname}` read fields of those names,
    /// which logs rarely have, and so rendered silently empty.
    #[test]
    fn tag_time_and_hostname_are_variables_not_missing_fields() {
        let time = UtcTime {
            year: 2018,
            month: 9,
            day: 1,
            hour: 12,
            minute: 3,
            second: 4,
            nanos: 5_006_007,
        };
        let fields = record(&[("tag", "a field".into()), ("n", Value::Int(1))]);
        let e = Event::new(
            Tag::new("nginx.access.eu"),
            time.to_nanos().unwrap(),
            fields,
        );
        let render = |text: &str| Template::parse(text).unwrap().render(&e);
        assert_eq!(render("${tag}"), "nginx.access.eu");
        assert_eq!(render("$.tag"), "a field", "`$.` still reads the field");
        assert_eq!(render("${tag_parts[0]}/${tag_parts[-1]}"), "nginx/eu");
        assert_eq!(render("${ tag_parts[ 1 ] |upper}"), "ACCESS");
        assert_eq!(render("${tag_parts[3]|default(none)}"), "none");
        assert_eq!(render("${tag_parts[-4]}"), "");
        assert_eq!(
            render("${tag_prefix[1]} ${tag_suffix[1]}"),
            "nginx.access access.eu"
        );
        assert_eq!(render("${time}"), "2018-09-01T12:03:04.005Z");
        assert_eq!(render("${time|strftime(%Y-%m-%d)}"), "2018-09-01");
        assert_eq!(
            render("${time|strftime(%F %T.%L %N %z %Z %s %% x)|upper}"),
            "2018-09-01 12:03:04.005 005006007 +0000 UTC 1535803384 % X"
        );
        assert_eq!(
            render("${tag.x|default(-)}"),
            "-",
            "a dotted name is a field"
        );

        let host = hostname().expect("the test machine has a host name");
        let t = Template::parse("${hostname}-${n}").unwrap();
        assert_eq!(t.render(&e), format!("{host}-1"));
        let t = Template::parse("at ${hostname|upper}!").unwrap();
        assert_eq!(
            t.as_literal(),
            Some(format!("at {}!", host.to_uppercase()).as_str()),
            "read once, at build"
        );
        assert_eq!(Template::parse("${time}").unwrap().as_literal(), None);
        assert_eq!(Template::parse("${tag}").unwrap().as_field(), None);
        let before_epoch = Event::new(Tag::new("t"), -1, Record::new());
        assert_eq!(
            Template::parse("${time}").unwrap().render(&before_epoch),
            "1969-12-31T23:59:59.999Z"
        );
    }

    #[test]
    fn unknown_variables_are_refused_at_build() {
        let err = |text: &str| Template::parse(text).unwrap_err();
        for unknown in [
            "${tag_part[0]}",
            "${tag_parts}",
            "${foo[1]}",
            "${tag_parts[0}",
            "${tag_suffix}",
        ] {
            assert!(
                matches!(err(unknown), TemplateError::UnknownVariable { .. }),
                "{unknown}: {}",
                err(unknown)
            );
        }
        let message = err("${tag_part[0]}").to_string();
        assert!(
            message.contains("tag_parts[N]") && message.contains("hostname"),
            "{message}"
        );
        for bad in [
            "${tag_parts[x]}",
            "${tag_prefix[-1]}",
            "${status|strftime(%Y)}",
            "${time|strftime()}",
            "${time|strftime(%q)}",
            "${time|strftime(%Y%)}",
            "${time|lower|strftime(%Y)}",
        ] {
            assert!(
                matches!(err(bad), TemplateError::BadArgument { .. }),
                "{bad}: {}",
                err(bad)
            );
        }
        assert!(err("${time|strftime(%q)}").to_string().contains("%Y"));
    }

    proptest::proptest! {
        /// The parts are those of a split at `/`, up to a `?` or `#`.
        #[test]
        fn segments_are_the_parts_of_a_split(text in "[aé/?#]{0,14}") {
            let end = text.find(['?', '#']).unwrap_or(text.len());
            let want: Vec<&str> = text[..end].split('/').filter(|p| !p.is_empty()).collect();
            let got: Vec<&str> = segments(&text).map(|r| &text[r]).collect();
            proptest::prop_assert_eq!(got, want);
        }

        #[test]
        fn parse_never_panics(text in r"[a-z$.{}|()\\ 0-9_]{0,32}") {
            if let Ok(t) = Template::parse(&text) {
                let r = record(&[("a", "/x/Y?z".into()), ("b", Value::Int(404))]);
                let _ = t.render(&event(&r));
            }
        }

        #[test]
        fn parse_never_panics_on_any_text(text in "\\PC{0,40}") {
            let _ = Template::parse(&text);
        }

        #[test]
        fn text_without_dollar_renders_unchanged(text in "[^$]{0,40}") {
            let t = Template::parse(&text).unwrap();
            proptest::prop_assert_eq!(t.render(&event(&Record::new())), text.clone());
            proptest::prop_assert_eq!(t.as_literal(), Some(text.as_str()));
        }

        #[test]
        fn integers_render_as_display_writes_them(n in proptest::num::i64::ANY) {
            let r = record(&[("n", Value::Int(n))]);
            proptest::prop_assert_eq!(render("<${n}>", &r), format!("<{n}>"));
        }
    }
}
