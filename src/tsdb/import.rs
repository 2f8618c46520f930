//! Backfilling: turns a stream of samples (labels, timestamp, value) into blocks, one per
//! block-duration aligned window, in one pass, as `promtool tsdb create-blocks-from`.
//! Like promtool's, each block spans exactly its samples, `[first, last + 1)`, so that
//! importing data up to now leaves the head's minimum valid time (the newest block's
//! end) just after the last imported sample and live ingestion continues right away.
//!
//! Samples are buffered in memory per series and block window: appended as they come,
//! and when the buffered bytes pass a limit, compressed into XOR chunks (about 2 bytes a
//! sample). A window is written as a block at the end of the input; when compressing
//! leaves the buffers over three quarters of the limit, every buffered window is written
//! early, and windows written more than once are then compacted into one block each. Samples of one
//! series must come in time order (OpenMetrics guarantees it; series may interleave):
//! an older sample is counted as an out-of-order error and skipped, a repeat of the last
//! timestamp with the same value is counted as a duplicate and skipped.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use crate::model::{Labels, Sample};
use crate::tsdb::block::{Block, BlockError, BlockMeta, BlockWriter, EncodedSeries};
use crate::tsdb::chunkenc::xor::MAX_SAMPLES as XOR_MAX_SAMPLES;
use crate::tsdb::chunkenc::XorChunk;
use crate::tsdb::compact::{compact, CompactError};

/// Default cap on buffered sample bytes (256 MiB); see [`ImportOptions::max_buffered_bytes`].
pub const DEFAULT_MAX_BUFFERED_BYTES: usize = 256 << 20;
/// How many error messages an [`ImportReport`] keeps verbatim.
const MAX_REPORTED_ERRORS: usize = 100;
/// Progress is reported every this many input samples.
const PROGRESS_EVERY: u64 = 100_000;
/// Rough per-series-per-window bookkeeping bytes, for the memory estimate.
const SLOT_OVERHEAD: usize = 96;

/// Tuning for [`import_samples_with`].
#[derive(Clone, Debug)]
pub struct ImportOptions {
    /// Block length in milliseconds; blocks start at multiples of it.
    pub block_duration: i64,
    /// Buffered bytes above which buffered samples are compressed, and all windows are
    /// flushed early if that leaves more than three quarters of it.
    pub max_buffered_bytes: usize,
    /// Merge the blocks of windows that had to be flushed more than once.
    pub compact_spilled: bool,
}

/// Periodic progress, for a progress bar.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImportProgress {
    /// Input items consumed (samples and errors).
    pub samples_read: u64,
    pub series: u64,
    pub blocks_written: u64,
    pub buffered_bytes: usize,
}

/// What an import did.
#[derive(Debug, Default)]
pub struct ImportReport {
    pub samples_imported: u64,
    pub series: u64,
    /// Samples repeating a series' last timestamp and value (skipped).
    pub duplicates: u64,
    /// Samples older than (or at the time of, with another value) the series' previous one.
    pub out_of_order: u64,
    /// Errors returned by the input iterator.
    pub input_errors: u64,
    /// The first [`MAX_REPORTED_ERRORS`] errors, as messages.
    pub errors: Vec<String>,
    /// Metadata of the blocks left in the data directory, sorted by min time.
    pub blocks: Vec<BlockMeta>,
    /// How many times buffered windows were flushed before the end of the input.
    pub spills: u64,
}

/// Why an import failed as a whole.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("block duration must be positive, got {0} ms")]
    InvalidBlockDuration(i64),
    #[error(transparent)]
    Block(#[from] BlockError),
}

struct SeriesState {
    labels: Labels,
    last_t: i64,
    last_v: u64,
    /// Window start, index into `Importer::windows` and slot there that the series
    /// currently appends to; valid for generation `gen`.
    window: i64,
    window_idx: usize,
    slot: usize,
    gen: u64,
}

