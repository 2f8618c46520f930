//! The console view: state, keys and drawing.
//!
//! Focus is either the editor (the frame passes every key; Esc hands focus to the
//! results) or the results (table or chart keys; Enter or `i` returns to the editor).
//! Table mode runs instant queries at the end of the range, graph mode range queries over
//! it; the range starts as the frame's (`:range`) and zoom/pan change the console's own.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};
use ratatui::Frame;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::chart::{self, ChartSpec, YUnit};
use super::complete::{self, Cache, CacheKey, Candidate, Context, Entry, Kind, Request};
use super::editor::{self, Editor};
use super::history::History;
use super::source::{ConsoleSource, MetricInfo, QueryAnswer, QueryData, SeriesData, SourceError};
use super::ConsoleHandoff;
use crate::promql::{parse_expr, ParseError};
use crate::tui::view::{Glyphs, Handled, Palette, TimeRange, View, ViewCtx};

/// Table (instant query) or graph (range query).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Table,
    Graph,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Focus {
    Editor,
    Results,
}

/// Table sort order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Sort {
    Labels,
    ValueDesc,
    ValueAsc,
}

/// The popup over the editor.
enum Popup {
    Complete {
        request: Request,
        candidates: Vec<Candidate>,
        total: usize,
        selected: usize,
        /// The operator moved the selection: Enter accepts instead of running.
        chosen: bool,
        note: Option<String>,
    },
    History {
        query: String,
        selected: usize,
    },
}

/// A query in flight.
struct Inflight {
    started: Instant,
    rx: oneshot::Receiver<Result<QueryAnswer, SourceError>>,
    handle: JoinHandle<()>,
    request: QueryRequest,
}

/// What a query asked, kept with its answer so the chart knows its axes.
#[derive(Clone, Debug)]
struct QueryRequest {
    expr: String,
    mode: Mode,
    start_ms: i64,
    end_ms: i64,
    step_ms: i64,
}

/// The last answer.
struct QueryOutcome {
    request: QueryRequest,
    result: Result<QueryAnswer, SourceError>,
    took_ms: u128,
    /// Sorted table rows (indices into the series), recomputed on sort changes.
    order: Vec<usize>,
    unit: YUnit,
}

/// A label fetch for autocomplete.
struct Fetch {
    key: CacheKey,
    rx: oneshot::Receiver<Result<Vec<String>, SourceError>>,
    handle: JoinHandle<()>,
}

/// The PromQL console (`:console`). See the module docs of [`super`].
pub struct ConsoleView {
    source: Arc<dyn ConsoleSource>,
    history: History,
    editor: Editor,
    focus: Focus,
    mode: Mode,
    parse_error: Option<ParseError>,
    /// Position while stepping through history with Up/Down, and the draft it replaced.
    hist_pos: Option<usize>,
    draft: String,
    popup: Option<Popup>,
    cache: Cache,
    fetches: Vec<Fetch>,
    metadata: Option<Arc<Vec<MetricInfo>>>,
    metadata_rx: Option<oneshot::Receiver<Result<Vec<MetricInfo>, SourceError>>>,
    /// At most one query runs: starting another aborts this one's task, so a superseded
    /// answer can never land.
    inflight: Option<Inflight>,
    outcome: Option<QueryOutcome>,
    /// A one-off message (cancelled, star toggled...).
    note: Option<String>,
    sort: Sort,
    table_sel: usize,
    table_offset: usize,
    /// The console's own range once zoomed or panned; else the frame's.
    range: Option<TimeRange>,
    cursor_idx: Option<usize>,
    hidden: HashSet<usize>,
    legend_sel: usize,
    stacked: bool,
    live: bool,
    last_run_ms: i64,
    handoff: ConsoleHandoff,
    /// Show query durations (off in snapshot tests, where they vary).
    show_timings: bool,
    /// Run the editor's text on the next tick ([`ConsoleView::open_expr`]).
    pending_run: bool,
    /// The frame's range last seen: when it changes (`:range`, time travel with `:at`,
    /// `[`/`]`), the console drops its own zoom/pan and runs the query again over it.
    frame_range: Option<TimeRange>,
    /// The query explain pane, shown over the results while open.
    explain: Option<super::explain::ExplainPane>,
}

/// Shortest and longest range zoom allows.
const MIN_WIDTH_MS: i64 = 60_000;
const MAX_WIDTH_MS: i64 = 5 * 365 * 86_400_000;

impl ConsoleView {
    /// A console querying `source`, with history in the SQLite file `history_db` (opened
    /// on first use; when it cannot be, history lives for the session and the status
    /// line says why).
    pub fn new(source: Arc<dyn ConsoleSource>, history_db: PathBuf) -> ConsoleView {
        ConsoleView {
            source,
            history: History::new(history_db),
            editor: Editor::default(),
            focus: Focus::Editor,
            mode: Mode::Table,
            parse_error: None,
            hist_pos: None,
            draft: String::new(),
            popup: None,
            cache: Cache::default(),
            fetches: Vec::new(),
            metadata: None,
            metadata_rx: None,
            inflight: None,
            outcome: None,
            note: None,
            sort: Sort::Labels,
            table_sel: 0,
            table_offset: 0,
            range: None,
            cursor_idx: None,
            hidden: HashSet::new(),
            legend_sel: 0,
            stacked: false,
            live: false,
            last_run_ms: 0,
            handoff: ConsoleHandoff::default(),
            show_timings: true,
            pending_run: false,
            frame_range: None,
            explain: None,
        }
    }

    /// A handle other views and the frame use to send expressions here.
    pub fn handoff(&self) -> ConsoleHandoff {
        self.handoff.clone()
    }

    /// Puts `expr` in the editor, gives the editor focus and runs the query on the next
    /// tick (what the metric explorer's Enter does through [`ConsoleHandoff`]). The
    /// current table/graph mode is kept.
    pub fn open_expr(&mut self, expr: &str) {
        self.editor.set_text(expr);
        self.popup = None;
        self.hist_pos = None;
        self.focus = Focus::Editor;
        self.pending_run = true;
    }

    /// The query text.
    pub fn text(&self) -> &str {
        self.editor.text()
    }

    /// True when no query, completion fetch or metadata load is in flight (tests wait
    /// for it before drawing).
    #[doc(hidden)]
    pub fn is_settled(&self) -> bool {
        self.inflight.is_none()
            && self
                .explain
                .as_ref()
                .is_none_or(|e| e.busy_since().is_none())
            && self.fetches.is_empty()
            && self.metadata_rx.is_none()
            && !self.pending_run
    }

    /// Leaves query durations out of the status line, so snapshots are stable.
    #[doc(hidden)]
    pub fn hide_timings(&mut self) {
        self.show_timings = false;
    }

    /// Opens the explain pane on `expr` (the editor's text when empty), evaluated at the
    /// end of the console's range.
    fn open_explain(&mut self, expr: &str, ctx: &ViewCtx<'_>) -> Result<(), String> {
        let expr = if expr.trim().is_empty() {
            self.editor.text().trim().to_string()
        } else {
            expr.trim().to_string()
        };
        if expr.is_empty() {
            return Err("explain: type a query first (or :explain EXPR)".into());
        }
        let (start_ms, end_ms, step_ms) = self.query_window(ctx);
        let window = match self.mode {
            Mode::Table => super::explain::Window::Instant(end_ms),
            Mode::Graph => super::explain::Window::Range {
                start_ms,
                end_ms,
                step_ms,
            },
        };
        let pane = super::explain::ExplainPane::start(
            self.source.clone(),
            &expr,
            window,
            ctx,
            self.show_timings,
        )?;
        if self.editor.text().trim() != expr {
            self.editor.set_text(&expr);
        }
        self.popup = None;
        self.explain = Some(pane);
        self.focus = Focus::Results;
        Ok(())
    }

