//! The scrape cache: per-target memory of what each exposed series became, and which
//! series the previous scrape had (for staleness markers).
//!
//! Mirrors upstream `scrapeCache` in `scrape/scrape.go`:
//! - one entry per series text as written in the body (`name{a="b"}`): either the final
//!   label set's hash with the storage's [`SeriesRef`] and [`SeriesHandle`] for it, so a
//!   repeated series is never parsed into labels, relabeled, hashed or looked up by labels
//!   again (upstream `cacheEntry.ref`, `AppendFast`), or the mark that metric relabeling
//!   dropped it (upstream `droppedSeries`). The final labels (after target-label merging
//!   and `metric_relabel_configs`) are kept only while no ref is known: storages without
//!   refs need them on every append, and a ref makes them dead weight (most of the cache's
//!   memory). When the storage forgets a ref (series garbage-collected), the caller
//!   rebuilds the labels from the scraped sample;
//! - `cur`/`prev` hold the label sets appended in this and the previous successful
//!   scrape (with their refs, labels only when there is no ref); a series in `prev` and
//!   not in `cur` gets a staleness marker;
//! - entries unseen in the latest successful scrape are flushed when it ends (or when a run
//!   of failed scrapes doubled the cache, + 1000 entries).
//!
//! Lookup follows the target's order. Targets expose their series in the same order scrape
//! after scrape, so the entries are kept in the order the last successful scrape saw them,
//! their texts packed one after another in one buffer, and a lookup first compares the
//! text with the entry after the previous hit: on a stable target every lookup is one
//! `memcmp` over memory read in sequence, without hashing. Only when that misses is the
//! text hashed and looked up in the index; the next lookup then continues after the entry
//! found. A successful scrape that saw the entries in another order (or not all of them)
//! rewrites them in its order.
//!
//! The report series (`up`, `scrape_*`) are cached under keys starting with a NUL byte, which
//! no series text can start with (upstream appends an invalid rune for the same reason).

use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use hashbrown::HashTable;
use xxhash_rust::xxh3::xxh3_64;

use crate::model::Labels;
use crate::storage::{SeriesHandle, SeriesRef};

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

type HashSet = std::collections::HashSet<u64, BuildHasherDefault<PrehashedHasher>>;

/// Series appended in one scrape, in append order: label-set hash and ref, and for the
/// few without a ref their labels on the side (keyed by position), so the common entry is
/// 16 bytes instead of 24. A series appended twice (two texts with the same final labels)
/// is listed twice; the first listing counts.
#[derive(Debug, Default)]
struct StalenessList {
    series: Vec<(u64, SeriesRef)>,
    /// (index in `series`, labels) for the entries whose ref is 0, in increasing index.
    labels: Vec<(u32, Arc<Labels>)>,
}

impl StalenessList {
    fn push(&mut self, hash: u64, sref: SeriesRef, labels: Option<&Arc<Labels>>) {
        if sref == 0 {
            if let (Some(l), Ok(i)) = (labels, u32::try_from(self.series.len())) {
                self.labels.push((i, l.clone()));
            }
        }
        self.series.push((hash, sref));
    }

    fn labels_at(&self, i: usize) -> Option<&Labels> {
        let i = u32::try_from(i).ok()?;
        let at = self.labels.binary_search_by_key(&i, |e| e.0).ok()?;
        Some(&self.labels[at].1)
    }

    fn clear(&mut self) {
        self.series.clear();
        self.labels.clear();
    }

    fn heap_bytes(&self) -> usize {
        self.series.capacity() * 16
            + self.labels.capacity() * 16
            + self
                .labels
                .iter()
                .map(|(_, l)| 16 + l.heap_bytes())
                .sum::<usize>()
    }
}

/// Index of an entry, valid until the scrape ends ([`ScrapeCache::iter_done`]) or the
/// cache is cleared.
pub type EntryId = u32;

/// What the cache knows of one series: final labels (only while no ref is known), their
/// hash, the storage's ref (0 when unknown) and handle.
#[derive(Clone, Default)]
pub struct CachedSeries {
    pub labels: Option<Arc<Labels>>,
    pub hash: u64,
    pub sref: SeriesRef,
    pub handle: Option<SeriesHandle>,
}

