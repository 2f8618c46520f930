//! Targets: turning discovered label sets into scrape targets.
//!
//! Mirrors upstream `scrape/target.go` as of Prometheus 2.42 (`PopulateLabels`,
//! `TargetsFromGroup`, `Target.URL`, `Target.hash`, `Target.offset`):
//!
//! 1. the target's own labels, then the group's labels where the target has none;
//! 2. `job`, `__scrape_interval__`, `__scrape_timeout__`, `__metrics_path__`, `__scheme__`
//!    from the scrape config where not already set, and `__param_<name>` for each param
//!    (first value) — this is the *discovered* label set kept for the UI;
//! 3. `relabel_configs`; a target they drop is listed as dropped;
//! 4. a target without `__address__` is an error ("no address");
//! 5. an address without a port gets the scheme's default port (`:80`, `:443`) — 2.42 does
//!    this unless the `no-default-scrape-port` feature flag is on, checked against the
//!    installed Prometheus 2.42 (`instance="127.0.0.1:80"` for target `127.0.0.1`);
//! 6. interval and timeout labels must parse, be non-zero, and timeout <= interval;
//! 7. `__meta_*` labels are removed, `instance` defaults to `__address__`.
//!
//! The final label set keeps the other `__`-prefixed labels (they build the URL); the labels
//! attached to samples ([`Target::labels`]) are those without the `__` prefix.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use crate::model::relabel;
use crate::model::time::{format_duration, parse_duration};
use crate::model::{Label, Labels, LabelsBuilder};
use crate::scrape::settings::{PoolConfig, TargetGroup};

/// `__address__`: host:port to scrape.
const ADDRESS_LABEL: &str = "__address__";
/// `__scheme__`: http or https.
const SCHEME_LABEL: &str = "__scheme__";
/// `__metrics_path__`: the URL path.
const METRICS_PATH_LABEL: &str = "__metrics_path__";
/// `__scrape_interval__`: per-target interval.
const SCRAPE_INTERVAL_LABEL: &str = "__scrape_interval__";
/// `__scrape_timeout__`: per-target timeout.
const SCRAPE_TIMEOUT_LABEL: &str = "__scrape_timeout__";
/// Prefix of labels that set URL query parameters.
const PARAM_LABEL_PREFIX: &str = "__param_";
/// Prefix of discovery metadata labels, removed after relabeling.
const META_LABEL_PREFIX: &str = "__meta_";
/// Prefix of labels internal to Prometheus, never attached to samples.
const RESERVED_LABEL_PREFIX: &str = "__";
/// `job`.
const JOB_LABEL: &str = "job";
/// `instance`.
const INSTANCE_LABEL: &str = "instance";

/// Why a discovered target could not become a scrape target (upstream's messages).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error("no address")]
    NoAddress,
    #[error("invalid scheme: {0:?}")]
    InvalidScheme(String),
    #[error("{0:?} is not a valid hostname")]
    InvalidHostname(String),
    #[error("error parsing scrape interval: {0}")]
    BadInterval(String),
    #[error("scrape interval cannot be 0")]
    ZeroInterval,
    #[error("error parsing scrape timeout: {0}")]
    BadTimeout(String),
    #[error("scrape timeout cannot be 0")]
    ZeroTimeout,
    #[error("scrape timeout cannot be greater than scrape interval ({timeout:?} > {interval:?})")]
    TimeoutAboveInterval { timeout: String, interval: String },
    #[error("instance {index} in group {group}: {source}")]
    InGroup {
        index: usize,
        group: String,
        #[source]
        source: Box<TargetError>,
    },
}

/// The outcome of [`populate_labels`] for one discovered label set.
#[derive(Debug, Clone, PartialEq)]
pub enum Populated {
    /// A target to scrape: its final labels (with `__` labels) and its discovered labels.
    Active { labels: Labels, discovered: Labels },
    /// Dropped by `relabel_configs`; the discovered labels are kept for the UI.
    Dropped { discovered: Labels },
}

/// A target to scrape: final labels, the labels it was discovered with, and the
/// configured query parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    labels: Labels,
    discovered: Labels,
    params: BTreeMap<String, Vec<String>>,
    url: String,
    hash: u64,
    interval: Duration,
    timeout: Duration,
}

