//! time, timestamp, vector, scalar, pi and the experimental start, end, step, range,
//! min_of, max_of.
//!
//! Mirrors upstream `promql/functions.go` `funcTime`, `funcTimestamp` (the sample's own
//! timestamp when applied directly to a selector), `funcVector`, `funcScalar`, `funcPi`.

use super::super::super::ast::Expr;
use super::super::eval::{go_max, go_min, Evaluator, Val};
use super::super::value::{FPoint, Series};
use super::super::EvalError;
use crate::model::Labels;

pub(crate) fn eval(ev: &mut Evaluator<'_>, name: &str, args: &[Expr]) -> Result<Val, EvalError> {
    let n = ev.n_steps();
    Ok(match name {
        "time" => Val::Scalar((0..n).map(|i| ev.ts(i) as f64 / 1000.0).collect()),
        "pi" => Val::Scalar(vec![std::f64::consts::PI; n]),
        "start" => Val::Scalar(vec![ev.query_start as f64 / 1000.0; n]),
        "end" => Val::Scalar(vec![ev.query_end as f64 / 1000.0; n]),
        "step" => Val::Scalar(vec![ev.query_step as f64 / 1000.0; n]),
        "range" => Val::Scalar(vec![(ev.query_end - ev.query_start) as f64 / 1000.0; n]),
        "min_of" | "max_of" => {
            let a = ev.eval_scalar(&args[0])?;
            let b = ev.eval_scalar(&args[1])?;
            let f = if name == "min_of" { go_min } else { go_max };
            Val::Scalar(a.iter().zip(b.iter()).map(|(&x, &y)| f(x, y)).collect())
        }
        "vector" => {
            let s = ev.eval_scalar(&args[0])?;
            Val::Vector(vec![Series {
                metric: Labels::empty(),
                floats: s
                    .iter()
                    .enumerate()
                    .map(|(i, &f)| FPoint { t: ev.ts(i), f })
                    .collect(),
                drop_name: false,
            }])
        }
        "scalar" => {
            let m = ev.eval_vector(&args[0])?;
            let mut count = vec![0u32; n];
            let mut val = vec![f64::NAN; n];
            for s in &m {
                for p in &s.floats {
                    let i = ev.step_of(p.t);
                    if i < n {
                        count[i] += 1;
                        val[i] = p.f;
                    }
                }
            }
            Val::Scalar(
                (0..n)
                    .map(|i| if count[i] == 1 { val[i] } else { f64::NAN })
                    .collect(),
            )
        }
        _ => {
            // timestamp
            let mut m = match args[0].unparen() {
                Expr::VectorSelector(vs) => ev.eval_vector_selector(vs, true)?,
                other => {
                    let mut m = ev.eval_vector(other)?;
                    for s in &mut m {
                        for p in &mut s.floats {
                            p.f = p.t as f64 / 1000.0;
                        }
                    }
                    m
                }
            };
            for s in &mut m {
                s.drop_name = true;
            }
            Val::Vector(m)
        }
    })
}
