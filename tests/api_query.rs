//! End to end: the query API over real HTTP on 127.0.0.1, backed by a temp TSDB, checked
//! byte for byte against what Prometheus 2.42 answers on the same data (the expected
//! strings below were measured with Debian's /usr/bin/prometheus), plus two peer tests:
//! `promtool query ...` must work against promtui unchanged, and a differential run
//! compares promtui and a live Prometheus on the same samples (imported with
//! `promtool tsdb create-blocks-from openmetrics`). Peer tests skip with a reason when
//! the binaries are missing, and fail instead when PROMTUI_REQUIRE_PEERS=1.

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use promtui::exposition::MetricsWriter;
use promtui::model::Labels;
use promtui::promql::engine::EngineOptions;
use promtui::storage::{Appender, Queryable};
use promtui::tsdb::{Db, Options};
use promtui::web::api::ApiError;
use promtui::web::metrics::HttpMetrics;
use promtui::web::{
    router, ActiveTarget, BoxFuture, ConfigSource, DroppedTarget, MetricsSource, QueryBackend,
    TargetRetriever, TsdbAdmin, TsdbStatus, WebState,
};

/// The samples every test loads: (labels, [(t_ms, value)]). The OpenMetrics rendering of
/// the same data is [`OPENMETRICS`].
fn samples() -> Vec<(Labels, Vec<(i64, f64)>)> {
    vec![
        (
            Labels::from_pairs(&[("__name__", "m"), ("a", "x<&>"), ("b", "1")]),
            vec![(250, 1.0), (15_000, 1e-7), (30_000, 1.5e21)],
        ),
        (
            Labels::from_pairs(&[("__name__", "m"), ("a", "y"), ("b", "2")]),
            vec![(0, 1e6), (15_500, 0.000001)],
        ),
        (
            Labels::from_pairs(&[("__name__", "c_total"), ("job", "j")]),
            vec![(0, 1.0), (60_000, 5.0)],
        ),
    ]
}

const OPENMETRICS: &str = r#"# TYPE m gauge
m{a="x<&>",b="1"} 1 0.25
m{a="x<&>",b="1"} 1e-7 15
m{a="x<&>",b="1"} 1.5e21 30
m{a="y",b="2"} 1000000 0
m{a="y",b="2"} 0.000001 15.5
# TYPE c counter
c_total{job="j"} 1 0
c_total{job="j"} 5 60
# EOF
"#;

struct Backend {
    db: Db,
    opts: EngineOptions,
    external: Labels,
}

impl QueryBackend for Backend {
    fn queryable(&self) -> Arc<dyn Queryable> {
        Arc::new(self.db.clone())
    }
    fn engine_options(&self) -> EngineOptions {
        self.opts.clone()
    }
    fn external_labels(&self) -> Labels {
        self.external.clone()
    }
}

struct Nop;

impl TargetRetriever for Nop {
    fn active_targets(&self) -> Vec<ActiveTarget> {
        Vec::new()
    }
    fn dropped_targets(&self) -> Vec<DroppedTarget> {
        Vec::new()
    }
}

impl TsdbAdmin for Nop {
    fn tsdb_status(&self, _: usize) -> Result<TsdbStatus, ApiError> {
        Ok(TsdbStatus::default())
    }
    fn delete_series(&self, _: &[String], _: i64, _: i64) -> Result<(), ApiError> {
        Ok(())
    }
}

impl ConfigSource for Nop {
    fn config_yaml(&self) -> String {
        String::new()
    }
    fn reload(&self) -> BoxFuture<Result<(), promtui::web::ReloadError>> {
        Box::pin(async { Ok(()) })
    }
}

/// A promtui API server on a free loopback port, serving until dropped.
struct Server {
    addr: SocketAddr,
    _dir: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn start_server_with(data: Vec<(Labels, Vec<(i64, f64)>)>, opts: EngineOptions) -> Server {
    start_server_ext(data, opts, Labels::empty())
}

fn start_server_ext(
    data: Vec<(Labels, Vec<(i64, f64)>)>,
    opts: EngineOptions,
    external: Labels,
) -> Server {
    start_server_full(data, opts, external, vec![])
}

/// A server whose `/metrics` also carries the families `metrics_sources` write.
fn start_server_full(
    data: Vec<(Labels, Vec<(i64, f64)>)>,
    opts: EngineOptions,
    external: Labels,
    metrics_sources: Vec<Arc<dyn MetricsSource>>,
) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), Options::default()).unwrap();
    let mut app = db.appender();
    for (labels, points) in &data {
        for &(t, v) in points {
            app.append(labels, t, v).unwrap();
        }
    }
    app.commit().unwrap();
    let state = WebState {
        targets: Arc::new(Nop),
        tsdb: Arc::new(Nop),
        config: Arc::new(Nop),
        metrics_sources,
        query: Some(Arc::new(Backend { db, opts, external })),
        flags: Arc::new(BTreeMap::new()),
        ready: Arc::new(AtomicBool::new(true)),
        enable_lifecycle: false,
        enable_admin_api: false,
        http_metrics: Arc::new(HttpMetrics::default()),
        quit: Arc::new(tokio::sync::Notify::new()),
        rules: None,
    };
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let l = tokio::net::TcpListener::from_std(listener).unwrap();
            axum::serve(l, router(state))
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await
                .unwrap();
        });
    });
    Server {
        addr,
        _dir: dir,
        stop: Some(tx),
        thread: Some(thread),
    }
}

fn start_server() -> Server {
    start_server_with(samples(), EngineOptions::default())
}

