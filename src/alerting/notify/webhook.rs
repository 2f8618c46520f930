//! The webhook integration (Alertmanager's `notify/webhook`): POSTs Alertmanager's JSON
//! body, version "4", with the group key and, when `max_alerts` truncates the list, the
//! number of alerts left out (`truncatedAlerts`). `url` or `url_file` (read at each send,
//! trimmed), `send_resolved` (default true), `http_config` (basic auth, authorization /
//! bearer token, each with a `*_file` form; the global `http_config` when unset). A 5xx or
//! a connection error is retried by the dispatcher; another non-2xx status is not.

use std::path::PathBuf;
use std::sync::Arc;

use serde::Serialize;
use serde_yaml::{Mapping, Value};

use super::{BuildContext, BuildError, Integration, NotifyData, NotifyError, NotifyFuture};

/// Go's zero time, what Alertmanager writes for a firing alert's `endsAt`.
const GO_ZERO_TIME: &str = "0001-01-01T00:00:00Z";

#[derive(Clone, Debug)]
enum Auth {
    None,
    Basic {
        username: String,
        password: Secret,
    },
    /// `Authorization: <type> <credentials>`.
    Header {
        kind: String,
        credentials: Secret,
    },
}

/// A secret given inline or in a file read at each use.
#[derive(Clone, Debug)]
enum Secret {
    Inline(String),
    File(PathBuf),
}

impl Secret {
    fn read(&self) -> Result<String, NotifyError> {
        match self {
            Secret::Inline(s) => Ok(s.clone()),
            Secret::File(p) => std::fs::read_to_string(p)
                .map(|s| s.trim().to_string())
                .map_err(|e| NotifyError {
                    retryable: false,
                    message: format!("reading {}: {e}", p.display()),
                }),
        }
    }
}

/// A configured `webhook_configs` entry.
pub struct Webhook {
    index: usize,
    url: Secret,
    send_resolved: bool,
    max_alerts: usize,
    auth: Auth,
    client: reqwest::Client,
}

const FIELDS: &[&str] = &[
    "send_resolved",
    "url",
    "url_file",
    "http_config",
    "max_alerts",
];

const HTTP_FIELDS: &[&str] = &[
    "basic_auth",
    "authorization",
    "bearer_token",
    "bearer_token_file",
    "tls_config",
    "proxy_url",
    "follow_redirects",
    "enable_http2",
    "oauth2",
    "no_proxy",
    "proxy_from_environment",
    "proxy_connect_header",
];

fn invalid(index: usize, message: impl Into<String>) -> BuildError {
    BuildError::Invalid {
        kind: "webhook".into(),
        index,
        message: message.into(),
    }
}

fn str_field(m: &Mapping, k: &str, index: usize) -> Result<Option<String>, BuildError> {
    match m.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(invalid(index, format!("{k} must be a string"))),
    }
}

fn resolve(base: &std::path::Path, p: &str) -> PathBuf {
    let p = PathBuf::from(p);
    if p.is_absolute() {
        p
    } else {
        base.join(p)
    }
}

fn parse_auth(v: &Value, index: usize, base: &std::path::Path) -> Result<Auth, BuildError> {
    let Value::Mapping(m) = v else {
        return Err(invalid(index, "http_config must be a mapping"));
    };
    for k in m.keys() {
        let k = k.as_str().unwrap_or_default();
        if !HTTP_FIELDS.contains(&k) {
            return Err(invalid(
                index,
                format!("field {k} not found in type config.plain"),
            ));
        }
    }
    let mut auth = Auth::None;
    let mut set = 0;
    if let Some(Value::Mapping(b)) = m.get("basic_auth") {
        let username = str_field(b, "username", index)?.unwrap_or_default();
        let password = match (
            str_field(b, "password", index)?,
            str_field(b, "password_file", index)?,
        ) {
            (Some(_), Some(_)) => {
                return Err(invalid(
                    index,
                    "at most one of basic_auth password & password_file must be configured",
                ))
            }
            (_, Some(f)) => Secret::File(resolve(base, &f)),
            (p, None) => Secret::Inline(p.unwrap_or_default()),
        };
        auth = Auth::Basic { username, password };
        set += 1;
    }
    if let Some(Value::Mapping(a)) = m.get("authorization") {
        let kind = str_field(a, "type", index)?.unwrap_or_else(|| "Bearer".into());
        if kind.eq_ignore_ascii_case("basic") {
            return Err(invalid(
                index,
                "authorization type cannot be set to \"basic\", use \"basic_auth\" instead",
            ));
        }
        let credentials = match (
            str_field(a, "credentials", index)?,
            str_field(a, "credentials_file", index)?,
        ) {
            (Some(_), Some(_)) => return Err(invalid(
                index,
                "at most one of authorization credentials & credentials_file must be configured",
            )),
            (_, Some(f)) => Secret::File(resolve(base, &f)),
            (c, None) => Secret::Inline(c.unwrap_or_default()),
        };
        auth = Auth::Header { kind, credentials };
        set += 1;
    }
    let bearer = str_field(m, "bearer_token", index)?;
    let bearer_file = str_field(m, "bearer_token_file", index)?;
    if bearer.is_some() || bearer_file.is_some() {
        auth = Auth::Header {
            kind: "Bearer".into(),
            credentials: match (bearer, bearer_file) {
                (_, Some(f)) => Secret::File(resolve(base, &f)),
                (b, None) => Secret::Inline(b.unwrap_or_default()),
            },
        };
        set += 1;
    }
    if set > 1 {
        return Err(invalid(
            index,
            "at most one of basic_auth, oauth2, bearer_token & bearer_token_file must be configured",
        ));
    }
    Ok(auth)
}

