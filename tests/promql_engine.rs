//! End-to-end tests of the PromQL engine API over the in-memory test storage: query
//! shapes, errors and their kinds, cancellation, limits, and a seeded differential test
//! checking that range queries agree with instant queries at every step.

use std::time::Duration;

use promtui::model::{Labels, Sample, STALE_NAN};
use promtui::promql::engine::{CancelToken, Engine, EngineOptions, ErrorKind, EvalError, Value};
use promtui::promql::promqltest::MemStorage;

fn labels(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs)
}

/// `up{job="a"}`, `up{job="b"}` every 15s for 10m; `req_total{job,instance}` counters.
fn storage() -> MemStorage {
    let mut st = MemStorage::new();
    st.add(
        labels(&[("__name__", "up"), ("job", "a")]),
        (0..=40).map(|i| Sample::new(i * 15_000, 1.0)),
    );
    st.add(
        labels(&[("__name__", "up"), ("job", "b")]),
        (0..=40).map(|i| Sample::new(i * 15_000, if i % 2 == 0 { 0.0 } else { 1.0 })),
    );
    for (inst, step) in [("x", 1.0), ("y", 2.0), ("z", 3.0)] {
        st.add(
            labels(&[("__name__", "req_total"), ("job", "a"), ("instance", inst)]),
            (0..=40).map(|i| Sample::new(i * 15_000, i as f64 * step)),
        );
    }
    st
}

fn instant(q: &str, t: i64) -> Result<Value, EvalError> {
    Engine::default()
        .instant_query(&storage(), q, t)
        .map(|r| r.value)
}

fn vector_values(v: &Value) -> Vec<(String, f64)> {
    match v {
        Value::Vector(v) => v.iter().map(|s| (s.metric.to_string(), s.f)).collect(),
        other => panic!("expected vector, got {other}"),
    }
}

#[test]
fn instant_selector_and_aggregation() {
    let v = instant("sum by (job) (up)", 600_000).expect("query");
    let mut got = vector_values(&v);
    got.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        got,
        vec![("{job=\"a\"}".into(), 1.0), ("{job=\"b\"}".into(), 0.0)]
    );
    let s = instant("scalar(sum(up))", 600_000).expect("query");
    assert_eq!(s, Value::Scalar { t: 600_000, v: 1.0 });
}

#[test]
fn rate_of_linear_counters() {
    let v = instant("rate(req_total[5m])", 600_000).expect("query");
    let mut got = vector_values(&v);
    got.sort_by(|a, b| a.0.cmp(&b.0));
    // 1, 2 and 3 per 15s.
    let want = [1.0 / 15.0, 2.0 / 15.0, 3.0 / 15.0];
    for ((_, g), w) in got.iter().zip(want) {
        assert!((g - w).abs() < 1e-12, "{g} vs {w}");
    }
    assert!(!got[0].0.contains("req_total"), "rate drops the name");
}

#[test]
fn range_query_is_a_sorted_matrix() {
    let r = Engine::default()
        .range_query(&storage(), "up", 0, 60_000, 30_000)
        .expect("query");
    match r.value {
        Value::Matrix(m) => {
            assert_eq!(m.len(), 2);
            assert!(m[0].metric < m[1].metric);
            assert_eq!(m[0].floats.len(), 3);
            assert_eq!(m[0].floats[2].t, 60_000);
        }
        other => panic!("expected matrix, got {other}"),
    }
}

#[test]
fn staleness_marker_ends_a_series() {
    let mut st = MemStorage::new();
    st.add(
        labels(&[("__name__", "m")]),
        [Sample::new(0, 1.0), Sample::new(10_000, STALE_NAN)],
    );
    let e = Engine::default();
    let before = e.instant_query(&st, "m", 5_000).expect("query").value;
    assert_eq!(vector_values(&before).len(), 1);
    let after = e.instant_query(&st, "m", 20_000).expect("query").value;
    assert!(vector_values(&after).is_empty());
}

