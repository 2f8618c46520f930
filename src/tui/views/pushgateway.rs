//! Pushgateway: every push group (its grouping labels) with the age of its last push and
//! last failed push; groups not pushed to for longer than the stale age (`:stale 1h`,
//! default 1h) are highlighted, as are groups whose last push failed. Enter shows the
//! group's metrics; `d` deletes the selected group after a confirmation (`y`), and the
//! list is re-read at once so a deleted group never lingers (prometheus/pushgateway#270).

use std::sync::Arc;
use std::time::Instant;

use crossterm::event::{KeyCode, KeyEvent, MouseEvent};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};
use ratatui::Frame;

use crate::tui::backend::pushgateway::{PushGroup, PushSource};
use crate::tui::backend::BackendError;
use crate::tui::task::Task;
use crate::tui::view::{Filter, Handled, View, ViewCtx};
use crate::tui::widgets;

const REFRESH_MS: i64 = 5_000;
/// Default age after which a group counts as stale.
pub const DEFAULT_STALE_MS: i64 = 3_600_000;

/// The Pushgateway view.
pub struct PushgatewayView {
    source: Option<Arc<dyn PushSource>>,
    groups: Vec<PushGroup>,
    error: Option<String>,
    loaded: bool,
    task: Task<Result<Vec<PushGroup>, BackendError>>,
    delete_task: Task<(String, Result<(), BackendError>)>,
    fetched_at: i64,
    filter: Option<Filter>,
    visible: Vec<usize>,
    selected: usize,
    offset: usize,
    list_height: usize,
    show_metrics: bool,
    metrics_scroll: u16,
    /// The group awaiting `y` to be deleted (its labels).
    confirm: Option<Vec<(String, String)>>,
    stale_ms: i64,
    status: Option<(String, bool)>,
}

impl PushgatewayView {
    pub fn new(source: Option<Arc<dyn PushSource>>) -> PushgatewayView {
        PushgatewayView {
            source,
            groups: Vec::new(),
            error: None,
            loaded: false,
            task: Task::default(),
            delete_task: Task::default(),
            fetched_at: i64::MIN,
            filter: None,
            visible: Vec::new(),
            selected: 0,
            offset: 0,
            list_height: 10,
            show_metrics: false,
            metrics_scroll: 0,
            confirm: None,
            stale_ms: DEFAULT_STALE_MS,
            status: None,
        }
    }

    /// Sets the groups directly (snapshot tests).
    pub fn set_groups(&mut self, groups: Vec<PushGroup>, now_ms: i64) {
        self.fetched_at = now_ms;
        self.apply(Ok(groups));
    }

    /// Sets the stale age (`:stale`).
    pub fn set_stale_ms(&mut self, ms: i64) {
        self.stale_ms = ms.max(1);
    }

    fn apply(&mut self, r: Result<Vec<PushGroup>, BackendError>) {
        self.loaded = true;
        match r {
            Ok(g) => {
                let sel = self.selected_group().map(|g| g.labels.clone());
                self.groups = g;
                self.error = None;
                self.rebuild();
                if let Some(l) = sel {
                    if let Some(i) = self
                        .visible
                        .iter()
                        .position(|&i| self.groups[i].labels == l)
                    {
                        self.selected = i;
                    }
                }
            }
            Err(e) => self.error = Some(e.to_string()),
        }
    }

    fn rebuild(&mut self) {
        self.visible = (0..self.groups.len())
            .filter(|&i| {
                let g = &self.groups[i];
                self.filter.as_ref().is_none_or(|f| {
                    let mut text = g.key_text();
                    for fam in &g.families {
                        text.push(' ');
                        text.push_str(&fam.name);
                    }
                    f.keeps(&text)
                })
            })
            .collect();
        if self.selected >= self.visible.len() {
            self.selected = self.visible.len().saturating_sub(1);
        }
    }

    fn selected_group(&self) -> Option<&PushGroup> {
        self.groups.get(*self.visible.get(self.selected)?)
    }

