//! The Alertmanager-like pipeline: alertmanager.yml ([`config`]), Alertmanager's label
//! matchers ([`matcher`]) and time intervals ([`timeinterval`]), alerts and fingerprints
//! ([`alert`]), silences ([`silence`]), acknowledgements ([`ack`]), the dispatcher with
//! route tree, aggregation groups, inhibition and the notification log ([`dispatch`]),
//! state in SQLite ([`store`]), the API v2 ([`api`]) and receivers' integrations
//! ([`notify`]).

pub mod ack;
pub mod alert;
pub mod config;
pub mod dispatch;
pub mod matcher;
pub mod notify;
pub mod silence;
pub mod store;
pub mod timeinterval;

pub use config::{AmConfig, ConfigError};
pub use dispatch::{Options, Pipeline, PipelineSink, PostedAlert, TeeSink};