    /// True while the explain pane is open (tests).
    #[doc(hidden)]
    pub fn explain_open(&self) -> bool {
        self.explain.is_some()
    }

    fn effective_range(&self, ctx: &ViewCtx<'_>) -> TimeRange {
        self.range.unwrap_or(ctx.range)
    }

    fn after_edit(&mut self, ctx: &mut ViewCtx<'_>, auto_popup: bool) {
        let text = self.editor.text();
        self.parse_error = if text.trim().is_empty() {
            None
        } else {
            parse_expr(text).err()
        };
        if auto_popup {
            self.update_completion(ctx, false);
        } else if matches!(self.popup, Some(Popup::Complete { .. })) {
            self.popup = None;
        }
    }

    /// Opens, refreshes or closes the completion popup for the cursor; `forced` (Tab)
    /// opens it even for an empty name prefix.
    fn update_completion(&mut self, ctx: &mut ViewCtx<'_>, forced: bool) {
        let req = complete::context_at(self.editor.text(), self.editor.cursor());
        let Some(req) = req else {
            if matches!(self.popup, Some(Popup::Complete { .. })) {
                self.popup = None;
            }
            return;
        };
        if req.context == Context::Name && req.prefix.is_empty() && !forced {
            self.popup = None;
            return;
        }
        let (candidates, total, note) = self.candidates(&req, ctx);
        let (selected, chosen) = match &self.popup {
            Some(Popup::Complete {
                request,
                selected,
                chosen,
                ..
            }) if request.start == req.start && request.context == req.context => {
                (*selected, *chosen)
            }
            _ => (0, false),
        };
        if candidates.is_empty() && note.is_none() {
            self.popup = None;
            return;
        }
        let selected = selected.min(candidates.len().saturating_sub(1));
        self.popup = Some(Popup::Complete {
            request: req,
            candidates,
            total,
            selected,
            chosen,
            note,
        });
    }

    /// Candidates for `req` from the cache, starting fetches for what is missing.
    fn candidates(
        &mut self,
        req: &Request,
        ctx: &mut ViewCtx<'_>,
    ) -> (Vec<Candidate>, usize, Option<String>) {
        let mut out = Vec::new();
        let mut total = 0;
        if req.context == Context::Name {
            complete::builtin_candidates(&req.prefix, &mut out);
            total += out.len();
            self.ensure_metadata(ctx);
        }
        let key = CacheKey::for_context(&req.context);
        let now = Instant::now();
        let (entry, fetch) = self.cache.lookup(&key, now);
        let mut note = None;
        let kind = match req.context {
            Context::Name => Kind::Metric,
            Context::LabelName { .. } => Kind::Label,
            Context::LabelValue { .. } => Kind::Value,
        };
        match entry {
            Some(Entry::Ready(list)) => {
                let list = Arc::clone(list);
                let before = out.len();
                total += complete::filter_list(&list, &req.prefix, kind, &mut out);
                if kind == Kind::Label {
                    out.retain(|c| c.text != "__name__" || req.prefix.starts_with("__"));
                }
                if let Some(md) = &self.metadata {
                    let from = before.min(out.len());
                    for c in &mut out[from..] {
                        if c.kind == Kind::Metric {
                            // A histogram's or summary's series carry the family's
                            // metadata under its base name.
                            let family = ["_bucket", "_sum", "_count", "_total"]
                                .iter()
                                .find_map(|s| c.text.strip_suffix(s))
                                .unwrap_or(&c.text);
                            if let Some(m) = md
                                .iter()
                                .find(|m| m.name == c.text)
                                .or_else(|| md.iter().find(|m| m.name == family))
                            {
                                c.detail = format!("{} {}", m.kind, m.help);
                            }
                        }
                    }
                }
            }
            Some(Entry::Loading) => note = Some("loading…".into()),
            Some(Entry::Failed(e)) => note = Some(format!("cannot complete: {e}")),
            None => {}
        }
        if fetch {
            self.start_fetch(key, ctx);
            if note.is_none() && out.is_empty() {
                note = Some("loading…".into());
            }
        }
        (out, total, note)
    }

    fn start_fetch(&mut self, key: CacheKey, ctx: &mut ViewCtx<'_>) {
        self.cache.start(key.clone(), Instant::now());
        let fut = match &key {
            CacheKey::Names { matchers } => self.source.label_names(matchers.clone()),
            CacheKey::Values { label, matchers } => {
                self.source.label_values(label.clone(), matchers.clone())
            }
        };
        let (tx, rx) = oneshot::channel();
        let handle = ctx.runtime.spawn(async move {
            let _ = tx.send(fut.await);
        });
        self.fetches.push(Fetch { key, rx, handle });
    }

    fn ensure_metadata(&mut self, ctx: &mut ViewCtx<'_>) {
        if self.metadata.is_some() || self.metadata_rx.is_some() {
            return;
        }
        let fut = self.source.metadata();
        let (tx, rx) = oneshot::channel();
        ctx.runtime.spawn(async move {
            let _ = tx.send(fut.await);
        });
        self.metadata_rx = Some(rx);
    }

    fn accept_completion(&mut self, ctx: &mut ViewCtx<'_>) -> bool {
        let Some(Popup::Complete {
            request,
            candidates,
            selected,
            ..
        }) = &self.popup
        else {
            return false;
        };
        let Some(c) = candidates.get(*selected) else {
            return false;
        };
        let mut ins = c.insertion();
        let in_selector = matches!(request.context, Context::LabelName { .. })
            && self.editor.text()[..request.start]
                .trim_end()
                .ends_with(['{', ',']);
        let rest = &self.editor.text()[self.editor.cursor()..];
        let mut reopen = false;
        match c.kind {
            Kind::Label if in_selector => {
                ins.push_str("=\"");
                reopen = true;
            }
            Kind::Value if !rest.starts_with(['"', '\'', '`']) => ins.push('"'),
            Kind::Function | Kind::Aggregation => reopen = false,
            _ => {}
        }
        // Extend over the rest of the word under the cursor, so completing in the middle
        // of a name replaces it.
        let word_end = rest
            .char_indices()
            .find(|&(_, ch)| !editor::is_word_char(ch))
            .map_or(rest.len(), |(i, _)| i);
        let start = request.start;
        if c.kind != Kind::Value {
            for _ in 0..rest[..word_end].chars().count() {
                self.editor.delete();
            }
        }
        self.editor.replace_before_cursor(start, &ins);
        self.popup = None;
        self.after_edit(ctx, reopen);
        true
    }

    /// Runs the editor's query in the current mode.
    fn run(&mut self, ctx: &mut ViewCtx<'_>) {
        let expr = self.editor.text().trim().to_string();
        if expr.is_empty() {
            return;
        }
        self.popup = None;
        self.hist_pos = None;
        self.explain = None;
        self.history.record(&expr, ctx.now_ms);
        self.start_query(expr, ctx);
    }

