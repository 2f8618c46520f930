//! The TSDB admin API over real HTTP on 127.0.0.1 through the real binary:
//! `promtui serve` (scraping a loopback target) on a data directory holding blocks and a
//! head, `POST|PUT /api/v1/admin/tsdb/delete_series` and `.../clean_tombstones`, then
//! `promtui tsdb dump` after the server stopped shows exactly what is gone.

mod common;

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use promtui::model::Labels;
use promtui::storage::Appender;
use promtui::tsdb::{Db, Options};

const MIN: i64 = 60_000;
const SERIES: usize = 3;
const MINUTES: i64 = 300;

fn value(i: usize, k: i64) -> f64 {
    (k * 10 + i as i64) as f64
}

/// Five hours of one sample per minute for `m{i="0".."2"}` ending an hour ago, cut into
/// blocks (2 h) and a head, as a server would have left them.
fn populate(dir: &std::path::Path) -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let t0 = (now - 6 * 60 * MIN) / MIN * MIN;
    let db = Db::open(dir, Options::default()).unwrap();
    for k in 0..MINUTES {
        let mut app = db.appender();
        for i in 0..SERIES {
            let l = Labels::from_pairs(&[("__name__", "m"), ("i", &i.to_string())]);
            app.append(&l, t0 + k * MIN, value(i, k)).unwrap();
        }
        app.commit().unwrap();
    }
    db.compact_head().unwrap();
    assert!(db.stats().blocks >= 1, "some data is in blocks");
    assert!(db.stats().head_series > 0, "some data is in the head");
    db.close().unwrap();
    t0
}

fn serve(cfg: &std::path::Path, data: &std::path::Path, port: u16, admin: bool) -> ChildGuard {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_promtui"));
    cmd.args(["serve", "--log.level=warn"])
        .arg(format!("--config.file={}", cfg.display()))
        .arg(format!("--storage.tsdb.path={}", data.display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null());
    if admin {
        cmd.arg("--web.enable-admin-api");
    }
    let child = ChildGuard(cmd.spawn().unwrap());
    assert!(wait_http_ok(
        &format!("http://127.0.0.1:{port}/-/ready"),
        Duration::from_secs(30)
    ));
    child
}

/// POSTs (or PUTs) and returns status and body, whatever the status.
fn send(method: &str, url: &str, query: &[(&str, &str)]) -> (u16, String) {
    let mut req = ureq::request(method, url);
    for (k, v) in query {
        req = req.query(k, v);
    }
    match req.call() {
        Ok(r) => (r.status(), r.into_string().unwrap_or_default()),
        Err(ureq::Error::Status(code, r)) => (code, r.into_string().unwrap_or_default()),
        Err(e) => panic!("{method} {url}: {e}"),
    }
}

/// Unix seconds with milliseconds, as the API takes them.
fn secs(ms: i64) -> String {
    format!("{}.{:03}", ms.div_euclid(1000), ms.rem_euclid(1000))
}

/// `promtui tsdb dump` lines parsed into series → [(t, v)].
fn dump(data: &std::path::Path, selector: &str) -> BTreeMap<String, Vec<(i64, f64)>> {
    let out = Command::new(env!("CARGO_BIN_EXE_promtui"))
        .args(["tsdb", "dump", "--log.level=warn"])
        .arg(format!("--match={selector}"))
        .arg(format!("--storage.tsdb.path={}", data.display()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut got: BTreeMap<String, Vec<(i64, f64)>> = BTreeMap::new();
    for line in String::from_utf8(out.stdout).unwrap().lines() {
        let (rest, t) = line.rsplit_once(' ').unwrap();
        let (labels, v) = rest.rsplit_once(' ').unwrap();
        got.entry(labels.to_string())
            .or_default()
            .push((t.parse().unwrap(), v.parse().unwrap()));
    }
    got
}

#[test]
fn delete_series_and_clean_tombstones_over_http_then_dump() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let t0 = populate(&data);
    let target = BodyServer::start(vec![(
        b"# TYPE demo gauge\ndemo{a=\"1\"} 42\n".to_vec(),
        "text/plain; version=0.0.4".into(),
    )]);
    let cfg = dir.path().join("promtui.yml");
    std::fs::write(
        &cfg,
        format!(
            "global:\n  scrape_interval: 200ms\n  scrape_timeout: 200ms\nscrape_configs:\n  - job_name: t\n    metrics_path: /b0\n    static_configs:\n      - targets: ['127.0.0.1:{}']\n",
            target.port
        ),
    )
    .unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let delete_url = format!("{base}/api/v1/admin/tsdb/delete_series");
    let clean_url = format!("{base}/api/v1/admin/tsdb/clean_tombstones");

    // Without --web.enable-admin-api: refused, nothing deleted.
    {
        let mut server = serve(&cfg, &data, port, false);
        let (code, body) = send("POST", &delete_url, &[("match[]", "m")]);
        assert_eq!(code, 503, "{body}");
        assert!(body.contains("admin APIs disabled"), "{body}");
        let (code, _) = send("POST", &clean_url, &[]);
        assert_eq!(code, 503);
        assert_eq!(server.terminate(Duration::from_secs(20)), Some(0));
    }

    let mut server = serve(&cfg, &data, port, true);
    // A bad selector is rejected by name before anything is deleted.
    let (code, body) = send("POST", &delete_url, &[("match[]", "m"), ("match[]", "m{")]);
    assert_eq!(code, 400, "{body}");
    assert!(
        body.contains(r#""errorType":"bad_data""#) && body.contains(r#"\"m{\""#),
        "{body}"
    );
    let (code, _) = send("POST", &delete_url, &[]);
    assert_eq!(code, 400, "match[] is required");
    // m{i="1"}: a range across blocks and the head; m{i="2"}: everything (PUT).
    let (from, to) = (60, 280);
    let (code, body) = send(
        "POST",
        &delete_url,
        &[
            ("match[]", r#"m{i="1"}"#),
            ("start", &secs(t0 + from * MIN)),
            ("end", &secs(t0 + to * MIN)),
        ],
    );
    assert_eq!((code, body.as_str()), (204, ""));
    let (code, _) = send(
        "PUT",
        &delete_url,
        &[("match[]", r#"{__name__="m",i=~"2"}"#)],
    );
    assert_eq!(code, 204);
    let (code, body) = send("POST", &clean_url, &[]);
    assert_eq!((code, body.as_str()), (204, ""), "{body}");
    // Let scraping go on a little while the data is deleted.
    let deadline = Instant::now() + Duration::from_millis(600);
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(server.terminate(Duration::from_secs(20)), Some(0));
    drop(server);

    // After clean_tombstones no block has a tombstones file left.
    for e in std::fs::read_dir(&data).unwrap().flatten() {
        assert!(
            !e.path().join("tombstones").exists(),
            "{}",
            e.path().display()
        );
    }
    let got = dump(&data, "m");
    let mut want: BTreeMap<String, Vec<(i64, f64)>> = BTreeMap::new();
    for i in [0usize, 1] {
        let v = (0..MINUTES)
            .filter(|&k| i != 1 || !(from..=to).contains(&k))
            .map(|k| (t0 + k * MIN, value(i, k)))
            .collect();
        want.insert(format!(r#"{{__name__="m", i="{i}"}}"#), v);
    }
    assert_eq!(got, want, "exactly the deleted samples are gone");
    let demo = dump(&data, "demo");
    assert!(
        demo.values().next().is_some_and(|v| !v.is_empty()),
        "scraped data is untouched: {demo:?}"
    );
}
