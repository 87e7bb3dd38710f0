//! Templates that build text from an event's fields, as filters write them.
//!
//! A template is one of:
//!
//! - plain text, used as written;
//! - text with `${field}` references, each optionally piped through functions,
//!   as in `${method|lower}_${path|segment(2)}`;
//! - exactly `$.field` (Fluentd's record_accessor style), a reference to one
//!   whole value, so that `set` can copy it with its type.
//!
//! Field references are dotted paths into nested maps (`geo_ip.country`).
//! Write `$$` for a literal `$`; any other `$` that does not start `${` (or
//! `$.` at the very start) is refused, so a typo never renders silently.
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

use levee_event::{FieldHint, FieldPath, PathError, Record, Value};

/// The functions a `${field|function}` reference may use, for error messages.
const KNOWN_FUNCTIONS: &str = "lower, upper, last_segment, segment(N), status_class, default(text)";

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
        /// Where a top-level field was last found (see [`Record::get_hinted`]).
        hint: Hint,
    },
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

    /// Renders against a record into `out` (cleared first). Missing fields
    /// render as empty text, or as the `default(x)` function's argument.
    pub fn render_into(&self, record: &Record, out: &mut String) {
        out.clear();
        for part in &self.parts {
            match part {
                Part::Literal(text) => out.push_str(text),
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

    /// Renders against a record into a new string.
    pub fn render(&self, record: &Record) -> String {
        let mut out = String::new();
        self.render_into(record, &mut out);
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

    /// If the template references no field, the text it always renders.
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
            Part::Literal(_) => None,
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
            if !literal.is_empty() {
                parts.push(Part::Literal(std::mem::take(&mut literal)));
            }
            parts.push(parse_reference(template, &inner_and_rest[..close])?);
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

/// Parses the inside of `${...}`: a path, then `|`-separated functions.
fn parse_reference(template: &str, inner: &str) -> Result<Part, TemplateError> {
    let mut pieces = split_pipes(inner);
    let path = check_path(template, pieces.next().unwrap_or(""))?;
    let functions = pieces
        .map(|piece| parse_function(template, piece.trim()))
        .collect::<Result<_, _>>()?;
    Ok(Part::Field {
        path,
        functions,
        hint: Hint::default(),
    })
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
    use super::*;

    fn record(fields: &[(&str, Value)]) -> Record {
        fields
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect()
    }

    fn render(template: &str, record: &Record) -> String {
        Template::parse(template).unwrap().render(record)
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
        assert_eq!(t.render(&r), "get_x");
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
        assert_eq!(t.render(&r), "cost $5 $$");
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
        t.render_into(&record(&[("a", "new".into())]), &mut out);
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
                let _ = t.render(&r);
            }
        }

        #[test]
        fn parse_never_panics_on_any_text(text in "\\PC{0,40}") {
            let _ = Template::parse(&text);
        }

        #[test]
        fn text_without_dollar_renders_unchanged(text in "[^$]{0,40}") {
            let t = Template::parse(&text).unwrap();
            proptest::prop_assert_eq!(t.render(&Record::new()), text.clone());
            proptest::prop_assert_eq!(t.as_literal(), Some(text.as_str()));
        }

        #[test]
        fn integers_render_as_display_writes_them(n in proptest::num::i64::ANY) {
            let r = record(&[("n", Value::Int(n))]);
            proptest::prop_assert_eq!(render("<${n}>", &r), format!("<{n}>"));
        }
    }
}
