//! Config: the loaded files and flags, the configuration in force (rendered from the
//! applied values, secrets as `<secret>`), and `R` to reload it with the result shown.

use std::sync::Arc;
use std::time::Instant;

use crossterm::event::{KeyCode, KeyEvent};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};
use ratatui::Frame;

use crate::tui::backend::{Backend, BackendError, ConfigInfo};
use crate::tui::feed::{Feed, Severity};
use crate::tui::task::Task;
use crate::tui::view::{Filter, Handled, View, ViewCtx};
use crate::tui::widgets;

/// The Config view.
pub struct ConfigView {
    backend: Arc<dyn Backend>,
    feed: Arc<Feed>,
    info: Option<Result<ConfigInfo, BackendError>>,
    task: Task<Result<ConfigInfo, BackendError>>,
    reload_task: Task<Result<(), BackendError>>,
    /// The last reload from this view: when it finished and its result.
    reload_result: Option<(i64, Result<(), String>)>,
    fetched: bool,
    scroll: u16,
    show_flags: bool,
    filter: Option<Filter>,
    retry_at: i64,
}

impl ConfigView {
    pub fn new(backend: Arc<dyn Backend>, feed: Arc<Feed>) -> ConfigView {
        ConfigView {
            backend,
            feed,
            info: None,
            task: Task::default(),
            reload_task: Task::default(),
            reload_result: None,
            fetched: false,
            scroll: 0,
            show_flags: false,
            filter: None,
            retry_at: i64::MAX,
        }
    }

    /// Sets the data directly (snapshot tests).
    pub fn set_info(&mut self, info: ConfigInfo) {
        self.info = Some(Ok(info));
        self.fetched = true;
    }

    fn start_reload(&mut self, ctx: &ViewCtx<'_>) {
        self.reload_task.start(ctx.runtime, self.backend.reload());
    }
}

