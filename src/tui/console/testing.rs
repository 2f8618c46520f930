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
    ConsoleSource, MetricInfo, QueryAnswer, QueryData, SeriesCounts, SeriesData, SourceError,
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
