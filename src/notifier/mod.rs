//! Sending alerts to Alertmanagers (upstream `notifier/notifier.go`): alerts from the rule
//! manager go through an [`AlertSink`]; the HTTP implementation here, [`Notifier`], adds
//! the external labels (an alert's own label wins), applies `alert_relabel_configs`
//! (global, then each Alertmanager set's), queues them (bounded by
//! `--alertmanager.notification-queue-capacity`; the oldest are dropped and counted when
//! full) and posts them in batches of at most 64 to every Alertmanager of
//! `alerting.alertmanagers` as the API v2 `POST /api/v2/alerts` expects. The in-process
//! alerting pipeline (the Alertmanager issue) will be a second `AlertSink`.
//!
//! Each Alertmanager set (`alerting.alertmanagers[]`) is discovered as upstream's
//! `alertmanagerFromGroup` does: the targets of `static_configs` and `file_sd_configs`
//! (files polled every few seconds, as scrape discovery polls them) get `__scheme__` and
//! `__alerts_path__` (`path_prefix` + `/api/v2/alerts`), go through the set's
//! `relabel_configs` (which may drop them or rewrite address, scheme and path), and become
//! the URLs alerts are posted to, deduplicated; the dropped ones are listed too
//! (`/api/v1/alertmanagers`). Each set has its own HTTP client from its `tls_config`,
//! `proxy_url`, `basic_auth` and `authorization` (credential files re-read per request).

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use serde::Serialize;

use crate::config::{AlertingConfig, AlertmanagerConfig, TargetGroup};
use crate::model::relabel::{process, RelabelConfig};
use crate::model::Labels;
use crate::scrape::file_sd::FileSdWatcher;
use crate::scrape::metrics::ScrapeMetrics;
use crate::scrape::scraper::{authorize, build_client};
use crate::scrape::settings::{FileSdSettings, HttpSettings};

/// How often `file_sd_configs` files of Alertmanager sets are looked at.
const DISCOVERY_POLL: Duration = Duration::from_secs(5);

/// Alerts sent in one request at most, as upstream's `maxBatchSize`.
pub const MAX_BATCH: usize = 64;
/// Default queue capacity (`--alertmanager.notification-queue-capacity`).
pub const DEFAULT_QUEUE_CAPACITY: usize = 10_000;

/// An alert as the Alertmanager API v2 takes it. Times are RFC 3339.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NotifierAlert {
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub starts_at: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub ends_at: String,
    #[serde(rename = "generatorURL")]
    pub generator_url: String,
}

/// Where alerts go: external Alertmanagers over HTTP, or the in-process pipeline.
pub trait AlertSink: Send + Sync {
    fn send(&self, alerts: Vec<NotifierAlert>);
}

/// Counters, as upstream's `prometheus_notifications_*`.
#[derive(Default, Debug)]
pub struct NotifierMetrics {
    pub sent: AtomicU64,
    pub errors: AtomicU64,
    pub dropped: AtomicU64,
}

/// One Alertmanager set: its configuration, client and the URLs discovery yields.
struct AmSet {
    cfg: AlertmanagerConfig,
    http: HttpSettings,
    /// `None` when the client could not be built (bad TLS material): every send fails
    /// and is counted, and the error is logged at apply.
    client: Option<reqwest::Client>,
    timeout: Duration,
    watchers: Vec<FileSdWatcher>,
    /// The groups each watcher last yielded.
    file_groups: Vec<Vec<TargetGroup>>,
    active: Vec<String>,
    dropped: Vec<String>,
}

/// What one send to a set needs, cloned out of the lock.
struct SendTarget {
    urls: Vec<String>,
    client: Option<reqwest::Client>,
    http: HttpSettings,
    timeout: Duration,
    alerts: Vec<NotifierAlert>,
}

/// Posts alerts to the configured Alertmanagers.
pub struct Notifier {
    external_labels: Mutex<BTreeMap<String, String>>,
    relabel: Mutex<Vec<RelabelConfig>>,
    sets: Mutex<Vec<AmSet>>,
    queue: Mutex<VecDeque<NotifierAlert>>,
    capacity: usize,
    wake: tokio::sync::Notify,
    /// File discovery's read errors (logged as they happen).
    sd_metrics: ScrapeMetrics,
    pub metrics: NotifierMetrics,
}

