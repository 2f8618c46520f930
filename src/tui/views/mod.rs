//! One file per view of the frame (the console lives in src/tui/console/). Adding a view
//! is a file here and a line in [`crate::tui::app::views`].

pub mod alert_forms;
pub mod alerts;
pub mod backtest;
pub mod config;
pub mod overview;
pub mod pushgateway;
pub mod rules;
pub mod ruletest;
pub mod silences;
pub mod targets;
pub mod tsdb;
