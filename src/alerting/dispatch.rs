//! The pipeline (Alertmanager's `dispatch` and `notify` packages): alerts are merged
//! into the store by fingerprint, routed down the route tree (first matching child unless
//! `continue`, nested, the deepest match wins) into aggregation groups keyed by route and
//! group labels. Each group is a task with Alertmanager's timers: the first flush after
//! `group_wait` (at once for an alert older than that), then every `group_interval`.
//!
//! A flush runs the notification stages in Alertmanager's order: inhibition (a firing
//! source alert, `equal` labels equal, two-sided matches excluded), active then mute time
//! intervals, silences, then promtui's acknowledgements; then, per integration of the
//! receiver, the dedup stage against the notification log (send when new alerts fire,
//! when resolved alerts are news and `send_resolved` is set, when everything resolved, or
//! after `repeat_interval`), the send with retries and exponential backoff for up to
//! max(group_interval, 10s), and the notification log entry, committed to SQLite before
//! the next flush. Resolved alerts leave the group once notified.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use parking_lot::{Mutex, RwLock};

use super::ack::{Ack, Acks};
use super::alert::{fingerprint, fingerprint_of, labelset_string, Alert, LabelSet};
use super::config::{AmConfig, GroupBy, InhibitRule, Route};
use super::matcher::all_match;
use super::notify::{
    build_integration, BuildContext, BuildError, Integration, NotifyAlert, NotifyData, Status,
    Templates,
};
use super::silence::{MuteCache, Silences};
use super::store::{NflogEntry, Store, StoreError};

/// Whether a re-posted alert's new end must be written, given the end on disk: when it
/// moved earlier, or when the end on disk is nearer than half the time the sender now
/// gives the alert. A Prometheus fleet re-posting every 15 s with ends 4 minutes ahead
/// thus costs one end update per alert every 2 minutes, and after a crash an alert whose
/// sender is still there is never resolved before the sender's next re-post.
pub fn end_needs_writing(
    on_disk: DateTime<Utc>,
    new_end: DateTime<Utc>,
    now: DateTime<Utc>,
) -> bool {
    new_end < on_disk || (on_disk - now) * 2 < new_end - now
}

/// Shortest send timeout (Alertmanager's `notify.MinTimeout`).
const MIN_TIMEOUT: StdDuration = StdDuration::from_secs(10);

/// Pipeline settings from the command line.
#[derive(Clone, Debug)]
pub struct Options {
    /// Directory of `alertmanager.db`.
    pub data_dir: std::path::PathBuf,
    /// How long expired silences, ended acknowledgements, notification log entries and
    /// history are kept (`--alertmanager.data-retention`).
    pub retention: StdDuration,
    /// `--web.external-url` or the URL promtui serves on.
    pub external_url: String,
}

/// A receiver's integration that could not be built: it loads, is reported, and its
/// notifications count as failed.
#[derive(Clone, Debug)]
pub struct UnsupportedIntegration {
    pub receiver: String,
    pub kind: String,
    pub index: usize,
    pub reason: String,
}

/// The applied configuration with its integrations built.
pub struct Built {
    pub config: AmConfig,
    pub integrations: HashMap<String, Vec<Arc<dyn Integration>>>,
    pub unsupported: Vec<UnsupportedIntegration>,
}

/// Why a configuration could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// A `templates:` file could not be read or parsed.
    #[error(transparent)]
    Templates(#[from] crate::alerting::notify::templates::TemplateLoadError),
    #[error("{file}: receiver {receiver:?}: {source}")]
    Integration {
        file: String,
        receiver: String,
        #[source]
        source: BuildError,
    },
}

impl Built {
    /// Builds every integration of `config`; kinds promtui does not send are listed in
    /// `unsupported`, invalid entries refuse the whole configuration.
    pub fn new(config: AmConfig, client: reqwest::Client) -> Result<Built, ApplyError> {
        let ctx = BuildContext {
            global: config.global.clone(),
            base_dir: config.base_dir.clone(),
            templates: Arc::new(Templates::load(&config.templates, &config.base_dir)?),
            client,
        };
        let mut integrations = HashMap::new();
        let mut unsupported = Vec::new();
        for r in &config.receivers {
            let mut list = Vec::new();
            for e in &r.integrations {
                match build_integration(&e.kind, e.index, &e.value, &ctx) {
                    Ok(i) => list.push(i),
                    Err(BuildError::Unsupported { kind }) => {
                        unsupported.push(UnsupportedIntegration {
                            receiver: r.name.clone(),
                            kind,
                            index: e.index,
                            reason: "not supported by promtui".into(),
                        })
                    }
                    Err(source) => {
                        let file = match e.pos {
                            Some(p) => format!("{}:{}:{}", config.file, p.line, p.column),
                            None => config.file.clone(),
                        };
                        return Err(ApplyError::Integration {
                            file,
                            receiver: r.name.clone(),
                            source,
                        });
                    }
                }
            }
            integrations.insert(r.name.clone(), list);
        }
        Ok(Built {
            config,
            integrations,
            unsupported,
        })
    }
}

/// The routes an alert with `labels` takes (Alertmanager's `Route.Match`).
pub fn match_routes<'r>(route: &'r Route, labels: &LabelSet) -> Vec<&'r Route> {
    if !all_match(&route.matchers, labels) {
        return Vec::new();
    }
    let mut all = Vec::new();
    for c in &route.routes {
        let m = match_routes(c, labels);
        let matched = !m.is_empty();
        all.extend(m);
        if matched && !c.continue_matching {
            break;
        }
    }
    if all.is_empty() {
        all.push(route);
    }
    all
}

/// The route path (ids from the root) for every route an alert takes, for `routes test`.
pub fn match_route_paths(route: &Route, labels: &LabelSet) -> Vec<Vec<String>> {
    fn walk(r: &Route, labels: &LabelSet, path: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
        if !all_match(&r.matchers, labels) {
            return;
        }
        path.push(r.id.clone());
        let before = out.len();
        for c in &r.routes {
            let n = out.len();
            walk(c, labels, path, out);
            if out.len() > n && !c.continue_matching {
                break;
            }
        }
        if out.len() == before {
            out.push(path.clone());
        }
        path.pop();
    }
    let mut out = Vec::new();
    walk(route, labels, &mut Vec::new(), &mut out);
    out
}

