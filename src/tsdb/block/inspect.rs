//! Read-only views over the blocks of a data directory for the CLI: cardinality
//! statistics (`promtui tsdb stats`, like `promtool tsdb analyze` and Prometheus' TSDB
//! status page) and a sorted dump of series and samples (`promtui tsdb dump`, like
//! `promtool tsdb dump`). Both return data; printing is the CLI's job.

use std::collections::HashMap;
use std::path::Path;

use super::{open_blocks, Block, BlockError, BlockMeta};
use crate::model::{Labels, Matcher};
use crate::tsdb::compact::SeriesMerger;

/// Cardinality over all blocks of a data directory. Series present in several blocks
/// are counted once. Lists are sorted by count (descending), then name, and cut to the
/// requested length.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CardinalityStats {
    /// Blocks found, sorted by min time.
    pub blocks: Vec<BlockMeta>,
    /// Distinct series over all blocks.
    pub num_series: u64,
    /// Samples over all blocks (as recorded in their metadata).
    pub num_samples: u64,
    /// Earliest min time and latest max time over the blocks (0 when there are none).
    pub min_time: i64,
    pub max_time: i64,
    /// Metric names by number of series.
    pub top_metric_names: Vec<(String, u64)>,
    /// Label names by number of distinct values.
    pub label_names_by_values: Vec<(String, u64)>,
    /// Label names by number of series carrying them.
    pub label_names_by_series: Vec<(String, u64)>,
    /// `name=value` pairs by number of series carrying them.
    pub label_pairs_by_series: Vec<(String, u64)>,
}

fn top(map: HashMap<String, u64>, limit: usize) -> Vec<(String, u64)> {
    let mut v: Vec<(String, u64)> = map.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    v.truncate(limit);
    v
}

/// Walks the distinct label sets of several blocks in sorted order (a k-way merge over
/// each block's sorted series), without reading chunks.
fn for_each_distinct_series(blocks: &[Block], mut f: impl FnMut(&Labels)) {
    let mut pos: Vec<u32> = vec![0; blocks.len()];
    let mut heads: Vec<Option<Labels>> = blocks.iter().map(|b| b.series_labels(0)).collect();
    loop {
        let Some(min) = heads.iter().flatten().min().cloned() else {
            return;
        };
        f(&min);
        for (i, b) in blocks.iter().enumerate() {
            if heads[i].as_ref() == Some(&min) {
                pos[i] += 1;
                heads[i] = b.series_labels(pos[i]);
            }
        }
    }
}

/// Computes [`CardinalityStats`] for the blocks under `data_dir`, keeping the `limit`
/// largest entries of each list.
pub fn cardinality_stats(data_dir: &Path, limit: usize) -> Result<CardinalityStats, BlockError> {
    let blocks = open_blocks(data_dir)?;
    Ok(cardinality_of(&blocks, limit))
}

/// [`cardinality_stats`] over already opened blocks.
pub fn cardinality_of(blocks: &[Block], limit: usize) -> CardinalityStats {
    let mut names: HashMap<String, u64> = HashMap::new();
    let mut label_series: HashMap<String, u64> = HashMap::new();
    let mut pairs: HashMap<String, u64> = HashMap::new();
    let mut values: HashMap<String, std::collections::HashSet<String>> = HashMap::new();
    let mut num_series = 0u64;
    for_each_distinct_series(blocks, |l| {
        num_series += 1;
        if let Some(n) = l.metric_name() {
            *names.entry(n.to_string()).or_default() += 1;
        }
        for lab in l {
            *label_series.entry(lab.name.clone()).or_default() += 1;
            *pairs
                .entry(format!("{}={}", lab.name, lab.value))
                .or_default() += 1;
            values
                .entry(lab.name.clone())
                .or_default()
                .insert(lab.value.clone());
        }
    });
    let metas: Vec<BlockMeta> = blocks.iter().map(|b| b.meta().clone()).collect();
    CardinalityStats {
        num_series,
        num_samples: metas.iter().map(|m| m.stats.num_samples).sum(),
        min_time: metas.iter().map(|m| m.min_time).min().unwrap_or(0),
        max_time: metas.iter().map(|m| m.max_time).max().unwrap_or(0),
        blocks: metas,
        top_metric_names: top(names, limit),
        label_names_by_values: top(
            values
                .into_iter()
                .map(|(k, v)| (k, v.len() as u64))
                .collect(),
            limit,
        ),
        label_names_by_series: top(label_series, limit),
        label_pairs_by_series: top(pairs, limit),
    }
}

/// Series of `blocks` matching `matchers` (all when empty) with their samples in
/// `[mint, maxt]` (inclusive), merged across blocks, deleted samples hidden, in label
/// order and time order — a stable order for dumps. Open the blocks with
/// [`open_blocks`].
pub fn dump<'a>(
    blocks: &'a [Block],
    matchers: &[Matcher],
    mint: i64,
    maxt: i64,
) -> Result<SeriesMerger<'a>, BlockError> {
    SeriesMerger::new(blocks, matchers, mint, maxt)
}
