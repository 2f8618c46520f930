//! rate, increase, delta (extrapolated over the window) and irate, idelta (last two
//! samples).
//!
//! Mirrors upstream `promql/functions.go` `extrapolatedRate` and `instantValue`, including
//! the extrapolation rules: extrapolate to a window boundary when the first/last sample is
//! within 110% of the average sample interval of it, otherwise by half an interval; never
//! extrapolate a counter below zero.
//! <https://prometheus.io/docs/prometheus/latest/querying/functions/#rate>

use super::super::super::ast::Expr;
use super::super::eval::{Evaluator, Val};
use super::super::value::{FPoint, Series};
use super::super::EvalError;
use super::{over_windows, over_windows_par};

/// The extrapolated change over a window `(range_start, range_end]` (upstream
/// `extrapolatedRate`). `None` with fewer than two samples.
fn extrapolated_rate(
    samples: &[FPoint],
    range_start: i64,
    range_end: i64,
    range_ms: i64,
    is_counter: bool,
    is_rate: bool,
) -> Option<f64> {
    if samples.len() < 2 {
        return None;
    }
    let first = samples[0];
    let last = samples[samples.len() - 1];
    let mut result = last.f - first.f;
    if is_counter {
        result = add_resets(result, samples);
    }
    Some(extrapolate(
        samples,
        result,
        range_start,
        range_end,
        range_ms,
        is_counter,
        is_rate,
    ))
}

/// `result` plus the value before every counter reset in `samples`, added one by one in
/// upstream's order (so rounding is the same).
fn add_resets(mut result: f64, samples: &[FPoint]) -> f64 {
    let mut last_value = 0.0;
    for s in samples {
        if s.f < last_value {
            result += last_value;
        }
        last_value = s.f;
    }
    result
}

/// [`extrapolated_rate`] for a counter window known to hold no reset after its first
/// point (from [`reset_prefix`]), skipping the scan for resets.
fn extrapolated_rate_no_resets(
    samples: &[FPoint],
    range_start: i64,
    range_end: i64,
    range_ms: i64,
    is_rate: bool,
) -> Option<f64> {
    if samples.len() < 2 {
        return None;
    }
    let first = samples[0];
    let mut result = samples[samples.len() - 1].f - first.f;
    if first.f < 0.0 {
        // Upstream's loop compares the first point with 0 and adds 0.0 (which turns a -0
        // result into +0).
        result += 0.0;
    }
    Some(extrapolate(
        samples,
        result,
        range_start,
        range_end,
        range_ms,
        true,
        is_rate,
    ))
}

/// The counter resets of a series: the positions `j` with `f[j] < f[j - 1]`, usually
/// none, so finding them costs one pass and no allocation for most series.
struct Resets(Vec<u32>);

impl Resets {
    fn of(pts: &[FPoint]) -> Self {
        let mut out = Vec::new();
        for j in 1..pts.len() {
            if pts[j].f < pts[j - 1].f {
                out.push(j as u32);
            }
        }
        Resets(out)
    }

    /// Whether the window `pts[lo..hi]` is free of resets after its first point.
    fn none_in(&self, lo: usize, hi: usize) -> bool {
        let i = self.0.partition_point(|&r| (r as usize) <= lo);
        self.0.get(i).is_none_or(|&r| r as usize >= hi)
    }
}

/// The extrapolation of upstream `extrapolatedRate` applied to `result`.
fn extrapolate(
    samples: &[FPoint],
    result: f64,
    range_start: i64,
    range_end: i64,
    range_ms: i64,
    is_counter: bool,
    is_rate: bool,
) -> f64 {
    let first = samples[0];
    let last = samples[samples.len() - 1];
    let mut duration_to_start = (first.t - range_start) as f64 / 1000.0;
    let mut duration_to_end = (range_end - last.t) as f64 / 1000.0;
    let sampled_interval = (last.t - first.t) as f64 / 1000.0;
    let average_between = sampled_interval / (samples.len() - 1) as f64;
    let threshold = average_between * 1.1;
    if duration_to_start >= threshold {
        duration_to_start = average_between / 2.0;
    }
    if is_counter {
        let mut duration_to_zero = duration_to_start;
        if result > 0.0 && first.f >= 0.0 {
            duration_to_zero = sampled_interval * (first.f / result);
        }
        if duration_to_zero < duration_to_start {
            duration_to_start = duration_to_zero;
        }
    }
    if duration_to_end >= threshold {
        duration_to_end = average_between / 2.0;
    }
    let mut factor = (sampled_interval + duration_to_start + duration_to_end) / sampled_interval;
    if is_rate {
        factor /= range_ms as f64 / 1000.0;
    }
    result * factor
}

