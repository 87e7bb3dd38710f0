//! Which tags the config can make, and where they go: warnings for a
//! `match` that no tag known from the config can reach, and for a known
//! tag that no output matches (its events would be dropped).
//!
//! Tags are followed through the filters in file order, as the router
//! applies them: a source's `tag`, then each filter's fixed `retag`, which
//! takes the events its `match` selects away from their old tag. A retag
//! rendered per event (`"x.${field}"`) is not guessed at: a pattern it
//! could produce is never called unreachable, so no warning is false.
//! `@ERROR` is always reachable (any source makes it for a line that does
//! not parse), and is not warned about when no output takes it.

use levee_event::{ERROR_TAG, TagPattern};

use crate::filters::{Filter, Retags};

/// Where a tag comes from, or where a pattern is: a component and its key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Place {
    /// `sources.nginx`, `filters[1]`, `outputs.lake`.
    pub component: String,
    /// `tag`, `retag` or `match`.
    pub key: &'static str,
}

/// A warning at a place.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Finding {
    pub place: Place,
    pub message: String,
}

/// A tag known from the config, and where it was given.
struct Known {
    tag: String,
    from: Place,
}

/// What can reach each `match`, and what leaves unmatched.
pub(super) fn check(
    sources: &[(String, Option<String>)],
    filters: &[(String, &Filter)],
    outputs: &[(String, &TagPattern)],
) -> Vec<Finding> {
    let mut findings = Vec::new();
    let mut known: Vec<Known> = Vec::new();
    // The literal leading parts of each rendered retag seen so far.
    let mut rendered: Vec<Vec<String>> = Vec::new();
    for (component, tag) in sources {
        // A source whose clients name the tags (forward) can make any
        // tag: like a retag rendered from nothing literal.
        let Some(tag) = tag else {
            rendered.push(Vec::new());
            continue;
        };
        if !known.iter().any(|k| &k.tag == tag) {
            known.push(Known {
                tag: tag.clone(),
                from: Place {
                    component: component.clone(),
                    key: "tag",
                },
            });
        }
    }

    for (component, filter) in filters {
        let pattern = filter.pattern();
        let matched: Vec<usize> = (0..known.len())
            .filter(|&i| pattern.matches(&known[i].tag))
            .collect();
        let reachable = !matched.is_empty() || could_match(pattern, &rendered);
        if !reachable {
            findings.push(unreachable(component, pattern, &known, &rendered));
            continue;
        }
        match filter.retags() {
            Retags::Keep => {}
            Retags::To(tag) => {
                for i in matched.into_iter().rev() {
                    known.remove(i);
                }
                if !known.iter().any(|k| k.tag == tag.as_str()) {
                    known.push(Known {
                        tag: tag.as_str().to_owned(),
                        from: Place {
                            component: component.clone(),
                            key: "retag",
                        },
                    });
                }
            }
            // The matched tags stay: an empty rendering keeps the tag.
            Retags::Rendered(template) => rendered.push(literal_parts(template.as_str())),
        }
    }

    for (component, pattern) in outputs {
        let reachable =
            known.iter().any(|k| pattern.matches(&k.tag)) || could_match(pattern, &rendered);
        if !reachable {
            findings.push(unreachable(component, pattern, &known, &rendered));
        }
    }
    for k in &known {
        if !outputs.iter().any(|(_, p)| p.matches(&k.tag)) {
            let patterns: Vec<String> = outputs.iter().map(|(_, p)| format!("`{p}`")).collect();
            findings.push(Finding {
                place: k.from.clone(),
                message: format!(
                    "events tagged `{}` match no output and are dropped (the outputs match {})",
                    k.tag,
                    patterns.join(", ")
                ),
            });
        }
    }
    findings
}

fn unreachable(
    component: &str,
    pattern: &TagPattern,
    known: &[Known],
    rendered: &[Vec<String>],
) -> Finding {
    let mut seen: Vec<String> = known.iter().map(|k| format!("`{}`", k.tag)).collect();
    seen.push(format!("`{ERROR_TAG}`"));
    for parts in rendered {
        seen.push(format!("`{}.…` (from a rendered retag)", parts.join(".")));
    }
    Finding {
        place: Place {
            component: component.to_owned(),
            key: "match",
        },
        message: format!(
            "`{pattern}` matches no tag known from the config here; the tags that reach it are {}",
            seen.join(", ")
        ),
    }
}

/// True if `pattern` matches `@ERROR`, or could match a tag a rendered
/// retag makes, as far as the retag's literal leading parts tell.
fn could_match(pattern: &TagPattern, rendered: &[Vec<String>]) -> bool {
    pattern.matches(ERROR_TAG)
        || rendered.iter().any(|prefix| {
            pattern
                .as_str()
                .split_whitespace()
                .any(|alternative| alternative_could_match(alternative, prefix))
        })
}

/// Whether one alternative of a pattern can match a tag that starts with
/// the parts `prefix`: only a literal part that differs rules it out.
fn alternative_could_match(alternative: &str, prefix: &[String]) -> bool {
    let parts: Vec<&str> = alternative.split('.').collect();
    for (i, want) in prefix.iter().enumerate() {
        match parts.get(i) {
            // Shorter than what is known: the rest is unknown.
            None => return true,
            Some(&"**") => return true,
            Some(part) if part.contains(['*', '{']) => {}
            Some(part) if part == want => {}
            Some(_) => return false,
        }
    }
    true
}

/// The whole parts before a template's first `$`: `web.${who}` gives `web`.
fn literal_parts(template: &str) -> Vec<String> {
    let literal = template.split('$').next().unwrap_or("");
    let mut parts: Vec<String> = literal.split('.').map(str::to_owned).collect();
    // The last part runs into the variable, so it is not whole.
    parts.pop();
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rendered_retag_keeps_its_literal_parts() {
        assert_eq!(literal_parts("web.${who}.${status}"), ["web"]);
        assert_eq!(literal_parts("a.b${x}"), ["a"]);
        assert!(literal_parts("${tag}").is_empty());
        assert!(literal_parts("x${tag}").is_empty());
    }

    #[test]
    fn only_a_differing_literal_part_rules_a_pattern_out() {
        let prefix = vec!["web".to_owned()];
        for (alternative, could) in [
            ("web.*", true),
            ("*.x", true),
            ("**", true),
            ("{web,api}.x", true),
            ("we*.x", true),
            ("api.*", false),
            ("api.**", false),
        ] {
            assert_eq!(
                alternative_could_match(alternative, &prefix),
                could,
                "{alternative}"
            );
        }
        assert!(alternative_could_match("anything", &[]));
    }
}
