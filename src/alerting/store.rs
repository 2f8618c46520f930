//! The pipeline's operator state in one SQLite file (`alertmanager.db` under the data
//! directory): silences, acknowledgements, the notification log, the alerts last known
//! (so a restart neither forgets what was due nor re-sends what was sent) and an alert
//! history for the UI. Silences and acknowledgements are committed before the API answers
//! (WAL journal, `synchronous=FULL`), so a kill -9 after a 200 loses nothing.
//!
//! Rows hold JSON documents keyed by id; the schema is in [`SCHEMA`].

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use rusqlite::{params, Connection};
use serde::{Deserialize, Serialize};

use super::ack::Ack;
use super::alert::{Alert, LabelSet};
use super::matcher::{MatchType, Matcher};
use super::silence::Silence;

/// Tables. `nflog.key` is `receiver/kind/index` + `:` + group key.
pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS silences (id TEXT PRIMARY KEY, doc TEXT NOT NULL, ends_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS acks (id TEXT PRIMARY KEY, doc TEXT NOT NULL, ends_at INTEGER);
CREATE TABLE IF NOT EXISTS nflog (key TEXT PRIMARY KEY, doc TEXT NOT NULL, expires_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS alerts (fingerprint INTEGER PRIMARY KEY, doc TEXT NOT NULL, ends_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS history (ts INTEGER NOT NULL, fingerprint TEXT NOT NULL, event TEXT NOT NULL, labels TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS history_ts ON history (ts);
";

/// Why the state store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("alerting state {}: {source}", path.display())]
    Sqlite {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("alerting state {}: creating the directory: {source}", path.display())]
    Dir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// One notification log entry: what was last sent for a group to one integration.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct NflogEntry {
    pub firing: BTreeSet<u64>,
    pub resolved: BTreeSet<u64>,
    pub timestamp_ms: i64,
}

#[derive(Serialize, Deserialize)]
struct MatcherDoc {
    name: String,
    op: String,
    value: String,
}

#[derive(Serialize, Deserialize)]
struct SilenceDoc {
    id: String,
    matchers: Vec<MatcherDoc>,
    starts_at: i64,
    ends_at: i64,
    updated_at: i64,
    created_by: String,
    comment: String,
}

#[derive(Serialize, Deserialize)]
struct AckDoc {
    id: String,
    group_key: Option<String>,
    fingerprints: Vec<u64>,
    created_by: String,
    comment: String,
    created_at: i64,
    expires_at: Option<i64>,
    ended_at: Option<i64>,
}

/// Times in nanoseconds since the epoch.
#[derive(Deserialize)]
struct AlertDoc {
    labels: LabelSet,
    annotations: BTreeMap<String, String>,
    starts_at: i64,
    ends_at: i64,
    updated_at: i64,
    generator_url: String,
    timeout: bool,
}

/// [`AlertDoc`] written from a stored alert without copying its content.
#[derive(Serialize)]
struct AlertDocRef<'a> {
    labels: &'a LabelSet,
    annotations: &'a BTreeMap<String, String>,
    starts_at: i64,
    ends_at: i64,
    updated_at: i64,
    generator_url: &'a str,
    timeout: bool,
}

/// Alert times keep nanoseconds (notifications show them as Alertmanager does).
fn ns(t: DateTime<Utc>) -> i64 {
    t.timestamp_nanos_opt()
        .unwrap_or(t.timestamp_millis().saturating_mul(1_000_000))
}

fn at_ns(ns: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_nanos(ns)
}

fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

fn at(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

/// The open state file.
pub struct Store {
    conn: Connection,
    path: PathBuf,
}

impl Store {
    /// Opens (creating) `dir/alertmanager.db`.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::Dir {
            path: dir.to_path_buf(),
            source,
        })?;
        let path = dir.join("alertmanager.db");
        let err = |source| StoreError::Sqlite {
            path: path.clone(),
            source,
        };
        let conn = Connection::open(&path).map_err(err)?;
        // A small page cache: the file is written far more than read (reads are the
        // start-up load), and SQLite's default 2 MiB would be held for good.
        conn.execute_batch(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA cache_size=-512;",
        )
        .map_err(err)?;
        conn.execute_batch(SCHEMA).map_err(err)?;
        Ok(Store { conn, path })
    }

    fn err(&self, source: rusqlite::Error) -> StoreError {
        StoreError::Sqlite {
            path: self.path.clone(),
            source,
        }
    }

    pub fn load_silences(&self) -> Result<Vec<Silence>, StoreError> {
        let docs: Vec<String> = self.strings("SELECT doc FROM silences")?;
        Ok(docs
            .iter()
            .filter_map(|d| serde_json::from_str::<SilenceDoc>(d).ok())
            .filter_map(|d| {
                let matchers = d
                    .matchers
                    .iter()
                    .map(|m| {
                        let op = match m.op.as_str() {
                            "=" => MatchType::Equal,
                            "!=" => MatchType::NotEqual,
                            "=~" => MatchType::Regexp,
                            _ => MatchType::NotRegexp,
                        };
                        Matcher::new(&m.name, op, &m.value).ok()
                    })
                    .collect::<Option<Vec<_>>>()?;
                Some(Silence {
                    id: d.id,
                    matchers,
                    starts_at: at(d.starts_at),
                    ends_at: at(d.ends_at),
                    updated_at: at(d.updated_at),
                    created_by: d.created_by,
                    comment: d.comment,
                })
            })
            .collect())
    }

    fn strings(&self, sql: &str) -> Result<Vec<String>, StoreError> {
        let mut st = self.conn.prepare(sql).map_err(|e| self.err(e))?;
        let rows = st
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| self.err(e))
    }

    /// Writes silences in one transaction (committed on return).
    pub fn save_silences(&mut self, list: &[Silence]) -> Result<(), StoreError> {
        let tx = self.conn.transaction().map_err(|e| StoreError::Sqlite {
            path: self.path.clone(),
            source: e,
        })?;
        for s in list {
            let doc = SilenceDoc {
                id: s.id.clone(),
                matchers: s
                    .matchers
                    .iter()
                    .map(|m| MatcherDoc {
                        name: m.name.clone(),
                        op: m.op.as_str().to_string(),
                        value: m.value.clone(),
                    })
                    .collect(),
                starts_at: ms(s.starts_at),
                ends_at: ms(s.ends_at),
                updated_at: ms(s.updated_at),
                created_by: s.created_by.clone(),
                comment: s.comment.clone(),
            };
            let json = serde_json::to_string(&doc).unwrap_or_default();
            tx.execute(
                "INSERT OR REPLACE INTO silences (id, doc, ends_at) VALUES (?1, ?2, ?3)",
                params![s.id, json, ms(s.ends_at)],
            )
            .map_err(|e| StoreError::Sqlite {
                path: self.path.clone(),
                source: e,
            })?;
        }
        tx.commit().map_err(|e| self.err(e))
    }

    pub fn load_acks(&self) -> Result<Vec<Ack>, StoreError> {
        let docs = self.strings("SELECT doc FROM acks")?;
        Ok(docs
            .iter()
            .filter_map(|d| serde_json::from_str::<AckDoc>(d).ok())
            .map(|d| Ack {
                id: d.id,
                group_key: d.group_key,
                fingerprints: d.fingerprints.into_iter().collect(),
                created_by: d.created_by,
                comment: d.comment,
                created_at: at(d.created_at),
                expires_at: d.expires_at.map(at),
                ended_at: d.ended_at.map(at),
            })
            .collect())
    }

    /// Writes acknowledgements in one transaction (committed on return).
    pub fn save_acks(&mut self, list: &[Ack]) -> Result<(), StoreError> {
        let path = self.path.clone();
        let e2 = |source| StoreError::Sqlite {
            path: path.clone(),
            source,
        };
        let tx = self.conn.transaction().map_err(e2)?;
        for a in list {
            let doc = AckDoc {
                id: a.id.clone(),
                group_key: a.group_key.clone(),
                fingerprints: a.fingerprints.iter().copied().collect(),
                created_by: a.created_by.clone(),
                comment: a.comment.clone(),
                created_at: ms(a.created_at),
                expires_at: a.expires_at.map(ms),
                ended_at: a.ended_at.map(ms),
            };
            let json = serde_json::to_string(&doc).unwrap_or_default();
            tx.execute(
                "INSERT OR REPLACE INTO acks (id, doc, ends_at) VALUES (?1, ?2, ?3)",
                params![a.id, json, a.end().map(ms)],
            )
            .map_err(e2)?;
        }
        tx.commit().map_err(e2)
    }

    pub fn load_nflog(&self) -> Result<BTreeMap<String, NflogEntry>, StoreError> {
        let mut st = self
            .conn
            .prepare("SELECT key, doc FROM nflog")
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
            .map_err(|e| self.err(e))?;
        let mut out = BTreeMap::new();
        for row in rows {
            let (k, d) = row.map_err(|e| self.err(e))?;
            if let Ok(e) = serde_json::from_str(&d) {
                out.insert(k, e);
            }
        }
        Ok(out)
    }

    /// Records one notification (committed on return, before the next stage runs).
    pub fn save_nflog(
        &mut self,
        key: &str,
        e: &NflogEntry,
        expires_ms: i64,
    ) -> Result<(), StoreError> {
        let json = serde_json::to_string(e).unwrap_or_default();
        self.conn
            .execute(
                "INSERT OR REPLACE INTO nflog (key, doc, expires_at) VALUES (?1, ?2, ?3)",
                params![key, json, expires_ms],
            )
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    /// The alerts last known. A row whose `ends_at` column moved past its document's end
    /// was re-posted with only a later end (see [`Store::save_alerts`]): the column wins.
    pub fn load_alerts(&self) -> Result<Vec<Alert>, StoreError> {
        let mut st = self
            .conn
            .prepare("SELECT doc, ends_at FROM alerts")
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
            .map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for row in rows {
            let (doc, ends_ms) = row.map_err(|e| self.err(e))?;
            let Ok(d) = serde_json::from_str::<AlertDoc>(&doc) else {
                continue;
            };
            let fingerprint = super::alert::fingerprint(&d.labels);
            let mut ends_at = at_ns(d.ends_at);
            if ms(ends_at) != ends_ms {
                ends_at = at(ends_ms);
            }
            out.push(Alert {
                labels: Arc::new(d.labels),
                annotations: Arc::new(d.annotations),
                starts_at: at_ns(d.starts_at),
                ends_at,
                generator_url: Arc::from(d.generator_url),
                updated_at: at_ns(d.updated_at),
                timeout: d.timeout,
                fingerprint,
            });
        }
        Ok(out)
    }

    /// Writes changed alerts whole, the new end only of alerts re-posted with nothing
    /// else changed (`ends`: fingerprint and end; the `ends_at` column, no document
    /// re-encoded), removes deleted ones and appends history events, in one transaction.
    pub fn save_alerts(
        &mut self,
        changed: &[Arc<Alert>],
        ends: &[(u64, DateTime<Utc>)],
        deleted: &[u64],
        events: &[(DateTime<Utc>, u64, &'static str, String)],
    ) -> Result<(), StoreError> {
        let path = self.path.clone();
        let e2 = |source| StoreError::Sqlite {
            path: path.clone(),
            source,
        };
        let tx = self.conn.transaction().map_err(e2)?;
        {
            let mut up = tx
                .prepare_cached(
                    "INSERT OR REPLACE INTO alerts (fingerprint, doc, ends_at) VALUES (?1, ?2, ?3)",
                )
                .map_err(e2)?;
            for a in changed {
                let doc = AlertDocRef {
                    labels: &a.labels,
                    annotations: &a.annotations,
                    starts_at: ns(a.starts_at),
                    ends_at: ns(a.ends_at),
                    updated_at: ns(a.updated_at),
                    generator_url: &a.generator_url,
                    timeout: a.timeout,
                };
                let json = serde_json::to_string(&doc).unwrap_or_default();
                up.execute(params![a.fingerprint as i64, json, ms(a.ends_at)])
                    .map_err(e2)?;
            }
            let mut end = tx
                .prepare_cached("UPDATE alerts SET ends_at = ?2 WHERE fingerprint = ?1")
                .map_err(e2)?;
            for (fp, t) in ends {
                end.execute(params![*fp as i64, ms(*t)]).map_err(e2)?;
            }
            let mut del = tx
                .prepare_cached("DELETE FROM alerts WHERE fingerprint = ?1")
                .map_err(e2)?;
            for fp in deleted {
                del.execute(params![*fp as i64]).map_err(e2)?;
            }
            let mut ev = tx
                .prepare_cached(
                    "INSERT INTO history (ts, fingerprint, event, labels) VALUES (?1, ?2, ?3, ?4)",
                )
                .map_err(e2)?;
            for (t, fp, what, labels) in events {
                ev.execute(params![
                    ms(*t),
                    super::alert::fingerprint_hex(*fp),
                    what,
                    labels
                ])
                .map_err(e2)?;
            }
        }
        tx.commit().map_err(e2)
    }

    /// Deletes silences, acknowledgements and history older than `before_ms`, and
    /// expired notification log entries.
    pub fn purge(&mut self, before_ms: i64, now_ms: i64) -> Result<(), StoreError> {
        self.conn
            .execute_batch(&format!(
                "DELETE FROM silences WHERE ends_at < {before_ms};
                 DELETE FROM acks WHERE ends_at IS NOT NULL AND ends_at < {before_ms};
                 DELETE FROM history WHERE ts < {before_ms};
                 DELETE FROM nflog WHERE expires_at < {now_ms};"
            ))
            .map_err(|e| self.err(e))
    }

    /// History events `(ts_ms, fingerprint, event, labels)` since `since_ms`, newest last.
    pub fn history(
        &self,
        since_ms: i64,
        limit: usize,
    ) -> Result<Vec<(i64, String, String, String)>, StoreError> {
        let mut st = self
            .conn
            .prepare(
                "SELECT ts, fingerprint, event, labels FROM history WHERE ts >= ?1 ORDER BY ts LIMIT ?2",
            )
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map(params![since_ms, limit as i64], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| self.err(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerting::matcher::parse_matchers;

    #[test]
    fn state_round_trips_through_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let now = at(Utc::now().timestamp_millis());
        let sil = Silence {
            id: "s1".into(),
            matchers: parse_matchers(r#"a="b",c=~"d.*""#).unwrap(),
            starts_at: now,
            ends_at: now + chrono::Duration::hours(1),
            updated_at: now,
            created_by: "me".into(),
            comment: "x".into(),
        };
        let ack = Ack {
            id: "a1".into(),
            group_key: Some("{}:{}".into()),
            fingerprints: [1u64, 2].into(),
            created_by: "me".into(),
            comment: "y".into(),
            created_at: now,
            expires_at: None,
            ended_at: None,
        };
        let entry = NflogEntry {
            firing: [5u64].into(),
            resolved: BTreeSet::new(),
            timestamp_ms: 7,
        };
        {
            let mut s = Store::open(dir.path()).unwrap();
            s.save_silences(std::slice::from_ref(&sil)).unwrap();
            s.save_acks(std::slice::from_ref(&ack)).unwrap();
            s.save_nflog("r/webhook/0:{}:{}", &entry, i64::MAX).unwrap();
        }
        let s = Store::open(dir.path()).unwrap();
        assert_eq!(s.load_silences().unwrap(), vec![sil]);
        assert_eq!(s.load_acks().unwrap(), vec![ack]);
        assert_eq!(s.load_nflog().unwrap()["r/webhook/0:{}:{}"], entry);
    }
}
