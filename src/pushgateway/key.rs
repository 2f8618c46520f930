//! Grouping keys: the label set named by a push URL,
//! `/metrics/job/<job>{/<label>/<value>}`, with `@base64` after `job` or a label name
//! marking a URL-safe base64 value (padding optional, so `@base64/=` is the empty value
//! and a value may contain `/`).
//!
//! Mirrors Pushgateway 1.5's `handler/push.go` (`splitLabels`, `decodeBase64`): the path
//! is percent-decoded first (Go routes on the decoded path, so `%2F` splits like `/`),
//! label names must be valid and not reserved (`__` prefix), and an odd number of
//! components after the job is an error. A `+` stays a `+`.

use std::fmt;

use base64::Engine as _;

use crate::model::labels::is_valid_legacy_label_name;

/// Marks a base64-encoded job name or label value in a push URL.
const BASE64_SUFFIX: &str = "@base64";

/// The label set that names a group: `job` plus any further labels from the URL, sorted
/// by name. Values may be empty.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GroupingKey {
    labels: Vec<(String, String)>,
}

/// Why a push URL does not name a group. The messages are Pushgateway's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("job name is required")]
    MissingJob,
    #[error("invalid base64 encoding in job name {job:?}: {reason}")]
    JobBase64 { job: String, reason: String },
    #[error("odd number of components in label string {0:?}")]
    OddComponents(String),
    #[error("improper label name {0:?}")]
    ImproperLabelName(String),
    #[error("invalid base64 encoding for label {name}={value:?}: {reason}")]
    LabelBase64 {
        name: String,
        value: String,
        reason: String,
    },
    #[error("label {0:?} is given twice in the URL")]
    DuplicateLabel(String),
    #[error("the URL path is not valid UTF-8 after percent-decoding")]
    Utf8,
}

/// Decodes URL-safe base64 as Go's `base64.RawURLEncoding` after trimming `=` padding.
fn decode_base64(s: &str) -> Result<String, String> {
    let engine = base64::engine::GeneralPurpose::new(
        &base64::alphabet::URL_SAFE,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_allow_trailing_bits(true)
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::RequireNone),
    );
    let bytes = engine
        .decode(s.trim_end_matches('='))
        .map_err(|e| e.to_string())?;
    String::from_utf8(bytes).map_err(|_| "decoded value is not UTF-8".to_string())
}

impl GroupingKey {
    /// Builds a key from label pairs (must include `job`); sorts them by name.
    pub fn new(mut labels: Vec<(String, String)>) -> Self {
        labels.sort();
        GroupingKey { labels }
    }

    /// Parses the path after `/metrics/`: `job/<job>{/<l>/<v>}` or
    /// `job@base64/<b64>{/<l>/<v>}`, still percent-encoded.
    pub fn from_path(rest: &str) -> Result<Self, KeyError> {
        let decoded = percent_encoding::percent_decode_str(rest)
            .decode_utf8()
            .map_err(|_| KeyError::Utf8)?;
        let (job_b64, after) = if let Some(r) = decoded.strip_prefix("job@base64/") {
            (true, r)
        } else if let Some(r) = decoded.strip_prefix("job/") {
            (false, r)
        } else {
            return Err(KeyError::MissingJob);
        };
        let (job_raw, label_str) = match after.find('/') {
            Some(i) => (&after[..i], &after[i..]),
            None => (after, ""),
        };
        let job = if job_b64 {
            decode_base64(job_raw).map_err(|reason| KeyError::JobBase64 {
                job: job_raw.to_string(),
                reason,
            })?
        } else {
            job_raw.to_string()
        };
        let mut labels = split_labels(label_str)?;
        if job.is_empty() {
            return Err(KeyError::MissingJob);
        }
        // The URL's job wins over a `job` label pair later in the path, as upstream's map
        // assignment does.
        labels.retain(|(n, _)| n != "job");
        labels.push(("job".to_string(), job));
        Ok(GroupingKey::new(labels))
    }

    /// The labels, sorted by name.
    pub fn labels(&self) -> &[(String, String)] {
        &self.labels
    }

    /// The value of label `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// A unique, order-preserving text form: the SQLite primary key and the map key.
    pub fn canonical(&self) -> String {
        let mut s = String::new();
        for (n, v) in &self.labels {
            s.push_str(n);
            s.push('\u{1}');
            s.push_str(v);
            s.push('\u{2}');
        }
        s
    }

