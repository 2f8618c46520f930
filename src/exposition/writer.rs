//! Writers for the text format 0.0.4 and OpenMetrics 1.0, the inverse of the parsers:
//! for any families the format can represent, parsing the output gives them back.
//!
//! Values use Go's shortest formatting ([`format_go_float`]: `1e+06`, `+Inf`, `NaN`) as
//! Prometheus' `expfmt` does. Mirrors `prometheus/common/expfmt` `text_create.go` and
//! `openmetrics_create.go`.
//!
//! Lossy corners, by the formats' limits: the text format has no UNIT, exemplars or
//! gaugehistogram/info/stateset types (written as `untyped`); OpenMetrics exemplars are
//! written only on `_total`/`_bucket` samples; names outside `[a-zA-Z_:][a-zA-Z0-9_:]*`
//! are written quoted (`{"my.metric"}`), which the text parser reads (Prometheus 3) but
//! OpenMetrics 1.0 parsers reject. Negative timestamps are written as expfmt writes them,
//! though the 0.0.4 grammar Prometheus parses has no sign for timestamps.

use std::fmt::Write;

use crate::model::labels::{is_valid_legacy_label_name, is_valid_legacy_metric_name};
use crate::model::value::format_go_float;
use crate::model::{Labels, METRIC_NAME};

use super::family::{MetricFamily, MetricSample};
use super::scan::seconds_to_millis;

/// Writes families in the text format 0.0.4.
pub fn write_text(families: &[MetricFamily]) -> String {
    let mut out = String::with_capacity(families.len() * 256);
    for f in families {
        let name = metric_name_token(&f.name);
        if let Some(help) = &f.help {
            let _ = writeln!(out, "# HELP {name} {}", escape(help, false));
        }
        let _ = writeln!(out, "# TYPE {name} {}", f.metric_type.text_name());
        for s in &f.samples {
            write_series(&mut out, f, s);
            out.push(' ');
            out.push_str(&format_go_float(s.value));
            if let Some(ts) = s.timestamp {
                let _ = write!(out, " {ts}");
            }
            out.push('\n');
        }
    }
    out
}

/// Writes families in OpenMetrics 1.0, ending with `# EOF`.
pub fn write_openmetrics(families: &[MetricFamily]) -> String {
    let mut out = String::with_capacity(families.len() * 256 + 6);
    for f in families {
        let name = metric_name_token(&f.name);
        let _ = writeln!(out, "# TYPE {name} {}", f.metric_type.openmetrics_name());
        if let Some(unit) = &f.unit {
            let _ = writeln!(out, "# UNIT {name} {unit}");
        }
        if let Some(help) = &f.help {
            let _ = writeln!(out, "# HELP {name} {}", escape(help, true));
        }
        for s in &f.samples {
            let sample_name = write_series(&mut out, f, s);
            out.push(' ');
            out.push_str(&format_go_float(s.value));
            if let Some(ts) = s.timestamp {
                out.push(' ');
                out.push_str(&millis_to_seconds_text(ts));
            }
            if let Some(e) = &s.exemplar {
                if sample_name.ends_with("_total") || sample_name.ends_with("_bucket") {
                    out.push_str(" # ");
                    write_label_set(&mut out, None, &e.labels);
                    out.push(' ');
                    out.push_str(&format_go_float(e.value));
                    if let Some(ts) = e.timestamp {
                        out.push(' ');
                        out.push_str(&millis_to_seconds_text(ts));
                    }
                }
            }
            out.push('\n');
        }
    }
    out.push_str("# EOF\n");
    out
}

/// Writes `name{labels}` for a sample (name from `__name__`, else the family's);
/// returns the sample's metric name.
fn write_series<'s>(out: &mut String, f: &'s MetricFamily, s: &'s MetricSample) -> &'s str {
    let name = s.labels.metric_name().unwrap_or(&f.name);
    if is_valid_legacy_metric_name(name) {
        out.push_str(name);
        if s.labels.iter().any(|l| l.name != METRIC_NAME) {
            write_label_set(out, None, &s.labels);
        }
    } else {
        write_label_set(out, Some(name), &s.labels);
    }
    name
}

/// `{a="b",c="d"}`, with a quoted metric name first when given; skips `__name__`.
fn write_label_set(out: &mut String, quoted_name: Option<&str>, labels: &Labels) {
    out.push('{');
    let mut first = true;
    if let Some(n) = quoted_name {
        write_quoted(out, n);
        first = false;
    }
    for l in labels.iter().filter(|l| l.name != METRIC_NAME) {
        if !first {
            out.push(',');
        }
        first = false;
        if is_valid_legacy_label_name(&l.name) {
            out.push_str(&l.name);
        } else {
            write_quoted(out, &l.name);
        }
        out.push('=');
        write_quoted(out, &l.value);
    }
    out.push('}');
}

fn write_quoted(out: &mut String, s: &str) {
    out.push('"');
    out.push_str(&escape(s, true));
    out.push('"');
}

