//! Silences: every silence with its state, when it ends (or ended), who created it and
//! why, how many current alerts it catches (counted here from the alerts, so it works
//! against a real Alertmanager too) and its matchers; silences that match nothing and
//! active ones ending within the hour are flagged. `n` creates one, `e` edits (expires
//! it and creates the edited one, as Alertmanager's UI does), `+` extends by an hour
//! (in place), `x` expires after a confirmation; `/` filters.

use std::sync::Arc;
use std::time::Instant;

use crossterm::event::{KeyCode, KeyEvent};
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use super::alert_forms::{labels_matchers, FormOutcome, PreviewAlert, SilenceEditor};
use crate::tui::backend::alerts::{AlertSource, AlertsSnapshot, SilenceDraft, SilenceInfo};
use crate::tui::backend::{Backend, BackendError};
use crate::tui::task::Task;
use crate::tui::view::{Filter, Handled, View, ViewCtx};
use crate::tui::widgets;

const REFRESH_MS: i64 = 3_000;
/// Active silences ending sooner than this are flagged.
const ENDS_SOON_MS: i64 = 3_600_000;

/// A silence with what the list shows about it.
#[derive(Clone, Debug, PartialEq)]
struct Item {
    s: SilenceInfo,
    matched: usize,
    text: String,
}

/// A change the view is waiting for.
enum Pending {
    Expire(String),
}

/// The Silences view.
pub struct SilencesView {
    source: Option<Arc<dyn AlertSource>>,
    snap: AlertsSnapshot,
    items: Vec<Item>,
    visible: Vec<usize>,
    error: Option<String>,
    loaded: bool,
    task: Task<Result<AlertsSnapshot, BackendError>>,
    fetched_at: i64,
    filter: Option<Filter>,
    hide_expired: bool,
    selected: usize,
    offset: usize,
    list_height: usize,
    editor: Option<SilenceEditor>,
    confirm: Option<Pending>,
    action: Task<Result<String, BackendError>>,
    message: Option<(String, bool)>,
    /// Who new silences name as creator by default ($USER).
    user: String,
}

impl SilencesView {
    pub fn new(backend: &Arc<dyn Backend>) -> SilencesView {
        SilencesView::with_source(backend.alerts())
    }

    pub fn with_source(source: Option<Arc<dyn AlertSource>>) -> SilencesView {
        SilencesView {
            source,
            snap: AlertsSnapshot::default(),
            items: Vec::new(),
            visible: Vec::new(),
            error: None,
            loaded: false,
            task: Task::default(),
            fetched_at: i64::MIN,
            filter: None,
            hide_expired: false,
            selected: 0,
            offset: 0,
            list_height: 10,
            editor: None,
            confirm: None,
            action: Task::default(),
            message: None,
            user: super::alert_forms::default_user(),
        }
    }

    /// Sets who new silences default to (tests; normally $USER).
    pub fn set_user(&mut self, user: &str) {
        self.user = user.to_string();
    }

    /// Sets the data directly (snapshot tests).
    pub fn set_snapshot(&mut self, snap: AlertsSnapshot, now_ms: i64) {
        self.fetched_at = now_ms;
        self.apply(Ok(snap));
    }

    /// Selects the first silence whose comment contains `s` (tests).
    pub fn select_comment(&mut self, s: &str) {
        if let Some(i) = self
            .visible
            .iter()
            .position(|&i| self.items[i].s.comment.contains(s))
        {
            self.selected = i;
        }
    }

