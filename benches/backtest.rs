//! Backtesting alerting rules over 7 days of the 10k-series benchmark dataset at a 1m
//! step (issue target: at most 2 s).
//!
//! The dataset is bench/gen_dataset.py's (50 targets x 200 series, 2 hours at 15 s),
//! stretched to 7 days at 1 minute: every 4th sample of the 2 hours is kept and the two
//! hours are repeated 84 times, counters (and histogram series) continuing upwards across
//! repeats, gauges repeating. It is written once as 2h blocks with the TSDB importer into
//! `PROMTUI_BACKTEST_DATA` (default target/backtest-7d) and reused by later runs.
//!
//! Each rule is backtested 5 times (range query plus the state machine, as
//! `promtui rules backtest` does); the median, minimum and the load average are printed.
//! Run: `cargo bench --bench backtest`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use promtui::model::Labels;
use promtui::rules::backtest::{backtest, BacktestRule, Window};
use promtui::tsdb::import::{Backfill, ImportOptions};

/// gen_dataset.py's default start (a multiple of 2 h).
const START_S: i64 = 1_700_006_400;
const TWO_HOURS: i64 = 7_200_000;
const REPEATS: i64 = 84;
const MIN: i64 = 60_000;

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

/// Parses `name{a="b",c="d"}` (values without escapes, as gen_dataset.py writes them).
fn parse_series(s: &str) -> Labels {
    let (name, rest) = match s.find('{') {
        Some(i) => (&s[..i], &s[i + 1..s.len() - 1]),
        None => (s, ""),
    };
    let mut pairs: Vec<(String, String)> = vec![("__name__".into(), name.into())];
    for kv in rest.split("\",").filter(|x| !x.is_empty()) {
        if let Some((k, v)) = kv.split_once("=\"") {
            pairs.push((k.to_string(), v.trim_end_matches('"').to_string()));
        }
    }
    Labels::from_pairs(&pairs)
}

/// Beside the data directory (a file inside it would be foreign to the TSDB).
fn done_marker(dir: &Path) -> PathBuf {
    dir.with_extension("complete")
}

fn build_dataset(dir: &Path) {
    eprintln!("generating the dataset with bench/gen_dataset.py …");
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("bench/gen_dataset.py");
    let out = std::process::Command::new("python3")
        .arg(&script)
        .env("GEN_DATASET_START", START_S.to_string())
        .output()
        .expect("running bench/gen_dataset.py");
    assert!(out.status.success(), "gen_dataset.py failed");
    let text = String::from_utf8(out.stdout).expect("utf-8 dataset");
    // Per series: whether cumulative, and its values at 15 s.
    let mut order: Vec<String> = Vec::new();
    let mut series: HashMap<String, (bool, Vec<f64>)> = HashMap::new();
    let mut cumulative = false;
    for line in text.lines() {
        if let Some(t) = line.strip_prefix("# TYPE ") {
            cumulative = t.ends_with(" counter") || t.ends_with(" histogram");
            continue;
        }
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let mut it = line.rsplitn(3, ' ');
        let (_ts, v, s) = (it.next(), it.next(), it.next());
        let (Some(v), Some(s)) = (v, s) else { continue };
        let v: f64 = match v {
            "+Inf" => f64::INFINITY,
            x => x.parse().unwrap_or(f64::NAN),
        };
        let e = series.entry(s.to_string()).or_insert_with(|| {
            order.push(s.to_string());
            (cumulative, Vec::new())
        });
        e.1.push(v);
    }
    eprintln!(
        "{} series; writing 7 days at 1m ({} samples) …",
        order.len(),
        order.len() as i64 * REPEATS * 120
    );
    let started = Instant::now();
    // A marked, empty TSDB first (read-only opens refuse unmarked directories).
    drop(promtui::tsdb::Db::open(dir, Default::default()).expect("creating the TSDB"));
    // Blocks go where the TSDB keeps them (its blocks directory).
    let blocks = dir.join("promtui-blocks");
    let mut b = Backfill::new(
        &blocks,
        ImportOptions {
            block_duration: TWO_HOURS,
            max_buffered_bytes: 512 << 20,
            compact_spilled: true,
        },
        |_| {},
    )
    .expect("starting the import");
    let refs: Vec<_> = order.iter().map(|s| b.series(parse_series(s))).collect();
    let start = START_S * 1000;
    for k in 0..REPEATS {
        for (i, s) in order.iter().enumerate() {
            let (cum, vals) = &series[s];
            let per: Vec<f64> = vals.iter().step_by(4).copied().collect();
            let offset = if *cum && per.len() > 1 {
                let step = (per[per.len() - 1] - per[0]) / (per.len() - 1) as f64;
                k as f64 * (per[per.len() - 1] - per[0] + step)
            } else {
                0.0
            };
            for (j, v) in per.iter().enumerate() {
                let t = start + k * TWO_HOURS + j as i64 * MIN;
                b.append(refs[i], t, v + offset).expect("appending");
            }
        }
    }
    let report = b.finish().expect("finishing the import");
    eprintln!(
        "imported {} samples into {} blocks in {:.1}s",
        report.samples_imported,
        report.blocks.len(),
        started.elapsed().as_secs_f64()
    );
    std::fs::write(done_marker(dir), "").expect("marker");
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` runs the binary with no
    // arguments: only the full run measures.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let dir = std::env::var("PROMTUI_BACKTEST_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/backtest-7d"));
    if !done_marker(&dir).exists() {
        let _ = std::fs::remove_dir_all(&dir);
        build_dataset(&dir);
    }
    let db = promtui::tsdb::Db::open_read_only(&dir, Default::default()).expect("opening");
    let engine = promtui::promql::engine::Engine::new(promtui::promql::engine::EngineOptions {
        max_samples: 2_000_000_000,
        timeout: std::time::Duration::from_secs(600),
        ..Default::default()
    });
    let start = START_S * 1000;
    let window = Window::new(start, start + REPEATS * TWO_HOURS - MIN, MIN).expect("window");
    eprintln!("load average before: {}", load_average());
    for (expr, for_ms) in [
        ("up == 0", 5 * MIN),
        ("rate(http_requests_total[5m]) > 50", 5 * MIN),
        ("rate(http_requests_total[5m]) > 5", 5 * MIN),
        ("queue_length > 40", 2 * MIN),
        ("node_hwmon_temp_celsius > 60", 10 * MIN),
    ] {
        let rule = BacktestRule::parse("Bench", expr, for_ms, 0).expect("rule");
        let mut times = Vec::new();
        let mut last = None;
        for _ in 0..5 {
            let t = Instant::now();
            let bt = backtest(&db, &engine, &rule, window).expect("backtest");
            times.push(t.elapsed().as_secs_f64() * 1000.0);
            last = Some(bt);
        }
        times.sort_by(|a, b| a.total_cmp(b));
        let bt = last.expect("ran");
        println!(
            "backtest/7d@1m {expr:?} for {}: median {:.0} ms, min {:.0} ms ({} evaluations, {} alerts, {} firings); load {}",
            promtui::model::time::format_duration(for_ms),
            times[2],
            times[0],
            window.evals(),
            bt.alerts.len(),
            bt.firings(),
            load_average()
        );
    }
}
