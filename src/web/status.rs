//! Lifecycle (`/-/healthy`, `/-/ready`, `/-/reload`, `/-/quit`), `/metrics`, the index at
//! `/`, `/api/v1/status/*` (config, flags, buildinfo, runtimeinfo, tsdb, walreplay),
//! `/api/v1/targets`, the TSDB admin API (`/api/v1/admin/tsdb/delete_series`,
//! `.../clean_tombstones`, `.../snapshot`, as upstream `web/api/v1/api.go`), and what keeps
//! every API error in Prometheus' JSON shape (the fallback for unknown paths and
//! [`api_error_shape`]).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Serialize;

use super::api::{ApiError, ApiOk, ApiResult, ErrorType};
use super::metrics::write_process_metrics;
use super::{ActiveTarget, DroppedTarget, TsdbStatus, WebState};
use crate::exposition::MetricsWriter;
use crate::model::time::parse_time;

pub(super) fn routes() -> Router<Arc<WebState>> {
    Router::new()
        .route("/-/healthy", get(healthy))
        .route("/-/ready", get(ready))
        .route("/-/reload", post(reload).put(reload))
        .route("/-/quit", post(quit).put(quit))
        .route("/", get(index))
        .route(
            super::lenient::URI_TOO_LONG_PATH,
            axum::routing::any(uri_too_long),
        )
        .route("/metrics", get(metrics))
        .route("/api/v1/status/config", get(status_config))
        .route("/api/v1/status/flags", get(status_flags))
        .route("/api/v1/status/buildinfo", get(status_buildinfo))
        .route("/api/v1/status/tsdb", get(status_tsdb))
        .route("/api/v1/status/runtimeinfo", get(status_runtimeinfo))
        .route("/api/v1/status/walreplay", get(status_walreplay))
        .route("/api/v1/targets", get(targets))
        .route(
            "/api/v1/admin/tsdb/delete_series",
            post(delete_series).put(delete_series),
        )
        .route(
            "/api/v1/admin/tsdb/clean_tombstones",
            post(clean_tombstones).put(clean_tombstones),
        )
        .route("/api/v1/admin/tsdb/snapshot", post(snapshot).put(snapshot))
}

/// The endpoints `/` lists, with what each is for.
const INDEX: &[(&str, &str)] = &[
    (
        "/api/v1/query",
        "instant query (GET/POST: query, time, timeout, limit)",
    ),
    (
        "/api/v1/query_range",
        "range query (GET/POST: query, start, end, step)",
    ),
    ("/api/v1/series", "series matching match[]"),
    ("/api/v1/labels", "label names"),
    ("/api/v1/label/<name>/values", "values of one label"),
    (
        "/api/v1/metadata",
        "metric metadata (limit, limit_per_metric, metric)",
    ),
    ("/api/v1/targets", "scrape targets (state, scrapePool)"),
    (
        "/api/v1/targets/metadata",
        "metadata per target (match_target, metric, limit)",
    ),
    (
        "/api/v1/rules",
        "rule groups, health, alerts (type, rule_name[], rule_group[], file[])",
    ),
    ("/api/v1/alerts", "pending and firing alerts"),
    ("/api/v1/query_exemplars", "exemplars (none are stored)"),
    ("/api/v1/format_query", "pretty-printed PromQL"),
    ("/api/v1/parse_query", "PromQL syntax tree as JSON"),
    ("/api/v1/status/config", "loaded configuration"),
    ("/api/v1/status/flags", "command-line flags"),
    ("/api/v1/status/buildinfo", "version"),
    (
        "/api/v1/status/runtimeinfo",
        "start time, retention, reload state",
    ),
    ("/api/v1/status/tsdb", "head cardinality statistics (limit)"),
    ("/api/v1/status/walreplay", "WAL replay progress"),
    (
        "/api/v1/admin/tsdb/delete_series",
        "POST, with --web.enable-admin-api",
    ),
    (
        "/api/v1/admin/tsdb/clean_tombstones",
        "POST, with --web.enable-admin-api",
    ),
    (
        "/api/v1/admin/tsdb/snapshot",
        "POST, with --web.enable-admin-api (skip_head)",
    ),
    ("/federate", "latest samples in the text format (match[])"),
    ("/metrics", "promtui's own metrics"),
    ("/-/healthy", "liveness"),
    ("/-/ready", "readiness (503 until the WAL is replayed)"),
    (
        "/-/reload",
        "POST: reload the configuration, with --web.enable-lifecycle",
    ),
    ("/-/quit", "POST: shut down, with --web.enable-lifecycle"),
];

