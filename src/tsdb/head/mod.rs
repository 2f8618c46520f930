//! The head: the in-memory, appendable part of the database holding the most recent data.
//!
//! Series live in a sharded map keyed by their label-set hash (`Labels::stable_hash`), with a
//! side table for hash collisions, and in a second sharded map keyed by series ref. Label
//! strings are interned in one [`SymbolTable`]; a series stores 4-byte ids. The inverted
//! index ([`MemPostings`]) maps every label pair to the sorted refs carrying it.
//!
//! Lock order (never taken the other way round): WAL → hash shard → series → symbols →
//! ref shard → postings; symbols and postings are never held together for writing.
//!
//! Deletion ([`Head::deletion_stones`], [`Head::apply_stones`]) records deleted intervals
//! per series; reads and block writing skip them (see `series`). As upstream `Head.Delete`,
//! an interval is clamped to the series' samples at deletion time, so samples appended
//! later after the series' newest sample stay visible.
//!
//! Mirrors Prometheus `tsdb/head.go` (`stripeSeries`, `seriesHashmap` with `conflicts`,
//! `Head.truncateMemory`, `gc`, `Head.Delete`) and `tsdb/head_append.go`.

pub(crate) mod postings;
pub mod querier;
pub mod replay;
pub mod series;
pub mod spill;
pub(crate) mod symbols;

use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

use hashbrown::HashMap;
use parking_lot::RwLock;
use xxhash_rust::xxh3::{xxh3_64, Xxh3};

use crate::model::{Label, Labels, Matcher};
use crate::storage::AppendError;
use crate::tsdb::tombstones::{Interval, Stone};

pub use postings::MemPostings;
pub use querier::HeadQuerier;
pub use series::{Accept, Bounds, MemSeries};
pub use symbols::SymbolTable;

/// Hasher for integer keys (series refs, symbol ids, label-set hashes): the 64-bit
/// finalizer of MurmurHash3, so every output bit depends on every input bit. That matters
/// because keys within one shard share their low (ref) or high (hash) bits, and hashbrown
/// uses both ends of the hash.
#[derive(Default, Clone, Copy)]
pub struct MixHasher(u64);

impl Hasher for MixHasher {
    fn finish(&self) -> u64 {
        let mut x = self.0;
        x ^= x >> 33;
        x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
        x ^= x >> 33;
        x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        x ^ (x >> 33)
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x100_0000_01B3);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 ^= n;
    }
    fn write_u32(&mut self, n: u32) {
        self.0 ^= u64::from(n);
    }
}

/// `BuildHasher` for [`MixHasher`].
pub type MixState = BuildHasherDefault<MixHasher>;

const SHARDS: usize = 256;

/// A label set seen as (name, value) string pairs, sorted by name. Lets WAL replay create
/// series from borrowed bytes without building a [`Labels`].
pub trait LabelPairs {
    fn pair_count(&self) -> usize;
    fn pair(&self, i: usize) -> (&str, &str);
}

impl LabelPairs for Labels {
    fn pair_count(&self) -> usize {
        self.len()
    }
    fn pair(&self, i: usize) -> (&str, &str) {
        let l = &self.as_slice()[i];
        (&l.name, &l.value)
    }
}

impl LabelPairs for [(&str, &str)] {
    fn pair_count(&self) -> usize {
        self.len()
    }
    fn pair(&self, i: usize) -> (&str, &str) {
        self[i]
    }
}

/// The same hash as [`Labels::stable_hash`], over any [`LabelPairs`]. Label sets up to
/// 1 KiB are hashed in one shot from a stack buffer (XXH3 gives the same value one-shot and
/// streaming; one shot is several times faster than many small updates).
pub fn hash_pairs<P: LabelPairs + ?Sized>(p: &P) -> u64 {
    let mut buf = [0u8; 1024];
    let mut len = 0usize;
    for i in 0..p.pair_count() {
        let (n, v) = p.pair(i);
        let need = n.len() + v.len() + 2;
        if len + need > buf.len() {
            return hash_pairs_streaming(p);
        }
        buf[len..len + n.len()].copy_from_slice(n.as_bytes());
        len += n.len();
        buf[len] = 0xff;
        len += 1;
        buf[len..len + v.len()].copy_from_slice(v.as_bytes());
        len += v.len();
        buf[len] = 0xff;
        len += 1;
    }
    xxh3_64(&buf[..len])
}

fn hash_pairs_streaming<P: LabelPairs + ?Sized>(p: &P) -> u64 {
    let mut h = Xxh3::new();
    for i in 0..p.pair_count() {
        let (n, v) = p.pair(i);
        h.update(n.as_bytes());
        h.update(&[0xff]);
        h.update(v.as_bytes());
        h.update(&[0xff]);
    }
    h.digest()
}

/// Head configuration.
#[derive(Clone, Copy, Debug)]
pub struct HeadOptions {
    /// Chunks never cross a multiple of this (ms); the block duration.
    pub chunk_range: i64,
    /// Out-of-order samples up to this far (ms) behind the head's newest sample are
    /// accepted; 0 rejects every out-of-order sample.
    pub ooo_window: i64,
}

