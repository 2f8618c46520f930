//! Helpers for the tests/alerting_*.rs files: a webhook sink that records every
//! notification body, starting promtui with a built-in Alertmanager configuration and
//! the real Alertmanager 0.25 on free ports, and JSON calls to the API v2.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use super::common::{free_port, wait_http_ok, ChildGuard};

pub const ALERTMANAGER: &str = "/usr/bin/prometheus-alertmanager";
pub const AMTOOL: &str = "/usr/bin/amtool";
pub const PROMTUI: &str = env!("CARGO_BIN_EXE_promtui");

/// Records the JSON bodies POSTed to it (answering 200), in arrival order.
pub struct WebhookSink {
    pub port: u16,
    pub bodies: Arc<Mutex<Vec<serde_json::Value>>>,
    /// When each body arrived (same order as `bodies`).
    pub arrivals: Arc<Mutex<Vec<Instant>>>,
}

impl WebhookSink {
    pub fn start() -> WebhookSink {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let bodies: Arc<Mutex<Vec<serde_json::Value>>> = Arc::default();
        let arrivals: Arc<Mutex<Vec<Instant>>> = Arc::default();
        let b = bodies.clone();
        let t = arrivals.clone();
        thread::spawn(move || {
            for s in l.incoming() {
                let Ok(mut s) = s else { continue };
                let b = b.clone();
                let t = t.clone();
                thread::spawn(move || {
                    let mut r = BufReader::new(s.try_clone().unwrap());
                    loop {
                        let mut len = 0usize;
                        let mut line = String::new();
                        if r.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        loop {
                            line.clear();
                            if r.read_line(&mut line).unwrap_or(0) == 0 {
                                return;
                            }
                            let t = line.trim_end();
                            if t.is_empty() {
                                break;
                            }
                            if let Some((k, v)) = t.split_once(':') {
                                if k.eq_ignore_ascii_case("content-length") {
                                    len = v.trim().parse().unwrap_or(0);
                                }
                            }
                        }
                        let mut body = vec![0; len];
                        if r.read_exact(&mut body).is_err() {
                            return;
                        }
                        if let Ok(v) = serde_json::from_slice(&body) {
                            let mut bl = b.lock().unwrap();
                            bl.push(v);
                            t.lock().unwrap().push(Instant::now());
                        }
                        let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
                    }
                });
            }
        });
        WebhookSink {
            port,
            bodies,
            arrivals,
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }

    pub fn take(&self) -> Vec<serde_json::Value> {
        let mut b = self.bodies.lock().unwrap();
        self.arrivals.lock().unwrap().clear();
        std::mem::take(&mut *b)
    }

    /// Bodies with their arrival times.
    pub fn timed(&self) -> Vec<(Instant, serde_json::Value)> {
        let b = self.bodies.lock().unwrap();
        let t = self.arrivals.lock().unwrap();
        t.iter().copied().zip(b.iter().cloned()).collect()
    }

    pub fn snapshot(&self) -> Vec<serde_json::Value> {
        self.bodies.lock().unwrap().clone()
    }
}

/// A running promtui with its built-in Alertmanager.
pub struct Promtui {
    pub child: ChildGuard,
    pub web: u16,
    pub am: u16,
}

impl Promtui {
    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.am)
    }
}

/// Starts promtui serve in `dir` with `am_yml` (written to dir/alertmanager.yml) on free
/// ports, reusing `ports` when given (a restart).
pub fn start_promtui(dir: &Path, am_yml: &str, ports: Option<(u16, u16)>) -> Promtui {
    let am_cfg = dir.join("alertmanager.yml");
    std::fs::write(&am_cfg, am_yml).unwrap();
    let prom_cfg = dir.join("promtui.yml");
    if !prom_cfg.exists() {
        std::fs::write(&prom_cfg, "global:\n  scrape_interval: 1h\n").unwrap();
    }
    let (web, am) = ports.unwrap_or_else(|| (free_port(), free_port()));
    let child = ChildGuard(
        Command::new(PROMTUI)
            .args(["serve", "--log.level=warn", "--web.enable-lifecycle"])
            .arg(format!("--config.file={}", prom_cfg.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{web}"))
            .arg(format!("--alertmanager.listen-address=127.0.0.1:{am}"))
            .arg(format!("--alertmanager.config.file={}", am_cfg.display()))
            .stdout(Stdio::null())
            .spawn()
            .expect("start promtui serve"),
    );
    assert!(
        wait_http_ok(
            &format!("http://127.0.0.1:{am}/-/ready"),
            Duration::from_secs(20)
        ),
        "promtui did not become ready"
    );
    Promtui { child, web, am }
}

/// Starts Alertmanager 0.25 with `am_yml` in `dir` on a free port; returns it and its URL.
pub fn start_alertmanager(dir: &Path, am_yml: &str) -> (ChildGuard, String) {
    let cfg = dir.join("am-real.yml");
    std::fs::write(&cfg, am_yml).unwrap();
    let port = free_port();
    let child = ChildGuard(
        Command::new(ALERTMANAGER)
            .arg(format!("--config.file={}", cfg.display()))
            .arg(format!("--storage.path={}", dir.join("am-data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--cluster.listen-address=")
            .arg("--log.level=warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start alertmanager"),
    );
    let url = format!("http://127.0.0.1:{port}");
    assert!(
        wait_http_ok(&format!("{url}/-/ready"), Duration::from_secs(20)),
        "alertmanager did not become ready"
    );
    (child, url)
}

/// POSTs `body` as JSON; returns the status and the body.
pub fn post(url: &str, body: &serde_json::Value) -> (u16, String) {
    match ureq::post(url)
        .set("Content-Type", "application/json")
        .send_string(&body.to_string())
    {
        Ok(r) => (r.status(), r.into_string().unwrap_or_default()),
        Err(ureq::Error::Status(code, r)) => (code, r.into_string().unwrap_or_default()),
        Err(e) => panic!("POST {url}: {e}"),
    }
}

pub fn get(url: &str) -> (u16, String) {
    match ureq::get(url).call() {
        Ok(r) => (r.status(), r.into_string().unwrap_or_default()),
        Err(ureq::Error::Status(code, r)) => (code, r.into_string().unwrap_or_default()),
        Err(e) => panic!("GET {url}: {e}"),
    }
}

pub fn delete(url: &str) -> (u16, String) {
    match ureq::delete(url).call() {
        Ok(r) => (r.status(), r.into_string().unwrap_or_default()),
        Err(ureq::Error::Status(code, r)) => (code, r.into_string().unwrap_or_default()),
        Err(e) => panic!("DELETE {url}: {e}"),
    }
}

pub fn get_json(url: &str) -> serde_json::Value {
    let (code, body) = get(url);
    assert_eq!(code, 200, "GET {url}: {body}");
    serde_json::from_str(&body).unwrap()
}

/// Runs amtool with `args`; returns exit code, stdout, stderr.
pub fn amtool(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(AMTOOL)
        .args(args)
        .output()
        .expect("run amtool");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Waits until `f` holds, failing after `timeout`.
pub fn eventually(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(100));
    }
}
