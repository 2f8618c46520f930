//! Backfilling recording rules over stored history (`promtool tsdb create-blocks-from
//! rules`): every recording rule of the given files is evaluated as a range query over
//! `[start, end]` at the evaluation interval, against the local database or (`--url`, as
//! promtool) a Prometheus-compatible server's `query_range` in windows of one block
//! duration; its results are named and labelled as the rule says, and written as blocks.
//! As promtool, alerting rules
//! are skipped, and a rule whose results collide after relabelling fails with upstream's
//! message; rules run in file order, each over the stored data only (a rule that reads
//! another recording rule sees that rule's backfilled output only if it was backfilled
//! before).

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;

use crate::model::{Labels, METRIC_NAME};
use crate::promql::engine::{Engine, Series, Value};
use crate::storage::Queryable;
use crate::tsdb::import::{Backfill, ImportError, ImportProgress, ImportReport};

use super::file::{Rule, RuleFile};

/// What a backfill did, per rule.
#[derive(Debug, Default)]
pub struct RulesBackfill {
    /// (group, record name, series, samples) for every recording rule.
    pub rules: Vec<(String, String, usize, usize)>,
    /// Alerting rules skipped.
    pub skipped_alerting: usize,
    pub import: ImportReport,
}

/// Why a backfill failed.
#[derive(Debug, thiserror::Error)]
pub enum BackfillError {
    #[error("rule {record:?} of group {group:?}: {message}")]
    Rule {
        group: String,
        record: String,
        message: String,
    },
    #[error(transparent)]
    Import(#[from] ImportError),
}

/// Evaluates a recording rule's expression over `[start, end]` every `step` (ms): the
/// series of the resulting matrix, or a message.
pub trait RangeEval {
    fn range(
        &mut self,
        rule: &super::file::RecordingRule,
        start: i64,
        end: i64,
        step: i64,
    ) -> Result<Vec<Series>, String>;
}

/// Range queries against a local database.
pub struct LocalEval<'a> {
    pub db: &'a dyn Queryable,
    pub engine: &'a Engine,
}

impl RangeEval for LocalEval<'_> {
    fn range(
        &mut self,
        rule: &super::file::RecordingRule,
        start: i64,
        end: i64,
        step: i64,
    ) -> Result<Vec<Series>, String> {
        let res = self
            .engine
            .range_query(self.db, &rule.expr, start, end, step)
            .map_err(|e| e.to_string())?;
        match res.value {
            Value::Matrix(series) => Ok(series),
            _ => Err("range query did not return a matrix".into()),
        }
    }
}

/// Range queries against a Prometheus-compatible server, in windows of `window` ms (as
/// promtool queries one block duration at a time, which keeps every request under the
/// server's 11,000 points per series), joined per series.
pub struct RemoteEval<F> {
    pub window: i64,
    /// `(expr, start, end, step)` to the server's `/api/v1/query_range`.
    pub query: F,
}

impl<F> RangeEval for RemoteEval<F>
where
    F: FnMut(&str, i64, i64, i64) -> Result<Vec<Series>, String>,
{
    fn range(
        &mut self,
        rule: &super::file::RecordingRule,
        start: i64,
        end: i64,
        step: i64,
    ) -> Result<Vec<Series>, String> {
        let mut joined: BTreeMap<Labels, Series> = BTreeMap::new();
        // Windows start on the evaluation grid, so the points are those of one query.
        let per = (self.window.max(step) / step).max(1);
        let mut t = start;
        while t <= end {
            let w_end = (t + (per - 1) * step).min(end);
            for s in (self.query)(&rule.expr_text, t, w_end, step)? {
                match joined.get_mut(&s.metric) {
                    Some(prev) => prev.floats.extend(s.floats),
                    None => {
                        joined.insert(s.metric.clone(), s);
                    }
                }
            }
            t = w_end + step;
        }
        Ok(joined.into_values().collect())
    }
}

