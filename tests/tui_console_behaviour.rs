//! The console's behaviour driven through the `View` trait as the frame drives it:
//! queries over the real PromQL engine and a loaded TSDB, autocomplete from the label
//! index, history persisted across runs, a slow query cancelled with Esc, the metric
//! explorer handing a metric to the console, and the chart's keys.

use std::sync::Arc;
use std::time::Duration;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use promtui::model::Labels;
use promtui::storage::{Appender, Queryable};
use promtui::tsdb::{Db, Options};
use promtui::tui::console::testing::{
    dataset, dataset_metadata, palette_dark, text_of, Harness, QueryableSource, NOW_MS,
};
use promtui::tui::console::{ConsoleView, MetricsExplorerView};
use promtui::tui::view::{Filter, Handled, View};

fn key(code: KeyCode) -> KeyEvent {
    KeyEvent::from(code)
}

fn ctrl(c: char) -> KeyEvent {
    KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL)
}

fn mem_console(dir: &tempfile::TempDir) -> ConsoleView {
    let source = QueryableSource::new(Arc::new(dataset()), dataset_metadata());
    let mut v = ConsoleView::new(Arc::new(source), dir.path().join("state/history.sqlite"));
    v.hide_timings();
    v
}

/// A TSDB holding 2,000 `node_cpu_seconds_total` series (50 instances x 8 cpus x 5
/// modes) and `up`, scraped every 15 s over the 10 minutes before NOW_MS.
fn loaded_tsdb(dir: &std::path::Path) -> Arc<Db> {
    let db = Db::open(dir, Options::default()).expect("open tsdb");
    let modes = ["idle", "user", "system", "iowait", "steal"];
    let mut t = NOW_MS - 600_000;
    while t <= NOW_MS {
        let mut app = db.appender();
        for i in 0..50 {
            let inst = format!("host-{i:02}:9100");
            app.append(
                &Labels::from_pairs(&[("__name__", "up"), ("job", "node"), ("instance", &inst)]),
                t,
                1.0,
            )
            .expect("append up");
            for cpu in 0..8 {
                for (m, mode) in modes.iter().enumerate() {
                    let v = (t - (NOW_MS - 600_000)) as f64 / 1000.0 * (m as f64 + 1.0) / 10.0;
                    app.append(
                        &Labels::from_pairs(&[
                            ("__name__", "node_cpu_seconds_total"),
                            ("job", "node"),
                            ("instance", &inst),
                            ("cpu", &cpu.to_string()),
                            ("mode", mode),
                        ]),
                        t,
                        v,
                    )
                    .expect("append cpu");
                }
            }
        }
        app.commit().expect("commit");
        t += 15_000;
    }
    Arc::new(db)
}

#[test]
fn queries_and_completes_over_a_loaded_tsdb() {
    let dir = tempfile::tempdir().unwrap();
    let db = loaded_tsdb(&dir.path().join("data"));
    let source = QueryableSource::new(db.clone() as Arc<dyn Queryable>, vec![]);
    let h = Harness::new(palette_dark());
    let mut v = ConsoleView::new(Arc::new(source), dir.path().join("history.sqlite"));
    // Metric name completion from the label index.
    h.type_str(&mut v, "node_cp");
    h.settle(&mut v, ConsoleView::is_settled);
    let screen = text_of(&h.render(&mut v, 100, 30));
    assert!(screen.contains("node_cpu_seconds_total"), "{screen}");
    h.key(&mut v, key(KeyCode::Tab));
    assert_eq!(v.text(), "node_cpu_seconds_total");
    // Label names of that metric inside the selector, then a label's values.
    h.type_str(&mut v, "{mo");
    h.settle(&mut v, ConsoleView::is_settled);
    h.key(&mut v, key(KeyCode::Tab));
    assert_eq!(v.text(), "node_cpu_seconds_total{mode=\"");
    h.settle(&mut v, ConsoleView::is_settled);
    let screen = text_of(&h.render(&mut v, 100, 30));
    for mode in ["idle", "iowait", "steal", "system", "user"] {
        assert!(screen.contains(mode), "value {mode} offered:\n{screen}");
    }
    h.type_str(&mut v, "st");
    h.key(&mut v, key(KeyCode::Tab));
    assert_eq!(v.text(), "node_cpu_seconds_total{mode=\"steal\"");
    h.type_str(&mut v, "}");
    // Run it: an instant vector of 400 series in the table.
    h.key(&mut v, key(KeyCode::Enter));
    h.settle(&mut v, ConsoleView::is_settled);
    let screen = text_of(&h.render(&mut v, 160, 30));
    assert!(screen.contains("400 series (instant)"), "{screen}");
    assert!(screen.contains("mode=\"steal\""), "{screen}");
    // Aggregate in graph mode: 50 lines.
    h.key(&mut v, ctrl('l'));
    h.key(&mut v, ctrl('t'));
    h.type_str(
        &mut v,
        "sum by (instance) (rate(node_cpu_seconds_total{mode!=\"idle\"}[1m]))",
    );
    h.key(&mut v, key(KeyCode::Enter));
    h.settle(&mut v, ConsoleView::is_settled);
    let screen = text_of(&h.render(&mut v, 200, 60));
    assert!(screen.contains("50 series"), "{screen}");
    assert!(screen.contains("{instance=\"host-00:9100\"}"), "{screen}");
    assert!(screen.contains("/s"), "rate unit on the axis:\n{screen}");
}