/// The group labels of an alert on a route.
pub fn group_labels(route: &Route, labels: &LabelSet) -> LabelSet {
    match &route.group_by {
        GroupBy::All => labels.clone(),
        GroupBy::Labels(names) => names
            .iter()
            .filter_map(|n| labels.get(n).map(|v| (n.clone(), v.clone())))
            .collect(),
    }
}

/// One rule's firing source alerts by their `equal` label values: (fingerprint, whether
/// the source also matches the rule's target side).
type SourceIndex = HashMap<Vec<String>, Vec<(u64, bool)>>;

/// Source alerts of every inhibit rule, indexed by their `equal` label values, built
/// once per flush or API call.
pub struct InhibitIndex<'a> {
    rules: &'a [InhibitRule],
    /// Per rule: equal values -> (source fingerprint, whether it also matches the target).
    sources: Vec<SourceIndex>,
}

impl<'a> InhibitIndex<'a> {
    pub fn build<'b>(
        rules: &'a [InhibitRule],
        alerts: impl Iterator<Item = &'b Alert> + Clone,
        now: DateTime<Utc>,
    ) -> Self {
        let sources = rules
            .iter()
            .map(|r| {
                let mut m: HashMap<Vec<String>, Vec<(u64, bool)>> = HashMap::new();
                for a in alerts.clone() {
                    if a.resolved_at(now) || !all_match(&r.source_matchers, &a.labels) {
                        continue;
                    }
                    m.entry(equal_values(&r.equal, &a.labels))
                        .or_default()
                        .push((a.fingerprint, all_match(&r.target_matchers, &a.labels)));
                }
                m
            })
            .collect();
        InhibitIndex { rules, sources }
    }

    /// The fingerprint of an alert inhibiting `labels`, if any.
    pub fn inhibited_by(&self, labels: &LabelSet) -> Option<u64> {
        for (r, src) in self.rules.iter().zip(&self.sources) {
            if !all_match(&r.target_matchers, labels) {
                continue;
            }
            let two_sided = all_match(&r.source_matchers, labels);
            if let Some(list) = src.get(&equal_values(&r.equal, labels)) {
                if let Some((fp, _)) = list.iter().find(|(_, t)| !(two_sided && *t)) {
                    return Some(*fp);
                }
            }
        }
        None
    }
}

fn equal_values(equal: &[String], labels: &LabelSet) -> Vec<String> {
    equal
        .iter()
        .map(|n| labels.get(n).cloned().unwrap_or_default())
        .collect()
}

/// Counters for /metrics and the status API.
#[derive(Default, Debug)]
pub struct PipelineMetrics {
    pub alerts_received: AtomicU64,
    /// Of `alerts_received`, those posted already resolved.
    pub alerts_received_resolved: AtomicU64,
    pub alerts_invalid: AtomicU64,
    pub notifications: AtomicU64,
    pub notifications_failed: AtomicU64,
    pub notification_requests_failed: AtomicU64,
}

/// One aggregation group.
pub struct Group {
    pub key: String,
    pub route: Route,
    pub labels: LabelSet,
    pub alerts: Mutex<HashMap<u64, Arc<Alert>>>,
    flush_now: tokio::sync::Notify,
    has_flushed: AtomicBool,
    stopped: AtomicBool,
}

/// The pipeline: alert store, groups, silences, acknowledgements, notification log.
pub struct Pipeline {
    pub built: RwLock<Arc<Built>>,
    /// Shared with the groups: a re-post replaces the `Arc`, never copies the alert.
    pub alerts: RwLock<HashMap<u64, Arc<Alert>>>,
    pub silences: Mutex<Silences>,
    /// Silence matches per alert (locked after `silences`).
    pub mute_cache: Mutex<MuteCache>,
    pub acks: Mutex<Acks>,
    nflog: Mutex<BTreeMap<String, NflogEntry>>,
    /// Serializes notification log writes (see `notify_integration`).
    nflog_writes: tokio::sync::Semaphore,
    pub store: Mutex<Store>,
    /// Keyed by the route's address in the applied [`Built`] (groups are rebuilt when it
    /// changes) and the group labels' fingerprint.
    groups: Mutex<HashMap<(usize, u64), Arc<Group>>>,
    dirty: Mutex<Dirty>,
    /// The end last written for each alert.
    persisted: Mutex<HashMap<u64, DateTime<Utc>>>,
    pub started: DateTime<Utc>,
    pub opts: Options,
    pub metrics: PipelineMetrics,
    /// Alertmanager's per-integration notification metrics (see [`super::metrics`]).
    pub notify_metrics: super::metrics::NotifyMetrics,
    client: reqwest::Client,
    runtime: Mutex<Option<tokio::runtime::Handle>>,
}

/// An alert whose row only needs its new end: fingerprint and end.
type EndUpdate = (u64, DateTime<Utc>);

#[derive(Default)]
struct Dirty {
    /// Alerts to write whole.
    changed: HashSet<u64>,
    /// Alerts whose row only needs the new end.
    ends: HashSet<u64>,
    deleted: Vec<u64>,
    events: Vec<(DateTime<Utc>, u64, &'static str, String)>,
}

/// Why the pipeline could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Apply(#[from] ApplyError),
}

