//! WAL checkpoints: a compacted copy of the records of a range of segments, so those
//! segments can be deleted and replay stays bounded.
//!
//! A checkpoint `checkpoint.NNNNNNNN` covers every segment up to and including `N` (and the
//! previous checkpoint). The caller says, per series ref, whether what was logged under it
//! is still needed and under which ref ([`checkpoint`]'s `map_ref`): the checkpoint keeps
//! the Series records of refs kept as they are, the samples at or after the head's new
//! minimum time and the deleted intervals (stones) ending at or after it, of kept refs,
//! rewritten to the ref `map_ref` names. That lets the head fold a duplicate ref (a second
//! Series record for labels that replay mapped onto an existing series) into its canonical
//! one instead of losing what was logged under it. It is written to
//! `checkpoint.NNNNNNNN.tmp`, fsynced and renamed, so a crash leaves either the old or the
//! new checkpoint; only then are the covered segments and older checkpoints deleted.
//! Mirrors Prometheus `tsdb/wlog/checkpoint.go` (its `keep` function; upstream keeps a
//! duplicate ref under its own name until its WAL expiry instead of rewriting it).

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use super::record::{self, decode_samples, decode_series, RecordType, RefSample};
use super::{
    list_segments, segment_name, sync_dir, RecordBodyError, Result, SegmentReader, WalError,
};
use crate::model::Labels;
use crate::tsdb::tombstones::{decode_wal_stones, encode_wal_stones, Stone};

const PREFIX: &str = "checkpoint.";

/// What a checkpoint kept and dropped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CheckpointStats {
    pub series_kept: u64,
    pub series_dropped: u64,
    pub samples_kept: u64,
    pub samples_dropped: u64,
    /// Samples kept under another ref than the one they were logged under.
    pub samples_rewritten: u64,
    /// Deleted intervals (stones) kept and dropped.
    pub tombstones_kept: u64,
    pub tombstones_dropped: u64,
    /// Segment files deleted afterwards.
    pub segments_deleted: u64,
    /// False when an existing checkpoint already covered the segments and nothing was done.
    pub written: bool,
}

fn checkpoint_index(name: &str) -> Option<u32> {
    let rest = name.strip_prefix(PREFIX)?;
    (rest.len() == 8 && rest.bytes().all(|b| b.is_ascii_digit()))
        .then(|| rest.parse().ok())
        .flatten()
}

/// All completed checkpoints in `dir`, oldest first.
fn checkpoints(dir: &Path) -> Result<Vec<(u32, PathBuf)>> {
    let mut out = Vec::new();
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(WalError::io("listing", dir)(e)),
    };
    for e in rd {
        let e = e.map_err(WalError::io("listing", dir))?;
        if let Some(n) = e.file_name().to_str().and_then(checkpoint_index) {
            out.push((n, e.path()));
        }
    }
    out.sort();
    Ok(out)
}

/// The newest completed checkpoint: its index and directory.
pub fn last_checkpoint(dir: &Path) -> Result<Option<(u32, PathBuf)>> {
    Ok(checkpoints(dir)?.pop())
}

/// Writes `checkpoint.<last>` from the previous checkpoint and segments up to `last`, then
/// deletes those segments and older checkpoints. `last` must not be the segment being
/// written.
///
/// `map_ref(r)` decides what happens to what was logged under ref `r`: `None` drops it;
/// `Some(r)` keeps its Series records, its samples with `t >= mint` and its stones ending
/// at or after `mint`; `Some(c)` with `c != r` drops its Series records and keeps those
/// samples and stones under `c` instead. Rewriting is only correct when `c`'s Series record
/// precedes `r`'s in the log (replay made `c` canonical because it came first) and no
/// segment after `last` still uses `r`.
pub fn checkpoint(
    dir: &Path,
    last: u32,
    mint: i64,
    map_ref: impl Fn(u64) -> Option<u64>,
) -> Result<CheckpointStats> {
    let mut stats = CheckpointStats::default();
    let prev = last_checkpoint(dir)?;
    if let Some((n, _)) = &prev {
        if *n >= last {
            // Already covered; rewriting checkpoint.N in place could lose it in a crash.
            tracing::debug!(
                checkpoint = *n,
                last,
                "WAL checkpoint already covers these segments"
            );
            return Ok(stats);
        }
    }
    let inputs = checkpoint_inputs(dir, prev.as_ref(), last)?;
    let final_dir = dir.join(format!("{PREFIX}{last:08}"));
    let tmp_dir = dir.join(format!("{PREFIX}{last:08}.tmp"));
    write_checkpoint_dir(&tmp_dir, &inputs, mint, &map_ref, &mut stats)?;
    fs::rename(&tmp_dir, &final_dir).map_err(WalError::io("renaming checkpoint", &tmp_dir))?;
    sync_dir(dir)?;

    // The checkpoint is durable; what it covers can go.
    delete_covered(dir, last, &mut stats)?;
    stats.written = true;
    tracing::info!(
        checkpoint = last,
        series_kept = stats.series_kept,
        samples_kept = stats.samples_kept,
        samples_rewritten = stats.samples_rewritten,
        tombstones_kept = stats.tombstones_kept,
        segments_deleted = stats.segments_deleted,
        "WAL checkpoint written"
    );
    Ok(stats)
}