impl Target {
    /// Builds a target from labels that went through [`populate_labels`].
    pub fn new(
        labels: Labels,
        discovered: Labels,
        params: BTreeMap<String, Vec<String>>,
    ) -> Target {
        let url = build_url(&labels, &params);
        let hash = target_hash(&labels, &url);
        // populate_labels has validated both; fall back to upstream defaults otherwise.
        let ms = |name: &str, default: i64| {
            labels
                .get(name)
                .and_then(|v| parse_duration(v).ok())
                .filter(|&v| v > 0)
                .unwrap_or(default)
        };
        let interval = Duration::from_millis(ms(SCRAPE_INTERVAL_LABEL, 60_000) as u64);
        let timeout = Duration::from_millis(ms(SCRAPE_TIMEOUT_LABEL, 10_000) as u64);
        Target {
            labels,
            discovered,
            params,
            url,
            hash,
            interval,
            timeout,
        }
    }

    /// The labels attached to every scraped sample: the final labels without the
    /// `__`-prefixed ones (upstream `Target.Labels`).
    pub fn labels(&self) -> Labels {
        Labels::from_sorted(
            self.labels
                .iter()
                .filter(|l| !l.name.starts_with(RESERVED_LABEL_PREFIX))
                .cloned()
                .collect(),
        )
    }

    /// The final label set including `__address__`, `__scheme__` and the other `__` labels.
    pub fn full_labels(&self) -> &Labels {
        &self.labels
    }

    /// The label set before relabeling (upstream `DiscoveredLabels`).
    pub fn discovered_labels(&self) -> &Labels {
        &self.discovered
    }

    /// The scrape URL: scheme, address, path, and params with `__param_*` overrides.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Identity of the target within its pool: label hash (without the interval and timeout
    /// labels) mixed with the URL.
    pub fn hash(&self) -> u64 {
        self.hash
    }

    /// Scrape interval (from `__scrape_interval__`).
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// Scrape timeout (from `__scrape_timeout__`).
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// How long to wait before the first scrape so that targets spread over the interval
    /// instead of scraping in lockstep (upstream `Target.offset`): the wait ends at
    /// `hash(target) ^ seed` modulo `interval`, pinned to absolute time, so the phase is
    /// the same after a restart.
    pub fn offset(&self, interval: Duration, seed: u64, now_unix_nanos: i128) -> Duration {
        offset_for(self.hash, interval, seed, now_unix_nanos)
    }
}

/// The arithmetic of [`Target::offset`], separated for tests.
pub(crate) fn offset_for(
    hash: u64,
    interval: Duration,
    seed: u64,
    now_unix_nanos: i128,
) -> Duration {
    let iv = interval.as_nanos().max(1) as i128;
    let base = iv - now_unix_nanos.rem_euclid(iv);
    let offset = ((hash ^ seed) as u128 % iv as u128) as i128;
    let mut next = base + offset;
    if next > iv {
        next -= iv;
    }
    Duration::from_nanos(next.clamp(0, u64::MAX as i128) as u64)
}

/// FNV-1a over the label hash (formatted as upstream does) and the URL. Unlike upstream,
/// `__scrape_interval__` and `__scrape_timeout__` are left out: a reload that only changes
/// a job's interval keeps the target's identity, so its loop keeps running with the new
/// interval instead of being replaced (which would race the old loop's end-of-run
/// staleness markers against the new loop's first samples).
fn target_hash(labels: &Labels, url: &str) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut h = OFFSET;
    let identity = Labels::from_sorted(
        labels
            .iter()
            .filter(|l| l.name != SCRAPE_INTERVAL_LABEL && l.name != SCRAPE_TIMEOUT_LABEL)
            .cloned()
            .collect(),
    );
    let lh = format!("{:016}", identity.stable_hash());
    for b in lh.bytes().chain(url.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(PRIME);
    }
    h
}

/// Characters Go's `url.QueryEscape` leaves alone: `A-Z a-z 0-9 - _ . ~`.
const QUERY_ESCAPE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Characters kept in a URL path, as Go's `EscapedPath` keeps them.
const PATH_ESCAPE: &AsciiSet = &QUERY_ESCAPE
    .remove(b'/')
    .remove(b'!')
    .remove(b'$')
    .remove(b'&')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')')
    .remove(b'*')
    .remove(b'+')
    .remove(b',')
    .remove(b';')
    .remove(b'=')
    .remove(b':')
    .remove(b'@');

