//! Crash safety: a real child process appends batches through `Db` and reports each batch
//! number on stdout only after `commit` returned; the parent SIGKILLs it at random moments
//! (seeded), restarts a writer on the same directory each time, and finally checks that
//! every acknowledged sample is present exactly once with the right value.
//!
//! This file has its own `main` (harness = false): the same binary runs as the writer child
//! when `PROMTUI_CRASH_WRITER_DIR` is set.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use promtui::model::{Labels, Matcher, STALE_NAN};
use promtui::storage::Appender;
use promtui::tsdb::{Db, Options};

const SERIES: usize = 40;
const ITERATIONS: usize = 40;
const SEED: u64 = 0x5eed_c0de_2026;
const DIR_ENV: &str = "PROMTUI_CRASH_WRITER_DIR";
const START_ENV: &str = "PROMTUI_CRASH_WRITER_START";

fn labels(s: usize) -> Labels {
    Labels::from_pairs(&[("__name__", "crash_test"), ("series", &s.to_string())])
}

/// The value series `s` gets in batch `b`; some are staleness markers.
fn value(b: i64, s: usize) -> f64 {
    if (b as usize + s).is_multiple_of(17) {
        STALE_NAN
    } else {
        (b * 1000 + s as i64) as f64 * 0.5
    }
}

fn options() -> Options {
    Options {
        // Small segments so that kills also land around segment cuts.
        wal_segment_size: 64 * 1024,
        // 100 batches a block: the head is cut into blocks (and blocks compacted) in the
        // background while the writer runs, so kills also hit block writes.
        block_duration_ms: 100_000,
        retention_time_ms: None,
        ..Options::default()
    }
}

/// Child: appends batches `start..` forever, one commit each, acknowledging after commit.
fn writer(dir: &Path, start: i64) {
    let db = match Db::open(dir, options()) {
        Ok(db) => db,
        Err(e) => {
            eprintln!("writer: open failed: {e}");
            std::process::exit(2);
        }
    };
    let stdout = std::io::stdout();
    {
        let st = db.stats();
        let mut out = stdout.lock();
        let _ = writeln!(
            out,
            "OPEN {} {} {}",
            st.wal_truncations, st.wal_corruptions, st.replay_unknown_refs
        );
        let _ = out.flush();
    }
    for b in start..start + 1_000_000 {
        let mut app = db.appender();
        for s in 0..SERIES {
            if let Err(e) = app.append(&labels(s), b * 1000, value(b, s)) {
                eprintln!("writer: append batch {b} series {s}: {e}");
                std::process::exit(3);
            }
        }
        if let Err(e) = app.commit() {
            eprintln!("writer: commit batch {b}: {e}");
            std::process::exit(4);
        }
        let mut out = stdout.lock();
        let _ = writeln!(out, "ACK {b}");
        let _ = out.flush();
        drop(out);
        // Now and then checkpoint the WAL explicitly as well (keeps everything the head
        // holds), so kills also land during checkpoints.
        if b % 60 == 0 {
            if let Err(e) = db.truncate_head(0) {
                eprintln!("writer: checkpoint: {e}");
                std::process::exit(5);
            }
        }
    }
}

/// Kills (SIGKILL) and reaps the writer if the test panics while it runs.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// xorshift64*: a tiny seeded generator, enough to spread kill times.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo)
    }
}

