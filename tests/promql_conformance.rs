//! PromQL conformance with upstream on three causes of difference, as promqltest scripts
//! (upstream's test language, run by `promtui::promql::promqltest`):
//!
//! - RE2 regular expressions in selectors, `{__name__=~...}` and `label_replace`
//!   (cases from RE2's syntax document, <https://github.com/google/re2/wiki/Syntax>, with
//!   the results Go's `regexp` gives);
//! - `count_values` whose output label is also a grouping label (upstream's
//!   `aggregators.test` "Overwrite label with output" cases, over ranges too);
//! - zero ranges and subquery steps ("duration must be greater than 0" at the duration,
//!   upstream's `parse_test.go` positions).
//!
//! The HTTP side (400 `bad_data` for these errors, `stats=all`) is checked over a real
//! `promtui serve` at the end.

mod common;

use std::process::Command;

use common::*;
use promtui::promql::engine::{Engine, EngineOptions};
use promtui::promql::promqltest::{run_script, Outcome};

/// Runs `script` and fails with every case that did not pass.
fn run(name: &str, script: &str) {
    let engine = Engine::new(EngineOptions::default());
    let cases = run_script(name, script, &engine).expect("script parses");
    assert!(!cases.is_empty(), "{name}: no eval cases");
    let failed: Vec<String> = cases
        .iter()
        .filter_map(|c| match &c.outcome {
            Outcome::Passed => None,
            other => Some(format!("{name}:{} {}: {other:?}", c.line, c.expr)),
        })
        .collect();
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}

#[test]
fn re2_in_selectors_and_label_replace() {
    run(
        "re2.test",
        r#"
load 1m
	m{l="a.b"} 1
	m{l="axb"} 2
	m{l="x{,3}"} 3
	m{l="w]"} 4
	m{l="&]"} 5
	m{l="٣"} 6
	m{l="7"} 7
	m{l="<"} 8
	m{l="c"} 9
	m{l="é"} 10
	m{l="x{01}"} 11
	n{l="k"} 12

# \Q...\E quotes literally.
eval instant at 0 m{l=~"\\Qa.b\\E"}
	m{l="a.b"} 1

# { that does not start a repetition is a literal.
eval instant at 0 m{l=~"x{,3}|x{01}"}
	m{l="x{,3}"} 3
	m{l="x{01}"} 11

# && and a nested [ are characters in RE2; the class ends at the first ].
eval instant at 0 m{l=~"[a-z&&[^w]]"}
	m{l="w]"} 4
	m{l="&]"} 5

# Perl classes are ASCII.
eval instant at 0 m{l=~"\\d"}
	m{l="7"} 7

eval instant at 0 m{l=~"\\w"}
	m{l="7"} 7
	m{l="c"} 9

# Octal escapes; escaped punctuation is the character (\< is not a word boundary).
eval instant at 0 m{l=~"\\143|\\<"}
	m{l="<"} 8
	m{l="c"} 9

# Unicode classes are Unicode: \pN has the Arabic-Indic digit \d lacks.
eval instant at 0 m{l=~"\\pN"}
	m{l="٣"} 6
	m{l="7"} 7

eval instant at 0 m{l=~"\\p{Latin}"}
	m{l="c"} 9
	m{l="é"} 10

eval instant at 0 {__name__=~"\\Qn\\E|(?i)N", l=~"(?i)K"}
	n{l="k"} 12

# label_replace: RE2 syntax, capture groups numbered as written.
eval instant at 0 label_replace(m{l="a.b"}, "dst", "$1-${2}", "l", "(\\Qa.\\E)(b)")
	m{l="a.b", dst="a.-b"} 1

eval instant at 0 label_replace(m{l="a.b"}, "dst", "${x}", "l", "(?P<x>a)\\.b")
	m{l="a.b", dst="a"} 1

eval instant at 0 label_replace(m{l="a.b"}, "dst", "${x}", "l", "(?<x>a)\\.b")
	m{l="a.b", dst="a"} 1

# RE2 rejects what the regex crate would accept.
eval instant at 0 m{l=~"a{1001}"}
	expect fail msg: 1:3: parse error: error parsing regexp: invalid repeat count: `{1001}`

eval instant at 0 m{l=~"(?x)a b"}
	expect fail msg: 1:3: parse error: error parsing regexp: invalid or unsupported Perl syntax: `(?x`

eval instant at 0 m{l=~"(a{100}){100}"}
	expect fail msg: 1:3: parse error: error parsing regexp: invalid repeat count: `{100}`

eval instant at 0 m{l=~"a**"}
	expect fail msg: 1:3: parse error: error parsing regexp: invalid nested repetition operator: `**`

eval instant at 0 m{l=~"\\C"}
	expect fail msg: 1:3: parse error: error parsing regexp: invalid escape sequence: `\C`

eval instant at 0 {__name__=~"\\p{greek}"}
	expect fail msg: 1:2: parse error: error parsing regexp: invalid character class range: `\p{greek}`

eval instant at 0 m{l=~"("}
	expect fail msg: 1:3: parse error: error parsing regexp: missing closing ): `^(?s:()$`

eval instant at 0 label_replace(m, "dst", "$1", "l", "a{1001}")
	expect fail msg: invalid regular expression in label_replace(): a{1001}
"#,
    );
}