/// A metric name for a HELP/TYPE/UNIT line: bare when legacy, else quoted.
fn metric_name_token(name: &str) -> String {
    if is_valid_legacy_metric_name(name) {
        name.to_string()
    } else {
        let mut s = String::new();
        write_quoted(&mut s, name);
        s
    }
}

/// Escapes `\` and newline, and `"` when `quotes` (label values, OpenMetrics HELP).
fn escape(s: &str, quotes: bool) -> std::borrow::Cow<'_, str> {
    if !s.contains(['\\', '\n', '"']) {
        return s.into();
    }
    let mut out = String::with_capacity(s.len() + 4);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' if quotes => out.push_str("\\\""),
            c => out.push(c),
        }
    }
    out.into()
}

/// Seconds text for a millisecond timestamp that parses back to exactly `ms` under
/// Prometheus' `int64(seconds * 1000)`: the nearest double to `ms / 1000` can land a hair
/// below the integer after multiplying, so step one ulp at a time until it does not.
fn millis_to_seconds_text(ms: i64) -> String {
    let mut d = ms as f64 / 1000.0;
    for _ in 0..8 {
        let back = seconds_to_millis(d);
        if back == ms {
            break;
        }
        d = if back < ms {
            d.next_up()
        } else {
            d.next_down()
        };
    }
    format_go_float(d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exposition::{parse_families, Exemplar, Format, MetricType};

    fn sample(pairs: &[(&str, &str)], v: f64, ts: Option<i64>) -> MetricSample {
        MetricSample {
            labels: Labels::from_pairs(pairs),
            value: v,
            timestamp: ts,
            exemplar: None,
        }
    }

    #[test]
    fn text_output() {
        let mut f = MetricFamily::new("http_requests_total", MetricType::Counter);
        f.help = Some("Requests \\ served.\nSecond line \"quoted\"".into());
        f.samples.push(sample(
            &[
                ("__name__", "http_requests_total"),
                ("code", "200"),
                ("path", "a\"b\\c\nd"),
            ],
            1e6,
            Some(1_700_000_000_000),
        ));
        f.samples.push(sample(
            &[("__name__", "http_requests_total")],
            f64::NAN,
            None,
        ));
        assert_eq!(
            write_text(&[f]),
            "# HELP http_requests_total Requests \\\\ served.\\nSecond line \"quoted\"
# TYPE http_requests_total counter
http_requests_total{code=\"200\",path=\"a\\\"b\\\\c\\nd\"} 1e+06 1700000000000
http_requests_total NaN
"
        );
    }

    #[test]
    fn openmetrics_output() {
        let mut f = MetricFamily::new("rpc", MetricType::Histogram);
        f.unit = None;
        f.help = Some("say \"hi\"".into());
        let mut s = sample(
            &[("__name__", "rpc_bucket"), ("le", "+Inf")],
            2.0,
            Some(1500),
        );
        s.exemplar = Some(Exemplar {
            labels: Labels::from_pairs(&[("trace_id", "x")]),
            value: 0.5,
            timestamp: Some(123_400),
        });
        f.samples.push(s);
        let mut c = sample(&[("__name__", "rpc_count")], 2.0, None);
        c.exemplar = Some(Exemplar {
            labels: Labels::empty(),
            value: 1.0,
            timestamp: None,
        });
        f.samples.push(c);
        assert_eq!(
            write_openmetrics(&[f]),
            "# TYPE rpc histogram
# HELP rpc say \\\"hi\\\"
rpc_bucket{le=\"+Inf\"} 2 1.5 # {trace_id=\"x\"} 0.5 123.4
rpc_count 2
# EOF
"
        );
    }

    #[test]
    fn quoted_names_in_text() {
        let mut f = MetricFamily::new("my.metric", MetricType::Gauge);
        f.samples.push(sample(
            &[("__name__", "my.metric"), ("a.b", "c")],
            1.0,
            None,
        ));
        let out = write_text(&[f.clone()]);
        assert_eq!(
            out,
            "# TYPE \"my.metric\" gauge\n{\"my.metric\",\"a.b\"=\"c\"} 1\n"
        );
        assert_eq!(
            parse_families(out.as_bytes(), Format::PromText).unwrap(),
            vec![f]
        );
    }

    #[test]
    fn seconds_text_round_trips_millis() {
        for ms in [
            0,
            1,
            -1,
            999,
            1_520_879_607_789,
            1_726_839_813_016,
            -1_520_879_607_789,
            4_102_444_800_123,
            i64::from(i32::MAX) * 1000 + 7,
        ] {
            let text = millis_to_seconds_text(ms);
            let secs: f64 = text.parse().unwrap();
            assert_eq!(seconds_to_millis(secs), ms, "{ms} -> {text}");
        }
        // Every millisecond in a stretch of real-world timestamps survives.
        for ms in 1_726_839_813_000..1_726_839_813_000 + 2000 {
            let secs: f64 = millis_to_seconds_text(ms).parse().unwrap();
            assert_eq!(seconds_to_millis(secs), ms);
        }
    }
}
