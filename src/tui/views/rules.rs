//! Rules: every rule group with its interval, last evaluation, evaluation time, health
//! and last error; under each group its rules, and under each alerting rule its pending
//! and firing alerts with active-since and value. Enter opens the rule's file at the
//! rule's line beside the list, `e` opens `$EDITOR` there (the frame suspends the
//! terminal, see [`take_editor_request`]), `b` backtests the alerting rule (the Backtest
//! view opens with it).
//!
//! Time travel: when the frame's range ends in the past (`ctx.range.end_ms`), the
//! alerts shown are those of the `ALERTS` series at that moment (active-since from
//! `ALERTS_FOR_STATE`), read-only; health and evaluation columns are today's.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use crossterm::event::{KeyCode, KeyEvent, MouseEvent};
use parking_lot::Mutex;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};
use ratatui::Frame;

use crate::rules::backtest::BacktestRule;
use crate::tui::backend::rules::{alerts_from_series, AlertRow, GroupRow, RuleRow, RulesSource};
use crate::tui::backend::BackendError;
use crate::tui::console::source::{ConsoleSource, QueryAnswer, QueryData, SourceError};
use crate::tui::task::Task;
use crate::tui::view::{Filter, Glyphs, Handled, Palette, View, ViewCtx};
use crate::tui::views::backtest::BacktestHandoff;
use crate::tui::widgets;

const REFRESH_MS: i64 = 5_000;

/// A request to open `$EDITOR` at a file and line, taken by the frame's event loop,
/// which suspends the terminal (and its input reader) around the editor.
static EDITOR_REQUEST: Mutex<Option<(PathBuf, Option<usize>)>> = Mutex::new(None);

/// Asks the frame to open `$EDITOR` (or `$VISUAL`, else `vi`) at `file:line`.
pub fn request_editor(file: PathBuf, line: Option<usize>) {
    *EDITOR_REQUEST.lock() = Some((file, line));
}

/// The pending editor request, once.
pub fn take_editor_request() -> Option<(PathBuf, Option<usize>)> {
    EDITOR_REQUEST.lock().take()
}

/// The editor command for `file:line`: `$VISUAL`, `$EDITOR` or `vi`, with `+LINE FILE`
/// (understood by vi, vim, nvim, nano, emacs, micro, helix, kakoune) or, for VS Code,
/// `--goto FILE:LINE`. The variable may carry arguments (`code --wait`).
pub fn editor_command(file: &Path, line: Option<usize>) -> std::process::Command {
    let editor = std::env::var("VISUAL")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .or_else(|| {
            std::env::var("EDITOR")
                .ok()
                .filter(|v| !v.trim().is_empty())
        })
        .unwrap_or_else(|| "vi".into());
    editor_command_for(&editor, file, line)
}

/// [`editor_command`] for the editor command line `editor`.
fn editor_command_for(editor: &str, file: &Path, line: Option<usize>) -> std::process::Command {
    let mut parts = editor.split_whitespace();
    let prog = parts.next().unwrap_or("vi").to_string();
    let mut cmd = std::process::Command::new(&prog);
    cmd.args(parts);
    let base = Path::new(&prog)
        .file_name()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_default();
    match (line, base.as_str()) {
        (Some(l), "code" | "codium" | "code-insiders") => {
            cmd.arg("--goto").arg(format!("{}:{l}", file.display()));
        }
        (Some(l), _) => {
            cmd.arg(format!("+{l}")).arg(file);
        }
        (None, _) => {
            cmd.arg(file);
        }
    }
    cmd
}

/// Alerts at a past moment, by alert name.
type AlertsByName = HashMap<String, Vec<AlertRow>>;

/// One line of the list.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Row {
    Group(usize),
    Rule(usize, usize),
    Alert(usize, usize, usize),
}

