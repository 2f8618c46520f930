//! Backtesting an alerting rule over stored history: "would it have fired last week, when,
//! for how long, how often?".
//!
//! The rule's expression is evaluated once as a range query over `[start, end]` at `step`
//! (the evaluation interval being simulated), which gives, for every evaluation time, the
//! series the live engine's instant query would have returned. Those series become alerts
//! exactly as [`super::eval::AlertingState::eval`] makes them: labels are the series' minus
//! `__name__`, plus the rule's (templated) labels and `alertname`; an alert is pending from
//! the first evaluation that returns it, turns firing at the first evaluation at least
//! `for` after that, a pending alert whose series is missing at an evaluation is dropped,
//! and a firing one whose series is missing stays firing while less than
//! `keep_firing_for` has passed since the first evaluation that missed it, then resolves.
//! Instead of replaying every evaluation through that state map (a hash-map pass per
//! evaluation over every alert), each alert's timeline is walked once, jumping over the
//! evaluations that miss it; a unit test drives `AlertingState::eval` on the same data
//! and checks that both agree at every evaluation.
//!
//! The result is, per alert, its firing intervals (fired at, last firing evaluation,
//! resolved at) and the totals; [`Backtest::render_text`] prints them for
//! `promtui rules backtest`, and the TUI's Backtest view draws them on a timeline.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use crate::model::{Labels, METRIC_NAME};
use crate::promql::ast::Expr;
use crate::promql::engine::{Engine, Value};
use crate::storage::Queryable;

use super::file::AlertingRule;

/// Why a backtest could not run.
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum BacktestError {
    #[error("expression {expr:?}: {message}")]
    Parse { expr: String, message: String },
    #[error("invalid range: {0}")]
    Range(String),
    #[error("evaluating {expr:?} over the range: {message}")]
    Query { expr: String, message: String },
    #[error("at {at}: vector contains metrics with the same labelset after applying alert labels ({labels})")]
    Duplicate { at: String, labels: String },
}

/// The alerting rule being backtested: a rule from a rule file, or one typed in.
#[derive(Clone, Debug, PartialEq)]
pub struct BacktestRule {
    pub alert: String,
    pub expr: Expr,
    pub expr_text: String,
    pub for_ms: i64,
    pub keep_firing_for_ms: i64,
    /// The rule's labels (templates allowed, as in rule files).
    pub labels: BTreeMap<String, String>,
}

impl BacktestRule {
    /// A typed-in rule; `alert` may be empty (named `backtest`).
    pub fn parse(
        alert: &str,
        expr: &str,
        for_ms: i64,
        keep_firing_for_ms: i64,
    ) -> Result<BacktestRule, BacktestError> {
        let parsed = crate::promql::parse_expr(expr).map_err(|e| BacktestError::Parse {
            expr: expr.to_string(),
            message: e.to_string(),
        })?;
        if for_ms < 0 || keep_firing_for_ms < 0 {
            return Err(BacktestError::Range(
                "for and keep_firing_for must not be negative".into(),
            ));
        }
        Ok(BacktestRule {
            alert: if alert.is_empty() {
                "backtest".into()
            } else {
                alert.to_string()
            },
            expr: parsed,
            expr_text: expr.to_string(),
            for_ms,
            keep_firing_for_ms,
            labels: BTreeMap::new(),
        })
    }

    /// The rule of a rule file, as the live engine runs it.
    pub fn from_alerting(r: &AlertingRule) -> BacktestRule {
        BacktestRule {
            alert: r.alert.clone(),
            expr: r.expr.clone(),
            expr_text: r.expr_text.clone(),
            for_ms: r.for_duration.0,
            keep_firing_for_ms: r.keep_firing_for.0,
            labels: r.labels.clone(),
        }
    }

    /// The same rule with another expression (a second threshold to compare).
    pub fn with_expr(&self, expr: &str) -> Result<BacktestRule, BacktestError> {
        let mut r = BacktestRule::parse(&self.alert, expr, self.for_ms, self.keep_firing_for_ms)?;
        r.labels = self.labels.clone();
        Ok(r)
    }
}

