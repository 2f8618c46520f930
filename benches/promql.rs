//! Criterion benchmarks of the PromQL front end: parsing typical queries and printing
//! them back. Names follow `promql/<operation>/<query kind>`.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use promtui::promql::{parse_expr, prettify};

/// Queries of the shapes dashboards and rules use.
const QUERIES: &[(&str, &str)] = &[
    ("selector", r#"http_requests_total{job="api",code=~"5.."}"#),
    ("rate", r#"rate(http_requests_total{job="api"}[5m])"#),
    (
        "sum_by_rate",
        r#"sum by (job, instance) (rate(http_requests_total{code=~"5.."}[5m]))"#,
    ),
    (
        "ratio",
        r#"sum by (job) (rate(http_requests_total{code=~"5.."}[5m])) / on (job) group_left sum by (job) (rate(http_requests_total[5m])) > bool 0.05"#,
    ),
    (
        "histogram_quantile",
        r#"histogram_quantile(0.99, sum by (le, handler) (rate(http_request_duration_seconds_bucket{handler!="/metrics"}[10m])))"#,
    ),
    (
        "subquery",
        r#"max_over_time(deriv(rate(node_cpu_seconds_total{mode="idle"}[1m])[30m:1m] offset 1h)[1d:5m] @ end())"#,
    ),
    (
        "alert_rule",
        r#"(node_filesystem_avail_bytes{fstype!~"tmpfs|ramfs"} / node_filesystem_size_bytes * 100 < 10 and ON (instance, device, mountpoint) node_filesystem_readonly == 0) unless on(instance) up == 0"#,
    ),
];

fn bench_parse(c: &mut Criterion) {
    let mut group = c.benchmark_group("promql/parse");
    for (name, q) in QUERIES {
        group.throughput(Throughput::Bytes(q.len() as u64));
        group.bench_function(*name, |b| b.iter(|| parse_expr(black_box(q))));
    }
    group.finish();
    let mut all = c.benchmark_group("promql/parse");
    all.throughput(Throughput::Elements(QUERIES.len() as u64));
    all.bench_function("all_typical", |b| {
        b.iter(|| {
            for (_, q) in QUERIES {
                let _ = black_box(parse_expr(black_box(q)));
            }
        })
    });
    all.finish();
}

fn bench_print(c: &mut Criterion) {
    let exprs: Vec<_> = QUERIES
        .iter()
        .filter_map(|(_, q)| parse_expr(q).ok())
        .collect();
    assert_eq!(
        exprs.len(),
        QUERIES.len(),
        "every benchmark query must parse"
    );
    let mut group = c.benchmark_group("promql/print");
    group.throughput(Throughput::Elements(exprs.len() as u64));
    group.bench_function("all_typical/string", |b| {
        b.iter(|| {
            for e in &exprs {
                black_box(e.to_string());
            }
        })
    });
    group.bench_function("all_typical/prettify", |b| {
        b.iter(|| {
            for e in &exprs {
                black_box(prettify(e));
            }
        })
    });
    group.finish();
}

criterion_group!(benches, bench_parse, bench_print);
criterion_main!(benches);
