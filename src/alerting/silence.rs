//! Silences (Alertmanager's `silence` package): matchers over alert labels and a time
//! range. States: pending before `startsAt`, active until `endsAt`, then expired. Setting
//! a silence that exists updates it in place only where Alertmanager allows it (same
//! matchers; an active one keeps its start and may not end in the past; a pending one may
//! not start in the past); otherwise the old one is expired and a new one with a new id
//! is created. Expired silences are kept for the retention period, then purged.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::alert::LabelSet;
use super::matcher::{all_match, Matcher};

/// A silence.
#[derive(Clone, Debug, PartialEq)]
pub struct Silence {
    pub id: String,
    pub matchers: Vec<Matcher>,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub created_by: String,
    pub comment: String,
}

/// A silence's state at some instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SilenceState {
    Pending,
    Active,
    Expired,
}

impl SilenceState {
    pub fn as_str(self) -> &'static str {
        match self {
            SilenceState::Pending => "pending",
            SilenceState::Active => "active",
            SilenceState::Expired => "expired",
        }
    }
}

impl Silence {
    pub fn state(&self, now: DateTime<Utc>) -> SilenceState {
        if now < self.starts_at {
            SilenceState::Pending
        } else if now < self.ends_at {
            SilenceState::Active
        } else {
            SilenceState::Expired
        }
    }

    /// Whether the silence's matchers select `labels` (whatever its state).
    pub fn selects(&self, labels: &LabelSet) -> bool {
        all_match(&self.matchers, labels)
    }
}

/// Which silences mute an alert, cached per alert fingerprint: a flush, `GET
/// /api/v2/alerts` and `/metrics` ask again for every alert, and against a thousand
/// silences the answer costs a thousand matcher checks. Entries hold for one version of
/// the silence set ([`Silences::version`]) and until the next silence starts or ends
/// ([`Silences::next_change`]); then the whole cache starts over.
#[derive(Debug, Default)]
pub struct MuteCache {
    version: u64,
    computed_at: Option<DateTime<Utc>>,
    valid_until: Option<DateTime<Utc>>,
    by_fingerprint: std::collections::HashMap<u64, Vec<String>>,
}

impl MuteCache {
    /// The ids of the active silences muting the alert with `labels` and `fingerprint`,
    /// as [`Silences::mutes`] answers at `now`.
    pub fn mutes(
        &mut self,
        sil: &Silences,
        labels: &LabelSet,
        fingerprint: u64,
        now: DateTime<Utc>,
    ) -> Vec<String> {
        let stale = self.version != sil.version
            || self.computed_at.is_none_or(|t| now < t)
            || self.valid_until.is_some_and(|t| now >= t);
        if stale {
            self.by_fingerprint.clear();
            self.version = sil.version;
            self.computed_at = Some(now);
            self.valid_until = sil.next_change(now);
        }
        self.by_fingerprint
            .entry(fingerprint)
            .or_insert_with(|| sil.mutes(labels, now))
            .clone()
    }

    /// Forgets alerts no longer in the store.
    pub fn retain(&mut self, keep: impl Fn(u64) -> bool) {
        self.by_fingerprint.retain(|fp, _| keep(*fp));
    }
}

/// Why a silence was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SilenceError {
    #[error("silence not found")]
    NotFound,
    #[error("silence {0} already expired")]
    AlreadyExpired(String),
    #[error("{0}")]
    Invalid(String),
}

/// Checks a silence as Alertmanager's `validateSilence` does.
pub fn validate(s: &Silence) -> Result<(), SilenceError> {
    if s.matchers.is_empty() {
        return Err(SilenceError::Invalid(
            "at least one matcher required".into(),
        ));
    }
    if s.matchers.iter().all(|m| m.matches_value("")) {
        return Err(SilenceError::Invalid(
            "at least one matcher must not match the empty string".into(),
        ));
    }
    if s.ends_at < s.starts_at {
        return Err(SilenceError::Invalid(
            "end time must not be before start time".into(),
        ));
    }
    Ok(())
}

/// Whether `b` may replace `a` in place, as Alertmanager's `canUpdate`.
fn can_update(a: &Silence, b: &Silence, now: DateTime<Utc>) -> bool {
    if a.matchers != b.matchers {
        return false;
    }
    match a.state(now) {
        // Clients echo the start back at API (millisecond) precision: compare whole
        // seconds, as Alertmanager does.
        SilenceState::Active => {
            b.starts_at.timestamp() == a.starts_at.timestamp() && b.ends_at >= now
        }
        SilenceState::Pending => b.starts_at >= now,
        SilenceState::Expired => false,
    }
}

