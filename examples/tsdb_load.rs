//! Load generator for measuring the TSDB: head memory per series, WAL replay time and peak
//! RSS. Run in release mode:
//!
//! ```text
//! cargo run --release --example tsdb_load -- mem 1000000 10        # RSS delta per series
//! cargo run --release --example tsdb_load -- gen /tmp/d 1000000 10 # write a WAL
//! /usr/bin/time -v target/release/examples/tsdb_load replay /tmp/d # replay it
//! ```
//!
//! Series have 5 labels: `__name__="load_metric_<i%200>"`, `job="node"`,
//! `instance="10.<a>.<b>.<c>:9100"` (one per 100 series), `cpu="<i%8>"`, `id="<i>"`.
//! Samples are 15 s apart, values a slowly changing counter.

use std::time::Instant;

use promtui::model::Labels;
use promtui::storage::Appender;
use promtui::tsdb::{Db, Options};

fn labels(i: usize) -> Labels {
    let host = i / 100;
    Labels::from_pairs(&[
        ("__name__", format!("load_metric_{}", i % 200).as_str()),
        ("job", "node"),
        (
            "instance",
            format!(
                "10.{}.{}.{}:9100",
                host >> 16,
                (host >> 8) & 255,
                host & 255
            )
            .as_str(),
        ),
        ("cpu", (i % 8).to_string().as_str()),
        ("id", i.to_string().as_str()),
    ])
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// Appends `samples` rounds over `series` series, 10 000 series per commit. Label sets are
/// built per batch and dropped, so the process holds no copy of them (the RSS delta is the
/// database's); the time includes building them.
fn fill(db: &Db, series: usize, samples: usize) -> std::time::Duration {
    let start = Instant::now();
    for k in 0..samples {
        let t = 1_700_000_000_000 + k as i64 * 15_000;
        for first in (0..series).step_by(10_000) {
            let batch: Vec<Labels> = (first..(first + 10_000).min(series)).map(labels).collect();
            let mut app = db.appender();
            for (j, l) in batch.iter().enumerate() {
                if let Err(e) = app.append(l, t, (k * 7 + j % 13) as f64) {
                    eprintln!("append: {e}");
                    std::process::exit(1);
                }
            }
            if let Err(e) = app.commit() {
                eprintln!("commit: {e}");
                std::process::exit(1);
            }
        }
    }
    start.elapsed()
}

fn arg<T: std::str::FromStr>(args: &[String], i: usize, default: T) -> T {
    args.get(i).and_then(|s| s.parse().ok()).unwrap_or(default)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    // PROMTUI_REPLAY_WORKERS sets Options::replay_workers (unset = automatic, 0 = replay
    // on one thread).
    let opts = Options {
        replay_workers: std::env::var("PROMTUI_REPLAY_WORKERS")
            .ok()
            .and_then(|s| s.parse().ok()),
        ..Options::default()
    };
    match args.get(1).map(String::as_str) {
        Some("mem") => {
            let series: usize = arg(&args, 2, 1_000_000);
            let samples: usize = arg(&args, 3, 10);
            let dir = tempfile::tempdir().expect("temp dir");
            let db = Db::open(dir.path(), opts).expect("open");
            let before = rss_kib();
            let took = fill(&db, series, samples);
            let after = rss_kib();
            let st = db.stats();
            println!(
                "series={series} samples/series={samples} append={:.2}s ({:.0} samples/s) \
                 rss_before={before}KiB rss_after={after}KiB delta/series={:.0}B \
                 head_chunks={} index_heap={}B",
                took.as_secs_f64(),
                (series * samples) as f64 / took.as_secs_f64(),
                (after - before) as f64 * 1024.0 / series as f64,
                st.head_chunks,
                db.head().index_heap_bytes(),
            );
        }
        Some("gen") => {
            let dir = args.get(2).expect("gen DIR [SERIES] [SAMPLES]");
            let series: usize = arg(&args, 3, 1_000_000);
            let samples: usize = arg(&args, 4, 10);
            let db = Db::open(dir, opts).expect("open");
            let took = fill(&db, series, samples);
            let st = db.stats();
            db.close().expect("close");
            println!(
                "wrote {series} series x {samples} samples in {:.2}s; WAL {} bytes in {} segments",
                took.as_secs_f64(),
                st.wal_bytes,
                st.wal_segments
            );
        }
        Some("replay") => {
            let dir = args.get(2).expect("replay DIR");
            let start = Instant::now();
            let db = Db::open(dir, opts).expect("open");
            let took = start.elapsed();
            let st = db.stats();
            println!(
                "replayed {} records: {} series, {} samples in {:.2}s (open total {:.2}s), rss={}KiB",
                st.replay_records,
                st.head_series,
                st.samples_appended,
                st.replay_duration.as_secs_f64(),
                took.as_secs_f64(),
                rss_kib()
            );
            // Start-up is what is measured: skip freeing a million series one by one (the
            // WAL needs no flush, nothing was appended), as a server would keep running.
            std::process::exit(0);
        }
        _ => {
            eprintln!(
                "usage: tsdb_load mem [SERIES] [SAMPLES] | gen DIR [SERIES] [SAMPLES] | replay DIR"
            );
            std::process::exit(2);
        }
    }
}
