//! absent and absent_over_time: a 1-valued series when the argument has no data, labelled
//! from the selector's equality matchers.
//!
//! Mirrors upstream `promql/functions.go` `funcAbsent`, `funcAbsentOverTime` and
//! `createLabelsForAbsentFunction` (a label matched for equality twice is dropped).

use std::collections::HashSet;

use super::super::super::ast::Expr;
use super::super::eval::{Evaluator, Val};
use super::super::value::{FPoint, Series};
use super::super::EvalError;
use crate::model::{Labels, LabelsBuilder, MatchOp, Matcher, METRIC_NAME};

/// The labels of the series `absent` returns for a selector with `matchers`.
fn labels_for_absent(matchers: &[Matcher]) -> Labels {
    let mut b = LabelsBuilder::new();
    let mut has: HashSet<&str> = HashSet::new();
    for m in matchers {
        if m.name == METRIC_NAME {
            continue;
        }
        if m.op == MatchOp::Equal && !has.contains(m.name.as_str()) {
            b.set(&m.name, &m.value);
            has.insert(&m.name);
        } else {
            b.del(&m.name);
        }
    }
    b.labels()
}

fn one_series(metric: Labels, steps: Vec<i64>) -> Vec<Series> {
    if steps.is_empty() {
        return Vec::new();
    }
    vec![Series {
        metric,
        floats: steps.into_iter().map(|t| FPoint { t, f: 1.0 }).collect(),
        drop_name: false,
    }]
}

pub(crate) fn eval_absent(ev: &mut Evaluator<'_>, arg: &Expr) -> Result<Val, EvalError> {
    let m = ev.eval_vector(arg)?;
    let mut present = vec![false; ev.n_steps()];
    for s in &m {
        for p in &s.floats {
            if let Some(x) = present.get_mut(ev.step_of(p.t)) {
                *x = true;
            }
        }
    }
    let labels = match arg {
        Expr::VectorSelector(vs) => labels_for_absent(&vs.matchers),
        _ => Labels::empty(),
    };
    let steps = (0..ev.n_steps())
        .filter(|&i| !present[i])
        .map(|i| ev.ts(i))
        .collect();
    Ok(Val::Vector(one_series(labels, steps)))
}

pub(crate) fn eval_absent_over_time(ev: &mut Evaluator<'_>, arg: &Expr) -> Result<Val, EvalError> {
    let ra = ev.eval_range_arg(arg)?;
    let mut present = vec![false; ev.n_steps()];
    for s in &ra.series {
        ev.for_each_window(&ra, s, |i, _, w| {
            if !w.is_empty() {
                present[i] = true;
            }
        });
    }
    let labels = match (arg, &ra.selector) {
        (Expr::MatrixSelector(_), Some(vs)) => labels_for_absent(&vs.matchers),
        _ => Labels::empty(),
    };
    let steps = (0..ev.n_steps())
        .filter(|&i| !present[i])
        .map(|i| ev.ts(i))
        .collect();
    Ok(Val::Vector(one_series(labels, steps)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_labels_from_equality_matchers() {
        let ms = vec![
            Matcher::equal("job", "a"),
            Matcher::equal("job", "b"),
            Matcher::equal("env", "prod"),
            Matcher::equal(METRIC_NAME, "up"),
        ];
        let got = labels_for_absent(&ms);
        assert_eq!(got, Labels::from_pairs(&[("env", "prod")]));
        let re = Matcher::new(MatchOp::RegexMatch, "x", "a.*").map(|m| vec![m]);
        assert_eq!(
            re.map(|m| labels_for_absent(&m)).ok(),
            Some(Labels::empty())
        );
    }
}
