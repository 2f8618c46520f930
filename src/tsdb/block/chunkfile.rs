//! Chunk segment files (`chunks/000001`, ...): the encoded chunks of a block, one record
//! per chunk, addressed by a 64-bit reference (segment number << 32 | byte offset).
//! Format: docs/format/block.md. Mirrors Prometheus `tsdb/chunks` (segment files with a
//! header and CRC-32C per chunk), read with positioned reads instead of mmap.

use std::cell::RefCell;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::encoding::Decbuf;
use super::{io_err, BlockError};
use crate::tsdb::chunkenc::Encoding;
use crate::tsdb::chunks::ChunkMeta;

/// "PTCH": promtui chunk segment.
pub(crate) const MAGIC_CHUNKS: u32 = 0x5054_4348;
pub(crate) const CHUNKS_VERSION: u8 = 1;
/// Magic, version and three zero bytes.
pub(crate) const SEGMENT_HEADER: u64 = 8;
/// A new segment starts before a chunk would take a segment past this size.
pub(crate) const MAX_SEGMENT_SIZE: u64 = 512 << 20;

/// File name of segment `seq` (1-based).
pub(crate) fn segment_name(seq: u32) -> String {
    format!("{seq:06}")
}

/// Writes chunk records into numbered segments.
pub(crate) struct ChunkWriter {
    dir: PathBuf,
    seq: u32,
    file: Option<(PathBuf, BufWriter<File>)>,
    offset: u64,
    done: Vec<PathBuf>,
}

impl ChunkWriter {
    pub(crate) fn new(dir: &Path) -> Result<Self, BlockError> {
        std::fs::create_dir_all(dir).map_err(io_err(dir, "create directory"))?;
        Ok(ChunkWriter {
            dir: dir.to_path_buf(),
            seq: 0,
            file: None,
            offset: 0,
            done: Vec::new(),
        })
    }

    fn cut(&mut self) -> Result<(), BlockError> {
        self.finish_segment()?;
        self.seq += 1;
        let path = self.dir.join(segment_name(self.seq));
        let f = File::create(&path).map_err(io_err(&path, "create"))?;
        let mut w = BufWriter::with_capacity(1 << 20, f);
        let mut hdr = [0u8; SEGMENT_HEADER as usize];
        hdr[..4].copy_from_slice(&MAGIC_CHUNKS.to_be_bytes());
        hdr[4] = CHUNKS_VERSION;
        w.write_all(&hdr).map_err(io_err(&path, "write"))?;
        self.file = Some((path, w));
        self.offset = SEGMENT_HEADER;
        Ok(())
    }

    fn finish_segment(&mut self) -> Result<(), BlockError> {
        if let Some((path, w)) = self.file.take() {
            let f = w
                .into_inner()
                .map_err(|e| io_err(&path, "flush")(e.into_error()))?;
            f.sync_all().map_err(io_err(&path, "fsync"))?;
            self.done.push(path);
        }
        Ok(())
    }

    /// Appends one chunk record and returns its reference.
    pub(crate) fn write(&mut self, enc: Encoding, data: &[u8]) -> Result<u64, BlockError> {
        let mut hdr = [0u8; 11];
        hdr[0] = enc as u8;
        let mut n = 1;
        let mut len = data.len() as u64;
        while len >= 0x80 {
            hdr[n] = (len as u8) | 0x80;
            len >>= 7;
            n += 1;
        }
        hdr[n] = len as u8;
        n += 1;
        let rec = (n + data.len() + 4) as u64;
        if self.file.is_none()
            || (self.offset + rec > MAX_SEGMENT_SIZE && self.offset > SEGMENT_HEADER)
        {
            self.cut()?;
        }
        let mut crc = crc32c::crc32c(&hdr[..1]);
        crc = crc32c::crc32c_append(crc, data);
        let r = (u64::from(self.seq) << 32) | self.offset;
        if let Some((path, w)) = self.file.as_mut() {
            w.write_all(&hdr[..n]).map_err(io_err(path, "write"))?;
            w.write_all(data).map_err(io_err(path, "write"))?;
            w.write_all(&crc.to_be_bytes())
                .map_err(io_err(path, "write"))?;
        }
        self.offset += rec;
        Ok(r)
    }

    /// Flushes and fsyncs every segment.
    pub(crate) fn finish(mut self) -> Result<(), BlockError> {
        self.finish_segment()
    }
}

/// Positioned read of exactly `buf.len()` bytes at `off`.
fn read_at(f: &File, buf: &mut [u8], off: u64) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileExt;
        f.read_exact_at(buf, off)
    }
    #[cfg(windows)]
    {
        use std::os::windows::fs::FileExt;
        let mut done = 0;
        while done < buf.len() {
            let n = f.seek_read(&mut buf[done..], off + done as u64)?;
            if n == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            done += n;
        }
        Ok(())
    }
}

struct Segment {
    path: PathBuf,
    file: File,
    len: u64,
}

/// Reads chunk records by reference with positioned reads; files stay open, nothing is
/// loaded up front.
pub(crate) struct ChunkReader {
    segments: Vec<Segment>,
    total_bytes: u64,
}