#[test]
fn history_persists_across_runs_and_up_recalls_it() {
    let dir = tempfile::tempdir().unwrap();
    let h = Harness::new(palette_dark());
    {
        let mut v = mem_console(&dir);
        for q in ["up", "sum(up)", "up"] {
            h.key(&mut v, ctrl('u'));
            h.type_str(&mut v, q);
            h.key(&mut v, key(KeyCode::Enter));
            h.settle(&mut v, ConsoleView::is_settled);
        }
        // Star "sum(up)" through the history search popup.
        h.key(&mut v, ctrl('r'));
        h.type_str(&mut v, "sum");
        h.key(&mut v, ctrl('s'));
        h.key(&mut v, key(KeyCode::Esc));
    }
    let mut v = mem_console(&dir);
    h.key(&mut v, key(KeyCode::Up));
    assert_eq!(v.text(), "up", "newest first");
    h.key(&mut v, key(KeyCode::Up));
    assert_eq!(
        v.text(),
        "sum(up)",
        "deduplicated: up ran twice but is listed once"
    );
    h.key(&mut v, key(KeyCode::Up));
    assert_eq!(v.text(), "sum(up)", "the oldest entry stays");
    h.key(&mut v, key(KeyCode::Down));
    h.key(&mut v, key(KeyCode::Down));
    assert_eq!(v.text(), "", "back to the draft");
    // The search popup lists the starred query first with its star.
    h.key(&mut v, ctrl('r'));
    let screen = text_of(&h.render(&mut v, 80, 24));
    let star = screen.find("★ sum(up)").expect("starred entry shown");
    let plain = screen.find("   up ").expect("unstarred entry shown");
    assert!(star < plain, "{screen}");
    h.key(&mut v, key(KeyCode::Enter));
    h.settle(&mut v, ConsoleView::is_settled);
    assert_eq!(v.text(), "sum(up)");
    assert!(text_of(&h.render(&mut v, 80, 24)).contains("1 series (instant)"));
}

#[test]
fn unusable_history_database_is_reported_and_the_console_still_works() {
    let dir = tempfile::tempdir().unwrap();
    // A directory where the database file should be.
    std::fs::create_dir_all(dir.path().join("state/history.sqlite")).unwrap();
    let h = Harness::new(palette_dark());
    let mut v = mem_console(&dir);
    h.type_str(&mut v, "count(up)");
    h.key(&mut v, key(KeyCode::Enter));
    h.settle(&mut v, ConsoleView::is_settled);
    let screen = text_of(&h.render(&mut v, 200, 24));
    assert!(
        screen.contains("history is kept for this session only"),
        "{screen}"
    );
    assert!(screen.contains("1 series (instant)"), "{screen}");
    h.key(&mut v, ctrl('u'));
    h.key(&mut v, key(KeyCode::Up));
    assert_eq!(v.text(), "count(up)");
}