/// The evaluations simulated: `start`, `start + step`, ... up to `end` inclusive (ms).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    pub start_ms: i64,
    pub end_ms: i64,
    pub step_ms: i64,
}

impl Window {
    /// Checks the window: a positive step, end not before start, at most 10 million
    /// evaluations.
    pub fn new(start_ms: i64, end_ms: i64, step_ms: i64) -> Result<Window, BacktestError> {
        if step_ms <= 0 {
            return Err(BacktestError::Range("the step must be positive".into()));
        }
        if end_ms < start_ms {
            return Err(BacktestError::Range(format!(
                "end {} is before start {}",
                crate::model::time::format_rfc3339(end_ms),
                crate::model::time::format_rfc3339(start_ms)
            )));
        }
        if (end_ms - start_ms) / step_ms > 10_000_000 {
            return Err(BacktestError::Range(format!(
                "{} evaluations is too many; use a larger step",
                (end_ms - start_ms) / step_ms + 1
            )));
        }
        Ok(Window {
            start_ms,
            end_ms,
            step_ms,
        })
    }
    /// Number of evaluations.
    pub fn evals(&self) -> usize {
        ((self.end_ms - self.start_ms) / self.step_ms + 1) as usize
    }
    /// The time of evaluation `i`.
    pub fn at(&self, i: usize) -> i64 {
        self.start_ms + i as i64 * self.step_ms
    }
    /// The evaluation at exactly `t`, if `t` is one.
    fn index(&self, t: i64) -> Option<usize> {
        let d = t - self.start_ms;
        (d >= 0 && d % self.step_ms == 0 && t <= self.end_ms).then_some((d / self.step_ms) as usize)
    }
}

/// One firing episode of an alert.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FiringInterval {
    /// When it became pending (its `activeAt`).
    pub active_at: i64,
    /// The first evaluation at which it was firing.
    pub fired_at: i64,
    /// The last evaluation at which it was firing (kept firing included).
    pub last_firing_at: i64,
    /// The evaluation at which it resolved; `None` when still firing at the end.
    pub resolved_at: Option<i64>,
}

impl FiringInterval {
    /// How long it fired: to its resolution, or to the end of the window.
    pub fn duration_ms(&self, window: &Window) -> i64 {
        self.resolved_at.unwrap_or(window.end_ms) - self.fired_at
    }
    /// Whether it was firing at evaluation time `t`.
    pub fn firing_at(&self, t: i64) -> bool {
        t >= self.fired_at && t <= self.last_firing_at
    }
}

/// What one alert (one label set) did over the window.
#[derive(Clone, Debug, PartialEq)]
pub struct AlertBacktest {
    /// The alert's labels, `alertname` included.
    pub labels: Labels,
    pub intervals: Vec<FiringInterval>,
    /// Evaluations at which it was pending.
    pub pending_evals: usize,
    /// Times it went pending without ever firing (dropped or cut by the window end).
    pub pending_episodes: usize,
}

/// A backtest's result.
#[derive(Clone, Debug, PartialEq)]
pub struct Backtest {
    pub rule: BacktestRule,
    pub window: Window,
    /// Alerts that were pending or firing at least once, firing ones first, then by labels.
    pub alerts: Vec<AlertBacktest>,
    /// Wall time spent, query included (ms).
    pub elapsed_ms: f64,
}

impl Backtest {
    /// Number of firing episodes over all alerts.
    pub fn firings(&self) -> usize {
        self.alerts.iter().map(|a| a.intervals.len()).sum()
    }
    /// Alerts that fired at least once.
    pub fn alerts_fired(&self) -> usize {
        self.alerts
            .iter()
            .filter(|a| !a.intervals.is_empty())
            .count()
    }
    /// Total firing time over all alerts (ms).
    pub fn firing_ms(&self) -> i64 {
        self.alerts
            .iter()
            .flat_map(|a| a.intervals.iter())
            .map(|i| i.duration_ms(&self.window))
            .sum()
    }
    /// The label sets firing at evaluation time `t`, sorted.
    pub fn firing_at(&self, t: i64) -> Vec<&Labels> {
        self.alerts
            .iter()
            .filter(|a| a.intervals.iter().any(|i| i.firing_at(t)))
            .map(|a| &a.labels)
            .collect()
    }
    /// Evaluations at which at least one alert was firing.
    pub fn firing_evals(&self) -> Vec<i64> {
        let mut v: Vec<i64> = Vec::new();
        for a in &self.alerts {
            for i in &a.intervals {
                let mut t = i.fired_at;
                while t <= i.last_firing_at {
                    v.push(t);
                    t += self.window.step_ms;
                }
            }
        }
        v.sort_unstable();
        v.dedup();
        v
    }

