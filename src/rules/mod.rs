//! Recording and alerting rules.
//!
//! Today this is the rule-file model and its validation ([`file`]), used by
//! `promtui check config`, `promtui check rules` ([`check`]) and by `serve`, which refuses
//! to start (or to reload) with a missing or invalid rule file, as Prometheus does; and
//! the evaluation of one rule at one time ([`eval`]: recording rules, and alerting rules'
//! pending/firing/resolved state machine with templated labels and annotations); and the
//! [`manager`] that runs every group on its interval in `serve`, appends the results, and
//! feeds `/api/v1/rules` and `/api/v1/alerts`, handing firing and resolved alerts to an
//! [`crate::notifier::AlertSink`], and restoring alerts' `for` state after a restart. And
//! `promtui test rules` ([`unittest`]), promtool's rule unit tests, and
//! `promtui tsdb create-blocks-from rules` ([`backfill`]), recording rules backfilled over
//! stored history.

pub(crate) mod backfill;
pub mod backtest;
pub(crate) mod check;
pub mod eval;
pub(crate) mod file;
pub mod manager;
pub(crate) mod template;
pub mod unittest;

pub use check::{check_rules_command, RuleFileCheck};

pub use file::{
    duplicate_rules, parse_rule_file, parse_rules, AlertingRule, DuplicateRule, RecordingRule,
    Rule, RuleFile, RuleFileError, RuleGroup, RuleProblem, RuleRef,
};
