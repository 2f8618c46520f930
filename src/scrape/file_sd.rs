//! File-based service discovery: watching the files of one `file_sd_configs` entry and
//! handing their target groups to the scrape pool.
//!
//! Mirrors upstream `discovery/file/file.go`, with polling instead of inotify: every poll
//! (a few seconds by default) the patterns are expanded again and each file's modification
//! time and size are compared with the last read; a changed or new file is re-read, a file
//! that no longer matches loses its groups, and every file is re-read each
//! `refresh_interval` regardless. A file that cannot be read or parsed keeps the groups it
//! had (the error is logged and counted), as upstream does, so a half-written file never
//! removes targets. Parsing (JSON/YAML, `__meta_filepath`, `path:index` sources) is
//! [`crate::config::file_sd::parse_target_groups`].

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant, SystemTime};

use parking_lot::Mutex;

use crate::config::file_sd::{glob_files, parse_target_groups};
use crate::scrape::metrics::ScrapeMetrics;
use crate::scrape::pool::ScrapePool;
use crate::scrape::settings::{FileSdSettings, TargetGroup};

#[derive(Debug, Clone, PartialEq)]
struct FileState {
    stamp: Option<(SystemTime, u64)>,
    groups: Vec<TargetGroup>,
}

/// The state of one `file_sd_configs` entry: what each matching file last yielded.
#[derive(Debug)]
pub(crate) struct FileSdWatcher {
    cfg: FileSdSettings,
    files: BTreeMap<PathBuf, FileState>,
    last_full: Option<Instant>,
    last_emitted: Vec<TargetGroup>,
}

impl FileSdWatcher {
    pub(crate) fn new(cfg: FileSdSettings) -> Self {
        FileSdWatcher {
            cfg,
            files: BTreeMap::new(),
            last_full: None,
            last_emitted: Vec::new(),
        }
    }

    fn refresh_due(&self) -> bool {
        let every = Duration::from_millis(self.cfg.refresh_interval_ms.max(1) as u64);
        self.last_full.is_none_or(|t| t.elapsed() >= every)
    }

    /// Looks at the files; returns all groups when they differ from the last call's.
    pub(crate) fn poll(&mut self, metrics: &ScrapeMetrics) -> Option<Vec<TargetGroup>> {
        let force = self.refresh_due();
        if force {
            self.last_full = Some(Instant::now());
        }
        let mut matched: Vec<PathBuf> = Vec::new();
        for pattern in &self.cfg.files {
            match glob_files(pattern) {
                Ok(found) => matched.extend(found),
                Err(e) => tracing::error!(pattern = %pattern, error = %e, "file_sd: bad pattern"),
            }
        }
        matched.sort();
        matched.dedup();
        let mut next: BTreeMap<PathBuf, FileState> = BTreeMap::new();
        for path in matched {
            let stamp = std::fs::metadata(&path)
                .ok()
                .and_then(|m| Some((m.modified().ok()?, m.len())));
            let prev = self.files.remove(&path);
            if let Some(p) = &prev {
                if !force && stamp.is_some() && p.stamp == stamp {
                    next.insert(path, p.clone());
                    continue;
                }
            }
            let read = std::fs::read(&path)
                .map_err(|e| e.to_string())
                .and_then(|bytes| parse_target_groups(&path, &bytes).map_err(|e| e.to_string()));
            let groups = match read {
                Ok(groups) => groups,
                Err(e) => {
                    ScrapeMetrics::inc(&metrics.file_sd_read_errors);
                    tracing::error!(path = %path.display(), error = %e, "file_sd: error reading file, keeping its previous targets");
                    prev.map(|p| p.groups).unwrap_or_default()
                }
            };
            next.insert(path, FileState { stamp, groups });
        }
        self.files = next;
        let all: Vec<TargetGroup> = self
            .files
            .values()
            .flat_map(|f| f.groups.iter().cloned())
            .collect();
        if all == self.last_emitted {
            return None;
        }
        self.last_emitted = all.clone();
        Some(all)
    }
}

/// Polls `watcher` every `every` and syncs the pool when its groups change; ends when the
/// pool is gone (the task is also aborted on reload).
pub(crate) async fn run(
    mut watcher: FileSdWatcher,
    pool: Weak<Mutex<ScrapePool>>,
    provider: String,
    every: Duration,
    metrics: Arc<ScrapeMetrics>,
) {
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(groups) = watcher.poll(&metrics) else {
            if pool.strong_count() == 0 {
                return;
            }
            continue;
        };
        let Some(pool) = pool.upgrade() else {
            return;
        };
        let mut p = pool.lock();
        p.set_groups(&provider, groups);
        p.sync();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poll_reads_changes_and_keeps_groups_of_broken_files() {
        let dir = tempfile::tempdir().unwrap();
        let m = ScrapeMetrics::default();
        let a = dir.path().join("a.json");
        std::fs::write(&a, r#"[{"targets": ["h:1"], "labels": {"x": "1"}}]"#).unwrap();
        let mut w = FileSdWatcher::new(FileSdSettings {
            files: vec![format!("{}/*.json", dir.path().display())],
            refresh_interval_ms: 3_600_000,
        });
        let g = w.poll(&m).unwrap();
        assert_eq!(g.len(), 1);
        assert_eq!(g[0].targets[0].get("__address__"), Some("h:1"));
        assert_eq!(
            g[0].labels.get("__meta_filepath"),
            Some(a.to_str().unwrap())
        );
        assert_eq!(g[0].source, format!("{}:0", a.display()));
        assert!(w.poll(&m).is_none(), "nothing changed");
        // Broken content: previous groups kept, error counted.
        std::fs::write(&a, "[{").unwrap();
        assert!(w.poll(&m).is_none());
        assert_eq!(m.snapshot().file_sd_read_errors_total, 1);
        // A second file appears, the first is fixed with a new target.
        let b = dir.path().join("b.json");
        std::fs::write(&b, r#"[{"targets": ["h:2"]}]"#).unwrap();
        std::fs::write(&a, r#"[{"targets": ["h:3"]}]"#).unwrap();
        let g = w.poll(&m).unwrap();
        let addrs: Vec<_> = g
            .iter()
            .flat_map(|g| {
                g.targets
                    .iter()
                    .map(|t| t.get("__address__").unwrap().to_string())
            })
            .collect();
        assert_eq!(addrs, vec!["h:3", "h:2"]);
        // A removed file loses its groups.
        std::fs::remove_file(&a).unwrap();
        let g = w.poll(&m).unwrap();
        assert_eq!(g.len(), 1);
        assert_eq!(g[0].targets[0].get("__address__"), Some("h:2"));
    }
}
