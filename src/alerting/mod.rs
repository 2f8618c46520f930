//! The Alertmanager-like pipeline: alertmanager.yml, dedup, route tree, aggregation
//! groups and timers, inhibition, silences, acknowledgements, notification log, receivers;
//! state in SQLite.

pub mod notify;