impl std::fmt::Debug for CachedSeries {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachedSeries")
            .field("labels", &self.labels)
            .field("hash", &self.hash)
            .field("sref", &self.sref)
            .field("handle", &self.handle.is_some())
            .finish()
    }
}

#[derive(Debug)]
struct Entry {
    /// The series text: `text[off..off + len]`.
    off: u32,
    len: u32,
    /// The scrape iteration that last saw it.
    last_iter: u32,
    /// Dropped by metric relabeling (`series` is then empty).
    dropped: bool,
    series: CachedSeries,
}

/// See the module docs.
#[derive(Debug, Default)]
pub struct ScrapeCache {
    iter: u32,
    successful_count: usize,
    entries: Vec<Entry>,
    /// The entries' texts, back to back.
    text: Vec<u8>,
    /// Entry ids by the XXH3 hash of their text.
    index: HashTable<EntryId>,
    dropped: usize,
    /// Where the next lookup expects its text.
    cursor: usize,
    /// Entries seen in this iteration (since the last flush), in the order they were
    /// first seen: exactly the entries whose `last_iter` is `iter`.
    seen: Vec<EntryId>,
    cur: StalenessList,
    prev: StalenessList,
    forced_flushes: u64,
    /// TYPE/HELP/UNIT per metric family as the target exposes them (upstream
    /// `scrapeCache.metadata`), each with the iteration that last saw it.
    metadata: std::collections::HashMap<String, (FamilyMetadata, u32)>,
    /// Set when `metadata` changed since [`ScrapeCache::take_metadata`] last read it.
    metadata_changed: bool,
}

/// Iterations a family's metadata is kept after the target stopped exposing it (upstream
/// keeps it for 10 scrapes, so a briefly missing family does not blink out of the API).
const METADATA_KEPT_ITERATIONS: u32 = 10;

/// What a target's `# TYPE`, `# HELP` and `# UNIT` lines say about one metric family.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FamilyMetadata {
    /// `unknown` until a TYPE line says otherwise.
    pub metric_type: crate::exposition::MetricType,
    pub help: String,
    pub unit: String,
}

fn text_of<'a>(text: &'a [u8], e: &Entry) -> &'a [u8] {
    &text[e.off as usize..e.off as usize + e.len as usize]
}

impl ScrapeCache {
    /// An empty cache.
    pub fn new() -> Self {
        ScrapeCache::default()
    }

    /// The entry for `series_text`, marking it seen.
    pub fn find(&mut self, series_text: &str) -> Option<EntryId> {
        let key = series_text.as_bytes();
        let id = match self.entries.get(self.cursor) {
            Some(e) if text_of(&self.text, e) == key => self.cursor as EntryId,
            _ => {
                let (entries, text) = (&self.entries, &self.text);
                *self.index.find(xxh3_64(key), |&i| {
                    text_of(text, &entries[i as usize]) == key
                })?
            }
        };
        self.cursor = id as usize + 1;
        let iter = self.iter;
        let e = &mut self.entries[id as usize];
        if e.last_iter != iter {
            e.last_iter = iter;
            self.seen.push(id);
        }
        Some(id)
    }

    /// The series text the next lookup expects (the one after the previous hit), for the
    /// parser to check the input against.
    pub fn expected_next(&self) -> Option<&[u8]> {
        self.entries
            .get(self.cursor)
            .map(|e| text_of(&self.text, e))
    }

    /// The storage handle of the entry `ahead` places after the one the next lookup
    /// expects (in the order of the last successful scrape), for prefetching; `None` past
    /// the end, for a dropped series and for one without a handle.
    pub fn handle_ahead(&self, ahead: usize) -> Option<&SeriesHandle> {
        self.entries
            .get(self.cursor + ahead)?
            .series
            .handle
            .as_ref()
    }