/// Evaluates the recording rules of `files` over `[start, end]` (ms) every `interval` ms
/// through `eval`, writing the results through `backfill`.
pub fn backfill_rules<P: FnMut(ImportProgress)>(
    eval: &mut dyn RangeEval,
    files: &[(PathBuf, RuleFile)],
    start: i64,
    end: i64,
    interval: i64,
    mut backfill: Backfill<'_, P>,
) -> Result<RulesBackfill, BackfillError> {
    let mut out = RulesBackfill::default();
    for (_, file) in files {
        for g in &file.groups {
            for rule in &g.rules {
                let rec = match rule {
                    Rule::Recording(r) => r,
                    Rule::Alerting(_) => {
                        out.skipped_alerting += 1;
                        continue;
                    }
                };
                let fail = |message: String| BackfillError::Rule {
                    group: g.name.clone(),
                    record: rec.record.clone(),
                    message,
                };
                let series = eval.range(rec, start, end, interval).map_err(fail)?;
                let mut seen = HashSet::with_capacity(series.len());
                let mut samples = 0;
                let n = series.len();
                for s in series {
                    let mut m: BTreeMap<String, String> = s
                        .metric
                        .iter()
                        .map(|l| (l.name.to_string(), l.value.to_string()))
                        .collect();
                    m.insert(METRIC_NAME.to_string(), rec.record.clone());
                    // Group labels apply too; the rule's own win.
                    for (k, v) in g.labels.iter().chain(&rec.labels) {
                        if v.is_empty() {
                            m.remove(k);
                        } else {
                            m.insert(k.clone(), v.clone());
                        }
                    }
                    let pairs: Vec<(&str, &str)> =
                        m.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                    let labels = Labels::from_pairs(&pairs);
                    if !seen.insert(labels.clone()) {
                        return Err(fail(
                            "vector contains metrics with the same labelset after applying rule labels"
                                .into(),
                        ));
                    }
                    let r = backfill.series(labels);
                    for p in s.floats {
                        backfill.append(r, p.t, p.f)?;
                        samples += 1;
                    }
                }
                out.rules
                    .push((g.name.clone(), rec.record.clone(), n, samples));
            }
        }
    }
    out.import = backfill.finish()?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::Appender;
    use crate::tsdb::import::ImportOptions;
    use crate::tsdb::Db;

    fn backfill(blocks: &std::path::Path) -> Backfill<'_, fn(ImportProgress)> {
        let opts = ImportOptions {
            block_duration: 7_200_000,
            max_buffered_bytes: 1 << 20,
            compact_spilled: true,
        };
        Backfill::new(blocks, opts, (|_| {}) as fn(ImportProgress)).unwrap()
    }

    #[test]
    fn recording_rules_are_evaluated_over_the_range_and_written_as_blocks() {
        let d = tempfile::tempdir().unwrap();
        let src = Db::open(d.path().join("src"), Default::default()).unwrap();
        let t0 = 1_700_000_000_000i64;
        {
            let mut app = src.appender();
            for i in 0..3 {
                let l = Labels::from_pairs(&[("__name__", "req_total"), ("i", &i.to_string())]);
                for k in 0..60 {
                    app.append(&l, t0 + k * 60_000, (k * (i + 1)) as f64)
                        .unwrap();
                }
            }
            app.commit().unwrap();
        }
        let file = super::super::parse_rules(
            "groups:\n  - name: g\n    labels: {team: db}\n    rules:\n      - record: job:req:rate5m\n        expr: sum(rate(req_total[5m]))\n      - alert: A\n        expr: up == 0\n      - record: req:by_i\n        expr: req_total * 2\n        labels: {i: ''}\n",
            "r.yml",
        )
        .unwrap();
        let out = d.path().join("out");
        let blocks = crate::tsdb::layout::prepare(&out).unwrap().blocks();
        let bf = backfill(&blocks);
        let files = vec![(PathBuf::from("r.yml"), file.clone())];
        let engine = Engine::new(Default::default());
        let got = backfill_rules(
            &mut LocalEval {
                db: &src,
                engine: &engine,
            },
            &files,
            t0 + 10 * 60_000,
            t0 + 50 * 60_000,
            60_000,
            bf,
        );
        // Dropping `i` makes the three series of the second rule collide.
        let e = got.unwrap_err().to_string();
        assert!(e.contains("req:by_i") && e.contains("same labelset"), "{e}");

        let mut file = file;
        file.groups[0].rules.truncate(2);
        let files = vec![(PathBuf::from("r.yml"), file)];
        let bf = backfill(&blocks);
        let got = backfill_rules(
            &mut LocalEval {
                db: &src,
                engine: &engine,
            },
            &files,
            t0 + 10 * 60_000,
            t0 + 50 * 60_000,
            60_000,
            bf,
        )
        .unwrap();
        assert_eq!(got.skipped_alerting, 1);
        assert_eq!(
            got.rules,
            vec![("g".into(), "job:req:rate5m".into(), 1, 41)]
        );
        drop(src);
        let db = Db::open_read_only(&out, Default::default()).unwrap();
        let q = db.querier(i64::MIN, i64::MAX);
        let s = crate::storage::Querier::select(
            q.as_ref(),
            &[crate::model::Matcher::equal("__name__", "job:req:rate5m")],
        )
        .unwrap();
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].labels.get("team"), Some("db"));
        let mut s = s.into_iter().next().unwrap();
        let pts: Vec<_> = std::iter::from_fn(|| s.samples.next()).collect();
        assert_eq!(pts.len(), 41);
        // sum of rate(): (1 + 2 + 3) per minute = 0.1 per second.
        assert!((pts[20].v - 0.1).abs() < 1e-9, "{}", pts[20].v);
    }
}