    fn stale(&self, g: &PushGroup, now_ms: i64) -> bool {
        g.push_ms.is_none_or(|t| now_ms - t > self.stale_ms)
    }

    fn move_by(&mut self, d: isize) {
        self.selected = widgets::moved(self.selected, d, self.visible.len());
        self.metrics_scroll = 0;
    }

    fn render_list(&mut self, f: &mut Frame<'_>, area: Rect, ctx: &ViewCtx<'_>) {
        let p = ctx.palette;
        let g = ctx.glyphs;
        let w = area.width as usize;
        let height = area.height.saturating_sub(2) as usize;
        self.list_height = height.max(1);
        if self.selected < self.offset {
            self.offset = self.selected;
        } else if self.selected >= self.offset + height {
            self.offset = self.selected + 1 - height;
        }
        let (pw, fw, mw, sw) = (14usize, 16usize, 8usize, 7usize);
        let kw = w.saturating_sub(pw + fw + mw + sw + 5).max(10);
        let stale_n = self
            .groups
            .iter()
            .filter(|x| self.stale(x, ctx.now_ms))
            .count();
        let failing_n = self.groups.iter().filter(|x| x.failing()).count();
        let endpoint = self
            .source
            .as_ref()
            .map(|s| s.endpoint())
            .unwrap_or_default();
        let mut lines = vec![
            Line::from(vec![
                Span::styled(format!("{} groups  ", self.groups.len()), p.dim),
                Span::styled(
                    format!("{stale_n} stale (>{})", widgets::duration(self.stale_ms)),
                    if stale_n > 0 { p.warn } else { p.dim },
                ),
                Span::styled(
                    format!("  {failing_n} failing"),
                    if failing_n > 0 { p.error } else { p.dim },
                ),
                Span::styled(format!("  {endpoint}"), p.info),
            ]),
            Line::from(vec![
                Span::raw(" "),
                widgets::cell("GROUP", kw, p.dim, g),
                widgets::cell("LAST PUSH", pw, p.dim, g),
                widgets::cell("LAST FAILURE", fw, p.dim, g),
                widgets::cell("METRICS", mw, p.dim, g),
                widgets::cell("STATE", sw, p.dim, g),
            ]),
        ];
        for (i, &gi) in self
            .visible
            .iter()
            .enumerate()
            .skip(self.offset)
            .take(height.saturating_sub(1))
        {
            let grp = &self.groups[gi];
            let stale = self.stale(grp, ctx.now_ms);
            let (state, st) = if grp.failing() {
                ("failing", p.error)
            } else if stale {
                ("stale", p.warn)
            } else {
                ("ok", p.ok)
            };
            let key_style = if stale { p.warn } else { p.text };
            let line = Line::from(vec![
                Span::raw(" "),
                widgets::cell(&grp.key_text(), kw, key_style, g),
                widgets::cell(&widgets::ago(ctx.now_ms, grp.push_ms), pw, key_style, g),
                widgets::cell(
                    &widgets::ago(ctx.now_ms, grp.failure_ms),
                    fw,
                    if grp.failing() { p.error } else { p.dim },
                    g,
                ),
                widgets::cell(&grp.families.len().to_string(), mw, p.text, g),
                widgets::cell(state, sw, st, g),
            ]);
            lines.push(if i == self.selected {
                line.style(p.selection)
            } else {
                line
            });
        }
        if self.visible.is_empty() {
            let msg = if self.source.is_none() {
                "the Pushgateway is not available from this backend".to_string()
            } else if !self.loaded {
                "loading push groups…".to_string()
            } else if let Some(e) = &self.error {
                e.clone()
            } else if self.groups.is_empty() {
                "no push groups".into()
            } else {
                "no group matches the filter".into()
            };
            lines.push(Line::from(Span::styled(format!(" {msg}"), p.dim)));
        }
        if let Some((s, err)) = &self.status {
            lines.push(Line::from(Span::styled(
                format!(" {s}"),
                if *err { p.error } else { p.info },
            )));
        }
        f.render_widget(Paragraph::new(lines), area);
    }