    /// The series behind `id`; `None` when it is a dropped series' entry.
    pub fn series(&self, id: EntryId) -> Option<&CachedSeries> {
        self.entries
            .get(id as usize)
            .filter(|e| !e.dropped)
            .map(|e| &e.series)
    }

    /// What is cached for `series_text` (marking it seen); `None` when nothing is, or when
    /// it is a dropped series.
    pub fn get(&mut self, series_text: &str) -> Option<CachedSeries> {
        let id = self.find(series_text)?;
        self.series(id).cloned()
    }

    /// Remembers the final labels of `series_text`, and the storage's ref (0 when unknown;
    /// the labels are kept only then) and handle for them.
    pub fn add(
        &mut self,
        series_text: &str,
        labels: Arc<Labels>,
        hash: u64,
        sref: SeriesRef,
        handle: Option<SeriesHandle>,
    ) {
        self.insert(
            series_text,
            false,
            CachedSeries {
                labels: (sref == 0).then_some(labels),
                hash,
                sref,
                handle,
            },
        );
    }

    /// Remembers that metric relabeling dropped `series_text`.
    pub fn add_dropped(&mut self, series_text: &str) {
        self.insert(series_text, true, CachedSeries::default());
    }

    fn insert(&mut self, series_text: &str, dropped: bool, series: CachedSeries) {
        let key = series_text.as_bytes();
        let hash = xxh3_64(key);
        let iter = self.iter;
        let existing = {
            let (entries, text) = (&self.entries, &self.text);
            self.index
                .find(hash, |&i| text_of(text, &entries[i as usize]) == key)
                .copied()
        };
        if let Some(id) = existing {
            let e = &mut self.entries[id as usize];
            self.dropped = self.dropped + usize::from(dropped) - usize::from(e.dropped);
            e.dropped = dropped;
            e.series = series;
            if e.last_iter != iter {
                e.last_iter = iter;
                self.seen.push(id);
            }
            return;
        }
        // Offsets are 32-bit: a target exposing gigabytes of series text is not cached
        // beyond that (its series are then rebuilt on every scrape).
        let (Ok(off), Ok(len), Ok(id)) = (
            u32::try_from(self.text.len()),
            u32::try_from(key.len()),
            EntryId::try_from(self.entries.len()),
        ) else {
            return;
        };
        if u32::try_from(self.text.len() + key.len()).is_err() {
            return;
        }
        self.text.extend_from_slice(key);
        self.entries.push(Entry {
            off,
            len,
            last_iter: iter,
            dropped,
            series,
        });
        self.dropped += usize::from(dropped);
        self.seen.push(id);
        self.cursor = id as usize + 1;
        let (entries, text) = (&self.entries, &self.text);
        self.index
            .insert_unique(hash, id, |&i| xxh3_64(text_of(text, &entries[i as usize])));
    }

    /// Replaces the ref and handle cached for entry `id` (the old ones were no longer
    /// known to the storage); the labels are dropped once a ref is known.
    pub fn set_ref(&mut self, id: EntryId, sref: SeriesRef, handle: Option<SeriesHandle>) {
        if let Some(e) = self.entries.get_mut(id as usize).filter(|e| !e.dropped) {
            e.series.sref = sref;
            e.series.handle = handle;
            if sref != 0 {
                e.series.labels = None;
            }
        }
    }

    /// Records that the series with label hash `hash` and ref `sref` was appended in the
    /// current scrape (staleness tracking). `labels` is kept only when `sref` is 0.
    pub fn track_staleness(&mut self, hash: u64, sref: SeriesRef, labels: Option<&Arc<Labels>>) {
        self.cur.push(hash, sref, labels);
    }

    /// [`ScrapeCache::track_staleness`] for the series of entry `id`, as cached.
    pub fn track_staleness_of(&mut self, id: EntryId) {
        if let Some(e) = self.entries.get(id as usize).filter(|e| !e.dropped) {
            let c = &e.series;
            self.cur.push(c.hash, c.sref, c.labels.as_ref());
        }
    }

    /// Forgets what the current (failed) scrape tracked, so that staleness is computed
    /// against an empty scrape.
    pub fn reset_current(&mut self) {
        self.cur.clear();
    }

