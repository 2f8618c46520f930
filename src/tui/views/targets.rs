//! Targets: every active target grouped by scrape pool with health, last scrape,
//! duration, samples and last error; `u` shows only unhealthy ones, `/` filters; Enter
//! opens the scrape debugger: labels before and after relabeling, the step-by-step
//! relabel trace of the job's `relabel_configs`, and the target's raw exposition.
//!
//! Time-travelled (`:at`), the list is the targets as the TSDB recorded them at the
//! moment ([`Backend::targets_at`]: `up`, `scrape_duration_seconds`,
//! `scrape_samples_scraped`), ages count back from the moment, and a banner says what is
//! rebuilt and what (errors, the scrape debugger) is the present's.
//!
//! Stays fast at 10k targets: the visible row list is rebuilt only when the data, the
//! filter or a toggle changes, and only the rows on screen are drawn.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Instant;

use crossterm::event::{KeyCode, KeyEvent, MouseEvent};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};
use ratatui::Frame;

use crate::tui::backend::{Backend, BackendError, ScrapeDebug, TargetHealth, TargetRow};
use crate::tui::task::Task;
use crate::tui::view::{Filter, Handled, Palette, View, ViewCtx};
use crate::tui::widgets;

const REFRESH_MS: i64 = 5_000;

/// One line of the list.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Row {
    /// Pool header: index of its first target, counts (up, total shown).
    Pool(usize, u64, u64),
    Target(usize),
}

/// What the right/bottom pane shows for the selected target.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Detail {
    None,
    /// Labels, relabel trace.
    Debug,
    /// Raw exposition.
    Exposition,
}

/// The Targets view.
pub struct TargetsView {
    backend: Arc<dyn Backend>,
    rows: Vec<TargetRow>,
    error: Option<String>,
    loaded: bool,
    task: Task<Result<Vec<TargetRow>, BackendError>>,
    fetched_at: i64,
    filter: Option<Filter>,
    unhealthy_only: bool,
    collapsed: BTreeSet<String>,
    visible: Vec<Row>,
    selected: usize,
    offset: usize,
    detail: Detail,
    debug: Option<(String, Result<ScrapeDebug, BackendError>)>,
    debug_task: Task<Result<ScrapeDebug, BackendError>>,
    detail_scroll: u16,
    list_height: usize,
    /// The time-travel moment the rows are for (`None`: the present).
    moment: Option<i64>,
}

impl TargetsView {
    pub fn new(backend: Arc<dyn Backend>) -> TargetsView {
        TargetsView {
            backend,
            rows: Vec::new(),
            error: None,
            loaded: false,
            task: Task::default(),
            fetched_at: i64::MIN,
            filter: None,
            unhealthy_only: false,
            collapsed: BTreeSet::new(),
            visible: Vec::new(),
            selected: 0,
            offset: 0,
            detail: Detail::None,
            debug: None,
            debug_task: Task::default(),
            detail_scroll: 0,
            list_height: 10,
            moment: None,
        }
    }

    /// Follows the frame's time-travel moment: a new moment drops the rows of the old
    /// one (never shown under the wrong time) and fetches again.
    fn follow_moment(&mut self, ctx: &ViewCtx<'_>) {
        let want = ctx.range.end_ms;
        if want == self.moment {
            return;
        }
        self.moment = want;
        self.task.cancel();
        self.loaded = false;
        self.error = None;
        self.rows.clear();
        self.rebuild();
        self.fetched_at = i64::MIN;
    }

    /// Sets the targets directly (snapshot tests, benches).
    pub fn set_targets(&mut self, rows: Vec<TargetRow>, now_ms: i64) {
        self.fetched_at = now_ms;
        self.apply(Ok(rows));
    }

    /// Sets the scrape debugger's answer directly and opens it (snapshot tests).
    pub fn set_debug(&mut self, debug: ScrapeDebug) {
        if let Some(t) = self.selected_target() {
            let url = t.url.clone();
            self.debug = Some((url, Ok(debug)));
            self.detail = Detail::Debug;
        }
    }

    /// Moves the selection to the first target whose URL contains `s` (tests).
    pub fn select_url(&mut self, s: &str) {
        if let Some(i) = self
            .visible
            .iter()
            .position(|r| matches!(r, Row::Target(t) if self.rows[*t].url.contains(s)))
        {
            self.selected = i;
        }
    }

