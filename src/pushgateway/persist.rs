//! Groups on disk: one SQLite file (`promtui-state/pushgateway.sqlite` in the data
//! directory, a folder the TSDB's layout owns), one
//! row per group, written by a single thread that commits batches of changes (group
//! commit) and answers each change only after its transaction is committed.
//!
//! Durability: the database runs in WAL journal mode with `synchronous=NORMAL`. A commit
//! appends the transaction to the `-wal` file with `write(2)` before `COMMIT` returns, so
//! once the HTTP handler has its answer the push is in the operating system's page
//! cache; a `kill -9` of promtui cannot take it back, and the next open replays the WAL.
//! Only an OS crash or power loss could lose the last commits, and FULL (an fsync per
//! commit) would cost a disk flush on every push, the same trade Prometheus' own WAL
//! makes. `tests/pushgateway_restart.rs` kills promtui right after a 200 in a loop.
//!
//! Row format (table `pushgateway_groups`): `grouping_key` is
//! [`super::key::GroupingKey::canonical`], `body` a protobuf [`StoredGroup`].

use std::path::{Path, PathBuf};
use std::sync::mpsc;

use super::proto::LabelPair;

/// One group as persisted.
#[derive(Clone, PartialEq, prost::Message)]
pub struct StoredGroup {
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<LabelPair>,
    /// Last successful push (ms since the epoch; 0 = never).
    #[prost(int64, tag = "2")]
    pub push_ms: i64,
    /// Last failed push (ms since the epoch; 0 = never).
    #[prost(int64, tag = "3")]
    pub failure_ms: i64,
    #[prost(message, repeated, tag = "4")]
    pub families: Vec<StoredFamily>,
}

/// One family of a stored group: metadata and the rendered sample lines.
#[derive(Clone, PartialEq, prost::Message)]
pub struct StoredFamily {
    #[prost(string, tag = "1")]
    pub name: String,
    /// client_model `MetricType` value.
    #[prost(int32, tag = "2")]
    pub kind: i32,
    #[prost(string, optional, tag = "3")]
    pub help: Option<String>,
    #[prost(string, tag = "4")]
    pub text: String,
    #[prost(int64, tag = "5")]
    pub pushed_ms: i64,
}

/// Why the store could not be opened or written.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PersistError {
    #[error("opening the Pushgateway database {path}: {reason}")]
    Open { path: PathBuf, reason: String },
    #[error("writing the Pushgateway database: {0}")]
    Write(String),
    #[error("the Pushgateway database writer has stopped")]
    Stopped,
}

/// A stored row: grouping key and body.
type StoredRow = (String, Vec<u8>);

/// One change to the table.
#[derive(Debug)]
pub enum Op {
    Put {
        key: String,
        body: Vec<u8>,
    },
    Delete {
        key: String,
    },
    Wipe,
    /// Changes nothing; answered once everything before it is committed.
    Barrier,
}

struct Job {
    op: Op,
    done: Option<tokio::sync::oneshot::Sender<Result<(), PersistError>>>,
}

/// The writer thread's front. Changes are applied in the order they are sent.
pub struct Persister {
    tx: mpsc::Sender<Job>,
}

/// Most changes committed in one transaction.
const MAX_BATCH: usize = 1024;

