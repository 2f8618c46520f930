//! Metric metadata from the scrape cache: `/api/v1/metadata` (per metric family, across
//! targets) and `/api/v1/targets/metadata` (per target), as upstream `web/api/v1/api.go`
//! `metricMetadata` and `targetMetadata` answer them.
//!
//! Differences from upstream are in ordering only: Go iterates maps in random order, so
//! which families a `limit` keeps is arbitrary there; here families are sorted by name and
//! the first `limit` are kept, and each family's distinct entries are sorted.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use super::api::ApiError;
use super::json::write_str;
use super::status::request_params;
use super::{MetricMetadata, TargetMetadata, WebState};
use crate::model::Matcher;

pub(super) fn routes() -> Router<Arc<WebState>> {
    Router::new()
        .route("/api/v1/metadata", get(metadata))
        .route("/api/v1/targets/metadata", get(targets_metadata))
}

fn first<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// An integer parameter as upstream parses it (`strconv.Atoi`); `-1` (no limit) when missing
/// or empty, and a negative number also means no limit.
fn number_param(params: &[(String, String)], name: &str) -> Result<i64, ApiError> {
    match first(params, name) {
        None | Some("") => Ok(-1),
        Some(v) => v
            .parse::<i64>()
            .map_err(|_| ApiError::bad_data(format!("{name} must be a number"))),
    }
}

fn json_ok(data: &str) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        format!("{{\"status\":\"success\",\"data\":{data}}}"),
    )
        .into_response()
}

fn write_meta_fields(out: &mut String, m: &MetricMetadata) {
    out.push_str("\"type\":");
    write_str(out, &m.metric_type);
    out.push_str(",\"help\":");
    write_str(out, &m.help);
    out.push_str(",\"unit\":");
    write_str(out, &m.unit);
}

/// Metadata by family over `targets`: the distinct entries of each family (at most
/// `limit_per_metric` when positive), only family `metric` when given, the first `limit`
/// families (by name) when `limit` is not negative.
fn metadata_by_family(
    targets: &[TargetMetadata],
    metric: Option<&str>,
    limit: i64,
    limit_per_metric: i64,
) -> BTreeMap<String, BTreeSet<MetricMetadata>> {
    let mut families: BTreeMap<String, BTreeSet<MetricMetadata>> = BTreeMap::new();
    for t in targets {
        let mut add = |name: &str, m: &MetricMetadata| {
            let set = families.entry(name.to_string()).or_default();
            if limit_per_metric > 0 && set.len() as i64 >= limit_per_metric {
                return;
            }
            set.insert(m.clone());
        };
        match metric {
            Some(name) => {
                if let Some(m) = t.metrics.get(name) {
                    add(name, m);
                }
            }
            None => {
                for (name, m) in t.metrics.iter() {
                    add(name, m);
                }
            }
        }
    }
    if limit >= 0 {
        let keep = usize::try_from(limit).unwrap_or(usize::MAX);
        if let Some(cut) = families.keys().nth(keep).cloned() {
            families.split_off(&cut);
        }
    }
    families
}

async fn metadata(
    State(s): State<Arc<WebState>>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> Response {
    let run = || -> Result<String, ApiError> {
        let params = request_params(q.as_deref(), &headers, &[])?;
        let limit = number_param(&params, "limit")?;
        let limit_per_metric = number_param(&params, "limit_per_metric")?;
        let metric = first(&params, "metric").filter(|m| !m.is_empty());
        let targets = s.targets.target_metadata();
        let families = metadata_by_family(&targets, metric, limit, limit_per_metric);
        let mut out = String::from("{");
        for (i, (name, set)) in families.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            write_str(&mut out, name);
            out.push_str(":[");
            for (j, m) in set.iter().enumerate() {
                if j > 0 {
                    out.push(',');
                }
                out.push('{');
                write_meta_fields(&mut out, m);
                out.push('}');
            }
            out.push(']');
        }
        out.push('}');
        Ok(out)
    };
    match run() {
        Ok(data) => json_ok(&data),
        Err(e) => e.into_response(),
    }
}

