//! Snapshot tests of every TUI view on deterministic engine state (src/tui/fixture.rs),
//! rendered into ratatui's TestBackend at 80x24 and 200x60 in two themes. Each golden
//! file under tests/snapshots/tui/ holds the screen text and, below it, a style map
//! (one letter per cell) with its legend, so a theme's colours are checked too.
//! `PROMTUI_UPDATE_SNAPSHOTS=1 cargo test --test tui_snapshots` rewrites them.

mod common;

use common::snapshot::{check, runtime, snapshot, SIZES, THEMES};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use promtui::tui::app::{buffer_text, render_to_buffer, App};
use promtui::tui::fixture::{self, NOW_MS};

fn each_view(prefix: &str, n_targets: usize) {
    let rt = runtime();
    for theme in THEMES {
        for (w, h) in SIZES {
            let mut app = fixture::app(rt.handle(), theme, n_targets);
            for view in ["overview", "targets", "tsdb", "config"] {
                app.run_command(view, NOW_MS);
                assert_eq!(app.active_view(), view);
                let s = snapshot(&mut app, w, h);
                check(&format!("{prefix}{view}_{theme}_{w}x{h}"), &s);
            }
        }
    }
}

#[test]
fn every_view_in_two_themes_at_80x24_and_200x60() {
    each_view("", 40);
}

#[test]
fn scrape_debugger_shows_labels_and_the_relabel_trace() {
    let rt = runtime();
    for theme in THEMES {
        for (w, h) in SIZES {
            let mut app = fixture::app_with_debugger(rt.handle(), theme);
            let s = snapshot(&mut app, w, h);
            if h == 60 {
                // The trace names each rule and what it changed.
                assert!(s.contains("#1 replace"), "{s}");
                assert!(s.contains("env=\"prod\""), "{s}");
                assert!(s.contains("#2 keep"), "{s}");
                assert!(s.contains("finish"), "{s}");
            }
            check(&format!("targets_debugger_{theme}_{w}x{h}"), &s);
        }
    }
}

#[test]
fn help_overlay_lists_the_frame_and_view_keys() {
    let rt = runtime();
    let mut app = fixture::app(rt.handle(), "dark", 40);
    app.run_command("targets", NOW_MS);
    app.on_key(
        KeyEvent::new(KeyCode::Char('?'), KeyModifiers::NONE),
        NOW_MS,
    );
    let s = snapshot(&mut app, 80, 24);
    for k in ["Tab/S-Tab", "scrape debugger", "unhealthy only", ":q"] {
        assert!(s.contains(k), "{k} missing:\n{s}");
    }
    check("help_targets_dark_80x24", &s);
}

#[test]
fn filter_and_palette_drive_the_views() {
    let rt = runtime();
    let mut app = fixture::app(rt.handle(), "dark", 40);
    let key = |c: char| KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE);
    app.on_key(key('2'), NOW_MS);
    assert_eq!(app.active_view(), "targets");
    // `/` filter: only the blackbox pool remains.
    for c in "/blackbox".chars() {
        app.on_key(key(c), NOW_MS);
    }
    app.on_key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE), NOW_MS);
    let text = buffer_text(&render_to_buffer(&mut app, 120, 40, NOW_MS));
    assert!(text.contains("blackbox"), "{text}");
    assert!(!text.contains("▾ node"), "{text}");
    // `!` inverts.
    app.on_key(KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE), NOW_MS);
    for c in "/!blackbox".chars() {
        app.on_key(key(c), NOW_MS);
    }
    app.on_key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE), NOW_MS);
    let text = buffer_text(&render_to_buffer(&mut app, 120, 40, NOW_MS));
    assert!(!text.contains("blackbox ("), "{text}");
    assert!(text.contains("▾ api"), "{text}");
    // `u` shows only unhealthy targets.
    app.on_key(KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE), NOW_MS);
    app.on_key(key('u'), NOW_MS);
    let text = buffer_text(&render_to_buffer(&mut app, 120, 40, NOW_MS));
    assert!(!text.contains(" up      http"), "{text}");
    assert!(text.contains("down"), "{text}");
    // Palette: completion, aliases, theme, range, unknown command.
    assert!(app.completions("ta").contains(&"targets".to_string()));
    assert!(app
        .completions("theme l")
        .contains(&"theme light".to_string()));
    app.run_command("theme light", NOW_MS);
    assert_eq!(app.palette().name, "light");
    app.run_command("status", NOW_MS);
    assert_eq!(app.active_view(), "tsdb");
    app.run_command("range 6h", NOW_MS);
    app.run_command("frobnicate", NOW_MS);
    let text = buffer_text(&render_to_buffer(&mut app, 120, 40, NOW_MS));
    assert!(text.contains("unknown command :frobnicate"), "{text}");
    app.run_command("q", NOW_MS);
    assert!(app.quit);
}

#[test]
fn tsdb_drills_from_metric_to_label_to_values() {
    let rt = runtime();
    let mut app = fixture::app(rt.handle(), "dark", 40);
    app.run_command("tsdb", NOW_MS);
    let text = buffer_text(&render_to_buffer(&mut app, 120, 40, NOW_MS));
    assert!(text.contains("node_cpu_seconds_total"), "{text}");
    assert!(
        text.contains("local only") || text.contains("01JGZ3K8"),
        "{text}"
    );
    // `c` cycles the top lists.
    app.on_key(
        KeyEvent::new(KeyCode::Char('c'), KeyModifiers::NONE),
        NOW_MS,
    );
    let text = buffer_text(&render_to_buffer(&mut app, 120, 40, NOW_MS));
    assert!(text.contains("values by label"), "{text}");
}

