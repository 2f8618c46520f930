//! round(v, to_nearest=1): rounds half up to the nearest multiple of `to_nearest`.
//!
//! Mirrors upstream `promql/functions.go` `funcRound`: `floor(v / to_nearest + 0.5) *
//! to_nearest`, computed via the inverse like upstream so results match bit for bit.

use super::super::super::ast::Expr;
use super::super::eval::{Evaluator, Val};
use super::super::EvalError;
use super::scalar_arg;

/// Rounds `v` to the nearest multiple of `to_nearest`, ties up.
pub fn round(v: f64, to_nearest: f64) -> f64 {
    let inv = 1.0 / to_nearest;
    (v * inv + 0.5).floor() / inv
}

pub(crate) fn eval(ev: &mut Evaluator<'_>, args: &[Expr]) -> Result<Val, EvalError> {
    let mut m = ev.eval_vector(&args[0])?;
    let to = scalar_arg(ev, args, 1, 1.0)?;
    for s in &mut m {
        s.drop_name = true;
        for p in &mut s.floats {
            p.f = round(p.f, to.get(ev.step_of(p.t)).copied().unwrap_or(1.0));
        }
    }
    Ok(Val::Vector(m))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_half_up() {
        assert_eq!(round(2.5, 1.0), 3.0);
        assert_eq!(round(-2.5, 1.0), -2.0);
        assert_eq!(round(1.234, 0.1), 1.2);
        assert_eq!(round(17.0, 5.0), 15.0);
        assert!(round(f64::NAN, 1.0).is_nan());
    }
}
