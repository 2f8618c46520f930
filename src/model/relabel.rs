//! Relabeling: rewriting a label set with an ordered list of `relabel_configs` rules.
//! Scraping applies it to targets (`relabel_configs`, [`crate::scrape::target`]) and
//! scraped samples (`metric_relabel_configs`, [`crate::scrape::scrape_loop`]), the
//! notifier to alerts and Alertmanager targets (`alert_relabel_configs`,
//! [`crate::notifier`]) and remote write to outgoing series (`write_relabel_configs`,
//! [`crate::remote`]). It lives in `model`, beside the label sets it rewrites, so every
//! such user depends on it without depending on scraping.
//!
//! Mirrors upstream `model/relabel/relabel.go` (Prometheus 3.x): the same actions, defaults
//! (`regex: (.*)`, `separator: ;`, `replacement: $1`, `action: replace`), validation
//! messages, fully anchored RE2 regexes compiled as `^(?s:...)$`, Go's `Regexp.Expand`
//! template rules for `$1`, `${1}` and `${name}`, and the MD5-based `hashmod`.
//!
//! Label names are checked with the legacy `[a-zA-Z_][a-zA-Z0-9_]*` rule (what promtool
//! 2.x enforces), not Prometheus 3's UTF-8 names.
//!
//! Processing works on a [`RelabelBuilder`], a copy of upstream's `labels.Builder`: the
//! input stays untouched, edits are recorded as additions and deletions, and a label set is
//! only materialised when a rule changed something. A chain of `keep`/`drop` rules therefore
//! allocates nothing, and [`process_owned`] hands the input back unchanged.

use std::borrow::Cow;
use std::fmt;
use std::sync::OnceLock;

use regex::{Captures, Regex};

use super::regex::RegexError;
use serde::de::{self, Deserialize, Deserializer, Visitor};

use crate::model::labels::{is_valid_legacy_label_name, Label, Labels};

/// Default `separator` placed between concatenated source label values.
const DEFAULT_SEPARATOR: &str = ";";
/// Default `replacement`: the first capture group.
const DEFAULT_REPLACEMENT: &str = "$1";
/// Default `regex`: everything, captured as group 1.
const DEFAULT_REGEX: &str = "(.*)";

/// What a relabel rule does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// Writes the expanded `replacement` to the (expanded) `target_label` when `regex`
    /// matches the concatenated source values; an empty result deletes the target label.
    Replace,
    /// Drops the label set unless `regex` matches the concatenated source values.
    Keep,
    /// Drops the label set when `regex` matches the concatenated source values.
    Drop,
    /// Drops the label set unless the concatenated source values equal `target_label`'s value.
    KeepEqual,
    /// Drops the label set when the concatenated source values equal `target_label`'s value.
    DropEqual,
    /// Sets `target_label` to `md5(source values) mod modulus`.
    HashMod,
    /// Copies every label whose name matches `regex` to the name given by `replacement`.
    LabelMap,
    /// Removes every label whose name matches `regex`.
    LabelDrop,
    /// Removes every label whose name does not match `regex`.
    LabelKeep,
    /// Sets `target_label` to the lower-cased concatenated source values.
    Lowercase,
    /// Sets `target_label` to the upper-cased concatenated source values.
    Uppercase,
}

impl Action {
    /// The name used in configuration files (`replace`, `hashmod`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Replace => "replace",
            Action::Keep => "keep",
            Action::Drop => "drop",
            Action::KeepEqual => "keepequal",
            Action::DropEqual => "dropequal",
            Action::HashMod => "hashmod",
            Action::LabelMap => "labelmap",
            Action::LabelDrop => "labeldrop",
            Action::LabelKeep => "labelkeep",
            Action::Lowercase => "lowercase",
            Action::Uppercase => "uppercase",
        }
    }

    /// Parses an action name case-insensitively, as upstream does.
    pub fn parse(s: &str) -> Option<Action> {
        const ALL: [Action; 11] = [
            Action::Replace,
            Action::Keep,
            Action::Drop,
            Action::KeepEqual,
            Action::DropEqual,
            Action::HashMod,
            Action::LabelMap,
            Action::LabelDrop,
            Action::LabelKeep,
            Action::Lowercase,
            Action::Uppercase,
        ];
        ALL.into_iter().find(|a| a.as_str().eq_ignore_ascii_case(s))
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Action {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Action;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a relabel action")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Action, E> {
                Action::parse(s).ok_or_else(|| E::custom(format!("unknown relabel action {s:?}")))
            }
        }
        d.deserialize_str(V)
    }
}

/// A fully anchored RE2-syntax regex, compiled as `^(?s:<source>)$` and printed as its
/// source.
#[derive(Clone)]
pub struct RelabelRegex {
    source: String,
    re: Regex,
    /// Match-only shortcut for the common shapes of `keep`/`drop` patterns.
    fast: Option<FastMatch>,
}

/// Patterns answered without the regex engine: an alternation of literals, each optionally
/// followed by `.*` (`up|go_.*|process_.*`), or `.*` itself.
#[derive(Clone, Debug)]
enum FastMatch {
    Any,
    Alternatives(Vec<(String, bool)>),
}

impl FastMatch {
    fn analyse(source: &str) -> Option<FastMatch> {
        if source == ".*" {
            return Some(FastMatch::Any);
        }
        let is_meta = |c: char| {
            matches!(
                c,
                '\\' | '.' | '+' | '*' | '?' | '(' | ')' | '|' | '[' | ']' | '{' | '}' | '^' | '$'
            )
        };
        let mut alts = Vec::new();
        for alt in source.split('|') {
            let (lit, prefix) = match alt.strip_suffix(".*") {
                Some(l) => (l, true),
                None => (alt, false),
            };
            if lit.chars().any(is_meta) {
                return None;
            }
            alts.push((lit.to_string(), prefix));
        }
        Some(FastMatch::Alternatives(alts))
    }

    fn is_match(&self, s: &str) -> bool {
        match self {
            FastMatch::Any => true,
            FastMatch::Alternatives(alts) => alts.iter().any(|(lit, prefix)| {
                if *prefix {
                    s.starts_with(lit.as_str())
                } else {
                    s == lit
                }
            }),
        }
    }
}

impl RelabelRegex {
    /// Compiles `source` anchored at both ends (`^(?s:source)$`, so `.` also matches a
    /// newline) through the RE2 front end.
    pub fn new(source: &str) -> Result<Self, RegexError> {
        let re = super::regex::compile_anchored(source)?;
        Ok(RelabelRegex {
            source: source.to_string(),
            re,
            fast: FastMatch::analyse(source),
        })
    }

