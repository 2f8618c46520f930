//! Parses every expression of every `eval` line in the upstream promqltest scripts
//! (shared/testdata/promqltest/*.test) and checks that it round-trips through the printer.
//!
//! A line that the script expects to fail (`eval_fail`, `expect fail`) may either parse (the
//! failure is the evaluator's to report) or fail to parse; when it fails to parse and the
//! script names the message (`expect fail msg:` / `regex:`), our message must match. Lines
//! we knowingly handle differently are listed in `KNOWN_DIVERGENCES` with the reason; nothing
//! is skipped silently.

use std::path::{Path, PathBuf};

use promtui::promql::{parse_expr, prettify};
use regex::Regex;

/// (file, expression, reason) of lines whose outcome knowingly differs from upstream. Empty
/// since string literals became byte strings (`"a\xc5z"` parses, as upstream's does).
const KNOWN_DIVERGENCES: &[(&str, &str, &str)] = &[];

fn testdata_dir() -> Option<PathBuf> {
    let mut candidates = Vec::new();
    if let Ok(shared) = std::env::var("PROMTUI_SHARED") {
        candidates.push(Path::new(&shared).join("testdata/promqltest"));
        candidates.push(Path::new(&shared).join("promqltest"));
    }
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    candidates.push(manifest.join("../shared/testdata/promqltest"));
    candidates.push(manifest.join("../../shared/testdata/promqltest"));
    candidates.into_iter().find(|p| p.is_dir())
}

struct EvalLine {
    file: String,
    line: usize,
    expr: String,
    expect_fail: bool,
    fail_msg: Option<String>,
    fail_regex: Option<String>,
}

fn collect() -> Vec<EvalLine> {
    let dir = testdata_dir().expect(
        "promqltest scripts not found: set PROMTUI_SHARED or check out shared/ next to the repo",
    );
    let instant = Regex::new(r"^eval(_fail|_warn|_info|_ordered)?\s+instant\s+at\s+\S+\s+(.*)$")
        .expect("regex");
    let range = Regex::new(
        r"^eval(_fail|_warn|_info|_ordered)?\s+range\s+from\s+\S+\s+to\s+\S+\s+step\s+\S+\s+(.*)$",
    )
    .expect("regex");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("read promqltest dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "test"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no .test files in {}", dir.display());
    let mut out = Vec::new();
    for path in files {
        let file = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let text = std::fs::read_to_string(&path).expect("read test file");
        let lines: Vec<&str> = text.lines().collect();
        for (i, raw) in lines.iter().enumerate() {
            let line = raw.trim();
            if !line.starts_with("eval") {
                continue;
            }
            let caps = instant
                .captures(line)
                .or_else(|| range.captures(line))
                .unwrap_or_else(|| panic!("{file}:{}: unrecognised eval line: {line}", i + 1));
            let mut e = EvalLine {
                file: file.clone(),
                line: i + 1,
                expr: caps[2].trim().to_string(),
                expect_fail: caps.get(1).is_some_and(|m| m.as_str() == "_fail"),
                fail_msg: None,
                fail_regex: None,
            };
            for follow in &lines[i + 1..] {
                if follow.trim().is_empty() || !follow.starts_with([' ', '\t']) {
                    break;
                }
                let f = follow.trim();
                if let Some(rest) = f.strip_prefix("expect fail") {
                    e.expect_fail = true;
                    let rest = rest.trim();
                    if let Some(m) = rest.strip_prefix("msg:") {
                        e.fail_msg = Some(m.trim().to_string());
                    } else if let Some(r) = rest.strip_prefix("regex:") {
                        e.fail_regex = Some(r.trim().to_string());
                    }
                }
            }
            out.push(e);
        }
    }
    out
}

