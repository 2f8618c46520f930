//! The rule manager (upstream `rules/manager.go`, `rules/group.go`): every rule group of
//! the configured rule files evaluates on its own interval, at upstream's deterministic
//! offset within the interval (so groups spread out and each evaluation lands at the same
//! phase), rules in file order, each rule's results appended and committed before the next
//! rule runs so later rules see them. A recording rule's series that disappears, and an
//! alert's `ALERTS`/`ALERTS_FOR_STATE` series when the alert ends, get a staleness marker.
//! Per rule: health, last error, last evaluation and its duration; per group: last
//! evaluation, duration and missed iterations.
//!
//! Applying new rule files (start, reload) replaces the groups; an alerting rule of the
//! same group (file and name) and same rule name keeps its active alerts, as upstream
//! copies state across reloads. After a restart, pending alerts get back the time they had
//! already spent pending from `ALERTS_FOR_STATE` ([`GroupState::restore_for_state`]).
//! Firing and resolved alerts go to an [`AlertSink`] with upstream's resend rules.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::model::value::STALE_NAN;
use crate::model::Labels;
use crate::promql::ast::Expr;
use crate::promql::engine::{Engine as PromqlEngine, EngineOptions as PromqlOptions, Value};
use crate::storage::{Appender, Queryable};
use crate::template::FuncMap;
use crate::tsdb::Db;

use super::eval::{eval_recording, Alert, AlertState, AlertingState, Row, TemplateEnv};
use super::file::{Rule, RuleFile};
use crate::notifier::{AlertSink, NotifierAlert};

/// A rule's health after its last evaluation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Health {
    Unknown,
    Ok,
    Err,
}

impl Health {
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Unknown => "unknown",
            Health::Ok => "ok",
            Health::Err => "err",
        }
    }
}

/// One rule and what its evaluations left.
pub struct RuleState {
    pub rule: Rule,
    pub health: Health,
    pub last_error: Option<String>,
    /// Milliseconds since the epoch of the last evaluation.
    pub last_eval_ms: Option<i64>,
    pub eval_seconds: f64,
    /// Alerting rules' alerts.
    pub alerts: AlertingState,
    /// Series written at the previous evaluation (for staleness markers).
    pub(crate) prev_series: HashSet<Labels>,
}

/// One rule group.
pub struct GroupState {
    pub name: String,
    pub file: PathBuf,
    pub interval_ms: i64,
    pub limit: usize,
    pub query_offset_ms: i64,
    pub rules: Vec<RuleState>,
    pub last_eval_ms: Option<i64>,
    pub eval_seconds: f64,
    pub iterations: u64,
    pub iterations_missed: u64,
    /// Rule evaluations and failed ones, over the group's life.
    pub rule_evaluations: u64,
    pub rule_failures: u64,
    /// Samples the last evaluation produced.
    pub last_samples: u64,
}

impl GroupState {
    /// A group of `file` not evaluated yet; the group's labels are applied to each rule
    /// (a rule's own label wins), as upstream does at load time.
    pub fn new(
        g: &super::file::RuleGroup,
        file: PathBuf,
        interval_ms: i64,
        query_offset_ms: i64,
    ) -> GroupState {
        let rules = g
            .rules
            .iter()
            .map(|r| {
                let mut rule = r.clone();
                let labels = match &mut rule {
                    Rule::Recording(x) => &mut x.labels,
                    Rule::Alerting(x) => &mut x.labels,
                };
                for (k, v) in &g.labels {
                    labels.entry(k.clone()).or_insert_with(|| v.clone());
                }
                RuleState {
                    rule,
                    health: Health::Unknown,
                    last_error: None,
                    last_eval_ms: None,
                    eval_seconds: 0.0,
                    alerts: AlertingState::default(),
                    prev_series: HashSet::new(),
                }
            })
            .collect();
        GroupState {
            name: g.name.clone(),
            file,
            interval_ms: interval_ms.max(1),
            limit: g.limit.max(0) as usize,
            query_offset_ms,
            rules,
            last_eval_ms: None,
            eval_seconds: 0.0,
            iterations: 0,
            iterations_missed: 0,
            rule_evaluations: 0,
            rule_failures: 0,
            last_samples: 0,
        }
    }

