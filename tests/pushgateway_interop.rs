//! Real clients against promtui's built-in Pushgateway: Python's prometheus_client
//! (push_to_gateway, pushadd_to_gateway, delete_from_gateway, grouping keys that need
//! base64), curl as in the Pushgateway README, and a Go-client-style delimited protobuf
//! body; then the pushed series through promtui's own scrape of the gateway: a target
//! in /api/v1/targets, queryable by PromQL with the grouping-key labels, stale once the
//! group is deleted.
//!
//! Basic auth: promtui's listeners have no web config (TLS/basic auth) yet, so the
//! prometheus_client basic-auth handler is not exercised.

mod common;
mod pushgateway_util;

use std::process::Command;
use std::time::Duration;

use promtui::pushgateway::proto;
use pushgateway_util::{call, scrape, start_promtui, DELIMITED};

fn python_client_available() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import prometheus_client"])
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(
            !common::require_peers(),
            "python3 with prometheus_client is missing and PROMTUI_REQUIRE_PEERS=1"
        );
        eprintln!("skipping: python3 with prometheus_client is not installed");
    }
    ok
}

const PY: &str = r#"
import sys
from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client import push_to_gateway, pushadd_to_gateway, delete_from_gateway
gw = sys.argv[1]
r = CollectorRegistry()
g = Gauge('job_last_success_unixtime', 'Last time a batch job successfully finished', registry=r)
g.set(1234.5)
push_to_gateway(gw, job='batchA', registry=r)
r2 = CollectorRegistry()
c = Counter('processed', 'Items processed.', ['kind'], registry=r2)
c.labels('x').inc(3)
pushadd_to_gateway(gw, job='batchA', registry=r2)
# A job and label values that need base64: '/' and the empty value.
push_to_gateway(gw, job='batch/B', grouping_key={'path': '/var/tmp', 'empty': ''}, registry=r)
push_to_gateway(gw, job='batchC', grouping_key={'instance': 'h1'}, registry=r)
delete_from_gateway(gw, job='batchC', grouping_key={'instance': 'h1'})
print('pushed')
"#;

