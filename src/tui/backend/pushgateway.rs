//! The Pushgateway view's data: push groups with their grouping labels, last push and
//! last failure, and their metrics; deleting a group. From the in-process gateway's store
//! ([`LocalPush`]) or a Pushgateway's HTTP API ([`RemotePush`]: `GET /api/v1/metrics`,
//! `DELETE /metrics/job/...`; upstream's Pushgateway and promtui's answer alike), at
//! `--pushgateway.url` or, by default, the remote promtui's own gateway (its host, port
//! 9091).

use std::sync::Arc;

use serde_json::Value as Json;

use super::local::LocalBackend;
use super::remote::RemoteBackend;
use super::{Backend, BackendError};
use crate::web::BoxFuture;

/// One metric family of a group.
#[derive(Clone, Debug, PartialEq)]
pub struct PushFamily {
    pub name: String,
    /// `COUNTER`, `GAUGE`, ... as the API words it.
    pub kind: String,
    pub help: String,
    /// One line per sample: `{labels} value`.
    pub samples: Vec<String>,
}

/// One push group.
#[derive(Clone, Debug, PartialEq)]
pub struct PushGroup {
    /// Grouping key labels, `job` first.
    pub labels: Vec<(String, String)>,
    /// Last successful push (ms since the epoch; `None`: never).
    pub push_ms: Option<i64>,
    /// Last failed push (ms since the epoch; `None`: never).
    pub failure_ms: Option<i64>,
    pub families: Vec<PushFamily>,
}

impl PushGroup {
    /// `job="x", instance="y"`.
    pub fn key_text(&self) -> String {
        self.labels
            .iter()
            .map(|(k, v)| format!("{k}=\"{v}\""))
            .collect::<Vec<_>>()
            .join(", ")
    }
    /// Whether the last push failed (a failure after the last success).
    pub fn failing(&self) -> bool {
        self.failure_ms.unwrap_or(0) > self.push_ms.unwrap_or(0)
    }
    /// The delete URL path: `/metrics/job/<job>/<label>/<value>...`, values that are
    /// empty or not plain path text base64url-encoded (`name@base64/...`), as upstream
    /// reads them.
    pub fn delete_path(&self) -> String {
        let mut p = String::from("/metrics");
        let job = self.labels.iter().find(|(k, _)| k == "job");
        let rest = self.labels.iter().filter(|(k, _)| k != "job");
        for (k, v) in job.into_iter().chain(rest) {
            let plain = !v.is_empty()
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b));
            if plain {
                p.push_str(&format!("/{k}/{v}"));
            } else if v.is_empty() {
                p.push_str(&format!("/{k}@base64/="));
            } else {
                p.push_str(&format!("/{k}@base64/{}", base64url(v.as_bytes())));
            }
        }
        p
    }
}

/// Unpadded URL-safe base64 (RFC 4648 §5).
fn base64url(b: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for c in b.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..=c.len() {
            out.push(A[(n >> (18 - 6 * i)) as usize & 63] as char);
        }
    }
    out
}

/// Where the Pushgateway view reads and deletes.
pub trait PushSource: Send + Sync {
    /// Where the groups come from, for the title.
    fn endpoint(&self) -> String;
    fn groups(&self) -> BoxFuture<Result<Vec<PushGroup>, BackendError>>;
    /// Deletes the group with exactly these grouping labels.
    fn delete(&self, labels: Vec<(String, String)>) -> BoxFuture<Result<(), BackendError>>;
}

/// The Pushgateway source for a backend.
pub fn push_source(backend: &Arc<dyn Backend>) -> Option<Arc<dyn PushSource>> {
    let any = backend.as_any()?;
    if let Some(l) = any.downcast_ref::<LocalBackend>() {
        return Some(Arc::new(LocalPush { backend: l.clone() }));
    }
    if let Some(r) = any.downcast_ref::<RemoteBackend>() {
        let url = r
            .pushgateway_url()
            .map(str::to_string)
            .unwrap_or_else(|| default_gateway_url(r.base_url()));
        return Some(Arc::new(RemotePush {
            client: r.client(),
            base: url,
        }));
    }
    None
}

/// The remote promtui's own gateway: the API's scheme and host, port 9091.
pub fn default_gateway_url(api: &str) -> String {
    let (scheme, rest) = api.split_once("://").unwrap_or(("http", api));
    let hostport = rest.split('/').next().unwrap_or(rest);
    let host = match hostport.rsplit_once(':') {
        // `[::1]:9090` and `host:9090`; a bare IPv6 literal keeps its brackets.
        Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => hostport,
    };
    format!("{scheme}://{host}:9091")
}