    /// The report `promtui rules backtest` prints: a summary, then one block per alert
    /// with each firing interval (RFC 3339, duration).
    pub fn render_text(&self) -> String {
        let w = &self.window;
        let fmt_t = crate::model::time::format_rfc3339;
        let dur = |ms: i64| crate::model::time::format_duration(ms.max(0));
        let mut out = String::new();
        let _ = writeln!(
            out,
            "rule {} expr {:?} for {} keep_firing_for {}",
            self.rule.alert,
            self.rule.expr_text,
            dur(self.rule.for_ms),
            dur(self.rule.keep_firing_for_ms)
        );
        let _ = writeln!(
            out,
            "range {} .. {} step {} ({} evaluations)",
            fmt_t(w.start_ms),
            fmt_t(w.end_ms),
            dur(w.step_ms),
            w.evals()
        );
        let pending_only: usize = self.alerts.iter().map(|a| a.pending_episodes).sum();
        let _ = writeln!(
            out,
            "{} firing episode(s) across {} alert(s), {} firing in total; {} pending episode(s) that never fired",
            self.firings(),
            self.alerts_fired(),
            dur(self.firing_ms()),
            pending_only
        );
        for a in self.alerts.iter().filter(|a| !a.intervals.is_empty()) {
            let total: i64 = a.intervals.iter().map(|i| i.duration_ms(w)).sum();
            let _ = writeln!(
                out,
                "\n{}  fired {}x, {} in total",
                a.labels,
                a.intervals.len(),
                dur(total)
            );
            for i in &a.intervals {
                let until = match i.resolved_at {
                    Some(r) => format!("resolved {}", fmt_t(r)),
                    None => "still firing at the end".into(),
                };
                let _ = writeln!(
                    out,
                    "  firing {} .. {}  ({}; pending since {}; {})",
                    fmt_t(i.fired_at),
                    fmt_t(i.last_firing_at),
                    dur(i.duration_ms(w)),
                    fmt_t(i.active_at),
                    until
                );
            }
        }
        out
    }
}

/// One alert's returned values: (evaluation index, value), in evaluation order.
type Timeline = Vec<(usize, f64)>;

/// Runs the rule's expression as a range query over `db` and backtests it.
pub fn backtest(
    db: &dyn Queryable,
    engine: &Engine,
    rule: &BacktestRule,
    window: Window,
) -> Result<Backtest, BacktestError> {
    let started = std::time::Instant::now();
    let res = engine
        .range_query(
            db,
            &rule.expr,
            window.start_ms,
            window.end_ms,
            window.step_ms,
        )
        .map_err(|e| BacktestError::Query {
            expr: rule.expr_text.clone(),
            message: e.to_string(),
        })?;
    let series: Vec<(Labels, Vec<(i64, f64)>)> = match res.value {
        Value::Matrix(m) => m
            .into_iter()
            .map(|s| (s.metric, s.floats.into_iter().map(|p| (p.t, p.f)).collect()))
            .collect(),
        // A scalar expression (`vector(1)` aside) returns one value per evaluation.
        Value::Scalar { .. } | Value::Vector(_) | Value::String { .. } => {
            return Err(BacktestError::Query {
                expr: rule.expr_text.clone(),
                message: "the expression must return an instant vector".into(),
            })
        }
    };
    let mut bt = backtest_series(rule, window, series)?;
    bt.elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
    Ok(bt)
}