/// The per-second rate (irate) or difference (idelta) of the last two samples (upstream
/// `instantValue`).
fn instant_value(samples: &[FPoint], is_rate: bool) -> Option<f64> {
    if samples.len() < 2 {
        return None;
    }
    let a = samples[samples.len() - 2];
    let b = samples[samples.len() - 1];
    let mut v = if is_rate && b.f < a.f { b.f } else { b.f - a.f };
    let interval = b.t - a.t;
    if interval == 0 {
        return None;
    }
    if is_rate {
        v /= interval as f64 / 1000.0;
    }
    Some(v)
}

/// True for names that look like counters (`_total`, `_sum`, `_count`, `_bucket`).
fn counter_like(name: &str) -> bool {
    ["_total", "_sum", "_count", "_bucket"]
        .iter()
        .any(|s| name.ends_with(s))
}

/// rate, increase, delta.
pub(crate) fn eval_extrapolated(
    ev: &mut Evaluator<'_>,
    name: &str,
    arg: &Expr,
) -> Result<Val, EvalError> {
    let mut ra = ev.eval_range_arg(arg)?;
    let is_counter = name != "delta";
    let is_rate = name == "rate";
    let mut suspicious: Vec<String> = Vec::new();
    if is_counter {
        // Checked per series, not per window: a name is suspicious when any of its windows
        // has data, and the selected points are exactly those some window covers.
        for s in &ra.series {
            if s.floats.is_empty() {
                continue;
            }
            if let Some(n) = s.metric.metric_name() {
                if !counter_like(n) && !suspicious.iter().any(|x| x == n) {
                    suspicious.push(n.to_string());
                }
            }
        }
    }
    let (range, offset, at) = (ra.range, ra.offset, ra.at);
    let (extended, smoothed) = (ra.anchored || ra.smoothed, ra.smoothed);
    let prefix = is_counter && !extended;
    let init = |s: &Series| {
        if prefix {
            Resets::of(&s.floats)
        } else {
            Resets(Vec::new())
        }
    };
    let m = over_windows_par(ev, &mut ra, false, init, |resets, _, w, lo, _, ts| {
        let end = at.unwrap_or(ts) - offset;
        if prefix && w.len() >= 2 && resets.none_in(lo, lo + w.len()) {
            return extrapolated_rate_no_resets(w, end - range, end, range, is_rate);
        }
        if extended {
            return super::extended::extended_rate(
                w,
                end - range,
                end,
                range,
                smoothed,
                is_counter,
                is_rate,
            );
        }
        extrapolated_rate(w, end - range, end, range, is_counter, is_rate)
    })?;
    for n in suspicious {
        ev.annos.info(format!(
            "metric might not be a counter, name does not end in _total/_sum/_count/_bucket: {n:?}"
        ));
    }
    Ok(Val::Vector(m))
}

