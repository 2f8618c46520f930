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
    AlertmanagerConfig, Config, HttpRaw, QueueConfig, RemoteReadConfig, RemoteWriteConfig,
    ScrapeConfig, StaticConfig,
};
use super::units::Duration;
use super::FileSdConfig;
use crate::model::relabel::RelabelConfig;

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
        (
            &mut sc.label_name_length_limit,
            global.label_name_length_limit,
        ),
        (
            &mut sc.label_value_length_limit,
            global.label_value_length_limit,
        ),
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
    match rw.url.as_deref() {
        None | Some("") => out.push(p.key("url"), "url for remote_write is empty"),
        Some(u) => {
            if let Err(e) = check_url(u) {
                out.push(p.key("url"), e);
            }
        }
    }
    check_relabels(
        &rw.write_relabel_configs,
        &p.key("write_relabel_configs"),
        out,
    );
    check_headers(&rw.headers, p, out);
    check_http(&rw.http_raw(), p, out);
    check_queue_config(&rw.queue_config, &p.key("queue_config"), out);
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

/// Queue settings a queue cannot run with (upstream leaves these to fail at run time).
fn check_queue_config(q: &QueueConfig, p: &YamlPath, out: &mut Problems) {
    for (v, key) in [
        (q.capacity, "capacity"),
        (q.max_samples_per_send, "max_samples_per_send"),
        (q.min_shards, "min_shards"),
        (q.max_shards, "max_shards"),
    ] {
        if v == 0 {
            out.push(p.key(key), format!("{key} must be at least 1"));
        }
    }
    if q.min_shards > q.max_shards && q.max_shards > 0 {
        out.push(
            p.key("min_shards"),
            format!(
                "min_shards ({}) must not exceed max_shards ({})",
                q.min_shards, q.max_shards
            ),
        );
    }
    if q.batch_send_deadline.0 <= 0 {
        out.push(
            p.key("batch_send_deadline"),
            "batch_send_deadline must be positive",
        );
    }
    if q.min_backoff.0 > q.max_backoff.0 {
        out.push(
            p.key("min_backoff"),
            format!(
                "min_backoff ({}) must not exceed max_backoff ({})",
                q.min_backoff, q.max_backoff
            ),
        );
    }
}

