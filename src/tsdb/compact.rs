//! Compaction: plans which blocks to merge (Prometheus' leveled planner: overlapping
//! blocks first, then aligned ranges of block duration × 3^n), merges their series by
//! labels with samples deduplicated by timestamp and tombstoned samples dropped, writes
//! the new block, and only then deletes the sources. Mirrors Prometheus `tsdb/compact.go`
//! (`LeveledCompactor.Plan`, `selectDirs`, `splitByRange`, `selectOverlappingDirs`).
//!
//! Crash safety: the new block is renamed into place (atomically, see
//! [`BlockWriter::finish`]) before any source is removed. If the process dies in
//! between, [`remove_leftover_blocks`] — called by the Db at startup — deletes every
//! block whose data is already contained in a newer compacted block, and `*.tmp`
//! directories of unfinished writes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::model::{Labels, Matcher, Sample};
use crate::tsdb::block::{
    io_err, list_block_dirs, read_meta, Block, BlockError, BlockMeta, BlockWriter, Ulid, TMP_SUFFIX,
};
use crate::tsdb::tombstones::Tombstones;

/// Default block duration (2 h), the first compaction level.
pub const DEFAULT_BLOCK_DURATION: i64 = 2 * 3600 * 1000;
/// Largest block a compaction may produce (31 d), as in Prometheus.
const MAX_BLOCK_DURATION: i64 = 31 * 24 * 3600 * 1000;

/// The compaction levels: `block_duration × 3^n` for n = 0.., as long as a range is at
/// most 10% of `retention` (when given) and at most 31 days. Always contains at least
/// `block_duration`.
pub fn block_ranges(block_duration: i64, retention: Option<i64>) -> Vec<i64> {
    let cap = retention
        .filter(|&r| r > 0)
        .map_or(MAX_BLOCK_DURATION, |r| (r / 10).min(MAX_BLOCK_DURATION));
    let mut out = vec![block_duration];
    let mut r = block_duration;
    for _ in 0..10 {
        r = r.saturating_mul(3);
        if r > cap {
            break;
        }
        out.push(r);
    }
    out
}

/// Chooses blocks to compact together, or nothing. `metas` may be in any order.
/// Overlapping blocks come first; otherwise, leaving out the newest block, the first
/// aligned range (of `ranges[1..]`) whose blocks span it fully or end before the newest
/// block starts, with more than one block; otherwise a large block with more than 5%
/// tombstones per series on its own.
pub fn plan(metas: &[BlockMeta], ranges: &[i64]) -> Vec<BlockMeta> {
    let mut dms: Vec<BlockMeta> = metas.to_vec();
    dms.sort_by_key(|m| (m.min_time, m.ulid));
    let overlapping = select_overlapping(&dms);
    if !overlapping.is_empty() {
        return overlapping;
    }
    if dms.is_empty() {
        return Vec::new();
    }
    dms.pop();
    let sel = select_ranges(&dms, ranges);
    if !sel.is_empty() {
        return sel;
    }
    if let Some(&mid) = ranges.get(ranges.len() / 2) {
        for m in dms.iter().rev() {
            if m.max_time - m.min_time < mid {
                break;
            }
            if m.stats.num_tombstones as f64 / (m.stats.num_series as f64 + 1.0) > 0.05 {
                return vec![m.clone()];
            }
        }
    }
    Vec::new()
}

fn select_overlapping(ds: &[BlockMeta]) -> Vec<BlockMeta> {
    let mut out: Vec<BlockMeta> = Vec::new();
    let Some(first) = ds.first() else {
        return out;
    };
    let mut global_max = first.max_time;
    for i in 1..ds.len() {
        let d = &ds[i];
        if d.min_time < global_max {
            if out.is_empty() {
                out.push(ds[i - 1].clone());
            }
            out.push(d.clone());
        } else if !out.is_empty() {
            break;
        }
        global_max = global_max.max(d.max_time);
    }
    out
}

fn split_by_range(ds: &[BlockMeta], tr: i64) -> Vec<Vec<BlockMeta>> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < ds.len() {
        let t0 = ds[i].min_time.div_euclid(tr) * tr;
        if ds[i].max_time > t0 + tr {
            i += 1;
            continue;
        }
        let mut group = Vec::new();
        while i < ds.len() && ds[i].max_time <= t0 + tr {
            group.push(ds[i].clone());
            i += 1;
        }
        if !group.is_empty() {
            out.push(group);
        }
    }
    out
}

