//! The rule file: groups of recording and alerting rules, as Prometheus' `rulefmt` reads
//! them, with the same validation and the same messages, so that `promtui check rules`
//! and `promtool check rules` agree on what is wrong and where.
//!
//! ```yaml
//! groups:
//!   - name: node            # required, unique in the file
//!     interval: 30s         # default: global.evaluation_interval
//!     limit: 0              # max series (alerts) per rule and evaluation; 0: none
//!     query_offset: 1m      # default: global.rule_query_offset
//!     labels: {team: infra} # added to every rule's result
//!     rules:
//!       - record: job:up:sum
//!         expr: sum by (job) (up)
//!         labels: {source: rules}
//!       - alert: InstanceDown
//!         expr: up == 0
//!         for: 5m
//!         keep_firing_for: 1m
//!         labels: {severity: page}
//!         annotations: {summary: "{{ $labels.instance }} is down"}
//! ```
//!
//! Parsing is strict (an unknown field is an error, worded as upstream's
//! `field X not found in type rulefmt.RuleNode`) and stops at the first YAML or schema
//! error, as upstream. A file that decodes is then validated completely, every problem
//! reported with the position of the YAML node it concerns, the way yaml.v3 positions
//! nodes (the first character of a value), as `FILE: line:col: group "g", rule N, "name":
//! message`:
//!
//! - a rule has exactly one of `record` and `alert`, and a non-empty `expr` that parses
//!   as PromQL (the parser's own `line:col` inside the expression follows);
//! - a recording rule's name is a valid metric name, and it has no `annotations`, `for`
//!   or `keep_firing_for`;
//! - label names (of rules and groups) are valid and not `__name__`; annotation names are
//!   valid label names;
//! - group names are non-empty and unique in the file.
//!
//! - an alerting rule's label values and annotations parse as templates (see
//!   [`super::template`]).
//!
//! Where upstream prints a zero position (`0:0`, for a missing `record`/`alert` or
//! `expr`), the position of the rule itself is given instead.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

use crate::config::locate::{locate, locate_value, YamlPath};
use crate::config::{Duration, Pos};
use crate::model::labels::{is_valid_legacy_label_name, is_valid_legacy_metric_name};
use crate::promql::{parse_expr, Expr};

use super::template;

/// A parsed and validated rule file.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RuleFile {
    pub groups: Vec<RuleGroup>,
}

impl RuleFile {
    /// Rules over all groups.
    pub fn num_rules(&self) -> usize {
        self.groups.iter().map(|g| g.rules.len()).sum()
    }
}

/// A group of rules evaluated together, in order, at one interval.
#[derive(Clone, Debug, PartialEq)]
pub struct RuleGroup {
    /// Unique within the file.
    pub name: String,
    /// Evaluation interval; `None` means the global `evaluation_interval`.
    pub interval: Option<Duration>,
    /// Most series a recording rule, or alerts an alerting rule, may produce per
    /// evaluation before the evaluation fails; 0 or less means no limit (upstream's int).
    pub limit: i64,
    /// How far back evaluations look; `None` means the global `rule_query_offset`.
    pub query_offset: Option<Duration>,
    /// Labels added to the output of every rule of the group (a rule's own labels win).
    pub labels: BTreeMap<String, String>,
    pub rules: Vec<Rule>,
}

/// One rule.
#[derive(Clone, Debug, PartialEq)]
pub enum Rule {
    Recording(RecordingRule),
    Alerting(AlertingRule),
}

impl Rule {
    /// The recorded metric name or the alert name.
    pub fn name(&self) -> &str {
        match self {
            Rule::Recording(r) => &r.record,
            Rule::Alerting(a) => &a.alert,
        }
    }

    /// The parsed expression.
    pub fn expr(&self) -> &Expr {
        match self {
            Rule::Recording(r) => &r.expr,
            Rule::Alerting(a) => &a.expr,
        }
    }

    /// The rule's own labels.
    pub fn labels(&self) -> &BTreeMap<String, String> {
        match self {
            Rule::Recording(r) => &r.labels,
            Rule::Alerting(a) => &a.labels,
        }
    }
}

/// `record: NAME`: stores the result of `expr` as series named `record`.
#[derive(Clone, Debug, PartialEq)]
pub struct RecordingRule {
    /// A valid metric name.
    pub record: String,
    pub expr: Expr,
    /// The expression as written in the file.
    pub expr_text: String,
    /// Labels set on the recorded series (overriding the expression's).
    pub labels: BTreeMap<String, String>,
}

