//! Loads an OpenMetrics file with timestamps into a promtui TSDB directory through the
//! head appender (WAL + head), for benchmarks that need the same data in promtui and in
//! a Prometheus backfilled with `promtool tsdb create-blocks-from openmetrics`.
//!
//! Usage: `cargo run --release --example load_openmetrics -- FILE DATA_DIR`
//!
//! Samples without a timestamp are rejected (as promtool does). Appends are committed in
//! batches; rejected samples (out of order, duplicates) are counted and reported.

use std::collections::HashMap;
use std::process::ExitCode;

use promtui::exposition::{parse, Entry, Format};
use promtui::model::{Label, Labels};
use promtui::storage::Appender;
use promtui::tsdb::{Db, Options};

const BATCH: usize = 50_000;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 3 {
        eprintln!("usage: load_openmetrics FILE DATA_DIR");
        return ExitCode::from(2);
    }
    match run(&args[1], &args[2]) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(file: &str, dir: &str) -> Result<(), String> {
    let body = std::fs::read(file).map_err(|e| format!("reading {file}: {e}"))?;
    let db = Db::open(
        dir,
        Options {
            // Imported history is older than any retention relative to now.
            retention_time_ms: None,
            ..Options::default()
        },
    )
    .map_err(|e| e.to_string())?;
    let started = std::time::Instant::now();
    let mut cache: HashMap<&str, Labels> = HashMap::new();
    let mut app = db.appender();
    let (mut pending, mut appended, mut rejected) = (0usize, 0u64, 0u64);
    for entry in parse(&body, Format::OpenMetrics) {
        let entry = entry.map_err(|e| format!("{file}: {e}"))?;
        let Entry::Sample(s) = entry else { continue };
        let t = s
            .timestamp
            .ok_or_else(|| format!("{file}: sample {} has no timestamp", s.series_text))?;
        let labels = cache.entry(s.series_text).or_insert_with(|| {
            let mut v = vec![Label::new("__name__", s.name.as_ref())];
            v.extend(
                s.labels
                    .iter()
                    .map(|(n, val)| Label::new(n.as_ref(), val.as_ref())),
            );
            Labels::new(v)
        });
        match app.append(labels, t, s.value) {
            Ok(()) => appended += 1,
            Err(_) => rejected += 1,
        }
        pending += 1;
        if pending >= BATCH {
            app.commit().map_err(|e| e.to_string())?;
            app = db.appender();
            pending = 0;
        }
    }
    app.commit().map_err(|e| e.to_string())?;
    db.close().map_err(|e| e.to_string())?;
    eprintln!(
        "loaded {appended} samples of {} series in {:.1?} ({rejected} rejected)",
        cache.len(),
        started.elapsed()
    );
    Ok(())
}