/// The segment files a new checkpoint reads, in order, with their numbers: the previous
/// checkpoint's segments, then the WAL segments after it up to and including `last`.
fn checkpoint_inputs(
    dir: &Path,
    prev: Option<&(u32, PathBuf)>,
    last: u32,
) -> Result<Vec<(PathBuf, u32)>> {
    let mut inputs: Vec<(PathBuf, u32)> = Vec::new();
    if let Some((_, cp_dir)) = prev {
        for n in list_segments(cp_dir)? {
            inputs.push((cp_dir.join(segment_name(n)), n));
        }
    }
    let from = prev.map_or(0, |(n, _)| n + 1);
    for n in list_segments(dir)?
        .into_iter()
        .filter(|&n| n >= from && n <= last)
    {
        inputs.push((dir.join(segment_name(n)), n));
    }
    Ok(inputs)
}

/// Writes what `inputs` keep into segment 0 of a fresh `tmp_dir` (removing a leftover
/// from a crash first), fsyncing the segment and the directory.
fn write_checkpoint_dir(
    tmp_dir: &Path,
    inputs: &[(PathBuf, u32)],
    mint: i64,
    map_ref: &impl Fn(u64) -> Option<u64>,
    stats: &mut CheckpointStats,
) -> Result<()> {
    if tmp_dir.exists() {
        fs::remove_dir_all(tmp_dir).map_err(WalError::io("removing", tmp_dir))?;
    }
    fs::create_dir_all(tmp_dir).map_err(WalError::io("creating", tmp_dir))?;
    let out_path = tmp_dir.join(segment_name(0));
    let mut out_file = OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .open(&out_path)
        .map_err(WalError::io("creating checkpoint segment", &out_path))?;

    let mut buf: Vec<u8> = Vec::with_capacity(1 << 20);
    buf.extend_from_slice(&super::SEGMENT_HEADER);
    let mut scratch = Scratch::default();
    for (path, n) in inputs {
        let mut r = SegmentReader::open(path, *n, false)?;
        while let Ok((offset, payload)) = r.next()? {
            keep_record(payload, mint, map_ref, &mut scratch, stats, &mut buf).map_err(
                |source| WalError::BadRecord {
                    segment: *n,
                    path: path.clone(),
                    offset,
                    source,
                },
            )?;
            if buf.len() >= 1 << 20 {
                out_file
                    .write_all(&buf)
                    .map_err(WalError::io("writing checkpoint", &out_path))?;
                buf.clear();
            }
        }
    }
    out_file
        .write_all(&buf)
        .and_then(|_| out_file.sync_all())
        .map_err(WalError::io("writing checkpoint", &out_path))?;
    drop(out_file);
    sync_dir(tmp_dir)
}

/// Buffers reused from record to record.
#[derive(Default)]
struct Scratch {
    series: Vec<(u64, Labels)>,
    samples: Vec<RefSample>,
    kept_samples: Vec<RefSample>,
}