/// `alert: NAME`: an alert for every series `expr` returns, firing once it has been
/// returned for `for`.
#[derive(Clone, Debug, PartialEq)]
pub struct AlertingRule {
    pub alert: String,
    pub expr: Expr,
    /// The expression as written in the file.
    pub expr_text: String,
    /// How long a series must be returned before its alert fires (pending until then).
    pub for_duration: Duration,
    /// How long a firing alert keeps firing after its series stopped being returned.
    pub keep_firing_for: Duration,
    /// Labels added to the alerts (templated).
    pub labels: BTreeMap<String, String>,
    /// Annotations of the alerts (templated).
    pub annotations: BTreeMap<String, String>,
}

/// The rule a [`RuleProblem`] is about: group name, 1-based index in the group, and name
/// (the `alert`, else the `record`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleRef {
    pub group: String,
    pub index: usize,
    pub name: String,
}

/// One validation problem, printed as upstream's `rulefmt` errors:
/// `line:col: [line:col: ]group "g", rule N, "name": message`, or `line:col: message` for
/// a problem of a group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleProblem {
    /// Position of the node concerned, when the problem has one.
    pub pos: Option<Pos>,
    /// A second node (the `alert` of a rule that also sets `record`).
    pub alt_pos: Option<Pos>,
    /// The rule, for problems of a rule.
    pub rule: Option<RuleRef>,
    pub message: String,
}

impl fmt::Display for RuleProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for p in [self.pos, self.alt_pos].into_iter().flatten() {
            write!(f, "{}:{}: ", p.line, p.column)?;
        }
        if let Some(r) = &self.rule {
            write!(f, "group {:?}, rule {}, {:?}: ", r.group, r.index, r.name)?;
        }
        f.write_str(&self.message)
    }
}

/// Why a rule file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum RuleFileError {
    /// The file could not be read.
    #[error("{}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The YAML is malformed or does not fit the rule file schema (unknown field, wrong
    /// type, bad duration). Decoding stops at the first such error, as upstream's.
    #[error("{file}: {message}")]
    Decode {
        file: String,
        pos: Option<Pos>,
        message: String,
    },
    /// The file decodes but breaks rules; every problem is listed.
    #[error("{}", problems.iter().map(|p| format!("{file}: {p}")).collect::<Vec<_>>().join("\n"))]
    Invalid {
        file: String,
        problems: Vec<RuleProblem>,
    },
}

impl RuleFileError {
    /// One message per error, each naming the file, as promtool prints them.
    pub fn messages(&self) -> Vec<String> {
        match self {
            RuleFileError::Invalid { file, problems } => {
                problems.iter().map(|p| format!("{file}: {p}")).collect()
            }
            other => vec![other.to_string()],
        }
    }
}

/// Reads, parses and validates a rule file.
pub fn parse_rule_file(path: &Path) -> Result<RuleFile, RuleFileError> {
    let text = std::fs::read_to_string(path).map_err(|source| RuleFileError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse_rules(&text, &path.display().to_string())
}

/// Parses and validates rule file text; `file` names it in errors.
pub fn parse_rules(text: &str, file: &str) -> Result<RuleFile, RuleFileError> {
    let raw: Option<RawFile> = serde_yaml::from_str(text).map_err(|e| decode_error(file, &e))?;
    let raw = raw.unwrap_or_default();
    let mut v = Validator {
        text,
        problems: Vec::new(),
        group_names: HashSet::new(),
    };
    let groups = raw
        .groups
        .unwrap_or_default()
        .into_iter()
        .enumerate()
        .map(|(j, g)| v.group(j, g))
        .collect::<Vec<_>>();
    if !v.problems.is_empty() {
        return Err(RuleFileError::Invalid {
            file: file.to_string(),
            problems: v.problems,
        });
    }
    // No problem means every group and rule was built.
    Ok(RuleFile {
        groups: groups.into_iter().flatten().collect(),
    })
}

/// A rule that appears more than once in a file: same name (record or alert) and same
/// labels. Upstream's `promtool check rules` reports these as a lint finding.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct DuplicateRule {
    pub name: String,
    pub labels: BTreeMap<String, String>,
}

