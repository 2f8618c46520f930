//! The HTTP API's edges over real HTTP on 127.0.0.1 through the real binary: the routes
//! Prometheus answers besides queries (`/api/v1/status/runtimeinfo`, `.../walreplay`,
//! `/api/v1/metadata`, `/api/v1/targets/metadata`, `/api/v1/admin/tsdb/snapshot`,
//! `POST /-/quit`, `/`), and every error in Prometheus' JSON shape: unknown API paths,
//! 405, 413, 414, malformed percent escapes, parameters that are not UTF-8, and request
//! targets with the bytes Go accepts unencoded (`"`, `|`).

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use promtui::model::Labels;
use promtui::storage::Appender;
use promtui::tsdb::{Db, Options};

fn self_scrape_config(dir: &Path, port: u16) -> std::path::PathBuf {
    let cfg = dir.join("promtui.yml");
    std::fs::write(
        &cfg,
        format!(
            "global:\n  scrape_interval: 200ms\n  scrape_timeout: 200ms\nscrape_configs:\n  - job_name: self\n    static_configs:\n      - targets: ['127.0.0.1:{port}']\n"
        ),
    )
    .unwrap();
    cfg
}

fn serve(dir: &Path, data: &Path, port: u16, flags: &[&str]) -> ChildGuard {
    serve_with(&self_scrape_config(dir, port), dir, data, port, flags)
}

fn serve_with(cfg: &Path, dir: &Path, data: &Path, port: u16, flags: &[&str]) -> ChildGuard {
    let child = ChildGuard(
        Command::new(env!("CARGO_BIN_EXE_promtui"))
            .args(["serve", "--log.level=warn"])
            .arg(format!("--config.file={}", cfg.display()))
            .arg(format!("--storage.tsdb.path={}", data.display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .args(flags)
            .current_dir(dir)
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    assert!(wait_http_ok(
        &format!("http://127.0.0.1:{port}/-/ready"),
        Duration::from_secs(30)
    ));
    child
}

/// One raw HTTP/1.1 exchange: `head` is the request line and headers (without the final
/// empty line); returns status, lower-cased headers and body.
fn raw(port: u16, head: &str, body: &[u8]) -> (u16, Vec<(String, String)>, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut req = format!("{head}\r\nHost: 127.0.0.1\r\nConnection: close\r\n").into_bytes();
    if !body.is_empty() {
        req.extend_from_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes());
    }
    req.extend_from_slice(b"\r\n");
    s.write_all(&req).unwrap();
    // The server may answer (413) before reading the whole body and then close: the body
    // is written from another thread while this one reads the answer.
    let mut w = s.try_clone().unwrap();
    let body = body.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = w.write_all(&body);
    });
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let _ = writer.join();
    let text = String::from_utf8_lossy(&out).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    (status, headers, body.to_string())
}

fn get(port: u16, target: &str) -> (u16, Vec<(String, String)>, String) {
    raw(port, &format!("GET {target} HTTP/1.1"), b"")
}

fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

/// Asserts the Prometheus error shape with `code` and `error_type`; returns the message.
fn assert_api_error(
    (code, headers, body): (u16, Vec<(String, String)>, String),
    want_code: u16,
    error_type: &str,
) -> String {
    assert_eq!(code, want_code, "{body}");
    assert!(
        headers
            .iter()
            .any(|(k, v)| k == "content-type" && v.starts_with("application/json")),
        "{headers:?}"
    );
    let v = json(&body);
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys.len(), 3, "{body}");
    assert_eq!(v["status"], "error", "{body}");
    assert_eq!(v["errorType"], error_type, "{body}");
    v["error"].as_str().unwrap().to_string()
}

