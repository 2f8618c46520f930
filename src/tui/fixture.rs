//! Deterministic engine state for the TUI's snapshot tests and render benches: a backend
//! whose calls never answer (so nothing changes under a test), and an [`App`] whose views
//! hold fixed targets, TSDB status, configuration and an hour of header samples.

use std::sync::Arc;

use super::app::{App, AppOptions};
use super::backend::{
    Backend, BackendError, BlockInfo, Breakdown, CompactionInfo, ConfigInfo, Health, ReloadState,
    ScrapeDebug, TargetHealth, TargetRow, TsdbInfo, WalInfo,
};
use super::console::source::{ConsoleSource, MetricInfo, QueryAnswer, SeriesCounts, SourceError};
use super::feed::{Feed, Severity};
use super::view::{Glyphs, View};
use crate::web::BoxFuture;

/// The fixed "now" of every fixture (2026-01-02T03:04:05Z).
pub const NOW_MS: i64 = 1_767_323_045_000;

/// A backend that never answers: views keep the data the fixture gave them.
pub struct StillBackend;

fn never<T: Send + 'static>() -> BoxFuture<T> {
    Box::pin(std::future::pending())
}

impl ConsoleSource for StillBackend {
    fn instant_query(&self, _: String, _: i64) -> BoxFuture<Result<QueryAnswer, SourceError>> {
        never()
    }
    fn range_query(
        &self,
        _: String,
        _: i64,
        _: i64,
        _: i64,
    ) -> BoxFuture<Result<QueryAnswer, SourceError>> {
        never()
    }
    fn label_names(&self, _: Vec<String>) -> BoxFuture<Result<Vec<String>, SourceError>> {
        never()
    }
    fn label_values(
        &self,
        _: String,
        _: Vec<String>,
    ) -> BoxFuture<Result<Vec<String>, SourceError>> {
        never()
    }
    fn metadata(&self) -> BoxFuture<Result<Vec<MetricInfo>, SourceError>> {
        never()
    }
    fn series_counts(&self) -> BoxFuture<Result<SeriesCounts, SourceError>> {
        never()
    }
}

impl Backend for StillBackend {
    fn endpoint(&self) -> String {
        "local /var/lib/promtui/data".into()
    }
    fn is_remote(&self) -> bool {
        false
    }
    fn health(&self) -> BoxFuture<Result<Health, BackendError>> {
        never()
    }
    fn targets(&self) -> BoxFuture<Result<Vec<TargetRow>, BackendError>> {
        never()
    }
    fn tsdb(&self, _: usize) -> BoxFuture<Result<TsdbInfo, BackendError>> {
        never()
    }
    fn breakdown(&self, _: String) -> BoxFuture<Result<Breakdown, BackendError>> {
        never()
    }
    fn config(&self) -> BoxFuture<Result<ConfigInfo, BackendError>> {
        never()
    }
    fn reload(&self) -> BoxFuture<Result<(), BackendError>> {
        never()
    }
    fn scrape_debug(&self, _: TargetRow) -> BoxFuture<Result<ScrapeDebug, BackendError>> {
        never()
    }
    fn console_source(&self) -> Arc<dyn ConsoleSource> {
        Arc::new(StillBackend)
    }
}

