//! The WAL watcher: tails promtui's WAL segments read-only and hands each Samples record's
//! samples, with their series' (relabeled) labels, to a queue, as upstream's
//! `tsdb/wlog/watcher.go` does for Prometheus' queues.
//!
//! Invariants:
//! * The WAL is never written: files are opened read-only, a torn or half-written frame at
//!   the end of the newest segment is simply waited for.
//! * Series records are always read (from the newest checkpoint and every segment), so a
//!   sample's ref resolves whatever position reading starts from; samples are only handed
//!   on from the start position on.
//! * When the segment to read next has been deleted by a checkpoint (the remote was down
//!   across a head compaction), the checkpoint's samples newer than the newest timestamp
//!   already handed on are sent instead, and reading continues after it. Older samples in
//!   those segments are covered by the checkpoint only if they were at or after the head's
//!   new minimum time (what the head itself kept).

use std::collections::HashMap;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::model::Labels;
use crate::tsdb::wal::record::{self, RecordType, FRAME_HEADER, MAX_RECORD};
use crate::tsdb::wal::{self, RefSample, SEGMENT_HEADER, SEGMENT_HEADER_LEN};

/// A place in the WAL: the byte offset of the next unread frame of a segment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct WalPosition {
    pub segment: u32,
    pub offset: u64,
}

/// Why the watcher stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum WatcherError {
    #[error("WAL watcher: {0}")]
    Wal(#[from] wal::WalError),
    #[error("WAL watcher: reading {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("WAL watcher: {path} is not a promtui WAL segment")]
    NotOurs { path: PathBuf },
    #[error("WAL watcher: record at {path}:{offset}: {source}")]
    Record {
        path: PathBuf,
        offset: u64,
        #[source]
        source: record::RecordError,
    },
}

/// A series as a queue sends it: its labels after external labels and
/// `write_relabel_configs`, and their encoding as `TimeSeries` label fields.
#[derive(Debug)]
pub struct SeriesLabels {
    pub labels: Labels,
    pub wire: Vec<u8>,
}

impl SeriesLabels {
    pub fn new(labels: Labels) -> SeriesLabels {
        let wire = super::proto::encode_labels_wire(&labels);
        SeriesLabels { labels, wire }
    }
}

/// One sample ready for a queue, with its series.
#[derive(Clone, Debug)]
pub struct WatchedSample {
    /// The series' WAL ref: what shards are chosen by.
    pub sref: u64,
    pub labels: Arc<SeriesLabels>,
    pub t: i64,
    pub v: f64,
}

/// What the watcher hands on.
pub trait WatcherSink {
    /// The samples of one record (possibly none after relabeling), and the position just
    /// after it. `false` stops the watcher (the queue is closing).
    fn append(&mut self, samples: Vec<WatchedSample>, after: WalPosition, dropped: u64) -> bool;
    /// The segment now being read (for `prometheus_wal_watcher_current_segment`).
    fn segment(&mut self, _segment: u32) {}
}

/// Turns a series' stored labels into what is sent (`None`: dropped by relabeling).
type SeriesMapper = dyn Fn(&Labels) -> Option<Labels> + Send + Sync;

/// Reads one WAL directory for one queue.
pub struct Watcher {
    dir: PathBuf,
    map: Arc<SeriesMapper>,
    series: HashMap<u64, Option<Arc<SeriesLabels>>>,
    stop: Arc<AtomicBool>,
    poll: Duration,
    /// Samples from here on are handed on.
    start: WalPosition,
    /// Newest timestamp handed on (or acknowledged before a restart): the cut-off for
    /// samples read from a checkpoint that replaced unread segments.
    max_t: i64,
    samples: Vec<RefSample>,
}

impl Watcher {
    /// A watcher of `dir` (a `promtui-wal` directory) that starts handing on samples at
    /// `start`; `max_t` is the newest timestamp known to be sent already.
    pub fn new(
        dir: &Path,
        start: WalPosition,
        max_t: i64,
        map: Arc<SeriesMapper>,
        stop: Arc<AtomicBool>,
    ) -> Watcher {
        Watcher {
            dir: dir.to_path_buf(),
            map,
            series: HashMap::new(),
            stop,
            poll: Duration::from_millis(50),
            start,
            max_t,
            samples: Vec::new(),
        }
    }

