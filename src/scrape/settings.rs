//! The scrape engine's view of one `scrape_configs` entry: every value resolved (global
//! defaults applied, durations in milliseconds), so scrape pools and loops never look at
//! YAML types.
//!
//! Mirrors the fields of upstream `config.ScrapeConfig` that `scrape/` reads; the
//! conversion from the configuration layer's types lives in [`PoolConfig::from_config`].

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::config::{HttpClientConfig, ScrapeConfig};
use crate::model::relabel::RelabelConfig;
use crate::model::Labels;

pub use crate::config::TargetGroup;

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

impl HttpSettings {
    /// Resolves the configuration layer's client options (relative file paths already
    /// joined with the config directory). `enable_compression` asks targets for gzip.
    pub fn from_config(http: &HttpClientConfig, enable_compression: bool) -> HttpSettings {
        let path = |p: &Option<String>| p.as_ref().filter(|s| !s.is_empty()).map(PathBuf::from);
        HttpSettings {
            basic_auth: http.basic_auth.as_ref().map(|b| BasicAuthSettings {
                username: b.username.as_ref().map(|u| u.0.clone()).unwrap_or_default(),
                username_file: path(&b.username_file),
                password: b
                    .password
                    .as_ref()
                    .map(|p| p.expose().to_string())
                    .unwrap_or_default(),
                password_file: path(&b.password_file),
            }),
            authorization: http.authorization.as_ref().map(|a| AuthorizationSettings {
                auth_type: a.auth_type.clone(),
                credentials: a
                    .credentials
                    .as_ref()
                    .map(|c| c.expose().to_string())
                    .unwrap_or_default(),
                credentials_file: path(&a.credentials_file),
            }),
            tls: TlsSettings {
                ca: http.tls_config.ca.clone(),
                ca_file: path(&http.tls_config.ca_file),
                cert: http.tls_config.cert.clone(),
                cert_file: path(&http.tls_config.cert_file),
                key: http.tls_config.key.as_ref().map(|k| k.expose().to_string()),
                key_file: path(&http.tls_config.key_file),
                server_name: http.tls_config.server_name.clone(),
                insecure_skip_verify: http.tls_config.insecure_skip_verify,
            },
            proxy_url: http.proxy_url.clone(),
            follow_redirects: http.follow_redirects,
            enable_compression,
        }
    }
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

    /// Resolves a validated `scrape_configs` entry (globals already inherited by the
    /// configuration loader; relative file paths already joined with the config directory).
    pub fn from_config(sc: &ScrapeConfig) -> PoolConfig {
        PoolConfig {
            job_name: sc.job_name.clone(),
            scrape_interval_ms: sc.scrape_interval.as_millis(),
            scrape_timeout_ms: sc.scrape_timeout.as_millis(),
            metrics_path: sc.metrics_path.clone(),
            scheme: sc.scheme.clone(),
            params: sc.params.clone(),
            honor_labels: sc.honor_labels,
            honor_timestamps: sc.honor_timestamps,
            track_timestamps_staleness: sc.track_timestamps_staleness,
            relabel_configs: sc.relabel_configs.clone(),
            metric_relabel_configs: sc.metric_relabel_configs.clone(),
            limits: Limits {
                sample_limit: sc.sample_limit,
                label_limit: sc.label_limit,
                label_name_length_limit: sc.label_name_length_limit,
                label_value_length_limit: sc.label_value_length_limit,
                body_size_limit: sc.body_size_limit.bytes(),
            },
            target_limit: sc.target_limit,
            keep_dropped_targets: sc.keep_dropped_targets,
            http: HttpSettings::from_config(&sc.http_client(), sc.enable_compression),
            static_groups: sc.static_target_groups(),
            file_sd: sc
                .file_sd_configs
                .iter()
                .map(|f| FileSdSettings {
                    files: f.files.clone(),
                    refresh_interval_ms: f.refresh_interval.as_millis(),
                })
                .collect(),
        }
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
    fn from_config_resolves_everything() {
        let cfg = crate::config::Config::load_str(
            r#"
global:
  scrape_interval: 30s
  sample_limit: 100
scrape_configs:
  - job_name: a
    scrape_timeout: 5s
    honor_labels: true
    params: {module: [x]}
    bearer_token: tok
    tls_config: {insecure_skip_verify: true}
    body_size_limit: 1KB
    static_configs:
      - targets: ['h:1', 'h:2']
        labels: {env: p}
    file_sd_configs:
      - files: ['t/*.json']
        refresh_interval: 1m
  - job_name: b
    basic_auth: {username: u, password_file: pw}
"#,
            "t.yml",
        )
        .unwrap();
        let c = PoolConfig::from_config(&cfg.scrape_configs[0]);
        assert_eq!(c.job_name, "a");
        assert_eq!(c.scrape_interval_ms, 30_000);
        assert_eq!(c.scrape_timeout_ms, 5_000);
        assert!(c.honor_labels && c.honor_timestamps);
        assert_eq!(c.limits.sample_limit, 100);
        assert_eq!(c.limits.body_size_limit, 1024);
        assert_eq!(c.params["module"], vec!["x".to_string()]);
        let auth = c.http.authorization.as_ref().unwrap();
        assert_eq!(
            (auth.auth_type.as_str(), auth.credentials.as_str()),
            ("Bearer", "tok")
        );
        let b = PoolConfig::from_config(&cfg.scrape_configs[1]);
        let ba = b.http.basic_auth.as_ref().unwrap();
        assert_eq!(ba.username, "u");
        assert_eq!(
            ba.password_file.as_deref(),
            Some(std::path::Path::new("pw"))
        );
        assert!(c.http.tls.insecure_skip_verify);
        assert_eq!(c.static_groups.len(), 1);
        assert_eq!(c.static_groups[0].targets.len(), 2);
        assert_eq!(c.static_groups[0].labels.get("env"), Some("p"));
        assert_eq!(c.file_sd[0].refresh_interval_ms, 60_000);
    }

    #[test]
    fn static_targets_are_numbered_groups() {
        let c = PoolConfig::new("j")
            .with_static_targets(&["a:1", "b:2"], Labels::from_pairs(&[("env", "x")]))
            .with_static_targets(&["c:3"], Labels::empty());
        assert_eq!(c.static_groups.len(), 2);
        assert_eq!(c.static_groups[1].source, "1");
        assert_eq!(
            c.static_groups[0].targets[1].get("__address__"),
            Some("b:2")
        );
    }
}
