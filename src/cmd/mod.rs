//! The work behind each command-line command: `src/cli.rs` parses the flags and calls
//! one function here, which does the work through the library and prints the report.
//!
//! | file | command |
//! | --- | --- |
//! | `serve.rs` | `serve` (and no subcommand): builds the engine options, runs [`crate::engine::Engine`] until shutdown |
//! | `alerts.rs` | `check alertmanager`, `alerts routes test` (amtool's report shapes) |
//! | `check.rs` | `check config`, `check metrics` (promtool's output and exit codes) |
//! | `query.rs` | `query`, `query-range`: evaluate against the local TSDB or a remote API with `--server`; table or JSON output |
//! | `tsdb.rs` | `tsdb import`, `tsdb stats`, `tsdb dump`: open the data directory and print what was done or found |
//!
//! `check rules` lives with the rules (`crate::rules::check_rules_command`).

pub(crate) mod alerts;
pub(crate) mod check;
pub(crate) mod query;
pub(crate) mod serve;
pub(crate) mod tsdb;
