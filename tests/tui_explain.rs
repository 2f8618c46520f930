//! The console's query explain pane on the console's deterministic data set
//! (src/tui/console/testing.rs): a nested query as a tree, each node run as its own query
//! on the real engine with its series count and samples touched (evaluation times hidden
//! so the screens are stable; the most expensive node is then the one touching the most
//! samples by itself). Fixtures under tests/data/tui_console/ (`UPDATE_SNAPSHOTS=1`
//! rewrites them).

use std::sync::Arc;

use crossterm::event::{KeyCode, KeyEvent};
use promtui::tui::console::testing::{
    assert_snapshot, dataset, dataset_metadata, palette_dark, palette_light, snapshot, text_of,
    Harness, QueryableSource,
};
use promtui::tui::console::ConsoleView;
use promtui::tui::view::View;

const QUERY: &str = "sum by (job) (rate(http_requests_total{code=~\"5..\"}[5m])) / sum by (job) (rate(http_requests_total[5m])) > 0.001";

fn console(dir: &tempfile::TempDir) -> ConsoleView {
    let source = QueryableSource::new(Arc::new(dataset()), dataset_metadata());
    let mut v = ConsoleView::new(Arc::new(source), dir.path().join("history.sqlite"));
    v.hide_timings();
    v
}

fn explained(h: &Harness, v: &mut ConsoleView) {
    h.type_str(v, QUERY);
    h.key(v, KeyEvent::from(KeyCode::Enter));
    h.settle(v, ConsoleView::is_settled);
    h.key(v, KeyEvent::from(KeyCode::Esc));
    h.key(v, KeyEvent::from(KeyCode::Char('x')));
    assert!(v.explain_open());
    h.settle(v, ConsoleView::is_settled);
}

#[test]
fn explain_pane_shows_the_tree_with_per_node_cost_and_the_hottest_node() {
    for palette in [palette_dark(), palette_light()] {
        let pname = palette.name.clone();
        let h = Harness::new(palette);
        let dir = tempfile::tempdir().unwrap();
        let mut v = console(&dir);
        explained(&h, &mut v);
        for (w, ht) in [(80u16, 24u16), (200, 60)] {
            let buf = h.render(&mut v, w, ht);
            if w == 200 {
                let text = text_of(&buf);
                let line = |needle: &str| {
                    text.lines()
                        .filter(|l| l.contains(needle))
                        .map(str::to_string)
                        .collect::<Vec<_>>()
                };
                // One row per node: comparison, division, two sums, two rates, two
                // range selectors and the number.
                assert_eq!(line(" aggregation").len(), 2, "{text}");
                assert_eq!(line(" function").len(), 2, "{text}");
                assert_eq!(line(" range selector").len(), 2, "{text}");
                assert_eq!(line(" binary op").len(), 2, "{text}");
                assert_eq!(line("0.001 number").len(), 1, "{text}");
                // The unfiltered selector reads 2 instances x 3 codes x 20 samples in
                // 5m; the 5xx one a third of that. It is the hottest node.
                let all = &line("http_requests_total[5m] range selector")[0];
                assert!(all.contains("120"), "{all}");
                assert!(all.contains("hot"), "{all}");
                let errors = &line("{code=~\"5..\"}[5m] range selector")[0];
                assert!(errors.contains(" 40 "), "{errors}");
                assert!(!errors.contains("hot"), "{errors}");
                assert!(text.contains("self = the node alone"), "{text}");
                assert!(
                    text.contains("most expensive: http_requests_total[5m]"),
                    "{text}"
                );
            }
            assert_snapshot(&format!("explain_{w}x{ht}_{pname}"), &snapshot(&buf));
        }
    }
}

