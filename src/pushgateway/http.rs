//! The Pushgateway's HTTP API (Pushgateway 1.5's routes, status codes and messages) and
//! its own metrics.
//!
//! - `PUT|POST|DELETE /metrics/job/<job>{/<label>/<value>}` (and `job@base64`): 200 for
//!   a push, 202 for a delete (upstream's codes), 400 with upstream's message for a bad
//!   URL or body, 413 for a body over `--pushgateway.max-body-bytes`, 500 when the
//!   database could not commit. Bodies: text format, or delimited protobuf when the
//!   `Content-Type` says so; `Content-Encoding: gzip` is unpacked.
//! - `GET /metrics`: every group's families merged by name (one HELP/TYPE each),
//!   `push_time_seconds`/`push_failure_time_seconds` per group, `pushgateway_*` and
//!   process metrics.
//! - `GET /api/v1/metrics`, `GET /api/v1/status` in upstream's JSON shape;
//!   `PUT /api/v1/admin/wipe` with `--web.enable-admin-api` (202); `/-/healthy`,
//!   `/-/ready`.

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use axum::Router;
use parking_lot::Mutex;
use serde_json::{json, Map, Value as Json};

use crate::exposition::MetricsWriter;
use crate::exposition::{Entry, TextParser};
use crate::model::value::format_go_float;
use crate::web::metrics::write_process_metrics;

use super::body::{self, Family};
use super::key::GroupingKey;
use super::store::{PushError, PushMode, Store};
use super::Options;

/// Shared state of the routes.
pub struct Gateway {
    pub store: Store,
    pub opts: Options,
    pub metrics: GatewayMetrics,
    start_ms: i64,
}

impl Gateway {
    pub fn new(store: Store, opts: Options) -> Self {
        Gateway {
            store,
            opts,
            metrics: GatewayMetrics::default(),
            start_ms: crate::model::time::now_ms(),
        }
    }
}

/// Counters behind the `pushgateway_*` metrics.
#[derive(Default)]
pub struct GatewayMetrics {
    /// (code, handler, method) → requests.
    requests: Mutex<BTreeMap<(u16, &'static str, String), u64>>,
    /// method → (seconds sum, count, bytes sum).
    pushes: Mutex<BTreeMap<String, (f64, u64, f64)>>,
    expired: AtomicU64,
}

impl GatewayMetrics {
    fn request(&self, code: StatusCode, handler: &'static str, method: &Method) {
        *self
            .requests
            .lock()
            .entry((code.as_u16(), handler, method.as_str().to_lowercase()))
            .or_default() += 1;
    }

    fn push(&self, method: &Method, took: f64, bytes: usize) {
        let mut p = self.pushes.lock();
        let e = p.entry(method.as_str().to_lowercase()).or_default();
        e.0 += took;
        e.1 += 1;
        e.2 += bytes as f64;
    }

