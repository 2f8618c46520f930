//! One in-memory series of the head: its labels as symbol ids, its closed chunks, the open
//! chunk being appended to, and (when an out-of-order window is configured) a small sorted
//! buffer of out-of-order samples.
//!
//! Mirrors Prometheus `tsdb/head.go` `memSeries` and `tsdb/head_append.go` (`appendable`,
//! `append`, chunk cutting): a chunk is cut after 120 samples or when a sample crosses the
//! chunk range boundary, so chunks never straddle a block boundary.
//!
//! Deleted intervals (head tombstones, Prometheus `Head.tombstones`) are kept per series
//! and applied when reading: snapshots drop chunks and out-of-order samples they cover
//! and the iterator skips deleted samples, so queriers and block writing never see them.

use std::sync::atomic::AtomicI64;
use std::sync::Arc;

use parking_lot::Mutex;

use crate::model::Sample;
use crate::storage::{AppendError, SampleIterator};
use crate::tsdb::chunkenc::{Encoding, XorChunk, XorIterator};
use crate::tsdb::chunks::ChunkMeta;
use crate::tsdb::head::spill::{ChunkBlocks, ChunkData, SpillError};
use crate::tsdb::tombstones::{add_interval, covers, Interval};

/// Samples a head chunk holds before a new one is cut (Prometheus' target).
pub const SAMPLES_PER_CHUNK: usize = 120;

/// A series in the head.
///
/// Laid out (`repr(C)`) so that what every append touches — the shared pointer's counts
/// before it, the ref, the lock and the hot part of the state — is packed at the start:
/// an append reads one or two cache lines of a series instead of three or four.
#[repr(C)]
pub struct MemSeries {
    /// The series ref, unique in the head and stable across WAL replays.
    pub sref: u64,
    /// Timestamp of the newest in-order sample (`state.last`), `i64::MIN` before the first:
    /// stored under the series lock by every in-order apply. Every live apply also holds
    /// the database's commit lock, so a commit (which holds it too) reads a stable value
    /// here and can confirm an in-order sample validated at append time without taking
    /// the series lock again.
    pub(crate) last_t: AtomicI64,
    pub(crate) state: Mutex<SeriesState>,
    /// `Labels::stable_hash` of the label set.
    pub hash: u64,
    /// (name id, value id) pairs sorted by name, ids into the head's symbol table.
    pub labels: Box<[[u32; 2]]>,
}

impl MemSeries {
    /// Starts loading the series' hot fields (reference counts, ref, lock and the start
    /// of the state) into the CPU caches, for an append that follows soon: a scrape
    /// touches each series once per scrape, long after the last time, so without a hint
    /// each append waits for main memory.
    #[inline]
    pub fn prefetch(&self) {
        mem_prefetch::prefetch_write_data::<_, 3>(&self.sref);
        mem_prefetch::prefetch_write_data::<_, 3>(&self.state);
    }

    pub(crate) fn new(sref: u64, hash: u64, labels: Box<[[u32; 2]]>) -> Self {
        MemSeries {
            sref,
            last_t: AtomicI64::new(i64::MIN),
            hash,
            labels,
            state: Mutex::new(SeriesState::default()),
        }
    }
}

/// An immutable, complete chunk.
///
/// `data` is always the bytes of one of the head's own [`XorChunk`]s (kept on the heap, or
/// read back whole from the head's own spill file, see [`StoredChunk`]), which start with
/// the 2-byte sample count from the moment the chunk is created. So
/// `XorIterator::new(&data)`, which fails only on a buffer shorter than that header,
/// cannot fail on a closed chunk: the readers below rely on it (debug builds assert it),
/// and `every_closed_chunk_opens` tests it. A spilled chunk that cannot be read back is
/// an error for the query ([`HeadSeriesIterator`]'s `err`) and for the block being
/// written ([`SeriesState::block_chunks`]), never a silent gap.
#[derive(Clone)]
pub(crate) struct ClosedChunk {
    pub min_t: i64,
    pub max_t: i64,
    pub data: Arc<[u8]>,
}

/// A full chunk as a series keeps it: its bytes on the heap or in a spill file.
#[derive(Clone)]
pub(crate) struct StoredChunk {
    pub min_t: i64,
    pub max_t: i64,
    pub data: ChunkData,
}

