//! The frame's live feed: samples the backend's [`Health`] every second on a background
//! task and keeps the last hour of each header figure (the Overview's sparklines) and a
//! log of recent events (rejected reloads, targets going down). The header and views read
//! the latest copy; nothing here blocks the render loop.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

use super::backend::{Backend, Health};

/// Points kept per figure: an hour at one per second.
pub const HISTORY: usize = 3600;

/// The window of the locally derived ingestion rate.
const RATE_WINDOW_MS: i64 = 60_000;

/// How bad an event was.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    Info,
    Warn,
    Error,
}

/// The last hour of one figure: `(ms since the epoch, value)`, oldest first.
pub type Series = VecDeque<(i64, f64)>;

/// What the feed has seen.
#[derive(Clone, Debug, Default)]
pub struct FeedState {
    pub health: Option<Health>,
    /// Why the last sample failed (the backend is unreachable...).
    pub error: Option<String>,
    /// When the last sample arrived (ms).
    pub updated_ms: i64,
    /// Samples appended per second.
    pub rate: Series,
    pub head_series: Series,
    pub storage: Series,
    pub targets_up: Series,
    pub targets_down: Series,
    /// Newest last; at most 200.
    pub events: VecDeque<(i64, Severity, String)>,
    /// The appended-samples counter over the last minute, for the local rate (scrapes
    /// land in bursts, so a per-second difference would mostly read 0).
    counters: VecDeque<(i64, f64)>,
}

fn push(s: &mut Series, t: i64, v: f64) {
    if s.len() >= HISTORY {
        s.pop_front();
    }
    s.push_back((t, v));
}

impl FeedState {
    /// Records one sample taken at `now_ms`.
    pub fn record(&mut self, now_ms: i64, mut h: Health) {
        if h.ingestion_rate.is_none() {
            if let Some(c) = h.samples_appended_total {
                // A counter reset (engine restart) starts the window over.
                if self.counters.back().is_some_and(|&(_, last)| c < last) {
                    self.counters.clear();
                }
                while self
                    .counters
                    .front()
                    .is_some_and(|&(t, _)| now_ms - t > RATE_WINDOW_MS)
                {
                    self.counters.pop_front();
                }
                if let Some(&(t0, c0)) = self.counters.front() {
                    if now_ms > t0 {
                        h.ingestion_rate = Some((c - c0) * 1000.0 / (now_ms - t0) as f64);
                    }
                }
                self.counters.push_back((now_ms, c));
            }
        }
        let mut events = Vec::new();
        if let Some(prev) = &self.health {
            if let (Some(a), Some(b)) = (&prev.last_reload, &h.last_reload) {
                if a != b {
                    let (sev, msg) = if b.ok {
                        (Severity::Info, "configuration reloaded".to_string())
                    } else {
                        (
                            Severity::Error,
                            "configuration reload rejected: the previous configuration keeps running"
                                .to_string(),
                        )
                    };
                    events.push((sev, msg));
                }
            }
            if h.targets_down > prev.targets_down {
                let n = h.targets_down - prev.targets_down;
                events.push((Severity::Warn, format!("{n} target(s) went down")));
            }
        }
        for (sev, msg) in events {
            self.event(now_ms, sev, msg);
        }
        if let Some(r) = h.ingestion_rate {
            push(&mut self.rate, now_ms, r);
        }
        if let Some(s) = h.head_series {
            push(&mut self.head_series, now_ms, s as f64);
        }
        if let Some(s) = h.storage_bytes {
            push(&mut self.storage, now_ms, s as f64);
        }
        push(&mut self.targets_up, now_ms, h.targets_up as f64);
        push(&mut self.targets_down, now_ms, h.targets_down as f64);
        self.health = Some(h);
        self.error = None;
        self.updated_ms = now_ms;
    }

    /// Appends an event to the log.
    pub fn event(&mut self, now_ms: i64, sev: Severity, msg: String) {
        if self.events.len() >= 200 {
            self.events.pop_front();
        }
        self.events.push_back((now_ms, sev, msg));
    }
}

/// History read from the server's self-scraped series: rate, head series, targets up.
type Backfill = [Vec<(i64, f64)>; 3];

