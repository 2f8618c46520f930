//! The streaming parsers' output: one [`Entry`] per exposition line, borrowing from the
//! body so that a scrape loop can look a sample up in its cache by `series_text` without
//! allocating.
//!
//! Mirrors the entry kinds of Prometheus' `textparse.Parser` (`EntryHelp`, `EntryType`,
//! `EntryUnit`, `EntryComment`, `EntrySeries`).

use std::borrow::Cow;
use std::fmt;

use super::scan::unescape_label_value;

/// A metric family's type as declared by a `# TYPE` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum MetricType {
    Counter,
    Gauge,
    Histogram,
    /// OpenMetrics only.
    GaugeHistogram,
    Summary,
    /// OpenMetrics only.
    Info,
    /// OpenMetrics only.
    Stateset,
    /// `untyped` in the text format, `unknown` in OpenMetrics, and any family without a
    /// `# TYPE` line.
    #[default]
    Unknown,
}

impl MetricType {
    /// Parses a text-format (0.0.4) type name.
    pub fn from_text_name(s: &str) -> Option<Self> {
        Some(match s {
            "counter" => MetricType::Counter,
            "gauge" => MetricType::Gauge,
            "histogram" => MetricType::Histogram,
            "summary" => MetricType::Summary,
            "untyped" => MetricType::Unknown,
            _ => return None,
        })
    }

    /// Parses an OpenMetrics 1.0 type name.
    pub fn from_openmetrics_name(s: &str) -> Option<Self> {
        Some(match s {
            "counter" => MetricType::Counter,
            "gauge" => MetricType::Gauge,
            "histogram" => MetricType::Histogram,
            "gaugehistogram" => MetricType::GaugeHistogram,
            "summary" => MetricType::Summary,
            "info" => MetricType::Info,
            "stateset" => MetricType::Stateset,
            "unknown" => MetricType::Unknown,
            _ => return None,
        })
    }

    /// The name written in the text format. Types the text format lacks
    /// (gaugehistogram, info, stateset) are written as `untyped`.
    pub fn text_name(self) -> &'static str {
        match self {
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            MetricType::Histogram => "histogram",
            MetricType::Summary => "summary",
            MetricType::GaugeHistogram
            | MetricType::Info
            | MetricType::Stateset
            | MetricType::Unknown => "untyped",
        }
    }

    /// The name written in OpenMetrics.
    pub fn openmetrics_name(self) -> &'static str {
        match self {
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            MetricType::Histogram => "histogram",
            MetricType::GaugeHistogram => "gaugehistogram",
            MetricType::Summary => "summary",
            MetricType::Info => "info",
            MetricType::Stateset => "stateset",
            MetricType::Unknown => "unknown",
        }
    }

    /// Sample-name suffixes a family of this type owns besides its bare name, as the
    /// OpenMetrics spec and Prometheus' client libraries name them.
    pub fn sample_suffixes(self) -> &'static [&'static str] {
        match self {
            MetricType::Counter => &["_total", "_created"],
            MetricType::Histogram => &["_bucket", "_count", "_sum", "_created"],
            MetricType::GaugeHistogram => &["_bucket", "_gcount", "_gsum"],
            MetricType::Summary => &["_count", "_sum", "_created"],
            MetricType::Info => &["_info"],
            MetricType::Gauge | MetricType::Stateset | MetricType::Unknown => &[],
        }
    }
}

impl fmt::Display for MetricType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.openmetrics_name())
    }
}

/// One parsed line.
#[derive(Debug, Clone, PartialEq)]
pub enum Entry<'a> {
    /// `# HELP name text`, text unescaped.
    Help {
        metric_family: Cow<'a, str>,
        text: Cow<'a, str>,
    },
    /// `# TYPE name type`.
    Type {
        metric_family: Cow<'a, str>,
        metric_type: MetricType,
    },
    /// `# UNIT name unit` (OpenMetrics only).
    Unit {
        metric_family: Cow<'a, str>,
        unit: &'a str,
    },
    /// Any other `#` line of the text format, the whole line as written (with `#`).
    /// Invalid UTF-8 is replaced, as Prometheus does not check comments.
    Comment(Cow<'a, str>),
    /// A sample line.
    Sample(SampleEntry<'a>),
    /// End of the body (`# EOF` in OpenMetrics); always the last entry of a good body.
    Eof,
}

/// A sample line, borrowing from the body.
#[derive(Debug, Clone, PartialEq)]
pub struct SampleEntry<'a> {
    /// The metric name and label set exactly as written (from the first byte of the name
    /// through the closing brace); a stable scrape-cache key for this series.
    pub series_text: &'a str,
    /// The metric name, unescaped if it was quoted.
    pub name: Cow<'a, str>,
    /// The label pairs inside the braces, in written order (validated already).
    pub labels: LabelPairs<'a>,
    /// The value; any NaN is Prometheus' "normal" NaN, never the staleness marker.
    pub value: f64,
    /// Timestamp in milliseconds, when the line carries one.
    pub timestamp: Option<i64>,
    /// OpenMetrics exemplar, when the line carries one.
    pub exemplar: Option<ExemplarEntry<'a>>,
}

/// An OpenMetrics exemplar: `# {trace_id="x"} 1.0 123.4`.
#[derive(Debug, Clone, PartialEq)]
pub struct ExemplarEntry<'a> {
    pub labels: LabelPairs<'a>,
    pub value: f64,
    /// Milliseconds (converted from the written seconds).
    pub timestamp: Option<i64>,
}

