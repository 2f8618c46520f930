//! Parse errors for both exposition formats.
//!
//! Every error names the 1-based line and column (in characters) where parsing stopped and
//! why, so an operator can find the offending byte in a scraped body. Mirrors the reasons
//! Prometheus' `model/textparse` reports, reworded to name the position instead of echoing
//! the whole line.

use std::fmt;

/// Why a body could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ErrorKind {
    /// A token that does not fit the grammar at this point.
    #[error("unexpected {found} : expected {expected}")]
    Unexpected {
        /// The offending token, shortened and quoted (`"}"`), or `end of line`/`end of input`.
        found: String,
        /// What the grammar allows here.
        expected: &'static str,
    },
    /// A sample or exemplar value that is not a float in Prometheus' notation.
    #[error("invalid value {token:?}: {reason}")]
    InvalidValue { token: String, reason: &'static str },
    /// A timestamp that is not an integer (text format) or finite float (OpenMetrics).
    #[error("invalid timestamp {token:?}: {reason}")]
    InvalidTimestamp { token: String, reason: &'static str },
    /// A `# TYPE` line naming a type the format does not know.
    #[error("invalid metric type {0:?}")]
    InvalidMetricType(String),
    /// The same label name twice in one label set (the metric name counts as `__name__`).
    #[error("duplicate label name {0:?}")]
    DuplicateLabelName(String),
    /// A quoted label name that is empty.
    #[error("empty label name")]
    EmptyLabelName,
    /// Bytes that are not UTF-8 where text is required.
    #[error("invalid UTF-8 in {0}")]
    InvalidUtf8(&'static str),
    /// OpenMetrics `# UNIT` whose unit is not the `_unit` suffix of the metric name.
    #[error("unit {unit:?} is not a suffix of metric {metric:?}")]
    UnitNotSuffix { unit: String, metric: String },
    /// An OpenMetrics exemplar on a sample whose name does not end in `_total` or `_bucket`.
    #[error("metric name {0:?} does not support exemplars (only _total and _bucket samples do)")]
    ExemplarNotAllowed(String),
    /// An OpenMetrics body that ends without `# EOF`.
    #[error("data does not end with \"# EOF\"")]
    MissingEof,
    /// Anything (even an empty line) after OpenMetrics' `# EOF`.
    #[error("unexpected data after \"# EOF\"")]
    DataAfterEof,
    /// A second quoted metric name inside the braces, or one after a bare name.
    #[error("metric name already set")]
    MetricNameTwice,
    /// A line starting with `{` whose braces hold no quoted metric name.
    #[error("metric name not set")]
    MissingMetricName,
    /// `{"quoted.names"}` in OpenMetrics 1.0, which (like Prometheus 2.x) only takes
    /// `[a-zA-Z_:][a-zA-Z0-9_:]*` names; the text format accepts them as Prometheus 3 does.
    #[error("quoted metric and label names are not part of OpenMetrics 1.0")]
    QuotedNameInOpenMetrics,
}

/// A parse failure with its position.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ParseError {
    /// 1-based line number.
    pub line: usize,
    /// 1-based column, counted in characters.
    pub column: usize,
    /// What went wrong.
    pub kind: ErrorKind,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "line {}, column {}: {}",
            self.line, self.column, self.kind
        )
    }
}

/// Longest token excerpt quoted in an error, in characters.
const MAX_TOKEN_CHARS: usize = 24;

/// Describes the token that starts at `pos` for an error message: `end of input`,
/// `end of line`, a quoted punctuation character, or a quoted (shortened) word.
pub(crate) fn describe_token(buf: &[u8], pos: usize) -> String {
    let Some(&first) = buf.get(pos) else {
        return "end of input".to_string();
    };
    if first == b'\n' {
        return "end of line".to_string();
    }
    let end = if is_delimiter(first) {
        pos + 1
    } else {
        buf[pos..]
            .iter()
            .position(|&b| is_delimiter(b))
            .map_or(buf.len(), |n| pos + n)
    };
    shorten_quoted(&buf[pos..end])
}

/// Quotes raw bytes for an error message, cutting them to a readable length.
pub(crate) fn shorten_quoted(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw);
    let mut chars = text.chars();
    let short: String = chars.by_ref().take(MAX_TOKEN_CHARS).collect();
    if chars.next().is_some() {
        format!("{:?}", format!("{short}…"))
    } else {
        format!("{short:?}")
    }
}

fn is_delimiter(b: u8) -> bool {
    matches!(
        b,
        b' ' | b'\t' | b'\n' | b'{' | b'}' | b'=' | b',' | b'"' | b'#'
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_descriptions() {
        assert_eq!(describe_token(b"ab", 2), "end of input");
        assert_eq!(describe_token(b"a\n", 1), "end of line");
        assert_eq!(describe_token(b"a}b", 1), "\"}\"");
        assert_eq!(describe_token(b"x foo=1", 2), "\"foo\"");
        assert_eq!(describe_token(b"\r\n", 0), "\"\\r\"");
        let long = "y".repeat(40);
        assert_eq!(
            describe_token(long.as_bytes(), 0),
            format!("\"{}…\"", "y".repeat(24))
        );
    }

    #[test]
    fn display_names_position_and_reason() {
        let e = ParseError {
            line: 12,
            column: 7,
            kind: ErrorKind::Unexpected {
                found: "\"}\"".into(),
                expected: "label name",
            },
        };
        assert_eq!(
            e.to_string(),
            "line 12, column 7: unexpected \"}\" : expected label name"
        );
    }
}
