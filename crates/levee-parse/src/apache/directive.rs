//! What each `LogFormat` directive logs: its field's name and type.

/// How a directive's text is turned into values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    /// Text with escapes decoded; `-` is null.
    Text,
    /// Text where `-` is a value, not "none" (`%X`: connection closed).
    Verbatim,
    /// A count, status, port or duration; `-` is null.
    Int,
    /// `%t`: `10/Oct/2000:13:55:36 -0700` (the brackets are the format's),
    /// kept as text, and the event time.
    Time,
    /// `%{sec}t`, `%{msec}t`, `%{usec}t`: an integer, and the event time.
    Epoch {
        /// Nanoseconds per unit of the number.
        nanos: i64,
    },
    /// `%{FORMAT}t` with a strftime format (`%{%Y-%m-%d %H:%M:%S}t`): kept
    /// as text, read with the format, and the event time.
    Strftime,
    /// `%{msec_frac}t`, `%{usec_frac}t` on their own: the fraction of the
    /// second as an integer. Right after a `%{FORMAT}t` they join its time.
    TimeFraction,
    /// `%r`: kept as text, and split into method, path, query, protocol.
    Request,
    /// `%q`: the query string without its `?`; empty is null.
    Query,
    /// `%U%q`, which Apache configs write with nothing between them: split
    /// at the first `?` into url_path and query_string.
    UrlQuery,
}

impl Kind {
    /// The record keys a field of this kind adds besides its own name.
    pub(super) fn extra_names(self) -> &'static [&'static str] {
        match self {
            Kind::Request => &["method", "path", "query", "protocol"],
            Kind::UrlQuery => &["query_string"],
            _ => &[],
        }
    }
}

/// A directive's field: its record key and kind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Directive {
    /// As written in the format, for error messages: `%>s`, `%{Referer}i`.
    pub(super) text: String,
    /// The record key.
    pub(super) name: levee_event::Text,
    pub(super) kind: Kind,
    /// For [`Kind::Strftime`] and [`Kind::TimeFraction`], the strftime
    /// format this piece of time text is written with.
    pub(super) time_format: Option<TimeFormat>,
}

/// The strftime format of a `%{...}t` time, and which moment it logs.
///
/// Apache's docs write a time with milliseconds as several directives
/// (`%{%d/%b/%Y %T}t.%{msec_frac}t %{%z}t`, since a fraction cannot share
/// a format with strftime), so neighbouring pieces of one moment are
/// joined into one format and one field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct TimeFormat {
    /// The format, as levee's strftime reads it (`%f` for a fraction).
    pub(super) format: String,
    /// `end:`, the time the request ended, rather than `begin:` (the
    /// default), the time it started.
    pub(super) end: bool,
}

impl TimeFormat {
    /// The format a `%{...}t` directive of `kind` writes with, if it is a
    /// strftime time or a fraction of one.
    pub(super) fn of(kind: Kind, arg: Option<&str>) -> Option<TimeFormat> {
        let (end, spec) = time_moment(arg?);
        let format = match kind {
            Kind::Strftime => spec.to_owned(),
            // Apache pads the fraction to its width, so any run of digits reads.
            Kind::TimeFraction => "%f".to_owned(),
            _ => return None,
        };
        Some(TimeFormat { format, end })
    }
}

/// Splits `begin:` or `end:` off a `%{...}t` argument: whether it asks for
/// the end of the request, and what it asks for (empty for `%{begin}t`
/// and `%{end}t`, which log as `%t` does).
fn time_moment(arg: &str) -> (bool, &str) {
    match arg {
        "begin" => (false, ""),
        "end" => (true, ""),
        _ => match arg.strip_prefix("end:") {
            Some(rest) => (true, rest),
            None => (false, arg.strip_prefix("begin:").unwrap_or(arg)),
        },
    }
}

/// The field of a `%{...}t` directive: an epoch number, a fraction, or a
/// strftime format, each maybe after `begin:` or `end:`.
fn time_field(arg: &str) -> Result<(String, Kind), String> {
    let epoch = |nanos| Ok(("time".to_owned(), Kind::Epoch { nanos }));
    match time_moment(arg).1 {
        "" => Ok(("time".to_owned(), Kind::Time)),
        "sec" => epoch(1_000_000_000),
        "msec" => epoch(1_000_000),
        "usec" => epoch(1_000),
        "msec_frac" => Ok(("time_msec_frac".to_owned(), Kind::TimeFraction)),
        "usec_frac" => Ok(("time_usec_frac".to_owned(), Kind::TimeFraction)),
        format if format.contains('%') => Ok(("time".to_owned(), Kind::Strftime)),
        _ => Err(format!(
            "%{{{arg}}}t: use sec, msec, usec, msec_frac, usec_frac or a strftime format \
             such as %Y-%m-%d %H:%M:%S in the braces, maybe after begin: or end:"
        )),
    }
}