fn l(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// `n` targets over a few pools; every seventh is down, every thirteenth not yet scraped.
pub fn targets(n: usize) -> Vec<TargetRow> {
    let pools = ["node", "promtui", "api", "blackbox"];
    (0..n)
        .map(|i| {
            let pool = pools[i % pools.len()];
            let addr = format!("10.0.{}.{}:9100", i / 250, i % 250);
            let health = if i % 13 == 12 {
                None
            } else if i % 7 == 6 {
                Some(TargetHealth::Down)
            } else {
                Some(TargetHealth::Up)
            };
            let scraped = health.is_some();
            TargetRow {
                pool: pool.to_string(),
                url: format!("http://{addr}/metrics"),
                health: health.or(Some(TargetHealth::Unknown)),
                last_scrape_ms: scraped.then_some(NOW_MS - 1_000 - (i as i64 % 15) * 1000),
                duration_s: 0.002 + (i % 10) as f64 * 0.0013,
                samples: scraped.then_some(400 + (i as u64 * 37) % 900),
                last_error: if health == Some(TargetHealth::Down) {
                    format!("Get \"http://{addr}/metrics\": dial tcp {addr}: connect: connection refused")
                } else {
                    String::new()
                },
                interval: "15s".into(),
                labels: l(&[("instance", &addr), ("job", pool), ("env", "prod")]),
                discovered: l(&[
                    ("__address__", &addr),
                    ("__meta_env", "prod"),
                    ("__metrics_path__", "/metrics"),
                    ("__scheme__", "http"),
                    ("job", pool),
                ]),
            }
        })
        .collect()
}

/// A TSDB status with blocks, WAL and top lists.
pub fn tsdb_info() -> TsdbInfo {
    let top: Vec<(String, u64)> = [
        ("node_cpu_seconds_total", 1024u64),
        ("node_network_receive_bytes_total", 420),
        ("http_request_duration_seconds_bucket", 396),
        ("node_filesystem_avail_bytes", 120),
        ("go_gc_duration_seconds", 60),
        ("up", 40),
        ("scrape_duration_seconds", 40),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), *v))
    .collect();
    TsdbInfo {
        head_series: 20_412,
        head_chunks: 40_981,
        label_pairs: 3_127,
        head_min_time: NOW_MS - 7_200_000,
        head_max_time: NOW_MS,
        retention: "15d".into(),
        blocks: Some(vec![
            BlockInfo {
                ulid: "01JGZ3K8M2Q4R5S6T7V8W9X0YZ".into(),
                min_time: NOW_MS - 30 * 3_600_000,
                max_time: NOW_MS - 6 * 3_600_000,
                series: 19_870,
                samples: 95_000_000,
                chunks: 800_000,
                level: 2,
                bytes: 187_000_000,
            },
            BlockInfo {
                ulid: "01JH0AB8M2Q4R5S6T7V8W9X0YZ".into(),
                min_time: NOW_MS - 6 * 3_600_000,
                max_time: NOW_MS - 4 * 3_600_000,
                series: 20_101,
                samples: 9_600_000,
                chunks: 80_000,
                level: 1,
                bytes: 21_500_000,
            },
        ]),
        wal: Some(WalInfo {
            segments: 3,
            bytes: 96_000_000,
            fsyncs: 1_204,
            corruptions: 0,
            truncations: 2,
            checkpoints: 2,
            replay_records: 1_200_000,
            replay_ms: 2_350,
        }),
        compactions: Some(CompactionInfo {
            head_compactions: 4,
            failures: 0,
        }),
        series_by_metric: top,
        values_by_label: l(&[("instance", ""), ("le", ""), ("cpu", ""), ("mode", "")])
            .into_iter()
            .zip([1000u64, 15, 8, 8])
            .map(|((k, _), v)| (k, v))
            .collect(),
        series_by_pair: vec![("job=node".into(), 14_000), ("env=prod".into(), 20_412)],
        memory_by_label: vec![("instance".into(), 14_200), ("__name__".into(), 9_800)],
    }
}

/// The Config view's data, secrets hidden as the engine renders them.
pub fn config_info() -> ConfigInfo {
    ConfigInfo {
        files: vec!["/etc/promtui/promtui.yml".into(), "rule_files: rules/*.yml".into()],
        yaml: "global:\n  scrape_interval: 15s\n  evaluation_interval: 15s\nscrape_configs:\n- job_name: node\n  basic_auth:\n    username: scraper\n    password: <secret>\n  static_configs:\n  - targets:\n    - 10.0.0.1:9100\n  relabel_configs:\n  - source_labels: [__meta_env]\n    target_label: env\n".into(),
        flags: l(&[
            ("config.file", "/etc/promtui/promtui.yml"),
            ("storage.tsdb.path", "/var/lib/promtui/data"),
            ("storage.tsdb.retention.time", "15d"),
            ("web.listen-address", "127.0.0.1:9090"),
        ]),
        last_reload: Some(ReloadState {
            ok: true,
            at_ms: NOW_MS - 3_600_000,
        }),
    }
}

