//! Head behaviour through the public `Db` API: matcher semantics over postings, out-of-order
//! and duplicate handling with their counters, the out-of-order window, staleness markers
//! through WAL replay, truncation and series garbage collection.

use promtui::model::{is_stale_nan, Labels, MatchOp, Matcher, Sample, STALE_NAN};
use promtui::storage::{AppendError, Appender, QueryError};
use promtui::tsdb::{Db, Options};

fn l(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs)
}

fn m(name: &str, op: MatchOp, v: &str) -> Matcher {
    Matcher::new(op, name, v).unwrap()
}

fn select(db: &Db, ms: &[Matcher]) -> Vec<(Labels, Vec<Sample>)> {
    db.querier(i64::MIN, i64::MAX)
        .select(ms)
        .unwrap()
        .into_iter()
        .map(|mut s| {
            let v = std::iter::from_fn(|| s.samples.next()).collect();
            (s.labels, v)
        })
        .collect()
}

/// The `i` labels of the selected series (sorted, as the series come in label order).
fn names(db: &Db, ms: &[Matcher]) -> Vec<String> {
    let sel = select(db, ms);
    let labels: Vec<&Labels> = sel.iter().map(|(l, _)| l).collect();
    assert!(
        labels.windows(2).all(|w| w[0] < w[1]),
        "series sorted by labels"
    );
    let mut out: Vec<String> = sel
        .iter()
        .map(|(l, _)| l.get("i").unwrap_or("-").to_string())
        .collect();
    out.sort();
    out
}

fn fixture(dir: &std::path::Path) -> Db {
    let db = Db::open(dir, Options::default()).unwrap();
    let mut app = db.appender();
    let sets: &[&[(&str, &str)]] = &[
        &[
            ("__name__", "http"),
            ("i", "1"),
            ("code", "200"),
            ("path", "/"),
        ],
        &[
            ("__name__", "http"),
            ("i", "2"),
            ("code", "500"),
            ("path", "/"),
        ],
        &[("__name__", "http"), ("i", "3"), ("code", "404")],
        &[("__name__", "http"), ("i", "4")],
        &[("__name__", "cpu"), ("i", "5"), ("code", "200")],
    ];
    for s in sets {
        app.append(&l(s), 1000, 1.0).unwrap();
    }
    app.commit().unwrap();
    db
}

#[test]
fn postings_matchers_all_four_ops_and_empty_matching() {
    use MatchOp::*;
    let d = tempfile::tempdir().unwrap();
    let db = fixture(d.path());
    let http = m("__name__", Equal, "http");
    assert_eq!(
        names(&db, std::slice::from_ref(&http)),
        vec!["1", "2", "3", "4"]
    );
    assert_eq!(
        names(&db, &[http.clone(), m("code", Equal, "200")]),
        vec!["1"]
    );
    assert_eq!(
        names(&db, &[http.clone(), m("code", NotEqual, "200")]),
        vec!["2", "3", "4"],
        "!= also keeps series without the label"
    );
    assert_eq!(
        names(&db, &[http.clone(), m("code", RegexMatch, "5..|404")]),
        vec!["2", "3"]
    );
    assert_eq!(
        names(&db, &[http.clone(), m("code", RegexNoMatch, "2..")]),
        vec!["2", "3", "4"]
    );
    // Alternation of literals (set_matches fast path) equals the general regex result.
    assert_eq!(
        names(&db, &[m("code", RegexMatch, "200|404")]),
        names(&db, &[m("code", RegexMatch, "(200|40[4])")])
    );
    // Matchers that match "" select series lacking the label.
    assert_eq!(names(&db, &[http.clone(), m("code", Equal, "")]), vec!["4"]);
    assert_eq!(
        names(&db, &[http.clone(), m("path", RegexMatch, "/|")]),
        vec!["1", "2", "3", "4"]
    );
    assert_eq!(
        names(&db, &[http.clone(), m("code", NotEqual, "")]),
        vec!["1", "2", "3"]
    );
    assert_eq!(
        names(&db, &[http.clone(), m("code", RegexMatch, ".+")]),
        vec!["1", "2", "3"]
    );
    assert_eq!(
        names(&db, &[http.clone(), m("code", RegexNoMatch, ".*")]),
        Vec::<String>::new()
    );
    // Only the first series lacks nothing: path="/" and code="200".
    assert_eq!(
        names(&db, &[m("path", Equal, "/"), m("code", NotEqual, "500")]),
        vec!["1"]
    );
    // Every matcher matching "" is refused, as upstream.
    for bad in [
        vec![m("code", Equal, "")],
        vec![m("code", RegexMatch, ".*"), m("x", NotEqual, "y")],
    ] {
        let err = db.querier(0, 2000).select(&bad).unwrap_err();
        assert!(matches!(err, QueryError::BadMatchers(_)), "{err}");
    }
    // Label lookups.
    let q = db.querier(0, 2000);
    assert_eq!(
        q.label_names(&[]).unwrap(),
        vec!["__name__", "code", "i", "path"]
    );
    assert_eq!(
        q.label_values("code", &[]).unwrap(),
        vec!["200", "404", "500"]
    );
    assert_eq!(
        q.label_values("code", &[m("__name__", Equal, "http")])
            .unwrap(),
        vec!["200", "404", "500"]
    );
    assert_eq!(
        q.label_values("__name__", &[m("code", Equal, "200")])
            .unwrap(),
        vec!["cpu", "http"]
    );
}

