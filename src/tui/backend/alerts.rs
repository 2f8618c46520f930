//! What the Alerts and Silences views read and change, behind [`AlertSource`] with two
//! implementations:
//!
//! - [`LocalAlerts`]: the in-process Alertmanager pipeline, through its own API v2
//!   router called in-process (no socket, the exact semantics of `/api/v2`: grouping by
//!   the route tree, silenced/inhibited/acked markers), the rule manager for pending
//!   alerts and rule expressions, and [`crate::alerting::inspect`] for the route path,
//!   the notification log and inhibitions of one alert;
//! - [`RemoteAlerts`]: Alertmanager API v2 over HTTP (`--alertmanager.url`, by default
//!   the `--remote` URL itself, which serves `/api/v2` when it is promtui) and the
//!   Prometheus rules API of `--remote` for pending alerts and expressions.
//!
//! Acknowledgements are promtui's `/api/v2/acks` extension: a real Alertmanager answers
//! 404 there, reported as [`BackendError::Api`] with kind `unsupported`.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Value};

use super::BackendError;
use crate::alerting::inspect::Inspection;
use crate::alerting::matcher::{parse_matchers, MatchType, Matcher};
use crate::engine::EngineHandle;
use crate::web::BoxFuture;

pub type Labels = BTreeMap<String, String>;

/// One alert as Alertmanager holds it (a member of a group).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AmAlert {
    /// Hex fingerprint, as the API writes it.
    pub fingerprint: String,
    pub labels: Labels,
    pub annotations: Labels,
    pub starts_at_ms: i64,
    pub ends_at_ms: i64,
    pub generator_url: String,
    pub receivers: Vec<String>,
    pub silenced_by: Vec<String>,
    pub inhibited_by: Vec<String>,
    pub acked_by: Vec<String>,
}

impl AmAlert {
    pub fn suppressed(&self) -> bool {
        !self.silenced_by.is_empty() || !self.inhibited_by.is_empty()
    }
}

/// One aggregation group as the route tree builds it (`/api/v2/alerts/groups`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AmGroup {
    pub labels: Labels,
    pub receiver: String,
    /// promtui's `groupKey` extension (what a group acknowledgement takes); `None` from
    /// a real Alertmanager.
    pub key: Option<String>,
    pub alerts: Vec<AmAlert>,
}

/// Whether a rule's alert is pending or firing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum RuleAlertState {
    Pending,
    Firing,
}

/// An alert as the rule engine holds it: pending ones never reach Alertmanager.
#[derive(Clone, Debug, PartialEq)]
pub struct RuleAlert {
    pub rule: String,
    /// The rule's expression.
    pub expr: String,
    pub labels: Labels,
    pub annotations: Labels,
    pub state: RuleAlertState,
    pub active_at_ms: i64,
    pub value: f64,
}

/// One silence matcher.
#[derive(Clone, Debug, PartialEq)]
pub struct SilenceMatcher {
    pub name: String,
    pub value: String,
    pub is_regex: bool,
    pub is_equal: bool,
}

impl SilenceMatcher {
    /// `name="value"`, `name!~"value"`...
    pub fn text(&self) -> String {
        let op = match (self.is_equal, self.is_regex) {
            (true, false) => "=",
            (false, false) => "!=",
            (true, true) => "=~",
            (false, true) => "!~",
        };
        format!("{}{}{:?}", self.name, op, self.value)
    }

    fn to_matcher(&self) -> Option<Matcher> {
        let op = match (self.is_equal, self.is_regex) {
            (true, false) => MatchType::Equal,
            (false, false) => MatchType::NotEqual,
            (true, true) => MatchType::Regexp,
            (false, true) => MatchType::NotRegexp,
        };
        Matcher::new(&self.name, op, &self.value).ok()
    }
}

/// One silence.
#[derive(Clone, Debug, PartialEq)]
pub struct SilenceInfo {
    pub id: String,
    /// `active`, `pending` or `expired`.
    pub state: String,
    pub matchers: Vec<SilenceMatcher>,
    pub created_by: String,
    pub comment: String,
    pub starts_at_ms: i64,
    pub ends_at_ms: i64,
}

impl SilenceInfo {
    /// The matchers as `{a="b",c=~"d"}`.
    pub fn matchers_text(&self) -> String {
        let v: Vec<String> = self.matchers.iter().map(SilenceMatcher::text).collect();
        format!("{{{}}}", v.join(", "))
    }
    /// Whether the silence's matchers select `labels`.
    pub fn selects(&self, labels: &Labels) -> bool {
        self.matchers
            .iter()
            .all(|m| m.to_matcher().is_some_and(|m| m.matches(labels)))
    }
}

