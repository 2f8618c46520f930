//! One remote-write queue (upstream `storage/remote/queue_manager.go`): a [`Watcher`]
//! thread reads the WAL and spreads each record's samples over shards by series, each
//! shard batches up to `max_samples_per_send` samples or `batch_send_deadline` and sends
//! them with retries, and the number of shards follows the throughput.
//!
//! Delivery: a WAL record's position counts as sent when every sample of it and of the
//! records before it has been sent (or refused by the receiver); that position is saved
//! under the data directory (`promtui-remote/<queue>/progress`) after every successful
//! request (a small write and rename, no fsync: a killed process loses nothing written)
//! and when the queue stops, and a restarted queue reads on from it. Nothing is lost
//! while the remote is down or promtui restarts; a `kill -9` can only resend samples of a
//! record whose other samples were still in flight in another shard, or a request that
//! succeeded in the microseconds before the save.
//!
//! Backpressure stops at the WAL: a full shard blocks the watcher thread, never an
//! appender, since ingestion only writes the WAL.

use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio::sync::mpsc;

use super::client::{SendOutcome, WriteClient};
use super::proto::{encode_write_request_wire, snappy_compress, WireSeries};
use super::watcher::{WalPosition, WatchedSample, Watcher, WatcherSink};
use crate::config::{QueueConfig, RemoteWriteConfig};
use crate::model::relabel;
use crate::model::Labels;

/// Counters and gauges of one queue, exposed on `/metrics` with upstream's names.
#[derive(Default, Debug)]
pub struct QueueMetrics {
    pub samples_total: AtomicU64,
    pub samples_failed: AtomicU64,
    pub samples_retried: AtomicU64,
    pub samples_dropped: AtomicU64,
    pub samples_in: AtomicU64,
    pub samples_pending: AtomicI64,
    pub bytes_total: AtomicU64,
    pub highest_sent_ms: AtomicI64,
    pub highest_read_ms: AtomicI64,
    pub shards: AtomicU64,
    pub shards_desired: AtomicU64,
    pub requests_total: AtomicU64,
    /// Nanoseconds spent in successful sends.
    pub send_nanos: AtomicU64,
    pub current_segment: AtomicU64,
    /// `queue_config` as the gauges upstream exports show it.
    pub shards_min: AtomicU64,
    pub shards_max: AtomicU64,
    pub shard_capacity: AtomicU64,
    pub max_samples_per_send: AtomicU64,
}

/// Delivery progress: which WAL records are fully sent.
#[derive(Debug, Default)]
struct Progress {
    next_seq: u64,
    /// Records handed on, oldest first: samples still unsent, position after the record.
    pending: BTreeMap<u64, (usize, WalPosition)>,
    /// Everything before this position is sent.
    acked: WalPosition,
    /// Newest timestamp in what is acked.
    acked_max_t: i64,
    dirty: bool,
}

impl Progress {
    fn register(&mut self, n: usize, after: WalPosition) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.pending.insert(seq, (n, after));
        if n == 0 {
            self.advance();
        }
        seq
    }

    fn ack(&mut self, seq: u64, n: usize, max_t: i64) {
        if let Some(e) = self.pending.get_mut(&seq) {
            e.0 = e.0.saturating_sub(n);
        }
        self.acked_max_t = self.acked_max_t.max(max_t);
        self.advance();
    }

    fn advance(&mut self) {
        while let Some(e) = self.pending.first_entry() {
            if e.get().0 > 0 {
                break;
            }
            self.acked = e.get().1;
            e.remove();
            self.dirty = true;
        }
    }
}

/// The progress file: `segment offset max_t`.
fn load_progress(path: &Path) -> Option<(WalPosition, i64)> {
    let text = std::fs::read_to_string(path).ok()?;
    let mut it = text.split_whitespace();
    let segment = it.next()?.parse().ok()?;
    let offset = it.next()?.parse().ok()?;
    let max_t = it.next()?.parse().ok()?;
    Some((WalPosition { segment, offset }, max_t))
}

fn save_progress(path: &Path, pos: WalPosition, max_t: i64) -> std::io::Result<()> {
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d)?;
    }
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, format!("{} {} {}\n", pos.segment, pos.offset, max_t))?;
    std::fs::rename(&tmp, path)
}

