//! Prometheus text format 0.0.4 and OpenMetrics 1.0: parsing and writing.
//!
//! Two layers:
//! - streaming, zero-copy parsers ([`TextParser`], [`OpenMetricsParser`], or [`parse`]
//!   choosing by [`Format`]) that yield one [`Entry`] per line, borrowing from the body;
//!   a sample's `series_text` is the name and label set exactly as written, the scrape
//!   cache key. Nothing is allocated per sample unless a label value has escapes.
//! - owned helpers for tests and importers: [`parse_families`] → [`MetricFamily`] with
//!   [`crate::model::Labels`] (including `__name__`), [`parse_samples`], and the writers
//!   [`write_text`] / [`write_openmetrics`]; [`MetricsWriter`], the text-format writer
//!   behind `write_text`, also renders `/metrics` and `/federate` line by line.
//!
//! What is accepted mirrors Prometheus 2.42's `model/textparse` (`promparse.go`,
//! `openmetricsparse.go` and their lexers); the module docs of [`text`] and
//! [`openmetrics`] list the rules. Like 2.42, OpenMetrics `_created` samples are ordinary
//! series (checked against a real Prometheus by `tests/exposition_interop.rs`).
//!
//! The hot path is a hand-written byte scanner (table-driven character classes, `memchr`
//! for quoted strings and line ends) rather than nom combinators: it runs several times
//! faster and lets every error carry an exact line and column. nom parses the
//! `Content-Type` header ([`Format::from_content_type`]).
//!
//! Spec: <https://github.com/prometheus/docs/blob/main/content/docs/instrumenting/exposition_formats.md>,
//! <https://github.com/OpenObservability/OpenMetrics/blob/main/specification/OpenMetrics.md>.

mod entry;
mod error;
mod family;
pub(crate) mod lint;
pub(crate) mod openmetrics;
mod scan;
pub(crate) mod text;
mod writer;

use std::borrow::Cow;

use nom::branch::alt;
use nom::bytes::complete::{tag, take_till, take_while1};
use nom::character::complete::space0;
use nom::multi::many0;
use nom::sequence::{delimited, preceded, separated_pair, tuple};
use nom::IResult;

pub use entry::{Entry, ExemplarEntry, LabelPairs, LabelPairsIter, MetricType, SampleEntry};
pub use error::{ErrorKind, ParseError};
pub use family::{parse_families, parse_samples, Exemplar, MetricFamily, MetricSample};
pub use openmetrics::OpenMetricsParser;
pub use text::TextParser;
pub use writer::{write_openmetrics, write_text, MetricsWriter};

use scan::{unescape_label_value, Cursor};

/// Bit pattern of Prometheus' `value.NormalNaN`: every NaN read from an exposition is
/// stored as this, so a scraped NaN can never be mistaken for the staleness marker.
pub const NORMAL_NAN_BITS: u64 = 0x7ff8_0000_0000_0001;

#[inline]
pub(crate) fn normalize_nan(v: f64) -> f64 {
    if v.is_nan() {
        f64::from_bits(NORMAL_NAN_BITS)
    } else {
        v
    }
}

/// The exposition format of a body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Format {
    /// Prometheus text format 0.0.4 (`text/plain; version=0.0.4`).
    #[default]
    PromText,
    /// OpenMetrics 1.0 (`application/openmetrics-text; version=1.0.0`).
    OpenMetrics,
}

impl Format {
    /// Picks the parser for a response's `Content-Type` value as Prometheus does:
    /// `application/openmetrics-text` (any version, any case) is OpenMetrics; everything
    /// else, including a missing or malformed header, is the text format.
    pub fn from_content_type(value: &str) -> Format {
        match media_type(value) {
            Ok((_, (ty, _params))) if ty.eq_ignore_ascii_case("application/openmetrics-text") => {
                Format::OpenMetrics
            }
            _ => Format::PromText,
        }
    }

    /// The `Content-Type` to serve a body of this format with.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::PromText => "text/plain; version=0.0.4; charset=utf-8",
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }

    /// The `Accept` header Prometheus 2.42 sends when scraping: OpenMetrics preferred.
    pub fn scrape_accept_header() -> &'static str {
        "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
    }
}

type Param<'a> = (&'a str, &'a str);

/// `type/subtype *( ";" name "=" value )` (RFC 7231 media type, values possibly quoted).
fn media_type(input: &str) -> IResult<&str, (&str, Vec<Param<'_>>)> {
    let token =
        |i| take_while1(|c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c))(i);
    let quoted = delimited(tag("\""), take_till(|c| c == '"'), tag("\""));
    let ty = nom::combinator::recognize(tuple((token, tag("/"), token)));
    let param = preceded(
        tuple((space0, tag(";"), space0)),
        separated_pair(token, tag("="), alt((quoted, token))),
    );
    tuple((preceded(space0, ty), many0(param)))(input)
}

