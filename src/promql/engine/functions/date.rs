//! Calendar functions over Unix seconds in UTC: day_of_month, day_of_week, day_of_year,
//! days_in_month, hour, minute, month, year. Without an argument they read the evaluation
//! time (`vector(time())`).
//!
//! Mirrors upstream `promql/functions.go` `dateWrapper` and the `func<Date>` functions.

use chrono::{DateTime, Datelike, NaiveDate, Timelike, Utc};

use super::super::super::ast::Expr;
use super::super::eval::{Evaluator, Val};
use super::super::value::{FPoint, Series};
use super::super::EvalError;
use crate::model::Labels;

/// A calendar field of a UTC time.
type DateFn = fn(&DateTime<Utc>) -> f64;

fn days_in_month(t: &DateTime<Utc>) -> f64 {
    let (y, m) = (t.year(), t.month());
    let next = if m == 12 {
        NaiveDate::from_ymd_opt(y + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(y, m + 1, 1)
    };
    match (next, NaiveDate::from_ymd_opt(y, m, 1)) {
        (Some(n), Some(f)) => (n - f).num_days() as f64,
        _ => f64::NAN,
    }
}

/// The field function for `name`.
pub fn lookup(name: &str) -> Option<DateFn> {
    Some(match name {
        "day_of_month" => |t| t.day() as f64,
        "day_of_week" => |t| t.weekday().num_days_from_sunday() as f64,
        "day_of_year" => |t| t.ordinal() as f64,
        "days_in_month" => days_in_month,
        "hour" => |t| t.hour() as f64,
        "minute" => |t| t.minute() as f64,
        "month" => |t| t.month() as f64,
        "year" => |t| t.year() as f64,
        _ => return None,
    })
}

/// Applies `f` to the time `secs` (truncated to whole seconds like Go's `int64(v)`).
pub fn apply(f: DateFn, secs: f64) -> f64 {
    if !secs.is_finite() {
        return f64::NAN;
    }
    match DateTime::<Utc>::from_timestamp(secs as i64, 0) {
        Some(t) => f(&t),
        None => f64::NAN,
    }
}

pub(crate) fn eval(ev: &mut Evaluator<'_>, args: &[Expr], f: DateFn) -> Result<Val, EvalError> {
    if args.is_empty() {
        let floats = (0..ev.n_steps())
            .map(|i| {
                let ts = ev.ts(i);
                FPoint {
                    t: ts,
                    f: apply(f, ts.div_euclid(1000) as f64),
                }
            })
            .collect();
        return Ok(Val::Vector(vec![Series {
            metric: Labels::empty(),
            floats,
            drop_name: false,
        }]));
    }
    let mut m = ev.eval_vector(&args[0])?;
    for s in &mut m {
        s.drop_name = true;
        for p in &mut s.floats {
            p.f = apply(f, p.f);
        }
    }
    Ok(Val::Vector(m))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(name: &str, secs: f64) -> f64 {
        lookup(name).map_or(f64::NAN, |f| apply(f, secs))
    }

    #[test]
    fn fields_of_known_dates() {
        // 2024-02-29T13:45:00Z, a Thursday.
        let t = 1_709_214_300.0;
        assert_eq!(field("year", t), 2024.0);
        assert_eq!(field("month", t), 2.0);
        assert_eq!(field("day_of_month", t), 29.0);
        assert_eq!(field("days_in_month", t), 29.0);
        assert_eq!(field("day_of_week", t), 4.0);
        assert_eq!(field("day_of_year", t), 60.0);
        assert_eq!(field("hour", t), 13.0);
        assert_eq!(field("minute", t), 45.0);
        assert_eq!(field("days_in_month", 0.0), 31.0);
        assert!(field("year", f64::NAN).is_nan());
    }
}
