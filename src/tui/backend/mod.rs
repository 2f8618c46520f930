//! What the views read, behind one trait with two implementations: [`local::LocalBackend`]
//! over the in-process engine (TSDB, scrape manager, configuration, no HTTP) and
//! [`remote::RemoteBackend`] over a Prometheus-compatible HTTP API (promtui serve,
//! Prometheus, VictoriaMetrics). Every method returns a future: views spawn it on the
//! runtime and poll the result, so the render loop never waits on the engine or the
//! network. Data only the local engine has (blocks, WAL, compactions, the target's raw
//! exposition through the scrape manager's client) comes back as [`BackendError::LocalOnly`]
//! or `None` fields, which views show as "local only".

pub mod alerts;
pub mod history;
pub mod local;
pub mod pushgateway;
pub mod remote;
pub mod rules;

use std::sync::Arc;

use crate::tui::console::source::ConsoleSource;
use crate::web::BoxFuture;

/// Why a backend call failed, worded for the status line.
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum BackendError {
    #[error("request to {url} failed: {msg}")]
    Http { url: String, msg: String },
    #[error("{url}: {kind}: {msg}")]
    Api {
        url: String,
        kind: String,
        msg: String,
    },
    #[error("unexpected answer from {url}: {msg}")]
    Decode { url: String, msg: String },
    #[error("{0} is only available for the local engine (not over --remote)")]
    LocalOnly(&'static str),
    #[error("{0}")]
    Engine(String),
}

/// A target's health as the API words it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TargetHealth {
    Down,
    Unknown,
    Up,
}

impl TargetHealth {
    pub fn parse(s: &str) -> TargetHealth {
        match s {
            "up" => TargetHealth::Up,
            "down" => TargetHealth::Down,
            _ => TargetHealth::Unknown,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            TargetHealth::Up => "up",
            TargetHealth::Down => "down",
            TargetHealth::Unknown => "unknown",
        }
    }
}

/// The result of the last configuration reload.
#[derive(Clone, Debug, PartialEq)]
pub struct ReloadState {
    pub ok: bool,
    /// When the configuration in force was loaded (ms since the epoch).
    pub at_ms: i64,
}

/// The header's figures, sampled every second by the frame's feed.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Health {
    pub targets_up: u64,
    pub targets_down: u64,
    pub targets_unknown: u64,
    /// Samples appended per second, when the backend computes it (remote: a PromQL rate).
    pub ingestion_rate: Option<f64>,
    /// The monotonic appended-samples counter (local): the feed derives the rate from it.
    pub samples_appended_total: Option<f64>,
    pub head_series: Option<u64>,
    /// Bytes of blocks and WAL on disk.
    pub storage_bytes: Option<u64>,
    /// Process start of the server (ms since the epoch).
    pub start_ms: Option<i64>,
    pub last_reload: Option<ReloadState>,
    /// Firing and pending alerts; `None` until alerting is wired into the TUI.
    pub alerts_firing: Option<u64>,
    pub alerts_pending: Option<u64>,
    /// Firing and pending alerts per `severity` label value (`none` without one), most
    /// severe first as the header shows them.
    pub alerts_by_severity: Vec<(String, u64, u64)>,
    /// Opening the engine (WAL replay) in progress: a line to show, e.g. "replaying WAL
    /// segment 3/10".
    pub starting: Option<String>,
}

/// Counts `(severity, firing)` pairs into the header's per-severity figures, ordered
/// critical, warning, info, then the rest by name.
pub fn severity_counts(
    alerts: impl Iterator<Item = (Option<String>, bool)>,
) -> Vec<(String, u64, u64)> {
    let mut m: std::collections::BTreeMap<String, (u64, u64)> = Default::default();
    for (sev, firing) in alerts {
        let e = m.entry(sev.unwrap_or_else(|| "none".into())).or_default();
        if firing {
            e.0 += 1;
        } else {
            e.1 += 1;
        }
    }
    let rank = |s: &str| match s {
        "critical" | "page" => 0,
        "error" => 1,
        "warning" | "warn" => 2,
        "info" => 3,
        _ => 4,
    };
    let mut v: Vec<(String, u64, u64)> = m.into_iter().map(|(k, (f, p))| (k, f, p)).collect();
    v.sort_by(|a, b| rank(&a.0).cmp(&rank(&b.0)).then_with(|| a.0.cmp(&b.0)));
    v
}

