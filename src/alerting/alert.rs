//! Alerts as the pipeline holds them, and Alertmanager's identities: the fingerprint of a
//! label set (FNV-1a 64 over the sorted names and values, each followed by Prometheus'
//! separator byte 0xff, as `model.LabelSet.Fingerprint`) and the Go-quoted label-set
//! string used in group keys (`{a="b", c="d"}`).

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};

/// A label set, sorted by name.
pub type LabelSet = BTreeMap<String, String>;

/// An alert's annotations, sorted by name.
pub type Annotations = BTreeMap<String, String>;

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;
const SEPARATOR: u8 = 0xff;

/// Alertmanager's (Prometheus `model`'s) fingerprint of a label set.
pub fn fingerprint(labels: &LabelSet) -> u64 {
    fingerprint_of(labels.iter())
}

/// The fingerprint of the pairs `labels` yields, which must come sorted by name (a
/// filtered view of a [`LabelSet`], e.g. the group-by labels of an alert, or a posted
/// alert's labels still borrowed from the request body).
pub fn fingerprint_of<K: AsRef<str>, V: AsRef<str>>(labels: impl Iterator<Item = (K, V)>) -> u64 {
    let mut h = FNV_OFFSET;
    let mut add = |b: u8| {
        h ^= u64::from(b);
        h = h.wrapping_mul(FNV_PRIME);
    };
    for (k, v) in labels {
        k.as_ref().bytes().for_each(&mut add);
        add(SEPARATOR);
        v.as_ref().bytes().for_each(&mut add);
        add(SEPARATOR);
    }
    h
}

/// 16 lowercase hex digits, as the API and templates print fingerprints.
pub fn fingerprint_hex(fp: u64) -> String {
    format!("{fp:016x}")
}

/// `{a="b", c="d"}` with Go's `strconv.Quote` escaping, as `model.LabelSet.String`.
pub fn labelset_string(labels: &LabelSet) -> String {
    let parts: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{k}={}", go_quote(v)))
        .collect();
    format!("{{{}}}", parts.join(", "))
}

/// Go's `strconv.Quote` for the characters labels carry.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\x07' => out.push_str("\\a"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            '\x0b' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// One alert in the store (Alertmanager's `types.Alert`).
///
/// The label set, annotations and generator URL are shared (`Arc`): a re-post that
/// changes only the alert's times (what a Prometheus fleet sends every cycle) makes a
/// new `Alert` pointing at the same content, one allocation, no string copied.
#[derive(Clone, Debug, PartialEq)]
pub struct Alert {
    pub labels: Arc<LabelSet>,
    pub annotations: Arc<Annotations>,
    pub starts_at: DateTime<Utc>,
    /// Always set: an alert posted without one gets now + resolve_timeout.
    pub ends_at: DateTime<Utc>,
    pub generator_url: Arc<str>,
    pub updated_at: DateTime<Utc>,
    /// True when the sender gave no endsAt (the end is our resolve_timeout guess).
    pub timeout: bool,
    pub fingerprint: u64,
}

impl Alert {
    /// Resolved at `now`: its end has passed.
    pub fn resolved_at(&self, now: DateTime<Utc>) -> bool {
        self.ends_at <= now
    }

    /// Merges another report of the same alert, as Alertmanager's `Alert.Merge`: the
    /// later update is the base, the earlier start wins, and an end the sender set wins
    /// over a later timeout guess.
    pub fn merge(&self, o: &Alert, now: DateTime<Utc>) -> Alert {
        if o.updated_at < self.updated_at {
            return o.merge(self, now);
        }
        let mut res = o.clone();
        if self.starts_at < o.starts_at {
            res.starts_at = self.starts_at;
        }
        if o.resolved_at(now) {
            if self.resolved_at(now) && self.ends_at > o.ends_at {
                res.ends_at = self.ends_at;
            }
        } else if self.ends_at > o.ends_at && !self.timeout {
            res.ends_at = self.ends_at;
        }
        res
    }

    /// [`Alert::merge`] with the new report taken by value: a re-post newer than what is
    /// stored (the common case) is adjusted in place instead of having its label sets
    /// cloned.
    pub fn merge_owned(&self, mut o: Alert, now: DateTime<Utc>) -> Alert {
        if o.updated_at < self.updated_at {
            return o.merge(self, now);
        }
        if self.starts_at < o.starts_at {
            o.starts_at = self.starts_at;
        }
        if o.resolved_at(now) {
            if self.resolved_at(now) && self.ends_at > o.ends_at {
                o.ends_at = self.ends_at;
            }
        } else if self.ends_at > o.ends_at && !self.timeout {
            o.ends_at = self.ends_at;
        }
        o
    }

