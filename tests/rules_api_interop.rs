//! `/api/v1/rules` and `/api/v1/alerts` have the shape of Debian's Prometheus 2.42's (every
//! key, with its JSON type) for the same rule file, and the same alert labels, annotations,
//! state and value. Skips with a printed reason when Prometheus is missing; fails when
//! PROMTUI_REQUIRE_PEERS=1.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

const RULES: &str = r#"groups:
  - name: demo
    interval: 1s
    rules:
      - record: job:demo:x2
        expr: vector(42) * 2
      - alert: DemoHigh
        expr: job:demo:x2 > 10
        for: 1s
        labels:
          severity: page
        annotations:
          summary: "is at {{ $value }}"
"#;

/// Every key path with the JSON type of its value (lists by their first element).
fn shape(v: &Value, path: &str, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                let kind = match x {
                    Value::Null => "null",
                    Value::Bool(_) => "bool",
                    Value::Number(n) if n.is_f64() => "float",
                    Value::Number(_) => "int",
                    Value::String(_) => "string",
                    Value::Array(_) => "array",
                    Value::Object(_) => "object",
                };
                // Go writes a float64 without a fraction as an integer.
                let kind = if kind == "float" && x.as_f64().is_some_and(|f| f.fract() == 0.0) {
                    "int"
                } else {
                    kind
                };
                // Durations and evaluation times are floats that may happen to be whole.
                let kind = if k.ends_with("ationTime") {
                    "number"
                } else {
                    kind
                };
                out.insert(format!("{path}/{k}:{kind}"));
                shape(x, &format!("{path}/{k}"), out);
            }
        }
        Value::Array(a) => {
            if let Some(first) = a.first() {
                shape(first, &format!("{path}[]"), out);
            }
        }
        _ => {}
    }
}

fn start(bin: &str, args: &[String], dir: &Path, port: u16) -> ChildGuard {
    let log = std::fs::File::create(dir.join(format!("{port}.log"))).unwrap();
    let child = ChildGuard(
        Command::new(bin)
            .args(args)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    assert!(wait_http_ok(
        &format!("http://127.0.0.1:{port}/-/ready"),
        Duration::from_secs(30)
    ));
    child
}

/// Waits until the server's alert fires, and returns its rules and alerts documents.
fn firing(port: u16) -> (Value, Value) {
    let base = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let alerts = api_get(&base, "/api/v1/alerts", &[]).unwrap();
        if alerts["data"]["alerts"][0]["state"] == "firing" {
            return (api_get(&base, "/api/v1/rules", &[]).unwrap(), alerts);
        }
        assert!(Instant::now() < deadline, "no firing alert on :{port}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn rules_and_alerts_have_the_shape_of_prometheus_2_42() {
    if !peer_available(PROMETHEUS) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("rules.yml"), RULES).unwrap();
    let cfg = dir.path().join("p.yml");
    std::fs::write(
        &cfg,
        "global:\n  evaluation_interval: 1s\nrule_files: [rules.yml]\n",
    )
    .unwrap();
    let (pp, tp) = (free_port(), free_port());
    let common_args = |port: u16, data: &str| {
        vec![
            format!("--config.file={}", cfg.display()),
            format!("--storage.tsdb.path={}", dir.path().join(data).display()),
            format!("--web.listen-address=127.0.0.1:{port}"),
        ]
    };
    let _prom = start(PROMETHEUS, &common_args(pp, "prom"), dir.path(), pp);
    let mut ours_args = vec!["serve".to_string(), "--log.level=warn".to_string()];
    ours_args.extend(common_args(tp, "promtui"));
    let _ours = start(env!("CARGO_BIN_EXE_promtui"), &ours_args, dir.path(), tp);
    let (prom_rules, prom_alerts) = firing(pp);
    let (our_rules, our_alerts) = firing(tp);
    for (name, theirs, ours) in [
        ("rules", &prom_rules, &our_rules),
        ("alerts", &prom_alerts, &our_alerts),
    ] {
        let (mut a, mut b) = (BTreeSet::new(), BTreeSet::new());
        shape(theirs, "", &mut a);
        shape(ours, "", &mut b);
        assert_eq!(a, b, "{name}: Prometheus {theirs}\npromtui {ours}");
    }
    let (pa, oa) = (
        &prom_alerts["data"]["alerts"][0],
        &our_alerts["data"]["alerts"][0],
    );
    for k in ["labels", "annotations", "state", "value"] {
        assert_eq!(pa[k], oa[k], "{k}");
    }
    let (pr, or) = (
        &prom_rules["data"]["groups"][0]["rules"],
        &our_rules["data"]["groups"][0]["rules"],
    );
    for i in 0..2 {
        for k in [
            "name",
            "query",
            "type",
            "health",
            "labels",
            "annotations",
            "duration",
        ] {
            assert_eq!(pr[i][k], or[i][k], "rule {i} {k}");
        }
    }
}
