//! prometheus.yml-compatible configuration: loading, defaults and validation.
//!
//! Mirrors upstream `config/config.go` (Prometheus 3.x): the same keys, the same defaults
//! (a scrape job inherits `global.scrape_interval`/`scrape_timeout`; `metrics_path`
//! `/metrics`; relabel `regex: (.*)`, `separator: ;`, `replacement: $1`, `action:
//! replace`), the same validation messages. Differences that matter to an operator:
//!
//! - Parsing is strict and positioned: every error reads `file:line:column: message`
//!   (`prometheus.yml:7:5: scrape_configs[0]: field scrape_intervl not found in type
//!   config.ScrapeConfig; did you mean scrape_interval?`), and semantic validation reports
//!   every problem, not just the first.
//! - Keys Prometheus knows but promtui does not act on (Kubernetes and other service
//!   discoveries, OAuth2, native-histogram switches, `query_log_file`, ...) are accepted,
//!   logged with `tracing::warn!` and listed in [`Config::warnings`]. So is the whole
//!   `storage` section, which promtui does not act on.
//! - Label names must be legacy identifiers (`[a-zA-Z_][a-zA-Z0-9_]*`), as in promtool 2.x.
//!
//! `promtui check config` uses [`check_config`]; the engine uses [`Config::load_file`], or
//! [`DEFAULT_CONFIG`] when no configuration exists.

mod check;
mod error;
pub(crate) mod file_sd;
pub(crate) mod locate;
mod types;
pub(crate) mod units;
mod validate;

use std::fmt;
use std::path::{Path, PathBuf};

pub use check::{
    check_config, check_config_with, exit_code, CheckOptions, CheckReport, RuleFileReport,
    SdFileReport,
};
pub use error::{Error, Problem};
pub use file_sd::{parse_target_groups, FileSdConfig, TargetGroup};
pub use locate::Pos;
pub use types::{
    AlertingConfig, AlertmanagerConfig, Authorization, BasicAuth, Config, GlobalConfig,
    HttpClientConfig, MetadataConfig, QueueConfig, RemoteReadConfig, RemoteWriteConfig,
    ScrapeConfig, StaticConfig, TlsConfig, TlsVersion,
};
pub use units::{ByteSize, Duration, LabelSet, Secret};
pub use validate::{DEFAULT_EVALUATION_INTERVAL, DEFAULT_SCRAPE_INTERVAL, DEFAULT_SCRAPE_TIMEOUT};

use locate::{locate, YamlPath};

/// The configuration `promtui` runs with when none is given: scrapes its own `/metrics`
/// (127.0.0.1:9090) every 15s. It names no rule files and no Pushgateway until this build
/// evaluates rules and serves pushes; [`DEFAULT_RULES`] are the example rules it will use.
pub const DEFAULT_CONFIG: &str = include_str!("../../sample-configs/promtui.yml");

/// Rule files the default configuration refers to, as (path relative to the config file,
/// contents), so the engine can write them next to a materialised default config.
pub const DEFAULT_RULES: &[(&str, &str)] = &[(
    "rules/promtui.rules.yml",
    include_str!("../../sample-configs/rules/promtui.rules.yml"),
)];

