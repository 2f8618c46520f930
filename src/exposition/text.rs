//! Streaming parser for the Prometheus text exposition format 0.0.4.
//!
//! Accepts exactly what Prometheus 2.42's `model/textparse/promparse.go` (lexer
//! `promlex.l`) ingests:
//! - blanks (spaces, tabs) may separate any two tokens and lines may be indented;
//!   empty and blank lines are skipped;
//! - `# HELP name text` (text escapes `\\` and `\n`) and `# TYPE name type` with
//!   `counter|gauge|histogram|summary|untyped`; any other `#` line is a comment; the text
//!   after the name loses exactly one separator byte, and trailing blanks make a TYPE invalid;
//! - label values escape `\\`, `\"`, `\n` and may contain literal newlines; commas between
//!   labels are optional and one trailing comma is allowed;
//! - values as Go's `strconv.ParseFloat` without `_`/hex (`NaN`, `+Inf`, `-Inf`, `Inf`,
//!   `infinity`, any case); the optional timestamp is unsigned integer milliseconds;
//! - a NUL byte where a line starts ends the body, as Prometheus' lexer does;
//! - `\r` is not whitespace: a Windows line ending makes a sample's value or timestamp
//!   invalid (and becomes part of HELP text), as upstream.
//!
//! Beyond 2.42, the Prometheus 3 quoted names are accepted (`{"my.metric", "a.b"="c"}`,
//! `# HELP "my.metric" ...`). Duplicate label names, which Prometheus rejects when
//! appending, are rejected here.

use std::borrow::Cow;

use super::entry::{Entry, LabelPairs, MetricType, SampleEntry};
use super::error::{ErrorKind, ParseError};
use super::scan::{
    is_label_start, is_metric_char, is_metric_start, parse_go_float, parse_int_timestamp,
    unescape_help, unescape_label_value, Cursor,
};
use super::{check_duplicates, normalize_nan, NameSpan};

/// Parser over a text-format body; yields entries one at a time and stops after the
/// first error.
#[derive(Debug, Clone)]
pub struct TextParser<'a> {
    cur: Cursor<'a>,
    done: bool,
    names: Vec<NameSpan>,
}

impl<'a> TextParser<'a> {
    /// A parser over `body`.
    pub fn new(body: &'a [u8]) -> Self {
        TextParser {
            cur: Cursor::new(body),
            done: false,
            names: Vec::new(),
        }
    }

