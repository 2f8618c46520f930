//! PromQL functions: dispatch by name and the shared plumbing for the two shapes upstream
//! has — functions over instant vectors (applied per point) and functions over range
//! vectors (applied per sliding window).
//!
//! Mirrors upstream `promql/functions.go` (`FunctionCalls`) and the `*parser.Call` case of
//! `engine.go`. One file per function family, named after it.

pub(crate) mod absent;
pub(crate) mod changes;
pub(crate) mod clamp;
pub(crate) mod date;
pub(crate) mod deriv;
pub(crate) mod extended;
pub(crate) mod histogram;
pub(crate) mod info;
pub(crate) mod label;
pub(crate) mod math;
pub(crate) mod over_time;
pub(crate) mod rate;
pub(crate) mod round;
pub(crate) mod smoothing;
pub(crate) mod sort;
pub mod time;

use super::super::ast::{Call, Expr, MatrixSelector};
use super::eval::{Evaluator, RangeArg, Val};
use super::value::{FPoint, Matrix, Series};
use super::EvalError;

/// Evaluates a function call for all steps.
pub(crate) fn eval_call(ev: &mut Evaluator<'_>, c: &Call) -> Result<Val, EvalError> {
    check_arity(c)?;
    check_extended_modifiers(c)?;
    match per_series_range_arg(c) {
        Some(ms) => ev.in_series_batches(ms, |ev| dispatch(ev, c)),
        None => dispatch(ev, c),
    }
}

/// [`eval_call`] for one batch of a selector read in batches (the caller set them up).
pub(crate) fn eval_call_unbatched(ev: &mut Evaluator<'_>, c: &Call) -> Result<Val, EvalError> {
    check_arity(c)?;
    check_extended_modifiers(c)?;
    dispatch(ev, c)
}

/// The range selector of a call computed series by series from it (every output series
/// from one input series, the other arguments literals), which can therefore read its
/// series in batches ([`Evaluator::in_series_batches`]).
pub(crate) fn per_series_range_arg(c: &Call) -> Option<&MatrixSelector> {
    let name = c.func.name;
    let per_series = over_time::lookup(name).is_some()
        || matches!(
            name,
            "rate"
                | "increase"
                | "delta"
                | "irate"
                | "idelta"
                | "deriv"
                | "predict_linear"
                | "changes"
                | "resets"
                | "double_exponential_smoothing"
        );
    if !per_series {
        return None;
    }
    let mut selector = None;
    for a in &c.args {
        match a.unparen() {
            Expr::MatrixSelector(ms) if selector.is_none() => selector = Some(ms),
            Expr::NumberLiteral(_) | Expr::StringLiteral(_) => {}
            _ => return None,
        }
    }
    selector
}

fn dispatch(ev: &mut Evaluator<'_>, c: &Call) -> Result<Val, EvalError> {
    let args = &c.args;
    let name = c.func.name;
    if let Some(f) = math::lookup(name) {
        return Ok(Val::Vector(map_points(ev, &args[0], f)?));
    }
    if let Some(f) = date::lookup(name) {
        return date::eval(ev, args, f);
    }
    if let Some(f) = over_time::lookup(name) {
        return over_time::eval(ev, name, args, f);
    }
    match name {
        "rate" | "increase" | "delta" => rate::eval_extrapolated(ev, name, &args[0]),
        "irate" | "idelta" => rate::eval_instant(ev, name, &args[0]),
        "deriv" => deriv::eval_deriv(ev, &args[0]),
        "predict_linear" => deriv::eval_predict_linear(ev, &args[0], &args[1]),
        "changes" | "resets" => changes::eval(ev, name, &args[0]),
        "double_exponential_smoothing" => smoothing::eval(ev, args),
        "clamp" | "clamp_min" | "clamp_max" => clamp::eval(ev, name, args),
        "round" => round::eval(ev, args),
        "info" => info::eval(ev, args),
        "label_replace" => label::eval_replace(ev, args),
        "label_join" => label::eval_join(ev, args),
        "sort" | "sort_desc" | "sort_by_label" | "sort_by_label_desc" => sort::eval(ev, name, args),
        "absent" => absent::eval_absent(ev, &args[0]),
        "absent_over_time" => absent::eval_absent_over_time(ev, &args[0]),
        "histogram_quantile" => histogram::eval_quantile(ev, &args[0], &args[1]),
        "histogram_quantiles" => histogram::eval_quantiles(ev, args),
        "histogram_fraction" => histogram::eval_fraction(ev, args),
        "histogram_avg" | "histogram_count" | "histogram_sum" | "histogram_stddev"
        | "histogram_stdvar" => {
            // These only read native histograms, which float series never are.
            ev.eval_vector(&args[0])?;
            Ok(Val::Vector(Vec::new()))
        }
        "time" | "timestamp" | "vector" | "scalar" | "pi" | "start" | "end" | "step" | "range"
        | "min_of" | "max_of" => time::eval(ev, name, args),
        other => Err(EvalError::Execution(format!(
            "function {other:?} is not supported by this engine"
        ))),
    }
}

