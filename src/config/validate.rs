//! Semantic validation and default resolution after parsing, in upstream's order and with
//! upstream's messages (`config/config.go` `UnmarshalYAML`/`Validate`, common's
//! `HTTPClientConfig.Validate`, `TLSConfig.Validate`, `relabel.Config.Validate`).
//!
//! Unlike upstream, which stops at the first problem, every problem is collected with the
//! YAML path of the offending node; the loader turns paths into line:column.

use std::collections::HashMap;
use std::sync::OnceLock;

use regex::Regex;

use super::locate::YamlPath;
use super::types::{
    AlertmanagerConfig, Config, HttpRaw, RemoteReadConfig, RemoteWriteConfig, ScrapeConfig,
    StaticConfig,
};
use super::units::Duration;
use super::FileSdConfig;
use crate::scrape::relabel::RelabelConfig;

/// Upstream defaults for `global`.
pub const DEFAULT_SCRAPE_INTERVAL: Duration = Duration::from_secs(60);
/// Upstream default scrape timeout.
pub const DEFAULT_SCRAPE_TIMEOUT: Duration = Duration::from_secs(10);
/// Upstream default rule evaluation interval.
pub const DEFAULT_EVALUATION_INTERVAL: Duration = Duration::from_secs(60);

/// Problems found, each with the path of the node it is about.
#[derive(Default)]
pub(crate) struct Problems(pub Vec<(YamlPath, String)>);

impl Problems {
    fn push(&mut self, path: YamlPath, message: impl Into<String>) {
        self.0.push((path, message.into()));
    }
}

/// Upstream's `patRulePath`: `*` only in the last path element.
fn rule_path_ok(p: &str) -> bool {
    static RE: OnceLock<Option<Regex>> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"^[^*]*(\*[^/]*)?$").ok())
        .as_ref()
        .is_some_and(|re| re.is_match(p))
}

/// Headers remote write/read refuse to let users set.
const RESERVED_HEADERS: [&str; 17] = [
    "host",
    "content-encoding",
    "content-length",
    "content-type",
    "user-agent",
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "www-authenticate",
    "accept-encoding",
    "x-prometheus-remote-write-version",
    "x-prometheus-remote-read-version",
    "x-amz-date",
    "x-amz-security-token",
    "x-amz-content-sha256",
    "te",
];

/// Validates `cfg` and fills in inherited defaults. Returns every problem found.
pub(crate) fn validate_and_resolve(cfg: &mut Config) -> Problems {
    let mut out = Problems::default();
    let root = YamlPath::root();

    // global
    let g = &mut cfg.global;
    let gp = root.key("global");
    if g.scrape_interval.is_zero() {
        g.scrape_interval = DEFAULT_SCRAPE_INTERVAL;
    }
    if g.scrape_timeout > g.scrape_interval {
        out.push(
            gp.key("scrape_timeout"),
            "global scrape timeout greater than scrape interval",
        );
    }
    if g.scrape_timeout.is_zero() {
        g.scrape_timeout = DEFAULT_SCRAPE_TIMEOUT.min(g.scrape_interval);
    }
    if g.evaluation_interval.is_zero() {
        g.evaluation_interval = DEFAULT_EVALUATION_INTERVAL;
    }

    for (i, rf) in cfg.rule_files.iter().enumerate() {
        if !rule_path_ok(rf) {
            out.push(
                root.key("rule_files").index(i),
                format!("invalid rule file path {rf:?}"),
            );
        }
    }

    // scrape_configs
    let global = cfg.global.clone();
    let mut jobs: HashMap<String, usize> = HashMap::new();
    for (i, sc) in cfg.scrape_configs.iter_mut().enumerate() {
        let p = root.key("scrape_configs").index(i);
        check_scrape_config(sc, &p, &global, &mut out);
        if !sc.job_name.is_empty() && jobs.insert(sc.job_name.clone(), i).is_some() {
            out.push(
                p.key("job_name"),
                format!(
                    "found multiple scrape configs with job name {:?}",
                    sc.job_name
                ),
            );
        }
    }

    // alerting
    let ap = root.key("alerting");
    check_relabels(
        &cfg.alerting.alert_relabel_configs,
        &ap.key("alert_relabel_configs"),
        &mut out,
    );
    for (i, am) in cfg.alerting.alertmanagers.iter().enumerate() {
        check_alertmanager(am, &ap.key("alertmanagers").index(i), &mut out);
    }

    // remote_write / remote_read
    let mut names: HashMap<String, usize> = HashMap::new();
    for (i, rw) in cfg.remote_write.iter().enumerate() {
        let p = root.key("remote_write").index(i);
        check_remote_write(rw, &p, &mut out);
        if !rw.name.is_empty() && names.insert(rw.name.clone(), i).is_some() {
            out.push(
                p.key("name"),
                format!(
                    "found multiple remote write configs with job name {:?}",
                    rw.name
                ),
            );
        }
    }
    let mut names: HashMap<String, usize> = HashMap::new();
    for (i, rr) in cfg.remote_read.iter().enumerate() {
        let p = root.key("remote_read").index(i);
        check_remote_read(rr, &p, &mut out);
        if !rr.name.is_empty() && names.insert(rr.name.clone(), i).is_some() {
            out.push(
                p.key("name"),
                format!(
                    "found multiple remote read configs with job name {:?}",
                    rr.name
                ),
            );
        }
    }
    out
}

