//! Alertmanager's API v2 (../shared/specs/alertmanager-api-v2-openapi.yaml, as
//! Alertmanager 0.25 answers it: field order, `.000Z` millisecond times, plain JSON
//! strings as error bodies, 422 for schema violations), plus promtui's documented
//! extension for acknowledgements:
//!
//! - `GET /api/v2/acks`: every acknowledgement (`id`, `groupKey`, `fingerprints`,
//!   `createdBy`, `comment`, `createdAt`, `expiresAt`, `endedAt`, `status.state`:
//!   `active`, `expired` or `ended`);
//! - `POST /api/v2/acks` with `{"fingerprint": "..."}` or `{"groupKey": "..."}`, and
//!   `createdBy`, `comment`, optional `expiresAt`: acknowledges a firing alert or every
//!   firing alert of a group; answers `{"ackID": "..."}` once it is committed to disk;
//! - `DELETE /api/v2/ack/{id}`: ends an acknowledgement;
//! - `GET /api/v2/history?since=<RFC 3339>&limit=<n>`: alert history for the UI, oldest
//!   first: `{"time", "fingerprint", "event": "firing"|"resolved", "labels"}` (written
//!   once a second, kept for `--alertmanager.data-retention`).
//!
//! Alerts carry `status.ackedBy` (ids) beside `silencedBy` and `inhibitedBy`; silences
//! carry `promtui.matchingAlerts` (firing alerts they select: 0 shows a silence matching
//! nothing) and `promtui.endsSoon` (active, ending within the hour); the status carries
//! `promtui.unsupportedIntegrations`; alert groups carry `promtui.groupKey` (what
//! `POST /api/v2/acks` takes). Clients that do not know these fields ignore them
//! (amtool does).

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use axum::Router;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Value};

use super::ack::Ack;
use super::alert::{fingerprint_hex, Alert};
use super::dispatch::{
    alert_order, match_routes, BorrowedAlert, BorrowedPairs, InhibitIndex, Pipeline,
};
use super::matcher::{parse_matchers, valid_label_name, MatchType, Matcher};
use super::silence::{new_uuid, Silence, SilenceError, SilenceState};

/// The `/api/v2` routes over `pipeline`.
pub fn router(pipeline: Arc<Pipeline>) -> Router {
    Router::new()
        .route("/api/v2/status", get(status))
        .route("/api/v2/receivers", get(receivers))
        .route("/api/v2/alerts", get(get_alerts).post(post_alerts))
        .route("/api/v2/alerts/groups", get(get_groups))
        .route("/api/v2/silences", get(get_silences).post(post_silence))
        .route(
            "/api/v2/silence/{id}",
            get(get_silence).delete(delete_silence),
        )
        .route("/api/v2/acks", get(get_acks).post(post_ack))
        .route("/api/v2/ack/{id}", delete(delete_ack))
        .route("/api/v2/history", get(get_history))
        .with_state(pipeline)
}

/// The router for `--alertmanager.listen-address`: the API plus `/-/healthy` and
/// `/-/ready`, so tools that assume port 9093 work.
pub fn standalone_router(pipeline: Arc<Pipeline>) -> Router {
    let ok = || async { ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], "OK") };
    router(pipeline)
        .route("/-/healthy", get(ok).head(ok))
        .route("/-/ready", get(ok).head(ok))
}

/// [`standalone_router`] plus what Alertmanager serves beside its API on its own port:
/// `POST` (or `PUT`) `/-/reload` re-reads `config_file` (the embedded default when
/// `None`) and applies it, answering 200, or 500 with `failed to reload config: why` while
/// the running configuration stays; `GET /metrics` serves the `alertmanager_*` families
/// ([`super::metrics`]) and the process metrics.
pub fn standalone_router_reloading(
    pipeline: Arc<Pipeline>,
    config_file: Option<std::path::PathBuf>,
) -> Router {
    let p = pipeline.clone();
    let reload = move || {
        let p = p.clone();
        let file = config_file.clone();
        async move {
            match p.reload_from(file.as_deref()) {
                Ok(()) => StatusCode::OK.into_response(),
                Err(e) => {
                    tracing::error!("Alertmanager configuration reload failed: {e}");
                    (
                        StatusCode::INTERNAL_SERVER_ERROR,
                        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                        format!("failed to reload config: {e}\n"),
                    )
                        .into_response()
                }
            }
        }
    };
    let p = pipeline.clone();
    let metrics = move || {
        let p = p.clone();
        async move {
            let mut w = crate::exposition::MetricsWriter::new();
            super::metrics::write(&p, &mut w, Utc::now());
            crate::web::metrics::write_process_metrics(&mut w);
            (
                [(
                    header::CONTENT_TYPE,
                    "text/plain; version=0.0.4; charset=utf-8",
                )],
                w.finish(),
            )
        }
    };
    standalone_router(pipeline)
        .route("/-/reload", axum::routing::post(reload.clone()).put(reload))
        .route("/metrics", get(metrics))
}

