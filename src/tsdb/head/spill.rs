//! Full head chunks written out of the heap into files under `promtui-head-chunks/`.
//!
//! A head series closes a chunk every 120 samples and keeps it until head compaction (1-3
//! hours): at a 1 s interval that is ~30 chunks an hour, several times what everything
//! else of the series costs. Prometheus writes full head chunks to `chunks_head/` and
//! memory-maps them; here a background pass ([`super::Head::spill_closed_chunks`], every
//! [`SPILL_INTERVAL`]) writes the chunks closed since the last pass into one new file and
//! swaps each series' in-memory bytes for a (file, offset, length) reference. Queries and
//! compaction read a spilled chunk back with one positioned read (page-cache hits for
//! recent data). The samples stay in the WAL, so the files are only a cache of the heap:
//! they are not fsynced, and the directory is emptied when the database opens (replay
//! rebuilds the chunks in memory and the next pass writes them out again).
//!
//! A file is deleted when the last chunk in it is dropped (head truncation after
//! compaction drops chunks of one time range, which one pass wrote together).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How often the background pass writes out closed chunks.
pub const SPILL_INTERVAL: Duration = Duration::from_secs(30);

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
        off: u32,
        len: u32,
        source: std::io::Error,
    },
}

/// One file of spilled chunks; deleted when dropped (when no chunk refers to it).
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

/// A chunk's bytes: on the heap, or in a spill file.
#[derive(Clone, Debug)]
pub enum ChunkData {
    Mem(Arc<[u8]>),
    Spilled {
        file: Arc<SpillFile>,
        off: u32,
        len: u32,
    },
}

impl ChunkData {
    /// Encoded length.
    pub fn len(&self) -> usize {
        match self {
            ChunkData::Mem(b) => b.len(),
            ChunkData::Spilled { len, .. } => *len as usize,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Heap bytes this reference holds (the bytes themselves only while on the heap).
    pub fn heap_bytes(&self) -> usize {
        match self {
            ChunkData::Mem(b) => 16 + b.len(),
            ChunkData::Spilled { .. } => 0,
        }
    }

    /// The bytes, read back from the file when spilled.
    pub fn load(&self) -> Result<Arc<[u8]>, SpillError> {
        match self {
            ChunkData::Mem(b) => Ok(b.clone()),
            ChunkData::Spilled { file, off, len } => {
                let mut buf = vec![0u8; *len as usize];
                file.file
                    .read_exact_at(&mut buf, u64::from(*off))
                    .map_err(|source| SpillError::Read {
                        path: file.path.clone(),
                        off: *off,
                        len: *len,
                        source,
                    })?;
                Ok(Arc::from(buf))
            }
        }
    }
}

/// The directory of spill files and the writer of one pass.
#[derive(Debug)]
pub struct SpillDir {
    dir: PathBuf,
    next: AtomicU64,
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
        })
    }

    /// Starts a pass: a new file, written through a buffer.
    pub fn writer(&self) -> Result<SpillWriter, SpillError> {
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
        let w = BufWriter::with_capacity(
            1 << 20,
            file.try_clone().map_err(|source| SpillError::Write {
                path: path.clone(),
                source,
            })?,
        );
        Ok(SpillWriter {
            file: Arc::new(SpillFile { path, file }),
            w,
            off: 0,
            full: false,
        })
    }
}

/// Appends chunks to one spill file; [`SpillWriter::finish`] makes them readable.
pub struct SpillWriter {
    file: Arc<SpillFile>,
    w: BufWriter<File>,
    off: u64,
    full: bool,
}

impl SpillWriter {
    /// Appends `bytes`; returns the reference to use once [`finish`](Self::finish)
    /// returned, or `None` when the file is full (4 GiB: offsets are 32-bit).
    pub fn append(&mut self, bytes: &[u8]) -> Result<Option<ChunkData>, SpillError> {
        let (Ok(off), Ok(len)) = (u32::try_from(self.off), u32::try_from(bytes.len())) else {
            return Ok(None);
        };
        if u32::try_from(self.off + bytes.len() as u64).is_err() {
            self.full = true;
            return Ok(None);
        }
        self.w
            .write_all(bytes)
            .map_err(|source| SpillError::Write {
                path: self.file.path.clone(),
                source,
            })?;
        self.off += bytes.len() as u64;
        Ok(Some(ChunkData::Spilled {
            file: self.file.clone(),
            off,
            len,
        }))
    }

    /// True once an append did not fit.
    pub fn is_full(&self) -> bool {
        self.full
    }

    /// Bytes appended so far.
    pub fn written(&self) -> u64 {
        self.off
    }

    /// Flushes the buffer to the file (no fsync: the WAL holds the samples).
    pub fn finish(mut self) -> Result<(), SpillError> {
        self.w.flush().map_err(|source| SpillError::Write {
            path: self.file.path.clone(),
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_chunks_read_back_and_the_file_goes_with_its_last_chunk() {
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
        let mut w = spill.writer().unwrap();
        let a = w.append(b"first chunk").unwrap().unwrap();
        let b = w.append(b"second").unwrap().unwrap();
        assert_eq!(w.written(), 17);
        w.finish().unwrap();
        assert_eq!(&a.load().unwrap()[..], b"first chunk");
        assert_eq!(&b.load().unwrap()[..], b"second");
        assert_eq!((a.len(), a.heap_bytes()), (11, 0));
        let mem = ChunkData::Mem(Arc::from(&b"xy"[..]));
        assert_eq!((mem.len(), mem.heap_bytes()), (2, 18));
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
        drop(a);
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1, "b still in it");
        drop(b);
        assert_eq!(
            std::fs::read_dir(&dir).unwrap().count(),
            0,
            "deleted with its last chunk"
        );
    }

    #[test]
    fn a_read_past_the_end_is_an_error_naming_the_file() {
        let d = tempfile::tempdir().unwrap();
        let spill = SpillDir::open(d.path()).unwrap();
        let mut w = spill.writer().unwrap();
        let a = w.append(b"abc").unwrap().unwrap();
        w.finish().unwrap();
        let ChunkData::Spilled { file, .. } = &a else {
            panic!("spilled")
        };
        let bad = ChunkData::Spilled {
            file: file.clone(),
            off: 2,
            len: 10,
        };
        let e = bad.load().unwrap_err().to_string();
        assert!(e.contains("offset 2") && e.contains("00000001"), "{e}");
    }
}
