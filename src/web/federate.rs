//! `/federate`: the latest sample of every series matching any `match[]` selector, within
//! the lookback delta before now, in the text exposition format.
//!
//! Mirrors upstream `web/federate.go` (`federation`): series are merged over all selectors
//! and deduplicated, staleness markers are dropped, output is sorted by metric name (stably,
//! so series of one name keep label order), each name gets a `# TYPE <name> untyped` line,
//! labels with empty values and nameless series are skipped, and the external labels plus
//! `instance=""` are appended (sorted by name) to series that do not already carry them.
//! Metric and label names outside the legacy charset are written quoted
//! (`{"my.metric","a.b"="c"}`) by the shared [`MetricsWriter`].
//! Bad selectors answer 400 with the parse error as plain text. Only the text format is
//! served (no protobuf negotiation). Checked byte for byte against Prometheus 2.42 by
//! `tests/api_query.rs`.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use super::status::request_params;
use super::WebState;
use crate::exposition::MetricsWriter;
use crate::model::time::now_ms;
use crate::model::value::is_stale_nan;
use crate::model::{Labels, Matcher};
use crate::promql::{parse_expr, Expr};
use crate::storage::{QueryError, Queryable};

pub(super) fn routes() -> Router<Arc<WebState>> {
    Router::new().route("/federate", get(federate).post(federate))
}

/// Content type of the text exposition format.
const TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

fn plain(code: StatusCode, msg: String) -> Response {
    (
        code,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        msg + "\n",
    )
        .into_response()
}

