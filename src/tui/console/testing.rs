//! Test support for the console, shared by unit tests, tests/tui_console_*.rs and
//! benches/tui_console.rs: two palettes (the frame's theme files live elsewhere), a
//! [`ConsoleSource`] over any [`Queryable`] evaluated by the real PromQL engine, a slow
//! source for cancellation tests, and text snapshots of a rendered buffer.
//!
//! Not used by the binary.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use ratatui::buffer::Buffer;
use ratatui::style::{Color, Modifier, Style};

use super::source::{
    ConsoleSource, CostedAnswer, MetricInfo, QueryAnswer, QueryData, SeriesCounts, SeriesData,
    SourceError,
};
use crate::model::Matcher;
use crate::promql::engine::{Engine, Value};
use crate::promql::{parse_expr, Expr};
use crate::storage::Queryable;
use crate::tui::view::{Palette, SyntaxStyles};
use crate::web::BoxFuture;

/// A dark palette for snapshot tests.
pub fn palette_dark() -> Palette {
    let fg = |c| Style::default().fg(c);
    Palette {
        name: "test-dark".into(),
        text: fg(Color::Gray),
        dim: fg(Color::DarkGray),
        accent: fg(Color::Cyan).add_modifier(Modifier::BOLD),
        border: fg(Color::DarkGray),
        selection: Style::default().bg(Color::Blue).fg(Color::White),
        ok: fg(Color::Green),
        warn: fg(Color::Yellow),
        error: fg(Color::Red),
        info: fg(Color::Blue),
        series: vec![
            Color::Cyan,
            Color::Magenta,
            Color::Yellow,
            Color::Green,
            Color::LightRed,
            Color::LightBlue,
        ],
        syntax: SyntaxStyles {
            keyword: fg(Color::Magenta),
            function: fg(Color::Cyan),
            metric: fg(Color::White).add_modifier(Modifier::BOLD),
            label: fg(Color::Yellow),
            string: fg(Color::Green),
            number: fg(Color::LightBlue),
            duration: fg(Color::LightBlue),
            operator: fg(Color::Red),
            comment: fg(Color::DarkGray).add_modifier(Modifier::ITALIC),
            error: Style::default()
                .fg(Color::Red)
                .add_modifier(Modifier::UNDERLINED),
        },
    }
}

/// A light palette for snapshot tests (RGB colours, different from the dark one
/// everywhere, so a snapshot shows which styles the view used).
pub fn palette_light() -> Palette {
    let fg = |r, g, b| Style::default().fg(Color::Rgb(r, g, b));
    Palette {
        name: "test-light".into(),
        text: fg(30, 30, 30),
        dim: fg(120, 120, 120),
        accent: fg(0, 90, 180).add_modifier(Modifier::BOLD),
        border: fg(160, 160, 160),
        selection: Style::default()
            .bg(Color::Rgb(200, 220, 255))
            .fg(Color::Rgb(0, 0, 0)),
        ok: fg(0, 130, 0),
        warn: fg(170, 110, 0),
        error: fg(190, 0, 0),
        info: fg(0, 90, 180),
        series: vec![
            Color::Rgb(31, 119, 180),
            Color::Rgb(255, 127, 14),
            Color::Rgb(44, 160, 44),
            Color::Rgb(214, 39, 40),
        ],
        syntax: SyntaxStyles {
            keyword: fg(150, 0, 150),
            function: fg(0, 100, 160),
            metric: fg(0, 0, 0).add_modifier(Modifier::BOLD),
            label: fg(140, 90, 0),
            string: fg(0, 120, 0),
            number: fg(20, 60, 200),
            duration: fg(20, 60, 200),
            operator: fg(180, 0, 0),
            comment: fg(130, 130, 130),
            error: Style::default()
                .fg(Color::Rgb(190, 0, 0))
                .add_modifier(Modifier::UNDERLINED),
        },
    }
}