    /// `(start, end, step)` in ms of the console's query over its range.
    fn query_window(&self, ctx: &ViewCtx<'_>) -> (i64, i64, i64) {
        let range = self.effective_range(ctx);
        let end_ms = range.end_ms.unwrap_or(ctx.now_ms);
        let width = range.width_ms.max(1000);
        // About 250 points across the range, as Prometheus' graph, in whole seconds.
        let step_ms = ((width / 250) / 1000 * 1000).max(1000);
        // The grid ends exactly at `end`, so the rightmost point is the latest value
        // (a start of `end - width` could leave the last step up to a step before it).
        let start_ms = end_ms - width / step_ms * step_ms;
        (start_ms, end_ms, step_ms)
    }

    fn start_query(&mut self, expr: String, ctx: &mut ViewCtx<'_>) {
        self.cancel_inflight();
        let (start_ms, end_ms, step_ms) = self.query_window(ctx);
        let request = QueryRequest {
            expr: expr.clone(),
            mode: self.mode,
            start_ms,
            end_ms,
            step_ms,
        };
        let fut = match self.mode {
            Mode::Table => self.source.instant_query(expr, end_ms),
            Mode::Graph => self.source.range_query(expr, start_ms, end_ms, step_ms),
        };
        let (tx, rx) = oneshot::channel();
        let handle = ctx.runtime.spawn(async move {
            let _ = tx.send(fut.await);
        });
        self.inflight = Some(Inflight {
            started: Instant::now(),
            rx,
            handle,
            request,
        });
        self.last_run_ms = ctx.now_ms;
        self.note = None;
    }

    fn cancel_inflight(&mut self) -> bool {
        if let Some(q) = self.inflight.take() {
            q.handle.abort();
            true
        } else {
            false
        }
    }

    fn finish_query(&mut self, q: Inflight, result: Result<QueryAnswer, SourceError>) {
        let took_ms = q.started.elapsed().as_millis();
        let unit = chart::infer_unit(&q.request.expr);
        let same_query = self
            .outcome
            .as_ref()
            .is_some_and(|o| o.request.expr == q.request.expr && o.request.mode == q.request.mode);
        if !same_query {
            self.hidden.clear();
            self.legend_sel = 0;
            self.table_sel = 0;
            self.table_offset = 0;
            self.cursor_idx = None;
        }
        let mut o = QueryOutcome {
            request: q.request,
            result,
            took_ms,
            order: Vec::new(),
            unit,
        };
        sort_rows(&mut o, self.sort);
        self.outcome = Some(o);
    }

    fn series(&self) -> &[SeriesData] {
        match self.outcome.as_ref().map(|o| &o.result) {
            Some(Ok(QueryAnswer {
                data: QueryData::Vector(v) | QueryData::Matrix(v),
                ..
            })) => v,
            _ => &[],
        }
    }

    fn history_key(&mut self, up: bool) {
        self.history.ensure_open();
        let n = self.history.entries().len();
        if n == 0 {
            return;
        }
        let next = match (self.hist_pos, up) {
            (None, true) => {
                self.draft = self.editor.text().to_string();
                Some(0)
            }
            (None, false) => None,
            (Some(i), true) => Some((i + 1).min(n - 1)),
            (Some(0), false) => None,
            (Some(i), false) => Some(i - 1),
        };
        self.hist_pos = next;
        match next {
            Some(i) => {
                let e = self.history.entries()[i].expr.clone();
                self.editor.set_text(&e);
            }
            None => {
                let d = std::mem::take(&mut self.draft);
                self.editor.set_text(&d);
            }
        }
    }

    fn editor_key(&mut self, key: KeyEvent, ctx: &mut ViewCtx<'_>) -> Handled {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        let alt = key.modifiers.contains(KeyModifiers::ALT);
        // The history search popup takes the keys while open.
        if let Some(Popup::History { query, selected }) = &mut self.popup {
            match key.code {
                KeyCode::Esc => self.popup = None,
                KeyCode::Up => *selected = selected.saturating_sub(1),
                KeyCode::Down => {
                    let n = self.history.search(query).len();
                    *selected = (*selected + 1).min(n.saturating_sub(1));
                }
                KeyCode::Char('r') if ctrl => {
                    // Ctrl-R again steps to the next (older) match, as in a shell.
                    let n = self.history.search(query).len();
                    *selected = (*selected + 1).min(n.saturating_sub(1));
                }
                KeyCode::Char('s') if ctrl => {
                    let q = query.clone();
                    let sel = *selected;
                    let hit = self.history.search(&q).get(sel).map(|e| e.expr.clone());
                    if let Some(e) = hit {
                        let starred = self.history.toggle_star(&e);
                        self.note = Some(if starred { "starred" } else { "unstarred" }.into());
                    }
                }
                KeyCode::Enter | KeyCode::Tab => {
                    let hit = self
                        .history
                        .search(query)
                        .get(*selected)
                        .map(|e| e.expr.clone());
                    self.popup = None;
                    if let Some(e) = hit {
                        self.editor.set_text(&e);
                        self.after_edit(ctx, false);
                        if key.code == KeyCode::Enter {
                            self.run(ctx);
                        }
                    }
                }
                KeyCode::Backspace => {
                    query.pop();
                    *selected = 0;
                }
                KeyCode::Char(c) if !ctrl => {
                    query.push(c);
                    *selected = 0;
                }
                _ => {}
            }
            return Handled::Consumed;
        }
        let popup_open = matches!(self.popup, Some(Popup::Complete { .. }));
        match key.code {
            KeyCode::Esc if popup_open => self.popup = None,
            KeyCode::Esc => {
                self.focus = Focus::Results;
                return Handled::Ignored;
            }
            KeyCode::Enter if alt || key.modifiers.contains(KeyModifiers::SHIFT) => {
                self.editor.insert("\n");
                self.after_edit(ctx, false);
            }
            KeyCode::Char('j') if ctrl => {
                self.editor.insert("\n");
                self.after_edit(ctx, false);
            }
            KeyCode::Enter => {
                let chosen = matches!(self.popup, Some(Popup::Complete { chosen: true, .. }));
                if !(chosen && self.accept_completion(ctx)) {
                    self.run(ctx);
                }
            }
            KeyCode::Tab if !self.accept_completion(ctx) => self.update_completion(ctx, true),
            KeyCode::Up | KeyCode::Down if popup_open => {
                if let Some(Popup::Complete {
                    candidates,
                    selected,
                    chosen,
                    ..
                }) = &mut self.popup
                {
                    let n = candidates.len().max(1);
                    *selected = if key.code == KeyCode::Up {
                        (*selected + n - 1) % n
                    } else {
                        (*selected + 1) % n
                    };
                    *chosen = true;
                }
            }
            KeyCode::Up if !self.editor.up() => {
                self.history_key(true);
                self.after_edit(ctx, false);
            }
            KeyCode::Down if !self.editor.down() => {
                self.history_key(false);
                self.after_edit(ctx, false);
            }
            KeyCode::Char('r') if ctrl => {
                self.history.ensure_open();
                self.popup = Some(Popup::History {
                    query: String::new(),
                    selected: 0,
                });
            }
            KeyCode::Char('s') if ctrl => {
                let e = self.editor.text().trim().to_string();
                if !e.is_empty() {
                    if !self.history.entries().iter().any(|h| h.expr == e) {
                        self.history.record(&e, ctx.now_ms);
                    }
                    let starred = self.history.toggle_star(&e);
                    self.note = Some(if starred { "starred" } else { "unstarred" }.into());
                }
            }
            KeyCode::Char('t') if ctrl => self.toggle_mode(ctx),
            KeyCode::Char(' ') if ctrl => self.update_completion(ctx, true),
            KeyCode::Char('a') if ctrl => self.editor.home(),
            KeyCode::Char('e') if ctrl => self.editor.end(),
            KeyCode::Char('b') if ctrl => self.editor.left(),
            KeyCode::Char('f') if ctrl => self.editor.right(),
            KeyCode::Char('w') if ctrl => {
                self.editor.delete_word_back();
                self.after_edit(ctx, true);
            }
            KeyCode::Char('u') if ctrl => {
                self.editor.delete_to_line_start();
                self.after_edit(ctx, true);
            }
            KeyCode::Char('k') if ctrl => {
                self.editor.delete_to_line_end();
                self.after_edit(ctx, true);
            }
            KeyCode::Char('l') if ctrl => {
                self.editor.set_text("");
                self.after_edit(ctx, false);
            }
            KeyCode::Char(c) if !ctrl && !alt => {
                let mut b = [0u8; 4];
                self.editor.insert(c.encode_utf8(&mut b));
                self.hist_pos = None;
                self.after_edit(ctx, true);
            }
            KeyCode::Backspace => {
                self.editor.backspace();
                self.after_edit(ctx, true);
            }
            KeyCode::Delete => {
                self.editor.delete();
                self.after_edit(ctx, true);
            }
            KeyCode::Left => {
                self.editor.left();
                self.popup = None;
            }
            KeyCode::Right => {
                self.editor.right();
                self.popup = None;
            }
            KeyCode::Home => self.editor.home(),
            KeyCode::End => self.editor.end(),
            KeyCode::PageUp | KeyCode::PageDown => self.results_key(key, ctx),
            _ => {}
        }
        Handled::Consumed
    }

