//! PromQL engine benchmarks over a 10k-series in-memory dataset (the promqltest storage):
//! instant queries and 1h range queries at a 15s step for the shapes dashboards run most.
//!
//! Names follow `promql/<query kind>/<query>`. Run with
//! `cargo bench --bench promql_engine`.

use criterion::{criterion_group, criterion_main, Criterion};

use promtui::model::{Labels, Sample};
use promtui::promql::engine::Engine;
use promtui::promql::promqltest::MemStorage;

const SCRAPE_MS: i64 = 15_000;
/// 1h10m of data: the 1h range plus 5m rate windows plus lookback.
const SAMPLES: i64 = 280;
const JOBS: usize = 10;

/// 10k counter series (10 jobs × 1000 instances), 10k bucket series (10 jobs × 100
/// instances × 10 `le`), 10k info series for joins.
fn dataset() -> MemStorage {
    let mut st = MemStorage::new();
    let mut seed: u64 = 7;
    let mut rnd = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % 100) as f64
    };
    for j in 0..JOBS {
        let job = format!("job{j}");
        for i in 0..1000 {
            let inst = format!("instance{i}");
            let mut v = 0.0;
            let samples: Vec<Sample> = (0..SAMPLES)
                .map(|k| {
                    v += rnd();
                    Sample::new(k * SCRAPE_MS, v)
                })
                .collect();
            st.add(
                Labels::from_pairs(&[
                    ("__name__", "http_requests_total"),
                    ("job", job.as_str()),
                    ("instance", inst.as_str()),
                ]),
                samples,
            );
            st.add(
                Labels::from_pairs(&[
                    ("__name__", "instance_info"),
                    ("job", job.as_str()),
                    ("instance", inst.as_str()),
                    ("version", if i % 2 == 0 { "1.0" } else { "2.0" }),
                ]),
                (0..SAMPLES).map(|k| Sample::new(k * SCRAPE_MS, 1.0)),
            );
        }
        for i in 0..100 {
            let inst = format!("instance{i}");
            let mut counts = [0.0f64; 10];
            let mut series: Vec<Vec<Sample>> = vec![Vec::new(); 10];
            for k in 0..SAMPLES {
                let mut cum = 0.0;
                for (b, c) in counts.iter_mut().enumerate() {
                    cum += rnd();
                    *c += cum;
                    series[b].push(Sample::new(k * SCRAPE_MS, *c));
                }
            }
            for (b, samples) in series.into_iter().enumerate() {
                let le = if b == 9 {
                    "+Inf".to_string()
                } else {
                    format!("{}", 0.005 * 2f64.powi(b as i32))
                };
                st.add(
                    Labels::from_pairs(&[
                        ("__name__", "request_duration_seconds_bucket"),
                        ("job", job.as_str()),
                        ("instance", inst.as_str()),
                        ("le", le.as_str()),
                    ]),
                    samples,
                );
            }
        }
    }
    st
}

const QUERIES: &[(&str, &str)] = &[
    ("sum_rate", "sum by (job) (rate(http_requests_total[5m]))"),
    (
        "histogram_quantile",
        "histogram_quantile(0.9, sum by (job, le) (rate(request_duration_seconds_bucket[5m])))",
    ),
    ("topk", "topk(5, rate(http_requests_total[5m]))"),
    // 1000 groups of 10: many small groups, as `by (instance)` on a fleet gives.
    (
        "avg_by_instance",
        "avg by (instance) (rate(http_requests_total[5m]))",
    ),
    ("count_by", "count by (job) (http_requests_total)"),
    (
        "group_left",
        "rate(http_requests_total[5m]) * on (job, instance) group_left (version) instance_info",
    ),
];

fn bench(c: &mut Criterion) {
    let st = dataset();
    let engine = Engine::default();
    let end = (SAMPLES - 1) * SCRAPE_MS;
    let start = end - 3_600_000;
    let mut g = c.benchmark_group("promql");
    g.sample_size(10);
    for (name, q) in QUERIES {
        g.bench_function(format!("instant/{name}/10k"), |b| {
            b.iter(|| engine.instant_query(&st, *q, end).map(|r| r.value))
        });
        g.bench_function(format!("range_1h_15s/{name}/10k"), |b| {
            b.iter(|| {
                engine
                    .range_query(&st, *q, start, end, 15_000)
                    .map(|r| r.value)
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