impl Default for HeadOptions {
    fn default() -> Self {
        HeadOptions {
            chunk_range: 2 * 3600 * 1000,
            ooo_window: 0,
        }
    }
}

/// Counters kept by the head (read through [`Head::metrics`]).
#[derive(Default, Debug)]
pub struct HeadMetrics {
    pub samples_appended: AtomicU64,
    pub ooo_samples_appended: AtomicU64,
    pub rejected_out_of_order: AtomicU64,
    pub rejected_out_of_bounds: AtomicU64,
    pub rejected_duplicate: AtomicU64,
    pub series_created: AtomicU64,
    pub series_removed: AtomicU64,
    pub chunks: AtomicI64,
    pub chunks_removed: AtomicU64,
    /// Bytes of full chunks written out of the heap into spill files.
    pub chunk_bytes_spilled: AtomicU64,
}

impl HeadMetrics {
    /// Counts a rejection under its reason.
    pub fn count_rejection(&self, e: &AppendError) {
        let c = match e {
            AppendError::OutOfOrder { .. } => &self.rejected_out_of_order,
            AppendError::OutOfBounds { .. } => &self.rejected_out_of_bounds,
            AppendError::DuplicateSampleForTimestamp { .. } => &self.rejected_duplicate,
            _ => return,
        };
        c.fetch_add(1, Ordering::Relaxed);
    }
}

type RefShard = HashMap<u64, Arc<MemSeries>, MixState>;

#[derive(Default)]
struct HashShard {
    unique: HashMap<u64, Arc<MemSeries>, MixState>,
    conflicts: HashMap<u64, Vec<Arc<MemSeries>>, MixState>,
}

impl HashShard {
    fn find<P: LabelPairs + ?Sized>(
        &self,
        hash: u64,
        labels: &P,
        syms: &SymbolTable,
    ) -> Option<&Arc<MemSeries>> {
        let s = self.unique.get(&hash)?;
        if labels_equal(syms, &s.labels, labels) {
            return Some(s);
        }
        self.conflicts
            .get(&hash)?
            .iter()
            .find(|s| labels_equal(syms, &s.labels, labels))
    }

    fn insert(&mut self, s: Arc<MemSeries>) {
        match self.unique.entry(s.hash) {
            hashbrown::hash_map::Entry::Vacant(e) => {
                e.insert(s);
            }
            hashbrown::hash_map::Entry::Occupied(_) => {
                self.conflicts.entry(s.hash).or_default().push(s);
            }
        }
    }

    /// Removes exactly `s` (by pointer).
    fn remove(&mut self, s: &Arc<MemSeries>) -> bool {
        if self.unique.get(&s.hash).is_some_and(|u| Arc::ptr_eq(u, s)) {
            self.unique.remove(&s.hash);
            if let Some(list) = self.conflicts.get_mut(&s.hash) {
                if let Some(promoted) = list.pop() {
                    self.unique.insert(s.hash, promoted);
                }
                if list.is_empty() {
                    self.conflicts.remove(&s.hash);
                }
            }
            return true;
        }
        let Some(list) = self.conflicts.get_mut(&s.hash) else {
            return false;
        };
        let before = list.len();
        list.retain(|x| !Arc::ptr_eq(x, s));
        let removed = list.len() != before;
        if list.is_empty() {
            self.conflicts.remove(&s.hash);
        }
        removed
    }
}

fn labels_equal<P: LabelPairs + ?Sized>(syms: &SymbolTable, ids: &[[u32; 2]], p: &P) -> bool {
    ids.len() == p.pair_count()
        && ids.iter().enumerate().all(|(i, &[n, v])| {
            let (pn, pv) = p.pair(i);
            syms.get(n) == pn && syms.get(v) == pv
        })
}

/// Accounting of a batch of applied samples, published at once by [`Head::flush_acc`] so
/// that the hot path does no atomic operations per sample.
#[derive(Clone, Copy, Debug)]
pub struct ApplyAcc {
    samples: u64,
    ooo: u64,
    duplicates: u64,
    chunks: i64,
    min_t: i64,
    max_t: i64,
}

impl Default for ApplyAcc {
    fn default() -> Self {
        ApplyAcc {
            samples: 0,
            ooo: 0,
            duplicates: 0,
            chunks: 0,
            min_t: i64::MAX,
            max_t: i64::MIN,
        }
    }
}