/// Backtests `rule` over already evaluated series: for each series of the expression's
/// result, its points at the window's evaluation times (points off the grid are ignored).
pub fn backtest_series(
    rule: &BacktestRule,
    window: Window,
    series: Vec<(Labels, Vec<(i64, f64)>)>,
) -> Result<Backtest, BacktestError> {
    let started = std::time::Instant::now();
    let templated = rule.labels.values().any(|v| v.contains("{{"));
    let funcs = if templated {
        crate::template::prometheus::funcs(&crate::template::prometheus::Context {
            external_url: String::new(),
            query: None,
            now: window.end_ms as f64 / 1000.0,
        })
    } else {
        Default::default()
    };
    let no_labels = BTreeMap::new();
    let alert_labels = |s: &Labels, value: f64| -> Labels {
        let mut m: BTreeMap<String, String> = s
            .iter()
            .filter(|l| l.name != METRIC_NAME)
            .map(|l| (l.name.to_string(), l.value.to_string()))
            .collect();
        for (k, v) in &rule.labels {
            let v = if templated {
                let data = crate::template::prometheus::AlertData {
                    labels: &m,
                    external_labels: &no_labels,
                    external_url: "",
                    value,
                };
                crate::template::prometheus::expand_alert_template(&rule.alert, v, &data, &funcs)
            } else {
                v.clone()
            };
            if v.is_empty() {
                m.remove(k);
            } else {
                m.insert(k.clone(), v);
            }
        }
        m.insert("alertname".into(), rule.alert.clone());
        let pairs: Vec<(&str, &str)> = m.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        Labels::from_pairs(&pairs)
    };
    // Timelines by alert label set; a label set returned twice at one evaluation is the
    // live engine's duplicate error.
    let mut timelines: HashMap<Labels, Timeline> = HashMap::new();
    let mut merged = false;
    for (labels, points) in series {
        if templated {
            for (t, v) in points {
                let Some(i) = window.index(t) else { continue };
                timelines
                    .entry(alert_labels(&labels, v))
                    .or_default()
                    .push((i, v));
            }
            merged = true;
        } else {
            let key = alert_labels(&labels, 0.0);
            let tl: Timeline = points
                .into_iter()
                .filter_map(|(t, v)| window.index(t).map(|i| (i, v)))
                .collect();
            match timelines.get_mut(&key) {
                Some(prev) => {
                    prev.extend(tl);
                    merged = true;
                }
                None => {
                    timelines.insert(key, tl);
                }
            }
        }
    }
    let mut alerts = Vec::with_capacity(timelines.len());
    for (labels, mut tl) in timelines {
        if merged {
            tl.sort_by_key(|p| p.0);
            if let Some(w) = tl.windows(2).find(|w| w[0].0 == w[1].0) {
                return Err(BacktestError::Duplicate {
                    at: crate::model::time::format_rfc3339(window.at(w[0].0)),
                    labels: labels.to_string(),
                });
            }
        }
        let a = walk(rule, &window, labels, &tl);
        if a.pending_evals > 0 || !a.intervals.is_empty() {
            alerts.push(a);
        }
    }
    alerts.sort_by(|a, b| {
        a.intervals
            .is_empty()
            .cmp(&b.intervals.is_empty())
            .then_with(|| a.labels.cmp(&b.labels))
    });
    Ok(Backtest {
        rule: rule.clone(),
        window,
        alerts,
        elapsed_ms: started.elapsed().as_secs_f64() * 1000.0,
    })
}

