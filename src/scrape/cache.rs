//! The scrape cache: per-target memory of what each exposed series became, and which
//! series the previous scrape had (for staleness markers).
//!
//! Mirrors upstream `scrapeCache` in `scrape/scrape.go`:
//! - `series` maps the series text as written in the body (`name{a="b"}`) to the final label
//!   set (after target-label merging and `metric_relabel_configs`), so a repeated series is
//!   never parsed into labels or relabeled again;
//! - `dropped` remembers series texts that metric relabeling dropped;
//! - `cur`/`prev` hold the label sets appended in this and the previous successful
//!   scrape; a series in `prev` and not in `cur` gets a staleness marker;
//! - entries unseen in the latest successful scrape are flushed when it ends (or when a run
//!   of failed scrapes doubled the cache, + 1000 entries).
//!
//! The report series (`up`, `scrape_*`) are cached under keys starting with a NUL byte, which
//! no series text can start with (upstream appends an invalid rune for the same reason).

use std::collections::HashMap;
use std::sync::Arc;

use crate::model::Labels;

#[derive(Debug, Clone)]
struct CacheEntry {
    labels: Arc<Labels>,
    hash: u64,
    last_iter: u64,
}

/// See the module docs.
#[derive(Debug, Default)]
pub struct ScrapeCache {
    iter: u64,
    successful_count: usize,
    series: HashMap<String, CacheEntry>,
    dropped: HashMap<String, u64>,
    cur: HashMap<u64, Arc<Labels>>,
    prev: HashMap<u64, Arc<Labels>>,
    forced_flushes: u64,
}

impl ScrapeCache {
    /// An empty cache.
    pub fn new() -> Self {
        ScrapeCache::default()
    }

    /// The final labels and their hash cached for `series_text`, marking it seen.
    pub fn get(&mut self, series_text: &str) -> Option<(Arc<Labels>, u64)> {
        let iter = self.iter;
        self.series.get_mut(series_text).map(|e| {
            e.last_iter = iter;
            (Arc::clone(&e.labels), e.hash)
        })
    }

    /// Remembers the final labels of `series_text`.
    pub fn add(&mut self, series_text: &str, labels: Arc<Labels>, hash: u64) {
        self.series.insert(
            series_text.to_string(),
            CacheEntry {
                labels,
                hash,
                last_iter: self.iter,
            },
        );
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

    /// Records that `labels` was appended in the current scrape (staleness tracking).
    pub fn track_staleness(&mut self, hash: u64, labels: &Arc<Labels>) {
        self.cur.entry(hash).or_insert_with(|| Arc::clone(labels));
    }

    /// Forgets what the current (failed) scrape tracked, so that staleness is computed
    /// against an empty scrape.
    pub fn reset_current(&mut self) {
        self.cur.clear();
    }

    /// Series of the previous scrape not seen in the current one.
    pub fn stale_series(&self) -> impl Iterator<Item = &Labels> {
        self.prev
            .iter()
            .filter(|(h, _)| !self.cur.contains_key(h))
            .map(|(_, l)| &**l)
    }

    /// Every series of the previous scrape (for end-of-run staleness).
    pub fn previous_series(&self) -> impl Iterator<Item = &Labels> {
        self.prev.values().map(|l| &**l)
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
        c.add("a", l("a"), 1);
        c.add("b", l("b"), 2);
        c.add_dropped("d");
        c.iter_done(true);
        // Next scrape sees only a and d.
        assert_eq!(c.get("a").map(|(l, h)| (l.clone(), h)), Some((l("a"), 1)));
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
    fn failed_scrapes_do_not_flush_until_growth() {
        let mut c = ScrapeCache::new();
        c.add("a", l("a"), 1);
        c.iter_done(true);
        c.iter_done(false);
        assert!(c.get("a").is_some());
        for i in 0..1100 {
            c.add(&format!("s{i}"), l("x"), i);
        }
        c.iter_done(false);
        assert_eq!(c.forced_flushes(), 1);
        assert!(c.len().0 <= 1101);
    }

    #[test]
    fn staleness_sets_rotate() {
        let mut c = ScrapeCache::new();
        c.track_staleness(1, &l("a"));
        c.track_staleness(2, &l("b"));
        c.iter_done(true);
        c.track_staleness(1, &l("a"));
        let stale: Vec<_> = c.stale_series().cloned().collect();
        assert_eq!(stale, vec![(*l("b")).clone()]);
        c.reset_current();
        assert_eq!(c.stale_series().count(), 2);
        c.iter_done(false);
        assert_eq!(c.previous_series().count(), 0);
    }
}
