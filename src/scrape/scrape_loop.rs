//! One scrape loop per target: wait for the target's offset, then scrape every interval,
//! append what was scraped plus the report series, commit once per scrape, and keep the
//! target's status for the UI.
//!
//! Mirrors upstream `scrapeLoop` in `scrape/scrape.go` (`run`, `scrapeAndReport`, `append`,
//! `report`, `reportStale`, `endOfRunStaleness`, `mutateSampleLabels`,
//! `mutateReportSampleLabels`, `verifyLabelLimits`, `limitAppender`, `timeLimitAppender`):
//!
//! - Timestamps: the scrape time, aligned to the loop's previous scrape times when within
//!   2 ms (intervals above 200 ms), so that TSDB delta encoding stays tight. With
//!   `honor_timestamps` a sample's own timestamp wins.
//! - Labels: a series seen before is looked up in the [`ScrapeCache`] by its text as written;
//!   a new one is built from the scraped pairs, merged with the target labels
//!   (`honor_labels`: scraped labels win; otherwise clashing scraped labels are renamed
//!   `exported_<name>`, prefixed again until free) and passed through
//!   `metric_relabel_configs`; a dropped series is remembered as dropped.
//! - Limits: `sample_limit`, `label_limit`, `label_name_length_limit`,
//!   `label_value_length_limit` fail the whole scrape. Nothing it appended is kept: the
//!   batch is rolled back and a fresh batch carries only the staleness markers and the
//!   report (`up` = 0), as upstream does.
//! - Out-of-order, duplicate and out-of-bounds samples (including those more than 10 minutes
//!   in the future) are counted per reason and skipped; the scrape still succeeds, as
//!   upstream, when the storage kept some of its samples (a warning says how many it
//!   dropped as out of bounds). Unlike upstream, a scrape the storage refused outright is a
//!   failed scrape: when every sample of the body was out of bounds, or when the report
//!   series (`up`, ...) could not be stored or the batch not committed, the target is down
//!   with the storage's reason as its last error, and `up` is 0 wherever the storage takes
//!   it (a report at a time the storage refuses cannot be stored; the target's status and
//!   `prometheus_target_scrapes_sample_out_of_bounds_total` still say so). Upstream shows
//!   such a target healthy while nothing of it is stored.
//! - Staleness: a series appended in the previous scrape and absent from this one gets a
//!   staleness marker at this scrape's timestamp; a failed scrape marks every series of the
//!   last successful scrape stale (upstream keeps, by accident of its bookkeeping, the
//!   series a failed *append* saw before failing; here all of them go stale, as the scrape
//!   produced nothing). Samples with explicit timestamps are not tracked unless
//!   `track_timestamps_staleness` is set.
//! - Stopping: when the pool stops a loop (target gone, job removed), the loop waits until
//!   the next two scrapes would have happened plus 10% of the interval and then writes
//!   staleness markers for every series of its last scrape and for its report series, at
//!   the time of the first scrape that did not happen — late enough that a target recreated
//!   elsewhere has already appended newer samples (which make the markers no-ops). Shutting
//!   down the whole manager writes no markers: the next start continues the series.

use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::RwLock;
use tokio::sync::{mpsc, watch};
use tokio::time::{Interval, MissedTickBehavior};

use crate::exposition::{self, Entry, Format};
use crate::model::relabel::{self, RelabelConfig};
use crate::model::time::now_ms;
use crate::model::{Label, Labels, METRIC_NAME, STALE_NAN};
use crate::scrape::cache::{CachedSeries, EntryId, FamilyMetadata, ScrapeCache};
use crate::scrape::error::{truncate_chars, ScrapeError};
use crate::scrape::metrics::ScrapeMetrics;
use crate::scrape::scraper::{HttpScraper, ScrapeUrl};
use crate::scrape::settings::Limits;
use crate::scrape::target::Target;
use crate::storage::{AppendError, Appendable, Appender, SeriesHandle, SeriesRef};

/// Prefix given to scraped labels that clash with target labels (`honor_labels: false`).
pub const EXPORTED_LABEL_PREFIX: &str = "exported_";

/// Names of the report series written for every scrape, in upstream's order.
pub const REPORT_SERIES: [&str; 5] = [
    "up",
    "scrape_duration_seconds",
    "scrape_samples_scraped",
    "scrape_samples_post_metric_relabeling",
    "scrape_series_added",
];

/// Samples more than this far in the future are refused (upstream `timeLimitAppender`).
const MAX_AHEAD_MS: i64 = 10 * 60 * 1000;

/// Scrape times within this distance of the ideal grid are snapped to it.
const TIMESTAMP_TOLERANCE_MS: i64 = 2;

/// Everything a loop needs to scrape its target; replaced as a whole on reload.
#[derive(Debug, Clone)]
pub(crate) struct LoopSettings {
    pub target: Target,
    /// The target's labels without `__` names, attached to every sample.
    pub target_labels: Labels,
    pub honor_labels: bool,
    pub honor_timestamps: bool,
    pub track_timestamps_staleness: bool,
    pub metric_relabel_configs: Vec<RelabelConfig>,
    pub limits: Limits,
    pub scraper: Arc<HttpScraper>,
    /// Set when every scrape must fail without a request (`target_limit` exceeded).
    pub forced_error: Option<ScrapeError>,
    pub offset_seed: u64,
    /// See [`crate::scrape::ManagerOptions::first_scrape_within`].
    pub first_scrape_within: Option<Duration>,
    pub job: String,
}

impl LoopSettings {
    /// True when the cached final labels built under `self` are still valid under `other`.
    fn same_label_inputs(&self, other: &LoopSettings) -> bool {
        self.target_labels == other.target_labels
            && self.honor_labels == other.honor_labels
            && self.metric_relabel_configs == other.metric_relabel_configs
    }

    /// True when `other` would scrape exactly as `self` does.
    pub(crate) fn same_as(&self, other: &LoopSettings) -> bool {
        self.same_label_inputs(other)
            && self.target == other.target
            && self.honor_timestamps == other.honor_timestamps
            && self.track_timestamps_staleness == other.track_timestamps_staleness
            && self.limits == other.limits
            && Arc::ptr_eq(&self.scraper, &other.scraper)
            && self.forced_error == other.forced_error
            && self.offset_seed == other.offset_seed
            && self.first_scrape_within == other.first_scrape_within
    }
}

/// Health of a target, as the UI and `/api/v1/targets` show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TargetHealth {
    /// Not scraped yet.
    #[default]
    Unknown,
    Up,
    Down,
}

impl TargetHealth {
    /// `unknown`, `up` or `down`, the API spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            TargetHealth::Unknown => "unknown",
            TargetHealth::Up => "up",
            TargetHealth::Down => "down",
        }
    }
}

/// What the last scrape of a target did; shared with the pool for snapshots.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TargetStatus {
    pub health: TargetHealth,
    /// Why the last scrape failed.
    pub last_error: Option<String>,
    /// Timestamp (ms) of the last scrape.
    pub last_scrape_ms: Option<i64>,
    pub last_scrape_duration: Duration,
    /// Scrapes done by this loop since it started (a reload keeps the loop and the count).
    pub scrapes: u64,
    /// `scrape_samples_post_metric_relabeling` of the last scrape.
    pub last_samples: u64,
    /// Series in the scrape cache (including dropped ones).
    pub cached_series: usize,
    /// TYPE/HELP/UNIT by metric family as the target exposes them (`/api/v1/metadata`).
    pub metadata: Arc<std::collections::BTreeMap<String, FamilyMetadata>>,
}

/// Messages from the pool to a running loop.
#[derive(Debug)]
pub(crate) enum Control {
    /// New settings (reload, target limit change); the loop keeps running.
    Update(Arc<LoopSettings>),
    /// The target is gone: stop and write end-of-run staleness markers.
    Stop,
}

/// Counts of one pass over a body.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct AppendStats {
    /// Samples in the body (upstream `scrape_samples_scraped`).
    pub total: u64,
    /// Samples left after metric relabeling (`scrape_samples_post_metric_relabeling`).
    pub added: u64,
    /// Series new to the cache (`scrape_series_added`).
    pub series_added: u64,
    /// Samples the appender accepted.
    pub appended: u64,
    pub out_of_order: u64,
    pub duplicate: u64,
    pub out_of_bounds: u64,
    /// Why the first out-of-bounds sample was refused (for the target's last error).
    pub first_out_of_bounds: Option<String>,
    pub stale_markers: u64,
}