/// Rejects calls whose argument count the function table does not allow (the parser
/// already does; this protects hand-built trees from out-of-bounds argument reads).
fn check_arity(c: &Call) -> Result<(), EvalError> {
    let n = c.args.len();
    let declared = c.func.arg_types.len();
    let ok = match c.func.variadic {
        0 => n == declared,
        v if v > 0 => n + 1 >= declared && n < declared + v as usize,
        _ => n + 1 >= declared,
    };
    if ok {
        Ok(())
    } else {
        Err(EvalError::Execution(format!(
            "wrong number of arguments for function {:?}: got {n}",
            c.func.name
        )))
    }
}

use crate::promql::functions::{ANCHORED_FUNCTIONS, SMOOTHED_FUNCTIONS};

/// Rejects `anchored`/`smoothed` range selectors (upstream `AnchoredSafeFunctions` /
/// `SmoothedSafeFunctions`) passed to other functions, with
/// upstream's messages.
fn check_extended_modifiers(c: &Call) -> Result<(), EvalError> {
    for a in &c.args {
        let Expr::MatrixSelector(ms) = a.unparen() else {
            continue;
        };
        let vs = &ms.vector_selector;
        if vs.anchored && !ANCHORED_FUNCTIONS.contains(&c.func.name) {
            return Err(EvalError::Execution(format!(
                "anchored modifier can only be used with: {} - not with {}",
                ANCHORED_FUNCTIONS.join(", "),
                c.func.name
            )));
        }
        if vs.smoothed && !SMOOTHED_FUNCTIONS.contains(&c.func.name) {
            return Err(EvalError::Execution(format!(
                "smoothed modifier can only be used with: {} - not with {}",
                SMOOTHED_FUNCTIONS.join(", "),
                c.func.name
            )));
        }
    }
    Ok(())
}

/// Applies `f` to every point of an instant vector; the result drops `__name__`.
pub(crate) fn map_points(
    ev: &mut Evaluator<'_>,
    arg: &Expr,
    mut f: impl FnMut(f64) -> f64,
) -> Result<Matrix, EvalError> {
    let mut m = ev.eval_vector(arg)?;
    for s in &mut m {
        s.drop_name = true;
        for p in &mut s.floats {
            p.f = f(p.f);
        }
    }
    Ok(m)
}

/// Applies `f(window, step, ts, series)` to the window of every series at every step;
/// `None` means no output at that step. `keep_name` is for the few functions that keep
/// `__name__` (`last_over_time`, `first_over_time`).
pub(crate) fn over_windows(
    ev: &mut Evaluator<'_>,
    ra: &mut RangeArg,
    keep_name: bool,
    mut f: impl FnMut(&[FPoint], usize, i64, &Series) -> Option<f64>,
) -> Result<Matrix, EvalError> {
    over_windows_with(
        ev,
        ra,
        keep_name,
        |_| (),
        |_, s, w, _, i, ts| f(w, i, ts, s),
    )
}

/// [`over_windows`] with per-series state: `init` runs once per series before its windows,
/// and `f(state, series, window, first_index, step, ts)` also gets the index in
/// `series.floats` of the window's first point, so functions can precompute per series
/// (e.g. prefix counts) instead of rescanning every window.
pub(crate) fn over_windows_with<S>(
    ev: &mut Evaluator<'_>,
    ra: &mut RangeArg,
    keep_name: bool,
    mut init: impl FnMut(&Series) -> S,
    mut f: impl FnMut(&mut S, &Series, &[FPoint], usize, usize, i64) -> Option<f64>,
) -> Result<Matrix, EvalError> {
    let mut out = Vec::with_capacity(ra.series.len());
    let steps = ev.n_steps();
    for i in 0..ra.series.len() {
        ev.check()?;
        let s = &ra.series[i];
        let mut state = init(s);
        let mut floats = Vec::with_capacity(steps);
        ev.for_each_window_at(ra, s, |i, ts, lo, w| {
            if let Some(v) = f(&mut state, s, w, lo, i, ts) {
                floats.push(FPoint { t: ts, f: v });
            }
        });
        if !floats.is_empty() {
            ev.add_samples(floats.len())?;
            let drop_name = s.drop_name || !keep_name;
            // Each input series is read once: its labels move to the output.
            out.push(Series {
                metric: std::mem::take(&mut ra.series[i].metric),
                floats,
                drop_name,
            });
        }
    }
    Ok(out)
}

