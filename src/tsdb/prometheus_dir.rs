//! Reads a Prometheus 2.x/3.x data directory, without writing to it, for
//! `promtui tsdb import prometheus`: its persisted blocks (index format 2, chunk segment
//! files, tombstones) and its head as the WAL holds it (checkpoint, then segments).
//!
//! What it reads, after Prometheus' own format documents (`tsdb/docs/format/index.md`,
//! `chunks.md`, `tombstones.md`, `wal.md`) and readers (`tsdb/index/index.go`,
//! `tsdb/chunks/chunks.go`, `tsdb/wlog/reader.go`, `tsdb/record/record.go`):
//!
//! * blocks: every directory named by a ULID with a `meta.json` of version 1, oldest
//!   first; each series of the index's series section (16-byte aligned entries, labels as
//!   symbol-table indices) with its chunks, XOR chunks decoded by promtui's own decoder
//!   (the encodings are the same), tombstoned intervals left out;
//! * the WAL: 32 KiB pages of records cut into full/first/middle/last fragments, each with
//!   a CRC-32C; snappy-compressed records are decompressed (zstd, an option of 3.x, is
//!   reported as unsupported); Series, Samples and Tombstones records are used, the rest
//!   (exemplars, metadata, mmap markers) skipped. Samples older than the newest block's end
//!   are skipped, as Prometheus' replay does. A torn tail of the last segment ends the read
//!   (a running Prometheus may be mid-write).
//!
//! Native histogram chunks and records are counted and skipped: promtui stores float
//! samples. Out-of-order samples in `wbl/` are not read (counted by segment bytes).

use std::collections::HashMap;
use std::fs::{self, File};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::block::encoding::{Decbuf, DecodeError};
use super::chunkenc::xor::XorIterator;
use super::import::{Backfill, ImportError, ImportProgress, ImportReport, SeriesRef};
use crate::model::Labels;

/// Index file magic and the one version read.
const INDEX_MAGIC: u32 = 0xBAAA_D700;
const INDEX_V2: u8 = 2;
/// Chunk segment file magic.
const CHUNKS_MAGIC: u32 = 0x85BD_40DD;
/// Tombstones file magic.
const TOMBSTONES_MAGIC: u32 = 0x0130_BA30;
/// WAL page size and record header size.
const PAGE: usize = 32 * 1024;
const REC_HEADER: usize = 7;

/// Why a Prometheus directory could not be imported.
#[derive(Debug, thiserror::Error)]
pub enum PromDirError {
    #[error("{dir} is not a Prometheus data directory: {reason}")]
    NotPrometheus { dir: PathBuf, reason: String },
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{path}: corrupt at offset {offset}: {reason}")]
    Corrupt {
        path: PathBuf,
        offset: u64,
        reason: String,
    },
    #[error("{path}: {what} is not supported")]
    Unsupported { path: PathBuf, what: String },
    #[error(transparent)]
    Import(#[from] ImportError),
}

type Result<T> = std::result::Result<T, PromDirError>;

fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> PromDirError + 'a {
    move |source| PromDirError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

fn corrupt(path: &Path, e: DecodeError) -> PromDirError {
    PromDirError::Corrupt {
        path: path.to_path_buf(),
        offset: e.offset,
        reason: e.reason.to_string(),
    }
}

/// What was read from the Prometheus directory.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PromReadStats {
    pub blocks: usize,
    pub block_series: u64,
    pub block_samples: u64,
    /// Samples left out because a tombstone deletes them.
    pub deleted_samples: u64,
    pub wal_segments: usize,
    pub wal_series: u64,
    pub wal_samples: u64,
    /// WAL samples older than the newest block's end (already persisted or dropped by
    /// Prometheus itself).
    pub wal_samples_below_blocks: u64,
    /// WAL samples whose series record was not found.
    pub wal_unknown_refs: u64,
    /// Native histogram chunks and WAL records skipped.
    pub histogram_chunks: u64,
    pub histogram_records: u64,
    /// Where a torn WAL tail ended the read: (segment, offset).
    pub torn_tail: Option<(u32, u64)>,
    /// Bytes in `wbl/` (out-of-order samples) not read.
    pub wbl_bytes: u64,
}