impl View for ConfigView {
    fn name(&self) -> &'static str {
        "config"
    }
    fn aliases(&self) -> &'static [&'static str] {
        &["c", "flags"]
    }
    fn key_hints(&self) -> Vec<(&'static str, &'static str)> {
        vec![
            ("R", "reload configuration"),
            ("f", "flags / configuration"),
            ("j/k", "scroll"),
            ("r", "refresh"),
        ]
    }
    fn on_key(&mut self, key: KeyEvent, ctx: &mut ViewCtx<'_>) -> Handled {
        match key.code {
            KeyCode::Char('R') => self.start_reload(ctx),
            KeyCode::Char('f') => {
                self.show_flags = !self.show_flags;
                self.scroll = 0;
            }
            KeyCode::Char('r') => self.fetched = false,
            KeyCode::Down | KeyCode::Char('j') => self.scroll = self.scroll.saturating_add(1),
            KeyCode::Up | KeyCode::Char('k') => self.scroll = self.scroll.saturating_sub(1),
            KeyCode::PageDown => self.scroll = self.scroll.saturating_add(20),
            KeyCode::PageUp => self.scroll = self.scroll.saturating_sub(20),
            KeyCode::Char('g') | KeyCode::Home => self.scroll = 0,
            _ => return Handled::Ignored,
        }
        Handled::Consumed
    }
    fn command(
        &mut self,
        name: &str,
        _args: &str,
        ctx: &mut ViewCtx<'_>,
    ) -> Option<Result<(), String>> {
        (name == "reload").then(|| {
            self.start_reload(ctx);
            Ok(())
        })
    }
    fn set_filter(&mut self, filter: Option<Filter>) {
        self.filter = filter;
        self.scroll = 0;
    }
    fn tick(&mut self, ctx: &mut ViewCtx<'_>) {
        if let Some(r) = self.task.poll() {
            if r.is_err() {
                // Retried on a later tick (the engine may still be opening).
                self.retry_at = ctx.now_ms + 1_000;
            }
            self.info = Some(r);
        }
        if matches!(self.info, Some(Err(_))) && ctx.now_ms >= self.retry_at {
            self.fetched = false;
            self.retry_at = i64::MAX;
        }
        if let Some(r) = self.reload_task.poll() {
            let r = r.map_err(|e| e.to_string());
            self.feed.with(|s| match &r {
                Ok(()) => s.event(ctx.now_ms, Severity::Info, "configuration reloaded".into()),
                Err(e) => s.event(ctx.now_ms, Severity::Error, e.clone()),
            });
            self.reload_result = Some((ctx.now_ms, r));
            self.fetched = false;
        }
        if !self.fetched && !self.task.is_busy() {
            self.fetched = true;
            self.task.start(ctx.runtime, self.backend.config());
        }
    }
    fn busy_since(&self) -> Option<Instant> {
        self.reload_task.busy_since().or(if self.info.is_none() {
            self.task.busy_since()
        } else {
            None
        })
    }
    fn cancel(&mut self) {
        // A reload already sent cannot be taken back; only stop waiting for it.
        self.reload_task.cancel();
    }
    fn render(&mut self, f: &mut Frame<'_>, area: Rect, ctx: &ViewCtx<'_>) {
        let p = ctx.palette;
        let area = crate::tui::timetravel::present_only_notice(f, area, ctx);
        let info = match &self.info {
            None => {
                f.render_widget(
                    Paragraph::new(Span::styled(" loading configuration…", p.dim)),
                    area,
                );
                return;
            }
            Some(Err(e)) => {
                f.render_widget(Paragraph::new(Span::styled(format!(" {e}"), p.error)), area);
                return;
            }
            Some(Ok(i)) => i,
        };
        let top_h = (info.files.len() as u16 + 2).min(area.height / 3).max(3);
        let [top, body] =
            Layout::vertical([Constraint::Length(top_h), Constraint::Min(1)]).areas(area);
        let mut tl = Vec::new();
        for file in &info.files {
            tl.push(Line::from(vec![
                Span::styled(" file  ", p.dim),
                Span::styled(file.clone(), p.text),
            ]));
        }
        let mut rl = vec![Span::styled(" reload ", p.dim)];
        match (&self.reload_result, &info.last_reload) {
            (Some((at, Ok(()))), _) => rl.push(Span::styled(
                format!("ok ({})", widgets::ago(ctx.now_ms, Some(*at))),
                p.ok,
            )),
            (Some((_, Err(e))), _) => rl.push(Span::styled(format!("FAILED: {e}"), p.error)),
            (None, Some(r)) if r.ok => rl.push(Span::styled(
                format!("ok, loaded {}", widgets::ago(ctx.now_ms, Some(r.at_ms))),
                p.ok,
            )),
            (None, Some(_)) => rl.push(Span::styled(
                "the last reload failed; the previous configuration is running",
                p.error,
            )),
            (None, None) => rl.push(Span::styled("-", p.dim)),
        }
        rl.push(Span::styled("   R reloads", p.dim));
        tl.push(Line::from(rl));
        f.render_widget(Paragraph::new(tl), top);
        let keep = |s: &str| self.filter.as_ref().is_none_or(|f| f.keeps(s));
        let (title, lines): (&str, Vec<Line>) = if self.show_flags {
            let w = info.flags.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
            (
                " flags (f: configuration) ",
                info.flags
                    .iter()
                    .filter(|(k, v)| keep(&format!("{k} {v}")))
                    .map(|(k, v)| {
                        Line::from(vec![
                            Span::styled(format!(" --{k:<w$} "), p.syntax.label),
                            Span::styled(v.clone(), p.text),
                        ])
                    })
                    .collect(),
            )
        } else {
            (
                " configuration in force (f: flags) ",
                info.yaml
                    .lines()
                    .filter(|l| keep(l))
                    .map(|l| yaml_line(l, p))
                    .collect(),
            )
        };
        f.render_widget(
            Paragraph::new(lines).scroll((self.scroll, 0)).block(
                Block::default()
                    .borders(Borders::TOP)
                    .border_style(p.border)
                    .title(Span::styled(title, p.accent)),
            ),
            body,
        );
    }
}

/// A YAML line with keys, comments and `<secret>` highlighted.
fn yaml_line(l: &str, p: &crate::tui::view::Palette) -> Line<'static> {
    let indent = l.len() - l.trim_start().len();
    let rest = &l[indent..];
    if rest.starts_with('#') {
        return Line::from(Span::styled(format!(" {l}"), p.syntax.comment));
    }
    match rest.split_once(':') {
        Some((k, v)) if !k.contains(' ') || k.starts_with("- ") => {
            let vstyle = if v.trim() == "<secret>" {
                p.warn
            } else {
                p.syntax.string
            };
            Line::from(vec![
                Span::raw(format!(" {}", &l[..indent])),
                Span::styled(format!("{k}:"), p.syntax.label),
                Span::styled(v.to_string(), vstyle),
            ])
        }
        _ => Line::from(Span::styled(format!(" {l}"), p.text)),
    }
}