impl StoredChunk {
    /// The chunk with its bytes in memory (read back when spilled).
    fn load(&self) -> Result<ClosedChunk, SpillError> {
        Ok(ClosedChunk {
            min_t: self.min_t,
            max_t: self.max_t,
            data: self.data.load()?,
        })
    }

    /// [`Self::load`] for the append path's duplicate check (`value_at`), where a read
    /// error is logged and the sample treated as new.
    fn to_closed(&self, during: &str) -> Option<ClosedChunk> {
        match self.load() {
            Ok(c) => Some(c),
            Err(e) => {
                tracing::error!(
                    error = %e,
                    during,
                    min_t = self.min_t,
                    "head chunk unreadable; left out"
                );
                None
            }
        }
    }
}

/// How a validated sample is to be applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Accept {
    /// After the last sample: goes into the open chunk.
    InOrder,
    /// Same timestamp and same value bits as a stored sample: accepted, nothing stored.
    Duplicate,
    /// Before the last sample but within the out-of-order window.
    OutOfOrder,
}

/// Limits a sample is validated against.
#[derive(Clone, Copy, Debug)]
pub struct Bounds {
    /// Oldest appendable timestamp (head truncation point).
    pub min_valid: i64,
    /// Oldest timestamp accepted out of order; `None` disables out-of-order appends.
    pub ooo_min: Option<i64>,
}

/// The mutable part of a series, behind its lock. `repr(C)`: the fields every append
/// reads and writes come first, in declaration order (see [`MemSeries`]).
#[derive(Default)]
#[repr(C)]
pub(crate) struct SeriesState {
    /// Timestamp and value bits of the newest in-order sample, if any was ever appended.
    pub last: Option<(i64, u64)>,
    /// Appenders holding this series in an uncommitted batch; garbage collection skips it.
    pub pending: u32,
    /// Id of the first appender holding this series in its batch, and the series' index
    /// in that batch: lets an appender find a series in its batch under the lock it takes
    /// anyway, instead of keeping a map by ref. Only a hint: the appender confirms that
    /// its batch really holds this series at that index (ids wrap around).
    pub batch: u32,
    pub batch_idx: u32,
    /// True once a Series record for it is in the WAL.
    pub logged: bool,
    /// Set by garbage collection when the series left the head's maps.
    pub removed: bool,
    pub open: Option<XorChunk>,
    /// Full chunks, oldest first: on the heap until the spill pass writes them out.
    pub closed: Vec<StoredChunk>,
    // Boxed so that the common case (no out-of-order data) costs 8 bytes, not 24.
    #[allow(clippy::box_collection)]
    pub ooo: Option<Box<Vec<Sample>>>,
    /// Deleted intervals (sorted, merged); boxed like `ooo`, as most series have none.
    #[allow(clippy::box_collection)]
    pub deleted: Option<Box<Vec<Interval>>>,
}

fn chunk_end(min_t: i64, range: i64) -> i64 {
    let range = range.max(1);
    min_t
        .div_euclid(range)
        .saturating_mul(range)
        .saturating_add(range)
}

impl SeriesState {
    /// Decides whether `(t, bits)` can be appended, given the newest sample of the caller's
    /// uncommitted batch for this series (`overlay`) and `bounds`.
    pub fn check(
        &self,
        t: i64,
        bits: u64,
        overlay: Option<(i64, u64)>,
        bounds: Bounds,
    ) -> Result<Accept, AppendError> {
        if t < bounds.min_valid {
            return Err(AppendError::OutOfBounds {
                t,
                min_valid: bounds.min_valid,
            });
        }
        let last = match (overlay, self.last) {
            (Some(o), Some(l)) => Some(if o.0 >= l.0 { o } else { l }),
            (o, l) => o.or(l),
        };
        let Some((lt, lb)) = last else {
            return Ok(Accept::InOrder);
        };
        if t > lt {
            return Ok(Accept::InOrder);
        }
        if t == lt {
            return if lb == bits {
                Ok(Accept::Duplicate)
            } else {
                Err(AppendError::DuplicateSampleForTimestamp { t })
            };
        }
        match bounds.ooo_min {
            Some(min) if t >= min => match self.value_at(t) {
                Some(b) if b == bits => Ok(Accept::Duplicate),
                Some(_) => Err(AppendError::DuplicateSampleForTimestamp { t }),
                None => Ok(Accept::OutOfOrder),
            },
            _ => Err(AppendError::OutOfOrder { t, last: lt }),
        }
    }

