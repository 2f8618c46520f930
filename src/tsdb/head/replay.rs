//! Rebuilding the head from the WAL, in parallel.
//!
//! The calling thread reads and checks records, decodes them and creates series (symbol
//! interning and postings are shared structures, so series are created in log order by one
//! thread). Samples are partitioned by series ref over worker threads, each owning a dense
//! ref → series table for its share; a series is announced to its worker before any of its
//! samples, and each worker sees its samples in log order, so every series gets exactly the
//! appends, in the same order, that a sequential replay would give it.
//!
//! A Series record whose labels already exist under another ref (the series was
//! garbage-collected and recreated before a crash cut the checkpoint short) is an alias:
//! its samples and deleted intervals go to the existing (canonical) series. The head
//! remembers its aliases ([`WalAliases`]) so that [`Head::checkpoint_wal`] keeps what was
//! logged under them, rewritten to the canonical ref; without that, the next checkpoint
//! would drop those acknowledged samples, because the alias ref is not a series of the head.
//!
//! Mirrors Prometheus `tsdb/head_wal.go` (`loadWAL`: decoding goroutine, sharded
//! `walSubsetProcessor`s, `multiRef` for series recreated under a new ref) and the `keep`
//! function `Head.truncateWAL` passes to `wlog.Checkpoint`. Upstream keeps a duplicate ref
//! under its own name until its "WAL expiry" (the last segment at replay) and then drops
//! it; here it is kept until then and afterwards rewritten to the canonical ref, so that
//! samples still at or after the checkpoint's minimum time are never dropped.

use std::collections::HashMap;
use std::path::Path;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;

use parking_lot::Mutex;

use super::{ApplyAcc, Bounds, Head, MemSeries};
use crate::tsdb::tombstones;
use crate::tsdb::wal::record::{self, RecordType, RefSample};
use crate::tsdb::wal::{self, CheckpointStats, ReplayOutcome, ReplayProgress, WalError};

/// Refs below this are looked up in a vector; above, in a map (refs are handed out densely
/// from 1, so this only matters for absurdly long-lived heads).
const DENSE_REFS: u64 = 1 << 26;

/// Samples sent to a worker per message.
const BATCH: usize = 8192;

enum Msg {
    /// Series created from one Series record, announced before any of their samples.
    Series(Vec<(u64, Arc<MemSeries>)>),
    Samples(Vec<RefSample>),
}

/// What a replay rebuilt besides the head itself.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReplayStats {
    /// Samples whose series had no Series record (dropped).
    pub unknown_refs: u64,
    /// Series records whose labels already existed under another ref.
    pub ref_aliases: u64,
    /// Deleted intervals (stones) read from Tombstones records and applied to the head.
    pub tombstones: u64,
    /// Stones whose series is not in the head (garbage-collected before the checkpoint
    /// that kept the record); skipped.
    pub unknown_tombstone_refs: u64,
}

/// WAL refs whose Series record replay mapped onto an existing series with the same labels,
/// by WAL ref; the head keeps them until a checkpoint has folded what was logged under them
/// into the canonical series.
#[derive(Default)]
pub(crate) struct WalAliases(Mutex<HashMap<u64, WalAlias>>);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct WalAlias {
    /// The ref of the series the alias's samples belong to.
    canonical: u64,
    /// The last WAL segment at replay: later segments never use the alias ref (new Series
    /// records carry the canonical ref), so a checkpoint covering this segment can rewrite
    /// every record of the alias and the head can forget it.
    last_segment: u32,
}

impl Head {
    /// Checkpoints the WAL in `wal_dir` up to and including segment `last`, keeping what
    /// the head still needs (see [`wal::checkpoint`]): Series records, samples at or after
    /// `mint` and deleted intervals ending at or after it, of the series the head holds;
    /// and the same for refs replay mapped onto one of them, which are rewritten to the
    /// series' own ref once the checkpoint covers every segment they may appear in (until
    /// then they are kept under their own ref, Series record included). Aliases whose
    /// records are all rewritten, or whose series is gone, are forgotten afterwards.
    pub fn checkpoint_wal(
        &self,
        wal_dir: &Path,
        last: u32,
        mint: i64,
    ) -> Result<CheckpointStats, WalError> {
        // A copy, so the checkpoint takes no lock of the head but the ref shards.
        let aliases = self.wal_aliases.0.lock().clone();
        let stats = wal::checkpoint(wal_dir, last, mint, |r| {
            if self.get_by_ref(r).is_some() {
                return Some(r);
            }
            let a = aliases.get(&r)?;
            // A garbage-collected series had no sample at or after mint left.
            self.get_by_ref(a.canonical)?;
            Some(if a.last_segment > last {
                r
            } else {
                a.canonical
            })
        })?;
        if stats.written {
            self.wal_aliases
                .0
                .lock()
                .retain(|_, a| a.last_segment > last && self.get_by_ref(a.canonical).is_some());
        }
        Ok(stats)
    }

