//! The metric explorer (`:metrics`): every metric name the backend knows with its TYPE,
//! unit, HELP (from metadata) and series count, filtered by the frame's `/` filter,
//! sortable by name or series count. Enter hands the metric to the console through a
//! [`ConsoleHandoff`] (the frame switches to the console when
//! [`ConsoleHandoff::take_switch_request`] says so).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use crossterm::event::{KeyCode, KeyEvent};
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::source::{ConsoleSource, MetricInfo, SeriesCounts, SourceError};
use super::ConsoleHandoff;
use crate::tui::view::{Filter, Handled, View, ViewCtx};

/// One row of the explorer.
#[derive(Clone, Debug, PartialEq)]
pub struct MetricRow {
    pub name: String,
    pub kind: String,
    pub unit: String,
    pub help: String,
    pub series: Option<u64>,
}

type Loaded = (
    Result<Vec<String>, SourceError>,
    Result<Vec<MetricInfo>, SourceError>,
    Result<SeriesCounts, SourceError>,
);

/// The metric explorer view.
pub struct MetricsExplorerView {
    source: Arc<dyn ConsoleSource>,
    handoff: ConsoleHandoff,
    rows: Vec<MetricRow>,
    /// Indices of rows the filter keeps, in display order.
    shown: Vec<usize>,
    filter: Option<Filter>,
    by_series: bool,
    selected: usize,
    offset: usize,
    loading: Option<(Instant, oneshot::Receiver<Loaded>, JoinHandle<()>)>,
    loaded_at_ms: Option<i64>,
    error: Option<String>,
}

/// How often the list is fetched again while shown.
const REFRESH_MS: i64 = 60_000;

impl MetricsExplorerView {
    /// An explorer over `source`; Enter sends `metric` to the console via `handoff`
    /// (from [`super::ConsoleView::handoff`]).
    pub fn new(source: Arc<dyn ConsoleSource>, handoff: ConsoleHandoff) -> MetricsExplorerView {
        MetricsExplorerView {
            source,
            handoff,
            rows: Vec::new(),
            shown: Vec::new(),
            filter: None,
            by_series: false,
            selected: 0,
            offset: 0,
            loading: None,
            loaded_at_ms: None,
            error: None,
        }
    }

    /// The rows currently shown (filtered and sorted).
    pub fn shown_rows(&self) -> impl Iterator<Item = &MetricRow> {
        self.shown.iter().map(|&i| &self.rows[i])
    }

    fn reload(&mut self, ctx: &ViewCtx<'_>) {
        if let Some((_, _, h)) = self.loading.take() {
            h.abort();
        }
        let names = self.source.label_values("__name__".into(), vec![]);
        let md = self.source.metadata();
        let counts = self.source.series_counts();
        let (tx, rx) = oneshot::channel();
        let handle = ctx.runtime.spawn(async move {
            let r = (names.await, md.await, counts.await);
            let _ = tx.send(r);
        });
        self.loading = Some((Instant::now(), rx, handle));
        self.loaded_at_ms = Some(ctx.now_ms);
    }

    fn apply(&mut self, loaded: Loaded) {
        let (names, md, counts) = loaded;
        let mut errors = Vec::new();
        let names = names.unwrap_or_else(|e| {
            errors.push(format!("metric names: {e}"));
            Vec::new()
        });
        let md = md.unwrap_or_else(|e| {
            errors.push(format!("metadata: {e}"));
            Vec::new()
        });
        let counts: HashMap<String, u64> = match counts {
            Ok(Some(c)) => c.into_iter().collect(),
            Ok(None) => HashMap::new(),
            Err(e) => {
                errors.push(format!("series counts: {e}"));
                HashMap::new()
            }
        };
        let md: HashMap<&str, &MetricInfo> = md.iter().map(|m| (m.name.as_str(), m)).collect();
        let mut rows: Vec<MetricRow> = names
            .iter()
            .map(|n| {
                let m = md.get(n.as_str());
                MetricRow {
                    name: n.clone(),
                    kind: m.map(|m| m.kind.clone()).unwrap_or_default(),
                    unit: m.map(|m| m.unit.clone()).unwrap_or_default(),
                    help: m.map(|m| m.help.clone()).unwrap_or_default(),
                    series: counts.get(n).copied(),
                }
            })
            .collect();
        // Metadata for families without series (a histogram's base name) is listed too.
        for (name, m) in &md {
            if !names.iter().any(|n| n == name) {
                rows.push(MetricRow {
                    name: name.to_string(),
                    kind: m.kind.clone(),
                    unit: m.unit.clone(),
                    help: m.help.clone(),
                    series: counts.get(*name).copied(),
                });
            }
        }
        rows.sort_by(|a, b| a.name.cmp(&b.name));
        self.rows = rows;
        self.error = (!errors.is_empty()).then(|| errors.join("; "));
        self.refilter();
    }

    fn refilter(&mut self) {
        let mut shown: Vec<usize> = (0..self.rows.len())
            .filter(|&i| {
                let r = &self.rows[i];
                self.filter.as_ref().is_none_or(|f| {
                    f.keeps(&format!("{} {} {} {}", r.name, r.kind, r.unit, r.help))
                })
            })
            .collect();
        if self.by_series {
            shown.sort_by_key(|&i| std::cmp::Reverse(self.rows[i].series.unwrap_or(0)));
        }
        self.shown = shown;
        self.selected = self.selected.min(self.shown.len().saturating_sub(1));
    }
}

