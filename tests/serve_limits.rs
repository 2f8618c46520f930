//! Resource limits and process behaviour of `promtui serve` through the real binary:
//! `--query.max-concurrency` queueing (and its flags given before the subcommand), SIGTERM
//! cancelling running queries instead of waiting for them, a scrape target streaming an
//! endless body (plain and gzip) failing with "body size limit exceeded" while the
//! process' memory stays bounded, and start-up errors that print each cause once.

mod common;

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

const BIN: &str = env!("CARGO_BIN_EXE_promtui");

/// First timestamp of the test data (s), a multiple of 2 h.
const T0: i64 = 1_700_006_400;

/// Imports `series` counters of 2 h at 15 s into `dir` with `promtui tsdb import`.
fn import_counters(dir: &Path, series: usize) {
    let mut om = String::from("# TYPE m counter\n");
    for i in 0..series {
        for s in 0..480 {
            om.push_str(&format!(
                "m_total{{i=\"{i}\"}} {} {}\n",
                s * (i + 1),
                T0 + s as i64 * 15
            ));
        }
    }
    om.push_str("# EOF\n");
    let file = dir.join("data.om");
    std::fs::write(&file, om).unwrap();
    let out = Command::new(BIN)
        .args(["tsdb", "import", "openmetrics"])
        .arg(&file)
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .arg("--storage.tsdb.retention.time=0")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Starts `promtui <args>` on a free port with an empty configuration over `dir/data` and
/// waits until it is ready; returns the process and its base URL.
fn start(dir: &Path, before: &[&str], after: &[&str]) -> (ChildGuard, String) {
    let cfg = dir.join("empty.yml");
    std::fs::write(&cfg, "global: {}\n").unwrap();
    start_with_config(dir, &cfg, before, after)
}

fn start_with_config(
    dir: &Path,
    cfg: &Path,
    before: &[&str],
    after: &[&str],
) -> (ChildGuard, String) {
    let port = free_port();
    let child = Command::new(BIN)
        .args(before)
        .arg("serve")
        .args(["--log.level=warn", "--storage.tsdb.retention.time=0"])
        .arg(format!("--config.file={}", cfg.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .args(after)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let guard = ChildGuard(child);
    let base = format!("http://127.0.0.1:{port}");
    assert!(wait_http_ok(
        &format!("{base}/-/ready"),
        Duration::from_secs(30)
    ));
    (guard, base)
}

/// A range query over the whole data at a 1 s step: thousands of steps over every series,
/// seconds of work for a debug build.
fn heavy_query(base: &str, timeout: Option<&str>) -> (u16, serde_json::Value, Duration) {
    let t = Instant::now();
    let mut req = ureq::get(&format!("{base}/api/v1/query_range"));
    if let Some(timeout) = timeout {
        req = req.query("timeout", timeout);
    }
    let resp = req
        .query(
            "query",
            "sum(rate(m_total[5m])) + sum(irate(m_total[5m])) + sum(delta(m_total[10m]))",
        )
        .query("start", &T0.to_string())
        .query("end", &(T0 + 7200).to_string())
        .query("step", "1")
        .call();
    let (code, body) = match resp {
        Ok(r) => (
            r.status(),
            serde_json::from_str(&r.into_string().unwrap()).unwrap(),
        ),
        Err(ureq::Error::Status(code, r)) => (
            code,
            serde_json::from_str(&r.into_string().unwrap()).unwrap(),
        ),
        Err(e) => panic!("{e}"),
    };
    (code, body, t.elapsed())
}

fn metric(base: &str, name: &str) -> Option<f64> {
    let body = ureq::get(&format!("{base}/metrics"))
        .call()
        .ok()?
        .into_string()
        .ok()?;
    body.lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
        .and_then(|l| l.rsplit_once(' '))
        .and_then(|(_, v)| v.parse().ok())
}

#[test]
fn queries_beyond_max_concurrency_wait_and_time_out_in_the_queue() {
    let dir = tempfile::tempdir().unwrap();
    import_counters(dir.path(), 1000);
    // The limits go before the subcommand: they must be honoured there too.
    let (_server, base) = start(
        dir.path(),
        &["--query.max-concurrency=1", "--query.timeout=1s"],
        &[],
    );
    let flags = api_get(&base, "/api/v1/status/flags", &[]).unwrap();
    assert_eq!(flags["data"]["query.max-concurrency"], "1");
    assert_eq!(flags["data"]["query.timeout"], "1s");
    assert_eq!(
        metric(&base, "promtui_engine_queries_concurrent_max"),
        Some(1.0)
    );
    let b1 = base.clone();
    let first = std::thread::spawn(move || heavy_query(&b1, None));
    std::thread::sleep(Duration::from_millis(100));
    // The second waits for the first's slot, which it holds until its own 1 s timeout
    // ends: the second's 300 ms pass in the queue.
    let (code, body, waited) = heavy_query(&base, Some("300ms"));
    assert!(waited < Duration::from_millis(900), "{waited:?}");
    let (code1, body1, _) = first.join().unwrap();
    assert_eq!(code1, 503, "{body1}");
    assert_eq!(body1["errorType"], "timeout", "{body1}");
    assert_eq!(code, 503, "{body}");
    assert_eq!(body["error"], "query timed out in query queue", "{body}");
    // Cheap queries still run once the slot is free.
    let r = api_get(&base, "/api/v1/query", &[("query", "1+1")]).unwrap();
    assert_eq!(r["data"]["result"][1], "2");
}

#[test]
fn sigterm_cancels_running_queries_and_exits_promptly() {
    let dir = tempfile::tempdir().unwrap();
    import_counters(dir.path(), 1000);
    let (mut server, base) = start(dir.path(), &[], &[]);
    // How long the query takes when left alone.
    let (code, _, alone) = heavy_query(&base, None);
    assert_eq!(code, 200);
    let b1 = base.clone();
    let running = std::thread::spawn(move || heavy_query(&b1, None));
    std::thread::sleep(alone / 4);
    let t = Instant::now();
    assert_eq!(server.terminate(Duration::from_secs(30)), Some(0));
    let took = t.elapsed();
    let (code, body, _) = running.join().unwrap();
    assert_eq!(code, 503, "{body}");
    assert_eq!(body["errorType"], "canceled", "{body}");
    assert!(
        took < Duration::from_secs(2) && took < alone / 2,
        "exit took {took:?}; the query alone takes {alone:?}"
    );
}

/// Accepts connections and streams an endless exposition body to each (gzip-encoded
/// when `gzip`) until the client hangs up.
fn endless_target(gzip: bool) -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { return };
            std::thread::spawn(move || {
                let mut req = [0u8; 4096];
                let _ = s.read(&mut req);
                let enc = if gzip {
                    "Content-Encoding: gzip\r\n"
                } else {
                    ""
                };
                let head = format!("HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\n{enc}Transfer-Encoding: chunked\r\n\r\n");
                if s.write_all(head.as_bytes()).is_err() {
                    return;
                }
                let mut n = 0u64;
                let mut z = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                loop {
                    let mut text = String::new();
                    for _ in 0..1000 {
                        n += 1;
                        text.push_str(&format!("endless_metric{{n=\"{n}\"}} 1\n"));
                    }
                    let data = if gzip {
                        z.write_all(text.as_bytes()).unwrap();
                        z.flush().unwrap();
                        std::mem::take(z.get_mut())
                    } else {
                        text.into_bytes()
                    };
                    if data.is_empty() {
                        continue;
                    }
                    let frame = format!("{:x}\r\n", data.len());
                    if s.write_all(frame.as_bytes()).is_err()
                        || s.write_all(&data).is_err()
                        || s.write_all(b"\r\n").is_err()
                    {
                        return;
                    }
                }
            });
        }
    });
    port
}

