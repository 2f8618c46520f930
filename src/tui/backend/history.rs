//! The views' data at a past moment (time travel), rebuilt from what the TSDB stored
//! rather than from the scrape manager's live state: instant queries at the moment
//! through the backend's [`ConsoleSource`], so the same code serves the local engine and
//! a remote Prometheus.
//!
//! A target at `t` is a series of `up` that has a sample within the lookback window
//! before `t` (a target removed before `t` left a staleness marker and is absent). Its
//! health is the value of `up`, its last scrape the sample's timestamp, its duration and
//! sample count `scrape_duration_seconds` and `scrape_samples_scraped`. What the TSDB
//! does not keep (the error text, discovered labels, the URL's scheme and path) is taken
//! from the present target with the same labels when there is one, else left empty.

use std::collections::HashMap;
use std::sync::Arc;

use super::{BackendError, TargetHealth, TargetRow};
use crate::tui::console::source::{ConsoleSource, QueryAnswer, QueryData};
use crate::web::BoxFuture;

/// The queries a target row at `t` is rebuilt from, in the order
/// [`rows_from_answers`] takes their answers.
pub const TARGET_QUERIES: [&str; 4] = [
    "up",
    "timestamp(up)",
    "scrape_duration_seconds",
    "scrape_samples_scraped",
];

/// A series' labels without `__name__`, sorted: the key that joins the four queries.
type Key = Vec<(String, String)>;

fn by_labels(a: &QueryAnswer) -> HashMap<Key, f64> {
    let mut out = HashMap::new();
    if let QueryData::Vector(v) = &a.data {
        for s in v {
            let mut k: Key = s
                .labels
                .iter()
                .filter(|(n, _)| n != "__name__")
                .cloned()
                .collect();
            k.sort();
            if let Some(&(_, v)) = s.points.last() {
                out.insert(k, v);
            }
        }
    }
    out
}

/// Target rows at a moment from the answers to [`TARGET_QUERIES`] (`up` first), with
/// what the TSDB does not store borrowed from `present` rows with the same labels.
/// Sorted by pool then URL.
pub fn rows_from_answers(answers: &[QueryAnswer; 4], present: &[TargetRow]) -> Vec<TargetRow> {
    let up = by_labels(&answers[0]);
    let last = by_labels(&answers[1]);
    let dur = by_labels(&answers[2]);
    let samples = by_labels(&answers[3]);
    let mut now_by: HashMap<Key, &TargetRow> = HashMap::new();
    for r in present {
        let mut k = r.labels.clone();
        k.sort();
        now_by.insert(k, r);
    }
    let mut rows: Vec<TargetRow> = up
        .iter()
        .map(|(k, &v)| {
            let label = |n: &str| {
                k.iter()
                    .find(|(name, _)| name == n)
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default()
            };
            let now = now_by.get(k);
            let health = if v == 1.0 {
                TargetHealth::Up
            } else {
                TargetHealth::Down
            };
            TargetRow {
                pool: label("job"),
                url: now
                    .map(|r| r.url.clone())
                    .unwrap_or_else(|| label("instance")),
                health: Some(health),
                last_scrape_ms: last.get(k).map(|s| (s * 1000.0).round() as i64),
                duration_s: dur.get(k).copied().unwrap_or(0.0),
                samples: samples.get(k).map(|&n| n.max(0.0) as u64),
                last_error: String::new(),
                interval: now.map(|r| r.interval.clone()).unwrap_or_default(),
                labels: k.clone(),
                discovered: now.map(|r| r.discovered.clone()).unwrap_or_default(),
            }
        })
        .collect();
    rows.sort_by(|a, b| a.pool.cmp(&b.pool).then_with(|| a.url.cmp(&b.url)));
    rows
}