fn wait_for(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn status_metadata_and_index_routes_answer() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let _p = serve(dir.path(), &dir.path().join("data"), port, &[]);

    let (code, _, body) = get(port, "/");
    assert_eq!(code, 200);
    for path in ["/api/v1/query", "/api/v1/metadata", "/-/quit", "/federate"] {
        assert!(body.contains(path), "{body}");
    }

    let (code, _, body) = get(port, "/api/v1/status/runtimeinfo");
    assert_eq!(code, 200, "{body}");
    let d = &json(&body)["data"];
    let mut keys: Vec<&str> = d.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "CWD",
            "GODEBUG",
            "GOGC",
            "GOMAXPROCS",
            "corruptionCount",
            "goroutineCount",
            "lastConfigTime",
            "reloadConfigSuccess",
            "startTime",
            "storageRetention"
        ]
    );
    assert_eq!(
        Path::new(d["CWD"].as_str().unwrap())
            .canonicalize()
            .unwrap(),
        dir.path().canonicalize().unwrap()
    );
    assert_eq!(d["storageRetention"], "15d");
    assert_eq!(d["reloadConfigSuccess"], true);
    assert_eq!(d["corruptionCount"], 0);
    assert!(d["GOMAXPROCS"].as_u64().unwrap() >= 1);
    assert!(d["startTime"].as_str().unwrap().ends_with('Z'));
    assert!(!d["lastConfigTime"].as_str().unwrap().contains('.'));

    let (code, _, body) = get(port, "/api/v1/status/walreplay");
    assert_eq!(code, 200);
    assert_eq!(
        json(&body)["data"],
        serde_json::json!({"min": 0, "max": 0, "current": 0}),
        "a fresh data directory has no WAL to replay"
    );

    // The self-scrape brings promtui's own TYPE/HELP lines into the scrape cache.
    let mut meta = serde_json::Value::Null;
    wait_for(
        "metadata from the first scrape",
        Duration::from_secs(20),
        || {
            meta = json(&get(port, "/api/v1/metadata?metric=promtui_ready").2);
            meta["data"]["promtui_ready"].is_array()
        },
    );
    assert_eq!(
        meta["data"]["promtui_ready"],
        serde_json::json!([{"type": "gauge", "help": "Whether start-up (WAL replay) has finished.", "unit": ""}])
    );
    let all = json(&get(port, "/api/v1/metadata").2);
    let families = all["data"].as_object().unwrap();
    assert!(families.len() > 5, "{all}");
    assert_eq!(
        families["process_cpu_seconds_total"][0]["type"], "counter",
        "{all}"
    );
    let two = json(&get(port, "/api/v1/metadata?limit=2").2);
    assert_eq!(two["data"].as_object().unwrap().len(), 2);
    let per = json(&get(port, "/api/v1/metadata?limit_per_metric=1").2);
    assert!(per["data"]
        .as_object()
        .unwrap()
        .values()
        .all(|v| v.as_array().unwrap().len() == 1));
    let none = json(&get(port, "/api/v1/metadata?metric=no_such_metric").2);
    assert_eq!(none["data"], serde_json::json!({}));
    assert_eq!(
        assert_api_error(get(port, "/api/v1/metadata?limit=x"), 400, "bad_data"),
        "limit must be a number"
    );
    assert_api_error(
        get(port, "/api/v1/metadata?limit_per_metric=x"),
        400,
        "bad_data",
    );

    let t = json(&get(port, "/api/v1/targets/metadata?metric=promtui_ready").2);
    let target = serde_json::json!({"instance": format!("127.0.0.1:{port}"), "job": "self"});
    assert_eq!(
        t["data"],
        serde_json::json!([{"target": target, "type": "gauge",
            "help": "Whether start-up (WAL replay) has finished.", "unit": ""}]),
        "with metric=, entries carry no \"metric\" key"
    );
    let t = json(
        &get(
            port,
            "/api/v1/targets/metadata?match_target=%7Bjob%3D%22self%22%7D",
        )
        .2,
    );
    let list = t["data"].as_array().unwrap();
    assert_eq!(
        list.len(),
        families.len(),
        "one target exposes every family"
    );
    assert!(list.iter().all(|e| e["target"] == target));
    let mut keys: Vec<&str> = list[0]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(keys, ["help", "metric", "target", "type", "unit"]);
    let t = json(
        &get(
            port,
            "/api/v1/targets/metadata?match_target=%7Bjob%3D%22other%22%7D",
        )
        .2,
    );
    assert_eq!(t["data"], serde_json::json!([]));
    let msg = assert_api_error(
        get(port, "/api/v1/targets/metadata?match_target=%7B"),
        400,
        "bad_data",
    );
    assert!(
        msg.starts_with("invalid parameter \"match_target\": "),
        "{msg}"
    );
    assert_api_error(
        get(port, "/api/v1/targets/metadata?limit=x"),
        400,
        "bad_data",
    );

    // Metadata seen in every scrape stays (a family is only forgotten ten scrapes after it
    // disappears): fifteen more scrapes later it is all still there.
    std::thread::sleep(Duration::from_secs(3));
    let later = json(&get(port, "/api/v1/metadata").2);
    assert_eq!(later["data"].as_object().unwrap().len(), families.len());

    // Admin and lifecycle endpoints are off without their flags.
    let (code, _, body) = raw(port, "POST /api/v1/admin/tsdb/snapshot HTTP/1.1", b"");
    assert_eq!(code, 503, "{body}");
    assert_eq!(json(&body)["errorType"], "unavailable");
    let (code, _, _) = raw(port, "POST /-/quit HTTP/1.1", b"");
    assert_eq!(code, 403);
    assert_eq!(get(port, "/-/healthy").0, 200, "still running");
}

