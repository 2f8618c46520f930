//! The slack, pagerduty and email integrations against Debian's Alertmanager 0.25 in one
//! run: the same receiver entries (slack and pagerduty with defaults and with every
//! field templated, email with the default HTML and with text, HTML and custom headers)
//! go to a real Alertmanager and to promtui's integrations, both pointed at the same
//! local sinks (an HTTP sink here, an aiosmtpd SMTP sink per side). Alertmanager gets
//! the alerts through `POST /api/v2/alerts`; promtui's integrations are driven with the
//! notification Alertmanager's webhook reported (same group key, fingerprints, times),
//! until the dispatcher lands. Payloads are compared field by field, e-mails by
//! envelope, headers and body parts.
//!
//! Skips with a printed reason when the Alertmanager, python3 or aiosmtpd is missing;
//! fails instead under PROMTUI_REQUIRE_PEERS=1.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use common::*;
use promtui::alerting::notify::{
    build_integration, BuildContext, Integration, NotifyAlert, NotifyData, Status, Templates,
};

/// One POST the sink received.
#[derive(Clone, Debug)]
struct Req {
    path: String,
    /// The Authorization header, if any.
    auth: Option<String>,
    body: String,
}

/// A loopback HTTP sink recording every POST; a path under `/status/CODE` answers CODE.
struct HttpSink {
    port: u16,
    reqs: Arc<Mutex<Vec<Req>>>,
}

impl HttpSink {
    fn start() -> HttpSink {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let reqs = Arc::new(Mutex::new(Vec::new()));
        let r = reqs.clone();
        std::thread::spawn(move || {
            for s in l.incoming() {
                let Ok(mut s) = s else { continue };
                let r = r.clone();
                std::thread::spawn(move || {
                    let mut rd = BufReader::new(s.try_clone().unwrap());
                    let mut first = String::new();
                    if rd.read_line(&mut first).is_err() {
                        return;
                    }
                    let path = first.split(' ').nth(1).unwrap_or("").to_string();
                    let mut len = 0;
                    let mut auth = None;
                    loop {
                        let mut h = String::new();
                        if rd.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                            break;
                        }
                        if let Some((k, v)) = h.split_once(':') {
                            if k.eq_ignore_ascii_case("content-length") {
                                len = v.trim().parse().unwrap_or(0);
                            }
                            if k.eq_ignore_ascii_case("authorization") {
                                auth = Some(v.trim().to_string());
                            }
                        }
                    }
                    let mut body = vec![0; len];
                    let _ = rd.read_exact(&mut body);
                    let code = path
                        .strip_prefix("/status/")
                        .and_then(|c| c.get(..3))
                        .unwrap_or("200")
                        .to_string();
                    r.lock().unwrap().push(Req {
                        path,
                        auth,
                        body: String::from_utf8_lossy(&body).into_owned(),
                    });
                    let _ = write!(
                        s,
                        "HTTP/1.1 {code} X\r\nContent-Length: 4\r\nConnection: close\r\n\r\nbody"
                    );
                });
            }
        });
        HttpSink { port, reqs }
    }

    fn bodies(&self, path: &str) -> Vec<serde_json::Value> {
        self.reqs
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.path == path)
            .map(|r| serde_json::from_str(&r.body).unwrap())
            .collect()
    }
}

/// aiosmtpd on a free port writing to `dir` (options: see the script); `None` (after
/// the skip message) when python3 or aiosmtpd is missing.
fn smtp_sink(dir: &Path, opts: &[&str]) -> Option<(ChildGuard, u16)> {
    let ok = Command::new("python3")
        .args(["-c", "import aiosmtpd"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(
            !require_peers(),
            "python3 with aiosmtpd is missing and PROMTUI_REQUIRE_PEERS=1"
        );
        eprintln!("skipping: python3 -m aiosmtpd is not available (pip install aiosmtpd)");
        return None;
    }
    std::fs::create_dir_all(dir).unwrap();
    let port = free_port();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/alerting/smtp_sink.py");
    let mut cmd = Command::new("python3");
    cmd.arg(script).arg(port.to_string()).arg(dir);
    cmd.args(opts);
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "ready");
    Some((ChildGuard(child), port))
}

