//! The write-ahead log: numbered segment files of framed, CRC-32C-checked records, written
//! before samples become visible, replayed on start, and compacted by checkpoints.
//!
//! Durability contract (docs/format/wal.md): one [`Wal::log`] call is one `write(2)` of all
//! records of a commit; the data is in the kernel page cache when it returns, so a killed
//! process loses nothing acknowledged. Segments are fsynced when cut and on close; with
//! `fsync_every_commit` every commit is fsynced as well (survives power loss).
//!
//! Reading: a torn or corrupt record at the tail of the last segment is the mark of a crash
//! mid-write and is truncated with a warning; damage anywhere else is
//! [`WalError::Corruption`] naming segment and offset, which [`repair`] cuts off. A
//! record whose frame is intact but whose body does not decode is
//! [`WalError::BadRecord`], with the same position and the decoder's error as its source.
//!
//! Mirrors Prometheus `tsdb/wlog/wlog.go` (segments, `Repair`), `tsdb/wlog/reader.go` and
//! `tsdb/wlog/checkpoint.go`.

pub mod checkpoint;
pub mod record;

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

pub use checkpoint::{checkpoint, last_checkpoint, CheckpointStats};
pub use record::{RecordType, RefSample};

use record::{FRAME_HEADER, MAX_RECORD};

/// Default segment size: 128 MiB, as Prometheus.
pub const DEFAULT_SEGMENT_SIZE: u64 = 128 << 20;

/// First bytes of every segment file (checkpoint segments too): magic `PTWL`, format
/// version 1, three zero bytes (docs/format/wal.md). Only a file that starts with them is
/// ever truncated by replay or [`repair`]: a segment some other program wrote (a
/// Prometheus WAL, say) is [`WalError::NotOurs`], and nothing is changed.
pub const SEGMENT_HEADER: [u8; 8] = [b'P', b'T', b'W', b'L', 1, 0, 0, 0];

/// Length of [`SEGMENT_HEADER`].
pub const SEGMENT_HEADER_LEN: u64 = SEGMENT_HEADER.len() as u64;

/// Why a WAL operation failed.
#[derive(Debug, thiserror::Error)]
pub enum WalError {
    #[error("WAL I/O error while {op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("WAL corruption in segment {segment} ({path}) at offset {offset}: {reason}")]
    Corruption {
        segment: u32,
        path: PathBuf,
        offset: u64,
        reason: String,
    },
    #[error("WAL segments in {dir} are not sequential: {prev} is followed by {next}")]
    NotSequential { dir: PathBuf, prev: u32, next: u32 },
    #[error(
        "{path} is not a promtui WAL segment (it starts with {found} instead of promtui's \
         header); it was left untouched"
    )]
    NotOurs { path: PathBuf, found: String },
    /// A record read intact (its CRC matched) whose body could not be decoded.
    #[error("WAL corruption in segment {segment} ({path}) at offset {offset}: {source}")]
    BadRecord {
        segment: u32,
        path: PathBuf,
        offset: u64,
        #[source]
        source: RecordBodyError,
    },
}

/// Why a record's body could not be decoded (see [`WalError::BadRecord`]).
#[derive(Debug, thiserror::Error)]
pub enum RecordBodyError {
    #[error(transparent)]
    Record(#[from] record::RecordError),
    #[error(transparent)]
    Tombstones(#[from] crate::tsdb::tombstones::StoneDecodeError),
    /// A reason a record consumer gave as text.
    #[error("{0}")]
    Other(String),
}

impl From<String> for RecordBodyError {
    fn from(reason: String) -> Self {
        RecordBodyError::Other(reason)
    }
}

impl WalError {
    /// Where the WAL is damaged, for [`repair`]: segment, segment file and offset of the
    /// first bad record. `None` for errors that are not damage.
    pub fn corruption_at(&self) -> Option<(u32, &Path, u64)> {
        match self {
            WalError::Corruption {
                segment,
                path,
                offset,
                ..
            }
            | WalError::BadRecord {
                segment,
                path,
                offset,
                ..
            } => Some((*segment, path, *offset)),
            _ => None,
        }
    }

    pub(crate) fn io<'a>(
        op: &'static str,
        path: &'a Path,
    ) -> impl FnOnce(io::Error) -> WalError + 'a {
        move |source| WalError::Io {
            op,
            path: path.to_path_buf(),
            source,
        }
    }
}

pub type Result<T> = std::result::Result<T, WalError>;

