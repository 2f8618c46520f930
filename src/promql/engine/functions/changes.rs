//! changes and resets: count value changes and counter decreases within the window.
//!
//! Mirrors upstream `promql/functions.go` `funcChanges` (NaN to NaN is no change) and
//! `funcResets`.

use super::super::super::ast::Expr;
use super::super::eval::{Evaluator, Val};
use super::super::value::FPoint;
use super::super::EvalError;
use super::over_windows;

/// Number of times the value changed.
pub fn changes(w: &[FPoint]) -> f64 {
    let mut n = 0.0;
    for p in w.windows(2) {
        let (prev, cur) = (p[0].f, p[1].f);
        if cur != prev && !(cur.is_nan() && prev.is_nan()) {
            n += 1.0;
        }
    }
    n
}

/// Number of times the value decreased.
pub fn resets(w: &[FPoint]) -> f64 {
    w.windows(2).filter(|p| p[1].f < p[0].f).count() as f64
}

pub(crate) fn eval(ev: &mut Evaluator<'_>, name: &str, arg: &Expr) -> Result<Val, EvalError> {
    let mut ra = ev.eval_range_arg(arg)?;
    let f = if name == "changes" { changes } else { resets };
    let (anchored, range, offset, at) = (ra.anchored, ra.range, ra.offset, ra.at);
    let m = over_windows(ev, &mut ra, false, |w, _, ts, _| {
        if anchored {
            let end = at.unwrap_or(ts) - offset;
            let e = super::extended::extend_floats(w, end - range, end, false);
            return (!e.is_empty()).then(|| f(&e));
        }
        (!w.is_empty()).then(|| f(w))
    })?;
    Ok(Val::Vector(m))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts() {
        let w: Vec<FPoint> = [1.0, 1.0, 2.0, f64::NAN, f64::NAN, 0.0]
            .iter()
            .enumerate()
            .map(|(i, &f)| FPoint { t: i as i64, f })
            .collect();
        assert_eq!(changes(&w), 3.0);
        assert_eq!(resets(&w), 0.0);
        let r: Vec<FPoint> = [3.0, 1.0, 2.0, 0.0]
            .iter()
            .enumerate()
            .map(|(i, &f)| FPoint { t: i as i64, f })
            .collect();
        assert_eq!(resets(&r), 2.0);
    }
}
