//! Reads from the head for a time range: matchers → postings → series snapshots with lazy
//! chunk iterators. Mirrors Prometheus `tsdb/head_read.go` and the block querier's
//! `PostingsForMatchers` path in `tsdb/querier.go`.

use std::collections::BTreeSet;
use std::sync::Arc;

use super::postings::postings_for_matchers;
use super::series::SeriesSnapshot;
use super::{resolve, Head, MemSeries};
use crate::model::{Labels, Matcher};
use crate::storage::{Querier, QueryError, Series};

/// Rejects matcher lists that would select every series (all match the empty string).
pub fn check_matchers(ms: &[Matcher]) -> Result<(), QueryError> {
    if ms.iter().all(Matcher::matches_empty) {
        let shown: Vec<String> = ms.iter().map(ToString::to_string).collect();
        return Err(QueryError::BadMatchers(format!(
            "at least one matcher must not match the empty string, got {{{}}}",
            shown.join(", ")
        )));
    }
    Ok(())
}

/// A querier over the head for `[mint, maxt]`.
pub struct HeadQuerier {
    head: Arc<Head>,
    mint: i64,
    maxt: i64,
}

impl HeadQuerier {
    pub fn new(head: Arc<Head>, mint: i64, maxt: i64) -> Self {
        HeadQuerier { head, mint, maxt }
    }

    fn series_for(&self, ms: &[Matcher]) -> Vec<Arc<MemSeries>> {
        let refs = {
            let syms = self.head.symbols().read();
            let p = self.head.postings().read();
            postings_for_matchers(&p, &syms, ms)
        };
        refs.into_iter()
            .filter_map(|r| self.head.get_by_ref(r))
            .collect()
    }

    /// Matching series with their snapshot for the range, labels resolved and sorted.
    pub fn select_snapshots(&self, ms: &[Matcher]) -> Vec<(Labels, SeriesSnapshot)> {
        if self.head.max_time() < self.mint || self.head.min_time() > self.maxt {
            return Vec::new();
        }
        let snaps: Vec<(Arc<MemSeries>, SeriesSnapshot)> = self
            .series_for(ms)
            .into_iter()
            .filter_map(|s| {
                let snap = s.state.lock().snapshot(self.mint, self.maxt)?;
                Some((s, snap))
            })
            .collect();
        let mut out: Vec<(Labels, SeriesSnapshot)> = {
            let syms = self.head.symbols().read();
            snaps
                .into_iter()
                .map(|(s, snap)| (resolve(&syms, &s.labels), snap))
                .collect()
        };
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }
}

impl Querier for HeadQuerier {
    fn select(&self, matchers: &[Matcher]) -> Result<Vec<Series>, QueryError> {
        check_matchers(matchers)?;
        let (mint, maxt) = (self.mint, self.maxt);
        Ok(self
            .select_snapshots(matchers)
            .into_iter()
            .map(|(labels, snap)| Series {
                labels,
                samples: Box::new(snap.into_iter(mint, maxt)),
            })
            .collect())
    }

    fn label_names(&self, matchers: &[Matcher]) -> Result<Vec<String>, QueryError> {
        let names: BTreeSet<String> = if matchers.is_empty() {
            let syms = self.head.symbols().read();
            let p = self.head.postings().read();
            p.names().map(|n| syms.get(n).to_string()).collect()
        } else {
            let series = self.series_for(matchers);
            let syms = self.head.symbols().read();
            series
                .iter()
                .flat_map(|s| s.labels.iter().map(|&[n, _]| n))
                .collect::<BTreeSet<u32>>()
                .into_iter()
                .map(|n| syms.get(n).to_string())
                .collect()
        };
        Ok(names.into_iter().collect())
    }

