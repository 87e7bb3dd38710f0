//! `remove`: removes fields, reaching into nested maps.
//!
//! ```toml
//! [[filters]]
//! match = "nginx.**"
//! type = "remove"
//! remove = ["remote_user", "geo_ip.city"]
//! ```

use levee_event::{Event, FieldPath};

use super::{FilterError, field_path};

/// Config of a `remove` filter.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoveConfig {
    /// Tag pattern of the events this filter applies to, such as `nginx.**`:
    /// `*` matches one dot-separated part, `**` any number, `{a,b}` either.
    pub r#match: String,
    /// Paths of the fields to remove: `remote_user`, or `geo_ip.city` for a
    /// field inside a map (the map stays, even if left empty). A missing
    /// field is no error. The other fields keep their order.
    pub remove: Vec<String>,
}

impl RemoveConfig {
    pub(super) fn build(&self) -> Result<RemoveFilter, FilterError> {
        if self.remove.is_empty() {
            return Err(FilterError::Empty {
                kind: "remove",
                needs: "`remove = [\"field\", ...]`",
            });
        }
        let all = self
            .remove
            .iter()
            .map(|path| field_path("remove", path))
            .collect::<Result<Vec<_>, _>>()?;
        // Once `a` is gone, removing `a.b` finds nothing: skip that work,
        // and repeats.
        let mut paths: Vec<FieldPath> = Vec::with_capacity(all.len());
        for path in &all {
            let inside_another = all
                .iter()
                .any(|outer| outer != path && outer.contains(path));
            if !inside_another && !paths.contains(path) {
                paths.push(path.clone());
            }
        }
        Ok(RemoveFilter { paths })
    }
}

/// A built `remove` filter.
#[derive(Debug, Clone)]
pub(crate) struct RemoveFilter {
    paths: Vec<FieldPath>,
}

impl RemoveFilter {
    pub(super) fn apply(&self, event: &mut Event) {
        for path in &self.paths {
            path.remove(&mut event.record);
        }
    }
}

#[cfg(test)]
mod tests {
    use levee_event::{Record, Tag, Value};

    use super::*;

    fn build(toml_text: &str) -> Result<RemoveFilter, FilterError> {
        let config: RemoveConfig = toml::from_str(&format!("match = \"**\"\n{toml_text}")).unwrap();
        config.build()
    }

    fn map(fields: &[(&str, Value)]) -> Record {
        fields
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect()
    }

    #[test]
    fn removes_top_level_and_nested_fields_keeping_order() {
        let f = build(r#"remove = ["remote_user", "geo_ip.city", "absent", "status.x"]"#).unwrap();
        let geo = map(&[("city", "Oslo".into()), ("cc", "NO".into())]);
        let mut e = Event::new(
            Tag::new("t"),
            0,
            map(&[
                ("a", Value::Int(1)),
                ("remote_user", "bob".into()),
                ("geo_ip", Value::from(geo)),
                ("status", Value::Int(200)),
            ]),
        );
        f.apply(&mut e);
        let expected = map(&[
            ("a", Value::Int(1)),
            ("geo_ip", Value::from(map(&[("cc", "NO".into())]))),
            ("status", Value::Int(200)),
        ]);
        assert_eq!(e.record, expected);
        assert_eq!(
            e.record.keys().collect::<Vec<_>>(),
            expected.keys().collect::<Vec<_>>()
        );
    }

    #[test]
    fn paths_inside_removed_ones_are_dropped_at_build() {
        let f = build(r#"remove = ["geo.city", "geo", "x", "geo", "geography"]"#).unwrap();
        assert_eq!(f.paths, ["geo", "x", "geography"]);
    }

    #[test]
    fn hostile_config_is_refused_with_the_key() {
        for bad in [
            r#"remove = [""]"#,
            r#"remove = ["a.", "b"]"#,
            r#"remove = ["${a}"]"#,
        ] {
            let err = build(bad).unwrap_err();
            assert!(
                matches!(err, FilterError::BadPath { key: "remove", .. }),
                "{bad}: {err}"
            );
            assert!(err.to_string().contains("`remove`"), "{err}");
        }
        let err = build("remove = []").unwrap_err();
        assert!(
            matches!(err, FilterError::Empty { kind: "remove", .. }),
            "{err}"
        );
        let err = toml::from_str::<RemoveConfig>("match = \"**\"\nremove = \"a\"").unwrap_err();
        assert!(err.to_string().contains("sequence"), "{err}");
        let err = toml::from_str::<RemoveConfig>("match = \"**\"\nremove = [\"a\"]\nkeys = []")
            .unwrap_err();
        assert!(err.to_string().contains("keys"), "{err}");
    }
}
