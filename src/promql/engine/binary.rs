//! Binary operators: arithmetic, comparisons (with and without `bool`), set operators, vector
//! matching (`on`/`ignoring`, `group_left`/`group_right`) and the `fill` modifiers.
//!
//! Mirrors upstream `promql/engine.go` (`VectorBinop`, `VectorAnd`, `VectorOr`,
//! `VectorUnless`, `VectorscalarBinop`, `scalarBinop`, `vectorElemBinop`, `resultMetric`,
//! `signatureFunc`). Signatures and result labels are computed once per series (pair), not
//! per step.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

use crate::model::{Labels, LabelsBuilder, METRIC_NAME};

use super::super::ast::{BinaryExpr, BinaryOp, VectorMatchCardinality, VectorMatching};
use super::eval::{merge_same_labels, Evaluator, MatrixBuilder, Val};
use super::value::{FPoint, Matrix, Series};
use super::EvalError;

/// A hasher for keys that already are 64-bit hashes (match signatures).
#[derive(Default)]
pub(crate) struct SigHasher(u64);

impl Hasher for SigHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

type SigMap<V> = HashMap<u64, V, BuildHasherDefault<SigHasher>>;
type SigSet = HashSet<u64, BuildHasherDefault<SigHasher>>;

/// Applies a binary operator to two floats: the value and whether a comparison holds.
fn elem_binop(op: BinaryOp, l: f64, r: f64) -> (f64, bool) {
    match op {
        BinaryOp::Add => (l + r, true),
        BinaryOp::Sub => (l - r, true),
        BinaryOp::Mul => (l * r, true),
        BinaryOp::Div => (l / r, true),
        BinaryOp::Pow => (l.powf(r), true),
        BinaryOp::Mod => (l % r, true),
        BinaryOp::Atan2 => (l.atan2(r), true),
        BinaryOp::Eql => (l, l == r),
        BinaryOp::Neq => (l, l != r),
        BinaryOp::Gtr => (l, l > r),
        BinaryOp::Lss => (l, l < r),
        BinaryOp::Gte => (l, l >= r),
        BinaryOp::Lte => (l, l <= r),
        // Trimming only applies to native histograms; floats are dropped.
        BinaryOp::TrimUpper | BinaryOp::TrimLower => (l, false),
        BinaryOp::And | BinaryOp::Or | BinaryOp::Unless => (l, true),
    }
}

/// Arithmetic operators drop the metric name; comparisons without `bool` keep it.
fn drops_name(op: BinaryOp) -> bool {
    matches!(
        op,
        BinaryOp::Add
            | BinaryOp::Sub
            | BinaryOp::Mul
            | BinaryOp::Div
            | BinaryOp::Mod
            | BinaryOp::Pow
            | BinaryOp::Atan2
    )
}

/// Evaluates a binary expression.
pub(crate) fn eval_binary(ev: &mut Evaluator<'_>, b: &BinaryExpr) -> Result<Val, EvalError> {
    let lhs = ev.eval(&b.lhs)?;
    let rhs = ev.eval(&b.rhs)?;
    match (lhs, rhs) {
        (Val::Scalar(l), Val::Scalar(r)) => Ok(Val::Scalar(
            l.iter()
                .zip(r.iter())
                .map(|(&l, &r)| {
                    let (v, keep) = elem_binop(b.op, l, r);
                    if b.op.is_comparison() {
                        if keep {
                            1.0
                        } else {
                            0.0
                        }
                    } else {
                        v
                    }
                })
                .collect(),
        )),
        (Val::Vector(m), Val::Scalar(s)) => Ok(Val::Vector(vector_scalar(ev, b, m, &s, false))),
        (Val::Scalar(s), Val::Vector(m)) => Ok(Val::Vector(vector_scalar(ev, b, m, &s, true))),
        (Val::Vector(l), Val::Vector(r)) => {
            let default = VectorMatching::default();
            let matching = b.matching.as_ref().unwrap_or(&default);
            let m = match b.op {
                BinaryOp::And | BinaryOp::Unless => vector_and_unless(ev, b.op, matching, l, r)?,
                BinaryOp::Or => vector_or(ev, matching, l, r)?,
                _ => vector_vector(ev, b, matching, l, r)?,
            };
            Ok(Val::Vector(m))
        }
        _ => Err(EvalError::Execution(format!(
            "binary operator {} not defined between {} and {}",
            b.op,
            b.lhs.value_type(),
            b.rhs.value_type()
        ))),
    }
}