/// The Rules view.
pub struct RulesView {
    source: Option<Arc<dyn RulesSource>>,
    console: Arc<dyn ConsoleSource>,
    backtest: BacktestHandoff,
    groups: Vec<GroupRow>,
    error: Option<String>,
    loaded: bool,
    task: Task<Result<Vec<GroupRow>, BackendError>>,
    fetched_at: i64,
    /// The past moment shown and its alerts by alert name (`None`: live).
    history: Option<(i64, Result<AlertsByName, String>)>,
    history_task: Task<(i64, Result<QueryAnswer, SourceError>)>,
    filter: Option<Filter>,
    /// Rules (group, index) whose alerts are folded.
    folded: BTreeSet<(usize, usize)>,
    visible: Vec<Row>,
    selected: usize,
    offset: usize,
    list_height: usize,
    /// Enter: the selected rule's file is shown beside the list.
    show_file: bool,
    file_scroll: usize,
    switch: Option<&'static str>,
    status: Option<String>,
    /// History set directly (tests): kept while the frame's range is live.
    history_pinned: bool,
}

impl RulesView {
    pub fn new(
        source: Option<Arc<dyn RulesSource>>,
        console: Arc<dyn ConsoleSource>,
        backtest: BacktestHandoff,
    ) -> RulesView {
        RulesView {
            source,
            console,
            backtest,
            groups: Vec::new(),
            error: None,
            loaded: false,
            task: Task::default(),
            fetched_at: i64::MIN,
            history: None,
            history_task: Task::default(),
            filter: None,
            folded: BTreeSet::new(),
            visible: Vec::new(),
            selected: 0,
            offset: 0,
            list_height: 10,
            show_file: false,
            file_scroll: 0,
            switch: None,
            status: None,
            history_pinned: false,
        }
    }

    /// Sets the groups directly (snapshot tests).
    pub fn set_groups(&mut self, groups: Vec<GroupRow>, now_ms: i64) {
        self.fetched_at = now_ms;
        self.apply(Ok(groups));
    }

    /// Sets the historical `ALERTS` answer for `t` directly (snapshot tests).
    pub fn set_history(&mut self, t: i64, alerts: QueryAnswer) {
        self.history = Some((t, Ok(history_alerts(&alerts))));
        self.history_pinned = true;
        self.rebuild();
    }

    /// Selects the first rule named `name` and opens its file pane (snapshot tests).
    pub fn open_rule(&mut self, name: &str) {
        if let Some(i) = self
            .visible
            .iter()
            .position(|r| matches!(r, Row::Rule(g, k) if self.groups[*g].rules[*k].name == name))
        {
            self.selected = i;
            self.show_file = true;
        }
    }

    fn apply(&mut self, r: Result<Vec<GroupRow>, BackendError>) {
        self.loaded = true;
        match r {
            Ok(g) => {
                let sel = self.selected_key();
                self.groups = g;
                self.error = None;
                self.rebuild();
                if let Some(k) = sel {
                    if let Some(i) = self.visible.iter().position(|r| self.key_of(*r) == k) {
                        self.selected = i;
                    }
                }
            }
            Err(e) => self.error = Some(e.to_string()),
        }
    }

    /// A stable identity of a row across refreshes.
    fn key_of(&self, r: Row) -> (String, String, usize) {
        match r {
            Row::Group(g) => (self.groups[g].name.clone(), String::new(), 0),
            Row::Rule(g, k) | Row::Alert(g, k, _) => (
                self.groups[g].name.clone(),
                self.groups[g].rules[k].name.clone(),
                k,
            ),
        }
    }

    fn selected_key(&self) -> Option<(String, String, usize)> {
        self.visible.get(self.selected).map(|r| self.key_of(*r))
    }

    /// The alerts of a rule: today's, or those at the time-travel moment.
    fn alerts_of<'a>(&'a self, r: &'a RuleRow) -> &'a [AlertRow] {
        match &self.history {
            Some((_, Ok(m))) => m.get(&r.name).map(Vec::as_slice).unwrap_or(&[]),
            Some((_, Err(_))) => &[],
            None => &r.alerts,
        }
    }

    fn rule_text(g: &GroupRow, r: &RuleRow) -> String {
        let mut s = format!("{} {} {} {} {}", g.name, g.file, r.name, r.kind, r.expr);
        for (k, v) in &r.labels {
            s.push_str(&format!(" {k}={v}"));
        }
        s.push(' ');
        s.push_str(&r.health);
        s.push(' ');
        s.push_str(&r.last_error);
        s
    }