/// A [`ConsoleSource`] over any [`Queryable`] (a loaded [`crate::tsdb::Db`], the
/// promqltest storage): queries run on the real engine on a blocking thread, label
/// calls read the querier's index.
pub struct QueryableSource {
    storage: Arc<dyn Queryable>,
    engine: Engine,
    metadata: Vec<MetricInfo>,
    /// Extra latency per call, for busy/cancel tests.
    pub delay: Duration,
}

impl QueryableSource {
    pub fn new(storage: Arc<dyn Queryable>, metadata: Vec<MetricInfo>) -> QueryableSource {
        QueryableSource {
            storage,
            engine: Engine::default(),
            metadata,
            delay: Duration::ZERO,
        }
    }

    fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&dyn Queryable, &Engine) -> Result<T, SourceError> + Send + 'static,
    ) -> BoxFuture<Result<T, SourceError>> {
        let storage = Arc::clone(&self.storage);
        let engine = self.engine.clone();
        let delay = self.delay;
        Box::pin(async move {
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            tokio::task::spawn_blocking(move || f(storage.as_ref(), &engine))
                .await
                .map_err(|e| format!("query task failed: {e}"))?
        })
    }
}

/// Matchers of selectors written as `{a="b"}` (or `metric{...}`).
pub fn parse_matchers(selectors: &[String]) -> Result<Vec<Vec<Matcher>>, SourceError> {
    selectors
        .iter()
        .map(|s| match parse_expr(s) {
            Ok(Expr::VectorSelector(ref vs)) => Ok(vs.matchers.clone()),
            Ok(_) => Err(format!("{s:?} is not a series selector")),
            Err(e) => Err(e.to_string()),
        })
        .collect()
}

fn label_query(
    q: &dyn Queryable,
    selectors: Vec<String>,
    f: impl Fn(&dyn crate::storage::Querier, &[Matcher]) -> Result<Vec<String>, String>,
) -> Result<Vec<String>, SourceError> {
    let sets = parse_matchers(&selectors)?;
    let querier = q.querier(i64::MIN, i64::MAX).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    if sets.is_empty() {
        out = f(querier.as_ref(), &[])?;
    }
    for m in sets {
        out.extend(f(querier.as_ref(), &m)?);
    }
    out.sort();
    out.dedup();
    Ok(out)
}

fn to_answer(v: Value, warnings: Vec<String>) -> QueryAnswer {
    let labels = |l: &crate::model::Labels| {
        l.iter()
            .map(|x| (x.name.clone(), x.value.clone()))
            .collect::<Vec<_>>()
    };
    let data = match v {
        Value::Scalar { t, v } => QueryData::Scalar { t, v },
        Value::String { t, s } => QueryData::String { t, v: s },
        Value::Vector(vec) => QueryData::Vector(
            vec.iter()
                .map(|s| SeriesData {
                    labels: labels(&s.metric),
                    points: vec![(s.t, s.f)],
                })
                .collect(),
        ),
        Value::Matrix(m) => QueryData::Matrix(
            m.iter()
                .map(|s| SeriesData {
                    labels: labels(&s.metric),
                    points: s.floats.iter().map(|p| (p.t, p.f)).collect(),
                })
                .collect(),
        ),
    };
    QueryAnswer { data, warnings }
}

impl ConsoleSource for QueryableSource {
    fn instant_query(
        &self,
        expr: String,
        time_ms: i64,
    ) -> BoxFuture<Result<QueryAnswer, SourceError>> {
        self.blocking(move |q, e| {
            let r = e
                .instant_query(q, expr.as_str(), time_ms)
                .map_err(|e| e.to_string())?;
            Ok(to_answer(r.value, r.warnings))
        })
    }

    fn range_query_cost(
        &self,
        expr: String,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
    ) -> BoxFuture<Result<CostedAnswer, SourceError>> {
        self.blocking(move |q, e| {
            let started = std::time::Instant::now();
            let r = e
                .range_query(q, expr.as_str(), start_ms, end_ms, step_ms)
                .map_err(|e| e.to_string())?;
            let eval = started.elapsed();
            let samples = Some(r.stats.total_queryable_samples);
            Ok(CostedAnswer {
                answer: to_answer(r.value, r.warnings),
                samples,
                eval,
            })
        })
    }

