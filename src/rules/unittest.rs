//! `promtui test rules FILE...`: promtool's rule unit tests (`promtool test rules`).
//!
//! A test file names rule files (relative to itself, globs allowed), an
//! `evaluation_interval` (default 1m) and test groups. Each group loads its
//! `input_series` (promqltest's expanding notation, one value every `interval`, which
//! defaults to the evaluation interval, as upstream's documentation says; promtool 2.42
//! instead loads every sample of such a group at time 0) into a fresh TSDB in a temporary directory, then
//! evaluates every rule group (in `group_eval_order` when given) at each evaluation
//! interval from 0 up to the largest `eval_time` of the group, loading input samples up to
//! that time first, as promtool's lazy loader does. `alert_rule_test` cases compare the
//! FIRING alerts of the named rule with the evaluation at or just before `eval_time`;
//! `promql_expr_test` cases query the result afterwards. Every case runs; failures print
//! promtool's exp/got blocks on stderr and the exit code is 1.
//!
//! Native histograms are not modelled: a case that expects a histogram sample, or whose
//! expression (or, for alert cases, whose rules) select a series loaded with histogram
//! values, is reported as skipped with the reason, never as passed or failed.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use serde::Deserialize;

use crate::config::units::Duration;
use crate::model::labels::push_go_label_pairs;
use crate::model::quote::go_quote;
use crate::model::value::format_go_upper_e;
use crate::model::{Labels, Matcher};
use crate::promql::ast::Expr;
use crate::promql::engine::{Engine, Value};
use crate::promql::promqltest::{parse_labels, parse_series, same_value, selectors, SeqValue};
use crate::storage::{Appender, Queryable};
use crate::tsdb::Db;

use super::eval::{AlertState, TemplateEnv};
use super::file::{parse_rule_file, Rule};
use super::manager::GroupState;

/// Why a test file could not be run at all.
#[derive(Debug, thiserror::Error)]
pub enum UnitTestError {
    #[error("{path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Yaml {
        path: PathBuf,
        source: serde_yaml::Error,
    },
    #[error("{path}: bad rule_files pattern {pattern:?}: {reason}")]
    Glob {
        path: PathBuf,
        pattern: String,
        reason: String,
    },
    #[error("group name repeated in evaluation order: {0}")]
    RepeatedGroup(String),
}

