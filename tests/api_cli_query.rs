//! `promtui query` and `promtui query-range` through the binary: against the local TSDB,
//! against a running server with `--server` (same JSON bytes as the API's `data`), and the
//! advice to use `--server` when a server holds the data directory's lock.

use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use promtui::model::Labels;
use promtui::promql::engine::EngineOptions;
use promtui::storage::{Appender, Queryable};
use promtui::tsdb::{Db, Options};

const BIN: &str = env!("CARGO_BIN_EXE_promtui");

/// Held by every test here for its whole run. A child spawned by one test gets copies of
/// all the process' descriptors until it execs, including another test's open TSDB lock
/// file, so for that moment the flock outlives the other test's `drop(db)` and its next
/// `promtui query` finds the directory locked (seen once under load). Running the tests
/// one at a time closes that window; they take well under a second together.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn load(dir: &Path) -> Db {
    let db = Db::open(dir, Options::default()).unwrap();
    let mut app = db.appender();
    let up = Labels::from_pairs(&[("__name__", "up"), ("job", "a<b")]);
    let other = Labels::from_pairs(&[("__name__", "up"), ("job", "z")]);
    for i in 0..5 {
        app.append(&up, i * 15_000, 1.0).unwrap();
        app.append(&other, i * 15_000, i as f64 * 0.5).unwrap();
    }
    app.commit().unwrap();
    db
}

/// Every file under `dir` with its length, sorted.
fn tree(dir: &Path) -> Vec<(String, u64)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let md = e.metadata().unwrap();
            if md.is_dir() {
                stack.push(e.path());
            } else {
                out.push((e.path().display().to_string(), md.len()));
            }
        }
    }
    out.sort();
    out
}