    fn next_entry(&mut self) -> Result<Entry<'a>, ParseError> {
        loop {
            self.cur.skip_blanks();
            match self.cur.peek() {
                None | Some(0) => return Ok(Entry::Eof),
                Some(b'\n') => self.cur.newline(),
                Some(b'#') => return self.comment_or_metadata(),
                Some(b'{') => return self.sample(),
                Some(b) if is_metric_start(b) => return self.sample(),
                Some(_) => return Err(self.cur.unexpected("metric name, \"#\" or end of line")),
            }
        }
    }

    /// Ends the current line: expects `\n` (consumed) or the end of input.
    fn end_line(&mut self, expected: &'static str) -> Result<(), ParseError> {
        match self.cur.peek() {
            None => Ok(()),
            Some(b'\n') => {
                self.cur.newline();
                Ok(())
            }
            Some(_) => Err(self.cur.unexpected(expected)),
        }
    }

    fn comment_or_metadata(&mut self) -> Result<Entry<'a>, ParseError> {
        let line_start = self.cur.pos;
        self.cur.pos += 1;
        let is_meta = matches!(self.cur.peek(), Some(b' ' | b'\t')) && {
            self.cur.skip_blanks();
            (self.cur.starts_with(b"HELP") || self.cur.starts_with(b"TYPE"))
                && matches!(self.cur.peek_at(4), Some(b' ' | b'\t'))
        };
        if !is_meta {
            let (_, end) = self.cur.scan_to_eol();
            let text = String::from_utf8_lossy(&self.cur.buf[line_start..end]);
            self.end_line("end of line")?;
            return Ok(Entry::Comment(text));
        }
        let is_help = self.cur.starts_with(b"HELP");
        self.cur.pos += 4;
        self.cur.skip_blanks();
        let metric_family = self.metadata_name(if is_help {
            "metric name after HELP"
        } else {
            "metric name after TYPE"
        })?;
        let (start, end) = self.cur.scan_to_eol();
        // Upstream's lexer takes the rest of the line and drops its first byte (the
        // separator); a rest made only of blanks lexes as whitespace and gives "".
        let rest = &self.cur.buf[start..end];
        let text_start = if rest.len() > 1 && !rest.iter().all(|&b| b == b' ' || b == b'\t') {
            start + 1
        } else {
            end
        };
        let entry = if is_help {
            let text = self.cur.utf8(text_start, end, "help text")?;
            Entry::Help {
                metric_family,
                text: unescape_help(text),
            }
        } else {
            let raw = &self.cur.buf[text_start..end];
            let metric_type = std::str::from_utf8(raw)
                .ok()
                .and_then(MetricType::from_text_name)
                .ok_or_else(|| {
                    self.cur.error_at(
                        text_start,
                        ErrorKind::InvalidMetricType(String::from_utf8_lossy(raw).into_owned()),
                    )
                })?;
            Entry::Type {
                metric_family,
                metric_type,
            }
        };
        self.end_line("end of line")?;
        Ok(entry)
    }

    /// The metric name of a HELP/TYPE line: legacy or (Prometheus 3) quoted.
    fn metadata_name(&mut self, expected: &'static str) -> Result<Cow<'a, str>, ParseError> {
        match self.cur.peek() {
            Some(b) if is_metric_start(b) => {
                let start = self.cur.pos;
                let end = self.cur.scan_metric_name();
                Ok(Cow::Borrowed(self.cur.utf8(start, end, "metric name")?))
            }
            Some(b'"') => {
                let (start, end) = self.cur.scan_quoted(true, "closing quote of metric name")?;
                let raw = self.cur.utf8(start, end, "metric name")?;
                if raw.is_empty() {
                    return Err(self.cur.error_at(start, ErrorKind::EmptyLabelName));
                }
                Ok(unescape_label_value(raw))
            }
            _ => Err(self.cur.unexpected(expected)),
        }
    }

    fn sample(&mut self) -> Result<Entry<'a>, ParseError> {
        let series_start = self.cur.pos;
        let series_line = self.cur.line;
        let series_line_start = self.cur.line_start;
        self.names.clear();
        // Metric name span; `quoted` when it came from inside the braces.
        let mut name: Option<(usize, usize, bool)> = None;
        if self.cur.peek() != Some(b'{') {
            let end = self.cur.scan_metric_name();
            name = Some((series_start, end, false));
            self.cur.skip_blanks();
        }
        let mut labels = (self.cur.pos, self.cur.pos);
        if self.cur.peek() == Some(b'{') {
            self.cur.pos += 1;
            let inner_start = self.cur.pos;
            self.labels(&mut name)?;
            labels = (inner_start, self.cur.pos - 1);
        }
        let series_end = self.cur.pos;
        let Some((name_start, name_end, quoted)) = name else {
            return Err(self
                .cur
                .error_at(series_start, ErrorKind::MissingMetricName));
        };

        // Validate once; every later slice is on ASCII delimiters inside it.
        let series_text = {
            let fast = self.cur.text.and_then(|t| t.get(series_start..series_end));
            let raw = &self.cur.buf[series_start..series_end];
            match fast.map_or_else(|| std::str::from_utf8(raw), Ok) {
                Ok(s) => s,
                Err(e) => {
                    // Report on the line where the bad byte is.
                    let bad = series_start + e.valid_up_to();
                    let mut c = self.cur.clone();
                    c.line = series_line;
                    c.line_start = series_line_start;
                    for (i, &b) in self.cur.buf[series_start..bad].iter().enumerate() {
                        if b == b'\n' {
                            c.line += 1;
                            c.line_start = series_start + i + 1;
                        }
                    }
                    return Err(c.error_at(bad, ErrorKind::InvalidUtf8("label value")));
                }
            }
        };
        let sub = |a: usize, b: usize| {
            series_text.get(a.checked_sub(series_start)?..b.checked_sub(series_start)?)
        };
        let raw_name = sub(name_start, name_end).unwrap_or_default();
        let name = if quoted {
            unescape_label_value(raw_name)
        } else {
            Cow::Borrowed(raw_name)
        };
        check_duplicates(&self.cur, &self.names)?;
        let labels = LabelPairs::new(sub(labels.0, labels.1).unwrap_or_default());
        self.finish_sample(series_text, name, labels)
    }

    /// The rest of a sample line after its series text: value, optional timestamp, end of
    /// line.
    fn finish_sample(
        &mut self,
        series_text: &'a str,
        name: Cow<'a, str>,
        labels: LabelPairs<'a>,
    ) -> Result<Entry<'a>, ParseError> {
        self.cur.skip_blanks();
        let (vstart, vend) = self
            .cur
            .scan_until(|b| matches!(b, b'{' | b' ' | b'\t' | b'\n'));
        if vstart == vend {
            return Err(self.cur.unexpected("value after metric"));
        }
        let value = parse_go_float(&self.cur.buf[vstart..vend]).map_err(|reason| {
            self.cur.error_at(
                vstart,
                ErrorKind::InvalidValue {
                    token: String::from_utf8_lossy(&self.cur.buf[vstart..vend]).into_owned(),
                    reason,
                },
            )
        })?;
        self.cur.skip_blanks();
        let timestamp = match self.cur.peek() {
            None => None,
            Some(b'\n') => None,
            Some(b) if b.is_ascii_digit() => {
                let (tstart, tend) = self.cur.scan_until(|b| !b.is_ascii_digit());
                let ts = parse_int_timestamp(&self.cur.buf[tstart..tend]).map_err(|reason| {
                    self.cur.error_at(
                        tstart,
                        ErrorKind::InvalidTimestamp {
                            token: String::from_utf8_lossy(&self.cur.buf[tstart..tend])
                                .into_owned(),
                            reason,
                        },
                    )
                })?;
                self.cur.skip_blanks();
                Some(ts)
            }
            Some(_) => return Err(self.cur.unexpected("timestamp or end of line")),
        };
        self.end_line(if timestamp.is_some() {
            "end of line after timestamp"
        } else {
            "timestamp or end of line"
        })?;
        Ok(Entry::Sample(SampleEntry {
            series_text,
            name,
            labels,
            value: normalize_nan(value),
            timestamp,
            exemplar: None,
        }))
    }

    /// Parses a label set after `{` through `}`; records label-name spans in
    /// `self.names` and a quoted metric name in `name`.
    fn labels(&mut self, name: &mut Option<(usize, usize, bool)>) -> Result<(), ParseError> {
        self.cur.skip_blanks();
        loop {
            let (nstart, nend, quoted) = match self.cur.peek() {
                Some(b'}') => {
                    self.cur.pos += 1;
                    return Ok(());
                }
                Some(b) if is_label_start(b) => {
                    let start = self.cur.pos;
                    (start, self.cur.scan_label_name(), false)
                }
                Some(b'"') => {
                    let (s, e) = self.cur.scan_quoted(true, "closing quote of label name")?;
                    (s, e, true)
                }
                _ => return Err(self.cur.unexpected("label name")),
            };
            self.cur.skip_blanks();
            if quoted && matches!(self.cur.peek(), Some(b',' | b'}')) {
                if name.is_some() {
                    return Err(self.cur.error_at(nstart - 1, ErrorKind::MetricNameTwice));
                }
                if nstart == nend {
                    return Err(self.cur.error_at(nstart, ErrorKind::EmptyLabelName));
                }
                *name = Some((nstart, nend, true));
                if self.cur.peek() == Some(b',') {
                    self.cur.pos += 1;
                    self.cur.skip_blanks();
                }
                continue;
            }
            if quoted && nstart == nend {
                return Err(self.cur.error_at(nstart, ErrorKind::EmptyLabelName));
            }
            if self.cur.peek() != Some(b'=') {
                return Err(self.cur.unexpected("\"=\""));
            }
            self.cur.pos += 1;
            self.cur.skip_blanks();
            if self.cur.peek() != Some(b'"') {
                return Err(self.cur.unexpected("label value"));
            }
            self.cur.scan_quoted(true, "closing quote of label value")?;
            self.names.push(NameSpan {
                start: nstart,
                end: nend,
                quoted,
            });
            self.cur.skip_blanks();
            if self.cur.peek() == Some(b',') {
                self.cur.pos += 1;
                self.cur.skip_blanks();
            }
        }
    }
}

