//! Full head chunks: packed into shared blocks as they close, and written out of the heap
//! into files under `promtui-head-chunks/`.
//!
//! A head series closes a chunk every 120 samples and keeps it until head compaction (1-3
//! hours): at a 1 s interval that is ~30 chunks an hour, several times what everything
//! else of the series costs. Prometheus writes full head chunks to `chunks_head/` and
//! memory-maps them. Here a closing chunk's bytes are copied into the head's current
//! [`ChunkBlock`] (one buffer of up to [`BLOCK_BYTES`] shared by every series,
//! [`ChunkBlocks::push`]); the series keeps a (block, offset, length) reference. A full
//! block is sealed, and a background pass writes sealed blocks to the current spill file
//! and drops their memory; the references stay valid, as a block knows where its bytes
//! went. Queries and compaction read a chunk with a copy out of the block's memory or one
//! positioned read (page-cache hits for recent data).
//!
//! Why blocks rather than one allocation per chunk: the chunks of all series close at
//! about the same time (same scrape timestamps) and leave the heap together a little
//! later, so per-chunk allocations left size-class pages of the allocator partly used
//! by whatever was allocated between them, and resident memory grew by half again the
//! live heap. A block is one large allocation, freed whole.
//!
//! The samples stay in the WAL, so the files are only a cache of the heap: they are not
//! fsynced, and the directory is emptied when the database opens (replay rebuilds the
//! chunks and the pass writes them out again). A file takes the blocks of one stretch of
//! wall-clock time ([`FILE_SPAN`], at most [`FILE_BYTES`]), so its chunks cover about the
//! same sample times, and is deleted when the last chunk in it is dropped (head
//! truncation after compaction drops chunks of one time range).

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use parking_lot::{Mutex, RwLock};

/// How often the background pass looks for sealed blocks.
pub const SPILL_POLL: Duration = Duration::from_millis(500);

/// Largest block: full chunks are packed until the next one does not fit.
pub const BLOCK_BYTES: usize = 1 << 20;

/// A block's first buffer; it doubles up to [`BLOCK_BYTES`], so a head that closes few
/// chunks holds little.
const BLOCK_START_BYTES: usize = 16 << 10;

/// The background pass starts a new file after this much wall-clock time...
pub const FILE_SPAN: Duration = Duration::from_secs(300);

/// ... or this many bytes.
pub const FILE_BYTES: u64 = 256 << 20;

/// Errors of writing or reading spilled chunks.
#[derive(Debug, thiserror::Error)]
pub enum SpillError {
    #[error("head chunk directory {}: {source}", .path.display())]
    Dir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("writing head chunk file {}: {source}", .path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("reading {len} bytes at offset {off} of head chunk file {}: {source}", .path.display())]
    Read {
        path: PathBuf,
        off: u64,
        len: u32,
        source: std::io::Error,
    },
}

/// One file of spilled blocks; deleted when dropped (when no chunk refers to it).
#[derive(Debug)]
pub struct SpillFile {
    path: PathBuf,
    file: File,
}

impl Drop for SpillFile {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_file(&self.path) {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(path = %self.path.display(), error = %e, "cannot remove head chunk file");
            }
        }
    }
}

/// Where a block's bytes are.
#[derive(Debug)]
enum BlockStore {
    Mem(Vec<u8>),
    File { file: Arc<SpillFile>, base: u64 },
}

/// Full chunks of many series, one after another.
#[derive(Debug)]
pub struct ChunkBlock {
    store: RwLock<BlockStore>,
}

impl ChunkBlock {
    fn new() -> Self {
        ChunkBlock {
            store: RwLock::new(BlockStore::Mem(Vec::with_capacity(BLOCK_START_BYTES))),
        }
    }

    /// Heap bytes held (0 once written out).
    fn heap_bytes(&self) -> usize {
        match &*self.store.read() {
            BlockStore::Mem(v) => v.capacity(),
            BlockStore::File { .. } => 0,
        }
    }
}

/// One full chunk's bytes: a stretch of a [`ChunkBlock`].
#[derive(Clone, Debug)]
pub struct ChunkData {
    block: Arc<ChunkBlock>,
    off: u32,
    len: u32,
}