/// One acknowledgement (promtui's extension).
#[derive(Clone, Debug, PartialEq)]
pub struct AckInfo {
    pub id: String,
    pub group_key: Option<String>,
    pub fingerprints: Vec<String>,
    pub created_by: String,
    pub comment: String,
    pub created_at_ms: i64,
    /// `None`: until the alert resolves.
    pub expires_at_ms: Option<i64>,
    /// `active`, `expired` or `ended`.
    pub state: String,
}

/// Everything the alert views show, fetched together.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AlertsSnapshot {
    pub groups: Vec<AmGroup>,
    /// Pending and firing alerts of the rule engine.
    pub rule_alerts: Vec<RuleAlert>,
    pub silences: Vec<SilenceInfo>,
    pub acks: Vec<AckInfo>,
    /// Why groups or silences are missing (Alertmanager unreachable), when they are.
    pub alertmanager_error: Option<String>,
    /// Why the rule engine's alerts are missing.
    pub rules_error: Option<String>,
    /// Why acknowledgements are missing (a real Alertmanager has none).
    pub acks_error: Option<String>,
}

impl AlertsSnapshot {
    /// Every Alertmanager alert once (an alert in two groups through `continue` counts
    /// once), by fingerprint.
    pub fn unique_alerts(&self) -> BTreeMap<&str, &AmAlert> {
        let mut m = BTreeMap::new();
        for g in &self.groups {
            for a in &g.alerts {
                m.insert(a.fingerprint.as_str(), a);
            }
        }
        m
    }

    /// The expression of the rule that produced an alert: from the generator URL's
    /// `g0.expr`, else from the rule engine's alert with the same labels.
    pub fn rule_expr(&self, a: &AmAlert) -> Option<String> {
        expr_from_generator_url(&a.generator_url).or_else(|| {
            self.rule_alerts
                .iter()
                .find(|r| r.labels == a.labels)
                .map(|r| r.expr.clone())
        })
    }
}

/// One alert event of promtui's history extension (`/api/v2/history`).
#[derive(Clone, Debug, PartialEq)]
pub struct HistoryEvent {
    pub at_ms: i64,
    pub fingerprint: String,
    /// `firing` or `resolved`.
    pub event: String,
    pub labels: Labels,
}

/// Decodes `/api/v2/history`.
pub fn decode_history(v: &Value) -> Vec<HistoryEvent> {
    v.as_array()
        .into_iter()
        .flatten()
        .map(|e| HistoryEvent {
            at_ms: ms_of(&e["time"]),
            fingerprint: e["fingerprint"].as_str().unwrap_or_default().to_string(),
            event: e["event"].as_str().unwrap_or_default().to_string(),
            labels: labels_of(&e["labels"]),
        })
        .collect()
}

/// A silence to create (or, with `id`, to update in place as Alertmanager allows).
#[derive(Clone, Debug, PartialEq)]
pub struct SilenceDraft {
    pub id: Option<String>,
    pub matchers: Vec<SilenceMatcher>,
    pub starts_at_ms: i64,
    pub ends_at_ms: i64,
    pub created_by: String,
    pub comment: String,
}

/// What an acknowledgement covers.
#[derive(Clone, Debug, PartialEq)]
pub enum AckTarget {
    Alert(String),
    /// A group by key (promtui's `groupKey`).
    Group(String),
}

/// An acknowledgement to make.
#[derive(Clone, Debug, PartialEq)]
pub struct AckDraft {
    pub target: AckTarget,
    pub created_by: String,
    pub comment: String,
    /// `None`: until the alert resolves.
    pub expires_at_ms: Option<i64>,
}

/// Everything the alert views ask of the alerting side.
pub trait AlertSource: Send + Sync {
    /// Where alerts come from, for the view's title.
    fn endpoint(&self) -> String;
    fn snapshot(&self) -> BoxFuture<Result<AlertsSnapshot, BackendError>>;
    /// Creates (or updates) a silence; answers its id.
    fn create_silence(&self, d: SilenceDraft) -> BoxFuture<Result<String, BackendError>>;
    fn expire_silence(&self, id: String) -> BoxFuture<Result<(), BackendError>>;
    /// Acknowledges; answers the acknowledgement's id.
    fn ack(&self, d: AckDraft) -> BoxFuture<Result<String, BackendError>>;
    /// Route path, notifications and inhibitions of an alert (local only).
    fn inspect(&self, fingerprint: String) -> BoxFuture<Result<Inspection, BackendError>>;
    /// Alert events (firing, resolved) in `[since_ms, until_ms]`, oldest first, from
    /// promtui's history extension; a real Alertmanager answers `unsupported`.
    fn history(
        &self,
        since_ms: i64,
        until_ms: i64,
    ) -> BoxFuture<Result<Vec<HistoryEvent>, BackendError>>;
}