type P = State<Arc<Pipeline>>;

/// An early answer from a parameter check (boxed: a `Response` is large).
type Reject = Box<Response>;

fn json_resp(code: StatusCode, v: &Value) -> Response {
    (
        code,
        [(header::CONTENT_TYPE, "application/json")],
        format!("{v}\n"),
    )
        .into_response()
}

/// An error as Alertmanager writes it: a JSON string.
fn err_string(code: StatusCode, msg: &str) -> Response {
    json_resp(code, &Value::String(msg.to_string()))
}

/// A schema violation as go-swagger writes it.
fn err_schema(code: u16, msg: &str) -> Response {
    json_resp(
        StatusCode::UNPROCESSABLE_ENTITY,
        &json!({"code": code, "message": msg}),
    )
}

fn ts(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A `date-time` field; Go's zero time (what Go clients send for "unset") is `None`.
fn parse_ts(v: &Value) -> Option<DateTime<Utc>> {
    v.as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
        .filter(|t| t.timestamp() > GO_ZERO_UNIX)
}

/// `0001-01-01T00:00:00Z` in Unix seconds.
const GO_ZERO_UNIX: i64 = -62_135_596_800;

/// A JSON object with its keys in the given order (go-swagger writes struct fields in
/// declaration order, not sorted); values are JSON already.
fn ordered(pairs: &[(&str, String)]) -> String {
    let body: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{}:{v}", Value::String(k.to_string())))
        .collect();
    format!("{{{}}}", body.join(","))
}

/// Appends `"promtui": ext` to a JSON object written by [`ordered`].
fn with_extension(obj: String, ext: String) -> String {
    let mut o = obj;
    o.pop();
    format!("{o},\"promtui\":{ext}}}")
}

fn raw_array(items: Vec<String>) -> String {
    format!("[{}]", items.join(","))
}

fn raw_resp(code: StatusCode, body: String) -> Response {
    (
        code,
        [(header::CONTENT_TYPE, "application/json")],
        body + "\n",
    )
        .into_response()
}

/// Query parameters, repeated keys kept.
fn query_pairs(q: &Option<String>) -> Vec<(String, String)> {
    q.as_deref()
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default()
}

fn bool_param(pairs: &[(String, String)], name: &str, default: bool) -> Result<bool, Reject> {
    match pairs.iter().rev().find(|(k, _)| k == name) {
        None => Ok(default),
        Some((_, v)) => match v.as_str() {
            "true" | "1" => Ok(true),
            "false" | "0" => Ok(false),
            _ => Err(Box::new(err_schema(
                601,
                &format!("{name} in query must be of type boolean: {v:?}"),
            ))),
        },
    }
}

fn filters(pairs: &[(String, String)]) -> Result<Vec<Matcher>, Reject> {
    let mut out = Vec::new();
    for (_, f) in pairs.iter().filter(|(k, _)| k == "filter") {
        out.extend(
            parse_matchers(f)
                .map_err(|e| Box::new(err_string(StatusCode::BAD_REQUEST, &e.to_string())))?,
        );
    }
    Ok(out)
}

/// Alertmanager's `matchFilterLabels`: an empty-value matcher on an absent label (or a
/// negative one on a present label) is skipped.
fn match_filter(ms: &[Matcher], labels: &BTreeMap<String, String>) -> bool {
    ms.iter().all(|m| {
        let v = labels.get(&m.name);
        match m.op {
            MatchType::NotEqual | MatchType::NotRegexp if m.value.is_empty() && v.is_some() => true,
            MatchType::Equal | MatchType::Regexp if m.value.is_empty() && v.is_none() => true,
            _ => m.matches_value(v.map_or("", String::as_str)),
        }
    })
}

async fn status(State(p): P) -> Response {
    let built = p.built.read().clone();
    let unsupported: Vec<Value> = built
        .unsupported
        .iter()
        .map(|u| json!({"receiver": u.receiver, "kind": u.kind, "index": u.index, "reason": u.reason}))
        .collect();
    raw_resp(
        StatusCode::OK,
        ordered(&[
            (
                "cluster",
                ordered(&[("peers", "[]".into()), ("status", "\"disabled\"".into())]),
            ),
            (
                "config",
                ordered(&[("original", json!(built.config.original).to_string())]),
            ),
            ("uptime", json!(ts(&p.started)).to_string()),
            (
                "versionInfo",
                ordered(&[
                    ("branch", "\"promtui\"".into()),
                    ("buildDate", "\"\"".into()),
                    ("buildUser", "\"promtui\"".into()),
                    ("goVersion", "\"none (promtui is written in Rust)\"".into()),
                    (
                        "revision",
                        json!(concat!("promtui-", env!("CARGO_PKG_VERSION"))).to_string(),
                    ),
                    ("version", "\"0.25.0\"".into()),
                ]),
            ),
            (
                "promtui",
                ordered(&[("unsupportedIntegrations", json!(unsupported).to_string())]),
            ),
        ]),
    )
}

async fn receivers(State(p): P) -> Response {
    let built = p.built.read().clone();
    let v: Vec<Value> = built
        .config
        .receivers
        .iter()
        .map(|r| json!({"name": r.name}))
        .collect();
    json_resp(StatusCode::OK, &Value::Array(v))
}

/// One alert's markers at `now`.
struct Marks {
    silenced_by: Vec<String>,
    inhibited_by: Vec<String>,
    acked_by: Vec<String>,
}

fn alert_json(a: &Alert, receivers: &[String], m: &Marks) -> String {
    let state = if m.silenced_by.is_empty() && m.inhibited_by.is_empty() {
        "active"
    } else {
        "suppressed"
    };
    let status = ordered(&[
        ("inhibitedBy", json!(m.inhibited_by).to_string()),
        ("silencedBy", json!(m.silenced_by).to_string()),
        ("state", json!(state).to_string()),
        ("ackedBy", json!(m.acked_by).to_string()),
    ]);
    ordered(&[
        ("annotations", json!(&*a.annotations).to_string()),
        ("endsAt", json!(ts(&a.ends_at)).to_string()),
        (
            "fingerprint",
            json!(fingerprint_hex(a.fingerprint)).to_string(),
        ),
        (
            "receivers",
            raw_array(
                receivers
                    .iter()
                    .map(|r| ordered(&[("name", json!(r).to_string())]))
                    .collect(),
            ),
        ),
        ("startsAt", json!(ts(&a.starts_at)).to_string()),
        ("status", status),
        ("updatedAt", json!(ts(&a.updated_at)).to_string()),
        ("generatorURL", json!(&*a.generator_url).to_string()),
        ("labels", json!(&*a.labels).to_string()),
    ])
}

struct AlertQuery {
    active: bool,
    silenced: bool,
    inhibited: bool,
    unprocessed: bool,
    filter: Vec<Matcher>,
    receiver: Option<regex::Regex>,
}

fn alert_query(q: &Option<String>) -> Result<AlertQuery, Reject> {
    let pairs = query_pairs(q);
    let receiver = match pairs.iter().rev().find(|(k, _)| k == "receiver") {
        Some((_, r)) if !r.is_empty() => Some(
            super::matcher::compile_regex(r)
                .map_err(|e| Box::new(err_string(StatusCode::BAD_REQUEST, &e.to_string())))?,
        ),
        _ => None,
    };
    Ok(AlertQuery {
        active: bool_param(&pairs, "active", true)?,
        silenced: bool_param(&pairs, "silenced", true)?,
        inhibited: bool_param(&pairs, "inhibited", true)?,
        unprocessed: bool_param(&pairs, "unprocessed", true)?,
        filter: filters(&pairs)?,
        receiver,
    })
}

/// Applies `q` to `alerts`, returning each kept alert with its receivers and markers.
fn select<'a>(
    p: &Pipeline,
    alerts: impl Iterator<Item = &'a Alert> + Clone,
    all: &std::collections::HashMap<u64, Arc<Alert>>,
    q: &AlertQuery,
    now: DateTime<Utc>,
) -> Vec<(&'a Alert, Vec<String>, Marks)> {
    let built = p.built.read().clone();
    let idx = InhibitIndex::build(&built.config.inhibit_rules, all.values().map(|a| &**a), now);
    let sil = p.silences.lock();
    let mut mc = p.mute_cache.lock();
    let acks = p.acks.lock();
    let mut out = Vec::new();
    for a in alerts {
        let receivers: Vec<String> = match_routes(&built.config.route, &a.labels)
            .iter()
            .map(|r| r.receiver.clone())
            .collect();
        if let Some(re) = &q.receiver {
            if !receivers.iter().any(|r| re.is_match(r)) {
                continue;
            }
        }
        if !match_filter(&q.filter, &a.labels) || a.resolved_at(now) {
            continue;
        }
        let m = Marks {
            silenced_by: mc.mutes(&sil, &a.labels, a.fingerprint, now),
            inhibited_by: idx
                .inhibited_by(&a.labels)
                .map(fingerprint_hex)
                .into_iter()
                .collect(),
            acked_by: acks.acked_by(a.fingerprint, now),
        };
        let active = m.silenced_by.is_empty() && m.inhibited_by.is_empty();
        if (!q.active && active)
            || (!q.silenced && !m.silenced_by.is_empty())
            || (!q.inhibited && !m.inhibited_by.is_empty())
        {
            continue;
        }
        let _ = q.unprocessed; // Alerts are processed as they arrive: none is unprocessed.
        out.push((a, receivers, m));
    }
    out
}

