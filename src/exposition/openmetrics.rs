//! Streaming parser for OpenMetrics 1.0 text.
//!
//! Accepts exactly what Prometheus 2.42's `model/textparse/openmetricsparse.go` (lexer
//! `openmetricslex.l`) ingests:
//! - tokens are separated by exactly one space; no tabs, no blank lines, no trailing
//!   spaces, no `\r`;
//! - `# HELP` (escapes `\\`, `\"`, `\n`), `# TYPE` (`counter|gauge|histogram|
//!   gaugehistogram|summary|info|stateset|unknown`), `# UNIT` (must be the metric name's
//!   `_unit` suffix when not empty) and `# EOF`; no other comments;
//! - the body must end with `# EOF` (optionally followed by one `\n`) and nothing after;
//! - label sets are `{}` or comma-separated pairs without a trailing comma; values escape
//!   `\\`, `\"`, `\n` and contain no literal newline;
//! - values and timestamps are Go floats (`NaN`, `+Inf`, `-Inf`, `Inf`, ...); timestamps
//!   are seconds, converted to milliseconds by truncation and must be finite;
//! - an exemplar `# {labels} value [timestamp]` may follow, only on `_total`/`_bucket`
//!   samples; its label set may be empty, and (as in 2.42's parser) the spec's 128-character
//!   limit on exemplar labels is left to storage.
//!
//! Quoted (Prometheus 3 / OpenMetrics 2) names are rejected with a clear error, as 2.42
//! does; duplicate label names are rejected as Prometheus does on append.

use std::borrow::Cow;

use super::entry::{Entry, ExemplarEntry, LabelPairs, MetricType, SampleEntry};
use super::error::{ErrorKind, ParseError};
use super::scan::{
    is_label_start, is_metric_start, parse_go_float, seconds_to_millis, unescape_label_value,
    Cursor,
};
use super::{check_duplicates, normalize_nan, NameSpan};

/// Parser over an OpenMetrics body; yields entries one at a time, ends with
/// [`Entry::Eof`] for `# EOF`, and stops after the first error.
#[derive(Debug, Clone)]
pub struct OpenMetricsParser<'a> {
    cur: Cursor<'a>,
    done: bool,
    /// The body ends the exposition, so it must end with `# EOF`.
    last: bool,
    names: Vec<NameSpan>,
    /// Series text of the last sample whose label names passed the duplicate check.
    last_series: &'a str,
}

impl<'a> OpenMetricsParser<'a> {
    /// A parser over `body`.
    pub fn new(body: &'a [u8]) -> Self {
        OpenMetricsParser {
            cur: Cursor::new(body),
            done: false,
            last: true,
            names: Vec::new(),
            last_series: "",
        }
    }

    /// A parser over one piece of a larger body that was cut right after a `\n`, so a
    /// file can be parsed piece by piece in bounded memory. Lines are numbered from
    /// `first_line`. Unless the piece is the `last`, its end ends the iteration without
    /// an error (the `# EOF` is still to come); a `# EOF` ending a piece that is not the
    /// last is yielded as [`Entry::Eof`], and the caller reports any data after it.
    /// The grammar has no state across lines, so the entries are exactly those of the
    /// whole body.
    pub fn new_fragment(body: &'a [u8], first_line: usize, last: bool) -> Self {
        let mut cur = Cursor::new(body);
        cur.line = first_line;
        OpenMetricsParser {
            cur,
            done: false,
            last,
            names: Vec::new(),
            last_series: "",
        }
    }

    /// 1-based line number the parser is on: after a piece was parsed to its end, the
    /// `first_line` of the next piece.
    pub fn line(&self) -> usize {
        self.cur.line
    }

