//! Backtest: run an alerting rule over stored history ([`crate::rules::backtest`]) and
//! see when it would have fired, for how long and how often, drawn on a timeline; with a
//! second expression (another threshold) both run over the same window and are drawn
//! side by side.
//!
//! The rule comes from the Rules view (`b` on an alerting rule) or is typed in: `i` (or
//! Enter on a field) edits the form's fields (alert name, expr, for, keep_firing_for,
//! compare expr, range, step), Tab moves between them, Enter runs. The range defaults to
//! 7 days at a 1m step ending now (or at the time-travel moment); `R` takes the frame's
//! current range instead. Queries go through the backend's range query (local engine or
//! remote API, split into windows of at most 10,000 steps for the API's point limit).

use std::sync::Arc;
use std::time::Instant;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use parking_lot::Mutex;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};
use ratatui::Frame;

use crate::model::Labels;
use crate::rules::backtest::{backtest_series, Backtest, BacktestRule, Window};
use crate::tui::console::source::{ConsoleSource, QueryData};
use crate::tui::task::Task;
use crate::tui::view::{Filter, Glyphs, Handled, View, ViewCtx};
use crate::tui::widgets;
use crate::web::BoxFuture;

/// How the Rules view hands a rule to this view.
#[derive(Clone, Default)]
pub struct BacktestHandoff(Arc<Mutex<Option<BacktestRule>>>);

impl BacktestHandoff {
    pub fn send(&self, rule: BacktestRule) {
        *self.0.lock() = Some(rule);
    }
    fn take(&self) -> Option<BacktestRule> {
        self.0.lock().take()
    }
}

/// The form's fields, in Tab order.
const FIELDS: [&str; 7] = [
    "alert",
    "expr",
    "for",
    "keep_firing_for",
    "compare",
    "range",
    "step",
];

/// Most steps per range query (the Prometheus API refuses more than 11,000 points).
const MAX_STEPS_PER_QUERY: i64 = 10_000;

type Outcome = Result<Backtest, String>;

/// Points by label set, joined over the query windows.
type SeriesPoints = std::collections::HashMap<Vec<(String, String)>, Vec<(i64, f64)>>;

/// The Backtest view.
pub struct BacktestView {
    console: Arc<dyn ConsoleSource>,
    handoff: BacktestHandoff,
    /// Field values, by [`FIELDS`] index.
    fields: [String; 7],
    /// The field being edited, if any.
    editing: Option<usize>,
    focus: usize,
    labels: std::collections::BTreeMap<String, String>,
    task: Task<(Outcome, Option<Outcome>)>,
    result: Option<(Outcome, Option<Outcome>)>,
    filter: Option<Filter>,
    selected: usize,
    offset: usize,
    list_height: usize,
    error: Option<String>,
}

impl BacktestView {
    pub fn new(console: Arc<dyn ConsoleSource>, handoff: BacktestHandoff) -> BacktestView {
        BacktestView {
            console,
            handoff,
            fields: [
                String::new(),
                String::new(),
                "0s".into(),
                "0s".into(),
                String::new(),
                "7d".into(),
                "1m".into(),
            ],
            editing: None,
            focus: 1,
            labels: Default::default(),
            task: Task::default(),
            result: None,
            filter: None,
            selected: 0,
            offset: 0,
            list_height: 5,
            error: None,
        }
    }

    /// Fills the form from a rule (the Rules view's `b`).
    pub fn load_rule(&mut self, r: &BacktestRule) {
        self.fields[0] = r.alert.clone();
        self.fields[1] = r.expr_text.clone();
        self.fields[2] = crate::model::time::format_duration(r.for_ms);
        self.fields[3] = crate::model::time::format_duration(r.keep_firing_for_ms);
        self.labels = r.labels.clone();
        self.result = None;
        self.selected = 0;
    }

    /// Sets the compare expression (tests).
    pub fn set_compare(&mut self, expr: &str) {
        self.fields[4] = expr.to_string();
    }

