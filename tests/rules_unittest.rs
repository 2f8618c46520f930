//! `promtui test rules`: end-to-end on copies of promtool's own test data, and a
//! differential run against Debian's promtool over the corpus in
//! tests/data/rules_unittest/ (alerts with `for`, templated labels and annotations,
//! recording chains, staleness; passing and failing files), comparing exit codes, stdout
//! and stderr byte for byte.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;

const PROMTOOL: &str = "/usr/bin/promtool";

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    took: Duration,
}

/// Runs `bin test rules FILE` in `dir` (the file named relative to it, as promtool prints it).
fn test_rules(bin: &str, dir: &Path, file: &str) -> Run {
    let started = Instant::now();
    let out = Command::new(bin)
        .args(["test", "rules", file])
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("running {bin}: {e}"));
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        took: started.elapsed(),
    }
}

/// Copies every file of `from` into a fresh temporary directory.
fn copy_dir(from: &Path) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        if p.is_file() {
            std::fs::copy(&p, d.path().join(p.file_name().unwrap())).unwrap();
        }
    }
    d
}

fn promtool_testdata() -> PathBuf {
    shared_dir().join("testdata/promtool")
}

#[test]
fn promtools_good_test_files_pass() {
    let d = copy_dir(&promtool_testdata());
    for f in [
        "unittest.yml",
        "long-period.yml",
        "at-modifier-test.yml",
        "negative-offset-test.yml",
    ] {
        let r = test_rules(env!("CARGO_BIN_EXE_promtui"), d.path(), f);
        assert_eq!(r.code, Some(0), "{f}: {}{}", r.stdout, r.stderr);
        assert!(
            r.stdout.starts_with(&format!("Unit Testing:  {f}\n")),
            "{}",
            r.stdout
        );
        assert!(r.stdout.ends_with("  SUCCESS\n\n"), "{}", r.stdout);
        assert_eq!(r.stderr, "", "{f}");
    }
}

#[test]
fn native_histogram_cases_are_reported_as_skipped() {
    let d = copy_dir(&promtool_testdata());
    let r = test_rules(env!("CARGO_BIN_EXE_promtui"), d.path(), "unittest.yml");
    let skipped: Vec<&str> = r
        .stdout
        .lines()
        .filter(|l| l.starts_with("  SKIPPED: "))
        .collect();
    assert_eq!(skipped.len(), 3, "{}", r.stdout);
    for (line, expr) in skipped.iter().zip([
        "test_histogram",
        "test_histogram_repeat",
        "test_histogram_increase",
    ]) {
        assert!(line.contains(&format!("expr: \"{expr}\"")), "{line}");
        assert!(line.contains("native histograms"), "{line}");
    }
}

/// promtool 2.42's output for failing.yml (stderr; stdout has the header and blank lines).
const FAILING_STDERR: &str = r#"  FAILED:
    name: Failing test,
    alertname: Test, time: 0s, 
        exp:[
            0:
              Labels:{alertname="Test"}
              Annotations:{}
            ], 
        got:[]
    expr: "test", time: 0s,
        exp: {__name__="test"} 1E+00
        got: {__name__="test"} 0E+00
    name: Failing alert test,
    alertname: InstanceDown, time: 5m, 
        exp:[], 
        got:[
            0:
              Labels:{alertname="InstanceDown", job="test", severity="page"}
              Annotations:{description=" of job test has been down for more than 5 minutes.", summary="Instance  down"}
            ]
    name: Failing alert test,
    alertname: AlwaysFiring, time: 5m, 
        exp:[], 
        got:[
            0:
              Labels:{alertname="AlwaysFiring"}
              Annotations:{}
            ]
"#;

#[test]
fn promtools_failing_test_file_fails_with_its_message() {
    let d = copy_dir(&promtool_testdata());
    let r = test_rules(env!("CARGO_BIN_EXE_promtui"), d.path(), "failing.yml");
    assert_eq!(r.code, Some(1), "{}{}", r.stdout, r.stderr);
    assert_eq!(r.stderr, FAILING_STDERR);
    // One blank line per error, then one after the file.
    assert_eq!(r.stdout, "Unit Testing:  failing.yml\n\n\n\n\n\n");
}

#[test]
fn several_files_run_and_any_failure_fails_the_command() {
    let d = copy_dir(&promtool_testdata());
    let out = Command::new(env!("CARGO_BIN_EXE_promtui"))
        .args([
            "test",
            "rules",
            "long-period.yml",
            "failing.yml",
            "nosuch.yml",
        ])
        .current_dir(d.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stdout.contains("Unit Testing:  long-period.yml\n  SUCCESS\n"));
    assert!(stdout.contains("Unit Testing:  nosuch.yml\n"));
    assert!(stderr.contains("nosuch.yml"), "{stderr}");
}

fn corpus() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/rules_unittest")
}

#[test]
fn the_corpus_gives_promtools_exit_codes_and_output() {
    if !peer_available(PROMTOOL) {
        return;
    }
    let d = copy_dir(&corpus());
    let mut files: Vec<String> = std::fs::read_dir(d.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with("rules"))
        .collect();
    files.sort();
    assert!(files.len() >= 3, "{files:?}");
    let (mut ours_total, mut theirs_total) = (Duration::ZERO, Duration::ZERO);
    for f in &files {
        let theirs = test_rules(PROMTOOL, d.path(), f);
        let ours = test_rules(env!("CARGO_BIN_EXE_promtui"), d.path(), f);
        assert_eq!(ours.code, theirs.code, "{f}: exit code");
        assert_eq!(ours.stdout, theirs.stdout, "{f}: stdout");
        assert_eq!(ours.stderr, theirs.stderr, "{f}: stderr");
        ours_total += ours.took;
        theirs_total += theirs.took;
    }
    // Both outcomes are exercised.
    assert!(files.iter().any(|f| f.starts_with("fail")));
    eprintln!(
        "corpus of {} files: promtui {:?}, promtool {:?} (ratio {:.2})",
        files.len(),
        ours_total,
        theirs_total,
        ours_total.as_secs_f64() / theirs_total.as_secs_f64().max(1e-9)
    );
}
