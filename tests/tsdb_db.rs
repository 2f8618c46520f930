//! `Db` with persisted blocks: the head is cut into blocks when it spans more than 1.5 block
//! durations, blocks are reopened on start, and queriers merge head and blocks.

use std::time::{Duration, Instant};

use promtui::model::{Labels, Matcher, Sample};
use promtui::storage::{Appender, Queryable};
use promtui::tsdb::{Db, Options};

const HOUR: i64 = 3_600_000;

fn lbl(i: usize) -> Labels {
    Labels::from_pairs(&[("__name__", "m"), ("i", &i.to_string())])
}

fn opts() -> Options {
    Options {
        block_duration_ms: HOUR,
        ..Options::default()
    }
}

fn dump(db: &Db, mint: i64, maxt: i64) -> Vec<(Labels, Vec<Sample>)> {
    Queryable::querier(db, mint, maxt)
        .unwrap()
        .select(&[Matcher::equal("__name__", "m")])
        .unwrap()
        .into_iter()
        .map(|mut s| {
            let v = std::iter::from_fn(|| s.samples.next()).collect();
            (s.labels, v)
        })
        .collect()
}

fn expected(series: usize, until: i64) -> Vec<(Labels, Vec<Sample>)> {
    let mut out: Vec<(Labels, Vec<Sample>)> = (0..series)
        .map(|i| {
            let v = (0..until / 60_000)
                .map(|k| Sample::new(k * 60_000, (k as usize * 10 + i) as f64))
                .collect();
            (lbl(i), v)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn fill(db: &Db, series: usize, from: i64, until: i64) {
    let mut t = from;
    while t < until {
        let mut app = db.appender();
        for i in 0..series {
            app.append(&lbl(i), t, ((t / 60_000) as usize * 10 + i) as f64)
                .unwrap();
        }
        app.commit().unwrap();
        t += 60_000;
    }
}

#[test]
fn head_is_cut_into_blocks_and_queries_merge_head_and_blocks() {
    let d = tempfile::tempdir().unwrap();
    {
        let db = Db::open(d.path(), opts()).unwrap();
        fill(&db, 10, 0, 5 * HOUR);
        // The background compactor may already have cut some; finish deterministically.
        db.compact_head().unwrap();
        let st = db.stats();
        // Four one-hour blocks were cut; [0, 3h) was then merged into one 3 h block.
        assert_eq!(st.head_compactions, 4, "{st:?}");
        assert_eq!(st.blocks, 2, "{st:?}");
        assert!(!db.head_compactable());
        assert_eq!(st.head_min_time, Some(4 * HOUR));
        assert_eq!(dump(&db, i64::MIN, i64::MAX), expected(10, 5 * HOUR));
        // A range inside one block and a range across block and head.
        let part = dump(&db, HOUR + 30 * 60_000, 4 * HOUR + 59 * 60_000);
        assert_eq!(part[0].1.first().unwrap().t, HOUR + 30 * 60_000);
        assert_eq!(part[0].1.len(), 210);
        assert!(d.path().join("promtui-wal").exists());
        db.close().unwrap();
    }
    // Blocks are reopened, WAL replay only rebuilds what is not in them.
    let db = Db::open(d.path(), opts()).unwrap();
    let st = db.stats();
    assert_eq!(st.blocks, 2);
    assert_eq!(st.head_min_time, Some(4 * HOUR));
    assert_eq!(dump(&db, i64::MIN, i64::MAX), expected(10, 5 * HOUR));
    // Appending below the newest block's end is out of bounds.
    let mut app = db.appender();
    assert!(app.append(&lbl(0), 3 * HOUR, 1.0).is_err());
    let q = Queryable::querier(&db, 0, HOUR).unwrap();
    assert_eq!(q.label_values("i", &[]).unwrap().len(), 10);
}

#[test]
fn commits_trigger_background_compaction() {
    let d = tempfile::tempdir().unwrap();
    let db = Db::open(d.path(), opts()).unwrap();
    fill(&db, 3, 0, 2 * HOUR);
    let deadline = Instant::now() + Duration::from_secs(20);
    while db.stats().head_compactions == 0 {
        assert!(Instant::now() < deadline, "no background compaction");
        std::thread::sleep(Duration::from_millis(20));
    }
    // Whatever was compacted, the data reads back exactly once.
    let _ = db.compact_head().unwrap();
    assert_eq!(dump(&db, i64::MIN, i64::MAX), expected(3, 2 * HOUR));
    assert_eq!(db.stats().compaction_failures, 0);
}

#[test]
fn blocks_are_compacted_into_larger_ranges_and_retention_deletes_old_ones() {
    let d = tempfile::tempdir().unwrap();
    let opts = Options {
        block_duration_ms: HOUR,
        retention_time_ms: None,
        ..Options::default()
    };
    {
        let db = Db::open(d.path(), opts.clone()).unwrap();
        fill(&db, 4, 0, 11 * HOUR);
        db.compact_head().unwrap();
        let st = db.stats();
        // Ten one-hour blocks were cut; aligned 3 h ranges were merged.
        assert!(st.blocks < 10, "{st:?}");
        assert_eq!(st.compaction_failures, 0);
        assert_eq!(dump(&db, i64::MIN, i64::MAX), expected(4, 11 * HOUR));
        db.close().unwrap();
    }
    // Retention deletes whole blocks: with 4 h, every block ending more than 4 h before
    // the newest block's end. (Ranges are capped at 10% of retention, so no merging.)
    let d = tempfile::tempdir().unwrap();
    let opts = Options {
        block_duration_ms: HOUR,
        retention_time_ms: Some(4 * HOUR),
        ..Options::default()
    };
    let db = Db::open(d.path(), opts).unwrap();
    fill(&db, 4, 0, 11 * HOUR);
    db.compact_head().unwrap();
    db.compact_blocks().unwrap();
    let st = db.stats();
    assert_eq!(st.blocks, 5, "{st:?}");
    let got = dump(&db, i64::MIN, i64::MAX);
    assert_eq!(
        got[0].1.first().unwrap().t,
        5 * HOUR,
        "blocks before 5 h deleted"
    );
    assert_eq!(got[0].1.last().unwrap().t, 11 * HOUR - 60_000);
    db.close().unwrap();
}

/// A querier created before a head block is persisted must still see that block's
/// samples: head truncation waits for it (found by the promqltest runner, where a query
/// raced the background compaction and came back empty).
#[test]
fn a_live_querier_never_loses_samples_to_head_truncation() {
    let d = tempfile::tempdir().unwrap();
    let db = Db::open(d.path(), opts()).unwrap();
    // Not yet compactable: the head spans less than 1.5 block durations.
    fill(&db, 2, 0, HOUR + 20 * 60_000);
    let early = Queryable::querier(&db, i64::MIN, i64::MAX).unwrap();
    // This makes the head compactable; the background thread persists [0, 1h) and then
    // wants to truncate the head.
    fill(&db, 2, HOUR + 20 * 60_000, 2 * HOUR);
    let deadline = Instant::now() + Duration::from_secs(20);
    while db.stats().blocks == 0 {
        assert!(Instant::now() < deadline, "no block persisted");
        std::thread::sleep(Duration::from_millis(10));
    }
    // Give the truncation every chance to run before we read.
    std::thread::sleep(Duration::from_millis(200));
    let got: Vec<(Labels, Vec<Sample>)> = early
        .select(&[Matcher::equal("__name__", "m")])
        .unwrap()
        .into_iter()
        .map(|mut s| {
            let v = std::iter::from_fn(|| s.samples.next()).collect();
            (s.labels, v)
        })
        .collect();
    assert_eq!(got, expected(2, 2 * HOUR));
    drop(early);
    // Once it is gone the truncation proceeds, and new queriers read head + block.
    let deadline = Instant::now() + Duration::from_secs(20);
    while db.stats().head_min_time.unwrap_or(0) < HOUR {
        assert!(Instant::now() < deadline, "head never truncated");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(dump(&db, i64::MIN, i64::MAX), expected(2, 2 * HOUR));
}
