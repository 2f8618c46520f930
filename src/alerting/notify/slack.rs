//! The Slack integration (`slack_configs`), as Alertmanager 0.25's `notify/slack`: one
//! message with one attachment per notification, every text field rendered from its
//! template (the `slack.default.*` templates when unset), POSTed to the incoming-webhook
//! URL (`api_url`, `api_url_file`, or `global.slack_api_url(_file)`).
//!
//! Payload shape and defaults follow upstream exactly: `text`, `fallback`, `callback_id`
//! and `footer` are always present, the others are omitted when empty; `mrkdwn_in`
//! defaults to `fallback, pretext, text`; the title is cut to 1024 characters; a field's
//! `short` falls back to `short_fields`; an action with a `url` drops its `name`, `value`
//! and `confirm`. 2xx succeeds; 5xx and 429 are retried; the webhook URL never appears
//! in an error.

use std::path::PathBuf;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::http_client::{self, HttpConfig, HttpSender};
use super::templates::{data_value, Templates};
use super::{BuildContext, Integration, NotifyData, NotifyError, NotifyFuture};
use crate::template::Escape;

/// Slack's limit on an attachment title, in characters.
const MAX_TITLE_RUNES: usize = 1024;

fn default_tmpl(name: &str) -> String {
    format!("{{{{ template \"slack.default.{name}\" . }}}}")
}

/// One `slack_configs` entry as written (Alertmanager 0.25's `SlackConfig`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlackConfig {
    #[serde(default)]
    pub send_resolved: Option<bool>,
    #[serde(default)]
    http_config: Option<HttpConfig>,
    #[serde(default)]
    pub api_url: Option<String>,
    #[serde(default)]
    pub api_url_file: Option<String>,
    #[serde(default)]
    pub channel: String,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub color: Option<String>,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub title_link: Option<String>,
    #[serde(default)]
    pub pretext: Option<String>,
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub fields: Vec<SlackField>,
    #[serde(default)]
    pub short_fields: bool,
    #[serde(default)]
    pub footer: Option<String>,
    #[serde(default)]
    pub fallback: Option<String>,
    #[serde(default)]
    pub callback_id: Option<String>,
    #[serde(default)]
    pub icon_emoji: Option<String>,
    #[serde(default)]
    pub icon_url: Option<String>,
    #[serde(default)]
    pub image_url: String,
    #[serde(default)]
    pub thumb_url: String,
    #[serde(default)]
    pub link_names: bool,
    #[serde(default)]
    pub mrkdwn_in: Vec<String>,
    #[serde(default)]
    pub actions: Vec<SlackAction>,
}

/// An attachment field (`fields[i]`); both parts are templates.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SlackField {
    pub title: String,
    pub value: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub short: Option<bool>,
}

/// An attachment action (`actions[i]`), a button with a URL or a message action.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SlackAction {
    #[serde(rename = "type")]
    pub kind: String,
    pub text: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub url: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub style: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub value: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirm: Option<SlackConfirm>,
}

/// The confirmation dialog of a message action.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SlackConfirm {
    pub text: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub title: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub ok_text: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub dismiss_text: String,
}

/// The message Slack receives.
#[derive(Debug, Serialize, PartialEq)]
pub struct SlackMessage {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub channel: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub username: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub icon_emoji: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub icon_url: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub link_names: bool,
    pub attachments: Vec<SlackAttachment>,
}

/// The one attachment of a message.
#[derive(Debug, Serialize, PartialEq)]
pub struct SlackAttachment {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub title: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub title_link: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub pretext: String,
    pub text: String,
    pub fallback: String,
    pub callback_id: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<SlackField>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<SlackAction>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub image_url: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub thumb_url: String,
    pub footer: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub color: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mrkdwn_in: Vec<String>,
}

/// Where the webhook URL comes from.
#[derive(Debug, Clone)]
enum ApiUrl {
    Inline(String),
    File(PathBuf),
}

/// A built Slack integration.
pub struct Slack {
    index: usize,
    conf: SlackConfig,
    url: ApiUrl,
    templates: Arc<Templates>,
    http: HttpSender,
}

fn check_url(u: &str, what: &str) -> Result<(), String> {
    match reqwest::Url::parse(u) {
        Ok(p) if p.has_host() => Ok(()),
        Ok(_) => Err(format!("{what}: URL {u:?} has no host")),
        Err(e) => Err(format!("{what}: parse {u:?}: {e}")),
    }
}

