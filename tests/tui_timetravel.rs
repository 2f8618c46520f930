//! Time travel in the TUI's frame (`:at`, `[`/`]`, the header's marker) and the views
//! rebuilt at a past moment, on a deterministic TSDB: two hours of `up`,
//! `scrape_duration_seconds` and `scrape_samples_scraped` for four targets, one of which
//! was down an hour ago, one of which went down half an hour ago and one of which did
//! not exist yet. Queries run on the real PromQL engine through the console's
//! engine-backed source; the clock is fixed. Screens are compared with text fixtures
//! under tests/data/tui_console/ (`UPDATE_SNAPSHOTS=1` rewrites them).

use std::sync::Arc;

use crossterm::event::{KeyCode, KeyEvent};
use promtui::model::{Labels, Sample};
use promtui::promql::promqltest::MemStorage;
use promtui::tui::app::{buffer_text, render_to_buffer, App, AppOptions};
use promtui::tui::backend::{
    Backend, BackendError, Breakdown, ConfigInfo, Health, ScrapeDebug, TargetHealth, TargetRow,
    TsdbInfo,
};
use promtui::tui::console::source::ConsoleSource;
use promtui::tui::console::testing::{assert_snapshot, snapshot, QueryableSource};
use promtui::tui::fixture::{self, NOW_MS};
use promtui::tui::view::{Glyphs, View};
use promtui::web::BoxFuture;

const TARGETS: [(&str, &str); 4] = [
    ("node", "10.0.0.1:9100"),
    ("node", "10.0.0.2:9100"),
    ("api", "10.0.1.1:8080"),
    ("blackbox", "10.0.2.1:9115"),
];

/// Whether target `i` was up at `t`, and whether it existed.
fn state(i: usize, t: i64) -> Option<bool> {
    let ago = NOW_MS - t;
    match i {
        0 => Some(true),
        // Down for the last half hour.
        1 => Some(ago > 30 * 60_000),
        // Down between 70 and 50 minutes ago.
        2 => Some(!(50 * 60_000..70 * 60_000).contains(&ago)),
        // Added 20 minutes ago.
        _ => (ago <= 20 * 60_000).then_some(true),
    }
}

/// Two hours of scrape series every 15 s before [`NOW_MS`].
fn storage() -> MemStorage {
    let mut st = MemStorage::new();
    let steps = 2 * 3600 / 15;
    let ts = |k: i64| NOW_MS - (steps - k) * 15_000;
    for (i, (job, inst)) in TARGETS.iter().enumerate() {
        let l = |name: &str| {
            Labels::from_pairs(&[("__name__", name), ("job", job), ("instance", inst)])
        };
        let points: Vec<(i64, bool)> = (0..=steps)
            .filter_map(|k| state(i, ts(k)).map(|up| (ts(k), up)))
            .collect();
        st.add(
            l("up"),
            points
                .iter()
                .map(|&(t, up)| Sample::new(t, if up { 1.0 } else { 0.0 })),
        );
        st.add(
            l("scrape_duration_seconds"),
            points
                .iter()
                .map(|&(t, up)| Sample::new(t, if up { 0.004 + i as f64 * 0.003 } else { 10.0 })),
        );
        st.add(
            l("scrape_samples_scraped"),
            points
                .iter()
                .map(|&(t, up)| Sample::new(t, if up { 300.0 + i as f64 * 120.0 } else { 0.0 })),
        );
    }
    st
}

/// The present targets (what the scrape manager says now): URLs, intervals and the
/// error text the TSDB does not keep.
fn present() -> Vec<TargetRow> {
    TARGETS
        .iter()
        .enumerate()
        .map(|(i, (job, inst))| {
            let up = state(i, NOW_MS) == Some(true);
            TargetRow {
                pool: job.to_string(),
                url: format!("http://{inst}/metrics"),
                health: Some(if up {
                    TargetHealth::Up
                } else {
                    TargetHealth::Down
                }),
                last_scrape_ms: Some(NOW_MS - 4_000),
                duration_s: 0.01,
                samples: Some(400),
                last_error: if up {
                    String::new()
                } else {
                    format!("Get \"http://{inst}/metrics\": connection refused")
                },
                interval: "15s".into(),
                labels: vec![
                    ("instance".into(), inst.to_string()),
                    ("job".into(), job.to_string()),
                ],
                discovered: vec![("__address__".into(), inst.to_string())],
            }
        })
        .collect()
}

