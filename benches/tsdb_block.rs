//! Benchmarks of persisted blocks: chunk encoding/decoding, block write and query, and a
//! size/throughput measurement of importing the generated dataset.
//!
//! `cargo bench --bench tsdb_block` runs the criterion benchmarks
//! (`tsdb_block/<operation>/<size>`).
//!
//! `PROMTUI_BENCH_IMPORT=/tmp/ds.om cargo bench --bench tsdb_block` instead imports the
//! OpenMetrics file written by `bench/gen_dataset.py` and prints the import time (the
//! file is parsed into memory first, untimed; the timed import still clones the labels
//! of every sample as a parser would), bytes on disk per sample and a breakdown by chunk
//! encoding. `PROMTUI_BENCH_OUT=DIR` keeps the blocks in DIR. With
//! `PROMTUI_BENCH_STREAM=1` it parses and imports in one streaming pass instead (for
//! peak-memory comparisons with promtool under `/usr/bin/time -v`).

use std::io::BufRead;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use criterion::{black_box, Criterion};
use promtui::model::{Label, Labels, MatchOp, Matcher, Sample};
use promtui::storage::Querier;
use promtui::tsdb::block::{write_block, Block, BlockWriter};
use promtui::tsdb::chunkenc::{decimal, Encoding, XorChunk};
use promtui::tsdb::chunks::ChunkMeta;
use promtui::tsdb::import::import_samples;

/// TEST/BENCH-ONLY reader for the exact output of bench/gen_dataset.py: one sample per
/// line as `name{k="v",...} value seconds[.mmm]`, comment lines skipped. It does not
/// handle escapes, exemplars or anything else of OpenMetrics; the real parser lives in
/// src/exposition.
struct GenReader<R> {
    lines: std::io::Lines<R>,
    last_series: String,
    last_labels: Labels,
    line_no: u64,
}

impl<R: BufRead> Iterator for GenReader<R> {
    type Item = Result<(Labels, i64, f64), String>;
    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let line = match self.lines.next()? {
                Ok(l) => l,
                Err(e) => return Some(Err(e.to_string())),
            };
            self.line_no += 1;
            if line.starts_with('#') || line.is_empty() {
                continue;
            }
            return Some(self.parse(&line));
        }
    }
}

impl<R> GenReader<R> {
    fn parse(&mut self, line: &str) -> Result<(Labels, i64, f64), String> {
        let bad = |what: &str| format!("line {}: {what}: {line}", self.line_no);
        let (series, rest) = match line.find('}') {
            Some(i) => (&line[..=i], &line[i + 1..]),
            None => line.split_at(line.find(' ').ok_or_else(|| bad("no value"))?),
        };
        let mut parts = rest.split_ascii_whitespace();
        let v = parts.next().ok_or_else(|| bad("no value"))?;
        let v: f64 = match v {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            "NaN" => f64::NAN,
            x => x.parse().map_err(|_| bad("bad value"))?,
        };
        let ts = parts.next().ok_or_else(|| bad("no timestamp"))?;
        let (s, ms) = match ts.split_once('.') {
            Some((s, f)) => (s, f.parse::<i64>().map_err(|_| bad("bad timestamp"))?),
            None => (ts, 0),
        };
        let t = s.parse::<i64>().map_err(|_| bad("bad timestamp"))? * 1000 + ms;
        if series != self.last_series {
            let (name, inner) = match series.find('{') {
                Some(i) => (&series[..i], &series[i + 1..series.len() - 1]),
                None => (series, ""),
            };
            let mut ls = vec![Label::new("__name__", name)];
            for kv in inner.split(',').filter(|s| !s.is_empty()) {
                let (k, v) = kv.split_once('=').ok_or_else(|| bad("bad label"))?;
                ls.push(Label::new(k, v.trim_matches('"')));
            }
            self.last_labels = Labels::new(ls);
            self.last_series = series.to_string();
        }
        Ok((self.last_labels.clone(), t, v))
    }
}

fn reader(path: &str) -> GenReader<std::io::BufReader<std::fs::File>> {
    let f = std::fs::File::open(path).expect("open dataset");
    GenReader {
        lines: std::io::BufReader::with_capacity(1 << 20, f).lines(),
        last_series: String::new(),
        last_labels: Labels::empty(),
        line_no: 0,
    }
}

/// CPU seconds (user + system) used by this process so far, from /proc (Linux); the
/// machine is shared, so CPU time is a steadier measure than wall time.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<f64> = after
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0.0))
        .collect();
    // Fields 14 and 15 of the file (utime, stime) are at 11 and 12 after the comm field.
    (f.get(11).copied().unwrap_or(0.0) + f.get(12).copied().unwrap_or(0.0)) / 100.0
}