    /// Upstream's offset of this group's evaluations within its interval: a hash of the
    /// group's name and file, so restarts keep the phase.
    fn offset_ms(&self) -> i64 {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in self
            .name
            .bytes()
            .chain([0xff])
            .chain(self.file.to_string_lossy().bytes())
        {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x100_0000_01b3);
        }
        (h % self.interval_ms.max(1) as u64) as i64
    }

    /// The first evaluation time at or after `now_ms` at this group's phase.
    fn next_eval_at(&self, now_ms: i64) -> i64 {
        let iv = self.interval_ms.max(1);
        let off = self.offset_ms();
        let base = (now_ms - off).div_euclid(iv) * iv + off;
        if base < now_ms {
            base + iv
        } else {
            base
        }
    }

    /// Evaluates every rule at `t` (ms) against `db`, appending the results.
    pub fn eval(&mut self, t: i64, db: &Db, engine: &PromqlEngine, env: &TemplateEnv<'_>) {
        self.eval_and_send(t, db, engine, env, None);
    }

    /// [`GroupState::eval`], then hands the alerts that need (re)sending to `send`.
    fn eval_and_send(
        &mut self,
        t: i64,
        db: &Db,
        engine: &PromqlEngine,
        env: &TemplateEnv<'_>,
        send: Option<&Sending<'_>>,
    ) {
        let started = Instant::now();
        let offset = self.query_offset_ms;
        let limit = self.limit;
        let mut samples = 0u64;
        for r in &mut self.rules {
            let rule_started = Instant::now();
            let query = |expr: &Expr, at: i64| -> Result<Vec<Row>, String> {
                let res = engine
                    .instant_query(db as &dyn Queryable, expr, at)
                    .map_err(|e| e.to_string())?;
                match res.value {
                    Value::Vector(v) => Ok(v.into_iter().map(|s| (s.metric, s.f)).collect()),
                    Value::Scalar { v, .. } => Ok(vec![(Labels::default(), v)]),
                    other => Err(format!(
                        "rule result is not a vector or scalar: {}",
                        other.type_name()
                    )),
                }
            };
            let result = match &r.rule {
                Rule::Recording(rec) => eval_recording(rec, t - offset, limit, &query),
                Rule::Alerting(al) => r.alerts.eval(al, t, offset, limit, env, &query),
            };
            let write_t = t - offset;
            let (rows, err) = match result {
                Ok(rows) => (rows, None),
                Err(e) => (Vec::new(), Some(e)),
            };
            // As upstream, only a failed evaluation counts as a failure; samples the
            // storage refuses (out of bounds, out of order) make the rule unhealthy with
            // that error but are not evaluation failures.
            if err.is_some() {
                self.rule_failures += 1;
            }
            samples += rows.len() as u64;
            let appended = append(db, &rows, &r.prev_series, write_t);
            let err = err.or(appended.err());
            r.prev_series = rows.into_iter().map(|(l, _)| l).collect();
            r.health = if err.is_some() {
                Health::Err
            } else {
                Health::Ok
            };
            self.rule_evaluations += 1;
            if let Some(e) = &err {
                tracing::warn!(group = %self.name, rule = r.rule.name(), error = %e, "rule evaluation failed");
            }
            r.last_error = err;
            r.last_eval_ms = Some(t);
            r.eval_seconds = rule_started.elapsed().as_secs_f64();
            if let (Some(s), Rule::Alerting(al)) = (send, &r.rule) {
                let batch = alerts_to_send(
                    &mut r.alerts,
                    al,
                    t,
                    s.resend_delay_ms,
                    self.interval_ms,
                    s.external_url,
                );
                if !batch.is_empty() {
                    s.sink.send(batch);
                }
            }
        }
        self.last_eval_ms = Some(t);
        self.eval_seconds = started.elapsed().as_secs_f64();
        self.iterations += 1;
        self.last_samples = samples;
    }
}

