//! `--web.config.file` end to end: `promtui serve` with TLS, basic authentication and a
//! response header on all three listeners (web, Alertmanager, Pushgateway); a client
//! certificate required by `RequireAndVerifyClientCert`; a changed file applied without a
//! restart; `promtui check web-config`; and a real Prometheus 2.42 scraping promtui's
//! `/metrics` over HTTPS with basic auth.
//!
//! Certificates come from the `openssl` command; skips with a message when it (or, for
//! the interop part, `prometheus`) is missing, and fails instead when
//! `PROMTUI_REQUIRE_PEERS=1`.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::pki::{make_pki, openssl_available};
use common::{free_port, peer_available, wait_until, ChildGuard, PROMETHEUS};

/// bcrypt at the lowest cost, so the test spends no time hashing.
fn hash(password: &str) -> String {
    bcrypt::hash(password, 4).unwrap()
}

fn client(dir: &Path, with_cert: bool) -> reqwest::Client {
    let ca = reqwest::Certificate::from_pem(&std::fs::read(dir.join("ca.pem")).unwrap()).unwrap();
    let mut b = reqwest::Client::builder()
        .add_root_certificate(ca)
        .timeout(Duration::from_secs(10));
    if with_cert {
        let mut pem = std::fs::read(dir.join("client.pem")).unwrap();
        pem.extend(std::fs::read(dir.join("client.key")).unwrap());
        b = b.identity(reqwest::Identity::from_pem(&pem).unwrap());
    }
    b.build().unwrap()
}

/// GET `url` with optional basic-auth credentials: status and the X-Frame-Options header.
fn get(
    rt: &tokio::runtime::Runtime,
    c: &reqwest::Client,
    url: &str,
    auth: Option<(&str, &str)>,
) -> Result<(u16, Option<String>, Option<String>), String> {
    rt.block_on(async {
        let mut r = c.get(url);
        if let Some((u, p)) = auth {
            r = r.basic_auth(u, Some(p));
        }
        let resp = r.send().await.map_err(|e| format!("{e:?}"))?;
        let header = |n: &str| {
            resp.headers()
                .get(n)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        Ok((
            resp.status().as_u16(),
            header("x-frame-options"),
            header("www-authenticate"),
        ))
    })
}

struct Serve {
    _child: ChildGuard,
    web: u16,
    am: u16,
    pg: u16,
}

fn start(dir: &Path, web_yml: &Path) -> Serve {
    let (web, am, pg) = (free_port(), free_port(), free_port());
    std::fs::write(
        dir.join("promtui.yml"),
        "global:\n  scrape_interval: 1s\nscrape_configs: []\n",
    )
    .unwrap();
    let child = ChildGuard(
        Command::new(env!("CARGO_BIN_EXE_promtui"))
            .args(["serve", "--log.level=warn"])
            .arg(format!(
                "--config.file={}",
                dir.join("promtui.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{web}"))
            .arg(format!("--alertmanager.listen-address=127.0.0.1:{am}"))
            .arg(format!("--pushgateway.listen-address=127.0.0.1:{pg}"))
            .arg(format!("--web.config.file={}", web_yml.display()))
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    Serve {
        _child: child,
        web,
        am,
        pg,
    }
}

#[test]
fn tls_and_basic_auth_guard_every_listener_and_follow_file_changes() {
    if !openssl_available() {
        return;
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    make_pki(d);
    let web_yml = d.join("web.yml");
    // Relative certificate paths resolve against the file's own directory.
    std::fs::write(
        &web_yml,
        format!(
            "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n\
             http_server_config:\n  headers:\n    X-Frame-Options: deny\n\
             basic_auth_users:\n  alice: {}\n",
            hash("wonderland")
        ),
    )
    .unwrap();
    let s = start(d, &web_yml);
    let c = client(d, false);
    let base = format!("https://127.0.0.1:{}", s.web);
    wait_until("promtui over TLS", Duration::from_secs(30), || {
        matches!(
            get(
                &rt,
                &c,
                &format!("{base}/-/ready"),
                Some(("alice", "wonderland"))
            ),
            Ok((200, _, _))
        )
        .then_some(())
    });

    for port in [s.web, s.am, s.pg] {
        let url = format!("https://127.0.0.1:{port}/-/healthy");
        let (st, xfo, www) = get(&rt, &c, &url, None).unwrap();
        assert_eq!(st, 401, "{url} without credentials");
        assert_eq!(www.as_deref(), Some("Basic"), "{url}");
        assert_eq!(
            xfo.as_deref(),
            Some("deny"),
            "headers go on 401s too: {url}"
        );
        let (st, _, _) = get(&rt, &c, &url, Some(("alice", "wrong"))).unwrap();
        assert_eq!(st, 401, "{url} with a wrong password");
        let (st, _, _) = get(&rt, &c, &url, Some(("mallory", "wonderland"))).unwrap();
        assert_eq!(st, 401, "{url} with an unknown user");
        let (st, xfo, _) = get(&rt, &c, &url, Some(("alice", "wonderland"))).unwrap();
        assert_eq!(st, 200, "{url} with credentials");
        assert_eq!(xfo.as_deref(), Some("deny"));
    }
    // The API behind the guard works as usual.
    let (st, _, _) = get(
        &rt,
        &c,
        &format!("{base}/api/v1/query?query=1%2B1"),
        Some(("alice", "wonderland")),
    )
    .unwrap();
    assert_eq!(st, 200);
    // Plain HTTP to a TLS listener gets no HTTP answer.
    let plain = reqwest::Client::new();
    assert!(get(
        &rt,
        &plain,
        &format!("http://127.0.0.1:{}/-/healthy", s.web),
        None
    )
    .is_err());

    // A new user and a client certificate requirement, without a restart. The file's
    // modification time must move for the change to be seen.
    std::thread::sleep(Duration::from_millis(1100));
    std::fs::write(
        &web_yml,
        format!(
            "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n  \
             client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.pem\n\
             basic_auth_users:\n  alice: {}\n  bob: {}\n",
            hash("wonderland"),
            hash("builder")
        ),
    )
    .unwrap();
    let with_cert = client(d, true);
    let url = format!("{base}/-/healthy");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        // Fresh connections: each client is new, so the handshake sees the new file.
        let c = client(d, true);
        if let Ok((200, _, _)) = get(&rt, &c, &url, Some(("bob", "builder"))) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the changed web config was not applied"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(
        get(&rt, &with_cert, &url, Some(("bob", "builder")))
            .unwrap()
            .0,
        200
    );
    let no_cert = client(d, false);
    assert!(
        get(&rt, &no_cert, &url, Some(("bob", "builder"))).is_err(),
        "a client without a certificate must fail the handshake"
    );
    // The headers section was removed: no header any more.
    let (_, xfo, _) = get(&rt, &with_cert, &url, Some(("bob", "builder"))).unwrap();
    assert_eq!(xfo, None);

    // A broken file leaves the previous configuration in force.
    std::thread::sleep(Duration::from_millis(1100));
    std::fs::write(&web_yml, "basic_auth_users:\n  bob: not-a-hash\n").unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let c = client(d, true);
    assert_eq!(get(&rt, &c, &url, Some(("bob", "builder"))).unwrap().0, 200);
}

#[test]
fn a_broken_web_config_stops_start_up_and_check_names_the_place() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let bad = d.join("web.yml");
    std::fs::write(
        &bad,
        "tls_server_config:\n  cert_file: a.pem\n  keyfile: a.key\n",
    )
    .unwrap();
    let good = d.join("good.yml");
    std::fs::write(
        &good,
        format!("basic_auth_users:\n  alice: {}\n", hash("x")),
    )
    .unwrap();

    let out = Command::new(env!("CARGO_BIN_EXE_promtui"))
        .args(["check", "web-config"])
        .arg(&good)
        .arg(&bad)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!("{} SUCCESS", good.display())),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "{} FAILED: {}:3:3: ",
            bad.display(),
            bad.display()
        )),
        "{err}"
    );
    assert!(err.contains("unknown field `keyfile`"), "{err}");

    let out = Command::new(env!("CARGO_BIN_EXE_promtui"))
        .args(["serve", "--log.level=warn"])
        .arg(format!("--storage.tsdb.path={}", d.join("data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{}", free_port()))
        .arg("--alertmanager.disable-listener")
        .arg("--pushgateway.disable")
        .arg(format!("--web.config.file={}", bad.display()))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("--web.config.file"), "{err}");
    assert!(err.contains("unknown field `keyfile`"), "{err}");
}

