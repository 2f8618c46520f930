//! Console benchmarks: drawing a frame with a 200-series x 1,000-point chart at 200x60
//! (target: at most 5 ms), and autocomplete over 100k label values (target: within one
//! 16 ms frame) both from the cache (a keystroke) and cold through the engine-backed
//! source's label index.
//!
//! Names follow `tui_console/<operation>/<size>`. Run with
//! `cargo bench --bench tui_console`.

use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use promtui::model::{Labels, Sample};
use promtui::promql::promqltest::MemStorage;
use promtui::tui::console::source::{ConsoleSource, QueryAnswer};
use promtui::tui::console::testing::{
    palette_dark, random_matrix, CannedSource, Harness, QueryableSource, NOW_MS,
};
use promtui::tui::console::{chart, ConsoleView};
use promtui::tui::view::{Glyphs, TimeRange, View};

const STEP_MS: i64 = 15_000;

/// This thread's CPU time in ns (/proc/thread-self/schedstat), or `None` off Linux.
/// The machine these benches run on is shared and often oversubscribed, so each frame
/// bench is reported twice: wall time (`iter`) and the CPU time the frame itself used
/// (`.../cpu`), which is what a frame costs on an idle core.
fn thread_cpu_ns() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    s.split_whitespace().next()?.parse().ok()
}

/// Criterion's `iter_custom` body measuring CPU time of `iters` runs of `f`.
fn cpu_time(iters: u64, mut f: impl FnMut()) -> std::time::Duration {
    let wall = std::time::Instant::now();
    let start = thread_cpu_ns();
    for _ in 0..iters {
        f();
    }
    match (start, thread_cpu_ns()) {
        (Some(a), Some(b)) => std::time::Duration::from_nanos(b.saturating_sub(a)),
        _ => wall.elapsed(),
    }
}

fn chart_console(h: &Harness, stacked: bool) -> ConsoleView {
    let source = CannedSource {
        answer: QueryAnswer {
            data: random_matrix(200, 1000, NOW_MS, STEP_MS),
            warnings: vec![],
        },
        names: vec![],
        values: vec![],
    };
    let dir = std::env::temp_dir().join("promtui-bench-console");
    let mut v = ConsoleView::new(Arc::new(source), dir.join("history.sqlite"));
    h.key(
        &mut v,
        KeyEvent::new(KeyCode::Char('t'), KeyModifiers::CONTROL),
    );
    h.type_str(&mut v, "rate(node_network_receive_bytes_total[5m])");
    h.key(&mut v, KeyEvent::from(KeyCode::Enter));
    h.settle(&mut v, ConsoleView::is_settled);
    h.key(&mut v, KeyEvent::from(KeyCode::Esc));
    h.key(&mut v, KeyEvent::from(KeyCode::Left));
    if stacked {
        h.key(&mut v, KeyEvent::from(KeyCode::Char('S')));
    }
    v
}

fn bench_render(c: &mut Criterion) {
    let mut g = c.benchmark_group("tui_console");
    for (name, glyphs, stacked) in [
        ("render_chart_braille", Glyphs::Braille, false),
        ("render_chart_braille_stacked", Glyphs::Braille, true),
        ("render_chart_ascii", Glyphs::Ascii, false),
    ] {
        let mut h = Harness::new(palette_dark());
        h.glyphs = glyphs;
        h.range = TimeRange {
            width_ms: 999 * STEP_MS,
            end_ms: None,
        };
        let mut v = chart_console(&h, stacked);
        let mut term =
            ratatui::Terminal::new(ratatui::backend::TestBackend::new(200, 60)).expect("terminal");
        // Sanity: the chart is there.
        h.draw(&mut v, &mut term);
        let text: String = term
            .backend()
            .buffer()
            .content()
            .iter()
            .map(|c| c.symbol())
            .collect();
        assert!(text.contains("200 series, 200000 points"), "chart drawn");
        g.bench_function(format!("{name}/200x1000@200x60"), |b| {
            b.iter(|| h.draw(&mut v, &mut term))
        });
        g.bench_function(format!("{name}/200x1000@200x60/cpu"), |b| {
            b.iter_custom(|iters| cpu_time(iters, || h.draw(&mut v, &mut term)))
        });
    }
    // The chart alone (no editor, legend or terminal diff), into a bare buffer.
    let data = match random_matrix(200, 1000, NOW_MS, STEP_MS) {
        promtui::tui::console::source::QueryData::Matrix(m) => m,
        _ => unreachable!("random_matrix returns a matrix"),
    };
    let palette = palette_dark();
    let lines: Vec<chart::Line> = data
        .iter()
        .enumerate()
        .map(|(i, s)| chart::Line {
            points: &s.points,
            color: palette.series[i % palette.series.len()],
        })
        .collect();
    let spec = chart::ChartSpec {
        lines: &lines,
        start_ms: NOW_MS - 999 * STEP_MS,
        end_ms: NOW_MS,
        step_ms: STEP_MS,
        unit: chart::YUnit::NONE,
        cursor_ms: None,
        y_range: None,
    };
    let area = ratatui::layout::Rect::new(0, 0, 136, 55);
    let mut buf = ratatui::buffer::Buffer::empty(area);
    g.bench_function("chart_draw_only/200x1000@136x55", |b| {
        b.iter(|| {
            buf.reset();
            chart::draw(&mut buf, area, &spec, &palette, Glyphs::Braille)
        })
    });
    g.bench_function("chart_draw_only/200x1000@136x55/cpu", |b| {
        b.iter_custom(|iters| {
            cpu_time(iters, || {
                buf.reset();
                chart::draw(&mut buf, area, &spec, &palette, Glyphs::Braille);
            })
        })
    });
    g.finish();
}

