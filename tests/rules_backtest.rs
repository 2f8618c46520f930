//! Backtesting an alerting rule over a backfilled history agrees with the two references
//! for "when does this rule fire on this data":
//!
//! - `promtool test rules` (Debian's 2.42, when installed) and `promtui test rules`: the
//!   same series become `input_series`, and an `alert_rule_test` at every evaluation
//!   expects exactly the alerts the backtest says are firing then; both must pass;
//! - the live engine: the rule manager's group evaluated at every step over the same data
//!   (its in-memory alert states and the `ALERTS` series it writes).
//!
//! The history is backfilled with `promtui tsdb import openmetrics` and backtested with
//! `promtui rules backtest` (its printed intervals are checked too).

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use common::*;
use promtui::model::Labels;
use promtui::rules::backtest::{backtest, BacktestRule, Window};
use promtui::storage::{Appender as _, Queryable};

const STEPS: usize = 180;
const MIN: i64 = 60_000;

const RULES: &str = "groups:
- name: bt
  interval: 1m
  rules:
  - alert: HighLoad
    expr: load > 1
    for: 3m
    keep_firing_for: 2m
    labels:
      severity: page
  - alert: AnyLoad
    expr: load > 1.5
";

/// Deterministic load curves per instance: runs above and below the thresholds of
/// random lengths (1..8 minutes), so `for` and `keep_firing_for` boundaries are hit.
fn curves() -> Vec<(String, Vec<f64>)> {
    let mut seed: u64 = 0x5eed;
    let mut next = move || {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        seed >> 33
    };
    let mut out = Vec::new();
    for inst in ["a", "b", "c", "d"] {
        let mut v = Vec::new();
        let mut high = false;
        while v.len() <= STEPS {
            let run = 1 + (next() % 8) as usize;
            for _ in 0..run {
                // High runs straddle AnyLoad's 1.5 threshold.
                let r = next();
                v.push(if high {
                    1.25 + (r % 4) as f64 * 0.25
                } else {
                    0.25 + (r % 3) as f64 * 0.25
                });
            }
            high = !high;
        }
        v.truncate(STEPS + 1);
        if inst == "d" {
            v.iter_mut().for_each(|x| *x = 0.25);
        }
        out.push((inst.to_string(), v));
    }
    out
}

fn rule(name: &str) -> BacktestRule {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("r.yml");
    std::fs::write(&f, RULES).unwrap();
    promtui::rules::backtest::rule_from_file(&f, name).unwrap()
}

/// The firing alerts' `instance` values at each step.
type Firing = Vec<BTreeSet<String>>;

fn firing_of(bt: &promtui::rules::backtest::Backtest, t0: i64) -> Firing {
    (0..=STEPS)
        .map(|i| {
            bt.firing_at(t0 + i as i64 * MIN)
                .iter()
                .map(|l| l.get("instance").unwrap_or_default().to_string())
                .collect()
        })
        .collect()
}

/// A start time two days ago on a 2h boundary (inside the default retention).
fn t0() -> i64 {
    let now = promtui::model::time::now_ms();
    (now - 2 * 86_400_000) / 7_200_000 * 7_200_000
}

