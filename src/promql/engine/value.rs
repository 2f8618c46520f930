//! Result values of PromQL evaluation: scalars, strings, instant vectors and range vectors.
//!
//! Mirrors upstream `promql/value.go` (`Scalar`, `String`, `Sample`, `Vector`, `Series`,
//! `Matrix`) for float samples. `drop_name` carries upstream's delayed `__name__` removal: a
//! function or operator that drops the metric name only flags the series, and the name is
//! removed when the query finishes (so `label_replace(rate(x[5m]), "n", "$1", "__name__",
//! "(.+)")` can still read it).

use std::fmt;

use crate::model::{value::format_go_float, Labels};

/// One float point of a series.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FPoint {
    /// Timestamp in milliseconds.
    pub t: i64,
    /// Value.
    pub f: f64,
}

/// One element of an instant vector.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// The series labels.
    pub metric: Labels,
    /// Timestamp in milliseconds (the evaluation time).
    pub t: i64,
    /// Value.
    pub f: f64,
    /// `__name__` still has to be removed (delayed name removal).
    pub drop_name: bool,
}

/// An instant vector.
pub type Vector = Vec<Sample>;

/// A series of a range vector or of a range query's result.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Series {
    /// The series labels.
    pub metric: Labels,
    /// Points in increasing timestamp order.
    pub floats: Vec<FPoint>,
    /// `__name__` still has to be removed (delayed name removal).
    pub drop_name: bool,
}

/// A range vector or a range query result; sorted by labels when returned from a range query.
pub type Matrix = Vec<Series>;

/// A query result.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// A scalar at time `t`.
    Scalar { t: i64, v: f64 },
    /// A string at time `t`.
    String { t: i64, s: String },
    /// An instant vector.
    Vector(Vector),
    /// A range vector (instant query of a range selector or subquery, or any range query).
    Matrix(Matrix),
}

impl Value {
    /// The upstream type name: "scalar", "string", "vector", "matrix".
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Scalar { .. } => "scalar",
            Value::String { .. } => "string",
            Value::Vector(_) => "vector",
            Value::Matrix(_) => "matrix",
        }
    }
}

impl fmt::Display for Value {
    /// Prints like upstream's `String()` methods: one line per sample or series.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Scalar { t, v } => write!(f, "scalar: {} @[{t}]", format_go_float(*v)),
            Value::String { t, s } => write!(f, "string: {s} @[{t}]"),
            Value::Vector(v) => {
                for s in v {
                    writeln!(f, "{} => {} @[{}]", s.metric, format_go_float(s.f), s.t)?;
                }
                Ok(())
            }
            Value::Matrix(m) => {
                for s in m {
                    write!(f, "{} =>", s.metric)?;
                    for p in &s.floats {
                        write!(f, " {} @[{}]", format_go_float(p.f), p.t)?;
                    }
                    writeln!(f)?;
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_vector_and_scalar() {
        let v = Value::Vector(vec![Sample {
            metric: Labels::from_pairs(&[("a", "b")]),
            t: 1000,
            f: 1e6,
            drop_name: false,
        }]);
        assert_eq!(v.to_string(), "{a=\"b\"} => 1e+06 @[1000]\n");
        assert_eq!(
            Value::Scalar { t: 0, v: f64::NAN }.to_string(),
            "scalar: NaN @[0]"
        );
        assert_eq!(v.type_name(), "vector");
    }
}