    /// Stores a sample that [`check`](Self::check) accepted. Returns false when an
    /// out-of-order sample collided with one already buffered (kept the first; counted by
    /// the caller as a duplicate).
    /// A chunk that closes is packed into `blocks`.
    pub fn apply(
        &mut self,
        t: i64,
        v: f64,
        how: Accept,
        chunk_range: i64,
        blocks: &ChunkBlocks,
    ) -> bool {
        match how {
            Accept::Duplicate => true,
            Accept::InOrder => {
                let cut = match &self.open {
                    None => true,
                    Some(c) => {
                        c.num_samples() >= SAMPLES_PER_CHUNK
                            || c.is_full()
                            || t >= chunk_end(c.min_time(), chunk_range)
                    }
                };
                if cut {
                    self.cut_open_chunk(blocks);
                }
                if let Some(c) = self.open.as_mut() {
                    c.append(t, v);
                }
                self.last = Some((t, v.to_bits()));
                true
            }
            Accept::OutOfOrder => {
                let buf = self.ooo.get_or_insert_with(Default::default);
                match buf.binary_search_by_key(&t, |s| s.t) {
                    Ok(_) => false,
                    Err(i) => {
                        buf.insert(i, Sample::new(t, v));
                        true
                    }
                }
            }
        }
    }

    /// Closes the open chunk (if any), copying its bytes into `blocks`, and starts a new
    /// empty one.
    fn cut_open_chunk(&mut self, blocks: &ChunkBlocks) {
        // The new chunk starts small and grows by quarters (see `BitWriter`): sizing it
        // after the last full one up front would hold that much from the first sample on,
        // half a chunk more on average.
        match self.open.as_mut() {
            Some(c) if c.num_samples() > 0 => {
                // The list grows by a quarter (at least one): a first `push` would reserve
                // room for four entries where a series that lives an hour at a 15 s
                // interval only ever closes two chunks.
                if self.closed.len() == self.closed.capacity() {
                    self.closed.reserve_exact((self.closed.len() / 4).max(1));
                }
                self.closed.push(StoredChunk {
                    min_t: c.min_time(),
                    max_t: c.max_time(),
                    data: blocks.push(c.bytes()),
                });
                *c = XorChunk::new();
            }
            Some(_) => {}
            None => self.open = Some(XorChunk::new()),
        }
    }

    /// Value bits stored at exactly `t`, if any.
    pub fn value_at(&self, t: i64) -> Option<u64> {
        if let Some(buf) = &self.ooo {
            if let Ok(i) = buf.binary_search_by_key(&t, |s| s.t) {
                return Some(buf[i].v.to_bits());
            }
        }
        if let Some(c) = &self.open {
            if c.num_samples() > 0 && c.min_time() <= t && t <= c.max_time() {
                return c.iter().find(|s| s.t == t).map(|s| s.v.to_bits());
            }
        }
        let i = self.closed.partition_point(|c| c.max_t < t);
        let c = self.closed.get(i)?.to_closed("value_at")?;
        if c.min_t > t {
            return None;
        }
        // Closed chunks are the head's own XorChunk bytes, which always hold the 2-byte
        // header, so `new` (which fails only on a shorter buffer) cannot fail here.
        XorIterator::new(&c.data[..])
            .ok()?
            .find(|s| s.t == t)
            .map(|s| s.v.to_bits())
    }

    /// Oldest and newest stored sample time (deleted ones included), or `None` when the
    /// series holds no sample.
    pub fn time_range(&self) -> Option<(i64, i64)> {
        let mut lo = i64::MAX;
        let mut hi = i64::MIN;
        if let (Some(f), Some(l)) = (self.closed.first(), self.closed.last()) {
            lo = lo.min(f.min_t);
            hi = hi.max(l.max_t);
        }
        if let Some(c) = self.open.as_ref().filter(|c| c.num_samples() > 0) {
            lo = lo.min(c.min_time());
            hi = hi.max(c.max_time());
        }
        if let Some(buf) = &self.ooo {
            if let (Some(f), Some(l)) = (buf.first(), buf.last()) {
                lo = lo.min(f.t);
                hi = hi.max(l.t);
            }
        }
        (lo <= hi).then_some((lo, hi))
    }

