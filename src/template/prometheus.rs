//! Prometheus' template functions (`template/template.go`) and the expansion of alerting
//! rule labels and annotations (`rules/alerting.go`): the `$labels`, `$externalLabels`,
//! `$externalURL` and `$value` variables, and a failure rendered into the text as
//! `<error expanding template: …>` instead of failing the rule.
//!
//! `query` runs PromQL through a callback the caller provides (the rule manager passes
//! its engine at the evaluation time); its results are `*template.sample` structs with
//! `.Labels` and `.Value`, as upstream.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::fmt::sprintf;
use super::{Func, FuncMap, Template, Value};

/// A query result sample: its labels and value.
pub type Sample = (BTreeMap<String, String>, f64);

/// Runs a PromQL expression for `query`: an instant vector or a scalar (as one sample
/// without labels), or an error message.
pub type QueryFn = Arc<dyn Fn(&str) -> Result<Vec<Sample>, String> + Send + Sync>;

/// What the functions need from the caller.
#[derive(Clone, Default)]
pub struct Context {
    /// `--web.external-url` (its path is `pathPrefix`).
    pub external_url: String,
    /// `None` makes `query` fail with a message saying so (e.g. where no engine exists).
    pub query: Option<QueryFn>,
    /// The evaluation time in seconds, what `now` returns.
    pub now: f64,
}

/// A sample as templates see it.
pub fn sample(labels: &BTreeMap<String, String>, value: f64) -> Value {
    Value::Struct(
        "*template.sample",
        vec![
            ("Labels", Value::StrMap(labels.clone())),
            ("Value", Value::Float(value)),
        ],
    )
}

fn func(f: impl Fn(&[Value]) -> Result<Value, String> + Send + Sync + 'static) -> Func {
    Arc::new(f)
}

fn want(args: &[Value], n: usize) -> Result<(), String> {
    if args.len() != n {
        return Err(format!("wrong number of args: want {n} got {}", args.len()));
    }
    Ok(())
}

fn string_arg(v: &Value) -> Result<String, String> {
    match v {
        Value::Str(s) => Ok(s.clone()),
        other => Err(format!(
            "wrong type for value; expected string; got {}",
            other.type_name()
        )),
    }
}

/// Prometheus' `convertToFloat`.
fn to_float(v: &Value) -> Result<f64, String> {
    match v {
        Value::Float(f) => Ok(*f),
        Value::Int(i) => Ok(*i as f64),
        // Go's ParseFloat and Rust's agree on decimal, exponent and Inf/NaN spellings.
        Value::Str(s) => s
            .parse::<f64>()
            .map_err(|_| format!("strconv.ParseFloat: parsing {s:?}: invalid syntax")),
        other => Err(format!("can't convert {} to float", other.type_name())),
    }
}

fn g4(v: f64) -> String {
    sprintf("%.4g", &[Value::Float(v)])
}

/// `humanize`: SI prefixes, 4 significant digits.
pub fn humanize(v: f64) -> String {
    if v == 0.0 || v.is_nan() || v.is_infinite() {
        return g4(v);
    }
    let mut v = v;
    let mut prefix = "";
    if v.abs() >= 1.0 {
        for p in ["k", "M", "G", "T", "P", "E", "Z", "Y"] {
            if v.abs() < 1000.0 {
                break;
            }
            prefix = p;
            v /= 1000.0;
        }
    } else {
        for p in ["m", "u", "n", "p", "f", "a", "z", "y"] {
            if v.abs() >= 1.0 {
                break;
            }
            prefix = p;
            v *= 1000.0;
        }
    }
    format!("{}{prefix}", g4(v))
}

/// `humanize1024`: binary prefixes.
pub fn humanize1024(v: f64) -> String {
    if v.abs() <= 1.0 || v.is_nan() || v.is_infinite() {
        return g4(v);
    }
    let mut v = v;
    let mut prefix = "";
    for p in ["ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"] {
        if v.abs() < 1024.0 {
            break;
        }
        prefix = p;
        v /= 1024.0;
    }
    format!("{}{prefix}", g4(v))
}

