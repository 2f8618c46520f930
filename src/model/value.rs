//! Samples and special float values.
//!
//! A staleness marker is a NaN with a specific bit pattern (`0x7ff0000000000002`), distinct
//! from the NaN arithmetic produces; it must survive storage bit-exactly.

/// Bit pattern of Prometheus' staleness marker.
pub const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;

/// The staleness marker as a float. Compare with [`is_stale_nan`], never `==`.
pub const STALE_NAN: f64 = f64::from_bits(STALE_NAN_BITS);

/// True when `v` is the staleness marker (and not any other NaN).
#[inline]
pub fn is_stale_nan(v: f64) -> bool {
    v.to_bits() == STALE_NAN_BITS
}

/// One float sample: timestamp in milliseconds and value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sample {
    pub t: i64,
    pub v: f64,
}

impl Sample {
    pub fn new(t: i64, v: f64) -> Self {
        Sample { t, v }
    }

    /// Bit-exact equality (NaN payloads included).
    pub fn bit_eq(&self, other: &Sample) -> bool {
        self.t == other.t && self.v.to_bits() == other.v.to_bits()
    }
}

/// The shortest decimal digits that round-trip `v` (finite, positive) as `0.DIGITS ×
/// 10^point`, ties broken to even as Go's `strconv` does (Rust's float `Display` rounds
/// such ties up: `-857138230725305.25` prints `…305.3` there, `…305.2` in Go).
fn shortest_decimal(v: f64, digits: &mut [u8; 24]) -> (usize, i32) {
    let mut b = ryu::Buffer::new();
    decimal_of_ryu(b.format_finite(v), digits)
}

/// [`shortest_decimal`] of text ryu wrote for a finite, positive float.
fn decimal_of_ryu(s: &str, digits: &mut [u8; 24]) -> (usize, i32) {
    let (mant, exp) = match s.split_once('e') {
        Some((m, e)) => (m, e.parse::<i32>().unwrap_or(0)),
        None => (s, 0),
    };
    // Digits of the mantissa without the point; `point` counts integer digits.
    let mut n = 0usize;
    let mut point = 0i32;
    let mut before_point = true;
    for c in mant.bytes() {
        if c == b'.' {
            before_point = false;
            continue;
        }
        if n == 0 && c == b'0' {
            // A leading zero: after the point it moves the first digit right.
            if !before_point {
                point -= 1;
            }
            continue;
        }
        if before_point {
            point += 1;
        }
        if n < digits.len() {
            digits[n] = c;
            n += 1;
        }
    }
    while n > 0 && digits[n - 1] == b'0' {
        n -= 1;
    }
    (n, point + exp)
}

/// Appends Go `strconv.FormatFloat(v, 'f', -1, 64)`.
pub fn push_go_f(out: &mut String, v: f64) {
    if v.is_nan() {
        return out.push_str("NaN");
    }
    if v.is_infinite() {
        return out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
    }
    if v.is_sign_negative() {
        out.push('-');
    }
    let a = v.abs();
    if a < 9.007_199_254_740_992e15 && a == a.trunc() {
        out.push_str(itoa::Buffer::new().format(a as u64));
        return;
    }
    let mut b = ryu::Buffer::new();
    let s = b.format_finite(a);
    if !s.as_bytes().contains(&b'e') {
        // ryu wrote the same shortest digits in positional form: Go's text already, but
        // for the `.0` ryu gives integers (those past 2^53 reach here).
        out.push_str(s.strip_suffix(".0").unwrap_or(s));
        return;
    }
    push_positional(out, s);
}

/// Places the shortest digits of ryu's text `s` for a finite, positive float around the
/// decimal point.
fn push_positional(out: &mut String, s: &str) {
    let mut d = [0u8; 24];
    let (n, p) = decimal_of_ryu(s, &mut d);
    let digits = std::str::from_utf8(&d[..n]).unwrap_or("0");
    if p <= 0 {
        out.push_str("0.");
        (0..-p).for_each(|_| out.push('0'));
        out.push_str(digits);
    } else if p as usize >= n {
        out.push_str(digits);
        (0..p as usize - n).for_each(|_| out.push('0'));
    } else {
        out.push_str(&digits[..p as usize]);
        out.push('.');
        out.push_str(&digits[p as usize..]);
    }
}

/// Go `strconv.FormatFloat(v, 'f', -1, 64)` as a new string.
pub fn format_go_f(v: f64) -> String {
    let mut s = String::new();
    push_go_f(&mut s, v);
    s
}

/// Appends Go `strconv.FormatFloat(v, 'e', -1, 64)`.
pub fn push_go_e(out: &mut String, v: f64) {
    if !v.is_finite() {
        return push_go_f(out, v);
    }
    if v.is_sign_negative() {
        out.push('-');
    }
    let (n, p, d) = if v == 0.0 {
        (1, 1, *b"0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0")
    } else {
        let mut d = [0u8; 24];
        let (n, p) = shortest_decimal(v.abs(), &mut d);
        (n, p, d)
    };
    let digits = std::str::from_utf8(&d[..n]).unwrap_or("0");
    out.push_str(&digits[..1]);
    if n > 1 {
        out.push('.');
        out.push_str(&digits[1..]);
    }
    let e = if v == 0.0 { 0 } else { p - 1 };
    out.push('e');
    out.push(if e < 0 { '-' } else { '+' });
    if e.abs() < 10 {
        out.push('0');
    }
    out.push_str(itoa::Buffer::new().format(e.abs()));
}

/// Go `strconv.FormatFloat(v, 'e', -1, 64)` as a new string: `1e-07`, `1.5e+21`
/// (exponent at least two digits, always signed); `+Inf`, `-Inf`, `NaN`.
pub fn format_go_e(v: f64) -> String {
    let mut s = String::new();
    push_go_e(&mut s, v);
    s
}

