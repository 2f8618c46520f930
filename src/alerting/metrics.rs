//! The built-in Alertmanager's self-metrics under Alertmanager's names, so dashboards and
//! alerts written for Alertmanager (the mixin's `alertmanager_notifications_failed_total`,
//! Grafana's Alertmanager dashboard) work against promtui: served on the main `/metrics`
//! and on `/metrics` of `--alertmanager.listen-address`.
//!
//! - `alertmanager_alerts{state="active"|"suppressed"|"unprocessed"}`: alerts in the
//!   store, suppressed when silenced or inhibited (acknowledged alerts stay active, as
//!   Alertmanager has no such state);
//! - `alertmanager_alerts_received_total{status="firing"|"resolved"}`,
//!   `alertmanager_alerts_invalid_total`;
//! - per integration kind (every kind promtui sends, zero until used):
//!   `alertmanager_notifications_total` (one per notification, retries included once),
//!   `alertmanager_notifications_failed_total` (notifications given up on),
//!   `alertmanager_notification_requests_total` and
//!   `alertmanager_notification_requests_failed_total` (every attempt), and
//!   `alertmanager_notification_latency_seconds` (a histogram of attempts, Alertmanager's
//!   buckets 1, 5, 10, 15, 20 s);
//! - `alertmanager_silences{state="active"|"expired"|"pending"}`;
//! - `alertmanager_config_last_reload_successful` and
//!   `alertmanager_config_last_reload_success_timestamp_seconds`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use parking_lot::Mutex;

use crate::exposition::MetricsWriter;

use super::dispatch::{InhibitIndex, Pipeline};
use super::silence::SilenceState;

/// Alertmanager's latency buckets (seconds).
const LATENCY_BUCKETS: [f64; 5] = [1.0, 5.0, 10.0, 15.0, 20.0];

/// The integration kinds promtui sends; each is exposed from the start.
const KINDS: [&str; 4] = ["email", "pagerduty", "slack", "webhook"];

#[derive(Clone, Debug, Default)]
struct Counters {
    notifications: u64,
    failed: u64,
    requests: u64,
    requests_failed: u64,
    latency_buckets: [u64; LATENCY_BUCKETS.len()],
    latency_sum: f64,
    latency_count: u64,
}

/// Per-integration notification counters and the reload state.
#[derive(Debug)]
pub struct NotifyMetrics {
    by_kind: Mutex<BTreeMap<String, Counters>>,
    reload_ok: AtomicBool,
    reload_success_at: AtomicI64,
}

impl Default for NotifyMetrics {
    fn default() -> Self {
        NotifyMetrics {
            by_kind: Mutex::new(
                KINDS
                    .iter()
                    .map(|k| (k.to_string(), Counters::default()))
                    .collect(),
            ),
            reload_ok: AtomicBool::new(true),
            reload_success_at: AtomicI64::new(Utc::now().timestamp()),
        }
    }
}

impl NotifyMetrics {
    fn with(&self, kind: &str, f: impl FnOnce(&mut Counters)) {
        let mut m = self.by_kind.lock();
        match m.get_mut(kind) {
            Some(c) => f(c),
            None => f(m.entry(kind.to_string()).or_default()),
        }
    }

    /// A notification to `kind` starts (counted once, whatever the retries).
    pub fn notification(&self, kind: &str) {
        self.with(kind, |c| c.notifications += 1);
    }

    /// A notification to `kind` was given up on.
    pub fn failed(&self, kind: &str) {
        self.with(kind, |c| c.failed += 1);
    }

    /// One attempt to `kind` took `took`; `ok` when it was accepted.
    pub fn request(&self, kind: &str, took: Duration, ok: bool) {
        let s = took.as_secs_f64();
        self.with(kind, |c| {
            c.requests += 1;
            if !ok {
                c.requests_failed += 1;
            }
            for (b, n) in LATENCY_BUCKETS.iter().zip(c.latency_buckets.iter_mut()) {
                if s <= *b {
                    *n += 1;
                }
            }
            c.latency_sum += s;
            c.latency_count += 1;
        });
    }

    /// Records a configuration reload's outcome.
    pub fn reloaded(&self, ok: bool, now: DateTime<Utc>) {
        self.reload_ok.store(ok, Ordering::Relaxed);
        if ok {
            self.reload_success_at
                .store(now.timestamp(), Ordering::Relaxed);
        }
    }
}