/// Builds a webhook from its YAML entry.
pub fn build(
    index: usize,
    entry: &Value,
    ctx: &BuildContext,
) -> Result<Arc<dyn Integration>, BuildError> {
    let Value::Mapping(m) = entry else {
        return Err(invalid(index, "expected a mapping"));
    };
    for k in m.keys() {
        let k = k.as_str().unwrap_or_default();
        if !FIELDS.contains(&k) {
            return Err(invalid(
                index,
                format!("field {k} not found in type config.plain"),
            ));
        }
    }
    let url = match (
        str_field(m, "url", index)?,
        str_field(m, "url_file", index)?,
    ) {
        (Some(_), Some(_)) => {
            return Err(invalid(
                index,
                "at most one of url & url_file must be configured",
            ))
        }
        (Some(u), None) => {
            let parsed = reqwest::Url::parse(&u)
                .map_err(|e| invalid(index, format!("invalid url {u:?}: {e}")))?;
            if !matches!(parsed.scheme(), "http" | "https") {
                return Err(invalid(
                    index,
                    format!("unsupported scheme {:?} for URL", parsed.scheme()),
                ));
            }
            Secret::Inline(u)
        }
        (None, Some(f)) => Secret::File(resolve(&ctx.base_dir, &f)),
        (None, None) => return Err(invalid(index, "one of url or url_file must be configured")),
    };
    let send_resolved = match m.get("send_resolved") {
        None | Some(Value::Null) => true,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(invalid(index, "send_resolved must be true or false")),
    };
    let max_alerts = match m.get("max_alerts") {
        None | Some(Value::Null) => 0,
        Some(v) => v
            .as_u64()
            .ok_or_else(|| invalid(index, "max_alerts must be a non-negative integer"))?
            as usize,
    };
    let http = m
        .get("http_config")
        .or_else(|| ctx.global.get("http_config"));
    let auth = match http {
        Some(v) if !v.is_null() => parse_auth(v, index, &ctx.base_dir)?,
        _ => Auth::None,
    };
    Ok(Arc::new(Webhook {
        index,
        url,
        send_resolved,
        max_alerts,
        auth,
        client: ctx.client.clone(),
    }))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Body<'a> {
    receiver: &'a str,
    status: &'static str,
    alerts: Vec<BodyAlert<'a>>,
    group_labels: &'a std::collections::BTreeMap<String, String>,
    common_labels: &'a std::collections::BTreeMap<String, String>,
    common_annotations: &'a std::collections::BTreeMap<String, String>,
    #[serde(rename = "externalURL")]
    external_url: &'a str,
    version: &'static str,
    group_key: &'a str,
    truncated_alerts: usize,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct BodyAlert<'a> {
    status: &'static str,
    labels: &'a std::collections::BTreeMap<String, String>,
    annotations: &'a std::collections::BTreeMap<String, String>,
    starts_at: String,
    ends_at: String,
    #[serde(rename = "generatorURL")]
    generator_url: &'a str,
    fingerprint: &'a str,
}

/// Go's `time.Time` JSON form (RFC 3339 with trailing-zero-trimmed nanoseconds, UTC `Z`).
pub fn go_time(t: &chrono::DateTime<chrono::Utc>) -> String {
    let base = t.format("%Y-%m-%dT%H:%M:%S").to_string();
    let nanos = chrono::Timelike::nanosecond(t) % 1_000_000_000;
    if nanos == 0 {
        return format!("{base}Z");
    }
    let frac = format!("{nanos:09}");
    format!("{base}.{}Z", frac.trim_end_matches('0'))
}

/// The JSON body Alertmanager posts for `data`, cut to `max_alerts` when non-zero.
pub fn body(data: &NotifyData, max_alerts: usize) -> Vec<u8> {
    let n = data.alerts.len();
    let keep = if max_alerts > 0 { max_alerts.min(n) } else { n };
    let alerts = data.alerts[..keep]
        .iter()
        .map(|a| BodyAlert {
            status: a.status.as_str(),
            labels: &a.labels,
            annotations: &a.annotations,
            starts_at: go_time(&a.starts_at),
            ends_at: a
                .ends_at
                .as_ref()
                .map_or_else(|| GO_ZERO_TIME.to_string(), go_time),
            generator_url: &a.generator_url,
            fingerprint: &a.fingerprint,
        })
        .collect();
    let b = Body {
        receiver: &data.receiver,
        status: data.status.as_str(),
        alerts,
        group_labels: &data.group_labels,
        common_labels: &data.common_labels,
        common_annotations: &data.common_annotations,
        external_url: &data.external_url,
        version: "4",
        group_key: &data.group_key,
        truncated_alerts: n - keep,
    };
    serde_json::to_vec(&b).unwrap_or_default()
}

