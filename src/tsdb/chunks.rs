//! Chunk references shared by the head, the block writer and block readers.

use std::sync::Arc;

use super::chunkenc::decimal::{self, DecodeScratch};
use super::chunkenc::{ChunkError, DecimalIterator, Encoding, XorIterator};
use crate::model::Sample;

/// One encoded chunk of a series with the time range it covers (inclusive).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChunkMeta {
    pub min_time: i64,
    pub max_time: i64,
    pub encoding: Encoding,
    /// The encoded chunk, header included (see docs/format/chunks.md).
    pub data: Arc<[u8]>,
}

/// A lazily decoding iterator over one chunk of any encoding.
#[derive(Clone, Debug)]
pub enum ChunkIterator {
    Xor(XorIterator<Arc<[u8]>>),
    DecimalDelta(DecimalIterator<Arc<[u8]>>),
}

impl ChunkIterator {
    /// The decoding error that ended iteration early, if any (a corrupt chunk).
    pub fn error(&self) -> Option<&ChunkError> {
        match self {
            ChunkIterator::Xor(it) => it.error(),
            ChunkIterator::DecimalDelta(it) => it.error(),
        }
    }
}

impl Iterator for ChunkIterator {
    type Item = Sample;
    #[inline]
    fn next(&mut self) -> Option<Sample> {
        match self {
            ChunkIterator::Xor(it) => it.next_sample(),
            ChunkIterator::DecimalDelta(it) => it.next_sample(),
        }
    }
}

impl crate::storage::SampleIterator for ChunkIterator {
    fn next(&mut self) -> Option<Sample> {
        Iterator::next(self)
    }
}

impl ChunkMeta {
    /// A lazily decoding iterator over the chunk's samples.
    pub fn iter(&self) -> Result<ChunkIterator, ChunkError> {
        match self.encoding {
            Encoding::Xor => XorIterator::new(self.data.clone()).map(ChunkIterator::Xor),
            Encoding::DecimalDelta => Ok(ChunkIterator::DecimalDelta(DecimalIterator::new(
                self.data.clone(),
            ))),
        }
    }

    /// Appends the chunk's samples with `mint <= t <= maxt` to `out`, in order: the bulk
    /// decoding the query engine uses. On a corrupt chunk the error is returned; samples
    /// before the damage may have been appended (XOR), or none (decimal-delta).
    pub fn decode_range(
        &self,
        mint: i64,
        maxt: i64,
        out: &mut Vec<Sample>,
        scratch: &mut DecodeScratch,
    ) -> Result<(), ChunkError> {
        match self.encoding {
            Encoding::Xor => {
                let mut it = XorIterator::new(&self.data[..])?;
                while let Some(s) = it.next_sample() {
                    if s.t > maxt {
                        return Ok(());
                    }
                    if s.t >= mint {
                        out.push(s);
                    }
                }
                it.error().map_or(Ok(()), |e| Err(e.clone()))
            }
            Encoding::DecimalDelta => decimal::decode_range(&self.data, mint, maxt, out, scratch),
        }
    }

    /// True when the chunk has samples in `[mint, maxt]`.
    pub fn overlaps(&self, mint: i64, maxt: i64) -> bool {
        self.min_time <= maxt && mint <= self.max_time
    }
}
