//! Time travel and query explain over `--remote`, differentially: the same backfilled
//! history (OpenMetrics, the half hour before the test) served by a real Prometheus 2.42
//! (`promtool tsdb create-blocks-from openmetrics`) and by `promtui serve` (`promtui tsdb
//! import openmetrics`), read through the TUI's remote backend. Targets at a past moment
//! must be the same rows from both; explain's per-node figures come from
//! `/api/v1/query?stats=all` on both, with the same series counts per node and samples
//! reported by both. Skips with a reason without Prometheus/promtool
//! (PROMTUI_REQUIRE_PEERS=1 fails instead).

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{free_port, peer_available, wait_http_ok, ChildGuard, PROMETHEUS, PROMTOOL};
use promtui::promql::explain::explain_tree;
use promtui::tui::backend::remote::{RemoteBackend, RemoteOptions};
use promtui::tui::backend::{Backend, TargetHealth};
use promtui::tui::console::source::QueryData;

/// Three targets every 15 s from 30 to 2 minutes before `now_s`; `c` is down.
fn history(now_s: i64) -> String {
    let mut om = String::new();
    for metric in [
        "up",
        "scrape_duration_seconds",
        "scrape_samples_scraped",
        "req_total",
    ] {
        let kind = if metric == "req_total" {
            "counter"
        } else {
            "gauge"
        };
        let family = metric.strip_suffix("_total").unwrap_or(metric);
        om.push_str(&format!("# TYPE {family} {kind}\n"));
        for t in (now_s - 1800..=now_s - 120).step_by(15) {
            for (i, host) in ["a:9100", "b:9100", "c:9100"].iter().enumerate() {
                let up = if i == 2 { 0.0 } else { 1.0 };
                let v = match metric {
                    "up" => up,
                    "scrape_duration_seconds" => 0.01 * (i + 1) as f64,
                    "scrape_samples_scraped" => 100.0 * (i + 1) as f64 * up,
                    _ => ((t - now_s + 1800) * (i as i64 + 1)) as f64,
                };
                om.push_str(&format!(
                    "{metric}{{job=\"old\",instance=\"{host}\"}} {v} {t}\n"
                ));
            }
        }
    }
    om.push_str("# EOF\n");
    om
}

fn remote(url: &str) -> RemoteBackend {
    RemoteBackend::new(&RemoteOptions {
        url: url.to_string(),
        headers: Vec::new(),
        basic_auth: None,
        bearer_token: None,
        ca_file: None,
        cert_file: None,
        key_file: None,
        insecure_skip_verify: false,
        timeout: Duration::from_secs(10),
        alertmanager_url: None,
        pushgateway_url: None,
    })
    .expect("remote backend")
}