/// One active target.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TargetRow {
    pub pool: String,
    pub url: String,
    pub health: Option<TargetHealth>,
    /// ms since the epoch; `None` before the first scrape.
    pub last_scrape_ms: Option<i64>,
    pub duration_s: f64,
    /// Samples of the last scrape after metric relabeling, when the backend knows it.
    pub samples: Option<u64>,
    pub last_error: String,
    pub interval: String,
    /// Labels after relabeling (attached to samples).
    pub labels: Vec<(String, String)>,
    /// Labels as discovered, before relabeling.
    pub discovered: Vec<(String, String)>,
}

impl TargetRow {
    /// The health used for grouping and colour: unknown before the first scrape.
    pub fn health(&self) -> TargetHealth {
        self.health.unwrap_or(TargetHealth::Unknown)
    }
    /// The text the `/` filter matches: pool, URL, health, labels, error.
    pub fn filter_text(&self) -> String {
        let mut s = format!("{} {} {} ", self.pool, self.url, self.health().as_str());
        for (k, v) in &self.labels {
            s.push_str(k);
            s.push('=');
            s.push_str(v);
            s.push(' ');
        }
        s.push_str(&self.last_error);
        s
    }
}

/// One persisted block.
#[derive(Clone, Debug, PartialEq)]
pub struct BlockInfo {
    pub ulid: String,
    pub min_time: i64,
    pub max_time: i64,
    pub series: u64,
    pub samples: u64,
    pub chunks: u64,
    pub level: u64,
    pub bytes: u64,
}

/// WAL figures (local only).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WalInfo {
    pub segments: u64,
    pub bytes: u64,
    pub fsyncs: u64,
    pub corruptions: u64,
    pub truncations: u64,
    pub checkpoints: u64,
    pub replay_records: u64,
    pub replay_ms: u64,
}

/// Compaction counters (local only).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CompactionInfo {
    pub head_compactions: u64,
    pub failures: u64,
}

/// The TSDB status view's data.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TsdbInfo {
    pub head_series: u64,
    pub head_chunks: u64,
    pub label_pairs: u64,
    pub head_min_time: i64,
    pub head_max_time: i64,
    pub retention: String,
    /// `None`: not available from this backend.
    pub blocks: Option<Vec<BlockInfo>>,
    pub wal: Option<WalInfo>,
    pub compactions: Option<CompactionInfo>,
    pub series_by_metric: Vec<(String, u64)>,
    pub values_by_label: Vec<(String, u64)>,
    pub series_by_pair: Vec<(String, u64)>,
    pub memory_by_label: Vec<(String, u64)>,
}

/// One metric's series broken down by label: label name, then values with their series
/// counts (most series first). The TSDB view's drill-down.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Breakdown {
    pub metric: String,
    pub series: u64,
    pub labels: Vec<(String, Vec<(String, u64)>)>,
}

impl Breakdown {
    /// Builds the breakdown from the label sets of the metric's series.
    pub fn from_series<'a>(
        metric: &str,
        series: impl Iterator<Item = Vec<(&'a str, &'a str)>>,
    ) -> Breakdown {
        use std::collections::HashMap;
        let mut by: HashMap<&str, HashMap<&str, u64>> = HashMap::new();
        let mut n = 0;
        for s in series {
            n += 1;
            for (k, v) in s {
                if k == "__name__" {
                    continue;
                }
                *by.entry(k).or_default().entry(v).or_default() += 1;
            }
        }
        let mut labels: Vec<(String, Vec<(String, u64)>)> = by
            .into_iter()
            .map(|(k, vs)| {
                let mut vs: Vec<(String, u64)> =
                    vs.into_iter().map(|(v, c)| (v.to_string(), c)).collect();
                vs.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
                (k.to_string(), vs)
            })
            .collect();
        // Most distinct values first: the labels that drive cardinality.
        labels.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then_with(|| a.0.cmp(&b.0)));
        Breakdown {
            metric: metric.to_string(),
            series: n,
            labels,
        }
    }
}

