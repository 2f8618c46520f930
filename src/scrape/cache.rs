//! The scrape cache: per-target memory of what each exposed series became, and which
//! series the previous scrape had (for staleness markers).
//!
//! Mirrors upstream `scrapeCache` in `scrape/scrape.go`:
//! - `series` maps the series text as written in the body (`name{a="b"}`) to the final label
//!   set's hash and the storage's [`SeriesRef`] for it, so a repeated series is never
//!   parsed into labels, relabeled, hashed or looked up by labels again (upstream
//!   `cacheEntry.ref`, `AppendFast`). The final labels (after target-label merging and
//!   `metric_relabel_configs`) are kept only while no ref is known: storages without refs
//!   need them on every append, and a ref makes them dead weight (most of the cache's
//!   memory). When the storage forgets a ref (series garbage-collected), the caller
//!   rebuilds the labels from the scraped sample;
//! - `dropped` remembers series texts that metric relabeling dropped;
//! - `cur`/`prev` hold the label sets appended in this and the previous successful
//!   scrape (with their refs, labels only when there is no ref); a series in `prev` and
//!   not in `cur` gets a staleness marker;
//! - entries unseen in the latest successful scrape are flushed when it ends (or when a run
//!   of failed scrapes doubled the cache, + 1000 entries).
//!
//! The report series (`up`, `scrape_*`) are cached under keys starting with a NUL byte, which
//! no series text can start with (upstream appends an invalid rune for the same reason).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use xxhash_rust::xxh3::xxh3_64_with_seed;

use crate::model::Labels;
use crate::storage::SeriesRef;

/// Hasher for the series-text keys: one-shot XXH3 per written slice. The cache is looked
/// up once per scraped sample, and SipHash (std's default, DoS-resistant) costs several
/// times more on these 30-100 byte keys. A target could craft colliding series texts, but
/// only to slow down its own scrape, which `sample_limit` bounds.
#[derive(Default, Clone, Copy)]
struct TextHasher(u64);

impl Hasher for TextHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0 = xxh3_64_with_seed(bytes, self.0);
    }
    fn write_u8(&mut self, b: u8) {
        self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

/// Hasher for the staleness sets, whose keys are already XXH3 label-set hashes.
#[derive(Default, Clone, Copy)]
struct PrehashedHasher(u64);

impl Hasher for PrehashedHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 ^= n;
    }
}

type TextMap<V> = HashMap<String, V, BuildHasherDefault<TextHasher>>;
type StalenessSet =
    HashMap<u64, (SeriesRef, Option<Arc<Labels>>), BuildHasherDefault<PrehashedHasher>>;

#[derive(Debug, Clone)]
struct CacheEntry {
    /// `None` once `sref` is known.
    labels: Option<Arc<Labels>>,
    hash: u64,
    /// 0 when the storage gave no ref.
    sref: SeriesRef,
    last_iter: u64,
}

/// What the cache knows of one series: final labels (only while no ref is known), their
/// hash, and the storage's ref (0 when unknown).
#[derive(Debug, Clone)]
pub struct CachedSeries {
    pub labels: Option<Arc<Labels>>,
    pub hash: u64,
    pub sref: SeriesRef,
}

/// See the module docs.
#[derive(Debug, Default)]
pub struct ScrapeCache {
    iter: u64,
    successful_count: usize,
    series: TextMap<CacheEntry>,
    dropped: TextMap<u64>,
    cur: StalenessSet,
    prev: StalenessSet,
    forced_flushes: u64,
}

impl ScrapeCache {
    /// An empty cache.
    pub fn new() -> Self {
        ScrapeCache::default()
    }

    /// What is cached for `series_text`, marking it seen.
    pub fn get(&mut self, series_text: &str) -> Option<CachedSeries> {
        let iter = self.iter;
        self.series.get_mut(series_text).map(|e| {
            e.last_iter = iter;
            CachedSeries {
                labels: e.labels.clone(),
                hash: e.hash,
                sref: e.sref,
            }
        })
    }

    /// Remembers the final labels of `series_text` and the storage's ref for them (0 when
    /// unknown; the labels are kept only then).
    pub fn add(&mut self, series_text: &str, labels: Arc<Labels>, hash: u64, sref: SeriesRef) {
        self.series.insert(
            series_text.to_string(),
            CacheEntry {
                labels: (sref == 0).then_some(labels),
                hash,
                sref,
                last_iter: self.iter,
            },
        );
    }

    /// Replaces the ref cached for `series_text` (the old one was no longer known to the
    /// storage); the labels are dropped once a ref is known.
    pub fn set_ref(&mut self, series_text: &str, sref: SeriesRef) {
        if let Some(e) = self.series.get_mut(series_text) {
            e.sref = sref;
            if sref != 0 {
                e.labels = None;
            }
        }
    }

    /// True (and marks it seen) when `series_text` was dropped by metric relabeling.
    pub fn is_dropped(&mut self, series_text: &str) -> bool {
        let iter = self.iter;
        match self.dropped.get_mut(series_text) {
            Some(i) => {
                *i = iter;
                true
            }
            None => false,
        }
    }

    /// Remembers that metric relabeling dropped `series_text`.
    pub fn add_dropped(&mut self, series_text: &str) {
        self.dropped.insert(series_text.to_string(), self.iter);
    }

