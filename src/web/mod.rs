//! HTTP serving (axum): the Prometheus API v1, lifecycle endpoints and `/metrics`, all
//! sharing one [`WebState`].
//!
//! Like upstream `web/api/v1/api.go`, handlers depend only on small traits
//! ([`TargetRetriever`], [`TsdbAdmin`], [`ConfigSource`], [`MetricsSource`]) that the engine
//! implements, never on concrete managers. Listeners bind 127.0.0.1 unless told otherwise.
//!
//! What each file owns:
//! - this file holds [`WebState`] and the traits above, [`router`] (which merges every file's
//!   routes and adds the layers), [`bind`] and [`serve`], the HTTP request metrics layer;
//! - [`query`] serves `/api/v1/query`, `query_range`, `series`, `labels`, label values,
//!   `query_exemplars`, `format_query`, `parse_query` (its JSON tree in `ast_json.rs`);
//! - `metadata.rs` serves `/api/v1/metadata` and `/api/v1/targets/metadata` from the scrape cache;
//! - `rules.rs` serves `/api/v1/rules` and `/api/v1/alerts`;
//! - [`federate`] serves `/federate`;
//! - `status.rs` serves lifecycle (`/-/healthy`, `/-/ready`, `/-/reload`, `/-/quit`), `/metrics`,
//!   `/`, `/api/v1/status/*`, `/api/v1/targets`, the TSDB admin API, the 404 fallback and
//!   the error-shape middleware;
//! - [`api`] writes the `{"status":...}` envelope and [`api::ApiError`] with upstream's codes;
//!   [`json`] writes query results byte for byte as Prometheus does;
//! - [`metrics`] keeps request counters and latency histograms and reads process metrics;
//!   every `/metrics` family is written through [`crate::exposition::MetricsWriter`];
//! - [`lenient`] accepts request targets with raw `"`, `|`, `\` as Go's net/http does;
//! - [`security`] reads `--web.config.file` (TLS, basic auth, headers) for every listener.
//!
//! A request flows: the [`lenient`] listener reads the request line → axum routes it by
//! path → the metrics layer times it under its route pattern → the error-shape layer
//! turns axum's own rejections into API errors → the handler reads its parameters (query
//! string and form body alike), calls the engine through a trait in [`WebState`] (PromQL
//! and the TSDB on a blocking thread, bounded by `--query.max-concurrency`), and writes
//! the answer through [`api`] and [`json`].

pub mod api;
mod ast_json;
pub(crate) mod federate;
pub(crate) mod json;
pub(crate) mod lenient;
mod metadata;
pub mod metrics;
pub(crate) mod query;
pub(crate) mod remote;
mod rules;
pub mod security;
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
use self::metrics::HttpMetrics;
use crate::exposition::MetricsWriter;

/// A boxed future, for async trait methods that must stay object safe.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// Largest request body accepted (form-encoded queries, admin calls).
pub const MAX_BODY_BYTES: usize = 4 << 20;

/// Scrape targets as `/api/v1/targets` reports them.
pub trait TargetRetriever: Send + Sync {
    fn active_targets(&self) -> Vec<ActiveTarget>;
    fn dropped_targets(&self) -> Vec<DroppedTarget>;
    /// The metric metadata (TYPE/HELP/UNIT) each active target exposed in its latest
    /// scrapes, for `/api/v1/metadata` and `/api/v1/targets/metadata`. Sources without a
    /// scrape cache know none.
    fn target_metadata(&self) -> Vec<TargetMetadata> {
        Vec::new()
    }
}

/// Metadata of one metric family as a target exposes it (upstream `metadata.Metadata`).
#[derive(Clone, Debug, Serialize, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MetricMetadata {
    /// `counter`, `gauge`, `histogram`, `gaugehistogram`, `summary`, `info`, `stateset` or
    /// `unknown`.
    #[serde(rename = "type")]
    pub metric_type: String,
    pub help: String,
    pub unit: String,
}

/// The metadata one active target exposes.
#[derive(Clone, Debug, PartialEq)]
pub struct TargetMetadata {
    /// The target's labels (after relabeling, without `__` labels).
    pub labels: BTreeMap<String, String>,
    /// By metric family name.
    pub metrics: Arc<BTreeMap<String, MetricMetadata>>,
}