#[test]
fn out_of_order_and_duplicates_are_rejected_and_counted() {
    let d = tempfile::tempdir().unwrap();
    let db = Db::open(d.path(), Options::default()).unwrap();
    let a = l(&[("__name__", "a")]);
    let mut app = db.appender();
    app.append(&a, 2000, 2.0).unwrap();
    app.commit().unwrap();
    let mut app = db.appender();
    assert_eq!(
        app.append(&a, 1000, 1.0),
        Err(AppendError::OutOfOrder {
            t: 1000,
            last: 2000
        })
    );
    assert_eq!(
        app.append(&a, 2000, 2.5),
        Err(AppendError::DuplicateSampleForTimestamp { t: 2000 })
    );
    // Same timestamp and same value: accepted silently, stored once.
    app.append(&a, 2000, 2.0).unwrap();
    app.append(&a, 3000, 3.0).unwrap();
    app.commit().unwrap();
    let st = db.stats();
    assert_eq!(st.rejected_out_of_order, 1);
    assert_eq!(st.rejected_duplicate, 1);
    assert_eq!(st.samples_appended, 2);
    let got = select(&db, &[Matcher::equal("__name__", "a")]);
    assert_eq!(
        got[0].1,
        vec![Sample::new(2000, 2.0), Sample::new(3000, 3.0)]
    );
}

#[test]
fn out_of_order_window_accepts_recent_samples_and_survives_replay() {
    let d = tempfile::tempdir().unwrap();
    let opts = Options {
        ooo_window_ms: 10_000,
        ..Options::default()
    };
    {
        let db = Db::open(d.path(), opts.clone()).unwrap();
        let a = l(&[("__name__", "a")]);
        let mut app = db.appender();
        app.append(&a, 100_000, 1.0).unwrap();
        app.append(&a, 110_000, 2.0).unwrap();
        app.commit().unwrap();
        let mut app = db.appender();
        app.append(&a, 105_000, 1.5).unwrap();
        app.append(&a, 101_000, 1.1).unwrap();
        assert!(matches!(
            app.append(&a, 99_000, 0.9),
            Err(AppendError::OutOfOrder { .. })
        ));
        assert!(matches!(
            app.append(&a, 100_000, 7.0),
            Err(AppendError::DuplicateSampleForTimestamp { .. })
        ));
        app.commit().unwrap();
        let st = db.stats();
        assert_eq!(st.ooo_samples_appended, 2);
        assert_eq!(st.rejected_out_of_order, 1);
    }
    let db = Db::open(d.path(), opts).unwrap();
    let got = select(&db, &[Matcher::equal("__name__", "a")]);
    let ts: Vec<i64> = got[0].1.iter().map(|s| s.t).collect();
    assert_eq!(ts, vec![100_000, 101_000, 105_000, 110_000]);
    // A querier limited to part of the range merges correctly too.
    let mut s = db
        .querier(101_000, 106_000)
        .select(&[Matcher::equal("__name__", "a")])
        .unwrap();
    let part: Vec<i64> = std::iter::from_fn(|| s[0].samples.next())
        .map(|x| x.t)
        .collect();
    assert_eq!(part, vec![101_000, 105_000]);
}