    /// Records that the series with label hash `hash` and ref `sref` was appended in the
    /// current scrape (staleness tracking). `labels` is kept only when `sref` is 0.
    pub fn track_staleness(&mut self, hash: u64, sref: SeriesRef, labels: Option<&Arc<Labels>>) {
        self.cur
            .entry(hash)
            .or_insert_with(|| (sref, labels.filter(|_| sref == 0).cloned()));
    }

    /// Forgets what the current (failed) scrape tracked, so that staleness is computed
    /// against an empty scrape.
    pub fn reset_current(&mut self) {
        self.cur.clear();
    }

    /// Series of the previous scrape not seen in the current one: their ref (0 when
    /// unknown) and, when there is no ref, their labels.
    pub fn stale_series(&self) -> impl Iterator<Item = (SeriesRef, Option<&Labels>)> {
        self.prev
            .iter()
            .filter(|(h, _)| !self.cur.contains_key(h))
            .map(|(_, (r, l))| (*r, l.as_deref()))
    }

    /// How many series the previous scrape appended (for end-of-run staleness).
    pub fn previous_len(&self) -> usize {
        self.prev.len()
    }

    /// Ends a scrape: on success (`flush`), forgets entries unseen in it; rotates the
    /// staleness sets.
    pub fn iter_done(&mut self, mut flush: bool) {
        let count = self.series.len() + self.dropped.len();
        if flush {
            self.successful_count = count;
        } else if count > self.successful_count * 2 + 1000 {
            // Failed scrapes with varying series would grow the cache forever.
            flush = true;
            self.forced_flushes += 1;
        }
        if flush {
            let iter = self.iter;
            self.series.retain(|_, e| e.last_iter == iter);
            self.dropped.retain(|_, i| *i == iter);
            self.iter += 1;
        }
        std::mem::swap(&mut self.prev, &mut self.cur);
        self.cur.clear();
    }

    /// Drops every cached label set (the labels they were built from changed), keeping the
    /// staleness sets so that series renamed by the change are marked stale.
    pub fn clear_series(&mut self) {
        self.series.clear();
        self.dropped.clear();
    }

    /// Cached series (including report series) and dropped series.
    pub fn len(&self) -> (usize, usize) {
        (self.series.len(), self.dropped.len())
    }

    /// How often a cache flush was forced by growth during failed scrapes.
    pub fn forced_flushes(&self) -> u64 {
        self.forced_flushes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn l(v: &str) -> Arc<Labels> {
        Arc::new(Labels::from_pairs(&[("__name__", v)]))
    }

    #[test]
    fn hit_and_flush() {
        let mut c = ScrapeCache::new();
        c.add("a", l("a"), 1, 7);
        c.add("b", l("b"), 2, 0);
        c.add_dropped("d");
        c.iter_done(true);
        // Next scrape sees only a and d.
        assert_eq!(
            c.get("a").map(|e| (e.labels, e.hash, e.sref)),
            Some((None, 1, 7)),
            "labels are not kept once a ref is known"
        );
        c.set_ref("a", 9);
        assert_eq!(c.get("a").map(|e| e.sref), Some(9));
        assert!(c.is_dropped("d"));
        assert!(!c.is_dropped("x"));
        c.iter_done(true);
        assert!(c.get("b").is_none(), "unseen in the last successful scrape");
        assert_eq!(c.len(), (1, 1));
        c.iter_done(true);
        assert!(c.get("a").is_none());
        assert_eq!(c.len(), (0, 0));
    }

    #[test]
    fn labels_are_kept_only_without_a_ref() {
        let mut c = ScrapeCache::new();
        c.add("b", l("b"), 2, 0);
        assert_eq!(c.get("b").map(|e| e.labels), Some(Some(l("b"))));
        c.set_ref("b", 3);
        assert_eq!(c.get("b").map(|e| (e.labels, e.sref)), Some((None, 3)));
    }

    #[test]
    fn failed_scrapes_do_not_flush_until_growth() {
        let mut c = ScrapeCache::new();
        c.add("a", l("a"), 1, 0);
        c.iter_done(true);
        c.iter_done(false);
        assert!(c.get("a").is_some());
        for i in 0..1100 {
            c.add(&format!("s{i}"), l("x"), i, 0);
        }
        c.iter_done(false);
        assert_eq!(c.forced_flushes(), 1);
        assert!(c.len().0 <= 1101);
    }

    #[test]
    fn staleness_sets_rotate() {
        let mut c = ScrapeCache::new();
        c.track_staleness(1, 11, Some(&l("a")));
        c.track_staleness(2, 12, Some(&l("b")));
        c.track_staleness(3, 0, Some(&l("c")));
        c.iter_done(true);
        c.track_staleness(1, 11, None);
        let mut stale: Vec<_> = c.stale_series().map(|(r, l)| (r, l.cloned())).collect();
        stale.sort_by_key(|x| x.0);
        assert_eq!(stale, vec![(0, Some((*l("c")).clone())), (12, None)]);
        c.reset_current();
        assert_eq!(c.stale_series().count(), 3);
        c.iter_done(false);
        assert_eq!(c.previous_len(), 0);
    }
}