    fn next_entry(&mut self) -> Result<Entry<'a>, ParseError> {
        match self.cur.peek() {
            None => Err(self.cur.error_at(self.cur.pos, ErrorKind::MissingEof)),
            Some(b'#') => self.metadata(),
            Some(b) if is_metric_start(b) => self.sample(),
            Some(b'{') => Err(self
                .cur
                .error_at(self.cur.pos, ErrorKind::QuotedNameInOpenMetrics)),
            Some(_) => Err(self.cur.unexpected("metric name or \"# \"")),
        }
    }

    /// Expects a `\n` ending the line (consumed); the end of input means `# EOF` is missing.
    fn end_line(&mut self, expected: &'static str) -> Result<(), ParseError> {
        match self.cur.peek() {
            Some(b'\n') => {
                self.cur.newline();
                Ok(())
            }
            None => Err(self.cur.error_at(self.cur.pos, ErrorKind::MissingEof)),
            Some(_) => Err(self.cur.unexpected(expected)),
        }
    }

    fn metadata(&mut self) -> Result<Entry<'a>, ParseError> {
        if self.cur.peek_at(1) != Some(b' ') {
            return Err(self.cur.unexpected_at(
                self.cur.pos + 1,
                "\" \" after \"#\" (OpenMetrics has no free-form comments)",
            ));
        }
        self.cur.pos += 2;
        if self.cur.starts_with(b"EOF") {
            self.cur.pos += 3;
            if self.cur.peek() == Some(b'\n') {
                self.cur.newline();
            }
            if !self.cur.at_end() {
                return Err(self.cur.error_at(self.cur.pos, ErrorKind::DataAfterEof));
            }
            return Ok(Entry::Eof);
        }
        let kind = if self.cur.starts_with(b"HELP ") {
            b'H'
        } else if self.cur.starts_with(b"TYPE ") {
            b'T'
        } else if self.cur.starts_with(b"UNIT ") {
            b'U'
        } else {
            return Err(self.cur.unexpected("HELP, TYPE, UNIT or EOF after \"# \""));
        };
        self.cur.pos += 5;
        let name_start = self.cur.pos;
        match self.cur.peek() {
            Some(b) if is_metric_start(b) => {}
            Some(b'"') => {
                return Err(self
                    .cur
                    .error_at(name_start, ErrorKind::QuotedNameInOpenMetrics))
            }
            _ => {
                return Err(self.cur.unexpected(match kind {
                    b'H' => "metric name after HELP",
                    b'T' => "metric name after TYPE",
                    _ => "metric name after UNIT",
                }))
            }
        }
        let name_end = self.cur.scan_metric_name();
        let name = self.cur.utf8(name_start, name_end, "metric name")?;
        if self.cur.peek() != Some(b' ') {
            return Err(self.cur.unexpected("\" \" and text after metric name"));
        }
        self.cur.pos += 1;
        let (start, end) = self.cur.scan_to_eol();
        if self.cur.at_end() {
            return Err(self.cur.error_at(self.cur.pos, ErrorKind::MissingEof));
        }
        let entry = match kind {
            b'H' => {
                let text = self.cur.utf8(start, end, "help text")?;
                Entry::Help {
                    metric_family: Cow::Borrowed(name),
                    text: unescape_label_value(text),
                }
            }
            b'T' => {
                let raw = &self.cur.buf[start..end];
                let metric_type = std::str::from_utf8(raw)
                    .ok()
                    .and_then(MetricType::from_openmetrics_name)
                    .ok_or_else(|| {
                        self.cur.error_at(
                            start,
                            ErrorKind::InvalidMetricType(String::from_utf8_lossy(raw).into_owned()),
                        )
                    })?;
                Entry::Type {
                    metric_family: Cow::Borrowed(name),
                    metric_type,
                }
            }
            _ => {
                let unit = self.cur.utf8(start, end, "unit")?;
                let ok = unit.is_empty()
                    || (name.len() > unit.len()
                        && name.ends_with(unit)
                        && name.as_bytes()[name.len() - unit.len() - 1] == b'_');
                if !ok {
                    return Err(self.cur.error_at(
                        start,
                        ErrorKind::UnitNotSuffix {
                            unit: unit.to_string(),
                            metric: name.to_string(),
                        },
                    ));
                }
                Entry::Unit {
                    metric_family: Cow::Borrowed(name),
                    unit,
                }
            }
        };
        self.cur.newline();
        Ok(entry)
    }

    fn sample(&mut self) -> Result<Entry<'a>, ParseError> {
        let series_start = self.cur.pos;
        let name_end = self.cur.scan_metric_name();
        self.names.clear();
        let mut labels = (name_end, name_end);
        if self.cur.peek() == Some(b'{') {
            self.cur.pos += 1;
            labels.0 = self.cur.pos;
            self.labels(true)?;
            labels.1 = self.cur.pos - 1;
        }
        let series_end = self.cur.pos;
        let series_text = self.cur.utf8(series_start, series_end, "label value")?;
        let name = series_text
            .get(..name_end - series_start)
            .unwrap_or_default();
        // The same text as the previous sample names the same labels, already checked.
        if series_text != self.last_series {
            check_duplicates(&self.cur, &self.names)?;
            self.last_series = series_text;
        }
        let labels = LabelPairs::new(
            series_text
                .get(labels.0.saturating_sub(series_start)..labels.1.saturating_sub(series_start))
                .unwrap_or_default(),
        );

        let value = self.value("\" \" and value after metric")?;
        let mut timestamp = None;
        let mut exemplar = None;
        if self.cur.peek() == Some(b' ') {
            if self.cur.starts_with(b" # {") {
                exemplar = Some(self.exemplar(name)?);
            } else {
                timestamp = Some(self.timestamp(false)?);
                if self.cur.starts_with(b" # {") {
                    exemplar = Some(self.exemplar(name)?);
                }
            }
        }
        self.end_line(if exemplar.is_some() {
            "end of line after exemplar"
        } else if timestamp.is_some() {
            "end of line or exemplar after timestamp"
        } else {
            "timestamp, exemplar or end of line"
        })?;
        Ok(Entry::Sample(SampleEntry {
            series_text,
            name: Cow::Borrowed(name),
            labels,
            value,
            timestamp,
            exemplar,
        }))
    }

    /// A single space then a float token (`[^ \n]+`).
    fn value(&mut self, expected: &'static str) -> Result<f64, ParseError> {
        if self.cur.peek() != Some(b' ') {
            return Err(self.cur.unexpected(expected));
        }
        self.cur.pos += 1;
        let (start, end, fast) = self.cur.scan_number_token();
        if start == end {
            return Err(self.cur.unexpected(expected));
        }
        if let Some(v) = fast {
            return Ok(v);
        }
        let raw = &self.cur.buf[start..end];
        parse_go_float(raw).map(normalize_nan).map_err(|reason| {
            self.cur.error_at(
                start,
                ErrorKind::InvalidValue {
                    token: String::from_utf8_lossy(raw).into_owned(),
                    reason,
                },
            )
        })
    }

    /// A single space then a finite float of seconds; returns milliseconds.
    fn timestamp(&mut self, exemplar: bool) -> Result<i64, ParseError> {
        self.cur.pos += 1;
        let (start, end, fast) = self.cur.scan_number_token();
        if let Some(secs) = fast {
            return Ok(seconds_to_millis(secs));
        }
        if start == end {
            return Err(self.cur.unexpected(if exemplar {
                "exemplar timestamp"
            } else {
                "timestamp or exemplar"
            }));
        }
        let raw = &self.cur.buf[start..end];
        let bad = |reason| {
            self.cur.error_at(
                start,
                ErrorKind::InvalidTimestamp {
                    token: String::from_utf8_lossy(raw).into_owned(),
                    reason,
                },
            )
        };
        let secs = parse_go_float(raw).map_err(bad)?;
        if !secs.is_finite() {
            return Err(bad("must be finite"));
        }
        Ok(seconds_to_millis(secs))
    }

    /// ` # {labels} value [timestamp]`, the cursor on the first space.
    fn exemplar(&mut self, metric_name: &str) -> Result<ExemplarEntry<'a>, ParseError> {
        if !(metric_name.ends_with("_total") || metric_name.ends_with("_bucket")) {
            return Err(self.cur.error_at(
                self.cur.pos + 1,
                ErrorKind::ExemplarNotAllowed(metric_name.to_string()),
            ));
        }
        self.cur.pos += 4;
        let start = self.cur.pos;
        self.labels(false)?;
        let raw = self
            .cur
            .utf8(start, self.cur.pos - 1, "exemplar label value")?;
        let value = self.value("\" \" and value after exemplar labels")?;
        let timestamp = if self.cur.peek() == Some(b' ') {
            Some(self.timestamp(true)?)
        } else {
            None
        };
        Ok(ExemplarEntry {
            labels: LabelPairs::new(raw),
            value,
            timestamp,
        })
    }

    /// Parses label pairs after `{` through `}`. Records names for the duplicate check
    /// when `record` (sample labels; exemplar labels are not checked upstream).
    fn labels(&mut self, record: bool) -> Result<(), ParseError> {
        if self.cur.peek() == Some(b'}') {
            self.cur.pos += 1;
            return Ok(());
        }
        loop {
            let start = self.cur.pos;
            match self.cur.peek() {
                Some(b) if is_label_start(b) => {}
                Some(b'"') => {
                    return Err(self.cur.error_at(start, ErrorKind::QuotedNameInOpenMetrics))
                }
                _ => return Err(self.cur.unexpected("label name")),
            }
            let end = self.cur.scan_label_name();
            if self.cur.peek() != Some(b'=') {
                return Err(self.cur.unexpected("\"=\""));
            }
            self.cur.pos += 1;
            if self.cur.peek() != Some(b'"') {
                return Err(self.cur.unexpected("label value"));
            }
            self.cur
                .scan_quoted(false, "closing quote of label value")?;
            if record {
                self.names.push(NameSpan {
                    start,
                    end,
                    quoted: false,
                });
            }
            match self.cur.peek() {
                Some(b',') => self.cur.pos += 1,
                Some(b'}') => {
                    self.cur.pos += 1;
                    return Ok(());
                }
                _ => return Err(self.cur.unexpected("\",\" or \"}\"")),
            }
        }
    }
}