/// A unit-test file (promtool's `unitTestFile`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TestFile {
    #[serde(default)]
    rule_files: Vec<String>,
    #[serde(default)]
    evaluation_interval: Duration,
    #[serde(default)]
    group_eval_order: Vec<String>,
    #[serde(default)]
    tests: Vec<TestGroup>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TestGroup {
    #[serde(default)]
    interval: Duration,
    #[serde(default)]
    input_series: Vec<InputSeries>,
    #[serde(default)]
    alert_rule_test: Vec<AlertTest>,
    #[serde(default)]
    promql_expr_test: Vec<ExprTest>,
    #[serde(default)]
    external_labels: BTreeMap<String, String>,
    #[serde(default)]
    external_url: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    fuzzy_compare: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct InputSeries {
    series: String,
    /// The scalar's text as written: a bare `values: 0x10` is the notation, not hex 16.
    #[serde(default)]
    values: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AlertTest {
    #[serde(default)]
    eval_time: Duration,
    #[serde(default)]
    alertname: String,
    #[serde(default)]
    exp_alerts: Vec<ExpAlert>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpAlert {
    #[serde(default)]
    exp_labels: BTreeMap<String, String>,
    #[serde(default)]
    exp_annotations: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExprTest {
    expr: String,
    #[serde(default)]
    eval_time: Duration,
    #[serde(default)]
    exp_samples: Vec<ExpSample>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpSample {
    #[serde(default)]
    labels: String,
    #[serde(default)]
    value: f64,
    #[serde(default)]
    histogram: Option<String>,
}

/// What running one test file found.
#[derive(Debug, Default)]
pub struct FileReport {
    /// Warnings printed to stderr before the result (rule file patterns matching nothing).
    pub warnings: Vec<String>,
    /// promtool's error blocks, in order.
    pub errors: Vec<String>,
    /// One line per skipped case, with the reason.
    pub skipped: Vec<String>,
}

impl FileReport {
    pub fn passed(&self) -> bool {
        self.errors.is_empty()
    }
}

/// `promtui test rules FILE...`: promtool's output and exit code (0 when every file
/// passes, 1 otherwise).
///
/// Test groups are independent (each evaluates over its own temporary TSDB), so they run
/// on one worker thread per core; each file's output is printed, in the order the files
/// were given, as soon as all its groups are done, exactly as a sequential run prints it.
pub fn test_rules_command(files: &[PathBuf]) -> ExitCode {
    // Rule evaluation errors are part of the report; the manager's log lines about them
    // would only repeat them (promtool prints none).
    let quiet = || tracing::subscriber::NoSubscriber::default();
    let prepared: Vec<Result<PreparedFile, UnitTestError>> = files
        .iter()
        .map(|f| tracing::subscriber::with_default(quiet(), || prepare_file(f)))
        .collect();
    // Every test group of every file, in order: (file, group).
    let work: Vec<(usize, usize)> = prepared
        .iter()
        .enumerate()
        .filter_map(|(fi, p)| p.as_ref().ok().map(|p| (fi, p.file.tests.len())))
        .flat_map(|(fi, n)| (0..n).map(move |gi| (fi, gi)))
        .collect();
    let results: Vec<std::sync::Mutex<Option<FileReport>>> =
        work.iter().map(|_| std::sync::Mutex::new(None)).collect();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let done = (std::sync::Mutex::new(0usize), std::sync::Condvar::new());
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(work.len())
        .max(1);
    let mut failed = false;
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                tracing::subscriber::with_default(quiet(), || loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(&(fi, gi)) = work.get(i) else { break };
                    let mut report = FileReport::default();
                    if let Ok(p) = &prepared[fi] {
                        p.run_group(gi, &mut report);
                    }
                    if let Ok(mut slot) = results[i].lock() {
                        *slot = Some(report);
                    }
                    if let Ok(mut n) = done.0.lock() {
                        *n += 1;
                    }
                    done.1.notify_all();
                });
            });
        }
        // Print each file once its groups are in, in order.
        let mut item = 0;
        for (fi, f) in files.iter().enumerate() {
            let report = match &prepared[fi] {
                Err(e) => FileReport {
                    errors: vec![e.to_string()],
                    ..FileReport::default()
                },
                Ok(p) => {
                    let n = p.file.tests.len();
                    let mut report = FileReport {
                        warnings: p.warnings.clone(),
                        ..FileReport::default()
                    };
                    for slot in &results[item..item + n] {
                        let mut guard = done.0.lock().unwrap_or_else(|e| e.into_inner());
                        loop {
                            let ready = slot.lock().map(|s| s.is_some()).unwrap_or(true);
                            if ready {
                                break;
                            }
                            guard = done.1.wait(guard).unwrap_or_else(|e| e.into_inner());
                        }
                        drop(guard);
                        if let Some(r) = slot.lock().ok().and_then(|mut s| s.take()) {
                            report.errors.extend(r.errors);
                            report.skipped.extend(r.skipped);
                        }
                    }
                    item += n;
                    report
                }
            };
            failed |= !print_report(f, &report);
        }
    });
    if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// Prints one file's result as promtool does; whether it passed.
fn print_report(f: &Path, report: &FileReport) -> bool {
    let stdout = std::io::stdout();
    let stderr = std::io::stderr();
    let _ = writeln!(stdout.lock(), "Unit Testing:  {}", f.display());
    for w in &report.warnings {
        let _ = writeln!(stderr.lock(), "{w}");
    }
    for s in &report.skipped {
        let _ = writeln!(stdout.lock(), "  SKIPPED: {s}");
    }
    let passed = report.passed();
    if passed {
        let _ = writeln!(stdout.lock(), "  SUCCESS");
    } else {
        let _ = writeln!(stderr.lock(), "  FAILED:");
        for e in &report.errors {
            let _ = writeln!(stderr.lock(), "{e}");
            let _ = writeln!(stdout.lock());
        }
    }
    let _ = writeln!(stdout.lock());
    passed
}

