//! remote_write and remote_read against real peers: Prometheus 2.42 with
//! `--web.enable-remote-write-receiver` and VictoriaMetrics as receivers of promtui's
//! queues (every ingested sample arrives, once, across a receiver outage and a `kill -9` of
//! promtui), and Prometheus writing into and reading from promtui.
//!
//! These tests take 30-60 s each; they run with `cargo test` (CI sets
//! PROMTUI_REQUIRE_PEERS=1), and skip with a printed reason when a peer is missing.
mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::Duration;

use common::*;

const VICTORIA: &str = "/usr/bin/victoria-metrics";

/// A body of a few series whose values change at every scrape (a counter-like gauge set by
/// the test) so that every sample is distinct.
fn body(i: u64) -> Vec<u8> {
    let mut s = String::new();
    for k in 0..20 {
        s.push_str(&format!("rw_test_metric{{k=\"{k}\"}} {}\n", i * 100 + k));
    }
    s.into_bytes()
}

/// Starts Prometheus as a remote-write receiver on `port` with data in `data`.
fn start_prometheus_receiver(dir: &Path, data: &Path, port: u16, extra: &[&str]) -> ChildGuard {
    let cfg = dir.join("prometheus.yml");
    std::fs::write(&cfg, "global: {}\n").unwrap();
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("prometheus.log"))
        .unwrap();
    let child = ChildGuard(
        Command::new(PROMETHEUS)
            .arg(format!("--config.file={}", cfg.display()))
            .arg(format!("--storage.tsdb.path={}", data.display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--web.enable-remote-write-receiver")
            .args(extra)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start prometheus"),
    );
    assert!(
        wait_http_ok(
            &format!("http://127.0.0.1:{port}/-/ready"),
            Duration::from_secs(30)
        ),
        "prometheus did not become ready"
    );
    child
}

fn start_victoria(dir: &Path, port: u16) -> ChildGuard {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("victoria.log"))
        .unwrap();
    let child = ChildGuard(
        Command::new(VICTORIA)
            .arg(format!("-storageDataPath={}", dir.join("vmdata").display()))
            .arg(format!("-httpListenAddr=127.0.0.1:{port}"))
            .arg("-search.latencyOffset=0s")
            .arg("-search.disableCache")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start victoria-metrics"),
    );
    assert!(
        wait_http_ok(
            &format!("http://127.0.0.1:{port}/health"),
            Duration::from_secs(30)
        ),
        "victoria-metrics did not become ready"
    );
    child
}

/// Starts `promtui serve` without waiting for the previous one's lock to go (after a
/// `kill -9` the lock is released with the process).
fn serve(dir: &Path, config: &str, port: u16, extra: &[&str]) -> ChildGuard {
    start_serve(dir, config, port, extra)
}

/// `count_over_time(m{job}[range])` at `t` by series (labels rendered as JSON), from
/// `base`, for the test metric and `up`.
fn counts(base: &str, job: &str, range: &str, t: f64) -> Vec<(String, u64)> {
    let mut all = counts_of(base, &format!("rw_test_metric{{job=\"{job}\"}}"), range, t);
    all.extend(counts_of(base, &format!("up{{job=\"{job}\"}}"), range, t));
    all
}

fn counts_of(base: &str, sel: &str, range: &str, t: f64) -> Vec<(String, u64)> {
    let q = format!("count_over_time({sel}[{range}])");
    let v = api_get(
        base,
        "/api/v1/query",
        &[("query", &q), ("time", &format!("{t:.3}"))],
    )
    .unwrap_or_else(|| panic!("query {q} on {base} failed"));
    let mut out: Vec<(String, u64)> = v["data"]["result"]
        .as_array()
        .unwrap_or_else(|| panic!("bad answer from {base}: {v}"))
        .iter()
        .map(|r| {
            (
                r["metric"].to_string(),
                r["value"][1].as_str().unwrap().parse().unwrap(),
            )
        })
        .collect();
    out.sort();
    out
}