async fn get_alerts(State(p): P, RawQuery(q): RawQuery) -> Response {
    let q = match alert_query(&q) {
        Ok(q) => q,
        Err(r) => return *r,
    };
    let now = Utc::now();
    let store = p.alerts.read();
    let mut sel = select(&p, store.values().map(|a| &**a), &store, &q, now);
    sel.sort_by_key(|(a, _, _)| fingerprint_hex(a.fingerprint));
    let v: Vec<String> = sel.iter().map(|(a, r, m)| alert_json(a, r, m)).collect();
    raw_resp(StatusCode::OK, raw_array(v))
}

async fn get_groups(State(p): P, RawQuery(q): RawQuery) -> Response {
    let q = match alert_query(&q) {
        Ok(q) => q,
        Err(r) => return *r,
    };
    let now = Utc::now();
    let mut groups = p.groups();
    groups.sort_by(|a, b| a.1.cmp(&b.1).then_with(|| a.2.cmp(&b.2)));
    let store = p.alerts.read();
    let mut out = Vec::new();
    for (key, labels, receiver, alerts) in &groups {
        if let Some(re) = &q.receiver {
            if !re.is_match(receiver) {
                continue;
            }
        }
        let any = AlertQuery {
            receiver: None,
            filter: q.filter.clone(),
            ..q
        };
        let mut sel = select(&p, alerts.iter().map(|a| &**a), &store, &any, now);
        if sel.is_empty() {
            continue;
        }
        sel.sort_by(|a, b| alert_order(a.0, b.0));
        let v: Vec<String> = sel.iter().map(|(a, r, m)| alert_json(a, r, m)).collect();
        let group = ordered(&[
            ("alerts", raw_array(v)),
            ("labels", json!(labels).to_string()),
            (
                "receiver",
                ordered(&[("name", json!(receiver).to_string())]),
            ),
        ]);
        // promtui's extension: the group key that `POST /api/v2/acks` takes.
        out.push(with_extension(
            group,
            ordered(&[("groupKey", json!(key).to_string())]),
        ));
    }
    raw_resp(StatusCode::OK, raw_array(out))
}