    /// The pattern as written in the configuration.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// True when the whole of `s` matches.
    pub fn is_match(&self, s: &str) -> bool {
        match &self.fast {
            Some(f) => f.is_match(s),
            None => self.re.is_match(s),
        }
    }

    /// The compiled, anchored regex.
    pub fn regex(&self) -> &Regex {
        &self.re
    }
}

impl Default for RelabelRegex {
    fn default() -> Self {
        static DEFAULT: OnceLock<RelabelRegex> = OnceLock::new();
        DEFAULT
            .get_or_init(|| {
                // The default pattern is a constant that always compiles.
                RelabelRegex::new(DEFAULT_REGEX).expect("default relabel regex compiles")
            })
            .clone()
    }
}

impl PartialEq for RelabelRegex {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}
impl Eq for RelabelRegex {}

impl fmt::Debug for RelabelRegex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RelabelRegex({:?})", self.source)
    }
}

impl fmt::Display for RelabelRegex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

/// Scalars that YAML may type as numbers or booleans but that we read as strings, the way
/// Go's YAML decoder fills a string field from `123` or `true`.
macro_rules! visit_scalars_as_str {
    () => {
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            self.visit_str(&v.to_string())
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            self.visit_str(&v.to_string())
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
            self.visit_str(&v.to_string())
        }
        fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
            self.visit_str(if v { "true" } else { "false" })
        }
    };
}
pub(crate) use visit_scalars_as_str;

impl<'de> Deserialize<'de> for RelabelRegex {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = RelabelRegex;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a regular expression")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<RelabelRegex, E> {
                // Go's message, as upstream's config loader reports it.
                RelabelRegex::new(s).map_err(|e| E::custom(e.to_string()))
            }
            visit_scalars_as_str!();
        }
        d.deserialize_str(V)
    }
}

/// A label name that must be a legacy Prometheus identifier (`[a-zA-Z_][a-zA-Z0-9_]*`);
/// the YAML error points at the offending name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LabelName(pub String);

impl<'de> Deserialize<'de> for LabelName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = LabelName;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a label name")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<LabelName, E> {
                if is_valid_legacy_label_name(s) {
                    Ok(LabelName(s.to_string()))
                } else {
                    Err(E::custom(format!("{s:?} is not a valid label name")))
                }
            }
            visit_scalars_as_str!();
        }
        d.deserialize_str(V)
    }
}

/// One relabeling rule (an entry of `relabel_configs` and friends).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RelabelConfig {
    /// Labels whose values are concatenated (with `separator`) to form the input.
    pub source_labels: Vec<String>,
    /// Placed between the source label values.
    pub separator: String,
    /// Matched against the input (or against label names for labelmap/labeldrop/labelkeep).
    pub regex: RelabelRegex,
    /// Modulus for `hashmod`.
    pub modulus: u64,
    /// Label written by replace/hashmod/lowercase/uppercase, compared by keepequal/dropequal;
    /// may contain `$1`-style references for `replace`.
    pub target_label: String,
    /// Template expanded against the regex match (`$1`, `${1}`, `${name}`).
    pub replacement: String,
    /// What the rule does.
    pub action: Action,
    /// Whether `source_labels` was present in the YAML (upstream treats an explicit empty
    /// list differently from an absent one when validating labeldrop/labelkeep).
    pub source_labels_set: bool,
    /// Whether `regex` was present in the YAML (keepequal/dropequal forbid any regex,
    /// even an explicit `(.*)`).
    pub regex_set: bool,
}

impl Default for RelabelConfig {
    /// The upstream default rule: replace with `(.*)`, `;` and `$1`, no target.
    fn default() -> Self {
        RelabelConfig {
            source_labels: Vec::new(),
            separator: DEFAULT_SEPARATOR.to_string(),
            regex: RelabelRegex::default(),
            modulus: 0,
            target_label: String::new(),
            replacement: DEFAULT_REPLACEMENT.to_string(),
            action: Action::Replace,
            source_labels_set: false,
            regex_set: false,
        }
    }
}

impl serde::Serialize for RelabelConfig {
    /// Upstream's field order; `modulus` and `target_label` only when set.
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(None)?;
        if !self.source_labels.is_empty() {
            m.serialize_entry("source_labels", &self.source_labels)?;
        }
        m.serialize_entry("separator", &self.separator)?;
        m.serialize_entry("regex", &self.regex.to_string())?;
        if self.modulus != 0 {
            m.serialize_entry("modulus", &self.modulus)?;
        }
        if !self.target_label.is_empty() {
            m.serialize_entry("target_label", &self.target_label)?;
        }
        m.serialize_entry("replacement", &self.replacement)?;
        m.serialize_entry("action", self.action.as_str())?;
        m.end()
    }
}

/// The YAML shape of a rule; absent fields take upstream's defaults.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRelabelConfig {
    source_labels: Option<Vec<LabelName>>,
    separator: Option<String>,
    regex: Option<RelabelRegex>,
    modulus: Option<u64>,
    target_label: Option<String>,
    replacement: Option<String>,
    action: Option<Action>,
}

impl<'de> Deserialize<'de> for RelabelConfig {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = RawRelabelConfig::deserialize(d)?;
        let def = RelabelConfig::default();
        Ok(RelabelConfig {
            source_labels_set: raw.source_labels.is_some(),
            regex_set: raw.regex.is_some(),
            source_labels: raw
                .source_labels
                .unwrap_or_default()
                .into_iter()
                .map(|n| n.0)
                .collect(),
            separator: raw.separator.unwrap_or(def.separator),
            regex: raw.regex.unwrap_or(def.regex),
            modulus: raw.modulus.unwrap_or(0),
            target_label: raw.target_label.unwrap_or_default(),
            replacement: raw.replacement.unwrap_or(def.replacement),
            action: raw.action.unwrap_or(Action::Replace),
        })
    }
}

/// Why a relabel rule is invalid; the messages are upstream's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RelabelConfigError {
    #[error("relabel configuration for hashmod requires non-zero modulus")]
    HashModZeroModulus,
    #[error("relabel configuration for {0} action requires 'target_label' value")]
    MissingTargetLabel(Action),
    #[error("{target:?} is invalid 'target_label' for {action} action")]
    InvalidTargetLabel { target: String, action: Action },
    #[error("'replacement' can not be set for {0} action")]
    ReplacementNotAllowed(Action),
    #[error("{0:?} is invalid 'replacement' for labelmap action")]
    InvalidLabelMapReplacement(String),
    #[error("{0} action requires only 'source_labels' and `target_label`, and no other fields")]
    EqualActionExtraFields(Action),
    #[error("{0} action requires only 'regex', and no other fields")]
    LabelDropKeepExtraFields(Action),
}