    fn toggle_mode(&mut self, ctx: &mut ViewCtx<'_>) {
        self.mode = match self.mode {
            Mode::Table => Mode::Graph,
            Mode::Graph => Mode::Table,
        };
        if self.outcome.is_some() || self.inflight.is_some() {
            self.run(ctx);
        }
    }

    fn rerun(&mut self, ctx: &mut ViewCtx<'_>) {
        if let Some(o) = &self.outcome {
            let e = o.request.expr.clone();
            self.start_query(e, ctx);
        }
    }

    fn zoom(&mut self, factor_num: i64, factor_den: i64, ctx: &mut ViewCtx<'_>) {
        let mut r = self.effective_range(ctx);
        r.width_ms = (r.width_ms * factor_num / factor_den).clamp(MIN_WIDTH_MS, MAX_WIDTH_MS);
        self.range = Some(r);
        self.rerun(ctx);
    }

    fn pan(&mut self, forward: bool, ctx: &mut ViewCtx<'_>) {
        let mut r = self.effective_range(ctx);
        let end = r.end_ms.unwrap_or(ctx.now_ms);
        let shift = r.width_ms / 4;
        let new_end = if forward { end + shift } else { end - shift };
        r.end_ms = if new_end >= ctx.now_ms {
            None
        } else {
            self.live = false;
            Some(new_end)
        };
        self.range = Some(r);
        self.rerun(ctx);
    }

    fn steps(&self) -> usize {
        match &self.outcome {
            Some(o) if o.request.mode == Mode::Graph => {
                ((o.request.end_ms - o.request.start_ms) / o.request.step_ms.max(1)) as usize + 1
            }
            _ => 0,
        }
    }

    fn results_key(&mut self, key: KeyEvent, ctx: &mut ViewCtx<'_>) {
        let graph = self
            .outcome
            .as_ref()
            .is_some_and(|o| o.request.mode == Mode::Graph);
        let n = self.series().len();
        match (graph, key.code) {
            (false, KeyCode::Char('s')) => {
                self.sort = match self.sort {
                    Sort::Labels => Sort::ValueDesc,
                    Sort::ValueDesc => Sort::ValueAsc,
                    Sort::ValueAsc => Sort::Labels,
                };
                let sort = self.sort;
                if let Some(o) = &mut self.outcome {
                    sort_rows(o, sort);
                }
            }
            (false, KeyCode::Up | KeyCode::Char('k')) => {
                self.table_sel = self.table_sel.saturating_sub(1)
            }
            (false, KeyCode::Down | KeyCode::Char('j')) => {
                self.table_sel = (self.table_sel + 1).min(n.saturating_sub(1))
            }
            (_, KeyCode::PageUp) => {
                self.table_sel = self.table_sel.saturating_sub(10);
                self.legend_sel = self.legend_sel.saturating_sub(10);
            }
            (_, KeyCode::PageDown) => {
                self.table_sel = (self.table_sel + 10).min(n.saturating_sub(1));
                self.legend_sel = (self.legend_sel + 10).min(n.saturating_sub(1));
            }
            (false, KeyCode::Home | KeyCode::Char('g')) => self.table_sel = 0,
            (false, KeyCode::End | KeyCode::Char('G')) => self.table_sel = n.saturating_sub(1),
            (true, KeyCode::Left | KeyCode::Char('h')) => {
                let steps = self.steps();
                let c = self.cursor_idx.unwrap_or(steps.saturating_sub(1));
                self.cursor_idx = Some(c.saturating_sub(1));
            }
            (true, KeyCode::Right | KeyCode::Char('l')) => {
                let steps = self.steps();
                let c = self.cursor_idx.unwrap_or(steps.saturating_sub(1));
                self.cursor_idx = Some((c + 1).min(steps.saturating_sub(1)));
            }
            (true, KeyCode::Up | KeyCode::Char('k')) => {
                self.legend_sel = self.legend_sel.saturating_sub(1)
            }
            (true, KeyCode::Down | KeyCode::Char('j')) => {
                self.legend_sel = (self.legend_sel + 1).min(n.saturating_sub(1))
            }
            (true, KeyCode::Char(' ')) if !self.hidden.remove(&self.legend_sel) => {
                self.hidden.insert(self.legend_sel);
            }
            (true, KeyCode::Char('o')) => {
                // Only the selected series; again shows all.
                let only: HashSet<usize> = (0..n).filter(|i| *i != self.legend_sel).collect();
                self.hidden = if self.hidden == only {
                    HashSet::new()
                } else {
                    only
                };
            }
            (true, KeyCode::Char('a')) => self.hidden.clear(),
            (true, KeyCode::Char('+') | KeyCode::Char('=')) => self.zoom(1, 2, ctx),
            (true, KeyCode::Char('-')) => self.zoom(2, 1, ctx),
            (true, KeyCode::Char('[') | KeyCode::Char('<')) => self.pan(false, ctx),
            (true, KeyCode::Char(']') | KeyCode::Char('>')) => self.pan(true, ctx),
            (true, KeyCode::Char('S')) => self.stacked = !self.stacked,
            (true, KeyCode::Char('L')) => {
                self.live = !self.live;
                if self.live {
                    let mut r = self.effective_range(ctx);
                    r.end_ms = None;
                    self.range = Some(r);
                    self.rerun(ctx);
                }
            }
            (_, KeyCode::Char('r')) => self.rerun(ctx),
            _ => {}
        }
    }
}