    fn rebuild(&mut self) {
        let mut visible = Vec::new();
        for (gi, g) in self.groups.iter().enumerate() {
            let head = visible.len();
            visible.push(Row::Group(gi));
            let group_hit = self
                .filter
                .as_ref()
                .is_none_or(|f| f.keeps(&format!("{} {}", g.name, g.file)));
            for (ri, r) in g.rules.iter().enumerate() {
                let alerts = self.alerts_of(r);
                let rule_hit = group_hit
                    || self.filter.as_ref().is_none_or(|f| {
                        f.keeps(&Self::rule_text(g, r))
                            || alerts.iter().any(|a| f.keeps(&alert_text(a)))
                    });
                if !rule_hit {
                    continue;
                }
                visible.push(Row::Rule(gi, ri));
                if !self.folded.contains(&(gi, ri)) {
                    for ai in 0..alerts.len() {
                        visible.push(Row::Alert(gi, ri, ai));
                    }
                }
            }
            if visible.len() == head + 1 && !group_hit {
                visible.truncate(head);
            }
        }
        self.visible = visible;
        if self.selected >= self.visible.len() {
            self.selected = self.visible.len().saturating_sub(1);
        }
    }

    fn selected_rule(&self) -> Option<(&GroupRow, &RuleRow)> {
        match *self.visible.get(self.selected)? {
            Row::Group(g) => self.groups.get(g).and_then(|g| Some((g, g.rules.first()?))),
            Row::Rule(g, r) | Row::Alert(g, r, _) => {
                let g = self.groups.get(g)?;
                Some((g, g.rules.get(r)?))
            }
        }
    }

    /// The file and line of the selected row (a group's own line on a group row).
    fn selected_location(&self) -> Option<(PathBuf, Option<usize>)> {
        match *self.visible.get(self.selected)? {
            Row::Group(g) => {
                let g = self.groups.get(g)?;
                Some((PathBuf::from(&g.file), g.line))
            }
            Row::Rule(g, r) | Row::Alert(g, r, _) => {
                let g = self.groups.get(g)?;
                Some((PathBuf::from(&g.file), g.rules.get(r)?.line))
            }
        }
    }

    fn move_by(&mut self, d: isize) {
        self.selected = widgets::moved(self.selected, d, self.visible.len());
        self.file_scroll = 0;
    }

    fn start_backtest(&mut self) {
        let Some((_, r)) = self.selected_rule() else {
            return;
        };
        if r.kind != "alerting" {
            self.status = Some(format!(
                "{} is a recording rule: nothing to backtest",
                r.name
            ));
            return;
        }
        match BacktestRule::parse(&r.name, &r.expr, r.for_ms, r.keep_firing_for_ms) {
            Ok(mut b) => {
                b.labels = r.labels.iter().cloned().collect();
                self.backtest.send(b);
                self.switch = Some("backtest");
            }
            Err(e) => self.status = Some(e.to_string()),
        }
    }