fn crash_test() {
    let dir = tempfile::tempdir().expect("temp dir");
    let exe = std::env::current_exe().expect("own executable");
    // PROMTUI_CRASH_SEED overrides the seed for soak runs.
    let seed = std::env::var("PROMTUI_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(SEED);
    let mut rng = Rng(seed | 1);
    let mut last_ack: i64 = 0;
    let started = Instant::now();
    let mut kills_before_first_ack = 0;
    // (writer opens, torn tails truncated, corruptions repaired, unknown refs) seen by writers.
    let opens = Arc::new(std::sync::Mutex::new((0u64, 0u64, 0u64, 0u64)));
    for iter in 0..ITERATIONS {
        let mut child = KillOnDrop(
            Command::new(&exe)
                .env(DIR_ENV, dir.path())
                .env(START_ENV, (last_ack + 1).to_string())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .expect("spawn writer"),
        );
        let acked = Arc::new(AtomicI64::new(last_ack));
        let opens = opens.clone();
        let stdout = child.0.stdout.take().expect("piped stdout");
        let reader = {
            let acked = acked.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    if let Some(rest) = line.strip_prefix("OPEN ") {
                        let n: Vec<u64> = rest
                            .split(' ')
                            .map(|x| x.parse().expect("number"))
                            .collect();
                        let mut o = opens.lock().expect("opens");
                        o.0 += 1;
                        o.1 += n[0];
                        o.2 += n[1];
                        o.3 += n[2];
                    }
                    if let Some(n) = line.strip_prefix("ACK ") {
                        let n: i64 = n.trim().parse().expect("batch number");
                        acked.fetch_max(n, Ordering::SeqCst);
                    }
                }
            })
        };
        // Mostly kill while writing; sometimes very early (during open/replay).
        let delay = if rng.range(0, 5) == 0 {
            rng.range(0, 15)
        } else {
            rng.range(30, 300)
        };
        std::thread::sleep(Duration::from_millis(delay));
        let exited_early = child.0.try_wait().expect("try_wait").is_some();
        assert!(
            !exited_early,
            "writer exited on its own in iteration {iter}"
        );
        child.0.kill().expect("SIGKILL writer");
        child.0.wait().expect("reap writer");
        reader.join().expect("reader thread");
        let now = acked.load(Ordering::SeqCst);
        if now == last_ack {
            kills_before_first_ack += 1;
        }
        last_ack = now;
    }
    assert!(
        last_ack > 50,
        "writers acknowledged only {last_ack} batches"
    );
    let (n_opens, truncations, corruptions, unknown) = *opens.lock().expect("opens");
    assert_eq!(
        corruptions, 0,
        "a writer found WAL corruption after a SIGKILL"
    );
    assert_eq!(unknown, 0, "samples referencing unlogged series");

    let db = Db::open(dir.path(), options()).expect("final open");
    let stats = db.stats();
    assert_eq!(
        stats.wal_corruptions, 0,
        "no corruption after crashes: {stats:?}"
    );
    assert!(stats.blocks > 0, "the head was cut into blocks: {stats:?}");
    let series = db
        .querier(i64::MIN, i64::MAX)
        .select(&[Matcher::equal("__name__", "crash_test")])
        .expect("select");
    assert_eq!(series.len(), SERIES);
    for mut s in series {
        let idx: usize = s
            .labels
            .get("series")
            .expect("label")
            .parse()
            .expect("index");
        let mut expect_b = 1i64;
        while let Some(x) = s.samples.next() {
            assert_eq!(
                x.t,
                expect_b * 1000,
                "series {idx}: gap or duplicate at {}",
                x.t
            );
            assert_eq!(
                x.v.to_bits(),
                value(expect_b, idx).to_bits(),
                "series {idx}: wrong value at batch {expect_b}"
            );
            expect_b += 1;
        }
        let last = expect_b - 1;
        assert!(
            last >= last_ack,
            "series {idx}: acknowledged batch {last_ack} lost (have up to {last})"
        );
        assert!(
            last <= last_ack + 1,
            "series {idx}: batches beyond what was written"
        );
    }
    println!(
        "crash test: {ITERATIONS} SIGKILLs ({kills_before_first_ack} before any new ack), \
         {last_ack} batches x {SERIES} series acknowledged, all present exactly once; \
         {n_opens} writer opens, {truncations} torn tails truncated, checkpoint present: {}, \
         {} blocks, {:.1}s",
        promtui::tsdb::wal::last_checkpoint(&dir.path().join("promtui-wal"))
            .expect("list checkpoints")
            .is_some(),
        stats.blocks,
        started.elapsed().as_secs_f64()
    );
}

fn main() {
    if let Ok(dir) = std::env::var(DIR_ENV) {
        let start: i64 = std::env::var(START_ENV)
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(1);
        writer(Path::new(&dir), start);
        return;
    }
    crash_test();
    println!("test tsdb_crash ... ok");
}