impl Persister {
    /// Opens (creating if needed) the database at `path`, returns the writer and every
    /// stored row (key, body).
    pub fn open(path: &Path) -> Result<(Persister, Vec<StoredRow>), PersistError> {
        let open_err = |e: rusqlite::Error| PersistError::Open {
            path: path.to_path_buf(),
            reason: e.to_string(),
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| PersistError::Open {
                path: path.to_path_buf(),
                reason: e.to_string(),
            })?;
        }
        let conn = rusqlite::Connection::open(path).map_err(open_err)?;
        // Another process holding the file makes SQLite answer "busy"; wait for it rather
        // than fail.
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(open_err)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(open_err)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(open_err)?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS pushgateway_groups (
                 grouping_key TEXT PRIMARY KEY NOT NULL,
                 body BLOB NOT NULL
             )",
        )
        .map_err(open_err)?;
        let rows = {
            let mut stmt = conn
                .prepare("SELECT grouping_key, body FROM pushgateway_groups")
                .map_err(open_err)?;
            let rows = stmt
                .query_map([], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, Vec<u8>>(1)?))
                })
                .map_err(open_err)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(open_err)?
        };
        let (tx, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("pushgateway-db".into())
            .spawn(move || writer(conn, rx))
            .map_err(|e| PersistError::Open {
                path: path.to_path_buf(),
                reason: format!("starting the writer thread: {e}"),
            })?;
        Ok((Persister { tx }, rows))
    }

    /// Queues `op`; the receiver answers once it is committed.
    pub fn send(&self, op: Op) -> tokio::sync::oneshot::Receiver<Result<(), PersistError>> {
        let (done, rx) = tokio::sync::oneshot::channel();
        // A stopped writer drops `done`, which the caller sees as `Stopped`.
        let _ = self.tx.send(Job {
            op,
            done: Some(done),
        });
        rx
    }

    /// Waits until everything sent so far is committed.
    pub async fn sync(&self) -> Result<(), PersistError> {
        let (done, rx) = tokio::sync::oneshot::channel();
        let _ = self.tx.send(Job {
            op: Op::Barrier,
            done: Some(done),
        });
        rx.await.map_err(|_| PersistError::Stopped)?
    }
}

fn writer(mut conn: rusqlite::Connection, rx: mpsc::Receiver<Job>) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(j) => batch.push(j),
                Err(_) => break,
            }
        }
        let result = commit(&mut conn, &batch).map_err(|e| PersistError::Write(e.to_string()));
        if let Err(e) = &result {
            tracing::error!("{e}");
        }
        for job in batch {
            if let Some(done) = job.done {
                let _ = done.send(result.clone());
            }
        }
    }
}

fn commit(conn: &mut rusqlite::Connection, batch: &[Job]) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    {
        let mut put = tx.prepare_cached(
            "INSERT INTO pushgateway_groups (grouping_key, body) VALUES (?1, ?2)
             ON CONFLICT(grouping_key) DO UPDATE SET body = excluded.body",
        )?;
        let mut del =
            tx.prepare_cached("DELETE FROM pushgateway_groups WHERE grouping_key = ?1")?;
        for job in batch {
            match &job.op {
                Op::Put { key, body } => {
                    put.execute(rusqlite::params![key, body])?;
                }
                Op::Delete { key } => {
                    del.execute([key])?;
                }
                Op::Wipe => {
                    tx.execute("DELETE FROM pushgateway_groups", [])?;
                }
                Op::Barrier => {}
            }
        }
    }
    tx.commit()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn rows_survive_reopen_and_ops_apply_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pg.sqlite");
        {
            let (p, rows) = Persister::open(&path).unwrap();
            assert!(rows.is_empty());
            for (k, b) in [("a", 1u8), ("b", 2), ("a", 3)] {
                p.send(Op::Put {
                    key: k.into(),
                    body: vec![b],
                })
                .await
                .unwrap()
                .unwrap();
            }
            p.send(Op::Delete { key: "b".into() });
            p.sync().await.unwrap();
        }
        let (p, mut rows) = Persister::open(&path).unwrap();
        rows.sort();
        assert_eq!(rows, vec![("a".to_string(), vec![3u8])]);
        p.send(Op::Wipe);
        p.sync().await.unwrap();
        drop(p);
        let (_p, rows) = Persister::open(&path).unwrap();
        assert!(rows.is_empty());
    }

    #[test]
    fn unopenable_path_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        // The state folder is created on demand; a file in its place cannot be.
        std::fs::write(dir.path().join("not-a-dir"), b"x").unwrap();
        let path = dir.path().join("not-a-dir").join("pg.sqlite");
        let err = Persister::open(&path).err().unwrap();
        assert!(err.to_string().contains("not-a-dir"), "{err}");
    }
}