fn sort_rows(o: &mut QueryOutcome, sort: Sort) {
    let series: &[SeriesData] = match &o.result {
        Ok(QueryAnswer {
            data: QueryData::Vector(v) | QueryData::Matrix(v),
            ..
        }) => v,
        _ => &[],
    };
    let mut order: Vec<usize> = (0..series.len()).collect();
    let last = |i: usize| series[i].points.last().map_or(f64::NAN, |p| p.1);
    match sort {
        Sort::Labels => order.sort_by(|&a, &b| series[a].labels.cmp(&series[b].labels)),
        Sort::ValueDesc => order.sort_by(|&a, &b| last(b).total_cmp(&last(a))),
        Sort::ValueAsc => order.sort_by(|&a, &b| last(a).total_cmp(&last(b))),
    }
    o.order = order;
}

/// `name{a="b", c="d"}`, as Prometheus prints a series.
pub fn series_name(labels: &[(String, String)]) -> String {
    let mut name = String::new();
    let mut rest = Vec::new();
    for (k, v) in labels {
        if k == "__name__" {
            name.push_str(v);
        } else {
            rest.push(format!("{k}={}", crate::model::quote::go_quote(v)));
        }
    }
    if !rest.is_empty() || name.is_empty() {
        name.push('{');
        name.push_str(&rest.join(", "));
        name.push('}');
    }
    name
}

/// A sample value as the API prints it (Go's shortest float formatting).
fn value_text(v: f64) -> String {
    crate::model::value::format_go_f(v)
}

impl View for ConsoleView {
    fn name(&self) -> &'static str {
        "console"
    }

    fn aliases(&self) -> &'static [&'static str] {
        &["query", "promql", "graph"]
    }

    fn key_hints(&self) -> Vec<(&'static str, &'static str)> {
        vec![
            ("Enter", "run query (editor) / edit (results)"),
            ("Alt-Enter", "new line"),
            ("Tab", "complete / accept"),
            ("Ctrl-T", "table <-> graph"),
            ("Up/Down", "history (editor) / rows, legend (results)"),
            ("Ctrl-R", "search history (Ctrl-S stars there)"),
            ("Ctrl-S", "star the query"),
            ("Ctrl-A/E", "line start / end"),
            ("Ctrl-W/U/K", "delete word / to start / to end"),
            ("Ctrl-L", "clear the editor"),
            ("Ctrl-Space", "open completions"),
            (
                "Esc",
                "close popup, leave the editor; cancels a running query",
            ),
            ("i", "edit (results)"),
            ("s", "table: sort by labels / value desc / asc"),
            ("PgUp/PgDn", "scroll rows or legend"),
            ("Left/Right", "graph: move the value cursor"),
            ("Space", "graph: hide/show the selected series"),
            ("o / a", "graph: only the selected series / show all"),
            ("+ / -", "graph: zoom in / out"),
            ("[ / ]", "graph: pan back / forward"),
            ("S", "graph: stacked / overlaid"),
            ("L", "graph: live mode (auto-refresh)"),
            ("r", "run again"),
            (
                "x, :explain",
                "explain: the query as a tree with per-node cost",
            ),
        ]
    }

    fn captures_text(&self) -> bool {
        self.focus == Focus::Editor
    }

    fn on_key(&mut self, key: KeyEvent, ctx: &mut ViewCtx<'_>) -> Handled {
        match self.focus {
            Focus::Editor => self.editor_key(key, ctx),
            Focus::Results if self.explain.is_some() => {
                let action = match self.explain.as_mut() {
                    Some(pane) => pane.on_key(key),
                    None => super::explain::PaneAction::None,
                };
                match action {
                    super::explain::PaneAction::None => {}
                    super::explain::PaneAction::Close => self.explain = None,
                    super::explain::PaneAction::Open(expr) => {
                        self.explain = None;
                        self.editor.set_text(&expr);
                        self.run(ctx);
                    }
                }
                Handled::Consumed
            }
            Focus::Results => match key.code {
                KeyCode::Char('x') => {
                    if let Err(e) = self.open_explain("", ctx) {
                        self.note = Some(e);
                    }
                    Handled::Consumed
                }
                KeyCode::Enter | KeyCode::Char('i') | KeyCode::Char('e') => {
                    self.focus = Focus::Editor;
                    Handled::Consumed
                }
                KeyCode::Esc => Handled::Ignored,
                KeyCode::Char('t') => {
                    self.toggle_mode(ctx);
                    Handled::Consumed
                }
                KeyCode::Char(
                    's' | 'j' | 'k' | 'h' | 'l' | 'g' | 'G' | ' ' | 'o' | 'a' | '+' | '=' | '-'
                    | '[' | ']' | '<' | '>' | 'S' | 'L' | 'r',
                )
                | KeyCode::Up
                | KeyCode::Down
                | KeyCode::Left
                | KeyCode::Right
                | KeyCode::PageUp
                | KeyCode::PageDown
                | KeyCode::Home
                | KeyCode::End => {
                    self.results_key(key, ctx);
                    Handled::Consumed
                }
                _ => Handled::Ignored,
            },
        }
    }

    fn on_mouse(
        &mut self,
        event: crossterm::event::MouseEvent,
        _area: Rect,
        ctx: &mut ViewCtx<'_>,
    ) -> Handled {
        use crossterm::event::MouseEventKind;
        let code = match event.kind {
            MouseEventKind::ScrollUp => KeyCode::Up,
            MouseEventKind::ScrollDown => KeyCode::Down,
            _ => return Handled::Ignored,
        };
        self.results_key(KeyEvent::from(code), ctx);
        Handled::Consumed
    }

    fn command(
        &mut self,
        name: &str,
        args: &str,
        ctx: &mut ViewCtx<'_>,
    ) -> Option<Result<(), String>> {
        match name {
            // `:query EXPR` runs EXPR in the console.
            "query" | "console" if !args.trim().is_empty() => {
                self.open_expr(args.trim());
                self.tick(ctx);
                Some(Ok(()))
            }
            // `:explain [EXPR]` explains EXPR, or the editor's query.
            "explain" => Some(self.open_explain(args, ctx)),
            "graph" => {
                self.mode = Mode::Graph;
                self.rerun(ctx);
                Some(Ok(()))
            }
            "table" => {
                self.mode = Mode::Table;
                self.rerun(ctx);
                Some(Ok(()))
            }
            _ => None,
        }
    }

    fn tick(&mut self, ctx: &mut ViewCtx<'_>) {
        if self.frame_range.is_some_and(|r| r != ctx.range) {
            self.range = None;
            if ctx.range.end_ms.is_some() {
                self.live = false;
            }
            if self.outcome.is_some() && self.inflight.is_none() {
                self.rerun(ctx);
            }
        }
        self.frame_range = Some(ctx.range);
        if let Some(pane) = &mut self.explain {
            pane.poll();
        }
        if let Some(expr) = self.handoff.take_expr() {
            self.open_expr(&expr);
        }
        if std::mem::take(&mut self.pending_run) {
            self.after_edit(ctx, false);
            self.run(ctx);
        }
        if let Some(q) = &mut self.inflight {
            match q.rx.try_recv() {
                Ok(r) => {
                    if let Some(q) = self.inflight.take() {
                        self.finish_query(q, r);
                    }
                }
                Err(oneshot::error::TryRecvError::Closed) => {
                    if let Some(q) = self.inflight.take() {
                        self.finish_query(q, Err("the query task ended without an answer".into()));
                    }
                }
                Err(oneshot::error::TryRecvError::Empty) => {}
            }
        }
        let mut landed = false;
        let now = Instant::now();
        let mut i = 0;
        while i < self.fetches.len() {
            match self.fetches[i].rx.try_recv() {
                Ok(r) => {
                    let f = self.fetches.swap_remove(i);
                    self.cache.finish(f.key, r, now);
                    landed = true;
                }
                Err(oneshot::error::TryRecvError::Closed) => {
                    let f = self.fetches.swap_remove(i);
                    self.cache.finish(f.key, Err("fetch ended".into()), now);
                    landed = true;
                }
                Err(oneshot::error::TryRecvError::Empty) => i += 1,
            }
        }
        if let Some(rx) = &mut self.metadata_rx {
            match rx.try_recv() {
                Ok(r) => {
                    self.metadata = Some(Arc::new(r.unwrap_or_default()));
                    self.metadata_rx = None;
                    landed = true;
                }
                Err(oneshot::error::TryRecvError::Closed) => {
                    self.metadata = Some(Arc::new(Vec::new()));
                    self.metadata_rx = None;
                }
                Err(oneshot::error::TryRecvError::Empty) => {}
            }
        }
        if landed && matches!(self.popup, Some(Popup::Complete { .. })) {
            self.update_completion(ctx, true);
        }
        // Live mode: rerun the graph every step (at least 5 s) while following now.
        if self.live && self.inflight.is_none() {
            if let Some(o) = &self.outcome {
                let every = o.request.step_ms.max(5000);
                if o.request.mode == Mode::Graph && ctx.now_ms - self.last_run_ms >= every {
                    self.rerun(ctx);
                }
            }
        }
    }

    fn render(&mut self, frame: &mut Frame<'_>, area: Rect, ctx: &ViewCtx<'_>) {
        let p = ctx.palette;
        let lines = self.editor.line_count().clamp(1, 6) as u16;
        let [edit_area, status_area, results_area] = Layout::vertical([
            Constraint::Length(lines + 2),
            Constraint::Length(1),
            Constraint::Min(0),
        ])
        .areas(area);
        self.render_editor(frame, edit_area, ctx);
        self.render_status(frame, status_area, p);
        if let Some(pane) = &mut self.explain {
            pane.render(frame, results_area, ctx);
            self.render_popup(frame, edit_area, area, p);
            return;
        }
        match &self.outcome {
            Some(o) if o.request.mode == Mode::Graph && o.result.is_ok() => {
                self.render_graph(frame, results_area, ctx)
            }
            Some(_) => self.render_table(frame, results_area, p),
            None => {
                let help = vec![
                    Line::styled(
                        "Type a PromQL expression and press Enter. Tab completes metric names,",
                        p.dim,
                    ),
                    Line::styled(
                        "labels and functions; Ctrl-T switches table/graph; Ctrl-R searches history.",
                        p.dim,
                    ),
                ];
                frame.render_widget(Paragraph::new(help), results_area.inner(margin1()));
            }
        }
        self.render_popup(frame, edit_area, area, p);
    }

    fn busy_since(&self) -> Option<Instant> {
        self.inflight
            .as_ref()
            .map(|q| q.started)
            .or_else(|| self.explain.as_ref().and_then(|e| e.busy_since()))
    }

    fn cancel(&mut self) {
        if self.cancel_inflight() {
            self.note = Some("query cancelled".into());
        }
        if let Some(pane) = &mut self.explain {
            if pane.busy_since().is_some() {
                pane.cancel();
                self.note = Some("explain cancelled (nodes measured so far stay)".into());
            }
        }
        for f in self.fetches.drain(..) {
            f.handle.abort();
            self.cache
                .finish(f.key, Err("cancelled".into()), Instant::now());
        }
    }
}