/// `/api/v1/status/walreplay`: the WAL segments replayed at start-up. Replay finishes
/// before the API listens, so `current` is `max` whenever anyone can ask.
#[derive(Clone, Copy, Debug, Default, Serialize, PartialEq, Eq)]
pub struct WalReplayStatus {
    /// First WAL segment replayed (after the checkpoint); 0 without a WAL.
    pub min: u32,
    /// Last WAL segment.
    pub max: u32,
    /// Segment being replayed.
    pub current: u32,
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
    /// Writes a snapshot of the persisted blocks (and, unless `skip_head`, the head's data as
    /// one more block) to `<data dir>/snapshots/<name>`; returns the name.
    fn snapshot(&self, skip_head: bool) -> Result<String, ApiError> {
        let _ = skip_head;
        Err(ApiError::new(
            api::ErrorType::Unavailable,
            "this storage cannot take snapshots",
        ))
    }
    /// WAL replay progress for `/api/v1/status/walreplay`.
    fn wal_replay_status(&self) -> WalReplayStatus {
        WalReplayStatus::default()
    }
    /// WAL corruptions found (and repaired) since start-up.
    fn corruption_count(&self) -> u64 {
        0
    }
    /// The retention as `/api/v1/status/runtimeinfo` shows it (`15d`, `15d or 512MiB`,
    /// `512MiB`), empty when unlimited.
    fn storage_retention(&self) -> String {
        String::new()
    }
}

/// Why a reload failed, as the engine reports it: `/-/reload` shows its text.
pub type ReloadError = Box<dyn std::error::Error + Send + Sync>;

/// The running configuration and its reload.
pub trait ConfigSource: Send + Sync {
    /// The loaded configuration as YAML.
    fn config_yaml(&self) -> String;
    /// Reloads the configuration from its file; on error the old one stays in force.
    fn reload(&self) -> BoxFuture<Result<(), ReloadError>>;
    /// Whether the last (re)load succeeded, and when the configuration in force was loaded
    /// (ms since the epoch; `None`: unknown, reported as the server's start time).
    fn last_reload(&self) -> (bool, Option<i64>) {
        (true, None)
    }
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
    /// Notified by `POST /-/quit` (with `--web.enable-lifecycle`): whoever serves the router
    /// should shut down as on SIGTERM.
    pub quit: Arc<tokio::sync::Notify>,
    /// The rule manager for `/api/v1/rules` and `/api/v1/alerts`; `None` answers them
    /// with no groups and no alerts.
    pub rules: Option<Arc<dyn RulesRetriever>>,
}

