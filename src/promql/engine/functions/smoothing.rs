//! double_exponential_smoothing (formerly holt_winters): Holt's linear smoothing of the
//! window with smoothing factor `sf` and trend factor `tf`, both in (0, 1).
//!
//! Mirrors upstream `promql/functions.go` `funcDoubleExponentialSmoothing` and
//! `calcTrendValue`.

use super::super::super::ast::Expr;
use super::super::eval::{Evaluator, Val};
use super::super::value::FPoint;
use super::super::EvalError;
use super::over_windows;

fn trend(i: usize, tf: f64, s0: f64, s1: f64, b: f64) -> f64 {
    if i == 0 {
        return b;
    }
    tf * (s1 - s0) + (1.0 - tf) * b
}

/// The smoothed value at the end of the window; `None` with fewer than two samples.
pub fn double_exponential_smoothing(w: &[FPoint], sf: f64, tf: f64) -> Option<f64> {
    if w.len() < 2 {
        return None;
    }
    let (mut s0, mut s1) = (0.0, w[0].f);
    let mut b = w[1].f - w[0].f;
    for (i, p) in w.iter().enumerate().skip(1) {
        let x = sf * p.f;
        b = trend(i - 1, tf, s0, s1, b);
        let y = (1.0 - sf) * (s1 + b);
        (s0, s1) = (s1, x + y);
    }
    Some(s1)
}

pub(crate) fn eval(ev: &mut Evaluator<'_>, args: &[Expr]) -> Result<Val, EvalError> {
    let sf = ev.eval_scalar(&args[1])?;
    let tf = ev.eval_scalar(&args[2])?;
    for (&s, &t) in sf.iter().zip(tf.iter()) {
        if s.is_nan() || s <= 0.0 || s >= 1.0 {
            return Err(EvalError::Execution(format!(
                "invalid smoothing factor. Expected: 0 < sf < 1, got: {s:.6}"
            )));
        }
        if t.is_nan() || t <= 0.0 || t >= 1.0 {
            return Err(EvalError::Execution(format!(
                "invalid trend factor. Expected: 0 < tf < 1, got: {t:.6}"
            )));
        }
    }
    let mut ra = ev.eval_range_arg(&args[0])?;
    let m = over_windows(ev, &mut ra, false, |w, i, _, _| {
        double_exponential_smoothing(w, sf[i], tf[i])
    })?;
    Ok(Val::Vector(m))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linear_input_is_followed() {
        let w: Vec<FPoint> = (0..10).map(|i| FPoint { t: i, f: i as f64 }).collect();
        let v = double_exponential_smoothing(&w, 0.5, 0.5).unwrap_or(f64::NAN);
        assert!((v - 9.0).abs() < 1e-9);
        assert_eq!(double_exponential_smoothing(&w[..1], 0.5, 0.5), None);
    }
}
