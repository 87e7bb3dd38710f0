//! `rename`: renames fields, reaching into nested maps.
//!
//! ```toml
//! [[filters]]
//! match = "nginx.**"
//! type = "rename"
//! rename = { remote_addr = "client_ip", "geo_ip.city" = "city" }
//! ```
//!
//! A field renamed within its map keeps its place; one moved to another map
//! (`geo_ip.city` to `city`) goes to the end of that map.

use std::collections::BTreeMap;

use levee_event::{Event, FieldPath};

use super::{FilterError, field_path};

/// Config of a `rename` filter.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RenameConfig {
    /// Tag pattern of the events this filter applies to, such as `nginx.**`:
    /// `*` matches one dot-separated part, `**` any number, `{a,b}` either.
    pub r#match: String,
    /// Old field path to new field path (`"geo_ip.city" = "city"`; quote
    /// a dotted name in TOML). A field already at the new path is replaced;
    /// a missing old field is no error. Maps on the new path are made as
    /// needed; if a field on it holds something other than a map, the
    /// field is left where it was. Renames must not depend on each other:
    /// a path may not be both renamed and a target, nor lie inside
    /// another renamed or target path (use two filters to chain).
    pub rename: BTreeMap<String, String>,
}

impl RenameConfig {
    pub(super) fn build(&self) -> Result<RenameFilter, FilterError> {
        if self.rename.is_empty() {
            return Err(FilterError::Empty {
                kind: "rename",
                needs: "`rename = { old = \"new\" }`",
            });
        }
        let renames = self
            .rename
            .iter()
            .map(|(from, to)| Ok((field_path("rename", from)?, field_path("rename", to)?)))
            .collect::<Result<Vec<_>, FilterError>>()?;
        check_independent(&renames)?;
        Ok(RenameFilter { renames })
    }
}

/// Refuses renames whose outcome would depend on the order they run in.
fn check_independent(renames: &[(FieldPath, FieldPath)]) -> Result<(), FilterError> {
    let conflict = |reason: String| Err(FilterError::RenameConflict { reason });
    for (i, (from, to)) in renames.iter().enumerate() {
        if from.contains(to) || to.contains(from) {
            return conflict(format!(
                "`{from}` cannot be renamed to `{to}`, inside itself"
            ));
        }
        for (other_from, other_to) in renames.iter().skip(i + 1) {
            for (a, b) in [
                (from, other_from),
                (from, other_to),
                (to, other_from),
                (to, other_to),
            ] {
                if a == b {
                    return conflict(if to == other_to {
                        format!("more than one field is renamed to `{to}`")
                    } else {
                        format!(
                            "`{a}` is both renamed and a rename target; use two filters to chain renames"
                        )
                    });
                }
                if a.contains(b) || b.contains(a) {
                    let (outer, inner) = if a.as_str().len() < b.as_str().len() {
                        (a, b)
                    } else {
                        (b, a)
                    };
                    return conflict(format!(
                        "`{inner}` is inside `{outer}`, which is also renamed or a target; use two filters"
                    ));
                }
            }
        }
    }
    Ok(())
}

/// A built `rename` filter.
#[derive(Debug, Clone)]
pub(crate) struct RenameFilter {
    renames: Vec<(FieldPath, FieldPath)>,
}

impl RenameFilter {
    pub(super) fn apply(&self, event: &mut Event) {
        for (from, to) in &self.renames {
            from.rename(&mut event.record, to);
        }
    }
}

#[cfg(test)]
mod tests {
    use levee_event::{Record, Value};

    use super::*;

    fn build(toml_text: &str) -> Result<RenameFilter, FilterError> {
        let config: RenameConfig = toml::from_str(&format!("match = \"**\"\n{toml_text}")).unwrap();
        config.build()
    }

    fn event(fields: &[(&str, Value)]) -> Event {
        crate::filters::testkit::event_at("t", 0, fields)
    }

