//! The experimental `anchored` and `smoothed` range modifiers (upstream
//! `promql-extended-range-selectors`).
//!
//! `anchored` reads one lookback delta further back so the window starts at the sample in
//! force at its left edge; `smoothed` also reads a lookback delta past the right edge and
//! linearly interpolates both edges. Mirrors upstream `promql/engine.go` (`extendFloats`)
//! and `promql/functions.go` (`extendedRate`, `pickOrInterpolateLeft/Right`,
//! `interpolate`, `correctForCounterResets`): rate/increase/delta never extrapolate, they
//! take the difference of the two edge values plus counter-reset corrections.

use super::super::value::FPoint;

/// Linear interpolation at `t`; a counter that reset between the points is modelled as
/// rising from 0.
pub fn interpolate(p1: FPoint, p2: FPoint, t: i64, is_counter: bool) -> f64 {
    let mut y1 = p1.f;
    let y2 = p2.f;
    if is_counter && y2 < y1 {
        y1 = 0.0;
    }
    y1 + (y2 - y1) * (t - p1.t) as f64 / (p2.t - p1.t) as f64
}

fn pick_left(f: &[FPoint], first: usize, start: i64, smoothed: bool, is_counter: bool) -> f64 {
    if smoothed && f[first].t < start && first + 1 < f.len() {
        return interpolate(f[first], f[first + 1], start, is_counter);
    }
    f[first].f
}

fn pick_right(f: &[FPoint], last: usize, end: i64, smoothed: bool, is_counter: bool) -> f64 {
    if smoothed && last > 0 && f[last].t > end {
        return interpolate(f[last - 1], f[last], end, is_counter);
    }
    f[last].f
}

/// Index of the sample in force at `start` (or 0) and of the last sample to use.
fn bounds(f: &[FPoint], start: i64, end: i64, smoothed: bool) -> (usize, usize) {
    let mut last = f.len() - 1;
    let first = f[..last]
        .partition_point(|p| p.t <= start)
        .saturating_sub(1);
    if smoothed {
        last = f[..last].partition_point(|p| p.t < end);
    }
    (first, last)
}

/// Sum of the values lost to counter resets strictly inside the edges.
fn reset_correction(left: f64, right: f64, inner: &[FPoint]) -> f64 {
    let mut correction = 0.0;
    let mut prev = left;
    for p in inner {
        if p.f < prev {
            correction += prev;
        }
        prev = p.f;
    }
    if right < prev {
        correction += prev;
    }
    correction
}

/// rate/increase/delta over an anchored or smoothed window `[start, end]`; `f` holds the
/// raw samples of the widened window.
pub fn extended_rate(
    f: &[FPoint],
    start: i64,
    end: i64,
    range_ms: i64,
    smoothed: bool,
    is_counter: bool,
    is_rate: bool,
) -> Option<f64> {
    if f.is_empty() {
        return None;
    }
    let (mut first, last) = bounds(f, start, end, smoothed);
    if f[last].t <= start || (smoothed && f[first].t > end) {
        return None;
    }
    let left = pick_left(f, first, start, smoothed, is_counter);
    let right = pick_right(f, last, end, smoothed, is_counter);
    let mut result = right - left;
    if is_counter {
        if f[first].t <= start {
            first += 1;
        }
        let stop = if f[last].t >= end { last } else { last + 1 };
        let inner = if first < stop {
            &f[first..stop]
        } else {
            &[][..]
        };
        result += reset_correction(left, right, inner);
    }
    if is_rate {
        result /= range_ms as f64 / 1000.0;
    }
    Some(result)
}

/// The window `[mint, maxt]` with synthetic edge points (the sample in force, or the
/// interpolated value when smoothed) replacing the samples outside it.
pub fn extend_floats(f: &[FPoint], mint: i64, maxt: i64, smoothed: bool) -> Vec<FPoint> {
    if f.is_empty() {
        return Vec::new();
    }
    let (mut first, last) = bounds(f, mint, maxt, smoothed);
    if f[last].t <= mint {
        return Vec::new();
    }
    let left = pick_left(f, first, mint, smoothed, false);
    let right = pick_right(f, last, maxt, smoothed, false);
    if f[first].t <= mint {
        first += 1;
    }
    let stop = if f[last].t >= maxt { last } else { last + 1 };
    let mut out = Vec::with_capacity(stop.saturating_sub(first) + 2);
    out.push(FPoint { t: mint, f: left });
    if first < stop {
        out.extend_from_slice(&f[first..stop]);
    }
    out.push(FPoint { t: maxt, f: right });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pts(v: &[(i64, f64)]) -> Vec<FPoint> {
        v.iter().map(|&(t, f)| FPoint { t, f }).collect()
    }

    #[test]
    fn smoothed_increase_across_resets() {
        // 9 8 5 4 at 1m steps; window [15s, 135s]: both edges interpolated on post-reset
        // ramps (2 and 1), plus resets of 8 and 5 inside: 1 - 2 + 13.
        let f = pts(&[(0, 9.0), (60_000, 8.0), (120_000, 5.0), (180_000, 4.0)]);
        assert_eq!(
            extended_rate(&f, 15_000, 135_000, 120_000, true, true, false),
            Some(12.0)
        );
        // Rate across a single reset: 100 then 10 at 15s, window [2s, 12s].
        let f = pts(&[(0, 100.0), (15_000, 10.0)]);
        let r = extended_rate(&f, 2_000, 12_000, 10_000, true, true, true).unwrap_or(0.0);
        assert!((r - 2.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn anchored_window_uses_sample_in_force() {
        let f = pts(&[(15_000, 2.0), (30_000, 3.0), (75_000, 9.0)]);
        assert_eq!(
            extended_rate(&f, 20_000, 80_000, 60_000, false, true, false),
            Some(7.0)
        );
        let e = extend_floats(&f, 20_000, 80_000, false);
        assert_eq!(
            e,
            pts(&[(20_000, 2.0), (30_000, 3.0), (75_000, 9.0), (80_000, 9.0)])
        );
        assert!(extend_floats(&[], 0, 1, false).is_empty());
        // Nothing after the window start: empty.
        assert!(extend_floats(&pts(&[(0, 1.0)]), 10, 20, false).is_empty());
    }
}