fn proc_status_kb(pid: u32, field: &str) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    s.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap()
}

#[test]
fn an_endless_scrape_body_fails_at_the_body_size_limit_with_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let plain = endless_target(false);
    let gzip = endless_target(true);
    // No body_size_limit on the plain job: the default cap (256 MiB) applies. The gzip job
    // sets one, counted on inflated bytes.
    let cfg = dir.path().join("endless.yml");
    std::fs::write(
        &cfg,
        format!(
            "global:\n  scrape_interval: 30s\n  scrape_timeout: 25s\nscrape_configs:\n\
             \x20 - job_name: plain\n    static_configs: [{{targets: ['127.0.0.1:{plain}']}}]\n\
             \x20 - job_name: gzip\n    body_size_limit: 8MB\n    static_configs: [{{targets: ['127.0.0.1:{gzip}']}}]\n"
        ),
    )
    .unwrap();
    let (server, base) = start_with_config(dir.path(), &cfg, &[], &[]);
    let deadline = Instant::now() + Duration::from_secs(90);
    let errors = loop {
        let t = api_get(&base, "/api/v1/targets", &[]).unwrap();
        let errors: Vec<(String, String)> = t["data"]["activeTargets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                (
                    t["scrapePool"].as_str().unwrap().to_string(),
                    t["lastError"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        if errors.iter().all(|(_, e)| !e.is_empty()) {
            break errors;
        }
        assert!(
            Instant::now() < deadline,
            "no scrape failed yet: {errors:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    for (job, e) in &errors {
        assert_eq!(e, "body size limit exceeded", "job {job}");
    }
    assert_eq!(
        metric(
            &base,
            "promtui_target_scrapes_exceeded_body_size_limit_total"
        ),
        Some(2.0)
    );
    // The body buffer stops at the cap; without it memory grew until scrape_timeout (GBs).
    // While the buffer grows, the old half coexists with the new one for a moment:
    // 128 + 256 MiB per target, and the two targets may be scraped at the same moment,
    // plus the process' own (seen: 665 MB on a loaded machine).
    let peak_mb = proc_status_kb(server.0.id(), "VmHWM") / 1024;
    assert!(peak_mb < 2 * (128 + 256) + 250, "peak RSS {peak_mb} MB");
}

#[test]
fn start_up_errors_print_each_cause_once_and_hint_only_at_a_held_lock() {
    // A data directory below a regular file cannot be created.
    let out = Command::new(BIN)
        .args(["serve", "--storage.tsdb.path=/etc/passwd/x"])
        .arg(format!("--web.listen-address=127.0.0.1:{}", free_port()))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    let line = err.lines().find(|l| l.starts_with("error: ")).unwrap();
    assert_eq!(line.matches("Not a directory").count(), 1, "{line}");
    assert_eq!(line.matches("/etc/passwd/x").count(), 2, "{line}");
    assert!(!line.contains("stop it"), "{line}");

    // A second server on a directory in use: the cause once, and the hint.
    let dir = tempfile::tempdir().unwrap();
    let (_server, _) = start(dir.path(), &[], &[]);
    let out = Command::new(BIN)
        .args(["serve"])
        .arg(format!(
            "--config.file={}",
            dir.path().join("empty.yml").display()
        ))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{}", free_port()))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    let line = err.lines().find(|l| l.starts_with("error: ")).unwrap();
    assert_eq!(
        line.matches("in use by another process").count(),
        1,
        "{line}"
    );
    assert!(
        line.contains("stop it or pass another --storage.tsdb.path"),
        "{line}"
    );

    // A serve flag before a subcommand it does not apply to is refused, not ignored.
    let out = Command::new(BIN)
        .args(["--web.listen-address=127.0.0.1:1", "tsdb", "stats"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(
            "--web.listen-address is a flag of `promtui serve`; it has no effect on `promtui tsdb`"
        ),
        "{err}"
    );
}