/// The messages a sink received, in order: (envelope lines, raw message).
fn mails(dir: &Path) -> Vec<(Vec<String>, String)> {
    let mut out = Vec::new();
    for n in 1.. {
        let eml = dir.join(format!("{n}.eml"));
        if !eml.exists() {
            break;
        }
        let env = std::fs::read_to_string(dir.join(format!("{n}.env"))).unwrap();
        out.push((
            env.lines().map(str::to_string).collect(),
            std::fs::read_to_string(eml).unwrap(),
        ));
    }
    out
}

/// Alertmanager's webhook body as the notification promtui's integrations get.
fn notify_data(b: &serde_json::Value) -> NotifyData {
    let map = |v: &serde_json::Value| -> BTreeMap<String, String> {
        v.as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
            .collect()
    };
    let status = |v: &serde_json::Value| {
        if v == "firing" {
            Status::Firing
        } else {
            Status::Resolved
        }
    };
    let time = |v: &serde_json::Value| -> Option<DateTime<Utc>> {
        let s = v.as_str().unwrap();
        (!s.starts_with("0001-"))
            .then(|| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc))
    };
    NotifyData {
        receiver: b["receiver"].as_str().unwrap().into(),
        status: status(&b["status"]),
        alerts: b["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| NotifyAlert {
                status: status(&a["status"]),
                labels: map(&a["labels"]),
                annotations: map(&a["annotations"]),
                starts_at: time(&a["startsAt"]).unwrap(),
                ends_at: time(&a["endsAt"]),
                generator_url: a["generatorURL"].as_str().unwrap().into(),
                fingerprint: a["fingerprint"].as_str().unwrap().into(),
            })
            .collect(),
        group_labels: map(&b["groupLabels"]),
        common_labels: map(&b["commonLabels"]),
        common_annotations: map(&b["commonAnnotations"]),
        external_url: b["externalURL"].as_str().unwrap().into(),
        group_key: b["groupKey"].as_str().unwrap().into(),
    }
}

/// The receiver under test; `{SINK}`, `{SMTP}` and `{SIDE}` are filled per side.
const RECEIVER: &str = r#"
- name: team
  webhook_configs:
  - url: 'http://127.0.0.1:{SINK}/{SIDE}/webhook'
    send_resolved: true
  slack_configs:
  - channel: '#default'
  - channel: '#full {{ .GroupLabels.alertname }}'
    send_resolved: true
    username: 'bot-{{ .Status }}'
    icon_url: 'http://icons/{{ .Status }}.png'
    icon_emoji: ':fire:'
    color: '{{ if eq .Status "firing" }}#ff0000{{ else }}#00ff00{{ end }}'
    title: 'T {{ .CommonLabels.alertname }} {{ .CommonLabels.Remove .GroupLabels.Names }}'
    title_link: 'http://runbook/{{ .CommonLabels.alertname | toLower }}'
    pretext: 'pre {{ .Receiver | title }}'
    text: '{{ template "__text_alert_list" .Alerts }}{{ range .Alerts.Firing }}{{ .StartsAt }} {{ .Fingerprint }}{{ end }}'
    footer: '{{ reReplaceAll "(.*):.*" "$1" (index .Alerts 0).Labels.instance }}'
    fallback: 'fb {{ .Status }} {{ match "^Disk" .CommonLabels.alertname }}'
    callback_id: 'cb-{{ .GroupLabels.SortedPairs.Values | join "," }}'
    image_url: 'http://img/x.png'
    thumb_url: 'http://img/t.png'
    link_names: true
    short_fields: true
    mrkdwn_in: [title, text]
    fields:
    - title: 'Severity'
      value: '{{ .CommonLabels.severity }}'
    - title: 'Long'
      value: '{{ len .Alerts }}'
      short: false
    actions:
    - type: button
      text: 'Runbook {{ .GroupLabels.alertname }}'
      url: 'http://runbook/x'
      style: primary
      name: dropped-because-url
    - type: button
      text: 'Ack'
      name: ack
      value: '{{ .GroupLabels.alertname }}'
      confirm:
        title: 'Sure?'
        text: 'Ack {{ .GroupLabels.alertname }}'
        ok_text: 'Yes'
        dismiss_text: 'No'
  pagerduty_configs:
  - routing_key: 'rk-default'
  - routing_key: 'rk-{{ .GroupLabels.alertname }}'
    url: 'http://127.0.0.1:{SINK}/{SIDE}/pd-full'
    send_resolved: true
    client: 'cl {{ .Receiver }}'
    client_url: 'http://client/{{ .Receiver }}'
    description: '{{ template "__subject" . }} {{ .CommonAnnotations.summary }}'
    severity: '{{ .CommonLabels.severity }}'
    class: 'cls'
    component: 'comp'
    group: 'grp'
    details:
      extra: '{{ .CommonLabels.job }}'
      firing: 'custom {{ .Alerts.Firing | len }}'
    images:
    - src: 'http://img/{{ .GroupLabels.alertname }}.png'
      alt: 'alt'
      href: 'http://href'
    - src: ''
      alt: 'dropped'
    links:
    - href: 'http://link/{{ .GroupLabels.alertname }}'
      text: 'lnk'
    - href: ''
      text: 'dropped'
  email_configs:
  - to: 'ops@example.org, Two <two@example.org>'
  - to: 'text@example.org'
    send_resolved: true
    text: '{{ template "__text_alert_list" .Alerts }}'
    html: '<p>{{ (index .Alerts 0).Annotations.description }}</p>{{ safeHtml "<i>ok</i>" }}<a href="{{ (index .Alerts 0).GeneratorURL }}">s</a>'
    headers:
      subject: 'Custom {{ .Status }} é {{ template "__subject" . }}'
      X-Custom: 'x {{ .Receiver }}'
