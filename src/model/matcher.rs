//! Label matchers (`=`, `!=`, `=~`, `!~`) with Prometheus' fully anchored RE2 semantics.
//!
//! A regex matcher `l=~"re"` matches a value only if the whole value matches, as
//! Prometheus compiles `^(?s:re)$`. Common shapes (a literal, `.*`, `.+`, an alternation of
//! literals) are answered without running the regex engine.

use std::fmt;

use regex::Regex;

use super::labels::write_escaped_value;

/// The comparison a matcher makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MatchOp {
    Equal,
    NotEqual,
    RegexMatch,
    RegexNoMatch,
}

impl MatchOp {
    pub fn as_str(self) -> &'static str {
        match self {
            MatchOp::Equal => "=",
            MatchOp::NotEqual => "!=",
            MatchOp::RegexMatch => "=~",
            MatchOp::RegexNoMatch => "!~",
        }
    }
}

impl fmt::Display for MatchOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a regex matcher reduces to, when it can be answered without the regex engine.
#[derive(Clone, Debug)]
enum Fast {
    /// Anything, including the empty string (`.*`).
    Any,
    /// Any non-empty string (`.+`).
    NonEmpty,
    /// One of these exact strings (a literal or an alternation of literals).
    Set(Vec<String>),
    /// Must run the regex.
    Regex(Regex),
}

/// One label matcher.
#[derive(Clone, Debug)]
pub struct Matcher {
    pub name: String,
    pub op: MatchOp,
    pub value: String,
    fast: Option<Fast>,
}

impl PartialEq for Matcher {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.op == other.op && self.value == other.value
    }
}
impl Eq for Matcher {}

impl std::hash::Hash for Matcher {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.name.hash(state);
        self.op.hash(state);
        self.value.hash(state);
    }
}

/// Characters that make a pattern more than a literal.
fn is_regex_meta(c: char) -> bool {
    matches!(
        c,
        '\\' | '.' | '+' | '*' | '?' | '(' | ')' | '|' | '[' | ']' | '{' | '}' | '^' | '$'
    )
}

fn analyse(pattern: &str) -> Result<Fast, regex::Error> {
    // Compile first so that invalid patterns are always rejected, even ones a fast path
    // would have handled.
    let re = super::regex_cache::anchored(pattern)?;
    if pattern == ".*" {
        return Ok(Fast::Any);
    }
    if pattern == ".+" {
        return Ok(Fast::NonEmpty);
    }
    if pattern
        .split('|')
        .all(|alt| !alt.chars().any(is_regex_meta))
    {
        return Ok(Fast::Set(pattern.split('|').map(str::to_string).collect()));
    }
    Ok(Fast::Regex(re))
}

impl Matcher {
    /// Builds a matcher; a regex that RE2 syntax rejects is an error.
    pub fn new(
        op: MatchOp,
        name: impl Into<String>,
        value: impl Into<String>,
    ) -> Result<Self, regex::Error> {
        let value = value.into();
        let fast = match op {
            MatchOp::RegexMatch | MatchOp::RegexNoMatch => Some(analyse(&value)?),
            _ => None,
        };
        Ok(Matcher {
            name: name.into(),
            op,
            value,
            fast,
        })
    }

    /// An equality matcher; cannot fail.
    pub fn equal(name: impl Into<String>, value: impl Into<String>) -> Self {
        Matcher {
            name: name.into(),
            op: MatchOp::Equal,
            value: value.into(),
            fast: None,
        }
    }

    /// True when `v` (the label's value, `""` when absent) satisfies the matcher.
    pub fn matches(&self, v: &str) -> bool {
        match self.op {
            MatchOp::Equal => v == self.value,
            MatchOp::NotEqual => v != self.value,
            MatchOp::RegexMatch => self.regex_matches(v),
            MatchOp::RegexNoMatch => !self.regex_matches(v),
        }
    }

    fn regex_matches(&self, v: &str) -> bool {
        match &self.fast {
            Some(Fast::Any) => true,
            Some(Fast::NonEmpty) => !v.is_empty(),
            Some(Fast::Set(set)) => set.iter().any(|s| s == v),
            Some(Fast::Regex(re)) => re.is_match(v),
            None => false,
        }
    }

    /// True when the matcher accepts the empty string, i.e. also selects series that lack
    /// the label entirely.
    pub fn matches_empty(&self) -> bool {
        self.matches("")
    }

    /// For a regex matcher that is an alternation of literals, those literals; lets the
    /// postings index look values up directly instead of scanning.
    pub fn set_matches(&self) -> Option<&[String]> {
        match (&self.op, &self.fast) {
            (MatchOp::RegexMatch, Some(Fast::Set(s))) => Some(s),
            _ => None,
        }
    }
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if super::labels::is_valid_legacy_label_name(&self.name) {
            f.write_str(&self.name)?;
        } else {
            write_escaped_value(f, &self.name)?;
        }
        f.write_str(self.op.as_str())?;
        write_escaped_value(f, &self.value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(op: MatchOp, v: &str) -> Matcher {
        Matcher::new(op, "l", v).unwrap()
    }

    #[test]
    fn regex_is_fully_anchored() {
        let re = m(MatchOp::RegexMatch, "fo+");
        assert!(re.matches("foo"));
        assert!(!re.matches("xfoo"));
        assert!(!re.matches("foox"));
        // (?s): dot matches newline.
        assert!(m(MatchOp::RegexMatch, "a.b").matches("a\nb"));
        assert!(m(MatchOp::RegexMatch, "a|b").matches("b"));
        assert!(!m(MatchOp::RegexMatch, "a|b").matches("ab"));
    }

    #[test]
    fn fast_paths_agree_with_regex() {
        for pat in [".*", ".+", "abc", "a|b|", "", "x|yz"] {
            let fast = m(MatchOp::RegexMatch, pat);
            let re = Regex::new(&format!("^(?s:{pat})$")).unwrap();
            for v in ["", "a", "b", "abc", "x", "yz", "\n"] {
                assert_eq!(fast.matches(v), re.is_match(v), "{pat} on {v:?}");
                let neg = m(MatchOp::RegexNoMatch, pat);
                assert_eq!(neg.matches(v), !re.is_match(v));
            }
        }
    }

    #[test]
    fn invalid_regex_is_an_error() {
        assert!(Matcher::new(MatchOp::RegexMatch, "l", "(").is_err());
        // RE2 has no backreferences or lookaround.
        assert!(Matcher::new(MatchOp::RegexMatch, "l", "(?=a)").is_err());
    }

    #[test]
    fn empty_matching() {
        assert!(m(MatchOp::Equal, "").matches_empty());
        assert!(!m(MatchOp::NotEqual, "").matches_empty());
        assert!(m(MatchOp::RegexMatch, "a|").matches_empty());
        assert!(!m(MatchOp::RegexMatch, ".+").matches_empty());
    }

    #[test]
    fn display() {
        assert_eq!(m(MatchOp::RegexNoMatch, "a\"b").to_string(), r#"l!~"a\"b""#);
    }
}
