//! The same sequence of pushes, deletes and bad requests sent to Debian's
//! prometheus-pushgateway 1.5 and to promtui's built-in gateway: every status code and
//! the pushed series of `/metrics` (values, types, which push times are set) must agree.

mod common;
mod pushgateway_util;

use std::io::Write;

use promtui::pushgateway::proto;
use pushgateway_util::{call, comparable, scrape, start_promtui, start_pushgateway, DELIMITED};

struct Step {
    method: &'static str,
    path: String,
    headers: Vec<(&'static str, &'static str)>,
    body: Vec<u8>,
}

fn step(method: &'static str, path: &str, body: &str) -> Step {
    Step {
        method,
        path: path.to_string(),
        headers: vec![],
        body: body.as_bytes().to_vec(),
    }
}

fn gzip(text: &str) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(text.as_bytes()).unwrap();
    enc.finish().unwrap()
}

/// A body as the Go client sends it by default.
fn go_client_body() -> Vec<u8> {
    let label = |n: &str, v: &str| proto::LabelPair {
        name: Some(n.into()),
        value: Some(v.into()),
    };
    proto::encode_delimited(&[
        proto::MetricFamily {
            name: Some("db_backup_last_success_timestamp_seconds".into()),
            help: Some("The timestamp of the last successful completion of a DB backup.".into()),
            r#type: Some(proto::MetricType::Gauge as i32),
            metric: vec![proto::Metric {
                label: vec![label("db", "customers")],
                gauge: Some(proto::Gauge { value: Some(1.7e9) }),
                ..Default::default()
            }],
        },
        proto::MetricFamily {
            name: Some("db_backup_duration_seconds".into()),
            help: Some("Duration of backups.".into()),
            r#type: Some(proto::MetricType::Summary as i32),
            metric: vec![proto::Metric {
                summary: Some(proto::Summary {
                    sample_count: Some(4),
                    sample_sum: Some(10.5),
                    quantile: vec![
                        proto::Quantile {
                            quantile: Some(0.5),
                            value: Some(2.0),
                        },
                        proto::Quantile {
                            quantile: Some(0.9),
                            value: Some(4.0),
                        },
                    ],
                }),
                ..Default::default()
            }],
        },
        proto::MetricFamily {
            name: Some("db_backup_records_total".into()),
            help: Some("Records written.".into()),
            r#type: Some(proto::MetricType::Counter as i32),
            metric: vec![proto::Metric {
                label: vec![label("table", "a")],
                counter: Some(proto::Counter { value: Some(42.0) }),
                ..Default::default()
            }],
        },
    ])
}

