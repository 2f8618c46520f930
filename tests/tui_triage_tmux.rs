//! End to end, the alert triage flow in the real `promtui` binary under tmux: a small
//! Python exporter's value crosses a rule's threshold, the alert shows as pending then
//! firing in the Alerts view; it is acknowledged (`a`), silenced from the alert (`s`,
//! seen by `amtool silence query`), the webhook sink stops receiving re-notifications,
//! the silence is expired from the Silences view (`x`) and notifications resume.
//! Skipped with a printed reason when tmux or python3 is missing (PROMTUI_REQUIRE_PEERS=1
//! fails instead).

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::tmux::{promtui_line_with, Tmux, TMUX};
use common::{
    free_port, peer_available, spawn_prometheus, start_alertmanager, wait_http_ok, ChildGuard,
    ALERTMANAGER, PROMETHEUS,
};

const PYTHON: &str = "/usr/bin/python3";
const AMTOOL: &str = "/usr/bin/amtool";

/// The triage session: promtui as USER=oncall at 160x45 (the screen polled every 100 ms),
/// once its frame is drawn.
fn start_tui(home: &Path, args: &str) -> Tmux {
    let line = promtui_line_with(home, "USER=oncall", args, "");
    let t = Tmux::start("triage", 160, 45, &line).polling_every(Duration::from_millis(100));
    t.wait("the frame", Duration::from_secs(15), |s| {
        s.contains("1 overview")
    });
    t
}

/// A webhook receiver counting the notifications it gets (answering 200 to each).
fn webhook_sink() -> (u16, Arc<AtomicUsize>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let n = Arc::new(AtomicUsize::new(0));
    let n2 = n.clone();
    std::thread::spawn(move || {
        for stream in l.incoming() {
            let Ok(mut s) = stream else { continue };
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut len = 0usize;
            let mut line = String::new();
            loop {
                line.clear();
                if r.read_line(&mut line).unwrap_or(0) == 0 {
                    break;
                }
                let l = line.trim_end();
                if l.is_empty() {
                    break;
                }
                if let Some(v) = l.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0u8; len];
            let _ = r.read_exact(&mut body);
            if String::from_utf8_lossy(&body).contains("DemoHigh") {
                n2.fetch_add(1, Ordering::SeqCst);
            }
            let _ =
                s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
        }
    });
    (port, n)
}