#[test]
fn every_error_has_the_prometheus_shape() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let _p = serve(dir.path(), &dir.path().join("data"), port, &[]);

    // Unknown paths: JSON under /api/, Go's plain 404 elsewhere.
    let msg = assert_api_error(get(port, "/api/v1/nope"), 404, "not_found");
    assert!(msg.contains("/api/v1/nope"), "{msg}");
    let (code, _, body) = get(port, "/nope");
    assert_eq!((code, body.as_str()), (404, "404 page not found\n"));

    // Method not allowed.
    let msg = assert_api_error(get(port, "/api/v1/admin/tsdb/snapshot"), 405, "bad_data");
    assert!(msg.contains("GET"), "{msg}");

    // 413: a form body over the 4 MiB limit.
    let big = vec![b'a'; 5 << 20];
    let msg = assert_api_error(
        raw(
            port,
            "POST /api/v1/query HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded",
            &big,
        ),
        413,
        "bad_data",
    );
    assert!(msg.contains("too large"), "{msg}");

    // 414: a target longer than hyper takes.
    let long = format!("/api/v1/query?query={}", "a".repeat(70_000));
    let msg = assert_api_error(get(port, &long), 414, "bad_data");
    assert!(msg.contains("70020 bytes"), "{msg}");
    let (code, _, _) = get(port, &format!("/federate?{}", "a".repeat(70_000)));
    assert_eq!(code, 414);

    // Malformed percent escapes in the path; path segments that are not UTF-8.
    let msg = assert_api_error(get(port, "/api/v1/%zz"), 400, "bad_data");
    assert!(msg.contains("%zz"), "{msg}");
    assert_api_error(get(port, "/api/v1/label/%ff/values"), 400, "bad_data");

    // A matcher value that is not UTF-8 is refused, not matched as U+FFFD.
    let msg = assert_api_error(
        get(port, "/api/v1/query?query=up%7Bjob%3D%22%ff%22%7D"),
        400,
        "bad_data",
    );
    assert!(
        msg.starts_with("invalid parameter \"query\"") && msg.contains("UTF-8"),
        "{msg}"
    );
    assert_api_error(
        raw(
            port,
            "POST /api/v1/series HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded",
            b"match[]=%7Ba%3D%22%c3%28%22%7D",
        ),
        400,
        "bad_data",
    );

    // Unencoded quotes, braces, pipes and backslashes as curl -g sends them.
    wait_for("the first self-scrape", Duration::from_secs(20), || {
        let (code, _, body) = get(port, "/api/v1/query?query=up{job=~\"self|x\"}");
        code == 200 && json(&body)["data"]["result"].as_array().unwrap().len() == 1
    });
    let (code, _, body) = get(port, "/api/v1/query?query=up{job=~\"s\\\\w*\"}");
    assert_eq!(code, 200, "{body}");
    assert_eq!(json(&body)["data"]["result"][0]["metric"]["job"], "self");
    let (code, _, body) = get(
        port,
        "/api/v1/series?match[]={job=\"self\",__name__=\"up\"}",
    );
    assert_eq!(code, 200, "{body}");
    assert_eq!(json(&body)["data"].as_array().unwrap().len(), 1);
    // Keep-alive: a second request on the same connection after a POST body.
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let form = "query=\"a|b\"";
    s.write_all(
        format!(
            "POST /api/v1/query HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{form}GET /api/v1/query?query=\"c|d\" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            form.len()
        )
        .as_bytes(),
    )
    .unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    assert_eq!(out.matches("HTTP/1.1 200 OK").count(), 2, "{out}");
    assert!(
        out.contains(r#""a|b"]"#) && out.contains(r#""c|d"]"#),
        "{out}"
    );
}

/// Five hours of one sample per minute for `m{i="0".."2"}` up to now, the older part cut
/// into blocks, the rest left in the head (WAL).
fn populate(dir: &Path) {
    let now = promtui::model::time::now_ms();
    let t0 = (now - 5 * 3_600_000) / 60_000 * 60_000 + 60_000;
    let db = Db::open(dir, Options::default()).unwrap();
    for k in 0..300 {
        let mut app = db.appender();
        for i in 0..3 {
            let l = Labels::from_pairs(&[("__name__", "m"), ("i", &i.to_string())]);
            app.append(&l, t0 + k * 60_000, (k * 10 + i) as f64)
                .unwrap();
        }
        app.commit().unwrap();
    }
    db.compact_head().unwrap();
    assert!(db.stats().blocks >= 1 && db.stats().head_series > 0);
    db.close().unwrap();
}