fn vector_scalar(ev: &Evaluator<'_>, b: &BinaryExpr, m: Matrix, s: &[f64], swap: bool) -> Matrix {
    let cmp = b.op.is_comparison();
    let drop = drops_name(b.op) || b.return_bool;
    let mut out = Vec::with_capacity(m.len());
    for mut series in m {
        let mut floats = Vec::with_capacity(series.floats.len());
        for p in &series.floats {
            let sv = s.get(ev.step_of(p.t)).copied().unwrap_or(f64::NAN);
            let (l, r) = if swap { (sv, p.f) } else { (p.f, sv) };
            let (mut v, mut keep) = elem_binop(b.op, l, r);
            if cmp && swap {
                v = r;
            }
            if b.return_bool {
                v = if keep { 1.0 } else { 0.0 };
                keep = true;
            }
            if keep {
                floats.push(FPoint { t: p.t, f: v });
            }
        }
        if !floats.is_empty() {
            series.floats = floats;
            series.drop_name |= drop;
            out.push(series);
        }
    }
    out
}

/// The matching signature of every series.
fn signatures(m: &Matrix, matching: &VectorMatching) -> Vec<u64> {
    m.iter()
        .map(|s| {
            if matching.on {
                s.metric.hash_for_labels(&matching.matching_labels)
            } else {
                s.metric.hash_without_labels(&matching.matching_labels)
            }
        })
        .collect()
}

/// The labels a match is reported with (upstream `MatchLabels`).
fn match_labels(l: &Labels, matching: &VectorMatching) -> Labels {
    let mut b = l.builder();
    if matching.on {
        b.keep(&matching.matching_labels);
    } else {
        b.del(METRIC_NAME);
        for n in &matching.matching_labels {
            b.del(n);
        }
    }
    b.labels()
}

/// Upstream `resultMetric`; the name is kept here and dropped later through the flag.
fn result_metric(many: &Labels, one: &Labels, matching: &VectorMatching) -> Labels {
    let one_to_one = matching.card == VectorMatchCardinality::OneToOne;
    if matching.include.is_empty()
        && (!one_to_one || (!matching.on && matching.matching_labels.is_empty()))
    {
        // Nothing to keep, drop or copy over: the "many" side's labels as they are.
        return many.clone();
    }
    let mut b: LabelsBuilder = many.builder();
    if matching.card == VectorMatchCardinality::OneToOne {
        if matching.on {
            b.keep(&matching.matching_labels);
        } else {
            for n in &matching.matching_labels {
                b.del(n);
            }
        }
    }
    for n in &matching.include {
        match one.get(n) {
            Some(v) => {
                b.set(n, v);
            }
            None => {
                b.del(n);
            }
        }
    }
    b.into_labels()
}

/// For each "many" series, the one "one" series with its signature, when no two "one"
/// series share a signature; `None` when some do (then partners are found step by step).
fn unique_partners(many_sigs: &[u64], one_sigs: &[u64]) -> Option<Vec<Option<usize>>> {
    let mut by_sig: SigMap<usize> = SigMap::default();
    by_sig.reserve(one_sigs.len());
    for (j, &sig) in one_sigs.iter().enumerate() {
        if by_sig.insert(sig, j).is_some() {
            return None;
        }
    }
    Some(
        many_sigs
            .iter()
            .map(|sig| by_sig.get(sig).copied())
            .collect(),
    )
}