    fn apply(&mut self, r: Result<Vec<TargetRow>, BackendError>) {
        self.loaded = true;
        match r {
            Ok(mut rows) => {
                let sel_url = self.selected_target().map(|t| t.url.clone());
                rows.sort_by(|a, b| {
                    a.pool
                        .cmp(&b.pool)
                        .then(a.health().cmp(&b.health()))
                        .then_with(|| a.url.cmp(&b.url))
                });
                self.rows = rows;
                self.error = None;
                self.rebuild();
                if let Some(u) = sel_url {
                    if let Some(i) = self
                        .visible
                        .iter()
                        .position(|r| matches!(r, Row::Target(t) if self.rows[*t].url == u))
                    {
                        self.selected = i;
                    }
                }
            }
            Err(e) => self.error = Some(e.to_string()),
        }
    }

    /// Recomputes the visible rows from the data, the filter and the toggles.
    fn rebuild(&mut self) {
        self.visible.clear();
        let mut i = 0;
        while i < self.rows.len() {
            let pool = self.rows[i].pool.clone();
            let start = i;
            let header = self.visible.len();
            self.visible.push(Row::Pool(start, 0, 0));
            let (mut up, mut shown) = (0, 0);
            let collapsed = self.collapsed.contains(&pool);
            while i < self.rows.len() && self.rows[i].pool == pool {
                let t = &self.rows[i];
                let keep = (!self.unhealthy_only || t.health() != TargetHealth::Up)
                    && self
                        .filter
                        .as_ref()
                        .is_none_or(|f| f.keeps(&t.filter_text()));
                if keep {
                    shown += 1;
                    if t.health() == TargetHealth::Up {
                        up += 1;
                    }
                    if !collapsed {
                        self.visible.push(Row::Target(i));
                    }
                }
                i += 1;
            }
            if shown == 0 {
                self.visible.truncate(header);
            } else {
                self.visible[header] = Row::Pool(start, up, shown);
            }
        }
        if self.selected >= self.visible.len() {
            self.selected = self.visible.len().saturating_sub(1);
        }
    }

    fn selected_target(&self) -> Option<&TargetRow> {
        match self.visible.get(self.selected)? {
            Row::Target(i) => self.rows.get(*i),
            Row::Pool(..) => None,
        }
    }

    fn move_by(&mut self, d: isize) {
        self.selected = widgets::moved(self.selected, d, self.visible.len());
        self.detail_scroll = 0;
    }

    fn open_debug(&mut self, ctx: &ViewCtx<'_>) {
        // On a pool header, open its first target.
        if matches!(self.visible.get(self.selected), Some(Row::Pool(..)))
            && matches!(self.visible.get(self.selected + 1), Some(Row::Target(_)))
        {
            self.selected += 1;
        }
        if let Some(t) = self.selected_target().cloned() {
            self.detail = Detail::Debug;
            self.detail_scroll = 0;
            if self.debug.as_ref().is_none_or(|(u, _)| *u != t.url) {
                self.debug = None;
                self.debug_task
                    .start(ctx.runtime, self.backend.scrape_debug(t));
            }
        }
    }

