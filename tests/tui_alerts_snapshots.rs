//! Snapshot tests of the alert triage views (Alerts, its detail pane, the
//! acknowledgement form and silence editor, Silences) on deterministic alerting state
//! (src/tui/alert_fixture.rs: groups by route, an inhibited alert with its rule, a
//! silenced one, an acknowledged one, a pending one, silences matching nothing or
//! expired), rendered into ratatui's TestBackend. Golden files under
//! tests/snapshots/tui/ hold the screen text and a style map, as tests/tui_snapshots.rs;
//! `PROMTUI_UPDATE_SNAPSHOTS=1 cargo test --test tui_alerts_snapshots` rewrites them.

mod common;

use std::sync::Arc;

use common::snapshot::{check, runtime, snapshot, SIZES, THEMES};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use promtui::tui::alert_fixture;
use promtui::tui::app::{buffer_text, render_to_buffer};
use promtui::tui::console::source::{
    ConsoleSource, MetricInfo, QueryAnswer, QueryData, SeriesCounts, SeriesData, SourceError,
};
use promtui::tui::fixture::NOW_MS;
use promtui::tui::view::{Glyphs, TimeRange, View, ViewCtx};
use promtui::tui::views::alerts::AlertsView;

fn key(c: KeyCode) -> KeyEvent {
    KeyEvent::new(c, KeyModifiers::NONE)
}

#[test]
fn alerts_and_silences_views_in_two_themes() {
    let rt = runtime();
    for theme in THEMES {
        for (w, h) in SIZES {
            let mut app = alert_fixture::app(rt.handle(), theme, alert_fixture::snapshot());
            app.run_command("alerts", NOW_MS);
            assert_eq!(app.active_view(), "alerts");
            let s = snapshot(&mut app, w, h);
            if h == 60 {
                // Grouped by route: each group with its receiver, in receiver order.
                let i_default = s.find("{alertname=\"CPUHigh\"} → default").expect(&s);
                let i_pager = s.find("→ pager").expect(&s);
                let i_db = s.find("→ team-db").expect(&s);
                assert!(i_default < i_pager && i_pager < i_db, "{s}");
                // Markers, pending section, counts by severity.
                for want in [
                    "silenced",
                    "inhibited",
                    "[ACK]",
                    "[RB]",
                    "pending in the rule engine",
                    "MemoryPressure",
                    "5 firing (critical 3, warning 2)",
                    "1 pending (warning 1)",
                    "1 silenced · 1 inhibited · 1 acked",
                ] {
                    assert!(s.contains(want), "{want} missing:\n{s}");
                }
            }
            check(&format!("alerts_{theme}_{w}x{h}"), &s);
            app.run_command("silences", NOW_MS);
            let s = snapshot(&mut app, w, h);
            if h == 60 {
                for want in [
                    "matches nothing, ends soon",
                    "batch window, JIRA-4411",
                    "expired",
                    "2 active",
                ] {
                    assert!(s.contains(want), "{want} missing:\n{s}");
                }
            }
            check(&format!("silences_{theme}_{w}x{h}"), &s);
        }
    }
}

#[test]
fn detail_pane_shows_chart_threshold_route_notifications_and_inhibition() {
    let rt = runtime();
    for (w, h) in SIZES {
        let v = alert_fixture::alerts_with_detail();
        let mut app = alert_fixture::app_of(rt.handle(), "dark", vec![Box::new(v)]);
        let s = snapshot(&mut app, w, h);
        if h == 60 {
            for want in [
                "pg_replication_lag_seconds   threshold > 300",
                r#"{} → {}/{team="db"}/1"#,
                "team-db/webhook/0 44m00s ago (1 firing, 0 resolved)",
                r#"inhibited by {alertname="DiskFull""#,
                r#"-> target {severity="warning"} equal [cluster]"#,
            ] {
                assert!(s.contains(want), "{want} missing:\n{s}");
            }
        }
        check(&format!("alerts_detail_dark_{w}x{h}"), &s);
    }
}