    /// Series of the previous scrape not seen in the current one, each once: their ref (0
    /// when unknown) and, when there is no ref, their labels. A target exposing the same
    /// series in the same order as last time costs one sequential comparison.
    pub fn stale_series(&self) -> Vec<(SeriesRef, Option<&Labels>)> {
        let (prev, cur) = (&self.prev.series, &self.cur.series);
        let same = prev.len() <= cur.len() && prev.iter().zip(cur).all(|(p, c)| p.0 == c.0);
        if same {
            return Vec::new();
        }
        let cur: HashSet = cur.iter().map(|c| c.0).collect();
        let mut listed = HashSet::default();
        prev.iter()
            .enumerate()
            .filter(|(_, (h, _))| !cur.contains(h) && listed.insert(*h))
            .map(|(i, (_, r))| (*r, self.prev.labels_at(i)))
            .collect()
    }

    /// Ends a scrape: on success (`flush`), forgets entries unseen in it and keeps the rest
    /// in the order it saw them; rotates the staleness sets.
    pub fn iter_done(&mut self, mut flush: bool) {
        let count = self.entries.len();
        if flush {
            self.successful_count = count;
        } else if count > self.successful_count * 2 + 1000 {
            // Failed scrapes with varying series would grow the cache forever.
            flush = true;
            self.forced_flushes += 1;
        }
        if flush {
            let in_order = self.seen.len() == self.entries.len()
                && self
                    .seen
                    .iter()
                    .enumerate()
                    .all(|(i, &id)| i == id as usize);
            if !in_order {
                self.rebuild();
            } else {
                self.shrink();
            }
            let iter = self.iter;
            let before = self.metadata.len();
            self.metadata
                .retain(|_, (_, seen)| iter.wrapping_sub(*seen) <= METADATA_KEPT_ITERATIONS);
            self.metadata_changed |= self.metadata.len() != before;
            self.iter = self.iter.wrapping_add(1);
            self.seen.clear();
        }
        // Without a flush the iteration goes on: what it saw so far stays seen.
        self.cursor = 0;
        std::mem::swap(&mut self.prev, &mut self.cur);
        self.cur.clear();
    }

    /// Releases spare capacity of the entries and their texts once it exceeds an eighth:
    /// they grow by doubling while a target's first scrape fills them, which leaves up to
    /// half of each unused for as long as the target lives. A stable target is shrunk
    /// once; one that keeps growing is shrunk at most once per doubling.
    fn shrink(&mut self) {
        let loose = |len: usize, cap: usize| cap > len + len / 8 + 64;
        if loose(self.text.len(), self.text.capacity()) {
            self.text.shrink_to_fit();
        }
        if loose(self.entries.len(), self.entries.capacity()) {
            self.entries.shrink_to_fit();
        }
    }

    /// Keeps only the entries seen in this iteration, in the order they were seen.
    fn rebuild(&mut self) {
        let mut old: Vec<Option<Entry>> = std::mem::take(&mut self.entries)
            .into_iter()
            .map(Some)
            .collect();
        let old_text = std::mem::take(&mut self.text);
        let keep: Vec<Entry> = self
            .seen
            .iter()
            .filter_map(|&id| old.get_mut(id as usize).and_then(Option::take))
            .collect();
        let bytes: usize = keep.iter().map(|e| e.len as usize).sum();
        let mut text = Vec::with_capacity(bytes);
        let mut entries = Vec::with_capacity(keep.len());
        let mut index = HashTable::with_capacity(keep.len());
        self.dropped = 0;
        for mut e in keep {
            let t = text_of(&old_text, &e);
            let hash = xxh3_64(t);
            // Fits: the old buffer held these texts and more.
            e.off = text.len() as u32;
            text.extend_from_slice(t);
            self.dropped += usize::from(e.dropped);
            let id = entries.len() as EntryId;
            entries.push(e);
            index.insert_unique(hash, id, |&i: &EntryId| {
                xxh3_64(text_of(&text, &entries[i as usize]))
            });
        }
        self.entries = entries;
        self.text = text;
        self.index = index;
    }

