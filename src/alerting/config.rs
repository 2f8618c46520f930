//! alertmanager.yml (Alertmanager 0.25+ format): `global` (resolve_timeout and the
//! defaults integrations read), the `route` tree, `inhibit_rules` (the `*_matchers` forms
//! and the older `source_match(_re)`/`target_match(_re)`), `receivers`, `templates`,
//! `time_intervals` and the older `mute_time_intervals`.
//!
//! The file is read into a YAML tree and walked with its path, so every problem, syntax or
//! semantic, is reported as `file:line:column: message` (the position is found with
//! [`crate::config::locate`]). Validation follows Alertmanager's `config.Load` (what
//! `amtool check-config` reports): unknown fields, undefined or duplicate receivers and
//! time intervals, a root route with matchers, zero group_interval/repeat_interval,
//! `...` mixed with other group_by labels. Receivers keep their `<kind>_configs` entries
//! as raw YAML; [`crate::alerting::notify::build_integration`] turns each into an
//! integration when the pipeline is built.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_yaml::{Mapping, Value};

use super::matcher::{parse_matchers, valid_label_name, MatchType, Matcher};
use super::timeinterval::{self as ti, Location, TimeInterval};
use crate::config::locate::{locate, Pos, YamlPath};

/// The embedded default alertmanager.yml (what runs without `--alertmanager.config.file`;
/// sample-configs/alertmanager/ beside the Prometheus samples, not among them, since those
/// are checked as prometheus.yml files).
pub const DEFAULT_CONFIG: &str = include_str!("../../sample-configs/alertmanager/alertmanager.yml");

/// Alertmanager's defaults.
pub const DEFAULT_RESOLVE_TIMEOUT_MS: i64 = 5 * 60_000;
pub const DEFAULT_GROUP_WAIT_MS: i64 = 30_000;
pub const DEFAULT_GROUP_INTERVAL_MS: i64 = 5 * 60_000;
pub const DEFAULT_REPEAT_INTERVAL_MS: i64 = 4 * 3_600_000;

/// A problem in alertmanager.yml, where it is and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}{}: {message}", pos.map(|p| format!(":{}:{}", p.line, p.column)).unwrap_or_default())]
pub struct ConfigError {
    pub file: String,
    pub pos: Option<Pos>,
    pub message: String,
}

/// `group_by`: a label list, or `...` (every label: one group per alert).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GroupBy {
    Labels(Vec<String>),
    All,
}

/// One node of the route tree, defaults inherited from its parent already applied.
#[derive(Clone, Debug)]
pub struct Route {
    pub receiver: String,
    pub group_by: GroupBy,
    /// Sorted as Alertmanager sorts them (the route key depends on it).
    pub matchers: Vec<Matcher>,
    pub continue_matching: bool,
    pub group_wait_ms: i64,
    pub group_interval_ms: i64,
    pub repeat_interval_ms: i64,
    pub mute_time_intervals: Vec<String>,
    pub active_time_intervals: Vec<String>,
    pub routes: Vec<Route>,
    /// Alertmanager's route key: `{}` at the root, then `parent/{matchers}`.
    pub key: String,
    /// The key plus the position among siblings (`{}/{a="b"}/0`), as the API shows it.
    pub id: String,
}

/// One inhibit rule.
#[derive(Clone, Debug)]
pub struct InhibitRule {
    pub source_matchers: Vec<Matcher>,
    pub target_matchers: Vec<Matcher>,
    pub equal: Vec<String>,
}

/// One `<kind>_configs` entry of a receiver, kept raw.
#[derive(Clone, Debug)]
pub struct IntegrationEntry {
    pub kind: String,
    pub index: usize,
    pub value: Value,
    pub pos: Option<Pos>,
}

/// One receiver.
#[derive(Clone, Debug)]
pub struct Receiver {
    pub name: String,
    pub integrations: Vec<IntegrationEntry>,
}

/// A parsed, validated alertmanager.yml.
#[derive(Clone, Debug)]
pub struct AmConfig {
    pub file: String,
    pub base_dir: PathBuf,
    /// The `global:` mapping as written (integrations read their defaults from it).
    pub global: Mapping,
    pub resolve_timeout_ms: i64,
    pub route: Route,
    pub inhibit_rules: Vec<InhibitRule>,
    pub receivers: Vec<Receiver>,
    /// Template file patterns, relative ones resolved against the file's directory.
    pub templates: Vec<String>,
    pub time_intervals: BTreeMap<String, Vec<TimeInterval>>,
    /// The file's text as given (the status API's `config.original`).
    pub original: String,
}

