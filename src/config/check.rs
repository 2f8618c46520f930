//! `promtui check config FILE`: promtool's `check config` — load and validate the
//! configuration, then check what it refers to: rule files exist and are valid (parsed
//! and validated by [`crate::rules`], reported per file as `promtool check rules` does),
//! file_sd files parse, credential and certificate files exist, and every static or
//! file-discovered target keeps an address after target relabeling. Sections promtui does
//! not act on yet are listed as `WARNING` lines.
//!
//! Mirrors `cmd/promtool/main.go` `checkConfig`. Exit code contract (promtool's): 0 when
//! the configuration and everything it references is valid, 1 otherwise (warnings and
//! the duplicate-rules lint do not count).

use std::fmt;
use std::path::{Path, PathBuf};

use super::error::Error;
use super::file_sd::{glob_files, parse_target_groups, TargetGroup};
use super::locate::{locate, YamlPath};
use super::types::{Config, HttpRaw, ScrapeConfig};
use super::Warning;
use crate::model::labels::Label;
use crate::model::relabel;
use crate::model::Labels;
use crate::rules::RuleFileCheck;

/// A rule file found through `rule_files`, checked.
pub type RuleFileReport = RuleFileCheck;

/// A file_sd target group file that was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SdFileReport {
    /// The scrape job (or `alertmanagers[i]`) using it.
    pub owner: String,
    pub path: PathBuf,
    pub target_groups: usize,
    pub targets: usize,
}

/// Outcome of [`check_config`] for a configuration that loads.
#[derive(Debug)]
pub struct CheckReport {
    pub config_file: PathBuf,
    /// The loaded configuration.
    pub config: Config,
    pub rule_files: Vec<RuleFileReport>,
    pub sd_files: Vec<SdFileReport>,
    /// Non-fatal findings, already prefixed with the file they concern.
    pub warnings: Vec<String>,
    /// Problems in referenced files; any makes the check fail.
    pub problems: Vec<Error>,
}

impl CheckReport {
    /// promtool's exit status: 0 valid, 1 invalid (the configuration or a rule file).
    pub fn exit_code(&self) -> i32 {
        i32::from(!self.is_ok())
    }

    /// True when nothing is wrong, in the configuration or the rule files.
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty() && self.rule_files.iter().all(RuleFileCheck::is_ok)
    }
}

/// Exit status for a whole check result: 0 when the configuration and everything it
/// references is valid, 1 otherwise (promtool semantics).
pub fn exit_code(result: &Result<CheckReport, Error>) -> i32 {
    match result {
        Ok(r) => r.exit_code(),
        Err(e) => e.exit_code(),
    }
}

impl fmt::Display for CheckReport {
    /// promtool's layout: `Checking FILE`, indented WARNING/SUCCESS/FAILED lines, then one
    /// block per rule file.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let file = self.config_file.display();
        writeln!(f, "Checking {file}")?;
        for w in &self.warnings {
            writeln!(f, "  WARNING: {w}")?;
        }
        for p in &self.problems {
            writeln!(f, "  FAILED: {p}")?;
        }
        if !self.config.rule_files.is_empty() {
            writeln!(f, "  SUCCESS: {} rule files found", self.rule_files.len())?;
        }
        if self.problems.is_empty() {
            writeln!(f, " SUCCESS: {file} is valid prometheus config file syntax")?;
        } else {
            writeln!(f, " FAILED: {file} refers to invalid files")?;
        }
        // promtool's `check config` indents a rule file's errors by five spaces.
        for r in &self.rule_files {
            writeln!(f)?;
            let lines = r.lines("     ");
            // The trailing empty line separates files; the caller ends the last one.
            for (_, line) in &lines[..lines.len() - 1] {
                writeln!(f, "{line}")?;
            }
        }
        Ok(())
    }
}

/// What [`check_config_with`] checks besides the configuration itself.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CheckOptions {
    /// Only the configuration's own syntax and rules, no referenced files (promtool's
    /// `--syntax-only`).
    pub syntax_only: bool,
}

/// Checks a configuration file the way `promtool check config` does. `Err` means the
/// configuration itself is invalid; problems in files it references are in
/// [`CheckReport::problems`].
pub fn check_config(path: &Path) -> Result<CheckReport, Error> {
    check_config_with(path, CheckOptions::default())
}

