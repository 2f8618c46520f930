//! Read-only questions about one alert that the API v2 does not answer and the TUI's
//! triage pane asks: which routes it took (ids from the root) and their receivers, the
//! aggregation group keys it lands in, when each receiver's integrations were last
//! notified for those groups (the notification log), and which alerts it inhibits or is
//! inhibited by, with the inhibit rule that decides it.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::alert::{fingerprint_hex, labelset_string, Alert, LabelSet};
use super::config::{InhibitRule, Route};
use super::dispatch::{group_labels, match_route_paths, match_routes, Pipeline};
use super::matcher::{all_match, matchers_string};

/// One notification log entry of a group the alert is in.
#[derive(Clone, Debug, PartialEq)]
pub struct Notified {
    /// `receiver/kind/index` (e.g. `team-x/webhook/0`).
    pub integration: String,
    pub group_key: String,
    /// When the last notification for the group went out (ms since the epoch).
    pub at_ms: i64,
    /// Firing and resolved alerts in that notification.
    pub firing: usize,
    pub resolved: usize,
    /// Whether this alert was among the firing ones notified.
    pub includes_alert: bool,
}

/// An inhibition between the inspected alert and another one.
#[derive(Clone, Debug, PartialEq)]
pub struct InhibitLink {
    pub fingerprint: String,
    pub labels: LabelSet,
    /// The rule as `source {..} -> target {..} equal [..]`.
    pub rule: String,
}

/// Everything the triage pane shows about one alert's way through the pipeline.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Inspection {
    /// Route ids from the root, one path per route the alert takes.
    pub route_paths: Vec<Vec<String>>,
    /// `(receiver, group key)` for each route taken.
    pub groups: Vec<(String, String)>,
    pub notifications: Vec<Notified>,
    /// Alerts inhibiting this one, and alerts this one inhibits.
    pub inhibited_by: Vec<InhibitLink>,
    pub inhibits: Vec<InhibitLink>,
}

/// The aggregation group key (`route key:group labels`) and receiver for each route an
/// alert with `labels` takes, as the dispatcher builds them.
pub fn group_keys(root: &Route, labels: &LabelSet) -> Vec<(String, String)> {
    match_routes(root, labels)
        .into_iter()
        .map(|r| {
            let gl = group_labels(r, labels);
            (
                r.receiver.clone(),
                format!("{}:{}", r.key, labelset_string(&gl)),
            )
        })
        .collect()
}

/// The rule in one line.
pub fn rule_string(r: &InhibitRule) -> String {
    format!(
        "source {} -> target {} equal [{}]",
        matchers_string(&r.source_matchers),
        matchers_string(&r.target_matchers),
        r.equal.join(", ")
    )
}

/// Whether `source` inhibits `target` under rule `r` (Alertmanager's semantics: equal
/// labels must agree, including absent ones; an alert matching both sides is not
/// inhibited by a source that also matches both sides; an alert never inhibits itself).
pub fn inhibits(r: &InhibitRule, source: &Alert, target: &Alert, now: DateTime<Utc>) -> bool {
    if source.fingerprint == target.fingerprint || source.resolved_at(now) {
        return false;
    }
    if !all_match(&r.target_matchers, &target.labels)
        || !all_match(&r.source_matchers, &source.labels)
    {
        return false;
    }
    let same = r
        .equal
        .iter()
        .all(|n| source.labels.get(n) == target.labels.get(n));
    if !same {
        return false;
    }
    let two_sided = all_match(&r.source_matchers, &target.labels)
        && all_match(&r.target_matchers, &source.labels);
    !two_sided
}