const GLOBAL_FIELDS: &[&str] = &[
    "resolve_timeout",
    "http_config",
    "smtp_from",
    "smtp_hello",
    "smtp_smarthost",
    "smtp_auth_username",
    "smtp_auth_password",
    "smtp_auth_password_file",
    "smtp_auth_secret",
    "smtp_auth_identity",
    "smtp_require_tls",
    "slack_api_url",
    "slack_api_url_file",
    "pagerduty_url",
    "opsgenie_api_url",
    "opsgenie_api_key",
    "opsgenie_api_key_file",
    "wechat_api_url",
    "wechat_api_secret",
    "wechat_api_corp_id",
    "victorops_api_url",
    "victorops_api_key",
    "victorops_api_key_file",
    "telegram_api_url",
    "webex_api_url",
];

const ROUTE_FIELDS: &[&str] = &[
    "receiver",
    "group_by",
    "continue",
    "matchers",
    "match",
    "match_re",
    "routes",
    "group_wait",
    "group_interval",
    "repeat_interval",
    "mute_time_intervals",
    "active_time_intervals",
];

const TOP_FIELDS: &[&str] = &[
    "global",
    "route",
    "inhibit_rules",
    "receivers",
    "templates",
    "mute_time_intervals",
    "time_intervals",
];

struct Walker<'a> {
    file: &'a str,
    text: &'a str,
}

type R<T> = Result<T, ConfigError>;

impl Walker<'_> {
    fn err(&self, path: &YamlPath, message: impl Into<String>) -> ConfigError {
        ConfigError {
            file: self.file.to_string(),
            pos: locate(self.text, path),
            message: message.into(),
        }
    }

    fn mapping<'v>(
        &self,
        v: &'v Value,
        path: &YamlPath,
        allowed: &[&str],
        ty: &str,
    ) -> R<&'v Mapping> {
        let m = match v {
            Value::Mapping(m) => m,
            _ => return Err(self.err(path, format!("expected a mapping for {ty}"))),
        };
        for k in m.keys() {
            let Some(k) = k.as_str() else {
                return Err(self.err(path, format!("non-string key in {ty}")));
            };
            if !allowed.contains(&k) {
                return Err(self.err(&path.key(k), format!("field {k} not found in type {ty}")));
            }
        }
        Ok(m)
    }

    fn string(&self, v: &Value, path: &YamlPath) -> R<String> {
        match v {
            Value::String(s) => Ok(s.clone()),
            Value::Number(n) => Ok(n.to_string()),
            Value::Bool(b) => Ok(b.to_string()),
            _ => Err(self.err(path, "expected a string")),
        }
    }

    fn strings(&self, v: &Value, path: &YamlPath) -> R<Vec<String>> {
        match v {
            Value::Sequence(s) => s
                .iter()
                .enumerate()
                .map(|(i, x)| self.string(x, &path.index(i)))
                .collect(),
            Value::Null => Ok(Vec::new()),
            _ => Err(self.err(path, "expected a list of strings")),
        }
    }

    fn duration(&self, v: &Value, path: &YamlPath) -> R<i64> {
        let s = self.string(v, path)?;
        crate::model::time::parse_duration(&s)
            .map_err(|_| self.err(path, format!("not a valid duration string: {s:?}")))
    }

    fn bool(&self, v: &Value, path: &YamlPath) -> R<bool> {
        v.as_bool()
            .ok_or_else(|| self.err(path, "expected true or false"))
    }

    fn seq<'v>(&self, v: &'v Value, path: &YamlPath) -> R<&'v [Value]> {
        match v {
            Value::Sequence(s) => Ok(s),
            Value::Null => Ok(&[]),
            _ => Err(self.err(path, "expected a list")),
        }
    }

    /// `matchers: ["a=b", ...]`: each string may hold several matchers.
    fn matcher_list(&self, v: &Value, path: &YamlPath) -> R<Vec<Matcher>> {
        let mut out = Vec::new();
        for (i, s) in self.strings(v, path)?.iter().enumerate() {
            out.extend(parse_matchers(s).map_err(|e| self.err(&path.index(i), e.to_string()))?);
        }
        Ok(out)
    }

    /// The older `match: {a: b}` / `match_re: {a: re}`.
    fn legacy_matchers(&self, v: &Value, path: &YamlPath, op: MatchType) -> R<Vec<Matcher>> {
        let Value::Mapping(m) = v else {
            if v.is_null() {
                return Ok(Vec::new());
            }
            return Err(self.err(path, "expected a mapping of label names to values"));
        };
        let mut out = Vec::new();
        for (k, val) in m {
            let name = self.string(k, path)?;
            let p = path.key(&name);
            if !valid_label_name(&name) {
                return Err(self.err(&p, format!("{name:?} is not a valid label name")));
            }
            let value = self.string(val, &p)?;
            out.push(Matcher::new(&name, op, &value).map_err(|e| self.err(&p, e.to_string()))?);
        }
        Ok(out)
    }
}