impl Pipeline {
    /// Opens the state file and applies `config`; alerts known before a restart are
    /// grouped again once [`Pipeline::start`] runs.
    pub fn open(config: AmConfig, opts: Options) -> Result<Arc<Pipeline>, StartError> {
        // Few idle connections per receiver host, as Go's default transport keeps (2):
        // a first flush of hundreds of groups at once must not leave hundreds open.
        let client = reqwest::Client::builder()
            .timeout(StdDuration::from_secs(30))
            .pool_max_idle_per_host(2)
            .build()
            .unwrap_or_default();
        let built = Built::new(config, client.clone())?;
        for u in &built.unsupported {
            tracing::warn!(
                receiver = %u.receiver, kind = %u.kind, index = u.index,
                "receiver integration not supported by promtui: its notifications will count as failed"
            );
        }
        let store = Store::open(&opts.data_dir)?;
        let silences = Silences::from_list(store.load_silences()?);
        let acks = Acks::from_list(store.load_acks()?);
        let nflog = store.load_nflog()?;
        let alerts: HashMap<u64, Arc<Alert>> = store
            .load_alerts()?
            .into_iter()
            .map(|a| (a.fingerprint, Arc::new(a)))
            .collect();
        let persisted = alerts
            .values()
            .map(|a| (a.fingerprint, a.ends_at))
            .collect();
        Ok(Arc::new(Pipeline {
            built: RwLock::new(Arc::new(built)),
            alerts: RwLock::new(alerts),
            silences: Mutex::new(silences),
            mute_cache: Mutex::new(MuteCache::default()),
            acks: Mutex::new(acks),
            nflog: Mutex::new(nflog),
            nflog_writes: tokio::sync::Semaphore::new(1),
            store: Mutex::new(store),
            groups: Mutex::new(HashMap::new()),
            dirty: Mutex::new(Dirty::default()),
            persisted: Mutex::new(persisted),
            started: Utc::now(),
            opts,
            metrics: PipelineMetrics::default(),
            notify_metrics: Default::default(),
            client,
            runtime: Mutex::new(None),
        }))
    }

