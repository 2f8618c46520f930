//! Lints a text-format exposition as `promtool check metrics` does (client_golang's
//! `testutil/promlint`): missing HELP, non-base and abbreviated units, counters without
//! `_total`, `_total`/`_bucket`/`_count`/`_sum` on the wrong types, reserved `le` and
//! `quantile` labels, the type in the name, `:` in names, camelCase names and labels.
//!
//! Families are formed as Go's text parser forms them: a sample joins the family of its
//! own name, or of its name without `_sum`/`_count` (summaries) or `_sum`/`_count`/
//! `_bucket` (histograms); a name without `# TYPE` is untyped; families without samples
//! are dropped. Problems come sorted by metric name, then text, as promlint sorts them.

use std::collections::HashMap;

use super::entry::{Entry, MetricType};
use super::error::ParseError;
use super::{parse, Format};

/// One lint finding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub metric: String,
    pub text: String,
}

#[derive(Default)]
struct Family {
    /// `None`: untyped.
    typ: Option<MetricType>,
    help: Option<String>,
    /// Label names of each sample, as the parser keeps them.
    label_names: Vec<Vec<String>>,
    samples: usize,
}

/// Base units by unit name (promlint's `units`).
const UNITS: &[(&str, &str)] = &[
    ("amperes", "amperes"),
    ("bytes", "bytes"),
    ("celsius", "celsius"),
    ("grams", "grams"),
    ("joules", "joules"),
    ("kelvin", "kelvin"),
    ("meters", "meters"),
    ("metres", "metres"),
    ("seconds", "seconds"),
    ("volts", "volts"),
    ("minutes", "seconds"),
    ("hours", "seconds"),
    ("days", "seconds"),
    ("weeks", "seconds"),
    ("kelvins", "kelvin"),
    ("fahrenheit", "celsius"),
    ("rankine", "celsius"),
    ("inches", "meters"),
    ("yards", "meters"),
    ("miles", "meters"),
    ("bits", "bytes"),
    ("calories", "joules"),
    ("pounds", "grams"),
    ("ounces", "grams"),
];

const UNIT_PREFIXES: &[&str] = &[
    "pico", "nano", "micro", "milli", "centi", "deci", "deca", "hecto", "kilo", "kibi", "mega",
    "mibi", "giga", "gibi", "tera", "tebi", "peta", "pebi",
];

const UNIT_ABBREVIATIONS: &[&str] = &[
    "s", "ms", "us", "ns", "sec", "b", "kb", "mb", "gb", "tb", "pb", "m", "h", "d",
];

fn unit_base(s: &str) -> Option<&'static str> {
    UNITS.iter().find(|(u, _)| *u == s).map(|(_, b)| *b)
}

/// The first `_`-separated part of `name` that is a unit (possibly prefixed), and its base.
fn metric_units(name: &str) -> Option<(&str, &'static str)> {
    for part in name.split('_') {
        if let Some(base) = unit_base(part) {
            return Some((part, base));
        }
        for p in UNIT_PREFIXES {
            if let Some(rest) = part.strip_prefix(p) {
                if let Some(base) = unit_base(rest) {
                    return Some((part, base));
                }
            }
        }
    }
    None
}

fn has_camel_case(s: &str) -> bool {
    s.as_bytes()
        .windows(2)
        .any(|w| w[0].is_ascii_lowercase() && w[1].is_ascii_uppercase())
}