    fn render_metrics(&self, f: &mut Frame<'_>, area: Rect, ctx: &ViewCtx<'_>) {
        let p = ctx.palette;
        let Some(grp) = self.selected_group() else {
            return;
        };
        let mut lines = Vec::new();
        for fam in &grp.families {
            lines.push(Line::from(vec![
                Span::styled(fam.name.clone(), p.accent),
                Span::styled(format!(" {} ", fam.kind.to_lowercase()), p.dim),
                Span::styled(fam.help.clone(), p.dim),
            ]));
            for s in &fam.samples {
                lines.push(Line::from(Span::styled(format!("  {s}"), p.text)));
            }
        }
        if grp.families.is_empty() {
            lines.push(Line::from(Span::styled("no metrics", p.dim)));
        }
        f.render_widget(
            Paragraph::new(lines)
                .scroll((self.metrics_scroll, 0))
                .block(
                    Block::default()
                        .borders(Borders::ALL)
                        .border_style(p.border)
                        .title(Span::styled(format!(" {} ", grp.key_text()), p.accent)),
                ),
            area,
        );
    }

    fn render_confirm(&self, f: &mut Frame<'_>, area: Rect, ctx: &ViewCtx<'_>) {
        let p = ctx.palette;
        let Some(labels) = &self.confirm else { return };
        let key: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
        let text = vec![
            Line::from(Span::styled("Delete this push group?", p.text)),
            Line::from(Span::styled(key.join(", "), p.accent)),
            Line::from(""),
            Line::from(vec![
                Span::styled("y", p.error),
                Span::styled(" delete   ", p.dim),
                Span::styled("n/Esc", p.accent),
                Span::styled(" keep", p.dim),
            ]),
        ];
        let w = 60.min(area.width);
        let h = 6.min(area.height);
        let r = Rect {
            x: area.x + (area.width - w) / 2,
            y: area.y + (area.height - h) / 2,
            width: w,
            height: h,
        };
        f.render_widget(Clear, r);
        f.render_widget(
            Paragraph::new(text).wrap(Wrap { trim: false }).block(
                Block::default()
                    .borders(Borders::ALL)
                    .border_style(p.error)
                    .title(" confirm delete "),
            ),
            r,
        );
    }
}