impl RelabelConfigError {
    /// The YAML field of the rule the error is about, for pointing at it in the file.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            RelabelConfigError::HashModZeroModulus => Some("action"),
            RelabelConfigError::MissingTargetLabel(_) => Some("action"),
            RelabelConfigError::InvalidTargetLabel { .. } => Some("target_label"),
            RelabelConfigError::ReplacementNotAllowed(_) => Some("replacement"),
            RelabelConfigError::InvalidLabelMapReplacement(_) => Some("replacement"),
            RelabelConfigError::EqualActionExtraFields(_) => Some("action"),
            RelabelConfigError::LabelDropKeepExtraFields(_) => Some("action"),
        }
    }
}

/// Upstream's `relabelTarget`: a label name in which `$1`, `${1}`, `$name`, `${name}`
/// references may appear.
fn is_valid_relabel_target(s: &str) -> bool {
    static RE: OnceLock<Option<Regex>> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"^(?:(?:[a-zA-Z_]|\$(?:\{[0-9A-Za-z_]+\}|[0-9A-Za-z_]+))+[0-9A-Za-z_]*)+$").ok()
    })
    .as_ref()
    .is_some_and(|re| re.is_match(s))
}

impl RelabelConfig {
    /// Checks the rule the way upstream `Config.Validate` does.
    pub fn validate(&self) -> Result<(), RelabelConfigError> {
        use Action::*;
        let a = self.action;
        if self.modulus == 0 && a == HashMod {
            return Err(RelabelConfigError::HashModZeroModulus);
        }
        let needs_target = matches!(
            a,
            Replace | HashMod | Lowercase | Uppercase | KeepEqual | DropEqual
        );
        if needs_target && self.target_label.is_empty() {
            return Err(RelabelConfigError::MissingTargetLabel(a));
        }
        let invalid_target = || RelabelConfigError::InvalidTargetLabel {
            target: self.target_label.clone(),
            action: a,
        };
        if a == Replace {
            let ok = if self.target_label.contains('$') {
                is_valid_relabel_target(&self.target_label)
            } else {
                is_valid_legacy_label_name(&self.target_label)
            };
            if !ok {
                return Err(invalid_target());
            }
        }
        let plain_target = matches!(a, Lowercase | Uppercase | KeepEqual | DropEqual);
        if plain_target && !is_valid_legacy_label_name(&self.target_label) {
            return Err(invalid_target());
        }
        if plain_target && self.replacement != DEFAULT_REPLACEMENT {
            return Err(RelabelConfigError::ReplacementNotAllowed(a));
        }
        if a == LabelMap && !is_valid_relabel_target(&self.replacement) {
            return Err(RelabelConfigError::InvalidLabelMapReplacement(
                self.replacement.clone(),
            ));
        }
        if a == HashMod && !is_valid_legacy_label_name(&self.target_label) {
            return Err(invalid_target());
        }
        if matches!(a, KeepEqual | DropEqual)
            && (self.regex_set
                || self.modulus != 0
                || self.separator != DEFAULT_SEPARATOR
                || self.replacement != DEFAULT_REPLACEMENT)
        {
            return Err(RelabelConfigError::EqualActionExtraFields(a));
        }
        if matches!(a, LabelDrop | LabelKeep)
            && (self.source_labels_set
                || !self.target_label.is_empty()
                || self.modulus != 0
                || self.separator != DEFAULT_SEPARATOR
                || self.replacement != DEFAULT_REPLACEMENT)
        {
            return Err(RelabelConfigError::LabelDropKeepExtraFields(a));
        }
        Ok(())
    }
}

/// A label set under edit, exactly like upstream's `labels.Builder`: the base set is
/// borrowed, `add` holds set labels in insertion order and `del` removed names. Nothing is
/// allocated until a rule changes something.
#[derive(Debug, Clone)]
struct RelabelBuilder<'a> {
    base: &'a Labels,
    add: Vec<Label>,
    del: Vec<String>,
}

impl<'a> RelabelBuilder<'a> {
    /// Starts editing `base`.
    pub fn new(base: &'a Labels) -> Self {
        RelabelBuilder {
            base,
            add: Vec::new(),
            del: Vec::new(),
        }
    }

    /// Current value of `name`, `""` when absent.
    pub fn get(&self, name: &str) -> &str {
        // Del removes entries from `add` but Set does not remove from `del`, so `add` first.
        if let Some(l) = self.add.iter().find(|l| l.name == name) {
            return &l.value;
        }
        if self.del.iter().any(|d| d == name) {
            return "";
        }
        self.base.get(name).unwrap_or("")
    }

    /// Sets `name` to `value`; an empty value deletes the label.
    pub fn set(&mut self, name: &str, value: &str) {
        if value.is_empty() {
            self.del(name);
            return;
        }
        if let Some(l) = self.add.iter_mut().find(|l| l.name == name) {
            if l.value != value {
                l.value.clear();
                l.value.push_str(value);
            }
            return;
        }
        // Setting a base label to the value it already has changes nothing; skipping it
        // keeps the no-copy path open (upstream records it and rebuilds the same set).
        if self.base.get(name) == Some(value) && !self.del.iter().any(|d| d == name) {
            return;
        }
        self.add.push(Label::new(name, value));
    }

    /// Removes `name`.
    pub fn del(&mut self, name: &str) {
        self.add.retain(|l| l.name != name);
        if !self.del.iter().any(|d| d == name) {
            self.del.push(name.to_string());
        }
    }

    /// True when no edit has been recorded.
    fn is_unchanged(&self) -> bool {
        self.add.is_empty() && self.del.is_empty()
    }

    /// The labels as they stand, base labels (sorted) first, then added ones in insertion
    /// order; a snapshot, so callers may edit while walking it.
    fn snapshot(&self) -> Vec<Label> {
        let mut out: Vec<Label> = self
            .base
            .iter()
            .filter(|l| !self.del.contains(&l.name) && !self.add.iter().any(|a| a.name == l.name))
            .cloned()
            .collect();
        out.extend(self.add.iter().cloned());
        out
    }

    /// Names of the current labels (see [`RelabelBuilder::snapshot`] for the order).
    fn names(&self) -> Vec<String> {
        self.snapshot().into_iter().map(|l| l.name).collect()
    }

    /// The resulting label set.
    pub fn labels(&self) -> Labels {
        if self.is_unchanged() {
            return self.base.clone();
        }
        self.build()
    }

    fn build(&self) -> Labels {
        let mut out: Vec<Label> = Vec::with_capacity(self.base.len() + self.add.len());
        out.extend(
            self.base
                .iter()
                .filter(|l| {
                    !self.del.contains(&l.name) && !self.add.iter().any(|a| a.name == l.name)
                })
                .cloned(),
        );
        out.extend(self.add.iter().cloned());
        Labels::new(out)
    }
}