fn lint_family(name: &str, f: &Family, out: &mut Vec<Problem>) {
    let mut p = |text: String| {
        out.push(Problem {
            metric: name.to_string(),
            text,
        })
    };
    let typ = match f.typ {
        Some(
            MetricType::Counter | MetricType::Gauge | MetricType::Summary | MetricType::Histogram,
        ) => f.typ,
        _ => None,
    };
    // lintHelp
    if f.help.is_none() {
        p("no help text".into());
    }
    // lintMetricUnits
    if let Some((unit, base)) = metric_units(name) {
        if unit != base {
            p(format!("use base unit {base:?} instead of {unit:?}"));
        }
    }
    // lintCounter
    let is_counter = typ == Some(MetricType::Counter);
    let total = name.ends_with("_total");
    if is_counter && !total {
        p(r#"counter metrics should have "_total" suffix"#.into());
    } else if typ.is_some() && !is_counter && total {
        p(r#"non-counter metrics should not have "_total" suffix"#.into());
    }
    // lintHistogramSummaryReserved
    if typ.is_some() {
        let hist = typ == Some(MetricType::Histogram);
        let summ = typ == Some(MetricType::Summary);
        if !hist && name.ends_with("_bucket") {
            p(r#"non-histogram metrics should not have "_bucket" suffix"#.into());
        }
        if !hist && !summ && name.ends_with("_count") {
            p(r#"non-histogram and non-summary metrics should not have "_count" suffix"#.into());
        }
        if !hist && !summ && name.ends_with("_sum") {
            p(r#"non-histogram and non-summary metrics should not have "_sum" suffix"#.into());
        }
        for labels in &f.label_names {
            for l in labels {
                if hist && l == "le" {
                    p(r#"metric uses reserved "le" label"#.into());
                }
                if summ && l == "quantile" {
                    p(r#"metric uses reserved "quantile" label"#.into());
                }
            }
        }
        // lintMetricTypeInName: every type's name, not only the family's own.
        let lower = name.to_lowercase();
        for t in [
            "counter",
            "gauge",
            "summary",
            "histogram",
            "gauge_histogram",
        ] {
            if lower.contains(&format!("_{t}_")) || lower.ends_with(&format!("_{t}")) {
                p(format!("metric name should not include type '{t}'"));
            }
        }
    }
    // lintReservedChars
    if name.contains(':') {
        p("metric names should not contain ':'".into());
    }
    // lintCamelCase
    if has_camel_case(name) {
        p("metric names should be written in 'snake_case' not 'camelCase'".into());
    }
    for labels in &f.label_names {
        for l in labels {
            if has_camel_case(l) {
                p("label names should be written in 'snake_case' not 'camelCase'".into());
            }
        }
    }
    // lintUnitAbbreviations
    let lower = name.to_lowercase();
    for a in UNIT_ABBREVIATIONS {
        if lower.contains(&format!("_{a}_")) || lower.ends_with(&format!("_{a}")) {
            p("metric names should not contain abbreviated units".into());
        }
    }
}

/// Why a body could not be linted.
#[derive(Debug, thiserror::Error)]
pub enum LintError {
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// Go's text parser needs every line, the last one too, ended by a newline.
    #[error("text format parsing error in line {0}: unexpected end of input stream")]
    UnexpectedEnd(usize),
    #[error("text format parsing error in line {line}: expected float as value for '{label}' label, got {value:?}")]
    BadBound {
        line: usize,
        label: String,
        value: String,
    },
}

/// The 1-based line of `part`, a slice of `body`.
fn line_of(body: &[u8], part: &str) -> usize {
    let off = (part.as_ptr() as usize)
        .saturating_sub(body.as_ptr() as usize)
        .min(body.len());
    body[..off].iter().filter(|&&b| b == b'\n').count() + 1
}

/// Lints a text-format (0.0.4) exposition.
pub fn lint(body: &[u8]) -> Result<Vec<Problem>, LintError> {
    if !body.is_empty() && !body.ends_with(b"\n") {
        let line = body.iter().filter(|&&b| b == b'\n').count() + 1;
        return Err(LintError::UnexpectedEnd(line));
    }
    let mut fams: HashMap<String, Family> = HashMap::new();
    for e in parse(body, Format::PromText) {
        match e? {
            Entry::Help {
                metric_family,
                text,
            } => {
                // An empty HELP counts as none, as promtool reports it.
                fams.entry(metric_family.into_owned()).or_default().help =
                    (!text.is_empty()).then(|| text.into_owned())
            }
            Entry::Type {
                metric_family,
                metric_type,
            } => fams.entry(metric_family.into_owned()).or_default().typ = Some(metric_type),
            Entry::Sample(s) => {
                let name = s.name.as_ref();
                let strip = |suffixes: &[&str]| {
                    suffixes
                        .iter()
                        .find_map(|suf| name.strip_suffix(suf))
                        .map(str::to_string)
                };
                let family = if fams.contains_key(name) {
                    name.to_string()
                } else if let Some(base) = strip(&["_sum", "_count"]).filter(|b| {
                    fams.get(b)
                        .is_some_and(|f| f.typ == Some(MetricType::Summary))
                }) {
                    base
                } else if let Some(base) = strip(&["_sum", "_count", "_bucket"]).filter(|b| {
                    fams.get(b)
                        .is_some_and(|f| f.typ == Some(MetricType::Histogram))
                }) {
                    base
                } else {
                    name.to_string()
                };
                let f = fams.entry(family.clone()).or_default();
                // Go's parser takes `quantile` (summaries) and `le` (histograms) of every
                // sample of the family as its own field, not a label, and needs a float.
                let consumed = match f.typ {
                    Some(MetricType::Summary) => Some("quantile"),
                    Some(MetricType::Histogram) => Some("le"),
                    _ => None,
                };
                let mut names = Vec::new();
                for (n, v) in s.labels.iter() {
                    if Some(n.as_ref()) == consumed {
                        if v.parse::<f64>().is_err() {
                            return Err(LintError::BadBound {
                                line: line_of(body, s.series_text),
                                label: n.into_owned(),
                                value: v.into_owned(),
                            });
                        }
                        continue;
                    }
                    names.push(n.into_owned());
                }
                f.label_names.push(names);
                f.samples += 1;
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    for (name, f) in &fams {
        if f.samples > 0 {
            lint_family(name, f, &mut out);
        }
    }
    // promlint's order: by metric, then text (stable for equal pairs).
    out.sort_by(|a, b| a.metric.cmp(&b.metric).then_with(|| a.text.cmp(&b.text)));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(body: &str) -> Vec<String> {
        lint(body.as_bytes())
            .unwrap()
            .into_iter()
            .map(|p| format!("{} {}", p.metric, p.text))
            .collect()
    }

    #[test]
    fn promlint_rules() {
        let body = "# HELP http_requests Requests.\n# TYPE http_requests counter\nhttp_requests 1\n\
                    # TYPE latency_milliseconds gauge\nlatency_milliseconds{fooBar=\"x\"} 2\n\
                    # HELP a:b_total A.\n# TYPE a:b_total gauge\na:b_total 3\n\
                    # HELP req_ms x\n# TYPE req_ms summary\nreq_ms{quantile=\"0.5\"} 1\nreq_ms_sum 1\nreq_ms_count 1\n\
                    untyped_thing 4\n";
        assert_eq!(
            lines(body),
            [
                "a:b_total metric names should not contain ':'",
                "a:b_total non-counter metrics should not have \"_total\" suffix",
                "http_requests counter metrics should have \"_total\" suffix",
                "latency_milliseconds label names should be written in 'snake_case' not 'camelCase'",
                "latency_milliseconds no help text",
                "latency_milliseconds use base unit \"seconds\" instead of \"milliseconds\"",
                "req_ms metric names should not contain abbreviated units",
                "untyped_thing no help text",
            ]
        );
    }

    #[test]
    fn clean_exposition_has_no_problems() {
        let body = "# HELP up_total Ups.\n# TYPE up_total counter\nup_total 1\n\
                    # HELP rt_seconds Latency.\n# TYPE rt_seconds histogram\nrt_seconds_bucket{le=\"1\"} 1\nrt_seconds_bucket{le=\"+Inf\"} 1\nrt_seconds_sum 0.5\nrt_seconds_count 1\n";
        assert!(lines(body).is_empty(), "{:?}", lines(body));
    }
}
