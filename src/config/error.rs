//! `config::Error`: every configuration problem names the file, the line and column, and
//! what is wrong, printed as `path:line:column: message` like a compiler diagnostic.
//!
//! serde_yaml's messages are reworded where upstream Prometheus has a better-known form:
//! an unknown key becomes `field scrape_intervl not found in type config.ScrapeConfig`,
//! with a "did you mean" hint when a known field is close.

use std::fmt;
use std::path::PathBuf;

use super::locate::Pos;

/// One problem at a place in a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Where, when known.
    pub pos: Option<Pos>,
    /// What is wrong.
    pub message: String,
}

/// Configuration errors.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file could not be read.
    #[error("{}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The YAML is malformed or does not fit the configuration schema (unknown field, wrong
    /// type, bad duration, bad regex, invalid label name).
    #[error("{}", at(file, *pos, message))]
    Syntax {
        file: String,
        pos: Option<Pos>,
        message: String,
    },
    /// The configuration parses but breaks a rule (duplicate job name, timeout longer than
    /// the interval, incomplete relabel rule, ...). Every problem found is listed.
    #[error("{}", problems.iter().map(|p| at(file, p.pos, &p.message)).collect::<Vec<_>>().join("\n"))]
    Invalid {
        file: String,
        problems: Vec<Problem>,
    },
    /// A file the configuration refers to (rule file, file_sd file, credentials file) is
    /// missing or invalid.
    #[error("{}", at(file, *pos, message))]
    Referenced {
        file: String,
        pos: Option<Pos>,
        message: String,
    },
    /// A rule file the configuration refers to does not parse or validate; its own
    /// errors, each naming it and where in it.
    #[error(transparent)]
    RuleFile(#[from] crate::rules::RuleFileError),
}

impl Error {
    /// The exit status `promtui check config` uses for this error (promtool semantics:
    /// 1 for an invalid configuration).
    pub fn exit_code(&self) -> i32 {
        1
    }

    /// Position of the (first) problem, when known.
    pub fn pos(&self) -> Option<Pos> {
        match self {
            Error::Read { .. } => None,
            Error::RuleFile(crate::rules::RuleFileError::Decode { pos, .. }) => *pos,
            Error::RuleFile(crate::rules::RuleFileError::Invalid { problems, .. }) => {
                problems.iter().find_map(|p| p.pos)
            }
            Error::RuleFile(_) => None,
            Error::Syntax { pos, .. } | Error::Referenced { pos, .. } => *pos,
            Error::Invalid { problems, .. } => problems.first().and_then(|p| p.pos),
        }
    }

    /// Converts a serde_yaml error on `file` into a positioned [`Error::Syntax`].
    pub fn from_yaml(file: &str, err: &serde_yaml::Error) -> Error {
        let pos = err.location().map(|l| Pos {
            line: l.line(),
            column: l.column(),
        });
        let mut message = err.to_string();
        if let Some(l) = err.location() {
            let suffix = format!(" at line {} column {}", l.line(), l.column());
            if let Some(stripped) = message.strip_suffix(&suffix) {
                message = stripped.to_string();
            }
        }
        Error::Syntax {
            file: file.to_string(),
            pos,
            message: reword(&message),
        }
    }

    /// Converts a serde_json error on `file` (file_sd JSON) into [`Error::Referenced`].
    pub fn from_json(file: &str, err: &serde_json::Error) -> Error {
        let mut message = err.to_string();
        let suffix = format!(" at line {} column {}", err.line(), err.column());
        if let Some(stripped) = message.strip_suffix(&suffix) {
            message = stripped.to_string();
        }
        Error::Referenced {
            file: file.to_string(),
            pos: (err.line() > 0).then(|| Pos {
                line: err.line(),
                column: err.column(),
            }),
            message: reword(&message),
        }
    }
}

fn at(file: &str, pos: Option<Pos>, message: &str) -> String {
    match pos {
        Some(p) => format!("{file}:{}:{}: {message}", p.line, p.column),
        None => format!("{file}: {message}"),
    }
}

