//! HTTP serving (axum): the Prometheus API v1, lifecycle endpoints and `/metrics`, all
//! sharing one [`WebState`].
//!
//! Like upstream `web/api/v1/api.go`, handlers depend only on small traits
//! ([`TargetRetriever`], [`TsdbAdmin`], [`ConfigSource`], [`MetricsSource`]) that the engine
//! implements, never on concrete managers. Listeners bind 127.0.0.1 unless told otherwise.

pub mod api;
mod ast_json;
pub mod federate;
pub mod json;
pub mod metrics;
pub mod query;
pub mod query_client;
mod status;

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use axum::serve::ListenerExt;
use axum::Router;
use serde::Serialize;

use self::api::ApiError;
use self::metrics::{HttpMetrics, MetricsWriter};

/// A boxed future, for async trait methods that must stay object safe.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// Largest request body accepted (form-encoded queries, admin calls).
pub const MAX_BODY_BYTES: usize = 4 << 20;

/// Scrape targets as `/api/v1/targets` reports them.
pub trait TargetRetriever: Send + Sync {
    fn active_targets(&self) -> Vec<ActiveTarget>;
    fn dropped_targets(&self) -> Vec<DroppedTarget>;
}

/// TSDB statistics and administration.
pub trait TsdbAdmin: Send + Sync {
    /// Cardinality statistics for `/api/v1/status/tsdb`, top `limit` entries per list.
    fn tsdb_status(&self, limit: usize) -> Result<TsdbStatus, ApiError>;
    /// Deletes series matching any of `selectors` in `[start, end]` (milliseconds).
    fn delete_series(&self, selectors: &[String], start: i64, end: i64) -> Result<(), ApiError>;
    /// Removes deleted data from disk (`/api/v1/admin/tsdb/clean_tombstones`). Stores
    /// without persisted blocks have nothing to clean, hence the default.
    fn clean_tombstones(&self) -> Result<(), ApiError> {
        Ok(())
    }
}

/// The running configuration and its reload.
pub trait ConfigSource: Send + Sync {
    /// The loaded configuration as YAML.
    fn config_yaml(&self) -> String;
    /// Reloads the configuration from its file; on error the old one stays in force.
    fn reload(&self) -> BoxFuture<Result<(), String>>;
}

/// PromQL evaluation and series reads for the query endpoints and `/federate` (upstream
/// `api.Queryable` + `QueryEngine`). Implementations are cheap to call; the handlers call
/// them from tokio's blocking pool.
pub trait QueryBackend: Send + Sync {
    /// The storage queries and series/label lookups read.
    fn queryable(&self) -> Arc<dyn crate::storage::Queryable>;
    /// Engine options (lookback delta, timeout, sample limit) for each query; a request's
    /// `timeout` parameter may only shorten the timeout.
    fn engine_options(&self) -> crate::promql::engine::EngineOptions;
    /// `global.external_labels`, added to federated series that lack them.
    fn external_labels(&self) -> crate::model::Labels {
        crate::model::Labels::empty()
    }
    /// The limit on concurrent PromQL evaluations (`--query.max-concurrency`); `None`
    /// evaluates every query at once.
    fn query_gate(&self) -> Option<Arc<query::QueryGate>> {
        None
    }
}

/// Subsystems that add families to `/metrics`.
pub trait MetricsSource: Send + Sync {
    fn write_metrics(&self, w: &mut MetricsWriter);
}

/// One active target (`/api/v1/targets`).
#[derive(Clone, Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ActiveTarget {
    pub discovered_labels: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
    pub scrape_pool: String,
    pub scrape_url: String,
    pub global_url: String,
    pub last_error: String,
    /// RFC 3339.
    pub last_scrape: String,
    pub last_scrape_duration: f64,
    /// "up", "down" or "unknown".
    pub health: String,
    pub scrape_interval: String,
    pub scrape_timeout: String,
}

/// One target dropped by relabeling.
#[derive(Clone, Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DroppedTarget {
    pub discovered_labels: BTreeMap<String, String>,
}