fn check_scrape_config(
    sc: &mut ScrapeConfig,
    p: &YamlPath,
    global: &super::GlobalConfig,
    out: &mut Problems,
) {
    if sc.job_name.is_empty() {
        out.push(p.key("job_name"), "job_name is empty");
    }
    check_http(&sc.http_raw(), p, out);
    if sc.scheme != "http" && sc.scheme != "https" {
        out.push(
            p.key("scheme"),
            format!(
                "invalid scheme {:?} for scrape config with job name {:?}: must be http or https",
                sc.scheme, sc.job_name
            ),
        );
    }
    if sc.relabel_configs.is_empty() {
        check_static_targets(&sc.static_configs, p, out);
    }
    check_file_sd(&sc.file_sd_configs, p, out);

    if sc.scrape_interval.is_zero() {
        sc.scrape_interval = global.scrape_interval;
    }
    if sc.scrape_timeout > sc.scrape_interval {
        out.push(
            p.key("scrape_timeout"),
            format!(
                "scrape timeout greater than scrape interval for scrape config with job name {:?}",
                sc.job_name
            ),
        );
    }
    if sc.scrape_timeout.is_zero() {
        sc.scrape_timeout = global.scrape_timeout.min(sc.scrape_interval);
    }
    if sc.body_size_limit.0 == 0 {
        sc.body_size_limit = global.body_size_limit;
    }
    for (local, g) in [
        (&mut sc.sample_limit, global.sample_limit),
        (&mut sc.target_limit, global.target_limit),
        (&mut sc.label_limit, global.label_limit),
        (&mut sc.label_name_length_limit, global.label_name_length_limit),
        (&mut sc.label_value_length_limit, global.label_value_length_limit),
        (&mut sc.keep_dropped_targets, global.keep_dropped_targets),
    ] {
        if *local == 0 {
            *local = g;
        }
    }
    check_relabels(&sc.relabel_configs, &p.key("relabel_configs"), out);
    check_relabels(
        &sc.metric_relabel_configs,
        &p.key("metric_relabel_configs"),
        out,
    );
}