/// A batch of one WAL record's samples for one shard.
struct Chunk {
    seq: u64,
    samples: Vec<WatchedSample>,
}

/// Everything a shard and the watcher share.
struct Shared {
    name: String,
    url: String,
    cfg: QueueConfig,
    client: WriteClient,
    metrics: Arc<QueueMetrics>,
    progress: Mutex<Progress>,
    progress_file: PathBuf,
    /// Senders of the running shards; replaced on resharding.
    shards: tokio::sync::RwLock<Vec<mpsc::Sender<Chunk>>>,
    stop: Arc<AtomicBool>,
    /// Set when shards must give up retrying (flush deadline passed).
    abort: AtomicBool,
    last_send_ok: Mutex<Option<Instant>>,
    persist_lock: Mutex<()>,
}

impl Shared {
    fn ack(&self, seqs: &[(u64, usize)], max_t: i64) {
        let mut p = self.progress.lock();
        for &(seq, n) in seqs {
            p.ack(seq, n, max_t);
        }
    }

    /// Saves the delivery watermark when it moved. Serialized, so the file only moves
    /// forward.
    fn persist(&self) {
        let _one_at_a_time = self.persist_lock.lock();
        let (pos, t, dirty) = {
            let mut p = self.progress.lock();
            let d = p.dirty;
            p.dirty = false;
            (p.acked, p.acked_max_t, d)
        };
        if dirty {
            if let Err(e) = save_progress(&self.progress_file, pos, t) {
                tracing::warn!(queue = %self.name, file = %self.progress_file.display(), "remote write: saving progress: {e}");
            }
        }
    }
}

/// A running queue.
pub struct Queue {
    shared: Arc<Shared>,
    watcher: Option<std::thread::JoinHandle<()>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    /// The configuration it runs, to tell an unchanged queue on reload.
    pub(crate) config: RemoteWriteConfig,
    /// The external labels it adds.
    pub(crate) external_labels: Labels,
}

/// The key a queue's saved progress lives under: its `name`, or a hash of its URL.
pub fn queue_key(cfg: &RemoteWriteConfig) -> String {
    if !cfg.name.is_empty() {
        let safe: String = cfg
            .name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        return format!("name-{safe}");
    }
    let url = cfg.url.as_deref().unwrap_or("");
    format!("url-{:016x}", xxhash_rust::xxh64::xxh64(url.as_bytes(), 0))
}

/// `remote_name` label of a queue: its name, or a short hash of its URL as upstream.
pub fn remote_name(cfg: &RemoteWriteConfig) -> String {
    if !cfg.name.is_empty() {
        return cfg.name.clone();
    }
    let url = cfg.url.as_deref().unwrap_or("");
    format!(
        "{:06x}",
        xxhash_rust::xxh64::xxh64(url.as_bytes(), 0) & 0xff_ffff
    )
}