/// The live engine's state machine over one alert's timeline (see the module doc).
fn walk(rule: &BacktestRule, w: &Window, labels: Labels, tl: &[(usize, f64)]) -> AlertBacktest {
    #[derive(Clone, Copy)]
    enum St {
        Inactive,
        Pending { active_at: i64 },
        Firing { active_at: i64, fired_at: i64 },
    }
    let mut out = AlertBacktest {
        labels,
        intervals: Vec::new(),
        pending_evals: 0,
        pending_episodes: 0,
    };
    let mut st = St::Inactive;
    let mut last_firing = 0i64;
    let n = w.evals();
    // Handles the evaluations `from..to` (indices) that did not return the alert.
    let missing =
        |st: &mut St, last_firing: &mut i64, from: usize, to: usize, out: &mut AlertBacktest| {
            if from >= to {
                return;
            }
            match *st {
                St::Inactive => {}
                St::Pending { .. } => {
                    out.pending_episodes += 1;
                    *st = St::Inactive;
                }
                St::Firing {
                    active_at,
                    fired_at,
                } => {
                    // Kept firing while t - since < keep_firing_for, since = first missing eval.
                    let since = w.at(from);
                    let kept = if rule.keep_firing_for_ms > 0 {
                        // Evaluations from..from+k are kept, k = ceil(keep / step).
                        let k = (rule.keep_firing_for_ms + w.step_ms - 1) / w.step_ms;
                        (k as usize).min(to - from)
                    } else {
                        0
                    };
                    if kept > 0 {
                        *last_firing = w.at(from + kept - 1);
                        debug_assert!(*last_firing - since < rule.keep_firing_for_ms);
                    }
                    if from + kept < to {
                        out.intervals.push(FiringInterval {
                            active_at,
                            fired_at,
                            last_firing_at: *last_firing,
                            resolved_at: Some(w.at(from + kept)),
                        });
                        *st = St::Inactive;
                    }
                }
            }
        };
    let mut next = 0usize;
    for &(i, _) in tl {
        missing(&mut st, &mut last_firing, next, i, &mut out);
        let t = w.at(i);
        if let St::Inactive = st {
            st = St::Pending { active_at: t };
        }
        if let St::Pending { active_at } = st {
            if t - active_at >= rule.for_ms {
                st = St::Firing {
                    active_at,
                    fired_at: t,
                };
            } else {
                out.pending_evals += 1;
            }
        }
        if let St::Firing { .. } = st {
            last_firing = t;
        }
        next = i + 1;
    }
    missing(&mut st, &mut last_firing, next, n, &mut out);
    match st {
        St::Firing {
            active_at,
            fired_at,
        } => out.intervals.push(FiringInterval {
            active_at,
            fired_at,
            last_firing_at: last_firing,
            resolved_at: None,
        }),
        St::Pending { .. } => out.pending_episodes += 1,
        St::Inactive => {}
    }
    out
}

/// Finds alerting rule `name` in a rule file.
pub fn rule_from_file(path: &std::path::Path, name: &str) -> anyhow::Result<BacktestRule> {
    let f =
        super::parse_rule_file(path).map_err(|e| anyhow::anyhow!("{}", e.messages().join("; ")))?;
    let mut names = Vec::new();
    for g in &f.groups {
        for r in &g.rules {
            if let super::Rule::Alerting(a) = r {
                if a.alert == name {
                    let mut b = BacktestRule::from_alerting(a);
                    for (k, v) in &g.labels {
                        b.labels.entry(k.clone()).or_insert_with(|| v.clone());
                    }
                    return Ok(b);
                }
                names.push(a.alert.clone());
            }
        }
    }
    anyhow::bail!(
        "{}: no alerting rule {name:?} (alerting rules: {})",
        path.display(),
        if names.is_empty() {
            "none".to_string()
        } else {
            names.join(", ")
        }
    )
}

