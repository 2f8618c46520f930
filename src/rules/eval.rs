//! Evaluating one rule at one time, as upstream's `rules/recording.go` and
//! `rules/alerting.go` (Prometheus 3.x) do, over a query function so that the PromQL
//! engine, a test harness (`promtui test rules`) or a fake can answer:
//!
//! - a recording rule renames each result series to `record`, sets its labels, and fails
//!   when two results end up with one label set or when there are more than `limit`;
//! - an alerting rule keeps its active alerts across evaluations: a result series makes an
//!   alert pending (labels: the series' without `__name__`, plus the templated rule labels
//!   and `alertname`), pending turns firing once it has been active for `for`, a firing
//!   alert whose series is gone stays firing for `keep_firing_for`, then resolves; resolved
//!   alerts are kept for [`RESOLVED_RETENTION`] so they can be resent, pending ones that
//!   lose their series are dropped. Each evaluation returns the `ALERTS` and
//!   `ALERTS_FOR_STATE` samples of the pending and firing alerts.
//!
//! Times are milliseconds. Templates are expanded with [`crate::template::prometheus`].

use std::collections::{BTreeMap, HashMap};

use crate::model::{Labels, METRIC_NAME};
use crate::promql::ast::Expr;
use crate::template::prometheus::{expand_alert_template, AlertData};
use crate::template::FuncMap;

use super::file::{AlertingRule, RecordingRule};

/// How long a resolved alert is kept (and resent): 15 minutes, as upstream.
const RESOLVED_RETENTION_MS: i64 = 15 * 60 * 1000;
/// Alias kept for the module doc.
pub const RESOLVED_RETENTION: i64 = RESOLVED_RETENTION_MS;

/// One result series of a rule's expression.
pub type Row = (Labels, f64);

/// Evaluates an expression at a time (ms): an instant vector, or a scalar as one row
/// without labels; anything else, or a failed query, is an error message.
pub type QueryFn<'a> = dyn Fn(&Expr, i64) -> Result<Vec<Row>, String> + 'a;

/// Evaluates a recording rule at `t` (already shifted by the query offset): the samples to
/// append, named and labelled.
pub fn eval_recording(
    rule: &RecordingRule,
    t: i64,
    limit: usize,
    query: &QueryFn<'_>,
) -> Result<Vec<Row>, String> {
    let rows = query(&rule.expr, t)?;
    let mut out: Vec<Row> = Vec::with_capacity(rows.len());
    for (labels, v) in rows {
        let mut m: BTreeMap<String, String> = labels
            .iter()
            .map(|l| (l.name.to_string(), l.value.to_string()))
            .collect();
        m.insert(METRIC_NAME.to_string(), rule.record.clone());
        for (k, v) in &rule.labels {
            if v.is_empty() {
                m.remove(k);
            } else {
                m.insert(k.clone(), v.clone());
            }
        }
        out.push((to_labels(&m), v));
    }
    let mut seen = std::collections::HashSet::with_capacity(out.len());
    if !out.iter().all(|(l, _)| seen.insert(l.clone())) {
        return Err(
            "vector contains metrics with the same labelset after applying rule labels".into(),
        );
    }
    if limit > 0 && out.len() > limit {
        return Err(format!(
            "exceeded limit of {limit} with {} series",
            out.len()
        ));
    }
    Ok(out)
}

fn to_labels(m: &BTreeMap<String, String>) -> Labels {
    let pairs: Vec<(&str, &str)> = m.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    Labels::from_pairs(&pairs)
}

/// An alert's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AlertState {
    Inactive,
    Pending,
    Firing,
}

impl AlertState {
    /// The `alertstate` label value and API name.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Inactive => "inactive",
            AlertState::Pending => "pending",
            AlertState::Firing => "firing",
        }
    }
}

/// One alert of an alerting rule.
#[derive(Clone, Debug, PartialEq)]
pub struct Alert {
    /// Identifying labels (with `alertname`).
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub state: AlertState,
    /// The expression's value for it at the last evaluation that returned it.
    pub value: f64,
    pub active_at: i64,
    pub fired_at: Option<i64>,
    pub resolved_at: Option<i64>,
    /// When its series stopped being returned while firing (for `keep_firing_for`).
    pub keep_firing_since: Option<i64>,
    /// When it was last sent to Alertmanagers.
    pub last_sent_at: Option<i64>,
    pub valid_until: Option<i64>,
}

