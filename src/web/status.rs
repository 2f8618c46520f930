//! Lifecycle (`/-/healthy`, `/-/ready`, `/-/reload`), `/metrics`, `/api/v1/status/*`,
//! `/api/v1/targets` and the TSDB admin API (`/api/v1/admin/tsdb/delete_series`,
//! `/api/v1/admin/tsdb/clean_tombstones`, as upstream `web/api/v1/api.go`).

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
use super::metrics::{write_process_metrics, MetricsWriter};
use super::{ActiveTarget, DroppedTarget, TsdbStatus, WebState};
use crate::model::time::parse_time;

pub(super) fn routes() -> Router<Arc<WebState>> {
    Router::new()
        .route("/-/healthy", get(healthy))
        .route("/-/ready", get(ready))
        .route("/-/reload", post(reload).put(reload))
        .route("/metrics", get(metrics))
        .route("/api/v1/status/config", get(status_config))
        .route("/api/v1/status/flags", get(status_flags))
        .route("/api/v1/status/buildinfo", get(status_buildinfo))
        .route("/api/v1/status/tsdb", get(status_tsdb))
        .route("/api/v1/targets", get(targets))
        .route(
            "/api/v1/admin/tsdb/delete_series",
            post(delete_series).put(delete_series),
        )
        .route(
            "/api/v1/admin/tsdb/clean_tombstones",
            post(clean_tombstones).put(clean_tombstones),
        )
}

/// Decoded parameters from the query string and, for form posts, the body (both count,
/// as in Go's `r.Form`).
pub(crate) fn request_params(
    query: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = query
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default();
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if is_form {
        out.extend(form_urlencoded::parse(body).into_owned());
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
    let params = request_params(q.as_deref(), &headers, &[]);
    let limit = match param(&params, "limit") {
        None => 10,
        Some(v) => match v.parse::<usize>() {
            Ok(n) if n > 0 => n,
            _ => return Err(ApiError::bad_data("limit must be a positive number")),
        },
    };
    Ok(ApiOk::new(s.tsdb.tsdb_status(limit)?))
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
    let params = request_params(q.as_deref(), &headers, &[]);
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
    let params = request_params(q.as_deref(), &headers, &body);
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

    use super::super::metrics::HttpMetrics;
    use super::super::*;

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
        fn reload(&self) -> BoxFuture<Result<(), String>> {
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
