//! End-to-end tests of the scrape engine: real HTTP targets on 127.0.0.1 (a tiny server
//! whose responses the test changes while it runs), driven through `scrape::Manager` with
//! 200 ms intervals, checking what reached an in-memory `Appendable`.

use std::collections::HashMap;
use std::io::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use promtui::model::relabel::{Action, RelabelConfig, RelabelRegex};
use promtui::model::{is_stale_nan, Labels, Sample};
use promtui::scrape::memory::MemoryAppendable;
use promtui::scrape::{
    FileSdSettings, Manager, ManagerOptions, PoolConfig, TargetHealth, TargetSnapshot,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const INTERVAL_MS: i64 = 200;

#[derive(Clone)]
struct Route {
    status: u16,
    body: String,
    content_type: &'static str,
    gzip: bool,
}

/// A tiny HTTP/1.1 server: one response per connection, routes changeable at run time.
#[derive(Clone)]
struct Server {
    addr: String,
    routes: Arc<Mutex<HashMap<String, Route>>>,
    hits: Arc<Mutex<HashMap<String, u64>>>,
    queries: Arc<Mutex<HashMap<String, Vec<String>>>>,
    /// Last request head per path.
    heads: Arc<Mutex<HashMap<String, String>>>,
}

impl Server {
    async fn start() -> Server {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let s = Server {
            addr: l.local_addr().unwrap().to_string(),
            routes: Arc::default(),
            hits: Arc::default(),
            queries: Arc::default(),
            heads: Arc::default(),
        };
        let srv = s.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut conn, _)) = l.accept().await else {
                    return;
                };
                let srv = srv.clone();
                tokio::spawn(async move {
                    let mut req = Vec::new();
                    let mut b = [0u8; 2048];
                    while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                        match conn.read(&mut b).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => req.extend_from_slice(&b[..n]),
                        }
                    }
                    let head = String::from_utf8_lossy(&req).to_string();
                    let target = head.split_whitespace().nth(1).unwrap_or("/").to_string();
                    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
                    let accepts_gzip = head.to_ascii_lowercase().contains("accept-encoding: gzip");
                    *srv.hits.lock().entry(path.to_string()).or_default() += 1;
                    srv.heads.lock().insert(path.to_string(), head.clone());
                    srv.queries
                        .lock()
                        .entry(path.to_string())
                        .or_default()
                        .push(query.to_string());
                    let route = srv.routes.lock().get(path).cloned().unwrap_or(Route {
                        status: 404,
                        body: String::new(),
                        content_type: "text/plain",
                        gzip: false,
                    });
                    let mut body = route.body.into_bytes();
                    let mut extra = String::new();
                    if route.gzip && accepts_gzip {
                        let mut enc = flate2::write::GzEncoder::new(
                            Vec::new(),
                            flate2::Compression::default(),
                        );
                        enc.write_all(&body).unwrap();
                        body = enc.finish().unwrap();
                        extra.push_str("Content-Encoding: gzip\r\n");
                    }
                    let resp = format!(
                        "HTTP/1.1 {} X\r\nContent-Type: {}\r\nContent-Length: {}\r\n{extra}Connection: close\r\n\r\n",
                        route.status,
                        route.content_type,
                        body.len()
                    );
                    let _ = conn.write_all(resp.as_bytes()).await;
                    let _ = conn.write_all(&body).await;
                    let _ = conn.shutdown().await;
                });
            }
        });
        s
    }

    fn set(&self, path: &str, status: u16, body: &str) {
        self.routes.lock().insert(
            path.to_string(),
            Route {
                status,
                body: body.to_string(),
                content_type: "text/plain; version=0.0.4",
                gzip: false,
            },
        );
    }

    fn set_gzip(&self, path: &str, body: &str) {
        self.routes.lock().insert(
            path.to_string(),
            Route {
                status: 200,
                body: body.to_string(),
                content_type: "text/plain; version=0.0.4",
                gzip: true,
            },
        );
    }

    fn hits(&self, path: &str) -> u64 {
        self.hits.lock().get(path).copied().unwrap_or(0)
    }
}

fn job(name: &str, srv: &Server, path: &str) -> PoolConfig {
    let mut c = PoolConfig::new(name).with_static_targets(&[&srv.addr], Labels::empty());
    c.scrape_interval_ms = INTERVAL_MS;
    c.scrape_timeout_ms = INTERVAL_MS;
    c.metrics_path = path.to_string();
    c
}