fn dir_size(p: &Path) -> u64 {
    let mut total = 0;
    for e in std::fs::read_dir(p).expect("read dir").flatten() {
        let m = e.metadata().expect("stat");
        total += if m.is_dir() {
            dir_size(&e.path()) + m.len()
        } else {
            m.len()
        };
    }
    total
}

/// Parse and import in one streaming pass (for peak-memory measurements with
/// `/usr/bin/time -v`, comparable to promtool's single pass).
fn measure_streaming_import(file: &str) {
    let keep = std::env::var("PROMTUI_BENCH_OUT").ok();
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = keep.as_deref().map_or(tmp.path(), Path::new);
    let (t, c) = (Instant::now(), cpu_seconds());
    let report = import_samples(out, 2 * 3600 * 1000, reader(file), |_| {}).expect("import");
    println!(
        "streaming parse + import: {} samples, {} blocks, {:.3} s wall, {:.2} s CPU, {} bytes on disk",
        report.samples_imported,
        report.blocks.len(),
        t.elapsed().as_secs_f64(),
        cpu_seconds() - c,
        dir_size(out)
    );
}

fn measure_import(file: &str) {
    // Parse everything first (timed separately) into a series table plus compact
    // (series, t, v) triples, so the import is timed without the parser.
    let t = Instant::now();
    let mut table: Vec<Labels> = Vec::new();
    let mut ids: std::collections::HashMap<Labels, u32> = std::collections::HashMap::new();
    let mut rows: Vec<(u32, i64, f64)> = Vec::new();
    for s in reader(file) {
        let (l, ts, v) = s.expect("parse");
        let id = match ids.get(&l) {
            Some(&id) => id,
            None => {
                table.push(l.clone());
                ids.insert(l, table.len() as u32 - 1);
                table.len() as u32 - 1
            }
        };
        rows.push((id, ts, v));
    }
    let parse = t.elapsed();
    let n = rows.len() as u64;
    let keep = std::env::var("PROMTUI_BENCH_OUT").ok();
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = keep.as_deref().map_or(tmp.path(), Path::new);
    // The timed part hands the importer owned labels per sample, as a parser would; the
    // cost of making and dropping those is measured on its own too.
    let input = || {
        rows.iter()
            .map(|&(id, ts, v)| Ok::<_, String>((table[id as usize].clone(), ts, v)))
    };
    let (t, c) = (Instant::now(), cpu_seconds());
    input().for_each(|x| drop(black_box(x)));
    let (feed, feed_cpu) = (t.elapsed(), cpu_seconds() - c);
    let (t, c) = (Instant::now(), cpu_seconds());
    let report = import_samples(out, 2 * 3600 * 1000, input(), |_| {}).expect("import");
    let (import, import_cpu) = (t.elapsed(), cpu_seconds() - c);
    let du = dir_size(out);
    println!("samples read:        {n}");
    println!("samples imported:    {}", report.samples_imported);
    println!("series:              {}", report.series);
    println!("blocks:              {}", report.blocks.len());
    println!("parse (not timed in import): {:.3} s", parse.as_secs_f64());
    println!(
        "import:              {:.3} s wall, {:.2} s CPU (of which making/dropping the input labels: {:.3} s wall, {:.2} s CPU)",
        import.as_secs_f64(),
        import_cpu,
        feed.as_secs_f64(),
        feed_cpu
    );
    println!(
        "import throughput:   {:.1} M samples/s",
        n as f64 / import.as_secs_f64() / 1e6
    );
    println!("bytes on disk:       {du} (du -sb equivalent of the output dir)");
    println!("bytes per sample:    {:.4}", du as f64 / n as f64);
    let mut by_enc = [(0u64, 0u64, 0u64); 3];
    let mut index = 0;
    for m in &report.blocks {
        let b = Block::open(&out.join(m.ulid.to_string())).expect("open");
        index += std::fs::metadata(b.dir().join("index"))
            .map(|m| m.len())
            .unwrap_or(0);
        for item in b.series() {
            let (_, chunks) = item.expect("read series");
            for c in chunks {
                let e = &mut by_enc[c.encoding as usize];
                e.0 += 1;
                e.1 += c.data.len() as u64;
                e.2 += c.iter().expect("iter").count() as u64;
            }
        }
    }
    println!("index bytes:         {index}");
    for (name, i) in [("xor", 1), ("decimal-delta", 2)] {
        let (c, b, s) = by_enc[i];
        println!(
            "{name:>14}: {c} chunks, {s} samples, {b} bytes, {:.3} bytes/sample",
            b as f64 / s.max(1) as f64
        );
    }
}