    fn render_list(&mut self, f: &mut Frame<'_>, area: Rect, ctx: &ViewCtx<'_>) {
        let p = ctx.palette;
        let g = ctx.glyphs;
        let w = area.width as usize;
        let height = area.height.saturating_sub(1) as usize;
        self.list_height = height.max(1);
        if self.selected < self.offset {
            self.offset = self.selected;
        } else if self.selected >= self.offset + height {
            self.offset = self.selected + 1 - height;
        }
        let mut lines: Vec<Line> = Vec::with_capacity(height + 1);
        lines.push(self.summary_line(ctx));
        // Columns of rule rows: name, state, health, last eval, eval time, expression.
        let (sw, hw, lw, dw) = (16usize, 8usize, 9usize, 8usize);
        let nw = (w.saturating_sub(sw + hw + lw + dw + 8) * 40 / 100).clamp(10, 40);
        let ew = w.saturating_sub(nw + sw + hw + lw + dw + 8);
        let historical = self.history.is_some();
        for (i, row) in self
            .visible
            .iter()
            .enumerate()
            .skip(self.offset)
            .take(height)
        {
            let sel = i == self.selected;
            let line = match *row {
                Row::Group(gi) => {
                    let gr = &self.groups[gi];
                    let hs = crate::tui::app::health_style(p, gr.health());
                    let loc = match gr.line {
                        Some(l) => format!("{}:{l}", gr.file),
                        None => gr.file.clone(),
                    };
                    let mut spans = vec![
                        Span::styled(format!("{} ", gr.name), p.accent),
                        Span::styled(format!("{loc} "), p.dim),
                        Span::styled(
                            format!("every {} ", widgets::duration(gr.interval_ms)),
                            p.text,
                        ),
                        Span::styled(
                            format!("last {} ", widgets::ago(ctx.now_ms, gr.last_eval_ms)),
                            p.dim,
                        ),
                        Span::styled(format!("took {} ", secs(gr.eval_seconds)), p.dim),
                        Span::styled(gr.health().to_string(), hs),
                    ];
                    if let Some(e) = gr.last_error() {
                        spans.push(Span::styled(format!("  {e}"), p.error));
                    }
                    Line::from(spans)
                }
                Row::Rule(gi, ri) => {
                    let r = &self.groups[gi].rules[ri];
                    let alerts = self.alerts_of(r);
                    let firing = alerts.iter().filter(|a| a.state == "firing").count();
                    let pending = alerts.iter().filter(|a| a.state == "pending").count();
                    let (state, st_style) = if r.kind != "alerting" {
                        ("recording".to_string(), p.dim)
                    } else if firing > 0 {
                        (format!("firing {firing}{}", plus(pending)), p.error)
                    } else if pending > 0 {
                        (format!("pending {pending}"), p.warn)
                    } else {
                        ("inactive".to_string(), p.ok)
                    };
                    let kind = if r.kind == "alerting" {
                        "  alert "
                    } else {
                        "  rec   "
                    };
                    let hs = crate::tui::app::health_style(p, &r.health);
                    let mut spans = vec![
                        Span::styled(kind, p.dim),
                        widgets::cell(&r.name, nw, p.text, g),
                        widgets::cell(&state, sw, st_style, g),
                    ];
                    if historical {
                        spans.push(widgets::cell("(at t)", hw + lw + dw + 2, p.dim, g));
                    } else {
                        spans.push(widgets::cell(&r.health, hw, hs, g));
                        spans.push(widgets::cell(
                            &widgets::ago(ctx.now_ms, r.last_eval_ms),
                            lw,
                            p.dim,
                            g,
                        ));
                        spans.push(widgets::cell(&secs(r.eval_seconds), dw, p.dim, g));
                    }
                    if !r.last_error.is_empty() && !historical {
                        spans.push(widgets::cell(&r.last_error, ew, p.error, g));
                    } else {
                        spans.push(widgets::cell(&r.expr, ew, p.syntax.metric, g));
                    }
                    Line::from(spans)
                }
                Row::Alert(gi, ri, ai) => {
                    let r = &self.groups[gi].rules[ri];
                    let a = &self.alerts_of(r)[ai];
                    let st = if a.state == "firing" { p.error } else { p.warn };
                    let labels: Vec<String> = a
                        .labels
                        .iter()
                        .filter(|(k, _)| k != "alertname")
                        .map(|(k, v)| format!("{k}=\"{v}\""))
                        .collect();
                    let since = match a.active_at_ms {
                        Some(t) => format!(
                            "since {}",
                            widgets::duration(
                                self.history
                                    .as_ref()
                                    .map(|(h, _)| *h)
                                    .or(ctx.range.end_ms)
                                    .unwrap_or(ctx.now_ms)
                                    - t
                            )
                        ),
                        None => String::new(),
                    };
                    let value = if a.value.is_nan() {
                        String::new()
                    } else {
                        format!("value {}", widgets::si(a.value))
                    };
                    let lw2 = w.saturating_sub(8 + 9 + 14 + 14);
                    Line::from(vec![
                        Span::raw("        "),
                        widgets::cell(&a.state, 8, st, g),
                        widgets::cell(&since, 13, p.dim, g),
                        widgets::cell(&value, 13, p.text, g),
                        widgets::cell(&format!("{{{}}}", labels.join(", ")), lw2, p.text, g),
                    ])
                }
            };
            lines.push(if sel { line.style(p.selection) } else { line });
        }
        if self.visible.is_empty() {
            let msg = if self.source.is_none() {
                "rules are not available from this backend".to_string()
            } else if !self.loaded {
                "loading rules…".to_string()
            } else if let Some(e) = &self.error {
                e.clone()
            } else if self.groups.is_empty() {
                "no rule groups (rule_files in the configuration)".into()
            } else {
                "no rule matches the filter".into()
            };
            lines.push(Line::from(Span::styled(format!(" {msg}"), p.dim)));
        }
        f.render_widget(Paragraph::new(lines), area);
    }

