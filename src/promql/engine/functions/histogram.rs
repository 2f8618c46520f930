//! histogram_quantile, histogram_quantiles and histogram_fraction over classic histograms
//! (series with an `le` label), grouped by all other labels.
//!
//! Mirrors upstream `promql/functions.go` `funcHistogramQuantile` /
//! `funcHistogramFraction` for float buckets, with their annotations (malformed `le`,
//! quantile out of range, forced monotonicity). Native histograms are not stored by
//! promtui yet, so their branches do not exist here.

use std::collections::HashMap;

use super::super::super::ast::Expr;
use super::super::eval::{Evaluator, MatrixBuilder, Val};
use super::super::quantile::{bucket_fraction, bucket_quantile, Bucket};
use super::super::value::Matrix;
use super::super::EvalError;
use crate::model::{value::format_go_float, Labels, METRIC_NAME};

/// Go's `strconv.ParseFloat` for `le` values (accepts `+Inf`, `Inf`, `1e3`, ...).
fn parse_le(s: &str) -> Option<f64> {
    let t = s.trim();
    if t.is_empty() || t != s {
        return None;
    }
    t.parse::<f64>().ok()
}

/// Per input series: its group and bucket bound, or `None` for a bad `le`.
struct Grouping {
    group_of: Vec<Option<usize>>,
    bound: Vec<f64>,
    groups: Vec<Labels>,
}

fn group(ev: &mut Evaluator<'_>, m: &Matrix) -> Grouping {
    let mut index: HashMap<Labels, usize> = HashMap::new();
    let mut g = Grouping {
        group_of: Vec::with_capacity(m.len()),
        bound: Vec::with_capacity(m.len()),
        groups: Vec::new(),
    };
    for s in m {
        let le = s.metric.get("le").unwrap_or("");
        match parse_le(le) {
            Some(b) => {
                let mut lb = s.metric.builder();
                lb.del("le");
                let key = lb.labels();
                let id = *index.entry(key).or_insert_with(|| {
                    lb.del(METRIC_NAME);
                    g.groups.push(lb.labels());
                    g.groups.len() - 1
                });
                g.group_of.push(Some(id));
                g.bound.push(b);
            }
            None => {
                ev.annos.warn(format!(
                    "bucket label \"le\" is missing or has a malformed value of {le:?} for metric name {:?}",
                    s.metric.metric_name().unwrap_or("")
                ));
                g.group_of.push(None);
                g.bound.push(f64::NAN);
            }
        }
    }
    g
}

