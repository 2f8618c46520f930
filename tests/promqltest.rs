//! Runs every upstream PromQL test script (shared/testdata/promqltest/*.test) through the
//! engine and the in-memory test storage.
//!
//! Prints `promqltest: <file>: P passed, F failed, S skipped` per file and a total line.
//! Skips are explicit and carry a reason (native histograms; experimental features listed
//! in `promqltest::file_skip_reason`). The test fails when a case fails that is not in
//! tests/promqltest_known_failures.txt, and also when a listed case passes or is skipped (so
//! the list only shrinks).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use promtui::model::{Labels, Sample};
use promtui::promql::engine::{Engine, EngineOptions};
use promtui::promql::promqltest::{run_script_on, MemStorage, Outcome, ScriptStorage};
use promtui::storage::{AppendError, Appender, Queryable};
use promtui::tsdb::{Db, DbAppender, Options};

/// The scripts' data loaded into a real TSDB in a temporary directory (WAL, head, chunk
/// encoding, querier), so the engine is also checked against the production read path.
struct TsdbStorage {
    // Field order matters: the database closes before its directory is removed.
    db: Option<Db>,
    appender: Option<DbAppender>,
    dir: Option<tempfile::TempDir>,
}

impl TsdbStorage {
    fn new() -> Self {
        TsdbStorage {
            db: None,
            appender: None,
            dir: None,
        }
    }
}

impl ScriptStorage for TsdbStorage {
    fn clear(&mut self) -> Result<(), String> {
        self.appender = None;
        if let Some(db) = self.db.take() {
            db.close().map_err(|e| e.to_string())?;
        }
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let opts = Options {
            // Scripts load series one after another, each from t=0 (and sometimes negative
            // times): accept any order and keep everything.
            ooo_window_ms: i64::MAX / 4,
            retention_time_ms: None,
            // Keep everything in the head: scripts load series one after another from t=0,
            // and a persisted block would end the out-of-order window for the next load.
            // (The compaction/query race this once hid is fixed and covered by
            // tests/tsdb_db.rs `a_live_querier_never_loses_samples_to_head_truncation`.)
            block_duration_ms: 1 << 40,
            ..Options::default()
        };
        self.db = Some(Db::open(dir.path(), opts).map_err(|e| e.to_string())?);
        self.dir = Some(dir);
        Ok(())
    }