/// irate, idelta.
pub(crate) fn eval_instant(
    ev: &mut Evaluator<'_>,
    name: &str,
    arg: &Expr,
) -> Result<Val, EvalError> {
    let mut ra = ev.eval_range_arg(arg)?;
    let is_rate = name == "irate";
    let m = over_windows(ev, &mut ra, false, |w, _, _, _| instant_value(w, is_rate))?;
    Ok(Val::Vector(m))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pts(v: &[(i64, f64)]) -> Vec<FPoint> {
        v.iter().map(|&(t, f)| FPoint { t, f }).collect()
    }

    #[test]
    fn reset_free_windows_skip_the_scan_with_identical_results() {
        // A counter with resets, negative values, -0 and NaN along the way.
        let mut s = Vec::new();
        let mut v = -3.0;
        for i in 0..400i64 {
            v = match i % 37 {
                0 => 0.5,
                5 => -0.0,
                11 => f64::NAN,
                _ if v.is_nan() => 1.0,
                _ => v + (i % 7) as f64 * 0.3,
            };
            s.push(FPoint {
                t: i * 15_000 + (i % 3),
                f: v,
            });
        }
        let resets = Resets::of(&s);
        let mut fast = 0;
        for lo in 0..s.len() {
            for len in 2..40.min(s.len() - lo) {
                let w = &s[lo..lo + len];
                let scan = !(lo + 1..lo + len).any(|j| s[j].f < s[j - 1].f);
                assert_eq!(resets.none_in(lo, lo + len), scan, "window {lo}+{len}");
                if !scan {
                    continue;
                }
                fast += 1;
                let (a, b) = (w[0].t - 7_000, w[len - 1].t + 9_000);
                for is_rate in [false, true] {
                    let want = extrapolated_rate(w, a, b, b - a, true, is_rate);
                    let got = extrapolated_rate_no_resets(w, a, b, b - a, is_rate);
                    assert_eq!(
                        got.map(f64::to_bits),
                        want.map(f64::to_bits),
                        "window {lo}+{len}"
                    );
                }
            }
        }
        assert!(fast > 1000);
    }

    #[test]
    fn rate_extrapolates_to_window_edges() {
        // Samples every 60s from 60s to 300s in the window (0, 300s]: 4 intervals, 240s,
        // first sample 60s after start (< 1.1*60) so extrapolate fully: factor 300/240.
        let s = pts(&[
            (60_000, 1.0),
            (120_000, 2.0),
            (180_000, 3.0),
            (240_000, 4.0),
            (300_000, 5.0),
        ]);
        let inc = extrapolated_rate(&s, 0, 300_000, 300_000, true, false);
        // Counter zero point: 240s * 1/4 = 60s, equal to durationToStart.
        assert_eq!(inc, Some(5.0));
        let rate = extrapolated_rate(&s, 0, 300_000, 300_000, true, true);
        assert_eq!(rate, Some(5.0 / 300.0));
    }

    #[test]
    fn rate_does_not_extrapolate_below_zero() {
        // Starts at 0 far inside the window: the zero point is the first sample itself.
        let s = pts(&[(100_000, 0.0), (160_000, 6.0)]);
        let inc = extrapolated_rate(&s, 0, 160_000, 160_000, true, false);
        assert_eq!(inc, Some(6.0));
    }

    #[test]
    fn rate_handles_counter_resets_and_gaps() {
        // Reset from 10 to 2: the counter restarted and rose to 2, so the raw increase is
        // 2 over 60s; window (0,120s] with samples at 30s and 90s: both ends 30s away,
        // < 1.1*60, so extrapolate fully: 2*120/60.
        let s = pts(&[(30_000, 10.0), (90_000, 2.0)]);
        // durationToZero = 60 * 10/2 = 300 > 30, so the start extrapolation stays.
        assert_eq!(
            extrapolated_rate(&s, 0, 120_000, 120_000, true, false),
            Some(4.0)
        );
        // delta is not a counter: -8 * 2.
        assert_eq!(
            extrapolated_rate(&s, 0, 120_000, 120_000, false, false),
            Some(-16.0)
        );
        // Too far from the edges (more than 1.1 average intervals): half an interval.
        let s = pts(&[(200_000, 1.0), (260_000, 2.0)]);
        // avg 60s; to start 200s -> 30s; to end 340s -> 30s; factor 120/60.
        assert_eq!(
            extrapolated_rate(&s, 0, 600_000, 600_000, false, false),
            Some(2.0)
        );
        assert_eq!(extrapolated_rate(&s[..1], 0, 1, 1, true, true), None);
    }

    #[test]
    fn irate_and_idelta() {
        let s = pts(&[(0, 5.0), (10_000, 7.0), (20_000, 3.0)]);
        assert_eq!(instant_value(&s, true), Some(0.3));
        assert_eq!(instant_value(&s, false), Some(-4.0));
        assert_eq!(instant_value(&s[..1], true), None);
    }

    /// Naive oracle: the same formula written directly from the documentation, checked
    /// against the implementation over pseudo-random windows (fixed seed).
    #[test]
    fn differential_against_naive_increase() {
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..500 {
            let n = (next() % 8 + 2) as usize;
            let mut t = (next() % 50_000) as i64 + 1;
            let mut v = (next() % 100) as f64;
            let mut s = Vec::new();
            for _ in 0..n {
                s.push(FPoint { t, f: v });
                t += (next() % 30_000) as i64 + 1;
                if next() % 5 == 0 {
                    v = (next() % 10) as f64;
                } else {
                    v += (next() % 20) as f64;
                }
            }
            let end = s[n - 1].t + (next() % 40_000) as i64;
            let range = end - (next() % 10_000) as i64 + 1;
            let start = end - range;
            if s[0].t <= start {
                continue;
            }
            // Naive: sum of positive steps with resets, then the documented extrapolation.
            let mut raw = 0.0;
            for w in s.windows(2) {
                raw += if w[1].f < w[0].f {
                    w[1].f
                } else {
                    w[1].f - w[0].f
                };
            }
            let first = s[0];
            let last = s[n - 1];
            let sampled = (last.t - first.t) as f64 / 1000.0;
            let avg = sampled / (n - 1) as f64;
            let mut to_start = (first.t - start) as f64 / 1000.0;
            let mut to_end = (end - last.t) as f64 / 1000.0;
            if to_start >= avg * 1.1 {
                to_start = avg / 2.0;
            }
            if raw > 0.0 && first.f >= 0.0 {
                to_start = to_start.min(sampled * first.f / raw);
            }
            if to_end >= avg * 1.1 {
                to_end = avg / 2.0;
            }
            let want = raw * (sampled + to_start + to_end) / sampled;
            let got = extrapolated_rate(&s, start, end, range, true, false).unwrap_or(f64::NAN);
            assert!(
                (got - want).abs() <= 1e-9 * want.abs().max(1.0),
                "{s:?} {start} {end}: {got} vs {want}"
            );
        }
    }
}
