//! The prometheus.yml schema: `global`, `scrape_configs`, `rule_files`, `alerting`,
//! `remote_write`, `remote_read`, with upstream's defaults.
//!
//! Mirrors upstream `config/config.go`, `discovery/targetgroup`, and the HTTP client
//! configuration of `prometheus/common/config/http_config.go`. Parsing is strict: an
//! unknown key is an error. Keys that Prometheus knows but promtui does not act on (other
//! service discoveries, native-histogram switches, OAuth2, ...) are accepted and reported
//! as warnings (see [`Config::ignored_fields`](super::Config)).
//!
//! Durations that inherit (scrape interval/timeout, limits) are zero when unset, exactly as
//! upstream stores them before `Validate` fills them in; after loading they hold the
//! effective values.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize};

use super::file_sd::{FileSdConfig, TargetGroup};
use super::units::{ByteSize, Duration, LabelSet, Secret, StrValue};
use crate::model::labels::{Label, Labels};
use crate::model::relabel::RelabelConfig;

fn default_true() -> bool {
    true
}

/// Declares a config struct whose YAML keys are strict, plus `ignored` keys that upstream
/// knows and promtui accepts without acting on them. With `@http`, the inline HTTP client
/// fields (`basic_auth`, `authorization`, `tls_config`, ...) are added too, as upstream
/// inlines `HTTPClientConfig`.
macro_rules! config_struct {
    (@http($http2:literal) $(#[$meta:meta])* pub struct $name:ident { $($body:tt)* }
     ignored [$($ign:ident),* $(,)?]) => {
        config_struct! {
            $(#[$meta])* pub struct $name {
                $($body)*
                /// HTTP basic authentication.
                #[serde(default)]
                pub basic_auth: Option<BasicAuth>,
                /// `Authorization` header credentials.
                #[serde(default)]
                pub authorization: Option<Authorization>,
                /// Legacy bearer token (becomes `authorization` with type Bearer).
                #[serde(default)]
                pub bearer_token: Option<Secret>,
                /// Legacy bearer token file.
                #[serde(default)]
                pub bearer_token_file: Option<String>,
                /// TLS settings.
                #[serde(default)]
                pub tls_config: TlsConfig,
                /// HTTP proxy URL.
                #[serde(default)]
                pub proxy_url: Option<String>,
                /// Follow HTTP 3xx redirects (default true).
                #[serde(default = "default_true")]
                pub follow_redirects: bool,
                /// Allow HTTP/2.
                #[serde(default = $http2)]
                pub enable_http2: bool,
            }
            ignored [$($ign,)* oauth2, no_proxy, proxy_from_environment, proxy_connect_header, http_headers]
        }
        impl $name {
            /// The raw HTTP client fields, for validation.
            pub(crate) fn http_raw(&self) -> HttpRaw<'_> {
                HttpRaw {
                    basic_auth: self.basic_auth.as_ref(),
                    authorization: self.authorization.as_ref(),
                    bearer_token: self.bearer_token.as_ref().filter(|s| !s.is_empty()).is_some(),
                    bearer_token_file: self.bearer_token_file.as_deref().filter(|s| !s.is_empty()).is_some(),
                    oauth2: self.oauth2.is_some(),
                    tls_config: &self.tls_config,
                    proxy_url: self.proxy_url.as_ref(),
                }
            }

            /// Joins relative credential and certificate file paths with `dir`.
            pub(crate) fn set_http_directory(&mut self, dir: &std::path::Path) {
                use super::join_dir;
                if let Some(b) = self.basic_auth.as_mut() {
                    join_dir(dir, &mut b.password_file);
                    join_dir(dir, &mut b.username_file);
                }
                if let Some(a) = self.authorization.as_mut() {
                    join_dir(dir, &mut a.credentials_file);
                }
                join_dir(dir, &mut self.bearer_token_file);
                join_dir(dir, &mut self.tls_config.ca_file);
                join_dir(dir, &mut self.tls_config.cert_file);
                join_dir(dir, &mut self.tls_config.key_file);
            }

            /// The HTTP client settings, with a legacy `bearer_token`/`bearer_token_file`
            /// turned into an `authorization` of type Bearer as upstream does.
            pub fn http_client(&self) -> HttpClientConfig {
                let authorization = self.authorization.clone().or_else(|| {
                    if self.bearer_token.is_none() && self.bearer_token_file.is_none() {
                        return None;
                    }
                    Some(Authorization {
                        auth_type: "Bearer".to_string(),
                        credentials: self.bearer_token.clone(),
                        credentials_file: self.bearer_token_file.clone(),
                    })
                });
                HttpClientConfig {
                    basic_auth: self.basic_auth.clone(),
                    authorization,
                    tls_config: self.tls_config.clone(),
                    proxy_url: self.proxy_url.clone(),
                    follow_redirects: self.follow_redirects,
                    enable_http2: self.enable_http2,
                }
            }
        }
    };
    ($(#[$meta:meta])* pub struct $name:ident { $($body:tt)* }
     ignored [$($ign:ident),* $(,)?]) => {
        #[derive(Clone, Debug, Deserialize, Serialize)]
        #[serde(deny_unknown_fields)]
        $(#[$meta])*
        pub struct $name {
            $($body)*
            $(
                #[doc(hidden)]
                #[serde(default, skip_serializing)]
                pub $ign: Option<serde_yaml::Value>,
            )*
        }
        impl $name {
            /// Keys present in the file that upstream knows but promtui ignores.
            pub fn ignored_fields(&self) -> Vec<&'static str> {
                #[allow(unused_mut)]
                let mut v: Vec<&'static str> = Vec::new();
                $( if self.$ign.is_some() { v.push(stringify!($ign)); } )*
                v
            }
        }
    };
}

/// Borrowed HTTP client fields of a scrape, Alertmanager or remote config, as validation
/// needs them (presence of the legacy fields, not their values).
pub(crate) struct HttpRaw<'a> {
    pub basic_auth: Option<&'a BasicAuth>,
    pub authorization: Option<&'a Authorization>,
    pub bearer_token: bool,
    pub bearer_token_file: bool,
    pub oauth2: bool,
    pub tls_config: &'a TlsConfig,
    pub proxy_url: Option<&'a String>,
}