fn check_alertmanager(am: &AlertmanagerConfig, p: &YamlPath, out: &mut Problems) {
    check_http(&am.http_raw(), p, out);
    if am.sigv4.is_some()
        && (am.basic_auth.is_some() || am.authorization.is_some() || am.oauth2.is_some())
    {
        out.push(
            p.key("sigv4"),
            "at most one of basic_auth, authorization, oauth2, & sigv4 must be configured",
        );
    }
    if am.api_version != "v2" {
        out.push(
            p.key("api_version"),
            format!(
                "expected Alertmanager api version to be one of [v2] but got {}",
                am.api_version
            ),
        );
    }
    if am.scheme != "http" && am.scheme != "https" {
        out.push(
            p.key("scheme"),
            format!(
                "invalid scheme {:?} for Alertmanager: must be http or https",
                am.scheme
            ),
        );
    }
    if am.relabel_configs.is_empty() {
        check_static_targets(&am.static_configs, p, out);
    }
    check_file_sd(&am.file_sd_configs, p, out);
    check_relabels(&am.relabel_configs, &p.key("relabel_configs"), out);
    check_relabels(
        &am.alert_relabel_configs,
        &p.key("alert_relabel_configs"),
        out,
    );
}

fn check_headers(
    headers: &std::collections::BTreeMap<String, String>,
    p: &YamlPath,
    out: &mut Problems,
) {
    for h in headers.keys() {
        let lower = h.to_ascii_lowercase();
        if lower == "authorization" {
            out.push(
                p.key("headers").key(h),
                "authorization header must be changed via the basic_auth, authorization, oauth2, sigv4, azuread or google_iam parameter",
            );
        } else if RESERVED_HEADERS.contains(&lower.as_str()) {
            out.push(
                p.key("headers").key(h),
                format!("{h} is a reserved header. It must not be changed"),
            );
        }
    }
}

fn check_remote_write(rw: &RemoteWriteConfig, p: &YamlPath, out: &mut Problems) {
    if rw.url.as_deref().is_none_or(str::is_empty) {
        out.push(p.key("url"), "url for remote_write is empty");
    }
    check_relabels(
        &rw.write_relabel_configs,
        &p.key("write_relabel_configs"),
        out,
    );
    check_headers(&rw.headers, p, out);
    check_http(&rw.http_raw(), p, out);
    let mut auth = Vec::new();
    for (set, name) in [
        (rw.basic_auth.is_some(), "basic_auth"),
        (rw.authorization.is_some(), "authorization"),
        (rw.oauth2.is_some(), "oauth2"),
        (rw.sigv4.is_some(), "sigv4"),
        (rw.azuread.is_some(), "azuread"),
        (rw.google_iam.is_some(), "google_iam"),
    ] {
        if set {
            auth.push(name);
        }
    }
    if auth.len() > 1 {
        out.push(
            p.key(auth[1]),
            format!(
                "at most one of basic_auth, authorization, oauth2, sigv4, azuread or google_iam must be configured. Currently configured: [{}]",
                auth.join(" ")
            ),
        );
    }
}

fn check_remote_read(rr: &RemoteReadConfig, p: &YamlPath, out: &mut Problems) {
    if rr.url.as_deref().is_none_or(str::is_empty) {
        out.push(p.key("url"), "url for remote_read is empty");
    }
    check_headers(&rr.headers, p, out);
    check_http(&rr.http_raw(), p, out);
}

/// Upstream `checkStaticTargets`: a URL where `host:port` belongs is a common mistake.
fn check_static_targets(groups: &[StaticConfig], p: &YamlPath, out: &mut Problems) {
    for (j, g) in groups.iter().enumerate() {
        for (k, t) in g.targets.iter().enumerate() {
            if t.contains('/') {
                out.push(
                    p.key("static_configs").index(j).key("targets").index(k),
                    format!("{t:?} is not a valid hostname"),
                );
            }
        }
    }
}

fn check_file_sd(cfgs: &[FileSdConfig], p: &YamlPath, out: &mut Problems) {
    for (j, c) in cfgs.iter().enumerate() {
        if let Err((file, msg)) = c.validate() {
            let fp = p.key("file_sd_configs").index(j);
            let fp = match file {
                Some(k) => fp.key("files").index(k),
                None => fp,
            };
            out.push(fp, msg);
        }
    }
}