    /// Counts groups deleted by `--pushgateway.group-ttl`.
    pub fn add_expired(&self, n: u64) {
        self.expired.fetch_add(n, Ordering::Relaxed);
    }
}

/// The routes.
pub fn router(gw: Arc<Gateway>) -> Router {
    let mut r = Router::new()
        .route(
            "/metrics/{*rest}",
            put(push_put).post(push_post).delete(push_delete),
        )
        .route("/metrics", get(metrics))
        .route("/api/v1/metrics", get(api_metrics))
        .route("/api/v1/status", get(api_status))
        .route("/-/healthy", get(|| async { "OK" }))
        .route("/-/ready", get(|| async { "OK" }));
    if gw.opts.enable_admin_api {
        r = r.route("/api/v1/admin/wipe", put(wipe));
    }
    // Bodies are read (and limited) by the push handler itself.
    r.layer(axum::extract::DefaultBodyLimit::disable())
        .with_state(gw)
}

fn text(code: StatusCode, msg: impl Into<String>) -> Response {
    (
        code,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        msg.into(),
    )
        .into_response()
}

async fn push_put(
    State(gw): State<Arc<Gateway>>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    push(gw, PushMode::Replace, Method::PUT, uri, headers, body).await
}

async fn push_post(
    State(gw): State<Arc<Gateway>>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    push(gw, PushMode::Merge, Method::POST, uri, headers, body).await
}

async fn push_delete(State(gw): State<Arc<Gateway>>, uri: Uri) -> Response {
    let resp = match grouping_key(&uri) {
        Err(r) => *r,
        Ok(key) => match gw.store.delete(&key).await {
            Ok(()) => StatusCode::ACCEPTED.into_response(),
            Err(e) => text(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        },
    };
    gw.metrics.request(resp.status(), "delete", &Method::DELETE);
    resp
}

fn grouping_key(uri: &Uri) -> Result<GroupingKey, Box<Response>> {
    let rest = uri.path().strip_prefix("/metrics/").unwrap_or_default();
    GroupingKey::from_path(rest).map_err(|e| Box::new(text(StatusCode::BAD_REQUEST, e.to_string())))
}

async fn push(
    gw: Arc<Gateway>,
    mode: PushMode,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let started = Instant::now();
    let (resp, size) = push_inner(&gw, mode, &uri, &headers, body).await;
    gw.metrics.request(resp.status(), "push", &method);
    gw.metrics
        .push(&method, started.elapsed().as_secs_f64(), size);
    resp
}

async fn push_inner(
    gw: &Gateway,
    mode: PushMode,
    uri: &Uri,
    headers: &HeaderMap,
    body: Body,
) -> (Response, usize) {
    let key = match grouping_key(uri) {
        Ok(k) => k,
        Err(r) => return (*r, 0),
    };
    let max = gw.opts.max_body_bytes;
    let too_large = || {
        text(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("push body exceeds --pushgateway.max-body-bytes ({max} bytes)"),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > max) {
        return (too_large(), 0);
    }
    let raw = match axum::body::to_bytes(body, max).await {
        Ok(b) => b,
        Err(e) => {
            let msg = e.to_string();
            return if msg.contains("length limit") {
                (too_large(), 0)
            } else {
                (
                    text(
                        StatusCode::BAD_REQUEST,
                        format!("reading the push body: {msg}"),
                    ),
                    0,
                )
            };
        }
    };
    let size = raw.len();
    let gzip = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("gzip"));
    let data: Vec<u8>;
    let bytes: &[u8] = if gzip {
        let mut out = Vec::new();
        let mut dec = flate2::read::GzDecoder::new(&raw[..]).take(max as u64 + 1);
        if let Err(e) = dec.read_to_end(&mut out) {
            return (
                text(
                    StatusCode::BAD_REQUEST,
                    format!("decompressing the gzip push body: {e}"),
                ),
                size,
            );
        }
        if out.len() > max {
            return (too_large(), size);
        }
        data = out;
        &data
    } else {
        &raw
    };
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let parsed: Result<Vec<Family>, body::BodyError> = if is_delimited_protobuf(ct) {
        super::proto::decode_delimited(bytes)
            .map_err(body::BodyError::from)
            .and_then(body::from_proto)
    } else {
        body::parse_text(bytes)
    };
    let now = crate::model::time::now_ms();
    let resp = match gw.store.push(key, mode, parsed, now).await {
        Ok(()) => StatusCode::OK.into_response(),
        Err(PushError::Persist(e)) => {
            tracing::error!("Pushgateway push not persisted: {e}");
            text(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
        }
        Err(PushError::Body(e)) if !e.is_consistency() => {
            tracing::debug!("refused push: {e}");
            text(StatusCode::BAD_REQUEST, e.to_string())
        }
        Err(e) => {
            tracing::debug!("refused push: {e}");
            text(
                StatusCode::BAD_REQUEST,
                format!("pushed metrics are invalid or inconsistent with existing metrics: {e}"),
            )
        }
    };
    (resp, size)
}

/// `application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily;
/// encoding=delimited` (parameters in any order, values possibly quoted).
fn is_delimited_protobuf(ct: &str) -> bool {
    let mut parts = ct.split(';');
    let ty = parts.next().unwrap_or("").trim();
    if !ty.eq_ignore_ascii_case("application/vnd.google.protobuf") {
        return false;
    }
    let (mut proto, mut delimited) = (false, false);
    for p in parts {
        if let Some((k, v)) = p.split_once('=') {
            let v = v.trim().trim_matches('"');
            match k.trim().to_ascii_lowercase().as_str() {
                "proto" => proto = v == "io.prometheus.client.MetricFamily",
                "encoding" => delimited = v == "delimited",
                _ => {}
            }
        }
    }
    proto && delimited
}

async fn wipe(State(gw): State<Arc<Gateway>>) -> Response {
    let resp = match gw.store.wipe().await {
        Ok(n) => {
            tracing::info!(groups = n, "Pushgateway wiped (PUT /api/v1/admin/wipe)");
            StatusCode::ACCEPTED.into_response()
        }
        Err(e) => text(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    };
    gw.metrics.request(resp.status(), "wipe", &Method::PUT);
    resp
}

const PUSH_TIME_HELP: &str =
    "Last Unix time when changing this group in the Pushgateway succeeded.";
const PUSH_FAILURE_HELP: &str =
    "Last Unix time when changing this group in the Pushgateway failed.";

async fn metrics(State(gw): State<Arc<Gateway>>) -> Response {
    let body = tokio::task::spawn_blocking(move || render_metrics(&gw))
        .await
        .unwrap_or_default();
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
        .into_response()
}

/// The gateway's `/metrics` body.
fn render_metrics(gw: &Gateway) -> String {
    let snapshot = gw.store.snapshot();
    // Family name → (type, first help, the groups' texts in grouping-key order).
    let mut by_name: HashMap<&str, (body::Kind, Option<&str>, Vec<&str>)> = HashMap::new();
    let mut size = 0;
    for g in &snapshot {
        for (name, f) in &g.families {
            size += f.text.len();
            let e = by_name
                .entry(name.as_str())
                .or_insert_with(|| (f.kind, None, Vec::new()));
            if e.1.is_none() {
                e.1 = f.help.as_deref();
            }
            e.2.push(&f.text);
        }
    }
    let mut names: Vec<&str> = by_name.keys().copied().collect();
    names.sort_unstable();
    let mut w = MetricsWriter::with_capacity(size + snapshot.len() * 200 + 8192);
    for name in names {
        let (kind, help, texts) = &by_name[name];
        if let Some(h) = help {
            w.help(name, h);
        }
        w.type_line(name, kind.text_name());
        for t in texts {
            w.sample_lines(t);
        }
    }
    let secs = |ms: i64| ms as f64 / 1000.0;
    for (name, help, pick) in [
        (
            "push_failure_time_seconds",
            PUSH_FAILURE_HELP,
            (|g: &super::store::Group| g.failure_ms) as fn(&super::store::Group) -> i64,
        ),
        ("push_time_seconds", PUSH_TIME_HELP, |g| g.push_ms),
    ] {
        w.family(name, "gauge", help);
        for g in &snapshot {
            let labels = g.key.series_labels();
            let pairs = labels.iter().map(|(n, v)| (n.as_str(), v.as_str()));
            w.sample_at(name, pairs, secs(pick(g)), None);
        }
    }
    w.family(
        "pushgateway_build_info",
        "gauge",
        "A metric with a constant '1' value labeled by version, revision, branch, goversion from which pushgateway was built, and the goos and goarch for the build.",
    )
    .sample(
        "pushgateway_build_info",
        &[
            ("branch", ""),
            ("goarch", std::env::consts::ARCH),
            ("goos", std::env::consts::OS),
            ("goversion", "promtui"),
            ("revision", ""),
            ("version", env!("CARGO_PKG_VERSION")),
        ],
        1.0,
    );
    w.family(
        "pushgateway_groups",
        "gauge",
        "Number of groups (grouping keys) held by the Pushgateway.",
    )
    .sample("pushgateway_groups", &[], snapshot.len() as f64);
    w.family(
        "pushgateway_groups_expired_total",
        "counter",
        "Groups deleted because they were not pushed for --pushgateway.group-ttl.",
    )
    .sample(
        "pushgateway_groups_expired_total",
        &[],
        gw.metrics.expired.load(Ordering::Relaxed) as f64,
    );
    {
        let pushes = gw.metrics.pushes.lock();
        if !pushes.is_empty() {
            w.family(
                "pushgateway_http_push_duration_seconds",
                "summary",
                "HTTP request duration for pushes to the Pushgateway.",
            );
            for (m, (secs, n, _)) in pushes.iter() {
                let l = [("method", m.as_str())];
                w.sample("pushgateway_http_push_duration_seconds_sum", &l, *secs)
                    .sample(
                        "pushgateway_http_push_duration_seconds_count",
                        &l,
                        *n as f64,
                    );
            }
            w.family(
                "pushgateway_http_push_size_bytes",
                "summary",
                "HTTP request size for pushes to the Pushgateway.",
            );
            for (m, (_, n, bytes)) in pushes.iter() {
                let l = [("method", m.as_str())];
                w.sample("pushgateway_http_push_size_bytes_sum", &l, *bytes)
                    .sample("pushgateway_http_push_size_bytes_count", &l, *n as f64);
            }
        }
    }
    {
        let reqs = gw.metrics.requests.lock();
        if !reqs.is_empty() {
            w.family(
                "pushgateway_http_requests_total",
                "counter",
                "Total HTTP requests processed by the Pushgateway, excluding scrapes.",
            );
            for ((code, handler, method), n) in reqs.iter() {
                let code = code.to_string();
                w.sample(
                    "pushgateway_http_requests_total",
                    &[("code", &code), ("handler", handler), ("method", method)],
                    *n as f64,
                );
            }
        }
    }
    write_process_metrics(&mut w);
    w.finish()
}

fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
        .unwrap_or_default()
}

fn label_map(labels: &[(String, String)]) -> Json {
    Json::Object(
        labels
            .iter()
            .map(|(n, v)| (n.clone(), Json::String(v.clone())))
            .collect(),
    )
}

/// One family's metrics in `/api/v1/metrics` form, from its rendered text.
fn family_json(kind: body::Kind, text: &str) -> Vec<Json> {
    // (label set without quantile/le, its JSON object), in order of appearance.
    type Metric = (Vec<(String, String)>, Map<String, Json>);
    let mut out: Vec<Metric> = Vec::new();
    for entry in TextParser::new(text.as_bytes()).flatten() {
        let Entry::Sample(s) = entry else { continue };
        let mut labels: Vec<(String, String)> = s
            .labels
            .iter()
            .map(|(n, v)| (n.into_owned(), v.into_owned()))
            .collect();
        let special = |labels: &mut Vec<(String, String)>, name: &str| {
            labels
                .iter()
                .position(|(n, _)| n == name)
                .map(|i| labels.remove(i).1)
        };
        let (field, sub) = match kind {
            body::Kind::Summary if s.name.ends_with("_sum") => ("sum", None),
            body::Kind::Summary if s.name.ends_with("_count") => ("count", None),
            body::Kind::Summary => ("quantiles", special(&mut labels, "quantile")),
            body::Kind::Histogram if s.name.ends_with("_bucket") => {
                ("buckets", special(&mut labels, "le"))
            }
            body::Kind::Histogram if s.name.ends_with("_sum") => ("sum", None),
            body::Kind::Histogram => ("count", None),
            _ => ("value", None),
        };
        let v = Json::String(format_go_float(s.value));
        let idx = match out.iter().position(|(l, _)| *l == labels) {
            Some(i) if field != "value" => i,
            _ => {
                let mut m = Map::new();
                m.insert("labels".into(), label_map(&labels));
                out.push((labels, m));
                out.len() - 1
            }
        };
        let obj = &mut out[idx].1;
        match sub {
            Some(bound) => {
                let e = obj.entry(field).or_insert_with(|| Json::Object(Map::new()));
                if let Json::Object(m) = e {
                    m.insert(bound, v);
                }
            }
            None => {
                obj.insert(field.into(), v);
            }
        }
    }
    out.into_iter().map(|(_, m)| Json::Object(m)).collect()
}

async fn api_metrics(State(gw): State<Arc<Gateway>>) -> Response {
    let snapshot = gw.store.snapshot();
    let mut data = Vec::with_capacity(snapshot.len());
    for g in &snapshot {
        let mut obj = Map::new();
        obj.insert("labels".into(), label_map(g.key.labels()));
        obj.insert(
            "last_push_successful".into(),
            Json::Bool(g.failure_ms <= g.push_ms),
        );
        let series = label_map(&g.key.series_labels());
        let changed = rfc3339(g.last_change_ms());
        for (name, help, ms) in [
            ("push_time_seconds", PUSH_TIME_HELP, g.push_ms),
            ("push_failure_time_seconds", PUSH_FAILURE_HELP, g.failure_ms),
        ] {
            obj.insert(
                name.into(),
                json!({
                    "time_stamp": changed,
                    "type": "GAUGE",
                    "help": help,
                    "metrics": [{"labels": series, "value": format_go_float(ms as f64 / 1000.0)}],
                }),
            );
        }
        for (name, f) in &g.families {
            let mut fam = Map::new();
            fam.insert("time_stamp".into(), Json::String(rfc3339(f.pushed_ms)));
            fam.insert("type".into(), Json::String(f.kind.json_name().into()));
            if let Some(h) = &f.help {
                fam.insert("help".into(), Json::String(h.to_string()));
            }
            fam.insert("metrics".into(), Json::Array(family_json(f.kind, &f.text)));
            obj.insert(name.clone(), Json::Object(fam));
        }
        data.push(Json::Object(obj));
    }
    gw.metrics
        .request(StatusCode::OK, "api/v1/metrics", &Method::GET);
    axum::Json(json!({"status": "success", "data": data})).into_response()
}

async fn api_status(State(gw): State<Arc<Gateway>>) -> Response {
    let data = json!({
        "build_information": {
            "branch": "",
            "buildDate": "",
            "buildUser": "",
            "goVersion": "",
            "revision": "",
            "version": env!("CARGO_PKG_VERSION"),
        },
        "flags": gw.opts.flags,
        "start_time": rfc3339(gw.start_ms),
    });
    gw.metrics
        .request(StatusCode::OK, "api/v1/status", &Method::GET);
    axum::Json(json!({"status": "success", "data": data})).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower::ServiceExt;

    fn gateway(admin: bool) -> (tempfile::TempDir, Router, Arc<Gateway>) {
        let dir = tempfile::tempdir().unwrap();
        let opts = Options {
            listen_address: "127.0.0.1:0".into(),
            max_body_bytes: 1000,
            group_ttl_ms: None,
            enable_admin_api: admin,
            db_path: dir.path().join("pg.sqlite"),
            flags: BTreeMap::new(),
        };
        let gw = Arc::new(Gateway::new(Store::open(&opts.db_path).unwrap(), opts));
        (dir, router(gw.clone()), gw)
    }

    async fn call(
        r: &Router,
        method: &str,
        uri: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> (u16, String) {
        let mut req = axum::http::Request::builder().method(method).uri(uri);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = r
            .clone()
            .oneshot(req.body(Body::from(body)).unwrap())
            .await
            .unwrap();
        let code = resp.status().as_u16();
        let b = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap();
        (code, String::from_utf8_lossy(&b).into_owned())
    }

    #[tokio::test]
    async fn push_scrape_delete_round_trip() {
        let (_d, r, _) = gateway(false);
        let (code, _) = call(
            &r,
            "PUT",
            "/metrics/job/j/instance/i",
            &[],
            b"# HELP x An x.\n# TYPE x counter\nx 1\n".to_vec(),
        )
        .await;
        assert_eq!(code, 200);
        let (code, _) = call(
            &r,
            "POST",
            "/metrics/job@base64/L3Zhcg==",
            &[],
            b"x 2\n".to_vec(),
        )
        .await;
        assert_eq!(code, 400, "untyped x conflicts with the counter");
        let (_, body) = call(&r, "GET", "/metrics", &[], vec![]).await;
        assert!(
            body.contains("# HELP x An x.\n# TYPE x counter\nx{instance=\"i\",job=\"j\"} 1\n"),
            "{body}"
        );
        assert!(
            body.contains("push_failure_time_seconds{instance=\"\",job=\"/var\"} 1"),
            "{body}"
        );
        assert!(
            body.contains("push_time_seconds{instance=\"\",job=\"/var\"} 0\n"),
            "{body}"
        );
        assert!(
            body.contains(
                "pushgateway_http_requests_total{code=\"400\",handler=\"push\",method=\"post\"} 1"
            ),
            "{body}"
        );
        let (code, _) = call(&r, "DELETE", "/metrics/job/j/instance/i", &[], vec![]).await;
        assert_eq!(code, 202);
        let (_, body) = call(&r, "GET", "/metrics", &[], vec![]).await;
        assert!(!body.contains("x{"), "{body}");
    }

    #[tokio::test]
    async fn metrics_page_escapes_pushed_help_through_the_shared_writer() {
        let (_d, r, _) = gateway(false);
        // The text format's HELP escapes: `\\` is a backslash, `\n` a newline.
        let body = b"# HELP h Back \\\\ slash and\\nnew line \"q\".\n# TYPE h gauge\nh 1\n";
        let (code, _) = call(&r, "PUT", "/metrics/job/j", &[], body.to_vec()).await;
        assert_eq!(code, 200);
        let (_, page) = call(&r, "GET", "/metrics", &[], vec![]).await;
        assert!(
            page.contains(
                "# HELP h Back \\\\ slash and\\nnew line \"q\".\n# TYPE h gauge\nh{instance=\"\",job=\"j\"} 1\n"
            ),
            "{page}"
        );
        // The page parses back, the help unescaped once.
        let fams =
            crate::exposition::parse_families(page.as_bytes(), crate::exposition::Format::PromText)
                .unwrap();
        let h = fams.iter().find(|f| f.name == "h").unwrap();
        assert_eq!(
            h.help.as_deref(),
            Some("Back \\ slash and\nnew line \"q\".")
        );
    }

    #[tokio::test]
    async fn gzip_protobuf_limits_and_admin() {
        use std::io::Write;
        let (_d, r, _) = gateway(false);
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(b"g 5\n").unwrap();
        let gz = enc.finish().unwrap();
        let (code, _) = call(
            &r,
            "POST",
            "/metrics/job/gz",
            &[("content-encoding", "gzip")],
            gz,
        )
        .await;
        assert_eq!(code, 200);
        let pb = super::super::proto::encode_delimited(&[super::super::proto::MetricFamily {
            name: Some("p".into()),
            r#type: Some(super::super::proto::MetricType::Gauge as i32),
            metric: vec![super::super::proto::Metric {
                gauge: Some(super::super::proto::Gauge { value: Some(7.0) }),
                ..Default::default()
            }],
            ..Default::default()
        }]);
        let ct = "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited";
        let (code, _) = call(&r, "POST", "/metrics/job/pb", &[("content-type", ct)], pb).await;
        assert_eq!(code, 200);
        let (_, body) = call(&r, "GET", "/metrics", &[], vec![]).await;
        assert!(body.contains("g{instance=\"\",job=\"gz\"} 5\n"), "{body}");
        assert!(
            body.contains("# TYPE p gauge\np{instance=\"\",job=\"pb\"} 7\n"),
            "{body}"
        );
        let (code, msg) = call(&r, "POST", "/metrics/job/big", &[], vec![b'#'; 2000]).await;
        assert_eq!(code, 413, "{msg}");
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(&[b'#'; 5000]).unwrap();
        let (code, _) = call(
            &r,
            "POST",
            "/metrics/job/big",
            &[("content-encoding", "gzip")],
            enc.finish().unwrap(),
        )
        .await;
        assert_eq!(code, 413);
        let (code, msg) = call(&r, "POST", "/metrics/job/j/odd", &[], b"x 1\n".to_vec()).await;
        assert_eq!(
            (code, msg.as_str()),
            (400, "odd number of components in label string \"/odd\"")
        );
        let (code, _) = call(&r, "PUT", "/api/v1/admin/wipe", &[], vec![]).await;
        assert_eq!(code, 404, "wipe needs --web.enable-admin-api");
        let (_d2, r2, gw2) = gateway(true);
        call(&r2, "POST", "/metrics/job/a", &[], b"x 1\n".to_vec()).await;
        let (code, _) = call(&r2, "PUT", "/api/v1/admin/wipe", &[], vec![]).await;
        assert_eq!(code, 202);
        assert!(gw2.store.is_empty());
    }

    #[tokio::test]
    async fn api_metrics_shape() {
        let (_d, r, _) = gateway(false);
        let body = b"# TYPE s summary\ns{quantile=\"0.5\"} 1\ns_sum 2\ns_count 3\n# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 3\nh_count 2\ng{a=\"b\"} 4\n";
        assert_eq!(
            call(&r, "PUT", "/metrics/job/t", &[], body.to_vec())
                .await
                .0,
            200
        );
        let (_, j) = call(&r, "GET", "/api/v1/metrics", &[], vec![]).await;
        let j: Json = serde_json::from_str(&j).unwrap();
        let g = &j["data"][0];
        assert_eq!(g["labels"], json!({"job": "t"}));
        assert_eq!(g["last_push_successful"], json!(true));
        assert_eq!(g["s"]["type"], json!("SUMMARY"));
        assert_eq!(
            g["s"]["metrics"][0],
            json!({"labels": {"instance": "", "job": "t"}, "quantiles": {"0.5": "1"}, "sum": "2", "count": "3"})
        );
        assert_eq!(
            g["h"]["metrics"][0]["buckets"],
            json!({"1": "1", "+Inf": "2"})
        );
        assert_eq!(
            g["g"]["metrics"][0],
            json!({"labels": {"a": "b", "instance": "", "job": "t"}, "value": "4"})
        );
        assert_eq!(g["push_time_seconds"]["type"], json!("GAUGE"));
    }

    #[test]
    fn protobuf_content_type_detection() {
        assert!(is_delimited_protobuf("application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited"));
        assert!(is_delimited_protobuf("application/vnd.google.protobuf;encoding=delimited;proto=\"io.prometheus.client.MetricFamily\""));
        assert!(!is_delimited_protobuf("application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=text"));
        assert!(!is_delimited_protobuf("text/plain; version=0.0.4"));
    }
}
