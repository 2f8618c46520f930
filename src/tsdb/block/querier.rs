//! The block querier: selects series through the postings index and returns lazily
//! decoding sample iterators restricted to the query range with deleted samples hidden.
//! The compressed bytes of the chunks overlapping the range are read (and CRC-checked)
//! during `select`, so I/O and corruption surface as errors there; decoding happens one
//! chunk at a time as the iterator reaches it, and `seek` skips whole chunks. A chunk
//! that passes its CRC but does not decode ends its series' iterator with an error
//! ([`SampleIterator::err`]) naming the block and the series, which fails the query.
//! Mirrors Prometheus `tsdb/querier.go` (`blockQuerier`, `PostingsForMatchers`).

use std::cell::RefCell;
use std::sync::Arc;

use super::{BlockError, BlockInner};
use crate::model::{Labels, Matcher, Sample};
use crate::storage::{Querier, QueryError, SampleIterator, Series};
use crate::tsdb::chunkenc::decimal::DecodeScratch;
use crate::tsdb::chunkenc::ChunkError;
use crate::tsdb::chunks::{ChunkIterator, ChunkMeta};
use crate::tsdb::tombstones::{Interval, Tombstones};

/// Read access to one block for the inclusive range `[mint, maxt]`, with the tombstones
/// as they were when the querier was created.
pub struct BlockQuerier {
    block: Arc<BlockInner>,
    tombstones: Arc<Tombstones>,
    mint: i64,
    maxt: i64,
}

impl BlockQuerier {
    pub(crate) fn new(
        block: Arc<BlockInner>,
        tombstones: Arc<Tombstones>,
        mint: i64,
        maxt: i64,
    ) -> Self {
        BlockQuerier {
            block,
            tombstones,
            mint,
            maxt,
        }
    }

    /// Like [`Querier::select`] but with the block's own error type, and returning the
    /// concrete iterator type.
    pub fn select_series(
        &self,
        matchers: &[Matcher],
    ) -> Result<Vec<(Labels, BlockSeriesIterator)>, BlockError> {
        self.select_refs(matchers).map_err(|(_, e)| e)
    }

    /// [`BlockQuerier::select_series`], with the ref of the series whose chunks could not
    /// be read next to the error.
    fn select_refs(
        &self,
        matchers: &[Matcher],
    ) -> Result<Vec<(Labels, BlockSeriesIterator)>, RefError> {
        let ix = &self.block.index;
        let mut out = Vec::new();
        if self.mint > self.maxt
            || self.maxt < self.block.meta.min_time
            || self.mint >= self.block.meta.max_time
        {
            return Ok(out);
        }
        for r in ix.select(matchers).map_err(|e| (None, e))? {
            let Some(e) = ix.series(r) else { continue };
            if !e
                .chunks
                .iter()
                .any(|c| c.min_time <= self.maxt && self.mint <= c.max_time)
            {
                continue;
            }
            let deleted = self.tombstones.get(r).to_vec();
            let chunks: Vec<ChunkMeta> = self
                .block
                .read_chunks(r, self.mint, self.maxt)
                .map_err(|e| (Some(r), e))?
                .into_iter()
                .filter(|c| !covered(&deleted, c.min_time, c.max_time))
                .collect();
            if chunks.is_empty() {
                continue;
            }
            let labels = ix.labels(e);
            let mut it = BlockSeriesIterator::new(chunks, self.mint, self.maxt, deleted);
            it.origin = Some((self.block.clone(), r));
            out.push((labels, it));
        }
        Ok(out)
    }

    fn selected_refs(&self, matchers: &[Matcher]) -> Result<Vec<u32>, QueryError> {
        self.block
            .index
            .select(matchers)
            .map_err(|e| query_err(&self.block, None, e))
    }
}

/// A block error with the ref of the series it concerns, when it concerns one.
type RefError = (Option<u32>, BlockError);

/// `e`, met reading `block` (and the series `r` of it, when known), as a query error
/// naming both.
fn query_err(
    block: &BlockInner,
    r: Option<u32>,
    e: impl std::error::Error + Send + Sync + 'static,
) -> QueryError {
    let series = r
        .and_then(|r| block.index.series(r))
        .map(|s| block.index.labels(s).to_string());
    QueryError::block(block.meta.ulid.to_string(), series, e)
}