/// A parsed test file, ready to run its groups.
struct PreparedFile {
    file: TestFile,
    /// The rule files, parsed once for all groups (or the first one's error).
    rules: RuleFiles,
    order: BTreeMap<String, usize>,
    eval_interval: i64,
    /// promtool's warnings (a rule file pattern matching nothing), printed before the
    /// result.
    warnings: Vec<String>,
}

impl PreparedFile {
    fn run_group(&self, i: usize, report: &mut FileReport) {
        run_group(
            &self.file.tests[i],
            i,
            self.eval_interval,
            &self.order,
            &self.rules,
            report,
        );
    }
}

/// Runs every test group of one test file, in order.
pub fn run_file(path: &Path) -> Result<FileReport, UnitTestError> {
    let p = prepare_file(path)?;
    let mut report = FileReport {
        warnings: p.warnings.clone(),
        ..FileReport::default()
    };
    for i in 0..p.file.tests.len() {
        p.run_group(i, &mut report);
    }
    Ok(report)
}

/// Reads and checks a test file and finds its rule files.
fn prepare_file(path: &Path) -> Result<PreparedFile, UnitTestError> {
    let text = std::fs::read_to_string(path).map_err(|source| UnitTestError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let file: TestFile = serde_yaml::from_str(&text).map_err(|source| UnitTestError::Yaml {
        path: path.to_path_buf(),
        source,
    })?;
    let base = path.parent().unwrap_or(Path::new(""));
    let mut rule_files = Vec::new();
    let mut warnings = Vec::new();
    for pattern in &file.rule_files {
        let full = base.join(pattern);
        let glob_err = |reason: String| UnitTestError::Glob {
            path: path.to_path_buf(),
            pattern: pattern.clone(),
            reason,
        };
        let full_str = full.to_string_lossy().into_owned();
        let matches = glob::glob(&full_str).map_err(|e| glob_err(e.to_string()))?;
        let mut found = Vec::new();
        for m in matches {
            found.push(m.map_err(|e| glob_err(e.to_string()))?);
        }
        if found.is_empty() {
            // promtool warns and runs the tests without it.
            warnings.push(format!("  WARNING: no file match pattern {full_str}"));
        }
        rule_files.extend(found);
    }
    let mut order = BTreeMap::new();
    for (i, g) in file.group_eval_order.iter().enumerate() {
        if order.insert(g.clone(), i).is_some() {
            return Err(UnitTestError::RepeatedGroup(g.clone()));
        }
    }
    let eval_interval = if file.evaluation_interval.0 > 0 {
        file.evaluation_interval.0
    } else {
        60_000
    };
    let rules = rule_files
        .iter()
        .map(|p| Ok((p.clone(), parse_rule_file(p).map_err(|e| e.to_string())?)))
        .collect();
    Ok(PreparedFile {
        file,
        rules,
        order,
        eval_interval,
        warnings,
    })
}

/// Parsed rule files, or the first one's error.
type RuleFiles = Result<Vec<(PathBuf, super::file::RuleFile)>, String>;

/// Builds the rule groups of `rule_files`, group labels applied to their rules, ordered by
/// `order` (groups it does not name first, in file order, as upstream's index 0).
fn load_groups(
    rule_files: &RuleFiles,
    order: &BTreeMap<String, usize>,
) -> Result<Vec<GroupState>, String> {
    let mut groups = Vec::new();
    for (path, file) in rule_files.as_ref().map_err(Clone::clone)? {
        for g in &file.groups {
            // promtool 2.42 evaluates at the step times themselves: no query offset.
            groups.push(GroupState::new(g, path.clone(), 60_000, 0));
        }
    }
    groups.sort_by_key(|g| order.get(&g.name).copied().unwrap_or(0));
    Ok(groups)
}

/// One input series: its labels and timed float samples (histograms left out).
struct Input {
    labels: Labels,
    samples: Vec<(i64, f64)>,
    next: usize,
    histogram: bool,
}

fn parse_inputs(tg: &TestGroup, interval: i64) -> Result<Vec<Input>, String> {
    let mut out = Vec::new();
    for s in &tg.input_series {
        let values = s.values.clone().unwrap_or_default();
        let line = format!("{} {}", s.series, values);
        let (labels, vals) = parse_series(0, &line).map_err(|e| {
            format!(
                "series {:?}: {}",
                s.series,
                e.reason.trim_start_matches("line 0: ")
            )
        })?;
        let histogram = vals.contains(&SeqValue::Histogram);
        let samples = vals
            .iter()
            .enumerate()
            .filter_map(|(i, v)| match v {
                SeqValue::Float(f) => Some((i as i64 * interval, *f)),
                _ => None,
            })
            .collect();
        out.push(Input {
            labels,
            samples,
            next: 0,
            histogram,
        });
    }
    Ok(out)
}

/// True when `expr` selects one of `hist` (series loaded with histogram values).
fn selects_any(expr: &Expr, hist: &[&Labels]) -> bool {
    let mut sels: Vec<&[Matcher]> = Vec::new();
    selectors(expr, &mut sels);
    sels.iter().any(|ms| {
        hist.iter()
            .any(|l| ms.iter().all(|m| m.matches(l.get(&m.name).unwrap_or(""))))
    })
}

fn case_name(tg: &TestGroup, i: usize) -> String {
    if tg.name.is_empty() {
        format!("test group #{}", i + 1)
    } else {
        format!("test group {:?}", tg.name)
    }
}

/// Runs one test group, adding its failures and skipped cases to `report`.
fn run_group(
    tg: &TestGroup,
    index: usize,
    eval_interval: i64,
    order: &BTreeMap<String, usize>,
    rule_files: &RuleFiles,
    report: &mut FileReport,
) {
    let interval = if tg.interval.0 > 0 {
        tg.interval.0
    } else {
        eval_interval
    };
    let mut groups = match load_groups(rule_files, order) {
        Ok(g) => g,
        Err(e) => {
            report.errors.push(e);
            return;
        }
    };
    let mut inputs = match parse_inputs(tg, interval) {
        Ok(i) => i,
        Err(e) => {
            report.errors.push(format!("    {e}"));
            return;
        }
    };
    let skipped_before = report.skipped.len();
    let (alert_tests, expr_tests) = select_cases(tg, index, &groups, &inputs, report);
    if alert_tests.is_empty() && expr_tests.is_empty() && report.skipped.len() > skipped_before {
        // Only skipped cases: nothing to evaluate.
        return;
    }
    if alert_tests.iter().any(|a| a.alertname.is_empty()) {
        report
            .errors
            .push("    alertname: is empty, an alert name is required".to_string());
        return;
    }
    let Some((_dir, db)) = open_test_db(report) else {
        return;
    };
    let engine_opts = crate::promql::engine::EngineOptions {
        default_eval_interval: std::time::Duration::from_millis(eval_interval as u64),
        ..Default::default()
    };
    let engine = Engine::new(engine_opts.clone());
    let max_t = alert_tests
        .iter()
        .map(|a| a.eval_time.0)
        .chain(expr_tests.iter().map(|(e, _)| e.eval_time.0))
        .max()
        .unwrap_or(0)
        .max(0);
    let run = GroupRun {
        tg,
        db: &db,
        engine: &engine,
        engine_opts: &engine_opts,
        eval_interval,
    };
    if !run.evaluate(max_t, &mut groups, &mut inputs, &alert_tests, report) {
        return;
    }
    for (e, parsed) in expr_tests {
        if let Some(msg) = check_expr(tg, e, parsed.as_ref(), &db, &engine) {
            report.errors.push(msg);
        }
    }
}

/// An expression case that runs, with its parse when the expression parses.
type ExprCase<'t> = (&'t ExprTest, Option<Expr>);

