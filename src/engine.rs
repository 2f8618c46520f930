//! The engine: owns and wires the subsystems (config, TSDB, scraping, rules, the
//! notifier, the built-in Alertmanager and Pushgateway, remote write and read, the HTTP
//! API) for `promtui serve`, and for `promtui` with no subcommand, where the terminal UI
//! opens one in-process ([`crate::tui`]).
//!
//! Start-up order mirrors Prometheus' `cmd/prometheus/main.go`: load and validate the
//! configuration (a bad one stops start-up with its file:line:column), open the TSDB
//! (WAL replay, progress logged), bind the listeners (web, Pushgateway, Alertmanager; a
//! busy port names its flag), start the scrape manager, the notifier
//! (`alerting.alertmanagers`), the in-process alerting pipeline, the rule groups and the
//! remote-write queues, then mark ready. Shutdown (SIGINT/SIGTERM, `POST /-/quit` or the
//! caller's future) stops accepting requests and cancels running and queued queries (as
//! upstream's cancelled contexts do, rather than waiting for them), stops rule
//! evaluation, sends the alerts still queued, stops scraping, then flushes the WAL so
//! nothing acknowledged is lost. SIGHUP and `POST /-/reload` reload the configuration
//! (scrape jobs, rule files, Alertmanagers, remote write and read, the Alertmanager's own
//! configuration); an invalid one is rejected with a [`ReloadError`] and the old one keeps
//! running.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use parking_lot::RwLock;

use crate::config::Config;
use crate::exposition::MetricsWriter;
use crate::scrape::{Manager as ScrapeManager, ManagerOptions as ScrapeOptions};
use crate::storage::{Appendable, Appender};
use crate::tsdb::Db;
use crate::web::api::ApiError;
use crate::web::metrics::HttpMetrics;
use crate::web::{
    self, ActiveTarget, BoxFuture, ConfigSource, DroppedTarget, HeadStats, MetricsSource,
    NameValue, QueryBackend, TargetRetriever, TsdbAdmin, TsdbStatus, WebState,
};

/// Everything `promtui serve` needs to start.
#[derive(Clone, Debug)]
pub struct EngineOptions {
    /// The configuration file; `None` runs the embedded default.
    pub config_file: Option<PathBuf>,
    pub tsdb_path: PathBuf,
    pub tsdb: crate::tsdb::Options,
    pub listen_address: String,
    pub enable_lifecycle: bool,
    pub enable_admin_api: bool,
    /// Flags as `/api/v1/status/flags` shows them.
    pub flags: BTreeMap<String, String>,
    /// PromQL engine options (`--query.lookback-delta`, `--query.timeout`,
    /// `--query.max-samples`).
    pub query: crate::promql::engine::EngineOptions,
    /// Most PromQL queries evaluated at once (`--query.max-concurrency`); more wait.
    pub query_max_concurrency: usize,
    /// `--rules.alert.*` and `--alertmanager.notification-queue-capacity`.
    pub rules: RuleOptions,
    /// The built-in Alertmanager (`--alertmanager.*`).
    pub alertmanager: crate::alerting::ServeOptions,
    /// `--web.enable-remote-write-receiver`: accept remote-write requests on
    /// `/api/v1/write`.
    pub remote_write_receiver: bool,
    /// `--web.config.file`: TLS and basic auth for every listener, loaded at start.
    pub web_config: Option<web::security::Security>,
    /// The built-in Pushgateway; `None` with `--pushgateway.disable`.
    pub pushgateway: Option<PushgatewaySetup>,
    /// Fit every target's first scrape into this window (the terminal UI: live data
    /// within a moment of starting); `None` spreads first scrapes over the interval as
    /// upstream does.
    pub first_scrape_within: Option<std::time::Duration>,
}

/// How to start the built-in Pushgateway.
#[derive(Clone, Debug)]
pub struct PushgatewaySetup {
    pub options: crate::pushgateway::Options,
    /// `--pushgateway.listen-address` was given: a busy address stops start-up. Without
    /// it a busy default port (a real Pushgateway on 9091) only logs a warning.
    pub address_given: bool,
}

