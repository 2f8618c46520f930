//! End-to-end WAL behaviour through `Db`: torn tails, corruption in the middle, repair, and
//! checkpoints, on real files in temp directories.

use std::fs::{self, OpenOptions};
use std::path::{Path, PathBuf};

use promtui::model::{Labels, Matcher, Sample};
use promtui::storage::Appender;
use promtui::tsdb::wal::{self, WalError};
use promtui::tsdb::{Db, Options};

fn lbl(i: usize) -> Labels {
    Labels::from_pairs(&[("__name__", "m"), ("i", &i.to_string())])
}

fn dump(db: &Db) -> Vec<(Labels, Vec<(i64, u64)>)> {
    db.querier(i64::MIN, i64::MAX)
        .select(&[Matcher::equal("__name__", "m")])
        .unwrap()
        .into_iter()
        .map(|mut s| {
            let v = std::iter::from_fn(|| s.samples.next())
                .map(|x: Sample| (x.t, x.v.to_bits()))
                .collect();
            (s.labels, v)
        })
        .collect()
}

fn commit_batch(db: &Db, b: usize, series: usize) {
    let mut app = db.appender();
    for i in 0..series {
        app.append(&lbl(i), b as i64 * 1000, (b * 100 + i) as f64)
            .unwrap();
    }
    app.commit().unwrap();
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dst = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dst);
        } else if e.file_name() != "lock" {
            fs::copy(e.path(), dst).unwrap();
        }
    }
}

fn last_segment(wal_dir: &Path) -> PathBuf {
    let segs = wal::list_segments(wal_dir).unwrap();
    wal_dir.join(wal::segment_name(*segs.last().unwrap()))
}

fn last_segment_with_data(wal_dir: &Path) -> PathBuf {
    let segs = wal::list_segments(wal_dir).unwrap();
    segs.iter()
        .rev()
        .map(|s| wal_dir.join(wal::segment_name(*s)))
        .find(|p| fs::metadata(p).unwrap().len() > wal::SEGMENT_HEADER_LEN)
        .unwrap()
}

#[test]
fn torn_tail_at_every_offset_of_the_last_record_is_truncated() {
    let d = tempfile::tempdir().unwrap();
    let (before, after);
    {
        let db = Db::open(d.path(), Options::default()).unwrap();
        for b in 1..=5 {
            commit_batch(&db, b, 3);
        }
        let seg = last_segment(&d.path().join("promtui-wal"));
        before = fs::metadata(&seg).unwrap().len();
        // The last commit creates a new series too: a Series and a Samples record.
        let mut app = db.appender();
        app.append(&lbl(99), 6000, 6.0).unwrap();
        app.append(&lbl(0), 6000, 6.0).unwrap();
        app.commit().unwrap();
        after = fs::metadata(&seg).unwrap().len();
        db.close().unwrap();
    }
    assert!(after > before);
    // The torn commit holds two records (Series, then Samples); between them is a clean cut.
    let boundary = {
        let bytes = fs::read(last_segment_with_data(&d.path().join("promtui-wal"))).unwrap();
        let h = &bytes[before as usize..before as usize + 4];
        before + 8 + u64::from(u32::from_be_bytes([h[0], h[1], h[2], h[3]]))
    };
    assert!(boundary < after);
    let reference = {
        let db = Db::open(d.path(), Options::default()).unwrap();
        dump(&db)
    };
    for cut in before..after {
        let work = tempfile::tempdir().unwrap();
        copy_dir(d.path(), work.path());
        let seg = last_segment(&work.path().join("promtui-wal"));
        // The reopen above created an empty newer segment (its header only); drop it so the
        // cut one is last.
        if fs::metadata(&seg).unwrap().len() == wal::SEGMENT_HEADER_LEN {
            fs::remove_file(&seg).unwrap();
        }
        let seg = last_segment(&work.path().join("promtui-wal"));
        OpenOptions::new()
            .write(true)
            .open(&seg)
            .unwrap()
            .set_len(cut)
            .unwrap();
        let db = Db::open(work.path(), Options::default())
            .unwrap_or_else(|e| panic!("open after cut at {cut} failed: {e}"));
        let got = dump(&db);
        // Everything from the first five commits is there; the torn commit is not.
        let want: Vec<(Labels, Vec<(i64, u64)>)> = reference
            .iter()
            .filter(|(l, _)| l != &lbl(99))
            .map(|(l, s)| {
                (
                    l.clone(),
                    s.iter().copied().filter(|x| x.0 < 6000).collect(),
                )
            })
            .collect();
        assert_eq!(got, want, "cut at {cut}");
        let st = db.stats();
        let torn = cut != before && cut != boundary;
        assert_eq!(st.wal_truncations, u64::from(torn), "cut at {cut}");
        assert_eq!(st.wal_corruptions, 0);
        // And it stays writable and consistent after the truncation.
        commit_batch(&db, 7, 1);
        drop(db);
        let db = Db::open(work.path(), Options::default()).unwrap();
        assert_eq!(dump(&db)[0].1.last().unwrap().0, 7000);
    }
}