/// Parses Alertmanager matchers (`{a="b", c=~"d"}` or `a=b,c=~d`) into silence matchers.
pub fn parse_silence_matchers(text: &str) -> Result<Vec<SilenceMatcher>, String> {
    let ms = parse_matchers(text).map_err(|e| e.to_string())?;
    Ok(ms
        .into_iter()
        .map(|m| SilenceMatcher {
            is_equal: matches!(m.op, MatchType::Equal | MatchType::Regexp),
            is_regex: matches!(m.op, MatchType::Regexp | MatchType::NotRegexp),
            name: m.name,
            value: m.value,
        })
        .collect())
}

/// `g0.expr` of a Prometheus generator URL (`.../graph?g0.expr=...&g0.tab=1`).
pub fn expr_from_generator_url(url: &str) -> Option<String> {
    let q = url.split_once('?')?.1;
    form_urlencoded::parse(q.as_bytes())
        .find(|(k, _)| k == "g0.expr")
        .map(|(_, v)| v.into_owned())
        .filter(|v| !v.is_empty())
}

/// The threshold of an alerting expression `lhs <op> number` (comparison at the top
/// level): the left side to chart and the number to draw. `None` when the expression
/// is not such a comparison.
pub fn split_threshold(expr: &str) -> Option<(String, String, f64)> {
    let b = expr.as_bytes();
    let mut depth = 0i32;
    let mut quote: Option<u8> = None;
    let mut found = None;
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if let Some(q) = quote {
            if c == b'\\' {
                i += 1;
            } else if c == q {
                quote = None;
            }
        } else {
            match c {
                b'"' | b'\'' | b'`' => quote = Some(c),
                b'(' | b'{' | b'[' => depth += 1,
                b')' | b'}' | b']' => depth -= 1,
                b'>' | b'<' | b'=' | b'!' if depth == 0 => {
                    let two = b.get(i + 1) == Some(&b'=');
                    let op_len = if two { 2 } else { 1 };
                    let op = &expr[i..i + op_len];
                    if matches!(op, ">" | "<" | ">=" | "<=" | "==" | "!=") {
                        found = Some((i, op_len));
                    }
                    i += op_len;
                    continue;
                }
                _ => {}
            }
        }
        i += 1;
    }
    let (at, len) = found?;
    let lhs = expr[..at].trim();
    let mut rhs = expr[at + len..].trim();
    rhs = rhs.strip_prefix("bool").map(str::trim).unwrap_or(rhs);
    let v: f64 = rhs.parse().ok()?;
    if lhs.is_empty() {
        return None;
    }
    Some((lhs.to_string(), expr[at..at + len].to_string(), v))
}

fn ts(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn ms_of(v: &Value) -> i64 {
    v.as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.timestamp_millis())
        .unwrap_or(0)
}