/// One persisted block of the source.
struct PromBlock {
    dir: PathBuf,
    min_time: i64,
    max_time: i64,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Meta {
    min_time: i64,
    max_time: i64,
    version: u32,
}

fn is_ulid(name: &str) -> bool {
    name.parse::<super::block::Ulid>().is_ok()
}

/// The blocks of `dir`, oldest first.
fn list_blocks(dir: &Path) -> Result<Vec<PromBlock>> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir).map_err(io_err("listing", dir))? {
        let e = e.map_err(io_err("listing", dir))?;
        let name = e.file_name().to_string_lossy().into_owned();
        let p = e.path();
        if !p.is_dir() || !is_ulid(&name) {
            continue;
        }
        let mp = p.join("meta.json");
        let Ok(bytes) = fs::read(&mp) else {
            // Prometheus treats a block without meta.json as one being deleted.
            tracing::warn!(block = %p.display(), "skipping a block directory without meta.json");
            continue;
        };
        let m: Meta = serde_json::from_slice(&bytes).map_err(|e| PromDirError::Corrupt {
            path: mp.clone(),
            offset: 0,
            reason: e.to_string(),
        })?;
        if m.version != 1 {
            return Err(PromDirError::Unsupported {
                path: mp,
                what: format!("meta.json version {}", m.version),
            });
        }
        out.push(PromBlock {
            dir: p,
            min_time: m.min_time,
            max_time: m.max_time,
        });
    }
    out.sort_by_key(|b| (b.min_time, b.max_time));
    Ok(out)
}

/// Imports every float sample of the Prometheus data directory `src` into `backfill`.
fn read_into<P: FnMut(ImportProgress)>(
    src: &Path,
    backfill: &mut Backfill<'_, P>,
) -> Result<PromReadStats> {
    let wal = src.join("wal");
    let blocks = list_blocks(src)?;
    if blocks.is_empty() && !wal.is_dir() {
        return Err(PromDirError::NotPrometheus {
            dir: src.to_path_buf(),
            reason: "it has neither block directories nor a wal/ directory".into(),
        });
    }
    let mut st = PromReadStats {
        blocks: blocks.len(),
        ..Default::default()
    };
    for b in &blocks {
        read_block(b, backfill, &mut st)?;
    }
    let blocks_max = blocks.iter().map(|b| b.max_time).max().unwrap_or(i64::MIN);
    if wal.is_dir() {
        read_wal(&wal, blocks_max, backfill, &mut st)?;
    }
    let wbl = src.join("wbl");
    if wbl.is_dir() {
        st.wbl_bytes = fs::read_dir(&wbl)
            .map_err(io_err("listing", &wbl))?
            .filter_map(|e| e.ok()?.metadata().ok())
            .map(|m| m.len())
            .sum();
    }
    Ok(st)
}

// ---------------------------------------------------------------------------------------
// Blocks

fn read_block<P: FnMut(ImportProgress)>(
    b: &PromBlock,
    backfill: &mut Backfill<'_, P>,
    st: &mut PromReadStats,
) -> Result<()> {
    let ipath = b.dir.join("index");
    let index = fs::read(&ipath).map_err(io_err("reading", &ipath))?;
    let toc = read_toc(&ipath, &index)?;
    let symbols = read_symbols(&ipath, &index, toc.symbols)?;
    let stones = read_tombstones(&b.dir.join("tombstones"))?;
    let chunks = ChunkFiles::open(&b.dir.join("chunks"))?;
    let end = [
        toc.label_indices,
        toc.label_offsets,
        toc.postings,
        toc.postings_offsets,
    ]
    .into_iter()
    .filter(|&o| o > toc.series)
    .min()
    .unwrap_or(index.len() as u64 - TOC_LEN as u64) as usize;
    let mut pos = toc.series as usize;
    let mut labels: Vec<(String, String)> = Vec::new();
    let mut metas: Vec<(i64, i64, u64)> = Vec::new();
    let mut data = Vec::new();
    loop {
        pos = pos.next_multiple_of(16);
        if pos >= end {
            break;
        }
        let series_ref = (pos / 16) as u64;
        let mut d = Decbuf::new(&index[pos..end], pos as u64);
        let len = d.uvarint().map_err(|e| corrupt(&ipath, e))? as usize;
        if len == 0 {
            break;
        }
        let body_start = pos + (d.offset() as usize - pos);
        let body =
            index
                .get(body_start..body_start + len)
                .ok_or_else(|| PromDirError::Corrupt {
                    path: ipath.clone(),
                    offset: pos as u64,
                    reason: format!("series entry of {len} bytes runs past the series section"),
                })?;
        let crc_at = body_start + len;
        let crc = index
            .get(crc_at..crc_at + 4)
            .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
            .ok_or_else(|| PromDirError::Corrupt {
                path: ipath.clone(),
                offset: crc_at as u64,
                reason: "series entry without its checksum".into(),
            })?;
        if crc32c::crc32c(body) != crc {
            return Err(PromDirError::Corrupt {
                path: ipath.clone(),
                offset: pos as u64,
                reason: "series entry checksum mismatch".into(),
            });
        }
        pos = crc_at + 4;
        decode_series_entry(
            &ipath,
            body,
            body_start as u64,
            &symbols,
            &mut labels,
            &mut metas,
        )?;
        let deleted = stones.get(&series_ref);
        data.clear();
        for &(_, _, cref) in &metas {
            chunks.read(cref, &mut data, st)?;
        }
        let lset = Labels::from_pairs(
            &labels
                .iter()
                .map(|(n, v)| (n.as_str(), v.as_str()))
                .collect::<Vec<_>>(),
        );
        let sref: SeriesRef = backfill.series(lset);
        st.block_series += 1;
        for &(t, v) in &data {
            if t < b.min_time || t >= b.max_time {
                continue;
            }
            if deleted.is_some_and(|iv| iv.iter().any(|&(a, z)| t >= a && t <= z)) {
                st.deleted_samples += 1;
                continue;
            }
            st.block_samples += 1;
            backfill.append(sref, t, f64::from_bits(v))?;
        }
    }
    Ok(())
}