    /// The end of the WAL now: where a queue without saved progress starts.
    pub fn end_of_wal(dir: &Path) -> Result<WalPosition, WatcherError> {
        let (_, last) = segment_range(dir)?;
        let Some(last) = last else {
            let cp = wal::last_checkpoint(dir)?.map_or(0, |(n, _)| n + 1);
            return Ok(WalPosition {
                segment: cp,
                offset: SEGMENT_HEADER_LEN,
            });
        };
        let path = dir.join(wal::segment_name(last));
        let len = std::fs::metadata(&path)
            .map_err(|source| WatcherError::Io {
                path: path.clone(),
                source,
            })?
            .len();
        Ok(WalPosition {
            segment: last,
            offset: len.max(SEGMENT_HEADER_LEN),
        })
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// Runs until stopped (by the flag or by the sink).
    pub fn run(mut self, sink: &mut dyn WatcherSink) -> Result<(), WatcherError> {
        let mut cp_seen = None;
        // Series from the newest checkpoint; if the start position's segment is gone, its
        // samples newer than `max_t` too.
        let mut seg = match wal::last_checkpoint(&self.dir)? {
            Some((n, cp_dir)) => {
                cp_seen = Some(n);
                let send = self.start.segment <= n;
                if !self.read_checkpoint(&cp_dir, send, sink)? {
                    return Ok(());
                }
                if send {
                    self.start = WalPosition {
                        segment: n + 1,
                        offset: 0,
                    };
                }
                n + 1
            }
            None => 0,
        };
        if let (Some(first), _) = segment_range(&self.dir)? {
            if first > seg {
                seg = first;
            }
            if self.start.segment < first {
                // Segments lost without a checkpoint (another process truncated the WAL):
                // carry on from what exists.
                self.start = WalPosition {
                    segment: first,
                    offset: 0,
                };
            }
        }
        loop {
            if self.stopped() {
                return Ok(());
            }
            sink.segment(seg);
            match self.read_segment(seg, sink)? {
                SegmentDone::Stop => return Ok(()),
                SegmentDone::Next => seg += 1,
                SegmentDone::Missing => {
                    // Deleted under us by a checkpoint: its samples live on in it.
                    let Some((n, cp_dir)) = wal::last_checkpoint(&self.dir)? else {
                        std::thread::sleep(self.poll);
                        continue;
                    };
                    if Some(n) != cp_seen && n >= seg {
                        cp_seen = Some(n);
                        tracing::warn!(
                            segment = seg,
                            checkpoint = n,
                            "remote write: WAL segments were checkpointed before they were \
                             sent; sending the checkpoint's newer samples"
                        );
                        self.start = WalPosition {
                            segment: seg,
                            offset: 0,
                        };
                        if !self.read_checkpoint(&cp_dir, true, sink)? {
                            return Ok(());
                        }
                        seg = n + 1;
                    } else {
                        std::thread::sleep(self.poll);
                    }
                }
            }
        }
    }

    fn read_checkpoint(
        &mut self,
        cp_dir: &Path,
        send: bool,
        sink: &mut dyn WatcherSink,
    ) -> Result<bool, WatcherError> {
        for n in wal::list_segments(cp_dir)? {
            let path = cp_dir.join(wal::segment_name(n));
            let mut buf = Vec::new();
            File::open(&path)
                .and_then(|mut f| f.read_to_end(&mut buf))
                .map_err(|source| WatcherError::Io {
                    path: path.clone(),
                    source,
                })?;
            if buf.len() < SEGMENT_HEADER.len() || buf[..SEGMENT_HEADER.len()] != SEGMENT_HEADER {
                return Err(WatcherError::NotOurs { path });
            }
            let mut pos = SEGMENT_HEADER.len();
            while let Some((payload, end)) = frame_at(&buf, pos) {
                let min_t = self.max_t;
                // Positions inside a checkpoint are not WAL positions: report the start of
                // the segment after it, reached once the checkpoint is done.
                let after = self.start;
                if !self.handle(payload, send, min_t, after, &path, pos as u64, sink)? {
                    return Ok(false);
                }
                pos = end;
            }
        }
        Ok(true)
    }

    /// Decodes one record: series are remembered, samples handed on when `send`, keeping
    /// only those newer than `min_t` when it is not `i64::MIN`.
    #[allow(clippy::too_many_arguments)]
    fn handle(
        &mut self,
        payload: &[u8],
        send: bool,
        min_t: i64,
        after: WalPosition,
        path: &Path,
        offset: u64,
        sink: &mut dyn WatcherSink,
    ) -> Result<bool, WatcherError> {
        let rec_err = |source| WatcherError::Record {
            path: path.to_path_buf(),
            offset,
            source,
        };
        let (ty, body) = record::record_type(payload).map_err(rec_err)?;
        match ty {
            RecordType::Series => {
                let map = self.map.clone();
                let series = &mut self.series;
                record::decode_series(body, |r, pairs| {
                    let l = Labels::from_pairs(pairs);
                    series.insert(r, map(&l).map(|l| Arc::new(SeriesLabels::new(l))));
                })
                .map_err(rec_err)?;
                if send {
                    return Ok(sink.append(Vec::new(), after, 0));
                }
                Ok(true)
            }
            RecordType::Samples if send => {
                self.samples.clear();
                record::decode_samples(body, &mut self.samples).map_err(rec_err)?;
                let mut out = Vec::with_capacity(self.samples.len());
                let mut dropped = 0;
                for s in &self.samples {
                    if s.t <= min_t {
                        continue;
                    }
                    match self.series.get(&s.sref) {
                        Some(Some(l)) => out.push(WatchedSample {
                            sref: s.sref,
                            labels: l.clone(),
                            t: s.t,
                            v: s.v,
                        }),
                        // Dropped by relabeling, or a ref without a Series record.
                        _ => dropped += 1,
                    }
                }
                if let Some(m) = out.iter().map(|s| s.t).max() {
                    self.max_t = self.max_t.max(m);
                }
                Ok(sink.append(out, after, dropped))
            }
            _ => Ok(true),
        }
    }

    /// Reads segment `n` from the start (series only before `self.start`), tailing it while
    /// it is the newest segment.
    fn read_segment(
        &mut self,
        n: u32,
        sink: &mut dyn WatcherSink,
    ) -> Result<SegmentDone, WatcherError> {
        let path = self.dir.join(wal::segment_name(n));
        let mut f = loop {
            match File::open(&path) {
                Ok(f) => break f,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    // A segment not created yet is waited for; one older than the newest
                    // or the oldest existing segment is gone.
                    let (first, last) = segment_range(&self.dir)?;
                    let gone = last.is_some_and(|l| l > n) || first.is_some_and(|f| f > n);
                    if gone {
                        return Ok(SegmentDone::Missing);
                    }
                    std::thread::sleep(self.poll);
                    if self.stopped() {
                        return Ok(SegmentDone::Stop);
                    }
                }
                Err(source) => return Err(WatcherError::Io { path, source }),
            }
        };
        let io = |source| WatcherError::Io {
            path: path.clone(),
            source,
        };
        let mut buf: Vec<u8> = Vec::new();
        // Offset in the file of buf[0].
        let mut base: u64 = 0;
        let mut header_checked = false;
        let mut chunk = vec![0u8; 1 << 20];
        loop {
            if self.stopped() {
                return Ok(SegmentDone::Stop);
            }
            // Read what has been appended since.
            let mut grew = false;
            loop {
                let k = f.read(&mut chunk).map_err(io)?;
                if k == 0 {
                    break;
                }
                grew = true;
                buf.extend_from_slice(&chunk[..k]);
                if buf.len() > 8 << 20 {
                    break;
                }
            }
            if !header_checked && buf.len() >= SEGMENT_HEADER.len() {
                if buf[..SEGMENT_HEADER.len()] != SEGMENT_HEADER {
                    return Err(WatcherError::NotOurs { path });
                }
                buf.drain(..SEGMENT_HEADER.len());
                base = SEGMENT_HEADER_LEN;
                header_checked = true;
            }
            let mut pos = 0usize;
            if header_checked {
                while let Some((payload, end)) = frame_at(&buf, pos) {
                    let offset = base + pos as u64;
                    let after = WalPosition {
                        segment: n,
                        offset: base + end as u64,
                    };
                    let send = WalPosition { segment: n, offset } >= self.start;
                    if !self.handle(payload, send, i64::MIN, after, &path, offset, sink)? {
                        return Ok(SegmentDone::Stop);
                    }
                    pos = end;
                }
                buf.drain(..pos);
                base += pos as u64;
            }
            if grew {
                continue;
            }
            // Nothing more to read now: move on if a newer segment exists (this one is
            // complete then: a segment is cut before the next one is written), else wait.
            let newest = segment_range(&self.dir)?.1.unwrap_or(n);
            if newest > n {
                // Read anything written between our last read and the cut.
                let k = f.read(&mut chunk).map_err(io)?;
                if k > 0 {
                    buf.extend_from_slice(&chunk[..k]);
                    continue;
                }
                if !buf.is_empty() {
                    tracing::warn!(
                        segment = n,
                        offset = base,
                        bytes = buf.len(),
                        "remote write: skipping a torn record at the end of a WAL segment"
                    );
                }
                return Ok(SegmentDone::Next);
            }
            std::thread::sleep(self.poll);
        }
    }
}