/// The field for directive `letter` with its `{argument}`, or why there is
/// none.
pub(super) fn lookup(letter: char, arg: Option<&str>) -> Result<(String, Kind), String> {
    use Kind::{Int, Text};
    let fixed = |name: &str, kind: Kind| Ok((name.to_owned(), kind));
    let named = |prefix: &str| match arg {
        Some(arg) if !arg.is_empty() => Ok((format!("{prefix}{}", key_of(arg)), Text)),
        _ => Err(format!(
            "%{letter} needs a name in braces, such as %{{Referer}}{letter}"
        )),
    };
    match (letter, arg) {
        ('a', None) => fixed("remote_addr", Text),
        ('a', Some("c")) => fixed("peer_addr", Text),
        ('A', None) => fixed("local_addr", Text),
        ('b' | 'B', None) => fixed("bytes_sent", Int),
        ('C', _) => named("cookie_"),
        ('D', None) => fixed("request_time_us", Int),
        ('e', _) => named("env_"),
        ('f', None) => fixed("filename", Text),
        ('h', None) => fixed("remote_host", Text),
        ('h', Some("c")) => fixed("peer_host", Text),
        ('H', None) => fixed("request_protocol", Text),
        ('i', _) => named("header_"),
        ('I', None) => fixed("bytes_in", Int),
        ('k', None) => fixed("keepalive_requests", Int),
        ('l', None) => fixed("remote_logname", Text),
        ('L', None) => fixed("log_id", Text),
        ('m', None) => fixed("request_method", Text),
        ('n', _) => named("note_"),
        ('o', _) => named("response_header_"),
        ('O', None) => fixed("bytes_out", Int),
        ('p', None | Some("canonical")) => fixed("server_port", Int),
        ('p', Some("local")) => fixed("local_port", Int),
        ('p', Some("remote")) => fixed("remote_port", Int),
        ('P', None | Some("pid")) => fixed("pid", Int),
        ('P', Some("tid")) => fixed("tid", Int),
        ('P', Some("hextid")) => fixed("tid", Text),
        ('q', None) => fixed("query_string", Kind::Query),
        ('r', None) => fixed("request", Kind::Request),
        ('R', None) => fixed("handler", Text),
        ('s', None) => fixed("status", Int),
        ('S', None) => fixed("bytes_total", Int),
        ('t', None) => fixed("time", Kind::Time),
        ('t', Some(arg)) => time_field(arg),
        ('T', None | Some("s")) => fixed("request_time_s", Int),
        ('T', Some("ms")) => fixed("request_time_ms", Int),
        ('T', Some("us")) => fixed("request_time_us", Int),
        ('u', None) => fixed("remote_user", Text),
        ('U', None) => fixed("url_path", Text),
        ('v', None) => fixed("vhost", Text),
        ('V', None) => fixed("server_name", Text),
        ('X', None) => fixed("connection_status", Kind::Verbatim),
        (letter, Some(arg)) => Err(format!("%{{{arg}}}{letter} is not a directive levee knows")),
        (letter, None) => Err(format!("%{letter} is not a directive levee knows")),
    }
}

/// A header, cookie or variable name as a record key: lowercase, with
/// anything but letters and digits as `_` (`User-Agent` is `user_agent`).
fn key_of(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_kinds() {
        assert_eq!(lookup('h', None), Ok(("remote_host".into(), Kind::Text)));
        assert_eq!(
            lookup('i', Some("User-agent")),
            Ok(("header_user_agent".into(), Kind::Text))
        );
        assert_eq!(
            lookup('o', Some("Content-Type")),
            Ok(("response_header_content_type".into(), Kind::Text))
        );
        assert_eq!(lookup('s', None), Ok(("status".into(), Kind::Int)));
        assert_eq!(
            lookup('t', Some("msec")),
            Ok(("time".into(), Kind::Epoch { nanos: 1_000_000 }))
        );
        assert_eq!(
            lookup('X', None),
            Ok(("connection_status".into(), Kind::Verbatim))
        );
    }

    #[test]
    fn time_directives_with_and_without_a_moment() {
        let strftime = Ok(("time".into(), Kind::Strftime));
        assert_eq!(lookup('t', Some("%d/%b/%Y:%H:%M:%S %z")), strftime);
        assert_eq!(lookup('t', Some("begin:%Y-%m-%d")), strftime);
        assert_eq!(lookup('t', Some("end:%s")), strftime);
        assert_eq!(
            lookup('t', Some("end:usec")),
            Ok(("time".into(), Kind::Epoch { nanos: 1_000 }))
        );
        assert_eq!(
            lookup('t', Some("begin:msec_frac")),
            Ok(("time_msec_frac".into(), Kind::TimeFraction))
        );
        assert_eq!(
            TimeFormat::of(Kind::Strftime, Some("end:%F %T")),
            Some(TimeFormat {
                format: "%F %T".into(),
                end: true
            })
        );
        assert_eq!(
            TimeFormat::of(Kind::TimeFraction, Some("usec_frac")),
            Some(TimeFormat {
                format: "%f".into(),
                end: false
            })
        );
        for clf in ["begin", "end", "end:", ""] {
            assert_eq!(
                lookup('t', Some(clf)),
                Ok(("time".into(), Kind::Time)),
                "{clf}"
            );
        }
        assert_eq!(TimeFormat::of(Kind::Time, None), None);
        assert_eq!(TimeFormat::of(Kind::Epoch { nanos: 1 }, Some("usec")), None);
    }

    #[test]
    fn unknown_and_incomplete_directives() {
        assert_eq!(
            lookup('Z', None),
            Err("%Z is not a directive levee knows".into())
        );
        assert_eq!(
            lookup('h', Some("x")),
            Err("%{x}h is not a directive levee knows".into())
        );
        assert_eq!(
            lookup('i', None),
            Err("%i needs a name in braces, such as %{Referer}i".into())
        );
        assert!(lookup('i', Some("")).is_err());
        for odd in ["msecs", "beginning", "end:Y-m-d"] {
            let err = lookup('t', Some(odd)).unwrap_err();
            assert!(
                err.contains("use sec, msec, usec, msec_frac, usec_frac or a strftime format"),
                "{odd}: {err}"
            );
        }
    }

    #[test]
    fn keys_are_lowercase_words() {
        assert_eq!(key_of("X-Forwarded-For"), "x_forwarded_for");
        assert_eq!(key_of("é"), "_");
    }
}
