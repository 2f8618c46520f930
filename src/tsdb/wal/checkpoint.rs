//! WAL checkpoints: a compacted copy of the records of a range of segments, so those
//! segments can be deleted and replay stays bounded.
//!
//! A checkpoint `checkpoint.NNNNNNNN` covers every segment up to and including `N` (and the
//! previous checkpoint). It keeps the Series records of series the head still holds, the
//! samples at or after the head's new minimum time for those series, and all Tombstones
//! records. It is written to `checkpoint.NNNNNNNN.tmp`, fsynced and renamed, so a crash
//! leaves either the old or the new checkpoint; only then are the covered segments and
//! older checkpoints deleted. Mirrors Prometheus `tsdb/wlog/checkpoint.go`.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use super::record::{self, decode_samples, decode_series, RecordType, RefSample};
use super::{list_segments, segment_name, sync_dir, Result, SegmentReader, WalError};
use crate::model::Labels;

const PREFIX: &str = "checkpoint.";

/// What a checkpoint kept and dropped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CheckpointStats {
    pub series_kept: u64,
    pub series_dropped: u64,
    pub samples_kept: u64,
    pub samples_dropped: u64,
    pub tombstones_kept: u64,
    /// Segment files deleted afterwards.
    pub segments_deleted: u64,
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

/// Writes `checkpoint.<last>` from the previous checkpoint and segments up to `last`,
/// keeping series for which `keep(ref)` holds and their samples with `t >= mint`, then
/// deletes those segments and older checkpoints. `last` must not be the segment being
/// written.
pub fn checkpoint(
    dir: &Path,
    last: u32,
    mint: i64,
    keep: impl Fn(u64) -> bool,
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
    let mut inputs: Vec<(PathBuf, u32)> = Vec::new();
    if let Some((_, cp_dir)) = &prev {
        for n in list_segments(cp_dir)? {
            inputs.push((cp_dir.join(segment_name(n)), n));
        }
    }
    let from = prev.as_ref().map_or(0, |(n, _)| n + 1);
    let segs: Vec<u32> = list_segments(dir)?
        .into_iter()
        .filter(|&n| n >= from && n <= last)
        .collect();
    for &n in &segs {
        inputs.push((dir.join(segment_name(n)), n));
    }

    let final_dir = dir.join(format!("{PREFIX}{last:08}"));
    let tmp_dir = dir.join(format!("{PREFIX}{last:08}.tmp"));
    if tmp_dir.exists() {
        fs::remove_dir_all(&tmp_dir).map_err(WalError::io("removing", &tmp_dir))?;
    }
    fs::create_dir_all(&tmp_dir).map_err(WalError::io("creating", &tmp_dir))?;
    let out_path = tmp_dir.join(segment_name(0));
    let mut out_file = OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .open(&out_path)
        .map_err(WalError::io("creating checkpoint segment", &out_path))?;

    let mut buf: Vec<u8> = Vec::with_capacity(1 << 20);
    let mut samples: Vec<RefSample> = Vec::new();
    let mut kept_samples: Vec<RefSample> = Vec::new();
    let mut series: Vec<(u64, Labels)> = Vec::new();
    for (path, n) in &inputs {
        let mut r = SegmentReader::open(path, *n, false)?;
        while let Ok((offset, payload)) = r.next()? {
            let bad = |e: record::RecordError| WalError::Corruption {
                segment: *n,
                path: path.clone(),
                offset,
                reason: e.to_string(),
            };
            let (t, body) = record::record_type(payload).map_err(bad)?;
            match t {
                RecordType::Series => {
                    series.clear();
                    decode_series(body, |r, pairs| {
                        if keep(r) {
                            series.push((r, Labels::from_pairs(pairs)));
                        } else {
                            stats.series_dropped += 1;
                        }
                    })
                    .map_err(bad)?;
                    if !series.is_empty() {
                        stats.series_kept += series.len() as u64;
                        record::encode_series(&mut buf, series.iter().map(|(r, l)| (*r, l)));
                    }
                }
                RecordType::Samples => {
                    samples.clear();
                    decode_samples(body, &mut samples).map_err(bad)?;
                    kept_samples.clear();
                    kept_samples.extend(samples.iter().filter(|s| s.t >= mint && keep(s.sref)));
                    stats.samples_dropped += (samples.len() - kept_samples.len()) as u64;
                    stats.samples_kept += kept_samples.len() as u64;
                    if !kept_samples.is_empty() {
                        record::encode_samples(&mut buf, &kept_samples);
                    }
                }
                RecordType::Tombstones => {
                    stats.tombstones_kept += 1;
                    record::encode_tombstones(&mut buf, body);
                }
            }
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
    sync_dir(&tmp_dir)?;
    fs::rename(&tmp_dir, &final_dir).map_err(WalError::io("renaming checkpoint", &tmp_dir))?;
    sync_dir(dir)?;

    // The checkpoint is durable; what it covers can go.
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
    sync_dir(dir)?;
    tracing::info!(
        checkpoint = last,
        series_kept = stats.series_kept,
        samples_kept = stats.samples_kept,
        segments_deleted = stats.segments_deleted,
        "WAL checkpoint written"
    );
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::super::{replay, Wal, WalOptions};
    use super::*;

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
        record::encode_tombstones(&mut out, b"opaque");
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

        let st = checkpoint(d.path(), last, 50, |r| r == 1).unwrap();
        assert_eq!(st.series_kept, 1);
        assert_eq!(st.series_dropped, 1);
        assert_eq!(st.samples_kept, 1);
        assert_eq!(st.samples_dropped, 2);
        assert_eq!(st.tombstones_kept, 1);
        assert_eq!(st.segments_deleted, 1);
        assert_eq!(last_checkpoint(d.path()).unwrap().unwrap().0, last);

        let mut seen = Vec::new();
        replay(
            d.path(),
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
                    RecordType::Tombstones => seen.push(("t", 0, 0)),
                }
                Ok(())
            },
            |_| {},
        )
        .unwrap();
        assert_eq!(
            seen,
            vec![("s", 1, 0), ("x", 1, 100), ("t", 0, 0), ("x", 1, 200)]
        );

        // A second checkpoint folds the first one in and deletes it.
        let last2 = wal.next_segment().unwrap();
        assert!(last2 > last);
        checkpoint(d.path(), last2, 150, |_| true).unwrap();
        let cps = checkpoints(d.path()).unwrap();
        assert_eq!(cps.len(), 1);
        assert_eq!(cps[0].0, last2);
        // Asking again for the same segment leaves the checkpoint alone.
        assert_eq!(
            checkpoint(d.path(), last2, 150, |_| true).unwrap(),
            CheckpointStats::default()
        );
        assert_eq!(last_checkpoint(d.path()).unwrap().unwrap().0, last2);
    }
}
