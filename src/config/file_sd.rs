//! File-based service discovery: the `file_sd_configs` block and the target group files it
//! points at (JSON or YAML lists of `{targets: [...], labels: {...}}`).
//!
//! Mirrors upstream `discovery/file/file.go` and `discovery/targetgroup/targetgroup.go`:
//! the file name pattern rule, the `refresh_interval` default (5m), strict target group
//! fields, the `__meta_filepath` label and `path:index` group sources. Watching the files is
//! the scrape subsystem's job; this module lists and parses them.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use regex::Regex;
use serde::Deserialize;

use super::error::Error;
use super::units::{Duration, LabelSet};
use crate::model::labels::{Label, Labels};

/// Label carrying the path of the file a target group came from.
const FILEPATH_LABEL: &str = "__meta_filepath";

fn default_refresh() -> Duration {
    Duration::from_secs(300)
}

/// One `file_sd_configs` entry.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct FileSdConfig {
    /// File name patterns; `*` is allowed in the last path element only, and the name must
    /// end in `.json`, `.yml` or `.yaml`.
    #[serde(default)]
    pub files: Vec<String>,
    /// How often to re-read the files besides watching them (default 5m).
    #[serde(default = "default_refresh")]
    pub refresh_interval: Duration,
}

/// Upstream's `patFileSDName`.
fn file_sd_name_ok(name: &str) -> bool {
    static RE: OnceLock<Option<Regex>> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"^[^*]*(\*[^/]*)?\.(json|yml|yaml|JSON|YML|YAML)$").ok())
        .as_ref()
        .is_some_and(|re| re.is_match(name))
}

impl FileSdConfig {
    /// Upstream's checks: at least one file, each a valid pattern. Returns the message and
    /// the index of the offending file.
    pub fn validate(&self) -> Result<(), (Option<usize>, String)> {
        if self.files.is_empty() {
            return Err((
                None,
                "file service discovery config must contain at least one path name".to_string(),
            ));
        }
        for (i, f) in self.files.iter().enumerate() {
            if !file_sd_name_ok(f) {
                return Err((
                    Some(i),
                    format!("path name {f:?} is not valid for file discovery"),
                ));
            }
        }
        Ok(())
    }

    /// The files the patterns match right now, sorted, without duplicates.
    pub fn matching_files(&self) -> Result<Vec<PathBuf>, Error> {
        let mut out = Vec::new();
        for pattern in &self.files {
            out.extend(glob_files(pattern)?);
        }
        out.sort();
        out.dedup();
        Ok(out)
    }
}

/// Expands a shell-style pattern like Go's `filepath.Glob`; a pattern without
/// metacharacters yields the path if it exists.
pub fn glob_files(pattern: &str) -> Result<Vec<PathBuf>, Error> {
    let paths = glob::glob(pattern).map_err(|e| Error::Referenced {
        file: pattern.to_string(),
        pos: None,
        message: format!("invalid file pattern: {e}"),
    })?;
    Ok(paths.filter_map(Result::ok).collect())
}

/// A group of targets sharing labels, as discovery hands it to the scrape manager.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TargetGroup {
    /// Where the group came from (`file.json:0`, or the index of a static config).
    pub source: String,
    /// One label set per target, each with `__address__`.
    pub targets: Vec<Labels>,
    /// Labels shared by all targets.
    pub labels: Labels,
}

impl fmt::Display for TargetGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({} targets)", self.source, self.targets.len())
    }
}

/// The on-disk shape of one target group.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGroup {
    #[serde(default)]
    targets: Vec<String>,
    #[serde(default)]
    labels: LabelSet,
}