impl Queue {
    /// Starts a queue reading `wal_dir`, saving progress under `state_dir`. Must run inside
    /// a tokio runtime.
    pub fn start(
        cfg: &RemoteWriteConfig,
        external_labels: &Labels,
        wal_dir: &Path,
        state_dir: &Path,
    ) -> Result<Queue, String> {
        let client = WriteClient::new(cfg)?;
        let name = remote_name(cfg);
        let qc = cfg.queue_config.clone();
        let metrics = Arc::new(QueueMetrics::default());
        metrics.shards_min.store(qc.min_shards, Ordering::Relaxed);
        metrics.shards_max.store(qc.max_shards, Ordering::Relaxed);
        metrics.shard_capacity.store(qc.capacity, Ordering::Relaxed);
        metrics
            .max_samples_per_send
            .store(qc.max_samples_per_send, Ordering::Relaxed);
        let progress_file = state_dir.join(queue_key(cfg)).join("progress");
        let (start, max_t) = match load_progress(&progress_file) {
            Some(p) => p,
            None => (
                Watcher::end_of_wal(wal_dir).map_err(|e| e.to_string())?,
                i64::MIN,
            ),
        };
        let stop = Arc::new(AtomicBool::new(false));
        let shared = Arc::new(Shared {
            name: name.clone(),
            url: client.url().to_string(),
            cfg: qc.clone(),
            client,
            metrics: metrics.clone(),
            progress: Mutex::new(Progress {
                acked: start,
                acked_max_t: max_t,
                ..Default::default()
            }),
            progress_file,
            shards: tokio::sync::RwLock::new(Vec::new()),
            stop: stop.clone(),
            abort: AtomicBool::new(false),
            last_send_ok: Mutex::new(None),
            persist_lock: Mutex::new(()),
        });
        let mut tasks = Vec::new();
        let n = qc.min_shards.max(1) as usize;
        let handles = start_shards(&shared, n);
        tasks.push(tokio::spawn(supervise(shared.clone(), handles)));
        // The series mapper: external labels (the series' own win), then relabeling.
        let ext = external_labels.clone();
        let relabels = cfg.write_relabel_configs.clone();
        let map = Arc::new(move |l: &Labels| -> Option<Labels> {
            let with_ext = if ext.is_empty() {
                l.clone()
            } else {
                let mut b = l.builder();
                for e in ext.iter() {
                    if l.get(&e.name).is_none() {
                        b.set(&e.name, &e.value);
                    }
                }
                b.labels()
            };
            if relabels.is_empty() {
                return Some(with_ext);
            }
            relabel::process_owned(with_ext, &relabels).filter(|l| !l.is_empty())
        });
        let watcher = Watcher::new(wal_dir, start, max_t, map, stop.clone());
        let mut sink = Sink {
            shared: shared.clone(),
            buckets: Vec::new(),
        };
        let wname = name.clone();
        let watcher = std::thread::Builder::new()
            .name(format!("remote-wal-{name}"))
            .spawn(move || {
                if let Err(e) = watcher.run(&mut sink) {
                    tracing::error!(queue = %wname, "remote write stopped reading the WAL: {e}");
                }
            })
            .map_err(|e| format!("starting the WAL watcher thread: {e}"))?;
        tracing::info!(queue = %name, url = %shared.url, from = ?start, "remote write queue started");
        Ok(Queue {
            shared,
            watcher: Some(watcher),
            tasks,
            config: cfg.clone(),
            external_labels: external_labels.clone(),
        })
    }

    pub fn metrics(&self) -> &Arc<QueueMetrics> {
        &self.shared.metrics
    }

    pub fn name(&self) -> &str {
        &self.shared.name
    }

    pub fn url(&self) -> &str {
        &self.shared.url
    }

    /// Stops reading, gives the shards up to `flush` to send what they hold, and saves the
    /// progress: whatever was not sent is read from the WAL again by the next queue.
    pub async fn stop(mut self, flush: Duration) {
        self.shared.stop.store(true, Ordering::Relaxed);
        // Closing the senders lets the shards flush and end (the watcher drops its copies
        // when its current record is handed on).
        self.shared.shards.write().await.clear();
        let deadline = tokio::time::sleep(flush);
        tokio::pin!(deadline);
        let all = futures_join(std::mem::take(&mut self.tasks));
        tokio::pin!(all);
        tokio::select! {
            _ = &mut all => {}
            _ = &mut deadline => {
                self.shared.abort.store(true, Ordering::Relaxed);
                tracing::warn!(queue = %self.shared.name, "remote write: flush deadline passed; unsent samples stay in the WAL for the next start");
                all.await;
            }
        }
        if let Some(w) = self.watcher.take() {
            let _ = tokio::task::spawn_blocking(move || w.join()).await;
        }
        self.shared.persist();
        tracing::info!(queue = %self.shared.name, "remote write queue stopped");
    }
}

async fn futures_join(tasks: Vec<tokio::task::JoinHandle<()>>) {
    for t in tasks {
        let _ = t.await;
    }
}

/// Spawns `n` shards and installs their senders.
fn start_shards(shared: &Arc<Shared>, n: usize) -> Vec<tokio::task::JoinHandle<()>> {
    let per_chunk = shared.cfg.max_samples_per_send.max(1);
    let bound = (shared.cfg.capacity / per_chunk).max(1) as usize;
    let mut senders = Vec::with_capacity(n);
    let mut handles = Vec::with_capacity(n);
    for _ in 0..n {
        let (tx, rx) = mpsc::channel(bound);
        senders.push(tx);
        handles.push(tokio::spawn(run_shard(shared.clone(), rx)));
    }
    // Only called with no sender installed (start, or under the resharding write lock,
    // which passes the vector in instead); try_write cannot fail here.
    if let Ok(mut s) = shared.shards.try_write() {
        *s = senders;
    }
    shared.metrics.shards.store(n as u64, Ordering::Relaxed);
    handles
}