/// True when the intervals cover all of `[mint, maxt]`.
fn covered(ivs: &[Interval], mint: i64, maxt: i64) -> bool {
    let mut from = mint;
    for iv in ivs {
        if iv.mint > from {
            return false;
        }
        if iv.maxt >= from {
            if iv.maxt >= maxt {
                return true;
            }
            from = iv.maxt + 1;
        }
    }
    false
}

impl Querier for BlockQuerier {
    fn select(&self, matchers: &[Matcher]) -> Result<Vec<Series>, QueryError> {
        Ok(self
            .select_refs(matchers)
            .map_err(|(r, e)| query_err(&self.block, r, e))?
            .into_iter()
            .map(|(labels, it)| Series {
                labels,
                samples: Box::new(it),
            })
            .collect())
    }

    fn label_names(&self, matchers: &[Matcher]) -> Result<Vec<String>, QueryError> {
        let ix = &self.block.index;
        if matchers.is_empty() {
            return Ok(ix.label_names());
        }
        let mut names = std::collections::BTreeSet::new();
        for r in self.selected_refs(matchers)? {
            if let Some(e) = ix.series(r) {
                for &(n, _) in e.labels.iter() {
                    names.insert(n);
                }
            }
        }
        // Symbol ids sort like the strings they stand for.
        Ok(names
            .into_iter()
            .map(|n| ix.symbol(n).to_string())
            .collect())
    }

    fn label_values(&self, name: &str, matchers: &[Matcher]) -> Result<Vec<String>, QueryError> {
        let ix = &self.block.index;
        if matchers.is_empty() {
            return Ok(ix.label_values(name));
        }
        let mut vals = std::collections::BTreeSet::new();
        for r in self.selected_refs(matchers)? {
            if let Some(e) = ix.series(r) {
                if let Some(&(_, v)) = e.labels.iter().find(|&&(n, _)| ix.symbol(n) == name) {
                    vals.insert(v);
                }
            }
        }
        Ok(vals.into_iter().map(|v| ix.symbol(v).to_string()).collect())
    }
}

/// Iterates one series' samples across its chunks, decoding each chunk only when reached,
/// skipping samples outside `[mint, maxt]` and inside deleted intervals.
pub struct BlockSeriesIterator {
    chunks: Vec<ChunkMeta>,
    next_chunk: usize,
    cur: Option<ChunkIterator>,
    mint: i64,
    maxt: i64,
    deleted: Vec<Interval>,
    done: bool,
    /// The block and series ref the chunks belong to, for errors.
    origin: Option<(Arc<BlockInner>, u32)>,
    /// Why iteration stopped early: a chunk that did not decode.
    err: Option<QueryError>,
}

impl BlockSeriesIterator {
    pub(crate) fn new(
        chunks: Vec<ChunkMeta>,
        mint: i64,
        maxt: i64,
        deleted: Vec<Interval>,
    ) -> Self {
        BlockSeriesIterator {
            chunks,
            next_chunk: 0,
            cur: None,
            mint,
            maxt,
            deleted,
            done: false,
            origin: None,
            err: None,
        }
    }

    /// Ends the iteration with `e`, a chunk of this series that did not decode. The
    /// chunk passed its CRC when it was read, so the block was written wrongly (or
    /// damaged before its CRC was computed): the query fails rather than answer from
    /// the samples before the damage.
    fn fail(&mut self, e: ChunkError) {
        self.cur = None;
        self.done = true;
        if self.err.is_none() {
            self.err = Some(match &self.origin {
                Some((block, r)) => query_err(block, Some(*r), e),
                None => QueryError::Storage(e.to_string()),
            });
        }
    }

    fn is_deleted(&self, t: i64) -> bool {
        self.deleted.iter().any(|iv| iv.mint <= t && t <= iv.maxt)
    }

