//! promtui against Debian's Prometheus 2.42 on the same imported data: regex-heavy
//! selectors, `{__name__=~...}`, `label_replace` and `count_values` queries (including an
//! output label that is also a grouping label), instant and range, at evaluation times
//! off the 15 s sample grid (2.x's closed range windows and 3.x's open ones then agree).
//! Answers must be identical: same status, same series, same values; for errors the same
//! `errorType` and, where neither quotes the anchored pattern (2.42 anchors with `^(?:`,
//! Prometheus 3 with `^(?s:`), the same message.
//!
//! Prometheus gets the data through `promtool tsdb create-blocks-from openmetrics`,
//! promtui through `promtui tsdb import openmetrics`. Skips with a printed reason when
//! Prometheus or promtool is missing, unless `PROMTUI_REQUIRE_PEERS=1`.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use serde_json::Value;

/// First sample (s); samples every 15 s for 30 minutes.
const BASE: i64 = 1_700_000_000;
const POINTS: i64 = 120;

/// Label values chosen for what RE2 and the regex crate read differently: braces, `&&`
/// and `[` in classes, escaped punctuation, non-ASCII digits and letters.
const INSTANCES: &[&str] = &[
    "10.0.0.1:9100",
    "10.0.0.2:9100",
    "10x0.0.3:9100",
    "host-a.example.com:9100",
    "x{,3}",
    "x{01}",
    "w]",
    "&]",
    "a.b",
    "7",
    "٣",
    "é",
    "<b>",
    "c",
];

