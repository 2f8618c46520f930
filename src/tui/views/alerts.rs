//! Alerts: what is wrong now, grouped exactly as Alertmanager's route tree groups it
//! (`/api/v2/alerts/groups`: one block per aggregation group with its receiver), with
//! the rule engine's pending alerts above (they never reach Alertmanager), state,
//! active-since, labels, summary, runbook link and silenced / inhibited / acknowledged
//! markers. `/` filters by regex over labels and annotations, `m` by Alertmanager
//! matchers (`{severity="critical"}`); the top line counts firing and pending alerts by
//! severity.
//!
//! The triage flow starts here: Enter opens the detail pane (the rule's expression
//! charted around the firing time with its threshold, the route path and when each
//! receiver was notified, inhibitions with their rule), `a` acknowledges the alert or
//! its group, `s` opens the silence editor prefilled from the alert, its group, or the
//! matcher filter.
//!
//! Time travel (`ctx.range.end_ms` set): the view shows the `ALERTS` series at that
//! moment, rebuilt from the TSDB, read-only.
//!
//! Stays within a frame at 10,000 alerts: each alert's filter text is built once per
//! fetch, the visible rows are rebuilt only when the data or a filter changes, and only
//! the rows on screen are drawn.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Instant;

use crossterm::event::{KeyCode, KeyEvent};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};
use ratatui::Frame;

use super::alert_forms::{labels_matchers, AckForm, FormOutcome, PreviewAlert, SilenceEditor};
use crate::alerting::inspect::Inspection;
use crate::alerting::matcher::{parse_matchers, Matcher};
use crate::tui::backend::alerts::{
    split_threshold, AlertSource, AlertsSnapshot, AmAlert, HistoryEvent, Labels, RuleAlert,
    RuleAlertState,
};
use crate::tui::backend::{Backend, BackendError};
use crate::tui::console::chart;
use crate::tui::console::source::{ConsoleSource, QueryAnswer, QueryData, SourceError};
use crate::tui::task::Task;
use crate::tui::view::{Filter, Handled, Palette, View, ViewCtx};
use crate::tui::widgets;

const REFRESH_MS: i64 = 2_000;

/// One line of the list.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Row {
    /// "pending" section title with its count shown.
    PendingHeader(usize),
    /// A rule engine alert (index into `rule_alerts`).
    Rule(usize),
    /// A group header: group index, alerts shown.
    Group(usize, usize),
    /// An alert of a group.
    Alert(usize, usize),
    /// A historical `ALERTS` series (time travel).
    Past(usize),
}

/// Counts for the summary line.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Counts {
    /// severity -> (firing, pending)
    pub by_severity: BTreeMap<String, (u64, u64)>,
    pub silenced: u64,
    pub inhibited: u64,
    pub acked: u64,
}

/// One `ALERTS` series at a past moment.
#[derive(Clone, Debug, PartialEq)]
struct PastAlert {
    labels: Labels,
    state: String,
}

/// One charted series' points `(t ms, value)`.
type Series = Vec<(i64, f64)>;

/// The detail pane's chart: expression charted, threshold, points per series.
struct ChartData {
    expr: String,
    op: String,
    threshold: Option<f64>,
    start_ms: i64,
    end_ms: i64,
    step_ms: i64,
    result: Option<Result<Vec<Series>, SourceError>>,
}

/// The Alerts view.
pub struct AlertsView {
    source: Option<Arc<dyn AlertSource>>,
    console: Arc<dyn ConsoleSource>,
    snap: AlertsSnapshot,
    error: Option<String>,
    loaded: bool,
    task: Task<Result<AlertsSnapshot, BackendError>>,
    fetched_at: i64,
    /// Filter text per alert of each group, and per rule alert (built once per fetch).
    group_text: Vec<Vec<String>>,
    rule_text: Vec<String>,
    filter: Option<Filter>,
    matcher_filter: Option<(String, Vec<Matcher>)>,
    /// The matcher filter being typed (`m`).
    matcher_input: Option<String>,
    matcher_error: Option<String>,
    collapsed: BTreeSet<usize>,
    visible: Vec<Row>,
    selected: usize,
    offset: usize,
    list_height: usize,
    detail: bool,
    inspect: Option<(String, Result<Inspection, String>)>,
    inspect_task: Task<Result<Inspection, BackendError>>,
    chart: Option<ChartData>,
    chart_task: Task<Result<QueryAnswer, SourceError>>,
    editor: Option<SilenceEditor>,
    ack: Option<AckForm>,
    action: Task<Result<String, BackendError>>,
    message: Option<(String, bool)>,
    /// Time travel: the moment shown and its `ALERTS` series.
    past_at: Option<i64>,
    past: Vec<PastAlert>,
    past_error: Option<String>,
    past_task: Task<Result<QueryAnswer, SourceError>>,
    /// Alert events in the hour before the moment (promtui's history), or why not.
    past_events: Option<Result<Vec<HistoryEvent>, String>>,
    past_events_task: Task<Result<Vec<HistoryEvent>, BackendError>>,
    /// Who the forms name as creator by default ($USER).
    user: String,
    /// The summary counts, computed once per fetch (not per frame).
    counts: Counts,
}

impl AlertsView {
    pub fn new(backend: &Arc<dyn Backend>) -> AlertsView {
        AlertsView::with_source(backend.alerts(), backend.console_source())
    }

    /// Over an explicit source (snapshot tests, benches).
    pub fn with_source(
        source: Option<Arc<dyn AlertSource>>,
        console: Arc<dyn ConsoleSource>,
    ) -> AlertsView {
        AlertsView {
            source,
            console,
            snap: AlertsSnapshot::default(),
            error: None,
            loaded: false,
            task: Task::default(),
            fetched_at: i64::MIN,
            group_text: Vec::new(),
            rule_text: Vec::new(),
            filter: None,
            matcher_filter: None,
            matcher_input: None,
            matcher_error: None,
            collapsed: BTreeSet::new(),
            visible: Vec::new(),
            selected: 0,
            offset: 0,
            list_height: 10,
            detail: false,
            inspect: None,
            inspect_task: Task::default(),
            chart: None,
            chart_task: Task::default(),
            editor: None,
            ack: None,
            action: Task::default(),
            message: None,
            past_at: None,
            past: Vec::new(),
            past_error: None,
            past_task: Task::default(),
            past_events: None,
            past_events_task: Task::default(),
            user: super::alert_forms::default_user(),
            counts: Counts::default(),
        }
    }