    /// Sets results directly (snapshot tests).
    pub fn set_result(&mut self, a: Backtest, b: Option<Backtest>) {
        self.result = Some((Ok(a), b.map(Ok)));
    }

    /// The rules and window the form describes, ending at `end`.
    fn parse_form(&self, end: i64) -> Result<(BacktestRule, Option<BacktestRule>, Window), String> {
        let dur = |i: usize| {
            crate::model::time::parse_duration(self.fields[i].trim())
                .map_err(|e| format!("{}: {e}", FIELDS[i]))
        };
        if self.fields[1].trim().is_empty() {
            return Err("type the rule's expression (i edits, Tab moves between fields)".into());
        }
        let mut a = BacktestRule::parse(
            self.fields[0].trim(),
            self.fields[1].trim(),
            dur(2)?,
            dur(3)?,
        )
        .map_err(|e| e.to_string())?;
        a.labels = self.labels.clone();
        let b = if self.fields[4].trim().is_empty() {
            None
        } else {
            Some(
                a.with_expr(self.fields[4].trim())
                    .map_err(|e| e.to_string())?,
            )
        };
        let range = dur(5)?;
        let step = dur(6)?;
        let step = step.max(1);
        // Evaluations on the step grid, ending at or before `end`.
        let end = end - end.rem_euclid(step);
        let w = Window::new(end - range, end, step).map_err(|e| e.to_string())?;
        Ok((a, b, w))
    }

    fn run(&mut self, ctx: &ViewCtx<'_>) {
        let end = ctx.range.end_ms.unwrap_or(ctx.now_ms);
        match self.parse_form(end) {
            Ok((a, b, w)) => {
                self.error = None;
                let console = self.console.clone();
                let fa = run_one(console.clone(), a, w);
                let fb = b.map(|b| run_one(console, b, w));
                self.task.start(
                    ctx.runtime,
                    Box::pin(async move {
                        let ra = fa.await;
                        let rb = match fb {
                            Some(f) => Some(f.await),
                            None => None,
                        };
                        (ra, rb)
                    }),
                );
            }
            Err(e) => self.error = Some(e),
        }
    }

