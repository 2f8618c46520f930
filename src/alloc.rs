//! Giving memory freed by other threads back to the system.
//!
//! mimalloc keeps a page of small blocks with the thread that allocated from it; a block
//! freed by another thread goes on the page's list of remote frees and is only taken back
//! (and an emptied page purged) when the owning thread next allocates in that size class
//! or collects. promtui's head allocates a series' pieces on whichever runtime worker ran
//! the scrape and frees them elsewhere, and a synchronized fleet moves every series'
//! growing chunk through the same size classes at once, so emptied pages could sit
//! resident for minutes. Long-running threads (runtime workers when they park, the head's
//! spill thread) call [`collect_now_and_then`]: at most every [`EVERY`] per thread, it
//! runs the collector the binary registered ([`set_collector`]: `mi_collect(false)`, which
//! takes back remote frees, frees empty pages and purges what has waited long enough).
//! The library itself stays free of `unsafe`; without a registered collector (tests,
//! other allocators) the call does nothing.

use std::cell::Cell;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Least time between two collections on one thread.
pub const EVERY: Duration = Duration::from_secs(2);

static COLLECTOR: OnceLock<fn()> = OnceLock::new();

thread_local! {
    static LAST: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// Registers the allocator's collection of the calling thread's heap (first one wins).
pub fn set_collector(f: fn()) {
    let _ = COLLECTOR.set(f);
}

/// Runs the registered collector on the calling thread unless it ran there less than
/// [`EVERY`] ago. Cheap when rate-limited (a thread-local read and a clock read).
pub fn collect_now_and_then() {
    let Some(collect) = COLLECTOR.get() else {
        return;
    };
    if due(&LAST, Instant::now()) {
        collect();
    }
}

fn due(last: &'static std::thread::LocalKey<Cell<Option<Instant>>>, now: Instant) -> bool {
    last.with(|l| match l.get() {
        Some(t) if now.duration_since(t) < EVERY => false,
        _ => {
            l.set(Some(now));
            true
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    thread_local! {
        static T: Cell<Option<Instant>> = const { Cell::new(None) };
    }

    #[test]
    fn due_at_most_once_per_period_per_thread() {
        let t0 = Instant::now();
        assert!(due(&T, t0));
        assert!(!due(&T, t0 + EVERY / 2), "rate-limited");
        assert!(due(&T, t0 + EVERY), "due again after the period");
        std::thread::spawn(move || assert!(due(&T, t0), "per thread"))
            .join()
            .unwrap();
    }
}