/// File name of segment `n`.
pub fn segment_name(n: u32) -> String {
    format!("{n:08}")
}

/// Segment numbers present in `dir`, sorted; an error when they are not contiguous.
pub fn list_segments(dir: &Path) -> Result<Vec<u32>> {
    let mut out = Vec::new();
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(WalError::io("listing", dir)(e)),
    };
    for e in rd {
        let e = e.map_err(WalError::io("listing", dir))?;
        let name = e.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.len() == 8 && name.bytes().all(|b| b.is_ascii_digit()) {
            if let Ok(n) = name.parse::<u32>() {
                out.push(n);
            }
        }
    }
    out.sort_unstable();
    for w in out.windows(2) {
        if w[1] != w[0] + 1 {
            return Err(WalError::NotSequential {
                dir: dir.to_path_buf(),
                prev: w[0],
                next: w[1],
            });
        }
    }
    Ok(out)
}

/// fsyncs a directory so that created, renamed and removed entries are durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|f| f.sync_all())
        .map_err(WalError::io("syncing directory", dir))
}

/// WAL writer configuration.
#[derive(Clone, Copy, Debug)]
pub struct WalOptions {
    /// A new segment is started when a commit would grow the current one past this.
    pub segment_size: u64,
    /// fsync after every commit instead of only at segment cuts and close.
    pub fsync_every_commit: bool,
}

impl Default for WalOptions {
    fn default() -> Self {
        WalOptions {
            segment_size: DEFAULT_SEGMENT_SIZE,
            fsync_every_commit: false,
        }
    }
}

/// Counters kept by the WAL.
#[derive(Default, Debug)]
pub struct WalMetrics {
    pub bytes_written: AtomicU64,
    pub commits: AtomicU64,
    pub fsyncs: AtomicU64,
    pub segments_created: AtomicU64,
    pub corruptions: AtomicU64,
    pub truncations: AtomicU64,
}

struct Writer {
    file: File,
    segment: u32,
    size: u64,
}

/// An open WAL, appending to its newest segment.
pub struct Wal {
    dir: PathBuf,
    opts: WalOptions,
    w: Mutex<Writer>,
    metrics: WalMetrics,
}

fn create_segment(dir: &Path, n: u32) -> Result<File> {
    let path = dir.join(segment_name(n));
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(WalError::io("creating segment", &path))?;
    // A crash before the header is complete leaves a short last segment, which replay
    // recognises as a torn header and empties (it holds no record).
    f.write_all(&SEGMENT_HEADER)
        .map_err(WalError::io("writing segment header", &path))?;
    sync_dir(dir)?;
    Ok(f)
}

/// Renders the first bytes of a file for an error message.
fn show_bytes(b: &[u8]) -> String {
    if b.is_empty() {
        return "nothing (it is empty)".to_string();
    }
    let hex: Vec<String> = b.iter().map(|x| format!("{x:02x}")).collect();
    format!("bytes {}", hex.join(" "))
}

