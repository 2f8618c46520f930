//! Label sets: a series is identified by its sorted set of (name, value) pairs.
//!
//! Invariants kept by every constructor: pairs sorted by name, names unique, no pair with an
//! empty value (an empty value means "label absent", as in Prometheus).

use std::fmt;

use xxhash_rust::xxh3::Xxh3;

use super::quote::push_go_quoted;

/// Name of the label that carries the metric name.
pub const METRIC_NAME: &str = "__name__";

/// One label pair.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Label {
    pub name: String,
    pub value: String,
}

impl Label {
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Self {
        Label {
            name: name.into(),
            value: value.into(),
        }
    }
}

/// A sorted, duplicate-free set of labels.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Labels(Vec<Label>);

impl Labels {
    /// The empty label set.
    pub fn empty() -> Self {
        Labels(Vec::new())
    }

    /// Builds a label set from arbitrary pairs: sorts by name, drops empty values and keeps
    /// the last value given for a repeated name.
    pub fn new(mut labels: Vec<Label>) -> Self {
        labels.retain(|l| !l.value.is_empty());
        // Stable sort keeps input order among equal names, so "last wins" below is well defined.
        labels.sort_by(|a, b| a.name.cmp(&b.name));
        let mut out: Vec<Label> = Vec::with_capacity(labels.len());
        for l in labels {
            match out.last_mut() {
                Some(prev) if prev.name == l.name => *prev = l,
                _ => out.push(l),
            }
        }
        Labels(out)
    }

    /// Builds a label set from `(name, value)` string pairs.
    pub fn from_pairs<N: AsRef<str>, V: AsRef<str>>(pairs: &[(N, V)]) -> Self {
        Labels::new(
            pairs
                .iter()
                .map(|(n, v)| Label::new(n.as_ref(), v.as_ref()))
                .collect(),
        )
    }

    /// Wraps labels that the caller guarantees are already sorted, unique and non-empty
    /// (checked in debug builds).
    pub fn from_sorted(labels: Vec<Label>) -> Self {
        debug_assert!(labels.windows(2).all(|w| w[0].name < w[1].name));
        debug_assert!(labels.iter().all(|l| !l.value.is_empty()));
        Labels(labels)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Label> {
        self.0.iter()
    }

    pub fn as_slice(&self) -> &[Label] {
        &self.0
    }

    pub fn into_vec(self) -> Vec<Label> {
        self.0
    }

    /// Value of the label `name`, or `None` when absent.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .binary_search_by(|l| l.name.as_str().cmp(name))
            .ok()
            .map(|i| self.0[i].value.as_str())
    }

    /// The metric name (`__name__`), if any.
    pub fn metric_name(&self) -> Option<&str> {
        self.get(METRIC_NAME)
    }

    /// Stable 64-bit hash of the label set (xxh3 over `name 0xff value 0xff ...`); the same
    /// in every process and on every machine, so it may be persisted.
    pub fn stable_hash(&self) -> u64 {
        let mut h = Xxh3::new();
        for l in &self.0 {
            h.update(l.name.as_bytes());
            h.update(&[0xff]);
            h.update(l.value.as_bytes());
            h.update(&[0xff]);
        }
        h.digest()
    }

    /// Hash of only the named labels (used for grouping with `by`).
    pub fn hash_for_labels(&self, names: &[String]) -> u64 {
        let mut h = Xxh3::new();
        for l in self.0.iter().filter(|l| names.contains(&l.name)) {
            h.update(l.name.as_bytes());
            h.update(&[0xff]);
            h.update(l.value.as_bytes());
            h.update(&[0xff]);
        }
        h.digest()
    }

    /// Hash of every label except the named ones and `__name__` (grouping with `without`).
    pub fn hash_without_labels(&self, names: &[String]) -> u64 {
        let mut h = Xxh3::new();
        for l in self
            .0
            .iter()
            .filter(|l| l.name != METRIC_NAME && !names.contains(&l.name))
        {
            h.update(l.name.as_bytes());
            h.update(&[0xff]);
            h.update(l.value.as_bytes());
            h.update(&[0xff]);
        }
        h.digest()
    }

    /// Removes the label `name` in place; true when it was present.
    pub fn remove(&mut self, name: &str) -> bool {
        match self.0.binary_search_by(|l| l.name.as_str().cmp(name)) {
            Ok(i) => {
                self.0.remove(i);
                true
            }
            Err(_) => false,
        }
    }

