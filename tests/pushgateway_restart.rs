//! Persistence of pushed groups across kill -9: groups, values, push times and failure
//! times come back after a restart, and a loop of push-then-kill (killed right after the
//! 200) loses nothing.
//!
//! The loop runs 100 iterations as the acceptance asks; each is one start of `promtui
//! serve` (debug build) until its gateway answers, one push, one SIGKILL: about 4 s in
//! all, so it runs with every `cargo test`. `PROMTUI_PG_KILL_LOOPS` overrides the count.

mod common;
mod pushgateway_util;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::ChildGuard;
use pushgateway_util::{call, comparable, scrape};

/// Starts `promtui serve` on `dir` and waits only for its Pushgateway (the quickest
/// signal that the groups are loaded).
fn start(dir: &Path, pg: u16) -> ChildGuard {
    let cfg = dir.join("promtui.yml");
    if !cfg.exists() {
        std::fs::write(&cfg, "scrape_configs: []\n").unwrap();
    }
    let child = ChildGuard(
        Command::new(env!("CARGO_BIN_EXE_promtui"))
            .args(["serve", "--log.level=warn"])
            .arg(format!("--config.file={}", cfg.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!(
                "--web.listen-address=127.0.0.1:{}",
                common::free_port()
            ))
            .arg(format!("--pushgateway.listen-address=127.0.0.1:{pg}"))
            .stdout(Stdio::null())
            .spawn()
            .expect("start promtui serve"),
    );
    let url = format!("http://127.0.0.1:{pg}/-/healthy");
    let deadline = Instant::now() + Duration::from_secs(20);
    while ureq::get(&url).call().is_err() {
        assert!(Instant::now() < deadline, "the Pushgateway did not come up");
        std::thread::sleep(Duration::from_millis(10));
    }
    child
}

fn kill9(mut c: ChildGuard) {
    c.0.kill().unwrap();
    let _ = c.0.wait();
}

/// `push_time_seconds`/`push_failure_time_seconds` lines, exact.
fn push_times(body: &str) -> Vec<String> {
    body.lines()
        .filter(|l| {
            l.starts_with("push_time_seconds{") || l.starts_with("push_failure_time_seconds{")
        })
        .map(str::to_string)
        .collect()
}

#[test]
fn groups_values_and_push_times_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let pg = common::free_port();
    let p = start(dir.path(), pg);
    let base = format!("http://127.0.0.1:{pg}");
    for (method, path, body, want) in [
        (
            "PUT",
            "/metrics/job/a/instance/x",
            "# HELP m An m.\n# TYPE m counter\nm{k=\"v\"} 1.5\nn 2\n",
            200,
        ),
        ("POST", "/metrics/job/a/instance/x", "n 3\n", 200),
        (
            "PUT",
            "/metrics/job@base64/L3Zhcg/e@base64/=",
            "# TYPE s summary\ns{quantile=\"0.9\"} 7\ns_sum 8\ns_count 9\n",
            200,
        ),
        ("POST", "/metrics/job/b", "m 1 123\n", 400),
        ("PUT", "/metrics/job/c", "gone 1\n", 200),
        ("DELETE", "/metrics/job/c", "", 202),
    ] {
        let (code, msg) = call(method, &format!("{base}{path}"), &[], body.as_bytes());
        assert_eq!(code, want, "{method} {path}: {msg}");
    }
    let before = scrape(pg);
    kill9(p);
    let p = start(dir.path(), pg);
    let after = scrape(pg);
    assert_eq!(comparable(&after), comparable(&before));
    assert_eq!(push_times(&after), push_times(&before));
    assert!(
        after.contains(
            "# HELP m An m.\n# TYPE m counter\nm{instance=\"x\",job=\"a\",k=\"v\"} 1.5\n"
        ),
        "{after}"
    );
    assert!(after.contains("n{instance=\"x\",job=\"a\"} 3\n"), "{after}");
    assert!(!after.contains("gone"), "{after}");
    // The failed push's time came back too.
    assert!(
        push_times(&after).iter().any(|l| l
            .starts_with("push_failure_time_seconds{instance=\"\",job=\"b\"}")
            && !l.ends_with(" 0")),
        "{after}"
    );
    drop(p);
}

#[test]
fn push_then_kill_loop_loses_nothing() {
    let loops: usize = std::env::var("PROMTUI_PG_KILL_LOOPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let dir = tempfile::tempdir().unwrap();
    let pg = common::free_port();
    for i in 0..loops {
        let p = start(dir.path(), pg);
        if i > 0 {
            // The previous iteration's push, acknowledged just before its kill, is here.
            let m = scrape(pg);
            let want = format!(
                "loop_value{{instance=\"\",job=\"iter{}\"}} {}\n",
                i - 1,
                i - 1
            );
            assert!(m.contains(&want), "iteration {i}: lost {want:?}");
        }
        let (code, msg) = call(
            "PUT",
            &format!("http://127.0.0.1:{pg}/metrics/job/iter{i}"),
            &[],
            format!("loop_value {i}\n").as_bytes(),
        );
        assert_eq!(code, 200, "{msg}");
        kill9(p);
    }
    let _p = start(dir.path(), pg);
    let m = scrape(pg);
    for i in 0..loops {
        let want = format!("loop_value{{instance=\"\",job=\"iter{i}\"}} {i}\n");
        assert!(m.contains(&want), "lost {want:?}");
    }
}
