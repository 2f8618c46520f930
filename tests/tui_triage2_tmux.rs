//! End to end in tmux against the real binary: the Rules view shows a firing alerting
//! rule with its alert, and the Pushgateway view lists a pushed group and deletes it
//! after the confirmation step (the gateway's API then no longer has it). Once with the
//! in-process engine, once over `--remote` against `promtui serve` (its
//! `/api/v1/rules`, and its Pushgateway through `--pushgateway.url`).

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::tmux::{promtui_line, promtui_line_with, Tmux, TMUX};
use common::{free_port, peer_available, start_serve};

const RULES: &str = "groups:
- name: triage
  interval: 1s
  rules:
  - alert: AlwaysFiring
    expr: vector(42) > 0
    labels:
      severity: page
";

/// A configuration with the rule file and nothing to scrape.
fn write_config(dir: &Path) -> String {
    std::fs::write(dir.join("rules.yml"), RULES).unwrap();
    format!(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files: ['{}']\n",
        dir.join("rules.yml").display()
    )
}

fn push(gw: u16) {
    let r = ureq::put(&format!(
        "http://127.0.0.1:{gw}/metrics/job/nightly-etl/instance/db1"
    ))
    .send_string("# TYPE etl_rows_total counter\netl_rows_total 1234\n");
    assert!(r.is_ok(), "push failed: {r:?}");
}

fn groups(gw: u16) -> Vec<serde_json::Value> {
    common::api_get(&format!("http://127.0.0.1:{gw}"), "/api/v1/metrics", &[])
        .and_then(|v| v["data"].as_array().cloned())
        .unwrap_or_default()
}

fn has_group(gw: u16, job: &str) -> bool {
    groups(gw).iter().any(|g| g["labels"]["job"] == job)
}

/// Rules, then Pushgateway with the delete and its confirmation, in an open TUI.
fn exercise(t: &Tmux, gw: u16) {
    t.command("rules");
    let s = t.wait("the firing rule", Duration::from_secs(20), |s| {
        s.contains("AlwaysFiring") && s.contains("firing 1")
    });
    assert!(s.contains("triage"), "{s}");
    assert!(s.contains("value 42"), "{s}");
    assert!(s.contains("severity=\"page\""), "{s}");
    // Enter shows the rule in its file, at its line.
    t.keys(&["j"]);
    t.keys(&["Enter"]);
    t.wait("the rule file", Duration::from_secs(5), |s| {
        s.contains("rules.yml:5 (e edits)") && s.contains("- alert: AlwaysFiring")
    });
    t.keys(&["Escape"]);

    push(gw);
    t.command("pushgateway");
    t.wait("the pushed group", Duration::from_secs(15), |s| {
        s.contains("job=\"nightly-etl\", instance=\"db1\"")
    });
    t.keys(&["Enter"]);
    t.wait("the group's metrics", Duration::from_secs(5), |s| {
        s.contains("etl_rows_total")
    });
    t.keys(&["Escape"]);
    // `d` asks first; `n` keeps the group.
    t.keys(&["d"]);
    t.wait("the confirmation", Duration::from_secs(5), |s| {
        s.contains("Delete this push group?")
    });
    t.keys(&["n"]);
    t.wait("the cancellation", Duration::from_secs(5), |s| {
        s.contains("delete cancelled")
    });
    assert!(has_group(gw, "nightly-etl"), "deleted without confirmation");
    t.keys(&["d"]);
    t.wait("the confirmation", Duration::from_secs(5), |s| {
        s.contains("Delete this push group?")
    });
    t.keys(&["y"]);
    let s = t.wait("the deletion", Duration::from_secs(10), |s| {
        s.contains("deleted job=\"nightly-etl\"") && s.contains("no push groups")
    });
    assert!(!s.contains("instance=\"db1\"   "), "{s}");
    assert!(
        !has_group(gw, "nightly-etl"),
        "the gateway still has the group: {:?}",
        groups(gw)
    );
    t.command("q");
}