#[test]
fn ack_form_and_silence_editor_with_live_preview() {
    let rt = runtime();
    let mut app = alert_fixture::app(rt.handle(), "dark", alert_fixture::snapshot());
    app.run_command("alerts", NOW_MS);
    // Select the api alert (first row of the pager group after default's).
    for _ in 0..5 {
        app.on_key(key(KeyCode::Char('j')), NOW_MS);
    }
    app.on_key(key(KeyCode::Char('a')), NOW_MS);
    for c in "looking".chars() {
        app.on_key(key(KeyCode::Char(c)), NOW_MS);
    }
    let s = snapshot(&mut app, 120, 30);
    assert!(s.contains("acknowledge HighErrorRate"), "{s}");
    assert!(s.contains("looking"), "{s}");
    assert!(s.contains("who        oncall"), "{s}");
    assert!(s.contains("empty: until resolved"), "{s}");
    check("alerts_ack_form_dark_120x30", &s);
    app.on_key(key(KeyCode::Esc), NOW_MS);
    // The silence editor from the matcher filter: every critical alert of eu1.
    app.run_command(r#"match {cluster="eu1", severity="critical"}"#, NOW_MS);
    app.on_key(key(KeyCode::Char('s')), NOW_MS);
    let s = snapshot(&mut app, 120, 30);
    assert!(s.contains("Preview: 3 alert(s) caught"), "{s}");
    assert!(
        s.contains(r#"matchers   {cluster="eu1", severity="critical"}"#),
        "{s}"
    );
    // Typing a comment and Enter asks for confirmation.
    for c in "db failover".chars() {
        app.on_key(key(KeyCode::Char(c)), NOW_MS);
    }
    app.on_key(key(KeyCode::Enter), NOW_MS);
    let s = snapshot(&mut app, 120, 30);
    assert!(
        s.contains("Create this silence for 2h (3 alerts now)?"),
        "{s}"
    );
    check("alerts_silence_editor_dark_120x30", &s);
    // The preview follows the matchers as they are edited.
    app.on_key(key(KeyCode::Char('n')), NOW_MS);
    app.on_key(key(KeyCode::Tab), NOW_MS);
    let text = buffer_text(&render_to_buffer(&mut app, 120, 30, NOW_MS));
    assert!(text.contains("▸ matchers"), "{text}");
    for _ in 0..r#", severity="critical"}"#.len() {
        app.on_key(key(KeyCode::Backspace), NOW_MS);
    }
    app.on_key(key(KeyCode::Char('}')), NOW_MS);
    let text = buffer_text(&render_to_buffer(&mut app, 120, 30, NOW_MS));
    assert!(text.contains("Preview: 4 alert(s) caught"), "{text}");
}

#[test]
fn filters_by_regex_and_by_matchers() {
    let rt = runtime();
    let mut app = alert_fixture::app(rt.handle(), "dark", alert_fixture::snapshot());
    app.run_command("alerts", NOW_MS);
    for c in "/db-".chars() {
        app.on_key(key(KeyCode::Char(c)), NOW_MS);
    }
    app.on_key(key(KeyCode::Enter), NOW_MS);
    let text = buffer_text(&render_to_buffer(&mut app, 200, 40, NOW_MS));
    assert!(
        text.contains("DiskFull") && text.contains("ReplicationLag"),
        "{text}"
    );
    assert!(!text.contains("CPUHigh"), "{text}");
    app.on_key(key(KeyCode::Esc), NOW_MS);
    // `m` takes Alertmanager matchers; a bad one says why and keeps the list.
    app.on_key(key(KeyCode::Char('m')), NOW_MS);
    for c in r#"{severity=~"warn.*"}"#.chars() {
        app.on_key(key(KeyCode::Char(c)), NOW_MS);
    }
    app.on_key(key(KeyCode::Enter), NOW_MS);
    let text = buffer_text(&render_to_buffer(&mut app, 200, 40, NOW_MS));
    assert!(
        text.contains("CPUHigh") && text.contains("ReplicationLag"),
        "{text}"
    );
    assert!(!text.contains("DiskFull"), "{text}");
    app.on_key(key(KeyCode::Char('m')), NOW_MS);
    for _ in 0..30 {
        app.on_key(key(KeyCode::Backspace), NOW_MS);
    }
    for c in "{severity}".chars() {
        app.on_key(key(KeyCode::Char(c)), NOW_MS);
    }
    app.on_key(key(KeyCode::Enter), NOW_MS);
    let text = buffer_text(&render_to_buffer(&mut app, 200, 40, NOW_MS));
    assert!(text.contains("matchers \"{severity}\""), "{text}");
    // The list is unchanged: the last good matcher filter still applies.
    assert!(!text.contains("DiskFull"), "{text}");
}