"#;

fn config(sink: u16, smtp: u16, side: &str) -> String {
    format!(
        "global:\n  smtp_smarthost: '127.0.0.1:{smtp}'\n  smtp_from: 'Alertmanager <am@example.org>'\n  \
         smtp_hello: 'am.example.org'\n  smtp_require_tls: false\n  \
         slack_api_url: 'http://127.0.0.1:{sink}/{side}/slack'\n  \
         pagerduty_url: 'http://127.0.0.1:{sink}/{side}/pd'\nroute:\n  receiver: team\n  \
         group_by: [alertname]\n  group_wait: 1s\n  group_interval: 2s\n  repeat_interval: 1h\nreceivers:{}",
        RECEIVER
            .replace("{SINK}", &sink.to_string())
            .replace("{SIDE}", side)
    )
}

/// promtui's integrations built from the same file, in receiver order.
fn integrations(cfg: &str, dir: &Path) -> Vec<Arc<dyn Integration>> {
    let doc: serde_yaml::Value = serde_yaml::from_str(cfg).unwrap();
    let ctx = BuildContext {
        global: doc["global"].as_mapping().unwrap().clone(),
        base_dir: dir.to_path_buf(),
        templates: Arc::new(Templates::default()),
        client: reqwest::Client::new(),
    };
    let rcv = &doc["receivers"][0];
    let mut out = Vec::new();
    for kind in ["slack", "pagerduty", "email"] {
        for (i, e) in rcv[format!("{kind}_configs")]
            .as_sequence()
            .unwrap()
            .iter()
            .enumerate()
        {
            out.push(build_integration(kind, i, e, &ctx).unwrap());
        }
    }
    out
}

/// Headers by name and the body, of a raw message.
fn split_message(m: &str) -> (BTreeMap<String, String>, String) {
    let m = m.replace("\r\n", "\n");
    let (h, b) = m.split_once("\n\n").unwrap();
    let headers = h
        .lines()
        .map(|l| {
            let (k, v) = l.split_once(": ").unwrap();
            (k.to_string(), v.to_string())
        })
        .collect();
    (headers, b.to_string())
}

