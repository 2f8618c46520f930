//! Owned metric families built from the streaming parser, for tests, importers and the
//! writers.
//!
//! Grouping follows the exposition formats' conventions: a sample belongs to the family
//! named by the preceding `# HELP`/`# TYPE`/`# UNIT` line when its name is the family
//! name or the family name plus a suffix its type owns (`_total`, `_created`, `_bucket`,
//! `_count`, `_sum`, `_gcount`, `_gsum`, `_info`; see [`MetricType::sample_suffixes`]);
//! otherwise it joins an earlier family it fits or starts an `Unknown` family of its
//! own name. Prometheus itself does not group (it ingests every sample line as a series),
//! so grouping never rejects a body.

use std::collections::HashMap;

use crate::model::{Label, Labels, METRIC_NAME};

use super::entry::{Entry, LabelPairs, MetricType};
use super::error::ParseError;
use super::{parse, Format};

/// One metric family with its metadata and samples.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MetricFamily {
    pub name: String,
    pub metric_type: MetricType,
    /// HELP text, unescaped; `None` without a `# HELP` line.
    pub help: Option<String>,
    /// OpenMetrics UNIT; `None` without a `# UNIT` line.
    pub unit: Option<String>,
    pub samples: Vec<MetricSample>,
}

/// One sample line of a family.
#[derive(Debug, Clone)]
pub struct MetricSample {
    /// All labels including `__name__`; empty label values are dropped, as Prometheus does.
    pub labels: Labels,
    pub value: f64,
    /// Milliseconds.
    pub timestamp: Option<i64>,
    pub exemplar: Option<Exemplar>,
}

/// An owned OpenMetrics exemplar.
#[derive(Debug, Clone)]
pub struct Exemplar {
    pub labels: Labels,
    pub value: f64,
    /// Milliseconds.
    pub timestamp: Option<i64>,
}

/// Float equality where NaN equals NaN (any payload), so parsed bodies compare equal.
fn same_value(a: f64, b: f64) -> bool {
    a == b || (a.is_nan() && b.is_nan())
}

/// Equal when labels, timestamp and exemplar match and values are equal or both NaN.
impl PartialEq for MetricSample {
    fn eq(&self, other: &Self) -> bool {
        self.labels == other.labels
            && same_value(self.value, other.value)
            && self.timestamp == other.timestamp
            && self.exemplar == other.exemplar
    }
}

/// Equal when labels and timestamp match and values are equal or both NaN.
impl PartialEq for Exemplar {
    fn eq(&self, other: &Self) -> bool {
        self.labels == other.labels
            && same_value(self.value, other.value)
            && self.timestamp == other.timestamp
    }
}

impl MetricFamily {
    /// An empty family of `name` and type.
    pub fn new(name: impl Into<String>, metric_type: MetricType) -> Self {
        MetricFamily {
            name: name.into(),
            metric_type,
            ..Default::default()
        }
    }

    /// True when a sample named `sample_name` belongs to this family.
    fn owns_sample_name(&self, sample_name: &str) -> bool {
        match sample_name.strip_prefix(self.name.as_str()) {
            Some("") => true,
            Some(suffix) => self.metric_type.sample_suffixes().contains(&suffix),
            None => false,
        }
    }
}

/// Owned label set from borrowed pairs plus the metric name.
fn owned_labels(name: &str, pairs: LabelPairs<'_>) -> Labels {
    let mut v = Vec::with_capacity(8);
    v.push(Label::new(METRIC_NAME, name));
    v.extend(pairs.iter().map(|(n, v)| Label::new(n, v)));
    Labels::new(v)
}

fn owned_exemplar_labels(pairs: LabelPairs<'_>) -> Labels {
    Labels::new(pairs.iter().map(|(n, v)| Label::new(n, v)).collect())
}

/// Every suffix any type owns (union of [`MetricType::sample_suffixes`]).
const ALL_SUFFIXES: [&str; 8] = [
    "_total", "_created", "_bucket", "_count", "_sum", "_gcount", "_gsum", "_info",
];

/// Collects families while entries stream by.
#[derive(Default)]
struct FamilyBuilder {
    families: Vec<MetricFamily>,
    by_name: HashMap<String, usize>,
    current: Option<usize>,
}

impl FamilyBuilder {
    fn family_for_metadata(&mut self, name: &str) -> &mut MetricFamily {
        let idx = match self.by_name.get(name) {
            Some(&i) => i,
            None => self.push(MetricFamily::new(name, MetricType::Unknown)),
        };
        self.current = Some(idx);
        &mut self.families[idx]
    }

    fn push(&mut self, f: MetricFamily) -> usize {
        let idx = self.families.len();
        self.by_name.insert(f.name.clone(), idx);
        self.families.push(f);
        idx
    }

    fn family_for_sample(&mut self, sample_name: &str) -> &mut MetricFamily {
        if let Some(i) = self.current {
            if self.families[i].owns_sample_name(sample_name) {
                return &mut self.families[i];
            }
        }
        // An earlier family this sample fits: the exact name, or a suffix-stripped one.
        let mut found = self.by_name.get(sample_name).copied();
        if found.is_none() {
            found = ALL_SUFFIXES.iter().find_map(|suffix| {
                let base = sample_name.strip_suffix(suffix)?;
                let &i = self.by_name.get(base)?;
                self.families[i].owns_sample_name(sample_name).then_some(i)
            });
        }
        let idx = match found {
            Some(i) => i,
            None => self.push(MetricFamily::new(sample_name, MetricType::Unknown)),
        };
        self.current = Some(idx);
        &mut self.families[idx]
    }
}