fn promtui(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(BIN).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

const INSTANT_JSON: &str = r#"{"resultType":"vector","result":[{"metric":{"__name__":"up","job":"a\u003cb"},"value":[60,"1"]},{"metric":{"__name__":"up","job":"z"},"value":[60,"2"]}]}"#;
const RANGE_JSON: &str = r#"{"resultType":"matrix","result":[{"metric":{"job":"a\u003cb"},"values":[[0,"1"],[30,"1"],[60,"1"]]},{"metric":{"job":"z"},"values":[[0,"0"],[30,"1"],[60,"2"]]}]}"#;

#[test]
fn local_queries_print_json_and_tables() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    drop(load(dir.path()));
    let p = dir.path().to_str().unwrap();
    let (code, out, err) = promtui(&[
        "--storage.tsdb.path",
        p,
        "query",
        "up",
        "--time",
        "60",
        "-o",
        "json",
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, format!("{INSTANT_JSON}\n"));
    let (code, out, _) = promtui(&["--storage.tsdb.path", p, "query", "up", "--time", "60"]);
    assert_eq!(code, 0);
    assert_eq!(
        out,
        "SERIES         VALUE  TIMESTAMP\nup{job=\"a<b\"}      1  1970-01-01T00:01:00.000Z\nup{job=\"z\"}        2  1970-01-01T00:01:00.000Z\n"
    );
    let (code, out, err) = promtui(&[
        "--storage.tsdb.path",
        p,
        "query-range",
        "up + 0",
        "--start",
        "0",
        "--end",
        "60",
        "--step",
        "30s",
        "-o",
        "json",
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, format!("{RANGE_JSON}\n"));
    let (code, _, err) = promtui(&["--storage.tsdb.path", p, "query", "sum("]);
    assert_eq!(code, 1);
    assert_eq!(
        err,
        "error: bad_data: 1:5: parse error: unclosed left parenthesis\n"
    );
    let (code, _, err) = promtui(&[
        "--storage.tsdb.path",
        p,
        "query-range",
        "up",
        "--start",
        "10",
        "--end",
        "0",
    ]);
    assert_eq!(code, 1);
    assert!(
        err.contains("end timestamp must not be before start time"),
        "{err}"
    );
}

struct Backend(Db);

impl promtui::web::QueryBackend for Backend {
    fn queryable(&self) -> Arc<dyn Queryable> {
        Arc::new(self.0.clone())
    }
    fn engine_options(&self) -> EngineOptions {
        EngineOptions::default()
    }
}

struct Nop;

impl promtui::web::TargetRetriever for Nop {
    fn active_targets(&self) -> Vec<promtui::web::ActiveTarget> {
        Vec::new()
    }
    fn dropped_targets(&self) -> Vec<promtui::web::DroppedTarget> {
        Vec::new()
    }
}

impl promtui::web::TsdbAdmin for Nop {
    fn tsdb_status(
        &self,
        _: usize,
    ) -> Result<promtui::web::TsdbStatus, promtui::web::api::ApiError> {
        Ok(promtui::web::TsdbStatus::default())
    }
    fn delete_series(
        &self,
        _: &[String],
        _: i64,
        _: i64,
    ) -> Result<(), promtui::web::api::ApiError> {
        Ok(())
    }
}

impl promtui::web::ConfigSource for Nop {
    fn config_yaml(&self) -> String {
        String::new()
    }
    fn reload(&self) -> promtui::web::BoxFuture<Result<(), promtui::web::ReloadError>> {
        Box::pin(async { Ok(()) })
    }
}

#[test]
fn server_flag_queries_over_http_and_a_local_query_reads_beside_the_server() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let db = load(dir.path());
    let p = dir.path().to_str().unwrap().to_string();
    // The database is open (locked) here, as under a running server: a local query opens
    // it read-only and answers from what is on disk, touching nothing.
    let before = tree(dir.path());
    let (code, out, err) = promtui(&[
        "--storage.tsdb.path",
        &p,
        "query",
        "up",
        "--time",
        "60",
        "-o",
        "json",
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.trim(), INSTANT_JSON);
    assert_eq!(
        tree(dir.path()),
        before,
        "a read-only query changes nothing"
    );

    let state = promtui::web::WebState {
        targets: Arc::new(Nop),
        tsdb: Arc::new(Nop),
        config: Arc::new(Nop),
        metrics_sources: vec![],
        query: Some(Arc::new(Backend(db))),
        flags: Arc::new(Default::default()),
        ready: Arc::new(AtomicBool::new(true)),
        enable_lifecycle: false,
        enable_admin_api: false,
        http_metrics: Arc::new(Default::default()),
        quit: Arc::new(tokio::sync::Notify::new()),
        rules: None,
    };
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = rt.spawn(async move {
        let l = tokio::net::TcpListener::from_std(listener).unwrap();
        axum::serve(l, promtui::web::router(state))
            .with_graceful_shutdown(async {
                let _ = rx.await;
            })
            .await
    });
    let (code, out, err) = promtui(&[
        "query", "up", "--time", "60", "-o", "json", "--server", &url,
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, format!("{INSTANT_JSON}\n"));
    let (code, out, err) = promtui(&[
        "query-range",
        "up + 0",
        "--start",
        "0",
        "--end",
        "60",
        "--step",
        "30",
        "-o",
        "json",
        "--server",
        &url,
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, format!("{RANGE_JSON}\n"));
    let (code, _, err) = promtui(&["query", "sum(", "--server", &url]);
    assert_eq!(code, 1);
    assert_eq!(
        err,
        "error: bad_data: invalid parameter \"query\": 1:5: parse error: unclosed left parenthesis\n"
    );
    let _ = tx.send(());
    let _ = rt.block_on(server);
}

/// Kills the `promtui serve` child on drop.
struct ServeChild(std::process::Child);

impl Drop for ServeChild {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn http_get(url: &str) -> (u16, String) {
    match ureq::get(url).call() {
        Ok(r) => (r.status(), r.into_string().unwrap()),
        Err(ureq::Error::Status(c, r)) => (c, r.into_string().unwrap()),
        Err(e) => (0, e.to_string()),
    }
}

#[test]
fn serve_wires_the_query_api_and_query_flags() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    drop(load(&data));
    let cfg = dir.path().join("prometheus.yml");
    std::fs::write(&cfg, "global:\n  external_labels: {zone: z1}\n").unwrap();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(BIN)
        .arg("serve")
        .arg(format!("--config.file={}", cfg.display()))
        .arg(format!("--storage.tsdb.path={}", data.display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--storage.tsdb.retention.time=0")
        .arg("--query.max-samples=1")
        .arg("--query.lookback-delta=1m")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let _guard = ServeChild(child);
    let base = format!("http://127.0.0.1:{port}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while http_get(&format!("{base}/-/ready")).0 != 200 {
        assert!(
            std::time::Instant::now() < deadline,
            "promtui serve not ready"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let (code, out, err) = promtui(&[
        "query",
        "vector(1)",
        "--time",
        "60",
        "-o",
        "json",
        "--server",
        &base,
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out,
        "{\"resultType\":\"vector\",\"result\":[{\"metric\":{},\"value\":[60,\"1\"]}]}\n"
    );
    // --query.max-samples=1: two series are more.
    let (code, body) = http_get(&format!("{base}/api/v1/query?query=up&time=60"));
    assert_eq!(code, 422, "{body}");
    assert!(body.contains("too many samples"), "{body}");
    // --query.lookback-delta=1m: nothing 61 s after the last sample at 60 s, so the
    // sample limit is not reached either.
    let (code, body) = http_get(&format!("{base}/api/v1/query?query=up&time=121"));
    assert_eq!(code, 200);
    assert_eq!(
        body,
        r#"{"status":"success","data":{"resultType":"vector","result":[]}}"#
    );
    let (code, body) = http_get(&format!("{base}/api/v1/status/flags"));
    assert_eq!(code, 200);
    assert!(body.contains(r#""query.max-samples":"1""#), "{body}");
    // The engine's external labels reach /federate (nothing within the lookback of now).
    let (code, body) = http_get(&format!("{base}/federate?match[]=up"));
    assert_eq!((code, body.as_str()), (200, ""));
}
