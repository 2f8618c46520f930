//! Byte-exact JSON encoding of query results and API envelopes, as Prometheus writes them.
//!
//! Mirrors upstream `web/api/v1/json_codec.go` and `util/jsonutil/marshal.go`
//! (`MarshalTimestamp`, `MarshalValue`) plus `promql/value.go` (`Scalar`/`String`
//! `MarshalJSON`), measured against Prometheus 2.42:
//!
//! * sample timestamps in vectors and matrices are milliseconds written as seconds with
//!   exactly three fraction digits when there is a fraction: `0.250`, `15`, `-1.500`;
//! * sample values are strings, Go `strconv.FormatFloat(v, 'f', -1)` unless the magnitude is
//!   below 1e-6 or at least 1e21, where the `'e'` form is used: `"1000000"`, `"0.000001"`,
//!   `"1e-07"`, `"1.5e+21"`, `"+Inf"`, `"-Inf"`, `"NaN"`;
//! * scalar and string results go through Go's `encoding/json` float: timestamp `1.5`,
//!   `0.25`; the scalar value is always the `'f'` form (`"0.0000001"`);
//! * strings are escaped like Go's `encoding/json` with HTML escaping (`<` is `\u003c`).

use std::fmt::Write as _;

use crate::model::value::{format_go_e, format_go_f, push_go_e, push_go_f};
use crate::model::Labels;
use crate::promql::engine::{Annotations, Value};

/// Appends `s` as a JSON string literal, escaped like Go's `encoding/json`: `"` and `\`,
/// `\n`, `\r`, `\t`, other control characters as `\u00XX`, `<`, `>`, `&` and U+2028/U+2029
/// as `\uXXXX`.
pub fn write_str(out: &mut String, s: &str) {
    out.push('"');
    let mut start = 0;
    for (i, c) in s.char_indices() {
        let esc: Option<&str> = match c {
            '"' => Some("\\\""),
            '\\' => Some("\\\\"),
            '\n' => Some("\\n"),
            '\r' => Some("\\r"),
            '\t' => Some("\\t"),
            _ => None,
        };
        let needs_u = matches!(
            c,
            '\u{0}'..='\u{1f}' | '<' | '>' | '&' | '\u{2028}' | '\u{2029}'
        );
        if esc.is_none() && !needs_u {
            continue;
        }
        out.push_str(&s[start..i]);
        match esc {
            Some(e) => out.push_str(e),
            None => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
        }
        start = i + c.len_utf8();
    }
    out.push_str(&s[start..]);
    out.push('"');
}

/// Appends a millisecond timestamp as upstream `MarshalTimestamp` does: integer seconds,
/// then `.` and three digits when the milliseconds are not zero.
fn write_timestamp(out: &mut String, t: i64) {
    let a = t.unsigned_abs();
    if t < 0 {
        out.push('-');
    }
    out.push_str(itoa::Buffer::new().format(a / 1000));
    let frac = a % 1000;
    if frac != 0 {
        out.push('.');
        let digits = [
            b'0' + (frac / 100) as u8,
            b'0' + (frac / 10 % 10) as u8,
            b'0' + (frac % 10) as u8,
        ];
        out.push_str(std::str::from_utf8(&digits).unwrap_or("000"));
    }
}

/// Appends `format_value(v)` without an intermediate `String`.
fn push_value(out: &mut String, v: f64) {
    let a = v.abs();
    if a != 0.0 && a.is_finite() && !(1e-6..1e21).contains(&a) {
        push_go_e(out, v)
    } else {
        push_go_f(out, v)
    }
}

/// A sample value as upstream `MarshalValue` writes it (without the quotes).
#[cfg(test)]
pub fn format_value(v: f64) -> String {
    let mut s = String::new();
    push_value(&mut s, v);
    s
}

/// A number as Go's `encoding/json` writes a float64 (used for scalar and string result
/// timestamps): the `'f'` form, or the `'e'` form with a minimal exponent outside
/// [1e-6, 1e21).
pub fn format_go_json_number(v: f64) -> String {
    let a = v.abs();
    if a != 0.0 && !(1e-6..1e21).contains(&a) {
        let s = format_go_e(v);
        // encoding/json trims "e-07" to "e-7".
        match s.find("e-0") {
            Some(i) => format!("{}e-{}", &s[..i], &s[i + 3..]),
            None => s,
        }
    } else {
        format_go_f(v)
    }
}

