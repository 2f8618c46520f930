//! Deletion by matchers and time range across the whole database (`Db::delete`,
//! `Db::clean_tombstones`): in the head only, in blocks only and spanning both; the exact
//! remaining samples are checked against a model, across restarts with and without a WAL
//! checkpoint in between, after the head is persisted, and after tombstones are cleaned
//! (which must remove the data from disk and leave queries unchanged).

use std::collections::BTreeMap;

use promtui::model::{Labels, MatchOp, Matcher, Sample};
use promtui::storage::{Appender, Queryable};
use promtui::tsdb::block::{open_blocks, BlockMeta};
use promtui::tsdb::tombstones::TOMBSTONES_FILENAME;
use promtui::tsdb::{Db, Options};

const HOUR: i64 = 3_600_000;
const MIN: i64 = 60_000;
const SERIES: usize = 4;

fn lbl(i: usize) -> Labels {
    Labels::from_pairs(&[("__name__", "m"), ("i", &i.to_string())])
}

fn opts() -> Options {
    Options {
        block_duration_ms: HOUR,
        ..Options::default()
    }
}

fn value(i: usize, t: i64) -> f64 {
    ((t / MIN) as usize * 10 + i) as f64
}

/// One sample per minute per series in `[from, until)`.
fn fill(db: &Db, from: i64, until: i64) {
    let mut t = from;
    while t < until {
        let mut app = db.appender();
        for i in 0..SERIES {
            app.append(&lbl(i), t, value(i, t)).unwrap();
        }
        app.commit().unwrap();
        t += MIN;
    }
}

type Data = BTreeMap<Labels, Vec<Sample>>;

/// Everything the database returns for `m`.
fn dump(db: &Db) -> Data {
    Queryable::querier(db, i64::MIN, i64::MAX)
        .unwrap()
        .select(&[Matcher::equal("__name__", "m")])
        .unwrap()
        .into_iter()
        .map(|mut s| {
            let v: Vec<Sample> = std::iter::from_fn(|| s.samples.next()).collect();
            (s.labels, v)
        })
        .filter(|(_, v)| !v.is_empty())
        .collect()
}

/// What `fill(0, until)` wrote, minus the samples `deleted(i, t)` says are gone.
fn model(until: i64, deleted: impl Fn(usize, i64) -> bool) -> Data {
    (0..SERIES)
        .map(|i| {
            let v: Vec<Sample> = (0..until / MIN)
                .map(|k| k * MIN)
                .filter(|&t| !deleted(i, t))
                .map(|t| Sample::new(t, value(i, t)))
                .collect();
            (lbl(i), v)
        })
        .filter(|(_, v)| !v.is_empty())
        .collect()
}

fn re(name: &str, op: MatchOp, v: &str) -> Matcher {
    Matcher::new(op, name, v).unwrap()
}

fn metas(db: &Db) -> Vec<BlockMeta> {
    open_blocks(db.blocks_dir())
        .unwrap()
        .iter()
        .map(|b| b.meta().clone())
        .collect()
}

/// Opens, fills `[0, until)` and cuts blocks deterministically (the background compactor
/// may have cut some already).
fn filled(dir: &std::path::Path, until: i64) -> Db {
    let db = Db::open(dir, opts()).unwrap();
    fill(&db, 0, until);
    db.compact_head().unwrap();
    db
}

#[test]
fn delete_in_head_only_then_restart() {
    let d = tempfile::tempdir().unwrap();
    let gone = |i: usize, t: i64| i == 1 && (5 * MIN..=10 * MIN).contains(&t);
    {
        let db = filled(d.path(), 30 * MIN);
        assert_eq!(db.stats().blocks, 0);
        let st = db
            .delete(&[Matcher::equal("i", "1")], 5 * MIN, 10 * MIN)
            .unwrap();
        assert_eq!((st.head_series, st.blocks), (1, 0));
        assert_eq!(dump(&db), model(30 * MIN, gone));
        // A range over no sample of a matching series changes nothing.
        let st = db
            .delete(&[Matcher::equal("i", "1")], HOUR, 2 * HOUR)
            .unwrap();
        assert_eq!(st.head_series, 0);
        db.close().unwrap();
    }
    let db = Db::open(d.path(), opts()).unwrap();
    assert_eq!(dump(&db), model(30 * MIN, gone), "replayed from the WAL");
}