    fn summary_line(&self, ctx: &ViewCtx<'_>) -> Line<'static> {
        let p = ctx.palette;
        let rules: usize = self.groups.iter().map(|g| g.rules.len()).sum();
        let (mut firing, mut pending) = (0usize, 0usize);
        for g in &self.groups {
            for r in &g.rules {
                for a in self.alerts_of(r) {
                    match a.state.as_str() {
                        "firing" => firing += 1,
                        "pending" => pending += 1,
                        _ => {}
                    }
                }
            }
        }
        let mut spans = vec![
            Span::styled(
                format!("{} groups, {rules} rules  ", self.groups.len()),
                p.dim,
            ),
            Span::styled(
                format!("{firing} firing"),
                if firing > 0 { p.error } else { p.dim },
            ),
            Span::styled(format!("  {pending} pending"), p.warn),
        ];
        match &self.history {
            Some((t, Ok(_))) => spans.push(Span::styled(
                format!(
                    "  at {} (from ALERTS, read-only)",
                    crate::model::time::format_rfc3339(*t)
                ),
                p.info,
            )),
            Some((t, Err(e))) => spans.push(Span::styled(
                format!("  at {}: {e}", crate::model::time::format_rfc3339(*t)),
                p.error,
            )),
            None => {}
        }
        if let Some(s) = &self.status {
            spans.push(Span::styled(format!("  {s}"), p.warn));
        }
        Line::from(spans)
    }

    fn render_file(&self, f: &mut Frame<'_>, area: Rect, ctx: &ViewCtx<'_>) {
        let p = ctx.palette;
        let Some((file, line)) = self.selected_location() else {
            return;
        };
        let mut lines: Vec<Line> = Vec::new();
        if let Some((_, r)) = self.selected_rule() {
            lines.push(Line::from(vec![
                Span::styled(format!("{} ", r.kind), p.dim),
                Span::styled(r.name.clone(), p.accent),
                Span::styled(
                    if r.kind == "alerting" {
                        format!(
                            "  for {}  keep_firing_for {}",
                            widgets::duration(r.for_ms),
                            widgets::duration(r.keep_firing_for_ms)
                        )
                    } else {
                        String::new()
                    },
                    p.dim,
                ),
            ]));
            for (k, v) in r.annotations.iter().filter(|(k, _)| k == "runbook_url") {
                lines.push(Line::from(Span::styled(format!("{k}: {v}"), p.info)));
            }
        }
        lines.extend(file_lines(
            &file,
            line,
            area.height.saturating_sub(2 + lines.len() as u16) as usize,
            self.file_scroll,
            p,
            ctx.glyphs,
        ));
        let title = match line {
            Some(l) => format!(" {}:{l} (e edits) ", file.display()),
            None => format!(" {} (e edits) ", file.display()),
        };
        f.render_widget(
            Paragraph::new(lines).block(
                Block::default()
                    .borders(Borders::ALL)
                    .border_style(p.border)
                    .title(Span::styled(title, p.accent)),
            ),
            area,
        );
    }
}

/// `+2` when there are pending alerts beside firing ones.
fn plus(pending: usize) -> String {
    if pending > 0 {
        format!(" +{pending}p")
    } else {
        String::new()
    }
}

fn secs(s: f64) -> String {
    if s <= 0.0 {
        "-".into()
    } else if s < 1.0 {
        format!("{:.1}ms", s * 1000.0)
    } else {
        format!("{s:.2}s")
    }
}

fn alert_text(a: &AlertRow) -> String {
    let mut s = a.state.clone();
    for (k, v) in &a.labels {
        s.push_str(&format!(" {k}={v}"));
    }
    s
}

/// Alerts by name from an instant query of `ALERTS` and `ALERTS_FOR_STATE` (active
/// since), as the rule manager wrote them at that moment.
pub fn history_alerts(answer: &QueryAnswer) -> HashMap<String, Vec<AlertRow>> {
    let series = match &answer.data {
        QueryData::Vector(v) | QueryData::Matrix(v) => v.as_slice(),
        _ => &[],
    };
    let name_of = |s: &crate::tui::console::source::SeriesData| {
        s.labels
            .iter()
            .find(|(k, _)| k == "__name__")
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let alerts: Vec<_> = series
        .iter()
        .filter(|s| name_of(s) == "ALERTS")
        .cloned()
        .collect();
    let mut by_name = alerts_from_series(&alerts);
    // ALERTS_FOR_STATE carries activeAt (seconds) under the same labels minus alertstate.
    let mut since: HashMap<Vec<(String, String)>, i64> = HashMap::new();
    for s in series.iter().filter(|s| name_of(s) == "ALERTS_FOR_STATE") {
        let labels: Vec<(String, String)> = s
            .labels
            .iter()
            .filter(|(k, _)| k != "__name__")
            .cloned()
            .collect();
        if let Some((_, v)) = s.points.last() {
            since.insert(labels, (*v * 1000.0) as i64);
        }
    }
    for v in by_name.values_mut() {
        for a in v.iter_mut() {
            a.active_at_ms = since.get(&a.labels).copied();
        }
    }
    by_name
}

/// A file's lines around `line` (1-based, highlighted), numbered, scrolled by `scroll`.
pub fn file_lines(
    file: &Path,
    line: Option<usize>,
    height: usize,
    scroll: usize,
    p: &Palette,
    g: Glyphs,
) -> Vec<Line<'static>> {
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) => {
            return vec![Line::from(Span::styled(
                format!("cannot read {}: {e}", file.display()),
                p.error,
            ))]
        }
    };
    let all: Vec<&str> = text.lines().collect();
    let target = line.unwrap_or(1).max(1);
    // The target line a quarter down the pane.
    let first = target.saturating_sub(height / 4).max(1) + scroll;
    let width = all.len().to_string().len();
    let mark = if g == Glyphs::Ascii { ">" } else { "▶" };
    all.iter()
        .enumerate()
        .skip(first - 1)
        .take(height)
        .map(|(i, l)| {
            let n = i + 1;
            let here = Some(n) == line;
            Line::from(vec![
                Span::styled(
                    format!("{}{n:>width$} ", if here { mark } else { " " }),
                    if here { p.accent } else { p.dim },
                ),
                Span::styled(l.to_string(), if here { p.selection } else { p.text }),
            ])
        })
        .collect()
}

