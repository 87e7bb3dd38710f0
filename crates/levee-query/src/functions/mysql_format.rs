//! MySQL's date format specifiers, as Athena's `date_parse` and
//! `date_format` take them, translated to chrono's `strftime` ones.
//!
//! Parsing and formatting differ in a few places (`%f` parses any fraction
//! after a dot but prints six digits; `%e` prints without padding), hence two
//! tables. Specifiers chrono cannot handle are refused by name.

use datafusion::common::{Result, exec_err};

/// Which way a format is used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Text to time (`date_parse`).
    Parse,
    /// Time to text (`date_format`).
    Format,
}

/// Translates one MySQL format to a chrono format for `direction`.
pub fn to_strftime(mysql: &str, direction: Direction) -> Result<String> {
    let mut out = String::with_capacity(mysql.len() + 4);
    let mut chars = mysql.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            // chrono treats every character but `%` as itself, as MySQL does.
            out.push(c);
            continue;
        }
        let Some(spec) = chars.next() else {
            return exec_err!("date format `{mysql}` ends with a lone %");
        };
        let chrono = match (spec, direction) {
            ('a', _) => "%a",
            ('b', _) => "%b",
            ('c', Direction::Parse) | ('m', _) => "%m",
            ('c', Direction::Format) => "%-m",
            ('d', _) => "%d",
            ('e', Direction::Parse) => "%e",
            ('e', Direction::Format) => "%-d",
            // Parsing: only a fraction after a dot can be told from nanoseconds.
            ('f', Direction::Parse) if out.ends_with('.') => {
                out.pop();
                "%.f"
            }
            ('f', Direction::Format) => "%6f",
            ('H', _) => "%H",
            ('k', Direction::Parse) => "%H",
            ('k', Direction::Format) => "%-H",
            ('h' | 'I', _) => "%I",
            ('l', Direction::Parse) => "%I",
            ('l', Direction::Format) => "%-I",
            ('i', _) => "%M",
            ('j', _) => "%j",
            ('M', _) => "%B",
            ('p', _) => "%p",
            ('r', _) => "%I:%M:%S %p",
            ('S' | 's', _) => "%S",
            ('T', _) => "%H:%M:%S",
            ('U', Direction::Format) => "%U",
            ('u', Direction::Format) => "%W",
            ('W', _) => "%A",
            ('w', _) => "%w",
            ('Y', _) => "%Y",
            ('y', _) => "%y",
            ('%', _) => "%%",
            ('f' | 'D' | 'U' | 'u' | 'V' | 'v' | 'X' | 'x', _) => {
                let verb = match direction {
                    Direction::Parse => "parsing",
                    Direction::Format => "formatting",
                };
                return exec_err!("date format `{mysql}`: %{spec} is not supported for {verb}");
            }
            // MySQL: `%x` is `x` for any other x.
            (other, _) => {
                out.push(other);
                continue;
            }
        };
        out.push_str(chrono);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn translates_athenas_common_formats() {
        let p = |f| to_strftime(f, Direction::Parse).unwrap();
        assert_eq!(p("%Y-%m-%d %H:%i:%s"), "%Y-%m-%d %H:%M:%S");
        assert_eq!(p("%d/%b/%Y:%T"), "%d/%b/%Y:%H:%M:%S");
        assert_eq!(p("%H:%i:%s.%f"), "%H:%M:%S%.f");
        assert_eq!(p("100%%"), "100%%");
        let f = |f| to_strftime(f, Direction::Format).unwrap();
        assert_eq!(f("%Y-%m-%d %H:00"), "%Y-%m-%d %H:00");
        assert_eq!(f("%e %M %Y, %l%p"), "%-d %B %Y, %-I%p");
        assert_eq!(f("%s.%f"), "%S.%6f");
    }

    #[test]
    fn refuses_what_chrono_cannot_do() {
        for bad in ["%D %M %Y", "%Y week %U", "%Y%f", "%Y-%"] {
            assert!(to_strftime(bad, Direction::Parse).is_err(), "{bad}");
        }
        for bad in ["%D %M %Y", "%X-%V", "%Y-%"] {
            assert!(to_strftime(bad, Direction::Format).is_err(), "{bad}");
        }
    }
}
