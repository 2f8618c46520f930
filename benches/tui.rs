//! Rendering cost of the TUI's views at 200x60 into ratatui's TestBackend, on the same
//! deterministic state as the snapshot tests (src/tui/fixture.rs): one frame of the whole
//! screen (tabs, header, view, footer) per iteration. `tui/render/<view>/<targets>`;
//! the targets view also at 10k targets. Target: at most 2 ms a frame.
//! Run: `cargo bench --bench tui`.

use criterion::{criterion_group, criterion_main, Criterion};
use ratatui::backend::TestBackend;
use ratatui::Terminal;

use promtui::tui::fixture::{self, NOW_MS};

fn render(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut g = c.benchmark_group("tui/render");
    for (view, n) in [
        ("overview", 40),
        ("targets", 40),
        ("targets", 10_000),
        ("tsdb", 40),
        ("config", 40),
    ] {
        let mut app = fixture::app(rt.handle(), "dark", n);
        app.run_command(view, NOW_MS);
        let mut term = Terminal::new(TestBackend::new(200, 60)).unwrap();
        g.bench_function(format!("{view}/{n}"), |b| {
            b.iter(|| {
                app.tick(NOW_MS);
                term.draw(|f| app.draw(f, NOW_MS)).unwrap();
            })
        });
    }
    let mut app = fixture::app_with_debugger(rt.handle(), "dark");
    let mut term = Terminal::new(TestBackend::new(200, 60)).unwrap();
    g.bench_function("targets_debugger/40", |b| {
        b.iter(|| {
            app.tick(NOW_MS);
            term.draw(|f| app.draw(f, NOW_MS)).unwrap();
        })
    });
    g.finish();
}

criterion_group!(benches, render);
criterion_main!(benches);