struct WindowBuf {
    start: i64,
    /// The series present in the window.
    slots: Vec<Slot>,
}

impl WindowBuf {
    /// The oldest and newest buffered timestamps of the window, if it holds any sample.
    fn time_range(&self) -> Option<(i64, i64)> {
        self.slots
            .iter()
            .filter_map(Slot::time_range)
            .reduce(|(a0, a1), (b0, b1)| (a0.min(b0), a1.max(b1)))
    }
}

/// One series' samples in one window: compressed chunks, then the newest samples as
/// they came (appending to a vector is far cheaper than XOR-encoding; the tail is
/// compressed only when the buffers pass the memory limit).
struct Slot {
    id: u32,
    chunks: Vec<XorChunk>,
    raw: Vec<Sample>,
}

impl Slot {
    /// The slot's first and last timestamps (samples of a slot are in time order).
    fn time_range(&self) -> Option<(i64, i64)> {
        let first = match self.chunks.first() {
            Some(c) if c.num_samples() > 0 => c.min_time(),
            _ => self.raw.first()?.t,
        };
        let last = match self.raw.last() {
            Some(s) => s.t,
            None => self
                .chunks
                .last()
                .filter(|c| c.num_samples() > 0)?
                .max_time(),
        };
        Some((first, last))
    }

    /// Moves the raw tail into XOR chunks; returns the slot's bytes afterwards.
    fn compress(&mut self) -> usize {
        for s in std::mem::take(&mut self.raw) {
            if self
                .chunks
                .last()
                .is_none_or(|c| c.num_samples() >= XOR_MAX_SAMPLES)
            {
                self.chunks.push(XorChunk::new());
            }
            if let Some(c) = self.chunks.last_mut() {
                c.append(s.t, s.v);
            }
        }
        SLOT_OVERHEAD + self.chunks.iter().map(|c| c.bytes().len()).sum::<usize>()
    }
}

/// Hasher for keys that already are hashes.
#[derive(Default)]
pub(crate) struct IdentityHasher(u64);

impl std::hash::Hasher for IdentityHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

pub(crate) type IdentityBuild = std::hash::BuildHasherDefault<IdentityHasher>;

struct Importer<'a> {
    dir: &'a Path,
    opts: ImportOptions,
    /// Series id by xxh3 of the label set; label sets whose hash is taken by another
    /// label set live in `collisions`.
    ids: HashMap<u64, u32, IdentityBuild>,
    collisions: HashMap<Labels, u32>,
    hash_buf: Vec<u8>,
    series: Vec<SeriesState>,
    last_id: u32,
    windows: Vec<WindowBuf>,
    window_index: BTreeMap<i64, usize>,
    gen: u64,
    /// 1-based position of the current input item (for error messages).
    read: u64,
    buffered: usize,
    written: Vec<BlockMeta>,
    report: ImportReport,
}