/// A metric of promtui's `/metrics` (first sample whose line starts with `prefix`).
fn metric(base: &str, prefix: &str) -> Option<f64> {
    let text = ureq::get(&format!("{base}/metrics"))
        .call()
        .ok()?
        .into_string()
        .ok()?;
    text.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

fn now_secs() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// Feeds the target a new body every 100 ms until dropped.
struct Feeder {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    h: Option<thread::JoinHandle<()>>,
}

impl Feeder {
    fn start(srv: std::sync::Arc<BodyServer>) -> Feeder {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let s2 = stop.clone();
        let h = thread::spawn(move || {
            let mut i = 1;
            while !s2.load(std::sync::atomic::Ordering::Relaxed) {
                srv.set(0, body(i));
                i += 1;
                thread::sleep(Duration::from_millis(100));
            }
        });
        Feeder { stop, h: Some(h) }
    }
}

impl Drop for Feeder {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(h) = self.h.take() {
            let _ = h.join();
        }
    }
}

/// The scenario both receivers go through: promtui scrapes and remote-writes; the receiver
/// goes away for ~12 s, promtui is killed with SIGKILL during the outage and started again,
/// the receiver comes back, promtui is killed again while sending, and restarted; then
/// both sides must hold the same number of samples per series over the run.
fn outage_and_kill_scenario(
    dir: &Path,
    receiver_write_url: &str,
    receiver_query: &str,
    mut start_receiver: impl FnMut() -> ChildGuard,
) {
    let srv = std::sync::Arc::new(BodyServer::start(vec![(
        body(0),
        "text/plain; version=0.0.4".into(),
    )]));
    let _feed = Feeder::start(srv.clone());
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let extra = format!(
        "remote_write:\n  - url: {receiver_write_url}\n    name: under-test\n    \
         queue_config: {{batch_send_deadline: 200ms, min_backoff: 50ms, max_backoff: 1s, \
         max_samples_per_send: 500}}\n"
    );
    let config = body_target_config(srv.port, "rw", &extra);
    let started = now_secs();
    let mut receiver = start_receiver();
    let mut promtui = serve(dir, &config, port, &[]);
    thread::sleep(Duration::from_secs(4));
    // Outage: the receiver stops; promtui keeps ingesting and retrying.
    receiver.terminate(Duration::from_secs(20));
    drop(receiver);
    thread::sleep(Duration::from_secs(4));
    // kill -9 of promtui in the middle of the outage, then a restart.
    promtui.0.kill().unwrap();
    promtui.0.wait().unwrap();
    drop(promtui);
    let mut promtui = serve(dir, &config, port, &[]);
    thread::sleep(Duration::from_secs(6));
    let receiver = start_receiver();
    // Let it catch up a little, then kill -9 again while it sends.
    thread::sleep(Duration::from_millis(1500));
    promtui.0.kill().unwrap();
    promtui.0.wait().unwrap();
    drop(promtui);
    let promtui = serve(dir, &config, port, &[]);
    thread::sleep(Duration::from_secs(3));
    // Stop scraping so the last samples are fixed, then wait for the queue to drain.
    srv.set(0, b"garbage{".to_vec());
    let end = now_secs() - 1.0;
    wait_until(
        "the queue to send everything",
        Duration::from_secs(60),
        || {
            let sent = metric(
                &base,
                "prometheus_remote_storage_queue_highest_sent_timestamp_seconds{",
            )?;
            let pending = metric(&base, "prometheus_remote_storage_samples_pending{")?;
            (sent >= end - 1.0 && pending == 0.0).then_some(())
        },
    );
    thread::sleep(Duration::from_secs(2));
    let range = format!("{}s", (end - started).ceil() as u64 + 5);
    let ours = counts(&base, "rw", &range, end);
    // The receiver may take a moment to make what it accepted queryable; on a timeout the
    // assertion below shows the difference.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let theirs = loop {
        let t = counts(receiver_query, "rw", &range, end);
        if t == ours || std::time::Instant::now() > deadline {
            break t;
        }
        thread::sleep(Duration::from_millis(500));
    };
    let total: u64 = ours.iter().map(|(_, n)| n).sum();
    assert!(total > 500, "too few samples to mean anything: {total}");
    assert_eq!(ours, theirs);
    eprintln!(
        "{} series, {total} samples arrived once at {receiver_query}",
        ours.len()
    );
    let failed = metric(&base, "prometheus_remote_storage_samples_failed_total{").unwrap();
    assert_eq!(failed, 0.0);
    drop(promtui);
    drop(receiver);
}