impl<'a> Iterator for OpenMetricsParser<'a> {
    type Item = Result<Entry<'a>, ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        if !self.last && self.cur.at_end() {
            self.done = true;
            return None;
        }
        let r = self.next_entry();
        if matches!(r, Ok(Entry::Eof) | Err(_)) {
            self.done = true;
        }
        Some(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(input: &str) -> Result<Vec<Entry<'_>>, ParseError> {
        OpenMetricsParser::new(input.as_bytes()).collect()
    }

    fn err(input: &str) -> String {
        match entries(input) {
            Ok(e) => panic!("expected an error for {input:?}, got {e:?}"),
            Err(e) => e.to_string(),
        }
    }

    fn sample<'a>(e: &Entry<'a>) -> SampleEntry<'a> {
        match e {
            Entry::Sample(s) => s.clone(),
            other => panic!("not a sample: {other:?}"),
        }
    }

    #[test]
    fn upstream_openmetrics_input() {
        // The happy-path input of Prometheus 2.42's TestOpenMetricsParse.
        let input = "# HELP go_gc_duration_seconds A summary of the GC invocation durations.
# TYPE go_gc_duration_seconds summary
# UNIT go_gc_duration_seconds seconds
go_gc_duration_seconds{quantile=\"0\"} 4.9351e-05
go_gc_duration_seconds{quantile=\"0.25\"} 7.424100000000001e-05
go_gc_duration_seconds{quantile=\"0.5\",a=\"b\"} 8.3835e-05
# HELP nohelp1 
# HELP help2 escape \\ \\n \\\\ \\\" \\x chars
# UNIT nounit 
go_gc_duration_seconds{quantile=\"1.0\",a=\"b\"} 8.3835e-05
go_gc_duration_seconds_count 99
some:aggregate:rate5m{a_b=\"c\"} 1
# HELP go_goroutines Number of goroutines that currently exist.
# TYPE go_goroutines gauge
go_goroutines 33 123.123
# TYPE hh histogram
hh_bucket{le=\"+Inf\"} 1
# TYPE gh gaugehistogram
gh_bucket{le=\"+Inf\"} 1
# TYPE hhh histogram
hhh_bucket{le=\"+Inf\"} 1 # {aa=\"bb\"} 4
# TYPE ggh gaugehistogram
ggh_bucket{le=\"+Inf\"} 1 # {cc=\"dd\",xx=\"yy\"} 4 123.123
# TYPE ii info
ii{foo=\"bar\"} 1
# TYPE ss stateset
ss{ss=\"foo\"} 1
ss{ss=\"bar\"} 0
ss{A=\"a\"} 0
# TYPE un unknown
_metric_starting_with_underscore 1
testmetric{_label_starting_with_underscore=\"foo\"} 1
testmetric{label=\"\\\"bar\\\"\"} 1
# TYPE foo counter
foo_total 17.0 1520879607.789 # {xx=\"yy\"} 5
# HELP metric foo\x00bar
null_byte_metric{a=\"abc\x00\"} 1
# EOF
";
        let e = entries(input).unwrap();
        assert_eq!(e.len(), 38);
        assert_eq!(
            e[2],
            Entry::Unit {
                metric_family: "go_gc_duration_seconds".into(),
                unit: "seconds"
            }
        );
        assert_eq!(
            e[6],
            Entry::Help {
                metric_family: "nohelp1".into(),
                text: "".into()
            }
        );
        assert_eq!(
            e[7],
            Entry::Help {
                metric_family: "help2".into(),
                text: "escape \\ \n \\ \" \\x chars".into()
            }
        );
        assert_eq!(
            e[8],
            Entry::Unit {
                metric_family: "nounit".into(),
                unit: ""
            }
        );
        let g = sample(&e[14]);
        assert_eq!((g.value, g.timestamp), (33.0, Some(123123)));
        let h = sample(&e[20]);
        let ex = h.exemplar.unwrap();
        assert_eq!(ex.value, 4.0);
        assert_eq!(ex.timestamp, None);
        let gh = sample(&e[22]);
        let ex = gh.exemplar.unwrap();
        assert_eq!(ex.timestamp, Some(123123));
        assert_eq!(ex.labels.iter().count(), 2);
        let f = sample(&e[34]);
        assert_eq!(f.timestamp, Some(1520879607789));
        assert_eq!(f.exemplar.unwrap().labels.as_raw(), "xx=\"yy\"");
        assert_eq!(e[37], Entry::Eof);
    }

    #[test]
    fn upstream_error_cases() {
        for (input, want) in [
            ("", "line 1, column 1: data does not end with \"# EOF\""),
            ("\n", "line 1, column 1: unexpected end of line : expected metric name or \"# \""),
            ("metric", "line 1, column 7: unexpected end of input : expected \" \" and value after metric"),
            ("metric 1", "line 1, column 9: data does not end with \"# EOF\""),
            ("metric 1\n", "line 2, column 1: data does not end with \"# EOF\""),
            ("metric_total 1 # {aa=\"bb\"} 4", "line 1, column 29: data does not end with \"# EOF\""),
            ("a\n#EOF\n", "line 1, column 2: unexpected end of line : expected \" \" and value after metric"),
            ("\n\n#EOF\n", "line 1, column 1: unexpected end of line : expected metric name or \"# \""),
            (" a 1\n#EOF\n", "line 1, column 1: unexpected \" \" : expected metric name or \"# \""),
            ("9\n#EOF\n", "line 1, column 1: unexpected \"9\" : expected metric name or \"# \""),
            ("# TYPE u untyped\n#EOF\n", "line 1, column 10: invalid metric type \"untyped\""),
            ("# TYPE c counter \n#EOF\n", "line 1, column 10: invalid metric type \"counter \""),
            ("#  TYPE c counter\n#EOF\n", "line 1, column 3: unexpected \" \" : expected HELP, TYPE, UNIT or EOF after \"# \""),
            ("# TYPE \n#EOF\n", "line 1, column 8: unexpected end of line : expected metric name after TYPE"),
            ("# TYPE m\n#EOF\n", "line 1, column 9: unexpected end of line : expected \" \" and text after metric name"),
            ("# UNIT metric suffix\n#EOF\n", "line 1, column 15: unit \"suffix\" is not a suffix of metric \"metric\""),
            ("# UNIT metricsuffix suffix\n#EOF\n", "line 1, column 21: unit \"suffix\" is not a suffix of metric \"metricsuffix\""),
            ("# UNIT m suffix\n#EOF\n", "line 1, column 10: unit \"suffix\" is not a suffix of metric \"m\""),
            ("# HELP m\n#EOF\n", "line 1, column 9: unexpected end of line : expected \" \" and text after metric name"),
            ("a\t1\n#EOF\n", "line 1, column 2: unexpected \"\\t\" : expected \" \" and value after metric"),
            ("a 1\t2\n#EOF\n", "line 1, column 3: invalid value \"1\\t2\": invalid syntax"),
            ("a 1 2 \n#EOF\n", "line 1, column 6: unexpected \" \" : expected end of line or exemplar after timestamp"),
            ("a 1 2 #\n#EOF\n", "line 1, column 6: unexpected \" \" : expected end of line or exemplar after timestamp"),
            ("a 1 1z\n#EOF\n", "line 1, column 5: invalid timestamp \"1z\": invalid syntax"),
            (" # EOF\n", "line 1, column 1: unexpected \" \" : expected metric name or \"# \""),
            ("# EOF\na 1", "line 2, column 1: unexpected data after \"# EOF\""),
            ("# EOF\n\n", "line 2, column 1: unexpected data after \"# EOF\""),
            ("# EOFa 1", "line 1, column 6: unexpected data after \"# EOF\""),
            ("#\tTYPE c counter\n", "line 1, column 2: unexpected \"\\t\" : expected \" \" after \"#\" (OpenMetrics has no free-form comments)"),
            ("# TYPE c  counter\n", "line 1, column 10: invalid metric type \" counter\""),
            ("a 1 1 1\n# EOF\n", "line 1, column 6: unexpected \" \" : expected end of line or exemplar after timestamp"),
            ("a{b='c'} 1\n# EOF\n", "line 1, column 5: unexpected \"'c'\" : expected label value"),
            ("a{b=\"c\",} 1\n# EOF\n", "line 1, column 9: unexpected \"}\" : expected label name"),
            ("a{,b=\"c\"} 1\n# EOF\n", "line 1, column 3: unexpected \",\" : expected label name"),
            ("a{b=\"c\"d=\"e\"} 1\n# EOF\n", "line 1, column 8: unexpected \"d\" : expected \",\" or \"}\""),
            ("a{b=\"c\",,d=\"e\"} 1\n# EOF\n", "line 1, column 9: unexpected \",\" : expected label name"),
            ("a{b=\n# EOF\n", "line 1, column 5: unexpected end of line : expected label value"),
            ("a true\n", "line 1, column 3: invalid value \"true\": invalid syntax"),
            ("something_weird{problem=\"\n# EOF\n", "line 1, column 26: unexpected end of line : expected closing quote of label value"),
            ("empty_label_name{=\"\"} 0\n# EOF\n", "line 1, column 18: unexpected \"=\" : expected label name"),
            ("foo 1_2\n\n# EOF\n", "line 1, column 5: invalid value \"1_2\": unsupported character in float"),
            ("foo 0x1p-3\n\n# EOF\n", "line 1, column 5: invalid value \"0x1p-3\": unsupported character in float"),
            ("foo 0 1_2\n\n# EOF\n", "line 1, column 7: invalid timestamp \"1_2\": unsupported character in float"),
            ("custom_metric_total 1 # {aa=bb}\n# EOF\n", "line 1, column 29: unexpected \"bb\" : expected label value"),
            ("custom_metric_total 1 # {aa=\"bb\"}\n# EOF\n", "line 1, column 34: unexpected end of line : expected \" \" and value after exemplar labels"),
            ("custom_metric_total 1 # {aa=\"bb\"}", "line 1, column 34: unexpected end of input : expected \" \" and value after exemplar labels"),
            ("custom_metric 1 # {aa=\"bb\"}", "line 1, column 17: metric name \"custom_metric\" does not support exemplars (only _total and _bucket samples do)"),
            ("custom_metric_total 1 # {aa=\"bb\",,cc=\"dd\"} 1", "line 1, column 34: unexpected \",\" : expected label name"),
            ("custom_metric_total 1 # {aa=\"bb\"} 1_2", "line 1, column 35: invalid value \"1_2\": unsupported character in float"),
            ("custom_metric_total 1 # {aa=\"bb\"} true", "line 1, column 35: invalid value \"true\": invalid syntax"),
            ("custom_metric_total 1 # {aa=\"bb\",cc=}", "line 1, column 37: unexpected \"}\" : expected label value"),
            ("{b=\"c\",} 1", "line 1, column 1: quoted metric and label names are not part of OpenMetrics 1.0"),
            ("a 1 NaN", "line 1, column 5: invalid timestamp \"NaN\": must be finite"),
            ("a 1 -Inf", "line 1, column 5: invalid timestamp \"-Inf\": must be finite"),
            ("a 1 Inf", "line 1, column 5: invalid timestamp \"Inf\": must be finite"),
            ("# TYPE hhh histogram\nhhh_bucket{le=\"+Inf\"} 1 # {aa=\"bb\"} 4 NaN", "line 2, column 39: invalid timestamp \"NaN\": must be finite"),
            ("# TYPE hhh histogram\nhhh_bucket{le=\"+Inf\"} 1 # {aa=\"bb\"} 4 Inf", "line 2, column 39: invalid timestamp \"Inf\": must be finite"),
            ("#", "line 1, column 2: unexpected end of input : expected \" \" after \"#\" (OpenMetrics has no free-form comments)"),
            ("# H", "line 1, column 3: unexpected \"H\" : expected HELP, TYPE, UNIT or EOF after \"# \""),
            ("# comment\n# EOF\n", "line 1, column 3: unexpected \"comment\" : expected HELP, TYPE, UNIT or EOF after \"# \""),
            ("a{\"b\"=\"c\"} 1\n# EOF\n", "line 1, column 3: quoted metric and label names are not part of OpenMetrics 1.0"),
            ("a{b=\"1\",b=\"2\"} 1\n# EOF\n", "line 1, column 9: duplicate label name \"b\""),
            ("a 1\r\n# EOF\n", "line 1, column 3: invalid value \"1\\r\": invalid syntax"),
            ("a{b=\"x\ny\"} 1\n# EOF\n", "line 1, column 7: unexpected end of line : expected closing quote of label value"),
        ] {
            assert_eq!(err(input), want, "input {input:?}");
        }
    }

    #[test]
    fn eof_forms_and_null_bytes() {
        assert_eq!(entries("# EOF").unwrap(), vec![Entry::Eof]);
        assert_eq!(entries("# EOF\n").unwrap(), vec![Entry::Eof]);
        for ok in [
            "null_byte_metric{a=\"abc\x00\"} 1\n# EOF\n",
            "a{b=\"\x00ss\"} 1\n# EOF\n",
            "a{b=\"\x00\"} 1\n# EOF",
        ] {
            assert!(entries(ok).is_ok(), "{ok:?}");
        }
        let bad =
            OpenMetricsParser::new(b"a{b=\"\xff\"} 1\n# EOF\n").collect::<Result<Vec<_>, _>>();
        assert_eq!(
            bad.unwrap_err().to_string(),
            "line 1, column 6: invalid UTF-8 in label value"
        );
    }

    #[test]
    fn values_and_timestamps() {
        let e = entries("a NaN\nb +Inf -1.5\nc -Inf 0.0009\nd 1e3 1e3\n# EOF\n").unwrap();
        let a = sample(&e[0]);
        assert_eq!(a.value.to_bits(), super::super::NORMAL_NAN_BITS);
        assert_eq!(sample(&e[1]).timestamp, Some(-1500));
        assert_eq!(sample(&e[2]).value, f64::NEG_INFINITY);
        assert_eq!(sample(&e[2]).timestamp, Some(0));
        assert_eq!(sample(&e[3]).timestamp, Some(1_000_000));
        // An exemplar may have no labels; its timestamp is optional.
        let e = entries("hh_bucket{le=\"+Inf\"} 1 # {} 4\n# EOF\n").unwrap();
        let x = sample(&e[0]).exemplar.unwrap();
        assert_eq!(
            (x.labels.iter().count(), x.value, x.timestamp),
            (0, 4.0, None)
        );
        // _created is an ordinary sample, as in Prometheus 2.42.
        let c = entries("# TYPE x counter\nx_total 1\nx_created 1.7e9\n# EOF\n").unwrap();
        assert_eq!(sample(&c[2]).name, "x_created");
        assert_eq!(sample(&c[2]).value, 1.7e9);
    }
}
