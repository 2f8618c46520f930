//! Backfilling recent history, then serving the same directory, through the real binary:
//! `promtui tsdb import openmetrics` of data ending a few minutes ago must not keep
//! `promtui serve` from ingesting live samples (issue 18, point 2). The imported block
//! ends at its last sample + 1 ms, as promtool's, so the head accepts anything newer, and
//! both the history and the live samples are queryable.

mod common;

use std::fmt::Write as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::*;

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// The vector of an instant query at `time` (seconds), as (labels, value) pairs.
fn instant(base: &str, query: &str, time: Option<f64>) -> Vec<(serde_json::Value, String)> {
    let t = time.map(|t| format!("{t:.3}"));
    let mut params = vec![("query", query)];
    if let Some(t) = &t {
        params.push(("time", t.as_str()));
    }
    let Some(v) = api_get(base, "/api/v1/query", &params) else {
        return Vec::new();
    };
    v["data"]["result"]
        .as_array()
        .map(|r| {
            r.iter()
                .map(|s| {
                    (
                        s["metric"].clone(),
                        s["value"][1].as_str().unwrap_or_default().to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn import_of_recent_history_then_serve_ingests_live_samples_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let file = dir.path().join("history.om");

    // Three hours of a gauge at 1 min steps, the last sample 3 minutes ago: the history
    // crosses at least one 2 h window boundary and ends inside the current window.
    let last_ms = (now_ms() - 180_000) / 1000 * 1000;
    let steps = 180;
    let mut om = String::from("# HELP history_value Backfilled.\n# TYPE history_value gauge\n");
    for i in 0..=steps {
        let t = last_ms - (steps - i) * 60_000;
        writeln!(om, "history_value{{src=\"import\"}} {i} {}", t / 1000).unwrap();
    }
    om.push_str("# EOF\n");
    std::fs::write(&file, om).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_promtui"))
        .args(["tsdb", "import", "openmetrics"])
        .arg(&file)
        .arg("--storage.tsdb.path")
        .arg(&data)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    let target = BodyServer::start(vec![(
        b"# TYPE live_value gauge\nlive_value 7\n".to_vec(),
        "text/plain; version=0.0.4".into(),
    )]);
    let cfg = dir.path().join("promtui.yml");
    std::fs::write(
        &cfg,
        format!(
            "global:\n  scrape_interval: 200ms\n  scrape_timeout: 200ms\nscrape_configs:\n  - job_name: live\n    metrics_path: /b0\n    static_configs:\n      - targets: ['127.0.0.1:{}']\n",
            target.port
        ),
    )
    .unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let _server = ChildGuard(
        Command::new(env!("CARGO_BIN_EXE_promtui"))
            .args(["serve", "--log.level=warn"])
            .arg(format!("--config.file={}", cfg.display()))
            .arg(format!("--storage.tsdb.path={}", data.display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    assert!(wait_http_ok(
        &format!("{base}/-/ready"),
        Duration::from_secs(30)
    ));
    let ready = Instant::now();

    // The live sample is queryable within a few scrapes.
    let deadline = ready + Duration::from_secs(10);
    loop {
        let live = instant(&base, "live_value", None);
        if live.iter().any(|(_, v)| v == "7") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no live sample 10 s after start; targets: {:?}",
            api_get(&base, "/api/v1/targets", &[])
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!("live sample queryable {:?} after ready", ready.elapsed());

    // The target is healthy, `up` is 1.
    let t = api_get(&base, "/api/v1/targets", &[]).unwrap();
    let active = &t["data"]["activeTargets"][0];
    assert_eq!(active["health"], "up", "{t}");
    assert_eq!(active["lastError"], "", "{t}");
    let up = instant(&base, "up", None);
    assert_eq!(up.len(), 1, "{up:?}");
    assert_eq!(up[0].1, "1");

    // The imported history is there too: its last and first samples.
    let last_s = last_ms as f64 / 1000.0;
    let h = instant(&base, "history_value", Some(last_s));
    assert_eq!(h.len(), 1, "{h:?}");
    assert_eq!(h[0].0["src"], "import");
    assert_eq!(h[0].1, steps.to_string());
    let first_s = (last_ms - steps * 60_000) as f64 / 1000.0;
    let h = instant(&base, "history_value", Some(first_s));
    assert_eq!(h.len(), 1, "{h:?}");
    assert_eq!(h[0].1, "0");
    let n = instant(
        &base,
        "count_over_time(history_value[4h])",
        Some(last_s + 1.0),
    );
    assert_eq!(n.len(), 1, "{n:?}");
    assert_eq!(n[0].1, (steps + 1).to_string());
}

/// The other side of the same issue: when the store does refuse a target's samples (here
/// a block reaching 10 minutes into the future, as backfills of future-stamped data
/// leave), the target is down in `/api/v1/targets` with the storage's reason, not
/// healthy with nothing stored.
#[test]
fn a_target_whose_samples_the_store_refuses_is_down_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let file = dir.path().join("future.om");
    let future_ms = (now_ms() + 600_000) / 1000 * 1000;
    std::fs::write(
        &file,
        format!(
            "# TYPE future_value gauge\nfuture_value 1 {}\n# EOF\n",
            future_ms / 1000
        ),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_promtui"))
        .args(["tsdb", "import", "openmetrics"])
        .arg(&file)
        .arg("--storage.tsdb.path")
        .arg(&data)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");

    let target = BodyServer::start(vec![(
        b"live_value 7\n".to_vec(),
        "text/plain; version=0.0.4".into(),
    )]);
    let cfg = dir.path().join("promtui.yml");
    std::fs::write(
        &cfg,
        format!(
            "global:\n  scrape_interval: 200ms\n  scrape_timeout: 200ms\nscrape_configs:\n  - job_name: live\n    metrics_path: /b0\n    static_configs:\n      - targets: ['127.0.0.1:{}']\n",
            target.port
        ),
    )
    .unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let _server = ChildGuard(
        Command::new(env!("CARGO_BIN_EXE_promtui"))
            .args(["serve", "--log.level=error"])
            .arg(format!("--config.file={}", cfg.display()))
            .arg(format!("--storage.tsdb.path={}", data.display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    assert!(wait_http_ok(
        &format!("{base}/-/ready"),
        Duration::from_secs(30)
    ));
    let deadline = Instant::now() + Duration::from_secs(10);
    let active = loop {
        let t = api_get(&base, "/api/v1/targets", &[]).unwrap();
        let a = t["data"]["activeTargets"][0].clone();
        if a["health"] == "down" {
            break a;
        }
        assert!(Instant::now() < deadline, "target not down: {t}");
        std::thread::sleep(Duration::from_millis(100));
    };
    let err = active["lastError"].as_str().unwrap_or_default();
    assert!(
        err.starts_with(
            "all 1 scraped samples were rejected by the storage: out of bounds: timestamp"
        ) && err.contains(&format!("oldest appendable time {}", future_ms + 1)),
        "{active}"
    );
    assert!(instant(&base, "live_value", None).is_empty());
}
