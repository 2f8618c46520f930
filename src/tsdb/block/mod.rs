//! Persisted blocks: an immutable directory holding the samples of a time range
//! `[min_time, max_time)` for a set of series, as Prometheus' `tsdb/block.go`.
//!
//! ```text
//! <data_dir>/<ULID>/
//!   meta.json     block metadata (range, stats, compaction lineage)
//!   index         symbols, series, label indices, postings (index.rs)
//!   chunks/000001 chunk segment files (chunkfile.rs)
//!   tombstones    deleted intervals per series (optional; crate::tsdb::tombstones)
//! ```
//!
//! Formats are specified in docs/format/block.md and docs/format/index.md. Blocks are
//! written once ([`BlockWriter`], [`write_block`]) into `<ULID>.tmp`, fsynced and renamed
//! into place, so a crash never leaves a half-written block under a real name. The writer
//! re-encodes every series into chunks of up to [`BLOCK_CHUNK_MAX_SAMPLES`] samples with
//! whichever chunk encoding is smallest (usually decimal-delta, docs/format/chunks.md).
//!
//! Readers validate magic numbers, versions and CRC-32C checksums and return
//! [`BlockError::Corrupt`] naming the file and offset instead of panicking. No mmap: the
//! index is read into memory once; chunks are read with positioned reads when a query
//! needs them.

pub(crate) mod chunkfile;
pub(crate) mod encoding;
pub mod index;

mod querier;
pub(crate) mod ulid;

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::RwLock;
use serde::{Deserialize, Serialize};

use self::chunkfile::{ChunkReader, ChunkWriter};
pub use self::index::ChunkRef;
use self::index::{IndexReader, SeriesRecord};
pub use self::querier::{BlockQuerier, BlockSeriesIterator};
pub use self::ulid::Ulid;
use crate::model::{Labels, Matcher, Sample};
use crate::tsdb::chunkenc::{encode_smallest, ChunkError, Encoding};
use crate::tsdb::chunks::ChunkMeta;
use crate::tsdb::tombstones::Tombstones;

/// Version written in `meta.json`.
const META_VERSION: u32 = 1;
/// The block writer cuts series into chunks of at most this many samples (as Prometheus:
/// instant queries decode whole chunks, so shorter ones answer faster; see
/// docs/format/block.md for the size trade-off).
const BLOCK_CHUNK_MAX_SAMPLES: usize = 120;
/// Name of the metadata file.
pub const META_FILENAME: &str = "meta.json";
/// Name of the index file.
pub const INDEX_FILENAME: &str = "index";
/// Name of the chunk segment directory.
pub const CHUNKS_DIRNAME: &str = "chunks";
/// Suffix of a block directory still being written.
pub const TMP_SUFFIX: &str = ".tmp";

/// Why a block could not be written, opened or read. File-level variants carry the path
/// (which contains the block's ULID) and, for corruption, the byte offset.
#[derive(Debug, thiserror::Error)]
pub enum BlockError {
    #[error("{op} {path}: {source}")]
    Io {
        path: PathBuf,
        op: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("corrupt block file {path} at offset {offset}: {reason}")]
    Corrupt {
        path: PathBuf,
        offset: u64,
        reason: String,
    },
    #[error("block metadata {path}: {source}")]
    Meta {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("{path}: the index {section} section would exceed 4 GiB; write smaller blocks")]
    TooLarge {
        path: PathBuf,
        section: &'static str,
    },
    #[error("invalid block time range: min_time {mint} must be below max_time {maxt}")]
    InvalidRange { mint: i64, maxt: i64 },
    #[error("series {labels} given out of order: must sort after {previous}")]
    UnsortedSeries { labels: String, previous: String },
    #[error("series {labels}: timestamp {t} is not after the previous sample's {prev}")]
    UnsortedSamples { labels: String, t: i64, prev: i64 },
    #[error("series {labels}: sample at {t} is outside the block range [{mint}, {maxt})")]
    OutOfRange {
        labels: String,
        t: i64,
        mint: i64,
        maxt: i64,
    },
    #[error("series {labels}: input chunk does not decode: {source}")]
    InputChunk {
        labels: String,
        #[source]
        source: ChunkError,
    },
    #[error("corrupt chunk in {path} for series {labels}: {source}")]
    BadChunk {
        path: PathBuf,
        labels: String,
        #[source]
        source: ChunkError,
    },
}