#[test]
fn count_values_output_label_overwrites_grouping_label() {
    run(
        "count_values.test",
        r#"
load 1m
	version{job="api", instance="0", group="prod"} 6 6 7
	version{job="api", instance="1", group="prod"} 6 8 8
	version{job="app", instance="0", group="canary"} 7 7 7
	version{job="app", instance="1", group="canary"} 8 8 6

# Groups whose series share a value merge under the overwritten label.
eval instant at 1m count_values by (job) ("job", version)
	{job="6"} 1
	{job="7"} 1
	{job="8"} 2

eval range from 0 to 2m step 1m count_values by (job) ("job", version)
	{job="6"} 2 1 1
	{job="7"} 1 1 2
	{job="8"} 1 2 1

eval range from 0 to 2m step 1m count_values by (job, group) ("job", version)
	{group="prod", job="6"} 2 1 _
	{group="prod", job="7"} _ _ 1
	{group="prod", job="8"} _ 1 1
	{group="canary", job="6"} _ _ 1
	{group="canary", job="7"} 1 1 1
	{group="canary", job="8"} 1 1 _

eval range from 0 to 2m step 1m count_values without (instance) ("job", version)
	{group="prod", job="6"} 2 1 _
	{group="prod", job="7"} _ _ 1
	{group="prod", job="8"} _ 1 1
	{group="canary", job="6"} _ _ 1
	{group="canary", job="7"} 1 1 1
	{group="canary", job="8"} 1 1 _

# `without` the output label: it is set, then removed with the other grouping labels.
eval instant at 1m count_values without (job) ("job", version)
	{group="prod", instance="0"} 1
	{group="prod", instance="1"} 1
	{group="canary", instance="0"} 1
	{group="canary", instance="1"} 1

# No clash: the value label is added to each group.
eval instant at 1m count_values by (job) ("value", version)
	{job="api", value="6"} 1
	{job="api", value="8"} 1
	{job="app", value="7"} 1
	{job="app", value="8"} 1

# The other parameterised aggregations keep their input series: no clash possible.
eval instant at 1m topk by (job) (1, version)
	version{job="api", instance="1", group="prod"} 8
	version{job="app", instance="1", group="canary"} 8

eval instant at 1m quantile by (job) (0.5, version)
	{job="api"} 7
	{job="app"} 7.5
"#,
    );
}