    fn render_list(&mut self, f: &mut Frame<'_>, area: Rect, ctx: &ViewCtx<'_>) {
        let p = ctx.palette;
        let g = ctx.glyphs;
        let area = match self.moment {
            Some(t) => {
                let [banner, rest] =
                    Layout::vertical([Constraint::Length(1), Constraint::Min(1)]).areas(area);
                f.render_widget(
                    Paragraph::new(Line::from(vec![
                        Span::styled(
                            format!(
                                " targets at {} from the TSDB",
                                crate::tui::timetravel::format_moment(t)
                            ),
                            p.warn,
                        ),
                        Span::styled(
                            " (up, scrape_duration_seconds, scrape_samples_scraped); errors and the scrape debugger are the present's",
                            p.dim,
                        ),
                    ])),
                    banner,
                );
                rest
            }
            None => area,
        };
        let ref_ms = self.moment.unwrap_or(ctx.now_ms);
        let w = area.width as usize;
        // Column widths: health, endpoint, last scrape, duration, samples, error.
        let (hw, lw, dw, sw) = (7usize, 9usize, 8usize, 8usize);
        let uw = ((w.saturating_sub(hw + lw + dw + sw + 6)) * 55 / 100).max(12);
        let ew = w.saturating_sub(hw + uw + lw + dw + sw + 6);
        let height = area.height.saturating_sub(1) as usize;
        self.list_height = height.max(1);
        if self.selected < self.offset {
            self.offset = self.selected;
        } else if self.selected >= self.offset + height {
            self.offset = self.selected + 1 - height;
        }
        let mut lines = Vec::with_capacity(height + 1);
        lines.push(Line::from(vec![
            Span::raw(" "),
            widgets::cell("HEALTH", hw, p.dim, g),
            widgets::cell("ENDPOINT", uw, p.dim, g),
            widgets::cell("LAST", lw, p.dim, g),
            widgets::cell("DURATION", dw, p.dim, g),
            widgets::cell("SAMPLES", sw, p.dim, g),
            widgets::cell("ERROR", ew, p.dim, g),
        ]));
        for (i, row) in self
            .visible
            .iter()
            .enumerate()
            .skip(self.offset)
            .take(height)
        {
            let sel = i == self.selected;
            let line = match *row {
                Row::Pool(start, up, shown) => {
                    let pool = &self.rows[start].pool;
                    let open = if self.collapsed.contains(pool) {
                        if g == crate::tui::view::Glyphs::Ascii {
                            "+"
                        } else {
                            "▸"
                        }
                    } else if g == crate::tui::view::Glyphs::Ascii {
                        "-"
                    } else {
                        "▾"
                    };
                    let style = if up == shown { p.ok } else { p.error };
                    Line::from(vec![
                        Span::styled(format!("{open} {pool} "), p.accent),
                        Span::styled(format!("({up}/{shown} up)"), style),
                    ])
                }
                Row::Target(t) => {
                    let t = &self.rows[t];
                    let hs = health_style(p, t.health());
                    Line::from(vec![
                        Span::raw(" "),
                        widgets::cell(t.health().as_str(), hw, hs, g),
                        widgets::cell(&t.url, uw, p.text, g),
                        widgets::cell(
                            &t.last_scrape_ms
                                .map(|ms| widgets::ago(ref_ms, Some(ms)))
                                .unwrap_or_else(|| "never".into()),
                            lw,
                            p.dim,
                            g,
                        ),
                        widgets::cell(
                            &if t.last_scrape_ms.is_some() {
                                format!("{:.3}s", t.duration_s)
                            } else {
                                "-".into()
                            },
                            dw,
                            p.text,
                            g,
                        ),
                        widgets::cell(
                            &t.samples
                                .map(|s| s.to_string())
                                .unwrap_or_else(|| "-".into()),
                            sw,
                            p.text,
                            g,
                        ),
                        widgets::cell(&t.last_error, ew, p.error, g),
                    ])
                }
            };
            lines.push(if sel { line.style(p.selection) } else { line });
        }
        if self.visible.is_empty() {
            let msg = if !self.loaded {
                "loading targets…".to_string()
            } else if let (Some(e), Some(_)) = (&self.error, self.moment) {
                e.clone()
            } else if self.rows.is_empty() && self.moment.is_some() {
                "no target had an `up` sample at this moment".into()
            } else if let Some(e) = &self.error {
                e.clone()
            } else if self.rows.is_empty() {
                "no active targets".into()
            } else {
                "no target matches the filter".into()
            };
            lines.push(Line::from(Span::styled(format!(" {msg}"), p.dim)));
        }
        f.render_widget(Paragraph::new(lines), area);
    }