    /// Starts group tasks for the alerts loaded and the maintenance loop (persisting
    /// alerts every second, garbage collection, retention purge) until `stop` turns true.
    pub fn start(self: &Arc<Self>, mut stop: tokio::sync::watch::Receiver<bool>) {
        *self.runtime.lock() = Some(tokio::runtime::Handle::current());
        let alerts: Vec<Arc<Alert>> = self.alerts.read().values().cloned().collect();
        self.route_alerts(&alerts);
        let me = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(StdDuration::from_secs(1));
            let mut n: u64 = 0;
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = stop.changed() => {
                        me.flush_dirty();
                        me.stop_groups();
                        return;
                    }
                }
                n += 1;
                if n.is_multiple_of(15) {
                    me.gc(Utc::now());
                }
                if n % 600 == 1 {
                    me.purge(Utc::now());
                }
                let me2 = me.clone();
                let _ = tokio::task::spawn_blocking(move || me2.flush_dirty()).await;
            }
        });
    }

    fn stop_groups(&self) {
        for g in self.groups.lock().drain().map(|(_, g)| g) {
            g.stopped.store(true, Ordering::Release);
            g.flush_now.notify_one();
        }
    }

    /// Applies a new configuration: groups are rebuilt from the current alerts (as
    /// Alertmanager does on reload); the notification log keeps what was sent.
    pub fn apply(self: &Arc<Self>, config: AmConfig) -> Result<(), ApplyError> {
        let built = Built::new(config, self.client.clone())?;
        for u in &built.unsupported {
            tracing::warn!(receiver = %u.receiver, kind = %u.kind, index = u.index,
                "receiver integration not supported by promtui");
        }
        *self.built.write() = Arc::new(built);
        if self.runtime.lock().is_some() {
            self.stop_groups();
            let alerts: Vec<Arc<Alert>> = self.alerts.read().values().cloned().collect();
            self.route_alerts(&alerts);
        }
        Ok(())
    }

    /// Reloads the Alertmanager configuration from `file` (the embedded default when
    /// `None`): on any error the running configuration stays. Records the outcome for
    /// `alertmanager_config_last_reload_successful`.
    pub fn reload_from(
        self: &Arc<Self>,
        file: Option<&std::path::Path>,
    ) -> Result<(), super::Error> {
        let res = super::load_config(file)
            .map_err(super::Error::from)
            .and_then(|c| self.apply(c).map_err(super::Error::from));
        self.notify_metrics.reloaded(res.is_ok(), Utc::now());
        res
    }

    /// Takes alerts (API POST or the rules' sink); each needs labels. Missing times are
    /// filled as Alertmanager does: startsAt now (or endsAt when only that is given),
    /// endsAt now + resolve_timeout (marked as a timeout).
    pub fn put(self: &Arc<Self>, incoming: Vec<PostedAlert>) {
        self.ingest(incoming)
    }

    /// [`Pipeline::put`] for alerts still borrowed from a request body: a re-post whose
    /// content is unchanged copies no string at all.
    pub fn put_borrowed(self: &Arc<Self>, incoming: Vec<BorrowedAlert<'_>>) {
        self.ingest(incoming)
    }

    fn ingest<I: Incoming>(self: &Arc<Self>, incoming: Vec<I>) {
        let now = Utc::now();
        let resolve = Duration::milliseconds(self.built.read().config.resolve_timeout_ms);
        let mut routed = Vec::with_capacity(incoming.len());
        {
            let mut store = self.alerts.write();
            let mut dirty = self.dirty.lock();
            let persisted = self.persisted.lock();
            self.metrics
                .alerts_received
                .fetch_add(incoming.len() as u64, Ordering::Relaxed);
            for p in incoming {
                let (posted_start, posted_end) = p.times();
                if posted_end.is_some_and(|e| e <= now) {
                    self.metrics
                        .alerts_received_resolved
                        .fetch_add(1, Ordering::Relaxed);
                }
                let starts_at = posted_start.or(posted_end).unwrap_or(now);
                let (ends_at, timeout) = match posted_end {
                    Some(e) => (e, false),
                    None => (now + resolve, true),
                };
                let fp = p.fingerprint();
                let state = |a: &Alert| {
                    if a.resolved_at(now) {
                        "resolved"
                    } else {
                        "firing"
                    }
                };
                // Only the times moved: the stored content is shared, nothing persisted
                // changes but (now and then) the end.
                let mut times_only = false;
                let (a, event) = match store.get(&fp) {
                    Some(old) if old.overlaps_range(starts_at, ends_at) => {
                        let a = if p.same_content(old) {
                            let a = old.merge_times(starts_at, ends_at, timeout, now);
                            times_only = a.starts_at == old.starts_at && a.timeout == old.timeout;
                            a
                        } else {
                            old.merge_owned(p.into_alert(fp, starts_at, ends_at, timeout, now), now)
                        };
                        let event = (old.resolved_at(now) != a.resolved_at(now)).then(|| state(&a));
                        (a, event)
                    }
                    // No overlap: the report replaces the stored alert (Alertmanager's
                    // store). A fleet's re-post with the same start and a later end
                    // lands here; with the same content it still shares it, and it is
                    // an event only when it changes firing to resolved or back.
                    Some(old) => {
                        let a = if p.same_content(old) {
                            let a = Alert {
                                labels: old.labels.clone(),
                                annotations: old.annotations.clone(),
                                generator_url: old.generator_url.clone(),
                                starts_at,
                                ends_at,
                                updated_at: now,
                                timeout,
                                fingerprint: fp,
                            };
                            times_only = a.starts_at == old.starts_at && a.timeout == old.timeout;
                            a
                        } else {
                            p.into_alert(fp, starts_at, ends_at, timeout, now)
                        };
                        let event = (old.resolved_at(now) != a.resolved_at(now)).then(|| state(&a));
                        (a, event)
                    }
                    None => {
                        let a = p.into_alert(fp, starts_at, ends_at, timeout, now);
                        let event = Some(state(&a));
                        (a, event)
                    }
                };
                if let Some(e) = event {
                    dirty.events.push((
                        now,
                        fp,
                        e,
                        serde_json::to_string(&*a.labels).unwrap_or_default(),
                    ));
                }
                match persisted.get(&fp) {
                    Some(end) if event.is_none() && times_only => {
                        if end_needs_writing(*end, a.ends_at, now) {
                            dirty.ends.insert(fp);
                        }
                    }
                    _ => {
                        dirty.changed.insert(fp);
                    }
                }
                let a = Arc::new(a);
                store.insert(fp, a.clone());
                routed.push(a);
            }
        }
        self.route_alerts(&routed);
    }

    /// Inserts each alert into the aggregation group of every route it takes.
    fn route_alerts(self: &Arc<Self>, alerts: &[Arc<Alert>]) {
        let built = self.built.read().clone();
        let Some(rt) = self.runtime.lock().clone() else {
            return;
        };
        let now = Utc::now();
        for a in alerts {
            self.route_alert(a, &built, &rt, now);
        }
    }

    fn route_alert(
        self: &Arc<Self>,
        a: &Arc<Alert>,
        built: &Built,
        rt: &tokio::runtime::Handle,
        now: DateTime<Utc>,
    ) {
        for route in match_routes(&built.config.route, &a.labels) {
            let gfp = match &route.group_by {
                GroupBy::All => a.fingerprint,
                GroupBy::Labels(names) => {
                    fingerprint_of(a.labels.iter().filter(|(k, _)| names.contains(k)))
                }
            };
            let id = (route as *const Route as usize, gfp);
            let (g, new) = {
                let mut groups = self.groups.lock();
                match groups.get(&id) {
                    Some(g) => (g.clone(), false),
                    None => {
                        let labels = group_labels(route, &a.labels);
                        let g = Arc::new(Group {
                            key: format!("{}:{}", route.key, labelset_string(&labels)),
                            route: route.clone(),
                            labels,
                            alerts: Mutex::new(HashMap::new()),
                            flush_now: tokio::sync::Notify::new(),
                            has_flushed: AtomicBool::new(false),
                            stopped: AtomicBool::new(false),
                        });
                        groups.insert(id, g.clone());
                        (g, true)
                    }
                }
            };
            g.alerts.lock().insert(a.fingerprint, a.clone());
            if new {
                let me = self.clone();
                rt.spawn(me.run_group(id, g.clone()));
            }
            if !g.has_flushed.load(Ordering::Acquire)
                && a.starts_at + Duration::milliseconds(route.group_wait_ms) < now
            {
                g.flush_now.notify_one();
            }
        }
    }

    async fn run_group(self: Arc<Self>, id: (usize, u64), g: Arc<Group>) {
        let mut wait = StdDuration::from_millis(g.route.group_wait_ms.max(0) as u64);
        loop {
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = g.flush_now.notified() => {}
            }
            if g.stopped.load(Ordering::Acquire) {
                return;
            }
            g.has_flushed.store(true, Ordering::Release);
            wait = StdDuration::from_millis(g.route.group_interval_ms.max(1) as u64);
            self.flush(&g).await;
            // An empty group ends (Alertmanager's maintenance removes it).
            let mut groups = self.groups.lock();
            if g.alerts.lock().is_empty() {
                if groups.get(&id).is_some_and(|x| Arc::ptr_eq(x, &g)) {
                    groups.remove(&id);
                }
                return;
            }
        }
    }

    /// One flush of a group: the stages, then every integration of its receiver.
    async fn flush(self: &Arc<Self>, g: &Group) {
        let now = Utc::now();
        let mut alerts: Vec<Arc<Alert>> = g.alerts.lock().values().cloned().collect();
        alerts.sort_by(|a, b| alert_order(a, b));
        let built = self.built.read().clone();
        // Inhibition, time intervals, silences, acknowledgements.
        let kept: Vec<Arc<Alert>> = {
            let store = self.alerts.read();
            let idx = InhibitIndex::build(
                &built.config.inhibit_rules,
                store.values().map(|a| &**a),
                now,
            );
            let sil = self.silences.lock();
            let mut mc = self.mute_cache.lock();
            let acks = self.acks.lock();
            alerts
                .iter()
                .filter(|a| idx.inhibited_by(&a.labels).is_none())
                .filter(|a| mc.mutes(&sil, &a.labels, a.fingerprint, now).is_empty())
                .filter(|a| acks.acked_by(a.fingerprint, now).is_empty())
                .cloned()
                .collect()
        };
        let in_interval = |names: &[String]| {
            names.iter().any(|n| {
                built
                    .config
                    .time_intervals
                    .get(n)
                    .is_some_and(|tis| tis.iter().any(|t| t.contains(now)))
            })
        };
        let route = &g.route;
        let time_muted = (!route.active_time_intervals.is_empty()
            && !in_interval(&route.active_time_intervals))
            || in_interval(&route.mute_time_intervals);
        let mut ok = true;
        if !kept.is_empty() && !time_muted {
            let receiver = route.receiver.clone();
            let integrations = built
                .integrations
                .get(&receiver)
                .cloned()
                .unwrap_or_default();
            for u in built.unsupported.iter().filter(|u| u.receiver == receiver) {
                // Never a silent drop: an integration promtui cannot send fails.
                self.notify_metrics.notification(&u.kind);
                self.notify_metrics.failed(&u.kind);
                self.metrics.notifications.fetch_add(1, Ordering::Relaxed);
                self.metrics
                    .notifications_failed
                    .fetch_add(1, Ordering::Relaxed);
                tracing::warn!(receiver = %receiver, kind = %u.kind, group = %g.key,
                    "notification not sent: integration not supported by promtui");
            }
            let firing: std::collections::BTreeSet<u64> = kept
                .iter()
                .filter(|a| !a.resolved_at(now))
                .map(|a| a.fingerprint)
                .collect();
            let resolved: std::collections::BTreeSet<u64> = kept
                .iter()
                .filter(|a| a.resolved_at(now))
                .map(|a| a.fingerprint)
                .collect();
            let sends = integrations.iter().map(|i| {
                self.notify_integration(g, &receiver, i.clone(), &kept, &firing, &resolved, now)
            });
            for r in futures_join(sends).await {
                ok &= r;
            }
        }
        if ok {
            // Resolved alerts that did not change while we sent leave the group.
            let mut ga = g.alerts.lock();
            for a in alerts.iter().filter(|a| a.resolved_at(now)) {
                if ga
                    .get(&a.fingerprint)
                    .is_some_and(|cur| cur.updated_at == a.updated_at)
                {
                    ga.remove(&a.fingerprint);
                }
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn notify_integration(
        self: &Arc<Self>,
        g: &Group,
        receiver: &str,
        integ: Arc<dyn Integration>,
        alerts: &[Arc<Alert>],
        firing: &std::collections::BTreeSet<u64>,
        resolved: &std::collections::BTreeSet<u64>,
        now: DateTime<Utc>,
    ) -> bool {
        let key = format!("{receiver}/{}/{}:{}", integ.kind(), integ.index(), g.key);
        let entry = self.nflog.lock().get(&key).cloned();
        let repeat = Duration::milliseconds(g.route.repeat_interval_ms);
        let needs = match &entry {
            None => !firing.is_empty(),
            Some(e) => {
                if !firing.is_subset(&e.firing) {
                    true
                } else if firing.is_empty() {
                    !e.firing.is_empty()
                } else if integ.send_resolved() && !resolved.is_subset(&e.resolved) {
                    true
                } else {
                    DateTime::from_timestamp_millis(e.timestamp_ms).unwrap_or_default()
                        < now - repeat
                }
            }
        };
        if !needs {
            return true;
        }
        let to_send: Vec<&Alert> = if integ.send_resolved() {
            alerts.iter().map(|a| &**a).collect()
        } else {
            alerts
                .iter()
                .filter(|a| !a.resolved_at(now))
                .map(|a| &**a)
                .collect()
        };
        if !to_send.is_empty() {
            let data = self.notify_data(g, receiver, &to_send, now);
            let deadline = tokio::time::Instant::now()
                + MIN_TIMEOUT.max(StdDuration::from_millis(g.route.group_interval_ms as u64));
            let mut backoff = StdDuration::from_millis(500);
            let mut attempt = 0u32;
            let kind = integ.kind();
            self.notify_metrics.notification(kind);
            loop {
                attempt += 1;
                self.metrics.notifications.fetch_add(1, Ordering::Relaxed);
                let sent = std::time::Instant::now();
                let outcome = tokio::time::timeout_at(deadline, integ.notify(&data)).await;
                self.notify_metrics
                    .request(kind, sent.elapsed(), matches!(outcome, Ok(Ok(()))));
                match outcome {
                    Ok(Ok(())) => break,
                    Ok(Err(e)) => {
                        self.metrics
                            .notification_requests_failed
                            .fetch_add(1, Ordering::Relaxed);
                        if !e.retryable || tokio::time::Instant::now() + backoff >= deadline {
                            self.notify_metrics.failed(kind);
                            self.metrics
                                .notifications_failed
                                .fetch_add(1, Ordering::Relaxed);
                            tracing::warn!(receiver, integration = integ.kind(), attempt,
                                group = %g.key, error = %e.message, "notify failed");
                            return false;
                        }
                        tracing::debug!(receiver, attempt, error = %e.message, "notify failed, retrying");
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff.mul_f64(1.5)).min(StdDuration::from_secs(60));
                    }
                    Err(_) => {
                        self.notify_metrics.failed(kind);
                        self.metrics
                            .notifications_failed
                            .fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(receiver, integration = integ.kind(), group = %g.key,
                            "notify timed out");
                        return false;
                    }
                }
            }
        }
        let e = NflogEntry {
            firing: firing.clone(),
            resolved: resolved.clone(),
            timestamp_ms: now.timestamp_millis(),
        };
        let expires = now.timestamp_millis() + self.opts.retention.as_millis() as i64;
        self.nflog.lock().insert(key.clone(), e.clone());
        // The fsync runs off the async workers: a blocked worker would delay every
        // request and timer queued behind it.
        // One write at a time: a first flush of hundreds of groups would otherwise start
        // a blocking thread per group, all queued on the store's lock.
        let _permit = self.nflog_writes.acquire().await;
        let me = self.clone();
        let written =
            tokio::task::spawn_blocking(move || me.store.lock().save_nflog(&key, &e, expires))
                .await;
        match written {
            Ok(Ok(())) => {}
            Ok(Err(err)) => tracing::error!(error = %err, "writing the notification log"),
            Err(err) => tracing::error!(error = %err, "writing the notification log"),
        }
        true
    }

    fn notify_data(
        &self,
        g: &Group,
        receiver: &str,
        alerts: &[&Alert],
        now: DateTime<Utc>,
    ) -> NotifyData {
        let nas: Vec<NotifyAlert> = alerts
            .iter()
            .map(|a| {
                let resolved = a.resolved_at(now);
                NotifyAlert {
                    status: if resolved {
                        Status::Resolved
                    } else {
                        Status::Firing
                    },
                    labels: (*a.labels).clone(),
                    annotations: (*a.annotations).clone(),
                    starts_at: a.starts_at,
                    // A firing alert's end is not shown (Go's zero time), as Alertmanager.
                    ends_at: resolved.then_some(a.ends_at),
                    generator_url: a.generator_url.to_string(),
                    fingerprint: super::alert::fingerprint_hex(a.fingerprint),
                }
            })
            .collect();
        let common = |f: fn(&NotifyAlert) -> &BTreeMap<String, String>| {
            let mut it = nas.iter();
            let mut c = it.next().map(|a| f(a).clone()).unwrap_or_default();
            for a in it {
                c.retain(|k, v| f(a).get(k) == Some(v));
            }
            c
        };
        NotifyData {
            receiver: receiver.to_string(),
            status: if nas.iter().any(|a| a.status == Status::Firing) {
                Status::Firing
            } else {
                Status::Resolved
            },
            common_labels: common(|a| &a.labels),
            common_annotations: common(|a| &a.annotations),
            alerts: nas,
            group_labels: g.labels.clone(),
            external_url: self.opts.external_url.clone(),
            group_key: g.key.clone(),
        }
    }

    /// Removes resolved alerts from the store (they stay in their groups until notified)
    /// and releases their acknowledgements.
    pub fn gc(&self, now: DateTime<Utc>) {
        let gone: Vec<u64> = {
            let mut store = self.alerts.write();
            let gone: Vec<u64> = store
                .values()
                .filter(|a| a.resolved_at(now))
                .map(|a| a.fingerprint)
                .collect();
            for fp in &gone {
                store.remove(fp);
            }
            self.mute_cache.lock().retain(|fp| store.contains_key(&fp));
            gone
        };
        if gone.is_empty() {
            return;
        }
        let mut changed: Vec<Ack> = Vec::new();
        {
            let mut acks = self.acks.lock();
            for fp in &gone {
                changed.extend(acks.alert_resolved(*fp, now));
            }
        }
        if !changed.is_empty() {
            if let Err(e) = self.store.lock().save_acks(&changed) {
                tracing::error!(error = %e, "saving acknowledgements");
            }
        }
        let mut d = self.dirty.lock();
        for fp in gone {
            d.changed.remove(&fp);
            d.ends.remove(&fp);
            d.deleted.push(fp);
        }
    }

    /// Drops state older than the retention period.
    pub fn purge(&self, now: DateTime<Utc>) {
        let before = now - Duration::milliseconds(self.opts.retention.as_millis() as i64);
        self.silences.lock().purge(before);
        self.acks.lock().purge(before);
        self.nflog
            .lock()
            .retain(|_, e| e.timestamp_ms >= before.timestamp_millis());
        if let Err(e) = self
            .store
            .lock()
            .purge(before.timestamp_millis(), now.timestamp_millis())
        {
            tracing::error!(error = %e, "purging alerting state");
        }
    }

    /// Writes alerts changed since the last call.
    pub fn flush_dirty(&self) {
        let d = std::mem::take(&mut *self.dirty.lock());
        if d.changed.is_empty() && d.ends.is_empty() && d.deleted.is_empty() && d.events.is_empty()
        {
            return;
        }
        let (changed, ends): (Vec<Arc<Alert>>, Vec<EndUpdate>) = {
            let store = self.alerts.read();
            (
                d.changed
                    .iter()
                    .filter_map(|fp| store.get(fp).cloned())
                    .collect(),
                d.ends
                    .iter()
                    .filter(|fp| !d.changed.contains(fp))
                    .filter_map(|fp| store.get(fp).map(|a| (*fp, a.ends_at)))
                    .collect(),
            )
        };
        if let Err(e) = self
            .store
            .lock()
            .save_alerts(&changed, &ends, &d.deleted, &d.events)
        {
            tracing::error!(error = %e, "saving alerts");
            return;
        }
        let mut p = self.persisted.lock();
        for a in &changed {
            p.insert(a.fingerprint, a.ends_at);
        }
        for (fp, end) in ends {
            p.insert(fp, end);
        }
        for fp in &d.deleted {
            p.remove(fp);
        }
    }

    /// The aggregation groups with their alerts, for the API.
    pub fn groups(&self) -> Vec<(String, LabelSet, String, Vec<Arc<Alert>>)> {
        let groups: Vec<Arc<Group>> = self.groups.lock().values().cloned().collect();
        groups
            .iter()
            .map(|g| {
                let mut a: Vec<Arc<Alert>> = g.alerts.lock().values().cloned().collect();
                a.sort_by(|x, y| alert_order(x, y));
                (g.key.clone(), g.labels.clone(), g.route.receiver.clone(), a)
            })
            .collect()
    }

    /// A copy of the notification log (key `receiver/kind/index:group key`), for the
    /// TUI's triage pane ([`super::inspect`]).
    pub fn nflog_snapshot(&self) -> BTreeMap<String, NflogEntry> {
        self.nflog.lock().clone()
    }

    /// Current fingerprints of a group, for acknowledging it.
    pub fn group_fingerprints(&self, key: &str, now: DateTime<Utc>) -> Option<Vec<u64>> {
        let groups = self.groups.lock();
        let g = groups.values().find(|g| g.key == key)?;
        let fps = g
            .alerts
            .lock()
            .values()
            .filter(|a| !a.resolved_at(now))
            .map(|a| a.fingerprint)
            .collect();
        Some(fps)
    }
}

/// An alert as posted (API v2 `postableAlert`, or from the rules).
#[derive(Clone, Debug, Default)]
pub struct PostedAlert {
    pub labels: LabelSet,
    pub annotations: BTreeMap<String, String>,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
    pub generator_url: String,
}

/// Name/value pairs borrowed from a request body where no escape forced a copy; sorted
/// by name, names unique.
pub type BorrowedPairs<'a> = Vec<(Cow<'a, str>, Cow<'a, str>)>;

/// A posted alert still borrowed from the request body (the API's ingest path).
#[derive(Clone, Debug, Default)]
pub struct BorrowedAlert<'a> {
    /// Sorted by name, names unique, no empty values.
    pub labels: BorrowedPairs<'a>,
    /// Sorted by name, names unique.
    pub annotations: BorrowedPairs<'a>,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
    pub generator_url: Cow<'a, str>,
}