pub(crate) fn io_err<'a>(
    path: &'a Path,
    op: &'static str,
) -> impl FnOnce(std::io::Error) -> BlockError + 'a {
    move |source| BlockError::Io {
        path: path.to_path_buf(),
        op,
        source,
    }
}

/// Counts kept in `meta.json`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlockStats {
    pub num_series: u64,
    pub num_samples: u64,
    pub num_chunks: u64,
    /// Deleted intervals recorded in the tombstones file when the metadata was written.
    pub num_tombstones: u64,
}

/// Compaction lineage: level 1 is a block cut from the head or imported; a compacted block
/// has level max(sources' levels) + 1 and the union of their sources.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlockCompaction {
    pub level: u32,
    /// ULIDs of the level-1 blocks whose data this block holds (itself for level 1).
    pub sources: Vec<Ulid>,
    /// ULIDs of the blocks compacted directly into this one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parents: Vec<Ulid>,
}

/// The contents of `meta.json`. Times are milliseconds; `max_time` is exclusive.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlockMeta {
    pub ulid: Ulid,
    pub min_time: i64,
    pub max_time: i64,
    pub stats: BlockStats,
    pub compaction: BlockCompaction,
    pub version: u32,
}

impl BlockMeta {
    /// True when the block holds samples in the inclusive range `[mint, maxt]`.
    pub fn overlaps(&self, mint: i64, maxt: i64) -> bool {
        self.min_time <= maxt && mint < self.max_time
    }
}

pub(crate) fn write_meta(dir: &Path, meta: &BlockMeta) -> Result<(), BlockError> {
    let path = dir.join(META_FILENAME);
    let tmp = dir.join(format!("{META_FILENAME}.tmp"));
    let json = serde_json::to_vec_pretty(meta).map_err(|source| BlockError::Meta {
        path: path.clone(),
        source,
    })?;
    let mut f = File::create(&tmp).map_err(io_err(&tmp, "create"))?;
    f.write_all(&json).map_err(io_err(&tmp, "write"))?;
    f.sync_all().map_err(io_err(&tmp, "fsync"))?;
    std::fs::rename(&tmp, &path).map_err(io_err(&path, "rename"))?;
    sync_dir(dir)
}

/// Reads `<dir>/meta.json`.
pub fn read_meta(dir: &Path) -> Result<BlockMeta, BlockError> {
    let path = dir.join(META_FILENAME);
    let b = std::fs::read(&path).map_err(io_err(&path, "read"))?;
    serde_json::from_slice(&b).map_err(|source| BlockError::Meta { path, source })
}

