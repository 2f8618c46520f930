//! The backend over the in-process engine: reads the TSDB, the scrape manager and the
//! applied configuration directly through [`EngineHandle`] (no HTTP, no serialisation),
//! on blocking threads so the async workers and the render loop stay free.
//!
//! The engine opens (WAL replay) after the TUI is up: until then [`LocalBackend::health`]
//! reports the replay's progress and the other calls say the engine is starting.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use parking_lot::Mutex;

use super::{
    Backend, BackendError, BlockInfo, Breakdown, CompactionInfo, ConfigInfo, Health, ReloadState,
    ScrapeDebug, TargetHealth, TargetRow, TsdbInfo, WalInfo,
};
use crate::engine::EngineHandle;
use crate::model::{MatchOp, Matcher};
use crate::tui::console::source::{
    ConsoleSource, CostedAnswer, MetricInfo, QueryAnswer, QueryData, SeriesCounts, SeriesData,
    SourceError,
};
use crate::web::BoxFuture;

/// The in-process backend; cheap to clone.
#[derive(Clone)]
pub struct LocalBackend {
    inner: Arc<Inner>,
}

struct Inner {
    engine: OnceLock<EngineHandle>,
    /// What the engine is doing while it opens ("replaying WAL segment 3/10").
    starting: Mutex<Option<String>>,
    data_dir: PathBuf,
    /// Last measured on-disk size and when (ms): walking the directory every second at
    /// thousands of files would cost more than the figure is worth.
    storage: Mutex<(u64, i64)>,
}

impl LocalBackend {
    /// A backend whose engine is still opening in `data_dir`.
    pub fn new(data_dir: PathBuf) -> LocalBackend {
        LocalBackend {
            inner: Arc::new(Inner {
                engine: OnceLock::new(),
                starting: Mutex::new(Some("opening the TSDB".into())),
                data_dir,
                storage: Mutex::new((0, i64::MIN)),
            }),
        }
    }

    /// Reports start-up progress (shown in the header until [`LocalBackend::attach`]).
    pub fn set_starting(&self, what: String) {
        *self.inner.starting.lock() = Some(what);
    }

    /// The engine is open: from now on every call reads it.
    pub fn attach(&self, engine: EngineHandle) {
        let _ = self.inner.engine.set(engine);
        *self.inner.starting.lock() = None;
    }

    /// The engine, once open (the rules and Pushgateway views read it directly).
    pub fn engine_handle(&self) -> Result<EngineHandle, BackendError> {
        self.engine()
    }

    fn engine(&self) -> Result<EngineHandle, BackendError> {
        self.inner.engine.get().cloned().ok_or_else(|| {
            BackendError::Engine(
                self.inner
                    .starting
                    .lock()
                    .clone()
                    .unwrap_or_else(|| "the engine is starting".into()),
            )
        })
    }

    /// Runs `f` against the engine on a blocking thread.
    fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(EngineHandle) -> Result<T, BackendError> + Send + 'static,
    ) -> BoxFuture<Result<T, BackendError>> {
        let engine = self.engine();
        Box::pin(async move {
            let e = engine?;
            tokio::task::spawn_blocking(move || f(e))
                .await
                .map_err(|e| BackendError::Engine(format!("backend task failed: {e}")))?
        })
    }
}

fn pairs(l: &crate::model::Labels) -> Vec<(String, String)> {
    l.iter()
        .map(|l| (l.name.clone(), l.value.clone()))
        .collect()
}