    fn alerts_shown<'a>(&self, bt: &'a Backtest) -> Vec<&'a crate::rules::backtest::AlertBacktest> {
        bt.alerts
            .iter()
            .filter(|a| {
                self.filter
                    .as_ref()
                    .is_none_or(|f| f.keeps(&a.labels.to_string()))
            })
            .collect()
    }

    fn render_form(&self, f: &mut Frame<'_>, area: Rect, ctx: &ViewCtx<'_>) {
        let p = ctx.palette;
        let mut lines = Vec::new();
        let mut row: Vec<Span> = Vec::new();
        for (i, name) in FIELDS.iter().enumerate() {
            if i == 1 || i == 4 {
                // expr and compare get a line of their own.
                if !row.is_empty() {
                    lines.push(Line::from(std::mem::take(&mut row)));
                }
            }
            let editing = self.editing == Some(i);
            let style = if editing {
                p.selection
            } else if i == self.focus {
                p.accent
            } else {
                p.text
            };
            row.push(Span::styled(format!("{name}: "), p.dim));
            let mut v = self.fields[i].clone();
            if editing {
                v.push(if ctx.glyphs == Glyphs::Ascii {
                    '_'
                } else {
                    '█'
                });
            } else if v.is_empty() {
                v = "-".into();
            }
            row.push(Span::styled(v, style));
            row.push(Span::raw("   "));
            if i == 1 || i == 4 {
                lines.push(Line::from(std::mem::take(&mut row)));
            }
        }
        if !row.is_empty() {
            lines.push(Line::from(row));
        }
        let msg = match (&self.error, self.task.is_busy()) {
            (Some(e), _) => Span::styled(e.clone(), p.error),
            (None, true) => Span::styled("running…", p.warn),
            (None, false) => Span::styled(
                "i edit  Tab next field  Enter run  R use the frame's range",
                p.dim,
            ),
        };
        lines.push(Line::from(msg));
        f.render_widget(
            Paragraph::new(lines).block(
                Block::default()
                    .borders(Borders::ALL)
                    .border_style(p.border)
                    .title(Span::styled(" backtest ", p.accent)),
            ),
            area,
        );
    }

    fn render_result(
        &mut self,
        f: &mut Frame<'_>,
        area: Rect,
        r: &Outcome,
        title: &str,
        ctx: &ViewCtx<'_>,
    ) {
        let p = ctx.palette;
        let g = ctx.glyphs;
        let bt = match r {
            Ok(bt) => bt,
            Err(e) => {
                f.render_widget(
                    Paragraph::new(Line::from(Span::styled(e.clone(), p.error))).block(
                        Block::default()
                            .borders(Borders::ALL)
                            .border_style(p.border)
                            .title(Span::styled(format!(" {title} "), p.accent)),
                    ),
                    area,
                );
                return;
            }
        };
        let inner_w = area.width.saturating_sub(2) as usize;
        let w = &bt.window;
        let mut lines: Vec<Line> = Vec::new();
        lines.push(Line::from(vec![
            Span::styled(
                format!("{}x", bt.firings()),
                if bt.firings() > 0 { p.error } else { p.ok },
            ),
            Span::styled(
                format!(
                    " fired across {} alert(s), {} firing in total (avg {}), ",
                    bt.alerts_fired(),
                    widgets::duration(bt.firing_ms()),
                    widgets::duration(bt.firing_ms() / bt.firings().max(1) as i64)
                ),
                p.text,
            ),
            Span::styled(
                format!(
                    "{} evals of {} ({:.0} ms)",
                    w.evals(),
                    widgets::duration(w.step_ms),
                    bt.elapsed_ms
                ),
                p.dim,
            ),
        ]));
        // Timeline: one row per alert, the window across `tw` columns.
        let name_w = (inner_w / 3).clamp(8, 40);
        let tw = inner_w.saturating_sub(name_w + 8).max(4);
        let span_ms = (w.end_ms - w.start_ms).max(1);
        // Axis: start and end times.
        let left = axis_time(w.start_ms);
        let right = axis_time(w.end_ms);
        let axis = if tw > left.len() + right.len() {
            format!("{left}{}{right}", " ".repeat(tw - left.len() - right.len()))
        } else {
            widgets::fit(&left, tw, g)
        };
        lines.push(Line::from(vec![
            Span::raw(" ".repeat(name_w + 1)),
            Span::styled(axis, p.dim),
        ]));
        let shown = self.alerts_shown(bt);
        let height = (area.height as usize).saturating_sub(2 + lines.len() + 4);
        self.list_height = height.max(1);
        if self.selected >= shown.len() {
            self.selected = shown.len().saturating_sub(1);
        }
        if self.selected < self.offset {
            self.offset = self.selected;
        } else if self.selected >= self.offset + height.max(1) {
            self.offset = self.selected + 1 - height.max(1);
        }
        let (on, off) = match g {
            Glyphs::Ascii => ('#', '.'),
            _ => ('█', '·'),
        };
        for (i, a) in shown.iter().enumerate().skip(self.offset).take(height) {
            let mut cells = vec![false; tw];
            for iv in &a.intervals {
                let until = iv.resolved_at.unwrap_or(w.end_ms + 1);
                let c0 =
                    ((iv.fired_at - w.start_ms) as i128 * tw as i128 / span_ms as i128) as usize;
                let c1 = ((until - w.start_ms) as i128 * tw as i128 / span_ms as i128) as usize;
                for c in cells
                    .iter_mut()
                    .take(c1.max(c0 + 1).min(tw))
                    .skip(c0.min(tw - 1))
                {
                    *c = true;
                }
            }
            let bar: String = cells.iter().map(|&c| if c { on } else { off }).collect();
            let name = short_labels(&a.labels);
            let line = Line::from(vec![
                widgets::cell(&name, name_w, p.text, g),
                Span::styled(bar, p.error),
                Span::styled(format!(" {}x", a.intervals.len()), p.dim),
            ]);
            lines.push(if i == self.selected {
                line.style(p.selection)
            } else {
                line
            });
        }
        if shown.is_empty() {
            lines.push(Line::from(Span::styled(
                "never pending or firing in this window",
                p.ok,
            )));
        }
        // The selected alert's intervals.
        if let Some(a) = shown.get(self.selected) {
            lines.push(Line::from(Span::styled(
                format!(
                    "{}: pending {} time(s) without firing",
                    a.labels, a.pending_episodes
                ),
                p.dim,
            )));
            for iv in a.intervals.iter().rev().take(3) {
                lines.push(Line::from(vec![
                    Span::styled(
                        format!("  {} ", crate::model::time::format_rfc3339(iv.fired_at)),
                        p.text,
                    ),
                    Span::styled(
                        format!("for {}", widgets::duration(iv.duration_ms(w))),
                        p.error,
                    ),
                    Span::styled(
                        match iv.resolved_at {
                            Some(_) => String::new(),
                            None => " (still firing)".into(),
                        },
                        p.warn,
                    ),
                ]));
            }
        }
        f.render_widget(
            Paragraph::new(lines).block(
                Block::default()
                    .borders(Borders::ALL)
                    .border_style(p.border)
                    .title(Span::styled(format!(" {title} "), p.accent)),
            ),
            area,
        );
    }
}