    /// Number of WAL refs replay mapped onto another series that checkpoints still have to
    /// fold into it.
    pub fn num_wal_aliases(&self) -> usize {
        self.wal_aliases.0.lock().len()
    }
}

struct Worker {
    dense: Vec<Option<Arc<MemSeries>>>,
    sparse: HashMap<u64, Arc<MemSeries>>,
    unknown: u64,
}

impl Worker {
    fn new() -> Self {
        Worker {
            dense: Vec::new(),
            sparse: HashMap::new(),
            unknown: 0,
        }
    }

    fn handle(&mut self, head: &Head, bounds: Bounds, msg: Msg, acc: &mut ApplyAcc) {
        match msg {
            Msg::Series(list) => {
                for (sref, s) in list {
                    if sref < DENSE_REFS {
                        let i = sref as usize;
                        if self.dense.len() <= i {
                            self.dense.resize(i + 1, None);
                        }
                        self.dense[i] = Some(s);
                    } else {
                        self.sparse.insert(sref, s);
                    }
                }
            }
            Msg::Samples(batch) => {
                for s in &batch {
                    let series = if s.sref < DENSE_REFS {
                        self.dense.get(s.sref as usize).and_then(Option::as_ref)
                    } else {
                        self.sparse.get(&s.sref)
                    };
                    match series {
                        // Rejections are counted by the head; replay goes on.
                        Some(series) => {
                            let _ = head.append_acc(series, s.t, s.v, bounds, acc);
                        }
                        None => self.unknown += 1,
                    }
                }
                head.flush_acc(acc);
            }
        }
    }

    fn run(head: &Head, bounds: Bounds, rx: Receiver<Msg>) -> u64 {
        let mut w = Worker::new();
        let mut acc = ApplyAcc::default();
        while let Ok(msg) = rx.recv() {
            w.handle(head, bounds, msg, &mut acc);
        }
        w.unknown
    }
}

/// Where the reading thread hands series and samples: worker threads, or itself.
enum Sink {
    Threads(Vec<SyncSender<Msg>>),
    Inline(Worker, ApplyAcc),
}

impl Sink {
    fn send(&mut self, head: &Head, bounds: Bounds, w: usize, m: Msg) {
        match self {
            // A send fails only if the worker died (a bug); its join re-raises the panic.
            Sink::Threads(txs) => {
                let _ = txs[w].send(m);
            }
            Sink::Inline(worker, acc) => worker.handle(head, bounds, m, acc),
        }
    }
}