impl Integration for Webhook {
    fn kind(&self) -> &'static str {
        "webhook"
    }

    fn index(&self) -> usize {
        self.index
    }

    fn send_resolved(&self) -> bool {
        self.send_resolved
    }

    fn notify<'a>(&'a self, data: &'a NotifyData) -> NotifyFuture<'a> {
        Box::pin(async move {
            let url = self.url.read()?;
            let mut req = self
                .client
                .post(url.trim())
                .header("Content-Type", "application/json")
                .header("User-Agent", "Alertmanager/0.25.0 (promtui)")
                .body(body(data, self.max_alerts));
            match &self.auth {
                Auth::None => {}
                Auth::Basic { username, password } => {
                    req = req.basic_auth(username, Some(password.read()?));
                }
                Auth::Header { kind, credentials } => {
                    req = req.header("Authorization", format!("{kind} {}", credentials.read()?));
                }
            }
            let resp = req.send().await.map_err(|e| NotifyError {
                retryable: true,
                message: format!("webhook: {e}"),
            })?;
            let code = resp.status();
            if code.is_success() {
                return Ok(());
            }
            Err(NotifyError {
                retryable: code.is_server_error(),
                message: format!("webhook: unexpected status code {}", code.as_u16()),
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::{NotifyAlert, Status, Templates};
    use super::*;
    use chrono::{TimeZone, Utc};

    fn ctx() -> BuildContext {
        BuildContext {
            global: Mapping::new(),
            base_dir: "/etc".into(),
            templates: Arc::new(Templates::default()),
            client: reqwest::Client::new(),
        }
    }

    fn data(n: usize) -> NotifyData {
        let alert = |i: usize| NotifyAlert {
            status: Status::Firing,
            labels: [("alertname".to_string(), format!("A{i}"))].into(),
            annotations: Default::default(),
            starts_at: Utc.with_ymd_and_hms(2024, 1, 2, 3, 4, 5).unwrap()
                + chrono::Duration::milliseconds(120),
            ends_at: None,
            generator_url: "http://x/graph".into(),
            fingerprint: "0123456789abcdef".into(),
        };
        NotifyData {
            receiver: "web".into(),
            status: Status::Firing,
            alerts: (0..n).map(alert).collect(),
            group_labels: Default::default(),
            common_labels: Default::default(),
            common_annotations: Default::default(),
            external_url: "http://am".into(),
            group_key: "{}:{}".into(),
        }
    }

    #[test]
    fn the_body_is_alertmanagers_version_4() {
        let b: serde_json::Value = serde_json::from_slice(&body(&data(3), 2)).unwrap();
        assert_eq!(b["version"], "4");
        assert_eq!(b["groupKey"], "{}:{}");
        assert_eq!(b["truncatedAlerts"], 1);
        assert_eq!(b["alerts"].as_array().unwrap().len(), 2);
        assert_eq!(b["alerts"][0]["startsAt"], "2024-01-02T03:04:05.12Z");
        assert_eq!(b["alerts"][0]["endsAt"], GO_ZERO_TIME);
        assert_eq!(b["externalURL"], "http://am");
        // Go writes the struct's fields in declaration order.
        let raw = String::from_utf8(body(&data(1), 0)).unwrap();
        assert!(
            raw.starts_with(
                r#"{"receiver":"web","status":"firing","alerts":[{"status":"firing","labels""#
            ),
            "{raw}"
        );
        assert!(
            raw.ends_with(r#""version":"4","groupKey":"{}:{}","truncatedAlerts":0}"#),
            "{raw}"
        );
    }

    #[test]
    fn configuration_errors_are_refused() {
        let y = |s: &str| serde_yaml::from_str::<Value>(s).unwrap();
        assert!(build(0, &y("{}"), &ctx()).is_err());
        assert!(build(0, &y("{url: 'ftp://x'}"), &ctx()).is_err());
        assert!(build(0, &y("{url: 'http://x', url_file: f}"), &ctx()).is_err());
        assert!(build(0, &y("{url: 'http://x', bogus: 1}"), &ctx()).is_err());
        let w = build(
            1,
            &y("{url: 'http://x', send_resolved: false, http_config: {basic_auth: {username: u, password: p}}}"),
            &ctx(),
        )
        .unwrap();
        assert!(!w.send_resolved());
        assert_eq!(w.index(), 1);
    }
}