/// Appends a label set as a JSON object in label order.
pub fn write_labels(out: &mut String, labels: &Labels) {
    out.push('{');
    for (i, l) in labels.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_str(out, &l.name);
        out.push(':');
        write_str(out, &l.value);
    }
    out.push('}');
}

/// Appends `[t,"v"]`.
fn write_point(out: &mut String, t: i64, v: f64) {
    out.push('[');
    write_timestamp(out, t);
    out.push_str(",\"");
    push_value(out, v);
    out.push_str("\"]");
}

/// Appends the `data` object of a query response: `{"resultType":...,"result":...}`.
pub fn write_query_data(out: &mut String, value: &Value) {
    out.push_str("{\"resultType\":\"");
    out.push_str(value.type_name());
    out.push_str("\",\"result\":");
    match value {
        Value::Scalar { t, v } => {
            out.push('[');
            out.push_str(&format_go_json_number(*t as f64 / 1000.0));
            out.push_str(",\"");
            out.push_str(&format_go_f(*v));
            out.push_str("\"]");
        }
        Value::String { t, s } => {
            out.push('[');
            out.push_str(&format_go_json_number(*t as f64 / 1000.0));
            out.push(',');
            write_str(out, s);
            out.push(']');
        }
        Value::Vector(vec) => {
            out.push('[');
            for (i, s) in vec.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str("{\"metric\":");
                write_labels(out, &s.metric);
                out.push_str(",\"value\":");
                write_point(out, s.t, s.f);
                out.push('}');
            }
            out.push(']');
        }
        Value::Matrix(m) => {
            out.push('[');
            for (i, s) in m.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str("{\"metric\":");
                write_labels(out, &s.metric);
                out.push_str(",\"values\":[");
                for (j, p) in s.floats.iter().enumerate() {
                    if j > 0 {
                        out.push(',');
                    }
                    write_point(out, p.t, p.f);
                }
                out.push_str("]}");
            }
            out.push(']');
        }
    }
    out.push('}');
}

fn write_str_array(out: &mut String, items: &[String]) {
    out.push('[');
    for (i, s) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_str(out, s);
    }
    out.push(']');
}

/// A complete success envelope around already encoded `data`, with the non-empty
/// `warnings` and `infos` arrays after it (upstream field order).
pub fn success_envelope(data: &str, annotations: &Annotations) -> String {
    let mut out = String::with_capacity(data.len() + 64);
    out.push_str("{\"status\":\"success\",\"data\":");
    out.push_str(data);
    finish_success(&mut out, annotations);
    out
}

/// A complete success envelope around a query result, written straight into one buffer
/// sized from the result (large range results are megabytes; growing and copying them
/// cost more than formatting).
pub fn query_success(value: &Value, annotations: &Annotations) -> String {
    let mut out = String::with_capacity(estimate_query_data_len(value) + 64);
    out.push_str("{\"status\":\"success\",\"data\":");
    write_query_data(&mut out, value);
    finish_success(&mut out, annotations);
    out
}

fn finish_success(out: &mut String, annotations: &Annotations) {
    if !annotations.warnings.is_empty() {
        out.push_str(",\"warnings\":");
        write_str_array(out, &annotations.warnings);
    }
    if !annotations.infos.is_empty() {
        out.push_str(",\"infos\":");
        write_str_array(out, &annotations.infos);
    }
    out.push('}');
}

/// Roughly the length [`write_query_data`] will produce (a little over for typical data).
fn estimate_query_data_len(value: &Value) -> usize {
    let labels = |l: &Labels| -> usize { l.iter().map(|x| x.name.len() + x.value.len() + 6).sum() };
    64 + match value {
        Value::Vector(v) => v.iter().map(|s| labels(&s.metric) + 56).sum(),
        Value::Matrix(m) => m
            .iter()
            .map(|s| labels(&s.metric) + 32 + s.floats.len() * 28)
            .sum(),
        _ => 64,
    }
}