/// Upstream type name for the node a serde path points at, from its last named segment.
fn type_name(path: &str) -> &'static str {
    let last = path
        .rsplit('.')
        .next()
        .unwrap_or("")
        .split('[')
        .next()
        .unwrap_or("");
    match last {
        "" | "." => "config.Config",
        "global" => "config.GlobalConfig",
        "scrape_configs" => "config.ScrapeConfig",
        "static_configs" => "targetgroup.Group",
        "file_sd_configs" => "file.SDConfig",
        "relabel_configs"
        | "metric_relabel_configs"
        | "alert_relabel_configs"
        | "write_relabel_configs" => "relabel.Config",
        "basic_auth" => "config.BasicAuth",
        "authorization" => "config.Authorization",
        "tls_config" => "config.TLSConfig",
        "alerting" => "config.AlertingConfig",
        "alertmanagers" => "config.AlertmanagerConfig",
        "remote_write" => "config.RemoteWriteConfig",
        "queue_config" => "config.QueueConfig",
        "metadata_config" => "config.MetadataConfig",
        "remote_read" => "config.RemoteReadConfig",
        _ => "config.plain",
    }
}

/// Rewrites serde's `unknown field `x`, expected one of `a`, `b`` into upstream's wording
/// plus a suggestion; other messages pass through.
fn reword(message: &str) -> String {
    if let Some(i) = message.find("invalid type: unit value, expected struct ") {
        let name = &message[i + "invalid type: unit value, expected struct ".len()..];
        let what = match name {
            "ScrapeConfig" => "scrape config section",
            "RawRelabelConfig" => "relabeling rule",
            "RemoteWriteConfig" => "remote write config section",
            "RemoteReadConfig" => "remote read config section",
            "AlertmanagerConfig" => "Alertmanager config section",
            "StaticConfig" => "static config section",
            "FileSdConfig" => "file_sd config section",
            _ => "section",
        };
        return format!("{}empty or null {what}", &message[..i]);
    }
    let (path, body) = match message.split_once(": unknown field `") {
        Some((p, b)) => (p, b),
        None => match message.strip_prefix("unknown field `") {
            Some(b) => ("", b),
            None => return message.to_string(),
        },
    };
    let Some((field, expected)) = body.split_once('`') else {
        return message.to_string();
    };
    let known: Vec<&str> = expected
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|k| !k.is_empty())
        .collect();
    // serde_yaml prints a path below a root sequence as `.[0]`.
    let path = path
        .strip_prefix('.')
        .filter(|p| p.starts_with('['))
        .unwrap_or(path);
    let mut out = String::new();
    if !path.is_empty() {
        out.push_str(path);
        out.push_str(": ");
    }
    out.push_str(&format!(
        "field {field} not found in type {}",
        type_name(path)
    ));
    if let Some(best) = closest(field, &known) {
        out.push_str(&format!("; did you mean {best}?"));
    }
    out
}

/// The known field nearest to `field` by edit distance, if it is plausibly a typo.
fn closest<'a>(field: &str, known: &[&'a str]) -> Option<&'a str> {
    let limit = (field.len() / 3).clamp(1, 3);
    known
        .iter()
        .map(|k| (edit_distance(field, k), *k))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.pos {
            Some(p) => write!(f, "{}:{}: {}", p.line, p.column, self.message),
            None => f.write_str(&self.message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_field_is_reworded_with_suggestion() {
        let m = reword("scrape_configs[0]: unknown field `scrape_intervl`, expected one of `job_name`, `scrape_interval`, `scrape_timeout`");
        assert_eq!(m, "scrape_configs[0]: field scrape_intervl not found in type config.ScrapeConfig; did you mean scrape_interval?");
        let m = reword("unknown field `not-prometheus`, expected one of `global`, `rule_files`");
        assert_eq!(m, "field not-prometheus not found in type config.Config");
        let m = reword("scrape_configs[0].relabel_configs[1]: unknown field `regexp`, expected one of `regex`, `action`");
        assert!(
            m.ends_with("not found in type relabel.Config; did you mean regex?"),
            "{m}"
        );
        assert_eq!(
            reword("missing field `job_name`"),
            "missing field `job_name`"
        );
    }

    #[test]
    fn errors_print_file_line_column() {
        let e = Error::Invalid {
            file: "p.yml".into(),
            problems: vec![
                Problem {
                    pos: Some(Pos { line: 3, column: 5 }),
                    message: "a".into(),
                },
                Problem {
                    pos: None,
                    message: "b".into(),
                },
            ],
        };
        assert_eq!(e.to_string(), "p.yml:3:5: a\np.yml: b");
        assert_eq!(e.exit_code(), 1);
        assert_eq!(e.pos(), Some(Pos { line: 3, column: 5 }));
    }

    #[test]
    fn edit_distance_basics() {
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "ab"), 2);
        assert_eq!(closest("scheme", &["schema", "params"]), Some("schema"));
        assert_eq!(closest("zzzzzz", &["schema"]), None);
    }
}