/// A posted alert, owned or borrowed, as the ingest needs it.
trait Incoming {
    fn times(&self) -> (Option<DateTime<Utc>>, Option<DateTime<Utc>>);
    fn fingerprint(&self) -> u64;
    /// Whether labels, annotations and generator URL equal `a`'s.
    fn same_content(&self, a: &Alert) -> bool;
    fn into_alert(
        self,
        fingerprint: u64,
        starts_at: DateTime<Utc>,
        ends_at: DateTime<Utc>,
        timeout: bool,
        now: DateTime<Utc>,
    ) -> Alert;
}

impl Incoming for PostedAlert {
    fn times(&self) -> (Option<DateTime<Utc>>, Option<DateTime<Utc>>) {
        (self.starts_at, self.ends_at)
    }
    fn fingerprint(&self) -> u64 {
        fingerprint(&self.labels)
    }
    fn same_content(&self, a: &Alert) -> bool {
        self.labels == *a.labels
            && self.annotations == *a.annotations
            && self.generator_url == *a.generator_url
    }
    fn into_alert(
        self,
        fingerprint: u64,
        starts_at: DateTime<Utc>,
        ends_at: DateTime<Utc>,
        timeout: bool,
        now: DateTime<Utc>,
    ) -> Alert {
        Alert {
            labels: Arc::new(self.labels),
            annotations: Arc::new(self.annotations),
            starts_at,
            ends_at,
            generator_url: Arc::from(self.generator_url),
            updated_at: now,
            timeout,
            fingerprint,
        }
    }
}

