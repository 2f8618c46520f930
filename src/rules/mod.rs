//! Recording and alerting rules.
//!
//! Today this is the rule-file model and its validation ([`file`]), used by
//! `promtui check config`, `promtui check rules` ([`check`]) and by `serve`, which refuses
//! to start (or to reload) with a missing or invalid rule file, as Prometheus does. The
//! rules are not evaluated yet: that is the rule manager's job, built on this model.

pub mod check;
pub mod file;
pub mod template;

pub use check::{check_rules_command, RuleFileCheck};

pub use file::{
    duplicate_rules, parse_rule_file, parse_rules, AlertingRule, DuplicateRule, RecordingRule,
    Rule, RuleFile, RuleFileError, RuleGroup, RuleProblem, RuleRef,
};