fn dir_size(p: &std::path::Path) -> u64 {
    let Ok(rd) = std::fs::read_dir(p) else {
        return 0;
    };
    rd.filter_map(|e| e.ok())
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_size(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

/// Target rows from the scrape manager's snapshot.
pub fn target_rows(snap: &crate::scrape::TargetsSnapshot) -> Vec<TargetRow> {
    snap.active
        .iter()
        .map(|t| TargetRow {
            pool: t.scrape_pool.clone(),
            url: t.scrape_url.clone(),
            health: Some(TargetHealth::parse(t.status.health.as_str())),
            last_scrape_ms: t.status.last_scrape_ms,
            duration_s: t.status.last_scrape_duration.as_secs_f64(),
            samples: t.status.last_scrape_ms.map(|_| t.status.last_samples),
            last_error: t.status.last_error.clone().unwrap_or_default(),
            interval: crate::model::time::format_duration(t.interval.as_millis() as i64),
            labels: pairs(&t.labels),
            discovered: pairs(&t.discovered_labels),
        })
        .collect()
}

fn block_infos(dir: &std::path::Path) -> Vec<BlockInfo> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in rd.filter_map(|e| e.ok()) {
        let meta = e.path().join("meta.json");
        let Ok(text) = std::fs::read_to_string(&meta) else {
            continue;
        };
        let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) else {
            continue;
        };
        let n = |p: &str| v.pointer(p).and_then(|x| x.as_u64()).unwrap_or(0);
        out.push(BlockInfo {
            ulid: v["ulid"].as_str().unwrap_or_default().to_string(),
            min_time: v["minTime"].as_i64().unwrap_or(0),
            max_time: v["maxTime"].as_i64().unwrap_or(0),
            series: n("/stats/numSeries"),
            samples: n("/stats/numSamples"),
            chunks: n("/stats/numChunks"),
            level: n("/compaction/level"),
            bytes: dir_size(&e.path()),
        });
    }
    out.sort_by_key(|b| b.min_time);
    out
}

fn parse_selectors(matchers: &[String]) -> Result<Vec<Vec<Matcher>>, SourceError> {
    matchers
        .iter()
        .map(|m| {
            crate::promql::parse_metric_selector(m).map_err(|e| format!("selector {m:?}: {e}"))
        })
        .collect()
}

/// Label names or values over the head and blocks of the last `lookback` window, for
/// each selector (union), sorted and deduplicated.
fn label_lookup(
    db: &crate::tsdb::Db,
    name: Option<&str>,
    selectors: &[Vec<Matcher>],
) -> Result<Vec<String>, SourceError> {
    let q = db.querier(i64::MIN, i64::MAX);
    let run = |ms: &[Matcher]| match name {
        None => q.label_names(ms),
        Some(n) => q.label_values(n, ms),
    };
    let mut out: Vec<String> = if selectors.is_empty() {
        run(&[]).map_err(|e| e.to_string())?
    } else {
        let mut all = Vec::new();
        for ms in selectors {
            all.extend(run(ms).map_err(|e| e.to_string())?);
        }
        all
    };
    out.sort();
    out.dedup();
    Ok(out)
}

fn answer(r: crate::promql::engine::QueryResult) -> QueryAnswer {
    use crate::promql::engine::Value;
    let series = |metric: &crate::model::Labels, points: Vec<(i64, f64)>| SeriesData {
        labels: pairs(metric),
        points,
    };
    let data = match r.value {
        Value::Scalar { t, v } => QueryData::Scalar { t, v },
        Value::String { t, s } => QueryData::String { t, v: s },
        Value::Vector(v) => QueryData::Vector(
            v.iter()
                .map(|s| series(&s.metric, vec![(s.t, s.f)]))
                .collect(),
        ),
        Value::Matrix(m) => QueryData::Matrix(
            m.iter()
                .map(|s| series(&s.metric, s.floats.iter().map(|p| (p.t, p.f)).collect()))
                .collect(),
        ),
    };
    QueryAnswer {
        data,
        warnings: r.warnings,
    }
}

impl ConsoleSource for LocalBackend {
    fn instant_query(
        &self,
        expr: String,
        time_ms: i64,
    ) -> BoxFuture<Result<QueryAnswer, SourceError>> {
        let f = self.blocking(move |e| {
            let parsed = crate::promql::parse_expr(&expr)
                .map_err(|err| BackendError::Engine(format!("parse error: {err}")))?;
            crate::promql::engine::Engine::new(e.options().query.clone())
                .instant_query(e.db(), &parsed, time_ms)
                .map(answer)
                .map_err(|err| BackendError::Engine(err.to_string()))
        });
        Box::pin(async move { f.await.map_err(|e| e.to_string()) })
    }