    /// Sets who the forms default to (tests; normally $USER).
    pub fn set_user(&mut self, user: &str) {
        self.user = user.to_string();
    }

    /// Sets the data directly (snapshot tests, benches); `now_ms` counts as fetch time.
    pub fn set_snapshot(&mut self, snap: AlertsSnapshot, now_ms: i64) {
        self.fetched_at = now_ms;
        self.apply(Ok(snap));
    }

    /// Sets the detail pane's inspection and chart directly (snapshot tests).
    pub fn set_detail(
        &mut self,
        inspection: Result<Inspection, String>,
        series: Vec<Vec<(i64, f64)>>,
        start_ms: i64,
        end_ms: i64,
    ) {
        if let Some(a) = self.selected_alert().cloned() {
            self.detail = true;
            self.inspect = Some((a.fingerprint.clone(), inspection));
            let expr = self.snap.rule_expr(&a).unwrap_or_default();
            let (lhs, op, thr) = match split_threshold(&expr) {
                Some((l, o, t)) => (l, o, Some(t)),
                None => (expr.clone(), String::new(), None),
            };
            self.chart = Some(ChartData {
                expr: lhs,
                op,
                threshold: thr,
                start_ms,
                end_ms,
                step_ms: ((end_ms - start_ms) / 120).max(1000),
                result: Some(Ok(series)),
            });
        }
    }

    /// Moves the selection to the first alert whose labels contain `s` (tests).
    pub fn select_alert(&mut self, s: &str) {
        let found = self.visible.iter().position(|r| match *r {
            Row::Alert(g, a) => self.snap.groups[g].alerts[a]
                .labels
                .values()
                .any(|v| v.contains(s)),
            Row::Rule(i) => self.snap.rule_alerts[i]
                .labels
                .values()
                .any(|v| v.contains(s)),
            _ => false,
        });
        if let Some(i) = found {
            self.selected = i;
        }
    }

    /// Opens the silence editor or the ack form on the selection (tests).
    pub fn open_silence_editor(&mut self) {
        self.start_silence();
    }
    pub fn open_ack_form(&mut self, whole_group: bool) {
        self.start_ack(whole_group);
    }

    /// Sets the matcher filter (`m`); an error says where the matchers are wrong.
    pub fn set_matcher_filter(&mut self, text: &str) -> Result<(), String> {
        let t = text.trim();
        if t.is_empty() || t == "{}" {
            self.matcher_filter = None;
        } else {
            let ms = parse_matchers(t).map_err(|e| format!("matchers {t:?}: {e}"))?;
            self.matcher_filter = Some((t.to_string(), ms));
        }
        self.rebuild();
        Ok(())
    }

    /// The summary counts of the current data (as of the last fetch).
    pub fn counts(&self) -> &Counts {
        &self.counts
    }

    fn compute_counts(&self) -> Counts {
        let mut c = Counts::default();
        let sev = |l: &Labels| l.get("severity").cloned().unwrap_or_else(|| "none".into());
        for a in self.snap.unique_alerts().values() {
            c.by_severity.entry(sev(&a.labels)).or_default().0 += 1;
            if !a.silenced_by.is_empty() {
                c.silenced += 1;
            }
            if !a.inhibited_by.is_empty() {
                c.inhibited += 1;
            }
            if !a.acked_by.is_empty() {
                c.acked += 1;
            }
        }
        let am_missing = self.snap.alertmanager_error.is_some();
        for r in &self.snap.rule_alerts {
            match r.state {
                RuleAlertState::Pending => c.by_severity.entry(sev(&r.labels)).or_default().1 += 1,
                RuleAlertState::Firing if am_missing => {
                    c.by_severity.entry(sev(&r.labels)).or_default().0 += 1
                }
                RuleAlertState::Firing => {}
            }
        }
        c
    }

    fn apply(&mut self, r: Result<AlertsSnapshot, BackendError>) {
        self.loaded = true;
        match r {
            Ok(mut snap) => {
                let sel = self.selected_key();
                // Groups in a stable order: receiver, then group labels.
                snap.groups.sort_by(|a, b| {
                    a.receiver
                        .cmp(&b.receiver)
                        .then_with(|| a.labels.cmp(&b.labels))
                });
                snap.rule_alerts
                    .sort_by(|a, b| a.rule.cmp(&b.rule).then_with(|| a.labels.cmp(&b.labels)));
                self.group_text = snap
                    .groups
                    .iter()
                    .map(|g| g.alerts.iter().map(alert_text).collect())
                    .collect();
                self.rule_text = snap.rule_alerts.iter().map(rule_text).collect();
                self.snap = snap;
                self.counts = self.compute_counts();
                self.error = None;
                self.rebuild();
                if let Some(k) = sel {
                    if let Some(i) = self
                        .visible
                        .iter()
                        .position(|r| self.row_key(*r) == Some(k.clone()))
                    {
                        self.selected = i;
                    }
                }
                self.refresh_preview();
            }
            Err(e) => self.error = Some(e.to_string()),
        }
    }

    fn row_key(&self, r: Row) -> Option<String> {
        match r {
            Row::Alert(g, a) => Some(format!(
                "{}|{}",
                self.snap.groups.get(g)?.receiver,
                self.snap.groups.get(g)?.alerts.get(a)?.fingerprint
            )),
            Row::Rule(i) => Some(format!("rule|{:?}", self.snap.rule_alerts.get(i)?.labels)),
            Row::Group(g, _) => Some(format!(
                "group|{}|{:?}",
                self.snap.groups.get(g)?.receiver,
                self.snap.groups.get(g)?.labels
            )),
            _ => None,
        }
    }