    fn add(&mut self, labels: Labels, samples: Vec<Sample>) -> Result<(), String> {
        let db = self.db.as_ref().ok_or("database not open")?;
        let app = self.appender.get_or_insert_with(|| db.appender());
        for s in samples {
            match app.append(&labels, s.t, s.v) {
                // A later `load` may repeat a timestamp; the runner already resolved
                // duplicates within one block.
                Ok(()) | Err(AppendError::DuplicateSampleForTimestamp { .. }) => {}
                Err(e) => return Err(e.to_string()),
            }
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), String> {
        if let Some(mut app) = self.appender.take() {
            app.commit().map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    fn queryable(&self) -> &dyn Queryable {
        match &self.db {
            Some(db) => db,
            None => &*EMPTY,
        }
    }
}

static EMPTY: std::sync::LazyLock<MemStorage> = std::sync::LazyLock::new(MemStorage::new);

fn testdata_dir() -> Option<PathBuf> {
    let mut candidates = Vec::new();
    if let Ok(shared) = std::env::var("PROMTUI_SHARED") {
        candidates.push(Path::new(&shared).join("testdata/promqltest"));
        candidates.push(Path::new(&shared).join("promqltest"));
    }
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    candidates.push(manifest.join("../shared/testdata/promqltest"));
    candidates.push(manifest.join("../../shared/testdata/promqltest"));
    candidates.into_iter().find(|p| p.is_dir())
}

/// `file:line` → reason, from the committed known-failures list.
fn known_failures() -> BTreeMap<String, String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/promqltest_known_failures.txt");
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| match l.split_once(char::is_whitespace) {
            Some((k, r)) => (k.to_string(), r.trim().to_string()),
            None => (l.to_string(), String::new()),
        })
        .collect()
}

#[test]
fn upstream_promql_scripts() {
    run_all(
        "memory",
        &mut MemStorage::new(),
        EngineOptions::default().range_batch_samples,
    );
}

/// The same scripts over the real TSDB; the same known-failures list applies.
#[test]
fn upstream_promql_scripts_on_tsdb() {
    run_all(
        "tsdb",
        &mut TsdbStorage::new(),
        EngineOptions::default().range_batch_samples,
    );
}

/// The scripts with range functions reading their selectors one series at a time (the
/// smallest batch), which must not change any result, annotation or error.
#[test]
fn upstream_promql_scripts_in_single_series_batches() {
    run_all("memory, one series per batch", &mut MemStorage::new(), 1);
}

fn run_all(mode: &str, storage: &mut dyn ScriptStorage, range_batch_samples: usize) {
    let dir = testdata_dir().expect(
        "promqltest scripts not found: set PROMTUI_SHARED or check out shared/ next to the repo",
    );
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("read promqltest dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "test"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no .test files in {}", dir.display());
    let known = known_failures();
    // The scripts run with upstream's test engine settings, which include the experimental
    // type-and-unit labels used by type_and_unit.test.
    let engine = Engine::new(EngineOptions {
        enable_type_and_unit_labels: true,
        range_batch_samples,
        ..EngineOptions::default()
    });
    let verbose = std::env::var("PROMQLTEST_VERBOSE").is_ok();
    let (mut tp, mut tf, mut ts) = (0, 0, 0);
    let mut unexpected = Vec::new();
    let mut fixed = Vec::new();
    let mut seen_known = 0;
    for f in &files {
        let name = f
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("")
            .to_string();
        let text = std::fs::read_to_string(f).expect("read script");
        let cases = match run_script_on(&name, &text, &engine, storage) {
            Ok(c) => c,
            Err(e) => {
                unexpected.push(format!("{name}: script error: {e}"));
                continue;
            }
        };
        let (mut p, mut fl, mut s) = (0, 0, 0);
        for c in cases {
            let key = format!("{name}:{}", c.line);
            match c.outcome {
                Outcome::Passed => {
                    p += 1;
                    if known.contains_key(&key) {
                        fixed.push(key);
                    }
                }
                Outcome::Failed(why) => {
                    fl += 1;
                    if known.contains_key(&key) {
                        seen_known += 1;
                    } else {
                        unexpected.push(format!(
                            "{key}: {}\n    {}",
                            c.expr,
                            why.replace('\n', "\n    ")
                        ));
                    }
                    if verbose {
                        eprintln!("FAIL {key}: {} -- {}", c.expr, why);
                    }
                }
                Outcome::Skipped(why) => {
                    s += 1;
                    if known.contains_key(&key) {
                        fixed.push(format!("{key} (now skipped: {why})"));
                    }
                    if verbose {
                        eprintln!("SKIP {key}: {why}");
                    }
                }
            }
        }
        println!("promqltest ({mode}): {name}: {p} passed, {fl} failed, {s} skipped");
        tp += p;
        tf += fl;
        ts += s;
    }
    println!("promqltest ({mode}): {tp} passed, {tf} failed, {ts} skipped");
    println!(
        "promqltest ({mode}): {} known failures listed, {seen_known} still failing",
        known.len()
    );
    let mut msg = String::new();
    if !unexpected.is_empty() {
        msg.push_str(&format!(
            "{} unexpected failures:\n{}\n",
            unexpected.len(),
            unexpected.join("\n")
        ));
    }
    if !fixed.is_empty() {
        msg.push_str(&format!(
            "{} cases in tests/promqltest_known_failures.txt no longer fail; remove them:\n{}\n",
            fixed.len(),
            fixed.join("\n")
        ));
    }
    assert!(msg.is_empty(), "{msg}");
}