impl View for MetricsExplorerView {
    fn name(&self) -> &'static str {
        "metrics"
    }

    fn aliases(&self) -> &'static [&'static str] {
        &["explorer", "metric-explorer"]
    }

    fn key_hints(&self) -> Vec<(&'static str, &'static str)> {
        vec![
            ("Enter", "query the metric in the console"),
            ("j/k, Up/Down", "move"),
            ("PgUp/PgDn", "page"),
            ("g/G", "first / last"),
            ("s", "sort by name / series count"),
            ("r", "reload"),
        ]
    }

    fn on_key(&mut self, key: KeyEvent, ctx: &mut ViewCtx<'_>) -> Handled {
        let n = self.shown.len();
        match key.code {
            KeyCode::Up | KeyCode::Char('k') => self.selected = self.selected.saturating_sub(1),
            KeyCode::Down | KeyCode::Char('j') => {
                self.selected = (self.selected + 1).min(n.saturating_sub(1))
            }
            KeyCode::PageUp => self.selected = self.selected.saturating_sub(20),
            KeyCode::PageDown => self.selected = (self.selected + 20).min(n.saturating_sub(1)),
            KeyCode::Home | KeyCode::Char('g') => self.selected = 0,
            KeyCode::End | KeyCode::Char('G') => self.selected = n.saturating_sub(1),
            KeyCode::Char('s') => {
                self.by_series = !self.by_series;
                self.refilter();
            }
            KeyCode::Char('r') => self.reload(ctx),
            KeyCode::Enter => {
                let Some(&i) = self.shown.get(self.selected) else {
                    return Handled::Ignored;
                };
                self.handoff.send(self.rows[i].name.clone());
            }
            _ => return Handled::Ignored,
        }
        Handled::Consumed
    }

    fn set_filter(&mut self, filter: Option<Filter>) {
        self.filter = filter;
        self.refilter();
    }

    fn tick(&mut self, ctx: &mut ViewCtx<'_>) {
        if let Some((_, rx, _)) = &mut self.loading {
            match rx.try_recv() {
                Ok(l) => {
                    self.loading = None;
                    self.apply(l);
                }
                Err(oneshot::error::TryRecvError::Closed) => {
                    self.loading = None;
                    self.error = Some("loading metrics ended without an answer".into());
                }
                Err(oneshot::error::TryRecvError::Empty) => {}
            }
            return;
        }
        let stale = self
            .loaded_at_ms
            .is_none_or(|t| ctx.now_ms - t >= REFRESH_MS);
        if stale {
            self.reload(ctx);
        }
    }

    fn render(&mut self, frame: &mut Frame<'_>, area: Rect, ctx: &ViewCtx<'_>) {
        let p = ctx.palette;
        if area.height < 2 {
            return;
        }
        let w = area.width as usize;
        let name_w = self
            .rows
            .iter()
            .map(|r| r.name.len())
            .max()
            .unwrap_or(10)
            .clamp(10, (w / 2).max(10));
        let head = format!(
            " {:<name_w$} {:<9} {:<8} {:>8}  HELP",
            format!("METRIC ({}/{})", self.shown.len(), self.rows.len()),
            "TYPE",
            "UNIT",
            if self.by_series {
                "SERIES↓"
            } else {
                "SERIES"
            }
        );
        let mut lines = vec![Line::styled(head, p.accent)];
        if let Some(e) = &self.error {
            lines.push(Line::styled(format!(" {e}"), p.error));
        }
        if self.rows.is_empty() {
            let msg = if self.loading.is_some() {
                " loading metric names…"
            } else {
                " no metrics"
            };
            lines.push(Line::styled(msg, p.dim));
            frame.render_widget(Paragraph::new(lines), area);
            return;
        }
        let body = (area.height as usize).saturating_sub(lines.len());
        if self.selected < self.offset {
            self.offset = self.selected;
        } else if self.selected >= self.offset + body {
            self.offset = self.selected + 1 - body;
        }
        for (k, &i) in self.shown.iter().enumerate().skip(self.offset).take(body) {
            let r = &self.rows[i];
            let st = if k == self.selected {
                p.selection
            } else {
                p.text
            };
            let series = r.series.map(|s| s.to_string()).unwrap_or_default();
            let name: String = r.name.chars().take(name_w).collect();
            let kind_style = match r.kind.as_str() {
                "counter" => p.ok,
                "gauge" => p.info,
                "histogram" | "summary" => p.warn,
                _ => p.dim,
            };
            lines.push(Line::from(vec![
                Span::styled(format!(" {name:<name_w$} "), st),
                Span::styled(format!("{:<9} ", r.kind), kind_style),
                Span::styled(format!("{:<8} ", r.unit), p.dim),
                Span::styled(format!("{series:>8}  "), p.text),
                Span::styled(r.help.clone(), p.dim),
            ]));
        }
        frame.render_widget(Paragraph::new(lines), area);
    }

    fn busy_since(&self) -> Option<Instant> {
        self.loading.as_ref().map(|l| l.0)
    }

    fn cancel(&mut self) {
        if let Some((_, _, h)) = self.loading.take() {
            h.abort();
        }
    }
}