    /// A copy without `__name__`.
    pub fn without_metric_name(&self) -> Labels {
        Labels(
            self.0
                .iter()
                .filter(|l| l.name != METRIC_NAME)
                .cloned()
                .collect(),
        )
    }

    /// A builder seeded with this label set.
    pub fn builder(&self) -> LabelsBuilder {
        LabelsBuilder {
            base: self.0.clone(),
        }
    }

    /// Go's `labels.Labels.String()`, the form Prometheus puts in error messages and
    /// promtool prints (`tsdb dump`, `test rules`): `{__name__="up", job="a\tb"}`, every
    /// label including the name in label order, values quoted as `strconv.Quote` does,
    /// names outside the legacy charset quoted too. Unlike [`Display`](fmt::Display) it
    /// does not pull the metric name in front of the braces.
    pub fn go_string(&self) -> String {
        let mut s = String::new();
        self.push_go_string(&mut s);
        s
    }

    /// Appends [`Labels::go_string`] to `out`.
    pub fn push_go_string(&self, out: &mut String) {
        push_go_label_pairs(
            out,
            self.0.iter().map(|l| (l.name.as_str(), l.value.as_str())),
        );
    }

    /// Approximate heap bytes held (for memory accounting).
    pub fn heap_bytes(&self) -> usize {
        self.0.capacity() * std::mem::size_of::<Label>()
            + self
                .0
                .iter()
                .map(|l| l.name.capacity() + l.value.capacity())
                .sum::<usize>()
    }
}

impl<'a> IntoIterator for &'a Labels {
    type Item = &'a Label;
    type IntoIter = std::slice::Iter<'a, Label>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl FromIterator<Label> for Labels {
    fn from_iter<T: IntoIterator<Item = Label>>(iter: T) -> Self {
        Labels::new(iter.into_iter().collect())
    }
}

/// Appends pairs in the form of [`Labels::go_string`], in the order given; for label-like
/// maps that are not a [`Labels`] (annotations, which may hold empty values).
pub fn push_go_label_pairs<'a>(
    out: &mut String,
    pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
) {
    out.push('{');
    for (i, (name, value)) in pairs.into_iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        if is_valid_legacy_label_name(name) {
            out.push_str(name);
        } else {
            push_go_quoted(out, name);
        }
        out.push('=');
        push_go_quoted(out, value);
    }
    out.push('}');
}

/// Writes a label value as a double-quoted string with Prometheus' escapes (`\\`, `\"`, `\n`).
pub fn write_escaped_value(f: &mut impl fmt::Write, v: &str) -> fmt::Result {
    f.write_char('"')?;
    for c in v.chars() {
        match c {
            '\\' => f.write_str("\\\\")?,
            '"' => f.write_str("\\\"")?,
            '\n' => f.write_str("\\n")?,
            c => f.write_char(c)?,
        }
    }
    f.write_char('"')
}

/// True when `name` is a valid legacy label name: `[a-zA-Z_][a-zA-Z0-9_]*`.
pub fn is_valid_legacy_label_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    match bytes.next() {
        Some(b) if b.is_ascii_alphabetic() || b == b'_' => {}
        _ => return false,
    }
    bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// True when `name` is a valid legacy metric name: `[a-zA-Z_:][a-zA-Z0-9_:]*`.
pub fn is_valid_legacy_metric_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    match bytes.next() {
        Some(b) if b.is_ascii_alphabetic() || b == b'_' || b == b':' => {}
        _ => return false,
    }
    bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':')
}

/// Formats as `metric{a="b", c="d"}`, the way Prometheus prints series. A metric name or
/// label names that are not legacy identifiers (UTF-8 names, Prometheus 3) are quoted:
/// `{"my.metric", "a.b"="c"}`.
impl fmt::Display for Labels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = self.metric_name();
        let legacy_name = name.filter(|n| is_valid_legacy_metric_name(n));
        if let Some(n) = legacy_name {
            f.write_str(n)?;
        }
        let rest = self.0.iter().filter(|l| l.name != METRIC_NAME);
        if legacy_name.is_some() && self.0.len() == 1 {
            return Ok(());
        }
        f.write_str("{")?;
        let mut first = true;
        if let (Some(n), None) = (name, legacy_name) {
            write_escaped_value(f, n)?;
            first = false;
        }
        for l in rest {
            if !first {
                f.write_str(", ")?;
            }
            first = false;
            if is_valid_legacy_label_name(&l.name) {
                f.write_str(&l.name)?;
            } else {
                write_escaped_value(f, &l.name)?;
            }
            f.write_str("=")?;
            write_escaped_value(f, &l.value)?;
        }
        f.write_str("}")
    }
}

