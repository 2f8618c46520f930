//! info(v, [selector]): enriches series with the data labels of matching info series
//! (`target_info` by default), joined on the identifying labels `instance` and `job`.
//!
//! Mirrors upstream `promql/info.go` (experimental): info series are evaluated at the
//! same reference time as the base samples (so `@` and `offset` pin them too); among info
//! series of one metric name the one with the latest sample wins; labels the base series
//! already has are kept; two info metrics setting one label differently is an error. A
//! base series without a matching info series is dropped when a data matcher rejects the
//! empty value, otherwise returned unchanged; series that are themselves info series pass
//! through.

use std::collections::{HashMap, HashSet};

use super::super::super::ast::Expr;
use super::super::eval::{Evaluator, MatrixBuilder, Val};
use super::super::EvalError;
use crate::model::{Labels, MatchOp, Matcher, METRIC_NAME};

/// Labels joining base and info series.
const IDENTIFYING: [&str; 2] = ["instance", "job"];

/// The time the samples of `e` are read at for evaluation time `t` (following `@` and
/// offsets down to the first selector).
fn ref_time(ev: &Evaluator<'_>, e: &Expr, t: i64) -> i64 {
    crate::promql::with_stack(|| ref_time_here(ev, e, t))
}

fn ref_time_here(ev: &Evaluator<'_>, e: &Expr, t: i64) -> i64 {
    let shift = |at: Option<i64>, off: &Option<super::super::super::ast::Duration>| {
        let o = off.as_ref().and_then(|d| ev.duration(d).ok()).unwrap_or(0);
        at.unwrap_or(t) - o
    };
    match e {
        Expr::VectorSelector(vs) => shift(ev.at_time(&vs.at), &vs.offset),
        Expr::MatrixSelector(ms) => {
            let vs = &ms.vector_selector;
            shift(ev.at_time(&vs.at), &vs.offset)
        }
        Expr::Subquery(sq) => ref_time(ev, &sq.expr, shift(ev.at_time(&sq.at), &sq.offset)),
        Expr::Paren(inner) => ref_time(ev, inner, t),
        Expr::Unary(u) => ref_time(ev, &u.expr, t),
        Expr::Aggregate(a) => ref_time(ev, &a.expr, t),
        Expr::Binary(b) => ref_time(ev, &b.lhs, t),
        Expr::Call(c) => c
            .args
            .iter()
            .find(|a| {
                matches!(
                    a.value_type(),
                    super::super::super::ast::ValueType::Vector
                        | super::super::super::ast::ValueType::Matrix
                )
            })
            .map_or(t, |a| ref_time(ev, a, t)),
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) => t,
    }
}

fn id_key(l: &Labels) -> (String, String) {
    (
        l.get(IDENTIFYING[0]).unwrap_or("").to_string(),
        l.get(IDENTIFYING[1]).unwrap_or("").to_string(),
    )
}

pub(crate) fn eval(ev: &mut Evaluator<'_>, args: &[Expr]) -> Result<Val, EvalError> {
    let mut matchers: Vec<Matcher> = match args.get(1).map(Expr::unparen) {
        Some(Expr::VectorSelector(vs)) => vs.matchers.clone(),
        Some(other) => {
            return Err(EvalError::Execution(format!(
                "expected label selector as second argument of info(), got {other}"
            )))
        }
        None => Vec::new(),
    };
    let name_count = matchers.iter().filter(|m| m.name == METRIC_NAME).count();
    let positive = matchers
        .iter()
        .any(|m| m.name == METRIC_NAME && matches!(m.op, MatchOp::Equal | MatchOp::RegexMatch));
    if name_count == 0 {
        matchers.push(Matcher::equal(METRIC_NAME, "target_info"));
    } else if !positive {
        let any_info = Matcher::new(MatchOp::RegexMatch, METRIC_NAME, ".+_info")
            .map_err(|e| EvalError::Execution(e.to_string()))?;
        matchers.push(any_info);
    }
    let name_matchers: Vec<Matcher> = matchers
        .iter()
        .filter(|m| m.name == METRIC_NAME)
        .cloned()
        .collect();
    let data_names: HashSet<String> = matchers
        .iter()
        .filter(|m| m.name != METRIC_NAME)
        .map(|m| m.name.clone())
        .collect();
    let empty_ok = matchers
        .iter()
        .filter(|m| m.name != METRIC_NAME)
        .all(Matcher::matches_empty);

    let base = ev.eval_vector(&args[0])?;
    let refs: Vec<i64> = (0..ev.n_steps())
        .map(|i| ref_time(ev, &args[0], ev.ts(i)))
        .collect();
    let infos = ev.select_at_times(&matchers, &refs)?;
    let mut by_id: HashMap<(String, String), Vec<usize>> = HashMap::new();
    for (k, (l, _)) in infos.iter().enumerate() {
        by_id.entry(id_key(l)).or_default().push(k);
    }
    let is_info = |l: &Labels| {
        let n = l.metric_name().unwrap_or("");
        name_matchers.iter().all(|m| m.matches(n))
    };
    let mut out = MatrixBuilder::new();
    ev.for_each_step(&base, |_, i, ts, samples| {
        for &(j, f) in samples {
            let s = &base[j];
            let key = id_key(&s.metric);
            let unchanged = is_info(&s.metric);
            let mut chosen: Vec<(String, usize, i64)> = Vec::new();
            if !unchanged && key != (String::new(), String::new()) {
                for &k in by_id.get(&key).map_or(&[][..], Vec::as_slice) {
                    let Some(t) = infos[k].1[i] else { continue };
                    let name = infos[k].0.metric_name().unwrap_or("").to_string();
                    match chosen.iter_mut().find(|c| c.0 == name) {
                        Some(c) if c.2 < t => *c = (name, k, t),
                        Some(_) => {}
                        None => chosen.push((name, k, t)),
                    }
                }
            }
            let metric = if unchanged {
                s.metric.clone()
            } else if chosen.is_empty() {
                if !empty_ok {
                    continue;
                }
                s.metric.clone()
            } else {
                let mut b = s.metric.builder();
                let mut set: HashMap<&str, &str> = HashMap::new();
                for (_, k, _) in &chosen {
                    for l in infos[*k].0.iter() {
                        if l.name == METRIC_NAME
                            || IDENTIFYING.contains(&l.name.as_str())
                            || s.metric.get(&l.name).is_some()
                            || (!data_names.is_empty() && !data_names.contains(&l.name))
                        {
                            continue;
                        }
                        match set.get(l.name.as_str()) {
                            Some(v) if *v != l.value => {
                                return Err(EvalError::Execution(format!(
                                    "conflicting label: {} has values {:?} and {:?} in different info metrics",
                                    l.name, v, l.value
                                )));
                            }
                            _ => {
                                set.insert(&l.name, &l.value);
                                b.set(&l.name, &l.value);
                            }
                        }
                    }
                }
                b.labels()
            };
            let slot = out.slot(&metric, s.drop_name);
            out.push(slot, ts, f)?;
        }
        Ok(())
    })?;
    Ok(Val::Vector(out.finish()))
}
