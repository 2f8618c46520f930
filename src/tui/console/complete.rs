//! Autocomplete for the console: what is being typed at the cursor (a metric or function
//! name, a label name inside a selector or a `by (...)` list, a label value inside
//! quotes), and the candidates for it.
//!
//! Candidates come from [`super::source::ConsoleSource`] through a cache keyed by what
//! was asked (`label_values("__name__")`, label names of `{__name__="m"}`, values of
//! `job` in `{__name__="m"}`...). A miss starts a fetch on the runtime and the popup
//! says "loading"; the answer lands in the cache on a later tick. Filtering a cached
//! list is a linear scan with no allocation per non-matching entry, so it stays within a
//! frame at 100k values (see benches/tui_console.rs).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::editor::{is_word_char, AGGREGATIONS, KEYWORDS};
use crate::promql::FUNCTIONS;

/// What the cursor is completing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Context {
    /// A metric name, function, aggregation or keyword.
    Name,
    /// A label name in a selector of `metric` (if named) or in a grouping list.
    LabelName { metric: Option<String> },
    /// A value of `label` in a selector of `metric`; `matchers` are the selector's
    /// other complete matchers.
    LabelValue {
        metric: Option<String>,
        label: String,
        matchers: Vec<String>,
    },
}

/// The completion request at a cursor: the context and the text typed so far, which an
/// accepted candidate replaces (`start..cursor`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    pub context: Context,
    pub prefix: String,
    pub start: usize,
}

/// Works out what `text[..cursor]` is completing; `None` where nothing is (after a
/// number, inside a duration, right after a closing bracket...).
pub fn context_at(text: &str, cursor: usize) -> Option<Request> {
    let before = text.get(..cursor)?;
    if in_comment(before) {
        return None;
    }
    // Inside an open string: a label value.
    if let Some(q) = open_quote(before) {
        let value_prefix = &before[q + 1..];
        let head = before[..q].trim_end();
        let op_len = ["=~", "!~", "!=", "="]
            .iter()
            .find(|op| head.ends_with(*op))
            .map(|op| op.len())?;
        let head = head[..head.len() - op_len].trim_end();
        let label_start = head
            .char_indices()
            .rev()
            .find(|&(_, c)| !is_word_char(c))
            .map_or(0, |(i, c)| i + c.len_utf8());
        let label = head[label_start..].to_string();
        if label.is_empty() {
            return None;
        }
        let brace = open_brace(&before[..q])?;
        let metric = metric_before(&before[..brace]);
        let matchers = complete_matchers(&before[brace + 1..label_start]);
        return Some(Request {
            context: Context::LabelValue {
                metric,
                label,
                matchers,
            },
            prefix: value_prefix.to_string(),
            start: q + 1,
        });
    }
    let word_start = before
        .char_indices()
        .rev()
        .find(|&(_, c)| !is_word_char(c))
        .map_or(0, |(i, c)| i + c.len_utf8());
    let prefix = &before[word_start..];
    if prefix.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    let head = before[..word_start].trim_end();
    if let Some(brace) = open_brace(head) {
        // In a selector: a label name after `{` or `,`.
        if head.ends_with('{') || head.ends_with(',') {
            return Some(Request {
                context: Context::LabelName {
                    metric: metric_before(&before[..brace]),
                },
                prefix: prefix.to_string(),
                start: word_start,
            });
        }
        return None;
    }
    if in_grouping_list(head) {
        return Some(Request {
            context: Context::LabelName { metric: None },
            prefix: prefix.to_string(),
            start: word_start,
        });
    }
    // Inside `[...]` (a range or subquery) nothing completes.
    if head.rfind('[') > head.rfind(']') {
        return None;
    }
    if prefix.is_empty() {
        return None;
    }
    Some(Request {
        context: Context::Name,
        prefix: prefix.to_string(),
        start: word_start,
    })
}

/// Whether the end of `s` is inside a `#` comment (a `#` outside quotes on its last line).
fn in_comment(s: &str) -> bool {
    let line = s.rsplit('\n').next().unwrap_or(s);
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for c in line.chars() {
        match quote {
            Some(q) => {
                if escaped {
                    escaped = false;
                } else if c == '\\' && q != '`' {
                    escaped = true;
                } else if c == q {
                    quote = None;
                }
            }
            None if c == '#' => return true,
            None if matches!(c, '"' | '\'' | '`') => quote = Some(c),
            None => {}
        }
    }
    false
}

