//! clamp, clamp_min, clamp_max.
//!
//! Mirrors upstream `promql/functions.go` `funcClamp` (no output when max < min),
//! `funcClampMin`, `funcClampMax`, with Go's NaN-propagating `math.Max`/`math.Min`.

use super::super::super::ast::Expr;
use super::super::eval::{go_max, go_min, Evaluator, Val};
use super::super::value::Series;
use super::super::EvalError;

pub(crate) fn eval(ev: &mut Evaluator<'_>, name: &str, args: &[Expr]) -> Result<Val, EvalError> {
    let m = ev.eval_vector(&args[0])?;
    let a = ev.eval_scalar(&args[1])?;
    let b = if name == "clamp" {
        Some(ev.eval_scalar(&args[2])?)
    } else {
        None
    };
    let mut out = Vec::with_capacity(m.len());
    for s in m {
        let mut floats = Vec::with_capacity(s.floats.len());
        for mut p in s.floats {
            let i = ev.step_of(p.t);
            let x = a.get(i).copied().unwrap_or(f64::NAN);
            p.f = match name {
                "clamp_min" => go_max(p.f, x),
                "clamp_max" => go_min(p.f, x),
                _ => {
                    let max = b
                        .as_ref()
                        .and_then(|b| b.get(i).copied())
                        .unwrap_or(f64::NAN);
                    if max < x {
                        continue;
                    }
                    go_max(x, go_min(max, p.f))
                }
            };
            floats.push(p);
        }
        if !floats.is_empty() {
            out.push(Series {
                metric: s.metric,
                floats,
                drop_name: true,
            });
        }
    }
    Ok(Val::Vector(out))
}