#[test]
fn prometheus_client_curl_and_go_protobuf_pushes() {
    let dir = tempfile::tempdir().unwrap();
    let pg = common::free_port();
    let (_p, _) = start_promtui(dir.path(), "scrape_configs: []\n", pg, &[]);
    let gw = format!("127.0.0.1:{pg}");

    if python_client_available() {
        let out = Command::new("python3")
            .args(["-c", PY, &gw])
            .output()
            .expect("run python3");
        assert!(
            out.status.success(),
            "prometheus_client failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let m = scrape(pg);
        for want in [
            "# HELP job_last_success_unixtime Last time a batch job successfully finished\n",
            "job_last_success_unixtime{instance=\"\",job=\"batchA\"} 1234.5\n",
            "# TYPE processed_total counter\n",
            "processed_total{instance=\"\",job=\"batchA\",kind=\"x\"} 3\n",
            "job_last_success_unixtime{empty=\"\",instance=\"\",job=\"batch/B\",path=\"/var/tmp\"} 1234.5\n",
        ] {
            assert!(m.contains(want), "missing {want:?} in\n{m}");
        }
        assert!(!m.contains("batchC"), "deleted group still served:\n{m}");
    }

    // The Pushgateway README's curl examples.
    if common::peer_available("/usr/bin/curl") {
        let url = format!("http://{gw}/metrics/job/some_job/instance/some_instance");
        let out = Command::new("curl")
            .args(["-sS", "-f", "--data-binary", "@-", &url])
            .stdin(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut c| {
                use std::io::Write;
                c.stdin.take().unwrap().write_all(
                    b"# TYPE some_metric counter\nsome_metric{label=\"val1\"} 42\n# TYPE another_metric gauge\n# HELP another_metric Just an example.\nanother_metric 2398.283\n",
                )?;
                c.wait_with_output()
            })
            .expect("curl");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let m = scrape(pg);
        assert!(
            m.contains(
                "some_metric{instance=\"some_instance\",job=\"some_job\",label=\"val1\"} 42\n"
            ),
            "{m}"
        );
        assert!(m.contains("# HELP another_metric Just an example.\n# TYPE another_metric gauge\nanother_metric{instance=\"some_instance\",job=\"some_job\"} 2398.283\n"), "{m}");
        let st = Command::new("curl")
            .args(["-sS", "-f", "-X", "DELETE", &url])
            .status()
            .unwrap();
        assert!(st.success());
        assert!(!scrape(pg).contains("some_job"));
    }

    // What the Go client sends by default: varint-delimited MetricFamily messages.
    let body = proto::encode_delimited(&[proto::MetricFamily {
        name: Some("go_batch_duration_seconds".into()),
        help: Some("Duration of the batch.".into()),
        r#type: Some(proto::MetricType::Histogram as i32),
        metric: vec![proto::Metric {
            histogram: Some(proto::Histogram {
                sample_count: Some(3),
                sample_sum: Some(4.5),
                bucket: vec![
                    proto::Bucket {
                        cumulative_count: Some(1),
                        upper_bound: Some(1.0),
                        cumulative_count_float: None,
                    },
                    proto::Bucket {
                        cumulative_count: Some(3),
                        upper_bound: Some(5.0),
                        cumulative_count_float: None,
                    },
                ],
                sample_count_float: None,
            }),
            ..Default::default()
        }],
    }]);
    let (code, msg) = call(
        "PUT",
        &format!("http://{gw}/metrics/job/gojob"),
        &[("Content-Type", DELIMITED)],
        &body,
    );
    assert_eq!(code, 200, "{msg}");
    let m = scrape(pg);
    for want in [
        "# TYPE go_batch_duration_seconds histogram\n",
        "go_batch_duration_seconds_bucket{instance=\"\",job=\"gojob\",le=\"1\"} 1\n",
        "go_batch_duration_seconds_bucket{instance=\"\",job=\"gojob\",le=\"5\"} 3\n",
        "go_batch_duration_seconds_bucket{instance=\"\",job=\"gojob\",le=\"+Inf\"} 3\n",
        "go_batch_duration_seconds_sum{instance=\"\",job=\"gojob\"} 4.5\n",
        "go_batch_duration_seconds_count{instance=\"\",job=\"gojob\"} 3\n",
    ] {
        assert!(m.contains(want), "missing {want:?} in\n{m}");
    }
    // A truncated protobuf body is a 400 that says where.
    let (code, msg) = call(
        "PUT",
        &format!("http://{gw}/metrics/job/gojob"),
        &[("Content-Type", DELIMITED)],
        &body[..body.len() - 3],
    );
    assert_eq!(code, 400);
    assert!(msg.contains("message 0 at byte 0"), "{msg}");
}

fn query(api: u16, expr: &str) -> Vec<serde_json::Value> {
    let v = common::api_get(
        &format!("http://127.0.0.1:{api}"),
        "/api/v1/query",
        &[("query", expr)],
    )
    .unwrap_or_default();
    v["data"]["result"].as_array().cloned().unwrap_or_default()
}

#[test]
fn pushed_series_are_scraped_with_honor_labels_and_go_stale_when_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let pg = common::free_port();
    let config = format!(
        "global:\n  scrape_interval: 200ms\n  scrape_timeout: 200ms\nscrape_configs:\n  \
         - job_name: pushgateway\n    honor_labels: true\n    static_configs:\n      \
         - targets: ['127.0.0.1:{pg}']\n"
    );
    let (_p, api) = start_promtui(dir.path(), &config, pg, &[]);
    let (code, _) = call(
        "PUT",
        &format!("http://127.0.0.1:{pg}/metrics/job/nightly/instance/db1/shard@base64/YS9i"),
        &[],
        b"# TYPE backup_bytes gauge\nbackup_bytes{kind=\"full\"} 1024\n",
    );
    assert_eq!(code, 200);
    let r = common::wait_until(
        "the pushed series in PromQL",
        Duration::from_secs(15),
        || {
            let r = query(api, "backup_bytes");
            (!r.is_empty()).then_some(r)
        },
    );
    assert_eq!(
        r[0]["metric"],
        serde_json::json!({"__name__": "backup_bytes", "job": "nightly", "instance": "db1", "shard": "a/b", "kind": "full"})
    );
    assert_eq!(r[0]["value"][1], "1024");
    // push_time_seconds carries the grouping key too.
    let t = query(api, "push_time_seconds{job=\"nightly\"}");
    assert_eq!(t.len(), 1, "{t:?}");
    // The gateway is a target like any other.
    let targets =
        common::api_get(&format!("http://127.0.0.1:{api}"), "/api/v1/targets", &[]).unwrap();
    let active = targets["data"]["activeTargets"].as_array().unwrap();
    let t = active
        .iter()
        .find(|t| t["scrapePool"] == "pushgateway")
        .expect("pushgateway target");
    assert_eq!(t["scrapeUrl"], format!("http://127.0.0.1:{pg}/metrics"));
    common::wait_until("the target up", Duration::from_secs(10), || {
        let r = query(api, "up{job=\"pushgateway\"}");
        (r.first().map(|s| s["value"][1].clone()) == Some("1".into())).then_some(())
    });

    // Deleting the group makes its series stale at the next scrape.
    let (code, _) = call(
        "DELETE",
        &format!("http://127.0.0.1:{pg}/metrics/job/nightly/instance/db1/shard@base64/YS9i"),
        &[],
        b"",
    );
    assert_eq!(code, 202);
    common::wait_until("the series to go stale", Duration::from_secs(10), || {
        query(api, "backup_bytes").is_empty().then_some(())
    });
}

#[test]
fn group_ttl_expires_unpushed_groups_and_counts_them() {
    let dir = tempfile::tempdir().unwrap();
    let pg = common::free_port();
    let (_p, _) = start_promtui(
        dir.path(),
        "scrape_configs: []\n",
        pg,
        &["--pushgateway.group-ttl=2s"],
    );
    let url = format!("http://127.0.0.1:{pg}/metrics/job/cron");
    assert_eq!(call("PUT", &url, &[], b"last_run 1\n").0, 200);
    assert!(scrape(pg).contains("last_run{instance=\"\",job=\"cron\"} 1\n"));
    common::wait_until("the group to expire", Duration::from_secs(10), || {
        let m = scrape(pg);
        (!m.contains("last_run") && m.contains("pushgateway_groups_expired_total 1\n"))
            .then_some(())
    });
}