/// Rules repeated in the file (across groups too), each listed once, sorted by name and
/// labels (upstream `checkDuplicates`).
pub fn duplicate_rules(file: &RuleFile) -> Vec<DuplicateRule> {
    let mut all: Vec<DuplicateRule> = file
        .groups
        .iter()
        .flat_map(|g| &g.rules)
        .map(|r| DuplicateRule {
            name: r.name().to_string(),
            labels: r.labels().clone(),
        })
        .collect();
    all.sort();
    let mut out: Vec<DuplicateRule> = Vec::new();
    for pair in all.windows(2) {
        if pair[0] == pair[1] && out.last() != Some(&pair[1]) {
            out.push(pair[1].clone());
        }
    }
    out
}

/// The on-disk shape, before validation.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    groups: Option<Vec<RawGroup>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGroup {
    name: Option<Scalar>,
    interval: Option<Duration>,
    limit: Option<i64>,
    query_offset: Option<Duration>,
    labels: Option<BTreeMap<String, Scalar>>,
    rules: Option<Vec<RawRule>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    record: Option<Scalar>,
    alert: Option<Scalar>,
    expr: Option<Scalar>,
    #[serde(rename = "for")]
    for_duration: Option<Duration>,
    keep_firing_for: Option<Duration>,
    labels: Option<BTreeMap<String, Scalar>>,
    annotations: Option<BTreeMap<String, Scalar>>,
}

/// A scalar read as its text, whatever YAML type it resolves to (`expr: 1`, `severity:
/// 2`), as upstream's string fields and yaml.Node values; null reads as empty.
struct Scalar(String);

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Scalar;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Scalar, E> {
                Ok(Scalar(s.to_string()))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Scalar, E> {
                Ok(Scalar(String::new()))
            }
            crate::model::relabel::visit_scalars_as_str!();
        }
        d.deserialize_str(V)
    }
}

fn strings(m: Option<BTreeMap<String, Scalar>>) -> BTreeMap<String, String> {
    m.unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, v.0))
        .collect()
}

/// Turns a serde_yaml error into upstream's wording where upstream has a well-known one
/// (unknown fields), keeping the position otherwise.
fn decode_error(file: &str, err: &serde_yaml::Error) -> RuleFileError {
    let loc = err.location().map(|l| Pos {
        line: l.line(),
        column: l.column(),
    });
    let mut message = err.to_string();
    if let Some(l) = err.location() {
        let suffix = format!(" at line {} column {}", l.line(), l.column());
        if let Some(stripped) = message.strip_suffix(&suffix) {
            message = stripped.to_string();
        }
    }
    let unknown = match message.split_once(": unknown field `") {
        Some((path, rest)) => Some((path.to_string(), rest)),
        None => message
            .strip_prefix("unknown field `")
            .map(|rest| (String::new(), rest)),
    };
    let message = match (unknown, loc) {
        (Some((path, rest)), Some(p)) => {
            let field = rest.split('`').next().unwrap_or_default();
            let last = path.rsplit('.').next().unwrap_or_default();
            let ty = if last.starts_with("rules[") {
                "rulefmt.RuleNode"
            } else if last.starts_with("groups[") {
                "rulefmt.RuleGroup"
            } else {
                "rulefmt.RuleGroups"
            };
            format!(
                "yaml: unmarshal errors:\n  line {}: field {field} not found in type {ty}",
                p.line
            )
        }
        (_, Some(p)) => format!("{}:{}: {message}", p.line, p.column),
        (_, None) => message,
    };
    RuleFileError::Decode {
        file: file.to_string(),
        pos: loc,
        message,
    }
}

/// Validates decoded groups, collecting every problem with its position.
struct Validator<'a> {
    text: &'a str,
    problems: Vec<RuleProblem>,
    /// Names of the groups seen so far.
    group_names: HashSet<String>,
}