impl AmConfig {
    /// Reads and validates `path`.
    pub fn load_file(path: &Path) -> Result<AmConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: path.display().to_string(),
            pos: None,
            message: e.to_string(),
        })?;
        let base = path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        Self::load_str(&text, &path.display().to_string(), &base)
    }

    /// Parses and validates `text`; `file` names it in errors, `base_dir` resolves relative
    /// template and `*_file` paths.
    pub fn load_str(text: &str, file: &str, base_dir: &Path) -> Result<AmConfig, ConfigError> {
        let w = Walker { file, text };
        let doc: Value = serde_yaml::from_str(text).map_err(|e| ConfigError {
            file: file.to_string(),
            pos: e.location().map(|l| Pos {
                line: l.line(),
                column: l.column(),
            }),
            message: e.to_string(),
        })?;
        let root = YamlPath::root();
        let empty = Mapping::new();
        let top = if doc.is_null() {
            &empty
        } else {
            w.mapping(&doc, &root, TOP_FIELDS, "config.plain")?
        };
        let get = |k: &str| top.get(k);

        let global = match get("global") {
            Some(g) if !g.is_null() => w
                .mapping(g, &root.key("global"), GLOBAL_FIELDS, "config.GlobalConfig")?
                .clone(),
            _ => Mapping::new(),
        };
        let resolve_timeout_ms = match global.get("resolve_timeout") {
            Some(v) => w.duration(v, &root.key("global").key("resolve_timeout"))?,
            None => DEFAULT_RESOLVE_TIMEOUT_MS,
        };

        // Time intervals, both spellings.
        let mut time_intervals = BTreeMap::new();
        for key in ["mute_time_intervals", "time_intervals"] {
            let Some(list) = get(key) else { continue };
            let p = root.key(key);
            for (i, item) in w.seq(list, &p)?.iter().enumerate() {
                let ip = p.index(i);
                let m = w.mapping(
                    item,
                    &ip,
                    &["name", "time_intervals"],
                    "config.TimeInterval",
                )?;
                let name = match m.get("name") {
                    Some(n) => w.string(n, &ip.key("name"))?,
                    None => return Err(w.err(&ip, "missing name in time interval")),
                };
                if name.is_empty() {
                    return Err(w.err(&ip, "missing name in time interval"));
                }
                if time_intervals.contains_key(&name) {
                    return Err(w.err(
                        &ip.key("name"),
                        format!("time interval {name:?} is not unique"),
                    ));
                }
                let mut parsed = Vec::new();
                if let Some(tis) = m.get("time_intervals") {
                    let tp = ip.key("time_intervals");
                    for (j, t) in w.seq(tis, &tp)?.iter().enumerate() {
                        parsed.push(parse_time_interval(&w, t, &tp.index(j))?);
                    }
                }
                time_intervals.insert(name, parsed);
            }
        }

        // Receivers.
        let mut receivers = Vec::new();
        let mut names = BTreeSet::new();
        if let Some(list) = get("receivers") {
            let p = root.key("receivers");
            for (i, item) in w.seq(list, &p)?.iter().enumerate() {
                let ip = p.index(i);
                let Value::Mapping(m) = item else {
                    return Err(w.err(&ip, "expected a mapping for a receiver"));
                };
                let mut name = None;
                let mut integrations = Vec::new();
                for (k, v) in m {
                    let k = w.string(k, &ip)?;
                    if k == "name" {
                        name = Some(w.string(v, &ip.key("name"))?);
                        continue;
                    }
                    let kind = k.strip_suffix("_configs").unwrap_or("");
                    if !super::notify::KNOWN_KINDS.contains(&kind) {
                        return Err(w.err(
                            &ip.key(&k),
                            format!("field {k} not found in type config.plain"),
                        ));
                    }
                    let kp = ip.key(&k);
                    for (j, e) in w.seq(v, &kp)?.iter().enumerate() {
                        integrations.push(IntegrationEntry {
                            kind: kind.to_string(),
                            index: j,
                            value: e.clone(),
                            pos: locate(text, &kp.index(j)),
                        });
                    }
                }
                let name = match name {
                    Some(n) if !n.is_empty() => n,
                    _ => return Err(w.err(&ip, "missing name in receiver")),
                };
                if !names.insert(name.clone()) {
                    return Err(w.err(
                        &ip.key("name"),
                        format!("notification config name {name:?} is not unique"),
                    ));
                }
                receivers.push(Receiver { name, integrations });
            }
        }

        // Route tree.
        let Some(route_v) = get("route") else {
            return Err(w.err(&root, "no routes provided"));
        };
        let rp = root.key("route");
        let root_defaults = Route {
            receiver: String::new(),
            group_by: GroupBy::Labels(Vec::new()),
            matchers: Vec::new(),
            continue_matching: false,
            group_wait_ms: DEFAULT_GROUP_WAIT_MS,
            group_interval_ms: DEFAULT_GROUP_INTERVAL_MS,
            repeat_interval_ms: DEFAULT_REPEAT_INTERVAL_MS,
            mute_time_intervals: Vec::new(),
            active_time_intervals: Vec::new(),
            routes: Vec::new(),
            key: String::new(),
            id: String::new(),
        };
        let route = parse_route(&w, route_v, &rp, &root_defaults, None)?;
        if route.receiver.is_empty() {
            return Err(w.err(&rp, "root route must specify a default receiver"));
        }
        if !route.matchers.is_empty() {
            return Err(w.err(&rp, "root route must not have any matchers"));
        }
        if route.continue_matching {
            return Err(w.err(&rp.key("continue"), "cannot have continue in root route"));
        }
        if !route.mute_time_intervals.is_empty() {
            return Err(w.err(
                &rp.key("mute_time_intervals"),
                "root route must not have any mute time intervals",
            ));
        }
        if !route.active_time_intervals.is_empty() {
            return Err(w.err(
                &rp.key("active_time_intervals"),
                "root route must not have any active time intervals",
            ));
        }
        check_route_refs(&w, &route, &rp, &names, &time_intervals)?;

        // Inhibit rules.
        let mut inhibit_rules = Vec::new();
        if let Some(list) = get("inhibit_rules") {
            let p = root.key("inhibit_rules");
            for (i, item) in w.seq(list, &p)?.iter().enumerate() {
                let ip = p.index(i);
                let m = w.mapping(
                    item,
                    &ip,
                    &[
                        "source_match",
                        "source_match_re",
                        "source_matchers",
                        "target_match",
                        "target_match_re",
                        "target_matchers",
                        "equal",
                    ],
                    "config.InhibitRule",
                )?;
                let mut source = Vec::new();
                let mut target = Vec::new();
                for (k, v) in m {
                    let k = w.string(k, &ip)?;
                    let kp = ip.key(&k);
                    let dst = if k.starts_with("source") {
                        &mut source
                    } else {
                        &mut target
                    };
                    match k.as_str() {
                        "source_match" | "target_match" => {
                            dst.extend(w.legacy_matchers(v, &kp, MatchType::Equal)?)
                        }
                        "source_match_re" | "target_match_re" => {
                            dst.extend(w.legacy_matchers(v, &kp, MatchType::Regexp)?)
                        }
                        "source_matchers" | "target_matchers" => {
                            dst.extend(w.matcher_list(v, &kp)?)
                        }
                        _ => {}
                    }
                }
                let equal = match m.get("equal") {
                    Some(v) => {
                        let ep = ip.key("equal");
                        let labels = w.strings(v, &ep)?;
                        for l in &labels {
                            if !valid_label_name(l) {
                                return Err(w.err(&ep, format!("invalid label name {l:?}")));
                            }
                        }
                        labels
                    }
                    None => Vec::new(),
                };
                inhibit_rules.push(InhibitRule {
                    source_matchers: source,
                    target_matchers: target,
                    equal,
                });
            }
        }

        let templates = match get("templates") {
            Some(v) => w
                .strings(v, &root.key("templates"))?
                .into_iter()
                .map(|t| {
                    if Path::new(&t).is_absolute() {
                        t
                    } else {
                        base_dir.join(&t).display().to_string()
                    }
                })
                .collect(),
            None => Vec::new(),
        };

        Ok(AmConfig {
            file: file.to_string(),
            base_dir: base_dir.to_path_buf(),
            global,
            resolve_timeout_ms,
            route,
            inhibit_rules,
            receivers,
            templates,
            time_intervals,
            original: text.to_string(),
        })
    }

    /// The embedded default ([`DEFAULT_CONFIG`]).
    pub fn default_config() -> AmConfig {
        // The embedded file is checked by a test; a failure here is a build defect.
        Self::load_str(DEFAULT_CONFIG, "<default alertmanager.yml>", Path::new("."))
            .expect("the embedded alertmanager.yml is valid")
    }

    /// The receiver named `name`.
    pub fn receiver(&self, name: &str) -> Option<&Receiver> {
        self.receivers.iter().find(|r| r.name == name)
    }
}