#[test]
fn zero_durations_are_rejected_where_upstream_rejects_them() {
    run(
        "zero_durations.test",
        r#"
load 1m
	x 1 2 3 4 5

eval instant at 2m x[0m]
	expect fail msg: 1:3: parse error: duration must be greater than 0

eval instant at 2m x[0ms]
	expect fail msg: 1:3: parse error: duration must be greater than 0

eval instant at 2m rate(x[0s])
	expect fail msg: 1:8: parse error: duration must be greater than 0

eval instant at 2m x[5m:0s]
	expect fail msg: 1:6: parse error: duration must be greater than 0

eval instant at 2m x[1m:0m]
	expect fail msg: 1:6: parse error: duration must be greater than 0

eval instant at 2m max_over_time(x[0s:1m])
	expect fail msg: 1:17: parse error: duration must be greater than 0

eval instant at 2m x[0s:]
	expect fail msg: 1:3: parse error: duration must be greater than 0

eval instant at 2m rate(x[5m])[0s:1m]
	expect fail msg: 1:13: parse error: duration must be greater than 0

eval instant at 2m sum(x)[0s:]
	expect fail msg: 1:8: parse error: duration must be greater than 0

eval instant at 2m x[-1]
	expect fail msg: 1:3: parse error: duration must be greater than 0

eval range from 0 to 2m step 1m max_over_time(x[0s:1m])
	expect fail msg: 1:17: parse error: duration must be greater than 0

# Positive ones still work, and a zero offset is no range (Prometheus 3 accepts it).
eval instant at 2m max_over_time(x[2m:1m])
	{} 3

eval instant at 2m x offset 0s
	x 3
"#,
    );
}

