//! Compiling an nginx `log_format` string into literal and variable steps.
//!
//! `$remote_addr - $remote_user [$time_local]` becomes: variable
//! `remote_addr` ended by `" - "`, variable `remote_user` ended by `" ["`,
//! variable `time_local` ended by `"]"`. Matching a line then walks these
//! steps once, splitting each variable's text at the literal that follows it.

use levee_event::Text;

use super::fields::FieldKind;
use crate::ParserConfigError;
use crate::access_log::fields::REQUEST_PARTS;
use crate::access_log::matcher::Literal;

/// A compiled `log_format`.
#[derive(Clone, Debug)]
pub(super) struct Format {
    /// Text before the first variable (often empty).
    pub(super) leading: Literal,
    /// The variables in order, each with the literal that ends it.
    pub(super) fields: Vec<Field>,
    /// No two fields give the record the same name, so a line's record is
    /// built by appending, without looking names up.
    pub(super) distinct: bool,
    /// Written with `escape=none`: strings have no escapes to undo.
    pub(super) unescaped: bool,
}

/// One `$variable` of the format.
#[derive(Clone, Debug)]
pub(super) struct Field {
    /// The variable's name without `$`: the record's key.
    pub(super) name: Text,
    pub(super) kind: FieldKind,
    /// For an upstream variable nginx writes as a list, the field that
    /// keeps the list whole: `upstream_status_list`.
    pub(super) list: Option<Text>,
    /// The literal after the variable; `None` for a variable that ends the
    /// format, which takes the rest of the line.
    pub(super) end: Option<Literal>,
}

impl Format {
    /// Compiles a `log_format` string, its nginx.conf quotes already
    /// undone; `unescaped` is true for a log written with `escape=none`.
    pub(super) fn compile(format: &str, unescaped: bool) -> Result<Format, ParserConfigError> {
        let (leading, variables) = split(format)?;
        let Some(Piece { name: first, .. }) = variables.first() else {
            return Err(ParserConfigError::NoVariables(format.to_owned()));
        };
        let leading = Literal::new(leading, format!("before ${first}"));
        let mut fields = Vec::with_capacity(variables.len());
        for (i, Piece { name, after }) in variables.iter().enumerate() {
            let next = variables.get(i + 1).map(|piece| piece.name);
            if let (true, Some(next)) = (after.is_empty(), next) {
                return Err(ParserConfigError::AdjacentVariables {
                    first: (*name).to_owned(),
                    second: next.to_owned(),
                });
            }
            let end = (!after.is_empty()).then(|| Literal::new(after, format!("after ${name}")));
            let kind = FieldKind::of(name);
            fields.push(Field {
                name: Text::from(*name),
                kind,
                list: kind.is_list().then(|| Text::from(format!("{name}_list"))),
                end,
            });
        }
        let distinct = distinct_names(&fields);
        Ok(Format {
            leading,
            fields,
            distinct,
            unescaped,
        })
    }
}

/// True if the record names of `fields` (a request's parts and upstream
/// lists included) are all different.
fn distinct_names(fields: &[Field]) -> bool {
    let mut names = std::collections::HashSet::new();
    fields.iter().all(|field| {
        let parts: &[Text] = match field.kind {
            FieldKind::Request => &REQUEST_PARTS,
            _ => &[],
        };
        names.insert(field.name.as_str())
            && parts.iter().all(|part| names.insert(part.as_str()))
            && field.list.iter().all(|list| names.insert(list.as_str()))
    })
}

/// A variable of the format string and the literal after it (maybe empty).
struct Piece<'a> {
    name: &'a str,
    after: &'a str,
}

/// Splits a format into its leading literal and its variables.
fn split(format: &str) -> Result<(&str, Vec<Piece<'_>>), ParserConfigError> {
    let bytes = format.as_bytes();
    let mut variables: Vec<Piece<'_>> = Vec::new();
    let mut leading = None;
    let mut literal_start = 0;
    let mut i = 0;
    while let Some(offset) = bytes.get(i..).and_then(|rest| memchr::memchr(b'$', rest)) {
        let dollar = i + offset;
        let literal = &format[literal_start..dollar];
        match variables.last_mut() {
            Some(last) => last.after = literal,
            None => leading = Some(literal),
        }
        let (name, next) = variable_at(format, dollar)?;
        variables.push(Piece { name, after: "" });
        literal_start = next;
        i = next;
    }
    let tail = &format[literal_start..];
    match variables.last_mut() {
        Some(last) => last.after = tail,
        None => leading = Some(tail),
    }
    Ok((leading.unwrap_or_default(), variables))
}