fn margin1() -> ratatui::layout::Margin {
    ratatui::layout::Margin {
        horizontal: 1,
        vertical: 0,
    }
}

impl ConsoleView {
    fn render_editor(&self, frame: &mut Frame<'_>, area: Rect, ctx: &ViewCtx<'_>) {
        let p = ctx.palette;
        let range = self.effective_range(ctx);
        let what = match self.mode {
            Mode::Table => "table · instant".to_string(),
            Mode::Graph => format!("graph · range {}", format_width(range.width_ms)),
        };
        let end = match range.end_ms {
            Some(e) => format!(" ending {}", chart::format_time(e, 86_400_000 * 3)),
            None => String::new(),
        };
        let focused = self.focus == Focus::Editor;
        let title = Line::from(vec![
            Span::styled(" PromQL ", if focused { p.accent } else { p.text }),
            Span::styled(format!("{what}{end} "), p.dim),
        ]);
        let block = Block::default()
            .borders(Borders::ALL)
            .border_style(if focused { p.accent } else { p.border })
            .title(title);
        let inner = block.inner(area);
        frame.render_widget(block, area);
        let mut lines = editor::highlight(
            self.editor.text(),
            &p.syntax,
            p.text,
            self.parse_error.as_ref(),
        );
        let (cl, cc) = self.editor.cursor_line_col();
        let scroll = cl.saturating_sub(inner.height.saturating_sub(1) as usize);
        if self.editor.text().is_empty() && !focused {
            lines = vec![Line::styled("press Enter to edit", p.dim)];
        }
        let hscroll = cc.saturating_sub(inner.width.saturating_sub(2) as usize);
        frame.render_widget(
            Paragraph::new(lines).scroll((scroll as u16, hscroll as u16)),
            inner,
        );
        if focused {
            let x = inner.x + (cc - hscroll) as u16;
            let y = inner.y + (cl - scroll) as u16;
            if x < inner.x + inner.width && y < inner.y + inner.height {
                // A visible cursor in the buffer (snapshots see it) and the terminal's.
                let cell = &mut frame.buffer_mut()[(x, y)];
                cell.set_style(cell.style().add_modifier(Modifier::REVERSED));
                frame.set_cursor_position((x, y));
            }
        }
    }

    fn render_status(&self, frame: &mut Frame<'_>, area: Rect, p: &Palette) {
        let mut spans: Vec<Span> = Vec::new();
        if let Some(e) = &self.parse_error {
            spans.push(Span::styled(format!(" {e}"), p.error));
        } else if let Some(q) = &self.inflight {
            spans.push(Span::styled(
                format!(
                    " running… {:.1}s (Esc cancels)",
                    q.started.elapsed().as_secs_f64()
                ),
                p.info,
            ));
        } else if let Some(o) = &self.outcome {
            match &o.result {
                Ok(a) => {
                    let what = match &a.data {
                        QueryData::Scalar { .. } => "scalar".to_string(),
                        QueryData::String { .. } => "string".to_string(),
                        QueryData::Vector(v) => format!("{} series (instant)", v.len()),
                        QueryData::Matrix(m) => {
                            let pts: usize = m.iter().map(|s| s.points.len()).sum();
                            format!("{} series, {pts} points", m.len())
                        }
                    };
                    let took = if self.show_timings {
                        format!(" · {} ms", o.took_ms)
                    } else {
                        String::new()
                    };
                    spans.push(Span::styled(format!(" {what}{took}"), p.ok));
                    for w in &a.warnings {
                        spans.push(Span::styled(format!(" ⚠ {w}"), p.warn));
                    }
                }
                Err(e) => spans.push(Span::styled(format!(" error: {e}"), p.error)),
            }
        }
        if let Some(n) = &self.note {
            spans.push(Span::styled(format!(" · {n}"), p.info));
        }
        if let Some(e) = self.history.error() {
            spans.push(Span::styled(format!(" · {e}"), p.warn));
        }
        frame.render_widget(Paragraph::new(Line::from(spans)), area);
    }