    fn selected_key(&self) -> Option<String> {
        self.visible
            .get(self.selected)
            .and_then(|r| self.row_key(*r))
    }

    fn keeps(&self, labels: &Labels, text: &str) -> bool {
        self.filter.as_ref().is_none_or(|f| f.keeps(text))
            && self
                .matcher_filter
                .as_ref()
                .is_none_or(|(_, ms)| ms.iter().all(|m| m.matches(labels)))
    }

    /// Recomputes the visible rows from the data and the filters.
    fn rebuild(&mut self) {
        self.visible.clear();
        if self.past_at.is_some() {
            for i in 0..self.past.len() {
                let p = &self.past[i];
                let text = format!("{} {}", labels_matchers(&p.labels), p.state);
                if self.keeps(&p.labels, &text) {
                    self.visible.push(Row::Past(i));
                }
            }
        } else {
            let show_firing_rules = self.snap.alertmanager_error.is_some();
            let header = self.visible.len();
            self.visible.push(Row::PendingHeader(0));
            for (i, r) in self.snap.rule_alerts.iter().enumerate() {
                if (r.state == RuleAlertState::Pending || show_firing_rules)
                    && self.keeps(&r.labels, &self.rule_text[i])
                {
                    self.visible.push(Row::Rule(i));
                }
            }
            let n = self.visible.len() - header - 1;
            if n == 0 {
                self.visible.truncate(header);
            } else {
                self.visible[header] = Row::PendingHeader(n);
            }
            for (gi, g) in self.snap.groups.iter().enumerate() {
                let header = self.visible.len();
                self.visible.push(Row::Group(gi, 0));
                let collapsed = self.collapsed.contains(&gi);
                let mut shown = 0;
                for (ai, a) in g.alerts.iter().enumerate() {
                    if self.keeps(&a.labels, &self.group_text[gi][ai]) {
                        shown += 1;
                        if !collapsed {
                            self.visible.push(Row::Alert(gi, ai));
                        }
                    }
                }
                if shown == 0 {
                    self.visible.truncate(header);
                } else {
                    self.visible[header] = Row::Group(gi, shown);
                }
            }
        }
        if self.selected >= self.visible.len() {
            self.selected = self.visible.len().saturating_sub(1);
        }
    }

    fn selected_alert(&self) -> Option<&AmAlert> {
        match self.visible.get(self.selected)? {
            Row::Alert(g, a) => self.snap.groups.get(*g)?.alerts.get(*a),
            _ => None,
        }
    }

    fn selected_rule(&self) -> Option<&RuleAlert> {
        match self.visible.get(self.selected)? {
            Row::Rule(i) => self.snap.rule_alerts.get(*i),
            _ => None,
        }
    }

    fn selected_group(&self) -> Option<usize> {
        match self.visible.get(self.selected)? {
            Row::Alert(g, _) | Row::Group(g, _) => Some(*g),
            _ => None,
        }
    }

    fn move_by(&mut self, d: isize) {
        self.selected = widgets::moved(self.selected, d, self.visible.len());
    }

    fn read_only(&mut self) -> bool {
        if self.past_at.is_some() {
            self.message = Some((
                "historical view (time travel) is read-only; :at now returns".into(),
                true,
            ));
            return true;
        }
        if self.source.is_none() {
            self.message = Some(("this backend has no Alertmanager".into(), true));
            return true;
        }
        false
    }

    fn start_silence(&mut self) {
        if self.read_only() {
            return;
        }
        let matchers = if let Some((t, _)) = &self.matcher_filter {
            t.clone()
        } else if let Some(a) = self.selected_alert() {
            labels_matchers(&a.labels)
        } else if let Some(r) = self.selected_rule() {
            labels_matchers(&r.labels)
        } else if let Some(g) = self.selected_group() {
            labels_matchers(&self.snap.groups[g].labels)
        } else {
            String::new()
        };
        let mut ed = SilenceEditor::new(matchers, "2h", None);
        ed.created_by = self.user.clone();
        self.editor = Some(ed);
        self.refresh_preview();
    }

    fn start_ack(&mut self, whole_group: bool) {
        if self.read_only() {
            return;
        }
        let on_group = matches!(self.visible.get(self.selected), Some(Row::Group(..)));
        let Some(g) = self.selected_group() else {
            self.message = Some((
                "select a firing alert or group (pending alerts cannot be acknowledged)".into(),
                true,
            ));
            return;
        };
        let group = &self.snap.groups[g];
        let a = self.selected_alert().or(group.alerts.first());
        let Some(a) = a else {
            return;
        };
        let what = a
            .labels
            .get("alertname")
            .cloned()
            .unwrap_or_else(|| a.fingerprint.clone());
        let mut form = AckForm::new(
            a.fingerprint.clone(),
            group.key.clone(),
            what,
            group.alerts.len(),
            whole_group || on_group,
        );
        form.created_by = self.user.clone();
        self.ack = Some(form);
    }

    fn refresh_preview(&mut self) {
        let Some(ed) = self.editor.as_mut() else {
            return;
        };
        let mut list: Vec<(&Labels, String)> = Vec::new();
        for a in self.snap.unique_alerts().values() {
            list.push((&a.labels, labels_matchers(&a.labels)));
        }
        for r in &self.snap.rule_alerts {
            if r.state == RuleAlertState::Pending {
                list.push((
                    &r.labels,
                    format!("(pending) {}", labels_matchers(&r.labels)),
                ));
            }
        }
        ed.update_preview(
            list.iter()
                .map(|(l, t)| PreviewAlert { labels: l, text: t }),
        );
    }

