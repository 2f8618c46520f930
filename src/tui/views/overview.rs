//! Overview: the header's figures as sparklines over the last hour, scrape health by job,
//! the top metrics by series count, and recent errors (failed scrapes, rejected reloads,
//! an unreachable backend).
//!
//! Time-travelled (`:at`), scrape health and the failing targets are rebuilt from the
//! TSDB at the moment ([`Backend::targets_at`]), the top metrics count the series present
//! then ([`Backend::top_metrics_at`]), and the error log stops at the moment; the
//! sparklines stay live (the feed samples the present) and say so.

use std::sync::Arc;
use std::time::Instant;

use crossterm::event::{KeyCode, KeyEvent};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};
use ratatui::Frame;

use crate::tui::backend::{Backend, BackendError, TargetHealth, TargetRow, TsdbInfo};
use crate::tui::feed::{Feed, Severity};
use crate::tui::task::Task;
use crate::tui::view::{Filter, Handled, View, ViewCtx};
use crate::tui::widgets;

/// Targets are refreshed this often, cardinality less often (it walks the head).
const TARGETS_EVERY_MS: i64 = 5_000;
const TSDB_EVERY_MS: i64 = 30_000;

/// The Overview view.
pub struct OverviewView {
    backend: Arc<dyn Backend>,
    feed: Arc<Feed>,
    targets: Option<Result<Vec<TargetRow>, BackendError>>,
    tsdb: Option<Result<TsdbInfo, BackendError>>,
    targets_task: Task<Result<Vec<TargetRow>, BackendError>>,
    tsdb_task: Task<Result<TsdbInfo, BackendError>>,
    targets_at: i64,
    tsdb_at: i64,
    filter: Option<Filter>,
    /// The time-travel moment the data is for (`None`: the present).
    moment: Option<i64>,
    /// Series per metric at the moment, while time-travelling.
    top_at: Option<Result<Vec<(String, u64)>, BackendError>>,
    top_task: Task<Result<Vec<(String, u64)>, BackendError>>,
}

impl OverviewView {
    pub fn new(backend: Arc<dyn Backend>, feed: Arc<Feed>) -> OverviewView {
        OverviewView {
            backend,
            feed,
            targets: None,
            tsdb: None,
            targets_task: Task::default(),
            tsdb_task: Task::default(),
            targets_at: i64::MIN,
            tsdb_at: i64::MIN,
            filter: None,
            moment: None,
            top_at: None,
            top_task: Task::default(),
        }
    }

    /// Follows the frame's time-travel moment: a new moment drops the data of the old
    /// one and fetches again.
    fn follow_moment(&mut self, ctx: &ViewCtx<'_>) {
        let want = ctx.range.end_ms;
        if want == self.moment {
            return;
        }
        self.moment = want;
        self.targets_task.cancel();
        self.top_task.cancel();
        self.targets = None;
        self.top_at = None;
        self.targets_at = i64::MIN;
        self.tsdb_at = i64::MIN;
    }

    /// Sets the data directly (snapshot tests).
    pub fn set_data(&mut self, targets: Vec<TargetRow>, tsdb: TsdbInfo, now_ms: i64) {
        self.targets = Some(Ok(targets));
        self.tsdb = Some(Ok(tsdb));
        self.targets_at = now_ms;
        self.tsdb_at = now_ms;
    }

    fn keeps(&self, s: &str) -> bool {
        self.filter.as_ref().is_none_or(|f| f.keeps(s))
    }
}

/// Per job: (up, down, unknown).
fn by_job(rows: &[TargetRow]) -> Vec<(String, u64, u64, u64)> {
    let mut m: std::collections::BTreeMap<&str, (u64, u64, u64)> = Default::default();
    for r in rows {
        let e = m.entry(&r.pool).or_default();
        match r.health() {
            TargetHealth::Up => e.0 += 1,
            TargetHealth::Down => e.1 += 1,
            TargetHealth::Unknown => e.2 += 1,
        }
    }
    m.into_iter()
        .map(|(k, (u, d, n))| (k.to_string(), u, d, n))
        .collect()
}