impl Notifier {
    /// A notifier with a queue of `capacity`; call [`Notifier::apply`] with the
    /// configuration and [`Notifier::run`] to start sending.
    pub fn new(capacity: usize) -> Arc<Notifier> {
        Arc::new(Notifier {
            external_labels: Mutex::new(BTreeMap::new()),
            relabel: Mutex::new(Vec::new()),
            sets: Mutex::new(Vec::new()),
            queue: Mutex::new(VecDeque::new()),
            capacity: capacity.max(1),
            wake: tokio::sync::Notify::new(),
            sd_metrics: ScrapeMetrics::default(),
            metrics: NotifierMetrics::default(),
        })
    }

    /// Takes the `alerting` section and the external labels (start and reload).
    pub fn apply(&self, cfg: &AlertingConfig, external_labels: &BTreeMap<String, String>) {
        *self.external_labels.lock() = external_labels.clone();
        *self.relabel.lock() = cfg.alert_relabel_configs.clone();
        let mut sets: Vec<AmSet> = cfg.alertmanagers.iter().map(am_set).collect();
        for set in &mut sets {
            set.poll(&self.sd_metrics);
        }
        *self.sets.lock() = sets;
    }

    /// The URLs alerts go to, deduplicated, in configuration order.
    pub fn alertmanagers(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for s in self.sets.lock().iter() {
            for u in &s.active {
                if !out.contains(u) {
                    out.push(u.clone());
                }
            }
        }
        out
    }

    /// The URLs of discovered Alertmanagers that `relabel_configs` dropped.
    pub fn dropped_alertmanagers(&self) -> Vec<String> {
        self.sets
            .lock()
            .iter()
            .flat_map(|s| s.dropped.clone())
            .collect()
    }

    /// Looks at every set's `file_sd_configs` files again.
    fn poll_discovery(&self) {
        for set in self.sets.lock().iter_mut() {
            set.poll(&self.sd_metrics);
        }
    }