impl Wal {
    /// Opens `dir` for writing, starting a fresh segment after any existing ones (replay and
    /// tail repair must have happened before).
    pub fn open(dir: &Path, opts: WalOptions) -> Result<Wal> {
        fs::create_dir_all(dir).map_err(WalError::io("creating", dir))?;
        let segs = list_segments(dir)?;
        let mut next = segs.last().map_or(0, |l| l + 1);
        if let Some((cp, _)) = last_checkpoint(dir)? {
            next = next.max(cp + 1);
        }
        let file = create_segment(dir, next)?;
        let metrics = WalMetrics::default();
        metrics.segments_created.fetch_add(1, Ordering::Relaxed);
        Ok(Wal {
            dir: dir.to_path_buf(),
            opts,
            w: Mutex::new(Writer {
                file,
                segment: next,
                size: SEGMENT_HEADER_LEN,
            }),
            metrics,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn metrics(&self) -> &WalMetrics {
        &self.metrics
    }

    /// Writes framed records (built with the `record::encode_*` functions) in one write.
    pub fn log(&self, frames: &[u8]) -> Result<()> {
        if frames.is_empty() {
            return Ok(());
        }
        let mut w = self.w.lock();
        if w.size > SEGMENT_HEADER_LEN && w.size + frames.len() as u64 > self.opts.segment_size {
            self.cut_locked(&mut w)?;
        }
        let path = self.dir.join(segment_name(w.segment));
        w.file
            .write_all(frames)
            .map_err(WalError::io("writing segment", &path))?;
        w.size += frames.len() as u64;
        self.metrics
            .bytes_written
            .fetch_add(frames.len() as u64, Ordering::Relaxed);
        self.metrics.commits.fetch_add(1, Ordering::Relaxed);
        if self.opts.fsync_every_commit {
            w.file
                .sync_data()
                .map_err(WalError::io("syncing segment", &path))?;
            self.metrics.fsyncs.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }

    fn cut_locked(&self, w: &mut Writer) -> Result<()> {
        let path = self.dir.join(segment_name(w.segment));
        w.file
            .sync_all()
            .map_err(WalError::io("syncing segment", &path))?;
        self.metrics.fsyncs.fetch_add(1, Ordering::Relaxed);
        let next = w.segment + 1;
        w.file = create_segment(&self.dir, next)?;
        w.segment = next;
        w.size = SEGMENT_HEADER_LEN;
        self.metrics
            .segments_created
            .fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Closes the current segment (even an empty one) and returns its number: from now on
    /// it is no longer written to and can be checkpointed. Always cutting guarantees the
    /// returned number is above every existing checkpoint's, so a checkpoint never has to
    /// replace one with the same number (which could not be done atomically).
    pub fn next_segment(&self) -> Result<u32> {
        let mut w = self.w.lock();
        let closed = w.segment;
        self.cut_locked(&mut w)?;
        Ok(closed)
    }

    /// The segment being written.
    pub fn current_segment(&self) -> u32 {
        self.w.lock().segment
    }

    /// fsyncs the current segment.
    pub fn sync(&self) -> Result<()> {
        let w = self.w.lock();
        let path = self.dir.join(segment_name(w.segment));
        w.file
            .sync_all()
            .map_err(WalError::io("syncing segment", &path))?;
        self.metrics.fsyncs.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Bytes and number of segment files in the WAL directory (checkpoints included in the
    /// byte count).
    pub fn disk_usage(&self) -> (u64, u64) {
        dir_usage(&self.dir)
    }
}

/// Bytes and segment files under a WAL directory (checkpoints included in the bytes).
pub fn dir_usage(dir: &Path) -> (u64, u64) {
    let mut bytes = 0;
    let mut segments = 0;
    if let Ok(rd) = fs::read_dir(dir) {
        for e in rd.flatten() {
            let Ok(md) = e.metadata() else { continue };
            if md.is_dir() {
                bytes += dir_usage(&e.path()).0;
            } else {
                bytes += md.len();
                if e.file_name().to_str().is_some_and(|n| n.len() == 8) {
                    segments += 1;
                }
            }
        }
    }
    (bytes, segments)
}

/// A record read back, with where it came from.
pub struct ReadRecord<'a> {
    pub segment: u32,
    pub offset: u64,
    pub payload: &'a [u8],
}

/// What happened at the end of a segment.
enum SegmentEnd {
    Clean,
    /// Torn tail at this offset (only reported for a segment read as "last").
    Torn {
        offset: u64,
        reason: String,
    },
}

/// Reads one segment file record by record.
pub struct SegmentReader {
    path: PathBuf,
    segment: u32,
    r: BufReader<File>,
    len: u64,
    pos: u64,
    buf: Vec<u8>,
    tail_tolerant: bool,
    /// A header cut short by a crash, reported as a torn tail at offset 0 by `next`.
    torn_header: Option<String>,
}

impl SegmentReader {
    /// Opens a segment and checks its header. With `tail_tolerant`, damage that extends to
    /// the end of the file is reported as a torn tail instead of corruption; that includes
    /// a header cut short (a file shorter than the header whose bytes are a prefix of it).
    /// A file that does not start with promtui's header is [`WalError::NotOurs`], whatever
    /// `tail_tolerant` says.
    pub fn open(path: &Path, segment: u32, tail_tolerant: bool) -> Result<Self> {
        let f = File::open(path).map_err(WalError::io("opening segment", path))?;
        let len = f
            .metadata()
            .map_err(WalError::io("reading metadata of", path))?
            .len();
        let mut r = BufReader::with_capacity(1 << 20, f);
        let mut head = [0u8; SEGMENT_HEADER.len()];
        let n = len.min(SEGMENT_HEADER_LEN) as usize;
        r.read_exact(&mut head[..n])
            .map_err(WalError::io("reading segment header", path))?;
        let mut torn_header = None;
        if n == SEGMENT_HEADER.len() && head == SEGMENT_HEADER {
            // The usual case.
        } else if n < SEGMENT_HEADER.len()
            && head[..n] == SEGMENT_HEADER[..n]
            && (tail_tolerant || n == 0)
        {
            if n > 0 {
                torn_header = Some(format!("header cut short at {n} bytes"));
            }
        } else {
            return Err(WalError::NotOurs {
                path: path.to_path_buf(),
                found: show_bytes(&head[..n]),
            });
        }
        Ok(SegmentReader {
            path: path.to_path_buf(),
            segment,
            r,
            len,
            pos: n as u64,
            buf: Vec::new(),
            tail_tolerant,
            torn_header,
        })
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    /// True when the segment holds no record.
    pub fn is_empty(&self) -> bool {
        self.len <= SEGMENT_HEADER_LEN
    }

    fn corrupt(&self, offset: u64, reason: String) -> WalError {
        WalError::Corruption {
            segment: self.segment,
            path: self.path.clone(),
            offset,
            reason,
        }
    }

    /// True when every byte from the current position to the end is zero.
    fn rest_is_zero(&mut self) -> Result<bool> {
        let mut chunk = [0u8; 8192];
        loop {
            let n = self
                .r
                .read(&mut chunk)
                .map_err(WalError::io("reading segment", &self.path))?;
            if n == 0 {
                return Ok(true);
            }
            if chunk[..n].iter().any(|&b| b != 0) {
                return Ok(false);
            }
        }
    }

    /// Classifies damage found at `offset`, `needed` bytes beyond which would have to exist.
    fn damaged(&mut self, offset: u64, reason: String, to_eof: bool) -> Result<SegmentEnd> {
        if self.tail_tolerant && (to_eof || self.rest_is_zero()?) {
            return Ok(SegmentEnd::Torn { offset, reason });
        }
        Err(self.corrupt(offset, reason))
    }

    /// The next record's payload, `Ok(Err(end))` at the end of the segment.
    fn next(&mut self) -> Result<std::result::Result<(u64, &[u8]), SegmentEnd>> {
        if let Some(reason) = self.torn_header.take() {
            self.pos = self.len;
            return Ok(Err(SegmentEnd::Torn { offset: 0, reason }));
        }
        let offset = self.pos;
        if offset >= self.len {
            return Ok(Err(SegmentEnd::Clean));
        }
        if self.len - offset < FRAME_HEADER as u64 {
            let reason = format!("{} header bytes of {FRAME_HEADER}", self.len - offset);
            return self.damaged(offset, reason, true).map(Err);
        }
        let mut h = [0u8; FRAME_HEADER];
        self.r
            .read_exact(&mut h)
            .map_err(WalError::io("reading segment", &self.path))?;
        let (len, crc) = record::frame_len(&h);
        let end = offset + FRAME_HEADER as u64 + len as u64;
        if len == 0 || len > MAX_RECORD {
            let reason = format!("invalid record length {len}");
            return self.damaged(offset, reason, false).map(Err);
        }
        if end > self.len {
            let reason = format!("record of {len} bytes extends past the end ({})", self.len);
            return self.damaged(offset, reason, true).map(Err);
        }
        self.buf.resize(len, 0);
        self.r
            .read_exact(&mut self.buf)
            .map_err(WalError::io("reading segment", &self.path))?;
        if crc32c::crc32c(&self.buf) != crc {
            let reason = "checksum mismatch".to_string();
            let at_end = end == self.len;
            return self.damaged(offset, reason, at_end).map(Err);
        }
        self.pos = end;
        Ok(Ok((offset, &self.buf)))
    }
}

/// Progress of a replay, reported after each segment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReplayProgress {
    /// Segment just finished (in the checkpoint or the WAL).
    pub segment: u32,
    /// Whether that segment belongs to the checkpoint.
    pub in_checkpoint: bool,
    /// Segments to read in total (checkpoint segments included).
    pub total_segments: usize,
    /// Segments finished so far.
    pub segments_done: usize,
    /// Bytes read so far and in total.
    pub bytes_read: u64,
    pub total_bytes: u64,
    /// Records read so far.
    pub records: u64,
}

/// What a replay found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReplayOutcome {
    pub records: u64,
    pub bytes: u64,
    /// Checkpoint the replay started from.
    pub checkpoint: Option<u32>,
    /// Torn tail truncated: (segment, offset).
    pub truncated_tail: Option<(u32, u64)>,
}

/// Reads the newest checkpoint and then every later segment of `dir`, calling `on_record`
/// for each record and `progress` after each segment. A torn tail of the last segment is
/// truncated on disk (with a warning); other damage is [`WalError::Corruption`], and a
/// record `on_record` cannot decode (it returns why) is [`WalError::BadRecord`].
pub fn replay(
    dir: &Path,
    on_record: impl FnMut(ReadRecord<'_>) -> std::result::Result<(), RecordBodyError>,
    progress: impl FnMut(ReplayProgress),
) -> Result<ReplayOutcome> {
    replay_with(dir, false, on_record, progress)
}

/// [`replay`], or with `read_only` a replay that changes nothing on disk: a torn tail ends
/// the read where it starts and is left as it is (a running writer may be mid-commit).
pub fn replay_with(
    dir: &Path,
    read_only: bool,
    mut on_record: impl FnMut(ReadRecord<'_>) -> std::result::Result<(), RecordBodyError>,
    mut progress: impl FnMut(ReplayProgress),
) -> Result<ReplayOutcome> {
    let cp = last_checkpoint(dir)?;
    let mut files: Vec<(PathBuf, u32, bool)> = Vec::new();
    if let Some((_, cp_dir)) = &cp {
        for n in list_segments(cp_dir)? {
            files.push((cp_dir.join(segment_name(n)), n, true));
        }
    }
    let first_after = cp.as_ref().map_or(0, |(n, _)| n + 1);
    let segs: Vec<u32> = list_segments(dir)?
        .into_iter()
        .filter(|&n| n >= first_after)
        .collect();
    if let (Some((n, _)), Some(&first)) = (&cp, segs.first()) {
        if first != n + 1 {
            return Err(WalError::NotSequential {
                dir: dir.to_path_buf(),
                prev: *n,
                next: first,
            });
        }
    }
    for &n in &segs {
        files.push((dir.join(segment_name(n)), n, false));
    }
    let total_bytes: u64 = files
        .iter()
        .filter_map(|(p, _, _)| fs::metadata(p).ok())
        .map(|m| m.len())
        .sum();
    let mut out = ReplayOutcome {
        checkpoint: cp.as_ref().map(|c| c.0),
        ..Default::default()
    };
    let mut p = ReplayProgress {
        total_segments: files.len(),
        total_bytes,
        ..Default::default()
    };
    let last_idx = files.len().checked_sub(1);
    for (i, (path, n, in_cp)) in files.iter().enumerate() {
        let tail_tolerant = Some(i) == last_idx && !in_cp;
        let mut r = SegmentReader::open(path, *n, tail_tolerant)?;
        loop {
            match r.next()? {
                Ok((offset, payload)) => {
                    out.records += 1;
                    on_record(ReadRecord {
                        segment: *n,
                        offset,
                        payload,
                    })
                    .map_err(|source| WalError::BadRecord {
                        segment: *n,
                        path: path.clone(),
                        offset,
                        source,
                    })?;
                }
                Err(SegmentEnd::Clean) => break,
                Err(SegmentEnd::Torn { offset, reason }) if read_only => {
                    tracing::info!(
                        segment = *n,
                        offset,
                        %reason,
                        "read-only replay stops at the torn tail of the last WAL segment"
                    );
                    break;
                }
                Err(SegmentEnd::Torn { offset, reason }) => {
                    tracing::warn!(
                        segment = *n,
                        offset,
                        truncated_bytes = r.len() - offset,
                        %reason,
                        "truncating torn record at the tail of the last WAL segment"
                    );
                    let f = OpenOptions::new()
                        .write(true)
                        .open(path)
                        .map_err(WalError::io("opening for truncation", path))?;
                    f.set_len(offset)
                        .and_then(|_| f.sync_all())
                        .map_err(WalError::io("truncating", path))?;
                    out.truncated_tail = Some((*n, offset));
                    break;
                }
            }
        }
        p.segment = *n;
        p.in_checkpoint = *in_cp;
        p.segments_done = i + 1;
        p.bytes_read += r.len();
        p.records = out.records;
        tracing::info!(
            segment = *n,
            checkpoint = *in_cp,
            done = p.segments_done,
            total = p.total_segments,
            bytes_read = p.bytes_read,
            total_bytes = p.total_bytes,
            "WAL segment replayed"
        );
        progress(p);
    }
    out.bytes = p.bytes_read;
    Ok(out)
}

/// What [`repair`] removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RepairReport {
    /// Bytes cut from the damaged segment, from the damaged record to its end.
    pub truncated_bytes: u64,
    /// Later segments deleted, and their bytes.
    pub deleted_segments: u32,
    pub deleted_bytes: u64,
}

/// Repairs corruption reported as `segment`/`offset`: truncates that segment at the offset
/// and deletes every later segment, as Prometheus' `wlog.Repair`. Data after the damage is
/// lost; everything before it is kept. Every file it would change is checked first to be a
/// promtui segment (its header): if one is not, nothing is changed and the error is
/// [`WalError::NotOurs`]. The amount removed is logged and returned.
pub fn repair(dir: &Path, segment: u32, offset: u64) -> Result<RepairReport> {
    let path = dir.join(segment_name(segment));
    let later: Vec<u32> = list_segments(dir)?
        .into_iter()
        .filter(|&n| n > segment)
        .collect();
    let mut report = RepairReport::default();
    let damaged = SegmentReader::open(&path, segment, true)?;
    report.truncated_bytes = damaged.len().saturating_sub(offset);
    drop(damaged);
    for &n in &later {
        let p = dir.join(segment_name(n));
        let r = SegmentReader::open(&p, n, true)?;
        report.deleted_segments += 1;
        report.deleted_bytes += r.len();
    }
    tracing::warn!(
        segment,
        offset,
        truncated_bytes = report.truncated_bytes,
        deleted_segments = report.deleted_segments,
        deleted_bytes = report.deleted_bytes,
        "repairing WAL: cutting the damaged segment at the damaged record and deleting the \
         segments after it"
    );
    for &n in &later {
        let p = dir.join(segment_name(n));
        fs::remove_file(&p).map_err(WalError::io("deleting segment", &p))?;
    }
    let f = OpenOptions::new()
        .write(true)
        .open(&path)
        .map_err(WalError::io("opening for repair", &path))?;
    f.set_len(offset)
        .and_then(|_| f.sync_all())
        .map_err(WalError::io("truncating", &path))?;
    sync_dir(dir)?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::record::{decode_samples, encode_samples, record_type};
    use super::*;

    fn write_batches(dir: &Path, n: usize, seg_size: u64) -> Vec<Vec<u8>> {
        let wal = Wal::open(
            dir,
            WalOptions {
                segment_size: seg_size,
                fsync_every_commit: false,
            },
        )
        .unwrap();
        let mut frames = Vec::new();
        for i in 0..n {
            let mut out = Vec::new();
            encode_samples(
                &mut out,
                &[RefSample {
                    sref: i as u64,
                    t: i as i64,
                    v: i as f64,
                }],
            );
            wal.log(&out).unwrap();
            frames.push(out);
        }
        frames
    }

    fn read_all(dir: &Path) -> Result<Vec<RefSample>> {
        let mut got = Vec::new();
        replay(
            dir,
            |r| {
                let (_, body) = record_type(r.payload).unwrap();
                decode_samples(body, &mut got).unwrap();
                Ok(())
            },
            |_| {},
        )?;
        Ok(got)
    }

    #[test]
    fn segments_are_cut_and_replayed_in_order() {
        let d = tempfile::tempdir().unwrap();
        write_batches(d.path(), 100, 200);
        let segs = list_segments(d.path()).unwrap();
        assert!(segs.len() > 5, "{segs:?}");
        let got = read_all(d.path()).unwrap();
        assert_eq!(got.len(), 100);
        assert!(got.iter().enumerate().all(|(i, s)| s.t == i as i64));
        // Reopening starts a new segment after the existing ones.
        let wal = Wal::open(d.path(), WalOptions::default()).unwrap();
        assert_eq!(wal.current_segment(), segs.last().unwrap() + 1);
    }

    #[test]
    fn zero_filled_tail_is_truncated() {
        let d = tempfile::tempdir().unwrap();
        write_batches(d.path(), 10, 1 << 20);
        let seg = d.path().join(segment_name(0));
        let mut f = OpenOptions::new().append(true).open(&seg).unwrap();
        f.write_all(&[0u8; 100]).unwrap();
        assert_eq!(read_all(d.path()).unwrap().len(), 10);
    }

    #[test]
    fn gaps_are_errors() {
        let d = tempfile::tempdir().unwrap();
        File::create(d.path().join(segment_name(0))).unwrap();
        File::create(d.path().join(segment_name(2))).unwrap();
        assert!(matches!(
            list_segments(d.path()),
            Err(WalError::NotSequential {
                prev: 0,
                next: 2,
                ..
            })
        ));
    }
}