impl View for PushgatewayView {
    fn name(&self) -> &'static str {
        "pushgateway"
    }
    fn aliases(&self) -> &'static [&'static str] {
        &["push", "pg"]
    }
    fn key_hints(&self) -> Vec<(&'static str, &'static str)> {
        vec![
            ("j/k", "move"),
            ("Enter", "metrics"),
            ("d", "delete group"),
            ("r", "refresh"),
            (":stale 2h", "stale age"),
            ("Esc", "close"),
        ]
    }
    fn captures_text(&self) -> bool {
        // The confirmation takes every key: `q` or a digit must not act behind it.
        self.confirm.is_some()
    }
    fn on_key(&mut self, key: KeyEvent, ctx: &mut ViewCtx<'_>) -> Handled {
        if let Some(labels) = self.confirm.clone() {
            match key.code {
                KeyCode::Char('y') | KeyCode::Char('Y') => {
                    self.confirm = None;
                    if let Some(src) = &self.source {
                        let text = labels
                            .iter()
                            .map(|(k, v)| format!("{k}=\"{v}\""))
                            .collect::<Vec<_>>()
                            .join(", ");
                        let fut = src.delete(labels);
                        self.delete_task
                            .start(ctx.runtime, Box::pin(async move { (text, fut.await) }));
                    }
                }
                _ => {
                    self.confirm = None;
                    self.status = Some(("delete cancelled".into(), false));
                }
            }
            return Handled::Consumed;
        }
        let page = self.list_height as isize;
        if let Some(d) = widgets::list_jump(key.code, page, self.visible.len()) {
            self.move_by(d);
            return Handled::Consumed;
        }
        match key.code {
            KeyCode::Down | KeyCode::Char('j') if !self.show_metrics => self.move_by(1),
            KeyCode::Up | KeyCode::Char('k') if !self.show_metrics => self.move_by(-1),
            KeyCode::Char('j') => self.metrics_scroll = self.metrics_scroll.saturating_add(1),
            KeyCode::Char('k') => self.metrics_scroll = self.metrics_scroll.saturating_sub(1),
            KeyCode::Down => self.move_by(1),
            KeyCode::Up => self.move_by(-1),
            KeyCode::Enter | KeyCode::Char('l') | KeyCode::Right => self.show_metrics = true,
            KeyCode::Esc | KeyCode::Char('h') | KeyCode::Left if self.show_metrics => {
                self.show_metrics = false
            }
            KeyCode::Char('d') | KeyCode::Delete => {
                if let Some(g) = self.selected_group() {
                    self.confirm = Some(g.labels.clone());
                }
            }
            KeyCode::Char('r') => self.fetched_at = i64::MIN,
            _ => return Handled::Ignored,
        }
        Handled::Consumed
    }
    fn on_mouse(&mut self, ev: MouseEvent, area: Rect, _ctx: &mut ViewCtx<'_>) -> Handled {
        // A summary line and the column header sit above the list's first row.
        let (rows, len) = (usize::MAX, self.visible.len());
        widgets::select_clicked(&ev, area, 2, rows, self.offset, len, &mut self.selected)
    }
    fn set_filter(&mut self, filter: Option<Filter>) {
        self.filter = filter;
        self.rebuild();
    }
    fn command(
        &mut self,
        name: &str,
        args: &str,
        _ctx: &mut ViewCtx<'_>,
    ) -> Option<Result<(), String>> {
        match name {
            "stale" => Some(
                crate::model::time::parse_duration(args.trim())
                    .map(|ms| self.set_stale_ms(ms))
                    .map_err(|e| format!(":stale {args}: {e} (e.g. :stale 2h)")),
            ),
            _ => None,
        }
    }
    fn tick(&mut self, ctx: &mut ViewCtx<'_>) {
        if let Some(r) = self.task.poll() {
            if r.is_err() {
                self.fetched_at = ctx.now_ms - REFRESH_MS + 1_000;
            }
            self.apply(r);
        }
        if let Some((what, r)) = self.delete_task.poll() {
            self.status = Some(match r {
                Ok(()) => (format!("deleted {what}"), false),
                Err(e) => (format!("delete failed: {e}"), true),
            });
            // Re-read at once: the deleted group must not linger on screen.
            self.fetched_at = i64::MIN;
            self.task.cancel();
        }
        if let Some(src) = &self.source {
            if !self.task.is_busy() && ctx.now_ms.saturating_sub(self.fetched_at) >= REFRESH_MS {
                self.fetched_at = ctx.now_ms;
                self.task.start(ctx.runtime, src.groups());
            }
        }
    }
    fn busy_since(&self) -> Option<Instant> {
        self.delete_task.busy_since().or(if self.loaded {
            None
        } else {
            self.task.busy_since()
        })
    }
    fn cancel(&mut self) {
        if !self.loaded {
            self.task.cancel();
        }
    }
    fn render(&mut self, f: &mut Frame<'_>, area: Rect, ctx: &ViewCtx<'_>) {
        if self.show_metrics {
            let [list, detail] = if area.width >= 140 {
                Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)])
                    .areas(area)
            } else {
                Layout::vertical([Constraint::Percentage(45), Constraint::Percentage(55)])
                    .areas(area)
            };
            self.render_list(f, list, ctx);
            self.render_metrics(f, detail, ctx);
        } else {
            self.render_list(f, area, ctx);
        }
        self.render_confirm(f, area, ctx);
    }
}
