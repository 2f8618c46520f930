//! Sending alerts to Alertmanagers (upstream `notifier/notifier.go`): alerts from the rule
//! manager go through an [`AlertSink`]; the HTTP implementation here, [`Notifier`], adds
//! the external labels (an alert's own label wins), applies `alert_relabel_configs`
//! (global, then each Alertmanager set's), queues them (bounded by
//! `--alertmanager.notification-queue-capacity`; the oldest are dropped and counted when
//! full) and posts them in batches of at most 64 to every Alertmanager of
//! `alerting.alertmanagers` as the API v2 `POST /api/v2/alerts` expects. The in-process
//! alerting pipeline (the Alertmanager issue) will be a second `AlertSink`.
//!
//! Supported per Alertmanager set: `static_configs`, `scheme`, `path_prefix`, `timeout`,
//! `api_version: v2`, `basic_auth`, `authorization` and `alert_relabel_configs`. Not yet:
//! `file_sd_configs`, `tls_config` beyond the system roots, and `relabel_configs` of the
//! Alertmanager addresses.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use serde::Serialize;

use crate::config::{AlertingConfig, AlertmanagerConfig};
use crate::model::relabel::{process, RelabelConfig};
use crate::model::Labels;

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

#[derive(Clone)]
struct AmSet {
    urls: Vec<String>,
    timeout: Duration,
    basic_auth: Option<(String, String)>,
    authorization: Option<String>,
    relabel: Vec<RelabelConfig>,
}

/// Posts alerts to the configured Alertmanagers.
pub struct Notifier {
    external_labels: Mutex<BTreeMap<String, String>>,
    relabel: Mutex<Vec<RelabelConfig>>,
    sets: Mutex<Vec<AmSet>>,
    queue: Mutex<VecDeque<NotifierAlert>>,
    capacity: usize,
    wake: tokio::sync::Notify,
    client: reqwest::Client,
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
            client: reqwest::Client::new(),
            metrics: NotifierMetrics::default(),
        })
    }

    /// Takes the `alerting` section and the external labels (start and reload).
    pub fn apply(&self, cfg: &AlertingConfig, external_labels: &BTreeMap<String, String>) {
        *self.external_labels.lock() = external_labels.clone();
        *self.relabel.lock() = cfg.alert_relabel_configs.clone();
        *self.sets.lock() = cfg.alertmanagers.iter().map(am_set).collect();
    }

    /// How many Alertmanagers alerts go to.
    pub fn alertmanagers(&self) -> Vec<String> {
        self.sets
            .lock()
            .iter()
            .flat_map(|s| s.urls.clone())
            .collect()
    }

    /// Sends queued alerts until `stop` turns true; what is queued then is sent once more.
    pub async fn run(self: Arc<Self>, mut stop: tokio::sync::watch::Receiver<bool>) {
        loop {
            self.drain().await;
            tokio::select! {
                _ = self.wake.notified() => {}
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
        let sets: Vec<(AmSet, Vec<NotifierAlert>)> = {
            let sets = self.sets.lock();
            sets.iter()
                .map(|s| {
                    let alerts: Vec<NotifierAlert> = if s.relabel.is_empty() {
                        batch.to_vec()
                    } else {
                        batch
                            .iter()
                            .filter_map(|a| relabel(a, &s.relabel))
                            .collect()
                    };
                    (s.clone(), alerts)
                })
                .collect()
        };
        for (set, alerts) in sets {
            let AmSet {
                urls,
                timeout,
                basic_auth: basic,
                authorization: auth,
                ..
            } = set;
            if alerts.is_empty() {
                continue;
            }
            let body = match serde_json::to_vec(&alerts) {
                Ok(b) => b,
                Err(e) => {
                    tracing::error!(error = %e, "encoding alerts");
                    continue;
                }
            };
            for url in urls {
                let mut req = self
                    .client
                    .post(&url)
                    .timeout(timeout)
                    .header("Content-Type", "application/json")
                    .body(body.clone());
                if let Some((u, p)) = &basic {
                    req = req.basic_auth(u, Some(p));
                }
                if let Some(a) = &auth {
                    req = req.header("Authorization", a);
                }
                match req.send().await {
                    Ok(r) if r.status().is_success() => {
                        self.metrics
                            .sent
                            .fetch_add(alerts.len() as u64, Ordering::Relaxed);
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
    pub fn queue_length(&self) -> usize {
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

fn relabel(a: &NotifierAlert, cfgs: &[RelabelConfig]) -> Option<NotifierAlert> {
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
    let prefix = c.path_prefix.trim_end_matches('/');
    let prefix = if prefix.is_empty() || prefix.starts_with('/') {
        prefix.to_string()
    } else {
        format!("/{prefix}")
    };
    let urls = c
        .static_configs
        .iter()
        .flat_map(|s| s.targets.iter())
        .map(|t| format!("{}://{t}{prefix}/api/v2/alerts", c.scheme))
        .collect();
    let http = c.http_client();
    AmSet {
        urls,
        timeout: Duration::from_millis(c.timeout.0.max(1) as u64),
        basic_auth: http.basic_auth.as_ref().map(|b| {
            (
                b.username.as_ref().map(|u| u.0.clone()).unwrap_or_default(),
                b.password
                    .as_ref()
                    .map(|p| p.expose().to_string())
                    .unwrap_or_default(),
            )
        }),
        authorization: http.authorization.as_ref().and_then(|a| {
            a.credentials
                .as_ref()
                .map(|c| format!("{} {}", a.auth_type, c.expose()))
        }),
        relabel: c.alert_relabel_configs.clone(),
    }
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
}
