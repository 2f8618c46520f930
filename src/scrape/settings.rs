//! The scrape engine's view of one `scrape_configs` entry: every value resolved (global
//! defaults applied, durations in milliseconds), so scrape pools and loops never look at
//! YAML types.
//!
//! Mirrors the fields of upstream `config.ScrapeConfig` that `scrape/` reads; the
//! conversion from the configuration layer's types lives in [`PoolConfig::from_config`].

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::model::Labels;
use crate::scrape::relabel::RelabelConfig;

/// A group of targets sharing labels, as discovery hands it to a scrape pool
/// (upstream `targetgroup.Group`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TargetGroup {
    /// Where the group came from (`file.json:0`, or the index of a static config); a newer
    /// group with the same source replaces the older one.
    pub source: String,
    /// One label set per target, each normally with `__address__`.
    pub targets: Vec<Labels>,
    /// Labels shared by all targets of the group (a target's own labels win).
    pub labels: Labels,
}

/// One `file_sd_configs` entry, resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileSdSettings {
    /// File name patterns (`*` allowed in the last element), JSON or YAML by extension.
    pub files: Vec<String>,
    /// Re-read every file this often even when nothing seems to have changed (ms).
    pub refresh_interval_ms: i64,
}

/// Per-scrape limits; 0 means "no limit" everywhere, as upstream.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Limits {
    /// Samples per scrape after metric relabeling (`sample_limit`).
    pub sample_limit: u64,
    /// Labels per series, `__name__` and target labels included (`label_limit`).
    pub label_limit: u64,
    /// Bytes in a label name (`label_name_length_limit`).
    pub label_name_length_limit: u64,
    /// Bytes in a label value (`label_value_length_limit`).
    pub label_value_length_limit: u64,
    /// Uncompressed bytes of a response body (`body_size_limit`).
    pub body_size_limit: u64,
}

/// `basic_auth`: the password (or its file, read at every scrape) and the username.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BasicAuthSettings {
    pub username: String,
    /// File holding the username, re-read at every scrape; wins over `username`.
    pub username_file: Option<PathBuf>,
    pub password: String,
    /// File holding the password, re-read at every scrape; wins over `password`.
    pub password_file: Option<PathBuf>,
}

/// `authorization` (and the legacy `bearer_token`/`bearer_token_file`):
/// header `Authorization: <auth_type> <credentials>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthorizationSettings {
    /// `Bearer` unless configured.
    pub auth_type: String,
    pub credentials: String,
    /// File holding the credentials, re-read at every scrape; wins over `credentials`.
    pub credentials_file: Option<PathBuf>,
}

/// `tls_config`: PEM material inline or from files, read when the client is built.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsSettings {
    pub ca: Option<String>,
    pub ca_file: Option<PathBuf>,
    pub cert: Option<String>,
    pub cert_file: Option<PathBuf>,
    pub key: Option<String>,
    pub key_file: Option<PathBuf>,
    /// Accepted but not applied: the HTTP client has no SNI override (see the report).
    pub server_name: Option<String>,
    pub insecure_skip_verify: bool,
}

/// HTTP client settings of a scrape pool.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpSettings {
    pub basic_auth: Option<BasicAuthSettings>,
    pub authorization: Option<AuthorizationSettings>,
    pub tls: TlsSettings,
    pub proxy_url: Option<String>,
    pub follow_redirects: bool,
    /// Ask for gzip (`enable_compression`, default true).
    pub enable_compression: bool,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            basic_auth: None,
            authorization: None,
            tls: TlsSettings::default(),
            proxy_url: None,
            follow_redirects: true,
            enable_compression: true,
        }
    }
}

/// One scrape job with every default resolved: what a scrape pool runs.
#[derive(Clone, Debug, PartialEq)]
pub struct PoolConfig {
    /// Job name: the scrape pool's name and the default `job` label.
    pub job_name: String,
    pub scrape_interval_ms: i64,
    pub scrape_timeout_ms: i64,
    pub metrics_path: String,
    pub scheme: String,
    /// Query parameters; `__param_<name>` target labels override the first value.
    pub params: BTreeMap<String, Vec<String>>,
    pub honor_labels: bool,
    pub honor_timestamps: bool,
    pub track_timestamps_staleness: bool,
    pub relabel_configs: Vec<RelabelConfig>,
    pub metric_relabel_configs: Vec<RelabelConfig>,
    pub limits: Limits,
    /// Active targets allowed in the pool; 0 is unlimited.
    pub target_limit: u64,
    /// Dropped targets kept for display; 0 keeps all.
    pub keep_dropped_targets: u64,
    pub http: HttpSettings,
    /// `static_configs` as target groups (sources "0", "1", ...).
    pub static_groups: Vec<TargetGroup>,
    pub file_sd: Vec<FileSdSettings>,
}

impl PoolConfig {
    /// A job with upstream's defaults (1m interval, 10s timeout, `/metrics`, http, honor
    /// timestamps) and no targets.
    pub fn new(job_name: impl Into<String>) -> Self {
        PoolConfig {
            job_name: job_name.into(),
            scrape_interval_ms: 60_000,
            scrape_timeout_ms: 10_000,
            metrics_path: "/metrics".into(),
            scheme: "http".into(),
            params: BTreeMap::new(),
            honor_labels: false,
            honor_timestamps: true,
            track_timestamps_staleness: false,
            relabel_configs: Vec::new(),
            metric_relabel_configs: Vec::new(),
            limits: Limits::default(),
            target_limit: 0,
            keep_dropped_targets: 0,
            http: HttpSettings::default(),
            static_groups: Vec::new(),
            file_sd: Vec::new(),
        }
    }

    /// Adds a static target group with the given addresses and shared labels; its source
    /// is its index among the static groups, as upstream numbers `static_configs`.
    pub fn with_static_targets(mut self, addresses: &[&str], labels: Labels) -> Self {
        let source = self.static_groups.len().to_string();
        self.static_groups.push(TargetGroup {
            source,
            targets: addresses
                .iter()
                .map(|a| Labels::from_pairs(&[("__address__", *a)]))
                .collect(),
            labels,
        });
        self
    }

    /// True when a change from `self` to `other` only needs the running loops to pick up new
    /// settings, not new targets: discovery inputs and target relabeling are equal.
    pub(crate) fn same_discovery(&self, other: &PoolConfig) -> bool {
        self.static_groups == other.static_groups && self.file_sd == other.file_sd
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_has_upstream_defaults() {
        let c = PoolConfig::new("j");
        assert_eq!(c.scrape_interval_ms, 60_000);
        assert_eq!(c.scrape_timeout_ms, 10_000);
        assert_eq!(c.metrics_path, "/metrics");
        assert_eq!(c.scheme, "http");
        assert!(c.honor_timestamps && !c.honor_labels);
        assert!(c.http.follow_redirects && c.http.enable_compression);
    }

    #[test]
    fn static_targets_are_numbered_groups() {
        let c = PoolConfig::new("j")
            .with_static_targets(&["a:1", "b:2"], Labels::from_pairs(&[("env", "x")]))
            .with_static_targets(&["c:3"], Labels::empty());
        assert_eq!(c.static_groups.len(), 2);
        assert_eq!(c.static_groups[1].source, "1");
        assert_eq!(c.static_groups[0].targets[1].get("__address__"), Some("b:2"));
        let mut d = c.clone();
        assert!(c.same_discovery(&d));
        d.file_sd.push(FileSdSettings {
            files: vec!["x.json".into()],
            refresh_interval_ms: 1000,
        });
        assert!(!c.same_discovery(&d));
    }
}