/// Every 10 s: saves progress, and reshards when the desired number of shards moved more
/// than 30% away from the current (upstream's `calculateDesiredShards`).
async fn supervise(shared: Arc<Shared>, mut handles: Vec<tokio::task::JoinHandle<()>>) {
    const EWMA: f64 = 0.2;
    const UPDATE: Duration = Duration::from_secs(10);
    let m = shared.metrics.clone();
    let mut last_in = 0u64;
    let mut last_out = 0u64;
    let mut last_nanos = 0u64;
    let mut rate_in: Option<f64> = None;
    let mut rate_out: Option<f64> = None;
    let mut rate_nanos: Option<f64> = None;
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    let mut last_update = Instant::now();
    loop {
        tick.tick().await;
        shared.persist();
        if shared.stop.load(Ordering::Relaxed) {
            // Wait for the shards (closed by `Queue::stop`) to end.
            futures_join(handles).await;
            return;
        }
        if last_update.elapsed() < UPDATE {
            continue;
        }
        let secs = last_update.elapsed().as_secs_f64();
        last_update = Instant::now();
        let (i, o, ns) = (
            m.samples_in.load(Ordering::Relaxed),
            m.samples_total.load(Ordering::Relaxed),
            m.send_nanos.load(Ordering::Relaxed),
        );
        let upd = |r: &mut Option<f64>, v: f64| {
            *r = Some(match *r {
                None => v,
                Some(x) => x + EWMA * (v - x),
            })
        };
        upd(&mut rate_in, (i - last_in) as f64 / secs);
        upd(&mut rate_out, (o - last_out) as f64 / secs);
        upd(&mut rate_nanos, (ns - last_nanos) as f64 / secs);
        (last_in, last_out, last_nanos) = (i, o, ns);
        let current = m.shards.load(Ordering::Relaxed) as f64;
        let (Some(rin), Some(rout), Some(rns)) = (rate_in, rate_out, rate_nanos) else {
            continue;
        };
        if rout <= 0.0 {
            continue;
        }
        let delay = (m.highest_read_ms.load(Ordering::Relaxed)
            - m.highest_sent_ms.load(Ordering::Relaxed))
        .max(0) as f64
            / 1000.0;
        let desired = desired_shards(
            Rates {
                samples_in: rin,
                samples_out: rout,
                send_seconds: rns / 1e9,
                delay_seconds: delay,
            },
            current as u64,
            shared.cfg.min_shards,
            shared.cfg.max_shards,
        );
        m.shards_desired.store(desired, Ordering::Relaxed);
        if desired == current as u64 {
            continue;
        }
        // Do not reshard while sends fail: the old shards could not flush.
        let recent = shared
            .last_send_ok
            .lock()
            .is_some_and(|t| t.elapsed() < shared.cfg.batch_send_deadline.as_std() * 2 + UPDATE);
        if !recent {
            continue;
        }
        tracing::info!(queue = %shared.name, from = current, to = desired, "remote write: resharding");
        let mut guard = shared.shards.write().await;
        guard.clear();
        futures_join(std::mem::take(&mut handles)).await;
        // New shards only start once the old ones sent everything, so a series' samples
        // stay in order.
        let per_chunk = shared.cfg.max_samples_per_send.max(1);
        let bound = (shared.cfg.capacity / per_chunk).max(1) as usize;
        for _ in 0..desired {
            let (tx, rx) = mpsc::channel(bound);
            guard.push(tx);
            handles.push(tokio::spawn(run_shard(shared.clone(), rx)));
        }
        m.shards.store(desired, Ordering::Relaxed);
    }
}

/// Smoothed per-second rates a queue's shard count is computed from.
#[derive(Clone, Copy, Debug)]
struct Rates {
    /// Samples read from the WAL.
    samples_in: f64,
    /// Samples sent.
    samples_out: f64,
    /// Seconds spent in successful sends (summed over shards).
    send_seconds: f64,
    /// How far the newest sent sample is behind the newest read one.
    delay_seconds: f64,
}

