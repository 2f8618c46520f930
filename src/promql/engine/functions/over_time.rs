//! The `<aggregation>_over_time` family: avg, sum, count, min, max, last, first, present,
//! stddev, stdvar, quantile, mad, and the experimental ts_of_min/max/first/last.
//!
//! Mirrors upstream `promql/functions.go` (`funcAvgOverTime`, `funcSumOverTime`, ...,
//! `funcMadOverTime`, `funcTsOfMaxOverTime`): Kahan-compensated sums, the incremental mean
//! fallback on overflow, Kahan-compensated Welford variance.
//! <https://prometheus.io/docs/prometheus/latest/querying/functions/#aggregation_over_time>

use super::super::super::ast::Expr;
use super::super::eval::{Evaluator, Val};
use super::super::quantile::{kahan_sum_inc, quantile};
use super::super::value::FPoint;
use super::super::EvalError;
use super::over_windows;

/// A window function; `q` is the per-step parameter of `quantile_over_time`.
type WindowFn = fn(&[FPoint], f64) -> f64;

/// The window function for `name`.
pub fn lookup(name: &str) -> Option<WindowFn> {
    Some(match name {
        "avg_over_time" => |w, _| avg_over_time(w),
        "sum_over_time" => |w, _| sum_over_time(w),
        "count_over_time" => |w, _| w.len() as f64,
        "min_over_time" => |w, _| min_max(w, false).1,
        "max_over_time" => |w, _| min_max(w, true).1,
        "ts_of_min_over_time" => |w, _| min_max(w, false).0 as f64 / 1000.0,
        "ts_of_max_over_time" => |w, _| min_max(w, true).0 as f64 / 1000.0,
        "last_over_time" => |w, _| w[w.len() - 1].f,
        "first_over_time" => |w, _| w[0].f,
        "ts_of_last_over_time" => |w, _| w[w.len() - 1].t as f64 / 1000.0,
        "ts_of_first_over_time" => |w, _| w[0].t as f64 / 1000.0,
        "present_over_time" => |_, _| 1.0,
        "stddev_over_time" => |w, _| variance_over_time(w).sqrt(),
        "stdvar_over_time" => |w, _| variance_over_time(w),
        "quantile_over_time" => |w, q| {
            let mut v: Vec<f64> = w.iter().map(|p| p.f).collect();
            quantile(q, &mut v)
        },
        "mad_over_time" => |w, _| mad_over_time(w),
        _ => return None,
    })
}

/// Kahan-compensated sum of the window.
pub fn sum_over_time(w: &[FPoint]) -> f64 {
    let (mut s, mut c) = (0.0, 0.0);
    for p in w {
        (s, c) = kahan_sum_inc(p.f, s, c);
    }
    if s.is_infinite() {
        return s;
    }
    s + c
}

/// Mean of the window; falls back to an incremental mean when the sum would overflow.
pub fn avg_over_time(w: &[FPoint]) -> f64 {
    super::super::aggregations::avg_of(w.iter().map(|p| p.f))
}

/// (timestamp, value) of the minimum or maximum; NaN only when every value is NaN. Ties
/// keep the latest sample for the timestamp variants, like upstream.
fn min_max(w: &[FPoint], max: bool) -> (i64, f64) {
    let mut best = w[0];
    for p in &w[1..] {
        let better = if max { p.f >= best.f } else { p.f <= best.f };
        if better || best.f.is_nan() {
            best = *p;
        }
    }
    (best.t, best.f)
}

/// The minimum or maximum of consecutive windows that only move forward, as [`min_max`]
/// gives it (the latest of equal extremes; NaN only when every value is NaN), in
/// amortised constant time per window: a monotonic deque of the indices of the non-NaN
/// points that can still become the window's extreme. Windows of a range query overlap
/// almost entirely (a 30 m window stepped by 15 s), so a rescan of every window did the
/// same comparisons again at each step.
struct SlidingExtreme {
    max: bool,
    /// Indices into the series' points, values strictly decreasing (max) or increasing
    /// (min) from front to back.
    idx: std::collections::VecDeque<usize>,
    /// The next index to push; windows before it were already seen.
    next: usize,
}