/// Range queries over the last hour at 10 s for the sparklines' history (empty where the
/// server does not scrape itself).
async fn backfill(backend: &dyn Backend) -> Backfill {
    let src = backend.console_source();
    let end = crate::model::time::now_ms();
    let start = end - 3_600_000;
    let exprs = [
        "sum(rate({__name__=~\"(prometheus|promtui)_tsdb_head_samples_appended_total\"}[1m]))",
        "sum({__name__=~\"(prometheus|promtui)_tsdb_head_series\"})",
        "count(up == 1)",
    ];
    let mut out: Backfill = Default::default();
    for (i, e) in exprs.iter().enumerate() {
        if let Ok(a) = src.range_query(e.to_string(), start, end, 10_000).await {
            if let crate::tui::console::source::QueryData::Matrix(m) = a.data {
                if let Some(s) = m.into_iter().next() {
                    out[i] = s.points;
                }
            }
        }
    }
    out
}

impl FeedState {
    /// Puts history older than the first live sample in front of each figure.
    fn prepend(&mut self, b: Backfill) {
        let [rate, series, up] = b;
        for (s, pts) in [
            (&mut self.rate, rate),
            (&mut self.head_series, series),
            (&mut self.targets_up, up),
        ] {
            let first = s.front().map_or(i64::MAX, |p| p.0);
            for p in pts.into_iter().rev().filter(|p| p.0 < first) {
                if s.len() >= HISTORY {
                    break;
                }
                s.push_front(p);
            }
        }
    }
}

/// The shared feed.
#[derive(Default)]
pub struct Feed {
    state: Mutex<FeedState>,
}

impl Feed {
    /// A copy of the state for one frame.
    pub fn snapshot(&self) -> FeedState {
        self.state.lock().clone()
    }

    /// Changes the state (tests, and events the frame records such as reload results).
    pub fn with<R>(&self, f: impl FnOnce(&mut FeedState) -> R) -> R {
        f(&mut self.state.lock())
    }

    /// Starts sampling `backend` every `every` on `rt`; stops when the feed is dropped.
    pub fn spawn(
        backend: Arc<dyn Backend>,
        rt: &tokio::runtime::Handle,
        every: Duration,
    ) -> Arc<Feed> {
        let feed = Arc::new(Feed::default());
        let weak = Arc::downgrade(&feed);
        rt.spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            let mut last_err: Option<String> = None;
            let mut backfilled = false;
            loop {
                tick.tick().await;
                let r = backend.health().await;
                let ready = matches!(&r, Ok(h) if h.starting.is_none());
                let Some(feed) = weak.upgrade() else { return };
                if ready && !backfilled {
                    // The hour before the TUI started, from the server's own series.
                    backfilled = true;
                    let b = backfill(backend.as_ref()).await;
                    feed.state.lock().prepend(b);
                }
                let now = crate::model::time::now_ms();
                let mut st = feed.state.lock();
                match r {
                    Ok(h) => {
                        st.record(now, h);
                        last_err = None;
                    }
                    Err(e) => {
                        let msg = e.to_string();
                        if last_err.as_deref() != Some(msg.as_str()) {
                            st.event(now, Severity::Error, msg.clone());
                        }
                        st.error = Some(msg.clone());
                        last_err = Some(msg);
                    }
                }
            }
        });
        feed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::backend::ReloadState;

    #[test]
    fn derives_the_rate_and_logs_reloads_and_down_targets() {
        let mut st = FeedState::default();
        let h = |c: f64, down: u64, ok: bool| Health {
            samples_appended_total: Some(c),
            targets_down: down,
            last_reload: Some(ReloadState { ok, at_ms: 5 }),
            ..Health::default()
        };
        st.record(1_000, h(100.0, 0, true));
        assert!(st.rate.is_empty());
        st.record(3_000, h(300.0, 2, true));
        assert_eq!(st.rate.back(), Some(&(3_000, 100.0)));
        // The rate spans the last minute, not the last sample.
        st.record(5_000, h(300.0, 2, true));
        assert_eq!(st.rate.back(), Some(&(5_000, 50.0)));
        assert_eq!(st.events.back().unwrap().2, "2 target(s) went down");
        st.record(6_000, h(300.0, 2, false));
        assert_eq!(st.events.back().unwrap().1, Severity::Error);
        assert_eq!(st.targets_down.len(), 4);
        // Backfilled history goes before the live samples, never after.
        st.prepend([vec![(0, 7.0), (500, 8.0), (9_000, 9.0)], vec![], vec![]]);
        let t: Vec<i64> = st.rate.iter().map(|p| p.0).collect();
        assert_eq!(t, [0, 500, 3_000, 5_000, 6_000]);
    }
}