/// The targets as they were at `t_ms`, from the TSDB through `source`; `present` (the
/// live target list) only fills in what the TSDB does not keep, and may fail.
pub fn targets_at(
    source: Arc<dyn ConsoleSource>,
    present: BoxFuture<Result<Vec<TargetRow>, BackendError>>,
    t_ms: i64,
) -> BoxFuture<Result<Vec<TargetRow>, BackendError>> {
    Box::pin(async move {
        let [a, b, c, d] = TARGET_QUERIES.map(|q| source.instant_query(q.to_string(), t_ms));
        let (a, b, c, d, now) = tokio::join!(a, b, c, d, present);
        let at = |r: Result<QueryAnswer, String>, q: &str| {
            r.map_err(|msg| BackendError::Engine(format!("{q} at the time-travel moment: {msg}")))
        };
        let answers = [
            at(a, TARGET_QUERIES[0])?,
            at(b, TARGET_QUERIES[1])?,
            at(c, TARGET_QUERIES[2])?,
            at(d, TARGET_QUERIES[3])?,
        ];
        Ok(rows_from_answers(&answers, &now.unwrap_or_default()))
    })
}

/// The query behind [`top_metrics_at`]: series per metric name present at the moment.
pub fn top_metrics_query(limit: usize) -> String {
    format!("topk({limit}, count by (__name__) ({{__name__=~\".+\"}}))")
}

/// The `limit` metric names with the most series at `t_ms` (series with a sample in the
/// lookback window before it), most first.
pub fn top_metrics_at(
    source: Arc<dyn ConsoleSource>,
    t_ms: i64,
    limit: usize,
) -> BoxFuture<Result<Vec<(String, u64)>, BackendError>> {
    Box::pin(async move {
        let a = source
            .instant_query(top_metrics_query(limit), t_ms)
            .await
            .map_err(|msg| {
                BackendError::Engine(format!("series by metric at the moment: {msg}"))
            })?;
        let mut out: Vec<(String, u64)> = match a.data {
            QueryData::Vector(v) => v
                .into_iter()
                .filter_map(|s| {
                    let name = s
                        .labels
                        .iter()
                        .find(|(k, _)| k == "__name__")
                        .map(|(_, v)| v.clone())?;
                    let n = s.points.last()?.1;
                    Some((name, n.max(0.0) as u64))
                })
                .collect(),
            _ => Vec::new(),
        };
        out.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        Ok(out)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::console::source::SeriesData;

    fn vector(series: &[(&[(&str, &str)], f64)]) -> QueryAnswer {
        QueryAnswer {
            data: QueryData::Vector(
                series
                    .iter()
                    .map(|(l, v)| SeriesData {
                        labels: l
                            .iter()
                            .map(|(a, b)| (a.to_string(), b.to_string()))
                            .collect(),
                        points: vec![(1_000, *v)],
                    })
                    .collect(),
            ),
            warnings: Vec::new(),
        }
    }

    #[test]
    fn rows_join_the_four_queries_and_borrow_the_url_from_the_present() {
        let a: &[(&str, &str)] = &[("__name__", "up"), ("instance", "a:1"), ("job", "node")];
        let b: &[(&str, &str)] = &[("instance", "b:2"), ("job", "api")];
        let answers = [
            vector(&[(a, 1.0), (b, 0.0)]),
            vector(&[(&a[1..], 990.5), (b, 985.0)]),
            vector(&[(&a[1..], 0.012)]),
            vector(&[(&a[1..], 420.0)]),
        ];
        let present = vec![TargetRow {
            pool: "node".into(),
            url: "http://a:1/metrics".into(),
            interval: "15s".into(),
            labels: vec![
                ("job".into(), "node".into()),
                ("instance".into(), "a:1".into()),
            ],
            ..TargetRow::default()
        }];
        let rows = rows_from_answers(&answers, &present);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].pool, "api");
        assert_eq!(rows[0].url, "b:2");
        assert_eq!(rows[0].health, Some(TargetHealth::Down));
        assert_eq!(rows[0].last_scrape_ms, Some(985_000));
        assert_eq!(rows[0].samples, None);
        assert_eq!(rows[1].url, "http://a:1/metrics");
        assert_eq!(rows[1].health, Some(TargetHealth::Up));
        assert_eq!(rows[1].last_scrape_ms, Some(990_500));
        assert_eq!(rows[1].duration_s, 0.012);
        assert_eq!(rows[1].samples, Some(420));
        assert_eq!(rows[1].interval, "15s");
    }
}