    /// Drops every cached label set (the labels they were built from changed), keeping the
    /// staleness sets so that series renamed by the change are marked stale.
    pub fn clear_series(&mut self) {
        self.entries = Vec::new();
        self.text = Vec::new();
        self.index = HashTable::new();
        self.seen.clear();
        self.dropped = 0;
        self.cursor = 0;
    }

    /// Cached series (including report series) and dropped series.
    pub fn len(&self) -> (usize, usize) {
        (self.entries.len() - self.dropped, self.dropped)
    }

    /// Heap bytes held, from the structures' capacities (labels kept for ref-less
    /// entries counted once per entry; the storage's handles are not the cache's).
    pub fn heap_bytes(&self) -> usize {
        let labels = |l: &Option<Arc<Labels>>| l.as_ref().map_or(0, |l| 16 + l.heap_bytes());
        self.entries.capacity() * std::mem::size_of::<Entry>()
            + self
                .entries
                .iter()
                .map(|e| labels(&e.series.labels))
                .sum::<usize>()
            + self.text.capacity()
            + self.index.capacity() * (std::mem::size_of::<EntryId>() + 1)
            + self.seen.capacity() * std::mem::size_of::<EntryId>()
            + self.cur.heap_bytes()
            + self.prev.heap_bytes()
            + self
                .metadata
                .iter()
                .map(|(k, (m, _))| k.capacity() + m.help.capacity() + m.unit.capacity() + 64)
                .sum::<usize>()
    }

    /// How often a cache flush was forced by growth during failed scrapes.
    pub fn forced_flushes(&self) -> u64 {
        self.forced_flushes
    }

    /// Records one metadata line of `family`: `f` updates the family's entry (created as
    /// `unknown` with empty help and unit), which counts as seen in this iteration.
    fn update_metadata(&mut self, family: &str, f: impl FnOnce(&mut FamilyMetadata) -> bool) {
        let iter = self.iter;
        match self.metadata.get_mut(family) {
            Some((m, seen)) => {
                *seen = iter;
                self.metadata_changed |= f(m);
            }
            None => {
                let mut m = FamilyMetadata::default();
                f(&mut m);
                self.metadata.insert(family.to_string(), (m, iter));
                self.metadata_changed = true;
            }
        }
    }

    /// A `# TYPE` line.
    pub fn set_type(&mut self, family: &str, t: crate::exposition::MetricType) {
        self.update_metadata(family, |m| std::mem::replace(&mut m.metric_type, t) != t);
    }

    /// A `# HELP` line.
    pub fn set_help(&mut self, family: &str, help: &str) {
        self.update_metadata(family, |m| {
            if m.help == help {
                return false;
            }
            m.help = help.to_string();
            true
        });
    }

    /// A `# UNIT` line.
    pub fn set_unit(&mut self, family: &str, unit: &str) {
        self.update_metadata(family, |m| {
            if m.unit == unit {
                return false;
            }
            m.unit = unit.to_string();
            true
        });
    }