/// Runs `f(step, ts, group, buckets)` for every group with data at every step.
fn per_group(
    ev: &mut Evaluator<'_>,
    m: &Matrix,
    g: &Grouping,
    mut f: impl FnMut(&mut Evaluator<'_>, usize, i64, usize, &mut Vec<Bucket>) -> Result<(), EvalError>,
) -> Result<(), EvalError> {
    let mut buckets: Vec<Vec<Bucket>> = vec![Vec::new(); g.groups.len()];
    let mut touched: Vec<usize> = Vec::new();
    ev.for_each_step(m, |ev, i, ts, samples| {
        for &(j, v) in samples {
            if let Some(gid) = g.group_of[j] {
                if buckets[gid].is_empty() {
                    touched.push(gid);
                }
                buckets[gid].push(Bucket {
                    upper_bound: g.bound[j],
                    count: v,
                });
            }
        }
        for gid in touched.drain(..) {
            let mut b = std::mem::take(&mut buckets[gid]);
            f(ev, i, ts, gid, &mut b)?;
            b.clear();
            buckets[gid] = b;
        }
        Ok(())
    })
}

fn warn_quantile(ev: &mut Evaluator<'_>, q: f64) {
    if q.is_nan() || !(0.0..=1.0).contains(&q) {
        ev.annos.warn(format!(
            "quantile value should be between 0 and 1, got {}",
            format_go_float(q)
        ));
    }
}

fn monotonicity_info(ev: &mut Evaluator<'_>, name: &str) {
    ev.annos.info(format!(
        "input to histogram_quantile needed to be fixed for monotonicity (see https://prometheus.io/docs/prometheus/latest/querying/functions/#histogram_quantile) for metric name {name:?}"
    ));
}

pub(crate) fn eval_quantile(ev: &mut Evaluator<'_>, q: &Expr, v: &Expr) -> Result<Val, EvalError> {
    let qs = ev.eval_scalar(q)?;
    if let Some(&bad) = qs.iter().find(|q| q.is_nan() || !(0.0..=1.0).contains(*q)) {
        warn_quantile(ev, bad);
    }
    let m = ev.eval_vector(v)?;
    let g = group(ev, &m);
    let names: Vec<String> = group_names(&m, &g);
    let mut out = MatrixBuilder::new();
    let mut slots: Vec<Option<usize>> = vec![None; g.groups.len()];
    per_group(ev, &m, &g, |ev, i, ts, gid, b| {
        let q = qs.get(i).copied().unwrap_or(f64::NAN);
        warn_quantile(ev, q);
        let r = bucket_quantile(q, b);
        if r.forced_monotonic {
            monotonicity_info(ev, &names[gid]);
        }
        let slot = *slots[gid].get_or_insert_with(|| out.slot(&g.groups[gid], true));
        out.push(slot, ts, r.value)
    })?;
    Ok(Val::Vector(out.finish()))
}

fn group_names(m: &Matrix, g: &Grouping) -> Vec<String> {
    let mut names = vec![String::new(); g.groups.len()];
    for (j, s) in m.iter().enumerate() {
        if let Some(gid) = g.group_of[j] {
            if names[gid].is_empty() {
                names[gid] = s.metric.metric_name().unwrap_or("").to_string();
            }
        }
    }
    names
}

/// The label value of a quantile: shortest digits, always with a fraction (`0.0`, `0.25`).
fn quantile_label(q: f64) -> String {
    let s = format!("{q}");
    if q.is_finite() && !s.contains('.') && !s.contains('e') {
        format!("{s}.0")
    } else {
        s
    }
}

/// histogram_quantiles(v, label, q1, q2, ...): one output series per quantile, labelled
/// `label="q"`.
pub(crate) fn eval_quantiles(ev: &mut Evaluator<'_>, args: &[Expr]) -> Result<Val, EvalError> {
    let m = ev.eval_vector(&args[0])?;
    let label = ev.eval_string(&args[1])?;
    let mut qs = Vec::new();
    for a in &args[2..] {
        let q = ev.eval_scalar(a)?;
        if let Some(&bad) = q.iter().find(|q| q.is_nan() || !(0.0..=1.0).contains(*q)) {
            warn_quantile(ev, bad);
        }
        qs.push(q);
    }
    let g = group(ev, &m);
    let names = group_names(&m, &g);
    let mut out = MatrixBuilder::new();
    let mut slots: HashMap<(usize, usize), usize> = HashMap::new();
    per_group(ev, &m, &g, |ev, i, ts, gid, b| {
        for (k, q) in qs.iter().enumerate() {
            let q = q.get(i).copied().unwrap_or(f64::NAN);
            warn_quantile(ev, q);
            let mut bc = b.clone();
            let r = bucket_quantile(q, &mut bc);
            if r.forced_monotonic {
                monotonicity_info(ev, &names[gid]);
            }
            let slot = match slots.get(&(gid, k)) {
                Some(&s) => s,
                None => {
                    let mut lb = g.groups[gid].builder();
                    lb.set(&label, &quantile_label(q));
                    let s = out.slot(&lb.labels(), true);
                    slots.insert((gid, k), s);
                    s
                }
            };
            out.push(slot, ts, r.value)?;
        }
        Ok(())
    })?;
    Ok(Val::Vector(out.finish()))
}

/// histogram_fraction(lower, upper, v).
pub(crate) fn eval_fraction(ev: &mut Evaluator<'_>, args: &[Expr]) -> Result<Val, EvalError> {
    let lo = ev.eval_scalar(&args[0])?;
    let hi = ev.eval_scalar(&args[1])?;
    let m = ev.eval_vector(&args[2])?;
    let g = group(ev, &m);
    let mut out = MatrixBuilder::new();
    let mut slots: Vec<Option<usize>> = vec![None; g.groups.len()];
    per_group(ev, &m, &g, |_, i, ts, gid, b| {
        let v = bucket_fraction(
            lo.get(i).copied().unwrap_or(f64::NAN),
            hi.get(i).copied().unwrap_or(f64::NAN),
            b,
        );
        let slot = *slots[gid].get_or_insert_with(|| out.slot(&g.groups[gid], true));
        out.push(slot, ts, v)
    })?;
    Ok(Val::Vector(out.finish()))
}
