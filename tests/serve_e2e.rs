//! `promtui serve` end to end through the real binary: scraping a loopback target,
//! reloading on SIGHUP and `POST /-/reload` (an invalid file is rejected and the running
//! configuration stays), a busy port naming its flag, and a graceful SIGTERM that leaves
//! every scraped sample in the store.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use promtui::model::Matcher;

fn config(port: u16, jobs: &[&str]) -> String {
    let mut s = String::from(
        "global:\n  scrape_interval: 200ms\n  scrape_timeout: 200ms\nscrape_configs:\n",
    );
    for job in jobs {
        s.push_str(&format!(
            "  - job_name: {job}\n    metrics_path: /b0\n    static_configs:\n      - targets: ['127.0.0.1:{port}']\n"
        ));
    }
    s
}

fn active_jobs(base: &str) -> Vec<String> {
    let t = api_get(base, "/api/v1/targets", &[]).unwrap();
    let mut jobs: Vec<String> = t["data"]["activeTargets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["scrapePool"].as_str().unwrap().to_string())
        .collect();
    jobs.sort();
    jobs
}

fn wait_for(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
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
fn serve_scrapes_reloads_and_stops_without_losing_samples() {
    let dir = tempfile::tempdir().unwrap();
    let target = BodyServer::start(vec![(
        b"# TYPE demo gauge\ndemo{a=\"1\"} 42\n".to_vec(),
        "text/plain; version=0.0.4".into(),
    )]);
    let cfg = dir.path().join("promtui.yml");
    std::fs::write(&cfg, config(target.port, &["one"])).unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let data = dir.path().join("data");
    let mut server = ChildGuard(
        Command::new(env!("CARGO_BIN_EXE_promtui"))
            .args(["serve", "--log.level=warn", "--web.enable-lifecycle"])
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
    wait_for("first scrapes", Duration::from_secs(10), || {
        metric(&base, "promtui_tsdb_head_samples_appended_total").unwrap_or(0.0) >= 12.0
    });
    assert_eq!(active_jobs(&base), vec!["one"]);

    // A second promtui on the same port fails, naming the flag.
    let busy = Command::new(env!("CARGO_BIN_EXE_promtui"))
        .args(["serve", "--log.level=warn"])
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("other").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .output()
        .unwrap();
    assert_eq!(busy.status.code(), Some(1));
    let err = String::from_utf8_lossy(&busy.stderr);
    assert!(
        err.contains("address already in use") && err.contains("--web.listen-address"),
        "{err}"
    );

    // SIGHUP with a new job.
    std::fs::write(&cfg, config(target.port, &["one", "two"])).unwrap();
    let pid = server.0.id().to_string();
    Command::new("kill").args(["-HUP", &pid]).status().unwrap();
    wait_for("the reloaded job", Duration::from_secs(10), || {
        active_jobs(&base) == vec!["one", "two"]
    });

    // An invalid file: rejected with where and why; the old configuration keeps running.
    std::fs::write(
        &cfg,
        config(target.port, &["one"]) + "    scrape_intervl: 1s\n",
    )
    .unwrap();
    let resp = ureq::post(&format!("{base}/-/reload")).call();
    let err = match resp {
        Err(ureq::Error::Status(500, r)) => r.into_string().unwrap(),
        other => panic!("expected 500, got {other:?}"),
    };
    assert!(
        err.contains("promtui.yml:9:5:") && err.contains("scrape_intervl"),
        "{err}"
    );
    assert_eq!(
        metric(&base, "promtui_config_last_reload_successful"),
        Some(0.0)
    );
    assert_eq!(active_jobs(&base), vec!["one", "two"]);
    let scrapes = metric(&base, "promtui_target_scrapes_total").unwrap();
    wait_for("scrapes to continue", Duration::from_secs(10), || {
        metric(&base, "promtui_target_scrapes_total").unwrap_or(0.0) > scrapes + 4.0
    });

    // Graceful stop: every sample appended before it is in the store afterwards.
    let appended = metric(&base, "promtui_tsdb_head_samples_appended_total").unwrap();
    assert_eq!(server.terminate(Duration::from_secs(20)), Some(0));
    let db = promtui::tsdb::Db::open(&data, promtui::tsdb::Options::default()).unwrap();
    let q = db.querier(i64::MIN, i64::MAX);
    let mut stored = 0u64;
    for mut s in q.select(&[Matcher::equal("__name__", "demo")]).unwrap() {
        while let Some(x) = s.samples.next() {
            if !promtui::model::is_stale_nan(x.v) {
                assert_eq!(x.v, 42.0);
            }
            stored += 1;
        }
    }
    // 6 series per scrape (demo + 5 synthetic); demo is one sixth of what was appended
    // before the last reading, and more may have come after it.
    assert!(
        stored as f64 >= appended / 6.0 - 2.0,
        "stored {stored}, appended {appended}"
    );
}
