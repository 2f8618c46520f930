//! The push store: every group's families in memory (as rendered exposition text, so a
//! scrape of `/metrics` is concatenation), the cross-group type check, and write-through
//! to [`super::persist`].
//!
//! A change is applied in memory and queued to the database writer under the store's
//! lock, so the database sees changes in the order readers do; the caller answers HTTP
//! only after the commit. A push the database could not take is answered with 500 (the
//! in-memory state may then be ahead of the disk until the next successful write of that
//! group).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use parking_lot::RwLock;

use super::body::{BodyError, Family, Kind, RenderedFamily};
use super::key::GroupingKey;
use super::persist::{Op, PersistError, Persister, StoredFamily, StoredGroup};
use super::proto::LabelPair;

/// PUT replaces the whole group; POST replaces only the families it names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PushMode {
    Replace,
    Merge,
}

/// Why a push was refused.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    /// The body is malformed or inconsistent in itself (400).
    #[error(transparent)]
    Body(#[from] BodyError),
    /// A pushed family's type differs from the same name in another group (400).
    #[error("metric family {name:?} is pushed as {pushed} but group {other} has it as {existing}")]
    TypeConflict {
        name: String,
        pushed: &'static str,
        existing: &'static str,
        other: String,
    },
    /// The change could not be committed (500).
    #[error(transparent)]
    Persist(#[from] PersistError),
}

/// A stored family: rendered text shared with in-flight scrapes.
#[derive(Clone, Debug)]
pub struct StoredFam {
    pub kind: Kind,
    pub help: Option<Arc<str>>,
    pub text: Arc<str>,
    pub pushed_ms: i64,
}

/// One group.
#[derive(Clone, Debug)]
pub struct Group {
    pub key: GroupingKey,
    pub families: BTreeMap<String, StoredFam>,
    /// Last successful push (ms since the epoch; 0 = never).
    pub push_ms: i64,
    /// Last failed push (ms since the epoch; 0 = never).
    pub failure_ms: i64,
}

impl Group {
    fn new(key: GroupingKey) -> Self {
        Group {
            key,
            families: BTreeMap::new(),
            push_ms: 0,
            failure_ms: 0,
        }
    }

    /// When the group last changed.
    pub fn last_change_ms(&self) -> i64 {
        self.push_ms.max(self.failure_ms)
    }

    fn encode(&self) -> Vec<u8> {
        let stored = StoredGroup {
            labels: self
                .key
                .labels()
                .iter()
                .map(|(n, v)| LabelPair {
                    name: Some(n.clone()),
                    value: Some(v.clone()),
                })
                .collect(),
            push_ms: self.push_ms,
            failure_ms: self.failure_ms,
            families: self
                .families
                .iter()
                .map(|(name, f)| StoredFamily {
                    name: name.clone(),
                    kind: f.kind.to_proto(),
                    help: f.help.as_deref().map(str::to_string),
                    text: f.text.to_string(),
                    pushed_ms: f.pushed_ms,
                })
                .collect(),
        };
        prost::Message::encode_to_vec(&stored)
    }

    fn decode(body: &[u8]) -> Result<Group, String> {
        let s: StoredGroup = prost::Message::decode(body).map_err(|e| e.to_string())?;
        let key = GroupingKey::new(
            s.labels
                .into_iter()
                .map(|l| (l.name.unwrap_or_default(), l.value.unwrap_or_default()))
                .collect(),
        );
        if key.get("job").is_none() {
            return Err("stored group has no job label".into());
        }
        let mut families = BTreeMap::new();
        for f in s.families {
            let kind = Kind::from_proto(f.kind)
                .ok_or_else(|| format!("family {:?} has unknown type {}", f.name, f.kind))?;
            families.insert(
                f.name,
                StoredFam {
                    kind,
                    help: f.help.map(Arc::from),
                    text: Arc::from(f.text),
                    pushed_ms: f.pushed_ms,
                },
            );
        }
        Ok(Group {
            key,
            families,
            push_ms: s.push_ms,
            failure_ms: s.failure_ms,
        })
    }
}

#[derive(Default)]
struct Inner {
    groups: BTreeMap<String, Group>,
    /// Family name → its type and how many groups have it (all groups agree on types).
    names: HashMap<String, (Kind, usize)>,
    /// job → grouping-key label names → groups with that shape. Two groups can only
    /// produce the same series when their keys have different label names (a label both
    /// keys name is forced to each key's value), so the cross-group duplicate check
    /// scans groups only when a job has more than one shape.
    shapes: HashMap<String, HashMap<Vec<String>, usize>>,
}

fn shape(key: &GroupingKey) -> Vec<String> {
    key.labels().iter().map(|(n, _)| n.clone()).collect()
}

fn remove_name(names: &mut HashMap<String, (Kind, usize)>, name: &str) {
    if let Some(e) = names.get_mut(name) {
        e.1 -= 1;
        if e.1 == 0 {
            names.remove(name);
        }
    }
}

impl Inner {
    /// Adds a group that is not in the map yet.
    fn insert_group(&mut self, ck: String, g: Group) {
        for (n, f) in &g.families {
            self.names.entry(n.clone()).or_insert((f.kind, 0)).1 += 1;
        }
        *self
            .shapes
            .entry(g.key.get("job").unwrap_or_default().to_string())
            .or_default()
            .entry(shape(&g.key))
            .or_default() += 1;
        self.groups.insert(ck, g);
    }

    fn remove_group(&mut self, ck: &str) -> Option<Group> {
        let g = self.groups.remove(ck)?;
        for n in g.families.keys() {
            remove_name(&mut self.names, n);
        }
        let job = g.key.get("job").unwrap_or_default();
        if let Some(by_shape) = self.shapes.get_mut(job) {
            let sh = shape(&g.key);
            if let Some(c) = by_shape.get_mut(&sh) {
                *c -= 1;
                if *c == 0 {
                    by_shape.remove(&sh);
                }
            }
            if by_shape.is_empty() {
                self.shapes.remove(job);
            }
        }
        Some(g)
    }
}

/// Groups held in memory and persisted.
pub struct Store {
    inner: RwLock<Inner>,
    persister: Persister,
}

/// A point-in-time copy of the store for rendering, taken cheaply (text is shared).
pub type Snapshot = Vec<Group>;

impl Store {
    /// Opens the database and loads every group. Rows that cannot be decoded are logged
    /// and skipped (they stay on disk until that group is pushed or deleted).
    pub fn open(path: &std::path::Path) -> Result<Store, PersistError> {
        let (persister, rows) = Persister::open(path)?;
        let mut inner = Inner::default();
        for (key, body) in rows {
            match Group::decode(&body) {
                Ok(g) => inner.insert_group(g.key.canonical(), g),
                Err(e) => {
                    tracing::error!(path = %path.display(), key = %key.replace(['\u{1}', '\u{2}'], " "), "skipping unreadable Pushgateway group: {e}")
                }
            }
        }
        tracing::info!(groups = inner.groups.len(), path = %path.display(), "Pushgateway groups loaded");
        Ok(Store {
            inner: RwLock::new(inner),
            persister,
        })
    }

    /// Applies a push whose body was parsed into `parsed` (a parse error leaves the store
    /// untouched; a consistency error records a failed push on the group).
    pub async fn push(
        &self,
        key: GroupingKey,
        mode: PushMode,
        parsed: Result<Vec<Family>, BodyError>,
        now_ms: i64,
    ) -> Result<(), PushError> {
        let fams = parsed?;
        let rendered = super::body::render(fams, &key, now_ms);
        let (result, done) = {
            let mut inner = self.inner.write();
            let checked = match rendered {
                Ok(r) => check_types(&inner, &key, &r)
                    .and_then(|()| check_duplicates(&inner, &key, &r))
                    .map(|()| r),
                Err(e) => Err(PushError::Body(e)),
            };
            let ck = key.canonical();
            match checked {
                Ok(r) => {
                    let body = apply(&mut inner, &ck, key, mode, r, now_ms);
                    (Ok(()), self.persister.send(Op::Put { key: ck, body }))
                }
                Err(e) => {
                    if !inner.groups.contains_key(&ck) {
                        inner.insert_group(ck.clone(), Group::new(key));
                    }
                    let mut body = Vec::new();
                    if let Some(g) = inner.groups.get_mut(&ck) {
                        g.failure_ms = now_ms;
                        body = g.encode();
                    }
                    (Err(e), self.persister.send(Op::Put { key: ck, body }))
                }
            }
        };
        let committed = done
            .await
            .map_err(|_| PersistError::Stopped)
            .and_then(|r| r);
        result?;
        committed?;
        Ok(())
    }

    /// Deletes a group (absent is fine, as upstream); committed when this returns Ok.
    pub async fn delete(&self, key: &GroupingKey) -> Result<(), PersistError> {
        let ck = key.canonical();
        let done = {
            let mut inner = self.inner.write();
            inner.remove_group(&ck);
            self.persister.send(Op::Delete { key: ck })
        };
        done.await.map_err(|_| PersistError::Stopped)?
    }

    /// Deletes every group.
    pub async fn wipe(&self) -> Result<usize, PersistError> {
        let (n, done) = {
            let mut inner = self.inner.write();
            let n = inner.groups.len();
            *inner = Inner::default();
            (n, self.persister.send(Op::Wipe))
        };
        done.await.map_err(|_| PersistError::Stopped)??;
        Ok(n)
    }

    /// Deletes groups that have not changed since `cutoff_ms`; returns their keys.
    pub async fn expire(&self, cutoff_ms: i64) -> Result<Vec<GroupingKey>, PersistError> {
        let mut expired = Vec::new();
        let mut waits = Vec::new();
        {
            let mut inner = self.inner.write();
            let old: Vec<String> = inner
                .groups
                .iter()
                .filter(|(_, g)| g.last_change_ms() < cutoff_ms)
                .map(|(k, _)| k.clone())
                .collect();
            for ck in old {
                if let Some(g) = inner.remove_group(&ck) {
                    expired.push(g.key);
                    waits.push(self.persister.send(Op::Delete { key: ck }));
                }
            }
        }
        for w in waits {
            w.await.map_err(|_| PersistError::Stopped)??;
        }
        Ok(expired)
    }

    /// A copy of every group, in grouping-key order (text shared, not copied).
    pub fn snapshot(&self) -> Snapshot {
        self.inner.read().groups.values().cloned().collect()
    }

    /// Number of groups.
    pub fn len(&self) -> usize {
        self.inner.read().groups.len()
    }

    /// True without groups.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Refuses a family whose type differs from the same name in a group other than the
/// one being replaced.
fn check_types(inner: &Inner, key: &GroupingKey, fams: &[RenderedFamily]) -> Result<(), PushError> {
    let own = inner.groups.get(&key.canonical());
    for f in fams {
        let Some(&(kind, count)) = inner.names.get(&f.name) else {
            continue;
        };
        if kind == f.kind {
            continue;
        }
        // The pushing group's own family of this name is replaced by this push (PUT
        // replaces all, POST the names it pushes), so it does not count.
        let own_has = own.is_some_and(|g| g.families.contains_key(&f.name));
        if count > usize::from(own_has) {
            let other = inner
                .groups
                .values()
                .find(|g| g.key != *key && g.families.contains_key(&f.name))
                .map(|g| g.key.to_string())
                .unwrap_or_default();
            return Err(PushError::TypeConflict {
                name: f.name.clone(),
                pushed: f.kind.text_name(),
                existing: kind.text_name(),
                other,
            });
        }
    }
    Ok(())
}

/// Applies a checked push; returns the group's new persisted body.
fn apply(
    inner: &mut Inner,
    ck: &str,
    key: GroupingKey,
    mode: PushMode,
    fams: Vec<RenderedFamily>,
    now_ms: i64,
) -> Vec<u8> {
    if !inner.groups.contains_key(ck) {
        inner.insert_group(ck.to_string(), Group::new(key.clone()));
    }
    let Inner { groups, names, .. } = inner;
    let group = groups
        .entry(ck.to_string())
        .or_insert_with(|| Group::new(key));
    let removed: Vec<String> = match mode {
        PushMode::Replace => std::mem::take(&mut group.families).into_keys().collect(),
        PushMode::Merge => fams
            .iter()
            .filter(|f| group.families.remove(&f.name).is_some())
            .map(|f| f.name.clone())
            .collect(),
    };
    for n in &removed {
        remove_name(names, n);
    }
    for f in fams {
        names.entry(f.name.clone()).or_insert((f.kind, 0)).1 += 1;
        group.families.insert(
            f.name,
            StoredFam {
                kind: f.kind,
                help: f.help.map(Arc::from),
                text: Arc::from(f.text),
                pushed_ms: f.pushed_ms,
            },
        );
    }
    group.push_ms = now_ms;
    group.encode()
}

/// The series part of a rendered sample line (everything before the value).
fn series_of(line: &str) -> &str {
    line.rsplit_once(' ').map_or(line, |(s, _)| s)
}

/// Refuses a series another group already exposes (possible only between groups of one
/// job whose keys name different labels, e.g. `{job="a"}` pushing `x{b="1"}` and
/// `{job="a",b="1"}` pushing `x`), as upstream's gatherer does.
fn check_duplicates(
    inner: &Inner,
    key: &GroupingKey,
    fams: &[RenderedFamily],
) -> Result<(), PushError> {
    let job = key.get("job").unwrap_or_default();
    let mine = shape(key);
    let Some(shapes) = inner.shapes.get(job) else {
        return Ok(());
    };
    if shapes.keys().all(|s| *s == mine) {
        return Ok(());
    }
    for g in inner.groups.values() {
        if g.key.get("job") != Some(job) || shape(&g.key) == mine {
            continue;
        }
        let compatible = key
            .labels()
            .iter()
            .all(|(n, v)| g.key.get(n).is_none_or(|v2| v2 == v));
        if !compatible {
            continue;
        }
        for f in fams {
            let Some(other) = g.families.get(&f.name) else {
                continue;
            };
            let theirs: std::collections::HashSet<&str> =
                other.text.lines().map(series_of).collect();
            if let Some(dup) = f.text.lines().map(series_of).find(|s| theirs.contains(s)) {
                return Err(PushError::Body(BodyError::Duplicate(format!(
                    "{dup} (group {} has it)",
                    g.key
                ))));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pushgateway::body::parse_text;

    fn key(job: &str) -> GroupingKey {
        GroupingKey::new(vec![("job".into(), job.into())])
    }

    async fn push(s: &Store, job: &str, mode: PushMode, body: &str) -> Result<(), PushError> {
        s.push(key(job), mode, parse_text(body.as_bytes()), 1000)
            .await
    }

    #[tokio::test]
    async fn put_post_delete_and_type_conflicts() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("pg.sqlite")).unwrap();
        push(&s, "a", PushMode::Replace, "x 1\ny 2\n")
            .await
            .unwrap();
        push(&s, "a", PushMode::Merge, "x 3\n").await.unwrap();
        let g = &s.snapshot()[0];
        assert_eq!(g.families.len(), 2);
        assert_eq!(&*g.families["x"].text, "x{instance=\"\",job=\"a\"} 3\n");
        push(&s, "a", PushMode::Replace, "x 4\n").await.unwrap();
        assert_eq!(s.snapshot()[0].families.len(), 1);

        // Another group may not push x as a gauge while a has it untyped...
        let err = push(&s, "b", PushMode::Merge, "# TYPE x gauge\nx 1\n")
            .await
            .unwrap_err();
        assert!(matches!(err, PushError::TypeConflict { .. }), "{err}");
        assert!(err.to_string().contains("{job=\"a\"}"), "{err}");
        let b = s
            .snapshot()
            .into_iter()
            .find(|g| g.key == key("b"))
            .unwrap();
        assert_eq!((b.push_ms, b.failure_ms, b.families.len()), (0, 1000, 0));
        // ...but group a may change its own type.
        push(&s, "a", PushMode::Merge, "# TYPE x gauge\nx 1\n")
            .await
            .unwrap();
        push(&s, "b", PushMode::Merge, "# TYPE x gauge\nx 1\n")
            .await
            .unwrap();

        // A series another group of the job already has is refused (keys of other shapes).
        let ab = GroupingKey::new(vec![("job".into(), "d".into()), ("b".into(), "1".into())]);
        push(&s, "d", PushMode::Merge, "dd{b=\"1\"} 1\n")
            .await
            .unwrap();
        let err = s
            .push(ab.clone(), PushMode::Merge, parse_text(b"dd 1\n"), 1000)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("collected before"), "{err}");
        s.push(ab, PushMode::Merge, parse_text(b"dd{c=\"2\"} 1\n"), 1000)
            .await
            .unwrap();
        s.delete(&key("d")).await.unwrap();

        s.delete(&key("a")).await.unwrap();
        s.delete(&key("nope")).await.unwrap();
        assert_eq!(s.len(), 2);
        // A parse error leaves no trace.
        assert!(push(&s, "c", PushMode::Merge, "x{").await.is_err());
        assert_eq!(s.len(), 2);
    }

    #[tokio::test]
    async fn groups_survive_reopen_and_expire() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pg.sqlite");
        {
            let s = Store::open(&path).unwrap();
            push(
                &s,
                "a",
                PushMode::Replace,
                "# HELP x the x\n# TYPE x counter\nx 1\n",
            )
            .await
            .unwrap();
            s.push(key("b"), PushMode::Replace, parse_text(b"y 1\n"), 5000)
                .await
                .unwrap();
        }
        let s = Store::open(&path).unwrap();
        let snap = s.snapshot();
        assert_eq!(snap.len(), 2);
        let x = &snap[0].families["x"];
        assert_eq!((x.kind, x.help.as_deref()), (Kind::Counter, Some("the x")));
        assert_eq!(snap[0].push_ms, 1000);
        let expired = s.expire(2000).await.unwrap();
        assert_eq!(expired, vec![key("a")]);
        drop(s);
        let s = Store::open(&path).unwrap();
        assert_eq!(s.len(), 1);
        assert_eq!(s.wipe().await.unwrap(), 1);
        assert!(s.is_empty());
    }
}
