//! The built-in Alertmanager end to end: `promtui check alertmanager` and `promtui alerts
//! routes test` against amtool 0.25, the pipeline over real HTTP (webhook notifications,
//! silences, acknowledgements, restart, reload), and amtool's commands run against both
//! promtui and Alertmanager 0.25 with the same configuration, outputs compared.
//! Peers are skipped with a printed reason when missing (failed with
//! PROMTUI_REQUIRE_PEERS=1).

mod common;
#[path = "alerting_support/mod.rs"]
mod support;

use std::time::Duration;

use common::peer_available;
use serde_json::json;
use support::*;

const ROUTES: &str = r#"
route:
  receiver: default
  group_by: [alertname]
  group_wait: 1s
  group_interval: 2s
  repeat_interval: 1h
  routes:
    - matchers: [team="db"]
      receiver: db
      continue: true
      routes:
        - matchers: [severity="page"]
          receiver: db-pager
    - matchers: [team=~"db|web"]
      receiver: web
    - match: {env: staging}
      receiver: default
receivers: [{name: default}, {name: db}, {name: db-pager}, {name: web}]
inhibit_rules:
  - source_matchers: [severity="critical"]
    target_matchers: [severity="warning"]
    equal: [alertname]
"#;

fn promtui(args: &[&str]) -> (i32, String, String) {
    let out = std::process::Command::new(PROMTUI)
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn check_alertmanager_reports_as_amtool_check_config() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.yml");
    std::fs::write(&good, ROUTES).unwrap();
    let bad = dir.path().join("bad.yml");
    std::fs::write(
        &bad,
        "route:\n  receiver: web\n  group_wait: 10x\nreceivers:\n  - name: web\n",
    )
    .unwrap();
    let g = good.to_str().unwrap();
    let b = bad.to_str().unwrap();
    let (code, out, _) = promtui(&["check", "alertmanager", g]);
    assert_eq!(code, 0, "{out}");
    let (code, out_bad, err_bad) = promtui(&["check", "alertmanager", b]);
    assert_eq!(code, 1);
    assert!(
        out_bad.contains(&format!(
            "FAILED: {b}:3:3: not a valid duration string: \"10x\""
        )),
        "{out_bad}"
    );
    assert!(
        err_bad.contains("failed to validate 1 file(s)"),
        "{err_bad}"
    );
    if !peer_available(AMTOOL) {
        return;
    }
    let (acode, aout, _) = amtool(&["check-config", g]);
    assert_eq!(acode, 0);
    assert_eq!(
        out, aout,
        "promtui check alertmanager differs from amtool check-config"
    );
    let (acode, _, _) = amtool(&["check-config", b]);
    assert_eq!(acode, 1);
}

