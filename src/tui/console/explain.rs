//! The console's query explain pane (`x` on the results, `:explain`): the expression as
//! a tree ([`crate::promql::explain`]), each node run as its own query through
//! [`ConsoleSource::instant_query_cost`] (table mode: an instant query at the console's
//! evaluation time) or [`ConsoleSource::range_query_cost`] (graph mode: the console's
//! range and step; a range vector is measured through `count_over_time`), with the
//! series in its result, the samples it touched and its evaluation time, inclusive of
//! its subtree and by itself (inclusive minus its children), and the node that costs the
//! most by itself highlighted.
//!
//! Node queries run one after another in one task (so they do not slow each other
//! down) and land as they finish; closing the pane aborts the task.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crossterm::event::{KeyCode, KeyEvent};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};
use ratatui::Frame;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::source::{ConsoleSource, QueryData};
use crate::promql::explain::{
    explain_tree, figures, hottest, range_form, Cost, ExplainNode, NodeKind,
};
use crate::tui::view::{Glyphs, ViewCtx};
use crate::tui::widgets;

/// What one node's query measured, or why it failed.
#[derive(Clone, Debug, PartialEq)]
struct Measured {
    series: usize,
    /// `None`: the backend does not report samples.
    samples: Option<i64>,
    eval: Duration,
}

/// What the nodes are evaluated over: the console's table or graph query.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Window {
    /// An instant query at this time (ms).
    Instant(i64),
    /// A range query.
    Range {
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
    },
}

impl Window {
    /// The pane's title for this window.
    fn describe(self) -> String {
        use crate::tui::timetravel::format_moment;
        match self {
            Window::Instant(t) => format!("instant query at {}", format_moment(t)),
            Window::Range {
                start_ms,
                end_ms,
                step_ms,
            } => format!(
                "range query {} ending {}, step {} (range vectors via count_over_time)",
                crate::model::time::format_duration(end_ms - start_ms),
                format_moment(end_ms),
                crate::model::time::format_duration(step_ms)
            ),
        }
    }
}

/// What a key did to the pane.
#[derive(Clone, Debug, PartialEq)]
pub enum PaneAction {
    None,
    Close,
    /// Run this node's expression in the console.
    Open(String),
}

/// The explain pane's state.
pub struct ExplainPane {
    expr: String,
    window: Window,
    nodes: Vec<ExplainNode>,
    results: Vec<Option<Result<Measured, String>>>,
    rx: Option<mpsc::UnboundedReceiver<(usize, Result<Measured, String>)>>,
    handle: Option<JoinHandle<()>>,
    started: Instant,
    selected: usize,
    offset: usize,
    show_timings: bool,
}

impl Drop for ExplainPane {
    fn drop(&mut self) {
        if let Some(h) = self.handle.take() {
            h.abort();
        }
    }
}

fn series_of(d: &QueryData) -> usize {
    match d {
        QueryData::Vector(v) | QueryData::Matrix(v) => v.len(),
        QueryData::Scalar { .. } | QueryData::String { .. } => 1,
    }
}

impl ExplainPane {
    /// Parses `expr` and starts measuring each node over `window`; a parse error comes
    /// back as the status line's message.
    pub fn start(
        source: Arc<dyn ConsoleSource>,
        expr: &str,
        window: Window,
        ctx: &ViewCtx<'_>,
        show_timings: bool,
    ) -> Result<ExplainPane, String> {
        let parsed = crate::promql::parse_expr(expr).map_err(|e| format!("explain: {e}"))?;
        let nodes = explain_tree(&parsed);
        // Per node: the query and what to run it over (a string literal, which a range
        // query cannot return, at the range's end).
        let queries: Vec<(String, Window)> = nodes
            .iter()
            .map(|n| match window {
                Window::Instant(_) => (n.expr.clone(), window),
                Window::Range { end_ms, .. } => match range_form(n) {
                    Some(q) => (q, window),
                    None => (n.expr.clone(), Window::Instant(end_ms)),
                },
            })
            .collect();
        let (tx, rx) = mpsc::unbounded_channel();
        let handle = ctx.runtime.spawn(async move {
            for (i, (q, over)) in queries.into_iter().enumerate() {
                let fut = match over {
                    Window::Range {
                        start_ms,
                        end_ms,
                        step_ms,
                    } => source.range_query_cost(q, start_ms, end_ms, step_ms),
                    Window::Instant(at) => source.instant_query_cost(q, at),
                };
                let r = fut.await.map(|c| Measured {
                    series: series_of(&c.answer.data),
                    samples: c.samples,
                    eval: c.eval,
                });
                if tx.send((i, r)).is_err() {
                    return;
                }
            }
        });
        Ok(ExplainPane {
            expr: parsed.to_string(),
            window,
            results: vec![None; nodes.len()],
            nodes,
            rx: Some(rx),
            handle: Some(handle),
            started: Instant::now(),
            selected: 0,
            offset: 0,
            show_timings,
        })
    }