    /// Sends queued alerts until `stop` turns true; what is queued then is sent once more.
    pub async fn run(self: Arc<Self>, mut stop: tokio::sync::watch::Receiver<bool>) {
        let mut discovery = tokio::time::interval(DISCOVERY_POLL);
        discovery.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            self.drain().await;
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = discovery.tick() => self.poll_discovery(),
                _ = stop.changed() => {
                    self.drain().await;
                    return;
                }
            }
        }
    }

    async fn drain(&self) {
        loop {
            let batch: Vec<NotifierAlert> = {
                let mut q = self.queue.lock();
                let n = q.len().min(MAX_BATCH);
                q.drain(..n).collect()
            };
            if batch.is_empty() {
                return;
            }
            self.post(&batch).await;
        }
    }

    async fn post(&self, batch: &[NotifierAlert]) {
        // Each set's alerts after its own relabeling, taken out of the lock before sending.
        let targets: Vec<SendTarget> = {
            let sets = self.sets.lock();
            sets.iter()
                .map(|s| {
                    let relabel = &s.cfg.alert_relabel_configs;
                    let alerts: Vec<NotifierAlert> = if relabel.is_empty() {
                        batch.to_vec()
                    } else {
                        batch
                            .iter()
                            .filter_map(|a| relabel_ref(a, relabel))
                            .collect()
                    };
                    SendTarget {
                        urls: s.active.clone(),
                        client: s.client.clone(),
                        http: s.http.clone(),
                        timeout: s.timeout,
                        alerts,
                    }
                })
                .collect()
        };
        for t in targets {
            if t.alerts.is_empty() || t.urls.is_empty() {
                continue;
            }
            let body = match serde_json::to_vec(&t.alerts) {
                Ok(b) => b,
                Err(e) => {
                    tracing::error!(error = %e, "encoding alerts");
                    continue;
                }
            };
            for url in &t.urls {
                let Some(client) = &t.client else {
                    self.metrics.errors.fetch_add(1, Ordering::Relaxed);
                    continue;
                };
                let req = client
                    .post(url)
                    .timeout(t.timeout)
                    .header("Content-Type", "application/json")
                    .header("User-Agent", crate::scrape::scraper::user_agent())
                    .body(body.clone());
                let req = match authorize(req, &t.http, url) {
                    Ok(r) => r,
                    Err(e) => {
                        self.metrics.errors.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(alertmanager = %url, error = %e, "sending alerts failed");
                        continue;
                    }
                };
                match req.send().await {
                    Ok(r) if r.status().is_success() => {
                        self.metrics
                            .sent
                            .fetch_add(t.alerts.len() as u64, Ordering::Relaxed);
                    }
                    Ok(r) => {
                        self.metrics.errors.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(alertmanager = %url, status = %r.status(), "sending alerts failed");
                    }
                    Err(e) => {
                        self.metrics.errors.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(alertmanager = %url, error = %e, "sending alerts failed");
                    }
                }
            }
        }
    }

    /// Alerts waiting to be sent.
    fn queue_length(&self) -> usize {
        self.queue.lock().len()
    }

    /// The queue's capacity.
    pub fn queue_capacity(&self) -> usize {
        self.capacity
    }

    /// Writes `prometheus_notifications_*` (upstream's names).
    pub fn write_metrics(&self, w: &mut crate::exposition::MetricsWriter) {
        let m = &self.metrics;
        w.single(
            "prometheus_notifications_sent_total",
            "counter",
            "Total number of alerts sent.",
            m.sent.load(Ordering::Relaxed) as f64,
        );
        w.single(
            "prometheus_notifications_errors_total",
            "counter",
            "Total number of errors sending alert notifications.",
            m.errors.load(Ordering::Relaxed) as f64,
        );
        w.single(
            "prometheus_notifications_dropped_total",
            "counter",
            "Total number of alerts dropped due to errors when sending to Alertmanager.",
            m.dropped.load(Ordering::Relaxed) as f64,
        );
        w.single(
            "prometheus_notifications_queue_length",
            "gauge",
            "The number of alert notifications in the queue.",
            self.queue_length() as f64,
        );
        w.single(
            "prometheus_notifications_queue_capacity",
            "gauge",
            "The capacity of the alert notifications queue.",
            self.capacity as f64,
        );
        w.single(
            "prometheus_notifications_alertmanagers_discovered",
            "gauge",
            "The number of alertmanagers discovered and active.",
            self.alertmanagers().len() as f64,
        );
    }
}

impl AlertSink for Notifier {
    fn send(&self, alerts: Vec<NotifierAlert>) {
        if self.sets.lock().is_empty() {
            return;
        }
        let ext = self.external_labels.lock().clone();
        let relabel = self.relabel.lock().clone();
        let mut q = self.queue.lock();
        for mut a in alerts {
            for (k, v) in &ext {
                a.labels.entry(k.clone()).or_insert_with(|| v.clone());
            }
            let Some(a) = (if relabel.is_empty() {
                Some(a)
            } else {
                relabel_alert(a, &relabel)
            }) else {
                continue;
            };
            if q.len() >= self.capacity {
                q.pop_front();
                self.metrics.dropped.fetch_add(1, Ordering::Relaxed);
            }
            q.push_back(a);
        }
        drop(q);
        self.wake.notify_one();
    }
}

fn relabel_ref(a: &NotifierAlert, cfgs: &[RelabelConfig]) -> Option<NotifierAlert> {
    relabel_alert(a.clone(), cfgs)
}

fn relabel_alert(mut a: NotifierAlert, cfgs: &[RelabelConfig]) -> Option<NotifierAlert> {
    let pairs: Vec<(&str, &str)> = a
        .labels
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let out = process(&Labels::from_pairs(&pairs), cfgs)?;
    if out.is_empty() {
        return None;
    }
    a.labels = out
        .iter()
        .map(|l| (l.name.to_string(), l.value.to_string()))
        .collect();
    Some(a)
}