    fn keys(record: &Record) -> Vec<&str> {
        record.keys().map(|k| k.as_str()).collect()
    }

    #[test]
    fn renames_in_place_and_across_maps() {
        let f = build(
            r#"rename = { remote_addr = "client_ip", "geo_ip.city" = "city", ua = "http.agent" }"#,
        )
        .unwrap();
        let geo: Record = [
            ("city".to_owned(), Value::from("Oslo")),
            ("cc".to_owned(), Value::from("NO")),
        ]
        .into_iter()
        .collect();
        let mut e = event(&[
            ("remote_addr", "10.0.0.1".into()),
            ("geo_ip", Value::from(geo)),
            ("ua", "curl".into()),
            ("status", Value::Int(200)),
        ]);
        f.apply(&mut e);
        assert_eq!(
            keys(&e.record),
            ["client_ip", "geo_ip", "status", "city", "http"]
        );
        assert_eq!(e.record["city"], Value::from("Oslo"));
        assert_eq!(
            Value::get_path(&e.record, "http.agent"),
            Some(&Value::from("curl"))
        );
        let Value::Map(geo) = &e.record["geo_ip"] else {
            panic!("geo_ip stays a map")
        };
        assert_eq!(keys(geo), ["cc"]);
    }

    #[test]
    fn missing_fields_and_unreachable_targets_change_nothing() {
        let f = build(r#"rename = { a = "b.c", x = "y" }"#).unwrap();
        let original = event(&[("a", Value::Int(1)), ("b", "text".into())]);
        let mut e = original.clone();
        f.apply(&mut e);
        assert_eq!(e, original);
    }

    #[test]
    fn a_target_is_replaced() {
        let f = build(r#"rename = { new_status = "status" }"#).unwrap();
        let mut e = event(&[("status", Value::Int(1)), ("new_status", Value::Int(2))]);
        f.apply(&mut e);
        assert_eq!(keys(&e.record), ["status"]);
        assert_eq!(e.record["status"], Value::Int(2));
    }

    #[test]
    fn hostile_config_is_refused_with_the_key() {
        let conflict = |text: &str, needle: &str| {
            let err = build(text).unwrap_err();
            assert!(
                matches!(err, FilterError::RenameConflict { .. }),
                "{text}: {err}"
            );
            assert!(err.to_string().contains("`rename`"), "{err}");
            assert!(err.to_string().contains(needle), "{text}: {err}");
        };
        conflict(r#"rename = { a = "b", b = "c" }"#, "both renamed");
        conflict(r#"rename = { a = "c", b = "c" }"#, "more than one");
        conflict(r#"rename = { a = "a" }"#, "inside itself");
        conflict(r#"rename = { a = "a.b" }"#, "inside itself");
        conflict(r#"rename = { "a.b" = "a" }"#, "inside itself");
        conflict(
            r#"rename = { a = "x", "a.b" = "y" }"#,
            "`a.b` is inside `a`",
        );
        conflict(r#"rename = { a = "x.y", b = "x" }"#, "`x.y` is inside `x`");

        for bad in [r#"rename = { "" = "b" }"#, r#"rename = { a = "b..c" }"#] {
            let err = build(bad).unwrap_err();
            assert!(
                matches!(err, FilterError::BadPath { key: "rename", .. }),
                "{bad}: {err}"
            );
        }
        let err = build("rename = {}").unwrap_err();
        assert!(
            matches!(err, FilterError::Empty { kind: "rename", .. }),
            "{err}"
        );
        let err =
            toml::from_str::<RenameConfig>("match = \"**\"\nfields = { a = \"b\" }").unwrap_err();
        assert!(err.to_string().contains("fields"), "{err}");
        let err = toml::from_str::<RenameConfig>("match = \"**\"\nrename = { a = 1 }").unwrap_err();
        assert!(err.to_string().contains("string"), "{err}");
    }
}