/// GET `url`, returning status code and body.
fn get(url: &str) -> (u16, String) {
    match ureq::get(url).timeout(Duration::from_secs(30)).call() {
        Ok(r) => (r.status(), r.into_string().unwrap()),
        Err(ureq::Error::Status(code, r)) => (code, r.into_string().unwrap()),
        Err(e) => panic!("GET {url}: {e}"),
    }
}

/// GET `url`, which must answer 200 in the text exposition format; returns the body.
fn get_exposition(url: &str) -> String {
    let r = ureq::get(url).call().unwrap();
    assert_eq!(
        r.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    r.into_string().unwrap()
}

fn post_form(url: &str, form: &[(&str, &str)]) -> (u16, String) {
    match ureq::post(url).send_form(form) {
        Ok(r) => (r.status(), r.into_string().unwrap()),
        Err(ureq::Error::Status(code, r)) => (code, r.into_string().unwrap()),
        Err(e) => panic!("POST {url}: {e}"),
    }
}

/// (path and query, expected status, expected body exactly as Prometheus 2.42 sends it).
const EXACT: &[(&str, u16, &str)] = &[
    (
        "/api/v1/query?query=m&time=20",
        200,
        r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"__name__":"m","a":"x\u003c\u0026\u003e","b":"1"},"value":[20,"1e-07"]},{"metric":{"__name__":"m","a":"y","b":"2"},"value":[20,"0.000001"]}]}}"#,
    ),
    (
        "/api/v1/query?query=m&time=40",
        200,
        r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"__name__":"m","a":"x\u003c\u0026\u003e","b":"1"},"value":[40,"1.5e+21"]},{"metric":{"__name__":"m","a":"y","b":"2"},"value":[40,"0.000001"]}]}}"#,
    ),
    (
        "/api/v1/query?query=1e-7&time=1.5",
        200,
        r#"{"status":"success","data":{"resultType":"scalar","result":[1.5,"0.0000001"]}}"#,
    ),
    (
        "/api/v1/query?query=1.5e21&time=0.25",
        200,
        r#"{"status":"success","data":{"resultType":"scalar","result":[0.25,"1500000000000000000000"]}}"#,
    ),
    (
        "/api/v1/query?query=1e6&time=1700000000.123",
        200,
        r#"{"status":"success","data":{"resultType":"scalar","result":[1700000000.123,"1000000"]}}"#,
    ),
    (
        "/api/v1/query?query=%22a%3Cb%22&time=2",
        200,
        r#"{"status":"success","data":{"resultType":"string","result":[2,"a\u003cb"]}}"#,
    ),
    (
        "/api/v1/query?query=m%5B20s%5D&time=16",
        200,
        r#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"__name__":"m","a":"x\u003c\u0026\u003e","b":"1"},"values":[[0.250,"1"],[15,"1e-07"]]},{"metric":{"__name__":"m","a":"y","b":"2"},"values":[[0,"1000000"],[15.500,"0.000001"]]}]}}"#,
    ),
    (
        "/api/v1/query?query=-1e-7&time=-1.5",
        200,
        r#"{"status":"success","data":{"resultType":"scalar","result":[-1.5,"-0.0000001"]}}"#,
    ),
    (
        "/api/v1/query?query=1%2F0&time=1",
        200,
        r#"{"status":"success","data":{"resultType":"scalar","result":[1,"+Inf"]}}"#,
    ),
    (
        "/api/v1/query?query=0%2F0&time=1",
        200,
        r#"{"status":"success","data":{"resultType":"scalar","result":[1,"NaN"]}}"#,
    ),
    (
        "/api/v1/query?query=vector(1e21)&time=1",
        200,
        r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"1e+21"]}]}}"#,
    ),
    (
        "/api/v1/query?query=vector(-0.0)&time=1",
        200,
        r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"-0"]}]}}"#,
    ),
    (
        "/api/v1/query?query=vector(123456789012345678)&time=1",
        200,
        r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"123456789012345680"]}]}}"#,
    ),
    (
        "/api/v1/query?query=vector(9.99e-7)&time=1",
        200,
        r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"9.99e-07"]}]}}"#,
    ),
    (
        "/api/v1/query?query=m%3C1&time=2015-07-01T20:10:51.781Z",
        200,
        r#"{"status":"success","data":{"resultType":"vector","result":[]}}"#,
    ),
    (
        "/api/v1/query_range?query=m&start=0&end=1&step=1m",
        200,
        r#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"__name__":"m","a":"y","b":"2"},"values":[[0,"1000000"]]}]}}"#,
    ),
    (
        "/api/v1/query_range?query=1&start=0&end=1&step=1m",
        200,
        r#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[0,"1"]]}]}}"#,
    ),
    (
        "/api/v1/query_range?query=m&start=0&end=1&step=0.25",
        200,
        r#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"__name__":"m","a":"x\u003c\u0026\u003e","b":"1"},"values":[[0.250,"1"],[0.500,"1"],[0.750,"1"],[1,"1"]]},{"metric":{"__name__":"m","a":"y","b":"2"},"values":[[0,"1000000"],[0.250,"1000000"],[0.500,"1000000"],[0.750,"1000000"],[1,"1000000"]]}]}}"#,
    ),
    // Errors.
    (
        "/api/v1/query",
        400,
        r#"{"status":"error","errorType":"bad_data","error":"invalid parameter \"query\": 1:1: parse error: no expression found in input"}"#,
    ),
    (
        "/api/v1/query?query=m&time=abc",
        400,
        r#"{"status":"error","errorType":"bad_data","error":"invalid parameter \"time\": Invalid time value for 'time': cannot parse \"abc\" to a valid timestamp"}"#,
    ),
    (
        "/api/v1/query?query=sum(",
        400,
        r#"{"status":"error","errorType":"bad_data","error":"invalid parameter \"query\": 1:5: parse error: unclosed left parenthesis"}"#,
    ),
    (
        "/api/v1/query?query=m&timeout=x",
        400,
        r#"{"status":"error","errorType":"bad_data","error":"invalid parameter \"timeout\": cannot parse \"x\" to a valid duration"}"#,
    ),
    (
        "/api/v1/query_range?query=m&start=10&end=0&step=1",
        400,
        r#"{"status":"error","errorType":"bad_data","error":"invalid parameter \"end\": end timestamp must not be before start time"}"#,
    ),
    (
        "/api/v1/query_range?query=m&start=0&end=10&step=0",
        400,
        r#"{"status":"error","errorType":"bad_data","error":"invalid parameter \"step\": zero or negative query resolution step widths are not accepted. Try a positive integer"}"#,
    ),
    (
        "/api/v1/query_range?query=m&start=0&end=100000&step=1",
        400,
        r#"{"status":"error","errorType":"bad_data","error":"exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)"}"#,
    ),
    (
        "/api/v1/query_range?query=m&start=x&end=10&step=1",
        400,
        r#"{"status":"error","errorType":"bad_data","error":"invalid parameter \"start\": cannot parse \"x\" to a valid timestamp"}"#,
    ),
    (
        "/api/v1/query_range?query=m&start=0&end=x&step=1",
        400,
        r#"{"status":"error","errorType":"bad_data","error":"invalid parameter \"end\": cannot parse \"x\" to a valid timestamp"}"#,
    ),
    (
        "/api/v1/query_range?query=m&start=0&end=1&step=x",
        400,
        r#"{"status":"error","errorType":"bad_data","error":"invalid parameter \"step\": cannot parse \"x\" to a valid duration"}"#,
    ),
    (
        "/api/v1/query_range?query=m&end=1&step=1",
        400,
        r#"{"status":"error","errorType":"bad_data","error":"invalid parameter \"start\": cannot parse \"\" to a valid timestamp"}"#,
    ),
    (
        "/api/v1/query_range?query=m%5B1m%5D&start=0&end=1&step=1",
        400,
        r#"{"status":"error","errorType":"bad_data","error":"invalid expression type \"range vector\" for range query, must be Scalar or instant Vector"}"#,
    ),
    (
        "/api/v1/query_range?query=m&start=0&end=1&step=1s&timeout=0.5s",
        400,
        r#"{"status":"error","errorType":"bad_data","error":"invalid parameter \"timeout\": cannot parse \"0.5s\" to a valid duration"}"#,
    ),
    (
        "/api/v1/query?query=m%5B1m%5D%5B1m:%5D",
        400,
        r#"{"status":"error","errorType":"bad_data","error":"invalid parameter \"query\": 1:1: parse error: subquery is only allowed on instant vector, got matrix instead"}"#,
    ),
    // Series and labels.
    (
        "/api/v1/series",
        400,
        r#"{"status":"error","errorType":"bad_data","error":"no match[] parameter provided"}"#,
    ),
    (
        "/api/v1/series?match[]=m",
        200,
        r#"{"status":"success","data":[{"__name__":"m","a":"x\u003c\u0026\u003e","b":"1"},{"__name__":"m","a":"y","b":"2"}]}"#,
    ),
    (
        "/api/v1/series?match[]=m&start=100&end=200",
        200,
        r#"{"status":"success","data":[]}"#,
    ),
    (
        "/api/v1/series?match[]=m&match[]=c_total&start=0",
        200,
        r#"{"status":"success","data":[{"__name__":"c_total","job":"j"},{"__name__":"m","a":"x\u003c\u0026\u003e","b":"1"},{"__name__":"m","a":"y","b":"2"}]}"#,
    ),
    (
        "/api/v1/series?match[]=%7Ba%3D~%22.*%22%7D",
        400,
        r#"{"status":"error","errorType":"bad_data","error":"invalid parameter \"match[]\": match[] must contain at least one non-empty matcher"}"#,
    ),
    (
        "/api/v1/series?match[]=m%7B",
        400,
        r#"{"status":"error","errorType":"bad_data","error":"invalid parameter \"match[]\": 1:3: parse error: unexpected end of input inside braces"}"#,
    ),
    (
        "/api/v1/labels",
        200,
        r#"{"status":"success","data":["__name__","a","b","job"]}"#,
    ),
    (
        "/api/v1/labels?match[]=c_total",
        200,
        r#"{"status":"success","data":["__name__","job"]}"#,
    ),
    (
        "/api/v1/label/a/values",
        200,
        r#"{"status":"success","data":["x\u003c\u0026\u003e","y"]}"#,
    ),
    (
        "/api/v1/label/__name__/values?match[]=m",
        200,
        r#"{"status":"success","data":["m"]}"#,
    ),
    (
        "/api/v1/label/1bad/values",
        400,
        r#"{"status":"error","errorType":"bad_data","error":"invalid label name: \"1bad\""}"#,
    ),
    (
        "/api/v1/labels?start=x",
        400,
        r#"{"status":"error","errorType":"bad_data","error":"invalid parameter \"start\": Invalid time value for 'start': cannot parse \"x\" to a valid timestamp"}"#,
    ),
    ("/api/v1/metadata", 200, r#"{"status":"success","data":{}}"#),
    (
        "/api/v1/query_exemplars?query=m&start=0&end=100",
        200,
        r#"{"status":"success","data":[]}"#,
    ),
    (
        "/api/v1/query_exemplars?query=m(",
        400,
        r#"{"status":"error","errorType":"bad_data","error":"1:3: parse error: unclosed left parenthesis"}"#,
    ),
    (
        "/api/v1/metadata?limit=x",
        400,
        r#"{"status":"error","errorType":"bad_data","error":"limit must be a number"}"#,
    ),
    (
        "/api/v1/metadata?metric=m",
        200,
        r#"{"status":"success","data":{}}"#,
    ),
    (
        "/api/v1/format_query?query=sum(rate(x%5B5m%5D))by(a)",
        200,
        r#"{"status":"success","data":"sum by (a) (rate(x[5m]))"}"#,
    ),
];