fn am_set(c: &AlertmanagerConfig) -> AmSet {
    let http = HttpSettings::from_config(&c.http_client(), false);
    let client = match build_client(&http) {
        Ok(cl) => Some(cl),
        Err(e) => {
            tracing::error!(error = %e, "alerting.alertmanagers: cannot build the HTTP client; alerts to this set fail");
            None
        }
    };
    let watchers: Vec<FileSdWatcher> = c
        .file_sd_configs
        .iter()
        .map(|f| {
            FileSdWatcher::new(FileSdSettings {
                files: f.files.clone(),
                refresh_interval_ms: f.refresh_interval.as_millis(),
            })
        })
        .collect();
    AmSet {
        cfg: c.clone(),
        http,
        client,
        timeout: Duration::from_millis(c.timeout.0.max(1) as u64),
        file_groups: vec![Vec::new(); watchers.len()],
        watchers,
        active: Vec::new(),
        dropped: Vec::new(),
    }
}

impl AmSet {
    /// Polls the file watchers and recomputes the URLs from every group.
    fn poll(&mut self, metrics: &ScrapeMetrics) {
        for (w, groups) in self.watchers.iter_mut().zip(self.file_groups.iter_mut()) {
            if let Some(g) = w.poll(metrics) {
                *groups = g;
            }
        }
        let mut groups = self.cfg.static_target_groups();
        groups.extend(self.file_groups.iter().flatten().cloned());
        let (active, dropped) = resolve(&self.cfg, &groups);
        if active != self.active {
            tracing::info!(alertmanagers = ?active, "Alertmanagers discovered");
        }
        self.active = active;
        self.dropped = dropped;
    }
}

/// Upstream's `postPath`: `path.Join("/", prefix, "/api/v2/alerts")`.
fn alerts_path(prefix: &str) -> String {
    let mut parts: Vec<&str> = prefix
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    parts.extend(["api", "v2", "alerts"]);
    format!("/{}", parts.join("/"))
}

