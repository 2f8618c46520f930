//! The PromQL console and the metric explorer: the two views of the TUI that run
//! queries and explore metric names.
//!
//! - [`ConsoleView`] (`:console`): an editor with highlighting, parse errors at their
//!   column, history in SQLite (stars, Ctrl-R search), autocomplete of metric names,
//!   label names, label values and function signatures from a cache over
//!   [`source::ConsoleSource`], results as a sortable table (instant) or a chart (range)
//!   with legend, value cursor, zoom/pan, stacking and live refresh.
//! - [`MetricsExplorerView`] (`:metrics`): every metric name with TYPE, unit, HELP and
//!   series count; Enter hands the metric to the console through a [`ConsoleHandoff`].
//!
//! Files: `view.rs` (the console's state, keys and drawing), `editor.rs` (text buffer and
//! highlighting), `complete.rs` (what the cursor completes, the candidate cache),
//! `history.rs` (SQLite), `chart.rs` (the dot-grid chart and unit inference),
//! `explain.rs` (the query explain pane over [`crate::promql::explain`]),
//! `metrics.rs` (the explorer), `source.rs` (the backend seam), `testing.rs` (palettes,
//! an engine-backed source and text snapshots for tests and benches).
//!
//! Nothing here waits: every backend call is spawned on the runtime from
//! [`crate::tui::view::ViewCtx`] and its answer collected in `tick`; a superseded or
//! cancelled answer is dropped with its task (the join handle is aborted).

use std::sync::Arc;

use parking_lot::Mutex;

pub mod chart;
pub mod complete;
pub mod editor;
pub mod explain;
pub mod history;
pub mod metrics;
pub mod source;
#[doc(hidden)]
pub mod testing;
mod view;

pub use metrics::MetricsExplorerView;
pub use view::ConsoleView;

/// How another view (the metric explorer, or the frame itself) hands an expression to
/// the console: [`ConsoleHandoff::send`] queues it; the console picks it up on its next
/// tick, puts it in the editor and runs it. The frame learns that it should switch to the
/// console with [`ConsoleHandoff::take_switch_request`] (check it after passing a key to
/// a view). Get one from [`ConsoleView::handoff`]; clones share the queue.
#[derive(Clone, Default)]
pub struct ConsoleHandoff(Arc<Mutex<HandoffState>>);

#[derive(Default)]
struct HandoffState {
    expr: Option<String>,
    switch: bool,
}

impl ConsoleHandoff {
    /// Queues `expr` for the console (a later send replaces an unread one) and asks the
    /// frame to switch to the console.
    pub fn send(&self, expr: impl Into<String>) {
        let mut s = self.0.lock();
        s.expr = Some(expr.into());
        s.switch = true;
    }

    /// True once after each [`ConsoleHandoff::send`]: the frame should show the console.
    pub fn take_switch_request(&self) -> bool {
        std::mem::take(&mut self.0.lock().switch)
    }

    fn take_expr(&self) -> Option<String> {
        self.0.lock().expr.take()
    }
}