#[test]
fn explain_enter_runs_the_selected_node_and_esc_closes() {
    let h = Harness::new(palette_dark());
    let dir = tempfile::tempdir().unwrap();
    let mut v = console(&dir);
    explained(&h, &mut v);
    // Down to the left sum, Enter runs it in the console.
    h.key(&mut v, KeyEvent::from(KeyCode::Down));
    h.key(&mut v, KeyEvent::from(KeyCode::Down));
    h.key(&mut v, KeyEvent::from(KeyCode::Enter));
    assert!(!v.explain_open());
    h.settle(&mut v, ConsoleView::is_settled);
    assert_eq!(
        v.text(),
        "sum by (job) (rate(http_requests_total{code=~\"5..\"}[5m]))"
    );
    let text = text_of(&h.render(&mut v, 120, 30));
    assert!(text.contains("1 series (instant)"), "{text}");
    // `:explain EXPR` explains another query; Esc closes the pane.
    let r = h.with_ctx(|ctx| v.command("explain", "count(up)", ctx));
    assert_eq!(r, Some(Ok(())));
    h.settle(&mut v, ConsoleView::is_settled);
    let text = text_of(&h.render(&mut v, 120, 30));
    assert!(text.contains("count aggregation"), "{text}");
    h.key(&mut v, KeyEvent::from(KeyCode::Esc));
    assert!(!v.explain_open());
    // A query that does not parse is refused with the parser's message.
    let r = h.with_ctx(|ctx| v.command("explain", "sum(", ctx));
    assert!(
        matches!(r, Some(Err(ref e)) if e.starts_with("explain: ")),
        "{r:?}"
    );
}

/// The console follows the frame's time travel: a new moment drops its own range and
/// reruns the query ending there, and explain measures at the moment too.
#[test]
fn console_and_explain_follow_the_time_travel_moment() {
    let mut h = Harness::new(palette_dark());
    let dir = tempfile::tempdir().unwrap();
    let mut v = console(&dir);
    h.type_str(&mut v, "time()");
    h.key(&mut v, KeyEvent::from(KeyCode::Enter));
    h.settle(&mut v, ConsoleView::is_settled);
    let text = text_of(&h.render(&mut v, 120, 30));
    assert!(text.contains("1700000000"), "{text}");
    // `:at 1h ago` in the frame.
    h.range.end_ms = Some(h.now_ms - 3_600_000);
    h.settle(&mut v, ConsoleView::is_settled);
    let text = text_of(&h.render(&mut v, 120, 30));
    assert!(text.contains("1699996400"), "{text}");
    assert!(text.contains("ending"), "{text}");
    h.key(&mut v, KeyEvent::from(KeyCode::Esc));
    h.key(&mut v, KeyEvent::from(KeyCode::Char('x')));
    h.settle(&mut v, ConsoleView::is_settled);
    let text = text_of(&h.render(&mut v, 120, 30));
    assert!(
        text.contains("instant query at 2023-11-14 21:13:20Z"),
        "{text}"
    );
    assert!(text.contains("time function"), "{text}");
}

/// In graph mode explain measures every node over the console's range and step; range
/// vectors through `count_over_time`.
#[test]
fn explain_in_graph_mode_measures_the_range_query() {
    let h = Harness::new(palette_dark());
    let dir = tempfile::tempdir().unwrap();
    let mut v = console(&dir);
    h.key(
        &mut v,
        KeyEvent::new(KeyCode::Char('t'), crossterm::event::KeyModifiers::CONTROL),
    );
    h.type_str(&mut v, "sum(rate(http_requests_total[5m]))");
    h.key(&mut v, KeyEvent::from(KeyCode::Enter));
    h.settle(&mut v, ConsoleView::is_settled);
    h.key(&mut v, KeyEvent::from(KeyCode::Esc));
    h.key(&mut v, KeyEvent::from(KeyCode::Char('x')));
    h.settle(&mut v, ConsoleView::is_settled);
    let buf = h.render(&mut v, 200, 40);
    let text = text_of(&buf);
    assert!(
        text.contains("range query 59m58s ending 2023-11-14 22:13:20Z, step 14s"),
        "{text}"
    );
    // 6 series x 20 samples per 5m window x 258 steps (the 1h range at 14 s, its start
    // on the step grid ending at the end).
    let sel = text
        .lines()
        .find(|l| l.contains("http_requests_total[5m] range selector"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(sel.contains("31.0k"), "{sel}");
    assert!(sel.contains("hot"), "{sel}");
    // Its result: the six series over the range.
    assert!(sel.split_whitespace().any(|w| w == "6"), "{sel}");
    assert_snapshot("explain_graph_200x40_test-dark", &snapshot(&buf));
}
