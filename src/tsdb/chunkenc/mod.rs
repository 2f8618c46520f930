//! Chunk encodings: compressed runs of samples of one series.
//!
//! Every encoded chunk is tagged with an [`Encoding`] byte wherever it is stored (WAL-free
//! head snapshots, block chunk files), so new encodings can be added without breaking old
//! data. Mirrors Prometheus `tsdb/chunkenc`.

pub(crate) mod bstream;
pub mod decimal;
pub(crate) mod xor;

pub use decimal::{encode_smallest, DecimalIterator};
pub use xor::{XorChunk, XorIterator};

/// On-disk tag of a chunk's encoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Encoding {
    /// Gorilla XOR (timestamps delta-of-delta, values XOR), as Prometheus' encoding 1.
    Xor = 1,
    /// Decimal-delta: bit-packed integer columns for timestamps and decimal-scaled values
    /// (XOR value stream as a fallback); written by the block writer. See `decimal`.
    DecimalDelta = 2,
}

impl Encoding {
    pub fn from_u8(b: u8) -> Result<Self, ChunkError> {
        match b {
            1 => Ok(Encoding::Xor),
            2 => Ok(Encoding::DecimalDelta),
            other => Err(ChunkError::UnknownEncoding(other)),
        }
    }
}

/// Why a chunk could not be decoded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ChunkError {
    #[error("chunk shorter than its header")]
    Truncated,
    #[error("corrupt chunk: bit stream ends or is invalid at sample {sample}")]
    Corrupt { sample: usize },
    #[error("unknown chunk encoding {0}")]
    UnknownEncoding(u8),
}
