//! Criterion benchmarks of the built-in Alertmanager's hot paths.
//!
//! - `alerting/repost_10k`: a Prometheus fleet's re-post cycle through the API router
//!   (`POST /api/v2/alerts`, 157 bodies of 64 alerts, 10,000 alerts in 500 groups whose
//!   content is unchanged, only the times move): JSON decode, validation, the store
//!   merge, routing into the aggregation groups. Throughput in alerts per second.
//! - `alerting/silence_match_1k`: one alert's labels against 1,000 active silences with
//!   regex matchers that select nothing (what a flush and `GET /api/v2/alerts` do per
//!   alert).
//!
//! Run: `cargo bench --bench alerting`.

use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

use axum::body::Body;
use axum::http::Request;
use chrono::{Duration as ChronoDuration, SecondsFormat, Utc};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use promtui::alerting::alert::LabelSet;
use promtui::alerting::matcher::{MatchType, Matcher};
use promtui::alerting::silence::{Silence, Silences};
use promtui::alerting::{AmConfig, Options, Pipeline};
use tower::ServiceExt;

const ALERTS: usize = 10_000;
const GROUPS: usize = 500;
const BATCH: usize = 64;

const CONFIG: &str = "
route:
  receiver: sink
  group_by: [alertname, group]
  group_wait: 1h
  group_interval: 1h
receivers:
  - name: sink
";

fn bodies() -> Vec<String> {
    let now = Utc::now();
    let start = now.to_rfc3339_opts(SecondsFormat::Millis, true);
    let end = (now + ChronoDuration::minutes(4)).to_rfc3339_opts(SecondsFormat::Millis, true);
    let alerts: Vec<String> = (0..ALERTS)
        .map(|i| {
            let g = i % GROUPS;
            format!(
                r#"{{"labels":{{"alertname":"Fleet{}","group":"g{g}","instance":"host-{i}:9100","job":"node","severity":"warning"}},"annotations":{{"summary":"instance host-{i} is unhappy","runbook":"http://runbooks/fleet"}},"startsAt":"{start}","endsAt":"{end}","generatorURL":"http://prometheus:9090/graph?g0.expr=up"}}"#,
                g % 25
            )
        })
        .collect();
    alerts
        .chunks(BATCH)
        .map(|c| format!("[{}]", c.join(",")))
        .collect()
}

fn repost(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let config = AmConfig::load_str(CONFIG, "bench.yml", Path::new(".")).expect("config");
    let pipeline = Pipeline::open(
        config,
        Options {
            data_dir: dir.path().to_path_buf(),
            retention: Duration::from_secs(3600),
            external_url: "http://localhost:9093".into(),
        },
    )
    .expect("pipeline");
    let (_stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    {
        let _guard = rt.enter();
        pipeline.start(stop_rx);
    }
    let router = promtui::alerting::api::router(pipeline.clone());
    let bodies = bodies();
    let post_all = |router: &axum::Router| {
        rt.block_on(async {
            for b in &bodies {
                let req = Request::post("/api/v2/alerts")
                    .header("content-type", "application/json")
                    .body(Body::from(b.clone()))
                    .expect("request");
                let resp = router.clone().oneshot(req).await.expect("response");
                assert_eq!(resp.status(), 200);
            }
        })
    };
    // The first cycle creates the alerts and groups; what is measured is a re-post.
    post_all(&router);
    let mut g = c.benchmark_group("alerting");
    g.throughput(Throughput::Elements(ALERTS as u64));
    g.sample_size(20);
    g.bench_function("repost_10k", |b| b.iter(|| post_all(black_box(&router))));
    g.finish();
}

fn silence_match(c: &mut Criterion) {
    let now = Utc::now();
    let list = (0..1000)
        .map(|k| Silence {
            id: format!("s{k}"),
            matchers: vec![Matcher::new(
                "instance",
                MatchType::Regexp,
                &format!("decommissioned-{k}-.*"),
            )
            .expect("matcher")],
            starts_at: now - ChronoDuration::minutes(1),
            ends_at: now + ChronoDuration::hours(2),
            updated_at: now,
            created_by: "bench".into(),
            comment: String::new(),
        })
        .collect();
    let silences = Silences::from_list(list);
    let labels: LabelSet = [
        ("alertname", "Fleet3"),
        ("group", "g3"),
        ("instance", "host-3:9100"),
        ("job", "node"),
        ("severity", "warning"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let mut g = c.benchmark_group("alerting");
    g.bench_function("silence_match_1k", |b| {
        b.iter(|| silences.mutes(black_box(&labels), now))
    });
    g.finish();
}

criterion_group!(benches, repost, silence_match);
criterion_main!(benches);
