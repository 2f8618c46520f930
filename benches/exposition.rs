//! Criterion benchmarks of the exposition parsers (the scrape hot path).
//!
//! `exposition/<mode>/<file>`: `stream` walks entries and touches each sample's
//! `series_text` and value (what a scrape loop with a warm cache does); `stream_labels`
//! also decodes every label pair (a cache miss); `families` builds owned families;
//! `write/text/<file>` writes the parsed families back with `write_text`, the writer
//! `/metrics`, `/federate` and the Pushgateway share (`MetricsWriter`).
//! Throughput is reported in bytes (MB/s) and, for `samples/...`, in samples per second.
//!
//! Run: `cargo bench --bench exposition`. Test data: `$PROMTUI_SHARED/testdata/exposition`
//! (default `../shared` or `../../shared` next to the crate).

use std::hint::black_box;
use std::path::PathBuf;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use promtui::exposition::{parse, parse_families, write_text, Entry, Format};

fn shared_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("PROMTUI_SHARED") {
        return PathBuf::from(dir);
    }
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    [manifest.join("../shared"), manifest.join("../../shared")]
        .into_iter()
        .find(|c| c.join("testdata").is_dir())
        .expect("shared test data not found: set PROMTUI_SHARED")
}

fn stream(body: &[u8], format: Format) -> usize {
    let mut acc = 0usize;
    for e in parse(body, format) {
        if let Entry::Sample(s) = e.expect("benchmark input parses") {
            acc += s.series_text.len() + (s.value.to_bits() as usize & 1);
        }
    }
    acc
}

fn stream_labels(body: &[u8], format: Format) -> usize {
    let mut acc = 0usize;
    for e in parse(body, format) {
        if let Entry::Sample(s) = e.expect("benchmark input parses") {
            for (n, v) in s.labels.iter() {
                acc += n.len() + v.len();
            }
            acc += s.name.len() + (s.value.to_bits() as usize & 1);
        }
    }
    acc
}

fn bench(c: &mut Criterion) {
    let dir = shared_dir().join("testdata/exposition");
    let files = [
        ("alltypes.237mfs.prom.txt", Format::PromText),
        ("alltypes.5mfs.om.txt", Format::OpenMetrics),
        ("1histogram.om.txt", Format::OpenMetrics),
    ];
    for (name, format) in files {
        let body = std::fs::read(dir.join(name)).expect("read test data");
        let samples = parse(&body, format)
            .filter(|e| matches!(e, Ok(Entry::Sample(_))))
            .count();
        let short = name.trim_end_matches(".txt");

        let mut g = c.benchmark_group("exposition");
        g.warm_up_time(Duration::from_secs(1));
        g.measurement_time(Duration::from_secs(3));
        g.throughput(Throughput::Bytes(body.len() as u64));
        g.bench_function(format!("stream/{short}"), |b| {
            b.iter(|| stream(black_box(&body), format))
        });
        g.bench_function(format!("stream_labels/{short}"), |b| {
            b.iter(|| stream_labels(black_box(&body), format))
        });
        g.bench_function(format!("families/{short}"), |b| {
            b.iter(|| parse_families(black_box(&body), format).map(|f| f.len()))
        });
        g.finish();

        let families = parse_families(&body, format).expect("benchmark input parses");
        let mut g = c.benchmark_group("exposition/write");
        g.warm_up_time(Duration::from_secs(1));
        g.measurement_time(Duration::from_secs(3));
        g.throughput(Throughput::Elements(samples as u64));
        g.bench_function(format!("text/{short}"), |b| {
            b.iter(|| write_text(black_box(&families)).len())
        });
        g.finish();

        let mut g = c.benchmark_group("exposition/samples");
        g.warm_up_time(Duration::from_secs(1));
        g.measurement_time(Duration::from_secs(3));
        g.throughput(Throughput::Elements(samples as u64));
        g.bench_function(format!("stream/{short}"), |b| {
            b.iter(|| stream(black_box(&body), format))
        });
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
