//! Acknowledgements, promtui's extension to Alertmanager (what
//! prometheus/alertmanager#1860 asked for): an operator acknowledges one alert or every
//! alert of an aggregation group, with who, a comment and an optional expiry. An
//! acknowledged alert stays visible (the API marks it `ackedBy`) but is left out of
//! notifications until it resolves, its labels change (a new fingerprint is a new alert),
//! or the acknowledgement expires. Alerts that join a group after it was acknowledged are
//! not covered: they are news.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};

/// One acknowledgement.
#[derive(Clone, Debug, PartialEq)]
pub struct Ack {
    pub id: String,
    /// The aggregation group acknowledged, when the whole group was.
    pub group_key: Option<String>,
    /// Fingerprints covered (still firing when acknowledged).
    pub fingerprints: BTreeSet<u64>,
    pub created_by: String,
    pub comment: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    /// When it stopped covering anything: every alert resolved, expired, or deleted.
    pub ended_at: Option<DateTime<Utc>>,
}

impl Ack {
    /// Whether it still holds notifications back at `now`.
    pub fn active(&self, now: DateTime<Utc>) -> bool {
        self.ended_at.is_none() && self.expires_at.is_none_or(|e| now < e)
    }

    /// `active`, `expired` (its expiry passed) or `ended`.
    pub fn state(&self, now: DateTime<Utc>) -> &'static str {
        if self.ended_at.is_some() {
            "ended"
        } else if self.expires_at.is_some_and(|e| now >= e) {
            "expired"
        } else {
            "active"
        }
    }

    /// When it stopped holding anything back, for retention.
    pub fn end(&self) -> Option<DateTime<Utc>> {
        match (self.ended_at, self.expires_at) {
            (Some(e), _) => Some(e),
            (None, Some(x)) => Some(x),
            (None, None) => None,
        }
    }
}

/// All acknowledgements, by id.
#[derive(Debug, Default)]
pub struct Acks {
    by_id: BTreeMap<String, Ack>,
}

impl Acks {
    pub fn from_list(list: Vec<Ack>) -> Acks {
        Acks {
            by_id: list.into_iter().map(|a| (a.id.clone(), a)).collect(),
        }
    }

    pub fn insert(&mut self, a: Ack) {
        self.by_id.insert(a.id.clone(), a);
    }

    pub fn get(&self, id: &str) -> Option<&Ack> {
        self.by_id.get(id)
    }

    pub fn all(&self) -> impl Iterator<Item = &Ack> {
        self.by_id.values()
    }

    /// Ids of the active acknowledgements covering `fp`.
    pub fn acked_by(&self, fp: u64, now: DateTime<Utc>) -> Vec<String> {
        self.by_id
            .values()
            .filter(|a| a.active(now) && a.fingerprints.contains(&fp))
            .map(|a| a.id.clone())
            .collect()
    }

    /// Ends an acknowledgement now (DELETE). Returns it changed, or `None` when unknown.
    pub fn end(&mut self, id: &str, now: DateTime<Utc>) -> Option<Ack> {
        let a = self.by_id.get_mut(id)?;
        if a.ended_at.is_none() {
            a.ended_at = Some(now);
        }
        Some(a.clone())
    }

    /// `fp` resolved (or vanished): it leaves every acknowledgement; those left empty end.
    /// Returns the acknowledgements changed.
    pub fn alert_resolved(&mut self, fp: u64, now: DateTime<Utc>) -> Vec<Ack> {
        let mut changed = Vec::new();
        for a in self.by_id.values_mut() {
            if a.ended_at.is_none() && a.fingerprints.remove(&fp) {
                if a.fingerprints.is_empty() {
                    a.ended_at = Some(now);
                }
                changed.push(a.clone());
            }
        }
        changed
    }

    /// Drops acknowledgements that ended before `before`; returns their ids.
    pub fn purge(&mut self, before: DateTime<Utc>) -> Vec<String> {
        let gone: Vec<String> = self
            .by_id
            .values()
            .filter(|a| a.end().is_some_and(|e| e < before))
            .map(|a| a.id.clone())
            .collect();
        for id in &gone {
            self.by_id.remove(id);
        }
        gone
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn ack(id: &str, fps: &[u64], expires: Option<DateTime<Utc>>) -> Ack {
        Ack {
            id: id.into(),
            group_key: None,
            fingerprints: fps.iter().copied().collect(),
            created_by: "op".into(),
            comment: "looking".into(),
            created_at: Utc::now(),
            expires_at: expires,
            ended_at: None,
        }
    }

    #[test]
    fn an_ack_covers_until_resolution_or_expiry() {
        let now = Utc::now();
        let mut acks = Acks::default();
        acks.insert(ack("a", &[1, 2], None));
        acks.insert(ack("b", &[3], Some(now + Duration::minutes(5))));
        assert_eq!(acks.acked_by(1, now), vec!["a".to_string()]);
        assert_eq!(acks.acked_by(3, now), vec!["b".to_string()]);
        assert!(acks.acked_by(3, now + Duration::minutes(6)).is_empty());
        // 1 resolves: no longer covered, the ack still covers 2.
        acks.alert_resolved(1, now);
        assert!(acks.acked_by(1, now).is_empty());
        assert_eq!(acks.get("a").unwrap().state(now), "active");
        acks.alert_resolved(2, now);
        assert_eq!(acks.get("a").unwrap().state(now), "ended");
        assert_eq!(
            acks.purge(now + Duration::seconds(1)),
            vec!["a".to_string()]
        );
    }
}