fn target_matches(labels: &BTreeMap<String, String>, matchers: &[Matcher]) -> bool {
    matchers.iter().all(|m| {
        m.matches(
            labels
                .get(m.name.as_str())
                .map(String::as_str)
                .unwrap_or(""),
        )
    })
}

async fn targets_metadata(
    State(s): State<Arc<WebState>>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> Response {
    let run = || -> Result<String, ApiError> {
        let params = request_params(q.as_deref(), &headers, &[])?;
        let limit = number_param(&params, "limit")?;
        let matchers = match first(&params, "match_target").filter(|m| !m.is_empty()) {
            None => Vec::new(),
            Some(sel) => crate::promql::parse_metric_selector(sel).map_err(|e| {
                ApiError::bad_data(format!("invalid parameter \"match_target\": {e}"))
            })?,
        };
        let metric = first(&params, "metric").filter(|m| !m.is_empty());
        let mut out = String::from("[");
        let mut n: i64 = 0;
        for t in s.targets.target_metadata() {
            // As upstream, the limit is checked per target: a target's whole list is added.
            if limit >= 0 && n >= limit {
                break;
            }
            if !target_matches(&t.labels, &matchers) {
                continue;
            }
            let mut target_json = String::from("{");
            for (i, (k, v)) in t.labels.iter().enumerate() {
                if i > 0 {
                    target_json.push(',');
                }
                write_str(&mut target_json, k);
                target_json.push(':');
                write_str(&mut target_json, v);
            }
            target_json.push('}');
            let entries: Vec<(Option<&str>, &MetricMetadata)> = match metric {
                Some(name) => t.metrics.get(name).map(|m| (None, m)).into_iter().collect(),
                None => t
                    .metrics
                    .iter()
                    .map(|(k, m)| (Some(k.as_str()), m))
                    .collect(),
            };
            for (name, m) in entries {
                if n > 0 {
                    out.push(',');
                }
                n += 1;
                out.push_str("{\"target\":");
                out.push_str(&target_json);
                if let Some(name) = name {
                    out.push_str(",\"metric\":");
                    write_str(&mut out, name);
                }
                out.push(',');
                write_meta_fields(&mut out, m);
                out.push('}');
            }
        }
        out.push(']');
        Ok(out)
    };
    match run() {
        Ok(data) => json_ok(&data),
        Err(e) => e.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(t: &str, help: &str) -> MetricMetadata {
        MetricMetadata {
            metric_type: t.into(),
            help: help.into(),
            unit: String::new(),
        }
    }

    fn target(job: &str, metrics: &[(&str, MetricMetadata)]) -> TargetMetadata {
        TargetMetadata {
            labels: BTreeMap::from([("job".to_string(), job.to_string())]),
            metrics: Arc::new(
                metrics
                    .iter()
                    .map(|(k, m)| (k.to_string(), m.clone()))
                    .collect(),
            ),
        }
    }

    #[test]
    fn families_merge_distinct_entries_and_apply_limits() {
        let ts = vec![
            target(
                "a",
                &[("x", meta("counter", "X.")), ("y", meta("gauge", "Y."))],
            ),
            target(
                "b",
                &[
                    ("x", meta("counter", "Other X.")),
                    ("y", meta("gauge", "Y.")),
                ],
            ),
        ];
        let all = metadata_by_family(&ts, None, -1, -1);
        assert_eq!(all["x"].len(), 2);
        assert_eq!(all["y"].len(), 1, "identical entries are merged");
        let one = metadata_by_family(&ts, None, 1, -1);
        assert_eq!(one.keys().collect::<Vec<_>>(), vec!["x"]);
        assert!(metadata_by_family(&ts, None, 0, -1).is_empty());
        let per = metadata_by_family(&ts, None, -1, 1);
        assert_eq!(per["x"].len(), 1);
        let only = metadata_by_family(&ts, Some("y"), -1, -1);
        assert_eq!(only.keys().collect::<Vec<_>>(), vec!["y"]);
        assert!(metadata_by_family(&ts, Some("nope"), -1, -1).is_empty());
    }
}