/// Appends to `buf` what the checkpoint keeps of one record (see [`checkpoint`]) and
/// counts it; `Err` says why the record could not be decoded.
fn keep_record(
    payload: &[u8],
    mint: i64,
    map_ref: &impl Fn(u64) -> Option<u64>,
    scratch: &mut Scratch,
    stats: &mut CheckpointStats,
    buf: &mut Vec<u8>,
) -> std::result::Result<(), RecordBodyError> {
    let (t, body) = record::record_type(payload)?;
    match t {
        RecordType::Series => {
            let series = &mut scratch.series;
            series.clear();
            decode_series(body, |r, pairs| {
                if map_ref(r) == Some(r) {
                    series.push((r, Labels::from_pairs(pairs)));
                } else {
                    stats.series_dropped += 1;
                }
            })?;
            if !series.is_empty() {
                stats.series_kept += series.len() as u64;
                record::encode_series(buf, series.iter().map(|(r, l)| (*r, l)));
            }
        }
        RecordType::Samples => {
            let (samples, kept) = (&mut scratch.samples, &mut scratch.kept_samples);
            samples.clear();
            decode_samples(body, samples)?;
            kept.clear();
            for s in samples.iter().filter(|s| s.t >= mint) {
                if let Some(sref) = map_ref(s.sref) {
                    if sref != s.sref {
                        stats.samples_rewritten += 1;
                    }
                    kept.push(RefSample { sref, ..*s });
                }
            }
            stats.samples_dropped += (samples.len() - kept.len()) as u64;
            stats.samples_kept += kept.len() as u64;
            if !kept.is_empty() {
                record::encode_samples(buf, kept);
            }
        }
        RecordType::Tombstones => {
            let stones = decode_wal_stones(body)?;
            let kept: Vec<Stone> = stones
                .iter()
                .filter(|st| st.interval.maxt >= mint)
                .filter_map(|st| {
                    Some(Stone {
                        sref: map_ref(st.sref)?,
                        ..*st
                    })
                })
                .collect();
            stats.tombstones_dropped += (stones.len() - kept.len()) as u64;
            stats.tombstones_kept += kept.len() as u64;
            if !kept.is_empty() {
                record::encode_tombstones(buf, &encode_wal_stones(&kept));
            }
        }
    }
    Ok(())
}

/// Deletes the segments up to `last` and the checkpoints older than `checkpoint.<last>`.
fn delete_covered(dir: &Path, last: u32, stats: &mut CheckpointStats) -> Result<()> {
    for n in list_segments(dir)?.into_iter().filter(|&n| n <= last) {
        let p = dir.join(segment_name(n));
        fs::remove_file(&p).map_err(WalError::io("deleting segment", &p))?;
        stats.segments_deleted += 1;
    }
    for (n, p) in checkpoints(dir)? {
        if n < last {
            fs::remove_dir_all(&p).map_err(WalError::io("deleting checkpoint", &p))?;
        }
    }
    sync_dir(dir)
}

#[cfg(test)]
mod tests {
    use super::super::{replay, Wal, WalOptions};
    use super::*;

    /// Every record replayed from `dir` as (kind, ref, time): `s` series, `x` sample,
    /// `t` tombstone (its interval's start).
    fn replayed(dir: &Path) -> Vec<(&'static str, u64, i64)> {
        let mut seen = Vec::new();
        replay(
            dir,
            |r| {
                let (t, body) = record::record_type(r.payload).unwrap();
                match t {
                    RecordType::Series => {
                        decode_series(body, |r, _| seen.push(("s", r, 0))).unwrap()
                    }
                    RecordType::Samples => {
                        let mut v = Vec::new();
                        decode_samples(body, &mut v).unwrap();
                        seen.extend(v.iter().map(|s| ("x", s.sref, s.t)));
                    }
                    RecordType::Tombstones => {
                        let st = decode_wal_stones(body).unwrap();
                        seen.extend(st.iter().map(|s| ("t", s.sref, s.interval.mint)));
                    }
                }
                Ok(())
            },
            |_| {},
        )
        .unwrap();
        seen
    }

