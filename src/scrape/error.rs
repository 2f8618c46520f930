//! Errors of the scrape subsystem: why one scrape failed ([`ScrapeError`], shown as a
//! target's last error, with upstream's wording), and why a configuration could not be
//! applied ([`Error`]).

use crate::exposition::ParseError;
use crate::scrape::target::TargetError;
use crate::storage::AppendError;

/// Why one scrape failed. The messages are upstream's, so operators and tools that know
/// Prometheus' `lastError` strings recognise them.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ScrapeError {
    /// The request could not be sent or the response not read.
    #[error("Get {url:?}: {reason}")]
    Http { url: String, reason: String },
    /// The scrape took longer than `scrape_timeout`.
    #[error("Get {url:?}: context deadline exceeded")]
    Timeout { url: String },
    /// The target answered with a status other than 200.
    #[error("server returned HTTP status {status}")]
    Status { status: String },
    /// The uncompressed body reached `body_size_limit`.
    #[error("body size limit exceeded")]
    BodySizeLimit,
    /// More samples than `sample_limit` survived metric relabeling.
    #[error("sample limit exceeded")]
    SampleLimit,
    /// A series has more labels than `label_limit`.
    #[error("label_limit exceeded (metric: {metric}, number of labels: {count}, limit: {limit})")]
    LabelLimit {
        metric: String,
        count: usize,
        limit: u64,
    },
    /// A label name is longer than `label_name_length_limit`.
    #[error("label_name_length_limit exceeded (metric: {metric}, label name: {name}, length: {length}, limit: {limit})")]
    LabelNameLengthLimit {
        metric: String,
        name: String,
        length: usize,
        limit: u64,
    },
    /// A label value is longer than `label_value_length_limit`.
    #[error("label_value_length_limit exceeded (metric: {metric}, label name: {name}, value: {value:?}, length: {length}, limit: {limit})")]
    LabelValueLengthLimit {
        metric: String,
        name: String,
        value: String,
        length: usize,
        limit: u64,
    },
    /// Metric relabeling removed `__name__`.
    #[error("missing metric name (__name__ label)")]
    NameLabelMandatory,
    /// The body is not valid text or OpenMetrics exposition.
    #[error("{0}")]
    Parse(#[from] ParseError),
    /// The pool has more targets than `target_limit`; every target of it fails.
    #[error("target_limit exceeded (number of targets: {targets}, limit: {limit})")]
    TargetLimit { targets: usize, limit: u64 },
    /// A credentials file could not be read.
    #[error("unable to read {what} file {path}: {reason}")]
    CredentialsFile {
        what: &'static str,
        path: String,
        reason: String,
    },
    /// The storage refused the batch for a reason other than a per-sample rejection.
    #[error("{0}")]
    Storage(#[source] AppendError),
    /// Every sample of the body was refused by the storage as out of bounds (older than
    /// the oldest time it appends, or too far in the future): nothing was stored. Not an
    /// upstream error (upstream keeps such a target healthy); `reason` is the storage's
    /// word on the first refused sample.
    #[error("all {rejected} scraped samples were rejected by the storage: {reason}")]
    SamplesRejected { rejected: u64, reason: String },
    /// The report series or the commit of the scrape's batch were refused by the storage:
    /// nothing of the scrape was stored. Upstream logs "Appending scrape report failed".
    #[error("appending the scrape to the storage failed, nothing was stored: {0}")]
    Commit(AppendError),
}

/// Why applying a configuration (or part of it) failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The HTTP client of a job could not be built (bad CA file, bad proxy URL, ...).
    #[error("scrape job {job:?}: building the HTTP client: {source}")]
    HttpClient {
        job: String,
        #[source]
        source: crate::scrape::scraper::ClientError,
    },
    /// Two scrape configs share a job name.
    #[error("found multiple scrape configs with job name {0:?}")]
    DuplicateJob(String),
    /// A discovered target is invalid (it is skipped; the others run).
    #[error("scrape job {job:?}: creating target failed: {source}")]
    Target {
        job: String,
        #[source]
        source: TargetError,
    },
    /// The manager must be created inside a tokio runtime.
    #[error("the scrape manager needs a tokio runtime: {0}")]
    NoRuntime(#[source] tokio::runtime::TryCurrentError),
}

/// Truncates `s` to at most `n` characters, as Go's `%.50s` does.
pub(crate) fn truncate_chars(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_match_upstream() {
        assert_eq!(
            ScrapeError::SampleLimit.to_string(),
            "sample limit exceeded"
        );
        assert_eq!(
            ScrapeError::BodySizeLimit.to_string(),
            "body size limit exceeded"
        );
        assert_eq!(
            ScrapeError::Timeout {
                url: "http://a:1/metrics".into()
            }
            .to_string(),
            "Get \"http://a:1/metrics\": context deadline exceeded"
        );
        assert_eq!(
            ScrapeError::LabelValueLengthLimit {
                metric: "m".into(),
                name: "a".into(),
                value: "xyz".into(),
                length: 3,
                limit: 2
            }
            .to_string(),
            "label_value_length_limit exceeded (metric: m, label name: a, value: \"xyz\", length: 3, limit: 2)"
        );
        assert_eq!(truncate_chars("héllo", 2), "hé");
    }
}