#[test]
fn corruption_in_the_middle_is_an_error_naming_segment_and_offset_and_repair_keeps_the_prefix() {
    let d = tempfile::tempdir().unwrap();
    {
        let opts = Options {
            wal_segment_size: 64 * 1024,
            ..Options::default()
        };
        let db = Db::open(d.path(), opts).unwrap();
        for b in 1..=1500 {
            commit_batch(&db, b, 20);
        }
        db.close().unwrap();
    }
    let wal_dir = d.path().join("promtui-wal");
    let segs = wal::list_segments(&wal_dir).unwrap();
    assert!(segs.len() >= 3, "{segs:?}");
    let victim = wal_dir.join(wal::segment_name(segs[1]));
    let mut bytes = fs::read(&victim).unwrap();
    let pos = bytes.len() / 2;
    bytes[pos] ^= 0xff;
    fs::write(&victim, &bytes).unwrap();

    let err = wal::replay(&wal_dir, |_| Ok(()), |_| {}).unwrap_err();
    match &err {
        WalError::Corruption {
            segment, offset, ..
        } => {
            assert_eq!(*segment, segs[1]);
            assert!(*offset <= pos as u64 && *offset > 0, "offset {offset}");
        }
        other => panic!("expected corruption, got {other}"),
    }
    let msg = err.to_string();
    assert!(
        msg.contains(&format!("segment {}", segs[1])) && msg.contains("offset"),
        "{msg}"
    );

    // Db::open repairs: keeps everything before the damaged record, drops the rest.
    let db = Db::open(d.path(), Options::default()).unwrap();
    let st = db.stats();
    assert_eq!(st.wal_corruptions, 1);
    let got = dump(&db);
    assert_eq!(got.len(), 20);
    let n = got[0].1.len();
    assert!(n > 10 && n < 1500, "kept {n} samples");
    for (_, s) in &got {
        // A contiguous prefix of batches 1..=k.
        assert!(s
            .iter()
            .enumerate()
            .all(|(i, x)| x.0 == (i as i64 + 1) * 1000));
    }
    // Later segments were dropped; the reopened WAL writes right after the repaired one.
    assert_eq!(
        wal::list_segments(&wal_dir).unwrap(),
        (segs[0]..=segs[1] + 1).collect::<Vec<u32>>()
    );
    assert!(fs::metadata(&victim).unwrap().len() <= pos as u64);
}

#[test]
fn corruption_followed_by_valid_records_in_the_last_segment_is_an_error() {
    let d = tempfile::tempdir().unwrap();
    {
        let db = Db::open(d.path(), Options::default()).unwrap();
        for b in 1..=50 {
            commit_batch(&db, b, 5);
        }
    }
    let wal_dir = d.path().join("promtui-wal");
    let seg = last_segment(&wal_dir);
    let mut bytes = fs::read(&seg).unwrap();
    let pos = bytes.len() / 3;
    bytes[pos] ^= 0x01;
    fs::write(&seg, &bytes).unwrap();
    let err = wal::replay(&wal_dir, |_| Ok(()), |_| {}).unwrap_err();
    assert!(matches!(err, WalError::Corruption { .. }), "{err}");
    // wal::repair (what Db::open does) makes it readable again.
    if let WalError::Corruption {
        segment, offset, ..
    } = err
    {
        wal::repair(&wal_dir, segment, offset).unwrap();
    }
    let out = wal::replay(&wal_dir, |_| Ok(()), |_| {}).unwrap();
    assert!(out.records > 0);
}