/// A non-fatal finding while loading.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// Where, when known.
    pub pos: Option<Pos>,
    /// What.
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.pos {
            Some(p) => write!(f, "{}:{}: {}", p.line, p.column, self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// Upstream `config.JoinDir`: a relative, non-empty path is joined with `dir`.
pub(crate) fn join_dir(dir: &Path, path: &mut Option<String>) {
    if let Some(p) = path.as_mut() {
        if !p.is_empty() && Path::new(p.as_str()).is_relative() {
            *p = dir.join(p.as_str()).to_string_lossy().into_owned();
        }
    }
}

impl Config {
    /// Parses and validates configuration text. `origin` names it in errors (a file name,
    /// or e.g. `<default>`). Relative paths stay relative; see [`Config::set_directory`].
    pub fn load_str(text: &str, origin: &str) -> Result<Config, Error> {
        let parsed: Option<Config> =
            serde_yaml::from_str(text).map_err(|e| Error::from_yaml(origin, &e))?;
        let mut cfg = match parsed {
            Some(c) => c,
            // An empty document is the all-defaults configuration, as upstream.
            None => serde_yaml::from_str("{}").map_err(|e| Error::from_yaml(origin, &e))?,
        };
        cfg.origin = origin.to_string();

        let problems = validate::validate_and_resolve(&mut cfg);
        if !problems.0.is_empty() {
            return Err(Error::Invalid {
                file: origin.to_string(),
                problems: problems
                    .0
                    .into_iter()
                    .map(|(path, message)| Problem {
                        pos: locate(text, &path),
                        message: if path.0.is_empty() {
                            message
                        } else {
                            format!("{path}: {message}")
                        },
                    })
                    .collect(),
            });
        }

        cfg.expand_external_labels(text);
        cfg.collect_ignored(text);
        for w in &cfg.warnings {
            tracing::warn!(config = %origin, "{w}");
        }
        Ok(cfg)
    }

    /// Reads, parses and validates a configuration file; relative paths in it (rule files,
    /// file_sd files, credential and certificate files) resolve against its directory.
    pub fn load_file(path: &Path) -> Result<Config, Error> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let mut cfg = Config::load_str(&text, &path.display().to_string())?;
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        cfg.set_directory(&dir);
        // As Prometheus, a configuration whose rule files do not load is not applied.
        cfg.load_rule_files_located(Some(&text))?;
        Ok(cfg)
    }

    /// Loads every rule file `rule_files` refers to (globs expanded, relative to the
    /// configuration's directory once [`Config::set_directory`] ran), parsed and validated.
    /// A pattern without `*` that matches no file is an error, as in `promtool check
    /// config`; so is any invalid rule file. A glob matching nothing is fine.
    pub fn load_rule_files(&self) -> Result<Vec<(PathBuf, crate::rules::RuleFile)>, Error> {
        self.load_rule_files_located(None)
    }

    /// [`Config::load_rule_files`], positioning a missing file's error in `text` (the
    /// configuration's source) when given.
    fn load_rule_files_located(
        &self,
        text: Option<&str>,
    ) -> Result<Vec<(PathBuf, crate::rules::RuleFile)>, Error> {
        let mut out: Vec<(PathBuf, crate::rules::RuleFile)> = Vec::new();
        for (i, pattern) in self.rule_files.iter().enumerate() {
            let mut found = file_sd::glob_files(pattern)?;
            if found.is_empty() && !pattern.contains('*') {
                let path = YamlPath::root().key("rule_files").index(i);
                return Err(Error::Referenced {
                    file: self.origin.clone(),
                    pos: text.and_then(|t| locate(t, &path)),
                    message: format!("{path}: {pattern:?} does not point to an existing file"),
                });
            }
            found.sort();
            for f in found {
                if out.iter().any(|(p, _)| *p == f) {
                    continue;
                }
                let rules = crate::rules::parse_rule_file(&f)?;
                out.push((f, rules));
            }
        }
        Ok(out)
    }

    /// The configuration as YAML, rendered from these values (defaults filled in, keys
    /// promtui ignores left out, secrets as `<secret>`), as Prometheus'
    /// `/api/v1/status/config` shows the configuration it applied. Empty values are
    /// omitted, as upstream's `omitempty` does.
    pub fn render(&self) -> String {
        fn prune(v: &mut serde_yaml::Value) -> bool {
            match v {
                serde_yaml::Value::Null => false,
                serde_yaml::Value::Sequence(s) => {
                    s.retain_mut(prune);
                    !s.is_empty()
                }
                serde_yaml::Value::Mapping(m) => {
                    let keys: Vec<serde_yaml::Value> = m.keys().cloned().collect();
                    for k in keys {
                        if let Some(x) = m.get_mut(&k) {
                            if !prune(x) {
                                m.remove(&k);
                            }
                        }
                    }
                    !m.is_empty()
                }
                serde_yaml::Value::String(s) => !s.is_empty(),
                _ => true,
            }
        }
        match serde_yaml::to_value(self) {
            Ok(mut v) => {
                prune(&mut v);
                serde_yaml::to_string(&v).unwrap_or_default()
            }
            // Serializing plain data does not fail; say so rather than show nothing.
            Err(e) => format!("# cannot render the configuration: {e}\n"),
        }
    }

    /// The embedded default configuration ([`DEFAULT_CONFIG`]).
    pub fn default_config() -> Result<Config, Error> {
        Config::load_str(DEFAULT_CONFIG, "<default promtui.yml>")
    }

    /// Joins every relative path in the configuration with `dir` (upstream
    /// `Config.SetDirectory`).
    pub fn set_directory(&mut self, dir: &Path) {
        if dir.as_os_str().is_empty() {
            return;
        }
        for rf in &mut self.rule_files {
            let mut o = Some(std::mem::take(rf));
            join_dir(dir, &mut o);
            *rf = o.unwrap_or_default();
        }
        let join_sd = |sds: &mut Vec<FileSdConfig>| {
            for sd in sds {
                for f in &mut sd.files {
                    let mut o = Some(std::mem::take(f));
                    join_dir(dir, &mut o);
                    *f = o.unwrap_or_default();
                }
            }
        };
        for sc in &mut self.scrape_configs {
            sc.set_http_directory(dir);
            join_sd(&mut sc.file_sd_configs);
        }
        for am in &mut self.alerting.alertmanagers {
            am.set_http_directory(dir);
            join_sd(&mut am.file_sd_configs);
        }
        for rw in &mut self.remote_write {
            rw.set_http_directory(dir);
        }
        for rr in &mut self.remote_read {
            rr.set_http_directory(dir);
        }
    }

    /// The scrape job called `job_name`.
    pub fn scrape_config(&self, job_name: &str) -> Option<&ScrapeConfig> {
        self.scrape_configs.iter().find(|s| s.job_name == job_name)
    }

    /// Rule files matched by the `rule_files` globs right now, in order, without
    /// duplicates.
    pub fn rule_file_paths(&self) -> Result<Vec<PathBuf>, Error> {
        let mut out: Vec<PathBuf> = Vec::new();
        for pattern in &self.rule_files {
            let mut found = file_sd::glob_files(pattern)?;
            found.sort();
            for f in found {
                if !out.contains(&f) {
                    out.push(f);
                }
            }
        }
        Ok(out)
    }

    /// Expands `$VAR`/`${VAR}` in external label values from the environment (`$$` is a
    /// literal `$`), as upstream's `Load` does; an unset variable becomes empty, with a
    /// warning.
    fn expand_external_labels(&mut self, text: &str) {
        let path = YamlPath::root().key("global").key("external_labels");
        let mut warnings = Vec::new();
        for (name, value) in self.global.external_labels.0.iter_mut() {
            if !value.contains('$') {
                continue;
            }
            let expanded = expand_env(value, |var| {
                let v = std::env::var(var).unwrap_or_default();
                if v.is_empty() {
                    warnings.push(Warning {
                        pos: locate(text, &path.key(name)),
                        message: format!(
                            "external label {name:?}: empty environment variable {var:?}"
                        ),
                    });
                }
                v
            });
            *value = expanded;
        }
        self.warnings.extend(warnings);
    }

    /// Records every key accepted for compatibility but ignored.
    fn collect_ignored(&mut self, text: &str) {
        let root = YamlPath::root();
        let mut found: Vec<YamlPath> = Vec::new();
        let mut add = |p: &YamlPath, fields: Vec<&'static str>| {
            found.extend(fields.into_iter().map(|f| p.key(f)));
        };
        add(&root, self.ignored_fields());
        add(&root.key("global"), self.global.ignored_fields());
        for (i, sc) in self.scrape_configs.iter().enumerate() {
            add(&root.key("scrape_configs").index(i), sc.ignored_fields());
        }
        for (i, am) in self.alerting.alertmanagers.iter().enumerate() {
            add(
                &root.key("alerting").key("alertmanagers").index(i),
                am.ignored_fields(),
            );
        }
        for (i, rw) in self.remote_write.iter().enumerate() {
            add(&root.key("remote_write").index(i), rw.ignored_fields());
        }
        for (i, rr) in self.remote_read.iter().enumerate() {
            add(&root.key("remote_read").index(i), rr.ignored_fields());
        }
        // (`storage`, a whole section promtui does not act on, is in `ignored_fields`.)
        for p in found {
            self.warnings.push(Warning {
                pos: locate(text, &p),
                message: format!("{p}: accepted for compatibility but ignored by promtui"),
            });
        }
    }
}