impl SlidingExtreme {
    fn new(max: bool) -> Self {
        SlidingExtreme {
            max,
            idx: std::collections::VecDeque::new(),
            next: 0,
        }
    }

    /// The extreme of `pts[lo..hi]`; `lo` and `hi` never decrease from call to call.
    fn window(&mut self, pts: &[FPoint], lo: usize, hi: usize) -> f64 {
        if hi < self.next {
            // Not a forward move: start over (cannot happen for range-query steps).
            self.idx.clear();
            self.next = lo;
        }
        for j in self.next.max(lo)..hi {
            let v = pts[j].f;
            if v.is_nan() {
                continue;
            }
            while let Some(&b) = self.idx.back() {
                let bv = pts[b].f;
                let replaced = if self.max { bv <= v } else { bv >= v };
                if !replaced {
                    break;
                }
                self.idx.pop_back();
            }
            self.idx.push_back(j);
        }
        self.next = hi;
        while self.idx.front().is_some_and(|&f| f < lo) {
            self.idx.pop_front();
        }
        match self.idx.front() {
            Some(&f) => pts[f].f,
            None => pts[hi - 1].f,
        }
    }
}

/// Population variance with Kahan-compensated Welford updates (upstream
/// `varianceOverTime`).
fn variance_over_time(w: &[FPoint]) -> f64 {
    let (mut count, mut mean, mut c_mean, mut aux, mut c_aux) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for p in w {
        count += 1.0;
        let delta = p.f - (mean + c_mean);
        (mean, c_mean) = kahan_sum_inc(delta / count, mean, c_mean);
        (aux, c_aux) = kahan_sum_inc(delta * (p.f - (mean + c_mean)), aux, c_aux);
    }
    (aux + c_aux) / count
}

/// Median absolute deviation from the median.
pub fn mad_over_time(w: &[FPoint]) -> f64 {
    if w.iter().any(|p| p.f.is_nan()) {
        return f64::NAN;
    }
    let mut vals: Vec<f64> = w.iter().map(|p| p.f).collect();
    let median = quantile(0.5, &mut vals);
    let mut dev: Vec<f64> = vals.iter().map(|v| (v - median).abs()).collect();
    quantile(0.5, &mut dev)
}

