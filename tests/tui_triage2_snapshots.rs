//! Snapshot tests of the Rules, Pushgateway, Backtest and rule test runner views on
//! deterministic state, rendered into ratatui's TestBackend at 80x24 and 200x60 in two
//! themes (the same golden-file format as tests/tui_snapshots.rs: screen text, then a
//! style map). The rule file and unit-test file are tests/data/triage2/; the test runner
//! really runs the (failing) unit test. `PROMTUI_UPDATE_SNAPSHOTS=1` rewrites them.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use common::snapshot::{check, runtime, snapshot, SIZES, THEMES};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use promtui::model::Labels;
use promtui::rules::backtest::{backtest_series, BacktestRule, Window};
use promtui::tui::app::{buffer_text, render_to_buffer, App, AppOptions};
use promtui::tui::backend::pushgateway::{PushFamily, PushGroup};
use promtui::tui::backend::rules::{AlertRow, GroupRow, LineCache, RuleRow};
use promtui::tui::backend::Backend;
use promtui::tui::console::source::{QueryAnswer, QueryData, SeriesData};
use promtui::tui::fixture::{self, StillBackend, NOW_MS};
use promtui::tui::view::{Glyphs, View};
use promtui::tui::views::backtest::{BacktestHandoff, BacktestView};
use promtui::tui::views::pushgateway::PushgatewayView;
use promtui::tui::views::rules::RulesView;
use promtui::tui::views::ruletest::{run_test_file, RuleTestView};

const RULE_FILE: &str = "tests/data/triage2/rules.yml";

fn app_of(rt: &tokio::runtime::Runtime, theme: &str, view: Box<dyn View>) -> App {
    let backend: Arc<dyn Backend> = Arc::new(StillBackend);
    App::new(
        vec![view],
        &backend,
        fixture::feed(),
        rt.handle().clone(),
        AppOptions {
            palette: promtui::tui::theme::builtin(theme),
            glyphs: Glyphs::Braille,
            no_color: false,
            theme_dir: None,
        },
    )
}

fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
    p.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Rule groups as the manager would report them for tests/data/triage2/rules.yml.
fn groups() -> Vec<GroupRow> {
    let lines = LineCache::default().get(Path::new(RULE_FILE));
    let rule = |g: &str, i: usize, kind: &str, name: &str, expr: &str| RuleRow {
        kind: kind.into(),
        name: name.into(),
        expr: expr.into(),
        health: "ok".into(),
        last_error: String::new(),
        last_eval_ms: Some(NOW_MS - 12_000),
        eval_seconds: 0.0008,
        for_ms: 0,
        keep_firing_for_ms: 0,
        labels: Vec::new(),
        annotations: Vec::new(),
        alerts: Vec::new(),
        line: lines.find(g, i).1,
    };
    let mut down = rule("node", 0, "alerting", "InstanceDown", "up == 0");
    down.for_ms = 300_000;
    down.labels = pairs(&[("severity", "page")]);
    down.annotations = pairs(&[("runbook_url", "https://runbooks.example/instance-down")]);
    down.alerts = vec![
        AlertRow {
            labels: pairs(&[
                ("alertname", "InstanceDown"),
                ("instance", "10.0.0.7:9100"),
                ("job", "node"),
                ("severity", "page"),
            ]),
            state: "firing".into(),
            active_at_ms: Some(NOW_MS - 1_260_000),
            value: 0.0,
        },
        AlertRow {
            labels: pairs(&[
                ("alertname", "InstanceDown"),
                ("instance", "10.0.0.9:9100"),
                ("job", "node"),
                ("severity", "page"),
            ]),
            state: "pending".into(),
            active_at_ms: Some(NOW_MS - 90_000),
            value: 0.0,
        },
    ];
    let mut load = rule("node", 1, "alerting", "HighLoad", "node_load1 > 4");
    load.for_ms = 600_000;
    let mut rec_err = rule(
        "recording",
        1,
        "recording",
        "job:load:max",
        "max by (job) (node_load1)",
    );
    rec_err.health = "err".into();
    rec_err.last_error =
        "vector contains metrics with the same labelset after applying rule labels".into();
    vec![
        GroupRow {
            name: "node".into(),
            file: RULE_FILE.into(),
            interval_ms: 30_000,
            last_eval_ms: Some(NOW_MS - 12_000),
            eval_seconds: 0.0021,
            rules: vec![down, load],
            line: lines.find("node", 0).0,
        },
        GroupRow {
            name: "recording".into(),
            file: RULE_FILE.into(),
            interval_ms: 60_000,
            last_eval_ms: Some(NOW_MS - 41_000),
            eval_seconds: 0.0012,
            rules: vec![
                rule(
                    "recording",
                    0,
                    "recording",
                    "job:up:sum",
                    "sum by (job) (up)",
                ),
                rec_err,
            ],
            line: lines.find("recording", 0).0,
        },
    ]
}

