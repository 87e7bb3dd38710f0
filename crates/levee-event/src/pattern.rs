//! Tag patterns, as Fluentd and Fluent Bit users write them in `match`.
//!
//! `*` matches one dot-separated part (or, inside a part, any run of
//! characters other than a dot), `**` matches zero or more parts, `{a,b}`
//! matches either alternative, and patterns separated by spaces match if any
//! does. `nginx.**` matches `nginx` itself, as in Fluentd.

use std::fmt;

/// Why a pattern was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PatternError {
    /// The pattern has no text.
    #[error("an empty tag pattern matches nothing; write `**` to match every tag")]
    Empty,
    /// A `{` without its `}` or the other way round.
    #[error("unbalanced braces in tag pattern `{0}`")]
    UnbalancedBraces(String),
    /// Braces nested or repeated so much that the pattern would explode.
    #[error("tag pattern `{0}` expands to more than {MAX_EXPANSIONS} alternatives")]
    TooManyAlternatives(String),
    /// `**` glued to other characters inside one part, such as `a**`.
    #[error("`**` must be a whole part of the tag pattern `{0}` (write `a.**`, not `a**`)")]
    MisplacedDoubleStar(String),
    /// An empty part, as in `a..b`.
    #[error("tag pattern `{0}` has an empty part")]
    EmptyPart(String),
}

const MAX_EXPANSIONS: usize = 256;

#[derive(Clone, Debug, PartialEq, Eq)]
enum Part {
    /// `**`: zero or more whole parts.
    AnyParts,
    /// A literal part, or one with `*` wildcards inside it.
    Glob(String),
}

/// A compiled `match` pattern.
#[derive(Clone, PartialEq, Eq)]
pub struct TagPattern {
    source: String,
    alternatives: Vec<Vec<Part>>,
}

impl TagPattern {
    /// Compiles a pattern such as `nginx.*`, `firehose_parsed.**` or
    /// `{app,web}.access @ERROR`.
    pub fn new(pattern: &str) -> Result<TagPattern, PatternError> {
        let mut alternatives = Vec::new();
        for word in pattern.split_whitespace() {
            for expanded in expand_braces(word)? {
                alternatives.push(compile(&expanded, pattern)?);
            }
            if alternatives.len() > MAX_EXPANSIONS {
                return Err(PatternError::TooManyAlternatives(pattern.to_owned()));
            }
        }
        if alternatives.is_empty() {
            return Err(PatternError::Empty);
        }
        Ok(TagPattern {
            source: pattern.to_owned(),
            alternatives,
        })
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// True if `tag` matches any alternative of this pattern.
    pub fn matches(&self, tag: &str) -> bool {
        let parts: Vec<&str> = tag.split('.').collect();
        self.alternatives.iter().any(|alt| match_parts(alt, &parts))
    }
}

impl fmt::Debug for TagPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TagPattern({:?})", self.source)
    }
}

impl fmt::Display for TagPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

impl std::str::FromStr for TagPattern {
    type Err = PatternError;
    fn from_str(s: &str) -> Result<TagPattern, PatternError> {
        TagPattern::new(s)
    }
}

fn compile(word: &str, whole: &str) -> Result<Vec<Part>, PatternError> {
    word.split('.')
        .map(|part| match part {
            "" => Err(PatternError::EmptyPart(whole.to_owned())),
            "**" => Ok(Part::AnyParts),
            p if p.contains("**") => Err(PatternError::MisplacedDoubleStar(whole.to_owned())),
            p => Ok(Part::Glob(p.to_owned())),
        })
        .collect()
}

/// Expands every `{a,b}` group (groups may nest) into plain alternatives.
fn expand_braces(word: &str) -> Result<Vec<String>, PatternError> {
    let Some(open) = word.find('{') else {
        if word.contains('}') {
            return Err(PatternError::UnbalancedBraces(word.to_owned()));
        }
        return Ok(vec![word.to_owned()]);
    };
    // Find the `}` that closes this `{`, and the top-level commas inside it.
    let mut depth = 0usize;
    let mut close = None;
    let mut commas = Vec::new();
    for (i, c) in word[open..].char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    close = Some(open + i);
                    break;
                }
            }
            ',' if depth == 1 => commas.push(open + i),
            _ => {}
        }
    }
    let close = close.ok_or_else(|| PatternError::UnbalancedBraces(word.to_owned()))?;
    let (prefix, suffix) = (&word[..open], &word[close + 1..]);
    let mut bounds = vec![open];
    bounds.extend(commas);
    bounds.push(close);
    let mut out = Vec::new();
    for pair in bounds.windows(2) {
        let choice = &word[pair[0] + 1..pair[1]];
        for expanded in expand_braces(&format!("{prefix}{choice}{suffix}"))? {
            out.push(expanded);
            if out.len() > MAX_EXPANSIONS {
                return Err(PatternError::TooManyAlternatives(word.to_owned()));
            }
        }
    }
    Ok(out)
}

