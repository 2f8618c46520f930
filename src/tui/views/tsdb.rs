//! TSDB status: head stats, blocks, WAL, compactions (the last three local only), and the
//! cardinality top lists, drillable metric -> label -> values (Enter goes down, Esc up).

use std::sync::Arc;
use std::time::Instant;

use crossterm::event::{KeyCode, KeyEvent};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};
use ratatui::Frame;

use crate::tui::backend::{Backend, BackendError, Breakdown, TsdbInfo};
use crate::tui::task::Task;
use crate::tui::view::{Filter, Handled, View, ViewCtx};
use crate::tui::widgets;

const REFRESH_MS: i64 = 15_000;
const TOP: usize = 50;

/// Which top list the right pane shows at the top level.
const LISTS: [&str; 4] = [
    "series by metric",
    "values by label",
    "series by label pair",
    "bytes by label",
];

/// Where in the drill-down the right pane is.
#[derive(Clone, Debug, PartialEq)]
enum Level {
    Top,
    /// A metric's labels.
    Labels(String),
    /// A metric's label's values.
    Values(String, String),
}

/// The TSDB status view.
pub struct TsdbView {
    backend: Arc<dyn Backend>,
    info: Option<Result<TsdbInfo, BackendError>>,
    task: Task<Result<TsdbInfo, BackendError>>,
    fetched_at: i64,
    list: usize,
    level: Level,
    breakdown: Option<Result<Breakdown, BackendError>>,
    breakdown_task: Task<Result<Breakdown, BackendError>>,
    selected: usize,
    /// Selection to restore when going back up.
    parents: Vec<usize>,
    filter: Option<Filter>,
}

impl TsdbView {
    pub fn new(backend: Arc<dyn Backend>) -> TsdbView {
        TsdbView {
            backend,
            info: None,
            task: Task::default(),
            fetched_at: i64::MIN,
            list: 0,
            level: Level::Top,
            breakdown: None,
            breakdown_task: Task::default(),
            selected: 0,
            parents: Vec::new(),
            filter: None,
        }
    }

    /// Sets the data directly (snapshot tests).
    pub fn set_info(&mut self, info: TsdbInfo, now_ms: i64) {
        self.info = Some(Ok(info));
        self.fetched_at = now_ms;
    }

    /// Drills into `metric` with a given breakdown (snapshot tests).
    pub fn set_breakdown(&mut self, b: Breakdown) {
        self.level = Level::Labels(b.metric.clone());
        self.breakdown = Some(Ok(b));
        self.selected = 0;
    }

    /// The rows of the right pane at the current level: (name, count).
    fn rows(&self) -> Vec<(String, u64)> {
        let keep = |s: &str| self.filter.as_ref().is_none_or(|f| f.keeps(s));
        let rows: Vec<(String, u64)> = match &self.level {
            Level::Top => match &self.info {
                Some(Ok(i)) => match self.list {
                    0 => i.series_by_metric.clone(),
                    1 => i.values_by_label.clone(),
                    2 => i.series_by_pair.clone(),
                    _ => i.memory_by_label.clone(),
                },
                _ => Vec::new(),
            },
            Level::Labels(_) => match &self.breakdown {
                Some(Ok(b)) => b
                    .labels
                    .iter()
                    .map(|(k, vs)| (k.clone(), vs.len() as u64))
                    .collect(),
                _ => Vec::new(),
            },
            Level::Values(_, label) => match &self.breakdown {
                Some(Ok(b)) => b
                    .labels
                    .iter()
                    .find(|(k, _)| k == label)
                    .map(|(_, vs)| vs.clone())
                    .unwrap_or_default(),
                _ => Vec::new(),
            },
        };
        rows.into_iter().filter(|(n, _)| keep(n)).collect()
    }

    fn drill(&mut self, ctx: &ViewCtx<'_>) {
        let rows = self.rows();
        let Some((name, _)) = rows.get(self.selected).cloned() else {
            return;
        };
        match self.level.clone() {
            Level::Top if self.list == 0 => {
                self.parents.push(self.selected);
                self.level = Level::Labels(name.clone());
                self.breakdown = None;
                self.breakdown_task
                    .start(ctx.runtime, self.backend.breakdown(name));
                self.selected = 0;
            }
            Level::Labels(m) => {
                self.parents.push(self.selected);
                self.level = Level::Values(m, name);
                self.selected = 0;
            }
            _ => {}
        }
    }