#[test]
fn delete_in_blocks_only_then_restart() {
    let d = tempfile::tempdir().unwrap();
    // Blocks [0, 3h) and [3h, 4h); head [4h, 5h).
    let gone = |i: usize, t: i64| (i == 1 || i == 2) && (HOUR..=2 * HOUR).contains(&t);
    {
        let db = filled(d.path(), 5 * HOUR);
        assert_eq!(db.stats().blocks, 2);
        let st = db
            .delete(&[re("i", MatchOp::RegexMatch, "1|2")], HOUR, 2 * HOUR)
            .unwrap();
        assert_eq!(
            (st.head_series, st.blocks, st.block_series),
            (0, 1, 2),
            "{st:?}"
        );
        assert_eq!(dump(&db), model(5 * HOUR, gone));
        let ms = metas(&db);
        assert_eq!(ms[0].stats.num_tombstones, 2, "meta.json counts intervals");
        db.close().unwrap();
    }
    let db = Db::open(d.path(), opts()).unwrap();
    assert_eq!(dump(&db), model(5 * HOUR, gone), "tombstones file reread");
}

#[test]
fn delete_spanning_head_and_blocks_survives_head_persistence_and_restart() {
    let d = tempfile::tempdir().unwrap();
    let (from, to) = (3 * HOUR + 30 * MIN, 4 * HOUR + 30 * MIN);
    let gone = |i: usize, t: i64| i != 0 && (from..=to).contains(&t);
    {
        let db = filled(d.path(), 5 * HOUR);
        let ms = [
            Matcher::equal("__name__", "m"),
            re("i", MatchOp::NotEqual, "0"),
        ];
        let st = db.delete(&ms, from, to).unwrap();
        assert_eq!((st.head_series, st.blocks, st.block_series), (3, 1, 3));
        assert_eq!(dump(&db), model(5 * HOUR, gone));
        db.close().unwrap();
    }
    {
        let db = Db::open(d.path(), opts()).unwrap();
        assert_eq!(dump(&db), model(5 * HOUR, gone));
        // More data: the head range [4h, 5h) holding deleted samples becomes a block.
        fill(&db, 5 * HOUR, 7 * HOUR);
        db.compact_head().unwrap();
        assert!(db.stats().head_min_time >= Some(5 * HOUR));
        assert_eq!(dump(&db), model(7 * HOUR, gone));
        let persisted = metas(&db)
            .into_iter()
            .find(|m| m.min_time == 4 * HOUR && m.compaction.level == 1)
            .expect("block cut from the head range [4h, 5h)");
        assert_eq!(
            persisted.stats.num_samples,
            (SERIES as u64) * 60 - 3 * 31,
            "deleted head samples are not written to the block"
        );
        assert_eq!(persisted.stats.num_tombstones, 0);
        db.close().unwrap();
    }
    let db = Db::open(d.path(), opts()).unwrap();
    assert_eq!(dump(&db), model(7 * HOUR, gone));
}

#[test]
fn head_deletion_survives_restart_after_a_checkpoint() {
    let d = tempfile::tempdir().unwrap();
    let gone = |i: usize, t: i64| match i {
        0 => (10 * MIN..=20 * MIN).contains(&t),
        3 => t >= 50 * MIN,
        _ => false,
    };
    {
        let db = filled(d.path(), HOUR);
        db.delete(&[Matcher::equal("i", "0")], 10 * MIN, 20 * MIN)
            .unwrap();
        // The tombstones record is now only in the checkpoint.
        db.truncate_head(0).unwrap();
        assert!(std::fs::read_dir(d.path().join("promtui-wal"))
            .unwrap()
            .flatten()
            .any(|e| e.file_name().to_string_lossy().starts_with("checkpoint.")));
        db.delete(&[Matcher::equal("i", "3")], 50 * MIN, i64::MAX)
            .unwrap();
        assert_eq!(dump(&db), model(HOUR, gone));
        db.close().unwrap();
    }
    {
        let db = Db::open(d.path(), opts()).unwrap();
        assert_eq!(dump(&db), model(HOUR, gone), "after one restart");
        // A second checkpoint folds the first in: the records must survive that too.
        db.truncate_head(0).unwrap();
        db.close().unwrap();
    }
    let db = Db::open(d.path(), opts()).unwrap();
    assert_eq!(dump(&db), model(HOUR, gone), "after two checkpoints");
}

