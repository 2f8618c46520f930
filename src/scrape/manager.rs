//! The scrape manager: owns one scrape pool per job, applies configurations by diffing
//! them against what runs, runs file-based discovery, and stops everything gracefully.
//!
//! Mirrors upstream `scrape.Manager` (`ApplyConfig`, `reload`, `TargetsActive`,
//! `TargetsDropped`, `Stop`) together with the parts of `discovery.Manager` that static and
//! file discovery need:
//! - a job whose configuration is equal to the running one is not touched at all;
//! - a changed job keeps the loops of unchanged targets running (see [`super::pool`]);
//! - a removed job stops all its loops, which write end-of-run staleness markers;
//! - a job whose HTTP client cannot be built keeps running with its previous configuration
//!   and the error is returned (upstream logs "error reloading scrape pool" likewise);
//! - [`Manager::stop`] stops every loop without staleness markers and waits for them; every
//!   scrape already commits its own batch, so nothing is left uncommitted.
//!
//! The manager is a cheap clonable handle; snapshots ([`Manager::targets`],
//! [`Manager::metrics`]) only take short locks and never wait for a scrape.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::runtime::Handle;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::ScrapeConfig;
use crate::scrape::error::Error;
use crate::scrape::file_sd::{self, FileSdWatcher};
use crate::scrape::metrics::{MetricsSnapshot, PoolCounts, ScrapeMetrics};
use crate::scrape::pool::{DroppedTarget, PoolEnv, ScrapePool, TargetSnapshot};
use crate::scrape::scraper::HttpScraper;
use crate::scrape::settings::PoolConfig;
use crate::storage::Appendable;

/// Knobs of the manager itself (not of any job).
#[derive(Debug, Clone)]
pub struct ManagerOptions {
    /// Mixed into every target's scrape offset, so that several servers scraping the same
    /// targets do not all hit them at the same instant (upstream derives it from the
    /// hostname and external labels).
    pub offset_seed: u64,
    /// How often file_sd files are checked for changes.
    pub file_sd_poll_interval: Duration,
    /// Fit every target's first scrape into this window (keeping the targets' relative
    /// order) instead of the whole interval, so an interactive session shows data within
    /// a moment of starting; later scrapes keep that phase. `None`: upstream's spread
    /// over the whole interval.
    pub first_scrape_within: Option<Duration>,
}

impl Default for ManagerOptions {
    fn default() -> Self {
        ManagerOptions {
            offset_seed: 0,
            file_sd_poll_interval: Duration::from_secs(2),
            first_scrape_within: None,
        }
    }
}

/// Active and dropped targets of every pool, as of one moment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TargetsSnapshot {
    /// Active targets, by job name then discovery order.
    pub active: Vec<TargetSnapshot>,
    /// Targets dropped by relabeling.
    pub dropped: Vec<DroppedTarget>,
    /// Invalid discovered targets (`job: reason`).
    pub errors: Vec<String>,
}

struct PoolEntry {
    pool: Arc<Mutex<ScrapePool>>,
    cfg: Arc<PoolConfig>,
    watchers: Vec<JoinHandle<()>>,
}

struct Inner {
    env: PoolEnv,
    opts: ManagerOptions,
    shutdown_tx: watch::Sender<bool>,
    pools: Mutex<BTreeMap<String, PoolEntry>>,
    retired: Mutex<Vec<JoinHandle<()>>>,
    stopped: AtomicBool,
}