/// `humanizeDuration`: seconds as `1d 2h 3m 4s`, or with SI prefixes below a second.
fn humanize_duration(v: f64) -> String {
    if v.is_nan() || v.is_infinite() {
        return g4(v);
    }
    if v == 0.0 {
        return format!("{}s", g4(v));
    }
    if v.abs() >= 1.0 {
        let (sign, v) = if v < 0.0 { ("-", -v) } else { ("", v) };
        let d = v as i64;
        let (s, m, h, days) = (d % 60, (d / 60) % 60, (d / 3600) % 24, d / 86400);
        if days != 0 {
            return format!("{sign}{days}d {h}h {m}m {s}s");
        }
        if h != 0 {
            return format!("{sign}{h}h {m}m {s}s");
        }
        if m != 0 {
            return format!("{sign}{m}m {s}s");
        }
        return format!("{sign}{}s", g4(v));
    }
    let mut v = v;
    let mut prefix = "";
    for p in ["m", "u", "n", "p", "f", "a", "z", "y"] {
        if v.abs() >= 1.0 {
            break;
        }
        prefix = p;
        v *= 1000.0;
    }
    format!("{}{prefix}s", g4(v))
}

/// `humanizeTimestamp`: Go's `time.Time.String()` in UTC, millisecond precision.
fn humanize_timestamp(v: f64) -> Result<String, String> {
    if v.is_nan() || v.is_infinite() {
        return Ok(g4(v));
    }
    let ns = v * 1e9;
    if !(-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&ns) {
        return Err(format!(
            "{} cannot be represented as a nanoseconds timestamp since it overflows int64",
            super::fmt::sprint_v(&Value::Float(v))
        ));
    }
    let ms = (ns as i64).div_euclid(1_000_000);
    let secs = ms.div_euclid(1000);
    let frac = ms.rem_euclid(1000);
    let days = secs.div_euclid(86400);
    let rem = secs.rem_euclid(86400);
    let (y, mo, d) = civil_from_days(days);
    let mut s = format!(
        "{y:04}-{mo:02}-{d:02} {:02}:{:02}:{:02}",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    );
    if frac != 0 {
        let f = format!("{frac:03}");
        s.push('.');
        s.push_str(f.trim_end_matches('0'));
    }
    s.push_str(" +0000 UTC");
    Ok(s)
}