/// A Python exporter serving `demo_value <value file contents>` on /metrics.
fn python_exporter(dir: &Path) -> (ChildGuard, u16) {
    let port = free_port();
    let value = dir.join("value");
    std::fs::write(&value, "1").unwrap();
    let script = format!(
        r##"
import http.server
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        v = open({value:?}).read().strip()
        body = ("# TYPE demo_value gauge\ndemo_value " + v + "\n").encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
http.server.HTTPServer(("127.0.0.1", {port}), H).serve_forever()
"##,
        value = value.display().to_string(),
    );
    let child = ChildGuard(
        Command::new(PYTHON)
            .args(["-c", &script])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    assert!(
        wait_http_ok(
            &format!("http://127.0.0.1:{port}/metrics"),
            Duration::from_secs(10)
        ),
        "the Python exporter did not start"
    );
    (child, port)
}

#[test]
fn alert_fires_is_acked_silenced_seen_by_amtool_and_notifications_stop_and_resume() {
    if !peer_available(TMUX) || !peer_available(PYTHON) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let (_exporter, exp_port) = python_exporter(dir.path());
    let (hook_port, notified) = webhook_sink();
    let rules = dir.path().join("rules.yml");
    std::fs::write(
        &rules,
        "groups:\n- name: demo\n  interval: 500ms\n  rules:\n  - alert: DemoHigh\n    expr: demo_value > 5\n    for: 3s\n    labels:\n      severity: critical\n    annotations:\n      summary: demo value is {{ $value }}\n      runbook_url: https://runbooks.example/DemoHigh\n",
    )
    .unwrap();
    let cfg = dir.path().join("promtui.yml");
    std::fs::write(
        &cfg,
        format!(
            "global:\n  scrape_interval: 500ms\n  evaluation_interval: 500ms\nrule_files: [{}]\nscrape_configs:\n- job_name: demo\n  static_configs:\n  - targets: ['127.0.0.1:{exp_port}']\n",
            rules.display()
        ),
    )
    .unwrap();
    let am = dir.path().join("alertmanager.yml");
    std::fs::write(
        &am,
        format!(
            "route:\n  receiver: hook\n  group_by: [alertname]\n  group_wait: 1s\n  group_interval: 1s\n  repeat_interval: 2s\nreceivers:\n- name: hook\n  webhook_configs:\n  - url: http://127.0.0.1:{hook_port}/hook\n    send_resolved: false\n"
        ),
    )
    .unwrap();
    let port = free_port();
    let args = format!(
        "--config.file {cfg} --storage.tsdb.path {data} --web.listen-address 127.0.0.1:{port} \
         --alertmanager.config.file {am} --alertmanager.storage.path {amdata} \
         --alertmanager.disable-listener --rules.alert.resend-delay 1s",
        cfg = cfg.display(),
        data = dir.path().join("data").display(),
        am = am.display(),
        amdata = dir.path().join("am").display(),
    );
    let t = start_tui(&home, &args);
    t.command("alerts");
    t.wait("the quiet Alerts view", Duration::from_secs(10), |s| {
        s.contains("no alerts: all quiet")
    });
    // The target crosses the threshold: pending first (for: 3s), then firing.
    std::fs::write(dir.path().join("value"), "9").unwrap();
    let s = t.wait("the pending alert", Duration::from_secs(15), |s| {
        s.lines()
            .any(|l| l.contains("pending ") && l.contains("DemoHigh"))
    });
    assert!(s.contains("pending in the rule engine"), "{s}");
    let s = t.wait(
        "the firing alert in its route group",
        Duration::from_secs(20),
        |s| {
            s.contains("{alertname=\"DemoHigh\"} → hook")
                && s.lines()
                    .any(|l| l.contains("firing ") && l.contains("DemoHigh"))
        },
    );
    assert!(s.contains("[RB]"), "{s}");
    // Re-notifications arrive every repeat_interval while it fires.
    common::wait_until("two notifications", Duration::from_secs(20), || {
        (notified.load(Ordering::SeqCst) >= 2).then_some(())
    });
    // Acknowledge: select the alert (the last row), `a`, why, Enter.
    t.keys(&["G"]);
    t.keys(&["a"]);
    t.wait("the ack form", Duration::from_secs(5), |s| {
        s.contains("acknowledge DemoHigh")
    });
    t.text("looking into it");
    // For 6 s (an acknowledged alert is left out of notifications until then), so the
    // silence below is what keeps the sink quiet afterwards.
    t.keys(&["Tab"]);
    t.text("6s");
    t.keys(&["Enter"]);
    t.wait("the ack marker", Duration::from_secs(10), |s| {
        s.contains("[ACK]")
    });
    let acks = common::api_get(&format!("http://127.0.0.1:{port}"), "/api/v2/acks", &[])
        .expect("GET /api/v2/acks");
    assert_eq!(acks[0]["createdBy"], "oncall", "{acks}");
    assert_eq!(acks[0]["comment"], "looking into it", "{acks}");
    // Silence it from the alert: the editor is prefilled with its labels.
    t.keys(&["s"]);
    let s = t.wait("the silence editor", Duration::from_secs(5), |s| {
        s.contains("new silence") && s.contains("Preview: 1 alert(s) caught")
    });
    assert!(s.contains("alertname=\"DemoHigh\""), "{s}");
    t.text("e2e maintenance");
    t.keys(&["Enter"]);
    t.wait("the confirm step", Duration::from_secs(5), |s| {
        s.contains("Create this silence for 2h (1 alert now)?")
    });
    t.keys(&["y"]);
    t.wait("the silenced alert", Duration::from_secs(10), |s| {
        s.lines()
            .any(|l| l.contains("silenced ") && l.contains("DemoHigh"))
    });
    // amtool sees it.
    if peer_available(AMTOOL) {
        let out = Command::new(AMTOOL)
            .args([
                "silence",
                "query",
                &format!("--alertmanager.url=http://127.0.0.1:{port}"),
            ])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "amtool: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            text.contains("e2e maintenance")
                && text.contains("alertname=\"DemoHigh\"")
                && text.contains("oncall"),
            "amtool silence query:\n{text}"
        );
    }
    // No more re-notifications while silenced (repeat_interval is 2s), once the
    // acknowledgement has expired.
    common::wait_until(
        "the acknowledgement to expire",
        Duration::from_secs(20),
        || {
            let acks = common::api_get(&format!("http://127.0.0.1:{port}"), "/api/v2/acks", &[])?;
            (acks[0]["status"]["state"] == "expired").then_some(())
        },
    );
    std::thread::sleep(Duration::from_millis(1500));
    let before = notified.load(Ordering::SeqCst);
    std::thread::sleep(Duration::from_secs(7));
    assert_eq!(
        notified.load(Ordering::SeqCst),
        before,
        "notified while silenced"
    );
    // Expire the silence from the Silences view; notifications resume.
    t.command("silences");
    t.wait("the Silences view", Duration::from_secs(10), |s| {
        s.contains("e2e maintenance") && s.contains("1 active")
    });
    t.keys(&["x"]);
    t.wait("the expire confirmation", Duration::from_secs(5), |s| {
        s.contains("Expire the selected silence?")
    });
    t.keys(&["y"]);
    t.wait("the expired silence", Duration::from_secs(10), |s| {
        s.contains("0 active")
            && s.lines()
                .any(|l| l.contains("expired") && l.contains("oncall"))
    });
    common::wait_until("notifications to resume", Duration::from_secs(20), || {
        (notified.load(Ordering::SeqCst) > before).then_some(())
    });
    t.command("q");
    t.wait("the exit", Duration::from_secs(15), |s| {
        s.contains("EXITED rc=0")
    });
}