    fn open_detail(&mut self, ctx: &ViewCtx<'_>) {
        if matches!(self.visible.get(self.selected), Some(Row::Group(..)))
            && matches!(self.visible.get(self.selected + 1), Some(Row::Alert(..)))
        {
            self.selected += 1;
        }
        let (expr, fired_ms, fp) = if let Some(a) = self.selected_alert() {
            (
                self.snap.rule_expr(a),
                a.starts_at_ms,
                Some(a.fingerprint.clone()),
            )
        } else if let Some(r) = self.selected_rule() {
            (Some(r.expr.clone()), r.active_at_ms, None)
        } else {
            return;
        };
        self.detail = true;
        if let (Some(fp), Some(src)) = (fp, &self.source) {
            if self.inspect.as_ref().is_none_or(|(f, _)| *f != fp) {
                self.inspect = None;
                self.inspect_task
                    .start(ctx.runtime, src.inspect(fp.clone()));
                self.inspect = Some((fp, Err("loading…".into())));
            }
        } else {
            self.inspect = None;
        }
        self.chart = None;
        if let Some(expr) = expr.filter(|e| !e.is_empty()) {
            let (lhs, op, thr) = match split_threshold(&expr) {
                Some((l, o, t)) => (l, o, Some(t)),
                None => (expr.clone(), String::new(), None),
            };
            // Around the firing time: from 30 minutes before it to now (at least an hour).
            let end = ctx.range.end_ms.unwrap_or(ctx.now_ms);
            let start = (fired_ms - 1_800_000).min(end - 3_600_000);
            let step = ((end - start) / 240).max(1_000);
            self.chart_task.start(
                ctx.runtime,
                self.console.range_query(lhs.clone(), start, end, step),
            );
            self.chart = Some(ChartData {
                expr: lhs,
                op,
                threshold: thr,
                start_ms: start,
                end_ms: end,
                step_ms: step,
                result: None,
            });
        }
    }

    fn set_message(&mut self, text: impl Into<String>, error: bool) {
        self.message = Some((text.into(), error));
    }

