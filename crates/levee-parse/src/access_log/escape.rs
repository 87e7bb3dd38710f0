//! Undoing the escapes nginx writes into logged strings.
//!
//! With the default `escape=default`, nginx writes `"`, `\` and bytes
//! outside printable ASCII as `\xHH`; with `escape=json` it writes `\"`,
//! `\\`, `\n`, `\r`, `\t`, `\b`, `\f` and `\u00HH`. A literal backslash is
//! always escaped in both modes, so decoding every one of these is safe.

use levee_event::Text;
use memchr::memchr;

/// A logged string's text with escapes decoded; bytes that are not UTF-8
/// afterwards become U+FFFD.
pub(crate) fn decode(raw: &[u8]) -> Text {
    let Some(first) = memchr(b'\\', raw) else {
        // Most fields have no escapes: validate and copy once.
        return Text::from_utf8_lossy(raw);
    };
    let (plain, mut rest) = raw.split_at(first);
    let mut out = Vec::with_capacity(raw.len());
    out.extend_from_slice(plain);
    while let Some((&byte, after)) = rest.split_first() {
        if byte != b'\\' {
            // Copy the run up to the next backslash in one go.
            let run = memchr(b'\\', rest).unwrap_or(rest.len());
            let (text, after) = rest.split_at(run);
            out.extend_from_slice(text);
            rest = after;
            continue;
        }
        rest = match after {
            [b'x' | b'X', h, l, tail @ ..] if h.is_ascii_hexdigit() && l.is_ascii_hexdigit() => {
                out.push(hex(*h) << 4 | hex(*l));
                tail
            }
            [b'u', a, b, c, d, tail @ ..] => match unicode_escape([*a, *b, *c, *d]) {
                Some(ch) => {
                    out.extend_from_slice(ch.encode_utf8(&mut [0; 4]).as_bytes());
                    tail
                }
                None => keep_backslash(&mut out, after),
            },
            [simple, tail @ ..] => match simple_escape(*simple) {
                Some(decoded) => {
                    out.push(decoded);
                    tail
                }
                None => keep_backslash(&mut out, after),
            },
            [] => keep_backslash(&mut out, after),
        };
    }
    Text::from_utf8_lossy(&out)
}

/// [`decode`], unless the caller has the field as text it knows is UTF-8
/// without a backslash (cut from a line checked whole): that is copied as
/// it is.
pub(crate) fn decode_known(raw: &[u8], text: Option<&str>) -> Text {
    match text {
        Some(text) => Text::from(text),
        None => decode(raw),
    }
}

/// An unknown escape is kept as written: the backslash stays in the text.
fn keep_backslash<'a>(out: &mut Vec<u8>, after: &'a [u8]) -> &'a [u8] {
    out.push(b'\\');
    after
}

fn simple_escape(byte: u8) -> Option<u8> {
    Some(match byte {
        b'"' => b'"',
        b'\\' => b'\\',
        b'/' => b'/',
        b'n' => b'\n',
        b'r' => b'\r',
        b't' => b'\t',
        b'b' => 0x08,
        b'f' => 0x0c,
        _ => return None,
    })
}

/// `\uHHHH` as a char; surrogate halves (never written by nginx) are not
/// decoded.
fn unicode_escape(digits: [u8; 4]) -> Option<char> {
    if !digits.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    let code = digits
        .iter()
        .fold(0u32, |acc, &d| acc << 4 | u32::from(hex(d)));
    char::from_u32(code)
}

/// The value of an ASCII hex digit (the caller checked it is one).
fn hex(digit: u8) -> u8 {
    char::from(digit).to_digit(16).map_or(0, |d| d as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_copied() {
        assert_eq!(decode(b"Mozilla/5.0 (X11)"), "Mozilla/5.0 (X11)");
        assert_eq!(decode(b""), "");
    }

    #[test]
    fn nginx_default_escapes() {
        assert_eq!(decode(br"say \x22hi\x22"), "say \"hi\"");
        assert_eq!(decode(br"back\x5Cslash"), "back\\slash");
        assert_eq!(decode(br"\x16\x03\x01"), "\u{16}\u{3}\u{1}");
        // Escaped UTF-8 bytes come back as the character.
        assert_eq!(decode(br"caf\xC3\xA9"), "café");
    }

    #[test]
    fn json_style_escapes() {
        assert_eq!(
            decode(br#"Mozilla/5.0 \"quoted\" agent"#),
            "Mozilla/5.0 \"quoted\" agent"
        );
        assert_eq!(decode(br"a\\b\n\t\/"), "a\\b\n\t/");
        assert_eq!(decode(br"\u00e9\u0041"), "éA");
    }

    #[test]
    fn unknown_or_cut_escapes_are_kept() {
        assert_eq!(decode(br"\q"), "\\q");
        assert_eq!(decode(br"end\"), "end\\");
        assert_eq!(decode(br"\x4"), "\\x4");
        assert_eq!(decode(br"\xZZ"), "\\xZZ");
        assert_eq!(decode(br"\ud800"), "\\ud800");
    }

    #[test]
    fn invalid_utf8_becomes_replacement_chars() {
        assert_eq!(decode(br"\xA5ok"), "\u{FFFD}ok");
        assert_eq!(decode(b"raw\xff"), "raw\u{FFFD}");
    }
}