fn parse_time_interval(w: &Walker<'_>, v: &Value, p: &YamlPath) -> R<TimeInterval> {
    let m = w.mapping(
        v,
        p,
        &[
            "times",
            "weekdays",
            "days_of_month",
            "months",
            "years",
            "location",
        ],
        "timeinterval.TimeInterval",
    )?;
    let mut out = TimeInterval::default();
    if let Some(times) = m.get("times") {
        let tp = p.key("times");
        for (i, t) in w.seq(times, &tp)?.iter().enumerate() {
            let ip = tp.index(i);
            let tm = w.mapping(
                t,
                &ip,
                &["start_time", "end_time"],
                "timeinterval.TimeRange",
            )?;
            let get = |k: &str| -> R<u32> {
                let kp = ip.key(k);
                let s = match tm.get(k) {
                    Some(v) => w.string(v, &kp)?,
                    None => return Err(w.err(&ip, format!("{k} must be set"))),
                };
                ti::parse_time_of_day(&s).map_err(|e| w.err(&kp, e))
            };
            let (s, e) = (get("start_time")?, get("end_time")?);
            if s >= e {
                return Err(w.err(&ip, "start time cannot be equal or greater than end time"));
            }
            out.times.push((s, e));
        }
    }
    fn ranges<T>(
        w: &Walker<'_>,
        m: &Mapping,
        p: &YamlPath,
        key: &str,
        f: impl Fn(&str) -> Result<T, String>,
    ) -> R<Vec<T>> {
        let Some(v) = m.get(key) else {
            return Ok(Vec::new());
        };
        let kp = p.key(key);
        w.strings(v, &kp)?
            .iter()
            .enumerate()
            .map(|(i, s)| f(s).map_err(|e| w.err(&kp.index(i), e)))
            .collect()
    }
    out.weekdays = ranges(w, m, p, "weekdays", ti::parse_weekday_range)?;
    out.days_of_month = ranges(w, m, p, "days_of_month", ti::parse_day_of_month_range)?;
    out.months = ranges(w, m, p, "months", ti::parse_month_range)?;
    out.years = ranges(w, m, p, "years", ti::parse_year_range)?;
    if let Some(l) = m.get("location") {
        let lp = p.key("location");
        let name = w.string(l, &lp)?;
        out.location = Location::load(&name).map_err(|e| w.err(&lp, e))?;
    }
    Ok(out)
}

