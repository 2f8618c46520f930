//! The backend over a Prometheus-compatible HTTP API (`promtui --remote URL`): promtui
//! serve, Prometheus, VictoriaMetrics. Uses the documented endpoints only
//! (/api/v1/query, query_range, labels, label/<name>/values, series, metadata, targets,
//! status/{tsdb,config,flags,runtimeinfo}, POST /-/reload). Label lookups are cached for a
//! few seconds so autocomplete stays instant while typing.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde_json::Value as Json;

use super::{
    Backend, BackendError, Breakdown, ConfigInfo, Health, ReloadState, ScrapeDebug, TargetHealth,
    TargetRow, TsdbInfo,
};
use crate::tui::console::source::{
    ConsoleSource, CostedAnswer, MetricInfo, QueryAnswer, QueryData, SeriesCounts, SeriesData,
    SourceError,
};
use crate::web::BoxFuture;

/// How to reach the remote API.
#[derive(Clone, Debug, Default)]
pub struct RemoteOptions {
    pub url: String,
    /// Extra headers (`--remote.header 'X-Scope-OrgID: a'`).
    pub headers: Vec<(String, String)>,
    pub basic_auth: Option<(String, String)>,
    pub bearer_token: Option<String>,
    /// PEM CA bundle to trust in addition to the system roots.
    pub ca_file: Option<std::path::PathBuf>,
    /// PEM client certificate and key (one file holding both, or two).
    pub cert_file: Option<std::path::PathBuf>,
    pub key_file: Option<std::path::PathBuf>,
    pub insecure_skip_verify: bool,
    pub timeout: Duration,
    /// `--alertmanager.url`: the Alertmanager API v2 the alert views use; `None` uses
    /// `url` itself (promtui serves `/api/v2` on its web port).
    pub alertmanager_url: Option<String>,
    /// `--pushgateway.url`: the Pushgateway the Pushgateway view reads; `None`: the
    /// remote promtui's own (its host, port 9091).
    pub pushgateway_url: Option<String>,
}

/// The remote backend; cheap to clone.
#[derive(Clone)]
pub struct RemoteBackend {
    inner: Arc<Inner>,
}

struct Inner {
    base: String,
    pushgateway_url: Option<String>,
    client: reqwest::Client,
    alertmanager: Option<String>,
    /// Label names/values answers by request, with when they were fetched.
    cache: Mutex<HashMap<String, (Instant, Vec<String>)>>,
}

const CACHE_TTL: Duration = Duration::from_secs(15);

impl RemoteBackend {
    /// Builds the HTTP client; a bad header, certificate or key is an error naming it.
    pub fn new(o: &RemoteOptions) -> Result<RemoteBackend, BackendError> {
        let bad = |what: String| BackendError::Http {
            url: o.url.clone(),
            msg: what,
        };
        let mut headers = reqwest::header::HeaderMap::new();
        for (k, v) in &o.headers {
            let name = reqwest::header::HeaderName::from_bytes(k.as_bytes())
                .map_err(|e| bad(format!("header name {k:?}: {e}")))?;
            let value = reqwest::header::HeaderValue::from_str(v)
                .map_err(|e| bad(format!("header {k}: {e}")))?;
            headers.insert(name, value);
        }
        let auth = match (&o.basic_auth, &o.bearer_token) {
            (Some(_), Some(_)) => {
                return Err(bad(
                    "basic auth and a bearer token are mutually exclusive".into()
                ))
            }
            (Some((u, p)), None) => {
                let enc = base64_encode(format!("{u}:{p}").as_bytes());
                Some(format!("Basic {enc}"))
            }
            (None, Some(t)) => Some(format!("Bearer {t}")),
            (None, None) => None,
        };
        if let Some(a) = auth {
            let mut v = reqwest::header::HeaderValue::from_str(&a)
                .map_err(|e| bad(format!("authorization: {e}")))?;
            v.set_sensitive(true);
            headers.insert(reqwest::header::AUTHORIZATION, v);
        }
        let mut b = reqwest::Client::builder()
            .default_headers(headers)
            .timeout(if o.timeout.is_zero() {
                Duration::from_secs(60)
            } else {
                o.timeout
            })
            .danger_accept_invalid_certs(o.insecure_skip_verify);
        if let Some(ca) = &o.ca_file {
            let pem = std::fs::read(ca).map_err(|e| bad(format!("{}: {e}", ca.display())))?;
            let cert = reqwest::Certificate::from_pem(&pem)
                .map_err(|e| bad(format!("{}: {e}", ca.display())))?;
            b = b.add_root_certificate(cert);
        }
        if let Some(cert) = &o.cert_file {
            let mut pem =
                std::fs::read(cert).map_err(|e| bad(format!("{}: {e}", cert.display())))?;
            if let Some(key) = &o.key_file {
                pem.push(b'\n');
                pem.extend(std::fs::read(key).map_err(|e| bad(format!("{}: {e}", key.display())))?);
            }
            let id = reqwest::Identity::from_pem(&pem)
                .map_err(|e| bad(format!("client certificate {}: {e}", cert.display())))?;
            b = b.identity(id);
        }
        let client = b.build().map_err(|e| bad(e.to_string()))?;
        Ok(RemoteBackend {
            inner: Arc::new(Inner {
                base: o.url.trim_end_matches('/').to_string(),
                pushgateway_url: o
                    .pushgateway_url
                    .as_ref()
                    .map(|u| u.trim_end_matches('/').to_string()),
                client,
                alertmanager: o.alertmanager_url.clone(),
                cache: Mutex::new(HashMap::new()),
            }),
        })
    }
}