/// The alerts of one alerting rule, carried from one evaluation to the next.
#[derive(Debug, Default)]
pub struct AlertingState {
    pub active: HashMap<Labels, Alert>,
}

/// What templates may use besides the alert's own labels and value.
pub struct TemplateEnv<'a> {
    pub external_labels: &'a BTreeMap<String, String>,
    pub external_url: &'a str,
    pub funcs: &'a FuncMap,
}

impl AlertingState {
    /// Evaluates `rule` at `t` (the query runs at `t - query_offset`); returns the
    /// `ALERTS` and `ALERTS_FOR_STATE` samples at that query time. Over `limit` active
    /// alerts (0: no limit) every alert is dropped and the evaluation fails, as upstream.
    pub fn eval(
        &mut self,
        rule: &AlertingRule,
        t: i64,
        query_offset: i64,
        limit: usize,
        env: &TemplateEnv<'_>,
        query: &QueryFn<'_>,
    ) -> Result<Vec<Row>, String> {
        let qt = t - query_offset;
        let rows = query(&rule.expr, qt)?;
        let mut fresh: HashMap<Labels, Alert> = HashMap::with_capacity(rows.len());
        for (series, value) in rows {
            let series_map: BTreeMap<String, String> = series
                .iter()
                .map(|l| (l.name.to_string(), l.value.to_string()))
                .collect();
            let data = AlertData {
                labels: &series_map,
                external_labels: env.external_labels,
                external_url: env.external_url,
                value,
            };
            let expand = |text: &str| expand_alert_template(&rule.alert, text, &data, env.funcs);
            let mut labels = series_map.clone();
            labels.remove(METRIC_NAME);
            for (k, v) in &rule.labels {
                let v = expand(v);
                if v.is_empty() {
                    labels.remove(k);
                } else {
                    labels.insert(k.clone(), v);
                }
            }
            labels.insert("alertname".into(), rule.alert.clone());
            let annotations: BTreeMap<String, String> = rule
                .annotations
                .iter()
                .map(|(k, v)| (k.clone(), expand(v)))
                .collect();
            let key = to_labels(&labels);
            if fresh.contains_key(&key) {
                return Err(
                    "vector contains metrics with the same labelset after applying alert labels"
                        .into(),
                );
            }
            fresh.insert(
                key,
                Alert {
                    labels,
                    annotations,
                    state: AlertState::Pending,
                    value,
                    active_at: t,
                    fired_at: None,
                    resolved_at: None,
                    keep_firing_since: None,
                    last_sent_at: None,
                    valid_until: None,
                },
            );
        }
        let returned: std::collections::HashSet<Labels> = fresh.keys().cloned().collect();
        for (k, a) in fresh {
            match self.active.get_mut(&k) {
                Some(old) if old.state != AlertState::Inactive => {
                    old.value = a.value;
                    old.annotations = a.annotations;
                }
                _ => {
                    self.active.insert(k, a);
                }
            }
        }
        let hold = rule.for_duration.0;
        let keep_for = rule.keep_firing_for.0;
        let mut out = Vec::new();
        let mut active_pending = 0usize;
        let mut drop: Vec<Labels> = Vec::new();
        for (k, a) in self.active.iter_mut() {
            if !returned.contains(k) {
                let mut keep_firing = false;
                if a.state == AlertState::Firing && keep_for > 0 {
                    let since = *a.keep_firing_since.get_or_insert(t);
                    keep_firing = t - since < keep_for;
                }
                if a.state == AlertState::Pending
                    || a.resolved_at.is_some_and(|r| t - r > RESOLVED_RETENTION_MS)
                {
                    drop.push(k.clone());
                }
                if a.state != AlertState::Inactive && !keep_firing {
                    a.state = AlertState::Inactive;
                    a.resolved_at = Some(t);
                }
                if !keep_firing {
                    continue;
                }
            } else {
                a.keep_firing_since = None;
            }
            active_pending += 1;
            if a.state == AlertState::Pending && t - a.active_at >= hold {
                a.state = AlertState::Firing;
                a.fired_at = Some(t);
            }
            let mut l = a.labels.clone();
            l.insert(METRIC_NAME.into(), "ALERTS".into());
            l.insert("alertstate".into(), a.state.as_str().into());
            out.push((to_labels(&l), 1.0));
            let mut l = a.labels.clone();
            l.insert(METRIC_NAME.into(), "ALERTS_FOR_STATE".into());
            out.push((to_labels(&l), (a.active_at / 1000) as f64));
        }
        for k in drop {
            self.active.remove(&k);
        }
        if limit > 0 && active_pending > limit {
            self.active.clear();
            return Err(format!(
                "exceeded limit of {limit} with {active_pending} alerts"
            ));
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    /// The alerts in a stable order (by labels).
    pub fn alerts(&self) -> Vec<&Alert> {
        let mut v: Vec<&Alert> = self.active.values().collect();
        v.sort_by(|a, b| a.labels.cmp(&b.labels));
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::units::Duration;

    fn rule(for_ms: i64, keep_ms: i64) -> AlertingRule {
        AlertingRule {
            alert: "High".into(),
            expr: crate::promql::parse_expr("m > 1").unwrap(),
            expr_text: "m > 1".into(),
            for_duration: Duration(for_ms),
            keep_firing_for: Duration(keep_ms),
            labels: [(
                "severity".to_string(),
                "{{ if gt $value 5.0 }}page{{ else }}ticket{{ end }}".to_string(),
            )]
            .into(),
            annotations: [(
                "summary".to_string(),
                "{{ $labels.i }} at {{ $value }}".to_string(),
            )]
            .into(),
        }
    }

    fn row(i: &str, v: f64) -> Row {
        (Labels::from_pairs(&[("__name__", "m"), ("i", i)]), v)
    }

    struct Env {
        ext: BTreeMap<String, String>,
        funcs: FuncMap,
    }
    impl Env {
        fn new() -> Self {
            Env {
                ext: BTreeMap::new(),
                funcs: crate::template::prometheus::funcs(&Default::default()),
            }
        }
        fn get(&self) -> TemplateEnv<'_> {
            TemplateEnv {
                external_labels: &self.ext,
                external_url: "http://x",
                funcs: &self.funcs,
            }
        }
    }

    fn states(s: &AlertingState) -> Vec<(String, &'static str)> {
        s.alerts()
            .iter()
            .map(|a| (a.labels["i"].clone(), a.state.as_str()))
            .collect()
    }

    #[test]
    fn pending_then_firing_after_for_then_resolved_and_forgotten() {
        let env = Env::new();
        let r = rule(60_000, 0);
        let mut st = AlertingState::default();
        let present = |_: &Expr, _: i64| Ok(vec![row("a", 2.0)]);
        let gone = |_: &Expr, _: i64| Ok(vec![]);
        let out = st.eval(&r, 0, 0, 0, &env.get(), &present).unwrap();
        assert_eq!(states(&st), [("a".to_string(), "pending")]);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].0.get("__name__"), Some("ALERTS"));
        assert_eq!(out[0].0.get("alertstate"), Some("pending"));
        assert_eq!(out[0].0.get("severity"), Some("ticket"));
        assert_eq!(out[1].0.get("__name__"), Some("ALERTS_FOR_STATE"));
        assert_eq!(out[1].1, 0.0);
        st.eval(&r, 30_000, 0, 0, &env.get(), &present).unwrap();
        assert_eq!(states(&st), [("a".to_string(), "pending")]);
        st.eval(&r, 60_000, 0, 0, &env.get(), &present).unwrap();
        assert_eq!(states(&st), [("a".to_string(), "firing")]);
        let a = st.alerts()[0].clone();
        assert_eq!(a.annotations["summary"], "a at 2");
        assert_eq!(a.fired_at, Some(60_000));
        let out = st.eval(&r, 90_000, 0, 0, &env.get(), &gone).unwrap();
        assert!(out.is_empty(), "a resolved alert writes no series");
        assert_eq!(states(&st), [("a".to_string(), "inactive")]);
        assert_eq!(st.alerts()[0].resolved_at, Some(90_000));
        // Kept for 15 minutes, then forgotten.
        st.eval(&r, 90_000 + RESOLVED_RETENTION_MS, 0, 0, &env.get(), &gone)
            .unwrap();
        assert_eq!(st.alerts().len(), 1);
        st.eval(&r, 91_000 + RESOLVED_RETENTION_MS, 0, 0, &env.get(), &gone)
            .unwrap();
        assert!(st.alerts().is_empty());
    }