/// `promtui tsdb dump --match=m` of a data directory, lines sorted.
fn dump_m(data: &Path) -> Vec<String> {
    let out = Command::new(env!("CARGO_BIN_EXE_promtui"))
        .args(["tsdb", "dump", "--log.level=warn", "--match=m"])
        .arg(format!("--storage.tsdb.path={}", data.display()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut lines: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    lines.sort();
    lines
}

/// The blocks of the promtui data directory `dir`.
fn block_dirs(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir.join("promtui-blocks"))
        .unwrap()
        .flatten()
        .filter(|e| e.path().join("meta.json").is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn snapshot_links_the_blocks_and_persists_the_head() {
    use std::os::unix::fs::MetadataExt;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    populate(&data);
    let blocks = block_dirs(&data);
    let port = free_port();
    // No scraping: nothing the server appends can make it cut a block from the head while
    // the test compares block lists.
    let cfg = dir.path().join("empty.yml");
    std::fs::write(&cfg, "scrape_configs: []\n").unwrap();
    let mut p = serve_with(&cfg, dir.path(), &data, port, &["--web.enable-admin-api"]);

    let (code, _, body) = raw(port, "POST /api/v1/admin/tsdb/snapshot HTTP/1.1", b"");
    assert_eq!(code, 200, "{body}");
    let name = json(&body)["data"]["name"].as_str().unwrap().to_string();
    let full = data.join("snapshots").join(&name);
    let in_snapshot = block_dirs(&full);
    assert_eq!(in_snapshot.len(), blocks.len() + 1, "blocks and the head");
    for b in &blocks {
        assert!(in_snapshot.contains(b), "{b} missing from {in_snapshot:?}");
        let (a, s) = (
            data.join("promtui-blocks").join(b).join("index"),
            full.join("promtui-blocks").join(b).join("index"),
        );
        assert_eq!(
            std::fs::metadata(&a).unwrap().ino(),
            std::fs::metadata(&s).unwrap().ino(),
            "block files are hard links"
        );
    }

    let (code, _, body) = raw(
        port,
        "PUT /api/v1/admin/tsdb/snapshot?skip_head=true HTTP/1.1",
        b"",
    );
    assert_eq!(code, 200, "{body}");
    let name2 = json(&body)["data"]["name"].as_str().unwrap().to_string();
    assert_ne!(name, name2);
    assert_eq!(block_dirs(&data.join("snapshots").join(&name2)), blocks);

    let msg = assert_api_error(
        raw(
            port,
            "POST /api/v1/admin/tsdb/snapshot?skip_head=maybe HTTP/1.1",
            b"",
        ),
        400,
        "bad_data",
    );
    assert!(msg.starts_with("invalid parameter \"skip_head\""), "{msg}");

    assert_eq!(p.terminate(Duration::from_secs(20)), Some(0));
    // The snapshot holds exactly the samples of `m` the server had.
    let want = dump_m(&data);
    assert_eq!(want.len(), 3 * 300);
    assert_eq!(dump_m(&full), want);
}

#[test]
fn quit_stops_serve_as_sigterm_does() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let port = free_port();
    let mut p = serve(dir.path(), &data, port, &["--web.enable-lifecycle"]);
    wait_for("a scrape", Duration::from_secs(20), || {
        let (_, _, body) = get(port, "/api/v1/query?query=up");
        json(&body)["data"]["result"]
            .as_array()
            .is_some_and(|r| !r.is_empty())
    });
    let (code, _, _) = get(port, "/-/quit");
    assert_eq!(code, 405, "GET does not quit");
    let (code, _, body) = raw(port, "POST /-/quit HTTP/1.1", b"");
    assert_eq!(
        (code, body.as_str()),
        (200, "Requesting termination... Goodbye!")
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(st) = p.0.try_wait().unwrap() {
            break st;
        }
        assert!(
            Instant::now() < deadline,
            "serve did not stop after /-/quit"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status:?}");
    // The WAL was flushed: the scraped `up` samples are on disk.
    let out = Command::new(env!("CARGO_BIN_EXE_promtui"))
        .args(["tsdb", "dump", "--log.level=warn", "--match=up"])
        .arg(format!("--storage.tsdb.path={}", data.display()))
        .output()
        .unwrap();
    assert!(out.status.success());
    let dumped = String::from_utf8_lossy(&out.stdout);
    assert!(dumped.contains("self"), "{dumped}");
}