/// [`check_config`] with options.
pub fn check_config_with(path: &Path, options: CheckOptions) -> Result<CheckReport, Error> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let origin = path.display().to_string();
    let mut config = Config::load_str(&text, &origin)?;
    config.set_directory(path.parent().unwrap_or(Path::new("")));

    let mut report = CheckReport {
        config_file: path.to_path_buf(),
        warnings: config.warnings.iter().map(|w| at(&origin, w)).collect(),
        config,
        rule_files: Vec::new(),
        sd_files: Vec::new(),
        problems: Vec::new(),
    };
    if options.syntax_only {
        return Ok(report);
    }
    let here = |p: &YamlPath| locate(&text, p);
    check_rule_files(&mut report, &origin, &here);
    check_credentials(&mut report, &origin, &here);
    check_targets(&mut report, &origin, &here);
    Ok(report)
}

fn at(origin: &str, w: &Warning) -> String {
    format!("{origin}:{w}")
}

fn check_rule_files(
    report: &mut CheckReport,
    origin: &str,
    here: &dyn Fn(&YamlPath) -> Option<super::Pos>,
) {
    let patterns = report.config.rule_files.clone();
    for (i, pattern) in patterns.iter().enumerate() {
        let pos = here(&YamlPath::root().key("rule_files").index(i));
        let mut files = match glob_files(pattern) {
            Ok(f) => f,
            Err(e) => {
                report.problems.push(e);
                continue;
            }
        };
        files.sort();
        if files.is_empty() && !pattern.contains('*') {
            report.problems.push(Error::Referenced {
                file: origin.to_string(),
                pos,
                message: format!("{pattern:?} does not point to an existing file"),
            });
        }
        for f in files {
            if report.rule_files.iter().any(|r| r.path == f) {
                continue;
            }
            report.rule_files.push(RuleFileCheck::run(&f));
        }
    }
}

/// promtool checks that token, credentials and client certificate files exist; promtui
/// also checks password files.
fn check_credentials(
    report: &mut CheckReport,
    origin: &str,
    here: &dyn Fn(&YamlPath) -> Option<super::Pos>,
) {
    let mut missing: Vec<(YamlPath, String, &'static str)> = Vec::new();
    let mut visit = |p: YamlPath, h: HttpRaw<'_>, bearer_file: Option<&String>| {
        let mut check = |sub: YamlPath, file: Option<&String>, what: &'static str| {
            if let Some(f) = file.filter(|f| !f.is_empty()) {
                if std::fs::metadata(f).is_err() {
                    missing.push((sub, f.clone(), what));
                }
            }
        };
        check(p.key("bearer_token_file"), bearer_file, "bearer token file");
        if let Some(a) = h.authorization {
            check(
                p.key("authorization").key("credentials_file"),
                a.credentials_file.as_ref(),
                "authorization credentials file",
            );
        }
        if let Some(b) = h.basic_auth {
            check(
                p.key("basic_auth").key("password_file"),
                b.password_file.as_ref(),
                "basic_auth password file",
            );
        }
        let t = h.tls_config;
        check(
            p.key("tls_config").key("cert_file"),
            t.cert_file.as_ref(),
            "client cert file",
        );
        check(
            p.key("tls_config").key("key_file"),
            t.key_file.as_ref(),
            "client key file",
        );
    };
    let root = YamlPath::root();
    for (i, sc) in report.config.scrape_configs.iter().enumerate() {
        visit(
            root.key("scrape_configs").index(i),
            sc.http_raw(),
            sc.bearer_token_file.as_ref(),
        );
    }
    for (i, am) in report.config.alerting.alertmanagers.iter().enumerate() {
        visit(
            root.key("alerting").key("alertmanagers").index(i),
            am.http_raw(),
            am.bearer_token_file.as_ref(),
        );
    }
    for (i, rw) in report.config.remote_write.iter().enumerate() {
        visit(
            root.key("remote_write").index(i),
            rw.http_raw(),
            rw.bearer_token_file.as_ref(),
        );
    }
    for (path, file, what) in missing {
        report.problems.push(Error::Referenced {
            file: origin.to_string(),
            pos: here(&path),
            message: format!(
                "{path}: error checking {what} {file:?}: no such file or not readable"
            ),
        });
    }
}