/// Why the engine could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Config(#[from] crate::config::Error),
    #[error("opening the TSDB at {path}: {source}")]
    Tsdb {
        path: PathBuf,
        source: crate::tsdb::Error,
    },
    #[error(transparent)]
    Web(#[from] web::Error),
    #[error("starting the scrape manager: {0}")]
    Scrape(#[source] crate::scrape::Error),
    #[error("starting the Pushgateway: {0}")]
    Pushgateway(#[source] crate::pushgateway::Error),
    #[error("built-in Alertmanager: {0}")]
    Alerting(#[from] crate::alerting::Error),
}

/// Why a reload (SIGHUP, `POST /-/reload`) failed. The configuration in force before it
/// keeps running; with [`ReloadError::Scrape`] the jobs that could be applied took the new
/// one.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// The file could not be read, parsed or validated.
    #[error(transparent)]
    Config(#[from] crate::config::Error),
    /// Some scrape jobs could not be applied.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Scrape(Vec<crate::scrape::Error>),
    /// The blocking task running the reload panicked or was cancelled.
    #[error(transparent)]
    Task(#[from] tokio::task::JoinError),
    /// The Alertmanager configuration could not be loaded or applied; nothing was
    /// reloaded.
    #[error(transparent)]
    Alertmanager(#[from] crate::alerting::Error),
}

/// The TSDB as the scrape engine's append target.
struct DbAppendable(Db);

impl Appendable for DbAppendable {
    fn appender(&self) -> Box<dyn Appender + Send> {
        Box::new(self.0.appender())
    }
}

/// Rule evaluation and notification settings from the command line (upstream's flags
/// and defaults).
#[derive(Clone, Debug)]
pub struct RuleOptions {
    pub for_outage_tolerance_ms: i64,
    pub for_grace_period_ms: i64,
    pub resend_delay_ms: i64,
    pub notification_queue_capacity: usize,
}

impl Default for RuleOptions {
    fn default() -> Self {
        RuleOptions {
            for_outage_tolerance_ms: 3_600_000,
            for_grace_period_ms: 600_000,
            resend_delay_ms: 60_000,
            notification_queue_capacity: crate::notifier::DEFAULT_QUEUE_CAPACITY,
        }
    }
}

/// The applied configuration and its rendering (what `/api/v1/status/config` shows:
/// rendered from the values, so it is what was applied, with secrets as `<secret>`).
struct LoadedConfig {
    config: Config,
    text: String,
}

fn load_config(
    file: Option<&PathBuf>,
    listen_address: &str,
    pushgateway_address: Option<&str>,
) -> Result<LoadedConfig, crate::config::Error> {
    match file {
        None => {
            let mut config = Config::load_str(
                &default_config_text(listen_address, pushgateway_address),
                "<default promtui.yml>",
            )?;
            if pushgateway_address.is_none() {
                config
                    .scrape_configs
                    .retain(|sc| sc.job_name != DEFAULT_PUSHGATEWAY_JOB);
            }
            let text = config.render();
            Ok(LoadedConfig { config, text })
        }
        Some(path) => {
            let config = Config::load_file(path)?;
            let text = config.render();
            Ok(LoadedConfig { config, text })
        }
    }
}

/// The embedded default's scrape job of the built-in Pushgateway.
const DEFAULT_PUSHGATEWAY_JOB: &str = "pushgateway";

/// The embedded default configuration with its self-scrape target at the address the web
/// API really listens on (`--web.listen-address`), so `up{job="promtui"}` is 1 on any port,
/// and its Pushgateway target at `--pushgateway.listen-address` (the job is dropped
/// with `--pushgateway.disable`). A wildcard host is scraped over loopback.
fn default_config_text(listen_address: &str, pushgateway_address: Option<&str>) -> String {
    const SELF: &str = "\"127.0.0.1:9090\"";
    const PUSHGATEWAY: &str = "\"127.0.0.1:9091\"";
    let target = |addr: &str| match addr.rsplit_once(':') {
        Some(("" | "0.0.0.0", port)) => format!("127.0.0.1:{port}"),
        Some(("[::]", port)) => format!("[::1]:{port}"),
        _ => addr.to_string(),
    };
    let text =
        crate::config::DEFAULT_CONFIG.replacen(SELF, &format!("{:?}", target(listen_address)), 1);
    match pushgateway_address {
        Some(a) => text.replacen(PUSHGATEWAY, &format!("{:?}", target(a)), 1),
        None => text,
    }
}

impl EngineOptions {
    /// The Pushgateway address the embedded default configuration scrapes.
    fn pushgateway_address(&self) -> Option<&str> {
        self.pushgateway
            .as_ref()
            .map(|p| p.options.listen_address.as_str())
    }
}

/// State shared by the engine's tasks and the web handlers.
struct Shared {
    opts: EngineOptions,
    db: Db,
    config: RwLock<Arc<LoadedConfig>>,
    reloads_ok: std::sync::atomic::AtomicU64,
    reloads_failed: std::sync::atomic::AtomicU64,
    last_reload_ok: AtomicBool,
    /// When the configuration in force was loaded (ms since the epoch).
    last_reload_success_ms: std::sync::atomic::AtomicI64,
    /// Set once `run` has started scraping.
    scrape: std::sync::OnceLock<ScrapeManager>,
    /// Set once `run` has started evaluating rules.
    rules: std::sync::OnceLock<Arc<crate::rules::manager::RuleManager>>,
    /// Sends the rules' alerts to `alerting.alertmanagers`.
    notifier: Arc<crate::notifier::Notifier>,
    /// `--query.max-concurrency`, shared by the query endpoints.
    query_gate: Arc<crate::web::query::QueryGate>,
    /// The built-in Pushgateway (its groups loaded), unless disabled.
    pushgateway: Option<crate::pushgateway::Pushgateway>,
    /// The `remote_write` queues.
    remote_write: Arc<crate::remote::WriteManager>,
    /// The `remote_read` endpoints queries fan out to.
    remote_read: RwLock<Vec<Arc<crate::remote::read::ReadClient>>>,
    /// `/api/v1/write` and `/api/v1/read` counters.
    remote_api_metrics: Arc<crate::web::remote::ReceiverMetrics>,
    /// The built-in Alertmanager.
    alerting: Arc<crate::alerting::Pipeline>,
}

/// A running engine.
pub struct Engine {
    shared: Arc<Shared>,
    ready: Arc<AtomicBool>,
}

impl Engine {
    /// Loads the configuration and opens the TSDB (replaying its WAL).
    pub fn open(opts: EngineOptions) -> Result<Engine, Error> {
        Engine::open_with_progress(opts, |_| {})
    }

    /// Like [`Engine::open`], also handing WAL replay progress (after each segment) to
    /// `progress`, so the terminal UI can show it while the replay runs.
    pub fn open_with_progress(
        opts: EngineOptions,
        mut progress: impl FnMut(&crate::tsdb::wal::ReplayProgress),
    ) -> Result<Engine, Error> {
        let loaded = load_config(
            opts.config_file.as_ref(),
            &opts.listen_address,
            opts.pushgateway_address(),
        )?;
        match &opts.config_file {
            Some(p) => tracing::info!(file = %p.display(), "loaded configuration"),
            None => tracing::info!("no --config.file given: running the embedded default"),
        }
        let started = std::time::Instant::now();
        let db = Db::open_with_progress(&opts.tsdb_path, opts.tsdb.clone(), |p| {
            tracing::info!(progress = ?p, "replaying WAL");
            progress(&p);
        })
        .map_err(|source| Error::Tsdb {
            path: opts.tsdb_path.clone(),
            source,
        })?;
        let stats = db.stats();
        tracing::info!(
            dir = %opts.tsdb_path.display(),
            head_series = stats.head_series,
            blocks = stats.blocks,
            took = ?started.elapsed(),
            "TSDB opened"
        );
        let pushgateway = match &opts.pushgateway {
            Some(p) => Some(
                crate::pushgateway::Pushgateway::open(p.options.clone())
                    .map_err(Error::Pushgateway)?,
            ),
            None => None,
        };
        let am = &opts.alertmanager;
        let am_config = crate::alerting::load_config(am.config_file.as_deref())
            .map_err(crate::alerting::Error::from)?;
        let alerting = crate::alerting::Pipeline::open(
            am_config,
            crate::alerting::Options {
                data_dir: am.data_dir.clone(),
                retention: am.retention,
                external_url: external_url(&opts.listen_address),
            },
        )
        .map_err(crate::alerting::Error::from)?;
        let queue_capacity = opts.rules.notification_queue_capacity;
        let query_gate = Arc::new(crate::web::query::QueryGate::new(
            opts.query_max_concurrency,
        ));
        let remote_write = crate::remote::WriteManager::new(&opts.tsdb_path);
        let remote_read = RwLock::new(read_clients(&loaded.config));
        Ok(Engine {
            shared: Arc::new(Shared {
                remote_write,
                remote_read,
                remote_api_metrics: Default::default(),
                opts,
                db,
                config: RwLock::new(Arc::new(loaded)),
                reloads_ok: Default::default(),
                reloads_failed: Default::default(),
                last_reload_ok: AtomicBool::new(true),
                last_reload_success_ms: crate::model::time::now_ms().into(),
                scrape: std::sync::OnceLock::new(),
                rules: std::sync::OnceLock::new(),
                notifier: crate::notifier::Notifier::new(queue_capacity),
                query_gate,
                pushgateway,
                alerting,
            }),
            ready: Arc::new(AtomicBool::new(false)),
        })
    }

    /// The database, for callers that embed the engine.
    pub fn db(&self) -> &Db {
        &self.shared.db
    }

    /// Serves until `shutdown` completes or SIGINT/SIGTERM arrives, then flushes the WAL.
    pub async fn run(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<(), Error> {
        let listener = web::bind(&self.shared.opts.listen_address, "web.listen-address").await?;
        let pushgateway_listener = self.bind_pushgateway().await?;
        let scrape = ScrapeManager::new(
            Arc::new(DbAppendable(self.shared.db.clone())),
            ScrapeOptions {
                first_scrape_within: self.shared.opts.first_scrape_within,
                ..ScrapeOptions::default()
            },
        )
        .map_err(Error::Scrape)?;
        let _ = self.shared.scrape.set(scrape.clone());
        let cfg = self.shared.config.read().clone();
        if let Err(errs) = scrape.apply_scrape_configs(&cfg.config.scrape_configs) {
            for e in errs {
                tracing::error!("scrape configuration: {e}");
            }
        }
        let (stop_notifier_tx, stop_notifier_rx) = tokio::sync::watch::channel(false);
        let notifier = self.shared.notifier.clone();
        notifier.apply(&cfg.config.alerting, &cfg.config.global.external_labels.0);
        let notifier_task = tokio::spawn(notifier.clone().run(stop_notifier_rx));
        let am_listener = crate::alerting::bind_listener(&self.shared.opts.alertmanager)
            .await
            .map_err(Error::Alerting)?;
        let (stop_alerting_tx, stop_alerting_rx) = tokio::sync::watch::channel(false);
        self.shared.alerting.start(stop_alerting_rx.clone());
        // The rules' alerts go to the external Alertmanagers and the built-in one.
        let sink: Arc<dyn crate::notifier::AlertSink> = Arc::new(crate::alerting::TeeSink(vec![
            notifier as Arc<dyn crate::notifier::AlertSink>,
            Arc::new(crate::alerting::PipelineSink(self.shared.alerting.clone())),
        ]));
        let rules = crate::rules::manager::RuleManager::new(
            self.shared.db.clone(),
            crate::rules::manager::ManagerOptions {
                query: self.shared.opts.query.clone(),
                external_labels: cfg.config.global.external_labels.0.clone(),
                external_url: external_url(&self.shared.opts.listen_address),
                sink: Some(sink),
                resend_delay_ms: self.shared.opts.rules.resend_delay_ms,
                restore: crate::rules::manager::RestoreOptions {
                    outage_tolerance_ms: self.shared.opts.rules.for_outage_tolerance_ms,
                    grace_period_ms: self.shared.opts.rules.for_grace_period_ms,
                },
            },
        );
        apply_rules(&rules, &cfg.config);
        let _ = self.shared.rules.set(rules);
        if let Err(errs) = self
            .shared
            .remote_write
            .apply(
                &cfg.config.remote_write,
                &cfg.config.global.external_labels.to_labels(),
            )
            .await
        {
            for e in errs {
                tracing::error!("remote write: {e}");
            }
        }
        let adapter = Arc::new(Adapter(self.shared.clone()));
        let state = WebState {
            targets: adapter.clone(),
            tsdb: adapter.clone(),
            config: adapter.clone(),
            metrics_sources: vec![adapter.clone()],
            query: Some(adapter.clone()),
            flags: Arc::new(self.shared.opts.flags.clone()),
            ready: self.ready.clone(),
            enable_lifecycle: self.shared.opts.enable_lifecycle,
            enable_admin_api: self.shared.opts.enable_admin_api,
            http_metrics: Arc::new(HttpMetrics::default()),
            quit: Arc::new(tokio::sync::Notify::new()),
            rules: Some(adapter.clone()),
        };
        let quit = state.quit.clone();
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        // SIGHUP reloads; SIGINT/SIGTERM or the caller's future stop.
        let reload_shared = self.shared.clone();
        let mut hup_stop = stop_rx.clone();
        tokio::spawn(async move {
            let Ok(mut hup) =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
            else {
                return;
            };
            loop {
                tokio::select! {
                    _ = hup.recv() => {
                        let shared = reload_shared.clone();
                        let r = tokio::task::spawn_blocking(move || reload(&shared))
                            .await
                            .map_err(ReloadError::from)
                            .and_then(|r| r);
                        if let Err(e) = r {
                            tracing::error!("reload on SIGHUP failed: {e}");
                        }
                    }
                    _ = hup_stop.changed() => return,
                }
            }
        });
        let gate = self.shared.query_gate.clone();
        let stop = async move {
            let term = async {
                match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                    Ok(mut s) => {
                        s.recv().await;
                    }
                    Err(_) => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                _ = shutdown => {},
                _ = tokio::signal::ctrl_c() => tracing::info!("received SIGINT, shutting down"),
                _ = term => tracing::info!("received SIGTERM, shutting down"),
                _ = quit.notified() => tracing::info!("/-/quit requested, shutting down"),
            }
            // Running queries are cancelled rather than waited for.
            gate.close();
            let _ = stop_tx.send(true);
        };
        let addr = listener
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_default();
        tracing::info!(address = %addr, "listening");
        let pushgateway_task = match (pushgateway_listener, &self.shared.pushgateway) {
            (Some(l), Some(pg)) => {
                let mut stopped = stop_rx.clone();
                let until = async move {
                    let _ = stopped.wait_for(|s| *s).await;
                };
                Some(tokio::spawn(pg.clone().serve(
                    l,
                    self.shared.opts.web_config.clone(),
                    until,
                )))
            }
            _ => None,
        };
        self.ready.store(true, Ordering::Release);
        let web_security = self.shared.opts.web_config.clone();
        let am_task = am_listener.map(|l| {
            let router = crate::alerting::api::standalone_router_reloading(
                self.shared.alerting.clone(),
                self.shared.opts.alertmanager.config_file.clone(),
            );
            let mut rx = stop_alerting_rx.clone();
            tokio::spawn(async move {
                let stopped = async move {
                    let _ = rx.wait_for(|s| *s).await;
                };
                if let Err(e) = web::serve(l, router, web_security.clone(), stopped).await {
                    tracing::error!("Alertmanager listener: {e}");
                }
            })
        });
        let remote_api = web::remote::RemoteApi {
            receiver: self
                .shared
                .opts
                .remote_write_receiver
                .then(|| Arc::new(DbAppendable(self.shared.db.clone())) as Arc<dyn Appendable>),
            queryable: Arc::new(self.shared.db.clone()),
            external_labels: {
                let shared = self.shared.clone();
                Arc::new(move || {
                    shared
                        .config
                        .read()
                        .config
                        .global
                        .external_labels
                        .to_labels()
                })
            },
            metrics: self.shared.remote_api_metrics.clone(),
            cache: Default::default(),
        };
        let router = web::router(state)
            .merge(web::remote::routes(remote_api))
            .merge(crate::alerting::api::router(self.shared.alerting.clone()));
        let served = web::serve(listener, router, self.shared.opts.web_config.clone(), stop).await;
        let _ = stop_alerting_tx.send(true);
        if let Some(t) = am_task {
            let _ = t.await;
        }
        if let Some(t) = pushgateway_task {
            match t.await {
                Ok(Err(e)) => tracing::error!("Pushgateway: {e}"),
                Err(e) => tracing::error!("Pushgateway task: {e}"),
                Ok(Ok(())) => {}
            }
        }
        self.ready.store(false, Ordering::Release);
        // Stop rule evaluation and scraping first (final commits and staleness markers),
        // then flush the WAL.
        if let Some(r) = self.shared.rules.get() {
            r.stop();
        }
        // Alerts still queued are sent once more before the notifier ends.
        let _ = stop_notifier_tx.send(true);
        let _ = notifier_task.await;
        scrape.stop().await;
        // What the queues could not send in time stays in the WAL for the next start.
        self.shared.remote_write.stop().await;
        let db = self.shared.db.clone();
        let flushed = tokio::task::spawn_blocking(move || db.close()).await;
        match flushed {
            Ok(Ok(())) => tracing::info!("WAL flushed; bye"),
            Ok(Err(e)) => tracing::error!("flushing the WAL on shutdown: {e}"),
            Err(e) => tracing::error!("flushing the WAL on shutdown: {e}"),
        }
        served?;
        Ok(())
    }
}

impl Engine {
    /// Binds the Pushgateway's listener: `None` when it is disabled, or when the default
    /// address is busy (logged; a real Pushgateway may own 9091).
    async fn bind_pushgateway(&self) -> Result<Option<tokio::net::TcpListener>, Error> {
        let Some(setup) = &self.shared.opts.pushgateway else {
            return Ok(None);
        };
        let addr = &setup.options.listen_address;
        match web::bind(addr, "pushgateway.listen-address").await {
            Ok(l) => Ok(Some(l)),
            Err(web::Error::AddrInUse { .. }) if !setup.address_given => {
                tracing::warn!(
                    address = %addr,
                    "the Pushgateway's default address is in use (another Pushgateway?): running without the built-in one; pass --pushgateway.listen-address to move it or --pushgateway.disable to silence this"
                );
                Ok(None)
            }
            Err(e) => Err(e.into()),
        }
    }
}

/// The terminal UI's in-process view of a running engine: the live objects themselves
/// (TSDB, scrape manager, applied configuration), read without HTTP. Cheap to clone.
#[derive(Clone)]
pub struct EngineHandle {
    shared: Arc<Shared>,
    ready: Arc<AtomicBool>,
}

impl Engine {
    /// A handle for in-process readers (the terminal UI). Scrape targets appear once
    /// [`Engine::run`] has started the scrape manager.
    pub fn handle(&self) -> EngineHandle {
        EngineHandle {
            shared: self.shared.clone(),
            ready: self.ready.clone(),
        }
    }
}

impl EngineHandle {
    pub fn db(&self) -> &Db {
        &self.shared.db
    }
    /// Whether the engine serves (its listener is bound and scraping has started).
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }
    /// Active and dropped targets; empty before scraping starts.
    pub fn targets(&self) -> crate::scrape::TargetsSnapshot {
        self.shared
            .scrape
            .get()
            .map(|s| s.targets())
            .unwrap_or_default()
    }
    /// The scrape counters; `None` before scraping starts.
    pub fn scrape_metrics(&self) -> Option<crate::scrape::MetricsSnapshot> {
        self.shared.scrape.get().map(|s| s.metrics())
    }
    /// The configuration in force.
    pub fn config(&self) -> Config {
        self.shared.config.read().config.clone()
    }
    /// The configuration in force as `/api/v1/status/config` shows it (secrets hidden).
    pub fn config_text(&self) -> String {
        self.shared.config.read().text.clone()
    }
    pub fn options(&self) -> &EngineOptions {
        &self.shared.opts
    }
    /// Reloads the configuration file off the async threads (the old configuration
    /// stays on error).
    pub fn reload(&self) -> BoxFuture<Result<(), ReloadError>> {
        let shared = self.shared.clone();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || reload(&shared))
                .await
                .map_err(ReloadError::from)
                .and_then(|r| r)
        })
    }
    /// Whether the last reload succeeded, when the configuration in force was loaded
    /// (ms), and the counts of successful and failed reloads.
    pub fn reload_status(&self) -> (bool, i64, u64, u64) {
        let s = &self.shared;
        (
            s.last_reload_ok.load(Ordering::Relaxed),
            s.last_reload_success_ms.load(Ordering::Relaxed),
            s.reloads_ok.load(Ordering::Relaxed),
            s.reloads_failed.load(Ordering::Relaxed),
        )
    }
    /// `/api/v1/status/tsdb` computed in-process (top lists of `limit` entries).
    pub fn tsdb_status(&self, limit: usize) -> Result<TsdbStatus, ApiError> {
        Adapter(self.shared.clone()).tsdb_status(limit)
    }
    /// The engine's own metrics in the exposition format (what `/metrics` serves).
    pub fn write_metrics(&self, w: &mut MetricsWriter) {
        Adapter(self.shared.clone()).write_metrics(w)
    }
    /// The built-in Alertmanager pipeline (the TUI's alert views read it in-process).
    pub fn alerting(&self) -> Arc<crate::alerting::Pipeline> {
        self.shared.alerting.clone()
    }
    /// The rule manager (groups, alerts); `None` before rules start.
    pub fn rule_manager(&self) -> Option<Arc<crate::rules::manager::RuleManager>> {
        self.shared.rules.get().cloned()
    }
    /// The built-in Pushgateway; `None` with `--pushgateway.disable`.
    pub fn pushgateway(&self) -> Option<&crate::pushgateway::Pushgateway> {
        self.shared.pushgateway.as_ref()
    }
}

/// The `remote_read` clients of `config`; one that cannot be built is logged and left out.
fn read_clients(config: &Config) -> Vec<Arc<crate::remote::read::ReadClient>> {
    let ext = &config.global.external_labels.to_labels();
    config
        .remote_read
        .iter()
        .filter_map(|c| match crate::remote::read::ReadClient::new(c, ext) {
            Ok(c) => Some(Arc::new(c)),
            Err(e) => {
                tracing::error!("remote read: {e}");
                None
            }
        })
        .collect()
}

/// The oldest timestamp the local TSDB holds (`i64::MAX` when empty): where remote reads
/// without `read_recent` stop.
fn local_start(db: &Db) -> i64 {
    let blocks = db.blocks().first().map(|b| b.min_time());
    let head = db.stats().head_min_time;
    match (blocks, head) {
        (Some(b), Some(h)) => b.min(h),
        (Some(b), None) => b,
        (None, Some(h)) => h,
        (None, None) => i64::MAX,
    }
}

/// Reloads the configuration file; the old configuration stays on any error.
fn reload(shared: &Shared) -> Result<(), ReloadError> {
    // The Alertmanager configuration is checked first: a broken one stops the whole
    // reload and everything keeps running as it was.
    if let Err(e) = shared
        .alerting
        .reload_from(shared.opts.alertmanager.config_file.as_deref())
    {
        shared.reloads_failed.fetch_add(1, Ordering::Relaxed);
        shared.last_reload_ok.store(false, Ordering::Relaxed);
        return Err(ReloadError::Alertmanager(e));
    }
    match load_config(
        shared.opts.config_file.as_ref(),
        &shared.opts.listen_address,
        shared.opts.pushgateway_address(),
    ) {
        Ok(loaded) => {
            if let Some(scrape) = shared.scrape.get() {
                if let Err(errs) = scrape.apply_scrape_configs(&loaded.config.scrape_configs) {
                    // Jobs that could not be applied keep running as before; the others
                    // took the new configuration.
                    shared.reloads_failed.fetch_add(1, Ordering::Relaxed);
                    shared.last_reload_ok.store(false, Ordering::Relaxed);
                    *shared.config.write() = Arc::new(loaded);
                    return Err(ReloadError::Scrape(errs));
                }
            }
            if let Some(r) = shared.rules.get() {
                apply_rules(r, &loaded.config);
            }
            shared.notifier.apply(
                &loaded.config.alerting,
                &loaded.config.global.external_labels.0,
            );
            // Runs on a blocking thread of the runtime (spawn_blocking), where block_on is
            // allowed; queues whose configuration is unchanged keep running.
            if let Ok(rt) = tokio::runtime::Handle::try_current() {
                if let Err(errs) = rt.block_on(shared.remote_write.apply(
                    &loaded.config.remote_write,
                    &loaded.config.global.external_labels.to_labels(),
                )) {
                    for e in errs {
                        tracing::error!("remote write: {e}");
                    }
                }
            }
            *shared.remote_read.write() = read_clients(&loaded.config);
            *shared.config.write() = Arc::new(loaded);
            shared.reloads_ok.fetch_add(1, Ordering::Relaxed);
            shared.last_reload_ok.store(true, Ordering::Relaxed);
            shared
                .last_reload_success_ms
                .store(crate::model::time::now_ms(), Ordering::Relaxed);
            tracing::info!("configuration reloaded");
            Ok(())
        }
        Err(e) => {
            shared.reloads_failed.fetch_add(1, Ordering::Relaxed);
            shared.last_reload_ok.store(false, Ordering::Relaxed);
            Err(ReloadError::Config(e))
        }
    }
}

/// Starts the rule groups of `config`'s rule files (loaded and validated already when the
/// configuration was; a file that vanished since is logged and its groups are dropped).
fn apply_rules(rules: &Arc<crate::rules::manager::RuleManager>, config: &Config) {
    match config.load_rule_files() {
        Ok(files) => {
            let n: usize = files.iter().map(|(_, f)| f.groups.len()).sum();
            rules.apply(
                &files,
                config.global.evaluation_interval.0,
                config.global.rule_query_offset.0,
            );
            if n > 0 {
                tracing::info!(groups = n, "rule groups started");
            }
        }
        Err(e) => tracing::error!(error = %e, "loading rule files"),
    }
}

/// The URL templates see as `$externalURL` (Prometheus' default: the listen address).
fn external_url(listen: &str) -> String {
    match listen.rsplit_once(':') {
        Some(("" | "0.0.0.0", port)) => format!("http://localhost:{port}"),
        _ => format!("http://{listen}"),
    }
}

/// Implements the web layer's traits over the engine's shared state.
struct Adapter(Arc<Shared>);

impl crate::web::RulesRetriever for Adapter {
    fn rule_manager(&self) -> Option<Arc<crate::rules::manager::RuleManager>> {
        self.0.rules.get().cloned()
    }

    fn alertmanagers(&self) -> (Vec<String>, Vec<String>) {
        (
            self.0.notifier.alertmanagers(),
            self.0.notifier.dropped_alertmanagers(),
        )
    }
}

fn label_map(l: &crate::model::Labels) -> BTreeMap<String, String> {
    l.iter()
        .map(|l| (l.name.clone(), l.value.clone()))
        .collect()
}

impl TargetRetriever for Adapter {
    fn active_targets(&self) -> Vec<ActiveTarget> {
        let Some(scrape) = self.0.scrape.get() else {
            return Vec::new();
        };
        scrape
            .targets()
            .active
            .into_iter()
            .map(|t| ActiveTarget {
                discovered_labels: label_map(&t.discovered_labels),
                labels: label_map(&t.labels),
                scrape_pool: t.scrape_pool,
                global_url: t.scrape_url.clone(),
                scrape_url: t.scrape_url,
                last_error: t.status.last_error.unwrap_or_default(),
                last_scrape: t
                    .status
                    .last_scrape_ms
                    .map(crate::model::time::format_rfc3339)
                    .unwrap_or_else(|| "0001-01-01T00:00:00Z".to_string()),
                last_scrape_duration: t.status.last_scrape_duration.as_secs_f64(),
                health: t.status.health.as_str().to_string(),
                scrape_interval: crate::model::time::format_duration(t.interval.as_millis() as i64),
                scrape_timeout: crate::model::time::format_duration(t.timeout.as_millis() as i64),
            })
            .collect()
    }
    fn target_metadata(&self) -> Vec<web::TargetMetadata> {
        let Some(scrape) = self.0.scrape.get() else {
            return Vec::new();
        };
        scrape
            .targets()
            .active
            .into_iter()
            .map(|t| web::TargetMetadata {
                labels: label_map(&t.labels),
                metrics: Arc::new(
                    t.status
                        .metadata
                        .iter()
                        .map(|(name, m)| {
                            let meta = web::MetricMetadata {
                                metric_type: m.metric_type.openmetrics_name().to_string(),
                                help: m.help.clone(),
                                unit: m.unit.clone(),
                            };
                            (name.clone(), meta)
                        })
                        .collect(),
                ),
            })
            .collect()
    }
    fn dropped_targets(&self) -> Vec<DroppedTarget> {
        let Some(scrape) = self.0.scrape.get() else {
            return Vec::new();
        };
        scrape
            .targets()
            .dropped
            .into_iter()
            .map(|t| DroppedTarget {
                discovered_labels: label_map(&t.discovered_labels),
            })
            .collect()
    }
}

impl QueryBackend for Adapter {
    fn queryable(&self) -> Arc<dyn crate::storage::Queryable> {
        let remotes = self.0.remote_read.read().clone();
        if remotes.is_empty() {
            return Arc::new(self.0.db.clone());
        }
        let db = self.0.db.clone();
        Arc::new(crate::remote::read::FanoutQueryable {
            local: Arc::new(self.0.db.clone()),
            remotes,
            local_start: Arc::new(move || local_start(&db)),
        })
    }
    fn engine_options(&self) -> crate::promql::engine::EngineOptions {
        self.0.opts.query.clone()
    }
    fn query_gate(&self) -> Option<Arc<crate::web::query::QueryGate>> {
        Some(self.0.query_gate.clone())
    }
    fn external_labels(&self) -> crate::model::Labels {
        self.0
            .config
            .read()
            .config
            .global
            .external_labels
            .to_labels()
    }
}

impl ConfigSource for Adapter {
    fn config_yaml(&self) -> String {
        self.0.config.read().text.clone()
    }
    fn reload(&self) -> BoxFuture<Result<(), web::ReloadError>> {
        let shared = self.0.clone();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || reload(&shared))
                .await
                .map_err(ReloadError::from)
                .and_then(|r| r)
                .map_err(web::ReloadError::from)
        })
    }
    fn last_reload(&self) -> (bool, Option<i64>) {
        (
            self.0.last_reload_ok.load(Ordering::Relaxed),
            Some(self.0.last_reload_success_ms.load(Ordering::Relaxed)),
        )
    }
}