fn run(cmd: &mut Command) {
    let out = cmd.output().expect("run backfill");
    assert!(
        out.status.success(),
        "{cmd:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn past_targets_and_explain_figures_agree_with_prometheus() {
    if !peer_available(PROMETHEUS) || !peer_available(PROMTOOL) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let now_s = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let om = dir.path().join("history.om");
    std::fs::write(&om, history(now_s)).unwrap();

    // Prometheus 2.42 over promtool's blocks.
    let pdata = dir.path().join("pdata");
    run(Command::new(PROMTOOL)
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(&om)
        .arg(&pdata));
    let pcfg = dir.path().join("prometheus.yml");
    std::fs::write(&pcfg, "global:\n  scrape_interval: 1m\n").unwrap();
    let pport = free_port();
    let _prom = ChildGuard(
        Command::new(PROMETHEUS)
            .arg(format!("--config.file={}", pcfg.display()))
            .arg(format!("--storage.tsdb.path={}", pdata.display()))
            .arg(format!("--web.listen-address=127.0.0.1:{pport}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start prometheus"),
    );
    // promtui serve over its own import of the same file.
    let sdir = dir.path().join("serve");
    std::fs::create_dir_all(&sdir).unwrap();
    run(Command::new(env!("CARGO_BIN_EXE_promtui"))
        .args(["tsdb", "import", "openmetrics"])
        .arg(&om)
        .arg("--storage.tsdb.path")
        .arg(sdir.join("data")));
    let sport = free_port();
    let _serve = common::start_serve(&sdir, "global:\n  scrape_interval: 1m\n", sport, &[]);
    let purl = format!("http://127.0.0.1:{pport}");
    assert!(
        wait_http_ok(&format!("{purl}/-/ready"), Duration::from_secs(30)),
        "prometheus did not become ready"
    );
    let surl = format!("http://127.0.0.1:{sport}");

    let rt = tokio::runtime::Runtime::new().unwrap();
    // Between two samples: Prometheus 2.x windows are closed on the left, promtui's (as
    // Prometheus 3's) open, so a sample exactly at the window's start would count on one
    // side only.
    let at_ms = (now_s - 300) * 1000 - 7_000;
    let mut figures = Vec::new();
    for url in [&purl, &surl] {
        let b = remote(url);
        // Targets five minutes ago, from the TSDB.
        let rows = rt
            .block_on(b.targets_at(at_ms))
            .expect("targets at the moment");
        let summary: Vec<(String, String, TargetHealth, Option<u64>, f64)> = rows
            .iter()
            .map(|r| {
                (
                    r.pool.clone(),
                    r.url.clone(),
                    r.health(),
                    r.samples,
                    r.duration_s,
                )
            })
            .collect();
        assert_eq!(
            summary,
            vec![
                (
                    "old".into(),
                    "a:9100".into(),
                    TargetHealth::Up,
                    Some(100),
                    0.01
                ),
                (
                    "old".into(),
                    "b:9100".into(),
                    TargetHealth::Up,
                    Some(200),
                    0.02
                ),
                (
                    "old".into(),
                    "c:9100".into(),
                    TargetHealth::Down,
                    Some(0),
                    0.03
                ),
            ],
            "{url}"
        );
        // The last scrape is the backfilled sample at or before the moment.
        for r in &rows {
            let last = r.last_scrape_ms.expect("timestamp(up)");
            assert!(last <= at_ms && at_ms - last < 15_000, "{url}: {last}");
        }
        // Explain's figures per node through stats=all.
        let q = "sum by (job) (rate(req_total[5m])) > 0";
        let nodes = explain_tree(&promtui::promql::parse_expr(q).unwrap());
        let src = b.console_source();
        let mut per_node = Vec::new();
        for n in &nodes {
            let c = rt
                .block_on(src.instant_query_cost(n.expr.clone(), at_ms))
                .unwrap_or_else(|e| panic!("{url}: {}: {e}", n.expr));
            let series = match &c.answer.data {
                QueryData::Vector(v) | QueryData::Matrix(v) => v.len(),
                _ => 1,
            };
            let samples = c
                .samples
                .unwrap_or_else(|| panic!("{url} reported no samples for {}", n.expr));
            per_node.push((n.expr.clone(), series, samples));
        }
        println!("{url}: {per_node:?}");
        // Series: the comparison keeps the one job, the sum one, rate and the range
        // selector three; the range selector reads every sample in its window and the
        // nodes above it no more.
        let series: Vec<usize> = per_node.iter().map(|n| n.1).collect();
        assert_eq!(series, vec![1, 1, 3, 3, 1], "{url}");
        let selector = per_node[3].2;
        assert!(selector >= 3 * 19, "{url}: {per_node:?}");
        assert_eq!(per_node[2].2, selector, "{url}: {per_node:?}");
        assert_eq!(per_node[1].2, selector, "{url}: {per_node:?}");
        assert_eq!(per_node[0].2, selector, "{url}: {per_node:?}");
        // Graph mode: the range selector measured through count_over_time over ten
        // minutes at a 1m step (11 steps x 3 series x 20 samples).
        let c = rt
            .block_on(src.range_query_cost(
                "count_over_time(req_total[5m])".into(),
                at_ms - 600_000,
                at_ms,
                60_000,
            ))
            .unwrap_or_else(|e| panic!("{url}: range: {e}"));
        assert_eq!(c.samples, Some(11 * 3 * 20), "{url}");
        per_node.push(("range".into(), 0, c.samples.unwrap_or(0)));
        figures.push(per_node);
    }
    assert_eq!(figures[0], figures[1], "promtui and Prometheus differ");
}
