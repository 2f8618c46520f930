//! `promtui check metrics` against Debian's `promtool check metrics` (2.42): the same
//! problems, in the same order, on stderr, and the same exit code, for the shared
//! exposition samples, a live node_exporter body and a body that breaks every lint rule.
//! Bodies Go's parser rejects must be rejected too (exit 1); the messages differ.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use common::{capture_node_exporter, peer_available, shared_dir, NODE_EXPORTER, PROMTOOL};

/// (stderr, exit code) of `args` with `body` on stdin.
fn run(bin: &str, args: &[&str], body: &[u8]) -> (String, i32) {
    let mut child = Command::new(bin)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(body).unwrap();
    let out = child.wait_with_output().unwrap();
    (
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status.code().unwrap_or(-1),
    )
}

fn compare(name: &str, body: &[u8]) {
    let (theirs, their_code) = run(PROMTOOL, &["check", "metrics"], body);
    let (ours, our_code) = run(env!("CARGO_BIN_EXE_promtui"), &["check", "metrics"], body);
    assert_eq!(
        our_code, their_code,
        "{name}: exit codes\npromtool:\n{theirs}\npromtui:\n{ours}"
    );
    if their_code == 1 {
        assert!(ours.starts_with("error while linting: "), "{name}: {ours}");
    } else {
        assert_eq!(ours, theirs, "{name}");
    }
}

#[test]
fn check_metrics_matches_promtool() {
    if !peer_available(PROMTOOL) {
        return;
    }
    let bad = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/check_metrics_bad.prom"
    ))
    .unwrap();
    compare("check_metrics_bad.prom", &bad);
    let (_, code) = run(PROMTOOL, &["check", "metrics"], &bad);
    assert_eq!(code, 3, "the crafted body has lint problems");
    for e in std::fs::read_dir(shared_dir().join("testdata/exposition")).unwrap() {
        let p = e.unwrap().path();
        compare(&p.display().to_string(), &std::fs::read(&p).unwrap());
    }
    compare(
        "clean",
        b"# HELP a_total A.\n# TYPE a_total counter\na_total 1\n",
    );
    compare(
        "empty help",
        b"# HELP a_total\n# TYPE a_total counter\na_total 1\n",
    );
    compare(
        "no final newline",
        b"# HELP a_total A.\n# TYPE a_total counter\na_total 1",
    );
    if peer_available(NODE_EXPORTER) {
        let dir = tempfile::tempdir().unwrap();
        compare("node_exporter", &capture_node_exporter(dir.path()));
    }
}