    fn render_summary(&self, ctx: &ViewCtx<'_>) -> Line<'static> {
        let p = ctx.palette;
        let c = &self.counts;
        let mut spans = Vec::new();
        if let Some(t) = self.past_at {
            spans.push(Span::styled(
                format!(
                    " AT {} (historical, from ALERTS in the TSDB; read-only) ",
                    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(t)
                        .map(|d| d.format("%Y-%m-%d %H:%M:%S UTC").to_string())
                        .unwrap_or_else(|| t.to_string())
                ),
                p.warn,
            ));
            let firing = self.past.iter().filter(|a| a.state == "firing").count();
            spans.push(Span::styled(
                format!("{firing} firing {} pending", self.past.len() - firing),
                p.text,
            ));
            return Line::from(spans);
        }
        let firing: u64 = c.by_severity.values().map(|v| v.0).sum();
        let pending: u64 = c.by_severity.values().map(|v| v.1).sum();
        spans.push(Span::styled(
            format!(" {firing} firing"),
            if firing > 0 { p.error } else { p.dim },
        ));
        let sev_list = |pick: fn(&(u64, u64)) -> u64| -> String {
            let v: Vec<String> = c
                .by_severity
                .iter()
                .filter(|(_, n)| pick(n) > 0)
                .map(|(s, n)| format!("{s} {}", pick(n)))
                .collect();
            if v.is_empty() {
                String::new()
            } else {
                format!(" ({})", v.join(", "))
            }
        };
        spans.push(Span::styled(sev_list(|n| n.0), p.text));
        spans.push(Span::styled(
            format!(" · {pending} pending"),
            if pending > 0 { p.warn } else { p.dim },
        ));
        spans.push(Span::styled(sev_list(|n| n.1), p.text));
        spans.push(Span::styled(
            format!(
                " · {} silenced · {} inhibited · {} acked",
                c.silenced, c.inhibited, c.acked
            ),
            p.dim,
        ));
        if let Some((t, _)) = &self.matcher_filter {
            spans.push(Span::styled(format!("  match {t}"), p.accent));
        }
        if let Some(src) = &self.source {
            spans.push(Span::styled(format!("  [{}]", src.endpoint()), p.dim));
        }
        Line::from(spans)
    }

    fn render_list(&mut self, f: &mut Frame<'_>, area: Rect, ctx: &ViewCtx<'_>) {
        let p = ctx.palette;
        let g = ctx.glyphs;
        let w = area.width as usize;
        let mut lines = Vec::new();
        lines.push(self.render_summary(ctx));
        let mut note =
            |text: String, style: Style| lines.push(Line::from(Span::styled(text, style)));
        if let Some(e) = &self.error {
            note(format!(" {e}"), p.error);
        }
        if self.past_at.is_none() {
            if let Some(e) = &self.snap.alertmanager_error {
                note(format!(" Alertmanager: {e}"), p.error);
            }
            if let Some(e) = &self.snap.rules_error {
                note(format!(" rules: {e}"), p.warn);
            }
        } else if let Some(e) = &self.past_error {
            note(format!(" {e}"), p.error);
        }
        if let Some(input) = &self.matcher_input {
            note(
                format!(" match: {input}█  (Enter applies, Esc cancels; empty clears)"),
                p.accent,
            );
            if let Some(e) = &self.matcher_error {
                note(format!(" {e}"), p.error);
            }
        } else if let Some((m, err)) = &self.message {
            note(format!(" {m}"), if *err { p.error } else { p.info });
        }
        if !self.loaded && self.past_at.is_none() {
            note(" loading…".into(), p.dim);
        }
        // Columns: state, since, severity, alertname, labels, markers/summary.
        let (stw, siw, svw, nw) = (10usize, 8usize, 9usize, 22usize);
        let rest = w.saturating_sub(stw + siw + svw + nw + 6);
        let lw = rest * 55 / 100;
        let mw = rest.saturating_sub(lw);
        lines.push(Line::from(vec![
            Span::raw("  "),
            widgets::cell("STATE", stw, p.dim, g),
            widgets::cell("SINCE", siw, p.dim, g),
            widgets::cell("SEVERITY", svw, p.dim, g),
            widgets::cell("ALERT", nw, p.dim, g),
            widgets::cell("LABELS", lw, p.dim, g),
            widgets::cell("MARKERS · SUMMARY", mw, p.dim, g),
        ]));
        // Time travel: the alert events of the hour before, below the list.
        let mut events: Vec<Line<'static>> = Vec::new();
        if self.past_at.is_some() {
            match &self.past_events {
                Some(Ok(ev)) => {
                    events.push(Line::from(Span::styled(
                        format!(" alert events in the hour before ({}):", ev.len()),
                        p.accent,
                    )));
                    for e in ev.iter().rev().take(8) {
                        events.push(Line::from(vec![
                            Span::styled(format!("  {} ", widgets::clock(e.at_ms)), p.dim),
                            Span::styled(
                                format!("{:<9}", e.event),
                                if e.event == "firing" { p.error } else { p.ok },
                            ),
                            Span::styled(labels_matchers(&e.labels), p.text),
                        ]));
                    }
                }
                Some(Err(e)) => events.push(Line::from(Span::styled(
                    format!(" alert events: {e}"),
                    p.dim,
                ))),
                None => {}
            }
        }
        let room = (area.height as usize).saturating_sub(lines.len());
        let shown_events = if room > events.len() + 3 {
            events.len()
        } else {
            0
        };
        let height = room - shown_events;
        self.list_height = height.max(1);
        if self.selected < self.offset {
            self.offset = self.selected;
        } else if self.selected >= self.offset + height {
            self.offset = self.selected + 1 - height;
        }
        if self.visible.is_empty() && self.loaded {
            lines.push(Line::from(Span::styled(
                if self.filter.is_some() || self.matcher_filter.is_some() {
                    "  no alert matches the filter"
                } else {
                    "  no alerts: all quiet"
                },
                p.dim,
            )));
        }
        let now = ctx.now_ms;
        for (i, row) in self
            .visible
            .iter()
            .enumerate()
            .skip(self.offset)
            .take(height)
        {
            let sel = i == self.selected;
            let mark = if sel { "▸ " } else { "  " };
            let line = match *row {
                Row::PendingHeader(n) => Line::from(vec![
                    Span::styled(mark, p.accent),
                    Span::styled(
                        format!("pending in the rule engine (not yet sent to Alertmanager): {n}"),
                        p.warn,
                    ),
                ]),
                Row::Group(gi, n) => {
                    let gr = &self.snap.groups[gi];
                    let arrow = if self.collapsed.contains(&gi) {
                        "▸"
                    } else {
                        "▾"
                    };
                    let suppressed = gr.alerts.iter().filter(|a| a.suppressed()).count();
                    Line::from(vec![
                        Span::styled(mark, p.accent),
                        Span::styled(format!("{arrow} "), p.accent),
                        Span::styled(labels_matchers(&gr.labels), p.accent),
                        Span::styled(format!(" → {}", gr.receiver), p.info),
                        Span::styled(
                            format!(
                                "  {n} alert{}{}",
                                if n == 1 { "" } else { "s" },
                                if suppressed > 0 {
                                    format!(", {suppressed} suppressed")
                                } else {
                                    String::new()
                                }
                            ),
                            p.dim,
                        ),
                    ])
                }
                Row::Alert(gi, ai) => {
                    let gr = &self.snap.groups[gi];
                    let a = &gr.alerts[ai];
                    let (state, st) = if !a.silenced_by.is_empty() {
                        ("silenced", p.dim)
                    } else if !a.inhibited_by.is_empty() {
                        ("inhibited", p.dim)
                    } else {
                        ("firing", p.error)
                    };
                    let mut markers = String::new();
                    if !a.silenced_by.is_empty() {
                        markers.push_str("[S]");
                    }
                    if !a.inhibited_by.is_empty() {
                        markers.push_str("[I]");
                    }
                    if !a.acked_by.is_empty() {
                        markers.push_str("[ACK]");
                    }
                    if a.annotations.contains_key("runbook_url") {
                        markers.push_str("[RB]");
                    }
                    let summary = a
                        .annotations
                        .get("summary")
                        .or(a.annotations.get("description"))
                        .cloned()
                        .unwrap_or_default();
                    alert_line(
                        mark,
                        (state, st),
                        now - a.starts_at_ms,
                        &a.labels,
                        &gr.labels,
                        format!("{markers} {summary}"),
                        (stw, siw, svw, nw, lw, mw),
                        ctx.palette,
                        g,
                    )
                }
                Row::Rule(ri) => {
                    let r = &self.snap.rule_alerts[ri];
                    let (state, st) = match r.state {
                        RuleAlertState::Pending => ("pending", p.warn),
                        RuleAlertState::Firing => ("firing", p.error),
                    };
                    let summary = r.annotations.get("summary").cloned().unwrap_or_default();
                    alert_line(
                        mark,
                        (state, st),
                        now - r.active_at_ms,
                        &r.labels,
                        &Labels::new(),
                        format!("value {} {summary}", fmt_value(r.value)),
                        (stw, siw, svw, nw, lw, mw),
                        ctx.palette,
                        g,
                    )
                }
                Row::Past(i) => {
                    let a = &self.past[i];
                    let st = if a.state == "firing" { p.error } else { p.warn };
                    alert_line(
                        mark,
                        (a.state.as_str(), st),
                        -1,
                        &a.labels,
                        &Labels::new(),
                        String::new(),
                        (stw, siw, svw, nw, lw, mw),
                        ctx.palette,
                        g,
                    )
                }
            };
            let line = if sel { line.style(p.selection) } else { line };
            lines.push(line);
        }
        if shown_events > 0 {
            let pad = (area.height as usize).saturating_sub(lines.len() + shown_events);
            lines.extend(std::iter::repeat_n(Line::from(""), pad));
            lines.extend(events.into_iter().take(shown_events));
        }
        f.render_widget(Paragraph::new(lines), area);
    }

    fn render_detail(&self, f: &mut Frame<'_>, area: Rect, ctx: &ViewCtx<'_>) {
        let p = ctx.palette;
        let block = Block::default()
            .borders(Borders::ALL)
            .border_style(p.accent)
            .title(" alert (Esc closes) ");
        let inner = block.inner(area);
        f.render_widget(block, area);
        let mut lines: Vec<Line> = Vec::new();
        let kv = |k: &str, v: String, style: Style| {
            Line::from(vec![
                Span::styled(format!("{k:<13}"), p.dim),
                Span::styled(v, style),
            ])
        };
        let (labels, annotations) = if let Some(a) = self.selected_alert() {
            lines.push(kv(
                "state",
                format!(
                    "{} since {} ({} ago)",
                    if a.suppressed() {
                        "suppressed"
                    } else {
                        "firing"
                    },
                    chart::format_time(a.starts_at_ms, 86_400_000 * 2),
                    widgets::duration(ctx.now_ms - a.starts_at_ms)
                ),
                if a.suppressed() { p.dim } else { p.error },
            ));
            for id in &a.silenced_by {
                let s = self.snap.silences.iter().find(|s| &s.id == id);
                lines.push(kv(
                    "silenced by",
                    match s {
                        Some(s) => format!(
                            "{} {} by {}: {} (ends in {})",
                            short_id(id),
                            s.matchers_text(),
                            s.created_by,
                            s.comment,
                            widgets::duration(s.ends_at_ms - ctx.now_ms)
                        ),
                        None => id.clone(),
                    },
                    p.warn,
                ));
            }
            for id in &a.acked_by {
                let k = self.snap.acks.iter().find(|k| &k.id == id);
                lines.push(kv(
                    "acked by",
                    match k {
                        Some(k) => format!(
                            "{}: {} ({})",
                            k.created_by,
                            k.comment,
                            match k.expires_at_ms {
                                Some(e) => format!("for {}", widgets::duration(e - ctx.now_ms)),
                                None => "until resolved".into(),
                            }
                        ),
                        None => id.clone(),
                    },
                    p.info,
                ));
            }
            (a.labels.clone(), a.annotations.clone())
        } else if let Some(r) = self.selected_rule() {
            lines.push(kv(
                "state",
                format!(
                    "{:?} since {} (value {})",
                    r.state,
                    chart::format_time(r.active_at_ms, 86_400_000 * 2),
                    fmt_value(r.value)
                )
                .to_lowercase(),
                p.warn,
            ));
            (r.labels.clone(), r.annotations.clone())
        } else {
            lines.push(Line::from(Span::styled("select an alert", p.dim)));
            (Labels::new(), Labels::new())
        };
        lines.push(kv("labels", labels_matchers(&labels), p.text));
        for (k, v) in &annotations {
            let style = if k == "runbook_url" { p.info } else { p.text };
            let name = if k == "runbook_url" {
                "runbook ↗"
            } else {
                k.as_str()
            };
            lines.push(kv(name, v.clone(), style));
        }
        // Route, notifications, inhibitions.
        match &self.inspect {
            Some((_, Ok(ins))) => {
                for path in &ins.route_paths {
                    lines.push(kv("route", path.join(" → "), p.text));
                }
                for (recv, key) in &ins.groups {
                    lines.push(kv("group", format!("{recv}: {key}"), p.dim));
                }
                if ins.notifications.is_empty() {
                    lines.push(kv(
                        "notified",
                        "not yet (waiting for group_wait, or nothing to send)".into(),
                        p.dim,
                    ));
                }
                for n in &ins.notifications {
                    lines.push(kv(
                        "notified",
                        format!(
                            "{} {} ago ({} firing, {} resolved{})",
                            n.integration,
                            widgets::duration(ctx.now_ms - n.at_ms),
                            n.firing,
                            n.resolved,
                            if n.includes_alert {
                                ""
                            } else {
                                "; not this alert yet"
                            }
                        ),
                        p.ok,
                    ));
                }
                for l in &ins.inhibited_by {
                    lines.push(kv(
                        "inhibited by",
                        format!("{} via {}", labels_matchers(&l.labels), l.rule),
                        p.warn,
                    ));
                }
                for l in &ins.inhibits {
                    lines.push(kv(
                        "inhibits",
                        format!("{} via {}", labels_matchers(&l.labels), l.rule),
                        p.info,
                    ));
                }
            }
            Some((_, Err(e))) => lines.push(kv("route", e.clone(), p.dim)),
            None => {
                if let Some(a) = self.selected_alert() {
                    lines.push(kv("receivers", a.receivers.join(", "), p.text));
                }
            }
        }
        // Rows the text takes once wrapped; the chart gets the rest (at least 8 rows
        // when the pane allows it).
        let width = inner.width.max(1) as usize;
        let wrapped: usize = lines.iter().map(|l| l.width().max(1).div_ceil(width)).sum();
        let text_h = (wrapped as u16).min(inner.height.saturating_sub(8).max(inner.height / 2));
        let [text, chart_area] =
            Layout::vertical([Constraint::Length(text_h), Constraint::Min(0)]).areas(inner);
        f.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), text);
        if let Some(c) = &self.chart {
            let title = match c.threshold {
                Some(t) => format!("{}   threshold {} {}", c.expr, c.op, fmt_value(t)),
                None => c.expr.clone(),
            };
            if chart_area.height < 5 {
                return;
            }
            let [t, body] =
                Layout::vertical([Constraint::Length(1), Constraint::Min(0)]).areas(chart_area);
            f.render_widget(
                Paragraph::new(Span::styled(
                    widgets::fit(&title, t.width as usize, ctx.glyphs),
                    p.accent,
                )),
                t,
            );
            match &c.result {
                None => f.render_widget(Paragraph::new(Span::styled("querying…", p.dim)), body),
                Some(Err(e)) => f.render_widget(
                    Paragraph::new(Span::styled(e.clone(), p.error)).wrap(Wrap { trim: false }),
                    body,
                ),
                Some(Ok(series)) => {
                    let thr_points: Vec<(i64, f64)> = match c.threshold {
                        Some(v) => {
                            let mut t = c.start_ms;
                            let mut pts = Vec::new();
                            while t <= c.end_ms {
                                pts.push((t, v));
                                t += c.step_ms;
                            }
                            pts
                        }
                        None => Vec::new(),
                    };
                    let mut lines: Vec<chart::Line> = series
                        .iter()
                        .enumerate()
                        .map(|(i, s)| chart::Line {
                            points: s,
                            color: p.series[i % p.series.len().max(1)],
                        })
                        .collect();
                    if !thr_points.is_empty() {
                        lines.push(chart::Line {
                            points: &thr_points,
                            color: p.error.fg.unwrap_or(ratatui::style::Color::Red),
                        });
                    }
                    let spec = chart::ChartSpec {
                        lines: &lines,
                        start_ms: c.start_ms,
                        end_ms: c.end_ms,
                        step_ms: c.step_ms,
                        unit: chart::infer_unit(&c.expr),
                        cursor_ms: self.selected_alert().map(|a| a.starts_at_ms),
                        y_range: None,
                    };
                    chart::draw(f.buffer_mut(), body, &spec, p, ctx.glyphs);
                }
            }
        }
    }
}

