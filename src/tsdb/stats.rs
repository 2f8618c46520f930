//! Cardinality statistics over any querier (head, blocks, or the whole database): what
//! `/api/v1/status/tsdb` and `promtui tsdb stats` report, like Prometheus' TSDB status
//! page (`tsdb/index` `PostingsStats`). Only labels are read; no chunk is decoded.

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::model::{MatchOp, Matcher};
use crate::storage::{Querier, QueryError};

/// Cardinality of a set of series. Lists are sorted by count (descending), then name,
/// and cut to the requested length.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Cardinality {
    pub num_series: u64,
    /// Distinct `name=value` pairs.
    pub num_label_pairs: u64,
    /// Metric names by number of series.
    pub series_by_metric_name: Vec<(String, u64)>,
    /// Label names by number of distinct values.
    pub values_by_label_name: Vec<(String, u64)>,
    /// Label names by the bytes of their distinct values.
    pub memory_by_label_name: Vec<(String, u64)>,
    /// `name=value` pairs by number of series carrying them.
    pub series_by_label_pair: Vec<(String, u64)>,
}

fn top<K: Into<String>>(
    map: impl IntoIterator<Item = (K, u64)>,
    limit: usize,
) -> Vec<(String, u64)> {
    let mut v: Vec<(String, u64)> = map.into_iter().map(|(k, n)| (k.into(), n)).collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    v.truncate(limit);
    v
}

/// Computes [`Cardinality`] of every series with a metric name visible to `q`.
pub fn cardinality(q: &dyn Querier, limit: usize) -> Result<Cardinality, QueryError> {
    let all = Matcher::new(MatchOp::RegexMatch, crate::model::METRIC_NAME, ".+")
        .map_err(|e| QueryError::BadMatchers(e.to_string()))?;
    let series = q.select(&[all])?;
    let mut by_metric: HashMap<&str, u64> = HashMap::new();
    let mut values: HashMap<&str, HashSet<&str>> = HashMap::new();
    let mut pairs: HashMap<(&str, &str), u64> = HashMap::new();
    for s in &series {
        if let Some(n) = s.labels.metric_name() {
            *by_metric.entry(n).or_default() += 1;
        }
        for l in s.labels.iter() {
            values.entry(&l.name).or_default().insert(&l.value);
            *pairs.entry((&l.name, &l.value)).or_default() += 1;
        }
    }
    let memory: BTreeMap<&str, u64> = values
        .iter()
        .map(|(n, vs)| (*n, vs.iter().map(|v| v.len() as u64).sum()))
        .collect();
    Ok(Cardinality {
        num_series: series.len() as u64,
        num_label_pairs: pairs.len() as u64,
        series_by_metric_name: top(by_metric, limit),
        values_by_label_name: top(values.iter().map(|(n, vs)| (*n, vs.len() as u64)), limit),
        memory_by_label_name: top(memory, limit),
        series_by_label_pair: top(
            pairs.into_iter().map(|((n, v), c)| (format!("{n}={v}"), c)),
            limit,
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Labels;
    use crate::storage::{Series, VecSampleIterator};

    struct Fixed(Vec<Labels>);

    impl Querier for Fixed {
        fn select(&self, _: &[Matcher]) -> Result<Vec<Series>, QueryError> {
            Ok(self
                .0
                .iter()
                .map(|l| Series {
                    labels: l.clone(),
                    samples: Box::new(VecSampleIterator::new(vec![])),
                })
                .collect())
        }
        fn label_names(&self, _: &[Matcher]) -> Result<Vec<String>, QueryError> {
            Ok(vec![])
        }
        fn label_values(&self, _: &str, _: &[Matcher]) -> Result<Vec<String>, QueryError> {
            Ok(vec![])
        }
    }

    #[test]
    fn counts_series_values_and_pairs() {
        let q = Fixed(vec![
            Labels::from_pairs(&[("__name__", "up"), ("job", "a")]),
            Labels::from_pairs(&[("__name__", "up"), ("job", "bb")]),
            Labels::from_pairs(&[("__name__", "x"), ("job", "a")]),
        ]);
        let c = cardinality(&q, 10).unwrap();
        assert_eq!(c.num_series, 3);
        assert_eq!(c.num_label_pairs, 4);
        assert_eq!(
            c.series_by_metric_name,
            vec![("up".into(), 2), ("x".into(), 1)]
        );
        assert_eq!(
            c.values_by_label_name,
            vec![("__name__".into(), 2), ("job".into(), 2)]
        );
        assert_eq!(
            c.memory_by_label_name,
            vec![("__name__".into(), 3), ("job".into(), 3)]
        );
        assert_eq!(c.series_by_label_pair[0], ("job=a".into(), 2));
        assert_eq!(c.series_by_label_pair[1], ("__name__=up".into(), 2));
        let c = cardinality(&q, 1).unwrap();
        assert_eq!(c.series_by_metric_name.len(), 1);
    }
}