impl Clone for AlertQuery {
    fn clone(&self) -> Self {
        AlertQuery {
            active: self.active,
            silenced: self.silenced,
            inhibited: self.inhibited,
            unprocessed: self.unprocessed,
            filter: self.filter.clone(),
            receiver: self.receiver.clone(),
        }
    }
}

/// A JSON string borrowed from the request body (copied only when it has escapes).
#[derive(serde::Deserialize)]
struct Str<'a>(#[serde(borrow)] Cow<'a, str>);

/// A JSON object of strings as name/value pairs borrowed from the body, sorted by name;
/// of repeated names the last wins, as decoding into a map does.
#[derive(Default)]
struct Pairs<'a>(BorrowedPairs<'a>);

impl<'de: 'a, 'a> serde::Deserialize<'de> for Pairs<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for V<'a> {
            type Value = Pairs<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object of strings")
            }
            fn visit_map<M: serde::de::MapAccess<'de>>(
                self,
                mut m: M,
            ) -> Result<Pairs<'a>, M::Error> {
                let mut v: BorrowedPairs<'a> = Vec::with_capacity(m.size_hint().unwrap_or(8));
                while let Some((Str(k), Str(val))) = m.next_entry::<Str<'a>, Str<'a>>()? {
                    v.push((k, val));
                }
                // Stable sort of the reversed list: the last of repeated names comes
                // first and survives the dedup.
                v.reverse();
                v.sort_by(|a, b| a.0.cmp(&b.0));
                v.dedup_by(|a, b| a.0 == b.0);
                Ok(Pairs(v))
            }
        }
        d.deserialize_map(V(std::marker::PhantomData))
    }
}