/// Go's `os.Expand` over `s` with `lookup`: `${name}`, `$name` (letters, digits, `_`),
/// `$$` → `$`; a `$` not followed by a name stays, as in Go.
fn expand_env(s: &str, mut lookup: impl FnMut(&str) -> String) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(r) = after.strip_prefix('$') {
            out.push('$');
            rest = r;
        } else if let Some(body) = after.strip_prefix('{') {
            match body.find('}') {
                Some(end) if end > 0 => {
                    out.push_str(&lookup(&body[..end]));
                    rest = &body[end + 1..];
                }
                // `${}` is eaten whole; an unclosed `${` loses just those two characters.
                Some(end) => rest = &body[end + 1..],
                None => rest = body,
            }
        } else {
            let end = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            if end == 0 {
                out.push('$');
                rest = after;
            } else {
                out.push_str(&lookup(&after[..end]));
                rest = &after[end..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_config_loads_and_scrapes_itself() {
        let c = Config::default_config().unwrap();
        assert_eq!(c.global.scrape_interval.to_string(), "15s");
        let promtui = c.scrape_config("promtui").unwrap();
        assert_eq!(promtui.static_configs[0].targets, vec!["127.0.0.1:9090"]);
        // Itself and the built-in Pushgateway (honor_labels); no rule files that are not
        // evaluated.
        assert_eq!(c.scrape_configs.len(), 2);
        let pg = c.scrape_config("pushgateway").unwrap();
        assert!(pg.honor_labels);
        assert_eq!(pg.static_configs[0].targets, vec!["127.0.0.1:9091"]);
        assert!(c.rule_files.is_empty());
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
        assert_eq!(DEFAULT_RULES[0].0, "rules/promtui.rules.yml");
        assert!(DEFAULT_RULES[0].1.contains("groups:"));
    }

    #[test]
    fn sections_not_acted_on_are_warnings() {
        let c = Config::load_str(
            "remote_read:\n  - url: http://r/\nrule_files: []\nalerting:\n  alertmanagers:\n    - static_configs: [{targets: ['a:9093']}]\nremote_write:\n  - url: http://w/\n",
            "p.yml",
        )
        .unwrap();
        // remote_write and remote_read are acted on (src/remote): no warning.
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
        // Empty sections say nothing.
        let c =
            Config::load_str("rule_files: []\nalerting: {}\nremote_write: []\n", "p.yml").unwrap();
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    }

    #[test]
    fn load_file_refuses_missing_and_invalid_rule_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.yml");
        std::fs::write(
            &path,
            "scrape_configs: []\nrule_files:\n  - 'r/*.yml'\n  - missing.yml\n",
        )
        .unwrap();
        let e = Config::load_file(&path).unwrap_err().to_string();
        assert!(
            e.contains("p.yml:4:5: rule_files[1]: \"")
                && e.ends_with("/missing.yml\" does not point to an existing file"),
            "{e}"
        );
        std::fs::write(&path, "rule_files: ['r/*.yml']\n").unwrap();
        assert!(
            Config::load_file(&path).is_ok(),
            "a glob matching nothing is fine"
        );
        std::fs::create_dir_all(dir.path().join("r")).unwrap();
        std::fs::write(
            dir.path().join("r/bad.yml"),
            "groups:\n  - name: g\n    rules:\n      - record: x\n        expr: 'up +'\n",
        )
        .unwrap();
        let e = Config::load_file(&path).unwrap_err();
        assert!(matches!(e, Error::RuleFile(_)), "{e:?}");
        assert!(
            e.to_string().ends_with("r/bad.yml: 5:15: group \"g\", rule 1, \"x\": could not parse expression: 1:5: parse error: unexpected end of input"),
            "{e}"
        );
        assert_eq!(e.pos().map(|p| (p.line, p.column)), Some((5, 15)));
        std::fs::write(
            dir.path().join("r/bad.yml"),
            "groups:\n  - name: g\n    rules:\n      - record: x\n        expr: up\n",
        )
        .unwrap();
        let c = Config::load_file(&path).unwrap();
        let rules = c.load_rule_files().unwrap();
        assert_eq!(rules.len(), 1);
        assert_eq!(rules[0].1.num_rules(), 1);
    }

    #[test]
    fn ignored_upstream_fields_are_warnings_with_positions() {
        let c = Config::load_str(
            "global:\n  query_log_file: q.log\nscrape_configs:\n  - job_name: k\n    kubernetes_sd_configs:\n      - role: pod\n    oauth2: {client_id: x}\nstorage:\n  tsdb: {}\n",
            "p.yml",
        )
        .unwrap();
        let w: Vec<String> = c.warnings.iter().map(|w| w.to_string()).collect();
        assert_eq!(
            w,
            vec![
                "8:1: storage: accepted for compatibility but ignored by promtui",
                "2:3: global.query_log_file: accepted for compatibility but ignored by promtui",
                "5:5: scrape_configs[0].kubernetes_sd_configs: accepted for compatibility but ignored by promtui",
                "7:5: scrape_configs[0].oauth2: accepted for compatibility but ignored by promtui",
            ]
        );
    }

    #[test]
    fn external_labels_expand_environment() {
        std::env::set_var("PROMTUI_CONFIG_TEST_REGION", "eu-1");
        let c = Config::load_str(
            "global:\n  external_labels:\n    region: ${PROMTUI_CONFIG_TEST_REGION}\n    cost: $$5\n    gone: $PROMTUI_CONFIG_TEST_UNSET_VAR\n",
            "p.yml",
        )
        .unwrap();
        let el = &c.global.external_labels;
        assert_eq!(el.get("region"), Some("eu-1"));
        assert_eq!(el.get("cost"), Some("$5"));
        assert_eq!(el.get("gone"), Some(""));
        assert!(!el.to_labels().iter().any(|l| l.name == "gone"));
        assert_eq!(c.warnings.len(), 1);
        assert!(c.warnings[0]
            .to_string()
            .starts_with("5:5: external label \"gone\""));
    }

    #[test]
    fn expand_env_follows_go() {
        let env = |v: &str| {
            if v == "A" {
                "x".to_string()
            } else {
                String::new()
            }
        };
        assert_eq!(expand_env("a${A}b$A-$$ $ ${}c${A", env), "axbx-$ $ cA");
        assert_eq!(expand_env("no dollars", env), "no dollars");
    }

    #[test]
    fn load_file_resolves_relative_paths() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("prometheus.yml");
        let abs = dir.path().join("abs/r.yml");
        std::fs::create_dir_all(abs.parent().unwrap()).unwrap();
        std::fs::write(&abs, "groups: []\n").unwrap();
        std::fs::write(
            &path,
            format!("rule_files: ['rules/*.yml', '{}']\nscrape_configs:", abs.display())
                + "\n  - job_name: a\n    bearer_token_file: tok\n    tls_config: {ca_file: ca.pem}\n    file_sd_configs:\n      - files: [sd/*.json]\n  - job_name: b\n    basic_auth: {username: u, password_file: /etc/pw}\n",
        )
        .unwrap();
        let c = Config::load_file(&path).unwrap();
        let d = dir.path().to_string_lossy().into_owned();
        assert_eq!(
            c.rule_files,
            vec![format!("{d}/rules/*.yml"), abs.display().to_string()]
        );
        let sc = &c.scrape_configs[0];
        assert_eq!(sc.bearer_token_file, Some(format!("{d}/tok")));
        assert_eq!(sc.tls_config.ca_file, Some(format!("{d}/ca.pem")));
        let b = &c.scrape_configs[1];
        assert_eq!(
            b.basic_auth.as_ref().unwrap().password_file.as_deref(),
            Some("/etc/pw")
        );
        assert_eq!(sc.file_sd_configs[0].files, vec![format!("{d}/sd/*.json")]);
        let missing = Config::load_file(&dir.path().join("nope.yml")).unwrap_err();
        assert!(matches!(missing, Error::Read { .. }));
        assert!(missing.to_string().contains("nope.yml"));
    }

    proptest::proptest! {
        /// Arbitrary edits of real configurations never panic the loader, and every
        /// rejection carries a position.
        #[test]
        fn mutated_configs_never_panic(
            seed in 0usize..4,
            at in 0usize..2000,
            cut in 0usize..8,
            insert in "[ :\\-\\[\\]{}'\"\n#a-z0-9$*|>&!%@,.]{0,6}",
        ) {
            let bases = [
                DEFAULT_CONFIG,
                include_str!("../../sample-configs/relabeling.yml"),
                include_str!("../../sample-configs/file_sd.yml"),
                include_str!("../../sample-configs/node_exporter.yml"),
            ];
            let chars: Vec<char> = bases[seed].chars().collect();
            let at = at % (chars.len() + 1);
            let end = (at + cut).min(chars.len());
            let text: String = chars[..at]
                .iter()
                .chain(insert.chars().collect::<Vec<_>>().iter())
                .chain(chars[end..].iter())
                .collect();
            if let Err(e) = Config::load_str(&text, "m.yml") {
                let msg = e.to_string();
                proptest::prop_assert!(msg.starts_with("m.yml"), "{}", msg);
            }
        }

        /// Arbitrary text never panics the loader.
        #[test]
        fn arbitrary_text_never_panics(text in "\\PC{0,300}") {
            let _ = Config::load_str(&text, "a.yml");
        }
    }

    #[test]
    fn more_than_one_document_is_an_error() {
        let e = Config::load_str("global: {}\n---\nglobal: {}\n", "p.yml").unwrap_err();
        assert!(e.to_string().starts_with("p.yml: "), "{e}");
        assert!(e.to_string().contains("more than one document"), "{e}");
    }
}
