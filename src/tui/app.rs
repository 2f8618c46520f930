//! The frame: tabs, header, footer, the `:` palette, the `/` filter, the `?` help
//! overlay, and the event loop that drives the views through [`View`].
//!
//! Input becomes state changes, state is drawn: the loop is one `select!` over terminal
//! events (biased towards input), a tick, and SIGTERM/SIGHUP. Views never block; the frame
//! redraws after every event, every second, and every 100 ms while a view is busy (its
//! spinner). Backend work runs on the runtime, never on this loop.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossterm::event::{
    Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseButton, MouseEvent, MouseEventKind,
};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};
use ratatui::Frame;

use super::backend::Backend;
use super::console::ConsoleHandoff;
use super::feed::{Feed, Severity};
use super::view::{Filter, Glyphs, Handled, Palette, TimeRange, View, ViewCtx};
use super::widgets;

/// THE place the view list is built: tab order is this order, and `1`..`9` follow it.
/// The console joins by uncommenting its one line below (as tab 2, `:console`).
pub fn views(
    backend: &Arc<dyn Backend>,
    feed: &Arc<Feed>,
    history_db: &std::path::Path,
) -> (Vec<Box<dyn View>>, ConsoleHandoff) {
    let console =
        crate::tui::console::ConsoleView::new(backend.console_source(), history_db.to_path_buf());
    let handoff = console.handoff();
    let metrics =
        crate::tui::console::MetricsExplorerView::new(backend.console_source(), handoff.clone());
    let views: Vec<Box<dyn View>> = vec![
        Box::new(super::views::overview::OverviewView::new(
            backend.clone(),
            feed.clone(),
        )),
        Box::new(console),
        Box::new(metrics),
        Box::new(super::views::targets::TargetsView::new(backend.clone())),
        Box::new(super::views::tsdb::TsdbView::new(backend.clone())),
        Box::new(super::views::config::ConfigView::new(
            backend.clone(),
            feed.clone(),
        )),
        Box::new(super::views::alerts::AlertsView::new(backend)),
        Box::new(super::views::silences::SilencesView::new(backend)),
    ];
    let mut views = views;
    // Triage: rules (with backtest), Pushgateway, rule test runner.
    let backtest = super::views::backtest::BacktestHandoff::default();
    views.push(Box::new(super::views::rules::RulesView::new(
        super::backend::rules::rules_source(backend),
        backend.console_source(),
        backtest.clone(),
    )));
    views.push(Box::new(super::views::pushgateway::PushgatewayView::new(
        super::backend::pushgateway::push_source(backend),
    )));
    views.push(Box::new(super::views::backtest::BacktestView::new(
        backend.console_source(),
        backtest,
    )));
    views.push(Box::new(super::views::ruletest::RuleTestView::new(
        Vec::new(),
    )));
    (views, handoff)
}

/// What has the keyboard.
#[derive(Clone, Debug, PartialEq)]
enum Mode {
    Normal,
    /// `:` palette with its input.
    Command(String),
    /// `/` filter being typed.
    Filter(String),
    Help,
}

/// Frame-level keys, shown in `?` before the view's own.
pub const FRAME_KEYS: &[(&str, &str)] = &[
    ("?", "help (this overlay)"),
    (":", "command palette (Tab completes)"),
    ("/", "filter the list (regex, ! inverts)"),
    ("Tab/S-Tab", "next/previous view"),
    ("1..9", "go to view"),
    ("Esc", "cancel / clear filter / back"),
    (
        "[ / ]",
        "time travel: step back / forward (:at 2h ago, :at now)",
    ),
    ("q, :q", "quit"),
];

/// A status-line message and when it was set.
struct Status {
    text: String,
    error: bool,
    at: Instant,
}

/// The whole UI state.
pub struct App {
    views: Vec<Box<dyn View>>,
    active: usize,
    palette: Palette,
    glyphs: Glyphs,
    no_color: bool,
    theme_dir: Option<PathBuf>,
    range: TimeRange,
    feed: Arc<Feed>,
    endpoint: String,
    remote: bool,
    mode: Mode,
    /// The filter text of each view (kept when switching).
    filters: Vec<String>,
    status: Option<Status>,
    /// Set by `:q`, `q`, Ctrl-C.
    pub quit: bool,
    runtime: tokio::runtime::Handle,
    /// Where the view and the tabs were last drawn (mouse hit tests).
    view_area: Rect,
    tab_spans: Vec<(u16, u16)>,
    /// The help overlay's first shown row, and the largest it can be (set when drawn).
    help_scroll: u16,
    help_max_scroll: std::cell::Cell<u16>,
    /// How the metric explorer (or a command) asks for the console.
    handoff: Option<ConsoleHandoff>,
}