fn fmt_value(v: f64) -> String {
    if v.is_nan() {
        "-".into()
    } else if v == v.trunc() && v.abs() < 1e15 {
        format!("{v:.0}")
    } else {
        format!("{v:.4}")
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_string()
    }
}

fn short_id(id: &str) -> &str {
    id.get(..8).unwrap_or(id)
}

/// The text the `/` filter matches for an alert: labels, annotations, state markers.
fn alert_text(a: &AmAlert) -> String {
    let mut s = String::with_capacity(128);
    for (k, v) in &a.labels {
        s.push_str(k);
        s.push('=');
        s.push_str(v);
        s.push(' ');
    }
    for v in a.annotations.values() {
        s.push_str(v);
        s.push(' ');
    }
    s.push_str(if !a.silenced_by.is_empty() {
        "silenced"
    } else if !a.inhibited_by.is_empty() {
        "inhibited"
    } else {
        "firing"
    });
    if !a.acked_by.is_empty() {
        s.push_str(" acked");
    }
    s
}

fn rule_text(r: &RuleAlert) -> String {
    let mut s = String::new();
    for (k, v) in &r.labels {
        s.push_str(k);
        s.push('=');
        s.push_str(v);
        s.push(' ');
    }
    for v in r.annotations.values() {
        s.push_str(v);
        s.push(' ');
    }
    s.push_str(match r.state {
        RuleAlertState::Pending => "pending",
        RuleAlertState::Firing => "firing",
    });
    s
}

