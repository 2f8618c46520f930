//! Queriers over several sources (the head and persisted blocks): series with the same labels
//! from different sources are merged by timestamp, duplicate timestamps removed.
//!
//! Mirrors Prometheus `storage/merge.go` (`NewMergeQuerier`, `ChainSampleIterator`).

use std::collections::BTreeSet;

use crate::model::{Matcher, Sample};
use crate::storage::{Querier, QueryError, SampleIterator, Series};

/// Merges the results of several queriers.
pub struct MergeQuerier {
    queriers: Vec<Box<dyn Querier>>,
}

impl MergeQuerier {
    /// Sources in priority order: on a timestamp present in several, the first wins.
    pub fn new(queriers: Vec<Box<dyn Querier>>) -> Self {
        MergeQuerier { queriers }
    }
}

impl Querier for MergeQuerier {
    fn select(&self, matchers: &[Matcher]) -> Result<Vec<Series>, QueryError> {
        let mut all: Vec<(usize, Series)> = Vec::new();
        for (i, q) in self.queriers.iter().enumerate() {
            all.extend(q.select(matchers)?.into_iter().map(|s| (i, s)));
        }
        // Stable on source index, so equal label sets keep source priority order.
        all.sort_by(|a, b| a.1.labels.cmp(&b.1.labels).then(a.0.cmp(&b.0)));
        let mut out: Vec<Series> = Vec::new();
        let mut group: Vec<Series> = Vec::new();
        let flush = |group: &mut Vec<Series>, out: &mut Vec<Series>| {
            if group.len() == 1 {
                out.append(group);
            } else if let Some(first) = group.first() {
                let labels = first.labels.clone();
                let its = group.drain(..).map(|s| s.samples).collect();
                out.push(Series {
                    labels,
                    samples: Box::new(MergeSampleIterator::new(its)),
                });
            }
        };
        for (_, s) in all {
            if group.first().is_some_and(|g| g.labels != s.labels) {
                flush(&mut group, &mut out);
            }
            group.push(s);
        }
        flush(&mut group, &mut out);
        Ok(out)
    }

    fn label_names(&self, matchers: &[Matcher]) -> Result<Vec<String>, QueryError> {
        let mut set = BTreeSet::new();
        for q in &self.queriers {
            set.extend(q.label_names(matchers)?);
        }
        Ok(set.into_iter().collect())
    }

    fn label_values(&self, name: &str, matchers: &[Matcher]) -> Result<Vec<String>, QueryError> {
        let mut set = BTreeSet::new();
        for q in &self.queriers {
            set.extend(q.label_values(name, matchers)?);
        }
        Ok(set.into_iter().collect())
    }
}

/// Merges sample iterators of one series by timestamp; on equal timestamps the earliest
/// iterator's sample is returned and the others are skipped.
struct MergeSampleIterator {
    its: Vec<Box<dyn SampleIterator>>,
    heads: Vec<Option<Sample>>,
    started: bool,
    /// The first source error met by a bulk read (which drops the sources).
    err: Option<QueryError>,
}

impl MergeSampleIterator {
    pub fn new(its: Vec<Box<dyn SampleIterator>>) -> Self {
        let n = its.len();
        MergeSampleIterator {
            its,
            heads: vec![None; n],
            started: false,
            err: None,
        }
    }

    fn start(&mut self) {
        if !self.started {
            self.started = true;
            for (h, it) in self.heads.iter_mut().zip(self.its.iter_mut()) {
                *h = it.next();
            }
        }
    }
}

impl SampleIterator for MergeSampleIterator {
    fn next(&mut self) -> Option<Sample> {
        self.start();
        let min = self.heads.iter().flatten().map(|s| s.t).min()?;
        let mut out = None;
        for (h, it) in self.heads.iter_mut().zip(self.its.iter_mut()) {
            if let Some(s) = *h {
                if s.t == min {
                    if out.is_none() {
                        out = Some(s);
                    }
                    *h = it.next();
                }
            }
        }
        out
    }

    fn read_range(&mut self, mint: i64, maxt: i64, out: &mut Vec<Sample>) {
        if self.started {
            // Heads already taken: merge sample by sample.
            let mut cur = self.seek(mint);
            while let Some(s) = cur {
                if s.t > maxt {
                    break;
                }
                out.push(s);
                cur = self.next();
            }
            return;
        }
        // Bulk-read every source, then merge the runs; sources rarely overlap in time
        // (blocks cover disjoint ranges, the head follows them), so most merges are a
        // concatenation.
        let mut runs: Vec<Vec<Sample>> = self
            .its
            .iter_mut()
            .map(|it| {
                let mut v = Vec::new();
                it.read_range(mint, maxt, &mut v);
                v
            })
            .filter(|v| !v.is_empty())
            .collect();
        self.err = self.its.iter().find_map(|it| it.err());
        self.started = true;
        self.heads.iter_mut().for_each(|h| *h = None);
        self.its.clear();
        if runs.len() == 1 {
            out.append(&mut runs[0]);
            return;
        }
        // Runs ordered by first timestamp; stable, so ties keep source priority.
        let mut order: Vec<usize> = (0..runs.len()).collect();
        order.sort_by_key(|&i| runs[i][0].t);
        let disjoint = order
            .windows(2)
            .all(|w| runs[w[0]].last().map(|s| s.t) < runs[w[1]].first().map(|s| s.t));
        if disjoint {
            for i in order {
                out.append(&mut runs[i]);
            }
            return;
        }
        let mut pos = vec![0usize; runs.len()];
        loop {
            let mut best: Option<(i64, usize)> = None;
            for (i, run) in runs.iter().enumerate() {
                if let Some(s) = run.get(pos[i]) {
                    if best.is_none_or(|(t, _)| s.t < t) {
                        best = Some((s.t, i));
                    }
                }
            }
            let Some((t, i)) = best else { break };
            out.push(runs[i][pos[i]]);
            for (p, run) in pos.iter_mut().zip(&runs) {
                if run.get(*p).is_some_and(|s| s.t == t) {
                    *p += 1;
                }
            }
        }
    }