/// Applies `cfgs` in order to `labels`. `None` means a rule dropped the label set.
pub fn process(labels: &Labels, cfgs: &[RelabelConfig]) -> Option<Labels> {
    let mut lb = RelabelBuilder::new(labels);
    if !process_builder(&mut lb, cfgs) {
        return None;
    }
    Some(lb.labels())
}

/// Like [`process`] but takes the label set by value and returns it without copying when
/// no rule changed it (the common case for `keep`/`drop` chains).
pub fn process_owned(labels: Labels, cfgs: &[RelabelConfig]) -> Option<Labels> {
    let changed = {
        let mut lb = RelabelBuilder::new(&labels);
        if !process_builder(&mut lb, cfgs) {
            return None;
        }
        if lb.is_unchanged() {
            None
        } else {
            Some(lb.build())
        }
    };
    Some(changed.unwrap_or(labels))
}

/// Applies `cfgs` to a builder the caller seeded (upstream `ProcessBuilder`); false means
/// dropped.
fn process_builder(lb: &mut RelabelBuilder<'_>, cfgs: &[RelabelConfig]) -> bool {
    cfgs.iter().all(|cfg| relabel(cfg, lb))
}

/// One rule's effect in a [`trace`]: the labels after it, or `None` when it dropped the
/// label set (the trace ends there).
#[derive(Clone, Debug, PartialEq)]
pub struct TraceStep {
    /// Position of the rule in `relabel_configs` (0-based).
    pub index: usize,
    pub action: Action,
    /// Label names whose value the rule set, changed or removed (empty: no effect).
    pub changed: Vec<String>,
    pub after: Option<Labels>,
}

/// Applies `cfgs` in order to `labels` like [`process`], recording each rule's effect:
/// the scrape debugger's step-by-step relabel trace. Ends at the rule that dropped.
pub fn trace(labels: &Labels, cfgs: &[RelabelConfig]) -> Vec<TraceStep> {
    let mut out = Vec::with_capacity(cfgs.len());
    let mut cur = labels.clone();
    for (index, cfg) in cfgs.iter().enumerate() {
        let mut lb = RelabelBuilder::new(&cur);
        let kept = relabel(cfg, &mut lb);
        let after = kept.then(|| lb.labels());
        let changed = match &after {
            None => Vec::new(),
            Some(next) => {
                let mut names: Vec<String> = next
                    .iter()
                    .filter(|l| cur.get(&l.name) != Some(l.value.as_str()))
                    .map(|l| l.name.clone())
                    .collect();
                names.extend(
                    cur.iter()
                        .filter(|l| next.get(&l.name).is_none())
                        .map(|l| l.name.clone()),
                );
                names
            }
        };
        out.push(TraceStep {
            index,
            action: cfg.action,
            changed,
            after: after.clone(),
        });
        match after {
            Some(next) => cur = next,
            None => break,
        }
    }
    out
}

/// The source label values joined with the separator, borrowed when there is one source.
fn source_value<'b>(cfg: &RelabelConfig, lb: &'b RelabelBuilder<'_>) -> Cow<'b, str> {
    match cfg.source_labels.as_slice() {
        [] => Cow::Borrowed(""),
        [one] => Cow::Borrowed(lb.get(one)),
        many => {
            let mut s = String::new();
            for (i, name) in many.iter().enumerate() {
                if i > 0 {
                    s.push_str(&cfg.separator);
                }
                s.push_str(lb.get(name));
            }
            Cow::Owned(s)
        }
    }
}

fn relabel(cfg: &RelabelConfig, lb: &mut RelabelBuilder<'_>) -> bool {
    match cfg.action {
        Action::Drop => !cfg.regex.is_match(&source_value(cfg, lb)),
        Action::Keep => cfg.regex.is_match(&source_value(cfg, lb)),
        Action::DropEqual => lb.get(&cfg.target_label) != source_value(cfg, lb),
        Action::KeepEqual => lb.get(&cfg.target_label) == source_value(cfg, lb),
        Action::Replace => {
            let val = source_value(cfg, lb);
            // Fast path (upstream's too): nothing to expand, so set or delete directly.
            if val.is_empty()
                && !cfg.regex_set_to_non_default()
                && !cfg.target_label.contains('$')
                && !cfg.replacement.contains('$')
            {
                let target = cfg.target_label.clone();
                lb.set(&target, &cfg.replacement);
                return true;
            }
            let Some(caps) = cfg.regex.regex().captures(&val) else {
                return true;
            };
            let target = expand(&cfg.target_label, &caps, cfg.regex.regex());
            if !is_valid_legacy_label_name(&target) {
                return true;
            }
            let res = expand(&cfg.replacement, &caps, cfg.regex.regex());
            drop(caps);
            drop(val);
            lb.set(&target, &res);
            true
        }
        Action::Lowercase => {
            let v = go_lowercase(&source_value(cfg, lb));
            lb.set(&cfg.target_label, &v);
            true
        }
        Action::Uppercase => {
            let v = go_uppercase(&source_value(cfg, lb));
            lb.set(&cfg.target_label, &v);
            true
        }
        Action::HashMod => {
            let m = hash_mod(source_value(cfg, lb).as_bytes(), cfg.modulus);
            lb.set(&cfg.target_label, &m.to_string());
            true
        }
        Action::LabelMap => {
            for l in lb.snapshot() {
                if let Some(caps) = cfg.regex.regex().captures(&l.name) {
                    let name = expand(&cfg.replacement, &caps, cfg.regex.regex());
                    lb.set(&name, &l.value);
                }
            }
            true
        }
        Action::LabelDrop => {
            for name in lb.names() {
                if cfg.regex.is_match(&name) {
                    lb.del(&name);
                }
            }
            true
        }
        Action::LabelKeep => {
            for name in lb.names() {
                if !cfg.regex.is_match(&name) {
                    lb.del(&name);
                }
            }
            true
        }
    }
}

impl RelabelConfig {
    /// Upstream's fast path compares the regex with the default by identity: only an
    /// unset regex counts as the default.
    fn regex_set_to_non_default(&self) -> bool {
        self.regex_set || self.regex.as_str() != DEFAULT_REGEX
    }
}

/// `hashmod`: the last 8 bytes of the MD5 digest, big-endian, modulo `modulus` (0 when the
/// modulus is 0, which validation rejects anyway).
fn hash_mod(input: &[u8], modulus: u64) -> u64 {
    let digest = md5::compute(input).0;
    let mut tail = [0u8; 8];
    tail.copy_from_slice(&digest[8..]);
    u64::from_be_bytes(tail).checked_rem(modulus).unwrap_or(0)
}