fn pairs_equal(p: &BorrowedPairs<'_>, m: &BTreeMap<String, String>) -> bool {
    p.len() == m.len() && p.iter().zip(m).all(|((k, v), (mk, mv))| k == mk && v == mv)
}

fn pairs_owned(p: BorrowedPairs<'_>) -> BTreeMap<String, String> {
    p.into_iter()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

impl Incoming for BorrowedAlert<'_> {
    fn times(&self) -> (Option<DateTime<Utc>>, Option<DateTime<Utc>>) {
        (self.starts_at, self.ends_at)
    }
    fn fingerprint(&self) -> u64 {
        fingerprint_of(self.labels.iter().map(|(k, v)| (k, v)))
    }
    fn same_content(&self, a: &Alert) -> bool {
        pairs_equal(&self.labels, &a.labels)
            && pairs_equal(&self.annotations, &a.annotations)
            && *self.generator_url == *a.generator_url
    }
    fn into_alert(
        self,
        fingerprint: u64,
        starts_at: DateTime<Utc>,
        ends_at: DateTime<Utc>,
        timeout: bool,
        now: DateTime<Utc>,
    ) -> Alert {
        Alert {
            labels: Arc::new(pairs_owned(self.labels)),
            annotations: Arc::new(pairs_owned(self.annotations)),
            starts_at,
            ends_at,
            generator_url: Arc::from(&*self.generator_url),
            updated_at: now,
            timeout,
            fingerprint,
        }
    }
}

