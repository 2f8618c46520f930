//! Operator state survives kill -9: a hundred times, promtui is killed (SIGKILL) right
//! after a silence POST or an acknowledgement POST answered 200; after each restart the
//! silence or acknowledgement must be there. Every earlier one must still be there too.
//!
//! About 10 s for the hundred iterations in a debug build; `PROMTUI_CRASH_ITERATIONS`
//! changes the count.

mod common;
#[path = "alerting_support/mod.rs"]
mod support;

use serde_json::{json, Value};
use support::*;

const CONFIG: &str = "route:\n  receiver: r\n  group_wait: 1h\nreceivers:\n  - name: r\n";

#[test]
fn silences_and_acks_answered_200_survive_kill_9() {
    let n: usize = std::env::var("PROMTUI_CRASH_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let dir = tempfile::tempdir().unwrap();
    let mut silences: Vec<String> = Vec::new();
    let mut acks: Vec<String> = Vec::new();
    let mut ports = None;
    for i in 0..n {
        let p = start_promtui(dir.path(), CONFIG, ports);
        ports = Some((p.web, p.am));
        let base = p.base();
        // Everything answered 200 before any earlier kill is there.
        let got: Vec<String> = get_json(&format!("{base}/api/v2/silences"))
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["id"].as_str().unwrap().to_string())
            .collect();
        for id in &silences {
            assert!(
                got.contains(id),
                "iteration {i}: silence {id} lost after kill -9"
            );
        }
        let got: Vec<String> = get_json(&format!("{base}/api/v2/acks"))
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["id"].as_str().unwrap().to_string())
            .collect();
        for id in &acks {
            assert!(
                got.contains(id),
                "iteration {i}: ack {id} lost after kill -9"
            );
        }
        if i % 2 == 0 {
            let now = chrono::Utc::now();
            let (code, body) = post(
                &format!("{base}/api/v2/silences"),
                &json!({"matchers": [{"name": "n", "value": i.to_string(), "isRegex": false}],
                        "startsAt": now.to_rfc3339(),
                        "endsAt": (now + chrono::Duration::hours(1)).to_rfc3339(),
                        "createdBy": "crash", "comment": "kill -9"}),
            );
            assert_eq!(code, 200, "{body}");
            let v: Value = serde_json::from_str(&body).unwrap();
            silences.push(v["silenceID"].as_str().unwrap().to_string());
        } else {
            let labels = json!({"alertname": "Crash", "n": i.to_string()});
            let (code, _) = post(
                &format!("{base}/api/v2/alerts"),
                &json!([{"labels": labels}]),
            );
            assert_eq!(code, 200);
            let fp = get_json(&format!("{base}/api/v2/alerts?filter=n%3D%22{i}%22"))[0]
                ["fingerprint"]
                .as_str()
                .unwrap()
                .to_string();
            let (code, body) = post(
                &format!("{base}/api/v2/acks"),
                &json!({"fingerprint": fp, "createdBy": "crash", "comment": "kill -9"}),
            );
            assert_eq!(code, 200, "{body}");
            let v: Value = serde_json::from_str(&body).unwrap();
            acks.push(v["ackID"].as_str().unwrap().to_string());
        }
        // ChildGuard's drop sends SIGKILL right away.
        drop(p);
    }
    let p = start_promtui(dir.path(), CONFIG, ports);
    let sils = get_json(&format!("{}/api/v2/silences", p.base()));
    assert_eq!(sils.as_array().unwrap().len(), silences.len());
    let a = get_json(&format!("{}/api/v2/acks", p.base()));
    assert_eq!(a.as_array().unwrap().len(), acks.len());
}