/// `postableAlert`, read straight into typed fields borrowing the body (the ingest hot
/// path: a re-posted alert whose content is unchanged copies no string).
#[derive(serde::Deserialize)]
struct PostableAlert<'a> {
    #[serde(borrow)]
    labels: Option<Pairs<'a>>,
    #[serde(borrow, default)]
    annotations: Pairs<'a>,
    #[serde(rename = "startsAt", default, borrow)]
    starts_at: Option<Str<'a>>,
    #[serde(rename = "endsAt", default, borrow)]
    ends_at: Option<Str<'a>>,
    #[serde(rename = "generatorURL", default, borrow)]
    generator_url: Option<Str<'a>>,
}

fn parse_time_str(s: &Option<Str<'_>>) -> Option<DateTime<Utc>> {
    s.as_ref()
        .and_then(|s| DateTime::parse_from_rfc3339(&s.0).ok())
        .map(|t| t.with_timezone(&Utc))
        .filter(|t| t.timestamp() > GO_ZERO_UNIX)
}

async fn post_alerts(State(p): P, body: Bytes) -> Response {
    let list: Vec<PostableAlert> = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return json_resp(
                StatusCode::BAD_REQUEST,
                &json!({"code": 400, "message": format!("parsing alerts body from \"\" failed, because {e}")}),
            )
        }
    };
    let now = Utc::now();
    let mut valid = Vec::with_capacity(list.len());
    let mut errs = Vec::new();
    for (i, a) in list.into_iter().enumerate() {
        let Some(Pairs(mut labels)) = a.labels else {
            return err_schema(602, &format!("{i}.labels in body is required"));
        };
        labels.retain(|(_, v)| !v.is_empty());
        let starts_at = parse_time_str(&a.starts_at);
        let ends_at = parse_time_str(&a.ends_at);
        if labels.is_empty() {
            errs.push("at least one label pair required".to_string());
            continue;
        }
        if let Some((bad, _)) = labels.iter().find(|(k, _)| !valid_label_name(k)) {
            errs.push(format!("invalid label set: invalid name {bad:?}"));
            continue;
        }
        let s = starts_at.or(ends_at).unwrap_or(now);
        if let Some(e) = ends_at {
            if e < s {
                errs.push("start time must be before end time".to_string());
                continue;
            }
        }
        valid.push(BorrowedAlert {
            labels,
            annotations: a.annotations.0,
            starts_at,
            ends_at,
            generator_url: a.generator_url.map(|g| g.0).unwrap_or_default(),
        });
    }
    p.metrics
        .alerts_invalid
        .fetch_add(errs.len() as u64, std::sync::atomic::Ordering::Relaxed);
    p.put_borrowed(valid);
    if !errs.is_empty() {
        return err_string(StatusCode::BAD_REQUEST, &errs.join("; "));
    }
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        "",
    )
        .into_response()
}

/// How soon before its end an active silence is flagged `endsSoon`.
const ENDS_SOON: chrono::Duration = chrono::Duration::hours(1);

/// promtui's per-silence extension: how many current alerts it selects (0 flags a
/// silence that matches nothing) and whether an active one ends within the hour.
fn silence_extension(
    s: &Silence,
    alerts: &std::collections::HashMap<u64, Arc<Alert>>,
    now: DateTime<Utc>,
) -> String {
    let state = s.state(now);
    let matching = if state == SilenceState::Expired {
        0
    } else {
        alerts
            .values()
            .filter(|a| !a.resolved_at(now) && s.selects(&a.labels))
            .count()
    };
    let ends_soon = state == SilenceState::Active && s.ends_at - now <= ENDS_SOON;
    ordered(&[
        ("matchingAlerts", matching.to_string()),
        ("endsSoon", ends_soon.to_string()),
    ])
}

fn silence_json(s: &Silence, now: DateTime<Utc>) -> String {
    let matchers: Vec<String> = s
        .matchers
        .iter()
        .map(|m| {
            ordered(&[
                (
                    "isEqual",
                    json!(matches!(m.op, MatchType::Equal | MatchType::Regexp)).to_string(),
                ),
                (
                    "isRegex",
                    json!(matches!(m.op, MatchType::Regexp | MatchType::NotRegexp)).to_string(),
                ),
                ("name", json!(m.name).to_string()),
                ("value", json!(m.value).to_string()),
            ])
        })
        .collect();
    ordered(&[
        ("id", json!(s.id).to_string()),
        (
            "status",
            ordered(&[("state", json!(s.state(now).as_str()).to_string())]),
        ),
        ("updatedAt", json!(ts(&s.updated_at)).to_string()),
        ("comment", json!(s.comment).to_string()),
        ("createdBy", json!(s.created_by).to_string()),
        ("endsAt", json!(ts(&s.ends_at)).to_string()),
        ("matchers", raw_array(matchers)),
        ("startsAt", json!(ts(&s.starts_at)).to_string()),
    ])
}