/// The configuration view's data.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ConfigInfo {
    /// Files the configuration was loaded from (config file, rule files).
    pub files: Vec<String>,
    /// The configuration in force, secrets as `<secret>`.
    pub yaml: String,
    pub flags: Vec<(String, String)>,
    pub last_reload: Option<ReloadState>,
}

/// One step of a target's relabel trace.
#[derive(Clone, Debug, PartialEq)]
pub struct TraceLine {
    /// `#1 replace` or `finish: drop __ labels`.
    pub rule: String,
    /// The rule's YAML-ish summary (source labels, regex, target).
    pub detail: String,
    /// Labels set/changed/removed by it.
    pub changed: Vec<String>,
    /// Labels after the step; `None` when the rule dropped the target.
    pub after: Option<Vec<(String, String)>>,
}

/// The scrape debugger's data for one target.
#[derive(Clone, Debug, PartialEq)]
pub struct ScrapeDebug {
    /// The target's exposition as fetched now (the first bytes), or why not.
    pub exposition: Result<String, String>,
    /// Step-by-step relabeling of the discovered labels, or why not.
    pub trace: Result<Vec<TraceLine>, String>,
}

/// Everything the frame and the views ask of a backend.
pub trait Backend: Send + Sync {
    /// `local (data dir)` or the remote URL, for the header.
    fn endpoint(&self) -> String;
    fn is_remote(&self) -> bool;
    fn health(&self) -> BoxFuture<Result<Health, BackendError>>;
    fn targets(&self) -> BoxFuture<Result<Vec<TargetRow>, BackendError>>;
    /// TSDB status with top lists of `limit` entries.
    fn tsdb(&self, limit: usize) -> BoxFuture<Result<TsdbInfo, BackendError>>;
    /// A metric's series by label and value.
    fn breakdown(&self, metric: String) -> BoxFuture<Result<Breakdown, BackendError>>;
    fn config(&self) -> BoxFuture<Result<ConfigInfo, BackendError>>;
    /// Reloads the configuration (remote: `POST /-/reload`, needs --web.enable-lifecycle).
    fn reload(&self) -> BoxFuture<Result<(), BackendError>>;
    /// Fetches the target's exposition and traces its relabeling.
    fn scrape_debug(&self, target: TargetRow) -> BoxFuture<Result<ScrapeDebug, BackendError>>;
    /// The console's queries and label lookups.
    fn console_source(&self) -> Arc<dyn ConsoleSource>;
    /// The targets as they were at `t_ms` (time travel), rebuilt from the TSDB's `up`
    /// and scrape series (see [`history`]).
    fn targets_at(&self, t_ms: i64) -> BoxFuture<Result<Vec<TargetRow>, BackendError>> {
        history::targets_at(self.console_source(), self.targets(), t_ms)
    }
    /// The `limit` metric names with the most series at `t_ms` (time travel).
    fn top_metrics_at(
        &self,
        t_ms: i64,
        limit: usize,
    ) -> BoxFuture<Result<Vec<(String, u64)>, BackendError>> {
        history::top_metrics_at(self.console_source(), t_ms, limit)
    }
    /// Alerts, silences and acknowledgements (the Alerts and Silences views); `None`
    /// when this backend has no alerting side.
    fn alerts(&self) -> Option<Arc<dyn alerts::AlertSource>> {
        None
    }
    /// The concrete backend, for views whose data sources are built per backend kind
    /// (rules, Pushgateway); `None` for test doubles.
    fn as_any(&self) -> Option<&dyn std::any::Any> {
        None
    }
}

