//! promtui against Prometheus 2.42 (Debian's /usr/bin/prometheus) on the API's edges:
//! both servers scrape themselves on loopback with the admin and lifecycle APIs enabled,
//! and each request below must get the same status code and the same JSON *shape* (keys,
//! value types, `status` and `errorType`) from both. Values differ by nature (times,
//! metric families, snapshot names) and are not compared.
//!
//! Where promtui deliberately differs (unknown API paths and 405 answer JSON instead of Go's
//! plain text), only the status code is compared. Skips with a printed reason when
//! Prometheus is missing, unless `PROMTUI_REQUIRE_PEERS=1`.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

fn config(dir: &Path, name: &str, port: u16) -> std::path::PathBuf {
    let cfg = dir.join(name);
    std::fs::write(
        &cfg,
        format!(
            "global:\n  scrape_interval: 200ms\n  scrape_timeout: 200ms\nscrape_configs:\n  - job_name: self\n    static_configs:\n      - targets: ['127.0.0.1:{port}']\n"
        ),
    )
    .unwrap();
    cfg
}

fn start_prometheus(dir: &Path, port: u16) -> ChildGuard {
    let cfg = config(dir, "prometheus.yml", port);
    let log = std::fs::File::create(dir.join("prometheus.log")).unwrap();
    ChildGuard(
        Command::new(PROMETHEUS)
            .arg(format!("--config.file={}", cfg.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("prom-data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .args(["--web.enable-admin-api", "--web.enable-lifecycle"])
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start prometheus"),
    )
}

fn start_promtui(dir: &Path, port: u16) -> ChildGuard {
    let cfg = config(dir, "promtui.yml", port);
    ChildGuard(
        Command::new(env!("CARGO_BIN_EXE_promtui"))
            .args(["serve", "--log.level=warn"])
            .arg(format!("--config.file={}", cfg.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("promtui-data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .args(["--web.enable-admin-api", "--web.enable-lifecycle"])
            .current_dir(dir)
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

/// One raw HTTP/1.1 exchange (so the request target goes out exactly as written):
/// status and body.
fn raw(port: u16, method: &str, target: &str) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(
        format!("{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
            .as_bytes(),
    )
    .unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let code = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status line from :{port} for {target}: {text:?}"));
    // Go answers some bodies chunked; only the small JSON bodies here are parsed, so a
    // chunked body is de-chunked naively.
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_string()
    };
    (code, body)
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&rest[..n]);
        body = rest[n..].strip_prefix("\r\n").unwrap_or(&rest[n..]);
    }
    out
}

/// The JSON shape: keys and value types, with `status` and `errorType` kept literally.
fn shape(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| {
                    let s = if k == "status" || k == "errorType" {
                        v.clone()
                    } else {
                        shape(v)
                    };
                    (k.clone(), s)
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.first().map(shape).into_iter().collect()),
        Value::String(_) => Value::from("string"),
        Value::Number(_) => Value::from("number"),
        Value::Bool(_) => Value::from("bool"),
        Value::Null => Value::Null,
    }
}

fn wait_for(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn has_metadata(port: u16) -> bool {
    let (code, body) = raw(
        port,
        "GET",
        "/api/v1/targets/metadata?metric=process_cpu_seconds_total",
    );
    code == 200
        && serde_json::from_str::<Value>(&body)
            .ok()
            .and_then(|v| v["data"].as_array().map(|a| !a.is_empty()))
            .unwrap_or(false)
}

#[test]
fn api_edges_have_the_shapes_of_prometheus_2_42() {
    if !peer_available(PROMETHEUS) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (pport, tport) = (free_port(), free_port());
    let _prom = start_prometheus(dir.path(), pport);
    let _ours = start_promtui(dir.path(), tport);
    for port in [pport, tport] {
        assert!(
            wait_http_ok(
                &format!("http://127.0.0.1:{port}/-/ready"),
                Duration::from_secs(60)
            ),
            "server on :{port} did not become ready"
        );
        wait_for(
            &format!("metadata from :{port}'s self-scrape"),
            Duration::from_secs(60),
            || has_metadata(port),
        );
    }

    // (method, target, compare the body's shape too)
    let cases: &[(&str, &str, bool)] = &[
        ("GET", "/api/v1/status/runtimeinfo", true),
        ("GET", "/api/v1/status/walreplay", true),
        (
            "GET",
            "/api/v1/metadata?metric=process_cpu_seconds_total",
            true,
        ),
        ("GET", "/api/v1/metadata?metric=no_such_family", true),
        ("GET", "/api/v1/metadata?limit=x", true),
        (
            "GET",
            "/api/v1/targets/metadata?metric=process_cpu_seconds_total",
            true,
        ),
        (
            "GET",
            "/api/v1/targets/metadata?match_target=%7Bjob%3D%22self%22%7D&limit=1",
            true,
        ),
        (
            "GET",
            "/api/v1/targets/metadata?match_target=%7Bjob%3D%22nope%22%7D",
            true,
        ),
        ("GET", "/api/v1/targets/metadata?match_target=%7B", true),
        ("GET", "/api/v1/targets/metadata?limit=x", true),
        ("POST", "/api/v1/admin/tsdb/snapshot", true),
        ("PUT", "/api/v1/admin/tsdb/snapshot?skip_head=true", true),
        ("POST", "/api/v1/admin/tsdb/snapshot?skip_head=x", true),
        ("GET", "/api/v1/query?query=up{job=\"self\"}", true),
        ("GET", "/api/v1/query?query=up{job=~\"self|x\"}", true),
        ("GET", "/api/v1/query?query=up{job=%22%ff%22}", true),
        ("GET", "/api/v1/label/%ff/values", true),
        ("GET", "/api/v1/admin/tsdb/snapshot", false),
        ("GET", "/api/v1/nope", false),
        ("GET", "/nope", false),
    ];
    let mut diffs = Vec::new();
    for (method, target, body_too) in cases {
        let (pc, pb) = raw(pport, method, target);
        let (tc, tb) = raw(tport, method, target);
        if pc != tc {
            diffs.push(format!(
                "{method} {target}: status {tc} (promtui) vs {pc} (Prometheus)\n  promtui: {tb}\n  Prometheus: {pb}"
            ));
            continue;
        }
        if !body_too {
            continue;
        }
        let parse = |b: &str, who: &str| -> Value {
            serde_json::from_str(b)
                .unwrap_or_else(|e| panic!("{who} {method} {target}: not JSON ({e}): {b}"))
        };
        let (ps, ts) = (
            shape(&parse(&pb, "Prometheus")),
            shape(&parse(&tb, "promtui")),
        );
        if ps != ts {
            diffs.push(format!(
                "{method} {target}: shape\n  promtui:    {ts}\n  Prometheus: {ps}"
            ));
        }
    }
    // limit=1 keeps one family in both.
    for port in [pport, tport] {
        let v: Value =
            serde_json::from_str(&raw(port, "GET", "/api/v1/metadata?limit=1").1).unwrap();
        assert_eq!(v["data"].as_object().map(|m| m.len()), Some(1), ":{port}");
    }
    // Both shut down on POST /-/quit with the same answer.
    let (pc, pb) = raw(pport, "POST", "/-/quit");
    let (tc, tb) = raw(tport, "POST", "/-/quit");
    if (pc, &pb) != (tc, &tb) {
        diffs.push(format!(
            "POST /-/quit: {tc} {tb:?} (promtui) vs {pc} {pb:?} (Prometheus)"
        ));
    }
    assert!(diffs.is_empty(), "differences:\n{}", diffs.join("\n"));
    for port in [pport, tport] {
        wait_for(
            &format!(":{port} to stop after /-/quit"),
            Duration::from_secs(30),
            || TcpStream::connect(("127.0.0.1", port)).is_err(),
        );
    }
}