    #[test]
    fn pending_alerts_that_lose_their_series_are_dropped_and_start_over() {
        let env = Env::new();
        let r = rule(60_000, 0);
        let mut st = AlertingState::default();
        let present = |_: &Expr, _: i64| Ok(vec![row("a", 2.0)]);
        st.eval(&r, 0, 0, 0, &env.get(), &present).unwrap();
        st.eval(&r, 15_000, 0, 0, &env.get(), &|_: &Expr, _: i64| Ok(vec![]))
            .unwrap();
        assert!(st.alerts().is_empty());
        st.eval(&r, 30_000, 0, 0, &env.get(), &present).unwrap();
        assert_eq!(st.alerts()[0].active_at, 30_000);
    }

    #[test]
    fn keep_firing_for_holds_a_firing_alert_after_its_series_is_gone() {
        let env = Env::new();
        let r = rule(0, 60_000);
        let mut st = AlertingState::default();
        let present = |_: &Expr, _: i64| Ok(vec![row("a", 9.0)]);
        let gone = |_: &Expr, _: i64| Ok(vec![]);
        st.eval(&r, 0, 0, 0, &env.get(), &present).unwrap();
        assert_eq!(
            states(&st),
            [("a".to_string(), "firing")],
            "for: 0 fires at once"
        );
        assert_eq!(st.alerts()[0].labels["severity"], "page");
        let out = st.eval(&r, 30_000, 0, 0, &env.get(), &gone).unwrap();
        assert_eq!(states(&st), [("a".to_string(), "firing")]);
        assert_eq!(out.len(), 2, "still written while kept firing");
        st.eval(&r, 89_000, 0, 0, &env.get(), &gone).unwrap();
        assert_eq!(states(&st), [("a".to_string(), "firing")]);
        st.eval(&r, 90_000, 0, 0, &env.get(), &gone).unwrap();
        assert_eq!(states(&st), [("a".to_string(), "inactive")]);
    }