/// Evaluates one of the `_over_time` functions.
pub(crate) fn eval(
    ev: &mut Evaluator<'_>,
    name: &str,
    args: &[Expr],
    f: WindowFn,
) -> Result<Val, EvalError> {
    let (q, arg) = if name == "quantile_over_time" {
        (Some(ev.eval_scalar(&args[0])?), &args[1])
    } else {
        (None, &args[0])
    };
    if let Some(q) = &q {
        if let Some(bad) = q.iter().find(|q| q.is_nan() || !(0.0..=1.0).contains(*q)) {
            // Only warn when some step actually has data (checked below).
            let bad = *bad;
            let mut ra = ev.eval_range_arg(arg)?;
            let m = over_windows(ev, &mut ra, false, |w, i, _, _| {
                (!w.is_empty()).then(|| f(w, q.get(i).copied().unwrap_or(f64::NAN)))
            })?;
            if !m.is_empty() {
                ev.annos.warn(format!(
                    "quantile value should be between 0 and 1, got {}",
                    crate::model::value::format_go_float(bad)
                ));
            }
            return Ok(Val::Vector(m));
        }
    }
    let keep_name = matches!(name, "last_over_time" | "first_over_time");
    let mut ra = ev.eval_range_arg(arg)?;
    if let Some(max) = match name {
        "max_over_time" => Some(true),
        "min_over_time" => Some(false),
        _ => None,
    } {
        let m = super::over_windows_with(
            ev,
            &mut ra,
            false,
            |_| SlidingExtreme::new(max),
            |ext, s, w, lo, _, _| (!w.is_empty()).then(|| ext.window(&s.floats, lo, lo + w.len())),
        )?;
        return Ok(Val::Vector(m));
    }
    let m = over_windows(ev, &mut ra, keep_name, |w, i, _, _| {
        if w.is_empty() {
            return None;
        }
        let qv = q.as_ref().and_then(|q| q.get(i).copied()).unwrap_or(0.0);
        Some(f(w, qv))
    })?;
    Ok(Val::Vector(m))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pts(v: &[f64]) -> Vec<FPoint> {
        v.iter()
            .enumerate()
            .map(|(i, &f)| FPoint {
                t: i as i64 * 1000,
                f,
            })
            .collect()
    }

    #[test]
    fn basic_window_functions() {
        let w = pts(&[1.0, 5.0, 3.0]);
        assert_eq!(sum_over_time(&w), 9.0);
        assert_eq!(avg_over_time(&w), 3.0);
        assert_eq!(min_max(&w, true), (1000, 5.0));
        assert_eq!(min_max(&w, false), (0, 1.0));
        assert_eq!(mad_over_time(&w), 2.0);
        assert!((variance_over_time(&w) - 8.0 / 3.0).abs() < 1e-12);
    }

    proptest::proptest! {
        #[test]
        fn sliding_extremes_equal_a_rescan_of_each_window(
            vals in proptest::collection::vec(
                proptest::prop_oneof![
                    Just(f64::NAN), Just(0.0), Just(-0.0), Just(1.0), Just(-1.0),
                    -3.0f64..3.0,
                ],
                1..60,
            ),
            moves in proptest::collection::vec((0usize..4, 0usize..4), 1..40),
        ) {
            let w = pts(&vals);
            for max in [true, false] {
                let mut ext = SlidingExtreme::new(max);
                let (mut lo, mut hi) = (0usize, 1usize);
                for &(dl, dh) in &moves {
                    hi = (hi + dh).min(w.len());
                    lo = (lo + dl).min(hi - 1);
                    let want = min_max(&w[lo..hi], max).1;
                    let got = ext.window(&w, lo, hi);
                    proptest::prop_assert_eq!(got.to_bits(), want.to_bits(), "window {}..{}", lo, hi);
                }
            }
        }
    }

    use proptest::prelude::Just;

    #[test]
    fn nan_is_ignored_by_min_max_unless_alone() {
        let w = pts(&[f64::NAN, 2.0, f64::NAN]);
        assert_eq!(min_max(&w, true).1, 2.0);
        let w = pts(&[f64::NAN]);
        assert!(min_max(&w, false).1.is_nan());
    }

    /// Naive two-pass variance and plain sums versus the streaming versions over random
    /// windows (fixed seed).
    #[test]
    fn differential_against_naive() {
        let mut seed: u64 = 42;
        let mut next = || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) as f64 / (1u64 << 31) as f64
        };
        for _ in 0..300 {
            let n = (next() * 20.0) as usize + 1;
            let v: Vec<f64> = (0..n).map(|_| next() * 1000.0 - 500.0).collect();
            let w = pts(&v);
            let sum: f64 = v.iter().sum();
            let mean = sum / n as f64;
            let var = v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n as f64;
            assert!((sum_over_time(&w) - sum).abs() < 1e-9);
            assert!((avg_over_time(&w) - mean).abs() < 1e-9);
            assert!((variance_over_time(&w) - var).abs() < 1e-6);
            let max = v.iter().cloned().fold(f64::MIN, f64::max);
            assert_eq!(min_max(&w, true).1, max);
            assert_eq!(
                w.len() as f64,
                lookup("count_over_time").map_or(0.0, |f| f(&w, 0.0))
            );
        }
    }
}