/// Builds a scraped series' final labels from the metric name and its pairs as written
/// (empty values included, so that `honor_labels` sees them): upstream
/// `mutateSampleLabels` followed by metric relabeling. `None` means dropped.
pub(crate) fn mutate_sample_labels(
    scraped: Vec<Label>,
    target: &Labels,
    honor_labels: bool,
    metric_relabel: &[RelabelConfig],
) -> Option<Labels> {
    let has = |v: &[Label], name: &str| v.iter().any(|l| l.name == name);
    let mut out = scraped.clone();
    let set =
        |v: &mut Vec<Label>, name: &str, value: &str| match v.iter_mut().find(|l| l.name == name) {
            Some(l) => value.clone_into(&mut l.value),
            None => v.push(Label::new(name, value)),
        };
    if honor_labels {
        for l in target {
            if !has(&scraped, &l.name) {
                out.push(l.clone());
            }
        }
    } else {
        let mut conflicts: Vec<Label> = Vec::new();
        for l in target {
            if let Some(existing) = scraped
                .iter()
                .find(|s| s.name == l.name && !s.value.is_empty())
            {
                conflicts.push(existing.clone());
            }
            set(&mut out, &l.name, &l.value);
        }
        // Shorter names are renamed first, so `exported_a` is taken by `a` before `exported_a`
        // itself is renamed (upstream `resolveConflictingExposedLabels`).
        conflicts.sort_by_key(|l| l.name.len());
        for i in 0..conflicts.len() {
            let mut name = conflicts[i].name.clone();
            loop {
                name = format!("{EXPORTED_LABEL_PREFIX}{name}");
                if !has(&scraped, &name)
                    && target.get(&name).is_none()
                    && !has(&conflicts[..i], &name)
                {
                    break;
                }
            }
            conflicts[i].name = name;
        }
        for l in conflicts {
            set(&mut out, &l.name, &l.value);
        }
    }
    let labels = Labels::new(out);
    if metric_relabel.is_empty() {
        Some(labels)
    } else {
        relabel::process(&labels, metric_relabel)
    }
}

/// Upstream `mutateReportSampleLabels`: target labels always win, and a clashing label of
/// the report series (there is none but `__name__`) moves to `exported_<name>`.
fn report_labels(name: &str, target: &Labels) -> Labels {
    let mut out = vec![Label::new(METRIC_NAME, name)];
    for l in target {
        let existing = if l.name == METRIC_NAME { name } else { "" };
        out.push(Label::new(
            format!("{EXPORTED_LABEL_PREFIX}{}", l.name),
            existing,
        ));
        out.retain(|x| x.name != l.name);
        out.push(l.clone());
    }
    Labels::new(out)
}

/// Upstream `verifyLabelLimits`.
pub(crate) fn verify_label_limits(labels: &Labels, limits: &Limits) -> Result<(), ScrapeError> {
    let metric = || truncate_chars(labels.metric_name().unwrap_or_default(), 50);
    if limits.label_limit > 0 && labels.len() as u64 > limits.label_limit {
        return Err(ScrapeError::LabelLimit {
            metric: metric(),
            count: labels.len(),
            limit: limits.label_limit,
        });
    }
    for l in labels {
        if limits.label_name_length_limit > 0
            && l.name.len() as u64 > limits.label_name_length_limit
        {
            return Err(ScrapeError::LabelNameLengthLimit {
                metric: metric(),
                name: truncate_chars(&l.name, 50),
                length: l.name.len(),
                limit: limits.label_name_length_limit,
            });
        }
        if limits.label_value_length_limit > 0
            && l.value.len() as u64 > limits.label_value_length_limit
        {
            return Err(ScrapeError::LabelValueLengthLimit {
                metric: metric(),
                name: truncate_chars(&l.name, 50),
                value: truncate_chars(&l.value, 50),
                length: l.value.len(),
                limit: limits.label_value_length_limit,
            });
        }
    }
    Ok(())
}

/// How a sample reached the storage.
enum Appended {
    /// By the cached handle or ref; the cache entry stays as it is.
    Cached,
    /// By labels: the ref and handle to cache from now on (0 and `None` when the storage
    /// has none), and the labels used.
    ByLabels {
        sref: SeriesRef,
        handle: Option<SeriesHandle>,
        labels: Arc<Labels>,
    },
}

/// Appends one sample of a cached series: by its handle, else by its ref, when the storage
/// still knows them, else by its cached labels or, when none are cached (the storage
/// forgot the ref), by the labels `rebuild` yields.
fn append_cached(
    app: &mut dyn Appender,
    c: &CachedSeries,
    rebuild: impl FnOnce() -> Arc<Labels>,
    t: i64,
    v: f64,
) -> Result<Appended, AppendError> {
    if let Some(h) = &c.handle {
        if let Some(r) = app.append_handle(h, t, v) {
            return r.map(|()| Appended::Cached);
        }
    } else if c.sref != 0 {
        if let Some(r) = app.append_ref(c.sref, t, v) {
            return r.map(|()| Appended::Cached);
        }
    }
    let labels = c.labels.clone().unwrap_or_else(rebuild);
    append_by_labels(app, labels, t, v)
}

fn append_by_labels(
    app: &mut dyn Appender,
    labels: Arc<Labels>,
    t: i64,
    v: f64,
) -> Result<Appended, AppendError> {
    app.append_returning_handle(&labels, t, v)
        .map(|(sref, handle)| Appended::ByLabels {
            sref,
            handle,
            labels,
        })
}

/// The scraped labels of a sample, metric name first, as written.
fn scraped_labels(sample: &exposition::SampleEntry<'_>) -> Vec<Label> {
    let mut scraped = Vec::with_capacity(8);
    scraped.push(Label::new(METRIC_NAME, sample.name.as_ref()));
    for (n, v) in sample.labels.iter() {
        scraped.push(Label::new(n, v));
    }
    scraped
}

/// Appends one body (an empty body for a failed scrape) and the staleness markers it
/// implies; upstream `scrapeLoop.append`. On `Err` the caller must roll back: the cache has
/// not been rotated and the batch holds a partial scrape.
pub(crate) fn append_body(
    app: &mut dyn Appender,
    cache: &mut ScrapeCache,
    s: &LoopSettings,
    body: &[u8],
    content_type: &str,
    ts: i64,
    now: i64,
) -> (AppendStats, Result<(), ScrapeError>) {
    let mut b = BodyAppend {
        app,
        cache,
        s,
        ts,
        max_t: now.saturating_add(MAX_AHEAD_MS),
        st: AppendStats::default(),
    };
    let res = b
        .append_samples(body, content_type)
        .and_then(|()| b.append_stale_markers());
    if res.is_ok() {
        b.cache.iter_done(!body.is_empty());
    }
    (b.st, res)
}

/// One body being appended: the batch, the target's scrape cache, its settings, the
/// scrape's timestamp and the latest one accepted, and the counts so far.
struct BodyAppend<'a> {
    app: &'a mut dyn Appender,
    cache: &'a mut ScrapeCache,
    s: &'a LoopSettings,
    ts: i64,
    max_t: i64,
    st: AppendStats,
}

/// A sample's series: in the scrape cache, or new, with its final labels and their hash.
enum SampleSeries {
    Cached(EntryId),
    New(Arc<Labels>, u64),
}

