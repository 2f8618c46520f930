//! A scrape pool: the targets of one job and their loops.
//!
//! Mirrors upstream `scrapePool` (`Sync`, `sync`, `reload`, `stop`, `refreshTargetLimitErr`)
//! in `scrape/scrape.go`, with one deliberate difference: a reload that changes a job's
//! settings does not restart its loops. A loop whose target (labels and URL) is unchanged
//! receives the new settings and keeps its scrape cache, staleness state and phase, so a
//! reload loses no sample and writes no spurious staleness marker (upstream restarts every
//! loop of a changed job and relies on its end-of-run markers being out of order).
//!
//! Targets come from target groups keyed by provider (`static`, `file_sd/<n>`) and source;
//! every change of groups or configuration re-derives all targets and diffs them by hash:
//! new targets start a loop, vanished ones stop theirs (with end-of-run staleness).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::RwLock;
use tokio::runtime::Handle;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::model::Labels;
use crate::scrape::error::ScrapeError;
use crate::scrape::metrics::ScrapeMetrics;
use crate::scrape::scrape_loop::{Control, LoopSettings, ScrapeLoop, TargetStatus};
use crate::scrape::scraper::HttpScraper;
use crate::scrape::settings::{PoolConfig, TargetGroup};
use crate::scrape::target::{targets_from_group, Target};
use crate::storage::Appendable;

/// What every loop of a manager shares.
#[derive(Clone)]
pub(crate) struct PoolEnv {
    pub rt: Handle,
    pub appendable: Arc<dyn Appendable>,
    pub metrics: Arc<ScrapeMetrics>,
    pub shutdown: watch::Receiver<bool>,
    pub offset_seed: u64,
    pub first_scrape_within: Option<Duration>,
}

struct LoopEntry {
    target: Target,
    settings: Arc<LoopSettings>,
    ctl: mpsc::UnboundedSender<Control>,
    status: Arc<RwLock<TargetStatus>>,
    join: JoinHandle<()>,
}

/// One active target as the UI and API show it.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetSnapshot {
    /// The job (scrape pool) name.
    pub scrape_pool: String,
    pub scrape_url: String,
    /// Labels attached to the target's samples.
    pub labels: Labels,
    /// Labels before relabeling.
    pub discovered_labels: Labels,
    pub interval: Duration,
    pub timeout: Duration,
    /// Health, last error, last scrape time and duration.
    pub status: TargetStatus,
}

/// A target that `relabel_configs` dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DroppedTarget {
    pub scrape_pool: String,
    pub discovered_labels: Labels,
}

pub(crate) struct ScrapePool {
    cfg: Arc<PoolConfig>,
    scraper: Arc<HttpScraper>,
    groups: BTreeMap<(String, String), TargetGroup>,
    loops: HashMap<u64, LoopEntry>,
    order: Vec<u64>,
    dropped: Vec<Labels>,
    errors: Vec<String>,
    retiring: Vec<JoinHandle<()>>,
    env: PoolEnv,
}

impl ScrapePool {
    pub(crate) fn new(cfg: Arc<PoolConfig>, scraper: Arc<HttpScraper>, env: PoolEnv) -> Self {
        ScrapePool {
            cfg,
            scraper,
            groups: BTreeMap::new(),
            loops: HashMap::new(),
            order: Vec::new(),
            dropped: Vec::new(),
            errors: Vec::new(),
            retiring: Vec::new(),
            env,
        }
    }

    pub(crate) fn scraper(&self) -> &Arc<HttpScraper> {
        &self.scraper
    }

    /// Replaces every group of `provider`; call [`ScrapePool::sync`] afterwards.
    pub(crate) fn set_groups(&mut self, provider: &str, groups: Vec<TargetGroup>) {
        self.groups.retain(|(p, _), _| p != provider);
        for g in groups {
            self.groups
                .insert((provider.to_string(), g.source.clone()), g);
        }
    }

    /// Drops the groups of providers not in `keep`.
    pub(crate) fn retain_providers(&mut self, keep: &HashSet<String>) {
        self.groups.retain(|(p, _), _| keep.contains(p));
    }

    /// Takes a new configuration and HTTP client; call [`ScrapePool::sync`] afterwards.
    pub(crate) fn set_config(&mut self, cfg: Arc<PoolConfig>, scraper: Arc<HttpScraper>) {
        self.cfg = cfg;
        self.scraper = scraper;
    }

    fn settings_for(&self, t: &Target, forced: &Option<ScrapeError>) -> Arc<LoopSettings> {
        let c = &self.cfg;
        Arc::new(LoopSettings {
            target: t.clone(),
            target_labels: t.labels(),
            honor_labels: c.honor_labels,
            honor_timestamps: c.honor_timestamps,
            track_timestamps_staleness: c.track_timestamps_staleness,
            metric_relabel_configs: c.metric_relabel_configs.clone(),
            limits: c.limits,
            scraper: Arc::clone(&self.scraper),
            forced_error: forced.clone(),
            offset_seed: self.env.offset_seed,
            first_scrape_within: self.env.first_scrape_within,
            job: c.job_name.clone(),
        })
    }