/// Go's `url.QueryEscape`: space becomes `+`, the rest of the reserved bytes `%XX`.
fn query_escape(s: &str) -> String {
    utf8_percent_encode(s, QUERY_ESCAPE)
        .to_string()
        .replace("%20", "+")
}

/// Builds the scrape URL like upstream `Target.URL().String()`: params from the config,
/// the first value of each replaced by a `__param_<name>` label (or added), encoded in
/// name order as `url.Values.Encode`.
fn build_url(labels: &Labels, params: &BTreeMap<String, Vec<String>>) -> String {
    let mut params = params.clone();
    for l in labels {
        if let Some(name) = l.name.strip_prefix(PARAM_LABEL_PREFIX) {
            let values = params.entry(name.to_string()).or_default();
            match values.first_mut() {
                Some(first) => first.clone_from(&l.value),
                None => values.push(l.value.clone()),
            }
        }
    }
    let mut url = String::new();
    let scheme = labels.get(SCHEME_LABEL).unwrap_or_default();
    let host = labels.get(ADDRESS_LABEL).unwrap_or_default();
    let path = labels.get(METRICS_PATH_LABEL).unwrap_or_default();
    if !scheme.is_empty() {
        url.push_str(scheme);
        url.push(':');
    }
    if !scheme.is_empty() || !host.is_empty() {
        url.push_str("//");
        url.push_str(host);
    }
    if !path.is_empty() && !path.starts_with('/') && !host.is_empty() {
        url.push('/');
    }
    url.push_str(&utf8_percent_encode(path, PATH_ESCAPE).to_string());
    let mut first = true;
    for (k, vs) in &params {
        for v in vs {
            url.push(if first { '?' } else { '&' });
            first = false;
            let _ = write!(url, "{}={}", query_escape(k), query_escape(v));
        }
    }
    url
}

/// Go's `net.SplitHostPort` error cases, enough to decide whether a port is present.
fn split_host_port(s: &str) -> Result<(&str, &str), ()> {
    let i = s.rfind(':').ok_or(())?;
    let (host, j, k) = if s.starts_with('[') {
        let end = s.find(']').ok_or(())?;
        if end + 1 == s.len() || end + 1 != i {
            return Err(());
        }
        (&s[1..end], 1, end + 1)
    } else {
        let host = &s[..i];
        if host.contains(':') {
            return Err(());
        }
        (host, 0, 0)
    };
    if s[j..].contains('[') || s[k..].contains(']') {
        return Err(());
    }
    Ok((host, &s[i + 1..]))
}