impl RemoteBackend {
    /// The API's base URL (no trailing slash).
    pub fn base_url(&self) -> &str {
        &self.inner.base
    }
    /// `--pushgateway.url`, when given.
    pub fn pushgateway_url(&self) -> Option<&str> {
        self.inner.pushgateway_url.as_deref()
    }
    /// The HTTP client with the configured headers, auth and TLS (shared by the rules
    /// and Pushgateway views).
    pub fn client(&self) -> reqwest::Client {
        self.inner.client.clone()
    }
    /// GETs an API path of the remote and returns the envelope's `data`.
    pub async fn api_get(
        &self,
        path: &str,
        params: &[(&str, String)],
    ) -> Result<Json, BackendError> {
        self.inner.get(path, params).await
    }
}

/// Standard base64 (RFC 4648) for the basic-auth header.
fn base64_encode(b: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(b.len().div_ceil(3) * 4);
    for c in b.chunks(3) {
        let n = (c[0] as u32) << 16
            | (*c.get(1).unwrap_or(&0) as u32) << 8
            | *c.get(2).unwrap_or(&0) as u32;
        for i in 0..4 {
            if i <= c.len() {
                out.push(T[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

impl Inner {
    /// GETs `path` with `params` and returns the envelope's `data`.
    async fn get(&self, path: &str, params: &[(&str, String)]) -> Result<Json, BackendError> {
        let url = format!("{}{path}", self.base);
        let resp = self
            .client
            .get(&url)
            .query(params)
            .send()
            .await
            .map_err(|e| BackendError::Http {
                url: url.clone(),
                msg: e.to_string(),
            })?;
        let status = resp.status();
        let body = resp.text().await.map_err(|e| BackendError::Http {
            url: url.clone(),
            msg: e.to_string(),
        })?;
        envelope(&url, status.as_u16(), &body)
    }

    async fn query(&self, expr: &str) -> Result<Option<f64>, BackendError> {
        let d = self
            .get("/api/v1/query", &[("query", expr.to_string())])
            .await?;
        Ok(d["result"]
            .as_array()
            .and_then(|a| a.first())
            .and_then(|s| s["value"].get(1))
            .and_then(|v| v.as_str())
            .and_then(|s| s.parse().ok()))
    }

    async fn cached_list(
        &self,
        path: String,
        params: Vec<(&'static str, String)>,
    ) -> Result<Vec<String>, SourceError> {
        let key = format!("{path}?{params:?}");
        if let Some((at, v)) = self.cache.lock().get(&key) {
            if at.elapsed() < CACHE_TTL {
                return Ok(v.clone());
            }
        }
        let d = self.get(&path, &params).await.map_err(|e| e.to_string())?;
        let v: Vec<String> = d
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        let mut c = self.cache.lock();
        if c.len() > 512 {
            c.clear();
        }
        c.insert(key, (Instant::now(), v.clone()));
        Ok(v)
    }
}

/// Decodes the API envelope: `data` on success, the API's error otherwise.
fn envelope(url: &str, status: u16, body: &str) -> Result<Json, BackendError> {
    let v: Json = serde_json::from_str(body).map_err(|e| BackendError::Decode {
        url: url.to_string(),
        msg: format!("HTTP {status}, not JSON ({e}): {:.120}", body.trim()),
    })?;
    if v["status"].as_str() != Some("success") {
        return Err(BackendError::Api {
            url: url.to_string(),
            kind: v["errorType"].as_str().unwrap_or("error").to_string(),
            msg: v["error"].as_str().unwrap_or("").to_string(),
        });
    }
    Ok(v["data"].clone())
}

fn secs(ms: i64) -> String {
    format!("{}", ms as f64 / 1000.0)
}

fn sample_value(v: &Json) -> f64 {
    match v.as_str().unwrap_or("NaN") {
        "+Inf" | "Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        s => s.parse().unwrap_or(f64::NAN),
    }
}

fn point(p: &Json) -> (i64, f64) {
    (
        (p[0].as_f64().unwrap_or(0.0) * 1000.0).round() as i64,
        sample_value(&p[1]),
    )
}

fn labels_of(m: &Json) -> Vec<(String, String)> {
    let mut l: Vec<(String, String)> = m
        .as_object()
        .map(|o| {
            o.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                .collect()
        })
        .unwrap_or_default();
    l.sort();
    l
}

/// Decodes a query `data` object into the console's shapes.
/// The API's `stats` object: `samples.totalQueryableSamples` and
/// `timings.evalTotalTime` (seconds), each `None` when absent.
pub fn decode_stats(stats: &Json) -> (Option<i64>, Option<Duration>) {
    let samples = stats["samples"]["totalQueryableSamples"].as_i64();
    let eval = stats["timings"]["evalTotalTime"]
        .as_f64()
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(Duration::from_secs_f64);
    (samples, eval)
}

pub fn decode_query(url: &str, d: &Json) -> Result<QueryAnswer, BackendError> {
    let r = &d["result"];
    let series = |f: &dyn Fn(&Json) -> Vec<(i64, f64)>| -> Vec<SeriesData> {
        r.as_array()
            .map(|a| {
                a.iter()
                    .map(|s| SeriesData {
                        labels: labels_of(&s["metric"]),
                        points: f(s),
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let data = match d["resultType"].as_str() {
        Some("scalar") => {
            let (t, v) = point(r);
            QueryData::Scalar { t, v }
        }
        Some("string") => {
            let (t, _) = point(r);
            QueryData::String {
                t,
                v: r[1].as_str().unwrap_or("").to_string(),
            }
        }
        Some("vector") => QueryData::Vector(series(&|s| vec![point(&s["value"])])),
        Some("matrix") => QueryData::Matrix(series(&|s| {
            s["values"]
                .as_array()
                .map(|a| a.iter().map(point).collect())
                .unwrap_or_default()
        })),
        other => {
            return Err(BackendError::Decode {
                url: url.to_string(),
                msg: format!("unknown resultType {other:?}"),
            })
        }
    };
    Ok(QueryAnswer {
        data,
        warnings: Vec::new(),
    })
}

fn name_values(v: &Json) -> Vec<(String, u64)> {
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|x| {
                    (
                        x["name"].as_str().unwrap_or("").to_string(),
                        x["value"].as_u64().unwrap_or(0),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn rfc3339_ms(v: &Json) -> Option<i64> {
    crate::model::time::parse_time(v.as_str()?).ok()
}

impl ConsoleSource for RemoteBackend {
    fn instant_query(
        &self,
        expr: String,
        time_ms: i64,
    ) -> BoxFuture<Result<QueryAnswer, SourceError>> {
        let inner = self.inner.clone();
        Box::pin(async move {
            let d = inner
                .get("/api/v1/query", &[("query", expr), ("time", secs(time_ms))])
                .await
                .map_err(|e| e.to_string())?;
            decode_query("/api/v1/query", &d).map_err(|e| e.to_string())
        })
    }

    /// `/api/v1/query_range?stats=all`, as [`Self::instant_query_cost`].
    fn range_query_cost(
        &self,
        expr: String,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
    ) -> BoxFuture<Result<CostedAnswer, SourceError>> {
        let inner = self.inner.clone();
        Box::pin(async move {
            let started = Instant::now();
            let d = inner
                .get(
                    "/api/v1/query_range",
                    &[
                        ("query", expr),
                        ("start", secs(start_ms)),
                        ("end", secs(end_ms)),
                        ("step", secs(step_ms.max(1))),
                        ("stats", "all".to_string()),
                    ],
                )
                .await
                .map_err(|e| e.to_string())?;
            let rtt = started.elapsed();
            let answer = decode_query("/api/v1/query_range", &d).map_err(|e| e.to_string())?;
            let (samples, eval) = decode_stats(&d["stats"]);
            Ok(CostedAnswer {
                answer,
                samples,
                eval: eval.unwrap_or(rtt),
            })
        })
    }

    /// `/api/v1/query?stats=all`: samples and evaluation time as the server measured
    /// them (Prometheus, promtui serve); a server without `stats` gets the round trip.
    fn instant_query_cost(
        &self,
        expr: String,
        time_ms: i64,
    ) -> BoxFuture<Result<CostedAnswer, SourceError>> {
        let inner = self.inner.clone();
        Box::pin(async move {
            let started = Instant::now();
            let d = inner
                .get(
                    "/api/v1/query",
                    &[
                        ("query", expr),
                        ("time", secs(time_ms)),
                        ("stats", "all".to_string()),
                    ],
                )
                .await
                .map_err(|e| e.to_string())?;
            let rtt = started.elapsed();
            let answer = decode_query("/api/v1/query", &d).map_err(|e| e.to_string())?;
            let (samples, eval) = decode_stats(&d["stats"]);
            Ok(CostedAnswer {
                answer,
                samples,
                eval: eval.unwrap_or(rtt),
            })
        })
    }

    fn range_query(
        &self,
        expr: String,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
    ) -> BoxFuture<Result<QueryAnswer, SourceError>> {
        let inner = self.inner.clone();
        Box::pin(async move {
            let d = inner
                .get(
                    "/api/v1/query_range",
                    &[
                        ("query", expr),
                        ("start", secs(start_ms)),
                        ("end", secs(end_ms)),
                        ("step", secs(step_ms.max(1))),
                    ],
                )
                .await
                .map_err(|e| e.to_string())?;
            decode_query("/api/v1/query_range", &d).map_err(|e| e.to_string())
        })
    }

    fn label_names(&self, matchers: Vec<String>) -> BoxFuture<Result<Vec<String>, SourceError>> {
        let inner = self.inner.clone();
        Box::pin(async move {
            let params = matchers.into_iter().map(|m| ("match[]", m)).collect();
            inner.cached_list("/api/v1/labels".into(), params).await
        })
    }

    fn label_values(
        &self,
        name: String,
        matchers: Vec<String>,
    ) -> BoxFuture<Result<Vec<String>, SourceError>> {
        let inner = self.inner.clone();
        Box::pin(async move {
            let params = matchers.into_iter().map(|m| ("match[]", m)).collect();
            let path = format!(
                "/api/v1/label/{}/values",
                percent_encoding::utf8_percent_encode(&name, percent_encoding::NON_ALPHANUMERIC)
            );
            inner.cached_list(path, params).await
        })
    }

    fn metadata(&self) -> BoxFuture<Result<Vec<MetricInfo>, SourceError>> {
        let inner = self.inner.clone();
        Box::pin(async move {
            let d = inner
                .get("/api/v1/metadata", &[])
                .await
                .map_err(|e| e.to_string())?;
            let mut out: Vec<MetricInfo> = d
                .as_object()
                .map(|o| {
                    o.iter()
                        .map(|(name, list)| {
                            let m = &list[0];
                            MetricInfo {
                                name: name.clone(),
                                kind: m["type"].as_str().unwrap_or("unknown").to_string(),
                                help: m["help"].as_str().unwrap_or("").to_string(),
                                unit: m["unit"].as_str().unwrap_or("").to_string(),
                            }
                        })
                        .collect()
                })
                .unwrap_or_default();
            out.sort_by(|a, b| a.name.cmp(&b.name));
            Ok(out)
        })
    }

    fn series_counts(&self) -> BoxFuture<Result<SeriesCounts, SourceError>> {
        // Counting every metric's series remotely means fetching every series: too slow
        // at high cardinality, so the explorer shows no counts here.
        Box::pin(async { Ok(None) })
    }
}

impl Backend for RemoteBackend {
    fn endpoint(&self) -> String {
        self.inner.base.clone()
    }

    fn alerts(&self) -> Option<Arc<dyn super::alerts::AlertSource>> {
        Some(Arc::new(super::alerts::RemoteAlerts::new(
            self.inner.client.clone(),
            &self.inner.base,
            self.inner.alertmanager.as_deref(),
        )))
    }

    fn is_remote(&self) -> bool {
        true
    }

    fn health(&self) -> BoxFuture<Result<Health, BackendError>> {
        let inner = self.inner.clone();
        Box::pin(async move {
            let active = [("state", "active".to_string())];
            let limit = [("limit", "1".to_string())];
            let mut h_alerts = None;
            let mut by_sev = Vec::new();
            let targets = inner.get("/api/v1/targets", &active);
            let rate = inner.query(
                "sum(rate({__name__=~\"(prometheus|promtui)_tsdb_head_samples_appended_total\"}[1m]))",
            );
            let storage = inner.query(
                "sum({__name__=~\"(prometheus|promtui)_tsdb_(storage_blocks_bytes|wal_storage_size_bytes)\"})",
            );
            let tsdb = inner.get("/api/v1/status/tsdb", &limit);
            let runtime = inner.get("/api/v1/status/runtimeinfo", &[]);
            let alerts = inner.get("/api/v1/alerts", &[]);
            let (targets, rate, storage, tsdb, runtime, alerts) =
                tokio::join!(targets, rate, storage, tsdb, runtime, alerts);
            if let Ok(a) = alerts {
                let list = a["alerts"].as_array().cloned().unwrap_or_default();
                let firing = list.iter().filter(|x| x["state"] == "firing").count() as u64;
                h_alerts = Some((firing, list.len() as u64 - firing));
                by_sev = super::severity_counts(list.iter().map(|x| {
                    (
                        x["labels"]["severity"].as_str().map(String::from),
                        x["state"] == "firing",
                    )
                }));
            }
            let targets = targets?;
            let mut h = Health::default();
            for t in targets["activeTargets"].as_array().into_iter().flatten() {
                match TargetHealth::parse(t["health"].as_str().unwrap_or("")) {
                    TargetHealth::Up => h.targets_up += 1,
                    TargetHealth::Down => h.targets_down += 1,
                    TargetHealth::Unknown => h.targets_unknown += 1,
                }
            }
            if let Some((f, p)) = h_alerts {
                h.alerts_firing = Some(f);
                h.alerts_pending = Some(p);
                h.alerts_by_severity = by_sev;
            }
            h.ingestion_rate = rate.ok().flatten();
            h.storage_bytes = storage.ok().flatten().map(|b| b as u64);
            if let Ok(t) = tsdb {
                h.head_series = t["headStats"]["numSeries"].as_u64();
            }
            if let Ok(r) = runtime {
                h.start_ms = rfc3339_ms(&r["startTime"]);
                h.last_reload = Some(ReloadState {
                    ok: r["reloadConfigSuccess"].as_bool().unwrap_or(true),
                    at_ms: rfc3339_ms(&r["lastConfigTime"]).unwrap_or(0),
                });
            }
            Ok(h)
        })
    }

    fn targets(&self) -> BoxFuture<Result<Vec<TargetRow>, BackendError>> {
        let inner = self.inner.clone();
        Box::pin(async move {
            let d = inner
                .get("/api/v1/targets", &[("state", "active".into())])
                .await?;
            Ok(d["activeTargets"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|t| {
                    let last = rfc3339_ms(&t["lastScrape"]).filter(|&ms| ms > 0);
                    TargetRow {
                        pool: t["scrapePool"].as_str().unwrap_or("").to_string(),
                        url: t["scrapeUrl"].as_str().unwrap_or("").to_string(),
                        health: Some(TargetHealth::parse(t["health"].as_str().unwrap_or(""))),
                        last_scrape_ms: last,
                        duration_s: t["lastScrapeDuration"].as_f64().unwrap_or(0.0),
                        samples: None,
                        last_error: t["lastError"].as_str().unwrap_or("").to_string(),
                        interval: t["scrapeInterval"].as_str().unwrap_or("").to_string(),
                        labels: labels_of(&t["labels"]),
                        discovered: labels_of(&t["discoveredLabels"]),
                    }
                })
                .collect())
        })
    }

    fn tsdb(&self, limit: usize) -> BoxFuture<Result<TsdbInfo, BackendError>> {
        let inner = self.inner.clone();
        Box::pin(async move {
            let d = inner
                .get("/api/v1/status/tsdb", &[("limit", limit.to_string())])
                .await?;
            let rt = inner.get("/api/v1/status/runtimeinfo", &[]).await.ok();
            let h = &d["headStats"];
            Ok(TsdbInfo {
                head_series: h["numSeries"].as_u64().unwrap_or(0),
                head_chunks: h["chunkCount"].as_u64().unwrap_or(0),
                label_pairs: h["numLabelPairs"].as_u64().unwrap_or(0),
                head_min_time: h["minTime"].as_i64().unwrap_or(0),
                head_max_time: h["maxTime"].as_i64().unwrap_or(0),
                retention: rt
                    .map(|r| r["storageRetention"].as_str().unwrap_or("").to_string())
                    .unwrap_or_default(),
                blocks: None,
                wal: None,
                compactions: None,
                series_by_metric: name_values(&d["seriesCountByMetricName"]),
                values_by_label: name_values(&d["labelValueCountByLabelName"]),
                series_by_pair: name_values(&d["seriesCountByLabelValuePair"]),
                memory_by_label: name_values(&d["memoryInBytesByLabelName"]),
            })
        })
    }

    fn breakdown(&self, metric: String) -> BoxFuture<Result<Breakdown, BackendError>> {
        let inner = self.inner.clone();
        Box::pin(async move {
            let sel = format!("{{__name__={metric:?}}}");
            let d = inner.get("/api/v1/series", &[("match[]", sel)]).await?;
            let series: Vec<Vec<(String, String)>> =
                d.as_array().into_iter().flatten().map(labels_of).collect();
            Ok(Breakdown::from_series(
                &metric,
                series
                    .iter()
                    .map(|s| s.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()),
            ))
        })
    }

    fn config(&self) -> BoxFuture<Result<ConfigInfo, BackendError>> {
        let inner = self.inner.clone();
        Box::pin(async move {
            let (c, f, r) = tokio::join!(
                inner.get("/api/v1/status/config", &[]),
                inner.get("/api/v1/status/flags", &[]),
                inner.get("/api/v1/status/runtimeinfo", &[])
            );
            let c = c?;
            let flags = f
                .ok()
                .and_then(|f| {
                    f.as_object().map(|o| {
                        o.iter()
                            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                            .collect::<Vec<_>>()
                    })
                })
                .unwrap_or_default();
            let file = flags
                .iter()
                .find(|(k, _)| k == "config.file")
                .map(|(_, v)| v.clone())
                .unwrap_or_else(|| "(not reported)".into());
            Ok(ConfigInfo {
                files: vec![format!("{file} (on the server)")],
                yaml: c["yaml"].as_str().unwrap_or("").to_string(),
                flags,
                last_reload: r.ok().map(|r| ReloadState {
                    ok: r["reloadConfigSuccess"].as_bool().unwrap_or(true),
                    at_ms: rfc3339_ms(&r["lastConfigTime"]).unwrap_or(0),
                }),
            })
        })
    }

    fn reload(&self) -> BoxFuture<Result<(), BackendError>> {
        let inner = self.inner.clone();
        Box::pin(async move {
            let url = format!("{}/-/reload", inner.base);
            let resp = inner
                .client
                .post(&url)
                .send()
                .await
                .map_err(|e| BackendError::Http {
                    url: url.clone(),
                    msg: e.to_string(),
                })?;
            let status = resp.status();
            let body = resp.text().await.unwrap_or_default();
            if status.is_success() {
                Ok(())
            } else {
                Err(BackendError::Http {
                    url,
                    msg: format!("HTTP {status}: {}", body.trim()),
                })
            }
        })
    }

    fn scrape_debug(&self, target: TargetRow) -> BoxFuture<Result<ScrapeDebug, BackendError>> {
        let inner = self.inner.clone();
        Box::pin(async move {
            // The job's relabel rules come from the server's rendered configuration
            // (secrets are `<secret>` there, which does not matter for relabeling).
            let trace = match inner.get("/api/v1/status/config", &[]).await {
                Ok(c) => {
                    let yaml = c["yaml"].as_str().unwrap_or("");
                    job_relabel_configs(yaml, &target.pool)
                        .map(|rules| super::relabel_trace(&target.discovered, &rules))
                }
                Err(e) => Err(e.to_string()),
            };
            // Fetched from this machine: the server's view may differ (network, auth).
            let exposition = super::local::fetch_exposition(&target.url).await;
            Ok(ScrapeDebug { exposition, trace })
        })
    }

    fn console_source(&self) -> Arc<dyn ConsoleSource> {
        Arc::new(self.clone())
    }
    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }
}

/// The `relabel_configs` of job `job` in a rendered prometheus.yml.
fn job_relabel_configs(
    yaml: &str,
    job: &str,
) -> Result<Vec<crate::model::relabel::RelabelConfig>, String> {
    let doc: serde_yaml::Value =
        serde_yaml::from_str(yaml).map_err(|e| format!("server configuration: {e}"))?;
    let jobs = doc["scrape_configs"]
        .as_sequence()
        .ok_or("server configuration has no scrape_configs")?;
    let sc = jobs
        .iter()
        .find(|sc| sc["job_name"].as_str() == Some(job))
        .ok_or_else(|| format!("no job {job:?} in the server's configuration"))?;
    match sc.get("relabel_configs") {
        None => Ok(Vec::new()),
        Some(v) => serde_yaml::from_value(v.clone())
            .map_err(|e| format!("job {job:?} relabel_configs: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648_vectors() {
        assert_eq!(base64_encode(b""), "");
        assert_eq!(base64_encode(b"f"), "Zg==");
        assert_eq!(base64_encode(b"fo"), "Zm8=");
        assert_eq!(base64_encode(b"foo"), "Zm9v");
        assert_eq!(base64_encode(b"user:pass"), "dXNlcjpwYXNz");
    }

    #[test]
    fn envelope_errors_carry_the_apis_words() {
        let e = envelope(
            "u",
            400,
            r#"{"status":"error","errorType":"bad_data","error":"parse error at char 3"}"#,
        )
        .unwrap_err();
        assert_eq!(e.to_string(), "u: bad_data: parse error at char 3");
        assert!(matches!(
            envelope("u", 502, "<html>bad gateway</html>"),
            Err(BackendError::Decode { .. })
        ));
    }

    #[test]
    fn decodes_every_result_type() {
        let v: Json = serde_json::from_str(
            r#"{"resultType":"matrix","result":[{"metric":{"b":"2","a":"1"},"values":[[1.5,"1"],[3,"+Inf"]]}]}"#,
        )
        .unwrap();
        let a = decode_query("u", &v).unwrap();
        let QueryData::Matrix(m) = a.data else {
            panic!()
        };
        assert_eq!(m[0].labels[0].0, "a");
        assert_eq!(m[0].points, vec![(1500, 1.0), (3000, f64::INFINITY)]);
        let v: Json = serde_json::from_str(r#"{"resultType":"scalar","result":[2,"4"]}"#).unwrap();
        assert_eq!(
            decode_query("u", &v).unwrap().data,
            QueryData::Scalar { t: 2000, v: 4.0 }
        );
    }

    #[test]
    fn finds_a_jobs_relabel_rules_in_the_rendered_config() {
        let y = "scrape_configs:\n- job_name: a\n  relabel_configs:\n  - source_labels: [__address__]\n    target_label: x\n- job_name: b\n";
        assert_eq!(job_relabel_configs(y, "a").unwrap().len(), 1);
        assert!(job_relabel_configs(y, "b").unwrap().is_empty());
        assert!(job_relabel_configs(y, "c").unwrap_err().contains("no job"));
    }
}