fn check_targets(
    report: &mut CheckReport,
    origin: &str,
    here: &dyn Fn(&YamlPath) -> Option<super::Pos>,
) {
    let root = YamlPath::root();
    let mut problems = Vec::new();
    let mut warnings = Vec::new();
    let mut sd_files = Vec::new();
    for (i, sc) in report.config.scrape_configs.iter().enumerate() {
        let p = root.key("scrape_configs").index(i);
        let mut groups = sc.static_target_groups();
        for (j, sd) in sc.file_sd_configs.iter().enumerate() {
            for (k, pattern) in sd.files.iter().enumerate() {
                let fp = p.key("file_sd_configs").index(j).key("files").index(k);
                match read_sd_pattern(pattern, &sc.job_name, &mut sd_files) {
                    Ok(Some(g)) => groups.extend(g),
                    Ok(None) => {
                        warnings.push(format!(
                        "{origin}:{}file {pattern:?} for file_sd in scrape job {:?} does not exist",
                        here(&fp).map(|p| format!("{}:{}: ", p.line, p.column)).unwrap_or_default(),
                        sc.job_name
                    ))
                    }
                    Err(e) => problems.push(e),
                }
            }
        }
        for g in &groups {
            if let Some(msg) = check_group_targets(sc, g) {
                problems.push(Error::Referenced {
                    file: origin.to_string(),
                    pos: here(&p),
                    message: format!("{p}: {msg}"),
                });
            }
        }
    }
    for (i, am) in report.config.alerting.alertmanagers.iter().enumerate() {
        for sd in &am.file_sd_configs {
            for pattern in &sd.files {
                let owner = format!("alertmanagers[{i}]");
                if let Err(e) = read_sd_pattern(pattern, &owner, &mut sd_files) {
                    problems.push(e);
                }
            }
        }
    }
    report.problems.extend(problems);
    report.warnings.extend(warnings);
    report.sd_files.extend(sd_files);
}

/// Reads every file a file_sd pattern matches; `None` when it matches nothing.
fn read_sd_pattern(
    pattern: &str,
    owner: &str,
    reports: &mut Vec<SdFileReport>,
) -> Result<Option<Vec<TargetGroup>>, Error> {
    let files = glob_files(pattern)?;
    if files.is_empty() {
        return Ok(None);
    }
    let mut out = Vec::new();
    for f in files {
        let bytes = std::fs::read(&f).map_err(|source| Error::Read {
            path: f.clone(),
            source,
        })?;
        let groups = parse_target_groups(&f, &bytes)?;
        reports.push(SdFileReport {
            owner: owner.to_string(),
            path: f,
            target_groups: groups.len(),
            targets: groups.iter().map(|g| g.targets.len()).sum(),
        });
        out.extend(groups);
    }
    Ok(Some(out))
}

