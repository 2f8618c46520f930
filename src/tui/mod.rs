//! The terminal UI: app loop, views over a backend (the in-process engine or a remote
//! Prometheus-compatible API), themes and widgets.
//!
//! `promtui` with a terminal on stdin and stdout calls [`run`]: the terminal goes to the
//! alternate screen first, the engine then opens (WAL replay progress in the header) and
//! starts in-process, and the frame ([`app::App`]) draws views that read it through
//! [`backend::Backend`]. The terminal is restored on quit, on panic (the hook restores
//! before the message prints) and on SIGTERM/SIGHUP; logs go to a file meanwhile.

pub mod alert_fixture;
pub mod app;
pub mod backend;
pub mod console;
pub mod feed;
pub mod fixture;
pub mod task;
pub mod theme;
pub mod timetravel;
pub mod view;
pub mod views;
pub mod widgets;

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use crossterm::event::{DisableMouseCapture, EnableMouseCapture, EventStream};
use crossterm::terminal::{
    disable_raw_mode, enable_raw_mode, EnterAlternateScreen, LeaveAlternateScreen,
};
use futures_util::StreamExt as _;

use self::backend::local::LocalBackend;
use self::backend::remote::{RemoteBackend, RemoteOptions};
use self::backend::Backend;
use self::view::Glyphs;

/// What `promtui` (no subcommand, on a terminal) starts.
pub struct TuiOptions {
    /// `--theme`.
    pub theme: String,
    /// `--glyphs`; `None` detects.
    pub glyphs: Option<Glyphs>,
    /// `--remote`: the API to read instead of an in-process engine.
    pub remote: Option<RemoteOptions>,
    /// The engine to start in-process (ignored with `remote`).
    pub engine: Option<crate::engine::EngineOptions>,
    /// Where operator state lives (console history).
    pub state_dir: PathBuf,
}

/// Puts the terminal back: raw mode off, main screen, mouse released, cursor shown.
/// Safe to call more than once.
pub fn restore_terminal() {
    let _ = disable_raw_mode();
    let mut out = std::io::stdout();
    let _ = crossterm::execute!(
        out,
        DisableMouseCapture,
        LeaveAlternateScreen,
        crossterm::cursor::Show
    );
    let _ = out.flush();
}

/// Restores the terminal when dropped (normal return, `?`, unwinding).
struct TerminalGuard;

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore_terminal();
    }
}

/// Runs the TUI until the operator quits or SIGTERM/SIGHUP arrives; then stops the
/// in-process engine (flushing its WAL).
pub fn run(opts: TuiOptions) -> anyhow::Result<()> {
    let theme_dir = theme::user_theme_dir();
    let no_color = theme::no_color_requested();
    let palette = theme::load(&opts.theme, theme_dir.as_deref()).context("--theme")?;
    let palette = if no_color {
        theme::plain(&palette.name)
    } else {
        palette
    };
    let glyphs = theme::detect_glyphs(opts.glyphs);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .on_thread_park(crate::alloc::collect_now_and_then)
        .build()
        .context("starting the async runtime")?;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let mut engine_task = None;
    let backend: Arc<dyn Backend> = match (&opts.remote, opts.engine) {
        (Some(r), _) => Arc::new(RemoteBackend::new(r).map_err(anyhow::Error::new)?),
        (None, Some(eo)) => {
            let local = LocalBackend::new(eo.tsdb_path.clone());
            let l2 = local.clone();
            engine_task = Some(runtime.spawn(async move {
                let l3 = l2.clone();
                let opened = tokio::task::spawn_blocking(move || {
                    crate::engine::Engine::open_with_progress(eo, |p| {
                        l3.set_starting(format!(
                            "replaying WAL: segment {}/{} ({}%)",
                            p.segments_done,
                            p.total_segments,
                            (p.bytes_read * 100)
                                .checked_div(p.total_bytes)
                                .unwrap_or(100)
                        ))
                    })
                })
                .await;
                let engine = match opened {
                    Ok(Ok(e)) => e,
                    Ok(Err(e)) => {
                        let msg = format!("the engine failed to start: {e}");
                        tracing::error!("{msg}");
                        l2.set_starting(msg.clone());
                        return Err(anyhow::anyhow!(msg));
                    }
                    Err(e) => return Err(anyhow::anyhow!("opening the engine: {e}")),
                };
                l2.attach(engine.handle());
                engine
                    .run(async move {
                        let _ = stop_rx.await;
                    })
                    .await
                    .map_err(anyhow::Error::new)
            }));
            Arc::new(local)
        }
        (None, None) => anyhow::bail!("neither --remote nor an engine to start"),
    };
    let feed = feed::Feed::spawn(backend.clone(), runtime.handle(), Duration::from_secs(1));
    let history = opts.state_dir.join("console_history.sqlite");
    let (views, handoff) = app::views(&backend, &feed, &history);
    let mut app = app::App::new(
        views,
        &backend,
        feed,
        runtime.handle().clone(),
        app::AppOptions {
            palette,
            glyphs,
            no_color,
            theme_dir,
        },
    );
    app.set_console_handoff(handoff);

    enable_raw_mode().context("switching the terminal to raw mode")?;
    let guard = TerminalGuard;
    crossterm::execute!(std::io::stdout(), EnterAlternateScreen, EnableMouseCapture)
        .context("entering the alternate screen")?;
    let prev_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        // The UI runs on the main thread: a panic there ends the program, so the terminal
        // is restored before the message prints. A panic in a runtime worker is caught
        // by tokio (that request fails, the UI keeps running): log it instead of writing
        // over the screen.
        if std::thread::current().name() == Some("main") {
            restore_terminal();
            prev_hook(info);
        } else {
            tracing::error!("panic in a background task: {info}");
        }
    }));
    let term = ratatui::Terminal::new(ratatui::backend::CrosstermBackend::new(std::io::stdout()))
        .context("opening the terminal")?;
    let ui = runtime.block_on(event_loop(term, &mut app));
    drop(guard);
    let _ = std::panic::take_hook();
    // Stop the engine: final scrapes and the WAL flush.
    let _ = stop_tx.send(());
    let engine_result = match engine_task {
        Some(t) => {
            eprintln!("promtui: stopping the engine (flushing the WAL)…");
            runtime.block_on(async {
                match tokio::time::timeout(Duration::from_secs(60), t).await {
                    Ok(Ok(r)) => r,
                    Ok(Err(e)) => Err(anyhow::anyhow!("engine task: {e}")),
                    Err(_) => Err(anyhow::anyhow!("the engine did not stop within 60s")),
                }
            })
        }
        None => Ok(()),
    };
    runtime.shutdown_timeout(Duration::from_millis(200));
    ui?;
    engine_result
}