fn check_relabels(cfgs: &[RelabelConfig], p: &YamlPath, out: &mut Problems) {
    for (k, rc) in cfgs.iter().enumerate() {
        if let Err(e) = rc.validate() {
            let rp = p.index(k);
            let rp = match e.field() {
                Some(f) => rp.key(f),
                None => rp,
            };
            out.push(rp, e.to_string());
        }
    }
}

fn nonempty(o: Option<&String>) -> bool {
    o.is_some_and(|s| !s.is_empty())
}

/// Common's `HTTPClientConfig.Validate` and `TLSConfig.Validate`.
fn check_http(h: &HttpRaw<'_>, p: &YamlPath, out: &mut Problems) {
    if h.bearer_token && h.bearer_token_file {
        out.push(
            p.key("bearer_token_file"),
            "at most one of bearer_token & bearer_token_file must be configured",
        );
    }
    if (h.basic_auth.is_some() || h.oauth2) && (h.bearer_token || h.bearer_token_file) {
        out.push(
            p.key(if h.bearer_token { "bearer_token" } else { "bearer_token_file" }),
            "at most one of basic_auth, oauth2, bearer_token & bearer_token_file must be configured",
        );
    }
    if let Some(b) = h.basic_auth {
        let bp = p.key("basic_auth");
        let user = b.username.as_ref().is_some_and(|u| !u.0.is_empty());
        if user && nonempty(b.username_file.as_ref()) {
            out.push(
                bp.key("username_file"),
                "at most one of basic_auth username, username_file & username_ref must be configured",
            );
        }
        if b.password.as_ref().is_some_and(|s| !s.is_empty()) && nonempty(b.password_file.as_ref())
        {
            out.push(
                bp.key("password_file"),
                "at most one of basic_auth password, password_file & password_ref must be configured",
            );
        }
    }
    if let Some(a) = h.authorization {
        let ap = p.key("authorization");
        if h.bearer_token || h.bearer_token_file {
            out.push(
                ap.clone(),
                "authorization is not compatible with bearer_token & bearer_token_file",
            );
        }
        if a.credentials.as_ref().is_some_and(|s| !s.is_empty())
            && nonempty(a.credentials_file.as_ref())
        {
            out.push(
                ap.key("credentials_file"),
                "at most one of authorization credentials & credentials_file must be configured",
            );
        }
        if a.auth_type.trim().eq_ignore_ascii_case("basic") {
            out.push(
                ap.key("type"),
                "authorization type cannot be set to \"basic\", use \"basic_auth\" instead",
            );
        }
        if h.basic_auth.is_some() || h.oauth2 {
            out.push(
                ap,
                "at most one of basic_auth, oauth2 & authorization must be configured",
            );
        }
    }
    let t = h.tls_config;
    let tp = p.key("tls_config");
    let pairs = [
        (nonempty(t.ca.as_ref()), nonempty(t.ca_file.as_ref()), "ca"),
        (nonempty(t.cert.as_ref()), nonempty(t.cert_file.as_ref()), "cert"),
        (t.key.as_ref().is_some_and(|k| !k.is_empty()), nonempty(t.key_file.as_ref()), "key"),
    ];
    for (inline, file, name) in pairs {
        if inline && file {
            out.push(
                tp.key(&format!("{name}_file")),
                format!("at most one of {name} and {name}_file must be configured"),
            );
        }
    }
    let using_cert = pairs[1].0 || pairs[1].1;
    let using_key = pairs[2].0 || pairs[2].1;
    if using_cert && !using_key {
        out.push(
            tp.clone(),
            "exactly one of key or key_file must be configured when a client certificate is configured",
        );
    } else if using_key && !using_cert {
        out.push(
            tp,
            "exactly one of cert or cert_file must be configured when a client key is configured",
        );
    }
}
