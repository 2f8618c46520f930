//! The seam between the TUI's frame (app loop, header, footer, palette, help, filter,
//! themes) and its views: each view is one type implementing [`View`], in its own file
//! under src/tui/views/ (the console lives in src/tui/console/).
//!
//! The frame owns the terminal and the event loop; a view never blocks: work that waits
//! (queries, API calls) is spawned on [`ViewCtx::runtime`] and its result polled in
//! [`View::tick`]. The frame redraws on input, on a timer while any view is busy, and on
//! its refresh interval.

use std::time::Instant;

use crossterm::event::{KeyEvent, MouseEvent};
use ratatui::layout::Rect;
use ratatui::style::{Color, Style};
use ratatui::Frame;

/// Colours and styles every view draws with, loaded by the frame from a theme file in
/// themes/ (or the user's config directory). With NO_COLOR every style is plain.
#[derive(Clone, Debug, PartialEq)]
pub struct Palette {
    pub name: String,
    /// Ordinary text on the background.
    pub text: Style,
    /// Secondary text: hints, units, timestamps.
    pub dim: Style,
    /// Titles, the active tab, focused borders.
    pub accent: Style,
    pub border: Style,
    /// The selected row of a list or table.
    pub selection: Style,
    /// Health and severity, used consistently: up/ok/resolved, warning/pending,
    /// down/error/critical/firing, informational.
    pub ok: Style,
    pub warn: Style,
    pub error: Style,
    pub info: Style,
    /// Chart series colours, cycled.
    pub series: Vec<Color>,
    /// PromQL syntax highlighting.
    pub syntax: SyntaxStyles,
}

/// Styles for each kind of PromQL token.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct SyntaxStyles {
    pub keyword: Style,
    pub function: Style,
    pub metric: Style,
    pub label: Style,
    pub string: Style,
    pub number: Style,
    pub duration: Style,
    pub operator: Style,
    pub comment: Style,
    /// The span of a parse error (underlined).
    pub error: Style,
}

/// How fine the terminal can draw: braille dots, block elements, or plain ASCII (a
/// plain TTY, `--glyphs ascii`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Glyphs {
    Braille,
    Block,
    Ascii,
}

/// The time range views chart over (`:range 6h`), ending now unless time-travelled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimeRange {
    /// Width of the range in milliseconds.
    pub width_ms: i64,
    /// End of the range (ms since the epoch); `None` follows the wall clock.
    pub end_ms: Option<i64>,
}

/// What the frame lends a view for one call.
pub struct ViewCtx<'a> {
    pub palette: &'a Palette,
    pub glyphs: Glyphs,
    /// Runtime to spawn backend work on; never block on it from a view.
    pub runtime: &'a tokio::runtime::Handle,
    pub range: TimeRange,
    /// Wall clock for this frame, ms since the epoch (fixed in snapshot tests).
    pub now_ms: i64,
}

/// Whether a view used an input event; ignored keys fall through to the frame's keys
/// (`?`, `:`, `/`, `Tab`, digits, `q`...).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Handled {
    Consumed,
    Ignored,
}

/// A `/` filter over the current list: a regex (RE2 syntax) matched anywhere in a row's
/// text, inverted by a leading `!`.
#[derive(Clone, Debug)]
pub struct Filter {
    pub regex: regex::Regex,
    pub invert: bool,
}

impl Filter {
    /// Whether a row with this text is shown.
    pub fn keeps(&self, text: &str) -> bool {
        self.regex.is_match(text) != self.invert
    }
}

/// One view of the TUI.
pub trait View {
    /// Tab title and the palette command that opens it (`console` for `:console`).
    fn name(&self) -> &'static str;
    /// Other names the palette accepts for this view.
    fn aliases(&self) -> &'static [&'static str] {
        &[]
    }
    /// `(key, what it does)` for every key of this view: the footer shows the first few,
    /// the `?` overlay all of them.
    fn key_hints(&self) -> Vec<(&'static str, &'static str)>;
    /// When true (an editor has focus), the frame passes every key to the view except
    /// Ctrl-C; the view returns `Ignored` for Esc to give focus back.
    fn captures_text(&self) -> bool {
        false
    }
    fn on_key(&mut self, key: KeyEvent, ctx: &mut ViewCtx<'_>) -> Handled;
    /// A mouse event inside `area`, the rectangle the view was last drawn in.
    fn on_mouse(&mut self, _event: MouseEvent, _area: Rect, _ctx: &mut ViewCtx<'_>) -> Handled {
        Handled::Ignored
    }
    /// The `/` filter changed (`None`: cleared). Views without a list ignore it.
    fn set_filter(&mut self, _filter: Option<Filter>) {}
    /// A palette command the frame does not know (`:range 6h` is the frame's; a view may
    /// add its own). `None` when not this view's command, else its result.
    fn command(
        &mut self,
        _name: &str,
        _args: &str,
        _ctx: &mut ViewCtx<'_>,
    ) -> Option<Result<(), String>> {
        None
    }
    /// Called before every draw and on the refresh timer: poll finished work, start
    /// periodic refreshes.
    fn tick(&mut self, ctx: &mut ViewCtx<'_>);
    fn render(&mut self, frame: &mut Frame<'_>, area: Rect, ctx: &ViewCtx<'_>);
    /// When work is in flight, when it started (the frame shows a spinner with the
    /// elapsed time; Esc calls [`View::cancel`]).
    fn busy_since(&self) -> Option<Instant> {
        None
    }
    fn cancel(&mut self) {}
    /// A view the frame should switch to after this call (by name), e.g. the Rules
    /// view's `b` opening the Backtest view; taken once.
    fn switch_request(&mut self) -> Option<&'static str> {
        None
    }
}
