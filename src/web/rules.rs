//! `/api/v1/rules`, `/api/v1/alerts` and `/api/v1/alertmanagers` in upstream's JSON shape (`web/api/v1/api.go`
//! `rules`, `alerts`), so Grafana's rule list and promtool read them: groups with their
//! rules, each rule with health, last error, evaluation time and (alerting rules) the
//! state of their alerts; the `type`, `rule_name[]`, `rule_group[]` and `file[]` filters.

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};

use super::api::ApiError;
use super::status::request_params;
use super::WebState;
use crate::rules::eval::{Alert, AlertState};
use crate::rules::manager::{GroupState, RuleState};
use crate::rules::Rule;

pub(super) fn routes() -> Router<Arc<WebState>> {
    Router::new()
        .route("/api/v1/rules", get(rules).post(rules))
        .route("/api/v1/alerts", get(alerts))
        .route("/api/v1/alertmanagers", get(alertmanagers))
}

/// Go's `time.Time` zero value, which upstream prints for a rule never evaluated.
const NEVER: &str = "0001-01-01T00:00:00Z";

fn time_str(ms: Option<i64>) -> String {
    ms.map_or_else(|| NEVER.to_string(), crate::model::time::format_rfc3339)
}

/// Upstream's alert value: `strconv.FormatFloat(v, 'e', -1, 64)`.
fn value_str(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    let s = format!("{v:e}");
    let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let (sign, digits) = match exp.strip_prefix('-') {
        Some(d) => ('-', d),
        None => ('+', exp),
    };
    format!("{mant}e{sign}{digits:0>2}")
}

/// A number of seconds as Go's JSON writes a float64 (whole numbers without `.0`).
fn seconds(ms: i64) -> Value {
    if ms % 1000 == 0 {
        json!(ms / 1000)
    } else {
        json!(ms as f64 / 1000.0)
    }
}

fn alert_json(a: &Alert) -> Value {
    let mut o = json!({
        "labels": a.labels,
        "annotations": a.annotations,
        "state": a.state.as_str(),
        "activeAt": crate::model::time::format_rfc3339(a.active_at),
        "value": value_str(a.value),
    });
    if let Some(k) = a.keep_firing_since {
        o["keepFiringSince"] = json!(crate::model::time::format_rfc3339(k));
    }
    o
}

fn rule_json(r: &RuleState) -> Value {
    let mut o = match &r.rule {
        Rule::Alerting(a) => {
            let alerts: Vec<&Alert> = r
                .alerts
                .alerts()
                .into_iter()
                .filter(|x| x.state != AlertState::Inactive)
                .collect();
            let state = alerts
                .iter()
                .map(|x| x.state)
                .max_by_key(|s| match s {
                    AlertState::Firing => 2,
                    AlertState::Pending => 1,
                    AlertState::Inactive => 0,
                })
                .unwrap_or(AlertState::Inactive);
            json!({
                "state": state.as_str(),
                "name": a.alert,
                "query": a.expr.to_string(),
                "duration": seconds(a.for_duration.0),
                "keepFiringFor": seconds(a.keep_firing_for.0),
                "labels": a.labels,
                "annotations": a.annotations,
                "alerts": alerts.into_iter().map(alert_json).collect::<Vec<_>>(),
                "type": "alerting",
            })
        }
        Rule::Recording(rec) => {
            let mut o = json!({
                "name": rec.record,
                "query": rec.expr.to_string(),
            });
            // Upstream omits empty labels of recording rules.
            if !rec.labels.is_empty() {
                o["labels"] = json!(rec.labels);
            }
            o["type"] = json!("recording");
            o
        }
    };
    o["health"] = json!(r.health.as_str());
    if let Some(e) = &r.last_error {
        o["lastError"] = json!(e);
    }
    o["evaluationTime"] = json!(r.eval_seconds);
    o["lastEvaluation"] = json!(time_str(r.last_eval_ms));
    o
}

fn respond(data: Value) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        // Upstream's field order: status first.
        format!("{{\"status\":\"success\",\"data\":{data}}}"),
    )
        .into_response()
}

async fn rules(
    State(s): State<Arc<WebState>>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let params = match request_params(q.as_deref(), &headers, &body) {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    let all = |name: &str| -> Vec<String> {
        params
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .collect()
    };
    let typ = params
        .iter()
        .find(|(k, _)| k == "type")
        .map(|(_, v)| v.to_lowercase());
    let (want_alert, want_record) = match typ.as_deref() {
        None | Some("") => (true, true),
        Some("alert") => (true, false),
        Some("record") => (false, true),
        Some(other) => {
            return ApiError::bad_data(format!("invalid rule type {other:?}")).into_response()
        }
    };
    let (names, groups_f, files_f) = (all("rule_name[]"), all("rule_group[]"), all("file[]"));
    let Some(manager) = s.rules.as_ref().and_then(|r| r.rule_manager()) else {
        return respond(json!({"groups": []}));
    };
    let groups: Vec<Value> = manager.with_groups(|gs: &[&GroupState]| {
        gs.iter()
            .filter(|g| groups_f.is_empty() || groups_f.contains(&g.name))
            .filter(|g| files_f.is_empty() || files_f.contains(&g.file.display().to_string()))
            .filter_map(|g| {
                let rules: Vec<Value> = g
                    .rules
                    .iter()
                    .filter(|r| match &r.rule {
                        Rule::Alerting(_) => want_alert,
                        Rule::Recording(_) => want_record,
                    })
                    .filter(|r| names.is_empty() || names.iter().any(|n| n == r.rule.name()))
                    .map(rule_json)
                    .collect();
                // Upstream leaves out groups a filter emptied.
                let filtered = typ.is_some() || !names.is_empty();
                if filtered && rules.is_empty() {
                    return None;
                }
                Some(json!({
                    "name": g.name,
                    "file": g.file.display().to_string(),
                    "rules": rules,
                    "interval": seconds(g.interval_ms),
                    "limit": g.limit,
                    "evaluationTime": g.eval_seconds,
                    "lastEvaluation": time_str(g.last_eval_ms),
                }))
            })
            .collect()
    });
    respond(json!({ "groups": groups }))
}

async fn alerts(State(s): State<Arc<WebState>>) -> Response {
    let list: Vec<Value> = s
        .rules
        .as_ref()
        .and_then(|r| r.rule_manager())
        .map(|m| m.alerts().iter().map(alert_json).collect())
        .unwrap_or_default();
    respond(json!({ "alerts": list }))
}

/// `/api/v1/alertmanagers`: the discovered Alertmanagers alerts go to, and those
/// `relabel_configs` dropped.
async fn alertmanagers(State(s): State<Arc<WebState>>) -> Response {
    let (active, dropped) = s
        .rules
        .as_ref()
        .map(|r| r.alertmanagers())
        .unwrap_or_default();
    let urls =
        |v: Vec<String>| -> Vec<Value> { v.into_iter().map(|u| json!({ "url": u })).collect() };
    respond(json!({
        "activeAlertmanagers": urls(active),
        "droppedAlertmanagers": urls(dropped),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_print_as_go_formats_them_with_e() {
        assert_eq!(value_str(1.0), "1e+00");
        assert_eq!(value_str(15.5), "1.55e+01");
        assert_eq!(value_str(0.00012), "1.2e-04");
        assert_eq!(value_str(1e100), "1e+100");
        assert_eq!(value_str(f64::NAN), "NaN");
    }
}