/// How alerts' `for` state is restored after a restart (`--rules.alert.for-outage-tolerance`,
/// `--rules.alert.for-grace-period`; upstream's defaults 1h and 10m).
#[derive(Clone, Copy, Debug)]
pub struct RestoreOptions {
    pub outage_tolerance_ms: i64,
    pub grace_period_ms: i64,
}

impl Default for RestoreOptions {
    fn default() -> Self {
        RestoreOptions {
            outage_tolerance_ms: 3_600_000,
            grace_period_ms: 600_000,
        }
    }
}

impl GroupState {
    /// Upstream's `RestoreForState`, run once after the first evaluation following a
    /// start: each pending alert of a rule with `for` looks up its `ALERTS_FOR_STATE`
    /// series in the last `outage_tolerance`; the time it had already spent pending before
    /// the outage counts, the outage itself does not, and an alert that would fire within
    /// `grace_period` of the restart gets the grace period instead.
    fn restore_for_state(&mut self, t: i64, db: &Db, opts: RestoreOptions) {
        let mint = t - opts.outage_tolerance_ms;
        let q = db.querier(mint, t);
        for r in &mut self.rules {
            let Rule::Alerting(rule) = &r.rule else {
                continue;
            };
            let hold = rule.for_duration.0;
            if hold <= 0 {
                continue;
            }
            let matchers = [
                crate::model::Matcher::equal("__name__", "ALERTS_FOR_STATE"),
                crate::model::Matcher::equal("alertname", rule.alert.clone()),
            ];
            let series = match q.select(&matchers) {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(rule = %rule.alert, error = %e, "restoring for state");
                    continue;
                }
            };
            let mut last: std::collections::HashMap<BTreeMap<String, String>, (i64, f64)> =
                Default::default();
            for mut s in series {
                let mut labels: BTreeMap<String, String> = s
                    .labels
                    .iter()
                    .map(|l| (l.name.to_string(), l.value.to_string()))
                    .collect();
                labels.remove("__name__");
                let mut newest = None;
                while let Some(x) = s.samples.next() {
                    if x.t < t && !crate::model::value::is_stale_nan(x.v) {
                        newest = Some((x.t, x.v));
                    }
                }
                if let Some(n) = newest {
                    last.insert(labels, n);
                }
            }
            for a in r.alerts.active.values_mut() {
                if a.state != AlertState::Pending {
                    continue;
                }
                let Some(&(down_at, active_secs)) = last.get(&a.labels) else {
                    continue;
                };
                let down_at = down_at / 1000 * 1000;
                let mut restored = (active_secs as i64) * 1000;
                let spent = down_at - restored;
                let remaining = hold - spent;
                if remaining <= 0 {
                    // It would have fired already: keep the old activeAt.
                } else if remaining < opts.grace_period_ms {
                    restored = t + opts.grace_period_ms - hold;
                } else {
                    restored += t - down_at;
                }
                // The next evaluation fires it when `for` has passed, as upstream.
                a.active_at = restored;
            }
        }
    }
}

/// Prometheus' template functions, with `query` answering from `db` at `t`.
pub(crate) fn template_funcs(db: &Db, opts: &PromqlOptions, external_url: &str, t: i64) -> FuncMap {
    let db = db.clone();
    let opts = opts.clone();
    let query: crate::template::prometheus::QueryFn = Arc::new(move |q: &str| {
        let expr = crate::promql::parse_expr(q).map_err(|e| e.to_string())?;
        let res = PromqlEngine::new(opts.clone())
            .instant_query(&db as &dyn Queryable, &expr, t)
            .map_err(|e| e.to_string())?;
        match res.value {
            Value::Vector(v) => Ok(v
                .into_iter()
                .map(|s| {
                    let m = s
                        .metric
                        .iter()
                        .map(|l| (l.name.to_string(), l.value.to_string()))
                        .collect();
                    (m, s.f)
                })
                .collect()),
            Value::Scalar { v, .. } => Ok(vec![(BTreeMap::new(), v)]),
            other => Err(format!(
                "query result is not a vector or scalar: {}",
                other.type_name()
            )),
        }
    });
    crate::template::prometheus::funcs(&crate::template::prometheus::Context {
        external_url: external_url.to_string(),
        query: Some(query),
        now: t as f64 / 1000.0,
    })
}