const TOC_LEN: usize = 6 * 8 + 4;

struct Toc {
    symbols: u64,
    series: u64,
    label_indices: u64,
    label_offsets: u64,
    postings: u64,
    postings_offsets: u64,
}

fn read_toc(path: &Path, index: &[u8]) -> Result<Toc> {
    if index.len() < 5 + TOC_LEN {
        return Err(PromDirError::Corrupt {
            path: path.to_path_buf(),
            offset: 0,
            reason: format!("index of {} bytes is too short", index.len()),
        });
    }
    let magic = u32::from_be_bytes([index[0], index[1], index[2], index[3]]);
    if magic != INDEX_MAGIC {
        return Err(PromDirError::Corrupt {
            path: path.to_path_buf(),
            offset: 0,
            reason: format!("not a Prometheus index (magic {magic:#010x})"),
        });
    }
    if index[4] != INDEX_V2 {
        return Err(PromDirError::Unsupported {
            path: path.to_path_buf(),
            what: format!("index format version {}", index[4]),
        });
    }
    let at = index.len() - TOC_LEN;
    let t = &index[at..];
    let crc = u32::from_be_bytes([t[48], t[49], t[50], t[51]]);
    if crc32c::crc32c(&t[..48]) != crc {
        return Err(PromDirError::Corrupt {
            path: path.to_path_buf(),
            offset: at as u64,
            reason: "table of contents checksum mismatch".into(),
        });
    }
    let u = |i: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&t[i * 8..i * 8 + 8]);
        u64::from_be_bytes(b)
    };
    let toc = Toc {
        symbols: u(0),
        series: u(1),
        label_indices: u(2),
        label_offsets: u(3),
        postings: u(4),
        postings_offsets: u(5),
    };
    if toc.symbols as usize >= at || toc.series as usize > at {
        return Err(PromDirError::Corrupt {
            path: path.to_path_buf(),
            offset: at as u64,
            reason: "table of contents points past the index".into(),
        });
    }
    Ok(toc)
}

fn read_symbols(path: &Path, index: &[u8], off: u64) -> Result<Vec<String>> {
    let off = off as usize;
    let bad = |e| corrupt(path, e);
    let mut d = Decbuf::new(&index[off..], off as u64);
    let len = d.be_u32().map_err(bad)? as usize;
    let body = index
        .get(off + 4..off + 4 + len)
        .ok_or_else(|| PromDirError::Corrupt {
            path: path.to_path_buf(),
            offset: off as u64,
            reason: "symbol table runs past the index".into(),
        })?;
    let crc_at = off + 4 + len;
    let crc = index
        .get(crc_at..crc_at + 4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]));
    if crc != Some(crc32c::crc32c(body)) {
        return Err(PromDirError::Corrupt {
            path: path.to_path_buf(),
            offset: off as u64,
            reason: "symbol table checksum mismatch".into(),
        });
    }
    let mut d = Decbuf::new(body, off as u64 + 4);
    let n = d.be_u32().map_err(bad)? as usize;
    let mut out = Vec::with_capacity(n.min(body.len()));
    for _ in 0..n {
        let l = d.uvarint().map_err(bad)? as usize;
        let b = d.bytes(l).map_err(bad)?;
        out.push(String::from_utf8_lossy(b).into_owned());
    }
    Ok(out)
}