/// Over HTTP: the errors above are 400 `bad_data` with upstream's `invalid parameter`
/// wording, and `stats=all` adds upstream's `stats` object.
#[test]
fn api_errors_and_stats() {
    let dir = tempfile::tempdir().unwrap();
    let om = dir.path().join("data.om");
    // 1,700,000,000 s: samples every 15 s for 10 minutes, two series.
    let mut text = String::from("# TYPE m gauge\n");
    for i in 0..40 {
        let t = 1_700_000_000 + i * 15;
        text.push_str(&format!(
            "m{{l=\"a.b\"}} {i} {t}\nm{{l=\"axb\"}} {} {t}\n",
            i * 2
        ));
    }
    text.push_str("# EOF\n");
    std::fs::write(&om, text).unwrap();
    let data = dir.path().join("data");
    let out = Command::new(env!("CARGO_BIN_EXE_promtui"))
        .args(["tsdb", "import", "openmetrics"])
        .arg(&om)
        .arg(format!("--storage.tsdb.path={}", data.display()))
        .arg("--storage.tsdb.retention.time=0")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let port = free_port();
    let _server = start_serve(
        dir.path(),
        "global:\n  scrape_interval: 1h\n",
        port,
        &["--enable-feature=promql-per-step-stats"],
    );
    let base = format!("http://127.0.0.1:{port}");
    let get = |path: &str, q: &[(&str, &str)]| -> (u16, serde_json::Value) {
        let mut req = ureq::get(&format!("{base}{path}"));
        for (k, v) in q {
            req = req.query(k, v);
        }
        let (code, body) = match req.call() {
            Ok(r) => (r.status(), r.into_string().unwrap()),
            Err(ureq::Error::Status(c, r)) => (c, r.into_string().unwrap()),
            Err(e) => panic!("{e}"),
        };
        (code, serde_json::from_str(&body).unwrap())
    };
    for (q, msg) in [
        (
            r#"m{l=~"a{1001}"}"#,
            "invalid parameter \"query\": 1:3: parse error: error parsing regexp: invalid repeat count: `{1001}`",
        ),
        (
            "rate(m[0s])",
            "invalid parameter \"query\": 1:8: parse error: duration must be greater than 0",
        ),
        (
            "m[5m:0s]",
            "invalid parameter \"query\": 1:6: parse error: duration must be greater than 0",
        ),
    ] {
        let (code, body) = get("/api/v1/query", &[("query", q), ("time", "1700000300")]);
        assert_eq!(code, 400, "{q}: {body}");
        assert_eq!(body["errorType"], "bad_data", "{q}");
        assert_eq!(body["error"], msg, "{q}");
    }
    // RE2 semantics through the API.
    let (code, body) = get(
        "/api/v1/query",
        &[("query", r#"m{l=~"\\Qa.b\\E"}"#), ("time", "1700000300")],
    );
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["data"]["result"].as_array().unwrap().len(), 1);

    // stats: instant query, one sample per series.
    let (code, body) = get(
        "/api/v1/query",
        &[("query", "m"), ("time", "1700000300"), ("stats", "all")],
    );
    assert_eq!(code, 200);
    let stats = &body["data"]["stats"];
    for k in [
        "evalTotalTime",
        "resultSortTime",
        "queryPreparationTime",
        "innerEvalTime",
        "execQueueTime",
        "execTotalTime",
    ] {
        assert!(stats["timings"][k].is_number(), "{k}: {stats}");
    }
    assert_eq!(stats["samples"]["totalQueryableSamples"], 2, "{stats}");
    assert_eq!(stats["samples"]["peakSamples"], 2, "{stats}");
    assert_eq!(
        stats["samples"]["totalQueryableSamplesPerStep"],
        serde_json::json!([[1700000300, 2]])
    );
    // Without stats, no stats object.
    let (_, body) = get("/api/v1/query", &[("query", "m"), ("time", "1700000300")]);
    assert!(body["data"].get("stats").is_none());
    // Range query: a rate over 1 m windows at 15 s-aligned samples, 3 steps.
    let (code, body) = get(
        "/api/v1/query_range",
        &[
            ("query", "rate(m[1m])"),
            ("start", "1700000307"),
            ("end", "1700000367"),
            ("step", "30"),
            ("stats", "all"),
        ],
    );
    assert_eq!(code, 200, "{body}");
    let samples = &body["data"]["stats"]["samples"];
    // Each window (t-60s, t] holds 4 samples of each of the 2 series.
    assert_eq!(
        samples["totalQueryableSamplesPerStep"],
        serde_json::json!([[1700000307, 8], [1700000337, 8], [1700000367, 8]]),
        "{samples}"
    );
    assert_eq!(samples["totalQueryableSamples"], 24);
    // Any other non-empty value: stats without the per-step list, as upstream.
    let (_, body) = get(
        "/api/v1/query",
        &[("query", "m"), ("time", "1700000300"), ("stats", "1")],
    );
    let samples = &body["data"]["stats"]["samples"];
    assert_eq!(samples["totalQueryableSamples"], 2);
    assert!(samples.get("totalQueryableSamplesPerStep").is_none());
}

/// Rule files: a regex RE2 rejects fails `check rules` with the message promtool 2.42
/// prints for the same file (measured), at the expression's line and column.
#[test]
fn check_rules_reports_re2_errors_as_promtool_does() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rules.yml");
    std::fs::write(
        &file,
        "groups:\n  - name: g\n    rules:\n      - record: r\n        expr: up{a=~\"a{1001}\"}\n      - alert: A\n        expr: up{b=~\"\\\\C\"}\n      - record: ok\n        expr: up{c=~\"\\\\Qa.b\\\\E|x{,3}\"}\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_promtui"))
        .args(["check", "rules"])
        .arg(&file)
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    for want in [
        "5:15: group \"g\", rule 1, \"r\": could not parse expression: 1:4: parse error: error parsing regexp: invalid repeat count: `{1001}`",
        "7:15: group \"g\", rule 2, \"A\": could not parse expression: 1:4: parse error: error parsing regexp: invalid escape sequence: `\\C`",
    ] {
        assert!(text.contains(want), "missing {want:?} in:\n{text}");
    }
    assert!(!text.contains("rule 3"), "{text}");
}
