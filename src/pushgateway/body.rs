//! Push bodies: the text format (parsed with [`crate::exposition::TextParser`]) and the
//! delimited protobuf format become [`Family`] values, which [`render`] checks against
//! the grouping key and turns into the exposition text the gateway serves.
//!
//! What is accepted follows Pushgateway 1.5 (client_golang's `expfmt.TextParser` and the
//! registry's consistency checks run by `storage.checkWriteRequest`): families declared
//! by `# HELP`/`# TYPE` but without samples are dropped, a second HELP or TYPE line for a
//! family is an error, summaries need `quantile` and histograms `le`, timestamps are
//! refused, label names must be valid and not reserved, a series may appear once, and
//! labels in the body named like a grouping-key label take the key's value (upstream's
//! `sanitizeLabels`), with `instance=""` added when neither gives an instance.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;

use crate::exposition::{Entry, MetricType as TextType, ParseError, TextParser};
use crate::model::labels::{
    is_valid_legacy_label_name, is_valid_legacy_metric_name, write_escaped_value,
};
use crate::model::value::format_go_float;

use super::key::GroupingKey;
use super::proto;

/// A family's type as the Pushgateway keeps it (client_model's types).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    Counter,
    Gauge,
    Summary,
    Untyped,
    Histogram,
}

impl Kind {
    /// The `# TYPE` word.
    pub fn text_name(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Summary => "summary",
            Kind::Untyped => "untyped",
            Kind::Histogram => "histogram",
        }
    }

    /// The upper-case name `/api/v1/metrics` shows (client_model's enum names).
    pub fn json_name(self) -> &'static str {
        match self {
            Kind::Counter => "COUNTER",
            Kind::Gauge => "GAUGE",
            Kind::Summary => "SUMMARY",
            Kind::Untyped => "UNTYPED",
            Kind::Histogram => "HISTOGRAM",
        }
    }

    /// From the persisted/protobuf enum value.
    pub fn from_proto(v: i32) -> Option<Kind> {
        Some(match proto::MetricType::try_from(v).ok()? {
            proto::MetricType::Counter => Kind::Counter,
            proto::MetricType::Gauge => Kind::Gauge,
            proto::MetricType::Summary => Kind::Summary,
            proto::MetricType::Untyped => Kind::Untyped,
            proto::MetricType::Histogram | proto::MetricType::GaugeHistogram => Kind::Histogram,
        })
    }

    /// The protobuf enum value.
    pub fn to_proto(self) -> i32 {
        (match self {
            Kind::Counter => proto::MetricType::Counter,
            Kind::Gauge => proto::MetricType::Gauge,
            Kind::Summary => proto::MetricType::Summary,
            Kind::Untyped => proto::MetricType::Untyped,
            Kind::Histogram => proto::MetricType::Histogram,
        }) as i32
    }
}

/// One pushed metric family, before the grouping key is applied.
#[derive(Clone, Debug, PartialEq)]
pub struct Family {
    pub name: String,
    pub kind: Kind,
    pub help: Option<String>,
    pub metrics: Vec<Metric>,
}

/// One label set of a family with its value(s).
#[derive(Clone, Debug, PartialEq)]
pub struct Metric {
    pub labels: Vec<(String, String)>,
    pub value: Value,
    pub timestamp_ms: Option<i64>,
}

/// The value(s) of a metric, by family type.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// Counter, gauge or untyped.
    Single(f64),
    Summary {
        quantiles: Vec<(f64, f64)>,
        sum: f64,
        count: f64,
    },
    Histogram {
        /// (upper bound, cumulative count).
        buckets: Vec<(f64, f64)>,
        sum: f64,
        count: f64,
    },
}