fn labels_of(v: &Value) -> Labels {
    v.as_object()
        .map(|o| {
            o.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default()
}

fn strings_of(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// Decodes `/api/v2/alerts/groups`.
pub fn decode_groups(v: &Value) -> Vec<AmGroup> {
    let mut out = Vec::new();
    for g in v.as_array().into_iter().flatten() {
        let alerts = g["alerts"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|a| AmAlert {
                fingerprint: a["fingerprint"].as_str().unwrap_or_default().to_string(),
                labels: labels_of(&a["labels"]),
                annotations: labels_of(&a["annotations"]),
                starts_at_ms: ms_of(&a["startsAt"]),
                ends_at_ms: ms_of(&a["endsAt"]),
                generator_url: a["generatorURL"].as_str().unwrap_or_default().to_string(),
                receivers: a["receivers"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|r| r["name"].as_str().map(String::from))
                    .collect(),
                silenced_by: strings_of(&a["status"]["silencedBy"]),
                inhibited_by: strings_of(&a["status"]["inhibitedBy"]),
                acked_by: strings_of(&a["status"]["ackedBy"]),
            })
            .collect();
        out.push(AmGroup {
            labels: labels_of(&g["labels"]),
            receiver: g["receiver"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            key: g["promtui"]["groupKey"].as_str().map(String::from),
            alerts,
        });
    }
    out
}

/// Decodes `/api/v2/silences`.
pub fn decode_silences(v: &Value) -> Vec<SilenceInfo> {
    v.as_array()
        .into_iter()
        .flatten()
        .map(|s| SilenceInfo {
            id: s["id"].as_str().unwrap_or_default().to_string(),
            state: s["status"]["state"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            matchers: s["matchers"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|m| SilenceMatcher {
                    name: m["name"].as_str().unwrap_or_default().to_string(),
                    value: m["value"].as_str().unwrap_or_default().to_string(),
                    is_regex: m["isRegex"].as_bool().unwrap_or(false),
                    is_equal: m["isEqual"].as_bool().unwrap_or(true),
                })
                .collect(),
            created_by: s["createdBy"].as_str().unwrap_or_default().to_string(),
            comment: s["comment"].as_str().unwrap_or_default().to_string(),
            starts_at_ms: ms_of(&s["startsAt"]),
            ends_at_ms: ms_of(&s["endsAt"]),
        })
        .collect()
}

/// Decodes `/api/v2/acks`.
pub fn decode_acks(v: &Value) -> Vec<AckInfo> {
    v.as_array()
        .into_iter()
        .flatten()
        .map(|a| AckInfo {
            id: a["id"].as_str().unwrap_or_default().to_string(),
            group_key: a["groupKey"].as_str().map(String::from),
            fingerprints: strings_of(&a["fingerprints"]),
            created_by: a["createdBy"].as_str().unwrap_or_default().to_string(),
            comment: a["comment"].as_str().unwrap_or_default().to_string(),
            created_at_ms: ms_of(&a["createdAt"]),
            expires_at_ms: a["expiresAt"].as_str().map(|_| ms_of(&a["expiresAt"])),
            state: a["status"]["state"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        })
        .collect()
}

/// Decodes the alerting rules of `/api/v1/rules` into their pending and firing alerts.
pub fn decode_rule_alerts(v: &Value) -> Vec<RuleAlert> {
    let mut out = Vec::new();
    for g in v["data"]["groups"].as_array().into_iter().flatten() {
        for r in g["rules"].as_array().into_iter().flatten() {
            if r["type"] != "alerting" {
                continue;
            }
            for a in r["alerts"].as_array().into_iter().flatten() {
                let state = match a["state"].as_str() {
                    Some("firing") => RuleAlertState::Firing,
                    Some("pending") => RuleAlertState::Pending,
                    _ => continue,
                };
                out.push(RuleAlert {
                    rule: r["name"].as_str().unwrap_or_default().to_string(),
                    expr: r["query"].as_str().unwrap_or_default().to_string(),
                    labels: labels_of(&a["labels"]),
                    annotations: labels_of(&a["annotations"]),
                    state,
                    active_at_ms: ms_of(&a["activeAt"]),
                    value: a["value"]
                        .as_str()
                        .and_then(|s| s.parse().ok())
                        .unwrap_or(f64::NAN),
                });
            }
        }
    }
    out
}

fn silence_body(d: &SilenceDraft) -> Value {
    let ms: Vec<Value> = d
        .matchers
        .iter()
        .map(|m| json!({"name": m.name, "value": m.value, "isRegex": m.is_regex, "isEqual": m.is_equal}))
        .collect();
    let mut v = json!({
        "matchers": ms,
        "startsAt": ts(d.starts_at_ms),
        "endsAt": ts(d.ends_at_ms),
        "createdBy": d.created_by,
        "comment": d.comment,
    });
    if let Some(id) = &d.id {
        v["id"] = json!(id);
    }
    v
}

fn ack_body(d: &AckDraft) -> Value {
    let mut v = json!({"createdBy": d.created_by, "comment": d.comment});
    match &d.target {
        AckTarget::Alert(fp) => v["fingerprint"] = json!(fp),
        AckTarget::Group(k) => v["groupKey"] = json!(k),
    }
    if let Some(e) = d.expires_at_ms {
        v["expiresAt"] = json!(ts(e));
    }
    v
}

/// An HTTP-ish exchange: method, path with query, JSON body; answers status and body.
type Call = Arc<
    dyn Fn(
            reqwest::Method,
            String,
            Option<Value>,
        ) -> BoxFuture<Result<(u16, Vec<u8>), BackendError>>
        + Send
        + Sync,
>;

/// Turns a non-2xx answer into an error with Alertmanager's message (a JSON string or
/// `{"message": ...}`).
fn check(url: &str, status: u16, body: &[u8]) -> Result<Value, BackendError> {
    let v: Value = if body.iter().all(u8::is_ascii_whitespace) {
        Value::Null
    } else {
        serde_json::from_slice(body).map_err(|e| BackendError::Decode {
            url: url.to_string(),
            msg: format!("{e} (HTTP {status})"),
        })?
    };
    if (200..300).contains(&status) {
        return Ok(v);
    }
    let msg = v
        .as_str()
        .map(String::from)
        .or_else(|| v["message"].as_str().map(String::from))
        .or_else(|| v["error"].as_str().map(String::from))
        .unwrap_or_else(|| String::from_utf8_lossy(body).trim().to_string());
    Err(BackendError::Api {
        url: url.to_string(),
        kind: format!("HTTP {status}"),
        msg,
    })
}

/// The operations both sources share, over a [`Call`].
struct AmApi {
    base: String,
    call: Call,
}

impl AmApi {
    async fn json(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, BackendError> {
        let url = format!("{}{path}", self.base);
        let (status, bytes) = (self.call)(method, path.to_string(), body).await?;
        check(&url, status, &bytes)
    }

    async fn groups_silences_acks(&self, snap: &mut AlertsSnapshot) {
        let g = self.json(reqwest::Method::GET, "/api/v2/alerts/groups", None);
        let s = self.json(reqwest::Method::GET, "/api/v2/silences", None);
        let a = self.json(reqwest::Method::GET, "/api/v2/acks", None);
        let (g, s, a) = tokio::join!(g, s, a);
        match (g, s) {
            (Ok(g), Ok(s)) => {
                snap.groups = decode_groups(&g);
                snap.silences = decode_silences(&s);
            }
            (Err(e), _) | (_, Err(e)) => snap.alertmanager_error = Some(e.to_string()),
        }
        match a {
            Ok(a) => snap.acks = decode_acks(&a),
            Err(BackendError::Api { kind, .. }) if kind == "HTTP 404" => {
                snap.acks_error = Some(format!(
                    "acknowledgements are promtui's extension; {} does not support them",
                    self.base
                ))
            }
            Err(e) => snap.acks_error = Some(e.to_string()),
        }
    }

    async fn create_silence(&self, d: SilenceDraft) -> Result<String, BackendError> {
        let v = self
            .json(
                reqwest::Method::POST,
                "/api/v2/silences",
                Some(silence_body(&d)),
            )
            .await?;
        Ok(v["silenceID"].as_str().unwrap_or_default().to_string())
    }

    async fn expire_silence(&self, id: String) -> Result<(), BackendError> {
        self.json(
            reqwest::Method::DELETE,
            &format!("/api/v2/silence/{id}"),
            None,
        )
        .await
        .map(|_| ())
    }

    async fn history(
        &self,
        since_ms: i64,
        until_ms: i64,
    ) -> Result<Vec<HistoryEvent>, BackendError> {
        let since: String = form_urlencoded::byte_serialize(ts(since_ms).as_bytes()).collect();
        match self
            .json(
                reqwest::Method::GET,
                &format!("/api/v2/history?since={since}&limit=100000"),
                None,
            )
            .await
        {
            Ok(v) => Ok(decode_history(&v)
                .into_iter()
                .filter(|e| e.at_ms <= until_ms)
                .collect()),
            Err(BackendError::Api { url, kind, .. }) if kind == "HTTP 404" => {
                Err(BackendError::Api {
                    url,
                    kind: "unsupported".into(),
                    msg: "alert history is promtui's extension; this Alertmanager does not keep it"
                        .into(),
                })
            }
            Err(e) => Err(e),
        }
    }

    async fn ack(&self, d: AckDraft) -> Result<String, BackendError> {
        match self
            .json(reqwest::Method::POST, "/api/v2/acks", Some(ack_body(&d)))
            .await
        {
            Ok(v) => Ok(v["ackID"].as_str().unwrap_or_default().to_string()),
            Err(BackendError::Api { url, kind, .. }) if kind == "HTTP 404" && !self.base.is_empty() && url.ends_with("/acks") => {
                Err(BackendError::Api {
                    url,
                    kind: "unsupported".into(),
                    msg: "acknowledgements are promtui's extension; this Alertmanager does not support them".into(),
                })
            }
            Err(e) => Err(e),
        }
    }
}

/// The in-process Alertmanager and rule engine.
pub struct LocalAlerts {
    engine: Arc<dyn Fn() -> Option<EngineHandle> + Send + Sync>,
    api: AmApi,
}

impl LocalAlerts {
    /// Over the engine `engine` returns once it is open.
    pub fn new(engine: Arc<dyn Fn() -> Option<EngineHandle> + Send + Sync>) -> LocalAlerts {
        let e2 = engine.clone();
        let call: Call = Arc::new(move |method, path, body| {
            let engine = e2();
            Box::pin(async move {
                let Some(e) = engine else {
                    return Err(BackendError::Engine("the engine is starting".into()));
                };
                call_router(e.alerting(), method, path, body).await
            })
        });
        LocalAlerts {
            engine,
            api: AmApi {
                base: "built-in Alertmanager".into(),
                call,
            },
        }
    }
}

/// Calls the pipeline's API v2 router in-process.
async fn call_router(
    p: Arc<crate::alerting::Pipeline>,
    method: reqwest::Method,
    path: String,
    body: Option<Value>,
) -> Result<(u16, Vec<u8>), BackendError> {
    use tower::ServiceExt;
    let method = axum::http::Method::from_bytes(method.as_str().as_bytes())
        .map_err(|e| BackendError::Engine(e.to_string()))?;
    let body = match body {
        Some(v) => axum::body::Body::from(v.to_string()),
        None => axum::body::Body::empty(),
    };
    let req = axum::http::Request::builder()
        .method(method)
        .uri(&path)
        .header("content-type", "application/json")
        .body(body)
        .map_err(|e| BackendError::Engine(format!("{path}: {e}")))?;
    let resp = crate::alerting::api::router(p)
        .oneshot(req)
        .await
        .map_err(|e| BackendError::Engine(format!("{path}: {e}")))?;
    let status = resp.status().as_u16();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .map_err(|e| BackendError::Engine(format!("{path}: {e}")))?;
    Ok((status, bytes.to_vec()))
}

/// The rule engine's pending and firing alerts with their rules' expressions.
pub fn local_rule_alerts(rm: &crate::rules::manager::RuleManager) -> Vec<RuleAlert> {
    use crate::rules::eval::AlertState;
    use crate::rules::file::Rule;
    rm.with_groups(|gs| {
        let mut out = Vec::new();
        for g in gs {
            for r in &g.rules {
                let Rule::Alerting(ar) = &r.rule else {
                    continue;
                };
                for a in r.alerts.alerts() {
                    let state = match a.state {
                        AlertState::Firing => RuleAlertState::Firing,
                        AlertState::Pending => RuleAlertState::Pending,
                        _ => continue,
                    };
                    out.push(RuleAlert {
                        rule: ar.alert.clone(),
                        expr: ar.expr_text.clone(),
                        labels: a.labels.clone(),
                        annotations: a.annotations.clone(),
                        state,
                        active_at_ms: a.active_at,
                        value: a.value,
                    });
                }
            }
        }
        out
    })
}

impl AlertSource for LocalAlerts {
    fn endpoint(&self) -> String {
        self.api.base.clone()
    }

    fn snapshot(&self) -> BoxFuture<Result<AlertsSnapshot, BackendError>> {
        let engine = (self.engine)();
        let api = AmApi {
            base: self.api.base.clone(),
            call: self.api.call.clone(),
        };
        Box::pin(async move {
            let Some(e) = engine else {
                return Err(BackendError::Engine("the engine is starting".into()));
            };
            let mut snap = AlertsSnapshot::default();
            api.groups_silences_acks(&mut snap).await;
            match e.rule_manager() {
                Some(rm) => {
                    snap.rule_alerts = tokio::task::spawn_blocking(move || local_rule_alerts(&rm))
                        .await
                        .map_err(|e| BackendError::Engine(e.to_string()))?
                }
                None => snap.rules_error = Some("the rule manager has not started".into()),
            }
            Ok(snap)
        })
    }

    fn create_silence(&self, d: SilenceDraft) -> BoxFuture<Result<String, BackendError>> {
        let api = AmApi {
            base: self.api.base.clone(),
            call: self.api.call.clone(),
        };
        Box::pin(async move { api.create_silence(d).await })
    }

    fn expire_silence(&self, id: String) -> BoxFuture<Result<(), BackendError>> {
        let api = AmApi {
            base: self.api.base.clone(),
            call: self.api.call.clone(),
        };
        Box::pin(async move { api.expire_silence(id).await })
    }

    fn ack(&self, d: AckDraft) -> BoxFuture<Result<String, BackendError>> {
        let api = AmApi {
            base: self.api.base.clone(),
            call: self.api.call.clone(),
        };
        Box::pin(async move { api.ack(d).await })
    }

    fn history(
        &self,
        since_ms: i64,
        until_ms: i64,
    ) -> BoxFuture<Result<Vec<HistoryEvent>, BackendError>> {
        let api = AmApi {
            base: self.api.base.clone(),
            call: self.api.call.clone(),
        };
        Box::pin(async move { api.history(since_ms, until_ms).await })
    }

    fn inspect(&self, fingerprint: String) -> BoxFuture<Result<Inspection, BackendError>> {
        let engine = (self.engine)();
        Box::pin(async move {
            let Some(e) = engine else {
                return Err(BackendError::Engine("the engine is starting".into()));
            };
            let fp = u64::from_str_radix(&fingerprint, 16)
                .map_err(|_| BackendError::Engine(format!("bad fingerprint {fingerprint:?}")))?;
            tokio::task::spawn_blocking(move || {
                crate::alerting::inspect::inspect(&e.alerting(), fp, Utc::now()).ok_or_else(|| {
                    BackendError::Engine(format!("alert {fingerprint} is no longer held"))
                })
            })
            .await
            .map_err(|e| BackendError::Engine(e.to_string()))?
        })
    }
}

/// Alertmanager API v2 and the Prometheus rules API over HTTP.
pub struct RemoteAlerts {
    client: reqwest::Client,
    /// The Prometheus-compatible `--remote` URL (rules).
    prometheus: String,
    api: AmApi,
}

impl RemoteAlerts {
    /// `alertmanager`: `--alertmanager.url`, else `prometheus` itself (promtui serves
    /// `/api/v2` on its web port).
    pub fn new(
        client: reqwest::Client,
        prometheus: &str,
        alertmanager: Option<&str>,
    ) -> RemoteAlerts {
        let prometheus = prometheus.trim_end_matches('/').to_string();
        let base = alertmanager
            .map(|u| u.trim_end_matches('/').to_string())
            .unwrap_or_else(|| prometheus.clone());
        let c2 = client.clone();
        let b2 = base.clone();
        let call: Call = Arc::new(move |method, path, body| {
            let url = format!("{b2}{path}");
            let mut req = c2.request(method, &url);
            if let Some(b) = body {
                req = req
                    .header("content-type", "application/json")
                    .body(b.to_string());
            }
            Box::pin(async move {
                let resp = req.send().await.map_err(|e| BackendError::Http {
                    url: url.clone(),
                    msg: e.to_string(),
                })?;
                let status = resp.status().as_u16();
                let bytes = resp.bytes().await.map_err(|e| BackendError::Http {
                    url,
                    msg: e.to_string(),
                })?;
                Ok((status, bytes.to_vec()))
            })
        });
        RemoteAlerts {
            client,
            prometheus,
            api: AmApi { base, call },
        }
    }

    fn api(&self) -> AmApi {
        AmApi {
            base: self.api.base.clone(),
            call: self.api.call.clone(),
        }
    }
}

impl AlertSource for RemoteAlerts {
    fn endpoint(&self) -> String {
        self.api.base.clone()
    }

    fn snapshot(&self) -> BoxFuture<Result<AlertsSnapshot, BackendError>> {
        let api = self.api();
        let client = self.client.clone();
        let url = format!("{}/api/v1/rules?type=alert", self.prometheus);
        Box::pin(async move {
            let mut snap = AlertsSnapshot::default();
            let rules = async {
                let r = client.get(&url).send().await.map_err(|e| e.to_string())?;
                let status = r.status();
                let body = r.bytes().await.map_err(|e| e.to_string())?;
                let v: Value = serde_json::from_slice(&body).map_err(|e| format!("{url}: {e}"))?;
                if !status.is_success() {
                    return Err(format!("{url}: HTTP {status}: {}", v["error"]));
                }
                Ok(decode_rule_alerts(&v))
            };
            let (rules, ()) = tokio::join!(rules, api.groups_silences_acks(&mut snap));
            match rules {
                Ok(r) => snap.rule_alerts = r,
                Err(e) => snap.rules_error = Some(e),
            }
            if snap.alertmanager_error.is_some() && snap.rules_error.is_some() {
                return Err(BackendError::Http {
                    url: api.base.clone(),
                    msg: snap.alertmanager_error.clone().unwrap_or_default(),
                });
            }
            Ok(snap)
        })
    }

    fn create_silence(&self, d: SilenceDraft) -> BoxFuture<Result<String, BackendError>> {
        let api = self.api();
        Box::pin(async move { api.create_silence(d).await })
    }

    fn expire_silence(&self, id: String) -> BoxFuture<Result<(), BackendError>> {
        let api = self.api();
        Box::pin(async move { api.expire_silence(id).await })
    }

    fn ack(&self, d: AckDraft) -> BoxFuture<Result<String, BackendError>> {
        let api = self.api();
        Box::pin(async move { api.ack(d).await })
    }

    fn history(
        &self,
        since_ms: i64,
        until_ms: i64,
    ) -> BoxFuture<Result<Vec<HistoryEvent>, BackendError>> {
        let api = self.api();
        Box::pin(async move { api.history(since_ms, until_ms).await })
    }

    fn inspect(&self, _fingerprint: String) -> BoxFuture<Result<Inspection, BackendError>> {
        Box::pin(async {
            Err(BackendError::LocalOnly(
                "the route path, notification log and inhibit rules of an alert",
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_in_process_router_answers_groups_silences_acks_and_history() {
        use crate::alerting::dispatch::{Options, PostedAlert};
        let dir = tempfile::tempdir().unwrap();
        let cfg = crate::alerting::AmConfig::load_str(
            "route:\n  receiver: r\n  group_by: [alertname]\nreceivers:\n- name: r\n",
            "am.yml",
            dir.path(),
        )
        .unwrap();
        let p = crate::alerting::Pipeline::open(
            cfg,
            Options {
                data_dir: dir.path().to_path_buf(),
                retention: std::time::Duration::from_secs(3600),
                external_url: "http://x".into(),
            },
        )
        .unwrap();
        let (_stop_tx, stop) = tokio::sync::watch::channel(false);
        p.start(stop);
        p.put(vec![PostedAlert {
            labels: [("alertname".to_string(), "A".to_string())].into(),
            ..PostedAlert::default()
        }]);
        let p2 = p.clone();
        let call: Call = Arc::new(move |m, path, body| {
            let p = p2.clone();
            Box::pin(async move { call_router(p, m, path, body).await })
        });
        let api = AmApi {
            base: "built-in".into(),
            call,
        };
        let mut snap = AlertsSnapshot::default();
        api.groups_silences_acks(&mut snap).await;
        assert_eq!(snap.alertmanager_error, None);
        assert_eq!(snap.groups.len(), 1);
        assert_eq!(snap.groups[0].receiver, "r");
        assert_eq!(snap.groups[0].key.as_deref(), Some(r#"{}:{alertname="A"}"#));
        let fp = snap.groups[0].alerts[0].fingerprint.clone();
        // Silence, acknowledge the group, then expire the silence.
        let now = Utc::now().timestamp_millis();
        let id = api
            .create_silence(SilenceDraft {
                id: None,
                matchers: parse_silence_matchers(r#"{alertname="A"}"#).unwrap(),
                starts_at_ms: now,
                ends_at_ms: now + 3_600_000,
                created_by: "me".into(),
                comment: "why".into(),
            })
            .await
            .unwrap();
        let ack = api
            .ack(AckDraft {
                target: AckTarget::Group(snap.groups[0].key.clone().unwrap()),
                created_by: "me".into(),
                comment: "on it".into(),
                expires_at_ms: None,
            })
            .await
            .unwrap();
        let mut snap = AlertsSnapshot::default();
        api.groups_silences_acks(&mut snap).await;
        let a = &snap.groups[0].alerts[0];
        assert_eq!(a.silenced_by, std::slice::from_ref(&id));
        assert_eq!(a.acked_by, [ack]);
        assert_eq!(snap.acks[0].fingerprints, [fp]);
        assert_eq!(snap.silences[0].created_by, "me");
        api.expire_silence(id).await.unwrap();
        let mut snap = AlertsSnapshot::default();
        api.groups_silences_acks(&mut snap).await;
        assert_eq!(snap.silences[0].state, "expired");
        assert!(snap.groups[0].alerts[0].silenced_by.is_empty());
        // A bad silence comes back with Alertmanager's reason.
        let err = api
            .create_silence(SilenceDraft {
                id: None,
                matchers: Vec::new(),
                starts_at_ms: now,
                ends_at_ms: now - 1,
                created_by: "me".into(),
                comment: "x".into(),
            })
            .await
            .unwrap_err();
        assert!(matches!(err, BackendError::Api { .. }), "{err}");
        // History: the firing event once it is written (once a second).
        let mut found = false;
        for _ in 0..50 {
            let h = api.history(now - 60_000, now + 60_000).await.unwrap();
            if h.iter()
                .any(|e| e.event == "firing" && e.labels["alertname"] == "A")
            {
                found = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert!(found, "no firing event in the history");
    }

    #[test]
    fn thresholds_split_at_the_top_level_comparison() {
        assert_eq!(
            split_threshold(r#"rate(x{a=">"}[5m]) > 0.5"#),
            Some((r#"rate(x{a=">"}[5m])"#.into(), ">".into(), 0.5))
        );
        assert_eq!(
            split_threshold("up == bool 0"),
            Some(("up".into(), "==".into(), 0.0))
        );
        assert_eq!(split_threshold("absent(up)"), None);
        assert_eq!(split_threshold("a > b"), None);
    }

    #[test]
    fn generator_url_gives_the_expression() {
        assert_eq!(
            expr_from_generator_url("http://h:9090/graph?g0.expr=up+%3D%3D+0&g0.tab=1"),
            Some("up == 0".into())
        );
        assert_eq!(expr_from_generator_url("http://h/"), None);
    }

    #[test]
    fn groups_decode_with_markers_and_group_key() {
        let v: Value = serde_json::from_str(
            r#"[{"alerts":[{"annotations":{},"endsAt":"2026-01-01T00:10:00.000Z","fingerprint":"ab","receivers":[{"name":"r"}],
            "startsAt":"2026-01-01T00:00:00.000Z","status":{"inhibitedBy":[],"silencedBy":["s1"],"state":"suppressed","ackedBy":["k"]},
            "updatedAt":"2026-01-01T00:00:00.000Z","generatorURL":"","labels":{"alertname":"A"}}],
            "labels":{"alertname":"A"},"receiver":{"name":"r"},"promtui":{"groupKey":"{}:{alertname=\"A\"}"}}]"#,
        )
        .unwrap();
        let g = decode_groups(&v);
        assert_eq!(g[0].key.as_deref(), Some(r#"{}:{alertname="A"}"#));
        assert_eq!(g[0].alerts[0].silenced_by, ["s1"]);
        assert_eq!(g[0].alerts[0].acked_by, ["k"]);
        assert!(g[0].alerts[0].suppressed());
        assert_eq!(g[0].alerts[0].starts_at_ms, 1_767_225_600_000);
    }

    #[test]
    fn silence_matchers_round_trip() {
        let m = parse_silence_matchers(r#"{alertname="A", job=~"a|b"}"#).unwrap();
        assert_eq!(m.len(), 2);
        let s = SilenceInfo {
            id: "x".into(),
            state: "active".into(),
            matchers: m,
            created_by: String::new(),
            comment: String::new(),
            starts_at_ms: 0,
            ends_at_ms: 0,
        };
        assert_eq!(s.matchers_text(), r#"{alertname="A", job=~"a|b"}"#);
        let l: Labels = [("alertname".into(), "A".into()), ("job".into(), "b".into())].into();
        assert!(s.selects(&l));
        assert!(parse_silence_matchers("{a}").is_err());
        assert!(parse_silence_matchers(r#"{a=~"("}"#).is_err());
    }
}