    /// The explained expression, as printed.
    pub fn expr(&self) -> &str {
        &self.expr
    }

    /// Collects the node results that landed.
    pub fn poll(&mut self) {
        let Some(rx) = &mut self.rx else {
            return;
        };
        loop {
            match rx.try_recv() {
                Ok((i, r)) => {
                    if let Some(slot) = self.results.get_mut(i) {
                        *slot = Some(r);
                    }
                }
                Err(mpsc::error::TryRecvError::Empty) => break,
                Err(mpsc::error::TryRecvError::Disconnected) => {
                    self.rx = None;
                    self.handle = None;
                    break;
                }
            }
        }
    }

    /// While node queries are still running, when they started.
    pub fn busy_since(&self) -> Option<Instant> {
        self.rx.as_ref().map(|_| self.started)
    }

    /// Stops measuring (the nodes measured so far stay).
    pub fn cancel(&mut self) {
        if let Some(h) = self.handle.take() {
            h.abort();
        }
        self.rx = None;
    }

    pub fn on_key(&mut self, key: KeyEvent) -> PaneAction {
        let n = self.nodes.len();
        match key.code {
            KeyCode::Esc | KeyCode::Char('x') | KeyCode::Char('q') => return PaneAction::Close,
            KeyCode::Up | KeyCode::Char('k') => self.selected = self.selected.saturating_sub(1),
            KeyCode::Down | KeyCode::Char('j') => {
                self.selected = (self.selected + 1).min(n.saturating_sub(1))
            }
            KeyCode::Home | KeyCode::Char('g') => self.selected = 0,
            KeyCode::End | KeyCode::Char('G') => self.selected = n.saturating_sub(1),
            KeyCode::Char('h') => {
                if let Some(h) = self.hottest() {
                    self.selected = h;
                }
            }
            KeyCode::Enter => {
                if let Some(node) = self.nodes.get(self.selected) {
                    return PaneAction::Open(node.expr.clone());
                }
            }
            _ => {}
        }
        PaneAction::None
    }

    fn costs(&self) -> Vec<Option<Cost>> {
        self.results
            .iter()
            .map(|r| match r {
                Some(Ok(m)) => Some(Cost {
                    series: m.series,
                    samples: m.samples.unwrap_or(0),
                    eval: if self.show_timings {
                        m.eval
                    } else {
                        Duration::ZERO
                    },
                }),
                _ => None,
            })
            .collect()
    }

    /// The node that costs the most by itself, once every node is measured.
    pub fn hottest(&self) -> Option<usize> {
        if self.rx.is_some() {
            return None;
        }
        hottest(&figures(&self.nodes, &self.costs()))
    }

    /// Tree-drawing prefix of node `i`: a bar for each ancestor with siblings still to
    /// come, then the branch to `i`.
    fn prefix(&self, i: usize, glyphs: Glyphs) -> String {
        let (bar, tee, elbow, gap) = if glyphs == Glyphs::Ascii {
            ("| ", "|-", "`-", "  ")
        } else {
            ("│ ", "├─", "└─", "  ")
        };
        let is_last = |k: usize| match self.nodes[k].parent {
            Some(p) => self.nodes[p].children.last() == Some(&k),
            None => true,
        };
        let Some(_) = self.nodes[i].parent else {
            return String::new();
        };
        let mut parts = vec![if is_last(i) { elbow } else { tee }];
        let mut k = self.nodes[i].parent;
        while let Some(a) = k {
            if self.nodes[a].parent.is_some() {
                parts.push(if is_last(a) { gap } else { bar });
            }
            k = self.nodes[a].parent;
        }
        parts.reverse();
        parts.concat()
    }