    fn render_table(&mut self, frame: &mut Frame<'_>, area: Rect, p: &Palette) {
        let Some(o) = &self.outcome else { return };
        if area.height < 2 {
            return;
        }
        let focused = self.focus == Focus::Results;
        let rows: Vec<(String, String)> = match &o.result {
            Err(e) => {
                frame.render_widget(
                    Paragraph::new(Line::styled(format!("Error: {e}"), p.error))
                        .wrap(ratatui::widgets::Wrap { trim: false }),
                    area.inner(margin1()),
                );
                return;
            }
            Ok(QueryAnswer { data, .. }) => match data {
                QueryData::Scalar { v, .. } => vec![("scalar".into(), value_text(*v))],
                QueryData::String { v, .. } => vec![("string".into(), v.clone())],
                QueryData::Vector(s) | QueryData::Matrix(s) => o
                    .order
                    .iter()
                    .map(|&i| {
                        let sd = &s[i];
                        let val = if sd.points.len() == 1 && o.request.mode == Mode::Table {
                            value_text(sd.points[0].1)
                        } else {
                            sd.points
                                .iter()
                                .map(|(t, v)| format!("{} @{}", value_text(*v), t / 1000))
                                .collect::<Vec<_>>()
                                .join("  ")
                        };
                        (series_name(&sd.labels), val)
                    })
                    .collect(),
            },
        };
        let sort = match self.sort {
            Sort::Labels => "labels",
            Sort::ValueDesc => "value ↓",
            Sort::ValueAsc => "value ↑",
        };
        let val_w = rows
            .iter()
            .map(|r| r.1.chars().count())
            .max()
            .unwrap_or(5)
            .clamp(5, (area.width as usize / 2).max(5));
        let lab_w = (area.width as usize).saturating_sub(val_w + 3);
        let head = Line::from(vec![
            Span::styled(
                pad(
                    &format!(" Series ({} rows, sort: {sort})", rows.len()),
                    lab_w + 1,
                ),
                p.accent,
            ),
            Span::styled(format!(" {:>val_w$}", "Value"), p.accent),
        ]);
        let body_h = area.height as usize - 1;
        if rows.is_empty() {
            let lines = vec![head, Line::styled(" no data", p.dim)];
            frame.render_widget(Paragraph::new(lines), area);
            return;
        }
        self.table_sel = self.table_sel.min(rows.len() - 1);
        if self.table_sel < self.table_offset {
            self.table_offset = self.table_sel;
        } else if self.table_sel >= self.table_offset + body_h {
            self.table_offset = self.table_sel + 1 - body_h;
        }
        let mut lines = vec![head];
        for (i, (l, v)) in rows.iter().enumerate().skip(self.table_offset).take(body_h) {
            let style = if focused && i == self.table_sel {
                p.selection
            } else {
                p.text
            };
            lines.push(Line::from(vec![
                Span::styled(pad(&format!(" {l}"), lab_w + 1), style),
                Span::styled(format!(" {}", pad_left(v, val_w)), style),
            ]));
        }
        frame.render_widget(Paragraph::new(lines), area);
    }