/// See the module docs.
#[derive(Clone)]
pub struct Manager {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Manager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Manager")
            .field(
                "jobs",
                &self.inner.pools.lock().keys().cloned().collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl Manager {
    /// A manager appending to `appendable`; loops run on the current tokio runtime.
    pub fn new(appendable: Arc<dyn Appendable>, opts: ManagerOptions) -> Result<Manager, Error> {
        let rt = Handle::try_current().map_err(Error::NoRuntime)?;
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        Ok(Manager {
            inner: Arc::new(Inner {
                env: PoolEnv {
                    rt,
                    appendable,
                    metrics: Arc::new(ScrapeMetrics::default()),
                    shutdown: shutdown_rx,
                    offset_seed: opts.offset_seed,
                    first_scrape_within: opts.first_scrape_within,
                },
                opts,
                shutdown_tx,
                pools: Mutex::new(BTreeMap::new()),
                retired: Mutex::new(Vec::new()),
                stopped: AtomicBool::new(false),
            }),
        })
    }

    /// Applies the `scrape_configs` of a loaded configuration.
    pub fn apply_scrape_configs(&self, cfgs: &[ScrapeConfig]) -> Result<(), Vec<Error>> {
        let pools: Vec<PoolConfig> = cfgs.iter().map(PoolConfig::from_config).collect();
        self.apply_config(pools)
    }

    /// Makes the running pools match `cfgs` (see the module docs). Jobs that could not be
    /// applied are reported; all others are applied regardless.
    pub fn apply_config(&self, cfgs: Vec<PoolConfig>) -> Result<(), Vec<Error>> {
        if self.inner.stopped.load(Ordering::SeqCst) {
            return Ok(());
        }
        ScrapeMetrics::inc(&self.inner.env.metrics.reloads);
        let mut errors = Vec::new();
        let mut wanted: BTreeMap<String, PoolConfig> = BTreeMap::new();
        for c in cfgs {
            if wanted.contains_key(&c.job_name) {
                errors.push(Error::DuplicateJob(c.job_name.clone()));
                continue;
            }
            wanted.insert(c.job_name.clone(), c);
        }
        let mut pools = self.inner.pools.lock();
        let gone: Vec<String> = pools
            .keys()
            .filter(|k| !wanted.contains_key(*k))
            .cloned()
            .collect();
        for name in gone {
            if let Some(entry) = pools.remove(&name) {
                for w in &entry.watchers {
                    w.abort();
                }
                let mut p = entry.pool.lock();
                p.stop_all();
                let mut retired = self.inner.retired.lock();
                retired.retain(|j| !j.is_finished());
                retired.extend(p.take_join_handles());
            }
        }
        for (name, cfg) in wanted {
            match pools.get_mut(&name) {
                Some(entry) if *entry.cfg == cfg => {}
                Some(entry) => {
                    let scraper = if entry.cfg.http == cfg.http {
                        Arc::clone(entry.pool.lock().scraper())
                    } else {
                        match HttpScraper::new(&cfg.http) {
                            Ok(s) => Arc::new(s),
                            Err(source) => {
                                errors.push(Error::HttpClient { job: name, source });
                                continue;
                            }
                        }
                    };
                    let cfg = Arc::new(cfg);
                    let mut p = entry.pool.lock();
                    p.set_config(Arc::clone(&cfg), scraper);
                    if entry.cfg.static_groups != cfg.static_groups {
                        p.set_groups("static", cfg.static_groups.clone());
                    }
                    if entry.cfg.file_sd != cfg.file_sd {
                        for w in entry.watchers.drain(..) {
                            w.abort();
                        }
                        drop(p);
                        entry.watchers = self.start_file_sd(&entry.pool, &cfg);
                        p = entry.pool.lock();
                    }
                    p.sync();
                    drop(p);
                    entry.cfg = cfg;
                }
                None => {
                    let scraper = match HttpScraper::new(&cfg.http) {
                        Ok(s) => Arc::new(s),
                        Err(source) => {
                            errors.push(Error::HttpClient { job: name, source });
                            continue;
                        }
                    };
                    let cfg = Arc::new(cfg);
                    let pool = Arc::new(Mutex::new(ScrapePool::new(
                        Arc::clone(&cfg),
                        scraper,
                        self.inner.env.clone(),
                    )));
                    pool.lock().set_groups("static", cfg.static_groups.clone());
                    let watchers = self.start_file_sd(&pool, &cfg);
                    pool.lock().sync();
                    pools.insert(
                        name,
                        PoolEntry {
                            pool,
                            cfg,
                            watchers,
                        },
                    );
                }
            }
        }
        for entry in pools.values() {
            for e in entry.pool.lock().errors() {
                tracing::debug!(job = %entry.cfg.job_name, error = %e, "invalid target");
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// Reads every file_sd entry of `cfg` once (so targets exist right after the reload),
    /// puts the groups into the pool and starts the pollers.
    fn start_file_sd(
        &self,
        pool: &Arc<Mutex<ScrapePool>>,
        cfg: &PoolConfig,
    ) -> Vec<JoinHandle<()>> {
        let metrics = &self.inner.env.metrics;
        let mut providers: HashSet<String> = HashSet::from(["static".to_string()]);
        let mut handles = Vec::new();
        for (i, sd) in cfg.file_sd.iter().enumerate() {
            let provider = format!("file_sd/{i}");
            providers.insert(provider.clone());
            let mut w = FileSdWatcher::new(sd.clone());
            let groups = w.poll(metrics).unwrap_or_default();
            pool.lock().set_groups(&provider, groups);
            handles.push(self.inner.env.rt.spawn(file_sd::run(
                w,
                Arc::downgrade(pool),
                provider,
                self.inner.opts.file_sd_poll_interval,
                Arc::clone(metrics),
            )));
        }
        pool.lock().retain_providers(&providers);
        handles
    }

    /// Active and dropped targets of every job.
    pub fn targets(&self) -> TargetsSnapshot {
        let pools = self.inner.pools.lock();
        let mut out = TargetsSnapshot::default();
        for (job, entry) in pools.iter() {
            let p = entry.pool.lock();
            let (active, dropped) = p.snapshot();
            out.active.extend(active);
            out.dropped.extend(dropped);
            out.errors
                .extend(p.errors().iter().map(|e| format!("{job}: {e}")));
        }
        out
    }

    /// The scrape counters and per-job target counts.
    pub fn metrics(&self) -> MetricsSnapshot {
        let mut s = self.inner.env.metrics.snapshot();
        let pools = self.inner.pools.lock();
        for (job, entry) in pools.iter() {
            let (active, dropped) = entry.pool.lock().counts();
            s.active_targets += active;
            s.dropped_targets += dropped;
            s.pools.push(PoolCounts {
                job: job.clone(),
                active,
                dropped,
            });
        }
        s
    }

    /// Stops every loop and discovery task and waits for them; no staleness markers are
    /// written (a restart continues the series). Later configurations are ignored.
    pub async fn stop(&self) {
        self.inner.stopped.store(true, Ordering::SeqCst);
        // send_replace never fails, even when no receiver is left.
        self.inner.shutdown_tx.send_replace(true);
        let mut handles = std::mem::take(&mut *self.inner.retired.lock());
        {
            let mut pools = self.inner.pools.lock();
            for (_, entry) in std::mem::take(&mut *pools) {
                for w in &entry.watchers {
                    w.abort();
                }
                handles.extend(entry.pool.lock().take_join_handles());
            }
        }
        for h in handles {
            if let Err(e) = h.await {
                if e.is_panic() {
                    tracing::error!(error = %e, "scrape loop panicked");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Labels;
    use crate::scrape::memory::MemoryAppendable;

    #[test]
    fn needs_a_runtime() {
        let err =
            Manager::new(Arc::new(MemoryAppendable::new()), ManagerOptions::default()).unwrap_err();
        assert!(matches!(err, Error::NoRuntime(_)));
    }

    #[tokio::test]
    async fn bad_jobs_are_reported_and_the_rest_applied() {
        let m = Manager::new(Arc::new(MemoryAppendable::new()), ManagerOptions::default()).unwrap();
        // Port 9 on loopback: nothing listens; targets exist but are never up.
        let ok = PoolConfig::new("a").with_static_targets(&["127.0.0.1:9"], Labels::empty());
        let mut bad = PoolConfig::new("b").with_static_targets(&["127.0.0.1:9"], Labels::empty());
        bad.http.tls.ca = Some("not a certificate".into());
        let errs = m
            .apply_config(vec![ok.clone(), ok.clone(), bad.clone()])
            .unwrap_err();
        assert_eq!(errs.len(), 2);
        assert!(matches!(&errs[0], Error::DuplicateJob(j) if j == "a"));
        assert!(
            matches!(&errs[1], Error::HttpClient { job, .. } if job == "b"),
            "{errs:?}"
        );
        let t = m.targets();
        assert_eq!(t.active.len(), 1);
        assert_eq!(
            t.active[0].status.health,
            crate::scrape::TargetHealth::Unknown
        );
        assert_eq!(t.active[0].labels.get("instance"), Some("127.0.0.1:9"));

        // A broken client on reload keeps the running configuration.
        let mut a2 = ok.clone();
        a2.http.proxy_url = Some("::not a url".into());
        a2.static_groups[0].labels = Labels::from_pairs(&[("new", "x")]);
        assert!(m.apply_config(vec![a2]).is_err());
        assert_eq!(m.targets().active[0].labels.get("new"), None);

        // Invalid and dropped targets are listed.
        let mut c = ok.clone();
        c.static_groups[0]
            .targets
            .push(Labels::from_pairs(&[("no_address", "1")]));
        c.relabel_configs = vec![crate::model::relabel::RelabelConfig {
            source_labels: vec!["__address__".into()],
            regex: crate::model::relabel::RelabelRegex::new("127.0.0.1:9").unwrap(),
            action: crate::model::relabel::Action::Drop,
            ..Default::default()
        }];
        m.apply_config(vec![c]).unwrap();
        let t = m.targets();
        assert!(t.active.is_empty());
        assert_eq!(t.dropped.len(), 1);
        assert_eq!(
            t.dropped[0].discovered_labels.get("__address__"),
            Some("127.0.0.1:9")
        );
        assert_eq!(
            t.errors,
            vec!["a: instance 1 in group 0: no address".to_string()]
        );
        let s = m.metrics();
        assert_eq!((s.active_targets, s.dropped_targets), (0, 1));
        assert_eq!(s.reloads_total, 3);

        m.stop().await;
        // After stop, configurations are ignored.
        m.apply_config(vec![ok]).unwrap();
        assert!(m.targets().active.is_empty());
    }

    #[tokio::test]
    async fn apply_scrape_configs_from_a_loaded_file() {
        let cfg = crate::config::Config::load_str(
            "scrape_configs:\n  - job_name: x\n    static_configs: [{targets: ['127.0.0.1:9']}]\n",
            "t.yml",
        )
        .unwrap();
        let m = Manager::new(Arc::new(MemoryAppendable::new()), ManagerOptions::default()).unwrap();
        m.apply_scrape_configs(&cfg.scrape_configs).unwrap();
        let t = m.targets();
        assert_eq!(t.active[0].scrape_url, "http://127.0.0.1:9/metrics");
        assert_eq!(t.active[0].interval, Duration::from_secs(60));
        m.stop().await;
    }
}