/// Go's `strings.ToLower`: simple per-character mapping (a character whose lower case is
/// several characters is left alone).
fn go_lowercase(s: &str) -> String {
    s.chars()
        .map(|c| {
            let mut m = c.to_lowercase();
            match (m.next(), m.next()) {
                (Some(l), None) => l,
                _ => c,
            }
        })
        .collect()
}

/// Go's `strings.ToUpper` (simple per-character mapping; `ß` stays `ß`).
fn go_uppercase(s: &str) -> String {
    s.chars()
        .map(|c| {
            let mut m = c.to_uppercase();
            match (m.next(), m.next()) {
                (Some(u), None) => u,
                _ => c,
            }
        })
        .collect()
}

/// Expands `template` the way Go's `Regexp.Expand` does: `$$` is a literal `$`; `$name`
/// takes the longest run of letters, digits and `_` (so `$1x` means group `1x`); `${name}`
/// delimits; a number with a leading zero is a name; a missing group expands to nothing;
/// a malformed `$` is kept literally.
pub fn expand(template: &str, caps: &Captures<'_>, re: &Regex) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        rest = &rest[pos + 1..];
        if let Some(after) = rest.strip_prefix('$') {
            out.push('$');
            rest = after;
            continue;
        }
        let Some((name, after)) = extract_name(rest) else {
            out.push('$');
            continue;
        };
        rest = after;
        match group_number(name) {
            Some(n) => {
                if let Some(m) = caps.get(n) {
                    out.push_str(m.as_str());
                }
            }
            None => {
                // The first group of that name, as Go's SubexpIndex; names the `regex`
                // crate cannot spell are encoded by the front end.
                let hit = re
                    .capture_names()
                    .position(|n| n.map(super::regex::capture_name) == Some(name))
                    .and_then(|i| caps.get(i));
                if let Some(m) = hit {
                    out.push_str(m.as_str());
                }
            }
        }
    }
    out.push_str(rest);
    out
}

/// Go's `extract`: the group reference after a `$`, and what follows it.
fn extract_name(s: &str) -> Option<(&str, &str)> {
    let (brace, body) = match s.strip_prefix('{') {
        Some(b) => (true, b),
        None => (false, s),
    };
    let end = body
        .char_indices()
        .find(|&(_, c)| !(c.is_alphanumeric() || c == '_'))
        .map(|(i, _)| i)
        .unwrap_or(body.len());
    if end == 0 {
        return None;
    }
    let name = &body[..end];
    let rest = &body[end..];
    if brace {
        let rest = rest.strip_prefix('}')?;
        return Some((name, rest));
    }
    Some((name, rest))
}