fn decode_series_entry(
    path: &Path,
    body: &[u8],
    base: u64,
    symbols: &[String],
    labels: &mut Vec<(String, String)>,
    metas: &mut Vec<(i64, i64, u64)>,
) -> Result<()> {
    let bad = |e| corrupt(path, e);
    let mut d = Decbuf::new(body, base);
    labels.clear();
    metas.clear();
    let sym = |i: u64, at: u64| {
        symbols
            .get(i as usize)
            .cloned()
            .ok_or_else(|| PromDirError::Corrupt {
                path: path.to_path_buf(),
                offset: at,
                reason: format!("symbol {i} is not in the symbol table"),
            })
    };
    let n = d.uvarint().map_err(bad)?;
    for _ in 0..n {
        let at = d.offset();
        let name = sym(d.uvarint().map_err(bad)?, at)?;
        let value = sym(d.uvarint().map_err(bad)?, at)?;
        labels.push((name, value));
    }
    let k = d.uvarint().map_err(bad)?;
    let mut prev_maxt = 0i64;
    let mut prev_ref = 0u64;
    for i in 0..k {
        let (mint, maxt, cref);
        if i == 0 {
            mint = d.varint().map_err(bad)?;
            maxt = mint.wrapping_add(d.uvarint().map_err(bad)? as i64);
            cref = d.uvarint().map_err(bad)?;
        } else {
            mint = prev_maxt.wrapping_add(d.uvarint().map_err(bad)? as i64);
            maxt = mint.wrapping_add(d.uvarint().map_err(bad)? as i64);
            cref = prev_ref.wrapping_add_signed(d.varint().map_err(bad)?);
        }
        metas.push((mint, maxt, cref));
        prev_maxt = maxt;
        prev_ref = cref;
    }
    Ok(())
}

/// Deleted intervals (inclusive) by series reference.
fn read_tombstones(path: &Path) -> Result<HashMap<u64, Vec<(i64, i64)>>> {
    let mut out: HashMap<u64, Vec<(i64, i64)>> = HashMap::new();
    let b = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(io_err("reading", path)(e)),
    };
    let bad = |reason: &str| PromDirError::Corrupt {
        path: path.to_path_buf(),
        offset: 0,
        reason: reason.to_string(),
    };
    if b.len() < 9 {
        return Err(bad("tombstones file too short"));
    }
    if u32::from_be_bytes([b[0], b[1], b[2], b[3]]) != TOMBSTONES_MAGIC {
        return Err(bad("not a Prometheus tombstones file"));
    }
    if b[4] != 1 {
        return Err(PromDirError::Unsupported {
            path: path.to_path_buf(),
            what: format!("tombstones version {}", b[4]),
        });
    }
    let body = &b[5..b.len() - 4];
    let t = &b[b.len() - 4..];
    if crc32c::crc32c(body) != u32::from_be_bytes([t[0], t[1], t[2], t[3]]) {
        return Err(bad("tombstones checksum mismatch"));
    }
    let mut d = Decbuf::new(body, 5);
    while d.remaining() > 0 {
        let r = d.uvarint().map_err(|e| corrupt(path, e))?;
        let mint = d.varint().map_err(|e| corrupt(path, e))?;
        let maxt = d.varint().map_err(|e| corrupt(path, e))?;
        out.entry(r).or_default().push((mint, maxt));
    }
    Ok(out)
}

/// A block's chunk segment files, read at references.
struct ChunkFiles {
    files: Vec<(PathBuf, File)>,
}