impl View for RulesView {
    fn name(&self) -> &'static str {
        "rules"
    }
    fn aliases(&self) -> &'static [&'static str] {
        &["rule", "ru"]
    }
    fn key_hints(&self) -> Vec<(&'static str, &'static str)> {
        vec![
            ("j/k", "move"),
            ("Enter", "show file at rule"),
            ("e", "edit in $EDITOR"),
            ("b", "backtest rule"),
            ("Space", "fold alerts"),
            ("r", "refresh"),
            ("g/G", "top/bottom"),
            ("PgUp/PgDn", "page"),
            ("Esc", "close file"),
        ]
    }
    fn on_key(&mut self, key: KeyEvent, _ctx: &mut ViewCtx<'_>) -> Handled {
        self.status = None;
        let page = self.list_height as isize;
        if let Some(d) = widgets::list_motion(key.code, page, self.visible.len()) {
            self.move_by(d);
            return Handled::Consumed;
        }
        match key.code {
            KeyCode::Char('J') if self.show_file => self.file_scroll += 1,
            KeyCode::Char('K') if self.show_file => {
                self.file_scroll = self.file_scroll.saturating_sub(1)
            }
            KeyCode::Enter | KeyCode::Char('l') | KeyCode::Right => {
                self.show_file = true;
                self.file_scroll = 0;
            }
            KeyCode::Esc | KeyCode::Char('h') | KeyCode::Left if self.show_file => {
                self.show_file = false;
            }
            KeyCode::Char('e') => match self.selected_location() {
                Some((file, line)) if !file.as_os_str().is_empty() => request_editor(file, line),
                _ => self.status = Some("no rule file to edit".into()),
            },
            KeyCode::Char('b') => self.start_backtest(),
            KeyCode::Char('r') => self.fetched_at = i64::MIN,
            KeyCode::Char(' ') => {
                if let Some(Row::Rule(g, r) | Row::Alert(g, r, _)) =
                    self.visible.get(self.selected).copied()
                {
                    if !self.folded.remove(&(g, r)) {
                        self.folded.insert((g, r));
                    }
                    self.rebuild();
                    if let Some(i) = self.visible.iter().position(|x| *x == Row::Rule(g, r)) {
                        self.selected = i;
                    }
                }
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
    fn tick(&mut self, ctx: &mut ViewCtx<'_>) {
        if let Some(r) = self.task.poll() {
            if r.is_err() {
                self.fetched_at = ctx.now_ms - REFRESH_MS + 1_000;
            }
            self.apply(r);
        }
        if let Some((t, r)) = self.history_task.poll() {
            self.history = Some((t, r.map(|a| history_alerts(&a))));
            self.rebuild();
        }
        match ctx.range.end_ms {
            Some(t) => {
                let have = self.history.as_ref().map(|(h, _)| *h);
                if have != Some(t) && !self.history_task.is_busy() {
                    let q = self
                        .console
                        .instant_query("{__name__=~\"ALERTS|ALERTS_FOR_STATE\"}".into(), t);
                    self.history_task
                        .start(ctx.runtime, Box::pin(async move { (t, q.await) }));
                }
            }
            None if self.history_pinned => {}
            None => {
                if self.history.take().is_some() {
                    self.history_task.cancel();
                    self.rebuild();
                }
            }
        }
        if let Some(src) = &self.source {
            if !self.task.is_busy() && ctx.now_ms.saturating_sub(self.fetched_at) >= REFRESH_MS {
                self.fetched_at = ctx.now_ms;
                self.task.start(ctx.runtime, src.groups());
            }
        }
    }
    fn busy_since(&self) -> Option<Instant> {
        self.history_task.busy_since().or(if self.loaded {
            None
        } else {
            self.task.busy_since()
        })
    }
    fn cancel(&mut self) {
        self.history_task.cancel();
        if !self.loaded {
            self.task.cancel();
        }
    }
    fn switch_request(&mut self) -> Option<&'static str> {
        self.switch.take()
    }
    fn render(&mut self, f: &mut Frame<'_>, area: Rect, ctx: &ViewCtx<'_>) {
        if !self.show_file {
            self.render_list(f, area, ctx);
            return;
        }
        let [list, file] = if area.width >= 140 {
            Layout::horizontal([Constraint::Percentage(55), Constraint::Percentage(45)]).areas(area)
        } else {
            Layout::vertical([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(area)
        };
        self.render_list(f, list, ctx);
        self.render_file(f, file, ctx);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(c: &std::process::Command) -> Vec<String> {
        std::iter::once(c.get_program())
            .chain(c.get_args())
            .map(|s| s.to_string_lossy().to_string())
            .collect()
    }

    #[test]
    fn editor_command_lines() {
        let f = Path::new("/r/rules.yml");
        assert_eq!(
            argv(&editor_command_for("vim", f, Some(12))),
            ["vim", "+12", "/r/rules.yml"]
        );
        assert_eq!(
            argv(&editor_command_for("code --wait", f, Some(3))),
            ["code", "--wait", "--goto", "/r/rules.yml:3"]
        );
        assert_eq!(
            argv(&editor_command_for("nano", f, None)),
            ["nano", "/r/rules.yml"]
        );
    }

    #[test]
    fn history_alerts_join_active_since() {
        use crate::tui::console::source::SeriesData;
        let s = |name: &str, st: Option<&str>, v: f64| {
            let mut labels = vec![
                ("__name__".to_string(), name.to_string()),
                ("alertname".to_string(), "A".to_string()),
            ];
            if let Some(st) = st {
                labels.push(("alertstate".into(), st.into()));
            }
            labels.push(("job".into(), "j".into()));
            SeriesData {
                labels,
                points: vec![(0, v)],
            }
        };
        let a = QueryAnswer {
            data: QueryData::Vector(vec![
                s("ALERTS", Some("pending"), 1.0),
                s("ALERTS_FOR_STATE", None, 1000.0),
            ]),
            warnings: Vec::new(),
        };
        let m = history_alerts(&a);
        assert_eq!(m["A"].len(), 1);
        assert_eq!(m["A"][0].state, "pending");
        assert_eq!(m["A"][0].active_at_ms, Some(1_000_000));
    }
}