fn parse_route(
    w: &Walker<'_>,
    v: &Value,
    p: &YamlPath,
    parent: &Route,
    parent_key: Option<(&str, usize)>,
) -> R<Route> {
    let m = w.mapping(v, p, ROUTE_FIELDS, "config.Route")?;
    let mut r = Route {
        receiver: parent.receiver.clone(),
        group_by: parent.group_by.clone(),
        matchers: Vec::new(),
        continue_matching: false,
        group_wait_ms: parent.group_wait_ms,
        group_interval_ms: parent.group_interval_ms,
        repeat_interval_ms: parent.repeat_interval_ms,
        mute_time_intervals: Vec::new(),
        active_time_intervals: Vec::new(),
        routes: Vec::new(),
        key: String::new(),
        id: String::new(),
    };
    if let Some(x) = m.get("receiver") {
        r.receiver = w.string(x, &p.key("receiver"))?;
    }
    if let Some(x) = m.get("group_by") {
        let gp = p.key("group_by");
        let labels = w.strings(x, &gp)?;
        let mut seen = BTreeSet::new();
        for (i, l) in labels.iter().enumerate() {
            if l == "..." {
                continue;
            }
            if !valid_label_name(l) {
                return Err(w.err(&gp.index(i), format!("{l:?} is not a valid label name")));
            }
            if !seen.insert(l.clone()) {
                return Err(w.err(&gp.index(i), format!("duplicated label {l:?} in group_by")));
            }
        }
        r.group_by = if labels.iter().any(|l| l == "...") {
            if labels.len() > 1 {
                return Err(w.err(
                    &gp,
                    "cannot have wildcard group_by (`...`) and other other labels at the same time",
                ));
            }
            GroupBy::All
        } else {
            GroupBy::Labels(labels)
        };
    }
    if let Some(x) = m.get("continue") {
        r.continue_matching = w.bool(x, &p.key("continue"))?;
    }
    if let Some(x) = m.get("match") {
        r.matchers
            .extend(w.legacy_matchers(x, &p.key("match"), MatchType::Equal)?);
    }
    if let Some(x) = m.get("match_re") {
        r.matchers
            .extend(w.legacy_matchers(x, &p.key("match_re"), MatchType::Regexp)?);
    }
    if let Some(x) = m.get("matchers") {
        r.matchers.extend(w.matcher_list(x, &p.key("matchers"))?);
    }
    r.matchers.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
    if let Some(x) = m.get("group_wait") {
        r.group_wait_ms = w.duration(x, &p.key("group_wait"))?;
    }
    if let Some(x) = m.get("group_interval") {
        let gp = p.key("group_interval");
        r.group_interval_ms = w.duration(x, &gp)?;
        if r.group_interval_ms == 0 {
            return Err(w.err(&gp, "group_interval cannot be zero"));
        }
    }
    if let Some(x) = m.get("repeat_interval") {
        let rp = p.key("repeat_interval");
        r.repeat_interval_ms = w.duration(x, &rp)?;
        if r.repeat_interval_ms == 0 {
            return Err(w.err(&rp, "repeat_interval cannot be zero"));
        }
    }
    if let Some(x) = m.get("mute_time_intervals") {
        r.mute_time_intervals = w.strings(x, &p.key("mute_time_intervals"))?;
    }
    if let Some(x) = m.get("active_time_intervals") {
        r.active_time_intervals = w.strings(x, &p.key("active_time_intervals"))?;
    }
    let ms = super::matcher::matchers_string(&r.matchers);
    match parent_key {
        None => {
            r.key = ms;
            r.id = r.key.clone();
        }
        Some((pk, pos)) => {
            r.key = format!("{pk}/{ms}");
            r.id = format!("{}/{pos}", r.key);
        }
    }
    if let Some(x) = m.get("routes") {
        let cp = p.key("routes");
        for (i, c) in w.seq(x, &cp)?.iter().enumerate() {
            let child = parse_route(w, c, &cp.index(i), &r, Some((&r.key.clone(), i)))?;
            r.routes.push(child);
        }
    }
    Ok(r)
}