impl ChunkFiles {
    fn open(dir: &Path) -> Result<ChunkFiles> {
        let mut names: Vec<PathBuf> = Vec::new();
        let rd = match fs::read_dir(dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Ok(ChunkFiles { files: Vec::new() })
            }
            Err(e) => return Err(io_err("listing", dir)(e)),
        };
        for e in rd {
            let e = e.map_err(io_err("listing", dir))?;
            let n = e.file_name().to_string_lossy().into_owned();
            if n.bytes().all(|b| b.is_ascii_digit()) {
                names.push(e.path());
            }
        }
        names.sort();
        let mut files = Vec::with_capacity(names.len());
        for p in names {
            let f = File::open(&p).map_err(io_err("opening", &p))?;
            let mut h = [0u8; 8];
            f.read_exact_at(&mut h, 0)
                .map_err(io_err("reading the header of", &p))?;
            let magic = u32::from_be_bytes([h[0], h[1], h[2], h[3]]);
            if magic != CHUNKS_MAGIC {
                return Err(PromDirError::Corrupt {
                    path: p,
                    offset: 0,
                    reason: format!("not a Prometheus chunk file (magic {magic:#010x})"),
                });
            }
            files.push((p, f));
        }
        Ok(ChunkFiles { files })
    }

    /// Appends the samples of the chunk at `cref` to `out` as (t, value bits).
    fn read(&self, cref: u64, out: &mut Vec<(i64, u64)>, st: &mut PromReadStats) -> Result<()> {
        let seq = (cref >> 32) as usize;
        let off = cref & 0xffff_ffff;
        let (path, f) = self.files.get(seq).ok_or_else(|| PromDirError::Corrupt {
            path: PathBuf::from("chunks"),
            offset: off,
            reason: format!("chunk reference into segment {seq}, which does not exist"),
        })?;
        let mut head = [0u8; 11];
        let n = read_at_most(f, &mut head, off).map_err(io_err("reading", path))?;
        let mut d = Decbuf::new(&head[..n], off);
        let len = d.uvarint().map_err(|e| corrupt(path, e))? as usize;
        let enc = d.u8().map_err(|e| corrupt(path, e))?;
        let data_at = d.offset();
        let mut data = vec![0u8; len + 4];
        f.read_exact_at(&mut data, data_at)
            .map_err(io_err("reading a chunk of", path))?;
        let crc = u32::from_be_bytes([data[len], data[len + 1], data[len + 2], data[len + 3]]);
        let mut h = crc32c::crc32c(&[enc]);
        h = crc32c::crc32c_append(h, &data[..len]);
        if h != crc {
            return Err(PromDirError::Corrupt {
                path: path.clone(),
                offset: off,
                reason: "chunk checksum mismatch".into(),
            });
        }
        match enc {
            1 => {
                let mut it = XorIterator::new(&data[..len]).map_err(|e| PromDirError::Corrupt {
                    path: path.clone(),
                    offset: off,
                    reason: e.to_string(),
                })?;
                while let Some(s) = it.next_sample() {
                    out.push((s.t, s.v.to_bits()));
                }
                if let Some(e) = it.error() {
                    return Err(PromDirError::Corrupt {
                        path: path.clone(),
                        offset: off,
                        reason: e.to_string(),
                    });
                }
            }
            2 | 3 => st.histogram_chunks += 1,
            other => {
                return Err(PromDirError::Unsupported {
                    path: path.clone(),
                    what: format!("chunk encoding {other}"),
                })
            }
        }
        Ok(())
    }
}

fn read_at_most(f: &File, buf: &mut [u8], off: u64) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read_at(&mut buf[n..], off + n as u64)? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

// ---------------------------------------------------------------------------------------
// WAL

/// The files to read: the newest complete checkpoint's segments, then the segments after
/// it, as (path, segment number, is last).
fn wal_files(dir: &Path) -> Result<Vec<(PathBuf, u32, bool)>> {
    let mut segs: Vec<u32> = Vec::new();
    let mut checkpoint: Option<(u32, PathBuf)> = None;
    for e in fs::read_dir(dir).map_err(io_err("listing", dir))? {
        let e = e.map_err(io_err("listing", dir))?;
        let name = e.file_name().to_string_lossy().into_owned();
        if let Some(n) = name.strip_prefix("checkpoint.") {
            if let (Ok(n), true) = (n.parse::<u32>(), e.path().is_dir()) {
                if checkpoint.as_ref().is_none_or(|(c, _)| n > *c) {
                    checkpoint = Some((n, e.path()));
                }
            }
        } else if name.len() == 8 && name.bytes().all(|b| b.is_ascii_digit()) {
            if let Ok(n) = name.parse() {
                segs.push(n);
            }
        }
    }
    segs.sort_unstable();
    let mut out = Vec::new();
    if let Some((c, cdir)) = &checkpoint {
        let mut cs: Vec<(u32, PathBuf)> = fs::read_dir(cdir)
            .map_err(io_err("listing", cdir))?
            .filter_map(|e| {
                let e = e.ok()?;
                let n = e.file_name().to_string_lossy().parse().ok()?;
                Some((n, e.path()))
            })
            .collect();
        cs.sort();
        out.extend(cs.into_iter().map(|(n, p)| (p, n, false)));
        segs.retain(|&s| s > *c);
    }
    let last = segs.last().copied();
    out.extend(
        segs.into_iter()
            .map(|n| (dir.join(format!("{n:08}")), n, Some(n) == last)),
    );
    Ok(out)
}