#[test]
fn samples_appended_after_a_delete_are_visible() {
    let d = tempfile::tempdir().unwrap();
    let db = filled(d.path(), 10 * MIN);
    // Everything of series 2, open-ended: clamped to the samples that exist now.
    db.delete(&[Matcher::equal("i", "2")], i64::MIN, i64::MAX)
        .unwrap();
    fill(&db, 10 * MIN, 12 * MIN);
    let gone = |i: usize, t: i64| i == 2 && t < 10 * MIN;
    assert_eq!(dump(&db), model(12 * MIN, gone));
    drop(db);
    let db = Db::open(d.path(), opts()).unwrap();
    assert_eq!(dump(&db), model(12 * MIN, gone));
}

#[test]
fn matcher_semantics_regex_and_negative() {
    let d = tempfile::tempdir().unwrap();
    let db = filled(d.path(), 5 * HOUR);
    // Negative regex: series 3 only (i !~ "[0-2]"), in a block and the head.
    db.delete(
        &[
            Matcher::equal("__name__", "m"),
            re("i", MatchOp::RegexNoMatch, "[0-2]"),
        ],
        0,
        10 * MIN,
    )
    .unwrap();
    db.delete(
        &[
            Matcher::equal("__name__", "m"),
            re("i", MatchOp::RegexNoMatch, "[0-2]"),
        ],
        4 * HOUR,
        4 * HOUR + 10 * MIN,
    )
    .unwrap();
    // Anchored regex: "1" does not match "10" etc.; ".*1" matches series 1 only.
    db.delete(&[re("i", MatchOp::RegexMatch, ".*1")], 2 * HOUR, 2 * HOUR)
        .unwrap();
    // Nothing matches: nothing happens.
    let st = db
        .delete(&[Matcher::equal("__name__", "nope")], i64::MIN, i64::MAX)
        .unwrap();
    assert_eq!((st.head_series, st.blocks), (0, 0));
    let gone = |i: usize, t: i64| {
        (i == 3 && ((0..=10 * MIN).contains(&t) || (4 * HOUR..=4 * HOUR + 10 * MIN).contains(&t)))
            || (i == 1 && t == 2 * HOUR)
    };
    assert_eq!(dump(&db), model(5 * HOUR, gone));
    // Matchers that all match the empty string would select everything: refused.
    let err = db
        .delete(&[re("i", MatchOp::RegexMatch, ".*")], 0, 1)
        .unwrap_err();
    assert!(err.to_string().contains("at least one matcher"), "{err}");
    // An empty range deletes nothing.
    let st = db.delete(&[Matcher::equal("i", "0")], 10, 5).unwrap();
    assert_eq!((st.head_series, st.blocks), (0, 0));
    assert_eq!(dump(&db), model(5 * HOUR, gone));
}