impl<'a> TextParser<'a> {
    /// [`Iterator::next`] with a guess of the next sample's series text: a series text
    /// this parser returned for an earlier body (the scrape cache's next entry). When the
    /// next line starts with exactly those bytes, the series part is not scanned and
    /// validated again — the same bytes parse and validate the same way — and only the
    /// value and timestamp are parsed. Anything else takes the normal path, so the
    /// entries and errors are those of [`Iterator::next`].
    pub fn next_expecting(&mut self, expected: &[u8]) -> Option<Result<Entry<'a>, ParseError>> {
        if self.done {
            return None;
        }
        let r = match self.expected_series(expected) {
            Some((series_text, name, labels)) => self.finish_sample(series_text, name, labels),
            None => self.next_entry(),
        };
        if matches!(r, Ok(Entry::Eof) | Err(_)) {
            self.done = true;
        }
        Some(r)
    }

    /// Consumes the series text `expected` when the input continues with it and it ends
    /// where [`TextParser::sample`] would end it; returns the text, name and labels.
    fn expected_series(
        &mut self,
        expected: &[u8],
    ) -> Option<(&'a str, Cow<'a, str>, LabelPairs<'a>)> {
        let start = self.cur.pos;
        let end = start + expected.len();
        let first = *expected.first()?;
        // A quoted metric name (`{"name"}`) needs unescaping: normal path.
        if !is_metric_start(first) || self.cur.buf.get(start..end)? != expected {
            return None;
        }
        let brace = memchr::memchr(b'{', expected);
        match brace {
            // The label set ends at its closing brace, whatever follows.
            Some(_) => {
                if expected.last() != Some(&b'}') {
                    return None;
                }
            }
            // A bare name's text is the name and every blank after it (as `sample` takes
            // it), so the input must not go on with a name character or a blank, and a
            // label set must not follow.
            None => {
                let mut name_end = end;
                while name_end > start && matches!(self.cur.buf[name_end - 1], b' ' | b'\t') {
                    name_end -= 1;
                }
                let next = self.cur.buf.get(end).copied();
                let continues = match next {
                    Some(b' ' | b'\t' | b'{') => true,
                    Some(b) => name_end == end && is_metric_char(b),
                    None => false,
                };
                if continues
                    || !self.cur.buf[start..name_end]
                        .iter()
                        .all(|&b| is_metric_char(b))
                {
                    return None;
                }
            }
        }
        // Line numbers advance inside quoted values with newlines: normal path.
        if memchr::memchr(b'\n', expected).is_some() {
            return None;
        }
        let series_text = match self.cur.text {
            Some(t) => t.get(start..end)?,
            None => std::str::from_utf8(&self.cur.buf[start..end]).ok()?,
        };
        let name_end = expected
            .iter()
            .position(|&b| !is_metric_char(b))
            .unwrap_or(expected.len());
        let name = Cow::Borrowed(series_text.get(..name_end)?);
        let labels = match brace {
            Some(open) => series_text.get(open + 1..expected.len() - 1)?,
            None => "",
        };
        self.cur.pos = end;
        Some((series_text, name, LabelPairs::new(labels)))
    }
}