    /// Marks `iv` as deleted: later snapshots and block writes leave its samples out.
    pub fn add_deleted(&mut self, iv: Interval) {
        add_interval(self.deleted.get_or_insert_with(Default::default), iv);
    }

    /// The deleted intervals (empty when none).
    pub fn deleted(&self) -> &[Interval] {
        self.deleted.as_deref().map_or(&[], Vec::as_slice)
    }

    /// Drops chunks and buffered samples entirely before `mint`, and deleted intervals
    /// that end before it. Returns the number of chunks removed.
    pub fn truncate(&mut self, mint: i64) -> usize {
        if let Some(d) = self.deleted.as_mut() {
            d.retain(|iv| iv.maxt >= mint);
            if d.is_empty() {
                self.deleted = None;
            }
        }
        let before = self.num_chunks();
        self.closed.retain(|c| c.max_t >= mint);
        if self
            .open
            .as_ref()
            .is_some_and(|c| c.num_samples() == 0 || c.max_time() < mint)
        {
            self.open = None;
        }
        if let Some(buf) = self.ooo.as_mut() {
            buf.retain(|s| s.t >= mint);
            if buf.is_empty() {
                self.ooo = None;
            }
        }
        before - self.num_chunks()
    }

    /// True when the series holds no sample.
    pub fn is_empty(&self) -> bool {
        self.closed.is_empty()
            && self.open.as_ref().is_none_or(|c| c.num_samples() == 0)
            && self.ooo.is_none()
    }

    /// In-memory chunks (closed plus a non-empty open one).
    pub fn num_chunks(&self) -> usize {
        self.closed.len() + usize::from(self.open.as_ref().is_some_and(|c| c.num_samples() > 0))
    }

    /// A copy of what a query over `[mint, maxt]` needs: shared closed chunks, a copy of the
    /// open chunk and the buffered out-of-order samples in range, with the deleted
    /// intervals overlapping it. Chunks and samples wholly deleted are left out. `None`
    /// when nothing is in range.
    pub fn snapshot(&self, mint: i64, maxt: i64) -> Option<SeriesSnapshot> {
        let deleted: Vec<Interval> = self
            .deleted()
            .iter()
            .filter(|iv| iv.mint <= maxt && mint <= iv.maxt)
            .copied()
            .collect();
        let mut unreadable = None;
        let mut chunks: Vec<ClosedChunk> = Vec::new();
        for c in self
            .closed
            .iter()
            .filter(|c| c.min_t <= maxt && mint <= c.max_t)
            .filter(|c| !covers(&deleted, c.min_t.max(mint), c.max_t.min(maxt)))
        {
            match c.load() {
                Ok(c) => chunks.push(c),
                Err(e) => {
                    unreadable.get_or_insert(e);
                }
            }
        }
        if let Some(c) = self.open.as_ref().filter(|c| c.num_samples() > 0) {
            if c.min_time() <= maxt
                && mint <= c.max_time()
                && !covers(&deleted, c.min_time().max(mint), c.max_time().min(maxt))
            {
                chunks.push(ClosedChunk {
                    min_t: c.min_time(),
                    max_t: c.max_time(),
                    data: Arc::from(c.bytes()),
                });
            }
        }
        let ooo: Vec<Sample> = self
            .ooo
            .as_ref()
            .map(|b| {
                b.iter()
                    .filter(|s| s.t >= mint && s.t <= maxt)
                    .filter(|s| !deleted.iter().any(|iv| iv.contains(s.t)))
                    .copied()
                    .collect()
            })
            .unwrap_or_default();
        if chunks.is_empty() && ooo.is_empty() && unreadable.is_none() {
            return None;
        }
        Some(SeriesSnapshot {
            chunks,
            ooo,
            deleted,
            unreadable,
        })
    }