    /// The labels every metric of the group carries: the key plus `instance=""` when the
    /// key has no instance (Pushgateway adds it so the scrape's instance label does not
    /// leak in under honor_labels).
    pub fn series_labels(&self) -> Vec<(String, String)> {
        let mut l = self.labels.clone();
        if self.get("instance").is_none() {
            l.push(("instance".to_string(), String::new()));
            l.sort();
        }
        l
    }
}

impl fmt::Display for GroupingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (i, (n, v)) in self.labels.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{n}={v:?}")?;
        }
        f.write_str("}")
    }
}

/// `/<name>/<value>` pairs after the job.
fn split_labels(s: &str) -> Result<Vec<(String, String)>, KeyError> {
    let mut out: Vec<(String, String)> = Vec::new();
    if s.len() <= 1 {
        return Ok(out);
    }
    let parts: Vec<&str> = s[1..].split('/').collect();
    if !parts.len().is_multiple_of(2) {
        return Err(KeyError::OddComponents(s.to_string()));
    }
    for pair in parts.chunks(2) {
        let (name, value) = (pair[0], pair[1]);
        let trimmed = name.strip_suffix(BASE64_SUFFIX).unwrap_or(name);
        if !is_valid_legacy_label_name(trimmed) || trimmed.starts_with("__") {
            return Err(KeyError::ImproperLabelName(trimmed.to_string()));
        }
        let value = if trimmed.len() == name.len() {
            value.to_string()
        } else {
            decode_base64(value).map_err(|reason| KeyError::LabelBase64 {
                name: trimmed.to_string(),
                value: value.to_string(),
                reason,
            })?
        };
        if let Some(slot) = out.iter_mut().find(|(n, _)| n == trimmed) {
            // Upstream builds a map: a repeated label takes the last value.
            slot.1 = value;
        } else {
            out.push((trimmed.to_string(), value));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(path: &str) -> Result<Vec<(String, String)>, KeyError> {
        GroupingKey::from_path(path).map(|k| k.labels().to_vec())
    }

    fn l(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn plain_and_base64_keys() {
        assert_eq!(key("job/j").unwrap(), l(&[("job", "j")]));
        assert_eq!(key("job/j/").unwrap(), l(&[("job", "j")]));
        assert_eq!(
            key("job/j/instance/i/a/b").unwrap(),
            l(&[("a", "b"), ("instance", "i"), ("job", "j")])
        );
        // "/var/tmp" and the empty value, as prometheus_client encodes them.
        assert_eq!(
            key("job@base64/L3Zhci90bXA=/path@base64/L3Zhci90bXA/e@base64/=").unwrap(),
            l(&[("e", ""), ("job", "/var/tmp"), ("path", "/var/tmp")])
        );
        // Percent-decoding happens before splitting; `+` stays.
        assert_eq!(
            key("job/a%20b/x/c+d").unwrap(),
            l(&[("job", "a b"), ("x", "c+d")])
        );
        assert_eq!(key("job/j/a/").unwrap(), l(&[("a", ""), ("job", "j")]));
    }

    #[test]
    fn bad_keys_say_why() {
        assert_eq!(key("job/").unwrap_err(), KeyError::MissingJob);
        assert_eq!(
            key("job/j/a").unwrap_err(),
            KeyError::OddComponents("/a".into())
        );
        assert_eq!(
            key("job/j/__a/b").unwrap_err(),
            KeyError::ImproperLabelName("__a".into())
        );
        assert_eq!(
            key("job/j/a-b/c").unwrap_err(),
            KeyError::ImproperLabelName("a-b".into())
        );
        assert!(matches!(
            key("job/j/a@base64/!!").unwrap_err(),
            KeyError::LabelBase64 { .. }
        ));
        assert!(matches!(
            key("job@base64/!!").unwrap_err(),
            KeyError::JobBase64 { .. }
        ));
        assert_eq!(
            key("job/j/a/1/b").unwrap_err().to_string(),
            "odd number of components in label string \"/a/1/b\""
        );
    }

    #[test]
    fn canonical_keys_are_distinct() {
        let a = GroupingKey::new(l(&[("job", "a"), ("x", "b")]));
        let b = GroupingKey::new(l(&[("job", "a\u{1}x"), ("", "b")]));
        assert_ne!(a.canonical(), b.canonical());
        assert_eq!(
            a.series_labels(),
            l(&[("instance", ""), ("job", "a"), ("x", "b")])
        );
    }
}