    fn apply(&mut self, r: Result<AlertsSnapshot, BackendError>) {
        self.loaded = true;
        match r {
            Ok(snap) => {
                let sel = self.selected_item().map(|i| i.s.id.clone());
                let alerts = snap.unique_alerts();
                let rank = |s: &str| match s {
                    "active" => 0,
                    "pending" => 1,
                    _ => 2,
                };
                let mut items: Vec<Item> = snap
                    .silences
                    .iter()
                    .map(|s| {
                        let matched = if s.state == "expired" {
                            0
                        } else {
                            alerts.values().filter(|a| s.selects(&a.labels)).count()
                        };
                        let text = format!(
                            "{} {} {} {} {}",
                            s.state,
                            s.created_by,
                            s.comment,
                            s.matchers_text(),
                            s.id
                        );
                        Item {
                            s: s.clone(),
                            matched,
                            text,
                        }
                    })
                    .collect();
                items.sort_by(|a, b| {
                    rank(&a.s.state)
                        .cmp(&rank(&b.s.state))
                        .then_with(|| match a.s.state.as_str() {
                            "expired" => b.s.ends_at_ms.cmp(&a.s.ends_at_ms),
                            "pending" => a.s.starts_at_ms.cmp(&b.s.starts_at_ms),
                            _ => a.s.ends_at_ms.cmp(&b.s.ends_at_ms),
                        })
                });
                self.items = items;
                self.snap = snap;
                self.error = self.snap.alertmanager_error.clone();
                self.rebuild();
                if let Some(id) = sel {
                    if let Some(i) = self.visible.iter().position(|&i| self.items[i].s.id == id) {
                        self.selected = i;
                    }
                }
                self.refresh_preview();
            }
            Err(e) => self.error = Some(e.to_string()),
        }
    }

    fn rebuild(&mut self) {
        self.visible = (0..self.items.len())
            .filter(|&i| {
                let it = &self.items[i];
                !(self.hide_expired && it.s.state == "expired")
                    && self.filter.as_ref().is_none_or(|f| f.keeps(&it.text))
            })
            .collect();
        if self.selected >= self.visible.len() {
            self.selected = self.visible.len().saturating_sub(1);
        }
    }

    fn selected_item(&self) -> Option<&Item> {
        self.visible
            .get(self.selected)
            .and_then(|&i| self.items.get(i))
    }

    fn refresh_preview(&mut self) {
        let Some(ed) = self.editor.as_mut() else {
            return;
        };
        let alerts = self.snap.unique_alerts();
        let texts: Vec<(&crate::tui::backend::alerts::Labels, String)> = alerts
            .values()
            .map(|a| (&a.labels, labels_matchers(&a.labels)))
            .collect();
        ed.update_preview(
            texts
                .iter()
                .map(|(l, t)| PreviewAlert { labels: l, text: t }),
        );
    }

    fn move_by(&mut self, d: isize) {
        self.selected = widgets::moved(self.selected, d, self.visible.len());
    }

    fn flags(&self, it: &Item, now_ms: i64) -> String {
        let mut f = Vec::new();
        if it.s.state != "expired" && it.matched == 0 {
            f.push("matches nothing");
        }
        if it.s.state == "active" && it.s.ends_at_ms - now_ms <= ENDS_SOON_MS {
            f.push("ends soon");
        }
        f.join(", ")
    }
}