    fn instant_query_cost(
        &self,
        expr: String,
        time_ms: i64,
    ) -> BoxFuture<Result<CostedAnswer, SourceError>> {
        self.blocking(move |q, e| {
            let started = std::time::Instant::now();
            let r = e
                .instant_query(q, expr.as_str(), time_ms)
                .map_err(|e| e.to_string())?;
            let eval = started.elapsed();
            let samples = Some(r.stats.total_queryable_samples);
            Ok(CostedAnswer {
                answer: to_answer(r.value, r.warnings),
                samples,
                eval,
            })
        })
    }

    fn range_query(
        &self,
        expr: String,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
    ) -> BoxFuture<Result<QueryAnswer, SourceError>> {
        self.blocking(move |q, e| {
            let r = e
                .range_query(q, expr.as_str(), start_ms, end_ms, step_ms)
                .map_err(|e| e.to_string())?;
            Ok(to_answer(r.value, r.warnings))
        })
    }

    fn label_names(&self, matchers: Vec<String>) -> BoxFuture<Result<Vec<String>, SourceError>> {
        self.blocking(move |q, _| {
            label_query(q, matchers, |qr, m| {
                qr.label_names(m).map_err(|e| e.to_string())
            })
        })
    }

    fn label_values(
        &self,
        name: String,
        matchers: Vec<String>,
    ) -> BoxFuture<Result<Vec<String>, SourceError>> {
        self.blocking(move |q, _| {
            label_query(q, matchers, |qr, m| {
                qr.label_values(&name, m).map_err(|e| e.to_string())
            })
        })
    }

    fn metadata(&self) -> BoxFuture<Result<Vec<MetricInfo>, SourceError>> {
        let m = self.metadata.clone();
        Box::pin(async move { Ok(m) })
    }

    fn series_counts(&self) -> BoxFuture<Result<SeriesCounts, SourceError>> {
        self.blocking(|q, _| {
            let querier = q.querier(i64::MIN, i64::MAX).map_err(|e| e.to_string())?;
            let names = querier
                .label_values("__name__", &[])
                .map_err(|e| e.to_string())?;
            let mut counts = HashMap::new();
            for n in names {
                let sel = querier
                    .select(&[Matcher::equal("__name__", &n)])
                    .map_err(|e| e.to_string())?;
                counts.insert(n, sel.len() as u64);
            }
            let mut v: Vec<(String, u64)> = counts.into_iter().collect();
            v.sort();
            Ok(Some(v))
        })
    }
}

/// The buffer as text lines (trailing blanks kept, so widths are visible), then a map of
/// styles: each distinct style gets a letter, each cell shows its letter, and a legend
/// lists what the letters are. Palette changes therefore change the snapshot.
pub fn snapshot(buf: &Buffer) -> String {
    let area = buf.area;
    let mut out = String::new();
    let mut styles: Vec<Style> = Vec::new();
    let mut map = String::new();
    const LETTERS: &[u8] = b".abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    for y in area.y..area.y + area.height {
        let mut skip = 0usize;
        for x in area.x..area.x + area.width {
            let c = &buf[(x, y)];
            if skip > 0 {
                skip -= 1;
            } else {
                out.push_str(c.symbol());
                skip = unicode_width(c.symbol()).saturating_sub(1);
            }
            let st = c.style();
            let idx = if st == Style::default() {
                0
            } else {
                match styles.iter().position(|s| *s == st) {
                    Some(i) => i + 1,
                    None => {
                        styles.push(st);
                        styles.len()
                    }
                }
            };
            map.push(LETTERS.get(idx).copied().unwrap_or(b'?') as char);
        }
        out.push('\n');
        map.push('\n');
    }
    out.push_str("---- styles\n");
    out.push_str(&map);
    out.push_str("---- legend\n");
    for (i, s) in styles.iter().enumerate() {
        let letter = LETTERS.get(i + 1).copied().unwrap_or(b'?') as char;
        let _ = writeln!(out, "{letter} {s:?}");
    }
    out
}