/// Go's `time.Duration.String()` of `secs` seconds (`1h2m3.5s`, `1.5ms`, `0s`).
pub fn go_duration(secs: f64) -> String {
    let ns = (secs * 1e9) as i64;
    if ns == 0 {
        return "0s".into();
    }
    let neg = ns < 0;
    let u = ns.unsigned_abs();
    let frac = |v: u64, unit: u64| {
        let whole = v / unit;
        let rest = v % unit;
        if rest == 0 {
            whole.to_string()
        } else {
            let digits = unit.to_string().len() - 1;
            let f = format!("{rest:0digits$}");
            format!("{whole}.{}", f.trim_end_matches('0'))
        }
    };
    let body = if u < 1_000 {
        format!("{u}ns")
    } else if u < 1_000_000 {
        format!("{}µs", frac(u, 1_000))
    } else if u < 1_000_000_000 {
        format!("{}ms", frac(u, 1_000_000))
    } else {
        let h = u / 3_600_000_000_000;
        let m = (u / 60_000_000_000) % 60;
        let s = frac(u % 60_000_000_000, 1_000_000_000);
        if h > 0 {
            format!("{h}h{m}m{s}s")
        } else if m > 0 {
            format!("{m}m{s}s")
        } else {
            format!("{s}s")
        }
    };
    if neg {
        format!("-{body}")
    } else {
        body
    }
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Go's deprecated `strings.Title`: the first letter of each word upper-cased.
fn title(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut prev_sep = true;
    for c in s.chars() {
        if prev_sep {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        prev_sep = !(c.is_alphanumeric() || c == '_' || c == '\'');
    }
    out
}

/// Go's `net.SplitHostPort`, enough for `stripPort`/`stripDomain`.
fn split_host_port(hp: &str) -> Option<(&str, &str)> {
    if let Some(rest) = hp.strip_prefix('[') {
        let end = rest.find(']')?;
        let port = rest[end + 1..].strip_prefix(':')?;
        return Some((&rest[..end], port));
    }
    let i = hp.rfind(':')?;
    if hp[..i].contains(':') {
        return None;
    }
    Some((&hp[..i], &hp[i + 1..]))
}

fn url_path(url: &str) -> String {
    let after_scheme = url.find("://").map_or(url, |i| &url[i + 3..]);
    match after_scheme.find('/') {
        Some(i) => {
            let p = &after_scheme[i..];
            p.split(['?', '#']).next().unwrap_or("").to_string()
        }
        None => String::new(),
    }
}

fn as_samples(v: &Value) -> Result<Vec<Value>, String> {
    match v {
        Value::List(l) => Ok(l.clone()),
        Value::Nil => Ok(Vec::new()),
        other => Err(format!(
            "wrong type for value; expected template.queryResult; got {}",
            other.type_name()
        )),
    }
}

fn sample_field(v: &Value, field: &str) -> Option<Value> {
    match v {
        Value::Struct(_, fields) => fields
            .iter()
            .find(|(n, _)| *n == field)
            .map(|(_, x)| x.clone()),
        _ => None,
    }
}

/// Every Prometheus template function, bound to `ctx`.
pub fn funcs(ctx: &Context) -> FuncMap {
    let mut m = FuncMap::new();
    let q = ctx.query.clone();
    m.insert(
        "query".into(),
        func(move |a| {
            want(a, 1)?;
            let expr = string_arg(&a[0])?;
            let Some(q) = &q else {
                return Err("query is not available here".into());
            };
            let rows = q(&expr)?;
            Ok(Value::List(
                rows.iter().map(|(l, v)| sample(l, *v)).collect(),
            ))
        }),
    );
    m.insert(
        "first".into(),
        func(|a| {
            want(a, 1)?;
            as_samples(&a[0])?
                .into_iter()
                .next()
                .ok_or_else(|| "first() called on vector with no elements".to_string())
        }),
    );
    m.insert(
        "label".into(),
        func(|a| {
            want(a, 2)?;
            let name = string_arg(&a[0])?;
            Ok(Value::Str(match sample_field(&a[1], "Labels") {
                Some(Value::StrMap(l)) => l.get(&name).cloned().unwrap_or_default(),
                _ => String::new(),
            }))
        }),
    );
    m.insert(
        "value".into(),
        func(|a| {
            want(a, 1)?;
            Ok(sample_field(&a[0], "Value").unwrap_or(Value::Float(0.0)))
        }),
    );
    m.insert(
        "strvalue".into(),
        func(|a| {
            want(a, 1)?;
            Ok(Value::Str(match sample_field(&a[0], "Labels") {
                Some(Value::StrMap(l)) => l.get("__value__").cloned().unwrap_or_default(),
                _ => String::new(),
            }))
        }),
    );
    m.insert(
        "args".into(),
        func(|a| {
            Ok(Value::Map(
                a.iter()
                    .enumerate()
                    .map(|(i, v)| (format!("arg{i}"), v.clone()))
                    .collect(),
            ))
        }),
    );
    m.insert(
        "reReplaceAll".into(),
        func(|a| {
            want(a, 3)?;
            let (pat, repl, text) = (string_arg(&a[0])?, string_arg(&a[1])?, string_arg(&a[2])?);
            // RE2 syntax, as Go's regexp.MustCompile reads it.
            let re = crate::model::regex::compile(&pat)
                .map_err(|e| format!("regexp: Compile({pat:?}): {e}"))?;
            Ok(Value::Str(
                re.replace_all(&text, repl.as_str()).into_owned(),
            ))
        }),
    );
    m.insert(
        "match".into(),
        func(|a| {
            want(a, 2)?;
            let (pat, s) = (string_arg(&a[0])?, string_arg(&a[1])?);
            let re = crate::model::regex::compile(&pat).map_err(|e| e.to_string())?;
            Ok(Value::Bool(re.is_match(&s)))
        }),
    );
    m.insert(
        "safeHtml".into(),
        func(|a| {
            want(a, 1)?;
            Ok(Value::Str(string_arg(&a[0])?))
        }),
    );
    m.insert(
        "title".into(),
        func(|a| {
            want(a, 1)?;
            Ok(Value::Str(title(&string_arg(&a[0])?)))
        }),
    );
    m.insert(
        "toUpper".into(),
        func(|a| {
            want(a, 1)?;
            Ok(Value::Str(string_arg(&a[0])?.to_uppercase()))
        }),
    );
    m.insert(
        "toLower".into(),
        func(|a| {
            want(a, 1)?;
            Ok(Value::Str(string_arg(&a[0])?.to_lowercase()))
        }),
    );
    m.insert(
        "graphLink".into(),
        func(|a| {
            want(a, 1)?;
            Ok(Value::Str(format!(
                "/graph?g0.expr={}&g0.tab=0",
                super::exec::query_escape(&string_arg(&a[0])?)
            )))
        }),
    );
    m.insert(
        "tableLink".into(),
        func(|a| {
            want(a, 1)?;
            Ok(Value::Str(format!(
                "/graph?g0.expr={}&g0.tab=1",
                super::exec::query_escape(&string_arg(&a[0])?)
            )))
        }),
    );
    m.insert(
        "sortByLabel".into(),
        func(|a| {
            want(a, 2)?;
            let name = string_arg(&a[0])?;
            let mut v = as_samples(&a[1])?;
            let key = |s: &Value| match sample_field(s, "Labels") {
                Some(Value::StrMap(l)) => l.get(&name).cloned().unwrap_or_default(),
                _ => String::new(),
            };
            v.sort_by_key(key);
            Ok(Value::List(v))
        }),
    );
    m.insert(
        "humanize".into(),
        func(|a| {
            want(a, 1)?;
            Ok(Value::Str(humanize(to_float(&a[0])?)))
        }),
    );
    m.insert(
        "humanize1024".into(),
        func(|a| {
            want(a, 1)?;
            Ok(Value::Str(humanize1024(to_float(&a[0])?)))
        }),
    );
    m.insert(
        "humanizeDuration".into(),
        func(|a| {
            want(a, 1)?;
            Ok(Value::Str(humanize_duration(to_float(&a[0])?)))
        }),
    );
    m.insert(
        "humanizePercentage".into(),
        func(|a| {
            want(a, 1)?;
            Ok(Value::Str(format!("{}%", g4(to_float(&a[0])? * 100.0))))
        }),
    );
    m.insert(
        "humanizeTimestamp".into(),
        func(|a| {
            want(a, 1)?;
            humanize_timestamp(to_float(&a[0])?).map(Value::Str)
        }),
    );
    m.insert(
        "parseDuration".into(),
        func(|a| {
            want(a, 1)?;
            let s = string_arg(&a[0])?;
            let ms = crate::model::time::parse_duration(&s).map_err(|e| e.to_string())?;
            Ok(Value::Float(ms as f64 / 1000.0))
        }),
    );
    m.insert(
        "stripPort".into(),
        func(|a| {
            want(a, 1)?;
            let hp = string_arg(&a[0])?;
            Ok(Value::Str(
                split_host_port(&hp).map_or(hp.clone(), |(h, _)| h.to_string()),
            ))
        }),
    );
    m.insert(
        "stripDomain".into(),
        func(|a| {
            want(a, 1)?;
            let hp = string_arg(&a[0])?;
            let (host, port) = split_host_port(&hp).unwrap_or((&hp, ""));
            if host.parse::<std::net::IpAddr>().is_ok() {
                return Ok(Value::Str(hp.clone()));
            }
            let short = host.split('.').next().unwrap_or("");
            Ok(Value::Str(if port.is_empty() {
                short.to_string()
            } else if short.contains(':') {
                format!("[{short}]:{port}")
            } else {
                format!("{short}:{port}")
            }))
        }),
    );
    m.insert(
        "toTime".into(),
        func(|a| {
            want(a, 1)?;
            humanize_timestamp(to_float(&a[0])?).map(Value::Str)
        }),
    );
    m.insert(
        "toDuration".into(),
        func(|a| {
            want(a, 1)?;
            Ok(Value::Str(go_duration(to_float(&a[0])?)))
        }),
    );
    let now = ctx.now;
    m.insert(
        "now".into(),
        func(move |a| {
            want(a, 0)?;
            Ok(Value::Float(now))
        }),
    );
    let url = ctx.external_url.clone();
    m.insert(
        "externalURL".into(),
        func(move |a| {
            want(a, 0)?;
            Ok(Value::Str(url.clone()))
        }),
    );
    let path = url_path(&ctx.external_url);
    m.insert(
        "pathPrefix".into(),
        func(move |a| {
            want(a, 0)?;
            Ok(Value::Str(path.clone()))
        }),
    );
    m
}

/// The data of an alerting rule's templates.
pub struct AlertData<'a> {
    pub labels: &'a BTreeMap<String, String>,
    pub external_labels: &'a BTreeMap<String, String>,
    pub external_url: &'a str,
    pub value: f64,
}

/// Expands one label or annotation template of the alerting rule `rule` as Prometheus
/// does: the variables are declared in front of the text, and an error becomes the text
/// `<error expanding template: …>`.
pub fn expand_alert_template(
    rule: &str,
    text: &str,
    data: &AlertData<'_>,
    funcs: &FuncMap,
) -> String {
    match try_expand_alert_template(rule, text, data, funcs) {
        Ok(s) => s,
        Err(e) => format!("<error expanding template: {e}>"),
    }
}

/// [`expand_alert_template`] with the error returned (for `check rules` and tests).
fn try_expand_alert_template(
    rule: &str,
    text: &str,
    data: &AlertData<'_>,
    funcs: &FuncMap,
) -> Result<String, String> {
    let name = format!("__alert_{rule}");
    let src = format!(
        "{{{{$labels := .Labels}}}}{{{{$externalLabels := .ExternalLabels}}}}\
         {{{{$externalURL := .ExternalURL}}}}{{{{$value := .Value}}}}{text}"
    );
    let t = Template::parse(&name, &src, funcs.clone())
        .map_err(|e| format!("error parsing template {name}: {e}"))?;
    let v = Value::Struct(
        // The type name Go prints for Prometheus' anonymous data struct.
        "struct { Labels map[string]string; ExternalLabels map[string]string; ExternalURL string; Value float64 }",
        vec![
            ("Labels", Value::StrMap(data.labels.clone())),
            (
                "ExternalLabels",
                Value::StrMap(data.external_labels.clone()),
            ),
            ("ExternalURL", Value::Str(data.external_url.to_string())),
            ("Value", Value::Float(data.value)),
        ],
    );
    t.execute(&v)
        .map_err(|e| format!("error executing template {name}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expand(text: &str, value: f64) -> String {
        let labels: BTreeMap<String, String> =
            [("instance", "db-1.example.com:9100"), ("job", "node")]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
        let ext: BTreeMap<String, String> = [("dc".to_string(), "eu".to_string())].into();
        let q: QueryFn = Arc::new(|e: &str| {
            if e == "up" {
                Ok(vec![
                    ([("job".to_string(), "b".to_string())].into(), 0.0),
                    ([("job".to_string(), "a".to_string())].into(), 1.0),
                ])
            } else {
                Err(format!("bad query {e:?}"))
            }
        });
        let ctx = Context {
            external_url: "http://prom.example.com:9090/prefix".into(),
            query: Some(q),
            now: 1_700_000_000.5,
        };
        let data = AlertData {
            labels: &labels,
            external_labels: &ext,
            external_url: &ctx.external_url,
            value,
        };
        expand_alert_template("HighLoad", text, &data, &funcs(&ctx))
    }

    #[test]
    fn humanize_family_matches_prometheus() {
        assert_eq!(humanize(0.0), "0");
        assert_eq!(humanize(1234567.0), "1.235M");
        assert_eq!(humanize(0.0012), "1.2m");
        assert_eq!(humanize(999.0), "999");
        assert_eq!(humanize(-1500.0), "-1.5k");
        assert_eq!(humanize(f64::INFINITY), "+Inf");
        assert_eq!(humanize1024(1024.0), "1ki");
        assert_eq!(humanize1024(1.5 * 1024.0 * 1024.0), "1.5Mi");
        assert_eq!(humanize1024(0.5), "0.5");
        assert_eq!(humanize_duration(0.0), "0s");
        assert_eq!(humanize_duration(90061.0), "1d 1h 1m 1s");
        assert_eq!(humanize_duration(3661.0), "1h 1m 1s");
        assert_eq!(humanize_duration(61.0), "1m 1s");
        assert_eq!(humanize_duration(1.5), "1.5s");
        assert_eq!(humanize_duration(0.0012), "1.2ms");
        assert_eq!(humanize_duration(-61.0), "-1m 1s");
        assert_eq!(
            humanize_timestamp(1_435_065_584.128).unwrap(),
            "2015-06-23 13:19:44.128 +0000 UTC"
        );
        assert_eq!(
            humanize_timestamp(0.0).unwrap(),
            "1970-01-01 00:00:00 +0000 UTC"
        );
        assert!(humanize_timestamp(1e300).is_err());
        assert_eq!(go_duration(0.0), "0s");
        assert_eq!(go_duration(90.5), "1m30.5s");
        assert_eq!(go_duration(3600.0), "1h0m0s");
        assert_eq!(go_duration(0.0015), "1.5ms");
        assert_eq!(go_duration(-2.0), "-2s");
    }

    #[test]
    fn outputs_promtool_2_42_gives() {
        // Each line as `promtool test rules` 2.42 expanded it in an annotation.
        assert_eq!(
            expand("{{ $value | humanize }}|{{ 0.0012 | humanize }}|{{ 1536 | humanize1024 }}|{{ 90061 | humanizeDuration }}|{{ 0.0012 | humanizeDuration }}|{{ 1435065584.128 | humanizeTimestamp }}|{{ 0.934 | humanizePercentage }}", 1234567.0),
            "1.235M|1.2m|1.5ki|1d 1h 1m 1s|1.2ms|2015-06-23 13:19:44.128 +0000 UTC|93.4%"
        );
        assert_eq!(
            expand("{{ $value }}|{{ 1e6 }}|{{ printf \"%.3g %e %5.1f|%q\" 1234.5678 123456.789 2.0 \"hi\" }}|{{ \"a b\" | title }}|{{ $labels.missing }}", 1234567.0),
            "1.234567e+06|1e+06|1.23e+03 1.234568e+05   2.0|\"hi\"|A B|"
        );
        assert_eq!(
            expand("{{ \"db-1.example.com:9100\" | stripDomain }}|{{ \"[::1]:80\" | stripPort }}|{{ js \"<a>\" }}|{{ html \"<&>\" }}|{{ print 1 2 \"a\" 3 }}|{{ len \"abc\" }}|{{ index (args 1 2) \"arg1\" }}", 0.0),
            "db-1:9100|::1|\\u003Ca\\u003E|&lt;&amp;&gt;|1 2a3|3|2"
        );
    }

    #[test]
    fn alert_templates_expand_with_the_prometheus_variables() {
        assert_eq!(
            expand("{{ $labels.instance }} of {{ $labels.job }} in {{ $externalLabels.dc }} is at {{ $value | humanizePercentage }}", 0.934),
            "db-1.example.com:9100 of node in eu is at 93.4%"
        );
        assert_eq!(
            expand(
                "{{ $labels.instance | stripPort }} {{ $labels.instance | stripDomain }}",
                0.0
            ),
            "db-1.example.com db-1:9100"
        );
        assert_eq!(
            expand("{{ pathPrefix }} {{ externalURL }}", 0.0),
            "/prefix http://prom.example.com:9090/prefix"
        );
        assert_eq!(
            expand("{{ graphLink \"rate(x[5m])\" }}", 0.0),
            "/graph?g0.expr=rate%28x%5B5m%5D%29&g0.tab=0"
        );
        assert_eq!(
            expand("{{ range query \"up\" | sortByLabel \"job\" }}{{ .Labels.job }}={{ .Value }} {{ end }}", 0.0),
            "a=1 b=0 "
        );
        assert_eq!(
            expand(
                "{{ with query \"up\" }}{{ . | first | value }}{{ end }}",
                0.0
            ),
            "0"
        );
        assert_eq!(
            expand(
                "{{ (query \"up\" | first | label \"job\") | toUpper }}",
                0.0
            ),
            "B"
        );
        assert_eq!(
            expand(
                "{{ reReplaceAll \"(.*):.*\" \"$1\" $labels.instance | title }}",
                0.0
            ),
            "Db-1.Example.Com"
        );
        assert_eq!(
            expand("{{ if match \"^db-\" $labels.instance }}db{{ end }}", 0.0),
            "db"
        );
        assert_eq!(expand("{{ parseDuration \"1h30m\" }}", 0.0), "5400");
        assert_eq!(
            expand("{{ now }} {{ 5400 | toDuration }} {{ 0 | toTime }}", 0.0),
            "1.7000000005e+09 1h30m0s 1970-01-01 00:00:00 +0000 UTC"
        );
        assert_eq!(expand("{{ $a := args 1 \"x\" }}{{ $a.arg1 }}", 0.0), "x");
    }

    #[test]
    fn errors_become_the_annotation_text() {
        // Checked against promtool 2.42 `test rules`.
        assert_eq!(
            expand("{{ if gt $value 1 }}x{{ end }}", 1234567.0),
            "<error expanding template: error executing template __alert_HighLoad: template: __alert_HighLoad:1:118: executing \"__alert_HighLoad\" at <gt $value 1>: error calling gt: incompatible types for comparison>"
        );
        assert!(expand("{{ .Nope }}", 0.0).ends_with(
            "at <.Nope>: can't evaluate field Nope in type struct { Labels map[string]string; ExternalLabels map[string]string; ExternalURL string; Value float64 }>"
        ));
        assert_eq!(
            expand("{{ query \"bad\" }}", 0.0),
            "<error expanding template: error executing template __alert_HighLoad: template: __alert_HighLoad:1:115: executing \"__alert_HighLoad\" at <query \"bad\">: error calling query: bad query \"bad\">"
        );
        assert_eq!(
            expand("{{ nosuch }}", 0.0),
            "<error expanding template: error parsing template __alert_HighLoad: template: __alert_HighLoad:1: function \"nosuch\" not defined>"
        );
        assert_eq!(
            expand("{{ first (query \"up\" | sortByLabel \"x\") | humanize1024 }}", 0.0),
            "<error expanding template: error executing template __alert_HighLoad: template: __alert_HighLoad:1:154: executing \"__alert_HighLoad\" at <humanize1024>: error calling humanize1024: can't convert *template.sample to float>"
        );
    }
}