#[test]
fn every_script_expression_parses_and_round_trips() {
    let lines = collect();
    let mut parsed = 0;
    let mut expected_parse_failures = 0;
    let mut runtime_failures_parsed = 0;
    let mut divergences = 0;
    let mut problems = Vec::new();
    for e in &lines {
        let known = KNOWN_DIVERGENCES
            .iter()
            .find(|(f, x, _)| *f == e.file && *x == e.expr);
        match parse_expr(&e.expr) {
            Ok(ast) => {
                let printed = ast.to_string();
                match parse_expr(&printed) {
                    Ok(again) if again == ast => {}
                    Ok(_) => problems.push(format!(
                        "{}:{}: `{}` printed as `{printed}` parses to a different tree",
                        e.file, e.line, e.expr
                    )),
                    Err(err) => problems.push(format!(
                        "{}:{}: `{}` printed as `{printed}` does not parse: {err}",
                        e.file, e.line, e.expr
                    )),
                }
                let pretty = prettify(&ast);
                match parse_expr(&pretty) {
                    Ok(again) if again == ast => {}
                    _ => problems.push(format!(
                        "{}:{}: prettified `{pretty}` does not round-trip",
                        e.file, e.line
                    )),
                }
                if known.is_some() {
                    problems.push(format!(
                        "{}:{}: `{}` is listed as a known divergence but now parses",
                        e.file, e.line, e.expr
                    ));
                }
                if e.expect_fail {
                    runtime_failures_parsed += 1;
                } else {
                    parsed += 1;
                }
            }
            Err(err) => {
                if let Some((_, _, reason)) = known {
                    eprintln!(
                        "known divergence {}:{}: `{}`: {err} ({reason})",
                        e.file, e.line, e.expr
                    );
                    divergences += 1;
                    continue;
                }
                if !e.expect_fail {
                    problems.push(format!(
                        "{}:{}: `{}` failed to parse: {err}",
                        e.file, e.line, e.expr
                    ));
                    continue;
                }
                if let Some(msg) = &e.fail_msg {
                    if !err.message.contains(msg.as_str()) {
                        problems.push(format!(
                            "{}:{}: `{}` expected message {msg:?}, got {err}",
                            e.file, e.line, e.expr
                        ));
                        continue;
                    }
                }
                if let Some(re) = &e.fail_regex {
                    let re = Regex::new(re).expect("script regex");
                    if !re.is_match(&err.message) {
                        problems.push(format!(
                            "{}:{}: `{}` expected message matching {re}, got {err}",
                            e.file, e.line, e.expr
                        ));
                        continue;
                    }
                }
                expected_parse_failures += 1;
            }
        }
    }
    eprintln!(
        "promqltest scripts: {} eval lines; {parsed} parsed and round-tripped; \
         {runtime_failures_parsed} expected-to-fail lines parsed (failure is at evaluation); \
         {expected_parse_failures} expected failures reported by the parser; \
         {divergences} known divergences; {} problems",
        lines.len(),
        problems.len()
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(
        parsed > 2000,
        "suspiciously few expressions parsed: {parsed}"
    );
}

/// Upstream's `TestExprString` (promql/parser/printer_test.go): input and the `String()` it
/// must print as (`None` when the input is already canonical).
#[test]
fn printer_matches_upstream_expr_string_cases() {
    let cases: &[(&str, Option<&str>)] = &[
        (
            r#"sum by() (task:errors:rate10s{job="s"})"#,
            Some(r#"sum(task:errors:rate10s{job="s"})"#),
        ),
        (
            r#"sum by(code) (task:errors:rate10s{job="s"})"#,
            Some(r#"sum by (code) (task:errors:rate10s{job="s"})"#),
        ),
        (
            r#"sum without() (task:errors:rate10s{job="s"})"#,
            Some(r#"sum without () (task:errors:rate10s{job="s"})"#),
        ),
        (
            r#"sum without(instance) (task:errors:rate10s{job="s"})"#,
            Some(r#"sum without (instance) (task:errors:rate10s{job="s"})"#),
        ),
        (r#"topk(5, task:errors:rate10s{job="s"})"#, None),
        (
            r#"count_values("value", task:errors:rate10s{job="s"})"#,
            None,
        ),
        ("a - on() c", Some("a - on () c")),
        ("a - on(b) c", Some("a - on (b) c")),
        (
            "a - on(b) group_left(x) c",
            Some("a - on (b) group_left (x) c"),
        ),
        (
            "a - on(b) group_left(x, y) c",
            Some("a - on (b) group_left (x, y) c"),
        ),
        ("a - on(b) group_left c", Some("a - on (b) group_left () c")),
        (
            "a - on(b) group_left() (c)",
            Some("a - on (b) group_left () (c)"),
        ),
        ("a - ignoring(b) c", Some("a - ignoring (b) c")),
        ("a - ignoring() c", Some("a - c")),
        ("up > bool 0", None),
        ("a offset 1m", None),
        ("a offset -7m", None),
        (r#"a{c="d"}[5m] offset 1m"#, None),
        ("a[5m] offset 1m", None),
        ("a[12m] offset -3m", None),
        ("a[1h:5m] offset 1m", None),
        (r#"{__name__="a"}"#, None),
        (r#"a{b!="c"}[1m]"#, None),
        (r#"a{b=~"c"}[1m]"#, None),
        (r#"a{b!~"c"}[1m]"#, None),
        ("a @ 10", Some("a @ 10.000")),
        ("a[1m] @ 10", Some("a[1m] @ 10.000")),
        ("a @ start()", None),
        ("a @ end()", None),
        ("a[1m] @ start()", None),
        ("a[1m] @ end()", None),
    ];
    for (input, want) in cases {
        let e = parse_expr(input).unwrap_or_else(|err| panic!("{input}: {err}"));
        assert_eq!(e.to_string(), want.unwrap_or(input), "{input}");
    }
}