    fn range_query_cost(
        &self,
        expr: String,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
    ) -> BoxFuture<Result<CostedAnswer, SourceError>> {
        let f = self.blocking(move |e| {
            let parsed = crate::promql::parse_expr(&expr)
                .map_err(|err| BackendError::Engine(format!("parse error: {err}")))?;
            let started = std::time::Instant::now();
            let r = crate::promql::engine::Engine::new(e.options().query.clone())
                .range_query(e.db(), &parsed, start_ms, end_ms, step_ms.max(1))
                .map_err(|err| BackendError::Engine(err.to_string()))?;
            let eval = started.elapsed();
            let samples = Some(r.stats.total_queryable_samples);
            Ok(CostedAnswer {
                answer: answer(r),
                samples,
                eval,
            })
        });
        Box::pin(async move { f.await.map_err(|e| e.to_string()) })
    }

    fn instant_query_cost(
        &self,
        expr: String,
        time_ms: i64,
    ) -> BoxFuture<Result<CostedAnswer, SourceError>> {
        let f = self.blocking(move |e| {
            let parsed = crate::promql::parse_expr(&expr)
                .map_err(|err| BackendError::Engine(format!("parse error: {err}")))?;
            let started = std::time::Instant::now();
            let r = crate::promql::engine::Engine::new(e.options().query.clone())
                .instant_query(e.db(), &parsed, time_ms)
                .map_err(|err| BackendError::Engine(err.to_string()))?;
            let eval = started.elapsed();
            let samples = Some(r.stats.total_queryable_samples);
            Ok(CostedAnswer {
                answer: answer(r),
                samples,
                eval,
            })
        });
        Box::pin(async move { f.await.map_err(|e| e.to_string()) })
    }

    fn range_query(
        &self,
        expr: String,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
    ) -> BoxFuture<Result<QueryAnswer, SourceError>> {
        let f = self.blocking(move |e| {
            let parsed = crate::promql::parse_expr(&expr)
                .map_err(|err| BackendError::Engine(format!("parse error: {err}")))?;
            crate::promql::engine::Engine::new(e.options().query.clone())
                .range_query(e.db(), &parsed, start_ms, end_ms, step_ms.max(1))
                .map(answer)
                .map_err(|err| BackendError::Engine(err.to_string()))
        });
        Box::pin(async move { f.await.map_err(|e| e.to_string()) })
    }

    fn label_names(&self, matchers: Vec<String>) -> BoxFuture<Result<Vec<String>, SourceError>> {
        let f = self.blocking(move |e| {
            let sel = parse_selectors(&matchers).map_err(BackendError::Engine)?;
            label_lookup(e.db(), None, &sel).map_err(BackendError::Engine)
        });
        Box::pin(async move { f.await.map_err(|e| e.to_string()) })
    }

    fn label_values(
        &self,
        name: String,
        matchers: Vec<String>,
    ) -> BoxFuture<Result<Vec<String>, SourceError>> {
        let f = self.blocking(move |e| {
            let sel = parse_selectors(&matchers).map_err(BackendError::Engine)?;
            label_lookup(e.db(), Some(&name), &sel).map_err(BackendError::Engine)
        });
        Box::pin(async move { f.await.map_err(|e| e.to_string()) })
    }

    fn metadata(&self) -> BoxFuture<Result<Vec<MetricInfo>, SourceError>> {
        let f = self.blocking(|e| {
            let mut by: BTreeMap<String, MetricInfo> = BTreeMap::new();
            for t in e.targets().active {
                for (name, m) in t.status.metadata.iter() {
                    by.entry(name.clone()).or_insert_with(|| MetricInfo {
                        name: name.clone(),
                        kind: m.metric_type.openmetrics_name().to_string(),
                        help: m.help.clone(),
                        unit: m.unit.clone(),
                    });
                }
            }
            Ok(by.into_values().collect())
        });
        Box::pin(async move { f.await.map_err(|e| e.to_string()) })
    }

    fn series_counts(&self) -> BoxFuture<Result<SeriesCounts, SourceError>> {
        let f = self.blocking(|e| {
            let s = e
                .tsdb_status(usize::MAX)
                .map_err(|err| BackendError::Engine(err.message))?;
            Ok(Some(
                s.series_count_by_metric_name
                    .into_iter()
                    .map(|nv| (nv.name, nv.value))
                    .collect(),
            ))
        });
        Box::pin(async move { f.await.map_err(|e| e.to_string()) })
    }
}

