//! Rules through the real binary: `serve` evaluates a recording and an alerting rule over a
//! scraped loopback target; the alert goes pending, fires after `for`, resolves when the
//! target's value drops; `/api/v1/rules` and `/api/v1/alerts` report it in upstream's
//! shape, and the recorded series and `ALERTS` are queryable.

mod common;

use std::time::Duration;

use common::*;

const RULES: &str = r#"groups:
  - name: demo
    interval: 300ms
    rules:
      - record: job:demo:x2
        expr: demo * 2
      - alert: DemoHigh
        expr: job:demo:x2 > 10
        for: 1s
        labels:
          severity: page
        annotations:
          summary: "{{ $labels.instance }} is at {{ $value }}"
"#;

#[test]
fn serve_evaluates_rules_and_reports_them() {
    let dir = tempfile::tempdir().unwrap();
    let target = BodyServer::start(vec![(
        b"# TYPE demo gauge\ndemo 42\n".to_vec(),
        "text/plain; version=0.0.4".into(),
    )]);
    std::fs::write(dir.path().join("rules.yml"), RULES).unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let config = body_target_config(target.port, "t", "rule_files: [rules.yml]\n");
    let _server = start_serve(dir.path(), &config, port, &[]);
    let alert_state = || {
        api_get(&base, "/api/v1/alerts", &[])
            .and_then(|v| v["data"]["alerts"].as_array().cloned())
            .and_then(|a| a.first().cloned())
            .and_then(|a| a["state"].as_str().map(str::to_string))
    };
    wait_until("the alert to fire", Duration::from_secs(20), || {
        (alert_state().as_deref() == Some("firing")).then_some(())
    });
    let alerts = api_get(&base, "/api/v1/alerts", &[]).unwrap();
    let a = &alerts["data"]["alerts"][0];
    assert_eq!(a["labels"]["alertname"], "DemoHigh");
    assert_eq!(a["labels"]["severity"], "page");
    assert_eq!(a["labels"]["job"], "t");
    assert_eq!(
        a["annotations"]["summary"],
        format!("127.0.0.1:{} is at 84", target.port)
    );
    assert_eq!(a["value"], "8.4e+01");
    assert!(a["activeAt"].as_str().unwrap().ends_with('Z'));

    let rules = api_get(&base, "/api/v1/rules", &[]).unwrap();
    let g = &rules["data"]["groups"][0];
    assert_eq!(g["name"], "demo");
    assert!(g["file"].as_str().unwrap().ends_with("rules.yml"));
    assert_eq!(g["interval"], 0.3);
    let r = &g["rules"];
    assert_eq!(r[0]["type"], "recording");
    assert_eq!(r[0]["name"], "job:demo:x2");
    assert_eq!(r[0]["query"], "demo * 2");
    assert_eq!(r[0]["health"], "ok");
    assert_eq!(r[1]["type"], "alerting");
    assert_eq!(r[1]["state"], "firing");
    assert_eq!(r[1]["duration"], 1.0);
    assert_eq!(r[1]["health"], "ok");
    assert_eq!(r[1]["alerts"].as_array().unwrap().len(), 1);
    // Filters.
    let only = api_get(&base, "/api/v1/rules", &[("type", "record")]).unwrap();
    assert_eq!(
        only["data"]["groups"][0]["rules"].as_array().unwrap().len(),
        1
    );
    let none = api_get(&base, "/api/v1/rules", &[("rule_group[]", "other")]).unwrap();
    assert!(none["data"]["groups"].as_array().unwrap().is_empty());

    // The recorded series and ALERTS are in the store.
    let v = api_get(&base, "/api/v1/query", &[("query", "job:demo:x2")]).unwrap();
    assert_eq!(v["data"]["result"][0]["value"][1], "84");
    let v = api_get(
        &base,
        "/api/v1/query",
        &[("query", "ALERTS{alertstate=\"firing\"}")],
    )
    .unwrap();
    assert_eq!(v["data"]["result"].as_array().unwrap().len(), 1);

    // The rule manager's metrics, under Prometheus' names.
    let metrics = ureq::get(&format!("{base}/metrics"))
        .call()
        .unwrap()
        .into_string()
        .unwrap();
    let value = |name: &str| -> f64 {
        metrics
            .lines()
            .find(|l| l.starts_with(&format!("{name}{{rule_group=")) && l.contains(";demo\""))
            .and_then(|l| l.rsplit_once(' '))
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or_else(|| panic!("{name} missing:\n{metrics}"))
    };
    assert!(value("prometheus_rule_evaluations_total") >= 4.0);
    assert_eq!(value("prometheus_rule_evaluation_failures_total"), 0.0);
    assert_eq!(value("prometheus_rule_group_rules"), 2.0);
    assert_eq!(value("prometheus_rule_group_interval_seconds"), 0.3);
    assert!(value("prometheus_rule_group_last_evaluation_timestamp_seconds") > 1.6e9);

    // The value drops: the alert resolves and leaves the alerts list.
    target.set(0, b"# TYPE demo gauge\ndemo 1\n".to_vec());
    wait_until("the alert to resolve", Duration::from_secs(20), || {
        alert_state().is_none().then_some(())
    });
    let rules = api_get(&base, "/api/v1/rules", &[]).unwrap();
    assert_eq!(rules["data"]["groups"][0]["rules"][1]["state"], "inactive");
}