/// Heap bytes of the head by structure (see [`Head::memory`]): sizes and capacities as
/// the structures know them, before allocator rounding and fragmentation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HeadMemory {
    /// Series counted.
    pub series: usize,
    /// The interned label strings, their ids and lookup table.
    pub symbols: usize,
    /// The inverted index: label pair → refs, and the list of all refs.
    pub postings: usize,
    /// The series structs (shared-pointer allocation: counts, ref, lock, state).
    pub series_structs: usize,
    /// Every series' (name id, value id) pairs.
    pub label_ids: usize,
    /// The map by label-set hash (with its conflict lists).
    pub series_map: usize,
    /// The map by series ref.
    pub ref_map: usize,
    /// Open chunks' buffers, with spare capacity; `open_chunk_used` is the part written.
    pub open_chunks: usize,
    pub open_chunk_used: usize,
    /// Closed chunks' bytes and the per-series lists holding them.
    pub closed_chunks: usize,
    pub closed_chunk_list: usize,
    /// Closed chunks' bytes written out to spill files (not heap; not in `total`).
    pub spilled_chunks: usize,
    /// Out-of-order buffers and deleted intervals.
    pub other: usize,
}

impl HeadMemory {
    /// Everything counted (`open_chunk_used` is part of `open_chunks`).
    pub fn total(&self) -> usize {
        self.symbols
            + self.postings
            + self.series_structs
            + self.label_ids
            + self.series_map
            + self.ref_map
            + self.open_chunks
            + self.closed_chunks
            + self.closed_chunk_list
            + self.other
    }
}

/// Result of a head truncation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TruncateStats {
    pub chunks_removed: usize,
    pub series_removed: usize,
}

/// The in-memory head.
pub struct Head {
    opts: HeadOptions,
    symbols: RwLock<SymbolTable>,
    by_hash: Box<[RwLock<HashShard>]>,
    by_ref: Box<[RwLock<RefShard>]>,
    postings: RwLock<MemPostings>,
    next_ref: AtomicU64,
    min_time: AtomicI64,
    max_time: AtomicI64,
    min_valid: AtomicI64,
    num_series: AtomicU64,
    metrics: HeadMetrics,
    /// WAL refs replay mapped onto another series; see `replay::WalAliases`.
    wal_aliases: replay::WalAliases,
    /// Where full chunks are written out of the heap (see `spill`); `None` keeps them in
    /// memory (read-only databases, heads without a directory).
    spill: parking_lot::Mutex<Option<spill::SpillDir>>,
    /// The blocks full chunks are packed into (see `spill`).
    blocks: spill::ChunkBlocks,
}

impl Head {
    /// An empty head.
    pub fn new(opts: HeadOptions) -> Self {
        Head {
            opts,
            symbols: RwLock::new(SymbolTable::new()),
            by_hash: (0..SHARDS).map(|_| RwLock::default()).collect(),
            by_ref: (0..SHARDS).map(|_| RwLock::default()).collect(),
            postings: RwLock::new(MemPostings::new()),
            next_ref: AtomicU64::new(1),
            min_time: AtomicI64::new(i64::MAX),
            max_time: AtomicI64::new(i64::MIN),
            min_valid: AtomicI64::new(i64::MIN),
            num_series: AtomicU64::new(0),
            metrics: HeadMetrics::default(),
            wal_aliases: replay::WalAliases::default(),
            spill: parking_lot::Mutex::new(None),
            blocks: spill::ChunkBlocks::default(),
        }
    }