/// Why a case is skipped when its series or rules involve native histograms.
const HIST_REASON: &str = "needs native histograms, which promtui does not model yet";

/// The alert and expression cases of a test group that run (expressions with their parse,
/// if it parsed); the cases that need native histograms are added to `report.skipped`.
fn select_cases<'t>(
    tg: &'t TestGroup,
    index: usize,
    groups: &[GroupState],
    inputs: &[Input],
    report: &mut FileReport,
) -> (Vec<&'t AlertTest>, Vec<ExprCase<'t>>) {
    let hist: Vec<&Labels> = inputs
        .iter()
        .filter(|i| i.histogram)
        .map(|i| &i.labels)
        .collect();
    let rules_use_hist = !hist.is_empty()
        && groups.iter().any(|g| {
            g.rules.iter().any(|r| {
                let e = match &r.rule {
                    Rule::Recording(x) => &x.expr,
                    Rule::Alerting(x) => &x.expr,
                };
                selects_any(e, &hist)
            })
        });
    let mut alert_tests: Vec<&AlertTest> = Vec::new();
    for a in &tg.alert_rule_test {
        if rules_use_hist {
            report.skipped.push(format!(
                "{}, alertname: {}, time: {}: {HIST_REASON}",
                case_name(tg, index),
                a.alertname,
                crate::model::time::format_duration(a.eval_time.0)
            ));
        } else {
            alert_tests.push(a);
        }
    }
    let mut expr_tests: Vec<ExprCase<'t>> = Vec::new();
    for e in &tg.promql_expr_test {
        let parsed = crate::promql::parse_expr(&e.expr).ok();
        let uses_hist = e.exp_samples.iter().any(|s| s.histogram.is_some())
            || parsed.as_ref().is_some_and(|p| selects_any(p, &hist))
            || (rules_use_hist && !hist.is_empty());
        if uses_hist {
            report.skipped.push(format!(
                "{}, expr: {}, time: {}: {HIST_REASON}",
                case_name(tg, index),
                go_quote(&e.expr),
                crate::model::time::format_duration(e.eval_time.0)
            ));
        } else {
            expr_tests.push((e, parsed));
        }
    }
    (alert_tests, expr_tests)
}