fn vector_vector(
    ev: &mut Evaluator<'_>,
    b: &BinaryExpr,
    matching: &VectorMatching,
    lhs: Matrix,
    rhs: Matrix,
) -> Result<Matrix, EvalError> {
    let one_to_many = matching.card == VectorMatchCardinality::OneToMany;
    let one_to_one = matching.card == VectorMatchCardinality::OneToOne;
    // For one-to-many, swap sides and account for it when computing values.
    let (many, one) = if one_to_many { (rhs, lhs) } else { (lhs, rhs) };
    let many_sigs = signatures(&many, matching);
    let one_sigs = signatures(&one, matching);
    // `fill_right` stands in for a missing "one" side, `fill_left` for a missing "many"
    // side, whichever operand the `group_x` modifier made the "one" side.
    let (fill_many, fill_one) = (matching.fill.lhs, matching.fill.rhs);
    let drop = drops_name(b.op) || b.return_bool;
    let mut builder = MatrixBuilder::new();
    // Output slot per "many" series, for the "one" series it last matched (almost always
    // the same one at every step), and for when it had no partner.
    let mut matched_slot: Vec<Option<(usize, usize)>> = vec![None; many.len()];
    let mut unmatched_slot: Vec<Option<usize>> = vec![None; many.len()];
    let mut one_slot: Vec<Option<usize>> = vec![None; one.len()];
    // Step at which a slot last received a matched sample (for the many-to-one check).
    let mut slot_step: Vec<usize> = Vec::new();
    let mut one_by_sig: SigMap<(usize, f64)> = SigMap::default();
    // When no two "one" series share a signature (the usual case: a join on an info
    // metric, a ratio of two aggregations), each "many" series has at most one possible
    // partner for the whole query, found here once; a step then only looks up whether
    // that partner has a sample (`one_at`), with no hashing per step.
    let partner = unique_partners(&many_sigs, &one_sigs);
    let mut one_at: Vec<(usize, f64)> = vec![(usize::MAX, 0.0); one.len()];
    // Step at which a "one" series last found a partner: within a step a signature
    // belongs to one "one" series, so this is upstream's per-step set of matched
    // signatures (one-to-one duplicate check, and which "one" series `fill` skips).
    let mut used_at: Vec<usize> = vec![usize::MAX; one.len()];
    let empty = Labels::empty();
    let steps = ev.n_steps();
    let many_idx = ev.by_step(&many);
    let one_idx_by_step = ev.by_step(&one);
    for i in 0..steps {
        ev.check()?;
        let ts = ev.ts(i);
        let one_now = one_idx_by_step.at(i);
        if partner.is_some() {
            for &(j, of) in one_now {
                one_at[j] = (i, of);
            }
        }
        one_by_sig.clear();
        for &(j, of) in one_now.iter().filter(|_| partner.is_none()) {
            let s = &one[j];
            if let Some(&(dj, _)) = one_by_sig.get(&one_sigs[j]) {
                let side = if one_to_many { "left" } else { "right" };
                let mut pair = [s.metric.go_string(), one[dj].metric.go_string()];
                pair.sort();
                return Err(EvalError::Execution(format!(
                    "found duplicate series for the match group {} on the {side} hand-side of the operation: [{}, {}];many-to-many matching not allowed: matching labels must be unique on one side",
                    match_labels(&s.metric, matching).go_string(),
                    pair[0],
                    pair[1],
                )));
            }
            one_by_sig.insert(one_sigs[j], (j, of));
        }
        for &(j, mf) in many_idx.at(i) {
            let s = &many[j];
            let found = match &partner {
                Some(p) => p[j]
                    .filter(|&oj| one_at[oj].0 == i)
                    .map(|oj| (oj, one_at[oj].1)),
                None => one_by_sig.get(&many_sigs[j]).copied(),
            };
            let (one_idx, of) = match found {
                Some((oj, of)) => (Some(oj), of),
                None => match fill_one {
                    Some(fv) => (None, fv),
                    None => continue,
                },
            };
            let slot = match one_idx {
                Some(oj) => match matched_slot[j] {
                    Some((cached_oj, slot)) if cached_oj == oj => slot,
                    _ => {
                        let m = result_metric(&s.metric, &one[oj].metric, matching);
                        let slot = builder.slot(&m, drop || s.drop_name);
                        matched_slot[j] = Some((oj, slot));
                        slot
                    }
                },
                None => match unmatched_slot[j] {
                    Some(slot) => slot,
                    None => {
                        let m = result_metric(&s.metric, &empty, matching);
                        let slot = builder.slot(&m, drop || s.drop_name);
                        unmatched_slot[j] = Some(slot);
                        slot
                    }
                },
            };
            if let Some(oj) = one_idx {
                let seen = std::mem::replace(&mut used_at[oj], i) == i;
                if one_to_one {
                    if seen {
                        return Err(EvalError::Execution(
                            "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)".into(),
                        ));
                    }
                } else {
                    if slot_step.len() <= slot {
                        slot_step.resize(slot + 1, usize::MAX);
                    }
                    if slot_step[slot] == i {
                        return Err(EvalError::Execution(
                            "multiple matches for labels: grouping labels must ensure unique matches".into(),
                        ));
                    }
                    slot_step[slot] = i;
                }
            }
            let (fl, fr) = if one_to_many { (of, mf) } else { (mf, of) };
            let (mut v, keep) = elem_binop(b.op, fl, fr);
            if b.return_bool {
                v = if keep { 1.0 } else { 0.0 };
            } else if !keep {
                continue;
            }
            builder.push(slot, ts, v)?;
        }
        if let Some(fv) = fill_many {
            for &(oj, of) in one_now {
                if used_at[oj] == i {
                    continue;
                }
                let (fl, fr) = if one_to_many { (of, fv) } else { (fv, of) };
                let (mut v, keep) = elem_binop(b.op, fl, fr);
                if b.return_bool {
                    v = if keep { 1.0 } else { 0.0 };
                } else if !keep {
                    continue;
                }
                let slot = match one_slot[oj] {
                    Some(slot) => slot,
                    None => {
                        let m = match_labels(&one[oj].metric, matching);
                        let slot = builder.slot(&m, true);
                        one_slot[oj] = Some(slot);
                        slot
                    }
                };
                builder.push(slot, ts, v)?;
            }
        }
    }
    Ok(builder
        .finish()
        .into_iter()
        .filter(|s| !s.floats.is_empty())
        .collect())
}