fn check_remote_read(rr: &RemoteReadConfig, p: &YamlPath, out: &mut Problems) {
    match rr.url.as_deref() {
        None | Some("") => out.push(p.key("url"), "url for remote_read is empty"),
        Some(u) => {
            if let Err(e) = check_url(u) {
                out.push(p.key("url"), e);
            }
        }
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

/// The checks of Go's `url.Parse` that catch real typos: control characters, a colon in
/// the first path segment of a scheme-less URL (`ht tp://x`), an unclosed IPv6 bracket.
pub(crate) fn check_url(s: &str) -> Result<(), String> {
    let fail = |why: &str| Err(format!("parse {s:?}: {why}"));
    if s.chars().any(|c| c.is_ascii_control()) {
        return fail("net/url: invalid control character in URL");
    }
    let mut scheme_end = None;
    for (i, c) in s.char_indices() {
        match c {
            'a'..='z' | 'A'..='Z' => {}
            '0'..='9' | '+' | '-' | '.' if i > 0 => {}
            ':' if i == 0 => return fail("missing protocol scheme"),
            ':' => {
                scheme_end = Some(i);
                break;
            }
            _ => break,
        }
    }
    let rest = match scheme_end {
        Some(i) => &s[i + 1..],
        None => {
            let first = s.split(['/', '?', '#']).next().unwrap_or("");
            if first.contains(':') {
                return fail("first path segment in URL cannot contain colon");
            }
            return Ok(());
        }
    };
    if let Some(authority) = rest.strip_prefix("//") {
        let host = authority
            .split(['/', '?', '#'])
            .next()
            .unwrap_or("")
            .rsplit('@')
            .next()
            .unwrap_or("");
        if host.starts_with('[') && !host.contains(']') {
            return fail("missing ']' in host");
        }
    }
    Ok(())
}

fn nonempty(o: Option<&String>) -> bool {
    o.is_some_and(|s| !s.is_empty())
}

/// Common's `HTTPClientConfig.Validate` and `TLSConfig.Validate`.
fn check_http(h: &HttpRaw<'_>, p: &YamlPath, out: &mut Problems) {
    if let Some(u) = h.proxy_url.filter(|u| !u.is_empty()) {
        if let Err(e) = check_url(u) {
            out.push(p.key("proxy_url"), e);
        }
    }
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
        (
            nonempty(t.cert.as_ref()),
            nonempty(t.cert_file.as_ref()),
            "cert",
        ),
        (
            t.key.as_ref().is_some_and(|k| !k.is_empty()),
            nonempty(t.key_file.as_ref()),
            "key",
        ),
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

#[cfg(test)]
mod tests {
    use crate::config::{Config, Error};

    fn load(yaml: &str) -> Config {
        match Config::load_str(yaml, "p.yml") {
            Ok(c) => c,
            Err(e) => panic!("unexpected error: {e}"),
        }
    }

    fn err(yaml: &str) -> String {
        match Config::load_str(yaml, "p.yml") {
            Ok(_) => panic!("expected an error for:\n{yaml}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn empty_config_gets_upstream_defaults() {
        for text in ["", "# nothing\n", "global:\n"] {
            let c = load(text);
            assert_eq!(c.global.scrape_interval.to_string(), "1m");
            assert_eq!(c.global.scrape_timeout.to_string(), "10s");
            assert_eq!(c.global.evaluation_interval.to_string(), "1m");
            assert!(c.scrape_configs.is_empty());
        }
        // A short global interval caps the default timeout.
        let c = load("global: {scrape_interval: 5s}");
        assert_eq!(c.global.scrape_timeout.to_string(), "5s");
    }

    #[test]
    fn scrape_config_inherits_and_defaults() {
        let c = load(
            "global:\n  scrape_interval: 30s\n  scrape_timeout: 20s\n  sample_limit: 100\n  body_size_limit: 10MB\n\
             scrape_configs:\n  - job_name: a\n  - job_name: b\n    scrape_interval: 10s\n    sample_limit: 5\n",
        );
        let a = &c.scrape_configs[0];
        assert_eq!(a.scrape_interval.to_string(), "30s");
        assert_eq!(a.scrape_timeout.to_string(), "20s");
        assert_eq!(a.metrics_path, "/metrics");
        assert_eq!(a.scheme, "http");
        assert!(a.honor_timestamps && !a.honor_labels && a.follow_redirects && a.enable_http2);
        assert_eq!(a.sample_limit, 100);
        assert_eq!(a.body_size_limit.bytes(), 10 << 20);
        let b = c.scrape_config("b").unwrap();
        assert_eq!(
            b.scrape_timeout.to_string(),
            "10s",
            "timeout capped at the job interval"
        );
        assert_eq!(b.sample_limit, 5);
    }

    #[test]
    fn unknown_field_names_file_line_column_and_suggests() {
        let e = err("scrape_configs:\n  - job_name: a\n    scrape_intervl: 5s\n");
        assert_eq!(
            e,
            "p.yml:3:5: scrape_configs[0]: field scrape_intervl not found in type config.ScrapeConfig; did you mean scrape_interval?"
        );
        let e = err("not-prometheus:\n");
        assert_eq!(
            e,
            "p.yml:1:1: field not-prometheus not found in type config.Config"
        );
        let e = err("global:\n  scrape_interval: 1m\n  evaluation_intervall: 1m\n");
        assert!(e.starts_with("p.yml:3:3: global: field evaluation_intervall not found in type config.GlobalConfig; did you mean evaluation_interval?"), "{e}");
        let e = err("scrape_configs:\n  - job_name: a\n    relabel_configs:\n      - source_labels: [a]\n        regexp: x\n");
        assert!(e.starts_with("p.yml:5:9: scrape_configs[0].relabel_configs[0]: field regexp not found in type relabel.Config; did you mean regex?"), "{e}");
        let e = err("scrape_configs:\n  - job_name: a\n    tls_config: {ca_fil: x}\n");
        assert!(e.starts_with("p.yml:3:18: scrape_configs[0].tls_config: field ca_fil not found in type config.TLSConfig"), "{e}");
    }

    #[test]
    fn bad_values_point_at_the_value() {
        let e = err("global:\n  scrape_interval: 15x\n");
        assert_eq!(
            e,
            "p.yml:2:20: global.scrape_interval: not a valid duration string: \"15x\""
        );
        let e = err("scrape_configs:\n  - job_name: a\n    body_size_limit: 10mb\n");
        assert_eq!(
            e,
            "p.yml:3:22: scrape_configs[0].body_size_limit: units: unknown unit mb in 10mb"
        );
        let e = err("scrape_configs:\n  - job_name: a\n    metric_relabel_configs:\n      - regex: '(x'\n        action: drop\n");
        // Go's message for the anchored pattern, as promtool prints it, after file:line.
        assert_eq!(e, "p.yml:4:16: scrape_configs[0].metric_relabel_configs[0].regex: error parsing regexp: missing closing ): `^(?s:(x)$`");
        let e = err(
            "scrape_configs:\n  - job_name: a\n    relabel_configs:\n      - regex: 'a{1001}'\n",
        );
        assert_eq!(e, "p.yml:4:16: scrape_configs[0].relabel_configs[0].regex: error parsing regexp: invalid repeat count: `{1001}`");
        let e =
            err("scrape_configs:\n  - job_name: a\n    relabel_configs:\n      - regex: '(?x)a'\n");
        assert!(
            e.ends_with("regex: error parsing regexp: invalid or unsupported Perl syntax: `(?x`"),
            "{e}"
        );
        let e =
            err("scrape_configs:\n  - job_name: a\n    relabel_configs:\n      - action: Frob\n");
        assert_eq!(e, "p.yml:4:17: scrape_configs[0].relabel_configs[0].action: unknown relabel action \"Frob\"");
        let e = err("scrape_configs:\n  - job_name: a\n    tls_config: {min_version: TLS14}\n");
        assert!(e.contains("unknown TLS version: TLS14"), "{e}");
        let e = err("scrape_configs:\n  - job_name: a\n    honor_labels: maybe\n");
        assert!(e.starts_with("p.yml:3:19: "), "{e}");
        let e = err("scrape_configs:\n  - scrape_interval: 5s\n");
        assert!(
            e.starts_with("p.yml:2:5: scrape_configs[0]: missing field `job_name`"),
            "{e}"
        );
    }

    #[test]
    fn invalid_label_names_are_rejected() {
        let e = err("global:\n  external_labels:\n    ok: x\n    bad-name: y\n");
        assert_eq!(
            e,
            "p.yml:4:5: global.external_labels: \"bad-name\" is not a valid label name"
        );
        let e = err("scrape_configs:\n  - job_name: a\n    static_configs:\n      - targets: [h:1]\n        labels: {0x: y}\n");
        assert!(
            e.starts_with("p.yml:5:18: ") && e.contains("\"0x\" is not a valid label name"),
            "{e}"
        );
        let e = err("scrape_configs:\n  - job_name: a\n    relabel_configs:\n      - source_labels: [a.b]\n        target_label: x\n");
        assert!(e.contains("\"a.b\" is not a valid label name"), "{e}");
    }

    #[test]
    fn timeout_greater_than_interval() {
        let e = err("global:\n  scrape_interval: 10s\n  scrape_timeout: 20s\n");
        assert_eq!(
            e,
            "p.yml:3:3: global.scrape_timeout: global scrape timeout greater than scrape interval"
        );
        let e = err("scrape_configs:\n  - job_name: slow\n    scrape_interval: 5s\n    scrape_timeout: 6s\n");
        assert_eq!(
            e,
            "p.yml:4:5: scrape_configs[0].scrape_timeout: scrape timeout greater than scrape interval for scrape config with job name \"slow\""
        );
        // Inherited global interval counts too.
        let e = err("global: {scrape_interval: 5s}\nscrape_configs:\n  - job_name: x\n    scrape_timeout: 1m\n");
        assert!(e.starts_with("p.yml:4:5: "), "{e}");
    }

    #[test]
    fn duplicate_and_empty_job_names() {
        let e = err("scrape_configs:\n  - job_name: a\n  - job_name: b\n  - job_name: a\n");
        assert_eq!(e, "p.yml:4:5: scrape_configs[2].job_name: found multiple scrape configs with job name \"a\"");
        let e = err("scrape_configs:\n  - job_name: ''\n");
        assert_eq!(
            e,
            "p.yml:2:5: scrape_configs[0].job_name: job_name is empty"
        );
    }

    #[test]
    fn every_problem_is_reported() {
        let e = err(
            "scrape_configs:\n  - job_name: a\n    scrape_interval: 1s\n    scrape_timeout: 2s\n  - job_name: a\n    scheme: ftp\n",
        );
        let lines: Vec<&str> = e.lines().collect();
        assert_eq!(lines.len(), 3, "{e}");
        assert!(lines[0].starts_with("p.yml:4:5: "), "{e}");
        assert!(
            lines[1].starts_with("p.yml:6:5: ") && lines[1].contains("invalid scheme \"ftp\""),
            "{e}"
        );
        assert!(
            lines[2].starts_with("p.yml:5:5: ") && lines[2].contains("multiple scrape configs"),
            "{e}"
        );
        let parsed = Config::load_str("scrape_configs: [{job_name: ''}, {job_name: ''}]", "x");
        match parsed {
            Err(Error::Invalid { problems, .. }) => assert_eq!(problems.len(), 2),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn relabel_rules_are_validated_in_place() {
        let base =
            "scrape_configs:\n  - job_name: a\n    relabel_configs:\n      - source_labels: [x]\n";
        let cases = [
            ("        action: hashmod\n        target_label: t\n", "p.yml:5:9: scrape_configs[0].relabel_configs[0].action: relabel configuration for hashmod requires non-zero modulus"),
            ("        action: replace\n", "p.yml:5:9: scrape_configs[0].relabel_configs[0].action: relabel configuration for replace action requires 'target_label' value"),
            ("        target_label: 'a-b'\n", "p.yml:5:9: scrape_configs[0].relabel_configs[0].target_label: \"a-b\" is invalid 'target_label' for replace action"),
            ("        action: keepequal\n        target_label: y\n        regex: x\n", "p.yml:5:9: scrape_configs[0].relabel_configs[0].action: keepequal action requires only 'source_labels' and `target_label`, and no other fields"),
            ("        action: dropequal\n", "p.yml:5:9: scrape_configs[0].relabel_configs[0].action: relabel configuration for dropequal action requires 'target_label' value"),
            ("        action: lowercase\n        target_label: y\n        replacement: z\n", "p.yml:7:9: scrape_configs[0].relabel_configs[0].replacement: 'replacement' can not be set for lowercase action"),
            ("        action: labeldrop\n", "p.yml:5:9: scrape_configs[0].relabel_configs[0].action: labeldrop action requires only 'regex', and no other fields"),
            ("        action: labelmap\n        replacement: 'x-$1'\n", "p.yml:6:9: scrape_configs[0].relabel_configs[0].replacement: \"x-$1\" is invalid 'replacement' for labelmap action"),
        ];
        for (extra, want) in cases {
            assert_eq!(err(&format!("{base}{extra}")), want);
        }
        // Also in metric, alert and write relabel lists.
        let e = err("scrape_configs:\n  - job_name: a\n    metric_relabel_configs:\n      - action: uppercase\n");
        assert!(
            e.starts_with("p.yml:4:9: scrape_configs[0].metric_relabel_configs[0].action: "),
            "{e}"
        );
        let e = err(
            "alerting:\n  alert_relabel_configs:\n    - action: labelkeep\n      separator: ','\n",
        );
        assert!(
            e.contains(
                "alerting.alert_relabel_configs[0].action: labelkeep action requires only 'regex'"
            ),
            "{e}"
        );
        let e = err("remote_write:\n  - url: http://x/api/v1/write\n    write_relabel_configs:\n      - action: hashmod\n        target_label: t\n");
        assert!(
            e.starts_with("p.yml:4:9: remote_write[0].write_relabel_configs[0].action: "),
            "{e}"
        );
    }

    #[test]
    fn rule_file_patterns() {
        let c = load("rule_files: ['rules/*.yml', 'a.yml']");
        assert_eq!(c.rule_files.len(), 2);
        let e = err("rule_files:\n  - 'rules/*/x.yml'\n");
        assert_eq!(
            e,
            "p.yml:2:5: rule_files[0]: invalid rule file path \"rules/*/x.yml\""
        );
    }

    #[test]
    fn static_targets_must_be_host_port() {
        let e = err("scrape_configs:\n  - job_name: a\n    static_configs:\n      - targets: ['ok:1', 'http://x:1/metrics']\n");
        assert_eq!(e, "p.yml:4:27: scrape_configs[0].static_configs[0].targets[1]: \"http://x:1/metrics\" is not a valid hostname");
        // With relabeling the address may be rewritten, so upstream does not check.
        load("scrape_configs:\n  - job_name: a\n    static_configs:\n      - targets: ['http://x']\n    relabel_configs:\n      - {source_labels: [__address__], regex: 'http://(.*)', target_label: __address__}\n");
    }

    #[test]
    fn file_sd_configs_are_checked() {
        let c = load(
            "scrape_configs:\n  - job_name: a\n    file_sd_configs:\n      - files: [t/*.json]\n",
        );
        let sd = &c.scrape_configs[0].file_sd_configs[0];
        assert_eq!(sd.refresh_interval.to_string(), "5m");
        let e = err(
            "scrape_configs:\n  - job_name: a\n    file_sd_configs:\n      - files: [t/*.txt]\n",
        );
        assert_eq!(e, "p.yml:4:17: scrape_configs[0].file_sd_configs[0].files[0]: path name \"t/*.txt\" is not valid for file discovery");
        let e = err("scrape_configs:\n  - job_name: a\n    file_sd_configs:\n      - refresh_interval: 1m\n");
        assert!(
            e.starts_with("p.yml:4:9: ") && e.contains("must contain at least one path name"),
            "{e}"
        );
    }

    #[test]
    fn http_client_rules() {
        let job = "scrape_configs:\n  - job_name: a\n";
        let cases = [
            ("    bearer_token: x\n    bearer_token_file: y\n", "p.yml:4:5: scrape_configs[0].bearer_token_file: at most one of bearer_token & bearer_token_file must be configured"),
            ("    basic_auth: {username: u}\n    bearer_token: x\n", "p.yml:4:5: scrape_configs[0].bearer_token: at most one of basic_auth, oauth2, bearer_token & bearer_token_file must be configured"),
            ("    basic_auth:\n      username: u\n      password: p\n      password_file: f\n", "p.yml:6:7: scrape_configs[0].basic_auth.password_file: at most one of basic_auth password, password_file & password_ref must be configured"),
            ("    authorization:\n      type: Basic\n      credentials: c\n", "p.yml:4:7: scrape_configs[0].authorization.type: authorization type cannot be set to \"basic\", use \"basic_auth\" instead"),
            ("    authorization:\n      credentials: c\n      credentials_file: f\n", "p.yml:5:7: scrape_configs[0].authorization.credentials_file: at most one of authorization credentials & credentials_file must be configured"),
            ("    tls_config:\n      cert_file: c.pem\n", "p.yml:3:5: scrape_configs[0].tls_config: exactly one of key or key_file must be configured when a client certificate is configured"),
            ("    tls_config:\n      key_file: k.pem\n", "p.yml:3:5: scrape_configs[0].tls_config: exactly one of cert or cert_file must be configured when a client key is configured"),
            ("    tls_config:\n      ca: x\n      ca_file: y\n", "p.yml:5:7: scrape_configs[0].tls_config.ca_file: at most one of ca and ca_file must be configured"),
        ];
        for (body, want) in cases {
            assert_eq!(err(&format!("{job}{body}")), want);
        }
        let e = err("scrape_configs:\n  - job_name: a\n    basic_auth: {username: u}\n    authorization: {credentials: c}\n");
        assert!(
            e.contains("at most one of basic_auth, oauth2 & authorization must be configured"),
            "{e}"
        );
        // Legacy bearer token becomes an Authorization header.
        let c = load("scrape_configs:\n  - job_name: a\n    bearer_token: tok\n");
        let a = c.scrape_configs[0].http_client().authorization.unwrap();
        assert_eq!(a.auth_type, "Bearer");
        assert_eq!(a.credentials.unwrap().expose(), "tok");
    }

    #[test]
    fn alerting_rules() {
        let c = load("alerting:\n  alertmanagers:\n    - static_configs:\n        - targets: ['127.0.0.1:9093']\n");
        let am = &c.alerting.alertmanagers[0];
        assert_eq!(
            (
                am.scheme.as_str(),
                am.timeout.to_string(),
                am.api_version.as_str()
            ),
            ("http", "10s".to_string(), "v2")
        );
        let e = err("alerting:\n  alertmanagers:\n    - api_version: v1\n");
        assert_eq!(e, "p.yml:3:7: alerting.alertmanagers[0].api_version: expected Alertmanager api version to be one of [v2] but got v1");
        let e = err("alerting:\n  alertmanagers:\n    - static_configs:\n        - targets: ['http://am:9093']\n");
        assert!(
            e.contains("\"http://am:9093\" is not a valid hostname"),
            "{e}"
        );
    }

    #[test]
    fn urls_are_checked_like_go() {
        use super::check_url;
        for ok in [
            "http://127.0.0.1:9090/api/v1/write",
            "foo",
            "https://[::1]:9090/",
            "http://u:p@h/x",
        ] {
            assert_eq!(check_url(ok), Ok(()), "{ok}");
        }
        assert_eq!(
            check_url("http://[::1"),
            Err("parse \"http://[::1\": missing ']' in host".into())
        );
        assert_eq!(
            check_url("ht tp://x"),
            Err("parse \"ht tp://x\": first path segment in URL cannot contain colon".into())
        );
        assert!(check_url(":x").is_err());
        assert!(check_url("http://a\nb").is_err());
        let e = err("scrape_configs:\n  - job_name: a\n    proxy_url: 'ht tp://x'\n");
        assert!(
            e.starts_with("p.yml:3:5: scrape_configs[0].proxy_url: parse "),
            "{e}"
        );
        let e = err("remote_write:\n  - url: 'http://[::1'\n");
        assert!(
            e.starts_with("p.yml:2:5: remote_write[0].url: parse "),
            "{e}"
        );
    }

    #[test]
    fn remote_write_and_read_rules() {
        let c = load("remote_write:\n  - url: http://127.0.0.1:9090/api/v1/write\n    queue_config: {max_shards: 10}\n");
        let rw = &c.remote_write[0];
        assert_eq!(rw.remote_timeout.to_string(), "30s");
        assert_eq!(rw.queue_config.max_shards, 10);
        assert_eq!(rw.queue_config.capacity, 10_000);
        assert_eq!(rw.queue_config.min_backoff.to_string(), "30ms");
        assert!(rw.metadata_config.send && !rw.enable_http2 && rw.follow_redirects);
        let e = err("remote_write:\n  - name: x\n");
        assert_eq!(
            e,
            "p.yml:2:5: remote_write[0].url: url for remote_write is empty"
        );
        let e =
            err("remote_write:\n  - url: http://a\n    name: r\n  - url: http://b\n    name: r\n");
        assert_eq!(e, "p.yml:5:5: remote_write[1].name: found multiple remote write configs with job name \"r\"");
        let e = err("remote_write:\n  - url: http://a\n    headers:\n      Authorization: x\n");
        assert!(
            e.starts_with("p.yml:4:7: ") && e.contains("authorization header must be changed via"),
            "{e}"
        );
        let e = err("remote_write:\n  - url: http://a\n    headers:\n      User-Agent: x\n");
        assert!(
            e.contains("User-Agent is a reserved header. It must not be changed"),
            "{e}"
        );
        let e = err("remote_write:\n  - url: http://a\n    basic_auth: {username: u}\n    sigv4: {region: x}\n");
        assert!(
            e.contains("Currently configured: [basic_auth sigv4]"),
            "{e}"
        );
        let e = err(
            "remote_write:\n  - url: http://a\n    queue_config:\n      max_samples_per_send: 0\n",
        );
        assert_eq!(
            e,
            "p.yml:4:7: remote_write[0].queue_config.max_samples_per_send: max_samples_per_send must be at least 1"
        );
        let e = err(
            "remote_write:\n  - url: http://a\n    queue_config: {min_shards: 5, max_shards: 2}\n",
        );
        assert!(
            e.starts_with("p.yml:3:20: remote_write[0].queue_config.min_shards: min_shards (5) must not exceed max_shards (2)"),
            "{e}"
        );
        let e = err("remote_write:\n  - url: http://a\n    queue_config: {min_backoff: 10s, max_backoff: 1s}\n");
        assert!(
            e.contains("min_backoff (10s) must not exceed max_backoff (1s)"),
            "{e}"
        );
        let c = load("remote_read:\n  - url: http://a/read\n");
        assert_eq!(c.remote_read[0].remote_timeout.to_string(), "1m");
        assert!(c.remote_read[0].filter_external_labels);
        let e = err("remote_read:\n  - read_recent: true\n");
        assert_eq!(
            e,
            "p.yml:2:5: remote_read[0].url: url for remote_read is empty"
        );
    }
}