    /// The metadata by family name when it changed since the last call, else `None`.
    pub fn take_metadata(&mut self) -> Option<std::collections::BTreeMap<String, FamilyMetadata>> {
        if !std::mem::take(&mut self.metadata_changed) {
            return None;
        }
        Some(
            self.metadata
                .iter()
                .map(|(k, (m, _))| (k.clone(), m.clone()))
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn l(v: &str) -> Arc<Labels> {
        Arc::new(Labels::from_pairs(&[("__name__", v)]))
    }

    fn is_dropped(c: &mut ScrapeCache, text: &str) -> bool {
        c.find(text).is_some_and(|id| c.series(id).is_none())
    }

    #[test]
    fn hit_and_flush() {
        let mut c = ScrapeCache::new();
        c.add("a", l("a"), 1, 7, None);
        c.add("b", l("b"), 2, 0, None);
        c.add_dropped("d");
        c.iter_done(true);
        // Next scrape sees only a and d.
        assert_eq!(
            c.get("a").map(|e| (e.labels, e.hash, e.sref)),
            Some((None, 1, 7)),
            "labels are not kept once a ref is known"
        );
        let a = c.find("a").unwrap();
        c.set_ref(a, 9, None);
        assert_eq!(c.get("a").map(|e| e.sref), Some(9));
        assert!(is_dropped(&mut c, "d"));
        assert!(!is_dropped(&mut c, "x"));
        assert!(c.get("d").is_none(), "a dropped entry is no series");
        c.iter_done(true);
        assert!(c.get("b").is_none(), "unseen in the last successful scrape");
        assert_eq!(c.len(), (1, 1));
        c.iter_done(true);
        assert!(c.get("a").is_none());
        assert_eq!(c.len(), (0, 0));
    }

    #[test]
    fn handle_ahead_follows_the_last_scrape_order() {
        let handle = |n: u64| -> SeriesHandle { Arc::new(n) };
        let n = |h: Option<&SeriesHandle>| h.and_then(|h| h.downcast_ref::<u64>().copied());
        let mut c = ScrapeCache::new();
        c.add("a", l("a"), 1, 1, Some(handle(1)));
        c.add_dropped("d");
        c.add("b", l("b"), 2, 2, Some(handle(2)));
        c.add("e", l("e"), 3, 3, None);
        c.iter_done(true);
        // Before the first lookup the next expected entry is `a`.
        assert_eq!(n(c.handle_ahead(0)), Some(1));
        assert_eq!(n(c.handle_ahead(1)), None, "a dropped entry has no handle");
        c.find("a");
        assert_eq!(n(c.handle_ahead(1)), Some(2));
        c.find("b");
        assert_eq!(n(c.handle_ahead(0)), None, "an entry without a handle");
        assert_eq!(n(c.handle_ahead(1)), None, "past the end");
    }

    #[test]
    fn labels_are_kept_only_without_a_ref() {
        let mut c = ScrapeCache::new();
        c.add("b", l("b"), 2, 0, None);
        assert_eq!(c.get("b").map(|e| e.labels), Some(Some(l("b"))));
        let id = c.find("b").unwrap();
        c.set_ref(id, 3, None);
        assert_eq!(c.get("b").map(|e| (e.labels, e.sref)), Some((None, 3)));
    }

    #[test]
    fn adding_an_existing_text_replaces_its_entry() {
        let mut c = ScrapeCache::new();
        c.add("a", l("a"), 1, 0, None);
        c.add_dropped("a");
        assert_eq!(c.len(), (0, 1));
        c.add("a", l("z"), 5, 0, None);
        assert_eq!(c.len(), (1, 0));
        assert_eq!(
            c.get("a").map(|e| (e.labels, e.hash)),
            Some((Some(l("z")), 5))
        );
    }

    #[test]
    fn failed_scrapes_do_not_flush_until_growth() {
        let mut c = ScrapeCache::new();
        c.add("a", l("a"), 1, 0, None);
        c.iter_done(true);
        c.iter_done(false);
        assert!(c.get("a").is_some());
        for i in 0..1100 {
            c.add(&format!("s{i}"), l("x"), i, 0, None);
        }
        c.iter_done(false);
        assert_eq!(c.forced_flushes(), 1);
        assert!(c.len().0 <= 1101);
        for i in 0..1100 {
            assert_eq!(c.get(&format!("s{i}")).map(|e| e.hash), Some(i));
        }
    }

    /// Entries seen only in failed scrapes since the last successful one are kept by the
    /// next successful one, as upstream keeps them (they are seen in the same iteration).
    #[test]
    fn failed_scrapes_keep_what_they_saw() {
        let mut c = ScrapeCache::new();
        for t in ["a", "b", "c"] {
            c.add(t, l(t), 1, 1, None);
        }
        c.iter_done(true);
        // A failed scrape that saw c and a before failing.
        assert!(c.find("c").is_some() && c.find("a").is_some());
        c.iter_done(false);
        // A successful one that sees a and b.
        assert!(c.find("a").is_some() && c.find("b").is_some());
        c.iter_done(true);
        assert_eq!(c.len(), (3, 0), "c was seen in the same iteration");
        for t in ["a", "b", "c"] {
            assert!(c.find(t).is_some(), "{t}");
        }
        c.iter_done(true);
        assert!(c.find("b").is_some());
        c.iter_done(true);
        assert_eq!(c.len(), (1, 0));
    }

    /// Every lookup order (same, shuffled, with series gone, new and repeated) finds the
    /// same entries as a plain map would; the entries end up in the last scrape's order.
    #[test]
    fn lookups_in_any_order_agree_with_a_map() {
        let mut c = ScrapeCache::new();
        let mut model: std::collections::HashMap<String, u64> = Default::default();
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut rnd = |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        let mut order: Vec<u64> = (0..200).collect();
        for scrape in 0..40 {
            match scrape % 4 {
                // Same order as before.
                0 => {}
                // A few swaps.
                1 => {
                    for _ in 0..5 {
                        let n = order.len() as u64;
                        let (i, j) = (rnd(n) as usize, rnd(n) as usize);
                        order.swap(i, j);
                    }
                }
                // Some series go away, others appear.
                2 => {
                    order.retain(|_| rnd(10) != 0);
                    for _ in 0..10 {
                        let pos = rnd(order.len() as u64 + 1) as usize;
                        order.insert(pos, 1000 + rnd(100));
                    }
                }
                // Repeated texts.
                _ => {
                    if let Some(&x) = order.first() {
                        order.push(x);
                    }
                }
            }
            for &k in &order {
                let text = format!("series_{k}{{a=\"b\"}}");
                match c.get(&text) {
                    Some(e) => assert_eq!(Some(&e.hash), model.get(&text), "{text}"),
                    None => {
                        assert!(!model.contains_key(&text), "{text} lost");
                        c.add(&text, l("x"), k + scrape * 10_000, 7, None);
                        model.insert(text, k + scrape * 10_000);
                    }
                }
            }
            c.iter_done(true);
            model.retain(|t, _| order.iter().any(|k| &format!("series_{k}{{a=\"b\"}}") == t));
            let mut distinct = order.clone();
            distinct.sort_unstable();
            distinct.dedup();
            assert_eq!(c.len(), (distinct.len(), 0));
        }
    }

    #[test]
    fn stable_order_needs_no_rebuild_and_a_new_order_is_kept() {
        let mut c = ScrapeCache::new();
        for t in ["a", "b", "c"] {
            c.add(t, l(t), 1, 1, None);
        }
        c.iter_done(true);
        let text_ptr = c.text.as_ptr();
        for t in ["a", "b", "c"] {
            assert!(c.find(t).is_some());
        }
        c.iter_done(true);
        assert_eq!(c.text.as_ptr(), text_ptr, "same order: nothing rewritten");
        for t in ["c", "a", "b"] {
            assert!(c.find(t).is_some());
        }
        c.iter_done(true);
        assert_eq!(c.text, b"cab");
        // In the new order, every lookup is the sequential one.
        for (i, t) in ["c", "a", "b"].iter().enumerate() {
            assert_eq!(c.cursor, i);
            assert_eq!(c.find(t), Some(i as EntryId));
        }
    }

    #[test]
    fn stale_series_are_listed_once_whatever_the_order() {
        let mut c = ScrapeCache::new();
        for h in [1, 2, 1, 3] {
            c.track_staleness(h, h * 10, None);
        }
        c.iter_done(true);
        for h in [3, 2] {
            c.track_staleness(h, h * 10, None);
        }
        assert_eq!(c.stale_series(), vec![(10, None)], "1 once");
        c.iter_done(true);
        for h in [2, 3, 4] {
            c.track_staleness(h, h * 10, None);
        }
        assert!(
            c.stale_series().is_empty(),
            "reordered and grown: nothing stale"
        );
        c.iter_done(true);
        for h in [2, 3] {
            c.track_staleness(h, h * 10, None);
        }
        assert_eq!(
            c.stale_series(),
            vec![(40, None)],
            "the same prefix, one gone"
        );
    }

    #[test]
    fn stale_series_without_a_ref_keep_their_labels() {
        let mut c = ScrapeCache::new();
        let (a, b) = (l("a"), l("b"));
        c.track_staleness(1, 10, Some(&a));
        c.track_staleness(2, 0, Some(&b));
        c.track_staleness(3, 0, Some(&a));
        c.iter_done(true);
        c.track_staleness(1, 10, None);
        let stale = c.stale_series();
        assert_eq!(stale.len(), 2);
        assert_eq!(stale[0], (0, Some(&*b)));
        assert_eq!(stale[1], (0, Some(&*a)));
        c.iter_done(true);
        assert_eq!(
            c.stale_series(),
            vec![(10, None)],
            "a ref is enough: labels are not kept with it"
        );
    }

    #[test]
    fn first_scrape_leaves_little_spare_capacity() {
        let mut c = ScrapeCache::new();
        for i in 0..3000u64 {
            let text = format!("http_requests_total{{code=\"200\",handler=\"/api/{i}\"}}");
            c.add(&text, l("x"), i, i + 1, None);
        }
        c.iter_done(true);
        assert!(c.text.capacity() <= c.text.len() + c.text.len() / 8 + 64);
        assert!(c.entries.capacity() <= c.entries.len() + c.entries.len() / 8 + 64);
        // Still found in order and out of order after the shrink.
        assert_eq!(
            c.get("http_requests_total{code=\"200\",handler=\"/api/0\"}")
                .map(|e| e.sref),
            Some(1)
        );
        assert_eq!(
            c.get("http_requests_total{code=\"200\",handler=\"/api/2999\"}")
                .map(|e| e.sref),
            Some(3000)
        );
        assert!(c.heap_bytes() > c.text.len());
    }

    #[test]
    fn metadata_is_kept_ten_scrapes_after_it_disappears() {
        use crate::exposition::MetricType;
        let mut c = ScrapeCache::new();
        assert!(c.take_metadata().is_none());
        c.set_type("a_total", MetricType::Counter);
        c.set_help("a_total", "Things.");
        c.set_help("b", "Only help.");
        c.iter_done(true);
        let m = c.take_metadata().expect("changed");
        assert_eq!(m["a_total"].metric_type, MetricType::Counter);
        assert_eq!(m["a_total"].help, "Things.");
        assert_eq!(m["b"].metric_type, MetricType::Unknown);
        // The same lines again change nothing.
        c.set_type("a_total", MetricType::Counter);
        c.set_help("a_total", "Things.");
        c.iter_done(true);
        assert!(c.take_metadata().is_none());
        // `b` disappears; it stays for ten more successful scrapes.
        for i in 0..=METADATA_KEPT_ITERATIONS {
            c.set_type("a_total", MetricType::Counter);
            c.iter_done(true);
            let changed = c.take_metadata();
            if i + 1 < METADATA_KEPT_ITERATIONS {
                assert!(changed.is_none(), "scrape {i}");
            } else if let Some(m) = changed {
                assert!(!m.contains_key("b") && m.contains_key("a_total"));
                return;
            }
        }
        panic!("b was never forgotten");
    }

    #[test]
    fn staleness_sets_rotate() {
        let mut c = ScrapeCache::new();
        c.track_staleness(1, 11, Some(&l("a")));
        c.track_staleness(2, 12, Some(&l("b")));
        c.track_staleness(3, 0, Some(&l("c")));
        c.iter_done(true);
        c.track_staleness(1, 11, None);
        let mut stale: Vec<_> = c
            .stale_series()
            .into_iter()
            .map(|(r, l)| (r, l.cloned()))
            .collect();
        stale.sort_by_key(|x| x.0);
        assert_eq!(stale, vec![(0, Some((*l("c")).clone())), (12, None)]);
        c.reset_current();
        assert_eq!(c.stale_series().len(), 3);
        c.iter_done(false);
        assert!(c.stale_series().is_empty(), "nothing appended, nothing was");
    }
}
