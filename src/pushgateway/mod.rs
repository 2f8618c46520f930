//! The built-in Pushgateway: batch jobs push metrics over Pushgateway 1.x's HTTP API to
//! a listener of its own (`--pushgateway.listen-address`, 127.0.0.1:9091 by default),
//! the groups persist in SQLite under the data directory, and the gateway's `/metrics`
//! is scraped like any target (the embedded default configuration has a `pushgateway`
//! job with `honor_labels: true`), so pushed series reach the TSDB with their grouping
//! key labels and go stale when their group is deleted.
//!
//! - [`key`]: grouping keys from push URLs (`@base64` values).
//! - [`body`]: text and delimited-protobuf bodies, upstream's consistency checks, the
//!   rendered exposition text each family is stored as.
//! - [`proto`]: client_model's `MetricFamily` messages (prost derive).
//! - [`store`]: groups in memory, cross-group type checks, write-through persistence.
//! - [`persist`]: the SQLite writer (group commit, committed before the HTTP answer).
//! - [`http`]: the routes (`/metrics/job/...`, `/metrics`, `/api/v1/metrics`,
//!   `/api/v1/status`, `/api/v1/admin/wipe`, `/-/healthy`, `/-/ready`) and the
//!   gateway's own metrics.
//!
//! Beyond upstream (prometheus/pushgateway#19): `--pushgateway.group-ttl` deletes groups
//! not pushed to for that long; off by default.
//!
//! Upstream: <https://github.com/prometheus/pushgateway> (README, `handler/`, `storage/`).

pub(crate) mod body;
pub(crate) mod http;
pub(crate) mod key;
pub mod persist;
pub mod proto;
pub(crate) mod store;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

pub use key::GroupingKey;
pub use store::{PushMode, Store};

/// File name of the groups database inside the data directory.
pub const DB_FILE: &str = "pushgateway.sqlite";

/// Settings from the command line.
#[derive(Clone, Debug)]
pub struct Options {
    /// `--pushgateway.listen-address`.
    pub listen_address: String,
    /// `--pushgateway.max-body-bytes`: larger push bodies (after gunzip) get 413.
    pub max_body_bytes: usize,
    /// `--pushgateway.group-ttl`: groups unchanged for this long are deleted.
    pub group_ttl_ms: Option<i64>,
    /// `--web.enable-admin-api`: enables `PUT /api/v1/admin/wipe`.
    pub enable_admin_api: bool,
    /// The SQLite file holding the groups.
    pub db_path: PathBuf,
    /// Flags shown by `/api/v1/status`.
    pub flags: BTreeMap<String, String>,
}

/// Why the Pushgateway could not start or serve.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Persist(#[from] persist::PersistError),
    #[error(transparent)]
    Web(#[from] crate::web::Error),
}

/// The gateway: store, options and its own metrics; cheap to clone.
#[derive(Clone)]
pub struct Pushgateway {
    inner: Arc<http::Gateway>,
}

impl Pushgateway {
    /// Opens the store (loading persisted groups).
    pub fn open(opts: Options) -> Result<Pushgateway, Error> {
        let store = Store::open(&opts.db_path)?;
        Ok(Pushgateway {
            inner: Arc::new(http::Gateway::new(store, opts)),
        })
    }

    /// The gateway's HTTP routes.
    pub fn router(&self) -> axum::Router {
        http::router(self.inner.clone())
    }

    /// The store, for embedding callers and tests.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// Serves `listener` until `shutdown` completes, expiring groups when
    /// `--pushgateway.group-ttl` is set.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        security: Option<crate::web::security::Security>,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<(), Error> {
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let ttl_task = self
            .inner
            .opts
            .group_ttl_ms
            .map(|ttl| tokio::spawn(expire_loop(self.inner.clone(), ttl, stop_rx)));
        let addr = listener
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_default();
        tracing::info!(address = %addr, "Pushgateway listening");
        let served = crate::web::serve(listener, self.router(), security, shutdown).await;
        let _ = stop_tx.send(true);
        if let Some(t) = ttl_task {
            let _ = t.await;
        }
        served?;
        Ok(())
    }
}

/// Deletes expired groups every tenth of the TTL (between 1 s and 1 min).
async fn expire_loop(
    gw: Arc<http::Gateway>,
    ttl_ms: i64,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let every = std::time::Duration::from_millis((ttl_ms / 10).clamp(1000, 60_000) as u64);
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.changed() => return,
        }
        let cutoff = crate::model::time::now_ms() - ttl_ms;
        match gw.store.expire(cutoff).await {
            Ok(keys) => {
                for k in &keys {
                    tracing::info!(group = %k, ttl_ms, "Pushgateway group expired (--pushgateway.group-ttl)");
                }
                gw.metrics.add_expired(keys.len() as u64);
            }
            Err(e) => tracing::error!("expiring Pushgateway groups: {e}"),
        }
    }
}