impl TsdbAdmin for Adapter {
    fn tsdb_status(&self, limit: usize) -> Result<TsdbStatus, ApiError> {
        let db = &self.0.db;
        let stats = db.stats();
        let (mint, maxt) = (
            stats.head_min_time.unwrap_or(i64::MIN),
            stats.head_max_time.unwrap_or(i64::MAX),
        );
        let q = crate::tsdb::head::querier::HeadQuerier::new(db.head().clone(), mint, maxt);
        let c = crate::tsdb::stats::cardinality(&q, limit)
            .map_err(|e| ApiError::internal(e.to_string()))?;
        let nv = |v: Vec<(String, u64)>| -> Vec<NameValue> {
            v.into_iter()
                .map(|(name, value)| NameValue { name, value })
                .collect()
        };
        Ok(TsdbStatus {
            head_stats: HeadStats {
                num_series: stats.head_series,
                num_label_pairs: c.num_label_pairs,
                chunk_count: stats.head_chunks,
                min_time: stats.head_min_time.unwrap_or(0),
                max_time: stats.head_max_time.unwrap_or(0),
            },
            series_count_by_metric_name: nv(c.series_by_metric_name),
            label_value_count_by_label_name: nv(c.values_by_label_name),
            memory_in_bytes_by_label_name: nv(c.memory_by_label_name),
            series_count_by_label_value_pair: nv(c.series_by_label_pair),
        })
    }