/// `12-26 03:04` (UTC): the timeline's ends.
fn axis_time(ms: i64) -> String {
    let s = crate::model::time::format_rfc3339(ms);
    // 2025-12-26T03:04:00.000Z
    match (s.get(5..10), s.get(11..16)) {
        (Some(d), Some(t)) => format!("{d} {t}"),
        _ => s,
    }
}

/// The labels that tell alerts apart (without `alertname`).
fn short_labels(l: &Labels) -> String {
    let v: Vec<String> = l
        .iter()
        .filter(|x| x.name != "alertname")
        .map(|x| format!("{}=\"{}\"", x.name, x.value))
        .collect();
    format!("{{{}}}", v.join(","))
}

/// Evaluates `rule` over `w` through the console source (in windows of at most
/// [`MAX_STEPS_PER_QUERY`] steps) and backtests it.
fn run_one(console: Arc<dyn ConsoleSource>, rule: BacktestRule, w: Window) -> BoxFuture<Outcome> {
    Box::pin(async move {
        let started = Instant::now();
        let mut series: SeriesPoints = Default::default();
        let mut t = w.start_ms;
        while t <= w.end_ms {
            let end = (t + (MAX_STEPS_PER_QUERY - 1) * w.step_ms).min(w.end_ms);
            let ans = console
                .range_query(rule.expr_text.clone(), t, end, w.step_ms)
                .await?;
            match ans.data {
                QueryData::Matrix(m) | QueryData::Vector(m) => {
                    for s in m {
                        series.entry(s.labels).or_default().extend(s.points);
                    }
                }
                QueryData::Scalar { .. } | QueryData::String { .. } => {
                    return Err("the expression must return an instant vector".into())
                }
            }
            t = end + w.step_ms;
        }
        let input = series
            .into_iter()
            .map(|(l, p)| (Labels::from_pairs(&l), p))
            .collect();
        let mut bt = backtest_series(&rule, w, input).map_err(|e| e.to_string())?;
        bt.elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
        Ok(bt)
    })
}