/// Calls `on_record` with every record of the WAL in `dir`, decompressed.
fn for_each_record(
    dir: &Path,
    st: &mut PromReadStats,
    mut on_record: impl FnMut(&[u8]) -> Result<()>,
) -> Result<()> {
    let files = wal_files(dir)?;
    st.wal_segments = files.len();
    let mut rec: Vec<u8> = Vec::new();
    let mut plain: Vec<u8> = Vec::new();
    let mut snappy = snap::raw::Decoder::new();
    for (path, seg, last) in files {
        let data = fs::read(&path).map_err(io_err("reading", &path))?;
        let mut pos = 0usize;
        let mut in_record = false;
        let torn = |pos: usize, reason: &str| -> Result<()> {
            if last {
                Ok(())
            } else {
                Err(PromDirError::Corrupt {
                    path: path.clone(),
                    offset: pos as u64,
                    reason: reason.to_string(),
                })
            }
        };
        while pos < data.len() {
            let in_page = pos % PAGE;
            if PAGE - in_page < REC_HEADER || data[pos] == 0 {
                // Padding to the end of the page (a page-terminating zero byte).
                pos += PAGE - in_page;
                continue;
            }
            if pos + REC_HEADER > data.len() {
                torn(pos, "record header cut short")?;
                st.torn_tail = Some((seg, pos as u64));
                break;
            }
            let typ = data[pos];
            let len = u16::from_be_bytes([data[pos + 1], data[pos + 2]]) as usize;
            let crc =
                u32::from_be_bytes([data[pos + 3], data[pos + 4], data[pos + 5], data[pos + 6]]);
            let start = pos + REC_HEADER;
            if start + len > data.len() {
                torn(pos, "record cut short")?;
                st.torn_tail = Some((seg, pos as u64));
                break;
            }
            let frag = &data[start..start + len];
            if crc32c::crc32c(frag) != crc {
                torn(pos, "record checksum mismatch")?;
                st.torn_tail = Some((seg, pos as u64));
                break;
            }
            if typ & 0x10 != 0 {
                return Err(PromDirError::Unsupported {
                    path: path.clone(),
                    what: "a zstd-compressed WAL (restart Prometheus with \
                           --storage.tsdb.wal-compression-type=snappy and let it write a \
                           checkpoint, or import its blocks after a head compaction)"
                        .into(),
                });
            }
            let bad_order = |what: &str| PromDirError::Corrupt {
                path: path.clone(),
                offset: pos as u64,
                reason: format!("{what} fragment out of order"),
            };
            match typ & 0x07 {
                1 => {
                    if in_record {
                        return Err(bad_order("full"));
                    }
                    rec.clear();
                    rec.extend_from_slice(frag);
                }
                2 => {
                    if in_record {
                        return Err(bad_order("first"));
                    }
                    rec.clear();
                    rec.extend_from_slice(frag);
                    in_record = true;
                }
                3 => {
                    if !in_record {
                        return Err(bad_order("middle"));
                    }
                    rec.extend_from_slice(frag);
                }
                4 => {
                    if !in_record {
                        return Err(bad_order("last"));
                    }
                    rec.extend_from_slice(frag);
                    in_record = false;
                }
                t => {
                    return Err(PromDirError::Corrupt {
                        path: path.clone(),
                        offset: pos as u64,
                        reason: format!("unknown record fragment type {t}"),
                    })
                }
            }
            pos = start + len;
            if in_record {
                continue;
            }
            if typ & 0x08 != 0 {
                plain.clear();
                let n = snap::raw::decompress_len(&rec).map_err(|e| PromDirError::Corrupt {
                    path: path.clone(),
                    offset: pos as u64,
                    reason: format!("snappy: {e}"),
                })?;
                plain.resize(n, 0);
                snappy
                    .decompress(&rec, &mut plain)
                    .map_err(|e| PromDirError::Corrupt {
                        path: path.clone(),
                        offset: pos as u64,
                        reason: format!("snappy: {e}"),
                    })?;
                on_record(&plain)?;
            } else {
                on_record(&rec)?;
            }
        }
    }
    Ok(())
}

/// Record types of `tsdb/record`.
const REC_SERIES: u8 = 1;
const REC_SAMPLES: u8 = 2;
const REC_TOMBSTONES: u8 = 3;
const REC_HISTOGRAMS: u8 = 7;
const REC_FLOAT_HISTOGRAMS: u8 = 8;

