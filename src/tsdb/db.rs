//! The database: a data directory with a lock file, a WAL, the head rebuilt from it on open,
//! and (through [`BlockSource`]) persisted blocks; appenders and queriers implementing the
//! storage seams.
//!
//! Layout of the data directory (see [`super::layout`], which checks it is promtui's before
//! anything is written, and refuses a directory holding anything else):
//! ```text
//! <dir>/promtui-tsdb.json              format marker
//! <dir>/promtui.lock                   held (flock) while a process writes the database
//! <dir>/promtui-wal/00000000 …         WAL segments (docs/format/wal.md)
//! <dir>/promtui-wal/checkpoint.N/      WAL checkpoint
//! <dir>/promtui-blocks/<ULID>/         persisted blocks
//! ```
//!
//! [`Db::open_read_only`] opens an existing directory for inspection without writing
//! anything: no lock file, no new WAL segment, no repair, no compaction.
//!
//! Commit protocol: under one commit lock, every sample of the batch is re-validated against
//! the head (an in-order sample by the series' newest timestamp alone, which only commits
//! move), the accepted ones (and Series records for series not yet logged) are written to
//! the WAL in one write, then applied to the head. So the WAL holds exactly what the head
//! applied, in the same order, and replay rebuilds the same head.
//!
//! Blocks: after a commit leaves the head spanning more than 1.5 block durations, a
//! background thread persists its oldest block-aligned range with `block::write_block`,
//! truncates the head and checkpoints the WAL ([`Db::compact_head`]), then merges blocks
//! and applies retention with the `compact`/`retention` code ([`Db::compact_blocks`]).
//! Samples below the newest block's end are out of bounds, and skipped by WAL replay.
//! At open, unfinished block writes, half-deleted blocks and compaction leftovers are
//! removed before the blocks are opened.
//!
//! Deletion ([`Db::delete`]) writes tombstones into every overlapping block and, for the
//! head, logs the deleted intervals (clamped to each series' samples, as upstream
//! `Head.Delete`) as a WAL Tombstones record before applying them, all under the
//! compaction lock so no head range moves into a block meanwhile. Replay (checkpoints keep
//! Tombstones records) restores them; persisting the head leaves deleted samples out.
//! [`Db::clean_tombstones`] rewrites blocks with tombstones so deleted data is gone from
//! disk.
//!
//! Mirrors Prometheus `tsdb/db.go` (`Open`, directory lock, `Head` truncation with WAL
//! checkpoint, `DB.Delete`, `DB.CleanTombstones`) and `tsdb/head_append.go`
//! (`headAppender.Commit`).

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Mutex, RwLock};

use super::block::{self, Block, BlockError, BlockMeta};
use super::compact::{self, CompactError};
use super::head::querier::check_matchers;
use super::head::replay::replay_wal;
use super::head::{
    Accept, ApplyAcc, Bounds, Head, HeadOptions, HeadQuerier, MemSeries, MixState, TruncateStats,
};
use super::querier::MergeQuerier;
use super::retention::{self, Retention};
use super::tombstones::{self, Stone};
use super::wal::record::{self, RefSample};
use super::wal::{self, ReplayProgress, Wal, WalError, WalOptions};
use crate::model::{Labels, Matcher};
use crate::storage::{
    AppendError, Appender, Querier, QueryError, Queryable, Series, SeriesHandle, SeriesRef,
};

/// Database configuration.
#[derive(Clone, Debug)]
pub struct Options {
    /// Length of a head block / persisted block in ms (default 2h). Chunks never cross a
    /// multiple of it.
    pub block_duration_ms: i64,
    /// Delete blocks older than this (ms); enforced by the retention code.
    pub retention_time_ms: Option<i64>,
    /// Delete the oldest blocks while the total size exceeds this; enforced by the
    /// retention code.
    pub retention_size_bytes: Option<u64>,
    /// Accept samples up to this far (ms) behind the newest sample in the head; 0 rejects
    /// every out-of-order sample.
    pub ooo_window_ms: i64,
    /// WAL segment size in bytes (default 128 MiB).
    pub wal_segment_size: u64,
    /// fsync the WAL on every commit (survives power loss, costs a disk flush per commit).
    /// Without it commits are written to the kernel, which survives a process crash.
    pub wal_fsync_every_commit: bool,
    /// Threads applying samples during WAL replay (series are created by the reading
    /// thread); `Some(0)` applies them on the reading thread. `None` = automatic: none for
    /// a WAL under 32 MiB or fewer than 4 cores, else one per core but one, at most 8.
    pub replay_workers: Option<usize>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            block_duration_ms: 2 * 3600 * 1000,
            retention_time_ms: Some(15 * 24 * 3600 * 1000),
            retention_size_bytes: None,
            ooo_window_ms: 0,
            wal_segment_size: wal::DEFAULT_SEGMENT_SIZE,
            wal_fsync_every_commit: false,
            replay_workers: None,
        }
    }
}