#[test]
fn remote_views_over_real_prometheus_and_alertmanager() {
    if !peer_available(TMUX)
        || !peer_available(PYTHON)
        || !peer_available(PROMETHEUS)
        || !peer_available(ALERTMANAGER)
    {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let (_exporter, exp_port) = python_exporter(dir.path());
    std::fs::write(dir.path().join("value"), "9").unwrap();
    let (hook_port, notified) = webhook_sink();
    std::fs::write(
        dir.path().join("am.yml"),
        format!(
            "route:\n  receiver: hook\n  group_by: [alertname]\n  group_wait: 1s\n  group_interval: 1s\n  repeat_interval: 2s\nreceivers:\n- name: hook\n  webhook_configs:\n  - url: http://127.0.0.1:{hook_port}/hook\n    send_resolved: false\n"
        ),
    )
    .unwrap();
    let (_am, am_port) = start_alertmanager(dir.path(), &[], Stdio::null());
    let am = format!("http://127.0.0.1:{am_port}");
    std::fs::write(
        dir.path().join("rules.yml"),
        "groups:\n- name: demo\n  interval: 1s\n  rules:\n  - alert: DemoHigh\n    expr: demo_value > 5\n    for: 3s\n    labels:\n      severity: critical\n    annotations:\n      summary: demo value is {{ $value }}\n",
    )
    .unwrap();
    let prom_port = free_port();
    std::fs::write(
        dir.path().join("prometheus.yml"),
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files: [{rules}]\nalerting:\n  alertmanagers:\n  - static_configs:\n    - targets: ['127.0.0.1:{am_port}']\nscrape_configs:\n- job_name: demo\n  static_configs:\n  - targets: ['127.0.0.1:{exp_port}']\n",
            rules = dir.path().join("rules.yml").display()
        ),
    )
    .unwrap();
    let _prom = spawn_prometheus(
        &dir.path().join("prometheus.yml"),
        &dir.path().join("prom"),
        prom_port,
        Stdio::null(),
    );
    let prom = format!("http://127.0.0.1:{prom_port}");
    assert!(wait_http_ok(
        &format!("{prom}/-/ready"),
        Duration::from_secs(30)
    ));
    let t = start_tui(&home, &format!("--remote {prom} --alertmanager.url {am}"));
    t.command("alerts");
    // Pending in Prometheus first, then firing in Alertmanager's route group.
    t.wait("the pending alert", Duration::from_secs(20), |s| {
        s.lines()
            .any(|l| l.contains("pending ") && l.contains("DemoHigh"))
            || s.contains("{alertname=\"DemoHigh\"} → hook")
    });
    let s = t.wait(
        "the firing alert in Alertmanager's group",
        Duration::from_secs(30),
        |s| {
            s.contains("{alertname=\"DemoHigh\"} → hook")
                && s.lines()
                    .any(|l| l.contains("firing ") && l.contains("DemoHigh"))
        },
    );
    assert!(s.contains(&format!("[{am}]")), "{s}");
    common::wait_until("a notification", Duration::from_secs(20), || {
        (notified.load(Ordering::SeqCst) >= 1).then_some(())
    });
    // Acknowledgements are promtui's extension: a real Alertmanager has none.
    t.keys(&["G"]);
    t.keys(&["a"]);
    t.wait("the ack form", Duration::from_secs(5), |s| {
        s.contains("acknowledge DemoHigh")
    });
    t.text("x");
    t.keys(&["Enter"]);
    t.wait("the unsupported ack", Duration::from_secs(10), |s| {
        s.contains("does not support them")
    });
    // Silence it from the alert; Alertmanager has it and marks the alert.
    t.keys(&["s"]);
    t.wait("the silence editor", Duration::from_secs(5), |s| {
        s.contains("Preview: 1 alert(s) caught")
    });
    t.text("remote maintenance");
    t.keys(&["Enter"]);
    t.wait("the confirm step", Duration::from_secs(5), |s| {
        s.contains("Create this silence")
    });
    t.keys(&["y"]);
    t.wait("the silenced alert", Duration::from_secs(15), |s| {
        s.lines()
            .any(|l| l.contains("silenced ") && l.contains("DemoHigh"))
    });
    let sils = common::api_get(&am, "/api/v2/silences", &[]).expect("GET silences");
    assert_eq!(sils[0]["comment"], "remote maintenance", "{sils}");
    assert_eq!(sils[0]["createdBy"], "oncall", "{sils}");
    // The Silences view lists it with its matched-alert count; expire it there.
    t.command("silences");
    t.wait("the Silences view", Duration::from_secs(10), |s| {
        s.lines()
            .any(|l| l.contains("remote maintenance") && l.contains("active") && l.contains(" 1 "))
    });
    t.keys(&["x"]);
    t.wait("the expire confirmation", Duration::from_secs(5), |s| {
        s.contains("Expire the selected silence?")
    });
    t.keys(&["y"]);
    t.wait("the expired silence", Duration::from_secs(15), |s| {
        s.contains("0 active")
    });
    let sils = common::api_get(&am, "/api/v2/silences", &[]).expect("GET silences");
    assert_eq!(sils[0]["status"]["state"], "expired", "{sils}");
    t.command("q");
    t.wait("the exit", Duration::from_secs(15), |s| {
        s.contains("EXITED rc=0")
    });
}