fn select_ranges(ds: &[BlockMeta], ranges: &[i64]) -> Vec<BlockMeta> {
    let Some(last) = ds.last() else {
        return Vec::new();
    };
    let high = last.min_time;
    for &iv in ranges.iter().skip(1) {
        for p in split_by_range(ds, iv) {
            let (Some(a), Some(b)) = (p.first(), p.last()) else {
                continue;
            };
            if (b.max_time - a.min_time == iv || b.max_time <= high) && p.len() > 1 {
                return p;
            }
        }
    }
    Vec::new()
}

struct MergeInput<'a> {
    block: &'a Block,
    tombstones: Arc<Tombstones>,
    refs: Vec<u32>,
    pos: usize,
    head: Option<Labels>,
}

impl MergeInput<'_> {
    fn load_head(&mut self) {
        self.head = self
            .refs
            .get(self.pos)
            .and_then(|&r| self.block.series_labels(r));
    }
}

/// Iterates the union of the series of several blocks in label order, each with its
/// samples in `[mint, maxt]` (inclusive) merged across blocks, deleted samples dropped
/// and duplicates (equal timestamps) resolved in favour of the block listed last.
/// Series left with no samples are skipped.
pub struct SeriesMerger<'a> {
    inputs: Vec<MergeInput<'a>>,
    mint: i64,
    maxt: i64,
    failed: bool,
}

impl<'a> SeriesMerger<'a> {
    /// Merges the series of `blocks` that match `matchers` (all series when empty).
    pub fn new(
        blocks: &'a [Block],
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Self, BlockError> {
        let mut inputs = Vec::with_capacity(blocks.len());
        for b in blocks {
            if !b.meta().overlaps(mint, maxt) {
                continue;
            }
            let mut inp = MergeInput {
                block: b,
                tombstones: b.tombstones(),
                refs: b.select_refs(matchers)?,
                pos: 0,
                head: None,
            };
            inp.load_head();
            inputs.push(inp);
        }
        Ok(SeriesMerger {
            inputs,
            mint,
            maxt,
            failed: false,
        })
    }

    fn samples_of(&self, i: usize) -> Result<Vec<Sample>, BlockError> {
        let inp = &self.inputs[i];
        let r = inp.refs[inp.pos];
        let labels = inp.head.clone().unwrap_or_default();
        let chunks = inp.block.read_chunks(r, self.mint, self.maxt)?;
        let deleted = inp.tombstones.get(r);
        let mut out = Vec::new();
        for c in &chunks {
            let mut it = c.iter().map_err(|source| BlockError::BadChunk {
                path: inp.block.dir().to_path_buf(),
                labels: labels.to_string(),
                source,
            })?;
            for s in it.by_ref() {
                if s.t >= self.mint
                    && s.t <= self.maxt
                    && !deleted.iter().any(|iv| iv.contains(s.t))
                {
                    out.push(s);
                }
            }
            if let Some(e) = it.error() {
                return Err(BlockError::BadChunk {
                    path: inp.block.dir().to_path_buf(),
                    labels: labels.to_string(),
                    source: e.clone(),
                });
            }
        }
        Ok(out)
    }
}

/// Concatenates sample runs and resolves equal timestamps in favour of the later run.
fn merge_sample_runs(mut runs: Vec<Vec<Sample>>) -> Vec<Sample> {
    if runs.len() == 1 {
        return runs.pop().unwrap_or_default();
    }
    let mut all: Vec<Sample> = runs.concat();
    all.sort_by_key(|s| s.t);
    let mut out: Vec<Sample> = Vec::with_capacity(all.len());
    for s in all {
        match out.last_mut() {
            Some(l) if l.t == s.t => *l = s,
            _ => out.push(s),
        }
    }
    out
}

impl Iterator for SeriesMerger<'_> {
    type Item = Result<(Labels, Vec<Sample>), BlockError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.failed {
                return None;
            }
            let min = self
                .inputs
                .iter()
                .filter_map(|i| i.head.as_ref())
                .min()?
                .clone();
            let mut runs = Vec::new();
            for i in 0..self.inputs.len() {
                if self.inputs[i].head.as_ref() != Some(&min) {
                    continue;
                }
                match self.samples_of(i) {
                    Ok(s) => runs.push(s),
                    Err(e) => {
                        self.failed = true;
                        return Some(Err(e));
                    }
                }
                self.inputs[i].pos += 1;
                self.inputs[i].load_head();
            }
            let samples = merge_sample_runs(runs);
            if !samples.is_empty() {
                return Some(Ok((min, samples)));
            }
        }
    }
}