#[test]
fn ten_thousand_alerts_render_only_what_fits() {
    let rt = runtime();
    let mut app = alert_fixture::app(rt.handle(), "dark", alert_fixture::many(500, 20));
    app.run_command("alerts", NOW_MS);
    let t = std::time::Instant::now();
    let text = buffer_text(&render_to_buffer(&mut app, 200, 60, NOW_MS));
    assert!(text.contains("10000 firing"), "{text}");
    // Generous bound for a debug build on a shared machine; the bench measures release.
    assert!(
        t.elapsed() < std::time::Duration::from_millis(500),
        "{:?}",
        t.elapsed()
    );
}

#[test]
fn tiny_sizes_do_not_panic() {
    let rt = runtime();
    for (w, h) in [(1, 1), (10, 4), (40, 10), (300, 100)] {
        let mut app = alert_fixture::app(rt.handle(), "dark", alert_fixture::snapshot());
        app.run_command("alerts", NOW_MS);
        render_to_buffer(&mut app, w, h, NOW_MS);
        app.on_key(key(KeyCode::Char('s')), NOW_MS);
        render_to_buffer(&mut app, w, h, NOW_MS);
        app.run_command("silences", NOW_MS);
        render_to_buffer(&mut app, w, h, NOW_MS);
        let v = alert_fixture::alerts_with_detail();
        let mut app = alert_fixture::app_of(rt.handle(), "dark", vec![Box::new(v)]);
        render_to_buffer(&mut app, w, h, NOW_MS);
    }
}

/// A console source whose `ALERTS` instant query answers two series at any moment.
struct PastAlerts;

fn never<T: Send + 'static>() -> promtui::web::BoxFuture<T> {
    Box::pin(std::future::pending())
}

impl ConsoleSource for PastAlerts {
    fn instant_query(
        &self,
        expr: String,
        t: i64,
    ) -> promtui::web::BoxFuture<Result<QueryAnswer, SourceError>> {
        let series = |pairs: &[(&str, &str)]| SeriesData {
            labels: pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            points: vec![(t, 1.0)],
        };
        let data = QueryData::Vector(vec![
            series(&[
                ("__name__", "ALERTS"),
                ("alertname", "DiskFull"),
                ("alertstate", "firing"),
                ("instance", "db-1:9100"),
                ("severity", "critical"),
            ]),
            series(&[
                ("__name__", "ALERTS"),
                ("alertname", "DiskFillingUp"),
                ("alertstate", "pending"),
                ("instance", "db-1:9100"),
                ("severity", "warning"),
            ]),
        ]);
        Box::pin(async move {
            if expr != "ALERTS" {
                return Err(format!("unexpected query {expr}"));
            }
            Ok(QueryAnswer {
                data,
                warnings: Vec::new(),
            })
        })
    }
    fn range_query(
        &self,
        _: String,
        _: i64,
        _: i64,
        _: i64,
    ) -> promtui::web::BoxFuture<Result<QueryAnswer, SourceError>> {
        never()
    }
    fn label_names(
        &self,
        _: Vec<String>,
    ) -> promtui::web::BoxFuture<Result<Vec<String>, SourceError>> {
        never()
    }
    fn label_values(
        &self,
        _: String,
        _: Vec<String>,
    ) -> promtui::web::BoxFuture<Result<Vec<String>, SourceError>> {
        never()
    }
    fn metadata(&self) -> promtui::web::BoxFuture<Result<Vec<MetricInfo>, SourceError>> {
        never()
    }
    fn series_counts(&self) -> promtui::web::BoxFuture<Result<SeriesCounts, SourceError>> {
        never()
    }
}