/// Replays the WAL in `wal_dir` into `head` (which should be empty) with `workers` sample
/// worker threads; 0 applies samples on the calling thread (best for small WALs, where
/// thread hand-offs cost more than they save).
pub fn replay_wal(
    head: &Head,
    wal_dir: &Path,
    workers: usize,
    read_only: bool,
    progress: &mut dyn FnMut(ReplayProgress),
) -> Result<(ReplayOutcome, ReplayStats), WalError> {
    let bounds = head.bounds(true);
    let mut stats = ReplayStats::default();
    std::thread::scope(|scope| {
        let mut handles = Vec::with_capacity(workers);
        let mut sink = if workers == 0 {
            Sink::Inline(Worker::new(), ApplyAcc::default())
        } else {
            let mut txs: Vec<SyncSender<Msg>> = Vec::with_capacity(workers);
            for _ in 0..workers {
                let (tx, rx) = sync_channel::<Msg>(64);
                txs.push(tx);
                handles.push(scope.spawn(move || Worker::run(head, bounds, rx)));
            }
            Sink::Threads(txs)
        };
        let workers = workers.max(1);
        // WAL ref → canonical ref, for series recreated under a new ref.
        let mut aliases: HashMap<u64, u64> = HashMap::new();
        // Newest segment read outside the checkpoint.
        let mut last_segment: Option<u32> = None;
        let mut decoded: Vec<RefSample> = Vec::new();
        let mut parts: Vec<Vec<RefSample>> = (0..workers).map(|_| Vec::new()).collect();
        let mut created: Vec<Vec<(u64, Arc<MemSeries>)>> =
            (0..workers).map(|_| Vec::new()).collect();
        let out = wal::replay_with(
            wal_dir,
            read_only,
            |r| {
                let (t, body) = record::record_type(r.payload)?;
                match t {
                    RecordType::Series => {
                        record::decode_series(body, |sref, pairs| {
                            match head.create_with_ref(sref, pairs) {
                                Ok(s) => created[(sref % workers as u64) as usize].push((sref, s)),
                                Err(existing) if existing.sref != sref => {
                                    aliases.insert(sref, existing.sref);
                                    stats.ref_aliases += 1;
                                }
                                // The same Series record twice (checkpoint and segment).
                                Err(_) => {}
                            }
                        })?;
                        for (w, list) in created.iter_mut().enumerate() {
                            if !list.is_empty() {
                                sink.send(head, bounds, w, Msg::Series(std::mem::take(list)));
                            }
                        }
                        Ok(())
                    }
                    RecordType::Samples => {
                        decoded.clear();
                        record::decode_samples(body, &mut decoded)?;
                        for s in &decoded {
                            let sref = if aliases.is_empty() {
                                s.sref
                            } else {
                                aliases.get(&s.sref).copied().unwrap_or(s.sref)
                            };
                            let w = (sref % workers as u64) as usize;
                            parts[w].push(RefSample { sref, ..*s });
                            if parts[w].len() >= BATCH {
                                let batch =
                                    std::mem::replace(&mut parts[w], Vec::with_capacity(BATCH));
                                sink.send(head, bounds, w, Msg::Samples(batch));
                            }
                        }
                        Ok(())
                    }
                    RecordType::Tombstones => {
                        // Deletions are read-time filters on their series, so applying them
                        // now, before later samples of the same series reach the workers,
                        // gives the same head as applying them in log order.
                        let mut stones = tombstones::decode_wal_stones(body)?;
                        for st in &mut stones {
                            if let Some(&canonical) = aliases.get(&st.sref) {
                                st.sref = canonical;
                            }
                        }
                        stats.tombstones += stones.len() as u64;
                        stats.unknown_tombstone_refs += head.apply_stones(&stones);
                        Ok(())
                    }
                }
            },
            |p: ReplayProgress| {
                if !p.in_checkpoint {
                    last_segment = last_segment.max(Some(p.segment));
                }
                progress(p);
            },
        );
        for (w, part) in parts.iter_mut().enumerate() {
            if !part.is_empty() {
                sink.send(head, bounds, w, Msg::Samples(std::mem::take(part)));
            }
        }
        if let Sink::Inline(w, _) = &sink {
            stats.unknown_refs += w.unknown;
        }
        drop(sink);
        for h in handles {
            // A worker only panics on a bug; surface it rather than lose samples silently.
            match h.join() {
                Ok(unknown) => stats.unknown_refs += unknown,
                Err(p) => std::panic::resume_unwind(p),
            }
        }
        let out = out?;
        if !aliases.is_empty() {
            let last_segment = last_segment.max(out.checkpoint).unwrap_or(0);
            head.wal_aliases
                .0
                .lock()
                .extend(aliases.into_iter().map(|(r, canonical)| {
                    (
                        r,
                        WalAlias {
                            canonical,
                            last_segment,
                        },
                    )
                }));
        }
        Ok((out, stats))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Labels;
    use crate::tsdb::head::HeadOptions;
    use crate::tsdb::wal::{Wal, WalOptions};

    #[test]
    fn tombstones_follow_ref_aliases_and_count_unknown_refs() {
        use crate::tsdb::tombstones::{encode_wal_stones, Interval, Stone};
        let d = tempfile::tempdir().unwrap();
        let wal = Wal::open(d.path(), WalOptions::default()).unwrap();
        let a = Labels::from_pairs(&[("a", "1")]);
        let mut out = Vec::new();
        record::encode_series(&mut out, [(1, &a)]);
        let samples: Vec<RefSample> = (0..10)
            .map(|t| RefSample {
                sref: 1,
                t: t * 10,
                v: 1.0,
            })
            .collect();
        record::encode_samples(&mut out, &samples);
        // Ref 7 re-announces `a`; a deletion logged under 7 applies to series 1.
        record::encode_series(&mut out, [(7, &a)]);
        let stone = |sref, mint, maxt| Stone {
            sref,
            interval: Interval { mint, maxt },
        };
        record::encode_tombstones(
            &mut out,
            &encode_wal_stones(&[stone(7, 20, 40), stone(99, 0, 1)]),
        );
        wal.log(&out).unwrap();
        drop(wal);
        for workers in [0, 2] {
            let head = Head::new(HeadOptions::default());
            let (_, st) = replay_wal(&head, d.path(), workers, false, &mut |_| {}).unwrap();
            assert_eq!((st.tombstones, st.unknown_tombstone_refs), (2, 1));
            let s1 = head.get_by_ref(1).unwrap();
            let snap = s1.state.lock().snapshot(i64::MIN, i64::MAX).unwrap();
            let mut it = snap.into_iter(i64::MIN, i64::MAX);
            let ts: Vec<i64> = std::iter::from_fn(|| crate::storage::SampleIterator::next(&mut it))
                .map(|s| s.t)
                .collect();
            assert_eq!(ts, vec![0, 10, 50, 60, 70, 80, 90]);
        }
        // A corrupt body is reported as WAL corruption, not a panic.
        let d2 = tempfile::tempdir().unwrap();
        let wal = Wal::open(d2.path(), WalOptions::default()).unwrap();
        let mut bad = Vec::new();
        record::encode_tombstones(&mut bad, &[5]);
        wal.log(&bad).unwrap();
        drop(wal);
        let head = Head::new(HeadOptions::default());
        let err = replay_wal(&head, d2.path(), 0, false, &mut |_| {}).unwrap_err();
        assert!(err.to_string().contains("tombstones record body"), "{err}");
    }

    /// Timestamps of the series with ref `sref`.
    fn times_of(head: &Head, sref: u64) -> Vec<i64> {
        let s = head.get_by_ref(sref).unwrap();
        let snap = s.state.lock().snapshot(i64::MIN, i64::MAX).unwrap();
        let mut it = snap.into_iter(i64::MIN, i64::MAX);
        std::iter::from_fn(|| crate::storage::SampleIterator::next(&mut it))
            .map(|s| s.t)
            .collect()
    }

    #[test]
    fn checkpoints_keep_alias_refs_until_they_cover_the_last_replayed_segment() {
        let d = tempfile::tempdir().unwrap();
        let a = Labels::from_pairs(&[("a", "1")]);
        let rs = |sref, t| RefSample { sref, t, v: 1.0 };
        {
            let wal = Wal::open(d.path(), WalOptions::default()).unwrap();
            let mut out = Vec::new();
            record::encode_series(&mut out, [(1, &a)]);
            record::encode_samples(&mut out, &[rs(1, 10)]);
            wal.log(&out).unwrap();
            wal.next_segment().unwrap();
            let mut out = Vec::new();
            record::encode_series(&mut out, [(7, &a)]);
            record::encode_samples(&mut out, &[rs(7, 20)]);
            wal.log(&out).unwrap();
            wal.next_segment().unwrap();
            let mut out = Vec::new();
            record::encode_samples(&mut out, &[rs(7, 30)]);
            wal.log(&out).unwrap();
        }
        // Segments 0..=2 hold records, 3 is empty.
        let head = Head::new(HeadOptions::default());
        let (_, st) = replay_wal(&head, d.path(), 0, false, &mut |_| {}).unwrap();
        assert_eq!(st.ref_aliases, 1);
        assert_eq!(head.num_wal_aliases(), 1);
        assert_eq!(times_of(&head, 1), vec![10, 20, 30]);

        // Segment 2 still uses ref 7, so a checkpoint of 0..=1 keeps it as it is.
        let cs = head.checkpoint_wal(d.path(), 1, 0).unwrap();
        assert_eq!(
            (cs.series_kept, cs.samples_kept, cs.samples_rewritten),
            (2, 2, 0)
        );
        assert_eq!(head.num_wal_aliases(), 1);
        let head = Head::new(HeadOptions::default());
        let (_, st) = replay_wal(&head, d.path(), 0, false, &mut |_| {}).unwrap();
        assert_eq!((st.ref_aliases, st.unknown_refs), (1, 0));
        assert_eq!(times_of(&head, 1), vec![10, 20, 30]);

        // Once a checkpoint covers segment 2, ref 7 is folded into ref 1 and forgotten.
        let cs = head.checkpoint_wal(d.path(), 3, 0).unwrap();
        assert_eq!(
            (cs.series_kept, cs.samples_kept, cs.samples_rewritten),
            (1, 3, 2)
        );
        assert_eq!(head.num_wal_aliases(), 0);
        let head = Head::new(HeadOptions::default());
        let (_, st) = replay_wal(&head, d.path(), 0, false, &mut |_| {}).unwrap();
        assert_eq!((st.ref_aliases, st.unknown_refs), (0, 0));
        assert_eq!(times_of(&head, 1), vec![10, 20, 30]);
        assert_eq!(head.num_wal_aliases(), 0);
    }

    #[test]
    fn alias_of_a_garbage_collected_series_is_dropped_by_the_checkpoint() {
        let d = tempfile::tempdir().unwrap();
        let a = Labels::from_pairs(&[("a", "1")]);
        let rs = |sref, t| RefSample { sref, t, v: 1.0 };
        {
            let wal = Wal::open(d.path(), WalOptions::default()).unwrap();
            let mut out = Vec::new();
            record::encode_series(&mut out, [(1, &a)]);
            record::encode_samples(&mut out, &[rs(1, 10)]);
            record::encode_series(&mut out, [(7, &a)]);
            record::encode_samples(&mut out, &[rs(7, 20)]);
            wal.log(&out).unwrap();
            wal.next_segment().unwrap();
        }
        let head = Head::new(HeadOptions::default());
        replay_wal(&head, d.path(), 0, false, &mut |_| {}).unwrap();
        assert_eq!(head.truncate(1000).series_removed, 1);
        // The alias outlives its series only until the next checkpoint.
        assert_eq!(head.num_wal_aliases(), 1);
        let cs = head.checkpoint_wal(d.path(), 1, 1000).unwrap();
        assert_eq!((cs.series_kept, cs.series_dropped), (0, 2));
        assert_eq!((cs.samples_kept, cs.samples_dropped), (0, 2));
        assert_eq!(head.num_wal_aliases(), 0);
    }

    #[test]
    fn parallel_replay_equals_sequential_and_handles_aliases_and_unknown_refs() {
        let d = tempfile::tempdir().unwrap();
        let wal = Wal::open(d.path(), WalOptions::default()).unwrap();
        let a = Labels::from_pairs(&[("a", "1")]);
        let b = Labels::from_pairs(&[("b", "1")]);
        let mut out = Vec::new();
        record::encode_series(&mut out, [(1, &a), (2, &b)]);
        let mut samples = Vec::new();
        for t in 0..20_000 {
            samples.push(RefSample {
                sref: 1 + (t % 2) as u64,
                t,
                v: t as f64,
            });
        }
        record::encode_samples(&mut out, &samples);
        // Ref 7 re-announces labels `a`; its samples continue series 1.
        record::encode_series(&mut out, [(7, &a)]);
        record::encode_samples(
            &mut out,
            &[
                RefSample {
                    sref: 7,
                    t: 30_000,
                    v: 1.0,
                },
                RefSample {
                    sref: 99,
                    t: 30_000,
                    v: 1.0,
                },
            ],
        );
        wal.log(&out).unwrap();
        drop(wal);
        for workers in [0, 1, 3] {
            let head = Head::new(HeadOptions::default());
            let (o, st) = replay_wal(&head, d.path(), workers, false, &mut |_| {}).unwrap();
            assert_eq!(o.records, 4);
            assert_eq!(st.unknown_refs, 1);
            assert_eq!(st.ref_aliases, 1);
            assert_eq!(head.num_series(), 2);
            let s1 = head.get_by_ref(1).unwrap();
            let q = s1.state.lock().snapshot(i64::MIN, i64::MAX).unwrap();
            let mut it = q.into_iter(i64::MIN, i64::MAX);
            let ts: Vec<i64> = std::iter::from_fn(|| crate::storage::SampleIterator::next(&mut it))
                .map(|s| s.t)
                .collect();
            assert_eq!(ts.len(), 10_001);
            assert!(ts.windows(2).all(|w| w[0] < w[1]));
            assert_eq!(*ts.last().unwrap(), 30_000);
            assert_eq!(head.max_time(), 30_000);
            assert_eq!(
                head.next_ref(),
                8,
                "refs seen in the WAL are never handed out again"
            );
        }
    }
}