impl Backend for LocalBackend {
    fn endpoint(&self) -> String {
        format!("local {}", self.inner.data_dir.display())
    }

    fn alerts(&self) -> Option<Arc<dyn super::alerts::AlertSource>> {
        let inner = self.inner.clone();
        Some(Arc::new(super::alerts::LocalAlerts::new(Arc::new(
            move || inner.engine.get().cloned(),
        ))))
    }

    fn is_remote(&self) -> bool {
        false
    }

    fn health(&self) -> BoxFuture<Result<Health, BackendError>> {
        let inner = self.inner.clone();
        Box::pin(async move {
            let Some(e) = inner.engine.get().cloned() else {
                return Ok(Health {
                    starting: inner.starting.lock().clone(),
                    start_ms: Some(crate::web::started_at_ms()),
                    ..Health::default()
                });
            };
            tokio::task::spawn_blocking(move || {
                let stats = e.db().stats();
                let snap = e.targets();
                let mut h = Health {
                    samples_appended_total: Some(stats.samples_appended as f64),
                    head_series: Some(stats.head_series),
                    start_ms: Some(crate::web::started_at_ms()),
                    ..Health::default()
                };
                for t in &snap.active {
                    match TargetHealth::parse(t.status.health.as_str()) {
                        TargetHealth::Up => h.targets_up += 1,
                        TargetHealth::Down => h.targets_down += 1,
                        TargetHealth::Unknown => h.targets_unknown += 1,
                    }
                }
                let (ok, at_ms, _, _) = e.reload_status();
                h.last_reload = Some(ReloadState { ok, at_ms });
                if let Some(rules) = e.rule_manager() {
                    let alerts = rules.alerts();
                    let firing = alerts
                        .iter()
                        .filter(|a| a.state == crate::rules::eval::AlertState::Firing)
                        .count() as u64;
                    h.alerts_firing = Some(firing);
                    h.alerts_pending = Some(alerts.len() as u64 - firing);
                    h.alerts_by_severity = super::severity_counts(alerts.iter().map(|a| {
                        (
                            a.labels.get("severity").cloned(),
                            a.state == crate::rules::eval::AlertState::Firing,
                        )
                    }));
                }
                let now = crate::model::time::now_ms();
                let mut st = inner.storage.lock();
                if now.saturating_sub(st.1) > 10_000 {
                    *st = (dir_size(&inner.data_dir), now);
                }
                h.storage_bytes = Some(st.0);
                if !e.is_ready() {
                    h.starting = Some("starting the scrape manager and the API".into());
                }
                Ok(h)
            })
            .await
            .map_err(|e| BackendError::Engine(e.to_string()))?
        })
    }

    fn targets(&self) -> BoxFuture<Result<Vec<TargetRow>, BackendError>> {
        self.blocking(|e| Ok(target_rows(&e.targets())))
    }

    fn tsdb(&self, limit: usize) -> BoxFuture<Result<TsdbInfo, BackendError>> {
        self.blocking(move |e| {
            let st = e
                .tsdb_status(limit)
                .map_err(|err| BackendError::Engine(err.message))?;
            let stats = e.db().stats();
            let o = e.db().options();
            let nv = |v: Vec<crate::web::NameValue>| -> Vec<(String, u64)> {
                v.into_iter().map(|x| (x.name, x.value)).collect()
            };
            Ok(TsdbInfo {
                head_series: st.head_stats.num_series,
                head_chunks: st.head_stats.chunk_count,
                label_pairs: st.head_stats.num_label_pairs,
                head_min_time: st.head_stats.min_time,
                head_max_time: st.head_stats.max_time,
                retention: crate::web::format_retention(
                    o.retention_time_ms,
                    o.retention_size_bytes,
                ),
                blocks: Some(block_infos(e.db().blocks_dir())),
                wal: Some(WalInfo {
                    segments: stats.wal_segments,
                    bytes: stats.wal_bytes,
                    fsyncs: stats.wal_fsyncs,
                    corruptions: stats.wal_corruptions,
                    truncations: stats.wal_truncations,
                    checkpoints: stats.checkpoints,
                    replay_records: stats.replay_records,
                    replay_ms: stats.replay_duration.as_millis() as u64,
                }),
                compactions: Some(CompactionInfo {
                    head_compactions: stats.head_compactions,
                    failures: stats.compaction_failures,
                }),
                series_by_metric: nv(st.series_count_by_metric_name),
                values_by_label: nv(st.label_value_count_by_label_name),
                series_by_pair: nv(st.series_count_by_label_value_pair),
                memory_by_label: nv(st.memory_in_bytes_by_label_name),
            })
        })
    }