/// Parses a whole body into owned metric families, in order of first appearance.
pub fn parse_families(body: &[u8], format: Format) -> Result<Vec<MetricFamily>, ParseError> {
    let mut b = FamilyBuilder::default();
    for entry in parse(body, format) {
        match entry? {
            Entry::Help {
                metric_family,
                text,
            } => b.family_for_metadata(&metric_family).help = Some(text.into_owned()),
            Entry::Type {
                metric_family,
                metric_type,
            } => b.family_for_metadata(&metric_family).metric_type = metric_type,
            Entry::Unit {
                metric_family,
                unit,
            } => b.family_for_metadata(&metric_family).unit = Some(unit.to_string()),
            Entry::Comment(_) | Entry::Eof => {}
            Entry::Sample(s) => {
                let sample = MetricSample {
                    labels: owned_labels(&s.name, s.labels),
                    value: s.value,
                    timestamp: s.timestamp,
                    exemplar: s.exemplar.map(|e| Exemplar {
                        labels: owned_exemplar_labels(e.labels),
                        value: e.value,
                        timestamp: e.timestamp,
                    }),
                };
                b.family_for_sample(&s.name).samples.push(sample);
            }
        }
    }
    Ok(b.families)
}

/// Parses a whole body into `(labels, value, timestamp)` triples in written order,
/// labels including `__name__`.
pub fn parse_samples(
    body: &[u8],
    format: Format,
) -> Result<Vec<(Labels, f64, Option<i64>)>, ParseError> {
    let mut out = Vec::new();
    for entry in parse(body, format) {
        if let Entry::Sample(s) = entry? {
            out.push((owned_labels(&s.name, s.labels), s.value, s.timestamp));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_openmetrics_suffixes() {
        let body = b"# HELP rpc_requests Total number of RPC requests received.
# TYPE rpc_requests counter
rpc_requests_total{service=\"exponential\"} 22.0
rpc_requests_created{service=\"exponential\"} 1.726839813016893e+09
# TYPE h_seconds histogram
# UNIT h_seconds seconds
h_seconds_bucket{le=\"1\"} 1 # {trace_id=\"x\"} 0.5 123.4
h_seconds_bucket{le=\"+Inf\"} 2
h_seconds_count 2
h_seconds_sum 3
h_seconds_created 1
# TYPE i info
i_info{v=\"1\"} 1
# EOF
";
        let f = parse_families(body, Format::OpenMetrics).unwrap();
        assert_eq!(f.len(), 3);
        assert_eq!(f[0].name, "rpc_requests");
        assert_eq!(f[0].metric_type, MetricType::Counter);
        assert_eq!(
            f[0].help.as_deref(),
            Some("Total number of RPC requests received.")
        );
        assert_eq!(f[0].samples.len(), 2);
        assert_eq!(
            f[0].samples[1].labels,
            Labels::from_pairs(&[
                ("__name__", "rpc_requests_created"),
                ("service", "exponential")
            ])
        );
        assert_eq!(f[1].unit.as_deref(), Some("seconds"));
        assert_eq!(f[1].samples.len(), 5);
        assert_eq!(
            f[1].samples[0].exemplar,
            Some(Exemplar {
                labels: Labels::from_pairs(&[("trace_id", "x")]),
                value: 0.5,
                timestamp: Some(123400),
            })
        );
        assert_eq!(f[2].samples.len(), 1);
    }

    #[test]
    fn ungrouped_samples_get_their_own_family() {
        let body = b"# TYPE a counter\na_total 1\nb 2\na_total{x=\"y\"} 3\nb_total 4\n";
        let f = parse_families(body, Format::PromText).unwrap();
        let names: Vec<_> = f
            .iter()
            .map(|f| (f.name.as_str(), f.samples.len()))
            .collect();
        assert_eq!(names, vec![("a", 2), ("b", 1), ("b_total", 1)]);
        assert_eq!(f[1].metric_type, MetricType::Unknown);
    }

    #[test]
    fn parse_samples_drops_empty_label_values() {
        let s = parse_samples(
            b"go_build_info{checksum=\"\",path=\"\",version=\"\"} 1.0 5\n",
            Format::PromText,
        )
        .unwrap();
        assert_eq!(
            s,
            vec![(
                Labels::from_pairs(&[("__name__", "go_build_info")]),
                1.0,
                Some(5)
            )]
        );
        assert!(parse_samples(b"a{", Format::PromText).is_err());
    }

    #[test]
    fn nan_samples_compare_equal() {
        let a = MetricSample {
            labels: Labels::empty(),
            value: f64::NAN,
            timestamp: None,
            exemplar: None,
        };
        let mut b = a.clone();
        b.value = f64::from_bits(super::super::NORMAL_NAN_BITS);
        assert_eq!(a, b);
        b.value = 1.0;
        assert_ne!(a, b);
    }
}