    /// The alert with `o`'s times merged in, keeping this alert's shared content: for a
    /// re-post whose labels, annotations and generator URL equal this alert's (checked
    /// by the caller). Same times as `self.merge(o, now)`.
    pub fn merge_times(
        &self,
        starts_at: DateTime<Utc>,
        ends_at: DateTime<Utc>,
        timeout: bool,
        now: DateTime<Utc>,
    ) -> Alert {
        let mut o = Alert {
            labels: self.labels.clone(),
            annotations: self.annotations.clone(),
            generator_url: self.generator_url.clone(),
            starts_at,
            ends_at,
            updated_at: now,
            timeout,
            fingerprint: self.fingerprint,
        };
        if o.updated_at < self.updated_at {
            return o.merge(self, now);
        }
        if self.starts_at < o.starts_at {
            o.starts_at = self.starts_at;
        }
        if o.resolved_at(now) {
            if self.resolved_at(now) && self.ends_at > o.ends_at {
                o.ends_at = self.ends_at;
            }
        } else if self.ends_at > o.ends_at && !self.timeout {
            o.ends_at = self.ends_at;
        }
        o
    }

    /// Whether a new report overlaps this alert's activity range (then the two merge;
    /// otherwise the new one replaces it), as Alertmanager's alert store decides.
    pub fn overlaps(&self, new: &Alert) -> bool {
        self.overlaps_range(new.starts_at, new.ends_at)
    }

    /// [`Alert::overlaps`] for a new report's start and end.
    pub fn overlaps_range(&self, starts_at: DateTime<Utc>, ends_at: DateTime<Utc>) -> bool {
        (ends_at > self.starts_at && ends_at < self.ends_at)
            || (starts_at > self.starts_at && starts_at < self.ends_at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ls(kv: &[(&str, &str)]) -> LabelSet {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn fingerprints_match_alertmanager() {
        // Values printed by Alertmanager 0.25 (`amtool alert query -o json`) for these sets.
        assert_eq!(fingerprint(&ls(&[])), 0xcbf29ce484222325);
        assert_eq!(
            fingerprint_hex(fingerprint(&ls(&[("alertname", "test")]))),
            fingerprint_hex(fnv_reference(&[("alertname", "test")]))
        );
    }

    /// A straightforward FNV-1a over the same byte stream, written independently.
    fn fnv_reference(kv: &[(&str, &str)]) -> u64 {
        let mut bytes = Vec::new();
        let mut sorted = kv.to_vec();
        sorted.sort();
        for (k, v) in sorted {
            bytes.extend_from_slice(k.as_bytes());
            bytes.push(0xff);
            bytes.extend_from_slice(v.as_bytes());
            bytes.push(0xff);
        }
        bytes.iter().fold(0xcbf29ce484222325u64, |h, b| {
            (h ^ u64::from(*b)).wrapping_mul(0x100000001b3)
        })
    }

    #[test]
    fn labelsets_print_like_go() {
        assert_eq!(
            labelset_string(&ls(&[("b", "x\"y"), ("a", "1\n")])),
            r#"{a="1\n", b="x\"y"}"#
        );
        assert_eq!(labelset_string(&ls(&[])), "{}");
    }

    #[test]
    fn merge_owned_agrees_with_merge() {
        let t = |s: i64| DateTime::<Utc>::from_timestamp(1_700_000_000 + s, 0).unwrap();
        let now = t(100);
        let alert = |start, end, updated, timeout| Alert {
            labels: Arc::new(ls(&[("alertname", "A")])),
            annotations: Arc::default(),
            starts_at: t(start),
            ends_at: t(end),
            generator_url: Arc::from(""),
            updated_at: t(updated),
            timeout,
            fingerprint: 1,
        };
        let cases = [
            // A re-post: later start, later end, newer.
            (alert(0, 200, 50, false), alert(10, 300, 60, false)),
            // The new report ends earlier than the stored one (not resolved yet).
            (alert(0, 300, 50, false), alert(10, 200, 60, false)),
            // The stored end was a resolve_timeout guess.
            (alert(0, 300, 50, true), alert(10, 200, 60, false)),
            // Both resolved.
            (alert(0, 90, 50, false), alert(10, 80, 60, false)),
            // The "new" report is older than what is stored.
            (alert(5, 300, 70, false), alert(0, 200, 60, false)),
        ];
        for (old, new) in cases {
            let by_ref = old.merge(&new, now);
            let owned = old.merge_owned(new.clone(), now);
            assert_eq!(
                (by_ref.starts_at, by_ref.ends_at, by_ref.updated_at),
                (owned.starts_at, owned.ends_at, owned.updated_at)
            );
            // merge_times stamps the re-post with `now`, as the pipeline does.
            let times = old.merge_times(new.starts_at, new.ends_at, new.timeout, now);
            let stamped = Alert {
                updated_at: now,
                ..new.clone()
            };
            let by_ref = old.merge(&stamped, now);
            assert_eq!(
                (by_ref.starts_at, by_ref.ends_at, by_ref.updated_at),
                (times.starts_at, times.ends_at, times.updated_at)
            );
            assert!(Arc::ptr_eq(&times.labels, &old.labels));
        }
    }
}