async fn get_silences(State(p): P, RawQuery(q): RawQuery) -> Response {
    let pairs = query_pairs(&q);
    let f = match filters(&pairs) {
        Ok(f) => f,
        Err(r) => return *r,
    };
    let now = Utc::now();
    // Lock order everywhere: alerts, then silences.
    let alerts = p.alerts.read();
    let sil = p.silences.lock();
    let mut list: Vec<&Silence> = sil
        .all()
        .filter(|s| {
            let sms: BTreeMap<String, String> = s
                .matchers
                .iter()
                .map(|m| (m.name.clone(), m.value.clone()))
                .collect();
            match_filter(&f, &sms)
        })
        .collect();
    // Alertmanager's order: active by end, pending by start, expired by end (latest first).
    let rank = |s: &Silence| match s.state(now) {
        SilenceState::Active => 0,
        SilenceState::Pending => 1,
        SilenceState::Expired => 2,
    };
    list.sort_by(|a, b| {
        rank(a).cmp(&rank(b)).then_with(|| match a.state(now) {
            SilenceState::Active => a.ends_at.cmp(&b.ends_at),
            SilenceState::Pending => a.starts_at.cmp(&b.starts_at),
            SilenceState::Expired => b.ends_at.cmp(&a.ends_at),
        })
    });
    let v: Vec<String> = list
        .iter()
        .map(|s| with_extension(silence_json(s, now), silence_extension(s, &alerts, now)))
        .collect();
    raw_resp(StatusCode::OK, raw_array(v))
}

fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