#[test]
fn routes_test_gives_amtools_receivers() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("am.yml");
    std::fs::write(&cfg, ROUTES).unwrap();
    let c = cfg.to_str().unwrap();
    let cases: &[&[&str]] = &[
        &["team=db", "severity=page"],
        &["team=db"],
        &["team=web"],
        &["env=staging"],
        &["alertname=x"],
        &[],
    ];
    let want: &[&str] = &[
        "db-pager,web",
        "db,web",
        "web",
        "default",
        "default",
        "default",
    ];
    for (labels, want) in cases.iter().zip(want) {
        let mut args = vec!["alerts", "routes", "test", "--config", c];
        args.extend_from_slice(labels);
        let (code, out, err) = promtui(&args);
        assert_eq!(code, 0, "{err}");
        assert_eq!(out.trim(), *want, "{labels:?}");
        if peer_available(AMTOOL) {
            let cf = format!("--config.file={c}");
            let mut aargs = vec!["config", "routes", "test", cf.as_str()];
            aargs.extend_from_slice(labels);
            let (_, aout, _) = amtool(&aargs);
            assert_eq!(out, aout, "{labels:?}");
        }
    }
    let (code, out, _) = promtui(&[
        "alerts",
        "routes",
        "test",
        "--config",
        c,
        "--verify.receivers=web",
        "team=db",
    ]);
    assert_eq!(code, 1);
    assert!(out.contains("did not match"));
    let (code, out, _) = promtui(&[
        "alerts",
        "routes",
        "test",
        "--config",
        c,
        "--verbose",
        "team=db",
    ]);
    assert_eq!(code, 0);
    assert!(out.contains(r#"{}/{team="db"}/0"#), "{out}");
}

fn pipeline_config(sink: &WebhookSink) -> String {
    format!(
        r#"
global:
  resolve_timeout: 1m
route:
  receiver: web
  group_by: [alertname]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: web
    webhook_configs:
      - url: {}
inhibit_rules:
  - source_matchers: [severity="critical"]
    target_matchers: [severity="warning"]
    equal: [alertname]
"#,
        sink.url()
    )
}

fn alerts_named(body: &serde_json::Value) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = body["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["labels"]["instance"].as_str().unwrap_or("").to_string(),
                a["status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn the_pipeline_notifies_silences_acks_and_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let sink = WebhookSink::start();
    let cfg = pipeline_config(&sink);
    let p = start_promtui(dir.path(), &cfg, None);
    let base = p.base();
    let alert = |inst: &str, extra: serde_json::Value| {
        let mut labels = json!({"alertname": "Disk", "instance": inst});
        for (k, v) in extra.as_object().unwrap() {
            labels[k] = v.clone();
        }
        json!({"labels": labels, "annotations": {"summary": "disk full"}, "generatorURL": "http://prom/graph"})
    };
    let (code, _) = post(
        &format!("{base}/api/v2/alerts"),
        &json!([alert("a", json!({})), alert("b", json!({}))]),
    );
    assert_eq!(code, 200);
    eventually("the first notification", Duration::from_secs(10), || {
        !sink.snapshot().is_empty()
    });
    std::thread::sleep(Duration::from_millis(500));
    let first = sink.take();
    assert_eq!(first.len(), 1, "{first:?}");
    assert_eq!(first[0]["groupKey"], r#"{}:{alertname="Disk"}"#);
    assert_eq!(first[0]["version"], "4");
    assert_eq!(
        alerts_named(&first[0]),
        vec![("a".into(), "firing".into()), ("b".into(), "firing".into())]
    );

    // The API is on the web port too.
    let on_web = get_json(&format!("http://127.0.0.1:{}/api/v2/alerts", p.web));
    assert_eq!(on_web.as_array().unwrap().len(), 2);

    // Bad input: clear 400s.
    let (code, body) = post(&format!("{base}/api/v2/alerts"), &json!([{"labels": {}}]));
    assert_eq!(
        (code, body.trim()),
        (400, "\"at least one label pair required\"")
    );
    let (code, _) = get(&format!("{base}/api/v2/alerts?filter=foo"));
    assert_eq!(code, 400);

    // A silence on b: a new alert c fires, the notification carries a and c only.
    let now = chrono::Utc::now();
    let (code, body) = post(
        &format!("{base}/api/v2/silences"),
        &json!({"matchers": [{"name": "instance", "value": "b", "isRegex": false, "isEqual": true}],
                "startsAt": now.to_rfc3339(), "endsAt": (now + chrono::Duration::hours(2)).to_rfc3339(),
                "createdBy": "test", "comment": "maintenance"}),
    );
    assert_eq!(code, 200, "{body}");
    let silence_id = serde_json::from_str::<serde_json::Value>(&body).unwrap()["silenceID"]
        .as_str()
        .unwrap()
        .to_string();
    let sils = get_json(&format!("{base}/api/v2/silences"));
    assert_eq!(
        sils[0]["promtui"],
        json!({"matchingAlerts": 1, "endsSoon": false}),
        "{sils}"
    );
    let silenced = get_json(&format!("{base}/api/v2/alerts?active=false"));
    assert_eq!(silenced.as_array().unwrap().len(), 1);
    assert_eq!(silenced[0]["status"]["silencedBy"][0], silence_id.as_str());
    assert_eq!(silenced[0]["status"]["state"], "suppressed");
    post(
        &format!("{base}/api/v2/alerts"),
        &json!([alert("c", json!({}))]),
    );
    eventually("the notification about c", Duration::from_secs(10), || {
        !sink.snapshot().is_empty()
    });
    std::thread::sleep(Duration::from_millis(300));
    let second = sink.take();
    assert_eq!(
        alerts_named(&second[0]),
        vec![("a".into(), "firing".into()), ("c".into(), "firing".into())]
    );

    // Acknowledge c: it stays visible, marked; a new alert d is notified without c.
    let c_fp = get_json(&format!("{base}/api/v2/alerts?filter=instance%3D%22c%22"))[0]
        ["fingerprint"]
        .as_str()
        .unwrap()
        .to_string();
    let (code, body) = post(
        &format!("{base}/api/v2/acks"),
        &json!({"fingerprint": c_fp, "createdBy": "oncall", "comment": "looking"}),
    );
    assert_eq!(code, 200, "{body}");
    let ack_id = serde_json::from_str::<serde_json::Value>(&body).unwrap()["ackID"]
        .as_str()
        .unwrap()
        .to_string();
    let c = get_json(&format!("{base}/api/v2/alerts?filter=instance%3D%22c%22"));
    assert_eq!(c[0]["status"]["ackedBy"][0], ack_id.as_str());
    post(
        &format!("{base}/api/v2/alerts"),
        &json!([alert("d", json!({}))]),
    );
    eventually("the notification about d", Duration::from_secs(10), || {
        !sink.snapshot().is_empty()
    });
    std::thread::sleep(Duration::from_millis(300));
    let third = sink.take();
    assert_eq!(
        alerts_named(&third[0]),
        vec![("a".into(), "firing".into()), ("d".into(), "firing".into())]
    );
    let (code, _) = post(
        &format!("{base}/api/v2/acks"),
        &json!({"fingerprint": "ffffffffffffffff", "createdBy": "x"}),
    );
    assert_eq!(code, 404);

    // Restart: no re-send of what was sent; the silence and the ack are still there.
    drop(p);
    let p = start_promtui(dir.path(), &cfg, None);
    let base = p.base();
    let sils = get_json(&format!("{base}/api/v2/silences"));
    assert_eq!(sils[0]["id"], silence_id.as_str());
    let acks = get_json(&format!("{base}/api/v2/acks"));
    assert_eq!(acks[0]["id"], ack_id.as_str());
    assert_eq!(acks[0]["status"]["state"], "active");
    std::thread::sleep(Duration::from_secs(3));
    assert!(sink.take().is_empty(), "a restart re-sent a notification");

    // Resolve a: a resolved notification, with the still firing d.
    post(
        &format!("{base}/api/v2/alerts"),
        &json!([{"labels": {"alertname": "Disk", "instance": "a"}, "endsAt": chrono::Utc::now().to_rfc3339()}]),
    );
    eventually("the resolved notification", Duration::from_secs(10), || {
        !sink.snapshot().is_empty()
    });
    let fourth = sink.take();
    assert_eq!(
        alerts_named(&fourth[0]),
        vec![
            ("a".into(), "resolved".into()),
            ("d".into(), "firing".into())
        ]
    );

    // The history records firing and resolved events.
    eventually("a in the history", Duration::from_secs(5), || {
        let h = get_json(&format!("{base}/api/v2/history"));
        h.as_array()
            .unwrap()
            .iter()
            .any(|e| e["event"] == "resolved" && e["labels"]["instance"] == "a")
    });
    // Expire the silence: b is news again.
    let (code, _) = delete(&format!("{base}/api/v2/silence/{silence_id}"));
    assert_eq!(code, 200);
    let (code, body) = delete(&format!("{base}/api/v2/silence/{silence_id}"));
    assert_eq!(
        (code, body.trim()),
        (
            500,
            format!("\"silence {silence_id} already expired\"").as_str()
        )
    );
    eventually(
        "b notified after its silence expired",
        Duration::from_secs(10),
        || {
            sink.snapshot()
                .iter()
                .any(|b| alerts_named(b).contains(&("b".into(), "firing".into())))
        },
    );

    // A broken reload is refused with file:line:column; the running configuration stays.
    std::fs::write(
        dir.path().join("alertmanager.yml"),
        "route:\n  receiver: nope\nreceivers: []\n",
    )
    .unwrap();
    let (code, body) = post(&format!("http://127.0.0.1:{}/-/reload", p.web), &json!({}));
    assert_ne!(code, 200);
    assert!(
        body.contains("alertmanager.yml:2:3: undefined receiver \"nope\""),
        "{body}"
    );
    let status = get_json(&format!("{base}/api/v2/status"));
    assert!(status["config"]["original"]
        .as_str()
        .unwrap()
        .contains("webhook_configs"));
    assert_eq!(
        get_json(&format!("{base}/api/v2/receivers")),
        json!([{"name": "web"}])
    );
}

/// Replaces what differs between two runs (ids, times) so outputs compare.
fn normalize(s: &str, ids: &mut Vec<String>) -> String {
    let uuid =
        regex::Regex::new(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}").unwrap();
    let s = uuid
        .replace_all(s, |c: &regex::Captures<'_>| {
            let id = c[0].to_string();
            let n = match ids.iter().position(|x| *x == id) {
                Some(n) => n,
                None => {
                    ids.push(id);
                    ids.len() - 1
                }
            };
            format!("<id{n}>")
        })
        .into_owned();
    let time = regex::Regex::new(r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(\.\d+)?( UTC|Z)?").unwrap();
    let s = time.replace_all(&s, "<time>").into_owned();
    // Column widths follow the longest cell, which the ids and times made equal above.
    let ws = regex::Regex::new(r" +").unwrap();
    ws.replace_all(&s, " ").into_owned()
}

#[test]
fn amtool_gives_the_same_outputs_against_promtui_and_alertmanager() {
    if !peer_available(ALERTMANAGER) || !peer_available(AMTOOL) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pdir = dir.path().join("promtui");
    std::fs::create_dir_all(&pdir).unwrap();
    let p = start_promtui(&pdir, ROUTES, None);
    let (_am, am_url) = start_alertmanager(dir.path(), ROUTES);
    let import = dir.path().join("import.json");
    let run = |url: &str| -> Vec<String> {
        let u = format!("--alertmanager.url={url}");
        let mut ids = Vec::new();
        let mut outs = Vec::new();
        let mut step = |args: &[&str], ids: &mut Vec<String>| -> String {
            let mut a = vec![u.as_str()];
            a.extend_from_slice(args);
            let (code, out, err) = amtool(&a);
            let o = format!(
                "{} -> {code}\n{}{}",
                normalize(&format!("{args:?}"), ids),
                normalize(&out, ids),
                normalize(&err, ids)
            );
            outs.push(o.clone());
            out
        };
        step(
            &[
                "alert",
                "add",
                "alertname=Disk",
                "severity=warning",
                "team=db",
                "--annotation=summary=full",
            ],
            &mut ids,
        );
        step(
            &[
                "alert",
                "add",
                "alertname=Disk",
                "severity=critical",
                "team=web",
            ],
            &mut ids,
        );
        step(
            &[
                "alert",
                "add",
                "alertname=Cpu",
                "severity=warning",
                "team=db",
            ],
            &mut ids,
        );
        std::thread::sleep(Duration::from_millis(300));
        step(&["alert", "query"], &mut ids);
        step(&["alert", "query", "--inhibited"], &mut ids);
        step(&["alert", "query", "team=db"], &mut ids);
        step(
            &["alert", "query", "-o", "extended", "alertname=~D.*"],
            &mut ids,
        );
        step(&["alert", "query", "--receiver=web"], &mut ids);
        let id = step(
            &[
                "silence",
                "add",
                "alertname=Cpu",
                "-c",
                "quiet",
                "-a",
                "me",
                "-d",
                "1h",
            ],
            &mut ids,
        );
        let id = id.trim().to_string();
        step(&["silence", "query"], &mut ids);
        step(&["alert", "query", "--silenced"], &mut ids);
        step(&["alert", "query", "-s", "-i"], &mut ids);
        step(
            &["silence", "query", "-o", "extended", "alertname=Cpu"],
            &mut ids,
        );
        step(&["silence", "update", &id, "-c", "quieter"], &mut ids);
        step(&["silence", "query", "--expired"], &mut ids);
        let json_out = {
            let (_, out, _) = amtool(&[u.as_str(), "silence", "query", "-o", "json"]);
            out
        };
        std::fs::write(&import, json_out).unwrap();
        step(&["silence", "expire", &id], &mut ids);
        step(
            &["silence", "expire", "00000000-0000-4000-8000-000000000000"],
            &mut ids,
        );
        step(&["silence", "import", import.to_str().unwrap()], &mut ids);
        step(&["silence", "query", "-q"], &mut ids);
        step(&["silence", "query", "--expired", "-q"], &mut ids);
        outs
    };
    let ours = run(&p.base());
    let theirs = run(&am_url);
    for (o, t) in ours.iter().zip(&theirs) {
        assert_eq!(
            o, t,
            "amtool output differs (promtui left, Alertmanager right)"
        );
    }
    assert_eq!(ours.len(), theirs.len());
}

/// A webhook that answers 500 to its first `fail` requests, then 200; counts requests.
fn flaky_sink(fail: usize) -> (u16, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::sync::atomic::{AtomicUsize, Ordering};
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let n = std::sync::Arc::new(AtomicUsize::new(0));
    let n2 = n.clone();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut len = 0;
            let mut line = String::new();
            loop {
                line.clear();
                if r.read_line(&mut line).unwrap_or(0) == 0 {
                    break;
                }
                let t = line.trim_end().to_ascii_lowercase();
                if t.is_empty() {
                    break;
                }
                if let Some(v) = t.strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; len];
            let _ = r.read_exact(&mut body);
            let k = n2.fetch_add(1, Ordering::SeqCst);
            let status = if k < fail {
                "500 Internal Server Error"
            } else {
                "200 OK"
            };
            let _ = write!(
                s,
                "HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
        }
    });
    (port, n)
}

#[test]
fn failed_sends_are_retried_unsupported_kinds_reported_and_groups_acked() {
    use std::sync::atomic::Ordering;
    let dir = tempfile::tempdir().unwrap();
    let (port, count) = flaky_sink(2);
    let sink = WebhookSink::start();
    let cfg = format!(
        r#"
route:
  receiver: flaky
  group_by: [alertname]
  group_wait: 500ms
  group_interval: 1s
  repeat_interval: 1h
  routes:
    - matchers: [alertname="Grouped"]
      receiver: web
receivers:
  - name: flaky
    webhook_configs: [{{url: 'http://127.0.0.1:{port}/'}}]
    opsgenie_configs: [{{api_key: k}}]
  - name: web
    webhook_configs: [{{url: '{}'}}]
"#,
        sink.url()
    );
    let p = start_promtui(dir.path(), &cfg, None);
    let base = p.base();
    let status = get_json(&format!("{base}/api/v2/status"));
    assert_eq!(
        status["promtui"]["unsupportedIntegrations"],
        json!([{"receiver": "flaky", "kind": "opsgenie", "index": 0, "reason": "not supported by promtui"}])
    );
    post(
        &format!("{base}/api/v2/alerts"),
        &json!([{"labels": {"alertname": "Flaky"}}]),
    );
    // Two 500s, then the third attempt (after 0.5 s and 0.75 s of backoff) succeeds.
    eventually("the retried notification", Duration::from_secs(15), || {
        count.load(Ordering::SeqCst) >= 3
    });
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        count.load(Ordering::SeqCst),
        3,
        "sent again after it succeeded"
    );

    // Acknowledge a whole group: its alerts are held back; a newcomer is news.
    post(
        &format!("{base}/api/v2/alerts"),
        &json!([{"labels": {"alertname": "Grouped", "i": "1"}}, {"labels": {"alertname": "Grouped", "i": "2"}}]),
    );
    eventually("the group's notification", Duration::from_secs(10), || {
        !sink.snapshot().is_empty()
    });
    let key = sink.take()[0]["groupKey"].as_str().unwrap().to_string();
    let (code, body) = post(
        &format!("{base}/api/v2/acks"),
        &json!({"groupKey": key, "createdBy": "oncall", "comment": "on it",
                "expiresAt": (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339()}),
    );
    assert_eq!(code, 200, "{body}");
    let acks = get_json(&format!("{base}/api/v2/acks"));
    assert_eq!(acks[0]["fingerprints"].as_array().unwrap().len(), 2);
    assert_eq!(acks[0]["groupKey"], key.as_str());
    post(
        &format!("{base}/api/v2/alerts"),
        &json!([{"labels": {"alertname": "Grouped", "i": "3"}}]),
    );
    eventually(
        "the newcomer's notification",
        Duration::from_secs(10),
        || !sink.snapshot().is_empty(),
    );
    std::thread::sleep(Duration::from_millis(300));
    let b = sink.take();
    let alerts = b[0]["alerts"].as_array().unwrap();
    assert_eq!(alerts.len(), 1, "{b:?}");
    assert_eq!(alerts[0]["labels"]["i"], "3");
    // Ending the acknowledgement makes the group's alerts news again.
    let id = acks[0]["id"].as_str().unwrap();
    let (code, _) = delete(&format!("{base}/api/v2/ack/{id}"));
    assert_eq!(code, 200);
    eventually("the unacknowledged alerts", Duration::from_secs(10), || {
        sink.snapshot()
            .iter()
            .any(|b| b["alerts"].as_array().unwrap().len() == 3)
    });
}

/// The value of the sample `series` (name and labels as exposed) in a /metrics body.
fn metric(body: &str, series: &str) -> Option<f64> {
    body.lines().find_map(|l| {
        l.strip_prefix(series)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}

#[test]
fn alertmanager_port_reloads_and_serves_alertmanager_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let sink = WebhookSink::start();
    let cfg = pipeline_config(&sink);
    let p = start_promtui(dir.path(), &cfg, None);
    let base = p.base();
    let (code, m) = get(&format!("{base}/metrics"));
    assert_eq!(code, 200);
    for (series, want) in [
        (r#"alertmanager_alerts{state="active"}"#, 0.0),
        (
            r#"alertmanager_notifications_total{integration="webhook"}"#,
            0.0,
        ),
        (
            r#"alertmanager_notifications_failed_total{integration="webhook"}"#,
            0.0,
        ),
        (r#"alertmanager_silences{state="active"}"#, 0.0),
        ("alertmanager_config_last_reload_successful", 1.0),
    ] {
        assert_eq!(metric(&m, series), Some(want), "{series} in\n{m}");
    }

    let (code, _) = post(
        &format!("{base}/api/v2/alerts"),
        &json!([{"labels": {"alertname": "Disk", "instance": "a"}},
                {"labels": {"alertname": "Disk", "instance": "b"}}]),
    );
    assert_eq!(code, 200);
    eventually("the notification", Duration::from_secs(10), || {
        !sink.snapshot().is_empty()
    });
    let now = chrono::Utc::now();
    let (code, body) = post(
        &format!("{base}/api/v2/silences"),
        &json!({"matchers": [{"name": "instance", "value": "b", "isRegex": false, "isEqual": true}],
                "startsAt": now.to_rfc3339(), "endsAt": (now + chrono::Duration::hours(1)).to_rfc3339(),
                "createdBy": "test", "comment": "metrics"}),
    );
    assert_eq!(code, 200, "{body}");
    let m = get(&format!("{base}/metrics")).1;
    for (series, want) in [
        (r#"alertmanager_alerts{state="active"}"#, 1.0),
        (r#"alertmanager_alerts{state="suppressed"}"#, 1.0),
        (
            r#"alertmanager_alerts_received_total{status="firing"}"#,
            2.0,
        ),
        (
            r#"alertmanager_notifications_total{integration="webhook"}"#,
            1.0,
        ),
        (
            r#"alertmanager_notification_requests_total{integration="webhook"}"#,
            1.0,
        ),
        (
            r#"alertmanager_notification_latency_seconds_count{integration="webhook"}"#,
            1.0,
        ),
        (
            r#"alertmanager_notification_latency_seconds_bucket{integration="webhook",le="1"}"#,
            1.0,
        ),
        (r#"alertmanager_silences{state="active"}"#, 1.0),
    ] {
        assert_eq!(metric(&m, series), Some(want), "{series} in\n{m}");
    }
    // The same families are on the main /metrics.
    let main = get(&format!("http://127.0.0.1:{}/metrics", p.web)).1;
    assert_eq!(
        metric(&main, r#"alertmanager_silences{state="active"}"#),
        Some(1.0),
        "{main}"
    );

    // A broken file: 500 with the reason, the running configuration stays.
    let am_yml = dir.path().join("alertmanager.yml");
    std::fs::write(
        &am_yml,
        "route:\n  receiver: nowhere\nreceivers: [{name: x}]\n",
    )
    .unwrap();
    let (code, body) = post(&format!("{base}/-/reload"), &json!({}));
    assert_eq!(code, 500, "{body}");
    assert!(body.starts_with("failed to reload config: "), "{body}");
    assert!(body.contains("nowhere"), "{body}");
    let m = get(&format!("{base}/metrics")).1;
    assert_eq!(
        metric(&m, "alertmanager_config_last_reload_successful"),
        Some(0.0)
    );
    let names = |v: serde_json::Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        names(get_json(&format!("{base}/api/v2/receivers"))),
        vec!["web"]
    );

    // A good one is applied: the receivers change, the metric turns back to 1.
    let renamed = cfg
        .replace("receiver: web", "receiver: renamed")
        .replace("- name: web", "- name: renamed");
    std::fs::write(&am_yml, renamed).unwrap();
    let (code, body) = post(&format!("{base}/-/reload"), &json!({}));
    assert_eq!((code, body.as_str()), (200, ""));
    assert_eq!(
        names(get_json(&format!("{base}/api/v2/receivers"))),
        vec!["renamed"]
    );
    let m = get(&format!("{base}/metrics")).1;
    assert_eq!(
        metric(&m, "alertmanager_config_last_reload_successful"),
        Some(1.0)
    );
    // GET is not a reload.
    assert_eq!(get(&format!("{base}/-/reload")).0, 405);
}