    /// The series' data in `[mint, maxt)` as chunks for a block. In-order chunks are shared
    /// as they are; when out-of-order samples fall in the range, the range is decoded, merged
    /// and re-encoded.
    pub fn block_chunks(&self, mint: i64, maxt_excl: i64) -> Result<Vec<ChunkMeta>, SpillError> {
        let last = maxt_excl.saturating_sub(1);
        let Some(mut snap) = self.snapshot(mint, last) else {
            return Ok(Vec::new());
        };
        if let Some(e) = snap.unreadable.take() {
            return Err(e);
        }
        let whole = snap
            .chunks
            .iter()
            .all(|c| c.min_t >= mint && c.max_t <= last);
        if snap.ooo.is_empty() && snap.deleted.is_empty() && whole {
            return Ok(snap
                .chunks
                .into_iter()
                .map(|c| ChunkMeta {
                    min_time: c.min_t,
                    max_time: c.max_t,
                    encoding: Encoding::Xor,
                    data: c.data,
                })
                .collect());
        }
        let mut it = snap.into_iter(mint, last);
        let mut out = Vec::new();
        let mut cur = XorChunk::new();
        while let Some(s) = it.next() {
            if cur.num_samples() >= SAMPLES_PER_CHUNK {
                out.push(meta_of(&cur));
                cur = XorChunk::new();
            }
            cur.append(s.t, s.v);
        }
        if cur.num_samples() > 0 {
            out.push(meta_of(&cur));
        }
        Ok(out)
    }
}

fn meta_of(c: &XorChunk) -> ChunkMeta {
    ChunkMeta {
        min_time: c.min_time(),
        max_time: c.max_time(),
        encoding: Encoding::Xor,
        data: Arc::from(c.bytes()),
    }
}

/// What a query holds of one series after releasing the series lock.
pub struct SeriesSnapshot {
    chunks: Vec<ClosedChunk>,
    ooo: Vec<Sample>,
    /// Deleted intervals overlapping the snapshot's range.
    deleted: Vec<Interval>,
    /// The first spilled chunk in range that could not be read back.
    unreadable: Option<SpillError>,
}

impl SeriesSnapshot {
    /// Iterates the samples within `[mint, maxt]`, in-order chunks merged with out-of-order
    /// samples (an in-order sample wins a timestamp tie), deleted samples skipped.
    pub fn into_iter(self, mint: i64, maxt: i64) -> HeadSeriesIterator {
        HeadSeriesIterator {
            deleted: self.deleted,
            chunks: self.chunks,
            next_chunk: 0,
            cur: None,
            peeked: None,
            ooo: self.ooo,
            ooo_pos: 0,
            mint,
            maxt,
            error: self
                .unreadable
                .map(|e| crate::storage::QueryError::Storage(format!("head: {e}"))),
        }
    }
}

/// Lazily decodes a head series' chunks for a query.
pub struct HeadSeriesIterator {
    deleted: Vec<Interval>,
    chunks: Vec<ClosedChunk>,
    next_chunk: usize,
    cur: Option<XorIterator<Arc<[u8]>>>,
    peeked: Option<Sample>,
    ooo: Vec<Sample>,
    ooo_pos: usize,
    mint: i64,
    maxt: i64,
    /// A chunk of the range could not be read back: reported by `err`.
    error: Option<crate::storage::QueryError>,
}

impl HeadSeriesIterator {
    /// Next in-order sample within range.
    fn next_in_order(&mut self) -> Option<Sample> {
        if let Some(s) = self.peeked.take() {
            return Some(s);
        }
        loop {
            if let Some(it) = self.cur.as_mut() {
                match it.next_sample() {
                    Some(s) if s.t < self.mint => continue,
                    Some(s) if s.t > self.maxt => {
                        self.cur = None;
                        self.next_chunk = self.chunks.len();
                        return None;
                    }
                    Some(s) => return Some(s),
                    None => self.cur = None,
                }
            }
            let c = self.chunks.get(self.next_chunk)?;
            self.next_chunk += 1;
            // The head's own chunk bytes always hold the 2-byte header (see `value_at`), so
            // this never ends the series early; a debug build checks it.
            let it = XorIterator::new(c.data.clone());
            debug_assert!(it.is_ok(), "head chunk shorter than its header");
            self.cur = it.ok();
        }
    }
}

impl HeadSeriesIterator {
    /// Next sample of the merged in-order and out-of-order streams, deleted ones included.
    fn next_merged(&mut self) -> Option<Sample> {
        let a = self.next_in_order();
        let b = self.ooo.get(self.ooo_pos).copied();
        match (a, b) {
            (None, None) => None,
            (Some(a), None) => Some(a),
            (None, Some(b)) => {
                self.ooo_pos += 1;
                Some(b)
            }
            (Some(a), Some(b)) => {
                if b.t < a.t {
                    self.peeked = Some(a);
                    self.ooo_pos += 1;
                    Some(b)
                } else {
                    if b.t == a.t {
                        self.ooo_pos += 1;
                    }
                    Some(a)
                }
            }
        }
    }
}