impl ChunkData {
    /// Encoded length.
    pub fn len(&self) -> usize {
        self.len as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// True while the bytes are on the heap (the block not yet written out).
    pub fn in_memory(&self) -> bool {
        matches!(&*self.block.store.read(), BlockStore::Mem(_))
    }

    /// The bytes: copied out of the block, or read back from its file.
    pub fn load(&self) -> Result<Arc<[u8]>, SpillError> {
        let (off, len) = (self.off as usize, self.len as usize);
        match &*self.block.store.read() {
            BlockStore::Mem(v) => Ok(Arc::from(&v[off..off + len])),
            BlockStore::File { file, base } => {
                let mut buf = vec![0u8; len];
                let at = base + u64::from(self.off);
                file.file
                    .read_exact_at(&mut buf, at)
                    .map_err(|source| SpillError::Read {
                        path: file.path.clone(),
                        off: at,
                        len: self.len,
                        source,
                    })?;
                Ok(Arc::from(buf))
            }
        }
    }
}

/// The head's block writer: the block full chunks are packed into now, and the sealed
/// blocks not yet written out.
#[derive(Debug, Default)]
pub struct ChunkBlocks {
    current: Mutex<Option<Arc<ChunkBlock>>>,
    /// Sealed blocks waiting for the pass; weak, so truncation frees a block that was
    /// never written (heads without a spill directory).
    sealed: Mutex<Vec<Weak<ChunkBlock>>>,
    sealed_bytes: AtomicUsize,
}

impl ChunkBlocks {
    /// Copies a full chunk's bytes into the current block (sealing it first when they do
    /// not fit) and returns the reference to them.
    pub fn push(&self, bytes: &[u8]) -> ChunkData {
        let len = bytes.len().min(BLOCK_BYTES);
        let bytes = &bytes[..len];
        let mut cur = self.current.lock();
        let fits = |b: &ChunkBlock| match &*b.store.read() {
            BlockStore::Mem(v) => v.len() + len <= BLOCK_BYTES,
            BlockStore::File { .. } => false,
        };
        if cur.as_deref().is_some_and(|b| !fits(b)) {
            self.seal(cur.take());
        }
        let block = cur.get_or_insert_with(|| Arc::new(ChunkBlock::new()));
        let mut store = block.store.write();
        let BlockStore::Mem(v) = &mut *store else {
            unreachable!("the current block is in memory");
        };
        if v.capacity() < v.len() + len {
            let want = (v.capacity() * 2).clamp(v.len() + len, BLOCK_BYTES);
            v.reserve_exact(want - v.len());
        }
        let off = v.len() as u32;
        v.extend_from_slice(bytes);
        drop(store);
        ChunkData {
            block: block.clone(),
            off,
            len: len as u32,
        }
    }

    fn seal(&self, block: Option<Arc<ChunkBlock>>) {
        if let Some(b) = block {
            let bytes = b.heap_bytes();
            let mut sealed = self.sealed.lock();
            if sealed.len() >= 1024 {
                sealed.retain(|w| w.strong_count() > 0);
            }
            sealed.push(Arc::downgrade(&b));
            self.sealed_bytes.fetch_add(bytes, Ordering::Relaxed);
        }
    }

    /// Seals the current block (a full pass writes it out too).
    pub fn seal_current(&self) {
        let b = self.current.lock().take();
        self.seal(b);
    }

    /// Bytes of sealed blocks waiting to be written out.
    pub fn sealed_bytes(&self) -> usize {
        self.sealed_bytes.load(Ordering::Relaxed)
    }

    /// Heap bytes of every block still in memory (the current one included).
    pub fn heap_bytes(&self) -> usize {
        let cur = self
            .current
            .lock()
            .as_deref()
            .map_or(0, ChunkBlock::heap_bytes);
        cur + self
            .sealed
            .lock()
            .iter()
            .filter_map(Weak::upgrade)
            .map(|b| b.heap_bytes())
            .sum::<usize>()
    }