#[test]
fn stale_markers_round_trip_through_wal_replay_bit_exactly() {
    let d = tempfile::tempdir().unwrap();
    let a = l(&[("__name__", "up"), ("job", "x")]);
    let other_nan = f64::from_bits(0x7ff8_0000_0000_0001);
    {
        let db = Db::open(d.path(), Options::default()).unwrap();
        let mut app = db.appender();
        app.append(&a, 1000, 1.0).unwrap();
        app.append(&a, 2000, STALE_NAN).unwrap();
        app.append(&a, 3000, other_nan).unwrap();
        app.append(&a, 4000, -0.0).unwrap();
        app.commit().unwrap();
        db.close().unwrap();
    }
    let db = Db::open(d.path(), Options::default()).unwrap();
    let got = &select(&db, &[Matcher::equal("job", "x")])[0].1;
    assert_eq!(got.len(), 4);
    assert!(is_stale_nan(got[1].v));
    assert_eq!(got[2].v.to_bits(), other_nan.to_bits());
    assert!(!is_stale_nan(got[2].v));
    assert_eq!(got[3].v.to_bits(), (-0.0f64).to_bits());
}

#[test]
fn truncation_drops_old_chunks_and_collects_empty_series() {
    let d = tempfile::tempdir().unwrap();
    let opts = Options {
        block_duration_ms: 3_600_000,
        ..Options::default()
    };
    let db = Db::open(d.path(), opts).unwrap();
    let old = l(&[("__name__", "old")]);
    let live = l(&[("__name__", "live")]);
    let mut app = db.appender();
    // 85 minutes: under 1.5 block durations, so the background compactor leaves the head
    // alone and the truncation below is this test's own.
    for t in 0..170 {
        app.append(&live, t * 30_000, t as f64).unwrap();
        if t < 100 {
            app.append(&old, t * 30_000, t as f64).unwrap();
        }
    }
    app.commit().unwrap();
    let before = db.stats();
    assert_eq!(before.head_series, 2);
    assert!(before.head_chunks >= 3);
    let t = db.truncate_head(3_600_000).unwrap();
    assert_eq!(t.series_removed, 1);
    let st = db.stats();
    assert_eq!(st.head_series, 1);
    assert_eq!(st.series_removed, 1);
    assert_eq!(st.head_min_time, Some(3_600_000));
    assert!(select(&db, &[Matcher::equal("__name__", "old")]).is_empty());
    let got = select(&db, &[Matcher::equal("__name__", "live")]);
    assert_eq!(got[0].1.first().unwrap().t, 3_600_000);
    assert_eq!(got[0].1.len(), 50);
    assert_eq!(
        db.querier(0, i64::MAX)
            .label_values("__name__", &[])
            .unwrap(),
        vec!["live"],
        "postings of collected series are gone"
    );
    // Older than the truncation point is now out of bounds.
    let mut app = db.appender();
    assert!(matches!(
        app.append(&live, 1000, 1.0),
        Err(AppendError::OutOfBounds { .. })
    ));
    // A collected series comes back as a new series.
    app.append(&old, 7_200_000, 1.0).unwrap();
    app.commit().unwrap();
    assert_eq!(db.stats().head_series, 2);
}

/// `read_range`, the bulk path queries use, gives what `seek` + `next` give: over several
/// chunks, with out-of-order samples merged in, and with a deletion applied.
#[test]
fn bulk_reads_match_sample_by_sample_reads() {
    let d = tempfile::tempdir().unwrap();
    let opts = Options {
        ooo_window_ms: 3_600_000,
        ..Options::default()
    };
    let db = Db::open(d.path(), opts).unwrap();
    let (a, b) = (l(&[("__name__", "a")]), l(&[("__name__", "b")]));
    let mut app = db.appender();
    for i in 0..500i64 {
        app.append(&a, 1_000_000 + i * 15_000, i as f64).unwrap();
        app.append(&b, 1_000_000 + i * 15_000, (i % 7) as f64)
            .unwrap();
    }
    app.commit().unwrap();
    let mut app = db.appender();
    // Out of order for b only, between in-order samples.
    for i in 480..490i64 {
        app.append(&b, 1_000_000 + i * 15_000 + 7_000, -1.0)
            .unwrap();
    }
    app.commit().unwrap();
    let check = |mint: i64, maxt: i64| {
        for name in ["a", "b"] {
            let ms = [Matcher::equal("__name__", name)];
            let mut s1 = db.querier(i64::MIN, i64::MAX).select(&ms).unwrap();
            let mut want = Vec::new();
            let mut cur = s1[0].samples.seek(mint);
            while let Some(x) = cur.filter(|x| x.t <= maxt) {
                want.push(x);
                cur = s1[0].samples.next();
            }
            let mut s2 = db.querier(i64::MIN, i64::MAX).select(&ms).unwrap();
            let mut got = Vec::new();
            s2[0].samples.read_range(mint, maxt, &mut got);
            assert_eq!(got, want, "{name} [{mint}, {maxt}]");
        }
    };
    for (mint, maxt) in [
        (i64::MIN, i64::MAX),
        (1_000_000, 1_000_000),
        (2_000_000, 6_000_000),
        (8_000_000, 8_300_000),
        (9_000_000, i64::MAX),
    ] {
        check(mint, maxt);
    }
    db.delete(&[Matcher::equal("__name__", "a")], 2_000_000, 3_000_000)
        .unwrap();
    check(i64::MIN, i64::MAX);
    check(1_500_000, 4_000_000);
}