/// The label pairs of a sample or exemplar: the already-validated text between the
/// braces, decoded lazily so a parse that only needs `series_text` allocates nothing.
/// A quoted metric name inside the braces (`{"my.metric", a="b"}`) is skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LabelPairs<'a> {
    raw: &'a str,
}

impl<'a> LabelPairs<'a> {
    /// Wraps validated label-set text (without the braces).
    pub(crate) fn new(raw: &'a str) -> Self {
        LabelPairs { raw }
    }

    /// The label-set text as written, without the braces.
    pub fn as_raw(&self) -> &'a str {
        self.raw
    }

    /// Iterates `(name, value)`, both unescaped.
    pub fn iter(&self) -> LabelPairsIter<'a> {
        LabelPairsIter { rest: self.raw }
    }
}

impl<'a> IntoIterator for LabelPairs<'a> {
    type Item = (Cow<'a, str>, Cow<'a, str>);
    type IntoIter = LabelPairsIter<'a>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// Iterator over [`LabelPairs`].
#[derive(Debug, Clone)]
pub struct LabelPairsIter<'a> {
    rest: &'a str,
}

/// Scans a quoted string whose opening quote is at `open`; returns the contents' span,
/// whether it holds a backslash, and the index after the closing quote.
#[inline]
fn quoted_span(b: &[u8], open: usize) -> Option<(usize, usize, bool, usize)> {
    let mut i = open + 1;
    let mut escaped = false;
    while i < b.len() {
        match b[i] {
            b'\\' => {
                escaped = true;
                i += 2;
            }
            b'"' => return Some((open + 1, i, escaped, i + 1)),
            _ => i += 1,
        }
    }
    None
}

impl<'a> Iterator for LabelPairsIter<'a> {
    type Item = (Cow<'a, str>, Cow<'a, str>);

    fn next(&mut self) -> Option<Self::Item> {
        let rest: &'a str = self.rest;
        let b = rest.as_bytes();
        let text = |start: usize, end: usize, escaped: bool| -> Option<Cow<'a, str>> {
            let s = rest.get(start..end)?;
            Some(if escaped {
                unescape_label_value(s)
            } else {
                Cow::Borrowed(s)
            })
        };
        let blank = |i: &mut usize, also: u8| {
            while *i < b.len() && (matches!(b[*i], b' ' | b'\t') || b[*i] == also) {
                *i += 1;
            }
        };
        let mut i = 0;
        // Input was validated by the parser; anything unexpected just ends the iteration.
        self.rest = "";
        loop {
            blank(&mut i, b',');
            if i >= b.len() {
                return None;
            }
            let name = if b[i] == b'"' {
                let (s, e, esc, next) = quoted_span(b, i)?;
                i = next;
                blank(&mut i, b' ');
                if b.get(i) != Some(&b'=') {
                    // A quoted metric name, not a label.
                    continue;
                }
                text(s, e, esc)?
            } else {
                let s = i;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                    i += 1;
                }
                text(s, i, false)?
            };
            blank(&mut i, b'=');
            if b.get(i) != Some(&b'"') {
                return None;
            }
            let (s, e, esc, next) = quoted_span(b, i)?;
            let value = text(s, e, esc)?;
            self.rest = rest.get(next..).unwrap_or_default();
            return Some((name, value));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(raw: &str) -> Vec<(String, String)> {
        LabelPairs::new(raw)
            .iter()
            .map(|(n, v)| (n.into_owned(), v.into_owned()))
            .collect()
    }

    #[test]
    fn label_pairs_decode() {
        assert_eq!(pairs(""), vec![]);
        assert_eq!(
            pairs(r#"a="1",b="x\"y\\z\n""#),
            vec![("a".into(), "1".into()), ("b".into(), "x\"y\\z\n".into())]
        );
        assert_eq!(
            pairs(r#" quantile = "1.0" , a= "b", "#),
            vec![("quantile".into(), "1.0".into()), ("a".into(), "b".into())]
        );
        assert_eq!(
            pairs(r#""my.metric", "a.b"="c""#),
            vec![("a.b".into(), "c".into())]
        );
        assert_eq!(pairs(r#"a="}",b="{""#).len(), 2);
    }

    #[test]
    fn type_names() {
        assert_eq!(
            MetricType::from_text_name("untyped"),
            Some(MetricType::Unknown)
        );
        assert_eq!(MetricType::from_text_name("unknown"), None);
        assert_eq!(MetricType::from_text_name("info"), None);
        assert_eq!(
            MetricType::from_openmetrics_name("gaugehistogram"),
            Some(MetricType::GaugeHistogram)
        );
        assert_eq!(MetricType::from_openmetrics_name("untyped"), None);
        for t in [
            MetricType::Counter,
            MetricType::Gauge,
            MetricType::Histogram,
            MetricType::GaugeHistogram,
            MetricType::Summary,
            MetricType::Info,
            MetricType::Stateset,
            MetricType::Unknown,
        ] {
            assert_eq!(
                MetricType::from_openmetrics_name(t.openmetrics_name()),
                Some(t)
            );
        }
        assert_eq!(MetricType::Info.text_name(), "untyped");
    }
}