/// A temporary TSDB for one test group, or `None` with the error in `report`.
fn open_test_db(report: &mut FileReport) -> Option<(TempDir, Db)> {
    let dir = match TempDir::new() {
        Ok(d) => d,
        Err(e) => {
            report
                .errors
                .push(format!("creating a temporary TSDB: {e}"));
            return None;
        }
    };
    // One head block covering every time a test can name (promtool's tests run up to
    // year 2262): no background compaction cuts blocks while the test runs or after the
    // directory is gone, and no retention drops the early samples.
    let db_opts = crate::tsdb::db::Options {
        block_duration_ms: 1 << 50,
        retention_time_ms: None,
        ..Default::default()
    };
    match Db::open(dir.path(), db_opts) {
        Ok(db) => Some((dir, db)),
        Err(e) => {
            report.errors.push(format!("opening a temporary TSDB: {e}"));
            None
        }
    }
}

/// What evaluating one test group's rules needs.
struct GroupRun<'a> {
    tg: &'a TestGroup,
    db: &'a Db,
    engine: &'a Engine,
    engine_opts: &'a crate::promql::engine::EngineOptions,
    eval_interval: i64,
}

impl GroupRun<'_> {
    /// Loads the input series and evaluates the rule groups every `eval_interval` from 0
    /// to `max_t`, checking the alert cases at their times. Returns false when the run
    /// stopped at an error (in `report`), as promtool stops the group there.
    fn evaluate(
        &self,
        max_t: i64,
        groups: &mut [GroupState],
        inputs: &mut [Input],
        alert_tests: &[&AlertTest],
        report: &mut FileReport,
    ) -> bool {
        let mut alert_times: Vec<i64> = alert_tests.iter().map(|a| a.eval_time.0).collect();
        alert_times.sort_unstable();
        alert_times.dedup();
        let mut curr = 0;
        let mut ts = 0i64;
        while ts <= max_t {
            if let Err(e) = load_until(self.db, inputs, ts) {
                report.errors.push(e);
                return false;
            }
            let eval_errs = self.eval_groups(groups, ts);
            if !eval_errs.is_empty() {
                report.errors.extend(eval_errs);
                return false;
            }
            while curr < alert_times.len()
                && ts <= alert_times[curr]
                && alert_times[curr] < ts + self.eval_interval
            {
                let t = alert_times[curr];
                for a in alert_tests.iter().filter(|a| a.eval_time.0 == t) {
                    if let Some(e) = check_alerts(self.tg, a, groups) {
                        report.errors.push(e);
                    }
                }
                curr += 1;
            }
            ts = match ts.checked_add(self.eval_interval) {
                Some(t) => t,
                None => break,
            };
        }
        true
    }

    /// Evaluates every group at `ts`; the rules' evaluation errors, as promtool prints
    /// them.
    fn eval_groups(&self, groups: &mut [GroupState], ts: i64) -> Vec<String> {
        let tg = self.tg;
        let funcs = super::manager::template_funcs(self.db, self.engine_opts, &tg.external_url, ts);
        let env = TemplateEnv {
            external_labels: &tg.external_labels,
            external_url: &tg.external_url,
            funcs: &funcs,
        };
        let mut eval_errs = Vec::new();
        for g in groups.iter_mut() {
            g.eval(ts, self.db, self.engine, &env);
            for r in &g.rules {
                if let Some(e) = &r.last_error {
                    eval_errs.push(format!(
                        "    rule: {}, time: {}, err: {}",
                        r.rule.name(),
                        go_duration(ts),
                        e
                    ));
                }
            }
        }
        eval_errs
    }
}

