//! Aggregation operators: sum, avg, count, min, max, group, stddev, stdvar, quantile,
//! count_values, topk, bottomk, limitk and limit_ratio, with `by`/`without`.
//!
//! Mirrors upstream `promql/engine.go` (`rangeEvalAgg`, `aggregation`, `aggregationK`,
//! `aggregationCountValues`) including the Kahan-compensated sum, the incremental mean that
//! `avg` switches to when a sum would overflow, Welford's variance, and the hash-based
//! sampling of `limit_ratio` (`HashRatioSampler`). Grouping labels are computed once per
//! input series; each step then only buckets `(series, value)` pairs.

use std::collections::HashMap;

use crate::model::{Label, Labels, LabelsBuilder, METRIC_NAME};

use super::super::ast::{AggregateExpr, AggregateOp};
use super::eval::{Evaluator, MatrixBuilder, Val};
use super::quantile::{kahan_sum_inc, quantile};
use super::EvalError;
use crate::model::quote::{go_quote, go_quote_bytes};

/// The grouping label set of one series.
fn group_labels(metric: &Labels, grouping: &[String], without: bool) -> Labels {
    let mut b: LabelsBuilder = metric.builder();
    if without {
        b.del(METRIC_NAME);
        for g in grouping {
            b.del(g);
        }
    } else {
        b.keep(grouping);
    }
    b.into_labels()
}

/// Go's `labels.Labels.Hash()` (xxhash64 over `name 0xff value 0xff`), used by
/// `limit_ratio` so that the same series are sampled as upstream.
fn go_labels_hash(l: &Labels) -> u64 {
    let mut buf = Vec::with_capacity(64);
    for lb in l {
        buf.extend_from_slice(lb.name.as_bytes());
        buf.push(0xff);
        buf.extend_from_slice(lb.value.as_bytes());
        buf.push(0xff);
    }
    xxhash_rust::xxh64::xxh64(&buf, 0)
}

/// Checks and converts the `k` parameter of topk/bottomk/limitk.
fn k_param(v: f64) -> Result<i64, EvalError> {
    if v.is_nan() {
        return Err(EvalError::Execution("Parameter value is NaN".into()));
    }
    if v >= 9.223372036854776e18 || v <= -9.223372036854776e18 {
        return Err(EvalError::Execution(format!(
            "Scalar value {} overflows int64",
            crate::model::value::format_go_float(v)
        )));
    }
    Ok(v as i64)
}

/// Sums with Neumaier compensation; the compensation is added at the end.
fn sum(vals: &[f64]) -> f64 {
    let (mut s, mut c) = (0.0, 0.0);
    for &v in vals {
        (s, c) = kahan_sum_inc(v, s, c);
    }
    s + c
}

/// The arithmetic mean as upstream's `avg`: Kahan sum, switching to an incremental mean
/// once the sum would overflow.
pub(crate) fn avg(vals: &[f64]) -> f64 {
    avg_of(vals.iter().copied())
}

/// [`avg`] of the values an iterator yields, without collecting them first.
pub(crate) fn avg_of(vals: impl IntoIterator<Item = f64>) -> f64 {
    let mut vals = vals.into_iter();
    let Some(first) = vals.next() else {
        return f64::NAN;
    };
    let (mut sum, mut c, mut mean) = (first, 0.0, 0.0);
    let mut incremental = false;
    let mut count = 1.0;
    for f in vals {
        count += 1.0;
        if !incremental {
            let (ns, nc) = kahan_sum_inc(f, sum, c);
            if !ns.is_infinite() {
                sum = ns;
                c = nc;
                continue;
            }
            incremental = true;
            mean = sum / (count - 1.0);
            c /= count - 1.0;
        }
        if mean.is_infinite() {
            if f.is_infinite() && (mean > 0.0) == (f > 0.0) {
                continue;
            }
            if !f.is_infinite() && !f.is_nan() {
                continue;
            }
        }
        let q = (count - 1.0) / count;
        (mean, c) = kahan_sum_inc(f / count, q * mean, q * c);
    }
    if incremental {
        mean + c
    } else {
        sum / count + c / count
    }
}