#[test]
fn endpoints_answer_prometheus_bytes() {
    let srv = start_server();
    let base = format!("http://{}", srv.addr);
    let mut failures = Vec::new();
    for (path, code, body) in EXACT {
        let (c, b) = get(&format!("{base}{path}"));
        if c != *code || b != *body {
            failures.push(format!("{path}\n  want {code} {body}\n  got  {c} {b}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn post_form_equals_get() {
    let srv = start_server();
    let base = format!("http://{}", srv.addr);
    let (c, b) = post_form(
        &format!("{base}/api/v1/query"),
        &[("query", "m"), ("time", "20")],
    );
    assert_eq!((c, b.as_str()), (200, EXACT[0].2));
    let (c, b) = post_form(
        &format!("{base}/api/v1/query_range"),
        &[("query", "1"), ("start", "0"), ("end", "1"), ("step", "1m")],
    );
    assert_eq!((c, b.as_str()), (200, EXACT[16].2));
    let (c, b) = post_form(
        &format!("{base}/api/v1/series"),
        &[("match[]", "m"), ("match[]", "c_total"), ("start", "0")],
    );
    assert_eq!((c, b.as_str()), (200, EXACT[35].2));
    let (c, b) = post_form(&format!("{base}/api/v1/labels"), &[("match[]", "c_total")]);
    assert_eq!(
        (c, b.as_str()),
        (200, r#"{"status":"success","data":["__name__","job"]}"#)
    );
}

#[test]
fn limit_truncates_with_a_warning() {
    let srv = start_server();
    let base = format!("http://{}", srv.addr);
    let (c, b) = get(&format!("{base}/api/v1/labels?limit=2"));
    assert_eq!(c, 200);
    assert_eq!(
        b,
        r#"{"status":"success","data":["__name__","a"],"warnings":["results truncated due to limit"]}"#
    );
    let (c, b) = get(&format!("{base}/api/v1/query?query=m&time=20&limit=1"));
    assert_eq!(c, 200);
    assert!(
        b.ends_with(r#""value":[20,"1e-07"]}]},"warnings":["results truncated due to limit"]}"#),
        "{b}"
    );
    let (c, b) = get(&format!("{base}/api/v1/series?match[]=m&limit=-1"));
    assert_eq!(c, 400);
    assert_eq!(
        b,
        r#"{"status":"error","errorType":"bad_data","error":"invalid parameter \"limit\": limit must be non-negative"}"#
    );
}

#[test]
fn execution_errors_and_annotations() {
    let srv = start_server();
    let base = format!("http://{}", srv.addr);
    // Two series collapse to one label set: an execution error, HTTP 422.
    let (c, b) = get(&format!(
        "{base}/api/v1/query?query=label_replace(label_replace(m,%22a%22,%22z%22,%22%22,%22%22),%22b%22,%22z%22,%22%22,%22%22)&time=20"
    ));
    assert_eq!(c, 422, "{b}");
    assert!(
        b.starts_with(r#"{"status":"error","errorType":"execution","error":"#),
        "{b}"
    );
    // rate() over a gauge-named series without a counter suffix: an info annotation.
    let (c, b) = get(&format!(
        "{base}/api/v1/query?query=rate(m%5B1m%5D)&time=20"
    ));
    assert_eq!(c, 200);
    assert!(b.contains(r#""infos":["PromQL info: "#), "{b}");
}

#[test]
fn max_samples_and_timeout_are_enforced() {
    let srv = start_server_with(
        samples(),
        EngineOptions {
            max_samples: 1,
            ..EngineOptions::default()
        },
    );
    let (c, b) = get(&format!(
        "http://{}/api/v1/query?query=m%5B1m%5D&time=20",
        srv.addr
    ));
    assert_eq!(c, 422, "{b}");
    assert!(
        b.contains("query processing would load too many samples into memory"),
        "{b}"
    );
    // A large range query over many series with a 1 ms timeout.
    let many: Vec<(Labels, Vec<(i64, f64)>)> = (0..2000)
        .map(|i| {
            let name = format!("s{i}");
            (
                Labels::from_pairs(&[("__name__", "big"), ("i", name.as_str())]),
                (0..100).map(|k| (k * 15_000, k as f64)).collect(),
            )
        })
        .collect();
    let srv = start_server_with(many, EngineOptions::default());
    let (c, b) = get(&format!(
        "http://{}/api/v1/query_range?query=sum(rate(big%5B5m%5D))&start=0&end=1500&step=1&timeout=0.001",
        srv.addr
    ));
    assert_eq!(c, 503, "{b}");
    assert!(
        b.starts_with(r#"{"status":"error","errorType":"timeout","error":"query timed out in "#),
        "{b}"
    );
}

#[test]
fn federate_returns_latest_samples_in_text_format() {
    let now = promtui::model::time::now_ms();
    let data = vec![
        (
            Labels::from_pairs(&[("__name__", "up"), ("job", "b")]),
            vec![(now - 20_000, 1.0), (now - 5_000, 0.0)],
        ),
        (
            Labels::from_pairs(&[("__name__", "up"), ("job", "a")]),
            vec![(now - 10_000, 1.0)],
        ),
        (
            Labels::from_pairs(&[("__name__", "old"), ("job", "a")]),
            vec![(now - 3_600_000, 1.0)],
        ),
        (
            Labels::from_pairs(&[("__name__", "another"), ("job", "a\"b")]),
            vec![(now - 1_000, 1e6)],
        ),
    ];
    let srv = start_server_with(data, EngineOptions::default());
    let base = format!("http://{}", srv.addr);
    let body = get_exposition(&format!(
        "{base}/federate?match[]=up&match[]=%7Bjob%3D~%22a.*%22%7D"
    ));
    assert_eq!(
        body,
        format!(
            "# TYPE another untyped\nanother{{job=\"a\\\"b\",instance=\"\"}} 1e+06 {}\n# TYPE up untyped\nup{{job=\"a\",instance=\"\"}} 1 {}\nup{{job=\"b\",instance=\"\"}} 0 {}\n",
            now - 1_000,
            now - 10_000,
            now - 5_000
        )
    );
    let (c, b) = get(&format!("{base}/federate?match[]=up%7B"));
    assert_eq!(c, 400);
    assert_eq!(
        b,
        "1:4: parse error: unexpected end of input inside braces\n"
    );
    let (c, b) = get(&format!("{base}/federate"));
    assert_eq!((c, b.as_str()), (200, ""));
}

#[test]
fn federate_quotes_utf8_names() {
    let now = promtui::model::time::now_ms();
    let data = vec![
        (
            Labels::from_pairs(&[("__name__", "my.metric"), ("a.b", "c\"d"), ("job", "j")]),
            vec![(now - 2_000, 1.5)],
        ),
        (
            Labels::from_pairs(&[("__name__", "up"), ("zone.name", "z")]),
            vec![(now - 1_000, 1.0)],
        ),
    ];
    let srv = start_server_ext(
        data,
        EngineOptions::default(),
        Labels::from_pairs(&[("site.id", "s1")]),
    );
    let body = get_exposition(&format!(
        "http://{}/federate?match[]=%7B__name__%3D~%22.%2B%22%7D",
        srv.addr
    ));
    assert_eq!(
        body,
        format!(
            "# TYPE \"my.metric\" untyped\n{{\"my.metric\",\"a.b\"=\"c\\\"d\",job=\"j\",instance=\"\",\"site.id\"=\"s1\"}} 1.5 {}\n# TYPE up untyped\nup{{\"zone.name\"=\"z\",instance=\"\",\"site.id\"=\"s1\"}} 1 {}\n",
            now - 2_000,
            now - 1_000
        )
    );
    // What promtui federates, its own scrape parser reads back with the names intact.
    let fams =
        promtui::exposition::parse_families(body.as_bytes(), promtui::exposition::Format::PromText)
            .unwrap();
    assert_eq!(fams[0].name, "my.metric");
    assert_eq!(fams[0].samples[0].labels.get("a.b"), Some("c\"d"));
}

/// A subsystem whose `/metrics` families have UTF-8 names.
struct DottedSource;

impl MetricsSource for DottedSource {
    fn write_metrics(&self, w: &mut MetricsWriter) {
        w.family("rules.eval.total", "counter", "Rule \\ evaluations.")
            .sample("rules.eval.total", &[("rule.group", "g\n1")], 3.0);
    }
}

#[test]
fn metrics_quotes_utf8_names() {
    let srv = start_server_full(
        vec![],
        EngineOptions::default(),
        Labels::empty(),
        vec![Arc::new(DottedSource)],
    );
    let body = get_exposition(&format!("http://{}/metrics", srv.addr));
    assert!(
        body.contains(
            "# HELP \"rules.eval.total\" Rule \\\\ evaluations.\n# TYPE \"rules.eval.total\" counter\n{\"rules.eval.total\",\"rule.group\"=\"g\\n1\"} 3\n"
        ),
        "{body}"
    );
    // Legacy names stay bare; the whole page parses as the text format.
    assert!(
        body.contains("# TYPE promtui_ready gauge\npromtui_ready 1\n"),
        "{body}"
    );
    let fams =
        promtui::exposition::parse_families(body.as_bytes(), promtui::exposition::Format::PromText)
            .unwrap();
    let dotted = fams.iter().find(|f| f.name == "rules.eval.total").unwrap();
    assert_eq!(dotted.help.as_deref(), Some("Rule \\ evaluations."));
    assert_eq!(dotted.samples[0].labels.get("rule.group"), Some("g\n1"));
}

#[test]
fn parse_query_returns_the_tree() {
    let srv = start_server();
    let (c, b) = get(&format!(
        "http://{}/api/v1/parse_query?query=up%20offset%205m",
        srv.addr
    ));
    assert_eq!(c, 200);
    assert_eq!(
        b,
        r#"{"status":"success","data":{"matchers":[{"name":"__name__","type":"=","value":"up"}],"name":"up","offset":300000,"startOrEnd":null,"timestamp":null,"type":"vectorSelector"}}"#
    );
}

// ---------------------------------------------------------------------------------------
// Peers.

const PROMTOOL: &str = "/usr/bin/promtool";
const PROMETHEUS: &str = "/usr/bin/prometheus";

fn require_peers() -> bool {
    std::env::var("PROMTUI_REQUIRE_PEERS").is_ok_and(|v| v == "1")
}

fn peer_available(bin: &str) -> bool {
    if Path::new(bin).exists() {
        return true;
    }
    assert!(
        !require_peers(),
        "{bin} is missing and PROMTUI_REQUIRE_PEERS=1"
    );
    eprintln!("skipping: {bin} is not installed");
    false
}

fn promtool(args: &[&str]) -> String {
    let out = Command::new(PROMTOOL).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "promtool {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn promtool_query_works_against_promtui() {
    if !peer_available(PROMTOOL) {
        return;
    }
    let srv = start_server();
    let url = format!("http://{}", srv.addr);
    assert_eq!(
        promtool(&["query", "instant", "--time=20", &url, "m"]),
        "m{a=\"x<&>\", b=\"1\"} => 0.0000001 @[20]\nm{a=\"y\", b=\"2\"} => 0.000001 @[20]\n"
    );
    assert_eq!(
        promtool(&["query", "instant", "--time=1.5", &url, "1e-7"]),
        "scalar: 0.0000001 @[1.5]\n"
    );
    assert_eq!(
        promtool(&[
            "query",
            "range",
            "--start=0",
            "--end=30",
            "--step=15s",
            &url,
            "c_total"
        ]),
        "c_total{job=\"j\"} =>\n1 @[0]\n1 @[15]\n1 @[30]\n"
    );
    assert_eq!(
        promtool(&[
            "query",
            "series",
            "--match=m",
            "--start=0",
            "--end=100",
            &url
        ]),
        "{__name__=\"m\", a=\"x<&>\", b=\"1\"}\n{__name__=\"m\", a=\"y\", b=\"2\"}\n"
    );
    assert_eq!(
        promtool(&["query", "labels", "--start=0", "--end=100", &url, "a"]),
        "x<&>\ny\n"
    );
}

/// A Prometheus process started on a backfilled data directory; killed on drop.
struct Prometheus {
    child: Child,
    url: String,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start_prometheus(dir: &Path, openmetrics: &str, config: &str) -> Prometheus {
    let om = dir.join("data.om");
    std::fs::write(&om, openmetrics).unwrap();
    let data = dir.join("data");
    let out = Command::new(PROMTOOL)
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(&om)
        .arg(&data)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cfg = dir.join("prometheus.yml");
    std::fs::write(&cfg, config).unwrap();
    let port = free_port();
    let child = Command::new(PROMETHEUS)
        .arg(format!("--config.file={}", cfg.display()))
        .arg(format!("--storage.tsdb.path={}", data.display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let p = Prometheus {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(r) = ureq::get(&format!("{}/-/ready", p.url)).call() {
            if r.status() == 200 {
                break;
            }
        }
        assert!(Instant::now() < deadline, "prometheus did not become ready");
        std::thread::sleep(Duration::from_millis(100));
    }
    p
}

/// Instant (`time`) and range (`start`, `end`, `step`) queries compared byte for byte.
/// Prometheus 2.42 selects closed ranges `[t-r, t]` where promtui follows 3.x's left-open
/// `(t-r, t]`, so no window here starts exactly on a sample.
const DIFFERENTIAL: &[&str] = &[
    "query=m&time=20",
    "query=m&time=40",
    "query=m%5B1m%5D&time=31",
    "query=c_total&time=60",
    "query=rate(c_total%5B2m%5D)&time=60",
    "query=increase(c_total%5B2m%5D)&time=61",
    "query=sum(m)&time=20",
    "query=count%20by%20(b)%20(m)&time=20",
    "query=max_over_time(m%5B1m%5D)&time=31",
    "query=m%20*%202&time=16",
    "query=absent(nope)&time=5",
    "query=sort_desc(m)&time=16",
    "query=topk(1,m)&time=16",
    "query=label_replace(m,%22z%22,%22$1%22,%22a%22,%22(.*)%22)&time=16",
    "query=m%20offset%2010s&time=26",
    "query=time()&time=12.345",
    "query=timestamp(m)&time=20",
    "query=m%5B30s:5s%5D&time=32",
    "query=m&start=0&end=40&step=5",
    "query=c_total&start=0&end=120&step=7.5",
    "query=rate(c_total%5B2m%5D)&start=5&end=125&step=15s",
    "query=sum%20by%20(b)%20(m)&start=0&end=40&step=10",
    "query=m%20%2F%20on(b)%20group_left%20count%20by%20(b)%20(m)&start=0&end=20&step=10",
    "query=avg_over_time(m%5B20s%5D)&start=1&end=41&step=10",
    "query=scalar(c_total)&start=0&end=60&step=30",
];

#[test]
fn differential_against_prometheus() {
    if !peer_available(PROMETHEUS) || !peer_available(PROMTOOL) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let prom = start_prometheus(dir.path(), OPENMETRICS, "global: {}\n");
    let srv = start_server();
    let ours = format!("http://{}", srv.addr);
    let mut failures = Vec::new();
    for q in DIFFERENTIAL {
        let path = if q.contains("&start=") {
            "/api/v1/query_range?"
        } else {
            "/api/v1/query?"
        };
        let theirs = get(&format!("{}{path}{q}", prom.url));
        let mine = get(&format!("{ours}{path}{q}"));
        if theirs != mine {
            failures.push(format!(
                "{path}{q}\n  prometheus {} {}\n  promtui    {} {}",
                theirs.0, theirs.1, mine.0, mine.1
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} differ:\n{}",
        failures.len(),
        DIFFERENTIAL.len(),
        failures.join("\n")
    );
}

#[test]
fn federate_differential_against_prometheus() {
    if !peer_available(PROMETHEUS) || !peer_available(PROMTOOL) {
        return;
    }
    // Whole seconds, so the OpenMetrics text and the appended samples agree exactly.
    let now = promtui::model::time::now_ms() / 1000 * 1000;
    let data = vec![
        (
            Labels::from_pairs(&[("__name__", "up"), ("instance", "x:1"), ("job", "b")]),
            vec![(now - 60_000, 1.0), (now - 29_500, 0.0)],
        ),
        (
            Labels::from_pairs(&[("__name__", "up"), ("instance", "y:1"), ("job", "a")]),
            vec![(now - 40_000, 1.0)],
        ),
        (
            Labels::from_pairs(&[("__name__", "zeta"), ("job", "a")]),
            vec![(now - 20_000, 1e-7)],
        ),
        (
            Labels::from_pairs(&[("__name__", "another_total"), ("job", "a\"b")]),
            vec![(now - 10_000, 1e6)],
        ),
        (
            Labels::from_pairs(&[("Zed", "1"), ("__name__", "another_total"), ("job", "a")]),
            vec![(now - 10_000, 12_345_678.0)],
        ),
        (
            Labels::from_pairs(&[("__name__", "old"), ("job", "a")]),
            vec![(now - 3_600_000, 1.0)],
        ),
    ];
    let s = |ms: i64| format!("{}", ms as f64 / 1000.0);
    let om = format!(
        "# TYPE up gauge\nup{{job=\"b\",instance=\"x:1\"}} 1 {}\nup{{job=\"b\",instance=\"x:1\"}} 0 {}\nup{{job=\"a\",instance=\"y:1\"}} 1 {}\n# TYPE zeta gauge\nzeta{{job=\"a\"}} 1e-7 {}\n# TYPE another counter\nanother_total{{job=\"a\\\"b\"}} 1e6 {}\nanother_total{{Zed=\"1\",job=\"a\"}} 12345678 {}\n# TYPE old gauge\nold{{job=\"a\"}} 1 {}\n# EOF\n",
        s(now - 60_000),
        s(now - 29_500),
        s(now - 40_000),
        s(now - 20_000),
        s(now - 10_000),
        s(now - 10_000),
        s(now - 3_600_000),
    );
    let dir = tempfile::tempdir().unwrap();
    let prom = start_prometheus(
        dir.path(),
        &om,
        "global:\n  external_labels: {zone: z1, job: extjob}\n",
    );
    let srv = start_server_ext(
        data,
        EngineOptions::default(),
        Labels::from_pairs(&[("zone", "z1"), ("job", "extjob")]),
    );
    let ours = format!("http://{}", srv.addr);
    let mut failures = Vec::new();
    for q in [
        "match[]=up&match[]=%7Bjob%3D~%22a.*%22%7D",
        "match[]=%7Bjob%3D~%22.*%22%7D",
        "match[]=old",
        "match[]=up%7Binstance%3D%22x:1%22%7D",
        "match[]=up%7B",
        "",
    ] {
        let theirs = get(&format!("{}/federate?{q}", prom.url));
        let mine = get(&format!("{ours}/federate?{q}"));
        if q.starts_with("match[]=up&") {
            // Guard against comparing two empty pages.
            assert!(
                theirs
                    .1
                    .contains("up{instance=\"x:1\",job=\"b\",zone=\"z1\"} 0 "),
                "{}",
                theirs.1
            );
        }
        if theirs != mine {
            failures.push(format!(
                "/federate?{q}\n  prometheus {} {:?}\n  promtui    {} {:?}",
                theirs.0, theirs.1, mine.0, mine.1
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A small scrape-like dataset: counters with a reset, a histogram, gauges and an info
/// metric; 3 instances, 15 s interval, 30 minutes from `T0`.
const T0: i64 = 1_700_000_000_000;

fn scrape_like() -> Vec<(Labels, Vec<(i64, f64)>)> {
    let mut out = Vec::new();
    let steps = 121;
    let ts = |k: i64| T0 + k * 15_000;
    for i in 0..3i64 {
        let inst = format!("10.0.0.{i}:9100");
        for (ci, code) in ["200", "500"].iter().enumerate() {
            let mut v = 0.0;
            let pts = (0..steps)
                .map(|k| {
                    // One series restarts halfway (a counter reset).
                    if i == 1 && ci == 0 && k == 60 {
                        v = 0.0;
                    }
                    v += (i * 3 + ci as i64 + 1) as f64 + (k % 7) as f64;
                    (ts(k), v)
                })
                .collect();
            out.push((
                Labels::from_pairs(&[
                    ("__name__", "http_requests_total"),
                    ("code", code),
                    ("instance", inst.as_str()),
                    ("job", "api"),
                ]),
                pts,
            ));
        }
        let pts = (0..steps)
            .map(|k| {
                (
                    ts(k),
                    ((k as f64 / 9.0).sin() * 2.0 + 3.0 + i as f64 * 0.25).round() / 4.0,
                )
            })
            .collect();
        out.push((
            Labels::from_pairs(&[("__name__", "node_load1"), ("instance", inst.as_str())]),
            pts,
        ));
        out.push((
            Labels::from_pairs(&[
                ("__name__", "build_info"),
                ("instance", inst.as_str()),
                ("version", "1.0"),
            ]),
            (0..steps).map(|k| (ts(k), 1.0)).collect(),
        ));
    }
    for (ji, job) in ["api", "web"].iter().enumerate() {
        let les = ["0.1", "0.5", "1", "+Inf"];
        let mut counts = [0.0f64; 4];
        let mut series: Vec<Vec<(i64, f64)>> = vec![Vec::new(); 4];
        for k in 0..steps {
            for (b, c) in counts.iter_mut().enumerate() {
                *c += ((b + 1) * (ji + 2)) as f64 + (k % 3) as f64 * b as f64;
                series[b].push((ts(k), *c));
            }
        }
        for (b, pts) in series.into_iter().enumerate() {
            out.push((
                Labels::from_pairs(&[
                    ("__name__", "http_request_duration_seconds_bucket"),
                    ("job", job),
                    ("le", les[b]),
                ]),
                pts,
            ));
        }
    }
    out
}

fn to_openmetrics(data: &[(Labels, Vec<(i64, f64)>)]) -> String {
    let mut by_name: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (l, pts) in data {
        let name = l.metric_name().unwrap_or_default().to_string();
        let labels: Vec<String> = l
            .iter()
            .filter(|x| x.name != "__name__")
            .map(|x| format!("{}=\"{}\"", x.name, x.value))
            .collect();
        for (t, v) in pts {
            by_name.entry(name.clone()).or_default().push(format!(
                "{name}{{{}}} {v} {}",
                labels.join(","),
                *t as f64 / 1000.0
            ));
        }
    }
    let mut s = String::new();
    for (name, lines) in by_name {
        s.push_str(&format!("# TYPE {name} unknown\n"));
        for l in lines {
            s.push_str(&l);
            s.push('\n');
        }
    }
    s.push_str("# EOF\n");
    s
}

fn values_close(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    use serde_json::Value as J;
    match (a, b) {
        (J::String(x), J::String(y)) => {
            if x == y {
                return true;
            }
            match (x.parse::<f64>(), y.parse::<f64>()) {
                (Ok(p), Ok(q)) => (p - q).abs() <= 1e-9 * p.abs().max(q.abs()),
                _ => false,
            }
        }
        (J::Array(x), J::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| values_close(p, q))
        }
        (J::Object(x), J::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| values_close(v, w)))
        }
        _ => a == b,
    }
}

/// Representative queries (as bench/query_compare.py); evaluation times are 7 s off the
/// sample grid so 2.42's closed and 3.x's left-open windows select the same samples.
const SCRAPE_QUERIES: &[&str] = &[
    "http_requests_total{code=\"200\"}",
    "rate(http_requests_total[5m])",
    "sum by (code) (rate(http_requests_total[5m]))",
    "topk(2, rate(http_requests_total[5m]))",
    "histogram_quantile(0.9, sum by (le, job) (rate(http_request_duration_seconds_bucket[5m])))",
    "sum by (instance) (rate(http_requests_total[5m])) * on (instance) group_left (version) build_info",
    "max_over_time(rate(http_requests_total{code=\"500\"}[5m] offset 7s)[10m:1m])",
    "avg_over_time(node_load1[10m])",
    "count by (job) (http_requests_total)",
    "label_replace(node_load1, \"host\", \"$1\", \"instance\", \"(.*):.*\")",
    "absent(nonexistent{job=\"x\"})",
    "sort_desc(node_load1)",
    "resets(http_requests_total[30m])",
    "increase(http_requests_total[10m])",
    "quantile_over_time(0.9, node_load1[10m])",
    "deriv(node_load1[5m])",
    "predict_linear(node_load1[10m], 600)",
    "irate(http_requests_total[1m])",
    "stddev by (job) (rate(http_requests_total[5m]))",
    "node_load1 > bool 0.9",
    "-node_load1 % 0.3",
    "clamp(node_load1, 0.8, 1.1) ^ 2",
];

#[test]
fn differential_scrape_like_queries_against_prometheus() {
    if !peer_available(PROMETHEUS) || !peer_available(PROMTOOL) {
        return;
    }
    let data = scrape_like();
    let dir = tempfile::tempdir().unwrap();
    let prom = start_prometheus(dir.path(), &to_openmetrics(&data), "global: {}\n");
    let srv = start_server_with(data, EngineOptions::default());
    let ours = format!("http://{}", srv.addr);
    let t = (T0 + 1_507_000) as f64 / 1000.0;
    let (start, end) = ((T0 + 607_000) as f64 / 1000.0, t);
    let mut failures = Vec::new();
    for q in SCRAPE_QUERIES {
        let enc: String = form_urlencoded::byte_serialize(q.as_bytes()).collect();
        for path in [
            format!("/api/v1/query?query={enc}&time={t}"),
            format!("/api/v1/query_range?query={enc}&start={start}&end={end}&step=15"),
        ] {
            let (c1, b1) = get(&format!("{}{path}", prom.url));
            let (c2, b2) = get(&format!("{ours}{path}"));
            let j1: serde_json::Value = serde_json::from_str(&b1).unwrap();
            let j2: serde_json::Value = serde_json::from_str(&b2).unwrap();
            // Result order of unsorted instant vectors is unspecified: compare as sets
            // except where the function defines the order.
            let ordered = q.starts_with("sort") || q.starts_with("topk");
            let norm = |mut j: serde_json::Value| {
                // Annotations are compared elsewhere: 2.42 has no infos and fewer warnings
                // than the 3.x semantics promtui follows.
                if let Some(o) = j.as_object_mut() {
                    o.remove("warnings");
                    o.remove("infos");
                }
                if !ordered {
                    if let Some(r) = j.pointer_mut("/data/result").and_then(|r| r.as_array_mut()) {
                        r.sort_by_key(|s| s["metric"].to_string());
                    }
                }
                j
            };
            assert!(
                !b1.contains(r#""result":[]"#) || q.starts_with("absent"),
                "empty Prometheus result for {path}: the comparison would be vacuous"
            );
            if c1 != c2 || !values_close(&norm(j1), &norm(j2)) {
                failures.push(format!(
                    "{path}\n  prometheus {c1} {b1}\n  promtui    {c2} {b2}"
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
