//! Cutting a line at a compiled format's literals.
//!
//! One pass, no backtracking: a field's text runs to the first occurrence
//! of the literal after it (found with memchr), so a line costs time linear
//! in its length whatever its bytes.

use memchr::memchr;

use crate::error::{ParseError, ParseErrorReason};

/// Literal text of a format, with its description for error messages
/// built once, when the format is compiled, rather than per failing line.
#[derive(Clone, Debug)]
pub(crate) struct Literal {
    pub(crate) bytes: Box<[u8]>,
    /// E.g. `' [' after $remote_user`.
    pub(crate) expected: String,
}

impl Literal {
    /// `text`, described in errors as `'text' {anchor}` (an anchor such as
    /// `after $remote_user`).
    pub(crate) fn new(text: &str, anchor: String) -> Literal {
        Literal {
            bytes: text.as_bytes().into(),
            expected: format!("'{}' {anchor}", text.escape_default()),
        }
    }
}

/// Checks the text before a format's first field; returns where it ends.
pub(crate) fn match_leading(line: &[u8], leading: &Literal) -> Result<usize, ParseError> {
    let want = &leading.bytes[..];
    if starts_with(line, want) {
        return Ok(want.len());
    }
    let same = line.iter().zip(want).take_while(|(a, b)| a == b).count();
    let reason = if same == line.len() {
        ParseErrorReason::UnexpectedEnd {
            expected: leading.expected.clone(),
        }
    } else {
        ParseErrorReason::Expected {
            expected: leading.expected.clone(),
        }
    };
    Err(ParseError::new(same, reason))
}

/// The first occurrence of `literal` in `hay`.
///
/// A literal starting with `"` ends a quoted field, and a `"` escaped by an
/// odd number of backslashes (`\"`) is part of the field's text, not its end.
pub(crate) fn find_end(hay: &[u8], literal: &[u8]) -> Option<usize> {
    let (&first, tail) = literal.split_first()?;
    let mut from = 0;
    while let Some(found) = hay.get(from..).and_then(|rest| memchr(first, rest)) {
        let at = from + found;
        let matches = hay
            .get(at + 1..)
            .is_some_and(|after| starts_with(after, tail));
        if matches && !(first == b'"' && escaped(hay, at)) {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

/// The first occurrence of `literal` in `hay`, backslashes or not: for
/// logs that escape nothing (nginx's `escape=none`).
pub(crate) fn find_literal(hay: &[u8], literal: &[u8]) -> Option<usize> {
    let (&first, tail) = literal.split_first()?;
    let mut from = 0;
    while let Some(found) = hay.get(from..).and_then(|rest| memchr(first, rest)) {
        let at = from + found;
        if hay
            .get(at + 1..)
            .is_some_and(|after| starts_with(after, tail))
        {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

/// `hay.starts_with(prefix)` for the few bytes of a format's literals,
/// compared inline: the slice comparison calls `memcmp`, which cost more
/// than the comparing (an empty leading literal alone was 4% of a line).
#[inline]
fn starts_with(hay: &[u8], prefix: &[u8]) -> bool {
    hay.len() >= prefix.len() && hay.iter().zip(prefix).all(|(a, b)| a == b)
}

/// True if the byte at `at` follows an odd run of backslashes.
fn escaped(hay: &[u8], at: usize) -> bool {
    let before = hay.get(..at).unwrap_or_default();
    before.iter().rev().take_while(|&&b| b == b'\\').count() % 2 == 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_first_unescaped_end() {
        assert_eq!(find_end(b"abc - def", b" - "), Some(3));
        assert_eq!(find_end(b"a -b - c", b" - "), Some(4));
        assert_eq!(find_end(br#"say \"hi\"" next"#, b"\" "), Some(10));
        assert_eq!(find_end(br#"ends in \\" next"#, b"\" "), Some(10));
        assert_eq!(find_end(br#"only \" here"#, b"\""), None);
        assert_eq!(find_end(b"", b" "), None);
        assert_eq!(find_end(b"abc -", b" - "), None);
    }

    #[test]
    fn unescaped_logs_end_at_the_first_literal() {
        assert_eq!(find_literal(br#"ends in \" next"#, b"\" "), Some(9));
        assert_eq!(find_literal(b"abc - def", b" - "), Some(3));
        assert_eq!(find_literal(b"abc", b""), None);
    }
}
