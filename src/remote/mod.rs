//! Remote storage: `remote_write` queues that send what promtui ingests to another store
//! (Prometheus, Mimir, Thanos receive, VictoriaMetrics, Cortex), the `remote_read` client
//! that merges a long-term store into queries, and the wire messages of both protocols,
//! which the receiver (`/api/v1/write`) and the read endpoint (`/api/v1/read`) in
//! `web/remote.rs` share.
//!
//! * [`proto`]: `prometheus.WriteRequest`, `ReadRequest`, `ReadResponse` (prost derive)
//!   and snappy block framing.
//! * [`watcher`]: tails the WAL read-only, as upstream's `tsdb/wlog/watcher.go`.
//! * [`queue`]: shards, batching, retries with backoff, dynamic sharding, saved progress
//!   (upstream `storage/remote/queue_manager.go`).
//! * [`read`]: the `remote_read` client and the fan-out querier (upstream
//!   `storage/remote/read.go`, `storage/fanout.go`).
//! * [`WriteManager`]: owns the queues; [`WriteManager::apply`] on reload keeps unchanged
//!   queues running and replaces changed ones, which resume from the saved position, so
//!   nothing pending is lost.

pub(crate) mod client;
pub mod proto;
pub(crate) mod queue;
pub(crate) mod read;
pub mod watcher;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

use crate::config::RemoteWriteConfig;
use crate::exposition::MetricsWriter;
use crate::model::Labels;

pub use queue::{Queue, QueueMetrics};

/// Why a queue could not be started.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("remote_write[{index}] ({url}): {reason}")]
    Queue {
        index: usize,
        url: String,
        reason: String,
    },
}

/// How long a stopping queue may keep sending before it leaves the rest to the WAL.
const FLUSH_DEADLINE: Duration = Duration::from_secs(5);

/// The running `remote_write` queues.
pub struct WriteManager {
    wal_dir: PathBuf,
    state_dir: PathBuf,
    queues: tokio::sync::Mutex<BTreeMap<String, Queue>>,
    /// (remote_name, url, metrics) of the running queues, for `/metrics`.
    shown: Mutex<Vec<(String, String, Arc<QueueMetrics>)>>,
}

impl WriteManager {
    /// A manager for the TSDB at `data_dir` (WAL in `promtui-wal/`, progress in `promtui-remote/`).
    pub fn new(data_dir: &Path) -> Arc<WriteManager> {
        Arc::new(WriteManager {
            wal_dir: data_dir.join(crate::tsdb::layout::WAL_DIR),
            state_dir: data_dir.join(crate::tsdb::layout::REMOTE_DIR),
            queues: tokio::sync::Mutex::new(BTreeMap::new()),
            shown: Mutex::new(Vec::new()),
        })
    }

    /// Makes the running queues those of `configs`: unchanged ones keep running, removed
    /// ones stop (flushing for up to [`FLUSH_DEADLINE`]), changed ones are stopped and
    /// started again from their saved position. Queues that could not start are reported;
    /// the others run.
    pub async fn apply(
        &self,
        configs: &[RemoteWriteConfig],
        external_labels: &Labels,
    ) -> Result<(), Vec<Error>> {
        let mut queues = self.queues.lock().await;
        let mut wanted: BTreeMap<String, (usize, &RemoteWriteConfig)> = BTreeMap::new();
        for (i, c) in configs.iter().enumerate() {
            wanted.insert(queue::queue_key(c), (i, c));
        }
        let ext_changed = |q: &Queue| q.external_labels != *external_labels;
        let keys: Vec<String> = queues.keys().cloned().collect();
        for k in keys {
            let keep = match (wanted.get(&k), queues.get(&k)) {
                (Some((_, c)), Some(q)) => same_config(&q.config, c) && !ext_changed(q),
                _ => false,
            };
            if !keep {
                if let Some(q) = queues.remove(&k) {
                    q.stop(FLUSH_DEADLINE).await;
                }
            }
        }
        let mut errs = Vec::new();
        for (k, (i, c)) in wanted {
            if queues.contains_key(&k) {
                continue;
            }
            match Queue::start(c, external_labels, &self.wal_dir, &self.state_dir) {
                Ok(q) => {
                    queues.insert(k, q);
                }
                Err(reason) => errs.push(Error::Queue {
                    index: i,
                    url: c.url.clone().unwrap_or_default(),
                    reason,
                }),
            }
        }
        *self.shown.lock() = queues
            .values()
            .map(|q| {
                (
                    q.name().to_string(),
                    q.url().to_string(),
                    q.metrics().clone(),
                )
            })
            .collect();
        if errs.is_empty() {
            Ok(())
        } else {
            Err(errs)
        }
    }

    /// Stops every queue, saving progress.
    pub async fn stop(&self) {
        let mut queues = self.queues.lock().await;
        for (_, q) in std::mem::take(&mut *queues) {
            q.stop(FLUSH_DEADLINE).await;
        }
        self.shown.lock().clear();
    }

