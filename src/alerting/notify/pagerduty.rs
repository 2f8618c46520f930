//! The PagerDuty integration (`pagerduty_configs`), as Alertmanager 0.25's
//! `notify/pagerduty`: an Events API v2 event per notification (`routing_key`), or a
//! v1 event to the generic endpoint when only a `service_key` is configured.
//!
//! - `event_action` is `resolve` when every alert of the notification is resolved,
//!   otherwise `trigger`; `dedup_key` (v1: `incident_key`) is the hex SHA-256 of the
//!   aggregation group key, so one group is one incident.
//! - Defaults as upstream: `description` from `pagerduty.default.description`, `client`
//!   and `client_url` from their defaults, `source` = the `client` template, `severity`
//!   `error`, and the `details` `firing`, `resolved`, `num_firing`, `num_resolved`
//!   added unless configured; images without `src` and links without `href` are
//!   dropped; `send_resolved` defaults to true.
//! - Limits as upstream: the summary (v1: description) is cut to 1024 characters; an
//!   event over 512 KB has its custom details replaced by a note.
//! - 2xx succeeds; 5xx and 429 (v1: 403) are retried.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::http_client::{self, HttpConfig, HttpSender};
use super::templates::{data_value, Templates};
use super::{BuildContext, Integration, NotifyData, NotifyError, NotifyFuture, Status};
use crate::template::Escape;

/// Events API v2's default endpoint (`global.pagerduty_url`).
pub const DEFAULT_URL: &str = "https://events.pagerduty.com/v2/enqueue";
/// The v1 generic events endpoint, used with `service_key`.
pub const V1_URL: &str = "https://events.pagerduty.com/generic/2010-04-15/create_event.json";
/// PagerDuty's limit on one event.
const MAX_EVENT_SIZE: usize = 512_000;
const MAX_SUMMARY_RUNES: usize = 1024;
const DETAILS_REMOVED: &str =
    "Custom details have been removed because the original event exceeds the maximum size of 512KB";

/// One `pagerduty_configs` entry as written (Alertmanager 0.25's `PagerdutyConfig`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PagerdutyConfig {
    #[serde(default)]
    pub send_resolved: Option<bool>,
    #[serde(default)]
    http_config: Option<HttpConfig>,
    #[serde(default)]
    pub service_key: String,
    #[serde(default)]
    pub service_key_file: String,
    #[serde(default)]
    pub routing_key: String,
    #[serde(default)]
    pub routing_key_file: String,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub client: Option<String>,
    #[serde(default)]
    pub client_url: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub details: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub images: Vec<PagerdutyImage>,
    #[serde(default)]
    pub links: Vec<PagerdutyLink>,
    #[serde(default)]
    pub source: String,
    #[serde(default)]
    pub severity: String,
    #[serde(default)]
    pub class: String,
    #[serde(default)]
    pub component: String,
    #[serde(default)]
    pub group: String,
}

/// An image attached to the incident; every part is a template.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PagerdutyImage {
    #[serde(default)]
    pub src: String,
    #[serde(default)]
    pub alt: String,
    #[serde(default)]
    pub href: String,
}

/// A link attached to the incident.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PagerdutyLink {
    #[serde(default)]
    pub href: String,
    #[serde(default)]
    pub text: String,
}

/// The event PagerDuty receives (v2 fields, and v1's when `service_key` is used).
#[derive(Debug, Serialize, PartialEq)]
pub struct PagerdutyMessage {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub routing_key: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub service_key: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub dedup_key: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub incident_key: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub event_type: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub description: String,
    pub event_action: String,
    pub payload: Option<PagerdutyPayload>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub client: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub client_url: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub details: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<PagerdutyImage>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<PagerdutyLink>,
}

/// The v2 event's `payload`.
#[derive(Debug, Serialize, PartialEq)]
pub struct PagerdutyPayload {
    pub summary: String,
    pub source: String,
    pub severity: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub class: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub component: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub group: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub custom_details: BTreeMap<String, String>,
}

/// A built PagerDuty integration.
pub struct Pagerduty {
    index: usize,
    conf: PagerdutyConfig,
    details: BTreeMap<String, String>,
    url: String,
    v1: bool,
    templates: Arc<Templates>,
    http: HttpSender,
}

