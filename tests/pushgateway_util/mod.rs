//! Helpers shared by the Pushgateway tests: starting promtui with its gateway on a free
//! port, raw HTTP calls that return the status code whatever it is, the real Pushgateway
//! 1.5, and a comparable view of a gateway's `/metrics`.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::common::{self, ChildGuard};

pub const PUSHGATEWAY: &str = "/usr/bin/prometheus-pushgateway";
pub const DELIMITED: &str =
    "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited";

/// `promtui serve` with its Pushgateway on `pg_port`; `config` is the prometheus.yml.
pub fn start_promtui(dir: &Path, config: &str, pg_port: u16, extra: &[&str]) -> (ChildGuard, u16) {
    let api = common::free_port();
    let pg_flag = format!("--pushgateway.listen-address=127.0.0.1:{pg_port}");
    let mut flags = vec![pg_flag.as_str()];
    flags.extend_from_slice(extra);
    let child = common::start_serve(dir, config, api, &flags);
    assert!(
        common::wait_http_ok(
            &format!("http://127.0.0.1:{pg_port}/-/healthy"),
            Duration::from_secs(10)
        ),
        "the Pushgateway did not answer on {pg_port}"
    );
    (child, api)
}

/// Starts Debian's Pushgateway 1.5 on a free port with a persistence file in `dir`.
pub fn start_pushgateway(dir: &Path) -> (ChildGuard, u16) {
    let port = common::free_port();
    let log = std::fs::File::create(dir.join("pushgateway.log")).unwrap();
    let child = ChildGuard(
        Command::new(PUSHGATEWAY)
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg(format!(
                "--persistence.file={}",
                dir.join("pushgateway.db").display()
            ))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start prometheus-pushgateway"),
    );
    assert!(
        common::wait_http_ok(
            &format!("http://127.0.0.1:{port}/-/ready"),
            Duration::from_secs(10)
        ),
        "prometheus-pushgateway did not answer"
    );
    (child, port)
}

/// One HTTP request; returns (status, body) for any status.
pub fn call(method: &str, url: &str, headers: &[(&str, &str)], body: &[u8]) -> (u16, String) {
    let mut req = ureq::request(method, url);
    for (k, v) in headers {
        req = req.set(k, v);
    }
    let resp = match req.send_bytes(body) {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{method} {url}: {e}"),
    };
    let status = resp.status();
    let mut text = String::new();
    let _ = resp.into_reader().read_to_string(&mut text);
    (status, text)
}

/// The gateway's `/metrics` body.
pub fn scrape(port: u16) -> String {
    call("GET", &format!("http://127.0.0.1:{port}/metrics"), &[], b"").1
}

/// The pushed part of a `/metrics` body, comparable across gateways: per series
/// (name and labels as text) its value, or for `push_time_seconds` /
/// `push_failure_time_seconds` only whether it is set; per family its type. The
/// gateway's internal families (`pushgateway_*`, `process_*`, `go_*`) are left out.
pub fn comparable(body: &str) -> (BTreeMap<String, String>, BTreeMap<String, String>) {
    let fams =
        promtui::exposition::parse_families(body.as_bytes(), promtui::exposition::Format::PromText)
            .expect("a gateway's /metrics parses");
    let mut series = BTreeMap::new();
    let mut types = BTreeMap::new();
    for f in fams {
        if ["pushgateway_", "process_", "go_"]
            .iter()
            .any(|p| f.name.starts_with(p))
        {
            continue;
        }
        types.insert(f.name.clone(), f.metric_type.text_name().to_string());
        let is_time = f.name == "push_time_seconds" || f.name == "push_failure_time_seconds";
        for s in f.samples {
            let value = if is_time {
                if s.value == 0.0 { "0" } else { "set" }.to_string()
            } else if s.value.is_nan() {
                "NaN".to_string()
            } else {
                s.value.to_string()
            };
            series.insert(s.labels.to_string(), value);
        }
    }
    (series, types)
}