#[test]
fn ten_thousand_targets_render_only_what_fits() {
    let rt = runtime();
    let mut app = fixture::app(rt.handle(), "dark", 10_000);
    app.run_command("targets", NOW_MS);
    let t = std::time::Instant::now();
    let text = buffer_text(&render_to_buffer(&mut app, 200, 60, NOW_MS));
    assert!(text.contains("▾ api ("), "{text}");
    // Generous bound for a debug build on a shared machine; the bench measures release.
    assert!(
        t.elapsed() < std::time::Duration::from_millis(500),
        "{:?}",
        t.elapsed()
    );
}

#[test]
fn tiny_and_odd_sizes_do_not_panic() {
    let rt = runtime();
    for (w, h) in [(1, 1), (10, 4), (40, 10), (79, 23), (300, 100)] {
        let mut app = fixture::app(rt.handle(), "high-contrast", 40);
        for view in ["overview", "targets", "tsdb", "config"] {
            app.run_command(view, NOW_MS);
            let _ = render_to_buffer(&mut app, w, h, NOW_MS);
        }
        app.on_key(
            KeyEvent::new(KeyCode::Char('?'), KeyModifiers::NONE),
            NOW_MS,
        );
        let _ = render_to_buffer(&mut app, w, h, NOW_MS);
        let mut dbg = fixture::app_with_debugger(rt.handle(), "solarized");
        let _ = render_to_buffer(&mut dbg, w, h, NOW_MS);
    }
}

/// With every view of the real frame (twelve) the tab row outgrows 80 columns: the other
/// tabs shrink to their numbers so the active one, named, is always on screen.
#[test]
fn the_active_tab_stays_on_screen_when_the_tabs_outgrow_the_terminal() {
    use std::sync::Arc;
    let rt = runtime();
    let backend: Arc<dyn promtui::tui::backend::Backend> = Arc::new(fixture::StillBackend);
    let feed = fixture::feed();
    let dir = tempfile::tempdir().unwrap();
    let (views, _) = promtui::tui::app::views(&backend, &feed, &dir.path().join("history.db"));
    let n = views.len();
    assert!(n >= 12, "{n} views");
    let mut app = promtui::tui::alert_fixture::app_of(rt.handle(), "dark", views);
    let tab_row = |app: &mut App, w: u16| {
        let text = buffer_text(&render_to_buffer(app, w, 24, NOW_MS));
        text.lines().next().unwrap().to_string()
    };
    // Wide: every tab named.
    let wide = tab_row(&mut app, 200);
    assert!(
        wide.contains("1 overview") && wide.contains(&format!("{n} ruletest")),
        "{wide}"
    );
    for (cmd, name) in [
        ("pushgateway", "pushgateway"),
        ("ruletest", "ruletest"),
        ("overview", "overview"),
    ] {
        app.run_command(cmd, NOW_MS);
        let row = tab_row(&mut app, 80);
        assert!(row.contains(name), "{cmd} at 80 columns: {row}");
        assert!(!row.contains('…'), "{row}");
    }
    // So narrow that even the numbers do not all fit: the active tab still shows.
    app.run_command("ruletest", NOW_MS);
    let row = tab_row(&mut app, 30);
    assert!(row.contains(&format!("{n} ruletest")), "{row}");
}

/// At 80x24 the help of a larger frame does not fit: it scrolls (j/k, G/g), the title
/// says where it is, and the last line (the commands) can be reached.
#[test]
fn help_taller_than_the_terminal_scrolls() {
    let rt = runtime();
    let mut app = fixture::app(rt.handle(), "dark", 40);
    app.run_command("targets", NOW_MS);
    let key = |app: &mut App, c: KeyCode| app.on_key(KeyEvent::new(c, KeyModifiers::NONE), NOW_MS);
    let screen = |app: &mut App| buffer_text(&render_to_buffer(app, 80, 16, NOW_MS));
    key(&mut app, KeyCode::Char('?'));
    let top = screen(&mut app);
    assert!(
        top.contains("j/k scroll") && top.contains("Everywhere"),
        "{top}"
    );
    assert!(!top.contains(":glyphs G :q"), "{top}");
    key(&mut app, KeyCode::Char('G'));
    let bottom = screen(&mut app);
    assert!(
        bottom.contains(":glyphs G :q") && !bottom.contains("Everywhere"),
        "{bottom}"
    );
    // Past the end stays at the end; k steps back one line.
    key(&mut app, KeyCode::Char('j'));
    assert_eq!(screen(&mut app), bottom);
    key(&mut app, KeyCode::Char('k'));
    assert_ne!(screen(&mut app), bottom);
    key(&mut app, KeyCode::Char('g'));
    assert_eq!(screen(&mut app), top);
    // Closing and reopening starts at the top again.
    key(&mut app, KeyCode::Char('G'));
    key(&mut app, KeyCode::Esc);
    key(&mut app, KeyCode::Char('?'));
    assert_eq!(screen(&mut app), top);
}