#[test]
fn checkpoint_then_replay_equals_state_before() {
    let d = tempfile::tempdir().unwrap();
    let opts = Options {
        wal_segment_size: 64 * 1024,
        // Long enough that the head (300 s of data) is never compactable, so only the
        // explicit truncation below touches it.
        block_duration_ms: 250_000,
        ..Options::default()
    };
    let (before, stats_before);
    {
        let db = Db::open(d.path(), opts.clone()).unwrap();
        for b in 1..=300 {
            // Series i stops receiving samples after batch 10*i, so truncation empties some.
            let mut app = db.appender();
            for i in 0..30 {
                if b <= 10 * i + 10 {
                    app.append(&lbl(i), b as i64 * 1000, (b * i) as f64)
                        .unwrap();
                }
            }
            app.commit().unwrap();
        }
        let t = db.truncate_head(260_000).unwrap();
        assert!(t.series_removed > 0);
        // Appends after the checkpoint land in the new segments.
        let mut app = db.appender();
        app.append(&lbl(29), 301_000, 1.5).unwrap();
        app.commit().unwrap();
        before = dump(&db);
        stats_before = db.stats();
        assert_eq!(stats_before.checkpoints, 1);
        db.close().unwrap();
    }
    let wal_dir = d.path().join("promtui-wal");
    let cp = wal::last_checkpoint(&wal_dir).unwrap();
    assert!(cp.is_some(), "checkpoint directory exists");
    let first_seg = wal::list_segments(&wal_dir).unwrap()[0];
    assert!(first_seg > cp.unwrap().0, "covered segments were deleted");
    let mut progress = Vec::new();
    let db = Db::open_with_progress(d.path(), opts, |p| progress.push(p)).unwrap();
    let after = dump(&db);
    assert_eq!(after, before);
    assert_eq!(db.stats().head_series, stats_before.head_series);
    assert!(progress.first().unwrap().in_checkpoint);
    let last = progress.last().unwrap();
    assert_eq!(last.segments_done, last.total_segments);
    assert_eq!(last.bytes_read, last.total_bytes);
    // Nothing before the truncation point survived.
    // (truncation is aligned down to the block duration: 250 s)
    assert!(after.iter().all(|(_, s)| s.iter().all(|x| x.0 >= 250_000)));
    assert!(after.iter().any(|(_, s)| s.iter().any(|x| x.0 == 250_000)));
}

/// Every sample of every series named `m`, as (labels, timestamps).
fn times(db: &Db) -> Vec<(Labels, Vec<i64>)> {
    dump(db)
        .into_iter()
        .map(|(l, s)| (l, s.into_iter().map(|x| x.0).collect()))
        .collect()
}

#[test]
fn checkpoint_keeps_samples_logged_under_a_duplicate_series_ref() {
    use promtui::tsdb::tombstones::{encode_wal_stones, Interval, Stone};
    use promtui::tsdb::wal::record::{encode_samples, encode_series, encode_tombstones};
    use promtui::tsdb::wal::{RefSample, Wal, WalOptions};
    let d = tempfile::tempdir().unwrap();
    let wal_dir = d.path().join("promtui-wal");
    let (a, b) = (lbl(0), lbl(1));
    let rs = |sref, t| RefSample {
        sref,
        t,
        v: t as f64,
    };
    {
        // Series `a` is logged under ref 1, then again under ref 7 (as after it was
        // garbage-collected and recreated, or created twice concurrently): samples sit under
        // both refs, in two segments, and a deletion is logged under the duplicate ref.
        let wal = Wal::open(&wal_dir, WalOptions::default()).unwrap();
        let mut out = Vec::new();
        encode_series(&mut out, [(1, &a), (2, &b)]);
        encode_samples(&mut out, &[rs(1, 1000), rs(2, 1000), rs(1, 2000)]);
        wal.log(&out).unwrap();
        wal.next_segment().unwrap();
        let mut out = Vec::new();
        encode_series(&mut out, [(7, &a)]);
        encode_samples(
            &mut out,
            &[rs(7, 3000), rs(2, 3000), rs(7, 4000), rs(7, 5000)],
        );
        let stone = Stone {
            sref: 7,
            interval: Interval {
                mint: 4000,
                maxt: 4000,
            },
        };
        encode_tombstones(&mut out, &encode_wal_stones(&[stone]));
        wal.log(&out).unwrap();
        wal.sync().unwrap();
    }
    let want = vec![
        (a.clone(), vec![1000, 2000, 3000, 5000]),
        (b.clone(), vec![1000, 3000]),
    ];
    let opts = Options::default();
    {
        let db = Db::open(d.path(), opts.clone()).unwrap();
        assert_eq!(times(&db), want, "replay maps ref 7 onto series `a`");
        assert_eq!(db.head().num_wal_aliases(), 1);
        // Appends after the restart continue the canonical series.
        let mut app = db.appender();
        app.append(&a, 6000, 6.0).unwrap();
        app.commit().unwrap();
        db.truncate_head(0).unwrap();
        assert_eq!(db.head().num_wal_aliases(), 0, "folded into ref 1");
        db.close().unwrap();
    }
    let want = vec![
        (a.clone(), vec![1000, 2000, 3000, 5000, 6000]),
        (b.clone(), vec![1000, 3000]),
    ];
    for round in 0..2 {
        let db = Db::open(d.path(), opts.clone()).unwrap();
        assert_eq!(times(&db), want, "after checkpoint {round}");
        assert_eq!(db.stats().head_series, 2);
        assert_eq!(
            db.head().num_wal_aliases(),
            0,
            "the checkpoint has no duplicate left"
        );
        // A second checkpoint folds the first one in; nothing may go either.
        db.truncate_head(0).unwrap();
        db.close().unwrap();
    }
}