/// HTTP client settings shared by scrape, Alertmanager and remote endpoints.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HttpClientConfig {
    pub basic_auth: Option<BasicAuth>,
    /// Effective `Authorization` header (legacy bearer token folded in).
    pub authorization: Option<Authorization>,
    pub tls_config: TlsConfig,
    pub proxy_url: Option<String>,
    pub follow_redirects: bool,
    pub enable_http2: bool,
}

/// `basic_auth`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BasicAuth {
    #[serde(default)]
    pub username: Option<StrValue>,
    /// File holding the username (relative paths resolve against the config directory).
    #[serde(default)]
    pub username_file: Option<String>,
    #[serde(default)]
    pub password: Option<Secret>,
    /// File holding the password.
    #[serde(default)]
    pub password_file: Option<String>,
}

/// `authorization`: header `Authorization: <type> <credentials>`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Authorization {
    /// Header type; `Bearer` when not given.
    #[serde(rename = "type", default = "default_auth_type")]
    pub auth_type: String,
    #[serde(default)]
    pub credentials: Option<Secret>,
    /// File holding the credentials.
    #[serde(default)]
    pub credentials_file: Option<String>,
}

fn default_auth_type() -> String {
    "Bearer".to_string()
}

/// `tls_config`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// CA certificate PEM, inline.
    #[serde(default)]
    pub ca: Option<String>,
    #[serde(default)]
    pub ca_file: Option<String>,
    /// Client certificate PEM, inline.
    #[serde(default)]
    pub cert: Option<String>,
    #[serde(default)]
    pub cert_file: Option<String>,
    /// Client key PEM, inline.
    #[serde(default)]
    pub key: Option<Secret>,
    #[serde(default)]
    pub key_file: Option<String>,
    /// Name used for SNI and certificate verification.
    #[serde(default)]
    pub server_name: Option<String>,
    #[serde(default)]
    pub insecure_skip_verify: bool,
    #[serde(default)]
    pub min_version: Option<TlsVersion>,
    #[serde(default)]
    pub max_version: Option<TlsVersion>,
}