/// A directory under the system's temporary directory, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> std::io::Result<TempDir> {
        static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let p = std::env::temp_dir().join(format!(
            "promtui-unittest-{}-{n}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&p)?;
        Ok(TempDir(p))
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Appends every input sample at or before `ts` not appended yet.
fn load_until(db: &Db, inputs: &mut [Input], ts: i64) -> Result<(), String> {
    let mut app = db.appender();
    for i in inputs.iter_mut() {
        while i.next < i.samples.len() && i.samples[i.next].0 <= ts {
            let (t, v) = i.samples[i.next];
            app.append(&i.labels, t, v)
                .map_err(|e| format!("    loading series {}: {e}", i.labels))?;
            i.next += 1;
        }
    }
    app.commit()
        .map_err(|e| format!("    loading the input series: {e}"))
}

type LabelPairs = Vec<(String, String)>;

/// Compares the firing alerts of the rules named `a.alertname` with the expected ones.
fn check_alerts(tg: &TestGroup, a: &AlertTest, groups: &[GroupState]) -> Option<String> {
    let mut got: Vec<(LabelPairs, LabelPairs)> = Vec::new();
    for g in groups {
        for r in &g.rules {
            let Rule::Alerting(rule) = &r.rule else {
                continue;
            };
            if rule.alert != a.alertname {
                continue;
            }
            for al in r.alerts.active.values() {
                if al.state == AlertState::Firing {
                    got.push((pairs(&al.labels), pairs(&al.annotations)));
                }
            }
        }
    }
    let mut exp: Vec<(LabelPairs, LabelPairs)> = a
        .exp_alerts
        .iter()
        .map(|e| {
            let mut l = e.exp_labels.clone();
            l.insert("alertname".to_string(), a.alertname.clone());
            (pairs(&l), pairs(&e.exp_annotations))
        })
        .collect();
    got.sort();
    exp.sort();
    if got == exp {
        return None;
    }
    let name = if tg.name.is_empty() {
        String::new()
    } else {
        format!("    name: {},\n", tg.name)
    };
    Some(format!(
        "{name}    alertname: {}, time: {}, \n        exp:{}, \n        got:{}",
        a.alertname,
        crate::model::time::format_duration(a.eval_time.0),
        alerts_string(&exp),
        alerts_string(&got)
    ))
}

fn pairs(m: &BTreeMap<String, String>) -> LabelPairs {
    m.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

/// Go's `labels.Labels.String()` of label or annotation pairs: `{a="b", c="d"}`.
fn labels_string(l: &[(String, String)]) -> String {
    let mut s = String::new();
    push_go_label_pairs(&mut s, l.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    s
}

/// promtool's listing of alerts, indented as in its messages.
fn alerts_string(alerts: &[(LabelPairs, LabelPairs)]) -> String {
    if alerts.is_empty() {
        return "[]".to_string();
    }
    let one = |(l, a): &(LabelPairs, LabelPairs)| {
        indent(
            &format!(
                "\nLabels:{}\nAnnotations:{}",
                labels_string(l),
                labels_string(a)
            ),
            "  ",
        )
    };
    let mut s = format!("[\n0:{}", one(&alerts[0]));
    for (i, a) in alerts.iter().enumerate().skip(1) {
        s.push_str(&format!(",\n{i}:{}", one(a)));
    }
    s.push_str("\n]");
    indent(&s, "            ")
}

/// Prefixes every line after the first with `by`.
fn indent(s: &str, by: &str) -> String {
    s.replace('\n', &format!("\n{by}"))
}

/// Runs one `promql_expr_test` case; the failure message, if it fails.
fn check_expr(
    tg: &TestGroup,
    e: &ExprTest,
    parsed: Option<&Expr>,
    db: &Db,
    engine: &Engine,
) -> Option<String> {
    let head = format!(
        "    expr: {}, time: {}",
        go_quote(&e.expr),
        crate::model::time::format_duration(e.eval_time.0)
    );
    let expr = match parsed {
        Some(p) => p.clone(),
        None => match crate::promql::parse_expr(&e.expr) {
            Ok(p) => p,
            Err(err) => return Some(format!("{head}, err: {err}")),
        },
    };
    let res = match engine.instant_query(db as &dyn Queryable, &expr, e.eval_time.0) {
        Ok(r) => r,
        Err(err) => return Some(format!("{head}, err: {err}")),
    };
    let mut got: Vec<(LabelPairs, f64)> = match res.value {
        Value::Vector(v) => v
            .into_iter()
            .map(|s| {
                let l = s
                    .metric
                    .iter()
                    .map(|l| (l.name.to_string(), l.value.to_string()))
                    .collect();
                (l, s.f)
            })
            .collect(),
        Value::Scalar { v, .. } => vec![(Vec::new(), v)],
        _ => {
            return Some(format!(
                "{head}, err: rule result is not a vector or scalar"
            ))
        }
    };
    let mut exp: Vec<(LabelPairs, f64)> = Vec::new();
    for s in &e.exp_samples {
        let l = match parse_labels(0, s.labels.trim()) {
            Ok(l) => l,
            Err(err) => {
                return Some(format!(
                    "{head}, err: labels {}: {}",
                    go_quote(&s.labels),
                    err.reason
                ))
            }
        };
        let l = l
            .iter()
            .map(|l| (l.name.to_string(), l.value.to_string()))
            .collect();
        exp.push((l, s.value));
    }
    got.sort_by(|a, b| a.0.cmp(&b.0));
    exp.sort_by(|a, b| a.0.cmp(&b.0));
    let equal = got.len() == exp.len()
        && got.iter().zip(&exp).all(|(g, x)| {
            g.0 == x.0
                && if tg.fuzzy_compare {
                    same_value(x.1, g.1)
                } else {
                    g.1 == x.1
                }
        });
    if equal {
        return None;
    }
    Some(format!(
        "{head},\n        exp: {}\n        got: {}",
        samples_string(&exp),
        samples_string(&got)
    ))
}

/// promtool's `parsedSamplesString`: `{labels} value, ...`, `nil` when empty.
fn samples_string(s: &[(LabelPairs, f64)]) -> String {
    if s.is_empty() {
        return "nil".to_string();
    }
    s.iter()
        .map(|(l, v)| format!("{} {}", labels_string(l), format_go_upper_e(*v)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Go's `time.Duration.String()` of milliseconds: `0s`, `1m0s`, `1h0m0s`, `1.5s`, `500ms`.
pub(crate) fn go_duration(ms: i64) -> String {
    if ms == 0 {
        return "0s".to_string();
    }
    let neg = ms < 0;
    let ms = ms.unsigned_abs();
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    if ms < 1000 {
        out.push_str(&format!("{ms}ms"));
        return out;
    }
    let h = ms / 3_600_000;
    let m = ms / 60_000 % 60;
    let s = ms / 1000 % 60;
    let frac = ms % 1000;
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if h > 0 || m > 0 {
        out.push_str(&format!("{m}m"));
    }
    out.push_str(&s.to_string());
    if frac > 0 {
        let f = format!("{frac:03}");
        out.push('.');
        out.push_str(f.trim_end_matches('0'));
    }
    out.push('s');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_print_as_go_formats_them() {
        assert_eq!(go_duration(0), "0s");
        assert_eq!(go_duration(60_000), "1m0s");
        assert_eq!(go_duration(86_400_000), "24h0m0s");
        assert_eq!(go_duration(1_500), "1.5s");
        assert_eq!(go_duration(250), "250ms");
    }

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn alerts_fire_after_for_and_failures_name_the_case() {
        let d = tempfile::tempdir().unwrap();
        write(
            d.path(),
            "r.yml",
            "groups:\n- name: g\n  rules:\n  - alert: Down\n    expr: up == 0\n    for: 2m\n    annotations:\n      s: '{{ $labels.job }} is {{ $value }}'\n  - record: up:x2\n    expr: up * 2\n",
        );
        let t = write(
            d.path(),
            "t.yml",
            "rule_files: [r.yml]\ntests:\n- interval: 1m\n  name: one\n  input_series:\n  - series: 'up{job=\"a\"}'\n    values: 0x5\n  alert_rule_test:\n  - eval_time: 1m\n    alertname: Down\n    exp_alerts: []\n  - eval_time: 2m\n    alertname: Down\n    exp_alerts:\n    - exp_labels: {job: a}\n      exp_annotations: {s: a is 0}\n  - eval_time: 3m\n    alertname: Down\n    exp_alerts: []\n  promql_expr_test:\n  - expr: up:x2\n    eval_time: 2m\n    exp_samples:\n    - labels: 'up:x2{job=\"a\"}'\n      value: 1\n",
        );
        let r = run_file(&t).unwrap();
        assert_eq!(r.errors.len(), 2, "{:?}", r.errors);
        assert!(r.errors[0].starts_with("    name: one,\n    alertname: Down, time: 3m, \n        exp:[], \n        got:[\n            0:\n              Labels:{alertname=\"Down\", job=\"a\"}\n              Annotations:{s=\"a is 0\"}\n            ]"), "{}", r.errors[0]);
        assert_eq!(
            r.errors[1],
            "    expr: \"up:x2\", time: 2m,\n        exp: {__name__=\"up:x2\", job=\"a\"} 1E+00\n        got: {__name__=\"up:x2\", job=\"a\"} 0E+00"
        );
    }

    #[test]
    fn histogram_cases_are_skipped_not_passed() {
        let d = tempfile::tempdir().unwrap();
        let t = write(
            d.path(),
            "t.yml",
            "tests:\n- input_series:\n  - series: h\n    values: '{{sum:1 count:1 buckets:[1]}}'\n  - series: f\n    values: '1'\n  promql_expr_test:\n  - expr: h\n    eval_time: 0\n    exp_samples:\n    - labels: h\n      histogram: '{{sum:1 count:1 buckets:[1]}}'\n  - expr: f\n    eval_time: 0\n    exp_samples:\n    - labels: f\n      value: 1\n",
        );
        let r = run_file(&t).unwrap();
        assert!(r.passed(), "{:?}", r.errors);
        assert_eq!(r.skipped.len(), 1, "{:?}", r.skipped);
        assert!(r.skipped[0].contains("native histograms"));
    }

    #[test]
    fn a_bad_test_file_says_where() {
        let d = tempfile::tempdir().unwrap();
        let t = write(d.path(), "t.yml", "tests:\n- nope: 1\n");
        let e = run_file(&t).unwrap_err().to_string();
        assert!(e.contains("t.yml") && e.contains("nope"), "{e}");
    }
}