    /// Writes full chunks out of the heap into files under `dir` from now on: empties
    /// `dir` (files of an earlier run) and starts a thread that writes out every block of
    /// full chunks sealed since its last look (every [`spill::SPILL_POLL`]). The thread
    /// holds a weak reference and ends when the head is dropped.
    pub fn enable_spill(self: &Arc<Self>, dir: &std::path::Path) -> Result<(), spill::SpillError> {
        *self.spill.lock() = Some(spill::SpillDir::open(dir)?);
        let weak = Arc::downgrade(self);
        let spawned = std::thread::Builder::new()
            .name("tsdb-head-spill".into())
            .spawn(move || loop {
                std::thread::sleep(spill::SPILL_POLL);
                crate::alloc::collect_now_and_then();
                let Some(head) = weak.upgrade() else { break };
                if head.blocks.sealed_bytes() == 0 {
                    continue;
                }
                if let Err(e) = head.write_chunks_out(false) {
                    tracing::error!(error = %e, "writing head chunks out failed; they stay in memory");
                }
            });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "cannot start the head chunk spill thread; full chunks stay in memory");
        }
        Ok(())
    }

    /// Writes every full chunk still on the heap (the block being filled too) into a new
    /// spill file; returns the heap bytes released. Does nothing (0) when spilling is not
    /// enabled. The background pass writes only sealed blocks, into the current file.
    pub fn spill_closed_chunks(&self) -> Result<usize, spill::SpillError> {
        self.blocks.seal_current();
        self.write_chunks_out(true)
    }

    fn write_chunks_out(&self, new_file: bool) -> Result<usize, spill::SpillError> {
        let guard = self.spill.lock();
        let Some(dir) = guard.as_ref() else {
            return Ok(0);
        };
        let released = self.blocks.write_sealed(dir, new_file)?;
        self.metrics
            .chunk_bytes_spilled
            .fetch_add(released as u64, Ordering::Relaxed);
        Ok(released)
    }

    pub fn options(&self) -> HeadOptions {
        self.opts
    }

    pub fn metrics(&self) -> &HeadMetrics {
        &self.metrics
    }

    fn hash_shard(&self, hash: u64) -> &RwLock<HashShard> {
        &self.by_hash[(hash >> 56) as usize % SHARDS]
    }

    /// Runs of 64 consecutive refs share a shard. A target's series get consecutive refs
    /// and a scrape appends them in order by ref (the scrape cache's fast path), so the
    /// shard's lock word and table stay in cache for the run instead of every append
    /// touching a cold shard.
    fn ref_shard(&self, sref: u64) -> &RwLock<RefShard> {
        &self.by_ref[((sref >> 6) as usize) % SHARDS]
    }

    /// The series with these labels, if present.
    pub fn get_by_labels<P: LabelPairs + ?Sized>(&self, labels: &P) -> Option<Arc<MemSeries>> {
        let hash = hash_pairs(labels);
        let shard = self.hash_shard(hash).read();
        let syms = self.symbols.read();
        shard.find(hash, labels, &syms).cloned()
    }

    /// The series with ref `sref`, if present.
    pub fn get_by_ref(&self, sref: u64) -> Option<Arc<MemSeries>> {
        self.ref_shard(sref).read().get(&sref).cloned()
    }

    /// Finds or creates the series for `labels`. With `mark_pending`, the series is marked as
    /// held by an uncommitted batch before the shard lock is released, so garbage collection
    /// cannot remove it underneath the caller. Returns the series and whether it was created.
    pub fn get_or_create(&self, labels: &Labels, mark_pending: bool) -> (Arc<MemSeries>, bool) {
        self.get_or_create_hashed(hash_pairs(labels), labels, mark_pending)
    }

    pub(crate) fn get_or_create_hashed<P: LabelPairs + ?Sized>(
        &self,
        hash: u64,
        labels: &P,
        mark_pending: bool,
    ) -> (Arc<MemSeries>, bool) {
        let mark = |s: &Arc<MemSeries>| {
            if mark_pending {
                s.state.lock().pending += 1;
            }
        };
        {
            let shard = self.hash_shard(hash).read();
            let found = {
                let syms = self.symbols.read();
                shard.find(hash, labels, &syms).cloned()
            };
            if let Some(s) = found {
                mark(&s);
                return (s, false);
            }
        }
        let mut shard = self.hash_shard(hash).write();
        let found = {
            let syms = self.symbols.read();
            shard.find(hash, labels, &syms).cloned()
        };
        if let Some(s) = found {
            mark(&s);
            return (s, false);
        }
        let sref = self.next_ref.fetch_add(1, Ordering::Relaxed);
        let s = self.insert_series(&mut shard, sref, hash, labels);
        mark(&s);
        (s, true)
    }

    /// Creates a series with a given ref (WAL replay). When a series with the same labels
    /// already exists, returns it instead (`Err`), so the caller can alias the ref.
    pub fn create_with_ref<P: LabelPairs + ?Sized>(
        &self,
        sref: u64,
        labels: &P,
    ) -> Result<Arc<MemSeries>, Arc<MemSeries>> {
        // Never hand out a ref the WAL already uses, even one that is aliased below.
        self.next_ref
            .fetch_max(sref.saturating_add(1), Ordering::Relaxed);
        let hash = hash_pairs(labels);
        let mut shard = self.hash_shard(hash).write();
        let found = {
            let syms = self.symbols.read();
            shard.find(hash, labels, &syms).cloned()
        };
        if let Some(s) = found {
            return Err(s);
        }
        let s = self.insert_series(&mut shard, sref, hash, labels);
        s.state.lock().logged = true;
        Ok(s)
    }

    fn insert_series<P: LabelPairs + ?Sized>(
        &self,
        shard: &mut HashShard,
        sref: u64,
        hash: u64,
        labels: &P,
    ) -> Arc<MemSeries> {
        let ids: Box<[[u32; 2]]> = {
            let mut syms = self.symbols.write();
            (0..labels.pair_count())
                .map(|i| {
                    let (n, v) = labels.pair(i);
                    [syms.intern(n), syms.intern(v)]
                })
                .collect()
        };
        let s = Arc::new(MemSeries::new(sref, hash, ids));
        shard.insert(s.clone());
        self.ref_shard(sref).write().insert(sref, s.clone());
        self.postings.write().add(sref, &s.labels);
        self.num_series.fetch_add(1, Ordering::Relaxed);
        self.metrics.series_created.fetch_add(1, Ordering::Relaxed);
        s
    }

    /// Resolves a series' labels to strings.
    pub fn labels_of(&self, s: &MemSeries) -> Labels {
        let syms = self.symbols.read();
        resolve(&syms, &s.labels)
    }

    /// The limits a new sample is validated against. `replay` accepts any out-of-order
    /// sample (it was accepted once, before the restart).
    pub fn bounds(&self, replay: bool) -> Bounds {
        let min_valid = self.min_valid.load(Ordering::Relaxed);
        let ooo_min = if replay {
            Some(min_valid)
        } else if self.opts.ooo_window > 0 {
            let max = self.max_time.load(Ordering::Relaxed);
            Some(max.saturating_sub(self.opts.ooo_window).max(min_valid))
        } else {
            None
        };
        Bounds { min_valid, ooo_min }
    }

    /// Stores a validated sample into a locked series, accounting into `acc`; call
    /// [`Head::flush_acc`] after the batch.
    pub(crate) fn apply(
        &self,
        s: &MemSeries,
        st: &mut series::SeriesState,
        t: i64,
        v: f64,
        how: Accept,
        acc: &mut ApplyAcc,
    ) {
        let chunks_before = st.num_chunks();
        if !st.apply(t, v, how, self.opts.chunk_range, &self.blocks) {
            acc.duplicates += 1;
            return;
        }
        acc.chunks += st.num_chunks() as i64 - chunks_before as i64;
        match how {
            Accept::Duplicate => return,
            Accept::OutOfOrder => acc.ooo += 1,
            Accept::InOrder => s.last_t.store(t, Ordering::Relaxed),
        }
        acc.samples += 1;
        acc.min_t = acc.min_t.min(t);
        acc.max_t = acc.max_t.max(t);
    }

    /// Publishes a batch's accounting to the head's counters and time bounds.
    pub(crate) fn flush_acc(&self, acc: &mut ApplyAcc) {
        let m = &self.metrics;
        if acc.duplicates > 0 {
            m.rejected_duplicate
                .fetch_add(acc.duplicates, Ordering::Relaxed);
        }
        if acc.chunks != 0 {
            m.chunks.fetch_add(acc.chunks, Ordering::Relaxed);
        }
        if acc.ooo > 0 {
            m.ooo_samples_appended.fetch_add(acc.ooo, Ordering::Relaxed);
        }
        if acc.samples > 0 {
            m.samples_appended.fetch_add(acc.samples, Ordering::Relaxed);
            self.min_time.fetch_min(acc.min_t, Ordering::Relaxed);
            self.max_time.fetch_max(acc.max_t, Ordering::Relaxed);
        }
        *acc = ApplyAcc::default();
    }

    /// Validates and stores one sample, accounting into `acc`; used by replay.
    pub(crate) fn append_acc(
        &self,
        s: &MemSeries,
        t: i64,
        v: f64,
        bounds: Bounds,
        acc: &mut ApplyAcc,
    ) -> Result<(), AppendError> {
        let mut st = s.state.lock();
        match st.check(t, v.to_bits(), None, bounds) {
            Ok(how) => {
                self.apply(s, &mut st, t, v, how, acc);
                Ok(())
            }
            Err(e) => {
                self.metrics.count_rejection(&e);
                Err(e)
            }
        }
    }

    /// Validates and stores one sample directly (no WAL); used by tests and tools.
    pub fn append_direct(
        &self,
        s: &MemSeries,
        t: i64,
        v: f64,
        replay: bool,
    ) -> Result<(), AppendError> {
        let mut acc = ApplyAcc::default();
        let r = self.append_acc(s, t, v, self.bounds(replay), &mut acc);
        self.flush_acc(&mut acc);
        r
    }

    /// Oldest sample time in the head (`i64::MAX` when empty).
    pub fn min_time(&self) -> i64 {
        self.min_time.load(Ordering::Relaxed)
    }

    /// Newest sample time in the head (`i64::MIN` when empty).
    pub fn max_time(&self) -> i64 {
        self.max_time.load(Ordering::Relaxed)
    }

    /// Oldest appendable timestamp.
    pub fn min_valid_time(&self) -> i64 {
        self.min_valid.load(Ordering::Relaxed)
    }

    /// Raises the oldest appendable timestamp (e.g. to the newest persisted block's end).
    pub fn set_min_valid_time(&self, t: i64) {
        self.min_valid.fetch_max(t, Ordering::Relaxed);
    }

    /// Number of series.
    pub fn num_series(&self) -> u64 {
        self.num_series.load(Ordering::Relaxed)
    }

    /// Highest ref handed out so far plus one.
    pub fn next_ref(&self) -> u64 {
        self.next_ref.load(Ordering::Relaxed)
    }

    /// All series, in no particular order.
    pub fn all_series(&self) -> Vec<Arc<MemSeries>> {
        let mut out = Vec::with_capacity(self.num_series() as usize);
        for shard in self.by_ref.iter() {
            out.extend(shard.read().values().cloned());
        }
        out
    }

    /// Drops all chunks entirely before `mint`, raises the oldest appendable time to `mint`
    /// and garbage-collects series left without samples (unless an uncommitted batch holds
    /// them).
    pub fn truncate(&self, mint: i64) -> TruncateStats {
        self.set_min_valid_time(mint);
        let mut stats = TruncateStats::default();
        let mut empty = Vec::new();
        for s in self.all_series() {
            let mut st = s.state.lock();
            stats.chunks_removed += st.truncate(mint);
            if st.is_empty() && st.pending == 0 {
                empty.push(s.clone());
            }
        }
        self.metrics
            .chunks
            .fetch_sub(stats.chunks_removed as i64, Ordering::Relaxed);
        self.metrics
            .chunks_removed
            .fetch_add(stats.chunks_removed as u64, Ordering::Relaxed);
        let removed = self.gc(empty);
        stats.series_removed = removed;
        // The head now starts at mint (or is empty).
        let max = self.max_time();
        if max < mint {
            self.min_time.store(i64::MAX, Ordering::Relaxed);
        } else {
            let _ = self
                .min_time
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |m| {
                    (m < mint).then_some(mint)
                });
        }
        stats
    }

    /// Removes candidate series that are still empty and not pending.
    fn gc(&self, candidates: Vec<Arc<MemSeries>>) -> usize {
        let mut removed: Vec<Arc<MemSeries>> = Vec::new();
        for s in candidates {
            let mut shard = self.hash_shard(s.hash).write();
            let mut st = s.state.lock();
            if st.is_empty() && st.pending == 0 && shard.remove(&s) {
                // An appender that found the series just before may still lock it; the flag
                // tells it to look the labels up again.
                st.removed = true;
                drop(st);
                removed.push(s);
            }
        }
        if removed.is_empty() {
            return 0;
        }
        let mut deleted = HashSet::with_capacity(removed.len());
        let mut affected = HashSet::new();
        for s in &removed {
            self.ref_shard(s.sref).write().remove(&s.sref);
            deleted.insert(s.sref);
            affected.extend(s.labels.iter().copied());
        }
        self.postings.write().delete(&deleted, &affected);
        {
            let mut syms = self.symbols.write();
            for s in &removed {
                for &[n, v] in s.labels.iter() {
                    syms.release(n);
                    syms.release(v);
                }
            }
        }
        let n = removed.len();
        self.num_series.fetch_sub(n as u64, Ordering::Relaxed);
        self.metrics
            .series_removed
            .fetch_add(n as u64, Ordering::Relaxed);
        n
    }

    /// Every series' data in `[mint, maxt)` as chunks, sorted by labels, for writing a
    /// block. Series without samples in the range are left out.
    pub fn block_series(
        &self,
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<(Labels, Vec<crate::tsdb::chunks::ChunkMeta>)>, spill::SpillError> {
        let mut picked: Vec<(Arc<MemSeries>, Vec<crate::tsdb::chunks::ChunkMeta>)> = Vec::new();
        for s in self.all_series() {
            // A chunk that cannot be read back fails the block rather than leaving a hole
            // in it: the head (and the WAL) still hold the data.
            let chunks = s.state.lock().block_chunks(mint, maxt)?;
            if !chunks.is_empty() {
                picked.push((s, chunks));
            }
        }
        let mut out: Vec<_> = {
            let syms = self.symbols.read();
            picked
                .into_iter()
                .map(|(s, c)| (resolve(&syms, &s.labels), c))
                .collect()
        };
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    /// The head part of deleting `[mint, maxt]` from the series matching `matchers`: one
    /// stone per matching series that holds samples in the range, its interval clamped to
    /// the series' oldest and newest sample (Prometheus `Head.Delete`). Nothing is applied;
    /// the caller logs the stones to the WAL, then calls [`Head::apply_stones`].
    pub fn deletion_stones(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Vec<Stone> {
        if mint > maxt {
            return Vec::new();
        }
        let refs = {
            let syms = self.symbols.read();
            let p = self.postings.read();
            postings::postings_for_matchers(&p, &syms, matchers)
        };
        let mut out = Vec::new();
        for r in refs {
            let Some(s) = self.get_by_ref(r) else {
                continue;
            };
            let Some((lo, hi)) = s.state.lock().time_range() else {
                continue;
            };
            let (a, b) = (mint.max(lo), maxt.min(hi));
            if a <= b {
                out.push(Stone {
                    sref: r,
                    interval: Interval { mint: a, maxt: b },
                });
            }
        }
        out
    }

    /// Records deleted intervals on their series. Intervals ending before the oldest
    /// appendable time are skipped (their samples are gone or persisted already). Returns
    /// the number of stones whose series is not in the head.
    pub fn apply_stones(&self, stones: &[Stone]) -> u64 {
        let min_valid = self.min_valid_time();
        let mut unknown = 0;
        for st in stones {
            if st.interval.maxt < min_valid {
                continue;
            }
            match self.get_by_ref(st.sref) {
                Some(s) => s.state.lock().add_deleted(st.interval),
                None => unknown += 1,
            }
        }
        unknown
    }

    /// Approximate heap bytes of the index structures (symbols and postings).
    pub fn index_heap_bytes(&self) -> usize {
        self.symbols.read().heap_bytes() + self.postings.read().heap_bytes()
    }

    /// Heap bytes held by each of the head's structures, from their sizes and capacities
    /// (what the allocator hands out may round these up; see [`HeadMemory`]). Takes every
    /// shard and series lock in turn, briefly: meant for diagnostics, not a hot path.
    pub fn memory(&self) -> HeadMemory {
        let mut m = HeadMemory {
            symbols: self.symbols.read().heap_bytes(),
            postings: self.postings.read().heap_bytes(),
            closed_chunks: self.blocks.heap_bytes(),
            ..HeadMemory::default()
        };
        // hashbrown: one control byte per bucket plus the entry (key + Arc pointer).
        let entry = 8 + std::mem::size_of::<Arc<MemSeries>>() + 1;
        for shard in self.by_hash.iter() {
            let sh = shard.read();
            m.series_map += sh.unique.capacity() * entry
                + sh.conflicts.capacity() * (8 + 24 + 1)
                + sh.conflicts
                    .values()
                    .map(|v| v.capacity() * 8)
                    .sum::<usize>();
        }
        for shard in self.by_ref.iter() {
            let sh = shard.read();
            m.ref_map += sh.capacity() * entry;
            for s in sh.values() {
                m.series += 1;
                // The Arc allocation: two counts plus the series itself.
                m.series_structs += 16 + std::mem::size_of::<MemSeries>();
                m.label_ids += std::mem::size_of_val(&*s.labels);
                let st = s.state.lock();
                if let Some(c) = &st.open {
                    m.open_chunks += c.allocated_bytes();
                    m.open_chunk_used += c.bytes().len();
                }
                m.closed_chunk_list +=
                    st.closed.capacity() * std::mem::size_of::<series::StoredChunk>();
                for c in &st.closed {
                    if !c.data.in_memory() {
                        m.spilled_chunks += c.data.len();
                    }
                }
                m.other += st.ooo.as_ref().map_or(0, |b| 24 + b.capacity() * 16)
                    + st.deleted.as_ref().map_or(0, |b| 24 + b.capacity() * 16);
            }
        }
        m
    }

    pub(crate) fn symbols(&self) -> &RwLock<SymbolTable> {
        &self.symbols
    }

    pub(crate) fn postings(&self) -> &RwLock<MemPostings> {
        &self.postings
    }
}

/// Builds a [`Labels`] from symbol ids.
pub(crate) fn resolve(syms: &SymbolTable, ids: &[[u32; 2]]) -> Labels {
    Labels::from_sorted(
        ids.iter()
            .map(|&[n, v]| Label::new(syms.get(n), syms.get(v)))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn l(pairs: &[(&str, &str)]) -> Labels {
        Labels::from_pairs(pairs)
    }

    #[test]
    fn hash_pairs_equals_stable_hash() {
        let a = l(&[("__name__", "up"), ("job", "x")]);
        let pairs: Vec<(&str, &str)> = vec![("__name__", "up"), ("job", "x")];
        assert_eq!(hash_pairs(&a), a.stable_hash());
        assert_eq!(hash_pairs(&pairs[..]), a.stable_hash());
        // Longer than the one-shot buffer: the streaming path agrees too.
        let long = "x".repeat(700);
        let b = l(&[("a", &long), ("b", &long)]);
        assert_eq!(hash_pairs(&b), b.stable_hash());
        assert_eq!(hash_pairs_streaming(&a), a.stable_hash());
    }

    #[test]
    fn memory_accounts_every_structure() {
        let h = Head::new(HeadOptions::default());
        for i in 0..1000 {
            let v = i.to_string();
            let a = l(&[("__name__", "up"), ("job", "node"), ("id", &v)]);
            let (s, _) = h.get_or_create(&a, false);
            let mut st = s.state.lock();
            for t in 0..130 {
                st.apply(
                    t * 1000,
                    (t * i) as f64,
                    Accept::InOrder,
                    h.opts.chunk_range,
                    &h.blocks,
                );
            }
        }
        let m = h.memory();
        assert_eq!(m.series, 1000);
        assert_eq!(m.label_ids, 1000 * 3 * 8);
        assert_eq!(
            m.series_structs,
            1000 * (16 + std::mem::size_of::<MemSeries>())
        );
        assert!(m.symbols > 0 && m.postings >= 1000 * 4 * 8);
        assert!(m.series_map >= 1000 * 17 && m.ref_map >= 1000 * 17);
        assert!(m.closed_chunks > 1000 * 16 && m.closed_chunk_list >= 1000 * 32);
        assert!(m.open_chunk_used > 0 && m.open_chunks >= m.open_chunk_used);
        assert_eq!(m.other, 0);
        assert_eq!(
            m.total(),
            m.symbols
                + m.postings
                + m.series_structs
                + m.label_ids
                + m.series_map
                + m.ref_map
                + m.open_chunks
                + m.closed_chunks
                + m.closed_chunk_list
        );
    }

    #[test]
    fn get_or_create_is_idempotent() {
        let h = Head::new(HeadOptions::default());
        let a = l(&[("__name__", "up"), ("job", "x")]);
        let (s1, c1) = h.get_or_create(&a, false);
        let (s2, c2) = h.get_or_create(&a, false);
        assert!(c1 && !c2);
        assert!(Arc::ptr_eq(&s1, &s2));
        assert_eq!(h.labels_of(&s1), a);
        assert_eq!(h.num_series(), 1);
        assert!(h.get_by_ref(s1.sref).is_some());
    }

    #[test]
    fn hash_collisions_keep_series_apart() {
        let h = Head::new(HeadOptions::default());
        let a = l(&[("a", "1")]);
        let b = l(&[("b", "2")]);
        let c = l(&[("c", "3")]);
        // Force the same hash for different label sets.
        let (sa, _) = h.get_or_create_hashed(42, &a, false);
        let (sb, created) = h.get_or_create_hashed(42, &b, false);
        let (sc, _) = h.get_or_create_hashed(42, &c, false);
        assert!(created);
        assert_ne!(sa.sref, sb.sref);
        let (sb2, created2) = h.get_or_create_hashed(42, &b, false);
        assert!(!created2);
        assert!(Arc::ptr_eq(&sb, &sb2));
        // Removing the primary promotes a conflicting one.
        h.truncate(0);
        assert_eq!(h.num_series(), 0);
        let (sa2, c2) = h.get_or_create_hashed(42, &a, false);
        assert!(c2);
        assert_ne!(sa2.sref, sa.sref);
        drop(sc);
    }

    #[test]
    fn block_series_is_sorted_and_range_limited() {
        let h = Head::new(HeadOptions::default());
        for name in ["b", "a", "c"] {
            let (s, _) = h.get_or_create(&l(&[("n", name)]), false);
            for t in 0..300 {
                h.append_direct(&s, t * 60_000, t as f64, false).unwrap();
            }
        }
        let out = h.block_series(0, 7_200_000).unwrap();
        let names: Vec<&str> = out.iter().map(|(l, _)| l.get("n").unwrap()).collect();
        assert_eq!(names, vec!["a", "b", "c"]);
        let n: usize = out[0].1.iter().map(|c| c.iter().unwrap().count()).sum();
        assert_eq!(n, 120);
        assert!(out[0].1.iter().all(|c| c.max_time < 7_200_000));
        assert!(h.block_series(100_000_000, 107_200_000).unwrap().is_empty());
    }

    #[test]
    fn deletion_stones_are_clamped_to_each_series_samples() {
        let h = Head::new(HeadOptions::default());
        let (a, _) = h.get_or_create(&l(&[("__name__", "m"), ("i", "a")]), false);
        let (b, _) = h.get_or_create(&l(&[("__name__", "m"), ("i", "b")]), false);
        let (_empty, _) = h.get_or_create(&l(&[("__name__", "m"), ("i", "c")]), false);
        for t in 10..20 {
            h.append_direct(&a, t * 100, 1.0, false).unwrap();
        }
        for t in 30..40 {
            h.append_direct(&b, t * 100, 1.0, false).unwrap();
        }
        let m = [Matcher::equal("__name__", "m")];
        let stones = h.deletion_stones(&m, i64::MIN, 3500);
        assert_eq!(
            stones,
            vec![
                Stone {
                    sref: a.sref,
                    interval: Interval {
                        mint: 1000,
                        maxt: 1900
                    }
                },
                Stone {
                    sref: b.sref,
                    interval: Interval {
                        mint: 3000,
                        maxt: 3500
                    }
                },
            ],
            "clamped; the series without samples gets none"
        );
        assert!(
            h.deletion_stones(&m, 2000, 2900).is_empty(),
            "no sample there"
        );
        assert!(h.deletion_stones(&m, 5, 1).is_empty());
        let unknown = Stone {
            sref: 999,
            interval: Interval { mint: 0, maxt: 1 },
        };
        let mut all = stones.clone();
        all.push(unknown);
        assert_eq!(h.apply_stones(&all), 1, "unknown ref counted");
        assert_eq!(
            b.state.lock().deleted(),
            &[Interval {
                mint: 3000,
                maxt: 3500
            }]
        );
        // Intervals wholly below the oldest appendable time are skipped.
        h.set_min_valid_time(10_000);
        let (c, _) = h.get_or_create(&l(&[("i", "late")]), false);
        h.apply_stones(&[Stone {
            sref: c.sref,
            interval: Interval {
                mint: 0,
                maxt: 9_999,
            },
        }]);
        assert!(c.state.lock().deleted().is_empty());
    }

    #[test]
    fn truncate_gcs_empty_series_but_not_pending_ones() {
        let h = Head::new(HeadOptions::default());
        let a = l(&[("a", "1")]);
        let b = l(&[("b", "1")]);
        let (sa, _) = h.get_or_create(&a, false);
        let (sb, _) = h.get_or_create(&b, true);
        h.append_direct(&sa, 1000, 1.0, false).unwrap();
        let st = h.truncate(7_200_000 * 2);
        assert_eq!(st.series_removed, 1);
        assert!(h.get_by_ref(sa.sref).is_none());
        assert!(h.get_by_ref(sb.sref).is_some(), "pending series survives");
        assert_eq!(h.symbols.read().lookup("a"), None, "symbols released");
        assert!(matches!(
            h.append_direct(&sb, 1000, 1.0, false),
            Err(AppendError::OutOfBounds { .. })
        ));
        assert_eq!(h.metrics.rejected_out_of_bounds.load(Ordering::Relaxed), 1);
    }
}