/// Byte offset of an unterminated quote in `s` (`"`, `'` or `` ` ``), honouring escapes.
fn open_quote(s: &str) -> Option<usize> {
    let mut open: Option<(usize, char)> = None;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        match open {
            Some((_, q)) => {
                if escaped {
                    escaped = false;
                } else if c == '\\' && q != '`' {
                    escaped = true;
                } else if c == q {
                    open = None;
                }
            }
            None => {
                if c == '#' {
                    // A comment runs to the end of the line; quotes in it do not count.
                    return None;
                }
                if matches!(c, '"' | '\'' | '`') {
                    open = Some((i, c));
                }
            }
        }
    }
    open.map(|(i, _)| i)
}

/// Byte offset of the `{` of a selector still open at the end of `s` (quotes skipped).
fn open_brace(s: &str) -> Option<usize> {
    let mut stack: Vec<usize> = Vec::new();
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if c == '\\' && q != '`' {
                escaped = true;
            } else if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '"' | '\'' | '`' => quote = Some(c),
            '{' => stack.push(i),
            '}' => {
                stack.pop();
            }
            _ => {}
        }
    }
    stack.pop()
}

/// The metric name written right before a selector's `{`, if any.
fn metric_before(s: &str) -> Option<String> {
    let t = s.trim_end();
    let start = t
        .char_indices()
        .rev()
        .find(|&(_, c)| !is_word_char(c))
        .map_or(0, |(i, c)| i + c.len_utf8());
    let w = &t[start..];
    (!w.is_empty() && !w.starts_with(|c: char| c.is_ascii_digit())).then(|| w.to_string())
}

/// `label op "value"` matchers complete in the selector text `s` (between `{` and the
/// matcher being typed).
fn complete_matchers(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|m| {
            m.len() >= 4
                && m.ends_with(['"', '\'', '`'])
                && m.contains(['=', '~'])
                && open_quote(m).is_none()
        })
        .map(str::to_string)
        .collect()
}

/// Whether `head` ends inside the parentheses of `by (`, `without (`, `on (`...
fn in_grouping_list(head: &str) -> bool {
    let Some(open) = head.rfind('(') else {
        return false;
    };
    if head[open..].contains(')') {
        return false;
    }
    let kw = head[..open].trim_end();
    let start = kw
        .char_indices()
        .rev()
        .find(|&(_, c)| !is_word_char(c))
        .map_or(0, |(i, c)| i + c.len_utf8());
    matches!(
        kw[start..].to_ascii_lowercase().as_str(),
        "by" | "without" | "on" | "ignoring" | "group_left" | "group_right"
    )
}

/// What a candidate is; decides its colour and what accepting it inserts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Metric,
    Function,
    Aggregation,
    Keyword,
    Label,
    Value,
}

/// One suggestion.
#[derive(Clone, Debug, PartialEq)]
pub struct Candidate {
    pub text: String,
    pub kind: Kind,
    /// A function's signature, a metric's type and help.
    pub detail: String,
}

impl Candidate {
    /// The text that replaces the typed prefix: functions get their `(`.
    pub fn insertion(&self) -> String {
        match self.kind {
            Kind::Function | Kind::Aggregation => format!("{}(", self.text),
            Kind::Value => escape_value(&self.text),
            _ => self.text.clone(),
        }
    }
}

fn escape_value(v: &str) -> String {
    let mut s = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '"' => s.push_str("\\\""),
            '\n' => s.push_str("\\n"),
            c => s.push(c),
        }
    }
    s
}

/// `rate(range vector) -> instant vector`, from the function table.
pub fn signature(name: &str) -> Option<String> {
    let f = FUNCTIONS.iter().find(|f| f.name == name)?;
    let mut args: Vec<String> = f.arg_types.iter().map(|t| t.documented().into()).collect();
    if f.variadic != 0 {
        if let Some(last) = args.pop() {
            args.push(if f.variadic < 0 {
                format!("{last}...")
            } else {
                format!("[{last}]")
            });
        }
    }
    Some(format!(
        "{}({}) -> {}",
        f.name,
        args.join(", "),
        f.return_type.documented()
    ))
}

fn aggregation_detail(name: &str) -> &'static str {
    match name {
        "topk" | "bottomk" | "limitk" => "(k, instant vector) aggregation",
        "quantile" => "(φ, instant vector) aggregation",
        "count_values" => "(\"label\", instant vector) aggregation",
        "limit_ratio" => "(ratio, instant vector) aggregation",
        _ => "(instant vector) aggregation, by/without (labels)",
    }
}

/// What the cache is asked for: a label's values or label names under some matchers.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum CacheKey {
    Names {
        matchers: Vec<String>,
    },
    Values {
        label: String,
        matchers: Vec<String>,
    },
}

