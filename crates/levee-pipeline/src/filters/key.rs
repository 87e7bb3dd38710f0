//! The `key` of `sample`, `dedupe` and `throttle`: which events belong
//! together, as a field path (`message_id`) or a template of several fields
//! (`${customer_id}:${path|segment(1)}`).

use std::fmt::Write as _;

use levee_event::{Event, FieldPath, Value};

use super::{FilterError, field_path, with_scratch};
use crate::template::Template;

/// A compiled key: gives an event's key text.
#[derive(Debug, Clone)]
pub(super) enum Key {
    /// One field: a string value is read in place, without a copy.
    Field(FieldPath),
    /// Several fields, rendered into a scratch buffer.
    Template(Template),
}

impl Key {
    /// Text without `$` is a field path; text with `$` is a template, which
    /// must read at least one field (a constant key would group everything).
    pub(super) fn new(text: &str) -> Result<Key, FilterError> {
        if !text.contains('$') {
            return Ok(Key::Field(field_path("key", text)?));
        }
        let template = Template::parse(text).map_err(|source| FilterError::Template {
            key: "key".to_owned(),
            source,
        })?;
        if template.as_literal().is_some() {
            return Err(FilterError::Invalid {
                key: "key",
                reason: format!(
                    "`{text}` reads nothing from the event, so every event would have the \
                     same key; name a field such as `message_id` or write `${{customer_id}}`"
                ),
            });
        }
        Ok(match template.as_field() {
            Some(path) => Key::Field(path.clone()),
            None => Key::Template(template),
        })
    }

    /// Calls `f` with the event's key text. A missing field gives empty
    /// text (so an event without any of the fields has the empty key);
    /// other values give their text as templates show them (`404`, `true`).
    pub(super) fn with_text<R>(&self, event: &Event, f: impl FnOnce(&str) -> R) -> R {
        match self {
            Key::Field(path) => match path.get(&event.record) {
                Some(Value::String(text)) => f(text),
                None | Some(Value::Null) => f(""),
                Some(other) => with_scratch(|text| {
                    // Writing into a String cannot fail.
                    let _ = write!(text, "{other}");
                    f(text)
                }),
            },
            Key::Template(template) => with_scratch(|text| {
                template.render_into(event, text);
                f(text)
            }),
        }
    }
}

/// FNV-1a, 64 bits, over bytes: a fixed hash, the same on every machine,
/// build and run (unlike std's randomly seeded one), so a sampling decision
/// made from it is stable. See <http://www.isthe.com/chongo/tech/comp/fnv/>.
pub(super) fn fnv1a64(bytes: &[u8]) -> u64 {
    const OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    bytes.iter().fold(OFFSET_BASIS, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(PRIME)
    })
}

/// MurmurHash3's 64-bit finalizer (`fmix64`): spreads every input bit over
/// every output bit, which FNV-1a alone does not (a key's last bytes barely
/// touch its high bits).
pub(super) fn fmix64(mut k: u64) -> u64 {
    k ^= k >> 33;
    k = k.wrapping_mul(0xff51_afd7_ed55_8ccd);
    k ^= k >> 33;
    k = k.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    k ^ (k >> 33)
}

#[cfg(test)]
mod tests {
    use levee_event::{Record, Tag};

    use super::*;

    fn render(key: &Key, fields: &[(&str, Value)]) -> String {
        let record: Record = fields
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect();
        key.with_text(&Event::new(Tag::new("t"), 0, record), str::to_owned)
    }

    #[test]
    fn a_field_path_or_a_template() {
        let id = Key::new("message_id").unwrap();
        assert_eq!(render(&id, &[("message_id", "m-1".into())]), "m-1");
        assert_eq!(render(&id, &[("message_id", Value::Int(7))]), "7");
        assert_eq!(render(&id, &[]), "");
        assert_eq!(render(&id, &[("message_id", Value::Null)]), "");
        assert!(matches!(id, Key::Field(_)));
        assert!(matches!(Key::new("${message_id}").unwrap(), Key::Field(_)));

        let nested = Key::new("geo.cc").unwrap();
        let geo: Record = [("cc".to_owned(), Value::from("NO"))].into_iter().collect();
        assert_eq!(render(&nested, &[("geo", Value::from(geo))]), "NO");

        let pair = Key::new("${customer_id}/${method|lower}").unwrap();
        assert_eq!(
            render(
                &pair,
                &[("customer_id", Value::Int(9)), ("method", "GET".into())]
            ),
            "9/get"
        );
        assert!(matches!(pair, Key::Template(_)));
        // A template's missing fields render empty, like a field's.
        let mut record = Record::new();
        record.insert("customer_id", Value::Int(1));
        let event = Event::new(Tag::new("t"), 0, record);
        assert_eq!(pair.with_text(&event, str::to_owned), "1/");
    }

    #[test]
    fn hostile_keys_are_refused_naming_key() {
        for text in [
            "",
            "a..b",
            " ",
            ".a",
            "a b.",
            "${a",
            "${}",
            "$$",
            "${a|shout}",
        ] {
            let err = Key::new(text).unwrap_err();
            assert!(err.to_string().contains("`key`"), "{text:?}: {err}");
        }
        for constant in ["$$constant", "${hostname}"] {
            let err = Key::new(constant).unwrap_err();
            assert!(err.to_string().contains("reads nothing"), "{err}");
        }
        assert!(Key::new("${tag}").is_ok(), "the tag differs between events");
    }

    #[test]
    fn fnv1a64_matches_the_published_test_vectors() {
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn fmix64_is_murmur3s_finalizer() {
        assert_eq!(fmix64(0), 0);
        // Pinned, so a change to the function (and so to every sampling
        // decision made with it) cannot pass unnoticed.
        assert_eq!(fmix64(1), 0xb456_bcfc_34c2_cb2c);
        assert_eq!(fmix64(fnv1a64(b"m-1")), fmix64(fnv1a64(b"m-1")));
    }
}