impl View for SilencesView {
    fn name(&self) -> &'static str {
        "silences"
    }

    fn key_hints(&self) -> Vec<(&'static str, &'static str)> {
        vec![
            ("n", "new"),
            ("e", "edit"),
            ("+", "extend 1h"),
            ("x", "expire"),
            ("H", "hide expired"),
            ("r", "refresh"),
            ("j/k", "move"),
        ]
    }

    fn captures_text(&self) -> bool {
        self.editor.is_some() || self.confirm.is_some()
    }

    fn on_key(&mut self, key: KeyEvent, ctx: &mut ViewCtx<'_>) -> Handled {
        if let Some(ed) = self.editor.as_mut() {
            let (out, changed) = ed.on_key(key, ctx.now_ms);
            match out {
                FormOutcome::Open => {
                    if changed {
                        self.refresh_preview();
                    }
                }
                FormOutcome::Cancelled => self.editor = None,
                FormOutcome::Submit(d) => {
                    let replaces = ed.replaces.clone();
                    self.editor = None;
                    if let Some(src) = self.source.clone() {
                        let fut: crate::web::BoxFuture<Result<String, BackendError>> =
                            Box::pin(async move {
                                if let Some(old) = replaces {
                                    src.expire_silence(old).await?;
                                }
                                src.create_silence(d).await
                            });
                        self.action.start(ctx.runtime, fut);
                        self.message = Some(("saving the silence…".into(), false));
                    }
                }
            }
            return Handled::Consumed;
        }
        if let Some(Pending::Expire(id)) = self.confirm.take() {
            if key.code == KeyCode::Char('y') {
                if let Some(src) = &self.source {
                    let f = src.expire_silence(id.clone());
                    self.action
                        .start(ctx.runtime, Box::pin(async move { f.await.map(|()| id) }));
                    self.message = Some(("expiring…".into(), false));
                }
            } else {
                self.message = Some(("not expired".into(), false));
            }
            return Handled::Consumed;
        }
        let page = self.list_height.max(1) as isize;
        if let Some(d) = widgets::list_motion(key.code, page, self.visible.len()) {
            self.move_by(d);
            return Handled::Consumed;
        }
        match key.code {
            KeyCode::Char('r') => self.fetched_at = i64::MIN,
            KeyCode::Char('H') => {
                self.hide_expired = !self.hide_expired;
                self.rebuild();
            }
            KeyCode::Char('n') if self.source.is_some() => {
                let mut ed = SilenceEditor::new(String::new(), "2h", None);
                ed.created_by = self.user.clone();
                self.editor = Some(ed);
                self.refresh_preview();
            }
            KeyCode::Char('e') => {
                if let Some(it) = self.selected_item() {
                    let left = (it.s.ends_at_ms - ctx.now_ms).max(60_000);
                    let dur = crate::model::time::format_duration(left - left % 60_000);
                    let mut ed = SilenceEditor::new(
                        it.s.matchers_text(),
                        &dur,
                        (it.s.state != "expired").then(|| it.s.id.clone()),
                    );
                    ed.comment = it.s.comment.clone();
                    ed.created_by = it.s.created_by.clone();
                    self.editor = Some(ed);
                    self.refresh_preview();
                }
            }
            KeyCode::Char('+') => {
                if let (Some(it), Some(src)) = (self.selected_item(), &self.source) {
                    if it.s.state == "expired" {
                        self.message = Some((
                            "an expired silence cannot be extended; e creates a new one from it"
                                .into(),
                            true,
                        ));
                    } else {
                        let d = SilenceDraft {
                            id: Some(it.s.id.clone()),
                            matchers: it.s.matchers.clone(),
                            starts_at_ms: it.s.starts_at_ms,
                            ends_at_ms: it.s.ends_at_ms + 3_600_000,
                            created_by: it.s.created_by.clone(),
                            comment: it.s.comment.clone(),
                        };
                        self.action.start(ctx.runtime, src.create_silence(d));
                        self.message = Some(("extending by 1h…".into(), false));
                    }
                }
            }
            KeyCode::Char('x') => {
                if let Some(it) = self.selected_item() {
                    if it.s.state == "expired" {
                        self.message = Some(("already expired".into(), true));
                    } else {
                        self.confirm = Some(Pending::Expire(it.s.id.clone()));
                    }
                }
            }
            KeyCode::Esc if self.message.is_some() => self.message = None,
            _ => return Handled::Ignored,
        }
        Handled::Consumed
    }

    fn set_filter(&mut self, filter: Option<Filter>) {
        self.filter = filter;
        self.rebuild();
    }

    fn tick(&mut self, ctx: &mut ViewCtx<'_>) {
        if let Some(r) = self.task.poll() {
            if r.is_err() {
                self.fetched_at = ctx.now_ms - REFRESH_MS + 1_000;
            }
            self.apply(r);
        }
        if let Some(r) = self.action.poll() {
            self.message = Some(match r {
                Ok(id) => (format!("done: silence {id}"), false),
                Err(e) => (e.to_string(), true),
            });
            self.fetched_at = i64::MIN;
        }
        if let Some(src) = &self.source {
            if !self.task.is_busy() && ctx.now_ms.saturating_sub(self.fetched_at) >= REFRESH_MS {
                self.fetched_at = ctx.now_ms;
                self.task.start(ctx.runtime, src.snapshot());
            }
        } else if !self.loaded {
            self.loaded = true;
            self.error = Some("this backend has no alerting side".into());
        }
    }

    fn render(&mut self, f: &mut Frame<'_>, area: Rect, ctx: &ViewCtx<'_>) {
        let p = ctx.palette;
        let g = ctx.glyphs;
        let now = ctx.now_ms;
        let w = area.width as usize;
        let mut lines = Vec::new();
        let active = self.items.iter().filter(|i| i.s.state == "active").count();
        let pending = self.items.iter().filter(|i| i.s.state == "pending").count();
        let nothing = self
            .items
            .iter()
            .filter(|i| i.s.state != "expired" && i.matched == 0)
            .count();
        lines.push(Line::from(vec![
            Span::styled(format!(" {active} active · {pending} pending"), p.text),
            Span::styled(
                format!(" · {nothing} matching nothing"),
                if nothing > 0 { p.warn } else { p.dim },
            ),
            Span::styled(
                format!(" · {} expired", self.items.len() - active - pending),
                p.dim,
            ),
        ]));
        if let Some(e) = &self.error {
            lines.push(Line::from(Span::styled(format!(" {e}"), p.error)));
        }
        if self.confirm.is_some() {
            lines.push(Line::from(Span::styled(
                " Expire the selected silence? y expires, any other key keeps it",
                p.warn,
            )));
        } else if let Some((m, err)) = &self.message {
            lines.push(Line::from(Span::styled(
                format!(" {m}"),
                if *err { p.error } else { p.info },
            )));
        }
        let fw = if w >= 120 { 26usize } else { 16 };
        let (stw, ew, cw, mw) = (8usize, 12usize, 11usize, 7usize);
        let rest = w.saturating_sub(stw + ew + cw + mw + fw + 8);
        let mtw = rest * 55 / 100;
        let cmw = rest.saturating_sub(mtw);
        lines.push(Line::from(vec![
            Span::raw("  "),
            widgets::cell("STATE", stw, p.dim, g),
            widgets::cell("ENDS", ew, p.dim, g),
            widgets::cell("CREATED BY", cw, p.dim, g),
            widgets::cell("ALERTS", mw, p.dim, g),
            widgets::cell("MATCHERS", mtw, p.dim, g),
            widgets::cell("COMMENT", cmw, p.dim, g),
            widgets::cell("FLAGS", fw, p.dim, g),
        ]));
        let height = (area.height as usize).saturating_sub(lines.len());
        self.list_height = height.max(1);
        if self.selected < self.offset {
            self.offset = self.selected;
        } else if self.selected >= self.offset + height {
            self.offset = self.selected + 1 - height;
        }
        if self.visible.is_empty() && self.loaded {
            lines.push(Line::from(Span::styled("  no silences", p.dim)));
        }
        for (row, &i) in self
            .visible
            .iter()
            .enumerate()
            .skip(self.offset)
            .take(height)
        {
            let it = &self.items[i];
            let sel = row == self.selected;
            let st = match it.s.state.as_str() {
                "active" => p.ok,
                "pending" => p.info,
                _ => p.dim,
            };
            let ends = match it.s.state.as_str() {
                "expired" => format!("{} ago", widgets::duration(now - it.s.ends_at_ms)),
                "pending" => format!("starts {}", widgets::duration(it.s.starts_at_ms - now)),
                _ => format!("in {}", widgets::duration(it.s.ends_at_ms - now)),
            };
            let flags = self.flags(it, now);
            let line = Line::from(vec![
                Span::styled(if sel { "▸ " } else { "  " }, p.accent),
                widgets::cell(&it.s.state, stw, st, g),
                widgets::cell(&ends, ew, p.text, g),
                widgets::cell(&it.s.created_by, cw, p.text, g),
                widgets::cell(
                    &if it.s.state == "expired" {
                        "-".to_string()
                    } else {
                        it.matched.to_string()
                    },
                    mw,
                    p.text,
                    g,
                ),
                widgets::cell(&it.s.matchers_text(), mtw, p.accent, g),
                widgets::cell(&it.s.comment, cmw, p.text, g),
                widgets::cell(&flags, fw, p.warn, g),
            ]);
            lines.push(if sel { line.style(p.selection) } else { line });
        }
        f.render_widget(Paragraph::new(lines), area);
        if let Some(ed) = &self.editor {
            ed.render(f, area, p, g, now);
        }
    }

    fn busy_since(&self) -> Option<Instant> {
        self.action.busy_since().or(if self.loaded {
            None
        } else {
            self.task.busy_since()
        })
    }

    fn cancel(&mut self) {
        self.action.cancel();
        if !self.loaded {
            self.task.cancel();
        }
    }
}