/// Upstream's `calculateDesiredShards`: the shards needed to send what comes in plus 5%
/// of the backlog per second, given the time one sample takes to send; the current count
/// when the result is within 30% of it (no flapping) or nothing was sent, clamped to
/// `[min, max]`.
fn desired_shards(r: Rates, current: u64, min: u64, max: u64) -> u64 {
    let (min, max) = (min.max(1), max.max(1));
    if r.samples_out <= 0.0 {
        return current.clamp(min, max);
    }
    let backlog = r.delay_seconds * r.samples_in;
    let time_per_sample = r.send_seconds / r.samples_out;
    let want = time_per_sample * (r.samples_in + 0.05 * backlog);
    let cur = current as f64;
    if want > cur * 0.7 && want < cur * 1.3 {
        return current.clamp(min, max);
    }
    (want.ceil() as u64).clamp(min, max)
}

/// One shard: batches and sends.
async fn run_shard(shared: Arc<Shared>, mut rx: mpsc::Receiver<Chunk>) {
    let max = shared.cfg.max_samples_per_send.max(1) as usize;
    let deadline = shared
        .cfg
        .batch_send_deadline
        .as_std()
        .max(Duration::from_millis(1));
    let mut batch: Vec<WatchedSample> = Vec::with_capacity(max);
    let mut seqs: VecDeque<(u64, usize)> = VecDeque::new();
    let mut buf = Vec::new();
    let timer = tokio::time::sleep(deadline);
    tokio::pin!(timer);
    loop {
        if shared.abort.load(Ordering::Relaxed) {
            // Past the flush deadline: what is left is read from the WAL next time.
            return;
        }
        tokio::select! {
            c = rx.recv() => match c {
                Some(c) => {
                    if batch.is_empty() {
                        timer.as_mut().reset(tokio::time::Instant::now() + deadline);
                    }
                    seqs.push_back((c.seq, c.samples.len()));
                    batch.extend(c.samples);
                    while batch.len() >= max {
                        send_batch(&shared, &mut batch, &mut seqs, max, &mut buf).await;
                        timer.as_mut().reset(tokio::time::Instant::now() + deadline);
                    }
                }
                None => {
                    while !batch.is_empty() && !shared.abort.load(Ordering::Relaxed) {
                        send_batch(&shared, &mut batch, &mut seqs, max, &mut buf).await;
                    }
                    return;
                }
            },
            _ = &mut timer, if !batch.is_empty() => {
                send_batch(&shared, &mut batch, &mut seqs, max, &mut buf).await;
                timer.as_mut().reset(tokio::time::Instant::now() + deadline);
            }
        }
    }
}