/// `/`: Prometheus redirects to its web UI; promtui has none, so it lists the endpoints.
async fn index() -> Response {
    let mut out = format!(
        "promtui {} serves the Prometheus HTTP API; there is no web UI.\n\n",
        env!("CARGO_PKG_VERSION")
    );
    let width = INDEX.iter().map(|(p, _)| p.len()).max().unwrap_or(0);
    for (path, what) in INDEX {
        out.push_str(&format!("{path:<width$}  {what}\n"));
    }
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], out).into_response()
}

/// Requests whose target was too long for hyper, redirected here by [`super::lenient`].
async fn uri_too_long(RawQuery(q): RawQuery) -> Response {
    let params = request_params(q.as_deref(), &HeaderMap::new(), &[]).unwrap_or_default();
    let length = param(&params, "length").unwrap_or("?");
    let msg = format!(
        "request URI too long: {length} bytes (the limit is {} bytes); send long queries as a POST form body",
        super::lenient::MAX_TARGET
    );
    if param(&params, "api") == Some("1") {
        let mut resp = ApiError::bad_data(msg).into_response();
        *resp.status_mut() = StatusCode::URI_TOO_LONG;
        return resp;
    }
    (StatusCode::URI_TOO_LONG, format!("{msg}\n")).into_response()
}

/// Unknown paths: the API's JSON error under `/api/`, Go's plain 404 elsewhere.
pub(super) async fn not_found(uri: axum::http::Uri) -> Response {
    if is_api_path(uri.path()) {
        return ApiError::new(
            ErrorType::NotFound,
            format!("unknown API endpoint {}", uri.path()),
        )
        .into_response();
    }
    (
        StatusCode::NOT_FOUND,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        "404 page not found\n",
    )
        .into_response()
}

fn is_api_path(path: &str) -> bool {
    path == "/api" || path.starts_with("/api/")
}

