//! End-to-end tests of persisted blocks: write, reopen, query bit-exactly, compact,
//! delete, apply retention, and survive corrupted files.

use std::path::Path;
use std::sync::Arc;

use promtui::model::{Labels, MatchOp, Matcher, Sample, STALE_NAN};
use promtui::promql::engine::{Engine, ErrorKind, EvalError};
use promtui::storage::Querier;
use promtui::tsdb::block::{write_block, Block, BlockError};
use promtui::tsdb::chunkenc::{Encoding, XorChunk};
use promtui::tsdb::chunks::ChunkMeta;
use promtui::tsdb::{Db, Options};

/// Tiny deterministic PRNG (xorshift64*), so tests need no extra dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const T0: i64 = 1_700_000_000_000;

/// A mix of series: counters, decimal gauges, full-precision floats and special values.
fn gen_series(n: usize, samples: usize, seed: u64, t0: i64) -> Vec<(Labels, Vec<Sample>)> {
    let mut rng = Rng(seed);
    let mut out = Vec::new();
    for i in 0..n {
        let kind = i % 5;
        let labels = Labels::from_pairs(&[
            ("__name__", format!("metric_{}", i % 7).as_str()),
            ("instance", format!("host-{i:04}").as_str()),
            ("kind", format!("k{kind}").as_str()),
        ]);
        let mut v = 0.0f64;
        let mut t = t0;
        let mut s = Vec::new();
        for j in 0..samples {
            t += 15_000 + if kind == 3 { rng.below(50) as i64 } else { 0 };
            let val = match kind {
                0 => {
                    v += rng.below(100) as f64;
                    v
                }
                1 => (rng.below(10_000) as f64) / 100.0,
                2 => (rng.next() as f64) / 3.0e17,
                3 => 42.0,
                _ => match j % 6 {
                    0 => f64::NAN,
                    1 => STALE_NAN,
                    2 => -0.0,
                    3 => f64::INFINITY,
                    4 => f64::NEG_INFINITY,
                    _ => 1.5,
                },
            };
            s.push(Sample::new(t, val));
        }
        out.push((labels, s));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Encodes samples into 120-sample XOR chunks, the way the head hands them over.
fn to_chunks(samples: &[Sample]) -> Vec<ChunkMeta> {
    samples
        .chunks(120)
        .map(|c| {
            let mut x = XorChunk::new();
            for s in c {
                x.append(s.t, s.v);
            }
            ChunkMeta {
                min_time: c[0].t,
                max_time: c[c.len() - 1].t,
                encoding: Encoding::Xor,
                data: Arc::from(x.into_bytes()),
            }
        })
        .collect()
}

fn write(dir: &Path, series: &[(Labels, Vec<Sample>)], mint: i64, maxt: i64) -> Block {
    let meta = write_block(
        dir,
        mint,
        maxt,
        series.iter().map(|(l, s)| (l.clone(), to_chunks(s))),
    )
    .unwrap();
    Block::open(&dir.join(meta.ulid.to_string())).unwrap()
}

fn collect(q: &dyn Querier, ms: &[Matcher]) -> Vec<(Labels, Vec<Sample>)> {
    q.select(ms)
        .unwrap()
        .into_iter()
        .map(|mut s| {
            let mut v = Vec::new();
            while let Some(x) = s.samples.next() {
                v.push(x);
            }
            (s.labels, v)
        })
        .collect()
}

/// Like [`collect`] through the bulk `read_range` path the query engine uses.
fn collect_bulk(
    q: &dyn Querier,
    ms: &[Matcher],
    mint: i64,
    maxt: i64,
) -> Vec<(Labels, Vec<Sample>)> {
    q.select(ms)
        .unwrap()
        .into_iter()
        .map(|mut s| {
            let mut v = Vec::new();
            s.samples.read_range(mint, maxt, &mut v);
            (s.labels, v)
        })
        .collect()
}

fn assert_bit_eq(got: &[(Labels, Vec<Sample>)], want: &[(Labels, Vec<Sample>)]) {
    assert_eq!(got.len(), want.len(), "series count");
    for ((gl, gs), (wl, ws)) in got.iter().zip(want) {
        assert_eq!(gl, wl);
        assert_eq!(gs.len(), ws.len(), "{gl}");
        for (g, w) in gs.iter().zip(ws) {
            assert!(g.bit_eq(w), "{gl}: {g:?} != {w:?}");
        }
    }
}

fn all() -> Vec<Matcher> {
    vec![Matcher::new(MatchOp::RegexMatch, "__name__", ".+").unwrap()]
}

#[test]
fn round_trip_is_bit_exact() {
    let dir = tempfile::tempdir().unwrap();
    let series = gen_series(200, 700, 7, T0);
    let block = write(dir.path(), &series, T0, T0 + 86_400_000);
    let meta = block.meta();
    assert_eq!(meta.stats.num_series, 200);
    assert_eq!(meta.stats.num_samples, 200 * 700);
    assert_eq!(meta.compaction.level, 1);
    assert_eq!(meta.compaction.sources, vec![meta.ulid]);
    let q = block.querier(i64::MIN, i64::MAX).unwrap();
    assert_bit_eq(&collect(&q, &all()), &series);

    // Reopen from disk and restrict the range.
    let block = Block::open(block.dir()).unwrap();
    let (lo, hi) = (T0 + 1_000_000, T0 + 5_000_000);
    let q = block.querier(lo, hi).unwrap();
    let want: Vec<_> = series
        .iter()
        .map(|(l, s)| {
            (
                l.clone(),
                s.iter()
                    .filter(|x| x.t >= lo && x.t <= hi)
                    .copied()
                    .collect(),
            )
        })
        .collect();
    assert_bit_eq(&collect(&q, &all()), &want);
    // The bulk path clips to both the querier's and its own range.
    let q = block.querier(i64::MIN, i64::MAX).unwrap();
    assert_bit_eq(&collect_bulk(&q, &all(), lo, hi), &want);
    let q = block.querier(lo, hi).unwrap();
    assert_bit_eq(&collect_bulk(&q, &all(), i64::MIN, i64::MAX), &want);
    assert!(block.size_bytes() > 0);

    // seek lands on the first sample at or after the target, across chunk boundaries,
    // and iteration continues from there.
    let q = block.querier(i64::MIN, i64::MAX).unwrap();
    let (labels, want) = &series[0];
    for target in [want[0].t - 1, want[300].t, want[600].t + 1, want[699].t + 1] {
        let mut got = q
            .select(&[Matcher::equal("instance", labels.get("instance").unwrap())])
            .unwrap()
            .pop()
            .unwrap();
        let first = got.samples.seek(target);
        let exp = want.iter().find(|s| s.t >= target);
        assert_eq!(first.map(|s| s.t), exp.map(|s| s.t), "seek {target}");
        if let Some(e) = exp {
            let idx = want.iter().position(|s| s.t == e.t).unwrap();
            let next = got.samples.next();
            assert_eq!(next.map(|s| s.t), want.get(idx + 1).map(|s| s.t));
        }
    }
}

#[test]
fn write_block_clips_to_its_range() {
    let dir = tempfile::tempdir().unwrap();
    let series = gen_series(10, 100, 11, T0);
    // Chunks straddle both ends of the block range; one series lies entirely outside.
    let (mint, maxt) = (T0 + 20 * 15_000, T0 + 60 * 15_000);
    let mut input: Vec<(Labels, Vec<ChunkMeta>)> = series
        .iter()
        .map(|(l, s)| (l.clone(), to_chunks(s)))
        .collect();
    let outside = Labels::from_pairs(&[("__name__", "zzz_outside")]);
    input.push((outside, to_chunks(&[Sample::new(maxt, 1.0)])));
    let meta = write_block(dir.path(), mint, maxt, input.into_iter()).unwrap();
    assert_eq!(meta.stats.num_series, 10);
    let block = Block::open(&dir.path().join(meta.ulid.to_string())).unwrap();
    let want: Vec<_> = series
        .iter()
        .map(|(l, s)| {
            (
                l.clone(),
                s.iter()
                    .filter(|x| x.t >= mint && x.t < maxt)
                    .copied()
                    .collect(),
            )
        })
        .collect();
    let q = block.querier(i64::MIN, i64::MAX).unwrap();
    assert_bit_eq(&collect(&q, &all()), &want);
}

#[test]
fn matchers_follow_prometheus_semantics() {
    let dir = tempfile::tempdir().unwrap();
    let series = gen_series(50, 10, 1, T0);
    let block = write(dir.path(), &series, T0, T0 + 86_400_000);
    let q = block.querier(i64::MIN, i64::MAX).unwrap();
    let m = |op, n: &str, v: &str| Matcher::new(op, n, v).unwrap();
    let names = |ms: &[Matcher]| -> Vec<String> {
        collect(&q, ms)
            .into_iter()
            .map(|(l, _)| l.to_string())
            .collect()
    };
    let want = |f: &dyn Fn(&Labels) -> bool| -> Vec<String> {
        series
            .iter()
            .filter(|(l, _)| f(l))
            .map(|(l, _)| l.to_string())
            .collect()
    };
    assert_eq!(
        names(&[m(MatchOp::Equal, "__name__", "metric_3")]),
        want(&|l| l.metric_name() == Some("metric_3"))
    );
    assert_eq!(
        names(&[
            m(MatchOp::RegexMatch, "kind", "k1|k2"),
            m(MatchOp::NotEqual, "__name__", "metric_0")
        ]),
        want(&|l| matches!(l.get("kind"), Some("k1" | "k2")) && l.metric_name() != Some("metric_0"))
    );
    // A matcher accepting "" also selects series without the label.
    assert_eq!(
        names(&[
            m(MatchOp::Equal, "kind", "k0"),
            m(MatchOp::Equal, "missing", "")
        ]),
        want(&|l| l.get("kind") == Some("k0"))
    );
    assert!(names(&[
        m(MatchOp::Equal, "kind", "k0"),
        m(MatchOp::NotEqual, "missing", "")
    ])
    .is_empty());
    assert_eq!(
        names(&[m(MatchOp::RegexNoMatch, "instance", "host-00[0-3].")]).len(),
        50 - 40
    );
    assert_eq!(
        q.label_names(&[]).unwrap(),
        vec!["__name__", "instance", "kind"]
    );
    assert_eq!(
        q.label_values("kind", &[m(MatchOp::Equal, "__name__", "metric_0")])
            .unwrap(),
        {
            let mut v: Vec<String> = series
                .iter()
                .filter(|(l, _)| l.metric_name() == Some("metric_0"))
                .map(|(l, _)| l.get("kind").unwrap().to_string())
                .collect();
            v.sort();
            v.dedup();
            v
        }
    );
}

#[test]
fn writer_rejects_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let series = gen_series(3, 5, 2, T0);
    let mut rev = series.clone();
    rev.reverse();
    let err = write_block(
        dir.path(),
        T0,
        T0 + 86_400_000,
        rev.iter().map(|(l, s)| (l.clone(), to_chunks(s))),
    )
    .unwrap_err();
    assert!(matches!(err, BlockError::UnsortedSeries { .. }), "{err}");
    let mut w =
        promtui::tsdb::block::BlockWriter::new(dir.path(), T0 + 100_000, T0 + 200_000).unwrap();
    let err = w.add_series(&series[0].0, &series[0].1).unwrap_err();
    assert!(matches!(err, BlockError::OutOfRange { .. }), "{err}");
    let err = w
        .add_series(
            &series[1].0,
            &[
                Sample::new(T0 + 150_000, 1.0),
                Sample::new(T0 + 150_000, 2.0),
            ],
        )
        .unwrap_err();
    assert!(matches!(err, BlockError::UnsortedSamples { .. }), "{err}");
    drop(w);
    // Failed writes leave nothing behind.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

fn block_dirs(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    v.sort();
    v
}

fn shift(series: &[(Labels, Vec<Sample>)], dt: i64, dv: f64) -> Vec<(Labels, Vec<Sample>)> {
    series
        .iter()
        .map(|(l, s)| {
            (
                l.clone(),
                s.iter().map(|x| Sample::new(x.t + dt, x.v + dv)).collect(),
            )
        })
        .collect()
}

#[test]
fn compacting_overlapping_blocks_merges_and_dedups() {
    use promtui::tsdb::compact::{block_ranges, compact, plan};
    let dir = tempfile::tempdir().unwrap();
    let a = gen_series(30, 200, 3, T0);
    // b overlaps a by half and has different values at shared timestamps; plus series
    // only b has.
    let mut b = shift(&a, 100 * 15_000, 0.5);
    b.extend(gen_series(5, 50, 4, T0).into_iter().map(|(l, s)| {
        let mut l2 = l.builder();
        l2.set("only", "b");
        (l2.labels(), s)
    }));
    b.sort_by(|x, y| x.0.cmp(&y.0));
    let range = (T0, T0 + 86_400_000);
    let ba = write(dir.path(), &a, range.0, range.1);
    let bb = write(dir.path(), &b, range.0, range.1);
    let metas = vec![ba.meta().clone(), bb.meta().clone()];
    // Overlapping blocks are planned first.
    assert_eq!(plan(&metas, &block_ranges(7_200_000, None)).len(), 2);
    let out = compact(dir.path(), &[ba.clone(), bb.clone()])
        .unwrap()
        .unwrap();
    assert_eq!(out.compaction.level, 2);
    let mut srcs = vec![ba.meta().ulid, bb.meta().ulid];
    srcs.sort();
    assert_eq!(out.compaction.sources, srcs);
    // Sources are gone, only the new block remains.
    assert_eq!(block_dirs(dir.path()), vec![out.ulid.to_string()]);

    // Expected: union by labels; at equal timestamps the later block (b) wins.
    let mut want: std::collections::BTreeMap<Labels, std::collections::BTreeMap<i64, Sample>> =
        Default::default();
    for (l, s) in a.iter().chain(b.iter()) {
        let e = want.entry(l.clone()).or_default();
        for x in s {
            e.insert(x.t, *x);
        }
    }
    let want: Vec<(Labels, Vec<Sample>)> = want
        .into_iter()
        .map(|(l, m)| (l, m.into_values().collect()))
        .collect();
    let nb = Block::open(&dir.path().join(out.ulid.to_string())).unwrap();
    assert_eq!(
        nb.meta().stats.num_samples,
        want.iter().map(|(_, s)| s.len() as u64).sum::<u64>()
    );
    let q = nb.querier(i64::MIN, i64::MAX).unwrap();
    assert_bit_eq(&collect(&q, &all()), &want);
}

#[test]
fn leveled_compaction_of_a_data_dir() {
    use promtui::tsdb::compact::{block_ranges, compact_data_dir};
    let dir = tempfile::tempdir().unwrap();
    let h2 = 7_200_000i64;
    let base = (T0 / (3 * h2)) * 3 * h2;
    let mut all_series: Vec<(Labels, Vec<Sample>)> = Vec::new();
    for i in 0..4 {
        let s = gen_series(10, 400, 10 + i as u64, base + i * h2 - 15_000);
        write(dir.path(), &s, base + i * h2, base + (i + 1) * h2);
        if all_series.is_empty() {
            all_series = s;
        } else {
            for (x, y) in all_series.iter_mut().zip(s) {
                x.1.extend(y.1);
            }
        }
    }
    let made = compact_data_dir(dir.path(), &block_ranges(h2, None)).unwrap();
    // The three 2h blocks of the first 6h range become one; the newest stays.
    assert_eq!(made.len(), 1);
    assert_eq!((made[0].min_time, made[0].max_time), (base, base + 3 * h2));
    assert_eq!(made[0].compaction.sources.len(), 3);
    assert_eq!(block_dirs(dir.path()).len(), 2);
    let blocks = promtui::tsdb::block::open_blocks(dir.path()).unwrap();
    let merged: Vec<_> =
        promtui::tsdb::compact::SeriesMerger::new(&blocks, &[], i64::MIN, i64::MAX)
            .unwrap()
            .map(|r| r.unwrap())
            .collect();
    assert_bit_eq(&merged, &all_series);
}

#[test]
fn interrupted_compaction_leftovers_are_removed() {
    use promtui::tsdb::compact::{compact, remove_leftover_blocks};
    let dir = tempfile::tempdir().unwrap();
    let backup = tempfile::tempdir().unwrap();
    let a = write(dir.path(), &gen_series(5, 20, 1, T0), T0, T0 + 7_200_000);
    let b = write(
        dir.path(),
        &gen_series(5, 20, 2, T0 + 7_200_000),
        T0 + 7_200_000,
        T0 + 14_400_000,
    );
    let names = block_dirs(dir.path());
    for n in &names {
        copy_dir(&dir.path().join(n), &backup.path().join(n));
    }
    let out = compact(dir.path(), &[a, b]).unwrap().unwrap();
    // Simulate a crash after the new block was renamed in but before sources were
    // deleted, plus an unfinished write.
    for n in &names {
        copy_dir(&backup.path().join(n), &dir.path().join(n));
    }
    std::fs::create_dir(dir.path().join("01ARZ3NDEKTSV4RRFFQ69G5FAV.tmp")).unwrap();
    let unrelated = write(dir.path(), &gen_series(2, 5, 9, T0), T0, T0 + 7_200_000);
    let removed = remove_leftover_blocks(dir.path()).unwrap();
    assert_eq!(removed.len(), 3);
    let mut left = vec![out.ulid.to_string(), unrelated.meta().ulid.to_string()];
    left.sort();
    assert_eq!(block_dirs(dir.path()), left);
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

#[test]
fn deletion_hides_samples_and_compaction_drops_them() {
    use promtui::tsdb::compact::clean_tombstones;
    use promtui::tsdb::tombstones::delete;
    let dir = tempfile::tempdir().unwrap();
    let series = gen_series(20, 100, 5, T0);
    let block = write(dir.path(), &series, T0, T0 + 86_400_000);
    let (lo, hi) = (T0 + 20 * 15_000, T0 + 40 * 15_000);
    let ms = vec![Matcher::new(MatchOp::Equal, "kind", "k1").unwrap()];
    let n = delete(&block, &ms, lo, hi).unwrap();
    assert_eq!(n, 4);
    // Deleting everything of one series removes it from results.
    let one = series[0].0.clone();
    let ms_one: Vec<Matcher> = one
        .iter()
        .map(|l| Matcher::equal(l.name.clone(), l.value.clone()))
        .collect();
    assert_eq!(delete(&block, &ms_one, i64::MIN, i64::MAX).unwrap(), 1);
    let expect = |s: &[(Labels, Vec<Sample>)]| -> Vec<(Labels, Vec<Sample>)> {
        s.iter()
            .filter(|(l, _)| *l != one)
            .map(|(l, v)| {
                let del = l.get("kind") == Some("k1");
                (
                    l.clone(),
                    v.iter()
                        .filter(|x| !(del && x.t >= lo && x.t <= hi))
                        .copied()
                        .collect(),
                )
            })
            .collect()
    };
    let want = expect(&series);
    let q = block.querier(i64::MIN, i64::MAX).unwrap();
    assert_bit_eq(&collect(&q, &all()), &want);
    let q = block.querier(i64::MIN, i64::MAX).unwrap();
    assert_bit_eq(&collect_bulk(&q, &all(), i64::MIN, i64::MAX), &want);
    // Persisted: a reopened block hides the same samples, meta counts the intervals.
    let reopened = Block::open(block.dir()).unwrap();
    assert_eq!(reopened.meta().stats.num_tombstones, 5);
    let q = reopened.querier(i64::MIN, i64::MAX).unwrap();
    assert_bit_eq(&collect(&q, &all()), &want);
    // Cleaning tombstones rewrites the block without the deleted samples.
    drop(reopened);
    let cleaned = clean_tombstones(dir.path()).unwrap();
    assert_eq!(cleaned.len(), 1);
    let m = cleaned[0].1.clone().unwrap();
    assert_eq!(
        m.stats.num_samples,
        want.iter().map(|(_, s)| s.len() as u64).sum::<u64>()
    );
    assert_eq!(m.stats.num_series, 19);
    let nb = Block::open(&dir.path().join(m.ulid.to_string())).unwrap();
    assert!(nb.tombstones().is_empty());
    let q = nb.querier(i64::MIN, i64::MAX).unwrap();
    assert_bit_eq(&collect(&q, &all()), &want);
    assert_eq!(block_dirs(dir.path()), vec![m.ulid.to_string()]);
}

#[test]
fn retention_deletes_exactly_the_old_blocks() {
    use promtui::tsdb::retention::{apply_retention, Retention};
    let dir = tempfile::tempdir().unwrap();
    let h2 = 7_200_000i64;
    let mut ids = Vec::new();
    for i in 0..4 {
        let s = gen_series(5, 30, i as u64 + 1, T0 + i * h2);
        let b = write(dir.path(), &s, T0 + i * h2, T0 + (i + 1) * h2);
        ids.push((b.meta().ulid, b.size_bytes()));
    }
    // Newest max time is T0 + 8h; a 5h retention keeps blocks ending after T0 + 3h.
    let gone = apply_retention(
        dir.path(),
        Retention {
            time: Some(5 * 3_600_000),
            size: None,
        },
        0,
    )
    .unwrap();
    assert_eq!(gone, vec![ids[0].0]);
    // Size: room for exactly the newest two blocks.
    let limit = ids[3].1 + ids[2].1;
    let gone = apply_retention(
        dir.path(),
        Retention {
            time: None,
            size: Some(limit),
        },
        0,
    )
    .unwrap();
    assert_eq!(gone, vec![ids[1].0]);
    let mut left = vec![ids[2].0.to_string(), ids[3].0.to_string()];
    left.sort();
    assert_eq!(block_dirs(dir.path()), left);
}

fn flip_everywhere(path: &Path, check: &dyn Fn() -> Result<(), BlockError>) {
    let orig = std::fs::read(path).unwrap();
    let step = (orig.len() / 700).max(1);
    let name = path.file_name().unwrap().to_string_lossy().to_string();
    for i in (0..orig.len()).step_by(step) {
        let mut b = orig.clone();
        b[i] ^= 0x20;
        std::fs::write(path, &b).unwrap();
        match check() {
            Err(BlockError::Corrupt {
                path: p, offset, ..
            }) => {
                assert!(p.to_string_lossy().contains(&name), "{p:?}");
                assert!(offset <= orig.len() as u64);
            }
            Err(BlockError::Meta { .. }) => assert_eq!(name, "meta.json"),
            Err(e) => panic!("flip at {i} of {name}: unexpected error {e}"),
            // Flips in meta.json may still parse (e.g. a digit of a count).
            Ok(()) => assert_eq!(name, "meta.json", "flip at {i} of {name} undetected"),
        }
    }
    std::fs::write(path, &orig).unwrap();
}

#[test]
fn corrupt_files_give_errors_naming_file_and_offset() {
    let dir = tempfile::tempdir().unwrap();
    let series = gen_series(40, 60, 8, T0);
    let block = write(dir.path(), &series, T0, T0 + 86_400_000);
    promtui::tsdb::tombstones::delete(
        &block,
        &[Matcher::new(MatchOp::Equal, "kind", "k2").unwrap()],
        T0,
        T0 + 100_000,
    )
    .unwrap();
    let bdir = block.dir().to_path_buf();
    drop(block);
    let check = || -> Result<(), BlockError> {
        let b = Block::open(&bdir)?;
        let q = b.querier(i64::MIN, i64::MAX)?;
        let got = q.select_series(&all())?;
        // Whatever is returned must decode without panicking.
        for (_, it) in got {
            let _ = it.count();
        }
        Ok(())
    };
    check().unwrap();
    flip_everywhere(&bdir.join("index"), &check);
    flip_everywhere(&bdir.join("chunks").join("000001"), &check);
    flip_everywhere(&bdir.join("tombstones"), &check);
    flip_everywhere(&bdir.join("meta.json"), &check);
    // Truncations too.
    for f in ["index", "chunks/000001", "tombstones"] {
        let p = bdir.join(f);
        let orig = std::fs::read(&p).unwrap();
        for cut in [0, 3, orig.len() / 2, orig.len() - 1] {
            std::fs::write(&p, &orig[..cut]).unwrap();
            assert!(check().is_err(), "{f} cut at {cut}");
        }
        std::fs::write(&p, &orig).unwrap();
    }
    check().unwrap();
}

#[test]
fn cardinality_over_blocks_counts_distinct_series() {
    use promtui::storage::Querier;
    use promtui::tsdb::querier::MergeQuerier;
    let dir = tempfile::tempdir().unwrap();
    let s = gen_series(21, 5, 1, T0);
    write(dir.path(), &s, T0, T0 + 7_200_000);
    // The same series again in a later block are not counted twice.
    write(
        dir.path(),
        &shift(&s, 7_200_000, 0.0),
        T0 + 7_200_000,
        T0 + 14_400_000,
    );
    let blocks = promtui::tsdb::block::open_blocks(dir.path()).unwrap();
    assert_eq!(blocks.len(), 2);
    let qs: Vec<Box<dyn Querier>> = blocks
        .iter()
        .map(|b| Box::new(b.querier(i64::MIN, i64::MAX).unwrap()) as Box<dyn Querier>)
        .collect();
    let st = promtui::tsdb::stats::cardinality(&MergeQuerier::new(qs), 3).unwrap();
    assert_eq!(st.num_series, 21);
    assert_eq!(st.series_by_metric_name[0], ("metric_0".to_string(), 3));
    assert_eq!(st.series_by_metric_name.len(), 3);
    assert_eq!(st.values_by_label_name[0], ("instance".to_string(), 21));
    assert_eq!(st.series_by_label_pair[0], ("kind=k0".to_string(), 5));
}

#[test]
fn blocks_and_queriers_can_cross_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    fn assert_send<T: Send>() {}
    assert_send_sync::<Block>();
    assert_send::<promtui::tsdb::block::BlockQuerier>();
    let dir = tempfile::tempdir().unwrap();
    let series = gen_series(5, 10, 3, T0);
    let block = write(dir.path(), &series, T0, T0 + 86_400_000);
    let handle = std::thread::spawn(move || {
        let q = block.querier(i64::MIN, i64::MAX).unwrap();
        collect(&q, &all()).len()
    });
    assert_eq!(handle.join().unwrap(), 5);
}

/// Makes `dir` a database directory whose one block holds one series, `m{job="a"}`: 100
/// samples, 15 s apart from `T0`, so exactly one chunk. Returns the block directory.
fn one_series_block(dir: &Path) -> std::path::PathBuf {
    drop(Db::open(dir, Options::default()).unwrap());
    let blocks = dir.join("promtui-blocks");
    std::fs::create_dir_all(&blocks).unwrap();
    let labels = Labels::from_pairs(&[("__name__", "m"), ("job", "a")]);
    let samples: Vec<Sample> = (0..100)
        .map(|i| Sample::new(T0 + i * 15_000, (i as f64 * 1.37).sin()))
        .collect();
    let block = write(&blocks, &[(labels, samples)], T0, T0 + 7_200_000);
    let bdir = block.dir().to_path_buf();
    assert_eq!(block.num_series(), 1);
    bdir
}

fn get_uvarint(b: &[u8]) -> (usize, usize) {
    let (mut v, mut shift) = (0usize, 0);
    for (i, &x) in b.iter().enumerate() {
        v |= ((x & 0x7f) as usize) << shift;
        if x < 0x80 {
            return (v, i + 1);
        }
        shift += 7;
    }
    panic!("unterminated uvarint");
}

/// Rewrites the block's only chunk record (`chunks/000001` at offset 8: encoding byte,
/// uvarint length, data, CRC-32C of encoding and data) with the first half of its data
/// and a matching CRC: the chunk reads intact but does not decode, as a block written by
/// a faulty writer would.
fn cut_only_chunk_keeping_its_crc(block_dir: &Path) {
    let p = block_dir.join("chunks").join("000001");
    let b = std::fs::read(&p).unwrap();
    let enc = b[8];
    let (len, n) = get_uvarint(&b[9..]);
    let data_at = 9 + n;
    assert_eq!(
        b.len(),
        data_at + len + 4,
        "one chunk record in the segment"
    );
    let cut = &b[data_at..data_at + len / 2];
    let mut out = b[..8].to_vec();
    out.push(enc);
    let mut l = cut.len();
    while l >= 0x80 {
        out.push((l as u8) | 0x80);
        l >>= 7;
    }
    out.push(l as u8);
    out.extend_from_slice(cut);
    let crc = crc32c::crc32c_append(crc32c::crc32c(&[enc]), cut);
    out.extend_from_slice(&crc.to_be_bytes());
    std::fs::write(&p, out).unwrap();
}

/// Asserts that a query failed with a storage error naming the block, the series and
/// `what`.
fn assert_names_block_and_series(
    r: Result<promtui::promql::engine::QueryResult, EvalError>,
    ulid: &str,
    what: &str,
) {
    let err = r.expect_err("the query over the damaged block must fail");
    assert_eq!(err.kind(), ErrorKind::Storage, "{err}");
    let msg = err.to_string();
    assert!(msg.contains(&format!("block {ulid}")), "{msg}");
    assert!(msg.contains(r#"series m{job="a"}"#), "{msg}");
    assert!(msg.contains(what), "{msg}");
}

#[test]
fn a_chunk_that_does_not_decode_fails_the_query_naming_block_and_series() {
    let dir = tempfile::tempdir().unwrap();
    let bdir = one_series_block(dir.path());
    let ulid = bdir.file_name().unwrap().to_string_lossy().to_string();
    let last = T0 + 99 * 15_000;
    let engine = Engine::default();
    // Intact, the block answers.
    let block = Block::open(&bdir).unwrap();
    assert!(engine.instant_query(&block, "m", last).is_ok());
    drop(block);
    cut_only_chunk_keeping_its_crc(&bdir);

    // The block opens (index and chunk headers are fine) and select succeeds (the CRC
    // matches); decoding fails, which used to end the series early in silence.
    let block = Block::open(&bdir).unwrap();
    for q in ["m", "sum_over_time(m[1h])", "count(m)"] {
        assert_names_block_and_series(
            engine.instant_query(&block, q, last),
            &ulid,
            "corrupt chunk",
        );
    }
    let range = engine.range_query(&block, "m", T0, last, 60_000);
    assert_names_block_and_series(range, &ulid, "corrupt chunk");
    // Sample by sample, the iterator stops and says why.
    let q = block.querier(i64::MIN, i64::MAX).unwrap();
    let mut series = Querier::select(&q, &all()).unwrap();
    assert_eq!(series.len(), 1);
    let read = std::iter::from_fn(|| series[0].samples.next()).count();
    assert!(read < 100, "{read} samples read from a cut chunk");
    let err = series[0]
        .samples
        .err()
        .expect("the iterator reports the damage");
    assert!(err.to_string().contains(&ulid), "{err}");
    drop((series, q, block));

    // The same through a database that holds the block.
    let db = Db::open(dir.path(), Options::default()).unwrap();
    assert_names_block_and_series(engine.instant_query(&db, "m", last), &ulid, "corrupt chunk");
}

#[test]
fn a_flipped_chunk_byte_fails_the_query_naming_block_series_and_file() {
    let dir = tempfile::tempdir().unwrap();
    let bdir = one_series_block(dir.path());
    let ulid = bdir.file_name().unwrap().to_string_lossy().to_string();
    let p = bdir.join("chunks").join("000001");
    let mut b = std::fs::read(&p).unwrap();
    let mid = b.len() / 2;
    b[mid] ^= 0x10;
    std::fs::write(&p, b).unwrap();
    let last = T0 + 99 * 15_000;
    let engine = Engine::default();
    let db = Db::open(dir.path(), Options::default()).unwrap();
    let r = engine.instant_query(&db, "m", last);
    assert_names_block_and_series(r, &ulid, "CRC-32C mismatch");
    let msg = engine
        .instant_query(&db, "m", last)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("000001 at offset 8"), "{msg}");
}