/// Writes the `alertmanager_*` families for `p` at `now`.
pub fn write(p: &Pipeline, w: &mut MetricsWriter, now: DateTime<Utc>) {
    let (active, suppressed) = {
        let built = p.built.read().clone();
        let store = p.alerts.read();
        let idx = InhibitIndex::build(
            &built.config.inhibit_rules,
            store.values().map(|a| &**a),
            now,
        );
        let sil = p.silences.lock();
        let mut mc = p.mute_cache.lock();
        let mut active = 0u64;
        let mut suppressed = 0u64;
        for a in store.values().filter(|a| !a.resolved_at(now)) {
            if idx.inhibited_by(&a.labels).is_some()
                || !mc.mutes(&sil, &a.labels, a.fingerprint, now).is_empty()
            {
                suppressed += 1;
            } else {
                active += 1;
            }
        }
        (active, suppressed)
    };
    w.family("alertmanager_alerts", "gauge", "How many alerts by state.");
    w.sample("alertmanager_alerts", &[("state", "active")], active as f64);
    w.sample(
        "alertmanager_alerts",
        &[("state", "suppressed")],
        suppressed as f64,
    );
    w.sample("alertmanager_alerts", &[("state", "unprocessed")], 0.0);

    let m = &p.metrics;
    w.family(
        "alertmanager_alerts_received_total",
        "counter",
        "The total number of received alerts.",
    );
    let received = m.alerts_received.load(Ordering::Relaxed);
    let resolved = m.alerts_received_resolved.load(Ordering::Relaxed);
    w.sample(
        "alertmanager_alerts_received_total",
        &[("status", "firing")],
        received.saturating_sub(resolved) as f64,
    );
    w.sample(
        "alertmanager_alerts_received_total",
        &[("status", "resolved")],
        resolved as f64,
    );
    w.single(
        "alertmanager_alerts_invalid_total",
        "counter",
        "The total number of received alerts that were invalid.",
        m.alerts_invalid.load(Ordering::Relaxed) as f64,
    );

    let by_kind = p.notify_metrics.by_kind.lock().clone();
    type Field = fn(&Counters) -> u64;
    let families: [(&str, &str, Field); 4] = [
        (
            "alertmanager_notifications_total",
            "The total number of attempted notifications.",
            |c| c.notifications,
        ),
        (
            "alertmanager_notifications_failed_total",
            "The total number of failed notifications.",
            |c| c.failed,
        ),
        (
            "alertmanager_notification_requests_total",
            "The total number of attempted notification requests.",
            |c| c.requests,
        ),
        (
            "alertmanager_notification_requests_failed_total",
            "The total number of failed notification requests.",
            |c| c.requests_failed,
        ),
    ];
    for (name, help, f) in families {
        w.family(name, "counter", help);
        for (kind, c) in &by_kind {
            w.sample(name, &[("integration", kind)], f(c) as f64);
        }
    }
    let lat = "alertmanager_notification_latency_seconds";
    w.family(lat, "histogram", "The latency of notifications in seconds.");
    for (kind, c) in &by_kind {
        for (b, n) in LATENCY_BUCKETS.iter().zip(c.latency_buckets.iter()) {
            let le = format!("{b}");
            w.sample(
                &format!("{lat}_bucket"),
                &[("integration", kind), ("le", &le)],
                *n as f64,
            );
        }
        w.sample(
            &format!("{lat}_bucket"),
            &[("integration", kind), ("le", "+Inf")],
            c.latency_count as f64,
        );
        w.sample(
            &format!("{lat}_sum"),
            &[("integration", kind)],
            c.latency_sum,
        );
        w.sample(
            &format!("{lat}_count"),
            &[("integration", kind)],
            c.latency_count as f64,
        );
    }

    let (mut active, mut pending, mut expired) = (0u64, 0u64, 0u64);
    for s in p.silences.lock().all() {
        match s.state(now) {
            SilenceState::Active => active += 1,
            SilenceState::Pending => pending += 1,
            SilenceState::Expired => expired += 1,
        }
    }
    w.family(
        "alertmanager_silences",
        "gauge",
        "How many silences by state.",
    );
    w.sample(
        "alertmanager_silences",
        &[("state", "active")],
        active as f64,
    );
    w.sample(
        "alertmanager_silences",
        &[("state", "expired")],
        expired as f64,
    );
    w.sample(
        "alertmanager_silences",
        &[("state", "pending")],
        pending as f64,
    );

    let nm = &p.notify_metrics;
    w.single(
        "alertmanager_config_last_reload_successful",
        "gauge",
        "Whether the last configuration reload attempt was successful.",
        if nm.reload_ok.load(Ordering::Relaxed) {
            1.0
        } else {
            0.0
        },
    );
    w.single(
        "alertmanager_config_last_reload_success_timestamp_seconds",
        "gauge",
        "Timestamp of the last successful configuration reload.",
        nm.reload_success_at.load(Ordering::Relaxed) as f64,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_histogram_is_cumulative() {
        let m = NotifyMetrics::default();
        m.notification("webhook");
        m.request("webhook", Duration::from_millis(20), true);
        m.request("webhook", Duration::from_secs(7), false);
        m.failed("webhook");
        let c = m.by_kind.lock()["webhook"].clone();
        assert_eq!(
            (c.notifications, c.failed, c.requests, c.requests_failed),
            (1, 1, 2, 1)
        );
        assert_eq!(c.latency_buckets, [1, 1, 2, 2, 2]);
        assert_eq!(c.latency_count, 2);
        // Every kind promtui sends is there before its first notification.
        assert!(m.by_kind.lock().contains_key("pagerduty"));
    }
}