fn unicode_width(s: &str) -> usize {
    use ratatui::text::Span;
    Span::raw(s).width().max(1)
}

/// Compares `got` with the fixture `name` under tests/data/tui_console/, writing it when
/// UPDATE_SNAPSHOTS=1 or when it does not exist yet (then failing, so a new fixture is
/// looked at before it is trusted).
pub fn assert_snapshot(name: &str, got: &str) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/tui_console");
    let path = dir.join(format!("{name}.txt"));
    let update = std::env::var_os("UPDATE_SNAPSHOTS").is_some_and(|v| v == "1");
    match std::fs::read_to_string(&path) {
        Ok(want) if !update => {
            if want != got {
                let diff: Vec<String> = want
                    .lines()
                    .zip(got.lines())
                    .enumerate()
                    .filter(|(_, (a, b))| a != b)
                    .take(8)
                    .map(|(i, (a, b))| format!("line {}:\n  want {a}\n  got  {b}", i + 1))
                    .collect();
                panic!(
                    "snapshot {name} differs ({} vs {} lines); rerun with UPDATE_SNAPSHOTS=1 to accept\n{}",
                    want.lines().count(),
                    got.lines().count(),
                    diff.join("\n")
                );
            }
        }
        _ => {
            std::fs::create_dir_all(&dir).expect("create snapshot dir");
            std::fs::write(&path, got).expect("write snapshot");
            if !update {
                panic!("snapshot {name} was missing and has been written; check it and rerun");
            }
        }
    }
}

/// The fixed "now" of console tests: 2023-11-14 22:13:20 UTC.
pub const NOW_MS: i64 = 1_700_000_000_000;

/// A small deterministic data set over the two hours before [`NOW_MS`], scraped every
/// 15 s: `up` (4 targets, one down), `http_requests_total` (2 instances x 3 codes),
/// `process_resident_memory_bytes` and `http_request_duration_seconds_bucket`.
pub fn dataset() -> crate::promql::promqltest::MemStorage {
    use crate::model::{Labels, Sample};
    let mut st = crate::promql::promqltest::MemStorage::new();
    let steps = 2 * 3600 / 15;
    let ts = |k: i64| NOW_MS - (steps - k) * 15_000;
    let targets = [
        ("node", "host-a:9100"),
        ("node", "host-b:9100"),
        ("api", "api-1:8080"),
        ("api", "api-2:8080"),
    ];
    for (n, (job, inst)) in targets.iter().enumerate() {
        let up = if n == 3 { 0.0 } else { 1.0 };
        st.add(
            Labels::from_pairs(&[("__name__", "up"), ("job", job), ("instance", inst)]),
            (0..=steps).map(|k| Sample::new(ts(k), up)),
        );
        let base = 200.0e6 + n as f64 * 50.0e6;
        st.add(
            Labels::from_pairs(&[
                ("__name__", "process_resident_memory_bytes"),
                ("job", job),
                ("instance", inst),
            ]),
            (0..=steps).map(|k| {
                let x = k as f64 / 40.0 + n as f64;
                Sample::new(ts(k), base + 30.0e6 * x.sin())
            }),
        );
    }
    for (i, inst) in ["api-1:8080", "api-2:8080"].iter().enumerate() {
        for (c, code) in ["200", "404", "500"].iter().enumerate() {
            let rate = [40.0, 3.0, 0.5][c] * (1.0 + i as f64 * 0.5);
            let mut v = 0.0;
            st.add(
                Labels::from_pairs(&[
                    ("__name__", "http_requests_total"),
                    ("job", "api"),
                    ("instance", inst),
                    ("code", code),
                ]),
                (0..=steps).map(|k| {
                    let wave = 1.0 + 0.5 * ((k as f64 / 25.0) + c as f64).sin();
                    v += rate * 15.0 * wave;
                    Sample::new(ts(k), v.floor())
                }),
            );
        }
        let mut counts = [0.0f64; 4];
        for (b, le) in ["0.05", "0.1", "0.5", "+Inf"].iter().enumerate() {
            let share = [0.5, 0.8, 0.97, 1.0][b];
            st.add(
                Labels::from_pairs(&[
                    ("__name__", "http_request_duration_seconds_bucket"),
                    ("job", "api"),
                    ("instance", inst),
                    ("le", le),
                ]),
                (0..=steps).map(|k| {
                    counts[b] += (60.0 * share * (1.0 + (k as f64 / 30.0).cos() * 0.2)).floor();
                    Sample::new(ts(k), counts[b])
                }),
            );
        }
    }
    st
}