/// Options of the frame.
pub struct AppOptions {
    pub palette: Palette,
    pub glyphs: Glyphs,
    pub no_color: bool,
    pub theme_dir: Option<PathBuf>,
}

impl App {
    pub fn new(
        views: Vec<Box<dyn View>>,
        backend: &Arc<dyn Backend>,
        feed: Arc<Feed>,
        runtime: tokio::runtime::Handle,
        opts: AppOptions,
    ) -> App {
        let n = views.len();
        App {
            views,
            active: 0,
            palette: opts.palette,
            glyphs: opts.glyphs,
            no_color: opts.no_color,
            theme_dir: opts.theme_dir,
            range: TimeRange {
                width_ms: 3_600_000,
                end_ms: None,
            },
            feed,
            endpoint: backend.endpoint(),
            remote: backend.is_remote(),
            mode: Mode::Normal,
            filters: vec![String::new(); n],
            status: None,
            quit: false,
            runtime,
            view_area: Rect::default(),
            tab_spans: Vec::new(),
            help_scroll: 0,
            help_max_scroll: std::cell::Cell::new(0),
            handoff: None,
        }
    }

    /// The active view's name.
    pub fn active_view(&self) -> &'static str {
        self.views[self.active].name()
    }

    pub fn palette(&self) -> &Palette {
        &self.palette
    }

    fn ctx_parts(&self, now_ms: i64) -> (Palette, Glyphs, TimeRange, i64) {
        (self.palette.clone(), self.glyphs, self.range, now_ms)
    }

    /// Runs `f` with the active view and a context for it.
    fn with_view<R>(
        &mut self,
        now_ms: i64,
        f: impl FnOnce(&mut dyn View, &mut ViewCtx<'_>) -> R,
    ) -> R {
        let (palette, glyphs, range, now_ms) = self.ctx_parts(now_ms);
        let rt = self.runtime.clone();
        let mut ctx = ViewCtx {
            palette: &palette,
            glyphs,
            runtime: &rt,
            range,
            now_ms,
        };
        let r = f(self.views[self.active].as_mut(), &mut ctx);
        if let Some(name) = self.views[self.active].switch_request() {
            if let Some(i) = self.views.iter().position(|v| v.name() == name) {
                self.switch(i);
            }
        }
        if self
            .handoff
            .as_ref()
            .is_some_and(|h| h.take_switch_request())
        {
            if let Some(i) = self.views.iter().position(|v| v.name() == "console") {
                self.switch(i);
            }
        }
        r
    }

    /// Lets views hand expressions to the console (the metric explorer's Enter): the
    /// frame switches to the console when one arrives.
    pub fn set_console_handoff(&mut self, handoff: ConsoleHandoff) {
        self.handoff = Some(handoff);
    }

    fn set_status(&mut self, text: impl Into<String>, error: bool) {
        self.status = Some(Status {
            text: text.into(),
            error,
            at: Instant::now(),
        });
    }

    fn switch(&mut self, i: usize) {
        if i < self.views.len() {
            self.active = i;
            self.mode = Mode::Normal;
        }
    }

    /// Whether the active view has work in flight.
    pub fn busy(&self) -> bool {
        self.views[self.active].busy_since().is_some()
    }

    /// Handles one terminal event.
    pub fn on_event(&mut self, ev: Event, now_ms: i64) {
        match ev {
            Event::Key(k) if k.kind != KeyEventKind::Release => self.on_key(k, now_ms),
            Event::Mouse(m) => self.on_mouse(m, now_ms),
            _ => {}
        }
    }

    /// Handles one key.
    pub fn on_key(&mut self, key: KeyEvent, now_ms: i64) {
        if key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c') {
            self.quit = true;
            return;
        }
        match self.mode.clone() {
            Mode::Help => {
                // Scrolls like a list whose rows are the first shown lines, 0..=max.
                let rows = usize::from(self.help_max_scroll.get()) + 1;
                let code = match key.code {
                    KeyCode::Char(' ') => KeyCode::PageDown,
                    c => c,
                };
                if let Some(d) = widgets::list_motion(code, 10, rows) {
                    let at = widgets::moved(usize::from(self.help_scroll), d, rows);
                    self.help_scroll = at as u16;
                } else if matches!(code, KeyCode::Esc | KeyCode::Char('?') | KeyCode::Char('q')) {
                    self.mode = Mode::Normal;
                }
                return;
            }
            Mode::Command(mut input) => {
                match key.code {
                    KeyCode::Esc => self.mode = Mode::Normal,
                    KeyCode::Enter => {
                        self.mode = Mode::Normal;
                        self.run_command(input.trim(), now_ms);
                        return;
                    }
                    KeyCode::Tab => {
                        if let Some(c) = self.completions(&input).first() {
                            input = c.clone();
                        }
                        self.mode = Mode::Command(input);
                    }
                    KeyCode::Backspace => {
                        if input.pop().is_none() {
                            self.mode = Mode::Normal;
                        } else {
                            self.mode = Mode::Command(input);
                        }
                    }
                    KeyCode::Char(c) => {
                        input.push(c);
                        self.mode = Mode::Command(input);
                    }
                    _ => {}
                }
                return;
            }
            Mode::Filter(mut input) => {
                match key.code {
                    KeyCode::Esc => {
                        self.mode = Mode::Normal;
                        self.apply_filter(String::new());
                    }
                    KeyCode::Enter => self.mode = Mode::Normal,
                    KeyCode::Backspace => {
                        input.pop();
                        self.apply_filter(input.clone());
                        self.mode = Mode::Filter(input);
                    }
                    KeyCode::Char(c) => {
                        input.push(c);
                        self.apply_filter(input.clone());
                        self.mode = Mode::Filter(input);
                    }
                    _ => {}
                }
                return;
            }
            Mode::Normal => {}
        }
        if self.views[self.active].captures_text() {
            let h = self.with_view(now_ms, |v, ctx| v.on_key(key, ctx));
            if h == Handled::Consumed {
                return;
            }
        } else if !matches!(
            key.code,
            KeyCode::Char('?' | ':' | '/' | 'q') | KeyCode::Tab | KeyCode::BackTab
        ) && !matches!(key.code, KeyCode::Char(c) if c.is_ascii_digit() && c != '0')
        {
            if key.code == KeyCode::Esc && self.views[self.active].busy_since().is_some() {
                self.views[self.active].cancel();
                self.set_status("cancelled", false);
                return;
            }
            let h = self.with_view(now_ms, |v, ctx| v.on_key(key, ctx));
            if h == Handled::Consumed {
                return;
            }
        }
        match key.code {
            KeyCode::Char('?') => self.open_help(),
            KeyCode::Char(':') => self.mode = Mode::Command(String::new()),
            KeyCode::Char('/') => self.mode = Mode::Filter(self.filters[self.active].clone()),
            KeyCode::Char('q') => self.quit = true,
            KeyCode::Char('[') => self.travel_step(false, now_ms),
            KeyCode::Char(']') => self.travel_step(true, now_ms),
            KeyCode::Tab => self.switch((self.active + 1) % self.views.len()),
            KeyCode::BackTab => {
                self.switch((self.active + self.views.len() - 1) % self.views.len())
            }
            KeyCode::Char(c) if c.is_ascii_digit() && c != '0' => {
                self.switch(c as usize - '1' as usize)
            }
            KeyCode::Esc => {
                if self.views[self.active].busy_since().is_some() {
                    self.views[self.active].cancel();
                    self.set_status("cancelled", false);
                } else if !self.filters[self.active].is_empty() {
                    self.apply_filter(String::new());
                } else {
                    self.status = None;
                }
            }
            _ => {}
        }
    }

    fn apply_filter(&mut self, text: String) {
        self.filters[self.active] = text.clone();
        if text.is_empty() || text == "!" {
            self.views[self.active].set_filter(None);
            return;
        }
        let (invert, pat) = match text.strip_prefix('!') {
            Some(p) => (true, p),
            None => (false, text.as_str()),
        };
        // Smart case: all lower case matches either case. RE2 syntax, as every regex.
        let source = if pat.chars().all(|c| !c.is_uppercase()) {
            format!("(?i:{pat})")
        } else {
            pat.to_string()
        };
        match crate::model::regex::compile(&source) {
            Ok(regex) => {
                self.views[self.active].set_filter(Some(Filter { regex, invert }));
                if self.status.as_ref().is_some_and(|s| s.error) {
                    self.status = None;
                }
            }
            Err(e) => {
                self.set_status(format!("filter: {e}"), true);
            }
        }
    }

    /// Every command the palette knows, for completion and help.
    fn commands(&self) -> Vec<String> {
        let mut c = Vec::new();
        for v in &self.views {
            c.push(v.name().to_string());
            c.extend(v.aliases().iter().map(|a| a.to_string()));
        }
        for t in super::theme::available(self.theme_dir.as_deref()) {
            c.push(format!("theme {t}"));
        }
        for r in ["5m", "15m", "1h", "6h", "12h", "1d", "7d"] {
            c.push(format!("range {r}"));
        }
        c.extend(
            [
                "glyphs braille",
                "glyphs block",
                "glyphs ascii",
                "at now",
                "at 15m ago",
                "at 1h ago",
                "at 1d ago",
                "help",
                "q",
                "quit",
            ]
            .map(String::from),
        );
        c
    }

    /// Palette completions of `input`, best first.
    pub fn completions(&self, input: &str) -> Vec<String> {
        let input = input.trim_start();
        let mut out: Vec<String> = self
            .commands()
            .into_iter()
            .filter(|c| c.starts_with(input) && c != input)
            .collect();
        out.sort_by_key(|c| c.len());
        out
    }

    /// `:at ARG`: sets the moment every view shows, or returns to the present.
    fn travel(&mut self, args: &str, now_ms: i64) {
        use super::timetravel::{format_ago, format_moment, parse_at, AtTarget};
        match parse_at(args, now_ms) {
            Ok(AtTarget::Now) => {
                self.range.end_ms = None;
                self.set_status("back to the present", false);
            }
            Ok(AtTarget::At(t)) => {
                self.range.end_ms = Some(t);
                self.set_status(
                    format!(
                        "at {} ({}); [ ] step, :at now returns",
                        format_moment(t),
                        format_ago(t, now_ms)
                    ),
                    false,
                );
            }
            Err(e) => self.set_status(e.to_string(), true),
        }
    }

    /// `[` / `]`: steps the time-travel moment by a tenth of the range; stepping forward
    /// past the present returns to it.
    fn travel_step(&mut self, forward: bool, now_ms: i64) {
        use super::timetravel::{step, step_ms};
        let by = step_ms(self.range.width_ms);
        self.range.end_ms = step(self.range.end_ms, by, forward, now_ms);
        if self.range.end_ms.is_none() {
            self.set_status("back to the present", false);
        }
    }

    /// The moment the views show; `None` when following the clock.
    pub fn travel_moment(&self) -> Option<i64> {
        self.range.end_ms
    }

    /// Runs a palette command (`targets`, `theme light`, `range 6h`, `q`...).
    pub fn run_command(&mut self, line: &str, now_ms: i64) {
        let (name, args) = match line.split_once(char::is_whitespace) {
            Some((n, a)) => (n, a.trim()),
            None => (line, ""),
        };
        match name {
            "" => {}
            "q" | "quit" | "q!" => self.quit = true,
            "help" => self.open_help(),
            "theme" => match super::theme::load(args, self.theme_dir.as_deref()) {
                Ok(p) => {
                    self.palette = if self.no_color {
                        super::theme::plain(&p.name)
                    } else {
                        p
                    };
                    self.set_status(format!("theme {args}"), false);
                }
                Err(e) => self.set_status(e.to_string(), true),
            },
            "glyphs" => match super::theme::parse_glyphs(args) {
                Ok(g) => self.glyphs = g,
                Err(e) => self.set_status(e, true),
            },
            "at" => self.travel(args, now_ms),
            "range" => match crate::model::time::parse_duration(args) {
                Ok(ms) if ms > 0 => {
                    self.range.width_ms = ms;
                    self.set_status(format!("range {args}"), false);
                }
                _ => self.set_status(
                    format!("range: {args:?} is not a duration (e.g. 6h, 30m, 7d)"),
                    true,
                ),
            },
            _ => {
                if let Some(i) = self
                    .views
                    .iter()
                    .position(|v| v.name() == name || v.aliases().contains(&name))
                {
                    self.switch(i);
                    return;
                }
                let mut r = self.with_view(now_ms, |v, ctx| v.command(name, args, ctx));
                // Another view's command (`:reload` from anywhere) switches to that view.
                if r.is_none() {
                    let here = self.active;
                    for i in (0..self.views.len()).filter(|&i| i != here) {
                        self.active = i;
                        r = self.with_view(now_ms, |v, ctx| v.command(name, args, ctx));
                        if r.is_some() {
                            break;
                        }
                    }
                    if r.is_none() {
                        self.active = here;
                    }
                }
                match r {
                    Some(Ok(())) => {}
                    Some(Err(e)) => self.set_status(e, true),
                    None => {
                        let hint = self
                            .completions(name)
                            .first()
                            .map(|c| format!(" (did you mean :{c}?)"))
                            .unwrap_or_default();
                        self.set_status(format!("unknown command :{line}{hint}"), true)
                    }
                }
            }
        }
    }

    fn on_mouse(&mut self, m: MouseEvent, now_ms: i64) {
        if self.mode != Mode::Normal {
            return;
        }
        if m.row == 0 {
            if let MouseEventKind::Down(MouseButton::Left) = m.kind {
                if let Some(i) = self
                    .tab_spans
                    .iter()
                    .position(|&(a, b)| m.column >= a && m.column < b)
                {
                    self.switch(i);
                }
            }
            return;
        }
        let area = self.view_area;
        let inside = m.column >= area.x
            && m.column < area.x + area.width
            && m.row >= area.y
            && m.row < area.y + area.height;
        if !inside {
            return;
        }
        let h = self.with_view(now_ms, |v, ctx| v.on_mouse(m, area, ctx));
        if h == Handled::Ignored {
            // Wheel scrolls like the arrow keys where the view has no mouse handling.
            let code = match m.kind {
                MouseEventKind::ScrollDown => KeyCode::Down,
                MouseEventKind::ScrollUp => KeyCode::Up,
                _ => return,
            };
            let key = KeyEvent::new(code, KeyModifiers::NONE);
            self.with_view(now_ms, |v, ctx| v.on_key(key, ctx));
        }
    }

    /// Polls every view's finished work (the visible one refreshes; the others keep
    /// their last data).
    pub fn tick(&mut self, now_ms: i64) {
        self.with_view(now_ms, |v, ctx| v.tick(ctx));
        if let Some(s) = &self.status {
            if !s.error && s.at.elapsed() > Duration::from_secs(5) {
                self.status = None;
            }
        }
    }

    /// Draws the whole screen.
    pub fn draw(&mut self, f: &mut Frame<'_>, now_ms: i64) {
        let area = f.area();
        let p = self.palette.clone();
        let [tabs, header, body, footer] = Layout::vertical([
            Constraint::Length(1),
            Constraint::Length(2),
            Constraint::Min(3),
            Constraint::Length(1),
        ])
        .areas(area);
        self.draw_tabs(f, tabs);
        self.draw_header(f, header, now_ms);
        self.view_area = body;
        let (palette, glyphs, range, now_ms) = self.ctx_parts(now_ms);
        let rt = self.runtime.clone();
        let ctx = ViewCtx {
            palette: &palette,
            glyphs,
            runtime: &rt,
            range,
            now_ms,
        };
        self.views[self.active].render(f, body, &ctx);
        self.draw_footer(f, footer);
        if self.mode == Mode::Help {
            self.draw_help(f, area, &p);
        }
    }

    fn draw_tabs(&mut self, f: &mut Frame<'_>, area: Rect) {
        let p = &self.palette;
        let mut spans = vec![Span::styled(" promtui ", p.accent)];
        let mut x = 9u16;
        self.tab_spans.clear();
        // Every tab with its name when they fit; otherwise the others shrink to their
        // numbers, and on a very narrow terminal the row starts far enough along that the
        // active tab is always on screen.
        let full: Vec<String> = (self.views.iter().enumerate())
            .map(|(i, v)| format!(" {} {} ", i + 1, v.name()))
            .collect();
        let width = |ls: &[String]| ls.iter().map(|l| l.chars().count()).sum::<usize>();
        let room = usize::from(area.width.saturating_sub(x));
        let labels = if width(&full) <= room {
            full
        } else {
            (full.into_iter().enumerate())
                .map(|(i, l)| {
                    if i == self.active {
                        l
                    } else {
                        format!(" {} ", i + 1)
                    }
                })
                .collect()
        };
        let mut first = 0;
        while first < self.active && width(&labels[first..=self.active]) > room {
            first += 1;
        }
        for (i, label) in labels.into_iter().enumerate() {
            let w = label.chars().count() as u16;
            if i < first {
                // Off screen to the left: not clickable.
                self.tab_spans.push((0, 0));
                continue;
            }
            self.tab_spans.push((area.x + x, area.x + x + w));
            x += w;
            let style = if i == self.active { p.selection } else { p.dim };
            spans.push(Span::styled(label, style));
        }
        f.render_widget(Paragraph::new(Line::from(spans)), area);
    }

    fn draw_header(&self, f: &mut Frame<'_>, area: Rect, now_ms: i64) {
        let p = &self.palette;
        let st = self.feed.snapshot();
        let sep = Span::styled(" │ ", p.dim);
        let sep = if self.glyphs == Glyphs::Ascii {
            Span::styled(" | ", p.dim)
        } else {
            sep
        };
        let (up_arrow, down_arrow) = if self.glyphs == Glyphs::Ascii {
            ("up", "down")
        } else {
            ("↑", "↓")
        };
        let mut l1: Vec<Span> = Vec::new();
        let mut l2: Vec<Span> = Vec::new();
        // Below 100 columns the figures drop their words to fit.
        let wide = area.width >= 100;
        let word = |w: &'static str, short: &'static str| if wide { w } else { short };
        // Time travel comes first, so it cannot be missed: the moment, how long ago, and
        // what `[`/`]` step by. The figures after it stay live.
        if let Some(t) = self.range.end_ms {
            use super::timetravel::{format_ago, format_moment, step_ms};
            let step = crate::model::time::format_duration(step_ms(self.range.width_ms));
            l1.push(Span::styled(
                format!("AT {} ({})", format_moment(t), format_ago(t, now_ms)),
                p.warn.add_modifier(ratatui::style::Modifier::REVERSED),
            ));
            l1.push(Span::styled(format!(" [ ] ±{step}"), p.warn));
            l1.push(sep.clone());
            l1.push(Span::styled(word("live: ", ""), p.dim));
        }
        match &st.health {
            Some(h) => {
                l1.push(Span::styled(word("targets ", ""), p.dim));
                l1.push(Span::styled(format!("{}{up_arrow}", h.targets_up), p.ok));
                l1.push(Span::raw(" "));
                let down_style = if h.targets_down > 0 { p.error } else { p.dim };
                l1.push(Span::styled(
                    format!("{}{down_arrow}", h.targets_down),
                    down_style,
                ));
                if h.targets_unknown > 0 {
                    l1.push(Span::styled(format!(" {}?", h.targets_unknown), p.warn));
                }
                l1.push(sep.clone());
                l1.push(Span::styled(
                    h.ingestion_rate
                        .map(|r| widgets::si(r.round()))
                        .unwrap_or_else(|| "-".into()),
                    p.text,
                ));
                l1.push(Span::styled(word(" samples/s", "/s"), p.dim));
                l1.push(sep.clone());
                l1.push(Span::styled(
                    h.head_series
                        .map(|s| widgets::si(s as f64))
                        .unwrap_or_else(|| "-".into()),
                    p.text,
                ));
                l1.push(Span::styled(" series", p.dim));
                l1.push(sep.clone());
                l1.push(Span::styled(
                    h.storage_bytes
                        .map(widgets::bytes)
                        .unwrap_or_else(|| "-".into()),
                    p.text,
                ));
                l1.push(Span::styled(word(" on disk", ""), p.dim));
                l1.push(sep.clone());
                l1.push(Span::styled(word("uptime ", "up "), p.dim));
                l1.push(Span::styled(
                    h.start_ms
                        .map(|s| widgets::duration(now_ms.saturating_sub(s)))
                        .unwrap_or_else(|| "-".into()),
                    p.text,
                ));
                // Alerts take room only when wide or when there are some.
                let alerts = h.alerts_firing.zip(h.alerts_pending);
                if let Some((fi, pe)) = alerts.filter(|(f, p)| wide || f + p > 0) {
                    l1.push(sep.clone());
                    l1.push(Span::styled(
                        format!("{fi} firing"),
                        if fi > 0 { p.error } else { p.dim },
                    ));
                    l1.push(Span::styled(format!(" {pe} pending"), p.warn));
                    // By severity, most severe first, when wide: `crit 2/1` is firing/pending.
                    if wide {
                        for (sev, f, pn) in h.alerts_by_severity.iter().take(3) {
                            let short: String = sev.chars().take(4).collect();
                            let style = match sev.as_str() {
                                "critical" | "page" | "error" => p.error,
                                "warning" | "warn" => p.warn,
                                _ => p.info,
                            };
                            l1.push(Span::styled(format!(" {short} {f}/{pn}"), style));
                        }
                    }
                }
            }
            None => l1.push(Span::styled("connecting…", p.dim)),
        }
        let kind = if self.remote { "remote " } else { "" };
        l2.push(Span::styled(kind, p.dim));
        l2.push(Span::styled(self.endpoint.clone(), p.info));
        if let Some(r) = st.health.as_ref().and_then(|h| h.last_reload.clone()) {
            l2.push(sep.clone());
            if r.ok {
                l2.push(Span::styled("config ok", p.ok));
                l2.push(Span::styled(
                    format!(" (loaded {})", widgets::ago(now_ms, Some(r.at_ms))),
                    p.dim,
                ));
            } else {
                l2.push(Span::styled("last reload FAILED", p.error));
            }
        }
        if let Some(s) = st.health.as_ref().and_then(|h| h.starting.clone()) {
            l2.push(sep.clone());
            let spin = widgets::spinner(now_ms.max(0) as u128, self.glyphs);
            l2.push(Span::styled(format!("{spin} {s}"), p.warn));
        }
        if let Some(e) = &st.error {
            l2.push(sep.clone());
            l2.push(Span::styled(e.clone(), p.error));
        }
        f.render_widget(Paragraph::new(vec![Line::from(l1), Line::from(l2)]), area);
    }

    fn draw_footer(&self, f: &mut Frame<'_>, area: Rect) {
        let p = &self.palette;
        let line = match &self.mode {
            Mode::Command(input) => {
                let mut spans = vec![
                    Span::styled(":", p.accent),
                    Span::styled(input.clone(), p.text),
                    Span::styled("█", p.dim),
                ];
                let c = self.completions(input);
                if !c.is_empty() {
                    let shown: Vec<&str> = c.iter().take(5).map(String::as_str).collect();
                    spans.push(Span::styled(format!("  Tab: {}", shown.join("  ")), p.dim));
                }
                Line::from(spans)
            }
            Mode::Filter(input) => Line::from(vec![
                Span::styled("/", p.accent),
                Span::styled(input.clone(), p.text),
                Span::styled("█", p.dim),
                Span::styled("  Enter keeps, Esc clears, ! inverts", p.dim),
            ]),
            _ => {
                let mut spans = Vec::new();
                let view = &self.views[self.active];
                if let Some(since) = view.busy_since() {
                    let el = since.elapsed();
                    spans.push(Span::styled(
                        format!(
                            "{} working {:.1}s (Esc cancels) ",
                            widgets::spinner(el.as_millis(), self.glyphs),
                            el.as_secs_f64()
                        ),
                        p.warn,
                    ));
                }
                if let Some(s) = &self.status {
                    spans.push(Span::styled(
                        format!("{} ", s.text),
                        if s.error { p.error } else { p.info },
                    ));
                } else {
                    let filt = &self.filters[self.active];
                    if !filt.is_empty() {
                        spans.push(Span::styled(format!("/{filt} "), p.accent));
                    }
                    for (k, what) in view.key_hints().iter().take(6) {
                        spans.push(Span::styled(k.to_string(), p.accent));
                        spans.push(Span::styled(format!(" {what}  "), p.dim));
                    }
                    spans.push(Span::styled("? help  : cmd  q quit", p.dim));
                }
                Line::from(spans)
            }
        };
        f.render_widget(Paragraph::new(line), area);
    }

    fn open_help(&mut self) {
        self.mode = Mode::Help;
        self.help_scroll = 0;
    }

    fn draw_help(&self, f: &mut Frame<'_>, area: Rect, p: &Palette) {
        let view = &self.views[self.active];
        let mut lines = vec![Line::from(Span::styled("Everywhere", p.accent))];
        let key_line = |k: &str, what: &str| {
            Line::from(vec![
                Span::styled(format!("  {k:<12}"), p.accent),
                Span::styled(what.to_string(), p.text),
            ])
        };
        for (k, w) in FRAME_KEYS {
            lines.push(key_line(k, w));
        }
        lines.push(Line::from(""));
        lines.push(Line::from(Span::styled(
            format!("{} view", view.name()),
            p.accent,
        )));
        for (k, w) in view.key_hints() {
            lines.push(key_line(k, w));
        }
        lines.push(Line::from(""));
        // The views present (local and remote frames differ), then the frame's own commands.
        let mut commands = String::from("Commands:");
        for v in &self.views {
            commands.push_str(" :");
            commands.push_str(v.name());
        }
        commands.push_str(" :at 2h ago :range 6h :theme NAME :glyphs G :q");
        lines.push(Line::from(Span::styled(commands, p.dim)));
        let w = 70.min(area.width);
        let text = Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .style(p.text);
        // Rows after wrapping at the inner width, so the last line can be reached.
        let rows = text.line_count(w.saturating_sub(2)).max(1);
        let h = (rows as u16 + 2).min(area.height);
        // Taller than the terminal: it scrolls, and the title says how.
        let max_scroll = (rows as u16).saturating_sub(h.saturating_sub(2));
        self.help_max_scroll.set(max_scroll);
        let scroll = self.help_scroll.min(max_scroll);
        let title = if max_scroll > 0 {
            format!(
                " help {}/{} (j/k scroll, Esc closes) ",
                scroll + h.saturating_sub(2),
                rows
            )
        } else {
            " help (Esc closes) ".to_string()
        };
        let r = Rect {
            x: area.x + (area.width - w) / 2,
            y: area.y + (area.height - h) / 2,
            width: w,
            height: h,
        };
        f.render_widget(Clear, r);
        f.render_widget(
            text.scroll((scroll, 0)).block(
                Block::default()
                    .borders(Borders::ALL)
                    .border_style(p.accent)
                    .title(title),
            ),
            r,
        );
    }

    /// Records a frame-level event in the feed (e.g. a reload result).
    pub fn log_event(&self, sev: Severity, msg: String) {
        self.feed
            .with(|s| s.event(crate::model::time::now_ms(), sev, msg));
    }
}

