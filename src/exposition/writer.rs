//! Writers for the text format 0.0.4 and OpenMetrics 1.0, the inverse of the parsers:
//! for any families the format can represent, parsing the output gives them back.
//!
//! [`MetricsWriter`] is the one text-format writer: `/metrics` (self-instrumentation),
//! `/federate` and [`write_text`] (whole [`MetricFamily`] lists, as a Pushgateway's
//! `/metrics` serves them) all go through it, so escaping and name quoting are decided in
//! one place. [`write_openmetrics`] shares its series and escaping helpers.
//!
//! Values use Go's shortest formatting ([`format_go_float`]: `1e+06`, `+Inf`, `NaN`) as
//! Prometheus' `expfmt` does; text-format timestamps are integer milliseconds. HELP text
//! escapes `\` and newline (and `"` in OpenMetrics); label values escape `\`, `"` and
//! newline. Mirrors `prometheus/common/expfmt` `text_create.go` and `openmetrics_create.go`.
//!
//! Lossy corners, by the formats' limits: the text format has no UNIT, exemplars or
//! gaugehistogram/info/stateset types (written as `untyped`); OpenMetrics exemplars are
//! written only on `_total`/`_bucket` samples; names outside `[a-zA-Z_:][a-zA-Z0-9_:]*`
//! (label names: `[a-zA-Z_][a-zA-Z0-9_]*`) are written quoted (`{"my.metric","a.b"="c"}`,
//! `# TYPE "my.metric" gauge`), which the text parser reads (Prometheus 3) but
//! OpenMetrics 1.0 parsers reject. Negative timestamps are written as expfmt writes them,
//! though the 0.0.4 grammar Prometheus parses has no sign for timestamps.

use std::borrow::Cow;
use std::fmt::Write as _;

use crate::model::labels::{
    is_valid_legacy_label_name, is_valid_legacy_metric_name, write_escaped_value,
};
use crate::model::value::format_go_float;
use crate::model::{Labels, METRIC_NAME};

use super::family::{MetricFamily, MetricSample};
use super::scan::seconds_to_millis;

/// Builds a text-format 0.0.4 page line by line: `# HELP`/`# TYPE` lines and samples,
/// with label pairs written in the order given.
#[derive(Default)]
pub struct MetricsWriter {
    out: String,
}

impl MetricsWriter {
    pub fn new() -> Self {
        MetricsWriter::default()
    }

    /// A writer whose page starts with room for `bytes`.
    pub fn with_capacity(bytes: usize) -> Self {
        MetricsWriter {
            out: String::with_capacity(bytes),
        }
    }

    /// Starts a family: `# HELP` and `# TYPE` lines. `kind` is the text-format type name
    /// (`counter`, `gauge`, `histogram`, `summary`, `untyped`).
    pub fn family(&mut self, name: &str, kind: &str, help: &str) -> &mut Self {
        self.help(name, help).type_line(name, kind)
    }

    /// A `# HELP name text` line, the text's `\` and newlines escaped.
    pub fn help(&mut self, name: &str, help: &str) -> &mut Self {
        write_comment_line(&mut self.out, "HELP", name, &escape(help, false));
        self
    }

    /// A `# TYPE name kind` line without HELP (federation writes only these).
    pub fn type_line(&mut self, name: &str, kind: &str) -> &mut Self {
        write_comment_line(&mut self.out, "TYPE", name, kind);
        self
    }