fn big_storage() -> MemStorage {
    let mut st = MemStorage::new();
    for i in 0..100_000 {
        st.add(
            Labels::from_pairs(&[
                ("__name__", "node_cpu_seconds_total"),
                ("instance", &format!("host-{:05}:9100", i / 8)),
                ("cpu", &(i % 8).to_string()),
            ]),
            [Sample::new(NOW_MS, 1.0)],
        );
    }
    st
}

fn bench_autocomplete(c: &mut Criterion) {
    let mut g = c.benchmark_group("tui_console");
    let h = Harness::new(palette_dark());
    let storage = Arc::new(big_storage());
    let source = QueryableSource::new(storage, vec![]);
    let dir = std::env::temp_dir().join("promtui-bench-console");
    let mut v = ConsoleView::new(Arc::new(source), dir.join("history.sqlite"));
    // Instance values of 100k series (12,500 distinct) and, for the name prefix, the
    // metric names; warm the cache once.
    h.type_str(&mut v, "node_cpu_seconds_total{instance=\"host-0");
    h.settle(&mut v, ConsoleView::is_settled);
    // One keystroke: the popup's candidates recomputed from the cached list.
    g.bench_function("autocomplete_keystroke_cached/100k_series", |b| {
        b.iter(|| {
            h.type_str(&mut v, "1");
            h.key(&mut v, KeyEvent::from(KeyCode::Backspace));
        })
    });

    // 100k distinct values in the cache (the worst case: one value per series).
    let values: Vec<String> = (0..100_000).map(|i| format!("pod-{i:06}")).collect();
    let canned = CannedSource {
        answer: QueryAnswer {
            data: promtui::tui::console::source::QueryData::Scalar { t: 0, v: 0.0 },
            warnings: vec![],
        },
        names: vec![],
        values,
    };
    let mut v2 = ConsoleView::new(Arc::new(canned), dir.join("history.sqlite"));
    h.type_str(&mut v2, "kube_pod_info{pod=\"");
    h.settle(&mut v2, ConsoleView::is_settled);
    g.bench_function("autocomplete_keystroke_cached/100k_values", |b| {
        b.iter(|| {
            // A substring that matches late in most values: a full scan every key.
            h.type_str(&mut v2, "9");
            h.key(&mut v2, KeyEvent::from(KeyCode::Backspace));
        })
    });
    g.bench_function("autocomplete_keystroke_cached/100k_values/cpu", |b| {
        b.iter_custom(|iters| {
            cpu_time(iters, || {
                h.type_str(&mut v2, "9");
                h.key(&mut v2, KeyEvent::from(KeyCode::Backspace));
            })
        })
    });

    // Cold: the engine-backed source's label index answering the fetch a cache miss
    // starts (what the first keystroke in a new selector waits for, off the UI thread).
    let source = QueryableSource::new(Arc::new(big_storage()), vec![]);
    let rt = &h.runtime;
    g.bench_function("autocomplete_fetch_label_values/100k_series", |b| {
        b.iter(|| {
            rt.block_on(source.label_values(
                "instance".into(),
                vec!["{__name__=\"node_cpu_seconds_total\"}".into()],
            ))
            .expect("label values")
        })
    });

    // The same fetch answered by a real TSDB head's label index (postings), which is
    // what the in-process backend reads.
    let dir = tempfile::tempdir().expect("tempdir");
    let db =
        promtui::tsdb::Db::open(dir.path(), promtui::tsdb::Options::default()).expect("open tsdb");
    {
        use promtui::storage::Appender;
        let mut app = db.appender();
        for i in 0..100_000 {
            app.append(
                &Labels::from_pairs(&[
                    ("__name__", "node_cpu_seconds_total"),
                    ("instance", &format!("host-{:05}:9100", i / 8)),
                    ("cpu", &(i % 8).to_string()),
                ]),
                NOW_MS,
                1.0,
            )
            .expect("append");
        }
        app.commit().expect("commit");
    }
    let source = QueryableSource::new(Arc::new(db), vec![]);
    g.bench_function("autocomplete_fetch_label_values_tsdb/100k_series", |b| {
        b.iter(|| {
            rt.block_on(source.label_values(
                "instance".into(),
                vec!["{__name__=\"node_cpu_seconds_total\"}".into()],
            ))
            .expect("label values")
        })
    });
    g.finish();
    let _ = v.name();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(std::time::Duration::from_secs(3));
    targets = bench_render, bench_autocomplete
}
criterion_main!(benches);
