//! The terminal UI: app loop, views over a backend (the in-process engine or a remote
//! Prometheus-compatible API), themes and widgets.

pub mod console;
pub mod view;
