//! The toolkit shared by the access log parsers (`nginx`, `apache`): a
//! compiled format's literals and how a line is cut at them ([`matcher`]),
//! the escapes both servers write into logged strings ([`escape`]), and the
//! fields both log the same way, such as the request line ([`fields`]).
//!
//! It depends on nothing of theirs; `logfmt` also borrows the quoted-string
//! helpers, since its quoting follows the same rules.

pub(crate) mod escape;
pub(crate) mod fields;
pub(crate) mod matcher;