    fn delete_series(&self, selectors: &[String], start: i64, end: i64) -> Result<(), ApiError> {
        // All selectors are checked before anything is deleted.
        let mut parsed = Vec::with_capacity(selectors.len());
        for sel in selectors {
            let ms = crate::promql::parse_metric_selector(sel).map_err(|e| {
                ApiError::bad_data(format!("invalid parameter \"match[]\": {sel:?}: {e}"))
            })?;
            parsed.push(ms);
        }
        for ms in &parsed {
            self.0.db.delete(ms, start, end).map_err(|e| match e {
                crate::tsdb::Error::InvalidMatchers { .. } => ApiError::bad_data(e.to_string()),
                e => ApiError::internal(format!("deleting series: {e}")),
            })?;
        }
        Ok(())
    }

    fn clean_tombstones(&self) -> Result<(), ApiError> {
        self.0
            .db
            .clean_tombstones()
            .map(|_| ())
            .map_err(|e| ApiError::internal(format!("cleaning tombstones: {e}")))
    }

    fn snapshot(&self, skip_head: bool) -> Result<String, ApiError> {
        let name = web::snapshot_name();
        let dir = self.0.db.dir().join("snapshots").join(&name);
        self.0
            .db
            .snapshot(&dir, !skip_head)
            .map_err(|e| ApiError::internal(format!("create snapshot: {e}")))?;
        tracing::info!(dir = %dir.display(), skip_head, "snapshot created");
        Ok(name)
    }