/// Applies target relabeling to each target of a group, the way the scrape manager will,
/// and reports the first target left without a usable address.
fn check_group_targets(sc: &ScrapeConfig, g: &TargetGroup) -> Option<String> {
    for t in &g.targets {
        let mut labels: Vec<Label> = g.labels.iter().cloned().collect();
        labels.extend(t.iter().cloned());
        for (name, value) in [
            ("job", sc.job_name.clone()),
            ("__scheme__", sc.scheme.clone()),
            ("__metrics_path__", sc.metrics_path.clone()),
            ("__scrape_interval__", sc.scrape_interval.to_string()),
            ("__scrape_timeout__", sc.scrape_timeout.to_string()),
        ] {
            if !labels.iter().any(|l| l.name == name) {
                labels.push(Label::new(name, value));
            }
        }
        for (k, v) in &sc.params {
            if let Some(first) = v.first() {
                labels.push(Label::new(format!("__param_{k}"), first.as_str()));
            }
        }
        let Some(out) = relabel::process_owned(Labels::new(labels), &sc.relabel_configs) else {
            continue;
        };
        match out.get("__address__") {
            None => return Some(format!("target group {}: no address", g.source)),
            Some(a) if a.contains('/') => {
                return Some(format!(
                    "target group {}: {a:?} is not a valid hostname",
                    g.source
                ))
            }
            Some(_) => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, body: &str) -> PathBuf {
        let p = dir.join(name);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&p, body).unwrap();
        p
    }

    #[test]
    fn valid_config_with_rules_and_file_sd() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "rules/a.yml", "groups:\n  - name: g\n    rules:\n      - record: x\n        expr: up\n      - alert: A\n        expr: up == 0\n");
        write(dir.path(), "rules/empty.yml", "");
        write(dir.path(), "sd/t.json", r#"[{"targets": ["h:1", "h:2"]}]"#);
        let cfg = write(
            dir.path(),
            "prometheus.yml",
            "rule_files: [rules/*.yml]\nscrape_configs:\n  - job_name: j\n    file_sd_configs:\n      - files: [sd/*.json, missing/*.yml]\n",
        );
        let r = check_config(&cfg).unwrap();
        assert_eq!(r.exit_code(), 0, "{r}");
        assert_eq!(r.rule_files.len(), 2);
        assert_eq!(r.rule_files[0].num_rules(), 2);
        assert_eq!(r.rule_files[1].num_rules(), 0);
        assert!(r.rule_files.iter().all(|f| f.is_ok() && f.lint.is_none()));
        assert_eq!(r.sd_files.len(), 1);
        assert_eq!(r.sd_files[0].targets, 2);
        // Rules are evaluated: only the glob that matches nothing is worth a word.
        assert_eq!(r.warnings.len(), 1, "{:?}", r.warnings);
        assert!(r.warnings[0].contains("missing/*.yml"), "{:?}", r.warnings);
        let text = r.to_string();
        assert!(text.contains("  SUCCESS: 2 rule files found"), "{text}");
        assert!(
            text.contains("is valid prometheus config file syntax"),
            "{text}"
        );
        assert!(
            text.contains("/rules/a.yml\n  SUCCESS: 2 rules found\n"),
            "{text}"
        );
        assert_eq!(exit_code(&Ok(r)), 0);
    }

    #[test]
    fn missing_rule_file_and_bad_sd_file_fail() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "sd/t.yml", "- targets: [a]\n  lables: {}\n");
        write(dir.path(), "bad.rules.yml", "groupz: []\n");
        let cfg = write(
            dir.path(),
            "p.yml",
            "rule_files:\n  - missing.yml\n  - bad.rules.yml\nscrape_configs:\n  - job_name: j\n    bearer_token_file: nope.token\n    file_sd_configs:\n      - files: [sd/t.yml]\n",
        );
        let r = check_config(&cfg).unwrap();
        assert_eq!(r.exit_code(), 1);
        let all: Vec<String> = r.problems.iter().map(|p| p.to_string()).collect();
        assert_eq!(all.len(), 3, "{all:#?}");
        assert!(all[0].contains("p.yml:2:5: \""), "{all:#?}");
        assert!(
            all[0].ends_with("missing.yml\" does not point to an existing file"),
            "{all:#?}"
        );
        assert!(
            all[1].contains(
                "p.yml:6:5: scrape_configs[0].bearer_token_file: error checking bearer token file"
            ),
            "{all:#?}"
        );
        assert!(
            all[2].contains("t.yml:2:3: [0]: field lables not found"),
            "{all:#?}"
        );
        // The invalid rule file gets its own block, as in promtool.
        assert_eq!(r.rule_files.len(), 1);
        assert!(!r.rule_files[0].is_ok());
        let text = r.to_string();
        assert!(text.contains("  FAILED: "), "{text}");
        assert!(
            text.contains("/bad.rules.yml\n  FAILED:\n     ")
                && text.contains("bad.rules.yml: yaml: unmarshal errors:\n  line 1: field groupz not found in type rulefmt.RuleGroups\n"),
            "{text}"
        );
    }

    #[test]
    fn syntax_only_skips_referenced_files() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = write(dir.path(), "p.yml", "rule_files: [missing.yml]\n");
        assert_eq!(check_config(&cfg).unwrap().exit_code(), 1);
        let r = check_config_with(&cfg, CheckOptions { syntax_only: true }).unwrap();
        assert_eq!(r.exit_code(), 0);
        assert!(r.rule_files.is_empty());
    }

    #[test]
    fn targets_without_address_after_relabeling_fail() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = write(
            dir.path(),
            "p.yml",
            "scrape_configs:\n  - job_name: j\n    static_configs:\n      - targets: ['h:1']\n    relabel_configs:\n      - {source_labels: [nothing], target_label: __address__}\n",
        );
        let r = check_config(&cfg).unwrap();
        assert_eq!(r.exit_code(), 1);
        assert!(
            r.problems[0]
                .to_string()
                .contains("p.yml:2:5: scrape_configs[0]: target group 0: no address"),
            "{r}"
        );
    }

    #[test]
    fn invalid_config_is_an_error_with_exit_code_1() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = write(
            dir.path(),
            "p.yml",
            "scrape_configs:\n  - job_name: a\n    scrape_intervl: 1m\n",
        );
        let res = check_config(&cfg);
        assert_eq!(exit_code(&res), 1);
        let e = res.unwrap_err().to_string();
        assert!(e.ends_with("p.yml:3:5: scrape_configs[0]: field scrape_intervl not found in type config.ScrapeConfig; did you mean scrape_interval?"), "{e}");
        assert_eq!(exit_code(&check_config(&dir.path().join("absent.yml"))), 1);
    }
}