/// Fsyncs a directory so renames and creations in it are durable (no-op off Unix).
pub(crate) fn sync_dir(dir: &Path) -> Result<(), BlockError> {
    #[cfg(unix)]
    {
        File::open(dir)
            .and_then(|f| f.sync_all())
            .map_err(io_err(dir, "fsync directory"))?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// A series' chunks encoded for a block by [`BlockWriter::encode_series`].
#[derive(Debug, Default)]
pub struct EncodedSeries {
    /// (min time, max time, encoding, bytes) per chunk, in time order.
    chunks: Vec<(i64, i64, Encoding, Vec<u8>)>,
    num_samples: u64,
}

/// Writes one block series by series. Series must come sorted by labels, samples of a
/// series strictly increasing in time and inside `[mint, maxt)`. Dropping the writer
/// without [`BlockWriter::finish`] removes the temporary directory.
pub struct BlockWriter {
    data_dir: PathBuf,
    tmp: PathBuf,
    ulid: Ulid,
    mint: i64,
    maxt: i64,
    chunks: Option<ChunkWriter>,
    series: Vec<SeriesRecord>,
    stats: BlockStats,
    compaction: BlockCompaction,
    finished: bool,
}

impl BlockWriter {
    /// Starts a new level-1 block under `data_dir` covering `[mint, maxt)`.
    pub fn new(data_dir: &Path, mint: i64, maxt: i64) -> Result<Self, BlockError> {
        if mint >= maxt {
            return Err(BlockError::InvalidRange { mint, maxt });
        }
        let ulid = Ulid::new();
        let tmp = data_dir.join(format!("{ulid}{TMP_SUFFIX}"));
        std::fs::create_dir_all(&tmp).map_err(io_err(&tmp, "create directory"))?;
        let chunks = ChunkWriter::new(&tmp.join(CHUNKS_DIRNAME))?;
        Ok(BlockWriter {
            data_dir: data_dir.to_path_buf(),
            tmp,
            ulid,
            mint,
            maxt,
            chunks: Some(chunks),
            series: Vec::new(),
            stats: BlockStats::default(),
            compaction: BlockCompaction {
                level: 1,
                sources: vec![ulid],
                parents: Vec::new(),
            },
            finished: false,
        })
    }

    /// The ULID the block will have.
    pub fn ulid(&self) -> Ulid {
        self.ulid
    }

    /// Records the block as the compaction of `parents` (sets level and sources).
    pub fn set_parents(&mut self, parents: &[BlockMeta]) {
        let mut sources: Vec<Ulid> = parents
            .iter()
            .flat_map(|p| p.compaction.sources.iter().copied())
            .collect();
        sources.sort();
        sources.dedup();
        self.compaction = BlockCompaction {
            level: parents
                .iter()
                .map(|p| p.compaction.level)
                .max()
                .unwrap_or(0)
                + 1,
            sources,
            parents: parents.iter().map(|p| p.ulid).collect(),
        };
    }

    /// Adds a series. Series with no samples are skipped.
    pub fn add_series(&mut self, labels: &Labels, samples: &[Sample]) -> Result<(), BlockError> {
        if samples.is_empty() {
            return Ok(());
        }
        self.check_order(labels)?;
        let encoded = Self::encode_series(labels, samples, self.mint, self.maxt)?;
        self.add_encoded(labels, encoded)
    }

    fn check_order(&self, labels: &Labels) -> Result<(), BlockError> {
        if let Some(prev) = self.series.last() {
            if *labels <= prev.labels {
                return Err(BlockError::UnsortedSeries {
                    labels: labels.to_string(),
                    previous: prev.labels.to_string(),
                });
            }
        }
        Ok(())
    }

    /// Checks a series' samples against the block range `[mint, maxt)` and encodes them
    /// as [`BlockWriter::add_series`] would, without touching a writer, so callers can
    /// encode series on several threads and add them in order with
    /// [`BlockWriter::add_encoded`].
    pub fn encode_series(
        labels: &Labels,
        samples: &[Sample],
        mint: i64,
        maxt: i64,
    ) -> Result<EncodedSeries, BlockError> {
        let mut prev_t = None;
        for s in samples {
            if s.t < mint || s.t >= maxt {
                return Err(BlockError::OutOfRange {
                    labels: labels.to_string(),
                    t: s.t,
                    mint,
                    maxt,
                });
            }
            if let Some(p) = prev_t {
                if s.t <= p {
                    return Err(BlockError::UnsortedSamples {
                        labels: labels.to_string(),
                        t: s.t,
                        prev: p,
                    });
                }
            }
            prev_t = Some(s.t);
        }
        let mut chunks = Vec::new();
        if !samples.is_empty() {
            let parts = samples.len().div_ceil(BLOCK_CHUNK_MAX_SAMPLES);
            let per = samples.len().div_ceil(parts);
            chunks.reserve(parts);
            for part in samples.chunks(per) {
                let (enc, data) = encode_smallest(part);
                chunks.push((part[0].t, part[part.len() - 1].t, enc, data));
            }
        }
        Ok(EncodedSeries {
            chunks,
            num_samples: samples.len() as u64,
        })
    }

    /// Adds a series encoded by [`BlockWriter::encode_series`] for this block's range.
    /// Series must still come sorted by labels; one without samples is skipped.
    pub fn add_encoded(
        &mut self,
        labels: &Labels,
        encoded: EncodedSeries,
    ) -> Result<(), BlockError> {
        if encoded.num_samples == 0 {
            return Ok(());
        }
        self.check_order(labels)?;
        let Some(cw) = self.chunks.as_mut() else {
            return Ok(());
        };
        let mut refs = Vec::with_capacity(encoded.chunks.len());
        for (min_time, max_time, enc, data) in &encoded.chunks {
            let r = cw.write(*enc, data)?;
            refs.push(ChunkRef {
                min_time: *min_time,
                max_time: *max_time,
                r#ref: r,
            });
        }
        self.stats.num_series += 1;
        self.stats.num_samples += encoded.num_samples;
        self.stats.num_chunks += refs.len() as u64;
        self.series.push(SeriesRecord {
            labels: labels.clone(),
            chunks: refs,
        });
        Ok(())
    }

    /// Writes index and metadata, fsyncs, and renames the block into place.
    pub fn finish(mut self) -> Result<BlockMeta, BlockError> {
        if let Some(cw) = self.chunks.take() {
            cw.finish()?;
        }
        let ipath = self.tmp.join(INDEX_FILENAME);
        let bytes = index::encode_index(&self.series).map_err(|section| BlockError::TooLarge {
            path: ipath.clone(),
            section,
        })?;
        let mut f = File::create(&ipath).map_err(io_err(&ipath, "create"))?;
        f.write_all(&bytes).map_err(io_err(&ipath, "write"))?;
        f.sync_all().map_err(io_err(&ipath, "fsync"))?;
        let meta = BlockMeta {
            ulid: self.ulid,
            min_time: self.mint,
            max_time: self.maxt,
            stats: self.stats.clone(),
            compaction: self.compaction.clone(),
            version: META_VERSION,
        };
        write_meta(&self.tmp, &meta)?;
        sync_dir(&self.tmp.join(CHUNKS_DIRNAME))?;
        let dst = self.data_dir.join(self.ulid.to_string());
        std::fs::rename(&self.tmp, &dst).map_err(io_err(&dst, "rename block into place"))?;
        sync_dir(&self.data_dir)?;
        self.finished = true;
        Ok(meta)
    }
}

impl Drop for BlockWriter {
    fn drop(&mut self) {
        if !self.finished {
            let _ = std::fs::remove_dir_all(&self.tmp);
        }
    }
}

/// Decodes, merges and deduplicates chunks into one sorted run of samples. For equal
/// timestamps the sample from the chunk listed last wins.
fn merge_chunks(labels: &Labels, chunks: &[ChunkMeta]) -> Result<Vec<Sample>, BlockError> {
    let mut out: Vec<Sample> = Vec::new();
    let mut sorted = true;
    for c in chunks {
        let mut it = c.iter().map_err(|source| BlockError::InputChunk {
            labels: labels.to_string(),
            source,
        })?;
        for s in it.by_ref() {
            if out.last().is_some_and(|l| l.t >= s.t) {
                sorted = false;
            }
            out.push(s);
        }
        if let Some(e) = it.error() {
            return Err(BlockError::InputChunk {
                labels: labels.to_string(),
                source: e.clone(),
            });
        }
    }
    if !sorted {
        // Stable: among equal timestamps the later input stays last; keep that one.
        out.sort_by_key(|s| s.t);
        let mut dedup: Vec<Sample> = Vec::with_capacity(out.len());
        for s in out {
            match dedup.last_mut() {
                Some(l) if l.t == s.t => *l = s,
                _ => dedup.push(s),
            }
        }
        out = dedup;
    }
    Ok(out)
}

/// Writes a new block under `data_dir` for `[mint, maxt)` from series sorted by labels,
/// each with its chunks (any encoding, possibly overlapping: samples are merged by
/// timestamp, the later chunk winning on equal timestamps). Samples outside
/// `[mint, maxt)` are left out, so head chunks that straddle the block boundary can be
/// passed as they are; series left without samples are skipped. The chunks are
/// re-encoded for the block. Returns the new block's metadata.
pub fn write_block(
    data_dir: &Path,
    mint: i64,
    maxt: i64,
    series: impl Iterator<Item = (Labels, Vec<ChunkMeta>)>,
) -> Result<BlockMeta, BlockError> {
    let mut w = BlockWriter::new(data_dir, mint, maxt)?;
    for (labels, chunks) in series {
        let mut samples = merge_chunks(&labels, &chunks)?;
        samples.retain(|s| s.t >= mint && s.t < maxt);
        w.add_series(&labels, &samples)?;
    }
    w.finish()
}

pub(crate) struct BlockInner {
    pub(crate) dir: PathBuf,
    pub(crate) meta: BlockMeta,
    pub(crate) index: IndexReader,
    chunks: ChunkReader,
    pub(crate) tombstones: RwLock<Arc<Tombstones>>,
}

impl BlockInner {
    /// Reads the chunks of series entry `r` that overlap `[mint, maxt]`.
    pub(crate) fn read_chunks(
        &self,
        r: u32,
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<ChunkMeta>, BlockError> {
        let Some(e) = self.index.series(r) else {
            return Ok(Vec::new());
        };
        e.chunks
            .iter()
            .filter(|c| c.min_time <= maxt && mint <= c.max_time)
            .map(|c| self.chunks.read(c.r#ref, c.min_time, c.max_time))
            .collect()
    }
}

/// An open, immutable block. Cheap to clone (shared state).
#[derive(Clone)]
pub struct Block {
    pub(crate) inner: Arc<BlockInner>,
}

impl std::fmt::Debug for Block {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Block")
            .field("dir", &self.inner.dir)
            .field("meta", &self.inner.meta)
            .finish()
    }
}

impl Block {
    /// Opens the block directory `path`: reads meta.json, loads and verifies the index,
    /// opens the chunk segments and reads tombstones.
    pub fn open(path: &Path) -> Result<Block, BlockError> {
        let meta = read_meta(path)?;
        let index = IndexReader::open(&path.join(INDEX_FILENAME))?;
        let chunks = ChunkReader::open(&path.join(CHUNKS_DIRNAME))?;
        let tombstones = Tombstones::read(path)?;
        Ok(Block {
            inner: Arc::new(BlockInner {
                dir: path.to_path_buf(),
                meta,
                index,
                chunks,
                tombstones: RwLock::new(Arc::new(tombstones)),
            }),
        })
    }

    /// The metadata as read at open. `stats.num_tombstones` is not updated by later
    /// deletions; see [`Block::tombstones`].
    pub fn meta(&self) -> &BlockMeta {
        &self.inner.meta
    }

    /// The block directory.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// The current tombstones (a snapshot).
    pub fn tombstones(&self) -> Arc<Tombstones> {
        self.inner.tombstones.read().clone()
    }

    /// Bytes on disk: index, chunk segments, meta.json and tombstones.
    pub fn size_bytes(&self) -> u64 {
        let small = [META_FILENAME, crate::tsdb::tombstones::TOMBSTONES_FILENAME]
            .iter()
            .filter_map(|f| std::fs::metadata(self.inner.dir.join(f)).ok())
            .map(|m| m.len())
            .sum::<u64>();
        self.inner.index.file_size() + self.inner.chunks.total_bytes() + small
    }

    /// A querier over `[mint, maxt]` (inclusive) that hides deleted samples.
    pub fn querier(&self, mint: i64, maxt: i64) -> Result<BlockQuerier, BlockError> {
        Ok(BlockQuerier::new(
            self.inner.clone(),
            self.tombstones(),
            mint,
            maxt,
        ))
    }

    /// Number of series in the block.
    pub fn num_series(&self) -> usize {
        self.inner.index.num_series()
    }

    /// References of the series matching `matchers` (all when empty), sorted by labels.
    pub fn select_refs(&self, matchers: &[Matcher]) -> Result<Vec<u32>, BlockError> {
        self.inner.index.select(matchers)
    }

    /// Labels of series `r`.
    pub fn series_labels(&self, r: u32) -> Option<Labels> {
        self.inner
            .index
            .series(r)
            .map(|e| self.inner.index.labels(e))
    }

    /// Chunk references of series `r` (without reading the chunks).
    pub fn series_chunk_refs(&self, r: u32) -> &[ChunkRef] {
        self.inner.index.series(r).map_or(&[], |e| &e.chunks)
    }

    /// Reads the chunks of series `r` that overlap `[mint, maxt]`.
    pub fn read_chunks(&self, r: u32, mint: i64, maxt: i64) -> Result<Vec<ChunkMeta>, BlockError> {
        self.inner.read_chunks(r, mint, maxt)
    }

    /// Every series with all its chunks, sorted by labels (for compaction and dumps).
    /// Tombstones are not applied; see [`Block::tombstones`].
    pub fn series(
        &self,
    ) -> impl Iterator<Item = Result<(Labels, Vec<ChunkMeta>), BlockError>> + '_ {
        (0..self.num_series() as u32).map(move |r| {
            let labels = self.series_labels(r).ok_or_else(|| BlockError::Corrupt {
                path: self.dir().join(INDEX_FILENAME),
                offset: 0,
                reason: format!("series {r} of {} is missing", self.num_series()),
            })?;
            let chunks = self.read_chunks(r, i64::MIN, i64::MAX)?;
            Ok((labels, chunks))
        })
    }

    /// All label names in the block, sorted.
    pub fn label_names(&self) -> Vec<String> {
        self.inner.index.label_names()
    }

    /// Values of `name` with the number of series carrying each, sorted by value.
    pub fn label_value_counts(&self, name: &str) -> Result<Vec<(String, usize)>, BlockError> {
        self.inner.index.label_value_counts(name)
    }
}

impl crate::storage::Queryable for Block {
    fn querier(
        &self,
        mint: i64,
        maxt: i64,
    ) -> Result<Box<dyn crate::storage::Querier>, crate::storage::QueryError> {
        Ok(Box::new(BlockQuerier::new(
            self.inner.clone(),
            self.tombstones(),
            mint,
            maxt,
        )))
    }
}

/// Lists the block directories under `data_dir` (names that parse as ULIDs, skipping
/// `.tmp` directories), sorted by ULID.
pub fn list_block_dirs(data_dir: &Path) -> Result<Vec<PathBuf>, BlockError> {
    let mut out: Vec<(Ulid, PathBuf)> = Vec::new();
    let rd = match std::fs::read_dir(data_dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_err(data_dir, "read directory")(e)),
    };
    for e in rd {
        let e = e.map_err(io_err(data_dir, "read directory"))?;
        let p = e.path();
        if !p.is_dir() {
            continue;
        }
        if let Some(u) = p
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.parse::<Ulid>().ok())
        {
            out.push((u, p));
        }
    }
    out.sort();
    Ok(out.into_iter().map(|(_, p)| p).collect())
}

/// Opens every block under `data_dir`, sorted by min time (then ULID).
pub fn open_blocks(data_dir: &Path) -> Result<Vec<Block>, BlockError> {
    let mut blocks = list_block_dirs(data_dir)?
        .iter()
        .map(|p| Block::open(p))
        .collect::<Result<Vec<_>, _>>()?;
    blocks.sort_by_key(|b| (b.meta().min_time, b.meta().ulid));
    Ok(blocks)
}