/// Fewest windows (series × steps) worth splitting [`over_windows_par`] over threads.
const PARALLEL_WINDOWS_MIN: usize = 50_000;

/// [`over_windows_with`] for functions whose per-window work needs no evaluator state:
/// large inputs are split into contiguous shares of series walked on scoped threads (one
/// per CPU, at most 4), so the output and its order are the same as the sequential
/// walk's.
pub(crate) fn over_windows_par<S>(
    ev: &mut Evaluator<'_>,
    ra: &mut RangeArg,
    keep_name: bool,
    init: impl Fn(&Series) -> S + Sync,
    f: impl Fn(&mut S, &Series, &[FPoint], usize, usize, i64) -> Option<f64> + Sync,
) -> Result<Matrix, EvalError> {
    let grid = ev.window_grid();
    let threads = if ra.series.len().saturating_mul(grid.n) < PARALLEL_WINDOWS_MIN {
        1
    } else {
        std::thread::available_parallelism().map_or(1, |p| p.get().min(4))
    };
    if threads <= 1 {
        return over_windows_with(ev, ra, keep_name, init, |st, s, w, lo, i, ts| {
            f(st, s, w, lo, i, ts)
        });
    }
    ev.check()?;
    let shared: &RangeArg = ra;
    // One share: the output points of each of its series, and its per-step sample counts.
    let walk = |part: &[Series]| {
        let mut counts = vec![0u64; if grid.counted { grid.n } else { 0 }];
        let mut per_step = vec![0u32; counts.len()];
        let outs: Vec<Vec<FPoint>> = part
            .iter()
            .map(|s| {
                let mut state = init(s);
                let mut floats = Vec::with_capacity(grid.n);
                grid.walk(shared, &s.floats, &mut per_step, |i, ts, lo, w| {
                    if let Some(v) = f(&mut state, s, w, lo, i, ts) {
                        floats.push(FPoint { t: ts, f: v });
                    }
                });
                for (c, &p) in counts.iter_mut().zip(&per_step) {
                    *c += u64::from(p);
                }
                floats
            })
            .collect();
        (outs, counts)
    };
    let share = shared.series.len().div_ceil(threads);
    let results: Vec<(Vec<Vec<FPoint>>, Vec<u64>)> = std::thread::scope(|scope| {
        let mut chunks = shared.series.chunks(share);
        let first = chunks.next().unwrap_or_default();
        let handles: Vec<_> = chunks.map(|part| scope.spawn(|| walk(part))).collect();
        let mut res = vec![walk(first)];
        for h in handles {
            match h.join() {
                Ok(r) => res.push(r),
                Err(p) => std::panic::resume_unwind(p),
            }
        }
        res
    });
    let mut total = vec![0u64; if grid.counted { grid.n } else { 0 }];
    let mut out = Vec::with_capacity(ra.series.len());
    let mut i = 0;
    for (outs, counts) in results {
        for (t, c) in total.iter_mut().zip(&counts) {
            *t += c;
        }
        for floats in outs {
            if !floats.is_empty() {
                ev.add_samples(floats.len())?;
                let s = &mut ra.series[i];
                out.push(Series {
                    metric: std::mem::take(&mut s.metric),
                    floats,
                    drop_name: s.drop_name || !keep_name,
                });
            }
            i += 1;
        }
    }
    let total: Vec<u32> = total
        .into_iter()
        .map(|c| u32::try_from(c).unwrap_or(u32::MAX))
        .collect();
    ev.add_queryable(&total);
    Ok(out)
}

/// A per-step scalar argument, or `default` when the optional argument is absent.
pub(crate) fn scalar_arg(
    ev: &mut Evaluator<'_>,
    args: &[Expr],
    i: usize,
    default: f64,
) -> Result<Vec<f64>, EvalError> {
    match args.get(i) {
        Some(e) => ev.eval_scalar(e),
        None => Ok(vec![default; ev.n_steps()]),
    }
}