impl Importer<'_> {
    fn error(&mut self, msg: String) {
        if self.report.errors.len() < MAX_REPORTED_ERRORS {
            self.report.errors.push(msg);
        }
    }

    fn hash(&mut self, labels: &Labels) -> u64 {
        self.hash_buf.clear();
        for l in labels {
            self.hash_buf.extend_from_slice(l.name.as_bytes());
            self.hash_buf.push(0xff);
            self.hash_buf.extend_from_slice(l.value.as_bytes());
            self.hash_buf.push(0xff);
        }
        xxhash_rust::xxh3::xxh3_64(&self.hash_buf)
    }

    fn series_id(&mut self, labels: Labels) -> u32 {
        // Consecutive samples often belong to the same series: compare before hashing.
        if self
            .series
            .get(self.last_id as usize)
            .is_some_and(|s| s.labels == labels)
        {
            return self.last_id;
        }
        let h = self.hash(&labels);
        let taken = match self.ids.get(&h) {
            Some(&id) if self.series[id as usize].labels == labels => return id,
            Some(_) => {
                if let Some(&id) = self.collisions.get(&labels) {
                    return id;
                }
                true
            }
            None => false,
        };
        let id = self.series.len() as u32;
        if taken {
            self.collisions.insert(labels.clone(), id);
        } else {
            self.ids.insert(h, id);
        }
        self.series.push(SeriesState {
            labels,
            last_t: i64::MIN,
            last_v: 0,
            window: i64::MIN,
            window_idx: 0,
            slot: 0,
            gen: u64::MAX,
        });
        id
    }

    #[cfg(test)]
    fn append(&mut self, labels: Labels, t: i64, v: f64) {
        let id = self.series_id(labels);
        self.last_id = id;
        self.append_id(id, t, v);
    }

    /// Appends a sample to the series `id` (from [`Importer::series_id`]).
    fn append_id(&mut self, id: u32, t: i64, v: f64) {
        let Some(s) = self.series.get_mut(id as usize) else {
            return;
        };
        if s.gen != u64::MAX || s.last_t != i64::MIN {
            if t == s.last_t && v.to_bits() == s.last_v {
                self.report.duplicates += 1;
                return;
            }
            if t <= s.last_t {
                self.report.out_of_order += 1;
                let msg = if t == s.last_t {
                    format!(
                        "input item {}: duplicate sample for {} at timestamp {t} with a different value",
                        self.read, s.labels
                    )
                } else {
                    format!(
                        "input item {}: out of order sample for {}: timestamp {t} is before {}",
                        self.read, s.labels, s.last_t
                    )
                };
                self.error(msg);
                return;
            }
        }
        s.last_t = t;
        s.last_v = v.to_bits();
        // Most samples fall in the series' current window: check that without dividing.
        let bd = self.opts.block_duration;
        let same_window =
            s.gen == self.gen && t >= s.window && (t.wrapping_sub(s.window) as u64) < bd as u64;
        if !same_window {
            let w = t.div_euclid(bd) * bd;
            let idx = match self.window_index.get(&w) {
                Some(&i) => i,
                None => {
                    self.windows.push(WindowBuf {
                        start: w,
                        slots: Vec::new(),
                    });
                    self.window_index.insert(w, self.windows.len() - 1);
                    self.windows.len() - 1
                }
            };
            let buf = &mut self.windows[idx];
            buf.slots.push(Slot {
                id,
                chunks: Vec::new(),
                raw: Vec::new(),
            });
            s.window = w;
            s.window_idx = idx;
            s.slot = buf.slots.len() - 1;
            s.gen = self.gen;
            self.buffered += SLOT_OVERHEAD;
        }
        let (window_idx, slot) = (s.window_idx, s.slot);
        let Some(raw) = self
            .windows
            .get_mut(window_idx)
            .and_then(|b| b.slots.get_mut(slot))
            .map(|s| &mut s.raw)
        else {
            return;
        };
        if raw.len() == raw.capacity() {
            // Count what the vector really holds, growth included.
            let before = raw.capacity();
            raw.reserve(1);
            self.buffered += (raw.capacity() - before) * std::mem::size_of::<Sample>();
        }
        raw.push(Sample::new(t, v));
        self.report.samples_imported += 1;
    }

    fn snapshot(&self) -> ImportProgress {
        ImportProgress {
            samples_read: self.read,
            series: self.series.len() as u64,
            blocks_written: self.written.len() as u64,
            buffered_bytes: self.buffered,
        }
    }

    /// Compresses every raw tail; the buffered bytes are recounted.
    fn compress(&mut self) {
        self.buffered = self
            .windows
            .iter_mut()
            .flat_map(|w| w.slots.iter_mut())
            .map(Slot::compress)
            .sum();
    }

    /// Writes every buffered window as a block and clears the buffers.
    fn flush(&mut self) -> Result<(), BlockError> {
        let mut windows = std::mem::take(&mut self.windows);
        self.window_index.clear();
        windows.sort_by_key(|b| b.start);
        for mut buf in windows {
            let series = &self.series;
            buf.slots.sort_unstable_by(|a, b| {
                series[a.id as usize]
                    .labels
                    .cmp(&series[b.id as usize].labels)
            });
            // As promtool's blocks, the block spans exactly its samples: from the first to
            // the last + 1 ms (ranges are half-open), not the whole window. A block of
            // recent data that claimed the window's end would push the head's minimum
            // valid time into the future, and a server opened on the directory would
            // refuse every live sample until then.
            let Some((mint, last)) = buf.time_range() else {
                continue;
            };
            let maxt = last.saturating_add(1);
            let mut bw = BlockWriter::new(self.dir, mint, maxt)?;
            // Decoding and re-encoding is the CPU-heavy part: split each group of series
            // between this thread and a helper, then write the group in order.
            for group in buf.slots.chunks(FLUSH_GROUP) {
                let (mine, theirs) = group.split_at(group.len() / 2);
                let (a, b) = if group.len() < FLUSH_PARALLEL_MIN {
                    (encode_slots(series, group, mint, maxt), Ok(Vec::new()))
                } else {
                    std::thread::scope(|scope| {
                        let helper = scope.spawn(|| encode_slots(series, theirs, mint, maxt));
                        let a = encode_slots(series, mine, mint, maxt);
                        let b = match helper.join() {
                            Ok(b) => b,
                            Err(panic) => std::panic::resume_unwind(panic),
                        };
                        (a, b)
                    })
                };
                for (slot, enc) in group.iter().zip(a?.into_iter().chain(b?)) {
                    bw.add_encoded(&series[slot.id as usize].labels, enc)?;
                }
            }
            self.written.push(bw.finish()?);
        }
        self.buffered = 0;
        self.gen += 1;
        Ok(())
    }
}