/// Backfills the curves with `promtui tsdb import openmetrics` into `data`.
fn backfill(dir: &Path, data: &Path, t0: i64) {
    let mut om = String::from("# TYPE load gauge\n");
    for (inst, v) in curves() {
        for (i, x) in v.iter().enumerate() {
            om.push_str(&format!(
                "load{{instance=\"{inst}\"}} {x} {}\n",
                (t0 + i as i64 * MIN) / 1000
            ));
        }
    }
    om.push_str("# EOF\n");
    let f = dir.join("load.om");
    std::fs::write(&f, om).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_promtui"))
        .arg(format!("--storage.tsdb.path={}", data.display()))
        .args(["tsdb", "import", "openmetrics"])
        .arg(&f)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "import failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A promtool unit-test file expecting, at every evaluation, the alerts in `firing`.
fn unit_test_file(name: &str, firing: &Firing, severity: Option<&str>) -> String {
    let mut s = String::from(
        "rule_files: [r.yml]\nevaluation_interval: 1m\ntests:\n- interval: 1m\n  input_series:\n",
    );
    for (inst, v) in curves() {
        let vals: Vec<String> = v.iter().map(|x| x.to_string()).collect();
        s.push_str(&format!(
            "  - series: 'load{{instance=\"{inst}\"}}'\n    values: '{}'\n",
            vals.join(" ")
        ));
    }
    s.push_str("  alert_rule_test:\n");
    for (i, set) in firing.iter().enumerate() {
        s.push_str(&format!(
            "  - eval_time: {i}m\n    alertname: {name}\n    exp_alerts:"
        ));
        if set.is_empty() {
            s.push_str(" []\n");
            continue;
        }
        s.push('\n');
        for inst in set {
            s.push_str(&format!("    - exp_labels:\n        instance: {inst}\n"));
            if let Some(sev) = severity {
                s.push_str(&format!("        severity: {sev}\n"));
            }
        }
    }
    s
}

fn run_test_rules(bin: &str, dir: &Path) -> (bool, String) {
    let out = Command::new(bin)
        .args(["test", "rules", "t.yml"])
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("running {bin}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success() && text.contains("SUCCESS"), text)
}

#[test]
fn backtest_matches_promtool_test_rules_and_the_live_engine() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let t0 = t0();
    backfill(dir.path(), &data, t0);
    std::fs::write(dir.path().join("r.yml"), RULES).unwrap();

    let db = promtui::tsdb::Db::open_read_only(&data, Default::default()).unwrap();
    let engine = promtui::promql::engine::Engine::new(Default::default());
    let window = Window::new(t0, t0 + STEPS as i64 * MIN, MIN).unwrap();
    for (name, sev) in [("HighLoad", Some("page")), ("AnyLoad", None)] {
        let bt = backtest(&db, &engine, &rule(name), window).unwrap();
        let firing = firing_of(&bt, t0);
        // The data does make the rule fire, resolve, and stay quiet for instance d.
        assert!(bt.firings() >= 3, "{name}: {}", bt.render_text());
        assert!(firing.iter().any(|s| s.is_empty()), "{name}: never quiet");
        assert!(firing.iter().all(|s| !s.contains("d")));

        // promtui's own `test rules` runner agrees at every evaluation...
        std::fs::write(dir.path().join("t.yml"), unit_test_file(name, &firing, sev)).unwrap();
        let (ok, out) = run_test_rules(env!("CARGO_BIN_EXE_promtui"), dir.path());
        assert!(
            ok,
            "{name}: promtui test rules disagrees with the backtest:\n{out}"
        );
        // ...and so does promtool.
        if peer_available(PROMTOOL) {
            let (ok, out) = run_test_rules(PROMTOOL, dir.path());
            assert!(
                ok,
                "{name}: promtool test rules disagrees with the backtest:\n{out}"
            );
        }
    }

    // The live engine: the rule manager's group over the same samples, appended to a
    // writable TSDB, evaluated at every step.
    let live_dir = tempfile::tempdir().unwrap();
    let live = promtui::tsdb::Db::open(
        live_dir.path(),
        promtui::tsdb::Options {
            block_duration_ms: 1 << 50,
            retention_time_ms: None,
            ..Default::default()
        },
    )
    .unwrap();
    let mut app = live.appender();
    for (inst, v) in curves() {
        let l = Labels::from_pairs(&[("__name__", "load"), ("instance", inst.as_str())]);
        for (i, x) in v.iter().enumerate() {
            app.append(&l, t0 + i as i64 * MIN, *x).unwrap();
        }
    }
    app.commit().unwrap();
    let file = promtui::rules::parse_rules(RULES, "r.yml").unwrap();
    let mut group =
        promtui::rules::manager::GroupState::new(&file.groups[0], "r.yml".into(), MIN, 0);
    let ext = Default::default();
    // The rules have no templates: no template functions are needed.
    let funcs = Default::default();
    let env = promtui::rules::eval::TemplateEnv {
        external_labels: &ext,
        external_url: "",
        funcs: &funcs,
    };
    let bts: Vec<Firing> = ["HighLoad", "AnyLoad"]
        .iter()
        .map(|n| firing_of(&backtest(&db, &engine, &rule(n), window).unwrap(), t0))
        .collect();
    for i in 0..=STEPS {
        let t = t0 + i as i64 * MIN;
        group.eval(t, &live, &engine, &env);
        for (k, want) in bts.iter().enumerate() {
            let got: BTreeSet<String> = group.rules[k]
                .alerts
                .alerts()
                .iter()
                .filter(|a| a.state == promtui::rules::eval::AlertState::Firing)
                .map(|a| a.labels["instance"].clone())
                .collect();
            assert_eq!(
                got, want[i],
                "rule {k} at step {i}: live engine vs backtest"
            );
        }
    }
    // The ALERTS series the live engine wrote say the same.
    for (name, want) in ["HighLoad", "AnyLoad"].iter().zip(&bts) {
        let expr = promtui::promql::parse_expr(&format!(
            "ALERTS{{alertname=\"{name}\",alertstate=\"firing\"}}"
        ))
        .unwrap();
        for (i, want) in want.iter().enumerate() {
            let t = t0 + i as i64 * MIN;
            let r = engine
                .instant_query(&live as &dyn Queryable, &expr, t)
                .unwrap();
            let got: BTreeSet<String> = match r.value {
                promtui::promql::engine::Value::Vector(v) => v
                    .iter()
                    .map(|s| s.metric.get("instance").unwrap_or_default().to_string())
                    .collect(),
                _ => BTreeSet::new(),
            };
            // ALERTS is written at evaluation times only; lookback fills the gap to the
            // next one, so compare at the evaluations themselves.
            assert_eq!(&got, want, "{name} ALERTS at step {i}");
        }
    }
}

#[test]
fn the_cli_prints_the_firing_intervals() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let t0 = t0();
    backfill(dir.path(), &data, t0);
    let out = Command::new(env!("CARGO_BIN_EXE_promtui"))
        .arg(format!("--storage.tsdb.path={}", data.display()))
        .args([
            "rules",
            "backtest",
            "--expr",
            "load > 1",
            "--alert",
            "HighLoad",
            "--for",
            "3m",
            "--keep-firing-for",
            "2m",
            "--step",
            "1m",
        ])
        .arg(format!("--start={}", t0 / 1000))
        .arg(format!("--end={}", (t0 + STEPS as i64 * MIN) / 1000))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let db = promtui::tsdb::Db::open_read_only(&data, Default::default()).unwrap();
    let engine = promtui::promql::engine::Engine::new(Default::default());
    let window = Window::new(t0, t0 + STEPS as i64 * MIN, MIN).unwrap();
    let mut r = BacktestRule::parse("HighLoad", "load > 1", 3 * MIN, 2 * MIN).unwrap();
    r.labels.clear();
    let bt = backtest(&db, &engine, &r, window).unwrap();
    assert!(
        text.contains(&format!("{} firing episode(s)", bt.firings())),
        "{text}"
    );
    assert!(text.contains("(181 evaluations)"), "{text}");
    let first = bt
        .alerts
        .iter()
        .flat_map(|a| a.intervals.iter())
        .next()
        .unwrap();
    assert!(
        text.contains(&promtui::model::time::format_rfc3339(first.fired_at)),
        "{text}"
    );

    // Bad input: a clear error, not a panic.
    let bad = Command::new(env!("CARGO_BIN_EXE_promtui"))
        .arg(format!("--storage.tsdb.path={}", data.display()))
        .args(["rules", "backtest", "--expr", "load >", "--step", "1m"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("expression \"load >\""), "{err}");
}