fn rules_view() -> RulesView {
    let mut v = RulesView::new(None, Arc::new(StillBackend), BacktestHandoff::default());
    v.set_groups(groups(), NOW_MS);
    v
}

fn each(name: &str, make: impl Fn() -> Box<dyn View>) -> Vec<String> {
    let rt = runtime();
    let mut shots = Vec::new();
    for theme in THEMES {
        for (w, h) in SIZES {
            let mut app = app_of(&rt, theme, make());
            let s = snapshot(&mut app, w, h);
            check(&format!("triage2_{name}_{theme}_{w}x{h}"), &s);
            shots.push(s);
        }
    }
    shots
}

#[test]
fn rules_view_lists_groups_rules_and_alerts() {
    let shots = each("rules", || Box::new(rules_view()));
    let big = &shots[1];
    assert!(big.contains("every 30s"), "{big}");
    assert!(big.contains("InstanceDown"), "{big}");
    assert!(big.contains("firing 1 +1p"), "{big}");
    assert!(big.contains("instance=\"10.0.0.7:9100\""), "{big}");
    assert!(big.contains("since 21m00s"), "{big}");
    assert!(big.contains("tests/data/triage2/rules.yml:2"), "{big}");
    assert!(big.contains("vector contains metrics"), "{big}");
}

#[test]
fn rules_view_shows_the_rule_in_its_file() {
    let shots = each("rules_file", || {
        let mut v = rules_view();
        v.open_rule("HighLoad");
        Box::new(v)
    });
    let big = &shots[1];
    // The HighLoad rule starts on line 13 of the file, marked.
    assert!(big.contains("rules.yml:13 (e edits)"), "{big}");
    assert!(big.contains("▶13       - alert: HighLoad"), "{big}");
}

#[test]
fn rules_view_at_a_past_moment_reads_alerts() {
    let t = NOW_MS - 3 * 3_600_000;
    let s = |name: &str, labels: &[(&str, &str)], v: f64| SeriesData {
        labels: pairs(&[[("__name__", name)].as_slice(), labels].concat()),
        points: vec![(t, v)],
    };
    let answer = QueryAnswer {
        data: QueryData::Vector(vec![
            s(
                "ALERTS",
                &[
                    ("alertname", "HighLoad"),
                    ("alertstate", "firing"),
                    ("instance", "10.0.0.3:9100"),
                ],
                1.0,
            ),
            s(
                "ALERTS_FOR_STATE",
                &[("alertname", "HighLoad"), ("instance", "10.0.0.3:9100")],
                ((t - 1_800_000) / 1000) as f64,
            ),
        ]),
        warnings: Vec::new(),
    };
    let shots = each("rules_history", || {
        let mut v = rules_view();
        v.set_history(t, answer.clone());
        Box::new(v)
    });
    let big = &shots[1];
    assert!(big.contains("from ALERTS, read-only"), "{big}");
    assert!(big.contains("instance=\"10.0.0.3:9100\""), "{big}");
    assert!(big.contains("since 30m00s"), "{big}");
    // Today's InstanceDown alerts are not shown at that moment.
    assert!(!big.contains("10.0.0.7:9100"), "{big}");
}