    /// Writes every sealed block to `dir`'s current file (a new one when `new_file`) and
    /// frees its memory; returns the heap bytes released. Blocks not written after an
    /// error wait for the next pass.
    pub fn write_sealed(&self, dir: &SpillDir, new_file: bool) -> Result<usize, SpillError> {
        let pending = std::mem::take(&mut *self.sealed.lock());
        self.sealed_bytes.store(0, Ordering::Relaxed);
        let mut blocks = pending.iter().filter_map(Weak::upgrade).peekable();
        if blocks.peek().is_none() {
            return Ok(0);
        }
        let mut out = dir.out.lock();
        if new_file {
            *out = None;
        }
        let mut released = 0;
        let mut left = Vec::new();
        let mut failed = None;
        for b in blocks {
            if failed.is_some() {
                left.push(Arc::downgrade(&b));
                continue;
            }
            match dir.write_block(&mut out, &b) {
                Ok(n) => released += n,
                Err(e) => {
                    left.push(Arc::downgrade(&b));
                    failed = Some(e);
                }
            }
        }
        if !left.is_empty() {
            let bytes: usize = left
                .iter()
                .filter_map(Weak::upgrade)
                .map(|b| b.heap_bytes())
                .sum();
            self.sealed.lock().extend(left);
            self.sealed_bytes.fetch_add(bytes, Ordering::Relaxed);
        }
        match failed {
            Some(e) => Err(e),
            None => Ok(released),
        }
    }
}

/// The file blocks are being appended to.
#[derive(Debug)]
struct OutFile {
    file: Arc<SpillFile>,
    written: u64,
    opened: Instant,
}

/// The directory of spill files and the file being written.
#[derive(Debug)]
pub struct SpillDir {
    dir: PathBuf,
    next: AtomicU64,
    out: Mutex<Option<OutFile>>,
}

impl SpillDir {
    /// Opens `dir`, creating it and deleting whatever an earlier run left there.
    pub fn open(dir: &Path) -> Result<SpillDir, SpillError> {
        let err = |source| SpillError::Dir {
            path: dir.to_path_buf(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(err)?;
        for entry in std::fs::read_dir(dir).map_err(err)? {
            let p = entry.map_err(err)?.path();
            if p.is_file() {
                std::fs::remove_file(&p).map_err(err)?;
            }
        }
        Ok(SpillDir {
            dir: dir.to_path_buf(),
            next: AtomicU64::new(1),
            out: Mutex::new(None),
        })
    }

    fn new_file(&self) -> Result<OutFile, SpillError> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let path = self.dir.join(format!("{n:08}"));
        let file = std::fs::OpenOptions::new()
            .create_new(true)
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|source| SpillError::Write {
                path: path.clone(),
                source,
            })?;
        Ok(OutFile {
            file: Arc::new(SpillFile { path, file }),
            written: 0,
            opened: Instant::now(),
        })
    }

