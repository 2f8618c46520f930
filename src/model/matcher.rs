//! Label matchers (`=`, `!=`, `=~`, `!~`) with Prometheus' fully anchored RE2 semantics.
//!
//! A regex matcher `l=~"re"` matches a value only if the whole value matches, as
//! Prometheus compiles `^(?s:re)$`. Common shapes (a literal, `.*`, `.+`, an alternation of
//! literals) are answered without running the regex engine.

use std::fmt;

use std::collections::HashSet;
use std::sync::Arc;

use regex::Regex;
use regex_syntax::hir::{Class, Hir, HirKind};
use xxhash_rust::xxh3::Xxh3DefaultBuilder;

use super::labels::write_escaped_value;
use super::regex::RegexError;

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

/// Sets of at most this many strings are scanned; larger ones are hashed.
const SMALL_SET: usize = 8;

/// Most strings a pattern may expand to for set matching (`(?i)` and classes multiply).
const MAX_SET_STRINGS: usize = 1 << 20;

/// Why a label matcher could not be built: its regex is not RE2 syntax, or is too large.
/// Printed as Go prints it (see [`RegexError`]); long patterns are quoted in part.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MatcherError {
    /// The pattern failed the RE2 front end ([`super::regex`]).
    #[error(transparent)]
    Regex(#[from] RegexError),
}

impl MatcherError {
    /// The reason without Go's `error parsing regexp: ` prefix.
    pub fn reason(&self) -> String {
        match self {
            MatcherError::Regex(e) => e.reason(),
        }
    }
}

/// A set of exact strings, hashed when large (30,000 hosts from a dashboard variable).
#[derive(Clone, Debug)]
struct StringSet {
    /// In pattern order, without duplicates; what [`Matcher::set_matches`] returns.
    values: Vec<String>,
    /// Present when `values` is longer than [`SMALL_SET`].
    hashed: Option<HashSet<String, Xxh3DefaultBuilder>>,
}

impl StringSet {
    fn new(values: Vec<String>) -> StringSet {
        let mut seen: HashSet<String, Xxh3DefaultBuilder> = HashSet::default();
        let mut unique = Vec::with_capacity(values.len());
        for v in values {
            if seen.insert(v.clone()) {
                unique.push(v);
            }
        }
        StringSet {
            hashed: (unique.len() > SMALL_SET).then_some(seen),
            values: unique,
        }
    }

    fn contains(&self, v: &str) -> bool {
        match &self.hashed {
            Some(h) => h.contains(v),
            None => self.values.iter().any(|s| s == v),
        }
    }
}

/// What a regex matcher reduces to, when it can be answered without the regex engine.
#[derive(Clone, Debug)]
enum Fast {
    /// Anything, including the empty string (`.*`).
    Any,
    /// Any non-empty string (`.+`).
    NonEmpty,
    /// One of these exact strings: the pattern matches a finite set of strings (a literal,
    /// an alternation of literals, `(?i)` literals, small classes, `?`).
    Set(StringSet),
    /// Must run the regex.
    Regex(Regex),
}