impl<'a> Iterator for TextParser<'a> {
    type Item = Result<Entry<'a>, ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
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
        TextParser::new(input.as_bytes()).collect()
    }

    fn err(input: &str) -> String {
        match entries(input) {
            Ok(e) => panic!("expected an error for {input:?}, got {e:?}"),
            Err(e) => e.to_string(),
        }
    }

    type Pairs = Vec<(String, String)>;

    fn samples(input: &str) -> Vec<(String, Pairs, f64, Option<i64>)> {
        entries(input)
            .unwrap()
            .into_iter()
            .filter_map(|e| match e {
                Entry::Sample(s) => Some((
                    s.name.to_string(),
                    s.labels
                        .iter()
                        .map(|(n, v)| (n.into_owned(), v.into_owned()))
                        .collect(),
                    s.value,
                    s.timestamp,
                )),
                _ => None,
            })
            .collect()
    }

    fn l(pairs: &[(&str, &str)]) -> Pairs {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    /// `next_expecting` yields exactly what `next` does (entries and errors, with their
    /// positions), whatever the guesses: right, wrong, prefixes of the real text.
    #[test]
    fn next_expecting_agrees_with_next() {
        let bodies = [
            "a 1\nab 2\n",
            "a {x=\"1\"} 1\na{x=\"1\"}2\n",
            "a{x=\"a\nb\"} 1\nb{ 2\n",
            "a 1 123\na{x=\"1\",} 3\n",
            "{\"quoted.name\",x=\"1\"} 1\na 1\n",
            "a{x=\"1\"} 1\na{x=\"1\"} 2\n",
            "a 1\n# TYPE b counter\n\nb 1\n",
            "a{x=\"1\"} junk\n",
            "a\t1\na{x=\"}\"} 1\n",
            "a 1\na{x=\"1\"} 2\na{x=\"1\",y=\"1\",x=\"2\"} 3\n",
            "a_b 1\na:b 2\na 3",
            "a{x=\"1\"} 1\na{x=\"1\"}",
        ];
        let texts = |body: &str| -> Vec<String> {
            TextParser::new(body.as_bytes())
                .filter_map(|e| match e {
                    Ok(Entry::Sample(s)) => Some(s.series_text.to_string()),
                    _ => None,
                })
                .collect()
        };
        // The shortcut is taken when it applies, and only then.
        let takes = |body: &str, guess: &str| {
            TextParser::new(body.as_bytes())
                .expected_series(guess.as_bytes())
                .is_some()
        };
        assert!(takes("a{x=\"1\"} 1\n", "a{x=\"1\"}"));
        // A bare name's series text takes every blank after it, as `sample` does.
        assert!(takes("a 1\n", "a "));
        assert!(takes("a\t 1\n", "a\t "));
        assert!(!takes("a 1\n", "a"));
        assert!(!takes("a  1\n", "a "));
        assert!(!takes("a 1\n", "a 1"));
        assert!(!takes("a-b 1\n", "a-b "));
        assert!(!takes("a {x=\"1\"} 1\n", "a"));
        assert!(!takes("a{x=\"1\"} 1\n", "a"));
        assert!(!takes("ab 1\n", "a"));
        assert!(!takes("{\"a\"} 1\n", "{\"a\"}"));
        assert!(!takes("a{x=\"\n\"} 1\n", "a{x=\"\n\"}"));
        for guess_body in bodies {
            let guesses = texts(guess_body);
            for body in bodies {
                let normal: Vec<_> = TextParser::new(body.as_bytes()).collect();
                for shift in 0..3 {
                    let mut p = TextParser::new(body.as_bytes());
                    let mut out = Vec::new();
                    let mut k = shift;
                    loop {
                        let g = guesses.get(k).map_or(&b""[..], |g| g.as_bytes());
                        let Some(r) = p.next_expecting(g) else { break };
                        if matches!(r, Ok(Entry::Sample(_))) {
                            k += 1;
                        }
                        out.push(r);
                    }
                    assert_eq!(
                        format!("{out:?}"),
                        format!("{normal:?}"),
                        "body {body:?}, guesses {guesses:?} from {shift}"
                    );
                }
            }
        }
    }

    #[test]
    fn upstream_promparse_input() {
        // The happy-path input of Prometheus' TestPromParse.
        let input = "# HELP go_gc_duration_seconds A summary of the GC invocation durations.
# \tTYPE go_gc_duration_seconds summary
go_gc_duration_seconds{quantile=\"0\"} 4.9351e-05
go_gc_duration_seconds{quantile=\"0.25\",} 7.424100000000001e-05
go_gc_duration_seconds{quantile=\"0.5\",a=\"b\"} 8.3835e-05
go_gc_duration_seconds{quantile=\"0.8\", a=\"b\"} 8.3835e-05
go_gc_duration_seconds{ quantile=\"0.9\", a=\"b\"} 8.3835e-05
# Hrandom comment starting with prefix of HELP
#
wind_speed{A=\"2\",c=\"3\"} 12345
# comment with escaped \\n newline
# comment with escaped \\ escape character
# HELP nohelp1
# HELP nohelp2 
go_gc_duration_seconds{ quantile=\"1.0\", a=\"b\" } 8.3835e-05
go_gc_duration_seconds { quantile=\"1.0\", a=\"b\" } 8.3835e-05
go_gc_duration_seconds { quantile= \"1.0\", a= \"b\", } 8.3835e-05
go_gc_duration_seconds { quantile = \"1.0\", a = \"b\" } 8.3835e-05
go_gc_duration_seconds { quantile = \"2.0\" a = \"b\" } 8.3835e-05
go_gc_duration_seconds_count 99
some:aggregate:rate5m{a_b=\"c\"}\t1
# HELP go_goroutines Number of goroutines that currently exist.
# TYPE go_goroutines gauge
go_goroutines 33  \t123123
_metric_starting_with_underscore 1
testmetric{_label_starting_with_underscore=\"foo\"} 1
testmetric{label=\"\\\"bar\\\"\"} 1
# HELP metric foo\x00bar
null_byte_metric{a=\"abc\x00\"} 1";
        let e = entries(input).unwrap();
        assert_eq!(e.len(), 30);
        assert_eq!(
            e[0],
            Entry::Help {
                metric_family: "go_gc_duration_seconds".into(),
                text: "A summary of the GC invocation durations.".into()
            }
        );
        // "# \tTYPE" is still a TYPE line.
        assert_eq!(
            e[1],
            Entry::Type {
                metric_family: "go_gc_duration_seconds".into(),
                metric_type: MetricType::Summary
            }
        );
        assert_eq!(
            e[7],
            Entry::Comment("# Hrandom comment starting with prefix of HELP".into())
        );
        assert_eq!(e[8], Entry::Comment("#".into()));
        assert_eq!(
            e[12],
            Entry::Help {
                metric_family: "nohelp1".into(),
                text: "".into()
            }
        );
        assert_eq!(
            e[13],
            Entry::Help {
                metric_family: "nohelp2".into(),
                text: "".into()
            }
        );
        let Entry::Sample(s) = &e[15] else {
            panic!("{:?}", e[15])
        };
        assert_eq!(
            s.series_text,
            "go_gc_duration_seconds { quantile=\"1.0\", a=\"b\" }"
        );
        assert_eq!(
            e[27],
            Entry::Help {
                metric_family: "metric".into(),
                text: "foo\0bar".into()
            }
        );
        assert_eq!(e[29], Entry::Eof);
        let s = samples(input);
        assert_eq!(s.len(), 18);
        assert_eq!(s[10].1, l(&[("quantile", "2.0"), ("a", "b")]));
        assert_eq!(s[13].3, Some(123123));
        assert_eq!(s[16].1, l(&[("label", "\"bar\"")]));
        assert_eq!(s[17].1, l(&[("a", "abc\0")]));
    }

    #[test]
    fn upstream_error_cases() {
        assert_eq!(
            err("a"),
            "line 1, column 2: unexpected end of input : expected value after metric"
        );
        assert_eq!(
            err("a{b='c'} 1\n"),
            "line 1, column 5: unexpected \"'c'\" : expected label value"
        );
        assert_eq!(
            err("a{b=\n"),
            "line 1, column 5: unexpected end of line : expected label value"
        );
        assert_eq!(
            err("a{\u{ff}=\"foo\"} 1\n"),
            "line 1, column 3: unexpected \"ÿ\" : expected label name"
        );
        assert_eq!(
            entries("a{b=\"\u{ff}\"} 1\n").map(|_| ()),
            Ok(()),
            "valid UTF-8 is fine"
        );
        let bad = b"a{b=\"\xff\"} 1\n";
        assert_eq!(
            TextParser::new(bad)
                .collect::<Result<Vec<_>, _>>()
                .unwrap_err()
                .to_string(),
            "line 1, column 6: invalid UTF-8 in label value"
        );
        assert_eq!(
            err("a true\n"),
            "line 1, column 3: invalid value \"true\": invalid syntax"
        );
        assert_eq!(
            err("something_weird{problem=\""),
            "line 1, column 26: unexpected end of input : expected closing quote of label value"
        );
        assert_eq!(
            err("empty_label_name{=\"\"} 0"),
            "line 1, column 18: unexpected \"=\" : expected label name"
        );
        assert_eq!(
            err("foo 1_2\n"),
            "line 1, column 5: invalid value \"1_2\": unsupported character in float"
        );
        assert_eq!(
            err("foo 0x1p-3\n"),
            "line 1, column 5: invalid value \"0x1p-3\": unsupported character in float"
        );
        assert_eq!(
            err("foo 0 1_2\n"),
            "line 1, column 8: unexpected \"_2\" : expected end of line after timestamp"
        );
        assert_eq!(
            err("a{b=\"\0\",c=\0\"ssss\"} 1\n"),
            "line 1, column 11: unexpected \"\\0\" : expected label value"
        );
        assert_eq!(
            err("a{b\0=\"hiih\"}\t1"),
            "line 1, column 4: unexpected \"\\0\" : expected \"=\""
        );
        assert_eq!(
            err("a\0{b=\"ddd\"} 1"),
            "line 1, column 2: invalid value \"\\0\": invalid syntax"
        );
    }

    #[test]
    fn line_numbers_advance() {
        assert_eq!(
            err("# HELP a x\n\na 1\nb{c=\"d\"} 2 3\nc{} x\n"),
            "line 5, column 5: invalid value \"x\": invalid syntax"
        );
        // A literal newline inside a label value moves to the next line.
        assert_eq!(
            err("a{b=\"x\ny\"} 1\nc{}}"),
            "line 3, column 4: invalid value \"}\": invalid syntax"
        );
        assert_eq!(samples("a{b=\"x\ny\"} 1\n")[0].1, l(&[("b", "x\ny")]));
    }

    #[test]
    fn metadata_rules() {
        assert_eq!(
            entries("# TYPE a untyped\n").unwrap()[0],
            Entry::Type {
                metric_family: "a".into(),
                metric_type: MetricType::Unknown
            }
        );
        assert_eq!(
            err("# TYPE a unknown\n"),
            "line 1, column 10: invalid metric type \"unknown\""
        );
        assert_eq!(
            err("# TYPE a counter \n"),
            "line 1, column 10: invalid metric type \"counter \""
        );
        assert_eq!(
            err("# TYPE a  counter\n"),
            "line 1, column 10: invalid metric type \" counter\""
        );
        assert_eq!(
            err("# TYPE a\n"),
            "line 1, column 9: invalid metric type \"\""
        );
        assert_eq!(
            err("# HELP 9x y\n"),
            "line 1, column 8: unexpected \"9x\" : expected metric name after HELP"
        );
        // Escapes in HELP: only \\ and \n.
        assert_eq!(
            entries("# HELP a x\\\\y\\nz\\\"\n").unwrap()[0],
            Entry::Help {
                metric_family: "a".into(),
                text: "x\\y\nz\\\"".into()
            }
        );
        // "# HELP" without a name-separator is a comment; so is "# UNIT".
        assert!(matches!(entries("# HELP\n").unwrap()[0], Entry::Comment(_)));
        assert!(matches!(
            entries("# UNIT a s\n").unwrap()[0],
            Entry::Comment(_)
        ));
        assert!(matches!(
            entries("#HELP a b\n").unwrap()[0],
            Entry::Comment(_)
        ));
        // Invalid UTF-8 in help is an error, in a comment it is not.
        let e = TextParser::new(b"# HELP a \xff\n").collect::<Result<Vec<_>, _>>();
        assert_eq!(
            e.unwrap_err().to_string(),
            "line 1, column 10: invalid UTF-8 in help text"
        );
        assert!(TextParser::new(b"# x \xff\n")
            .collect::<Result<Vec<_>, _>>()
            .is_ok());
    }

    #[test]
    fn values_and_timestamps() {
        let s = samples("a NaN\nb +Inf\nc -Inf\nd Inf\ne nan 5\nf -0\n");
        assert!(s[0].2.is_nan() && !crate::model::is_stale_nan(s[0].2));
        assert_eq!(s[0].2.to_bits(), super::super::NORMAL_NAN_BITS);
        assert_eq!(s[1].2, f64::INFINITY);
        assert_eq!(s[2].2, f64::NEG_INFINITY);
        assert_eq!(s[3].2, f64::INFINITY);
        assert_eq!(s[4].3, Some(5));
        assert!(s[5].2 == 0.0 && s[5].2.is_sign_negative());
        assert_eq!(
            err("a 1 -5\n"),
            "line 1, column 5: unexpected \"-5\" : expected timestamp or end of line"
        );
        assert_eq!(
            err("a 1 1.5\n"),
            "line 1, column 6: unexpected \".5\" : expected end of line after timestamp"
        );
        assert_eq!(
            err("a 1 99999999999999999999\n"),
            "line 1, column 5: invalid timestamp \"99999999999999999999\": value out of range"
        );
        assert_eq!(
            err("a 1e999\n"),
            "line 1, column 3: invalid value \"1e999\": value out of range"
        );
        assert_eq!(
            err("a 1 # comment\n"),
            "line 1, column 5: unexpected \"#\" : expected timestamp or end of line"
        );
    }

    #[test]
    fn whitespace_and_line_endings() {
        // Trailing blanks, indentation and blank lines are fine.
        assert_eq!(samples("  a 1  \n\n \t \nb 2 3 \t\n").len(), 2);
        // Windows line endings are not.
        assert_eq!(
            err("a 1\r\n"),
            "line 1, column 3: invalid value \"1\\r\": invalid syntax"
        );
        assert_eq!(
            err("a 1 2\r\n"),
            "line 1, column 6: unexpected \"\\r\" : expected end of line after timestamp"
        );
        assert_eq!(
            err("# TYPE a gauge\r\n"),
            "line 1, column 10: invalid metric type \"gauge\\r\""
        );
        // A NUL byte at the start of a line ends the body (upstream lexer behaviour).
        assert_eq!(samples("a 1\n\0b 2\n").len(), 1);
        assert_eq!(entries("").unwrap(), vec![Entry::Eof]);
    }

    #[test]
    fn label_rules() {
        assert_eq!(samples("a{} 1")[0].1, vec![]);
        assert_eq!(
            samples("a{b=\"1\" c=\"2\"} 1")[0].1,
            l(&[("b", "1"), ("c", "2")])
        );
        assert_eq!(
            err("a{b=\"1\",,c=\"2\"} 1"),
            "line 1, column 9: unexpected \",\" : expected label name"
        );
        assert_eq!(
            err("a{,} 1"),
            "line 1, column 3: unexpected \",\" : expected label name"
        );
        assert_eq!(
            err("a{b=\"1\",b=\"2\"} 1"),
            "line 1, column 9: duplicate label name \"b\""
        );
        assert_eq!(
            err("a{__name__=\"x\"} 1"),
            "line 1, column 3: duplicate label name \"__name__\""
        );
        assert_eq!(
            err("a{b:c=\"1\"} 1"),
            "line 1, column 4: unexpected \":c\" : expected \"=\""
        );
        assert_eq!(
            err("a{0b=\"1\"} 1"),
            "line 1, column 3: unexpected \"0b\" : expected label name"
        );
        assert_eq!(
            samples("a{b=\"x\\\\y\\\"z\\nw\\q\"} 1")[0].1,
            l(&[("b", "x\\y\"z\nw\\q")])
        );
        // Empty values are kept by the streaming parser (dropped later by Labels).
        assert_eq!(samples("a{b=\"\"} 1")[0].1, l(&[("b", "")]));
    }

    #[test]
    fn duplicate_detection_paths() {
        // Escapes are undone before comparing quoted names: `a\\q` and `a\q` are both `a\q`.
        assert_eq!(
            err("m{\"a\\\\q\"=\"1\", \"a\\q\"=\"2\"} 1"),
            "line 1, column 16: duplicate label name \"a\\\\q\""
        );
        assert_eq!(
            err("m{\"__name__\"=\"x\"} 1"),
            "line 1, column 4: duplicate label name \"__name__\""
        );
        // Many labels take the hashing path.
        let many: Vec<String> = (0..20).map(|i| format!("l{i}=\"v\"")).collect();
        let ok = format!("m{{{}}} 1", many.join(","));
        assert_eq!(samples(&ok)[0].1.len(), 20);
        let dup = format!("m{{{},l3=\"w\"}} 1", many.join(","));
        assert!(err(&dup).ends_with("duplicate label name \"l3\""));
    }

    #[test]
    fn quoted_names_prometheus3() {
        let s = samples("{\"my.metric\", \"a.b\"=\"c\", d=\"e\"} 1\nm{\"x y\"=\"1\"} 2\n");
        assert_eq!(s[0].0, "my.metric");
        assert_eq!(s[0].1, l(&[("a.b", "c"), ("d", "e")]));
        assert_eq!(s[1].0, "m");
        assert_eq!(s[1].1, l(&[("x y", "1")]));
        assert_eq!(samples("{\"only\"} 3")[0].0, "only");
        assert_eq!(
            entries("# TYPE \"my.metric\" gauge\n").unwrap()[0],
            Entry::Type {
                metric_family: "my.metric".into(),
                metric_type: MetricType::Gauge
            }
        );
        assert_eq!(
            err("m{\"other\"} 1"),
            "line 1, column 3: metric name already set"
        );
        assert_eq!(
            err("{\"a\", \"b\"} 1"),
            "line 1, column 7: metric name already set"
        );
        assert_eq!(err("{a=\"b\"} 1"), "line 1, column 1: metric name not set");
        assert_eq!(err("{\"\"} 1"), "line 1, column 3: empty label name");
        assert_eq!(
            err("{\"m\", \"a\"=\"1\", a=\"2\"} 1"),
            "line 1, column 16: duplicate label name \"a\""
        );
    }
}