    fn render_detail(&self, f: &mut Frame<'_>, area: Rect, ctx: &ViewCtx<'_>) {
        let p = ctx.palette;
        let Some(t) = self.selected_target() else {
            return;
        };
        let mut lines: Vec<Line> = Vec::new();
        let title = match self.detail {
            Detail::Exposition => " raw exposition (e: labels and relabel trace) ",
            _ => " scrape debugger (e: raw exposition) ",
        };
        match (&self.debug, self.detail) {
            (None, _) => {
                lines.push(Line::from(Span::styled(
                    format!(" fetching {} …", t.url),
                    p.dim,
                )));
            }
            (Some((_, Err(e))), _) => {
                lines.push(Line::from(Span::styled(format!(" {e}"), p.error)));
            }
            (Some((_, Ok(d))), Detail::Exposition) => match &d.exposition {
                Ok(body) => {
                    if self.backend.is_remote() {
                        lines.push(Line::from(Span::styled(
                            "# fetched from this machine, not by the server: its view may differ",
                            p.warn,
                        )));
                    }
                    for l in body.lines() {
                        let style = if l.starts_with('#') { p.dim } else { p.text };
                        lines.push(Line::from(Span::styled(l.to_string(), style)));
                    }
                }
                Err(e) => lines.push(Line::from(Span::styled(e.clone(), p.error))),
            },
            (Some((_, Ok(d))), _) => {
                lines.push(Line::from(vec![
                    Span::styled(" health ", p.dim),
                    Span::styled(t.health().as_str(), health_style(p, t.health())),
                    Span::styled("  interval ", p.dim),
                    Span::styled(t.interval.clone(), p.text),
                    Span::styled("  url ", p.dim),
                    Span::styled(t.url.clone(), p.text),
                ]));
                if !t.last_error.is_empty() {
                    lines.push(Line::from(Span::styled(
                        format!(" last error: {}", t.last_error),
                        p.error,
                    )));
                }
                lines.push(Line::from(Span::styled(" discovered labels", p.accent)));
                lines.push(label_line(&t.discovered, p));
                lines.push(Line::from(Span::styled(
                    " target labels (after relabeling)",
                    p.accent,
                )));
                lines.push(label_line(&t.labels, p));
                lines.push(Line::from(Span::styled(" relabel trace", p.accent)));
                match &d.trace {
                    Err(e) => lines.push(Line::from(Span::styled(format!("  {e}"), p.error))),
                    Ok(steps) => {
                        for s in steps {
                            let mut spans = vec![
                                Span::styled(format!("  {:<14}", s.rule), p.info),
                                Span::styled(s.detail.clone(), p.dim),
                            ];
                            match &s.after {
                                None => spans.push(Span::styled("  => target dropped", p.error)),
                                Some(_) if s.changed.is_empty() && s.rule != "discovered" => {
                                    spans.push(Span::styled("  (no change)", p.dim))
                                }
                                Some(after) if s.rule != "discovered" => {
                                    let ch: Vec<String> = s
                                        .changed
                                        .iter()
                                        .map(|n| match after.iter().find(|(k, _)| k == n) {
                                            Some((k, v)) => format!("{k}={v:?}"),
                                            None => format!("-{n}"),
                                        })
                                        .collect();
                                    spans
                                        .push(Span::styled(format!("  => {}", ch.join(" ")), p.ok));
                                }
                                _ => {}
                            }
                            lines.push(Line::from(spans));
                        }
                    }
                }
            }
        }
        f.render_widget(
            Paragraph::new(lines)
                .scroll((self.detail_scroll, 0))
                .wrap(ratatui::widgets::Wrap { trim: false })
                .block(
                    Block::default()
                        .borders(Borders::TOP)
                        .border_style(p.border)
                        .title(Span::styled(title, p.accent)),
                ),
            area,
        );
    }
}

fn label_line(l: &[(String, String)], p: &Palette) -> Line<'static> {
    let mut spans = vec![Span::raw("  ")];
    for (k, v) in l {
        spans.push(Span::styled(k.clone(), p.syntax.label));
        spans.push(Span::styled("=", p.dim));
        spans.push(Span::styled(format!("{v:?} "), p.syntax.string));
    }
    Line::from(spans)
}

fn health_style(p: &Palette, h: TargetHealth) -> Style {
    match h {
        TargetHealth::Up => p.ok,
        TargetHealth::Down => p.error,
        TargetHealth::Unknown => p.warn,
    }
}