fn push_groups() -> Vec<PushGroup> {
    vec![
        PushGroup {
            labels: pairs(&[("job", "backup"), ("instance", "db1")]),
            push_ms: Some(NOW_MS - 30_000),
            failure_ms: None,
            families: vec![PushFamily {
                name: "backup_last_success_timestamp_seconds".into(),
                kind: "GAUGE".into(),
                help: "Last successful backup.".into(),
                samples: vec![
                    "backup_last_success_timestamp_seconds{instance=\"db1\",job=\"backup\"} 1767323015".into(),
                ],
            }],
        },
        PushGroup {
            labels: pairs(&[("job", "nightly-etl")]),
            push_ms: Some(NOW_MS - 26 * 3_600_000),
            failure_ms: None,
            families: Vec::new(),
        },
        PushGroup {
            labels: pairs(&[("job", "reports"), ("instance", "")]),
            push_ms: Some(NOW_MS - 600_000),
            failure_ms: Some(NOW_MS - 60_000),
            families: Vec::new(),
        },
    ]
}

#[test]
fn pushgateway_view_highlights_stale_and_failing_groups() {
    let shots = each("pushgateway", || {
        let mut v = PushgatewayView::new(None);
        v.set_groups(push_groups(), NOW_MS);
        Box::new(v)
    });
    let big = &shots[1];
    assert!(big.contains("1 stale (>1h00m)"), "{big}");
    assert!(big.contains("1 failing"), "{big}");
    assert!(big.contains("1d2h ago"), "{big}");
}

#[test]
fn pushgateway_view_confirms_a_delete_and_shows_metrics() {
    let rt = runtime();
    for theme in THEMES {
        for (w, h) in SIZES {
            let mut v = PushgatewayView::new(None);
            v.set_groups(push_groups(), NOW_MS);
            let mut app = app_of(&rt, theme, Box::new(v));
            app.on_key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE), NOW_MS);
            let s = snapshot(&mut app, w, h);
            check(&format!("triage2_pushgateway_metrics_{theme}_{w}x{h}"), &s);
            assert!(s.contains("backup_last_success_timestamp_seconds"), "{s}");
            app.on_key(
                KeyEvent::new(KeyCode::Char('d'), KeyModifiers::NONE),
                NOW_MS,
            );
            let s = snapshot(&mut app, w, h);
            check(&format!("triage2_pushgateway_confirm_{theme}_{w}x{h}"), &s);
            assert!(s.contains("Delete this push group?"), "{s}");
            // `q` does not quit behind the confirmation; it cancels it.
            app.on_key(
                KeyEvent::new(KeyCode::Char('q'), KeyModifiers::NONE),
                NOW_MS,
            );
            assert!(!app.quit);
            let s = snapshot(&mut app, w, h);
            assert!(s.contains("delete cancelled"), "{s}");
        }
    }
}

fn backtests() -> (
    promtui::rules::backtest::Backtest,
    promtui::rules::backtest::Backtest,
) {
    let step = 60_000;
    let w = Window::new(
        NOW_MS - 7 * 86_400_000 - (NOW_MS % step),
        NOW_MS - NOW_MS % step,
        step,
    )
    .unwrap();
    // Three instances: one flapping daily, one with a long outage, one quiet.
    let mut series = Vec::new();
    for (inst, f) in [
        ("10.0.0.1:9100", 0usize),
        ("10.0.0.2:9100", 1),
        ("10.0.0.3:9100", 2),
    ] {
        let l = Labels::from_pairs(&[("__name__", "node_load1"), ("instance", inst)]);
        let pts: Vec<(i64, f64)> = (0..w.evals())
            .map(|i| {
                let day = i % 1440;
                let v = match f {
                    0 => {
                        if (600..660).contains(&day) {
                            6.0
                        } else {
                            1.0
                        }
                    }
                    1 => {
                        if (5000..5400).contains(&i) {
                            5.0
                        } else if (600..610).contains(&day) {
                            4.5
                        } else {
                            0.5
                        }
                    }
                    _ => 0.2,
                };
                (w.at(i), v)
            })
            .collect();
        series.push((l, pts));
    }
    let keep = |th: f64| -> Vec<(Labels, Vec<(i64, f64)>)> {
        series
            .iter()
            .map(|(l, p)| (l.clone(), p.iter().filter(|x| x.1 > th).copied().collect()))
            .collect()
    };
    let a = BacktestRule::parse("HighLoad", "node_load1 > 4", 600_000, 0).unwrap();
    let b = a.with_expr("node_load1 > 5").unwrap();
    let mut ra = backtest_series(&a, w, keep(4.0)).unwrap();
    let mut rb = backtest_series(&b, w, keep(5.0)).unwrap();
    ra.elapsed_ms = 12.0;
    rb.elapsed_ms = 11.0;
    (ra, rb)
}

