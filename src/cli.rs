//! Command-line interface: clap definitions with Prometheus-style flag names, and dispatch.

use std::process::ExitCode;

use clap::Parser;

/// promtui: scrape, store, query and alert from one binary.
#[derive(Debug, Parser)]
#[command(name = "promtui", version, about)]
pub struct Cli {}

pub fn run() -> ExitCode {
    let _cli = Cli::parse();
    ExitCode::SUCCESS
}