/// A TLS protocol version as upstream spells it (`TLS12`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum TlsVersion {
    Tls10,
    Tls11,
    Tls12,
    Tls13,
}

impl TlsVersion {
    /// The spelling used in configuration files.
    pub fn as_str(self) -> &'static str {
        match self {
            TlsVersion::Tls10 => "TLS10",
            TlsVersion::Tls11 => "TLS11",
            TlsVersion::Tls12 => "TLS12",
            TlsVersion::Tls13 => "TLS13",
        }
    }
}

impl Serialize for TlsVersion {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for TlsVersion {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = TlsVersion;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("TLS10, TLS11, TLS12 or TLS13")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<TlsVersion, E> {
                match s {
                    "TLS10" => Ok(TlsVersion::Tls10),
                    "TLS11" => Ok(TlsVersion::Tls11),
                    "TLS12" => Ok(TlsVersion::Tls12),
                    "TLS13" => Ok(TlsVersion::Tls13),
                    _ => Err(E::custom(format!("unknown TLS version: {s}"))),
                }
            }
        }
        d.deserialize_str(V)
    }
}

config_struct! {
    /// The whole prometheus.yml.
    pub struct Config {
        /// Defaults for everything else.
        #[serde(default)]
        pub global: GlobalConfig,
        /// Alertmanagers to send alerts to.
        #[serde(default)]
        pub alerting: AlertingConfig,
        /// Rule file globs (relative to the config file's directory once loaded).
        #[serde(default)]
        pub rule_files: Vec<String>,
        /// Scrape jobs.
        #[serde(default)]
        pub scrape_configs: Vec<ScrapeConfig>,
        /// Remote write endpoints.
        #[serde(default)]
        pub remote_write: Vec<RemoteWriteConfig>,
        /// Remote read endpoints.
        #[serde(default)]
        pub remote_read: Vec<RemoteReadConfig>,
        /// Where the configuration came from (file path or a name given to `load_str`).
        #[serde(skip)]
        pub origin: String,
        /// Non-fatal findings: keys accepted for compatibility but ignored, empty
        /// environment variables in external labels.
        #[serde(skip)]
        pub warnings: Vec<super::Warning>,
    }
    ignored [runtime, scrape_config_files, storage, tracing, otlp]
}

config_struct! {
    /// `global`: defaults inherited by scrape jobs and rule groups.
    #[derive(Default)]
    pub struct GlobalConfig {
        /// Default scrape interval (1m).
        #[serde(default)]
        pub scrape_interval: Duration,
        /// Default scrape timeout (10s, at most the interval).
        #[serde(default)]
        pub scrape_timeout: Duration,
        /// Default rule evaluation interval (1m).
        #[serde(default)]
        pub evaluation_interval: Duration,
        /// Offset subtracted from rule evaluation timestamps.
        #[serde(default)]
        pub rule_query_offset: Duration,
        /// Labels added to series and alerts leaving this server; `${VAR}` expands from
        /// the environment.
        #[serde(default)]
        pub external_labels: LabelSet,
        /// Default per-scrape body size limit (0: none).
        #[serde(default)]
        pub body_size_limit: ByteSize,
        /// Default per-scrape sample limit (0: none).
        #[serde(default)]
        pub sample_limit: u64,
        /// Default per-job target limit (0: none).
        #[serde(default)]
        pub target_limit: u64,
        /// Default per-series label count limit (0: none).
        #[serde(default)]
        pub label_limit: u64,
        /// Default label name length limit (0: none).
        #[serde(default)]
        pub label_name_length_limit: u64,
        /// Default label value length limit (0: none).
        #[serde(default)]
        pub label_value_length_limit: u64,
        /// Default number of dropped targets kept for display per job (0: all).
        #[serde(default)]
        pub keep_dropped_targets: u64,
    }
    ignored [
        query_log_file, scrape_failure_log_file, scrape_protocols, scrape_native_histograms,
        convert_classic_histograms_to_nhcb, always_scrape_classic_histograms, extra_scrape_metrics,
        metric_name_validation_scheme, metric_name_escaping_scheme,
    ]
}