/// Draws `app` into a [`ratatui::backend::TestBackend`] of `width`x`height` and returns
/// the screen as text, one line per row (snapshot tests and benches).
pub fn render_to_text(app: &mut App, width: u16, height: u16, now_ms: i64) -> String {
    buffer_text(&render_to_buffer(app, width, height, now_ms))
}

/// Draws `app` (after a tick) into a fresh buffer of `width`x`height`.
pub fn render_to_buffer(
    app: &mut App,
    width: u16,
    height: u16,
    now_ms: i64,
) -> ratatui::buffer::Buffer {
    let area = Rect::new(0, 0, width, height);
    let mut buf = ratatui::buffer::Buffer::empty(area);
    app.tick(now_ms);
    let backend = ratatui::backend::TestBackend::new(width, height);
    if let Ok(mut term) = ratatui::Terminal::new(backend) {
        if term.draw(|f| app.draw(f, now_ms)).is_ok() {
            buf = term.backend().buffer().clone();
        }
    }
    buf
}

/// A buffer as text, trailing spaces trimmed per row.
pub fn buffer_text(buf: &ratatui::buffer::Buffer) -> String {
    let mut out = String::new();
    for y in 0..buf.area.height {
        let mut row = String::new();
        for x in 0..buf.area.width {
            row.push_str(buf[(x, y)].symbol());
        }
        out.push_str(row.trim_end());
        out.push('\n');
    }
    out
}

/// A style for a health string.
pub fn health_style(p: &Palette, health: &str) -> Style {
    match health {
        "up" | "ok" => p.ok,
        "down" | "error" => p.error,
        _ => p.warn,
    }
}