/// The parts of a multipart body: (part headers, decoded-as-text quoted-printable body).
fn parts(headers: &BTreeMap<String, String>, body: &str) -> Vec<(String, String)> {
    let boundary = headers["Content-Type"].split("boundary=").nth(1).unwrap();
    body.split(&format!("--{boundary}"))
        .skip(1)
        .filter(|p| !p.starts_with("--"))
        .map(|p| {
            let (h, b) = p.trim_start_matches('\n').split_once("\n\n").unwrap();
            (h.to_string(), b.to_string())
        })
        .collect()
}

/// Decodes a quoted-printable body (line ends already `\n`).
fn qp_decode(s: &str) -> String {
    let s = s.replace("=\n", "");
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'=' && i + 2 < b.len() + 1 {
            if let Ok(v) = u8::from_str_radix(
                std::str::from_utf8(&b[i + 1..(i + 3).min(b.len())]).unwrap_or(""),
                16,
            ) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// What a reader sees of an HTML body: its text, white space collapsed, and its links.
fn visible(qp_html: &str) -> (String, Vec<String>) {
    let html = qp_decode(qp_html);
    let body = &html[html.find("<body").unwrap_or(0)..];
    let mut text = String::new();
    let mut hrefs = Vec::new();
    let mut rest = body;
    while let Some(lt) = rest.find('<') {
        text.push_str(&rest[..lt]);
        text.push(' ');
        let gt = rest[lt..].find('>').map_or(rest.len(), |g| lt + g);
        let tag = &rest[lt..gt];
        if let Some(h) = tag.find("href=\"") {
            let v = &tag[h + 6..];
            hrefs.push(v[..v.find('"').unwrap_or(v.len())].to_string());
        }
        rest = &rest[(gt + 1).min(rest.len())..];
    }
    text.push_str(rest);
    (text.split_whitespace().collect::<Vec<_>>().join(" "), hrefs)
}

const ALERTS: &str = r#"[
 {"labels":{"alertname":"DiskFull","severity":"page","instance":"a:9100","job":"node"},
  "annotations":{"summary":"Disk full","description":"Disk <b>&\"'+ almost full é"},
  "startsAt":"2026-01-07T10:00:00.123Z","generatorURL":"http://prom:9090/graph?g0.expr=up+%3D%3D+0&g0.tab=1"},
 {"labels":{"alertname":"DiskFull","severity":"page","instance":"b:9100","job":"node"},
  "annotations":{"summary":"Disk full","description":"second"},
  "startsAt":"2026-01-07T10:00:01Z","generatorURL":"http://prom:9090/graph?g0.expr=x"}]"#;

#[test]
fn slack_pagerduty_and_email_match_alertmanager_025() {
    if !peer_available(ALERTMANAGER) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let sink = HttpSink::start();
    let am_mail = dir.path().join("am-mail");
    let pt_mail = dir.path().join("promtui-mail");
    let Some((_am_smtp, am_smtp_port)) = smtp_sink(&am_mail, &[]) else {
        return;
    };
    let Some((_pt_smtp, pt_smtp_port)) = smtp_sink(&pt_mail, &[]) else {
        return;
    };
    let am_cfg = config(sink.port, am_smtp_port, "am");
    let pt_cfg = config(sink.port, pt_smtp_port, "promtui");
    std::fs::write(dir.path().join("am.yml"), &am_cfg).unwrap();
    let log = std::fs::File::create(dir.path().join("am.log")).unwrap();
    let (_am, am_port) = start_alertmanager(
        dir.path(),
        &["--web.external-url=http://am.example:9093"],
        log,
    );
    let am = format!("http://127.0.0.1:{am_port}");
    let ours = integrations(&pt_cfg, dir.path());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();

    // Round 1: both alerts fire. Round 2: both resolve (send_resolved entries only).
    let resolved = ALERTS.replace(
        "\"startsAt\"",
        "\"endsAt\":\"2026-01-07T11:00:00Z\",\"startsAt\"",
    );
    for (round, body) in [(1usize, ALERTS.to_string()), (2, resolved)] {
        ureq::post(&format!("{am}/api/v2/alerts"))
            .set("Content-Type", "application/json")
            .send_string(&body)
            .unwrap();
        // Firing: 2 slack, 2 pagerduty, 2 mails; resolved: 1 slack, 2 pagerduty, 1 mail.
        let (slacks, mails_n) = if round == 1 { (2, 2) } else { (3, 3) };
        let hook = wait_until(
            "Alertmanager's notifications",
            Duration::from_secs(30),
            || {
                let hooks = sink.bodies("/am/webhook");
                (hooks.len() >= round
                    && sink.bodies("/am/slack").len() >= slacks
                    && sink.bodies("/am/pd").len() >= round
                    && sink.bodies("/am/pd-full").len() >= round
                    && mails(&am_mail).len() >= mails_n)
                    .then(|| hooks[round - 1].clone())
            },
        );
        let data = notify_data(&hook);
        rt.block_on(async {
            for i in &ours {
                let send = data.status == Status::Firing || i.send_resolved();
                if send {
                    i.notify(&data)
                        .await
                        .unwrap_or_else(|e| panic!("{}_configs[{}]: {e}", i.kind(), i.index()));
                }
            }
        });
    }

    // Slack and PagerDuty, payload by payload, field by field. Alertmanager sends to its
    // integrations concurrently: order each side by Slack channel (stable, so each
    // channel's notifications stay in order).
    let by_channel = |mut v: Vec<serde_json::Value>| {
        v.sort_by_key(|b| b["channel"].as_str().unwrap_or("").to_string());
        v
    };
    for path in ["slack", "pd", "pd-full"] {
        let theirs = by_channel(sink.bodies(&format!("/am/{path}")));
        let mine = by_channel(sink.bodies(&format!("/promtui/{path}")));
        assert_eq!(theirs.len(), mine.len(), "{path}: number of payloads");
        for (t, m) in theirs.iter().zip(&mine) {
            let (t, m) = (t.as_object().unwrap(), m.as_object().unwrap());
            assert_eq!(
                t.keys().collect::<Vec<_>>(),
                m.keys().collect::<Vec<_>>(),
                "{path}: fields"
            );
            for (k, v) in t {
                assert_eq!(&m[k], v, "{path}: field {k}");
            }
        }
        assert!(!theirs.is_empty());
    }
    // The default entry sent no resolved message (send_resolved: false).
    let channels: Vec<String> = by_channel(sink.bodies("/promtui/slack"))
        .iter()
        .map(|b| b["channel"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(channels, ["#default", "#full DiskFull", "#full DiskFull"]);

    // E-mail: envelopes, headers and bodies.
    let theirs = mails(&am_mail);
    let mine = mails(&pt_mail);
    assert_eq!(theirs.len(), 3);
    assert_eq!(mine.len(), 3);
    let by_rcpt = |m: &[(Vec<String>, String)], rcpt: &str| -> Vec<(Vec<String>, String)> {
        m.iter().filter(|(e, _)| e[1] == rcpt).cloned().collect()
    };
    for rcpt in ["ops@example.org", "text@example.org"] {
        for ((te, tm), (me, mm)) in by_rcpt(&theirs, rcpt)
            .iter()
            .zip(by_rcpt(&mine, rcpt).iter())
        {
            assert_eq!(te, me, "envelope to {rcpt}");
            let (th, tb) = split_message(tm);
            let (mh, mb) = split_message(mm);
            assert_eq!(
                th.keys().collect::<Vec<_>>(),
                mh.keys().collect::<Vec<_>>(),
                "header names"
            );
            for h in ["Subject", "To", "From", "X-Custom", "MIME-Version"] {
                assert_eq!(th.get(h), mh.get(h), "{h} to {rcpt}");
            }
            for h in ["Message-Id", "Date", "Content-Type"] {
                assert!(mh.contains_key(h), "{h}");
            }
            let (tp, mp) = (parts(&th, &tb), parts(&mh, &mb));
            assert_eq!(tp.len(), mp.len(), "parts to {rcpt}");
            for ((tph, tpb), (mph, mpb)) in tp.iter().zip(&mp) {
                assert_eq!(tph, mph, "part headers");
                if tph.contains("text/html") && rcpt == "ops@example.org" {
                    // promtui's own markup around the same text and links.
                    assert_eq!(visible(tpb), visible(mpb), "default html");
                } else {
                    assert_eq!(tpb.trim_end(), mpb.trim_end(), "part body to {rcpt}");
                }
            }
        }
    }
}

/// Alertmanager's retry verdicts: 2xx done, 5xx and 429 retried, other 4xx final.
#[test]
fn http_errors_are_classified_as_alertmanager_does() {
    let sink = HttpSink::start();
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let data = NotifyData {
        receiver: "r".into(),
        status: Status::Firing,
        alerts: vec![NotifyAlert {
            status: Status::Firing,
            labels: BTreeMap::from([("alertname".into(), "A".into())]),
            annotations: BTreeMap::new(),
            starts_at: Utc::now(),
            ends_at: None,
            generator_url: String::new(),
            fingerprint: "0000000000000001".into(),
        }],
        group_labels: BTreeMap::new(),
        common_labels: BTreeMap::from([("alertname".into(), "A".into())]),
        common_annotations: BTreeMap::new(),
        external_url: "http://x".into(),
        group_key: "{}:{}".into(),
    };
    let ctx = BuildContext {
        global: serde_yaml::Mapping::new(),
        base_dir: dir.path().to_path_buf(),
        templates: Arc::new(Templates::default()),
        client: reqwest::Client::new(),
    };
    for (code, retry) in [
        (200, None),
        (500, Some(true)),
        (503, Some(true)),
        (429, Some(true)),
        (400, Some(false)),
        (404, Some(false)),
    ] {
        let url = format!("http://127.0.0.1:{}/status/{code}", sink.port);
        for (kind, entry) in [
            ("slack", format!("api_url: '{url}'")),
            ("pagerduty", format!("{{routing_key: k, url: '{url}'}}")),
        ] {
            let i =
                build_integration(kind, 0, &serde_yaml::from_str(&entry).unwrap(), &ctx).unwrap();
            let r = rt.block_on(i.notify(&data));
            assert_eq!(
                r.as_ref().err().map(|e| e.retryable),
                retry,
                "{kind} {code}: {r:?}"
            );
            if let Err(e) = r {
                assert!(
                    e.message
                        .contains(&format!("unexpected status code {code}")),
                    "{e}"
                );
                // The Slack webhook URL is a secret: never in the message.
                assert!(!e.message.contains("/status/"), "{e}");
            }
        }
    }
    // Nothing listening: retryable.
    let closed = format!("http://127.0.0.1:{}/x", free_port());
    let i = build_integration(
        "slack",
        0,
        &serde_yaml::from_str(&format!("api_url: '{closed}'")).unwrap(),
        &ctx,
    )
    .unwrap();
    assert!(rt.block_on(i.notify(&data)).unwrap_err().retryable);
    // Basic auth from http_config reaches the request.
    let url = format!("http://127.0.0.1:{}/auth", sink.port);
    let entry =
        format!("{{api_url: '{url}', http_config: {{basic_auth: {{username: u, password: p}}}}}}");
    let i = build_integration("slack", 0, &serde_yaml::from_str(&entry).unwrap(), &ctx).unwrap();
    rt.block_on(i.notify(&data)).unwrap();
    // And the authorization header, credentials from a file, from global.http_config.
    std::fs::write(dir.path().join("token"), "t0ken\n").unwrap();
    let global_ctx = BuildContext {
        global: serde_yaml::from_str(
            "http_config: {authorization: {type: Bearer, credentials_file: token}}",
        )
        .unwrap(),
        ..ctx.clone()
    };
    let entry = format!(
        "{{routing_key: k, url: 'http://127.0.0.1:{}/auth'}}",
        sink.port
    );
    let i = build_integration(
        "pagerduty",
        0,
        &serde_yaml::from_str(&entry).unwrap(),
        &global_ctx,
    )
    .unwrap();
    rt.block_on(i.notify(&data)).unwrap();
    let auths: Vec<Option<String>> = sink
        .reqs
        .lock()
        .unwrap()
        .iter()
        .filter(|r| r.path == "/auth")
        .map(|r| r.auth.clone())
        .collect();
    assert_eq!(
        auths,
        [
            Some("Basic dTpw".to_string()),
            Some("Bearer t0ken".to_string())
        ]
    );
}

/// SMTP AUTH (PLAIN, then LOGIN when PLAIN is not offered) against aiosmtpd requiring it.
#[test]
fn email_authenticates_with_the_smarthost() {
    let dir = tempfile::tempdir().unwrap();
    let mail_dir: PathBuf = dir.path().join("mail");
    let Some((_smtp, port)) = smtp_sink(&mail_dir, &["--auth", "alice:s3cret"]) else {
        return;
    };
    let ctx = BuildContext {
        global: serde_yaml::from_str(&format!(
            "{{smtp_smarthost: 'localhost:{port}', smtp_from: 'am@example.org', smtp_require_tls: false, \
             smtp_auth_username: alice, smtp_auth_password: s3cret}}"
        ))
        .unwrap(),
        base_dir: dir.path().to_path_buf(),
        templates: Arc::new(Templates::default()),
        client: reqwest::Client::new(),
    };
    let data = NotifyData {
        receiver: "r".into(),
        status: Status::Firing,
        alerts: vec![NotifyAlert {
            status: Status::Firing,
            labels: BTreeMap::from([("alertname".into(), "A".into())]),
            annotations: BTreeMap::new(),
            starts_at: Utc::now(),
            ends_at: None,
            generator_url: "http://g".into(),
            fingerprint: "0000000000000001".into(),
        }],
        group_labels: BTreeMap::from([("alertname".into(), "A".into())]),
        common_labels: BTreeMap::from([("alertname".into(), "A".into())]),
        common_annotations: BTreeMap::new(),
        external_url: "http://x".into(),
        group_key: "{}:{alertname=\"A\"}".into(),
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let i = build_integration(
        "email",
        0,
        &serde_yaml::from_str("to: ops@example.org").unwrap(),
        &ctx,
    )
    .unwrap();
    rt.block_on(i.notify(&data)).unwrap();
    let got = mails(&mail_dir);
    assert_eq!(got.len(), 1);
    let auth = std::fs::read_to_string(mail_dir.join("1.auth")).unwrap();
    // aiosmtpd offers LOGIN first, and promtui takes the server's order as Go does.
    assert!(["LOGIN", "PLAIN"].contains(&auth.trim()), "{auth}");
    let (h, _) = split_message(&got[0].1);
    assert_eq!(h["Subject"], "[FIRING:1] A ");

    // A wrong password is refused by the server: a retryable failure, nothing delivered.
    let bad = build_integration(
        "email",
        1,
        &serde_yaml::from_str("{to: ops@example.org, auth_password: wrong}").unwrap(),
        &ctx,
    )
    .unwrap();
    let e = rt.block_on(bad.notify(&data)).unwrap_err();
    assert!(e.retryable && e.message.contains("auth"), "{e}");
    assert_eq!(mails(&mail_dir).len(), 1);
}

fn one_alert() -> NotifyData {
    NotifyData {
        receiver: "r".into(),
        status: Status::Firing,
        alerts: vec![NotifyAlert {
            status: Status::Firing,
            labels: BTreeMap::from([("alertname".into(), "A".into())]),
            annotations: BTreeMap::new(),
            starts_at: Utc::now(),
            ends_at: None,
            generator_url: "http://g".into(),
            fingerprint: "0000000000000001".into(),
        }],
        group_labels: BTreeMap::from([("alertname".into(), "A".into())]),
        common_labels: BTreeMap::from([("alertname".into(), "A".into())]),
        common_annotations: BTreeMap::new(),
        external_url: "http://x".into(),
        group_key: "{}:{alertname=\"A\"}".into(),
    }
}

fn email_ctx(dir: &Path, global: &str) -> BuildContext {
    BuildContext {
        global: serde_yaml::from_str(global).unwrap(),
        base_dir: dir.to_path_buf(),
        templates: Arc::new(Templates::default()),
        client: reqwest::Client::new(),
    }
}

/// PLAIN when it is the only mechanism offered.
#[test]
fn email_authenticates_with_plain() {
    let dir = tempfile::tempdir().unwrap();
    let mail_dir = dir.path().join("mail");
    let Some((_smtp, port)) = smtp_sink(
        &mail_dir,
        &["--auth", "alice:s3cret", "--only-mechanism", "PLAIN"],
    ) else {
        return;
    };
    let ctx = email_ctx(
        dir.path(),
        &format!(
            "{{smtp_smarthost: 'localhost:{port}', smtp_from: 'am@example.org', smtp_require_tls: false}}"
        ),
    );
    std::fs::write(dir.path().join("pw"), "s3cret\n").unwrap();
    let i = build_integration(
        "email",
        0,
        &serde_yaml::from_str(
            "{to: ops@example.org, auth_username: alice, auth_password_file: pw, auth_identity: ''}",
        )
        .unwrap(),
        &ctx,
    )
    .unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(i.notify(&one_alert())).unwrap();
    let auth = std::fs::read_to_string(mail_dir.join("1.auth")).unwrap();
    assert_eq!(auth.trim(), "PLAIN");
}

/// STARTTLS with `require_tls` (the default): the session is upgraded and the server's
/// certificate checked against `tls_config.ca_file`; a server without STARTTLS is refused
/// with Alertmanager's message.
#[test]
fn email_upgrades_with_starttls() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    // A test CA and a server certificate for localhost signed by it.
    std::fs::write(
        dir.path().join("ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\n",
    )
    .unwrap();
    let openssl = |args: &[&str]| {
        Command::new("openssl")
            .args(args)
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    let made = openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=promtui test CA",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
    ]) && openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=localhost",
        "-keyout",
        "key.pem",
        "-out",
        "leaf.csr",
    ]) && openssl(&[
        "x509",
        "-req",
        "-in",
        "leaf.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "ext",
        "-out",
        "cert.pem",
    ]);
    if !made {
        assert!(
            !require_peers(),
            "openssl is missing and PROMTUI_REQUIRE_PEERS=1"
        );
        eprintln!("skipping: openssl could not make test certificates");
        return;
    }
    let mail_dir = dir.path().join("mail");
    let (c, k) = (
        cert.to_string_lossy().into_owned(),
        key.to_string_lossy().into_owned(),
    );
    let Some((_smtp, port)) = smtp_sink(&mail_dir, &["--starttls", &c, &k]) else {
        return;
    };
    let ctx = email_ctx(
        dir.path(),
        &format!("{{smtp_smarthost: 'localhost:{port}', smtp_from: 'am@example.org'}}"),
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let i = build_integration(
        "email",
        0,
        &serde_yaml::from_str("{to: ops@example.org, tls_config: {ca_file: ca.pem}}").unwrap(),
        &ctx,
    )
    .unwrap();
    rt.block_on(i.notify(&one_alert())).unwrap();
    assert!(mail_dir.join("1.tls").exists(), "delivered over TLS");

    // An unknown CA fails the handshake: retryable, nothing delivered.
    let untrusted = build_integration(
        "email",
        1,
        &serde_yaml::from_str("to: ops@example.org").unwrap(),
        &ctx,
    )
    .unwrap();
    let e = rt.block_on(untrusted.notify(&one_alert())).unwrap_err();
    assert!(e.retryable && e.message.contains("STARTTLS"), "{e}");
    assert!(!mail_dir.join("2.eml").exists());

    // A server that does not offer STARTTLS.
    let plain_dir = dir.path().join("plain");
    let Some((_plain, plain_port)) = smtp_sink(&plain_dir, &[]) else {
        return;
    };
    let ctx = email_ctx(
        dir.path(),
        &format!("{{smtp_smarthost: '127.0.0.1:{plain_port}', smtp_from: 'am@example.org'}}"),
    );
    let i = build_integration(
        "email",
        0,
        &serde_yaml::from_str("to: ops@example.org").unwrap(),
        &ctx,
    )
    .unwrap();
    let e = rt.block_on(i.notify(&one_alert())).unwrap_err();
    assert_eq!(
        e.message,
        format!("'require_tls' is true (default) but \"127.0.0.1:{plain_port}\" does not advertise the STARTTLS extension")
    );
}