impl View for TargetsView {
    fn name(&self) -> &'static str {
        "targets"
    }
    fn aliases(&self) -> &'static [&'static str] {
        &["t", "target"]
    }
    fn key_hints(&self) -> Vec<(&'static str, &'static str)> {
        vec![
            ("j/k", "move"),
            ("Enter", "scrape debugger"),
            ("u", "unhealthy only"),
            ("e", "raw exposition"),
            ("Space", "fold pool"),
            ("g/G", "top/bottom"),
            ("PgUp/PgDn", "page"),
            ("r", "refresh"),
            ("Esc", "close debugger"),
        ]
    }
    fn on_key(&mut self, key: KeyEvent, ctx: &mut ViewCtx<'_>) -> Handled {
        let page = self.list_height as isize;
        if let Some(d) = widgets::list_jump(key.code, page, self.visible.len()) {
            self.move_by(d);
            return Handled::Consumed;
        }
        match key.code {
            KeyCode::Down | KeyCode::Char('j') => {
                if self.detail != Detail::None && key.code == KeyCode::Char('j') {
                    self.detail_scroll = self.detail_scroll.saturating_add(1);
                } else {
                    self.move_by(1);
                    if self.detail != Detail::None {
                        self.open_debug(ctx);
                    }
                }
            }
            KeyCode::Up | KeyCode::Char('k') => {
                if self.detail != Detail::None && key.code == KeyCode::Char('k') {
                    self.detail_scroll = self.detail_scroll.saturating_sub(1);
                } else {
                    self.move_by(-1);
                    if self.detail != Detail::None {
                        self.open_debug(ctx);
                    }
                }
            }
            KeyCode::Char('u') => {
                self.unhealthy_only = !self.unhealthy_only;
                self.rebuild();
            }
            KeyCode::Char('r') => self.fetched_at = i64::MIN,
            KeyCode::Char(' ') => {
                let pool = match self.visible.get(self.selected) {
                    Some(Row::Pool(i, ..)) | Some(Row::Target(i)) => self.rows[*i].pool.clone(),
                    None => return Handled::Consumed,
                };
                if !self.collapsed.remove(&pool) {
                    self.collapsed.insert(pool.clone());
                }
                self.rebuild();
                if let Some(i) = self
                    .visible
                    .iter()
                    .position(|r| matches!(r, Row::Pool(s, ..) if self.rows[*s].pool == pool))
                {
                    self.selected = i;
                }
            }
            KeyCode::Enter | KeyCode::Char('l') | KeyCode::Right => self.open_debug(ctx),
            KeyCode::Char('e') => {
                if self.detail == Detail::None {
                    self.open_debug(ctx);
                }
                self.detail = if self.detail == Detail::Exposition {
                    Detail::Debug
                } else {
                    Detail::Exposition
                };
                self.detail_scroll = 0;
            }
            KeyCode::Esc | KeyCode::Char('h') | KeyCode::Left if self.detail != Detail::None => {
                self.detail = Detail::None;
                self.debug_task.cancel();
            }
            _ => return Handled::Ignored,
        }
        Handled::Consumed
    }
    fn on_mouse(&mut self, ev: MouseEvent, area: Rect, _ctx: &mut ViewCtx<'_>) -> Handled {
        // The list's column header sits above its first row.
        let (rows, len) = (self.list_height, self.visible.len());
        widgets::select_clicked(&ev, area, 1, rows, self.offset, len, &mut self.selected)
    }
    fn set_filter(&mut self, filter: Option<Filter>) {
        self.filter = filter;
        self.rebuild();
    }
    fn command(
        &mut self,
        name: &str,
        _args: &str,
        _ctx: &mut ViewCtx<'_>,
    ) -> Option<Result<(), String>> {
        match name {
            "unhealthy" => {
                self.unhealthy_only = !self.unhealthy_only;
                self.rebuild();
                Some(Ok(()))
            }
            _ => None,
        }
    }
    fn tick(&mut self, ctx: &mut ViewCtx<'_>) {
        self.follow_moment(ctx);
        if let Some(r) = self.task.poll() {
            if r.is_err() && self.moment.is_none() {
                self.fetched_at = ctx.now_ms - REFRESH_MS + 1_000;
            }
            self.apply(r);
        }
        if let Some(r) = self.debug_task.poll() {
            let url = self
                .selected_target()
                .map(|t| t.url.clone())
                .unwrap_or_default();
            self.debug = Some((url, r));
        }
        if let Some(t) = self.moment {
            // A past moment does not change: fetch once (again on `r`).
            if self.fetched_at == i64::MIN && !self.task.is_busy() {
                self.fetched_at = ctx.now_ms;
                self.task.start(ctx.runtime, self.backend.targets_at(t));
            }
            return;
        }
        if !self.task.is_busy() && ctx.now_ms.saturating_sub(self.fetched_at) >= REFRESH_MS {
            self.fetched_at = ctx.now_ms;
            self.task.start(ctx.runtime, self.backend.targets());
        }
    }
    fn busy_since(&self) -> Option<Instant> {
        self.debug_task.busy_since().or(if self.loaded {
            None
        } else {
            self.task.busy_since()
        })
    }
    fn cancel(&mut self) {
        self.debug_task.cancel();
        if !self.loaded {
            self.task.cancel();
        }
    }
    fn render(&mut self, f: &mut Frame<'_>, area: Rect, ctx: &ViewCtx<'_>) {
        if self.detail == Detail::None {
            self.render_list(f, area, ctx);
            return;
        }
        let [list, detail] = if area.width >= 160 {
            Layout::horizontal([Constraint::Percentage(45), Constraint::Percentage(55)]).areas(area)
        } else {
            Layout::vertical([Constraint::Percentage(35), Constraint::Percentage(65)]).areas(area)
        };
        self.render_list(f, list, ctx);
        self.render_detail(f, detail, ctx);
    }
}