impl View for OverviewView {
    fn name(&self) -> &'static str {
        "overview"
    }
    fn aliases(&self) -> &'static [&'static str] {
        &["o", "home"]
    }
    fn key_hints(&self) -> Vec<(&'static str, &'static str)> {
        vec![("r", "refresh now")]
    }
    fn on_key(&mut self, key: KeyEvent, _ctx: &mut ViewCtx<'_>) -> Handled {
        match key.code {
            KeyCode::Char('r') => {
                self.targets_at = i64::MIN;
                self.tsdb_at = i64::MIN;
                if self.moment.is_some() {
                    self.targets = None;
                    self.top_at = None;
                }
                Handled::Consumed
            }
            _ => Handled::Ignored,
        }
    }
    fn set_filter(&mut self, filter: Option<Filter>) {
        self.filter = filter;
    }
    fn tick(&mut self, ctx: &mut ViewCtx<'_>) {
        self.follow_moment(ctx);
        if let Some(r) = self.top_task.poll() {
            self.top_at = Some(r);
        }
        if let Some(t) = self.moment {
            // A past moment does not change: fetch once (again on `r`).
            if let Some(r) = self.targets_task.poll() {
                self.targets = Some(r);
            }
            if self.targets.is_none() && !self.targets_task.is_busy() {
                self.targets_task
                    .start(ctx.runtime, self.backend.targets_at(t));
            }
            if self.top_at.is_none() && !self.top_task.is_busy() {
                self.top_task
                    .start(ctx.runtime, self.backend.top_metrics_at(t, 10));
            }
            return;
        }
        // A failed fetch (the engine still opening) is retried after a second.
        if let Some(r) = self.targets_task.poll() {
            if r.is_err() {
                self.targets_at = ctx.now_ms - TARGETS_EVERY_MS + 1_000;
            }
            self.targets = Some(r);
        }
        if let Some(r) = self.tsdb_task.poll() {
            if r.is_err() {
                self.tsdb_at = ctx.now_ms - TSDB_EVERY_MS + 1_000;
            }
            self.tsdb = Some(r);
        }
        if !self.targets_task.is_busy()
            && ctx.now_ms.saturating_sub(self.targets_at) >= TARGETS_EVERY_MS
        {
            self.targets_at = ctx.now_ms;
            self.targets_task.start(ctx.runtime, self.backend.targets());
        }
        if !self.tsdb_task.is_busy() && ctx.now_ms.saturating_sub(self.tsdb_at) >= TSDB_EVERY_MS {
            self.tsdb_at = ctx.now_ms;
            self.tsdb_task.start(ctx.runtime, self.backend.tsdb(10));
        }
    }
    fn busy_since(&self) -> Option<Instant> {
        // Periodic refreshes are quiet; only the first load shows the spinner.
        if self.targets.is_none() {
            self.targets_task.busy_since()
        } else if self.moment.is_some() && self.top_at.is_none() {
            self.top_task.busy_since()
        } else {
            None
        }
    }
    fn cancel(&mut self) {
        self.targets_task.cancel();
        self.tsdb_task.cancel();
        self.top_task.cancel();
    }

    fn render(&mut self, f: &mut Frame<'_>, area: Rect, ctx: &ViewCtx<'_>) {
        let p = ctx.palette;
        let g = ctx.glyphs;
        let st = self.feed.snapshot();
        let [spark_area, mid, bottom] = Layout::vertical([
            Constraint::Length(6),
            Constraint::Min(4),
            Constraint::Length(if area.height > 20 { 7 } else { 4 }),
        ])
        .areas(area);
        // Sparklines over the last hour.
        let label_w = 12usize;
        let value_w = 10usize;
        let spark_w = (spark_area.width as usize).saturating_sub(label_w + value_w + 4);
        let row = |name: &str, s: &crate::tui::feed::Series, fmt: &dyn Fn(f64) -> String| {
            let vals: Vec<f64> = s.iter().map(|&(_, v)| v).collect();
            let last = vals.last().map(|&v| fmt(v)).unwrap_or_else(|| "-".into());
            Line::from(vec![
                Span::styled(format!(" {name:<label_w$}"), p.dim),
                Span::styled(widgets::sparkline(&vals, spark_w, g), p.accent),
                Span::styled(format!(" {last:>value_w$}"), p.text),
            ])
        };
        let lines = vec![
            row("samples/s", &st.rate, &|v| widgets::si(v.round())),
            row("head series", &st.head_series, &|v| widgets::si(v)),
            row("on disk", &st.storage, &|v| widgets::bytes(v as u64)),
            row("targets up", &st.targets_up, &|v| widgets::si(v)),
        ];
        f.render_widget(
            Paragraph::new(lines).block(
                Block::default()
                    .borders(Borders::TOP)
                    .border_style(p.border)
                    .title(Span::styled(
                        if self.moment.is_some() {
                            " last hour (live, not time-travelled) "
                        } else {
                            " last hour "
                        },
                        p.accent,
                    )),
            ),
            spark_area,
        );
        let [left, right] =
            Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(mid);
        // Scrape health by job.
        let mut jl = Vec::new();
        match &self.targets {
            None => jl.push(Line::from(Span::styled(" loading…", p.dim))),
            Some(Err(e)) => jl.push(Line::from(Span::styled(format!(" {e}"), p.error))),
            Some(Ok(rows)) => {
                let jobs = by_job(rows);
                if jobs.is_empty() {
                    jl.push(Line::from(Span::styled(" no active targets", p.dim)));
                }
                let name_w = (left.width as usize).saturating_sub(22).clamp(6, 30);
                for (job, up, down, unk) in jobs.iter().filter(|j| self.keeps(&j.0)) {
                    let total = up + down + unk;
                    let style = if *down > 0 {
                        p.error
                    } else if *unk > 0 {
                        p.warn
                    } else {
                        p.ok
                    };
                    jl.push(Line::from(vec![
                        Span::raw(" "),
                        widgets::cell(job, name_w, p.text, g),
                        Span::styled(format!("{up:>4}/{total:<4} "), style),
                        Span::styled(widgets::bar(*up as f64 / total.max(1) as f64, 8, g), style),
                    ]));
                }
            }
        }
        f.render_widget(
            Paragraph::new(jl).block(
                Block::default()
                    .borders(Borders::TOP)
                    .border_style(p.border)
                    .title(Span::styled(
                        if self.moment.is_some() {
                            " scrape health by job at the moment "
                        } else {
                            " scrape health by job "
                        },
                        p.accent,
                    )),
            ),
            left,
        );
        // Top cardinality: the head's now, or the series present at the moment.
        let mut cl = Vec::new();
        let top: Option<Result<&[(String, u64)], String>> = if self.moment.is_some() {
            self.top_at.as_ref().map(|r| match r {
                Ok(v) => Ok(v.as_slice()),
                Err(e) => Err(e.to_string()),
            })
        } else {
            self.tsdb.as_ref().map(|r| match r {
                Ok(t) => Ok(t.series_by_metric.as_slice()),
                Err(e) => Err(e.to_string()),
            })
        };
        match top {
            None => cl.push(Line::from(Span::styled(" loading…", p.dim))),
            Some(Err(e)) => cl.push(Line::from(Span::styled(format!(" {e}"), p.error))),
            Some(Ok(series_by_metric)) => {
                let max = series_by_metric.first().map_or(1, |x| x.1.max(1));
                let name_w = (right.width as usize).saturating_sub(19).clamp(6, 60);
                for (m, n) in series_by_metric.iter().filter(|x| self.keeps(&x.0)) {
                    cl.push(Line::from(vec![
                        Span::raw(" "),
                        widgets::cell(m, name_w, p.text, g),
                        Span::styled(format!("{:>7} ", widgets::si(*n as f64)), p.info),
                        Span::styled(widgets::bar(*n as f64 / max as f64, 8, g), p.info),
                    ]));
                }
            }
        }
        f.render_widget(
            Paragraph::new(cl).block(
                Block::default()
                    .borders(Borders::TOP)
                    .border_style(p.border)
                    .title(Span::styled(
                        if self.moment.is_some() {
                            " top series by metric (at the moment) "
                        } else {
                            " top series by metric "
                        },
                        p.accent,
                    )),
            ),
            right,
        );
        // Recent errors: failing targets first, then the event log, newest first (up to
        // the moment when time-travelling; ages count back from it).
        let mut el = Vec::new();
        let ref_ms = self.moment.unwrap_or(ctx.now_ms);
        if let Some(Ok(rows)) = &self.targets {
            for r in rows
                .iter()
                .filter(|r| r.health() == TargetHealth::Down)
                .take(bottom.height as usize)
            {
                el.push(Line::from(vec![
                    Span::styled(
                        format!(" {} ", widgets::ago(ref_ms, r.last_scrape_ms)),
                        p.dim,
                    ),
                    Span::styled(format!("{} {}: ", r.pool, r.url), p.text),
                    Span::styled(
                        if r.last_error.is_empty() && self.moment.is_some() {
                            "up was 0 (the TSDB keeps no error text)".to_string()
                        } else {
                            r.last_error.clone()
                        },
                        p.error,
                    ),
                ]));
            }
        }
        for (t, sev, msg) in st.events.iter().rev() {
            if *sev == Severity::Info || *t > ref_ms {
                continue;
            }
            let style = if *sev == Severity::Error {
                p.error
            } else {
                p.warn
            };
            el.push(Line::from(vec![
                Span::styled(format!(" {} ", widgets::clock(*t)), p.dim),
                Span::styled(msg.clone(), style),
            ]));
        }
        if el.is_empty() {
            el.push(Line::from(Span::styled(" no recent errors", p.ok)));
        }
        f.render_widget(
            Paragraph::new(el).block(
                Block::default()
                    .borders(Borders::TOP)
                    .border_style(p.border)
                    .title(Span::styled(" recent errors ", p.accent)),
            ),
            bottom,
        );
    }
}
