//! Deterministic alerting state for the alert views' snapshot tests and render bench:
//! aggregation groups over three receivers (one alert acknowledged, one inhibited by
//! another with the inhibit rule, one silenced), a pending alert of the rule engine,
//! silences (one matching nothing and ending soon, one expired), and an [`AlertSource`]
//! that never answers so nothing changes under a test.

use std::sync::Arc;

use super::app::{App, AppOptions};
use super::backend::alerts::{
    AckDraft, AckInfo, AlertSource, AlertsSnapshot, AmAlert, AmGroup, HistoryEvent, Labels,
    RuleAlert, RuleAlertState, SilenceDraft, SilenceInfo, SilenceMatcher,
};
use super::backend::{Backend, BackendError};
use super::fixture::{StillBackend, NOW_MS};
use super::view::{Glyphs, View};
use crate::alerting::inspect::{InhibitLink, Inspection, Notified};
use crate::web::BoxFuture;

/// An alert source whose calls never answer.
pub struct StillAlerts;

fn never<T: Send + 'static>() -> BoxFuture<T> {
    Box::pin(std::future::pending())
}

impl AlertSource for StillAlerts {
    fn endpoint(&self) -> String {
        "built-in Alertmanager".into()
    }
    fn snapshot(&self) -> BoxFuture<Result<AlertsSnapshot, BackendError>> {
        never()
    }
    fn create_silence(&self, _: SilenceDraft) -> BoxFuture<Result<String, BackendError>> {
        never()
    }
    fn expire_silence(&self, _: String) -> BoxFuture<Result<(), BackendError>> {
        never()
    }
    fn ack(&self, _: AckDraft) -> BoxFuture<Result<String, BackendError>> {
        never()
    }
    fn inspect(&self, _: String) -> BoxFuture<Result<Inspection, BackendError>> {
        never()
    }
    fn history(&self, _: i64, _: i64) -> BoxFuture<Result<Vec<HistoryEvent>, BackendError>> {
        never()
    }
}

/// A source answering only `history`, with `events` (the time travel test).
pub struct HistoryAlerts(pub Vec<HistoryEvent>);