/// `/api/v1/status/tsdb` data.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TsdbStatus {
    pub head_stats: HeadStats,
    pub series_count_by_metric_name: Vec<NameValue>,
    pub label_value_count_by_label_name: Vec<NameValue>,
    pub memory_in_bytes_by_label_name: Vec<NameValue>,
    pub series_count_by_label_value_pair: Vec<NameValue>,
}

#[derive(Clone, Debug, Default, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct HeadStats {
    pub num_series: u64,
    pub num_label_pairs: u64,
    pub chunk_count: u64,
    pub min_time: i64,
    pub max_time: i64,
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct NameValue {
    pub name: String,
    pub value: u64,
}

/// Everything the handlers share.
#[derive(Clone)]
pub struct WebState {
    pub targets: Arc<dyn TargetRetriever>,
    pub tsdb: Arc<dyn TsdbAdmin>,
    pub config: Arc<dyn ConfigSource>,
    pub metrics_sources: Vec<Arc<dyn MetricsSource>>,
    /// The query engine; `None` answers the query endpoints with 503 `unavailable`.
    pub query: Option<Arc<dyn QueryBackend>>,
    /// Command-line flags as `/api/v1/status/flags` reports them.
    pub flags: Arc<BTreeMap<String, String>>,
    /// Set once start-up (WAL replay) is complete; `/-/ready` answers 503 before.
    pub ready: Arc<AtomicBool>,
    /// Whether `/-/reload` and the admin APIs are enabled (`--web.enable-lifecycle`,
    /// `--web.enable-admin-api`).
    pub enable_lifecycle: bool,
    pub enable_admin_api: bool,
    pub http_metrics: Arc<HttpMetrics>,
}

impl WebState {
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }
}

/// The router with every endpoint of this subsystem. The handlers share the state behind
/// one `Arc`: each request clones it (once for the metrics layer, once for its handler), and
/// one reference count is cheaper than a clone of every field.
pub fn router(state: WebState) -> Router {
    let state = Arc::new(state);
    status::routes()
        .merge(query::routes())
        .merge(federate::routes())
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            record_http_metrics,
        ))
        .with_state(state)
}

async fn record_http_metrics(
    State(state): State<Arc<WebState>>,
    req: Request,
    next: Next,
) -> Response {
    let handler = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "other".to_string());
    let start = Instant::now();
    let resp = next.run(req).await;
    state
        .http_metrics
        .observe(&handler, resp.status().as_u16(), start.elapsed());
    resp
}

/// Why the web server could not start.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot listen on {addr}: address already in use; choose another with --{flag}")]
    AddrInUse { addr: String, flag: String },
    #[error("cannot listen on {addr} (--{flag}): {source}")]
    Bind {
        addr: String,
        flag: String,
        source: std::io::Error,
    },
    #[error("HTTP server on {addr} failed: {source}")]
    Serve {
        addr: String,
        source: std::io::Error,
    },
}

/// Binds `addr`; `flag` names the command-line flag that sets it, for the error message.
pub async fn bind(addr: &str, flag: &str) -> Result<tokio::net::TcpListener, Error> {
    match tokio::net::TcpListener::bind(addr).await {
        Ok(l) => Ok(l),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => Err(Error::AddrInUse {
            addr: addr.to_string(),
            flag: flag.to_string(),
        }),
        Err(source) => Err(Error::Bind {
            addr: addr.to_string(),
            flag: flag.to_string(),
            source,
        }),
    }
}

/// Serves `router` on `listener` until `shutdown` completes, then drains in-flight
/// requests. Accepted connections get TCP_NODELAY, as Go's net/http (and so Prometheus)
/// sets on every connection: a response written in several pieces, such as a large body
/// that fills the socket buffer, must not wait for the client's delayed ACK.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    let addr = listener
        .local_addr()
        .map(|a: SocketAddr| a.to_string())
        .unwrap_or_default();
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!("could not set TCP_NODELAY on an accepted connection: {e}");
        }
    });
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(|source| Error::Serve { addr, source })
}