/// Why the database could not be opened or maintained: the one error type callers outside
/// `tsdb` handle. Each file format keeps its own error enum (WAL, block, import, the
/// Prometheus directory reader, the CLI tools); each converts into this one with `?`, its
/// message unchanged and its causes kept as `source()`s.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "data directory {dir} is in use by another process (lock file {lock} is held): {detail}"
    )]
    Locked {
        dir: PathBuf,
        lock: PathBuf,
        detail: String,
    },
    #[error("I/O error while {op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid option {name}: {reason}")]
    InvalidOption { name: &'static str, reason: String },
    #[error(transparent)]
    Wal(#[from] WalError),
    /// A full head chunk written out of memory could not be read back (the head's own
    /// file under `promtui-head-chunks/`); the block is not written and the head keeps
    /// its data (the WAL holds the samples).
    #[error("head chunk unreadable: {0}")]
    HeadChunk(#[from] crate::tsdb::head::spill::SpillError),
    #[error("compacting blocks in {dir}: {source}")]
    Compact {
        dir: PathBuf,
        #[source]
        source: CompactError,
    },
    #[error("invalid matchers for deletion: {reason}")]
    InvalidMatchers { reason: String },
    #[error("block {block}: {source}")]
    Block {
        block: String,
        #[source]
        source: BlockError,
    },
    #[error(transparent)]
    Layout(#[from] super::layout::LayoutError),
    #[error("the database at {dir} is open read-only")]
    ReadOnly { dir: PathBuf },
    /// A block file error outside a named block's maintenance (its path names the block).
    #[error(transparent)]
    BlockFile(#[from] BlockError),
    #[error(transparent)]
    Import(#[from] super::import::ImportError),
    #[error(transparent)]
    Tool(#[from] super::tools::ToolError),
    #[error(transparent)]
    PrometheusDir(#[from] super::prometheus_dir::PromDirError),
}

pub type Result<T> = std::result::Result<T, Error>;

/// A persisted, immutable source of series (a block) that the database queries alongside
/// the head.
pub trait BlockSource: Send + Sync {
    /// Identifier shown in errors and logs (the block's ULID).
    fn id(&self) -> String;
    /// Oldest timestamp in the block (inclusive).
    fn min_time(&self) -> i64;
    /// End of the block's range (exclusive).
    fn max_time(&self) -> i64;
    /// A querier over `[mint, maxt]` (inclusive).
    fn querier(&self, mint: i64, maxt: i64) -> std::result::Result<Box<dyn Querier>, QueryError>;
    /// Durably marks the samples of series matching `matchers` in `[mint, maxt]`
    /// (inclusive) as deleted, so that queriers created afterwards skip them. Returns the
    /// number of series affected.
    fn delete(
        &self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> std::result::Result<usize, BlockError>;
}

impl BlockSource for Block {
    fn id(&self) -> String {
        self.meta().ulid.to_string()
    }
    fn min_time(&self) -> i64 {
        self.meta().min_time
    }
    fn max_time(&self) -> i64 {
        self.meta().max_time
    }
    fn querier(&self, mint: i64, maxt: i64) -> std::result::Result<Box<dyn Querier>, QueryError> {
        match Block::querier(self, mint, maxt) {
            Ok(q) => Ok(Box::new(q)),
            Err(e) => Err(QueryError::block(self.id(), None, e)),
        }
    }
    fn delete(
        &self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> std::result::Result<usize, BlockError> {
        tombstones::delete(self, matchers, mint, maxt)
    }
}

/// What a [`Db::delete`] marked as deleted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DeleteStats {
    /// Head series that got a deleted interval.
    pub head_series: usize,
    /// Blocks whose tombstones changed.
    pub blocks: usize,
    /// Series affected, summed over those blocks.
    pub block_series: usize,
}

/// A snapshot of the database's self-metrics.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DbStats {
    pub head_series: u64,
    pub head_chunks: u64,
    pub head_min_time: Option<i64>,
    pub head_max_time: Option<i64>,
    pub samples_appended: u64,
    pub ooo_samples_appended: u64,
    pub rejected_out_of_order: u64,
    pub rejected_out_of_bounds: u64,
    pub rejected_duplicate: u64,
    pub series_created: u64,
    pub series_removed: u64,
    pub commits: u64,
    pub wal_bytes: u64,
    pub wal_segments: u64,
    pub wal_fsyncs: u64,
    pub wal_corruptions: u64,
    pub wal_truncations: u64,
    pub replay_duration: Duration,
    pub replay_records: u64,
    pub replay_unknown_refs: u64,
    pub checkpoints: u64,
    pub blocks: usize,
    /// Blocks cut from the head since open.
    pub head_compactions: u64,
    pub compaction_failures: u64,
}

#[derive(Default)]
struct DbMetrics {
    wal_corruptions: AtomicU64,
    wal_truncations: AtomicU64,
    replay_nanos: AtomicU64,
    replay_records: AtomicU64,
    replay_unknown_refs: AtomicU64,
    checkpoints: AtomicU64,
    head_compactions: AtomicU64,
    compaction_failures: AtomicU64,
}

struct Inner {
    /// The data directory.
    dir: PathBuf,
    /// Where the blocks live (`<dir>/promtui-blocks`).
    blocks_dir: PathBuf,
    /// Where the WAL lives (`<dir>/promtui-wal`).
    wal_dir: PathBuf,
    opts: Options,
    head: Arc<Head>,
    /// The WAL writer; `None` when opened read-only.
    wal: Option<Wal>,
    /// Serializes commits (and other WAL writers); holds the commits' reusable buffers.
    commit_lock: Mutex<CommitScratch>,
    /// Emptied batch buffers of finished appenders, for the next ones (see [`BatchBuffers`]).
    batch_buffers: Mutex<Vec<BatchBuffers>>,
    blocks: RwLock<Vec<Arc<dyn BlockSource>>>,
    metrics: DbMetrics,
    /// One head compaction at a time.
    compact_lock: Mutex<()>,
    /// Read-held by every live querier, write-held while the head is truncated: a querier
    /// that was created before a head block was persisted (so its block list lacks that
    /// block) must not see the head lose the block's samples (Prometheus' "pending
    /// readers" wait in head truncation).
    isolation: Arc<RwLock<()>>,
    /// Wakes the background compaction thread (capacity 1: triggers coalesce).
    compact_tx: Mutex<Option<std::sync::mpsc::SyncSender<()>>>,
    /// The background compaction thread, joined by [`Db::close`].
    compactor: Mutex<Option<std::thread::JoinHandle<()>>>,
    /// First and last WAL segment replayed when the database was opened.
    replay_segments: Option<(u32, u32)>,
    // Held for the lifetime of the database: the flock is released when it is closed.
    // `None` when opened read-only.
    _lock: Option<File>,
}

impl Inner {
    /// The WAL writer, or [`Error::ReadOnly`].
    fn wal(&self) -> Result<&Wal> {
        self.wal.as_ref().ok_or_else(|| Error::ReadOnly {
            dir: self.dir.clone(),
        })
    }
}

/// An open database. Cheap to clone; all clones share one head and WAL. `Send + Sync`:
/// appenders and queriers may be used from many threads.
#[derive(Clone)]
pub struct Db {
    inner: Arc<Inner>,
}

/// Recreates the directory tree `src` at `dst`, hard-linking each file (copying when a
/// link cannot be made).
fn link_tree(src: &Path, dst: &Path) -> Result<()> {
    fs::create_dir_all(dst).map_err(|source| Error::Io {
        op: "creating snapshot block directory",
        path: dst.to_path_buf(),
        source,
    })?;
    let rd = fs::read_dir(src).map_err(|source| Error::Io {
        op: "listing block directory",
        path: src.to_path_buf(),
        source,
    })?;
    for e in rd {
        let e = e.map_err(|source| Error::Io {
            op: "listing block directory",
            path: src.to_path_buf(),
            source,
        })?;
        let (from, to) = (e.path(), dst.join(e.file_name()));
        if from.is_dir() {
            link_tree(&from, &to)?;
        } else if fs::hard_link(&from, &to).is_err() {
            fs::copy(&from, &to).map_err(|source| Error::Io {
                op: "copying block file into snapshot",
                path: from.clone(),
                source,
            })?;
        }
    }
    Ok(())
}

fn lock_dir(dir: &Path, path: PathBuf) -> Result<File> {
    let mut f = OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)
        .map_err(|source| Error::Io {
            op: "opening lock file",
            path: path.clone(),
            source,
        })?;
    match f.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            let holder = fs::read_to_string(&path).unwrap_or_default();
            return Err(Error::Locked {
                dir: dir.to_path_buf(),
                lock: path,
                detail: format!("held by pid {}", holder.trim()),
            });
        }
        Err(TryLockError::Error(e)) => {
            return Err(Error::Locked {
                dir: dir.to_path_buf(),
                lock: path,
                detail: e.to_string(),
            })
        }
    }
    let _ = f.set_len(0);
    let _ = write!(f, "{}", std::process::id());
    Ok(f)
}

/// Whether `p`, a directory named after a ULID, lost `meta.json`, `index` or `chunks/`.
/// Blocks are written into `<ULID>.tmp` and renamed into place only once complete, so such
/// a directory is one whose deletion (compaction source, retention: a recursive delete)
/// was interrupted by a crash.
fn half_deleted(p: &Path) -> bool {
    !p.join(block::META_FILENAME).exists()
        || !p.join(block::INDEX_FILENAME).exists()
        || !p.join(block::CHUNKS_DIRNAME).is_dir()
}

/// Removes half-deleted block directories ([`half_deleted`]): finishing the deletion is
/// the only correct outcome.
fn remove_half_deleted_blocks(dir: &Path) -> Result<()> {
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(source) => {
            return Err(Error::Io {
                op: "listing data directory",
                path: dir.to_path_buf(),
                source,
            })
        }
    };
    for e in rd.flatten() {
        let p = e.path();
        let is_block_name = e
            .file_name()
            .to_str()
            .is_some_and(|n| n.parse::<block::Ulid>().is_ok());
        if is_block_name && p.is_dir() && half_deleted(&p) {
            tracing::warn!(path = %p.display(), "removing block directory left half-deleted by a crash");
            fs::remove_dir_all(&p).map_err(|source| Error::Io {
                op: "removing half-deleted block",
                path: p.clone(),
                source,
            })?;
        }
    }
    Ok(())
}

/// Opens the blocks of `dir` without changing anything: unfinished writes, half-deleted
/// blocks and compaction leftovers (which a writing open deletes) are skipped.
/// Refuses options the database cannot work with.
fn check_options(opts: &Options) -> Result<()> {
    let invalid = |name, reason| Err(Error::InvalidOption { name, reason });
    if opts.block_duration_ms <= 0 {
        let got = opts.block_duration_ms;
        return invalid("block_duration_ms", format!("must be positive, got {got}"));
    }
    if opts.ooo_window_ms < 0 {
        let got = opts.ooo_window_ms;
        return invalid("ooo_window_ms", format!("must not be negative, got {got}"));
    }
    if opts.wal_segment_size < 64 * 1024 {
        let got = opts.wal_segment_size;
        return invalid(
            "wal_segment_size",
            format!("must be at least 64 KiB, got {got}"),
        );
    }
    Ok(())
}

/// Opens the blocks of a database opened for writing, after removing what interrupted
/// deletions, block writes and compactions left behind.
fn open_blocks_for_writing(blocks_dir: &Path) -> Result<Vec<Block>> {
    let in_dir = |source| Error::Block {
        block: blocks_dir.display().to_string(),
        source,
    };
    remove_half_deleted_blocks(blocks_dir)?;
    // Unfinished block writes and sources of an interrupted compaction.
    for p in compact::remove_leftover_blocks(blocks_dir).map_err(in_dir)? {
        tracing::warn!(path = %p.display(), "removed leftover block directory");
    }
    block::open_blocks(blocks_dir).map_err(in_dir)
}

/// Sample workers for replay: by default all cores but the one reading and creating
/// series, or none (apply on the reading thread) for a small WAL or a single core.
fn replay_workers(opts: &Options, wal_dir: &Path) -> usize {
    match opts.replay_workers {
        Some(n) => n,
        None if wal::dir_usage(wal_dir).0 < 32 << 20 => 0,
        // With 2-3 cores, one reading thread plus one worker measured slower than a
        // single thread once other work competes for the cores.
        None => match std::thread::available_parallelism().map_or(1, |n| n.get()) {
            n if n >= 4 => (n - 1).min(8),
            _ => 0,
        },
    }
}

/// The head rebuilt from the WAL by [`replay_repairing`].
struct Replayed {
    head: Head,
    /// The WAL segments replayed after the checkpoint (first, last), for the API's
    /// walreplay status.
    segments: Option<(u32, u32)>,
}

/// Replays the WAL in `wal_dir` into a new head. A corrupt record in a segment of the WAL
/// itself (not of a checkpoint) is repaired, when writing, by truncating the WAL there
/// and replaying again (at most 16 times); read-only, it is an error. Records the replay
/// in `metrics`.
fn replay_repairing(
    wal_dir: &Path,
    opts: &Options,
    blocks_max: Option<i64>,
    read_only: bool,
    metrics: &DbMetrics,
    mut progress: impl FnMut(ReplayProgress),
) -> Result<Replayed> {
    let head_opts = HeadOptions {
        chunk_range: opts.block_duration_ms,
        ooo_window: opts.ooo_window_ms,
    };
    let started = Instant::now();
    let workers = replay_workers(opts, wal_dir);
    let mut segments: Option<(u32, u32)> = None;
    let (head, outcome, replayed) = loop {
        let head = Head::new(head_opts);
        if let Some(t) = blocks_max {
            head.set_min_valid_time(t);
        }
        let mut note_segments = |p: ReplayProgress| {
            if !p.in_checkpoint {
                segments = Some(match segments {
                    None => (p.segment, p.segment),
                    Some((a, b)) => (a.min(p.segment), b.max(p.segment)),
                });
            }
            progress(p)
        };
        let e = match replay_wal(&head, wal_dir, workers, read_only, &mut note_segments) {
            Ok((o, st)) => break (head, o, st),
            Err(e) => e,
        };
        match e.corruption_at() {
            Some((segment, path, offset))
                if !read_only
                    && path.parent() == Some(wal_dir)
                    && metrics.wal_corruptions.load(Ordering::Relaxed) < 16 =>
            {
                // Each repair cuts the WAL shorter, so this ends; the bound is a guard.
                tracing::warn!(
                    segment,
                    offset,
                    error = %e,
                    "WAL corruption; repairing by truncating there and dropping later segments"
                );
                metrics.wal_corruptions.fetch_add(1, Ordering::Relaxed);
                wal::repair(wal_dir, segment, offset)?;
            }
            _ => return Err(e.into()),
        }
    };
    if outcome.truncated_tail.is_some() {
        metrics.wal_truncations.fetch_add(1, Ordering::Relaxed);
    }
    let took = started.elapsed();
    metrics
        .replay_nanos
        .store(took.as_nanos() as u64, Ordering::Relaxed);
    metrics
        .replay_records
        .store(outcome.records, Ordering::Relaxed);
    metrics
        .replay_unknown_refs
        .store(replayed.unknown_refs, Ordering::Relaxed);
    tracing::info!(
        records = outcome.records,
        bytes = outcome.bytes,
        series = head.num_series(),
        tombstones = replayed.tombstones,
        unknown_tombstone_refs = replayed.unknown_tombstone_refs,
        duration_ms = took.as_millis() as u64,
        "WAL replay complete"
    );
    Ok(Replayed { head, segments })
}

fn open_blocks_read_only(dir: &Path) -> Result<Vec<Block>> {
    let leftovers = compact::leftover_blocks(dir).map_err(|source| Error::Block {
        block: dir.display().to_string(),
        source,
    })?;
    let mut out = Vec::new();
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(source) => {
            return Err(Error::Io {
                op: "listing blocks in",
                path: dir.to_path_buf(),
                source,
            })
        }
    };
    for e in rd.flatten() {
        let p = e.path();
        let Some(id) = e
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<block::Ulid>().ok())
        else {
            continue;
        };
        if !p.is_dir() || half_deleted(&p) || leftovers.contains(&id) {
            tracing::info!(path = %p.display(), "read-only open skips an incomplete or superseded block");
            continue;
        }
        out.push(Block::open(&p).map_err(|source| Error::Block {
            block: id.to_string(),
            source,
        })?);
    }
    out.sort_by_key(|b| (b.meta().min_time, b.meta().ulid));
    Ok(out)
}

impl Db {
    /// Opens (or creates) the database in `dir`, replaying the WAL.
    pub fn open(dir: impl AsRef<Path>, opts: Options) -> Result<Db> {
        Db::open_with_progress(dir, opts, |_| {})
    }

    /// Like [`Db::open`], reporting WAL replay progress after each segment.
    pub fn open_with_progress(
        dir: impl AsRef<Path>,
        opts: Options,
        progress: impl FnMut(ReplayProgress),
    ) -> Result<Db> {
        Db::open_impl(dir.as_ref(), opts, progress, false)
    }

    /// Opens an existing database for reading only: nothing under `dir` is created,
    /// changed or deleted (no lock file, no new WAL segment, no tail repair, no
    /// compaction or retention), so it works on a read-only directory and beside a
    /// running server. Damage that a writing open would repair is skipped: a torn WAL
    /// tail ends the replay, half-deleted blocks and compaction leftovers are not
    /// opened. Appending to it fails with [`Error::ReadOnly`].
    pub fn open_read_only(dir: impl AsRef<Path>, opts: Options) -> Result<Db> {
        Db::open_impl(dir.as_ref(), opts, |_| {}, true)
    }

    fn open_impl(
        dir: &Path,
        opts: Options,
        progress: impl FnMut(ReplayProgress),
        read_only: bool,
    ) -> Result<Db> {
        let dir = dir.to_path_buf();
        check_options(&opts)?;
        let (layout, lock, blocks) = if read_only {
            let layout = super::layout::check_read_only(&dir)?;
            let blocks = open_blocks_read_only(&layout.blocks())?;
            (layout, None, blocks)
        } else {
            let layout = super::layout::prepare(&dir)?;
            let lock = lock_dir(&dir, layout.lock())?;
            let blocks = open_blocks_for_writing(&layout.blocks())?;
            (layout, Some(lock), blocks)
        };
        // WAL samples already persisted in a block are skipped by replay.
        let blocks_max = blocks.iter().map(|b| b.meta().max_time).max();
        let wal_dir = layout.wal();
        let metrics = DbMetrics::default();
        let replayed =
            replay_repairing(&wal_dir, &opts, blocks_max, read_only, &metrics, progress)?;
        let wal = if read_only {
            None
        } else {
            Some(Wal::open(
                &wal_dir,
                WalOptions {
                    segment_size: opts.wal_segment_size,
                    fsync_every_commit: opts.wal_fsync_every_commit,
                },
            )?)
        };
        let blocks: Vec<Arc<dyn BlockSource>> = blocks
            .into_iter()
            .map(|b| Arc::new(b) as Arc<dyn BlockSource>)
            .collect();
        let db = Db {
            inner: Arc::new(Inner {
                dir,
                blocks_dir: layout.blocks(),
                wal_dir,
                opts,
                head: Arc::new(replayed.head),
                wal,
                commit_lock: Mutex::new(CommitScratch::default()),
                batch_buffers: Mutex::new(Vec::new()),
                blocks: RwLock::new(blocks),
                metrics,
                compact_lock: Mutex::new(()),
                isolation: Arc::new(RwLock::new(())),
                compact_tx: Mutex::new(None),
                compactor: Mutex::new(None),
                replay_segments: replayed.segments,
                _lock: lock,
            }),
        };
        if !read_only {
            db.start_compactor();
            let spill_dir = db.inner.dir.join(super::layout::HEAD_CHUNKS_DIR);
            if let Err(e) = db.inner.head.enable_spill(&spill_dir) {
                tracing::warn!(error = %e, "full head chunks stay in memory");
            }
        }
        Ok(db)
    }

    /// Starts the background thread that cuts blocks from the head when signalled by a
    /// commit. It holds only a weak reference and ends when the database is dropped.
    fn start_compactor(&self) {
        let (tx, rx) = std::sync::mpsc::sync_channel::<()>(1);
        let weak = Arc::downgrade(&self.inner);
        let spawned = std::thread::Builder::new()
            .name("tsdb-compact".into())
            .spawn(move || {
                while rx.recv().is_ok() {
                    let Some(inner) = weak.upgrade() else { break };
                    let db = Db { inner };
                    if let Err(e) = db.compact_head() {
                        tracing::error!(error = %e, "head compaction failed");
                        db.inner
                            .metrics
                            .compaction_failures
                            .fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        match spawned {
            Ok(h) => {
                *self.inner.compact_tx.lock() = Some(tx);
                *self.inner.compactor.lock() = Some(h);
            }
            Err(e) => tracing::warn!(
                error = %e,
                "cannot start the compaction thread; call Db::compact_head explicitly"
            ),
        }
    }

    /// True when the head spans more than 1.5 block durations, as Prometheus'
    /// `Head.compactable`.
    pub fn head_compactable(&self) -> bool {
        let h = &self.inner.head;
        let (min, max) = (h.min_time(), h.max_time());
        min != i64::MAX
            && max != i64::MIN
            && max.saturating_sub(min) > self.inner.opts.block_duration_ms / 2 * 3
    }

    /// Persists the head's oldest block-aligned range `[mint, mint + block duration)` as a
    /// block while the head is compactable, then truncates the head and checkpoints the
    /// WAL. Returns the blocks written. Runs in the background after commits; callable
    /// directly (tests, shutdown).
    pub fn compact_head(&self) -> Result<Vec<BlockMeta>> {
        let _c = self.inner.compact_lock.lock();
        let bd = self.inner.opts.block_duration_ms;
        let head = &self.inner.head;
        let mut written = Vec::new();
        let mut persisted_to = None;
        while self.head_compactable() {
            let mint = head.min_time().div_euclid(bd).saturating_mul(bd);
            let maxt = mint.saturating_add(bd);
            {
                // From here on no commit can add samples below maxt: in-flight commits have
                // finished, later ones validate against the new bound.
                let _g = self.inner.commit_lock.lock();
                head.set_min_valid_time(maxt);
            }
            let series = head.block_series(mint, maxt)?;
            if !series.is_empty() {
                let meta =
                    block::write_block(&self.inner.blocks_dir, mint, maxt, series.into_iter())
                        .map_err(|source| Error::Block {
                            block: format!("new block [{mint}, {maxt})"),
                            source,
                        })?;
                let path = self.inner.blocks_dir.join(meta.ulid.to_string());
                let b = Block::open(&path).map_err(|source| Error::Block {
                    block: meta.ulid.to_string(),
                    source,
                })?;
                tracing::info!(
                    block = %meta.ulid,
                    mint,
                    maxt,
                    series = meta.stats.num_series,
                    samples = meta.stats.num_samples,
                    "head block persisted"
                );
                self.add_block(Arc::new(b));
                written.push(meta);
                self.inner
                    .metrics
                    .head_compactions
                    .fetch_add(1, Ordering::Relaxed);
            }
            // The head's memory is freed block by block; the WAL is checkpointed once
            // after the loop, as Prometheus' `DB.Compact` truncates the WAL once (a head
            // spanning months would otherwise write a checkpoint per block).
            self.truncate_head_memory(maxt);
            persisted_to = Some(maxt);
        }
        if let Some(maxt) = persisted_to {
            self.checkpoint_wal_locked(maxt)?;
        }
        if !written.is_empty() {
            self.compact_blocks_locked()?;
        }
        Ok(written)
    }

    /// Merges persisted blocks into larger ones (leveled: block duration × 3ⁿ, see
    /// `compact::block_ranges`), deletes blocks beyond the time/size retention, and
    /// reloads the block list. Runs after every head compaction.
    pub fn compact_blocks(&self) -> Result<()> {
        let _c = self.inner.compact_lock.lock();
        self.compact_blocks_locked()
    }

    fn compact_blocks_locked(&self) -> Result<()> {
        let dir = &self.inner.blocks_dir;
        let opts = &self.inner.opts;
        let ranges = compact::block_ranges(opts.block_duration_ms, opts.retention_time_ms);
        let merged = compact::compact_data_dir(dir, &ranges).map_err(|source| Error::Compact {
            dir: dir.clone(),
            source,
        })?;
        let (wal_bytes, _) = wal::dir_usage(&self.inner.wal_dir);
        let retention = Retention {
            time: opts.retention_time_ms,
            size: opts.retention_size_bytes,
        };
        let deleted = retention::apply_retention(dir, retention, wal_bytes).map_err(|source| {
            Error::Block {
                block: dir.display().to_string(),
                source,
            }
        })?;
        if !merged.is_empty() || !deleted.is_empty() {
            tracing::info!(
                merged = merged.len(),
                deleted = deleted.len(),
                "blocks compacted and retention applied"
            );
            let blocks = block::open_blocks(dir).map_err(|source| Error::Block {
                block: dir.display().to_string(),
                source,
            })?;
            self.set_blocks(
                blocks
                    .into_iter()
                    .map(|b| Arc::new(b) as Arc<dyn BlockSource>)
                    .collect(),
            );
        }
        Ok(())
    }

    fn signal_compaction(&self) {
        if self.head_compactable() {
            if let Some(tx) = self.inner.compact_tx.lock().as_ref() {
                // Full means a compaction is already queued.
                let _ = tx.try_send(());
            }
        }
    }

    /// First and last WAL segment (after the checkpoint) replayed at open; `None` when
    /// there was nothing to replay.
    pub fn wal_replay_segments(&self) -> Option<(u32, u32)> {
        self.inner.replay_segments
    }

    /// Writes a snapshot into `dir` (created, as a promtui data directory of its own; must
    /// not exist yet): every persisted block,
    /// its files hard-linked (copied when linking fails, e.g. across file systems), and
    /// with `with_head` the head's samples written as one more block
    /// `[head min time, head max time + 1)`. Returns the block ULIDs in the snapshot. No
    /// compaction, retention or deletion runs meanwhile, so every block listed is whole.
    pub fn snapshot(&self, dir: &Path, with_head: bool) -> Result<Vec<String>> {
        let io = |op: &'static str, path: &Path| {
            let path = path.to_path_buf();
            move |source| Error::Io { op, path, source }
        };
        fs::create_dir_all(dir).map_err(io("creating snapshot directory", dir))?;
        // The snapshot is a promtui data directory of its own (marker, empty WAL, blocks),
        // so `--storage.tsdb.path` can point at it directly.
        let blocks_dir = super::layout::prepare(dir)?.blocks();
        let _c = self.inner.compact_lock.lock();
        let mut ids = Vec::new();
        for b in self.blocks() {
            let id = b.id();
            let src = self.inner.blocks_dir.join(&id);
            if !src.is_dir() {
                // Blocks added in memory (tests, imports not yet on disk) have no files.
                continue;
            }
            link_tree(&src, &blocks_dir.join(&id))?;
            ids.push(id);
        }
        if with_head {
            let head = &self.inner.head;
            let (mint, maxt) = (head.min_time(), head.max_time());
            if mint != i64::MAX && maxt != i64::MIN {
                let end = maxt.saturating_add(1);
                let series = head.block_series(mint, end)?;
                if !series.is_empty() {
                    let meta = block::write_block(&blocks_dir, mint, end, series.into_iter())
                        .map_err(|source| Error::Block {
                            block: format!("snapshot of the head [{mint}, {end})"),
                            source,
                        })?;
                    ids.push(meta.ulid.to_string());
                }
            }
        }
        Ok(ids)
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// The directory holding the persisted blocks (`<dir>/promtui-blocks`).
    pub fn blocks_dir(&self) -> &Path {
        &self.inner.blocks_dir
    }

    /// Whether this database was opened with [`Db::open_read_only`].
    pub fn is_read_only(&self) -> bool {
        self.inner.wal.is_none()
    }

    pub fn options(&self) -> &Options {
        &self.inner.opts
    }

    /// The head (for the block writer and tests).
    pub fn head(&self) -> &Arc<Head> {
        &self.inner.head
    }

    /// A new batch appender.
    pub fn appender(&self) -> DbAppender {
        DbAppender::new(self.inner.clone())
    }

    /// Adds a persisted block to what queriers read, and raises the head's oldest
    /// appendable time to its end.
    pub fn add_block(&self, b: Arc<dyn BlockSource>) {
        self.inner.head.set_min_valid_time(b.max_time());
        let mut blocks = self.inner.blocks.write();
        blocks.push(b);
        blocks.sort_by_key(|b| b.min_time());
    }

    /// Blocks currently queried.
    pub fn blocks(&self) -> Vec<Arc<dyn BlockSource>> {
        self.inner.blocks.read().clone()
    }

    /// Replaces the block list (after compaction or retention).
    pub fn set_blocks(&self, blocks: Vec<Arc<dyn BlockSource>>) {
        let mut b = blocks;
        b.sort_by_key(|b| b.min_time());
        *self.inner.blocks.write() = b;
    }

    /// Drops head data before `mint` (rounded down to a multiple of the block duration, so
    /// that whole chunks go and the head equals what the checkpoint keeps), garbage-collects
    /// emptied series and checkpoints the WAL so that the segments written so far are
    /// replaced by the checkpoint.
    pub fn truncate_head(&self, mint: i64) -> Result<TruncateStats> {
        let _c = self.inner.compact_lock.lock();
        self.truncate_head_locked(mint)
    }

    fn truncate_head_locked(&self, mint: i64) -> Result<TruncateStats> {
        let stats = self.truncate_head_memory(mint);
        self.checkpoint_wal_locked(mint)?;
        Ok(stats)
    }

    /// Drops the head's samples below `mint` (rounded down to a block boundary) from
    /// memory; the WAL still holds them until [`Db::checkpoint_wal_locked`].
    fn truncate_head_memory(&self, mint: i64) -> TruncateStats {
        let range = self.inner.opts.block_duration_ms;
        let mint = mint.div_euclid(range).saturating_mul(range);
        let _no_readers = self.inner.isolation.write();
        self.inner.head.truncate(mint)
    }

    /// Cuts the WAL segment and checkpoints everything before it, keeping what is at or
    /// after `mint` (rounded down to a block boundary).
    fn checkpoint_wal_locked(&self, mint: i64) -> Result<()> {
        let range = self.inner.opts.block_duration_ms;
        let mint = mint.div_euclid(range).saturating_mul(range);
        let wal = self.inner.wal()?;
        let last = wal.next_segment()?;
        self.inner.head.checkpoint_wal(wal.dir(), last, mint)?;
        self.inner
            .metrics
            .checkpoints
            .fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Writes a Tombstones record for `stones` (body: `tombstones::encode_wal_stones`) to
    /// the WAL, so that a deletion in the head survives a restart; replay applies it to the
    /// head again and checkpoints keep it.
    pub fn log_tombstones(&self, stones: &[Stone]) -> Result<()> {
        let body = tombstones::encode_wal_stones(stones);
        let mut buf = Vec::with_capacity(body.len() + 16);
        record::encode_tombstones(&mut buf, &body);
        let _g = self.inner.commit_lock.lock();
        self.inner.wal()?.log(&buf)?;
        Ok(())
    }

    /// Deletes the samples of series matching `matchers` in `[mint, maxt]` (inclusive) from
    /// every later querier, durably (Prometheus `DB.Delete`): blocks overlapping the range
    /// get tombstones, the head gets deleted intervals logged to the WAL first. Head
    /// intervals are clamped to each series' samples at this moment, so samples appended
    /// afterwards beyond a series' newest one are visible again, as upstream. At least one
    /// matcher must not match the empty string.
    pub fn delete(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Result<DeleteStats> {
        check_matchers(matchers).map_err(|e| Error::InvalidMatchers {
            reason: e.to_string(),
        })?;
        let mut stats = DeleteStats::default();
        if mint > maxt {
            return Ok(stats);
        }
        // No head range is persisted, no block compacted or replaced meanwhile: a
        // compaction reading tombstones before this delete wrote them would lose them.
        let _c = self.inner.compact_lock.lock();
        let blocks: Vec<Arc<dyn BlockSource>> = self
            .inner
            .blocks
            .read()
            .iter()
            .filter(|b| b.min_time() <= maxt && mint < b.max_time())
            .cloned()
            .collect();
        for b in blocks {
            let n = b
                .delete(matchers, mint, maxt)
                .map_err(|source| Error::Block {
                    block: b.id(),
                    source,
                })?;
            if n > 0 {
                stats.blocks += 1;
                stats.block_series += n;
            }
        }
        let head = &self.inner.head;
        let stones = head.deletion_stones(matchers, mint, maxt);
        if !stones.is_empty() {
            self.log_tombstones(&stones)?;
            head.apply_stones(&stones);
            stats.head_series = stones.len();
        }
        tracing::info!(
            matchers = %matchers.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "),
            mint,
            maxt,
            head_series = stats.head_series,
            blocks = stats.blocks,
            block_series = stats.block_series,
            "series deleted"
        );
        Ok(stats)
    }

    /// Rewrites every block that has tombstones without the deleted samples and swaps
    /// the block list (Prometheus `DB.CleanTombstones`). Returns each rewritten block's
    /// old ULID with its replacement (`None` when nothing was left). Queriers created
    /// before keep reading the old blocks: their index is in memory and their chunk files
    /// stay open after the directories are removed.
    pub fn clean_tombstones(&self) -> Result<Vec<(block::Ulid, Option<BlockMeta>)>> {
        let _c = self.inner.compact_lock.lock();
        let dir = &self.inner.blocks_dir;
        let cleaned = compact::clean_tombstones(dir).map_err(|source| Error::Compact {
            dir: dir.clone(),
            source,
        })?;
        if !cleaned.is_empty() {
            let blocks = block::open_blocks(dir).map_err(|source| Error::Block {
                block: dir.display().to_string(),
                source,
            })?;
            self.set_blocks(
                blocks
                    .into_iter()
                    .map(|b| Arc::new(b) as Arc<dyn BlockSource>)
                    .collect(),
            );
            tracing::info!(blocks = cleaned.len(), "tombstones cleaned");
        }
        Ok(cleaned)
    }

    /// A querier over head and blocks for `[mint, maxt]`. While it lives, the head keeps
    /// the samples of blocks persisted after it was created (see `Inner::isolation`).
    pub fn querier(&self, mint: i64, maxt: i64) -> Box<dyn Querier> {
        // Recursive: a thread may hold several queriers while a truncation waits.
        let guard = self.inner.isolation.read_arc_recursive();
        Box::new(IsolatedQuerier {
            inner: self.querier_unisolated(mint, maxt),
            _guard: guard,
        })
    }

    fn querier_unisolated(&self, mint: i64, maxt: i64) -> Box<dyn Querier> {
        let head: Box<dyn Querier> =
            Box::new(HeadQuerier::new(self.inner.head.clone(), mint, maxt));
        let blocks: Vec<Arc<dyn BlockSource>> = self
            .inner
            .blocks
            .read()
            .iter()
            .filter(|b| b.min_time() <= maxt && mint < b.max_time())
            .cloned()
            .collect();
        if blocks.is_empty() {
            return head;
        }
        let mut qs: Vec<Box<dyn Querier>> = Vec::new();
        let mut errors = Vec::new();
        for b in blocks {
            match b.querier(mint, maxt) {
                Ok(q) => qs.push(q),
                Err(e) => errors.push((b.id(), e)),
            }
        }
        qs.push(head);
        if errors.is_empty() {
            Box::new(MergeQuerier::new(qs))
        } else {
            Box::new(FailingQuerier(errors))
        }
    }

    /// A snapshot of the self-metrics.
    pub fn stats(&self) -> DbStats {
        let h = self.inner.head.metrics();
        let no_wal = wal::WalMetrics::default();
        let w = self.inner.wal.as_ref().map_or(&no_wal, |w| w.metrics());
        let m = &self.inner.metrics;
        let (wal_bytes, wal_segments) = wal::dir_usage(&self.inner.wal_dir);
        let min = self.inner.head.min_time();
        let max = self.inner.head.max_time();
        DbStats {
            head_series: self.inner.head.num_series(),
            head_chunks: h.chunks.load(Ordering::Relaxed).max(0) as u64,
            head_min_time: (min != i64::MAX).then_some(min),
            head_max_time: (max != i64::MIN).then_some(max),
            samples_appended: h.samples_appended.load(Ordering::Relaxed),
            ooo_samples_appended: h.ooo_samples_appended.load(Ordering::Relaxed),
            rejected_out_of_order: h.rejected_out_of_order.load(Ordering::Relaxed),
            rejected_out_of_bounds: h.rejected_out_of_bounds.load(Ordering::Relaxed),
            rejected_duplicate: h.rejected_duplicate.load(Ordering::Relaxed),
            series_created: h.series_created.load(Ordering::Relaxed),
            series_removed: h.series_removed.load(Ordering::Relaxed),
            commits: w.commits.load(Ordering::Relaxed),
            wal_bytes,
            wal_segments,
            wal_fsyncs: w.fsyncs.load(Ordering::Relaxed),
            wal_corruptions: m.wal_corruptions.load(Ordering::Relaxed),
            wal_truncations: m.wal_truncations.load(Ordering::Relaxed),
            replay_duration: Duration::from_nanos(m.replay_nanos.load(Ordering::Relaxed)),
            replay_records: m.replay_records.load(Ordering::Relaxed),
            replay_unknown_refs: m.replay_unknown_refs.load(Ordering::Relaxed),
            checkpoints: m.checkpoints.load(Ordering::Relaxed),
            blocks: self.inner.blocks.read().len(),
            head_compactions: m.head_compactions.load(Ordering::Relaxed),
            compaction_failures: m.compaction_failures.load(Ordering::Relaxed),
        }
    }

    /// Stops the background compaction (waiting for a running one to finish) and fsyncs
    /// the WAL. The directory lock is released when the last clone is dropped; dropping
    /// without `close` while a background compaction runs keeps the lock until it ends.
    pub fn close(self) -> Result<()> {
        drop(self.inner.compact_tx.lock().take());
        let handle = self.inner.compactor.lock().take();
        if let Some(h) = handle {
            if h.join().is_err() {
                tracing::error!("the background compaction thread panicked");
            }
        }
        let _g = self.inner.commit_lock.lock();
        if let Some(w) = &self.inner.wal {
            w.sync()?;
        }
        Ok(())
    }
}

impl Queryable for Db {
    fn querier(&self, mint: i64, maxt: i64) -> std::result::Result<Box<dyn Querier>, QueryError> {
        Ok(Db::querier(self, mint, maxt))
    }
}

/// A querier holding the isolation read lock for its lifetime.
struct IsolatedQuerier {
    inner: Box<dyn Querier>,
    _guard: parking_lot::ArcRwLockReadGuard<parking_lot::RawRwLock, ()>,
}

impl Querier for IsolatedQuerier {
    fn select(&self, matchers: &[Matcher]) -> std::result::Result<Vec<Series>, QueryError> {
        self.inner.select(matchers)
    }
    fn label_names(&self, matchers: &[Matcher]) -> std::result::Result<Vec<String>, QueryError> {
        self.inner.label_names(matchers)
    }
    fn label_values(
        &self,
        name: &str,
        matchers: &[Matcher],
    ) -> std::result::Result<Vec<String>, QueryError> {
        self.inner.label_values(name, matchers)
    }
}

/// Returned when a block could not open a querier: every call reports which.
struct FailingQuerier(Vec<(String, QueryError)>);

impl FailingQuerier {
    fn err(&self) -> QueryError {
        if let [(_, e @ QueryError::Block { .. })] = &self.0[..] {
            return e.clone();
        }
        let msg: Vec<String> = self
            .0
            .iter()
            .map(|(b, e)| match e {
                QueryError::Block { .. } => e.to_string(),
                e => format!("block {b}: {e}"),
            })
            .collect();
        QueryError::Storage(msg.join("; "))
    }
}

impl Querier for FailingQuerier {
    fn select(&self, matchers: &[Matcher]) -> std::result::Result<Vec<Series>, QueryError> {
        check_matchers(matchers)?;
        Err(self.err())
    }
    fn label_names(&self, _: &[Matcher]) -> std::result::Result<Vec<String>, QueryError> {
        Err(self.err())
    }
    fn label_values(&self, _: &str, _: &[Matcher]) -> std::result::Result<Vec<String>, QueryError> {
        Err(self.err())
    }
}

/// Buffers of a commit, reused from commit to commit; they live inside the commit lock,
/// which every commit holds while using them.
#[derive(Default)]
struct CommitScratch {
    refs: Vec<RefSample>,
    buf: Vec<u8>,
}

/// The per-sample buffers of an appender, handed from finished appenders to new ones: a
/// scrape's appender fills a thousand entries or more, and fresh buffers would cost an
/// allocation, a free and cold memory per scrape.
struct BatchBuffers {
    series: Vec<BatchSeries>,
    samples: Vec<BatchSample>,
}

impl BatchBuffers {
    /// Buffers kept for reuse; more are dropped.
    const KEEP: usize = 8;
    /// Entries a kept buffer may hold (a huge batch's buffers are not kept).
    const MAX_KEPT: usize = 1 << 16;
}

/// Source of appender ids (see [`SeriesState::batch`](super::head::series)); 0 is never
/// handed out, so a fresh series is in no batch.
static NEXT_APPENDER_ID: AtomicU32 = AtomicU32::new(1);

fn next_appender_id() -> u32 {
    loop {
        let id = NEXT_APPENDER_ID.fetch_add(1, Ordering::Relaxed);
        if id != 0 {
            return id;
        }
    }
}

/// One series held by a batch.
struct BatchSeries {
    s: Arc<MemSeries>,
    /// Newest in-order sample of this batch for the series (append-time validation).
    overlay: Option<(i64, u64)>,
    /// The same, over the samples the commit accepted so far (commit-time validation).
    commit_overlay: Option<(i64, u64)>,
    /// Index in the batch's samples of the series' last sample; `u32::MAX` when none.
    last_sample: u32,
    /// A Series record must be written for it in this commit.
    needs_log: bool,
    /// Its Series record was in the WAL already when the batch took it (it stays there).
    logged: bool,
}

/// How the commit decided on a sample.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Verdict {
    /// Not validated yet.
    Pending,
    Accepted(Accept),
    Rejected,
}

/// A sample of a batch.
struct BatchSample {
    idx: u32,
    verdict: Verdict,
    /// The append-time verdict.
    how: Accept,
    t: i64,
    v: f64,
}

/// A batch of appends to the database; see the module docs for the commit protocol.
/// Dropping it without commit rolls back.
///
/// Each series of the batch is marked with the appender's id and its index in the batch
/// under the series lock the append takes anyway, so no map by ref is needed (unless
/// several batches hold the series at once: the first one marks it); a series
/// costs two lock round trips per commit: at append (validate, mark pending) and after the
/// WAL write (store and release in one pass). Re-validating at commit takes a third only
/// when the sample was not in order at append, or another commit stored a sample at or
/// after it meanwhile (`MemSeries::last_t`).
pub struct DbAppender {
    inner: Arc<Inner>,
    id: u32,
    series: Vec<BatchSeries>,
    samples: Vec<BatchSample>,
    /// Series of this batch that another batch held already when they were added (so
    /// that batch's mark stays on them): ref → index in `series`.
    shared: hashbrown::HashMap<u64, u32, MixState>,
}

impl DbAppender {
    fn new(inner: Arc<Inner>) -> DbAppender {
        let bufs = inner.batch_buffers.lock().pop();
        let (series, samples) =
            bufs.map_or_else(|| (Vec::new(), Vec::new()), |b| (b.series, b.samples));
        DbAppender {
            inner,
            id: next_appender_id(),
            series,
            samples,
            shared: hashbrown::HashMap::default(),
        }
    }

    /// Releases the batch's series that `commit` did not release already.
    fn release(&mut self) {
        for b in self.series.drain(..) {
            if b.last_sample != RELEASED {
                let mut st = b.s.state.lock();
                st.pending = st.pending.saturating_sub(1);
            }
        }
        self.samples.clear();
        self.shared.clear();
    }

    /// Hands the (released, empty) batch buffers to the next appender.
    fn recycle_buffers(&mut self) {
        let (series, samples) = (
            std::mem::take(&mut self.series),
            std::mem::take(&mut self.samples),
        );
        let cap = series.capacity().max(samples.capacity());
        if cap == 0 || cap > BatchBuffers::MAX_KEPT {
            return;
        }
        let mut pool = self.inner.batch_buffers.lock();
        if pool.len() < BatchBuffers::KEEP {
            pool.push(BatchBuffers { series, samples });
        }
    }

    fn do_commit(&mut self) -> std::result::Result<(), AppendError> {
        let inner = self.inner.clone();
        let head = &inner.head;
        let mut scratch = inner.commit_lock.lock();
        let scratch = &mut *scratch;
        let bounds = head.bounds(false);
        for b in &mut self.series {
            b.commit_overlay = None;
        }
        let mut any_log = false;
        let mut accepted = 0usize;
        for smp in &mut self.samples {
            let b = &mut self.series[smp.idx as usize];
            // An in-order sample stays in order while no commit stored a sample at or after
            // it: the series' newest timestamp, stable under the commit lock, tells without
            // the series lock. (The batch's own earlier samples are older: it validated them
            // in order.)
            if smp.how == Accept::InOrder
                && b.logged
                && smp.t >= bounds.min_valid
                && smp.t > b.s.last_t.load(Ordering::Relaxed)
            {
                b.commit_overlay = Some((smp.t, smp.v.to_bits()));
                smp.verdict = Verdict::Accepted(Accept::InOrder);
                accepted += 1;
                continue;
            }
            let st = b.s.state.lock();
            match st.check(smp.t, smp.v.to_bits(), b.commit_overlay, bounds) {
                Ok(how) => {
                    if how == Accept::InOrder {
                        b.commit_overlay = Some((smp.t, smp.v.to_bits()));
                    }
                    if !st.logged && !b.needs_log {
                        b.needs_log = true;
                        any_log = true;
                    }
                    smp.verdict = Verdict::Accepted(how);
                    accepted += 1;
                }
                // Another batch committed in between; counted like Prometheus does.
                Err(e) => {
                    smp.verdict = Verdict::Rejected;
                    head.metrics().count_rejection(&e);
                }
            }
        }
        // Samples records take about 11 bytes per sample (ref and time deltas, raw value).
        let buf = &mut scratch.buf;
        buf.clear();
        buf.reserve(accepted * 12 + 64);
        if any_log {
            let to_log: Vec<(u64, Labels)> = self
                .series
                .iter()
                .filter(|b| b.needs_log)
                .map(|b| (b.s.sref, head.labels_of(&b.s)))
                .collect();
            record::encode_series(buf, to_log.iter().map(|(r, l)| (*r, l)));
        }
        let refs = &mut scratch.refs;
        refs.clear();
        refs.extend(self.samples.iter().filter_map(|smp| match smp.verdict {
            Verdict::Accepted(Accept::InOrder | Accept::OutOfOrder) => Some(RefSample {
                sref: self.series[smp.idx as usize].s.sref,
                t: smp.t,
                v: smp.v,
            }),
            _ => None,
        }));
        if !refs.is_empty() {
            record::encode_samples(buf, refs);
        }
        let logged = match &inner.wal {
            Some(w) => w
                .log(buf)
                .map_err(|e| AppendError::storage_caused_by("writing the WAL", e)),
            None => Err(AppendError::storage(format!(
                "the database at {} is open read-only",
                inner.dir.display()
            ))),
        };
        // Keep the buffers' memory bounded by what typical commits need.
        if buf.capacity() > 4 << 20 {
            *buf = Vec::new();
        }
        if refs.capacity() > 1 << 16 {
            *refs = Vec::new();
        }
        logged?;
        // One pass over the samples stores them and releases each series at its last
        // sample; series without samples are released by `release`.
        let mut acc = ApplyAcc::default();
        for (k, smp) in self.samples.iter().enumerate() {
            let b = &mut self.series[smp.idx as usize];
            let mut st = b.s.state.lock();
            if let Verdict::Accepted(how) = smp.verdict {
                head.apply(&b.s, &mut st, smp.t, smp.v, how, &mut acc);
            }
            if b.needs_log {
                st.logged = true;
            }
            if b.last_sample == k as u32 {
                st.pending = st.pending.saturating_sub(1);
                drop(st);
                b.last_sample = RELEASED;
            }
        }
        head.flush_acc(&mut acc);
        Ok(())
    }
}

/// `BatchSeries::last_sample` of a series already released by the commit.
const RELEASED: u32 = u32::MAX - 1;

impl DbAppender {
    /// Validates labels and appends by them; returns the series' index in the batch.
    fn append_labels(
        &mut self,
        labels: &Labels,
        t: i64,
        v: f64,
    ) -> std::result::Result<usize, AppendError> {
        if labels.is_empty() {
            return Err(AppendError::InvalidLabels {
                labels: labels.to_string(),
                reason: "empty label set".into(),
            });
        }
        if labels.iter().any(|l| l.name.is_empty()) {
            return Err(AppendError::InvalidLabels {
                labels: labels.to_string(),
                reason: "empty label name".into(),
            });
        }
        let bounds = self.inner.head.bounds(false);
        // If garbage collection removed the series between lookup and lock, look it up
        // again (it is recreated).
        let (idx, check) = loop {
            let (s, _) = self.inner.head.get_or_create(labels, false);
            if let Some(r) = self.add_series(s, t, v, bounds) {
                break r;
            }
        };
        self.finish_append(idx, t, v, check)
    }

    /// Validates the sample against series `s` under one series lock, adding the series to
    /// this batch (marking it pending) when it is new to it. `None` when garbage
    /// collection removed the series.
    fn add_series(
        &mut self,
        s: Arc<MemSeries>,
        t: i64,
        v: f64,
        bounds: Bounds,
    ) -> Option<(usize, std::result::Result<Accept, AppendError>)> {
        let mut st = s.state.lock();
        if st.removed {
            return None;
        }
        let i = st.batch_idx as usize;
        if st.batch == self.id && self.series.get(i).is_some_and(|b| Arc::ptr_eq(&b.s, &s)) {
            return Some((i, st.check(t, v.to_bits(), self.series[i].overlay, bounds)));
        }
        // The mark belongs to the first batch holding the series. Held by other batches
        // too, the series may be in this one without its mark: those are in `shared`.
        let first = st.pending == 0;
        if !first {
            if let Some(&i) = self.shared.get(&s.sref) {
                let i = i as usize;
                return Some((i, st.check(t, v.to_bits(), self.series[i].overlay, bounds)));
            }
        }
        let i = self.series.len();
        let Ok(i32) = u32::try_from(i) else {
            return Some((i, Err(AppendError::storage("too many series in one batch"))));
        };
        st.pending += 1;
        if first {
            st.batch = self.id;
            st.batch_idx = i32;
        } else {
            self.shared.insert(s.sref, i32);
        }
        let check = st.check(t, v.to_bits(), None, bounds);
        let logged = st.logged;
        // The commit writes the sample at the open chunk's end: start loading that line
        // now, so that writing it does not wait for memory with the series locked.
        if let Some(last) = st.open.as_ref().and_then(|c| c.bytes().last()) {
            mem_prefetch::prefetch_write_data::<_, 3>(last);
        }
        drop(st);
        self.series.push(BatchSeries {
            s,
            overlay: None,
            commit_overlay: None,
            last_sample: u32::MAX,
            needs_log: false,
            logged,
        });
        Some((i, check))
    }

    fn finish_append(
        &mut self,
        idx: usize,
        t: i64,
        v: f64,
        check: std::result::Result<Accept, AppendError>,
    ) -> std::result::Result<usize, AppendError> {
        match check {
            Ok(how) => {
                let k = match u32::try_from(self.samples.len()) {
                    Ok(k) if k < RELEASED => k,
                    _ => return Err(AppendError::storage("too many samples in one batch")),
                };
                let b = &mut self.series[idx];
                if how == Accept::InOrder {
                    b.overlay = Some((t, v.to_bits()));
                }
                b.last_sample = k;
                self.samples.push(BatchSample {
                    idx: idx as u32,
                    verdict: Verdict::Pending,
                    how,
                    t,
                    v,
                });
                Ok(idx)
            }
            Err(e) => {
                self.inner.head.metrics().count_rejection(&e);
                Err(e)
            }
        }
    }
}

impl Appender for DbAppender {
    fn append(&mut self, labels: &Labels, t: i64, v: f64) -> std::result::Result<(), AppendError> {
        self.append_labels(labels, t, v).map(|_| ())
    }

    fn append_returning_ref(
        &mut self,
        labels: &Labels,
        t: i64,
        v: f64,
    ) -> std::result::Result<Option<SeriesRef>, AppendError> {
        let idx = self.append_labels(labels, t, v)?;
        Ok(Some(self.series[idx].s.sref))
    }

    fn append_returning_handle(
        &mut self,
        labels: &Labels,
        t: i64,
        v: f64,
    ) -> std::result::Result<(SeriesRef, Option<SeriesHandle>), AppendError> {
        let idx = self.append_labels(labels, t, v)?;
        let s = &self.series[idx].s;
        let handle: SeriesHandle = s.clone();
        Ok((s.sref, Some(handle)))
    }

    fn append_ref(
        &mut self,
        sref: SeriesRef,
        t: i64,
        v: f64,
    ) -> Option<std::result::Result<(), AppendError>> {
        let bounds = self.inner.head.bounds(false);
        // A ref the head no longer knows (garbage-collected, or from before a restart) is
        // the caller's cue to append by labels.
        let s = self.inner.head.get_by_ref(sref)?;
        let (idx, check) = self.add_series(s, t, v, bounds)?;
        Some(self.finish_append(idx, t, v, check).map(|_| ()))
    }

    fn append_handle(
        &mut self,
        handle: &SeriesHandle,
        t: i64,
        v: f64,
    ) -> Option<std::result::Result<(), AppendError>> {
        let s = Arc::clone(handle).downcast::<MemSeries>().ok()?;
        let bounds = self.inner.head.bounds(false);
        let (idx, check) = self.add_series(s, t, v, bounds)?;
        Some(self.finish_append(idx, t, v, check).map(|_| ()))
    }

    fn prefetch_handle(&self, handle: &SeriesHandle) {
        if let Some(s) = (**handle).downcast_ref::<MemSeries>() {
            s.prefetch();
        }
    }

    fn reserve(&mut self, samples: usize) {
        self.series.reserve(samples);
        self.samples.reserve(samples);
    }

    fn commit(&mut self) -> std::result::Result<(), AppendError> {
        let r = if self.samples.is_empty() {
            Ok(())
        } else {
            self.do_commit()
        };
        self.release();
        if r.is_ok() {
            Db {
                inner: self.inner.clone(),
            }
            .signal_compaction();
        }
        r
    }

    fn rollback(&mut self) {
        self.release();
    }
}

impl Drop for DbAppender {
    fn drop(&mut self) {
        self.release();
        self.recycle_buffers();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{is_stale_nan, Sample, STALE_NAN};

    fn l(pairs: &[(&str, &str)]) -> Labels {
        Labels::from_pairs(pairs)
    }

    fn read(db: &Db, m: Matcher) -> Vec<(Labels, Vec<Sample>)> {
        db.querier(i64::MIN, i64::MAX)
            .select(&[m])
            .unwrap()
            .into_iter()
            .map(|mut s| {
                let v = std::iter::from_fn(|| s.samples.next()).collect();
                (s.labels, v)
            })
            .collect()
    }

    #[test]
    fn append_commit_query_reopen() {
        let d = tempfile::tempdir().unwrap();
        let a = l(&[("__name__", "m"), ("i", "a")]);
        {
            let db = Db::open(d.path(), Options::default()).unwrap();
            let mut app = db.appender();
            app.append(&a, 1000, 1.0).unwrap();
            app.append(&a, 2000, STALE_NAN).unwrap();
            assert!(
                read(&db, Matcher::equal("i", "a")).is_empty(),
                "invisible before commit"
            );
            app.commit().unwrap();
            let got = read(&db, Matcher::equal("i", "a"));
            assert_eq!(got.len(), 1);
            assert_eq!(got[0].1.len(), 2);
            db.close().unwrap();
        }
        let db = Db::open(d.path(), Options::default()).unwrap();
        let got = read(&db, Matcher::equal("__name__", "m"));
        assert_eq!(got[0].0, a);
        assert_eq!(got[0].1[0], Sample::new(1000, 1.0));
        assert!(
            is_stale_nan(got[0].1[1].v),
            "stale marker survives replay bit-exactly"
        );
        assert_eq!(db.stats().replay_records, 2);
    }

    #[test]
    fn append_by_ref_and_after_the_series_is_collected() {
        let d = tempfile::tempdir().unwrap();
        let db = Db::open(d.path(), Options::default()).unwrap();
        let a = l(&[("__name__", "m"), ("i", "r")]);
        let mut app = db.appender();
        let r = app.append_returning_ref(&a, 1000, 1.0).unwrap().unwrap();
        assert_eq!(app.append_ref(r, 2000, 2.0), Some(Ok(())));
        assert!(matches!(
            app.append_ref(r, 1500, 2.0),
            Some(Err(AppendError::OutOfOrder { .. }))
        ));
        assert_eq!(app.append_ref(r + 1000, 3000, 1.0), None, "unknown ref");
        app.commit().unwrap();
        // A new batch finds the ref in the head.
        let mut app = db.appender();
        assert_eq!(app.append_ref(r, 3000, 3.0), Some(Ok(())));
        app.commit().unwrap();
        let got = read(&db, Matcher::equal("i", "r"));
        let ts: Vec<i64> = got[0].1.iter().map(|s| s.t).collect();
        assert_eq!(ts, vec![1000, 2000, 3000]);
        // Garbage-collected: the ref is gone, appending by labels gives a new one.
        let range = Options::default().block_duration_ms;
        db.truncate_head(2 * range).unwrap();
        let mut app = db.appender();
        assert_eq!(app.append_ref(r, 3 * range, 4.0), None);
        let r2 = app
            .append_returning_ref(&a, 3 * range, 4.0)
            .unwrap()
            .unwrap();
        assert_ne!(r2, r);
        app.commit().unwrap();
        let got = read(&db, Matcher::equal("i", "r"));
        assert_eq!(got[0].1.last().map(|s| (s.t, s.v)), Some((3 * range, 4.0)));
    }

    /// Batches sharing a series each see their own earlier samples for it, whichever
    /// batch holds the series' mark; and a handle appends like a ref.
    #[test]
    fn interleaved_batches_on_one_series_and_handles() {
        let d = tempfile::tempdir().unwrap();
        let db = Db::open(d.path(), Options::default()).unwrap();
        let a = l(&[("__name__", "m"), ("i", "shared")]);
        let mut first = db.appender();
        let mut second = db.appender();
        let mut third = db.appender();
        let (r, h) = first.append_returning_handle(&a, 1000, 1.0).unwrap();
        let h = h.expect("the TSDB hands out handles");
        assert_eq!(second.append_ref(r, 5000, 5.0), Some(Ok(())));
        assert_eq!(third.append_handle(&h, 7000, 7.0), Some(Ok(())));
        // Each batch validates against its own earlier sample, not the others'.
        assert!(matches!(
            first.append_handle(&h, 1000, 2.0),
            Some(Err(AppendError::DuplicateSampleForTimestamp { t: 1000 }))
        ));
        assert!(matches!(
            second.append(&a, 5000, 6.0),
            Err(AppendError::DuplicateSampleForTimestamp { t: 5000 })
        ));
        assert!(matches!(
            third.append_ref(r, 7000, 8.0),
            Some(Err(AppendError::DuplicateSampleForTimestamp { t: 7000 }))
        ));
        assert_eq!(first.append_handle(&h, 2000, 2.0), Some(Ok(())));
        assert_eq!(second.append_handle(&h, 6000, 6.0), Some(Ok(())));
        first.commit().unwrap();
        // The first batch released the series; the others still hold it.
        assert_eq!(
            h.downcast_ref::<MemSeries>().unwrap().state.lock().pending,
            2
        );
        second.commit().unwrap();
        third.commit().unwrap();
        assert_eq!(
            h.downcast_ref::<MemSeries>().unwrap().state.lock().pending,
            0
        );
        let got = read(&db, Matcher::equal("i", "shared"));
        let ts: Vec<(i64, f64)> = got[0].1.iter().map(|s| (s.t, s.v)).collect();
        assert_eq!(
            ts,
            vec![
                (1000, 1.0),
                (2000, 2.0),
                (5000, 5.0),
                (6000, 6.0),
                (7000, 7.0)
            ]
        );
        // A handle of a collected series is refused; appending by labels gives a new one.
        let range = Options::default().block_duration_ms;
        db.truncate_head(2 * range).unwrap();
        let mut app = db.appender();
        assert_eq!(app.append_handle(&h, 3 * range, 1.0), None);
        let (r2, h2) = app.append_returning_handle(&a, 3 * range, 1.0).unwrap();
        assert_ne!(r2, r);
        assert_eq!(
            app.append_handle(&h2.unwrap(), 3 * range + 1, 2.0),
            Some(Ok(()))
        );
        // Something that is not a series handle is refused too.
        let foreign: SeriesHandle = Arc::new(5u32);
        assert_eq!(app.append_handle(&foreign, 3 * range + 2, 2.0), None);
        app.commit().unwrap();
        let got = read(&db, Matcher::equal("i", "shared"));
        assert_eq!(got[0].1.len(), 2);
    }

    #[test]
    fn commit_revalidates_in_order_samples_another_commit_overtook() {
        let d = tempfile::tempdir().unwrap();
        let a = l(&[("__name__", "m"), ("i", "overtaken")]);
        {
            let db = Db::open(d.path(), Options::default()).unwrap();
            let (_, h) = {
                let mut app = db.appender();
                let r = app.append_returning_handle(&a, 1000, 1.0).unwrap();
                app.commit().unwrap();
                r
            };
            let h = h.unwrap();
            // In order when appended, overtaken by a later sample committed meanwhile:
            // out of order at commit.
            let mut late = db.appender();
            assert_eq!(late.append_handle(&h, 2000, 2.0), Some(Ok(())));
            let mut early = db.appender();
            assert_eq!(early.append_handle(&h, 3000, 3.0), Some(Ok(())));
            early.commit().unwrap();
            late.commit().unwrap();
            // The same timestamp and value committed meanwhile: a duplicate, stored once.
            let mut dup = db.appender();
            assert_eq!(dup.append_handle(&h, 4000, 4.0), Some(Ok(())));
            let mut other = db.appender();
            assert_eq!(other.append_handle(&h, 4000, 4.0), Some(Ok(())));
            other.commit().unwrap();
            dup.commit().unwrap();
            // An older sample committed meanwhile leaves a newer one in order.
            let mut newer = db.appender();
            assert_eq!(newer.append_handle(&h, 6000, 6.0), Some(Ok(())));
            assert_eq!(newer.append_handle(&h, 7000, 7.0), Some(Ok(())));
            let mut older = db.appender();
            assert_eq!(older.append_handle(&h, 5000, 5.0), Some(Ok(())));
            older.commit().unwrap();
            newer.commit().unwrap();
            let s = db.stats();
            assert_eq!(s.rejected_out_of_order, 1);
            assert_eq!(s.samples_appended, 6);
            let want = vec![
                (1000, 1.0),
                (3000, 3.0),
                (4000, 4.0),
                (5000, 5.0),
                (6000, 6.0),
                (7000, 7.0),
            ];
            let got = read(&db, Matcher::equal("i", "overtaken"));
            let ts: Vec<(i64, f64)> = got[0].1.iter().map(|s| (s.t, s.v)).collect();
            assert_eq!(ts, want);
            drop((late, early, dup, other, newer, older));
            db.close().unwrap();
            // The WAL holds exactly what was applied.
            let db = Db::open(d.path(), Options::default()).unwrap();
            let got = read(&db, Matcher::equal("i", "overtaken"));
            let ts: Vec<(i64, f64)> = got[0].1.iter().map(|s| (s.t, s.v)).collect();
            assert_eq!(ts, want);
        }
    }

    #[test]
    fn appenders_reuse_the_buffers_of_finished_ones() {
        let d = tempfile::tempdir().unwrap();
        let db = Db::open(d.path(), Options::default()).unwrap();
        let mut app = DbAppender::new(db.inner.clone());
        for i in 0..100 {
            app.append(&l(&[("i", &i.to_string())]), 1000, 1.0).unwrap();
        }
        app.commit().unwrap();
        drop(app);
        let mut next = DbAppender::new(db.inner.clone());
        assert!(next.series.capacity() >= 100 && next.samples.capacity() >= 100);
        assert!(next.series.is_empty() && next.samples.is_empty());
        // The reused buffers hold nothing of the last batch: the series are released.
        next.append(&l(&[("i", "0")]), 2000, 2.0).unwrap();
        next.commit().unwrap();
        let got = read(&db, Matcher::equal("i", "0"));
        assert_eq!(got[0].1.len(), 2);
        // A rolled-back batch's buffers are reused too, and a fresh appender without
        // pooled buffers starts empty.
        next.rollback();
        drop(next);
        let a = DbAppender::new(db.inner.clone());
        let b = DbAppender::new(db.inner.clone());
        assert!(a.series.capacity() >= 100);
        assert_eq!(b.series.capacity(), 0);
    }

    #[test]
    fn rollback_and_rejections_are_counted() {
        let d = tempfile::tempdir().unwrap();
        let db = Db::open(d.path(), Options::default()).unwrap();
        let a = l(&[("x", "1")]);
        let mut app = db.appender();
        app.append(&a, 10, 1.0).unwrap();
        app.rollback();
        assert!(read(&db, Matcher::equal("x", "1")).is_empty());
        app.append(&a, 10, 1.0).unwrap();
        assert!(matches!(
            app.append(&a, 5, 1.0),
            Err(AppendError::OutOfOrder { t: 5, last: 10 })
        ));
        assert!(matches!(
            app.append(&a, 10, 2.0),
            Err(AppendError::DuplicateSampleForTimestamp { t: 10 })
        ));
        app.append(&a, 10, 1.0).unwrap();
        app.commit().unwrap();
        let s = db.stats();
        assert_eq!(s.rejected_out_of_order, 1);
        assert_eq!(s.rejected_duplicate, 1);
        assert_eq!(s.samples_appended, 1);
        assert_eq!(s.head_series, 1);
        assert!(matches!(
            db.appender().append(&Labels::empty(), 1, 1.0),
            Err(AppendError::InvalidLabels { .. })
        ));
    }

    #[test]
    fn head_deletion_survives_restart_and_checkpoint() {
        let d = tempfile::tempdir().unwrap();
        let a = l(&[("__name__", "m"), ("i", "a")]);
        let b = l(&[("__name__", "m"), ("i", "b")]);
        {
            let db = Db::open(d.path(), Options::default()).unwrap();
            let mut app = db.appender();
            for t in 0..10 {
                app.append(&a, t * 1000, t as f64).unwrap();
                app.append(&b, t * 1000, t as f64).unwrap();
            }
            app.commit().unwrap();
            let st = db.delete(&[Matcher::equal("i", "a")], 2000, 4000).unwrap();
            assert_eq!(st.head_series, 1);
            db.truncate_head(0).unwrap();
            db.delete(&[Matcher::equal("i", "b")], 8000, i64::MAX)
                .unwrap();
            // Appended after the delete, past the series' newest sample: visible.
            let mut app = db.appender();
            app.append(&b, 20_000, 1.0).unwrap();
            app.commit().unwrap();
        }
        let db = Db::open(d.path(), Options::default()).unwrap();
        let got = read(&db, Matcher::equal("__name__", "m"));
        let ts = |i: usize| got[i].1.iter().map(|s| s.t).collect::<Vec<_>>();
        assert_eq!(ts(0), vec![0, 1000, 5000, 6000, 7000, 8000, 9000]);
        assert_eq!(
            ts(1),
            vec![0, 1000, 2000, 3000, 4000, 5000, 6000, 7000, 20_000]
        );
        assert!(matches!(
            db.delete(&[Matcher::equal("i", "")], 0, 1),
            Err(Error::InvalidMatchers { .. })
        ));
    }

    #[test]
    fn garbage_collection_racing_appenders_loses_nothing() {
        let d = tempfile::tempdir().unwrap();
        let db = Db::open(d.path(), Options::default()).unwrap();
        let stop = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|sc| {
            // Collects every empty series (new ones are empty until their commit applies).
            sc.spawn(|| {
                while !stop.load(Ordering::Relaxed) {
                    db.head().truncate(0);
                }
            });
            sc.spawn(|| {
                for b in 0..200 {
                    let mut app = db.appender();
                    for s in 0..20 {
                        let lbl = l(&[("b", &b.to_string()), ("s", &s.to_string())]);
                        app.append(&lbl, 1000 + s, 1.0).unwrap();
                    }
                    app.commit().unwrap();
                }
                stop.store(true, Ordering::Relaxed);
            });
        });
        let got = db
            .querier(0, i64::MAX)
            .select(&[Matcher::new(crate::model::MatchOp::RegexMatch, "b", ".+").unwrap()])
            .unwrap();
        assert_eq!(got.len(), 200 * 20, "every committed series is queryable");
        assert_eq!(db.stats().samples_appended, 200 * 20);
        drop(db);
        let db = Db::open(d.path(), Options::default()).unwrap();
        assert_eq!(db.stats().samples_appended, 200 * 20, "and survives replay");
    }

    #[test]
    fn a_long_head_is_persisted_with_one_wal_checkpoint() {
        let d = tempfile::tempdir().unwrap();
        let db = Db::open(d.path(), opts_small()).unwrap();
        let mut app = db.appender();
        let lbl = l(&[("__name__", "m")]);
        // 40 block ranges of data in one commit.
        for i in 0..400 {
            app.append(&lbl, i * 1000, i as f64).unwrap();
        }
        app.commit().unwrap();
        drop(app);
        db.compact_head().unwrap();
        let st = db.stats();
        assert!(st.head_compactions >= 30, "{st:?}");
        assert_eq!(st.checkpoints, 1, "one checkpoint for the whole cycle");
        db.close().unwrap();
        let db = Db::open(d.path(), opts_small()).unwrap();
        let got = db
            .querier(0, i64::MAX)
            .select(&[Matcher::equal("__name__", "m")])
            .unwrap();
        let n = got
            .into_iter()
            .map(|mut s| std::iter::from_fn(|| s.samples.next()).count())
            .sum::<usize>();
        assert_eq!(n, 400, "nothing lost across the single checkpoint");
    }

    fn opts_small() -> Options {
        Options {
            block_duration_ms: 10_000,
            ..Options::default()
        }
    }

    #[test]
    fn half_deleted_block_directories_are_removed_at_open() {
        let d = tempfile::tempdir().unwrap();
        Db::open(d.path(), Options::default())
            .unwrap()
            .close()
            .unwrap();
        let blocks = d.path().join(super::super::layout::BLOCKS_DIR);
        let ulid = block::Ulid::new().to_string();
        let half = blocks.join(&ulid);
        std::fs::create_dir_all(half.join(block::CHUNKS_DIRNAME)).unwrap();
        std::fs::write(half.join(block::META_FILENAME), b"{}").unwrap();
        let unrelated = blocks.join("not-a-block");
        std::fs::create_dir_all(&unrelated).unwrap();
        let db = Db::open(d.path(), Options::default()).unwrap();
        assert!(!half.exists(), "block without index removed");
        assert!(unrelated.exists(), "other directories untouched");
        assert_eq!(db.stats().blocks, 0);
    }

    #[test]
    fn second_open_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let _db = Db::open(d.path(), Options::default()).unwrap();
        let err = Db::open(d.path(), Options::default()).err().unwrap();
        assert!(matches!(err, Error::Locked { .. }), "{err}");
        assert!(err.to_string().contains("in use by another process"));
    }

    #[test]
    fn db_is_send_sync_and_appenders_work_across_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Db>();
        fn assert_send<T: Send>() {}
        assert_send::<DbAppender>();
        let d = tempfile::tempdir().unwrap();
        let db = Db::open(d.path(), Options::default()).unwrap();
        std::thread::scope(|sc| {
            for th in 0..4 {
                let db = db.clone();
                sc.spawn(move || {
                    for b in 0..50 {
                        let mut app = db.appender();
                        for s in 0..20 {
                            let lbl = l(&[("s", &s.to_string()), ("th", &th.to_string())]);
                            app.append(&lbl, b * 1000, b as f64).unwrap();
                        }
                        app.commit().unwrap();
                    }
                });
            }
        });
        assert_eq!(db.stats().head_series, 80);
        assert_eq!(db.stats().samples_appended, 80 * 50);
        drop(db);
        let db = Db::open(d.path(), Options::default()).unwrap();
        assert_eq!(db.stats().head_series, 80);
        assert_eq!(db.stats().samples_appended, 80 * 50);
    }
}