impl AlertSource for HistoryAlerts {
    fn endpoint(&self) -> String {
        "built-in Alertmanager".into()
    }
    fn snapshot(&self) -> BoxFuture<Result<AlertsSnapshot, BackendError>> {
        never()
    }
    fn create_silence(&self, _: SilenceDraft) -> BoxFuture<Result<String, BackendError>> {
        never()
    }
    fn expire_silence(&self, _: String) -> BoxFuture<Result<(), BackendError>> {
        never()
    }
    fn ack(&self, _: AckDraft) -> BoxFuture<Result<String, BackendError>> {
        never()
    }
    fn inspect(&self, _: String) -> BoxFuture<Result<Inspection, BackendError>> {
        never()
    }
    fn history(
        &self,
        since: i64,
        until: i64,
    ) -> BoxFuture<Result<Vec<HistoryEvent>, BackendError>> {
        let v: Vec<HistoryEvent> = self
            .0
            .iter()
            .filter(|e| e.at_ms >= since && e.at_ms <= until)
            .cloned()
            .collect();
        Box::pin(async move { Ok(v) })
    }
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn alert(fp: &str, l: &[(&str, &str)], ann: &[(&str, &str)], age_ms: i64, recv: &str) -> AmAlert {
    AmAlert {
        fingerprint: fp.into(),
        labels: labels(l),
        annotations: labels(ann),
        starts_at_ms: NOW_MS - age_ms,
        ends_at_ms: NOW_MS + 240_000,
        generator_url: String::new(),
        receivers: vec![recv.into()],
        ..AmAlert::default()
    }
}

const SILENCE_CPU: &str = "4f9a1c2e-7b3d-4e8a-9c1f-2a3b4c5d6e7f";
const SILENCE_NOTHING: &str = "8d2e4f6a-1b3c-4d5e-8f9a-0b1c2d3e4f5a";
const SILENCE_OLD: &str = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";
const ACK: &str = "c0ffee00-1111-4222-8333-444455556666";

/// The fixture's alerting state.
pub fn snapshot() -> AlertsSnapshot {
    let mut api = alert(
        "a1b2c3d4e5f60001",
        &[
            ("alertname", "HighErrorRate"),
            ("cluster", "eu1"),
            ("service", "api"),
            ("severity", "critical"),
        ],
        &[
            ("summary", "5xx ratio 7.2% on api"),
            ("runbook_url", "https://runbooks.example/HighErrorRate"),
        ],
        1_380_000,
        "pager",
    );
    api.generator_url =
        "http://promtui:9090/graph?g0.expr=job%3Aerrors%3Aratio5m+%3E+0.05&g0.tab=1".into();
    let mut web = alert(
        "a1b2c3d4e5f60002",
        &[
            ("alertname", "HighErrorRate"),
            ("cluster", "eu1"),
            ("service", "web"),
            ("severity", "critical"),
        ],
        &[("summary", "5xx ratio 5.4% on web")],
        600_000,
        "pager",
    );
    web.acked_by = vec![ACK.into()];
    let disk = alert(
        "b0b0b0b0b0b00001",
        &[
            ("alertname", "DiskFull"),
            ("cluster", "eu1"),
            ("instance", "db-1:9100"),
            ("severity", "critical"),
        ],
        &[("summary", "/var/lib/postgres 98% full")],
        3_900_000,
        "team-db",
    );
    let mut lag = alert(
        "b0b0b0b0b0b00002",
        &[
            ("alertname", "ReplicationLag"),
            ("cluster", "eu1"),
            ("instance", "db-2:9187"),
            ("severity", "warning"),
        ],
        &[("summary", "replica 312s behind")],
        2_700_000,
        "team-db",
    );
    lag.inhibited_by = vec!["b0b0b0b0b0b00001".into()];
    let mut cpu = alert(
        "c0c0c0c0c0c00001",
        &[
            ("alertname", "CPUHigh"),
            ("instance", "batch-7:9100"),
            ("severity", "warning"),
        ],
        &[("summary", "CPU 97% for 20m")],
        7_260_000,
        "default",
    );
    cpu.silenced_by = vec![SILENCE_CPU.into()];
    let group = |recv: &str, key: &str, l: &[(&str, &str)], alerts: Vec<AmAlert>| AmGroup {
        labels: labels(l),
        receiver: recv.into(),
        key: Some(key.into()),
        alerts,
    };
    AlertsSnapshot {
        groups: vec![
            group(
                "pager",
                r#"{}/{severity="critical"}:{alertname="HighErrorRate", cluster="eu1"}"#,
                &[("alertname", "HighErrorRate"), ("cluster", "eu1")],
                vec![api, web],
            ),
            group(
                "team-db",
                r#"{}/{team="db"}:{alertname="DiskFull", cluster="eu1"}"#,
                &[("alertname", "DiskFull"), ("cluster", "eu1")],
                vec![disk],
            ),
            group(
                "team-db",
                r#"{}/{team="db"}:{alertname="ReplicationLag", cluster="eu1"}"#,
                &[("alertname", "ReplicationLag"), ("cluster", "eu1")],
                vec![lag],
            ),
            group(
                "default",
                r#"{}:{alertname="CPUHigh"}"#,
                &[("alertname", "CPUHigh")],
                vec![cpu],
            ),
        ],
        rule_alerts: vec![RuleAlert {
            rule: "MemoryPressure".into(),
            expr: "node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes < 0.1".into(),
            labels: labels(&[
                ("alertname", "MemoryPressure"),
                ("instance", "web-3:9100"),
                ("severity", "warning"),
            ]),
            annotations: labels(&[("summary", "7% memory available")]),
            state: RuleAlertState::Pending,
            active_at_ms: NOW_MS - 95_000,
            value: 0.07,
        }],
        silences: vec![
            SilenceInfo {
                id: SILENCE_CPU.into(),
                state: "active".into(),
                matchers: vec![SilenceMatcher {
                    name: "alertname".into(),
                    value: "CPUHigh".into(),
                    is_regex: false,
                    is_equal: true,
                }],
                created_by: "bob".into(),
                comment: "batch window, JIRA-4411".into(),
                starts_at_ms: NOW_MS - 3_600_000,
                ends_at_ms: NOW_MS + 10_800_000,
            },
            SilenceInfo {
                id: SILENCE_NOTHING.into(),
                state: "active".into(),
                matchers: vec![SilenceMatcher {
                    name: "instance".into(),
                    value: "old-.*".into(),
                    is_regex: true,
                    is_equal: true,
                }],
                created_by: "carol".into(),
                comment: "decommissioning old hosts".into(),
                starts_at_ms: NOW_MS - 86_400_000,
                ends_at_ms: NOW_MS + 1_500_000,
            },
            SilenceInfo {
                id: SILENCE_OLD.into(),
                state: "expired".into(),
                matchers: vec![SilenceMatcher {
                    name: "service".into(),
                    value: "api".into(),
                    is_regex: false,
                    is_equal: true,
                }],
                created_by: "alice".into(),
                comment: "deploy 2026-01-01".into(),
                starts_at_ms: NOW_MS - 90_000_000,
                ends_at_ms: NOW_MS - 86_000_000,
            },
        ],
        acks: vec![AckInfo {
            id: ACK.into(),
            group_key: None,
            fingerprints: vec!["a1b2c3d4e5f60002".into()],
            created_by: "alice".into(),
            comment: "rolling back web".into(),
            created_at_ms: NOW_MS - 300_000,
            expires_at_ms: None,
            state: "active".into(),
        }],
        ..AlertsSnapshot::default()
    }
}

/// What the detail pane shows for the fixture's `ReplicationLag` alert.
pub fn inspection() -> Inspection {
    Inspection {
        route_paths: vec![vec!["{}".into(), r#"{}/{team="db"}/1"#.into()]],
        groups: vec![(
            "team-db".into(),
            r#"{}/{team="db"}:{alertname="ReplicationLag", cluster="eu1"}"#.into(),
        )],
        notifications: vec![Notified {
            integration: "team-db/webhook/0".into(),
            group_key: r#"{}/{team="db"}:{alertname="ReplicationLag", cluster="eu1"}"#.into(),
            at_ms: NOW_MS - 2_640_000,
            firing: 1,
            resolved: 0,
            includes_alert: true,
        }],
        inhibited_by: vec![InhibitLink {
            fingerprint: "b0b0b0b0b0b00001".into(),
            labels: labels(&[
                ("alertname", "DiskFull"),
                ("cluster", "eu1"),
                ("instance", "db-1:9100"),
                ("severity", "critical"),
            ]),
            rule: r#"source {severity="critical"} -> target {severity="warning"} equal [cluster]"#
                .into(),
        }],
        inhibits: Vec::new(),
    }
}

/// `groups` groups of `per_group` firing alerts each (the bench's 500 x 20).
pub fn many(groups: usize, per_group: usize) -> AlertsSnapshot {
    let sevs = ["critical", "warning", "info"];
    let mut out = AlertsSnapshot::default();
    for g in 0..groups {
        let name = format!("Alert{:03}", g % 100);
        let cluster = format!("c{}", g / 100);
        let alerts = (0..per_group)
            .map(|i| {
                let n = g * per_group + i;
                let mut a = alert(
                    &format!("{n:016x}"),
                    &[
                        ("alertname", &name),
                        ("cluster", &cluster),
                        ("instance", &format!("host-{n}:9100")),
                        ("severity", sevs[n % 3]),
                    ],
                    &[("summary", &format!("value {n} over threshold"))],
                    (n as i64 % 7200) * 1000,
                    "pager",
                );
                if n.is_multiple_of(17) {
                    a.silenced_by = vec![SILENCE_CPU.into()];
                }
                a
            })
            .collect();
        out.groups.push(AmGroup {
            labels: labels(&[("alertname", &name), ("cluster", &cluster)]),
            receiver: "pager".into(),
            key: Some(format!(
                "{{}}:{{alertname=\"{name}\", cluster=\"{cluster}\"}}"
            )),
            alerts,
        });
    }
    out
}

/// The frame with the Alerts and Silences views holding `snap`, in `theme`.
pub fn app(rt: &tokio::runtime::Handle, theme: &str, snap: AlertsSnapshot) -> App {
    let backend: Arc<dyn Backend> = Arc::new(StillBackend);
    let source: Arc<dyn AlertSource> = Arc::new(StillAlerts);
    let mut alerts = super::views::alerts::AlertsView::with_source(
        Some(source.clone()),
        backend.console_source(),
    );
    alerts.set_snapshot(snap.clone(), NOW_MS);
    alerts.set_user("oncall");
    let mut silences = super::views::silences::SilencesView::with_source(Some(source));
    silences.set_snapshot(snap, NOW_MS);
    silences.set_user("oncall");
    app_of(rt, theme, vec![Box::new(alerts), Box::new(silences)])
}

/// The frame over `views` with the fixture's header.
pub fn app_of(rt: &tokio::runtime::Handle, theme: &str, views: Vec<Box<dyn View>>) -> App {
    let backend: Arc<dyn Backend> = Arc::new(StillBackend);
    App::new(
        views,
        &backend,
        super::fixture::feed(),
        rt.clone(),
        AppOptions {
            palette: super::theme::builtin(theme),
            glyphs: Glyphs::Braille,
            no_color: false,
            theme_dir: None,
        },
    )
}

/// An Alerts view over the fixture with its detail pane open on `ReplicationLag`
/// (inspection and a chart of the expression with the threshold).
pub fn alerts_with_detail() -> super::views::alerts::AlertsView {
    let backend: Arc<dyn Backend> = Arc::new(StillBackend);
    let mut snap = snapshot();
    snap.groups[2].alerts[0].generator_url =
        "http://promtui:9090/graph?g0.expr=pg_replication_lag_seconds+%3E+300&g0.tab=1".into();
    let mut v = super::views::alerts::AlertsView::with_source(
        Some(Arc::new(StillAlerts)),
        backend.console_source(),
    );
    v.set_snapshot(snap, NOW_MS);
    v.select_alert("ReplicationLag");
    let start = NOW_MS - 3_600_000;
    let series: Vec<(i64, f64)> = (0..=120)
        .map(|i| {
            let t = start + i * 30_000;
            // Crosses 300 s 45 minutes ago and keeps climbing.
            let v = 120.0 + (i as f64) * 2.0 + if i > 30 { (i - 30) as f64 * 1.5 } else { 0.0 };
            (t, v)
        })
        .collect();
    v.set_detail(Ok(inspection()), vec![series], start, NOW_MS);
    v
}