#[test]
fn every_sample_arrives_once_at_prometheus_across_an_outage_and_kill_9() {
    if !peer_available(PROMETHEUS) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pdir = dir.path().join("prom");
    std::fs::create_dir_all(&pdir).unwrap();
    let pport = free_port();
    let pdata: PathBuf = pdir.join("data");
    outage_and_kill_scenario(
        dir.path(),
        &format!("http://127.0.0.1:{pport}/api/v1/write"),
        &format!("http://127.0.0.1:{pport}"),
        || start_prometheus_receiver(&pdir, &pdata, pport, &[]),
    );
}

#[test]
fn every_sample_arrives_once_at_victoria_metrics_across_an_outage_and_kill_9() {
    if !peer_available(VICTORIA) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let vdir = dir.path().join("vm");
    std::fs::create_dir_all(&vdir).unwrap();
    let vport = free_port();
    outage_and_kill_scenario(
        dir.path(),
        &format!("http://127.0.0.1:{vport}/api/v1/write"),
        &format!("http://127.0.0.1:{vport}"),
        || start_victoria(&vdir, vport),
    );
}

#[test]
fn prometheus_writes_into_promtui_and_reads_it_back() {
    if !peer_available(PROMETHEUS) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // promtui: receiver on, scrapes nothing.
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let _promtui = serve(
        dir.path(),
        "global: {scrape_interval: 1h}\n",
        port,
        &["--web.enable-remote-write-receiver"],
    );
    // Prometheus A scrapes a target and remote-writes into promtui.
    let srv = std::sync::Arc::new(BodyServer::start(vec![(
        body(0),
        "text/plain; version=0.0.4".into(),
    )]));
    let _feed = Feeder::start(srv.clone());
    let adir = dir.path().join("a");
    std::fs::create_dir_all(&adir).unwrap();
    let aport = free_port();
    std::fs::write(
        adir.join("prometheus.yml"),
        format!(
            "global: {{scrape_interval: 200ms, scrape_timeout: 200ms}}\n\
             remote_write:\n  - url: {base}/api/v1/write\n    \
             queue_config: {{batch_send_deadline: 200ms}}\n\
             scrape_configs:\n  - job_name: pw\n    metrics_path: /b0\n    \
             static_configs: [{{targets: ['127.0.0.1:{}']}}]\n",
            srv.port
        ),
    )
    .unwrap();
    let _a = ChildGuard(
        Command::new(PROMETHEUS)
            .arg(format!(
                "--config.file={}",
                adir.join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                adir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{aport}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let aurl = format!("http://127.0.0.1:{aport}");
    assert!(wait_http_ok(
        &format!("{aurl}/-/ready"),
        Duration::from_secs(30)
    ));
    // Prometheus' queue waits ~5 s (its WAL replay) before it sends anything.
    thread::sleep(Duration::from_secs(9));
    srv.set(0, b"garbage{".to_vec());
    let end = now_secs() - 1.0;
    let theirs = counts(&aurl, "pw", "1m", end);
    let ours = wait_until(
        "Prometheus' samples in promtui",
        Duration::from_secs(30),
        || {
            let o = counts(&base, "pw", "1m", end);
            (o == theirs).then_some(o)
        },
    );
    assert!(ours.len() == 21, "{ours:?}");

    // Prometheus B remote-reads promtui (read_recent) and answers the same query, raw
    // samples included.
    let bdir = dir.path().join("b");
    std::fs::create_dir_all(&bdir).unwrap();
    let bport = free_port();
    std::fs::write(
        bdir.join("prometheus.yml"),
        format!("remote_read:\n  - url: {base}/api/v1/read\n    read_recent: true\n"),
    )
    .unwrap();
    let _b = ChildGuard(
        Command::new(PROMETHEUS)
            .arg(format!(
                "--config.file={}",
                bdir.join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                bdir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{bport}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let burl = format!("http://127.0.0.1:{bport}");
    assert!(wait_http_ok(
        &format!("{burl}/-/ready"),
        Duration::from_secs(30)
    ));
    let via_read = counts(&burl, "pw", "1m", end);
    assert_eq!(
        ours, via_read,
        "Prometheus reading promtui over remote read"
    );
    let raw = |b: &str| {
        api_get(
            b,
            "/api/v1/query",
            &[
                ("query", "rw_test_metric{k=\"3\"}[30s]"),
                ("time", &format!("{end:.3}")),
            ],
        )
        .unwrap()["data"]
            .clone()
    };
    assert_eq!(raw(&base), raw(&burl));
}

#[test]
fn write_relabel_configs_and_external_labels_shape_what_is_sent() {
    if !peer_available(PROMETHEUS) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pdir = dir.path().join("prom");
    std::fs::create_dir_all(&pdir).unwrap();
    let pport = free_port();
    let _p = start_prometheus_receiver(&pdir, &pdir.join("data"), pport, &[]);
    let srv = BodyServer::start(vec![(body(1), "text/plain; version=0.0.4".into())]);
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let extra = format!(
        "  external_labels: {{replica: r1}}\nremote_write:\n  - url: http://127.0.0.1:{pport}/api/v1/write\n    \
         queue_config: {{batch_send_deadline: 100ms}}\n    write_relabel_configs:\n      \
         - source_labels: [k]\n        regex: '1.'\n        action: drop\n"
    );
    let _s = serve(
        dir.path(),
        &body_target_config(srv.port, "rl", &extra),
        port,
        &[],
    );
    let purl = format!("http://127.0.0.1:{pport}");
    let names = wait_until("samples at the receiver", Duration::from_secs(20), || {
        let v = api_get(&purl, "/api/v1/series", &[("match[]", "rw_test_metric")])?;
        let d = v["data"].as_array()?.clone();
        (d.len() == 10).then_some(d)
    });
    for s in &names {
        assert_eq!(s["replica"], "r1", "{s}");
        assert!(
            !s["k"].as_str().unwrap().starts_with('1') || s["k"] == "1",
            "{s}"
        );
    }
    wait_until("dropped samples counted", Duration::from_secs(10), || {
        (metric(&base, "prometheus_remote_storage_samples_dropped_total{")? > 0.0).then_some(())
    });
}

/// The receiver refuses what it must refuse: disabled without the flag (404, as upstream),
/// a body that is not snappy (400), out-of-order samples (400); and accepts a valid request
/// with 204.
#[test]
fn receiver_status_codes() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let s = serve(dir.path(), "global: {scrape_interval: 1h}\n", port, &[]);
    let post = |body: &[u8]| match ureq::post(&format!("{base}/api/v1/write"))
        .set("Content-Encoding", "snappy")
        .send_bytes(body)
    {
        Ok(r) => r.status(),
        Err(ureq::Error::Status(c, _)) => c,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(post(b"x"), 404);
    drop(s);
    let dir = tempfile::tempdir().unwrap();
    let _s = serve(
        dir.path(),
        "global: {scrape_interval: 1h}\n",
        port,
        &["--web.enable-remote-write-receiver"],
    );
    assert_eq!(post(b"not snappy"), 400);
    let req = |t: i64, v: f64| {
        use promtui::remote::proto::*;
        encode_snappy(&WriteRequest {
            timeseries: vec![TimeSeries {
                labels: vec![Label {
                    name: "__name__".into(),
                    value: "pushed".into(),
                }],
                samples: vec![Sample {
                    value: v,
                    timestamp: t,
                }],
                exemplars: vec![],
            }],
            metadata: vec![],
        })
    };
    let now = (now_secs() * 1000.0) as i64;
    assert_eq!(post(&req(now, 1.0)), 204);
    assert_eq!(post(&req(now, 1.0)), 204, "an identical resend is accepted");
    assert_eq!(post(&req(now - 1000, 2.0)), 400, "out of order");
    let v = api_get(
        &base,
        "/api/v1/query",
        &[
            ("query", "pushed"),
            ("time", &format!("{:.3}", now as f64 / 1000.0)),
        ],
    )
    .unwrap();
    assert_eq!(v["data"]["result"][0]["value"][1], "1");
}

/// A reload that changes a queue (while its receiver is down, so samples are pending),
/// adds one and later removes one: the changed queue resumes where the old one stopped,
/// so everything ingested arrives; the removed queue's metrics go away.
#[test]
fn reload_changes_adds_and_removes_queues_without_losing_pending_samples() {
    if !peer_available(PROMETHEUS) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pdir = dir.path().join("prom");
    std::fs::create_dir_all(&pdir).unwrap();
    let pport = free_port();
    let srv = std::sync::Arc::new(BodyServer::start(vec![(
        body(0),
        "text/plain; version=0.0.4".into(),
    )]));
    let _feed = Feeder::start(srv.clone());
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    // Queue b goes elsewhere: two queues into one receiver would race each other's
    // samples into out-of-order refusals.
    let other = free_port();
    let queue = |name: &str, per_send: u32| {
        let port = if name == "b" { other } else { pport };
        format!(
            "  - url: http://127.0.0.1:{port}/api/v1/write\n    name: {name}\n    \
             queue_config: {{batch_send_deadline: 200ms, min_backoff: 50ms, max_backoff: 500ms, \
             max_samples_per_send: {per_send}}}\n"
        )
    };
    let cfg =
        |queues: &str| body_target_config(srv.port, "rl", &format!("remote_write:\n{queues}"));
    let started = now_secs();
    let _s = serve(
        dir.path(),
        &cfg(&queue("a", 500)),
        port,
        &["--web.enable-lifecycle"],
    );
    thread::sleep(Duration::from_secs(3));
    let pending = metric(
        &base,
        "prometheus_remote_storage_samples_pending{remote_name=\"a\"",
    )
    .unwrap();
    assert!(pending > 0.0, "the receiver is down: samples wait");
    std::fs::write(
        dir.path().join("promtui.yml"),
        cfg(&format!("{}{}", queue("a", 100), queue("b", 500))),
    )
    .unwrap();
    let r = ureq::post(&format!("{base}/-/reload")).call().unwrap();
    assert_eq!(r.status(), 200);
    assert!(metric(&base, "prometheus_remote_storage_shards{remote_name=\"b\"").is_some());
    thread::sleep(Duration::from_secs(1));
    let _p = start_prometheus_receiver(&pdir, &pdir.join("data"), pport, &[]);
    thread::sleep(Duration::from_secs(2));
    srv.set(0, b"garbage{".to_vec());
    let end = now_secs() - 1.0;
    wait_until("queue a to drain", Duration::from_secs(60), || {
        let sent = metric(
            &base,
            "prometheus_remote_storage_queue_highest_sent_timestamp_seconds{remote_name=\"a\"",
        )?;
        let pending = metric(
            &base,
            "prometheus_remote_storage_samples_pending{remote_name=\"a\"",
        )?;
        (sent >= end - 1.0 && pending == 0.0).then_some(())
    });
    let range = format!("{}s", (end - started).ceil() as u64 + 5);
    let ours = counts(&base, "rl", &range, end);
    let purl = format!("http://127.0.0.1:{pport}");
    wait_until(
        "the receiver to hold everything",
        Duration::from_secs(20),
        || (counts(&purl, "rl", &range, end) == ours).then_some(()),
    );
    std::fs::write(dir.path().join("promtui.yml"), cfg(&queue("a", 100))).unwrap();
    let r = ureq::post(&format!("{base}/-/reload")).call().unwrap();
    assert_eq!(r.status(), 200);
    assert!(metric(&base, "prometheus_remote_storage_shards{remote_name=\"b\"").is_none());
    assert!(metric(&base, "prometheus_remote_storage_shards{remote_name=\"a\"").is_some());
}

/// promtui's own `remote_read`: a Prometheus holds series promtui never scraped; queries
/// on promtui see them (with `read_recent`), and not when `required_matchers` rule the
/// endpoint out.
#[test]
fn promtui_queries_fan_out_to_remote_read_endpoints() {
    if !peer_available(PROMETHEUS) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let srv = BodyServer::start(vec![(body(7), "text/plain; version=0.0.4".into())]);
    let adir = dir.path().join("a");
    std::fs::create_dir_all(&adir).unwrap();
    let aport = free_port();
    std::fs::write(
        adir.join("prometheus.yml"),
        format!(
            "global: {{scrape_interval: 200ms, scrape_timeout: 200ms}}\n\
             scrape_configs:\n  - job_name: far\n    metrics_path: /b0\n    \
             static_configs: [{{targets: ['127.0.0.1:{}']}}]\n",
            srv.port
        ),
    )
    .unwrap();
    let _a = ChildGuard(
        Command::new(PROMETHEUS)
            .arg(format!(
                "--config.file={}",
                adir.join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                adir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{aport}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let aurl = format!("http://127.0.0.1:{aport}");
    assert!(wait_http_ok(
        &format!("{aurl}/-/ready"),
        Duration::from_secs(30)
    ));
    // Prometheus starts scraping ~5 s after it is ready.
    wait_until("Prometheus to scrape", Duration::from_secs(30), || {
        (counts(&aurl, "far", "1m", now_secs()).len() == 21).then_some(())
    });
    thread::sleep(Duration::from_secs(1));
    let end = now_secs() - 0.5;
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let cfg = format!(
        "global: {{scrape_interval: 1h}}\nremote_read:\n  - url: {aurl}/api/v1/read\n    \
         read_recent: true\n  - url: {aurl}/api/v1/read\n    name: never\n    \
         required_matchers: {{job: nope}}\n"
    );
    let _s = serve(dir.path(), &cfg, port, &[]);
    let theirs = counts(&aurl, "far", "1m", end);
    assert_eq!(theirs.len(), 21, "{theirs:?}");
    assert_eq!(counts(&base, "far", "1m", end), theirs);
    // Only the endpoint whose required matchers the query has is asked.
    let cfg = format!(
        "global: {{scrape_interval: 1h}}\nremote_read:\n  - url: {aurl}/api/v1/read\n    \
         read_recent: true\n    required_matchers: {{job: nope}}\n"
    );
    std::fs::write(dir.path().join("promtui.yml"), cfg).unwrap();
    let _ = ureq::post(&format!("{base}/-/reload")).call();
    // Without --web.enable-lifecycle the reload goes through SIGHUP.
    let _ = Command::new("kill")
        .args(["-HUP", &_s.0.id().to_string()])
        .status();
    wait_until(
        "the reload to drop the endpoint",
        Duration::from_secs(10),
        || counts(&base, "far", "1m", end).is_empty().then_some(()),
    );
}