/// A streaming parser for either format.
#[derive(Debug, Clone)]
pub enum Parser<'a> {
    Text(TextParser<'a>),
    OpenMetrics(OpenMetricsParser<'a>),
}

/// Starts parsing `body` in `format`. Iterate the result to get entries; iteration ends
/// after [`Entry::Eof`] or the first error.
pub fn parse(body: &[u8], format: Format) -> Parser<'_> {
    match format {
        Format::PromText => Parser::Text(TextParser::new(body)),
        Format::OpenMetrics => Parser::OpenMetrics(OpenMetricsParser::new(body)),
    }
}

impl<'a> Parser<'a> {
    /// [`Iterator::next`] with a guess of the next sample's series text (see
    /// [`TextParser::next_expecting`]); the OpenMetrics parser ignores the guess.
    #[inline]
    pub fn next_expecting(
        &mut self,
        expected: Option<&[u8]>,
    ) -> Option<Result<Entry<'a>, ParseError>> {
        match (self, expected) {
            (Parser::Text(p), Some(e)) => p.next_expecting(e),
            (p, _) => p.next(),
        }
    }
}

impl<'a> Iterator for Parser<'a> {
    type Item = Result<Entry<'a>, ParseError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Parser::Text(p) => p.next(),
            Parser::OpenMetrics(p) => p.next(),
        }
    }
}

/// Byte span of one label name inside the body (contents only, for quoted names).
#[derive(Debug, Clone, Copy)]
pub(crate) struct NameSpan {
    pub start: usize,
    pub end: usize,
    /// Written as a quoted string, so escapes may need undoing before comparing.
    pub quoted: bool,
}

/// Rejects a label set that names a label twice or names `__name__` (the metric name
/// already is `__name__`). Prometheus rejects such a series when appending it.
pub(crate) fn check_duplicates(cur: &Cursor<'_>, names: &[NameSpan]) -> Result<(), ParseError> {
    let raw = |s: &NameSpan| cur.buf.get(s.start..s.end).unwrap_or_default();
    let escaped = |s: &NameSpan| s.quoted && raw(s).contains(&b'\\');
    if names.len() <= 16 && !names.iter().any(escaped) {
        // Common case: compare the bytes as written.
        for (i, a) in names.iter().enumerate() {
            let an = raw(a);
            if an == crate::model::METRIC_NAME.as_bytes() {
                return Err(duplicate(cur, a, an));
            }
            if let Some(b) = names[i + 1..].iter().find(|b| raw(b) == an) {
                return Err(duplicate(cur, b, an));
            }
        }
        return Ok(());
    }
    let mut seen = std::collections::HashSet::with_capacity(names.len());
    for s in names {
        let text = String::from_utf8_lossy(raw(s));
        let name = if s.quoted {
            Cow::Owned(unescape_label_value(&text).into_owned())
        } else {
            text
        };
        if name == crate::model::METRIC_NAME || !seen.insert(name.clone()) {
            return Err(duplicate(cur, s, name.as_bytes()));
        }
    }
    Ok(())
}

fn duplicate(cur: &Cursor<'_>, at: &NameSpan, name: &[u8]) -> ParseError {
    cur.error_at(
        at.start,
        ErrorKind::DuplicateLabelName(String::from_utf8_lossy(name).into_owned()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_from_content_type() {
        for (ct, want) in [
            (
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
                Format::OpenMetrics,
            ),
            (
                "application/openmetrics-text;version=0.0.1",
                Format::OpenMetrics,
            ),
            ("Application/OpenMetrics-Text", Format::OpenMetrics),
            ("text/plain; version=0.0.4", Format::PromText),
            ("text/plain; version=0.0.4; charset=utf-8", Format::PromText),
            ("text/plain", Format::PromText),
            ("", Format::PromText),
            ("garbage", Format::PromText),
            ("application/json", Format::PromText),
        ] {
            assert_eq!(Format::from_content_type(ct), want, "{ct}");
        }
        assert_eq!(
            Format::from_content_type(Format::OpenMetrics.content_type()),
            Format::OpenMetrics
        );
        assert_eq!(
            Format::from_content_type(Format::PromText.content_type()),
            Format::PromText
        );
    }

    #[test]
    fn media_type_params() {
        let (_, (ty, params)) = media_type("text/plain; version=0.0.4; charset=\"utf-8\"").unwrap();
        assert_eq!(ty, "text/plain");
        assert_eq!(params, vec![("version", "0.0.4"), ("charset", "utf-8")]);
    }

    #[test]
    fn parse_dispatches_on_format() {
        let body = b"a 1\n# EOF\n";
        assert_eq!(parse(body, Format::OpenMetrics).count(), 2);
        // "# EOF" is a comment in the text format.
        let text: Vec<_> = parse(body, Format::PromText).collect();
        assert!(matches!(text[1], Ok(Entry::Comment(_))));
    }
}
