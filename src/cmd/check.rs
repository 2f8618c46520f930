//! `promtui check config` and `promtui check metrics`: promtool's output shape and exit
//! codes.

use std::path::PathBuf;
use std::process::ExitCode;

/// `check metrics`: lints stdin; promtool's output and exit codes.
pub(crate) fn check_metrics() -> ExitCode {
    let mut body = Vec::new();
    if let Err(e) = std::io::Read::read_to_end(&mut std::io::stdin(), &mut body) {
        eprintln!("error while linting: reading stdin: {e}");
        return ExitCode::from(1);
    }
    match crate::exposition::lint::lint(&body) {
        Err(e) => {
            eprintln!("error while linting: {e}");
            ExitCode::from(1)
        }
        Ok(problems) if problems.is_empty() => ExitCode::SUCCESS,
        Ok(problems) => {
            for p in problems {
                eprintln!("{} {}", p.metric, p.text);
            }
            ExitCode::from(3)
        }
    }
}

/// `promtui check config`: promtool's output shape and exit codes (0 valid, 1 invalid).
pub(crate) fn check_config(files: &[PathBuf]) -> ExitCode {
    let mut failed = false;
    for f in files {
        let result = crate::config::check_config(f);
        match &result {
            Ok(report) => print!("{report}"),
            Err(e) => {
                println!("Checking {}", f.display());
                println!("  FAILED: {e}");
            }
        }
        if crate::config::exit_code(&result) != 0 {
            failed = true;
        }
        println!();
    }
    if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// `promtui check web-config FILE...`: each file `SUCCESS` or `FAILED: why` on stderr, as
/// `promtool check web-config`; exit 1 when any failed.
pub(crate) fn check_web_config(files: &[PathBuf]) -> ExitCode {
    let mut failed = false;
    for f in files {
        match crate::web::security::WebConfig::load(f) {
            Ok(_) => eprintln!("{} SUCCESS", f.display()),
            Err(e) => {
                eprintln!("{} FAILED: {e}", f.display());
                failed = true;
            }
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