impl SampleIterator for HeadSeriesIterator {
    fn err(&self) -> Option<crate::storage::QueryError> {
        self.error.clone()
    }

    fn next(&mut self) -> Option<Sample> {
        loop {
            let s = self.next_merged()?;
            if !self.deleted.iter().any(|iv| iv.contains(s.t)) {
                return Some(s);
            }
        }
    }

    fn seek(&mut self, t: i64) -> Option<Sample> {
        if self.peeked.is_none_or(|p| p.t < t) {
            self.peeked = None;
            // Skip whole chunks that end before t.
            if self.cur.is_none() {
                while self
                    .chunks
                    .get(self.next_chunk)
                    .is_some_and(|c| c.max_t < t)
                {
                    self.next_chunk += 1;
                }
            }
            self.mint = self.mint.max(t);
        }
        while self.ooo.get(self.ooo_pos).is_some_and(|s| s.t < t) {
            self.ooo_pos += 1;
        }
        loop {
            let s = self.next()?;
            if s.t >= t {
                return Some(s);
            }
        }
    }

    fn read_range(&mut self, mint: i64, maxt: i64, out: &mut Vec<Sample>) {
        let simple = self.cur.is_none()
            && self.peeked.is_none()
            && self.ooo.get(self.ooo_pos).is_none()
            && self.deleted.is_empty();
        if !simple {
            let mut cur = self.seek(mint);
            while let Some(s) = cur {
                if s.t > maxt {
                    break;
                }
                out.push(s);
                cur = self.next();
            }
            return;
        }
        // In-order chunks only, nothing deleted: decode each overlapping chunk in a tight
        // loop straight into `out`.
        let (mint, maxt) = (mint.max(self.mint), maxt.min(self.maxt));
        for c in &self.chunks[self.next_chunk.min(self.chunks.len())..] {
            if c.max_t < mint {
                continue;
            }
            if c.min_t > maxt {
                break;
            }
            // Cannot fail: see `ClosedChunk`.
            let it = XorIterator::new(&c.data[..]);
            debug_assert!(it.is_ok(), "head chunk shorter than its header");
            let Ok(mut it) = it else {
                continue;
            };
            while let Some(s) = it.next_sample() {
                if s.t > maxt {
                    break;
                }
                if s.t >= mint {
                    out.push(s);
                }
            }
        }
        self.next_chunk = self.chunks.len();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::STALE_NAN;

    const RANGE: i64 = 7_200_000;

    fn bounds(ooo: Option<i64>) -> Bounds {
        Bounds {
            min_valid: i64::MIN,
            ooo_min: ooo,
        }
    }

    thread_local! {
        static BLOCKS: std::sync::Arc<ChunkBlocks> = std::sync::Arc::default();
    }

    fn put(st: &mut SeriesState, t: i64, v: f64, ooo: Option<i64>) -> Result<Accept, AppendError> {
        let a = st.check(t, v.to_bits(), None, bounds(ooo))?;
        BLOCKS.with(|b| st.apply(t, v, a, RANGE, b));
        Ok(a)
    }

    fn all(st: &SeriesState) -> Vec<Sample> {
        let mut it = st
            .snapshot(i64::MIN, i64::MAX)
            .unwrap()
            .into_iter(i64::MIN, i64::MAX);
        std::iter::from_fn(|| it.next()).collect()
    }

    #[test]
    fn cuts_at_120_samples_and_at_range_boundary() {
        let mut st = SeriesState::default();
        for i in 0..250 {
            put(&mut st, i * 1000, i as f64, None).unwrap();
        }
        assert_eq!(st.closed.len(), 2);
        assert_eq!(st.closed[0].max_t, 119_000);
        assert_eq!(st.num_chunks(), 3);
        let mut st = SeriesState::default();
        put(&mut st, RANGE - 10, 1.0, None).unwrap();
        put(&mut st, RANGE, 2.0, None).unwrap();
        assert_eq!(st.closed.len(), 1, "crossing the range boundary cuts");
        assert_eq!(all(&st).len(), 2);
    }

    #[test]
    fn every_closed_chunk_opens() {
        // Closed chunks cut by count, by the range boundary, with one sample each, and
        // the open chunk's bytes before any sample: all hold the header.
        assert!(XorIterator::new(XorChunk::new().bytes()).is_ok());
        let mut st = SeriesState::default();
        for i in 0..400 {
            put(&mut st, i * 1000, i as f64, None).unwrap();
        }
        put(&mut st, RANGE - 1, 1.0, None).unwrap();
        put(&mut st, RANGE, 1.0, None).unwrap();
        put(&mut st, 2 * RANGE, 1.0, None).unwrap();
        assert!(st.closed.len() >= 5, "{}", st.closed.len());
        for c in &st.closed {
            let c = c.load().unwrap();
            let it = XorIterator::new(&c.data[..]).expect("a closed chunk opens");
            let n = it.count();
            assert!(n > 0, "a closed chunk holds samples");
        }
        assert_eq!(all(&st).len(), 403);
    }

    #[test]
    fn an_unreadable_spilled_chunk_fails_the_query_and_the_block() {
        let d = tempfile::tempdir().unwrap();
        let spill = crate::tsdb::head::spill::SpillDir::open(d.path()).unwrap();
        let mut st = SeriesState::default();
        for i in 0..300 {
            put(&mut st, i * 1000, i as f64, None).unwrap();
        }
        assert!(st.closed.len() >= 2);
        BLOCKS.with(|b| {
            b.seal_current();
            b.write_sealed(&spill, true).unwrap();
        });
        assert!(st.closed.iter().all(|c| !c.data.in_memory()));
        // Readable: the query sees every sample and no error.
        let mut it = st.snapshot(0, 400_000).unwrap().into_iter(0, 400_000);
        let mut n = 0;
        while it.next().is_some() {
            n += 1;
        }
        assert_eq!((n, it.err()), (300, None));
        // The file loses its bytes under the head: the query and the block say so.
        for e in std::fs::read_dir(d.path()).unwrap() {
            std::fs::OpenOptions::new()
                .write(true)
                .open(e.unwrap().path())
                .unwrap()
                .set_len(0)
                .unwrap();
        }
        let it = st.snapshot(0, 400_000).unwrap().into_iter(0, 400_000);
        let e = it
            .err()
            .expect("the unreadable chunk is reported")
            .to_string();
        assert!(e.contains("head chunk file"), "{e}");
        let e = st.block_chunks(0, 400_000).unwrap_err().to_string();
        assert!(e.contains("reading"), "{e}");
    }

    #[test]
    fn open_chunk_holds_little_spare_capacity() {
        let mut st = SeriesState::default();
        let mut v = 1000.0;
        for i in 0..130 {
            v += (i * 7 % 13) as f64;
            put(&mut st, i * 1000, v, None).unwrap();
            let open = st.open.as_ref().unwrap();
            let used = open.bytes().len();
            assert!(
                open.allocated_bytes() <= used + (used / 4).max(16),
                "{used} bytes written, {} held",
                open.allocated_bytes()
            );
        }
        assert_eq!(st.closed.len(), 1);
        assert_eq!(
            st.closed.capacity(),
            1,
            "no room reserved for chunks to come"
        );
        assert!(st.closed[0].data.in_memory());
        assert_eq!(all(&st).len(), 130);
    }

    #[test]
    fn duplicates_and_out_of_order() {
        let mut st = SeriesState::default();
        put(&mut st, 10, 1.0, None).unwrap();
        assert_eq!(put(&mut st, 10, 1.0, None), Ok(Accept::Duplicate));
        assert_eq!(
            put(&mut st, 10, 2.0, None),
            Err(AppendError::DuplicateSampleForTimestamp { t: 10 })
        );
        assert_eq!(
            put(&mut st, 5, 2.0, None),
            Err(AppendError::OutOfOrder { t: 5, last: 10 })
        );
        assert_eq!(put(&mut st, 5, 2.0, Some(0)), Ok(Accept::OutOfOrder));
        assert_eq!(put(&mut st, 5, 2.0, Some(0)), Ok(Accept::Duplicate));
        assert!(put(&mut st, 5, 3.0, Some(0)).is_err());
        put(&mut st, 20, 4.0, None).unwrap();
        assert!(put(&mut st, 20, 5.0, Some(0)).is_err());
        assert!(
            put(&mut st, 10, 5.0, Some(0)).is_err(),
            "collides with in-order data"
        );
        assert!(
            put(&mut st, -1, 5.0, Some(0)).is_err(),
            "older than the window"
        );
        let ts: Vec<i64> = all(&st).iter().map(|s| s.t).collect();
        assert_eq!(ts, vec![5, 10, 20]);
        // Overlay: the batch's own newest sample counts.
        assert!(st.check(25, 0, Some((30, 0)), bounds(None)).is_err());
        assert_eq!(
            st.check(30, 7, Some((30, 7)), bounds(None)),
            Ok(Accept::Duplicate)
        );
        let b = Bounds {
            min_valid: 100,
            ooo_min: None,
        };
        assert!(matches!(
            st.check(99, 0, None, b),
            Err(AppendError::OutOfBounds { .. })
        ));
    }

    #[test]
    fn stale_marker_is_bit_exact_and_truncate() {
        let mut st = SeriesState::default();
        for i in 0..300 {
            let v = if i % 7 == 0 { STALE_NAN } else { i as f64 };
            put(&mut st, i * 60_000, v, None).unwrap();
        }
        let got = all(&st);
        assert_eq!(got.len(), 300);
        assert!(got
            .iter()
            .all(|s| (s.t / 60_000) % 7 != 0 || s.v.to_bits() == STALE_NAN.to_bits()));
        let removed = st.truncate(RANGE);
        assert!(removed > 0);
        assert!(all(&st).iter().all(|s| s.t >= RANGE - 120 * 60_000));
        st.truncate(i64::MAX);
        assert!(st.is_empty());
    }

    #[test]
    fn deleted_intervals_hide_samples_in_snapshots_and_block_chunks() {
        let mut st = SeriesState::default();
        for i in 0..300 {
            put(&mut st, i * 10, i as f64, None).unwrap();
        }
        put(&mut st, 5, -1.0, Some(0)).unwrap();
        assert_eq!(st.time_range(), Some((0, 2990)));
        st.add_deleted(Interval { mint: 0, maxt: 5 });
        st.add_deleted(Interval {
            mint: 1000,
            maxt: 1990,
        });
        let ts: Vec<i64> = all(&st).iter().map(|s| s.t).collect();
        assert_eq!(ts.len(), 300 - 1 - 100);
        assert_eq!(ts[0], 10, "0 and the out-of-order 5 are deleted");
        assert!(ts.iter().all(|&t| !(1000..=1990).contains(&t)));
        // Seeking into a deleted range lands after it.
        let mut it = st.snapshot(0, 3000).unwrap().into_iter(0, 3000);
        assert_eq!(it.seek(1500).map(|s| s.t), Some(2000));
        // A range wholly deleted yields no snapshot; chunks wholly deleted are dropped.
        assert!(st.snapshot(1000, 1990).is_none());
        let n: usize = st
            .block_chunks(0, 3000)
            .unwrap()
            .iter()
            .map(|c| c.iter().unwrap().count())
            .sum();
        assert_eq!(n, ts.len(), "block writing leaves deleted samples out");
        // Truncation forgets intervals that end before the new minimum.
        st.truncate(100);
        assert_eq!(
            st.deleted(),
            &[Interval {
                mint: 1000,
                maxt: 1990
            }]
        );
        st.truncate(i64::MAX);
        assert!(st.deleted().is_empty() && st.time_range().is_none());
    }

    #[test]
    fn seek_and_range() {
        let mut st = SeriesState::default();
        for i in 0..500 {
            put(&mut st, i * 10, i as f64, None).unwrap();
        }
        put(&mut st, 15, -1.0, Some(0)).unwrap();
        let mut it = st.snapshot(100, 2000).unwrap().into_iter(100, 2000);
        assert_eq!(it.next().map(|s| s.t), Some(100));
        assert_eq!(it.seek(1500).map(|s| s.t), Some(1500));
        assert_eq!(it.seek(1500).map(|s| s.t), Some(1510));
        assert_eq!(
            std::iter::from_fn(|| it.next()).last().map(|s| s.t),
            Some(2000)
        );
        let mut it = st.snapshot(0, 30).unwrap().into_iter(0, 30);
        let ts: Vec<i64> = std::iter::from_fn(|| it.next()).map(|s| s.t).collect();
        assert_eq!(ts, vec![0, 10, 15, 20, 30]);
        let chunks = st.block_chunks(0, 2000).unwrap();
        let n: usize = chunks.iter().map(|c| c.iter().unwrap().count()).sum();
        assert_eq!(n, 201);
    }
}