#[test]
fn a_slow_query_shows_busy_and_esc_cancels_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut source = QueryableSource::new(Arc::new(dataset()), dataset_metadata());
    source.delay = Duration::from_secs(30);
    let h = Harness::new(palette_dark());
    let mut v = ConsoleView::new(Arc::new(source), dir.path().join("h.sqlite"));
    h.type_str(&mut v, "1 + 1");
    h.key(&mut v, key(KeyCode::Enter));
    h.with_ctx(|ctx| v.tick(ctx));
    assert!(v.busy_since().is_some());
    let screen = text_of(&h.render(&mut v, 80, 24));
    assert!(screen.contains("running…"), "{screen}");
    // The frame passes Esc (ignored by the editor: focus moves to the results) and then
    // calls cancel().
    assert_eq!(h.key(&mut v, key(KeyCode::Esc)), Handled::Ignored);
    assert!(!v.captures_text());
    v.cancel();
    assert!(v.busy_since().is_none());
    h.with_ctx(|ctx| v.tick(ctx));
    let screen = text_of(&h.render(&mut v, 80, 24));
    assert!(screen.contains("query cancelled"), "{screen}");
    // Enter returns to the editor.
    h.key(&mut v, key(KeyCode::Enter));
    assert!(v.captures_text());
}

#[test]
fn parse_errors_are_reported_at_their_column_and_engine_errors_in_the_status() {
    let dir = tempfile::tempdir().unwrap();
    let h = Harness::new(palette_dark());
    let mut v = mem_console(&dir);
    h.type_str(&mut v, "rate(up[5m]) +");
    let screen = text_of(&h.render(&mut v, 80, 24));
    assert!(
        screen.contains("1:15: parse error: unexpected end of input"),
        "{screen}"
    );
    h.key(&mut v, ctrl('u'));
    h.type_str(&mut v, "rate(up)");
    h.key(&mut v, key(KeyCode::Enter));
    h.settle(&mut v, ConsoleView::is_settled);
    let screen = text_of(&h.render(&mut v, 120, 24));
    assert!(screen.contains("parse error"), "{screen}");
    assert!(screen.contains("expected type range vector"), "{screen}");
}

#[test]
fn chart_keys_zoom_pan_toggle_stack_and_move_the_cursor() {
    let dir = tempfile::tempdir().unwrap();
    let h = Harness::new(palette_dark());
    let mut v = mem_console(&dir);
    h.key(&mut v, ctrl('t'));
    h.type_str(&mut v, "process_resident_memory_bytes");
    h.key(&mut v, key(KeyCode::Enter));
    h.settle(&mut v, ConsoleView::is_settled);
    let screen = text_of(&h.render(&mut v, 200, 60));
    assert!(screen.contains("21:13 – 22:13 · step 14s"), "{screen}");
    assert!(screen.contains("MiB"), "bytes on the y axis:\n{screen}");
    h.key(&mut v, key(KeyCode::Esc));
    // Zoom in: half the width, finer step.
    h.key(&mut v, key(KeyCode::Char('+')));
    h.settle(&mut v, ConsoleView::is_settled);
    let screen = text_of(&h.render(&mut v, 200, 60));
    assert!(screen.contains("21:43 – 22:13 · step 7s"), "{screen}");
    // Pan back a quarter of the width.
    h.key(&mut v, key(KeyCode::Char('[')));
    h.settle(&mut v, ConsoleView::is_settled);
    let screen = text_of(&h.render(&mut v, 200, 60));
    assert!(screen.contains("21:35 – 22:05"), "{screen}");
    assert!(screen.contains("range 30m ending"), "{screen}");
    // Hide the first series, stack the rest, move the cursor.
    h.key(&mut v, key(KeyCode::Char(' ')));
    h.key(&mut v, key(KeyCode::Char('S')));
    h.key(&mut v, key(KeyCode::Left));
    let screen = text_of(&h.render(&mut v, 200, 60));
    assert!(screen.contains("stacked"), "{screen}");
    assert!(screen.contains("1 hidden"), "{screen}");
    assert!(
        screen.contains("○ process_resident_memory_bytes"),
        "{screen}"
    );
    assert!(screen.contains("cursor 22:05:43"), "{screen}");
    // Live mode follows now again.
    h.key(&mut v, key(KeyCode::Char('L')));
    h.settle(&mut v, ConsoleView::is_settled);
    let screen = text_of(&h.render(&mut v, 200, 60));
    assert!(screen.contains("live"), "{screen}");
    assert!(screen.contains("21:43 – 22:13"), "{screen}");
}

