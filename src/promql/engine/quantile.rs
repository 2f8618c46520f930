//! Numeric helpers shared by functions and aggregations: Kahan-Neumaier summation,
//! `quantile` over floats, and quantiles/fractions over classic histogram buckets.
//!
//! Mirrors upstream `promql/quantile.go` (`BucketQuantile`, `BucketFraction`,
//! `coalesceBuckets`, `ensureMonotonicAndIgnoreSmallDeltas`, `quantile`) and
//! `promql/functions.go` (`kahanSumInc`), and `util/almost` (`Equal`).

/// One classic histogram bucket: upper bound (`le`) and cumulative count.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Bucket {
    /// The `le` label as a float.
    pub upper_bound: f64,
    /// Cumulative count of observations `<= upper_bound`.
    pub count: f64,
}

/// Relative tolerance under which bucket count differences are treated as float noise.
const SMALL_DELTA_TOLERANCE: f64 = 1e-12;

/// The smallest positive normal f64 (Go `minNormal`).
const MIN_NORMAL: f64 = f64::MIN_POSITIVE;

/// Upstream `almost.Equal`: NaNs are equal, otherwise relative difference below `epsilon`.
pub fn almost_equal(a: f64, b: f64, epsilon: f64) -> bool {
    if a.is_nan() && b.is_nan() {
        return true;
    }
    if a == b {
        return true;
    }
    let abs_sum = a.abs() + b.abs();
    let diff = (a - b).abs();
    if a == 0.0 || b == 0.0 || abs_sum < MIN_NORMAL {
        return diff < epsilon * MIN_NORMAL;
    }
    diff / abs_sum.min(f64::MAX) < epsilon
}

/// One step of Kahan-Neumaier summation: returns the new sum and compensation.
pub fn kahan_sum_inc(inc: f64, sum: f64, c: f64) -> (f64, f64) {
    let t = sum + inc;
    let c = if t.is_infinite() {
        0.0
    } else if sum.abs() >= inc.abs() {
        c + ((sum - t) + inc)
    } else {
        c + ((inc - t) + sum)
    };
    (t, c)
}

/// The q-quantile of `values` (sorted in place, NaNs first) with linear interpolation
/// between closest ranks, as upstream `quantile`: NaN for no values or NaN q, -Inf for
/// q < 0, +Inf for q > 1.
pub fn quantile(q: f64, values: &mut [f64]) -> f64 {
    if values.is_empty() || q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    values.sort_by(|a, b| match (a.is_nan(), b.is_nan()) {
        (true, true) => std::cmp::Ordering::Equal,
        (true, false) => std::cmp::Ordering::Less,
        (false, true) => std::cmp::Ordering::Greater,
        _ => a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal),
    });
    let n = values.len() as f64;
    let rank = q * (n - 1.0);
    let lower = rank.floor().max(0.0);
    let upper = (lower + 1.0).min(n - 1.0);
    let weight = rank - rank.floor();
    values[lower as usize] * (1.0 - weight) + values[upper as usize] * weight
}

fn sort_buckets(buckets: &mut [Bucket]) {
    buckets.sort_by(|a, b| {
        a.upper_bound
            .partial_cmp(&b.upper_bound)
            .unwrap_or(std::cmp::Ordering::Equal)
    });
}

/// Merges buckets with equal upper bounds by adding their counts.
fn coalesce(buckets: &mut Vec<Bucket>) {
    let mut out: Vec<Bucket> = Vec::with_capacity(buckets.len());
    for b in buckets.iter() {
        match out.last_mut() {
            Some(last) if last.upper_bound == b.upper_bound => last.count += b.count,
            _ => out.push(*b),
        }
    }
    *buckets = out;
}

/// Forces cumulative counts to be non-decreasing; returns (forced monotonic, fixed
/// precision).
fn ensure_monotonic(buckets: &mut [Bucket], tolerance: f64) -> (bool, bool) {
    let (mut forced, mut fixed) = (false, false);
    let Some(first) = buckets.first() else {
        return (false, false);
    };
    let mut prev = first.count;
    for b in buckets.iter_mut().skip(1) {
        let curr = b.count;
        if curr == prev {
            continue;
        }
        if almost_equal(prev, curr, tolerance) {
            b.count = prev;
            fixed = true;
            continue;
        }
        if curr < prev {
            b.count = prev;
            forced = true;
            continue;
        }
        prev = curr;
    }
    (forced, fixed)
}

