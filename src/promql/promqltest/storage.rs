//! An in-memory [`Queryable`] for the script runner: series sorted by labels, each a sorted
//! vector of samples, selected with [`Matcher`]s. Mirrors what upstream's test storage (a
//! temporary TSDB head) exposes to the engine.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use crate::model::{Labels, MatchOp, Matcher, Sample, METRIC_NAME};
use crate::storage::{Querier, QueryError, Queryable, SampleIterator, Series};

/// Series data shared between the storage and its queriers.
type Data = Arc<BTreeMap<Labels, Arc<Vec<Sample>>>>;

/// Label sets by metric name, so a selector with a name only scans its own series.
type NameIndex = Arc<HashMap<String, Vec<Labels>>>;

/// An in-memory series store.
#[derive(Clone, Debug, Default)]
pub struct MemStorage {
    series: Data,
    by_name: NameIndex,
}

impl MemStorage {
    /// An empty store.
    pub fn new() -> Self {
        MemStorage::default()
    }

    /// Adds samples to a series, keeping timestamps sorted; a sample at an existing
    /// timestamp replaces the old one.
    pub fn add(&mut self, labels: Labels, samples: impl IntoIterator<Item = Sample>) {
        let map = Arc::make_mut(&mut self.series);
        if !map.contains_key(&labels) {
            let name = labels.metric_name().unwrap_or("").to_string();
            let idx = Arc::make_mut(&mut self.by_name).entry(name).or_default();
            let pos = idx.partition_point(|l| l < &labels);
            idx.insert(pos, labels.clone());
        }
        let v = Arc::make_mut(map.entry(labels).or_default());
        for s in samples {
            match v.binary_search_by_key(&s.t, |x| x.t) {
                Ok(i) => v[i] = s,
                Err(i) => v.insert(i, s),
            }
        }
    }

    /// Removes every series.
    pub fn clear(&mut self) {
        self.series = Data::default();
        self.by_name = NameIndex::default();
    }

    /// Number of series.
    pub fn len(&self) -> usize {
        self.series.len()
    }

    /// True when no series is stored.
    pub fn is_empty(&self) -> bool {
        self.series.is_empty()
    }
}

/// Iterates a shared sample vector without copying it.
struct SharedSampleIterator {
    samples: Arc<Vec<Sample>>,
    pos: usize,
    end: usize,
}

impl SampleIterator for SharedSampleIterator {
    fn next(&mut self) -> Option<Sample> {
        if self.pos >= self.end {
            return None;
        }
        let s = self.samples.get(self.pos).copied();
        self.pos += 1;
        s
    }

    fn seek(&mut self, t: i64) -> Option<Sample> {
        let rest = self.samples.get(self.pos..self.end).unwrap_or(&[]);
        self.pos += rest.partition_point(|s| s.t < t);
        self.next()
    }
}

struct MemQuerier {
    series: Data,
    by_name: NameIndex,
    mint: i64,
    maxt: i64,
}

fn matches(l: &Labels, matchers: &[Matcher]) -> bool {
    matchers
        .iter()
        .all(|m| m.matches(l.get(&m.name).unwrap_or("")))
}

impl Querier for MemQuerier {
    fn select(&self, matchers: &[Matcher]) -> Result<Vec<Series>, QueryError> {
        if !matchers.is_empty() && matchers.iter().all(|m| m.matches_empty()) {
            return Err(QueryError::BadMatchers(
                "at least one matcher must not match the empty string".into(),
            ));
        }
        let mut out = Vec::new();
        let named = matchers
            .iter()
            .find(|m| m.name == METRIC_NAME && m.op == MatchOp::Equal);
        let candidates: Box<dyn Iterator<Item = (&Labels, &Arc<Vec<Sample>>)>> = match named {
            Some(m) => Box::new(
                self.by_name
                    .get(&m.value)
                    .into_iter()
                    .flatten()
                    .filter_map(|l| self.series.get_key_value(l)),
            ),
            None => Box::new(self.series.iter()),
        };
        for (l, samples) in candidates {
            if !matches(l, matchers) {
                continue;
            }
            let lo = samples.partition_point(|s| s.t < self.mint);
            let hi = samples.partition_point(|s| s.t <= self.maxt);
            if lo >= hi {
                continue;
            }
            out.push(Series {
                labels: l.clone(),
                samples: Box::new(SharedSampleIterator {
                    samples: Arc::clone(samples),
                    pos: lo,
                    end: hi,
                }),
            });
        }
        Ok(out)
    }

    fn label_names(&self, matchers: &[Matcher]) -> Result<Vec<String>, QueryError> {
        let mut names: Vec<String> = self
            .series
            .keys()
            .filter(|l| matches(l, matchers))
            .flat_map(|l| l.iter().map(|x| x.name.clone()).collect::<Vec<_>>())
            .collect();
        names.sort();
        names.dedup();
        Ok(names)
    }

    fn label_values(&self, name: &str, matchers: &[Matcher]) -> Result<Vec<String>, QueryError> {
        let mut vals: Vec<String> = self
            .series
            .keys()
            .filter(|l| matches(l, matchers))
            .filter_map(|l| l.get(name).map(str::to_string))
            .collect();
        vals.sort();
        vals.dedup();
        Ok(vals)
    }
}

impl Queryable for MemStorage {
    fn querier(&self, mint: i64, maxt: i64) -> Result<Box<dyn Querier>, QueryError> {
        Ok(Box::new(MemQuerier {
            series: Arc::clone(&self.series),
            by_name: Arc::clone(&self.by_name),
            mint,
            maxt,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn select_filters_by_matchers_and_time() {
        let mut st = MemStorage::new();
        let a = Labels::from_pairs(&[("__name__", "up"), ("job", "a")]);
        let b = Labels::from_pairs(&[("__name__", "up"), ("job", "b")]);
        st.add(a.clone(), (0..5).map(|i| Sample::new(i * 10, i as f64)));
        st.add(b, [Sample::new(100, 1.0)]);
        let q = st.querier(10, 30).map_err(|e| e.to_string());
        let q = q.as_ref().map_err(|e| e.clone());
        let Ok(q) = q else { panic!("querier") };
        let got = q
            .select(&[Matcher::equal("__name__", "up")])
            .unwrap_or_default();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].labels, a);
        let mut it = SharedSampleIterator {
            samples: Arc::new((0..10).map(|i| Sample::new(i * 10, 0.0)).collect()),
            pos: 2,
            end: 8,
        };
        assert_eq!(it.seek(45).map(|s| s.t), Some(50));
        assert_eq!(it.next().map(|s| s.t), Some(60));
        assert_eq!(it.seek(0).map(|s| s.t), Some(70));
        assert!(it.next().is_none());
        assert_eq!(
            q.label_values("job", &[]).unwrap_or_default(),
            vec!["a".to_string(), "b".to_string()]
        );
    }
}
