//! The notifier's per-Alertmanager HTTP client end to end: alerts posted over HTTPS to a
//! server that requires a client certificate (`tls_config` with CA, cert and key files)
//! and checks `basic_auth` with a password file, the Alertmanager found through
//! `file_sd_configs` and its path rewritten by `relabel_configs`. The server is Python's
//! `http.server` with `ssl`, the certificates come from the `openssl` command.
//!
//! Also `/api/v1/alertmanagers` of `promtui serve` and of Prometheus 2.42 for the same
//! configuration (discovery, relabel drop, path prefix): the same answer.
//!
//! Skips with a message when `openssl`, `python3` or `prometheus` is missing; fails instead
//! when `PROMTUI_REQUIRE_PEERS=1`.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::pki::{make_pki, openssl_available};
use common::{api_get, free_port, peer_available, start_serve, wait_until, ChildGuard, PROMETHEUS};
use promtui::config::AlertingConfig;
use promtui::notifier::{AlertSink, Notifier, NotifierAlert};

const SERVER: &str = r#"
import base64, http.server, ssl, sys
port, out = int(sys.argv[1]), sys.argv[2]
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        auth = self.headers.get("Authorization", "")
        with open(out, "a") as f:
            f.write("%s %s %s\n" % (self.path, auth, body.decode()))
        self.send_response(200)
        self.end_headers()
    def log_message(self, *a):
        pass
srv = http.server.HTTPServer(("127.0.0.1", port), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain("server.pem", "server.key")
ctx.load_verify_locations("ca.pem")
ctx.verify_mode = ssl.CERT_REQUIRED
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
srv.serve_forever()
"#;

#[test]
fn alerts_reach_a_tls_alertmanager_found_by_file_sd_with_client_cert_and_basic_auth() {
    if !openssl_available() || !peer_available("/usr/bin/python3") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    make_pki(d);
    let port = free_port();
    let received = d.join("received.txt");
    std::fs::write(d.join("server.py"), SERVER).unwrap();
    let _server = ChildGuard(
        std::process::Command::new("/usr/bin/python3")
            .current_dir(d)
            .arg("server.py")
            .arg(port.to_string())
            .arg(&received)
            .spawn()
            .unwrap(),
    );
    std::fs::write(d.join("password"), "s3cret\n").unwrap();
    std::fs::write(
        d.join("am.json"),
        format!(r#"[{{"targets": ["127.0.0.1:{port}"], "labels": {{"tier": "tls"}}}}]"#),
    )
    .unwrap();
    let cfg: AlertingConfig = serde_yaml::from_str(&format!(
        "alertmanagers:
  - scheme: https
    file_sd_configs: [{{files: ['{d}/am.json']}}]
    tls_config: {{ca_file: '{d}/ca.pem', cert_file: '{d}/client.pem', key_file: '{d}/client.key'}}
    basic_auth: {{username: prom, password_file: '{d}/password'}}
    relabel_configs:
      - {{source_labels: [tier], regex: tls, target_label: __alerts_path__, replacement: /tls/api/v2/alerts}}
",
        d = d.display()
    ))
    .unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let notifier = Notifier::new(100);
    notifier.apply(&cfg, &BTreeMap::new());
    assert_eq!(
        notifier.alertmanagers(),
        [format!("https://127.0.0.1:{port}/tls/api/v2/alerts")]
    );
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let task = rt.spawn(notifier.clone().run(stop_rx));
    // The server may still be starting: send until one batch is in.
    let line = wait_until("the alert over TLS", Duration::from_secs(20), || {
        notifier.send(vec![NotifierAlert {
            labels: [("alertname".to_string(), "Tls".to_string())].into(),
            annotations: BTreeMap::new(),
            starts_at: "2024-01-01T00:00:00Z".into(),
            ends_at: String::new(),
            generator_url: "http://promtui/graph".into(),
        }]);
        std::thread::sleep(Duration::from_millis(300));
        std::fs::read_to_string(&received)
            .ok()
            .and_then(|s| s.lines().next().map(str::to_string))
    });
    let _ = stop_tx.send(true);
    rt.block_on(task).unwrap();
    let (path, rest) = line.split_once(' ').unwrap();
    assert_eq!(path, "/tls/api/v2/alerts");
    // base64("prom:s3cret")
    assert!(rest.starts_with("Basic cHJvbTpzM2NyZXQ= "), "{line}");
    assert!(rest.contains(r#""alertname":"Tls""#), "{line}");
}

#[test]
fn api_v1_alertmanagers_answers_as_prometheus() {
    if !peer_available(PROMETHEUS) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("am.yml"),
        "- targets: ['127.0.0.1:19093']\n  labels: {dc: us}\n",
    )
    .unwrap();
    let config = format!(
        "alerting:
  alertmanagers:
    - path_prefix: /am
      static_configs: [{{targets: ['127.0.0.1:19091', '127.0.0.1:19092']}}]
      file_sd_configs: [{{files: ['{}/am.yml']}}]
      relabel_configs:
        - {{source_labels: [__address__], regex: '.*:19092', action: drop}}
        - {{source_labels: [dc], regex: us, target_label: __scheme__, replacement: https}}
",
        d.display()
    );
    let (pt, pp) = (free_port(), free_port());
    let _promtui = start_serve(d, &config, pt, &[]);
    std::fs::write(d.join("prometheus.yml"), &config).unwrap();
    let _prom = ChildGuard(
        std::process::Command::new(PROMETHEUS)
            .arg(format!("--config.file={}/prometheus.yml", d.display()))
            .arg(format!("--storage.tsdb.path={}/prom-data", d.display()))
            .arg(format!("--web.listen-address=127.0.0.1:{pp}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let get = |port: u16| {
        wait_until("discovered Alertmanagers", Duration::from_secs(30), || {
            let v = api_get(
                &format!("http://127.0.0.1:{port}"),
                "/api/v1/alertmanagers",
                &[],
            )?;
            let n = v["data"]["activeAlertmanagers"].as_array()?.len();
            (n == 2).then_some(v)
        })
    };
    let ours = get(pt);
    let theirs = get(pp);
    let sorted = |v: &serde_json::Value, k: &str| {
        let mut urls: Vec<String> = v["data"][k]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["url"].as_str().unwrap().to_string())
            .collect();
        urls.sort();
        urls
    };
    for k in ["activeAlertmanagers", "droppedAlertmanagers"] {
        assert_eq!(
            sorted(&ours, k),
            sorted(&theirs, k),
            "{k}: {ours} vs {theirs}"
        );
    }
    assert_eq!(
        sorted(&ours, "activeAlertmanagers"),
        [
            "http://127.0.0.1:19091/am/api/v2/alerts",
            "https://127.0.0.1:19093/am/api/v2/alerts"
        ]
    );
}
