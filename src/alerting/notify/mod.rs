//! Receivers' integrations: what the dispatcher hands a notification to, and the
//! Alertmanager template data it is rendered from.
//!
//! The dispatcher (src/alerting) builds one [`NotifyData`] per aggregation group flush and
//! calls [`Integration::notify`] on every integration of the group's receiver. Each
//! integration kind (webhook, slack, email, pagerduty) lives in its own file here and is
//! built from its raw YAML entry by [`build_integration`], so alertmanager.yml parsing
//! does not need to know each kind's fields.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use chrono::{DateTime, Utc};

pub mod email;
pub(crate) mod http_client;
pub mod pagerduty;
pub mod slack;
pub mod templates;
pub mod webhook;

pub use templates::{RenderError, TemplateLoadError, Templates};

/// A boxed future borrowed for the life of the integration call.
pub type NotifyFuture<'a> = Pin<Box<dyn Future<Output = Result<(), NotifyError>> + Send + 'a>>;

/// Firing or resolved, for one alert or a whole notification (Alertmanager's
/// `model.AlertStatus`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Firing,
    Resolved,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Firing => "firing",
            Status::Resolved => "resolved",
        }
    }
}

/// One alert as templates and payloads see it (Alertmanager's `template.Alert`).
#[derive(Clone, Debug, PartialEq)]
pub struct NotifyAlert {
    pub status: Status,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub starts_at: DateTime<Utc>,
    /// `None` for a firing alert without an end (Alertmanager writes Go's zero time,
    /// `0001-01-01T00:00:00Z`).
    pub ends_at: Option<DateTime<Utc>>,
    pub generator_url: String,
    /// Alertmanager's fingerprint of the label set, 16 lowercase hex digits.
    pub fingerprint: String,
}

/// One notification of one aggregation group to one receiver (Alertmanager's
/// `template.Data` plus the group key every payload carries).
#[derive(Clone, Debug, PartialEq)]
pub struct NotifyData {
    pub receiver: String,
    /// Firing when any alert fires.
    pub status: Status,
    /// Firing alerts first is not implied: the dispatcher's order (by labels) is kept.
    pub alerts: Vec<NotifyAlert>,
    pub group_labels: BTreeMap<String, String>,
    /// Labels (annotations) every alert shares with the same value.
    pub common_labels: BTreeMap<String, String>,
    pub common_annotations: BTreeMap<String, String>,
    /// `--web.external-url` (or the default URL promtui serves on).
    pub external_url: String,
    /// The aggregation group's key, e.g. `{}/{severity="page"}:{alertname="X"}`.
    pub group_key: String,
}

/// Why a notification failed; `retryable` tells the dispatcher to back off and retry
/// (5xx, 429, connection errors) rather than give up (other 4xx, bad templates).
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct NotifyError {
    pub retryable: bool,
    pub message: String,
}

/// One configured integration of a receiver (`webhook_configs[0]`, `slack_configs[1]`...).
pub trait Integration: Send + Sync {
    /// The kind as alertmanager.yml names it without `_configs`: `webhook`, `slack`...
    fn kind(&self) -> &'static str;
    /// Position within the receiver's list of this kind.
    fn index(&self) -> usize;
    /// Whether resolved notifications are sent (`send_resolved`).
    fn send_resolved(&self) -> bool;
    /// Sends one notification.
    fn notify<'a>(&'a self, data: &'a NotifyData) -> NotifyFuture<'a>;
}

/// What building an integration may read besides its own YAML entry.
#[derive(Clone)]
pub struct BuildContext {
    /// The `global:` section as written (slack_api_url, smtp_*, pagerduty_url,
    /// http_config...); absent keys take Alertmanager's defaults.
    pub global: serde_yaml::Mapping,
    /// Directory of the alertmanager.yml, for relative `*_file` paths.
    pub base_dir: std::path::PathBuf,
    pub templates: Arc<Templates>,
    pub client: reqwest::Client,
}

/// Why an integration's configuration was refused (at load, so `check alertmanager`
/// reports it).
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("{kind}_configs[{index}]: {message}")]
    Invalid {
        kind: String,
        index: usize,
        message: String,
    },
    /// A kind Alertmanager knows that promtui does not send; it loads, is reported, and
    /// its notifications count as failed.
    #[error("{kind}_configs is not supported by promtui")]
    Unsupported { kind: String },
    #[error("unknown receiver field {kind}")]
    Unknown { kind: String },
}

/// Every `*_configs` kind Alertmanager 0.25+ accepts in a receiver.
pub const KNOWN_KINDS: &[&str] = &[
    "webhook",
    "email",
    "pagerduty",
    "slack",
    "opsgenie",
    "wechat",
    "pushover",
    "victorops",
    "sns",
    "telegram",
    "discord",
    "webex",
    "msteams",
];

/// Builds the integration for `receiver`'s `<kind>_configs[index]` from its YAML entry.
pub fn build_integration(
    kind: &str,
    index: usize,
    entry: &serde_yaml::Value,
    ctx: &BuildContext,
) -> Result<Arc<dyn Integration>, BuildError> {
    let invalid = |message: String| BuildError::Invalid {
        kind: kind.to_string(),
        index,
        message,
    };
    match kind {
        "slack" => {
            return Ok(Arc::new(
                slack::Slack::build(index, entry, ctx).map_err(invalid)?,
            ))
        }
        "email" => {
            return Ok(Arc::new(
                email::Email::build(index, entry, ctx).map_err(invalid)?,
            ))
        }
        "pagerduty" => {
            return Ok(Arc::new(
                pagerduty::Pagerduty::build(index, entry, ctx).map_err(invalid)?,
            ))
        }
        "webhook" => return webhook::build(index, entry, ctx),
        _ => {}
    }
    if KNOWN_KINDS.contains(&kind) {
        Err(BuildError::Unsupported {
            kind: kind.to_string(),
        })
    } else {
        let _ = index;
        Err(BuildError::Unknown {
            kind: kind.to_string(),
        })
    }
}