/// Edits a label set and produces a new sorted one.
#[derive(Clone, Debug, Default)]
pub struct LabelsBuilder {
    base: Vec<Label>,
}

impl LabelsBuilder {
    pub fn new() -> Self {
        LabelsBuilder::default()
    }

    /// Sets `name` to `value`; an empty value removes the label.
    pub fn set(&mut self, name: &str, value: &str) -> &mut Self {
        self.base.retain(|l| l.name != name);
        if !value.is_empty() {
            self.base.push(Label::new(name, value));
        }
        self
    }

    /// Removes `name`.
    pub fn del(&mut self, name: &str) -> &mut Self {
        self.base.retain(|l| l.name != name);
        self
    }

    /// Keeps only labels whose name is in `names`.
    pub fn keep(&mut self, names: &[String]) -> &mut Self {
        self.base.retain(|l| names.contains(&l.name));
        self
    }

    /// Current value of `name` in the builder.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.base
            .iter()
            .find(|l| l.name == name)
            .map(|l| l.value.as_str())
    }

    pub fn labels(&self) -> Labels {
        Labels::new(self.base.clone())
    }

    /// The label set built, consuming the builder (no copy).
    pub fn into_labels(self) -> Labels {
        Labels::new(self.base)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_string_is_gos_labels_string() {
        let l = Labels::from_pairs(&[("__name__", "up"), ("job", "a\tb\"c\\"), ("x", "é\u{200b}")]);
        assert_eq!(
            l.go_string(),
            "{__name__=\"up\", job=\"a\\tb\\\"c\\\\\", x=\"é\\u200b\"}"
        );
        assert_eq!(Labels::empty().go_string(), "{}");
        // Names outside the legacy charset are quoted (Prometheus 3).
        let u = Labels::from_pairs(&[("__name__", "my.metric"), ("a.b", "c")]);
        assert_eq!(u.go_string(), "{__name__=\"my.metric\", \"a.b\"=\"c\"}");
        // Display, by contrast, puts the name in front.
        assert_eq!(l.to_string().split('{').next(), Some("up"));
    }

    #[test]
    fn new_sorts_dedups_and_drops_empty() {
        let l = Labels::from_pairs(&[("b", "2"), ("a", "1"), ("c", ""), ("b", "3")]);
        assert_eq!(l, Labels::from_pairs(&[("a", "1"), ("b", "3")]));
        assert_eq!(l.get("b"), Some("3"));
        assert_eq!(l.get("c"), None);
    }

    #[test]
    fn display_like_prometheus() {
        let l = Labels::from_pairs(&[("__name__", "up"), ("job", "a\"b\\\n")]);
        assert_eq!(l.to_string(), r#"up{job="a\"b\\\n"}"#);
        assert_eq!(Labels::from_pairs(&[("__name__", "up")]).to_string(), "up");
        assert_eq!(Labels::empty().to_string(), "{}");
        let utf8 = Labels::from_pairs(&[("__name__", "a.b"), ("c.d", "e")]);
        assert_eq!(utf8.to_string(), r#"{"a.b", "c.d"="e"}"#);
    }

    #[test]
    fn stable_hash_depends_on_boundaries() {
        let a = Labels::from_pairs(&[("a", "bc")]);
        let b = Labels::from_pairs(&[("ab", "c")]);
        assert_ne!(a.stable_hash(), b.stable_hash());
        assert_eq!(
            a.stable_hash(),
            Labels::from_pairs(&[("a", "bc")]).stable_hash()
        );
    }

    #[test]
    fn builder_edits() {
        let l = Labels::from_pairs(&[("a", "1"), ("b", "2")]);
        let mut b = l.builder();
        b.set("c", "3").del("a").set("b", "");
        assert_eq!(b.labels(), Labels::from_pairs(&[("c", "3")]));
    }
}