impl Validator<'_> {
    fn value_pos(&self, path: &YamlPath) -> Option<Pos> {
        locate_value(self.text, path)
    }

    fn group(&mut self, j: usize, g: RawGroup) -> Option<RuleGroup> {
        let path = YamlPath::root().key("groups").index(j);
        let before = self.problems.len();
        let name = g.name.map(|s| s.0).unwrap_or_default();
        if name.is_empty() {
            self.problems.push(RuleProblem {
                pos: self.value_pos(&path),
                alt_pos: None,
                rule: None,
                message: "Groupname must not be empty".into(),
            });
        }
        if !self.group_names.insert(name.clone()) {
            self.problems.push(RuleProblem {
                pos: self.value_pos(&path),
                alt_pos: None,
                rule: None,
                message: format!("groupname: \"{name}\" is repeated in the same file"),
            });
        }
        let labels = strings(g.labels);
        for k in labels.keys() {
            if !is_valid_legacy_label_name(k) || k == "__name__" {
                self.problems.push(RuleProblem {
                    pos: locate(self.text, &path.key("labels").key(k)),
                    alt_pos: None,
                    rule: None,
                    message: format!("group {name:?}: invalid label name: {k}"),
                });
            }
        }
        let rules = g
            .rules
            .unwrap_or_default()
            .into_iter()
            .enumerate()
            .map(|(i, r)| self.rule(&name, &path.key("rules").index(i), i + 1, r))
            .collect::<Vec<_>>();
        if self.problems.len() > before {
            return None;
        }
        Some(RuleGroup {
            name,
            interval: g.interval,
            limit: g.limit.unwrap_or(0),
            query_offset: g.query_offset,
            labels,
            rules: rules.into_iter().flatten().collect(),
        })
    }

    fn rule(&mut self, group: &str, path: &YamlPath, index: usize, r: RawRule) -> Option<Rule> {
        let before = self.problems.len();
        let record = r.record.map(|s| s.0).unwrap_or_default();
        let alert = r.alert.map(|s| s.0).unwrap_or_default();
        let rule_ref = RuleRef {
            group: group.to_string(),
            index,
            name: if alert.is_empty() {
                record.clone()
            } else {
                alert.clone()
            },
        };
        let rule_pos = self.value_pos(path);
        let record_pos = self.value_pos(&path.key("record"));
        let mut problem = |pos: Option<Pos>, alt_pos: Option<Pos>, message: String| {
            self.problems.push(RuleProblem {
                pos,
                alt_pos,
                rule: Some(rule_ref.clone()),
                message,
            });
        };
        if !record.is_empty() && !alert.is_empty() {
            let alert_pos = locate_value(self.text, &path.key("alert"));
            problem(
                record_pos,
                alert_pos,
                "only one of 'record' and 'alert' must be set".into(),
            );
        }
        if record.is_empty() && alert.is_empty() {
            let pos = record_pos
                .or_else(|| locate_value(self.text, &path.key("alert")))
                .or(rule_pos);
            problem(pos, None, "one of 'record' or 'alert' must be set".into());
        }
        let expr_text = r.expr.map(|s| s.0).unwrap_or_default();
        let expr_pos = locate_value(self.text, &path.key("expr"));
        let expr = if expr_text.is_empty() {
            problem(
                expr_pos.or(rule_pos),
                None,
                "field 'expr' must be set in rule".into(),
            );
            None
        } else {
            match parse_expr(&expr_text) {
                Ok(e) => Some(e),
                Err(e) => {
                    problem(expr_pos, None, format!("could not parse expression: {e}"));
                    None
                }
            }
        };
        let for_duration = r.for_duration.unwrap_or_default();
        let keep_firing_for = r.keep_firing_for.unwrap_or_default();
        let labels = strings(r.labels);
        let annotations = strings(r.annotations);
        if !record.is_empty() {
            if !annotations.is_empty() {
                problem(
                    record_pos,
                    None,
                    "invalid field 'annotations' in recording rule".into(),
                );
            }
            if !for_duration.is_zero() {
                problem(
                    record_pos,
                    None,
                    "invalid field 'for' in recording rule".into(),
                );
            }
            if !keep_firing_for.is_zero() {
                problem(
                    record_pos,
                    None,
                    "invalid field 'keep_firing_for' in recording rule".into(),
                );
            }
            if !is_valid_legacy_metric_name(&record) {
                problem(
                    record_pos,
                    None,
                    format!("invalid recording rule name: {record}"),
                );
            }
        }
        // Upstream gives label and annotation problems no position.
        for k in labels.keys() {
            if !is_valid_legacy_label_name(k) || k == "__name__" {
                problem(None, None, format!("invalid label name: {k}"));
            }
        }
        for k in annotations.keys() {
            if !is_valid_legacy_label_name(k) {
                problem(None, None, format!("invalid annotation name: {k}"));
            }
        }
        // Alert labels and annotations are templates: they must parse.
        if !alert.is_empty() {
            let name = format!("__alert_{alert}");
            let templates = labels
                .iter()
                .map(|kv| ("label", kv))
                .chain(annotations.iter().map(|kv| ("annotation", kv)));
            for (what, (k, v)) in templates {
                if let Err(e) = template::check(v) {
                    problem(
                        None,
                        None,
                        format!("{what} {k:?}: {}", e.display_for(&name)),
                    );
                }
            }
        }
        let expr = expr?;
        if self.problems.len() > before {
            return None;
        }
        Some(if alert.is_empty() {
            Rule::Recording(RecordingRule {
                record,
                expr,
                expr_text,
                labels,
            })
        } else {
            Rule::Alerting(AlertingRule {
                alert,
                expr,
                expr_text,
                for_duration,
                keep_firing_for,
                labels,
                annotations,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(text: &str) -> Vec<String> {
        match parse_rules(text, "r.yml") {
            Ok(f) => panic!("expected errors, parsed {f:?}"),
            Err(e) => e.messages(),
        }
    }

    #[test]
    fn parses_every_field_of_the_model() {
        let text = "groups:\n  - name: node\n    interval: 30s\n    limit: 10\n    query_offset: 1m\n    labels: {team: infra}\n    rules:\n      - record: job:up:sum\n        expr: sum by (job) (up)\n        labels: {source: rules}\n      - alert: InstanceDown\n        expr: up == 0\n        for: 5m\n        keep_firing_for: 1m\n        labels:\n          severity: 2\n        annotations:\n          summary: '{{ $labels.instance }} is down'\n      - record: fixed\n        expr: 1\n  - name: empty\n";
        let f = parse_rules(text, "r.yml").unwrap();
        assert_eq!(f.groups.len(), 2);
        assert_eq!(f.num_rules(), 3);
        let g = &f.groups[0];
        assert_eq!(g.name, "node");
        assert_eq!(g.interval, Some(Duration::from_secs(30)));
        assert_eq!(g.limit, 10);
        assert_eq!(g.query_offset, Some(Duration::from_secs(60)));
        assert_eq!(g.labels.get("team").map(String::as_str), Some("infra"));
        let Rule::Recording(r) = &g.rules[0] else {
            panic!("{:?}", g.rules[0])
        };
        assert_eq!(r.record, "job:up:sum");
        assert_eq!(r.expr_text, "sum by (job) (up)");
        assert_eq!(r.expr, parse_expr("sum by (job) (up)").unwrap());
        let Rule::Alerting(a) = &g.rules[1] else {
            panic!("{:?}", g.rules[1])
        };
        assert_eq!(a.alert, "InstanceDown");
        assert_eq!(a.for_duration, Duration::from_secs(300));
        assert_eq!(a.keep_firing_for, Duration::from_secs(60));
        assert_eq!(a.labels.get("severity").map(String::as_str), Some("2"));
        assert_eq!(
            a.annotations.get("summary").map(String::as_str),
            Some("{{ $labels.instance }} is down")
        );
        assert_eq!(g.rules[2].expr(), &parse_expr("1").unwrap());
        assert_eq!(f.groups[1].interval, None);
        assert!(f.groups[1].rules.is_empty());
    }

    #[test]
    fn empty_documents_have_no_groups() {
        for text in ["", "groups:\n", "groups: []\n", "# nothing\n"] {
            assert_eq!(parse_rules(text, "r.yml").unwrap(), RuleFile::default());
        }
    }

    #[test]
    fn promql_errors_carry_both_positions() {
        assert_eq!(
            problems("groups:\n  - name: bad-syntax\n    rules:\n      - record: x\n        expr: 'test +'\n"),
            vec!["r.yml: 5:15: group \"bad-syntax\", rule 1, \"x\": could not parse expression: 1:7: parse error: unexpected end of input"]
        );
        // A block scalar: the node is its `|`, the parser's position is inside the text.
        let e = problems("groups:\n- name: g\n  rules:\n  - record: r\n    expr: |\n      sum by (job) (\n        x{a=\"b\"\n      )\n");
        assert_eq!(e.len(), 1);
        assert!(
            e[0].starts_with("r.yml: 5:11: group \"g\", rule 1, \"r\": could not parse expression: 3:1: parse error: "),
            "{e:?}"
        );
    }

    #[test]
    fn every_rule_problem_is_reported_in_upstream_order() {
        let text = "groups:\n  - name: g\n    interval: 1m\n    rules:\n      - record: \"bad name\"\n        expr: up\n        labels:\n          \"0bad\": x\n      - alert: A\n        expr: up\n        record: r\n      - expr: up\n      - record: r2\n        expr: \"\"\n      - alert: B\n        expr: sum(up\n        for: 5m\n        annotations:\n          \"bad-ann\": x\n      - record: r3\n        expr: up\n        annotations:\n          a: b\n        for: 1m\n      - alert: \"C\"\n        expr: up\n        labels:\n          __name__: x\n  - name: g\n    rules: []\n  - name: \"\"\n    rules: []\n";
        assert_eq!(
            problems(text),
            vec![
                "r.yml: 5:17: group \"g\", rule 1, \"bad name\": invalid recording rule name: bad name",
                "r.yml: group \"g\", rule 1, \"bad name\": invalid label name: 0bad",
                "r.yml: 11:17: 9:16: group \"g\", rule 2, \"A\": only one of 'record' and 'alert' must be set",
                "r.yml: 12:9: group \"g\", rule 3, \"\": one of 'record' or 'alert' must be set",
                "r.yml: 14:15: group \"g\", rule 4, \"r2\": field 'expr' must be set in rule",
                "r.yml: 16:15: group \"g\", rule 5, \"B\": could not parse expression: 1:7: parse error: unclosed left parenthesis",
                "r.yml: group \"g\", rule 5, \"B\": invalid annotation name: bad-ann",
                "r.yml: 20:17: group \"g\", rule 6, \"r3\": invalid field 'annotations' in recording rule",
                "r.yml: 20:17: group \"g\", rule 6, \"r3\": invalid field 'for' in recording rule",
                "r.yml: group \"g\", rule 7, \"C\": invalid label name: __name__",
                "r.yml: 29:5: groupname: \"g\" is repeated in the same file",
                "r.yml: 31:5: Groupname must not be empty",
            ]
        );
    }

    #[test]
    fn decoding_errors_are_worded_as_upstream() {
        assert_eq!(
            problems("groups:\n  - name: g\n    rules:\n      - record: x\n        expr: up\n        foo: 1\n"),
            vec!["r.yml: yaml: unmarshal errors:\n  line 6: field foo not found in type rulefmt.RuleNode"]
        );
        assert_eq!(
            problems("groups:\n  - name: g\n    intervl: 1m\n"),
            vec!["r.yml: yaml: unmarshal errors:\n  line 3: field intervl not found in type rulefmt.RuleGroup"]
        );
        assert_eq!(
            problems("grops: []\n"),
            vec!["r.yml: yaml: unmarshal errors:\n  line 1: field grops not found in type rulefmt.RuleGroups"]
        );
        let e = problems("groups:\n  - name: g\n    interval: 1x\n");
        assert_eq!(e.len(), 1);
        assert!(
            e[0].starts_with("r.yml: 3:15: ")
                && e[0].ends_with("not a valid duration string: \"1x\""),
            "{e:?}"
        );
        let e = problems("groups:\n  - name: g\n    rules: [\n");
        assert!(
            e[0].starts_with("r.yml: 3:") || e[0].starts_with("r.yml: 4:"),
            "{e:?}"
        );
    }

    #[test]
    fn group_labels_are_checked() {
        assert_eq!(
            problems("groups:\n  - name: g\n    labels: {__name__: x, ok: y}\n    rules: []\n"),
            vec!["r.yml: 3:14: group \"g\": invalid label name: __name__"]
        );
    }

    #[test]
    fn duplicates_are_found_across_groups_once_each() {
        let text = "groups:\n  - name: a\n    rules:\n      - record: x\n        expr: up\n      - record: y\n        expr: up\n      - record: x\n        expr: up\n  - name: b\n    rules:\n      - record: x\n        expr: up\n      - record: y\n        expr: up\n        labels: {l: v}\n";
        let f = parse_rules(text, "r.yml").unwrap();
        assert_eq!(
            duplicate_rules(&f),
            vec![DuplicateRule {
                name: "x".into(),
                labels: BTreeMap::new()
            }]
        );
    }

    #[test]
    fn read_errors_name_the_file() {
        let e = parse_rule_file(Path::new("/nonexistent/r.yml")).unwrap_err();
        assert!(e.to_string().starts_with("/nonexistent/r.yml: "), "{e}");
    }
}