fn default_metrics_path() -> String {
    "/metrics".to_string()
}

fn default_scheme() -> String {
    "http".to_string()
}

config_struct! {
    @http("default_true")
    /// One scrape job.
    pub struct ScrapeConfig {
        /// Job name; the default `job` label. Required and unique.
        pub job_name: String,
        /// Keep the scraped labels when they clash with target labels.
        #[serde(default)]
        pub honor_labels: bool,
        /// Use timestamps in the scraped data (default true).
        #[serde(default = "default_true")]
        pub honor_timestamps: bool,
        /// Write staleness markers for series with explicit timestamps.
        #[serde(default)]
        pub track_timestamps_staleness: bool,
        /// URL query parameters sent with each scrape.
        #[serde(default)]
        pub params: BTreeMap<String, Vec<String>>,
        /// Scrape interval (inherits `global.scrape_interval`).
        #[serde(default)]
        pub scrape_interval: Duration,
        /// Scrape timeout (inherits `global.scrape_timeout`, capped at the interval).
        #[serde(default)]
        pub scrape_timeout: Duration,
        /// Path of the metrics endpoint (default `/metrics`).
        #[serde(default = "default_metrics_path")]
        pub metrics_path: String,
        /// `http` or `https`.
        #[serde(default = "default_scheme")]
        pub scheme: String,
        /// Ask targets for a compressed body (default true).
        #[serde(default = "default_true")]
        pub enable_compression: bool,
        /// Uncompressed body size limit (inherits global; 0 none).
        #[serde(default)]
        pub body_size_limit: ByteSize,
        /// Samples per scrape limit (inherits global; 0 none).
        #[serde(default)]
        pub sample_limit: u64,
        /// Target limit (inherits global; 0 none).
        #[serde(default)]
        pub target_limit: u64,
        /// Labels per series limit (inherits global; 0 none).
        #[serde(default)]
        pub label_limit: u64,
        /// Label name length limit (inherits global; 0 none).
        #[serde(default)]
        pub label_name_length_limit: u64,
        /// Label value length limit (inherits global; 0 none).
        #[serde(default)]
        pub label_value_length_limit: u64,
        /// Dropped targets kept for display (inherits global; 0 all).
        #[serde(default)]
        pub keep_dropped_targets: u64,
        /// Static target groups.
        #[serde(default)]
        pub static_configs: Vec<StaticConfig>,
        /// File-based service discovery.
        #[serde(default)]
        pub file_sd_configs: Vec<FileSdConfig>,
        /// Target relabeling.
        #[serde(default)]
        pub relabel_configs: Vec<RelabelConfig>,
        /// Relabeling of scraped samples.
        #[serde(default)]
        pub metric_relabel_configs: Vec<RelabelConfig>,
    }
    ignored [
        scrape_protocols, fallback_scrape_protocol, scrape_native_histograms,
        always_scrape_classic_histograms, convert_classic_histograms_to_nhcb,
        scrape_failure_log_file, native_histogram_bucket_limit,
        native_histogram_min_bucket_factor, metric_name_validation_scheme,
        metric_name_escaping_scheme, extra_scrape_metrics,
        azure_sd_configs, consul_sd_configs, digitalocean_sd_configs, docker_sd_configs,
        dockerswarm_sd_configs, dns_sd_configs, ec2_sd_configs, eureka_sd_configs,
        gce_sd_configs, hetzner_sd_configs, http_sd_configs, ionos_sd_configs,
        kubernetes_sd_configs, kuma_sd_configs, lightsail_sd_configs, linode_sd_configs,
        marathon_sd_configs, nerve_sd_configs, nomad_sd_configs, openstack_sd_configs,
        ovhcloud_sd_configs, puppetdb_sd_configs, scaleway_sd_configs, serverset_sd_configs,
        stackit_sd_configs, triton_sd_configs, uyuni_sd_configs, vultr_sd_configs,
    ]
}

