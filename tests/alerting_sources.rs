//! Where alerts come from: promtui's own alerting rules reach the built-in Alertmanager
//! in-process, and a real Prometheus 2.42 pointed at promtui as its Alertmanager posts to
//! it unchanged (skipped with a printed reason when Prometheus is missing).

mod common;
#[path = "alerting_support/mod.rs"]
mod support;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::{free_port, peer_available, ChildGuard, PROMETHEUS};
use support::*;

const RULES: &str = "groups:\n  - name: g\n    interval: 1s\n    rules:\n      - alert: AlwaysFiring\n        expr: vector(1)\n        labels:\n          severity: page\n        annotations:\n          summary: always\n";

const AM: &str = "route:\n  receiver: r\n  group_wait: 1h\nreceivers:\n  - name: r\n";

fn has_alert(base: &str, name: &str, extra: Option<(&str, &str)>) -> bool {
    let v = get_json(&format!("{base}/api/v2/alerts"));
    v.as_array().unwrap().iter().any(|a| {
        a["labels"]["alertname"] == name
            && extra.is_none_or(|(k, val)| a["labels"][k] == val)
            && a["annotations"]["summary"] == "always"
    })
}

#[test]
fn promtuis_own_rules_reach_the_pipeline_in_process() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("rules.yml"), RULES).unwrap();
    std::fs::write(
        dir.path().join("promtui.yml"),
        "global:\n  scrape_interval: 1h\n  evaluation_interval: 1s\n  external_labels: {site: lab}\nrule_files: [rules.yml]\n",
    )
    .unwrap();
    let p = start_promtui(dir.path(), AM, None);
    eventually(
        "the rule's alert in /api/v2/alerts",
        Duration::from_secs(20),
        || has_alert(&p.base(), "AlwaysFiring", Some(("severity", "page"))),
    );
}

#[test]
fn prometheus_posts_to_promtui_as_its_alertmanager() {
    if !peer_available(PROMETHEUS) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let p = start_promtui(dir.path(), AM, None);
    std::fs::write(dir.path().join("prom-rules.yml"), RULES).unwrap();
    let cfg = dir.path().join("prometheus.yml");
    std::fs::write(
        &cfg,
        format!(
            "global:\n  evaluation_interval: 1s\n  external_labels: {{site: prom}}\nrule_files: [prom-rules.yml]\nalerting:\n  alertmanagers:\n    - static_configs:\n        - targets: ['127.0.0.1:{}']\n",
            p.am
        ),
    )
    .unwrap();
    let port = free_port();
    let _prom = ChildGuard(
        Command::new(PROMETHEUS)
            .arg(format!("--config.file={}", cfg.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("prom").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--rules.alert.resend-delay=1s")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    eventually(
        "Prometheus' alert in promtui",
        Duration::from_secs(30),
        || has_alert(&p.base(), "AlwaysFiring", Some(("site", "prom"))),
    );
}