/// Population variance with Welford's online algorithm (upstream `stdvar`).
pub(crate) fn variance(vals: &[f64]) -> f64 {
    let Some(&first) = vals.first() else {
        return f64::NAN;
    };
    let mut value = if first.is_nan() || first.is_infinite() {
        f64::NAN
    } else {
        0.0
    };
    let mut mean = first;
    let mut count = 1.0;
    for &f in &vals[1..] {
        count += 1.0;
        let delta = f - mean;
        mean += delta / count;
        value += delta * (f - mean);
    }
    value / count
}

/// Evaluates an aggregation for all steps.
pub(crate) fn eval_aggregate(ev: &mut Evaluator<'_>, a: &AggregateExpr) -> Result<Val, EvalError> {
    let op = a.op;
    let mut scalar_param: Option<Vec<f64>> = None;
    let mut string_param: Option<String> = None;
    if let Some(p) = &a.param {
        if op == AggregateOp::CountValues {
            if let Some(bytes) = p.invalid_utf8_string() {
                return Err(EvalError::Execution(format!(
                    "invalid label name {}",
                    go_quote_bytes(bytes)
                )));
            }
            string_param = Some(ev.eval_string(p)?);
        } else {
            scalar_param = Some(ev.eval_scalar(p)?);
        }
    }
    // Parameter checks that fail regardless of the input.
    if let Some(ps) = &scalar_param {
        for &p in ps {
            match op {
                AggregateOp::Topk | AggregateOp::Bottomk | AggregateOp::Limitk => {
                    k_param(p)?;
                }
                AggregateOp::LimitRatio if p.is_nan() => {
                    return Err(EvalError::Execution("Ratio value is NaN".into()));
                }
                _ => {}
            }
        }
    }
    if let Some(label) = &string_param {
        if label.is_empty() {
            return Err(EvalError::Execution(format!(
                "invalid label name {}",
                go_quote(label)
            )));
        }
    }
    let input = ev.eval_vector(&a.expr)?;
    let keeps_series = matches!(
        op,
        AggregateOp::Topk | AggregateOp::Bottomk | AggregateOp::Limitk | AggregateOp::LimitRatio
    );
    // Group id of every input series and the labels of every group.
    // Groups are found by a hash of the grouping labels read in place; a group's label
    // set is built once, when its first member is seen.
    let mut group_index: HashMap<u64, Vec<usize>> = HashMap::new();
    let mut group_of: Vec<usize> = Vec::with_capacity(input.len());
    let mut groups: Vec<Labels> = Vec::new();
    let mut group_drop: Vec<bool> = Vec::new();
    let in_group = |l: &&Label| {
        if a.without {
            l.name != METRIC_NAME && !a.grouping.contains(&l.name)
        } else {
            a.grouping.contains(&l.name)
        }
    };
    for s in &input {
        // Grouping sees names that are only flagged for removal (upstream's delayed name
        // removal); the group drops the name if any member does.
        let h = if a.without {
            s.metric.hash_without_labels(&a.grouping)
        } else {
            s.metric.hash_for_labels(&a.grouping)
        };
        let ids = group_index.entry(h).or_default();
        let found = ids
            .iter()
            .copied()
            .find(|&id| groups[id].iter().eq(s.metric.iter().filter(in_group)));
        let id = match found {
            Some(id) => id,
            None => {
                let id = groups.len();
                ids.push(id);
                groups.push(group_labels(&s.metric, &a.grouping, a.without));
                group_drop.push(false);
                id
            }
        };
        group_drop[id] |= s.drop_name;
        group_of.push(id);
    }
    let mut builder = MatrixBuilder::new();
    let mut group_slots: Vec<Option<usize>> = vec![None; groups.len()];
    let mut series_slots: Vec<Option<usize>> = vec![None; input.len()];
    let mut members: Vec<Vec<(usize, f64)>> = vec![Vec::new(); groups.len()];
    let mut touched: Vec<usize> = Vec::new();
    let mut vals: Vec<f64> = Vec::new();
    let mut count_values_slots: HashMap<Labels, usize> = HashMap::new();
    // count_values' output series of the current step, in order of first appearance.
    let mut step_counts: Vec<(Labels, f64)> = Vec::new();
    let mut step_index: HashMap<Labels, usize> = HashMap::new();
    let mut ratio_offsets: Vec<Option<f64>> = vec![None; input.len()];
    let mut warned_ratio = false;
    ev.for_each_step(&input, |ev, i, ts, samples| {
        for g in touched.drain(..) {
            members[g].clear();
        }
        for &(j, f) in samples {
            let g = group_of[j];
            if members[g].is_empty() {
                touched.push(g);
            }
            members[g].push((j, f));
        }
        touched.sort_unstable_by_key(|&g| members[g][0].0);
        let param = scalar_param.as_ref().and_then(|p| p.get(i).copied());
        step_counts.clear();
        step_index.clear();
        for &g in &touched {
            let m = &members[g];
            if keeps_series {
                let mut chosen: Vec<(usize, f64)> = Vec::new();
                match op {
                    AggregateOp::Topk | AggregateOp::Bottomk => {
                        let k = k_param(param.unwrap_or(f64::NAN))?;
                        if k < 1 {
                            continue;
                        }
                        let top = op == AggregateOp::Topk;
                        let cmp = |x: &(usize, f64), y: &(usize, f64)| {
                            use std::cmp::Ordering;
                            let o = match (x.1.is_nan(), y.1.is_nan()) {
                                (true, true) => Ordering::Equal,
                                (true, false) => Ordering::Greater,
                                (false, true) => Ordering::Less,
                                _ => {
                                    let o = x.1.partial_cmp(&y.1).unwrap_or(Ordering::Equal);
                                    if top {
                                        o.reverse()
                                    } else {
                                        o
                                    }
                                }
                            };
                            // Ties keep input order, so results are deterministic.
                            o.then(x.0.cmp(&y.0))
                        };
                        let mut sorted = m.clone();
                        let k = (k as usize).min(sorted.len());
                        if k < sorted.len() {
                            sorted.select_nth_unstable_by(k - 1, cmp);
                            sorted.truncate(k);
                        }
                        sorted.sort_unstable_by(cmp);
                        chosen = sorted;
                    }
                    AggregateOp::Limitk => {
                        let k = k_param(param.unwrap_or(f64::NAN))?;
                        if k < 1 {
                            continue;
                        }
                        chosen.extend(m.iter().take(k as usize).copied());
                    }
                    _ => {
                        let mut r = param.unwrap_or(f64::NAN);
                        if !(-1.0..=1.0).contains(&r) {
                            let capped = r.clamp(-1.0, 1.0);
                            if !warned_ratio {
                                ev.annos.warn(format!(
                                    "ratio value should be between -1 and 1, got {}, capping to {}",
                                    crate::model::value::format_go_float(r),
                                    crate::model::value::format_go_float(capped)
                                ));
                                warned_ratio = true;
                            }
                            r = capped;
                        }
                        for &(j, f) in m {
                            let off = *ratio_offsets[j].get_or_insert_with(|| {
                                go_labels_hash(&input[j].metric) as f64 / u64::MAX as f64
                            });
                            if (r >= 0.0 && off < r) || (r < 0.0 && off >= 1.0 + r) {
                                chosen.push((j, f));
                            }
                        }
                    }
                }
                for (j, f) in chosen {
                    let slot = match series_slots[j] {
                        Some(s) => s,
                        None => {
                            let s = builder.slot(&input[j].metric, input[j].drop_name);
                            series_slots[j] = Some(s);
                            s
                        }
                    };
                    builder.push(slot, ts, f)?;
                }
                continue;
            }
            if op == AggregateOp::CountValues {
                // Upstream sets the value label on each series first and groups after
                // (`by` adds the label to the grouping), so when the label is also a
                // grouping label, groups whose series share a value merge into one
                // output series, and `without (label)` drops it again.
                let label = string_param.as_deref().unwrap_or_default();
                let drop_label = a.without && a.grouping.iter().any(|l| l == label);
                for &(_, f) in m {
                    let l = if drop_label {
                        groups[g].clone()
                    } else {
                        let mut b = groups[g].builder();
                        b.set(label, &crate::model::value::format_go_f(f));
                        b.labels()
                    };
                    match step_index.get(&l) {
                        Some(&k) => step_counts[k].1 += 1.0,
                        None => {
                            step_index.insert(l.clone(), step_counts.len());
                            step_counts.push((l, 1.0));
                        }
                    }
                }
                continue;
            }
            vals.clear();
            vals.extend(m.iter().map(|&(_, f)| f));
            let v = match op {
                AggregateOp::Sum => sum(&vals),
                AggregateOp::Avg => avg(&vals),
                AggregateOp::Count => vals.len() as f64,
                AggregateOp::Group => 1.0,
                AggregateOp::Min => {
                    let mut r = vals[0];
                    for &f in &vals[1..] {
                        if r > f || r.is_nan() {
                            r = f;
                        }
                    }
                    r
                }
                AggregateOp::Max => {
                    let mut r = vals[0];
                    for &f in &vals[1..] {
                        if r < f || r.is_nan() {
                            r = f;
                        }
                    }
                    r
                }
                AggregateOp::Stdvar => variance(&vals),
                AggregateOp::Stddev => variance(&vals).sqrt(),
                AggregateOp::Quantile => {
                    let q = param.unwrap_or(f64::NAN);
                    if q.is_nan() || !(0.0..=1.0).contains(&q) {
                        ev.annos.warn(format!(
                            "quantile value should be between 0 and 1, got {}",
                            crate::model::value::format_go_float(q)
                        ));
                    }
                    quantile(q, &mut vals)
                }
                _ => f64::NAN,
            };
            let slot = match group_slots[g] {
                Some(s) => s,
                None => {
                    let s = builder.slot(&groups[g], group_drop[g]);
                    group_slots[g] = Some(s);
                    s
                }
            };
            builder.push(slot, ts, v)?;
        }
        for (l, c) in step_counts.drain(..) {
            let slot = match count_values_slots.get(&l) {
                Some(&s) => s,
                None => {
                    let s = builder.slot(&l, false);
                    count_values_slots.insert(l, s);
                    s
                }
            };
            builder.push(slot, ts, c)?;
        }
        Ok(())
    })?;
    Ok(Val::Vector(builder.finish()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn avg_switches_to_incremental_mean_on_overflow() {
        let big = 1.7976931348623157e308;
        assert_eq!(avg(&[big, big]), big);
        assert_eq!(avg(&[1.0, 2.0, 3.0, 4.0]), 2.5);
        assert_eq!(avg(&[f64::INFINITY, 1.0]), f64::INFINITY);
        assert!(avg(&[f64::INFINITY, f64::NEG_INFINITY]).is_nan());
    }

    #[test]
    fn variance_with_nan_and_inf() {
        assert_eq!(variance(&[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]), 4.0);
        assert!(variance(&[1.0, f64::NAN]).is_nan());
        assert!(variance(&[f64::INFINITY, 1.0]).is_nan());
        assert_eq!(variance(&[3.0]), 0.0);
    }

    #[test]
    fn count_values_formats_like_go() {
        assert_eq!(
            crate::model::value::format_go_f(1e21),
            "1000000000000000000000"
        );
        assert_eq!(crate::model::value::format_go_f(0.1), "0.1");
        assert_eq!(crate::model::value::format_go_f(f64::INFINITY), "+Inf");
        assert_eq!(crate::model::value::format_go_f(2.0), "2");
    }

    #[test]
    fn go_hash_is_xxhash64() {
        // xxhash64 of the empty input with seed 0.
        assert_eq!(go_labels_hash(&Labels::empty()), 0xef46db3751d8e999);
    }

    #[test]
    fn k_param_errors() {
        assert!(k_param(f64::NAN).is_err());
        assert!(k_param(1e30).is_err());
        assert_eq!(k_param(2.7).ok(), Some(2));
    }
}