/// Parses a target group file (JSON for `.json`, YAML for `.yml`/`.yaml`, by extension
/// like upstream). Every group gets `__meta_filepath` = `path` and source `path:index`.
pub fn parse_target_groups(path: &Path, bytes: &[u8]) -> Result<Vec<TargetGroup>, Error> {
    let file = path.display().to_string();
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    let raw: Vec<Option<RawGroup>> = match ext.as_deref() {
        Some("json") => serde_json::from_slice(bytes).map_err(|e| Error::from_json(&file, &e))?,
        Some("yml") | Some("yaml") => {
            let parsed: Option<Vec<Option<RawGroup>>> = serde_yaml::from_slice(bytes)
                .map_err(|e| referenced(Error::from_yaml(&file, &e)))?;
            parsed.unwrap_or_default()
        }
        _ => return Err(Error::Referenced {
            file,
            pos: None,
            message:
                "retrieving target groups: unsupported file extension (want .json, .yml or .yaml)"
                    .to_string(),
        }),
    };
    raw.into_iter()
        .enumerate()
        .map(|(i, g)| {
            let g = g.ok_or_else(|| Error::Referenced {
                file: file.clone(),
                pos: None,
                message: "nil target group item found".to_string(),
            })?;
            let mut labels: Vec<Label> = g
                .labels
                .0
                .into_iter()
                .map(|(k, v)| Label::new(k, v))
                .collect();
            labels.push(Label::new(FILEPATH_LABEL, file.as_str()));
            Ok(TargetGroup {
                source: format!("{file}:{i}"),
                targets: g
                    .targets
                    .into_iter()
                    .map(|t| Labels::new(vec![Label::new("__address__", t)]))
                    .collect(),
                labels: Labels::new(labels),
            })
        })
        .collect()
}

/// Target group files are referenced files: report their syntax errors as such.
fn referenced(e: Error) -> Error {
    match e {
        Error::Syntax { file, pos, message } => Error::Referenced {
            file,
            pos,
            message: message.replace("type config.Config", "type targetgroup.Group"),
        },
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_groups_get_filepath_and_source() {
        let body = br#"[{"targets": ["a:1", "b:2"], "labels": {"env": "prod"}}, {"targets": []}]"#;
        let groups = parse_target_groups(Path::new("/sd/t.json"), body).unwrap();
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[0].source, "/sd/t.json:0");
        assert_eq!(groups[1].source, "/sd/t.json:1");
        assert_eq!(groups[0].targets[1].get("__address__"), Some("b:2"));
        assert_eq!(
            groups[0].labels,
            Labels::from_pairs(&[("__meta_filepath", "/sd/t.json"), ("env", "prod")])
        );
        assert_eq!(groups[1].labels.get(FILEPATH_LABEL), Some("/sd/t.json"));
    }

    #[test]
    fn yaml_groups_parse_strictly() {
        let body = b"- targets: ['x:9100']\n  labels:\n    job: node\n";
        let g = parse_target_groups(Path::new("t.yml"), body).unwrap();
        assert_eq!(g[0].labels.get("job"), Some("node"));
        assert!(parse_target_groups(Path::new("t.yaml"), b"")
            .unwrap()
            .is_empty());

        let err = parse_target_groups(Path::new("t.yml"), b"- targets: [a]\n  lables: {}\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("t.yml:2:3: [0]: field lables not found in type targetgroup.Group; did you mean labels?"),
            "{err}"
        );
        let err = parse_target_groups(Path::new("t.yml"), b"- labels: {'a-b': x}\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("\"a-b\" is not a valid label name"), "{err}");
    }

    #[test]
    fn json_errors_have_positions() {
        let err = parse_target_groups(Path::new("t.json"), b"[{\"targets\": [\"a\"],\n \"x\": 1}]")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("t.json:2:"), "{err}");
        assert!(
            err.contains("unknown field `x`") || err.contains("field x not found"),
            "{err}"
        );
        let err = parse_target_groups(Path::new("t.json"), b"[null]")
            .unwrap_err()
            .to_string();
        assert_eq!(err, "t.json: nil target group item found");
        let err = parse_target_groups(Path::new("t.txt"), b"[]")
            .unwrap_err()
            .to_string();
        assert!(err.contains("unsupported file extension"), "{err}");
    }

    #[test]
    fn file_name_patterns_follow_upstream() {
        for (name, ok) in [
            ("targets/*.json", true),
            ("/etc/sd/hosts.yml", true),
            ("foo*/bar.json", false),
            ("a.txt", false),
            ("*.YAML", true),
        ] {
            assert_eq!(file_sd_name_ok(name), ok, "{name}");
        }
        let c = FileSdConfig {
            files: vec![],
            refresh_interval: default_refresh(),
        };
        assert!(c
            .validate()
            .unwrap_err()
            .1
            .contains("at least one path name"));
    }
}
