//! Formatting of template values as Go's `fmt` package does: `%v` (what an action prints),
//! `Sprint` (spaces only between two non-string operands) and `Sprintf` with the verbs
//! templates use (`%v %s %q %d %f %F %e %E %g %G %t %x %X %o %b %c %%`), flags
//! (`-+# 0`), width and precision, and Go's in-band errors (`%!d(string=x)`,
//! `%!d(MISSING)`, `%!(EXTRA int=1)`).

use super::Value;
use crate::model::value::format_go_float;

/// `fmt.Sprint(v)`.
pub fn sprint_v(v: &Value) -> String {
    match v {
        Value::Nil => "<nil>".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Int(i) => i.to_string(),
        Value::Float(f) => format_go_float(*f),
        Value::Str(s) => s.clone(),
        Value::List(l) => {
            let parts: Vec<String> = l.iter().map(sprint_v).collect();
            format!("[{}]", parts.join(" "))
        }
        Value::Map(m) => {
            let parts: Vec<String> = m
                .iter()
                .map(|(k, v)| format!("{k}:{}", sprint_v(v)))
                .collect();
            format!("map[{}]", parts.join(" "))
        }
        Value::StrMap(m) => {
            let parts: Vec<String> = m.iter().map(|(k, v)| format!("{k}:{v}")).collect();
            format!("map[{}]", parts.join(" "))
        }
        Value::Struct(_, fields) => {
            let parts: Vec<String> = fields.iter().map(|(_, v)| sprint_v(v)).collect();
            format!("{{{}}}", parts.join(" "))
        }
        Value::Typed(_, v) => sprint_v(v),
    }
}

/// `fmt.Sprint(args...)`: a space between operands when neither is a string.
pub fn sprint(args: &[Value]) -> String {
    let mut out = String::new();
    for (i, a) in args.iter().enumerate() {
        if i > 0 && !matches!(a, Value::Str(_)) && !matches!(args[i - 1], Value::Str(_)) {
            out.push(' ');
        }
        out.push_str(&sprint_v(a));
    }
    out
}

#[derive(Default, Clone, Copy)]
struct Spec {
    minus: bool,
    plus: bool,
    sharp: bool,
    space: bool,
    zero: bool,
    width: Option<usize>,
    prec: Option<usize>,
}

/// `fmt.Sprintf(format, args...)`.
pub fn sprintf(format: &str, args: &[Value]) -> String {
    let mut out = String::new();
    let mut argi = 0;
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut sp = Spec::default();
        while let Some(&f) = chars.peek() {
            match f {
                '-' => sp.minus = true,
                '+' => sp.plus = true,
                '#' => sp.sharp = true,
                ' ' => sp.space = true,
                '0' => sp.zero = true,
                _ => break,
            }
            chars.next();
        }
        let num = |chars: &mut std::iter::Peekable<std::str::Chars>| {
            let mut n: Option<usize> = None;
            while let Some(&d) = chars.peek() {
                if let Some(x) = d.to_digit(10) {
                    n = Some(n.unwrap_or(0).saturating_mul(10).saturating_add(x as usize));
                    chars.next();
                } else {
                    break;
                }
            }
            n
        };
        sp.width = num(&mut chars);
        if chars.peek() == Some(&'.') {
            chars.next();
            sp.prec = Some(num(&mut chars).unwrap_or(0));
        }
        let Some(verb) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = args.get(argi) else {
            out.push_str(&format!("%!{verb}(MISSING)"));
            continue;
        };
        argi += 1;
        out.push_str(&format_one(verb, sp, arg));
    }
    if argi < args.len() {
        let extra: Vec<String> = args[argi..]
            .iter()
            .map(|a| format!("{}={}", a.type_name(), sprint_v(a)))
            .collect();
        out.push_str(&format!("%!(EXTRA {})", extra.join(", ")));
    }
    out
}

fn bad(verb: char, v: &Value) -> String {
    format!("%!{verb}({}={})", v.type_name(), sprint_v(v))
}

fn pad(s: String, sp: Spec, numeric: bool) -> String {
    let Some(w) = sp.width else { return s };
    let len = s.chars().count();
    if len >= w {
        return s;
    }
    let fill = w - len;
    if sp.minus {
        return s + &" ".repeat(fill);
    }
    if sp.zero && numeric {
        // Zeros go after the sign.
        let (sign, rest) = match s.chars().next() {
            Some(c @ ('-' | '+' | ' ')) => (c.to_string(), s[1..].to_string()),
            _ => (String::new(), s),
        };
        return sign + &"0".repeat(fill) + &rest;
    }
    " ".repeat(fill) + &s
}

fn signed(s: String, negative: bool, sp: Spec) -> String {
    if negative {
        s
    } else if sp.plus {
        format!("+{s}")
    } else if sp.space {
        format!(" {s}")
    } else {
        s
    }
}

