//! label_replace and label_join.
//!
//! Mirrors upstream `promql/functions.go` `funcLabelReplace` (anchored RE2 regex, `$1`
//! / `${name}` expansion, empty result deletes the label) and `funcLabelJoin`. Setting
//! `__name__` cancels a pending name drop.

use super::super::super::ast::Expr;
use super::super::eval::{merge_same_labels, Evaluator, Val};
use super::super::EvalError;
use crate::model::METRIC_NAME;

/// Label names PromQL accepts as targets: any non-empty valid UTF-8 (Prometheus 3). `arg`
/// is the expression `name` came from, which may be a literal of bytes that are not UTF-8.
fn valid_label_name(arg: &Expr, name: &str) -> bool {
    !name.is_empty() && arg.invalid_utf8_string().is_none()
}

pub(crate) fn eval_replace(ev: &mut Evaluator<'_>, args: &[Expr]) -> Result<Val, EvalError> {
    let dst = ev.eval_string(&args[1])?;
    let repl = ev.eval_string(&args[2])?;
    let src = ev.eval_string(&args[3])?;
    let re_text = ev.eval_string(&args[4])?;
    // Upstream's message names the pattern, not the reason.
    let re = crate::model::regex::anchored(&re_text).map_err(|_| {
        EvalError::Execution(format!(
            "invalid regular expression in label_replace(): {}",
            crate::model::regex::excerpt(&re_text)
        ))
    })?;
    if !valid_label_name(&args[1], &dst) {
        return Err(EvalError::Execution(format!(
            "invalid destination label name in label_replace(): {dst}"
        )));
    }
    let mut m = ev.eval_vector(&args[0])?;
    for s in &mut m {
        let v = s.metric.get(&src).unwrap_or("");
        if let Some(caps) = re.captures(v) {
            // Go's Regexp.Expand rules, as relabeling expands.
            let res = crate::model::relabel::expand(&repl, &caps, &re);
            let mut b = s.metric.builder();
            b.set(&dst, &res);
            s.metric = b.labels();
            if dst == METRIC_NAME {
                s.drop_name = false;
            }
        }
    }
    Ok(Val::Vector(merge_same_labels(m)?))
}

pub(crate) fn eval_join(ev: &mut Evaluator<'_>, args: &[Expr]) -> Result<Val, EvalError> {
    let dst = ev.eval_string(&args[1])?;
    let sep = ev.eval_string(&args[2])?;
    let mut srcs = Vec::new();
    for a in &args[3..] {
        srcs.push(ev.eval_string(a)?);
    }
    for (a, s) in args[3..].iter().zip(&srcs) {
        if !valid_label_name(a, s) {
            return Err(EvalError::Execution(format!(
                "invalid source label name in label_join(): {s}"
            )));
        }
    }
    if !valid_label_name(&args[1], &dst) {
        return Err(EvalError::Execution(format!(
            "invalid destination label name in label_join(): {dst}"
        )));
    }
    let mut m = ev.eval_vector(&args[0])?;
    for s in &mut m {
        let joined = srcs
            .iter()
            .map(|n| s.metric.get(n).unwrap_or(""))
            .collect::<Vec<_>>()
            .join(&sep);
        let mut b = s.metric.builder();
        b.set(&dst, &joined);
        s.metric = b.labels();
        if dst == METRIC_NAME {
            s.drop_name = false;
        }
    }
    Ok(Val::Vector(merge_same_labels(m)?))
}