/// One label matcher.
#[derive(Clone, Debug)]
pub struct Matcher {
    pub name: String,
    pub op: MatchOp,
    pub value: String,
    /// Shared: the parser's matcher cache hands out clones, and a set of 30,000 values is
    /// not worth copying per query.
    fast: Option<Arc<Fast>>,
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

/// The finite set of strings `hir` matches in full, or `None` when it is not finite or
/// would exceed `budget` strings/bytes. Anchors and repetitions other than `?` give `None`:
/// the regex handles those.
fn finite_strings(hir: &Hir, budget: usize) -> Option<Vec<String>> {
    match hir.kind() {
        HirKind::Empty => Some(vec![String::new()]),
        HirKind::Literal(lit) => Some(vec![std::str::from_utf8(&lit.0).ok()?.to_string()]),
        HirKind::Class(Class::Unicode(c)) => {
            let mut n = 0usize;
            for r in c.ranges() {
                n += (r.end() as usize) - (r.start() as usize) + 1;
                if n > budget.min(256) {
                    return None;
                }
            }
            Some(
                c.ranges()
                    .iter()
                    .flat_map(|r| r.start()..=r.end())
                    .map(String::from)
                    .collect(),
            )
        }
        // Byte classes only arise with `(?-u)`; ASCII ones are ordinary characters.
        HirKind::Class(Class::Bytes(c)) => {
            let mut out = Vec::new();
            for r in c.ranges() {
                if !r.end().is_ascii() || out.len() + usize::from(r.end() - r.start()) >= 256 {
                    return None;
                }
                out.extend((r.start()..=r.end()).map(|b| char::from(b).to_string()));
            }
            Some(out)
        }
        HirKind::Look(_) => None,
        HirKind::Capture(c) => finite_strings(&c.sub, budget),
        HirKind::Repetition(r) if r.min == 0 && r.max == Some(1) => {
            let mut out = vec![String::new()];
            out.extend(finite_strings(&r.sub, budget)?);
            Some(out)
        }
        HirKind::Repetition(_) => None,
        HirKind::Alternation(subs) => {
            let mut out = Vec::with_capacity(subs.len());
            let mut bytes = 0usize;
            for sub in subs {
                for s in finite_strings(sub, budget)? {
                    bytes += s.len() + 1;
                    out.push(s);
                }
                if out.len() > budget || bytes > budget.saturating_mul(16) {
                    return None;
                }
            }
            Some(out)
        }
        HirKind::Concat(subs) => {
            let mut out = vec![String::new()];
            for sub in subs {
                let tails = finite_strings(sub, budget)?;
                if out.len().saturating_mul(tails.len()) > budget {
                    return None;
                }
                out = if tails.len() == 1 {
                    out.into_iter().map(|s| s + &tails[0]).collect()
                } else {
                    out.iter()
                        .flat_map(|s| tails.iter().map(move |t| format!("{s}{t}")))
                        .collect()
                };
            }
            Some(out)
        }
    }
}

/// The alternatives of a pattern made only of plain characters, escaped metacharacters
/// (`\.`, as Grafana escapes variable values) and `|`, the common shape of a long pattern;
/// `None` for anything else. Such a pattern is always valid, so this skips parsing it.
fn plain_alternation(pattern: &str) -> Option<Vec<String>> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '|' => out.push(std::mem::take(&mut cur)),
            '\\' => match chars.next() {
                Some(e) if regex_syntax::is_meta_character(e) => cur.push(e),
                _ => return None,
            },
            '.' | '+' | '*' | '?' | '(' | ')' | '[' | ']' | '{' | '}' | '^' | '$' => return None,
            c => cur.push(c),
        }
    }
    out.push(cur);
    Some(out)
}

fn analyse(pattern: &str) -> Result<Fast, MatcherError> {
    if pattern == ".*" {
        return Ok(Fast::Any);
    }
    if pattern == ".+" {
        return Ok(Fast::NonEmpty);
    }
    if let Some(values) = plain_alternation(pattern) {
        return Ok(Fast::Set(StringSet::new(values)));
    }
    // The front end validates the pattern exactly as compiling it would (same
    // translation, same parser); a pattern that matches a finite set of strings then
    // needs no automaton, which for a long alternation would cost milliseconds and
    // megabytes to build.
    let hir = super::regex::anchored_hir(pattern)?;
    let budget = MAX_SET_STRINGS.min(pattern.len().saturating_mul(4) + 1024);
    if let Some(values) = finite_strings(&hir, budget) {
        return Ok(Fast::Set(StringSet::new(values)));
    }
    Ok(Fast::Regex(super::regex_cache::anchored(pattern)?))
}