fn match_parts(pattern: &[Part], tag: &[&str]) -> bool {
    match pattern.split_first() {
        None => tag.is_empty(),
        Some((Part::AnyParts, rest)) => (0..=tag.len()).any(|skip| match_parts(rest, &tag[skip..])),
        Some((Part::Glob(glob), rest)) => match tag.split_first() {
            Some((first, tail)) => {
                glob_match(glob.as_bytes(), first.as_bytes()) && match_parts(rest, tail)
            }
            None => false,
        },
    }
}

/// `*` inside one part: any run of characters (the part has no dots).
fn glob_match(glob: &[u8], text: &[u8]) -> bool {
    // Iterative matcher with one backtrack point: linear in practice.
    let (mut g, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if g < glob.len() && glob[g] == b'*' {
            star = Some((g, t));
            g += 1;
        } else if g < glob.len() && glob[g] == text[t] {
            g += 1;
            t += 1;
        } else if let Some((sg, st)) = star {
            g = sg + 1;
            t = st + 1;
            star = Some((sg, st + 1));
        } else {
            return false;
        }
    }
    glob[g..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pattern: &str, tag: &str) -> bool {
        TagPattern::new(pattern).unwrap().matches(tag)
    }

    #[test]
    fn star_matches_exactly_one_part() {
        assert!(m("a.*", "a.b"));
        assert!(!m("a.*", "a"));
        assert!(!m("a.*", "a.b.c"));
        assert!(m("*.access", "nginx.access"));
    }

    #[test]
    fn double_star_matches_zero_or_more_parts() {
        assert!(m("a.**", "a"));
        assert!(m("a.**", "a.b"));
        assert!(m("a.**", "a.b.c"));
        assert!(!m("a.**", "ab.c"));
        assert!(m("**", "anything.at.all"));
        assert!(m("a.**.z", "a.z"));
        assert!(m("a.**.z", "a.b.c.z"));
        assert!(!m("a.**.z", "a.b.c"));
    }

    #[test]
    fn braces_are_alternatives() {
        assert!(m("{nginx,apache}.access", "nginx.access"));
        assert!(m("{nginx,apache}.access", "apache.access"));
        assert!(!m("{nginx,apache}.access", "envoy.access"));
        assert!(m("a.{b,c.**}", "a.c.d.e"));
        assert!(m("a.{b,{c,d}}", "a.d"));
    }

    #[test]
    fn spaces_separate_alternatives() {
        let p = TagPattern::new("nginx.** @ERROR").unwrap();
        assert!(p.matches("nginx.access"));
        assert!(p.matches("@ERROR"));
        assert!(!p.matches("events"));
    }

    #[test]
    fn star_inside_a_part_does_not_cross_dots() {
        assert!(m("nginx*", "nginx_web"));
        assert!(!m("nginx*", "nginx.web"));
        assert!(m("a.*b*", "a.xbz"));
    }

    #[test]
    fn hostile_patterns_are_refused_with_a_reason() {
        assert_eq!(TagPattern::new("  "), Err(PatternError::Empty));
        assert!(matches!(
            TagPattern::new("a.{b"),
            Err(PatternError::UnbalancedBraces(_))
        ));
        assert!(matches!(
            TagPattern::new("a.b}"),
            Err(PatternError::UnbalancedBraces(_))
        ));
        assert!(matches!(
            TagPattern::new("a**"),
            Err(PatternError::MisplacedDoubleStar(_))
        ));
        assert!(matches!(
            TagPattern::new("a..b"),
            Err(PatternError::EmptyPart(_))
        ));
        let bomb = "{a,b}.{a,b}.{a,b}.{a,b}.{a,b}.{a,b}.{a,b}.{a,b}.{a,b}";
        assert!(matches!(
            TagPattern::new(bomb),
            Err(PatternError::TooManyAlternatives(_))
        ));
    }

    proptest::proptest! {
        #[test]
        fn never_panics(pattern in "[a-c*.{},@ ]{0,24}", tag in "[a-c.]{0,12}") {
            if let Ok(p) = TagPattern::new(&pattern) {
                let _ = p.matches(&tag);
            }
        }

        #[test]
        fn literal_pattern_matches_only_itself(tag in "[a-z]{1,5}(\\.[a-z]{1,5}){0,3}", other in "[a-z]{1,5}") {
            let p = TagPattern::new(&tag).unwrap();
            proptest::prop_assert!(p.matches(&tag));
            let different = format!("{tag}.{other}");
            proptest::prop_assert!(!p.matches(&different));
        }
    }
}