/// Alertmanager's `notify.Key.Hash`: hex SHA-256 of the group key.
pub fn group_key_hash(group_key: &str) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, group_key.as_bytes());
    d.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

fn read_key(f: &str) -> Result<String, NotifyError> {
    let p = PathBuf::from(f);
    std::fs::read_to_string(&p)
        .map(|s| s.trim().to_string())
        .map_err(|e| NotifyError {
            retryable: false,
            message: format!("failed to read {}: {e}", p.display()),
        })
}

impl Pagerduty {
    /// Builds from the entry, with `global.pagerduty_url` and `global.http_config` as
    /// defaults. Errors are Alertmanager's messages.
    pub fn build(
        index: usize,
        entry: &serde_yaml::Value,
        ctx: &BuildContext,
    ) -> Result<Pagerduty, String> {
        let mut conf: PagerdutyConfig =
            serde_yaml::from_value(entry.clone()).map_err(|e| e.to_string())?;
        if conf.routing_key.is_empty()
            && conf.service_key.is_empty()
            && conf.routing_key_file.is_empty()
            && conf.service_key_file.is_empty()
        {
            return Err("missing service or routing key in PagerDuty config".into());
        }
        if !conf.routing_key.is_empty() && !conf.routing_key_file.is_empty() {
            return Err("at most one of routing_key & routing_key_file must be configured".into());
        }
        if !conf.service_key.is_empty() && !conf.service_key_file.is_empty() {
            return Err("at most one of service_key & service_key_file must be configured".into());
        }
        let mut details = conf.details.take().unwrap_or_default();
        for (k, v) in [
            (
                "firing",
                r#"{{ template "pagerduty.default.instances" .Alerts.Firing }}"#,
            ),
            (
                "resolved",
                r#"{{ template "pagerduty.default.instances" .Alerts.Resolved }}"#,
            ),
            ("num_firing", "{{ .Alerts.Firing | len }}"),
            ("num_resolved", "{{ .Alerts.Resolved | len }}"),
        ] {
            details
                .entry(k.to_string())
                .or_insert_with(|| v.to_string());
        }
        if conf.client.is_none() {
            conf.client = Some(r#"{{ template "pagerduty.default.client" . }}"#.into());
        }
        if conf.source.is_empty() {
            conf.source = conf.client.clone().unwrap_or_default();
        }
        let url = match &conf.url {
            Some(u) => u.clone(),
            None => ctx
                .global
                .get("pagerduty_url")
                .and_then(|v| v.as_str())
                .unwrap_or(DEFAULT_URL)
                .to_string(),
        };
        match reqwest::Url::parse(&url) {
            Ok(u) if u.has_host() => {}
            _ => return Err(format!("invalid PagerDuty url {url:?}")),
        }
        // Key files are read at each send, as upstream; relative to the config directory.
        for f in [&mut conf.routing_key_file, &mut conf.service_key_file] {
            if !f.is_empty() {
                *f = ctx.base_dir.join(&*f).to_string_lossy().into_owned();
            }
        }
        let v1 = !conf.service_key.is_empty() || !conf.service_key_file.is_empty();
        let http =
            http_client::sender(&http_client::effective(conf.http_config.take(), ctx)?, ctx)?;
        Ok(Pagerduty {
            index,
            conf,
            details,
            url: if v1 { V1_URL.to_string() } else { url },
            v1,
            templates: ctx.templates.clone(),
            http,
        })
    }

    /// The event for `data` (what [`Integration::notify`] POSTs).
    pub fn message(&self, data: &NotifyData) -> Result<PagerdutyMessage, NotifyError> {
        let v = data_value(data);
        let r = |s: &str| -> Result<String, NotifyError> {
            self.templates
                .render(s, &v, Escape::Text)
                .map_err(|e| NotifyError {
                    retryable: false,
                    message: format!("failed to template PagerDuty message: {e}"),
                })
        };
        let c = &self.conf;
        let resolved = data.alerts.iter().all(|a| a.status == Status::Resolved);
        let mut details = BTreeMap::new();
        for (k, t) in &self.details {
            let d = self
                .templates
                .render(t, &v, Escape::Text)
                .map_err(|e| NotifyError {
                    retryable: false,
                    message: format!("{k:?}: failed to template {t:?}: {e}"),
                })?;
            details.insert(k.clone(), d);
        }
        let description = match &c.description {
            Some(s) => r(s)?,
            None => r(r#"{{ template "pagerduty.default.description" .}}"#)?,
        };
        let (description, _) = http_client::truncate_runes(&description, MAX_SUMMARY_RUNES);
        let client = r(c.client.as_deref().unwrap_or_default())?;
        let client_url = match &c.client_url {
            Some(s) => r(s)?,
            None => r(r#"{{ template "pagerduty.default.clientURL" . }}"#)?,
        };
        let key = group_key_hash(&data.group_key);
        if self.v1 {
            let service_key = if c.service_key.is_empty() {
                read_key(&c.service_key_file)?
            } else {
                c.service_key.clone()
            };
            let trigger = !resolved;
            return Ok(PagerdutyMessage {
                routing_key: String::new(),
                service_key: r(&service_key)?,
                dedup_key: String::new(),
                incident_key: key,
                event_type: if resolved { "resolve" } else { "trigger" }.into(),
                description,
                event_action: String::new(),
                payload: None,
                client: if trigger { client } else { String::new() },
                client_url: if trigger { client_url } else { String::new() },
                details,
                images: Vec::new(),
                links: Vec::new(),
            });
        }
        let routing_key = if c.routing_key.is_empty() {
            read_key(&c.routing_key_file)?
        } else {
            c.routing_key.clone()
        };
        let routing_key = r(&routing_key)?;
        if routing_key.is_empty() {
            return Err(NotifyError {
                retryable: false,
                message: "routing key cannot be empty".into(),
            });
        }
        let mut images = Vec::new();
        for i in &c.images {
            let img = PagerdutyImage {
                src: r(&i.src)?,
                alt: r(&i.alt)?,
                href: r(&i.href)?,
            };
            if !img.src.is_empty() {
                images.push(img);
            }
        }
        let mut links = Vec::new();
        for l in &c.links {
            let link = PagerdutyLink {
                href: r(&l.href)?,
                text: r(&l.text)?,
            };
            if !link.href.is_empty() {
                links.push(link);
            }
        }
        let severity = if c.severity.is_empty() {
            "error".to_string()
        } else {
            r(&c.severity)?
        };
        Ok(PagerdutyMessage {
            routing_key,
            service_key: String::new(),
            dedup_key: key,
            incident_key: String::new(),
            event_type: String::new(),
            description: String::new(),
            event_action: if resolved { "resolve" } else { "trigger" }.into(),
            payload: Some(PagerdutyPayload {
                summary: description,
                source: r(&c.source)?,
                severity,
                class: r(&c.class)?,
                component: r(&c.component)?,
                group: r(&c.group)?,
                custom_details: details,
            }),
            client,
            client_url,
            details: BTreeMap::new(),
            images,
            links,
        })
    }

    /// The JSON body, with the custom details dropped for a note when the event is over
    /// PagerDuty's 512 KB limit (as upstream).
    pub fn encode(mut msg: PagerdutyMessage) -> Result<String, NotifyError> {
        let body = http_client::go_json(&msg)?;
        if body.len() <= MAX_EVENT_SIZE {
            return Ok(body);
        }
        let note = BTreeMap::from([("error".to_string(), DETAILS_REMOVED.to_string())]);
        match msg.payload.as_mut() {
            Some(p) => p.custom_details = note,
            None => msg.details = note,
        }
        let body = http_client::go_json(&msg)?;
        if body.len() > MAX_EVENT_SIZE {
            return Err(NotifyError {
                retryable: false,
                message: format!(
                    "event exceeds the maximum size of 512KB even without custom details ({} bytes)",
                    body.len()
                ),
            });
        }
        Ok(body)
    }
}

impl Integration for Pagerduty {
    fn kind(&self) -> &'static str {
        "pagerduty"
    }
    fn index(&self) -> usize {
        self.index
    }
    fn send_resolved(&self) -> bool {
        self.conf.send_resolved.unwrap_or(true)
    }
    fn notify<'a>(&'a self, data: &'a NotifyData) -> NotifyFuture<'a> {
        Box::pin(async move {
            let filtered;
            let data = if self.send_resolved() {
                data
            } else {
                match super::templates::firing_only(data) {
                    Some(d) => {
                        filtered = d;
                        &filtered
                    }
                    None => return Ok(()),
                }
            };
            let msg = self.message(data)?;
            let body = Self::encode(msg)?;
            let retry: &[u16] = if self.v1 { &[403] } else { &[429] };
            self.http
                .post_json(&self.url, body, retry, false)
                .await
                .map_err(|e| NotifyError {
                    retryable: e.retryable,
                    message: format!("failed to post message to PagerDuty: {}", e.message),
                })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerting::notify::templates::tests::captured;

    fn ctx() -> BuildContext {
        BuildContext {
            global: serde_yaml::from_str("pagerduty_url: http://127.0.0.1:1/pd").unwrap(),
            base_dir: std::env::temp_dir(),
            templates: Arc::new(Templates::default()),
            client: reqwest::Client::new(),
        }
    }

    #[test]
    fn payloads_match_alertmanager_025_field_by_field() {
        let cfg: serde_yaml::Value =
            serde_yaml::from_str(include_str!("../../../tests/data/alerting/am025/am.yml"))
                .unwrap();
        let entries = cfg["receivers"][0]["pagerduty_configs"]
            .as_sequence()
            .unwrap();
        let reqs: Vec<serde_json::Value> =
            include_str!("../../../tests/data/alerting/am025/requests.jsonl")
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect();
        let c = ctx();
        let mut checked = 0;
        for (i, (entry, path)) in entries.iter().zip(["/pd", "/pd-full"]).enumerate() {
            let p = Pagerduty::build(i, entry, &c).unwrap();
            let sent: Vec<serde_json::Value> = reqs
                .iter()
                .filter(|r| r["path"] == path)
                .map(|r| serde_json::from_str(r["body"].as_str().unwrap()).unwrap())
                .collect();
            assert_eq!(sent.len(), 3);
            for (n, want) in sent.iter().enumerate() {
                let got = p.message(&captured(n)).unwrap();
                let got: serde_json::Value =
                    serde_json::from_str(&Pagerduty::encode(got).unwrap()).unwrap();
                assert_eq!(&got, want, "{path} notification {n}");
                checked += 1;
            }
        }
        assert_eq!(checked, 6);
    }

    #[test]
    fn dedup_key_is_sha256_of_the_group_key() {
        // From the capture: group key {}:{alertname="DiskFull"}.
        assert_eq!(
            group_key_hash("{}:{alertname=\"DiskFull\"}"),
            "17c4e445d234645c9e547ff6d32a864af0ebdadcd1902771c24c8d366637ff41"
        );
    }

    #[test]
    fn validation_v1_and_limits() {
        let c = ctx();
        let build = |y: &str| Pagerduty::build(0, &serde_yaml::from_str(y).unwrap(), &c);
        assert_eq!(
            build("client: x").err().unwrap(),
            "missing service or routing key in PagerDuty config"
        );
        assert_eq!(
            build("{routing_key: a, routing_key_file: b}")
                .err()
                .unwrap(),
            "at most one of routing_key & routing_key_file must be configured"
        );
        assert!(build("{routing_key: a, bogus: 1}")
            .err()
            .unwrap()
            .contains("unknown field"));
        let p = build("routing_key: k").unwrap();
        assert!(p.send_resolved());
        assert_eq!(p.url, "http://127.0.0.1:1/pd");

        let v1 = build("service_key: sk").unwrap();
        assert_eq!(v1.url, V1_URL);
        let m = v1.message(&captured(2)).unwrap();
        let j: serde_json::Value = serde_json::from_str(&Pagerduty::encode(m).unwrap()).unwrap();
        assert_eq!(j["service_key"], "sk");
        assert_eq!(j["event_type"], "resolve");
        assert_eq!(j["event_action"], "");
        assert!(j["payload"].is_null());
        assert!(j.get("client").is_none(), "no client on resolve");
        assert_eq!(j["incident_key"], group_key_hash(&captured(2).group_key));

        let long = build(&format!(
            "{{routing_key: k, description: '{}'}}",
            "x".repeat(1100)
        ))
        .unwrap();
        let m = long.message(&captured(0)).unwrap();
        let s = &m.payload.as_ref().unwrap().summary;
        assert_eq!(s.chars().count(), 1024);
        assert!(s.ends_with('…'));

        let big = build(&format!(
            "{{routing_key: k, details: {{big: '{}'}}}}",
            "y".repeat(600_000)
        ))
        .unwrap();
        let body = Pagerduty::encode(big.message(&captured(0)).unwrap()).unwrap();
        let j: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(j["payload"]["custom_details"]["error"], DETAILS_REMOVED);
    }
}