#[test]
fn metric_explorer_lists_metrics_and_hands_one_to_the_console() {
    let dir = tempfile::tempdir().unwrap();
    let source: Arc<dyn promtui::tui::console::source::ConsoleSource> = Arc::new(
        QueryableSource::new(Arc::new(dataset()), dataset_metadata()),
    );
    let h = Harness::new(palette_dark());
    let mut console = ConsoleView::new(source.clone(), dir.path().join("h.sqlite"));
    console.hide_timings();
    let handoff = console.handoff();
    let mut ex = MetricsExplorerView::new(source, handoff.clone());
    h.settle(&mut ex, |e| e.shown_rows().count() > 0);
    let screen = text_of(&h.render(&mut ex, 160, 20));
    assert!(screen.contains("process_resident_memory_bytes"), "{screen}");
    assert!(
        screen.contains("Resident memory size in bytes."),
        "{screen}"
    );
    let row = screen
        .lines()
        .find(|l| l.contains("http_requests_total"))
        .unwrap();
    assert!(row.contains("counter") && row.contains(" 6 "), "{row}");
    ex.set_filter(Some(Filter {
        regex: regex::Regex::new("memory").unwrap(),
        invert: false,
    }));
    let names: Vec<String> = ex.shown_rows().map(|r| r.name.clone()).collect();
    assert_eq!(names, vec!["process_resident_memory_bytes"]);
    assert_eq!(h.key(&mut ex, key(KeyCode::Enter)), Handled::Consumed);
    assert!(handoff.take_switch_request());
    assert!(!handoff.take_switch_request());
    h.settle(&mut console, ConsoleView::is_settled);
    assert_eq!(console.text(), "process_resident_memory_bytes");
    let screen = text_of(&h.render(&mut console, 120, 24));
    assert!(screen.contains("4 series (instant)"), "{screen}");
}