/// Gives the rules endpoints the running rule manager and where its alerts go
/// (upstream's `RulesRetriever` and `AlertmanagerRetriever`).
pub trait RulesRetriever: Send + Sync {
    /// `None` until rules run.
    fn rule_manager(&self) -> Option<Arc<crate::rules::manager::RuleManager>>;
    /// The URLs of the Alertmanagers alerts are sent to, and of those discovery found
    /// but `relabel_configs` dropped.
    fn alertmanagers(&self) -> (Vec<String>, Vec<String>) {
        (Vec::new(), Vec::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retention_is_formatted_as_upstream() {
        assert_eq!(
            format_retention(Some(36 * 3600 * 1000), Some(1536 << 20)),
            "1d12h or 1GiB512MiB"
        );
        assert_eq!(format_retention(Some(15 * 86_400_000), None), "15d");
        assert_eq!(format_retention(Some(14 * 86_400_000), None), "2w");
        assert_eq!(format_retention(Some(90 * 60_000 + 5), None), "1h30m5ms");
        assert_eq!(format_retention(None, Some(512 << 20)), "512MiB");
        assert_eq!(format_retention(None, None), "");
    }

    #[test]
    fn snapshot_names_differ_within_a_second() {
        let (a, b) = (snapshot_name(), snapshot_name());
        assert_ne!(a, b);
        assert_eq!(a.len(), "20261207T145806Z-20d213b6d7aadb3e".len(), "{a}");
    }
}

impl WebState {
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }
}

/// A snapshot directory name as upstream makes them: the UTC time and 16 hex digits that
/// differ between snapshots taken in the same second (`20261207T145806Z-20d213b6d7aadb3e`).
pub fn snapshot_name() -> String {
    use std::sync::atomic::AtomicU64;
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let now = chrono::Utc::now();
    let nanos = now.timestamp_nanos_opt().unwrap_or_default();
    let mut seed = Vec::with_capacity(24);
    seed.extend_from_slice(&nanos.to_le_bytes());
    seed.extend_from_slice(&u64::from(std::process::id()).to_le_bytes());
    seed.extend_from_slice(&COUNTER.fetch_add(1, Ordering::Relaxed).to_le_bytes());
    format!(
        "{}-{:016x}",
        now.format("%Y%m%dT%H%M%SZ"),
        xxhash_rust::xxh3::xxh3_64(&seed)
    )
}

/// The retention as upstream's runtimeinfo shows it: the time as a Prometheus duration,
/// the size in binary units (Go's `units.Base2Bytes`, e.g. `1GiB512MiB`), joined by
/// ` or ` when both are set; empty when neither is.
pub fn format_retention(time_ms: Option<i64>, size_bytes: Option<u64>) -> String {
    let mut parts = Vec::new();
    if let Some(t) = time_ms.filter(|t| *t > 0) {
        parts.push(go_model_duration(t));
    }
    if let Some(mut b) = size_bytes.filter(|b| *b > 0) {
        const UNITS: [(&str, u64); 7] = [
            ("EiB", 1 << 60),
            ("PiB", 1 << 50),
            ("TiB", 1 << 40),
            ("GiB", 1 << 30),
            ("MiB", 1 << 20),
            ("KiB", 1 << 10),
            ("B", 1),
        ];
        let mut out = String::new();
        for (name, size) in UNITS {
            if b >= size {
                out.push_str(&format!("{}{name}", b / size));
                b %= size;
            }
        }
        parts.push(out);
    }
    parts.join(" or ")
}

/// Go's `model.Duration.String()`: years and weeks only when they divide the duration
/// exactly (`15d`, not `2w1d`; `2w`), then days down to milliseconds.
fn go_model_duration(ms: i64) -> String {
    const DAY: i64 = 86_400_000;
    let mut rest = ms;
    let mut out = String::new();
    for (unit, size, exact) in [
        ("y", 365 * DAY, true),
        ("w", 7 * DAY, true),
        ("d", DAY, false),
        ("h", 3_600_000, false),
        ("m", 60_000, false),
        ("s", 1000, false),
        ("ms", 1, false),
    ] {
        if exact && rest % size != 0 {
            continue;
        }
        if rest / size > 0 {
            out.push_str(&format!("{}{unit}", rest / size));
            rest %= size;
        }
    }
    if out.is_empty() {
        out.push_str("0s");
    }
    out
}

/// When the web server was started (the first [`router`] call), in ms since the epoch:
/// `startTime` of `/api/v1/status/runtimeinfo`.
pub fn started_at_ms() -> i64 {
    *STARTED_AT_MS.get_or_init(crate::model::time::now_ms)
}

static STARTED_AT_MS: std::sync::OnceLock<i64> = std::sync::OnceLock::new();

/// The router with every endpoint of this subsystem. The handlers share the state behind
/// one `Arc`: each request clones it (once for the metrics layer, once for its handler), and
/// one reference count is cheaper than a clone of every field.
pub fn router(state: WebState) -> Router {
    started_at_ms();
    let state = Arc::new(state);
    status::routes()
        .merge(query::routes())
        .merge(metadata::routes())
        .merge(federate::routes())
        .merge(rules::routes())
        .fallback(status::not_found)
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn(status::api_error_shape))
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
/// requests. Request targets are read as leniently as Go reads them ([`lenient`]).
/// Accepted connections get TCP_NODELAY, as Go's net/http (and so Prometheus) sets on
/// every connection: a response written in several pieces, such as a large body that
/// fills the socket buffer, must not wait for the client's delayed ACK. With a web
/// configuration (`--web.config.file`, [`security`]) the listener speaks TLS when it sets
/// a certificate, and every request passes its basic authentication and headers.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    security: Option<security::Security>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    let addr = listener
        .local_addr()
        .map(|a: SocketAddr| a.to_string())
        .unwrap_or_default();
    let Some(sec) = security else {
        return serve_on(plain(listener), router, addr, shutdown).await;
    };
    let router = router.layer(axum::middleware::from_fn_with_state(
        sec.clone(),
        security::guard,
    ));
    if sec.current().tls_enabled() {
        let tls = security::TlsListener::new(listener, sec).map_err(|source| Error::Serve {
            addr: addr.clone(),
            source,
        })?;
        serve_on(tls, router, addr, shutdown).await
    } else {
        serve_on(plain(listener), router, addr, shutdown).await
    }
}

/// A TCP listener whose connections get TCP_NODELAY.
fn plain(listener: tokio::net::TcpListener) -> impl axum::serve::Listener<Addr = SocketAddr> {
    listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!("could not set TCP_NODELAY on an accepted connection: {e}");
        }
    })
}

async fn serve_on<L>(
    listener: L,
    router: Router,
    addr: String,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error>
where
    L: axum::serve::Listener<Addr = SocketAddr>,
{
    // Request targets with `"`, `|`, ... are accepted as Go accepts them (see `lenient`).
    let listener = lenient::LenientListener(listener);
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(|source| Error::Serve { addr, source })
}
