//! Interop: promtui and Debian's Prometheus 2.42 scrape the same targets (two fixed
//! bodies in both exposition formats, and a live `prometheus-node-exporter`) with the same
//! configuration; the series each stores must be identical, and the values agree wherever
//! the source does not change between the two scrapers' scrapes.
//!
//! Skips with a printed reason when a peer is missing, unless `PROMTUI_REQUIRE_PEERS=1`.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use promtui::model::{MatchOp, Matcher};

type LabelMap = BTreeMap<String, String>;

fn labels_of(v: &serde_json::Value) -> LabelMap {
    v.as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
        .collect()
}

fn same_value(a: f64, b: f64) -> bool {
    (a.is_nan() && b.is_nan()) || a == b
}

#[test]
fn promtui_and_prometheus_store_the_same_series_and_values() {
    if !peer_available(PROMETHEUS) || !peer_available(NODE_EXPORTER) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (_ne, ne_port) = start_node_exporter(dir.path());
    let data = shared_dir().join("testdata/exposition");
    let server = BodyServer::start(vec![
        (
            std::fs::read(data.join("alltypes.237mfs.prom.txt")).unwrap(),
            "text/plain; version=0.0.4; charset=utf-8".into(),
        ),
        (
            std::fs::read(data.join("alltypes.5mfs.om.txt")).unwrap(),
            "application/openmetrics-text; version=1.0.0; charset=utf-8".into(),
        ),
    ]);
    let config = format!(
        r#"global:
  scrape_interval: 1s
  scrape_timeout: 1s
  external_labels:
    ignored_by_storage: "yes"
scrape_configs:
  - job_name: text
    metrics_path: /b0
    static_configs:
      - targets: ['127.0.0.1:{p}']
        labels:
          env: test
    relabel_configs:
      - source_labels: [__address__]
        regex: '([^:]+):.*'
        target_label: host
      - target_label: __param_unused
        replacement: x
    metric_relabel_configs:
      - source_labels: [__name__]
        regex: 'go_gc_duration_seconds.*'
        action: drop
  - job_name: openmetrics
    metrics_path: /b1
    honor_labels: true
    static_configs:
      - targets: ['127.0.0.1:{p}']
  - job_name: node
    static_configs:
      - targets: ['127.0.0.1:{ne}']
    metric_relabel_configs:
      - regex: 'le'
        action: labeldrop
"#,
        p = server.port,
        ne = ne_port
    );
    let cfg = dir.path().join("prometheus.yml");
    std::fs::write(&cfg, config).unwrap();

    let prom_port = free_port();
    let _prom = spawn_prometheus(&cfg, &dir.path().join("prom"), prom_port, Stdio::null());
    let ours_port = free_port();
    let ours_dir = dir.path().join("ours");
    let mut ours = ChildGuard(
        Command::new(env!("CARGO_BIN_EXE_promtui"))
            .args(["serve", "--log.level=warn"])
            .arg(format!("--config.file={}", cfg.display()))
            .arg(format!("--storage.tsdb.path={}", ours_dir.display()))
            .arg(format!("--web.listen-address=127.0.0.1:{ours_port}"))
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let prom = format!("http://127.0.0.1:{prom_port}");
    assert!(wait_http_ok(
        &format!("{prom}/-/ready"),
        Duration::from_secs(30)
    ));
    assert!(wait_http_ok(
        &format!("http://127.0.0.1:{ours_port}/-/ready"),
        Duration::from_secs(30)
    ));
    // Prometheus starts scraping only after its discovery manager's first 5 s update
    // tick: wait until it reports all three jobs up, then a few more intervals.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let up = api_get(&prom, "/api/v1/query", &[("query", "sum(up)")]);
        let n = up
            .as_ref()
            .and_then(|v| v["data"]["result"][0]["value"][1].as_str())
            .and_then(|s| s.parse::<f64>().ok())
            .unwrap_or(0.0);
        if n >= 3.0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "Prometheus never scraped all targets"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_millis(3500));

    // Prometheus' view: every series, and its latest value.
    let series = api_get(&prom, "/api/v1/series", &[("match[]", r#"{job=~".+"}"#)]).unwrap();
    let theirs: BTreeSet<LabelMap> = series["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(labels_of)
        .collect();
    let latest = api_get(&prom, "/api/v1/query", &[("query", r#"{job=~".+"}"#)]).unwrap();
    let their_values: BTreeMap<LabelMap, f64> = latest["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let v = r["value"][1].as_str().unwrap();
            let v = match v {
                "+Inf" => f64::INFINITY,
                "-Inf" => f64::NEG_INFINITY,
                "NaN" => f64::NAN,
                v => v.parse().unwrap(),
            };
            (labels_of(&r["metric"]), v)
        })
        .collect();

    // Ours, read from the store after a graceful stop.
    assert_eq!(
        ours.terminate(Duration::from_secs(20)),
        Some(0),
        "promtui did not stop cleanly"
    );
    let db = promtui::tsdb::Db::open(&ours_dir, promtui::tsdb::Options::default()).unwrap();
    let q = db.querier(i64::MIN, i64::MAX);
    let all = Matcher::new(MatchOp::RegexMatch, "job", ".+").unwrap();
    let mut mine: BTreeSet<LabelMap> = BTreeSet::new();
    let mut my_last: BTreeMap<LabelMap, f64> = BTreeMap::new();
    for mut s in q.select(&[all]).unwrap() {
        let l: LabelMap = s
            .labels
            .iter()
            .map(|l| (l.name.clone(), l.value.clone()))
            .collect();
        let mut last = None;
        while let Some(x) = s.samples.next() {
            if !promtui::model::is_stale_nan(x.v) {
                last = Some(x.v);
            }
        }
        if let Some(v) = last {
            my_last.insert(l.clone(), v);
        }
        mine.insert(l);
    }

    eprintln!(
        "prometheus {} series, promtui {} series",
        theirs.len(),
        mine.len()
    );
    let only_theirs: Vec<_> = theirs.difference(&mine).collect();
    let only_mine: Vec<_> = mine.difference(&theirs).collect();
    assert!(
        only_theirs.is_empty() && only_mine.is_empty(),
        "series differ:\nonly in Prometheus: {only_theirs:#?}\nonly in promtui: {only_mine:#?}"
    );
    assert!(theirs.len() > 500, "too few series: {}", theirs.len());

    // Values: the fixed bodies never change, so every series agrees except the scrape
    // duration; node_exporter values move between scrapes, so only its constant series.
    let mut compared = 0;
    for (labels, v) in &their_values {
        let name = labels.get("__name__").map(String::as_str).unwrap_or("");
        let job = labels.get("job").map(String::as_str).unwrap_or("");
        let stable = match job {
            "text" | "openmetrics" => name != "scrape_duration_seconds",
            "node" => matches!(
                name,
                "up" | "node_uname_info"
                    | "node_exporter_build_info"
                    | "node_filesystem_size_bytes"
            ),
            _ => false,
        };
        if !stable {
            continue;
        }
        let mine = my_last
            .get(labels)
            .unwrap_or_else(|| panic!("no value for {labels:?}"));
        assert!(
            same_value(*v, *mine),
            "{labels:?}: Prometheus {v}, promtui {mine}"
        );
        compared += 1;
    }
    assert!(compared > 500, "compared only {compared} values");
    eprintln!(
        "scrape interop: {} series identical, {compared} values compared",
        theirs.len()
    );
}