impl View for BacktestView {
    fn name(&self) -> &'static str {
        "backtest"
    }
    fn aliases(&self) -> &'static [&'static str] {
        &["bt"]
    }
    fn key_hints(&self) -> Vec<(&'static str, &'static str)> {
        vec![
            ("i", "edit field"),
            ("Tab", "next field"),
            ("Enter", "run"),
            ("j/k", "select alert"),
            ("R", "use frame range"),
            ("Esc", "stop editing"),
        ]
    }
    fn captures_text(&self) -> bool {
        self.editing.is_some()
    }
    fn on_key(&mut self, key: KeyEvent, ctx: &mut ViewCtx<'_>) -> Handled {
        if let Some(i) = self.editing {
            match key.code {
                KeyCode::Esc => {
                    self.editing = None;
                    return Handled::Consumed;
                }
                KeyCode::Enter => {
                    self.editing = None;
                    self.run(ctx);
                }
                KeyCode::Tab => {
                    self.focus = (i + 1) % FIELDS.len();
                    self.editing = Some(self.focus);
                }
                KeyCode::BackTab => {
                    self.focus = (i + FIELDS.len() - 1) % FIELDS.len();
                    self.editing = Some(self.focus);
                }
                KeyCode::Backspace => {
                    self.fields[i].pop();
                }
                KeyCode::Char('u') if key.modifiers.contains(KeyModifiers::CONTROL) => {
                    self.fields[i].clear();
                }
                KeyCode::Char(c) => self.fields[i].push(c),
                _ => {}
            }
            return Handled::Consumed;
        }
        match key.code {
            KeyCode::Char('i') => self.editing = Some(self.focus),
            KeyCode::Char('e') if self.task.is_busy() => {}
            KeyCode::Enter => self.run(ctx),
            KeyCode::Char('R') => {
                self.fields[5] = crate::model::time::format_duration(ctx.range.width_ms);
                let steps = (ctx.range.width_ms / 250).max(1000);
                self.fields[6] = crate::model::time::format_duration(steps - steps % 1000);
            }
            KeyCode::Down | KeyCode::Char('j') => self.selected += 1,
            KeyCode::Up | KeyCode::Char('k') => self.selected = self.selected.saturating_sub(1),
            KeyCode::Right | KeyCode::Char('l') => self.focus = (self.focus + 1) % FIELDS.len(),
            KeyCode::Left | KeyCode::Char('h') => {
                self.focus = (self.focus + FIELDS.len() - 1) % FIELDS.len()
            }
            _ => return Handled::Ignored,
        }
        Handled::Consumed
    }
    fn set_filter(&mut self, filter: Option<Filter>) {
        self.filter = filter;
        self.selected = 0;
    }
    fn tick(&mut self, ctx: &mut ViewCtx<'_>) {
        if let Some(r) = self.handoff.take() {
            self.load_rule(&r);
            self.run(ctx);
        }
        if let Some(r) = self.task.poll() {
            self.result = Some(r);
        }
    }
    fn busy_since(&self) -> Option<Instant> {
        self.task.busy_since()
    }
    fn cancel(&mut self) {
        self.task.cancel();
    }
    fn render(&mut self, f: &mut Frame<'_>, area: Rect, ctx: &ViewCtx<'_>) {
        let [form, body] =
            Layout::vertical([Constraint::Length(8), Constraint::Min(3)]).areas(area);
        self.render_form(f, form, ctx);
        let Some((a, b)) = self.result.take() else {
            let p = ctx.palette;
            f.render_widget(
                Paragraph::new(Line::from(Span::styled(
                    " b on an alerting rule in the Rules view, or type a rule above and press Enter",
                    p.dim,
                ))),
                body,
            );
            return;
        };
        let title_a = format!("A: {}", self.fields[1].trim());
        match &b {
            Some(rb) => {
                let [l, r] =
                    Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)])
                        .areas(body);
                self.render_result(f, l, &a, &title_a, ctx);
                let title_b = format!("B: {}", self.fields[4].trim());
                self.render_result(f, r, rb, &title_b, ctx);
            }
            None => self.render_result(f, body, &a, &title_a, ctx),
        }
        self.result = Some((a, b));
    }
}
