//! End to end in tmux against the real binary: time travel and query explain.
//!
//! The data directory is backfilled first (`promtui tsdb import openmetrics`) with the
//! scrape series of two targets that no longer exist (one up, one down) over the half
//! hour before the test, so a moment a minute ago has history the live engine never
//! scraped. `:at 1m ago` shows the marker and those targets, `[`/`]` step, `:at now`
//! returns to the live self-scrape target; in the console `x` explains a query as a tree.

mod common;

use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::tmux::{promtui_line, Tmux, TMUX};
use common::{free_port, peer_available};

/// OpenMetrics text of two targets scraped every 15 s from 30 to 2 minutes before
/// `now_s`: `old-host` up, `gone-host` down.
fn backfill(now_s: i64) -> String {
    let mut om = String::new();
    for (metric, kind) in [
        ("up", "gauge"),
        ("scrape_duration_seconds", "gauge"),
        ("scrape_samples_scraped", "gauge"),
    ] {
        om.push_str(&format!("# TYPE {metric} {kind}\n"));
        for t in (now_s - 1800..=now_s - 120).step_by(15) {
            for (host, up) in [("old-host:9100", 1.0), ("gone-host:9100", 0.0)] {
                let v = match metric {
                    "up" => up,
                    "scrape_duration_seconds" => 0.25,
                    _ => 321.0 * up,
                };
                om.push_str(&format!(
                    "{metric}{{job=\"backfilled\",instance=\"{host}\"}} {v} {t}\n"
                ));
            }
        }
    }
    om.push_str("# EOF\n");
    om
}

#[test]
fn time_travel_and_query_explain_in_the_real_binary() {
    if !peer_available(TMUX) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let data = dir.path().join("data");
    let now_s = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let om = dir.path().join("history.om");
    std::fs::write(&om, backfill(now_s)).unwrap();
    let bin = env!("CARGO_BIN_EXE_promtui");
    let out = Command::new(bin)
        .args(["tsdb", "import", "openmetrics"])
        .arg(&om)
        .arg("--storage.tsdb.path")
        .arg(&data)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "backfill failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let port = free_port();
    let args = format!(
        "--storage.tsdb.path {} --web.listen-address 127.0.0.1:{port}",
        data.display()
    );
    let t = Tmux::start("tt", 160, 40, &promtui_line(&home, &args));
    let self_target = format!("127.0.0.1:{port}");
    t.wait("the live engine", Duration::from_secs(15), |s| {
        s.contains("1 overview") && s.contains("config ok")
    });
    t.keys(&["4"]);
    t.wait(
        "the live self-scrape target",
        Duration::from_secs(10),
        |s| s.contains(&self_target),
    );

    // A minute ago: the backfilled targets, not the live one (it did not exist yet).
    t.command("at 1m ago");
    let s = t.wait("the past targets", Duration::from_secs(10), |s| {
        s.contains("backfilled (1/2 up)") && s.contains("gone-host:9100")
    });
    assert!(s.contains("AT ") && s.contains("ago) [ ] ±6m"), "{s}");
    assert!(s.contains("targets at "), "{s}");
    assert!(!s.contains(&self_target), "{s}");
    let old = s.lines().find(|l| l.contains("old-host:9100")).unwrap();
    assert!(
        old.contains("up") && old.contains("0.250s") && old.contains("321"),
        "{s}"
    );

    // `[` steps back by a tenth of the 1h range: 7 minutes ago, still in the backfill.
    t.keys(&["["]);
    t.wait("the step back", Duration::from_secs(10), |s| {
        s.contains("(7m") && s.contains("backfilled (1/2 up)")
    });
    // `]` forward again, then past the present: back to live.
    t.keys(&["]"]);
    t.wait("the step forward", Duration::from_secs(10), |s| {
        s.contains("(1m") && s.contains("gone-host:9100")
    });
    t.keys(&["]"]);
    t.wait("the present after stepping", Duration::from_secs(10), |s| {
        !s.contains("AT 20") && s.contains(&self_target)
    });
    // `:at now` clears a moment set by `:at`.
    t.command("at 1m ago");
    t.wait("the marker again", Duration::from_secs(10), |s| {
        s.contains("AT 20") && s.contains("gone-host:9100")
    });
    t.command("at now");
    let s = t.wait("the present", Duration::from_secs(10), |s| {
        !s.contains("AT 20") && s.contains(&self_target)
    });
    assert!(!s.contains("gone-host"), "{s}");
    // Bad input: the status line says what was wrong.
    t.command("at last tuesday");
    t.wait("the error", Duration::from_secs(5), |s| {
        s.contains(":at \"last tuesday\": not a time")
    });

    // Query explain in the console.
    t.keys(&["2"]);
    t.wait("the console", Duration::from_secs(5), |s| {
        s.contains("PromQL table")
    });
    t.text("sum by (job) (rate(scrape_samples_scraped[10m])) > 0");
    t.keys(&["Enter"]);
    t.wait("the table", Duration::from_secs(10), |s| {
        s.contains("(instant)")
    });
    t.keys(&["Escape"]);
    std::thread::sleep(Duration::from_millis(300));
    t.keys(&["x"]);
    let s = t.wait("the explain tree", Duration::from_secs(15), |s| {
        s.contains("most expensive:") && s.contains("range selector")
    });
    assert!(s.contains("> binary op"), "{s}");
    assert!(s.contains("sum by (job) aggregation"), "{s}");
    assert!(s.contains("rate function"), "{s}");
    assert!(
        s.contains("scrape_samples_scraped[10m] range selector"),
        "{s}"
    );
    assert!(s.contains("hot"), "{s}");
    t.keys(&["Escape"]);
    t.wait("the pane closed", Duration::from_secs(5), |s| {
        !s.contains("most expensive:")
    });
    std::thread::sleep(Duration::from_millis(300));
    t.command("q");
    let s = t.wait("exit", Duration::from_secs(20), |s| s.contains("EXITED"));
    assert!(s.contains("EXITED rc=0"), "{s}");
}
