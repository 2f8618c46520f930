//! `promtui check config`: promtool's exit codes and messages that say where and why.

use std::process::Command;

fn promtui(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_promtui"))
        .args(args)
        .output()
        .unwrap();
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn sample_configs_are_valid() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/sample-configs");
    let mut files: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml"))
        .map(|p| p.display().to_string())
        .collect();
    files.sort();
    assert!(files.len() >= 4);
    let mut args = vec!["check", "config"];
    args.extend(files.iter().map(String::as_str));
    let (code, out) = promtui(&args);
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        out.matches("is valid prometheus config file syntax")
            .count(),
        files.len()
    );
}

#[test]
fn misspelled_field_fails_with_file_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.yml");
    std::fs::write(
        &path,
        "global:\n  scrape_interval: 15s\nscrape_configs:\n  - job_name: a\n    scrape_intervl: 5s\n",
    )
    .unwrap();
    let (code, out) = promtui(&["check", "config", path.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("bad.yml:5:"), "{out}");
    assert!(out.contains("scrape_intervl"), "{out}");
}

#[test]
fn missing_file_fails() {
    let (code, out) = promtui(&["check", "config", "/nonexistent/prometheus.yml"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("/nonexistent/prometheus.yml"), "{out}");
}