    fn advance_chunk(&mut self, min_t: i64) -> bool {
        while let Some(c) = self.chunks.get(self.next_chunk) {
            self.next_chunk += 1;
            if c.max_time < min_t {
                continue;
            }
            match c.iter() {
                Ok(it) => {
                    self.cur = Some(it);
                    return true;
                }
                Err(e) => {
                    self.fail(e);
                    return false;
                }
            }
        }
        self.done = true;
        false
    }

    fn next_from(&mut self, min_t: i64) -> Option<Sample> {
        loop {
            if self.done {
                return None;
            }
            if self.cur.is_none() && !self.advance_chunk(min_t) {
                return None;
            }
            let it = self.cur.as_mut()?;
            match Iterator::next(it) {
                Some(s) => {
                    if s.t > self.maxt {
                        self.done = true;
                        return None;
                    }
                    if s.t < self.mint || s.t < min_t || self.is_deleted(s.t) {
                        continue;
                    }
                    return Some(s);
                }
                None => match it.error() {
                    Some(e) => {
                        let e = e.clone();
                        self.fail(e);
                        return None;
                    }
                    None => self.cur = None,
                },
            }
        }
    }
}

impl SampleIterator for BlockSeriesIterator {
    fn next(&mut self) -> Option<Sample> {
        self.next_from(i64::MIN)
    }

    fn seek(&mut self, t: i64) -> Option<Sample> {
        // Skip whole chunks that end before t without decoding them.
        if let Some(c) = self
            .next_chunk
            .checked_sub(1)
            .and_then(|i| self.chunks.get(i))
        {
            if c.max_time < t {
                self.cur = None;
            }
        }
        self.next_from(t)
    }

    fn read_range(&mut self, mint: i64, maxt: i64, out: &mut Vec<Sample>) {
        if self.cur.is_some() {
            // Partly consumed already: finish sample by sample.
            let mut cur = self.next_from(mint);
            while let Some(s) = cur {
                if s.t > maxt {
                    return;
                }
                out.push(s);
                cur = self.next_from(mint);
            }
            return;
        }
        if self.done {
            return;
        }
        let (mint, maxt) = (mint.max(self.mint), maxt.min(self.maxt));
        SCRATCH.with_borrow_mut(|scratch| self.decode_chunks(mint, maxt, out, scratch));
        self.done = true;
    }

    fn err(&self) -> Option<QueryError> {
        self.err.clone()
    }
}

thread_local! {
    /// Column buffers reused by every bulk read on this thread.
    static SCRATCH: RefCell<DecodeScratch> = RefCell::new(DecodeScratch::default());
}

impl BlockSeriesIterator {
    /// Decodes the remaining chunks overlapping `[mint, maxt]` into `out`, without
    /// deleted samples.
    fn decode_chunks(
        &mut self,
        mint: i64,
        maxt: i64,
        out: &mut Vec<Sample>,
        scratch: &mut DecodeScratch,
    ) {
        while let Some(c) = self.chunks.get(self.next_chunk) {
            self.next_chunk += 1;
            if c.max_time < mint {
                continue;
            }
            if c.min_time > maxt {
                break;
            }
            let from = out.len();
            if let Err(e) = c.decode_range(mint, maxt, out, scratch) {
                self.fail(e);
                return;
            }
            if !self.deleted.is_empty() {
                let mut keep = from;
                for i in from..out.len() {
                    let smp = out[i];
                    if !self.is_deleted(smp.t) {
                        out[keep] = smp;
                        keep += 1;
                    }
                }
                out.truncate(keep);
            }
        }
    }
}

impl Iterator for BlockSeriesIterator {
    type Item = Sample;
    fn next(&mut self) -> Option<Sample> {
        self.next_from(i64::MIN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn covered_intervals() {
        let iv = |a, b| Interval { mint: a, maxt: b };
        assert!(covered(&[iv(0, 10)], 2, 8));
        assert!(covered(&[iv(0, 4), iv(5, 10)], 2, 8));
        assert!(!covered(&[iv(0, 4), iv(6, 10)], 2, 8));
        assert!(!covered(&[iv(3, 10)], 2, 8));
        assert!(!covered(&[], 2, 8));
    }
}