fn counter_samples(n: usize) -> Vec<Sample> {
    let mut v = 1000.0;
    (0..n)
        .map(|i| {
            v += ((i * 7919) % 97) as f64;
            Sample::new(1_700_000_000_000 + i as i64 * 15_000, v)
        })
        .collect()
}

fn bench_chunks(c: &mut Criterion) {
    let s = counter_samples(480);
    c.bench_function("tsdb_block/decimal_encode/480", |b| {
        b.iter(|| decimal::encode(black_box(&s)))
    });
    let enc = decimal::encode(&s);
    c.bench_function("tsdb_block/decimal_decode/480", |b| {
        b.iter(|| decimal::decode(black_box(&enc)).map(|v| v.len()))
    });
    let mut x = XorChunk::new();
    for p in &s {
        x.append(p.t, p.v);
    }
    let xb = x.bytes().to_vec();
    c.bench_function("tsdb_block/xor_decode/480", |b| {
        b.iter(|| promtui::tsdb::chunkenc::XorIterator::new(black_box(&xb[..])).map(|i| i.count()))
    });
}

fn bench_block(c: &mut Criterion) {
    let series: Vec<(Labels, Vec<Sample>)> = (0..1000)
        .map(|i| {
            (
                Labels::from_pairs(&[
                    ("__name__", "bench_metric"),
                    ("instance", format!("host-{i:05}").as_str()),
                    ("shard", format!("{}", i % 10).as_str()),
                ]),
                counter_samples(480),
            )
        })
        .collect();
    let dir = tempfile::tempdir().expect("tempdir");
    c.bench_function("tsdb_block/write/1000x480", |b| {
        b.iter(|| {
            let mut w = BlockWriter::new(dir.path(), 0, i64::MAX).expect("writer");
            for (l, s) in &series {
                w.add_series(l, s).expect("add");
            }
            let m = w.finish().expect("finish");
            std::fs::remove_dir_all(dir.path().join(m.ulid.to_string())).expect("rm");
        })
    });
    let chunks = |s: &[Sample]| {
        let mut x = XorChunk::new();
        for p in s {
            x.append(p.t, p.v);
        }
        vec![ChunkMeta {
            min_time: s[0].t,
            max_time: s[s.len() - 1].t,
            encoding: Encoding::Xor,
            data: Arc::from(x.into_bytes()),
        }]
    };
    let m = write_block(
        dir.path(),
        0,
        i64::MAX,
        series.iter().map(|(l, s)| (l.clone(), chunks(s))),
    )
    .expect("write");
    let block = Block::open(&dir.path().join(m.ulid.to_string())).expect("open");
    let matcher = [Matcher::new(MatchOp::Equal, "shard", "3").expect("matcher")];
    c.bench_function("tsdb_block/select_decode/100x480", |b| {
        b.iter(|| {
            let q = block.querier(i64::MIN, i64::MAX).expect("querier");
            let mut n = 0;
            for mut s in q.select(&matcher).expect("select") {
                while s.samples.next().is_some() {
                    n += 1;
                }
            }
            n
        })
    });
    c.bench_function("tsdb_block/open/1000", |b| {
        b.iter(|| Block::open(block.dir()).map(|b| b.num_series()))
    });
}

fn bench_import(c: &mut Criterion) {
    let labels: Vec<Labels> = (0..1000)
        .map(|i| {
            Labels::from_pairs(&[
                ("__name__", "bench_bucket"),
                ("instance", format!("host-{}", i / 10).as_str()),
                ("le", format!("{}", i % 10).as_str()),
            ])
        })
        .collect();
    let dir = tempfile::tempdir().expect("tempdir");
    c.bench_function("tsdb_block/import/1000x480", |b| {
        b.iter(|| {
            let out = tempfile::tempdir_in(dir.path()).expect("tempdir");
            // Interleaved like histogram buckets: every series at each timestamp.
            let input = (0..480i64).flat_map(|k| {
                labels.iter().enumerate().map(move |(i, l)| {
                    Ok::<_, String>((
                        l.clone(),
                        1_700_006_400_000 + k * 15_000,
                        (k * (i as i64 % 10 + 1)) as f64,
                    ))
                })
            });
            import_samples(out.path(), 7_200_000, input, |_| {}).map(|r| r.samples_imported)
        })
    });
}

fn main() {
    if let Ok(file) = std::env::var("PROMTUI_BENCH_IMPORT") {
        if std::env::var("PROMTUI_BENCH_STREAM").is_ok() {
            measure_streaming_import(&file);
        } else {
            measure_import(&file);
        }
        return;
    }
    let mut c = Criterion::default().configure_from_args();
    bench_chunks(&mut c);
    bench_block(&mut c);
    bench_import(&mut c);
    c.final_summary();
}
