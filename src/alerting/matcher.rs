//! Alertmanager's label matchers (`pkg/labels` of Alertmanager 0.25): `name="value"`,
//! `name!="value"`, `name=~"re"`, `name!~"re"`, with or without quotes around the value,
//! in lists such as `{a="b", c=~"d.*"}` (routes' and inhibit rules' `matchers`, amtool's
//! arguments, the API's `filter`).
//!
//! Regexes are anchored and compiled through [`compile_regex`], the one place that
//! decides which regex engine Alertmanager matchers use (the model's RE2-compatible
//! helpers), so it can be swapped without touching the rest of the pipeline.

use std::collections::BTreeMap;
use std::fmt;

use regex::Regex;

/// The comparison a matcher makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MatchType {
    Equal,
    NotEqual,
    Regexp,
    NotRegexp,
}

impl MatchType {
    pub fn as_str(self) -> &'static str {
        match self {
            MatchType::Equal => "=",
            MatchType::NotEqual => "!=",
            MatchType::Regexp => "=~",
            MatchType::NotRegexp => "!~",
        }
    }
}

/// Why a matcher did not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MatcherError {
    #[error("bad matcher format: {0}")]
    Format(String),
    #[error("invalid label name {0:?}")]
    LabelName(String),
    #[error("invalid regular expression {pattern:?}: {message}")]
    Regex { pattern: String, message: String },
}

/// Compiles an Alertmanager matcher regex, anchored at both ends (`^(?:re)$`, as
/// Alertmanager does: unlike Prometheus 3's label matchers, `.` does not match a newline),
/// with RE2's syntax through the project's one regex front end.
pub fn compile_regex(pattern: &str) -> Result<Regex, MatcherError> {
    crate::model::regex::compile(&format!("^(?:{pattern})$")).map_err(|e| MatcherError::Regex {
        pattern: pattern.to_string(),
        message: e.to_string(),
    })
}

/// One alternative of a regex simple enough to match without a regex engine: `LIT`,
/// `LIT.*`, `.*LIT` or `.*LIT.*` (LIT free of regex syntax and newlines).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Piece {
    any_before: bool,
    lit: String,
    any_after: bool,
}

impl Piece {
    fn matches(&self, v: &str) -> bool {
        match (self.any_before, self.any_after) {
            (false, false) => v == self.lit,
            // `.` does not match a newline (see [`compile_regex`]).
            _ if v.contains('\n') => false,
            (false, true) => v.starts_with(&self.lit),
            (true, false) => v.ends_with(&self.lit),
            (true, true) => v.contains(&self.lit),
        }
    }
}

/// Splits `pattern` into [`Piece`]s when it is an alternation of them (what most
/// silences and routes use: `host-1.*`, `a|b|c`, `.*-canary`); `None` for anything
/// else, which goes to the regex engine. Anchored as [`compile_regex`] anchors.
fn simple_pieces(pattern: &str) -> Option<Vec<Piece>> {
    const META: &[char] = &[
        '\\', '.', '+', '*', '?', '(', ')', '[', ']', '{', '}', '^', '$', '\n',
    ];
    pattern
        .split('|')
        .map(|p| {
            let (any_before, p) = match p.strip_prefix(".*") {
                Some(rest) => (true, rest),
                None => (false, p),
            };
            let (any_after, p) = match p.strip_suffix(".*") {
                Some(rest) => (true, rest),
                None => (false, p),
            };
            (!p.contains(META)).then(|| Piece {
                any_before,
                lit: p.to_string(),
                any_after,
            })
        })
        .collect()
}

/// One label matcher. A missing label matches as the empty value, as in Alertmanager.
///
/// A regex that is an alternation of literals with leading or trailing `.*` (see
/// [`simple_pieces`]) is matched by string comparison and never compiled: a thousand
/// silences such as `instance=~"decommissioned-17-.*"` then cost a few bytes each
/// instead of a compiled program and lazy-DFA cache apiece, and a comparison instead of
/// a regex search per alert.
#[derive(Clone, Debug)]
pub struct Matcher {
    pub name: String,
    pub op: MatchType,
    pub value: String,
    re: Option<Regex>,
    pieces: Option<Box<[Piece]>>,
}

impl PartialEq for Matcher {
    fn eq(&self, o: &Self) -> bool {
        self.name == o.name && self.op == o.op && self.value == o.value
    }
}
impl Eq for Matcher {}