/// Why a compaction failed.
#[derive(Debug, thiserror::Error)]
pub enum CompactError {
    #[error(transparent)]
    Block(#[from] BlockError),
    #[error("nothing to compact: no blocks given")]
    NoBlocks,
}

/// Compacts `blocks` into one new block under `data_dir` covering the union of their
/// ranges, then deletes the source directories. Returns the new block's metadata, or
/// `None` when every sample was deleted (then no block is written and the sources are
/// still removed). The caller must stop using the source blocks.
pub fn compact(data_dir: &Path, blocks: &[Block]) -> Result<Option<BlockMeta>, CompactError> {
    let (Some(mint), Some(maxt)) = (
        blocks.iter().map(|b| b.meta().min_time).min(),
        blocks.iter().map(|b| b.meta().max_time).max(),
    ) else {
        return Err(CompactError::NoBlocks);
    };
    let mut sorted: Vec<Block> = blocks.to_vec();
    sorted.sort_by_key(|b| (b.meta().min_time, b.meta().ulid));
    let mut w = BlockWriter::new(data_dir, mint, maxt)?;
    let parents: Vec<BlockMeta> = sorted.iter().map(|b| b.meta().clone()).collect();
    w.set_parents(&parents);
    let mut any = false;
    for item in SeriesMerger::new(&sorted, &[], mint, maxt - 1)? {
        let (labels, samples) = item?;
        w.add_series(&labels, &samples)?;
        any = true;
    }
    let meta = if any {
        Some(w.finish()?)
    } else {
        drop(w);
        None
    };
    for b in &sorted {
        std::fs::remove_dir_all(b.dir()).map_err(io_err(b.dir(), "remove compacted block"))?;
    }
    crate::tsdb::block::sync_dir(data_dir)?;
    Ok(meta)
}

/// Plans and compacts repeatedly until the planner finds nothing more; returns the new
/// blocks' metadata in order of creation.
pub fn compact_data_dir(data_dir: &Path, ranges: &[i64]) -> Result<Vec<BlockMeta>, CompactError> {
    let mut made = Vec::new();
    loop {
        let blocks = crate::tsdb::block::open_blocks(data_dir)?;
        let metas: Vec<BlockMeta> = blocks.iter().map(|b| b.meta().clone()).collect();
        let chosen = plan(&metas, ranges);
        if chosen.is_empty() {
            return Ok(made);
        }
        let sel: Vec<Block> = blocks
            .into_iter()
            .filter(|b| chosen.iter().any(|m| m.ulid == b.meta().ulid))
            .collect();
        if let Some(m) = compact(data_dir, &sel)? {
            made.push(m);
        }
    }
}

/// Rewrites every block that has tombstones without the deleted samples (Prometheus'
/// `clean-tombstones`). Returns (old ULID, new block or `None` if it became empty).
pub fn clean_tombstones(data_dir: &Path) -> Result<Vec<(Ulid, Option<BlockMeta>)>, CompactError> {
    let mut out = Vec::new();
    for b in crate::tsdb::block::open_blocks(data_dir)? {
        if b.tombstones().is_empty() {
            continue;
        }
        let id = b.meta().ulid;
        let m = compact(data_dir, std::slice::from_ref(&b))?;
        out.push((id, m));
    }
    Ok(out)
}

/// Compacts blocks that cover exactly the same range into one (used after an import
/// that had to flush a window more than once). Returns the resulting set of metas.
pub fn merge_same_range(
    data_dir: &Path,
    metas: Vec<BlockMeta>,
) -> Result<Vec<BlockMeta>, BlockError> {
    let mut groups: BTreeMap<(i64, i64), Vec<BlockMeta>> = BTreeMap::new();
    for m in metas {
        groups.entry((m.min_time, m.max_time)).or_default().push(m);
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
            Ok(None) => {}
            Err(CompactError::Block(e)) => return Err(e),
            Err(CompactError::NoBlocks) => {}
        }
    }
    Ok(out)
}

/// The blocks in `data_dir` whose sources are all contained in another block's sources
/// with a higher compaction level: sources left behind by a compaction interrupted after
/// the new block was in place. Reads only.
pub fn leftover_blocks(data_dir: &Path) -> Result<Vec<crate::tsdb::block::Ulid>, BlockError> {
    let mut metas = Vec::new();
    for dir in list_block_dirs(data_dir)? {
        // A block without readable metadata is not ours to judge here; opening it will
        // report the problem.
        if let Ok(m) = read_meta(&dir) {
            metas.push(m);
        }
    }
    Ok(metas
        .iter()
        .filter(|m| {
            metas.iter().any(|c| {
                c.ulid != m.ulid
                    && c.compaction.level > m.compaction.level
                    && m.compaction
                        .sources
                        .iter()
                        .all(|s| c.compaction.sources.contains(s))
            })
        })
        .map(|m| m.ulid)
        .collect())
}