/// `e` on a rule suspends the TUI for $EDITOR at the rule's line and takes the screen
/// back; `:test` runs a failing unit test, and fixing the file re-runs it (watch mode).
fn exercise_editor_and_tests(t: &Tmux, dir: &Path) {
    t.command("rules");
    t.wait("the firing rule", Duration::from_secs(20), |s| {
        s.contains("AlwaysFiring") && s.contains("firing 1")
    });
    t.keys(&["j"]);
    t.keys(&["e"]);
    let marker = dir.join("editor-args");
    let args = common::wait_until("the editor to run", Duration::from_secs(10), || {
        std::fs::read_to_string(&marker)
            .ok()
            .filter(|s| !s.is_empty())
    });
    assert_eq!(
        args.trim(),
        format!("+5 {}", dir.join("rules.yml").display()),
        "editor arguments"
    );
    // Back from the editor: the whole screen is drawn again.
    t.wait("the TUI after the editor", Duration::from_secs(10), |s| {
        s.contains("AlwaysFiring") && s.contains("config ok") && !s.contains("EDITOR-RAN")
    });

    let test_file = dir.join("rules_test.yml");
    let unit = |severity: &str| {
        format!(
            "rule_files: [rules.yml]\nevaluation_interval: 1m\ntests:\n- interval: 1m\n  input_series: []\n  alert_rule_test:\n  - eval_time: 1m\n    alertname: AlwaysFiring\n    exp_alerts:\n    - exp_labels: {{severity: {severity}}}\n"
        )
    };
    std::fs::write(&test_file, unit("ticket")).unwrap();
    t.command(&format!("test {}", test_file.display()));
    let s = t.wait("the failing test", Duration::from_secs(20), |s| {
        s.contains("FAIL ") && s.contains("alertname: AlwaysFiring")
    });
    assert!(
        s.contains("- labels {alertname=\"AlwaysFiring\", severity=\"ticket\"}"),
        "{s}"
    );
    assert!(
        s.contains("+ labels {alertname=\"AlwaysFiring\", severity=\"page\"}"),
        "{s}"
    );
    // Fix the expectation: the runner notices the change and passes.
    std::thread::sleep(Duration::from_millis(1100));
    std::fs::write(&test_file, unit("page")).unwrap();
    t.wait("the re-run passing", Duration::from_secs(20), |s| {
        s.contains("PASS ") && s.contains("0 failing")
    });
}

#[test]
fn local_rules_view_shows_a_firing_rule_and_pushgateway_deletes_a_group() {
    if !peer_available(TMUX) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let cfg = dir.path().join("promtui.yml");
    std::fs::write(&cfg, write_config(dir.path())).unwrap();
    let (port, gw) = (free_port(), free_port());
    let args = format!(
        "--config.file {} --storage.tsdb.path {} --web.listen-address 127.0.0.1:{port} --pushgateway.listen-address 127.0.0.1:{gw}",
        cfg.display(),
        dir.path().join("data").display()
    );
    // A fake $EDITOR: records its arguments, shows a marker, exits.
    let editor = dir.path().join("fake-editor.sh");
    std::fs::write(
        &editor,
        format!(
            "#!/bin/sh\necho EDITOR-RAN\necho \"$@\" > {}\nsleep 0.3\n",
            dir.path().join("editor-args").display()
        ),
    )
    .unwrap();
    Command::new("chmod")
        .arg("755")
        .arg(&editor)
        .status()
        .unwrap();
    let vars = format!("VISUAL= EDITOR={}", editor.display());
    let line = promtui_line_with(&home, &vars, &args, "");
    let t = Tmux::start("t2-local", 160, 40, &line);
    t.wait("the TUI", Duration::from_secs(15), |s| {
        s.contains("config ok")
    });
    exercise_editor_and_tests(&t, dir.path());
    exercise(&t, gw);
    let s = t.wait("exit", Duration::from_secs(30), |s| s.contains("EXITED"));
    assert!(s.contains("EXITED rc=0"), "{s}");
}

#[test]
fn remote_rules_and_pushgateway_views_over_the_api() {
    if !peer_available(TMUX) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let (port, gw) = (free_port(), free_port());
    let _server = start_serve(
        dir.path(),
        &write_config(dir.path()),
        port,
        &[&format!("--pushgateway.listen-address=127.0.0.1:{gw}")],
    );
    let args = format!("--remote http://127.0.0.1:{port} --pushgateway.url http://127.0.0.1:{gw}");
    let t = Tmux::start("t2-remote", 160, 40, &promtui_line(&home, &args));
    t.wait("the TUI", Duration::from_secs(15), |s| s.contains("remote"));
    exercise(&t, gw);
    let s = t.wait("exit", Duration::from_secs(30), |s| s.contains("EXITED"));
    assert!(s.contains("EXITED rc=0"), "{s}");
}