#[test]
fn time_travel_shows_alerts_series_at_the_moment_read_only() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let at = NOW_MS - 7_200_000;
    let ev = |dt: i64, event: &str, name: &str| promtui::tui::backend::alerts::HistoryEvent {
        at_ms: at - dt,
        fingerprint: "b0b0b0b0b0b00001".into(),
        event: event.into(),
        labels: [("alertname".to_string(), name.to_string())].into(),
    };
    let history = alert_fixture::HistoryAlerts(vec![
        ev(7_200_000, "firing", "TooOld"),
        ev(1_800_000, "firing", "DiskFull"),
        ev(600_000, "resolved", "CPUHigh"),
        ev(-60_000, "firing", "InTheFuture"),
    ]);
    let mut v = AlertsView::with_source(Some(Arc::new(history)), Arc::new(PastAlerts));
    v.set_snapshot(alert_fixture::snapshot(), NOW_MS);
    let palette = promtui::tui::theme::builtin("dark");
    let handle = rt.handle().clone();
    let mut ctx = ViewCtx {
        palette: &palette,
        glyphs: Glyphs::Braille,
        runtime: &handle,
        range: TimeRange {
            width_ms: 3_600_000,
            end_ms: Some(at),
        },
        now_ms: NOW_MS,
    };
    let mut term = ratatui::Terminal::new(ratatui::backend::TestBackend::new(120, 20)).unwrap();
    let mut draw = |v: &mut AlertsView, ctx: &mut ViewCtx<'_>| -> String {
        v.tick(ctx);
        term.draw(|f| v.render(f, f.area(), ctx)).unwrap();
        buffer_text(term.backend().buffer())
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut s = draw(&mut v, &mut ctx);
    while !(s.contains("DiskFillingUp") && s.contains("alert events")) {
        assert!(std::time::Instant::now() < deadline, "{s}");
        std::thread::sleep(std::time::Duration::from_millis(20));
        s = draw(&mut v, &mut ctx);
    }
    assert!(
        s.contains("historical, from ALERTS in the TSDB; read-only"),
        "{s}"
    );
    assert!(s.contains("1 firing 1 pending"), "{s}");
    // The history of the hour before the moment, newest first; nothing outside it.
    assert!(s.contains("alert events in the hour before (2):"), "{s}");
    assert!(
        s.contains(r#"00:54:05 resolved {alertname="CPUHigh"}"#),
        "{s}"
    );
    assert!(
        s.contains(r#"00:34:05 firing   {alertname="DiskFull"}"#),
        "{s}"
    );
    assert!(!s.contains("TooOld") && !s.contains("InTheFuture"), "{s}");
    assert!(
        !s.contains("HighErrorRate"),
        "the present leaked into the past:\n{s}"
    );
    // Acting on the past is refused with a reason.
    v.on_key(key(KeyCode::Char('s')), &mut ctx);
    let s = draw(&mut v, &mut ctx);
    assert!(s.contains("read-only; :at now returns"), "{s}");
    check("alerts_time_travel_dark_120x20", &s);
    // Back to now: the live groups return.
    ctx.range.end_ms = None;
    let s = draw(&mut v, &mut ctx);
    assert!(
        s.contains("HighErrorRate") && !s.contains("DiskFillingUp"),
        "{s}"
    );
}