/// A complete error envelope: `{"status":"error","errorType":...,"error":...}`.
pub fn error_envelope(error_type: &str, message: &str) -> String {
    let mut out = String::with_capacity(message.len() + 64);
    out.push_str("{\"status\":\"error\",\"errorType\":");
    write_str(&mut out, error_type);
    out.push_str(",\"error\":");
    write_str(&mut out, message);
    out.push('}');
    out
}

/// Encodes a list of strings (label names or values) as a JSON array.
pub fn string_array(items: &[String]) -> String {
    let mut out = String::new();
    write_str_array(&mut out, items);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::STALE_NAN;
    use crate::promql::engine::{FPoint, Sample, Series};
    use proptest::prelude::*;

    #[test]
    fn floats_format_as_go_strconv_does() {
        // Expected strings are what Prometheus 2.42 returns for `vector(X)`.
        for (v, want) in [
            (0.0, "0"),
            (-0.0, "-0"),
            (1.0, "1"),
            (-1.5, "-1.5"),
            (0.1, "0.1"),
            (1e-4, "0.0001"),
            (1e-6, "0.000001"),
            (1e-7, "1e-07"),
            (123.456, "123.456"),
            (1e15, "1000000000000000"),
            (1e20, "100000000000000000000"),
            (1e21, "1e+21"),
            (1.5e21, "1.5e+21"),
            (2f64.powi(60), "1152921504606847000"),
            (f64::MAX, "1.7976931348623157e+308"),
            (5e-324, "5e-324"),
            (1.2345678901234567e-5, "0.000012345678901234568"),
            // Exact ties: Go rounds the shortest digits to even, Rust's Display up.
            (-(857_138_230_725_305.0 + 0.25), "-857138230725305.2"),
            (857_138_230_725_305.0 + 0.75, "857138230725305.8"),
            (f64::NAN, "NaN"),
            (f64::INFINITY, "+Inf"),
            (-f64::INFINITY, "-Inf"),
        ] {
            assert_eq!(format_value(v), want, "{v:e}");
        }
        let mut t = String::new();
        write_timestamp(&mut t, -1_500);
        t.push(' ');
        write_timestamp(&mut t, 1_700_000_000_007);
        t.push(' ');
        write_timestamp(&mut t, 42_000);
        assert_eq!(t, "-1.500 1700000000.007 42");
    }

    /// Significant digits of a formatted number (mantissa without sign, point, exponent
    /// and leading/trailing zeros).
    fn sig_digits(s: &str) -> String {
        let m = s.split('e').next().unwrap_or("");
        let d: String = m.chars().filter(char::is_ascii_digit).collect();
        d.trim_start_matches('0').trim_end_matches('0').to_string()
    }

    proptest! {
        #[test]
        fn any_float_round_trips_with_shortest_digits(bits in any::<u64>()) {
            let v = f64::from_bits(bits);
            prop_assume!(v.is_finite());
            for s in [format_go_f(v), format_go_e(v), format_value(v)] {
                let back: f64 = s.parse().unwrap();
                prop_assert_eq!(back.to_bits(), v.to_bits(), "{}", s);
                if v != 0.0 {
                    let r = ryu::Buffer::new().format_finite(v).to_string();
                    prop_assert_eq!(sig_digits(&s), sig_digits(&r), "{} vs {}", s, r);
                }
            }
        }
    }

    #[test]
    fn values_match_prometheus_2_42() {
        // Measured with Debian's prometheus 2.42 on vector(...) queries.
        let cases = [
            (1.0, "1"),
            (1e6, "1000000"),
            (1e-6, "0.000001"),
            (9.99e-7, "9.99e-07"),
            (1e-7, "1e-07"),
            (2.5e-10, "2.5e-10"),
            (1e21, "1e+21"),
            (1.5e21, "1.5e+21"),
            (123456789012345678.0, "123456789012345680"),
            (-0.0, "-0"),
            (0.0, "0"),
            (3.0649717497991636e-9, "3.0649717497991636e-09"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
            (f64::NAN, "NaN"),
            (STALE_NAN, "NaN"),
            (1e300, "1e+300"),
            (f64::MIN_POSITIVE, "2.2250738585072014e-308"),
            (5e-324, "5e-324"),
        ];
        for (v, want) in cases {
            assert_eq!(format_value(v), want, "{v:e}");
        }
        assert_eq!(format_go_f(1e-7), "0.0000001");
        assert_eq!(format_go_f(1.5e21), "1500000000000000000000");
        assert_eq!(format_go_f(-1e-7), "-0.0000001");
    }

    #[test]
    fn timestamps() {
        let mut s = String::new();
        for t in [
            0,
            250,
            1000,
            15_500,
            -1500,
            1_700_000_000_123,
            i64::MIN,
            i64::MAX,
        ] {
            write_timestamp(&mut s, t);
            s.push(' ');
        }
        assert_eq!(
            s,
            "0 0.250 1 15.500 -1.500 1700000000.123 -9223372036854775.808 9223372036854775.807 "
        );
        assert_eq!(format_go_json_number(1.5), "1.5");
        assert_eq!(format_go_json_number(0.25), "0.25");
        assert_eq!(format_go_json_number(1_700_000_000.123), "1700000000.123");
        assert_eq!(format_go_json_number(-1.5), "-1.5");
        assert_eq!(format_go_json_number(0.0), "0");
        assert_eq!(format_go_json_number(1e-7), "1e-7");
    }

    #[test]
    fn strings_escape_like_go() {
        let mut s = String::new();
        write_str(&mut s, "x<&>\"\\\n\t\u{1}é\u{2028}");
        assert_eq!(s, r#""x\u003c\u0026\u003e\"\\\n\t\u0001é\u2028""#);
    }

    #[test]
    fn query_data_shapes() {
        let m = Labels::from_pairs(&[("__name__", "m"), ("a", "x<&>")]);
        let mut s = String::new();
        write_query_data(
            &mut s,
            &Value::Vector(vec![Sample {
                metric: m.clone(),
                t: 20_000,
                f: 1e-7,
                drop_name: false,
            }]),
        );
        assert_eq!(
            s,
            r#"{"resultType":"vector","result":[{"metric":{"__name__":"m","a":"x\u003c\u0026\u003e"},"value":[20,"1e-07"]}]}"#
        );
        s.clear();
        write_query_data(
            &mut s,
            &Value::Matrix(vec![Series {
                metric: Labels::empty(),
                floats: vec![FPoint { t: 250, f: 1.0 }, FPoint { t: 15_000, f: 2.0 }],
                drop_name: false,
            }]),
        );
        assert_eq!(
            s,
            r#"{"resultType":"matrix","result":[{"metric":{},"values":[[0.250,"1"],[15,"2"]]}]}"#
        );
        s.clear();
        write_query_data(&mut s, &Value::Scalar { t: 1500, v: 1e-7 });
        assert_eq!(s, r#"{"resultType":"scalar","result":[1.5,"0.0000001"]}"#);
        s.clear();
        write_query_data(
            &mut s,
            &Value::String {
                t: 2000,
                s: "a<b".into(),
            },
        );
        assert_eq!(s, r#"{"resultType":"string","result":[2,"a\u003cb"]}"#);
        s.clear();
        write_query_data(&mut s, &Value::Vector(vec![]));
        assert_eq!(s, r#"{"resultType":"vector","result":[]}"#);
    }

    #[test]
    fn envelopes() {
        let mut a = Annotations::default();
        assert_eq!(
            success_envelope("[]", &a),
            r#"{"status":"success","data":[]}"#
        );
        a.warn("w");
        a.info("i");
        assert_eq!(
            success_envelope("1", &a),
            r#"{"status":"success","data":1,"warnings":["PromQL warning: w"],"infos":["PromQL info: i"]}"#
        );
        assert_eq!(
            error_envelope("bad_data", "x \"<\""),
            r#"{"status":"error","errorType":"bad_data","error":"x \"\u003c\""}"#
        );
    }
}
