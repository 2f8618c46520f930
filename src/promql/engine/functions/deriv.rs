//! deriv and predict_linear: simple linear regression over the window.
//!
//! Mirrors upstream `promql/functions.go` `linearRegression` (Kahan-compensated sums, a
//! constant series has slope 0), `funcDeriv` and `funcPredictLinear`.

use super::super::super::ast::Expr;
use super::super::eval::{Evaluator, Val};
use super::super::quantile::kahan_sum_inc;
use super::super::value::FPoint;
use super::super::EvalError;
use super::over_windows;

/// Least-squares (slope, intercept) with x in seconds relative to `intercept_time` (ms).
fn linear_regression(samples: &[FPoint], intercept_time: i64) -> (f64, f64) {
    let (mut n, mut sum_x, mut c_x, mut sum_y, mut c_y) = (0.0, 0.0, 0.0, 0.0, 0.0);
    let (mut sum_xy, mut c_xy, mut sum_x2, mut c_x2) = (0.0, 0.0, 0.0, 0.0);
    let init_y = samples[0].f;
    let mut const_y = true;
    for (i, s) in samples.iter().enumerate() {
        if const_y && i > 0 && s.f != init_y {
            const_y = false;
        }
        n += 1.0;
        let x = (s.t - intercept_time) as f64 / 1e3;
        (sum_x, c_x) = kahan_sum_inc(x, sum_x, c_x);
        (sum_y, c_y) = kahan_sum_inc(s.f, sum_y, c_y);
        (sum_xy, c_xy) = kahan_sum_inc(x * s.f, sum_xy, c_xy);
        (sum_x2, c_x2) = kahan_sum_inc(x * x, sum_x2, c_x2);
    }
    if const_y {
        if init_y.is_infinite() {
            return (f64::NAN, f64::NAN);
        }
        return (0.0, init_y);
    }
    sum_x += c_x;
    sum_y += c_y;
    sum_xy += c_xy;
    sum_x2 += c_x2;
    let cov_xy = sum_xy - sum_x * sum_y / n;
    let var_x = sum_x2 - sum_x * sum_x / n;
    let slope = cov_xy / var_x;
    let intercept = sum_y / n - slope * sum_x / n;
    (slope, intercept)
}

/// deriv(v range-vector): per-second slope.
pub(crate) fn eval_deriv(ev: &mut Evaluator<'_>, arg: &Expr) -> Result<Val, EvalError> {
    let mut ra = ev.eval_range_arg(arg)?;
    let m = over_windows(ev, &mut ra, false, |w, _, _, _| {
        // The intercept time only shifts the intercept; the first sample keeps x small.
        (w.len() >= 2).then(|| linear_regression(w, w[0].t).0)
    })?;
    Ok(Val::Vector(m))
}

/// predict_linear(v range-vector, t scalar): value `t` seconds after the evaluation time.
pub(crate) fn eval_predict_linear(
    ev: &mut Evaluator<'_>,
    arg: &Expr,
    dur: &Expr,
) -> Result<Val, EvalError> {
    let d = ev.eval_scalar(dur)?;
    let mut ra = ev.eval_range_arg(arg)?;
    let m = over_windows(ev, &mut ra, false, |w, i, ts, _| {
        if w.len() < 2 {
            return None;
        }
        let (slope, intercept) = linear_regression(w, ts);
        Some(slope * d.get(i).copied().unwrap_or(f64::NAN) + intercept)
    })?;
    Ok(Val::Vector(m))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regression_on_a_line() {
        let s: Vec<FPoint> = (0..5)
            .map(|i| FPoint {
                t: i * 10_000,
                f: 3.0 + 2.0 * (i as f64 * 10.0),
            })
            .collect();
        let (slope, intercept) = linear_regression(&s, 0);
        assert!((slope - 2.0).abs() < 1e-12);
        assert!((intercept - 3.0).abs() < 1e-9);
        // Constant series: slope 0.
        let c = vec![FPoint { t: 0, f: 7.0 }, FPoint { t: 1000, f: 7.0 }];
        assert_eq!(linear_regression(&c, 0), (0.0, 7.0));
        let inf = vec![
            FPoint {
                t: 0,
                f: f64::INFINITY,
            },
            FPoint {
                t: 1000,
                f: f64::INFINITY,
            },
        ];
        assert!(linear_regression(&inf, 0).0.is_nan());
    }
}