/// Applies upstream `PopulateLabels` to one discovered label set: see the module docs.
pub fn populate_labels(base: Labels, cfg: &PoolConfig) -> Result<Populated, TargetError> {
    let mut lb = base.builder();
    let defaults = [
        (JOB_LABEL, cfg.job_name.clone()),
        (
            SCRAPE_INTERVAL_LABEL,
            format_duration(cfg.scrape_interval_ms),
        ),
        (SCRAPE_TIMEOUT_LABEL, format_duration(cfg.scrape_timeout_ms)),
        (METRICS_PATH_LABEL, cfg.metrics_path.clone()),
        (SCHEME_LABEL, cfg.scheme.clone()),
    ];
    for (name, value) in &defaults {
        if lb.get(name).is_none() {
            lb.set(name, value);
        }
    }
    for (name, values) in &cfg.params {
        if let Some(v) = values.first() {
            lb.set(&format!("{PARAM_LABEL_PREFIX}{name}"), v);
        }
    }
    let discovered = lb.labels();
    let Some(relabeled) = relabel::process(&discovered, &cfg.relabel_configs) else {
        return Ok(Populated::Dropped { discovered });
    };
    let Some(address) = relabeled.get(ADDRESS_LABEL) else {
        return Err(TargetError::NoAddress);
    };
    let mut lb = relabeled.builder();
    let mut addr = address.to_string();
    // A port is added only when splitting fails for want of one.
    let needs_port =
        split_host_port(&addr).is_err() && split_host_port(&format!("{addr}:1234")).is_ok();
    if needs_port {
        match relabeled.get(SCHEME_LABEL).unwrap_or_default() {
            "http" | "" => addr.push_str(":80"),
            "https" => addr.push_str(":443"),
            other => return Err(TargetError::InvalidScheme(other.to_string())),
        }
        lb.set(ADDRESS_LABEL, &addr);
    }
    if addr.contains('/') {
        return Err(TargetError::InvalidHostname(addr));
    }
    let interval = relabeled.get(SCRAPE_INTERVAL_LABEL).unwrap_or_default();
    let interval_ms =
        parse_duration(interval).map_err(|e| TargetError::BadInterval(e.to_string()))?;
    if interval_ms == 0 {
        return Err(TargetError::ZeroInterval);
    }
    let timeout = relabeled.get(SCRAPE_TIMEOUT_LABEL).unwrap_or_default();
    let timeout_ms = parse_duration(timeout).map_err(|e| TargetError::BadTimeout(e.to_string()))?;
    if timeout_ms == 0 {
        return Err(TargetError::ZeroTimeout);
    }
    if timeout_ms > interval_ms {
        return Err(TargetError::TimeoutAboveInterval {
            timeout: timeout.to_string(),
            interval: interval.to_string(),
        });
    }
    for l in relabeled.iter() {
        if l.name.starts_with(META_LABEL_PREFIX) {
            lb.del(&l.name);
        }
    }
    if lb.get(INSTANCE_LABEL).is_none() {
        lb.set(INSTANCE_LABEL, &addr);
    }
    Ok(Populated::Active {
        labels: lb.labels(),
        discovered,
    })
}

/// Upstream `TargetsFromGroup`: every target of a group, with the errors of those that
/// failed (wrapped with the instance index and group).
pub fn targets_from_group(
    group: &TargetGroup,
    cfg: &PoolConfig,
) -> (Vec<Target>, Vec<Labels>, Vec<TargetError>) {
    let mut active = Vec::new();
    let mut dropped = Vec::new();
    let mut errors = Vec::new();
    for (index, tlabels) in group.targets.iter().enumerate() {
        let mut pairs: Vec<Label> = tlabels.iter().cloned().collect();
        pairs.extend(
            group
                .labels
                .iter()
                .filter(|l| tlabels.get(&l.name).is_none())
                .cloned(),
        );
        match populate_labels(Labels::new(pairs), cfg) {
            Ok(Populated::Active { labels, discovered }) => {
                active.push(Target::new(labels, discovered, cfg.params.clone()))
            }
            Ok(Populated::Dropped { discovered }) => dropped.push(discovered),
            Err(e) => errors.push(TargetError::InGroup {
                index,
                group: group.source.clone(),
                source: Box::new(e),
            }),
        }
    }
    (active, dropped, errors)
}