    /// A node's row text: its label and kind, and whether it sits under a subquery.
    fn row_text(&self, i: usize) -> String {
        let node = &self.nodes[i];
        let mut text = format!("{} {}", node.label, node.kind.as_str());
        if node.in_subquery {
            text.push_str(" (one subquery step)");
        }
        text
    }

    pub fn render(&mut self, f: &mut Frame<'_>, area: Rect, ctx: &ViewCtx<'_>) {
        let p = ctx.palette;
        let g = ctx.glyphs;
        let figs = figures(&self.nodes, &self.costs());
        let hot = self.hottest();
        let block = Block::default()
            .borders(Borders::TOP)
            .border_style(p.border)
            .title(Line::from(vec![
                Span::styled(" explain ", p.accent),
                Span::styled(
                    format!(
                        "{} · each node run as its own query (Enter runs it, h jumps to the hottest, Esc closes) ",
                        self.window.describe()
                    ),
                    p.dim,
                ),
            ]));
        let inner = block.inner(area);
        f.render_widget(block, area);
        let [legend, table, detail] = Layout::vertical([
            Constraint::Length(1),
            Constraint::Min(2),
            Constraint::Length(3),
        ])
        .areas(inner);
        let measured = self.results.iter().filter(|r| r.is_some()).count();
        let mut leg = Vec::new();
        if self.rx.is_some() {
            leg.push(Span::styled(
                format!(" measuring {measured}/{} nodes", self.nodes.len()),
                p.warn,
            ));
        } else if let Some(h) = hot {
            leg.push(Span::styled(" most expensive: ", p.dim));
            leg.push(Span::styled(
                self.nodes[h].label.clone(),
                p.error.add_modifier(Modifier::BOLD),
            ));
        }
        leg.push(Span::styled(
            " · total = the node with its subtree, self = the node alone (total minus its children)",
            p.dim,
        ));
        f.render_widget(Paragraph::new(Line::from(leg)), legend);

        // Columns: tree + node (as wide as the widest node, within the room left), then
        // the figures and the hot marker.
        let (sw, nw, tw) = (6usize, 8usize, 8usize);
        let fig_w = sw + 2 * nw + 2 * tw + 5 + 7;
        let widest = (0..self.nodes.len())
            .map(|i| self.prefix(i, g).chars().count() + self.row_text(i).chars().count() + 1)
            .max()
            .unwrap_or(16);
        let tree_w = widest
            .min((table.width as usize).saturating_sub(fig_w + 1))
            .max(16);
        let mut lines = vec![Line::from(vec![
            Span::raw(" "),
            widgets::cell("NODE", tree_w, p.dim, g),
            Span::styled(format!("{:>sw$} ", "SERIES"), p.dim),
            Span::styled(format!("{:>nw$} ", "SAMPLES"), p.dim),
            Span::styled(format!("{:>nw$} ", "SELF"), p.dim),
            Span::styled(format!("{:>tw$} ", "TIME"), p.dim),
            Span::styled(format!("{:>tw$}", "SELF"), p.dim),
        ])];
        let height = (table.height as usize).saturating_sub(1).max(1);
        if self.selected < self.offset {
            self.offset = self.selected;
        } else if self.selected >= self.offset + height {
            self.offset = self.selected + 1 - height;
        }
        let time = |d: Duration| {
            if self.show_timings {
                format_eval(d)
            } else {
                "-".to_string()
            }
        };
        for (i, node) in self.nodes.iter().enumerate().skip(self.offset).take(height) {
            let prefix = self.prefix(i, g);
            let name_style = match node.kind {
                NodeKind::Call => p.syntax.function,
                NodeKind::Aggregation => p.syntax.keyword,
                NodeKind::Selector | NodeKind::RangeSelector => p.syntax.metric,
                NodeKind::Number => p.syntax.number,
                NodeKind::String => p.syntax.string,
                NodeKind::Binary | NodeKind::Unary => p.syntax.operator,
                NodeKind::Subquery => p.syntax.duration,
            };
            let text = self.row_text(i);
            let is_hot = hot == Some(i);
            let name_w = tree_w.saturating_sub(prefix.chars().count());
            let mut spans = vec![
                Span::raw(" "),
                Span::styled(prefix, p.dim),
                widgets::cell(&text, name_w, name_style, g),
            ];
            let figs_spans: Vec<Span> = match (&self.results[i], figs[i]) {
                (None, _) => vec![Span::styled(format!("{:>sw$}", "…"), p.dim)],
                (Some(Err(e)), _) => vec![Span::styled(format!(" error: {e}"), p.error)],
                (Some(Ok(m)), Some(fg)) => {
                    let samples = |n: i64| match m.samples {
                        Some(_) => widgets::si(n as f64),
                        None => "n/a".into(),
                    };
                    let style = if is_hot { p.error } else { p.text };
                    vec![
                        Span::styled(format!("{:>sw$} ", m.series), style),
                        Span::styled(format!("{:>nw$} ", samples(fg.inclusive.samples)), style),
                        Span::styled(format!("{:>nw$} ", samples(fg.own_samples)), style),
                        Span::styled(format!("{:>tw$} ", time(fg.inclusive.eval)), style),
                        Span::styled(format!("{:>tw$}", time(fg.own_eval)), style),
                    ]
                }
                (Some(Ok(_)), None) => vec![],
            };
            spans.extend(figs_spans);
            if is_hot {
                spans.push(Span::styled(
                    if g == Glyphs::Ascii {
                        " <- hot"
                    } else {
                        " ◀ hot"
                    },
                    p.error.add_modifier(Modifier::BOLD),
                ));
            }
            let mut line = Line::from(spans);
            if is_hot {
                line = line.style(p.error.add_modifier(Modifier::BOLD));
            }
            if i == self.selected {
                line = line.style(p.selection);
            }
            lines.push(line);
        }
        f.render_widget(Paragraph::new(lines), table);
        // The selected node in full, and its error if its query failed.
        let mut dl = Vec::new();
        if let Some(node) = self.nodes.get(self.selected) {
            let mut spans = vec![Span::styled(" ", p.dim)];
            spans.extend(
                crate::tui::console::editor::highlight(&node.expr, &p.syntax, p.text, None)
                    .into_iter()
                    .flat_map(|l| l.spans),
            );
            dl.push(Line::from(spans));
            let wrapped = matches!(self.window, Window::Range { .. })
                && node.value_type == crate::promql::ValueType::Matrix;
            if let Some(Err(e)) = &self.results[self.selected] {
                dl.push(Line::styled(format!(" {e}"), p.error));
            } else if wrapped {
                dl.push(Line::styled(
                    " a range vector: measured over the range as count_over_time(…), which reads the same samples",
                    p.dim,
                ));
            } else if node.in_subquery {
                dl.push(Line::styled(
                    " under a subquery: the real query evaluates this at every subquery step; measured here at one",
                    p.dim,
                ));
            }
        }
        f.render_widget(
            Paragraph::new(dl).wrap(Wrap { trim: false }).block(
                Block::default()
                    .borders(Borders::TOP)
                    .border_style(p.border),
            ),
            detail,
        );
    }
}

/// An evaluation time for a column: `850µs`, `12.3ms`, `1.52s`.
pub fn format_eval(d: Duration) -> String {
    let us = d.as_micros();
    if us < 1000 {
        format!("{us}µs")
    } else if us < 1_000_000 {
        format!("{:.1}ms", us as f64 / 1000.0)
    } else {
        format!("{:.2}s", d.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eval_times_read_at_a_glance() {
        assert_eq!(format_eval(Duration::from_micros(850)), "850µs");
        assert_eq!(format_eval(Duration::from_micros(12_345)), "12.3ms");
        assert_eq!(format_eval(Duration::from_millis(1520)), "1.52s");
    }
}