    #[test]
    fn limits_duplicates_and_offsets() {
        let env = Env::new();
        let mut r = rule(0, 0);
        let mut st = AlertingState::default();
        let two = |_: &Expr, _: i64| Ok(vec![row("a", 2.0), row("b", 2.0)]);
        let e = st.eval(&r, 0, 0, 1, &env.get(), &two).unwrap_err();
        assert_eq!(e, "exceeded limit of 1 with 2 alerts");
        assert!(st.alerts().is_empty());
        // Dropping `i` through a rule label makes two results one label set.
        r.labels.insert("i".into(), "same".into());
        let e = st.eval(&r, 0, 0, 0, &env.get(), &two).unwrap_err();
        assert!(e.contains("same labelset"), "{e}");
        // The query runs at t - offset; samples are stamped by the caller at that time.
        let seen = std::cell::Cell::new(0);
        st.eval(
            &rule(0, 0),
            100_000,
            30_000,
            0,
            &env.get(),
            &|_: &Expr, t: i64| {
                seen.set(t);
                Ok(vec![])
            },
        )
        .unwrap();
        assert_eq!(seen.get(), 70_000);
    }

    #[test]
    fn recording_rules_rename_label_and_check() {
        let r = RecordingRule {
            record: "job:m:sum".into(),
            expr: crate::promql::parse_expr("m").unwrap(),
            expr_text: "m".into(),
            labels: [
                ("team".to_string(), "db".to_string()),
                ("i".to_string(), String::new()),
            ]
            .into(),
        };
        let q = |_: &Expr, _: i64| Ok(vec![row("a", 1.0)]);
        let out = eval_recording(&r, 0, 0, &q).unwrap();
        assert_eq!(
            out,
            vec![(
                Labels::from_pairs(&[("__name__", "job:m:sum"), ("team", "db")]),
                1.0
            )]
        );
        let q2 = |_: &Expr, _: i64| Ok(vec![row("a", 1.0), row("b", 2.0)]);
        assert!(eval_recording(&r, 0, 0, &q2)
            .unwrap_err()
            .contains("same labelset"));
        let mut r2 = r.clone();
        r2.labels.clear();
        assert_eq!(
            eval_recording(&r2, 0, 1, &q2).unwrap_err(),
            "exceeded limit of 1 with 2 series"
        );
    }
}