    /// One sample line without a timestamp.
    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) -> &mut Self {
        self.sample_at(name, labels.iter().copied(), value, None)
    }

    /// One sample line, `name{labels} value [timestamp_ms]`; `labels` must not contain
    /// `__name__` (the name is `name`).
    pub fn sample_at<'a>(
        &mut self,
        name: &str,
        labels: impl IntoIterator<Item = (&'a str, &'a str)>,
        value: f64,
        timestamp: Option<i64>,
    ) -> &mut Self {
        write_series(&mut self.out, name, labels);
        self.out.push(' ');
        self.out.push_str(&format_go_float(value));
        if let Some(ts) = timestamp {
            // Writing into a String cannot fail.
            let _ = write!(self.out, " {ts}");
        }
        self.out.push('\n');
        self
    }

    /// A single-sample family.
    pub fn single(&mut self, name: &str, kind: &str, help: &str, value: f64) -> &mut Self {
        self.family(name, kind, help).sample(name, &[], value)
    }

    /// Whole families: HELP when present, TYPE, then every sample with its timestamp.
    pub fn families(&mut self, families: &[MetricFamily]) -> &mut Self {
        for f in families {
            if let Some(help) = &f.help {
                self.help(&f.name, help);
            }
            self.type_line(&f.name, f.metric_type.text_name());
            for s in &f.samples {
                self.sample_at(
                    sample_name(f, s),
                    label_pairs(&s.labels),
                    s.value,
                    s.timestamp,
                );
            }
        }
        self
    }

    /// Sample lines written before (each ending in a newline), appended as they are: the
    /// Pushgateway keeps every pushed group's samples as text, written once at push time
    /// with legacy names only, and serves them under this writer's HELP and TYPE lines.
    pub fn sample_lines(&mut self, text: &str) -> &mut Self {
        debug_assert!(text.is_empty() || text.ends_with('\n'));
        self.out.push_str(text);
        self
    }

    /// The page written so far.
    pub fn finish(self) -> String {
        self.out
    }
}

/// Writes families in the text format 0.0.4.
pub fn write_text(families: &[MetricFamily]) -> String {
    let mut w = MetricsWriter::with_capacity(families.len() * 256);
    w.families(families);
    w.finish()
}