    fn wal_replay_status(&self) -> web::WalReplayStatus {
        let (min, max) = self.0.db.wal_replay_segments().unwrap_or((0, 0));
        web::WalReplayStatus {
            min,
            max,
            current: max,
        }
    }

    fn corruption_count(&self) -> u64 {
        self.0.db.stats().wal_corruptions
    }

    fn storage_retention(&self) -> String {
        let o = self.0.db.options();
        web::format_retention(o.retention_time_ms, o.retention_size_bytes)
    }
}

impl MetricsSource for Adapter {
    fn write_metrics(&self, w: &mut MetricsWriter) {
        self.0.db.stats().write_metrics(w);
        if let Some(rules) = self.0.rules.get() {
            rules.write_metrics(w);
        }
        self.0.notifier.write_metrics(w);
        self.0.remote_write.write_metrics(w);
        self.0.remote_api_metrics.write(w);
        crate::alerting::metrics::write(&self.0.alerting, w, chrono::Utc::now());
        if let Some(scrape) = self.0.scrape.get() {
            scrape.metrics().write_metrics(w);
        }
        self.0.query_gate.write_metrics(w);
        w.single(
            "promtui_config_last_reload_successful",
            "gauge",
            "Whether the last configuration reload attempt was successful.",
            if self.0.last_reload_ok.load(Ordering::Relaxed) {
                1.0
            } else {
                0.0
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_reload_names_every_job_and_keeps_the_typed_errors() {
        let e = ReloadError::Scrape(vec![
            crate::scrape::Error::DuplicateJob("a".into()),
            crate::scrape::Error::DuplicateJob("b".into()),
        ]);
        assert_eq!(
            e.to_string(),
            "found multiple scrape configs with job name \"a\"; \
             found multiple scrape configs with job name \"b\""
        );
        // Through the web seam the text is unchanged.
        let boxed: web::ReloadError = e.into();
        assert!(boxed.to_string().ends_with("job name \"b\""));
        assert!(matches!(
            boxed.downcast_ref::<ReloadError>(),
            Some(ReloadError::Scrape(errs)) if errs.len() == 2
        ));
    }

    #[test]
    fn the_shown_config_is_rendered_from_the_applied_one_with_secrets_hidden() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("p.yml");
        // authorization and basic_auth together are invalid; use one per job.
        std::fs::write(
            &path,
            "scrape_configs:\n  - job_name: a\n    basic_auth:\n      username: u\n      password: hunter2\n    \
             static_configs:\n      - targets: ['x:1']\n  - job_name: b\n    authorization:\n      credentials: tok123\n    \
             static_configs:\n      - targets: ['y:1']\n",
        )
        .unwrap();
        let loaded = load_config(Some(&path), "127.0.0.1:9090", None).unwrap();
        let r = &loaded.text;
        assert!(!r.contains("hunter2") && !r.contains("tok123"), "{r}");
        assert!(
            r.contains("password: <secret>") && r.contains("credentials: <secret>"),
            "{r}"
        );
        assert!(r.contains("username: u"), "{r}");
        // Defaults filled in: what was applied, not what was written.
        assert!(r.contains("scrape_interval: 1m"), "{r}");
        // Changing the file afterwards does not change what is shown.
        std::fs::write(&path, "garbage").unwrap();
        assert_eq!(&loaded.text, r);
        // The rendering loads back to the same configuration (secrets aside).
        let again = Config::load_str(&r.replace("<secret>", "s"), "rendered").unwrap();
        assert_eq!(again.scrape_configs.len(), 2);
        assert_eq!(
            again.scrape_configs[0].scrape_interval,
            loaded.config.scrape_configs[0].scrape_interval
        );
    }

    fn self_targets(listen: &str) -> Vec<String> {
        let loaded = load_config(None, listen, Some("127.0.0.1:9091")).expect("default config");
        let job = loaded
            .config
            .scrape_configs
            .iter()
            .find(|sc| sc.job_name == "promtui")
            .expect("promtui job");
        assert!(loaded.text.contains("job_name: promtui"));
        job.static_configs
            .iter()
            .flat_map(|sc| sc.targets.iter().cloned())
            .collect()
    }

    #[test]
    fn the_default_config_scrapes_the_address_the_api_listens_on() {
        assert_eq!(self_targets("127.0.0.1:9090"), ["127.0.0.1:9090"]);
        assert_eq!(self_targets("127.0.0.1:19090"), ["127.0.0.1:19090"]);
        assert_eq!(self_targets(":8080"), ["127.0.0.1:8080"]);
        assert_eq!(self_targets("0.0.0.0:8080"), ["127.0.0.1:8080"]);
        assert_eq!(self_targets("[::]:8080"), ["[::1]:8080"]);
        assert_eq!(self_targets("localhost:7000"), ["localhost:7000"]);
    }
}