/// What a [`Silences::set`] did, so the caller can persist exactly that.
#[derive(Debug, Default)]
pub struct SetOutcome {
    pub id: String,
    /// Silences written (the new or updated one, and an old one expired by it).
    pub changed: Vec<Silence>,
}

/// All silences, by id.
#[derive(Debug, Default)]
pub struct Silences {
    by_id: BTreeMap<String, Silence>,
    /// Bumped on every change, so cached matches can be revalidated.
    pub version: u64,
}

impl Silences {
    /// Loads persisted silences.
    pub fn from_list(list: Vec<Silence>) -> Silences {
        Silences {
            by_id: list.into_iter().map(|s| (s.id.clone(), s)).collect(),
            version: 1,
        }
    }

    pub fn get(&self, id: &str) -> Option<&Silence> {
        self.by_id.get(id)
    }

    pub fn all(&self) -> impl Iterator<Item = &Silence> {
        self.by_id.values()
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// Creates or updates a silence (Alertmanager's `Silences.Set`). `new_id` makes ids.
    pub fn set(
        &mut self,
        mut sil: Silence,
        now: DateTime<Utc>,
        new_id: impl FnOnce() -> String,
    ) -> Result<SetOutcome, SilenceError> {
        validate(&sil)?;
        let mut out = SetOutcome::default();
        if !sil.id.is_empty() {
            let prev = self
                .by_id
                .get(&sil.id)
                .cloned()
                .ok_or(SilenceError::NotFound)?;
            if can_update(&prev, &sil, now) {
                sil.updated_at = now;
                self.by_id.insert(sil.id.clone(), sil.clone());
                self.version += 1;
                out.id = sil.id.clone();
                out.changed.push(sil);
                return Ok(out);
            }
            if prev.state(now) != SilenceState::Expired {
                out.changed.push(self.expire_at(&prev.id, now)?);
            }
        }
        sil.id = new_id();
        if sil.starts_at < now {
            sil.starts_at = now;
        }
        sil.updated_at = now;
        if sil.ends_at < sil.starts_at {
            return Err(SilenceError::Invalid(
                "end time must not be before start time".into(),
            ));
        }
        self.by_id.insert(sil.id.clone(), sil.clone());
        self.version += 1;
        out.id = sil.id.clone();
        out.changed.push(sil);
        Ok(out)
    }

    /// Expires a silence now: a pending one ends before it started, an active one ends
    /// now (Alertmanager's `Silences.Expire`).
    pub fn expire_at(&mut self, id: &str, now: DateTime<Utc>) -> Result<Silence, SilenceError> {
        let s = self.by_id.get_mut(id).ok_or(SilenceError::NotFound)?;
        match s.state(now) {
            SilenceState::Expired => return Err(SilenceError::AlreadyExpired(id.to_string())),
            SilenceState::Pending => {
                s.starts_at = now;
                s.ends_at = now;
            }
            SilenceState::Active => s.ends_at = now,
        }
        s.updated_at = now;
        let s = s.clone();
        self.version += 1;
        Ok(s)
    }

    /// Ids of the active silences that select `labels`.
    pub fn mutes(&self, labels: &LabelSet, now: DateTime<Utc>) -> Vec<String> {
        self.by_id
            .values()
            .filter(|s| s.state(now) == SilenceState::Active && s.selects(labels))
            .map(|s| s.id.clone())
            .collect()
    }

    /// The first instant after `now` at which a silence starts or ends (what a cached
    /// match must not outlive); `None` when nothing is due to change.
    pub fn next_change(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.by_id
            .values()
            .flat_map(|s| [s.starts_at, s.ends_at])
            .filter(|t| *t > now)
            .min()
    }

    /// Drops silences that expired before `before`; returns their ids.
    pub fn purge(&mut self, before: DateTime<Utc>) -> Vec<String> {
        let gone: Vec<String> = self
            .by_id
            .values()
            .filter(|s| s.ends_at < before)
            .map(|s| s.id.clone())
            .collect();
        for id in &gone {
            self.by_id.remove(id);
        }
        if !gone.is_empty() {
            self.version += 1;
        }
        gone
    }
}

/// A random (version 4) UUID, as Alertmanager's silence ids.
pub fn new_uuid() -> String {
    let mut b = [0u8; 16];
    let filled = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut b))
        .is_ok();
    if !filled {
        // No /dev/urandom: mix the clock and a counter (unique, not secret).
        use std::sync::atomic::{AtomicU64, Ordering};
        static N: AtomicU64 = AtomicU64::new(0);
        let t = Utc::now().timestamp_nanos_opt().unwrap_or_default() as u64;
        let n = N.fetch_add(1, Ordering::Relaxed);
        b[..8].copy_from_slice(&t.to_le_bytes());
        b[8..].copy_from_slice(&n.wrapping_mul(0x9e37_79b9_7f4a_7c15).to_le_bytes());
    }
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerting::matcher::parse_matchers;
    use chrono::Duration;

    fn sil(m: &str, start: DateTime<Utc>, end: DateTime<Utc>) -> Silence {
        Silence {
            id: String::new(),
            matchers: parse_matchers(m).unwrap(),
            starts_at: start,
            ends_at: end,
            updated_at: start,
            created_by: "me".into(),
            comment: "c".into(),
        }
    }

    #[test]
    fn changing_an_active_silences_matchers_expires_it_and_creates_another() {
        let now = Utc::now();
        let mut s = Silences::default();
        let id = s
            .set(sil("a=b", now, now + Duration::hours(1)), now, new_uuid)
            .unwrap()
            .id;
        // Same matchers, later end: updated in place.
        let mut upd = s.get(&id).unwrap().clone();
        upd.ends_at = now + Duration::hours(2);
        let later = now + Duration::seconds(1);
        assert_eq!(s.set(upd, later, new_uuid).unwrap().id, id);
        // New matchers: the old one expires, a new id appears.
        let mut other = s.get(&id).unwrap().clone();
        other.matchers = parse_matchers("a=c").unwrap();
        let out = s.set(other, later, new_uuid).unwrap();
        assert_ne!(out.id, id);
        assert_eq!(out.changed.len(), 2);
        assert_eq!(s.get(&id).unwrap().state(later), SilenceState::Expired);
        assert_eq!(
            s.expire_at(&id, later),
            Err(SilenceError::AlreadyExpired(id.clone()))
        );
        let labels: LabelSet = [("a".to_string(), "c".to_string())].into();
        assert_eq!(s.mutes(&labels, later), vec![out.id]);
    }

    #[test]
    fn cached_mutes_follow_versions_and_silence_boundaries() {
        let now = Utc::now();
        let labels: LabelSet = [("a".to_string(), "1".to_string())].into();
        let mut sil = Silences::default();
        let mk = |start: i64, end: i64| Silence {
            id: String::new(),
            matchers: crate::alerting::matcher::parse_matchers("a=~\"1|2\"").unwrap(),
            starts_at: now + chrono::Duration::seconds(start),
            ends_at: now + chrono::Duration::seconds(end),
            updated_at: now,
            created_by: "t".into(),
            comment: String::new(),
        };
        let mut cache = MuteCache::default();
        assert!(cache.mutes(&sil, &labels, 1, now).is_empty());
        // A new silence (new version) is seen at once.
        let id = sil.set(mk(0, 60), now, || "s1".into()).unwrap().id;
        assert_eq!(cache.mutes(&sil, &labels, 1, now), vec![id.clone()]);
        // A pending one starts later: the cache holds until then, then sees it.
        sil.set(mk(30, 90), now, || "s2".into()).unwrap();
        assert_eq!(cache.mutes(&sil, &labels, 1, now), vec![id.clone()]);
        let later = now + chrono::Duration::seconds(45);
        assert_eq!(cache.mutes(&sil, &labels, 1, later).len(), 2);
        // After both ended nothing mutes.
        let after = now + chrono::Duration::seconds(100);
        assert!(cache.mutes(&sil, &labels, 1, after).is_empty());
        for t in [now, later, after] {
            assert_eq!(cache.mutes(&sil, &labels, 1, t), sil.mutes(&labels, t));
        }
    }

    #[test]
    fn validation_as_alertmanager() {
        let now = Utc::now();
        let mut s = Silences::default();
        assert!(s
            .set(sil("a=~.*", now, now + Duration::hours(1)), now, new_uuid)
            .is_err());
        assert!(s
            .set(sil("a=b", now, now - Duration::hours(1)), now, new_uuid)
            .is_err());
        let mut missing = sil("a=b", now, now + Duration::hours(1));
        missing.id = "nope".into();
        assert_eq!(
            s.set(missing, now, new_uuid).unwrap_err(),
            SilenceError::NotFound
        );
        assert_eq!(new_uuid().len(), 36);
    }
}