/// The variable name after the `$` at `dollar` (`$name` or `${name}`) and
/// the offset just past it.
fn variable_at(format: &str, dollar: usize) -> Result<(&str, usize), ParserConfigError> {
    let missing = ParserConfigError::MissingVariableName { position: dollar };
    let after = &format[dollar + 1..];
    if let Some(braced) = after.strip_prefix('{') {
        let close = braced
            .find('}')
            .ok_or(ParserConfigError::UnclosedBrace { position: dollar })?;
        let name = &braced[..close];
        if name.is_empty() || !name.bytes().all(is_name_byte) {
            return Err(missing);
        }
        return Ok((name, dollar + 3 + close));
    }
    let len = after.bytes().take_while(|&b| is_name_byte(b)).count();
    if len == 0 {
        return Err(missing);
    }
    Ok((&after[..len], dollar + 1 + len))
}

fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(format: &str) -> (String, Vec<(String, Option<String>)>) {
        let f = Format::compile(format, false).unwrap();
        let text = |b: &[u8]| String::from_utf8(b.to_vec()).unwrap();
        let fields = f
            .fields
            .iter()
            .map(|field| {
                (
                    field.name.to_string(),
                    field.end.as_ref().map(|l| text(&l.bytes)),
                )
            })
            .collect();
        (text(&f.leading.bytes), fields)
    }

    fn owned(pairs: &[(&str, Option<&str>)]) -> Vec<(String, Option<String>)> {
        pairs
            .iter()
            .map(|(n, l)| (n.to_string(), l.map(str::to_owned)))
            .collect()
    }

    #[test]
    fn compiles_into_variables_ended_by_literals() {
        let (leading, fields) = shape(r#"$remote_addr - $remote_user [$time_local] "$request""#);
        assert_eq!(leading, "");
        assert_eq!(
            fields,
            owned(&[
                ("remote_addr", Some(" - ")),
                ("remote_user", Some(" [")),
                ("time_local", Some("] \"")),
                ("request", Some("\"")),
            ])
        );
    }

    #[test]
    fn leading_literal_braced_names_and_final_variable() {
        let (leading, fields) = shape("[${time_local}] ${status}x $request_time");
        assert_eq!(leading, "[");
        assert_eq!(
            fields,
            owned(&[
                ("time_local", Some("] ")),
                ("status", Some("x ")),
                ("request_time", None)
            ])
        );
    }

    #[test]
    fn literal_descriptions_name_their_neighbour() {
        let f = Format::compile("[$time_local] \"$request\"", false).unwrap();
        assert_eq!(f.leading.expected, "'[' before $time_local");
        let end = f.fields[1].end.as_ref().unwrap();
        assert_eq!(end.expected, "'\\\"' after $request");
    }

    #[test]
    fn ambiguous_and_broken_formats_are_refused() {
        let err = |f: &str| Format::compile(f, false).unwrap_err();
        assert_eq!(
            err("$remote_addr$remote_user"),
            ParserConfigError::AdjacentVariables {
                first: "remote_addr".into(),
                second: "remote_user".into()
            }
        );
        assert_eq!(
            err("${a}${b} x"),
            ParserConfigError::AdjacentVariables {
                first: "a".into(),
                second: "b".into()
            }
        );
        assert_eq!(
            err("a $ b"),
            ParserConfigError::MissingVariableName { position: 2 }
        );
        assert_eq!(
            err("a $"),
            ParserConfigError::MissingVariableName { position: 2 }
        );
        assert_eq!(
            err("a ${}"),
            ParserConfigError::MissingVariableName { position: 2 }
        );
        assert_eq!(
            err("a ${b"),
            ParserConfigError::UnclosedBrace { position: 2 }
        );
        assert_eq!(
            err("no variables"),
            ParserConfigError::NoVariables("no variables".into())
        );
    }

    #[test]
    fn multibyte_literals_are_kept_whole() {
        let (leading, fields) = shape("→$a ✓ $b");
        assert_eq!(leading, "→");
        assert_eq!(fields, owned(&[("a", Some(" ✓ ")), ("b", None)]));
    }
}
