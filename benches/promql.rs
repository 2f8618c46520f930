//! Criterion benchmarks of the PromQL front end: parsing typical queries and printing
//! them back, and label matchers (building one from a regex, matching label values).
//! Names follow `promql/<operation>/<query kind>`.

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use promtui::model::{regex_cache, MatchOp, Matcher};
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

/// `host-0001:9100|...|host-NNNN:9100`: what Grafana's "All" on a multi-value variable sends.
fn host_alternation(n: usize) -> String {
    (1..=n)
        .map(|i| format!("host-{i:04}:9100"))
        .collect::<Vec<_>>()
        .join("|")
}

/// Instance label values of a 30,000-target fleet plus as many that match nothing.
fn instance_values() -> Vec<String> {
    (1..=30_000)
        .flat_map(|i| [format!("host-{i:04}:9100"), format!("db-{i:04}:9187")])
        .collect()
}

fn bench_matcher(c: &mut Criterion) {
    let mut group = c.benchmark_group("promql/matcher_compile");
    group.sample_size(20);
    for n in [10, 4_000, 30_000] {
        let pat = host_alternation(n);
        group.throughput(Throughput::Bytes(pat.len() as u64));
        group.bench_with_input(BenchmarkId::new("host_set", n), &pat, |b, pat| {
            b.iter(|| Matcher::new(MatchOp::RegexMatch, "instance", pat.as_str()).map(black_box))
        });
    }
    // Not literals: the regex engine is built (bypassing the cache).
    let non_literal: String = (1..=4_000)
        .map(|i| format!("host-{i:04}:9[0-9]+"))
        .collect::<Vec<_>>()
        .join("|");
    group.bench_function("host_regex/4000", |b| {
        b.iter(|| regex_cache::compile_anchored(&non_literal).map(black_box))
    });
    group.finish();

    let values = instance_values();
    let mut group = c.benchmark_group("promql/matcher_match");
    group.throughput(Throughput::Elements(values.len() as u64));
    let matchers = [
        ("host_set/30000", host_alternation(30_000)),
        ("host_set/10", host_alternation(10)),
        ("prefix_regex", "host-.*".to_string()),
        ("class_regex", "host-0[0-9]+:9100".to_string()),
    ];
    for (name, pat) in matchers {
        let m = Matcher::new(MatchOp::RegexMatch, "instance", pat.as_str()).expect("valid");
        group.bench_function(name, |b| {
            b.iter(|| values.iter().filter(|v| m.matches(v)).count())
        });
    }
    group.finish();
}

criterion_group!(benches, bench_parse, bench_print, bench_matcher);
criterion_main!(benches);
