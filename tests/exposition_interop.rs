//! Interop: a real Prometheus 2.42 (`/usr/bin/prometheus`) scrapes the shared exposition
//! samples, a captured node_exporter body, and that body re-written by our OpenMetrics
//! writer, all served from a tiny HTTP server in this test; the series and values it
//! ingests must equal what our parser yields for the same bytes.
//!
//! Skips with a printed reason when a peer binary is missing, unless
//! `PROMTUI_REQUIRE_PEERS=1`, in which case it fails.

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

mod common;

use common::*;
use promtui::exposition::{parse_families, parse_samples, write_openmetrics, Format};
use promtui::model::Labels;

fn prom_value(s: &str) -> f64 {
    match s {
        "NaN" => f64::NAN,
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        s => s.parse().unwrap_or_else(|_| panic!("bad value {s:?}")),
    }
}

/// Series of `job` as Prometheus holds them now: labels without job/instance → value.
fn prometheus_series(base: &str, job: &str) -> Option<BTreeMap<Labels, f64>> {
    let sel = format!("{{job=\"{job}\"}}");
    let v = api_get(base, "/api/v1/query", &[("query", &sel)])?;
    let result = v["data"]["result"].as_array()?;
    let mut out = BTreeMap::new();
    for r in result {
        let metric = r["metric"].as_object()?;
        let pairs: Vec<(String, String)> = metric
            .iter()
            .filter(|(k, _)| *k != "job" && *k != "instance")
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
            .collect();
        let labels = Labels::from_pairs(&pairs);
        if labels.metric_name().is_some_and(|n| SYNTHETIC.contains(&n)) {
            continue;
        }
        out.insert(labels, prom_value(r["value"][1].as_str()?));
    }
    Some(out)
}

fn same(a: &BTreeMap<Labels, f64>, b: &BTreeMap<Labels, f64>) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|((la, va), (lb, vb))| la == lb && (va == vb || (va.is_nan() && vb.is_nan())))
}

fn describe_diff(ours: &BTreeMap<Labels, f64>, theirs: &BTreeMap<Labels, f64>) -> String {
    let mut s = String::new();
    for (l, v) in ours {
        match theirs.get(l) {
            None => s.push_str(&format!("  only ours: {l} {v}\n")),
            Some(t) if !(t == v || (t.is_nan() && v.is_nan())) => {
                s.push_str(&format!("  value differs: {l} ours {v} prometheus {t}\n"))
            }
            _ => {}
        }
    }
    for (l, v) in theirs {
        if !ours.contains_key(l) {
            s.push_str(&format!("  only prometheus: {l} {v}\n"));
        }
    }
    s
}

#[test]
fn prometheus_ingests_what_we_parse() {
    if !peer_available(PROMETHEUS) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();

    // Bodies to serve: every shared sample file, node_exporter's output, and that output
    // re-written as OpenMetrics by our writer.
    let mut bodies: Vec<(String, Vec<u8>, Format)> = Vec::new();
    let dir = shared_dir().join("testdata/exposition");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    for path in files {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let format = if name.contains(".om.") {
            Format::OpenMetrics
        } else {
            Format::PromText
        };
        bodies.push((name, std::fs::read(&path).unwrap(), format));
    }
    if peer_available(NODE_EXPORTER) {
        let body = capture_node_exporter(tmp.path());
        let families = parse_families(&body, Format::PromText).expect("parse node_exporter");
        let om = write_openmetrics(&families).into_bytes();
        bodies.push(("node_exporter (text)".into(), body, Format::PromText));
        bodies.push((
            "node_exporter via write_openmetrics".into(),
            om,
            Format::OpenMetrics,
        ));
    }

    let server = BodyServer::start(
        bodies
            .iter()
            .map(|(_, b, f)| (b.clone(), f.content_type().to_string()))
            .collect(),
    );
    let mut config =
        String::from("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n");
    for i in 0..bodies.len() {
        config.push_str(&format!(
            "  - job_name: b{i}\n    metrics_path: /b{i}\n    static_configs:\n      - targets: ['127.0.0.1:{}']\n",
            server.port
        ));
    }
    let config_path = tmp.path().join("prometheus.yml");
    std::fs::write(&config_path, config).unwrap();
    let port = free_port();
    let log = std::fs::File::create(tmp.path().join("prometheus.log")).unwrap();
    let _prom = ChildGuard(
        Command::new(PROMETHEUS)
            .arg(format!("--config.file={}", config_path.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                tmp.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start prometheus"),
    );
    let base = format!("http://127.0.0.1:{port}");

    let expected: Vec<BTreeMap<Labels, f64>> = bodies
        .iter()
        .map(|(name, body, format)| {
            parse_samples(body, *format)
                .unwrap_or_else(|e| panic!("{name}: {e}"))
                .into_iter()
                .map(|(l, v, _)| (l, v))
                .collect()
        })
        .collect();

    // Wait until every job has been scraped and Prometheus holds exactly our series, or
    // report the difference at the deadline.
    let deadline = Instant::now() + Duration::from_secs(25);
    let mut pending: Vec<usize> = (0..bodies.len()).collect();
    let mut last: BTreeMap<usize, BTreeMap<Labels, f64>> = BTreeMap::new();
    while !pending.is_empty() && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(500));
        pending.retain(|&i| {
            let Some(got) = prometheus_series(&base, &format!("b{i}")) else {
                return true;
            };
            let done = same(&expected[i], &got);
            last.insert(i, got);
            !done
        });
    }
    let mut report = String::new();
    for i in &pending {
        let got = last.get(i).cloned().unwrap_or_default();
        report.push_str(&format!(
            "{} (job b{i}): ours {} series, prometheus {}\n{}",
            bodies[*i].0,
            expected[*i].len(),
            got.len(),
            describe_diff(&expected[*i], &got)
        ));
    }
    if !report.is_empty() {
        let log = std::fs::read_to_string(tmp.path().join("prometheus.log")).unwrap_or_default();
        let tail: String = log.lines().rev().take(20).collect::<Vec<_>>().join("\n");
        panic!("Prometheus disagrees with our parser:\n{report}\nprometheus log (last lines, newest first):\n{tail}");
    }
    for (i, (name, _, _)) in bodies.iter().enumerate() {
        eprintln!("{name}: {} series match Prometheus", expected[i].len());
    }
}
