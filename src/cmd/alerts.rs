//! `promtui check alertmanager FILE...` (amtool check-config's report and exit codes,
//! with file:line:column on problems) and `promtui alerts routes test` (amtool config
//! routes test's receivers line, plus the route paths with --verbose).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::alerting::dispatch::{match_route_paths, match_routes, Built};
use crate::alerting::matcher::{parse_matchers, MatchType};
use crate::alerting::AmConfig;

/// Loads and fully validates one file, integrations included.
fn validate(path: &Path) -> Result<AmConfig, String> {
    let cfg = AmConfig::load_file(path).map_err(|e| e.to_string())?;
    let built = Built::new(cfg, reqwest::Client::new()).map_err(|e| e.to_string())?;
    Ok(built.config)
}

/// `check alertmanager`: amtool's report for each file; exit 1 when any fails.
pub(crate) fn check_alertmanager(files: &[PathBuf]) -> ExitCode {
    let mut failed = 0;
    for f in files {
        match validate(f) {
            Ok(c) => {
                println!("Checking '{}'  SUCCESS", f.display());
                println!("Found:");
                println!(" - global config");
                println!(" - route");
                println!(" - {} inhibit rules", c.inhibit_rules.len());
                println!(" - {} receivers", c.receivers.len());
                println!(" - {} templates", c.templates.len());
                for t in &c.templates {
                    println!("  - {t}");
                }
                println!();
            }
            Err(e) => {
                failed += 1;
                println!("Checking '{}'  FAILED: {e}", f.display());
                println!();
            }
        }
    }
    if failed > 0 {
        eprintln!("promtui: error: failed to validate {failed} file(s)");
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// `alerts routes test`: prints the receivers (comma-separated, first seen first) an alert
/// with `labels` goes to; with `verbose`, each route path from the root.
pub(crate) fn routes_test(
    config: &Path,
    labels: &[String],
    verify: Option<&str>,
    verbose: bool,
) -> ExitCode {
    let cfg = match AmConfig::load_file(config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("promtui: error: {e}");
            return ExitCode::from(1);
        }
    };
    let mut set = std::collections::BTreeMap::new();
    for l in labels {
        match parse_matchers(l) {
            Ok(ms) => {
                for m in ms {
                    if m.op != MatchType::Equal {
                        eprintln!("promtui: error: {l}: only name=value labels describe an alert");
                        return ExitCode::from(1);
                    }
                    set.insert(m.name, m.value);
                }
            }
            Err(e) => {
                eprintln!("promtui: error: {l}: {e}");
                return ExitCode::from(1);
            }
        }
    }
    let mut receivers: Vec<String> = Vec::new();
    for r in match_routes(&cfg.route, &set) {
        if !receivers.contains(&r.receiver) {
            receivers.push(r.receiver.clone());
        }
    }
    let line = receivers.join(",");
    println!("{line}");
    if verbose {
        for path in match_route_paths(&cfg.route, &set) {
            println!("  {}", path.join("  ->  "));
        }
    }
    if let Some(want) = verify {
        if want != line {
            println!("WARNING: Expected receivers did not match resolved receivers.");
            return ExitCode::from(1);
        }
    }
    ExitCode::SUCCESS
}