/// Metadata for [`dataset`].
pub fn dataset_metadata() -> Vec<MetricInfo> {
    let m = |name: &str, kind: &str, help: &str, unit: &str| MetricInfo {
        name: name.into(),
        kind: kind.into(),
        help: help.into(),
        unit: unit.into(),
    };
    vec![
        m(
            "up",
            "gauge",
            "Whether the last scrape of the target succeeded.",
            "",
        ),
        m(
            "http_requests_total",
            "counter",
            "HTTP requests served, by status code.",
            "",
        ),
        m(
            "process_resident_memory_bytes",
            "gauge",
            "Resident memory size in bytes.",
            "bytes",
        ),
        m(
            "http_request_duration_seconds",
            "histogram",
            "Time spent serving HTTP requests.",
            "seconds",
        ),
    ]
}

/// Drives a view the way the frame does, on a real runtime with a fixed clock.
pub struct Harness {
    pub runtime: tokio::runtime::Runtime,
    pub palette: Palette,
    pub glyphs: crate::tui::view::Glyphs,
    pub range: crate::tui::view::TimeRange,
    pub now_ms: i64,
}

impl Harness {
    /// A harness with `palette`, braille glyphs, a 1h range ending now and the clock at
    /// [`NOW_MS`].
    pub fn new(palette: Palette) -> Harness {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("test runtime");
        Harness {
            runtime,
            palette,
            glyphs: crate::tui::view::Glyphs::Braille,
            range: crate::tui::view::TimeRange {
                width_ms: 3_600_000,
                end_ms: None,
            },
            now_ms: NOW_MS,
        }
    }

    /// Runs `f` with a context as the frame lends it.
    pub fn with_ctx<R>(&self, f: impl FnOnce(&mut crate::tui::view::ViewCtx<'_>) -> R) -> R {
        let mut ctx = crate::tui::view::ViewCtx {
            palette: &self.palette,
            glyphs: self.glyphs,
            runtime: self.runtime.handle(),
            range: self.range,
            now_ms: self.now_ms,
        };
        f(&mut ctx)
    }

    /// Sends one key.
    pub fn key(
        &self,
        view: &mut dyn crate::tui::view::View,
        key: crossterm::event::KeyEvent,
    ) -> crate::tui::view::Handled {
        self.with_ctx(|ctx| view.on_key(key, ctx))
    }

    /// Types `text` one character at a time, ticking after each key as the frame does.
    pub fn type_str(&self, view: &mut dyn crate::tui::view::View, text: &str) {
        for c in text.chars() {
            let k = crossterm::event::KeyEvent::from(crossterm::event::KeyCode::Char(c));
            self.key(view, k);
            self.with_ctx(|ctx| view.tick(ctx));
        }
    }

    /// Ticks until `settled` says so (at most 10 s), then once more.
    pub fn settle<V: crate::tui::view::View>(&self, view: &mut V, settled: impl Fn(&V) -> bool) {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            self.with_ctx(|ctx| view.tick(ctx));
            if settled(view) && view.busy_since().is_none() {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "view did not settle in 10 s"
            );
            std::thread::sleep(Duration::from_millis(2));
        }
        self.with_ctx(|ctx| view.tick(ctx));
    }