#[test]
fn prometheus_scrapes_promtui_over_https_with_basic_auth() {
    if !openssl_available() || !peer_available(PROMETHEUS) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    make_pki(d);
    let web_yml = d.join("web.yml");
    std::fs::write(
        &web_yml,
        format!(
            "tls_server_config:\n  cert_file: {d}/server.pem\n  key_file: {d}/server.key\n\
             basic_auth_users:\n  prom: {}\n",
            hash("scrape-me"),
            d = d.display()
        ),
    )
    .unwrap();
    let s = start(d, &web_yml);
    let prom_port = free_port();
    std::fs::write(
        d.join("prometheus.yml"),
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: promtui\n    \
             scheme: https\n    tls_config: {{ca_file: '{d}/ca.pem'}}\n    \
             basic_auth: {{username: prom, password: scrape-me}}\n    \
             static_configs: [{{targets: ['127.0.0.1:{web}']}}]\n  \
             - job_name: wrong-password\n    scheme: https\n    \
             tls_config: {{ca_file: '{d}/ca.pem'}}\n    \
             basic_auth: {{username: prom, password: nope}}\n    \
             static_configs: [{{targets: ['127.0.0.1:{web}']}}]\n",
            d = d.display(),
            web = s.web
        ),
    )
    .unwrap();
    let _prom = ChildGuard(
        Command::new(PROMETHEUS)
            .arg(format!("--config.file={}/prometheus.yml", d.display()))
            .arg(format!("--storage.tsdb.path={}/prom", d.display()))
            .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let base = format!("http://127.0.0.1:{prom_port}");
    let health = wait_until("both targets scraped", Duration::from_secs(60), || {
        let v = common::api_get(&base, "/api/v1/targets", &[])?;
        let mut out = std::collections::BTreeMap::new();
        for t in v["data"]["activeTargets"].as_array()? {
            let h = t["health"].as_str()?.to_string();
            if h == "unknown" {
                return None;
            }
            out.insert(
                t["labels"]["job"].as_str()?.to_string(),
                (h, t["lastError"].as_str()?.to_string()),
            );
        }
        (out.len() == 2).then_some(out)
    });
    assert_eq!(health["promtui"].0, "up", "{health:?}");
    assert_eq!(health["wrong-password"].0, "down", "{health:?}");
    assert!(health["wrong-password"].1.contains("401"), "{health:?}");
}