/// Builds target labels for tests and tools without a scrape config.
pub fn labels_for(address: &str, job: &str) -> Labels {
    let mut b = LabelsBuilder::new();
    b.set(ADDRESS_LABEL, address).set(JOB_LABEL, job);
    b.labels()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::relabel::{Action, RelabelConfig, RelabelRegex};

    fn cfg() -> PoolConfig {
        let mut c = PoolConfig::new("node");
        c.scrape_interval_ms = 15_000;
        c.scrape_timeout_ms = 5_000;
        c
    }

    fn active(p: Populated) -> (Labels, Labels) {
        match p {
            Populated::Active { labels, discovered } => (labels, discovered),
            Populated::Dropped { .. } => panic!("dropped"),
        }
    }

    #[test]
    fn populate_sets_defaults_and_instance() {
        let (labels, discovered) = active(
            populate_labels(
                Labels::from_pairs(&[("__address__", "h:9100"), ("__meta_x", "y")]),
                &cfg(),
            )
            .unwrap(),
        );
        assert_eq!(
            labels,
            Labels::from_pairs(&[
                ("__address__", "h:9100"),
                ("__metrics_path__", "/metrics"),
                ("__scheme__", "http"),
                ("__scrape_interval__", "15s"),
                ("__scrape_timeout__", "5s"),
                ("instance", "h:9100"),
                ("job", "node"),
            ])
        );
        assert_eq!(discovered.get("__meta_x"), Some("y"));
        assert_eq!(discovered.get("instance"), None);
    }

    #[test]
    fn default_port_added_as_in_2_42() {
        let (labels, discovered) =
            active(populate_labels(labels_for("127.0.0.1", "x"), &cfg()).unwrap());
        assert_eq!(labels.get("__address__"), Some("127.0.0.1:80"));
        assert_eq!(labels.get("instance"), Some("127.0.0.1:80"));
        assert_eq!(discovered.get("__address__"), Some("127.0.0.1"));
        let mut c = cfg();
        c.scheme = "https".into();
        let (labels, _) = active(populate_labels(labels_for("[::1]", "x"), &c).unwrap());
        assert_eq!(labels.get("__address__"), Some("[::1]:443"));
        // An IPv6 address without brackets cannot take a port: left alone.
        let (labels, _) = active(populate_labels(labels_for("::1", "x"), &c).unwrap());
        assert_eq!(labels.get("__address__"), Some("::1"));
        let mut c = cfg();
        c.scheme = "ftp".into();
        assert_eq!(
            populate_labels(labels_for("h", "x"), &c),
            Err(TargetError::InvalidScheme("ftp".into()))
        );
    }

    #[test]
    fn populate_errors() {
        assert_eq!(
            populate_labels(Labels::from_pairs(&[("a", "b")]), &cfg()),
            Err(TargetError::NoAddress)
        );
        assert_eq!(
            populate_labels(labels_for("h:1/x", "j"), &cfg()),
            Err(TargetError::InvalidHostname("h:1/x".into()))
        );
        let mut l = labels_for("h:1", "j").builder();
        l.set("__scrape_timeout__", "1m");
        assert_eq!(
            populate_labels(l.labels(), &cfg()),
            Err(TargetError::TimeoutAboveInterval {
                timeout: "1m".into(),
                interval: "15s".into()
            })
        );
        l.set("__scrape_interval__", "0s");
        assert_eq!(
            populate_labels(l.labels(), &cfg()),
            Err(TargetError::ZeroInterval)
        );
        l.set("__scrape_interval__", "x");
        assert!(matches!(
            populate_labels(l.labels(), &cfg()),
            Err(TargetError::BadInterval(_))
        ));
    }

    #[test]
    fn relabel_drop_and_keep() {
        let mut c = cfg();
        c.relabel_configs = vec![RelabelConfig {
            source_labels: vec!["__meta_keep".into()],
            regex: RelabelRegex::new("yes").unwrap(),
            action: Action::Keep,
            ..RelabelConfig::default()
        }];
        let mut g = TargetGroup {
            source: "0".into(),
            targets: vec![
                Labels::from_pairs(&[("__address__", "a:1"), ("__meta_keep", "yes")]),
                Labels::from_pairs(&[("__address__", "b:1"), ("__meta_keep", "no")]),
                Labels::from_pairs(&[("x", "y")]),
            ],
            labels: Labels::from_pairs(&[("env", "prod"), ("__meta_keep", "yes")]),
        };
        let (active, dropped, errors) = targets_from_group(&g, &c);
        // The x=y target gets __meta_keep=yes from the group, is kept, and has no address.
        assert_eq!(active.len(), 1);
        assert_eq!(active[0].labels().get("env"), Some("prod"));
        assert_eq!(active[0].labels().get("__meta_keep"), None);
        assert_eq!(dropped.len(), 1);
        assert_eq!(dropped[0].get("__address__"), Some("b:1"));
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].to_string(), "instance 2 in group 0: no address");
        g.targets.truncate(2);
        let (active, _, errors) = targets_from_group(&g, &c);
        assert_eq!(active.len(), 1);
        assert!(errors.is_empty());
    }

    #[test]
    fn group_labels_do_not_override_target_labels() {
        let g = TargetGroup {
            source: "0".into(),
            targets: vec![Labels::from_pairs(&[
                ("__address__", "a:1"),
                ("env", "own"),
            ])],
            labels: Labels::from_pairs(&[("env", "group"), ("team", "t")]),
        };
        let (active, _, errors) = targets_from_group(&g, &cfg());
        assert!(errors.is_empty());
        let l = active[0].labels();
        assert_eq!(l.get("env"), Some("own"));
        assert_eq!(l.get("team"), Some("t"));
        assert_eq!(l.get("__address__"), None);
    }

    #[test]
    fn url_with_params_and_overrides() {
        let mut c = cfg();
        c.params.insert("x".into(), vec!["1".into(), "2".into()]);
        c.params.insert("y".into(), vec!["a b".into()]);
        c.metrics_path = "/probe path".into();
        // Config params overwrite discovered `__param_*` labels; relabeling can override.
        c.relabel_configs = vec![RelabelConfig {
            target_label: "__param_x".into(),
            replacement: "over".into(),
            ..RelabelConfig::default()
        }];
        let mut l = labels_for("localhost:1", "a").builder();
        l.set("__param_x", "discovered").set("__param_z", "&=");
        let (labels, discovered) = active(populate_labels(l.labels(), &c).unwrap());
        assert_eq!(discovered.get("__param_x"), Some("1"));
        let t = Target::new(labels, Labels::empty(), c.params.clone());
        assert_eq!(
            t.url(),
            "http://localhost:1/probe%20path?x=over&x=2&y=a+b&z=%26%3D"
        );
        assert_eq!(t.interval(), Duration::from_secs(15));
        assert_eq!(t.timeout(), Duration::from_secs(5));
    }

    #[test]
    fn params_label_error_is_wrapped() {
        let g = TargetGroup {
            source: "file.json:3".into(),
            targets: vec![Labels::from_pairs(&[("a", "b")])],
            labels: Labels::empty(),
        };
        let (_, _, errors) = targets_from_group(&g, &cfg());
        assert_eq!(
            errors[0].to_string(),
            "instance 0 in group file.json:3: no address"
        );
    }

    #[test]
    fn offset_spreads_targets_and_is_pinned_to_absolute_time() {
        let interval = Duration::from_secs(10);
        let iv = interval.as_nanos() as i128;
        // Two different "now"s in the same phase give the same absolute scrape instant.
        let now = 1_700_000_000_123_456_789i128;
        for hash in [0u64, 1, 12345, u64::MAX] {
            let a = offset_for(hash, interval, 0, now);
            let b = offset_for(hash, interval, 0, now + 3_000_000_000);
            assert!(a.as_nanos() as i128 <= iv);
            assert_eq!(
                (now + a.as_nanos() as i128).rem_euclid(iv),
                (now + 3_000_000_000 + b.as_nanos() as i128).rem_euclid(iv)
            );
        }
        // Many targets land spread over the interval: each tenth gets some.
        let mut buckets = [0usize; 10];
        for i in 0..1000u32 {
            let t = Target::new(
                labels_for(&format!("host{i}:9100"), "j"),
                Labels::empty(),
                BTreeMap::new(),
            );
            let phase = (now + t.offset(interval, 0, now).as_nanos() as i128).rem_euclid(iv);
            buckets[(phase * 10 / iv) as usize] += 1;
        }
        assert!(buckets.iter().all(|&n| n > 50), "{buckets:?}");
        // Interval and timeout are not part of the identity; other labels are.
        let mut l = labels_for("a:1", "j").builder();
        let base = Target::new(l.labels(), Labels::empty(), BTreeMap::new()).hash();
        l.set(SCRAPE_INTERVAL_LABEL, "5s")
            .set(SCRAPE_TIMEOUT_LABEL, "1s");
        assert_eq!(
            Target::new(l.labels(), Labels::empty(), BTreeMap::new()).hash(),
            base
        );
        l.set("x", "y");
        assert_ne!(
            Target::new(l.labels(), Labels::empty(), BTreeMap::new()).hash(),
            base
        );
        // The seed shifts the phase.
        let t = Target::new(labels_for("a:1", "j"), Labels::empty(), BTreeMap::new());
        assert_ne!(t.offset(interval, 0, now), t.offset(interval, 77, now));
    }

    #[test]
    fn split_host_port_like_go() {
        assert_eq!(split_host_port("a:1"), Ok(("a", "1")));
        assert_eq!(split_host_port("[::1]:80"), Ok(("::1", "80")));
        assert!(split_host_port("a").is_err());
        assert!(split_host_port("::1").is_err());
        assert!(split_host_port("[::1]").is_err());
        assert!(split_host_port("[a]b:1").is_err());
        assert_eq!(split_host_port(":80"), Ok(("", "80")));
    }
}