/// An hour of header samples and a few events.
pub fn feed() -> Arc<Feed> {
    let feed = Arc::new(Feed::default());
    feed.with(|s| {
        for i in 0..3600i64 {
            let t = NOW_MS - (3600 - i) * 1000;
            let wave = ((i as f64) / 300.0).sin();
            s.record(
                t,
                Health {
                    targets_up: 35 + (i / 1200) as u64,
                    targets_down: 3 - (i / 1200) as u64,
                    targets_unknown: 2,
                    ingestion_rate: Some(1360.0 + 200.0 * wave),
                    samples_appended_total: None,
                    head_series: Some(19_000 + (i as u64 * 1412 / 3600)),
                    storage_bytes: Some(300_000_000 + i as u64 * 4_000),
                    start_ms: Some(NOW_MS - 26 * 3_600_000 - 720_000),
                    last_reload: Some(ReloadState {
                        ok: true,
                        at_ms: NOW_MS - 3_600_000,
                    }),
                    alerts_firing: None,
                    alerts_pending: None,
                    alerts_by_severity: Vec::new(),
                    starting: None,
                },
            );
        }
        s.events.clear();
        s.event(
            NOW_MS - 600_000,
            Severity::Error,
            "configuration reload rejected: promtui.yml:12:5: unknown field \"scrape_intervall\""
                .into(),
        );
        s.event(
            NOW_MS - 300_000,
            Severity::Warn,
            "1 target(s) went down".into(),
        );
    });
    feed
}

/// The frame with every view holding fixture data, on `rt`, in `theme`.
pub fn app(rt: &tokio::runtime::Handle, theme: &str, n_targets: usize) -> App {
    let backend: Arc<dyn Backend> = Arc::new(StillBackend);
    let feed = feed();
    let rows = targets(n_targets);
    let mut overview = super::views::overview::OverviewView::new(backend.clone(), feed.clone());
    overview.set_data(rows.clone(), tsdb_info(), NOW_MS);
    let mut tv = super::views::targets::TargetsView::new(backend.clone());
    tv.set_targets(rows, NOW_MS);
    let mut tsdb = super::views::tsdb::TsdbView::new(backend.clone());
    tsdb.set_info(tsdb_info(), NOW_MS);
    let mut config = super::views::config::ConfigView::new(backend.clone(), feed.clone());
    config.set_info(config_info());
    let views: Vec<Box<dyn View>> = vec![
        Box::new(overview),
        Box::new(tv),
        Box::new(tsdb),
        Box::new(config),
    ];
    App::new(
        views,
        &backend,
        feed,
        rt.clone(),
        AppOptions {
            palette: super::theme::builtin(theme),
            glyphs: Glyphs::Braille,
            no_color: false,
            theme_dir: None,
        },
    )
}

/// The scrape debugger's answer for a fixture target of pool `node`.
pub fn scrape_debug(t: &TargetRow) -> ScrapeDebug {
    let rules: Vec<crate::model::relabel::RelabelConfig> = serde_yaml::from_str(
        "- source_labels: [__meta_env]\n  target_label: env\n- source_labels: [__address__]\n  regex: '10\\.0\\.0\\..*'\n  action: keep\n",
    )
    .unwrap_or_default();
    ScrapeDebug {
        exposition: Ok(
            "# HELP node_load1 1m load average.\n# TYPE node_load1 gauge\nnode_load1 0.42\n".into(),
        ),
        trace: Ok(super::backend::relabel_trace(&t.discovered, &rules)),
    }
}

/// [`app`] with the Targets view active and its scrape debugger open on a `node` target.
pub fn app_with_debugger(rt: &tokio::runtime::Handle, theme: &str) -> App {
    let backend: Arc<dyn Backend> = Arc::new(StillBackend);
    let feed = feed();
    let rows = targets(40);
    let mut tv = super::views::targets::TargetsView::new(backend.clone());
    tv.set_targets(rows.clone(), NOW_MS);
    tv.select_url("10.0.0.4:");
    if let Some(t) = rows.iter().find(|t| t.url.contains("10.0.0.4:")) {
        tv.set_debug(scrape_debug(t));
    }
    App::new(
        vec![Box::new(tv)],
        &backend,
        feed,
        rt.clone(),
        AppOptions {
            palette: super::theme::builtin(theme),
            glyphs: Glyphs::Braille,
            no_color: false,
            theme_dir: None,
        },
    )
}