impl CacheKey {
    /// The fetch a request needs: metric names are `__name__` values.
    pub fn for_context(ctx: &Context) -> CacheKey {
        match ctx {
            Context::Name => CacheKey::Values {
                label: "__name__".into(),
                matchers: vec![],
            },
            Context::LabelName { metric } => CacheKey::Names {
                matchers: metric.iter().map(|m| metric_matcher(m, &[])).collect(),
            },
            Context::LabelValue {
                metric,
                label,
                matchers,
            } => {
                let sel = match metric {
                    Some(m) => vec![metric_matcher(m, matchers)],
                    None if !matchers.is_empty() => vec![format!("{{{}}}", matchers.join(","))],
                    None => vec![],
                };
                CacheKey::Values {
                    label: label.clone(),
                    matchers: sel,
                }
            }
        }
    }
}

fn metric_matcher(metric: &str, others: &[String]) -> String {
    let mut m = format!("{{__name__={}", crate::model::quote::go_quote(metric));
    for o in others {
        m.push(',');
        m.push_str(o);
    }
    m.push('}');
    m
}

/// A cached answer.
#[derive(Clone, Debug)]
pub enum Entry {
    Loading,
    Ready(Arc<Vec<String>>),
    Failed(String),
}

/// The candidate lists fetched so far; entries expire after `ttl` and are fetched again
/// (the stale list keeps answering meanwhile).
pub struct Cache {
    entries: HashMap<CacheKey, (Entry, Instant)>,
    ttl: Duration,
}

impl Default for Cache {
    fn default() -> Self {
        Cache {
            entries: HashMap::new(),
            ttl: Duration::from_secs(60),
        }
    }
}

impl Cache {
    /// The entry for `key` and whether a fetch should start (missing or expired and not
    /// already loading).
    pub fn lookup(&self, key: &CacheKey, now: Instant) -> (Option<&Entry>, bool) {
        match self.entries.get(key) {
            None => (None, true),
            Some((e @ Entry::Loading, _)) => (Some(e), false),
            Some((e, at)) => (Some(e), now.duration_since(*at) > self.ttl),
        }
    }

    /// Marks `key` as being fetched, keeping a stale list to answer meanwhile.
    pub fn start(&mut self, key: CacheKey, now: Instant) {
        match self.entries.get_mut(&key) {
            Some((Entry::Ready(_), at)) => *at = now,
            _ => {
                self.entries.insert(key, (Entry::Loading, now));
            }
        }
    }

    /// Stores a fetch's answer.
    pub fn finish(&mut self, key: CacheKey, result: Result<Vec<String>, String>, now: Instant) {
        let e = match result {
            Ok(mut v) => {
                v.sort_unstable();
                v.dedup();
                Entry::Ready(Arc::new(v))
            }
            Err(e) => Entry::Failed(e),
        };
        self.entries.insert(key, (e, now));
    }

    /// Drops everything (the backend changed).
    pub fn clear(&mut self) {
        self.entries.clear();
    }
}

/// At most this many candidates are listed; the popup says how many more matched.
pub const MAX_CANDIDATES: usize = 200;

/// Candidates matching `prefix` in a sorted list: prefix matches first (in order), then
/// substring matches, case-insensitively; returns the total number that matched.
pub fn filter_list(list: &[String], prefix: &str, kind: Kind, out: &mut Vec<Candidate>) -> usize {
    let lower = prefix.to_ascii_lowercase();
    let mut total = 0;
    let mut contains: Vec<&String> = Vec::new();
    for s in list {
        let hit_prefix = starts_with_ignore_case(s, &lower);
        if hit_prefix {
            total += 1;
            if out.len() < MAX_CANDIDATES {
                out.push(Candidate {
                    text: s.clone(),
                    kind,
                    detail: String::new(),
                });
            }
        } else if !lower.is_empty() && contains_ignore_case(s, &lower) {
            total += 1;
            if contains.len() < MAX_CANDIDATES {
                contains.push(s);
            }
        }
    }
    for s in contains {
        if out.len() >= MAX_CANDIDATES {
            break;
        }
        out.push(Candidate {
            text: s.clone(),
            kind,
            detail: String::new(),
        });
    }
    total
}

fn starts_with_ignore_case(s: &str, lower_prefix: &str) -> bool {
    s.len() >= lower_prefix.len()
        && s.as_bytes()[..lower_prefix.len()].eq_ignore_ascii_case(lower_prefix.as_bytes())
}

fn contains_ignore_case(s: &str, lower_needle: &str) -> bool {
    let n = lower_needle.as_bytes();
    let h = s.as_bytes();
    if n.len() > h.len() {
        return false;
    }
    h.windows(n.len()).any(|w| w.eq_ignore_ascii_case(n))
}