fn openmetrics() -> String {
    let mut out = String::new();
    out.push_str("# TYPE build_version gauge\n");
    out.push_str("# TYPE http_requests counter\n");
    for i in 0..POINTS {
        let t = BASE + i * 15;
        for (k, inst) in INSTANCES.iter().enumerate() {
            let job = if k % 3 == 0 { "api" } else { "node" };
            let group = if k % 2 == 0 { "prod" } else { "canary" };
            // Versions change over time, so count_values groups move between steps.
            let version = (k as i64 + i / 20) % 4 + 1;
            out.push_str(&format!(
                "build_version{{instance=\"{}\",job=\"{job}\",group=\"{group}\"}} {version} {t}\n",
                escape(inst)
            ));
            out.push_str(&format!(
                "http_requests_total{{instance=\"{}\",job=\"{job}\",code=\"{}\"}} {} {t}\n",
                escape(inst),
                200 + (k % 3) * 100,
                i * (k as i64 + 1)
            ));
        }
    }
    out.push_str("# EOF\n");
    out
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// Queries whose answers must be identical. Evaluated as instant queries at two times and
/// as a range query.
const QUERIES: &[&str] = &[
    // RE2 syntax in matchers.
    r#"build_version{instance=~"\\Q10.0.0.1\\E:9100"}"#,
    r#"build_version{instance=~"10\\.0\\.0\\.[0-9]:9100"}"#,
    r#"build_version{instance=~"10.0.0.\\d:\\d+"}"#,
    r#"build_version{instance=~"x{,3}|x{01}"}"#,
    r#"build_version{instance=~"[a-z&&[^w]]"}"#,
    r#"build_version{instance=~"\\d"}"#,
    r#"build_version{instance=~"\\w"}"#,
    r#"build_version{instance=~"\\pN"}"#,
    r#"build_version{instance=~"\\p{Latin}"}"#,
    r#"build_version{instance=~"\\PL"}"#,
    r#"build_version{instance=~"\\143|\\x{e9}|\\x3Cb>"}"#,
    r#"build_version{instance=~"\\<b\\>"}"#,
    r#"build_version{instance=~"[\\d\\W]"}"#,
    r#"build_version{instance=~"[[:alpha:]]"}"#,
    r#"build_version{instance=~"(?i)C|W]"}"#,
    r#"build_version{instance=~"(?U)(h.+)(\\..+)"}"#,
    r#"build_version{instance=~"c|"}"#,
    r#"build_version{instance!~".*\\d.*"}"#,
    r#"build_version{instance=~"(?:10\\.0\\.0\\.\\d:9100){1,2}"}"#,
    r#"build_version{instance=~"\\b7\\b|a\\B\\.b"}"#,
    r#"{__name__=~"build_.*|\\Qhttp_requests_total\\E", instance=~"a\\.b"}"#,
    r#"{__name__=~"(?i)BUILD_VERSION", instance="c"}"#,
    r#"count({__name__=~"[bh][a-z_]+"}) by (__name__)"#,
    // label_replace with RE2 syntax and Go's expansion rules.
    r#"label_replace(build_version, "host", "$1", "instance", "(.*):\\d+")"#,
    r#"label_replace(build_version, "host", "${1}x$2", "instance", "(\\Q10.0\\E)(.*)")"#,
    r#"label_replace(build_version, "host", "$name", "instance", "(?P<name>[^.]+)\\..*")"#,
    r#"label_replace(build_version{instance=~"x.*"}, "b", "$1", "instance", "x(\\{.*)")"#,
    r#"label_replace(build_version, "h", "$1", "instance", "(\\pL+)")"#,
    // count_values, including output labels that are grouping labels.
    r#"count_values("version", build_version)"#,
    r#"count_values by (job) ("version", build_version)"#,
    r#"count_values by (job) ("job", build_version)"#,
    r#"count_values by (job, group) ("job", build_version)"#,
    r#"count_values without (instance) ("job", build_version)"#,
    r#"count_values without (instance) ("group", build_version)"#,
    r#"count_values without (job) ("job", build_version)"#,
    r#"count_values by (instance) ("instance", build_version{instance=~"\\d|\\pL"})"#,
    r#"sum(count_values by (group) ("group", build_version)) by (group)"#,
    r#"count_values("v", rate(http_requests_total{instance=~"10\\..*"}[1m]) > 0)"#,
    // Regex inside rates and subqueries.
    r#"sum by (code) (rate(http_requests_total{instance=~"\\Q10.0.0.\\E[12]:9100|\\pL"}[2m]))"#,
    r#"max_over_time(count_values by (job) ("job", build_version)[5m:1m])"#,
];

/// Queries both must reject; compared on status and `errorType`, and on the message
/// where it does not quote the anchored pattern.
const ERRORS: &[(&str, bool)] = &[
    (r#"build_version{instance=~"a{1001}"}"#, true),
    (r#"build_version{instance=~"(?x)a"}"#, true),
    (r#"build_version{instance=~"(a{100}){100}"}"#, true),
    (r#"build_version{instance=~"a**"}"#, true),
    (r#"build_version{instance=~"\\C"}"#, true),
    (r#"build_version{instance=~"\\8"}"#, true),
    (r#"build_version{instance=~"[z-a]"}"#, true),
    (r#"build_version{instance=~"[[:word]]x[[:foo:]]"}"#, true),
    (r#"build_version{instance=~"\\p{greek}"}"#, true),
    (r#"build_version{instance=~"\\p{Letter}"}"#, true),
    (r#"{__name__=~"("}"#, false),
    (
        r#"label_replace(build_version, "h", "$1", "instance", "a{1001}")"#,
        true,
    ),
    (
        r#"label_replace(build_version, "h", "$1", "instance", "(?x)")"#,
        true,
    ),
    ("rate(http_requests_total[0s])", true),
    ("build_version[5m:0s]", true),
    ("max_over_time(build_version[0s:1m])", true),
];

struct Server {
    _child: ChildGuard,
    base: String,
}

fn start_prometheus(dir: &Path, om: &Path) -> Server {
    let data = dir.join("prom-data");
    let out = Command::new(PROMTOOL)
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(om)
        .arg(&data)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "promtool: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cfg = dir.join("prometheus.yml");
    std::fs::write(&cfg, "global:\n  scrape_interval: 1h\n").unwrap();
    let port = free_port();
    let child = ChildGuard(
        Command::new(PROMETHEUS)
            .arg(format!("--config.file={}", cfg.display()))
            .arg(format!("--storage.tsdb.path={}", data.display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start prometheus"),
    );
    let base = format!("http://127.0.0.1:{port}");
    assert!(
        wait_http_ok(&format!("{base}/-/ready"), Duration::from_secs(60)),
        "prometheus did not become ready"
    );
    Server {
        _child: child,
        base,
    }
}

fn start_promtui(dir: &Path, om: &Path) -> Server {
    let sub = dir.join("promtui");
    std::fs::create_dir_all(&sub).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_promtui"))
        .args(["tsdb", "import", "openmetrics"])
        .arg(om)
        .arg(format!(
            "--storage.tsdb.path={}",
            sub.join("data").display()
        ))
        .arg("--storage.tsdb.retention.time=0")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "promtui import: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let port = free_port();
    let child = start_serve(&sub, "global:\n  scrape_interval: 1h\n", port, &[]);
    Server {
        _child: child,
        base: format!("http://127.0.0.1:{port}"),
    }
}

/// GET with parameters: status code and parsed body.
fn get(base: &str, path: &str, params: &[(&str, String)]) -> (u16, Value) {
    let mut req = ureq::get(&format!("{base}{path}")).timeout(Duration::from_secs(60));
    for (k, v) in params {
        req = req.query(k, v);
    }
    let (code, body) = match req.call() {
        Ok(r) => (r.status(), r.into_string().unwrap()),
        Err(ureq::Error::Status(c, r)) => (c, r.into_string().unwrap()),
        Err(e) => panic!("{base}{path}: {e}"),
    };
    (code, serde_json::from_str(&body).unwrap_or(Value::Null))
}

/// The result as `labels -> [(t, value)]`, order-free.
fn normalise(body: &Value) -> BTreeMap<String, Vec<(String, String)>> {
    let mut out = BTreeMap::new();
    let data = &body["data"];
    let Some(result) = data["result"].as_array() else {
        out.insert(
            "scalar".into(),
            vec![(data["result"].to_string(), String::new())],
        );
        return out;
    };
    for s in result {
        let key = s["metric"].to_string();
        let points: Vec<(String, String)> = match s.get("values") {
            Some(vals) => vals
                .as_array()
                .unwrap()
                .iter()
                .map(|p| (p[0].to_string(), p[1].as_str().unwrap_or("").to_string()))
                .collect(),
            None => vec![(
                s["value"][0].to_string(),
                s["value"][1].as_str().unwrap_or("").to_string(),
            )],
        };
        out.insert(key, points);
    }
    out
}

/// Normalised metric JSON: serde_json's map is sorted, so equal label sets print equal.
fn reparse(body: Value) -> Value {
    serde_json::from_str(&body.to_string()).unwrap()
}

#[test]
fn regex_and_count_values_answers_match_prometheus() {
    if !peer_available(PROMETHEUS) || !peer_available(PROMTOOL) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let om = dir.path().join("data.om");
    std::fs::write(&om, openmetrics()).unwrap();
    let prom = start_prometheus(dir.path(), &om);
    let ours = start_promtui(dir.path(), &om);

    // Off the 15 s grid.
    let instants = [BASE + 607, BASE + 1501];
    let range = [
        ("start", (BASE + 307).to_string()),
        ("end", (BASE + 1687).to_string()),
        ("step", "60".to_string()),
    ];
    let mut mismatches = Vec::new();
    let mut compared = 0;
    for q in QUERIES {
        let mut runs: Vec<(&str, Vec<(&str, String)>)> = instants
            .iter()
            .map(|t| {
                (
                    "/api/v1/query",
                    vec![("query", q.to_string()), ("time", t.to_string())],
                )
            })
            .collect();
        let mut r = vec![("query", q.to_string())];
        r.extend(range.iter().cloned());
        runs.push(("/api/v1/query_range", r));
        for (path, params) in runs {
            let (pc, pb) = get(&prom.base, path, &params);
            let (oc, ob) = get(&ours.base, path, &params);
            compared += 1;
            if pc != oc || pb["status"] != ob["status"] {
                mismatches.push(format!(
                    "{path} {q}: prometheus {pc} {}, promtui {oc} {}",
                    pb["error"], ob["error"]
                ));
                continue;
            }
            assert_eq!(pc, 200, "{path} {q}: {pb}");
            let (pn, on) = (normalise(&reparse(pb)), normalise(&reparse(ob)));
            if pn.is_empty() {
                // Every query above selects something at these times; an empty answer
                // from both would make the comparison vacuous.
                mismatches.push(format!("{path} {q}: empty result from both"));
            }
            if pn != on {
                mismatches.push(format!(
                    "{path} {q}:\n  prometheus {pn:?}\n  promtui    {on:?}"
                ));
            }
        }
    }
    for (q, compare_message) in ERRORS {
        let params = vec![("query", q.to_string()), ("time", instants[0].to_string())];
        let (pc, pb) = get(&prom.base, "/api/v1/query", &params);
        let (oc, ob) = get(&ours.base, "/api/v1/query", &params);
        compared += 1;
        if pc != oc || pb["errorType"] != ob["errorType"] || pb["status"] != "error" {
            mismatches.push(format!(
                "error {q}: prometheus {pc} {pb}, promtui {oc} {ob}"
            ));
        } else if *compare_message && pb["error"] != ob["error"] {
            mismatches.push(format!(
                "error {q}: prometheus {}, promtui {}",
                pb["error"], ob["error"]
            ));
        }
    }
    // stats: the sample counts of simple selections agree with upstream's accounting.
    for (path, params) in [
        (
            "/api/v1/query",
            vec![
                ("query", r#"build_version{instance=~"10\\..*"}"#.to_string()),
                ("time", instants[0].to_string()),
            ],
        ),
        (
            "/api/v1/query_range",
            vec![
                (
                    "query",
                    r#"rate(http_requests_total{job="api"}[2m])"#.to_string(),
                ),
                ("start", range[0].1.clone()),
                ("end", range[1].1.clone()),
                ("step", "60".to_string()),
            ],
        ),
    ] {
        let mut params = params;
        params.push(("stats", "all".to_string()));
        let (_, pb) = get(&prom.base, path, &params);
        let (_, ob) = get(&ours.base, path, &params);
        compared += 1;
        let key = "totalQueryableSamples";
        if pb["data"]["stats"]["samples"][key] != ob["data"]["stats"]["samples"][key] {
            mismatches.push(format!(
                "stats {path} {}: prometheus {}, promtui {}",
                params[0].1, pb["data"]["stats"]["samples"], ob["data"]["stats"]["samples"]
            ));
        }
    }
    eprintln!("compared {compared} answers, {} differ", mismatches.len());
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}