/// The lowest and highest segment numbers in `dir`. Unlike [`wal::list_segments`] a gap
/// is no error: a directory listing taken while the writer creates segments may miss one.
fn segment_range(dir: &Path) -> Result<(Option<u32>, Option<u32>), WatcherError> {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((None, None)),
        Err(source) => {
            return Err(WatcherError::Io {
                path: dir.to_path_buf(),
                source,
            })
        }
    };
    let (mut lo, mut hi) = (None::<u32>, None::<u32>);
    for e in rd.flatten() {
        let name = e.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.len() != 8 || !name.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        if let Ok(n) = name.parse::<u32>() {
            lo = Some(lo.map_or(n, |l| l.min(n)));
            hi = Some(hi.map_or(n, |h| h.max(n)));
        }
    }
    Ok((lo, hi))
}

/// How reading a segment ended.
enum SegmentDone {
    /// It is complete and a newer one exists.
    Next,
    /// The watcher was stopped.
    Stop,
    /// It was deleted (checkpointed) before it could be read.
    Missing,
}

/// The payload of the complete, checksummed frame at `pos` of `buf` and the position after
/// it; `None` when the frame is incomplete (still being written) or damaged.
fn frame_at(buf: &[u8], pos: usize) -> Option<(&[u8], usize)> {
    let h: &[u8; FRAME_HEADER] = buf.get(pos..pos + FRAME_HEADER)?.try_into().ok()?;
    let (len, crc) = record::frame_len(h);
    if len == 0 || len > MAX_RECORD {
        return None;
    }
    let start = pos + FRAME_HEADER;
    let payload = buf.get(start..start + len)?;
    if crc32c::crc32c(payload) != crc {
        return None;
    }
    Some((payload, start + len))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tsdb::wal::{Wal, WalOptions};
    use std::sync::mpsc;

    struct Collect(mpsc::Sender<(Vec<(String, i64)>, WalPosition)>);

    impl WatcherSink for Collect {
        fn append(&mut self, s: Vec<WatchedSample>, after: WalPosition, _d: u64) -> bool {
            let v = s
                .iter()
                .map(|s| {
                    let name = s.labels.labels.get("__name__").unwrap_or("");
                    (name.to_string(), s.t)
                })
                .collect();
            self.0.send((v, after)).is_ok()
        }
    }

    fn log_series(wal: &Wal, r: u64, name: &str) {
        let mut out = Vec::new();
        let l = Labels::from_pairs(&[("__name__", name)]);
        record::encode_series(&mut out, [(r, &l)]);
        wal.log(&out).unwrap();
    }

    fn log_sample(wal: &Wal, r: u64, t: i64) {
        let mut out = Vec::new();
        record::encode_samples(
            &mut out,
            &[RefSample {
                sref: r,
                t,
                v: t as f64,
            }],
        );
        wal.log(&out).unwrap();
    }

    fn identity() -> Arc<SeriesMapper> {
        Arc::new(|l: &Labels| {
            // Relabeling stand-in: series named "drop" are not sent.
            (l.get("__name__") != Some("drop")).then(|| l.clone())
        })
    }

    type Handed = mpsc::Receiver<(Vec<(String, i64)>, WalPosition)>;

    /// Starts a watcher and returns the receiver of what it hands on.
    fn watch(
        dir: &Path,
        start: WalPosition,
        max_t: i64,
    ) -> (Handed, Arc<AtomicBool>, std::thread::JoinHandle<()>) {
        let (tx, rx) = mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let w = Watcher::new(dir, start, max_t, identity(), stop.clone());
        let h = std::thread::spawn(move || {
            w.run(&mut Collect(tx)).unwrap();
        });
        (rx, stop, h)
    }

    fn samples_until(
        rx: &mpsc::Receiver<(Vec<(String, i64)>, WalPosition)>,
        n: usize,
    ) -> (Vec<(String, i64)>, WalPosition) {
        let mut got = Vec::new();
        let mut pos = WalPosition::default();
        while got.len() < n {
            let (s, p) = rx
                .recv_timeout(Duration::from_secs(10))
                .expect("samples in time");
            got.extend(s);
            pos = p;
        }
        (got, pos)
    }

    #[test]
    fn tails_appends_across_segment_cuts_and_skips_dropped_series() {
        let d = tempfile::tempdir().unwrap();
        let wal = Wal::open(
            d.path(),
            WalOptions {
                segment_size: 200,
                fsync_every_commit: false,
            },
        )
        .unwrap();
        log_series(&wal, 1, "a");
        log_series(&wal, 2, "drop");
        let start = Watcher::end_of_wal(d.path()).unwrap();
        let (rx, stop, h) = watch(d.path(), start, i64::MIN);
        for t in 0..50 {
            log_sample(&wal, 1, t);
            log_sample(&wal, 2, t);
        }
        assert!(wal.current_segment() > 3, "several segments were cut");
        let (got, pos) = samples_until(&rx, 50);
        let want: Vec<(String, i64)> = (0..50).map(|t| ("a".to_string(), t)).collect();
        assert_eq!(got, want);
        assert!(pos.segment > 3, "{pos:?}");
        stop.store(true, Ordering::Relaxed);
        h.join().unwrap();
    }

    #[test]
    fn resumes_at_a_saved_position_with_series_from_before_it() {
        let d = tempfile::tempdir().unwrap();
        let wal = Wal::open(d.path(), WalOptions::default()).unwrap();
        log_series(&wal, 1, "a");
        log_sample(&wal, 1, 1);
        let mid = Watcher::end_of_wal(d.path()).unwrap();
        log_sample(&wal, 1, 2);
        log_sample(&wal, 1, 3);
        let (rx, stop, h) = watch(d.path(), mid, i64::MIN);
        let (got, _) = samples_until(&rx, 2);
        assert_eq!(got, vec![("a".to_string(), 2), ("a".to_string(), 3)]);
        stop.store(true, Ordering::Relaxed);
        h.join().unwrap();
    }

    #[test]
    fn checkpointed_unread_segments_are_sent_from_the_checkpoint() {
        let d = tempfile::tempdir().unwrap();
        let wal = Wal::open(
            d.path(),
            WalOptions {
                segment_size: 100,
                fsync_every_commit: false,
            },
        )
        .unwrap();
        log_series(&wal, 1, "a");
        for t in 0..20 {
            log_sample(&wal, 1, t);
        }
        // Everything up to t=4 was sent before; the segments are then checkpointed away
        // keeping t >= 2 (what the head kept).
        let last = wal.next_segment().unwrap();
        crate::tsdb::wal::checkpoint(d.path(), last, 2, Some).unwrap();
        assert!(wal::list_segments(d.path()).unwrap().first() > Some(&last));
        log_sample(&wal, 1, 20);
        let (rx, stop, h) = watch(
            d.path(),
            WalPosition {
                segment: 0,
                offset: SEGMENT_HEADER_LEN,
            },
            4,
        );
        let (got, _) = samples_until(&rx, 16);
        let want: Vec<(String, i64)> = (5..=20).map(|t| ("a".to_string(), t)).collect();
        assert_eq!(got, want);
        stop.store(true, Ordering::Relaxed);
        h.join().unwrap();
    }
}