/// Function, aggregation and keyword candidates for a name prefix.
pub fn builtin_candidates(prefix: &str, out: &mut Vec<Candidate>) {
    let lower = prefix.to_ascii_lowercase();
    for a in AGGREGATIONS {
        if a.starts_with(&lower) {
            out.push(Candidate {
                text: (*a).to_string(),
                kind: Kind::Aggregation,
                detail: format!("{a}{}", aggregation_detail(a)),
            });
        }
    }
    for f in FUNCTIONS {
        if f.name.starts_with(&lower) {
            out.push(Candidate {
                text: f.name.to_string(),
                kind: Kind::Function,
                detail: signature(f.name).unwrap_or_default(),
            });
        }
    }
    for k in KEYWORDS {
        if k.starts_with(&lower) && !lower.is_empty() && FUNCTIONS.iter().all(|f| f.name != *k) {
            out.push(Candidate {
                text: (*k).to_string(),
                kind: Kind::Keyword,
                detail: "keyword".into(),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(q: &str) -> Option<Request> {
        let cur = q.find('|').expect("cursor marker");
        let text = q.replace('|', "");
        context_at(&text, cur)
    }

    #[test]
    fn names_outside_selectors() {
        let r = ctx("sum(rate(http_req|").unwrap();
        assert_eq!(r.context, Context::Name);
        assert_eq!(r.prefix, "http_req");
        assert_eq!(r.start, 9);
        assert_eq!(ctx("up + |"), None);
        assert_eq!(ctx("rate(x[5|"), None);
        assert_eq!(ctx("x > 1|"), None);
    }

    #[test]
    fn label_names_in_selectors_and_grouping() {
        let r = ctx("rate(http_requests_total{code=\"200\", ha|").unwrap();
        assert_eq!(
            r.context,
            Context::LabelName {
                metric: Some("http_requests_total".into())
            }
        );
        assert_eq!(r.prefix, "ha");
        let r = ctx("{|").unwrap();
        assert_eq!(r.context, Context::LabelName { metric: None });
        let r = ctx("sum by (jo|").unwrap();
        assert_eq!(r.context, Context::LabelName { metric: None });
        assert_eq!(r.prefix, "jo");
        let r = ctx("sum by (job, |").unwrap();
        assert_eq!(r.prefix, "");
        // After a matcher's name, nothing (the operator comes next).
        assert_eq!(ctx("up{job |"), None);
    }

    #[test]
    fn label_values_in_quotes() {
        let r = ctx(r#"up{env="prod",job=~"ap|"#).unwrap();
        assert_eq!(
            r.context,
            Context::LabelValue {
                metric: Some("up".into()),
                label: "job".into(),
                matchers: vec![r#"env="prod""#.into()],
            }
        );
        assert_eq!(r.prefix, "ap");
        assert_eq!(
            CacheKey::for_context(&r.context),
            CacheKey::Values {
                label: "job".into(),
                matchers: vec![r#"{__name__="up",env="prod"}"#.into()]
            }
        );
        // A closed string is not completed.
        assert_eq!(ctx(r#"up{job="api"|"#), None);
        // Quotes in a comment do not open a string.
        assert_eq!(ctx("up # \"x|"), None);
    }

    #[test]
    fn filtering_puts_prefix_hits_first() {
        let list: Vec<String> = ["a_total", "b_total", "go_gc", "total_x"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let mut out = Vec::new();
        let n = filter_list(&list, "TOTAL", Kind::Metric, &mut out);
        assert_eq!(n, 3);
        let names: Vec<&str> = out.iter().map(|c| c.text.as_str()).collect();
        assert_eq!(names, vec!["total_x", "a_total", "b_total"]);
    }

    #[test]
    fn signatures_come_from_the_function_table() {
        assert_eq!(
            signature("rate").unwrap(),
            "rate(range vector) -> instant vector"
        );
        assert_eq!(
            signature("round").unwrap(),
            "round(instant vector, [scalar]) -> instant vector"
        );
        let mut out = Vec::new();
        builtin_candidates("ra", &mut out);
        assert!(out
            .iter()
            .any(|c| c.text == "rate" && c.kind == Kind::Function));
        assert_eq!(out[0].insertion(), format!("{}(", out[0].text));
    }

    #[test]
    fn values_are_escaped_on_insertion() {
        let c = Candidate {
            text: "a\"b\\c".into(),
            kind: Kind::Value,
            detail: String::new(),
        };
        assert_eq!(c.insertion(), "a\\\"b\\\\c");
    }
}