    /// Appends a sealed block's bytes to the current file (starting a new one when it is
    /// old or big) and points the block at them; returns the heap bytes released.
    fn write_block(
        &self,
        out: &mut Option<OutFile>,
        block: &ChunkBlock,
    ) -> Result<usize, SpillError> {
        if out
            .as_ref()
            .is_none_or(|o| o.opened.elapsed() >= FILE_SPAN || o.written >= FILE_BYTES)
        {
            *out = Some(self.new_file()?);
        }
        let Some(o) = out.as_mut() else {
            unreachable!("opened above")
        };
        let base = o.written;
        {
            let store = block.store.read();
            let BlockStore::Mem(v) = &*store else {
                return Ok(0);
            };
            o.file
                .file
                .write_all_at(v, base)
                .map_err(|source| SpillError::Write {
                    path: o.file.path.clone(),
                    source,
                })?;
            o.written += v.len() as u64;
        }
        let old = std::mem::replace(
            &mut *block.store.write(),
            BlockStore::File {
                file: o.file.clone(),
                base,
            },
        );
        Ok(match old {
            BlockStore::Mem(v) => v.capacity(),
            BlockStore::File { .. } => 0,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_read_back_from_memory_and_from_the_file_which_goes_with_its_last_chunk() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("hc");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("00000007"), b"left over").unwrap();
        let spill = SpillDir::open(&dir).unwrap();
        assert_eq!(
            std::fs::read_dir(&dir).unwrap().count(),
            0,
            "emptied on open"
        );
        let blocks = ChunkBlocks::default();
        let a = blocks.push(b"first chunk");
        let b = blocks.push(b"second");
        assert_eq!(&a.load().unwrap()[..], b"first chunk");
        assert!(a.in_memory() && b.in_memory());
        assert_eq!(blocks.heap_bytes(), BLOCK_START_BYTES);
        assert_eq!(
            blocks.write_sealed(&spill, false).unwrap(),
            0,
            "nothing sealed"
        );
        blocks.seal_current();
        assert_eq!(blocks.sealed_bytes(), BLOCK_START_BYTES);
        assert_eq!(
            blocks.write_sealed(&spill, false).unwrap(),
            BLOCK_START_BYTES
        );
        assert_eq!((blocks.heap_bytes(), blocks.sealed_bytes()), (0, 0));
        assert!(!a.in_memory());
        assert_eq!(&a.load().unwrap()[..], b"first chunk");
        assert_eq!(&b.load().unwrap()[..], b"second");
        assert_eq!(a.len(), 11);
        // The next block goes into the same file (same span of time), at its end.
        let c = blocks.push(b"third");
        blocks.seal_current();
        blocks.write_sealed(&spill, false).unwrap();
        assert_eq!(&c.load().unwrap()[..], b"third");
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
        drop((a, b));
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1, "c still in it");
        drop(c);
        assert_eq!(
            std::fs::read_dir(&dir).unwrap().count(),
            1,
            "the file being written stays"
        );
        let d = blocks.push(b"fourth");
        blocks.seal_current();
        blocks.write_sealed(&spill, true).unwrap();
        assert_eq!(
            std::fs::read_dir(&dir).unwrap().count(),
            1,
            "the first file went with its last chunk once another was started"
        );
        assert_eq!(&d.load().unwrap()[..], b"fourth");
    }

    #[test]
    fn a_full_block_is_sealed_and_a_new_file_is_started_on_request() {
        let d = tempfile::tempdir().unwrap();
        let spill = SpillDir::open(d.path()).unwrap();
        let blocks = ChunkBlocks::default();
        let chunk = vec![7u8; 1000];
        let all: Vec<ChunkData> = (0..2000).map(|_| blocks.push(&chunk)).collect();
        // 1,048 chunks fill the first block; the next starts the second.
        assert_eq!(blocks.sealed_bytes(), BLOCK_BYTES);
        assert!(Arc::ptr_eq(&all[0].block, &all[1047].block));
        assert!(!Arc::ptr_eq(&all[1047].block, &all[1048].block));
        assert_eq!(blocks.write_sealed(&spill, true).unwrap(), BLOCK_BYTES);
        blocks.seal_current();
        blocks.write_sealed(&spill, true).unwrap();
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 2);
        assert!(all.iter().all(|c| !c.in_memory()));
        assert!(all.iter().all(|c| c.load().unwrap()[..] == chunk[..]));
    }

    #[test]
    fn a_block_never_written_is_freed_with_its_chunks() {
        let blocks = ChunkBlocks::default();
        let a = blocks.push(b"abc");
        blocks.seal_current();
        let weak = Arc::downgrade(&a.block);
        drop(a);
        assert!(weak.upgrade().is_none());
        assert_eq!(blocks.heap_bytes(), 0);
    }

    #[test]
    fn a_read_past_the_end_is_an_error_naming_the_file() {
        let d = tempfile::tempdir().unwrap();
        let spill = SpillDir::open(d.path()).unwrap();
        let blocks = ChunkBlocks::default();
        let a = blocks.push(b"abc");
        blocks.seal_current();
        blocks.write_sealed(&spill, false).unwrap();
        let bad = ChunkData {
            block: a.block.clone(),
            off: 2,
            len: 10,
        };
        let e = bad.load().unwrap_err().to_string();
        assert!(e.contains("offset 2") && e.contains("00000001"), "{e}");
    }
}