/// Suspends the TUI (main screen, cooked mode), runs `$EDITOR` at `file:line`, and
/// takes the terminal back.
fn run_editor(file: &std::path::Path, line: Option<usize>) -> Result<(), String> {
    restore_terminal();
    let status = views::rules::editor_command(file, line).status();
    let back = enable_raw_mode().and_then(|_| {
        crossterm::execute!(std::io::stdout(), EnterAlternateScreen, EnableMouseCapture)
    });
    if let Err(e) = back {
        return Err(format!("restoring the terminal after the editor: {e}"));
    }
    match status {
        Ok(s) if s.success() => Ok(()),
        Ok(s) => Err(format!("the editor exited with {s}")),
        Err(e) => Err(format!("starting the editor ($EDITOR): {e}")),
    }
}

/// The event loop: input first, then SIGTERM/SIGHUP, then the tick. Draws after each.
async fn event_loop<B: ratatui::backend::Backend>(
    mut term: ratatui::Terminal<B>,
    app: &mut app::App,
) -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut events = EventStream::new();
    let mut term_sig = signal(SignalKind::terminate()).context("SIGTERM handler")?;
    let mut hup_sig = signal(SignalKind::hangup()).context("SIGHUP handler")?;
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut last_draw = std::time::Instant::now() - Duration::from_secs(10);
    let mut dirty = true;
    loop {
        let now = crate::model::time::now_ms();
        // Redraw on input, once a second, and every tick while something spins.
        if dirty || app.busy() || last_draw.elapsed() >= Duration::from_secs(1) {
            app.tick(now);
            term.draw(|f| app.draw(f, now))
                .context("drawing the screen")?;
            last_draw = std::time::Instant::now();
            dirty = false;
        }
        if app.quit {
            return Ok(());
        }
        tokio::select! {
            biased;
            ev = events.next() => match ev {
                Some(Ok(ev)) => {
                    if let crossterm::event::Event::Resize(..) = ev {
                        let _ = term.autoresize();
                    }
                    app.on_event(ev, crate::model::time::now_ms());
                    dirty = true;
                    if let Some((file, line)) = views::rules::take_editor_request() {
                        // The input reader is dropped so it cannot take the editor's keys.
                        drop(events);
                        let r = run_editor(&file, line);
                        events = EventStream::new();
                        term.clear().context("redrawing after the editor")?;
                        if let Err(e) = r {
                            app.log_event(feed::Severity::Error, e);
                        }
                    }
                }
                Some(Err(e)) => return Err(anyhow::Error::new(e).context("reading terminal input")),
                None => return Ok(()),
            },
            _ = term_sig.recv() => {
                tracing::info!("received SIGTERM, leaving the TUI");
                return Ok(());
            }
            _ = hup_sig.recv() => {
                tracing::info!("received SIGHUP (terminal gone), leaving the TUI");
                return Ok(());
            }
            _ = tick.tick() => {}
        }
    }
}
