//! promtui: a single-binary monitoring workbench.
//!
//! The library holds every subsystem so that the binary, the end-to-end tests and the
//! benchmarks all run the same code. Layout and data flow: docs/architecture.md.

#![forbid(unsafe_code)]

pub mod alerting;
pub mod alloc;
pub mod cli;
pub(crate) mod cmd;
pub mod config;
pub mod engine;
pub mod exposition;
pub mod fuzzing;
pub mod model;
pub mod notifier;
pub mod promql;
pub mod pushgateway;
pub mod remote;
pub mod rules;
pub mod scrape;
pub mod storage;
pub mod template;
pub mod tsdb;
pub mod tui;
pub mod web;
