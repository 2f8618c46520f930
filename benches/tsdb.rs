//! TSDB hot paths: appends through `Db` (WAL + head), WAL replay on open, WAL checkpoints,
//! and head queries.
//! Names follow `tsdb/<operation>/<size>`. Run: `cargo bench --bench tsdb`.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};

use promtui::model::{Labels, MatchOp, Matcher};
use promtui::storage::Appender;
use promtui::tsdb::wal::{self, record, RefSample, Wal, WalOptions};
use promtui::tsdb::{Db, Options};

fn labels(i: usize) -> Labels {
    Labels::from_pairs(&[
        ("__name__", format!("bench_metric_{}", i % 50).as_str()),
        ("job", "node"),
        ("instance", format!("host-{}:9100", i / 10).as_str()),
        ("cpu", (i % 8).to_string().as_str()),
        ("id", i.to_string().as_str()),
    ])
}

fn append_round(db: &Db, all: &[Labels], t: i64) {
    let mut app = db.appender();
    for (i, l) in all.iter().enumerate() {
        app.append(l, t, (t / 1000) as f64 + i as f64)
            .expect("append");
    }
    app.commit().expect("commit");
}

fn bench_append(c: &mut Criterion) {
    const N: usize = 10_000;
    let all: Vec<Labels> = (0..N).map(labels).collect();
    let mut g = c.benchmark_group("tsdb/append");
    g.throughput(Throughput::Elements(N as u64));
    g.sample_size(20);

    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), Options::default()).expect("open");
    append_round(&db, &all, 0);
    let mut t = 0i64;
    g.bench_function("existing_series/10k", |b| {
        b.iter(|| {
            t += 15_000;
            append_round(&db, &all, t);
        })
    });

    g.bench_function("new_series/10k", |b| {
        b.iter_batched(
            || {
                let d = tempfile::tempdir().expect("tempdir");
                let db = Db::open(d.path(), Options::default()).expect("open");
                (d, db)
            },
            |(d, db)| {
                append_round(&db, &all, 1000);
                (d, db)
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

fn bench_replay(c: &mut Criterion) {
    const N: usize = 10_000;
    const SAMPLES: i64 = 10;
    let all: Vec<Labels> = (0..N).map(labels).collect();
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let db = Db::open(dir.path(), Options::default()).expect("open");
        for k in 0..SAMPLES {
            append_round(&db, &all, k * 15_000);
        }
        db.close().expect("close");
    }
    let mut g = c.benchmark_group("tsdb/wal_replay");
    g.throughput(Throughput::Elements(N as u64 * SAMPLES as u64));
    g.sample_size(10);
    g.bench_function("10k_series_x10", |b| {
        b.iter(|| {
            let db = Db::open(dir.path(), Options::default()).expect("open");
            assert_eq!(db.stats().head_series, N as u64);
            db
        })
    });
    g.finish();
}

/// A checkpoint over 10 segments, each one Series record of 1000 new series and ten
/// Samples records; every other series is dropped and the older half of the samples.
fn bench_checkpoint(c: &mut Criterion) {
    const SEGMENTS: u64 = 10;
    const PER_SEGMENT: u64 = 1000;
    let src = tempfile::tempdir().expect("tempdir");
    let all: Vec<Labels> = (0..(SEGMENTS * PER_SEGMENT) as usize).map(labels).collect();
    {
        let w = Wal::open(src.path(), WalOptions::default()).expect("open wal");
        for seg in 0..SEGMENTS {
            let refs = seg * PER_SEGMENT..(seg + 1) * PER_SEGMENT;
            let mut out = Vec::new();
            record::encode_series(&mut out, refs.clone().map(|r| (r, &all[r as usize])));
            for k in 0..10 {
                let samples: Vec<RefSample> = refs
                    .clone()
                    .map(|sref| RefSample {
                        sref,
                        t: k * 15_000,
                        v: k as f64,
                    })
                    .collect();
                record::encode_samples(&mut out, &samples);
            }
            w.log(&out).expect("log");
            w.next_segment().expect("cut segment");
        }
    }
    let last = wal::list_segments(src.path())
        .expect("segments")
        .into_iter()
        .max()
        .expect("a segment")
        - 1;
    let mut g = c.benchmark_group("tsdb/wal_checkpoint");
    g.throughput(Throughput::Elements(SEGMENTS * PER_SEGMENT * 10));
    g.sample_size(10);
    g.bench_function("10k_series_x10", |b| {
        b.iter_batched(
            || {
                let d = tempfile::tempdir().expect("tempdir");
                for n in wal::list_segments(src.path()).expect("segments") {
                    let name = wal::segment_name(n);
                    std::fs::copy(src.path().join(&name), d.path().join(&name)).expect("copy");
                }
                d
            },
            |d| {
                let stats = wal::checkpoint(d.path(), last, 75_000, |r| (r % 2 == 0).then_some(r))
                    .expect("checkpoint");
                assert_eq!(stats.series_kept, SEGMENTS * PER_SEGMENT / 2);
                d
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

fn bench_select(c: &mut Criterion) {
    const N: usize = 10_000;
    let all: Vec<Labels> = (0..N).map(labels).collect();
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), Options::default()).expect("open");
    for k in 0..240 {
        append_round(&db, &all, k * 15_000);
    }
    let mut g = c.benchmark_group("tsdb/select");
    let one_metric = [Matcher::equal("__name__", "bench_metric_7")];
    g.bench_function("one_metric_200_series_240_samples", |b| {
        b.iter(|| {
            let q = db.querier(0, i64::MAX);
            let mut n = 0usize;
            for mut s in q.select(&one_metric).expect("select") {
                while s.samples.next().is_some() {
                    n += 1;
                }
            }
            assert_eq!(n, 200 * 240);
        })
    });
    let regex = [
        Matcher::new(MatchOp::RegexMatch, "__name__", "bench_metric_(1|2|3)").expect("regex"),
        Matcher::new(MatchOp::NotEqual, "cpu", "0").expect("matcher"),
        Matcher::new(MatchOp::RegexMatch, "instance", "host-1.*").expect("regex"),
    ];
    g.bench_function("postings_regex_mix_10k_series", |b| {
        b.iter(|| {
            let q = db.querier(0, i64::MAX);
            q.select(&regex).expect("select").len()
        })
    });
    g.finish();
}

criterion_group!(
    benches,
    bench_append,
    bench_replay,
    bench_checkpoint,
    bench_select
);
criterion_main!(benches);