    #[test]
    fn checkpoint_keeps_live_series_and_recent_samples() {
        let d = tempfile::tempdir().unwrap();
        let wal = Wal::open(d.path(), WalOptions::default()).unwrap();
        let a = Labels::from_pairs(&[("a", "1")]);
        let b = Labels::from_pairs(&[("b", "1")]);
        let mut out = Vec::new();
        record::encode_series(&mut out, [(1, &a), (2, &b)]);
        record::encode_samples(
            &mut out,
            &[
                RefSample {
                    sref: 1,
                    t: 10,
                    v: 1.0,
                },
                RefSample {
                    sref: 1,
                    t: 100,
                    v: 2.0,
                },
                RefSample {
                    sref: 2,
                    t: 100,
                    v: 3.0,
                },
            ],
        );
        let stone = |sref, mint, maxt| Stone {
            sref,
            interval: crate::tsdb::tombstones::Interval { mint, maxt },
        };
        // Kept; ends before mint; of a dropped series.
        record::encode_tombstones(
            &mut out,
            &encode_wal_stones(&[stone(1, 60, 120), stone(1, 0, 40), stone(2, 100, 100)]),
        );
        // Nothing left of it: the whole record goes.
        record::encode_tombstones(&mut out, &encode_wal_stones(&[stone(2, 100, 100)]));
        wal.log(&out).unwrap();
        let last = wal.next_segment().unwrap();
        let mut tail = Vec::new();
        record::encode_samples(
            &mut tail,
            &[RefSample {
                sref: 1,
                t: 200,
                v: 4.0,
            }],
        );
        wal.log(&tail).unwrap();

        let st = checkpoint(d.path(), last, 50, |r| (r == 1).then_some(r)).unwrap();
        assert_eq!(st.series_kept, 1);
        assert_eq!(st.series_dropped, 1);
        assert_eq!(st.samples_kept, 1);
        assert_eq!(st.samples_dropped, 2);
        assert_eq!(st.samples_rewritten, 0);
        assert_eq!(st.tombstones_kept, 1);
        assert_eq!(st.tombstones_dropped, 3);
        assert_eq!(st.segments_deleted, 1);
        assert!(st.written);
        assert_eq!(last_checkpoint(d.path()).unwrap().unwrap().0, last);

        let seen = replayed(d.path());
        assert_eq!(
            seen,
            vec![("s", 1, 0), ("x", 1, 100), ("t", 1, 60), ("x", 1, 200)]
        );

        // A second checkpoint folds the first one in and deletes it.
        let last2 = wal.next_segment().unwrap();
        assert!(last2 > last);
        checkpoint(d.path(), last2, 150, Some).unwrap();
        let cps = checkpoints(d.path()).unwrap();
        assert_eq!(cps.len(), 1);
        assert_eq!(cps[0].0, last2);
        // Asking again for the same segment leaves the checkpoint alone.
        assert_eq!(
            checkpoint(d.path(), last2, 150, Some).unwrap(),
            CheckpointStats::default()
        );
        assert_eq!(last_checkpoint(d.path()).unwrap().unwrap().0, last2);
    }

    /// What was logged under a duplicate ref is kept under the ref `map_ref` names, in log
    /// order; its Series record goes.
    #[test]
    fn checkpoint_rewrites_duplicate_refs_to_their_canonical_ref() {
        let d = tempfile::tempdir().unwrap();
        let wal = Wal::open(d.path(), WalOptions::default()).unwrap();
        let a = Labels::from_pairs(&[("a", "1")]);
        let c = Labels::from_pairs(&[("c", "1")]);
        let rs = |sref, t| RefSample { sref, t, v: 0.0 };
        let mut out = Vec::new();
        record::encode_series(&mut out, [(1, &a), (3, &c)]);
        record::encode_samples(&mut out, &[rs(1, 10), rs(3, 10)]);
        record::encode_series(&mut out, [(7, &a)]);
        record::encode_samples(&mut out, &[rs(7, 20), rs(3, 20), rs(1, 30)]);
        record::encode_tombstones(
            &mut out,
            &encode_wal_stones(&[Stone {
                sref: 7,
                interval: crate::tsdb::tombstones::Interval { mint: 20, maxt: 20 },
            }]),
        );
        wal.log(&out).unwrap();
        let last = wal.next_segment().unwrap();
        let map = |r| match r {
            1 => Some(1),
            7 => Some(1),
            _ => None,
        };
        let st = checkpoint(d.path(), last, 0, map).unwrap();
        assert_eq!((st.series_kept, st.series_dropped), (1, 2));
        assert_eq!((st.samples_kept, st.samples_dropped), (3, 2));
        assert_eq!(st.samples_rewritten, 1);
        assert_eq!((st.tombstones_kept, st.tombstones_dropped), (1, 0));

        let seen = replayed(d.path());
        assert_eq!(
            seen,
            vec![
                ("s", 1, 0),
                ("x", 1, 10),
                ("x", 1, 20),
                ("x", 1, 30),
                ("t", 1, 20)
            ]
        );
    }

    #[test]
    fn undecodable_tombstones_record_is_corruption() {
        let d = tempfile::tempdir().unwrap();
        let wal = Wal::open(d.path(), WalOptions::default()).unwrap();
        let mut out = Vec::new();
        record::encode_tombstones(&mut out, &[5]);
        wal.log(&out).unwrap();
        let last = wal.next_segment().unwrap();
        let err = checkpoint(d.path(), last, 0, Some).unwrap_err();
        assert!(
            matches!(
                err,
                WalError::BadRecord {
                    segment: 0,
                    source: RecordBodyError::Tombstones(_),
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("tombstones record body"), "{err}");
        let source = std::error::Error::source(&err).expect("the decoder's error is kept");
        assert!(
            source.to_string().starts_with("tombstones record body"),
            "{source}"
        );
        assert!(last_checkpoint(d.path()).unwrap().is_none());
    }
}