impl Matcher {
    /// A matcher; regex kinds compile `value`.
    pub fn new(name: &str, op: MatchType, value: &str) -> Result<Matcher, MatcherError> {
        let (re, pieces) = match op {
            MatchType::Regexp | MatchType::NotRegexp => match simple_pieces(value) {
                Some(p) => (None, Some(p.into_boxed_slice())),
                None => (Some(compile_regex(value)?), None),
            },
            _ => (None, None),
        };
        Ok(Matcher {
            name: name.to_string(),
            op,
            value: value.to_string(),
            re,
            pieces,
        })
    }

    fn regex_match(&self, v: &str) -> bool {
        match (&self.pieces, &self.re) {
            (Some(p), _) => p.iter().any(|p| p.matches(v)),
            (None, Some(r)) => r.is_match(v),
            (None, None) => false,
        }
    }

    /// Whether `v` (the label's value, empty when absent) satisfies the matcher.
    pub fn matches_value(&self, v: &str) -> bool {
        match self.op {
            MatchType::Equal => v == self.value,
            MatchType::NotEqual => v != self.value,
            MatchType::Regexp => self.regex_match(v),
            MatchType::NotRegexp => !self.regex_match(v),
        }
    }

    /// Whether the label set satisfies the matcher.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.matches_value(labels.get(&self.name).map_or("", String::as_str))
    }

    /// Alertmanager's sort order for a matcher list: name, value, then type.
    pub fn sort_key(&self) -> (&str, &str, MatchType) {
        (&self.name, &self.value, self.op)
    }
}

impl fmt::Display for Matcher {
    /// `name="value"`, the value escaped as OpenMetrics does (`\\`, `\"`, `\n`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}{}\"{}\"",
            self.name,
            self.op.as_str(),
            openmetrics_escape(&self.value)
        )
    }
}

/// A matcher list printed as Alertmanager prints it: `{a="b",c=~"d"}`.
pub fn matchers_string(ms: &[Matcher]) -> String {
    let parts: Vec<String> = ms.iter().map(ToString::to_string).collect();
    format!("{{{}}}", parts.join(","))
}

/// Whether every matcher matches.
pub fn all_match(ms: &[Matcher], labels: &BTreeMap<String, String>) -> bool {
    ms.iter().all(|m| m.matches(labels))
}

fn openmetrics_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// Whether `s` is a valid Prometheus label name.
pub fn valid_label_name(s: &str) -> bool {
    let mut cs = s.chars();
    match cs.next() {
        Some(c) if c.is_ascii_alphabetic() || c == '_' => {}
        _ => return false,
    }
    cs.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Parses a list of matchers: `{a="b", c=~"d"}`, `a=b,c!=d` or one matcher. Commas inside
/// quoted values do not split.
pub fn parse_matchers(s: &str) -> Result<Vec<Matcher>, MatcherError> {
    let mut t = s.trim();
    if let Some(inner) = t.strip_prefix('{') {
        t = inner.strip_suffix('}').unwrap_or(inner);
    }
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_quotes = false;
    let mut escaped = false;
    for c in t.chars() {
        if escaped {
            cur.push(c);
            escaped = false;
            continue;
        }
        match c {
            '\\' if in_quotes => {
                cur.push(c);
                escaped = true;
            }
            '"' => {
                in_quotes = !in_quotes;
                cur.push(c);
            }
            ',' if !in_quotes => {
                if !cur.trim().is_empty() {
                    out.push(parse_matcher(&cur)?);
                }
                cur.clear();
            }
            c => cur.push(c),
        }
    }
    if !cur.trim().is_empty() {
        out.push(parse_matcher(&cur)?);
    }
    Ok(out)
}

/// Parses one matcher, `name op value`, where the value may be double-quoted (with `\\`,
/// `\"` and `\n` escapes) or bare.
pub fn parse_matcher(s: &str) -> Result<Matcher, MatcherError> {
    let bad = || MatcherError::Format(s.to_string());
    let t = s.trim();
    let name_end = t
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .ok_or_else(bad)?;
    let name = &t[..name_end];
    if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
        return Err(bad());
    }
    let rest = t[name_end..].trim_start();
    let (op, rest) = if let Some(r) = rest.strip_prefix("=~") {
        (MatchType::Regexp, r)
    } else if let Some(r) = rest.strip_prefix("!=") {
        (MatchType::NotEqual, r)
    } else if let Some(r) = rest.strip_prefix("!~") {
        (MatchType::NotRegexp, r)
    } else if let Some(r) = rest.strip_prefix('=') {
        (MatchType::Equal, r)
    } else {
        return Err(bad());
    };
    let raw = rest.trim();
    let value = if raw.len() >= 2 && raw.starts_with('"') && raw.ends_with('"') {
        unquote(&raw[1..raw.len() - 1]).ok_or_else(bad)?
    } else {
        raw.to_string()
    };
    if !valid_label_name(name) {
        return Err(MatcherError::LabelName(name.to_string()));
    }
    Matcher::new(name, op, &value)
}