/// `static_configs` as target groups (source = index, as upstream).
fn static_groups(configs: &[StaticConfig]) -> Vec<TargetGroup> {
    configs
        .iter()
        .enumerate()
        .map(|(i, sc)| sc.to_target_group(i.to_string()))
        .collect()
}

impl ScrapeConfig {
    /// The `static_configs` as target groups (source = index, as upstream).
    pub fn static_target_groups(&self) -> Vec<TargetGroup> {
        static_groups(&self.static_configs)
    }
}

impl AlertmanagerConfig {
    /// The `static_configs` as target groups (source = index, as upstream).
    pub fn static_target_groups(&self) -> Vec<TargetGroup> {
        static_groups(&self.static_configs)
    }
}

config_struct! {
    /// A static target group: `targets` (host:port) sharing `labels`.
    pub struct StaticConfig {
        /// Target addresses (`host:port`).
        #[serde(default)]
        pub targets: Vec<String>,
        /// Labels for every target of the group.
        #[serde(default)]
        pub labels: LabelSet,
    }
    ignored []
}

impl StaticConfig {
    /// The group as discovery produces it: one `__address__` label set per target.
    fn to_target_group(&self, source: String) -> TargetGroup {
        TargetGroup {
            source,
            targets: self
                .targets
                .iter()
                .map(|t| Labels::new(vec![Label::new("__address__", t.as_str())]))
                .collect(),
            labels: self.labels.to_labels(),
        }
    }
}

config_struct! {
    /// `alerting`.
    #[derive(Default)]
    pub struct AlertingConfig {
        /// Relabeling applied to every alert before sending.
        #[serde(default)]
        pub alert_relabel_configs: Vec<RelabelConfig>,
        /// Alertmanagers to notify.
        #[serde(default)]
        pub alertmanagers: Vec<AlertmanagerConfig>,
    }
    ignored []
}

fn default_am_timeout() -> Duration {
    Duration::from_secs(10)
}

fn default_am_api_version() -> String {
    "v2".to_string()
}

config_struct! {
    @http("default_true")
    /// One Alertmanager set (`alerting.alertmanagers[]`).
    pub struct AlertmanagerConfig {
        /// Static Alertmanager addresses.
        #[serde(default)]
        pub static_configs: Vec<StaticConfig>,
        /// File-discovered Alertmanagers.
        #[serde(default)]
        pub file_sd_configs: Vec<FileSdConfig>,
        /// `http` or `https`.
        #[serde(default = "default_scheme")]
        pub scheme: String,
        /// Prefix before `/api/v2/alerts`.
        #[serde(default)]
        pub path_prefix: String,
        /// Timeout for one push (default 10s).
        #[serde(default = "default_am_timeout")]
        pub timeout: Duration,
        /// Alertmanager API version; only `v2` is supported.
        #[serde(default = "default_am_api_version")]
        pub api_version: String,
        /// Relabeling of discovered Alertmanagers.
        #[serde(default)]
        pub relabel_configs: Vec<RelabelConfig>,
        /// Relabeling of alerts sent to this Alertmanager set.
        #[serde(default)]
        pub alert_relabel_configs: Vec<RelabelConfig>,
    }
    ignored [
        sigv4, azure_sd_configs, consul_sd_configs, digitalocean_sd_configs, docker_sd_configs,
        dockerswarm_sd_configs, dns_sd_configs, ec2_sd_configs, eureka_sd_configs,
        gce_sd_configs, hetzner_sd_configs, http_sd_configs, ionos_sd_configs,
        kubernetes_sd_configs, kuma_sd_configs, lightsail_sd_configs, linode_sd_configs,
        marathon_sd_configs, nerve_sd_configs, nomad_sd_configs, openstack_sd_configs,
        ovhcloud_sd_configs, puppetdb_sd_configs, scaleway_sd_configs, serverset_sd_configs,
        stackit_sd_configs, triton_sd_configs, uyuni_sd_configs, vultr_sd_configs,
    ]
}

fn default_rw_timeout() -> Duration {
    Duration::from_secs(30)
}

fn default_false() -> bool {
    false
}