/// Compacts the blocks of each window (blocks starting in the same `block_duration`
/// aligned range: a window flushed more than once) into one block spanning them all.
fn merge_windows(
    data_dir: &Path,
    metas: Vec<BlockMeta>,
    block_duration: i64,
) -> Result<Vec<BlockMeta>, BlockError> {
    let mut groups: BTreeMap<i64, Vec<BlockMeta>> = BTreeMap::new();
    for m in metas {
        groups
            .entry(m.min_time.div_euclid(block_duration))
            .or_default()
            .push(m);
    }
    let mut out = Vec::new();
    for (_, g) in groups {
        if g.len() == 1 {
            out.extend(g);
            continue;
        }
        let blocks = g
            .iter()
            .map(|m| Block::open(&data_dir.join(m.ulid.to_string())))
            .collect::<Result<Vec<_>, _>>()?;
        match compact(data_dir, &blocks) {
            Ok(Some(m)) => out.push(m),
            Ok(None) | Err(CompactError::NoBlocks) => {}
            Err(CompactError::Block(e)) => return Err(e),
        }
    }
    Ok(out)
}

/// Series per unit of work when a window is encoded on two threads.
const FLUSH_GROUP: usize = 2048;
/// Groups smaller than this are encoded on one thread (a thread costs more).
const FLUSH_PARALLEL_MIN: usize = 64;

/// Decodes the buffered chunks of `slots` and encodes each series for the block
/// `[mint, maxt)`, in order.
fn encode_slots(
    series: &[SeriesState],
    slots: &[Slot],
    mint: i64,
    maxt: i64,
) -> Result<Vec<EncodedSeries>, BlockError> {
    let mut samples: Vec<Sample> = Vec::new();
    slots
        .iter()
        .map(|slot| {
            let labels = &series[slot.id as usize].labels;
            if slot.chunks.is_empty() {
                return BlockWriter::encode_series(labels, &slot.raw, mint, maxt);
            }
            samples.clear();
            for c in &slot.chunks {
                samples.extend(c.iter());
            }
            samples.extend_from_slice(&slot.raw);
            BlockWriter::encode_series(labels, &samples, mint, maxt)
        })
        .collect()
}