fn read_wal<P: FnMut(ImportProgress)>(
    dir: &Path,
    blocks_max: i64,
    backfill: &mut Backfill<'_, P>,
    st: &mut PromReadStats,
) -> Result<()> {
    let bad = |e: DecodeError| PromDirError::Corrupt {
        path: dir.to_path_buf(),
        offset: e.offset,
        reason: format!("WAL record: {}", e.reason),
    };
    // Pass 1: tombstones, which may come after the samples they delete.
    let mut stones: HashMap<u64, Vec<(i64, i64)>> = HashMap::new();
    let mut scratch = PromReadStats::default();
    for_each_record(dir, &mut scratch, |r| {
        if r.first() == Some(&REC_TOMBSTONES) {
            let mut d = Decbuf::new(&r[1..], 1);
            while d.remaining() > 0 {
                let sref = d.uvarint().map_err(bad)?;
                let mint = d.varint().map_err(bad)?;
                let maxt = d.varint().map_err(bad)?;
                stones.entry(sref).or_default().push((mint, maxt));
            }
        }
        Ok(())
    })?;
    // Pass 2: series and samples.
    let mut refs: HashMap<u64, SeriesRef> = HashMap::new();
    let mut pairs: Vec<(String, String)> = Vec::new();
    let mut wal_series = 0u64;
    let mut wal_samples = 0u64;
    let mut below = 0u64;
    let mut unknown = 0u64;
    let mut deleted = 0u64;
    let mut histograms = 0u64;
    for_each_record(dir, st, |r| {
        let Some((&t, body)) = r.split_first() else {
            return Ok(());
        };
        let mut d = Decbuf::new(body, 1);
        match t {
            REC_SERIES => {
                while d.remaining() > 0 {
                    let sref = d.be_u64().map_err(bad)?;
                    let n = d.uvarint().map_err(bad)?;
                    pairs.clear();
                    for _ in 0..n {
                        let l = d.uvarint().map_err(bad)? as usize;
                        let name = String::from_utf8_lossy(d.bytes(l).map_err(bad)?).into_owned();
                        let l = d.uvarint().map_err(bad)? as usize;
                        let value = String::from_utf8_lossy(d.bytes(l).map_err(bad)?).into_owned();
                        pairs.push((name, value));
                    }
                    let lset = Labels::from_pairs(
                        &pairs
                            .iter()
                            .map(|(n, v)| (n.as_str(), v.as_str()))
                            .collect::<Vec<_>>(),
                    );
                    refs.insert(sref, backfill.series(lset));
                    wal_series += 1;
                }
            }
            REC_SAMPLES if !body.is_empty() => {
                let base_ref = d.be_u64().map_err(bad)?;
                let base_t = d.be_u64().map_err(bad)? as i64;
                while d.remaining() > 0 {
                    let sref = base_ref.wrapping_add_signed(d.varint().map_err(bad)?);
                    let ts = base_t.wrapping_add(d.varint().map_err(bad)?);
                    let v = d.be_u64().map_err(bad)?;
                    if ts < blocks_max {
                        below += 1;
                        continue;
                    }
                    let Some(&s) = refs.get(&sref) else {
                        unknown += 1;
                        continue;
                    };
                    if stones
                        .get(&sref)
                        .is_some_and(|iv| iv.iter().any(|&(a, z)| ts >= a && ts <= z))
                    {
                        deleted += 1;
                        continue;
                    }
                    wal_samples += 1;
                    backfill.append(s, ts, f64::from_bits(v))?;
                }
            }
            REC_HISTOGRAMS | REC_FLOAT_HISTOGRAMS => histograms += 1,
            _ => {}
        }
        Ok(())
    })?;
    st.wal_series = wal_series;
    st.wal_samples = wal_samples;
    st.wal_samples_below_blocks = below;
    st.wal_unknown_refs = unknown;
    st.deleted_samples += deleted;
    st.histogram_records = histograms;
    Ok(())
}