/// Inspects the alert with fingerprint `fp`; `None` when the pipeline does not hold it.
pub fn inspect(p: &Pipeline, fp: u64, now: DateTime<Utc>) -> Option<Inspection> {
    let built = p.built.read().clone();
    let alerts = p.alerts.read();
    let me = alerts.get(&fp)?.clone();
    let root = &built.config.route;
    let groups = group_keys(root, &me.labels);
    let log: BTreeMap<String, super::store::NflogEntry> = p.nflog_snapshot();
    let mut notifications = Vec::new();
    for (receiver, gk) in &groups {
        let prefix = format!("{receiver}/");
        let suffix = format!(":{gk}");
        for (k, e) in log.range(prefix.clone()..) {
            if !k.starts_with(&prefix) {
                break;
            }
            if let Some(integ) = k.strip_suffix(&suffix) {
                notifications.push(Notified {
                    integration: integ.to_string(),
                    group_key: gk.clone(),
                    at_ms: e.timestamp_ms,
                    firing: e.firing.len(),
                    resolved: e.resolved.len(),
                    includes_alert: e.firing.contains(&fp),
                });
            }
        }
    }
    let mut inhibited_by = Vec::new();
    let mut inhibits_list = Vec::new();
    for r in &built.config.inhibit_rules {
        let rule = rule_string(r);
        for other in alerts.values() {
            if other.resolved_at(now) {
                continue;
            }
            if inhibits(r, other, &me, now) {
                inhibited_by.push(InhibitLink {
                    fingerprint: fingerprint_hex(other.fingerprint),
                    labels: (*other.labels).clone(),
                    rule: rule.clone(),
                });
            }
            if inhibits(r, &me, other, now) {
                inhibits_list.push(InhibitLink {
                    fingerprint: fingerprint_hex(other.fingerprint),
                    labels: (*other.labels).clone(),
                    rule: rule.clone(),
                });
            }
        }
    }
    let by_fp = |a: &InhibitLink, b: &InhibitLink| a.fingerprint.cmp(&b.fingerprint);
    inhibited_by.sort_by(by_fp);
    inhibits_list.sort_by(by_fp);
    Some(Inspection {
        route_paths: match_route_paths(root, &me.labels),
        groups,
        notifications,
        inhibited_by,
        inhibits: inhibits_list,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerting::alert::fingerprint;
    use crate::alerting::matcher::parse_matchers;

    fn alert(pairs: &[(&str, &str)]) -> Alert {
        let labels: LabelSet = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let now = Utc::now();
        Alert {
            fingerprint: fingerprint(&labels),
            labels: std::sync::Arc::new(labels),
            annotations: std::sync::Arc::new(BTreeMap::new()),
            starts_at: now - chrono::Duration::minutes(5),
            ends_at: now + chrono::Duration::minutes(5),
            generator_url: "".into(),
            updated_at: now,
            timeout: false,
        }
    }

    #[tokio::test]
    async fn inspects_route_path_groups_and_inhibition_of_a_held_alert() {
        use crate::alerting::dispatch::{Options, PostedAlert};
        let dir = tempfile::tempdir().unwrap();
        let cfg = crate::alerting::AmConfig::load_str(
            "route:\n  receiver: default\n  group_by: [alertname]\n  routes:\n  - receiver: db\n    matchers: [team=\"db\"]\nreceivers:\n- name: default\n- name: db\ninhibit_rules:\n- source_matchers: [severity=\"critical\"]\n  target_matchers: [severity=\"warning\"]\n  equal: [cluster]\n",
            "am.yml",
            dir.path(),
        )
        .unwrap();
        let p = crate::alerting::Pipeline::open(
            cfg,
            Options {
                data_dir: dir.path().to_path_buf(),
                retention: std::time::Duration::from_secs(3600),
                external_url: "http://x".into(),
            },
        )
        .unwrap();
        let (_stop_tx, stop) = tokio::sync::watch::channel(false);
        p.start(stop);
        let posted = |pairs: &[(&str, &str)]| PostedAlert {
            labels: pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..PostedAlert::default()
        };
        p.put(vec![
            posted(&[
                ("alertname", "DiskFull"),
                ("team", "db"),
                ("severity", "critical"),
                ("cluster", "x"),
            ]),
            posted(&[
                ("alertname", "Lag"),
                ("team", "db"),
                ("severity", "warning"),
                ("cluster", "x"),
            ]),
        ]);
        let lag: LabelSet = [
            ("alertname", "Lag"),
            ("team", "db"),
            ("severity", "warning"),
            ("cluster", "x"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let ins = inspect(&p, fingerprint(&lag), Utc::now()).expect("held");
        assert_eq!(ins.route_paths.len(), 1);
        assert_eq!(ins.route_paths[0].len(), 2, "{:?}", ins.route_paths);
        assert_eq!(ins.groups[0].0, "db");
        assert!(
            ins.groups[0].1.ends_with(r#":{alertname="Lag"}"#),
            "{:?}",
            ins.groups
        );
        assert_eq!(ins.inhibited_by.len(), 1);
        assert_eq!(ins.inhibited_by[0].labels["alertname"], "DiskFull");
        assert!(ins.inhibits.is_empty());
        assert!(inspect(&p, 42, Utc::now()).is_none());
    }

    #[test]
    fn inhibition_follows_equal_labels_and_the_two_sided_rule() {
        let rule = InhibitRule {
            source_matchers: parse_matchers(r#"severity="critical""#).unwrap(),
            target_matchers: parse_matchers(r#"severity="warning""#).unwrap(),
            equal: vec!["cluster".into()],
        };
        let now = Utc::now();
        let crit = alert(&[
            ("alertname", "A"),
            ("severity", "critical"),
            ("cluster", "x"),
        ]);
        let warn = alert(&[
            ("alertname", "B"),
            ("severity", "warning"),
            ("cluster", "x"),
        ]);
        let other = alert(&[
            ("alertname", "B"),
            ("severity", "warning"),
            ("cluster", "y"),
        ]);
        assert!(inhibits(&rule, &crit, &warn, now));
        assert!(!inhibits(&rule, &crit, &other, now), "equal label differs");
        assert!(!inhibits(&rule, &warn, &crit, now), "wrong direction");
        assert!(!inhibits(&rule, &crit, &crit, now), "never itself");
        assert_eq!(
            rule_string(&rule),
            r#"source {severity="critical"} -> target {severity="warning"} equal [cluster]"#
        );
    }
}