fn format_one(verb: char, sp: Spec, v: &Value) -> String {
    match (verb, v) {
        ('v', Value::Float(f)) if sp.prec.is_some() => pad(fmt_g(*f, sp, 'e'), sp, true),
        ('v', Value::Int(_) | Value::Float(_)) => {
            let s = sprint_v(v);
            let neg = s.starts_with('-');
            pad(signed(s, neg, sp), sp, true)
        }
        ('v', _) => pad(sprint_v(v), sp, false),
        ('s', Value::Str(s)) => {
            let s = match sp.prec {
                Some(p) => s.chars().take(p).collect(),
                None => s.clone(),
            };
            pad(s, sp, false)
        }
        ('s', Value::List(_) | Value::Map(_) | Value::StrMap(_) | Value::Struct(..)) => {
            pad(sprint_v(v), sp, false)
        }
        ('q', Value::Str(s)) => pad(go_quote(s), sp, false),
        ('q', Value::Int(i)) => pad(
            char::from_u32(*i as u32)
                .map_or_else(|| "'\u{FFFD}'".to_string(), |c| format!("'{c}'")),
            sp,
            false,
        ),
        ('t', Value::Bool(b)) => pad(b.to_string(), sp, false),
        ('d', Value::Int(i)) => {
            let mut s = i.unsigned_abs().to_string();
            if let Some(p) = sp.prec {
                while s.len() < p {
                    s.insert(0, '0');
                }
            }
            if *i < 0 {
                s.insert(0, '-');
            }
            pad(signed(s, *i < 0, sp), sp, sp.prec.is_none())
        }
        ('x' | 'X' | 'o' | 'b', Value::Int(i)) => {
            let a = i.unsigned_abs();
            let mut s = match verb {
                'x' => format!("{a:x}"),
                'X' => format!("{a:X}"),
                'o' => format!("{a:o}"),
                _ => format!("{a:b}"),
            };
            if sp.sharp {
                s.insert_str(
                    0,
                    match verb {
                        'x' => "0x",
                        'X' => "0X",
                        'o' => "0",
                        _ => "0b",
                    },
                );
            }
            if *i < 0 {
                s.insert(0, '-');
            }
            pad(signed(s, *i < 0, sp), sp, true)
        }
        ('x' | 'X', Value::Str(s)) => {
            let hex: String = s
                .bytes()
                .map(|b| {
                    if verb == 'x' {
                        format!("{b:02x}")
                    } else {
                        format!("{b:02X}")
                    }
                })
                .collect();
            pad(hex, sp, false)
        }
        ('c', Value::Int(i)) => pad(
            char::from_u32(*i as u32).unwrap_or('\u{FFFD}').to_string(),
            sp,
            false,
        ),
        ('f' | 'F', Value::Float(f)) => pad(fmt_f(*f, sp.prec.unwrap_or(6), sp), sp, true),
        ('e' | 'E', Value::Float(f)) => {
            let s = fmt_e(*f, sp.prec.unwrap_or(6), sp);
            pad(if verb == 'E' { s.to_uppercase() } else { s }, sp, true)
        }
        ('g' | 'G', Value::Float(f)) => {
            let s = fmt_g(*f, sp, 'e');
            pad(if verb == 'G' { s.to_uppercase() } else { s }, sp, true)
        }
        _ => bad(verb, v),
    }
}

fn special(f: f64, sp: Spec) -> Option<String> {
    if f.is_nan() {
        return Some(if sp.plus { "+NaN" } else { "NaN" }.to_string());
    }
    if f.is_infinite() {
        return Some(if f > 0.0 { "+Inf" } else { "-Inf" }.to_string());
    }
    None
}

fn fmt_f(f: f64, prec: usize, sp: Spec) -> String {
    if let Some(s) = special(f, sp) {
        return s;
    }
    let s = format!("{:.*}", prec, f);
    let neg = s.starts_with('-');
    signed(s, neg, sp)
}

/// `%e` with Go's exponent (sign and at least two digits).
fn fmt_e(f: f64, prec: usize, sp: Spec) -> String {
    if let Some(s) = special(f, sp) {
        return s;
    }
    let s = format!("{:.*e}", prec, f);
    let s = go_exponent(&s);
    let neg = s.starts_with('-');
    signed(s, neg, sp)
}

fn go_exponent(s: &str) -> String {
    let Some(i) = s.find('e') else {
        return s.to_string();
    };
    let (mant, exp) = (&s[..i], &s[i + 1..]);
    let (sign, digits) = match exp.strip_prefix('-') {
        Some(d) => ('-', d),
        None => ('+', exp),
    };
    format!("{mant}e{sign}{digits:0>2}")
}

/// `%g`: shortest digits without a precision, else that many significant digits; exponent
/// form when the exponent is below -4 or at least the precision (6 for shortest).
fn fmt_g(f: f64, sp: Spec, e: char) -> String {
    if let Some(s) = special(f, sp) {
        return s;
    }
    let Some(p) = sp.prec else {
        let s = format_go_float(f);
        let neg = s.starts_with('-');
        return signed(s, neg, sp);
    };
    let p = p.max(1);
    let sci = format!("{:.*e}", p - 1, f);
    let i = sci.find('e').unwrap_or(sci.len());
    let exp: i32 = sci[i + 1..].parse().unwrap_or(0);
    let s = if exp < -4 || exp >= p as i32 {
        let mut mant = sci[..i].to_string();
        if !sp.sharp && mant.contains('.') {
            mant = mant.trim_end_matches('0').trim_end_matches('.').to_string();
        }
        go_exponent(&format!("{mant}{e}{}", &sci[i + 1..]))
    } else {
        let decimals = (p as i32 - 1 - exp).max(0) as usize;
        let mut s = format!("{:.*}", decimals, f);
        if !sp.sharp && s.contains('.') {
            s = s.trim_end_matches('0').trim_end_matches('.').to_string();
        }
        s
    };
    let neg = s.starts_with('-');
    signed(s, neg, sp)
}

/// Go's `strconv.Quote`, for `%q` (the one implementation, shared with PromQL).
pub use crate::model::quote::go_quote;