/// Imports samples into new blocks under `data_dir`, aligned to `block_duration` (ms),
/// with the default memory limit. See [`import_samples_with`].
pub fn import_samples<E: std::fmt::Display>(
    data_dir: &Path,
    block_duration: i64,
    samples: impl Iterator<Item = Result<(Labels, i64, f64), E>>,
    progress: impl FnMut(ImportProgress),
) -> Result<ImportReport, ImportError> {
    import_samples_with(
        data_dir,
        ImportOptions {
            block_duration,
            max_buffered_bytes: DEFAULT_MAX_BUFFERED_BYTES,
            compact_spilled: true,
        },
        samples,
        progress,
    )
}

/// Imports samples into new blocks under `data_dir` in one pass. Input errors (the
/// iterator's `Err`, carrying the caller's line context) and out-of-order samples are
/// counted and reported, not fatal; I/O failures are.
pub fn import_samples_with<E: std::fmt::Display>(
    data_dir: &Path,
    opts: ImportOptions,
    samples: impl Iterator<Item = Result<(Labels, i64, f64), E>>,
    progress: impl FnMut(ImportProgress),
) -> Result<ImportReport, ImportError> {
    let mut b = Backfill::new(data_dir, opts, progress)?;
    for item in samples {
        match item {
            Ok((labels, t, v)) => {
                let id = b.imp.series_id(labels);
                b.imp.last_id = id;
                b.append(SeriesRef(id), t, v)?;
            }
            Err(e) => b.input_error(e.to_string())?,
        }
    }
    b.finish()
}

/// A series registered with [`Backfill::series`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SeriesRef(u32);

/// A one-pass import fed item by item, for callers that know when a sample belongs to a
/// series they have seen before (a parser's series text, say): they register each label
/// set once with [`Backfill::series`] and append samples by [`SeriesRef`], so no label
/// set is built, hashed or compared per sample. Behaves exactly as
/// [`import_samples_with`], which is built on it.
pub struct Backfill<'a, P: FnMut(ImportProgress)> {
    imp: Importer<'a>,
    progress: P,
}

impl<'a, P: FnMut(ImportProgress)> Backfill<'a, P> {
    /// Starts an import into `data_dir` (created if missing).
    pub fn new(data_dir: &'a Path, opts: ImportOptions, progress: P) -> Result<Self, ImportError> {
        if opts.block_duration <= 0 {
            return Err(ImportError::InvalidBlockDuration(opts.block_duration));
        }
        std::fs::create_dir_all(data_dir).map_err(|source| BlockError::Io {
            path: data_dir.to_path_buf(),
            op: "create directory",
            source,
        })?;
        Ok(Backfill {
            imp: Importer {
                dir: data_dir,
                opts,
                ids: HashMap::default(),
                collisions: HashMap::new(),
                hash_buf: Vec::new(),
                series: Vec::new(),
                last_id: 0,
                windows: Vec::new(),
                window_index: BTreeMap::new(),
                gen: 0,
                read: 0,
                buffered: 0,
                written: Vec::new(),
                report: ImportReport::default(),
            },
            progress,
        })
    }

    /// The series of a label set: equal label sets get the same reference. A series
    /// registered but never appended to still counts in [`ImportReport::series`].
    pub fn series(&mut self, labels: Labels) -> SeriesRef {
        SeriesRef(self.imp.series_id(labels))
    }

    /// Appends one input sample of `series` (one input item).
    pub fn append(&mut self, series: SeriesRef, t: i64, v: f64) -> Result<(), ImportError> {
        self.imp.read += 1;
        self.imp.append_id(series.0, t, v);
        self.item_done()
    }

    /// Records one input item that was an error (counted, its message kept).
    pub fn input_error(&mut self, msg: String) -> Result<(), ImportError> {
        self.imp.read += 1;
        self.imp.report.input_errors += 1;
        self.imp.error(msg);
        self.item_done()
    }

