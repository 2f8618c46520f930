//! The Alerts view at 10,000 active alerts in 500 aggregation groups
//! (src/tui/alert_fixture.rs `many(500, 20)`), drawn at 200x60 into ratatui's
//! TestBackend with the whole frame (tabs, header, view, footer):
//!
//! - `tui_alerts/render`: one frame; target at most 2 ms;
//! - `tui_alerts/filter_keystroke`: one `/` filter keystroke (the view re-filters all
//!   10,000 alerts) plus the frame that shows it; target within one frame (2 ms);
//! - `tui_alerts/matcher_filter`: setting an Alertmanager matcher filter plus a frame;
//! - `tui_alerts/apply_snapshot`: taking a fresh fetch (filter texts, rows), off the
//!   per-frame path.
//!
//! Run: `cargo bench --bench tui_alerts`.

use criterion::{criterion_group, criterion_main, Criterion};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::backend::TestBackend;
use ratatui::Terminal;

use promtui::tui::alert_fixture;
use promtui::tui::fixture::NOW_MS;
use promtui::tui::view::View;

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let snap = alert_fixture::many(500, 20);
    let mut g = c.benchmark_group("tui_alerts");
    let mut app = alert_fixture::app(rt.handle(), "dark", snap.clone());
    app.run_command("alerts", NOW_MS);
    let mut term = Terminal::new(TestBackend::new(200, 60)).unwrap();
    g.bench_function("render", |b| {
        b.iter(|| {
            app.tick(NOW_MS);
            term.draw(|f| app.draw(f, NOW_MS)).unwrap();
        })
    });
    // Typing in the `/` filter: each keystroke re-filters every alert. Alternate adding
    // and removing a character so every iteration is one real change.
    let key = |c: KeyCode| KeyEvent::new(c, KeyModifiers::NONE);
    for ch in "/host-1".chars() {
        app.on_key(key(KeyCode::Char(ch)), NOW_MS);
    }
    let mut add = true;
    g.bench_function("filter_keystroke", |b| {
        b.iter(|| {
            let k = if add {
                key(KeyCode::Char('2'))
            } else {
                key(KeyCode::Backspace)
            };
            add = !add;
            app.on_key(k, NOW_MS);
            app.tick(NOW_MS);
            term.draw(|f| app.draw(f, NOW_MS)).unwrap();
        })
    });
    app.on_key(key(KeyCode::Esc), NOW_MS);
    let mut flip = false;
    g.bench_function("matcher_filter", |b| {
        b.iter(|| {
            flip = !flip;
            let m = if flip {
                r#"match {severity="critical", cluster=~"c[12]"}"#
            } else {
                r#"match {severity="warning"}"#
            };
            app.run_command(m, NOW_MS);
            app.tick(NOW_MS);
            term.draw(|f| app.draw(f, NOW_MS)).unwrap();
        })
    });
    let backend: std::sync::Arc<dyn promtui::tui::backend::Backend> =
        std::sync::Arc::new(promtui::tui::fixture::StillBackend);
    let mut view =
        promtui::tui::views::alerts::AlertsView::with_source(None, backend.console_source());
    g.bench_function("apply_snapshot", |b| {
        b.iter(|| view.set_snapshot(snap.clone(), NOW_MS))
    });
    assert_eq!(view.name(), "alerts");
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