/// Result of [`bucket_quantile`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BucketQuantile {
    /// The estimated quantile.
    pub value: f64,
    /// Counts had to be made monotonic (an info annotation upstream).
    pub forced_monotonic: bool,
    /// Tiny float differences were smoothed.
    pub fixed_precision: bool,
}

/// Estimates the q-quantile from classic buckets by linear interpolation within the
/// bucket holding the rank; the lowest bucket starts at 0 unless its bound is <= 0. Needs a
/// `+Inf` bucket; NaN otherwise.
pub fn bucket_quantile(q: f64, buckets: &mut Vec<Bucket>) -> BucketQuantile {
    let nan = |forced, fixed| BucketQuantile {
        value: f64::NAN,
        forced_monotonic: forced,
        fixed_precision: fixed,
    };
    let plain = |v| BucketQuantile {
        value: v,
        forced_monotonic: false,
        fixed_precision: false,
    };
    if q.is_nan() {
        return nan(false, false);
    }
    if q < 0.0 {
        return plain(f64::NEG_INFINITY);
    }
    if q > 1.0 {
        return plain(f64::INFINITY);
    }
    sort_buckets(buckets);
    match buckets.last() {
        Some(b) if b.upper_bound == f64::INFINITY => {}
        _ => return nan(false, false),
    }
    coalesce(buckets);
    let (forced, fixed) = ensure_monotonic(buckets, SMALL_DELTA_TOLERANCE);
    if buckets.len() < 2 {
        return nan(forced, fixed);
    }
    let n = buckets.len();
    let observations = buckets[n - 1].count;
    if observations == 0.0 || observations.is_nan() {
        return nan(forced, fixed);
    }
    let mut rank = q * observations;
    let b = buckets[..n - 1]
        .iter()
        .position(|b| b.count >= rank)
        .unwrap_or(n - 1);
    let res = |v| BucketQuantile {
        value: v,
        forced_monotonic: forced,
        fixed_precision: fixed,
    };
    if b == n - 1 {
        return res(buckets[n - 2].upper_bound);
    }
    if b == 0 && buckets[0].upper_bound <= 0.0 {
        return res(buckets[0].upper_bound);
    }
    let mut bucket_start = 0.0;
    let bucket_end = buckets[b].upper_bound;
    let mut count = buckets[b].count;
    if b > 0 {
        bucket_start = buckets[b - 1].upper_bound;
        count -= buckets[b - 1].count;
        rank -= buckets[b - 1].count;
    }
    res(bucket_start + (bucket_end - bucket_start) * (rank / count))
}

