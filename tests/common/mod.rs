//! Helpers shared by the end-to-end and interop tests: peer discovery with the
//! skip/require rule, the shared test data directory, free loopback ports, child-process
//! guards, starting the peers (Prometheus, Alertmanager, node_exporter, `promtui serve`),
//! a tiny HTTP server of fixed bodies, and JSON API calls. Submodules: `pki` (test
//! certificates), `tmux` (the end-to-end TUI driver), `snapshot` (the TUI golden files).
#![allow(dead_code)]

pub mod pki;
pub mod snapshot;
pub mod tmux;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

pub const PROMETHEUS: &str = "/usr/bin/prometheus";
pub const PROMTOOL: &str = "/usr/bin/promtool";
pub const NODE_EXPORTER: &str = "/usr/bin/prometheus-node-exporter";
pub const ALERTMANAGER: &str = "/usr/bin/prometheus-alertmanager";

/// Series Prometheus adds to every target.
pub const SYNTHETIC: [&str; 5] = [
    "up",
    "scrape_duration_seconds",
    "scrape_samples_scraped",
    "scrape_samples_post_metric_relabeling",
    "scrape_series_added",
];

pub fn require_peers() -> bool {
    std::env::var("PROMTUI_REQUIRE_PEERS").is_ok_and(|v| v == "1")
}