/// Builds the relabel trace of a target from its job's `relabel_configs`, ending with
/// the scrape manager's own final step (labels starting with `__` removed).
pub fn relabel_trace(
    discovered: &[(String, String)],
    rules: &[crate::model::relabel::RelabelConfig],
) -> Vec<TraceLine> {
    use crate::model::Labels;
    let pairs: Vec<(&str, &str)> = discovered
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let labels = Labels::from_pairs(&pairs);
    let to_vec = |l: &Labels| -> Vec<(String, String)> {
        l.iter()
            .map(|l| (l.name.clone(), l.value.clone()))
            .collect()
    };
    let mut out = vec![TraceLine {
        rule: "discovered".into(),
        detail: format!("{} labels from service discovery", discovered.len()),
        changed: Vec::new(),
        after: Some(to_vec(&labels)),
    }];
    let steps = crate::model::relabel::trace(&labels, rules);
    let mut last = Some(labels.clone());
    for (step, cfg) in steps.iter().zip(rules) {
        let mut detail = String::new();
        if !cfg.source_labels.is_empty() {
            detail.push_str(&format!(
                "source_labels: [{}] ",
                cfg.source_labels
                    .iter()
                    .map(String::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        detail.push_str(&format!("regex: {}", cfg.regex.as_str()));
        if !cfg.target_label.is_empty() {
            detail.push_str(&format!(
                " target_label: {} replacement: {}",
                cfg.target_label, cfg.replacement
            ));
        }
        out.push(TraceLine {
            rule: format!("#{} {}", step.index + 1, step.action.as_str()),
            detail,
            changed: step.changed.clone(),
            after: step.after.as_ref().map(to_vec),
        });
        last = step.after.clone();
    }
    if let Some(l) = last {
        let mut kept: Vec<(String, String)> = to_vec(&l)
            .into_iter()
            .filter(|(k, _)| !k.starts_with("__"))
            .collect();
        if !kept.iter().any(|(k, _)| k == "instance") {
            if let Some(addr) = l.get("__address__") {
                kept.push(("instance".into(), addr.to_string()));
                kept.sort();
            }
        }
        out.push(TraceLine {
            rule: "finish".into(),
            detail: "labels starting with __ removed (instance defaults to __address__)".into(),
            changed: l
                .iter()
                .filter(|x| x.name.starts_with("__"))
                .map(|x| x.name.clone())
                .collect(),
            after: Some(kept),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn breakdown_orders_labels_by_distinct_values() {
        let series = [
            vec![("__name__", "m"), ("job", "a"), ("pod", "p1")],
            vec![("__name__", "m"), ("job", "a"), ("pod", "p2")],
            vec![("__name__", "m"), ("job", "b"), ("pod", "p3")],
        ];
        let b = Breakdown::from_series("m", series.iter().cloned());
        assert_eq!(b.series, 3);
        assert_eq!(b.labels[0].0, "pod");
        assert_eq!(b.labels[1].0, "job");
        assert_eq!(b.labels[1].1, vec![("a".into(), 2), ("b".into(), 1)]);
    }

    #[test]
    fn relabel_trace_ends_with_the_finish_step() {
        let rules: Vec<crate::model::relabel::RelabelConfig> =
            serde_yaml::from_str("- source_labels: [__meta_env]\n  target_label: env\n").unwrap();
        let d = vec![
            ("__address__".to_string(), "h:1".to_string()),
            ("__meta_env".to_string(), "prod".to_string()),
            ("job".to_string(), "j".to_string()),
        ];
        let t = relabel_trace(&d, &rules);
        assert_eq!(t.len(), 3);
        assert_eq!(t[1].rule, "#1 replace");
        assert_eq!(t[1].changed, ["env"]);
        let fin = t[2].after.as_ref().unwrap();
        assert_eq!(
            fin,
            &vec![
                ("env".to_string(), "prod".to_string()),
                ("instance".to_string(), "h:1".to_string()),
                ("job".to_string(), "j".to_string())
            ]
        );
    }
}