/// Full chunks written out of the heap are read back by queries and by head compaction
/// exactly as they were appended; their files go once the chunks are truncated, and a
/// reopen (WAL replay) starts with an empty spill directory.
#[test]
fn spilled_chunks_serve_queries_and_compaction_and_leave_with_truncation() {
    let d = tempfile::tempdir().unwrap();
    let spill_dir = d.path().join("promtui-head-chunks");
    let opts = Options {
        block_duration_ms: 3_600_000,
        ..Options::default()
    };
    let files = || std::fs::read_dir(&spill_dir).unwrap().count();
    let series = |i: i64| l(&[("__name__", "spill"), ("i", &i.to_string())]);
    let value = |i: i64, t: i64| (t * (i + 3)) as f64 / 7.0;
    let append = |db: &Db, ts: std::ops::Range<i64>| {
        let mut app = db.appender();
        for i in 0..20 {
            for t in ts.clone() {
                app.append(&series(i), t * 10_000, value(i, t)).unwrap();
            }
        }
        app.commit().unwrap();
    };
    {
        let db = Db::open(d.path(), opts.clone()).unwrap();
        // 85 minutes at 10 s (under 1.5 block durations: no background compaction): 510
        // samples per series, in two passes: chunks 0-1 in the first file, chunks 2
        // (to 3590 s, cut at the block boundary) and 3 (3600-4790 s) in the second.
        append(&db, 0..360);
        assert!(db.head().spill_closed_chunks().unwrap() > 0);
        append(&db, 360..510);
        let want = select(&db, &[Matcher::equal("__name__", "spill")]);
        assert_eq!(want.len(), 20);
        assert!(want.iter().all(|(_, v)| v.len() == 510));
        assert!(db.head().spill_closed_chunks().unwrap() > 0);
        let mem = db.head().memory();
        assert_eq!(mem.closed_chunks, 0, "{mem:?}");
        assert!(mem.spilled_chunks > 0);
        assert_eq!(files(), 2);
        assert_eq!(
            db.head().spill_closed_chunks().unwrap(),
            0,
            "nothing new to write"
        );
        assert_eq!(files(), 2, "an empty pass leaves no file");
        assert_eq!(select(&db, &[Matcher::equal("__name__", "spill")]), want);
        // Truncating at the block boundary drops chunks 0-2, and the first file with them.
        db.truncate_head(3_600_000).unwrap();
        assert_eq!(files(), 1);
        let got = select(&db, &[Matcher::equal("__name__", "spill")]);
        for ((wl, wv), (gl, gv)) in want.iter().zip(&got) {
            assert_eq!(wl, gl);
            assert_eq!(&wv[360..], &gv[..]);
        }
    }
    let db = Db::open(d.path(), opts).unwrap();
    assert_eq!(files(), 0, "emptied at open");
    // To 160 minutes: the head (from 60 minutes on after the truncation) spans more than
    // 1.5 block durations and becomes compactable; spilled chunks go into a block.
    append(&db, 510..960);
    assert!(db.head().spill_closed_chunks().unwrap() > 0);
    db.compact_head().unwrap();
    assert!(!db.blocks().is_empty());
    let got = select(&db, &[Matcher::equal("__name__", "spill")]);
    assert_eq!(got.len(), 20);
    for (labels, samples) in &got {
        let i: i64 = labels.get("i").unwrap().parse().unwrap();
        let tail: Vec<Sample> = samples
            .iter()
            .filter(|s| s.t >= 3_600_000)
            .copied()
            .collect();
        let want: Vec<Sample> = (360..960)
            .map(|t| Sample::new(t * 10_000, value(i, t)))
            .collect();
        assert_eq!(tail, want, "series {i}");
    }
}