/// Alertmanager's `AlertSlice` order: by `job`, then `instance`, then the label sets.
pub fn alert_order(a: &Alert, b: &Alert) -> std::cmp::Ordering {
    for k in ["job", "instance"] {
        match (a.labels.get(k), b.labels.get(k)) {
            (None, None) => continue,
            (None, Some(_)) => return std::cmp::Ordering::Greater,
            (Some(_), None) => return std::cmp::Ordering::Less,
            (Some(x), Some(y)) if x != y => return x.cmp(y),
            _ => {}
        }
    }
    a.labels.cmp(&b.labels)
}

/// Runs futures concurrently and collects their results in order.
async fn futures_join<F: std::future::Future<Output = bool>>(
    fs: impl Iterator<Item = F>,
) -> Vec<bool> {
    let fs: Vec<F> = fs.collect();
    let mut out = Vec::with_capacity(fs.len());
    // Integrations of one receiver are few; awaiting them in turn keeps this simple and
    // the group's flush order deterministic.
    for f in fs {
        out.push(f.await);
    }
    out
}

/// The in-process sink: the rule manager's alerts enter the pipeline directly.
pub struct PipelineSink(pub Arc<Pipeline>);

impl crate::notifier::AlertSink for PipelineSink {
    fn send(&self, alerts: Vec<crate::notifier::NotifierAlert>) {
        let parse = |s: &str| {
            if s.is_empty() {
                None
            } else {
                DateTime::parse_from_rfc3339(s)
                    .ok()
                    .map(|t| t.with_timezone(&Utc))
            }
        };
        let posted = alerts
            .into_iter()
            .map(|a| PostedAlert {
                starts_at: parse(&a.starts_at),
                ends_at: parse(&a.ends_at),
                labels: a.labels,
                annotations: a.annotations,
                generator_url: a.generator_url,
            })
            .collect();
        self.0.put(posted);
    }
}

/// Sends the rules' alerts to several sinks (external Alertmanagers and the pipeline).
pub struct TeeSink(pub Vec<Arc<dyn crate::notifier::AlertSink>>);