/// Sends the first `max` samples of `batch` (all of them if fewer), with retries.
async fn send_batch(
    shared: &Shared,
    batch: &mut Vec<WatchedSample>,
    seqs: &mut VecDeque<(u64, usize)>,
    max: usize,
    buf: &mut Vec<u8>,
) {
    let n = batch.len().min(max);
    let mut taken: Vec<WatchedSample> = if n == batch.len() {
        std::mem::take(batch)
    } else {
        batch.drain(..n).collect()
    };
    // Which records these samples belong to.
    let mut acks = Vec::new();
    let mut left = n;
    while left > 0 {
        let Some(front) = seqs.front_mut() else { break };
        let k = front.1.min(left);
        acks.push((front.0, k));
        front.1 -= k;
        left -= k;
        if front.1 == 0 {
            seqs.pop_front();
        }
    }
    // Records that contributed no sample to this shard are acked as they come.
    while seqs.front().is_some_and(|f| f.1 == 0) {
        if let Some(f) = seqs.pop_front() {
            acks.push((f.0, 0));
        }
    }
    let m = &shared.metrics;
    if shared.cfg.sample_age_limit.0 > 0 {
        let oldest = crate::model::time::now_ms() - shared.cfg.sample_age_limit.0;
        let before = taken.len();
        taken.retain(|s| s.t >= oldest);
        let old = (before - taken.len()) as u64;
        if old > 0 {
            m.samples_dropped.fetch_add(old, Ordering::Relaxed);
        }
    }
    let max_t = taken.iter().map(|s| s.t).max().unwrap_or(i64::MIN);
    let count = taken.len() as u64;
    if count == 0 {
        m.samples_pending.fetch_sub(n as i64, Ordering::Relaxed);
        shared.ack(&acks, i64::MIN);
        return;
    }
    // Group by series (same Arc): a stable sort keeps each series' samples in order.
    taken.sort_by_key(|s| Arc::as_ptr(&s.labels) as usize);
    let flat: Vec<(i64, f64)> = taken.iter().map(|s| (s.t, s.v)).collect();
    let mut series: Vec<WireSeries<'_>> = Vec::new();
    let mut start = 0;
    for i in 1..=taken.len() {
        if i == taken.len() || !Arc::ptr_eq(&taken[i].labels, &taken[start].labels) {
            series.push(WireSeries {
                labels_wire: &taken[start].labels.wire,
                samples: &flat[start..i],
            });
            start = i;
        }
    }
    buf.clear();
    encode_write_request_wire(buf, &series);
    drop(series);
    // Shared by the retries without a copy.
    let body = axum::body::Bytes::from(snappy_compress(buf));
    let bytes = body.len() as u64;
    let mut backoff = shared.cfg.min_backoff.as_std();
    let max_backoff = shared.cfg.max_backoff.as_std();
    let mut attempts = 0u64;
    let mut last_log = Instant::now();
    loop {
        let started = Instant::now();
        match shared.client.store(body.clone()).await {
            SendOutcome::Sent => {
                if attempts > 0 {
                    tracing::info!(queue = %shared.name, url = %shared.url, attempts, "remote write: sending again after failures");
                }
                m.samples_total.fetch_add(count, Ordering::Relaxed);
                m.bytes_total.fetch_add(bytes, Ordering::Relaxed);
                m.requests_total.fetch_add(1, Ordering::Relaxed);
                m.send_nanos
                    .fetch_add(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
                m.highest_sent_ms.fetch_max(max_t, Ordering::Relaxed);
                *shared.last_send_ok.lock() = Some(Instant::now());
                break;
            }
            SendOutcome::Refused { reason } => {
                m.samples_failed.fetch_add(count, Ordering::Relaxed);
                tracing::error!(queue = %shared.name, url = %shared.url, samples = count, "remote write: non-recoverable error, dropping the batch: {reason}");
                break;
            }
            SendOutcome::Retry {
                reason,
                retry_after,
            } => {
                if shared.abort.load(Ordering::Relaxed) {
                    // Not acked: read from the WAL again by the next queue.
                    m.samples_pending.fetch_sub(n as i64, Ordering::Relaxed);
                    return;
                }
                m.samples_retried.fetch_add(count, Ordering::Relaxed);
                // One line per outage and shard, then one every ~minute, not one per retry.
                attempts += 1;
                if attempts == 1 || last_log.elapsed() >= Duration::from_secs(60) {
                    last_log = Instant::now();
                    tracing::warn!(queue = %shared.name, url = %shared.url, samples = count, attempts, ?backoff, "remote write: failed to send batch, retrying: {reason}");
                }
                let wait = retry_after.unwrap_or(backoff).min(max_backoff.max(backoff));
                let slept = tokio::time::sleep(wait);
                tokio::pin!(slept);
                // Wake up early to give up when the flush deadline passes.
                loop {
                    tokio::select! {
                        _ = &mut slept => break,
                        _ = tokio::time::sleep(Duration::from_millis(100)) => {
                            if shared.abort.load(Ordering::Relaxed) {
                                m.samples_pending.fetch_sub(n as i64, Ordering::Relaxed);
                                return;
                            }
                        }
                    }
                }
                backoff = (backoff * 2).min(max_backoff);
            }
        }
    }
    m.samples_pending.fetch_sub(n as i64, Ordering::Relaxed);
    shared.ack(&acks, max_t);
    // Saved at once: a `kill -9` now resends at most the requests in flight in other
    // shards, not a fraction of a second of traffic.
    shared.persist();
}

/// The watcher's view of the queue: spreads samples over the shards.
struct Sink {
    shared: Arc<Shared>,
    buckets: Vec<Vec<WatchedSample>>,
}

impl WatcherSink for Sink {
    fn append(&mut self, samples: Vec<WatchedSample>, after: WalPosition, dropped: u64) -> bool {
        let m = &self.shared.metrics;
        if dropped > 0 {
            m.samples_dropped.fetch_add(dropped, Ordering::Relaxed);
        }
        if self.shared.stop.load(Ordering::Relaxed) {
            return false;
        }
        // Cloned out of the lock: a send blocked on a full shard must not keep resharding
        // or stopping from replacing the shards.
        let shards = self.shared.shards.blocking_read().clone();
        if shards.is_empty() {
            return false;
        }
        let n = samples.len();
        let seq = self.shared.progress.lock().register(n, after);
        if n == 0 {
            return true;
        }
        m.samples_in.fetch_add(n as u64, Ordering::Relaxed);
        m.samples_pending.fetch_add(n as i64, Ordering::Relaxed);
        if let Some(t) = samples.iter().map(|s| s.t).max() {
            m.highest_read_ms.fetch_max(t, Ordering::Relaxed);
        }
        self.buckets.resize_with(shards.len(), Vec::new);
        if shards.len() == 1 {
            self.buckets[0] = samples;
        } else {
            for s in samples {
                // Same series, same shard: keeps each series' samples in order.
                let h = s.sref.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 17;
                self.buckets[(h % shards.len() as u64) as usize].push(s);
            }
        }
        for (i, b) in self.buckets.iter_mut().enumerate() {
            if b.is_empty() {
                continue;
            }
            let samples = std::mem::take(b);
            if shards[i].blocking_send(Chunk { seq, samples }).is_err() {
                return false;
            }
        }
        true
    }

    fn segment(&mut self, segment: u32) {
        self.shared
            .metrics
            .current_segment
            .store(segment as u64, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_advances_only_over_fully_sent_records() {
        let mut p = Progress::default();
        let pos = |o| WalPosition {
            segment: 1,
            offset: o,
        };
        let a = p.register(2, pos(10));
        let b = p.register(1, pos(20));
        let _c = p.register(0, pos(30));
        p.ack(b, 1, 5);
        assert_eq!(p.acked, WalPosition::default());
        p.ack(a, 1, 3);
        assert_eq!(p.acked, WalPosition::default());
        p.ack(a, 1, 4);
        assert_eq!(p.acked, pos(30));
        assert_eq!(p.acked_max_t, 5);
        assert!(p.pending.is_empty());
    }

    #[test]
    fn shards_follow_throughput_with_hysteresis() {
        let r = |inr: f64, secs: f64, delay: f64| Rates {
            samples_in: inr,
            samples_out: 1000.0,
            send_seconds: secs,
            delay_seconds: delay,
        };
        // 1000 samples/s in and out, each send second covers 250 samples: 4 shards.
        assert_eq!(desired_shards(r(1000.0, 4.0, 0.0), 1, 1, 50), 4);
        // Within 30% of the current count: unchanged.
        assert_eq!(desired_shards(r(1000.0, 4.0, 0.0), 5, 1, 50), 5);
        // A backlog asks for more; the maximum caps it.
        assert_eq!(desired_shards(r(1000.0, 4.0, 100.0), 4, 1, 50), 24);
        assert_eq!(desired_shards(r(1000.0, 4.0, 100.0), 4, 1, 10), 10);
        // Idle: down to the minimum; nothing sent: as is.
        assert_eq!(desired_shards(r(0.0, 0.0, 0.0), 8, 2, 50), 2);
        let none = Rates {
            samples_out: 0.0,
            ..r(10.0, 0.0, 0.0)
        };
        assert_eq!(desired_shards(none, 3, 1, 50), 3);
    }

    #[test]
    fn progress_file_round_trip() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("q/progress");
        assert!(load_progress(&f).is_none());
        let pos = WalPosition {
            segment: 7,
            offset: 1234,
        };
        save_progress(&f, pos, -5).unwrap();
        assert_eq!(load_progress(&f), Some((pos, -5)));
        std::fs::write(&f, "garbage").unwrap();
        assert!(load_progress(&f).is_none());
    }
}