/// Estimates the fraction of observations between `lower` and `upper` from classic
/// buckets, interpolating linearly inside buckets (upstream `BucketFraction`).
pub fn bucket_fraction(lower: f64, upper: f64, buckets: &mut Vec<Bucket>) -> f64 {
    sort_buckets(buckets);
    match buckets.last() {
        Some(b) if b.upper_bound == f64::INFINITY => {}
        _ => return f64::NAN,
    }
    coalesce(buckets);
    let count = buckets[buckets.len() - 1].count;
    if count == 0.0 || lower.is_nan() || upper.is_nan() {
        return f64::NAN;
    }
    if lower >= upper {
        return 0.0;
    }
    let (mut rank, mut lower_rank, mut upper_rank) = (0.0, 0.0, 0.0);
    let (mut lower_set, mut upper_set) = (false, false);
    for (i, b) in buckets.iter().enumerate() {
        let lower_bound = if i > 0 {
            buckets[i - 1].upper_bound
        } else {
            f64::NEG_INFINITY
        };
        let upper_bound = b.upper_bound;
        let interpolate = |v: f64| {
            if lower_bound == f64::NEG_INFINITY {
                // The lowest bucket starts at 0 when its bound is positive (as in
                // histogram_quantile); otherwise it is infinitely wide and nothing is
                // interpolated: all its observations count as below `v`.
                if upper_bound > 0.0 {
                    if v <= 0.0 {
                        return rank;
                    }
                    return rank + (b.count - rank) * v / upper_bound;
                }
                return b.count;
            }
            rank + (b.count - rank) * (v - lower_bound) / (upper_bound - lower_bound)
        };
        if !lower_set && lower_bound >= lower {
            lower_rank = rank;
            lower_set = true;
        }
        if !upper_set && lower_bound >= upper {
            upper_rank = rank;
            upper_set = true;
        }
        if lower_set && upper_set {
            break;
        }
        if !lower_set && lower_bound < lower && upper_bound > lower {
            lower_rank = interpolate(lower);
            lower_set = true;
        }
        if !upper_set && lower_bound < upper && upper_bound > upper {
            upper_rank = interpolate(upper);
            upper_set = true;
        }
        if lower_set && upper_set {
            break;
        }
        rank = b.count;
    }
    if !lower_set || lower_rank > count {
        lower_rank = count;
    }
    if !upper_set || upper_rank > count {
        upper_rank = count;
    }
    (upper_rank - lower_rank) / count
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(pairs: &[(f64, f64)]) -> Vec<Bucket> {
        pairs
            .iter()
            .map(|&(upper_bound, count)| Bucket { upper_bound, count })
            .collect()
    }

    #[test]
    fn quantile_interpolates_between_ranks() {
        let mut v = vec![4.0, 1.0, 3.0, 2.0];
        assert_eq!(quantile(0.5, &mut v), 2.5);
        assert_eq!(quantile(0.0, &mut v), 1.0);
        assert_eq!(quantile(1.0, &mut v), 4.0);
        assert_eq!(quantile(-1.0, &mut v), f64::NEG_INFINITY);
        assert_eq!(quantile(2.0, &mut v), f64::INFINITY);
        assert!(quantile(f64::NAN, &mut v).is_nan());
        assert!(quantile(0.5, &mut []).is_nan());
        // NaN sorts first.
        let mut n = vec![1.0, f64::NAN];
        assert!(quantile(0.0, &mut n).is_nan());
        assert_eq!(quantile(1.0, &mut n), 1.0);
    }

    #[test]
    fn bucket_quantile_hand_computed() {
        // 10 observations <= 1, 20 <= 2, 30 total: median rank 15 lies in (1,2], half way.
        let mut bs = b(&[(1.0, 10.0), (2.0, 20.0), (f64::INFINITY, 30.0)]);
        assert_eq!(bucket_quantile(0.5, &mut bs).value, 1.5);
        // Rank in the +Inf bucket: the highest finite bound.
        let mut bs = b(&[(1.0, 10.0), (2.0, 20.0), (f64::INFINITY, 30.0)]);
        assert_eq!(bucket_quantile(0.9, &mut bs).value, 2.0);
        // First bucket interpolates from 0.
        let mut bs = b(&[(1.0, 10.0), (f64::INFINITY, 10.0)]);
        assert_eq!(bucket_quantile(0.5, &mut bs).value, 0.5);
        // No +Inf bucket.
        let mut bs = b(&[(1.0, 10.0)]);
        assert!(bucket_quantile(0.5, &mut bs).value.is_nan());
        // Non-monotonic counts are fixed and reported.
        let mut bs = b(&[(1.0, 10.0), (2.0, 5.0), (f64::INFINITY, 10.0)]);
        let r = bucket_quantile(0.5, &mut bs);
        assert!(r.forced_monotonic);
        assert_eq!(r.value, 0.5);
        // Zero observations.
        let mut bs = b(&[(1.0, 0.0), (f64::INFINITY, 0.0)]);
        assert!(bucket_quantile(0.5, &mut bs).value.is_nan());
    }

    #[test]
    fn bucket_fraction_hand_computed() {
        let mut bs = b(&[(1.0, 10.0), (2.0, 20.0), (f64::INFINITY, 30.0)]);
        assert!((bucket_fraction(1.0, 2.0, &mut bs) - 1.0 / 3.0).abs() < 1e-12);
        let mut bs = b(&[(1.0, 10.0), (2.0, 20.0), (f64::INFINITY, 30.0)]);
        assert_eq!(bucket_fraction(2.0, 1.0, &mut bs), 0.0);
        let mut bs = b(&[(1.0, 10.0), (2.0, 20.0), (f64::INFINITY, 30.0)]);
        assert_eq!(
            bucket_fraction(f64::NEG_INFINITY, f64::INFINITY, &mut bs),
            1.0
        );
    }

    #[test]
    fn almost_equal_like_upstream() {
        assert!(almost_equal(f64::NAN, f64::NAN, 1e-6));
        assert!(almost_equal(1.0, 1.0 + 1e-9, 1e-6));
        assert!(!almost_equal(1.0, 1.001, 1e-6));
        assert!(!almost_equal(0.0, 1e-300, 1e-6));
    }

    #[test]
    fn kahan_compensates() {
        let (mut s, mut c) = (0.0, 0.0);
        for v in [1.0, 1e100, 1.0, -1e100] {
            (s, c) = kahan_sum_inc(v, s, c);
        }
        assert_eq!(s + c, 2.0);
    }
}
