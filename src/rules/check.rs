//! `promtui check rules FILE...` and the rule-file part of `promtui check config`: the
//! verdict on one rule file in promtool's words and layout.
//!
//! ```text
//! Checking rules.yml
//!   SUCCESS: 5 rules found
//!
//! Checking bad.yml
//!   FAILED:
//! bad.yml: 7:15: group "g", rule 1, "x": could not parse expression: 1:7: parse error: unexpected end of input
//! ```
//!
//! As promtool, the `FAILED` lines go to stderr, the rest to stdout; repeated rules
//! (same name and labels) are a lint finding printed as `FAILED` that does not change the
//! exit status (promtool's default `--lint=duplicate-rules` without `--lint-fatal`).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use super::file::{duplicate_rules, parse_rule_file, DuplicateRule, RuleFile, RuleFileError};

/// Where a line of a check goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// The outcome of checking one rule file.
#[derive(Debug)]
pub struct RuleFileCheck {
    pub path: PathBuf,
    /// The parsed file, or why it is invalid.
    pub outcome: Result<RuleFile, RuleFileError>,
    /// The duplicate-rules lint finding, promtool's text, when some rules repeat.
    pub lint: Option<String>,
}

impl RuleFileCheck {
    /// Reads, parses, validates and lints `path`.
    pub fn run(path: &Path) -> RuleFileCheck {
        let outcome = parse_rule_file(path);
        let lint = match &outcome {
            Ok(f) => {
                let d = duplicate_rules(f);
                (!d.is_empty()).then(|| lint_message(&d))
            }
            Err(_) => None,
        };
        RuleFileCheck {
            path: path.to_path_buf(),
            outcome,
            lint,
        }
    }

    /// True unless the file is invalid (lint findings do not count).
    pub fn is_ok(&self) -> bool {
        self.outcome.is_ok()
    }

    /// Groups found (0 for an invalid file).
    pub fn num_groups(&self) -> usize {
        self.outcome.as_ref().map_or(0, |f| f.groups.len())
    }

    /// Rules found (0 for an invalid file).
    pub fn num_rules(&self) -> usize {
        self.outcome.as_ref().map_or(0, RuleFile::num_rules)
    }

    /// promtool's block for this file, line by line with the stream each goes to:
    /// `Checking FILE`, then `  SUCCESS: N rules found` or `  FAILED:` and one line per
    /// error (each after `error_prefix`: promtool's `check rules` uses none, `check
    /// config` five spaces), then an empty line.
    pub fn lines(&self, error_prefix: &str) -> Vec<(Stream, String)> {
        let mut out = vec![(Stream::Stdout, format!("Checking {}", self.path.display()))];
        let errors = match (&self.outcome, &self.lint) {
            (Err(e), _) => e.messages(),
            (Ok(_), Some(lint)) => vec![lint.clone()],
            (Ok(f), None) => {
                out.push((
                    Stream::Stdout,
                    format!("  SUCCESS: {} rules found", f.num_rules()),
                ));
                Vec::new()
            }
        };
        if !errors.is_empty() {
            out.push((Stream::Stderr, "  FAILED:".to_string()));
            out.extend(
                errors
                    .into_iter()
                    .map(|e| (Stream::Stderr, format!("{error_prefix}{e}"))),
            );
        }
        out.push((Stream::Stdout, String::new()));
        out
    }
}

/// promtool's text for repeated rules.
fn lint_message(dups: &[DuplicateRule]) -> String {
    let mut m = format!("lint error {} duplicate rule(s) found.\n", dups.len());
    for d in dups {
        m.push_str(&format!("Metric: {}\nLabel(s):\n", d.name));
        for (k, v) in &d.labels {
            m.push_str(&format!("\t{k}: {v}\n"));
        }
    }
    m.push_str("Might cause inconsistency while recording expressions");
    m
}

/// `promtui check rules FILE...`: checks each file, prints promtool's report, and returns
/// promtool's exit status: 1 when any file is invalid, else 0.
pub fn check_rules_command(files: &[PathBuf]) -> ExitCode {
    let mut failed = false;
    let stdout = std::io::stdout();
    let stderr = std::io::stderr();
    for f in files {
        let check = RuleFileCheck::run(f);
        failed |= !check.is_ok();
        for (stream, line) in check.lines("") {
            // A closed pipe is no reason to fail the check differently.
            let _ = match stream {
                Stream::Stdout => writeln!(stdout.lock(), "{line}"),
                Stream::Stderr => writeln!(stderr.lock(), "{line}"),
            };
        }
    }
    if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str) -> (tempfile::TempDir, RuleFileCheck) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("r.yml");
        std::fs::write(&p, text).unwrap();
        let c = RuleFileCheck::run(&p);
        (dir, c)
    }

    fn render(c: &RuleFileCheck, prefix: &str) -> Vec<String> {
        let base = c.path.parent().unwrap().display().to_string() + "/";
        c.lines(prefix)
            .into_iter()
            .map(|(s, l)| format!("{s:?} {}", l.replace(&base, "")))
            .collect()
    }

    #[test]
    fn success_counts_rules() {
        let (_d, c) = check("groups:\n  - name: a\n    rules:\n      - record: x\n        expr: up\n  - name: b\n    rules:\n      - alert: y\n        expr: up == 0\n");
        assert!(c.is_ok());
        assert_eq!(
            render(&c, ""),
            vec![
                "Stdout Checking r.yml",
                "Stdout   SUCCESS: 2 rules found",
                "Stdout "
            ]
        );
    }

    #[test]
    fn failures_go_to_stderr_with_the_prefix() {
        let (_d, c) =
            check("groups:\n  - name: g\n    rules:\n      - record: x\n        expr: 'test +'\n");
        assert!(!c.is_ok());
        assert_eq!(
            render(&c, "     "),
            vec![
                "Stdout Checking r.yml",
                "Stderr   FAILED:",
                "Stderr      r.yml: 5:15: group \"g\", rule 1, \"x\": could not parse expression: 1:7: parse error: unexpected end of input",
                "Stdout "
            ]
        );
    }

    #[test]
    fn duplicates_are_a_lint_finding_not_a_failure() {
        let (_d, c) = check("groups:\n  - name: a\n    rules:\n      - record: x\n        expr: up\n        labels: {k: v}\n  - name: b\n    rules:\n      - record: x\n        expr: up\n        labels: {k: v}\n");
        assert!(c.is_ok());
        assert_eq!(
            c.lint.as_deref(),
            Some("lint error 1 duplicate rule(s) found.\nMetric: x\nLabel(s):\n\tk: v\nMight cause inconsistency while recording expressions")
        );
        assert_eq!(render(&c, "")[1], "Stderr   FAILED:");
    }
}