    fn render_graph(&mut self, frame: &mut Frame<'_>, area: Rect, ctx: &ViewCtx<'_>) {
        let p = ctx.palette;
        let Some(o) = &self.outcome else { return };
        let series: &[SeriesData] = match &o.result {
            Ok(QueryAnswer {
                data: QueryData::Matrix(m),
                ..
            }) => m,
            _ => &[],
        };
        if area.height < 4 {
            return;
        }
        let req = &o.request;
        let steps = ((req.end_ms - req.start_ms) / req.step_ms.max(1)) as usize + 1;
        let cursor_idx = self.cursor_idx.map(|c| c.min(steps.saturating_sub(1)));
        let cursor_ms = cursor_idx.map(|c| req.start_ms + c as i64 * req.step_ms);
        // Stacking sums visible series step by step.
        let stacked: Option<Vec<Vec<(i64, f64)>>> = self.stacked.then(|| {
            let mut acc = vec![0.0f64; steps];
            series
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    if self.hidden.contains(&i) {
                        return Vec::new();
                    }
                    s.points
                        .iter()
                        .map(|&(t, v)| {
                            let k = ((t - req.start_ms) / req.step_ms.max(1)) as usize;
                            let slot = acc.get_mut(k.min(steps - 1));
                            match slot {
                                Some(a) if v.is_finite() => {
                                    *a += v;
                                    (t, *a)
                                }
                                _ => (t, v),
                            }
                        })
                        .collect()
                })
                .collect()
        });
        let color = |i: usize| p.series[i % p.series.len().max(1)];
        let lines: Vec<chart::Line> = series
            .iter()
            .enumerate()
            .filter(|(i, _)| !self.hidden.contains(i))
            .map(|(i, s)| chart::Line {
                points: match &stacked {
                    Some(st) => &st[i],
                    None => &s.points,
                },
                color: color(i),
            })
            .collect();
        let value_at = |i: usize| -> Option<f64> {
            let c = cursor_ms?;
            // The legend shows each series' own value, stacked or not.
            let pts: &[(i64, f64)] = &series[i].points;
            let k = pts.partition_point(|&(t, _)| t < c);
            pts.get(k).filter(|(t, _)| *t == c).map(|&(_, v)| v)
        };
        // Legend beside the chart when wide, under it when narrow.
        let wide = area.width >= 120;
        let legend_rows = if wide {
            0
        } else {
            (series.len() as u16).clamp(1, 5).min(area.height / 3)
        };
        let [title_area, body] =
            Layout::vertical([Constraint::Length(1), Constraint::Min(0)]).areas(area);
        let (chart_area, legend_area) = if wide {
            let lw = (area.width / 3).min(64);
            let [c, l] =
                Layout::horizontal([Constraint::Min(0), Constraint::Length(lw)]).areas(body);
            (c, l)
        } else {
            let [c, l] =
                Layout::vertical([Constraint::Min(0), Constraint::Length(legend_rows)]).areas(body);
            (c, l)
        };
        let width = req.end_ms - req.start_ms;
        let mut title = vec![
            Span::styled(
                format!(
                    " {} – {} · step {}",
                    chart::format_time(req.start_ms, width),
                    chart::format_time(req.end_ms, width),
                    format_width(req.step_ms)
                ),
                p.text,
            ),
            Span::styled(
                if self.stacked {
                    " · stacked"
                } else {
                    " · overlaid"
                },
                p.dim,
            ),
        ];
        if self.live {
            title.push(Span::styled(" · live", p.ok));
        }
        if let Some(c) = cursor_ms {
            title.push(Span::styled(
                format!(" · cursor {}", chart::format_time(c, 0)),
                p.accent,
            ));
        }
        if !self.hidden.is_empty() {
            title.push(Span::styled(
                format!(" · {} hidden", self.hidden.len()),
                p.dim,
            ));
        }
        frame.render_widget(Paragraph::new(Line::from(title)), title_area);
        let spec = ChartSpec {
            lines: &lines,
            start_ms: req.start_ms,
            end_ms: req.end_ms,
            step_ms: req.step_ms,
            unit: o.unit,
            cursor_ms,
            y_range: None,
        };
        if series.is_empty() {
            frame.render_widget(
                Paragraph::new(Line::styled(" no data in this range", p.dim)),
                chart_area,
            );
        } else {
            chart::draw(frame.buffer_mut(), chart_area, &spec, p, ctx.glyphs);
        }
        // Legend.
        let n = series.len();
        let rows = legend_area.height as usize;
        if n == 0 || rows == 0 {
            return;
        }
        self.legend_sel = self.legend_sel.min(n - 1);
        let first = self.legend_sel.saturating_sub(rows.saturating_sub(1));
        let focused = self.focus == Focus::Results;
        let (on, off) = match ctx.glyphs {
            Glyphs::Ascii => ("*", "-"),
            _ => ("●", "○"),
        };
        let mut lines = Vec::with_capacity(rows);
        let lw = legend_area.width as usize;
        for (i, sd) in series.iter().enumerate().skip(first).take(rows) {
            let hidden = self.hidden.contains(&i);
            let mark = Span::styled(
                format!(" {} ", if hidden { off } else { on }),
                Style::default().fg(color(i)),
            );
            let val = value_at(i)
                .map(|v| chart::format_value(v, o.unit))
                .unwrap_or_default();
            let name = series_name(&sd.labels);
            let room = lw.saturating_sub(4 + val.chars().count() + 1);
            let style = if focused && i == self.legend_sel {
                p.selection
            } else if hidden {
                p.dim
            } else {
                p.text
            };
            lines.push(Line::from(vec![
                mark,
                Span::styled(pad(&truncate(&name, room), room), style),
                Span::styled(format!(" {val}"), p.accent),
            ]));
        }
        frame.render_widget(Paragraph::new(lines), legend_area);
    }

    fn render_popup(&self, frame: &mut Frame<'_>, edit_area: Rect, area: Rect, p: &Palette) {
        let Some(popup) = &self.popup else { return };
        let (cl, cc) = self.editor.cursor_line_col();
        let below = edit_area.y + 1 + cl as u16 + 1;
        let max_h = (area.y + area.height).saturating_sub(below);
        if max_h < 3 {
            return;
        }
        let mut lines: Vec<Line> = Vec::new();
        let title = match popup {
            Popup::Complete {
                candidates,
                total,
                selected,
                note,
                ..
            } => {
                let shown = (max_h as usize - 2).min(10);
                let first = selected.saturating_sub(shown.saturating_sub(1));
                for (i, c) in candidates.iter().enumerate().skip(first).take(shown) {
                    let tag = match c.kind {
                        Kind::Metric => "metric",
                        Kind::Function => "fn",
                        Kind::Aggregation => "agg",
                        Kind::Keyword => "kw",
                        Kind::Label => "label",
                        Kind::Value => "value",
                    };
                    let st = if i == *selected { p.selection } else { p.text };
                    let kind_style = match c.kind {
                        Kind::Function | Kind::Aggregation => p.syntax.function,
                        Kind::Keyword => p.syntax.keyword,
                        Kind::Label => p.syntax.label,
                        Kind::Value => p.syntax.string,
                        Kind::Metric => p.syntax.metric,
                    };
                    lines.push(Line::from(vec![
                        Span::styled(format!("{tag:>6} "), kind_style),
                        Span::styled(c.text.clone(), st),
                        Span::styled(
                            if c.detail.is_empty() {
                                String::new()
                            } else {
                                format!("  {}", c.detail)
                            },
                            p.dim,
                        ),
                    ]));
                }
                if let Some(n) = note {
                    lines.push(Line::styled(format!("  {n}"), p.dim));
                }
                if *total > candidates.len() {
                    format!(" {}/{} ", candidates.len(), total)
                } else {
                    format!(" {} ", total)
                }
            }
            Popup::History { query, selected } => {
                let hits = self.history.search(query);
                let shown = (max_h as usize - 2).min(12);
                let first = selected.saturating_sub(shown.saturating_sub(1));
                for (i, e) in hits.iter().enumerate().skip(first).take(shown) {
                    let st = if i == *selected { p.selection } else { p.text };
                    lines.push(Line::from(vec![
                        Span::styled(if e.starred { " ★ " } else { "   " }, p.warn),
                        Span::styled(e.expr.replace('\n', " "), st),
                        Span::styled(format!("  ×{}", e.runs), p.dim),
                    ]));
                }
                if hits.is_empty() {
                    lines.push(Line::styled("  no matching history", p.dim));
                }
                format!(" history search: {query}_ (Ctrl-S star) ")
            }
        };
        let want_w = lines
            .iter()
            .map(Line::width)
            .max()
            .unwrap_or(10)
            .max(title.len()) as u16
            + 2;
        let w = want_w
            .min(area.width.saturating_sub(2))
            .max(20.min(area.width));
        let h = (lines.len() as u16 + 2).min(max_h);
        let x = (edit_area.x + 1 + cc as u16)
            .min((area.x + area.width).saturating_sub(w))
            .max(area.x);
        let rect = Rect::new(x, below, w, h);
        frame.render_widget(Clear, rect);
        let block = Block::default()
            .borders(Borders::ALL)
            .border_style(p.accent)
            .title(Span::styled(title, p.dim));
        frame.render_widget(Paragraph::new(lines).block(block), rect);
    }
}

fn pad(s: &str, w: usize) -> String {
    let t = truncate(s, w);
    let n = t.chars().count();
    format!("{t}{}", " ".repeat(w.saturating_sub(n)))
}

fn pad_left(s: &str, w: usize) -> String {
    let t = truncate(s, w);
    let n = t.chars().count();
    format!("{}{t}", " ".repeat(w.saturating_sub(n)))
}

fn truncate(s: &str, w: usize) -> String {
    if s.chars().count() <= w {
        return s.to_string();
    }
    if w == 0 {
        return String::new();
    }
    let mut t: String = s.chars().take(w - 1).collect();
    t.push('…');
    t
}

/// `1h`, `30m`, `2d`, `15s`: a width as PromQL writes durations.
fn format_width(ms: i64) -> String {
    const UNITS: [(i64, &str); 6] = [
        (7 * 86_400_000, "w"),
        (86_400_000, "d"),
        (3_600_000, "h"),
        (60_000, "m"),
        (1000, "s"),
        (1, "ms"),
    ];
    if ms <= 0 {
        return "0s".into();
    }
    let mut out = String::new();
    let mut rest = ms;
    for (u, n) in UNITS {
        if rest >= u {
            out.push_str(&format!("{}{n}", rest / u));
            rest %= u;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widths_print_as_durations() {
        assert_eq!(format_width(3_600_000), "1h");
        assert_eq!(format_width(5_400_000), "1h30m");
        assert_eq!(format_width(14_000), "14s");
    }

    #[test]
    fn series_names_print_like_prometheus() {
        let l = vec![
            ("__name__".to_string(), "up".to_string()),
            ("job".to_string(), "a\"b".to_string()),
        ];
        assert_eq!(series_name(&l), "up{job=\"a\\\"b\"}");
        assert_eq!(series_name(&[]), "{}");
    }
}