    /// Writes the queues' families with upstream's names and `remote_name`/`url` labels.
    pub fn write_metrics(&self, w: &mut MetricsWriter) {
        let shown = self.shown.lock().clone();
        if shown.is_empty() {
            return;
        }
        type Get = fn(&QueueMetrics) -> f64;
        let families: [(&str, &str, &str, Get); 14] = [
            ("prometheus_remote_storage_samples_total", "counter", "Total number of samples sent to remote storage.", |m| load(&m.samples_total)),
            ("prometheus_remote_storage_samples_failed_total", "counter", "Total number of samples which failed on send to remote storage, non-recoverable errors.", |m| load(&m.samples_failed)),
            ("prometheus_remote_storage_samples_retried_total", "counter", "Total number of samples which failed on send to remote storage but were retried because the send error was recoverable.", |m| load(&m.samples_retried)),
            ("prometheus_remote_storage_samples_dropped_total", "counter", "Total number of samples which were dropped after being read from the WAL before being sent via remote write, either via relabelling, too old, or unintentionally because of an unknown reference ID.", |m| load(&m.samples_dropped)),
            ("prometheus_remote_storage_samples_pending", "gauge", "The number of samples pending in the queues shards to be sent to the remote storage.", |m| m.samples_pending.load(Ordering::Relaxed).max(0) as f64),
            ("prometheus_remote_storage_bytes_total", "counter", "The total number of bytes of data (not metadata) sent by the queue after compression.", |m| load(&m.bytes_total)),
            ("prometheus_remote_storage_queue_highest_sent_timestamp_seconds", "gauge", "Timestamp from a WAL sample, the highest timestamp successfully sent by this queue, in seconds since epoch.", |m| ms_to_secs(m.highest_sent_ms.load(Ordering::Relaxed))),
            ("prometheus_remote_storage_shards", "gauge", "The number of shards used for parallel sending to the remote storage.", |m| load(&m.shards)),
            ("prometheus_remote_storage_shards_desired", "gauge", "The number of shards that the queues shard calculation wants to run based on the rate of samples in vs. samples out.", |m| load(&m.shards_desired).max(load(&m.shards))),
            ("prometheus_remote_storage_shards_min", "gauge", "The minimum number of shards that the queue is allowed to run.", |m| load(&m.shards_min)),
            ("prometheus_remote_storage_shards_max", "gauge", "The maximum number of shards that the queue is allowed to run.", |m| load(&m.shards_max)),
            ("prometheus_remote_storage_shard_capacity", "gauge", "The capacity of each shard of the queue used for parallel sending to the remote storage.", |m| load(&m.shard_capacity)),
            ("prometheus_remote_storage_max_samples_per_send", "gauge", "The maximum number of samples to be sent, in a single request, to the remote storage.", |m| load(&m.max_samples_per_send)),
            ("prometheus_remote_storage_enqueue_retries_total", "counter", "Total number of times enqueue has failed because a shards queue was full.", |_| 0.0),
        ];
        for (name, kind, help, get) in families {
            w.family(name, kind, help);
            for (rn, url, m) in &shown {
                w.sample(name, &[("remote_name", rn), ("url", url)], get(m));
            }
        }
        // Only the totals of upstream's histogram are kept: one +Inf bucket.
        let h = "prometheus_remote_storage_sent_batch_duration_seconds";
        w.family(
            h,
            "histogram",
            "Duration of send calls to the remote storage.",
        );
        for (rn, url, m) in &shown {
            let labels = [("remote_name", rn.as_str()), ("url", url.as_str())];
            let count = load(&m.requests_total);
            w.sample(
                &format!("{h}_bucket"),
                &[labels[0], labels[1], ("le", "+Inf")],
                count,
            );
            w.sample(
                &format!("{h}_sum"),
                &labels,
                m.send_nanos.load(Ordering::Relaxed) as f64 / 1e9,
            );
            w.sample(&format!("{h}_count"), &labels, count);
        }
        w.family(
            "prometheus_remote_storage_samples_in_total",
            "counter",
            "Samples in to remote storage, compare to samples out for queue managers.",
        );
        let total_in: f64 = shown.iter().map(|(_, _, m)| load(&m.samples_in)).sum();
        w.sample("prometheus_remote_storage_samples_in_total", &[], total_in);
        w.family(
            "prometheus_remote_storage_highest_timestamp_in_seconds",
            "gauge",
            "Highest timestamp that has come into the remote storage via the Appender interface, in seconds since epoch.",
        );
        let highest = shown
            .iter()
            .map(|(_, _, m)| m.highest_read_ms.load(Ordering::Relaxed))
            .max()
            .unwrap_or(0);
        w.sample(
            "prometheus_remote_storage_highest_timestamp_in_seconds",
            &[],
            ms_to_secs(highest),
        );
        w.family(
            "prometheus_wal_watcher_current_segment",
            "gauge",
            "Current segment the WAL watcher is reading records from.",
        );
        for (rn, _, m) in &shown {
            w.sample(
                "prometheus_wal_watcher_current_segment",
                &[("consumer", rn)],
                load(&m.current_segment),
            );
        }
    }
}

fn load(a: &std::sync::atomic::AtomicU64) -> f64 {
    a.load(Ordering::Relaxed) as f64
}

fn ms_to_secs(ms: i64) -> f64 {
    if ms <= 0 {
        0.0
    } else {
        ms as f64 / 1000.0
    }
}

/// Whether two `remote_write` entries run the same queue (secrets compared too).
fn same_config(a: &RemoteWriteConfig, b: &RemoteWriteConfig) -> bool {
    let y = |c: &RemoteWriteConfig| serde_yaml::to_string(c).unwrap_or_default();
    y(a) == y(b) && a.http_client() == b.http_client()
}