async fn get_silence(State(p): P, Path(id): Path<String>) -> Response {
    if !is_uuid(&id) {
        return err_schema(
            601,
            &format!("silenceID in path must be of type uuid: {id:?}"),
        );
    }
    let now = Utc::now();
    let alerts = p.alerts.read();
    match p.silences.lock().get(&id) {
        Some(s) => {
            let ext = silence_extension(s, &alerts, now);
            raw_resp(StatusCode::OK, with_extension(silence_json(s, now), ext))
        }
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn delete_silence(State(p): P, Path(id): Path<String>) -> Response {
    if !is_uuid(&id) {
        return err_schema(
            601,
            &format!("silenceID in path must be of type uuid: {id:?}"),
        );
    }
    let now = Utc::now();
    let mut sil = p.silences.lock();
    match sil.expire_at(&id, now) {
        Ok(s) => {
            if let Err(e) = p.store.lock().save_silences(&[s]) {
                return err_string(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string());
            }
            (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json")],
                "",
            )
                .into_response()
        }
        Err(e) => err_string(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

async fn post_silence(State(p): P, body: Bytes) -> Response {
    let v: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return json_resp(
                StatusCode::BAD_REQUEST,
                &json!({"code": 400, "message": format!("parsing silence body from \"\" failed, because {e}")}),
            )
        }
    };
    for field in ["comment", "createdBy", "endsAt", "matchers", "startsAt"] {
        if v.get(field).is_none() {
            return err_schema(602, &format!("{field} in body is required"));
        }
    }
    let (Some(starts_at), Some(ends_at)) = (
        v.get("startsAt").and_then(parse_ts),
        v.get("endsAt").and_then(parse_ts),
    ) else {
        return err_schema(601, "startsAt/endsAt in body must be of type date-time");
    };
    let mut matchers = Vec::new();
    for (i, m) in v["matchers"].as_array().into_iter().flatten().enumerate() {
        let name = m.get("name").and_then(Value::as_str);
        let value = m.get("value").and_then(Value::as_str);
        let is_regex = m.get("isRegex").and_then(Value::as_bool);
        let (Some(name), Some(value), Some(is_regex)) = (name, value, is_regex) else {
            let missing = if name.is_none() {
                "name"
            } else if value.is_none() {
                "value"
            } else {
                "isRegex"
            };
            return err_schema(602, &format!("matchers.{i}.{missing} in body is required"));
        };
        let is_equal = m.get("isEqual").and_then(Value::as_bool).unwrap_or(true);
        let op = match (is_regex, is_equal) {
            (false, true) => MatchType::Equal,
            (false, false) => MatchType::NotEqual,
            (true, true) => MatchType::Regexp,
            (true, false) => MatchType::NotRegexp,
        };
        match Matcher::new(name, op, value) {
            Ok(m) => matchers.push(m),
            Err(e) => {
                return err_string(
                    StatusCode::BAD_REQUEST,
                    &format!("failed to convert API silence to internal silence: {e}"),
                )
            }
        }
    }
    if starts_at >= ends_at {
        return err_string(
            StatusCode::BAD_REQUEST,
            "Failed to create silence: start time must be before end time",
        );
    }
    let now = Utc::now();
    if ends_at < now {
        return err_string(
            StatusCode::BAD_REQUEST,
            "Failed to create silence: end time can't be in the past",
        );
    }
    let sil = Silence {
        id: v
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        matchers,
        starts_at,
        ends_at,
        updated_at: now,
        created_by: v["createdBy"].as_str().unwrap_or_default().to_string(),
        comment: v["comment"].as_str().unwrap_or_default().to_string(),
    };
    // Set and commit off the async workers (the commit waits for fsync).
    let p2 = p.clone();
    let done = tokio::task::spawn_blocking(move || {
        let mut sils = p2.silences.lock();
        let out = sils.set(sil, now, new_uuid)?;
        // Committed before the answer: a kill -9 after the 200 keeps the silence.
        p2.store
            .lock()
            .save_silences(&out.changed)
            .map_err(|e| SilenceError::Invalid(format!("storing the silence: {e}")))
            .map(|()| out)
    })
    .await;
    let Ok(done) = done else {
        return err_string(
            StatusCode::INTERNAL_SERVER_ERROR,
            "storing the silence failed",
        );
    };
    match done {
        Ok(out) => json_resp(StatusCode::OK, &json!({"silenceID": out.id})),
        Err(SilenceError::Invalid(m)) if m.starts_with("storing the silence") => {
            err_string(StatusCode::INTERNAL_SERVER_ERROR, &m)
        }
        Err(SilenceError::NotFound) => err_string(StatusCode::NOT_FOUND, "silence not found"),
        Err(e @ SilenceError::Invalid(_)) => {
            err_string(StatusCode::BAD_REQUEST, &format!("silence invalid: {e}"))
        }
        Err(e) => err_string(StatusCode::BAD_REQUEST, &e.to_string()),
    }
}

fn ack_json(a: &Ack, now: DateTime<Utc>) -> Value {
    json!({
        "id": a.id,
        "groupKey": a.group_key,
        "fingerprints": a.fingerprints.iter().map(|f| fingerprint_hex(*f)).collect::<Vec<_>>(),
        "createdBy": a.created_by,
        "comment": a.comment,
        "createdAt": ts(&a.created_at),
        "expiresAt": a.expires_at.as_ref().map(ts),
        "endedAt": a.ended_at.as_ref().map(ts),
        "status": {"state": a.state(now)},
    })
}

async fn get_acks(State(p): P) -> Response {
    let now = Utc::now();
    let acks = p.acks.lock();
    let v: Vec<Value> = acks.all().map(|a| ack_json(a, now)).collect();
    json_resp(StatusCode::OK, &Value::Array(v))
}

async fn post_ack(State(p): P, body: Bytes) -> Response {
    let v: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return err_string(StatusCode::BAD_REQUEST, &format!("invalid ack body: {e}")),
    };
    let created_by = v
        .get("createdBy")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if created_by.is_empty() {
        return err_schema(602, "createdBy in body is required");
    }
    let comment = v.get("comment").and_then(Value::as_str).unwrap_or_default();
    let now = Utc::now();
    let expires_at = match v.get("expiresAt") {
        None | Some(Value::Null) => None,
        Some(x) => match parse_ts(x) {
            Some(t) if t > now => Some(t),
            Some(_) => {
                return err_string(StatusCode::BAD_REQUEST, "expiresAt must be in the future")
            }
            None => return err_schema(601, "expiresAt in body must be of type date-time"),
        },
    };
    let (group_key, fingerprints): (Option<String>, BTreeSet<u64>) = match (
        v.get("fingerprint").and_then(Value::as_str),
        v.get("groupKey").and_then(Value::as_str),
    ) {
        (Some(fp), None) => {
            let Ok(fp) = u64::from_str_radix(fp, 16) else {
                return err_string(
                    StatusCode::BAD_REQUEST,
                    &format!("invalid fingerprint {fp:?}"),
                );
            };
            let firing = p
                .alerts
                .read()
                .get(&fp)
                .is_some_and(|a| !a.resolved_at(now));
            if !firing {
                return err_string(
                    StatusCode::NOT_FOUND,
                    "no firing alert with this fingerprint",
                );
            }
            (None, [fp].into())
        }
        (None, Some(key)) => match p.group_fingerprints(key, now) {
            Some(fps) if !fps.is_empty() => (Some(key.to_string()), fps.into_iter().collect()),
            _ => {
                return err_string(
                    StatusCode::NOT_FOUND,
                    "no aggregation group with firing alerts has this key",
                )
            }
        },
        _ => {
            return err_string(
                StatusCode::BAD_REQUEST,
                "exactly one of fingerprint and groupKey is required",
            )
        }
    };
    let ack = Ack {
        id: new_uuid(),
        group_key,
        fingerprints,
        created_by: created_by.to_string(),
        comment: comment.to_string(),
        created_at: now,
        expires_at,
        ended_at: None,
    };
    let mut acks = p.acks.lock();
    if let Err(e) = p.store.lock().save_acks(std::slice::from_ref(&ack)) {
        return err_string(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string());
    }
    let id = ack.id.clone();
    acks.insert(ack);
    json_resp(StatusCode::OK, &json!({"ackID": id}))
}

async fn delete_ack(State(p): P, Path(id): Path<String>) -> Response {
    let now = Utc::now();
    let mut acks = p.acks.lock();
    match acks.end(&id, now) {
        Some(a) => {
            if let Err(e) = p.store.lock().save_acks(&[a]) {
                return err_string(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string());
            }
            (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json")],
                "",
            )
                .into_response()
        }
        None => err_string(StatusCode::NOT_FOUND, "ack not found"),
    }
}

async fn get_history(State(p): P, RawQuery(q): RawQuery) -> Response {
    let pairs = query_pairs(&q);
    let param = |k: &str| {
        pairs
            .iter()
            .rev()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
    };
    let since = match param("since") {
        None => 0,
        Some(s) => match DateTime::parse_from_rfc3339(&s) {
            Ok(t) => t.timestamp_millis(),
            Err(e) => {
                return err_string(
                    StatusCode::BAD_REQUEST,
                    &format!("invalid since {s:?}: {e}"),
                )
            }
        },
    };
    let limit = match param("limit").map(|l| l.parse::<usize>()) {
        None => 10_000,
        Some(Ok(n)) => n,
        Some(Err(_)) => return err_string(StatusCode::BAD_REQUEST, "invalid limit"),
    };
    let rows = match p.store.lock().history(since, limit) {
        Ok(r) => r,
        Err(e) => return err_string(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    };
    let v: Vec<String> = rows
        .into_iter()
        .map(|(t, fp, event, labels)| {
            let time = DateTime::from_timestamp_millis(t).unwrap_or_default();
            ordered(&[
                ("time", json!(ts(&time)).to_string()),
                ("fingerprint", json!(fp).to_string()),
                ("event", json!(event).to_string()),
                ("labels", labels),
            ])
        })
        .collect();
    raw_resp(StatusCode::OK, raw_array(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn posted_alerts_decode_borrowed_sorted_last_name_wins() {
        let body = r#"[{"labels":{"b":"1","a":"x\"y","b":"2"},"annotations":{"s":"t"},
                        "generatorURL":"http://g"}]"#;
        let list: Vec<PostableAlert> = serde_json::from_str(body).unwrap();
        let labels = &list[0].labels.as_ref().unwrap().0;
        let pairs: Vec<(&str, &str)> = labels.iter().map(|(k, v)| (&**k, &**v)).collect();
        assert_eq!(pairs, vec![("a", "x\"y"), ("b", "2")]);
        // Unescaped strings are not copied; an escape forces a copy.
        assert!(matches!(labels[1].1, Cow::Borrowed(_)));
        assert!(matches!(labels[0].1, Cow::Owned(_)));
        assert_eq!(list[0].generator_url.as_ref().unwrap().0, "http://g");
        // Non-string values are refused as before.
        assert!(serde_json::from_str::<Vec<PostableAlert>>(r#"[{"labels":{"a":1}}]"#).is_err());
    }

    #[test]
    fn filters_skip_empty_matchers_as_alertmanager() {
        let labels: BTreeMap<String, String> = [("a".to_string(), "1".to_string())].into();
        let f = |s: &str| parse_matchers(s).unwrap();
        assert!(match_filter(&f("a=1"), &labels));
        assert!(!match_filter(&f("a=2"), &labels));
        assert!(match_filter(&f(r#"b="""#), &labels));
        assert!(match_filter(&f(r#"a!="""#), &labels));
        assert!(is_uuid("6c3a8f2e-0000-4000-8000-000000000000"));
        assert!(!is_uuid("nope"));
    }
}