/// Where evaluated alerts are sent, and how often they are resent.
pub struct Sending<'a> {
    pub sink: &'a dyn AlertSink,
    /// `--rules.alert.resend-delay`.
    pub resend_delay_ms: i64,
    pub external_url: &'a str,
}

/// The alerts of `state` that need sending at `t` (upstream `needsSending`): firing ones
/// not sent within the resend delay, and resolved ones not sent since they resolved.
/// Marks them sent and valid for four resend periods.
fn alerts_to_send(
    state: &mut AlertingState,
    rule: &crate::rules::file::AlertingRule,
    t: i64,
    resend_delay_ms: i64,
    interval_ms: i64,
    external_url: &str,
) -> Vec<NotifierAlert> {
    let mut out = Vec::new();
    let link = format!(
        "{}/graph?g0.expr={}&g0.tab=1",
        external_url.trim_end_matches('/'),
        crate::template::exec::query_escape(&rule.expr.to_string())
    );
    let mut keys: Vec<Labels> = state.active.keys().cloned().collect();
    keys.sort();
    for k in keys {
        let Some(a) = state.active.get_mut(&k) else {
            continue;
        };
        let needs = match a.state {
            AlertState::Pending => false,
            _ if a
                .resolved_at
                .is_some_and(|r| a.last_sent_at.is_none_or(|s| r > s)) =>
            {
                true
            }
            _ => a.last_sent_at.is_none_or(|s| s + resend_delay_ms < t),
        };
        if !needs {
            continue;
        }
        a.last_sent_at = Some(t);
        a.valid_until = Some(t + 4 * resend_delay_ms.max(interval_ms));
        let ends = a.resolved_at.or(a.valid_until);
        out.push(NotifierAlert {
            labels: a.labels.clone(),
            annotations: a.annotations.clone(),
            starts_at: crate::model::time::format_rfc3339(a.fired_at.unwrap_or(a.active_at)),
            ends_at: ends
                .map(crate::model::time::format_rfc3339)
                .unwrap_or_default(),
            generator_url: link.clone(),
        });
    }
    out
}

/// Appends `rows` at `t`, and a staleness marker for each series of `prev` that is gone.
fn append(db: &Db, rows: &[Row], prev: &HashSet<Labels>, t: i64) -> Result<(), String> {
    let mut app = db.appender();
    let now: HashSet<&Labels> = rows.iter().map(|(l, _)| l).collect();
    let mut first_err = None;
    for (l, v) in rows {
        if let Err(e) = app.append(l, t, *v) {
            first_err.get_or_insert(e.to_string());
        }
    }
    for l in prev.iter().filter(|l| !now.contains(l)) {
        // A stale marker older than the series' last sample is refused; that is fine.
        let _ = app.append(l, t, STALE_NAN);
    }
    app.commit().map_err(|e| e.to_string())?;
    match first_err {
        Some(e) => Err(format!("appending the results: {e}")),
        None => Ok(()),
    }
}

/// What the rule manager needs besides the rule files.
#[derive(Clone)]
pub struct ManagerOptions {
    pub query: PromqlOptions,
    pub external_labels: BTreeMap<String, String>,
    pub external_url: String,
    /// Where alerts go (`None`: they are only kept and shown).
    pub sink: Option<Arc<dyn AlertSink>>,
    /// Minimum time before a firing alert is sent again (upstream's default: 1m).
    pub resend_delay_ms: i64,
    pub restore: RestoreOptions,
}

