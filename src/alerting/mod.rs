//! The Alertmanager-like pipeline: alertmanager.yml ([`config`]), Alertmanager's label
//! matchers ([`matcher`]) and time intervals ([`timeinterval`]), alerts and fingerprints
//! ([`alert`]), silences ([`silence`]), acknowledgements ([`ack`]), the dispatcher with
//! route tree, aggregation groups, inhibition and the notification log ([`dispatch`]), one alert's route path,
//! notifications and inhibitions for the TUI ([`inspect`]),
//! state in SQLite ([`store`]), the API v2 ([`api`]) and receivers' integrations
//! ([`notify`]).

pub mod ack;
pub mod alert;
pub mod api;
pub mod config;
pub mod dispatch;
pub mod inspect;
pub mod matcher;
pub mod metrics;
pub mod notify;
pub mod silence;
pub mod store;
pub mod timeinterval;

pub use config::{AmConfig, ConfigError};
pub use dispatch::{Options, Pipeline, PipelineSink, PostedAlert, TeeSink};

use std::path::{Path, PathBuf};

/// The built-in Alertmanager's command-line settings.
#[derive(Clone, Debug)]
pub struct ServeOptions {
    /// `--alertmanager.config.file`; `None` runs [`config::DEFAULT_CONFIG`].
    pub config_file: Option<PathBuf>,
    /// `--alertmanager.listen-address`; `None` with `--alertmanager.disable-listener`.
    pub listen_address: Option<String>,
    /// Whether the address was given on the command line (then a busy port is fatal;
    /// the default busy only warns, since the API is on the web port too).
    pub listen_explicit: bool,
    /// `--alertmanager.storage.path`.
    pub data_dir: PathBuf,
    /// `--alertmanager.data-retention`.
    pub retention: std::time::Duration,
}

/// Why the built-in Alertmanager could not start or reload.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Start(#[from] dispatch::StartError),
    #[error(transparent)]
    Apply(#[from] dispatch::ApplyError),
    #[error(transparent)]
    Listen(#[from] crate::web::Error),
}

/// Loads `file`, or the embedded default.
pub fn load_config(file: Option<&Path>) -> Result<AmConfig, ConfigError> {
    match file {
        Some(f) => AmConfig::load_file(f),
        None => Ok(AmConfig::default_config()),
    }
}

/// Binds the separate API listener when one is configured. A busy default address only
/// warns (the API stays reachable under /api/v2 on the web port).
pub async fn bind_listener(opts: &ServeOptions) -> Result<Option<tokio::net::TcpListener>, Error> {
    let Some(addr) = &opts.listen_address else {
        return Ok(None);
    };
    match crate::web::bind(addr, "alertmanager.listen-address").await {
        Ok(l) => Ok(Some(l)),
        Err(e @ crate::web::Error::AddrInUse { .. }) if !opts.listen_explicit => {
            tracing::warn!(
                "{e}; the Alertmanager API is still served under /api/v2 on the web port"
            );
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}