#[test]
fn samples_of_a_series_recreated_after_garbage_collection_survive_a_checkpoint() {
    let d = tempfile::tempdir().unwrap();
    let opts = Options::default();
    let a = lbl(0);
    let put = |db: &Db, t: i64| {
        let mut app = db.appender();
        app.append(&a, t, t as f64).unwrap();
        app.commit().unwrap();
    };
    {
        let db = Db::open(d.path(), opts.clone()).unwrap();
        put(&db, 1000);
        // Garbage collection without a checkpoint (a crash before it) drops the series;
        // the next append recreates it under a new ref, so the WAL holds two Series
        // records for the same labels.
        let old = db.head().get_by_labels(&a).unwrap().sref;
        assert_eq!(db.head().truncate(1001).series_removed, 1);
        put(&db, 3000);
        assert_ne!(db.head().get_by_labels(&a).unwrap().sref, old);
        db.close().unwrap();
    }
    let want = vec![(a.clone(), vec![1000, 3000])];
    {
        let db = Db::open(d.path(), opts.clone()).unwrap();
        assert_eq!(times(&db), want);
        db.truncate_head(0).unwrap();
        db.close().unwrap();
    }
    let db = Db::open(d.path(), opts).unwrap();
    assert_eq!(times(&db), want, "samples under the duplicate ref kept");
}

#[test]
fn a_record_that_does_not_decode_is_named_with_its_cause_and_repaired() {
    let d = tempfile::tempdir().unwrap();
    {
        let db = Db::open(d.path(), Options::default()).unwrap();
        for b in 1..=5 {
            commit_batch(&db, b, 3);
        }
        db.close().unwrap();
    }
    let wal_dir = d.path().join("promtui-wal");
    {
        // A Tombstones record whose frame is intact (its CRC matches) but whose body
        // announces five stones and holds none.
        let w = wal::Wal::open(&wal_dir, wal::WalOptions::default()).unwrap();
        let mut frame = Vec::new();
        wal::record::encode_tombstones(&mut frame, &[5]);
        w.log(&frame).unwrap();
    }
    // Read-only, it is an error naming segment and offset, with the decoder's error kept.
    let Err(err) = Db::open_read_only(d.path(), Options::default()) else {
        panic!("a read-only open must refuse the bad record");
    };
    let msg = err.to_string();
    match &err {
        promtui::tsdb::Error::Wal(WalError::BadRecord { offset, .. }) => {
            assert!(*offset > 0, "{msg}")
        }
        other => panic!("expected a bad record, got {other}"),
    }
    assert!(msg.starts_with("WAL corruption in segment "), "{msg}");
    assert!(msg.contains("tombstones record body"), "{msg}");
    let mut cause = std::error::Error::source(&err);
    let mut chain = Vec::new();
    while let Some(c) = cause {
        chain.push(c.to_string());
        cause = c.source();
    }
    assert!(
        chain
            .iter()
            .any(|c| c.starts_with("tombstones record body")),
        "{chain:?}"
    );

    // Opened for writing, the WAL is cut at the bad record and everything before it kept.
    let db = Db::open(d.path(), Options::default()).unwrap();
    assert_eq!(db.stats().wal_corruptions, 1);
    let got = dump(&db);
    assert_eq!(got.len(), 3);
    assert!(got.iter().all(|(_, s)| s.len() == 5), "{got:?}");
}