/// Imports the Prometheus data directory `src` into blocks under `blocks_dir`.
pub fn import_dir(
    src: &Path,
    blocks_dir: &Path,
    opts: super::import::ImportOptions,
    progress: impl FnMut(ImportProgress),
) -> Result<(PromReadStats, ImportReport)> {
    let mut backfill = Backfill::new(blocks_dir, opts, progress)?;
    let st = read_into(src, &mut backfill)?;
    let report = backfill.finish()?;
    Ok((st, report))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Frames `payload` as one WAL page of fragments of at most `max` bytes.
    fn wal_segment(records: &[Vec<u8>], max: usize) -> Vec<u8> {
        let mut out = Vec::new();
        for r in records {
            let parts: Vec<&[u8]> = r.chunks(max).collect();
            for (i, p) in parts.iter().enumerate() {
                let typ = match (parts.len(), i) {
                    (1, _) => 1,
                    (_, 0) => 2,
                    (n, i) if i == n - 1 => 4,
                    _ => 3,
                };
                if PAGE - out.len() % PAGE < REC_HEADER + p.len() {
                    out.resize(out.len().next_multiple_of(PAGE), 0);
                }
                out.push(typ);
                out.extend_from_slice(&(p.len() as u16).to_be_bytes());
                out.extend_from_slice(&crc32c::crc32c(p).to_be_bytes());
                out.extend_from_slice(p);
            }
        }
        out
    }

    fn series_record(sref: u64, labels: &[(&str, &str)]) -> Vec<u8> {
        let mut e = super::super::block::encoding::Encbuf::default();
        e.put_u8(REC_SERIES);
        e.put_be_u64(sref);
        e.put_uvarint(labels.len() as u64);
        for (n, v) in labels {
            e.put_str(n);
            e.put_str(v);
        }
        e.b
    }

    fn samples_record(samples: &[(u64, i64, f64)]) -> Vec<u8> {
        let mut e = super::super::block::encoding::Encbuf::default();
        e.put_u8(REC_SAMPLES);
        e.put_be_u64(samples[0].0);
        e.put_be_u64(samples[0].1 as u64);
        for &(r, t, v) in samples {
            e.put_varint(r as i64 - samples[0].0 as i64);
            e.put_varint(t - samples[0].1);
            e.put_be_u64(v.to_bits());
        }
        e.b
    }

    #[test]
    fn wal_records_are_reassembled_from_fragments_and_torn_tails_end_the_read() {
        let d = tempfile::tempdir().unwrap();
        let wal = d.path().join("wal");
        fs::create_dir(&wal).unwrap();
        let big: Vec<(u64, i64, f64)> = (0..3000).map(|i| (1, i * 1000, i as f64)).collect();
        let recs = vec![
            series_record(1, &[("__name__", "m"), ("a", "b")]),
            samples_record(&big),
        ];
        let mut seg = wal_segment(&recs, 1000);
        // A torn record at the end of the last segment.
        seg.extend_from_slice(&[1, 0, 50, 0, 0, 0, 0, 1, 2]);
        fs::write(wal.join("00000000"), &seg).unwrap();
        let mut st = PromReadStats::default();
        let mut got = Vec::new();
        for_each_record(&wal, &mut st, |r| {
            got.push(r.to_vec());
            Ok(())
        })
        .unwrap();
        assert_eq!(got, recs);
        assert!(st.torn_tail.is_some());
        // The same damage in a segment that is not the last is corruption.
        fs::write(wal.join("00000001"), wal_segment(&recs[..1], 1000)).unwrap();
        let e = for_each_record(&wal, &mut st, |_| Ok(())).unwrap_err();
        assert!(e.to_string().contains("00000000"), "{e}");
    }

    #[test]
    fn snappy_records_are_decompressed() {
        let d = tempfile::tempdir().unwrap();
        let wal = d.path().join("wal");
        fs::create_dir(&wal).unwrap();
        let rec = samples_record(&[(7, 1000, 1.5), (7, 2000, 2.5)]);
        let comp = snap::raw::Encoder::new().compress_vec(&rec).unwrap();
        let mut seg = wal_segment(&[comp], 4000);
        seg[0] |= 0x08;
        fs::write(wal.join("00000000"), &seg).unwrap();
        let mut got = Vec::new();
        for_each_record(&wal, &mut PromReadStats::default(), |r| {
            got.push(r.to_vec());
            Ok(())
        })
        .unwrap();
        assert_eq!(got, vec![rec]);
    }

    #[test]
    fn a_directory_without_blocks_or_wal_is_not_prometheus() {
        let d = tempfile::tempdir().unwrap();
        let out = tempfile::tempdir().unwrap();
        let e = import_dir(
            d.path(),
            out.path(),
            super::super::import::ImportOptions {
                block_duration: 7_200_000,
                max_buffered_bytes: 1 << 20,
                compact_spilled: true,
            },
            |_| {},
        )
        .unwrap_err();
        assert!(matches!(e, PromDirError::NotPrometheus { .. }), "{e}");
    }
}