/// Startup cleanup for the Db: deletes `*.tmp` directories (unfinished block writes) and
/// blocks whose sources are all contained in another block's sources with a higher
/// compaction level (sources left behind by a compaction interrupted after the new block
/// was in place). Returns the removed paths.
pub fn remove_leftover_blocks(data_dir: &Path) -> Result<Vec<PathBuf>, BlockError> {
    let mut removed = Vec::new();
    let rd = match std::fs::read_dir(data_dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(removed),
        Err(e) => return Err(io_err(data_dir, "read directory")(e)),
    };
    for e in rd {
        let e = e.map_err(io_err(data_dir, "read directory"))?;
        let p = e.path();
        if p.is_dir() && p.to_string_lossy().ends_with(TMP_SUFFIX) {
            std::fs::remove_dir_all(&p).map_err(io_err(&p, "remove temporary block"))?;
            removed.push(p);
        }
    }
    for id in leftover_blocks(data_dir)? {
        let dir = data_dir.join(id.to_string());
        std::fs::remove_dir_all(&dir).map_err(io_err(&dir, "remove leftover block"))?;
        removed.push(dir);
    }
    if !removed.is_empty() {
        crate::tsdb::block::sync_dir(data_dir)?;
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tsdb::block::{BlockCompaction, BlockStats};

    const H: i64 = 3600 * 1000;

    fn meta(id: u128, mint: i64, maxt: i64) -> BlockMeta {
        BlockMeta {
            ulid: Ulid(id),
            min_time: mint,
            max_time: maxt,
            stats: BlockStats::default(),
            compaction: BlockCompaction {
                level: 1,
                sources: vec![Ulid(id)],
                parents: vec![],
            },
            version: 1,
        }
    }

    fn ids(ms: &[BlockMeta]) -> Vec<u128> {
        ms.iter().map(|m| m.ulid.0).collect()
    }

    #[test]
    fn ranges_are_capped() {
        assert_eq!(block_ranges(2 * H, None)[..3], [2 * H, 6 * H, 18 * H]);
        assert!(block_ranges(2 * H, None)
            .iter()
            .all(|&r| r <= MAX_BLOCK_DURATION));
        // 10% of 15 d = 36 h: 2h, 6h, 18h.
        assert_eq!(
            block_ranges(2 * H, Some(15 * 24 * H)),
            vec![2 * H, 6 * H, 18 * H]
        );
        assert_eq!(block_ranges(2 * H, Some(H)), vec![2 * H]);
    }

    #[test]
    fn planner_like_prometheus() {
        let r = block_ranges(2 * H, None);
        // Three 2h blocks filling a 6h range plus a newer one: the three are compacted.
        let ms = vec![
            meta(1, 0, 2 * H),
            meta(2, 2 * H, 4 * H),
            meta(3, 4 * H, 6 * H),
            meta(4, 6 * H, 8 * H),
        ];
        assert_eq!(ids(&plan(&ms, &r)), vec![1, 2, 3]);
        // The newest block is never included; two blocks of an unfinished range are left.
        assert!(plan(&ms[..3], &r).is_empty());
        assert!(plan(&ms[..1], &r).is_empty());
        // Overlaps win.
        let ms2 = vec![
            meta(1, 0, 2 * H),
            meta(5, H, 3 * H),
            meta(6, 10 * H, 12 * H),
        ];
        assert_eq!(ids(&plan(&ms2, &r)), vec![1, 5]);
        // Blocks of a past range that is not full compact once a later (non-newest)
        // block starts after them.
        let ms3 = vec![
            meta(1, 0, 2 * H),
            meta(2, 2 * H, 4 * H),
            meta(7, 8 * H, 10 * H),
            meta(10, 10 * H, 12 * H),
        ];
        assert_eq!(ids(&plan(&ms3, &r)), vec![1, 2]);
        // ... but not when the only later block is the newest one (left out of planning).
        let ms5 = vec![
            meta(1, 0, 2 * H),
            meta(2, 2 * H, 4 * H),
            meta(7, 20 * H, 22 * H),
        ];
        assert!(plan(&ms5, &r).is_empty());
        // Tombstone-heavy big block compacts on its own.
        let mut big = meta(8, 0, 54 * H);
        big.stats.num_series = 10;
        big.stats.num_tombstones = 5;
        let ms4 = vec![big, meta(9, 54 * H, 56 * H)];
        assert_eq!(ids(&plan(&ms4, &r)), vec![8]);
    }

    #[test]
    fn merge_runs_later_wins() {
        let a = vec![Sample::new(1, 1.0), Sample::new(3, 3.0)];
        let b = vec![Sample::new(2, 20.0), Sample::new(3, 30.0)];
        let m = merge_sample_runs(vec![a, b]);
        assert_eq!(
            m,
            vec![
                Sample::new(1, 1.0),
                Sample::new(2, 20.0),
                Sample::new(3, 30.0)
            ]
        );
    }
}
