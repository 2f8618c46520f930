//! Element-wise math functions: abs, ceil, floor, exp, sqrt, ln, log2, log10, sgn, the
//! trigonometric and hyperbolic functions and their inverses, deg and rad.
//!
//! Mirrors upstream `promql/functions.go` (`funcAbs` ... `funcSgn`, `simpleFloatFunc`);
//! all of them drop the metric name.

/// The float function for `name`, if it is an element-wise math function.
pub fn lookup(name: &str) -> Option<fn(f64) -> f64> {
    Some(match name {
        "abs" => f64::abs,
        "ceil" => f64::ceil,
        "floor" => f64::floor,
        "exp" => f64::exp,
        "sqrt" => f64::sqrt,
        "ln" => f64::ln,
        "log2" => f64::log2,
        "log10" => f64::log10,
        "sin" => f64::sin,
        "cos" => f64::cos,
        "tan" => f64::tan,
        "asin" => f64::asin,
        "acos" => f64::acos,
        "atan" => f64::atan,
        "sinh" => f64::sinh,
        "cosh" => f64::cosh,
        "tanh" => f64::tanh,
        "asinh" => f64::asinh,
        "acosh" => f64::acosh,
        "atanh" => f64::atanh,
        "deg" => |v| v * 180.0 / std::f64::consts::PI,
        "rad" => |v| v * std::f64::consts::PI / 180.0,
        "sgn" => sgn,
        _ => return None,
    })
}

/// -1, 0 or 1 by sign; NaN stays NaN (Go's `math.Signbit`-free variant upstream uses).
pub fn sgn(v: f64) -> f64 {
    if v < 0.0 {
        -1.0
    } else if v > 0.0 {
        1.0
    } else {
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sgn_edges() {
        assert_eq!(sgn(-3.0), -1.0);
        assert_eq!(sgn(2.0), 1.0);
        assert_eq!(sgn(0.0), 0.0);
        assert!(sgn(f64::NAN).is_nan());
        assert_eq!(sgn(f64::NEG_INFINITY), -1.0);
    }

    #[test]
    fn lookup_covers_trig_and_units() {
        let deg = lookup("deg").map(|f| f(std::f64::consts::PI));
        assert_eq!(deg, Some(180.0));
        assert!(lookup("rate").is_none());
        assert_eq!(lookup("ln").map(|f| f(1.0)), Some(0.0));
    }
}