    /// Re-derives the targets from the groups and the configuration and reconciles the
    /// loops: unchanged targets keep running (with updated settings if any changed), new
    /// ones start, vanished ones stop with end-of-run staleness.
    pub(crate) fn sync(&mut self) {
        let mut targets: Vec<Target> = Vec::new();
        let mut seen = HashSet::new();
        let mut dropped = Vec::new();
        let mut errors = Vec::new();
        for g in self.groups.values() {
            let (active, d, errs) = targets_from_group(g, &self.cfg);
            for t in active {
                if seen.insert(t.hash()) {
                    targets.push(t);
                }
            }
            dropped.extend(d);
            for e in errs {
                tracing::warn!(job = %self.cfg.job_name, error = %e, "creating target failed");
                errors.push(e.to_string());
            }
        }
        let keep = self.cfg.keep_dropped_targets;
        if keep > 0 && dropped.len() as u64 > keep {
            dropped.truncate(keep as usize);
        }
        self.dropped = dropped;
        self.errors = errors;

        let limit = self.cfg.target_limit;
        let forced = if limit > 0 && targets.len() as u64 > limit {
            ScrapeMetrics::inc(&self.env.metrics.target_limit);
            Some(ScrapeError::TargetLimit {
                targets: targets.len(),
                limit,
            })
        } else {
            None
        };

        let mut next = HashMap::with_capacity(targets.len());
        let mut order = Vec::with_capacity(targets.len());
        for t in targets {
            let settings = self.settings_for(&t, &forced);
            let hash = t.hash();
            order.push(hash);
            let entry = match self.loops.remove(&hash) {
                Some(mut e) => {
                    if !e.settings.same_as(&settings) {
                        // A send fails only when the loop already ended; nothing to update.
                        let _ = e.ctl.send(Control::Update(Arc::clone(&settings)));
                        e.settings = settings;
                    }
                    e.target = t;
                    e
                }
                None => self.start_loop(t, settings),
            };
            next.insert(hash, entry);
        }
        for (_, e) in self.loops.drain() {
            let _ = e.ctl.send(Control::Stop);
            self.retiring.push(e.join);
        }
        self.loops = next;
        self.order = order;
        self.retiring.retain(|j| !j.is_finished());
    }

    fn start_loop(&self, target: Target, settings: Arc<LoopSettings>) -> LoopEntry {
        let (tx, rx) = mpsc::unbounded_channel();
        let status = Arc::new(RwLock::new(TargetStatus::default()));
        let lp = ScrapeLoop::new(
            Arc::clone(&settings),
            Arc::clone(&self.env.appendable),
            Arc::clone(&status),
            Arc::clone(&self.env.metrics),
        );
        let join = self.env.rt.spawn(lp.run(rx, self.env.shutdown.clone()));
        LoopEntry {
            target,
            settings,
            ctl: tx,
            status,
            join,
        }
    }

    /// Stops every loop (with end-of-run staleness) and forgets all targets.
    pub(crate) fn stop_all(&mut self) {
        self.groups.clear();
        for (_, e) in self.loops.drain() {
            let _ = e.ctl.send(Control::Stop);
            self.retiring.push(e.join);
        }
        self.order.clear();
        self.dropped.clear();
    }

    /// Every task this pool started that may still run, for a graceful shutdown.
    pub(crate) fn take_join_handles(&mut self) -> Vec<JoinHandle<()>> {
        let mut out = std::mem::take(&mut self.retiring);
        out.extend(self.loops.drain().map(|(_, e)| e.join));
        self.order.clear();
        out
    }

    /// Active targets in discovery order, and dropped ones.
    pub(crate) fn snapshot(&self) -> (Vec<TargetSnapshot>, Vec<DroppedTarget>) {
        let job = &self.cfg.job_name;
        let active = self
            .order
            .iter()
            .filter_map(|h| self.loops.get(h))
            .map(|e| TargetSnapshot {
                scrape_pool: job.clone(),
                scrape_url: e.target.url().to_string(),
                labels: e.target.labels(),
                discovered_labels: e.target.discovered_labels().clone(),
                interval: e.target.interval(),
                timeout: e.target.timeout(),
                status: e.status.read().clone(),
            })
            .collect();
        let dropped = self
            .dropped
            .iter()
            .map(|d| DroppedTarget {
                scrape_pool: job.clone(),
                discovered_labels: d.clone(),
            })
            .collect();
        (active, dropped)
    }

    /// Errors of the last sync (invalid targets).
    pub(crate) fn errors(&self) -> &[String] {
        &self.errors
    }

    pub(crate) fn counts(&self) -> (usize, usize) {
        (self.loops.len(), self.dropped.len())
    }
}
