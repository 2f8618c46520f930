//! Alerts reach a real Alertmanager (Debian's 0.25): a scraped loopback target's value
//! crosses a rule's threshold, the alert goes pending, fires after `for` and is posted to
//! the Alertmanager of `alerting.alertmanagers` with its labels (external labels added),
//! annotations, startsAt and generatorURL; when the target recovers the Alertmanager sees
//! it resolved. Skips with a printed reason when the Alertmanager is missing; fails when
//! PROMTUI_REQUIRE_PEERS=1.

mod common;

use std::time::{Duration, Instant};

use common::*;

#[test]
fn alerts_fire_and_resolve_in_a_real_alertmanager() {
    if !peer_available(ALERTMANAGER) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // The Alertmanager, without clustering.
    std::fs::write(
        dir.path().join("am.yml"),
        "route:\n  receiver: none\n  group_wait: 1s\nreceivers:\n  - name: none\n",
    )
    .unwrap();
    let am_log = std::fs::File::create(dir.path().join("am.log")).unwrap();
    let (_am, am_port) = start_alertmanager(dir.path(), &[], am_log);
    let am = format!("http://127.0.0.1:{am_port}");

    let target = BodyServer::start(vec![(
        b"# TYPE queue_depth gauge\nqueue_depth 3\n".to_vec(),
        "text/plain; version=0.0.4".into(),
    )]);
    std::fs::write(
        dir.path().join("rules.yml"),
        "groups:\n  - name: q\n    interval: 300ms\n    rules:\n      - alert: QueueDeep\n        \
         expr: queue_depth > 10\n        for: 1s\n        labels:\n          severity: page\n        \
         annotations:\n          summary: 'depth {{ $value }} on {{ $labels.instance }}'\n",
    )
    .unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let extra = format!(
        "  external_labels:\n    dc: eu\nrule_files: [rules.yml]\nalerting:\n  alertmanagers:\n    \
         - static_configs:\n        - targets: ['127.0.0.1:{am_port}']\n"
    );
    let _server = start_serve(
        dir.path(),
        &body_target_config(target.port, "q", &extra),
        port,
        &[],
    );
    let am_alerts = || -> Vec<serde_json::Value> {
        ureq::get(&format!("{am}/api/v2/alerts"))
            .call()
            .ok()
            .and_then(|r| r.into_string().ok())
            .and_then(|b| serde_json::from_str::<serde_json::Value>(&b).ok())
            .and_then(|v| v.as_array().cloned())
            .unwrap_or_default()
    };
    // Below the threshold: nothing is sent.
    std::thread::sleep(Duration::from_millis(1500));
    assert!(am_alerts().is_empty());

    // Crossing it: pending first, then firing after `for`, then in the Alertmanager.
    let crossed = Instant::now();
    target.set(0, b"# TYPE queue_depth gauge\nqueue_depth 42\n".to_vec());
    wait_until("a pending alert", Duration::from_secs(10), || {
        let v = api_get(&base, "/api/v1/alerts", &[])?;
        (v["data"]["alerts"][0]["state"] == "pending").then_some(())
    });
    assert!(am_alerts().is_empty(), "pending alerts are not sent");
    let a = wait_until(
        "the alert in the Alertmanager",
        Duration::from_secs(20),
        || am_alerts().into_iter().next(),
    );
    assert!(
        crossed.elapsed() >= Duration::from_secs(1),
        "sent before `for` passed"
    );
    assert_eq!(a["labels"]["alertname"], "QueueDeep");
    assert_eq!(a["labels"]["severity"], "page");
    assert_eq!(a["labels"]["dc"], "eu", "external labels are added");
    assert_eq!(a["labels"]["job"], "q");
    assert_eq!(
        a["annotations"]["summary"],
        format!("depth 42 on 127.0.0.1:{}", target.port)
    );
    assert_eq!(a["status"]["state"], "active");
    assert!(a["startsAt"].as_str().unwrap().starts_with("20"));
    let g = a["generatorURL"].as_str().unwrap();
    assert!(
        g.starts_with(&format!(
            "http://127.0.0.1:{port}/graph?g0.expr=queue_depth"
        )) && g.ends_with("&g0.tab=1"),
        "{g}"
    );

    // Recovery: the alert resolves and the Alertmanager drops it from its active alerts.
    target.set(0, b"# TYPE queue_depth gauge\nqueue_depth 1\n".to_vec());
    wait_until(
        "the Alertmanager to see it resolved",
        Duration::from_secs(20),
        || {
            let now = am_alerts();
            now.iter()
                .all(|a| {
                    a["status"]["state"] != "active"
                        || a["endsAt"].as_str().is_some_and(|e| e < "2")
                })
                .then_some(())
        },
    );
    let m = ureq::get(&format!("{base}/metrics"))
        .call()
        .unwrap()
        .into_string()
        .unwrap();
    let sent: f64 = m
        .lines()
        .find(|l| l.starts_with("prometheus_notifications_sent_total "))
        .and_then(|l| l.rsplit_once(' '))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap();
    assert!(sent >= 2.0, "firing and resolved were sent: {sent}");
}