/// The in-process gateway.
pub struct LocalPush {
    backend: LocalBackend,
}

/// Group rows from the store's snapshot.
pub fn groups_of_snapshot(snap: &[crate::pushgateway::store::Group]) -> Vec<PushGroup> {
    let ms = |v: i64| (v > 0).then_some(v);
    let mut out: Vec<PushGroup> = snap
        .iter()
        .map(|g| PushGroup {
            labels: ordered(g.key.labels().to_vec()),
            push_ms: ms(g.push_ms),
            failure_ms: ms(g.failure_ms),
            families: g
                .families
                .iter()
                .map(|(name, f)| PushFamily {
                    name: name.clone(),
                    kind: f.kind.json_name().to_string(),
                    help: f.help.as_deref().unwrap_or_default().to_string(),
                    samples: f
                        .text
                        .lines()
                        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
                        .map(str::to_string)
                        .collect(),
                })
                .collect(),
        })
        .collect();
    out.sort_by(|a, b| a.labels.cmp(&b.labels));
    out
}

/// `job` first, then the other labels by name.
fn ordered(mut labels: Vec<(String, String)>) -> Vec<(String, String)> {
    labels.sort_by(|a, b| (a.0 != "job", &a.0).cmp(&(b.0 != "job", &b.0)));
    labels
}

impl PushSource for LocalPush {
    fn endpoint(&self) -> String {
        self.backend
            .engine_handle()
            .ok()
            .and_then(|e| e.pushgateway().map(|_| ()))
            .map(|_| "built-in Pushgateway".to_string())
            .unwrap_or_else(|| "built-in Pushgateway (not running)".into())
    }
    fn groups(&self) -> BoxFuture<Result<Vec<PushGroup>, BackendError>> {
        let e = self.backend.engine_handle();
        Box::pin(async move {
            let e = e?;
            let gw = e.pushgateway().ok_or_else(|| {
                BackendError::Engine("the built-in Pushgateway is disabled".into())
            })?;
            Ok(groups_of_snapshot(&gw.store().snapshot()))
        })
    }
    fn delete(&self, labels: Vec<(String, String)>) -> BoxFuture<Result<(), BackendError>> {
        let e = self.backend.engine_handle();
        Box::pin(async move {
            let e = e?;
            let gw = e.pushgateway().ok_or_else(|| {
                BackendError::Engine("the built-in Pushgateway is disabled".into())
            })?;
            let key = crate::pushgateway::GroupingKey::new(labels);
            gw.store()
                .delete(&key)
                .await
                .map_err(|err| BackendError::Engine(format!("deleting the group: {err}")))
        })
    }
}

/// A Pushgateway over HTTP.
pub struct RemotePush {
    client: reqwest::Client,
    base: String,
}

impl RemotePush {
    pub fn new(client: reqwest::Client, base: &str) -> RemotePush {
        RemotePush {
            client,
            base: base.trim_end_matches('/').to_string(),
        }
    }
}

fn seconds_ms(fam: &Json) -> Option<i64> {
    let v: f64 = fam["metrics"][0]["value"].as_str()?.parse().ok()?;
    (v > 0.0).then_some((v * 1000.0).round() as i64)
}

fn labels_text(v: &Json) -> String {
    let mut l: Vec<(String, String)> = v
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default();
    l.sort();
    let inner: Vec<String> = l.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
    format!("{{{}}}", inner.join(","))
}

/// Decodes `/api/v1/metrics`' `data`.
pub fn decode_groups(data: &Json) -> Vec<PushGroup> {
    let mut out = Vec::new();
    for g in data.as_array().into_iter().flatten() {
        let Some(obj) = g.as_object() else { continue };
        let labels = ordered(
            g["labels"]
                .as_object()
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                        .collect()
                })
                .unwrap_or_default(),
        );
        let mut families = Vec::new();
        for (name, fam) in obj {
            if matches!(
                name.as_str(),
                "labels"
                    | "last_push_successful"
                    | "push_time_seconds"
                    | "push_failure_time_seconds"
            ) {
                continue;
            }
            let samples = fam["metrics"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|m| {
                    let value = m["value"]
                        .as_str()
                        .map(str::to_string)
                        .or_else(|| {
                            m["count"].as_str().map(|c| {
                                format!("count={c} sum={}", m["sum"].as_str().unwrap_or(""))
                            })
                        })
                        .unwrap_or_default();
                    format!("{name}{} {value}", labels_text(&m["labels"]))
                })
                .collect();
            families.push(PushFamily {
                name: name.clone(),
                kind: fam["type"].as_str().unwrap_or_default().to_string(),
                help: fam["help"].as_str().unwrap_or_default().to_string(),
                samples,
            });
        }
        out.push(PushGroup {
            labels,
            push_ms: seconds_ms(&g["push_time_seconds"]),
            failure_ms: seconds_ms(&g["push_failure_time_seconds"]),
            families,
        });
    }
    out.sort_by(|a, b| a.labels.cmp(&b.labels));
    out
}