/// Why a push body was refused (HTTP 400). Parse errors leave the gateway untouched;
/// [`BodyError::is_consistency`] errors also mark the group's last push as failed, as
/// upstream's consistency check does.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("text format parsing error in {0}")]
    Text(#[from] ParseError),
    #[error("text format parsing error: {0}")]
    TextStructure(String),
    #[error("protobuf parsing error: {0}")]
    Protobuf(#[from] proto::DecodeError),
    #[error("pushed metrics must not have timestamps (metric {series} has {timestamp_ms})")]
    Timestamp { series: String, timestamp_ms: i64 },
    #[error("metric {series} has a label with an invalid name: {label:?}")]
    InvalidLabelName { series: String, label: String },
    #[error("invalid metric name {0:?}")]
    InvalidMetricName(String),
    #[error("metric {0} was collected before with the same name and label values")]
    Duplicate(String),
    #[error("metric {index} of family {family:?} (type {kind}) has no {kind} value")]
    MissingValue {
        family: String,
        index: usize,
        kind: &'static str,
    },
}

impl BodyError {
    /// True for errors of upstream's consistency check (run after parsing), which record
    /// a failed push on the group; false for parse errors, which leave it untouched.
    pub fn is_consistency(&self) -> bool {
        !matches!(
            self,
            BodyError::Text(_) | BodyError::TextStructure(_) | BodyError::Protobuf(_)
        )
    }
}

/// Parses a text-format (0.0.4) body into families, in order of first appearance.
pub fn parse_text(body: &[u8]) -> Result<Vec<Family>, BodyError> {
    let mut b = TextBuilder::default();
    for entry in TextParser::new(body) {
        match entry? {
            Entry::Help {
                metric_family,
                text,
            } => {
                let i = b.family(&metric_family)?;
                if b.fams[i].help.is_some() {
                    return Err(BodyError::TextStructure(format!(
                        "second HELP line for metric name {metric_family:?}"
                    )));
                }
                b.fams[i].help = Some(text.into_owned());
            }
            Entry::Type {
                metric_family,
                metric_type,
            } => {
                let i = b.family(&metric_family)?;
                if b.typed.contains(&i) {
                    return Err(BodyError::TextStructure(format!(
                        "second TYPE line for metric name {metric_family:?}, or TYPE reported after samples"
                    )));
                }
                if !b.fams[i].metrics.is_empty() {
                    return Err(BodyError::TextStructure(format!(
                        "TYPE line for metric name {metric_family:?} after its samples"
                    )));
                }
                b.typed.insert(i);
                b.fams[i].kind = match metric_type {
                    TextType::Counter => Kind::Counter,
                    TextType::Gauge => Kind::Gauge,
                    TextType::Summary => Kind::Summary,
                    TextType::Histogram | TextType::GaugeHistogram => Kind::Histogram,
                    _ => Kind::Untyped,
                };
            }
            Entry::Sample(s) => {
                let labels: Vec<(String, String)> = s
                    .labels
                    .iter()
                    .map(|(n, v)| (n.into_owned(), v.into_owned()))
                    .collect();
                b.sample(&s.name, labels, s.value, s.timestamp)?;
            }
            Entry::Eof => break,
            Entry::Comment(_) | Entry::Unit { .. } => {}
        }
    }
    let mut fams = b.fams;
    fams.retain(|f| !f.metrics.is_empty());
    Ok(fams)
}

#[derive(Default)]
struct TextBuilder {
    fams: Vec<Family>,
    by_name: HashMap<String, usize>,
    typed: HashSet<usize>,
    /// (family, labels without quantile/le) → metric index, for summaries and histograms.
    complex: HashMap<(usize, Vec<(String, String)>), usize>,
}

impl TextBuilder {
    fn family(&mut self, name: &str) -> Result<usize, BodyError> {
        if let Some(&i) = self.by_name.get(name) {
            return Ok(i);
        }
        if !is_valid_legacy_metric_name(name) {
            return Err(BodyError::InvalidMetricName(name.to_string()));
        }
        self.fams.push(Family {
            name: name.to_string(),
            kind: Kind::Untyped,
            help: None,
            metrics: Vec::new(),
        });
        self.by_name.insert(name.to_string(), self.fams.len() - 1);
        Ok(self.fams.len() - 1)
    }

    fn sample(
        &mut self,
        name: &str,
        mut labels: Vec<(String, String)>,
        value: f64,
        timestamp: Option<i64>,
    ) -> Result<(), BodyError> {
        // A `_bucket`/`_sum`/`_count` sample joins a declared histogram or summary.
        let mut owner = None;
        for suffix in ["_bucket", "_sum", "_count"] {
            if let Some(base) = name.strip_suffix(suffix) {
                if let Some(&i) = self.by_name.get(base) {
                    let k = self.fams[i].kind;
                    if k == Kind::Histogram || (k == Kind::Summary && suffix != "_bucket") {
                        owner = Some((i, suffix));
                    }
                }
            }
        }
        let (i, part) = match owner {
            Some(o) => o,
            None => (self.family(name)?, ""),
        };
        let kind = self.fams[i].kind;
        let special = match (kind, part) {
            (Kind::Summary, "") => Some("quantile"),
            (Kind::Histogram, "_bucket") => Some("le"),
            (Kind::Histogram, "") => {
                return Err(BodyError::TextStructure(format!(
                    "sample {name:?} of histogram {name:?} must be named {name}_bucket, {name}_sum or {name}_count"
                )))
            }
            _ => None,
        };
        if matches!(kind, Kind::Counter | Kind::Gauge | Kind::Untyped) {
            self.fams[i].metrics.push(Metric {
                labels,
                value: Value::Single(value),
                timestamp_ms: timestamp,
            });
            return Ok(());
        }
        let bound = match special {
            Some(sp) => {
                let Some(pos) = labels.iter().position(|(n, _)| n == sp) else {
                    return Err(BodyError::TextStructure(format!(
                        "sample {name:?} of {} {:?} has no {sp:?} label",
                        kind.text_name(),
                        self.fams[i].name
                    )));
                };
                let (_, text) = labels.remove(pos);
                let v = text.trim().parse::<f64>().map_err(|_| {
                    BodyError::TextStructure(format!(
                        "sample {name:?}: {sp} label value {text:?} is not a number"
                    ))
                })?;
                Some(v)
            }
            None => None,
        };
        let m = match self.complex.get(&(i, labels.clone())) {
            Some(&m) => m,
            None => {
                let value = if kind == Kind::Summary {
                    Value::Summary {
                        quantiles: Vec::new(),
                        sum: 0.0,
                        count: 0.0,
                    }
                } else {
                    Value::Histogram {
                        buckets: Vec::new(),
                        sum: 0.0,
                        count: 0.0,
                    }
                };
                let fam = &mut self.fams[i];
                fam.metrics.push(Metric {
                    labels: labels.clone(),
                    value,
                    timestamp_ms: None,
                });
                let m = fam.metrics.len() - 1;
                self.complex.insert((i, labels), m);
                m
            }
        };
        let metric = &mut self.fams[i].metrics[m];
        if timestamp.is_some() {
            metric.timestamp_ms = timestamp;
        }
        match (&mut metric.value, part) {
            (Value::Summary { quantiles, .. }, "") => quantiles.push((bound.unwrap_or(0.0), value)),
            (Value::Histogram { buckets, .. }, "_bucket") => {
                buckets.push((bound.unwrap_or(0.0), value))
            }
            (Value::Summary { sum, .. } | Value::Histogram { sum, .. }, "_sum") => *sum = value,
            (Value::Summary { count, .. } | Value::Histogram { count, .. }, "_count") => {
                *count = value
            }
            _ => {}
        }
        Ok(())
    }
}

/// Converts decoded protobuf families.
pub fn from_proto(fams: Vec<proto::MetricFamily>) -> Result<Vec<Family>, BodyError> {
    let mut out: Vec<Family> = Vec::with_capacity(fams.len());
    for mf in fams {
        let name = mf.name.unwrap_or_default();
        if !is_valid_legacy_metric_name(&name) {
            return Err(BodyError::InvalidMetricName(name));
        }
        let kind = Kind::from_proto(mf.r#type.unwrap_or(0)).unwrap_or(Kind::Untyped);
        let mut metrics = Vec::with_capacity(mf.metric.len());
        for (index, m) in mf.metric.into_iter().enumerate() {
            let missing = || BodyError::MissingValue {
                family: name.clone(),
                index,
                kind: kind.text_name(),
            };
            let value = match kind {
                Kind::Counter => Value::Single(m.counter.ok_or_else(missing)?.value.unwrap_or(0.0)),
                Kind::Gauge => Value::Single(m.gauge.ok_or_else(missing)?.value.unwrap_or(0.0)),
                Kind::Untyped => Value::Single(m.untyped.ok_or_else(missing)?.value.unwrap_or(0.0)),
                Kind::Summary => {
                    let s = m.summary.ok_or_else(missing)?;
                    Value::Summary {
                        quantiles: s
                            .quantile
                            .iter()
                            .map(|q| (q.quantile.unwrap_or(0.0), q.value.unwrap_or(0.0)))
                            .collect(),
                        sum: s.sample_sum.unwrap_or(0.0),
                        count: s.sample_count.unwrap_or(0) as f64,
                    }
                }
                Kind::Histogram => {
                    let h = m.histogram.ok_or_else(missing)?;
                    let count = match h.sample_count_float {
                        Some(f) if h.sample_count.is_none() => f,
                        _ => h.sample_count.unwrap_or(0) as f64,
                    };
                    Value::Histogram {
                        buckets: h
                            .bucket
                            .iter()
                            .map(|b| {
                                let c = match b.cumulative_count_float {
                                    Some(f) if b.cumulative_count.is_none() => f,
                                    _ => b.cumulative_count.unwrap_or(0) as f64,
                                };
                                (b.upper_bound.unwrap_or(0.0), c)
                            })
                            .collect(),
                        sum: h.sample_sum.unwrap_or(0.0),
                        count,
                    }
                }
            };
            metrics.push(Metric {
                labels: m
                    .label
                    .into_iter()
                    .map(|l| (l.name.unwrap_or_default(), l.value.unwrap_or_default()))
                    .collect(),
                value,
                timestamp_ms: m.timestamp_ms,
            });
        }
        if metrics.is_empty() {
            continue;
        }
        // The Go handler keeps the last family of a repeated name.
        let fam = Family {
            name,
            kind,
            help: mf.help,
            metrics,
        };
        match out.iter_mut().find(|f| f.name == fam.name) {
            Some(slot) => *slot = fam,
            None => out.push(fam),
        }
    }
    Ok(out)
}

/// A family as stored and served: its sample lines with the grouping key applied.
#[derive(Clone, Debug, PartialEq)]
pub struct RenderedFamily {
    pub name: String,
    pub kind: Kind,
    pub help: Option<String>,
    /// Sample lines (`name{labels} value\n`), metrics sorted by label set.
    pub text: String,
    /// When this family was last pushed (ms since the epoch).
    pub pushed_ms: i64,
}

/// Applies `key` to `fams` and renders them, with upstream's consistency checks on the
/// pushed metrics themselves (cross-group type checks are the store's).
pub fn render(
    fams: Vec<Family>,
    key: &GroupingKey,
    now_ms: i64,
) -> Result<Vec<RenderedFamily>, BodyError> {
    let key_labels = key.series_labels();
    let mut seen: HashSet<String> = HashSet::new();
    let mut out = Vec::with_capacity(fams.len());
    for fam in fams {
        let mut metrics: Vec<(Vec<(String, String)>, Value)> =
            Vec::with_capacity(fam.metrics.len());
        for m in fam.metrics {
            let mut labels: Vec<(String, String)> = m
                .labels
                .into_iter()
                .filter(|(n, _)| !key_labels.iter().any(|(k, _)| k == n))
                .collect();
            labels.extend(key_labels.iter().cloned());
            labels.sort();
            if let Some(ts) = m.timestamp_ms {
                return Err(BodyError::Timestamp {
                    series: series_text(&fam.name, &labels, None),
                    timestamp_ms: ts,
                });
            }
            if let Some((bad, _)) = labels
                .iter()
                .find(|(n, _)| !is_valid_legacy_label_name(n) || n.starts_with("__"))
            {
                return Err(BodyError::InvalidLabelName {
                    series: series_text(&fam.name, &labels, None),
                    label: bad.clone(),
                });
            }
            for w in labels.windows(2) {
                if w[0].0 == w[1].0 {
                    return Err(BodyError::InvalidLabelName {
                        series: series_text(&fam.name, &labels, None),
                        label: w[0].0.clone(),
                    });
                }
            }
            if !seen.insert(series_text(&fam.name, &labels, None)) {
                return Err(BodyError::Duplicate(series_text(&fam.name, &labels, None)));
            }
            metrics.push((labels, m.value));
        }
        metrics.sort_by(|a, b| a.0.cmp(&b.0));
        let mut text = String::new();
        for (labels, value) in &metrics {
            write_metric(&mut text, &fam.name, labels, value);
        }
        out.push(RenderedFamily {
            name: fam.name,
            kind: fam.kind,
            help: fam.help,
            text,
            pushed_ms: now_ms,
        });
    }
    Ok(out)
}

fn write_metric(out: &mut String, name: &str, labels: &[(String, String)], value: &Value) {
    match value {
        Value::Single(v) => line(out, name, "", labels, None, *v),
        Value::Summary {
            quantiles,
            sum,
            count,
        } => {
            for (q, v) in quantiles {
                line(out, name, "", labels, Some(("quantile", *q)), *v);
            }
            line(out, name, "_sum", labels, None, *sum);
            line(out, name, "_count", labels, None, *count);
        }
        Value::Histogram {
            buckets,
            sum,
            count,
        } => {
            let mut has_inf = false;
            for (le, c) in buckets {
                has_inf |= *le == f64::INFINITY;
                line(out, name, "_bucket", labels, Some(("le", *le)), *c);
            }
            // The text format always shows the +Inf bucket (client_golang adds it).
            if !has_inf {
                line(
                    out,
                    name,
                    "_bucket",
                    labels,
                    Some(("le", f64::INFINITY)),
                    *count,
                );
            }
            line(out, name, "_sum", labels, None, *sum);
            line(out, name, "_count", labels, None, *count);
        }
    }
}

fn line(
    out: &mut String,
    name: &str,
    suffix: &str,
    labels: &[(String, String)],
    extra: Option<(&str, f64)>,
    v: f64,
) {
    out.push_str(name);
    out.push_str(suffix);
    write_labels(out, labels, extra);
    out.push(' ');
    out.push_str(&format_go_float(v));
    out.push('\n');
}

fn write_labels(out: &mut String, labels: &[(String, String)], extra: Option<(&str, f64)>) {
    if labels.is_empty() && extra.is_none() {
        return;
    }
    out.push('{');
    let mut first = true;
    for (n, v) in labels {
        if !first {
            out.push(',');
        }
        first = false;
        out.push_str(n);
        out.push('=');
        // Writing into a String cannot fail.
        let _ = write_escaped_value(out, v);
    }
    if let Some((n, v)) = extra {
        if !first {
            out.push(',');
        }
        let _ = write!(out, "{n}=\"{}\"", format_go_float(v));
    }
    out.push('}');
}

/// `name{a="b",...}` for messages and duplicate detection.
pub fn series_text(name: &str, labels: &[(String, String)], extra: Option<(&str, f64)>) -> String {
    let mut s = String::from(name);
    write_labels(&mut s, labels, extra);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(pairs: &[(&str, &str)]) -> GroupingKey {
        GroupingKey::new(
            pairs
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
        )
    }

    fn render_text(body: &str, k: &GroupingKey) -> Result<Vec<RenderedFamily>, BodyError> {
        render(parse_text(body.as_bytes())?, k, 1)
    }

    #[test]
    fn readme_example_renders_with_grouping_labels() {
        let body = "# TYPE some_metric counter\nsome_metric{label=\"val1\"} 42\n# TYPE another_metric gauge\n# HELP another_metric Just an example.\nanother_metric 2398.283\n";
        let k = key(&[("job", "some_job"), ("instance", "some_instance")]);
        let fams = render_text(body, &k).unwrap();
        assert_eq!(fams.len(), 2);
        assert_eq!(fams[0].kind, Kind::Counter);
        assert_eq!(
            fams[0].text,
            "some_metric{instance=\"some_instance\",job=\"some_job\",label=\"val1\"} 42\n"
        );
        assert_eq!(fams[1].help.as_deref(), Some("Just an example."));
        assert_eq!(
            fams[1].text,
            "another_metric{instance=\"some_instance\",job=\"some_job\"} 2398.283\n"
        );
    }

    #[test]
    fn grouping_key_overrides_body_labels_and_adds_empty_instance() {
        let fams = render_text("x{job=\"other\",a=\"b\"} 1\n", &key(&[("job", "j")])).unwrap();
        assert_eq!(fams[0].text, "x{a=\"b\",instance=\"\",job=\"j\"} 1\n");
    }

    #[test]
    fn summaries_and_histograms_group_their_samples() {
        let body = "# TYPE s summary\ns{quantile=\"0.5\"} 1\ns_sum 2\ns_count 3\n# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 3\nh_count 2\n";
        let fams = render_text(body, &key(&[("job", "t")])).unwrap();
        assert_eq!(
            fams[0].text,
            "s{instance=\"\",job=\"t\",quantile=\"0.5\"} 1\ns_sum{instance=\"\",job=\"t\"} 2\ns_count{instance=\"\",job=\"t\"} 3\n"
        );
        assert_eq!(
            fams[1].text,
            "h_bucket{instance=\"\",job=\"t\",le=\"1\"} 1\nh_bucket{instance=\"\",job=\"t\",le=\"+Inf\"} 2\nh_sum{instance=\"\",job=\"t\"} 3\nh_count{instance=\"\",job=\"t\"} 2\n"
        );
    }

    #[test]
    fn refusals_say_what_and_where() {
        let k = key(&[("job", "j")]);
        let err = render_text("x 1 1234\n", &k).unwrap_err();
        assert!(err.is_consistency());
        assert!(
            err.to_string().contains("must not have timestamps"),
            "{err}"
        );
        let err = render_text("x{__a=\"b\"} 1\n", &k).unwrap_err();
        assert!(err.to_string().contains("invalid name: \"__a\""), "{err}");
        let err = render_text("x{a=\"b\"} 1\nx{a=\"b\"} 2\n", &k).unwrap_err();
        assert!(err.to_string().contains("collected before"), "{err}");
        let err = render_text("x{a=b} 1\n", &k).unwrap_err();
        assert!(!err.is_consistency());
        assert!(err.to_string().contains("line 1"), "{err}");
        let err = render_text("# TYPE h histogram\nh 1\n", &k).unwrap_err();
        assert!(err.to_string().contains("h_bucket"), "{err}");
        let err = render_text("# TYPE s summary\ns 1\n", &k).unwrap_err();
        assert!(err.to_string().contains("quantile"), "{err}");
        let err = render_text("# HELP a x\n# HELP a y\na 1\n", &k).unwrap_err();
        assert!(err.to_string().contains("second HELP"), "{err}");
    }

    #[test]
    fn declared_families_without_samples_are_dropped() {
        let fams = render_text("# HELP a x\n# TYPE a gauge\n", &key(&[("job", "j")])).unwrap();
        assert!(fams.is_empty());
    }

    #[test]
    fn protobuf_families_render_like_text() {
        let pf = proto::MetricFamily {
            name: Some("h".into()),
            help: Some("help".into()),
            r#type: Some(proto::MetricType::Histogram as i32),
            metric: vec![proto::Metric {
                histogram: Some(proto::Histogram {
                    sample_count: Some(2),
                    sample_sum: Some(3.0),
                    bucket: vec![proto::Bucket {
                        cumulative_count: Some(1),
                        upper_bound: Some(1.0),
                        cumulative_count_float: None,
                    }],
                    sample_count_float: None,
                }),
                ..Default::default()
            }],
        };
        let from_pb = render(from_proto(vec![pf]).unwrap(), &key(&[("job", "t")]), 1).unwrap();
        let from_text = render_text(
            "# HELP h help\n# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 3\nh_count 2\n",
            &key(&[("job", "t")]),
        )
        .unwrap();
        assert_eq!(from_pb, from_text);
        let bad = proto::MetricFamily {
            name: Some("c".into()),
            r#type: Some(proto::MetricType::Counter as i32),
            metric: vec![proto::Metric::default()],
            ..Default::default()
        };
        assert!(from_proto(vec![bad]).is_err());
    }
}