impl BodyAppend<'_> {
    /// Parses `body`, relabels its samples' series and appends them; stops at the first
    /// error. The sample limit counts samples that survived relabeling; parsing goes on past
    /// it so that `scrape_samples_scraped` reports the whole body, and it is reported last.
    fn append_samples(&mut self, body: &[u8], content_type: &str) -> Result<(), ScrapeError> {
        let mut limited: u64 = 0;
        let mut sample_limit_hit = false;
        let mut parser = exposition::parse(body, Format::from_content_type(content_type));
        while let Some(entry) = parser.next_expecting(self.cache.expected_next()) {
            let sample = match entry {
                Ok(Entry::Sample(sample)) => sample,
                Ok(Entry::Eof) => break,
                Ok(other) => {
                    record_metadata(self.cache, other);
                    continue;
                }
                Err(e) => return Err(ScrapeError::Parse(e)),
            };
            self.st.total += 1;
            let Some(series) = self.sample_series(&sample)? else {
                continue;
            };
            self.st.added += 1;
            if self.s.limits.sample_limit > 0 {
                limited += 1;
                if limited > self.s.limits.sample_limit {
                    sample_limit_hit = true;
                }
            }
            if sample_limit_hit {
                continue;
            }
            self.append_sample(&sample, series)?;
        }
        if sample_limit_hit {
            return Err(ScrapeError::SampleLimit);
        }
        Ok(())
    }

    /// Finds a sample's series in the cache, or builds and checks its labels; `None` when the
    /// sample is dropped (by relabeling now or when it was first seen).
    fn sample_series(
        &mut self,
        sample: &exposition::SampleEntry<'_>,
    ) -> Result<Option<SampleSeries>, ScrapeError> {
        let (app, cache, s) = (&mut *self.app, &mut *self.cache, self.s);
        match cache.find(sample.series_text) {
            Some(id) if cache.series(id).is_none() => Ok(None),
            Some(id) => {
                // The series after the next one is appended soon: have the storage start
                // loading it (the scrape cache's order is the body's).
                if let Some(h) = cache.handle_ahead(1) {
                    app.prefetch_handle(h);
                }
                Ok(Some(SampleSeries::Cached(id)))
            }
            None => {
                let Some(labels) = relabeled_sample_labels(sample, s) else {
                    cache.add_dropped(sample.series_text);
                    return Ok(None);
                };
                if labels.is_empty() {
                    cache.add_dropped(sample.series_text);
                    return Ok(None);
                }
                if labels.metric_name().is_none() {
                    return Err(ScrapeError::NameLabelMandatory);
                }
                verify_label_limits(&labels, &s.limits)?;
                let hash = labels.stable_hash();
                Ok(Some(SampleSeries::New(Arc::new(labels), hash)))
            }
        }
    }

    /// Appends one sample and records the outcome in the cache and `st`. Rejections the
    /// storage counts per sample (out of order, duplicate, out of bounds) are not errors.
    fn append_sample(
        &mut self,
        sample: &exposition::SampleEntry<'_>,
        series: SampleSeries,
    ) -> Result<(), ScrapeError> {
        let (app, cache, s, st) = (&mut *self.app, &mut *self.cache, self.s, &mut self.st);
        let (ts, max_t) = (self.ts, self.max_t);
        let explicit_ts = if s.honor_timestamps {
            sample.timestamp
        } else {
            None
        };
        let t = explicit_ts.unwrap_or(ts);
        let res = if t > max_t {
            Err(AppendError::OutOfBounds { t, min_valid: 0 })
        } else {
            match &series {
                // A cached series without labels had a ref the storage forgot (series
                // garbage-collected): its labels are rebuilt from the sample, exactly as
                // they were first built (the cache is cleared when their inputs change).
                SampleSeries::Cached(id) => match cache.series(*id) {
                    Some(c) => append_cached(
                        app,
                        c,
                        || Arc::new(relabeled_sample_labels(sample, s).unwrap_or_default()),
                        t,
                        sample.value,
                    ),
                    None => return Ok(()),
                },
                SampleSeries::New(labels, _) => {
                    append_by_labels(app, Arc::clone(labels), t, sample.value)
                }
            }
        };
        let track = explicit_ts.is_none() || s.track_timestamps_staleness;
        match res {
            Ok(appended) => {
                st.appended += 1;
                cache_appended(cache, sample.series_text, series, appended, track, st);
            }
            Err(AppendError::OutOfOrder { .. }) => st.out_of_order += 1,
            Err(AppendError::DuplicateSampleForTimestamp { .. }) => st.duplicate += 1,
            Err(e @ AppendError::OutOfBounds { .. }) => {
                st.out_of_bounds += 1;
                if st.first_out_of_bounds.is_none() {
                    st.first_out_of_bounds = Some(if t > max_t {
                        format!(
                            "out of bounds: timestamp {t} is more than {}s in the future",
                            MAX_AHEAD_MS / 1000
                        )
                    } else {
                        e.to_string()
                    });
                }
            }
            Err(e) => return Err(ScrapeError::Storage(e)),
        }
        Ok(())
    }

    /// Appends staleness markers for the series the previous scrape had and this one lacks.
    fn append_stale_markers(&mut self) -> Result<(), ScrapeError> {
        let (app, st, ts) = (&mut *self.app, &mut self.st, self.ts);
        for (sref, labels) in self.cache.stale_series() {
            let res = match (sref, labels) {
                (0, Some(l)) => app.append(l, ts, STALE_NAN),
                (0, None) => continue,
                // A series the storage garbage-collected has no samples left to mark stale.
                (r, _) => match app.append_ref(r, ts, STALE_NAN) {
                    Some(res) => res,
                    None => continue,
                },
            };
            match res {
                Ok(()) => st.stale_markers += 1,
                // Expected when the target came back in another loop that already appended.
                Err(AppendError::OutOfOrder { .. })
                | Err(AppendError::DuplicateSampleForTimestamp { .. }) => {}
                Err(e) => return Err(ScrapeError::Storage(e)),
            }
        }
        Ok(())
    }
}

/// Records a TYPE, HELP or UNIT line in the cache's metadata; other entries carry none.
fn record_metadata(cache: &mut ScrapeCache, entry: Entry<'_>) {
    match entry {
        Entry::Type {
            metric_family,
            metric_type,
        } => cache.set_type(&metric_family, metric_type),
        Entry::Help {
            metric_family,
            text,
        } => cache.set_help(&metric_family, &text),
        Entry::Unit {
            metric_family,
            unit,
        } => cache.set_unit(&metric_family, unit),
        _ => {}
    }
}

/// A sample's series labels after target labels and metric relabeling; `None` when
/// relabeling drops it.
fn relabeled_sample_labels(
    sample: &exposition::SampleEntry<'_>,
    s: &LoopSettings,
) -> Option<Labels> {
    mutate_sample_labels(
        scraped_labels(sample),
        &s.target_labels,
        s.honor_labels,
        &s.metric_relabel_configs,
    )
}

/// Updates the cache after a sample was appended: the ref and handle to use next time, the
/// series seen this scrape (when `track`, for staleness), and new series.
fn cache_appended(
    cache: &mut ScrapeCache,
    series_text: &str,
    series: SampleSeries,
    appended: Appended,
    track: bool,
    st: &mut AppendStats,
) {
    match (series, appended) {
        (SampleSeries::Cached(id), Appended::Cached) => {
            if track {
                cache.track_staleness_of(id);
            }
        }
        (
            SampleSeries::Cached(id),
            Appended::ByLabels {
                sref,
                handle,
                labels,
            },
        ) => {
            let old = cache.series(id).map_or(0, |c| c.sref);
            if sref != old || handle.is_some() {
                cache.set_ref(id, sref, handle);
            }
            if track {
                let hash = cache.series(id).map_or(0, |c| c.hash);
                cache.track_staleness(hash, sref, Some(&labels));
            }
        }
        (SampleSeries::New(_, hash), appended) => {
            st.series_added += 1;
            if let Appended::ByLabels {
                sref,
                handle,
                labels,
            } = appended
            {
                if track {
                    cache.track_staleness(hash, sref, Some(&labels));
                }
                cache.add(series_text, labels, hash, sref, handle);
            }
        }
    }
}

/// Cache keys of the report series: their names after a NUL byte.
const REPORT_KEYS: [&str; 5] = [
    "\0up",
    "\0scrape_duration_seconds",
    "\0scrape_samples_scraped",
    "\0scrape_samples_post_metric_relabeling",
    "\0scrape_series_added",
];