#[test]
fn backtest_view_draws_two_thresholds_side_by_side() {
    let (a, b) = backtests();
    assert!(a.firings() > b.firings());
    let shots = each("backtest", || {
        let mut v = BacktestView::new(Arc::new(StillBackend), BacktestHandoff::default());
        v.load_rule(&a.rule);
        v.set_compare("node_load1 > 5");
        v.set_result(a.clone(), Some(b.clone()));
        Box::new(v)
    });
    let big = &shots[1];
    assert!(big.contains("A: node_load1 > 4"), "{big}");
    assert!(big.contains("B: node_load1 > 5"), "{big}");
    assert!(
        big.contains(&format!("{}x fired across 2 alert(s)", a.firings())),
        "{big}"
    );
    assert!(
        big.contains(&format!("{}x fired across 2 alert(s)", b.firings()))
            || big.contains(&format!("{}x fired across 1 alert(s)", b.firings())),
        "{big}"
    );
    assert!(big.contains('█'), "{big}");
}

#[test]
fn rule_test_runner_shows_a_structured_diff_and_the_failing_rule() {
    let mut r = run_test_file(Path::new("tests/data/triage2/rules_test.yml"));
    r.took_ms = 7.0;
    assert_eq!(r.failures.len(), 2, "{r:?}");
    let alert = &r.failures[0];
    assert_eq!(alert.subject.as_deref(), Some("InstanceDown"));
    assert!(alert
        .diff
        .iter()
        .any(|d| d.sign == '-' && d.text.contains("c:9100")));
    assert!(alert
        .diff
        .iter()
        .any(|d| d.sign == '+' && d.text.contains("b:9100")));
    assert!(alert
        .diff
        .iter()
        .any(|d| d.sign == ' ' && d.text.contains("a:9100")));
    assert_eq!(
        alert.location,
        Some((PathBuf::from("tests/data/triage2/rules.yml"), Some(5)))
    );
    // The expression case names the recording rule: its line.
    assert_eq!(
        r.failures[1].location,
        Some((PathBuf::from("tests/data/triage2/rules.yml"), Some(21)))
    );
    let shots = each("ruletest", || {
        let mut v = RuleTestView::new(Vec::new());
        v.set_results(vec![r.clone()], NOW_MS);
        v.open_first_failure();
        Box::new(v)
    });
    let big = &shots[1];
    assert!(
        big.contains("FAIL tests/data/triage2/rules_test.yml"),
        "{big}"
    );
    assert!(
        big.contains("- labels {alertname=\"InstanceDown\", instance=\"c:9100\""),
        "{big}"
    );
    assert!(big.contains("rules.yml:5 (e edits)"), "{big}");
}

#[test]
fn b_on_an_alerting_rule_opens_the_backtest_view_with_it() {
    let rt = runtime();
    let handoff = BacktestHandoff::default();
    let mut rules = RulesView::new(None, Arc::new(StillBackend), handoff.clone());
    rules.set_groups(groups(), NOW_MS);
    let backtest = BacktestView::new(Arc::new(StillBackend), handoff);
    let backend: Arc<dyn Backend> = Arc::new(StillBackend);
    let mut app = App::new(
        vec![Box::new(rules), Box::new(backtest)],
        &backend,
        fixture::feed(),
        rt.handle().clone(),
        AppOptions {
            palette: promtui::tui::theme::builtin("dark"),
            glyphs: Glyphs::Braille,
            no_color: false,
            theme_dir: None,
        },
    );
    // Row 0 is the group, row 1 its first rule (InstanceDown).
    app.on_key(
        KeyEvent::new(KeyCode::Char('j'), KeyModifiers::NONE),
        NOW_MS,
    );
    app.on_key(
        KeyEvent::new(KeyCode::Char('b'), KeyModifiers::NONE),
        NOW_MS,
    );
    assert_eq!(app.active_view(), "backtest");
    let s = buffer_text(&render_to_buffer(&mut app, 120, 30, NOW_MS));
    assert!(s.contains("alert: InstanceDown"), "{s}");
    assert!(s.contains("expr: up == 0"), "{s}");
    assert!(s.contains("for: 5m"), "{s}");
    // The backtest started at once (the still backend never answers).
    assert!(s.contains("running…"), "{s}");
}
