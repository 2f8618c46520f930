//! Chunk references shared by the head, the block writer and block readers.

use std::sync::Arc;

use super::chunkenc::{ChunkError, Encoding, XorIterator};

/// One encoded chunk of a series with the time range it covers (inclusive).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChunkMeta {
    pub min_time: i64,
    pub max_time: i64,
    pub encoding: Encoding,
    /// The encoded chunk, header included (see docs/format/chunks.md).
    pub data: Arc<[u8]>,
}

impl ChunkMeta {
    /// A lazily decoding iterator over the chunk's samples.
    pub fn iter(&self) -> Result<XorIterator<Arc<[u8]>>, ChunkError> {
        match self.encoding {
            Encoding::Xor => XorIterator::new(self.data.clone()),
        }
    }

    /// True when the chunk has samples in `[mint, maxt]`.
    pub fn overlaps(&self, mint: i64, maxt: i64) -> bool {
        self.min_time <= maxt && mint <= self.max_time
    }
}