fn vector_and_unless(
    ev: &mut Evaluator<'_>,
    op: BinaryOp,
    matching: &VectorMatching,
    lhs: Matrix,
    rhs: Matrix,
) -> Result<Matrix, EvalError> {
    let lsigs = signatures(&lhs, matching);
    let rsigs = signatures(&rhs, matching);
    let mut keep: Vec<Vec<FPoint>> = vec![Vec::new(); lhs.len()];
    let mut present: SigSet = SigSet::default();
    let (lidx, ridx) = (ev.by_step(&lhs), ev.by_step(&rhs));
    for i in 0..ev.n_steps() {
        ev.check()?;
        let ts = ev.ts(i);
        present.clear();
        present.extend(ridx.at(i).iter().map(|&(j, _)| rsigs[j]));
        for &(j, f) in lidx.at(i) {
            let hit = present.contains(&lsigs[j]);
            if hit == (op == BinaryOp::And) {
                keep[j].push(FPoint { t: ts, f });
            }
        }
    }
    Ok(lhs
        .into_iter()
        .zip(keep)
        .filter(|(_, k)| !k.is_empty())
        .map(|(s, floats)| Series {
            metric: s.metric,
            floats,
            drop_name: s.drop_name,
        })
        .collect())
}

fn vector_or(
    ev: &mut Evaluator<'_>,
    matching: &VectorMatching,
    lhs: Matrix,
    rhs: Matrix,
) -> Result<Matrix, EvalError> {
    let lsigs = signatures(&lhs, matching);
    let rsigs = signatures(&rhs, matching);
    let mut keep: Vec<Vec<FPoint>> = vec![Vec::new(); rhs.len()];
    let mut present: SigSet = SigSet::default();
    let (lidx, ridx) = (ev.by_step(&lhs), ev.by_step(&rhs));
    for i in 0..ev.n_steps() {
        ev.check()?;
        let ts = ev.ts(i);
        present.clear();
        present.extend(lidx.at(i).iter().map(|&(j, _)| lsigs[j]));
        for &(j, f) in ridx.at(i) {
            if !present.contains(&rsigs[j]) {
                keep[j].push(FPoint { t: ts, f });
            }
        }
    }
    let mut out = lhs;
    out.extend(
        rhs.into_iter()
            .zip(keep)
            .filter(|(_, k)| !k.is_empty())
            .map(|(s, floats)| Series {
                metric: s.metric,
                floats,
                drop_name: s.drop_name,
            }),
    );
    merge_same_labels(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comparisons_keep_lhs_value() {
        assert_eq!(elem_binop(BinaryOp::Gtr, 3.0, 1.0), (3.0, true));
        assert_eq!(elem_binop(BinaryOp::Lss, 3.0, 1.0), (3.0, false));
        assert!(!elem_binop(BinaryOp::Eql, f64::NAN, f64::NAN).1);
        assert!(elem_binop(BinaryOp::Neq, f64::NAN, f64::NAN).1);
    }

    #[test]
    fn arithmetic_matches_go() {
        assert_eq!(elem_binop(BinaryOp::Mod, -7.0, 3.0).0, -1.0);
        assert_eq!(elem_binop(BinaryOp::Pow, 2.0, 10.0).0, 1024.0);
        assert!(elem_binop(BinaryOp::Div, 0.0, 0.0).0.is_nan());
        assert_eq!(elem_binop(BinaryOp::Div, 1.0, 0.0).0, f64::INFINITY);
    }
}