#[test]
fn clean_tombstones_removes_data_from_disk_and_keeps_queries() {
    let d = tempfile::tempdir().unwrap();
    let db = filled(d.path(), 5 * HOUR);
    let gone = |i: usize, t: i64| i >= 1 && t < 2 * HOUR;
    db.delete(
        &[
            Matcher::equal("__name__", "m"),
            re("i", MatchOp::NotEqual, "0"),
        ],
        0,
        2 * HOUR - 1,
    )
    .unwrap();
    let before_meta = metas(&db);
    let old = open_blocks(db.blocks_dir()).unwrap();
    let old_size: u64 = old.iter().map(|b| b.size_bytes()).sum();
    assert!(old[0].dir().join(TOMBSTONES_FILENAME).exists());
    let expected = model(5 * HOUR, gone);
    assert_eq!(dump(&db), expected);
    // A querier created before the clean keeps reading the old blocks.
    let early = Queryable::querier(&db, i64::MIN, i64::MAX).unwrap();

    let cleaned = db.clean_tombstones().unwrap();
    assert_eq!(
        cleaned.len(),
        1,
        "only the block with tombstones is rewritten"
    );
    assert_eq!(cleaned[0].0, before_meta[0].ulid);
    let after = metas(&db);
    assert_eq!(after.len(), before_meta.len());
    let new = after
        .iter()
        .find(|m| m.min_time == 0)
        .expect("rewritten block");
    assert_eq!(
        new.stats.num_samples,
        before_meta[0].stats.num_samples - 3 * 120,
        "deleted samples are gone from the block"
    );
    assert_eq!(new.stats.num_tombstones, 0);
    assert_eq!(new.compaction.level, before_meta[0].compaction.level + 1);
    assert!(!old[0].dir().exists(), "old block directory removed");
    let new_blocks = open_blocks(db.blocks_dir()).unwrap();
    assert!(new_blocks
        .iter()
        .all(|b| !b.dir().join(TOMBSTONES_FILENAME).exists()));
    let new_size: u64 = new_blocks.iter().map(|b| b.size_bytes()).sum();
    assert!(new_size < old_size, "{new_size} >= {old_size}");
    assert_eq!(dump(&db), expected, "queries unchanged");
    let mut from_early = BTreeMap::new();
    for mut s in early.select(&[Matcher::equal("__name__", "m")]).unwrap() {
        let v: Vec<Sample> = std::iter::from_fn(|| s.samples.next()).collect();
        if !v.is_empty() {
            from_early.insert(s.labels, v);
        }
    }
    assert_eq!(
        from_early, expected,
        "old querier still reads removed blocks"
    );
    drop(early);
    // Nothing left to clean.
    assert!(db.clean_tombstones().unwrap().is_empty());
    db.close().unwrap();
    let db = Db::open(d.path(), opts()).unwrap();
    assert_eq!(dump(&db), expected, "after restart");
}

#[test]
fn clean_tombstones_drops_a_block_left_empty() {
    let d = tempfile::tempdir().unwrap();
    let db = filled(d.path(), 5 * HOUR);
    assert_eq!(db.stats().blocks, 2);
    db.delete(&[Matcher::equal("__name__", "m")], 3 * HOUR, 4 * HOUR - 1)
        .unwrap();
    let cleaned = db.clean_tombstones().unwrap();
    assert_eq!(cleaned.len(), 1);
    assert!(cleaned[0].1.is_none(), "nothing left: no block written");
    assert_eq!(db.stats().blocks, 1);
    let gone = |_: usize, t: i64| (3 * HOUR..4 * HOUR).contains(&t);
    assert_eq!(dump(&db), model(5 * HOUR, gone));
}

#[test]
fn deletes_racing_appends_and_background_compaction_lose_nothing() {
    use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
    let d = tempfile::tempdir().unwrap();
    let db = Db::open(d.path(), opts()).unwrap();
    let committed = AtomicI64::new(i64::MIN);
    let done = AtomicBool::new(false);
    let until = 10 * HOUR;
    let mut deleted_until = i64::MIN;
    std::thread::scope(|sc| {
        sc.spawn(|| {
            let mut t = 0;
            while t < until {
                let mut app = db.appender();
                for i in 0..SERIES {
                    app.append(&lbl(i), t, value(i, t)).unwrap();
                }
                app.commit().unwrap();
                committed.store(t, Ordering::Release);
                t += MIN;
            }
            done.store(true, Ordering::Release);
        });
        // Every sample up to the watermark was committed before the delete starts, so
        // it must be hidden whether it is in the head, being persisted, or in a block.
        while !done.load(Ordering::Acquire) {
            let w = committed.load(Ordering::Acquire);
            if w > deleted_until {
                db.delete(&[Matcher::equal("i", "1")], i64::MIN, w).unwrap();
                deleted_until = w;
            }
            std::thread::yield_now();
        }
    });
    db.compact_head().unwrap();
    assert!(db.stats().blocks >= 2, "{:?}", db.stats());
    assert!(deleted_until > 0);
    let gone = |i: usize, t: i64| i == 1 && t <= deleted_until;
    assert_eq!(dump(&db), model(until, gone));
    db.close().unwrap();
    let db = Db::open(d.path(), opts()).unwrap();
    assert_eq!(dump(&db), model(until, gone), "after restart");
}