/// A backend whose queries run on the real engine over [`storage`]; the rest of its
/// calls never answer (the views hold fixture data for the present).
struct HistoryBackend {
    source: Arc<QueryableSource>,
}

fn never<T: Send + 'static>() -> BoxFuture<T> {
    Box::pin(std::future::pending())
}

impl Backend for HistoryBackend {
    fn endpoint(&self) -> String {
        "local /var/lib/promtui/data".into()
    }
    fn is_remote(&self) -> bool {
        false
    }
    fn health(&self) -> BoxFuture<Result<Health, BackendError>> {
        never()
    }
    fn targets(&self) -> BoxFuture<Result<Vec<TargetRow>, BackendError>> {
        Box::pin(async { Ok(present()) })
    }
    fn tsdb(&self, _: usize) -> BoxFuture<Result<TsdbInfo, BackendError>> {
        never()
    }
    fn breakdown(&self, _: String) -> BoxFuture<Result<Breakdown, BackendError>> {
        never()
    }
    fn config(&self) -> BoxFuture<Result<ConfigInfo, BackendError>> {
        never()
    }
    fn reload(&self) -> BoxFuture<Result<(), BackendError>> {
        never()
    }
    fn scrape_debug(&self, _: TargetRow) -> BoxFuture<Result<ScrapeDebug, BackendError>> {
        never()
    }
    fn console_source(&self) -> Arc<dyn ConsoleSource> {
        self.source.clone()
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
}

fn app(rt: &tokio::runtime::Runtime, theme: &str) -> App {
    let source = Arc::new(QueryableSource::new(Arc::new(storage()), Vec::new()));
    let backend: Arc<dyn Backend> = Arc::new(HistoryBackend { source });
    let feed = fixture::feed();
    let rows = present();
    let mut overview =
        promtui::tui::views::overview::OverviewView::new(backend.clone(), feed.clone());
    overview.set_data(rows.clone(), fixture::tsdb_info(), NOW_MS);
    let mut targets = promtui::tui::views::targets::TargetsView::new(backend.clone());
    targets.set_targets(rows, NOW_MS);
    let mut tsdb = promtui::tui::views::tsdb::TsdbView::new(backend.clone());
    tsdb.set_info(fixture::tsdb_info(), NOW_MS);
    let views: Vec<Box<dyn View>> = vec![Box::new(overview), Box::new(targets), Box::new(tsdb)];
    App::new(
        views,
        &backend,
        feed,
        rt.handle().clone(),
        AppOptions {
            palette: promtui::tui::theme::builtin(theme),
            glyphs: Glyphs::Braille,
            no_color: false,
            theme_dir: None,
        },
    )
}

/// Ticks the frame until the active view has nothing in flight, then draws it.
fn settled(app: &mut App, w: u16, h: u16) -> ratatui::buffer::Buffer {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        app.tick(NOW_MS);
        if !app.busy() {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "view did not settle");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    render_to_buffer(app, w, h, NOW_MS)
}

#[test]
fn header_marks_time_travel_and_overview_and_targets_show_the_past() {
    let rt = runtime();
    for theme in ["dark", "light"] {
        for (w, h) in [(80u16, 24u16), (200, 60)] {
            let mut app = app(&rt, theme);
            app.run_command("at 1h ago", NOW_MS);
            assert_eq!(app.travel_moment(), Some(NOW_MS - 3_600_000));
            let buf = settled(&mut app, w, h);
            let text = buffer_text(&buf);
            // The marker: the moment, how long ago, the step.
            assert!(
                text.contains("AT 2026-01-02 02:04:05Z (1h ago) [ ] ±6m"),
                "{text}"
            );
            // An hour ago: api was down, 10.0.0.2 was up, blackbox did not exist.
            assert!(
                text.contains("scrape health by job at the moment"),
                "{text}"
            );
            assert!(text.contains("up was 0"), "{text}");
            if h == 60 {
                assert!(!text.contains("blackbox"), "{text}");
                assert!(text.contains("api"), "{text}");
            }
            assert_snapshot(
                &format!("timetravel_overview_{w}x{h}_{theme}"),
                &snapshot(&buf),
            );

            app.run_command("targets", NOW_MS);
            let buf = settled(&mut app, w, h);
            let text = buffer_text(&buf);
            assert!(text.contains("targets at 2026-01-02 02:04:05Z"), "{text}");
            let line = |needle: &str| {
                text.lines()
                    .find(|l| l.contains(needle))
                    .unwrap_or_else(|| panic!("no line with {needle}:\n{text}"))
                    .to_string()
            };
            assert!(line("10.0.1.1:8080").contains("down"), "{text}");
            assert!(line("10.0.0.2:9100").contains("up"), "{text}");
            assert!(!text.contains("10.0.2.1"), "{text}");
            // The URL comes from the present target; the samples from the TSDB.
            if w == 200 {
                assert!(line("10.0.0.2:9100").contains("http://10.0.0.2:9100/metrics"));
                assert!(line("10.0.0.2:9100").contains("420"), "{text}");
                assert!(line("10.0.0.2:9100").contains("0.007s"), "{text}");
            }
            assert_snapshot(
                &format!("timetravel_targets_{w}x{h}_{theme}"),
                &snapshot(&buf),
            );

            // The TSDB view says it shows the present.
            app.run_command("tsdb", NOW_MS);
            let text = buffer_text(&render_to_buffer(&mut app, w, h, NOW_MS));
            assert!(text.contains("this view shows the present"), "{text}");
        }
    }
}

#[test]
fn brackets_step_by_a_tenth_of_the_range_and_at_now_returns() {
    let rt = runtime();
    let mut app = app(&rt, "dark");
    app.run_command("targets", NOW_MS);
    let key = |app: &mut App, c: char| app.on_key(KeyEvent::from(KeyCode::Char(c)), NOW_MS);
    // From the present, `[` goes back one step (a tenth of the 1h range).
    key(&mut app, '[');
    assert_eq!(app.travel_moment(), Some(NOW_MS - 360_000));
    key(&mut app, '[');
    assert_eq!(app.travel_moment(), Some(NOW_MS - 720_000));
    key(&mut app, ']');
    assert_eq!(app.travel_moment(), Some(NOW_MS - 360_000));
    // Twelve minutes ago 10.0.0.2 was down already and blackbox existed.
    key(&mut app, '[');
    let text = buffer_text(&settled(&mut app, 200, 40));
    assert!(text.contains("AT 2026-01-02 02:52:05Z (12m ago)"), "{text}");
    assert!(text.contains("10.0.2.1:9115"), "{text}");
    // The step follows the range: 6h → 36m.
    app.run_command("range 6h", NOW_MS);
    key(&mut app, '[');
    assert_eq!(app.travel_moment(), Some(NOW_MS - 720_000 - 2_160_000));
    let text = buffer_text(&settled(&mut app, 200, 40));
    assert!(text.contains("±36m"), "{text}");
    // Forward past the present returns to it.
    for _ in 0..3 {
        key(&mut app, ']');
    }
    assert_eq!(app.travel_moment(), None);
    let text = buffer_text(&settled(&mut app, 200, 40));
    assert!(!text.contains("AT 20"), "{text}");
    // `:at now` from a past moment.
    app.run_command("at 1765100000", NOW_MS);
    assert_eq!(app.travel_moment(), Some(1_765_100_000_000));
    app.run_command("at now", NOW_MS);
    assert_eq!(app.travel_moment(), None);
    let text = buffer_text(&settled(&mut app, 200, 40));
    assert!(text.contains("back to the present"), "{text}");
    assert!(!text.contains("targets at 20"), "{text}");
}

#[test]
fn bad_at_input_says_what_was_wrong_in_the_status_line() {
    let rt = runtime();
    let mut app = app(&rt, "dark");
    for (input, want) in [
        ("at yesterday", "\"yesterday\": not a time"),
        ("at 5parsecs ago", "\"5parsecs\" is not a duration"),
        ("at 2030-01-01T00:00:00Z", "in the future"),
        ("at", ":at needs a time"),
    ] {
        app.run_command(input, NOW_MS);
        assert_eq!(app.travel_moment(), None, "{input}");
        let text = buffer_text(&render_to_buffer(&mut app, 200, 30, NOW_MS));
        let last = text.lines().last().unwrap_or_default().to_string();
        assert!(last.contains(want), "{input}: {last}");
    }
}