config_struct! {
    @http("default_false")
    /// One `remote_write` endpoint.
    pub struct RemoteWriteConfig {
        /// Endpoint URL (required).
        #[serde(default)]
        pub url: Option<String>,
        /// Unique name (optional).
        #[serde(default)]
        pub name: String,
        /// Timeout per request (default 30s).
        #[serde(default = "default_rw_timeout")]
        pub remote_timeout: Duration,
        /// Extra HTTP headers (reserved headers are refused).
        #[serde(default)]
        pub headers: BTreeMap<String, String>,
        /// Relabeling applied to series before sending.
        #[serde(default)]
        pub write_relabel_configs: Vec<RelabelConfig>,
        /// Send exemplars too.
        #[serde(default)]
        pub send_exemplars: bool,
        /// Send native histograms too.
        #[serde(default)]
        pub send_native_histograms: bool,
        /// Sharded queue tuning.
        #[serde(default)]
        pub queue_config: QueueConfig,
        /// Metric metadata sending.
        #[serde(default)]
        pub metadata_config: MetadataConfig,
    }
    ignored [sigv4, azuread, google_iam, protobuf_message, round_robin_dns]
}

config_struct! {
    /// `remote_write[].queue_config`, upstream defaults.
    #[serde(default)]
    pub struct QueueConfig {
        /// Samples buffered per shard (10000).
        pub capacity: u64,
        /// Maximum shards (50).
        pub max_shards: u64,
        /// Minimum shards (1).
        pub min_shards: u64,
        /// Samples per request (2000).
        pub max_samples_per_send: u64,
        /// Longest a sample waits in a shard buffer (5s).
        pub batch_send_deadline: Duration,
        /// First retry backoff (30ms).
        pub min_backoff: Duration,
        /// Largest retry backoff (5s).
        pub max_backoff: Duration,
        /// Retry on HTTP 429.
        pub retry_on_http_429: bool,
        /// Drop samples older than this instead of sending (0: never).
        pub sample_age_limit: Duration,
    }
    ignored []
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            capacity: 10_000,
            max_shards: 50,
            min_shards: 1,
            max_samples_per_send: 2000,
            batch_send_deadline: Duration::from_secs(5),
            min_backoff: Duration::from_millis(30),
            max_backoff: Duration::from_secs(5),
            retry_on_http_429: false,
            sample_age_limit: Duration(0),
        }
    }
}

config_struct! {
    /// `remote_write[].metadata_config`, upstream defaults.
    #[serde(default)]
    pub struct MetadataConfig {
        /// Send metadata (true).
        pub send: bool,
        /// How often (1m).
        pub send_interval: Duration,
        /// Entries per request (2000).
        pub max_samples_per_send: u64,
    }
    ignored []
}

impl Default for MetadataConfig {
    fn default() -> Self {
        MetadataConfig {
            send: true,
            send_interval: Duration::from_secs(60),
            max_samples_per_send: 2000,
        }
    }
}

fn default_rr_timeout() -> Duration {
    Duration::from_secs(60)
}

fn default_chunked_read_limit() -> u64 {
    50_000_000
}

config_struct! {
    @http("default_true")
    /// One `remote_read` endpoint (accepted and validated; queries through it are the
    /// remote subsystem's business).
    pub struct RemoteReadConfig {
        /// Endpoint URL (required).
        #[serde(default)]
        pub url: Option<String>,
        /// Unique name (optional).
        #[serde(default)]
        pub name: String,
        /// Timeout per request (default 1m).
        #[serde(default = "default_rr_timeout")]
        pub remote_timeout: Duration,
        /// Extra HTTP headers.
        #[serde(default)]
        pub headers: BTreeMap<String, String>,
        /// Also read ranges the local TSDB has.
        #[serde(default)]
        pub read_recent: bool,
        /// Equality matchers a query must have to be sent here.
        #[serde(default)]
        pub required_matchers: LabelSet,
        /// Add external labels as matchers (default true).
        #[serde(default = "default_true")]
        pub filter_external_labels: bool,
        /// Largest streamed frame (50MB).
        #[serde(default = "default_chunked_read_limit")]
        pub chunked_read_limit: u64,
    }
    ignored []
}