impl PushSource for RemotePush {
    fn endpoint(&self) -> String {
        self.base.clone()
    }
    fn groups(&self) -> BoxFuture<Result<Vec<PushGroup>, BackendError>> {
        let client = self.client.clone();
        let url = format!("{}/api/v1/metrics", self.base);
        Box::pin(async move {
            let http = |e: reqwest::Error| BackendError::Http {
                url: url.clone(),
                msg: e.to_string(),
            };
            let resp = client.get(&url).send().await.map_err(http)?;
            let status = resp.status();
            let body = resp.text().await.map_err(http)?;
            if !status.is_success() {
                return Err(BackendError::Api {
                    url: url.clone(),
                    kind: status.to_string(),
                    msg: body.chars().take(200).collect(),
                });
            }
            let v: Json = serde_json::from_str(&body).map_err(|e| BackendError::Decode {
                url: url.clone(),
                msg: e.to_string(),
            })?;
            Ok(decode_groups(&v["data"]))
        })
    }
    fn delete(&self, labels: Vec<(String, String)>) -> BoxFuture<Result<(), BackendError>> {
        let client = self.client.clone();
        let g = PushGroup {
            labels,
            push_ms: None,
            failure_ms: None,
            families: Vec::new(),
        };
        let url = format!("{}{}", self.base, g.delete_path());
        Box::pin(async move {
            let resp = client
                .delete(&url)
                .send()
                .await
                .map_err(|e| BackendError::Http {
                    url: url.clone(),
                    msg: e.to_string(),
                })?;
            let status = resp.status();
            if status.is_success() {
                Ok(())
            } else {
                let body = resp.text().await.unwrap_or_default();
                Err(BackendError::Api {
                    url,
                    kind: status.to_string(),
                    msg: body.chars().take(200).collect(),
                })
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delete_paths_encode_awkward_values() {
        let g = |l: &[(&str, &str)]| PushGroup {
            labels: l
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            push_ms: None,
            failure_ms: None,
            families: Vec::new(),
        };
        assert_eq!(g(&[("job", "batch")]).delete_path(), "/metrics/job/batch");
        assert_eq!(
            g(&[("instance", "a/b"), ("job", "j")]).delete_path(),
            "/metrics/job/j/instance@base64/YS9i"
        );
        assert_eq!(
            g(&[("job", "j"), ("x", "")]).delete_path(),
            "/metrics/job/j/x@base64/="
        );
    }

    #[test]
    fn default_gateway_is_the_remote_host_at_9091() {
        assert_eq!(
            default_gateway_url("http://10.0.0.1:9090"),
            "http://10.0.0.1:9091"
        );
        assert_eq!(
            default_gateway_url("https://prom.example/prefix"),
            "https://prom.example:9091"
        );
        assert_eq!(
            default_gateway_url("http://[::1]:9090"),
            "http://[::1]:9091"
        );
    }

    #[test]
    fn decodes_the_api_metrics_answer() {
        let v: Json = serde_json::from_str(
            r#"[{"labels":{"job":"b","instance":"i"},"last_push_successful":false,
            "push_time_seconds":{"metrics":[{"labels":{},"value":"1767323000"}]},
            "push_failure_time_seconds":{"metrics":[{"labels":{},"value":"1767323040.5"}]},
            "jobs_done":{"type":"COUNTER","help":"h","metrics":[{"labels":{"job":"b"},"value":"3"}]}}]"#,
        )
        .unwrap();
        let g = decode_groups(&v);
        assert_eq!(g[0].labels[0], ("job".to_string(), "b".to_string()));
        assert_eq!(g[0].push_ms, Some(1_767_323_000_000));
        assert_eq!(g[0].failure_ms, Some(1_767_323_040_500));
        assert!(g[0].failing());
        assert_eq!(g[0].families[0].samples, vec!["jobs_done{job=\"b\"} 3"]);
    }
}