    fn seek(&mut self, t: i64) -> Option<Sample> {
        self.start();
        for (h, it) in self.heads.iter_mut().zip(self.its.iter_mut()) {
            if h.is_some_and(|s| s.t < t) {
                *h = it.seek(t);
            }
        }
        self.next()
    }

    fn err(&self) -> Option<QueryError> {
        self.err
            .clone()
            .or_else(|| self.its.iter().find_map(|it| it.err()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Labels;
    use crate::storage::VecSampleIterator;

    fn it(ts: &[(i64, f64)]) -> Box<dyn SampleIterator> {
        Box::new(VecSampleIterator::new(
            ts.iter().map(|&(t, v)| Sample::new(t, v)).collect(),
        ))
    }

    struct Fixed(Vec<(Labels, Vec<(i64, f64)>)>);
    impl Querier for Fixed {
        fn select(&self, _: &[Matcher]) -> Result<Vec<Series>, QueryError> {
            Ok(self
                .0
                .iter()
                .map(|(l, s)| Series {
                    labels: l.clone(),
                    samples: it(s),
                })
                .collect())
        }
        fn label_names(&self, _: &[Matcher]) -> Result<Vec<String>, QueryError> {
            Ok(self
                .0
                .iter()
                .flat_map(|(l, _)| l.iter().map(|x| x.name.clone()))
                .collect())
        }
        fn label_values(&self, n: &str, _: &[Matcher]) -> Result<Vec<String>, QueryError> {
            Ok(self
                .0
                .iter()
                .filter_map(|(l, _)| l.get(n).map(str::to_string))
                .collect())
        }
    }

    #[test]
    fn merges_by_timestamp_and_dedups() {
        let mut m = MergeSampleIterator::new(vec![
            it(&[(1, 1.0), (3, 3.0), (5, 5.0)]),
            it(&[(2, 2.0), (3, 30.0), (6, 6.0)]),
        ]);
        let got: Vec<(i64, f64)> = std::iter::from_fn(|| m.next())
            .map(|s| (s.t, s.v))
            .collect();
        assert_eq!(got, vec![(1, 1.0), (2, 2.0), (3, 3.0), (5, 5.0), (6, 6.0)]);
        let mut m = MergeSampleIterator::new(vec![it(&[(1, 1.0), (5, 5.0)]), it(&[(4, 4.0)])]);
        assert_eq!(m.seek(2).map(|s| s.t), Some(4));
        assert_eq!(m.next().map(|s| s.t), Some(5));
        assert_eq!(m.next(), None);
    }

    #[test]
    fn bulk_read_matches_sample_by_sample_merge() {
        let runs: [&[(i64, f64)]; 3] = [
            &[(1, 1.0), (3, 3.0), (5, 5.0), (9, 9.0)],
            &[(2, 2.0), (3, 30.0), (6, 6.0)],
            &[(10, 10.0), (11, 11.0)],
        ];
        for (mint, maxt) in [(0, 20), (2, 9), (3, 3), (7, 8), (12, 30)] {
            let mut a = MergeSampleIterator::new(runs.iter().map(|r| it(r)).collect());
            let mut want = Vec::new();
            let mut cur = a.seek(mint);
            while let Some(s) = cur.filter(|s| s.t <= maxt) {
                want.push(s);
                cur = a.next();
            }
            let mut b = MergeSampleIterator::new(runs.iter().map(|r| it(r)).collect());
            let mut got = Vec::new();
            b.read_range(mint, maxt, &mut got);
            assert_eq!(got, want, "[{mint}, {maxt}]");
        }
        // Disjoint sources concatenate in time order whatever their priority order.
        let mut m = MergeSampleIterator::new(vec![it(&[(5, 5.0)]), it(&[(1, 1.0), (2, 2.0)])]);
        let mut got = Vec::new();
        m.read_range(0, 10, &mut got);
        assert_eq!(got.iter().map(|s| s.t).collect::<Vec<_>>(), vec![1, 2, 5]);
    }

    #[test]
    fn merge_querier_groups_equal_labels() {
        let a = Labels::from_pairs(&[("a", "1")]);
        let b = Labels::from_pairs(&[("b", "1")]);
        let q = MergeQuerier::new(vec![
            Box::new(Fixed(vec![
                (a.clone(), vec![(1, 1.0)]),
                (b.clone(), vec![(1, 1.0)]),
            ])),
            Box::new(Fixed(vec![(a.clone(), vec![(1, 9.0), (2, 2.0)])])),
        ]);
        let mut s = q.select(&[Matcher::equal("x", "y")]).unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].labels, a);
        let got: Vec<Sample> = std::iter::from_fn(|| s[0].samples.next()).collect();
        assert_eq!(got, vec![Sample::new(1, 1.0), Sample::new(2, 2.0)]);
        assert_eq!(q.label_names(&[]).unwrap(), vec!["a", "b"]);
        assert_eq!(q.label_values("a", &[]).unwrap(), vec!["1"]);
    }
}
