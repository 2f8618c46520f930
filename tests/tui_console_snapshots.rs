//! Snapshot tests of the PromQL console rendered into ratatui's TestBackend: a table, a
//! chart, an autocomplete popup and a parse error, each at 80x24 and 200x60 in two
//! palettes. Fixtures are text (the screen, then a map of which style each cell has and
//! a legend of the styles) under tests/data/tui_console/; regenerate with
//! `UPDATE_SNAPSHOTS=1 cargo test --test tui_console_snapshots` and review the diff.

use std::sync::Arc;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use promtui::tui::console::testing::{
    assert_snapshot, dataset, dataset_metadata, palette_dark, palette_light, snapshot, Harness,
    QueryableSource,
};
use promtui::tui::console::ConsoleView;
use promtui::tui::view::Palette;

const SIZES: [(u16, u16); 2] = [(80, 24), (200, 60)];

fn console(h: &Harness, dir: &tempfile::TempDir) -> ConsoleView {
    let source = QueryableSource::new(Arc::new(dataset()), dataset_metadata());
    let mut v = ConsoleView::new(Arc::new(source), dir.path().join("history.sqlite"));
    v.hide_timings();
    let _ = h;
    v
}

fn palettes() -> [Palette; 2] {
    [palette_dark(), palette_light()]
}

fn ctrl(c: char) -> KeyEvent {
    KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL)
}

/// Runs `scenario` for each palette and size and compares with its fixture.
fn check(name: &str, scenario: impl Fn(&Harness, &mut ConsoleView)) {
    for palette in palettes() {
        let pname = palette.name.clone();
        let h = Harness::new(palette);
        let dir = tempfile::tempdir().unwrap();
        let mut v = console(&h, &dir);
        scenario(&h, &mut v);
        h.settle(&mut v, ConsoleView::is_settled);
        for (w, ht) in SIZES {
            let buf = h.render(&mut v, w, ht);
            assert_snapshot(&format!("{name}_{w}x{ht}_{pname}"), &snapshot(&buf));
        }
    }
}

#[test]
fn console_with_a_table() {
    check("table", |h, v| {
        h.type_str(v, "process_resident_memory_bytes");
        h.key(v, KeyEvent::from(KeyCode::Enter));
        h.settle(v, ConsoleView::is_settled);
        // Sorted by value, highest first, with focus on the results.
        h.key(v, KeyEvent::from(KeyCode::Esc));
        h.key(v, KeyEvent::from(KeyCode::Char('s')));
        h.key(v, KeyEvent::from(KeyCode::Down));
    });
}

#[test]
fn console_with_a_chart() {
    check("chart", |h, v| {
        h.key(v, ctrl('t'));
        h.type_str(v, "sum by (code) (rate(http_requests_total[5m]))");
        h.key(v, KeyEvent::from(KeyCode::Enter));
        h.settle(v, ConsoleView::is_settled);
        h.key(v, KeyEvent::from(KeyCode::Esc));
        for _ in 0..40 {
            h.key(v, KeyEvent::from(KeyCode::Left));
        }
        h.key(v, KeyEvent::from(KeyCode::Down));
    });
}

#[test]
fn console_with_an_autocomplete_popup() {
    check("autocomplete", |h, v| {
        h.type_str(v, "sum(rate(http_req");
        h.settle(v, ConsoleView::is_settled);
    });
}

#[test]
fn console_with_a_label_value_popup() {
    check("label_values", |h, v| {
        h.type_str(v, "up{job=\"node\", instance=\"");
        h.settle(v, ConsoleView::is_settled);
    });
}

#[test]
fn console_with_a_parse_error() {
    check("parse_error", |h, v| {
        h.type_str(
            v,
            "sum(rate(http_requests_total{code=\"500\"}[5m] by (job))",
        );
        h.key(v, KeyEvent::from(KeyCode::Esc));
    });
}

/// The glyph fallbacks: the same chart in quadrant blocks and in plain ASCII.
#[test]
fn console_chart_in_block_and_ascii_glyphs() {
    use promtui::tui::view::Glyphs;
    for (glyphs, gname) in [(Glyphs::Block, "block"), (Glyphs::Ascii, "ascii")] {
        let mut h = Harness::new(palette_dark());
        h.glyphs = glyphs;
        let dir = tempfile::tempdir().unwrap();
        let mut v = console(&h, &dir);
        h.key(&mut v, ctrl('t'));
        h.type_str(&mut v, "sum by (code) (rate(http_requests_total[5m]))");
        h.key(&mut v, KeyEvent::from(KeyCode::Enter));
        h.settle(&mut v, ConsoleView::is_settled);
        let buf = h.render(&mut v, 80, 24);
        assert_snapshot(&format!("chart_{gname}_80x24_test-dark"), &snapshot(&buf));
    }
}