/// A group reference that is a decimal number without a leading zero (below 10^8).
fn group_number(name: &str) -> Option<usize> {
    if !name.bytes().all(|b| b.is_ascii_digit()) || (name.len() > 1 && name.starts_with('0')) {
        return None;
    }
    if name.len() > 8 {
        return None;
    }
    name.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lbls(pairs: &[(&str, &str)]) -> Labels {
        Labels::from_pairs(pairs)
    }

    fn cfg(yaml: &str) -> RelabelConfig {
        let c: RelabelConfig = serde_yaml::from_str(yaml).unwrap();
        c.validate().unwrap();
        c
    }

    fn cfgs(yaml: &str) -> Vec<RelabelConfig> {
        let c: Vec<RelabelConfig> = serde_yaml::from_str(yaml).unwrap();
        for r in &c {
            r.validate().unwrap();
        }
        c
    }

    fn invalid(yaml: &str) -> String {
        let c: RelabelConfig = serde_yaml::from_str(yaml).unwrap();
        c.validate().unwrap_err().to_string()
    }

    #[test]
    fn trace_records_each_rules_effect_and_stops_at_a_drop() {
        let rules = cfgs(
            "- source_labels: [__address__]\n  regex: '(.*):.*'\n  target_label: host\n\
             - source_labels: [env]\n  regex: dev\n  action: keep\n\
             - target_label: never\n  replacement: reached\n",
        );
        let l = lbls(&[("__address__", "web1:9100"), ("env", "dev")]);
        let steps = trace(&l, &rules);
        assert_eq!(steps.len(), 3);
        assert_eq!(steps[0].changed, ["host"]);
        assert_eq!(steps[0].after.as_ref().unwrap().get("host"), Some("web1"));
        assert!(steps[1].changed.is_empty() && steps[1].after.is_some());
        assert_eq!(steps[2].changed, ["never"]);
        // The final labels equal what `process` gives.
        assert_eq!(steps[2].after, process(&l, &rules));
        // A dropping rule ends the trace with `None`.
        let prod = lbls(&[("__address__", "web1:9100"), ("env", "prod")]);
        let steps = trace(&prod, &rules);
        assert_eq!(steps.len(), 2);
        assert_eq!(steps[1].action, Action::Keep);
        assert_eq!(steps[1].after, None);
    }

    #[test]
    fn defaults_match_upstream() {
        let c = cfg("target_label: x");
        assert_eq!(c.action, Action::Replace);
        assert_eq!(c.separator, ";");
        assert_eq!(c.regex.as_str(), "(.*)");
        assert_eq!(c.replacement, "$1");
        assert!(!c.regex_set && !c.source_labels_set);
        assert_eq!(
            cfg("action: KeepEqual\ntarget_label: a").action,
            Action::KeepEqual
        );
    }

    #[test]
    fn parse_errors_name_the_problem() {
        let e = serde_yaml::from_str::<RelabelConfig>("action: frobnicate").unwrap_err();
        assert!(
            e.to_string()
                .contains(r#"unknown relabel action "frobnicate""#),
            "{e}"
        );
        let e = serde_yaml::from_str::<RelabelConfig>("regex: '(abc'").unwrap_err();
        assert!(
            e.to_string()
                .contains("error parsing regexp: missing closing ): `^(?s:(abc)$`"),
            "{e}"
        );
        let e = serde_yaml::from_str::<RelabelConfig>("source_labels: [a-b]").unwrap_err();
        assert!(
            e.to_string().contains(r#""a-b" is not a valid label name"#),
            "{e}"
        );
        let e = serde_yaml::from_str::<RelabelConfig>("regexp: a").unwrap_err();
        assert!(e.to_string().contains("unknown field `regexp`"), "{e}");
    }

    // Upstream TestRelabel, case by case.
    #[test]
    fn replace_with_braced_group() {
        let c = cfgs(
            "- {source_labels: [a], regex: 'f(.*)', target_label: d, replacement: 'ch${1}-ch${1}'}",
        );
        let got = process(&lbls(&[("a", "foo"), ("b", "bar"), ("c", "baz")]), &c);
        assert_eq!(
            got,
            Some(lbls(&[
                ("a", "foo"),
                ("b", "bar"),
                ("c", "baz"),
                ("d", "choo-choo")
            ]))
        );
    }

    #[test]
    fn replace_chain_with_multiple_sources() {
        let c = cfgs(
            "- {source_labels: [a, b], regex: 'f(.*);(.*)r', target_label: a, replacement: 'b${1}${2}m'}\n\
             - {source_labels: [c, a], regex: '(b).*b(.*)ba(.*)', target_label: d, replacement: '$1$2$2$3'}",
        );
        let got = process(&lbls(&[("a", "foo"), ("b", "bar"), ("c", "baz")]), &c);
        assert_eq!(
            got,
            Some(lbls(&[
                ("a", "boobam"),
                ("b", "bar"),
                ("c", "baz"),
                ("d", "boooom")
            ]))
        );
    }

    #[test]
    fn drop_stops_processing() {
        let c = cfgs(
            "- {source_labels: [a], regex: '.*o.*', action: drop}\n\
             - {source_labels: [a], regex: 'f(.*)', target_label: d, replacement: 'ch$1-ch$1'}",
        );
        assert_eq!(process(&lbls(&[("a", "foo")]), &c), None);
        assert_eq!(process(&lbls(&[("a", "foo"), ("b", "bar")]), &c[..1]), None);
    }

    #[test]
    fn replace_partial_group() {
        let c = cfgs("- {source_labels: [a], regex: '.*(b).*', target_label: d}");
        assert_eq!(
            process(&lbls(&[("a", "abc")]), &c),
            Some(lbls(&[("a", "abc"), ("d", "b")]))
        );
    }

    #[test]
    fn drop_and_keep_are_anchored() {
        let l = lbls(&[("a", "foo")]);
        let c = cfgs("- {source_labels: [a], regex: no-match, action: drop}");
        assert_eq!(process(&l, &c), Some(l.clone()));
        // "f|o" must match the whole value, so it does not match "foo".
        let c = cfgs("- {source_labels: [a], regex: 'f|o', action: drop}");
        assert_eq!(process(&l, &c), Some(l.clone()));
        let c = cfgs("- {source_labels: [a], regex: no-match, action: keep}");
        assert_eq!(process(&l, &c), None);
        let c = cfgs("- {source_labels: [a], regex: 'f.*', action: keep}");
        assert_eq!(process(&l, &c), Some(l.clone()));
    }

    #[test]
    fn no_match_means_no_replacement() {
        let c = cfgs("- {source_labels: [a], regex: f, target_label: b, replacement: bar}");
        assert_eq!(
            process(&lbls(&[("a", "boo")]), &c),
            Some(lbls(&[("a", "boo")]))
        );
    }

    #[test]
    fn hashmod_matches_upstream_values() {
        let c = cfgs("- {source_labels: [c], target_label: d, action: hashmod, modulus: 1000}");
        assert_eq!(
            process(&lbls(&[("a", "foo"), ("b", "bar"), ("c", "baz")]), &c),
            Some(lbls(&[
                ("a", "foo"),
                ("b", "bar"),
                ("c", "baz"),
                ("d", "976")
            ]))
        );
        let c = cfgs("- {source_labels: [a], target_label: b, action: hashmod, modulus: 1000}");
        assert_eq!(
            process(&lbls(&[("a", "foo\nbar")]), &c),
            Some(lbls(&[("a", "foo\nbar"), ("b", "734")]))
        );
        assert_eq!(hash_mod(b"baz", 1000), 976);
        assert_eq!(hash_mod(b"x", 0), 0);
    }

    #[test]
    fn labelmap_copies_matching_names() {
        let c = cfgs("- {regex: '(b.*)', replacement: 'bar_${1}', action: labelmap}");
        assert_eq!(
            process(&lbls(&[("a", "foo"), ("b1", "bar"), ("b2", "baz")]), &c),
            Some(lbls(&[
                ("a", "foo"),
                ("b1", "bar"),
                ("b2", "baz"),
                ("bar_b1", "bar"),
                ("bar_b2", "baz")
            ]))
        );
        let c = cfgs("- {regex: '__meta_(my.*)', replacement: '${1}', action: labelmap}");
        assert_eq!(
            process(
                &lbls(&[
                    ("a", "foo"),
                    ("__meta_my_bar", "aaa"),
                    ("__meta_my_baz", "bbb"),
                    ("__meta_other", "ccc")
                ]),
                &c
            ),
            Some(lbls(&[
                ("a", "foo"),
                ("__meta_my_bar", "aaa"),
                ("__meta_my_baz", "bbb"),
                ("__meta_other", "ccc"),
                ("my_bar", "aaa"),
                ("my_baz", "bbb")
            ]))
        );
    }

    #[test]
    fn target_label_expansion() {
        let l = lbls(&[("a", "some-name-value")]);
        let c = cfgs("- {source_labels: [a], regex: 'some-([^-]+)-([^,]+)', replacement: '${2}', target_label: '${1}'}");
        assert_eq!(
            process(&l, &c),
            Some(lbls(&[("a", "some-name-value"), ("name", "value")]))
        );
        // Replacement expanding to nothing deletes the (absent) target: no change.
        let c = cfgs("- {source_labels: [a], regex: 'some-([^-]+)-([^,]+)', replacement: '${3}', target_label: '${1}'}");
        assert_eq!(process(&l, &c), Some(l.clone()));
        // Invalid expanded target labels are skipped.
        let l = lbls(&[("a", "some-name-0")]);
        let c = cfgs(
            "- {source_labels: [a], regex: 'some-([^-]+)-([^,]+)', replacement: '${1}', target_label: '${3}'}\n\
             - {source_labels: [a], regex: 'some-([^-]+)-([^,]+)', replacement: '${1}', target_label: '${3}'}\n\
             - {source_labels: [a], regex: 'some-([^-]+)(-[^,]+)', replacement: '${1}', target_label: '${3}'}",
        );
        assert_eq!(process(&l, &c), Some(l.clone()));
    }

    #[test]
    fn real_life_tag_parsing() {
        let c = cfgs(
            "- {source_labels: [__meta_sd_tags], regex: '(?:.+,|^)path:(/[^,]+).*', replacement: '${1}', target_label: __metrics_path__}\n\
             - {source_labels: [__meta_sd_tags], regex: '(?:.+,|^)job:([^,]+).*', replacement: '${1}', target_label: job}\n\
             - {source_labels: [__meta_sd_tags], regex: '(?:.+,|^)label:([^=]+)=([^,]+).*', replacement: '${2}', target_label: '${1}'}",
        );
        let tags = "path:/secret,job:some-job,label:foo=bar";
        assert_eq!(
            process(&lbls(&[("__meta_sd_tags", tags)]), &c),
            Some(lbls(&[
                ("__meta_sd_tags", tags),
                ("__metrics_path__", "/secret"),
                ("job", "some-job"),
                ("foo", "bar")
            ]))
        );
    }

    #[test]
    fn issue_12283_labeldrop_then_replace_then_keep() {
        let c = cfgs(
            "- {regex: '^__meta_kubernetes_pod_container_port_name$', action: labeldrop}\n\
             - {source_labels: [__meta_kubernetes_pod_annotation_XXX_metrics_port], regex: '(.+)', replacement: metrics, target_label: __meta_kubernetes_pod_container_port_name}\n\
             - {source_labels: [__meta_kubernetes_pod_container_port_name], regex: '^metrics$', action: keep}",
        );
        let l = lbls(&[
            ("__meta_kubernetes_pod_container_port_name", "foo"),
            ("__meta_kubernetes_pod_annotation_XXX_metrics_port", "9091"),
        ]);
        assert_eq!(
            process(&l, &c),
            Some(lbls(&[
                ("__meta_kubernetes_pod_annotation_XXX_metrics_port", "9091"),
                ("__meta_kubernetes_pod_container_port_name", "metrics"),
            ]))
        );
    }

    #[test]
    fn labelkeep_and_labeldrop() {
        let l = lbls(&[("a", "foo"), ("b1", "bar"), ("b2", "baz")]);
        let c = cfgs("- {regex: '(b.*)', action: labelkeep}");
        assert_eq!(process(&l, &c), Some(lbls(&[("b1", "bar"), ("b2", "baz")])));
        let c = cfgs("- {regex: '(b.*)', action: labeldrop}");
        assert_eq!(process(&l, &c), Some(lbls(&[("a", "foo")])));
    }

    #[test]
    fn lowercase_and_uppercase() {
        let c = cfgs(
            "- {source_labels: [foo], action: uppercase, target_label: foo_uppercase}\n\
             - {source_labels: [foo], action: lowercase, target_label: foo_lowercase}",
        );
        assert_eq!(
            process(&lbls(&[("foo", "bAr123Foo")]), &c),
            Some(lbls(&[
                ("foo", "bAr123Foo"),
                ("foo_lowercase", "bar123foo"),
                ("foo_uppercase", "BAR123FOO")
            ]))
        );
        assert_eq!(go_uppercase("straße"), "STRAßE");
    }

    #[test]
    fn keepequal_and_dropequal() {
        let l = lbls(&[
            ("__tmp_port", "1234"),
            ("__port1", "1234"),
            ("__port2", "5678"),
        ]);
        let keep1 =
            cfgs("- {source_labels: [__tmp_port], action: keepequal, target_label: __port1}");
        assert_eq!(process(&l, &keep1), Some(l.clone()));
        let drop1 =
            cfgs("- {source_labels: [__tmp_port], action: dropequal, target_label: __port1}");
        assert_eq!(process(&l, &drop1), None);
        let drop2 =
            cfgs("- {source_labels: [__tmp_port], action: dropequal, target_label: __port2}");
        assert_eq!(process(&l, &drop2), Some(l.clone()));
        let keep2 =
            cfgs("- {source_labels: [__tmp_port], action: keepequal, target_label: __port2}");
        assert_eq!(process(&l, &keep2), None);
    }

    #[test]
    fn replace_empty_source_sets_or_deletes() {
        let l = lbls(&[("a", "1")]);
        // Fast path: empty input, default regex, literal replacement.
        let c = cfgs("- {target_label: b, replacement: x}");
        assert_eq!(process(&l, &c), Some(lbls(&[("a", "1"), ("b", "x")])));
        // Empty replacement deletes the target.
        let c = cfgs("- {source_labels: [missing], target_label: a}");
        assert_eq!(process(&l, &c), Some(Labels::empty()));
        // The default regex captures multi-line values too ((?s)).
        let c = cfgs("- {source_labels: [m], target_label: copy}");
        assert_eq!(
            process(&lbls(&[("m", "x\ny")]), &c),
            Some(lbls(&[("copy", "x\ny"), ("m", "x\ny")]))
        );
    }

    #[test]
    fn go_expand_rules() {
        let re = Regex::new("^(?s:(?P<first>a)(b)?(c))$").unwrap();
        let caps = re.captures("ac").unwrap();
        assert_eq!(expand("$1-$2-$3", &caps, &re), "a--c");
        assert_eq!(expand("${first}x", &caps, &re), "ax");
        assert_eq!(expand("$firstx", &caps, &re), "", "longest name wins");
        assert_eq!(expand("$1x", &caps, &re), "", "$1x means group named 1x");
        assert_eq!(expand("$$1", &caps, &re), "$1");
        assert_eq!(expand("$", &caps, &re), "$");
        assert_eq!(expand("${1", &caps, &re), "${1");
        assert_eq!(expand("$-", &caps, &re), "$-");
        assert_eq!(
            expand("$01", &caps, &re),
            "",
            "leading zero is a name, not a number"
        );
        assert_eq!(expand("${3}${9}", &caps, &re), "c");
    }

    #[test]
    fn validate_messages_match_upstream() {
        assert_eq!(
            invalid("action: replace"),
            "relabel configuration for replace action requires 'target_label' value"
        );
        assert_eq!(
            invalid("action: lowercase"),
            "relabel configuration for lowercase action requires 'target_label' value"
        );
        assert_eq!(
            invalid("action: lowercase\ntarget_label: '${3}'"),
            r#""${3}" is invalid 'target_label' for lowercase action"#
        );
        assert_eq!(
            invalid("source_labels: [a]\nregex: 'some-([^-]+)-([^,]+)'\nreplacement: '${1}'\ntarget_label: '0${3}'"),
            r#""0${3}" is invalid 'target_label' for replace action"#
        );
        assert_eq!(
            invalid("target_label: '-${3}'"),
            r#""-${3}" is invalid 'target_label' for replace action"#
        );
        assert_eq!(
            invalid("target_label: 'a-b'"),
            r#""a-b" is invalid 'target_label' for replace action"#
        );
        assert_eq!(
            invalid("action: hashmod\ntarget_label: x"),
            "relabel configuration for hashmod requires non-zero modulus"
        );
        assert_eq!(
            invalid("action: hashmod\nmodulus: 2\ntarget_label: '${1}'"),
            r#""${1}" is invalid 'target_label' for hashmod action"#
        );
        assert_eq!(
            invalid("action: uppercase\ntarget_label: x\nreplacement: y"),
            "'replacement' can not be set for uppercase action"
        );
        assert_eq!(
            invalid("action: labelmap\nreplacement: 'l-$1'"),
            r#""l-$1" is invalid 'replacement' for labelmap action"#
        );
        assert_eq!(
            invalid("action: keepequal\ntarget_label: x\nregex: '(.*)'"),
            "keepequal action requires only 'source_labels' and `target_label`, and no other fields"
        );
        assert_eq!(
            invalid("action: dropequal\ntarget_label: x\nseparator: ','"),
            "dropequal action requires only 'source_labels' and `target_label`, and no other fields"
        );
        for extra in [
            "source_labels: []",
            "target_label: x",
            "modulus: 3",
            "separator: ','",
            "replacement: y",
        ] {
            assert_eq!(
                invalid(&format!("action: labeldrop\nregex: a\n{extra}")),
                "labeldrop action requires only 'regex', and no other fields",
                "{extra}"
            );
        }
        assert_eq!(
            invalid("action: labelkeep\nsource_labels: [a]"),
            "labelkeep action requires only 'regex', and no other fields"
        );
        // Valid: replace into an expanded target.
        cfg("source_labels: [a]\nregex: 'some-([^-]+)-([^,]+)'\nreplacement: '${1}'\ntarget_label: '${3}'");
    }

    #[test]
    fn relabel_target_validity() {
        for (s, ok) in [
            ("-label", false),
            ("label", true),
            ("label${1}", true),
            ("${1}label", true),
            ("${1}", true),
            ("${", false),
            ("$", false),
            ("${}", false),
            ("foo${", false),
            ("$1", true),
            ("asd$2asd", true),
            ("-foo${1}bar-", false),
            ("_${1}_", true),
            ("foo${bar}foo", true),
        ] {
            assert_eq!(is_valid_relabel_target(s), ok, "{s}");
        }
    }

    #[test]
    fn unchanged_labels_are_not_copied() {
        let l = lbls(&[("a", "foo"), ("b", "bar")]);
        let ptr = l.as_slice().as_ptr();
        let c = cfgs("- {source_labels: [a], regex: 'f.*', action: keep}\n- {source_labels: [b], regex: 'x', action: drop}");
        let out = process_owned(l, &c).unwrap();
        assert_eq!(out.as_slice().as_ptr(), ptr);
        // Rewriting a label to the value it has is not a change either.
        let same = cfgs("- {source_labels: [a], target_label: a}\n- {source_labels: [b], target_label: b, action: lowercase}");
        let out = process_owned(out, &same).unwrap();
        assert_eq!(out.as_slice().as_ptr(), ptr);
        let mut lb = RelabelBuilder::new(&out);
        assert!(process_builder(&mut lb, &c));
        assert!(lb.is_unchanged());
    }

    #[test]
    fn builder_semantics() {
        let base = lbls(&[("a", "1"), ("b", "2")]);
        let mut lb = RelabelBuilder::new(&base);
        lb.del("a");
        assert_eq!(lb.get("a"), "");
        lb.set("a", "3");
        assert_eq!(lb.get("a"), "3");
        lb.set("c", "4");
        lb.set("b", "");
        assert_eq!(lb.labels(), lbls(&[("a", "3"), ("c", "4")]));
        assert_eq!(RelabelBuilder::new(&base).labels(), base);
    }

    #[test]
    fn fast_match_shapes() {
        for src in [
            ".*",
            "up",
            "go_.*|process_.*|up",
            "",
            "a|",
            "x.*y",
            "a+|b",
            "(a)",
            "a\\.b",
        ] {
            let r = RelabelRegex::new(src).unwrap();
            for s in [
                "",
                "up",
                "upx",
                "go_gc",
                "process_cpu",
                "a",
                "xzy",
                "x\ny",
                "a.b",
                "aab",
                "b",
            ] {
                assert_eq!(r.is_match(s), r.regex().is_match(s), "{src:?} on {s:?}");
            }
        }
        assert!(FastMatch::analyse("go_.*|up").is_some());
        assert!(FastMatch::analyse("x.*y").is_none());
    }

    proptest::proptest! {
        /// The literal fast path agrees with the regex engine.
        #[test]
        fn fast_match_agrees_with_regex(
            alts in proptest::collection::vec(("[ab_]{0,3}", proptest::bool::ANY), 1..4),
            input in "[ab_\n]{0,5}",
        ) {
            let src: Vec<String> = alts
                .iter()
                .map(|(l, p)| if *p { format!("{l}.*") } else { l.clone() })
                .collect();
            let r = RelabelRegex::new(&src.join("|")).unwrap();
            proptest::prop_assert_eq!(r.is_match(&input), r.regex().is_match(&input));
        }

        /// `process` and `process_owned` agree on every input, and the result is a valid,
        /// sorted label set.
        #[test]
        fn borrowed_and_owned_processing_agree(
            pairs in proptest::collection::vec(("[a-c_]{1,3}", "[a-c:;$1]{0,4}"), 0..6),
            which in 0usize..3,
        ) {
            let rules = [
                "- {source_labels: [a, b], regex: '(.*);(.*)', target_label: '${1}x', replacement: '$2'}\n- {regex: '(a.*)', replacement: 'm_$1', action: labelmap}",
                "- {source_labels: [c], regex: 'a.*', action: drop}\n- {regex: 'b.*', action: labeldrop}\n- {source_labels: [a], target_label: h, action: hashmod, modulus: 7}",
                "- {source_labels: [a], target_label: b, action: keepequal}\n- {source_labels: [_], target_label: up, action: uppercase}",
            ];
            let c = cfgs(rules[which]);
            let l = Labels::from_pairs(&pairs);
            let borrowed = process(&l, &c);
            let owned = process_owned(l.clone(), &c);
            proptest::prop_assert_eq!(&borrowed, &owned);
            if let Some(out) = borrowed {
                let names: Vec<&str> = out.iter().map(|l| l.name.as_str()).collect();
                proptest::prop_assert!(names.windows(2).all(|w| w[0] < w[1]));
                proptest::prop_assert!(out.iter().all(|l| !l.value.is_empty()));
            }
        }
    }

    #[test]
    fn never_panics_on_odd_input() {
        let c = cfgs(
            "- {source_labels: [a, b, c], separator: '', regex: '(?P<x>.*)', target_label: '$x', replacement: '${x}$$'}\n\
             - {regex: '(.*)', replacement: '$1_', action: labelmap}\n\
             - {source_labels: [zz], target_label: h, action: hashmod, modulus: 18446744073709551615}",
        );
        for l in [
            Labels::empty(),
            lbls(&[("a", "ü"), ("b", "\u{0}"), ("c", "$1")]),
            lbls(&[("a", "b")]),
        ] {
            let _ = process(&l, &c);
        }
    }
}