/// `promtui rules backtest`: opens the TSDB read-only, backtests, prints the report.
pub fn cli(
    storage: &crate::cli::StorageFlags,
    args: &crate::cli::BacktestArgs,
) -> anyhow::Result<std::process::ExitCode> {
    use anyhow::Context as _;
    let dur = |flag: &str, v: &str| {
        crate::model::time::parse_duration(v).with_context(|| format!("invalid {flag} {v:?}"))
    };
    let mut rule = match (&args.rule_file, &args.expr) {
        (Some(f), None) => {
            anyhow::ensure!(!args.alert.is_empty(), "--rule-file needs --alert NAME");
            rule_from_file(f, &args.alert)?
        }
        (None, Some(e)) => BacktestRule::parse(&args.alert, e, 0, 0)?,
        (Some(_), Some(_)) => anyhow::bail!("give either --expr or --rule-file, not both"),
        (None, None) => anyhow::bail!("give the rule's --expr (or --rule-file and --alert)"),
    };
    if let Some(f) = &args.for_duration {
        rule.for_ms = dur("--for", f)?;
    }
    if let Some(k) = &args.keep_firing_for {
        rule.keep_firing_for_ms = dur("--keep-firing-for", k)?;
    }
    let time = |flag: &str, v: &str| {
        crate::model::time::parse_time(v).with_context(|| format!("invalid {flag} {v:?}"))
    };
    let end = match &args.end {
        Some(e) => time("--end", e)?,
        None => crate::model::time::now_ms(),
    };
    let step = dur("--step", &args.step)?;
    let start = match &args.start {
        Some(s) => time("--start", s)?,
        None => end - dur("--range", &args.range)?,
    };
    let window = Window::new(start, end, step)?;
    let dir = storage.path()?;
    let db = crate::cmd::tsdb::open_db_for_tool(storage, &dir)?;
    // A week at 1m over thousands of series is far above the interactive default of
    // --query.max-samples; a one-shot tool may load it.
    let engine = Engine::new(crate::promql::engine::EngineOptions {
        max_samples: 2_000_000_000,
        ..Default::default()
    });
    let bt = backtest(&db, &engine, &rule, window)?;
    print!("{}", bt.render_text());
    eprintln!("({:.0} ms)", bt.elapsed_ms);
    Ok(std::process::ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::eval::{AlertState, AlertingState, Row, TemplateEnv};

    fn rule(for_ms: i64, keep_ms: i64) -> BacktestRule {
        BacktestRule::parse("A", "x > 1", for_ms, keep_ms).unwrap()
    }

    fn lab(i: usize) -> Labels {
        Labels::from_pairs(&[("__name__", "x"), ("i", &i.to_string())])
    }

    /// A deterministic pseudo-random presence pattern.
    fn lcg(seed: &mut u64) -> u64 {
        *seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        *seed >> 33
    }

    /// Drives the live engine's `AlertingState::eval` over the same data and checks that
    /// the firing set agrees at every evaluation.
    fn agree_with_live_engine(for_ms: i64, keep_ms: i64, seed: u64) {
        let w = Window::new(0, 300 * 60_000, 60_000).unwrap();
        let mut s = seed;
        let mut series: Vec<(Labels, Vec<(i64, f64)>)> = Vec::new();
        for i in 0..6 {
            let mut pts = Vec::new();
            let mut on = false;
            for e in 0..w.evals() {
                // Runs of presence and absence of random lengths.
                if lcg(&mut s).is_multiple_of(7) {
                    on = !on;
                }
                if on || lcg(&mut s).is_multiple_of(23) {
                    pts.push((w.at(e), 2.0));
                }
            }
            series.push((lab(i), pts));
        }
        let r = rule(for_ms, keep_ms);
        let bt = backtest_series(&r, w, series.clone()).unwrap();
        let ar: AlertingRule = {
            let yaml = format!(
                "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: x > 1\n    for: {}ms\n    keep_firing_for: {}ms\n",
                for_ms, keep_ms
            );
            let f = crate::rules::parse_rules(&yaml, "t.yml").unwrap();
            match &f.groups[0].rules[0] {
                crate::rules::Rule::Alerting(a) => a.clone(),
                _ => unreachable!(),
            }
        };
        let mut live = AlertingState::default();
        let ext = BTreeMap::new();
        let funcs = Default::default();
        let env = TemplateEnv {
            external_labels: &ext,
            external_url: "",
            funcs: &funcs,
        };
        for e in 0..w.evals() {
            let t = w.at(e);
            let rows: Vec<Row> = series
                .iter()
                .filter(|(_, p)| p.iter().any(|(pt, _)| *pt == t))
                .map(|(l, _)| (l.clone(), 2.0))
                .collect();
            live.eval(&ar, t, 0, 0, &env, &|_, _| Ok(rows.clone()))
                .unwrap();
            let mut want: Vec<String> = live
                .alerts()
                .iter()
                .filter(|a| a.state == AlertState::Firing)
                .map(|a| a.labels.get("i").cloned().unwrap_or_default())
                .collect();
            want.sort();
            let mut got: Vec<String> = bt
                .firing_at(t)
                .iter()
                .map(|l| l.get("i").unwrap_or_default().to_string())
                .collect();
            got.sort();
            assert_eq!(
                got, want,
                "at eval {e} (for {for_ms} keep {keep_ms} seed {seed})"
            );
        }
    }

    #[test]
    fn agrees_with_the_live_state_machine_at_every_evaluation() {
        for (f, k) in [
            (0, 0),
            (60_000, 0),
            (300_000, 0),
            (0, 120_000),
            (180_000, 90_000),
            (120_000, 600_000),
        ] {
            for seed in [1, 7, 42] {
                agree_with_live_engine(f, k, seed);
            }
        }
    }

    #[test]
    fn intervals_record_pending_firing_and_resolution() {
        let w = Window::new(0, 20 * 60_000, 60_000).unwrap();
        // Present at evals 2..=9, then 15..=20 (to the end).
        let pts: Vec<(i64, f64)> = (2..=9).chain(15..=20).map(|e| (w.at(e), 5.0)).collect();
        let bt = backtest_series(&rule(3 * 60_000, 0), w, vec![(lab(0), pts)]).unwrap();
        assert_eq!(bt.alerts.len(), 1);
        let a = &bt.alerts[0];
        assert_eq!(a.labels.get("alertname"), Some("A"));
        assert_eq!(a.labels.get("__name__"), None);
        assert_eq!(
            a.intervals,
            vec![
                FiringInterval {
                    active_at: 2 * 60_000,
                    fired_at: 5 * 60_000,
                    last_firing_at: 9 * 60_000,
                    resolved_at: Some(10 * 60_000),
                },
                FiringInterval {
                    active_at: 15 * 60_000,
                    fired_at: 18 * 60_000,
                    last_firing_at: 20 * 60_000,
                    resolved_at: None,
                }
            ]
        );
        assert_eq!(bt.firings(), 2);
        assert_eq!(bt.firing_ms(), 5 * 60_000 + 2 * 60_000);
        let text = bt.render_text();
        assert!(
            text.contains("2 firing episode(s) across 1 alert(s)"),
            "{text}"
        );
        assert!(text.contains("still firing at the end"), "{text}");
    }

    #[test]
    fn keep_firing_for_bridges_short_gaps() {
        let w = Window::new(0, 20 * 60_000, 60_000).unwrap();
        // Gap of two evaluations (6, 7) is bridged by keep_firing_for 3m.
        let pts: Vec<(i64, f64)> = (0..=5).chain(8..=10).map(|e| (w.at(e), 5.0)).collect();
        let bt = backtest_series(&rule(0, 3 * 60_000), w, vec![(lab(0), pts)]).unwrap();
        let iv = &bt.alerts[0].intervals;
        assert_eq!(iv.len(), 1);
        assert_eq!(iv[0].last_firing_at, 13 * 60_000);
        assert_eq!(iv[0].resolved_at, Some(14 * 60_000));
    }

    #[test]
    fn duplicate_label_sets_after_rule_labels_are_an_error() {
        let w = Window::new(0, 60_000, 60_000).unwrap();
        let a = Labels::from_pairs(&[("__name__", "x"), ("i", "1")]);
        let b = Labels::from_pairs(&[("__name__", "y"), ("i", "1")]);
        let e = backtest_series(
            &rule(0, 0),
            w,
            vec![(a, vec![(0, 1.0)]), (b, vec![(0, 1.0)])],
        )
        .unwrap_err();
        assert!(matches!(e, BacktestError::Duplicate { .. }), "{e}");
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        assert!(BacktestRule::parse("A", "x >", 0, 0).is_err());
        assert!(Window::new(10, 0, 1).is_err());
        assert!(Window::new(0, 10, 0).is_err());
    }
}