/// Go `strconv.FormatFloat(v, 'E', -1, 64)`, promtool's spelling of sample values in
/// `test rules` failures: `1E+00`, `6.5E+01`; `+Inf`, `-Inf`, `NaN` as for `'e'`.
pub fn format_go_upper_e(v: f64) -> String {
    let mut s = format_go_e(v);
    if v.is_finite() {
        s = s.replace('e', "E");
    }
    s
}

/// Formats a float as Go's `strconv.FormatFloat(v, 'g', -1, 64)` does, the form the
/// exposition format and most Prometheus output use: shortest round-trip digits, in exponent
/// form when the decimal exponent is below -4 or at least 6 (Go fixes the `'g'` precision
/// at 6 for shortest output): `1e+06`, `100000`, `1e-05`, `0.0001`; `+Inf`, `-Inf`, `NaN`.
pub fn format_go_float(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    if v == 0.0 {
        return if v.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    let mut d = [0u8; 24];
    let (n, point) = shortest_decimal(v.abs(), &mut d);
    let digits = std::str::from_utf8(&d[..n]).unwrap_or("0");
    let exp = point - 1;
    let neg = v < 0.0;
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    if !(-4..6).contains(&exp) {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push('e');
        out.push(if exp < 0 { '-' } else { '+' });
        let a = exp.unsigned_abs();
        if a < 10 {
            out.push('0');
        }
        out.push_str(&a.to_string());
    } else if exp < 0 {
        out.push_str("0.");
        for _ in 0..(-exp - 1) {
            out.push('0');
        }
        out.push_str(digits);
    } else {
        let int_len = exp as usize + 1;
        if digits.len() <= int_len {
            out.push_str(digits);
            for _ in digits.len()..int_len {
                out.push('0');
            }
        } else {
            out.push_str(&digits[..int_len]);
            out.push('.');
            out.push_str(&digits[int_len..]);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_nan_is_distinct() {
        assert!(is_stale_nan(STALE_NAN));
        assert!(!is_stale_nan(f64::NAN));
        assert!(STALE_NAN.is_nan());
    }

    proptest::proptest! {
        #[test]
        fn ryus_positional_text_is_gos(bits: u64) {
            let v = f64::from_bits(bits);
            if v.is_finite() && v != 0.0 {
                let mut fast = String::new();
                push_go_f(&mut fast, v.abs());
                let mut slow = String::new();
                if v.abs() < 9.007_199_254_740_992e15 && v.abs() == v.abs().trunc() {
                    slow.push_str(itoa::Buffer::new().format(v.abs() as u64));
                } else {
                    push_positional(&mut slow, ryu::Buffer::new().format_finite(v.abs()));
                }
                proptest::prop_assert_eq!(fast, slow);
            }
        }

        #[test]
        fn ryus_positional_text_is_gos_for_everyday_values(m in 0u64..10_000_000_000, e in -12i32..20) {
            let v = m as f64 * 10f64.powi(e) / 1024.0;
            let mut fast = String::new();
            push_go_f(&mut fast, v);
            let mut slow = String::new();
            if v < 9.007_199_254_740_992e15 && v == v.trunc() {
                slow.push_str(itoa::Buffer::new().format(v as u64));
            } else if v != 0.0 {
                push_positional(&mut slow, ryu::Buffer::new().format_finite(v));
            } else {
                slow.push('0');
            }
            proptest::prop_assert_eq!(fast, slow);
        }
    }

    #[test]
    fn go_f_format() {
        for (v, want) in [
            (9_100_000_000_000_000.0, "9100000000000000"),
            (1e16, "10000000000000000"),
            (123.456, "123.456"),
            (0.00001, "0.00001"),
            (1e-7, "0.0000001"),
            (-0.0, "-0"),
            (1.5e21, "1500000000000000000000"),
        ] {
            assert_eq!(format_go_f(v), want, "{v}");
        }
    }

    #[test]
    fn go_e_formats() {
        for (v, e, upper) in [
            (0.0, "0e+00", "0E+00"),
            (1.0, "1e+00", "1E+00"),
            (60.0, "6e+01", "6E+01"),
            (0.25, "2.5e-01", "2.5E-01"),
            (-1234.5, "-1.2345e+03", "-1.2345E+03"),
            (1e-7, "1e-07", "1E-07"),
            (1e300, "1e+300", "1E+300"),
            (f64::INFINITY, "+Inf", "+Inf"),
            (f64::NEG_INFINITY, "-Inf", "-Inf"),
            (f64::NAN, "NaN", "NaN"),
        ] {
            assert_eq!(format_go_e(v), e, "{v}");
            assert_eq!(format_go_upper_e(v), upper, "{v}");
        }
    }

    #[test]
    fn go_float_format() {
        let cases = [
            (1.0, "1"),
            (1e6, "1e+06"),
            (100000.0, "100000"),
            (123456.0, "123456"),
            (1234567.0, "1.234567e+06"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1.5, "1.5"),
            (-2.25, "-2.25"),
            (0.1, "0.1"),
            (1e21, "1e+21"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
            (5e-324, "5e-324"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
            (f64::NAN, "NaN"),
            (-0.0, "-0"),
            (12.0, "12"),
            (123.456, "123.456"),
            // Exact ties round the shortest digits to even, as Go does.
            (-(857_138_230_725_305.0 + 0.25), "-8.571382307253052e+14"),
            (857_138_230_725_305.0 + 0.75, "8.571382307253058e+14"),
            (1e-7, "1e-07"),
            (0.000123, "0.000123"),
            (1.5e300, "1.5e+300"),
        ];
        for (v, want) in cases {
            assert_eq!(format_go_float(v), want, "{v}");
        }
    }
}
