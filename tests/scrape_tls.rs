//! TLS scraping against a real peer: `openssl s_server -WWW` on 127.0.0.1 serving a
//! metrics file over HTTPS and requiring a client certificate, with a throwaway CA, server
//! and client certificates made by the `openssl` command. Checks `tls_config` (CA file,
//! client cert/key files, `insecure_skip_verify`) end to end through the scrape manager.
//!
//! Skips with a message when `openssl` is missing; fails instead when
//! `PROMTUI_REQUIRE_PEERS=1`.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::pki::{make_pki, openssl_available};
use promtui::model::Labels;
use promtui::scrape::memory::MemoryAppendable;
use promtui::scrape::scraper::HttpScraper;
use promtui::scrape::{HttpSettings, Manager, ManagerOptions, PoolConfig, TargetHealth};

/// Kills the peer when the test ends, however it ends.
struct Peer(Child);

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// Starts `openssl s_server -WWW` serving `dir` and waits until it accepts connections.
fn start_server(dir: &Path, port: u16) -> Peer {
    let child = Command::new("openssl")
        .current_dir(dir)
        .args([
            "s_server",
            "-quiet",
            "-WWW",
            "-accept",
            &format!("127.0.0.1:{port}"),
            "-cert",
            "server.pem",
            "-key",
            "server.key",
            "-CAfile",
            "ca.pem",
            "-Verify",
            "1",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let peer = Peer(child);
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "openssl s_server did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    peer
}

fn settings(dir: &Path, ca: bool, client: bool, insecure: bool) -> HttpSettings {
    let p = |n: &str| Some(dir.join(n));
    let mut s = HttpSettings::default();
    if ca {
        s.tls.ca_file = p("ca.pem");
    }
    if client {
        s.tls.cert_file = p("client.pem");
        s.tls.key_file = p("client.key");
    }
    s.tls.insecure_skip_verify = insecure;
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_ca_client_certificates_and_insecure_skip_verify() {
    if !openssl_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    make_pki(dir.path());
    std::fs::write(dir.path().join("metrics"), "tls_metric 7\n").unwrap();
    let port = free_port();
    let _peer = start_server(dir.path(), port);
    let url = format!("https://127.0.0.1:{port}/metrics");
    let scrape = |s: HttpSettings| {
        let url = url.clone();
        async move {
            let sc = HttpScraper::new(&s).map_err(|e| e.to_string())?;
            let mut buf = Vec::new();
            sc.scrape(&url, Duration::from_secs(5), 0, &mut buf)
                .await
                .map_err(|e| e.to_string())?;
            Ok::<String, String>(String::from_utf8_lossy(&buf).to_string())
        }
    };
    // Trusted CA and a client certificate: served.
    assert_eq!(
        scrape(settings(dir.path(), true, true, false))
            .await
            .unwrap(),
        "tls_metric 7\n"
    );
    // The test CA is not among the built-in roots.
    let err = scrape(settings(dir.path(), false, true, false))
        .await
        .unwrap_err();
    assert!(err.contains("certificate"), "{err}");
    // insecure_skip_verify accepts the unknown issuer.
    assert_eq!(
        scrape(settings(dir.path(), false, true, true))
            .await
            .unwrap(),
        "tls_metric 7\n"
    );
    // The server requires a client certificate.
    assert!(scrape(settings(dir.path(), true, false, false))
        .await
        .is_err());

    // Through the manager: scheme https, tls_config from the pool's HTTP settings.
    let store = MemoryAppendable::new();
    let m = Manager::new(Arc::new(store.clone()), ManagerOptions::default()).unwrap();
    let mut c = PoolConfig::new("tls")
        .with_static_targets(&[&format!("127.0.0.1:{port}")], Labels::empty());
    c.scheme = "https".into();
    c.scrape_interval_ms = 200;
    c.scrape_timeout_ms = 200;
    c.http = settings(dir.path(), true, true, false);
    m.apply_config(vec![c]).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while store.find(&[("__name__", "tls_metric")]).is_empty() {
        assert!(
            Instant::now() < deadline,
            "no TLS scrape: {:?}",
            m.targets()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let t = m.targets();
    assert_eq!(t.active[0].status.health, TargetHealth::Up);
    assert_eq!(t.active[0].scrape_url, url);
    m.stop().await;
}