impl ChunkReader {
    /// Opens `chunks/` and checks each segment's header. Segments must be numbered
    /// 000001.. without gaps.
    pub(crate) fn open(dir: &Path) -> Result<Self, BlockError> {
        let mut names: Vec<(u32, PathBuf)> = Vec::new();
        for e in std::fs::read_dir(dir).map_err(io_err(dir, "read directory"))? {
            let e = e.map_err(io_err(dir, "read directory"))?;
            let p = e.path();
            let Some(seq) = p
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.parse::<u32>().ok())
            else {
                continue;
            };
            names.push((seq, p));
        }
        names.sort();
        let mut segments = Vec::with_capacity(names.len());
        let mut total_bytes = 0;
        for (i, (seq, path)) in names.into_iter().enumerate() {
            if seq as usize != i + 1 {
                return Err(BlockError::Corrupt {
                    path,
                    offset: 0,
                    reason: format!("chunk segment {seq} out of sequence (expected {})", i + 1),
                });
            }
            let file = File::open(&path).map_err(io_err(&path, "open"))?;
            let len = file.metadata().map_err(io_err(&path, "stat"))?.len();
            let mut hdr = [0u8; SEGMENT_HEADER as usize];
            if len < SEGMENT_HEADER {
                return Err(BlockError::Corrupt {
                    path,
                    offset: 0,
                    reason: "chunk segment shorter than its header".into(),
                });
            }
            read_at(&file, &mut hdr, 0).map_err(io_err(&path, "read"))?;
            if u32::from_be_bytes([hdr[0], hdr[1], hdr[2], hdr[3]]) != MAGIC_CHUNKS {
                return Err(BlockError::Corrupt {
                    path,
                    offset: 0,
                    reason: "bad chunk segment magic".into(),
                });
            }
            if hdr[4] != CHUNKS_VERSION {
                return Err(BlockError::Corrupt {
                    path,
                    offset: 4,
                    reason: format!("unsupported chunk segment version {}", hdr[4]),
                });
            }
            total_bytes += len;
            segments.push(Segment { path, file, len });
        }
        Ok(ChunkReader {
            segments,
            total_bytes,
        })
    }

    pub(crate) fn total_bytes(&self) -> u64 {
        self.total_bytes
    }

    /// Reads and verifies the chunk at `r`.
    pub(crate) fn read(
        &self,
        r: u64,
        min_time: i64,
        max_time: i64,
    ) -> Result<ChunkMeta, BlockError> {
        let seq = (r >> 32) as usize;
        let off = r & 0xffff_ffff;
        let seg = seq
            .checked_sub(1)
            .and_then(|i| self.segments.get(i))
            .ok_or_else(|| BlockError::Corrupt {
                path: self
                    .segments
                    .first()
                    .map(|s| s.path.clone())
                    .unwrap_or_default(),
                offset: off,
                reason: format!("chunk reference {r:#x} names missing segment {seq}"),
            })?;
        let corrupt = |offset: u64, reason: String| BlockError::Corrupt {
            path: seg.path.clone(),
            offset,
            reason,
        };
        if off < SEGMENT_HEADER || off >= seg.len {
            return Err(corrupt(
                off,
                format!("chunk reference {r:#x} out of bounds"),
            ));
        }
        // One read usually covers header, data and CRC: chunks are small.
        let probe = (seg.len - off).min(SPECULATIVE_READ) as usize;
        READ_BUF.with_borrow_mut(|buf| -> Result<ChunkMeta, BlockError> {
            buf.clear();
            buf.resize(probe, 0);
            read_at(&seg.file, buf, off).map_err(io_err(&seg.path, "read"))?;
            let mut d = Decbuf::new(&buf[..probe.min(11)], off);
            let enc_byte = d.u8().map_err(|e| corrupt(e.offset, e.reason.into()))?;
            let enc = Encoding::from_u8(enc_byte).map_err(|e| corrupt(off, e.to_string()))?;
            let len = d
                .uvarint()
                .map_err(|e| corrupt(e.offset, e.reason.into()))?;
            let data_off = d.offset();
            if len.saturating_add(4) > seg.len - data_off {
                return Err(corrupt(
                    off,
                    format!("chunk length {len} runs past end of file"),
                ));
            }
            let start = (data_off - off) as usize;
            let end = start + len as usize + 4;
            if end > probe {
                buf.resize(end, 0);
                read_at(&seg.file, &mut buf[probe..], off + probe as u64)
                    .map_err(io_err(&seg.path, "read"))?;
            }
            let (data, crc) = buf[start..end].split_at(len as usize);
            let want = u32::from_be_bytes([crc[0], crc[1], crc[2], crc[3]]);
            let got = crc32c::crc32c_append(crc32c::crc32c(&[enc_byte]), data);
            if want != got {
                return Err(corrupt(
                    off,
                    format!("chunk CRC-32C mismatch: stored {want:#010x}, computed {got:#010x}"),
                ));
            }
            Ok(ChunkMeta {
                min_time,
                max_time,
                encoding: enc,
                data: Arc::from(data),
            })
        })
    }
}

/// Bytes read at once for a chunk; most chunks (header, data, CRC) fit.
const SPECULATIVE_READ: u64 = 512;

thread_local! {
    /// Read buffer reused by every chunk read on this thread.
    static READ_BUF: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}