fn check_route_refs(
    w: &Walker<'_>,
    r: &Route,
    p: &YamlPath,
    receivers: &BTreeSet<String>,
    intervals: &BTreeMap<String, Vec<TimeInterval>>,
) -> R<()> {
    if !r.receiver.is_empty() && !receivers.contains(&r.receiver) {
        return Err(w.err(
            &p.key("receiver"),
            format!("undefined receiver {:?} used in route", r.receiver),
        ));
    }
    for (key, list) in [
        ("mute_time_intervals", &r.mute_time_intervals),
        ("active_time_intervals", &r.active_time_intervals),
    ] {
        for (i, name) in list.iter().enumerate() {
            if !intervals.contains_key(name) {
                return Err(w.err(
                    &p.key(key).index(i),
                    format!("undefined time interval {name:?} used in route"),
                ));
            }
        }
    }
    for (i, c) in r.routes.iter().enumerate() {
        check_route_refs(w, c, &p.key("routes").index(i), receivers, intervals)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<AmConfig, ConfigError> {
        AmConfig::load_str(text, "am.yml", Path::new("/etc"))
    }

    const GOOD: &str = r#"
global:
  resolve_timeout: 1m
route:
  receiver: default
  group_by: [alertname]
  group_wait: 1s
  routes:
    - matchers: ['severity="page"', team=~"db|web"]
      receiver: pager
      continue: true
      routes:
        - match: {env: prod}
          group_by: ['...']
          mute_time_intervals: [weekends]
    - match_re: {service: "^(foo1|foo2)$"}
      receiver: default
      active_time_intervals: [weekends]
receivers:
  - name: default
    webhook_configs:
      - url: http://127.0.0.1:1/
  - name: pager
time_intervals:
  - name: weekends
    time_intervals:
      - weekdays: [saturday, sunday]
inhibit_rules:
  - source_match: {severity: critical}
    target_matchers: [severity="warning"]
    equal: [alertname]
templates: [tmpl/*.tmpl]
"#;

    #[test]
    fn a_full_config_loads_with_inherited_defaults_and_route_keys() {
        let c = load(GOOD).unwrap();
        assert_eq!(c.resolve_timeout_ms, 60_000);
        assert_eq!(c.route.key, "{}");
        let pager = &c.route.routes[0];
        assert_eq!(pager.key, r#"{}/{severity="page",team=~"db|web"}"#);
        assert_eq!(pager.id, r#"{}/{severity="page",team=~"db|web"}/0"#);
        assert_eq!(pager.group_wait_ms, 1000);
        assert_eq!(pager.group_interval_ms, DEFAULT_GROUP_INTERVAL_MS);
        assert_eq!(pager.group_by, GroupBy::Labels(vec!["alertname".into()]));
        assert_eq!(pager.routes[0].group_by, GroupBy::All);
        assert_eq!(pager.routes[0].receiver, "pager");
        assert_eq!(
            c.inhibit_rules[0].source_matchers[0].to_string(),
            r#"severity="critical""#
        );
        assert_eq!(c.templates, vec!["/etc/tmpl/*.tmpl".to_string()]);
        assert_eq!(c.receivers[0].integrations[0].kind, "webhook");
        assert!(c.time_intervals.contains_key("weekends"));
    }

    #[test]
    fn the_embedded_default_loads() {
        let c = AmConfig::default_config();
        assert_eq!(c.route.receiver, "promtui");
        assert_eq!(c.inhibit_rules.len(), 1);
    }

    #[test]
    fn errors_name_the_line_and_column() {
        let e = load("route:\n  receiver: x\n  group_wait: 10x\nreceivers:\n  - name: x\n")
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "am.yml:3:3: not a valid duration string: \"10x\""
        );
        let e = load("route:\n  receiver: nope\nreceivers:\n  - name: web\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "am.yml:2:3: undefined receiver \"nope\" used in route"
        );
        let e =
            load("route:\n  receiver: web\nreceivers:\n  - name: web\n    foo: 1\n").unwrap_err();
        assert!(
            e.to_string().starts_with("am.yml:5:5: field foo_configs")
                || e.to_string().starts_with("am.yml:5:5: field foo not found"),
            "{e}"
        );
        let e = load("route: [\n").unwrap_err();
        assert!(e.pos.is_some());
    }

    #[test]
    fn amtool_check_config_rules() {
        let base = "receivers:\n  - name: a\n";
        for (route, want) in [
            (
                "route:\n  group_by: [a]\n",
                "root route must specify a default receiver",
            ),
            (
                "route:\n  receiver: a\n  match: {x: y}\n",
                "root route must not have any matchers",
            ),
            (
                "route:\n  receiver: a\n  group_by: ['...', a]\n",
                "cannot have wildcard",
            ),
            (
                "route:\n  receiver: a\n  group_by: [a, a]\n",
                "duplicated label",
            ),
            (
                "route:\n  receiver: a\n  group_interval: 0s\n",
                "group_interval cannot be zero",
            ),
            (
                "route:\n  receiver: a\n  routes:\n    - mute_time_intervals: [x]\n",
                "undefined time interval \"x\"",
            ),
            ("", "no routes provided"),
        ] {
            let e = load(&format!("{route}{base}")).unwrap_err();
            assert!(e.message.contains(want), "{route}: {e}");
        }
        let e = load("route:\n  receiver: a\nreceivers:\n  - name: a\n  - name: a\n").unwrap_err();
        assert!(e.message.contains("is not unique"));
    }
}