/// Appends the five report series with `values` (or staleness markers when `values` is
/// `None`); upstream `report`/`reportStale`.
fn append_report(
    app: &mut dyn Appender,
    cache: &mut ScrapeCache,
    target_labels: &Labels,
    ts: i64,
    values: Option<[f64; 5]>,
) -> Result<(), AppendError> {
    for (i, (name, key)) in REPORT_SERIES.iter().zip(REPORT_KEYS).enumerate() {
        let v = values.map_or(STALE_NAN, |vs| vs[i]);
        let build = || Arc::new(report_labels(name, target_labels));
        let id = cache.find(key);
        let res = match id.and_then(|id| cache.series(id)) {
            Some(c) => append_cached(app, c, build, ts, v),
            None => append_by_labels(app, build(), ts, v),
        };
        match res {
            Ok(Appended::Cached) => {}
            Ok(Appended::ByLabels {
                sref,
                handle,
                labels,
            }) => match id {
                Some(id) => cache.set_ref(id, sref, handle),
                None => {
                    let hash = labels.stable_hash();
                    cache.add(key, labels, hash, sref, handle);
                }
            },
            Err(AppendError::OutOfOrder { .. })
            | Err(AppendError::DuplicateSampleForTimestamp { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Snaps a scrape time to the loop's grid (`aligned` plus whole intervals) when it is within
/// 2 ms of it, for intervals above 200 ms; returns the timestamp to use and the grid point
/// nearest to it (upstream's `AlignScrapeTimestamps`, which only snaps late ticks; early ones
/// are snapped here too).
fn align(ts: i64, aligned: i64, iv: i64) -> (i64, i64) {
    if iv <= 100 * TIMESTAMP_TOLERANCE_MS {
        return (ts, aligned);
    }
    let k = (ts - aligned + iv / 2).div_euclid(iv);
    let grid = aligned + k * iv;
    if (ts - grid).abs() <= TIMESTAMP_TOLERANCE_MS {
        (grid, grid)
    } else {
        (ts, grid)
    }
}

/// Body buffers shared by all scrape loops ([`BODY_BUFFERS`]). Scrapes of different
/// targets rarely overlap, so a few buffers serve them all and stay in the CPU caches,
/// where a buffer per loop would be cold by its next scrape (and would pin a body's worth
/// of memory per target).
struct BufferPool(parking_lot::Mutex<Vec<Vec<u8>>>);

static BODY_BUFFERS: BufferPool = BufferPool::new();

impl BufferPool {
    /// Buffers kept for reuse; more are dropped.
    const KEEP: usize = 8;
    /// A buffer grown beyond this by a huge body is not kept.
    const MAX_KEPT_CAPACITY: usize = 16 << 20;

    const fn new() -> BufferPool {
        BufferPool(parking_lot::Mutex::new(Vec::new()))
    }

    /// An empty buffer, the most recently returned one when there is one.
    fn take(&self) -> Vec<u8> {
        self.0.lock().pop().unwrap_or_default()
    }

    /// Returns a buffer for reuse.
    fn give(&self, mut buf: Vec<u8>) {
        if buf.capacity() == 0 || buf.capacity() > Self::MAX_KEPT_CAPACITY {
            return;
        }
        buf.clear();
        let mut pool = self.0.lock();
        if pool.len() < Self::KEEP {
            pool.push(buf);
        }
    }
}

/// The state of one running loop.
pub(crate) struct ScrapeLoop {
    settings: Arc<LoopSettings>,
    appendable: Arc<dyn Appendable>,
    cache: ScrapeCache,
    status: Arc<RwLock<TargetStatus>>,
    metrics: Arc<ScrapeMetrics>,
    /// The body of the scrape in progress (from [`BODY_BUFFERS`]; empty between scrapes).
    buf: Vec<u8>,
    /// The target's URL as parsed for the last scrape (re-parsed when settings change it).
    url: Option<ScrapeUrl>,
    forced_flushes_seen: u64,
}

fn now_unix_nanos() -> i128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i128)
}

fn ticker(interval: Duration) -> Interval {
    let mut t = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
    t.set_missed_tick_behavior(MissedTickBehavior::Skip);
    t
}

impl ScrapeLoop {
    pub(crate) fn new(
        settings: Arc<LoopSettings>,
        appendable: Arc<dyn Appendable>,
        status: Arc<RwLock<TargetStatus>>,
        metrics: Arc<ScrapeMetrics>,
    ) -> ScrapeLoop {
        ScrapeLoop {
            settings,
            appendable,
            cache: ScrapeCache::new(),
            status,
            metrics,
            buf: Vec::new(),
            url: None,
            forced_flushes_seen: 0,
        }
    }

    /// Takes new settings; cached labels are dropped when what they were built from changed
    /// (series whose labels change are then marked stale by the next scrape).
    pub(crate) fn apply_settings(&mut self, new: Arc<LoopSettings>) {
        if !self.settings.same_label_inputs(&new) {
            self.cache.clear_series();
        }
        self.settings = new;
    }

    /// Appends the outcome of one scrape (`Ok(content type)` with the body in `self.buf`,
    /// or the error) at `ts`, reports, commits, and updates status and counters.
    pub(crate) fn process(&mut self, result: Result<String, ScrapeError>, ts: i64, start: Instant) {
        let s = Arc::clone(&self.settings);
        let m = &self.metrics;
        let now = now_ms();
        let mut app = self.appendable.appender();
        let (body, content_type, mut scrape_err): (&[u8], &str, Option<ScrapeError>) = match &result
        {
            Ok(ct) => (&self.buf, ct.as_str(), None),
            Err(e) => (b"", "", Some(e.clone())),
        };
        // The last scrape's size is the best guess for this one's (plus report series).
        app.reserve(self.status.read().last_samples as usize + REPORT_SERIES.len());
        let (mut stats, res) =
            append_body(&mut *app, &mut self.cache, &s, body, content_type, ts, now);
        if let Err(e) = res {
            app.rollback();
            app = self.appendable.appender();
            match &e {
                ScrapeError::SampleLimit => ScrapeMetrics::inc(&m.sample_limit),
                ScrapeError::LabelLimit { .. }
                | ScrapeError::LabelNameLengthLimit { .. }
                | ScrapeError::LabelValueLengthLimit { .. } => ScrapeMetrics::inc(&m.label_limit),
                _ => {}
            }
            tracing::debug!(job = %s.job, url = s.target.url(), error = %e, "append failed");
            // The scrape produced nothing: every series of the last good scrape goes stale.
            self.cache.reset_current();
            let (st2, r2) = append_body(&mut *app, &mut self.cache, &s, b"", "", ts, now);
            stats.appended = 0;
            stats.stale_markers = st2.stale_markers;
            if let Err(e2) = r2 {
                tracing::warn!(job = %s.job, url = s.target.url(), error = %e2, "appending staleness markers failed");
                app.rollback();
                app = self.appendable.appender();
                stats.stale_markers = 0;
            }
            scrape_err.get_or_insert(e);
        }
        if matches!(scrape_err, Some(ScrapeError::BodySizeLimit)) {
            ScrapeMetrics::inc(&m.body_size_limit);
        }
        if stats.out_of_bounds > 0 {
            if scrape_err.is_none() && stats.appended == 0 {
                // Nothing of the body was stored: not a healthy scrape.
                scrape_err = Some(ScrapeError::SamplesRejected {
                    rejected: stats.out_of_bounds,
                    reason: stats.first_out_of_bounds.take().unwrap_or_default(),
                });
            } else {
                tracing::warn!(
                    job = %s.job,
                    url = s.target.url(),
                    num_dropped = stats.out_of_bounds,
                    reason = stats.first_out_of_bounds.as_deref().unwrap_or_default(),
                    "samples too old or too far into the future were dropped"
                );
            }
        }
        let duration = start.elapsed();
        let up = scrape_err.is_none();
        let values = [
            if up { 1.0 } else { 0.0 },
            duration.as_secs_f64(),
            stats.total as f64,
            stats.added as f64,
            stats.series_added as f64,
        ];
        let committed = match append_report(
            &mut *app,
            &mut self.cache,
            &s.target_labels,
            ts,
            Some(values),
        ) {
            Ok(()) => app.commit(),
            Err(e) => {
                app.rollback();
                Err(e)
            }
        };
        ScrapeMetrics::inc(&m.scrapes);
        ScrapeMetrics::add(&m.out_of_order, stats.out_of_order);
        ScrapeMetrics::add(&m.duplicate, stats.duplicate);
        ScrapeMetrics::add(&m.out_of_bounds, stats.out_of_bounds);
        match committed {
            Ok(()) => {
                ScrapeMetrics::add(&m.samples_appended, stats.appended);
                ScrapeMetrics::add(&m.stale_markers, stats.stale_markers);
            }
            Err(e) => {
                ScrapeMetrics::inc(&m.commit_failed);
                tracing::warn!(job = %s.job, url = s.target.url(), error = %e, "scrape commit failed");
                // Nothing of this scrape was stored, `up` included: the target is down,
                // with the storage's reason unless the scrape had failed already.
                if scrape_err.is_none() {
                    scrape_err = Some(ScrapeError::Commit(e));
                }
            }
        }
        let up = scrape_err.is_none();
        if !up {
            ScrapeMetrics::inc(&m.scrapes_failed);
        }
        let forced = self.cache.forced_flushes();
        ScrapeMetrics::add(&m.cache_flush_forced, forced - self.forced_flushes_seen);
        self.forced_flushes_seen = forced;
        let (cached, dropped) = self.cache.len();
        let metadata = self.cache.take_metadata();
        let mut st = self.status.write();
        if let Some(m) = metadata {
            st.metadata = Arc::new(m);
        }
        st.health = if up {
            TargetHealth::Up
        } else {
            TargetHealth::Down
        };
        st.last_error = scrape_err.map(|e| e.to_string());
        st.last_scrape_ms = Some(ts);
        st.last_scrape_duration = duration;
        st.scrapes += 1;
        st.last_samples = stats.added;
        st.cached_series = cached + dropped;
    }

    /// Writes staleness markers for every series of the last scrape and for the report
    /// series, at `ts` (upstream `endOfRunStaleness` after its waits).
    pub(crate) fn write_end_of_run_staleness(&mut self, ts: i64) {
        let s = Arc::clone(&self.settings);
        let mut app = self.appendable.appender();
        self.cache.reset_current();
        let (st, r) = append_body(&mut *app, &mut self.cache, &s, b"", "", ts, now_ms());
        let mut markers = st.stale_markers;
        if let Err(e) = r {
            tracing::warn!(job = %s.job, url = s.target.url(), error = %e, "stale append failed");
            app.rollback();
            app = self.appendable.appender();
            markers = 0;
        }
        if let Err(e) = append_report(&mut *app, &mut self.cache, &s.target_labels, ts, None) {
            tracing::warn!(job = %s.job, url = s.target.url(), error = %e, "stale report failed");
        } else {
            markers += REPORT_SERIES.len() as u64;
        }
        match app.commit() {
            Ok(()) => ScrapeMetrics::add(&self.metrics.stale_markers, markers),
            Err(e) => {
                ScrapeMetrics::inc(&self.metrics.commit_failed);
                tracing::warn!(job = %s.job, url = s.target.url(), error = %e, "stale commit failed");
            }
        }
    }

    async fn scrape_and_report(&mut self, ts: i64) {
        let start = Instant::now();
        let s = Arc::clone(&self.settings);
        self.buf = BODY_BUFFERS.take();
        let result = match &s.forced_error {
            Some(e) => Err(e.clone()),
            None => {
                let text = s.target.url();
                let url = match &mut self.url {
                    Some(u) if u.as_str() == text => u,
                    slot => slot.insert(ScrapeUrl::new(text)),
                };
                s.scraper
                    .scrape_url(
                        url,
                        s.target.timeout(),
                        s.limits.body_size_limit,
                        &mut self.buf,
                    )
                    .await
            }
        };
        self.process(result, ts, start);
        BODY_BUFFERS.give(std::mem::take(&mut self.buf));
    }

    /// Runs until stopped (then writes end-of-run staleness) or shut down (then writes
    /// nothing, and an in-flight scrape is abandoned before anything is appended).
    pub(crate) async fn run(
        mut self,
        mut ctl: mpsc::UnboundedReceiver<Control>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let first = {
            let s = &self.settings;
            let interval = s.target.interval();
            let offset = s.target.offset(interval, s.offset_seed, now_unix_nanos());
            match s.first_scrape_within {
                Some(window) if window < interval => {
                    // Scaled into the window: the targets keep their relative order.
                    let frac = offset.as_secs_f64() / interval.as_secs_f64().max(1e-9);
                    window.mul_f64(frac.clamp(0.0, 1.0))
                }
                _ => offset,
            }
        };
        let sleep = tokio::time::sleep(first);
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                _ = &mut sleep => break,
                msg = ctl.recv() => match msg {
                    Some(Control::Update(s)) => self.apply_settings(s),
                    Some(Control::Stop) | None => return,
                },
                _ = shutdown.changed() => return,
            }
        }
        let mut interval = self.settings.target.interval();
        let mut tick = ticker(interval);
        let mut aligned = now_ms();
        loop {
            if *shutdown.borrow() {
                return;
            }
            let (ts, grid) = align(now_ms(), aligned, interval.as_millis() as i64);
            aligned = grid;
            tokio::select! {
                biased;
                _ = shutdown.changed() => return,
                _ = self.scrape_and_report(ts) => {}
            }
            loop {
                tokio::select! {
                    _ = tick.tick() => break,
                    msg = ctl.recv() => match msg {
                        Some(Control::Update(s)) => {
                            self.apply_settings(s);
                            let new = self.settings.target.interval();
                            if new != interval {
                                interval = new;
                                tick = ticker(interval);
                                aligned = now_ms() + interval.as_millis() as i64;
                            }
                        }
                        Some(Control::Stop) => {
                            self.end_of_run(&mut tick, interval, &mut shutdown).await;
                            return;
                        }
                        None => return,
                    },
                    _ = shutdown.changed() => return,
                }
            }
        }
    }

    async fn end_of_run(
        &mut self,
        tick: &mut Interval,
        interval: Duration,
        shutdown: &mut watch::Receiver<bool>,
    ) {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => return,
        }
        let stale_time = now_ms();
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => return,
        }
        tokio::select! {
            _ = tokio::time::sleep(interval / 10) => {}
            _ = shutdown.changed() => return,
        }
        self.write_end_of_run_staleness(stale_time);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::relabel::{Action, RelabelRegex};
    use crate::model::{is_stale_nan, Sample};
    use crate::scrape::memory::MemoryAppendable;
    use crate::scrape::settings::{HttpSettings, PoolConfig};
    use crate::scrape::target::{labels_for, populate_labels, Populated};

    const CT: &str = "text/plain; version=0.0.4";

    struct Fixture {
        lp: ScrapeLoop,
        store: MemoryAppendable,
        status: Arc<RwLock<TargetStatus>>,
        metrics: Arc<ScrapeMetrics>,
    }

    fn settings(edit: impl FnOnce(&mut LoopSettings)) -> Arc<LoopSettings> {
        let Ok(Populated::Active { labels, discovered }) =
            populate_labels(labels_for("h:1", "j"), &PoolConfig::new("j"))
        else {
            panic!("target")
        };
        let target = Target::new(labels, discovered, Default::default());
        let mut s = LoopSettings {
            target_labels: target.labels(),
            target,
            honor_labels: false,
            honor_timestamps: true,
            track_timestamps_staleness: false,
            metric_relabel_configs: Vec::new(),
            limits: Limits::default(),
            scraper: Arc::new(HttpScraper::new(&HttpSettings::default()).unwrap()),
            forced_error: None,
            offset_seed: 0,
            first_scrape_within: None,
            job: "j".into(),
        };
        edit(&mut s);
        Arc::new(s)
    }

    fn fixture(edit: impl FnOnce(&mut LoopSettings)) -> Fixture {
        let store = MemoryAppendable::new();
        let status = Arc::new(RwLock::new(TargetStatus::default()));
        let metrics = Arc::new(ScrapeMetrics::default());
        let lp = ScrapeLoop::new(
            settings(edit),
            Arc::new(store.clone()),
            Arc::clone(&status),
            Arc::clone(&metrics),
        );
        Fixture {
            lp,
            store,
            status,
            metrics,
        }
    }

    /// The TSDB as append target, so that the series-ref fast path is taken.
    struct DbStore(crate::tsdb::db::Db);

    impl Appendable for DbStore {
        fn appender(&self) -> Box<dyn Appender + Send> {
            Box::new(self.0.appender())
        }
    }

    #[test]
    fn a_scrape_the_storage_refuses_is_a_failed_scrape() {
        use crate::model::Matcher;
        let d = tempfile::tempdir().unwrap();
        let t0 = now_ms();
        // A block ending a minute after t0 (as backfills used to leave): the head refuses
        // anything older than its end.
        let old = Labels::from_pairs(&[("__name__", "old")]);
        crate::tsdb::import::import_samples(
            d.path(),
            7_200_000,
            std::iter::once(Ok::<_, String>((old, t0 + 60_000, 1.0))),
            |_| {},
        )
        .unwrap();
        let db = crate::tsdb::db::Db::open(d.path(), Default::default()).unwrap();
        let status = Arc::new(RwLock::new(TargetStatus::default()));
        let metrics = Arc::new(ScrapeMetrics::default());
        let mut lp = ScrapeLoop::new(
            settings(|_| {}),
            Arc::new(DbStore(db.clone())),
            Arc::clone(&status),
            Arc::clone(&metrics),
        );
        let scrape = |lp: &mut ScrapeLoop, body: &str, ts: i64| {
            lp.buf = body.as_bytes().to_vec();
            lp.process(Ok(CT.into()), ts, Instant::now());
        };
        let read = |name: &str| -> Vec<(i64, f64)> {
            let q = db.querier(i64::MIN, i64::MAX);
            let mut out = Vec::new();
            for mut s in q.select(&[Matcher::equal("__name__", name)]).unwrap() {
                while let Some(x) = s.samples.next() {
                    out.push((x.t, x.v));
                }
            }
            out
        };

        // Body and report at a refused time: nothing stored, the target is down and says why.
        scrape(&mut lp, "a 1\nb 2\n", t0);
        let st = status.read().clone();
        assert_eq!(st.health, TargetHealth::Down);
        let err = st.last_error.unwrap_or_default();
        assert!(
            err.starts_with(
                "all 2 scraped samples were rejected by the storage: out of bounds: timestamp"
            ) && err.contains(&format!("oldest appendable time {}", t0 + 60_001)),
            "{err}"
        );
        let m = metrics.snapshot();
        assert_eq!(
            (
                m.scrapes_failed_total,
                m.samples_out_of_bounds_total,
                m.commit_failed_total
            ),
            (1, 2, 1)
        );
        assert!(read("a").is_empty() && read("up").is_empty());

        // Samples with old timestamps of their own, scraped at an accepted time: `up` = 0 is
        // stored with the reason on the target.
        scrape(&mut lp, &format!("a 1 {t0}\n"), t0 + 120_000);
        let st = status.read().clone();
        assert_eq!(st.health, TargetHealth::Down);
        assert!(
            st.last_error
                .as_deref()
                .is_some_and(|e| e.starts_with("all 1 scraped samples were rejected")),
            "{:?}",
            st.last_error
        );
        assert_eq!(read("up"), vec![(t0 + 120_000, 0.0)]);

        // Partly refused: the scrape succeeds with what was stored, as upstream.
        scrape(&mut lp, &format!("a 2 {t0}\nb 3\n"), t0 + 130_000);
        let st = status.read().clone();
        assert_eq!((st.health, st.last_error), (TargetHealth::Up, None));
        assert_eq!(read("b"), vec![(t0 + 130_000, 3.0)]);
        assert_eq!(read("up"), vec![(t0 + 120_000, 0.0), (t0 + 130_000, 1.0)]);
    }

    #[test]
    fn appends_by_cached_ref_and_re_resolves_collected_series() {
        use crate::model::Matcher;
        let d = tempfile::tempdir().unwrap();
        let db = crate::tsdb::db::Db::open(d.path(), Default::default()).unwrap();
        let mut lp = ScrapeLoop::new(
            settings(|_| {}),
            Arc::new(DbStore(db.clone())),
            Arc::new(RwLock::new(TargetStatus::default())),
            Arc::new(ScrapeMetrics::default()),
        );
        let scrape = |lp: &mut ScrapeLoop, body: &str, ts: i64| {
            lp.buf = body.as_bytes().to_vec();
            lp.process(Ok(CT.into()), ts, Instant::now());
        };
        let read = |name: &str| -> Vec<(i64, f64)> {
            let q = db.querier(i64::MIN, i64::MAX);
            let mut out = Vec::new();
            for mut s in q.select(&[Matcher::equal("__name__", name)]).unwrap() {
                while let Some(x) = s.samples.next() {
                    out.push((x.t, x.v));
                }
            }
            out
        };
        scrape(&mut lp, "a 1\nb 1\n", 1000);
        let r = lp.cache.get("a ").map(|c| c.sref).unwrap_or(0);
        assert_ne!(r, 0, "the head's ref is cached");
        scrape(&mut lp, "a 2\n", 2000);
        assert_eq!(lp.cache.get("a ").map(|c| c.sref), Some(r));
        assert_eq!(read("a"), vec![(1000, 1.0), (2000, 2.0)]);
        let b = read("b");
        assert_eq!(b.len(), 2);
        assert!(is_stale_nan(b[1].1), "stale marker appended by ref");
        // Truncation collects every series: the cached refs are gone and the loop falls
        // back to labels, caching the new ref.
        let range = crate::tsdb::db::Options::default().block_duration_ms;
        db.truncate_head(2 * range).unwrap();
        assert!(db.head().get_by_ref(r).is_none());
        scrape(&mut lp, "a 3\n", 3 * range);
        assert_eq!(read("a"), vec![(3 * range, 3.0)]);
        let r2 = lp.cache.get("a ").map(|c| c.sref).unwrap_or(0);
        assert!(r2 != 0 && r2 != r);
        assert_eq!(read("up"), vec![(3 * range, 1.0)]);
    }

    impl Fixture {
        fn scrape(&mut self, body: &str, ts: i64) {
            self.lp.buf = body.as_bytes().to_vec();
            self.lp.process(Ok(CT.into()), ts, Instant::now());
        }

        fn fail(&mut self, ts: i64) {
            self.lp.buf.clear();
            self.lp.process(
                Err(ScrapeError::Status {
                    status: "500 Internal Server Error".into(),
                }),
                ts,
                Instant::now(),
            );
        }

        fn series(&self, pairs: &[(&str, &str)]) -> Vec<Sample> {
            let mut l: Vec<(&str, &str)> = vec![("instance", "h:1"), ("job", "j")];
            l.extend_from_slice(pairs);
            self.store.samples(&Labels::from_pairs(&l))
        }

        fn report(&self, name: &str) -> Vec<Sample> {
            self.series(&[("__name__", name)])
        }
    }

    fn vals(s: &[Sample]) -> Vec<(i64, String)> {
        s.iter()
            .map(|s| {
                let v = if is_stale_nan(s.v) {
                    "stale".to_string()
                } else {
                    s.v.to_string()
                };
                (s.t, v)
            })
            .collect()
    }

    fn l(pairs: &[(&str, &str)]) -> Vec<Label> {
        pairs.iter().map(|(n, v)| Label::new(*n, *v)).collect()
    }

    #[test]
    fn scrape_times_snap_to_the_grid() {
        let a = 1_000_000;
        assert_eq!(align(a + 15_001, a, 15_000), (a + 15_000, a + 15_000));
        assert_eq!(align(a + 14_999, a, 15_000), (a + 15_000, a + 15_000));
        assert_eq!(align(a + 45_002, a, 15_000), (a + 45_000, a + 45_000));
        // Too far off: the raw time, grid kept.
        assert_eq!(align(a + 15_010, a, 15_000), (a + 15_010, a + 15_000));
        // Short intervals are never aligned.
        assert_eq!(align(a + 101, a, 100), (a + 101, a));
    }

    #[test]
    fn label_merging_honor_labels_and_exported_prefix() {
        let target = Labels::from_pairs(&[("job", "j"), ("instance", "h:1")]);
        // honor_labels=false: clashing scraped labels are renamed.
        let got = mutate_sample_labels(
            l(&[
                ("__name__", "m"),
                ("job", "scraped"),
                ("exported_job", "x"),
                ("a", "1"),
            ]),
            &target,
            false,
            &[],
        )
        .unwrap();
        assert_eq!(
            got,
            Labels::from_pairs(&[
                ("__name__", "m"),
                ("a", "1"),
                ("exported_exported_job", "scraped"),
                ("exported_job", "x"),
                ("instance", "h:1"),
                ("job", "j"),
            ])
        );
        // Shorter names are renamed first.
        let t2 = Labels::from_pairs(&[("a", "t"), ("exported_a", "t2")]);
        let got = mutate_sample_labels(
            l(&[("__name__", "m"), ("a", "s"), ("exported_a", "s2")]),
            &t2,
            false,
            &[],
        )
        .unwrap();
        assert_eq!(got.get("exported_exported_a"), Some("s"));
        assert_eq!(got.get("exported_exported_exported_a"), Some("s2"));
        // honor_labels=true: scraped wins; a scraped empty value removes the target label.
        let got = mutate_sample_labels(
            l(&[("__name__", "m"), ("job", "scraped"), ("instance", "")]),
            &target,
            true,
            &[],
        )
        .unwrap();
        assert_eq!(
            got,
            Labels::from_pairs(&[("__name__", "m"), ("job", "scraped")])
        );
        // Without a clash nothing is renamed; an empty scraped value is just absent.
        let got = mutate_sample_labels(l(&[("__name__", "m"), ("job", "")]), &target, false, &[])
            .unwrap();
        assert_eq!(got.get("job"), Some("j"));
        assert_eq!(got.get("exported_job"), None);
        // Metric relabeling runs on the merged set and may drop.
        let drop = RelabelConfig {
            source_labels: vec!["job".into()],
            regex: RelabelRegex::new("j").unwrap(),
            action: Action::Drop,
            ..RelabelConfig::default()
        };
        assert!(mutate_sample_labels(l(&[("__name__", "m")]), &target, false, &[drop]).is_none());
    }

    #[test]
    fn report_labels_always_take_target_labels() {
        let target = Labels::from_pairs(&[("job", "j"), ("instance", "h:1")]);
        assert_eq!(
            report_labels("up", &target),
            Labels::from_pairs(&[("__name__", "up"), ("instance", "h:1"), ("job", "j")])
        );
    }

    #[test]
    fn synthetic_series_values() {
        let drop_b = RelabelConfig {
            source_labels: vec!["__name__".into()],
            regex: RelabelRegex::new("b").unwrap(),
            action: Action::Drop,
            ..RelabelConfig::default()
        };
        let mut f = fixture(|s| s.metric_relabel_configs = vec![drop_b]);
        let t0 = now_ms();
        f.scrape("# TYPE a counter\na 1\nb 2\nc{x=\"y\"} 3\n", t0);
        assert_eq!(vals(&f.report("up")), vec![(t0, "1".into())]);
        assert_eq!(
            vals(&f.report("scrape_samples_scraped")),
            vec![(t0, "3".into())]
        );
        assert_eq!(
            vals(&f.report("scrape_samples_post_metric_relabeling")),
            vec![(t0, "2".into())]
        );
        assert_eq!(
            vals(&f.report("scrape_series_added")),
            vec![(t0, "2".into())]
        );
        let d = f.report("scrape_duration_seconds");
        assert!(d.len() == 1 && d[0].v >= 0.0 && d[0].v < 5.0);
        assert!(f.series(&[("__name__", "b")]).is_empty());
        assert_eq!(
            vals(&f.series(&[("__name__", "c"), ("x", "y")])),
            vec![(t0, "3".into())]
        );
        // The same body again: nothing new, the dropped series stays dropped from the cache.
        f.scrape("# TYPE a counter\na 1\nb 2\nc{x=\"y\"} 3\n", t0 + 1000);
        assert_eq!(
            vals(&f.report("scrape_series_added"))[1],
            (t0 + 1000, "0".into())
        );
        assert_eq!(f.status.read().health, TargetHealth::Up);
        assert_eq!(f.status.read().scrapes, 2);
        assert_eq!(f.metrics.snapshot().samples_appended_total, 4);
        assert_eq!(f.store.commits(), 2);
    }

    /// Series seen by a scrape that failed mid-body stay cached: the next good scrape
    /// does not count them as added again.
    #[test]
    fn a_scrape_failing_mid_body_keeps_the_cache() {
        let mut f = fixture(|_| {});
        let t0 = now_ms();
        f.scrape("a 1\nb 1\nc 1\n", t0);
        f.scrape("c 2\na 2\nb{ 2\n", t0 + 1000);
        assert_eq!(f.status.read().health, TargetHealth::Down);
        f.scrape("a 3\nb 3\nc 3\n", t0 + 2000);
        f.scrape("a 4\nb 4\nc 4\n", t0 + 3000);
        assert_eq!(
            vals(&f.report("scrape_series_added")),
            vec![
                (t0, "3".into()),
                (t0 + 1000, "0".into()),
                (t0 + 2000, "0".into()),
                (t0 + 3000, "0".into())
            ]
        );
        assert_eq!(
            f.lp.cache.len(),
            (8, 0),
            "three series and the five report series"
        );
    }

    #[test]
    fn cache_hit_skips_label_building() {
        let mut f = fixture(|_| {});
        let t0 = now_ms();
        f.scrape("a{x=\"1\"} 1\n", t0);
        assert_eq!(f.lp.cache.len(), (6, 0), "a and the five report series");
        // Poison the cache entry: a hit must use it verbatim instead of re-deriving labels.
        let poisoned = Arc::new(Labels::from_pairs(&[("__name__", "from_cache")]));
        f.lp.cache.add(
            "a{x=\"1\"}",
            Arc::clone(&poisoned),
            poisoned.stable_hash(),
            0,
            None,
        );
        f.scrape("a{x=\"1\"} 2\n", t0 + 1000);
        assert_eq!(
            vals(&f.store.samples(&poisoned)),
            vec![(t0 + 1000, "2".into())]
        );
        // A series written differently is a different cache key (and series_added counts it).
        f.scrape("a{x=\"1\",} 3\n", t0 + 2000);
        assert_eq!(
            vals(&f.report("scrape_series_added"))[2],
            (t0 + 2000, "1".into())
        );
    }

    #[test]
    fn staleness_on_disappearance_and_return() {
        let mut f = fixture(|_| {});
        let t0 = now_ms();
        f.scrape("a 1\nb 2\n", t0);
        f.scrape("a 1\n", t0 + 1000);
        assert_eq!(
            vals(&f.series(&[("__name__", "b")])),
            vec![(t0, "2".into()), (t0 + 1000, "stale".into())]
        );
        f.scrape("a 1\nb 5\n", t0 + 2000);
        f.scrape("a 1\nb 5\n", t0 + 3000);
        assert_eq!(
            vals(&f.series(&[("__name__", "b")])),
            vec![
                (t0, "2".into()),
                (t0 + 1000, "stale".into()),
                (t0 + 2000, "5".into()),
                (t0 + 3000, "5".into())
            ]
        );
        assert_eq!(f.series(&[("__name__", "a")]).len(), 4);
        assert_eq!(f.metrics.snapshot().stale_markers_total, 1);
    }

    #[test]
    fn staleness_on_scrape_failure() {
        let mut f = fixture(|_| {});
        let t0 = now_ms();
        f.scrape("a 1\nb 2\n", t0);
        f.fail(t0 + 1000);
        for n in ["a", "b"] {
            assert_eq!(
                vals(&f.series(&[("__name__", n)])),
                vec![
                    (t0, if n == "a" { "1" } else { "2" }.into()),
                    (t0 + 1000, "stale".into())
                ]
            );
        }
        assert_eq!(vals(&f.report("up"))[1], (t0 + 1000, "0".into()));
        assert_eq!(
            vals(&f.report("scrape_samples_scraped"))[1],
            (t0 + 1000, "0".into())
        );
        let st = f.status.read().clone();
        assert_eq!(st.health, TargetHealth::Down);
        assert_eq!(
            st.last_error.as_deref(),
            Some("server returned HTTP status 500 Internal Server Error")
        );
        // A second failure adds no markers; recovery appends again.
        f.fail(t0 + 2000);
        f.scrape("a 3\n", t0 + 3000);
        assert_eq!(
            vals(&f.series(&[("__name__", "a")])),
            vec![
                (t0, "1".into()),
                (t0 + 1000, "stale".into()),
                (t0 + 3000, "3".into())
            ]
        );
        assert_eq!(f.series(&[("__name__", "b")]).len(), 2);
        assert_eq!(f.metrics.snapshot().scrapes_failed_total, 2);
    }

    #[test]
    fn parse_error_fails_the_scrape_without_partial_data() {
        let mut f = fixture(|_| {});
        let t0 = now_ms();
        f.scrape("a 1\n", t0);
        f.scrape("a 2\nb 1\nc{ 3\n", t0 + 1000);
        assert_eq!(
            vals(&f.series(&[("__name__", "a")])),
            vec![(t0, "1".into()), (t0 + 1000, "stale".into())]
        );
        assert!(f.series(&[("__name__", "b")]).is_empty());
        let err = f.status.read().last_error.clone().unwrap();
        assert!(err.starts_with("line 3, column"), "{err}");
        assert_eq!(
            vals(&f.report("scrape_samples_scraped"))[1],
            (t0 + 1000, "2".into())
        );
    }

    #[test]
    fn sample_limit_fails_whole_scrape() {
        let mut f = fixture(|s| s.limits.sample_limit = 2);
        let t0 = now_ms();
        f.scrape("a 1\nb 1\n", t0);
        f.scrape("a 2\nb 2\nc 2\nd 2\n", t0 + 1000);
        assert_eq!(
            vals(&f.series(&[("__name__", "a")])),
            vec![(t0, "1".into()), (t0 + 1000, "stale".into())],
            "nothing partial: a=2 was rolled back"
        );
        assert!(f.series(&[("__name__", "c")]).is_empty());
        assert_eq!(vals(&f.report("up"))[1], (t0 + 1000, "0".into()));
        assert_eq!(
            vals(&f.report("scrape_samples_scraped"))[1],
            (t0 + 1000, "4".into())
        );
        assert_eq!(
            vals(&f.report("scrape_samples_post_metric_relabeling"))[1],
            (t0 + 1000, "4".into())
        );
        assert_eq!(
            f.status.read().last_error.as_deref(),
            Some("sample limit exceeded")
        );
        assert_eq!(f.metrics.snapshot().exceeded_sample_limit_total, 1);
        // Under the limit again: back to normal.
        f.scrape("a 3\n", t0 + 2000);
        assert_eq!(vals(&f.report("up"))[2], (t0 + 2000, "1".into()));
    }

    #[test]
    fn sample_limit_counts_after_metric_relabeling() {
        let drop_b = RelabelConfig {
            source_labels: vec!["__name__".into()],
            regex: RelabelRegex::new("b.*").unwrap(),
            action: Action::Drop,
            ..RelabelConfig::default()
        };
        let mut f = fixture(|s| {
            s.limits.sample_limit = 1;
            s.metric_relabel_configs = vec![drop_b];
        });
        f.scrape("a 1\nb1 1\nb2 1\n", now_ms());
        assert_eq!(f.status.read().health, TargetHealth::Up);
    }

    #[test]
    fn label_limits_fail_whole_scrape() {
        let t0 = now_ms();
        let mut f = fixture(|s| s.limits.label_limit = 3);
        f.scrape("ok 1\nm{a=\"1\",b=\"2\"} 1\n", t0);
        assert!(f.series(&[("__name__", "ok")]).is_empty());
        assert_eq!(
            f.status.read().last_error.as_deref(),
            Some("label_limit exceeded (metric: m, number of labels: 5, limit: 3)")
        );
        // `__name__` counts too, so such a limit is at least 8 in practice.
        let mut f = fixture(|s| s.limits.label_name_length_limit = 8);
        f.scrape("m{abcdefghi=\"1\"} 1\n", t0);
        assert_eq!(
            f.status.read().last_error.as_deref(),
            Some("label_name_length_limit exceeded (metric: m, label name: abcdefghi, length: 9, limit: 8)")
        );
        let mut f = fixture(|s| s.limits.label_value_length_limit = 3);
        f.scrape("m{a=\"1234\"} 1\n", t0);
        assert_eq!(
            f.status.read().last_error.as_deref(),
            Some("label_value_length_limit exceeded (metric: m, label name: a, value: \"1234\", length: 4, limit: 3)")
        );
        assert_eq!(f.metrics.snapshot().exceeded_label_limits_total, 1);
        assert_eq!(vals(&f.report("up")), vec![(t0, "0".into())]);
    }

    #[test]
    fn metric_relabel_removing_name_fails() {
        let drop_name = RelabelConfig {
            regex: RelabelRegex::new("__name__").unwrap(),
            action: Action::LabelDrop,
            ..RelabelConfig::default()
        };
        let mut f = fixture(|s| s.metric_relabel_configs = vec![drop_name]);
        f.scrape("a 1\n", now_ms());
        assert_eq!(
            f.status.read().last_error.as_deref(),
            Some("missing metric name (__name__ label)")
        );
    }

    #[test]
    fn honor_timestamps_and_explicit_timestamp_staleness() {
        let t0 = now_ms();
        let own = t0 - 5000;
        let body = format!("a 1 {own}\nb 1\n");
        let mut f = fixture(|_| {});
        f.scrape(&body, t0);
        assert_eq!(
            vals(&f.series(&[("__name__", "a")])),
            vec![(own, "1".into())]
        );
        // a has an explicit timestamp: no staleness marker when it disappears.
        f.scrape("", t0 + 1000);
        assert_eq!(f.series(&[("__name__", "a")]).len(), 1);
        assert_eq!(f.series(&[("__name__", "b")]).len(), 2);

        let mut f = fixture(|s| s.honor_timestamps = false);
        f.scrape(&body, t0);
        assert_eq!(
            vals(&f.series(&[("__name__", "a")])),
            vec![(t0, "1".into())]
        );
        f.scrape("", t0 + 1000);
        assert_eq!(
            f.series(&[("__name__", "a")]).len(),
            2,
            "tracked like any sample"
        );

        let mut f = fixture(|s| s.track_timestamps_staleness = true);
        f.scrape(&body, t0);
        f.scrape("", t0 + 1000);
        assert_eq!(
            vals(&f.series(&[("__name__", "a")])),
            vec![(own, "1".into()), (t0 + 1000, "stale".into())]
        );
    }

    #[test]
    fn out_of_order_duplicate_and_future_samples_are_counted_not_fatal() {
        let t0 = now_ms();
        let mut f = fixture(|_| {});
        f.scrape(&format!("a 1 {t0}\nd 1 {t0}\n"), t0);
        let future = t0 + 3_600_000;
        f.scrape(
            &format!("a 1 {}\nd 2 {t0}\nf 1 {future}\nok 1\n", t0 - 1000),
            t0 + 1000,
        );
        let m = f.metrics.snapshot();
        assert_eq!(m.samples_out_of_order_total, 1);
        assert_eq!(m.samples_duplicate_timestamp_total, 1);
        assert_eq!(m.samples_out_of_bounds_total, 1);
        assert_eq!(f.status.read().health, TargetHealth::Up);
        assert_eq!(f.series(&[("__name__", "ok")]).len(), 1);
        assert!(f.series(&[("__name__", "f")]).is_empty());
    }

    #[test]
    fn end_of_run_staleness_covers_report_series() {
        let mut f = fixture(|_| {});
        let t0 = now_ms();
        f.scrape("a 1\n", t0);
        f.lp.write_end_of_run_staleness(t0 + 1500);
        for name in ["a", "up", "scrape_duration_seconds", "scrape_series_added"] {
            let s = f.series(&[("__name__", name)]);
            assert_eq!(s.len(), 2, "{name}");
            assert!(is_stale_nan(s[1].v) && s[1].t == t0 + 1500, "{name}");
        }
    }

    #[test]
    fn forced_error_and_openmetrics() {
        let mut f = fixture(|_| {});
        let t0 = now_ms();
        f.lp.buf = b"# TYPE a gauge\na 1\n# EOF\n".to_vec();
        f.lp.process(
            Ok("application/openmetrics-text; version=1.0.0".into()),
            t0,
            Instant::now(),
        );
        assert_eq!(f.series(&[("__name__", "a")]).len(), 1);
        // OpenMetrics requires `# EOF`: without it the scrape fails.
        f.lp.buf = b"a 1\n".to_vec();
        f.lp.process(
            Ok("application/openmetrics-text; version=1.0.0".into()),
            t0 + 1000,
            Instant::now(),
        );
        assert_eq!(f.status.read().health, TargetHealth::Down);
        // The same body as text is fine.
        f.scrape("a 1\n", t0 + 2000);
        assert_eq!(f.status.read().health, TargetHealth::Up);
    }

    #[test]
    fn body_buffers_are_reused_empty_and_bounded() {
        let pool = BufferPool::new();
        let mut b = pool.take();
        b.extend_from_slice(b"a 1\n");
        let cap = b.capacity();
        pool.give(b);
        let b = pool.take();
        assert!(b.is_empty() && b.capacity() == cap, "reused, cleared");
        pool.give(b);
        pool.give(Vec::with_capacity(BufferPool::MAX_KEPT_CAPACITY + 1));
        for _ in 0..20 {
            pool.give(Vec::with_capacity(16));
        }
        assert_eq!(
            pool.0.lock().len(),
            BufferPool::KEEP,
            "huge one dropped, at most KEEP"
        );
        assert!(pool
            .0
            .lock()
            .iter()
            .all(|b| b.capacity() <= BufferPool::MAX_KEPT_CAPACITY));
    }

    /// A sink that only counts, so that timing measures the scrape loop, not the storage.
    #[derive(Default)]
    struct Counting(std::sync::atomic::AtomicU64);

    struct CountingAppender<'a>(&'a std::sync::atomic::AtomicU64, u64);

    impl Appender for CountingAppender<'_> {
        fn append(&mut self, _: &Labels, _: i64, _: f64) -> Result<(), AppendError> {
            self.1 += 1;
            Ok(())
        }
        fn commit(&mut self) -> Result<(), AppendError> {
            self.0
                .fetch_add(self.1, std::sync::atomic::Ordering::Relaxed);
            Ok(())
        }
        fn rollback(&mut self) {}
    }

    impl Appendable for &'static Counting {
        fn appender(&self) -> Box<dyn Appender + Send> {
            Box::new(CountingAppender(&self.0, 0))
        }
    }

    #[test]
    fn large_body_appends_every_series_and_then_hits_the_cache() {
        const N: usize = 20_000;
        let mut body = String::from("# TYPE http_requests_total counter\n");
        for i in 0..N {
            body.push_str(&format!(
                "http_requests_total{{method=\"GET\",code=\"200\",handler=\"/api/v1/h{i}\"}} {i}\n"
            ));
        }
        let sink: &'static Counting = Box::leak(Box::default());
        let metrics = Arc::new(ScrapeMetrics::default());
        let mut lp = ScrapeLoop::new(
            settings(|_| {}),
            Arc::new(sink),
            Arc::new(RwLock::new(TargetStatus::default())),
            Arc::clone(&metrics),
        );
        // CPU time of this thread (Linux), so that a busy machine does not skew the numbers;
        // wall time elsewhere.
        let cpu = || -> Option<Duration> {
            let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
            Some(Duration::from_nanos(
                s.split_whitespace().next()?.parse().ok()?,
            ))
        };
        let t0 = now_ms();
        let mut times = Vec::new();
        for k in 0..3 {
            lp.buf = body.as_bytes().to_vec();
            let (wall, c0) = (Instant::now(), cpu());
            lp.process(Ok(CT.into()), t0 + k * 1000, Instant::now());
            times.push(match (c0, cpu()) {
                (Some(a), Some(b)) => b.saturating_sub(a),
                _ => wall.elapsed(),
            });
        }
        // Every scrape appends N samples and 5 report samples.
        assert_eq!(
            sink.0.load(std::sync::atomic::Ordering::Relaxed),
            3 * (N as u64 + 5)
        );
        assert_eq!(metrics.snapshot().samples_appended_total, 3 * N as u64);
        assert_eq!(lp.cache.len().0, N + 5);
        let per = |d: Duration| d.as_nanos() as f64 / N as f64;
        eprintln!(
            "{N} series, {} bytes, CPU time: first scrape {:?} ({:.0} ns/sample), cached scrapes {:?} (best {:.0} ns/sample)",
            body.len(),
            times[0],
            per(times[0]),
            &times[1..],
            per(*times[1..].iter().min().unwrap())
        );
    }

    #[test]
    fn settings_update_with_new_relabeling_renames_series() {
        let mut f = fixture(|_| {});
        let t0 = now_ms();
        f.scrape("a 1\n", t0);
        let add_env = RelabelConfig {
            target_label: "env".into(),
            replacement: "p".into(),
            action: Action::Replace,
            ..RelabelConfig::default()
        };
        f.lp.apply_settings(settings(|s| s.metric_relabel_configs = vec![add_env]));
        f.scrape("a 2\n", t0 + 1000);
        assert_eq!(
            vals(&f.series(&[("__name__", "a"), ("env", "p")])),
            vec![(t0 + 1000, "2".into())]
        );
        assert_eq!(
            vals(&f.series(&[("__name__", "a")])),
            vec![(t0, "1".into()), (t0 + 1000, "stale".into())]
        );
    }
}
