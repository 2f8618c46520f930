//! Runs every upstream PromQL test script (shared/testdata/promqltest/*.test) through the
//! engine and the in-memory test storage.
//!
//! Prints `promqltest: <file>: P passed, F failed, S skipped` per file and a total line.
//! Skips are explicit and carry a reason (native histograms; experimental features listed
//! in `promqltest::file_skip_reason`). The test fails when a case fails that is not in
//! tests/promqltest_known_failures.txt, and also when a listed case passes (so the list
//! only shrinks).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use promtui::promql::engine::{Engine, EngineOptions};
use promtui::promql::promqltest::{run_script, Outcome};

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

/// `file:line` → reason, from the committed known-failures list.
fn known_failures() -> BTreeMap<String, String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/promqltest_known_failures.txt");
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| match l.split_once(char::is_whitespace) {
            Some((k, r)) => (k.to_string(), r.trim().to_string()),
            None => (l.to_string(), String::new()),
        })
        .collect()
}

#[test]
fn upstream_promql_scripts() {
    let dir = testdata_dir().expect(
        "promqltest scripts not found: set PROMTUI_SHARED or check out shared/ next to the repo",
    );
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("read promqltest dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "test"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no .test files in {}", dir.display());
    let known = known_failures();
    // The scripts run with upstream's test engine settings, which include the experimental
    // type-and-unit labels used by type_and_unit.test.
    let engine = Engine::new(EngineOptions {
        enable_type_and_unit_labels: true,
        ..EngineOptions::default()
    });
    let verbose = std::env::var("PROMQLTEST_VERBOSE").is_ok();
    let (mut tp, mut tf, mut ts) = (0, 0, 0);
    let mut unexpected = Vec::new();
    let mut fixed = Vec::new();
    let mut seen_known = 0;
    for f in &files {
        let name = f
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("")
            .to_string();
        let text = std::fs::read_to_string(f).expect("read script");
        let cases = match run_script(&name, &text, &engine) {
            Ok(c) => c,
            Err(e) => {
                unexpected.push(format!("{name}: script error: {e}"));
                continue;
            }
        };
        let (mut p, mut fl, mut s) = (0, 0, 0);
        for c in cases {
            let key = format!("{name}:{}", c.line);
            match c.outcome {
                Outcome::Passed => {
                    p += 1;
                    if known.contains_key(&key) {
                        fixed.push(key);
                    }
                }
                Outcome::Failed(why) => {
                    fl += 1;
                    if known.contains_key(&key) {
                        seen_known += 1;
                    } else {
                        unexpected.push(format!(
                            "{key}: {}\n    {}",
                            c.expr,
                            why.replace('\n', "\n    ")
                        ));
                    }
                    if verbose {
                        eprintln!("FAIL {key}: {} -- {}", c.expr, why);
                    }
                }
                Outcome::Skipped(why) => {
                    s += 1;
                    if verbose {
                        eprintln!("SKIP {key}: {why}");
                    }
                }
            }
        }
        println!("promqltest: {name}: {p} passed, {fl} failed, {s} skipped");
        tp += p;
        tf += fl;
        ts += s;
    }
    println!("promqltest: {tp} passed, {tf} failed, {ts} skipped");
    println!(
        "promqltest: {} known failures listed, {seen_known} still failing",
        known.len()
    );
    let mut msg = String::new();
    if !unexpected.is_empty() {
        msg.push_str(&format!(
            "{} unexpected failures:\n{}\n",
            unexpected.len(),
            unexpected.join("\n")
        ));
    }
    if !fixed.is_empty() {
        msg.push_str(&format!(
            "{} cases in tests/promqltest_known_failures.txt now pass; remove them:\n{}\n",
            fixed.len(),
            fixed.join("\n")
        ));
    }
    assert!(msg.is_empty(), "{msg}");
}