#[test]
fn errors_have_upstream_messages_and_kinds() {
    let e = instant("up + on() up", 600_000).expect_err("must fail");
    assert!(e.to_string().starts_with("found duplicate series"), "{e}");
    assert_eq!(e.kind(), ErrorKind::Execution);
    let e = instant("label_replace(up, \"x\", \"$1\", \"job\", \"(\")", 0).expect_err("bad regex");
    assert!(
        e.to_string()
            .starts_with("invalid regular expression in label_replace(): ("),
        "{e}"
    );
    let e = instant("label_replace(up, \"\", \"$1\", \"job\", \"(.*)\")", 0).expect_err("dst");
    assert_eq!(
        e.to_string(),
        "invalid destination label name in label_replace(): "
    );
    // String literals are byte strings, as upstream's: bytes that are not UTF-8 parse, and
    // only a use as a label name fails, naming the bytes as Go's %q does.
    let e = instant(r#"count_values("a\xc5z", up)"#, 0).expect_err("bytes");
    assert_eq!(e.to_string(), r#"invalid label name "a\xc5z""#);
    assert_eq!(e.kind(), ErrorKind::Execution);
    let e = instant(r#"label_join(up, ("\377"), ",", "job")"#, 0).expect_err("bytes");
    assert!(e
        .to_string()
        .starts_with("invalid destination label name in label_join(): "));
    let v = instant(r#"label_replace(up, "x", "\xff", "job", "(.*)")"#, 0).expect("value");
    let got = vector_values(&v);
    assert_eq!(got.len(), 2, "{got:?}");
    assert!(
        got.iter().all(|(l, _)| l.contains("x=\"\u{fffd}\"")),
        "{got:?}"
    );
    // A real U+FFFD is valid UTF-8, so a valid label name.
    assert!(instant(r#"count_values("\ufffd", up)"#, 0).is_ok());
    let e = instant("sum(", 0).expect_err("parse");
    assert_eq!(e.kind(), ErrorKind::BadData);
    let e = Engine::default()
        .range_query(&storage(), "up[5m]", 0, 10, 1)
        .expect_err("matrix range query");
    assert_eq!(
        e.to_string(),
        "invalid expression type \"range vector\" for range query, must be Scalar or instant Vector"
    );
    let e = Engine::default()
        .range_query(&storage(), "up", 0, 10, 0)
        .expect_err("zero step");
    assert_eq!(e.kind(), ErrorKind::BadData);
}

#[test]
fn sample_limit_timeout_and_cancellation() {
    let small = Engine::new(EngineOptions {
        max_samples: 10,
        ..EngineOptions::default()
    });
    let e = small
        .range_query(&storage(), "up", 0, 600_000, 15_000)
        .expect_err("limit");
    assert_eq!(
        e.to_string(),
        "query processing would load too many samples into memory in query execution"
    );
    // As upstream: an instant selector counts the points it returns, not the samples in
    // its lookback window; a range selector counts the samples it holds.
    let two = Engine::new(EngineOptions {
        max_samples: 2,
        ..EngineOptions::default()
    });
    assert!(two.instant_query(&storage(), "up", 600_000).is_ok());
    assert!(two.instant_query(&storage(), "req_total", 600_000).is_err());
    assert!(two
        .instant_query(&storage(), "count_over_time(up[1m])", 600_000)
        .is_err());
    let timed = Engine::new(EngineOptions {
        timeout: Duration::ZERO,
        ..EngineOptions::default()
    });
    let e = timed
        .instant_query(&storage(), "up", 0)
        .expect_err("timeout");
    assert_eq!(e.kind(), ErrorKind::Timeout);
    let token = CancelToken::new();
    token.cancel();
    let e = Engine::default()
        .instant_query_with_cancel(&storage(), "up", 0, &token)
        .expect_err("cancel");
    assert_eq!(e.kind(), ErrorKind::Canceled);
}

#[test]
fn sort_is_stable_for_equal_values_and_puts_nan_last() {
    let mut st = MemStorage::new();
    for (n, v) in [("a", 1.0), ("b", f64::NAN), ("c", 1.0), ("d", 0.5)] {
        st.add(labels(&[("__name__", "m"), ("n", n)]), [Sample::new(0, v)]);
    }
    let e = Engine::default();
    let asc = e.instant_query(&st, "sort(m)", 0).expect("sort").value;
    let names: Vec<String> = vector_values(&asc).into_iter().map(|(l, _)| l).collect();
    assert_eq!(
        names,
        vec!["m{n=\"d\"}", "m{n=\"a\"}", "m{n=\"c\"}", "m{n=\"b\"}"]
    );
    let desc = e.instant_query(&st, "sort_desc(m)", 0).expect("sort").value;
    let names: Vec<String> = vector_values(&desc).into_iter().map(|(l, _)| l).collect();
    assert_eq!(
        names,
        vec!["m{n=\"a\"}", "m{n=\"c\"}", "m{n=\"d\"}", "m{n=\"b\"}"]
    );
}

#[test]
fn stddev_with_nan_and_inf() {
    let mut st = MemStorage::new();
    for (n, v) in [("a", 1.0), ("b", 3.0)] {
        st.add(labels(&[("__name__", "ok"), ("n", n)]), [Sample::new(0, v)]);
    }
    for (n, v) in [("a", 1.0), ("b", f64::INFINITY)] {
        st.add(
            labels(&[("__name__", "with_inf"), ("n", n)]),
            [Sample::new(0, v)],
        );
    }
    for (n, v) in [("a", f64::NAN), ("b", 2.0)] {
        st.add(
            labels(&[("__name__", "with_nan"), ("n", n)]),
            [Sample::new(0, v)],
        );
    }
    let e = Engine::default();
    let get = |q: &str| match e.instant_query(&st, q, 0).expect("query").value {
        Value::Vector(v) => v[0].f,
        other => panic!("{other}"),
    };
    assert_eq!(get("stddev(ok)"), 1.0);
    assert_eq!(get("stdvar(ok)"), 1.0);
    assert!(get("stddev(with_inf)").is_nan());
    assert!(get("stddev(with_nan)").is_nan());
}

#[test]
fn histogram_quantile_over_classic_buckets() {
    let mut st = MemStorage::new();
    for (le, c) in [("0.1", 10.0), ("1", 20.0), ("+Inf", 30.0)] {
        st.add(
            labels(&[("__name__", "lat_bucket"), ("le", le)]),
            [Sample::new(0, c)],
        );
    }
    let r = Engine::default()
        .instant_query(&st, "histogram_quantile(0.5, lat_bucket)", 0)
        .expect("query");
    // Rank 15 falls half way into (0.1, 1].
    assert_eq!(vector_values(&r.value), vec![("{}".to_string(), 0.55)]);
    let r = Engine::default()
        .instant_query(&st, "histogram_quantile(2, lat_bucket)", 0)
        .expect("query");
    assert_eq!(r.warnings.len(), 1);
}

#[test]
fn subquery_steps_are_aligned_to_absolute_multiples() {
    // count_over_time over a 1m subquery with a 20s step evaluated at 65s: inner steps at
    // 20s, 40s, 60s (aligned to multiples of 20s, inside (5s, 65s]).
    let v = instant("count_over_time(vector(1)[1m:20s])", 65_000).expect("query");
    assert_eq!(vector_values(&v), vec![("{}".to_string(), 3.0)]);
    // With an offset and @, the window is pinned.
    let v = instant(
        "count_over_time(vector(1)[1m:20s] @ 100 offset 10s)",
        500_000,
    )
    .expect("q");
    assert_eq!(vector_values(&v), vec![("{}".to_string(), 3.0)]);
}

/// A range query must equal the instant queries at each of its steps (fixed-seed random
/// data with gaps, resets and staleness markers).
#[test]
fn range_query_matches_instant_queries() {
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    let mut rnd = move |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    let mut st = MemStorage::new();
    for s in 0..6 {
        let mut v = 0.0;
        let mut t = 0;
        let mut samples = Vec::new();
        while t < 1_200_000 {
            t += 5_000 + rnd(40_000) as i64;
            match rnd(20) {
                0 => samples.push(Sample::new(t, STALE_NAN)),
                1 => {
                    v = rnd(5) as f64;
                    samples.push(Sample::new(t, v));
                }
                _ => {
                    v += rnd(100) as f64 / 10.0;
                    samples.push(Sample::new(t, v));
                }
            }
        }
        st.add(
            labels(&[
                ("__name__", "c_total"),
                ("s", &s.to_string()),
                ("g", &(s % 2).to_string()),
            ]),
            samples,
        );
    }
    let e = Engine::default();
    let queries = [
        "rate(c_total[2m])",
        "increase(c_total[3m])",
        "irate(c_total[1m])",
        "sum by (g) (rate(c_total[2m]))",
        "avg_over_time(c_total[90s])",
        "max_over_time(c_total[1m]) - min_over_time(c_total[1m])",
        "quantile_over_time(0.9, c_total[2m])",
        "stddev_over_time(c_total[2m])",
        "changes(c_total[5m]) + resets(c_total[5m])",
        "c_total offset 1m",
        "max_over_time(rate(c_total[1m])[5m:30s])",
        "topk(2, c_total)",
        "c_total > on(s) group_left c_total * 0.5",
    ];
    let (start, end, step) = (300_000, 1_100_000, 40_000);
    for q in queries {
        let m = match e.range_query(&st, q, start, end, step).expect(q).value {
            Value::Matrix(m) => m,
            other => panic!("{q}: {other}"),
        };
        let mut t = start;
        while t <= end {
            let inst = e.instant_query(&st, q, t).expect(q).value;
            let Value::Vector(v) = inst else {
                panic!("{q}: not a vector")
            };
            let from_range: Vec<(Labels, f64)> = m
                .iter()
                .filter_map(|s| {
                    s.floats
                        .iter()
                        .find(|p| p.t == t)
                        .map(|p| (s.metric.clone(), p.f))
                })
                .collect();
            assert_eq!(from_range.len(), v.len(), "{q} at {t}");
            for s in &v {
                let r = from_range
                    .iter()
                    .find(|(l, _)| *l == s.metric)
                    .unwrap_or_else(|| panic!("{q} at {t}: {} missing", s.metric));
                assert!(
                    r.1 == s.f || (r.1.is_nan() && s.f.is_nan()),
                    "{q} at {t}: {} {} vs {}",
                    s.metric,
                    r.1,
                    s.f
                );
            }
            t += step;
        }
    }
}

/// Upstream (Prometheus 2.42) parses and evaluates 10,000 nested parentheses, calls or
/// chained operators; so must we, on a thread with the default 2 MiB stack (tokio workers,
/// spawned threads), where recursion per tree level would overflow without heap-grown stack.
#[test]
fn ten_thousand_levels_evaluate_on_the_default_thread_stack() {
    let handle = std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(|| {
            let n = 10_000;
            let scalar = |q: &str| match instant(q, 600_000) {
                Ok(Value::Scalar { v, .. }) => v,
                other => panic!("{}: {other:?}", &q[..30]),
            };
            assert_eq!(scalar(&format!("{}1{}", "(".repeat(n), ")".repeat(n))), 1.0);
            assert_eq!(scalar(&vec!["1"; n].join(" + ")), n as f64);
            assert_eq!(scalar(&vec!["1"; n].join(" ^ ")), 1.0);
            assert_eq!(scalar(&format!("{}1", "-".repeat(n + 1))), -1.0);
            let sum = instant(&vec![r#"up{job="a"}"#; n].join(" + "), 600_000).expect("chain");
            assert_eq!(
                vector_values(&sum),
                vec![("{job=\"a\"}".to_string(), n as f64)]
            );
            let abs = format!("{}-up{{job=\"a\"}}{}", "abs(".repeat(n), ")".repeat(n));
            let v = instant(&abs, 600_000).expect("abs");
            assert_eq!(vector_values(&v), vec![("{job=\"a\"}".to_string(), 1.0)]);
        })
        .expect("spawn");
    assert!(handle.join().is_ok());
}

/// A range function reads its selector's series in batches of about
/// `range_batch_samples` samples: results, annotations and queryable-sample counts are the
/// same whatever the batch, the samples held at once drop to about one batch, and the
/// sample limit applies to what is held, as upstream (which holds one series at a time),
/// not to everything the query reads.
#[test]
fn range_functions_read_their_series_in_batches() {
    let mut st = MemStorage::new();
    for i in 0..200 {
        let inst = format!("host-{i:03}");
        st.add(
            labels(&[("__name__", "req_total"), ("instance", &inst)]),
            (0..=240).map(|t| Sample::new(t * 15_000, (t * (i % 7 + 1)) as f64)),
        );
        st.add(
            labels(&[("__name__", "temperature"), ("instance", &inst)]),
            (0..=240).map(|t| Sample::new(t * 15_000, ((t + i) % 13) as f64)),
        );
    }
    let queries = [
        "rate(req_total[5m])",
        "sum by (instance) (increase(req_total[10m]))",
        "quantile_over_time(0.9, temperature[15m])",
        "predict_linear(temperature[10m], 600)",
        "max_over_time(temperature[1h] offset 5m)",
        // Aggregations of such a function add each batch into their accumulators.
        "avg(rate(req_total[5m]))",
        "count without (instance) (changes(temperature[10m]))",
        "max by (instance) (deriv(temperature[10m])) > 0",
        "stddev(min_over_time(temperature[5m]))",
        "group by (__name__) (last_over_time(req_total[2m]))",
        // Not a counter name: the info annotation is listed once.
        "rate(temperature[5m])",
    ];
    let run = |batch: usize, max_samples: usize, q: &str| {
        Engine::new(EngineOptions {
            range_batch_samples: batch,
            max_samples,
            ..EngineOptions::default()
        })
        .range_query(&st, q, 600_000, 3_600_000, 30_000)
    };
    for q in queries {
        let whole = run(usize::MAX, 50_000_000, q).unwrap();
        for batch in [1, 241, 5_000] {
            let got = run(batch, 50_000_000, q).unwrap();
            assert_eq!(got.value, whole.value, "{q} in batches of {batch}");
            assert_eq!(
                (&got.warnings, &got.infos),
                (&whole.warnings, &whole.infos),
                "{q}"
            );
            assert_eq!(
                got.stats.total_queryable_samples, whole.stats.total_queryable_samples,
                "{q}"
            );
            assert!(
                got.stats.peak_samples < whole.stats.peak_samples,
                "{q} in batches of {batch}: peak {} vs {}",
                got.stats.peak_samples,
                whole.stats.peak_samples
            );
        }
    }
    // Instant selectors decode their series in batches too, keeping a point per step.
    for q in [
        "temperature",
        "timestamp(req_total)",
        "temperature offset 3m > 5",
        "req_total @ 1800",
    ] {
        let whole = run(usize::MAX, 50_000_000, q).unwrap();
        for batch in [1, 500] {
            let got = run(batch, 50_000_000, q).unwrap();
            assert_eq!(got.value, whole.value, "{q} in batches of {batch}");
            assert_eq!(got.stats, whole.stats, "{q}");
        }
    }
    // 200 series x 221 samples read and 200 x 101 points out: over a 30,000-sample limit
    // when the input is held whole, within it a few series at a time.
    let q = "rate(req_total[5m])";
    assert_eq!(
        run(usize::MAX, 30_000, q).unwrap_err().kind(),
        ErrorKind::Execution
    );
    if let Err(e) = run(2_000, 30_000, q) {
        panic!("{e}");
    }
}