/// The first malformed percent escape in `raw` (`%` not followed by two hex digits).
fn bad_escape(raw: &str) -> Option<&str> {
    let b = raw.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let ok =
                b.len() > i + 2 && b[i + 1].is_ascii_hexdigit() && b[i + 2].is_ascii_hexdigit();
            if !ok {
                return Some(&raw[i..(i + 3).min(raw.len())]);
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    None
}

/// Keeps every error of the API in Prometheus' JSON shape: a malformed percent escape in the
/// path is a 400 (as Go's URL parser makes it), and error responses that the framework
/// writes in plain text under `/api/` (body too large, path segments that are not UTF-8,
/// method not allowed) are rewritten as `{"status":"error","errorType":...,"error":...}`.
pub(super) async fn api_error_shape(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let path = req.uri().path().to_string();
    let method = req.method().clone();
    if let Some(esc) = bad_escape(&path) {
        let msg = format!("invalid URL escape {esc:?} in path {path:?}");
        if is_api_path(&path) {
            return ApiError::bad_data(msg).into_response();
        }
        return (StatusCode::BAD_REQUEST, format!("400 Bad Request: {msg}\n")).into_response();
    }
    let resp = next.run(req).await;
    let status = resp.status();
    if !is_api_path(&path) || !(status.is_client_error() || status.is_server_error()) {
        return resp;
    }
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json {
        return resp;
    }
    let kind = match status {
        StatusCode::NOT_FOUND => ErrorType::NotFound,
        StatusCode::SERVICE_UNAVAILABLE => ErrorType::Unavailable,
        s if s.is_server_error() => ErrorType::Internal,
        _ => ErrorType::BadData,
    };
    let message = match status {
        StatusCode::PAYLOAD_TOO_LARGE => format!(
            "request body too large: the limit is {} bytes",
            super::MAX_BODY_BYTES
        ),
        StatusCode::METHOD_NOT_ALLOWED => format!("method {method} not allowed for {path}"),
        _ => {
            let body = axum::body::to_bytes(resp.into_body(), 64 << 10)
                .await
                .unwrap_or_default();
            let text = String::from_utf8_lossy(&body).trim().to_string();
            if text.is_empty() {
                status.canonical_reason().unwrap_or("error").to_string()
            } else {
                text
            }
        }
    };
    let mut out = ApiError::new(kind, message).into_response();
    // The framework's status (413, 405, ...) is kept; only the body changes.
    *out.status_mut() = status;
    out
}

/// Decoded parameters from the query string and, for form posts, the body (both count,
/// as in Go's `r.Form`). A name or value that is not UTF-8 once percent-decoded (`%ff`) is
/// a `bad_data` error naming the parameter, never a lossy replacement that would then
/// match or select something else.
pub(crate) fn request_params(
    query: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Vec<(String, String)>, ApiError> {
    let mut out = Vec::new();
    if let Some(q) = query {
        decode_form(q.as_bytes(), "query string", &mut out)?;
    }
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if is_form {
        decode_form(body, "request body", &mut out)?;
    }
    Ok(out)
}

/// Decodes `application/x-www-form-urlencoded` pairs into `out`, rejecting names and
/// values that are not UTF-8. `where_` names the source for the error.
fn decode_form(
    input: &[u8],
    where_: &str,
    out: &mut Vec<(String, String)>,
) -> Result<(), ApiError> {
    for (k, v) in form_urlencoded::parse(input) {
        // `parse` replaces invalid UTF-8 with U+FFFD, so a replacement character that the
        // raw bytes do not spell out literally means the input was not UTF-8.
        let (k, v) = (k.into_owned(), v.into_owned());
        if k.contains('\u{FFFD}') || v.contains('\u{FFFD}') {
            check_utf8(input, where_)?;
        }
        out.push((k, v));
    }
    Ok(())
}

/// Finds the pair of `input` whose percent-decoded name or value is not UTF-8.
fn check_utf8(input: &[u8], where_: &str) -> Result<(), ApiError> {
    for pair in input.split(|&b| b == b'&') {
        let (name, value) = match pair.iter().position(|&b| b == b'=') {
            Some(i) => (&pair[..i], &pair[i + 1..]),
            None => (pair, &pair[pair.len()..]),
        };
        let name_bytes = percent_decode(name);
        let name_text = String::from_utf8_lossy(&name_bytes).into_owned();
        for (what, bytes) in [("name", name_bytes), ("value", percent_decode(value))] {
            if let Err(e) = std::str::from_utf8(&bytes) {
                let at = e.valid_up_to();
                return Err(ApiError::bad_data(format!(
                    "invalid parameter {name_text:?}: the {what} in the {where_} is not valid UTF-8 \
                     (byte 0x{:02x} at offset {at} after percent-decoding)",
                    bytes[at]
                )));
            }
        }
    }
    Ok(())
}

/// Percent-decodes form bytes (`+` is a space); invalid escapes stay as written.
fn percent_decode(input: &[u8]) -> Vec<u8> {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        match input[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < input.len() => match (hex(input[i + 1]), hex(input[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    out
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

async fn healthy() -> &'static str {
    "promtui is Healthy.\n"
}

async fn ready(State(s): State<Arc<WebState>>) -> Response {
    if s.is_ready() {
        (StatusCode::OK, "promtui is Ready.\n").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable\n").into_response()
    }
}

async fn reload(State(s): State<Arc<WebState>>) -> Response {
    if !s.enable_lifecycle {
        return (
            StatusCode::FORBIDDEN,
            "Lifecycle API is not enabled (start with --web.enable-lifecycle).\n",
        )
            .into_response();
    }
    match s.config.reload().await {
        Ok(()) => (StatusCode::OK, "").into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("failed to reload config: {e}\n"),
        )
            .into_response(),
    }
}

/// `POST /-/quit`: shuts the server down as SIGTERM does (upstream's answer text).
async fn quit(State(s): State<Arc<WebState>>) -> Response {
    if !s.enable_lifecycle {
        return (
            StatusCode::FORBIDDEN,
            "Lifecycle API is not enabled (start with --web.enable-lifecycle).\n",
        )
            .into_response();
    }
    tracing::info!("shutdown requested via /-/quit");
    s.quit.notify_one();
    (StatusCode::OK, "Requesting termination... Goodbye!").into_response()
}

async fn metrics(State(s): State<Arc<WebState>>) -> Response {
    let mut w = MetricsWriter::new();
    write_process_metrics(&mut w);
    w.single(
        "promtui_ready",
        "gauge",
        "Whether start-up (WAL replay) has finished.",
        if s.ready.load(Ordering::Acquire) {
            1.0
        } else {
            0.0
        },
    );
    s.http_metrics.write(&mut w);
    for src in &s.metrics_sources {
        src.write_metrics(&mut w);
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        w.finish(),
    )
        .into_response()
}

#[derive(Serialize)]
struct ConfigData {
    yaml: String,
}

async fn status_config(State(s): State<Arc<WebState>>) -> ApiResult<ConfigData> {
    Ok(ApiOk::new(ConfigData {
        yaml: s.config.config_yaml(),
    }))
}

async fn status_flags(
    State(s): State<Arc<WebState>>,
) -> ApiResult<std::collections::BTreeMap<String, String>> {
    Ok(ApiOk::new((*s.flags).clone()))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct BuildInfo {
    version: &'static str,
    revision: &'static str,
    branch: &'static str,
    build_user: &'static str,
    build_date: &'static str,
    go_version: &'static str,
}

async fn status_buildinfo() -> ApiResult<BuildInfo> {
    Ok(ApiOk::new(BuildInfo {
        version: env!("CARGO_PKG_VERSION"),
        revision: option_env!("PROMTUI_GIT_REVISION").unwrap_or("unknown"),
        branch: "main",
        build_user: "promtui",
        build_date: option_env!("PROMTUI_BUILD_DATE").unwrap_or("unknown"),
        // Clients only display this field; there is no Go runtime.
        go_version: "none (Rust)",
    }))
}

async fn status_tsdb(
    State(s): State<Arc<WebState>>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> ApiResult<TsdbStatus> {
    let params = request_params(q.as_deref(), &headers, &[])?;
    let limit = match param(&params, "limit") {
        None => 10,
        Some(v) => match v.parse::<usize>() {
            Ok(n) if n > 0 => n,
            _ => return Err(ApiError::bad_data("limit must be a positive number")),
        },
    };
    Ok(ApiOk::new(s.tsdb.tsdb_status(limit)?))
}

/// `/api/v1/status/runtimeinfo` data, with upstream's field names. The Go runtime fields
/// are reported for what they mean here: `goroutineCount` is the number of live tokio
/// tasks, `GOMAXPROCS` the available parallelism, `GOGC`/`GODEBUG` are empty.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RuntimeInfo {
    start_time: String,
    #[serde(rename = "CWD")]
    cwd: String,
    reload_config_success: bool,
    last_config_time: String,
    corruption_count: u64,
    goroutine_count: usize,
    #[serde(rename = "GOMAXPROCS")]
    gomaxprocs: usize,
    #[serde(rename = "GOGC")]
    gogc: String,
    #[serde(rename = "GODEBUG")]
    godebug: String,
    storage_retention: String,
}

async fn status_runtimeinfo(State(s): State<Arc<WebState>>) -> ApiResult<RuntimeInfo> {
    let started = super::started_at_ms();
    let (ok, loaded) = s.config.last_reload();
    // Upstream reports the reload time from a seconds gauge, so without fractions.
    let last_config = loaded.unwrap_or(started).div_euclid(1000) * 1000;
    let tsdb = s.tsdb.clone();
    let (corruptions, retention) = (tsdb.corruption_count(), tsdb.storage_retention());
    Ok(ApiOk::new(RuntimeInfo {
        start_time: go_rfc3339(started),
        cwd: std::env::current_dir()
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
        reload_config_success: ok,
        last_config_time: go_rfc3339(last_config),
        corruption_count: corruptions,
        goroutine_count: tokio::runtime::Handle::try_current()
            .map(|h| h.metrics().num_alive_tasks())
            .unwrap_or(0),
        gomaxprocs: std::thread::available_parallelism().map_or(1, |n| n.get()),
        gogc: String::new(),
        godebug: String::new(),
        storage_retention: retention,
    }))
}

/// A time as Go's `time.Time` marshals to JSON (RFC 3339, fraction without trailing zeros).
fn go_rfc3339(ms: i64) -> String {
    let full = crate::model::time::format_rfc3339(ms);
    match full.strip_suffix('Z').and_then(|t| t.split_once('.')) {
        Some((secs, frac)) => {
            let frac = frac.trim_end_matches('0');
            if frac.is_empty() {
                format!("{secs}Z")
            } else {
                format!("{secs}.{frac}Z")
            }
        }
        None => full,
    }
}

async fn status_walreplay(State(s): State<Arc<WebState>>) -> ApiResult<super::WalReplayStatus> {
    Ok(ApiOk::new(s.tsdb.wal_replay_status()))
}

#[derive(Serialize)]
struct SnapshotData {
    name: String,
}

/// `POST /api/v1/admin/tsdb/snapshot[?skip_head=<bool>]`.
async fn snapshot(
    State(s): State<Arc<WebState>>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !s.enable_admin_api {
        return ApiError::new(ErrorType::Unavailable, "admin APIs disabled").into_response();
    }
    let params = match request_params(q.as_deref(), &headers, &body) {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    let skip_head = match param(&params, "skip_head") {
        None | Some("") => false,
        Some(v) => match parse_go_bool(v) {
            Some(b) => b,
            None => {
                return ApiError::bad_data(format!(
                    "invalid parameter \"skip_head\": unable to parse boolean: {v:?} is not one of 1, t, T, TRUE, true, True, 0, f, F, FALSE, false, False"
                ))
                .into_response()
            }
        },
    };
    let tsdb = s.tsdb.clone();
    match tokio::task::spawn_blocking(move || tsdb.snapshot(skip_head)).await {
        Ok(Ok(name)) => ApiOk::new(SnapshotData { name }).into_response(),
        Ok(Err(e)) => e.into_response(),
        Err(e) => ApiError::internal(format!("snapshot task failed: {e}")).into_response(),
    }
}

/// Go's `strconv.ParseBool`.
fn parse_go_bool(v: &str) -> Option<bool> {
    match v {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TargetsData {
    active_targets: Vec<ActiveTarget>,
    dropped_targets: Vec<DroppedTarget>,
}

async fn targets(
    State(s): State<Arc<WebState>>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> ApiResult<TargetsData> {
    let params = request_params(q.as_deref(), &headers, &[])?;
    let state = param(&params, "state")
        .unwrap_or("any")
        .to_ascii_lowercase();
    let pool = param(&params, "scrapePool");
    let (want_active, want_dropped) = match state.as_str() {
        "" | "any" => (true, true),
        "active" => (true, false),
        "dropped" => (false, true),
        _ => (false, false),
    };
    let mut active = if want_active {
        s.targets.active_targets()
    } else {
        Vec::new()
    };
    let mut dropped = if want_dropped {
        s.targets.dropped_targets()
    } else {
        Vec::new()
    };
    if let Some(pool) = pool {
        active.retain(|t| t.scrape_pool == pool);
        dropped.retain(|t| t.discovered_labels.get("job").map(String::as_str) == Some(pool));
    }
    Ok(ApiOk::new(TargetsData {
        active_targets: active,
        dropped_targets: dropped,
    }))
}

async fn delete_series(
    State(s): State<Arc<WebState>>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !s.enable_admin_api {
        return ApiError::new(ErrorType::Unavailable, "admin APIs disabled").into_response();
    }
    let params = match request_params(q.as_deref(), &headers, &body) {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    let selectors: Vec<String> = params
        .iter()
        .filter(|(k, _)| k == "match[]")
        .map(|(_, v)| v.clone())
        .collect();
    if selectors.is_empty() {
        return ApiError::bad_data("no match[] parameter provided").into_response();
    }
    let parse = |name: &str, default: i64| -> Result<i64, ApiError> {
        match param(&params, name) {
            None | Some("") => Ok(default),
            Some(v) => parse_time(v)
                .map_err(|e| ApiError::bad_data(format!("invalid parameter \"{name}\": {e}"))),
        }
    };
    let (start, end) = match (parse("start", i64::MIN), parse("end", i64::MAX)) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => return e.into_response(),
    };
    // Deletion writes and fsyncs files: off the async workers.
    let tsdb = s.tsdb.clone();
    admin_result(
        tokio::task::spawn_blocking(move || tsdb.delete_series(&selectors, start, end)).await,
    )
}

async fn clean_tombstones(State(s): State<Arc<WebState>>) -> Response {
    if !s.enable_admin_api {
        return ApiError::new(ErrorType::Unavailable, "admin APIs disabled").into_response();
    }
    let tsdb = s.tsdb.clone();
    admin_result(tokio::task::spawn_blocking(move || tsdb.clean_tombstones()).await)
}

/// 204 on success, the API error otherwise.
fn admin_result(r: Result<Result<(), ApiError>, tokio::task::JoinError>) -> Response {
    match r {
        Ok(Ok(())) => StatusCode::NO_CONTENT.into_response(),
        Ok(Err(e)) => e.into_response(),
        Err(e) => ApiError::internal(format!("admin task failed: {e}")).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::atomic::AtomicBool;
    use std::sync::Arc;

    use axum::body::{to_bytes, Body};
    use axum::http::Request;
    use parking_lot::Mutex;
    use tower::ServiceExt;

    use super::super::api::ErrorType;
    use super::super::metrics::HttpMetrics;
    use super::super::*;
    use axum::http::{header, HeaderMap};

    #[derive(Default)]
    struct Fake {
        deleted: Mutex<Vec<(Vec<String>, i64, i64)>>,
        cleaned: Mutex<u32>,
        reload_ok: bool,
    }

    impl TargetRetriever for Fake {
        fn active_targets(&self) -> Vec<ActiveTarget> {
            vec![ActiveTarget {
                discovered_labels: BTreeMap::from([("__address__".into(), "a:1".into())]),
                labels: BTreeMap::from([("job".into(), "j".into())]),
                scrape_pool: "j".into(),
                scrape_url: "http://a:1/metrics".into(),
                global_url: "http://a:1/metrics".into(),
                last_error: String::new(),
                last_scrape: "2026-01-01T00:00:00.000Z".into(),
                last_scrape_duration: 0.01,
                health: "up".into(),
                scrape_interval: "15s".into(),
                scrape_timeout: "10s".into(),
            }]
        }
        fn dropped_targets(&self) -> Vec<DroppedTarget> {
            vec![DroppedTarget {
                discovered_labels: BTreeMap::from([("job".into(), "other".into())]),
            }]
        }
    }

    impl TsdbAdmin for Fake {
        fn tsdb_status(&self, limit: usize) -> Result<TsdbStatus, ApiError> {
            Ok(TsdbStatus {
                series_count_by_metric_name: vec![NameValue {
                    name: format!("limit{limit}"),
                    value: 1,
                }],
                ..TsdbStatus::default()
            })
        }
        fn delete_series(&self, sel: &[String], start: i64, end: i64) -> Result<(), ApiError> {
            self.deleted.lock().push((sel.to_vec(), start, end));
            Ok(())
        }
        fn clean_tombstones(&self) -> Result<(), ApiError> {
            *self.cleaned.lock() += 1;
            Ok(())
        }
    }

    impl ConfigSource for Fake {
        fn config_yaml(&self) -> String {
            "global: {}\n".into()
        }
        fn reload(&self) -> BoxFuture<Result<(), crate::web::ReloadError>> {
            let ok = self.reload_ok;
            Box::pin(async move {
                if ok {
                    Ok(())
                } else {
                    Err("bad.yml:3:1: field x not found".into())
                }
            })
        }
    }

    fn state(fake: Arc<Fake>, ready: bool, admin: bool) -> WebState {
        WebState {
            targets: fake.clone(),
            tsdb: fake.clone(),
            config: fake,
            metrics_sources: vec![],
            query: None,
            flags: Arc::new(BTreeMap::from([(
                "storage.tsdb.path".to_string(),
                "data/".to_string(),
            )])),
            ready: Arc::new(AtomicBool::new(ready)),
            enable_lifecycle: true,
            enable_admin_api: admin,
            http_metrics: Arc::new(HttpMetrics::default()),
            quit: Arc::new(tokio::sync::Notify::new()),
            rules: None,
        }
    }

    async fn call(st: WebState, req: Request<Body>) -> (u16, String) {
        let resp = router(st).oneshot(req).await.unwrap();
        let code = resp.status().as_u16();
        let body = to_bytes(resp.into_body(), 1 << 20).await.unwrap();
        (code, String::from_utf8(body.to_vec()).unwrap())
    }

    fn get(uri: &str) -> Request<Body> {
        Request::get(uri).body(Body::empty()).unwrap()
    }

    #[tokio::test]
    async fn lifecycle_endpoints() {
        let f = Arc::new(Fake::default());
        assert_eq!(
            call(state(f.clone(), true, false), get("/-/healthy"))
                .await
                .0,
            200
        );
        assert_eq!(
            call(state(f.clone(), false, false), get("/-/ready"))
                .await
                .0,
            503
        );
        assert_eq!(
            call(state(f.clone(), true, false), get("/-/ready")).await.0,
            200
        );
        let (code, body) = call(
            state(f.clone(), true, false),
            Request::post("/-/reload").body(Body::empty()).unwrap(),
        )
        .await;
        assert_eq!(code, 500);
        assert!(body.contains("bad.yml:3:1"), "{body}");
        let ok = Arc::new(Fake {
            reload_ok: true,
            ..Fake::default()
        });
        let (code, _) = call(
            state(ok, true, false),
            Request::post("/-/reload").body(Body::empty()).unwrap(),
        )
        .await;
        assert_eq!(code, 200);
    }

    #[tokio::test]
    async fn status_endpoints_have_prometheus_shapes() {
        let f = Arc::new(Fake::default());
        let (code, body) = call(state(f.clone(), true, false), get("/api/v1/status/flags")).await;
        assert_eq!(code, 200);
        assert_eq!(
            body,
            r#"{"status":"success","data":{"storage.tsdb.path":"data/"}}"#
        );
        let (_, body) = call(state(f.clone(), true, false), get("/api/v1/status/config")).await;
        assert_eq!(
            body,
            r#"{"status":"success","data":{"yaml":"global: {}\n"}}"#
        );
        let (_, body) = call(
            state(f.clone(), true, false),
            get("/api/v1/status/buildinfo"),
        )
        .await;
        assert!(body.contains(r#""version":""#) && body.contains(r#""goVersion""#));
        let (code, body) = call(
            state(f.clone(), true, false),
            get("/api/v1/status/tsdb?limit=3"),
        )
        .await;
        assert_eq!(code, 200);
        assert!(body.contains(r#""seriesCountByMetricName":[{"name":"limit3","value":1}]"#));
        assert!(body.contains(r#""headStats":{"numSeries":0"#));
        let (code, body) = call(
            state(f.clone(), true, false),
            get("/api/v1/status/tsdb?limit=x"),
        )
        .await;
        assert_eq!(code, 400);
        assert_eq!(
            body,
            r#"{"status":"error","errorType":"bad_data","error":"limit must be a positive number"}"#
        );
    }

    #[tokio::test]
    async fn targets_filtering() {
        let f = Arc::new(Fake::default());
        let (_, body) = call(state(f.clone(), true, false), get("/api/v1/targets")).await;
        assert!(body.contains(r#""activeTargets":[{"discoveredLabels":{"__address__":"a:1"}"#));
        assert!(body.contains(r#""droppedTargets":[{"discoveredLabels":{"job":"other"}}]"#));
        let (_, body) = call(
            state(f.clone(), true, false),
            get("/api/v1/targets?state=dropped"),
        )
        .await;
        assert!(body.contains(r#""activeTargets":[]"#));
        let (_, body) = call(
            state(f.clone(), true, false),
            get("/api/v1/targets?scrapePool=nope"),
        )
        .await;
        assert!(body.contains(r#""activeTargets":[],"droppedTargets":[]"#));
    }

    #[tokio::test]
    async fn delete_series_requires_admin_and_parses_form() {
        let f = Arc::new(Fake::default());
        let req = || {
            Request::post("/api/v1/admin/tsdb/delete_series?match[]=up")
                .header("content-type", "application/x-www-form-urlencoded")
                .body(Body::from(
                    "match[]=%7Bjob%3D%22a%22%7D&start=10&end=2015-07-01T20:10:51.781Z",
                ))
                .unwrap()
        };
        let (code, body) = call(state(f.clone(), true, false), req()).await;
        assert_eq!(code, 503);
        assert!(body.contains("admin APIs disabled"));
        let (code, _) = call(state(f.clone(), true, true), req()).await;
        assert_eq!(code, 204);
        let got = f.deleted.lock().clone();
        assert_eq!(
            got,
            vec![(
                vec!["up".to_string(), "{job=\"a\"}".to_string()],
                10_000,
                1_435_781_451_781
            )]
        );
        let bad = Request::post("/api/v1/admin/tsdb/delete_series?match[]=up&start=soon")
            .body(Body::empty())
            .unwrap();
        let (code, body) = call(state(f.clone(), true, true), bad).await;
        assert_eq!(code, 400);
        assert!(body.contains(r#"invalid parameter \"start\""#), "{body}");
    }

    #[tokio::test]
    async fn clean_tombstones_requires_admin() {
        let f = Arc::new(Fake::default());
        let req = |m: &str| {
            Request::builder()
                .method(m)
                .uri("/api/v1/admin/tsdb/clean_tombstones")
                .body(Body::empty())
                .unwrap()
        };
        let (code, body) = call(state(f.clone(), true, false), req("POST")).await;
        assert_eq!(code, 503);
        assert!(body.contains("admin APIs disabled"), "{body}");
        assert_eq!(*f.cleaned.lock(), 0);
        for m in ["POST", "PUT"] {
            let (code, body) = call(state(f.clone(), true, true), req(m)).await;
            assert_eq!((code, body.as_str()), (204, ""));
        }
        assert_eq!(*f.cleaned.lock(), 2);
        let (code, _) = call(state(f.clone(), true, true), req("GET")).await;
        assert_eq!(code, 405);
    }

    #[test]
    fn parameters_must_be_utf8_after_percent_decoding() {
        let h = HeaderMap::new();
        let ok = super::request_params(
            Some("query=up%7Ba%3D%22%C3%A9%22%7D&x=%EF%BF%BD+1"),
            &h,
            &[],
        )
        .unwrap();
        assert_eq!(ok[0].1, "up{a=\"é\"}");
        assert_eq!(ok[1].1, "\u{FFFD} 1", "a spelled-out U+FFFD is fine");
        let err =
            super::request_params(Some("a=1&query=up%7Ba%3D%22%ff%22%7D"), &h, &[]).unwrap_err();
        assert_eq!(err.kind, ErrorType::BadData);
        assert_eq!(
            err.message,
            "invalid parameter \"query\": the value in the query string is not valid UTF-8 \
             (byte 0xff at offset 6 after percent-decoding)"
        );
        let mut form = HeaderMap::new();
        form.insert(
            header::CONTENT_TYPE,
            "application/x-www-form-urlencoded".parse().unwrap(),
        );
        let err = super::request_params(None, &form, b"match%ff[]=up").unwrap_err();
        assert!(
            err.message.contains("the name in the request body"),
            "{}",
            err.message
        );
    }

    #[tokio::test]
    async fn every_path_the_index_lists_is_routed() {
        let f = Arc::new(Fake::default());
        let (code, index) = call(state(f.clone(), true, true), get("/")).await;
        assert_eq!(code, 200);
        for (path, _) in super::INDEX {
            assert!(index.contains(path), "{path} missing from the index");
            let path = path.replace("<name>", "job");
            let resp = router(state(f.clone(), true, true))
                .oneshot(get(&path))
                .await
                .unwrap();
            assert_ne!(resp.status().as_u16(), 404, "{path} is not routed");
        }
    }

    #[tokio::test]
    async fn metrics_page_counts_requests() {
        let f = Arc::new(Fake::default());
        let st = state(f, true, false);
        call(st.clone(), get("/-/healthy")).await;
        let (code, body) = call(st, get("/metrics")).await;
        assert_eq!(code, 200);
        assert!(body.contains("promtui_http_requests_total{code=\"200\",handler=\"/-/healthy\"} 1"));
        assert!(body.contains("promtui_ready 1"));
    }
}