fn manager(store: &MemoryAppendable) -> Manager {
    Manager::new(
        Arc::new(store.clone()),
        ManagerOptions {
            offset_seed: 0,
            file_sd_poll_interval: Duration::from_millis(100),
            first_scrape_within: None,
        },
    )
    .unwrap()
}

/// Polls `f` every 20 ms until it holds; fails after `secs` seconds.
async fn wait_for(what: &str, secs: u64, f: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn target<'a>(ts: &'a [TargetSnapshot], job: &str) -> &'a TargetSnapshot {
    ts.iter()
        .find(|t| t.scrape_pool == job)
        .unwrap_or_else(|| panic!("no target for {job}"))
}

fn scrapes(m: &Manager, job: &str) -> u64 {
    m.targets()
        .active
        .iter()
        .find(|t| t.scrape_pool == job)
        .map_or(0, |t| t.status.scrapes)
}

/// Samples of the series matching `pairs`; exactly one series must match.
fn one(store: &MemoryAppendable, pairs: &[(&str, &str)]) -> Vec<Sample> {
    let found = store.find(pairs);
    assert_eq!(found.len(), 1, "series matching {pairs:?}: {found:?}");
    found[0].1.clone()
}

fn ends_stale(s: &[Sample]) -> bool {
    s.last().is_some_and(|s| is_stale_nan(s.v))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relabeling_honor_labels_limits_and_gzip() {
    let srv = Server::start().await;
    srv.set(
        "/app",
        200,
        "# TYPE m gauge\nm{job=\"pushed\",x=\"1\"} 1\ndrop_me 2\nkeep 3\n",
    );
    srv.set_gzip("/gz", "gz_metric 42\n");
    let store = MemoryAppendable::new();
    let m = manager(&store);

    let mut relabeled = job("relabel", &srv, "/app");
    relabeled.params.insert("module".into(), vec!["a b".into()]);
    relabeled.relabel_configs = vec![RelabelConfig {
        target_label: "team".into(),
        replacement: "core".into(),
        ..RelabelConfig::default()
    }];
    relabeled.metric_relabel_configs = vec![RelabelConfig {
        source_labels: vec!["__name__".into()],
        regex: RelabelRegex::new("drop_me").unwrap(),
        action: Action::Drop,
        ..RelabelConfig::default()
    }];
    let mut honor = job("honor", &srv, "/app");
    honor.honor_labels = true;
    let mut limited = job("limited", &srv, "/app");
    limited.limits.sample_limit = 2;
    let gz = job("gz", &srv, "/gz");
    m.apply_config(vec![relabeled, honor, limited, gz]).unwrap();

    wait_for("two scrapes of every job", 10, || {
        ["relabel", "honor", "limited", "gz"]
            .iter()
            .all(|j| scrapes(&m, j) >= 2)
    })
    .await;

    let addr = srv.addr.as_str();
    // relabel_configs added team=core; metric_relabel_configs dropped drop_me; the
    // scraped job label clashes and becomes exported_job.
    let s = one(
        &store,
        &[
            ("__name__", "m"),
            ("job", "relabel"),
            ("team", "core"),
            ("instance", addr),
        ],
    );
    assert!(s.len() >= 2 && s.iter().all(|s| s.v == 1.0));
    assert_eq!(
        store.find(&[("__name__", "m"), ("job", "relabel")])[0]
            .0
            .get("exported_job"),
        Some("pushed")
    );
    assert!(store
        .find(&[("__name__", "drop_me"), ("job", "relabel")])
        .is_empty());
    let post = one(
        &store,
        &[
            ("__name__", "scrape_samples_post_metric_relabeling"),
            ("job", "relabel"),
        ],
    );
    assert_eq!(post[0].v, 2.0);
    let scraped = one(
        &store,
        &[("__name__", "scrape_samples_scraped"), ("job", "relabel")],
    );
    assert_eq!(scraped[0].v, 3.0);
    assert!(srv.queries.lock()["/app"].iter().any(|q| q == "module=a+b"));

    // honor_labels keeps the scraped job.
    let honored = store.find(&[("__name__", "m"), ("job", "pushed")]);
    assert_eq!(honored.len(), 1);
    assert_eq!(honored[0].0.get("exported_job"), None);
    assert!(one(&store, &[("__name__", "up"), ("job", "honor")])
        .iter()
        .all(|s| s.v == 1.0));

    // sample_limit: the scrape fails as a whole.
    assert!(store
        .find(&[("__name__", "keep"), ("job", "limited")])
        .is_empty());
    assert!(one(&store, &[("__name__", "up"), ("job", "limited")])
        .iter()
        .all(|s| s.v == 0.0));
    let ts = m.targets();
    let lim = target(&ts.active, "limited");
    assert_eq!(lim.status.health, TargetHealth::Down);
    assert_eq!(
        lim.status.last_error.as_deref(),
        Some("sample limit exceeded")
    );
    let rel = target(&ts.active, "relabel");
    assert_eq!(rel.scrape_url, format!("http://{addr}/app?module=a+b"));
    assert_eq!(rel.labels.get("team"), Some("core"));
    assert_eq!(rel.discovered_labels.get("team"), None);
    assert_eq!(rel.discovered_labels.get("__address__"), Some(addr));
    assert_eq!(rel.interval, Duration::from_millis(200));

    // gzip-encoded body.
    assert!(one(&store, &[("__name__", "gz_metric")])
        .iter()
        .all(|s| s.v == 42.0));

    let metrics = m.metrics();
    assert!(metrics.scrapes_total >= 8);
    assert!(metrics.exceeded_sample_limit_total >= 2);
    assert_eq!(metrics.active_targets, 4);
    m.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staleness_on_disappearance_and_on_failure() {
    let srv = Server::start().await;
    srv.set("/m", 200, "a 1\nb 1\n");
    let store = MemoryAppendable::new();
    let m = manager(&store);
    m.apply_config(vec![job("s", &srv, "/m")]).unwrap();
    wait_for("first scrape", 5, || scrapes(&m, "s") >= 1).await;

    srv.set("/m", 200, "a 1\n");
    wait_for("b marked stale", 5, || {
        store
            .find(&[("__name__", "b")])
            .first()
            .is_some_and(|(_, s)| ends_stale(s))
    })
    .await;
    assert!(!ends_stale(&one(&store, &[("__name__", "a")])));

    srv.set("/m", 500, "");
    wait_for("a marked stale after failure", 5, || {
        ends_stale(&one(&store, &[("__name__", "a")]))
    })
    .await;
    wait_for("up=0", 5, || {
        one(&store, &[("__name__", "up")])
            .last()
            .is_some_and(|s| s.v == 0.0)
    })
    .await;
    let t = m.targets();
    assert_eq!(
        target(&t.active, "s").status.last_error.as_deref(),
        Some("server returned HTTP status 500 Internal Server Error")
    );

    srv.set("/m", 200, "a 2\n");
    wait_for("recovery", 5, || {
        one(&store, &[("__name__", "a")])
            .last()
            .is_some_and(|s| s.v == 2.0)
    })
    .await;
    // b stays with exactly one marker.
    let b = one(&store, &[("__name__", "b")]);
    assert_eq!(b.iter().filter(|s| is_stale_nan(s.v)).count(), 1);
    // Timestamps strictly increase for every series (no out-of-order writes).
    for (l, s) in store.all() {
        assert!(s.windows(2).all(|w| w[0].t < w[1].t), "{l}");
    }
    m.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_sd_change_starts_new_target_and_stales_old() {
    let srv = Server::start().await;
    srv.set("/one", 200, "only_one 1\n");
    srv.set("/two", 200, "only_two 2\n");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("targets.json");
    let write = |path: &str| {
        let tmp = dir.path().join("targets.json.tmp");
        std::fs::write(
            &tmp,
            format!(
                r#"[{{"targets": ["{}"], "labels": {{"__metrics_path__": "{path}", "env": "e2e", "p": "{path}"}}}}]"#,
                srv.addr
            ),
        )
        .unwrap();
        std::fs::rename(&tmp, &file).unwrap();
    };
    write("/one");
    let store = MemoryAppendable::new();
    let m = manager(&store);
    let mut c = PoolConfig::new("files");
    c.scrape_interval_ms = INTERVAL_MS;
    c.scrape_timeout_ms = INTERVAL_MS;
    c.file_sd = vec![FileSdSettings {
        files: vec![format!("{}/*.json", dir.path().display())],
        refresh_interval_ms: 60_000,
    }];
    m.apply_config(vec![c]).unwrap();
    let t = m.targets();
    assert_eq!(t.active.len(), 1, "file read synchronously on apply");
    assert_eq!(
        t.active[0].discovered_labels.get("__meta_filepath"),
        Some(file.to_str().unwrap())
    );
    assert_eq!(t.active[0].labels.get("__meta_filepath"), None);
    assert_eq!(t.active[0].labels.get("env"), Some("e2e"));
    wait_for("scrape of /one", 5, || scrapes(&m, "files") >= 2).await;

    // A broken file keeps the previous targets.
    std::fs::write(&file, "[{ not json").unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(m.targets().active.len(), 1);
    assert!(m.metrics().file_sd_read_errors_total >= 1);

    write("/two");
    wait_for("scrape of /two", 5, || {
        !store.find(&[("__name__", "only_two")]).is_empty()
    })
    .await;
    assert_eq!(m.targets().active.len(), 1);
    assert!(m.targets().active[0].scrape_url.ends_with("/two"));
    // The old target's series and its report series get end-of-run staleness markers
    // (about two intervals after it was removed); the new target's do not.
    wait_for("old target stale", 5, || {
        ends_stale(&one(&store, &[("__name__", "only_one")]))
            && ends_stale(&one(&store, &[("__name__", "up"), ("p", "/one")]))
    })
    .await;
    assert!(!ends_stale(&one(
        &store,
        &[("__name__", "up"), ("p", "/two")]
    )));
    assert!(ends_stale(&one(
        &store,
        &[("__name__", "scrape_duration_seconds"), ("p", "/one")]
    )));
    let hits_one = srv.hits("/one");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(srv.hits("/one"), hits_one, "old loop stopped");
    assert!(srv.hits("/two") >= 2);
    m.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_keeps_unchanged_loops_and_stop_is_graceful() {
    let srv = Server::start().await;
    srv.set("/keep", 200, "kept 1\n");
    srv.set("/other", 200, "other 1\n");
    let store = MemoryAppendable::new();
    let m = manager(&store);
    let keep = job("keep", &srv, "/keep");
    let other = job("other", &srv, "/other");
    m.apply_config(vec![keep.clone(), other.clone()]).unwrap();
    wait_for("both scraped twice", 5, || {
        scrapes(&m, "keep") >= 2 && scrapes(&m, "other") >= 2
    })
    .await;
    let before = scrapes(&m, "keep");

    // Reload: `keep` changes a limit and its interval (same target: the loop must survive,
    // with its scrape count), `other` gets a new target label (new target: new loop, old
    // one stale).
    let mut keep2 = keep.clone();
    keep2.limits.sample_limit = 100;
    keep2.scrape_interval_ms = 300;
    keep2.scrape_timeout_ms = 300;
    let mut other2 = other.clone();
    other2.static_groups[0].labels = Labels::from_pairs(&[("v", "2")]);
    m.apply_config(vec![keep2.clone(), other2]).unwrap();
    let after = scrapes(&m, "keep");
    assert!(
        after >= before,
        "scrape count reset by reload: {before} -> {after}"
    );
    assert_eq!(
        scrapes(&m, "other"),
        0,
        "changed target starts a fresh loop"
    );
    wait_for("keep keeps scraping", 5, || {
        scrapes(&m, "keep") >= after + 2
    })
    .await;
    wait_for("old other target stale", 5, || {
        store
            .find(&[("__name__", "other")])
            .iter()
            .any(|(l, s)| l.get("v").is_none() && ends_stale(s))
    })
    .await;
    assert!(!store.find(&[("__name__", "other"), ("v", "2")]).is_empty());
    // The kept target never got a staleness marker.
    assert!(!one(&store, &[("__name__", "kept")])
        .iter()
        .any(|s| is_stale_nan(s.v)));
    assert!(!one(&store, &[("__name__", "up"), ("job", "keep")])
        .iter()
        .any(|s| is_stale_nan(s.v)));

    // Applying the same configuration again changes nothing.
    let n = scrapes(&m, "keep");
    m.apply_config(vec![keep2.clone(), job("other", &srv, "/other")])
        .unwrap();
    assert!(scrapes(&m, "keep") >= n);

    // Removing a job stops its loop with staleness markers.
    m.apply_config(vec![keep2]).unwrap();
    wait_for("removed job stale", 5, || {
        store
            .find(&[("__name__", "up"), ("job", "other")])
            .iter()
            .all(|(_, s)| ends_stale(s))
    })
    .await;
    assert_eq!(m.targets().active.len(), 1);

    // Graceful stop: loops end, nothing is appended afterwards, no markers for `keep`.
    m.stop().await;
    let commits = store.commits();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(store.commits(), commits);
    assert!(!one(&store, &[("__name__", "kept")])
        .iter()
        .any(|s| is_stale_nan(s.v)));
    assert!(m.targets().active.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn target_limit_fails_every_target_of_the_pool() {
    let srv = Server::start().await;
    srv.set("/a", 200, "x 1\n");
    let store = MemoryAppendable::new();
    let m = manager(&store);
    let mut c = job("tl", &srv, "/a");
    c.static_groups[0]
        .targets
        .push(Labels::from_pairs(&[("__address__", "127.0.0.1:1")]));
    c.target_limit = 1;
    m.apply_config(vec![c.clone()]).unwrap();
    wait_for("both targets scraped", 5, || {
        m.targets().active.iter().all(|t| t.status.scrapes >= 1)
    })
    .await;
    for t in m.targets().active {
        assert_eq!(t.status.health, TargetHealth::Down);
        assert_eq!(
            t.status.last_error.as_deref(),
            Some("target_limit exceeded (number of targets: 2, limit: 1)")
        );
    }
    assert_eq!(srv.hits("/a"), 0, "no request is made");
    assert!(store.find(&[("__name__", "x")]).is_empty());
    // Raising the limit lets the same loops scrape.
    c.target_limit = 2;
    m.apply_config(vec![c]).unwrap();
    wait_for("x scraped", 5, || {
        !store.find(&[("__name__", "x")]).is_empty()
    })
    .await;
    m.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_url_and_bearer_credentials_file() {
    // The test server plays an HTTP proxy: it receives the absolute URL of the target.
    let proxy = Server::start().await;
    let target_url = "http://scrape-target.invalid:9100/metrics";
    proxy.set(target_url, 200, "via_proxy 1\n");
    let dir = tempfile::tempdir().unwrap();
    let tok = dir.path().join("token");
    std::fs::write(&tok, "t0k\n").unwrap();
    let store = MemoryAppendable::new();
    let m = manager(&store);
    let mut c = PoolConfig::new("proxied")
        .with_static_targets(&["scrape-target.invalid:9100"], Labels::empty());
    c.scrape_interval_ms = INTERVAL_MS;
    c.scrape_timeout_ms = INTERVAL_MS;
    c.http.proxy_url = Some(format!("http://{}", proxy.addr));
    c.http.authorization = Some(promtui::scrape::AuthorizationSettings {
        auth_type: "Bearer".into(),
        credentials: String::new(),
        credentials_file: Some(tok),
    });
    m.apply_config(vec![c]).unwrap();
    wait_for("scrape through the proxy", 5, || {
        !store.find(&[("__name__", "via_proxy")]).is_empty()
    })
    .await;
    assert!(proxy.hits(target_url) >= 1);
    let head = proxy.heads.lock()[target_url].to_ascii_lowercase();
    assert!(head.contains("authorization: bearer t0k\r\n"), "{head}");
    assert_eq!(
        one(&store, &[("__name__", "up"), ("job", "proxied")])[0].v,
        1.0
    );
    m.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_scrape_within_brings_the_first_scrape_forward_and_keeps_the_interval() {
    let srv = Server::start().await;
    srv.set("/slow", 200, "x 1\n");
    let store = MemoryAppendable::new();
    let m = Manager::new(
        Arc::new(store.clone()),
        ManagerOptions {
            first_scrape_within: Some(Duration::from_millis(300)),
            ..ManagerOptions::default()
        },
    )
    .unwrap();
    // A 60 s interval would put the first scrape anywhere in the next minute.
    let mut c = job("soon", &srv, "/slow");
    c.scrape_interval_ms = 60_000;
    c.scrape_timeout_ms = 10_000;
    let started = std::time::Instant::now();
    m.apply_config(vec![c]).unwrap();
    wait_for("the first scrape", 3, || srv.hits("/slow") >= 1).await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    // Later scrapes keep the interval: no second scrape soon after.
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(srv.hits("/slow"), 1);
    m.stop().await;
}