/// Writes families in OpenMetrics 1.0, ending with `# EOF`.
pub fn write_openmetrics(families: &[MetricFamily]) -> String {
    let mut out = String::with_capacity(families.len() * 256 + 6);
    for f in families {
        write_comment_line(&mut out, "TYPE", &f.name, f.metric_type.openmetrics_name());
        if let Some(unit) = &f.unit {
            write_comment_line(&mut out, "UNIT", &f.name, unit);
        }
        if let Some(help) = &f.help {
            write_comment_line(&mut out, "HELP", &f.name, &escape(help, true));
        }
        for s in &f.samples {
            let name = sample_name(f, s);
            write_series(&mut out, name, label_pairs(&s.labels));
            out.push(' ');
            out.push_str(&format_go_float(s.value));
            if let Some(ts) = s.timestamp {
                out.push(' ');
                out.push_str(&millis_to_seconds_text(ts));
            }
            if let Some(e) = &s.exemplar {
                if name.ends_with("_total") || name.ends_with("_bucket") {
                    out.push_str(" # ");
                    write_label_set(&mut out, None, label_pairs(&e.labels));
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

/// A sample's metric name: its `__name__`, else the family's.
fn sample_name<'s>(f: &'s MetricFamily, s: &'s MetricSample) -> &'s str {
    s.labels.metric_name().unwrap_or(&f.name)
}

/// A label set's pairs other than `__name__`.
fn label_pairs(labels: &Labels) -> impl Iterator<Item = (&str, &str)> {
    labels
        .iter()
        .filter(|l| l.name != METRIC_NAME)
        .map(|l| (l.name.as_str(), l.value.as_str()))
}

/// Writes `name{labels}`: a legacy name bare (without braces when there are no labels),
/// any other name quoted as the first item inside the braces.
fn write_series<'a>(
    out: &mut String,
    name: &str,
    labels: impl IntoIterator<Item = (&'a str, &'a str)>,
) {
    if is_valid_legacy_metric_name(name) {
        out.push_str(name);
        let mut labels = labels.into_iter().peekable();
        if labels.peek().is_some() {
            write_label_set(out, None, labels);
        }
    } else {
        write_label_set(out, Some(name), labels);
    }
}

/// `{a="b",c="d"}`, with a quoted metric name first when given; label names outside the
/// legacy charset are quoted.
fn write_label_set<'a>(
    out: &mut String,
    quoted_name: Option<&str>,
    labels: impl IntoIterator<Item = (&'a str, &'a str)>,
) {
    out.push('{');
    let mut first = true;
    if let Some(n) = quoted_name {
        // Writing into a String cannot fail.
        let _ = write_escaped_value(out, n);
        first = false;
    }
    for (name, value) in labels {
        if !first {
            out.push(',');
        }
        first = false;
        if is_valid_legacy_label_name(name) {
            out.push_str(name);
        } else {
            let _ = write_escaped_value(out, name);
        }
        out.push('=');
        let _ = write_escaped_value(out, value);
    }
    out.push('}');
}

/// `# <keyword> <name> <text>` (HELP, TYPE, UNIT), the metric name bare when legacy,
/// else quoted; `text` is written as given (already escaped).
fn write_comment_line(out: &mut String, keyword: &str, name: &str, text: &str) {
    out.push_str("# ");
    out.push_str(keyword);
    out.push(' ');
    if is_valid_legacy_metric_name(name) {
        out.push_str(name);
    } else {
        // Writing into a String cannot fail.
        let _ = write_escaped_value(out, name);
    }
    out.push(' ');
    out.push_str(text);
    out.push('\n');
}

/// Escapes `\` and newline, and `"` when `quotes` (OpenMetrics HELP).
fn escape(s: &str, quotes: bool) -> Cow<'_, str> {
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
    fn metrics_writer_escapes_help_and_label_values() {
        let mut w = MetricsWriter::new();
        w.family("a_total", "counter", "Help with \\ and\nnewline \"q\".")
            .sample("a_total", &[("x", "q\"v"), ("b", "\\\n")], 1e6)
            .sample_at("a_total", [], f64::NEG_INFINITY, Some(-5));
        assert_eq!(
            w.finish(),
            "# HELP a_total Help with \\\\ and\\nnewline \"q\".\n# TYPE a_total counter\na_total{x=\"q\\\"v\",b=\"\\\\\\n\"} 1e+06\na_total -Inf -5\n"
        );
    }

    #[test]
    fn metrics_writer_quotes_utf8_names() {
        let mut w = MetricsWriter::new();
        w.family("my.metric", "gauge", "Dotted.")
            .sample("my.metric", &[("a.b", "c"), ("ok", "d")], 1.0)
            .sample("my.metric", &[], 2.0)
            .type_line("ok:name", "untyped")
            .sample_at("ok:name", [("ü", "\"")], 3.0, Some(7));
        let out = w.finish();
        assert_eq!(
            out,
            "# HELP \"my.metric\" Dotted.\n# TYPE \"my.metric\" gauge\n{\"my.metric\",\"a.b\"=\"c\",ok=\"d\"} 1\n{\"my.metric\"} 2\n# TYPE ok:name untyped\nok:name{\"ü\"=\"\\\"\"} 3 7\n"
        );
        // The text parser reads it back.
        let fams = parse_families(out.as_bytes(), Format::PromText).unwrap();
        assert_eq!(fams[0].name, "my.metric");
        assert_eq!(fams[0].samples[0].labels.get("a.b"), Some("c"));
        assert_eq!(fams[1].samples[0].labels.get("ü"), Some("\""));
        assert_eq!(fams[1].samples[0].timestamp, Some(7));
    }

    #[test]
    fn metrics_writer_writes_whole_families() {
        let mut f = MetricFamily::new("x", MetricType::Summary);
        f.help = Some("h".into());
        f.samples
            .push(sample(&[("__name__", "x_sum"), ("q", "1")], 0.5, Some(9)));
        f.samples
            .push(sample(&[("__name__", "x_count")], 2.0, None));
        let mut w = MetricsWriter::new();
        w.single("up", "gauge", "", 1.0).families(&[f]);
        assert_eq!(
            w.finish(),
            "# HELP up \n# TYPE up gauge\nup 1\n# HELP x h\n# TYPE x summary\nx_sum{q=\"1\"} 0.5 9\nx_count 2\n"
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