async fn federate(
    State(s): State<Arc<WebState>>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    // Upstream answers federation errors in plain text.
    let params = match request_params(q.as_deref(), &headers, &body) {
        Ok(p) => p,
        Err(e) => return plain(StatusCode::BAD_REQUEST, e.message),
    };
    let mut sets: Vec<Vec<Matcher>> = Vec::new();
    for (k, v) in &params {
        if k == "match[]" {
            match parse_federation_match(v) {
                Ok(m) => sets.push(m),
                Err(e) => return plain(StatusCode::BAD_REQUEST, e),
            }
        }
    }
    let Some(backend) = s.query.clone() else {
        return plain(
            StatusCode::SERVICE_UNAVAILABLE,
            "the query engine is not available in this process".into(),
        );
    };
    let lookback =
        i64::try_from(backend.engine_options().lookback_delta.as_millis()).unwrap_or(i64::MAX);
    let external = backend.external_labels();
    let now = now_ms();
    let result = tokio::task::spawn_blocking(move || {
        let storage = backend.queryable();
        federation_text(storage.as_ref(), &sets, now, lookback, &external)
    })
    .await;
    match result {
        Ok(Ok(text)) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, TEXT_CONTENT_TYPE)],
            text,
        )
            .into_response(),
        Ok(Err(e)) => plain(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        Err(e) => plain(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

/// Parses a `match[]` selector as upstream federation does: the parse error as is, and
/// selectors whose matchers all match the empty string (`{job=~".*"}`) are accepted. Those
/// get a `__name__=~".+"` matcher, which changes nothing because nameless series are never
/// federated, and gives the storage the non-empty matcher it requires.
fn parse_federation_match(s: &str) -> Result<Vec<Matcher>, String> {
    let parse = |text: &str| -> Result<Vec<Matcher>, String> {
        match parse_expr(text).map(Expr::into_vector_selector) {
            Ok(Ok(vs)) => Ok(vs.matchers),
            Ok(Err(_)) => Err(format!(
                "1:1: parse error: expected a series selector, got {text:?}"
            )),
            Err(e) => Err(e.to_string()),
        }
    };
    match parse(s) {
        Err(e) if e.ends_with("vector selector must contain at least one non-empty matcher") => {
            match s.trim_start().strip_prefix('{') {
                Some(rest) => parse(&format!("{{__name__=~\".+\",{rest}")).map_err(|_| e),
                None => Err(e),
            }
        }
        other => other,
    }
}

/// The federation page for the series matching any of `sets`, their latest sample in
/// `[now - lookback, now]`.
fn federation_text(
    storage: &dyn Queryable,
    sets: &[Vec<Matcher>],
    now: i64,
    lookback: i64,
    external: &Labels,
) -> Result<String, QueryError> {
    let querier = storage.querier(now.saturating_sub(lookback), now)?;
    // Merge the selectors' series; BTreeMap keeps them sorted by labels and unique.
    let mut latest: BTreeMap<Labels, (i64, f64)> = BTreeMap::new();
    for set in sets {
        for mut series in querier.select(set)? {
            if latest.contains_key(&series.labels) {
                continue;
            }
            let mut last = None;
            while let Some(smp) = series.samples.next() {
                if smp.t > now {
                    break;
                }
                last = Some((smp.t, smp.v));
            }
            if let Some(e) = series.samples.err() {
                return Err(e);
            }
            if let Some((t, v)) = last {
                if !is_stale_nan(v) {
                    latest.insert(series.labels, (t, v));
                }
            }
        }
    }
    let mut vec: Vec<(Labels, i64, f64)> = latest
        .into_iter()
        .filter(|(l, _)| l.metric_name().is_some_and(|n| !n.is_empty()))
        .map(|(l, (t, v))| (l, t, v))
        .collect();
    vec.sort_by(|a, b| a.0.metric_name().cmp(&b.0.metric_name()));
    // Upstream adds `instance=""` to the external labels unless they name an instance.
    let mut external: BTreeMap<&str, &str> = external
        .iter()
        .map(|l| (l.name.as_str(), l.value.as_str()))
        .collect();
    external.entry("instance").or_insert("");
    let mut w = MetricsWriter::new();
    let mut last_name = "";
    for (labels, t, v) in &vec {
        let name = labels.metric_name().unwrap_or_default();
        if name != last_name {
            w.type_line(name, "untyped");
            last_name = name;
        }
        let mut pairs: Vec<(&str, &str)> = labels
            .iter()
            .filter(|l| l.name != "__name__" && !l.value.is_empty())
            .map(|l| (l.name.as_str(), l.value.as_str()))
            .collect();
        for (n, val) in &external {
            if labels.get(n).is_none_or(str::is_empty) {
                pairs.push((n, val));
            }
        }
        w.sample_at(name, pairs, *v, Some(*t));
    }
    Ok(w.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Sample, STALE_NAN};
    use crate::storage::{Querier, QueryError, Series, VecSampleIterator};

    struct Mem(Vec<(Labels, Vec<Sample>)>);

    struct MemQ(Vec<(Labels, Vec<Sample>)>);

    impl Queryable for Mem {
        fn querier(&self, mint: i64, maxt: i64) -> Result<Box<dyn Querier>, QueryError> {
            Ok(Box::new(MemQ(
                self.0
                    .iter()
                    .map(|(l, s)| {
                        let s = s
                            .iter()
                            .filter(|x| x.t >= mint && x.t <= maxt)
                            .copied()
                            .collect();
                        (l.clone(), s)
                    })
                    .collect(),
            )))
        }
    }

    impl Querier for MemQ {
        fn select(&self, m: &[Matcher]) -> Result<Vec<Series>, QueryError> {
            Ok(self
                .0
                .iter()
                .filter(|(l, _)| {
                    m.iter()
                        .all(|m| m.matches(l.get(&m.name).unwrap_or_default()))
                })
                .map(|(l, s)| Series {
                    labels: l.clone(),
                    samples: Box::new(VecSampleIterator::new(s.clone())),
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
    fn latest_sample_sorted_by_name_with_type_lines() {
        let l = |p: &[(&str, &str)]| Labels::from_pairs(p);
        let st = Mem(vec![
            (
                l(&[("__name__", "b"), ("job", "x\"y")]),
                vec![Sample::new(100, 1.0), Sample::new(200, 1e6)],
            ),
            (
                l(&[("__name__", "a"), ("job", "j")]),
                vec![Sample::new(150, 2.5)],
            ),
            (
                l(&[("__name__", "a"), ("job", "k")]),
                vec![Sample::new(10, 2.5)],
            ),
            (
                l(&[("__name__", "c"), ("job", "j")]),
                vec![Sample::new(190, 1.0), Sample::new(199, STALE_NAN)],
            ),
            (l(&[("job", "nameless")]), vec![Sample::new(190, 1.0)]),
            (l(&[("__name__", "d")]), vec![Sample::new(300, 1.0)]),
        ]);
        let sets = vec![
            parse_federation_match("{job=~\".+\"}").unwrap(),
            parse_federation_match("b").unwrap(),
            parse_federation_match("d").unwrap(),
        ];
        let ext = l(&[("job", "ext"), ("zone", "z1")]);
        let text = federation_text(&st, &sets, 250, 100, &ext).unwrap();
        assert_eq!(
            text,
            "# TYPE a untyped\na{job=\"j\",instance=\"\",zone=\"z1\"} 2.5 150\n# TYPE b untyped\nb{job=\"x\\\"y\",instance=\"\",zone=\"z1\"} 1e+06 200\n"
        );
        assert_eq!(parse_federation_match("{job=~\".*\"}").unwrap().len(), 2);
        assert_eq!(
            parse_federation_match("up{").unwrap_err(),
            "1:4: parse error: unexpected end of input inside braces"
        );
    }

    #[test]
    fn utf8_names_are_quoted() {
        let l = |p: &[(&str, &str)]| Labels::from_pairs(p);
        let st = Mem(vec![
            (
                l(&[("__name__", "my.metric"), ("a.b", "c"), ("job", "j")]),
                vec![Sample::new(100, 1.0)],
            ),
            (l(&[("__name__", "my.metric")]), vec![Sample::new(110, 2.0)]),
            (
                l(&[("__name__", "up"), ("ü", "x")]),
                vec![Sample::new(120, 3.0)],
            ),
        ]);
        let sets = vec![parse_federation_match("{__name__=~\".+\"}").unwrap()];
        let ext = l(&[("site.name", "s1")]);
        let text = federation_text(&st, &sets, 200, 300, &ext).unwrap();
        assert_eq!(
            text,
            "# TYPE \"my.metric\" untyped\n{\"my.metric\",instance=\"\",\"site.name\"=\"s1\"} 2 110\n{\"my.metric\",\"a.b\"=\"c\",job=\"j\",instance=\"\",\"site.name\"=\"s1\"} 1 100\n# TYPE up untyped\nup{\"ü\"=\"x\",instance=\"\",\"site.name\"=\"s1\"} 3 120\n"
        );
    }
}
