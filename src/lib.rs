//! promtui: a single-binary monitoring workbench.
//!
//! The library holds every subsystem so that the binary, the end-to-end tests and the
//! benchmarks all run the same code. Layout and data flow: DESIGN.md.

#![forbid(unsafe_code)]

pub mod config;
pub mod exposition;
pub mod model;
pub mod promql;
pub mod scrape;
pub mod storage;
pub mod tsdb;