/// One alert row: state, since, severity, alertname, labels other than those, markers.
#[allow(clippy::too_many_arguments)]
fn alert_line(
    mark: &'static str,
    (state, st): (&str, Style),
    since_ms: i64,
    labels: &Labels,
    group: &Labels,
    tail: String,
    (stw, siw, svw, nw, lw, mw): (usize, usize, usize, usize, usize, usize),
    p: &Palette,
    g: crate::tui::view::Glyphs,
) -> Line<'static> {
    let sev = labels.get("severity").map(String::as_str).unwrap_or("");
    let sev_style = match sev {
        "critical" | "page" | "error" => p.error,
        "warning" | "warn" => p.warn,
        _ => p.info,
    };
    let mut rest = String::new();
    for (k, v) in labels {
        if k == "alertname" || k == "severity" || group.get(k) == Some(v) {
            continue;
        }
        if !rest.is_empty() {
            rest.push(' ');
        }
        rest.push_str(k);
        rest.push('=');
        rest.push_str(v);
    }
    Line::from(vec![
        Span::styled(mark, p.accent),
        widgets::cell(state, stw, st, g),
        widgets::cell(
            &if since_ms < 0 {
                "-".to_string()
            } else {
                widgets::duration(since_ms)
            },
            siw,
            p.dim,
            g,
        ),
        widgets::cell(sev, svw, sev_style, g),
        widgets::cell(
            labels.get("alertname").map(String::as_str).unwrap_or(""),
            nw,
            p.text,
            g,
        ),
        widgets::cell(&rest, lw, p.dim, g),
        widgets::cell(tail.trim(), mw, p.text, g),
    ])
}