    fn breakdown(&self, metric: String) -> BoxFuture<Result<Breakdown, BackendError>> {
        self.blocking(move |e| {
            let m = Matcher::new(MatchOp::Equal, crate::model::METRIC_NAME, &metric)
                .map_err(|err| BackendError::Engine(err.to_string()))?;
            let stats = e.db().stats();
            let q = crate::tsdb::head::querier::HeadQuerier::new(
                e.db().head().clone(),
                stats.head_min_time.unwrap_or(i64::MIN),
                stats.head_max_time.unwrap_or(i64::MAX),
            );
            let series = crate::storage::Querier::select(&q, &[m])
                .map_err(|err| BackendError::Engine(err.to_string()))?;
            Ok(Breakdown::from_series(
                &metric,
                series.iter().map(|s| {
                    s.labels
                        .iter()
                        .map(|l| (l.name.as_str(), l.value.as_str()))
                        .collect()
                }),
            ))
        })
    }

    fn config(&self) -> BoxFuture<Result<ConfigInfo, BackendError>> {
        self.blocking(|e| {
            let cfg = e.config();
            let mut files = vec![e
                .options()
                .config_file
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "<embedded default configuration>".into())];
            files.extend(cfg.rule_files.iter().map(|f| format!("rule_files: {f}")));
            let (ok, at_ms, _, _) = e.reload_status();
            Ok(ConfigInfo {
                files,
                yaml: e.config_text(),
                flags: e
                    .options()
                    .flags
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
                last_reload: Some(ReloadState { ok, at_ms }),
            })
        })
    }

    fn reload(&self) -> BoxFuture<Result<(), BackendError>> {
        let engine = self.engine();
        Box::pin(async move {
            engine?
                .reload()
                .await
                .map_err(|e| BackendError::Engine(format!("reload failed: {e}")))
        })
    }

    fn scrape_debug(&self, target: TargetRow) -> BoxFuture<Result<ScrapeDebug, BackendError>> {
        let engine = self.engine();
        Box::pin(async move {
            let e = engine?;
            let cfg = e.config();
            let trace = match cfg
                .scrape_configs
                .iter()
                .find(|sc| sc.job_name == target.pool)
            {
                Some(sc) => Ok(super::relabel_trace(
                    &target.discovered,
                    &sc.relabel_configs,
                )),
                None => Err(format!("no job {:?} in the configuration", target.pool)),
            };
            let exposition = fetch_exposition(&target.url).await;
            Ok(ScrapeDebug { exposition, trace })
        })
    }

    fn console_source(&self) -> Arc<dyn ConsoleSource> {
        Arc::new(self.clone())
    }
    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }
}

/// Fetches a target's exposition as the scraper asks for it (text format first), for the
/// scrape debugger: at most 256 KiB are kept.
pub async fn fetch_exposition(url: &str) -> Result<String, String> {
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .map_err(|e| e.to_string())?;
    let resp = client
        .get(url)
        .header(
            "Accept",
            "text/plain;version=0.0.4;q=0.9,application/openmetrics-text;version=1.0.0;q=0.5,*/*;q=0.1",
        )
        .send()
        .await
        .map_err(|e| format!("GET {url}: {e}"))?;
    let status = resp.status();
    let body = resp.text().await.map_err(|e| format!("GET {url}: {e}"))?;
    if !status.is_success() {
        return Err(format!("GET {url}: HTTP {status}"));
    }
    const MAX: usize = 256 * 1024;
    if body.len() > MAX {
        let mut end = MAX;
        while !body.is_char_boundary(end) {
            end -= 1;
        }
        return Ok(format!("{}\n# ... truncated at 256 KiB", &body[..end]));
    }
    Ok(body)
}
