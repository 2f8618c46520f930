//! Retention: which whole blocks to delete by age and by total size, as Prometheus'
//! `BeyondTimeRetention` and `BeyondSizeRetention` in `tsdb/db.go`. Deciding is pure
//! (metadata in, ULIDs out) so it can be tested exactly; [`apply_retention`] deletes.

use std::collections::BTreeSet;
use std::path::Path;

use crate::tsdb::block::{io_err, open_blocks, sync_dir, BlockError, BlockMeta, Ulid};

/// Blocks entirely older than the retention window: those whose `max_time` is more than
/// `retention` ms before the newest block's `max_time`. Returned oldest first.
fn beyond_time_retention(metas: &[BlockMeta], retention: i64) -> Vec<Ulid> {
    if retention <= 0 {
        return Vec::new();
    }
    let Some(newest) = metas.iter().map(|m| m.max_time).max() else {
        return Vec::new();
    };
    let mut out: Vec<&BlockMeta> = metas
        .iter()
        .filter(|m| newest.saturating_sub(m.max_time) > retention)
        .collect();
    out.sort_by_key(|m| (m.max_time, m.ulid));
    out.into_iter().map(|m| m.ulid).collect()
}

/// Blocks to delete so that `other_bytes` (head, WAL) plus the kept blocks stay within
/// `limit` bytes: walking from the newest block to the oldest and adding sizes, the first
/// block that crosses the limit and every older one go. Returned oldest first.
fn beyond_size_retention(blocks: &[(BlockMeta, u64)], limit: u64, other_bytes: u64) -> Vec<Ulid> {
    if limit == 0 {
        return Vec::new();
    }
    let mut sorted: Vec<&(BlockMeta, u64)> = blocks.iter().collect();
    sorted.sort_by_key(|(m, _)| std::cmp::Reverse((m.max_time, m.ulid)));
    let mut total = other_bytes;
    let mut out = Vec::new();
    let mut over = false;
    for (m, size) in sorted {
        total = total.saturating_add(*size);
        if total > limit {
            over = true;
        }
        if over {
            out.push(m.ulid);
        }
    }
    out.reverse();
    out
}

/// Retention settings; `None` disables a rule.
#[derive(Clone, Copy, Debug, Default)]
pub struct Retention {
    /// Milliseconds of data to keep.
    pub time: Option<i64>,
    /// Bytes of blocks (plus `other_bytes`) to keep.
    pub size: Option<u64>,
}

/// Applies both rules to the blocks under `data_dir` and deletes what they select.
/// Returns the deleted ULIDs, oldest first.
pub fn apply_retention(
    data_dir: &Path,
    retention: Retention,
    other_bytes: u64,
) -> Result<Vec<Ulid>, BlockError> {
    let blocks = open_blocks(data_dir)?;
    let sized: Vec<(BlockMeta, u64)> = blocks
        .iter()
        .map(|b| (b.meta().clone(), b.size_bytes()))
        .collect();
    let metas: Vec<BlockMeta> = sized.iter().map(|(m, _)| m.clone()).collect();
    let mut doomed: BTreeSet<Ulid> = BTreeSet::new();
    if let Some(t) = retention.time {
        doomed.extend(beyond_time_retention(&metas, t));
    }
    if let Some(s) = retention.size {
        doomed.extend(beyond_size_retention(&sized, s, other_bytes));
    }
    let ids: Vec<Ulid> = doomed.into_iter().collect();
    delete_blocks(data_dir, &ids)?;
    Ok(ids)
}

/// Deletes the named block directories under `data_dir` (missing ones are ignored).
fn delete_blocks(data_dir: &Path, ulids: &[Ulid]) -> Result<(), BlockError> {
    for id in ulids {
        let dir = data_dir.join(id.to_string());
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err(&dir, "remove block")(e)),
        }
    }
    if !ulids.is_empty() {
        sync_dir(data_dir)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tsdb::block::{BlockCompaction, BlockStats};

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

    #[test]
    fn time_retention_exact_boundary() {
        let ms = vec![meta(1, 0, 100), meta(2, 100, 200), meta(3, 200, 300)];
        // 300 - 100 = 200 is not > 200: kept.
        assert_eq!(beyond_time_retention(&ms, 200), vec![]);
        assert_eq!(beyond_time_retention(&ms, 199), vec![Ulid(1)]);
        assert_eq!(beyond_time_retention(&ms, 50), vec![Ulid(1), Ulid(2)]);
        assert_eq!(beyond_time_retention(&ms, 0), vec![]);
        assert_eq!(beyond_time_retention(&[], 10), vec![]);
    }

    #[test]
    fn size_retention_deletes_oldest_first() {
        let bs = vec![
            (meta(1, 0, 100), 10),
            (meta(2, 100, 200), 20),
            (meta(3, 200, 300), 30),
        ];
        assert_eq!(beyond_size_retention(&bs, 60, 0), vec![]);
        assert_eq!(beyond_size_retention(&bs, 59, 0), vec![Ulid(1)]);
        assert_eq!(beyond_size_retention(&bs, 50, 0), vec![Ulid(1)]);
        assert_eq!(beyond_size_retention(&bs, 49, 0), vec![Ulid(1), Ulid(2)]);
        // Head/WAL bytes count against the limit too.
        assert_eq!(beyond_size_retention(&bs, 60, 5), vec![Ulid(1)]);
        assert_eq!(
            beyond_size_retention(&bs, 10, 0),
            vec![Ulid(1), Ulid(2), Ulid(3)]
        );
    }
}