fn steps() -> Vec<Step> {
    let readme = "some_metric{label=\"val1\"} 42\n# TYPE another_metric gauge\n# HELP another_metric Just an example.\nanother_metric 2398.283\n";
    vec![
        step("POST", "/metrics/job/some_job/instance/some_instance", readme),
        step("PUT", "/metrics/job/j2", "some_metric 1\n"),
        // Type conflict with some_metric (untyped) in other groups: 400, group created.
        step("POST", "/metrics/job/j3", "# TYPE some_metric gauge\nsome_metric 1\n"),
        // Body labels named like the grouping key take the key's value.
        step("POST", "/metrics/job/j5", "x{job=\"other\"} 1\n"),
        step("POST", "/metrics/job/j13/instance/k", "x{instance=\"i\"} 1\n"),
        step("POST", "/metrics/job/j7", "x 1 1234\n"),
        step("POST", "/metrics/job/j8", "x{__a=\"b\"} 1\n"),
        step("POST", "/metrics/job/j9", "x{a=\"b\"} 1\nx{a=\"b\"} 2\n"),
        step("POST", "/metrics/job/j10", "x{a=b} 1\n"),
        step("POST", "/metrics/job/j10", "bad-name 1\n"),
        step("POST", "/metrics/job/j11/__foo/bar", "x 1\n"),
        step("POST", "/metrics/job/j11/a", "x 1\n"),
        step("POST", "/metrics/job/j12/a@base64/=", "x 1\n"),
        step("POST", "/metrics/job/j12/a@base64/!!", "x 1\n"),
        step("POST", "/metrics/job@base64/L3Zhci90bXA=/path@base64/L2EvYg", "x 1\n"),
        step("DELETE", "/metrics/job/j2", ""),
        step("DELETE", "/metrics/job/never", ""),
        step(
            "POST",
            "/metrics/job/types",
            "# TYPE s summary\ns{quantile=\"0.5\"} 1\ns_sum 2\ns_count 3\n# TYPE hh histogram\nhh_bucket{le=\"1\"} 1\nhh_bucket{le=\"+Inf\"} 2\nhh_sum 3\nhh_count 2\n",
        ),
        step("POST", "/metrics/job/special", "nan_v NaN\ninf_v +Inf\nesc{v=\"a\\\"b\\\\c\\nd\"} 1\n"),
        // POST replaces same-named families, PUT the whole group.
        step("PUT", "/metrics/job/jp", "y 1\nz 2\n"),
        step("POST", "/metrics/job/jp", "y 3\n"),
        step("PUT", "/metrics/job/jq", "y 1\nz 2\n"),
        step("PUT", "/metrics/job/jq", "y 4\n"),
        // An empty PUT empties the group but keeps its push time.
        step("PUT", "/metrics/job/some_job/instance/some_instance", ""),
        Step {
            method: "POST",
            path: "/metrics/job/gz".into(),
            headers: vec![("Content-Encoding", "gzip")],
            body: gzip("gz_metric 5\n"),
        },
        Step {
            method: "PUT",
            path: "/metrics/job/backup/instance/db1".into(),
            headers: vec![("Content-Type", DELIMITED)],
            body: go_client_body(),
        },
        // The same series from two groups of one job whose keys name different labels.
        step("POST", "/metrics/job/dj", "dd{b=\"1\"} 1\n"),
        step("POST", "/metrics/job/dj/b/1", "dd 1\n"),
        step("POST", "/metrics/job/ej/b/1", "ee 1\n"),
        step("POST", "/metrics/job/ej", "ee{b=\"1\"} 1\n"),
        step("POST", "/metrics/job/ej", "ee{b=\"2\"} 1\n"),
        // Changing a family's type within its own group is allowed.
        step("POST", "/metrics/job/jp", "# TYPE y gauge\ny 5\n"),
        step("POST", "/metrics/job/jq", "# TYPE y counter\ny 5\n"),
    ]
}

#[test]
fn same_pushes_same_status_codes_and_series_as_pushgateway_1_5() {
    if !common::peer_available(pushgateway_util::PUSHGATEWAY) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (_real, real_port) = start_pushgateway(dir.path());
    let pg_port = common::free_port();
    let (_promtui, _) = start_promtui(dir.path(), "scrape_configs: []\n", pg_port, &[]);
    let mut mismatches = Vec::new();
    for (i, s) in steps().iter().enumerate() {
        let (want, want_msg) = call(
            s.method,
            &format!("http://127.0.0.1:{real_port}{}", s.path),
            &s.headers,
            &s.body,
        );
        let (got, got_msg) = call(
            s.method,
            &format!("http://127.0.0.1:{pg_port}{}", s.path),
            &s.headers,
            &s.body,
        );
        if want != got {
            mismatches.push(format!(
                "step {i} {} {}: pushgateway {want} ({}), promtui {got} ({})",
                s.method,
                s.path,
                want_msg.trim(),
                got_msg.trim()
            ));
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
    let (want_series, want_types) = comparable(&scrape(real_port));
    let (got_series, got_types) = comparable(&scrape(pg_port));
    assert!(want_series.len() > 20, "{want_series:#?}");
    for (k, v) in &want_series {
        assert_eq!(
            got_series.get(k),
            Some(v),
            "series {k} (promtui has {got_series:#?})"
        );
    }
    for k in got_series.keys() {
        assert!(want_series.contains_key(k), "promtui has extra series {k}");
    }
    assert_eq!(got_types, want_types);
}
