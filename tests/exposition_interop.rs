//! Interop: a real Prometheus 2.42 (`/usr/bin/prometheus`) scrapes the shared exposition
//! samples, a captured node_exporter body, and that body re-written by our OpenMetrics
//! writer, all served from a tiny HTTP server in this test; the series and values it
//! ingests must equal what our parser yields for the same bytes.
//!
//! Skips with a printed reason when a peer binary is missing, unless
//! `PROMTUI_REQUIRE_PEERS=1`, in which case it fails.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use promtui::exposition::{parse_families, parse_samples, write_openmetrics, Format};
use promtui::model::Labels;

const PROMETHEUS: &str = "/usr/bin/prometheus";
const NODE_EXPORTER: &str = "/usr/bin/prometheus-node-exporter";

/// Series Prometheus adds to every target.
const SYNTHETIC: [&str; 5] = [
    "up",
    "scrape_duration_seconds",
    "scrape_samples_scraped",
    "scrape_samples_post_metric_relabeling",
    "scrape_series_added",
];

fn require_peers() -> bool {
    std::env::var("PROMTUI_REQUIRE_PEERS").is_ok_and(|v| v == "1")
}

/// True when `bin` exists; otherwise prints why the caller skips (or panics when peers
/// are required).
fn peer_available(bin: &str) -> bool {
    if Path::new(bin).exists() {
        return true;
    }
    assert!(
        !require_peers(),
        "{bin} is missing and PROMTUI_REQUIRE_PEERS=1"
    );
    eprintln!("skipping: {bin} is not installed");
    false
}

fn shared_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("PROMTUI_SHARED") {
        return PathBuf::from(dir);
    }
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    for candidate in [manifest.join("../shared"), manifest.join("../../shared")] {
        if candidate.join("testdata").is_dir() {
            return candidate;
        }
    }
    panic!("shared test data not found: set PROMTUI_SHARED");
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Kills and reaps the child on drop, so no peer outlives the test.
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Serves fixed bodies at `/b<index>` until dropped.
struct BodyServer {
    port: u16,
    stop: Arc<AtomicBool>,
    handle: Option<thread::JoinHandle<()>>,
}

impl BodyServer {
    fn start(bodies: Vec<(Vec<u8>, Format)>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let handle = thread::spawn(move || {
            while !stop2.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => serve_one(stream, &bodies),
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        thread::sleep(Duration::from_millis(5));
                    }
                    Err(_) => break,
                }
            }
        });
        BodyServer {
            port,
            stop,
            handle: Some(handle),
        }
    }
}

impl Drop for BodyServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

fn serve_one(stream: TcpStream, bodies: &[(Vec<u8>, Format)]) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut reader = BufReader::new(stream);
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    // Drain the headers.
    loop {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) if line == "\r\n" || line == "\n" => break,
            Ok(_) => {}
        }
    }
    let path = request_line.split_whitespace().nth(1).unwrap_or("");
    let found = path
        .strip_prefix("/b")
        .and_then(|i| i.parse::<usize>().ok())
        .and_then(|i| bodies.get(i));
    let mut stream = reader.into_inner();
    let _ = match found {
        Some((body, format)) => stream
            .write_all(
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    format.content_type(),
                    body.len()
                )
                .as_bytes(),
            )
            .and_then(|_| stream.write_all(body)),
        None => stream.write_all(
            b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        ),
    };
}

/// Starts node_exporter on a free port and captures one text-format body.
fn capture_node_exporter(dir: &Path) -> Vec<u8> {
    let port = free_port();
    let log = std::fs::File::create(dir.join("node_exporter.log")).unwrap();
    let _ne = ChildGuard(
        Command::new(NODE_EXPORTER)
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start node_exporter"),
    );
    let url = format!("http://127.0.0.1:{port}/metrics");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(resp) = ureq::get(&url)
            .set("Accept", "text/plain;version=0.0.4")
            .call()
        {
            let mut body = Vec::new();
            resp.into_reader().read_to_end(&mut body).unwrap();
            return body;
        }
        assert!(Instant::now() < deadline, "node_exporter did not answer");
        thread::sleep(Duration::from_millis(100));
    }
}

fn api_get(base: &str, path: &str, query: &[(&str, &str)]) -> Option<serde_json::Value> {
    let mut req = ureq::get(&format!("{base}{path}"));
    for (k, v) in query {
        req = req.query(k, v);
    }
    serde_json::from_str(&req.call().ok()?.into_string().ok()?).ok()
}

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

    let server = BodyServer::start(bodies.iter().map(|(_, b, f)| (b.clone(), *f)).collect());
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
