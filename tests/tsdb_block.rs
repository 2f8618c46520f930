//! End-to-end tests of persisted blocks: write, reopen, query bit-exactly, compact,
//! delete, apply retention, and survive corrupted files.

use std::path::Path;
use std::sync::Arc;

use promtui::model::{Labels, MatchOp, Matcher, Sample, STALE_NAN};
use promtui::storage::Querier;
use promtui::tsdb::block::{write_block, Block, BlockError};
use promtui::tsdb::chunkenc::{Encoding, XorChunk};
use promtui::tsdb::chunks::ChunkMeta;

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
    assert!(block.size_bytes() > 0);
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
    let err = write_block(
        dir.path(),
        T0 + 100_000,
        T0 + 86_400_000,
        series.iter().map(|(l, s)| (l.clone(), to_chunks(s))),
    )
    .unwrap_err();
    assert!(matches!(err, BlockError::OutOfRange { .. }), "{err}");
    // Failed writes leave nothing behind.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}