impl crate::notifier::AlertSink for TeeSink {
    fn send(&self, alerts: Vec<crate::notifier::NotifierAlert>) {
        if let Some((last, rest)) = self.0.split_last() {
            for s in rest {
                s.send(alerts.clone());
            }
            last.send(alerts);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn ls(kv: &[(&str, &str)]) -> LabelSet {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    const CFG: &str = r#"
route:
  receiver: default
  group_by: [alertname]
  routes:
    - matchers: [team="db"]
      receiver: db
      continue: true
      routes:
        - matchers: [severity="page"]
          receiver: db-pager
    - matchers: [team=~"db|web"]
      receiver: web
    - matchers: [team="other"]
      receiver: never
receivers: [{name: default}, {name: db}, {name: db-pager}, {name: web}, {name: never}]
inhibit_rules:
  - source_matchers: [severity="critical"]
    target_matchers: [severity="warning"]
    equal: [cluster]
"#;

    #[test]
    fn routes_match_first_child_continue_and_nested() {
        let c = AmConfig::load_str(CFG, "t", Path::new(".")).unwrap();
        let names = |l: &LabelSet| -> Vec<String> {
            match_routes(&c.route, l)
                .iter()
                .map(|r| r.receiver.clone())
                .collect()
        };
        assert_eq!(
            names(&ls(&[("team", "db"), ("severity", "page")])),
            vec!["db-pager", "web"]
        );
        assert_eq!(names(&ls(&[("team", "db")])), vec!["db", "web"]);
        assert_eq!(names(&ls(&[("team", "x")])), vec!["default"]);
        let paths = match_route_paths(&c.route, &ls(&[("team", "db"), ("severity", "page")]));
        assert_eq!(paths[0].len(), 3);
        assert_eq!(
            group_labels(&c.route, &ls(&[("alertname", "A"), ("x", "y")])),
            ls(&[("alertname", "A")])
        );
        // The group key's fingerprint is computed without building the group labels.
        let l = ls(&[("alertname", "A"), ("b", "1"), ("x", "y")]);
        let names = ["x".to_string(), "alertname".to_string()];
        assert_eq!(
            fingerprint_of(l.iter().filter(|(k, _)| names.contains(k))),
            fingerprint(&ls(&[("alertname", "A"), ("x", "y")]))
        );
    }

    fn alert(kv: &[(&str, &str)], now: DateTime<Utc>, resolved: bool) -> Alert {
        let labels = ls(kv);
        Alert {
            fingerprint: fingerprint(&labels),
            labels: Arc::new(labels),
            annotations: Arc::default(),
            starts_at: now - Duration::minutes(1),
            ends_at: if resolved {
                now - Duration::seconds(1)
            } else {
                now + Duration::minutes(5)
            },
            generator_url: Arc::from(""),
            updated_at: now,
            timeout: false,
        }
    }

    #[test]
    fn inhibition_needs_a_firing_source_with_equal_labels() {
        let c = AmConfig::load_str(CFG, "t", Path::new(".")).unwrap();
        let now = Utc::now();
        let src = alert(&[("severity", "critical"), ("cluster", "a")], now, false);
        let old = alert(
            &[("severity", "critical"), ("cluster", "b"), ("x", "1")],
            now,
            true,
        );
        let alerts = [src.clone(), old];
        let idx = InhibitIndex::build(&c.inhibit_rules, alerts.iter(), now);
        assert_eq!(
            idx.inhibited_by(&ls(&[("severity", "warning"), ("cluster", "a")])),
            Some(src.fingerprint)
        );
        assert_eq!(
            idx.inhibited_by(&ls(&[("severity", "warning"), ("cluster", "b")])),
            None
        );
        assert_eq!(idx.inhibited_by(&ls(&[("severity", "warning")])), None);
    }

    #[test]
    fn a_repost_with_only_new_times_shares_content_and_writes_only_the_end() {
        let dir = tempfile::tempdir().unwrap();
        let open = || {
            let c = AmConfig::load_str(CFG, "t", Path::new(".")).unwrap();
            Pipeline::open(
                c,
                Options {
                    data_dir: dir.path().to_path_buf(),
                    retention: StdDuration::from_secs(3600),
                    external_url: String::new(),
                },
            )
            .unwrap()
        };
        let p = open();
        let now = Utc::now();
        let labels = ls(&[("alertname", "A"), ("instance", "x")]);
        let fp = fingerprint(&labels);
        let post = |end: Duration, summary: &str| PostedAlert {
            labels: labels.clone(),
            annotations: ls(&[("summary", summary)]),
            starts_at: Some(now - Duration::minutes(1)),
            ends_at: Some(now + end),
            generator_url: "http://prom/graph".into(),
        };
        p.put(vec![post(Duration::minutes(4), "s")]);
        assert!(p.dirty.lock().changed.contains(&fp));
        p.flush_dirty();
        let first = p.alerts.read()[&fp].clone();

        // The next cycle moves the end by 15 s: the content is shared, nothing to write.
        p.put(vec![post(Duration::seconds(255), "s")]);
        let second = p.alerts.read()[&fp].clone();
        assert!(Arc::ptr_eq(&first.labels, &second.labels));
        assert!(Arc::ptr_eq(&first.annotations, &second.annotations));
        assert!(Arc::ptr_eq(&first.generator_url, &second.generator_url));
        assert_eq!(second.ends_at, now + Duration::seconds(255));
        {
            let d = p.dirty.lock();
            assert!(d.changed.is_empty() && d.ends.is_empty() && d.events.is_empty());
        }

        // An end far beyond the one on disk: only the end is written, and survives.
        p.put(vec![post(Duration::minutes(20), "s")]);
        {
            let d = p.dirty.lock();
            assert!(d.changed.is_empty() && d.ends.contains(&fp));
        }
        p.flush_dirty();
        drop(p);
        let p = open();
        let loaded = p.alerts.read()[&fp].clone();
        assert_eq!(
            loaded.ends_at.timestamp_millis(),
            (now + Duration::minutes(20)).timestamp_millis()
        );
        assert_eq!(loaded.annotations["summary"], "s");

        // New content is written whole.
        p.put(vec![post(Duration::minutes(20), "other")]);
        assert!(p.dirty.lock().changed.contains(&fp));
        p.flush_dirty();
        drop(p);
        let p = open();
        assert_eq!(p.alerts.read()[&fp].annotations["summary"], "other");
    }

    #[test]
    fn ends_are_written_when_earlier_or_when_the_one_on_disk_gets_near() {
        let now = Utc::now();
        let at = |s: i64| now + Duration::seconds(s);
        // Prometheus: ends 4 minutes ahead, re-posted every 15 s.
        assert!(!end_needs_writing(at(240), at(255), now));
        assert!(!end_needs_writing(at(120), at(240), now));
        assert!(end_needs_writing(at(119), at(240), now));
        // An earlier end is always written.
        assert!(end_needs_writing(at(240), at(230), now));
    }

    #[test]
    fn alerts_sort_by_job_instance_then_labels() {
        let now = Utc::now();
        let mut v = [
            alert(&[("a", "1")], now, false),
            alert(&[("job", "b")], now, false),
            alert(&[("job", "a"), ("instance", "2")], now, false),
            alert(&[("job", "a"), ("instance", "1")], now, false),
        ];
        v.sort_by(alert_order);
        assert_eq!(v[0].labels["instance"], "1");
        assert_eq!(v[2].labels["job"], "b");
        assert_eq!(v[3].labels["a"], "1");
    }
}