    /// Draws one frame of `view` into `term`, as the frame's loop does.
    pub fn draw<V: crate::tui::view::View + ?Sized>(
        &self,
        view: &mut V,
        term: &mut ratatui::Terminal<ratatui::backend::TestBackend>,
    ) {
        self.with_ctx(|ctx| {
            term.draw(|f| view.render(f, f.area(), ctx))
                .expect("draw into the test backend");
        });
    }

    /// Draws `view` into a `width` x `height` test terminal and returns the buffer.
    pub fn render(&self, view: &mut dyn crate::tui::view::View, width: u16, height: u16) -> Buffer {
        let backend = ratatui::backend::TestBackend::new(width, height);
        let mut term = ratatui::Terminal::new(backend).expect("test terminal");
        self.with_ctx(|ctx| {
            term.draw(|f| view.render(f, f.area(), ctx))
                .expect("draw into the test backend");
        });
        term.backend().buffer().clone()
    }
}

/// Everything in one buffer as plain text lines (no style map), for assertions.
pub fn text_of(buf: &Buffer) -> String {
    let full = snapshot(buf);
    full.split("---- styles")
        .next()
        .unwrap_or_default()
        .to_string()
}

/// A [`ConsoleSource`] answering every query with one fixed answer and label calls with
/// fixed lists: for benches and tests of drawing, where the engine is not the subject.
pub struct CannedSource {
    pub answer: QueryAnswer,
    pub names: Vec<String>,
    pub values: Vec<String>,
}

impl ConsoleSource for CannedSource {
    fn instant_query(&self, _: String, _: i64) -> BoxFuture<Result<QueryAnswer, SourceError>> {
        let a = self.answer.clone();
        Box::pin(async move { Ok(a) })
    }
    fn range_query(
        &self,
        _: String,
        _: i64,
        _: i64,
        _: i64,
    ) -> BoxFuture<Result<QueryAnswer, SourceError>> {
        let a = self.answer.clone();
        Box::pin(async move { Ok(a) })
    }
    fn label_names(&self, _: Vec<String>) -> BoxFuture<Result<Vec<String>, SourceError>> {
        let n = self.names.clone();
        Box::pin(async move { Ok(n) })
    }
    fn label_values(
        &self,
        _: String,
        _: Vec<String>,
    ) -> BoxFuture<Result<Vec<String>, SourceError>> {
        let v = self.values.clone();
        Box::pin(async move { Ok(v) })
    }
    fn metadata(&self) -> BoxFuture<Result<Vec<MetricInfo>, SourceError>> {
        Box::pin(async move { Ok(Vec::new()) })
    }
    fn series_counts(&self) -> BoxFuture<Result<SeriesCounts, SourceError>> {
        Box::pin(async move { Ok(None) })
    }
}

/// `series` random-walk series of `points` points each, step `step_ms`, ending at
/// `end_ms` (a fixed-seed xorshift, so benches draw the same picture every run).
pub fn random_matrix(series: usize, points: usize, end_ms: i64, step_ms: i64) -> QueryData {
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut rnd = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % 1000) as f64 / 1000.0
    };
    let start = end_ms - (points as i64 - 1) * step_ms;
    QueryData::Matrix(
        (0..series)
            .map(|s| {
                let mut v = 100.0 + s as f64;
                SeriesData {
                    labels: vec![
                        ("__name__".into(), "node_network_receive_bytes_total".into()),
                        ("device".into(), format!("eth{}", s % 4)),
                        ("instance".into(), format!("host-{s:03}:9100")),
                    ],
                    points: (0..points)
                        .map(|k| {
                            v = (v + rnd() - 0.5).max(0.0);
                            (start + k as i64 * step_ms, v)
                        })
                        .collect(),
                }
            })
            .collect(),
    )
}
