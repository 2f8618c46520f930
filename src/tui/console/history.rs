//! The console's query history, persisted in SQLite under the state directory.
//!
//! One row per distinct query text (running it again moves it to the top and counts the
//! run), with a star the operator toggles; starred queries sort first in the history
//! search. The database opens lazily on first use; when it cannot be opened (read-only
//! state directory, corrupt file) history is kept in memory for the session and the
//! reason is shown in the console's status line.

use std::path::{Path, PathBuf};

use rusqlite::{params, Connection};

/// What went wrong with the history database.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("opening console history {path}: {source}")]
    Open {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("creating the directory of console history {path}: {source}")]
    Dir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("writing console history {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
}

/// One remembered query.
#[derive(Clone, Debug, PartialEq)]
pub struct HistoryEntry {
    pub expr: String,
    /// When it last ran, ms since the epoch.
    pub last_run_ms: i64,
    pub runs: u64,
    pub starred: bool,
}

/// Most entries kept in memory (and read at open); older ones stay on disk.
const KEEP: usize = 2000;

/// The history: entries newest first, mirrored to SQLite when it is open.
pub struct History {
    path: PathBuf,
    conn: Option<Connection>,
    /// Why the database is not in use; shown to the operator.
    error: Option<String>,
    opened: bool,
    entries: Vec<HistoryEntry>,
}

impl History {
    /// A history backed by the SQLite file at `path`, not opened yet.
    pub fn new(path: PathBuf) -> History {
        History {
            path,
            conn: None,
            error: None,
            opened: false,
            entries: Vec::new(),
        }
    }

    /// Opens the database (once) and loads the newest entries; on failure records why and
    /// carries on in memory.
    pub fn ensure_open(&mut self) {
        if self.opened {
            return;
        }
        self.opened = true;
        match open(&self.path) {
            Ok((conn, entries)) => {
                // Entries recorded before the open (none in practice) are kept on top.
                let mut merged = std::mem::take(&mut self.entries);
                for e in entries {
                    if !merged.iter().any(|m| m.expr == e.expr) {
                        merged.push(e);
                    }
                }
                self.entries = merged;
                self.conn = Some(conn);
            }
            Err(e) => {
                tracing::warn!(error = %e, "console history unavailable");
                self.error = Some(format!("{e}; history is kept for this session only"));
            }
        }
    }

    /// Why history is not persisted, if it is not.
    pub fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }

    /// Entries, newest first.
    pub fn entries(&self) -> &[HistoryEntry] {
        &self.entries
    }

    /// Records a run of `expr` at `now_ms`: an existing entry moves to the top.
    pub fn record(&mut self, expr: &str, now_ms: i64) {
        self.ensure_open();
        let expr = expr.trim();
        if expr.is_empty() {
            return;
        }
        let mut entry = match self.entries.iter().position(|e| e.expr == expr) {
            Some(i) => self.entries.remove(i),
            None => HistoryEntry {
                expr: expr.to_string(),
                last_run_ms: now_ms,
                runs: 0,
                starred: false,
            },
        };
        entry.runs += 1;
        entry.last_run_ms = now_ms;
        self.entries.insert(0, entry);
        self.entries.truncate(KEEP);
        if let Some(conn) = &self.conn {
            let r = conn.execute(
                "INSERT INTO console_history (expr, last_run_ms, runs, starred) VALUES (?1, ?2, 1, 0)
                 ON CONFLICT(expr) DO UPDATE SET last_run_ms = excluded.last_run_ms, runs = runs + 1",
                params![expr, now_ms],
            );
            self.note_write(r);
        }
    }

    /// Toggles the star of `expr`; returns the new state.
    pub fn toggle_star(&mut self, expr: &str) -> bool {
        self.ensure_open();
        let Some(e) = self.entries.iter_mut().find(|e| e.expr == expr) else {
            return false;
        };
        e.starred = !e.starred;
        let starred = e.starred;
        if let Some(conn) = &self.conn {
            let r = conn.execute(
                "UPDATE console_history SET starred = ?1 WHERE expr = ?2",
                params![starred, expr],
            );
            self.note_write(r);
        }
        starred
    }

    fn note_write(&mut self, r: rusqlite::Result<usize>) {
        if let Err(source) = r {
            let e = HistoryError::Write {
                path: self.path.clone(),
                source,
            };
            tracing::warn!(error = %e, "console history not saved");
            self.error = Some(e.to_string());
        }
    }

    /// Entries whose text contains every blank-separated word of `query` (case-insensitive),
    /// starred first, then newest first.
    pub fn search(&self, query: &str) -> Vec<&HistoryEntry> {
        let words: Vec<String> = query.split_whitespace().map(|w| w.to_lowercase()).collect();
        let mut hits: Vec<&HistoryEntry> = self
            .entries
            .iter()
            .filter(|e| {
                let l = e.expr.to_lowercase();
                words.iter().all(|w| l.contains(w.as_str()))
            })
            .collect();
        // Stable: keeps recency order within starred and unstarred.
        hits.sort_by_key(|e| !e.starred);
        hits
    }
}