impl View for AlertsView {
    fn name(&self) -> &'static str {
        "alerts"
    }

    fn key_hints(&self) -> Vec<(&'static str, &'static str)> {
        vec![
            ("Enter", "detail"),
            ("a", "acknowledge"),
            ("s", "silence"),
            ("m", "match {label=\"v\"}"),
            ("Space", "fold group"),
            ("A", "acknowledge group"),
            ("r", "refresh"),
            ("j/k PgUp/PgDn g/G", "move"),
            ("Esc", "close pane / form"),
        ]
    }

    fn captures_text(&self) -> bool {
        self.editor.is_some() || self.ack.is_some() || self.matcher_input.is_some()
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
                    self.editor = None;
                    if let Some(src) = &self.source {
                        self.action.start(ctx.runtime, src.create_silence(d));
                        self.set_message("creating the silence…", false);
                    }
                }
            }
            return Handled::Consumed;
        }
        if let Some(form) = self.ack.as_mut() {
            match form.on_key(key, ctx.now_ms) {
                FormOutcome::Open => {}
                FormOutcome::Cancelled => self.ack = None,
                FormOutcome::Submit(d) => {
                    self.ack = None;
                    if let Some(src) = &self.source {
                        self.action.start(ctx.runtime, src.ack(d));
                        self.set_message("acknowledging…", false);
                    }
                }
            }
            return Handled::Consumed;
        }
        if let Some(input) = self.matcher_input.as_mut() {
            match key.code {
                KeyCode::Esc => {
                    self.matcher_input = None;
                    self.matcher_error = None;
                }
                KeyCode::Enter => {
                    let t = input.clone();
                    match self.set_matcher_filter(&t) {
                        Ok(()) => {
                            self.matcher_input = None;
                            self.matcher_error = None;
                        }
                        Err(e) => self.matcher_error = Some(e),
                    }
                }
                KeyCode::Backspace => {
                    input.pop();
                }
                KeyCode::Char(c) => input.push(c),
                _ => {}
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
            KeyCode::Char(' ') => {
                if let Some(gi) = self.selected_group() {
                    if !self.collapsed.remove(&gi) {
                        self.collapsed.insert(gi);
                    }
                    self.rebuild();
                    if let Some(i) = self
                        .visible
                        .iter()
                        .position(|r| matches!(r, Row::Group(g, _) if *g == gi))
                    {
                        self.selected = i;
                    }
                }
            }
            KeyCode::Enter | KeyCode::Char('l') | KeyCode::Right => {
                if self.detail {
                    self.detail = false;
                } else {
                    self.open_detail(ctx);
                }
            }
            KeyCode::Char('a') => self.start_ack(false),
            KeyCode::Char('A') => self.start_ack(true),
            KeyCode::Char('s') => self.start_silence(),
            KeyCode::Char('m') => {
                self.matcher_input = Some(
                    self.matcher_filter
                        .as_ref()
                        .map(|(t, _)| t.clone())
                        .unwrap_or_default(),
                );
            }
            KeyCode::Esc | KeyCode::Char('h') | KeyCode::Left if self.detail => {
                self.detail = false;
            }
            KeyCode::Esc if self.matcher_filter.is_some() => {
                self.matcher_filter = None;
                self.rebuild();
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

    fn command(
        &mut self,
        name: &str,
        args: &str,
        _ctx: &mut ViewCtx<'_>,
    ) -> Option<Result<(), String>> {
        match name {
            "match" => Some(self.set_matcher_filter(args)),
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
        if let Some(r) = self.inspect_task.poll() {
            if let Some((fp, _)) = self.inspect.take() {
                self.inspect = Some((fp, r.map_err(|e| e.to_string())));
            }
        }
        if let Some(r) = self.chart_task.poll() {
            if let Some(c) = self.chart.as_mut() {
                c.result = Some(r.map(|a| match a.data {
                    QueryData::Matrix(m) | QueryData::Vector(m) => {
                        m.into_iter().map(|s| s.points).collect()
                    }
                    QueryData::Scalar { t, v } => vec![vec![(t, v)]],
                    QueryData::String { .. } => Vec::new(),
                }));
            }
        }
        if let Some(r) = self.action.poll() {
            match r {
                Ok(id) => self.set_message(
                    format!(
                        "done ({}); visible to amtool and the API now",
                        short_id(&id)
                    ),
                    false,
                ),
                Err(e) => self.set_message(e.to_string(), true),
            }
            self.fetched_at = i64::MIN;
        }
        // Time travel: the ALERTS series at the moment.
        match ctx.range.end_ms {
            Some(t) => {
                if self.past_at != Some(t) {
                    self.past_at = Some(t);
                    self.past.clear();
                    self.past_error = None;
                    self.detail = false;
                    self.past_task
                        .start(ctx.runtime, self.console.instant_query("ALERTS".into(), t));
                    self.past_events = None;
                    if let Some(src) = &self.source {
                        self.past_events_task
                            .start(ctx.runtime, src.history(t - 3_600_000, t));
                    }
                    self.rebuild();
                }
                if let Some(r) = self.past_events_task.poll() {
                    self.past_events = Some(r.map_err(|e| e.to_string()));
                }
                if let Some(r) = self.past_task.poll() {
                    match r {
                        Ok(a) => {
                            let mut v: Vec<PastAlert> = match a.data {
                                QueryData::Vector(v) | QueryData::Matrix(v) => v
                                    .into_iter()
                                    .map(|s| {
                                        let mut labels: Labels = s.labels.into_iter().collect();
                                        labels.remove("__name__");
                                        let state = labels.remove("alertstate").unwrap_or_default();
                                        PastAlert { labels, state }
                                    })
                                    .collect(),
                                _ => Vec::new(),
                            };
                            // Firing first, then pending, each by labels.
                            v.sort_by(|a, b| {
                                (a.state != "firing", &a.labels)
                                    .cmp(&(b.state != "firing", &b.labels))
                            });
                            self.past = v;
                        }
                        Err(e) => self.past_error = Some(format!("ALERTS at that moment: {e}")),
                    }
                    self.rebuild();
                }
                return;
            }
            None if self.past_at.is_some() => {
                self.past_at = None;
                self.past.clear();
                self.past_task.cancel();
                self.past_events_task.cancel();
                self.past_events = None;
                self.rebuild();
            }
            None => {}
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
        if self.detail {
            let [list, detail] = if area.width >= 160 {
                Layout::horizontal([Constraint::Percentage(45), Constraint::Percentage(55)])
                    .areas(area)
            } else {
                Layout::vertical([Constraint::Percentage(35), Constraint::Percentage(65)])
                    .areas(area)
            };
            self.render_list(f, list, ctx);
            self.render_detail(f, detail, ctx);
        } else {
            self.render_list(f, area, ctx);
        }
        if let Some(ed) = &self.editor {
            ed.render(f, area, ctx.palette, ctx.glyphs, ctx.now_ms);
        }
        if let Some(form) = &self.ack {
            form.render(f, area, ctx.palette);
        }
    }

    fn busy_since(&self) -> Option<Instant> {
        self.action
            .busy_since()
            .or(self.past_task.busy_since())
            .or(if self.loaded {
                None
            } else {
                self.task.busy_since()
            })
    }

    fn cancel(&mut self) {
        self.action.cancel();
        self.past_task.cancel();
        self.chart_task.cancel();
        if !self.loaded {
            self.task.cancel();
        }
    }
}