    fn label_values(&self, name: &str, matchers: &[Matcher]) -> Result<Vec<String>, QueryError> {
        let values: BTreeSet<String> = if matchers.is_empty() {
            let syms = self.head.symbols().read();
            let p = self.head.postings().read();
            match syms.lookup(name) {
                Some(n) => p.values(n).map(|(v, _)| syms.get(v).to_string()).collect(),
                None => BTreeSet::new(),
            }
        } else {
            let series = self.series_for(matchers);
            let syms = self.head.symbols().read();
            match syms.lookup(name) {
                Some(nid) => series
                    .iter()
                    .filter_map(|s| s.labels.iter().find(|p| p[0] == nid).map(|p| p[1]))
                    .collect::<BTreeSet<u32>>()
                    .into_iter()
                    .map(|v| syms.get(v).to_string())
                    .collect(),
                None => BTreeSet::new(),
            }
        };
        Ok(values.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{MatchOp, Sample};
    use crate::tsdb::head::HeadOptions;

    fn head() -> Arc<Head> {
        let h = Arc::new(Head::new(HeadOptions::default()));
        let sets: &[&[(&str, &str)]] = &[
            &[("__name__", "up"), ("job", "api"), ("instance", "a")],
            &[("__name__", "up"), ("job", "api"), ("instance", "b")],
            &[("__name__", "up"), ("job", "db"), ("instance", "c")],
            &[("__name__", "up"), ("instance", "d")],
            &[("__name__", "other"), ("job", "api"), ("env", "prod")],
        ];
        for (i, set) in sets.iter().enumerate() {
            let (s, _) = h.get_or_create(&Labels::from_pairs(set), false);
            h.append_direct(&s, 1000, i as f64, false).unwrap();
            h.append_direct(&s, 2000, i as f64 + 0.5, false).unwrap();
        }
        h
    }

    fn sel(q: &HeadQuerier, ms: &[(&str, MatchOp, &str)]) -> Vec<String> {
        let ms: Vec<Matcher> = ms
            .iter()
            .map(|(n, op, v)| Matcher::new(*op, *n, *v).unwrap())
            .collect();
        q.select(&ms)
            .unwrap()
            .into_iter()
            .map(|s| s.labels.to_string())
            .collect()
    }

    #[test]
    fn matcher_semantics() {
        use MatchOp::*;
        let q = HeadQuerier::new(head(), 0, 10_000);
        assert_eq!(sel(&q, &[("__name__", Equal, "up")]).len(), 4);
        assert_eq!(
            sel(&q, &[("__name__", Equal, "up"), ("job", NotEqual, "api")]),
            vec![r#"up{instance="c", job="db"}"#, r#"up{instance="d"}"#],
            "!= keeps series lacking the label"
        );
        assert_eq!(
            sel(&q, &[("__name__", Equal, "up"), ("job", Equal, "")]),
            vec![r#"up{instance="d"}"#],
            "= \"\" selects series lacking the label"
        );
        assert_eq!(
            sel(&q, &[("__name__", Equal, "up"), ("job", NotEqual, "")]).len(),
            3,
            "!= \"\" requires the label"
        );
        assert_eq!(
            sel(&q, &[("job", RegexMatch, "api|db")]).len(),
            4,
            "alternation fast path"
        );
        assert_eq!(sel(&q, &[("job", RegexMatch, "a.*")]).len(), 3);
        assert_eq!(
            sel(&q, &[("__name__", Equal, "up"), ("job", RegexMatch, "db|")]),
            vec![r#"up{instance="c", job="db"}"#, r#"up{instance="d"}"#],
            "regex matching empty selects series lacking the label"
        );
        assert_eq!(
            sel(
                &q,
                &[("__name__", Equal, "up"), ("job", RegexNoMatch, "a.*")]
            ),
            vec![r#"up{instance="c", job="db"}"#, r#"up{instance="d"}"#]
        );
        assert_eq!(
            sel(
                &q,
                &[("__name__", Equal, "up"), ("job", RegexNoMatch, ".+")]
            ),
            vec![r#"up{instance="d"}"#]
        );
        assert!(sel(&q, &[("__name__", Equal, "nope")]).is_empty());
        assert!(sel(&q, &[("job", Equal, "api"), ("job", Equal, "db")]).is_empty());
        assert_eq!(
            sel(&q, &[("env", NotEqual, ""), ("nolabel", Equal, "")]).len(),
            1
        );
        // All matchers match "": rejected.
        let bad = [Matcher::new(RegexMatch, "job", ".*").unwrap()];
        assert!(matches!(q.select(&bad), Err(QueryError::BadMatchers(_))));
        assert!(matches!(q.select(&[]), Err(QueryError::BadMatchers(_))));
    }

    #[test]
    fn time_range_and_labels_lookups() {
        let h = head();
        let q = HeadQuerier::new(h.clone(), 1500, 10_000);
        let mut s = q.select(&[Matcher::equal("instance", "a")]).unwrap();
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].samples.next(), Some(Sample::new(2000, 0.5)));
        assert_eq!(s[0].samples.next(), None);
        assert!(HeadQuerier::new(h.clone(), 3000, 4000)
            .select(&[Matcher::equal("instance", "a")])
            .unwrap()
            .is_empty());
        assert_eq!(
            q.label_names(&[]).unwrap(),
            vec!["__name__", "env", "instance", "job"]
        );
        assert_eq!(
            q.label_names(&[Matcher::equal("__name__", "up")]).unwrap(),
            vec!["__name__", "instance", "job"]
        );
        assert_eq!(q.label_values("job", &[]).unwrap(), vec!["api", "db"]);
        assert_eq!(
            q.label_values("instance", &[Matcher::equal("job", "api")])
                .unwrap(),
            vec!["a", "b"]
        );
        assert!(q.label_values("missing", &[]).unwrap().is_empty());
    }
}