/// Seconds since the epoch of an RFC 3339 UTC time like `2024-01-02T03:04:05.678Z`.
fn epoch_secs(s: &str) -> f64 {
    let (date, time) = s.trim_end_matches('Z').split_once('T').unwrap();
    let d: Vec<i64> = date.split('-').map(|x| x.parse().unwrap()).collect();
    let (y, m, day) = (d[0], d[1], d[2]);
    // Days from the civil date (proleptic Gregorian).
    let y2 = if m <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let t: Vec<f64> = time.split(':').map(|x| x.parse().unwrap()).collect();
    days as f64 * 86400.0 + t[0] * 3600.0 + t[1] * 60.0 + t[2]
}

#[test]
fn a_pending_alert_keeps_its_progress_across_a_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let target = BodyServer::start(vec![(
        b"# TYPE demo gauge\ndemo 42\n".to_vec(),
        "text/plain; version=0.0.4".into(),
    )]);
    std::fs::write(
        dir.path().join("rules.yml"),
        "groups:\n  - name: slow\n    interval: 300ms\n    rules:\n      - alert: Slow\n        \
         expr: demo > 10\n        for: 1h\n",
    )
    .unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let config = body_target_config(target.port, "t", "rule_files: [rules.yml]\n");
    let active_at = || {
        api_get(&base, "/api/v1/alerts", &[])
            .and_then(|v| v["data"]["alerts"][0]["activeAt"].as_str().map(epoch_secs))
    };
    let mut server = start_serve(dir.path(), &config, port, &[]);
    let first = wait_until("a pending alert", Duration::from_secs(20), active_at);
    // Pending for a while, then killed mid-flight and started again.
    std::thread::sleep(Duration::from_millis(3000));
    server.0.kill().unwrap();
    server.0.wait().unwrap();
    let restarted_at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let _server = start_serve(dir.path(), &config, port, &[]);
    let restored = wait_until(
        "a pending alert after the restart",
        Duration::from_secs(20),
        active_at,
    );
    // The ~3 s it had been pending count: its activeAt is the old one moved by the outage,
    // well before the restart (a fresh alert would start at the restart).
    assert!(
        restored >= first - 1.0,
        "restored {restored} before first {first}"
    );
    assert!(
        restored <= restarted_at - 2.0,
        "activeAt {restored} was not restored (restart at {restarted_at}, first {first})"
    );
}
