//! End-to-end tests of backfilling samples into blocks with `import_samples`.

use std::collections::BTreeMap;

use promtui::model::{Labels, Sample};
use promtui::tsdb::block::open_blocks;
use promtui::tsdb::compact::SeriesMerger;
use promtui::tsdb::import::{import_samples, import_samples_with, ImportOptions};

const H2: i64 = 7_200_000;
const T0: i64 = 1_700_006_400_000; // a multiple of 2 h

fn labels(i: usize) -> Labels {
    Labels::from_pairs(&[
        (
            "__name__",
            if i.is_multiple_of(2) { "a_total" } else { "b" },
        ),
        ("i", i.to_string().as_str()),
    ])
}

/// Interleaved input, as OpenMetrics histograms give: at each timestamp, every series.
fn input(series: usize, steps: i64, step: i64) -> Vec<(Labels, i64, f64)> {
    let mut out = Vec::new();
    for k in 0..steps {
        for i in 0..series {
            let v = if i.is_multiple_of(3) {
                (k * (i as i64 + 1)) as f64
            } else {
                (k as f64 * 0.37).sin() * i as f64
            };
            out.push((labels(i), T0 + k * step, v));
        }
    }
    out
}

fn expected(rows: &[(Labels, i64, f64)]) -> BTreeMap<Labels, Vec<Sample>> {
    let mut m: BTreeMap<Labels, Vec<Sample>> = BTreeMap::new();
    for (l, t, v) in rows {
        m.entry(l.clone()).or_default().push(Sample::new(*t, *v));
    }
    m
}

fn read_back(dir: &std::path::Path) -> BTreeMap<Labels, Vec<Sample>> {
    let blocks = open_blocks(dir).unwrap();
    SeriesMerger::new(&blocks, &[], i64::MIN, i64::MAX)
        .unwrap()
        .map(|r| r.unwrap())
        .collect()
}

fn assert_same(got: &BTreeMap<Labels, Vec<Sample>>, want: &BTreeMap<Labels, Vec<Sample>>) {
    assert_eq!(got.len(), want.len());
    for ((gl, gs), (wl, ws)) in got.iter().zip(want) {
        assert_eq!(gl, wl);
        assert_eq!(gs.len(), ws.len(), "{gl}");
        assert!(gs.iter().zip(ws).all(|(a, b)| a.bit_eq(b)), "{gl}");
    }
}

#[test]
fn import_blocks_span_their_samples_and_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    // 5 h of data at 10 s: windows [T0, +2h), [+2h, +4h), [+4h, +6h).
    let rows = input(30, 1800, 10_000);
    let mut progress = Vec::new();
    let report = import_samples(
        dir.path(),
        H2,
        rows.iter().cloned().map(Ok::<_, String>),
        |p| progress.push(p),
    )
    .unwrap();
    assert_eq!(report.samples_imported, rows.len() as u64);
    assert_eq!(report.series, 30);
    assert_eq!(
        report.out_of_order + report.duplicates + report.input_errors,
        0
    );
    let ranges: Vec<(i64, i64)> = report
        .blocks
        .iter()
        .map(|m| (m.min_time, m.max_time))
        .collect();
    // As promtool's: one block per 2 h window, spanning its first to last sample + 1 ms.
    assert_eq!(
        ranges,
        vec![
            (T0, T0 + H2 - 10_000 + 1),
            (T0 + H2, T0 + 2 * H2 - 10_000 + 1),
            (T0 + 2 * H2, T0 + 1799 * 10_000 + 1)
        ]
    );
    assert_eq!(progress.last().unwrap().samples_read, rows.len() as u64);
    assert_same(&read_back(dir.path()), &expected(&rows));
}

#[test]
fn import_counts_out_of_order_duplicates_and_input_errors() {
    let dir = tempfile::tempdir().unwrap();
    let l = labels(0);
    let items: Vec<Result<(Labels, i64, f64), String>> = vec![
        Ok((l.clone(), T0 + 1000, 1.0)),
        Ok((l.clone(), T0 + 2000, 2.0)),
        Ok((l.clone(), T0 + 2000, 2.0)),
        Ok((l.clone(), T0 + 1500, 9.0)),
        Ok((l.clone(), T0 + 2000, 3.0)),
        Err("line 7: bad value \"x\"".to_string()),
        Ok((l.clone(), T0 + 3000, 3.0)),
    ];
    let report = import_samples(dir.path(), H2, items.into_iter(), |_| {}).unwrap();
    assert_eq!(report.samples_imported, 3);
    assert_eq!(report.duplicates, 1);
    assert_eq!(report.out_of_order, 2);
    assert_eq!(report.input_errors, 1);
    assert_eq!(report.errors.len(), 3);
    assert!(report.errors[0].contains("a_total") && report.errors[0].contains("1700006401500"));
    assert!(
        report.errors[0].starts_with("input item 4:"),
        "{}",
        report.errors[0]
    );
    assert!(report.errors[2].contains("line 7"));
    let got = read_back(dir.path());
    assert_eq!(
        got[&l],
        vec![
            Sample::new(T0 + 1000, 1.0),
            Sample::new(T0 + 2000, 2.0),
            Sample::new(T0 + 3000, 3.0)
        ]
    );
}

#[test]
fn import_spills_under_a_memory_limit_and_merges_windows() {
    let dir = tempfile::tempdir().unwrap();
    let rows = input(20, 1000, 15_000);
    let report = import_samples_with(
        dir.path(),
        ImportOptions {
            block_duration: H2,
            max_buffered_bytes: 16 << 10,
            compact_spilled: true,
        },
        rows.iter().cloned().map(Ok::<_, String>),
        |_| {},
    )
    .unwrap();
    assert!(report.spills > 2, "{}", report.spills);
    // One block per window after merging the spilled pieces.
    let ranges: Vec<(i64, i64)> = report
        .blocks
        .iter()
        .map(|m| (m.min_time, m.max_time))
        .collect();
    assert_eq!(
        ranges,
        vec![
            (T0, T0 + H2 - 15_000 + 1),
            (T0 + H2, T0 + 2 * H2 - 15_000 + 1),
            (T0 + 2 * H2, T0 + 999 * 15_000 + 1)
        ]
    );
    assert_eq!(open_blocks(dir.path()).unwrap().len(), 3);
    assert_same(&read_back(dir.path()), &expected(&rows));
}

#[test]
fn import_compresses_buffered_samples_before_spilling() {
    let dir = tempfile::tempdir().unwrap();
    // 20,000 samples take over 320 KiB as they come but far less once XOR-compressed:
    // the 256 KiB limit makes the import compress its buffers instead of spilling.
    let rows = input(20, 1000, 15_000);
    let report = import_samples_with(
        dir.path(),
        ImportOptions {
            block_duration: H2,
            max_buffered_bytes: 256 << 10,
            compact_spilled: true,
        },
        rows.iter().cloned().map(Ok::<_, String>),
        |_| {},
    )
    .unwrap();
    assert_eq!(report.spills, 0);
    assert_eq!(report.samples_imported, 20_000);
    assert_eq!(report.blocks.len(), 3);
    assert_same(&read_back(dir.path()), &expected(&rows));
}

#[test]
fn import_rejects_bad_block_duration() {
    let dir = tempfile::tempdir().unwrap();
    let r = import_samples(
        dir.path(),
        0,
        std::iter::empty::<Result<_, String>>(),
        |_| {},
    );
    assert!(r.is_err());
}