/// The URLs alerts go to and the dropped ones, from discovered target groups (upstream's
/// `alertmanagerFromGroup`): each target gets the set's scheme and alerts path as
/// `__scheme__` and `__alerts_path__`, the group's labels it lacks, then `relabel_configs`.
fn resolve(cfg: &AlertmanagerConfig, groups: &[TargetGroup]) -> (Vec<String>, Vec<String>) {
    let path = alerts_path(&cfg.path_prefix);
    let url_of = |l: &Labels| -> Option<String> {
        let addr = l.get("__address__")?;
        if addr.is_empty() || addr.contains('/') {
            return None;
        }
        Some(format!(
            "{}://{addr}{}",
            l.get("__scheme__").unwrap_or("http"),
            l.get("__alerts_path__").unwrap_or(&path)
        ))
    };
    let mut active: Vec<String> = Vec::new();
    let mut dropped: Vec<String> = Vec::new();
    for g in groups {
        for t in &g.targets {
            let mut b = t.builder();
            b.set("__scheme__", &cfg.scheme);
            b.set("__alerts_path__", &path);
            for l in g.labels.iter() {
                if t.get(&l.name).is_none() {
                    b.set(&l.name, &l.value);
                }
            }
            let before = b.into_labels();
            match process(&before, &cfg.relabel_configs) {
                Some(after) => match url_of(&after) {
                    Some(u) if !active.contains(&u) => active.push(u),
                    Some(_) => {}
                    None => {
                        tracing::warn!(labels = %after, "alerting.alertmanagers: target without a valid __address__ skipped")
                    }
                },
                None => {
                    if let Some(u) = url_of(&before) {
                        dropped.push(u);
                    }
                }
            }
        }
    }
    (active, dropped)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(name: &str) -> NotifierAlert {
        NotifierAlert {
            labels: [("alertname".to_string(), name.to_string())].into(),
            annotations: BTreeMap::new(),
            starts_at: "2024-01-01T00:00:00Z".into(),
            ends_at: String::new(),
            generator_url: "http://x/graph".into(),
        }
    }

    #[test]
    fn queue_adds_external_labels_relabels_and_drops_the_oldest_when_full() {
        let n = Notifier::new(2);
        let cfg: AlertingConfig = serde_yaml::from_str(
            "alertmanagers:\n  - static_configs: [{targets: ['127.0.0.1:9']}]\nalert_relabel_configs:\n  - source_labels: [alertname]\n    regex: Drop.*\n    action: drop\n",
        )
        .unwrap();
        n.apply(&cfg, &[("dc".to_string(), "eu".to_string())].into());
        assert_eq!(n.alertmanagers(), ["http://127.0.0.1:9/api/v2/alerts"]);
        n.send(vec![alert("A"), alert("DropMe"), alert("B"), alert("C")]);
        let q: Vec<String> = n
            .queue
            .lock()
            .iter()
            .map(|a| a.labels["alertname"].clone())
            .collect();
        assert_eq!(q, ["B", "C"]);
        assert_eq!(n.metrics.dropped.load(Ordering::Relaxed), 1);
        assert_eq!(n.queue.lock()[0].labels["dc"], "eu");
        let json = serde_json::to_string(&n.queue.lock()[0]).unwrap();
        assert!(
            json.contains("\"generatorURL\"")
                && json.contains("\"startsAt\"")
                && !json.contains("endsAt"),
            "{json}"
        );
    }

    fn set(yaml: &str) -> AlertmanagerConfig {
        let cfg: AlertingConfig = serde_yaml::from_str(yaml).unwrap();
        cfg.alertmanagers.into_iter().next().unwrap()
    }

    #[test]
    fn alerts_path_joins_the_prefix_as_go_path_join() {
        assert_eq!(alerts_path(""), "/api/v2/alerts");
        assert_eq!(alerts_path("/am/"), "/am/api/v2/alerts");
        assert_eq!(alerts_path("am//x"), "/am/x/api/v2/alerts");
    }

    #[test]
    fn relabel_configs_drop_and_rewrite_discovered_alertmanagers() {
        let c = set(concat!(
            "alertmanagers:\n",
            "  - scheme: https\n",
            "    path_prefix: /prefix\n",
            "    static_configs:\n",
            "      - targets: ['a:9093', 'b:9093', 'c:9093']\n",
            "        labels: {dc: eu}\n",
            "    relabel_configs:\n",
            "      - {source_labels: [__address__], regex: 'b:.*', action: drop}\n",
            "      - {source_labels: [__address__], regex: 'c:(.*)', target_label: __alerts_path__, replacement: '/other/api/v2/alerts'}\n",
            "      - {source_labels: [dc, __address__], regex: 'eu;c:.*', target_label: __scheme__, replacement: http}\n",
        ));
        let (active, dropped) = resolve(&c, &c.static_target_groups());
        assert_eq!(
            active,
            [
                "https://a:9093/prefix/api/v2/alerts",
                "http://c:9093/other/api/v2/alerts"
            ]
        );
        assert_eq!(dropped, ["https://b:9093/prefix/api/v2/alerts"]);
    }

    #[test]
    fn file_sd_alertmanagers_are_discovered_and_follow_file_changes() {
        let dir = tempfile::tempdir().unwrap();
        let sd = dir.path().join("am.yml");
        std::fs::write(&sd, "- targets: ['x:1']\n").unwrap();
        let cfg: AlertingConfig = serde_yaml::from_str(&format!(
            "alertmanagers:\n  - file_sd_configs: [{{files: ['{}']}}]\n    static_configs: [{{targets: ['s:2']}}]\n",
            sd.display()
        ))
        .unwrap();
        let n = Notifier::new(10);
        n.apply(&cfg, &BTreeMap::new());
        assert_eq!(
            n.alertmanagers(),
            ["http://s:2/api/v2/alerts", "http://x:1/api/v2/alerts"]
        );
        // A rewritten file (new size) is read at the next poll.
        std::fs::write(&sd, "- targets: ['x:1', 'y:22']\n").unwrap();
        n.poll_discovery();
        assert_eq!(
            n.alertmanagers(),
            [
                "http://s:2/api/v2/alerts",
                "http://x:1/api/v2/alerts",
                "http://y:22/api/v2/alerts"
            ]
        );
    }

    #[test]
    fn bad_tls_material_fails_sends_instead_of_panicking() {
        let cfg: AlertingConfig = serde_yaml::from_str(
            "alertmanagers:\n  - static_configs: [{targets: ['127.0.0.1:9']}]\n    tls_config: {ca_file: /nonexistent/ca.pem}\n",
        )
        .unwrap();
        let n = Notifier::new(10);
        n.apply(&cfg, &BTreeMap::new());
        assert!(n.sets.lock()[0].client.is_none());
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(n.post(&[alert("A")]));
        assert_eq!(n.metrics.errors.load(Ordering::Relaxed), 1);
    }
}