#[test]
fn autocomplete_answers_from_cache_over_100k_label_values() {
    // 100k series under one metric: instance values are the candidates.
    let mut st = promtui::promql::promqltest::MemStorage::new();
    for i in 0..100_000 {
        st.add(
            Labels::from_pairs(&[
                ("__name__", "big_metric"),
                ("instance", &format!("host-{i:06}")),
            ]),
            [promtui::model::Sample::new(NOW_MS, 1.0)],
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let h = Harness::new(palette_dark());
    let source = QueryableSource::new(Arc::new(st), vec![]);
    let mut v = ConsoleView::new(Arc::new(source), dir.path().join("h.sqlite"));
    h.type_str(&mut v, "big_metric{instance=\"");
    h.settle(&mut v, ConsoleView::is_settled);
    // Typing now answers from the cache, without a fetch.
    h.type_str(&mut v, "host-0999");
    assert!(v.is_settled(), "a cached list needs no fetch");
    let screen = text_of(&h.render(&mut v, 100, 30));
    assert!(screen.contains("host-099900"), "{screen}");
    assert!(screen.contains("100"), "count shown:\n{screen}");
    h.key(&mut v, key(KeyCode::Tab));
    assert_eq!(v.text(), "big_metric{instance=\"host-099900\"");
}

#[test]
fn warnings_are_shown_beside_the_result() {
    use promtui::tui::console::source::{QueryAnswer, QueryData};
    use promtui::tui::console::testing::CannedSource;
    let dir = tempfile::tempdir().unwrap();
    let source = CannedSource {
        answer: QueryAnswer {
            data: QueryData::Scalar { t: NOW_MS, v: 0.5 },
            warnings: vec![
                "PromQL warning: metric might not be a counter, name does not end in _total".into(),
            ],
        },
        names: vec![],
        values: vec![],
    };
    let h = Harness::new(palette_dark());
    let mut v = ConsoleView::new(Arc::new(source), dir.path().join("h.sqlite"));
    v.hide_timings();
    h.type_str(&mut v, "rate(foo[5m])");
    h.key(&mut v, key(KeyCode::Enter));
    h.settle(&mut v, ConsoleView::is_settled);
    let screen = text_of(&h.render(&mut v, 160, 12));
    assert!(screen.contains("scalar"), "{screen}");
    assert!(
        screen.contains("⚠ PromQL warning: metric might not be a counter"),
        "{screen}"
    );
    assert!(screen.contains("0.5"), "{screen}");
}

#[test]
fn multi_line_queries_and_function_signatures() {
    let dir = tempfile::tempdir().unwrap();
    let h = Harness::new(palette_dark());
    let mut v = mem_console(&dir);
    h.type_str(&mut v, "sum by (code) (");
    h.key(&mut v, KeyEvent::new(KeyCode::Enter, KeyModifiers::ALT));
    h.type_str(&mut v, "  histogram_q");
    h.settle(&mut v, ConsoleView::is_settled);
    let screen = text_of(&h.render(&mut v, 120, 24));
    assert!(
        screen.contains("histogram_quantile(scalar, instant vector) -> instant vector"),
        "{screen}"
    );
    h.key(&mut v, key(KeyCode::Tab));
    assert_eq!(v.text(), "sum by (code) (\n  histogram_quantile(");
    // Up on the second line moves to the first line, not into history.
    h.key(&mut v, key(KeyCode::Up));
    assert_eq!(v.text(), "sum by (code) (\n  histogram_quantile(");
    h.key(&mut v, key(KeyCode::Down));
    h.key(&mut v, ctrl('e'));
    h.type_str(
        &mut v,
        "0.9, rate(http_request_duration_seconds_bucket[5m])))",
    );
    h.key(&mut v, key(KeyCode::Enter));
    h.settle(&mut v, ConsoleView::is_settled);
    let screen = text_of(&h.render(&mut v, 120, 24));
    assert!(screen.contains("1 series (instant)"), "{screen}");
    assert!(!screen.contains("parse error"), "{screen}");
    // The editor grew to show both lines.
    assert!(screen.contains("│sum by (code) ("), "{screen}");
    assert!(screen.contains("│  histogram_quantile(0.9"), "{screen}");
}

#[test]
fn palette_commands_and_open_expr_run_queries() {
    let dir = tempfile::tempdir().unwrap();
    let h = Harness::new(palette_dark());
    let mut v = mem_console(&dir);
    assert_eq!(
        h.with_ctx(|ctx| v.command("query", "up == 0", ctx)),
        Some(Ok(()))
    );
    h.settle(&mut v, ConsoleView::is_settled);
    let screen = text_of(&h.render(&mut v, 120, 24));
    assert!(screen.contains("1 series (instant)"), "{screen}");
    assert!(screen.contains("api-2:8080"), "{screen}");
    assert_eq!(h.with_ctx(|ctx| v.command("range", "6h", ctx)), None);
    assert_eq!(h.with_ctx(|ctx| v.command("graph", "", ctx)), Some(Ok(())));
    h.settle(&mut v, ConsoleView::is_settled);
    let screen = text_of(&h.render(&mut v, 120, 24));
    assert!(screen.contains("1 series, 258 points"), "{screen}");
    assert_eq!(h.with_ctx(|ctx| v.command("table", "", ctx)), Some(Ok(())));
    h.settle(&mut v, ConsoleView::is_settled);
    v.open_expr("count(up)");
    assert!(v.captures_text());
    h.settle(&mut v, ConsoleView::is_settled);
    let screen = text_of(&h.render(&mut v, 120, 24));
    let row = screen
        .lines()
        .find(|l| l.starts_with(" {}"))
        .expect("count row");
    assert!(row.trim_end().ends_with(" 4"), "{screen}");
}