fn unquote(s: &str) -> Option<String> {
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars();
    while let Some(c) = it.next() {
        match c {
            '\\' => match it.next()? {
                'n' => out.push('\n'),
                't' => out.push('\t'),
                '\\' => out.push('\\'),
                '"' => out.push('"'),
                other => {
                    out.push('\\');
                    out.push(other);
                }
            },
            '"' => return None,
            c => out.push(c),
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn parses_quoted_unquoted_and_braced_lists() {
        let ms = parse_matchers(r#"{alertname="Disk, full", severity=~"crit|page", team!=ops}"#)
            .unwrap();
        assert_eq!(ms.len(), 3);
        assert_eq!(ms[0].value, "Disk, full");
        assert_eq!(ms[1].op, MatchType::Regexp);
        assert_eq!(ms[2].to_string(), r#"team!="ops""#);
        let one = parse_matchers("foo!~bar.*").unwrap();
        assert_eq!(one[0].op, MatchType::NotRegexp);
        assert_eq!(
            matchers_string(&ms[..2]),
            r#"{alertname="Disk, full",severity=~"crit|page"}"#
        );
    }

    #[test]
    fn regexes_are_anchored_and_missing_labels_are_empty() {
        let m = parse_matcher("job=~node").unwrap();
        assert!(m.matches(&labels(&[("job", "node")])));
        assert!(!m.matches(&labels(&[("job", "node2")])));
        let ne = parse_matcher(r#"team!="""#).unwrap();
        assert!(!ne.matches(&labels(&[])));
        assert!(ne.matches(&labels(&[("team", "a")])));
        let nre = parse_matcher("x!~.+").unwrap();
        assert!(nre.matches(&labels(&[])));
    }

    #[test]
    fn simple_regexes_match_as_the_regex_engine_does() {
        let patterns = [
            "decommissioned-17-.*",
            "a|b|c",
            ".*-canary",
            ".*mid.*",
            ".*",
            ".*.*",
            "a|",
            "",
            "x.*|.*y|z",
            "héllo.*",
            "a-b,c:d/e=f",
        ];
        let values = [
            "",
            "a",
            "b",
            "d",
            "ab",
            "decommissioned-17-",
            "decommissioned-17-x",
            "decommissioned-1-x",
            "xdecommissioned-17-",
            "web-canary",
            "web-canary\n",
            "a\nmid",
            "mid",
            "amidb",
            "x\n",
            "\ny",
            "z",
            "zz",
            "héllo wörld",
            "a-b,c:d/e=f",
            "line\nbreak",
        ];
        for p in patterns {
            let m = Matcher::new("l", MatchType::Regexp, p).unwrap();
            assert!(
                m.pieces.is_some() && m.re.is_none(),
                "{p} takes the fast path"
            );
            let re = compile_regex(p).unwrap();
            for v in values {
                assert_eq!(m.matches_value(v), re.is_match(v), "{p:?} against {v:?}");
                let n = Matcher::new("l", MatchType::NotRegexp, p).unwrap();
                assert_eq!(n.matches_value(v), !re.is_match(v), "!~{p:?} against {v:?}");
            }
        }
        // Anything with regex syntax in the literal part goes to the engine.
        for p in ["a.b", "(?i)a", "a+", "[ab]", "a\\.b", "^a", "a.*b", ".+"] {
            let m = Matcher::new("l", MatchType::Regexp, p).unwrap();
            assert!(m.re.is_some() && m.pieces.is_none(), "{p} is compiled");
        }
    }

    #[test]
    fn bad_matchers_say_why() {
        assert!(matches!(parse_matcher("foo"), Err(MatcherError::Format(_))));
        assert!(matches!(
            parse_matcher("a=~(x"),
            Err(MatcherError::Regex { .. })
        ));
        assert!(matches!(
            parse_matcher("1a=b"),
            Err(MatcherError::Format(_))
        ));
        assert_eq!(parse_matcher(r#"a="x\"y\\z""#).unwrap().value, "x\"y\\z");
    }
}