/// True when `bin` exists; otherwise prints why the caller skips (or panics when peers
/// are required).
pub fn peer_available(bin: &str) -> bool {
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

/// The shared/ directory beside the repository (or `PROMTUI_SHARED`).
pub fn shared_dir() -> PathBuf {
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

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Kills and reaps the child on drop, so no peer outlives the test.
pub struct ChildGuard(pub Child);

impl ChildGuard {
    /// Sends SIGTERM and waits up to `timeout` for a graceful exit; returns its status code.
    pub fn terminate(&mut self, timeout: Duration) -> Option<i32> {
        let pid = self.0.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(st)) = self.0.try_wait() {
                return st.code();
            }
            thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A response body and its Content-Type.
pub type Body = (Vec<u8>, String);

/// Serves fixed bodies at `/b<index>` (with the given Content-Type) until dropped; bodies
/// can be replaced while it runs.
pub struct BodyServer {
    pub port: u16,
    bodies: Arc<Mutex<Vec<Body>>>,
    stop: Arc<AtomicBool>,
    handle: Option<thread::JoinHandle<()>>,
}

impl BodyServer {
    pub fn start(bodies: Vec<Body>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let bodies = Arc::new(Mutex::new(bodies));
        let (stop2, bodies2) = (stop.clone(), bodies.clone());
        let handle = thread::spawn(move || {
            while !stop2.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let b = bodies2.lock().unwrap().clone();
                        serve_one(stream, &b);
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        thread::sleep(Duration::from_millis(5));
                    }
                    Err(_) => break,
                }
            }
        });
        BodyServer {
            port,
            bodies,
            stop,
            handle: Some(handle),
        }
    }

    /// Replaces body `i`.
    pub fn set(&self, i: usize, body: Vec<u8>) {
        self.bodies.lock().unwrap()[i].0 = body;
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

fn serve_one(stream: TcpStream, bodies: &[Body]) {
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
    let target = request_line.split_whitespace().nth(1).unwrap_or("");
    let path = target.split('?').next().unwrap_or("");
    let found = path
        .strip_prefix("/b")
        .and_then(|i| i.parse::<usize>().ok())
        .and_then(|i| bodies.get(i));
    let mut stream = reader.into_inner();
    let _ = match found {
        Some((body, content_type)) => stream
            .write_all(
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
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

/// Starts node_exporter on a free port, waiting until it answers; returns it and its port.
pub fn start_node_exporter(dir: &Path) -> (ChildGuard, u16) {
    let port = free_port();
    let log = std::fs::File::create(dir.join("node_exporter.log")).unwrap();
    let ne = ChildGuard(
        Command::new(NODE_EXPORTER)
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start node_exporter"),
    );
    let url = format!("http://127.0.0.1:{port}/metrics");
    let deadline = Instant::now() + Duration::from_secs(10);
    while ureq::get(&url).call().is_err() {
        assert!(Instant::now() < deadline, "node_exporter did not answer");
        thread::sleep(Duration::from_millis(100));
    }
    (ne, port)
}

/// Starts Prometheus on `port` with `config` and its TSDB in `data` (stdout dropped,
/// stderr to `stderr`), without waiting for it to be ready.
pub fn spawn_prometheus(
    config: &Path,
    data: &Path,
    port: u16,
    stderr: impl Into<Stdio>,
) -> ChildGuard {
    ChildGuard(
        Command::new(PROMETHEUS)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", data.display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("start prometheus"),
    )
}

/// Starts Alertmanager without clustering on a free port, with `dir/am.yml` (written by
/// the caller), its data in `dir/am` and `extra` flags (stdout dropped, stderr to
/// `stderr`); waits up to 30 s until it is ready. Returns it and its port.
pub fn start_alertmanager(
    dir: &Path,
    extra: &[&str],
    stderr: impl Into<Stdio>,
) -> (ChildGuard, u16) {
    let port = free_port();
    let am = ChildGuard(
        Command::new(ALERTMANAGER)
            .arg(format!("--config.file={}", dir.join("am.yml").display()))
            .arg(format!("--storage.path={}", dir.join("am").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .args(extra)
            .arg("--cluster.listen-address=")
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("start alertmanager"),
    );
    assert!(
        wait_http_ok(
            &format!("http://127.0.0.1:{port}/-/ready"),
            Duration::from_secs(30)
        ),
        "alertmanager did not become ready"
    );
    (am, port)
}

/// Starts node_exporter and captures one text-format body.
pub fn capture_node_exporter(dir: &Path) -> Vec<u8> {
    let (_ne, port) = start_node_exporter(dir);
    let resp = ureq::get(&format!("http://127.0.0.1:{port}/metrics"))
        .set("Accept", "text/plain;version=0.0.4")
        .call()
        .expect("node_exporter body");
    let mut body = Vec::new();
    resp.into_reader().read_to_end(&mut body).unwrap();
    body
}

/// GET `base+path` with query parameters, parsed as JSON; `None` on any failure.
pub fn api_get(base: &str, path: &str, query: &[(&str, &str)]) -> Option<serde_json::Value> {
    let mut req = ureq::get(&format!("{base}{path}"));
    for (k, v) in query {
        req = req.query(k, v);
    }
    serde_json::from_str(&req.call().ok()?.into_string().ok()?).ok()
}

/// Polls `url` until it answers 200 or `timeout` passes.
pub fn wait_http_ok(url: &str, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if ureq::get(url).call().is_ok() {
            return true;
        }
        thread::sleep(Duration::from_millis(50));
    }
    false
}

/// Writes `config` to `dir/promtui.yml` and starts `promtui serve` on it (data in
/// `dir/data`, API on `port`, warnings only, plus `extra` flags); waits until it is ready.
pub fn start_serve(dir: &Path, config: &str, port: u16, extra: &[&str]) -> ChildGuard {
    let cfg = dir.join("promtui.yml");
    std::fs::write(&cfg, config).unwrap();
    let server = ChildGuard(
        Command::new(env!("CARGO_BIN_EXE_promtui"))
            .args(["serve", "--log.level=warn"])
            .args(extra)
            .arg(format!("--config.file={}", cfg.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .spawn()
            .expect("start promtui serve"),
    );
    assert!(
        wait_http_ok(
            &format!("http://127.0.0.1:{port}/-/ready"),
            Duration::from_secs(20)
        ),
        "promtui serve did not become ready"
    );
    server
}

/// Polls `f` every 100 ms until it gives a value, failing after `timeout`.
pub fn wait_until<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(100));
    }
}

/// A prometheus.yml that scrapes `/b0` of a [`BodyServer`] every 200 ms as job `job`,
/// with `extra` (top-level YAML) after the global section.
pub fn body_target_config(target_port: u16, job: &str, extra: &str) -> String {
    format!(
        "global:\n  scrape_interval: 200ms\n  scrape_timeout: 200ms\n{extra}scrape_configs:\n  \
         - job_name: {job}\n    metrics_path: /b0\n    static_configs:\n      \
         - targets: ['127.0.0.1:{target_port}']\n"
    )
}