/// Runs the rule groups.
pub struct RuleManager {
    db: Db,
    opts: ManagerOptions,
    groups: Mutex<Vec<RunningGroup>>,
    /// Set by the first `apply`: only the groups started with the process restore their
    /// alerts' `for` state, as upstream.
    started: std::sync::atomic::AtomicBool,
}

struct RunningGroup {
    state: Arc<Mutex<GroupState>>,
    stop: tokio::sync::watch::Sender<bool>,
}

impl RuleManager {
    pub fn new(db: Db, opts: ManagerOptions) -> Arc<RuleManager> {
        Arc::new(RuleManager {
            db,
            opts,
            groups: Mutex::new(Vec::new()),
            started: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// Replaces the running groups with those of `files`; `default_interval_ms` and
    /// `default_offset_ms` are `global.evaluation_interval` and
    /// `global.rule_query_offset`. Must be called inside a tokio runtime.
    pub fn apply(
        self: &Arc<Self>,
        files: &[(PathBuf, RuleFile)],
        default_interval_ms: i64,
        default_offset_ms: i64,
    ) {
        let restore = !self
            .started
            .swap(true, std::sync::atomic::Ordering::Relaxed);
        let mut old: Vec<RunningGroup> = std::mem::take(&mut *self.groups.lock());
        let mut new_groups = Vec::new();
        for (path, file) in files {
            for g in &file.groups {
                let mut state = GroupState::new(
                    g,
                    path.clone(),
                    g.interval.map_or(default_interval_ms, |d| d.0),
                    g.query_offset.map_or(default_offset_ms, |d| d.0),
                );
                // Carry alerts and written series over from the same group's same rules.
                if let Some(prev) = old.iter().find(|o| {
                    let s = o.state.lock();
                    s.name == g.name && s.file == *path
                }) {
                    let mut p = prev.state.lock();
                    for r in &mut state.rules {
                        if let Some(o) = p.rules.iter_mut().find(|o| o.rule == r.rule) {
                            std::mem::swap(&mut r.alerts, &mut o.alerts);
                            std::mem::swap(&mut r.prev_series, &mut o.prev_series);
                        }
                    }
                }
                new_groups.push(self.start(state, restore));
            }
        }
        for o in old.drain(..) {
            let _ = o.stop.send(true);
        }
        *self.groups.lock() = new_groups;
    }

    fn start(self: &Arc<Self>, state: GroupState, mut restore: bool) -> RunningGroup {
        let state = Arc::new(Mutex::new(state));
        let (tx, mut rx) = tokio::sync::watch::channel(false);
        let me = self.clone();
        let st = state.clone();
        tokio::spawn(async move {
            let mut next = st.lock().next_eval_at(crate::model::time::now_ms());
            loop {
                let wait = (next - crate::model::time::now_ms()).max(0) as u64;
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(wait)) => {}
                    _ = rx.changed() => return,
                }
                let (me2, st2) = (me.clone(), st.clone());
                let t = next;
                let done = tokio::task::spawn_blocking(move || {
                    let funcs = template_funcs(&me2.db, &me2.opts.query, &me2.opts.external_url, t);
                    let env = TemplateEnv {
                        external_labels: &me2.opts.external_labels,
                        external_url: &me2.opts.external_url,
                        funcs: &funcs,
                    };
                    let engine = PromqlEngine::new(me2.opts.query.clone());
                    let sending = me2.opts.sink.as_deref().map(|sink| Sending {
                        sink,
                        resend_delay_ms: me2.opts.resend_delay_ms,
                        external_url: &me2.opts.external_url,
                    });
                    let mut g = st2.lock();
                    g.eval_and_send(t, &me2.db, &engine, &env, sending.as_ref());
                    if restore {
                        g.restore_for_state(t, &me2.db, me2.opts.restore);
                    }
                })
                .await;
                if done.is_err() {
                    tracing::error!("a rule group evaluation panicked");
                }
                restore = false;
                let iv = st.lock().interval_ms;
                next += iv;
                let now = crate::model::time::now_ms();
                if now > next {
                    // Evaluations that could not start in time are skipped and counted.
                    let missed = (now - next) / iv + 1;
                    st.lock().iterations_missed += missed as u64;
                    next += missed * iv;
                }
            }
        });
        RunningGroup { state, stop: tx }
    }

    /// Calls `f` with every group, in configuration order.
    pub fn with_groups<R>(&self, f: impl FnOnce(&[&GroupState]) -> R) -> R {
        let groups = self.groups.lock();
        let guards: Vec<_> = groups.iter().map(|g| g.state.lock()).collect();
        let refs: Vec<&GroupState> = guards.iter().map(|g| &**g).collect();
        f(&refs)
    }

    /// Every pending and firing alert.
    pub fn alerts(&self) -> Vec<Alert> {
        self.with_groups(|gs| {
            gs.iter()
                .flat_map(|g| g.rules.iter())
                .flat_map(|r| r.alerts.alerts().into_iter().cloned().collect::<Vec<_>>())
                .filter(|a| a.state != AlertState::Inactive)
                .collect()
        })
    }

    /// Writes the rule manager's metrics under Prometheus' names, one series per group
    /// labelled `rule_group="<file>;<group>"` as upstream.
    pub fn write_metrics(&self, w: &mut crate::exposition::MetricsWriter) {
        type Get = fn(&GroupState) -> f64;
        let families: [(&str, &str, &str, Get); 9] = [
            ("prometheus_rule_evaluations_total", "counter", "The total number of rule evaluations.", |g| g.rule_evaluations as f64),
            ("prometheus_rule_evaluation_failures_total", "counter", "The total number of rule evaluation failures.", |g| g.rule_failures as f64),
            ("prometheus_rule_group_iterations_total", "counter", "The total number of scheduled rule group evaluations, whether executed or missed.", |g| (g.iterations + g.iterations_missed) as f64),
            ("prometheus_rule_group_iterations_missed_total", "counter", "The total number of rule group evaluations missed due to slow rule group evaluation.", |g| g.iterations_missed as f64),
            ("prometheus_rule_group_interval_seconds", "gauge", "The interval of a rule group.", |g| g.interval_ms as f64 / 1000.0),
            ("prometheus_rule_group_last_duration_seconds", "gauge", "The duration of the last rule group evaluation.", |g| g.eval_seconds),
            ("prometheus_rule_group_last_evaluation_timestamp_seconds", "gauge", "The timestamp of the last rule group evaluation in seconds.", |g| g.last_eval_ms.map_or(0.0, |t| t as f64 / 1000.0)),
            ("prometheus_rule_group_last_evaluation_samples", "gauge", "The number of samples returned during the last rule group evaluation.", |g| g.last_samples as f64),
            ("prometheus_rule_group_rules", "gauge", "The number of rules.", |g| g.rules.len() as f64),
        ];
        self.with_groups(|gs| {
            let keys: Vec<String> = gs
                .iter()
                .map(|g| format!("{};{}", g.file.display(), g.name))
                .collect();
            for (name, kind, help, get) in families {
                w.family(name, kind, help);
                for (g, key) in gs.iter().zip(&keys) {
                    w.sample(name, &[("rule_group", key)], get(g));
                }
            }
        });
    }

    /// Stops every group.
    pub fn stop(&self) {
        for g in self.groups.lock().drain(..) {
            let _ = g.stop.send(true);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::parse_rules;

    #[test]
    fn a_group_records_alerts_and_marks_what_disappears_stale() {
        let d = tempfile::tempdir().unwrap();
        let db = Db::open(d.path(), Default::default()).unwrap();
        let t0 = 1_700_000_000_000;
        {
            let mut app = db.appender();
            for (i, v) in [(0, 1.0), (1, 5.0)] {
                let l = Labels::from_pairs(&[("__name__", "m"), ("i", &i.to_string())]);
                app.append(&l, t0, v).unwrap();
            }
            app.commit().unwrap();
        }
        let mut st = group_of("groups:\n  - name: g\n    labels: {team: db}\n    rules:\n      - record: m:x2\n        expr: m * 2\n      - alert: High\n        expr: m:x2 > 4\n        annotations:\n          s: '{{ $labels.i }} {{ $value }}'\n");
        st.interval_ms = 15_000;
        let fixture = EnvFixture::new();
        let env = fixture.env();
        let engine = PromqlEngine::new(Default::default());
        let t1 = t0 + 15_000;
        st.eval(t1, &db, &engine, &env);
        assert!(
            st.rules.iter().all(|r| r.health == Health::Ok),
            "{:?}",
            st.rules[1].last_error
        );
        // The alert sees the recording rule's result of the same iteration.
        let alerts = st.rules[1].alerts.alerts();
        assert_eq!(alerts.len(), 1);
        assert_eq!(alerts[0].labels["i"], "1");
        assert_eq!(alerts[0].annotations["s"], "1 10");
        let q = |e: &str, t: i64| {
            let r = engine
                .instant_query(
                    &db as &dyn Queryable,
                    &crate::promql::parse_expr(e).unwrap(),
                    t,
                )
                .unwrap();
            match r.value {
                Value::Vector(v) => v.len(),
                _ => usize::MAX,
            }
        };
        assert_eq!(q("m:x2", t1), 2);
        assert_eq!(
            q("ALERTS{alertstate=\"firing\", alertname=\"High\"}", t1),
            1
        );
        // The input goes away: the recorded series and ALERTS go stale at the next
        // evaluation instead of lingering for the 5-minute lookback.
        let t2 = t1 + 6 * 60_000;
        st.eval(t2, &db, &engine, &env);
        let t3 = t2 + 15_000;
        st.eval(t3, &db, &engine, &env);
        assert_eq!(q("m:x2", t3), 0);
        assert_eq!(q("ALERTS", t3), 0);
        assert_eq!(st.iterations, 3);
    }

    #[test]
    fn refused_samples_make_the_rule_unhealthy_but_are_not_evaluation_failures() {
        let d = tempfile::tempdir().unwrap();
        let db = Db::open(d.path(), Default::default()).unwrap();
        let t0 = 1_700_000_000_000;
        {
            // The recorded series already has a newer sample: the rule's is out of order.
            let mut app = db.appender();
            app.append(&Labels::from_pairs(&[("__name__", "m")]), t0, 1.0)
                .unwrap();
            app.append(&Labels::from_pairs(&[("__name__", "m2")]), t0, 1.0)
                .unwrap();
            app.append(
                &Labels::from_pairs(&[("__name__", "m:x2")]),
                t0 + 60_000,
                2.0,
            )
            .unwrap();
            app.commit().unwrap();
        }
        let mut st = group_of("groups:\n  - name: g\n    rules:\n      - record: m:x2\n        expr: m * 2\n      - record: bad\n        expr: '{__name__=~\"m|m2\"} * 1'\n");
        let fixture = EnvFixture::new();
        let env = fixture.env();
        let engine = PromqlEngine::new(Default::default());
        st.eval(t0 + 15_000, &db, &engine, &env);
        assert_eq!(st.rules[0].health, Health::Err);
        let e = st.rules[0].last_error.clone().unwrap_or_default();
        assert!(e.contains("appending the results"), "{e}");
        // The second rule's evaluation fails (two series with the same labels once the
        // name is dropped): that one counts, the refused sample does not.
        assert_eq!(st.rules[1].health, Health::Err);
        assert_eq!(st.rule_evaluations, 2);
        assert_eq!(st.rule_failures, 1);
    }

    /// The template environment the tests evaluate with: Prometheus' functions, no
    /// external labels or URL.
    struct EnvFixture {
        funcs: crate::template::FuncMap,
        ext: BTreeMap<String, String>,
    }

    impl EnvFixture {
        fn new() -> EnvFixture {
            EnvFixture {
                funcs: crate::template::prometheus::funcs(&Default::default()),
                ext: BTreeMap::new(),
            }
        }

        fn env(&self) -> TemplateEnv<'_> {
            TemplateEnv {
                external_labels: &self.ext,
                external_url: "",
                funcs: &self.funcs,
            }
        }
    }

    fn group_of(yaml: &str) -> GroupState {
        let file = parse_rules(yaml, "r.yml").unwrap();
        GroupState::new(&file.groups[0], "r.yml".into(), 60_000, 0)
    }

    #[test]
    fn for_state_is_restored_after_an_outage() {
        let d = tempfile::tempdir().unwrap();
        let db = Db::open(d.path(), Default::default()).unwrap();
        let t0: i64 = 1_700_000_000_000;
        let min = 60_000;
        // Before the outage: the alert was pending from t0 to t0+3m (ALERTS_FOR_STATE holds
        // its activeAt), and the input series is there throughout.
        {
            let mut app = db.appender();
            let m = Labels::from_pairs(&[("__name__", "m"), ("i", "1")]);
            let fs = Labels::from_pairs(&[
                ("__name__", "ALERTS_FOR_STATE"),
                ("alertname", "High"),
                ("i", "1"),
            ]);
            for k in 0..=40 {
                app.append(&m, t0 + k * min, 5.0).unwrap();
            }
            for k in 0..=3 {
                app.append(&fs, t0 + k * min, (t0 / 1000) as f64).unwrap();
            }
            app.commit().unwrap();
        }
        let mut g = group_of("groups:\n  - name: g\n    rules:\n      - alert: High\n        expr: m > 1\n        for: 10m\n");
        let fixture = EnvFixture::new();
        let env = fixture.env();
        let engine = PromqlEngine::new(Default::default());
        // Restarted 27 minutes after the last ALERTS_FOR_STATE sample.
        let t = t0 + 30 * min;
        g.eval(t, &db, &engine, &env);
        let opts = RestoreOptions {
            outage_tolerance_ms: 3_600_000,
            grace_period_ms: 60_000,
        };
        g.restore_for_state(t, &db, opts);
        let a = g.rules[0].alerts.alerts()[0].clone();
        // 3 minutes spent pending before the outage count; the 27 of the outage do not.
        assert_eq!(a.active_at, t0 + 27 * min);
        g.eval(t + 6 * min, &db, &engine, &env);
        assert_eq!(g.rules[0].alerts.alerts()[0].state, AlertState::Pending);
        g.eval(t + 7 * min, &db, &engine, &env);
        assert_eq!(g.rules[0].alerts.alerts()[0].state, AlertState::Firing);

        // Nearly done before the outage: the grace period applies instead.
        let mut g = group_of("groups:\n  - name: g\n    rules:\n      - alert: High\n        expr: m > 1\n        for: 3m30s\n");
        g.eval(t, &db, &engine, &env);
        g.restore_for_state(t, &db, opts);
        assert_eq!(
            g.rules[0].alerts.alerts()[0].active_at,
            t + 60_000 - 210_000
        );
    }

    #[test]
    fn evaluation_times_keep_the_group_phase() {
        let st = GroupState {
            name: "g".into(),
            file: "f.yml".into(),
            interval_ms: 15_000,
            limit: 0,
            query_offset_ms: 0,
            rules: vec![],
            last_eval_ms: None,
            eval_seconds: 0.0,
            iterations: 0,
            iterations_missed: 0,
            rule_evaluations: 0,
            rule_failures: 0,
            last_samples: 0,
        };
        let off = st.offset_ms();
        assert!((0..15_000).contains(&off));
        let n = st.next_eval_at(1_000_000);
        assert!((1_000_000..1_015_000).contains(&n));
        assert_eq!((n - off).rem_euclid(15_000), 0);
        assert_eq!(st.next_eval_at(n), n);
    }
}