fn open(path: &Path) -> Result<(Connection, Vec<HistoryEntry>), HistoryError> {
    if let Some(dir) = path.parent() {
        if !dir.as_os_str().is_empty() {
            std::fs::create_dir_all(dir).map_err(|source| HistoryError::Dir {
                path: dir.to_path_buf(),
                source,
            })?;
        }
    }
    let err = |source| HistoryError::Open {
        path: path.to_path_buf(),
        source,
    };
    let conn = Connection::open(path).map_err(err)?;
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = NORMAL;
         PRAGMA busy_timeout = 1000;
         CREATE TABLE IF NOT EXISTS console_history (
             expr TEXT PRIMARY KEY NOT NULL,
             last_run_ms INTEGER NOT NULL,
             runs INTEGER NOT NULL DEFAULT 1,
             starred INTEGER NOT NULL DEFAULT 0
         );",
    )
    .map_err(err)?;
    let entries = {
        let mut stmt = conn
            .prepare(
                "SELECT expr, last_run_ms, runs, starred FROM console_history
                 ORDER BY last_run_ms DESC LIMIT ?1",
            )
            .map_err(err)?;
        let rows = stmt
            .query_map(params![KEEP as i64], |r| {
                Ok(HistoryEntry {
                    expr: r.get(0)?,
                    last_run_ms: r.get(1)?,
                    runs: r.get::<_, i64>(2)?.max(0) as u64,
                    starred: r.get(3)?,
                })
            })
            .map_err(err)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(err)?
    };
    Ok((conn, entries))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_persists_dedupes_and_stars() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state/console.sqlite");
        {
            let mut h = History::new(path.clone());
            h.record("up", 1);
            h.record("rate(x[5m])", 2);
            h.record("  up ", 3);
            h.record("", 4);
            assert_eq!(h.entries().len(), 2);
            assert_eq!(h.entries()[0].expr, "up");
            assert_eq!(h.entries()[0].runs, 2);
            assert!(h.toggle_star("rate(x[5m])"));
            assert!(h.error().is_none());
        }
        let mut h = History::new(path);
        h.ensure_open();
        let e = h.entries();
        assert_eq!(e.len(), 2);
        assert_eq!(
            (e[0].expr.as_str(), e[0].runs, e[0].starred),
            ("up", 2, false)
        );
        assert_eq!((e[1].expr.as_str(), e[1].starred), ("rate(x[5m])", true));
        // Starred first in search; words all must match.
        let s: Vec<&str> = h.search("").iter().map(|e| e.expr.as_str()).collect();
        assert_eq!(s, vec!["rate(x[5m])", "up"]);
        let s: Vec<&str> = h
            .search("RATE 5m")
            .iter()
            .map(|e| e.expr.as_str())
            .collect();
        assert_eq!(s, vec!["rate(x[5m])"]);
    }

    #[test]
    fn unusable_database_degrades_to_memory_with_a_reason() {
        let dir = tempfile::tempdir().unwrap();
        // A directory where the file should be cannot be opened as a database.
        let path = dir.path().join("history.sqlite");
        std::fs::create_dir_all(&path).unwrap();
        let mut h = History::new(path);
        h.record("up", 1);
        assert_eq!(h.entries().len(), 1);
        let err = h.error().unwrap();
        assert!(err.contains("history.sqlite"), "{err}");
        assert!(err.contains("this session only"), "{err}");
    }
}