fn global_str(ctx: &BuildContext, key: &str) -> Option<String> {
    ctx.global
        .get(key)
        .and_then(|v| v.as_str())
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

impl Slack {
    /// Builds from the entry, with `global.slack_api_url(_file)` and
    /// `global.http_config` as defaults. Errors are Alertmanager's messages.
    pub fn build(
        index: usize,
        entry: &serde_yaml::Value,
        ctx: &BuildContext,
    ) -> Result<Slack, String> {
        let conf: SlackConfig = serde_yaml::from_value(entry.clone()).map_err(|e| e.to_string())?;
        if conf.api_url.is_some() && conf.api_url_file.is_some() {
            return Err("at most one of api_url & api_url_file must be configured".into());
        }
        for f in &conf.fields {
            if f.title.is_empty() {
                return Err("missing title in Slack field configuration".into());
            }
            if f.value.is_empty() {
                return Err("missing value in Slack field configuration".into());
            }
        }
        let mut conf = conf;
        for a in &mut conf.actions {
            if a.kind.is_empty() {
                return Err("missing type in Slack action configuration".into());
            }
            if a.text.is_empty() {
                return Err("missing text in Slack action configuration".into());
            }
            if !a.url.is_empty() {
                a.name.clear();
                a.value.clear();
                a.confirm = None;
            } else if a.name.is_empty() {
                return Err("missing name or url in Slack action configuration".into());
            }
            if let Some(c) = &a.confirm {
                if c.text.is_empty() {
                    return Err("missing text in Slack confirmation configuration".into());
                }
            }
        }
        let url = match (&conf.api_url, &conf.api_url_file) {
            (Some(u), _) => {
                check_url(u, "api_url")?;
                ApiUrl::Inline(u.clone())
            }
            (None, Some(f)) => ApiUrl::File(ctx.base_dir.join(f)),
            (None, None) => match (
                global_str(ctx, "slack_api_url"),
                global_str(ctx, "slack_api_url_file"),
            ) {
                (Some(u), _) => {
                    check_url(&u, "slack_api_url")?;
                    ApiUrl::Inline(u)
                }
                (None, Some(f)) => ApiUrl::File(ctx.base_dir.join(f)),
                (None, None) => {
                    return Err("no global Slack API URL set either inline or in a file".into())
                }
            },
        };
        let http =
            http_client::sender(&http_client::effective(conf.http_config.take(), ctx)?, ctx)?;
        Ok(Slack {
            index,
            conf,
            url,
            templates: ctx.templates.clone(),
            http,
        })
    }

    /// The message for `data` (what [`Integration::notify`] POSTs).
    pub fn message(&self, data: &NotifyData) -> Result<SlackMessage, NotifyError> {
        let v = data_value(data);
        let r = |s: &str| -> Result<String, NotifyError> {
            self.templates
                .render(s, &v, Escape::Text)
                .map_err(|e| NotifyError {
                    retryable: false,
                    message: format!("template: {e}"),
                })
        };
        let or_default = |s: &Option<String>, name: &str| -> Result<String, NotifyError> {
            match s {
                Some(s) => r(s),
                None => r(&default_tmpl(name)),
            }
        };
        let c = &self.conf;
        let (title, _) =
            http_client::truncate_runes(&or_default(&c.title, "title")?, MAX_TITLE_RUNES);
        let fields = c
            .fields
            .iter()
            .map(|f| {
                Ok(SlackField {
                    title: r(&f.title)?,
                    value: r(&f.value)?,
                    short: Some(f.short.unwrap_or(c.short_fields)),
                })
            })
            .collect::<Result<Vec<_>, NotifyError>>()?;
        let actions = c
            .actions
            .iter()
            .map(|a| {
                Ok(SlackAction {
                    kind: r(&a.kind)?,
                    text: r(&a.text)?,
                    url: r(&a.url)?,
                    style: r(&a.style)?,
                    name: r(&a.name)?,
                    value: r(&a.value)?,
                    confirm: match &a.confirm {
                        Some(cf) => Some(SlackConfirm {
                            text: r(&cf.text)?,
                            title: r(&cf.title)?,
                            ok_text: r(&cf.ok_text)?,
                            dismiss_text: r(&cf.dismiss_text)?,
                        }),
                        None => None,
                    },
                })
            })
            .collect::<Result<Vec<_>, NotifyError>>()?;
        let color = match &c.color {
            Some(s) => r(s)?,
            None => r(r#"{{ if eq .Status "firing" }}danger{{ else }}good{{ end }}"#)?,
        };
        let attachment = SlackAttachment {
            title,
            title_link: or_default(&c.title_link, "titlelink")?,
            pretext: or_default(&c.pretext, "pretext")?,
            text: or_default(&c.text, "text")?,
            fallback: or_default(&c.fallback, "fallback")?,
            callback_id: or_default(&c.callback_id, "callbackid")?,
            fields,
            actions,
            image_url: r(&c.image_url)?,
            thumb_url: r(&c.thumb_url)?,
            footer: or_default(&c.footer, "footer")?,
            color,
            mrkdwn_in: if c.mrkdwn_in.is_empty() {
                vec!["fallback".into(), "pretext".into(), "text".into()]
            } else {
                c.mrkdwn_in.clone()
            },
        };
        Ok(SlackMessage {
            channel: r(&c.channel)?,
            username: or_default(&c.username, "username")?,
            icon_emoji: or_default(&c.icon_emoji, "iconemoji")?,
            icon_url: or_default(&c.icon_url, "iconurl")?,
            link_names: c.link_names,
            attachments: vec![attachment],
        })
    }

    async fn send(&self, data: &NotifyData) -> Result<(), NotifyError> {
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
        let url = match &self.url {
            ApiUrl::Inline(u) => u.clone(),
            ApiUrl::File(p) => std::fs::read_to_string(p)
                .map(|s| s.trim().to_string())
                .map_err(|e| NotifyError {
                    retryable: false,
                    message: format!("reading api_url_file {}: {e}", p.display()),
                })?,
        };
        let body = http_client::go_json(&msg)?;
        self.http
            .post_json(&url, body, &[429], true)
            .await
            .map_err(|e| NotifyError {
                retryable: e.retryable,
                message: format!("channel {:?}: {}", msg.channel, e.message),
            })
    }
}

impl Integration for Slack {
    fn kind(&self) -> &'static str {
        "slack"
    }
    fn index(&self) -> usize {
        self.index
    }
    fn send_resolved(&self) -> bool {
        self.conf.send_resolved.unwrap_or(false)
    }
    fn notify<'a>(&'a self, data: &'a NotifyData) -> NotifyFuture<'a> {
        Box::pin(self.send(data))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerting::notify::templates::tests::captured;

    pub(crate) fn ctx(global: &str) -> BuildContext {
        BuildContext {
            global: serde_yaml::from_str(global).unwrap(),
            base_dir: std::env::temp_dir(),
            templates: Arc::new(Templates::default()),
            client: reqwest::Client::new(),
        }
    }

    /// The capture's slack_configs and what Alertmanager 0.25 sent for each.
    fn capture() -> (Vec<serde_yaml::Value>, Vec<serde_json::Value>) {
        let cfg: serde_yaml::Value =
            serde_yaml::from_str(include_str!("../../../tests/data/alerting/am025/am.yml"))
                .unwrap();
        let entries = cfg["receivers"][0]["slack_configs"]
            .as_sequence()
            .unwrap()
            .clone();
        let sent = include_str!("../../../tests/data/alerting/am025/requests.jsonl")
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .filter(|r| r["path"] == "/slack")
            .map(|r| serde_json::from_str(r["body"].as_str().unwrap()).unwrap())
            .collect();
        (entries, sent)
    }

    #[test]
    fn payloads_match_alertmanager_025_field_by_field() {
        let (entries, sent) = capture();
        let c = ctx("slack_api_url: http://127.0.0.1:1/slack");
        let mut checked = 0;
        for (i, entry) in entries.iter().enumerate() {
            let s = Slack::build(i, entry, &c).unwrap();
            // Each notification of the capture that reached this entry's channel.
            let mut n = 0;
            for notification in 0..3 {
                let d = captured(notification);
                let msg = serde_json::to_value(s.message(&d).unwrap()).unwrap();
                let want: Vec<&serde_json::Value> = sent
                    .iter()
                    .filter(|b| b["channel"] == msg["channel"])
                    .collect();
                // Entries without send_resolved got no all-resolved notification.
                if let Some(w) = want.get(n) {
                    if d.status == crate::alerting::notify::Status::Resolved && !s.send_resolved() {
                        continue;
                    }
                    assert_eq!(&msg, *w, "entry {i} notification {notification}");
                    n += 1;
                    checked += 1;
                }
            }
        }
        assert_eq!(checked, sent.len(), "every captured payload compared");
    }

    #[test]
    fn defaults_and_validation() {
        let c = ctx("{}");
        let e = |y: &str| {
            Slack::build(0, &serde_yaml::from_str(y).unwrap(), &c)
                .err()
                .unwrap()
        };
        assert_eq!(
            e("channel: x"),
            "no global Slack API URL set either inline or in a file"
        );
        assert_eq!(
            e("{api_url: 'http://a/', api_url_file: f}"),
            "at most one of api_url & api_url_file must be configured"
        );
        assert_eq!(
            e("{api_url: 'http://a/', fields: [{title: t}]}"),
            "missing field `value`"
        );
        assert_eq!(
            e("{api_url: 'http://a/', actions: [{type: button, text: t}]}"),
            "missing name or url in Slack action configuration"
        );
        assert!(e("{api_url: 'http://a/', nope: 1}").contains("unknown field `nope`"));
        let s = Slack::build(
            0,
            &serde_yaml::from_str("api_url: 'http://a/'").unwrap(),
            &c,
        )
        .unwrap();
        assert!(!s.send_resolved());
        let long = format!("title: '{}'\napi_url: 'http://a/'", "é".repeat(1100));
        let s = Slack::build(0, &serde_yaml::from_str(&long).unwrap(), &c).unwrap();
        let m = s.message(&captured(0)).unwrap();
        assert_eq!(m.attachments[0].title.chars().count(), 1024);
        assert!(m.attachments[0].title.ends_with('…'));
    }
}
