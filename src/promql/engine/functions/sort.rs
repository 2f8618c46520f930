//! sort, sort_desc, sort_by_label, sort_by_label_desc: order an instant query's result.
//!
//! Mirrors upstream `promql/functions.go` `funcSort` (NaN last), `funcSortDesc` (NaN last),
//! `funcSortByLabel` (natural order of label values, then the full label set). Range query
//! results are always ordered by labels, so there these only add upstream's warning.

use std::cmp::Ordering;

use super::super::super::ast::Expr;
use super::super::eval::{Evaluator, Val};
use super::super::value::Series;
use super::super::EvalError;

/// Natural order: runs of digits compare numerically, everything else bytewise.
fn natural_cmp(a: &str, b: &str) -> Ordering {
    let (ab, bb) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    while i < ab.len() && j < bb.len() {
        if ab[i].is_ascii_digit() && bb[j].is_ascii_digit() {
            let si = i;
            while i < ab.len() && ab[i].is_ascii_digit() {
                i += 1;
            }
            let sj = j;
            while j < bb.len() && bb[j].is_ascii_digit() {
                j += 1;
            }
            let na = a[si..i].trim_start_matches('0');
            let nb = b[sj..j].trim_start_matches('0');
            let o = na.len().cmp(&nb.len()).then_with(|| na.cmp(nb));
            if o != Ordering::Equal {
                return o;
            }
        } else {
            let o = ab[i].cmp(&bb[j]);
            if o != Ordering::Equal {
                return o;
            }
            i += 1;
            j += 1;
        }
    }
    (ab.len() - i).cmp(&(bb.len() - j))
}

fn value(s: &Series) -> f64 {
    s.floats.first().map_or(f64::NAN, |p| p.f)
}

pub(crate) fn eval(ev: &mut Evaluator<'_>, name: &str, args: &[Expr]) -> Result<Val, EvalError> {
    let mut labels = Vec::new();
    for a in &args[1..] {
        labels.push(ev.eval_string(a)?);
    }
    let mut m = ev.eval_vector(&args[0])?;
    if ev.start != ev.end {
        ev.annos.warn(
            "sort is ineffective for range queries since results are always ordered by labels",
        );
        return Ok(Val::Vector(m));
    }
    match name {
        "sort" | "sort_desc" => {
            let desc = name == "sort_desc";
            m.sort_by(|a, b| {
                let (x, y) = (value(a), value(b));
                match (x.is_nan(), y.is_nan()) {
                    (true, true) => Ordering::Equal,
                    (true, false) => Ordering::Greater,
                    (false, true) => Ordering::Less,
                    _ => {
                        let o = x.partial_cmp(&y).unwrap_or(Ordering::Equal);
                        if desc {
                            o.reverse()
                        } else {
                            o
                        }
                    }
                }
            });
        }
        _ => {
            let desc = name == "sort_by_label_desc";
            m.sort_by(|a, b| {
                for l in &labels {
                    let (x, y) = (a.metric.get(l).unwrap_or(""), b.metric.get(l).unwrap_or(""));
                    if x == y {
                        continue;
                    }
                    let o = natural_cmp(x, y);
                    return if desc { o.reverse() } else { o };
                }
                let o = a.metric.cmp(&b.metric);
                if desc {
                    o.reverse()
                } else {
                    o
                }
            });
        }
    }
    Ok(Val::Vector(m))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn natural_order() {
        assert_eq!(natural_cmp("a2", "a10"), Ordering::Less);
        assert_eq!(natural_cmp("a10", "a2"), Ordering::Greater);
        assert_eq!(natural_cmp("abc", "abd"), Ordering::Less);
        assert_eq!(natural_cmp("a", "a1"), Ordering::Less);
        assert_eq!(natural_cmp("a01", "a1"), Ordering::Equal);
    }
}