    fn up(&mut self) -> bool {
        let next = match &self.level {
            Level::Top => return false,
            Level::Labels(_) => {
                self.breakdown_task.cancel();
                Level::Top
            }
            Level::Values(m, _) => Level::Labels(m.clone()),
        };
        self.level = next;
        self.selected = self.parents.pop().unwrap_or(0);
        true
    }
}

impl View for TsdbView {
    fn name(&self) -> &'static str {
        "tsdb"
    }
    fn aliases(&self) -> &'static [&'static str] {
        &["status", "cardinality"]
    }
    fn key_hints(&self) -> Vec<(&'static str, &'static str)> {
        vec![
            ("j/k", "move"),
            ("Enter", "drill down"),
            ("Esc", "back up"),
            ("c", "next top list"),
            ("r", "refresh"),
        ]
    }
    fn on_key(&mut self, key: KeyEvent, ctx: &mut ViewCtx<'_>) -> Handled {
        let n = self.rows().len();
        match key.code {
            KeyCode::Down | KeyCode::Char('j') => {
                self.selected = (self.selected + 1).min(n.saturating_sub(1))
            }
            KeyCode::Up | KeyCode::Char('k') => self.selected = self.selected.saturating_sub(1),
            KeyCode::PageDown => self.selected = (self.selected + 10).min(n.saturating_sub(1)),
            KeyCode::PageUp => self.selected = self.selected.saturating_sub(10),
            KeyCode::Char('g') | KeyCode::Home => self.selected = 0,
            KeyCode::Char('G') | KeyCode::End => self.selected = n.saturating_sub(1),
            KeyCode::Enter | KeyCode::Char('l') | KeyCode::Right => self.drill(ctx),
            KeyCode::Esc | KeyCode::Char('h') | KeyCode::Left | KeyCode::Backspace => {
                if !self.up() {
                    return Handled::Ignored;
                }
            }
            KeyCode::Char('c') => {
                if self.level == Level::Top {
                    self.list = (self.list + 1) % LISTS.len();
                    self.selected = 0;
                }
            }
            KeyCode::Char('r') => self.fetched_at = i64::MIN,
            _ => return Handled::Ignored,
        }
        Handled::Consumed
    }
    fn set_filter(&mut self, filter: Option<Filter>) {
        self.filter = filter;
        self.selected = 0;
    }
    fn tick(&mut self, ctx: &mut ViewCtx<'_>) {
        if let Some(r) = self.task.poll() {
            if r.is_err() {
                self.fetched_at = ctx.now_ms - REFRESH_MS + 1_000;
            }
            self.info = Some(r);
        }
        if let Some(r) = self.breakdown_task.poll() {
            self.breakdown = Some(r);
        }
        if !self.task.is_busy() && ctx.now_ms.saturating_sub(self.fetched_at) >= REFRESH_MS {
            self.fetched_at = ctx.now_ms;
            self.task.start(ctx.runtime, self.backend.tsdb(TOP));
        }
    }
    fn busy_since(&self) -> Option<Instant> {
        self.breakdown_task.busy_since().or(if self.info.is_none() {
            self.task.busy_since()
        } else {
            None
        })
    }
    fn cancel(&mut self) {
        if self.breakdown_task.is_busy() {
            self.breakdown_task.cancel();
            self.up();
        }
        if self.info.is_none() {
            self.task.cancel();
        }
    }
    fn render(&mut self, f: &mut Frame<'_>, area: Rect, ctx: &ViewCtx<'_>) {
        let p = ctx.palette;
        let area = crate::tui::timetravel::present_only_notice(f, area, ctx);
        let g = ctx.glyphs;
        let [left, right] =
            Layout::horizontal([Constraint::Length(38), Constraint::Min(20)]).areas(area);
        let mut l = Vec::new();
        let kv = |k: &str, v: String| {
            Line::from(vec![
                Span::styled(format!(" {k:<16}"), p.dim),
                Span::styled(v, p.text),
            ])
        };
        let section = |s: &str| Line::from(Span::styled(format!(" {s}"), p.accent));
        let local_only = || Line::from(Span::styled("  local only (not over --remote)", p.dim));
        match &self.info {
            None => l.push(Line::from(Span::styled(" loading…", p.dim))),
            Some(Err(e)) => l.push(Line::from(Span::styled(format!(" {e}"), p.error))),
            Some(Ok(i)) => {
                l.push(section("head"));
                l.push(kv("series", widgets::si(i.head_series as f64)));
                l.push(kv("chunks", widgets::si(i.head_chunks as f64)));
                l.push(kv("label pairs", widgets::si(i.label_pairs as f64)));
                let span = if i.head_max_time > i.head_min_time {
                    widgets::duration(i.head_max_time - i.head_min_time)
                } else {
                    "-".into()
                };
                l.push(kv("time span", span));
                if !i.retention.is_empty() {
                    l.push(kv("retention", i.retention.clone()));
                }
                l.push(section("WAL"));
                match &i.wal {
                    None => l.push(local_only()),
                    Some(w) => {
                        l.push(kv(
                            "segments",
                            format!("{} ({})", w.segments, widgets::bytes(w.bytes)),
                        ));
                        l.push(kv("fsyncs", w.fsyncs.to_string()));
                        l.push(kv(
                            "corruptions",
                            format!("{} truncations {}", w.corruptions, w.truncations),
                        ));
                        l.push(kv("checkpoints", w.checkpoints.to_string()));
                        l.push(kv(
                            "replay",
                            format!(
                                "{} records in {}",
                                widgets::si(w.replay_records as f64),
                                widgets::duration(w.replay_ms as i64)
                            ),
                        ));
                    }
                }
                l.push(section("compactions"));
                match &i.compactions {
                    None => l.push(local_only()),
                    Some(c) => {
                        l.push(kv("head → block", c.head_compactions.to_string()));
                        let fs = if c.failures > 0 { p.error } else { p.text };
                        l.push(Line::from(vec![
                            Span::styled(format!(" {:<16}", "failures"), p.dim),
                            Span::styled(c.failures.to_string(), fs),
                        ]));
                    }
                }
                l.push(section("blocks"));
                match &i.blocks {
                    None => l.push(local_only()),
                    Some(bs) if bs.is_empty() => {
                        l.push(Line::from(Span::styled("  none yet (head only)", p.dim)))
                    }
                    Some(bs) => {
                        for b in bs.iter().rev() {
                            l.push(Line::from(vec![
                                Span::styled(
                                    format!("  {} ", widgets::fit(&b.ulid, 10, g)),
                                    p.info,
                                ),
                                Span::styled(
                                    format!(
                                        "L{} {} {}s {}",
                                        b.level,
                                        widgets::duration(b.max_time - b.min_time),
                                        widgets::si(b.series as f64),
                                        widgets::bytes(b.bytes)
                                    ),
                                    p.text,
                                ),
                            ]));
                        }
                    }
                }
            }
        }
        f.render_widget(
            Paragraph::new(l).block(
                Block::default()
                    .borders(Borders::RIGHT)
                    .border_style(p.border),
            ),
            left,
        );
        // The drill-down list.
        let title = match &self.level {
            Level::Top => format!(
                " {} (c: next list{}) ",
                LISTS[self.list],
                if self.list == 0 {
                    ", Enter: labels"
                } else {
                    ""
                }
            ),
            Level::Labels(m) => format!(" {m}: labels by distinct values (Enter: values) "),
            Level::Values(m, lbl) => format!(" {m}{{{lbl}}}: values by series "),
        };
        let rows = self.rows();
        let height = right.height.saturating_sub(1) as usize;
        if self.selected >= rows.len() {
            self.selected = rows.len().saturating_sub(1);
        }
        let offset = self.selected.saturating_sub(height.saturating_sub(1));
        let max = rows.iter().map(|r| r.1).max().unwrap_or(1).max(1);
        let name_w = (right.width as usize).saturating_sub(22).max(8);
        let mut rl = Vec::new();
        let loading =
            matches!(self.level, Level::Labels(_) | Level::Values(..)) && self.breakdown.is_none();
        if loading {
            rl.push(Line::from(Span::styled(" counting series…", p.dim)));
        } else if let (Some(Err(e)), false) = (&self.breakdown, self.level == Level::Top) {
            rl.push(Line::from(Span::styled(format!(" {e}"), p.error)));
        }
        for (i, (name, n)) in rows.iter().enumerate().skip(offset).take(height) {
            let fmt = if self.list == 3 && self.level == Level::Top {
                widgets::bytes(*n)
            } else {
                widgets::si(*n as f64)
            };
            let line = Line::from(vec![
                Span::raw(" "),
                widgets::cell(name, name_w, p.text, g),
                Span::styled(format!("{fmt:>8} "), p.info),
                Span::styled(widgets::bar(*n as f64 / max as f64, 10, g), p.info),
            ]);
            rl.push(if i == self.selected {
                line.style(p.selection)
            } else {
                line
            });
        }
        f.render_widget(
            Paragraph::new(rl).block(
                Block::default()
                    .borders(Borders::TOP)
                    .border_style(p.border)
                    .title(Span::styled(title, p.accent)),
            ),
            right,
        );
    }
}