impl Matcher {
    /// Builds a matcher; a regex that RE2 syntax rejects, or one too large to compile
    /// (see [`super::regex_cache::SIZE_LIMIT`]), is an error.
    pub fn new(
        op: MatchOp,
        name: impl Into<String>,
        value: impl Into<String>,
    ) -> Result<Self, MatcherError> {
        let value = value.into();
        let fast = match op {
            MatchOp::RegexMatch | MatchOp::RegexNoMatch => Some(Arc::new(analyse(&value)?)),
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
        match self.fast.as_deref() {
            Some(Fast::Any) => true,
            Some(Fast::NonEmpty) => !v.is_empty(),
            Some(Fast::Set(set)) => set.contains(v),
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
        match (&self.op, self.fast.as_deref()) {
            (MatchOp::RegexMatch, Some(Fast::Set(s))) => Some(&s.values),
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
    use crate::model::regex::excerpt;

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

    /// `host-0001:9100|host-0002:9100|...`, what Grafana's "All" produces.
    fn hosts(n: usize) -> String {
        (1..=n)
            .map(|i| format!("host-{i:04}:9100"))
            .collect::<Vec<_>>()
            .join("|")
    }

    #[test]
    fn finite_patterns_are_sets_and_agree_with_regex() {
        let pats = [
            "abc",
            "a|b|c",
            "ab|ac|a",
            "(?i)ab",
            "foo(bar|baz)?",
            "x[0-3]y",
            "api\\.example\\.com|web\\.example\\.com",
            "(a|b)(c|d)",
            "",
            "a|",
            "é|ü",
        ];
        let values = [
            "",
            "a",
            "b",
            "c",
            "ab",
            "ac",
            "AB",
            "aB",
            "foo",
            "foobar",
            "foobaz",
            "fooba",
            "x0y",
            "x4y",
            "api.example.com",
            "apixexample.com",
            "web.example.com",
            "ac",
            "bd",
            "é",
            "ü",
            "abc",
        ];
        for pat in pats {
            let m = m(MatchOp::RegexMatch, pat);
            assert!(m.set_matches().is_some(), "{pat} should be a set");
            let re = Regex::new(&format!("^(?s:{pat})$")).unwrap();
            for v in values {
                assert_eq!(m.matches(v), re.is_match(v), "{pat} on {v:?}");
            }
        }
        // Not finite, or anchors inside: the regex decides.
        for pat in ["a+", "a.*b", "^a", "a{2,}", "[a-z]+", "\\w+"] {
            assert!(m(MatchOp::RegexMatch, pat).set_matches().is_none(), "{pat}");
        }
        // RE2's \d is ASCII: ten strings.
        assert_eq!(
            m(MatchOp::RegexMatch, "\\d")
                .set_matches()
                .map(<[String]>::len),
            Some(10)
        );
        assert!(m(MatchOp::RegexMatch, "\\d").matches("7"));
        assert!(!m(MatchOp::RegexMatch, "\\d").matches("٣"));
    }

    #[test]
    fn plain_alternations_are_read_without_the_parser() {
        assert_eq!(
            plain_alternation(r"a\.b|c\|d||e-f:9"),
            Some(vec!["a.b".into(), "c|d".into(), "".into(), "e-f:9".into()])
        );
        for pat in [r"a.b", r"a\d", r"(a)", r"a\", "a{2}", "a*"] {
            assert_eq!(plain_alternation(pat), None, "{pat}");
        }
    }

    #[test]
    fn thirty_thousand_value_alternation_is_a_hash_set() {
        let pat = hosts(30_000);
        assert!(pat.len() > 400_000);
        let eq = m(MatchOp::RegexMatch, &pat);
        assert_eq!(eq.set_matches().map(<[String]>::len), Some(30_000));
        assert!(eq.matches("host-0001:9100"));
        assert!(eq.matches("host-30000:9100"));
        assert!(!eq.matches("host-30001:9100"));
        assert!(!eq.matches("host-0001:9100|host-0002:9100"));
        assert!(!eq.matches(""));
        let ne = m(MatchOp::RegexNoMatch, &pat);
        assert!(!ne.matches("host-1234:9100"));
        assert!(ne.matches("db-1:9100"));
        // Escaped dots, as Grafana escapes regex metacharacters in variable values.
        let dotted: Vec<String> = (0..30_000)
            .map(|i| format!("10\\.0\\.{}\\.{}:9100", i / 250, i % 250))
            .collect();
        let dm = m(MatchOp::RegexMatch, &dotted.join("|"));
        assert!(dm.set_matches().is_some());
        assert!(dm.matches("10.0.119.249:9100"));
        assert!(!dm.matches("10x0.119.249:9100"));
    }

    #[test]
    fn large_non_literal_alternation_compiles() {
        let pat: Vec<String> = (0..30_000)
            .map(|i| format!("host-{i:05}:9[0-9]+"))
            .collect();
        let m = m(MatchOp::RegexMatch, &pat.join("|"));
        assert!(m.set_matches().is_none());
        assert!(m.matches("host-00042:9100"));
        assert!(!m.matches("host-00042:8100"));
    }

    #[test]
    fn errors_quote_only_the_start_of_a_long_pattern() {
        let pat = format!("{}|(", hosts(4_000));
        let e = Matcher::new(MatchOp::RegexMatch, "l", pat.as_str()).unwrap_err();
        let text = e.to_string();
        assert!(text.len() < 200, "{text}");
        // Go quotes the whole anchored expression for an unclosed group.
        assert!(
            text.starts_with("error parsing regexp: missing closing ): `^(?s:host-0001:9100|"),
            "{text}"
        );
        assert!(
            text.ends_with(&format!("({} bytes)`", pat.len() + 7)),
            "{text}"
        );
        assert_eq!(excerpt("short"), "short");
        // Cuts at a character boundary.
        let wide = "é".repeat(200);
        assert!(excerpt(&wide).starts_with(&"é".repeat(40)));
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