    #[inline]
    fn item_done(&mut self) -> Result<(), ImportError> {
        let max = self.imp.opts.max_buffered_bytes;
        if self.imp.buffered > max {
            self.imp.compress();
            // Compressing freed too little to go on for long: write everything out.
            if self.imp.buffered > max / 4 * 3 {
                self.imp.flush()?;
                self.imp.report.spills += 1;
                (self.progress)(self.imp.snapshot());
            }
        }
        if self.imp.read.is_multiple_of(PROGRESS_EVERY) {
            (self.progress)(self.imp.snapshot());
        }
        Ok(())
    }

    /// Writes what is buffered, compacts windows that were flushed more than once, and
    /// reports.
    pub fn finish(mut self) -> Result<ImportReport, ImportError> {
        self.imp.flush()?;
        (self.progress)(self.imp.snapshot());
        let mut imp = self.imp;
        let mut blocks = std::mem::take(&mut imp.written);
        if imp.opts.compact_spilled && imp.report.spills > 0 {
            blocks = merge_windows(imp.dir, blocks, imp.opts.block_duration)?;
        }
        blocks.sort_by_key(|m| (m.min_time, m.ulid));
        let mut report = imp.report;
        report.series = imp.series.len() as u64;
        report.blocks = blocks;
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn importer(dir: &Path) -> Importer<'_> {
        Importer {
            dir,
            opts: ImportOptions {
                block_duration: 1000,
                max_buffered_bytes: DEFAULT_MAX_BUFFERED_BYTES,
                compact_spilled: true,
            },
            ids: HashMap::default(),
            collisions: HashMap::new(),
            hash_buf: Vec::new(),
            series: Vec::new(),
            last_id: 0,
            windows: Vec::new(),
            window_index: BTreeMap::new(),
            gen: 0,
            read: 0,
            buffered: 0,
            written: Vec::new(),
            report: ImportReport::default(),
        }
    }

    #[test]
    fn hash_collisions_keep_series_apart() {
        let dir = tempfile::tempdir().unwrap();
        let mut imp = importer(dir.path());
        let a = Labels::from_pairs(&[("x", "a")]);
        let b = Labels::from_pairs(&[("x", "b")]);
        let c = Labels::from_pairs(&[("x", "c")]);
        assert_eq!(imp.series_id(a.clone()), 0);
        // Pretend b and c hash like a.
        let ha = imp.hash(&a);
        let hb = imp.hash(&b);
        let hc = imp.hash(&c);
        imp.ids.remove(&ha);
        imp.ids.insert(hb, 0);
        imp.ids.insert(hc, 0);
        imp.last_id = u32::MAX;
        assert_eq!(imp.series_id(b.clone()), 1);
        assert_eq!(imp.series_id(c.clone()), 2);
        assert_eq!(imp.series_id(b), 1);
        assert_eq!(imp.series_id(c), 2);
        assert_eq!(imp.collisions.len(), 2);
    }

    #[test]
    fn windows_follow_block_duration() {
        let dir = tempfile::tempdir().unwrap();
        let mut imp = importer(dir.path());
        let a = Labels::from_pairs(&[("x", "a")]);
        for t in [-1500, -1, 0, 999, 1000, 2500] {
            imp.append(a.clone(), t, 1.0);
        }
        let mut starts: Vec<i64> = imp.windows.iter().map(|w| w.start).collect();
        starts.sort();
        assert_eq!(starts, vec![-2000, -1000, 0, 1000, 2000]);
        imp.flush().unwrap();
        let ranges: Vec<(i64, i64)> = imp
            .written
            .iter()
            .map(|m| (m.min_time, m.max_time))
            .collect();
        assert_eq!(
            ranges,
            vec![
                (-1500, -1499),
                (-1, 0),
                (0, 1000),
                (1000, 1001),
                (2500, 2501)
            ]
        );
    }
}
